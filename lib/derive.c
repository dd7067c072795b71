/*
 * derive.c -- symbolic reverse mode.
 *
 * One backward sweep over the cone of f, in decreasing id order (children
 * have smaller ids, so every parent of a node is done before the node), gives
 * the adjoint of every node: the sum of its parents' adjoints times the local
 * partial derivatives.  Each adjoint is one DAG node built from the nodes that
 * are already there, so derivatives share subterms with the forward DAG and
 * with each other: the derivative DAG grows by a bounded number of nodes per
 * forward node and edge, not by re-expanding the chain rule along every path.
 *
 * Sample reductions split the sweep in two levels.  Above the reductions the
 * values are the same for every sample (dataset level); below a reduction R =
 * mean(e) the values vary per sample.  For each R the sweep runs over e's
 * per-sample cone with seed 1 and stops at the static nodes it meets (params,
 * and expressions of params); each such node s then receives
 * adj(R) * mean(de/ds) at the dataset level, and the dataset sweep goes on.
 * Reductions do not nest (the builder refuses it), so two levels suffice.
 *
 * When several contributions meet in one adjoint, the factors common to all
 * of them are pulled out (2(ŷ - y) w1 a + 2(ŷ - y) w2 b -> 2(ŷ - y)(w1 a + w2 b)),
 * which is how a person writes the sum over chain-rule paths.
 */
#include "derive.h"

#include <stdlib.h>
#include <string.h>

#include "simplify.h"

typedef struct contrib {
    gp_id term;     /* one contribution to a node's adjoint */
    uint32_t next;  /* next contribution of the same node, or UINT32_MAX */
} contrib;

typedef struct sweep {
    gp_ctx *c;
    uint32_t *head;      /* head[id]: first contribution, for ids < n */
    contrib *pool;
    size_t npool, cappool;
    uint32_t *stop;      /* stop[id]: 1 + the first position of id in wrt, 0 if
                            id is not held as a variable */
    size_t n;            /* ids covered */
} sweep;

static int add_contrib(sweep *s, gp_id node, gp_id term)
{
    if (term == GP_NIL)
        return 0;
    if (dag_is_zero(s->c, term))
        return 1;
    if (!ctx_grow((void **)&s->pool, &s->cappool, s->npool + 1, sizeof *s->pool)) {
        s->c->status = GP_ENOMEM;
        return 0;
    }
    s->pool[s->npool] = (contrib){term, s->head[node]};
    s->head[node] = (uint32_t)s->npool++;
    return 1;
}

/* Factor list of a term: its numeric coefficient and its other factors. */
static size_t factors(gp_ctx *c, gp_id t, gp_id *coef, const gp_id **f)
{
    const gp_node *n = &c->node[t];
    if (n->op == GP_OP_MUL && !n->label) {
        if (c->node[n->kid[0]].op == GP_OP_NUM) {
            *coef = n->kid[0];
            *f = n->kid + 1;
            return n->nkid - 1;
        }
        *coef = GP_NIL;
        *f = n->kid;
        return n->nkid;
    }
    *coef = GP_NIL;
    *f = NULL; /* the caller uses the term itself as its one factor */
    return 1;
}

/* Sum the contributions of one adjoint, pulling out common factors. */
static gp_id sum_contribs(sweep *s, uint32_t head)
{
    gp_ctx *c = s->c;
    size_t m = 0;
    for (uint32_t k = head; k != UINT32_MAX; k = s->pool[k].next)
        m++;
    if (m == 0)
        return dag_num_si(c, 0, 1);
    gp_id *t = malloc(m * sizeof *t);
    if (!t) {
        c->status = GP_ENOMEM;
        return GP_NIL;
    }
    size_t i = m;
    for (uint32_t k = head; k != UINT32_MAX; k = s->pool[k].next)
        t[--i] = s->pool[k].term; /* the pool is a stack: restore the order of arrival */
    gp_id res;
    if (m == 1) {
        res = t[0];
        free(t);
        return res;
    }
    /* common factors: those of the first term that every other term has */
    gp_id c0;
    const gp_id *f0;
    gp_id single0 = t[0];
    size_t n0 = factors(c, t[0], &c0, &f0);
    if (c->node[t[0]].op != GP_OP_MUL || c->node[t[0]].label)
        f0 = &single0;
    gp_id *common = malloc((n0 + 1) * sizeof *common);
    size_t ncommon = 0;
    if (!common) {
        free(t);
        c->status = GP_ENOMEM;
        return GP_NIL;
    }
    for (size_t a = 0; a < n0; a++) {
        int everywhere = 1;
        for (size_t j = 1; j < m && everywhere; j++) {
            gp_id cj, sj = t[j];
            const gp_id *fj;
            size_t nj = factors(c, t[j], &cj, &fj);
            if (c->node[t[j]].op != GP_OP_MUL || c->node[t[j]].label)
                fj = &sj;
            int found = 0;
            for (size_t b = 0; b < nj && !found; b++)
                found = fj[b] == f0[a];
            everywhere = found;
        }
        if (everywhere && ncommon < 64) /* 64: the bitmap of the removal below */
            common[ncommon++] = f0[a];
    }
    /* a common numeric coefficient, when every term has the same one */
    int same_coef = c0 != GP_NIL;
    for (size_t j = 1; j < m && same_coef; j++) {
        gp_id cj;
        const gp_id *fj;
        factors(c, t[j], &cj, &fj);
        same_coef = cj == c0;
    }
    if (ncommon == 0 && !same_coef) {
        res = gp_add(c, m, t);
    } else {
        /* each term without the common part: drop one occurrence of every
           common factor (and the shared coefficient) from its factor list,
           so nothing is divided and nothing is assumed nonzero */
        gp_id cpart = ncommon ? gp_mul(c, ncommon, common) : dag_num_si(c, 1, 1);
        if (same_coef)
            cpart = gp_mul2(c, c0, cpart);
        gp_id *rest = NULL;
        size_t caprest = 0;
        for (size_t j = 0; j < m && cpart != GP_NIL; j++) {
            gp_id cj, sj = t[j];
            const gp_id *fj;
            size_t nj = factors(c, t[j], &cj, &fj);
            if (c->node[t[j]].op != GP_OP_MUL || c->node[t[j]].label)
                fj = &sj;
            if (!ctx_grow((void **)&rest, &caprest, nj + 1, sizeof *rest)) {
                c->status = GP_ENOMEM;
                break;
            }
            size_t nr = 0;
            if (cj != GP_NIL && !same_coef)
                rest[nr++] = cj;
            unsigned char used_common[64] = {0};
            for (size_t b = 0; b < nj; b++) {
                size_t a2;
                for (a2 = 0; a2 < ncommon; a2++)
                    if (common[a2] == fj[b] && !used_common[a2])
                        break;
                if (a2 < ncommon) {
                    used_common[a2] = 1;
                    continue;
                }
                rest[nr++] = fj[b];
            }
            t[j] = nr ? gp_mul(c, nr, rest) : dag_num_si(c, 1, 1);
        }
        free(rest);
        res = gp_mul2(c, cpart, gp_add(c, m, t));
    }
    free(common);
    free(t);
    return res;
}

/* Local partial derivatives: push adj * d(node)/d(kid) to each kid. */
static int propagate(sweep *s, gp_id id, gp_id adj)
{
    gp_ctx *c = s->c;
    const gp_node *n = &c->node[id];
    switch ((gp_op)n->op) {
    case GP_OP_NUM:
    case GP_OP_LEAF:
    case GP_OP_MEAN:
    case GP_OP_SUMS:
        return 1;
    case GP_OP_ADD:
        for (uint32_t k = 0; k < n->nkid; k++)
            if (!add_contrib(s, c->node[id].kid[k], adj))
                return 0;
        return 1;
    case GP_OP_MUL: {
        uint32_t m = n->nkid;
        gp_id *f = malloc((m + 1) * sizeof *f);
        if (!f) {
            c->status = GP_ENOMEM;
            return 0;
        }
        int ok = 1;
        for (uint32_t k = 0; ok && k < m; k++) {
            gp_id kid = c->node[id].kid[k];
            if (c->node[kid].op == GP_OP_NUM)
                continue;
            size_t nf = 0;
            f[nf++] = adj;
            for (uint32_t j = 0; j < m; j++)
                if (j != k)
                    f[nf++] = c->node[id].kid[j];
            ok = add_contrib(s, kid, gp_mul(c, nf, f));
        }
        free(f);
        return ok;
    }
    case GP_OP_POW: {
        gp_id b = n->kid[0], e = n->kid[1];
        mpq_t q;
        mpq_init(q);
        mpq_set(q, dag_q(c, e));
        mpz_sub(mpq_numref(q), mpq_numref(q), mpq_denref(q)); /* e - 1 */
        gp_id em1 = dag_num(c, q);
        mpq_clear(q);
        gp_id f[3] = {adj, e, gp_pow(c, b, em1)};
        return add_contrib(s, b, gp_mul(c, 3, f));
    }
    case GP_OP_FN: {
        /* read the node before interning: the node array may move */
        gp_id u = n->kid[0], d;
        gp_fn fn = (gp_fn)n->fn;
        gp_id one = dag_num_si(c, 1, 1);
        switch (fn) {
        case GP_FN_EXP: d = id; break;
        case GP_FN_LOG: d = gp_pow_si(c, u, -1, 1); break;
        case GP_FN_TANH: d = gp_sub(c, one, gp_pow_si(c, id, 2, 1)); break;
        case GP_FN_SIGMOID: d = gp_mul2(c, id, gp_sub(c, one, id)); break;
        case GP_FN_RELU: d = gp_call(c, GP_FN_STEP, u); break;
        case GP_FN_ABS: d = gp_call(c, GP_FN_SIGN, u); break;
        case GP_FN_SOFTPLUS: d = gp_call(c, GP_FN_SIGMOID, u); break;
        case GP_FN_SIN: d = gp_call(c, GP_FN_COS, u); break;
        case GP_FN_COS: d = gp_neg(c, gp_call(c, GP_FN_SIN, u)); break;
        default: return 1; /* step and sign: zero almost everywhere */
        }
        return add_contrib(s, u, gp_mul2(c, adj, d));
    }
    }
    return 1;
}

/* Mark the cone of root, not descending below stop nodes (and, when
   boundary is set, below static nodes). */
static void cone(sweep *s, gp_id root, unsigned char *mark, int boundary)
{
    gp_ctx *c = s->c;
    mark[root] = 1;
    for (size_t id = root + 1; id-- > 0;) {
        if (!mark[id] || s->stop[id])
            continue;
        if (boundary && c->node[id].level == GP_LV_STATIC)
            continue;
        const gp_node *n = &c->node[id];
        for (uint32_t k = 0; k < n->nkid; k++)
            mark[n->kid[k]] = 1;
    }
}

/*
 * The per-sample sweep below root with the given seed.  With boundary set,
 * static nodes are not entered: for each one reached, emit(node, adjoint).
 * Stop nodes are always emitted.
 */
typedef int (*emit_fn)(void *arg, gp_id node, gp_id adj);

static int sample_sweep(sweep *s, gp_id root, gp_id seed, int boundary, emit_fn emit, void *arg)
{
    gp_ctx *c = s->c;
    unsigned char *mark = calloc(root + 1, 1);
    if (!mark) {
        c->status = GP_ENOMEM;
        return 0;
    }
    cone(s, root, mark, boundary);
    for (size_t i = 0; i <= root; i++)
        s->head[i] = UINT32_MAX;
    int ok = add_contrib(s, root, seed);
    for (size_t id = root + 1; ok && id-- > 0;) {
        if (!mark[id] || s->head[id] == UINT32_MAX)
            continue;
        gp_id adj = sum_contribs(s, s->head[id]);
        if (adj == GP_NIL) {
            ok = 0;
            break;
        }
        if (s->stop[id] || (boundary && c->node[id].level == GP_LV_STATIC))
            ok = emit(arg, (gp_id)id, adj);
        else
            ok = propagate(s, (gp_id)id, adj);
    }
    free(mark);
    return ok && c->status == GP_OK;
}

typedef struct result {
    const uint32_t *stop; /* the sweep's stop marks: where node's result goes */
    gp_id *out;
} result;

static int emit_result(void *arg, gp_id node, gp_id adj)
{
    result *r = arg;
    r->out[r->stop[node] - 1] = adj;
    return 1;
}

/* the dataset-level sweep state, for emit_reduced */
typedef struct dsweep {
    sweep *s;
    uint32_t *dhead;  /* dataset-level contribution lists */
    gp_op red;        /* the reduction being swept */
    gp_id adj;        /* its adjoint */
} dsweep;

static int emit_reduced(void *arg, gp_id node, gp_id adj)
{
    dsweep *d = arg;
    gp_ctx *c = d->s->c;
    gp_id term = gp_mul2(c, d->adj, gp_reduce(c, d->red, adj));
    /* swap in the dataset-level lists to record it */
    uint32_t *h = d->s->head;
    d->s->head = d->dhead;
    int ok = add_contrib(d->s, node, term);
    d->s->head = h;
    return ok;
}

gp_status derive_grad(gp_ctx *c, gp_id f, size_t nwrt, const gp_id *wrt, gp_id *out)
{
    if (f == GP_NIL)
        return GP_EINTERNAL;
    for (size_t i = 0; i < nwrt; i++) {
        out[i] = dag_num_si(c, 0, 1);
        if (c->node[f].level == GP_LV_DATASET && c->node[wrt[i]].level != GP_LV_STATIC)
            return GP_EINTERNAL;
    }
    sweep s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.n = (size_t)f + 1;
    s.head = malloc(s.n * sizeof *s.head);
    s.stop = calloc(c->nnode, sizeof *s.stop);
    uint32_t *dhead = NULL;
    int ok = s.head && s.stop && nwrt < UINT32_MAX;
    if (ok)
        for (size_t i = 0; i < nwrt; i++)
            if (wrt[i] < c->nnode && !s.stop[wrt[i]])
                s.stop[wrt[i]] = (uint32_t)i + 1;
    result r = {s.stop, out};
    if (ok && c->node[f].level != GP_LV_DATASET) {
        ok = sample_sweep(&s, f, dag_num_si(c, 1, 1), 0, emit_result, &r);
    } else if (ok) {
        /* dataset level: static and dataset nodes of the cone; reductions
           open a per-sample sweep */
        dhead = malloc(s.n * sizeof *dhead);
        ok = dhead != NULL;
        if (ok) {
            for (size_t i = 0; i < s.n; i++)
                dhead[i] = UINT32_MAX;
            uint32_t *h = s.head;
            s.head = dhead;
            ok = add_contrib(&s, f, dag_num_si(c, 1, 1));
            s.head = h;
        }
        for (size_t id = s.n; ok && id-- > 0;) {
            /* a node with contributions is in the cone, whether they came
               from a dataset-level parent or through a reduction */
            if (dhead[id] == UINT32_MAX)
                continue;
            uint32_t *h = s.head;
            s.head = dhead;
            gp_id adj = sum_contribs(&s, dhead[id]);
            s.head = h;
            if (adj == GP_NIL) {
                ok = 0;
                break;
            }
            const gp_node *n = &c->node[id];
            if (s.stop[id]) {
                emit_result(&r, (gp_id)id, adj);
            } else if (n->op == GP_OP_MEAN || n->op == GP_OP_SUMS) {
                dsweep d = {&s, dhead, (gp_op)n->op, adj};
                gp_id arg = n->kid[0]; /* before interning moves the node array */
                ok = sample_sweep(&s, arg, dag_num_si(c, 1, 1), 1, emit_reduced, &d);
            } else {
                s.head = dhead;
                ok = propagate(&s, (gp_id)id, adj);
                s.head = h;
            }
        }
    }
    /* a variable named twice: its later positions copy the first */
    for (size_t i = 0; ok && i < nwrt; i++)
        if (wrt[i] < c->nnode && s.stop[wrt[i]] != i + 1)
            out[i] = out[s.stop[wrt[i]] - 1];
    free(s.head);
    free(s.stop);
    free(s.pool);
    free(dhead);
    if (c->status != GP_OK)
        return c->status;
    if (!ok)
        return GP_ENOMEM;
    for (size_t i = 0; i < nwrt; i++)
        if (out[i] == GP_NIL)
            return c->status != GP_OK ? c->status : GP_ENOMEM;
    return GP_OK;
}

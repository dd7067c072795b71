/*
 * dot.c -- the network of a case as a Graphviz DOT picture.
 *
 * The picture is drawn from the DAG, not from the syntax, so that it shows
 * what gradproof differentiates.  A unit is a DAG node that the case names
 * and that the loss or an output uses: an input or target element, or a
 * definition element (the loss included).  Names that are the same node
 * (phi0[1] = x[1], phi = a2) are one unit, captioned "x₁ = φ₀₁".  A
 * definition that is a number or a param (phi0[0] = 1) is no unit: it is
 * folded into the equations that use it, as in the DAG.
 *
 * The equation of unit v is its node down to the nodes of other units (its
 * local part).  There is an edge u -> v when the local part of v reaches u;
 * since the DAG is hash-consed, that includes a definition whose equation
 * appears inside v's (seed 002's d8 = zr - z inside its loss), exactly as
 * `gradproof derive` writes C = sum(d₈²)/2.  The edge's label lists the
 * params that multiply u there: a param that is a factor of a product labels
 * every unit below the product's other factors (w₂·tanh(w₁·x) labels x -> v
 * with w₁ and w₂).  A unit of the form f(g(Σ + b)), f and g functions or
 * powers, Σ the weighted sum of its incoming edges and b params or numbers,
 * is captioned with that form: "tanh(Σ + b₁)", "(·)²", "Σ".  Any other unit,
 * one with neither an activation nor a param (d8 = zr - z), and the loss are
 * captioned with their equation as `derive` writes it, in a rounded box.
 *
 * Layers are ranks: inputs at 0, every unit that depends on an input one
 * past its deepest input (longest path), the rest (targets, param-only
 * definitions) as late as their first consumer allows, so a target stands
 * beside the output it is compared with.  Invisible edges keep the case's
 * order down each rank (x₁ above x₂), targets last.  When the picture would
 * have more than DOT_MAX_UNITS units or DOT_MAX_EDGES edges, the elements of
 * each indexed name are drawn as one node (h₁[1..4]) and edges are labelled
 * with param names without indices (W₁): a wall of crossing edges reads
 * worse.
 *
 * With a highlighted param P, a unit is on a chain-rule path when the loss
 * depends on it and it depends on P (P is in its local part or below); those
 * units and the edges between them are red, the edges labelled P thicker,
 * the rest grey.  The graph label counts the paths: a path runs from the
 * loss down the edges to a unit where P occurs, and ends on each edge into
 * it that P labels, or once on the unit itself when P occurs there
 * otherwise (a bias, a penalty in the loss).
 *
 * Everything is a loop over units in DAG id order (a topological order) or
 * an explicit stack: a chain of 10^5 definitions draws without recursion.
 * Owns: the dot_graph's arrays (malloc), freed by dot_graph_free().
 */
#include "dot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "print.h"
#include "render.h"

enum {
    MULT_MAX = 6,        /* params remembered per product chain; more are rare and unreadable */
    NAMES_SHOWN = 3,     /* names of one unit written on its node */
    LABEL_PARAMS = 4,    /* params written on one edge */
    ACT_MAX = 8,         /* nested activations recognised */
    CAPTION_COLS = 40,   /* a caption line wraps past this many columns */
    CAPTION_MAX = 160,   /* an equation is cut (…) past this many code points */
    DOT_MAX_UNITS = 60,  /* past this, indexed names are drawn as one node */
    DOT_MAX_EDGES = 160
};

#define PATHS_SAT (UINT64_MAX / 2)

static uint64_t sat_add(uint64_t a, uint64_t b) { return a >= PATHS_SAT - b ? PATHS_SAT : a + b; }

static int name_eq(const gp_name *a, const gp_name *b)
{
    return strcmp(a->base, b->base) == 0 && a->nidx == b->nidx &&
           memcmp(a->idx, b->idx, a->nidx * sizeof a->idx[0]) == 0;
}

void dot_graph_free(dot_graph *g)
{
    free(g->unit);
    free(g->edge);
    free(g->in_first);
    free(g->name);
    free(g->name_elem);
    free(g->eparam);
    free(g->unit_of);
    memset(g, 0, sizeof *g);
}

/* ---- building the unit graph ---- */

/* a set of params, capped */
typedef struct mset {
    uint32_t p[MULT_MAX];   /* leaf indices */
    uint8_t n;              /* how many */
} mset;

static void mset_add(mset *m, uint32_t p)
{
    for (uint8_t i = 0; i < m->n; i++)
        if (m->p[i] == p)
            return;
    if (m->n < MULT_MAX)
        m->p[m->n++] = p;
}

typedef struct pair {
    uint32_t to, from, leaf; /* param `leaf` multiplies unit `from` in `to` */
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->leaf < y->leaf ? -1 : x->leaf > y->leaf;
}

static int cmp_edge(const void *a, const void *b)
{
    const dot_edge *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    return x->from < y->from ? -1 : x->from > y->from;
}

static int cmp_unit(const void *a, const void *b)
{
    const dot_unit *x = a, *y = b;
    return x->node < y->node ? -1 : x->node > y->node;
}

static int cmp_id_desc(const void *a, const void *b)
{
    gp_id x = *(const gp_id *)a, y = *(const gp_id *)b;
    return x > y ? -1 : x < y;
}

static int is_param(const gp_ctx *c, gp_id id)
{
    return c->node[id].op == GP_OP_LEAF && c->leaf[c->node[id].pay].kind == GP_LEAF_PARAM;
}

/* the DAG node an element contributes as a unit, or GP_NIL */
static gp_id unit_node(const gp_case *cs, size_t e, const unsigned char *cone)
{
    const gp_ctx *c = cs->c;
    const element *el = &cs->elem[e];
    sym_kind k = cs->sym[el->sym].kind;
    if (k != SYM_INPUT && k != SYM_TARGET && k != SYM_DEF && k != SYM_LOSS)
        return GP_NIL;
    gp_id id = el->node;
    if (id == GP_NIL || id >= c->nnode || !cone[id])
        return GP_NIL;
    const gp_node *n = &c->node[id];
    if (n->op == GP_OP_NUM)
        return GP_NIL; /* a constant definition is folded into its users */
    if (n->op == GP_OP_LEAF) {
        gp_leaf_kind lk = c->leaf[n->pay].kind;
        if (lk != GP_LEAF_INPUT && lk != GP_LEAF_TARGET)
            return GP_NIL; /* a definition that is a param or a constant */
    }
    return id;
}

/* units: one per distinct node, in id order, with their names */
static gp_status make_units(dot_graph *g, gp_case *cs, const unsigned char *cone)
{
    gp_ctx *c = cs->c;
    size_t cap = 0;
    for (size_t e = 0; e < cs->nelem; e++) {
        gp_id id = unit_node(cs, e, cone);
        if (id == GP_NIL)
            continue;
        if (g->unit_of[id] == DOT_NONE) {
            if (!ctx_grow((void **)&g->unit, &cap, g->nunit + 1, sizeof *g->unit))
                return GP_ENOMEM;
            dot_unit *u = &g->unit[g->nunit];
            memset(u, 0, sizeof *u);
            u->node = id;
            u->elem = (uint32_t)e;
            g->unit_of[id] = (uint32_t)g->nunit++;
        }
        g->unit[g->unit_of[id]].nnames++;
        g->nname++;
    }
    if (g->nunit)
        qsort(g->unit, g->nunit, sizeof *g->unit, cmp_unit);
    uint32_t off = 0;
    for (size_t v = 0; v < g->nunit; v++) {
        dot_unit *u = &g->unit[v];
        g->unit_of[u->node] = (uint32_t)v;
        u->first_name = off;
        off += u->nnames;
        u->nnames = 0;
    }
    g->name = malloc((g->nname ? g->nname : 1) * sizeof *g->name);
    g->name_elem = malloc((g->nname ? g->nname : 1) * sizeof *g->name_elem);
    if (!g->name || !g->name_elem)
        return GP_ENOMEM;
    for (size_t e = 0; e < cs->nelem; e++) {
        gp_id id = unit_node(cs, e, cone);
        if (id == GP_NIL)
            continue;
        dot_unit *u = &g->unit[g->unit_of[id]];
        size_t k = u->first_name + u->nnames++;
        build_elem_name(cs, e, &g->name[k]);
        g->name_elem[k] = (uint32_t)e;
    }
    for (size_t v = 0; v < g->nunit; v++) {
        dot_unit *u = &g->unit[v];
        const gp_node *n = &c->node[u->node];
        /* the name the printer uses for the node goes first */
        const gp_name *pn = n->op == GP_OP_LEAF ? &c->leaf[n->pay].name : n->label ? &c->label[n->label].name : NULL;
        for (uint32_t k = 1; pn && k < u->nnames; k++) {
            size_t a = u->first_name, b = u->first_name + k;
            if (name_eq(&g->name[b], pn)) {
                gp_name t = g->name[a];
                uint32_t te = g->name_elem[a];
                g->name[a] = g->name[b], g->name_elem[a] = g->name_elem[b];
                g->name[b] = t, g->name_elem[b] = te;
                break;
            }
        }
        if (n->op == GP_OP_LEAF)
            u->kind = c->leaf[n->pay].kind == GP_LEAF_INPUT ? DOT_INPUT : DOT_TARGET;
        else if (u->node == cs->loss)
            u->kind = DOT_LOSS;
        else {
            u->kind = DOT_HIDDEN;
            for (size_t i = 0; i < cs->nout; i++)
                if (cs->out[i] == u->node)
                    u->kind = DOT_OUTPUT;
        }
        if (u->node == cs->loss)
            g->loss = (uint32_t)v;
    }
    return GP_OK;
}

/*
 * The local part of every unit: its edges and their params.  The local
 * nodes of v are visited from v's node downwards (an explicit stack), then
 * in decreasing id order, so that each node is seen after every local node
 * above it: m[node] gathers the params that multiply the node on the way
 * down, a product adding its own param factors for its other factors.
 */
static gp_status make_edges(dot_graph *g, gp_case *cs)
{
    gp_ctx *c = cs->c;
    gp_status st = GP_ENOMEM;
    size_t nn = c->nnode;
    uint32_t *stamp = calloc(nn ? nn : 1, sizeof *stamp);
    uint32_t *loc = malloc((nn ? nn : 1) * sizeof *loc);
    uint32_t *edge_at = malloc((g->nunit ? g->nunit : 1) * sizeof *edge_at);
    gp_id *stack = NULL, *local = NULL;
    mset *m = NULL;
    uint32_t *touched = NULL;
    pair *pairs = NULL;
    size_t capstack = 0, caplocal = 0, capm = 0, captouched = 0, cappairs = 0, npairs = 0, capedge = 0;
    if (!stamp || !loc || !edge_at)
        goto done;
    for (size_t u = 0; u < g->nunit; u++)
        edge_at[u] = DOT_NONE;
    for (size_t v = 0; v < g->nunit; v++) {
        dot_unit *uv = &g->unit[v];
        gp_id r = uv->node;
        if (c->node[r].op == GP_OP_LEAF)
            continue;
        /* the local nodes */
        size_t ns = 0, nl = 0, ntouched = 0;
        uint32_t mark = (uint32_t)v + 1;
        if (!ctx_grow((void **)&stack, &capstack, 1, sizeof *stack))
            goto done;
        stack[ns++] = r;
        stamp[r] = mark;
        while (ns) {
            gp_id id = stack[--ns];
            if (!ctx_grow((void **)&local, &caplocal, nl + 1, sizeof *local))
                goto done;
            local[nl++] = id;
            const gp_node *nd = &c->node[id];
            if (!ctx_grow((void **)&stack, &capstack, ns + nd->nkid, sizeof *stack))
                goto done;
            for (uint32_t k = 0; k < nd->nkid; k++) {
                gp_id kid = nd->kid[k];
                const gp_node *kn = &c->node[kid];
                if (g->unit_of[kid] != DOT_NONE || kn->op == GP_OP_LEAF || kn->op == GP_OP_NUM || stamp[kid] == mark)
                    continue;
                stamp[kid] = mark;
                stack[ns++] = kid;
            }
        }
        qsort(local, nl, sizeof *local, cmp_id_desc);
        if (!ctx_grow((void **)&m, &capm, nl, sizeof *m))
            goto done;
        for (size_t i = 0; i < nl; i++) {
            loc[local[i]] = (uint32_t)i;
            m[i].n = 0;
        }
        /* top-down: the params over each node, and the edges */
        for (size_t i = 0; i < nl; i++) {
            const gp_node *nd = &c->node[local[i]];
            mset inh = m[i];
            if (nd->op == GP_OP_MUL)
                for (uint32_t k = 0; k < nd->nkid; k++)
                    if (is_param(c, nd->kid[k]))
                        mset_add(&inh, c->node[nd->kid[k]].pay);
            for (uint32_t k = 0; k < nd->nkid; k++) {
                gp_id kid = nd->kid[k];
                const gp_node *kn = &c->node[kid];
                if (is_param(c, kid)) {
                    if ((long)kn->pay == g->hl)
                        uv->owns = 1;
                    continue;
                }
                uint32_t u = g->unit_of[kid];
                if (u != DOT_NONE) {
                    if (edge_at[u] == DOT_NONE) {
                        if (!ctx_grow((void **)&g->edge, &capedge, g->nedge + 1, sizeof *g->edge) ||
                            !ctx_grow((void **)&touched, &captouched, ntouched + 1, sizeof *touched))
                            goto done;
                        memset(&g->edge[g->nedge], 0, sizeof g->edge[0]);
                        g->edge[g->nedge].from = u;
                        g->edge[g->nedge].to = (uint32_t)v;
                        edge_at[u] = (uint32_t)g->nedge++;
                        touched[ntouched++] = u;
                    }
                    /* the params of a product stand for every factor but themselves */
                    if (!ctx_grow((void **)&pairs, &cappairs, npairs + inh.n, sizeof *pairs))
                        goto done;
                    for (uint8_t j = 0; j < inh.n; j++)
                        pairs[npairs++] = (pair){(uint32_t)v, u, inh.p[j]};
                    continue;
                }
                if (kn->op == GP_OP_LEAF || kn->op == GP_OP_NUM)
                    continue;
                mset *mk = &m[loc[kid]];
                for (uint8_t j = 0; j < inh.n; j++)
                    mset_add(mk, inh.p[j]);
            }
        }
        for (size_t j = 0; j < ntouched; j++)
            edge_at[touched[j]] = DOT_NONE;
    }
    /* edges by (to, from), and their params */
    if (g->nedge)
        qsort(g->edge, g->nedge, sizeof *g->edge, cmp_edge);
    if (npairs)
        qsort(pairs, npairs, sizeof *pairs, cmp_pair);
    g->eparam = malloc((npairs ? npairs : 1) * sizeof *g->eparam);
    g->in_first = calloc(g->nunit + 1, sizeof *g->in_first);
    if (!g->eparam || !g->in_first)
        goto done;
    size_t pi = 0;
    for (size_t e = 0; e < g->nedge; e++) {
        dot_edge *ed = &g->edge[e];
        while (pi < npairs && (pairs[pi].to < ed->to || (pairs[pi].to == ed->to && pairs[pi].from < ed->from)))
            pi++; /* cannot happen: every pair has its edge */
        ed->first_param = (uint32_t)g->neparam;
        for (; pi < npairs && pairs[pi].to == ed->to && pairs[pi].from == ed->from; pi++)
            if (g->neparam == ed->first_param || g->eparam[g->neparam - 1] != pairs[pi].leaf)
                g->eparam[g->neparam++] = pairs[pi].leaf;
        ed->nparams = (uint32_t)(g->neparam - ed->first_param);
        g->in_first[ed->to + 1]++;
    }
    for (size_t v = 0; v < g->nunit; v++)
        g->in_first[v + 1] += g->in_first[v];
    st = GP_OK;
done:
    free(stamp);
    free(loc);
    free(edge_at);
    free(stack);
    free(local);
    free(m);
    free(touched);
    free(pairs);
    return st;
}

static int edge_has(const dot_graph *g, const dot_edge *e, long leaf)
{
    for (uint32_t k = 0; k < e->nparams; k++)
        if ((long)g->eparam[e->first_param + k] == leaf)
            return 1;
    return 0;
}

/* layers, the chain-rule paths to the highlighted param, and their count */
static gp_status make_layers(dot_graph *g)
{
    uint32_t *minsucc = malloc((g->nunit ? g->nunit : 1) * sizeof *minsucc);
    if (!minsucc)
        return GP_ENOMEM;
    /* forward, in topological order: every edge into v comes from a smaller unit */
    for (size_t v = 0; v < g->nunit; v++) {
        dot_unit *u = &g->unit[v];
        minsucc[v] = UINT32_MAX;
        u->rooted = u->kind == DOT_INPUT;
        u->dep = u->owns;
        u->layer = 0;
        /* paths that end in v: each edge into v that P labels, and P elsewhere in v */
        uint64_t ends = 0;
        int labelled = 0;
        for (uint32_t e = g->in_first[v]; e < g->in_first[v + 1]; e++)
            if (g->hl >= 0 && edge_has(g, &g->edge[e], g->hl)) {
                ends++;
                labelled = 1;
            }
        if (u->owns && !labelled)
            ends++;
        u->npaths = ends;
        for (uint32_t e = g->in_first[v]; e < g->in_first[v + 1]; e++) {
            const dot_unit *w = &g->unit[g->edge[e].from];
            u->rooted |= w->rooted;
            if (w->layer + 1 > u->layer)
                u->layer = w->layer + 1;
            if (w->dep) {
                u->dep = 1;
                u->npaths = sat_add(u->npaths, w->npaths);
            }
        }
    }
    /* backward: what the loss depends on; units not rooted in an input as
       late as their first consumer allows */
    if (g->loss != DOT_NONE)
        g->unit[g->loss].toloss = 1;
    for (size_t v = g->nunit; v-- > 0;) {
        dot_unit *u = &g->unit[v];
        if (!u->rooted && minsucc[v] != UINT32_MAX)
            u->layer = minsucc[v];
        for (uint32_t e = g->in_first[v]; e < g->in_first[v + 1]; e++) {
            uint32_t w = g->edge[e].from;
            if (u->toloss)
                g->unit[w].toloss = 1;
            if (u->layer - 1 < minsucc[w])
                minsucc[w] = u->layer - 1; /* layer >= 1: v has an edge in */
        }
    }
    for (size_t v = 0; v < g->nunit; v++)
        g->unit[v].hot = g->hl >= 0 && g->unit[v].dep && g->unit[v].toloss;
    for (size_t e = 0; e < g->nedge; e++) {
        dot_edge *ed = &g->edge[e];
        ed->hot = g->unit[ed->from].hot && g->unit[ed->to].hot;
        ed->weight = g->hl >= 0 && g->unit[ed->to].hot && edge_has(g, ed, g->hl);
    }
    g->npaths = g->loss != DOT_NONE && g->hl >= 0 ? g->unit[g->loss].npaths : 0;
    free(minsucc);
    return GP_OK;
}

gp_status dot_graph_build(dot_graph *g, gp_case *cs, long hl)
{
    gp_ctx *c = cs->c;
    memset(g, 0, sizeof *g);
    g->loss = DOT_NONE;
    g->hl = hl;
    if (cs->loss == GP_NIL)
        return GP_EINPUT;
    size_t nn = c->nnode;
    unsigned char *cone = calloc(nn ? nn : 1, 1);
    gp_id *roots = malloc((cs->nout + 1) * sizeof *roots);
    g->unit_of = malloc((nn ? nn : 1) * sizeof *g->unit_of);
    gp_status st = GP_ENOMEM;
    if (cone && roots && g->unit_of) {
        size_t nr = 0;
        roots[nr++] = cs->loss;
        for (size_t i = 0; i < cs->nout; i++)
            if (cs->out[i] != GP_NIL)
                roots[nr++] = cs->out[i];
        dag_reach(c, nr, roots, cone);
        for (size_t i = 0; i < nn; i++)
            g->unit_of[i] = DOT_NONE;
        st = make_units(g, cs, cone);
        if (st == GP_OK)
            st = make_edges(g, cs);
        if (st == GP_OK)
            st = make_layers(g);
    }
    free(cone);
    free(roots);
    return st;
}

uint32_t dot_graph_find(const dot_graph *g, const gp_case *cs, const char *name)
{
    for (size_t i = 0; i < g->nname; i++) {
        buf b = BUF_INIT;
        print_name(&b, &g->name[i], PR_CASE);
        int eq = b.s && strcmp(b.s, name) == 0;
        buf_free(&b);
        if (eq)
            for (size_t v = 0; v < g->nunit; v++)
                if (i >= g->unit[v].first_name && i < g->unit[v].first_name + g->unit[v].nnames)
                    return (uint32_t)v;
    }
    (void)cs;
    return DOT_NONE;
}

/* ---- captions ---- */

/* a name as the text renderer writes it; collapsed: the indexed name's base alone */
static void put_name(buf *b, const gp_name *nm, int collapsed)
{
    if (collapsed && nm->nidx) {
        gp_name base = {nm->base, 0, {0}};
        print_name(b, &base, PR_TEXT);
    } else {
        print_name(b, nm, PR_TEXT);
    }
}

static void put_param(buf *b, const gp_ctx *c, uint32_t leaf, int collapsed)
{
    put_name(b, &c->leaf[leaf].name, collapsed);
}

static void put_sup(buf *b, mpq_srcptr q)
{
    static const char *const sup[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
    if (mpz_cmp_ui(mpq_denref(q), 1) != 0 || mpz_sizeinbase(mpq_numref(q), 10) > 6) {
        buf_puts(b, "^(");
        print_q(b, q, PR_TEXT);
        buf_puts(b, ")");
        return;
    }
    long e = mpz_get_si(mpq_numref(q));
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%ld", e);
    for (const char *p = tmp; *p; p++)
        buf_puts(b, *p == '-' ? "⁻" : sup[*p - '0']);
}

/* a term without a unit: a param, a constant, or a product of them */
static int bias_term(buf *b, const gp_ctx *c, gp_id t, int collapsed)
{
    const gp_node *n = &c->node[t];
    gp_id one = t;
    const gp_id *f = &one;
    uint32_t nf = 1;
    if (n->op == GP_OP_MUL) {
        f = n->kid;
        nf = n->nkid;
    }
    int neg = 0, wrote = 0;
    buf body = BUF_INIT;
    for (uint32_t i = 0; i < nf; i++) {
        const gp_node *k = &c->node[f[i]];
        if (k->op == GP_OP_NUM) {
            mpq_t q;
            mpq_init(q);
            mpq_set(q, dag_q(c, f[i]));
            if (mpq_sgn(q) < 0)
                neg = !neg;
            mpq_abs(q, q);
            if (mpq_cmp_ui(q, 1, 1) != 0 || nf == 1) {
                print_q(&body, q, PR_TEXT);
                wrote = 1;
            }
            mpq_clear(q);
        } else if (k->op == GP_OP_LEAF && c->leaf[k->pay].kind != GP_LEAF_INPUT &&
                   c->leaf[k->pay].kind != GP_LEAF_TARGET) {
            if (wrote)
                buf_puts(&body, "·");
            put_name(&body, &c->leaf[k->pay].name, collapsed);
            wrote = 1;
        } else {
            buf_free(&body);
            return 0;
        }
    }
    buf_puts(b, neg ? " − " : " + ");
    buf_puts(b, body.s ? body.s : "");
    buf_free_into(b, &body);
    return 1;
}

/* "tanh(Σ + b₁)", "(·)²", "Σ": 1 when unit v has that form, with an
   activation or a param */
static int neuron(buf *out, const gp_case *cs, const dot_graph *g, uint32_t v, int collapsed)
{
    const gp_ctx *c = cs->c;
    gp_id r = g->unit[v].node, n = r;
    gp_id wrap[ACT_MAX];
    size_t nact = 0;
#define IS_UNIT(id) ((id) != r && g->unit_of[id] != DOT_NONE)
    while (nact < ACT_MAX && !IS_UNIT(n)) {
        const gp_node *nd = &c->node[n];
        if (nd->op == GP_OP_FN || (nd->op == GP_OP_POW && c->node[nd->kid[0]].op != GP_OP_LEAF)) {
            wrap[nact++] = n;
            n = nd->kid[0];
        } else {
            break;
        }
    }
    /* the terms of the core; a long sum is nested (simplify.c flattens only short ones) */
    gp_id *stack = NULL;
    size_t ns = 0, cap = 0;
    int sums = 0, params = 0, ok = ctx_grow((void **)&stack, &cap, 1, sizeof *stack);
    buf bias = BUF_INIT;
    if (ok)
        stack[ns++] = n;
    else
        out->oom = 1;
    while (ns && ok) {
        gp_id t = stack[--ns];
        const gp_node *tn = &c->node[t];
        if (IS_UNIT(t)) {
            sums++;
            continue;
        }
        if (tn->op == GP_OP_ADD) {
            if (!(ok = ctx_grow((void **)&stack, &cap, ns + tn->nkid, sizeof *stack))) {
                out->oom = 1;
                break;
            }
            for (uint32_t k = tn->nkid; k-- > 0;)
                stack[ns++] = tn->kid[k];
            continue;
        }
        if (tn->op == GP_OP_MUL) {
            int units = 0, other = 0;
            for (uint32_t k = 0; k < tn->nkid; k++) {
                gp_id f = tn->kid[k];
                const gp_node *fn = &c->node[f];
                if (IS_UNIT(f))
                    units++;
                else if (fn->op != GP_OP_NUM && fn->op != GP_OP_LEAF)
                    other++;
                else if (is_param(c, f))
                    params++;
            }
            if (other || units > 1)
                ok = 0;
            else if (units == 1)
                sums++;
            else
                ok = bias_term(&bias, c, t, collapsed);
            continue;
        }
        params += is_param(c, t);
        ok = (tn->op == GP_OP_LEAF || tn->op == GP_OP_NUM) && bias_term(&bias, c, t, collapsed);
    }
    free(stack);
    /* without an activation or a param, the equation says more (d = zr − z) */
    if (!ok || !sums || (!nact && !params)) {
        buf_free_into(out, &bias);
        return 0;
    }
    buf in = BUF_INIT;
    if (IS_UNIT(n))
        buf_puts(&in, "·");
    else
        buf_puts(&in, "Σ");
    buf_puts(&in, bias.s ? bias.s : "");
    buf_free_into(&in, &bias);
    for (size_t i = nact; i-- > 0;) {
        const gp_node *w = &c->node[wrap[i]];
        buf t = BUF_INIT;
        if (w->op == GP_OP_FN) {
            buf_printf(&t, "%s(%s)", dag_fn_name((gp_fn)w->fn), in.s ? in.s : "");
        } else {
            buf_printf(&t, "(%s)", in.s ? in.s : "");
            put_sup(&t, dag_q(c, w->kid[1]));
        }
        buf_free_into(&t, &in);
        in = t;
    }
#undef IS_UNIT
    buf_puts(out, in.s ? in.s : "");
    buf_free_into(out, &in);
    return 1;
}

/* the width of UTF-8 text in code points (combining marks take none) */
static size_t width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xC0) == 0x80)
            continue;
        if (ch == 0xCC && i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80)
            continue; /* U+0300..U+033F */
        if (ch == 0xCD && i + 1 < n && (unsigned char)s[i + 1] <= 0xAF)
            continue; /* U+0340..U+036F */
        w++;
    }
    return w;
}

/* the equation of a node, cut past CAPTION_MAX code points and wrapped at
   spaces past CAPTION_COLS columns; `used` columns are taken already */
static void equation(buf *out, const gp_ctx *c, gp_id id, size_t used)
{
    buf t = BUF_INIT;
    pr_opts o = {PR_TEXT, 1, 4 * CAPTION_MAX, NULL, NULL};
    int whole = print_expr(&t, c, id, &o);
    const char *s = t.s ? t.s : "";
    size_t n = strlen(s), cut = n, w = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        if (w == CAPTION_MAX) {
            cut = i;
            whole = 0;
            break;
        }
        w++;
    }
    if (!whole && cut == n && n > 0) {
        /* the printer stopped at a byte limit, maybe inside a character: drop the last one */
        while (cut > 0 && ((unsigned char)s[cut - 1] & 0xC0) == 0x80)
            cut--;
        if (cut > 0)
            cut--;
    }
    /* greedy wrap at spaces */
    size_t col = used, i = 0;
    while (i < cut) {
        size_t j = i;
        while (j < cut && s[j] != ' ')
            j++;
        size_t wself = width(s + i, j - i), wt = wself;
        /* an operator stays with what follows it: break before "+ b", not after */
        if (wt == 1 && j < cut) {
            size_t k = j + 1;
            while (k < cut && s[k] != ' ')
                k++;
            wt += 1 + width(s + j + 1, k - j - 1);
        }
        if (col > 0 && col + wt > CAPTION_COLS && i > 0) {
            /* replace the space before this word by a line break */
            if (out->n && out->s[out->n - 1] == ' ')
                out->s[--out->n] = '\0';
            buf_putc(out, '\n');
            col = 0;
        }
        buf_putn(out, s + i, j - i);
        col += wself;
        if (j < cut) {
            buf_putc(out, ' ');
            col++;
        }
        i = j + 1;
    }
    if (!whole)
        buf_puts(out, "…");
    buf_free_into(out, &t);
}

/* ---- drawing ---- */

/* a drawn node: one unit, or the units of one indexed name */
typedef struct dgroup {
    uint32_t rep;      /* its first unit */
    uint32_t n;        /* units in it */
    uint32_t layer;    /* the smallest of theirs */
    uint32_t elem;     /* the smallest of theirs: the case's order */
    uint32_t sym;      /* collapsed: the indexed name's symbol, else UINT32_MAX */
    uint8_t kind;      /* dot_kind, the strongest of its units */
    uint8_t hot, owns; /* any of its units */
} dgroup;

typedef struct dedge {
    uint32_t from, to; /* groups, as positions in the drawing order */
    uint32_t e;        /* the unit edge */
} dedge;

static int cmp_dedge(const void *a, const void *b)
{
    const dedge *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

typedef struct gkey {
    uint32_t layer, target, elem, k; /* a group's place: its layer, targets last, then the case's order */
} gkey;

static int cmp_gkey(const void *a, const void *b)
{
    const gkey *x = a, *y = b;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    if (x->elem != y->elem)
        return x->elem < y->elem ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* a DOT string literal: quotes, backslashes and line breaks escaped */
static void put_str(buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, *s);
        } else if (*s == '\n') {
            buf_puts(b, "\\n");
        } else if ((unsigned char)*s < 0x20) {
            buf_putc(b, ' ');
        } else {
            buf_putc(b, *s);
        }
    }
    buf_putc(b, '"');
}

/* the names of a unit, "a₁₁ = φ₁₁" */
static void put_unit_names(buf *b, const dot_graph *g, const dot_unit *u)
{
    for (uint32_t k = 0; k < u->nnames && k < NAMES_SHOWN; k++) {
        if (k)
            buf_puts(b, " = ");
        print_name(b, &g->name[u->first_name + k], PR_TEXT);
    }
    if (u->nnames > NAMES_SHOWN)
        buf_puts(b, " = …");
}

/* the names of a collapsed group: each symbol once, with its index ranges */
static void put_group_names(buf *b, const gp_case *cs, const dot_graph *g, const dgroup *gr, const uint32_t *members)
{
    uint32_t shown[NAMES_SHOWN];
    size_t nshown = 0;
    int more = 0;
    for (uint32_t i = 0; i < gr->n; i++) {
        const dot_unit *u = &g->unit[members[i]];
        for (uint32_t k = 0; k < u->nnames; k++) {
            uint32_t s = cs->elem[g->name_elem[u->first_name + k]].sym;
            size_t j = 0;
            while (j < nshown && shown[j] != s)
                j++;
            if (j < nshown)
                continue;
            if (nshown == NAMES_SHOWN) {
                more = 1;
                continue;
            }
            shown[nshown++] = s;
        }
    }
    for (size_t j = 0; j < nshown; j++) {
        const symbol *sy = &cs->sym[shown[j]];
        gp_name base = {sy->name, 0, {0}};
        if (j)
            buf_puts(b, " = ");
        print_name(b, &base, PR_TEXT);
        for (uint32_t k = 0; k < sy->nidx; k++)
            buf_printf(b, "[%d..%d]", sy->lo[k], sy->hi[k]);
    }
    if (more)
        buf_puts(b, " = …");
}

/* the caption of a drawn node; 1 when it is an equation */
static int caption(buf *b, const gp_case *cs, const dot_graph *g, const dgroup *gr, const uint32_t *members,
                    int collapsed)
{
    const dot_unit *u = &g->unit[gr->rep];
    size_t at = b->n;
    if (gr->sym != UINT32_MAX)
        put_group_names(b, cs, g, gr, members);
    else
        put_unit_names(b, g, u);
    if (gr->kind == DOT_TARGET) {
        buf_puts(b, "\ntarget");
        return 0;
    }
    if (gr->kind == DOT_INPUT)
        return 0;
    if (gr->kind != DOT_LOSS) {
        buf line = BUF_INIT;
        int is = neuron(&line, cs, g, gr->rep, collapsed);
        if (is) {
            buf_putc(b, '\n');
            buf_puts(b, line.s ? line.s : "");
        }
        buf_free_into(b, &line);
        if (is)
            return 0;
    }
    if (gr->sym != UINT32_MAX)
        return 0; /* an equation of one element would misdescribe the group */
    size_t used = width(b->s + at, b->n - at) + 3;
    buf_puts(b, " = ");
    if (used > CAPTION_COLS / 2) {
        b->s[--b->n] = '\0';
        buf_putc(b, '\n');
        used = 0;
    }
    equation(b, cs->c, u->node, used);
    return 1;
}

/* the labels of the drawn edges run[0..n): their params, each once */
static void edge_label(buf *b, const gp_case *cs, const dot_graph *g, const dedge *run, size_t n, int collapsed,
                       uint32_t *tmp)
{
    const gp_ctx *c = cs->c;
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        const dot_edge *e = &g->edge[run[i].e];
        for (uint32_t k = 0; k < e->nparams; k++) {
            uint32_t p = g->eparam[e->first_param + k];
            if (collapsed && c->leaf[p].name.nidx) {
                /* every element of an indexed param stands for it: its first element's leaf */
                long s = build_lookup(cs, c->leaf[p].name.base, strlen(c->leaf[p].name.base));
                if (s >= 0 && cs->sym[s].count && cs->elem[cs->sym[s].first].node != GP_NIL)
                    p = c->node[cs->elem[cs->sym[s].first].node].pay;
            }
            tmp[nk++] = p;
        }
    }
    qsort(tmp, nk, sizeof *tmp, cmp_u32);
    size_t shown = 0;
    for (size_t i = 0; i < nk; i++) {
        if (i && tmp[i] == tmp[i - 1])
            continue;
        if (shown == LABEL_PARAMS) {
            buf_puts(b, ", …");
            break;
        }
        if (shown)
            buf_puts(b, ", ");
        put_param(b, c, tmp[i], collapsed);
        shown++;
    }
}

static const char *const kind_style[] = {
    [DOT_INPUT] = "shape=box, fillcolor=\"#e3eefa\"",
    [DOT_TARGET] = "shape=box, style=\"filled,dashed\", fillcolor=\"#fdf0dc\"",
    [DOT_HIDDEN] = "shape=ellipse",
    [DOT_OUTPUT] = "shape=ellipse, peripheries=2",
    [DOT_LOSS] = "shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\"",
};

#define HOT "#d62728"
#define COLD "#b4b4b4"
#define COLD_TEXT "#8c8c8c"

static gp_status draw(buf *o, gp_case *cs, const dot_graph *g)
{
    gp_ctx *c = cs->c;
    gp_status st = GP_ENOMEM;
    int collapsed = g->nunit > DOT_MAX_UNITS || g->nedge > DOT_MAX_EDGES;
    uint32_t *group_of = malloc((g->nunit ? g->nunit : 1) * sizeof *group_of);
    uint32_t *sym_group = malloc((cs->nsym ? cs->nsym : 1) * sizeof *sym_group);
    dgroup *gr = malloc((g->nunit ? g->nunit : 1) * sizeof *gr);
    uint32_t *order = NULL, *pos = NULL, *mfirst = NULL, *fill = NULL, *members = NULL, *tmp = NULL;
    dedge *de = NULL;
    unsigned char *named = NULL;
    size_t ng = 0;
    if (!group_of || !sym_group || !gr)
        goto done;
    for (size_t s = 0; s < cs->nsym; s++)
        sym_group[s] = UINT32_MAX;
    /* the drawn nodes */
    for (size_t v = 0; v < g->nunit; v++) {
        const dot_unit *u = &g->unit[v];
        uint32_t s = cs->elem[g->name_elem[u->first_name]].sym;
        uint32_t k;
        if (collapsed && cs->sym[s].nidx && sym_group[s] != UINT32_MAX) {
            k = sym_group[s];
        } else {
            k = (uint32_t)ng++;
            gr[k] = (dgroup){(uint32_t)v, 0, u->layer, u->elem, UINT32_MAX, u->kind, 0, 0};
            if (collapsed && cs->sym[s].nidx) {
                sym_group[s] = k;
                gr[k].sym = s;
            }
        }
        dgroup *x = &gr[k];
        x->n++;
        if (u->layer < x->layer)
            x->layer = u->layer;
        if (u->elem < x->elem)
            x->elem = u->elem;
        if (u->kind > x->kind)
            x->kind = u->kind;
        x->hot |= u->hot;
        x->owns |= u->owns && u->hot;
        group_of[v] = k;
    }
    order = malloc((ng ? ng : 1) * sizeof *order);
    pos = malloc((ng ? ng : 1) * sizeof *pos);
    mfirst = calloc(ng + 1, sizeof *mfirst);
    fill = malloc((ng ? ng : 1) * sizeof *fill);
    members = malloc((g->nunit ? g->nunit : 1) * sizeof *members);
    de = malloc((g->nedge ? g->nedge : 1) * sizeof *de);
    tmp = malloc((g->neparam ? g->neparam : 1) * sizeof *tmp);
    named = calloc(cs->nelem ? cs->nelem : 1, 1);
    if (!order || !pos || !mfirst || !fill || !members || !de || !tmp || !named)
        goto done;
    {
        gkey *key = malloc((ng ? ng : 1) * sizeof *key);
        if (!key)
            goto done;
        for (size_t k = 0; k < ng; k++)
            key[k] = (gkey){gr[k].layer, gr[k].kind == DOT_TARGET, gr[k].elem, (uint32_t)k};
        qsort(key, ng, sizeof *key, cmp_gkey);
        for (size_t k = 0; k < ng; k++)
            order[k] = key[k].k;
        free(key);
    }
    for (size_t i = 0; i < ng; i++)
        pos[order[i]] = (uint32_t)i;
    /* members of each group, in unit order */
    for (size_t v = 0; v < g->nunit; v++)
        mfirst[group_of[v] + 1]++;
    for (size_t k = 0; k < ng; k++)
        mfirst[k + 1] += mfirst[k];
    memcpy(fill, mfirst, ng * sizeof *fill);
    for (size_t v = 0; v < g->nunit; v++)
        members[fill[group_of[v]]++] = (uint32_t)v;

    /* header */
    symbol *ls = &cs->sym[cs->loss_sym];
    gp_name lname = {ls->name, 0, {0}};
    buf legend = BUF_INIT;
    if (cs->title[0])
        buf_puts(&legend, cs->title);
    if (g->hl >= 0) {
        if (legend.n)
            buf_putc(&legend, '\n');
        buf t = BUF_INIT;
        print_name(&t, &c->leaf[g->hl].name, PR_TEXT);
        buf_puts(&legend, "chain-rule paths from ");
        print_name(&legend, &lname, PR_TEXT);
        buf_printf(&legend, " to %s (red): ", t.s ? t.s : "");
        if (g->npaths >= PATHS_SAT)
            buf_puts(&legend, "very many");
        else if (g->npaths == 0) {
            buf_puts(&legend, "none, ");
            print_name(&legend, &lname, PR_TEXT);
            buf_printf(&legend, " does not depend on %s", t.s ? t.s : "");
        } else
            buf_printf(&legend, "%llu", (unsigned long long)g->npaths);
        buf_free_into(&legend, &t);
    }
    buf_puts(o, "// gradproof dot");
    if (cs->title[0]) {
        buf_puts(o, ": ");
        for (const char *p = cs->title; *p; p++)
            buf_putc(o, *p == '\n' || *p == '\r' ? ' ' : *p);
    }
    buf_puts(o, "\n// nodes: inputs and targets (boxes), named intermediates (ellipses, or rounded boxes when captioned\n"
                "// with their equation; outputs doubled), the loss;\n"
                "// an edge u -> v when v's equation uses u, labelled with the params that multiply u there\n");
    if (ng < g->nunit)
        buf_printf(o, "// %zu units and %zu edges: the elements of each indexed name are drawn as one node\n", g->nunit,
                   g->nedge);
    /* the names that are not drawn */
    for (size_t i = 0; i < g->nname; i++)
        named[g->name_elem[i]] = 1;
    {
        size_t nskip = 0;
        for (size_t e = 0; e < cs->nelem; e++) {
            sym_kind k = cs->sym[cs->elem[e].sym].kind;
            if ((k != SYM_DEF && k != SYM_INPUT && k != SYM_TARGET) || named[e])
                continue;
            if (nskip == 0)
                buf_puts(o, "// not drawn (not used by the loss or an output, or a constant or param):");
            if (nskip == 12) {
                buf_puts(o, " ...");
                break;
            }
            gp_name nm;
            build_elem_name(cs, e, &nm);
            buf_putc(o, ' ');
            print_name(o, &nm, PR_CASE);
            nskip++;
        }
        if (nskip)
            buf_putc(o, '\n');
    }
    buf_puts(o, "digraph \"gradproof\" {\n");
    buf_puts(o, "  graph [rankdir=LR, ranksep=0.9, nodesep=0.35, fontname=\"DejaVu Sans\", fontsize=13, labelloc=t");
    if (legend.n) {
        buf_puts(o, ", label=");
        put_str(o, legend.s);
    }
    buf_puts(o, "];\n");
    buf_free_into(o, &legend);
    buf_puts(o, "  node [fontname=\"DejaVu Sans\", fontsize=12, style=filled, fillcolor=white, margin=\"0.1,0.04\"];\n");
    buf_puts(o, "  edge [fontname=\"DejaVu Sans\", fontsize=11, arrowsize=0.7];\n");
    /* nodes, one rank per layer */
    for (size_t i = 0; i < ng;) {
        uint32_t layer = gr[order[i]].layer;
        size_t first = i;
        buf_printf(o, "  { rank=same;  // layer %u\n", layer);
        for (; i < ng && gr[order[i]].layer == layer; i++) {
            const dgroup *x = &gr[order[i]];
            buf cap = BUF_INIT;
            int eq = caption(&cap, cs, g, x, members + mfirst[order[i]], collapsed);
            buf_printf(o, "    n%zu [label=", i);
            put_str(o, cap.s ? cap.s : "");
            buf_free_into(o, &cap);
            /* an equation reads better in a box than in an ellipse */
            if (eq && (x->kind == DOT_HIDDEN || x->kind == DOT_OUTPUT))
                buf_printf(o, ", shape=box, style=\"rounded,filled\"%s", x->kind == DOT_OUTPUT ? ", peripheries=2" : "");
            else
                buf_printf(o, ", %s", kind_style[x->kind]);
            if (g->hl >= 0) {
                if (x->hot)
                    buf_printf(o, ", color=\"" HOT "\", penwidth=%s", x->owns ? "3" : "2");
                else
                    buf_puts(o, ", color=\"" COLD "\", fontcolor=\"" COLD_TEXT "\"");
            }
            buf_puts(o, "];\n");
        }
        /* keep the case's order down the rank: 1, 2, 3 read top to bottom */
        if (i - first > 1) {
            buf_puts(o, "    ");
            for (size_t k = first; k < i; k++)
                buf_printf(o, k > first ? " -> n%zu" : "n%zu", k);
            buf_puts(o, " [style=invis];\n");
        }
        buf_puts(o, "  }\n");
    }
    /* edges, by head then tail in the drawing order */
    for (size_t e = 0; e < g->nedge; e++)
        de[e] = (dedge){pos[group_of[g->edge[e].from]], pos[group_of[g->edge[e].to]], (uint32_t)e};
    if (g->nedge)
        qsort(de, g->nedge, sizeof *de, cmp_dedge);
    for (size_t i = 0; i < g->nedge;) {
        size_t j = i;
        int hot = 0, weight = 0;
        while (j < g->nedge && de[j].from == de[i].from && de[j].to == de[i].to) {
            hot |= g->edge[de[j].e].hot;
            weight |= g->edge[de[j].e].weight;
            j++;
        }
        buf_printf(o, "  n%u -> n%u", de[i].from, de[i].to);
        buf lab = BUF_INIT;
        edge_label(&lab, cs, g, de + i, j - i, collapsed, tmp);
        int attrs = 0;
        if (lab.n) {
            buf_puts(o, " [label=");
            put_str(o, lab.s);
            attrs = 1;
        }
        buf_free_into(o, &lab);
        if (g->hl >= 0) {
            buf_puts(o, attrs ? ", " : " [");
            attrs = 1;
            if (weight)
                buf_puts(o, "color=\"" HOT "\", fontcolor=\"" HOT "\", penwidth=3.5");
            else if (hot)
                buf_puts(o, "color=\"" HOT "\", penwidth=2");
            else
                buf_puts(o, "color=\"" COLD "\", fontcolor=\"" COLD_TEXT "\"");
        }
        buf_puts(o, attrs ? "];\n" : ";\n");
        i = j;
    }
    buf_puts(o, "}\n");
    st = GP_OK;
done:
    free(group_of);
    free(sym_group);
    free(gr);
    free(order);
    free(pos);
    free(mfirst);
    free(fill);
    free(members);
    free(de);
    free(tmp);
    free(named);
    return st;
}

gp_status gp_dot_render(gp_case *cs, const gp_dot_opts *opts, char **out)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    if (cs->loss == GP_NIL || cs->loss_sym == UINT32_MAX)
        return GP_EINPUT;
    long hl = -1;
    if (opts && opts->highlight) {
        hl = render_find_param(cs, opts->highlight);
        if (hl < 0)
            return GP_EINPUT;
    }
    dot_graph g;
    buf o = BUF_INIT;
    gp_status st = dot_graph_build(&g, cs, hl);
    if (st == GP_OK)
        st = draw(&o, cs, &g);
    dot_graph_free(&g);
    if (st == GP_OK && o.oom)
        st = GP_ENOMEM;
    if (st == GP_OK) {
        *out = buf_take(&o);
        if (!*out)
            st = GP_ENOMEM;
    }
    buf_free(&o);
    if (st == GP_OK && c->status != GP_OK)
        st = c->status;
    return st;
}

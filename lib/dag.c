/*
 * dag.c -- node storage and interning (hash-consing).
 *
 * Invariants kept here:
 *  - node[id].kid[i] < id for every child: ids are a topological order;
 *  - no two nodes have equal (op, fn, payload, children): structural
 *    equality is id equality;
 *  - per-node facts (level, flags, depth) are computed once, from the
 *    children, when the node is interned, and never change.  The display
 *    label is the one fact set later, by the case builder, and it is not
 *    part of a node's identity.
 * The table of exact constants keeps one mpq_t per distinct rational; every
 * one is cleared by dag_free().
 */
#include "dag.h"

#include <stdlib.h>
#include <string.h>

static const char *const fn_names[GP_FN_COUNT] = {
    "exp", "log", "tanh", "sigmoid", "relu", "abs", "softplus", "sin", "cos", "step", "sign",
};

const char *dag_fn_name(gp_fn fn) { return fn < GP_FN_COUNT ? fn_names[fn] : "?"; }

static uint32_t mix(uint32_t h, uint32_t v)
{
    h ^= v + 0x9e3779b9u + (h << 6) + (h >> 2);
    return h;
}

static uint32_t hash_q(mpq_srcptr q)
{
    uint32_t h = 17;
    mpz_srcptr parts[2] = {mpq_numref(q), mpq_denref(q)};
    for (int i = 0; i < 2; i++) {
        size_t n = mpz_size(parts[i]);
        h = mix(h, (uint32_t)mpz_sgn(parts[i]));
        for (size_t k = 0; k < n; k++) {
            mp_limb_t l = mpz_getlimbn(parts[i], (mp_size_t)k);
            h = mix(h, (uint32_t)l);
            h = mix(h, (uint32_t)((uint64_t)l >> 32));
        }
    }
    return h;
}

static int node_equal(const gp_ctx *c, const gp_node *a, gp_op op, gp_fn fn, uint32_t pay,
                      uint32_t nkid, const gp_id *kid, mpq_srcptr q)
{
    if (a->op != op || a->fn != fn || a->nkid != nkid)
        return 0;
    if (op == GP_OP_NUM)
        return mpq_equal(c->num[a->pay], q);
    if (op == GP_OP_LEAF)
        return a->pay == pay;
    return memcmp(a->kid, kid, nkid * sizeof *kid) == 0;
}

/* Spread a structural hash over the table: the raw hashes of long chains
   (x_k built from x_{k-1}) are correlated, and masking them directly made
   probe sequences of 10^5 slots. */
static size_t slot(uint32_t h, size_t cap)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h & (cap - 1);
}

static int rehash(gp_ctx *c)
{
    size_t cap = c->hcap ? c->hcap * 2 : 1024;
    gp_id *t = malloc(cap * sizeof *t);
    if (!t)
        return 0;
    memset(t, 0xFF, cap * sizeof *t);
    for (size_t id = 0; id < c->nnode; id++) {
        size_t i = slot(c->node[id].hash, cap);
        while (t[i] != GP_NIL)
            i = (i + 1) & (cap - 1);
        t[i] = (gp_id)id;
    }
    free(c->htab);
    c->htab = t;
    c->hcap = cap;
    return 1;
}

/* The shared body of interning: find an equal node or append a new one. */
static gp_id intern(gp_ctx *c, gp_op op, gp_fn fn, uint32_t pay, uint32_t nkid,
                    const gp_id *kid, mpq_srcptr q)
{
    if (c->status != GP_OK)
        return GP_NIL;
    uint32_t h = mix(mix(mix((uint32_t)op * 31u, (uint32_t)fn), nkid), 0);
    if (op == GP_OP_NUM)
        h = mix(h, hash_q(q));
    else if (op == GP_OP_LEAF)
        h = mix(h, pay);
    else
        for (uint32_t i = 0; i < nkid; i++) {
            if (kid[i] == GP_NIL)
                return GP_NIL;
            h = mix(h, kid[i]);
        }
    if ((c->nnode + 1) * 2 > c->hcap && !rehash(c)) {
        c->status = GP_ENOMEM;
        return GP_NIL;
    }
    size_t i = slot(h, c->hcap);
    for (; c->htab[i] != GP_NIL; i = (i + 1) & (c->hcap - 1)) {
        gp_id id = c->htab[i];
        if (c->node[id].hash == h && node_equal(c, &c->node[id], op, fn, pay, nkid, kid, q))
            return id;
    }
    if (c->nnode >= c->lim.max_nodes || c->nnode >= GP_NIL - 1) {
        c->status = GP_ELIMIT;
        diag_error(c, -1, 0, 0, "the expression DAG exceeds the limit of %zu nodes (raise it with --max-nodes)",
                   c->lim.max_nodes);
        return GP_NIL;
    }
    if (!ctx_grow((void **)&c->node, &c->capnode, c->nnode + 1, sizeof *c->node)) {
        c->status = GP_ENOMEM;
        return GP_NIL;
    }
    gp_node *n = &c->node[c->nnode];
    memset(n, 0, sizeof *n);
    n->op = (uint8_t)op;
    n->fn = (uint8_t)fn;
    n->nkid = nkid;
    n->hash = h;
    n->pay = pay;
    n->depth = 1;
    if (nkid) {
        n->kid = arena_alloc(&c->mem, nkid * sizeof *kid);
        if (!n->kid) {
            c->status = GP_ENOMEM;
            return GP_NIL;
        }
        memcpy(n->kid, kid, nkid * sizeof *kid);
    }
    /* facts from the children */
    uint8_t level = GP_LV_STATIC, flags = 0;
    for (uint32_t k = 0; k < nkid; k++) {
        const gp_node *ch = &c->node[kid[k]];
        if (ch->level > level)
            level = ch->level;
        flags |= ch->flags;
        if (ch->depth + 1 > n->depth)
            n->depth = ch->depth + 1;
    }
    if (op == GP_OP_NUM) {
        if (!ctx_grow((void **)&c->num, &c->capnum, c->nnum + 1, sizeof *c->num)) {
            c->status = GP_ENOMEM;
            return GP_NIL;
        }
        mpq_init(c->num[c->nnum]);
        mpq_set(c->num[c->nnum], q);
        n->pay = (uint32_t)c->nnum++;
    } else if (op == GP_OP_LEAF) {
        gp_leaf_kind k = c->leaf[pay].kind;
        level = (k == GP_LEAF_INPUT || k == GP_LEAF_TARGET) ? GP_LV_SAMPLE : GP_LV_STATIC;
        if (k == GP_LEAF_PARAM)
            flags |= GP_NF_PARAM;
    } else if (op == GP_OP_MEAN || op == GP_OP_SUMS) {
        level = GP_LV_DATASET;
    } else if (op == GP_OP_FN) {
        flags |= GP_NF_NONRAT;
        if (fn == GP_FN_RELU || fn == GP_FN_ABS || fn == GP_FN_STEP || fn == GP_FN_SIGN)
            flags |= GP_NF_KINK;
    } else if (op == GP_OP_POW) {
        if (mpz_cmp_ui(mpq_denref(c->num[c->node[kid[1]].pay]), 1) != 0)
            flags |= GP_NF_NONRAT;
    }
    n->level = level;
    n->flags = flags;
    c->htab[i] = (gp_id)c->nnode;
    return (gp_id)c->nnode++;
}

gp_id dag_intern(gp_ctx *c, gp_op op, gp_fn fn, uint32_t nkid, const gp_id *kid)
{
    return intern(c, op, fn, 0, nkid, kid, NULL);
}

gp_id dag_num(gp_ctx *c, mpq_srcptr q)
{
    /* the size of an exact number, as ^ allows it (simplify.c): past it,
       arithmetic on the constants would run away */
    if (mpz_sizeinbase(mpq_numref(q), 2) + mpz_sizeinbase(mpq_denref(q), 2) > DAG_NUM_MAX_BITS) {
        if (c->status == GP_OK)
            diag_error(c, -1, 0, 0, "an exact number of the case has more than %lu bits (about %lu digits), the "
                                    "largest gradproof keeps", (unsigned long)DAG_NUM_MAX_BITS,
                       (unsigned long)(DAG_NUM_MAX_BITS * 0.30103));
        c->status = GP_ELIMIT;
        return GP_NIL;
    }
    return intern(c, GP_OP_NUM, 0, 0, 0, NULL, q);
}

gp_id dag_num_si(gp_ctx *c, long n, unsigned long d)
{
    mpq_t q;
    mpq_init(q);
    mpq_set_si(q, n, d);
    mpq_canonicalize(q);
    gp_id id = dag_num(c, q);
    mpq_clear(q);
    return id;
}

long dag_leaf(gp_ctx *c, gp_leaf_kind kind, const gp_name *name, gp_id value)
{
    if (!ctx_grow((void **)&c->leaf, &c->capleaf, c->nleaf + 1, sizeof *c->leaf)) {
        c->status = GP_ENOMEM;
        return -1;
    }
    uint32_t ord = c->nleafkind[kind]++;
    gp_leaf *l = &c->leaf[c->nleaf];
    l->kind = kind;
    l->name = *name;
    l->value = value;
    l->ord = ord;
    l->node = GP_NIL;
    long li = (long)c->nleaf++;
    l->node = intern(c, GP_OP_LEAF, 0, (uint32_t)li, 0, NULL, NULL);
    if (l->node == GP_NIL)
        return -1;
    return li;
}

int dag_set_label(gp_ctx *c, gp_id id, const gp_name *name)
{
    gp_node *n = &c->node[id];
    if (n->label || n->op == GP_OP_NUM || n->op == GP_OP_LEAF)
        return 0;
    if (c->nlabel == 0)
        c->nlabel = 1; /* label 0 means "none" */
    if (!ctx_grow((void **)&c->label, &c->caplabel, c->nlabel + 1, sizeof *c->label)) {
        c->status = GP_ENOMEM;
        return 0;
    }
    c->label[c->nlabel].name = *name;
    n->label = (uint32_t)c->nlabel++;
    return 1;
}

void dag_free(gp_ctx *c)
{
    for (size_t i = 0; i < c->nnum; i++)
        mpq_clear(c->num[i]);
    free(c->num);
    free(c->node);
    free(c->htab);
    free(c->leaf);
    free(c->label);
    free(c->assume);
    c->num = NULL;
    c->node = NULL;
    c->htab = NULL;
    c->leaf = NULL;
    c->label = NULL;
    c->assume = NULL;
    c->nnum = c->nnode = c->hcap = c->nleaf = c->nlabel = c->nassume = 0;
    memset(c->nleafkind, 0, sizeof c->nleafkind);
    c->capnum = c->capnode = c->capleaf = c->caplabel = c->capassume = 0;
}

int dag_is_zero(const gp_ctx *c, gp_id id)
{
    return c->node[id].op == GP_OP_NUM && mpq_sgn(c->num[c->node[id].pay]) == 0;
}

int dag_is_one(const gp_ctx *c, gp_id id)
{
    return c->node[id].op == GP_OP_NUM && mpq_cmp_si(c->num[c->node[id].pay], 1, 1) == 0;
}

size_t dag_reach(const gp_ctx *c, size_t n, const gp_id *roots, unsigned char *mark)
{
    size_t hi = 0, count = 0;
    for (size_t i = 0; i < n; i++)
        if (roots[i] != GP_NIL) {
            mark[roots[i]] = 1;
            if (roots[i] + 1 > hi)
                hi = roots[i] + 1;
        }
    /* children have smaller ids: one downward sweep marks the whole cone */
    for (size_t id = hi; id-- > 0;) {
        if (!mark[id])
            continue;
        count++;
        const gp_node *nd = &c->node[id];
        for (uint32_t k = 0; k < nd->nkid; k++)
            mark[nd->kid[k]] = 1;
    }
    return count;
}

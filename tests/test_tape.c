/*
 * test_tape.c -- the tape (tape.h): what the compiler emits, the MPFR and
 * exact forward sweeps against the evaluator, and the double engine's
 * gradient and error bound against the symbolic derivative.
 *
 * 1. Unit tests build tiny DAGs through the smart constructors (or load a
 *    case from a string) and read the instruction list: a layer is one
 *    TP_LIN, 2*w*x in a sum gets a compiler TP_MUL (node GP_NIL), a product
 *    used twice is not fused, t.rational, the kink count and numbering,
 *    an unused param's TAPE_NONE slot and zero gradient.
 * 2. tape_mpfr_forward against eval_mpfr at 256 bits on random DAGs;
 *    tape_q_forward against hand-computed rationals and against tape_mpfr at
 *    1000 bits on random rational DAGs; *ok = 0 / -1 / GP_EINTERNAL.
 * 3. The property test: the random-DAG generator of test_derive_property.c
 *    (copied below: tests are standalone files): params w0 w1 w2, inputs x0
 *    x1, target y, a constant k = 3/10 (not a double: a rounded constant),
 *    every function of gp_fn and the powers 2, 3, 5, -1, -2, 1/2, 3/2, -1/2
 *    forced in turn, labelled intermediates, sums and products wider than
 *    SIMPLIFY_FLAT; a third of the DAGs are dataset-level (MEAN, SUMS over
 *    1..MAXROWS rows, so the lane sums run with and without a tail).  DAG i
 *    uses seed SEED + i (-DFIRSTDAG=i -DNDAG=1 replays it alone; -DSEED=,
 *    -DNDAG= for other or longer runs).  Params
 *    and data are random doubles (53-bit mantissas), given to MPFR exactly.
 *    At each point:
 *      reference: the cone of f and of derive_grad(f) in MPFR at 256 bits;
 *      engine:    tape_dbl, bounded, forward then reverse (per-sample roots
 *                 with ns = 1: the reverse sweep sums over the samples);
 *      pass:      |bp - sym| <= 1.01 bound + 2^-240 |sym| for every param,
 *                 and |v - f| <= 1.01 e_v + 2^-240 |f| for the value.
 *    The factor 1.01 is for the second-order terms the running bound leaves
 *    out; 2^-240 |sym| is the reference's own error (256 bits, a few ulps
 *    per operation).  Points are redrawn where MPFR faults, where a value of
 *    the cone exceeds 1e8, where a nonzero value is below 1e-250 (double
 *    would underflow; the bound does not model underflow), or where the
 *    bounded forward reports doubt (a kink within its error bound).  The
 *    fast (unbounded) workspace must give the same bits as the bounded one.
 *    The bound must not be vacuous: its median, in ulps of sym, must stay
 *    below BOUND_ULPS_MEDIAN = 100.
 *    Measured (default run, 1500 DAGs, 1442 checked, 8649 comparisons):
 *    worst |bp - sym|/bound 0.46, median 0.020; the bound's median 17 ulps,
 *    the actual error's median 0.44 ulps; value |v - f|/e_v worst 0.94 (one
 *    rounding can use all of its U|v|).  Over 15000 DAGs (-DNDAG=15000):
 *    worst 0.53, median 0.019, bound median 18 ulps, and 7 failures, all of
 *    them 0 * inf (see a_zero_partial_is_not_spoiled_by_an_infinite_one).
 * 4. Mutants show the comparison can fail: the engine's gradient off by a
 *    relative 1e-6, or with its sign flipped, and the gradient of a DAG with
 *    tanh against the symbolic derivative of the same DAG with sin.
 * 5. Ill-conditioned points (cancellation): the bound covers errors of
 *    1e11..1e15 ulps.
 * 6. Batches of 1 .. 1003 samples against the reference, and a batch
 *    against the sum of its single samples.
 * 7. Empty tapes, empty batches, contract breaches (GP_EINTERNAL), leaks
 *    (checked inside the test in the ASan build).
 *
 * Two tests pin bugs of tape.c found while writing this file:
 * a_product_as_the_root_is_compiled_whatever_the_heap_holds (parent[] of a
 * root is read uninitialised) and a_zero_partial_is_not_spoiled_by_an_
 * infinite_one (0 * inf = NaN in the reverse sweep).
 */
#include <stdio.h> /* before mpfr.h, for mpfr_fprintf */

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <mpfr.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "build.h"
#include "ctx.h"
#include "dag.h"
#include "derive.h"
#include "eval_mpfr.h"
#include "gradproof.h"
#include "print.h"
#include "simplify.h"
#include "tape.h"
#include "rng.h"

#ifndef SEED
#define SEED 0x7a9e5eedu
#endif
#ifndef NDAG
#define NDAG 1500      /* DAGs generated; at least MINCHECKED must be checked */
#endif
#ifndef FIRSTDAG
#define FIRSTDAG 0     /* replay DAG i alone: -DFIRSTDAG=i -DNDAG=1 */
#endif
#define MINCHECKED 1000
#define NMUTANT 150    /* DAGs of each mutant run */
#ifndef NFWD
#define NFWD 400       /* DAGs of the MPFR / exact forward agreement tests */
#endif
#define PREC 256
#define NPARAM 3
#define NX 3           /* x0, x1 (inputs), y (target) */
#define MAXROWS 12     /* dataset-level DAGs: 1 .. MAXROWS rows */
#define NPOINTS 2      /* good points wanted per DAG */
#define MAXTRIES 30    /* draws per DAG */
#define CAP 1e8        /* largest |value| accepted at a point */
#define TINY 1e-250    /* smallest nonzero |value| accepted at a point */
#define NPOWKIND 8
#define UNIT 0x1p-53   /* unit roundoff of double */
#define SLACK 1.01     /* second-order terms of the running bound */
#define REFREL 0x1p-240
#ifndef BOUND_ULPS_MEDIAN
#define BOUND_ULPS_MEDIAN 100 /* median bound, in ulps of sym: measured 17.3 (17.9 over 15000 DAGs) */
#endif

static const long pow_p[NPOWKIND] = {2, 3, 5, -1, -2, 1, 3, -1};
static const unsigned long pow_q[NPOWKIND] = {1, 1, 1, 1, 1, 2, 2, 2};

/* ---- deterministic random numbers (splitmix64) ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnext(rng *r) { return rng_next(&r->s); }

static unsigned below(rng *r, unsigned n) { return (unsigned)(rnext(r) % n); }
static int chance(rng *r, unsigned pct) { return below(r, 100) < pct; }
/* a random double in [-a, a) with a full mantissa (a a power of 2 times 1 or 1.5) */
static double rdouble(rng *r, double a) { return ldexp((double)(rnext(r) >> 11), -53) * 2 * a - a; }

/* ---- small helpers ---- */

static long mkleaf(gp_ctx *c, gp_leaf_kind kind, const char *name, gp_id value)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    long li = dag_leaf(c, kind, &nm, value);
    cr_assert(li >= 0);
    return li;
}

static gp_id node_of(const gp_ctx *c, long li) { return c->leaf[li].node; }

static size_t count_op(const tape *t, tape_op op)
{
    size_t n = 0;
    for (size_t k = 0; k < t->nins; k++)
        n += t->ins[k].op == op;
    return n;
}

/* the instruction computing node id, or TAPE_NONE */
static uint32_t slot_of(const tape *t, gp_id id)
{
    for (size_t k = 0; k < t->nins; k++)
        if (t->ins[k].node == id)
            return (uint32_t)k;
    return TAPE_NONE;
}

/* ulp of the double nearest to x (x != 0, normal) */
static double ulp_of(double x) { return ldexp(1.0, ilogb(x) - 52); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static void dvec_push(dvec *d, double x)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 1024;
        d->v = realloc(d->v, d->cap * sizeof *d->v);
        cr_assert_not_null(d->v);
    }
    d->v[d->n++] = x;
}

static double dvec_median(dvec *d)
{
    if (!d->n)
        return NAN;
    qsort(d->v, d->n, sizeof *d->v, cmp_double);
    return d->v[d->n / 2];
}

static double dvec_max(const dvec *d)
{
    double m = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i] > m)
            m = d->v[i];
    return m;
}

static void print_node(const gp_ctx *c, gp_id id, const char *what)
{
    buf b = BUF_INIT;
    pr_opts o;
    memset(&o, 0, sizeof o);
    o.syn = PR_CASE;
    o.max_bytes = 4000;
    print_expr(&b, c, id, &o);
    fprintf(stderr, "  %s (node #%u): %s\n", what, id, b.s ? b.s : "");
    buf_free(&b);
}

/* Compile one root with the given param and column leaves; asserts GP_OK. */
static void compile1(tape *t, gp_ctx *c, gp_id root, size_t np, const uint32_t *pl, size_t nc, const uint32_t *cl)
{
    gp_status st = tape_compile(t, c, 1, &root, np, pl, nc, cl);
    cr_assert_eq(st, GP_OK, "tape_compile: status %d", (int)st);
}

/* ---- one random world: a context with its leaves and a data table ---- */

typedef struct world {
    gp_ctx *c;
    long pleaf[NPARAM];
    gp_id pnode[NPARAM];
    uint32_t pl[NPARAM];        /* param k of the tape is leaf pl[k] */
    long xleaf[NX];
    gp_id xnode[NX];
    gp_id knode;
    uint32_t col[NX];           /* data column j feeds leaf col[j] */
    size_t nrows;
    double dd[NX * MAXROWS];    /* column-major, as the tape wants it: dd[j * nrows + s] */
    mpq_t data[MAXROWS * NX];   /* row-major, as eval_mpfr wants it: the same values */
    double p[NPARAM];           /* the current point */
    mpfr_t *lv;                 /* leaf values (params used), PREC bits */
    size_t nlv;
} world;

static void world_init(world *w, rng *r, size_t nrows)
{
    static const char *const pn[NPARAM] = {"w0", "w1", "w2"};
    static const char *const xn[NX] = {"x0", "x1", "y"};
    w->c = gp_ctx_new();
    cr_assert_not_null(w->c);
    for (int i = 0; i < NPARAM; i++) {
        w->pleaf[i] = mkleaf(w->c, GP_LEAF_PARAM, pn[i], GP_NIL);
        w->pnode[i] = w->c->leaf[w->pleaf[i]].node;
        w->pl[i] = (uint32_t)w->pleaf[i];
    }
    for (int i = 0; i < NX; i++) {
        w->xleaf[i] = mkleaf(w->c, i < 2 ? GP_LEAF_INPUT : GP_LEAF_TARGET, xn[i], GP_NIL);
        w->xnode[i] = w->c->leaf[w->xleaf[i]].node;
        w->col[i] = (uint32_t)w->xleaf[i];
    }
    long kl = mkleaf(w->c, GP_LEAF_CONST, "k", dag_num_si(w->c, 3, 10));
    w->knode = w->c->leaf[kl].node;
    w->nrows = nrows;
    /* random doubles in [-2, 2), exact in mpq */
    for (size_t s = 0; s < nrows; s++)
        for (int j = 0; j < NX; j++) {
            double v = rdouble(r, 2.0);
            w->dd[(size_t)j * nrows + s] = v;
            mpq_init(w->data[s * NX + (size_t)j]);
            mpq_set_d(w->data[s * NX + (size_t)j], v);
        }
    w->nlv = w->c->nleaf;
    w->lv = malloc(w->nlv * sizeof *w->lv);
    cr_assert_not_null(w->lv);
    for (size_t i = 0; i < w->nlv; i++) {
        mpfr_init2(w->lv[i], PREC);
        mpfr_set_zero(w->lv[i], 1);
    }
}

static void world_free(world *w)
{
    for (size_t i = 0; i < w->nrows * NX; i++)
        mpq_clear(w->data[i]);
    for (size_t i = 0; i < w->nlv; i++)
        mpfr_clear(w->lv[i]);
    free(w->lv);
    gp_ctx_free(w->c);
}

static void world_env(const world *w, eval_env *env)
{
    memset(env, 0, sizeof *env);
    env->leafval = (const mpfr_t *)w->lv;
    env->nsamples = w->nrows;
    env->ncols = NX;
    env->col_leaf = w->col;
    env->qcols = (const mpq_t *)w->data;
}

/* Random params: doubles in [-1.5, 1.5), exact in MPFR. */
static void world_point(world *w, rng *r)
{
    for (int i = 0; i < NPARAM; i++) {
        w->p[i] = rdouble(r, 1.5);
        mpfr_set_d(w->lv[w->pleaf[i]], w->p[i], MPFR_RNDN);
    }
}

/* ---- random expressions (the generator of test_derive_property.c) ----
 *
 * Two switches the original does not have: `rational` (functions become
 * integer powers, only integer powers: a rational DAG for tape_q_forward)
 * and `subst` (tanh is built as sin: the mutant of the tanh rule).  Neither
 * changes the sequence of random draws. */

#define POOLMAX 64

typedef struct gen {
    world *w;
    rng *r;
    gp_id pool[POOLMAX];
    int npool;
    int rational;
    int subst;
} gen;

static void push(gen *g, gp_id id)
{
    static const char *const names[] = {"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"};
    gp_ctx *c = g->w->c;
    cr_assert_neq(id, GP_NIL, "a smart constructor failed (status %d)", (int)c->status);
    if (c->node[id].op != GP_OP_NUM && c->node[id].op != GP_OP_LEAF && chance(g->r, 12)) {
        gp_name nm;
        memset(&nm, 0, sizeof nm);
        nm.base = names[below(g->r, 8)];
        dag_set_label(c, id, &nm);
    }
    if (g->npool < POOLMAX)
        g->pool[g->npool++] = id;
    else
        g->pool[POOLMAX - 1 - below(g->r, 8)] = id;
}

static gp_id pick(gen *g)
{
    int n = g->npool;
    if (n > 3 && chance(g->r, 50))
        return g->pool[n - 1 - (int)below(g->r, 3)];
    return g->pool[below(g->r, (unsigned)n)];
}

static gp_id num(gen *g)
{
    static const long nd[][2] = {{1, 2}, {-3, 1}, {2, 3}, {5, 4}, {-1, 3}, {7, 5}};
    unsigned k = below(g->r, 6);
    return dag_num_si(g->w->c, nd[k][0], (unsigned long)nd[k][1]);
}

static gp_id positive(gen *g, gp_id a)
{
    gp_ctx *c = g->w->c;
    unsigned k = below(g->r, 4);
    if (g->rational)
        k = 0;
    switch (k) {
    case 0: return gp_add2(c, gp_pow_si(c, a, 2, 1), dag_num_si(c, 1, 4));
    case 1: return gp_call(c, GP_FN_EXP, a);
    case 2: return gp_call(c, GP_FN_SIGMOID, a);
    default: return gp_call(c, GP_FN_SOFTPLUS, a);
    }
}

static gp_id apply_fn(gen *g, gp_fn fn, gp_id a)
{
    if (fn == GP_FN_LOG && chance(g->r, 70))
        a = positive(g, a);
    if (g->rational) /* an integer power in place of the function */
        return gp_pow_si(g->w->c, a, fn % 3 == 0 ? 2 : fn % 3 == 1 ? 3 : -1, 1);
    if (g->subst && fn == GP_FN_TANH)
        fn = GP_FN_SIN;
    return gp_call(g->w->c, fn, a);
}

static gp_id apply_pow(gen *g, int kind, gp_id a)
{
    gp_ctx *c = g->w->c;
    if (g->rational && pow_q[kind] != 1)
        kind = kind - 5; /* 1/2, 3/2, -1/2 -> 2, 3, 5 */
    if (pow_q[kind] != 1 && chance(g->r, 70))
        a = positive(g, a);
    else if (pow_p[kind] < 0 && chance(g->r, 40))
        a = gp_add2(c, gp_pow_si(c, a, 2, 1), dag_num_si(c, 1, 2));
    return gp_pow_si(c, a, pow_p[kind], pow_q[kind]);
}

static gp_id use_all_params(gen *g, gp_id f)
{
    world *w = g->w;
    gp_ctx *c = w->c;
    for (int i = 0; i < NPARAM; i++) {
        unsigned char *mark = calloc(c->nnode, 1);
        cr_assert_not_null(mark);
        dag_reach(c, 1, &f, mark);
        int used = mark[w->pnode[i]];
        free(mark);
        if (used)
            continue;
        gp_id t = gp_mul2(c, w->pnode[i], pick(g));
        if (chance(g->r, 50))
            t = apply_fn(g, (gp_fn)below(g->r, GP_FN_COUNT), t);
        f = gp_add2(c, f, t);
    }
    return f;
}

static gp_id step(gen *g)
{
    gp_ctx *c = g->w->c;
    unsigned k = below(g->r, 100);
    if (k < 16) {
        if (chance(g->r, 30)) {
            gp_id t[3] = {pick(g), pick(g), pick(g)};
            return gp_add(c, 3, t);
        }
        return gp_add2(c, pick(g), pick(g));
    }
    if (k < 26)
        return gp_sub(c, pick(g), pick(g));
    if (k < 46) {
        if (chance(g->r, 30)) {
            gp_id t[3] = {pick(g), pick(g), pick(g)};
            return gp_mul(c, 3, t);
        }
        return gp_mul2(c, pick(g), pick(g));
    }
    if (k < 54) {
        gp_id a = pick(g), b = pick(g);
        if (chance(g->r, 50))
            b = gp_add2(c, gp_pow_si(c, b, 2, 1), dag_num_si(c, 1, 2));
        return gp_div(c, a, b);
    }
    if (k < 58)
        return gp_neg(c, pick(g));
    if (k < 60) {
        gp_id t[SIMPLIFY_FLAT + 4];
        int prod = chance(g->r, 50);
        for (int i = 0; i < SIMPLIFY_FLAT + 4; i++)
            t[i] = prod ? gp_add2(c, dag_num_si(c, 1, 1), gp_mul2(c, dag_num_si(c, 1, 16), pick(g)))
                        : gp_mul2(c, num(g), pick(g));
        return prod ? gp_mul(c, SIMPLIFY_FLAT + 4, t) : gp_add(c, SIMPLIFY_FLAT + 4, t);
    }
    if (k < 76)
        return apply_pow(g, (int)below(g->r, NPOWKIND), pick(g));
    return apply_fn(g, (gp_fn)below(g->r, GP_FN_COUNT), pick(g));
}

static void pool_leaves(gen *g, int sample)
{
    world *w = g->w;
    g->npool = 0;
    for (int i = 0; i < NPARAM; i++)
        push(g, w->pnode[i]);
    if (sample)
        for (int i = 0; i < NX; i++)
            push(g, w->xnode[i]);
    push(g, w->knode);
    push(g, num(g));
}

static gp_id gen_expr(gen *g, int sample, gp_fn fn, int powkind)
{
    pool_leaves(g, sample);
    push(g, apply_fn(g, fn, pick(g)));
    push(g, apply_pow(g, powkind, pick(g)));
    int nops = 2 + (int)below(g->r, 10);
    for (int i = 0; i < nops; i++)
        push(g, step(g));
    gp_id f = g->pool[g->npool - 1];
    if (chance(g->r, 40))
        f = gp_add2(g->w->c, f, g->pool[g->npool - 2]);
    return chance(g->r, 80) ? use_all_params(g, f) : f;
}

static gp_id gen_dataset(gen *g, gp_fn fn, int powkind)
{
    world *w = g->w;
    gp_ctx *c = w->c;
    gp_id red[2];
    int nred = 1 + (int)below(g->r, 2);
    for (int i = 0; i < nred; i++) {
        gp_id e = gen_expr(g, 1, i == 0 ? fn : (gp_fn)below(g->r, GP_FN_COUNT),
                           i == 0 ? powkind : (int)below(g->r, NPOWKIND));
        if (c->node[e].level != GP_LV_SAMPLE)
            e = gp_add2(c, gp_mul2(c, e, w->xnode[0]), w->xnode[1]);
        red[i] = gp_reduce(c, chance(g->r, 50) ? GP_OP_MEAN : GP_OP_SUMS, e);
        cr_assert_neq(red[i], GP_NIL);
    }
    pool_leaves(g, 0);
    for (int i = 0; i < nred; i++)
        push(g, red[i]);
    int nops = 1 + (int)below(g->r, 4);
    for (int i = 0; i < nops; i++)
        push(g, step(g));
    gp_id f = g->pool[g->npool - 1];
    if (c->node[f].level != GP_LV_DATASET)
        f = gp_add2(c, f, red[0]);
    if (c->node[f].level != GP_LV_DATASET)
        f = gp_add2(c, f, gp_pow_si(c, red[0], 2, 1));
    return f;
}

/* A random DAG in an initialised world: per-sample, or dataset-level when
   `dataset`; it depends on a param. */
static gp_id gen_dag(world *w, rng *r, unsigned idag, int dataset, int rational, int subst, gp_fn fn)
{
    gen g = {w, r, {0}, 0, rational, subst};
    int pk = (int)((idag / GP_FN_COUNT) % NPOWKIND);
    gp_id f = dataset ? gen_dataset(&g, fn, pk) : gen_expr(&g, 1, fn, pk);
    if (!(w->c->node[f].flags & GP_NF_PARAM))
        f = gp_mul2(w->c, f, w->pnode[below(r, NPARAM)]);
    cr_assert_neq(f, GP_NIL);
    cr_assert_eq(w->c->node[f].level == GP_LV_DATASET, dataset, "DAG %u: level %d", idag, w->c->node[f].level);
    return f;
}

static size_t draw_rows(rng *r, int dataset) { return dataset ? 1 + below(r, MAXROWS) : 3; }

/* ---- the reference: the cone of f and its derivatives in MPFR ---- */

typedef struct dagcheck {
    world *w;
    gp_id f;             /* the reference function */
    gp_id d[NPARAM];     /* its symbolic derivatives */
    gp_id extra[1 + NPARAM]; /* more roots whose values must be sane too (M_SIN:
                                the engine's function and its derivatives) */
    size_t nextra;
    size_t xpos[1 + NPARAM];
    int dataset;
    gp_id *ids;
    size_t n;
    size_t *pos;
    mpfr_t *val;
    size_t fpos, dpos[NPARAM];
} dagcheck;

static void dc_init(dagcheck *dc)
{
    gp_ctx *c = dc->w->c;
    unsigned char *mark = calloc(c->nnode, 1);
    gp_id roots[2 + 2 * NPARAM];
    size_t nr = 0;
    roots[nr++] = dc->f;
    for (int i = 0; i < NPARAM; i++)
        roots[nr++] = dc->d[i];
    for (size_t i = 0; i < dc->nextra; i++)
        roots[nr++] = dc->extra[i];
    cr_assert_not_null(mark);
    dc->n = dag_reach(c, nr, roots, mark);
    dc->ids = malloc(dc->n * sizeof *dc->ids);
    dc->pos = malloc(c->nnode * sizeof *dc->pos);
    dc->val = malloc(dc->n * sizeof *dc->val);
    cr_assert(dc->ids && dc->pos && dc->val);
    size_t k = 0;
    for (size_t id = 0; id < c->nnode; id++)
        if (mark[id]) {
            dc->pos[id] = k;
            dc->ids[k] = (gp_id)id;
            mpfr_init2(dc->val[k], PREC);
            k++;
        }
    dc->fpos = dc->pos[dc->f];
    for (int i = 0; i < NPARAM; i++)
        dc->dpos[i] = dc->pos[dc->d[i]];
    for (size_t i = 0; i < dc->nextra; i++)
        dc->xpos[i] = dc->pos[dc->extra[i]];
    free(mark);
}

static void dc_free(dagcheck *dc)
{
    for (size_t i = 0; i < dc->n; i++)
        mpfr_clear(dc->val[i]);
    free(dc->val);
    free(dc->ids);
    free(dc->pos);
}

enum { OK_POINT, R_FAULT, R_LARGE, R_TINY, R_DOUBT };

/* Evaluate the cone at the current point (every row for a dataset-level f,
   row s otherwise), so that every per-sample value is seen. */
static int probe(dagcheck *dc, size_t s)
{
    world *w = dc->w;
    eval_env env;
    world_env(w, &env);
    size_t r0 = dc->dataset ? 0 : s, r1 = dc->dataset ? w->nrows : s + 1;
    for (size_t row = r0; row < r1; row++) {
        eval_fault fl;
        gp_status rc = eval_mpfr(dc->val, w->c, &env, (long)row, dc->n, dc->ids, PREC, &fl);
        cr_assert_eq(rc, GP_OK, "eval_mpfr: status %d", (int)rc);
        if (fl.node != GP_NIL)
            return R_FAULT;
        for (size_t i = 0; i < dc->n; i++) {
            double a = fabs(mpfr_get_d(dc->val[i], MPFR_RNDN));
            if (a > CAP)
                return R_LARGE;
            if (!mpfr_zero_p(dc->val[i]) && a < TINY)
                return R_TINY;
        }
    }
    return OK_POINT;
}

/* ---- the engine against the reference ---- */

typedef enum mutant { M_NONE, M_SCALE, M_NEG, M_SIN } mutant;

typedef struct stats {
    unsigned dags, checked, dataset_checked;
    unsigned long points, comparisons, nonzero;
    unsigned long redraw_fault, redraw_large, redraw_tiny, redraw_doubt;
    unsigned long failures, fwd_failures, bits_differ;
    unsigned long lin_dags, mulcoef_dags;  /* DAGs whose tape has a TP_LIN, a compiler TP_MUL */
    dvec ratio;          /* |bp - sym| / bound, bound > 0 */
    dvec ulps;           /* bound / ulp(sym), sym != 0 */
    dvec errulps;        /* |bp - sym| / ulp(sym), sym != 0 */
    double fwd_worst;    /* largest |v - f| / e_v */
    unsigned fn_seen[GP_FN_COUNT];
    unsigned pow_seen[NPOWKIND];
    unsigned long eligible, detected; /* mutants: comparisons (or points) that must fail, that did */
} stats;

static void stats_free(stats *st)
{
    free(st->ratio.v);
    free(st->ulps.v);
    free(st->errulps.v);
}

static void coverage(const gp_ctx *c, gp_id f, stats *st)
{
    unsigned char *mark = calloc(c->nnode, 1);
    cr_assert_not_null(mark);
    dag_reach(c, 1, &f, mark);
    unsigned char fn[GP_FN_COUNT] = {0}, pw[NPOWKIND] = {0};
    for (size_t id = 0; id < c->nnode; id++) {
        if (!mark[id])
            continue;
        const gp_node *nd = &c->node[id];
        if (nd->op == GP_OP_FN)
            fn[nd->fn] = 1;
        if (nd->op == GP_OP_POW) {
            mpq_srcptr q = dag_q(c, nd->kid[1]);
            for (int k = 0; k < NPOWKIND; k++)
                if (mpz_cmp_si(mpq_numref(q), pow_p[k]) == 0 && mpz_cmp_ui(mpq_denref(q), pow_q[k]) == 0)
                    pw[k] = 1;
        }
    }
    for (int k = 0; k < GP_FN_COUNT; k++)
        st->fn_seen[k] += fn[k];
    for (int k = 0; k < NPOWKIND; k++)
        st->pow_seen[k] += pw[k];
    free(mark);
}

/* |a - ref| as a double, a exact double, ref at PREC bits */
static double absdiff(double a, mpfr_srcptr ref)
{
    mpfr_t d;
    mpfr_init2(d, PREC + 64);
    mpfr_sub_d(d, ref, a, MPFR_RNDN);
    double r = fabs(mpfr_get_d(d, MPFR_RNDN));
    mpfr_clear(d);
    return r;
}

/* The engine at one point: everything the comparison needs. */
typedef struct engine_out {
    double v, ev;
    double g[NPARAM], b[NPARAM];
    size_t doubt;
    int same_bits;   /* the fast workspace agrees bit for bit */
} engine_out;

static void run_engine(const tape *t, const world *w, size_t ns, size_t s, engine_out *o)
{
    double d1[NX];
    const double *data = w->dd;
    if (ns == 1 && w->nrows != 1) { /* one row of a per-sample DAG */
        for (int j = 0; j < NX; j++)
            d1[j] = w->dd[(size_t)j * w->nrows + s];
        data = d1;
    }
    tape_dbl wb, wf;
    cr_assert_eq(tape_dbl_init(&wb, t, ns, 1), GP_OK);
    cr_assert_eq(tape_dbl_init(&wf, t, ns, 0), GP_OK);
    tape_dbl_forward(&wb, w->p, data);
    o->doubt = wb.doubt;
    o->v = tape_dbl_value(&wb, 0, 0);
    o->ev = tape_dbl_value_err(&wb, 0, 0);
    tape_dbl_reverse(&wb, 0, o->g, o->b);
    double gf[NPARAM];
    tape_dbl_forward(&wf, w->p, data);
    double vf = tape_dbl_value(&wf, 0, 0);
    tape_dbl_reverse(&wf, 0, gf, NULL);
    o->same_bits = memcmp(&vf, &o->v, sizeof vf) == 0 && memcmp(gf, o->g, sizeof gf) == 0;
    tape_dbl_free(&wb);
    tape_dbl_free(&wf);
}

static void report_failure(const dagcheck *dc, unsigned idag, size_t s, const char *what, int i, double got,
                           double bound, mpfr_srcptr want)
{
    const world *w = dc->w;
    fprintf(stderr, "tape: DAG %u (seed %#x + %u): %s", idag, SEED, idag, what);
    if (i >= 0)
        fprintf(stderr, " w%d", i);
    fprintf(stderr, " at row %zu\n", s);
    for (int j = 0; j < NPARAM; j++)
        fprintf(stderr, "  w%d = %a\n", j, w->p[j]);
    for (size_t row = 0; row < w->nrows; row++)
        fprintf(stderr, "  data row %zu: x0 = %a, x1 = %a, y = %a\n", row, w->dd[row], w->dd[w->nrows + row],
                w->dd[2 * w->nrows + row]);
    mpfr_fprintf(stderr, "  engine %.17g, bound %.3g, reference %.25Rg, |diff|/bound %.3g\n", got, bound, want,
                 absdiff(got, want) / bound);
    print_node(w->c, dc->f, "f");
}

/*
 * One point of one DAG: draw, evaluate, compare.  `tp` is the tape of the
 * engine's function: the reference's f, except for M_SIN, where it is
 * dc->extra[0] and its true derivatives are dc->extra[1 ..].
 */
static int check_point(dagcheck *dc, const tape *tp, rng *r, stats *st, unsigned idag, mutant mut)
{
    world *w = dc->w;
    world_point(w, r);
    size_t s = below(r, (unsigned)w->nrows);
    int why = probe(dc, s);
    if (why != OK_POINT)
        return why;
    engine_out o;
    run_engine(tp, w, dc->dataset ? w->nrows : 1, s, &o);
    if (o.doubt)
        return R_DOUBT;
    st->points++;
    if (!o.same_bits) {
        st->bits_differ++;
        if (mut == M_NONE)
            fprintf(stderr, "tape: DAG %u: the fast and bounded workspaces give different bits\n", idag);
    }
    /* the value */
    mpfr_srcptr fref = dc->val[dc->fpos];
    double fe = absdiff(o.v, fref), fa = fabs(mpfr_get_d(fref, MPFR_RNDN));
    if (mut == M_NONE) {
        if (!(fe <= SLACK * o.ev + REFREL * fa)) {
            if (st->fwd_failures++ < 10)
                report_failure(dc, idag, s, "value", -1, o.v, o.ev, fref);
        } else if (o.ev > 0 && fe / o.ev > st->fwd_worst) {
            st->fwd_worst = fe / o.ev;
        }
    }
    /* the gradient */
    int anybad = 0, anyelig = 0;
    for (int i = 0; i < NPARAM; i++) {
        mpfr_srcptr sym = dc->val[dc->dpos[i]];
        double sd = mpfr_get_d(sym, MPFR_RNDN), sa = fabs(sd);
        double g = o.g[i], b = o.b[i];
        if (mut == M_SCALE)
            g += 1e-6 * g;
        else if (mut == M_NEG)
            g = -g;
        double e = absdiff(g, sym);
        int bad = !(e <= SLACK * b + REFREL * sa);
        st->comparisons++;
        st->nonzero += sd != 0;
        if (mut == M_NONE) {
            if (bad) {
                if (st->failures++ < 10)
                    report_failure(dc, idag, s, "d f/d", i, g, b, sym);
            } else if (b > 0) {
                dvec_push(&st->ratio, e / b);
            }
            if (sd != 0 && isfinite(sd)) {
                dvec_push(&st->ulps, b / ulp_of(sd));
                dvec_push(&st->errulps, e / ulp_of(sd));
            }
        } else if (mut == M_SCALE || mut == M_NEG) {
            /* must fail wherever the claimed accuracy is finer than the
               perturbation: 1e-6 |g| (scale) or 2 |g| (sign) */
            double pert = mut == M_SCALE ? 1e-6 * fabs(o.g[i]) : 2 * fabs(o.g[i]);
            if (sd != 0 && pert > 2 * (SLACK * b + REFREL * sa)) {
                st->eligible++;
                st->detected += (unsigned long)bad;
            }
        } else { /* M_SIN: per point, over the derivatives that differ by
                    more than the comparison can blur */
            double dts = absdiff(mpfr_get_d(dc->val[dc->xpos[1 + i]], MPFR_RNDN), sym);
            int elig = dts > 3 * (SLACK * b + REFREL * sa);
            anyelig |= elig;
            anybad |= elig && bad;
        }
    }
    if (mut == M_SIN && anyelig) {
        st->eligible++;
        st->detected += (unsigned long)anybad;
    }
    return OK_POINT;
}

static void run(unsigned first, unsigned ndag, unsigned seed0, mutant mut, stats *st)
{
    memset(st, 0, sizeof *st);
    for (unsigned idag = first; idag < first + ndag; idag++) {
        rng r = {(uint64_t)SEED + seed0 + idag};
        int dataset = idag % 3 == 2;
        gp_fn fn = mut == M_SIN ? GP_FN_TANH : (gp_fn)(idag % GP_FN_COUNT);
        world w;
        world_init(&w, &r, draw_rows(&r, dataset));
        rng r0 = r;
        gp_id f = gen_dag(&w, &r, idag, dataset, 0, 0, fn);
        gp_id ft = f; /* the engine's function */
        gp_id dt[NPARAM];
        if (mut == M_SIN) {
            /* the reference: the same draws again in the same world, with
               tanh built as sin */
            rng r1 = r0;
            f = gen_dag(&w, &r1, idag, dataset, 0, 1, fn);
            if (f == ft) { /* no tanh survived */
                world_free(&w);
                continue;
            }
            cr_assert_eq(derive_grad(w.c, ft, NPARAM, w.pnode, dt), GP_OK);
        }
        dagcheck dc;
        memset(&dc, 0, sizeof dc);
        dc.w = &w;
        dc.dataset = dataset;
        dc.f = f;
        if (mut == M_SIN) {
            dc.extra[dc.nextra++] = ft;
            for (int i = 0; i < NPARAM; i++)
                dc.extra[dc.nextra++] = dt[i];
        }
        gp_status rc = derive_grad(w.c, dc.f, NPARAM, w.pnode, dc.d);
        cr_assert_eq(rc, GP_OK, "DAG %u: derive_grad failed with %d", idag, (int)rc);
        tape t;
        compile1(&t, w.c, ft, NPARAM, w.pl, NX, w.col);
        st->lin_dags += count_op(&t, TP_LIN) > 0;
        for (size_t k = 0; k < t.nins; k++)
            if (t.ins[k].op == TP_MUL && t.ins[k].node == GP_NIL) {
                st->mulcoef_dags++;
                break;
            }
        dc_init(&dc);
        st->dags++;
        int good = 0;
        for (int tr = 0; tr < MAXTRIES && good < NPOINTS; tr++) {
            switch (check_point(&dc, &t, &r, st, idag, mut)) {
            case OK_POINT: good++; break;
            case R_FAULT: st->redraw_fault++; break;
            case R_LARGE: st->redraw_large++; break;
            case R_TINY: st->redraw_tiny++; break;
            default: st->redraw_doubt++; break;
            }
        }
        if (good) {
            st->checked++;
            st->dataset_checked += (unsigned)dataset;
            coverage(w.c, ft, st);
        }
        dc_free(&dc);
        tape_free(&t);
        world_free(&w);
    }
}

/* ---- 3. the double engine against the symbolic derivative ---- */

Test(tape, double_gradient_within_its_bound_of_the_symbolic_derivative, .timeout = 300)
{
    clock_t t0 = clock();
    stats st;
    run(FIRSTDAG, NDAG, 0, M_NONE, &st);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    double worst = dvec_max(&st.ratio), med = dvec_median(&st.ratio);
    double ulps_med = dvec_median(&st.ulps), ulps_max = dvec_max(&st.ulps);
    double err_med = dvec_median(&st.errulps), err_max = dvec_max(&st.errulps);
    cr_log_info("tape: %u DAGs, %u checked (%u dataset-level), %lu points, %lu gradient comparisons (%lu nonzero), "
                "%lu failures, %lu value failures, %lu bit differences fast/bounded; redraws: %lu fault, %lu large, "
                "%lu tiny, %lu doubt; %lu tapes with TP_LIN, %lu with a compiler TP_MUL; %.2f s",
                st.dags, st.checked, st.dataset_checked, st.points, st.comparisons, st.nonzero, st.failures,
                st.fwd_failures, st.bits_differ, st.redraw_fault, st.redraw_large, st.redraw_tiny, st.redraw_doubt,
                st.lin_dags, st.mulcoef_dags, secs);
    cr_log_info("tape: |bp - sym|/bound: worst %.3g, median %.3g; value |v - f|/e_v worst %.3g", worst, med,
                st.fwd_worst);
    cr_log_info("tape: bound in ulps of sym: median %.3g, largest %.3g; actual error in ulps: median %.3g, "
                "largest %.3g",
                ulps_med, ulps_max, err_med, err_max);
    char fl[512] = "", pw[256] = "";
    for (int k = 0; k < GP_FN_COUNT; k++)
        snprintf(fl + strlen(fl), sizeof fl - strlen(fl), " %s %u", dag_fn_name((gp_fn)k), st.fn_seen[k]);
    for (int k = 0; k < NPOWKIND; k++)
        snprintf(pw + strlen(pw), sizeof pw - strlen(pw), " %ld/%lu %u", pow_p[k], pow_q[k], st.pow_seen[k]);
    cr_log_info("tape: functions:%s; powers:%s", fl, pw);
    cr_expect_eq(st.failures, 0, "%lu gradient comparisons outside the bound", st.failures);
    cr_expect_eq(st.fwd_failures, 0, "%lu values outside the bound", st.fwd_failures);
    cr_expect_eq(st.bits_differ, 0, "%lu points where the fast and bounded sweeps differ", st.bits_differ);
    if (NDAG >= MINCHECKED) { /* not for a replay of a few DAGs */
        cr_expect_geq(st.checked, MINCHECKED, "only %u DAGs had a usable point", st.checked);
        cr_expect_geq(st.checked * 10, st.dags * 9, "points found for only %u of %u DAGs", st.checked, st.dags);
        cr_expect_geq(st.dataset_checked, MINCHECKED / 4, "only %u dataset-level DAGs checked", st.dataset_checked);
        cr_expect_geq(st.nonzero * 2, st.comparisons, "most derivatives were 0: the test checks little");
        cr_expect_geq(st.lin_dags, st.dags / 4, "TP_LIN in only %lu tapes", st.lin_dags);
        for (int k = 0; k < GP_FN_COUNT; k++)
            cr_expect_geq(st.fn_seen[k], 30, "function %s in only %u checked DAGs", dag_fn_name((gp_fn)k),
                          st.fn_seen[k]);
        for (int k = 0; k < NPOWKIND; k++)
            cr_expect_geq(st.pow_seen[k], 30, "power %ld/%lu in only %u checked DAGs", pow_p[k], pow_q[k],
                          st.pow_seen[k]);
        /* the bound is not vacuous */
        cr_expect_lt(ulps_med, BOUND_ULPS_MEDIAN, "median bound %g ulps", ulps_med);
    }
    cr_expect_lt(worst, 1.0, "worst |bp - sym|/bound %g", worst);
    stats_free(&st);
}

/* ---- 4. the comparison catches a wrong gradient ---- */

Test(tape, perturbed_or_negated_gradients_are_caught, .timeout = 120)
{
    static const mutant muts[2] = {M_SCALE, M_NEG};
    static const char *const names[2] = {"relative 1e-6", "sign flip"};
    for (int m = 0; m < 2; m++) {
        stats st;
        run(0, NMUTANT, 1000000, muts[m], &st);
        cr_log_info("tape mutant %s: %lu of %lu eligible comparisons caught (%lu comparisons, %lu nonzero)",
                    names[m], st.detected, st.eligible, st.comparisons, st.nonzero);
        cr_assert_gt(st.eligible, NMUTANT, "mutant %s: only %lu comparisons eligible", names[m], st.eligible);
        /* eligible means the bound claims better than the perturbation:
           nearly every nonzero derivative */
        cr_expect_geq(st.eligible * 100, st.nonzero * 95, "mutant %s: %lu of %lu nonzero comparisons eligible",
                      names[m], st.eligible, st.nonzero);
        cr_expect_eq(st.detected, st.eligible, "mutant %s: caught %lu of %lu", names[m], st.detected, st.eligible);
        stats_free(&st);
    }
}

Test(tape, tanh_gradient_disagrees_with_the_derivative_of_sin, .timeout = 120)
{
    stats st;
    run(0, NMUTANT, 2000000, M_SIN, &st);
    cr_log_info("tape mutant tanh -> sin: %u DAGs with a tanh, %lu points, %lu where the gradients differ "
                "(beyond 3x the tolerance), caught at %lu",
                st.dags, st.points, st.eligible, st.detected);
    /* where they do not differ, the tanh sits under sign/step/relu or
       its contribution is ~0 at the point */
    cr_assert_gt(st.eligible * 10, st.points * 8, "only %lu of %lu points eligible", st.eligible, st.points);
    cr_expect_eq(st.detected, st.eligible, "caught at only %lu of %lu points", st.detected, st.eligible);
    stats_free(&st);
}

/* ---- 1. what the compiler emits ---- */

/* a context with params and inputs registered in the order they are made */
typedef struct mini {
    gp_ctx *c;
    uint32_t pl[8];
    size_t np;
    uint32_t cl[8];
    size_t nc;
} mini;

static mini mini_new(void)
{
    mini m;
    memset(&m, 0, sizeof m);
    m.c = gp_ctx_new();
    cr_assert_not_null(m.c);
    return m;
}

static gp_id mini_param(mini *m, const char *name)
{
    long li = mkleaf(m->c, GP_LEAF_PARAM, name, GP_NIL);
    m->pl[m->np++] = (uint32_t)li;
    return node_of(m->c, li);
}

static gp_id mini_input(mini *m, const char *name)
{
    long li = mkleaf(m->c, GP_LEAF_INPUT, name, GP_NIL);
    m->cl[m->nc++] = (uint32_t)li;
    return node_of(m->c, li);
}

static gp_id numq(gp_ctx *c, long n, unsigned long d) { return dag_num_si(c, n, d); }

/* Run the bounded engine: values of root 0 at every sample, and the gradient. */
static void engine(const tape *t, size_t ns, const double *p, const double *data, double *val, double *grad,
                   double *bound)
{
    tape_dbl w;
    cr_assert_eq(tape_dbl_init(&w, t, ns, 1), GP_OK);
    tape_dbl_forward(&w, p, data);
    if (val)
        for (size_t s = 0; s < ns; s++)
            val[s] = tape_dbl_value(&w, 0, s);
    tape_dbl_reverse(&w, 0, grad, bound);
    tape_dbl_free(&w);
}

Test(tape, a_layer_is_one_lin_with_two_terms_and_a_plain_addend)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w1 = mini_param(&m, "w1"), w2 = mini_param(&m, "w2"), b = mini_param(&m, "b");
    gp_id x1 = mini_input(&m, "x1"), x2 = mini_input(&m, "x2");
    gp_id terms[3] = {b, gp_mul2(c, w1, x1), gp_mul2(c, w2, x2)};
    gp_id h = gp_add(c, 3, terms);
    tape t;
    compile1(&t, c, h, m.np, m.pl, m.nc, m.cl);
    cr_expect_eq(t.nins, 6, "3 params, 2 columns, 1 layer: %zu instructions", t.nins);
    cr_expect_eq(count_op(&t, TP_LIN), 1);
    cr_expect_eq(count_op(&t, TP_MUL), 0, "a fused product got an instruction of its own");
    cr_expect_eq(count_op(&t, TP_ADD), 0);
    const tape_ins *in = &t.ins[t.root[0]];
    cr_assert_eq(in->op, TP_LIN);
    cr_expect_eq(in->node, h);
    cr_expect_eq(in->aux, 2, "%u terms", in->aux);
    cr_expect_eq(in->n, 5, "%u operands", in->n);
    cr_expect_eq(in->level, GP_LV_SAMPLE);
    cr_expect(in->active);
    uint32_t sx1 = slot_of(&t, x1), sx2 = slot_of(&t, x2);
    cr_expect_eq(t.ins[sx1].op, TP_DATA);
    cr_expect_eq(t.ins[sx2].aux, 1, "x2 is data column 1");
    int f1 = 0, f2 = 0;
    for (uint32_t j = 0; j < in->aux; j++) {
        f1 += in->arg[2 * j] == t.pslot[0] && in->arg[2 * j + 1] == sx1;
        f2 += in->arg[2 * j] == t.pslot[1] && in->arg[2 * j + 1] == sx2;
    }
    cr_expect(f1 == 1 && f2 == 1, "the terms are not (w1, x1) and (w2, x2)");
    cr_expect_eq(in->arg[4], t.pslot[2], "the plain addend is not b");
    for (int k = 0; k < 3; k++)
        cr_expect_eq(t.ins[t.pslot[k]].aux, (uint32_t)k, "param %d has ordinal %u", k, t.ins[t.pslot[k]].aux);
    cr_expect_eq(t.rational, 1);
    cr_expect_eq(t.nkink, 0);
    /* it runs: dyadic values, every operation exact */
    double p[3] = {0.5, -2, 0.25}, data[6] = {1, 2, 3, -1, 0.5, 4}, v[3], g[3], bd[3];
    engine(&t, 3, p, data, v, g, bd);
    for (int s = 0; s < 3; s++)
        cr_expect_eq(v[s], 0.5 * data[s] - 2 * data[3 + s] + 0.25, "h at sample %d = %g", s, v[s]);
    cr_expect_eq(g[0], 6, "dh/dw1 summed = %g", g[0]);
    cr_expect_eq(g[1], 3.5, "dh/dw2 summed = %g", g[1]);
    cr_expect_eq(g[2], 3, "dh/db summed = %g", g[2]);
    tape_free(&t);
    gp_ctx_free(c);
}

Test(tape, a_coefficient_of_two_static_factors_gets_a_compiler_product)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), b = mini_param(&m, "b"), x = mini_input(&m, "x");
    gp_id f3[3] = {numq(c, 2, 1), w, x};
    gp_id prod = gp_mul(c, 3, f3);
    gp_id h = gp_add2(c, prod, b);
    tape t;
    compile1(&t, c, h, m.np, m.pl, m.nc, m.cl);
    cr_assert_eq(count_op(&t, TP_MUL), 1, "%zu TP_MUL", count_op(&t, TP_MUL));
    cr_expect_eq(slot_of(&t, prod), TAPE_NONE, "2*w*x has an instruction of its own");
    uint32_t k = 0;
    while (t.ins[k].op != TP_MUL)
        k++;
    const tape_ins *mu = &t.ins[k];
    cr_expect_eq(mu->node, GP_NIL, "the compiler's coefficient product names node %u", mu->node);
    cr_expect_eq(mu->n, 2);
    cr_expect_eq(mu->level, GP_LV_STATIC);
    cr_expect(mu->active, "2*w depends on a param");
    int has2 = 0, hasw = 0;
    for (uint32_t j = 0; j < mu->n; j++) {
        has2 += t.ins[mu->arg[j]].op == TP_NUM && t.cval[mu->arg[j]] == 2;
        hasw += mu->arg[j] == t.pslot[0];
    }
    cr_expect(has2 == 1 && hasw == 1, "the coefficient is not 2*w");
    const tape_ins *in = &t.ins[t.root[0]];
    cr_assert_eq(in->op, TP_LIN);
    cr_expect_eq(in->aux, 1);
    cr_expect_eq(in->n, 3);
    cr_expect_eq(in->arg[0], k, "the term's coefficient is not the compiler product");
    cr_expect_eq(in->arg[1], slot_of(&t, x));
    cr_expect_eq(in->arg[2], t.pslot[1]);
    double p[2] = {1.5, 0.25}, data[3] = {1, 2, 3}, v[3], g[2], bd[2];
    engine(&t, 3, p, data, v, g, bd);
    for (int s = 0; s < 3; s++)
        cr_expect_eq(v[s], 3 * data[s] + 0.25);
    cr_expect_eq(g[0], 12, "dh/dw = sum 2x = 12, got %g", g[0]);
    cr_expect_eq(g[1], 3, "dh/db = 3, got %g", g[1]);
    tape_free(&t);
    gp_ctx_free(c);
}

Test(tape, a_product_used_twice_is_not_fused)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), b = mini_param(&m, "b"), x = mini_input(&m, "x");
    /* (a) a named product, p*(p + b): p is used by the sum and the product */
    gp_id p = gp_mul2(c, w, x);
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = "p";
    cr_assert(dag_set_label(c, p, &nm));
    gp_id s = gp_add2(c, p, b);
    gp_id h = gp_mul2(c, p, s);
    tape t;
    compile1(&t, c, h, m.np, m.pl, m.nc, m.cl);
    uint32_t sp = slot_of(&t, p), ss = slot_of(&t, s);
    cr_assert_neq(sp, TAPE_NONE, "p was fused though used twice");
    cr_expect_eq(t.ins[sp].op, TP_MUL);
    cr_assert_neq(ss, TAPE_NONE);
    cr_expect_eq(t.ins[ss].op, TP_ADD, "p + b is op %d, not TP_ADD", t.ins[ss].op);
    cr_expect_eq(count_op(&t, TP_LIN), 0);
    double pv[2] = {0.5, 0.25}, data[2] = {2, -4}, v[2], g[2], bd[2];
    engine(&t, 2, pv, data, v, g, bd);
    /* h = w x (w x + b): dh/dw = x (2 w x + b), dh/db = w x */
    cr_expect_eq(v[0], 1.25);
    cr_expect_eq(v[1], 3.5);
    cr_expect_eq(g[0], 2 * (2 * 0.5 * 2 + 0.25) + -4 * (2 * 0.5 * -4 + 0.25), "dh/dw %g", g[0]);
    cr_expect_eq(g[1], 0.5 * 2 + 0.5 * -4, "dh/db %g", g[1]);
    tape_free(&t);
    /* (b) two roots sharing an unnamed product */
    gp_id q = gp_mul2(c, b, x);
    gp_id r2[2] = {gp_add2(c, q, w), gp_call(c, GP_FN_TANH, q)};
    cr_assert_eq(tape_compile(&t, c, 2, r2, m.np, m.pl, m.nc, m.cl), GP_OK);
    cr_expect_neq(slot_of(&t, q), TAPE_NONE, "b*x was fused though the tanh uses it too");
    cr_expect_eq(t.ins[t.root[0]].op, TP_ADD);
    cr_expect_eq(t.ins[t.root[1]].op, TP_FN);
    tape_free(&t);
    /* (c) two per-sample factors: not a term of a layer */
    gp_id x2 = mini_input(&m, "x2");
    gp_id xx[3] = {w, x, x2};
    gp_id h3 = gp_add2(c, gp_mul(c, 3, xx), b);
    compile1(&t, c, h3, m.np, m.pl, m.nc, m.cl);
    cr_expect_eq(count_op(&t, TP_LIN), 0);
    cr_expect_eq(count_op(&t, TP_MUL), 1);
    tape_free(&t);
    gp_ctx_free(c);
}

/*
 * A per-sample product as the root: w*x.  Its use count is 1 (the root), so
 * the compiler asks fusable() about it, which reads parent[] of the root, a
 * slot tape_compile never writes (malloc'ed; only nodes with a user get a
 * parent).  Under ASan (malloc filled with 0xbe) that read goes out of
 * bounds and crashes; in a normal build the stale heap decides.  Here the
 * stale heap is made deterministic: chunks of the size of parent[] that
 * hold the id of an unrelated per-sample sum are freed just before the
 * call, so (glibc's tcache being LIFO) parent[] reuses one of them, the
 * root is fused into a sum that is not its parent, gets no slot, and the
 * compile fails with GP_EINTERNAL.  Expected: GP_OK, the root a TP_MUL.
 */
Test(tape, a_product_as_the_root_is_compiled_whatever_the_heap_holds)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), b = mini_param(&m, "b"), x = mini_input(&m, "x");
    gp_id root = gp_mul2(c, w, x);
    gp_id decoy = gp_add2(c, b, x); /* a per-sample sum outside the cone */
    cr_assert_eq(c->node[decoy].op, GP_OP_ADD);
    size_t nn = c->nnode;
    void *chunk[8];
    for (int i = 0; i < 8; i++) {
        gp_id *q = malloc(nn * sizeof *q);
        cr_assert_not_null(q);
        for (size_t j = 0; j < nn; j++)
            q[j] = decoy;
        chunk[i] = q;
    }
    for (int i = 0; i < 8; i++)
        free(chunk[i]);
    tape t;
    gp_status st = tape_compile(&t, c, 1, &root, m.np, m.pl, m.nc, m.cl);
    cr_assert_eq(st, GP_OK, "tape_compile of the root w*x: status %d (parent[] of the root is never written)",
                 (int)st);
    cr_expect_eq(t.ins[t.root[0]].op, TP_MUL);
    cr_expect_eq(t.ins[t.root[0]].node, root);
    double p[2] = {3, 7}, data[2] = {0.5, -2}, g[2];
    engine(&t, 2, p, data, NULL, g, NULL);
    cr_expect_eq(g[0], -1.5);
    cr_expect_eq(g[1], 0);
    tape_free(&t);
    gp_ctx_free(c);
}

/* The loss of a case given as text, compiled over its params and inputs. */
typedef struct loaded {
    gp_ctx *c;
    gp_case *cs;
    tape t;
} loaded;

static loaded load_compile(const char *text)
{
    loaded l;
    l.c = gp_ctx_new();
    cr_assert_not_null(l.c);
    gp_status st = gp_case_load(l.c, "t.case", text, strlen(text), &l.cs);
    if (st != GP_OK)
        for (size_t i = 0; i < gp_diag_count(l.c); i++) {
            char *s = NULL;
            gp_diag_render(l.c, i, &s);
            cr_log_error("%s", s ? s : "?");
            gp_free(s);
        }
    cr_assert_eq(st, GP_OK, "the case does not load");
    compile1(&l.t, l.c, l.cs->loss, l.cs->nparams, l.cs->params, l.cs->ninputs, l.cs->inputs);
    return l;
}

static void loaded_free(loaded *l)
{
    tape_free(&l->t);
    gp_ctx_free(l->c);
}

Test(tape, rational_is_one_for_a_rational_function_and_zero_with_tanh_or_sqrt)
{
    static const char *const head = "input x\ntarget y\nparam w b\n";
    static const struct {
        const char *loss;
        int rational;
    } cases[] = {
        {"loss C = mean((w*x + b - y)^2)/2 + w^4*b\n", 1},
        {"loss C = mean((w*x + b - y)^2)/2 + 1/(1 + w^2)\n", 1}, /* negative integer power */
        {"loss C = mean((tanh(w*x + b) - y)^2)\n", 0},
        {"loss C = mean(sqrt((w*x + b - y)^2 + 1))\n", 0},
        {"loss C = mean(relu(w*x + b) - y)\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", head, cases[i].loss);
        loaded l = load_compile(text);
        cr_expect_eq(l.t.rational, cases[i].rational, "%s: rational = %d", cases[i].loss, l.t.rational);
        cr_expect_eq(l.t.rational, !(l.c->node[l.cs->loss].flags & GP_NF_NONRAT), "%s: disagrees with the DAG's flag",
                     cases[i].loss);
        if (!l.t.rational) {
            mpq_t out, pq[2], dq[2];
            mpq_init(out);
            for (int k = 0; k < 2; k++) {
                mpq_init(pq[k]);
                mpq_init(dq[k]);
            }
            int ok = 7;
            cr_expect_eq(tape_q_forward(&out, &l.t, 1, (const mpq_t *)pq, (const mpq_t *)dq, -1, &ok), GP_EINTERNAL,
                         "%s: tape_q_forward on a tape that is not rational", cases[i].loss);
            mpq_clear(out);
            for (int k = 0; k < 2; k++) {
                mpq_clear(pq[k]);
                mpq_clear(dq[k]);
            }
        }
        loaded_free(&l);
    }
}

Test(tape, kinks_are_counted_numbered_and_their_signs_reported)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), x = mini_input(&m, "x");
    gp_id wx = gp_mul2(c, w, x);
    gp_id kink[4] = {gp_call(c, GP_FN_RELU, wx), gp_call(c, GP_FN_ABS, gp_sub(c, w, x)),
                     gp_call(c, GP_FN_STEP, gp_add2(c, w, x)),
                     gp_call(c, GP_FN_SIGN, gp_sub(c, wx, numq(c, 1, 2)))};
    gp_id t6[6] = {kink[0], kink[1], kink[2], kink[3], gp_call(c, GP_FN_TANH, w), gp_call(c, GP_FN_EXP, wx)};
    gp_id f = gp_add(c, 6, t6);
    tape t;
    compile1(&t, c, f, m.np, m.pl, m.nc, m.cl);
    cr_expect_eq(t.nkink, 4, "nkink %zu", t.nkink);
    cr_expect_eq(t.rational, 0);
    unsigned seen = 0;
    for (size_t k = 0; k < t.nins; k++)
        if (t.ins[k].op == TP_FN && (t.ins[k].fn == GP_FN_TANH || t.ins[k].fn == GP_FN_EXP))
            cr_expect_eq(t.ins[k].aux, 0);
    /* signs at w = 1, x = -1, 1/2, 2: w*x = -1, 1/2, 2; w - x = 2, 1/2, -1;
       w + x = 0, 3/2, 3; w*x - 1/2 = -3/2, 0, 3/2 */
    static const signed char want[4][3] = {{-1, 1, 1}, {1, 1, -1}, {0, 1, 1}, {-1, 0, 1}};
    tape_mpfr mw;
    cr_assert_eq(tape_mpfr_init(&mw, &t, 3, 64), GP_OK);
    mpfr_t pv[1], dv[3];
    mpfr_init2(pv[0], 64);
    mpfr_set_d(pv[0], 1, MPFR_RNDN);
    static const double xs[3] = {-1, 0.5, 2};
    for (int s = 0; s < 3; s++) {
        mpfr_init2(dv[s], 64);
        mpfr_set_d(dv[s], xs[s], MPFR_RNDN);
    }
    signed char ks[12];
    memset(ks, 99, sizeof ks);
    eval_fault fl;
    tape_mpfr_forward(&mw, (const mpfr_t *)pv, (const mpfr_t *)dv, ks, &fl);
    cr_expect_eq(fl.node, GP_NIL);
    for (int i = 0; i < 4; i++) {
        uint32_t k = slot_of(&t, kink[i]);
        cr_assert_neq(k, TAPE_NONE);
        cr_assert_lt(t.ins[k].aux, 4);
        seen |= 1u << t.ins[k].aux;
        for (int s = 0; s < 3; s++)
            cr_expect_eq(ks[t.ins[k].aux * 3 + s], want[i][s], "kink %d (%s) at sample %d: sign %d, want %d", i,
                         dag_fn_name((gp_fn)t.ins[k].fn), s, ks[t.ins[k].aux * 3 + s], want[i][s]);
    }
    cr_expect_eq(seen, 15u, "the kinks are not numbered 0..3");
    /* the double engine: the arguments are exact, but the bound charges
       every product a rounding: w*x - 1/2 = 0 at sample 1 carries the bound
       U/2 of w*x, so that kink is doubted; w + x = 0 at sample 0 carries
       none (a sum of exact operands is bounded by U|sum| = 0) */
    tape_dbl dw;
    cr_assert_eq(tape_dbl_init(&dw, &t, 3, 1), GP_OK);
    double p1 = 1;
    tape_dbl_forward(&dw, &p1, xs);
    cr_expect_eq(dw.doubt, 1, "doubt %zu, want 1 (sign at sample 1)", dw.doubt);
    tape_dbl_free(&dw);
    tape_mpfr_free(&mw);
    mpfr_clear(pv[0]);
    for (int s = 0; s < 3; s++)
        mpfr_clear(dv[s]);
    tape_free(&t);
    gp_ctx_free(c);
}

/* A kink argument that is 0 in double but not exactly: sign(x - 3/10) at
   x = 0.3 (the double 0.29999999999999998890), 3/10 rounded to the same
   double.  The bounded forward must doubt it. */
Test(tape, a_kink_within_the_error_bound_is_doubted)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), x = mini_input(&m, "x");
    gp_id f = gp_mul2(c, w, gp_call(c, GP_FN_SIGN, gp_sub(c, x, numq(c, 3, 10))));
    tape t;
    compile1(&t, c, f, m.np, m.pl, m.nc, m.cl);
    tape_dbl dw;
    cr_assert_eq(tape_dbl_init(&dw, &t, 2, 1), GP_OK);
    double p = 2, xs[2] = {0.3, 0.5};
    tape_dbl_forward(&dw, &p, xs);
    cr_expect_eq(dw.doubt, 1, "doubt %zu: sample 0 is within the bound of the kink, sample 1 is not", dw.doubt);
    xs[0] = 0.25;
    tape_dbl_forward(&dw, &p, xs);
    cr_expect_eq(dw.doubt, 0, "doubt %zu after moving away", dw.doubt);
    tape_dbl_free(&dw);
    tape_free(&t);
    gp_ctx_free(c);
}

Test(tape, an_unused_param_has_no_slot_and_a_zero_gradient)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), u = mini_param(&m, "u"), b = mini_param(&m, "b"), x = mini_input(&m, "x");
    (void)u;
    gp_id f = gp_add2(c, gp_mul2(c, w, gp_call(c, GP_FN_TANH, x)), b);
    tape t;
    compile1(&t, c, f, m.np, m.pl, m.nc, m.cl);
    cr_expect_eq(t.pslot[1], TAPE_NONE, "the unused param u has slot %u", t.pslot[1]);
    cr_expect_neq(t.pslot[0], TAPE_NONE);
    cr_expect_neq(t.pslot[2], TAPE_NONE);
    double p[3] = {0.5, 123, -1}, data[2] = {0.25, -1}, g[3] = {NAN, NAN, NAN}, bd[3] = {NAN, NAN, NAN};
    engine(&t, 2, p, data, NULL, g, bd);
    cr_expect_eq(g[1], 0, "d/du = %g", g[1]);
    cr_expect_eq(bd[1], 0, "bound of d/du = %g", bd[1]);
    cr_expect_eq(g[2], 2, "d/db summed over 2 samples = %g", g[2]);
    cr_expect(fabs(g[0] - (tanh(0.25) + tanh(-1))) <= bd[0] * SLACK + 1e-300, "d/dw = %.17g", g[0]);
    tape_free(&t);
    /* a root that depends on no param: every gradient 0 */
    gp_id f0 = gp_call(c, GP_FN_EXP, x);
    compile1(&t, c, f0, m.np, m.pl, m.nc, m.cl);
    for (int k = 0; k < 3; k++)
        cr_expect_eq(t.pslot[k], TAPE_NONE);
    g[0] = g[1] = g[2] = NAN;
    engine(&t, 2, p, data, NULL, g, bd);
    for (int k = 0; k < 3; k++)
        cr_expect(g[k] == 0 && bd[k] == 0, "param %d: %g (bound %g)", k, g[k], bd[k]);
    tape_free(&t);
    gp_ctx_free(c);
}

/* ---- 2. the MPFR and exact forward sweeps ---- */

/* MPFR copies of the world's params and data (column-major, as the tape
   wants them) at `prec` bits: exact. */
static void world_mpfr(const world *w, mpfr_prec_t prec, mpfr_t *pv, mpfr_t *dv)
{
    for (int i = 0; i < NPARAM; i++) {
        mpfr_init2(pv[i], prec);
        mpfr_set_d(pv[i], w->p[i], MPFR_RNDN);
    }
    for (size_t i = 0; i < NX * w->nrows; i++) {
        mpfr_init2(dv[i], prec);
        mpfr_set_d(dv[i], w->dd[i], MPFR_RNDN);
    }
}

static void world_mpfr_clear(const world *w, mpfr_t *pv, mpfr_t *dv)
{
    for (int i = 0; i < NPARAM; i++)
        mpfr_clear(pv[i]);
    for (size_t i = 0; i < NX * w->nrows; i++)
        mpfr_clear(dv[i]);
}

/* |a - b| / max(|b|, M) in units of 2^-prec (0 when equal; M = 0: relative) */
static double rel_units(mpfr_srcptr a, mpfr_srcptr b, mpfr_prec_t prec, double M)
{
    if (mpfr_equal_p(a, b))
        return 0;
    mpfr_t d, sc;
    mpfr_init2(d, prec + 64);
    mpfr_init2(sc, prec + 64);
    mpfr_sub(d, a, b, MPFR_RNDN);
    mpfr_abs(sc, b, MPFR_RNDN);
    if (mpfr_cmp_d(sc, M) < 0)
        mpfr_set_d(sc, M, MPFR_RNDN);
    if (!mpfr_zero_p(sc))
        mpfr_div(d, d, sc, MPFR_RNDN);
    mpfr_mul_2si(d, d, prec, MPFR_RNDN);
    double r = fabs(mpfr_get_d(d, MPFR_RNDN));
    mpfr_clear(d);
    mpfr_clear(sc);
    return r;
}

/* the largest |value| of any slot of an MPFR workspace (NaN skipped) */
static double tape_mpfr_maxabs(const tape_mpfr *w)
{
    double m = 0;
    for (size_t i = 0; i < w->nv; i++) {
        double a = fabs(mpfr_get_d(w->v[i], MPFR_RNDN));
        if (a > m)
            m = a;
    }
    return m;
}

/*
 * Random DAGs compiled with two roots, f and df/dw0 (a second, larger cone
 * sharing f's nodes), run by tape_mpfr_forward at 256 bits over every row,
 * against eval_mpfr of the same roots at 256 bits.  Both round every
 * operation to 256 bits (the tape's sums and products through 320-bit work
 * variables), in different orders, so they agree to a few ulps per
 * operation of the largest value M of the computation: a true zero computed
 * as a difference (the derivative of one DAG holds 16y/(33w0) - 16y/(33w0),
 * two different nodes) is +-1e-77 on both sides.  The tolerance is
 * 2^-240 max(|v|, M), M the largest |value| of the tape's slots; points with
 * M > 1e8 are skipped (exp of an argument of 1e7 turns its 2^-256 absolute
 * error into 2^-233 relative).  Faults must agree.  Measured over 4000 DAGs
 * (-DNFWD=4000): worst 5.3e3 x 2^-256 max(|v|, M).
 */
Test(tape, mpfr_forward_matches_eval_mpfr_at_256_bits, .timeout = 120)
{
    unsigned long compared = 0, faulted = 0, mismatched_faults = 0, large = 0;
    double worst = 0;
    unsigned worst_dag = 0;
    for (unsigned idag = 0; idag < NFWD; idag++) {
        rng r = {(uint64_t)SEED + 3000000u + idag};
        int dataset = idag % 3 == 2;
        world w;
        world_init(&w, &r, draw_rows(&r, dataset));
        gp_id roots[2];
        roots[0] = gen_dag(&w, &r, idag, dataset, 0, 0, (gp_fn)(idag % GP_FN_COUNT));
        gp_id d[NPARAM];
        cr_assert_eq(derive_grad(w.c, roots[0], NPARAM, w.pnode, d), GP_OK);
        roots[1] = d[0];
        tape t;
        cr_assert_eq(tape_compile(&t, w.c, 2, roots, NPARAM, w.pl, NX, w.col), GP_OK);
        cr_expect_eq(t.rational,
                     !(w.c->node[roots[0]].flags & GP_NF_NONRAT) && !(w.c->node[roots[1]].flags & GP_NF_NONRAT),
                     "DAG %u: t.rational = %d disagrees with the DAG's flags", idag, t.rational);
        tape_mpfr mw;
        cr_assert_eq(tape_mpfr_init(&mw, &t, w.nrows, PREC), GP_OK);
        mpfr_t out[2], pv[NPARAM], dv[NX * MAXROWS];
        mpfr_init2(out[0], PREC);
        mpfr_init2(out[1], PREC);
        for (int pt = 0; pt < 3; pt++) {
            world_point(&w, &r);
            world_mpfr(&w, PREC, pv, dv);
            eval_fault tf;
            tape_mpfr_forward(&mw, (const mpfr_t *)pv, (const mpfr_t *)dv, NULL, &tf);
            eval_env env;
            world_env(&w, &env);
            int efault = 0;
            double M = tape_mpfr_maxabs(&mw);
            if (tf.node == GP_NIL && !(M <= CAP)) {
                large++;
                world_mpfr_clear(&w, pv, dv);
                continue;
            }
            for (size_t s = 0; s < (dataset ? 1 : w.nrows); s++) {
                eval_fault ef;
                cr_assert_eq(eval_mpfr(out, w.c, &env, dataset ? -1 : (long)s, 2, roots, PREC, &ef), GP_OK);
                if (ef.node != GP_NIL) {
                    efault = 1;
                    break;
                }
                for (size_t k = 0; k < 2; k++) {
                    double u = rel_units(tape_mpfr_value(&mw, k, s), out[k], PREC, M);
                    compared++;
                    if (u > worst) {
                        worst = u;
                        worst_dag = idag;
                    }
                }
            }
            faulted += (unsigned long)efault;
            if (efault != (tf.node != GP_NIL)) {
                mismatched_faults++;
                fprintf(stderr, "tape: DAG %u (seed %#x + 3000000 + %u): eval_mpfr %s, the tape %s (%s)\n", idag, SEED,
                        idag, efault ? "faults" : "does not fault", tf.node != GP_NIL ? "faults" : "does not",
                        tf.what ? tf.what : "-");
            }
            world_mpfr_clear(&w, pv, dv);
        }
        mpfr_clear(out[0]);
        mpfr_clear(out[1]);
        tape_mpfr_free(&mw);
        tape_free(&t);
        world_free(&w);
    }
    cr_log_info("tape: MPFR forward vs eval_mpfr: %lu values compared, %lu points faulted (both), %lu skipped (M > 1e8), "
                "worst |tape - eval| = %.3g x 2^-256 max(|v|, M) (DAG %u)",
                compared, faulted, large, worst, worst_dag);
    cr_expect_eq(mismatched_faults, 0);
    cr_expect_gt(compared, NFWD * 3);
    cr_expect_leq(worst, 0x1p16, "tape and eval_mpfr differ by %g x 2^-256 max(|v|, M)", worst);
}

/* (w*x + b - y)^2 / (w^2 + 1) per sample, and its mean plus w^3*b, at
   w = 1/3, b = -2 over three rows (x, y) = (5/7, 1/2), (2, -1), (-3/4, 0):
   1805/392, 1/10, 729/160 and 127553/42336 (worked out by hand, checked
   with Python's fractions). */
Test(tape, exact_forward_gives_hand_computed_rationals)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), b = mini_param(&m, "b"), x = mini_input(&m, "x");
    long yl = mkleaf(c, GP_LEAF_TARGET, "y", GP_NIL);
    m.cl[m.nc++] = (uint32_t)yl;
    gp_id y = node_of(c, yl);
    gp_id r3[3] = {gp_mul2(c, w, x), b, gp_neg(c, y)};
    gp_id f = gp_div(c, gp_pow_si(c, gp_add(c, 3, r3), 2, 1), gp_add2(c, gp_pow_si(c, w, 2, 1), numq(c, 1, 1)));
    gp_id F = gp_add2(c, gp_reduce(c, GP_OP_MEAN, f), gp_mul2(c, gp_pow_si(c, w, 3, 1), b));
    gp_id roots[2] = {f, F};
    tape t;
    cr_assert_eq(tape_compile(&t, c, 2, roots, m.np, m.pl, m.nc, m.cl), GP_OK);
    cr_assert_eq(t.rational, 1);
    mpq_t pq[2], dq[6], out[2], want;
    static const long dn[6][2] = {{5, 7}, {2, 1}, {-3, 4}, {1, 2}, {-1, 1}, {0, 1}}; /* x column, y column */
    for (int i = 0; i < 2; i++) {
        mpq_init(pq[i]);
        mpq_init(out[i]);
    }
    mpq_set_si(pq[0], 1, 3);
    mpq_set_si(pq[1], -2, 1);
    for (int i = 0; i < 6; i++) {
        mpq_init(dq[i]);
        mpq_set_si(dq[i], dn[i][0], (unsigned long)dn[i][1]);
        mpq_canonicalize(dq[i]);
    }
    mpq_init(want);
    static const long fw[3][2] = {{1805, 392}, {1, 10}, {729, 160}};
    for (long s = 0; s < 3; s++) {
        int ok = 7;
        cr_assert_eq(tape_q_forward(out, &t, 3, (const mpq_t *)pq, (const mpq_t *)dq, s, &ok), GP_OK);
        cr_assert_eq(ok, 1);
        mpq_set_si(want, fw[s][0], (unsigned long)fw[s][1]);
        cr_expect(mpq_equal(out[0], want), "f at sample %ld", s);
        mpq_set_si(want, 127553, 42336);
        cr_expect(mpq_equal(out[1], want), "F = mean(f) + w^3 b");
    }
    /* the MPFR sweep rounds the same values */
    tape_mpfr mw;
    cr_assert_eq(tape_mpfr_init(&mw, &t, 3, 200), GP_OK);
    mpfr_t pv[2], dv[6], wr;
    for (int i = 0; i < 2; i++) {
        mpfr_init2(pv[i], 200);
        mpfr_set_q(pv[i], pq[i], MPFR_RNDN); /* 1/3 rounded: compare with a tolerance */
    }
    for (int i = 0; i < 6; i++) {
        mpfr_init2(dv[i], 200);
        mpfr_set_q(dv[i], dq[i], MPFR_RNDN);
    }
    mpfr_init2(wr, 200);
    eval_fault fl;
    tape_mpfr_forward(&mw, (const mpfr_t *)pv, (const mpfr_t *)dv, NULL, &fl);
    cr_expect_eq(fl.node, GP_NIL);
    mpfr_set_q(wr, want, MPFR_RNDN);
    cr_expect_leq(rel_units(tape_mpfr_value(&mw, 1, 0), wr, 200, 0), 64.0);
    mpfr_set_si_2exp(wr, 1, 0, MPFR_RNDN);
    mpfr_div_ui(wr, wr, 10, MPFR_RNDN);
    cr_expect_leq(rel_units(tape_mpfr_value(&mw, 0, 1), wr, 200, 0), 64.0);
    tape_mpfr_free(&mw);
    for (int i = 0; i < 2; i++) {
        mpq_clear(pq[i]);
        mpq_clear(out[i]);
        mpfr_clear(pv[i]);
    }
    for (int i = 0; i < 6; i++) {
        mpq_clear(dq[i]);
        mpfr_clear(dv[i]);
    }
    mpq_clear(want);
    mpfr_clear(wr);
    tape_free(&t);
    gp_ctx_free(c);
}

/* A bound on the degree of the cone of f (as a rational function of the
   leaves), for keeping the exact sweep's numbers small. */
static double cone_degree(const gp_ctx *c, gp_id f)
{
    double *deg = calloc(c->nnode, sizeof *deg);
    unsigned char *mark = calloc(c->nnode, 1);
    cr_assert(deg && mark);
    dag_reach(c, 1, &f, mark);
    for (size_t id = 0; id < c->nnode; id++) {
        if (!mark[id])
            continue;
        const gp_node *n = &c->node[id];
        switch ((gp_op)n->op) {
        case GP_OP_NUM: deg[id] = 0; break;
        case GP_OP_LEAF: deg[id] = 1; break;
        case GP_OP_ADD:
        case GP_OP_MUL:
            for (uint32_t j = 0; j < n->nkid; j++)
                deg[id] = n->op == GP_OP_MUL ? deg[id] + deg[n->kid[j]]
                                             : (deg[n->kid[j]] > deg[id] ? deg[n->kid[j]] : deg[id]) + 1;
            break;
        case GP_OP_POW: deg[id] = deg[n->kid[0]] * fabs(mpq_get_d(dag_q(c, n->kid[1]))); break;
        default: deg[id] = deg[n->kid[0]] + MAXROWS; break;
        }
    }
    double d = deg[f];
    free(deg);
    free(mark);
    return d;
}

/*
 * Rational random DAGs (the generator with functions replaced by integer
 * powers): tape_q_forward is exact, tape_mpfr at 1000 bits must round it.
 * Params are dyadic n/1024 and data the world's doubles, so the numbers stay
 * small; DAGs whose degree bound exceeds 4000 are skipped.  Tolerance
 * 2^-960 max(|v|, M), M the largest |value| of the 1000-bit sweep (no
 * function can amplify an error here, only cancellation).  Measured over
 * 4000 DAGs (-DNFWD=4000): worst 3.4e3 x 2^-1000 max(|v|, M).
 */
Test(tape, exact_forward_matches_mpfr_at_1000_bits_on_rational_dags, .timeout = 120)
{
    unsigned long compared = 0, undefined = 0, skipped = 0, disagree_defined = 0;
    double worst = 0;
    for (unsigned idag = 0; idag < NFWD; idag++) {
        rng r = {(uint64_t)SEED + 4000000u + idag};
        int dataset = idag % 3 == 2;
        world w;
        world_init(&w, &r, draw_rows(&r, dataset));
        gp_id f = gen_dag(&w, &r, idag, dataset, 1, 0, (gp_fn)(idag % GP_FN_COUNT));
        cr_assert(!(w.c->node[f].flags & GP_NF_NONRAT), "DAG %u: the rational generator made a function", idag);
        if (cone_degree(w.c, f) > 4000) {
            skipped++;
            world_free(&w);
            continue;
        }
        tape t;
        compile1(&t, w.c, f, NPARAM, w.pl, NX, w.col);
        cr_expect_eq(t.rational, 1, "DAG %u: a rational DAG's tape is not rational", idag);
        for (int i = 0; i < NPARAM; i++)
            w.p[i] = ldexp((double)((long)below(&r, 3073) - 1536), -10);
        mpq_t pq[NPARAM], dq[NX * MAXROWS], out;
        for (int i = 0; i < NPARAM; i++) {
            mpq_init(pq[i]);
            mpq_set_d(pq[i], w.p[i]);
        }
        for (size_t i = 0; i < NX * w.nrows; i++) {
            mpq_init(dq[i]);
            mpq_set_d(dq[i], w.dd[i]);
        }
        mpq_init(out);
        tape_mpfr mw;
        cr_assert_eq(tape_mpfr_init(&mw, &t, w.nrows, 1000), GP_OK);
        mpfr_t pv[NPARAM], dv[NX * MAXROWS], qr;
        world_mpfr(&w, 1000, pv, dv);
        mpfr_init2(qr, 1000);
        eval_fault fl;
        tape_mpfr_forward(&mw, (const mpfr_t *)pv, (const mpfr_t *)dv, NULL, &fl);
        double M = tape_mpfr_maxabs(&mw);
        for (size_t s = 0; s < (dataset ? 1 : w.nrows); s++) {
            int ok = 7;
            cr_assert_eq(tape_q_forward(&out, &t, w.nrows, (const mpq_t *)pq, (const mpq_t *)dq, dataset ? -1 : (long)s,
                                        &ok),
                         GP_OK);
            cr_assert_neq(ok, -1, "DAG %u: an exponent beyond TAPE_Q_POW_MAX", idag);
            if (ok == 0) { /* a division by zero: MPFR must have seen it too */
                undefined++;
                cr_expect_neq(fl.node, GP_NIL, "DAG %u: exact sweep undefined, MPFR sweep without fault", idag);
                break;
            }
            if (fl.node != GP_NIL) {
                disagree_defined++;
                fprintf(stderr, "tape: rational DAG %u: MPFR faults (%s), the exact sweep is defined\n", idag, fl.what);
                break;
            }
            mpfr_set_q(qr, out, MPFR_RNDN);
            double u = rel_units(tape_mpfr_value(&mw, 0, s), qr, 1000, M);
            compared++;
            if (u > worst)
                worst = u;
        }
        mpfr_clear(qr);
        world_mpfr_clear(&w, pv, dv);
        tape_mpfr_free(&mw);
        for (int i = 0; i < NPARAM; i++)
            mpq_clear(pq[i]);
        for (size_t i = 0; i < NX * w.nrows; i++)
            mpq_clear(dq[i]);
        mpq_clear(out);
        tape_free(&t);
        world_free(&w);
    }
    cr_log_info("tape: exact vs MPFR 1000 bits: %lu values compared, %lu undefined, %lu DAGs skipped (degree), worst "
                "%.3g x 2^-1000 max(|v|, M)",
                compared, undefined, skipped, worst);
    cr_expect_eq(disagree_defined, 0);
    cr_expect_gt(compared, NFWD);
    cr_expect_leq(worst, 0x1p40, "exact and 1000-bit values differ by %g x 2^-1000 max(|v|, M)", worst);
}

Test(tape, exact_forward_reports_division_by_zero_huge_powers_and_no_samples)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), x = mini_input(&m, "x");
    gp_id inv = gp_div(c, numq(c, 1, 1), gp_sub(c, w, x)); /* 1/(w - x) */
    gp_id huge = gp_add2(c, gp_pow_si(c, w, 5000, 1), x);
    gp_id avg = gp_reduce(c, GP_OP_MEAN, gp_mul2(c, w, x));
    mpq_t pq[1], dq[2], out[1];
    mpq_init(pq[0]);
    mpq_init(out[0]);
    mpq_init(dq[0]);
    mpq_init(dq[1]);
    mpq_set_si(pq[0], 1, 1);
    mpq_set_si(dq[0], 3, 1);
    mpq_set_si(dq[1], 1, 1);
    tape t;
    int ok;
    /* 1/(w - x) at w = 1, x = (3, 1): sample 1 divides by zero, and "every
       value" must be defined, so sample 0 is undefined too */
    compile1(&t, c, inv, m.np, m.pl, m.nc, m.cl);
    cr_assert_eq(t.rational, 1);
    for (long s = 0; s < 2; s++) {
        ok = 7;
        cr_assert_eq(tape_q_forward(out, &t, 2, (const mpq_t *)pq, (const mpq_t *)dq, s, &ok), GP_OK);
        cr_expect_eq(ok, 0, "1/(w - x) with w = x at sample 1: ok = %d", ok);
    }
    ok = 7;
    cr_assert_eq(tape_q_forward(out, &t, 1, (const mpq_t *)pq, (const mpq_t *)dq, 0, &ok), GP_OK);
    cr_expect_eq(ok, 1, "sample 0 alone is defined");
    mpq_t want;
    mpq_init(want);
    mpq_set_si(want, -1, 2);
    cr_expect(mpq_equal(out[0], want), "1/(1 - 3) = -1/2");
    /* the MPFR sweep: the same division by zero, at sample 1 */
    tape_mpfr mw;
    cr_assert_eq(tape_mpfr_init(&mw, &t, 2, 64), GP_OK);
    mpfr_t pv[1], dv[2];
    mpfr_init2(pv[0], 64);
    mpfr_set_si(pv[0], 1, MPFR_RNDN);
    for (int i = 0; i < 2; i++) {
        mpfr_init2(dv[i], 64);
        mpfr_set_q(dv[i], dq[i], MPFR_RNDN);
    }
    mpfr_clear_flags();
    mpfr_set_inexflag();
    eval_fault fl;
    tape_mpfr_forward(&mw, (const mpfr_t *)pv, (const mpfr_t *)dv, NULL, &fl);
    cr_expect_eq(fl.node, inv, "fault at node %u, want the power %u", fl.node, inv);
    cr_expect_eq(fl.sample, 1);
    cr_expect(fl.what && strcmp(fl.what, "division by zero") == 0, "fault '%s'", fl.what ? fl.what : "(none)");
    cr_expect(mpfr_inexflag_p() && !mpfr_divby0_p() && !mpfr_nanflag_p(), "MPFR's flags are not restored");
    tape_mpfr_free(&mw);
    tape_free(&t);
    /* w^5000 + x: beyond TAPE_Q_POW_MAX */
    compile1(&t, c, huge, m.np, m.pl, m.nc, m.cl);
    cr_assert_eq(t.rational, 1);
    ok = 7;
    cr_assert_eq(tape_q_forward(out, &t, 2, (const mpq_t *)pq, (const mpq_t *)dq, 0, &ok), GP_OK);
    cr_expect_eq(ok, -1, "an exponent of 5000: ok = %d", ok);
    tape_free(&t);
    /* a mean over no samples */
    compile1(&t, c, avg, m.np, m.pl, m.nc, m.cl);
    ok = 7;
    cr_assert_eq(tape_q_forward(out, &t, 0, (const mpq_t *)pq, (const mpq_t *)dq, -1, &ok), GP_OK);
    cr_expect_eq(ok, 0, "a mean over 0 samples: ok = %d", ok);
    ok = 7;
    cr_assert_eq(tape_q_forward(out, &t, 2, (const mpq_t *)pq, (const mpq_t *)dq, -1, &ok), GP_OK);
    mpq_set_si(want, 2, 1);
    cr_expect(ok == 1 && mpq_equal(out[0], want), "mean(w*x) = 2");
    tape_free(&t);
    mpq_clear(want);
    mpq_clear(pq[0]);
    mpq_clear(out[0]);
    mpq_clear(dq[0]);
    mpq_clear(dq[1]);
    mpfr_clear(pv[0]);
    mpfr_clear(dv[0]);
    mpfr_clear(dv[1]);
    gp_ctx_free(c);
}

/*
 * 0 * inf in the reverse sweep.  sqrt at exactly 0 has an infinite local
 * partial; when a step (or sign) on the same path has the partial 0, the
 * function is locally constant along that path and the symbolic derivative
 * (derive.c drops the path, step' = 0) is finite; eval_mpfr of it has no
 * fault, so check would accept the point.  Found by the property test at
 * 15000 DAGs (DAGs 6659, 10173, 13827, 13880: sqrt(step(w1)),
 * step(... + sqrt(... relu(x0)^2 ...)) with every x0 < 0).
 *   f1 = w*sqrt(step(w)) at w = -1: f1 = 0 near w, df1/dw = sqrt(step(w)) = 0
 *        (the infinite partial first, then the zero one);
 *   f2 = w + step(1 + sqrt(w*x)) at w = 2, x = 0: df2/dw = 1 (the zero
 *        partial first, then the infinite one).
 */
Test(tape, a_zero_partial_is_not_spoiled_by_an_infinite_one)
{
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w = mini_param(&m, "w"), x = mini_input(&m, "x");
    gp_id f1 = gp_mul2(c, w, gp_pow_si(c, gp_call(c, GP_FN_STEP, w), 1, 2));
    gp_id f2 = gp_add2(c, w, gp_call(c, GP_FN_STEP, gp_add2(c, numq(c, 1, 1), gp_pow_si(c, gp_mul2(c, w, x), 1, 2))));
    static const struct {
        double w, want;
    } pt[2] = {{-1, 0}, {2, 1}};
    gp_id fs[2] = {f1, f2};
    for (int i = 0; i < 2; i++) {
        gp_id d;
        cr_assert_eq(derive_grad(c, fs[i], 1, &w, &d), GP_OK);
        /* the reference: defined, no fault */
        mpfr_t *lv = malloc(c->nleaf * sizeof *lv), out;
        for (size_t k = 0; k < c->nleaf; k++)
            mpfr_init2(lv[k], PREC);
        mpfr_set_d(lv[m.pl[0]], pt[i].w, MPFR_RNDN);
        mpq_t x0;
        mpq_init(x0);
        eval_env env;
        memset(&env, 0, sizeof env);
        env.leafval = (const mpfr_t *)lv;
        env.nsamples = 1;
        env.ncols = 1;
        env.col_leaf = m.cl;
        env.qcols = (const mpq_t *)&x0;
        mpfr_init2(out, PREC);
        eval_fault fl;
        cr_assert_eq(eval_mpfr(&out, c, &env, 0, 1, &d, PREC, &fl), GP_OK);
        cr_assert_eq(fl.node, GP_NIL, "the reference faults");
        cr_assert(mpfr_cmp_d(out, pt[i].want) == 0, "the reference is not %g", pt[i].want);
        /* the engine */
        tape t;
        compile1(&t, c, fs[i], m.np, m.pl, m.nc, m.cl);
        double data = 0, g = -7, b = -7;
        tape_dbl dw;
        cr_assert_eq(tape_dbl_init(&dw, &t, 1, 1), GP_OK);
        tape_dbl_forward(&dw, &pt[i].w, &data);
        cr_expect_eq(dw.doubt, 0);
        tape_dbl_reverse(&dw, 0, &g, &b);
        cr_expect(fabs(g - pt[i].want) <= SLACK * b, "f%d at w = %g: engine %g (bound %g), derivative %g", i + 1,
                  pt[i].w, g, b, pt[i].want);
        tape_dbl_free(&dw);
        tape_free(&t);
        for (size_t k = 0; k < c->nleaf; k++)
            mpfr_clear(lv[k]);
        free(lv);
        mpfr_clear(out);
        mpq_clear(x0);
    }
    gp_ctx_free(c);
}

/* ---- the engine against the symbolic derivative, for hand-built losses ---- */

#define VMAX 8

typedef struct versus {
    double g[VMAX], b[VMAX];  /* the engine's gradient and bound */
    double sym[VMAX];         /* the reference, rounded */
    double err[VMAX];         /* |g - reference| (reference at 256 bits) */
    double v, ev, ferr;       /* value (sample 0 of a per-sample f), bound, |v - f| */
    size_t doubt;
} versus;

/*
 * f over params pl[0..np) and data columns cl[0..nc), ns samples (data
 * column-major, data[j * ns + s]): the bounded engine against derive_grad
 * evaluated with eval_mpfr at 256 bits, on the same doubles.  A per-sample
 * f's reference is summed over the samples (in 320-bit MPFR), as the
 * reverse sweep sums.
 */
static void engine_vs_symbolic(gp_ctx *c, gp_id f, size_t np, const uint32_t *pl, size_t nc, const uint32_t *cl,
                               size_t ns, const double *p, const double *data, versus *o)
{
    cr_assert_leq(np, VMAX);
    gp_id pn[VMAX], roots[VMAX + 1];
    for (size_t i = 0; i < np; i++)
        pn[i] = c->leaf[pl[i]].node;
    roots[0] = f;
    cr_assert_eq(derive_grad(c, f, np, pn, roots + 1), GP_OK);
    tape t;
    compile1(&t, c, f, np, pl, nc, cl);
    tape_dbl w;
    cr_assert_eq(tape_dbl_init(&w, &t, ns, 1), GP_OK);
    tape_dbl_forward(&w, p, data);
    o->doubt = w.doubt;
    o->v = tape_dbl_value(&w, 0, 0);
    o->ev = tape_dbl_value_err(&w, 0, 0);
    tape_dbl_reverse(&w, 0, o->g, o->b);
    tape_dbl_free(&w);
    tape_free(&t);
    /* the reference */
    mpfr_t *lv = malloc(c->nleaf * sizeof *lv), *cols = malloc((ns * nc != 0 ? ns * nc : 1) * sizeof *cols);
    mpfr_t out[VMAX + 1], acc[VMAX + 1];
    cr_assert(lv && cols);
    for (size_t k = 0; k < c->nleaf; k++) {
        mpfr_init2(lv[k], PREC);
        mpfr_set_zero(lv[k], 1);
    }
    for (size_t i = 0; i < np; i++)
        mpfr_set_d(lv[pl[i]], p[i], MPFR_RNDN);
    for (size_t s = 0; s < ns; s++)
        for (size_t j = 0; j < nc; j++) {
            mpfr_init2(cols[s * nc + j], 64);
            mpfr_set_d(cols[s * nc + j], data[j * ns + s], MPFR_RNDN);
        }
    for (size_t i = 0; i <= np; i++) {
        mpfr_init2(out[i], PREC);
        mpfr_init2(acc[i], PREC + 64);
        mpfr_set_zero(acc[i], 1);
    }
    eval_env env;
    memset(&env, 0, sizeof env);
    env.leafval = (const mpfr_t *)lv;
    env.nsamples = ns;
    env.ncols = nc;
    env.col_leaf = cl;
    env.cols = (const mpfr_t *)cols;
    int sample = c->node[f].level == GP_LV_SAMPLE;
    for (size_t s = 0; s < (sample ? ns : 1); s++) {
        eval_fault fl;
        cr_assert_eq(eval_mpfr(out, c, &env, sample ? (long)s : -1, np + 1, roots, PREC, &fl), GP_OK);
        cr_assert_eq(fl.node, GP_NIL, "the reference faults (%s)", fl.what ? fl.what : "?");
        if (s == 0)
            o->ferr = absdiff(o->v, out[0]);
        for (size_t i = 1; i <= np; i++)
            mpfr_add(acc[i], acc[i], out[i], MPFR_RNDN);
    }
    for (size_t i = 0; i < np; i++) {
        mpfr_set(out[1 + i], acc[1 + i], MPFR_RNDN);
        o->sym[i] = mpfr_get_d(out[1 + i], MPFR_RNDN);
        o->err[i] = absdiff(o->g[i], out[1 + i]);
    }
    for (size_t i = 0; i <= np; i++) {
        mpfr_clear(out[i]);
        mpfr_clear(acc[i]);
    }
    for (size_t k = 0; k < c->nleaf; k++)
        mpfr_clear(lv[k]);
    for (size_t i = 0; i < ns * nc; i++)
        mpfr_clear(cols[i]);
    free(lv);
    free(cols);
}

/* every gradient entry and the value within the bound */
static void expect_within(const versus *o, size_t np, const char *what)
{
    cr_expect_eq(o->doubt, 0, "%s: doubt %zu", what, o->doubt);
    cr_expect(o->ferr <= SLACK * o->ev + REFREL * fabs(o->v), "%s: value %.17g off by %.3g, bound %.3g", what, o->v,
              o->ferr, o->ev);
    for (size_t i = 0; i < np; i++)
        cr_expect(o->err[i] <= SLACK * o->b[i] + REFREL * fabs(o->sym[i]),
                  "%s: d/dp%zu = %.17g, reference %.17g: off by %.3g, bound %.3g", what, i, o->g[i], o->sym[i],
                  o->err[i], o->b[i]);
}

/* ---- 5. ill-conditioned points: the bound covers large errors ---- */

Test(tape, cancellation_is_covered_by_the_bound)
{
    /* (a) C = (w1*x + w2*x - w3)^2 at w1 = 1e8, w2 = -1e8 + 1e-8 (rounded:
       -99999999.999999985), w3 = 3e-9, x = 0.7: the residual
       (w1 + w2) x - w3 ~ 7e-9 is the difference of two terms of 7e7, each
       rounded by up to 7e-9 */
    mini m = mini_new();
    gp_ctx *c = m.c;
    gp_id w1 = mini_param(&m, "w1"), w2 = mini_param(&m, "w2"), w3 = mini_param(&m, "w3");
    gp_id x = mini_input(&m, "x");
    gp_id t3[3] = {gp_mul2(c, w1, x), gp_mul2(c, w2, x), gp_neg(c, w3)};
    gp_id C = gp_pow_si(c, gp_add(c, 3, t3), 2, 1);
    double p[3] = {1e8, -1e8 + 1e-8, 3e-9}, xd = 0.7;
    versus o;
    engine_vs_symbolic(c, C, 3, m.pl, 1, m.cl, 1, p, &xd, &o);
    expect_within(&o, 3, "(w1 x + w2 x - w3)^2");
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        double eu = o.err[i] / ulp_of(o.sym[i]), bu = o.b[i] / ulp_of(o.sym[i]);
        cr_log_info("tape: (w1 x + w2 x - w3)^2, d/dw%d = %.17g, reference %.17g: error %.3g ulps, bound %.3g ulps", i + 1,
                    o.g[i], o.sym[i], eu, bu);
        worst = eu > worst ? eu : worst;
    }
    cr_expect_gt(worst, 1e6, "the point is not ill-conditioned after all (%.3g ulps)", worst);
    gp_ctx_free(c);

    /* (b) C = mean((a*x + b - y)^2) over 5 rows with a = 1e6 + 1e-4,
       x ~ 1, y ~ a x + 1e-6: residuals of 1e-6 from terms of 1e6 */
    m = mini_new();
    c = m.c;
    gp_id a = mini_param(&m, "a"), b = mini_param(&m, "b");
    x = mini_input(&m, "x");
    gp_id y = mini_input(&m, "y");
    gp_id r3[3] = {gp_mul2(c, a, x), b, gp_neg(c, y)};
    C = gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, gp_add(c, 3, r3), 2, 1));
    double q[2] = {1e6 + 1e-4, 3e-7}, data[10];
    for (int s = 0; s < 5; s++) {
        data[s] = 1 + s * 0x1p-20 + 1e-9 * s;
        data[5 + s] = q[0] * data[s] + 1e-6 * (s - 2);
    }
    engine_vs_symbolic(c, C, 2, m.pl, 2, m.cl, 5, q, data, &o);
    expect_within(&o, 2, "mean((a x + b - y)^2)");
    worst = 0;
    for (int i = 0; i < 2; i++) {
        double eu = o.err[i] / ulp_of(o.sym[i]), bu = o.b[i] / ulp_of(o.sym[i]);
        cr_log_info("tape: mean((a x + b - y)^2), d/d%s = %.17g, reference %.17g: error %.3g ulps, bound %.3g ulps",
                    i ? "b" : "a", o.g[i], o.sym[i], eu, bu);
        worst = eu > worst ? eu : worst;
    }
    cr_expect_gt(worst, 1e6, "the point is not ill-conditioned after all (%.3g ulps)", worst);
    gp_ctx_free(c);
}

/* ---- 6. batches: any number of samples, the lanes' tails ---- */

/* e = (v*tanh(w0*x0 + w1*x1 + b) + k - y)^2 per sample, and the dataset
   loss L = mean(e)/2 + 1/(1 + sums(sigmoid(w0*x0 - b))^2) */
typedef struct net {
    mini m;
    gp_id e, L, se;
} net;

static net net_new(void)
{
    net n;
    n.m = mini_new();
    gp_ctx *c = n.m.c;
    gp_id w0 = mini_param(&n.m, "w0"), w1 = mini_param(&n.m, "w1"), b = mini_param(&n.m, "b");
    gp_id v = mini_param(&n.m, "v"), k = mini_param(&n.m, "k");
    gp_id x0 = mini_input(&n.m, "x0"), x1 = mini_input(&n.m, "x1"), y = mini_input(&n.m, "y");
    gp_id pre[3] = {gp_mul2(c, w0, x0), gp_mul2(c, w1, x1), b};
    gp_id out[3] = {gp_mul2(c, v, gp_call(c, GP_FN_TANH, gp_add(c, 3, pre))), k, gp_neg(c, y)};
    n.e = gp_pow_si(c, gp_add(c, 3, out), 2, 1);
    gp_id sg = gp_reduce(c, GP_OP_SUMS, gp_call(c, GP_FN_SIGMOID, gp_sub(c, gp_mul2(c, w0, x0), b)));
    n.L = gp_add2(c, gp_mul2(c, numq(c, 1, 2), gp_reduce(c, GP_OP_MEAN, n.e)),
                  gp_div(c, numq(c, 1, 1), gp_add2(c, numq(c, 1, 1), gp_pow_si(c, sg, 2, 1))));
    n.se = gp_reduce(c, GP_OP_SUMS, n.e);
    cr_assert(n.e != GP_NIL && n.L != GP_NIL && n.se != GP_NIL);
    return n;
}

Test(tape, any_batch_size_agrees_with_the_symbolic_derivative, .timeout = 60)
{
    static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 1003};
    net n = net_new();
    double p[5] = {0.75, -1.25, 0.125, 1.5, -0.3};
    rng r = {SEED + 5000000u};
    double *data = malloc(3 * 1003 * sizeof *data);
    cr_assert_not_null(data);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t ns = sizes[i];
        for (size_t j = 0; j < 3 * ns; j++)
            data[j] = rdouble(&r, 2.0);
        char what[64];
        versus o;
        snprintf(what, sizeof what, "L over %zu samples", ns);
        engine_vs_symbolic(n.m.c, n.L, 5, n.m.pl, 3, n.m.cl, ns, p, data, &o);
        expect_within(&o, 5, what);
        if (ns == 1003)
            for (int k = 0; k < 5; k++)
                cr_log_info("tape: 1003 samples, dL/dp%d: error %.3g ulps, bound %.3g ulps", k, o.err[k] / ulp_of(o.sym[k]),
                            o.b[k] / ulp_of(o.sym[k]));
        snprintf(what, sizeof what, "per-sample e summed over %zu samples", ns);
        engine_vs_symbolic(n.m.c, n.e, 5, n.m.pl, 3, n.m.cl, ns, p, data, &o);
        o.ferr = 0; /* the value is compared below */
        for (int k = 0; k < 5; k++)
            cr_expect(o.err[k] <= SLACK * o.b[k] + REFREL * fabs(o.sym[k]), "%s: d/dp%d off by %.3g, bound %.3g", what, k,
                      o.err[k], o.b[k]);
        snprintf(what, sizeof what, "sums(e) over %zu samples", ns);
        engine_vs_symbolic(n.m.c, n.se, 5, n.m.pl, 3, n.m.cl, ns, p, data, &o);
        expect_within(&o, 5, what);
    }
    free(data);
    gp_ctx_free(n.m.c);
}

/* The gradient of a per-sample root over a batch of ns is the sum of the
   gradients over batches of 1, within the sum of their bounds (the sum is
   formed in MPFR, exactly enough). */
Test(tape, a_batch_is_the_sum_of_its_samples)
{
    static const size_t sizes[] = {7, 8, 9, 100, 1003};
    net n = net_new();
    tape t;
    compile1(&t, n.m.c, n.e, n.m.np, n.m.pl, n.m.nc, n.m.cl);
    double p[5] = {-0.5, 0.875, 0.25, -1.125, 0.4};
    rng r = {SEED + 6000000u};
    double *data = malloc(3 * 1003 * sizeof *data);
    cr_assert_not_null(data);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t ns = sizes[i];
        for (size_t j = 0; j < 3 * ns; j++)
            data[j] = rdouble(&r, 2.0);
        double gN[5], bN[5], g1[5], b1[5], bsum[5] = {0};
        engine(&t, ns, p, data, NULL, gN, bN);
        mpfr_t sum[5];
        for (int k = 0; k < 5; k++) {
            mpfr_init2(sum[k], 2200);
            mpfr_set_zero(sum[k], 1);
        }
        for (size_t s = 0; s < ns; s++) {
            double row[3] = {data[s], data[ns + s], data[2 * ns + s]};
            engine(&t, 1, p, row, NULL, g1, b1);
            for (int k = 0; k < 5; k++) {
                mpfr_add_d(sum[k], sum[k], g1[k], MPFR_RNDN); /* exact at 2200 bits */
                bsum[k] += b1[k];
            }
        }
        for (int k = 0; k < 5; k++) {
            double e = absdiff(gN[k], sum[k]);
            cr_expect(e <= SLACK * (bN[k] + bsum[k] * (1 + 0x1p-40)), "ns = %zu, d/dp%d: batch %.17g, sum %.17g, bound %.3g",
                      ns, k, gN[k], mpfr_get_d(sum[k], MPFR_RNDN), bN[k] + bsum[k]);
            mpfr_clear(sum[k]);
        }
    }
    free(data);
    tape_free(&t);
    gp_ctx_free(n.m.c);
}

/* ---- 7. memory and contracts ---- */

/* Criterion counts a test whose process leaks as passed (LeakSanitizer only
   prints at exit), so the ASan build checks for leaks inside the test. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define EXPECT_NO_LEAKS() cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (LeakSanitizer's report above)")
#else
#define EXPECT_NO_LEAKS() ((void)0)
#endif

Test(tape, empty_tapes_and_empty_batches_do_not_crash)
{
    net n = net_new();
    gp_ctx *c = n.m.c;
    double p[5] = {0.5, 0.5, 0.5, 0.5, 0.5}, dummy[3] = {0}, g[5], b[5];
    /* no roots: an empty tape */
    tape t;
    cr_assert_eq(tape_compile(&t, c, 0, NULL, n.m.np, n.m.pl, n.m.nc, n.m.cl), GP_OK);
    cr_expect_eq(t.nins, 0);
    for (int k = 0; k < 5; k++)
        cr_expect_eq(t.pslot[k], TAPE_NONE);
    tape_dbl w;
    for (size_t ns = 0; ns < 3; ns++)
        for (int bounded = 0; bounded < 2; bounded++) {
            cr_assert_eq(tape_dbl_init(&w, &t, ns, bounded), GP_OK);
            tape_dbl_forward(&w, p, dummy);
            tape_dbl_free(&w);
            tape_dbl_free(&w); /* twice: a freed workspace is empty */
        }
    tape_mpfr mw;
    cr_assert_eq(tape_mpfr_init(&mw, &t, 2, 64), GP_OK);
    tape_mpfr_forward(&mw, NULL, NULL, NULL, NULL);
    tape_mpfr_free(&mw);
    tape_mpfr_free(&mw);
    int ok = 7;
    cr_expect_eq(tape_q_forward(NULL, &t, 2, NULL, NULL, -1, &ok), GP_OK);
    cr_expect_eq(ok, 1);
    tape_free(&t);
    tape_free(&t); /* twice */
    tape_free(NULL);
    tape_dbl_free(NULL);
    tape_mpfr_free(NULL);
    /* ns = 0: per-sample and dataset-level roots */
    gp_id roots[2] = {n.e, n.L};
    cr_assert_eq(tape_compile(&t, c, 2, roots, n.m.np, n.m.pl, n.m.nc, n.m.cl), GP_OK);
    for (int bounded = 0; bounded < 2; bounded++) {
        cr_assert_eq(tape_dbl_init(&w, &t, 0, bounded), GP_OK);
        tape_dbl_forward(&w, p, dummy);
        tape_dbl_reverse(&w, 0, g, bounded ? b : NULL);
        for (int k = 0; k < 5; k++)
            cr_expect_eq(g[k], 0, "a per-sample root over no samples: gradient %g", g[k]);
        tape_dbl_reverse(&w, 1, g, bounded ? b : NULL); /* a mean over nothing: NaN, but no crash */
        tape_dbl_free(&w);
    }
    cr_assert_eq(tape_mpfr_init(&mw, &t, 0, 64), GP_OK);
    mpfr_t pv[5];
    for (int k = 0; k < 5; k++)
        mpfr_init_set_d(pv[k], p[k], MPFR_RNDN);
    eval_fault fl;
    tape_mpfr_forward(&mw, (const mpfr_t *)pv, NULL, NULL, &fl);
    cr_expect_neq(fl.node, GP_NIL, "a reduction over no samples");
    cr_expect(fl.what && strcmp(fl.what, "no samples") == 0, "fault '%s'", fl.what ? fl.what : "(none)");
    tape_mpfr_free(&mw);
    for (int k = 0; k < 5; k++)
        mpfr_clear(pv[k]);
    tape_free(&t);
    gp_ctx_free(c);
    EXPECT_NO_LEAKS();
}

/* Contract breaches are GP_EINTERNAL, leave the tape empty (freeable again)
   and leak nothing (the ASan build checks). */
Test(tape, a_leaf_missing_from_the_lists_is_an_internal_error)
{
    net n = net_new();
    gp_ctx *c = n.m.c;
    tape t;
    /* a param of the cone not in the list: v (param 3) left out */
    uint32_t pl4[4] = {n.m.pl[0], n.m.pl[1], n.m.pl[2], n.m.pl[4]};
    cr_expect_eq(tape_compile(&t, c, 1, &n.L, 4, pl4, n.m.nc, n.m.cl), GP_EINTERNAL);
    cr_expect_eq(t.nins, 0);
    cr_expect_null(t.ins);
    tape_free(&t);
    /* a data column missing: y */
    cr_expect_eq(tape_compile(&t, c, 1, &n.e, n.m.np, n.m.pl, 2, n.m.cl), GP_EINTERNAL);
    tape_free(&t);
    /* no lists at all */
    cr_expect_eq(tape_compile(&t, c, 1, &n.e, 0, NULL, 0, NULL), GP_EINTERNAL);
    tape_free(&t);
    /* a root that is GP_NIL or out of range, a leaf index out of range */
    gp_id bad[2] = {n.e, GP_NIL};
    cr_expect_eq(tape_compile(&t, c, 2, bad, n.m.np, n.m.pl, n.m.nc, n.m.cl), GP_EINTERNAL);
    bad[1] = (gp_id)c->nnode;
    cr_expect_eq(tape_compile(&t, c, 2, bad, n.m.np, n.m.pl, n.m.nc, n.m.cl), GP_EINTERNAL);
    uint32_t plbad[5] = {n.m.pl[0], n.m.pl[1], n.m.pl[2], n.m.pl[3], (uint32_t)c->nleaf};
    cr_expect_eq(tape_compile(&t, c, 1, &n.e, 5, plbad, n.m.nc, n.m.cl), GP_EINTERNAL);
    /* a param given as a data column is still a param leaf missing from the
       param list */
    uint32_t cl4[4] = {n.m.cl[0], n.m.cl[1], n.m.cl[2], n.m.pl[3]};
    cr_expect_eq(tape_compile(&t, c, 1, &n.e, 4, pl4, 4, cl4), GP_EINTERNAL);
    tape_free(&t);
    /* and after all that, a good compile in the same context */
    cr_expect_eq(tape_compile(&t, c, 1, &n.L, n.m.np, n.m.pl, n.m.nc, n.m.cl), GP_OK);
    tape_free(&t);
    gp_ctx_free(c);
    EXPECT_NO_LEAKS();
}

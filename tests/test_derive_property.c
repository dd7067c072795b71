/*
 * test_derive_property.c -- symbolic derivatives against finite differences,
 * on random expression DAGs.
 *
 * Each DAG is built through the smart constructors (simplify.h) over three
 * params w0 w1 w2, two inputs x0 x1, a target y and a constant k, in a fresh
 * context, from a fixed seed (DAG i uses seed SEED + i, so one failing DAG can
 * be replayed alone; -DSEED=... -DNDAG=... for longer runs by hand).  Every
 * function of gp_fn and the powers 2, 3, 5, -1, -2, 1/2, 3/2 and -1/2 are
 * forced in turn; some intermediates get a display label (simplify then
 * treats them as atoms, as for a case's named definitions), some sums and
 * products are wider than SIMPLIFY_FLAT; a third of the DAGs are
 * dataset-level: sample reductions (MEAN, SUMS) of per-sample expressions over
 * a 3-row data table, combined at the dataset level.  derive_grad() gives
 * df/dw_i; at random points both the derivative and central differences of f
 * are evaluated in MPFR at 256 bits (eval_mpfr) and compared.
 *
 * Error budget, h = 2^-80, D(h) = (f(w+h) - f(w-h)) / 2h, compared with
 * tol = 1e-30 max(|sym|, |D(h)|) + 1e-40 M, M the largest |value| of any node
 * of f and its derivatives at the point:
 *  - truncation: D(h) - f'(w) = h^2 f'''(xi)/6 + O(h^4), h^2/6 ~ 1e-49.  It
 *    is not assumed small: D(2h) - D(h) = 3 h^2 f'''/6 + O(h^4), so
 *    |D(h) - D(2h)|/3 estimates it, and a point where that estimate exceeds
 *    tol/8 is redrawn.  The estimate does not involve the symbolic side, so
 *    the redraw never hides a wrong derivative; it also rejects a kink or a
 *    jump crossed inside the stencil.
 *  - rounding: every node is within a few ulps, |error| <= n 2^-256 M per
 *    node; through f (adjoints A) and divided by 2h = 2^-79 that is about
 *    n A 2^-177 M ~ 1e-53 n A M, below 1e-40 M for n A < 1e13.  Values above
 *    1e8 are redrawn (M <= 1e8), which keeps n A far from that.
 *  - observed: the largest |D(h) - sym| / tol over the default run is ~1e-5;
 *    over 150000 DAGs (seeds 1-7, by hand) 3e-3, each time equal to the
 *    truncation estimate: a pass is bounded by the gate (1/8) plus rounding.
 * A wrong derivative misses tol by its own relative error: the mutant test
 * shows a relative error of 2^-60 (1e-18) is caught at every point.
 * Points are also redrawn where f or a derivative faults (not finite, log of
 * a negative number, ...) or where the argument of relu/abs/step/sign is
 * within 1e-20 of 0.
 */
#include <stdio.h> /* before mpfr.h, for mpfr_fprintf */

#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ctx.h"
#include "dag.h"
#include "derive.h"
#include "eval_mpfr.h"
#include "print.h"
#include "simplify.h"

#ifndef SEED
#define SEED 0x5eed2024u
#endif
#ifndef NDAG
#define NDAG 3000      /* DAGs generated; at least MINCHECKED must be checked */
#endif
#define MINCHECKED 1000
#define NMUTANT 150    /* DAGs of each mutant run */
#define PREC 256
#define HEXP 80        /* h = 2^-HEXP */
#define NPARAM 3
#define NX 3           /* x0, x1 (inputs), y (target) */
#define NROWS 3
#define NPOINTS 2      /* good points wanted per DAG */
#define MAXTRIES 30    /* draws per DAG */
#define CAP 1e8        /* largest |value| accepted at a point */
#define KINK 1e-20     /* closest a kink argument may come to 0 */
#define REL 1e-30
#define ABSM 1e-40
#define NPOWKIND 8

static const long pow_p[NPOWKIND] = {2, 3, 5, -1, -2, 1, 3, -1};
static const unsigned long pow_q[NPOWKIND] = {1, 1, 1, 1, 1, 2, 2, 2};

/* ---- deterministic random numbers (splitmix64) ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnext(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(rng *r, unsigned n) { return (unsigned)(rnext(r) % n); }
static int chance(rng *r, unsigned pct) { return below(r, 100) < pct; }

/* ---- one random world: a context with its leaves and a data table ---- */

typedef struct world {
    gp_ctx *c;
    long pleaf[NPARAM];
    gp_id pnode[NPARAM];
    long xleaf[NX];
    gp_id xnode[NX];
    gp_id knode;
    uint32_t col[NX];
    mpq_t data[NROWS * NX];
    mpfr_t *lv;      /* leaf values (params used), PREC bits */
    size_t nlv;
} world;

static long mkleaf(gp_ctx *c, gp_leaf_kind kind, const char *name, gp_id value)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    return dag_leaf(c, kind, &nm, value);
}

static void world_init(world *w, rng *r)
{
    static const char *const pn[NPARAM] = {"w0", "w1", "w2"};
    static const char *const xn[NX] = {"x0", "x1", "y"};
    w->c = gp_ctx_new();
    cr_assert_not_null(w->c);
    for (int i = 0; i < NPARAM; i++) {
        w->pleaf[i] = mkleaf(w->c, GP_LEAF_PARAM, pn[i], GP_NIL);
        cr_assert(w->pleaf[i] >= 0);
        w->pnode[i] = w->c->leaf[w->pleaf[i]].node;
    }
    for (int i = 0; i < NX; i++) {
        w->xleaf[i] = mkleaf(w->c, i < 2 ? GP_LEAF_INPUT : GP_LEAF_TARGET, xn[i], GP_NIL);
        cr_assert(w->xleaf[i] >= 0);
        w->xnode[i] = w->c->leaf[w->xleaf[i]].node;
        w->col[i] = (uint32_t)w->xleaf[i];
    }
    long kl = mkleaf(w->c, GP_LEAF_CONST, "k", dag_num_si(w->c, 3, 10));
    cr_assert(kl >= 0);
    w->knode = w->c->leaf[kl].node;
    /* rows of small rationals n/d, |n/d| <= 2 */
    for (int i = 0; i < NROWS * NX; i++) {
        long d = 1 + (long)below(r, 7);
        long n = (long)below(r, (unsigned)(4 * d + 1)) - 2 * d;
        mpq_init(w->data[i]);
        mpq_set_si(w->data[i], n, (unsigned long)d);
        mpq_canonicalize(w->data[i]);
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
    for (int i = 0; i < NROWS * NX; i++)
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
    env->nsamples = NROWS;
    env->ncols = NX;
    env->col_leaf = w->col;
    env->qcols = (const mpq_t *)w->data;
}

/* ---- random expressions ---- */

#define POOLMAX 64

typedef struct gen {
    world *w;
    rng *r;
    gp_id pool[POOLMAX];
    int npool;
} gen;

static void push(gen *g, gp_id id)
{
    static const char *const names[] = {"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"};
    gp_ctx *c = g->w->c;
    cr_assert_neq(id, GP_NIL, "a smart constructor failed (status %d)", (int)c->status);
    if (c->node[id].op != GP_OP_NUM && c->node[id].op != GP_OP_LEAF && chance(g->r, 12)) {
        /* a named intermediate, as the case builder makes: simplify treats
           it as an atom from now on */
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

/* An operand: half the time one of the three newest, so the DAG gets deep. */
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

/* Something positive made of a (so log and roots are often defined). */
static gp_id positive(gen *g, gp_id a)
{
    gp_ctx *c = g->w->c;
    switch (below(g->r, 4)) {
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
    return gp_call(g->w->c, fn, a);
}

static gp_id apply_pow(gen *g, int kind, gp_id a)
{
    gp_ctx *c = g->w->c;
    if (pow_q[kind] != 1 && chance(g->r, 70))
        a = positive(g, a);
    else if (pow_p[kind] < 0 && chance(g->r, 40))
        a = gp_add2(c, gp_pow_si(c, a, 2, 1), dag_num_si(c, 1, 2));
    return gp_pow_si(c, a, pow_p[kind], pow_q[kind]);
}

/* f, extended by a term in every param it does not use yet, so that most
   derivatives are not identically 0. */
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

/* One random operation on the pool. */
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
        /* wider than SIMPLIFY_FLAT: a sum or product that is not flattened */
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

/* A per-sample (or static, if sample is 0) expression with the forced
   function and power in it. */
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

/* A dataset-level expression: reductions of per-sample expressions,
   combined with params. */
static gp_id gen_dataset(gen *g, gp_fn fn, int powkind)
{
    world *w = g->w;
    gp_ctx *c = w->c;
    gp_id red[2];
    int nred = 1 + (int)below(g->r, 2);
    for (int i = 0; i < nred; i++) {
        gp_id e = gen_expr(g, 1, i == 0 ? fn : (gp_fn)below(g->r, GP_FN_COUNT),
                           i == 0 ? powkind : (int)below(g->r, NPOWKIND));
        if (c->node[e].level != GP_LV_SAMPLE) /* e*x0 + x1 is per-sample whatever static e is */
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
    if (c->node[f].level != GP_LV_DATASET) /* the reductions cancelled, or were not used */
        f = gp_add2(c, f, red[0]);
    if (c->node[f].level != GP_LV_DATASET)
        f = gp_add2(c, f, gp_pow_si(c, red[0], 2, 1));
    return f;
}

/* ---- checking ---- */

typedef enum mutant { M_NONE, M_SCALE, M_NEG } mutant;

typedef struct stats {
    unsigned dags, checked, dataset_checked;
    unsigned long points, comparisons, nonzero;
    unsigned long redraw_fault, redraw_large, redraw_kink, redraw_fd;
    unsigned long failures;       /* comparisons outside the tolerance */
    double worst;                 /* largest |D - sym| / tol among passes */
    unsigned fn_seen[GP_FN_COUNT];/* checked DAGs whose cone holds each function */
    unsigned pow_seen[NPOWKIND];
    unsigned long detected, eligible; /* mutant runs */
} stats;

typedef struct dagcheck {
    world *w;
    gp_id f;
    gp_id d[NPARAM];
    int dataset;
    gp_id *ids;          /* the cone of f and its derivatives */
    size_t n;
    size_t *pos;         /* pos[id]: index in ids */
    mpfr_t *val;
    size_t *kink;        /* indices (in ids) of the arguments of kinks */
    size_t nkink;
    size_t fpos, dpos[NPARAM];
} dagcheck;

static void dc_init(dagcheck *dc)
{
    gp_ctx *c = dc->w->c;
    unsigned char *mark = calloc(c->nnode, 1);
    gp_id roots[1 + NPARAM];
    roots[0] = dc->f;
    for (int i = 0; i < NPARAM; i++)
        roots[1 + i] = dc->d[i];
    dc->n = dag_reach(c, 1 + NPARAM, roots, mark);
    dc->ids = malloc(dc->n * sizeof *dc->ids);
    dc->pos = malloc(c->nnode * sizeof *dc->pos);
    dc->val = malloc(dc->n * sizeof *dc->val);
    dc->kink = malloc(dc->n * sizeof *dc->kink);
    cr_assert(mark && dc->ids && dc->pos && dc->val && dc->kink);
    size_t k = 0;
    for (size_t id = 0; id < c->nnode; id++)
        if (mark[id]) {
            dc->pos[id] = k;
            dc->ids[k] = (gp_id)id;
            mpfr_init2(dc->val[k], PREC);
            k++;
        }
    dc->nkink = 0;
    for (size_t i = 0; i < dc->n; i++) {
        const gp_node *nd = &c->node[dc->ids[i]];
        if (nd->op == GP_OP_FN && (nd->fn == GP_FN_RELU || nd->fn == GP_FN_ABS || nd->fn == GP_FN_STEP ||
                                   nd->fn == GP_FN_SIGN))
            dc->kink[dc->nkink++] = dc->pos[nd->kid[0]];
    }
    dc->fpos = dc->pos[dc->f];
    for (int i = 0; i < NPARAM; i++)
        dc->dpos[i] = dc->pos[dc->d[i]];
    free(mark);
}

static void dc_free(dagcheck *dc)
{
    for (size_t i = 0; i < dc->n; i++)
        mpfr_clear(dc->val[i]);
    free(dc->val);
    free(dc->ids);
    free(dc->pos);
    free(dc->kink);
}

/* Functions and power kinds in the cone of f. */
static void coverage(const dagcheck *dc, stats *st)
{
    gp_ctx *c = dc->w->c;
    unsigned char *mark = calloc(c->nnode, 1);
    cr_assert_not_null(mark);
    dag_reach(c, 1, &dc->f, mark);
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

enum { OK_POINT, R_FAULT, R_LARGE, R_KINK, R_FD };

/*
 * Evaluate the cone at the current point (all rows for a dataset-level f,
 * row s otherwise); on success M is the largest |value|.
 */
static int probe(dagcheck *dc, long s, double *M)
{
    world *w = dc->w;
    eval_env env;
    world_env(w, &env);
    *M = 1;
    for (long row = dc->dataset ? 0 : s; row < (dc->dataset ? NROWS : s + 1); row++) {
        eval_fault fl;
        gp_status rc = eval_mpfr(dc->val, w->c, &env, row, dc->n, dc->ids, PREC, &fl);
        cr_assert_eq(rc, GP_OK, "eval_mpfr: status %d", (int)rc);
        if (fl.node != GP_NIL)
            return R_FAULT;
        for (size_t i = 0; i < dc->n; i++) {
            double a = mpfr_get_d(dc->val[i], MPFR_RNDN);
            a = a < 0 ? -a : a;
            if (a > CAP)
                return R_LARGE;
            if (a > *M)
                *M = a;
        }
        for (size_t k = 0; k < dc->nkink; k++) {
            double a = mpfr_get_d(dc->val[dc->kink[k]], MPFR_RNDN);
            if ((a < 0 ? -a : a) < KINK)
                return R_KINK;
        }
    }
    return OK_POINT;
}

/* f at the current point with param i moved by k*h. */
static int f_at(dagcheck *dc, long s, int i, long k, mpfr_t out, mpfr_srcptr center)
{
    world *w = dc->w;
    mpfr_ptr p = w->lv[w->pleaf[i]];
    mpfr_set_si_2exp(p, k, -HEXP, MPFR_RNDN);
    mpfr_add(p, p, center, MPFR_RNDN); /* exact: center has <= 16 bits */
    eval_env env;
    world_env(w, &env);
    eval_fault fl;
    gp_status rc = eval_mpfr((mpfr_t *)out, w->c, &env, dc->dataset ? -1 : s, 1, &dc->f, PREC, &fl);
    mpfr_set(p, center, MPFR_RNDN);
    cr_assert_eq(rc, GP_OK);
    return fl.node == GP_NIL;
}

/*
 * Check one point: draws the params, evaluates, compares every derivative.
 * Returns OK_POINT or the reason for a redraw; failures are counted and
 * printed.
 */
static int check_point(dagcheck *dc, rng *r, stats *st, unsigned idag, mutant mut)
{
    world *w = dc->w;
    for (int i = 0; i < NPARAM; i++) /* w = n/1024, |w| <= 1.5 */
        mpfr_set_si_2exp(w->lv[w->pleaf[i]], (long)below(r, 3073) - 1536, -10, MPFR_RNDN);
    long s = (long)below(r, NROWS);
    double M;
    int why = probe(dc, s, &M);
    if (why != OK_POINT)
        return why;
    mpfr_t center, fp1, fm1, fp2, fm2, d1, d2, diff, sym;
    mpfr_inits2(PREC, center, fp1, fm1, fp2, fm2, d1, d2, diff, sym, (mpfr_ptr)0);
    int res = OK_POINT;
    double ratio[NPARAM];
    int bad[NPARAM];
    for (int i = 0; i < NPARAM && res == OK_POINT; i++) {
        mpfr_set(center, w->lv[w->pleaf[i]], MPFR_RNDN);
        if (!f_at(dc, s, i, 1, fp1, center) || !f_at(dc, s, i, -1, fm1, center) ||
            !f_at(dc, s, i, 2, fp2, center) || !f_at(dc, s, i, -2, fm2, center)) {
            res = R_FAULT;
            break;
        }
        mpfr_sub(d1, fp1, fm1, MPFR_RNDN);
        mpfr_mul_2si(d1, d1, HEXP - 1, MPFR_RNDN); /* / 2h */
        mpfr_sub(d2, fp2, fm2, MPFR_RNDN);
        mpfr_mul_2si(d2, d2, HEXP - 2, MPFR_RNDN); /* / 4h */
        mpfr_set(sym, dc->val[dc->dpos[i]], MPFR_RNDN);
        if (mut == M_SCALE) { /* a relative error of 2^-60 */
            mpfr_mul_2si(diff, sym, -60, MPFR_RNDN);
            mpfr_add(sym, sym, diff, MPFR_RNDN);
        }
        else if (mut == M_NEG)
            mpfr_neg(sym, sym, MPFR_RNDN);
        double as = mpfr_get_d(sym, MPFR_RNDN), ad = mpfr_get_d(d1, MPFR_RNDN);
        as = as < 0 ? -as : as;
        ad = ad < 0 ? -ad : ad;
        double tol = REL * (as > ad ? as : ad) + ABSM * M;
        mpfr_sub(diff, d1, d2, MPFR_RNDN);
        double trunc = mpfr_get_d(diff, MPFR_RNDN) / 3;
        if ((trunc < 0 ? -trunc : trunc) > tol / 8) {
            res = R_FD;
            break;
        }
        mpfr_sub(diff, d1, sym, MPFR_RNDN);
        double e = mpfr_get_d(diff, MPFR_RNDN);
        e = e < 0 ? -e : e;
        ratio[i] = e / tol;
        bad[i] = e > tol;
        if (mut != M_NONE && as > 1e-12 * M) {
            /* the mutant is wrong here by far more than the tolerance */
            st->eligible++;
            st->detected += (unsigned long)bad[i];
        }
        if (bad[i] && mut == M_NONE && st->failures < 10) {
            fprintf(stderr, "derive_property: DAG %u (seed %u + %u): d f/d w%d wrong at row %ld\n", idag, SEED,
                    idag, i, s);
            for (int j = 0; j < NPARAM; j++)
                mpfr_fprintf(stderr, "  w%d = %.10Rg\n", j, w->lv[w->pleaf[j]]);
            for (int row = 0; row < NROWS; row++)
                gmp_fprintf(stderr, "  data row %d: x0 = %Qd, x1 = %Qd, y = %Qd\n", row, w->data[row * NX],
                            w->data[row * NX + 1], w->data[row * NX + 2]);
            mpfr_fprintf(stderr, "  symbolic          = %.40Re\n  central diff D(h) = %.40Re\n"
                                 "  D(2h)             = %.40Re\n  |D - sym| / tol = %g\n",
                         sym, d1, d2, ratio[i]);
            print_node(w->c, dc->f, "f");
            print_node(w->c, dc->d[i], "df/dw");
        }
    }
    if (res == OK_POINT) {
        st->points++;
        for (int i = 0; i < NPARAM; i++) {
            st->comparisons++;
            if (!mpfr_zero_p(dc->val[dc->dpos[i]]))
                st->nonzero++;
            if (bad[i])
                st->failures++;
            else if (ratio[i] > st->worst)
                st->worst = ratio[i];
        }
    }
    mpfr_clears(center, fp1, fm1, fp2, fm2, d1, d2, diff, sym, (mpfr_ptr)0);
    return res;
}

static void run(unsigned ndag, unsigned seed0, mutant mut, stats *st)
{
    memset(st, 0, sizeof *st);
    for (unsigned idag = 0; idag < ndag; idag++) {
        rng r = {(uint64_t)SEED + seed0 + idag};
        world w;
        world_init(&w, &r);
        gen g = {&w, &r, {0}, 0};
        gp_fn fn = (gp_fn)(idag % GP_FN_COUNT);
        int pk = (int)((idag / GP_FN_COUNT) % NPOWKIND);
        int dataset = idag % 3 == 2;
        dagcheck dc;
        memset(&dc, 0, sizeof dc);
        dc.w = &w;
        dc.dataset = dataset;
        dc.f = dataset ? gen_dataset(&g, fn, pk) : gen_expr(&g, 1, fn, pk);
        if (!(w.c->node[dc.f].flags & GP_NF_PARAM))
            dc.f = gp_mul2(w.c, dc.f, w.pnode[below(&r, NPARAM)]);
        cr_assert_neq(dc.f, GP_NIL);
        cr_assert_eq(w.c->node[dc.f].level == GP_LV_DATASET, dataset, "DAG %u: level %d", idag,
                     w.c->node[dc.f].level);
        gp_status rc = derive_grad(w.c, dc.f, NPARAM, w.pnode, dc.d);
        cr_assert_eq(rc, GP_OK, "DAG %u: derive_grad failed with %d", idag, (int)rc);
        dc_init(&dc);
        st->dags++;
        int good = 0;
        for (int t = 0; t < MAXTRIES && good < NPOINTS; t++) {
            switch (check_point(&dc, &r, st, idag, mut)) {
            case OK_POINT: good++; break;
            case R_FAULT: st->redraw_fault++; break;
            case R_LARGE: st->redraw_large++; break;
            case R_KINK: st->redraw_kink++; break;
            default: st->redraw_fd++; break;
            }
        }
        if (good) {
            st->checked++;
            st->dataset_checked += (unsigned)dataset;
            coverage(&dc, st);
        }
        dc_free(&dc);
        world_free(&w);
    }
}

Test(derive_property, symbolic_derivatives_match_central_differences_at_256_bits, .timeout = 120)
{
    clock_t t0 = clock();
    stats st;
    run(NDAG, 0, M_NONE, &st);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    fprintf(stderr,
            "derive_property: %u DAGs, %u checked (%u dataset-level), %lu points, %lu comparisons "
            "(%lu nonzero), %lu failures; redraws: %lu fault, %lu large, %lu kink, %lu fd; "
            "worst |D - sym|/tol %.3g; %.2f s\n",
            st.dags, st.checked, st.dataset_checked, st.points, st.comparisons, st.nonzero, st.failures,
            st.redraw_fault, st.redraw_large, st.redraw_kink, st.redraw_fd, st.worst, secs);
    fprintf(stderr, "derive_property: functions:");
    for (int k = 0; k < GP_FN_COUNT; k++)
        fprintf(stderr, " %s %u", dag_fn_name((gp_fn)k), st.fn_seen[k]);
    fprintf(stderr, "\nderive_property: powers:");
    for (int k = 0; k < NPOWKIND; k++)
        fprintf(stderr, " %ld/%lu %u", pow_p[k], pow_q[k], st.pow_seen[k]);
    fprintf(stderr, "\n");
    cr_expect_eq(st.failures, 0, "%lu derivative comparisons outside the tolerance", st.failures);
    cr_expect_geq(st.checked, MINCHECKED, "only %u DAGs had a usable point", st.checked);
    cr_expect_geq(st.checked * 10, st.dags * 9, "points found for only %u of %u DAGs", st.checked, st.dags);
    cr_expect_geq(st.dataset_checked, MINCHECKED / 4, "only %u dataset-level DAGs checked", st.dataset_checked);
    cr_expect_geq(st.nonzero * 2, st.comparisons, "most derivatives were 0: the test checks little");
    for (int k = 0; k < GP_FN_COUNT; k++)
        cr_expect_geq(st.fn_seen[k], 30, "function %s in only %u checked DAGs", dag_fn_name((gp_fn)k),
                      st.fn_seen[k]);
    for (int k = 0; k < NPOWKIND; k++)
        cr_expect_geq(st.pow_seen[k], 30, "power %ld/%lu in only %u checked DAGs", pow_p[k], pow_q[k],
                      st.pow_seen[k]);
}

/* The comparison must be able to fail: a derivative off by a relative 2^-60,
   or with its sign flipped, is caught at every point where it is not ~0. */
Test(derive_property, wrong_derivatives_are_caught, .timeout = 60)
{
    static const mutant muts[2] = {M_SCALE, M_NEG};
    for (int m = 0; m < 2; m++) {
        stats st;
        run(NMUTANT, 1000000, muts[m], &st);
        cr_assert_gt(st.eligible, NMUTANT, "mutant %d: only %lu comparisons eligible", m, st.eligible);
        cr_expect_eq(st.detected, st.eligible, "mutant %d: caught %lu of %lu", m, st.detected, st.eligible);
    }
}

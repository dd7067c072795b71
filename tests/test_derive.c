/*
 * test_derive.c -- symbolic reverse mode against the rules of calculus.
 *
 * Derivatives are compared by value, exactly: a small evaluator in this file
 * computes any node over exact rationals on a few data rows (NUM, LEAF, ADD,
 * MUL, POW with integer exponents or exact roots, MEAN, SUMS).  relu, abs,
 * step and sign are evaluated exactly; every other function call is an
 * opaque atom whose value is a pseudo-random rational fixed by its node id
 * and row, so an expected expression must use the *same* call nodes as the
 * derivative (d sigmoid(u) = s (1 - s) with s the very node sigmoid(u)); a
 * derivative that used another node, or the wrong rule, gets another value.
 * Where the brief fixes the form (d exp(x) is the node exp(x)) node ids are
 * compared too.  Each check runs at three points (leaf values and atom
 * values change together), and prints the point index on failure.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx.h"
#include "dag.h"
#include "derive.h"
#include "simplify.h"

/* ---- an exact evaluator over rows ---- */

#define NPTS 3

typedef struct ev {
    gp_ctx *c;
    size_t R;      /* rows */
    size_t nleaf;  /* leaves known when the evaluator was made */
    mpq_t *lv;     /* lv[leaf * R + r] */
    unsigned seed; /* varies the atoms from point to point */
} ev;

static void ev_init(ev *E, gp_ctx *c, size_t R)
{
    E->c = c;
    E->R = R;
    E->nleaf = c->nleaf;
    E->seed = 0;
    E->lv = malloc((E->nleaf * R + 1) * sizeof *E->lv);
    cr_assert_not_null(E->lv);
    for (size_t i = 0; i < E->nleaf * R; i++)
        mpq_init(E->lv[i]);
}

static void ev_free(ev *E)
{
    for (size_t i = 0; i < E->nleaf * E->R; i++)
        mpq_clear(E->lv[i]);
    free(E->lv);
}

static void ev_set(ev *E, gp_id leafnode, size_t r, long n, unsigned long d)
{
    uint32_t li = E->c->node[leafnode].pay;
    cr_assert_lt(li, E->nleaf);
    mpq_set_si(E->lv[li * E->R + r], n, d);
    mpq_canonicalize(E->lv[li * E->R + r]);
}

/* a static leaf: the same value on every row */
static void ev_set_all(ev *E, gp_id leafnode, long n, unsigned long d)
{
    for (size_t r = 0; r < E->R; r++)
        ev_set(E, leafnode, r, n, d);
}

/* out = b^e exactly; 0 when it is not rational or divides by zero */
static int qpow(mpq_t out, mpq_srcptr b, mpq_srcptr e)
{
    if (!mpz_fits_slong_p(mpq_numref(e)) || !mpz_fits_ulong_p(mpq_denref(e)))
        return 0;
    long p = mpz_get_si(mpq_numref(e));
    unsigned long q = mpz_get_ui(mpq_denref(e));
    mpq_t base;
    mpq_init(base);
    mpq_set(base, b);
    int ok = 1;
    if (q != 1) {
        if (mpq_sgn(base) < 0)
            ok = 0;
        else
            ok = mpz_root(mpq_numref(base), mpq_numref(base), q) && mpz_root(mpq_denref(base), mpq_denref(base), q);
    }
    if (ok && p < 0 && mpq_sgn(base) == 0)
        ok = 0;
    if (ok) {
        unsigned long ap = p < 0 ? (unsigned long)-p : (unsigned long)p;
        mpz_pow_ui(mpq_numref(out), mpq_numref(base), ap);
        mpz_pow_ui(mpq_denref(out), mpq_denref(base), ap);
        mpq_canonicalize(out);
        if (p < 0)
            mpq_inv(out, out);
    }
    mpq_clear(base);
    return ok;
}

/* the opaque value of a smooth function call: fixed by node, row and point */
static void atom(mpq_t out, const ev *E, gp_id id, size_t r)
{
    uint32_t h = (uint32_t)id * 2654435761u ^ (uint32_t)(r + 1) * 40503u ^ (E->seed + 1) * 97u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    long n = (long)(h % 1999) - 999;
    mpq_set_si(out, n ? n : 1, 113 + (h >> 20) % 7);
    mpq_canonicalize(out);
}

/* Value of root on every row into out[0..R) (initialised by the caller).
   Returns 0 where the expression is undefined. */
static int ev_eval(const ev *E, gp_id root, mpq_t *out)
{
    gp_ctx *c = E->c;
    size_t R = E->R;
    cr_assert_neq(root, GP_NIL, "evaluating a NIL node");
    unsigned char *mark = calloc((size_t)root + 1, 1);
    mpq_t *v = malloc(((size_t)root + 1) * R * sizeof *v);
    cr_assert(mark && v);
    dag_reach(c, 1, &root, mark);
    for (size_t id = 0; id <= root; id++)
        if (mark[id])
            for (size_t r = 0; r < R; r++)
                mpq_init(v[id * R + r]);
    int ok = 1;
    for (size_t id = 0; ok && id <= root; id++) {
        if (!mark[id])
            continue;
        const gp_node *n = &c->node[id];
        mpq_t *V = v + id * R;
        switch ((gp_op)n->op) {
        case GP_OP_NUM:
            for (size_t r = 0; r < R; r++)
                mpq_set(V[r], dag_q(c, (gp_id)id));
            break;
        case GP_OP_LEAF: {
            const gp_leaf *l = &c->leaf[n->pay];
            for (size_t r = 0; r < R; r++) {
                if (l->kind == GP_LEAF_CONST)
                    mpq_set(V[r], dag_q(c, l->value));
                else if (n->pay < E->nleaf)
                    mpq_set(V[r], E->lv[n->pay * R + r]);
                else
                    ok = 0;
            }
            break;
        }
        case GP_OP_ADD:
        case GP_OP_MUL:
            for (size_t r = 0; r < R; r++) {
                mpq_set_ui(V[r], n->op == GP_OP_MUL, 1);
                for (uint32_t k = 0; k < n->nkid; k++)
                    (n->op == GP_OP_ADD ? mpq_add : mpq_mul)(V[r], V[r], v[n->kid[k] * R + r]);
            }
            break;
        case GP_OP_POW:
            for (size_t r = 0; ok && r < R; r++)
                ok = qpow(V[r], v[n->kid[0] * R + r], dag_q(c, n->kid[1]));
            break;
        case GP_OP_FN:
            for (size_t r = 0; r < R; r++) {
                mpq_srcptr a = v[n->kid[0] * R + r];
                int s = mpq_sgn(a);
                switch ((gp_fn)n->fn) {
                case GP_FN_RELU: s > 0 ? mpq_set(V[r], a) : mpq_set_ui(V[r], 0, 1); break;
                case GP_FN_ABS: mpq_abs(V[r], a); break;
                case GP_FN_STEP: mpq_set_ui(V[r], s > 0, 1); break;
                case GP_FN_SIGN: mpq_set_si(V[r], s, 1); break;
                default: atom(V[r], E, (gp_id)id, r); break;
                }
            }
            break;
        case GP_OP_MEAN:
        case GP_OP_SUMS: {
            mpq_t acc;
            mpq_init(acc);
            for (size_t r = 0; r < R; r++)
                mpq_add(acc, acc, v[n->kid[0] * R + r]);
            if (n->op == GP_OP_MEAN) {
                mpq_t nr;
                mpq_init(nr);
                mpq_set_ui(nr, (unsigned long)R, 1);
                mpq_div(acc, acc, nr);
                mpq_clear(nr);
            }
            for (size_t r = 0; r < R; r++)
                mpq_set(V[r], acc);
            mpq_clear(acc);
            break;
        }
        }
    }
    if (ok)
        for (size_t r = 0; r < R; r++)
            mpq_set(out[r], v[(size_t)root * R + r]);
    for (size_t id = 0; id <= root; id++)
        if (mark[id])
            for (size_t r = 0; r < R; r++)
                mpq_clear(v[id * R + r]);
    free(v);
    free(mark);
    return ok;
}

/* Are a and b equal on every row?  Unless quiet, prints both values on the
   first row where they are not. */
static int ev_same_q(const ev *E, gp_id a, gp_id b, const char *what, int quiet)
{
    size_t R = E->R;
    mpq_t *va = malloc(R * sizeof *va), *vb = malloc(R * sizeof *vb);
    for (size_t r = 0; r < R; r++) {
        mpq_init(va[r]);
        mpq_init(vb[r]);
    }
    int oka = ev_eval(E, a, va), okb = ev_eval(E, b, vb);
    int same = oka && okb;
    if ((!oka || !okb) && !quiet)
        cr_log_error("%s (point %u): %s is undefined", what, E->seed, !oka ? "the derivative" : "the expected value");
    for (size_t r = 0; same && r < R; r++)
        if (!mpq_equal(va[r], vb[r])) {
            same = 0;
            if (!quiet)
                gmp_fprintf(stderr, "%s (point %u, row %zu): derivative %Qd, expected %Qd\n", what, E->seed, r, va[r], vb[r]);
        }
    for (size_t r = 0; r < R; r++) {
        mpq_clear(va[r]);
        mpq_clear(vb[r]);
    }
    free(va);
    free(vb);
    return same;
}

static int ev_same(const ev *E, gp_id a, gp_id b, const char *what) { return ev_same_q(E, a, b, what, 0); }

/* ---- a world of leaves and data ---- */

typedef struct world {
    gp_ctx *c;
    gp_id w, v, b, lam; /* params */
    gp_id x, y;         /* input, target */
    ev E;
} world;

static gp_id mkleaf(gp_ctx *c, gp_leaf_kind kind, const char *name)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    long li = dag_leaf(c, kind, &nm, GP_NIL);
    cr_assert_geq(li, 0);
    return c->leaf[li].node;
}

#define NROWS 4
static const long xs[NPTS][NROWS] = {{1, 2, -3, 5}, {-1, 4, 7, 9}, {3, -2, 1, 6}};
static const long ys[NPTS][NROWS] = {{0, 1, 5, -2}, {2, -3, 1, 1}, {-1, 0, 4, 9}};

static void world_init(world *W)
{
    W->c = gp_ctx_new();
    cr_assert_not_null(W->c);
    W->w = mkleaf(W->c, GP_LEAF_PARAM, "w");
    W->v = mkleaf(W->c, GP_LEAF_PARAM, "v");
    W->b = mkleaf(W->c, GP_LEAF_PARAM, "b");
    W->lam = mkleaf(W->c, GP_LEAF_PARAM, "lambda");
    W->x = mkleaf(W->c, GP_LEAF_INPUT, "x");
    W->y = mkleaf(W->c, GP_LEAF_TARGET, "y");
    ev_init(&W->E, W->c, NROWS);
}

/* Give every leaf the values of point p (nonzero params, varied data). */
static void world_point(world *W, unsigned p)
{
    static const long wv[NPTS] = {3, -5, 2}, vv[NPTS] = {-2, 7, 11}, bv[NPTS] = {1, -1, 4}, lv[NPTS] = {1, 2, 3};
    ev_set_all(&W->E, W->w, wv[p], 7);
    ev_set_all(&W->E, W->v, vv[p], 3);
    ev_set_all(&W->E, W->b, bv[p], 2);
    ev_set_all(&W->E, W->lam, lv[p], 10);
    for (size_t r = 0; r < NROWS; r++) {
        ev_set(&W->E, W->x, r, xs[p][r], 2);
        ev_set(&W->E, W->y, r, ys[p][r], 3);
    }
    W->E.seed = p;
}

static void world_free(world *W)
{
    ev_free(&W->E);
    gp_ctx_free(W->c);
}

/* out = df/dwrt, asserting success */
static gp_id d1(gp_ctx *c, gp_id f, gp_id wrt)
{
    gp_id out = GP_NIL;
    gp_status st = derive_grad(c, f, 1, &wrt, &out);
    cr_assert_eq(st, GP_OK, "derive_grad failed with status %d", (int)st);
    cr_assert_neq(out, GP_NIL);
    return out;
}

/* Check got == want at every point. */
static void expect_same(world *W, gp_id got, gp_id want, const char *what)
{
    for (unsigned p = 0; p < NPTS; p++) {
        world_point(W, p);
        cr_expect(ev_same(&W->E, got, want, what), "%s differs at point %u", what, p);
    }
}

static gp_id num(gp_ctx *c, long n, unsigned long d) { return dag_num_si(c, n, d); }

/* ---- the evaluator itself (a wrong oracle would pass anything) ---- */

Test(derive, evaluator_tells_different_expressions_apart)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id a = gp_call(c, GP_FN_TANH, W.x), b = gp_call(c, GP_FN_SIGMOID, W.x);
    world_point(&W, 0);
    cr_expect_not(ev_same_q(&W.E, a, b, "tanh vs sigmoid", 1));
    cr_expect_not(ev_same_q(&W.E, gp_mul2(c, W.w, W.x), gp_mul2(c, W.v, W.x), "w x vs v x", 1));
    cr_expect_not(ev_same_q(&W.E, gp_pow_si(c, W.x, -1, 1), gp_pow_si(c, num(c, 0, 1), -1, 1), "1/0", 1),
                  "division by zero is undefined, not equal to anything");
    cr_expect(ev_same(&W.E, gp_pow_si(c, num(c, 9, 4), 1, 2), num(c, 3, 2), "sqrt(9/4)"));
    gp_id mx = gp_reduce(c, GP_OP_MEAN, W.x);
    mpq_t out[NROWS];
    for (int r = 0; r < NROWS; r++)
        mpq_init(out[r]);
    cr_assert(ev_eval(&W.E, mx, out));
    cr_expect_eq(mpq_cmp_si(out[0], 5, 8), 0, "mean of 1/2, 1, -3/2, 5/2 is 5/8");
    for (int r = 0; r < NROWS; r++)
        mpq_clear(out[r]);
    world_free(&W);
}

/* ---- the elementary rules ---- */

Test(derive, derivative_of_exp_is_the_exp_node_itself)
{
    world W;
    world_init(&W);
    gp_id f = gp_call(W.c, GP_FN_EXP, W.x);
    cr_expect_eq(d1(W.c, f, W.x), f);
    world_free(&W);
}

Test(derive, each_function_follows_its_rule)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id x = W.x, one = num(c, 1, 1);
    for (int fn = 0; fn < GP_FN_COUNT; fn++) {
        gp_id f = gp_call(c, (gp_fn)fn, x), want;
        switch ((gp_fn)fn) {
        case GP_FN_EXP: want = f; break;
        case GP_FN_LOG: want = gp_pow_si(c, x, -1, 1); break;
        case GP_FN_TANH: want = gp_sub(c, one, gp_pow_si(c, f, 2, 1)); break;
        case GP_FN_SIGMOID: want = gp_mul2(c, f, gp_sub(c, one, f)); break;
        case GP_FN_RELU: want = gp_call(c, GP_FN_STEP, x); break;
        case GP_FN_ABS: want = gp_call(c, GP_FN_SIGN, x); break;
        case GP_FN_SOFTPLUS: want = gp_call(c, GP_FN_SIGMOID, x); break;
        case GP_FN_SIN: want = gp_call(c, GP_FN_COS, x); break;
        case GP_FN_COS: want = gp_neg(c, gp_call(c, GP_FN_SIN, x)); break;
        default: want = num(c, 0, 1); break; /* step, sign: zero almost everywhere */
        }
        char what[64];
        snprintf(what, sizeof what, "d %s(x)/dx", dag_fn_name((gp_fn)fn));
        expect_same(&W, d1(c, f, x), want, what);
    }
    world_free(&W);
}

Test(derive, kinks_differentiate_to_their_step_nodes)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(d1(c, gp_call(c, GP_FN_RELU, W.x), W.x), gp_call(c, GP_FN_STEP, W.x), "d relu == step");
    cr_expect_eq(d1(c, gp_call(c, GP_FN_ABS, W.x), W.x), gp_call(c, GP_FN_SIGN, W.x), "d abs == sign");
    cr_expect(dag_is_zero(c, d1(c, gp_call(c, GP_FN_STEP, W.x), W.x)));
    cr_expect(dag_is_zero(c, d1(c, gp_call(c, GP_FN_SIGN, W.x), W.x)));
    world_free(&W);
}

Test(derive, sigmoid_and_tanh_derivatives_reuse_the_forward_node)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id u = gp_mul2(c, W.w, W.x);
    gp_id fns[2] = {gp_call(c, GP_FN_SIGMOID, u), gp_call(c, GP_FN_TANH, u)};
    for (int i = 0; i < 2; i++) {
        gp_id d = d1(c, fns[i], W.w);
        unsigned char *mark = calloc(c->nnode, 1);
        dag_reach(c, 1, &d, mark);
        cr_expect(mark[fns[i]], "the derivative of %s(w x) is built on the node %s(w x) itself",
                  i ? "tanh" : "sigmoid", i ? "tanh" : "sigmoid");
        free(mark);
    }
    world_free(&W);
}

Test(derive, power_rule_for_rational_exponents)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    /* x^(3/2): the evaluator needs perfect squares, so x takes square values */
    gp_id f = gp_pow_si(c, W.w, 3, 2);
    gp_id want = gp_mul2(c, num(c, 3, 2), gp_pow_si(c, W.w, 1, 2));
    gp_id got = d1(c, f, W.w);
    static const long sq[][2] = {{9, 4}, {4, 1}, {1, 49}};
    for (unsigned p = 0; p < 3; p++) {
        world_point(&W, p);
        ev_set_all(&W.E, W.w, sq[p][0], (unsigned long)sq[p][1]);
        cr_expect(ev_same(&W.E, got, want, "d w^(3/2)/dw"));
    }
    cr_expect_eq(got, want, "d w^(3/2) is the node 3/2 * w^(1/2)");
    expect_same(&W, d1(c, gp_pow_si(c, W.w, -2, 1), W.w), gp_mul2(c, num(c, -2, 1), gp_pow_si(c, W.w, -3, 1)),
                "d w^-2/dw");
    expect_same(&W, d1(c, gp_pow_si(c, W.w, 5, 1), W.w), gp_mul2(c, num(c, 5, 1), gp_pow_si(c, W.w, 4, 1)),
                "d w^5/dw");
    world_free(&W);
}

/* ---- sums, products, quotients, chains ---- */

Test(derive, product_rule_over_every_factor_in_one_sweep)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id v3[3] = {W.w, W.v, W.b};
    gp_id f = gp_add2(c, gp_mul(c, 3, v3), gp_mul2(c, W.w, W.x));
    gp_id wrt[4] = {W.w, W.v, W.b, W.w}, out[4];
    cr_assert_eq(derive_grad(c, f, 4, wrt, out), GP_OK);
    expect_same(&W, out[0], gp_add2(c, gp_mul2(c, W.v, W.b), W.x), "d(wvb + wx)/dw");
    expect_same(&W, out[1], gp_mul2(c, W.w, W.b), "d(wvb + wx)/dv");
    expect_same(&W, out[2], gp_mul2(c, W.w, W.v), "d(wvb + wx)/db");
    cr_expect_eq(out[3], out[0], "a repeated wrt gets the same node");
    world_free(&W);
}

Test(derive, quotient_rule)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id one = num(c, 1, 1);
    gp_id den = gp_add2(c, one, gp_pow_si(c, W.w, 2, 1));
    gp_id f = gp_div(c, W.w, den);
    gp_id want = gp_div(c, gp_sub(c, one, gp_pow_si(c, W.w, 2, 1)), gp_pow_si(c, den, 2, 1));
    expect_same(&W, d1(c, f, W.w), want, "d w/(1+w^2)/dw");
    world_free(&W);
}

Test(derive, chain_rule_through_nested_calls)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id one = num(c, 1, 1);
    gp_id t = gp_call(c, GP_FN_TANH, gp_mul2(c, W.v, W.x));
    gp_id s = gp_call(c, GP_FN_SIGMOID, gp_add2(c, gp_mul2(c, W.w, t), W.b));
    gp_id ds = gp_mul2(c, s, gp_sub(c, one, s));
    gp_id dt = gp_sub(c, one, gp_pow_si(c, t, 2, 1));
    gp_id wrt[3] = {W.w, W.v, W.b}, out[3];
    cr_assert_eq(derive_grad(c, s, 3, wrt, out), GP_OK);
    expect_same(&W, out[0], gp_mul2(c, ds, t), "d s/dw");
    gp_id f4[4] = {ds, W.w, dt, W.x};
    expect_same(&W, out[1], gp_mul(c, 4, f4), "d s/dv");
    expect_same(&W, out[2], ds, "d s/db");
    /* the same through a power and a log */
    gp_id g = gp_call(c, GP_FN_LOG, gp_pow_si(c, gp_add2(c, gp_mul2(c, W.w, W.x), W.b), 3, 1));
    gp_id lin = gp_add2(c, gp_mul2(c, W.w, W.x), W.b);
    expect_same(&W, d1(c, g, W.w), gp_mul2(c, num(c, 3, 1), gp_div(c, W.x, lin)), "d log((wx+b)^3)/dw");
    world_free(&W);
}

Test(derive, shared_subexpression_gets_every_path)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    /* u = w x appears in three places */
    gp_id u = gp_mul2(c, W.w, W.x);
    gp_id e = gp_call(c, GP_FN_EXP, u);
    gp_id f = gp_add(c, 3, (gp_id[]){gp_mul2(c, u, e), gp_pow_si(c, u, 2, 1), gp_call(c, GP_FN_SIN, u)});
    gp_id du = gp_add(c, 4, (gp_id[]){e, gp_mul2(c, u, e), gp_mul2(c, num(c, 2, 1), u), gp_call(c, GP_FN_COS, u)});
    expect_same(&W, d1(c, f, W.w), gp_mul2(c, du, W.x), "d(u e^u + u^2 + sin u)/dw");
    world_free(&W);
}

/* ---- dataset-level losses ---- */

Test(derive, mean_squared_error_gradient_is_exact)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id r = gp_sub(c, gp_mul2(c, W.w, W.x), W.y);
    gp_id C = gp_div(c, gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, r, 2, 1)), num(c, 2, 1));
    cr_assert_eq(dag_node(c, C)->level, GP_LV_DATASET);
    gp_id got = d1(c, C, W.w);
    gp_id want = gp_sub(c, gp_mul2(c, W.w, gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, W.x, 2, 1))),
                        gp_reduce(c, GP_OP_MEAN, gp_mul2(c, W.x, W.y)));
    expect_same(&W, got, want, "dC/dw == w mean(x^2) - mean(x y)");
    cr_expect_neq(dag_node(c, got)->level, GP_LV_SAMPLE, "a dataset derivative has no bare per-sample part");
    world_free(&W);
}

Test(derive, sum_loss_with_static_penalty)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id r = gp_sub(c, gp_add2(c, gp_mul2(c, W.w, W.x), W.b), W.y);
    gp_id pen = gp_mul2(c, W.lam, gp_add2(c, gp_pow_si(c, W.w, 2, 1), gp_pow_si(c, W.v, 2, 1)));
    gp_id C = gp_add2(c, gp_reduce(c, GP_OP_SUMS, gp_pow_si(c, r, 2, 1)), pen);
    gp_id wrt[4] = {W.w, W.b, W.v, W.lam}, out[4];
    cr_assert_eq(derive_grad(c, C, 4, wrt, out), GP_OK);
    gp_id two = num(c, 2, 1);
    expect_same(&W, out[0],
                gp_add2(c, gp_mul2(c, two, gp_reduce(c, GP_OP_SUMS, gp_mul2(c, r, W.x))),
                        gp_mul(c, 3, (gp_id[]){two, W.lam, W.w})),
                "dC/dw");
    expect_same(&W, out[1], gp_mul2(c, two, gp_reduce(c, GP_OP_SUMS, r)), "dC/db");
    expect_same(&W, out[2], gp_mul(c, 3, (gp_id[]){two, W.lam, W.v}), "dC/dv (penalty only)");
    expect_same(&W, out[3], gp_add2(c, gp_pow_si(c, W.w, 2, 1), gp_pow_si(c, W.v, 2, 1)), "dC/dlambda");
    world_free(&W);
}

Test(derive, nonlinear_mean_loss)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id u = gp_mul2(c, W.w, W.x);
    gp_id C = gp_reduce(c, GP_OP_MEAN, gp_sub(c, gp_call(c, GP_FN_SOFTPLUS, u), gp_mul2(c, W.y, u)));
    gp_id want = gp_reduce(c, GP_OP_MEAN, gp_mul2(c, gp_sub(c, gp_call(c, GP_FN_SIGMOID, u), W.y), W.x));
    expect_same(&W, d1(c, C, W.w), want, "d mean(softplus(wx) - y w x)/dw");
    world_free(&W);
}

Test(derive, product_of_two_reductions)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id m1 = gp_reduce(c, GP_OP_MEAN, gp_mul2(c, W.w, W.x));
    gp_id inner = gp_add2(c, gp_mul2(c, W.v, W.y), gp_mul2(c, W.w, gp_pow_si(c, W.x, 2, 1)));
    gp_id m2 = gp_reduce(c, GP_OP_MEAN, inner);
    gp_id C = gp_mul2(c, m1, gp_call(c, GP_FN_EXP, m2));
    gp_id e = gp_call(c, GP_FN_EXP, m2);
    gp_id mx = gp_reduce(c, GP_OP_MEAN, W.x), mx2 = gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, W.x, 2, 1));
    gp_id my = gp_reduce(c, GP_OP_MEAN, W.y);
    gp_id wrt[2] = {W.w, W.v}, out[2];
    cr_assert_eq(derive_grad(c, C, 2, wrt, out), GP_OK);
    expect_same(&W, out[0], gp_add2(c, gp_mul2(c, mx, e), gp_mul(c, 3, (gp_id[]){m1, e, mx2})), "dC/dw");
    expect_same(&W, out[1], gp_mul(c, 3, (gp_id[]){m1, e, my}), "dC/dv");
    world_free(&W);
}

Test(derive, static_node_inside_and_outside_a_reduction)
{
    /* t = tanh(w) is reached from inside mean(...) (through the per-sample
       sweep's boundary) and from the dataset level: both contributions meet */
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id t = gp_call(c, GP_FN_TANH, W.w);
    gp_id inner = gp_mul2(c, gp_add2(c, t, W.v), W.x);
    gp_id C = gp_add2(c, gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, inner, 2, 1)), t);
    gp_id dt = gp_sub(c, num(c, 1, 1), gp_pow_si(c, t, 2, 1));
    gp_id two = num(c, 2, 1);
    gp_id m = gp_reduce(c, GP_OP_MEAN, gp_mul(c, 3, (gp_id[]){two, inner, W.x}));
    gp_id wrt[2] = {W.w, W.v}, out[2];
    cr_assert_eq(derive_grad(c, C, 2, wrt, out), GP_OK);
    expect_same(&W, out[0], gp_mul2(c, dt, gp_add2(c, m, num(c, 1, 1))), "dC/dw");
    expect_same(&W, out[1], m, "dC/dv");
    world_free(&W);
}

/* ---- what is held, what is not reached, what is refused ---- */

Test(derive, wrt_outside_the_cone_is_zero)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id f = gp_call(c, GP_FN_TANH, gp_mul2(c, W.w, W.x));
    cr_expect(dag_is_zero(c, d1(c, f, W.v)), "per-sample f, v not in it");
    gp_id C = gp_reduce(c, GP_OP_MEAN, f);
    cr_expect(dag_is_zero(c, d1(c, C, W.b)), "dataset C, b not in it");
    cr_expect(dag_is_zero(c, d1(c, W.w, W.v)), "dw/dv");
    cr_expect(dag_is_one(c, d1(c, W.w, W.w)), "dw/dw");
    world_free(&W);
}

Test(derive, wrt_a_named_intermediate_holds_it_fixed)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id z = gp_mul2(c, W.w, W.x);
    gp_name nm = {"z", 0, {0}};
    cr_assert_eq(dag_set_label(c, z, &nm), 1);
    gp_id f = gp_add2(c, gp_pow_si(c, z, 2, 1), W.w);
    gp_id two = num(c, 2, 1);
    expect_same(&W, d1(c, f, z), gp_mul2(c, two, z), "df/dz");
    expect_same(&W, d1(c, f, W.w), gp_add2(c, gp_mul(c, 3, (gp_id[]){two, z, W.x}), num(c, 1, 1)),
                "df/dw through z");
    gp_id wrt[2] = {W.w, z}, out[2];
    cr_assert_eq(derive_grad(c, f, 2, wrt, out), GP_OK);
    cr_expect(dag_is_one(c, out[0]), "with z held, df/dw is only the direct term");
    expect_same(&W, out[1], gp_mul2(c, two, z), "df/dz (held together with w)");
    world_free(&W);
}

Test(derive, misuse_is_an_internal_error_not_a_crash)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id C = gp_reduce(c, GP_OP_MEAN, gp_mul2(c, W.w, W.x));
    gp_id out = GP_NIL;
    cr_expect_eq(derive_grad(c, C, 1, &W.x, &out), GP_EINTERNAL, "a dataset value by a per-sample input");
    cr_expect_eq(derive_grad(c, GP_NIL, 1, &W.w, &out), GP_EINTERNAL, "a NIL function");
    world_free(&W);
}

/* ---- factoring the sum of contributions ---- */

Test(derive, common_factor_is_pulled_out_without_assumptions)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    /* f = w v x + w v y: the contributions to w are v x and v y */
    gp_id f = gp_add2(c, gp_mul(c, 3, (gp_id[]){W.w, W.v, W.x}), gp_mul(c, 3, (gp_id[]){W.w, W.v, W.y}));
    size_t before = c->nassume;
    gp_id d = d1(c, f, W.w);
    cr_expect_eq(c->nassume, before, "an exact cancellation records no nonzero assumption");
    expect_same(&W, d, gp_mul2(c, W.v, gp_add2(c, W.x, W.y)), "df/dw");
    /* and it must stay defined where the common factor is zero */
    world_point(&W, 0);
    ev_set_all(&W.E, W.v, 0, 1);
    cr_expect(ev_same(&W.E, d, num(c, 0, 1), "df/dw at v = 0"));
    world_free(&W);
}

Test(derive, common_factor_of_long_products_stays_defined_at_zero)
{
    /* the contributions to s are g*a1*...*a16 and g*b1*...*b16: products too
       long to be flattened, so dividing them by the common factor g does not
       cancel and leaves g^-1 behind, undefined at g = 0 where f is smooth */
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    enum { K = SIMPLIFY_FLAT };
    static char names[2][K][8];
    gp_id a[K + 2], bb[K + 2];
    gp_id s = gp_call(c, GP_FN_SIN, W.w);
    gp_id g = W.v;
    for (int i = 0; i < K; i++) {
        snprintf(names[0][i], 8, "a%d", i);
        snprintf(names[1][i], 8, "b%d", i);
        a[i] = mkleaf(c, GP_LEAF_PARAM, names[0][i]);
        bb[i] = mkleaf(c, GP_LEAF_PARAM, names[1][i]);
    }
    a[K] = bb[K] = s;
    a[K + 1] = bb[K + 1] = g;
    gp_id f = gp_add2(c, gp_mul(c, K + 2, a), gp_mul(c, K + 2, bb));
    gp_id d = d1(c, f, W.w);
    ev E;
    ev_init(&E, c, 1);
    for (uint32_t li = 0; li < E.nleaf; li++)
        mpq_set_si(E.lv[li], (long)li + 2, 1);
    ev_set_all(&E, g, 0, 1);
    mpq_t val[1];
    mpq_init(val[0]);
    cr_expect(ev_eval(&E, d, val), "df/dw is undefined at g = 0 (a g^-1 survived the factoring)");
    cr_expect(ev_eval(&E, d, val) && mpq_sgn(val[0]) == 0, "df/dw at g = 0 is 0");
    mpq_clear(val[0]);
    ev_free(&E);
    world_free(&W);
}

/* ---- a long chain: iterative, linear in size, exact ---- */

static size_t deep_n(void)
{
    const char *s = getenv("GP_DEEP_N");
    long n = s ? atol(s) : 0;
    return n > 0 ? (size_t)n : 100000;
}

/* z0 = w; z_k = z_{k-1} a + x, each z_k labelled; returns z_n */
static gp_id chain(gp_ctx *c, gp_id w, gp_id a, gp_id x, size_t n)
{
    gp_id z = w;
    for (size_t k = 1; k <= n; k++) {
        z = gp_add2(c, gp_mul2(c, z, a), x);
        gp_name nm = {"z", 1, {(int32_t)k}};
        cr_assert_neq(z, GP_NIL, "link %zu", k);
        dag_set_label(c, z, &nm);
    }
    return z;
}

/* forward mode in the test: dz_n/da and dz_n/dw for rational a, w, x */
static void chain_reference(mpq_t dzda, mpq_t dzdw, mpq_srcptr a, mpq_srcptr w, mpq_srcptr x, size_t n)
{
    mpq_t z, t;
    mpq_init(z);
    mpq_init(t);
    mpq_set(z, w);
    mpq_set_ui(dzda, 0, 1);
    mpq_set_ui(dzdw, 1, 1);
    for (size_t k = 1; k <= n; k++) {
        mpq_mul(dzda, dzda, a);
        mpq_add(dzda, dzda, z); /* d(z a)/da = z' a + z */
        mpq_mul(dzdw, dzdw, a);
        mpq_mul(t, z, a);
        mpq_add(z, t, x);
    }
    mpq_clear(z);
    mpq_clear(t);
}

/* Returns the CPU seconds derive_grad took. */
static double check_chain(size_t n, long an, unsigned long ad, int check_size)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = mkleaf(c, GP_LEAF_PARAM, "w"), a = mkleaf(c, GP_LEAF_PARAM, "a");
    gp_id x = mkleaf(c, GP_LEAF_INPUT, "x");
    gp_id f = chain(c, w, a, x, n);
    size_t nforward = c->nnode;
    unsigned char *mark = calloc(c->nnode, 1);
    size_t cone = dag_reach(c, 1, &f, mark);
    free(mark);
    gp_id wrt[2] = {a, w}, out[2];
    clock_t t0 = clock();
    cr_assert_eq(derive_grad(c, f, 2, wrt, out), GP_OK, "chain of %zu", n);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (check_size) {
        size_t grown = c->nnode - nforward;
        mark = calloc(c->nnode, 1);
        size_t gcone = dag_reach(c, 2, out, mark);
        free(mark);
        cr_expect_leq(grown, 8 * cone, "derivative added %zu nodes to a forward cone of %zu", grown, cone);
        cr_expect_leq(gcone, 8 * cone, "the gradient reaches %zu nodes, the forward cone is %zu", gcone, cone);
    }
    ev E;
    ev_init(&E, c, 1);
    ev_set_all(&E, a, an, ad);
    ev_set_all(&E, w, 2, 1);
    ev_set_all(&E, x, 3, 1);
    mpq_t ra, rw, got[1];
    mpq_init(ra);
    mpq_init(rw);
    mpq_init(got[0]);
    chain_reference(ra, rw, E.lv[c->node[a].pay], E.lv[c->node[w].pay], E.lv[c->node[x].pay], n);
    cr_assert(ev_eval(&E, out[0], got));
    cr_expect(mpq_equal(got[0], ra), "dz_%zu/da at a = %ld/%lu", n, an, ad);
    cr_assert(ev_eval(&E, out[1], got));
    cr_expect(mpq_equal(got[0], rw), "dz_%zu/dw at a = %ld/%lu", n, an, ad);
    mpq_clear(ra);
    mpq_clear(rw);
    mpq_clear(got[0]);
    ev_free(&E);
    gp_ctx_free(c);
    return secs;
}

Test(derive, short_chain_matches_forward_mode)
{
    check_chain(1, -2, 3, 0);
    check_chain(2, -2, 3, 0);
    check_chain(40, -2, 3, 0);
    check_chain(40, 5, 1, 0);
}

/* GP_DEEP_N (default 100000) sets the length, as for the other deep tests.
   The time of a chain four times shorter, in the same run, is the yardstick:
   linear work takes about 4 times as long; 16 times means something grows
   faster (a degenerate intern table took 150 times as long, about 55 s). */
Test(derive, long_chain_is_iterative_linear_and_exact, .timeout = 20)
{
    size_t n = deep_n();
    double quarter = check_chain(n / 4, -1, 1, 1);
    double full = check_chain(n, -1, 1, 1);
    if (full > 0.2)
        cr_expect_leq(full, 16 * quarter + 0.05, "derive took %.2fs for %zu links but %.2fs for %zu", full, n, quarter,
                      n / 4);
}

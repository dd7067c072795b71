/*
 * test_eval_mpfr.c -- the MPFR evaluator against exact references.
 *
 * References are decimal strings with more digits than the precision needs
 * (rounded to nearest by mpfr_set_str), exact rationals, or MPFR's own
 * correctly rounded functions.  Outputs are poisoned (NaN) before each call
 * so a value that is never written shows.  Faults must name the node, the
 * reason and the sample; MPFR's flags must be as the caller left them.
 */
#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "ctx.h"
#include "dag.h"
#include "eval_mpfr.h"
#include "simplify.h"

/* A new leaf; returns its leaf index. */
static long mkleaf(gp_ctx *c, gp_leaf_kind kind, const char *name, gp_id value)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    long li = dag_leaf(c, kind, &nm, value);
    cr_assert(li >= 0);
    return li;
}

static gp_id node_of(gp_ctx *c, long li) { return c->leaf[li].node; }

/* Evaluate one root; asserts GP_OK. */
static void eval1(mpfr_t out, gp_ctx *c, const eval_env *env, long sample, gp_id root, mpfr_prec_t prec,
                  eval_fault *f)
{
    mpfr_set_nan(out); /* poison */
    gp_status st = eval_mpfr((mpfr_t *)out, c, env, sample, 1, &root, prec, f);
    cr_assert_eq(st, GP_OK, "eval_mpfr returned %d", (int)st);
}

static void assert_equal(mpfr_srcptr got, mpfr_srcptr want, const char *what)
{
    if (!mpfr_equal_p(got, want)) {
        char *g = NULL, *w = NULL;
        mpfr_asprintf(&g, "%.80Rg", got);
        mpfr_asprintf(&w, "%.80Rg", want);
        cr_assert_fail("%s: got %s, want %s", what, g, w);
    }
}

Test(eval_mpfr, exp_one_to_256_bits_matches_decimal_reference)
{
    gp_ctx *c = gp_ctx_new();
    gp_id one = dag_num_si(c, 1, 1);
    gp_id e1 = gp_call(c, GP_FN_EXP, one);
    mpfr_t got, want;
    mpfr_init2(got, 256);
    mpfr_init2(want, 256);
    eval_fault f;
    eval1(got, c, NULL, -1, e1, 256, &f);
    /* 120 significant digits of e: far more than 256 bits (~77 digits) */
    mpfr_set_str(want,
                 "2.71828182845904523536028747135266249775724709369995957496696762772407663035354759457138"
                 "21785251664274274663919320030599218",
                 10, MPFR_RNDN);
    assert_equal(got, want, "exp(1)");
    cr_assert_eq(f.node, GP_NIL);
    cr_assert_null(f.what);
    mpfr_clear(got);
    mpfr_clear(want);
    gp_ctx_free(c);
}

Test(eval_mpfr, sigmoid_of_zero_is_one_half_exactly)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id s = gp_call(c, GP_FN_SIGMOID, node_of(c, w));
    gp_id z = dag_num_si(c, 0, 1);
    gp_id s0 = dag_intern(c, GP_OP_FN, GP_FN_SIGMOID, 1, &z); /* unfolded */
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]); /* w = 0 */
    eval_env env = {.leafq = q};
    mpfr_t got, half;
    mpfr_init2(got, 113);
    mpfr_init2(half, 113);
    mpfr_set_d(half, 0.5, MPFR_RNDN);
    eval1(got, c, &env, -1, s, 113, NULL);
    assert_equal(got, half, "sigmoid(w) at w = 0");
    eval1(got, c, &env, -1, s0, 113, NULL);
    assert_equal(got, half, "sigmoid(0)");
    /* and sigmoid(-x) = 1 - sigmoid(x) away from 0, both branches */
    mpq_set_si(q[w], -7, 2);
    mpfr_t a, b;
    mpfr_init2(a, 200);
    mpfr_init2(b, 200);
    eval1(a, c, &env, -1, s, 200, NULL);
    mpq_set_si(q[w], 7, 2);
    eval1(b, c, &env, -1, s, 200, NULL);
    mpfr_add(a, a, b, MPFR_RNDN);
    mpfr_sub_ui(a, a, 1, MPFR_RNDN);
    mpfr_abs(a, a, MPFR_RNDN);
    cr_assert(mpfr_cmp_ui_2exp(a, 1, -195) <= 0, "sigmoid(-3.5) + sigmoid(3.5) - 1 is not tiny");
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(a);
    mpfr_clear(b);
    mpfr_clear(got);
    mpfr_clear(half);
    gp_ctx_free(c);
}

Test(eval_mpfr, rational_powers_match_mpfr_roots)
{
    gp_ctx *c = gp_ctx_new();
    gp_id two = dag_num_si(c, 2, 1);
    gp_id r2 = gp_pow_si(c, two, 1, 2);
    gp_id r32 = gp_pow_si(c, two, 3, 2);
    gp_id r13 = gp_pow_si(c, two, 1, 3);
    gp_id rm12 = gp_pow_si(c, two, -1, 2);
    cr_assert_eq(c->node[r2].op, GP_OP_POW);
    mpfr_t got, want;
    mpfr_init2(got, 256);
    mpfr_init2(want, 256);
    eval1(got, c, NULL, -1, r2, 256, NULL);
    mpfr_sqrt_ui(want, 2, MPFR_RNDN);
    assert_equal(got, want, "2^(1/2)");
    eval1(got, c, NULL, -1, r32, 256, NULL);
    mpfr_set_ui(want, 8, MPFR_RNDN);
    mpfr_sqrt(want, want, MPFR_RNDN); /* sqrt(8), correctly rounded */
    assert_equal(got, want, "2^(3/2)");
    eval1(got, c, NULL, -1, r13, 256, NULL);
    mpfr_set_ui(want, 2, MPFR_RNDN);
    mpfr_cbrt(want, want, MPFR_RNDN);
    assert_equal(got, want, "2^(1/3)");
    eval1(got, c, NULL, -1, rm12, 256, NULL);
    mpfr_set_ui(want, 2, MPFR_RNDN);
    mpfr_rec_sqrt(want, want, MPFR_RNDN);
    assert_equal(got, want, "2^(-1/2)");
    mpfr_clear(got);
    mpfr_clear(want);
    gp_ctx_free(c);
}

Test(eval_mpfr, exact_rational_point_gives_exact_polynomial_value)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    long a = mkleaf(c, GP_LEAF_CONST, "a", dag_num_si(c, 3, 10));
    /* (w + 1/3)^2 * a at w = 1/6: (1/2)^2 * 3/10 = 3/40 */
    gp_id f = gp_mul2(c, gp_pow_si(c, gp_add2(c, node_of(c, w), dag_num_si(c, 1, 3)), 2, 1), node_of(c, a));
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    for (size_t i = 0; i < c->nleaf; i++)
        mpq_init(q[i]);
    mpq_set_si(q[w], 1, 6);
    eval_env env = {.leafq = q};
    mpfr_t got, want;
    mpfr_init2(got, 256);
    mpfr_init2(want, 256);
    mpq_t ref;
    mpq_init(ref);
    mpq_set_si(ref, 3, 40);
    mpfr_set_q(want, ref, MPFR_RNDN);
    eval1(got, c, &env, -1, f, 256, NULL);
    assert_equal(got, want, "(w + 1/3)^2 a");
    mpq_clear(ref);
    for (size_t i = 0; i < c->nleaf; i++)
        mpq_clear(q[i]);
    free(q);
    mpfr_clear(got);
    mpfr_clear(want);
    gp_ctx_free(c);
}

/* A context with param w = 1/2, input x and a 3-row table. */
typedef struct table3 {
    gp_ctx *c;
    long w, x;
    mpq_t *leafq;
    mpq_t dval[3];
    uint32_t col[1];
    eval_env env;
} table3;

static void table3_init(table3 *t, long x0, long x1, long x2)
{
    t->c = gp_ctx_new();
    t->w = mkleaf(t->c, GP_LEAF_PARAM, "w", GP_NIL);
    t->x = mkleaf(t->c, GP_LEAF_INPUT, "x", GP_NIL);
    t->leafq = calloc(t->c->nleaf, sizeof *t->leafq);
    for (size_t i = 0; i < t->c->nleaf; i++)
        mpq_init(t->leafq[i]);
    mpq_set_si(t->leafq[t->w], 1, 2); /* exact in binary: rows are exact */
    long xs[3] = {x0, x1, x2};
    for (int i = 0; i < 3; i++) {
        mpq_init(t->dval[i]);
        mpq_set_si(t->dval[i], xs[i], 1);
    }
    t->col[0] = (uint32_t)t->x;
    memset(&t->env, 0, sizeof t->env);
    t->env.leafq = t->leafq;
    t->env.nsamples = 3;
    t->env.ncols = 1;
    t->env.col_leaf = t->col;
    t->env.qcols = t->dval;
}

static void table3_free(table3 *t)
{
    for (size_t i = 0; i < t->c->nleaf; i++)
        mpq_clear(t->leafq[i]);
    free(t->leafq);
    for (int i = 0; i < 3; i++)
        mpq_clear(t->dval[i]);
    gp_ctx_free(t->c);
}

Test(eval_mpfr, mean_over_three_samples_and_the_row_asked_for)
{
    table3 t;
    table3_init(&t, 1, 2, 4);
    gp_ctx *c = t.c;
    gp_id wx = gp_mul2(c, node_of(c, t.w), node_of(c, t.x));
    /* the reduction built raw, so its argument wx is shared with the
       per-sample root: the row loop must not clobber row 1's value */
    gp_id m = dag_intern(c, GP_OP_MEAN, 0, 1, &wx);
    gp_id s = dag_intern(c, GP_OP_SUMS, 0, 1, &wx);
    gp_id both = gp_add2(c, m, s);
    gp_id roots[4] = {wx, m, s, both};
    mpfr_t out[4], want;
    for (int i = 0; i < 4; i++) {
        mpfr_init2(out[i], 256);
        mpfr_set_nan(out[i]);
    }
    mpfr_init2(want, 256);
    eval_fault f;
    cr_assert_eq(eval_mpfr(out, c, &t.env, 1, 4, roots, 256, &f), GP_OK);
    cr_assert_eq(f.node, GP_NIL);
    mpq_t q;
    mpq_init(q);
    mpq_set_si(q, 1, 1); /* w x at row 1 */
    mpfr_set_q(want, q, MPFR_RNDN);
    assert_equal(out[0], want, "w*x at row 1");
    mpq_set_si(q, 7, 6); /* (1/2)(1 + 2 + 4)/3, one rounding */
    mpfr_set_q(want, q, MPFR_RNDN);
    assert_equal(out[1], want, "mean(w*x)");
    mpq_set_si(q, 7, 2);
    mpfr_set_q(want, q, MPFR_RNDN);
    assert_equal(out[2], want, "sum(w*x)");
    mpq_set_si(q, 14, 3);
    mpfr_set_q(want, q, MPFR_RNDN);
    assert_equal(out[3], want, "mean + sum");
    /* the same through the smart constructor (w moved outside the mean) */
    gp_id m2 = gp_reduce(c, GP_OP_MEAN, wx);
    eval1(out[0], c, &t.env, -1, m2, 256, NULL);
    mpq_set_si(q, 7, 6);
    mpfr_set_q(want, q, MPFR_RNDN);
    assert_equal(out[0], want, "w*mean(x)");
    mpq_clear(q);
    for (int i = 0; i < 4; i++)
        mpfr_clear(out[i]);
    mpfr_clear(want);
    table3_free(&t);
}

Test(eval_mpfr, mpfr_data_columns_are_read_like_exact_ones)
{
    table3 t;
    table3_init(&t, 1, 2, 4);
    gp_ctx *c = t.c;
    mpfr_t cols[3], lv[2];
    for (int i = 0; i < 3; i++) {
        mpfr_init2(cols[i], 64);
        mpfr_set_q(cols[i], t.dval[i], MPFR_RNDN);
    }
    for (int i = 0; i < 2; i++)
        mpfr_init2(lv[i], 64);
    mpfr_set_ui(lv[t.w], 3, MPFR_RNDN);
    t.env.cols = (const mpfr_t *)cols;
    t.env.leafval = (const mpfr_t *)lv;
    gp_id m = gp_reduce(c, GP_OP_SUMS, gp_pow_si(c, gp_mul2(c, node_of(c, t.w), node_of(c, t.x)), 2, 1));
    mpfr_t got;
    mpfr_init2(got, 64);
    eval1(got, c, &t.env, -1, m, 64, NULL);
    cr_assert_eq(mpfr_cmp_ui(got, 9 * (1 + 4 + 16)), 0); /* sum (3x)^2 */
    mpfr_clear(got);
    for (int i = 0; i < 3; i++)
        mpfr_clear(cols[i]);
    for (int i = 0; i < 2; i++)
        mpfr_clear(lv[i]);
    table3_free(&t);
}

Test(eval_mpfr, log_of_negative_names_the_node)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id lg = gp_call(c, GP_FN_LOG, node_of(c, w));
    gp_id f = gp_add2(c, gp_mul2(c, lg, lg), dag_num_si(c, 1, 1)); /* NaN propagates above */
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    mpq_set_si(q[w], -1, 1);
    eval_env env = {.leafq = q};
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault fl;
    eval1(got, c, &env, -1, f, 64, &fl);
    cr_assert(mpfr_nan_p(got));
    cr_assert_eq(fl.node, lg, "fault at node %u, want the log node %u", fl.node, lg);
    cr_assert_str_eq(fl.what, "log of a negative number");
    cr_assert_eq(fl.sample, -1);
    mpq_set_si(q[w], 0, 1);
    eval1(got, c, &env, -1, lg, 64, &fl);
    cr_assert(mpfr_inf_p(got) && mpfr_sgn(got) < 0);
    cr_assert_eq(fl.node, lg);
    cr_assert_str_eq(fl.what, "log of zero");
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(got);
    gp_ctx_free(c);
}

Test(eval_mpfr, fault_below_a_reduction_names_the_sample)
{
    table3 t;
    table3_init(&t, 1, -2, 3);
    gp_ctx *c = t.c;
    gp_id lg = gp_call(c, GP_FN_LOG, node_of(c, t.x));
    gp_id m = gp_reduce(c, GP_OP_MEAN, lg);
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault f;
    eval1(got, c, &t.env, -1, m, 64, &f);
    cr_assert(mpfr_nan_p(got));
    cr_assert_eq(f.node, lg);
    cr_assert_str_eq(f.what, "log of a negative number");
    cr_assert_eq(f.sample, 1);
    mpfr_clear(got);
    table3_free(&t);
}

Test(eval_mpfr, division_by_zero_and_negative_base)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id inv = gp_div(c, dag_num_si(c, 1, 1), node_of(c, w));
    gp_id rt = gp_pow_si(c, node_of(c, w), 1, 2);
    gp_id rt3 = gp_pow_si(c, node_of(c, w), 1, 3);
    gp_id rtm = gp_pow_si(c, node_of(c, w), -3, 2);
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    eval_env env = {.leafq = q};
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault f;
    eval1(got, c, &env, -1, inv, 64, &f); /* w = 0 */
    cr_assert(mpfr_inf_p(got));
    cr_assert_eq(f.node, inv);
    cr_assert_str_eq(f.what, "division by zero");
    eval1(got, c, &env, -1, rtm, 64, &f);
    cr_assert(mpfr_inf_p(got));
    cr_assert_eq(f.node, rtm);
    cr_assert_str_eq(f.what, "division by zero");
    eval1(got, c, &env, -1, rt, 64, &f);
    cr_assert(mpfr_zero_p(got));
    cr_assert_eq(f.node, GP_NIL);
    mpq_set_si(q[w], -8, 1);
    eval1(got, c, &env, -1, rt, 64, &f);
    cr_assert(mpfr_nan_p(got));
    cr_assert_eq(f.node, rt);
    cr_assert_str_eq(f.what, "square root of a negative number");
    eval1(got, c, &env, -1, rt3, 64, &f); /* no real odd roots either */
    cr_assert_eq(f.node, rt3);
    cr_assert_str_eq(f.what, "non-integer power of a negative number");
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(got);
    gp_ctx_free(c);
}

/* exp(1e6) = 2^1442695.04...: far inside MPFR's default exponent range
   (2^(2^30 - 1)), so it is a value, not a fault.  exp(1e10) is not. */
Test(eval_mpfr, overflow_and_underflow_are_seen_through_the_flags)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id ex = gp_call(c, GP_FN_EXP, node_of(c, w));
    gp_id sg = gp_call(c, GP_FN_SIGMOID, node_of(c, w));
    gp_id sp = gp_call(c, GP_FN_SOFTPLUS, node_of(c, w));
    gp_id f = gp_mul2(c, ex, dag_num_si(c, 3, 1));
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    mpq_set_si(q[w], 1000000, 1);
    eval_env env = {.leafq = q};
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault fl;
    eval1(got, c, &env, -1, ex, 64, &fl);
    cr_assert(mpfr_number_p(got));
    cr_assert_eq(mpfr_get_exp(got), 1442696);
    cr_assert_eq(fl.node, GP_NIL);
    mpq_set_si(q[w], 10000000000L, 1);
    eval1(got, c, &env, -1, f, 64, &fl);
    cr_assert(mpfr_inf_p(got));
    cr_assert_eq(fl.node, ex, "fault at node %u, want exp %u", fl.node, ex);
    cr_assert_str_eq(fl.what, "overflow");
    /* the stable forms do not overflow for huge |w| ... */
    eval1(got, c, &env, -1, sg, 64, &fl);
    cr_assert_eq(mpfr_cmp_ui(got, 1), 0);
    cr_assert_eq(fl.node, GP_NIL, "sigmoid(1e10): %s", fl.what ? fl.what : "");
    eval1(got, c, &env, -1, sp, 64, &fl);
    cr_assert_eq(mpfr_cmp_ui(got, 10000000000UL), 0);
    cr_assert_eq(fl.node, GP_NIL, "softplus(1e10): %s", fl.what ? fl.what : "");
    /* ... but their true value underflows for huge negative w */
    mpq_set_si(q[w], -10000000000L, 1);
    eval1(got, c, &env, -1, sg, 64, &fl);
    cr_assert(mpfr_zero_p(got));
    cr_assert_eq(fl.node, sg);
    cr_assert_str_eq(fl.what, "underflow");
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(got);
    gp_ctx_free(c);
}

Test(eval_mpfr, caller_flags_are_restored)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id ex = gp_call(c, GP_FN_EXP, node_of(c, w));
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    mpq_set_si(q[w], 10000000000L, 1);
    eval_env env = {.leafq = q};
    mpfr_t got;
    mpfr_init2(got, 64);
    mpfr_clear_flags();
    cr_assert_eq(eval_mpfr(&got, c, &env, -1, 1, &ex, 64, NULL), GP_OK); /* overflows inside */
    cr_assert_eq(mpfr_flags_save(), 0, "flags leaked: %x", (unsigned)mpfr_flags_save());
    mpfr_set_divby0();
    mpfr_set_erangeflag();
    cr_assert_eq(eval_mpfr(&got, c, &env, -1, 1, &ex, 64, NULL), GP_OK);
    cr_assert_eq(mpfr_flags_save(), MPFR_FLAGS_DIVBY0 | MPFR_FLAGS_ERANGE);
    mpfr_clear_flags();
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(got);
    gp_ctx_free(c);
}

Test(eval_mpfr, reduction_over_no_samples_is_a_fault)
{
    table3 t;
    table3_init(&t, 1, 2, 3);
    t.env.nsamples = 0;
    gp_id m = gp_reduce(t.c, GP_OP_MEAN, node_of(t.c, t.x));
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault f;
    eval1(got, t.c, &t.env, -1, m, 64, &f);
    cr_assert(mpfr_nan_p(got));
    cr_assert_eq(f.node, m);
    cr_assert_str_eq(f.what, "no samples");
    mpfr_clear(got);
    table3_free(&t);
}

Test(eval_mpfr, kinks_take_their_documented_values)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id u = node_of(c, w);
    gp_id r[4] = {gp_call(c, GP_FN_RELU, u), gp_call(c, GP_FN_ABS, u), gp_call(c, GP_FN_STEP, u),
                  gp_call(c, GP_FN_SIGN, u)};
    static const long at[3] = {-3, 0, 5};
    static const long want[3][4] = {{0, 3, 0, -1}, {0, 0, 0, 0}, {5, 5, 1, 1}};
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    eval_env env = {.leafq = q};
    mpfr_t out[4];
    for (int i = 0; i < 4; i++)
        mpfr_init2(out[i], 32);
    for (int k = 0; k < 3; k++) {
        mpq_set_si(q[w], at[k], 1);
        cr_assert_eq(eval_mpfr(out, c, &env, -1, 4, r, 32, NULL), GP_OK);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(mpfr_cmp_si(out[i], want[k][i]), 0, "%s(%ld) = %g, want %ld",
                         dag_fn_name((gp_fn)c->node[r[i]].fn), at[k], mpfr_get_d(out[i], MPFR_RNDN),
                         want[k][i]);
    }
    for (int i = 0; i < 4; i++)
        mpfr_clear(out[i]);
    mpq_clear(q[w]);
    free(q);
    gp_ctx_free(c);
}

Test(eval_mpfr, softplus_keeps_relative_accuracy_far_left)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id sp = gp_call(c, GP_FN_SOFTPLUS, node_of(c, w));
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    mpq_set_si(q[w], -200, 1);
    eval_env env = {.leafq = q};
    mpfr_t got, want;
    mpfr_init2(got, 128);
    mpfr_init2(want, 1000); /* log1p(exp(-200)) the plain way, with digits to spare */
    eval1(got, c, &env, -1, sp, 128, NULL);
    mpfr_set_si(want, -200, MPFR_RNDN);
    mpfr_exp(want, want, MPFR_RNDN);
    mpfr_log1p(want, want, MPFR_RNDN);
    mpfr_prec_round(want, 128, MPFR_RNDN);
    assert_equal(got, want, "softplus(-200)");
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(got);
    mpfr_clear(want);
    gp_ctx_free(c);
}

Test(eval_mpfr, contract_violations_are_internal_errors)
{
    table3 t;
    table3_init(&t, 1, 2, 3);
    gp_ctx *c = t.c;
    gp_id wx = gp_mul2(c, node_of(c, t.w), node_of(c, t.x));
    gp_id nested = dag_intern(c, GP_OP_MEAN, 0, 1, &wx);
    nested = dag_intern(c, GP_OP_MEAN, 0, 1, &nested);
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault f;
    gp_id nil = GP_NIL;
    cr_assert_eq(eval_mpfr(&got, c, &t.env, 0, 1, &nil, 64, &f), GP_EINTERNAL);
    cr_assert_eq(eval_mpfr(&got, c, &t.env, -1, 1, &wx, 64, &f), GP_EINTERNAL); /* no row */
    cr_assert_eq(eval_mpfr(&got, c, &t.env, 3, 1, &wx, 64, &f), GP_EINTERNAL);
    cr_assert_eq(eval_mpfr(&got, c, &t.env, -1, 1, &nested, 64, &f), GP_EINTERNAL);
    eval_env noparams = t.env;
    noparams.leafq = NULL;
    cr_assert_eq(eval_mpfr(&got, c, &noparams, 0, 1, &wx, 64, &f), GP_EINTERNAL);
    cr_assert_eq(f.node, GP_NIL);
    mpfr_clear(got);
    table3_free(&t);
}

/* 10^5 nested calls: evaluation is one loop over ids, no recursion. */
Test(eval_mpfr, deep_chain_does_not_recurse)
{
    gp_ctx *c = gp_ctx_new();
    long w = mkleaf(c, GP_LEAF_PARAM, "w", GP_NIL);
    gp_id x = node_of(c, w);
    for (int i = 0; i < 100000; i++)
        x = gp_call(c, i % 2 ? GP_FN_SIN : GP_FN_TANH, x);
    cr_assert_neq(x, GP_NIL);
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    mpq_init(q[w]);
    mpq_set_si(q[w], 1, 2);
    eval_env env = {.leafq = q};
    mpfr_t got;
    mpfr_init2(got, 53);
    eval_fault f;
    eval1(got, c, &env, -1, x, 53, &f);
    cr_assert(mpfr_number_p(got) && mpfr_sgn(got) > 0 && mpfr_cmp_d(got, 0.1) < 0);
    cr_assert_eq(f.node, GP_NIL);
    mpq_clear(q[w]);
    free(q);
    mpfr_clear(got);
    gp_ctx_free(c);
}

/* Found by the derive property test (seed 4, DAG 13898): sin(exp(exp(20)))
   asks MPFR to reduce 2^(7e8) modulo 2 pi, which does not finish.  Beyond
   2^65536 it is a fault instead. */
Test(eval_mpfr, huge_trig_argument_is_a_fault_not_a_hang, .timeout = 10)
{
    gp_ctx *c = gp_ctx_new();
    gp_id big = gp_call(c, GP_FN_EXP, gp_call(c, GP_FN_EXP, dag_num_si(c, 20, 1)));
    gp_id s = gp_call(c, GP_FN_SIN, big);
    gp_id co = gp_call(c, GP_FN_COS, dag_num_si(c, 1000000, 1)); /* still computed */
    mpfr_t got;
    mpfr_init2(got, 64);
    eval_fault f;
    eval1(got, c, NULL, -1, s, 64, &f);
    cr_assert(mpfr_nan_p(got));
    cr_assert_eq(f.node, s);
    cr_assert_str_eq(f.what, "argument of sin or cos too large");
    eval1(got, c, NULL, -1, co, 64, &f);
    cr_assert_eq(f.node, GP_NIL);
    cr_assert(mpfr_cmp_d(got, 0.93675212753315) < 0 && mpfr_cmp_d(got, 0.93675212753314) > 0);
    mpfr_clear(got);
    gp_ctx_free(c);
}

/* eval_env_case points the table at a loaded case's exact data. */
Test(eval_mpfr, loss_of_a_loaded_case_over_its_data)
{
    static const char text[] = "input x\n"
                               "target y\n"
                               "param w\n"
                               "loss C = mean((w*x - y)^2)/2\n"
                               "data\n"
                               "x y\n"
                               "1 2\n"
                               "2 3\n"
                               "4 0.5\n"
                               "end\n";
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = NULL;
    cr_assert_eq(gp_case_load(c, "t.case", text, sizeof text - 1, &cs), GP_OK);
    cr_assert_eq(cs->nparams, 1);
    mpq_t *q = calloc(c->nleaf, sizeof *q);
    for (size_t i = 0; i < c->nleaf; i++)
        mpq_init(q[i]);
    mpq_set_si(q[cs->params[0]], 1, 2);
    eval_env env;
    memset(&env, 0, sizeof env);
    env.leafq = (const mpq_t *)q;
    eval_env_case(&env, cs);
    cr_assert_eq(env.nsamples, 3);
    mpfr_t got, want;
    mpfr_init2(got, 128);
    mpfr_init2(want, 128);
    eval1(got, c, &env, -1, cs->loss, 128, NULL);
    /* residuals 1/2 - 2, 1 - 3, 2 - 1/2: (9/4 + 4 + 9/4)/6 = 17/12 */
    mpq_t ref;
    mpq_init(ref);
    mpq_set_si(ref, 17, 12);
    mpfr_set_q(want, ref, MPFR_RNDN);
    assert_equal(got, want, "C at w = 1/2");
    mpq_clear(ref);
    for (size_t i = 0; i < c->nleaf; i++)
        mpq_clear(q[i]);
    free(q);
    mpfr_clear(got);
    mpfr_clear(want);
    gp_ctx_free(c);
}

/*
 * test_simplify.c -- the smart constructors keep the DAG canonical.
 *
 * Every expectation compares node ids (id equality is structural equality)
 * or node structure (op, children, exact rational payloads), never printed
 * text: x+y and y+x must be one node, 2*x + 3*x must be the node 5*x, and a
 * rewrite that is not an identity ((x^2)^(1/2) -> x) must not happen.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "dag.h"
#include "simplify.h"

typedef struct world {
    gp_ctx *c;
    gp_id x, y, z; /* params */
    gp_id w;       /* param, used as the static factor of a reduction */
    gp_id u;       /* input */
} world;

static gp_id leaf(gp_ctx *c, gp_leaf_kind kind, const char *name)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    long li = dag_leaf(c, kind, &nm, GP_NIL);
    cr_assert_geq(li, 0);
    return c->leaf[li].node;
}

static void world_init(world *W)
{
    W->c = gp_ctx_new();
    cr_assert_not_null(W->c);
    W->x = leaf(W->c, GP_LEAF_PARAM, "x");
    W->y = leaf(W->c, GP_LEAF_PARAM, "y");
    W->z = leaf(W->c, GP_LEAF_PARAM, "z");
    W->w = leaf(W->c, GP_LEAF_PARAM, "w");
    W->u = leaf(W->c, GP_LEAF_INPUT, "u");
}

static gp_id num(gp_ctx *c, long n, unsigned long d) { return dag_num_si(c, n, d); }

/* Is node id a NUM equal to n/d? */
static int is_q(const gp_ctx *c, gp_id id, long n, unsigned long d)
{
    return id != GP_NIL && dag_is_num(c, id) && mpq_cmp_si(dag_q(c, id), n, d) == 0;
}

static int assumed(const gp_ctx *c, gp_id id)
{
    for (size_t i = 0; i < c->nassume; i++)
        if (c->assume[i] == id)
            return 1;
    return 0;
}

static gp_id add3(gp_ctx *c, gp_id a, gp_id b, gp_id d)
{
    gp_id v[3] = {a, b, d};
    return gp_add(c, 3, v);
}

static gp_id mul3(gp_ctx *c, gp_id a, gp_id b, gp_id d)
{
    gp_id v[3] = {a, b, d};
    return gp_mul(c, 3, v);
}

/* ---- sums ---- */

Test(simplify, sum_is_commutative_and_associative)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id xy = gp_add2(c, W.x, W.y);
    cr_expect_eq(gp_add2(c, W.y, W.x), xy, "x+y == y+x");
    gp_id flat = add3(c, W.x, W.y, W.z);
    cr_expect_eq(gp_add2(c, xy, W.z), flat, "(x+y)+z == x+y+z");
    cr_expect_eq(gp_add2(c, W.x, gp_add2(c, W.y, W.z)), flat, "x+(y+z) == x+y+z");
    cr_expect_eq(add3(c, W.z, W.x, W.y), flat);
    const gp_node *n = dag_node(c, flat);
    cr_assert_eq(n->op, GP_OP_ADD);
    cr_assert_eq(n->nkid, 3, "flattened into one n-ary sum");
    cr_expect(n->kid[0] < n->kid[1] && n->kid[1] < n->kid[2], "operands sorted by id");
    gp_ctx_free(c);
}

Test(simplify, like_terms_are_collected)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id two_x = gp_mul2(c, num(c, 2, 1), W.x);
    cr_expect_eq(gp_add2(c, W.x, W.x), two_x, "x+x == 2*x");
    const gp_node *n = dag_node(c, two_x);
    cr_assert_eq(n->op, GP_OP_MUL);
    cr_assert_eq(n->nkid, 2);
    cr_expect(is_q(c, n->kid[0], 2, 1), "the number comes first");
    cr_expect_eq(n->kid[1], W.x);
    gp_id five_x = gp_mul2(c, num(c, 5, 1), W.x);
    cr_expect_eq(gp_add2(c, two_x, gp_mul2(c, num(c, 3, 1), W.x)), five_x, "2*x + 3*x == 5*x");
    gp_id xy = gp_mul2(c, W.x, W.y);
    gp_id t1 = mul3(c, num(c, 2, 1), W.x, W.y), t2 = mul3(c, W.y, num(c, 1, 3), W.x);
    cr_expect_eq(add3(c, t1, xy, t2), mul3(c, num(c, 10, 3), W.x, W.y), "2xy + xy + xy/3 == 10/3 xy");
    cr_expect_eq(gp_add2(c, gp_mul2(c, num(c, 1, 2), W.x), gp_mul2(c, num(c, 1, 2), W.x)), W.x, "x/2 + x/2 == x");
    gp_ctx_free(c);
}

Test(simplify, difference_of_equal_terms_is_zero)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect(is_q(c, gp_sub(c, W.x, W.x), 0, 1), "x - x == 0");
    gp_id e = gp_add2(c, gp_mul2(c, W.x, W.y), W.z);
    cr_expect(is_q(c, gp_sub(c, e, e), 0, 1), "(xy + z) - (xy + z) == 0");
    cr_expect_eq(gp_sub(c, add3(c, W.x, W.y, W.z), W.y), gp_add2(c, W.x, W.z), "x + y + z - y == x + z");
    cr_expect_eq(c->nassume, 0, "cancelling terms of a sum assumes nothing");
    gp_ctx_free(c);
}

Test(simplify, negated_difference_is_the_reversed_difference)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_neg(c, gp_sub(c, W.x, W.y)), gp_sub(c, W.y, W.x), "-(x - y) == y - x");
    cr_expect_eq(gp_neg(c, gp_neg(c, W.x)), W.x, "-(-x) == x");
    cr_expect_eq(gp_mul2(c, num(c, -1, 1), gp_add2(c, W.x, W.y)), gp_add2(c, gp_neg(c, W.x), gp_neg(c, W.y)),
                 "-(x + y) == -x + -y");
    gp_ctx_free(c);
}

Test(simplify, numbers_in_a_sum_fold_exactly)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect(is_q(c, gp_add2(c, num(c, 1, 3), num(c, 1, 6)), 1, 2), "1/3 + 1/6 == 1/2");
    cr_expect(is_q(c, gp_add2(c, num(c, 1, 10), num(c, 2, 10)), 3, 10), "0.1 + 0.2 == 3/10 exactly");
    gp_id s = add3(c, num(c, 1, 2), W.x, num(c, 1, 2));
    cr_expect_eq(s, gp_add2(c, W.x, num(c, 1, 1)), "1/2 + x + 1/2 == x + 1");
    const gp_node *n = dag_node(c, s);
    cr_assert_eq(n->op, GP_OP_ADD);
    cr_expect_eq(n->nkid, 2, "one folded number, not two");
    cr_expect_eq(gp_add2(c, W.x, num(c, 0, 1)), W.x, "x + 0 == x");
    cr_expect_eq(gp_add2(c, gp_add2(c, W.x, num(c, 1, 1)), num(c, -1, 1)), W.x, "(x + 1) - 1 == x");
    gp_ctx_free(c);
}

/* ---- products ---- */

Test(simplify, product_is_commutative_and_keeps_one_leading_number)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_mul2(c, W.x, W.y), gp_mul2(c, W.y, W.x));
    gp_id p = mul3(c, W.x, num(c, 2, 1), gp_mul2(c, num(c, 3, 1), W.y));
    cr_expect_eq(p, mul3(c, num(c, 6, 1), W.y, W.x));
    const gp_node *n = dag_node(c, p);
    cr_assert_eq(n->op, GP_OP_MUL);
    cr_assert_eq(n->nkid, 3);
    cr_expect(is_q(c, n->kid[0], 6, 1), "2*3 folded into one leading 6");
    cr_expect(n->kid[1] < n->kid[2]);
    cr_expect(is_q(c, gp_mul2(c, num(c, 2, 3), num(c, 3, 4)), 1, 2), "2/3 * 3/4 == 1/2");
    gp_ctx_free(c);
}

Test(simplify, multiplying_by_zero_or_one)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect(is_q(c, gp_mul2(c, num(c, 0, 1), W.x), 0, 1), "0*x == 0");
    cr_expect(is_q(c, mul3(c, W.x, W.y, num(c, 0, 1)), 0, 1), "x*y*0 == 0");
    cr_expect_eq(gp_mul2(c, num(c, 1, 1), W.x), W.x, "1*x == x");
    cr_expect_eq(gp_mul2(c, gp_mul2(c, num(c, 2, 1), W.x), num(c, 1, 2)), W.x, "(2x)/2 == x");
    gp_ctx_free(c);
}

Test(simplify, equal_factors_become_a_power)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id x2 = gp_mul2(c, W.x, W.x);
    cr_expect_eq(x2, gp_pow_si(c, W.x, 2, 1), "x*x == x^2");
    const gp_node *n = dag_node(c, x2);
    cr_assert_eq(n->op, GP_OP_POW);
    cr_expect_eq(n->kid[0], W.x);
    cr_expect(is_q(c, n->kid[1], 2, 1));
    cr_expect_eq(gp_mul2(c, x2, W.x), gp_pow_si(c, W.x, 3, 1), "x^2 * x == x^3");
    cr_expect_eq(mul3(c, W.x, W.y, W.x), gp_mul2(c, gp_pow_si(c, W.x, 2, 1), W.y), "x*y*x == x^2*y");
    cr_expect_eq(gp_mul2(c, gp_pow_si(c, W.x, 1, 2), gp_pow_si(c, W.x, 1, 3)), gp_pow_si(c, W.x, 5, 6),
                 "x^(1/2) x^(1/3) == x^(5/6)");
    gp_ctx_free(c);
}

Test(simplify, cancelled_power_records_its_base_as_nonzero)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(c->nassume, 0);
    cr_expect(is_q(c, gp_mul2(c, W.x, gp_pow_si(c, W.x, -1, 1)), 1, 1), "x * x^-1 == 1");
    cr_expect(assumed(c, W.x), "x/x -> 1 assumes x != 0");
    cr_expect(is_q(c, gp_div(c, W.y, W.y), 1, 1), "y/y == 1");
    cr_expect(assumed(c, W.y));
    cr_expect_eq(c->nassume, 2);
    cr_expect(is_q(c, gp_div(c, W.x, W.x), 1, 1));
    cr_expect_eq(c->nassume, 2, "an assumption is recorded once");
    cr_expect_eq(gp_mul2(c, gp_pow_si(c, W.z, -1, 1), gp_pow_si(c, W.z, -1, 1)), gp_pow_si(c, W.z, -2, 1),
                 "z^-1 z^-1 == z^-2");
    cr_expect_not(assumed(c, W.z), "nothing cancelled, nothing assumed");
    gp_ctx_free(c);
}

Test(simplify, lowered_power_records_its_base_as_nonzero)
{
    /* x^2 * x^-1 is undefined at x = 0 while x is not: the rewrite widens the
       domain exactly as x * x^-1 -> 1 does, so it must be recorded too */
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_mul2(c, gp_pow_si(c, W.x, 2, 1), gp_pow_si(c, W.x, -1, 1)), W.x, "x^2 * x^-1 == x");
    cr_expect(assumed(c, W.x), "x^2 * x^-1 -> x must record x in ctx->assume");
    gp_ctx_free(c);
}

Test(simplify, division_by_a_product_cancels_factorwise)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id xy = gp_mul2(c, W.x, W.y);
    cr_expect_eq(gp_div(c, mul3(c, W.x, W.y, W.z), xy), W.z, "xyz/(xy) == z");
    cr_expect(assumed(c, W.x) && assumed(c, W.y));
    cr_expect_eq(gp_pow_si(c, xy, 2, 1), gp_mul2(c, gp_pow_si(c, W.x, 2, 1), gp_pow_si(c, W.y, 2, 1)),
                 "(xy)^2 == x^2 y^2");
    cr_expect_eq(gp_pow_si(c, gp_mul2(c, num(c, 2, 1), W.x), 2, 1), gp_mul2(c, num(c, 4, 1), gp_pow_si(c, W.x, 2, 1)),
                 "(2x)^2 == 4 x^2");
    cr_expect_eq(gp_pow_si(c, gp_neg(c, W.x), 2, 1), gp_pow_si(c, W.x, 2, 1), "(-x)^2 == x^2");
    gp_ctx_free(c);
}

/* ---- powers ---- */

Test(simplify, trivial_exponents)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_pow_si(c, W.x, 1, 1), W.x, "x^1 == x");
    cr_expect(is_q(c, gp_pow_si(c, W.x, 0, 1), 1, 1), "x^0 == 1");
    gp_id r = gp_pow_si(c, W.x, 1, 2);
    const gp_node *n = dag_node(c, r);
    cr_assert_eq(n->op, GP_OP_POW);
    cr_expect_eq(n->kid[0], W.x);
    cr_expect(is_q(c, n->kid[1], 1, 2));
    gp_ctx_free(c);
}

Test(simplify, square_root_of_a_square_is_not_the_base)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id x2 = gp_pow_si(c, W.x, 2, 1);
    gp_id r = gp_pow_si(c, x2, 1, 2);
    cr_expect_neq(r, W.x, "(x^2)^(1/2) is |x|, not x");
    const gp_node *n = dag_node(c, r);
    cr_assert_eq(n->op, GP_OP_POW);
    cr_expect_eq(n->kid[0], x2, "kept as (x^2)^(1/2)");
    cr_expect(is_q(c, n->kid[1], 1, 2));
    cr_expect_neq(gp_pow_si(c, gp_pow_si(c, W.x, 4, 1), 1, 4), W.x, "(x^4)^(1/4) is not x");
    cr_expect_neq(gp_pow_si(c, gp_pow_si(c, W.x, 2, 1), 1, 4), gp_pow_si(c, W.x, 1, 2), "(x^2)^(1/4) is not x^(1/2)");
    /* squaring it again is an identity: |x|^2 == x^2 */
    cr_expect_eq(gp_pow_si(c, r, 2, 1), x2, "((x^2)^(1/2))^2 == x^2");
    gp_ctx_free(c);
}

Test(simplify, integer_power_of_a_power_multiplies_exponents)
{
    /* (x^a)^n = x^(a n) for integer n wherever x^a is defined: simplify.c
       merges exactly the integral outer exponents */
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_pow_si(c, gp_pow_si(c, W.x, 1, 2), 2, 1), W.x, "(x^(1/2))^2 == x");
    cr_expect_eq(gp_pow_si(c, gp_pow_si(c, W.x, 1, 2), -2, 1), gp_pow_si(c, W.x, -1, 1), "(x^(1/2))^-2 == x^-1");
    cr_expect_eq(gp_pow_si(c, gp_pow_si(c, W.x, 2, 1), 3, 1), gp_pow_si(c, W.x, 6, 1), "(x^2)^3 == x^6");
    cr_expect_eq(gp_pow_si(c, gp_pow_si(c, W.x, 3, 2), 2, 1), gp_pow_si(c, W.x, 3, 1), "(x^(3/2))^2 == x^3");
    gp_ctx_free(c);
}

Test(simplify, rational_powers_of_numbers_fold_only_when_exact)
{
    gp_ctx *c = gp_ctx_new();
    static const struct {
        long bn;
        unsigned long bd;
        long en;
        unsigned long ed;
        long rn;
        unsigned long rd;
    } fold[] = {
        {4, 1, 1, 2, 2, 1},    {8, 1, 2, 3, 4, 1},    {1, 4, -1, 2, 2, 1},  {4, 9, 1, 2, 2, 3},
        {4, 9, -3, 2, 27, 8},  {-2, 1, 3, 1, -8, 1},  {-2, 1, -2, 1, 1, 4}, {-1, 2, -3, 1, -8, 1},
        {2, 3, 2, 1, 4, 9},    {2, 1, -2, 1, 1, 4},   {0, 1, 3, 1, 0, 1},   {0, 1, 1, 2, 0, 1},
        {1, 1, 7, 3, 1, 1},    {27, 8, 2, 3, 9, 4},
    };
    for (size_t i = 0; i < sizeof fold / sizeof fold[0]; i++) {
        gp_id r = gp_pow(c, num(c, fold[i].bn, fold[i].bd), num(c, fold[i].en, fold[i].ed));
        cr_expect(is_q(c, r, fold[i].rn, fold[i].rd), "simplify-pow-%zu: (%ld/%lu)^(%ld/%lu) should be %ld/%lu", i,
                  fold[i].bn, fold[i].bd, fold[i].en, fold[i].ed, fold[i].rn, fold[i].rd);
    }
    static const struct {
        long bn;
        unsigned long bd;
        long en;
        unsigned long ed;
    } keep[] = {
        {2, 1, 1, 2},   /* irrational */
        {-8, 1, 1, 3},  /* a negative base with a fractional exponent is not folded */
        {-4, 1, 1, 2},  /* not real */
        {-8, 1, 2, 3},
        {0, 1, -1, 1},  /* division by zero: left for the evaluator */
        {0, 1, -1, 2},
        {3, 4, 1, 2},   /* 3 is not a square */
    };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        gp_id b = num(c, keep[i].bn, keep[i].bd), e = num(c, keep[i].en, keep[i].ed);
        gp_id r = gp_pow(c, b, e);
        cr_assert_neq(r, GP_NIL, "simplify-keep-%zu", i);
        const gp_node *n = dag_node(c, r);
        cr_expect_eq(n->op, GP_OP_POW, "simplify-keep-%zu: (%ld/%lu)^(%ld/%lu) must stay a power", i, keep[i].bn,
                     keep[i].bd, keep[i].en, keep[i].ed);
        if (n->op == GP_OP_POW) {
            cr_expect_eq(n->kid[0], b, "simplify-keep-%zu", i);
            cr_expect_eq(n->kid[1], e, "simplify-keep-%zu", i);
        }
    }
    cr_expect_eq(c->status, GP_OK);
    gp_ctx_free(c);
}

Test(simplify, huge_integer_powers_are_not_folded)
{
    gp_ctx *c = gp_ctx_new();
    gp_id r = gp_pow_si(c, num(c, 3, 1), 1L << 24, 1);
    cr_assert_neq(r, GP_NIL);
    cr_expect_eq(dag_node(c, r)->op, GP_OP_POW, "3^(2^24) stays symbolic instead of a 3-megabyte integer");
    mpq_t q;
    mpq_init(q);
    mpz_ui_pow_ui(mpq_numref(q), 3, 40);
    cr_expect_eq(gp_pow_si(c, num(c, 3, 1), 40, 1), dag_num(c, q), "3^40 is folded exactly");
    mpq_clear(q);
    gp_ctx_free(c);
}

Test(simplify, product_of_equal_irrational_powers_of_a_number_folds)
{
    gp_ctx *c = gp_ctx_new();
    gp_id r2 = gp_pow_si(c, num(c, 2, 1), 1, 2);
    cr_expect(is_q(c, gp_mul2(c, r2, r2), 2, 1), "sqrt(2) * sqrt(2) == 2");
    cr_expect_neq(gp_mul2(c, r2, gp_pow_si(c, num(c, 3, 1), 1, 2)), gp_pow_si(c, num(c, 6, 1), 1, 2),
                  "sqrt(2) sqrt(3) is left alone (bases differ)");
    gp_ctx_free(c);
}

/* ---- functions ---- */

Test(simplify, functions_of_numbers_fold_where_exact)
{
    gp_ctx *c = gp_ctx_new();
    static const struct {
        gp_fn fn;
        long an;
        unsigned long ad;
        long rn;
        unsigned long rd;
    } fold[] = {
        {GP_FN_RELU, -3, 1, 0, 1},  {GP_FN_RELU, 5, 2, 5, 2},   {GP_FN_RELU, 0, 1, 0, 1},
        {GP_FN_ABS, -3, 4, 3, 4},   {GP_FN_ABS, 7, 1, 7, 1},    {GP_FN_ABS, 0, 1, 0, 1},
        {GP_FN_STEP, 2, 1, 1, 1},   {GP_FN_STEP, 0, 1, 0, 1},   {GP_FN_STEP, -1, 3, 0, 1},
        {GP_FN_SIGN, -5, 1, -1, 1}, {GP_FN_SIGN, 0, 1, 0, 1},   {GP_FN_SIGN, 1, 9, 1, 1},
        {GP_FN_EXP, 0, 1, 1, 1},    {GP_FN_LOG, 1, 1, 0, 1},    {GP_FN_SIGMOID, 0, 1, 1, 2},
        {GP_FN_TANH, 0, 1, 0, 1},   {GP_FN_SIN, 0, 1, 0, 1},    {GP_FN_COS, 0, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof fold / sizeof fold[0]; i++) {
        gp_id r = gp_call(c, fold[i].fn, num(c, fold[i].an, fold[i].ad));
        cr_expect(is_q(c, r, fold[i].rn, fold[i].rd), "simplify-fn-%zu: %s(%ld/%lu) should be %ld/%lu", i,
                  dag_fn_name(fold[i].fn), fold[i].an, fold[i].ad, fold[i].rn, fold[i].rd);
    }
    static const struct {
        gp_fn fn;
        long an;
    } keep[] = {
        {GP_FN_EXP, 1}, {GP_FN_LOG, 2}, {GP_FN_LOG, 0}, {GP_FN_LOG, -1}, {GP_FN_SIGMOID, 1},
        {GP_FN_SOFTPLUS, 0}, {GP_FN_TANH, 1}, {GP_FN_SIN, 1}, {GP_FN_COS, 1},
    };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        gp_id a = num(c, keep[i].an, 1);
        gp_id r = gp_call(c, keep[i].fn, a);
        cr_assert_neq(r, GP_NIL);
        const gp_node *n = dag_node(c, r);
        cr_expect(n->op == GP_OP_FN && n->fn == keep[i].fn && n->kid[0] == a,
                  "simplify-fnkeep-%zu: %s(%ld) must stay a call", i, dag_fn_name(keep[i].fn), keep[i].an);
    }
    gp_ctx_free(c);
}

Test(simplify, calls_on_symbols_are_interned_once)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id a = gp_call(c, GP_FN_TANH, gp_add2(c, W.x, W.y));
    cr_expect_eq(gp_call(c, GP_FN_TANH, gp_add2(c, W.y, W.x)), a, "tanh(x+y) == tanh(y+x)");
    cr_expect_neq(gp_call(c, GP_FN_SIGMOID, gp_add2(c, W.x, W.y)), a);
    gp_ctx_free(c);
}

/* ---- sample reductions ---- */

Test(simplify, static_factors_move_out_of_a_mean)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id mu = gp_reduce(c, GP_OP_MEAN, W.u);
    const gp_node *n = dag_node(c, mu);
    cr_assert_eq(n->op, GP_OP_MEAN);
    cr_expect_eq(n->kid[0], W.u);
    gp_id lhs = gp_reduce(c, GP_OP_MEAN, gp_mul2(c, W.w, W.u));
    cr_expect_eq(lhs, gp_mul2(c, W.w, mu), "mean(w*u) == w*mean(u)");
    cr_expect_eq(gp_reduce(c, GP_OP_MEAN, mul3(c, num(c, 3, 1), W.w, W.u)), mul3(c, num(c, 3, 1), W.w, mu),
                 "mean(3*w*u) == 3*w*mean(u)");
    gp_id u2 = gp_pow_si(c, W.u, 2, 1);
    cr_expect_eq(gp_reduce(c, GP_OP_MEAN, mul3(c, W.x, W.u, W.u)), gp_mul2(c, W.x, gp_reduce(c, GP_OP_MEAN, u2)),
                 "mean(x*u*u) == x*mean(u^2)");
    gp_id su = gp_reduce(c, GP_OP_SUMS, W.u);
    cr_expect_eq(dag_node(c, su)->op, GP_OP_SUMS);
    cr_expect_eq(gp_reduce(c, GP_OP_SUMS, gp_mul2(c, W.w, W.u)), gp_mul2(c, W.w, su), "sum(w*u) == w*sum(u)");
    cr_expect_eq(dag_node(c, lhs)->level, GP_LV_DATASET);
    gp_ctx_free(c);
}

Test(simplify, mean_of_a_static_value_is_the_value_but_its_sum_is_not)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_reduce(c, GP_OP_MEAN, W.w), W.w, "mean(w) == w");
    gp_id wx = gp_mul2(c, W.w, W.x);
    cr_expect_eq(gp_reduce(c, GP_OP_MEAN, wx), wx, "mean(w*x) == w*x for static w, x");
    gp_id s = gp_reduce(c, GP_OP_SUMS, W.w);
    cr_expect_neq(s, W.w, "sum(w) is n*w, not w");
    cr_expect_eq(dag_node(c, s)->op, GP_OP_SUMS);
    cr_expect(is_q(c, gp_reduce(c, GP_OP_SUMS, num(c, 0, 1)), 0, 1), "sum(0) == 0");
    cr_expect(is_q(c, gp_reduce(c, GP_OP_MEAN, num(c, 5, 1)), 5, 1), "mean(5) == 5");
    gp_ctx_free(c);
}

Test(simplify, mean_of_a_sum_is_not_split)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id e = gp_add2(c, gp_mul2(c, W.w, W.u), W.x);
    gp_id m = gp_reduce(c, GP_OP_MEAN, e);
    const gp_node *n = dag_node(c, m);
    cr_expect_eq(n->op, GP_OP_MEAN);
    cr_expect_eq(n->kid[0], e);
    gp_ctx_free(c);
}

/* ---- labels ---- */

static gp_id labelled(gp_ctx *c, gp_id id, const char *name)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    cr_assert_eq(dag_set_label(c, id, &nm), 1, "label %s", name);
    return id;
}

Test(simplify, labelled_sum_is_an_atom)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id s = labelled(c, gp_add2(c, W.x, W.y), "s");
    gp_id t = gp_add2(c, s, W.z);
    const gp_node *n = dag_node(c, t);
    cr_assert_eq(n->op, GP_OP_ADD);
    cr_expect_eq(n->nkid, 2, "s + z keeps s whole");
    cr_expect(n->kid[0] == s || n->kid[1] == s);
    cr_expect_neq(t, add3(c, W.x, W.y, W.z));
    cr_expect_eq(gp_add2(c, s, s), gp_mul2(c, num(c, 2, 1), s), "s + s == 2*s for the atom s");
    gp_id ns = gp_neg(c, s);
    const gp_node *m = dag_node(c, ns);
    cr_assert_eq(m->op, GP_OP_MUL, "-s is not distributed over the labelled sum");
    cr_expect_eq(m->nkid, 2);
    cr_expect(is_q(c, m->kid[0], -1, 1));
    cr_expect_eq(m->kid[1], s);
    cr_expect(is_q(c, gp_add2(c, s, ns), 0, 1), "s - s == 0");
    gp_ctx_free(c);
}

Test(simplify, labelled_product_and_power_are_atoms)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id p = labelled(c, mul3(c, num(c, 2, 1), W.x, W.y), "p");
    gp_id px = gp_mul2(c, p, W.x);
    const gp_node *n = dag_node(c, px);
    cr_assert_eq(n->op, GP_OP_MUL);
    cr_expect_eq(n->nkid, 2, "p*x keeps p whole: not 2*x^2*y");
    cr_expect_neq(px, mul3(c, num(c, 2, 1), gp_pow_si(c, W.x, 2, 1), W.y));
    /* the coefficient inside a labelled product is not taken for a like term */
    gp_id s = gp_add2(c, p, gp_mul2(c, W.x, W.y));
    cr_expect_eq(dag_node(c, s)->op, GP_OP_ADD, "p + x*y is not collected into 3*x*y");
    gp_id q = labelled(c, gp_pow_si(c, W.z, 2, 1), "q");
    gp_id q2 = gp_pow_si(c, q, 2, 1);
    const gp_node *m = dag_node(c, q2);
    cr_assert_eq(m->op, GP_OP_POW);
    cr_expect_eq(m->kid[0], q, "q^2 stays a power of q, not z^4");
    cr_expect_neq(gp_mul2(c, q, W.z), gp_pow_si(c, W.z, 3, 1), "q*z is not z^3");
    gp_id r = labelled(c, gp_mul2(c, W.w, W.u), "r");
    gp_id mr = gp_reduce(c, GP_OP_MEAN, r);
    cr_expect_eq(dag_node(c, mr)->op, GP_OP_MEAN, "mean(r) keeps r whole");
    cr_expect_eq(dag_node(c, mr)->kid[0], r);
    gp_ctx_free(c);
}

Test(simplify, large_unlabelled_sums_are_not_flattened)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    static char names[SIMPLIFY_FLAT + 1][8];
    gp_id v[SIMPLIFY_FLAT + 1];
    for (int i = 0; i <= SIMPLIFY_FLAT; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        v[i] = leaf(c, GP_LEAF_PARAM, names[i]);
    }
    gp_id big = gp_add(c, SIMPLIFY_FLAT + 1, v);
    cr_assert_eq(dag_node(c, big)->nkid, SIMPLIFY_FLAT + 1);
    gp_id t = gp_add2(c, big, W.z);
    cr_expect_eq(dag_node(c, t)->nkid, 2, "a sum of more than SIMPLIFY_FLAT terms stays one operand");
    gp_id small = gp_add(c, SIMPLIFY_FLAT - 1, v);
    cr_expect_eq(dag_node(c, gp_add2(c, small, W.z))->nkid, SIMPLIFY_FLAT, "a small one is flattened");
    gp_ctx_free(c);
}

/* ---- failure propagation ---- */

Test(simplify, nil_operands_propagate)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(gp_add2(c, W.x, GP_NIL), GP_NIL);
    cr_expect_eq(gp_mul2(c, GP_NIL, W.x), GP_NIL);
    cr_expect_eq(gp_mul2(c, num(c, 0, 1), GP_NIL), GP_NIL, "0 * NIL is NIL, not 0");
    cr_expect_eq(gp_pow_si(c, GP_NIL, 2, 1), GP_NIL);
    cr_expect_eq(gp_call(c, GP_FN_EXP, GP_NIL), GP_NIL);
    cr_expect_eq(gp_reduce(c, GP_OP_MEAN, GP_NIL), GP_NIL);
    cr_expect_eq(gp_neg(c, GP_NIL), GP_NIL);
    cr_expect_eq(c->status, GP_OK);
    gp_ctx_free(c);
}

/* ---- node storage growing under a constructor ---- */

/* Fill the node array to its capacity, so that the next new node moves it.
   A large array is an mmap'd block that realloc moves with mremap, which
   unmaps the old address: then a stale pointer faults even without ASan. */
static void fill_to_capacity(gp_ctx *c)
{
    long q = 1000000;
    while (c->nnode < c->capnode || c->capnode < 65536)
        cr_assert_neq(dag_num_si(c, q++, 1), GP_NIL);
}

Test(simplify, power_of_a_product_survives_node_array_growth)
{
    /* gp_pow distributes (a*b)^2 over the factors while creating nodes; the
       node array may move under it (caught by AddressSanitizer) */
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id ab = gp_mul2(c, W.x, W.y);
    num(c, 2, 1);
    num(c, 1, 1);
    fill_to_capacity(c);
    gp_id r = gp_pow_si(c, ab, 2, 1);
    cr_expect_eq(r, gp_mul2(c, gp_pow_si(c, W.x, 2, 1), gp_pow_si(c, W.y, 2, 1)));
    gp_ctx_free(c);
}

Test(simplify, negated_sum_survives_node_array_growth)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id s = gp_add2(c, W.x, W.y);
    num(c, -1, 1);
    num(c, 1, 1);
    fill_to_capacity(c);
    gp_id r = gp_neg(c, s);
    cr_expect_eq(r, gp_add2(c, gp_neg(c, W.x), gp_neg(c, W.y)));
    gp_ctx_free(c);
}

/*
 * test_algebra.c -- expansion into canonical polynomials and quotients.
 *
 * Every expected string was worked out by hand from the canonical form that
 * algebra.c documents (variables: params, constants, inputs, targets, then
 * moments; terms degree-lexicographic; a quotient reduced, with an integral
 * denominator of positive leading coefficient), and is checked in all three
 * syntaxes.  DAGs are built with the smart constructors, so each test also
 * says which shape of node reaches the expander; the last tests load a case
 * and expand the loss and a derivative of a 2-2-1 linear network, and parse
 * the case-syntax output back.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "algebra.h"
#include "build.h"
#include "ctx.h"
#include "dag.h"
#include "derive.h"
#include "gradproof.h"
#include "simplify.h"

static const char *const syn_name[] = {"text", "latex", "case"};

/* A new leaf node. */
static gp_id mkleaf(gp_ctx *c, gp_leaf_kind kind, const char *name)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    long li = dag_leaf(c, kind, &nm, GP_NIL);
    cr_assert(li >= 0);
    return c->leaf[li].node;
}

static gp_id param(gp_ctx *c, const char *name) { return mkleaf(c, GP_LEAF_PARAM, name); }
static gp_id input(gp_ctx *c, const char *name) { return mkleaf(c, GP_LEAF_INPUT, name); }
static gp_id target(gp_ctx *c, const char *name) { return mkleaf(c, GP_LEAF_TARGET, name); }
static gp_id num(gp_ctx *c, long n, unsigned long d) { return dag_num_si(c, n, d); }

/* Expand id in one syntax; asserts GP_OK; the result is the caller's. */
static char *expand1(gp_ctx *c, gp_id id, pr_syntax syn)
{
    buf b = BUF_INIT;
    gp_status st = algebra_expand_print(&b, c, id, syn);
    cr_assert_eq(st, GP_OK, "%s: algebra_expand_print returned %d", syn_name[syn], (int)st);
    char *s = buf_take(&b);
    cr_assert_not_null(s);
    return s;
}

/* Expand id in the three syntaxes and compare with the expected strings. */
static void expect3(gp_ctx *c, gp_id id, const char *text, const char *latex, const char *cas)
{
    const char *want[3] = {text, latex, cas};
    for (int s = 0; s < 3; s++) {
        char *got = expand1(c, id, (pr_syntax)s);
        cr_expect_str_eq(got, want[s], "%s:\n got  %s\n want %s", syn_name[s], got, want[s]);
        free(got);
    }
}

/* Expect a failure status in every syntax, with the buffer left as it was. */
static void expect_fail(gp_ctx *c, gp_id id, gp_status want)
{
    for (int s = 0; s < 3; s++) {
        buf b = BUF_INIT;
        buf_puts(&b, "before");
        gp_status st = algebra_expand_print(&b, c, id, (pr_syntax)s);
        cr_expect_eq(st, want, "%s: status %d, want %d", syn_name[s], (int)st, (int)want);
        cr_expect_str_eq(b.s, "before", "%s: the buffer was written on failure: '%s'", syn_name[s], b.s);
        buf_free(&b);
    }
}

/* ---- polynomials ---- */

Test(algebra, square_of_a_sum_expands_in_degree_lex_order)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    gp_id e = gp_pow_si(c, gp_add2(c, w, x), 2, 1);
    cr_assert_eq(c->node[e].op, GP_OP_POW, "the DAG keeps (w + x)^2 unexpanded");
    expect3(c, e, "w² + 2wx + x²", "w^{2} + 2 w x + x^{2}", "w^2 + 2*w*x + x^2");
    gp_ctx_free(c);
}

Test(algebra, higher_degree_terms_come_first_then_lex)
{
    gp_ctx *c = gp_ctx_new();
    gp_id a = param(c, "a"), b = param(c, "b");
    /* (a + 1)(b + 1)(b − a) = ab² − a²b + b² − a² + b − a (the ab cancel);
       within a degree, lex compares the exponent of a first: a²b before ab² */
    gp_id f[3] = {gp_add2(c, a, num(c, 1, 1)), gp_add2(c, b, num(c, 1, 1)), gp_sub(c, b, a)};
    gp_id e = gp_mul(c, 3, f);
    expect3(c, e, "−a²b + ab² − a² + b² − a + b", "-a^{2} b + a b^{2} - a^{2} + b^{2} - a + b",
            "-a^2*b + a*b^2 - a^2 + b^2 - a + b");
    gp_ctx_free(c);
}

Test(algebra, cancelling_terms_give_zero)
{
    gp_ctx *c = gp_ctx_new();
    gp_id x = input(c, "x");
    expect3(c, gp_sub(c, x, x), "0", "0", "0");
    /* the DAG cannot see this one; the expansion must */
    gp_id one = num(c, 1, 1);
    gp_id t[4] = {gp_pow_si(c, gp_add2(c, x, one), 2, 1), gp_neg(c, gp_pow_si(c, x, 2, 1)),
                  gp_mul2(c, num(c, -2, 1), x), num(c, -1, 1)};
    gp_id e = gp_add(c, 4, t);
    cr_assert(!dag_is_zero(c, e));
    expect3(c, e, "0", "0", "0");
    gp_ctx_free(c);
}

Test(algebra, rational_coefficients_print_as_fractions)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x"), y = target(c, "y");
    expect3(c, gp_mul2(c, num(c, -3, 2), gp_mul2(c, x, y)), "−3xy/2", "-\\frac{3}{2} x y", "-3/2*x*y");
    gp_id e = gp_add2(c, gp_div(c, w, num(c, 2, 1)), num(c, 1, 3));
    expect3(c, e, "w/2 + 1/3", "\\frac{1}{2} w + \\frac{1}{3}", "1/2*w + 1/3");
    expect3(c, num(c, -7, 4), "−7/4", "-\\frac{7}{4}", "-7/4");
    gp_ctx_free(c);
}

Test(algebra, names_print_as_in_the_rest_of_gradproof)
{
    gp_ctx *c = gp_ctx_new();
    gp_id alpha = param(c, "alpha");
    gp_name pn;
    memset(&pn, 0, sizeof pn);
    pn.base = "p";
    pn.nidx = 2;
    pn.idx[0] = 1;
    pn.idx[1] = 2;
    long pl = dag_leaf(c, GP_LEAF_PARAM, &pn, GP_NIL);
    cr_assert(pl >= 0);
    gp_id p12 = c->leaf[pl].node;
    expect3(c, gp_pow_si(c, gp_add2(c, alpha, p12), 2, 1), "α² + 2αp₁₂ + p₁₂²",
            "\\alpha^{2} + 2 \\alpha p_{12} + p_{12}^{2}", "alpha^2 + 2*alpha*p[1][2] + p[1][2]^2");
    /* a name of several letters is set off by a dot in text */
    gp_id bias = param(c, "bias"), x1 = input(c, "x1");
    expect3(c, gp_pow_si(c, gp_add2(c, bias, x1), 2, 1), "bias² + 2bias·x₁ + x₁²",
            "\\mathit{bias}^{2} + 2 \\mathit{bias} x_{1} + x_{1}^{2}", "bias^2 + 2*bias*x1 + x1^2");
    gp_ctx_free(c);
}

Test(algebra, variables_order_params_before_inputs_before_targets)
{
    gp_ctx *c = gp_ctx_new();
    /* declared in the opposite order */
    gp_id y = target(c, "y"), x = input(c, "x"), w2 = param(c, "w2"), w1 = param(c, "w1");
    (void)w1;
    gp_id t[3] = {y, x, w2};
    gp_id e = gp_mul(c, 3, t);
    /* params in declaration order: w2 was declared before w1 */
    gp_id e2 = gp_add2(c, e, gp_mul2(c, w1, w2));
    expect3(c, e2, "w₂xy + w₂w₁", "w_{2} x y + w_{2} w_{1}", "w2*x*y + w2*w1");
    gp_ctx_free(c);
}

Test(algebra, named_constants_are_replaced_by_their_value)
{
    gp_ctx *c = gp_ctx_new();
    gp_name an;
    memset(&an, 0, sizeof an);
    an.base = "a";
    long al = dag_leaf(c, GP_LEAF_CONST, &an, num(c, 3, 10));
    cr_assert(al >= 0);
    gp_id a = c->leaf[al].node, x = input(c, "x");
    gp_id e = gp_add2(c, gp_mul2(c, a, x), x);
    cr_assert_eq(c->node[e].op, GP_OP_ADD, "the DAG keeps a·x + x with the name a");
    expect3(c, e, "13x/10", "\\frac{13}{10} x", "13/10*x");
    gp_ctx_free(c);
}

Test(algebra, huge_exponent_of_a_monomial_is_exact)
{
    gp_ctx *c = gp_ctx_new();
    gp_id x = input(c, "x");
    mpq_t q;
    mpq_init(q);
    mpq_set_str(q, "1000000000000000000000000000000", 10);
    gp_id e = gp_pow(c, x, dag_num(c, q));
    mpq_clear(q);
    /* x to the 10^30: "¹" and thirty "⁰" */
    buf want = BUF_INIT;
    buf_puts(&want, "x¹");
    for (int i = 0; i < 30; i++)
        buf_puts(&want, "⁰");
    expect3(c, e, want.s, "x^{1000000000000000000000000000000}", "x^1000000000000000000000000000000");
    buf_free(&want);
    gp_ctx_free(c);
}

/* ---- quotients ---- */

Test(algebra, like_denominators_are_added_and_reduced)
{
    gp_ctx *c = gp_ctx_new();
    gp_id a = param(c, "a"), b = param(c, "b"), cc = param(c, "c");
    gp_id e = gp_add2(c, gp_div(c, a, b), gp_div(c, cc, b));
    cr_assert_eq(c->node[e].op, GP_OP_ADD, "the DAG keeps a/b + c/b as a sum");
    expect3(c, e, "(a + c)/b", "\\frac{a + c}{b}", "(a + c)/(b)");
    gp_ctx_free(c);
}

Test(algebra, quotient_is_reduced_by_the_gcd)
{
    gp_ctx *c = gp_ctx_new();
    gp_id a = param(c, "a"), b = param(c, "b");
    gp_id den = gp_sub(c, gp_mul2(c, a, a), gp_mul2(c, b, b));
    expect3(c, gp_div(c, gp_add2(c, a, b), den), "1/(a − b)", "\\frac{1}{a - b}", "(1)/(a - b)");
    /* unlike denominators: 1/a + 1/b = (a + b)/(ab) */
    expect3(c, gp_add2(c, gp_div(c, num(c, 1, 1), a), gp_div(c, num(c, 1, 1), b)), "(a + b)/(ab)",
            "\\frac{a + b}{a b}", "(a + b)/(a*b)");
    /* and a quotient that is a polynomial: (a² − b²)/(a + b) = a − b */
    expect3(c, gp_div(c, den, gp_add2(c, a, b)), "a − b", "a - b", "a - b");
    gp_ctx_free(c);
}

Test(algebra, denominator_is_integral_with_positive_leading_term)
{
    gp_ctx *c = gp_ctx_new();
    gp_id a = param(c, "a"), b = param(c, "b"), x = input(c, "x");
    expect3(c, gp_div(c, x, gp_mul2(c, num(c, 2, 1), a)), "x/(2a)", "\\frac{x}{2 a}", "(x)/(2*a)");
    gp_id e = gp_div(c, gp_mul2(c, num(c, 3, 2), x), gp_add2(c, a, num(c, 1, 1)));
    expect3(c, e, "3x/(2a + 2)", "\\frac{3 x}{2 a + 2}", "(3*x)/(2*a + 2)");
    /* a comes before b, so b − a is written −(a − b) */
    expect3(c, gp_div(c, num(c, 1, 1), gp_sub(c, b, a)), "−1/(a − b)", "\\frac{-1}{a - b}", "(-1)/(a - b)");
    gp_ctx_free(c);
}

Test(algebra, negative_integer_power_is_a_denominator)
{
    gp_ctx *c = gp_ctx_new();
    gp_id a = param(c, "a"), x = input(c, "x");
    expect3(c, gp_pow_si(c, a, -2, 1), "1/a²", "\\frac{1}{a^{2}}", "(1)/(a^2)");
    expect3(c, gp_pow_si(c, gp_add2(c, x, num(c, 1, 1)), -2, 1), "1/(x² + 2x + 1)",
            "\\frac{1}{x^{2} + 2 x + 1}", "(1)/(x^2 + 2*x + 1)");
    /* (a/x)^-3 = x³/a³ */
    expect3(c, gp_pow_si(c, gp_div(c, a, x), -3, 1), "x³/a³", "\\frac{x^{3}}{a^{3}}", "(x^3)/(a^3)");
    gp_ctx_free(c);
}

/* ---- sample reductions ---- */

Test(algebra, mean_of_squared_residual_splits_into_moments)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x"), y = target(c, "y");
    gp_id r = gp_sub(c, gp_mul2(c, w, x), y);
    gp_id e = gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, r, 2, 1));
    expect3(c, e, "w²·mean(x²) − 2w·mean(xy) + mean(y²)",
            "w^{2} \\operatorname{mean}\\left(x^{2}\\right) - 2 w \\operatorname{mean}\\left(x y\\right) + "
            "\\operatorname{mean}\\left(y^{2}\\right)",
            "w^2*mean(x^2) - 2*w*mean(x*y) + mean(y^2)");
    gp_id s = gp_reduce(c, GP_OP_SUMS, gp_pow_si(c, r, 2, 1));
    expect3(c, s, "w²·sum(x²) − 2w·sum(xy) + sum(y²)",
            "w^{2} \\operatorname{sum}\\left(x^{2}\\right) - 2 w \\operatorname{sum}\\left(x y\\right) + "
            "\\operatorname{sum}\\left(y^{2}\\right)",
            "w^2*sum(x^2) - 2*w*sum(x*y) + sum(y^2)");
    gp_ctx_free(c);
}

Test(algebra, static_terms_leave_a_mean_and_count_in_a_sum)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    gp_id s = gp_add2(c, w, x);
    /* mean(w + x) = w + mean(x); sum(w + x) = w·sum(1) + sum(x) */
    expect3(c, gp_reduce(c, GP_OP_MEAN, s), "w + mean(x)", "w + \\operatorname{mean}\\left(x\\right)",
            "w + mean(x)");
    expect3(c, gp_reduce(c, GP_OP_SUMS, s), "w·sum(1) + sum(x)",
            "w \\operatorname{sum}\\left(1\\right) + \\operatorname{sum}\\left(x\\right)", "w*sum(1) + sum(x)");
    gp_ctx_free(c);
}

Test(algebra, equal_moments_from_different_nodes_are_one_symbol)
{
    gp_ctx *c = gp_ctx_new();
    gp_id x = input(c, "x");
    gp_id m1 = gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, gp_add2(c, x, num(c, 1, 1)), 2, 1));
    gp_id m2 = gp_reduce(c, GP_OP_MEAN, gp_pow_si(c, x, 2, 1));
    /* mean((x + 1)²) − mean(x²) = mean(x²) + 2mean(x) + 1 − mean(x²) */
    expect3(c, gp_sub(c, m1, m2), "2mean(x) + 1", "2 \\operatorname{mean}\\left(x\\right) + 1", "2*mean(x) + 1");
    gp_ctx_free(c);
}

Test(algebra, nested_reductions_are_moments_of_moments)
{
    gp_ctx *c = gp_ctx_new();
    gp_id x = input(c, "x"), y = target(c, "y");
    gp_id mx = gp_reduce(c, GP_OP_MEAN, x);
    /* mean(mean(x)·x) = mean(x)² */
    expect3(c, gp_reduce(c, GP_OP_MEAN, gp_mul2(c, mx, x)), "mean(x)²",
            "\\operatorname{mean}\\left(x\\right)^{2}", "mean(x)^2");
    /* mean(x·mean(xy)) = mean(xy)·mean(x): the moment of degree 2 first */
    gp_id mxy = gp_reduce(c, GP_OP_MEAN, gp_mul2(c, x, y));
    expect3(c, gp_reduce(c, GP_OP_MEAN, gp_mul2(c, x, mxy)), "mean(xy)·mean(x)",
            "\\operatorname{mean}\\left(x y\\right) \\operatorname{mean}\\left(x\\right)", "mean(x*y)*mean(x)");
    gp_ctx_free(c);
}

Test(algebra, mean_over_a_static_denominator_divides_the_mean)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    /* mean(x/(w + 1) + x) = mean(x(w + 2)/(w + 1)) = (w + 2)mean(x)/(w + 1) */
    gp_id e = gp_add2(c, gp_div(c, x, gp_add2(c, w, num(c, 1, 1))), x);
    expect3(c, gp_reduce(c, GP_OP_MEAN, e), "(w·mean(x) + 2mean(x))/(w + 1)",
            "\\frac{w \\operatorname{mean}\\left(x\\right) + 2 \\operatorname{mean}\\left(x\\right)}{w + 1}",
            "(w*mean(x) + 2*mean(x))/(w + 1)");
    gp_ctx_free(c);
}

Test(algebra, mean_of_a_per_sample_quotient_is_a_moment_of_it)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    gp_id one = num(c, 1, 1), xp1 = gp_add2(c, x, one);
    /* denominator with inputs only: split by the numerator's monomials */
    gp_id e = gp_reduce(c, GP_OP_MEAN, gp_div(c, gp_add2(c, w, x), xp1));
    expect3(c, e, "w·mean(1/(x + 1)) + mean(x/(x + 1))",
            "w \\operatorname{mean}\\left(\\frac{1}{x + 1}\\right) + "
            "\\operatorname{mean}\\left(\\frac{x}{x + 1}\\right)",
            "w*mean((1)/(x + 1)) + mean((x)/(x + 1))");
    /* denominator mixing params and inputs: the whole mean is one symbol */
    gp_id f = gp_reduce(c, GP_OP_MEAN, gp_div(c, x, gp_add2(c, x, w)));
    expect3(c, f, "mean(x/(w + x))", "\\operatorname{mean}\\left(\\frac{x}{w + x}\\right)",
            "mean((x)/(w + x))");
    /* mean(1/(x + 1)) and mean(2/(2x + 2)) are one symbol, scalars outside */
    gp_id g1 = gp_reduce(c, GP_OP_MEAN, gp_div(c, one, xp1));
    gp_id g2 = gp_reduce(c, GP_OP_MEAN, gp_div(c, num(c, 2, 1), gp_add2(c, gp_mul2(c, num(c, 2, 1), x), num(c, 2, 1))));
    cr_assert_neq(g1, g2, "the DAG keeps the two means apart");
    expect3(c, gp_add2(c, g1, g2), "2mean(1/(x + 1))", "2 \\operatorname{mean}\\left(\\frac{1}{x + 1}\\right)",
            "2*mean((1)/(x + 1))");
    /* moments of quotients are ordered by their value, not by which node
       came first: mean(1/(x + 1)) is met first, mean(x/(x + 1)) has the
       larger leading term and goes first */
    gp_id h = gp_reduce(c, GP_OP_MEAN, gp_div(c, x, xp1));
    cr_assert_gt(h, g1);
    expect3(c, gp_add2(c, g1, h), "mean(x/(x + 1)) + mean(1/(x + 1))",
            "\\operatorname{mean}\\left(\\frac{x}{x + 1}\\right) + \\operatorname{mean}\\left(\\frac{1}{x + 1}\\right)",
            "mean((x)/(x + 1)) + mean((1)/(x + 1))");
    gp_ctx_free(c);
}

Test(algebra, scalar_factors_of_a_whole_quotient_leave_its_moment)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    gp_id one = num(c, 1, 1), two = num(c, 2, 1), den = gp_add2(c, x, w);
    /* mean((2x + 2)/(x + w)) − 2·mean((x + 1)/(x + w)) = 0: the first
       numerator is a sum, so the DAG cannot move the 2 out of the mean */
    gp_id n1 = gp_add2(c, gp_mul2(c, two, x), two), n2 = gp_add2(c, x, one);
    gp_id m1 = gp_reduce(c, GP_OP_MEAN, gp_div(c, n1, den));
    gp_id m2 = gp_reduce(c, GP_OP_MEAN, gp_div(c, n2, den));
    cr_assert_neq(c->node[m1].op, GP_OP_MUL, "the DAG keeps the 2 inside");
    expect3(c, gp_sub(c, m1, gp_mul2(c, two, m2)), "0", "0", "0");
    expect3(c, m1, "2mean((x + 1)/(w + x))", "2 \\operatorname{mean}\\left(\\frac{x + 1}{w + x}\\right)",
            "2*mean((x + 1)/(w + x))");
    gp_ctx_free(c);
}

Test(algebra, moment_symbols_do_not_depend_on_the_order_leaves_were_made)
{
    gp_ctx *c = gp_ctx_new();
    /* the target is made first, but inputs come first in the display */
    gp_id y = target(c, "y"), x = input(c, "x");
    gp_id e = gp_reduce(c, GP_OP_MEAN, gp_div(c, num(c, 1, 1), gp_sub(c, x, y)));
    expect3(c, e, "mean(1/(x − y))", "\\operatorname{mean}\\left(\\frac{1}{x - y}\\right)", "mean((1)/(x - y))");
    gp_ctx_free(c);
}

/* ---- refusals and limits ---- */

Test(algebra, function_calls_and_roots_are_not_rational)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    expect_fail(c, gp_call(c, GP_FN_EXP, x), GP_EINPUT);
    expect_fail(c, gp_pow_si(c, gp_add2(c, w, x), 1, 2), GP_EINPUT);
    expect_fail(c, gp_reduce(c, GP_OP_MEAN, gp_mul2(c, w, gp_call(c, GP_FN_TANH, x))), GP_EINPUT);
    cr_expect_eq(gp_diag_count(c), 0, "not rational is an answer, not an error: no diagnostic");
    gp_ctx_free(c);
}

Test(algebra, division_by_an_expression_that_expands_to_zero_is_refused)
{
    gp_ctx *c = gp_ctx_new();
    gp_id x = input(c, "x");
    gp_id t[3] = {gp_pow_si(c, gp_add2(c, x, num(c, 1, 1)), 2, 1), gp_neg(c, gp_pow_si(c, x, 2, 1)),
                  gp_mul2(c, num(c, -2, 1), x)};
    gp_id zero = gp_add2(c, gp_add(c, 3, t), num(c, -1, 1)); /* (x + 1)² − x² − 2x − 1 */
    expect_fail(c, gp_pow_si(c, zero, -1, 1), GP_EINPUT);
    gp_ctx_free(c);
}

Test(algebra, term_limit_is_enforced_with_a_diagnostic)
{
    gp_ctx *c = gp_ctx_new();
    gp_id a = param(c, "a"), b = param(c, "b"), cc = param(c, "c");
    gp_id t[3] = {a, b, cc};
    gp_id e = gp_pow_si(c, gp_add(c, 3, t), 4, 1); /* 15 terms */
    gp_limits lim;
    gp_ctx_get_limits(c, &lim);
    cr_expect_eq(lim.max_expand_terms, 100000);
    lim.max_expand_terms = 15;
    gp_ctx_set_limits(c, &lim);
    char *s = expand1(c, e, PR_CASE);
    cr_expect_str_eq(s, "a^4 + 4*a^3*b + 4*a^3*c + 6*a^2*b^2 + 12*a^2*b*c + 6*a^2*c^2 + 4*a*b^3 + 12*a*b^2*c + "
                        "12*a*b*c^2 + 4*a*c^3 + b^4 + 4*b^3*c + 6*b^2*c^2 + 4*b*c^3 + c^4");
    free(s);
    cr_expect_eq(gp_diag_count(c), 0);
    lim.max_expand_terms = 14;
    gp_ctx_set_limits(c, &lim);
    buf b0 = BUF_INIT;
    gp_status st = algebra_expand_print(&b0, c, e, PR_TEXT);
    cr_expect_eq(st, GP_ELIMIT);
    cr_expect_eq(b0.n, 0, "nothing written on failure");
    buf_free(&b0);
    cr_assert_eq(gp_diag_count(c), 1);
    gp_diag_info d;
    gp_diag_get(c, 0, &d);
    cr_expect_eq(d.severity, GP_SEV_ERROR);
    cr_expect_str_eq(d.message, "the expanded form has more terms than the limit of 14 (raise it with --max-expand-terms)");
    gp_ctx_free(c);
}

Test(algebra, a_huge_power_of_a_sum_is_refused_not_attempted)
{
    gp_ctx *c = gp_ctx_new();
    gp_id x = input(c, "x");
    gp_id e = gp_pow_si(c, gp_add2(c, x, num(c, 1, 1)), 1000000, 1);
    expect_fail(c, e, GP_ELIMIT);
    cr_expect_geq(gp_diag_count(c), 1);
    gp_ctx_free(c);
}

/* ---- what the expander must not do ---- */

Test(algebra, the_dag_is_left_unchanged)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x"), y = target(c, "y");
    gp_id r = gp_sub(c, gp_mul2(c, w, x), y);
    gp_id e = gp_reduce(c, GP_OP_MEAN, gp_div(c, gp_pow_si(c, r, 2, 1), gp_add2(c, x, w)));
    size_t nnode = c->nnode, nnum = c->nnum, nleaf = c->nleaf;
    char *s = expand1(c, e, PR_TEXT);
    free(s);
    cr_expect_eq(c->nnode, nnode);
    cr_expect_eq(c->nnum, nnum);
    cr_expect_eq(c->nleaf, nleaf);
    cr_expect_eq(c->status, GP_OK);
    gp_ctx_free(c);
}

Test(algebra, output_is_appended_to_the_buffer)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w");
    buf b = BUF_INIT;
    buf_puts(&b, "f = ");
    cr_assert_eq(algebra_expand_print(&b, c, gp_mul2(c, w, w), PR_CASE), GP_OK);
    cr_expect_str_eq(b.s, "f = w^2");
    buf_free(&b);
    gp_ctx_free(c);
}

Test(algebra, a_deep_chain_expands_without_recursion)
{
    gp_ctx *c = gp_ctx_new();
    gp_id w = param(c, "w"), x = input(c, "x");
    gp_name t;
    memset(&t, 0, sizeof t);
    t.base = "t";
    /* labelled nodes are atoms: (t + w) − w is not folded, so the chain is
       2·50000 levels deep and only the expansion sees that it is x */
    gp_id e = x;
    for (int i = 0; i < 50000; i++) {
        gp_id s = gp_add2(c, e, w);
        dag_set_label(c, s, &t);
        e = gp_sub(c, s, w);
        dag_set_label(c, e, &t);
    }
    cr_assert_geq(c->node[e].depth, 100000);
    expect3(c, e, "x", "x", "x");
    gp_ctx_free(c);
}

/* ---- a whole case ---- */

static const char net221[] =
    "input  x1 x2\n"
    "target y\n"
    "param  w111 w112 w121 w122 w211 w212\n"
    "z11  = w111*x1 + w112*x2\n"
    "z12  = w121*x1 + w122*x2\n"
    "yhat = w211*z11 + w212*z12\n"
    "loss C = mean((yhat - y)^2) / 2\n";

/* The loss, by hand: with A = w111w211 + w121w212, B = w112w211 + w122w212,
   yhat = A x1 + B x2 and C = A²m(x1²)/2 + AB m(x1x2) + B²m(x2²)/2
   − A m(x1y) − B m(x2y) + m(y²)/2, expanded and put in degree-lex order. */
static const char loss221[] =
    "1/2*w111^2*w211^2*mean(x1^2) + w111*w112*w211^2*mean(x1*x2) + w111*w121*w211*w212*mean(x1^2) + "
    "w111*w122*w211*w212*mean(x1*x2) + 1/2*w112^2*w211^2*mean(x2^2) + w112*w121*w211*w212*mean(x1*x2) + "
    "w112*w122*w211*w212*mean(x2^2) + 1/2*w121^2*w212^2*mean(x1^2) + w121*w122*w212^2*mean(x1*x2) + "
    "1/2*w122^2*w212^2*mean(x2^2) - w111*w211*mean(x1*y) - w112*w211*mean(x2*y) - w121*w212*mean(x1*y) - "
    "w122*w212*mean(x2*y) + 1/2*mean(y^2)";

static gp_case *load(gp_ctx *c, const char *text)
{
    gp_case *cs = NULL;
    gp_status st = gp_case_load(c, "net.case", text, strlen(text), &cs);
    cr_assert_eq(st, GP_OK, "gp_case_load returned %d", (int)st);
    cr_assert_not_null(cs);
    return cs;
}

Test(algebra, loss_of_a_linear_221_network_expands_into_moments)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, net221);
    char *s = expand1(c, cs->loss, PR_CASE);
    cr_expect_str_eq(s, loss221, "\n got  %s\n want %s", s, loss221);
    free(s);
    s = expand1(c, cs->loss, PR_TEXT);
    const char *head = "w₁₁₁²w₂₁₁²·mean(x₁²)/2 + w₁₁₁w₁₁₂w₂₁₁²·mean(x₁x₂) + ";
    const char *tail = " − w₁₂₂w₂₁₂·mean(x₂y) + mean(y²)/2";
    cr_expect(strncmp(s, head, strlen(head)) == 0, "text starts: %s", s);
    cr_expect(strlen(s) > strlen(tail) && strcmp(s + strlen(s) - strlen(tail), tail) == 0, "text ends: %s", s);
    free(s);
    gp_ctx_free(c);
}

Test(algebra, gradient_of_a_linear_221_network_expands_to_the_answer)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, net221);
    cr_assert_eq(cs->nparams, 6);
    gp_id wrt = c->leaf[cs->params[0]].node, d = GP_NIL;
    cr_assert_eq(derive_grad(c, cs->loss, 1, &wrt, &d), GP_OK);
    /* dC/dw111 = mean((yhat − y)·w211·x1) = w211(A m(x1²) + B m(x1x2) − m(x1y)) */
    expect3(c, d,
            "w₁₁₁w₂₁₁²·mean(x₁²) + w₁₁₂w₂₁₁²·mean(x₁x₂) + w₁₂₁w₂₁₁w₂₁₂·mean(x₁²) + w₁₂₂w₂₁₁w₂₁₂·mean(x₁x₂) − "
            "w₂₁₁·mean(x₁y)",
            "w_{111} w_{211}^{2} \\operatorname{mean}\\left(x_{1}^{2}\\right) + "
            "w_{112} w_{211}^{2} \\operatorname{mean}\\left(x_{1} x_{2}\\right) + "
            "w_{121} w_{211} w_{212} \\operatorname{mean}\\left(x_{1}^{2}\\right) + "
            "w_{122} w_{211} w_{212} \\operatorname{mean}\\left(x_{1} x_{2}\\right) - "
            "w_{211} \\operatorname{mean}\\left(x_{1} y\\right)",
            "w111*w211^2*mean(x1^2) + w112*w211^2*mean(x1*x2) + w121*w211*w212*mean(x1^2) + "
            "w122*w211*w212*mean(x1*x2) - w211*mean(x1*y)");
    gp_ctx_free(c);
}

Test(algebra, case_syntax_parses_back_to_the_same_expansion)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, net221);
    char *s = expand1(c, cs->loss, PR_CASE);
    /* the expansion as the loss of a new case with the same declarations */
    buf t = BUF_INIT;
    buf_puts(&t, "input  x1 x2\ntarget y\nparam  w111 w112 w121 w122 w211 w212\nloss C = ");
    buf_puts(&t, s);
    buf_puts(&t, "\n");
    gp_ctx *c2 = gp_ctx_new();
    gp_case *cs2 = load(c2, t.s);
    char *s2 = expand1(c2, cs2->loss, PR_CASE);
    cr_expect_str_eq(s2, s);
    free(s2);
    buf_free(&t);
    gp_ctx_free(c2);

    /* and a quotient with an opaque moment */
    const char *q = "input x\nparam w\nloss C = mean((w + x)/(x^2 + 1)) + 1/(2*w - 4)\n";
    gp_ctx *c3 = gp_ctx_new();
    gp_case *cs3 = load(c3, q);
    char *s3 = expand1(c3, cs3->loss, PR_CASE);
    buf u = BUF_INIT;
    buf_printf(&u, "input x\nparam w\nloss C = %s\n", s3);
    gp_ctx *c4 = gp_ctx_new();
    gp_case *cs4 = load(c4, u.s);
    char *s4 = expand1(c4, cs4->loss, PR_CASE);
    cr_expect_str_eq(s4, s3);
    free(s3);
    free(s4);
    buf_free(&u);
    gp_ctx_free(c3);
    gp_ctx_free(c4);
    free(s);
    gp_ctx_free(c);
}

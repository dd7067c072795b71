/*
 * test_print.c -- names and expressions in Unicode text, LaTeX and case
 * syntax: subscripts, Greek letters, hats, the sigmoid and tanh derivatives
 * in a person's notation, precedence, and the parse-back of case syntax.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "derive.h"
#include "gradproof.h"
#include "print.h"
#include "simplify.h"

static char *show_name(const char *base, int nidx, int i0, int i1, pr_syntax syn)
{
    gp_name nm = {base, (uint8_t)nidx, {i0, i1}};
    buf b = BUF_INIT;
    print_name(&b, &nm, syn);
    return buf_take(&b);
}

#define NAME_IS(base, nidx, i0, i1, syn, want)                                                    \
    do {                                                                                          \
        char *got = show_name(base, nidx, i0, i1, syn);                                           \
        cr_expect_str_eq(got, want, "name %s (%d indices) in syntax %d: got '%s', want '%s'", base, \
                         nidx, syn, got, want);                                                   \
        free(got);                                                                                \
    } while (0)

Test(print, trailing_digits_and_indices_become_subscripts)
{
    NAME_IS("w211", 0, 0, 0, PR_TEXT, "w₂₁₁");
    NAME_IS("w211", 0, 0, 0, PR_LATEX, "w_{211}");
    NAME_IS("w211", 0, 0, 0, PR_CASE, "w211");
    NAME_IS("p", 2, 1, 2, PR_TEXT, "p₁₂");
    NAME_IS("p", 2, 1, 2, PR_LATEX, "p_{12}");
    NAME_IS("p", 2, 1, 2, PR_CASE, "p[1][2]");
    NAME_IS("W1", 2, 2, 3, PR_TEXT, "W₁₂₃");
}

Test(print, indices_past_nine_are_separated_by_commas)
{
    NAME_IS("p", 2, 10, 2, PR_TEXT, "p₁₀,₂");
    NAME_IS("p", 2, 10, 2, PR_LATEX, "p_{10,2}");
    NAME_IS("p", 2, -1, 2, PR_TEXT, "p₋₁,₂");
}

Test(print, greek_names_and_hats)
{
    NAME_IS("alpha", 0, 0, 0, PR_TEXT, "α");
    NAME_IS("alpha", 0, 0, 0, PR_LATEX, "\\alpha");
    NAME_IS("phi1", 0, 0, 0, PR_TEXT, "φ₁");
    NAME_IS("Delta", 0, 0, 0, PR_TEXT, "Δ");
    NAME_IS("yhat", 0, 0, 0, PR_TEXT, "ŷ");
    NAME_IS("yhat", 0, 0, 0, PR_LATEX, "\\hat{y}");
    NAME_IS("xhat", 0, 0, 0, PR_TEXT, "x\xCC\x82"); /* no precomposed x̂: a combining hat */
    NAME_IS("zr", 0, 0, 0, PR_TEXT, "zr");
    NAME_IS("zr", 0, 0, 0, PR_LATEX, "\\mathit{zr}");
    NAME_IS("that", 0, 0, 0, PR_TEXT, "t\xCC\x82"); /* t + hat */
    NAME_IS("chat", 0, 0, 0, PR_TEXT, "ĉ");
    NAME_IS("what", 0, 0, 0, PR_TEXT, "ŵ");
    NAME_IS("mse", 0, 0, 0, PR_TEXT, "mse");
}

Test(print, display_width_ignores_combining_marks)
{
    cr_expect_eq(print_width("w₂₁₁"), 4);
    cr_expect_eq(print_width("x\xCC\x82"), 1);
    cr_expect_eq(print_width("∂C/∂w₁₁₁"), 8);
}

/* load a case and write the derivative of its loss by a param */
static char *derivative(const char *text, const char *param, pr_syntax syn)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs;
    cr_assert_eq(gp_case_load(c, "t.case", text, strlen(text), &cs), GP_OK, "the case loads");
    long li = -1;
    for (size_t i = 0; i < cs->nparams; i++)
        if (!strcmp(c->leaf[cs->params[i]].name.base, param))
            li = (long)cs->params[i];
    cr_assert_geq(li, 0, "param %s exists", param);
    gp_id w = c->leaf[li].node, d;
    cr_assert_eq(derive_grad(c, cs->loss, 1, &w, &d), GP_OK);
    buf b = BUF_INIT;
    pr_opts o = {syn, 1, 0, NULL, NULL};
    print_expr(&b, c, d, &o);
    char *s = buf_take(&b);
    gp_ctx_free(c);
    return s;
}

#define DERIV_IS(text, param, syn, want)                                                         \
    do {                                                                                         \
        char *got = derivative(text, param, syn);                                                \
        cr_expect_str_eq(got, want, "d/d%s in syntax %d: got '%s', want '%s'", param, syn, got, want); \
        free(got);                                                                               \
    } while (0)

Test(print, sigmoid_derivative_uses_the_name_of_the_unit)
{
    const char *k = "input x\nparam s w\nz1 = sigmoid(s*x)\nloss f = w*z1\n";
    DERIV_IS(k, "s", PR_TEXT, "wz₁(1 − z₁)·x");
    DERIV_IS(k, "s", PR_CASE, "w*z1*(1 - z1)*x");
    /* without a name, sigma(a)(1 - sigma(a)) */
    DERIV_IS("input x\nparam s w\nloss f = w*sigmoid(s*x)\n", "s", PR_TEXT, "w·σ(sx)(1 − σ(sx))·x");
}

Test(print, tanh_derivative_is_one_minus_tanh_squared)
{
    /* the loss itself is a name: f = tanh(ax) gives 1 - f^2 */
    DERIV_IS("input x\nparam a\nloss f = tanh(a*x)\n", "a", PR_TEXT, "(1 − f²)·x");
    DERIV_IS("input x\nparam a\nloss f = 2*tanh(a*x)\n", "a", PR_TEXT, "2(1 − tanh²(ax))·x");
    DERIV_IS("input x\nparam a\nh = tanh(a*x)\nloss f = 2*h\n", "a", PR_TEXT, "2(1 − h²)·x");
    DERIV_IS("input x\nparam a\nloss f = 2*tanh(a*x)\n", "a", PR_LATEX, "2\\left(1 - \\tanh^{2}\\left(a x\\right)\\right) x");
}

Test(print, seed000_first_layer_reads_like_the_chain_rule)
{
    const char *k = "input x1 x2\ntarget y\nparam w111 w112 w121 w122 w211 w212\n"
                    "z11 = w111*x1 + w112*x2\nz12 = w121*x1 + w122*x2\nyhat = w211*z11 + w212*z12\n"
                    "loss C = mean((yhat - y)^2)/2\n";
    DERIV_IS(k, "w111", PR_TEXT, "w₂₁₁·mean((ŷ − y)·x₁)");
    DERIV_IS(k, "w111", PR_LATEX, "w_{211} \\operatorname{mean}\\left(\\left(\\hat{y} - y\\right) x_{1}\\right)");
    DERIV_IS(k, "w111", PR_CASE, "w211*mean((yhat - y)*x1)");
    DERIV_IS(k, "w211", PR_TEXT, "mean((ŷ − y)·z₁₁)");
}

Test(print, fractions_powers_and_signs)
{
    DERIV_IS("param w\nloss f = 1/w\n", "w", PR_TEXT, "−1/w²");
    DERIV_IS("param w\nloss f = 1/w\n", "w", PR_CASE, "-1/w^2");
    DERIV_IS("param w\nloss f = 1/w\n", "w", PR_LATEX, "-\\frac{1}{w^{2}}");
    DERIV_IS("param w\nloss f = sqrt(w)\n", "w", PR_TEXT, "1/(2√w)");
    DERIV_IS("param w\nloss f = sqrt(w)\n", "w", PR_CASE, "1/(2*sqrt(w))");
    DERIV_IS("param w\nloss f = w^(3/2)\n", "w", PR_TEXT, "3√w/2");
    DERIV_IS("param a b\nloss f = (a - b)^3\n", "b", PR_TEXT, "−3(a − b)²");
    DERIV_IS("param a b\nloss f = -(a - b)^2/2\n", "a", PR_TEXT, "b − a");
    /* 3*exp(-ax) is the loss f itself, so the derivative names it */
    DERIV_IS("param a\ninput x\nloss f = 3*exp(-a*x)\n", "a", PR_CASE, "-f*x");
    DERIV_IS("param a\ninput x\nloss f = 3*exp(-a*x) + a\n", "a", PR_CASE, "1 - 3*exp(-a*x)*x");
    DERIV_IS("param a\ninput x\nloss f = abs(a - x)\n", "a", PR_TEXT, "sign(a − x)");
    DERIV_IS("param a\ninput x\nloss f = relu(a*x)\n", "a", PR_CASE, "step(a*x)*x");
}

/* print in case syntax and parse back: the same node */
Test(print, case_syntax_parses_back_to_the_same_node)
{
    static const char *const exprs[] = {
        "-x^2", "(-x)^2", "a^b", "x^(1/2)*y", "(a + b)^3 - 2/(x*y)", "x/(2*y)", "-(a - x)/3",
        "exp(-x)*log(a + 1)", "mean(a*x)", "sum((x - y)^2)/2", "sigmoid(a*x)*(1 - sigmoid(a*x))",
        "relu(x) + abs(x) + softplus(x) + sin(x)*cos(x) + step(x) + sign(x)", "2^(1/2)*x", "1/(1 + exp(-a))",
    };
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        gp_ctx *c = gp_ctx_new();
        char text[512];
        snprintf(text, sizeof text, "input x y\nparam a b\nconst k = 2\nloss f = %s\n", exprs[i]);
        gp_case *cs;
        gp_status st = gp_case_load(c, "t.case", text, strlen(text), &cs);
        if (!strcmp(exprs[i], "a^b")) { /* not a constant exponent: refused, as it should be */
            cr_expect_eq(st, GP_EINPUT);
            gp_ctx_free(c);
            continue;
        }
        cr_assert_eq(st, GP_OK, "%s loads", exprs[i]);
        buf b = BUF_INIT;
        pr_opts o = {PR_CASE, 0, 0, NULL, NULL};
        print_expr(&b, c, cs->loss, &o);
        int src = diag_add_source(c, "expr", b.s, b.n);
        ast *a;
        cr_assert_eq(parse_expr_source(c, src, &a), GP_OK, "'%s' (from '%s') parses", b.s, exprs[i]);
        gp_id back = build_expr_in_case(cs, src, a);
        cr_expect_eq(back, cs->loss, "'%s' printed as '%s' parses back to node %u, not %u", exprs[i], b.s, back,
                     cs->loss);
        buf_free(&b);
        gp_ctx_free(c);
    }
}

Test(print, precedence_of_minus_and_power_is_fixed)
{
    /* -x^2 is -(x^2) and a^b^c is a^(b^c): the same nodes as the explicit forms */
    const char *pairs[][2] = {{"-x^2", "-(x^2)"}, {"2^3^2", "2^(3^2)"}, {"x^-1", "1/x"}, {"-2^2", "-4"}};
    for (size_t i = 0; i < 4; i++) {
        gp_ctx *c = gp_ctx_new();
        char text[256];
        snprintf(text, sizeof text, "input x\nparam w\na = %s\nb = %s\nloss f = w*(a - b)\n", pairs[i][0], pairs[i][1]);
        gp_case *cs;
        cr_assert_eq(gp_case_load(c, "t.case", text, strlen(text), &cs), GP_OK);
        /* a - b folds to 0 only if both sides are the same node */
        cr_expect(dag_is_zero(c, cs->loss), "%s should equal %s", pairs[i][0], pairs[i][1]);
        gp_ctx_free(c);
    }
}

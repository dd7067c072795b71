/*
 * test_effective.c -- the effective model of polynomial networks and the
 * linear relations among input features.
 *
 * Effective models: the seed networks, expanded by hand.  Seed 002's 2-2-1
 * linear network with biases is z = (u01*v1 + u02*v2 + v0) + (u11*v1 +
 * u12*v2)*x1 + (u21*v1 + u22*v2)*x2, the seed's own eq. (10); seed 001's
 * network phi = w2[1][1]*a1 + w2[2][1]*a2^2 is a full quadratic in x[1],
 * x[2] (1, 2 linear, 3 quadratic terms).  The coefficients are in the
 * canonical form of algebra.c (params in declaration order, deglex), which
 * the expected strings follow.  One test feeds the expansion back to the
 * claims module as `claim phi == ...`: the two modules must agree.
 *
 * Input dependencies: seed000_collinear.case splits x into x1 = (3/10)x and
 * x2 = (7/10)x, so 7*x1 - 3*x2 = 0 for every input; small cases with data
 * give relations that hold only on their rows (x2 = 2*x1, x3 = x1 + x2,
 * x2 = x1 + 1), relations among rational features with poles, and numeric
 * ones among functions (sin(x)^2 + cos(x)^2 = 1, 3*exp(x1) = e2).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "claims.h"
#include "ctx.h"
#include "effective.h"
#include "gradproof.h"

static const char *const syn_name[] = {"text", "latex", "case"};

static void log_diags(gp_ctx *c)
{
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        char *s = NULL;
        gp_diag_render(c, i, &s);
        cr_log_error("%s", s ? s : "?");
        gp_free(s);
    }
}

static gp_case *load_file(gp_ctx *c, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cases/%s", GP_SOURCE_DIR, name);
    gp_case *cs = NULL;
    gp_status st = gp_case_load_file(c, path, &cs);
    if (st != GP_OK)
        log_diags(c);
    cr_assert_eq(st, GP_OK, "%s does not load", name);
    return cs;
}

static gp_case *load_text(gp_ctx *c, const char *text)
{
    gp_case *cs = NULL;
    gp_status st = gp_case_load(c, "t.case", text, strlen(text), &cs);
    if (st != GP_OK)
        log_diags(c);
    cr_assert_eq(st, GP_OK, "the case does not load:\n%s", text);
    return cs;
}

/* term t of output o: monomial and coefficient in the three syntaxes */
static void expect_term(const eff_output *o, size_t t, const char *mono[3], const char *coeff[3])
{
    cr_assert_lt(t, o->nterms);
    for (int s = 0; s < 3; s++) {
        cr_expect_str_eq(o->term[t].monomial[s], mono[s], "term %zu monomial (%s): got '%s', want '%s'", t,
                         syn_name[s], o->term[t].monomial[s], mono[s]);
        cr_expect_str_eq(o->term[t].coeff[s], coeff[s], "term %zu coefficient (%s): got '%s', want '%s'", t,
                         syn_name[s], o->term[t].coeff[s], coeff[s]);
    }
}

/* ---- effective model ---- */

Test(effective, seed002_linear_net_is_one_affine_layer)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_file(c, "seed002_linear_net.case");
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_assert(e.polynomial, "why: %s", e.why ? e.why : "-");
    cr_expect_null(e.why);
    cr_assert_eq(e.nout, 1);
    const eff_output *o = &e.out[0];
    cr_expect_str_eq(o->name[PR_CASE], "z");
    cr_expect_eq(o->node, cs->out[0]);
    cr_assert_eq(o->nterms, 3);
    cr_expect_eq(o->degree, 1);
    /* eq. (10): w0 = v0 + u01*v1 + u02*v2, w1 = u11*v1 + u12*v2, w2 = u21*v1 + u22*v2 */
    expect_term(o, 0, (const char *[]){"1", "1", "1"},
                (const char *[]){"u₀₁v₁ + u₀₂v₂ + v₀", "u_{01} v_{1} + u_{02} v_{2} + v_{0}", "u01*v1 + u02*v2 + v0"});
    expect_term(o, 1, (const char *[]){"x₁", "x_{1}", "x1"},
                (const char *[]){"u₁₁v₁ + u₁₂v₂", "u_{11} v_{1} + u_{12} v_{2}", "u11*v1 + u12*v2"});
    expect_term(o, 2, (const char *[]){"x₂", "x_{2}", "x2"},
                (const char *[]){"u₂₁v₁ + u₂₂v₂", "u_{21} v_{1} + u_{22} v_{2}", "u21*v1 + u22*v2"});
    for (size_t t = 0; t < 3; t++) {
        cr_expect_eq(o->term[t].degree, t == 0 ? 0u : 1u);
        cr_expect_not(o->term[t].fixed);
    }
    cr_expect_eq(e.ncoeff, 3);
    cr_expect_eq(e.ncoeff_distinct, 3);
    cr_expect_eq(e.degree, 1);
    cr_assert_eq(e.ninput, 2);
    cr_expect_str_eq(cs->c->leaf[e.input[0]].name.base, "x1");
    cr_expect_str_eq(cs->c->leaf[e.input[1]].name.base, "x2");
    cr_expect_str_eq(e.summary[PR_TEXT], "one affine layer in x₁, x₂ (3 coefficients)");
    cr_expect_str_eq(e.summary[PR_LATEX], "one affine layer in x_{1}, x_{2} (3 coefficients)");
    cr_expect_str_eq(e.summary[PR_CASE], "one affine layer in x1, x2 (3 coefficients)");
    effective_free(&e);
    cr_expect_eq(gp_diag_count(c), 0);
    gp_ctx_free(c);
}

Test(effective, seed000_linear_221_is_linear_without_bias)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_file(c, "seed000_linear_221.case");
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_assert(e.polynomial, "why: %s", e.why ? e.why : "-");
    cr_assert_eq(e.nout, 1);
    const eff_output *o = &e.out[0];
    cr_expect_str_eq(o->name[PR_CASE], "yhat");
    cr_expect_str_eq(o->name[PR_TEXT], "ŷ");
    cr_assert_eq(o->nterms, 2);
    expect_term(o, 0, (const char *[]){"x₁", "x_{1}", "x1"},
                (const char *[]){"w₁₁₁w₂₁₁ + w₁₂₁w₂₁₂", "w_{111} w_{211} + w_{121} w_{212}", "w111*w211 + w121*w212"});
    expect_term(o, 1, (const char *[]){"x₂", "x_{2}", "x2"},
                (const char *[]){"w₁₁₂w₂₁₁ + w₁₂₂w₂₁₂", "w_{112} w_{211} + w_{122} w_{212}", "w112*w211 + w122*w212"});
    cr_expect_eq(e.ncoeff, 2);
    cr_expect_str_eq(e.summary[PR_CASE], "one linear layer without bias in x1, x2 (2 coefficients)");
    effective_free(&e);
    gp_ctx_free(c);
}

Test(effective, seed001_quadratic_has_six_coefficients)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_file(c, "seed001_quadratic.case");
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_assert(e.polynomial, "why: %s", e.why ? e.why : "-");
    cr_assert_eq(e.nout, 1);
    const eff_output *o = &e.out[0];
    /* `phi = a2` then `output phi`: the output goes by the name it was given */
    cr_expect_str_eq(o->name[PR_CASE], "phi");
    cr_expect_str_eq(o->name[PR_TEXT], "φ");
    cr_assert_eq(o->nterms, 6);
    static const char *const mono[6] = {"1", "x[1]", "x[2]", "x[1]^2", "x[1]*x[2]", "x[2]^2"};
    static const unsigned deg[6] = {0, 1, 1, 2, 2, 2};
    for (size_t t = 0; t < 6; t++) {
        cr_expect_str_eq(o->term[t].monomial[PR_CASE], mono[t], "term %zu: got '%s', want '%s'", t,
                         o->term[t].monomial[PR_CASE], mono[t]);
        cr_expect_eq(o->term[t].degree, deg[t], "term %zu: degree %u", t, o->term[t].degree);
    }
    cr_expect_str_eq(o->term[3].monomial[PR_TEXT], "x₁²");
    cr_expect_str_eq(o->term[4].monomial[PR_LATEX], "x_{1} x_{2}");
    /* phi = w2[1][1]*(w1[0][1] + ...) + w2[2][1]*(w1[0][2] + w1[1][2]*x[1] + w1[2][2]*x[2])^2 */
    cr_expect_str_eq(o->term[0].coeff[PR_CASE], "w1[0][2]^2*w2[2][1] + w1[0][1]*w2[1][1]");
    cr_expect_str_eq(o->term[1].coeff[PR_CASE], "2*w1[0][2]*w1[1][2]*w2[2][1] + w1[1][1]*w2[1][1]");
    cr_expect_str_eq(o->term[4].coeff[PR_CASE], "2*w1[1][2]*w1[2][2]*w2[2][1]");
    cr_expect_str_eq(o->term[5].coeff[PR_CASE], "w1[2][2]^2*w2[2][1]");
    cr_expect_eq(e.ncoeff, 6);
    cr_expect_eq(e.degree, 2);
    cr_expect_str_eq(e.summary[PR_TEXT], "a quadratic polynomial in x₁, x₂ (6 coefficients)");
    effective_free(&e);
    gp_ctx_free(c);
}

/* The expansion, written back as a claim, is judged to hold by claims.c. */
Test(effective, expansion_parses_back_and_holds_as_a_claim)
{
    static const char *const files[] = {"seed001_quadratic.case", "seed002_linear_net.case",
                                        "seed000_collinear.case"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/cases/%s", GP_SOURCE_DIR, files[f]);
        char *src = NULL;
        size_t len = 0;
        cr_assert_eq(ctx_read_file(path, 1 << 20, &src, &len), 0);
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_text(c, src);
        effective e;
        cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
        cr_assert(e.polynomial);
        size_t cap = len + 65536;
        char *text = malloc(cap);
        int n = snprintf(text, cap, "%s\nclaim %s == ", src, e.out[0].name[PR_CASE]);
        for (size_t t = 0; t < e.out[0].nterms; t++)
            n += snprintf(text + n, cap - (size_t)n, "%s(%s)*(%s)", t ? " + " : "", e.out[0].term[t].coeff[PR_CASE],
                          e.out[0].term[t].monomial[PR_CASE]);
        snprintf(text + n, cap - (size_t)n, "\n");
        effective_free(&e);
        gp_ctx *c2 = gp_ctx_new();
        gp_case *cs2 = load_text(c2, text);
        claim_result *res = calloc(cs2->nclaims, sizeof *res);
        claims_opts opt = {0, 0};
        cr_assert_eq(claims_judge(cs2, &opt, res), GP_OK);
        size_t last = cs2->nclaims - 1;
        cr_expect_eq(res[last].verdict, CV_HOLDS, "%s: the expansion does not hold: %s", files[f],
                     cs2->claims[last].text);
        cr_expect_eq(res[last].method, CM_EXACT);
        for (size_t i = 0; i < cs2->nclaims; i++)
            claim_result_free(&res[i]);
        free(res);
        free(text);
        free(src);
        gp_ctx_free(c2);
        gp_ctx_free(c);
    }
}

Test(effective, seed003_sigmoid_is_not_polynomial)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_file(c, "seed003_sigmoid_2331.case");
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_expect_not(e.polynomial);
    cr_expect_eq(e.nout, 0);
    cr_expect_null(e.out);
    cr_assert_not_null(e.why);
    cr_expect(strstr(e.why, "sigmoid") != NULL, "why: %s", e.why);
    cr_expect_str_eq(e.why, "yhat is not a polynomial: it calls sigmoid (in h1)");
    for (int s = 0; s < 3; s++)
        cr_expect_null(e.summary[s]);
    effective_free(&e);
    gp_ctx_free(c);
}

Test(effective, division_and_fractional_power_are_not_polynomial)
{
    static const struct {
        const char *def, *why;
    } cases[] = {
        {"yhat = w*x1/(x1 + x2)", "yhat is not a polynomial: it divides by x1 + x2"},
        {"yhat = x1/w", "yhat is not a polynomial: it divides by w"},
        {"yhat = w*x1^(1/2)", "yhat is not a polynomial: it takes a fractional power: sqrt(x1)"},
        {"yhat = w*x1^(2/3)", "yhat is not a polynomial: it takes a fractional power: x1^(2/3)"},
        {"yhat = w*exp(x1) + x2", "yhat is not a polynomial: it calls exp: exp(x1)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "input x1 x2\ntarget y\nparam w\n%s\noutput yhat\nloss L = (yhat - y)^2\n",
                 cases[i].def);
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_text(c, text);
        effective e;
        cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
        cr_expect_not(e.polynomial, "%s", cases[i].def);
        cr_expect_str_eq(e.why, cases[i].why, "%s: got '%s'", cases[i].def, e.why ? e.why : "(null)");
        effective_free(&e);
        gp_ctx_free(c);
    }
}

Test(effective, term_limit_is_a_result_not_an_error)
{
    gp_ctx *c = gp_ctx_new();
    gp_limits lim;
    gp_ctx_get_limits(c, &lim);
    lim.max_expand_terms = 4;
    gp_ctx_set_limits(c, &lim);
    gp_case *cs = load_file(c, "seed001_quadratic.case");
    size_t nd = gp_diag_count(c);
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_expect_not(e.polynomial);
    cr_expect_eq(e.nout, 0);
    cr_expect_str_eq(e.why, "the expansion of phi exceeds 4 terms");
    cr_expect_eq(gp_diag_count(c), nd, "the limit left a diagnostic behind");
    effective_free(&e);
    gp_ctx_free(c);
}

Test(effective, two_outputs_count_their_coefficients_separately)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x[1..2]\ntarget y[1..2]\nparam W[1..2][1..2] b[1..2] V[1..2][1..2]\n"
                               "h[k] = sum(j = 1..2, W[k][j]*x[j]) + b[k] for k in 1..2\n"
                               "o[k] = sum(j = 1..2, V[k][j]*h[j]) for k in 1..2\n"
                               "output o\n"
                               "loss C = mean(sum(k = 1..2, (o[k] - y[k])^2))\n");
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_assert(e.polynomial);
    cr_assert_eq(e.nout, 2);
    cr_expect_str_eq(e.out[0].name[PR_CASE], "o[1]");
    cr_expect_str_eq(e.out[1].name[PR_CASE], "o[2]");
    cr_expect_eq(e.out[0].nterms, 3);
    cr_expect_eq(e.out[1].nterms, 3);
    cr_expect_str_eq(e.out[1].term[2].coeff[PR_CASE], "W[1][2]*V[2][1] + W[2][2]*V[2][2]");
    cr_expect_eq(e.ncoeff, 6);
    cr_expect_eq(e.ncoeff_distinct, 3);
    cr_expect_str_eq(e.summary[PR_CASE], "one affine layer in x[1], x[2] to 2 outputs (6 coefficients)");
    effective_free(&e);
    gp_ctx_free(c);
}

Test(effective, quadratic_form_and_fixed_coefficients)
{
    gp_ctx *c = gp_ctx_new();
    /* o = (w*x1 + x2)^2: the x2^2 coefficient is the number 1, no param */
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w\nh = w*x1 + x2\no = h^2\noutput o\n"
                               "loss L = (o - y)^2\n");
    effective e;
    cr_assert_eq(effective_model(&e, cs, cs->nout, cs->out), GP_OK);
    cr_assert(e.polynomial);
    cr_assert_eq(e.out[0].nterms, 3);
    cr_expect_str_eq(e.out[0].term[0].coeff[PR_CASE], "w^2");
    cr_expect_str_eq(e.out[0].term[1].coeff[PR_CASE], "2*w");
    cr_expect_str_eq(e.out[0].term[2].coeff[PR_CASE], "1");
    cr_expect_not(e.out[0].term[1].fixed);
    cr_expect(e.out[0].term[2].fixed);
    cr_expect_eq(e.ncoeff, 2);
    cr_expect_eq(e.ncoeff_distinct, 3);
    cr_expect_str_eq(e.summary[PR_CASE], "a quadratic form in x1, x2 (2 coefficients)");
    effective_free(&e);
    gp_ctx_free(c);
}

/* ---- input dependencies ---- */

static void expect_rel(const input_deps *d, size_t i, const char *text[3], int data_only, int exact)
{
    cr_assert_lt(i, d->nrel, "relation %zu of %zu", i, d->nrel);
    for (int s = 0; s < 3; s++)
        cr_expect_str_eq(d->rel[i].text[s], text[s], "relation %zu (%s): got '%s', want '%s'", i, syn_name[s],
                         d->rel[i].text[s], text[s]);
    cr_expect_eq(d->rel[i].on_data_only, data_only, "relation %zu: on_data_only %d", i, d->rel[i].on_data_only);
    cr_expect_eq(d->rel[i].exact, exact, "relation %zu: exact %d", i, d->rel[i].exact);
}

static void log_deps(const input_deps *d)
{
    cr_log_info("features %zu, rank %ld, data rank %ld, method: %s", d->nfeat, d->rank, d->data_rank,
                d->method ? d->method : "-");
    for (size_t i = 0; i < d->nrel; i++)
        cr_log_info("  %s%s", d->rel[i].text[PR_CASE], d->rel[i].on_data_only ? " (data)" : "");
}

Test(input_deps, seed000_collinear_inputs_for_every_input)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_file(c, "seed000_collinear.case");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 1), GP_OK);
    log_deps(&d);
    /* the features are the named intermediates x1 = a*x, x2 = (1 - a)*x, a = 3/10 */
    cr_assert_eq(d.nfeat, 2);
    cr_expect_str_eq(d.feat_name[0][PR_CASE], "x1");
    cr_expect_str_eq(d.feat_name[1][PR_CASE], "x2");
    cr_expect_str_eq(d.feat_name[0][PR_TEXT], "x₁");
    cr_expect_lt(d.feat[0], d.feat[1]);
    cr_assert_eq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"7x₁ − 3x₂ = 0", "7 x_{1} - 3 x_{2} = 0", "7*x1 - 3*x2 = 0"}, 0, 1);
    cr_expect_eq(d.rank, 2);
    cr_expect_eq(d.data_rank, -1);
    cr_expect_not(d.numeric);
    cr_expect(strstr(d.method, "exact") == d.method, "%s", d.method);
    cr_expect(strstr(d.method, "proved by polynomial identity") != NULL, "%s", d.method);
    input_deps_free(&d);
    cr_expect_eq(gp_diag_count(c), 0);
    gp_ctx_free(c);
}

Test(input_deps, independent_inputs_have_no_relation)
{
    static const char *const files[] = {"seed002_linear_net.case", "seed001_quadratic.case",
                                        "seed003_sigmoid_2331.case"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_file(c, files[f]);
        input_deps d;
        cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
        log_deps(&d);
        cr_expect_eq(d.nfeat, 2, "%s", files[f]);
        cr_expect_eq(d.nrel, 0, "%s", files[f]);
        cr_expect_eq(d.rank, 3, "%s", files[f]);
        cr_expect_eq(d.data_rank, -1, "%s", files[f]);
        input_deps_free(&d);
        gp_ctx_free(c);
    }
    /* with data in general position: full data rank, still nothing */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w1 w2 b\nyhat = b + w1*x1 + w2*x2\noutput yhat\n"
                               "loss C = mean((yhat - y)^2)/2\n"
                               "data\n x1 x2 y\n 1 2 1\n 2 3 0\n -1 0.5 3\n 4 -2 1\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    cr_expect_eq(d.nrel, 0);
    cr_expect_eq(d.rank, 3);
    cr_expect_eq(d.data_rank, 3);
    cr_expect_eq(d.data_rows, 4);
    input_deps_free(&d);
    gp_ctx_free(c);
}

Test(input_deps, columns_proportional_only_on_the_data)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w1 w2 b\nyhat = b + w1*x1 + w2*x2\noutput yhat\n"
                               "loss C = mean((yhat - y)^2)/2\n"
                               "data\n x1 x2 y\n 1 2 1\n 2 4 0\n -1 -2 3\n 0.5 1 2\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    log_deps(&d);
    cr_assert_eq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"2x₁ − x₂ = 0", "2 x_{1} - x_{2} = 0", "2*x1 - x2 = 0"}, 1, 1);
    cr_expect_eq(d.rank, 3);
    cr_expect_eq(d.data_rank, 2);
    cr_expect_eq(d.data_rows, 4);
    cr_expect(strstr(d.method, "on the data: exact rank over 4 rows") != NULL, "%s", d.method);
    input_deps_free(&d);
    gp_ctx_free(c);
}

Test(input_deps, third_input_is_the_sum_on_the_data)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2 x3\ntarget y\nparam w1 w2 w3\nyhat = w1*x1 + w2*x2 + w3*x3\n"
                               "output yhat\nloss C = mean((yhat - y)^2)/2\n"
                               "data\n x1 x2 x3 y\n 1 2 3 1\n 2 -1 1 0\n -1 5 4 3\n 0.5 1 1.5 2\n 7 1 8 2\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    log_deps(&d);
    cr_assert_eq(d.nfeat, 3);
    cr_assert_eq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"x₁ + x₂ − x₃ = 0", "x_{1} + x_{2} - x_{3} = 0", "x1 + x2 - x3 = 0"}, 1, 1);
    cr_expect_eq(d.rank, 4);
    cr_expect_eq(d.data_rank, 3);
    input_deps_free(&d);
    gp_ctx_free(c);
}

Test(input_deps, affine_relation_on_the_data_keeps_its_constant)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w1 w2\nyhat = w1*x1 + w2*x2\noutput yhat\n"
                               "loss C = mean((yhat - y)^2)/2\n"
                               "data\n x1 x2 y\n 1 2 1\n 2 3 0\n -1 0 3\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    cr_assert_eq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"x₁ − x₂ + 1 = 0", "x_{1} - x_{2} + 1 = 0", "x1 - x2 + 1 = 0"}, 1, 1);
    cr_expect_eq(d.data_rank, 2);
    input_deps_free(&d);
    gp_ctx_free(c);
}

/* A relation for every input is not repeated for the data, and a data
   relation it implies is left out: here x1 = (3/10)x, x2 = (7/10)x and
   z = 2x on the data, so 3z = 20x1 and 7z = 20x2 on the data, and the
   second follows from the first and 7x1 = 3x2. */
Test(input_deps, data_relations_exclude_what_holds_everywhere)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x z\ntarget y\nparam w1 w2 w3\nconst a = 3/10\n"
                               "x1 = a*x\nx2 = (1 - a)*x\nyhat = w1*x1 + w2*x2 + w3*z\noutput yhat\n"
                               "loss C = mean((yhat - y)^2)/2\n"
                               "data\n x z y\n 1 2 1\n 2 4 0\n -1 -2 3\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    log_deps(&d);
    cr_assert_eq(d.nfeat, 3);
    /* the input z is a leaf, older than the intermediates */
    cr_expect_str_eq(d.feat_name[0][PR_CASE], "z");
    cr_assert_eq(d.nrel, 2);
    expect_rel(&d, 0, (const char *[]){"7x₁ − 3x₂ = 0", "7 x_{1} - 3 x_{2} = 0", "7*x1 - 3*x2 = 0"}, 0, 1);
    expect_rel(&d, 1, (const char *[]){"3z − 20x₁ = 0", "3 z - 20 x_{1} = 0", "3*z - 20*x1 = 0"}, 1, 1);
    cr_expect_eq(d.rank, 3);
    cr_expect_eq(d.data_rank, 2);
    input_deps_free(&d);
    gp_ctx_free(c);
}

/* Rational features with poles: rows where a feature is undefined are
   skipped, and f + g = 1 is proved as an identity of rational functions. */
Test(input_deps, rational_features_are_exact)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w1 w2 w3\n"
                               "f = x1/(x1 + x2)\ng = x2/(x1 + x2)\nyhat = w1*f + w2*g + w3*x1\noutput yhat\n"
                               "loss C = mean((yhat - y)^2)/2\n"
                               "data\n x1 x2 y\n 1 2 1\n -1 1 0\n 2 3 3\n 1 -1 3\n 4 1 0\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    log_deps(&d);
    cr_assert_eq(d.nfeat, 3);
    cr_expect_not(d.numeric);
    cr_assert_geq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"f + g − 1 = 0", "f + g - 1 = 0", "f + g - 1 = 0"}, 0, 1);
    cr_expect_eq(d.nrel, 1);
    cr_expect_eq(d.rank, 3);
    cr_expect_eq(d.data_rows, 3);
    cr_expect_eq(d.data_rank, 3);
    cr_expect(strstr(d.method, "2 rows skipped") != NULL, "%s", d.method);
    input_deps_free(&d);
    gp_ctx_free(c);
}

Test(input_deps, numeric_features_sin_squared_plus_cos_squared)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x\ntarget y\nparam w1 w2 w3\ns = sin(x)^2\nk = cos(x)^2\n"
                               "yhat = w1*s + w2*k + w3*x\noutput yhat\nloss C = mean((yhat - y)^2)/2\n"
                               "data\n x y\n 1 1\n 2 0\n 0 0\n 0.5 1\nend\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    log_deps(&d);
    cr_expect(d.numeric);
    cr_expect(strstr(d.method, "numeric") == d.method, "%s", d.method);
    cr_assert_eq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"s + k − 1 = 0", "s + k - 1 = 0", "s + k - 1 = 0"}, 0, 0);
    cr_expect_eq(d.rank, 3);
    cr_expect_eq(d.data_rank, 3);
    input_deps_free(&d);
    gp_ctx_free(c);
}

Test(input_deps, numeric_features_proportional_exponentials)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w1 w2 w3\ne1 = exp(x1)\ne2 = 3*exp(x1)\n"
                               "yhat = w1*e1 + w2*e2 + w3*x2\noutput yhat\nloss C = mean((yhat - y)^2)/2\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    log_deps(&d);
    cr_expect(d.numeric);
    cr_assert_eq(d.nrel, 1);
    expect_rel(&d, 0, (const char *[]){"3e₁ − e₂ = 0", "3 e_{1} - e_{2} = 0", "3*e1 - e2 = 0"}, 0, 0);
    cr_expect_eq(d.rank, 3);
    cr_expect_eq(d.data_rank, -1);
    input_deps_free(&d);
    gp_ctx_free(c);
}

/* An unnamed affine wrapper (2*x1 + 1) is seen through: the feature is x1. */
Test(input_deps, features_see_through_affine_wrappers_and_no_inputs)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x1 x2\ntarget y\nparam w1 w2\nyhat = w1*(2*x1 + 1) + w2*x2\noutput yhat\n"
                               "loss L = (yhat - y)^2\n");
    input_deps d;
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    cr_assert_eq(d.nfeat, 2);
    cr_expect_str_eq(d.feat_name[0][PR_CASE], "x1");
    cr_expect_str_eq(d.feat_name[1][PR_CASE], "x2");
    cr_expect_eq(d.nrel, 0);
    input_deps_free(&d);
    gp_ctx_free(c);

    c = gp_ctx_new();
    cs = load_text(c, "input x\ntarget y\nparam w\nyhat = w^2\noutput yhat\nloss L = (yhat - y)^2\n");
    cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, 0), GP_OK);
    cr_expect_eq(d.nfeat, 0);
    cr_expect_eq(d.nrel, 0);
    cr_expect_eq(d.rank, 1);
    cr_expect_str_eq(d.method, "no input feature reaches a param");
    input_deps_free(&d);
    gp_ctx_free(c);
}

Test(input_deps, results_do_not_depend_on_the_seed)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_file(c, "seed000_collinear.case");
        input_deps d;
        cr_assert_eq(input_dependencies(&d, cs, cs->nout, cs->out, seed), GP_OK);
        cr_assert_eq(d.nrel, 1, "seed %llu", (unsigned long long)seed);
        cr_expect_str_eq(d.rel[0].text[PR_CASE], "7*x1 - 3*x2 = 0", "seed %llu", (unsigned long long)seed);
        input_deps_free(&d);
        gp_ctx_free(c);
    }
}

Test(input_deps, free_accepts_a_zeroed_struct)
{
    input_deps d;
    memset(&d, 0, sizeof d);
    input_deps_free(&d);
    effective e;
    memset(&e, 0, sizeof e);
    effective_free(&e);
}

/*
 * test_claims.c -- verdicts, methods, counterexamples and diagnoses of
 * claims, on small cases written as strings.
 *
 * Each test loads a case, judges its claims with claims_judge() and checks
 * the verdict, the method (exact for rational sides, numeric otherwise),
 * that a failure comes with a counterexample whose two values differ, and
 * the diagnosis.  The expected diagnoses were worked out by hand: e.g. for
 * C = mean((w*v*x - y)^2)/2 the truth is v*mean((wvx - y)x), so the claim
 * mean((y - w*v*x)*x) is the truth times -1/v: a sign error and a missing
 * factor v.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "claims.h"
#include "ctx.h"
#include "gradproof.h"

typedef struct judged {
    gp_ctx *c;
    gp_case *cs;
    claim_result *res;
    size_t n;
} judged;

static judged judge_text(const char *text)
{
    judged j;
    j.c = gp_ctx_new();
    cr_assert_not_null(j.c);
    gp_status st = gp_case_load(j.c, "t.case", text, strlen(text), &j.cs);
    if (st != GP_OK) {
        for (size_t i = 0; i < gp_diag_count(j.c); i++) {
            char *s = NULL;
            gp_diag_render(j.c, i, &s);
            cr_log_error("%s", s ? s : "?");
            gp_free(s);
        }
    }
    cr_assert_eq(st, GP_OK, "the case does not load");
    j.n = j.cs->nclaims;
    j.res = calloc(j.n ? j.n : 1, sizeof *j.res);
    claims_opts o = {0, 0};
    cr_assert_eq(claims_judge(j.cs, &o, j.res), GP_OK);
    return j;
}

static void judged_free(judged *j)
{
    for (size_t i = 0; i < j->n; i++)
        claim_result_free(&j->res[i]);
    free(j->res);
    gp_ctx_free(j->c);
}

static const char *const vword[] = {"holds", "fails", "unknown"};

/* claim i: verdict, method, and (when diag is not NULL) a diagnosis containing diag */
static void expect_claim(const judged *j, size_t i, claim_verdict v, claim_method m, const char *diag)
{
    const claim_result *r = &j->res[i];
    const char *text = j->cs->claims[i].text;
    cr_expect_eq(r->verdict, v, "claim '%s': %s, expected %s (reason: %s)", text, vword[r->verdict], vword[v],
                 r->reason ? r->reason : "-");
    cr_expect_eq(r->method, m, "claim '%s': method %d, expected %d", text, (int)r->method, (int)m);
    if (v == CV_FAILS) {
        cr_expect(r->has_cx, "claim '%s': no counterexample", text);
        if (r->has_cx)
            cr_expect_str_neq(r->claimed, r->actual, "claim '%s': the counterexample's values agree", text);
        cr_expect_eq(r->cx_exact, m == CM_EXACT, "claim '%s': exact values iff exact method", text);
    } else {
        cr_expect(!r->has_cx, "claim '%s': a counterexample for a claim that %s", text, vword[r->verdict]);
    }
    if (diag) {
        cr_expect(r->diagnosis && strstr(r->diagnosis, diag), "claim '%s': diagnosis '%s', expected '%s'", text,
                  r->diagnosis ? r->diagnosis : "(none)", diag);
    }
}

static const char linear[] =
    "input x\n"
    "target y\n"
    "param w v\n"
    "h = w*x\n"
    "yhat = v*h\n"
    "loss C = mean((yhat - y)^2)/2\n";

Test(claims, exact_derivative_claims_hold_and_fail_with_diagnoses)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", linear,
             "claim dC/dw = mean((yhat - y)*v*x)\n"      /* 0 holds */
             "claim dC/dw = mean((y - yhat)*v*x)\n"      /* 1 sign error */
             "claim dC/dw = mean((y - yhat)*x)\n"        /* 2 sign error; missing factor v */
             "claim dC/dw = 2*mean((yhat - y)*v*x)\n"    /* 3 factor of 2 */
             "claim dC/dw = mean((yhat - y)*v*x)/2\n"    /* 4 factor of 1/2 */
             "claim dC/dw = 3*mean((yhat - y)*v*x)\n"    /* 5 constant 3 */
             "claim dC/dw = mean((yhat - y)*v*x*x)\n"    /* 6 extra factor x (a moment: not a monomial ratio) */
             "claim dC/dw = mean((yhat - y)*v*w*x)\n"    /* 7 extra factor w */
             "claim dC/dw = mean((yhat - y)*w*x)\n"      /* 8 factor w in place of v */
             "claim dC/dv = mean((yhat - y)*h) + w\n"    /* 9 a single term */
             "claim dC/dw = dC/dv\n");                   /* 10 fails, no simple diagnosis */
    judged j = judge_text(text);
    cr_assert_eq(j.n, 11);
    expect_claim(&j, 0, CV_HOLDS, CM_EXACT, NULL);
    expect_claim(&j, 1, CV_FAILS, CM_EXACT, "sign error");
    expect_claim(&j, 2, CV_FAILS, CM_EXACT, "sign error; missing factor v");
    expect_claim(&j, 3, CV_FAILS, CM_EXACT, "factor of 2");
    expect_claim(&j, 4, CV_FAILS, CM_EXACT, "factor of 1/2");
    expect_claim(&j, 5, CV_FAILS, CM_EXACT, "off by a constant factor 3");
    expect_claim(&j, 6, CV_FAILS, CM_EXACT, NULL);
    expect_claim(&j, 7, CV_FAILS, CM_EXACT, "extra factor w");
    expect_claim(&j, 8, CV_FAILS, CM_EXACT, "factor w in place of v");
    expect_claim(&j, 9, CV_FAILS, CM_EXACT, "differs by a single term: claim − true = w");
    expect_claim(&j, 10, CV_FAILS, CM_EXACT, NULL);
    cr_expect_null(j.res[0].diagnosis);
    judged_free(&j);
}

Test(claims, simplest_counterexample_is_all_ones_with_exact_values)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", linear, "claim dC/dw = mean((y - yhat)*v*x)\n");
    judged j = judge_text(text);
    const claim_result *r = &j.res[0];
    cr_assert(r->has_cx);
    /* all params 1, one sample x = 1, y = 2: true = (1 - 2)*1 = -1 */
    cr_expect_str_eq(r->cx_point, "w = 1, v = 1");
    cr_expect_str_eq(r->cx_data, "1 sample: (x = 1, y = 2)");
    cr_expect_str_eq(r->actual, "-1");
    cr_expect_str_eq(r->claimed, "1");
    cr_expect_str_eq(r->cx_point_json, "{\"w\": \"1\", \"v\": \"1\"}");
    judged_free(&j);
}

Test(claims, per_sample_claims_show_the_sample)
{
    judged j = judge_text("input x\ntarget y\nparam w v\nh = w*x\nyhat = v*h\nloss L = (yhat - y)^2/2\n"
                          "claim dyhat/dw = v*x\n"
                          "claim dyhat/dw = x\n"
                          "claim dL/dw = (y - yhat)*v*x\n");
    expect_claim(&j, 0, CV_HOLDS, CM_EXACT, NULL);
    expect_claim(&j, 1, CV_FAILS, CM_EXACT, "missing factor v");
    expect_claim(&j, 2, CV_FAILS, CM_EXACT, "sign error");
    cr_expect(j.res[1].cx_data_json && strstr(j.res[1].cx_data_json, "\"sample\": {\"x\""), "%s",
              j.res[1].cx_data_json ? j.res[1].cx_data_json : "(none)");
    /* the point shows only the params of the claim */
    cr_expect_str_eq(j.res[1].cx_point, "v = 2");
    judged_free(&j);
}

Test(claims, identity_claims_are_judged_like_derivatives)
{
    judged j = judge_text("input x1 x2\nparam a b c\nz = a*(b*x1 + c*x2)\nloss C = z^2\n"
                          "claim z == a*b*x1 + a*c*x2\n"
                          "claim z == a*b*x1 - a*c*x2\n"
                          "claim (a + b)^2 == a^2 + 2*a*b + b^2\n"
                          "claim (a + b)^2 == a^2 + b^2\n");
    expect_claim(&j, 0, CV_HOLDS, CM_EXACT, NULL);
    expect_claim(&j, 1, CV_FAILS, CM_EXACT, "differs by a single term");
    expect_claim(&j, 2, CV_HOLDS, CM_EXACT, NULL);
    expect_claim(&j, 3, CV_FAILS, CM_EXACT, "claim − true = −2ab");
    judged_free(&j);
}

Test(claims, exact_holds_means_for_every_data_set_not_only_the_cases)
{
    /* on this data x = 1, so mean((w*x - y)*x) = mean(w*x - y): the claim is
       right on the case's data but not in general, and fails with a data set
       of its own */
    judged j = judge_text("input x\ntarget y\nparam w\nloss C = mean((w*x - y)^2)/2\n"
                          "data\n x y\n 1 2\n 1 3\nend\n"
                          "claim dC/dw = mean(w*x - y)\n"
                          "claim dC/dw = mean((w*x - y)*x)\n");
    expect_claim(&j, 0, CV_FAILS, CM_EXACT, NULL);
    cr_expect(j.res[0].cx_data_json && strstr(j.res[0].cx_data_json, "\"samples\""), "%s",
              j.res[0].cx_data_json ? j.res[0].cx_data_json : "(none)");
    expect_claim(&j, 1, CV_HOLDS, CM_EXACT, NULL);
    judged_free(&j);
}

Test(claims, numeric_verdicts_for_functions)
{
    judged j = judge_text("input x\ntarget y\nparam w v\nh = tanh(w*x)\nyhat = v*h\nloss L = (yhat - y)^2/2\n"
                          "claim dL/dw = (yhat - y)*v*(1 - h^2)*x\n"  /* 0 holds */
                          "claim dL/dw = (y - yhat)*v*(1 - h^2)*x\n"  /* 1 sign error */
                          "claim dL/dw = 2*(yhat - y)*v*(1 - h^2)*x\n" /* 2 factor of 2 */
                          "claim dL/dw = 5/7*(yhat - y)*v*(1 - h^2)*x\n" /* 3 constant 5/7 */
                          "claim dL/dw = (yhat - y)*v*(1 - h)^2*x\n"  /* 4 fails */
                          "claim dL/dw = sqrt(2*L)*v*(1 - h^2)*x\n"); /* 5 right only where yhat > y */
    expect_claim(&j, 0, CV_HOLDS, CM_NUMERIC, NULL);
    cr_expect_eq(j.res[0].npoints, CLAIMS_POINTS);
    expect_claim(&j, 1, CV_FAILS, CM_NUMERIC, "sign error");
    expect_claim(&j, 2, CV_FAILS, CM_NUMERIC, "factor of 2");
    expect_claim(&j, 3, CV_FAILS, CM_NUMERIC, "off by a constant factor 5/7");
    expect_claim(&j, 4, CV_FAILS, CM_NUMERIC, NULL);
    expect_claim(&j, 5, CV_FAILS, CM_NUMERIC, "wrong sign on part of the domain");
    judged_free(&j);
}

Test(claims, a_claim_that_cannot_be_evaluated_anywhere_is_unknown)
{
    judged j = judge_text("input x\nparam w\nloss C = w*x\n"
                          "claim dC/dw = x + log(-1 - w^2)\n");
    expect_claim(&j, 0, CV_UNKNOWN, CM_NUMERIC, NULL);
    cr_expect(j.res[0].reason && strstr(j.res[0].reason, "no point"), "%s", j.res[0].reason ? j.res[0].reason : "-");
    judged_free(&j);
}

Test(claims, rational_claim_with_a_zero_denominator_side_is_exact)
{
    judged j = judge_text("input x\nparam w\nloss C = 1/(w*x)\n"
                          "claim dC/dw = -1/(w^2*x)\n"
                          "claim dC/dw = 1/(w^2*x)\n");
    expect_claim(&j, 0, CV_HOLDS, CM_EXACT, NULL);
    expect_claim(&j, 1, CV_FAILS, CM_EXACT, "sign error");
    judged_free(&j);
}

Test(claims, render_text_and_json)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = NULL;
    char text[4096];
    snprintf(text, sizeof text, "%s%s", linear, "claim dC/dw = mean((yhat - y)*v*x)\nclaim dC/dw = mean((y - yhat)*x)\n");
    cr_assert_eq(gp_case_load(c, "t.case", text, strlen(text), &cs), GP_OK);
    gp_claims_opts o = {GP_FMT_TEXT, 0, 0};
    gp_claims_summary s;
    char *out = NULL;
    cr_assert_eq(gp_claims_render(cs, &o, &out, &s), GP_OK);
    cr_expect_eq(s.claims, 2);
    cr_expect_eq(s.hold, 1);
    cr_expect_eq(s.fail, 1);
    cr_expect(strstr(out, "line 7    holds   (exact)  dC/dw = mean((yhat - y)*v*x)\n"), "%s", out);
    cr_expect(strstr(out, "line 8    fails   (exact)  dC/dw = mean((y - yhat)*x)\n    at w = 1, v = 1\n"), "%s", out);
    cr_expect(strstr(out, "    diagnosis: sign error; missing factor v\n"), "%s", out);
    cr_expect(strstr(out, "\n2 claims: 1 holds, 1 fails\n"), "%s", out);
    gp_free(out);
    o.format = GP_FMT_JSON;
    cr_assert_eq(gp_claims_render(cs, &o, &out, &s), GP_OK);
    cr_expect(strncmp(out, "{\"ok\": false, \"claims\": [", 25) == 0, "%s", out);
    cr_expect(strstr(out, "\"verdict\": \"fails\", \"method\": \"exact\""), "%s", out);
    cr_expect(strstr(out, "\"diagnosis\": \"sign error; missing factor v\""), "%s", out);
    cr_expect(strstr(out, "\"diagnostics\": []}"), "%s", out);
    gp_free(out);
    gp_ctx_free(c);
}

Test(claims, verdicts_do_not_depend_on_the_seed_or_the_order)
{
    static const char body[] = "input x\ntarget y\nparam w\nyhat = exp(w*x)\nloss L = (yhat - y)^2\n";
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%sclaim dL/dw = 2*(yhat - y)*yhat*x\nclaim dL/dw = 2*(y - yhat)*yhat*x\n", body);
    snprintf(b, sizeof b, "%sclaim dL/dw = 2*(y - yhat)*yhat*x\nclaim dL/dw = 2*(yhat - y)*yhat*x\n", body);
    for (unsigned long long seed = 0; seed < 3; seed++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = NULL;
        cr_assert_eq(gp_case_load(c, "t.case", seed == 1 ? b : a, strlen(a), &cs), GP_OK);
        claim_result r[2];
        claims_opts o = {0, seed};
        cr_assert_eq(claims_judge(cs, &o, r), GP_OK);
        size_t good = seed == 1 ? 1 : 0;
        cr_expect_eq(r[good].verdict, CV_HOLDS, "seed %llu", seed);
        cr_expect_eq(r[1 - good].verdict, CV_FAILS, "seed %llu", seed);
        cr_expect(r[1 - good].diagnosis && strstr(r[1 - good].diagnosis, "sign error"), "seed %llu", seed);
        claim_result_free(&r[0]);
        claim_result_free(&r[1]);
        gp_ctx_free(c);
    }
}

Test(claims, a_sum_where_the_mean_belongs_is_named_a_factor_of_n)
{
    judged j = judge_text("input x\ntarget y\nparam w\nyhat = tanh(w*x)\nloss C = mean((yhat - y)^2)/2\n"
                          "claim dC/dw = sum((yhat - y)*(1 - yhat^2)*x)\n"       /* 0 numeric: factor N */
                          "claim dC/dw = mean((yhat - y)*(1 - yhat^2)*x)/4\n"   /* 1 numeric: a true constant 1/4 */
                          "claim dC/dw = mean((yhat - y)*(1 - yhat^2)*x)\n");   /* 2 holds */
    expect_claim(&j, 0, CV_FAILS, CM_NUMERIC, "is N, the number of samples");
    expect_claim(&j, 1, CV_FAILS, CM_NUMERIC, "claim = true / ");
    expect_claim(&j, 2, CV_HOLDS, CM_NUMERIC, NULL);
    judged_free(&j);
    judged k = judge_text("input x\ntarget y\nparam w\nyhat = w*x\nloss C = sum((yhat - y)^2)/(2*sum(1))\n"
                          "claim dC/dw = sum((yhat - y)*x)\n"                   /* 0 exact: extra sum(1) */
                          "claim dC/dw = sum((yhat - y)*x)/sum(1)/sum(1)\n");   /* 1 exact: missing sum(1) */
    expect_claim(&k, 0, CV_FAILS, CM_EXACT, "extra factor sum(1), the number of samples N");
    expect_claim(&k, 1, CV_FAILS, CM_EXACT, "missing factor sum(1), the number of samples N");
    judged_free(&k);
}

/* the seed 003 mistake in small: a chain rule that follows one hidden unit
   and forgets the other */
Test(claims, a_claim_that_follows_some_paths_names_the_missing_ones)
{
    const char *k = "input x\ntarget y\nparam p a b\nh = sigmoid(p*x)\nz1 = tanh(a*h)\nz2 = tanh(b*h)\n"
                    "loss f = (z1 + z2 - y)^2\n"
                    "claim df/dp = 2*(z1 + z2 - y)*(1 - z1^2)*a*h*(1 - h)*x\n"
                    "claim df/dp = 2*(z1 + z2 - y)*((1 - z1^2)*a + (1 - z2^2)*b)*h*(1 - h)*x\n";
    gp_ctx *c = gp_ctx_new();
    gp_case *cs;
    cr_assert_eq(gp_case_load(c, "paths.case", k, strlen(k), &cs), GP_OK);
    claim_result res[2];
    claims_opts o = {0, 0};
    cr_assert_eq(claims_judge(cs, &o, res), GP_OK);
    cr_expect_eq(res[0].verdict, CV_FAILS);
    cr_assert_not_null(res[0].diagnosis);
    cr_expect_str_eq(res[0].diagnosis, "follows only the paths through z₁; missing the paths through z₂");
    cr_expect_eq(res[1].verdict, CV_HOLDS);
    cr_expect_null(res[1].diagnosis);
    for (int i = 0; i < 2; i++)
        claim_result_free(&res[i]);
    gp_ctx_free(c);
}

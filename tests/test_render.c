/*
 * test_render.c -- the derivative table: every derivative of every case in
 * cases/, written in case syntax (the JSON `expr`), parses back in the
 * context of its case and equals the derivative: the same node, or the same
 * value at random exact points and samples, evaluated in MPFR at 256 bits.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "derive.h"
#include "eval_mpfr.h"
#include "gradproof.h"
#include "print.h"
#include "render.h"

#ifndef GP_SOURCE_DIR
#error "GP_SOURCE_DIR must name the source tree"
#endif

static unsigned long rng = 88172645463325252ul;
static long rnd(long lo, long hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (long)(rng % (unsigned long)(hi - lo + 1));
}

/* compare a and b at 3 random points; 1 if equal everywhere they are defined */
static int same_values(gp_ctx *c, gp_case *cs, gp_id a, gp_id b, const char *what)
{
    int checked = 0;
    for (int trial = 0; trial < 3; trial++) {
        mpq_t *leafq = malloc(c->nleaf * sizeof *leafq);
        for (size_t i = 0; i < c->nleaf; i++) {
            mpq_init(leafq[i]);
            mpq_set_si(leafq[i], rnd(-40, 40), (unsigned long)rnd(7, 23));
            mpq_canonicalize(leafq[i]);
        }
        eval_env env;
        memset(&env, 0, sizeof env);
        env.leafq = (const mpq_t *)leafq;
        size_t ns = 3, nc = cs->ninputs;
        mpq_t *cols = NULL;
        if (cs->has_data && cs->nrows) {
            eval_env_case(&env, cs);
            ns = cs->nrows;
        } else {
            cols = malloc((ns * nc + 1) * sizeof *cols);
            for (size_t i = 0; i < ns * nc; i++) {
                mpq_init(cols[i]);
                mpq_set_si(cols[i], rnd(-30, 30), (unsigned long)rnd(5, 17));
                mpq_canonicalize(cols[i]);
            }
            env.nsamples = ns;
            env.ncols = nc;
            env.col_leaf = cs->inputs;
            env.qcols = (const mpq_t *)cols;
        }
        int per_sample = c->node[a].level == GP_LV_SAMPLE || c->node[b].level == GP_LV_SAMPLE;
        for (long s = 0; s < (per_sample ? (long)ns : 1); s++) {
            mpfr_t v[2];
            mpfr_init2(v[0], 256);
            mpfr_init2(v[1], 256);
            gp_id roots[2] = {a, b};
            eval_fault f = {GP_NIL, NULL, -1};
            cr_assert_eq(eval_mpfr(v, c, &env, per_sample ? s : -1, 2, roots, 256, &f), GP_OK);
            if (f.node == GP_NIL && mpfr_number_p(v[0]) && mpfr_number_p(v[1])) {
                mpfr_t d;
                mpfr_init2(d, 256);
                mpfr_sub(d, v[0], v[1], MPFR_RNDN);
                mpfr_abs(d, d, MPFR_RNDN);
                mpfr_t scale;
                mpfr_init2(scale, 256);
                mpfr_abs(scale, v[0], MPFR_RNDN);
                mpfr_add_ui(scale, scale, 1, MPFR_RNDN);
                mpfr_mul_2si(scale, scale, -200, MPFR_RNDN);
                cr_expect(mpfr_lessequal_p(d, scale), "%s: the parsed-back expr differs from the derivative (%.20e vs %.20e)",
                          what, mpfr_get_d(v[0], MPFR_RNDN), mpfr_get_d(v[1], MPFR_RNDN));
                checked++;
                mpfr_clear(d);
                mpfr_clear(scale);
            }
            mpfr_clear(v[0]);
            mpfr_clear(v[1]);
        }
        for (size_t i = 0; i < c->nleaf; i++)
            mpq_clear(leafq[i]);
        free(leafq);
        if (cols) {
            for (size_t i = 0; i < ns * nc; i++)
                mpq_clear(cols[i]);
            free(cols);
        }
    }
    return checked;
}

Test(render, every_derivative_expr_parses_back_and_equals_the_derivative)
{
    DIR *dir = opendir(GP_SOURCE_DIR "/cases");
    cr_assert_not_null(dir);
    struct dirent *e;
    int ncases = 0, nderiv = 0, nsame = 0;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".case"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/cases/%s", GP_SOURCE_DIR, e->d_name);
        gp_ctx *c = gp_ctx_new();
        gp_case *cs;
        cr_assert_eq(gp_case_load_file(c, path, &cs), GP_OK, "%s loads", path);
        ncases++;
        gp_id *wrt = malloc(cs->nparams * sizeof *wrt), *d = malloc(cs->nparams * sizeof *d);
        for (size_t i = 0; i < cs->nparams; i++)
            wrt[i] = c->leaf[cs->params[i]].node;
        cr_assert_eq(derive_grad(c, cs->loss, cs->nparams, wrt, d), GP_OK);
        for (size_t i = 0; i < cs->nparams; i++) {
            buf b = BUF_INIT;
            pr_opts o = {PR_CASE, 1, 0, NULL, NULL};
            print_expr(&b, c, d[i], &o);
            int src = diag_add_source(c, "expr", b.s, b.n);
            ast *a;
            char what[1024];
            snprintf(what, sizeof what, "%s d/d%s: %s", e->d_name, c->leaf[cs->params[i]].name.base, b.s);
            cr_assert_eq(parse_expr_source(c, src, &a), GP_OK, "%s does not parse", what);
            gp_id back = build_expr_in_case(cs, src, a);
            cr_assert_neq(back, GP_NIL, "%s does not build", what);
            nderiv++;
            if (back == d[i])
                nsame++;
            else
                cr_expect_gt(same_values(c, cs, d[i], back, what), 0, "%s: no point where both are defined", what);
            buf_free(&b);
        }
        free(wrt);
        free(d);
        gp_ctx_free(c);
    }
    closedir(dir);
    cr_expect_geq(ncases, 10, "the cases directory holds the seed and classic cases");
    cr_log_info("%d cases, %d derivatives, %d parsed back to the very same node", ncases, nderiv, nsame);
    cr_expect_gt(nderiv, 100);
}

Test(render, wrt_names_a_param_or_says_why_not)
{
    const char *k = "input x\nparam w p[1..2][1..3]\nloss f = w*x + p[2][3]\n";
    gp_ctx *c = gp_ctx_new();
    gp_case *cs;
    cr_assert_eq(gp_case_load(c, "t.case", k, strlen(k), &cs), GP_OK);
    cr_expect_geq(render_find_param(cs, "w"), 0);
    cr_expect_geq(render_find_param(cs, "p[2][3]"), 0);
    size_t before = gp_diag_count(c);
    cr_expect_lt(render_find_param(cs, "x"), 0);
    cr_expect_lt(render_find_param(cs, "p[3][1]"), 0);
    cr_expect_lt(render_find_param(cs, "p[1]"), 0);
    cr_expect_lt(render_find_param(cs, "ww"), 0);
    cr_assert_eq(gp_diag_count(c), before + 4);
    gp_diag_info d;
    gp_diag_get(c, before, &d);
    cr_expect_str_eq(d.message, "'x' is an input, not a param");
    gp_diag_get(c, before + 1, &d);
    cr_expect_str_eq(d.message, "index 3 out of range 1..2 for 'p'");
    gp_diag_get(c, before + 3, &d);
    cr_expect_str_eq(d.message, "unknown param 'ww' (did you mean 'w'?)");
    gp_ctx_free(c);
}

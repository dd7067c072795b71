/*
 * fuzz_case.c -- libFuzzer target: the case language end to end.
 *
 * The input is a case file.  It is loaded under small limits; when it loads,
 * the derivative table is rendered in every format, the claims are judged
 * at two points and the network is drawn as DOT.  Every diagnostic is
 * rendered.  Nothing is printed: a crash, a sanitizer report, a leak or a
 * timeout is the finding.  The claims come out as text for an input of odd
 * length, as JSON otherwise.  Build with fuzz/build.sh.
 */
#include <stddef.h>
#include <stdint.h>

#include "gradproof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_diags(gp_ctx *c)
{
    size_t n = gp_diag_count(c);
    for (size_t i = 0; i < n; i++) {
        char *s = NULL;
        gp_diag_info d;
        gp_diag_get(c, i, &d);
        (void)gp_diag_render(c, i, &s);
        gp_free(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gp_format fmts[] = {GP_FMT_TEXT, GP_FMT_MARKDOWN, GP_FMT_LATEX, GP_FMT_JSON};
    gp_limits lim;
    gp_case *cs = NULL;
    gp_ctx *c = gp_ctx_new();
    if (!c)
        return 0;
    gp_ctx_get_limits(c, &lim);
    lim.max_nodes = 200000;
    lim.max_depth = 200;
    lim.max_elements = 10000;
    lim.max_expand_terms = 2000;
    lim.max_file_bytes = (size_t)1 << 16;
    gp_ctx_set_limits(c, &lim);

    if (gp_case_load(c, "fuzz.case", (const char *)data, size, &cs) == GP_OK && cs) {
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            gp_derive_opts d = {fmts[f], 0, NULL, 0};
            char *out = NULL;
            (void)gp_derive_render(cs, &d, &out);
            gp_free(out);
        }
        {
            gp_claims_opts co = {(size & 1) ? GP_FMT_TEXT : GP_FMT_JSON, 2, 0};
            char *out = NULL;
            (void)gp_claims_render(cs, &co, &out, NULL);
            gp_free(out);
        }
        {
            gp_dot_opts dd = {NULL};
            char *out = NULL;
            (void)gp_dot_render(cs, &dd, &out);
            gp_free(out);
        }
        (void)gp_case_title(cs);
    }
    render_diags(c);
    gp_ctx_free(c);
    return 0;
}

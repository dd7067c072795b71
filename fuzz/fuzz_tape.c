/*
 * fuzz_tape.c -- libFuzzer target: the evaluators at hostile points.
 *
 * The case is not fuzzed here (fuzz_case.c does that): the first byte picks
 * one of a few valid built-in cases that between them use every function,
 * powers, sums, sample means and per-sample losses; the rest of the input
 * becomes one or two `at` lines (a value for each param, or none) and, for
 * the cases with a data block, the samples.  Values are written as the
 * case language allows them -- doubles printed to 17 digits (subnormals,
 * -0, the largest finite), rationals p/q, powers of ten up to 1e±9999 that
 * round to 0 or to infinity, omitted params (seeded random values) -- so
 * the double engine (tape.c), the MPFR evaluator, the finite differences
 * and the claims all meet zeros, infinities, NaNs, kinks and overflow.
 * Then `grad` (both `at` lines, text and JSON) and `check` at one point,
 * 64 bits, are run.  Nothing is printed.  Build with fuzz/build.sh.
 *
 * Input: byte 0 the case, byte 1 flags (bit 0: a second `at` line, bit 1:
 * JSON, bit 2: directional check), then per sample row and per param one
 * value: a kind byte and up to 8 bytes of payload.  Missing bytes read 0.
 * With GP_FUZZ_DEBUG set in the environment the case text, the outputs and
 * the diagnostics go to stderr (to look at one input; never while fuzzing).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradproof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct tcase {
    const char *head;         /* the case without its data block and `at` lines */
    const char *params;       /* param elements, separated by spaces */
    const char *columns;      /* data columns (NULL: no data block, random samples) */
} tcase;

static const tcase cases[] = {
    {"input x1 x2\ntarget y\nparam w0 w1 w2\nconst lambda = 1/10\n"
     "yhat = w0 + w1*x1 + w2*x2\noutput yhat\n"
     "loss C = mean((yhat - y)^2)/2 + lambda*(w1^2 + w2^2)\n"
     "claim dC/dw1 = mean((yhat - y)*x1) + 2*lambda*w1\n",
     "w0 w1 w2", "x1 x2 y"},
    {"input x1 x2\ntarget y\nparam w0 w1 w2\np = sigmoid(w0 + w1*x1 + w2*x2)\noutput p\n"
     "loss C = -mean(y*log(p) + (1 - y)*log(1 - p))\n"
     "claim dC/dw1 = mean((p - y)*x1)\n",
     "w0 w1 w2", "x1 x2 y"},
    {"input x[1..2]\ntarget y\nparam W[1..2][1..2] b[1..2] v[1..2] c\n"
     "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j]) + b[k]) for k in 1..2\n"
     "yhat = sum(k = 1..2, v[k]*h[k]) + c\noutput yhat\n"
     "loss C = mean((yhat - y)^2)/2\n"
     "claim dC/dc = mean(yhat - y)\n",
     "W[1][1] W[1][2] W[2][1] W[2][2] b[1] b[2] v[1] v[2] c", NULL},
    {"input x\ntarget y\nparam a b c d\n"
     "u = log(a*x) + sqrt(b*b + x) + relu(c*x - d) + abs(a - b)*step(d) + sign(c)\n"
     "loss C = mean((u - y)^2 + (a*b)^(-1) + abs(d)^(3/2) + softplus(c*d))\n"
     "claim dC/dd = mean(2*(u - y)*(-step(c*x - d)))\n",
     "a b c d", "x y"},
    {"input x[1..2]\ntarget y[1..3]\nparam W[1..3][1..2] b[1..3]\n"
     "s[k] = sum(j = 1..2, W[k][j]*x[j]) + b[k] for k in 1..3\n"
     "p[k] = exp(s[k]) / sum(m = 1..3, exp(s[m])) for k in 1..3\noutput p\n"
     "loss C = -mean(sum(k = 1..3, y[k]*log(p[k])))\n"
     "claim dC/db[3] = mean(p[3]*sum(k = 1..3, y[k]) - y[3])\n",
     "W[1][1] W[1][2] W[2][1] W[2][2] W[3][1] W[3][2] b[1] b[2] b[3]", NULL},
    {"input x1 x2\ntarget y\nparam p1 p2 s1 w1\n"
     "h1 = sigmoid(p1*x1 + p2*x2)\nz1 = sigmoid(s1*h1)\n"
     "loss f = (w1*z1 - y)^2 + sin(p1)*cos(p2) + exp(s1)/(1 + w1^2)\n"
     "claim dz1/dh1 = z1*(1 - z1)*s1\n",
     "p1 p2 s1 w1", "x1 x2 y"},
    {"input x\ntarget y\nparam a b\n"
     "loss C = sum((a*x - y)^4 / (b^2 + x^2)^(1/3) - log(abs(b) + 1))\n",
     "a b", "x y"},
};
#define NCASES (sizeof cases / sizeof cases[0])

typedef struct rd { const uint8_t *p; size_t n; } rd;

static uint8_t byte(rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t word(rd *r, int nbytes)
{
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++)
        v |= (uint64_t)byte(r) << (8 * i);
    return v;
}

/* One value as the case language writes it; 0 when the param is left out. */
static int value(rd *r, char *z, size_t nz, int may_omit)
{
    uint8_t k = byte(r);
    switch (k % 9) {
    case 0: {                                 /* any double */
        uint64_t bits = word(r, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isnan(d))
            snprintf(z, nz, "0");
        else if (isinf(d))
            snprintf(z, nz, "%s1e400", d < 0 ? "-" : "");
        else
            snprintf(z, nz, "%.17g", d);
        break;
    }
    case 1:                                   /* a small integer */
        snprintf(z, nz, "%d", (int)(int8_t)byte(r));
        break;
    case 2: {                                 /* a rational p/q */
        int p = (int16_t)word(r, 2);
        unsigned q = (unsigned)word(r, 2) + 1;
        snprintf(z, nz, "%d/%u", p, q);
        break;
    }
    case 3: {                                 /* a power of ten, to 1e±9999 */
        int e = (int)(word(r, 2) % 19999) - 9999;
        snprintf(z, nz, "%s1e%d", (k & 0x10) ? "-" : "", e);
        break;
    }
    case 4:
        snprintf(z, nz, (k & 0x10) ? "-0" : "0");
        break;
    case 5: {                                 /* a short decimal */
        int m = (int16_t)word(r, 2);
        int e = (int)(byte(r) % 41) - 20;
        snprintf(z, nz, "%d.5e%d", m, e);
        break;
    }
    case 6:                                   /* extremes of double */
        switch ((k >> 4) % 6) {
        case 0: snprintf(z, nz, "1.7976931348623157e308"); break;
        case 1: snprintf(z, nz, "-1.7976931348623157e308"); break;
        case 2: snprintf(z, nz, "4.9406564584124654e-324"); break;
        case 3: snprintf(z, nz, "2.2250738585072014e-308"); break;
        case 4: snprintf(z, nz, "710"); break;           /* exp overflows */
        default: snprintf(z, nz, "-745"); break;         /* exp underflows */
        }
        break;
    case 7:
        if (may_omit)
            return 0;
        snprintf(z, nz, "1");
        break;
    default:                                  /* an integer near a kink */
        snprintf(z, nz, "%d", (int)(byte(r) % 5) - 2);
        break;
    }
    return 1;
}

typedef struct sbuf { char *z; size_t n, cap; } sbuf;

static void put(sbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        size_t cap = (b->cap + l + 1) * 2;
        char *z = realloc(b->z, cap);
        if (!z)
            abort();
        b->z = z;
        b->cap = cap;
    }
    memcpy(b->z + b->n, s, l + 1);
    b->n += l;
}

static void at_line(sbuf *b, rd *r, const char *params)
{
    char name[64], z[64];
    int first = 1;
    const char *p = params;
    while (*p) {
        size_t l = strcspn(p, " ");
        snprintf(name, sizeof name, "%.*s", (int)l, p);
        p += l;
        while (*p == ' ')
            p++;
        if (!value(r, z, sizeof z, 1))
            continue;
        put(b, first ? "at " : ", ");
        put(b, name);
        put(b, " = ");
        put(b, z);
        first = 0;
    }
    if (first)                                /* every param left out */
        put(b, "# no at line");
    put(b, "\n");
}

/* Render every diagnostic; print them (and the case) only when debugging. */
static void diags(gp_ctx *c, const char *text)
{
    for (size_t i = 0, n = gp_diag_count(c); i < n; i++) {
        char *s = NULL;
        (void)gp_diag_render(c, i, &s);
        if (text && s)
            fprintf(stderr, "%s\n%s", text, s);
        gp_free(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int debug = -1;
    if (debug < 0)
        debug = getenv("GP_FUZZ_DEBUG") != NULL;
    rd r = {data, size};
    const tcase *t = &cases[byte(&r) % NCASES];
    uint8_t flags = byte(&r);
    gp_format fmt = (flags & 2) ? GP_FMT_JSON : GP_FMT_TEXT;
    sbuf b = {0};
    char z[64];

    put(&b, t->head);
    if (t->columns) {
        unsigned rows = 1 + byte(&r) % 4;
        size_t ncol = 1;
        for (const char *p = t->columns; *p; p++)
            ncol += *p == ' ';
        put(&b, "data\n  ");
        put(&b, t->columns);
        put(&b, "\n");
        for (unsigned i = 0; i < rows; i++) {
            for (size_t j = 0; j < ncol; j++) {
                value(&r, z, sizeof z, 0);
                put(&b, "  ");
                put(&b, z);
            }
            put(&b, "\n");
        }
        put(&b, "end\n");
    }
    at_line(&b, &r, t->params);
    if (flags & 1)
        at_line(&b, &r, t->params);

    gp_ctx *c = gp_ctx_new();
    gp_case *cs = NULL;
    if (!c) {
        free(b.z);
        return 0;
    }
    if (gp_case_load(c, "fuzz.case", b.z, b.n, &cs) == GP_OK && cs) {
        char *out = NULL;
        int finite = 0;
        gp_grad_opts go = {fmt, 0, 0};
        (void)gp_grad_render(cs, &go, &out, &finite);
        if (debug)
            fprintf(stderr, "%s\n%s", b.z, out ? out : "(no output)\n");
        gp_free(out);
        if (flags & 1) {
            out = NULL;
            go.last_at = 1;
            (void)gp_grad_render(cs, &go, &out, &finite);
            gp_free(out);
        }
        gp_check_opts co = {fmt, 1, 64, 0, (flags & 4) != 0, 1};
        gp_check_summary sum;
        out = NULL;
        (void)gp_check_render(cs, &co, &out, &sum);
        if (debug)
            fprintf(stderr, "%s", out ? out : "(no output)\n");
        gp_free(out);
    }
    diags(c, debug ? b.z : NULL);
    gp_ctx_free(c);
    free(b.z);
    return 0;
}

/*
 * test_build.c -- from case text to the DAG: name resolution in any order,
 * indexed definitions and index sums, exact constants, data (inline and CSV),
 * `at` points, claims, outputs, a 100000-definition chain, and every case
 * file of cases/ loading cleanly.
 *
 * Cases are loaded from strings with gp_case_load().  What the builder made
 * is compared by node id against the same expression built with the smart
 * constructors (hash-consing makes equal expressions one node), and data and
 * points against exact rationals.  When a load fails, its diagnostics are
 * printed.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "ctx.h"
#include "dag.h"
#include "derive.h"
#include "simplify.h"

/* ---- helpers ---- */

static void print_diags(const gp_ctx *c)
{
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        char *s = NULL;
        if (gp_diag_render(c, i, &s) == GP_OK)
            fprintf(stderr, "%s", s);
        gp_free(s);
    }
}

static gp_case *load_named(gp_ctx *c, const char *name, const char *text)
{
    gp_case *cs = NULL;
    gp_status st = gp_case_load(c, name, text, strlen(text), &cs);
    if (st != GP_OK)
        print_diags(c);
    cr_assert_eq(st, GP_OK, "loading failed with status %d:\n%s", (int)st, text);
    cr_assert_not_null(cs);
    return cs;
}

static gp_case *load(gp_ctx *c, const char *text) { return load_named(c, "test.case", text); }

static const symbol *sym(const gp_case *cs, const char *name)
{
    long si = build_lookup(cs, name, strlen(name));
    cr_assert_geq(si, 0, "no symbol '%s'", name);
    return &cs->sym[si];
}

/* The node of element name[i0][i1]... (nidx indices). */
static gp_id node_of(const gp_case *cs, const char *name, int nidx, ...)
{
    const symbol *s = sym(cs, name);
    cr_assert_eq((int)s->nidx, nidx, "'%s' has %u indices", name, s->nidx);
    va_list ap;
    va_start(ap, nidx);
    size_t off = 0;
    for (int k = 0; k < nidx; k++) {
        int i = va_arg(ap, int);
        cr_assert(i >= s->lo[k] && i <= s->hi[k], "%s index %d out of %d..%d", name, i, s->lo[k], s->hi[k]);
        off = off * (size_t)(s->hi[k] - s->lo[k] + 1) + (size_t)(i - s->lo[k]);
    }
    va_end(ap);
    cr_assert_lt(off, s->count);
    return cs->elem[s->first + off].node;
}

static gp_id N(const gp_case *cs, const char *name) { return node_of(cs, name, 0); }

static int is_q(const gp_ctx *c, gp_id id, long n, unsigned long d)
{
    return id != GP_NIL && dag_is_num(c, id) && mpq_cmp_si(dag_q(c, id), n, d) == 0;
}

/* Does node id carry the label base[idx...]? */
static int has_label(const gp_ctx *c, gp_id id, const char *base, int nidx, const int *idx)
{
    uint32_t l = c->node[id].label;
    if (!l || strcmp(c->label[l].name.base, base) != 0 || c->label[l].name.nidx != nidx)
        return 0;
    for (int k = 0; k < nidx; k++)
        if (c->label[l].name.idx[k] != idx[k])
            return 0;
    return 1;
}

static gp_id leaf_value(const gp_ctx *c, gp_id leafnode)
{
    cr_assert_eq(c->node[leafnode].op, GP_OP_LEAF);
    return c->leaf[c->node[leafnode].pay].value;
}

static gp_id d1(gp_ctx *c, gp_id f, gp_id wrt)
{
    gp_id out = GP_NIL;
    cr_assert_eq(derive_grad(c, f, 1, &wrt, &out), GP_OK);
    return out;
}

static gp_id num(gp_ctx *c, long n, unsigned long d) { return dag_num_si(c, n, d); }

/* ---- names and definitions ---- */

Test(build, names_can_be_used_before_their_definition)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "loss C = (yhat - y)^2\n"
                          "yhat = w*z\n"
                          "z = tanh(x + b)\n"
                          "param w b\n"
                          "input x\n"
                          "target y\n");
    gp_id x = N(cs, "x"), y = N(cs, "y"), w = N(cs, "w"), b = N(cs, "b");
    gp_id z = gp_call(c, GP_FN_TANH, gp_add2(c, x, b));
    gp_id yhat = gp_mul2(c, w, z);
    cr_expect_eq(N(cs, "z"), z);
    cr_expect_eq(N(cs, "yhat"), yhat);
    cr_expect_eq(cs->loss, gp_pow_si(c, gp_sub(c, yhat, y), 2, 1));
    cr_expect_eq(N(cs, "C"), cs->loss);
    cr_expect(has_label(c, z, "z", 0, NULL), "z's node is labelled z");
    cr_expect(has_label(c, yhat, "yhat", 0, NULL));
    cr_expect_eq(cs->ndefs, 3, "z, yhat and the loss");
    /* dependencies first: the build order is a topological order */
    cr_expect_eq(cs->elem[cs->defs[0]].node, z);
    cr_expect_eq(cs->elem[cs->defs[2]].node, cs->loss);
    gp_ctx_free(c);
}

Test(build, declarations_keep_their_order_and_kind)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "title \"a \\\"quoted\\\" title\"\n"
                          "param v w0, u[1..2]\n"
                          "input x2 x1\n"
                          "target y\n"
                          "loss C = v*w0*u[1]*u[2]*x1*x2 - y\n");
    cr_expect_str_eq(gp_case_title(cs), "a \"quoted\" title");
    cr_assert_eq(cs->nparams, 4);
    static const char *const pn[4] = {"v", "w0", "u", "u"};
    for (int i = 0; i < 4; i++) {
        const gp_leaf *l = &c->leaf[cs->params[i]];
        cr_expect_str_eq(l->name.base, pn[i], "param %d", i);
        cr_expect_eq(l->kind, GP_LEAF_PARAM);
        cr_expect_eq(l->ord, (uint32_t)i, "params are numbered in declaration order");
    }
    cr_expect_eq(c->leaf[cs->params[3]].name.nidx, 1);
    cr_expect_eq(c->leaf[cs->params[3]].name.idx[0], 2, "u[2] is the fourth param");
    cr_assert_eq(cs->ninputs, 3, "inputs and targets");
    cr_expect_str_eq(c->leaf[cs->inputs[0]].name.base, "x2");
    cr_expect_eq(c->leaf[cs->inputs[2]].kind, GP_LEAF_TARGET);
    cr_expect_eq(dag_node(c, N(cs, "x1"))->level, GP_LV_SAMPLE);
    cr_expect_eq(dag_node(c, N(cs, "v"))->level, GP_LV_STATIC);
    gp_ctx_free(c);
}

Test(build, indexed_definition_gives_one_labelled_element_per_index)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "param w[1..3] v[1..2]\n"
                          "input x\n"
                          "h[k] = tanh(w[k]*x) for k in 1..3\n"
                          "m[i][j] = v[i]*w[j] for i in 1..2, j in 1..3\n"
                          "loss C = h[1] + h[2] + h[3] + m[2][3]\n");
    const symbol *h = sym(cs, "h");
    cr_expect_eq(h->kind, SYM_DEF);
    cr_expect_eq(h->nidx, 1);
    cr_expect_eq(h->lo[0], 1);
    cr_expect_eq(h->hi[0], 3);
    cr_expect_eq(h->count, 3);
    gp_id x = N(cs, "x");
    for (int k = 1; k <= 3; k++) {
        gp_id want = gp_call(c, GP_FN_TANH, gp_mul2(c, node_of(cs, "w", 1, k), x));
        gp_id got = node_of(cs, "h", 1, k);
        cr_expect_eq(got, want, "h[%d]", k);
        cr_expect(has_label(c, got, "h", 1, &k), "h[%d] is labelled h[%d]", k, k);
    }
    const symbol *m = sym(cs, "m");
    cr_expect_eq(m->count, 6);
    for (int i = 1; i <= 2; i++)
        for (int j = 1; j <= 3; j++) {
            gp_id got = node_of(cs, "m", 2, i, j);
            int idx[2] = {i, j};
            cr_expect_eq(got, gp_mul2(c, node_of(cs, "v", 1, i), node_of(cs, "w", 1, j)), "m[%d][%d]", i, j);
            cr_expect(has_label(c, got, "m", 2, idx), "m[%d][%d] label", i, j);
        }
    gp_ctx_free(c);
}

Test(build, index_sums_expand)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "param w[1..3]\n"
                          "input x\n"
                          "s = sum(j = 1..3, w[j]*x^j)\n"
                          "t[k] = sum(j = 1..k, w[j]) + 0*x for k in 1..3\n"
                          "e = x + sum(j = 1..0, w[j])\n"
                          "loss C = s + t[3] + e\n");
    gp_id x = N(cs, "x"), w1 = node_of(cs, "w", 1, 1), w2 = node_of(cs, "w", 1, 2), w3 = node_of(cs, "w", 1, 3);
    gp_id terms[3] = {gp_mul2(c, w1, x), gp_mul2(c, w2, gp_pow_si(c, x, 2, 1)), gp_mul2(c, w3, gp_pow_si(c, x, 3, 1))};
    cr_expect_eq(N(cs, "s"), gp_add(c, 3, terms), "sum(j = 1..3, w[j] x^j)");
    cr_expect_eq(node_of(cs, "t", 1, 1), w1, "the triangle's first row is w[1]");
    cr_expect_eq(node_of(cs, "t", 1, 2), gp_add2(c, w1, w2));
    gp_id w123[3] = {w1, w2, w3};
    cr_expect_eq(node_of(cs, "t", 1, 3), gp_add(c, 3, w123));
    cr_expect_eq(N(cs, "e"), x, "an empty index sum is 0");
    gp_ctx_free(c);
}

Test(build, elements_of_one_name_from_several_statements)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x\n"
                          "param w\n"
                          "g[3] = g[1]*g[2]\n"
                          "g[k] = w + k*x for k in 1..2\n"
                          "q[0] = x\n"
                          "q[-1] = w*q[0]\n"
                          "loss C = g[3] + q[-1]\n");
    const symbol *g = sym(cs, "g");
    cr_expect_eq(g->lo[0], 1);
    cr_expect_eq(g->hi[0], 3);
    gp_id x = N(cs, "x"), w = N(cs, "w");
    gp_id g1 = gp_add2(c, w, x), g2 = gp_add2(c, w, gp_mul2(c, num(c, 2, 1), x));
    cr_expect_eq(node_of(cs, "g", 1, 1), g1);
    cr_expect_eq(node_of(cs, "g", 1, 2), g2);
    cr_expect_eq(node_of(cs, "g", 1, 3), gp_mul2(c, g1, g2));
    const symbol *q = sym(cs, "q");
    cr_expect_eq(q->lo[0], -1, "zero and negative indices are allowed");
    cr_expect_eq(q->hi[0], 0);
    cr_expect_eq(node_of(cs, "q", 1, 0), x, "q[0] = x is the leaf x itself");
    cr_expect_eq(node_of(cs, "q", 1, -1), gp_mul2(c, w, x));
    gp_ctx_free(c);
}

Test(build, constants_are_exact_and_serve_as_exponents_and_ranges)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "const n = 2*a*5\n" /* 3, from a constant defined below */
                          "const a = 3/10\n"
                          "const m = n - 1\n"
                          "const r = 4^(1/2) + 1e-3\n"
                          "param p[1..2]\n"
                          "input x\n"
                          "h[k] = p[k]*x^n for k in 1..m\n"
                          "loss C = h[1] + h[2] + a*x + x^(r - 1e-3)\n");
    gp_id a = N(cs, "a");
    cr_expect_eq(c->leaf[dag_node(c, a)->pay].kind, GP_LEAF_CONST);
    cr_expect(is_q(c, leaf_value(c, a), 3, 10), "a = 3/10");
    cr_expect(is_q(c, leaf_value(c, N(cs, "n")), 3, 1), "n = 2*a*5 = 3");
    cr_expect(is_q(c, leaf_value(c, N(cs, "m")), 2, 1), "m = n - 1 = 2");
    cr_expect(is_q(c, leaf_value(c, N(cs, "r")), 2001, 1000), "r = 4^(1/2) + 1e-3");
    cr_expect_eq(sym(cs, "h")->count, 2, "for k in 1..m with m = 2");
    gp_id x = N(cs, "x");
    cr_expect_eq(c->leaf[dag_node(c, x)->pay].kind, GP_LEAF_INPUT);
    gp_id x3 = gp_pow_si(c, x, 3, 1);
    gp_id h1 = gp_mul2(c, node_of(cs, "p", 1, 1), x3), h2 = gp_mul2(c, node_of(cs, "p", 1, 2), x3);
    cr_expect_eq(node_of(cs, "h", 1, 1), h1, "x^n is x^3");
    gp_id want[4] = {h1, h2, gp_mul2(c, a, x), gp_pow_si(c, x, 2, 1)};
    cr_expect_eq(cs->loss, gp_add(c, 4, want), "a constant stays a named leaf inside expressions");
    gp_ctx_free(c);
}

Test(build, constant_bound_of_a_declared_range)
{
    /* the language reference allows integer constants as bounds; the param
       declaration is processed before the constant has its element */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "const m = 2\n"
                          "param p[1..m]\n"
                          "input x\n"
                          "loss C = p[1]*x + p[2]\n");
    cr_expect_eq(sym(cs, "p")->count, 2);
    gp_id x = N(cs, "x");
    cr_expect_eq(cs->loss, gp_add2(c, gp_mul2(c, node_of(cs, "p", 1, 1), x), node_of(cs, "p", 1, 2)));
    gp_ctx_free(c);
}

Test(build, constant_bound_does_not_disturb_other_names)
{
    /* the same with an input declared first: its element must stay the input */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x\n"
                          "const m = 2\n"
                          "param p[1..m]\n"
                          "loss C = p[1]*x + p[2]\n");
    gp_id x = N(cs, "x");
    cr_expect_eq(c->leaf[dag_node(c, x)->pay].kind, GP_LEAF_INPUT, "x is still the input x");
    cr_expect_eq(cs->loss, gp_add2(c, gp_mul2(c, node_of(cs, "p", 1, 1), x), node_of(cs, "p", 1, 2)));
    gp_ctx_free(c);
}

Test(build, constant_defined_after_its_use_as_an_index)
{
    /* a case is a set of equations: the constant may come after its use */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x\n"
                          "h[k] = k*x for k in 1..m\n"
                          "g[m] = x^2\n"
                          "const m = 2\n"
                          "loss C = h[1] + h[2] + g[2]\n");
    gp_id x = N(cs, "x");
    cr_expect_eq(c->leaf[dag_node(c, x)->pay].kind, GP_LEAF_INPUT, "x is still the input x");
    cr_expect_eq(sym(cs, "h")->count, 2);
    cr_expect_eq(node_of(cs, "h", 1, 1), x);
    gp_id h2 = gp_mul2(c, num(c, 2, 1), x);
    cr_expect_eq(node_of(cs, "h", 1, 2), h2);
    cr_expect_eq(node_of(cs, "g", 1, 2), gp_pow_si(c, x, 2, 1));
    gp_id want[3] = {x, h2, gp_pow_si(c, x, 2, 1)};
    cr_expect_eq(cs->loss, gp_add(c, 3, want));
    gp_ctx_free(c);
}

Test(build, outputs_name_elements)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "param w[1..3]\n"
                          "input x\n"
                          "z[k] = w[k]*x for k in 1..3\n"
                          "yhat = z[1] + z[2]\n"
                          "output yhat z\n"
                          "loss C = yhat^2\n");
    cr_assert_eq(cs->nout, 4, "yhat and the three elements of z");
    cr_expect_eq(cs->out[0], N(cs, "yhat"));
    for (int k = 1; k <= 3; k++)
        cr_expect_eq(cs->out[k], node_of(cs, "z", 1, k), "output %d is z[%d]", k, k);
    gp_ctx_free(c);
}

Test(build, definition_cycle_is_an_input_error)
{
    gp_ctx *c = gp_ctx_new();
    const char *text = "param w\ninput x\na = b + x\nb = w*a\nloss C = a\n";
    gp_case *cs = NULL;
    cr_expect_eq(gp_case_load(c, "t.case", text, strlen(text), &cs), GP_EINPUT);
    cr_expect_null(cs);
    cr_expect_geq(gp_diag_count(c), 1);
    gp_ctx_free(c);
}

/* ---- data ---- */

static void expect_dval(const gp_case *cs, size_t row, size_t col, long n, unsigned long d)
{
    cr_assert_lt(row, cs->nrows);
    cr_assert_lt(col, cs->ncols);
    mpq_srcptr v = cs->dval[row * cs->ncols + col];
    cr_expect_eq(mpq_cmp_si(v, n, d), 0, "row %zu column %zu is not %ld/%lu", row, col, n, d);
}

static uint32_t leaf_of(const gp_case *cs, const char *name) { return cs->c->node[N(cs, name)].pay; }

Test(build, inline_data_is_exact)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x1 x2\n"
                          "target y\n"
                          "param w\n"
                          "loss C = mean((w*x1 + x2 - y)^2)\n"
                          "data\n"
                          "  y     x1   x2\n"
                          "  1e-3  0.5  -1\n"
                          "\n"
                          "  .5, -2, 3.25   # commas and comments are fine\n"
                          "  +7    2.5e2 0\n"
                          "end\n");
    cr_expect(cs->has_data);
    cr_assert_eq(cs->ncols, 3);
    cr_assert_eq(cs->nrows, 3);
    cr_expect_eq(cs->dcol[0], leaf_of(cs, "y"), "columns follow the header, not the declarations");
    cr_expect_eq(cs->dcol[1], leaf_of(cs, "x1"));
    cr_expect_eq(cs->dcol[2], leaf_of(cs, "x2"));
    expect_dval(cs, 0, 0, 1, 1000);
    expect_dval(cs, 0, 1, 1, 2);
    expect_dval(cs, 0, 2, -1, 1);
    expect_dval(cs, 1, 0, 1, 2);
    expect_dval(cs, 1, 1, -2, 1);
    expect_dval(cs, 1, 2, 13, 4);
    expect_dval(cs, 2, 0, 7, 1);
    expect_dval(cs, 2, 1, 250, 1);
    expect_dval(cs, 2, 2, 0, 1);
    gp_ctx_free(c);
}

Test(build, inline_data_with_indexed_columns)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x[1..2]\ntarget y\nparam w\n"
                          "loss C = mean((w*x[1] - x[2] - y)^2)\n"
                          "data\nx[2] y x[1]\n1 2 3\nend\n");
    cr_assert_eq(cs->ncols, 3);
    cr_expect_eq(cs->dcol[0], c->node[node_of(cs, "x", 1, 2)].pay);
    cr_expect_eq(cs->dcol[2], c->node[node_of(cs, "x", 1, 1)].pay);
    expect_dval(cs, 0, 2, 3, 1);
    gp_ctx_free(c);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char csv_case[] = "input x1 x2\n"
                               "target y\n"
                               "param w\n"
                               "loss C = mean((w*x1 + x2 - y)^2)\n"
                               "data \"d.csv\"\n";
/* a byte-order mark, CRLF line ends, blanks, quotes, a blank line */
static const char csv_text[] = "\xEF\xBB\xBFx2, \"y\" ,x1\r\n"
                               "0.25,-3,1e2\r\n"
                               "\r\n"
                               " -.5 , \"7\" , 0 \r\n";

static void expect_csv(const gp_case *cs)
{
    cr_assert(cs->has_data);
    cr_assert_eq(cs->ncols, 3);
    cr_assert_eq(cs->nrows, 2);
    cr_expect_eq(cs->dcol[0], leaf_of(cs, "x2"));
    cr_expect_eq(cs->dcol[1], leaf_of(cs, "y"));
    cr_expect_eq(cs->dcol[2], leaf_of(cs, "x1"));
    expect_dval(cs, 0, 0, 1, 4);
    expect_dval(cs, 0, 1, -3, 1);
    expect_dval(cs, 0, 2, 100, 1);
    expect_dval(cs, 1, 0, -1, 2);
    expect_dval(cs, 1, 1, 7, 1);
    expect_dval(cs, 1, 2, 0, 1);
}

Test(build, csv_data_is_read_relative_to_the_case_file)
{
    char dir[] = "/tmp/gp_test_build_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *cpath = write_file(dir, "m.case", csv_case);
    char *dpath = write_file(dir, "d.csv", csv_text);
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = NULL;
    gp_status st = gp_case_load_file(c, cpath, &cs);
    if (st != GP_OK)
        print_diags(c);
    cr_assert_eq(st, GP_OK);
    expect_csv(cs);
    /* from memory, the name alone decides the directory */
    gp_case *cs2 = load_named(c, cpath, csv_case);
    expect_csv(cs2);
    gp_ctx_free(c);
    unlink(cpath);
    unlink(dpath);
    rmdir(dir);
    free(cpath);
    free(dpath);
}

/* ---- points ---- */

Test(build, at_points_are_exact)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "param w v p[1..3]\n"
                          "input x\n"
                          "const a = 3/4\n"
                          "loss C = (w*v*p[1]*p[2]*p[3] - x)^2\n"
                          "at w = 1/2, v = -3\n"
                          "at p[2] = 0.25, w = a*2, v = -1e-2\n");
    cr_assert_eq(cs->npoints, 2);
    const point *p0 = &cs->points[0], *p1 = &cs->points[1];
    cr_assert_eq(p0->n, 2);
    cr_expect_eq(p0->leaf[0], leaf_of(cs, "w"));
    cr_expect_eq(mpq_cmp_si(p0->val[0], 1, 2), 0);
    cr_expect_eq(p0->leaf[1], leaf_of(cs, "v"));
    cr_expect_eq(mpq_cmp_si(p0->val[1], -3, 1), 0);
    cr_assert_eq(p1->n, 3);
    cr_expect_eq(p1->leaf[0], c->node[node_of(cs, "p", 1, 2)].pay);
    cr_expect_eq(mpq_cmp_si(p1->val[0], 1, 4), 0);
    cr_expect_eq(mpq_cmp_si(p1->val[1], 3, 2), 0, "w = a*2 with a = 3/4");
    cr_expect_eq(mpq_cmp_si(p1->val[2], -1, 100), 0);
    gp_ctx_free(c);
}

/* ---- claims ---- */

Test(build, claim_derivative_is_the_derived_node)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x\ntarget y\nparam w v\n"
                          "yhat = w*x + v\n"
                          "loss C = mean((yhat - y)^2) / 2\n"
                          "claim dC/dw = mean((yhat - y)*x)\n"
                          "claim dC/dw = dC/dv\n"
                          "claim dyhat/dx = w\n"
                          "claim C == mean((w*x + v - y)^2)/2\n");
    cr_assert_eq(cs->nclaims, 4);
    gp_id x = N(cs, "x"), y = N(cs, "y"), w = N(cs, "w"), v = N(cs, "v"), yhat = N(cs, "yhat");
    gp_id dw = d1(c, cs->loss, w), dv = d1(c, cs->loss, v);
    const claim *k = cs->claims;
    cr_expect_eq(k[0].kind, CLAIM_DERIV);
    cr_expect_eq(k[0].line, 6);
    cr_expect_eq(k[0].lhs, dw, "dC/dw in a claim is derive_grad(C, w)");
    cr_expect_eq(k[0].rhs, gp_reduce(c, GP_OP_MEAN, gp_mul2(c, gp_sub(c, yhat, y), x)));
    cr_expect_eq(k[1].lhs, dw);
    cr_expect_eq(k[1].rhs, dv, "dC/dv on the right is a derivative too");
    cr_expect_eq(k[2].lhs, w, "dyhat/dx = w");
    cr_expect_eq(k[3].kind, CLAIM_IDENT);
    cr_expect_eq(k[3].lhs, cs->loss, "the loss name stands for the loss value");
    cr_expect_neq(k[3].rhs, GP_NIL);
    cr_expect_str_eq(k[0].text, "dC/dw = mean((yhat - y)*x)");
    gp_ctx_free(c);
}

Test(build, per_sample_loss_name_is_usable_in_claims)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x\ntarget y\nparam w\n"
                          "loss f = (w*x - y)^2\n"
                          "claim df/dw = 2*sqrt(f)*x\n"
                          "claim f == (y - w*x)^2\n");
    gp_id x = N(cs, "x"), w = N(cs, "w");
    cr_expect_eq(dag_node(c, cs->loss)->level, GP_LV_SAMPLE);
    cr_assert_eq(cs->nclaims, 2);
    cr_expect_eq(cs->claims[0].lhs, d1(c, cs->loss, w));
    gp_id f3[3] = {num(c, 2, 1), gp_pow_si(c, cs->loss, 1, 2), x};
    cr_expect_eq(cs->claims[0].rhs, gp_mul(c, 3, f3), "sqrt(f) is f^(1/2) of the loss node");
    cr_expect_eq(cs->claims[1].lhs, cs->loss);
    gp_ctx_free(c);
}

Test(build, claim_wrt_a_named_intermediate_holds_it_fixed)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "input x\nparam w1 w2\n"
                          "z = w1*x\n"
                          "yhat = w2*z^2\n"
                          "loss C = yhat\n"
                          "claim dyhat/dz = 2*w2*z\n");
    gp_id z = N(cs, "z"), w2 = N(cs, "w2");
    gp_id f3[3] = {num(c, 2, 1), w2, z};
    cr_expect_eq(cs->claims[0].lhs, gp_mul(c, 3, f3), "dyhat/dz stops at z");
    gp_ctx_free(c);
}

/* ---- a long chain of definitions ---- */

static size_t deep_n(void)
{
    const char *s = getenv("GP_DEEP_N");
    long n = s ? atol(s) : 0;
    return n > 0 ? (size_t)n : 100000;
}

Test(build, long_definition_chain_builds_iteratively, .timeout = 30)
{
    /* written last-first, so the depth-first search from the first
       definition runs down the whole chain */
    size_t n = deep_n();
    size_t cap = 64 + n * 40;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t len = (size_t)snprintf(text, cap, "param a\ninput x\nloss C = z%zu\n", n);
    for (size_t k = n; k >= 1; k--)
        len += (size_t)snprintf(text + len, cap - len, "z%zu = z%zu*a + x\n", k, k - 1);
    len += (size_t)snprintf(text + len, cap - len, "z0 = x^2\n");
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = NULL;
    gp_status st = gp_case_load(c, "chain.case", text, len, &cs);
    if (st != GP_OK)
        print_diags(c);
    cr_assert_eq(st, GP_OK);
    cr_expect_eq(cs->ndefs, n + 2, "z0..zN and the loss");
    gp_id a = N(cs, "a"), x = N(cs, "x");
    gp_id z1 = N(cs, "z1"), z0 = N(cs, "z0");
    cr_expect_eq(z0, gp_pow_si(c, x, 2, 1));
    cr_expect_eq(z1, gp_add2(c, gp_mul2(c, z0, a), x));
    cr_expect_geq(dag_node(c, cs->loss)->depth, 2 * n, "each link adds a product and a sum");
    char last[32];
    snprintf(last, sizeof last, "z%zu", n);
    cr_expect_eq(cs->loss, N(cs, last));
    free(text);
    gp_ctx_free(c);
}

/* ---- every case file ---- */

static const char *cases_dir(char *out, size_t n)
{
#ifdef GP_SOURCE_DIR
    snprintf(out, n, "%s/cases", GP_SOURCE_DIR);
#else
    /* __FILE__ is .../tests/test_build.c (absolute under CMake) */
    const char *f = __FILE__;
    const char *s = strstr(f, "tests/test_build.c");
    size_t k = s ? (size_t)(s - f) : 0;
    snprintf(out, n, "%.*scases", (int)k, f);
#endif
    return out;
}

Test(build, every_case_file_loads)
{
    char dir[4096];
    cases_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open the cases directory %s", dir);
    struct dirent *e;
    size_t loaded = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".case") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = NULL;
        gp_status st = gp_case_load_file(c, path, &cs);
        if (st != GP_OK)
            print_diags(c);
        cr_expect_eq(st, GP_OK, "%s: status %d", path, (int)st);
        size_t nerr = 0;
        for (size_t i = 0; i < gp_diag_count(c); i++) {
            gp_diag_info di;
            gp_diag_get(c, i, &di);
            nerr += di.severity == GP_SEV_ERROR;
        }
        cr_expect_eq(nerr, 0, "%s: %zu errors", path, nerr);
        if (cs)
            cr_expect_neq(cs->loss, GP_NIL, "%s has a loss", path);
        gp_ctx_free(c);
        loaded++;
    }
    closedir(d);
    cr_expect_geq(loaded, 1, "no case files found in %s", dir);
}

/* ---- where a node is defined, for messages about failures ---- */

static const char *owner_name(const gp_case *cs, size_t e)
{
    return e == SIZE_MAX ? "(none)" : cs->sym[cs->elem[e].sym].name;
}

Test(owner, a_node_belongs_to_the_earliest_definition_that_holds_it)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load(c, "param a b\n"
                          "h = log(a) + b\n"
                          "z[k] = h*k + sqrt(b) for k in 1..2\n"
                          "loss C = (z[1] + z[2] + log(a))^2\n");
    gp_id la = gp_call(c, GP_FN_LOG, c->leaf[cs->params[0]].node);
    gp_id sb = gp_pow_si(c, c->leaf[cs->params[1]].node, 1, 2);
    /* log(a) is in h and in C: h, the earlier definition, holds it */
    size_t e = build_node_owner(cs, la, 0);
    cr_expect_str_eq(owner_name(cs, e), "h");
    /* sqrt(b) in both z[1] and z[2]: z[1] */
    e = build_node_owner(cs, sb, 0);
    cr_assert_neq(e, SIZE_MAX);
    cr_expect_str_eq(owner_name(cs, e), "z");
    cr_expect_eq(e, sym(cs, "z")->first, "sqrt(b) placed in z[%zu]", e - sym(cs, "z")->first + 1);
    /* a definition's own node, and the loss's */
    cr_expect_str_eq(owner_name(cs, build_node_owner(cs, N(cs, "h"), 0)), "h");
    cr_expect_str_eq(owner_name(cs, build_node_owner(cs, cs->loss, 0)), "C");
    /* a leaf belongs to none */
    cr_expect_eq(build_node_owner(cs, c->leaf[cs->params[0]].node, 1), SIZE_MAX);
    /* a node of no definition (as a derivative makes): none of its own;
       through its arguments the nearest definition, none for b^(-1/2),
       whose only argument is a leaf */
    gp_id t = gp_call(c, GP_FN_TANH, sb);
    cr_expect_eq(build_node_owner(cs, t, 0), SIZE_MAX);
    cr_expect_str_eq(owner_name(cs, build_node_owner(cs, t, 1)), "z");
    gp_id bare = gp_pow_si(c, c->leaf[cs->params[1]].node, -1, 2);
    cr_expect_eq(build_node_owner(cs, bare, 1), SIZE_MAX);
    gp_ctx_free(c);
}

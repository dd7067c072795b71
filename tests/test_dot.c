/*
 * test_dot.c -- the network picture: which units, which edges and labels,
 * which layers, and which units a highlighted param lights up.
 *
 * The structure is checked on the unit graph (dot.h) and on the DOT text.
 * The highlighted set is compared, for every param of every case in
 * cases/, with a computation that does not use the unit graph: a unit is on
 * a chain-rule path from the loss to P when its DAG node is in the loss's
 * cone and P's leaf is in its own cone.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "dot.h"
#include "gradproof.h"
#include "print.h"
#include "render.h"

#ifndef GP_SOURCE_DIR
#error "GP_SOURCE_DIR must name the source tree"
#endif

static void print_diags(gp_ctx *c)
{
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        char *s = NULL;
        if (gp_diag_render(c, i, &s) == GP_OK)
            fprintf(stderr, "%s\n", s);
        gp_free(s);
    }
}

static gp_case *load_text(gp_ctx *c, const char *text)
{
    gp_case *cs = NULL;
    gp_status st = gp_case_load(c, "test.case", text, strlen(text), &cs);
    if (st != GP_OK)
        print_diags(c);
    cr_assert_eq(st, GP_OK, "loading failed with status %d:\n%s", (int)st, text);
    return cs;
}

static gp_case *load_case(gp_ctx *c, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cases/%s.case", GP_SOURCE_DIR, name);
    gp_case *cs = NULL;
    gp_status st = gp_case_load_file(c, path, &cs);
    if (st != GP_OK)
        print_diags(c);
    cr_assert_eq(st, GP_OK, "loading %s failed with status %d", path, (int)st);
    return cs;
}

static long param(gp_case *cs, const char *name)
{
    long p = render_find_param(cs, name);
    cr_assert_geq(p, 0, "'%s' is not a param", name);
    return p;
}

static uint32_t unit(const dot_graph *g, const gp_case *cs, const char *name)
{
    uint32_t u = dot_graph_find(g, cs, name);
    cr_assert_neq(u, DOT_NONE, "no unit named '%s'", name);
    return u;
}

static const dot_edge *edge(const dot_graph *g, uint32_t from, uint32_t to)
{
    for (size_t e = 0; e < g->nedge; e++)
        if (g->edge[e].from == from && g->edge[e].to == to)
            return &g->edge[e];
    return NULL;
}

/* the params of an edge, in case syntax, joined by spaces */
static void edge_params(char *out, size_t n, const gp_ctx *c, const dot_graph *g, const dot_edge *e)
{
    buf b = BUF_INIT;
    for (uint32_t k = 0; k < e->nparams; k++) {
        if (k)
            buf_putc(&b, ' ');
        print_name(&b, &c->leaf[g->eparam[e->first_param + k]].name, PR_CASE);
    }
    snprintf(out, n, "%s", b.s ? b.s : "");
    buf_free(&b);
}

static void expect_edge(const gp_case *cs, const dot_graph *g, const char *from, const char *to, const char *params)
{
    const dot_edge *e = edge(g, unit(g, cs, from), unit(g, cs, to));
    cr_assert_not_null(e, "no edge %s -> %s", from, to);
    char got[256];
    edge_params(got, sizeof got, cs->c, g, e);
    cr_expect_str_eq(got, params, "edge %s -> %s: params '%s', expected '%s'", from, to, got, params);
}

static char *render(gp_case *cs, const char *hl)
{
    gp_dot_opts o = {hl};
    char *out = NULL;
    gp_status st = gp_dot_render(cs, &o, &out);
    if (st != GP_OK)
        print_diags(cs->c);
    cr_assert_eq(st, GP_OK, "gp_dot_render failed with status %d", (int)st);
    cr_assert_not_null(out);
    return out;
}

/* the DOT id ("n3") of the node whose label is exactly `label` (escaped as in DOT) */
static int dot_node(const char *dot, const char *label)
{
    char pat[512];
    snprintf(pat, sizeof pat, " [label=\"%s\",", label);
    const char *p = strstr(dot, pat);
    cr_assert_not_null(p, "no node labelled \"%s\" in\n%s", label, dot);
    while (p > dot && p[-1] != 'n')
        p--;
    return atoi(p);
}

static int has_edge(const char *dot, int from, int to, const char *attrs)
{
    char pat[512];
    snprintf(pat, sizeof pat, "  n%d -> n%d%s", from, to, attrs);
    return strstr(dot, pat) != NULL;
}

/* ---- the unit graph ---- */

Test(dot, seed000_units_edges_and_params)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_case(c, "seed000_linear_221");
    dot_graph g;
    cr_assert_eq(dot_graph_build(&g, cs, -1), GP_OK);
    /* x1 x2 y z11 z12 yhat L C */
    cr_expect_eq(g.nunit, 8);
    expect_edge(cs, &g, "x1", "z11", "w111");
    expect_edge(cs, &g, "x2", "z11", "w112");
    expect_edge(cs, &g, "x1", "z12", "w121");
    expect_edge(cs, &g, "x2", "z12", "w122");
    expect_edge(cs, &g, "z11", "yhat", "w211");
    expect_edge(cs, &g, "z12", "yhat", "w212");
    expect_edge(cs, &g, "yhat", "L", "");
    expect_edge(cs, &g, "y", "L", "");
    expect_edge(cs, &g, "L", "C", "");
    cr_expect_eq(g.nedge, 9);
    cr_expect_null(edge(&g, unit(&g, cs, "x1"), unit(&g, cs, "yhat")), "x1 feeds yhat only through z11 and z12");
    cr_expect_eq(g.unit[unit(&g, cs, "x1")].kind, DOT_INPUT);
    cr_expect_eq(g.unit[unit(&g, cs, "y")].kind, DOT_TARGET);
    cr_expect_eq(g.unit[unit(&g, cs, "z11")].kind, DOT_HIDDEN);
    cr_expect_eq(g.unit[unit(&g, cs, "yhat")].kind, DOT_OUTPUT);
    cr_expect_eq(g.unit[unit(&g, cs, "C")].kind, DOT_LOSS);
    cr_expect_eq(g.loss, unit(&g, cs, "C"));
    dot_graph_free(&g);
    gp_ctx_free(c);
}

Test(dot, layers_count_from_the_inputs_and_targets_stand_beside_their_consumer)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_case(c, "seed000_linear_221");
    dot_graph g;
    cr_assert_eq(dot_graph_build(&g, cs, -1), GP_OK);
    static const struct {
        const char *name;
        uint32_t layer;
    } want[] = {{"x1", 0}, {"x2", 0}, {"z11", 1}, {"z12", 1}, {"yhat", 2}, {"y", 2}, {"L", 3}, {"C", 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect_eq(g.unit[unit(&g, cs, want[i].name)].layer, want[i].layer, "dot-layer-%zu: %s in layer %u, expected %u",
                     i, want[i].name, g.unit[unit(&g, cs, want[i].name)].layer, want[i].layer);
    dot_graph_free(&g);
    gp_ctx_free(c);
}

Test(dot, names_of_one_node_are_one_unit_and_constants_are_folded)
{
    /* seed 001: phi0[p] = x[p], phi1[1] = a1[1] and phi = a2 are the same
       nodes; phi0[0] = 1 is a number, its weight w1[0][k] a bias */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_case(c, "seed001_quadratic");
    dot_graph g;
    cr_assert_eq(dot_graph_build(&g, cs, -1), GP_OK);
    cr_expect_eq(unit(&g, cs, "x[1]"), unit(&g, cs, "phi0[1]"));
    cr_expect_eq(unit(&g, cs, "a1[1]"), unit(&g, cs, "phi1[1]"));
    cr_expect_eq(unit(&g, cs, "a2"), unit(&g, cs, "phi"));
    cr_expect_neq(unit(&g, cs, "a1[2]"), unit(&g, cs, "phi1[2]"));
    cr_expect_eq(dot_graph_find(&g, cs, "phi0[0]"), DOT_NONE);
    /* x y a1[1] a1[2] phi1[2] a2 L */
    cr_expect_eq(g.nunit, 8);
    /* the name the printer uses comes first */
    const dot_unit *u = &g.unit[unit(&g, cs, "phi1[1]")];
    cr_expect_str_eq(g.name[u->first_name].base, "a1");
    expect_edge(cs, &g, "x[2]", "a1[1]", "w1[2][1]");
    expect_edge(cs, &g, "a1[2]", "phi1[2]", "");
    expect_edge(cs, &g, "phi1[2]", "a2", "w2[2][1]");
    expect_edge(cs, &g, "a1[1]", "a2", "w2[1][1]");
    dot_graph_free(&g);
    gp_ctx_free(c);
}

Test(dot, a_param_labels_every_unit_below_the_product_it_is_a_factor_of)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x u\nparam a b w k\nv = a*tanh(b*x) + w*u^2 + k\nloss C = v^2\n");
    dot_graph g;
    cr_assert_eq(dot_graph_build(&g, cs, param(cs, "k")), GP_OK);
    expect_edge(cs, &g, "x", "v", "a b");
    expect_edge(cs, &g, "u", "v", "w");
    /* k multiplies nothing: it is written on the node, and v owns it */
    cr_expect(g.unit[unit(&g, cs, "v")].owns);
    cr_expect(g.unit[unit(&g, cs, "v")].hot);
    cr_expect_not(g.unit[unit(&g, cs, "x")].hot);
    cr_expect_eq(g.npaths, 1);
    dot_graph_free(&g);
    gp_ctx_free(c);
}

/* known path counts, each checked against the case's own story */
static const struct {
    const char *id, *cs, *param;
    unsigned long long paths;
} path_counts[] = {
    {"paths-1", "seed003_sigmoid_2331", "p1", 3},  /* through z1, z2 and z3: the claims diagnosis */
    {"paths-2", "seed003_sigmoid_2331", "s1", 1},  /* through z1 only */
    {"paths-3", "seed003_sigmoid_2331", "w2", 1},  /* f uses z2 with w2 directly */
    {"paths-4", "seed001_quadratic", "w1[2][1]", 1}, /* the seed's figure 2: the green path */
    {"paths-5", "seed001_quadratic", "w1[0][2]", 1}, /* a bias, through the square */
    {"paths-6", "tanh_mlp", "W1[2][3]", 2},       /* through h2[1] and h2[2] */
    {"paths-7", "tanh_mlp", "b3", 1},
    {"paths-8", "seed002_typo", "u0", 0},         /* nothing uses it */
    {"paths-9", "linreg", "w1", 2},               /* through yhat, and the penalty in C itself */
};

Test(dot, chain_rule_paths_are_counted)
{
    for (size_t i = 0; i < sizeof path_counts / sizeof path_counts[0]; i++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_case(c, path_counts[i].cs);
        dot_graph g;
        cr_assert_eq(dot_graph_build(&g, cs, param(cs, path_counts[i].param)), GP_OK);
        cr_expect_eq(g.npaths, path_counts[i].paths, "%s: %s, %s: %llu paths, expected %llu", path_counts[i].id,
                     path_counts[i].cs, path_counts[i].param, (unsigned long long)g.npaths, path_counts[i].paths);
        dot_graph_free(&g);
        gp_ctx_free(c);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

Test(dot, highlighted_units_are_exactly_the_units_on_loss_to_param_paths)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/cases", GP_SOURCE_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    static char names[256][256];
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL && n < 256;) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".case") == 0)
            snprintf(names[n++], sizeof names[0], "%.*s", (int)(len - 5), de->d_name);
    }
    closedir(d);
    cr_assert_gt(n, 0, "no cases in %s", dir);
    qsort(names, n, sizeof names[0], cmp_str);
    size_t checked = 0;
    for (size_t f = 0; f < n; f++) {
        const char *name = names[f];
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_case(c, name);
        unsigned char *lossc = calloc(c->nnode, 1), *cone = calloc(c->nnode, 1);
        dag_reach(c, 1, &cs->loss, lossc);
        for (size_t i = 0; i < cs->nparams; i++) {
            long p = (long)cs->params[i];
            gp_id pn = c->leaf[p].node;
            dot_graph g;
            cr_assert_eq(dot_graph_build(&g, cs, p), GP_OK);
            size_t nhot = 0;
            for (size_t v = 0; v < g.nunit; v++) {
                memset(cone, 0, c->nnode);
                dag_reach(c, 1, &g.unit[v].node, cone);
                int want = lossc[g.unit[v].node] && cone[pn];
                buf b = BUF_INIT;
                print_name(&b, &g.name[g.unit[v].first_name], PR_CASE);
                print_name(&b, &c->leaf[p].name, PR_CASE);
                cr_expect_eq(g.unit[v].hot, want, "%s, param %s: unit %s is %shighlighted", name,
                             c->leaf[p].name.base, b.s, g.unit[v].hot ? "" : "not ");
                buf_free(&b);
                nhot += g.unit[v].hot;
                checked++;
            }
            for (size_t e = 0; e < g.nedge; e++) {
                const dot_edge *ed = &g.edge[e];
                cr_expect_eq(ed->hot, g.unit[ed->from].hot && g.unit[ed->to].hot, "%s: edge %zu", name, e);
                int labelled = 0;
                for (uint32_t k = 0; k < ed->nparams; k++)
                    labelled |= (long)g.eparam[ed->first_param + k] == p;
                cr_expect_eq(ed->weight, labelled && g.unit[ed->to].hot, "%s: edge %zu", name, e);
            }
            cr_expect_eq(g.npaths > 0, nhot > 0, "%s: %llu paths but %zu units highlighted", name,
                         (unsigned long long)g.npaths, nhot);
            dot_graph_free(&g);
        }
        free(lossc);
        free(cone);
        gp_ctx_free(c);
    }
    cr_expect_gt(checked, 100);
}

Test(dot, every_drawn_unit_feeds_the_loss_or_an_output)
{
    /* seed 003's output yhat is not used by f (f writes the sum out):
       drawn, but not on any path from the loss */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_case(c, "seed003_sigmoid_2331");
    dot_graph g;
    cr_assert_eq(dot_graph_build(&g, cs, param(cs, "w1")), GP_OK);
    uint32_t yhat = unit(&g, cs, "yhat");
    cr_expect_eq(g.unit[yhat].kind, DOT_OUTPUT);
    cr_expect_not(g.unit[yhat].toloss);
    cr_expect_not(g.unit[yhat].hot);
    expect_edge(cs, &g, "z1", "f", "w1");
    const dot_edge *e = edge(&g, unit(&g, cs, "z1"), yhat);
    cr_assert_not_null(e);
    cr_expect_not(e->weight, "the w1 edge into yhat is on no path from f");
    dot_graph_free(&g);
    /* seed 002: d, d8 (hash-consed into the loss, as `derive` prints it) */
    gp_ctx *c2 = gp_ctx_new();
    gp_case *cs2 = load_case(c2, "seed002_linear_net");
    cr_assert_eq(dot_graph_build(&g, cs2, -1), GP_OK);
    cr_expect_eq(dot_graph_find(&g, cs2, "w0"), DOT_NONE);
    cr_expect_eq(dot_graph_find(&g, cs2, "d"), DOT_NONE);
    for (size_t v = 0; v < g.nunit; v++)
        cr_expect(g.unit[v].toloss || g.unit[v].kind == DOT_OUTPUT);
    dot_graph_free(&g);
    gp_ctx_free(c2);
    gp_ctx_free(c);
}

/* ---- the DOT text ---- */

Test(dot, seed000_text_has_the_edge_x1_to_z11_labelled_w111)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_case(c, "seed000_linear_221");
    char *s = render(cs, NULL);
    cr_expect(strncmp(s, "// gradproof dot", 16) == 0);
    cr_expect_not_null(strstr(s, "digraph \"gradproof\" {\n"));
    cr_expect_not_null(strstr(s, "rankdir=LR"));
    int x1 = dot_node(s, "x₁"), z11 = dot_node(s, "z₁₁\\nΣ"), yhat = dot_node(s, "ŷ\\nΣ");
    cr_expect(has_edge(s, x1, z11, " [label=\"w₁₁₁\"];"), "%s", s);
    cr_expect(has_edge(s, z11, yhat, " [label=\"w₂₁₁\"];"), "%s", s);
    cr_expect_not_null(strstr(s, "[label=\"L = (ŷ − y)²/2\""), "%s", s);
    cr_expect_not_null(strstr(s, "[label=\"C = mean(L)\""), "%s", s);
    cr_expect_not_null(strstr(s, "peripheries=2"), "the output is doubled");
    /* one rank per layer */
    cr_expect_not_null(strstr(s, "{ rank=same;  // layer 4"));
    cr_expect_null(strstr(s, "#d62728"), "nothing is red without --highlight");
    gp_free(s);
    gp_ctx_free(c);
}

Test(dot, activations_and_biases_are_written_on_the_nodes)
{
    static const struct {
        const char *cs, *label;
    } want[] = {
        {"tanh_mlp", "h₁₂\\ntanh(Σ + b₁₂)"},
        {"tanh_mlp", "ŷ\\nΣ + b₃"},
        {"seed003_sigmoid_2331", "z₁\\nsigmoid(Σ)"},
        {"seed001_quadratic", "φ₁₂\\n(·)²"},
        {"seed001_quadratic", "a₁₁ = φ₁₁\\nΣ + w₁₀₁"},
        {"seed001_quadratic", "x₂ = φ₀₂"},
        {"seed002_linear_net", "d₈ = zr − z"},  /* no param, no activation: the equation */
        {"seed000_collinear", "x₂ = (1 − a)·x"},
        {"logistic_regression", "p\\nsigmoid(Σ + w₀)"},
        {"softmax_ce", "y₂\\ntarget"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_case(c, want[i].cs);
        char *s = render(cs, NULL);
        char pat[256];
        snprintf(pat, sizeof pat, "[label=\"%s\",", want[i].label);
        cr_expect_not_null(strstr(s, pat), "dot-caption-%zu: %s has no node \"%s\"", i, want[i].cs, want[i].label);
        gp_free(s);
        gp_ctx_free(c);
    }
}

Test(dot, highlight_colours_the_paths_and_thickens_the_param_edges)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_case(c, "seed001_quadratic");
    char *s = render(cs, "w1[2][1]");
    int x2 = dot_node(s, "x₂ = φ₀₂"), a11 = dot_node(s, "a₁₁ = φ₁₁\\nΣ + w₁₀₁"), a2 = dot_node(s, "a₂ = φ\\nΣ");
    int x1 = dot_node(s, "x₁ = φ₀₁"), a12 = dot_node(s, "a₁₂\\nΣ + w₁₀₂");
    cr_expect(has_edge(s, x2, a11, " [label=\"w₁₂₁\", color=\"#d62728\", fontcolor=\"#d62728\", penwidth=3.5];"), "%s", s);
    cr_expect(has_edge(s, a11, a2, " [label=\"w₂₁₁\", color=\"#d62728\", penwidth=2];"), "%s", s);
    cr_expect(has_edge(s, x1, a12, " [label=\"w₁₁₂\", color=\"#b4b4b4\""), "%s", s);
    cr_expect_not_null(strstr(s, "chain-rule paths from L to w₁₂₁ (red): 1"), "%s", s);
    gp_free(s);
    gp_ctx_free(c);
}

Test(dot, output_is_deterministic)
{
    char *first = NULL;
    for (int round = 0; round < 3; round++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_case(c, "tanh_mlp");
        if (round == 2) {
            /* other work on the context first: more nodes, other ids */
            char *d = NULL;
            gp_derive_opts o = {GP_FMT_TEXT, 0, NULL, 0};
            cr_assert_eq(gp_derive_render(cs, &o, &d), GP_OK);
            gp_free(d);
        }
        char *s = render(cs, "W2[1][3]");
        if (!first)
            first = s;
        else {
            cr_expect_str_eq(s, first, "round %d differs", round);
            char *again = render(cs, "W2[1][3]");
            cr_expect_str_eq(again, s);
            gp_free(again);
            gp_free(s);
        }
        gp_ctx_free(c);
    }
    gp_free(first);
}

Test(dot, labels_are_escaped)
{
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "title \"a \\\"quoted\\\" back\\\\slash\"\ninput x\nparam w\nloss C = (w*x)^2\n");
    char *s = render(cs, NULL);
    cr_expect_not_null(strstr(s, "label=\"a \\\"quoted\\\" back\\\\slash\""), "%s", s);
    gp_free(s);
    gp_ctx_free(c);
}

Test(dot, highlighting_a_name_that_is_no_param_is_an_input_error)
{
    static const struct {
        const char *name, *msg;
    } bad[] = {
        {"nosuch", "unknown param 'nosuch'"},
        {"w11", "unknown param 'w11' (did you mean 'w111'?)"},
        {"yhat", "'yhat' is a definition, not a param"},
        {"x1", "'x1' is an input, not a param"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gp_ctx *c = gp_ctx_new();
        gp_case *cs = load_case(c, "seed000_linear_221");
        gp_dot_opts o = {bad[i].name};
        char *out = (char *)1;
        cr_expect_eq(gp_dot_render(cs, &o, &out), GP_EINPUT, "dot-err-%zu", i);
        cr_expect_null(out);
        cr_assert_geq(gp_diag_count(c), 1);
        gp_diag_info d;
        gp_diag_get(c, gp_diag_count(c) - 1, &d);
        cr_expect_str_eq(d.message, bad[i].msg, "dot-err-%zu", i);
        gp_ctx_free(c);
    }
}

Test(dot, a_big_indexed_network_draws_one_node_per_indexed_name)
{
    /* 20-unit layers: 20*10 + 20*20 + 20 weighted edges are unreadable one by one;
       a sum of 20 terms is also longer than the simplifier flattens */
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, "input x[1..10]\ntarget y\n"
                               "param W1[1..20][1..10] b1[1..20] W2[1..20][1..20] b2[1..20] v[1..20] c0\n"
                               "h1[k] = tanh(sum(j = 1..10, W1[k][j]*x[j]) + b1[k]) for k in 1..20\n"
                               "h2[m] = tanh(sum(k = 1..20, W2[m][k]*h1[k]) + b2[m]) for m in 1..20\n"
                               "yhat = sum(m = 1..20, v[m]*h2[m]) + c0\noutput yhat\n"
                               "loss C = mean((yhat - y)^2)/2\n");
    char *s = render(cs, "W1[3][4]");
    cr_expect_not_null(strstr(s, "[label=\"x[1..10]\","), "%s", s);
    cr_expect_not_null(strstr(s, "[label=\"h₁[1..20]\\ntanh(Σ + b₁)\","), "%s", s);
    cr_expect_not_null(strstr(s, "[label=\"h₂[1..20]\\ntanh(Σ + b₂)\","), "%s", s);
    cr_expect_not_null(strstr(s, "[label=\"ŷ\\nΣ + c₀\","), "%s", s);
    int x = dot_node(s, "x[1..10]"), h1 = dot_node(s, "h₁[1..20]\\ntanh(Σ + b₁)");
    cr_expect(has_edge(s, x, h1, " [label=\"W₁\", color=\"#d62728\", fontcolor=\"#d62728\", penwidth=3.5];"), "%s", s);
    cr_expect_not_null(strstr(s, "(red): 20"), "one path through each unit of h2");
    size_t edges = 0; /* edges stand at the top level, nodes inside their rank */
    for (const char *p = s; (p = strstr(p, "\n  n")) != NULL; p++)
        edges += p[4] >= '0' && p[4] <= '9';
    cr_expect_eq(edges, 5, "x -> h1 -> h2 -> yhat -> C and y -> C:\n%s", s);
    gp_free(s);
    gp_ctx_free(c);
}

Test(dot, a_chain_of_100000_definitions_draws_without_recursion, .timeout = 120)
{
    enum { N = 100000 };
    buf b = BUF_INIT;
    buf_puts(&b, "input x\ntarget y\nparam w a\nz0 = w*x\n");
    for (int i = 1; i <= N; i++)
        buf_printf(&b, "z%d = tanh(a*z%d)\n", i, i - 1);
    buf_printf(&b, "loss C = mean((z%d - y)^2)\n", N);
    gp_ctx *c = gp_ctx_new();
    gp_case *cs = load_text(c, b.s);
    buf_free(&b);
    dot_graph g;
    cr_assert_eq(dot_graph_build(&g, cs, param(cs, "a")), GP_OK);
    cr_expect_eq(g.nunit, (size_t)N + 4);
    cr_expect_eq(g.unit[g.loss].layer, (uint32_t)N + 2);
    cr_expect_eq(g.npaths, (uint64_t)N, "a occurs once in each of z1 .. z100000");
    dot_graph_free(&g);
    char *s = render(cs, "w");
    cr_expect_not_null(strstr(s, "(red): 1\""));
    gp_free(s);
    gp_ctx_free(c);
}

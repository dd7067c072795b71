/*
 * test_autgroup.c -- the permutation symmetries of a network (autgroup.h):
 * group orders worked out by hand, exact generators, and every generator
 * checked numerically as a symmetry of the loss.
 *
 * 1. The case files.  Orders derived by hand (the reasoning is next to each
 *    test): a hidden layer of k interchangeable units contributes k!, and
 *    nothing else moves because inputs, targets, constants and numbers are
 *    fixed.
 * 2. Inline cases for the colouring: distinct activations, units scaled by
 *    different constants, a 3-4-4-1 net (4! 4! = 576), two outputs with
 *    their own targets or one shared target, terms written in another
 *    order, roots and unlisted params (fixed), shared units weighted
 *    twice or through products of different kinds (the chains that
 *    autgroup.c contracts into edges).
 * 3. DAGs built by hand with dag_intern, for what the case language does
 *    not produce: a repeated child (multiplicity must count), an unfolded
 *    power of two numbers (order of children must count), twin nodes that
 *    differ only in the order of commutative children (they must not
 *    inflate the order).
 *    Each rule of autgroup.c was broken once on purpose and a test here
 *    failed: no multiplicity helper (a_repeated_child...), no position
 *    helper (the_order_of_a_powers...), no classes (twin_nodes...), no
 *    private labels in colours (two_outputs_with_their_own_targets...),
 *    unsorted labels (the_order_terms_are_written_in...), no cycle
 *    generator (the wide net and others), chains of different colours or
 *    with a repeated target merged (chains_of_different_kinds...,
 *    two_weights_on_one_shared_unit..., and the brute force).  Depth in
 *    the colour is the one rule no test needs: with leaves and roots
 *    pinned, no DAG found here turns an edge around without it.
 * 4. The property test: random layered networks (widths 1..4, 1..3 hidden
 *    layers, one activation per layer among tanh, sigmoid and the identity,
 *    with or without biases).  The order is the product of the factorials
 *    of the hidden widths, the generators generate a group of exactly that
 *    order (closure), and each generator leaves the loss unchanged at a
 *    random point (MPFR, 256 bits) while a transposition outside the group
 *    changes it.
 * 5. Against brute force: random DAGs made of copies of a random template
 *    (params in its slots, shared subexpressions, now and then a copy with
 *    another constant, a coupling term), built by the smart constructors.
 *    Every permutation of the params (up to 7! = 5040) is tried by
 *    substituting it and re-interning the cone: it is an automorphism
 *    exactly when the root comes back.  Their number must be the order,
 *    and every generator must be one of them.  This covers private
 *    subtrees, chains and the core together, with sharing the layered nets
 *    do not have.
 *
 * A generator is the image of each param ordinal; "a symmetry" means
 * C(theta) = C(theta'), theta'[i] = theta[gen[i]].
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpfr.h>

#include "autgroup.h"
#include "build.h"
#include "ctx.h"
#include "eval_mpfr.h"
#include "gradproof.h"
#include "rng.h"
#include "simplify.h"

/* Criterion counts a test whose process leaks as passed (LeakSanitizer only
   prints at exit), so the ASan build checks for leaks inside the tests:
   after every case is freed, and after every DAG built by hand. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define EXPECT_NO_LEAKS() cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (LeakSanitizer's report above)")
#else
#define EXPECT_NO_LEAKS() ((void)0)
#endif

/* ---- loading ---- */

typedef struct loaded {
    gp_ctx *c;
    gp_case *cs;
    autgroup g;
} loaded;

static void log_diags(gp_ctx *c)
{
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        char *s = NULL;
        gp_diag_render(c, i, &s);
        cr_log_error("%s", s ? s : "?");
        gp_free(s);
    }
}

static void find(loaded *l)
{
    gp_status st = autgroup_find(&l->g, l->c, 1, &l->cs->loss, l->cs->nparams, l->cs->params);
    cr_assert_eq(st, GP_OK, "autgroup_find returned %d", (int)st);
    cr_assert_eq(l->g.nparam, l->cs->nparams);
}

static loaded load_text(const char *text)
{
    loaded l;
    memset(&l, 0, sizeof l);
    l.c = gp_ctx_new();
    cr_assert_not_null(l.c);
    gp_status st = gp_case_load(l.c, "t.case", text, strlen(text), &l.cs);
    if (st != GP_OK)
        log_diags(l.c);
    cr_assert_eq(st, GP_OK, "the case does not load:\n%s", text);
    find(&l);
    return l;
}

static loaded load_file(const char *name)
{
    loaded l;
    memset(&l, 0, sizeof l);
    char path[4096];
    snprintf(path, sizeof path, "%s/cases/%s", GP_SOURCE_DIR, name);
    l.c = gp_ctx_new();
    cr_assert_not_null(l.c);
    gp_status st = gp_case_load_file(l.c, path, &l.cs);
    if (st != GP_OK)
        log_diags(l.c);
    cr_assert_eq(st, GP_OK, "%s does not load", path);
    find(&l);
    return l;
}

static void loaded_free(loaded *l)
{
    autgroup_free(&l->g);
    gp_ctx_free(l->c);
    EXPECT_NO_LEAKS();
}

/* ---- names ---- */

static void param_name(const loaded *l, size_t i, char *out, size_t n)
{
    const gp_leaf *lf = &l->c->leaf[l->cs->params[i]];
    size_t k = (size_t)snprintf(out, n, "%s", lf->name.base);
    for (unsigned j = 0; j < lf->name.nidx && k < n; j++)
        k += (size_t)snprintf(out + k, n - k, "[%d]", (int)lf->name.idx[j]);
}

static size_t ordinal(const loaded *l, const char *name)
{
    char buf[128];
    for (size_t i = 0; i < l->cs->nparams; i++) {
        param_name(l, i, buf, sizeof buf);
        if (strcmp(buf, name) == 0)
            return i;
    }
    cr_assert_fail("no param '%s'", name);
    return 0;
}

/* The generator as a list of cycles, for messages: "(w111 w121)(w112 w122)". */
static void gen_text(const loaded *l, size_t gi, char *out, size_t n)
{
    const uint32_t *p = l->g.gen + gi * l->g.nparam;
    size_t np = l->g.nparam, k = 0;
    char *seen = calloc(np ? np : 1, 1);
    out[0] = '\0';
    for (size_t i = 0; i < np && k < n; i++) {
        if (seen[i] || p[i] == i)
            continue;
        k += (size_t)snprintf(out + k, n - k, "(");
        for (size_t j = i; !seen[j] && k < n; j = p[j]) {
            char nm[128];
            seen[j] = 1;
            param_name(l, j, nm, sizeof nm);
            k += (size_t)snprintf(out + k, n - k, "%s%s", j == i ? "" : " ", nm);
        }
        if (k < n)
            k += (size_t)snprintf(out + k, n - k, ")");
    }
    free(seen);
}

/* ---- the group generated ---- */

/* Every generator a permutation of the ordinals, nontrivial. */
static void expect_permutations(const loaded *l)
{
    size_t np = l->g.nparam;
    char *hit = malloc(np ? np : 1);
    for (size_t g = 0; g < l->g.ngen; g++) {
        const uint32_t *p = l->g.gen + g * np;
        memset(hit, 0, np ? np : 1);
        int moves = 0;
        for (size_t i = 0; i < np; i++) {
            cr_assert_lt(p[i], np, "generator %zu: image of %zu out of range", g, i);
            cr_assert(!hit[p[i]], "generator %zu is not a bijection", g);
            hit[p[i]] = 1;
            moves |= p[i] != i;
        }
        cr_expect(moves, "generator %zu is the identity", g);
    }
    free(hit);
}

/* The elements of the group the generators generate, by closure (breadth
   first), as n permutations of nparam entries (malloc'd); NULL when there
   are more than cap. */
static uint32_t *closure(const loaded *l, size_t cap, size_t *nout)
{
    size_t np = l->g.nparam, ng = l->g.ngen;
    size_t hcap = 1;
    while (hcap < 2 * cap + 2)
        hcap *= 2;
    uint32_t *el = malloc((cap + 1) * (np ? np : 1) * sizeof *el);
    size_t *tab = malloc(hcap * sizeof *tab);
    uint32_t *tmp = malloc((np ? np : 1) * sizeof *tmp);
    cr_assert(el && tab && tmp);
    for (size_t i = 0; i < hcap; i++)
        tab[i] = SIZE_MAX;
    size_t n = 0;
    for (size_t i = 0; i < np; i++) /* the identity first */
        tmp[i] = (uint32_t)i;
    for (size_t next = 0;; next++) {
        uint64_t h = 1469598103934665603u;
        for (size_t i = 0; i < np; i++)
            h = (h ^ tmp[i]) * 1099511628211u;
        size_t s = (size_t)h & (hcap - 1);
        while (tab[s] != SIZE_MAX && memcmp(el + tab[s] * np, tmp, np * sizeof *tmp) != 0)
            s = (s + 1) & (hcap - 1);
        if (tab[s] == SIZE_MAX) {
            if (n == cap) {
                free(el);
                el = NULL;
                break;
            }
            memcpy(el + n * np, tmp, np * sizeof *tmp);
            tab[s] = n++;
        }
        /* product number `next`: element next / ng, then generator next % ng */
        if (ng == 0 || next / ng >= n)
            break;
        const uint32_t *a = el + (next / ng) * np, *b = l->g.gen + (next % ng) * np;
        for (size_t i = 0; i < np; i++)
            tmp[i] = b[a[i]];
    }
    free(tmp);
    free(tab);
    *nout = el ? n : 0;
    return el;
}

static size_t closure_order(const loaded *l, size_t cap)
{
    size_t n;
    free(closure(l, cap, &n));
    return n;
}

/* Is the permutation that swaps a[k] <-> b[k] for every k in the group? */
static int in_group(const loaded *l, const char *const *a, const char *const *b, size_t n)
{
    size_t np = l->g.nparam, ne;
    uint32_t *want = malloc(np * sizeof *want);
    for (size_t i = 0; i < np; i++)
        want[i] = (uint32_t)i;
    for (size_t k = 0; k < n; k++) {
        size_t x = ordinal(l, a[k]), y = ordinal(l, b[k]);
        want[x] = (uint32_t)y;
        want[y] = (uint32_t)x;
    }
    uint32_t *el = closure(l, 50000, &ne);
    cr_assert_not_null(el);
    int found = 0;
    for (size_t e = 0; e < ne && !found; e++)
        found = memcmp(el + e * np, want, np * sizeof *want) == 0;
    free(el);
    free(want);
    return found;
}

static void expect_order(const loaded *l, double order, const char *what)
{
    cr_expect(l->g.order_exact, "%s: the order should be exact", what);
    cr_expect_eq(l->g.order, order, "%s: order %.17g, expected %.17g", what, l->g.order, order);
    if (order < 50000) {
        size_t n = closure_order(l, 50000);
        cr_expect_eq((double)n, order, "%s: the generators generate %zu elements, expected %.17g", what, n, order);
    }
    cr_expect(l->g.nvert > 0, "%s: empty graph", what);
}

/* ---- the loss at a point ---- */

typedef struct qpoint {
    size_t nl, ns, nc;
    mpq_t *q;     /* [nl] param values by leaf index */
    mpq_t *cols;  /* [ns * nc] data, row-major */
} qpoint;

static void rand_q(mpq_t r, uint64_t *s)
{
    /* in [-2, 2], with many distinct values, so that no tanh saturates at
       256 bits and no two params are equal by chance */
    long num = (long)(rng_next(s) % 2001) - 1000;
    unsigned long den = 500 + rng_next(s) % 500;
    if (num == 0)
        num = 5;
    mpq_set_si(r, num, den);
    mpq_canonicalize(r);
}

static void pt_init(qpoint *p, const loaded *l, uint64_t seed)
{
    uint64_t s = seed;
    p->nl = l->c->nleaf;
    p->ns = 3;
    p->nc = l->cs->ninputs;
    p->q = malloc((p->nl ? p->nl : 1) * sizeof *p->q);
    p->cols = malloc((p->ns * p->nc > 0 ? p->ns * p->nc : 1) * sizeof *p->cols);
    for (size_t i = 0; i < p->nl; i++) {
        mpq_init(p->q[i]);
        rand_q(p->q[i], &s);
    }
    for (size_t i = 0; i < p->ns * p->nc; i++) {
        mpq_init(p->cols[i]);
        rand_q(p->cols[i], &s);
    }
}

static void pt_clear(qpoint *p)
{
    for (size_t i = 0; i < p->nl; i++)
        mpq_clear(p->q[i]);
    for (size_t i = 0; i < p->ns * p->nc; i++)
        mpq_clear(p->cols[i]);
    free(p->q);
    free(p->cols);
}

/* The loss with param i at the value of param perm[i] (perm NULL: as is). */
static void loss_at(mpfr_t out, const loaded *l, const qpoint *p, const uint32_t *perm)
{
    size_t np = l->cs->nparams;
    mpq_t *v = malloc((p->nl ? p->nl : 1) * sizeof *v);
    for (size_t i = 0; i < p->nl; i++) {
        mpq_init(v[i]);
        mpq_set(v[i], p->q[i]);
    }
    if (perm)
        for (size_t i = 0; i < np; i++)
            mpq_set(v[l->cs->params[i]], p->q[l->cs->params[perm[i]]]);
    eval_env env;
    memset(&env, 0, sizeof env);
    env.leafq = (const mpq_t *)v;
    env.nsamples = p->ns;
    env.ncols = p->nc;
    env.col_leaf = l->cs->inputs;
    env.qcols = (const mpq_t *)p->cols;
    long sample = l->c->node[l->cs->loss].level == GP_LV_SAMPLE ? 0 : -1;
    eval_fault f;
    gp_status st = eval_mpfr((mpfr_t *)out, l->c, &env, sample, 1, &l->cs->loss, 256, &f);
    cr_assert_eq(st, GP_OK);
    cr_assert_eq(f.node, GP_NIL, "numerical trouble: %s", f.what ? f.what : "?");
    for (size_t i = 0; i < p->nl; i++)
        mpq_clear(v[i]);
    free(v);
}

/* |a - b| <= 2^-200 (1 + |a|) */
static int close(mpfr_t a, mpfr_t b)
{
    mpfr_t d, t;
    mpfr_inits2(300, d, t, (mpfr_ptr)0);
    mpfr_sub(d, a, b, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    mpfr_abs(t, a, MPFR_RNDN);
    mpfr_add_ui(t, t, 1, MPFR_RNDN);
    mpfr_mul_2si(t, t, -200, MPFR_RNDN);
    int ok = mpfr_lessequal_p(d, t);
    mpfr_clears(d, t, (mpfr_ptr)0);
    return ok;
}

/* Every generator leaves the loss unchanged at a random point. */
static void expect_generators_are_symmetries(const loaded *l, uint64_t seed, const char *what)
{
    qpoint p;
    pt_init(&p, l, seed);
    mpfr_t base, val;
    mpfr_inits2(256, base, val, (mpfr_ptr)0);
    loss_at(base, l, &p, NULL);
    for (size_t g = 0; g < l->g.ngen; g++) {
        loss_at(val, l, &p, l->g.gen + g * l->g.nparam);
        if (!close(base, val)) {
            char txt[2048];
            gen_text(l, g, txt, sizeof txt);
            char *a = mpfr_get_str(NULL, NULL, 10, 20, base, MPFR_RNDN);
            char *b = mpfr_get_str(NULL, NULL, 10, 20, val, MPFR_RNDN);
            cr_expect_fail("%s: generator %zu %s changes the loss: %s -> %s", what, g, txt, a, b);
            mpfr_free_str(a);
            mpfr_free_str(b);
        }
    }
    mpfr_clears(base, val, (mpfr_ptr)0);
    pt_clear(&p);
}

/* Swapping params a and b changes the loss (the evaluation can fail). */
static void expect_swap_changes_loss(const loaded *l, size_t a, size_t b, uint64_t seed)
{
    size_t np = l->cs->nparams;
    uint32_t *perm = malloc(np * sizeof *perm);
    for (size_t i = 0; i < np; i++)
        perm[i] = (uint32_t)i;
    perm[a] = (uint32_t)b;
    perm[b] = (uint32_t)a;
    qpoint p;
    pt_init(&p, l, seed);
    mpfr_t base, val;
    mpfr_inits2(256, base, val, (mpfr_ptr)0);
    loss_at(base, l, &p, NULL);
    loss_at(val, l, &p, perm);
    cr_expect(!close(base, val), "swapping params %zu and %zu leaves the loss unchanged", a, b);
    mpfr_clears(base, val, (mpfr_ptr)0);
    pt_clear(&p);
    free(perm);
}

/* Is there a generator mapping each a[k] to b[k] and b[k] to a[k]? */
static int has_swap(const loaded *l, const char *const *a, const char *const *b, size_t n)
{
    for (size_t g = 0; g < l->g.ngen; g++) {
        const uint32_t *p = l->g.gen + g * l->g.nparam;
        size_t moved = 0, ok = 1;
        for (size_t i = 0; i < l->g.nparam; i++)
            moved += p[i] != i;
        for (size_t k = 0; k < n; k++) {
            size_t x = ordinal(l, a[k]), y = ordinal(l, b[k]);
            ok &= p[x] == y && p[y] == x;
        }
        if (ok && moved == 2 * n)
            return 1;
    }
    return 0;
}

/* ---- 1. the case files ---- */

Test(autgroup, seed000_swaps_the_two_hidden_units)
{
    /* 2-2-1 linear net, no biases: z11 and z12 trade places with their
       weights; the output weights w211, w212 follow.  Nothing else: the
       inputs are fixed, so w111 (x1) never meets w112 (x2). */
    loaded l = load_file("seed000_linear_221.case");
    expect_order(&l, 2, "seed000");
    cr_assert_eq(l.g.ngen, 1);
    const uint32_t *p = l.g.gen;
    static const char *const pairs[][2] = {{"w111", "w121"}, {"w112", "w122"}, {"w211", "w212"}};
    for (size_t k = 0; k < 3; k++) {
        size_t a = ordinal(&l, pairs[k][0]), b = ordinal(&l, pairs[k][1]);
        cr_expect_eq(p[a], b, "%s -> %s", pairs[k][0], pairs[k][1]);
        cr_expect_eq(p[b], a, "%s -> %s", pairs[k][1], pairs[k][0]);
    }
    expect_permutations(&l);
    expect_generators_are_symmetries(&l, 1, "seed000");
    expect_swap_changes_loss(&l, ordinal(&l, "w111"), ordinal(&l, "w112"), 2);
    loaded_free(&l);
}

Test(autgroup, seed003_two_layers_of_three_sigmoids_give_36)
{
    /* 2-3-3-1: the first layer's units h1..h3 permute (3!), and so do
       z1..z3 (3!), independently: the s/u/v rows follow z, the columns
       follow h.  3! * 3! = 36. */
    loaded l = load_file("seed003_sigmoid_2331.case");
    expect_order(&l, 36, "seed003");
    expect_permutations(&l);
    expect_generators_are_symmetries(&l, 3, "seed003");
    loaded_free(&l);
}

Test(autgroup, seed001_a_linear_and_a_squared_unit_have_no_symmetry)
{
    /* phi1[1] = a1[1] and phi1[2] = a1[2]^2 differ: order 1 */
    loaded l = load_file("seed001_quadratic.case");
    expect_order(&l, 1, "seed001");
    cr_expect_eq(l.g.ngen, 0);
    loaded_free(&l);
}

Test(autgroup, seed002_linear_net_with_biases_gives_2)
{
    /* 2-2-1 linear with biases: y1 <-> y2 with (u01 u02)(u11 u12)(u21 u22)
       (v1 v2); v0 is the output bias, fixed.  Order 2. */
    loaded l = load_file("seed002_linear_net.case");
    expect_order(&l, 2, "seed002");
    static const char *const a[] = {"u01", "u11", "u21", "v1"}, *const b[] = {"u02", "u12", "u22", "v2"};
    cr_expect(has_swap(&l, a, b, 4), "the generator swaps y1 and y2");
    expect_generators_are_symmetries(&l, 4, "seed002");
    loaded_free(&l);
}

Test(autgroup, tanh_mlp_3421_gives_4_factorial_times_2)
{
    /* 3-4-2-1 tanh: the four first-layer units permute (rows of W1 and b1,
       columns of W2), the two second-layer units too (rows of W2 and b2,
       v).  The output bias b3 and the inputs are fixed.  4! * 2! = 48. */
    loaded l = load_file("tanh_mlp.case");
    expect_order(&l, 48, "tanh_mlp");
    expect_permutations(&l);
    expect_generators_are_symmetries(&l, 5, "tanh_mlp");
    loaded_free(&l);
}

Test(autgroup, softmax_classes_are_pinned_by_their_targets)
{
    /* Softmax regression, 3 classes.  Permuting the classes (rows of W, b)
       keeps the denominator but moves log(p[k]) to the slot of target
       y[k'], and targets are fixed: no symmetry, order 1.  (With the
       targets permuted too it would be S3.) */
    loaded l = load_file("softmax_ce.case");
    expect_order(&l, 1, "softmax_ce");
    cr_expect_eq(l.g.ngen, 0);
    loaded_free(&l);
}

/* ---- 2. inline cases ---- */

Test(autgroup, tanh_231_with_biases_gives_6)
{
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..3][1..2] b[1..3] v[1..3] c\n"
                         "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j]) + b[k]) for k in 1..3\n"
                         "yhat = sum(k = 1..3, v[k]*h[k]) + c\n"
                         "loss C = mean((yhat - y)^2)/2\n");
    expect_order(&l, 6, "2-3-1 tanh");
    expect_permutations(&l);
    expect_generators_are_symmetries(&l, 6, "2-3-1 tanh");
    expect_swap_changes_loss(&l, ordinal(&l, "W[1][1]"), ordinal(&l, "W[1][2]"), 7);
    expect_swap_changes_loss(&l, ordinal(&l, "b[1]"), ordinal(&l, "c"), 7);
    loaded_free(&l);
}

Test(autgroup, the_order_terms_are_written_in_does_not_matter)
{
    /* unit 2 writes its terms backwards, so its nodes are interned in
       another order (other ids, other child order) than unit 1's: the
       units are still interchangeable, canonical labels sort children */
    loaded l = load_text("input x[1..3]\n"
                         "target y\n"
                         "param W[1..2][1..3] b[1..2] v[1..2]\n"
                         "h1 = tanh(W[1][1]*x[1] + W[1][2]*x[2] + W[1][3]*x[3] + b[1])\n"
                         "h2 = tanh(b[2] + W[2][3]*x[3] + W[2][2]*x[2] + W[2][1]*x[1])\n"
                         "loss C = mean((v[2]*h2 + v[1]*h1 - y)^2)\n");
    expect_order(&l, 2, "terms in another order");
    static const char *const a[] = {"W[1][1]", "W[1][2]", "W[1][3]", "b[1]", "v[1]"},
                             *const b[] = {"W[2][1]", "W[2][2]", "W[2][3]", "b[2]", "v[2]"};
    cr_expect(has_swap(&l, a, b, 5));
    expect_generators_are_symmetries(&l, 14, "terms in another order");
    loaded_free(&l);
}

Test(autgroup, distinct_activations_per_unit_give_1)
{
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..3][1..2] v[1..3]\n"
                         "a[k] = sum(j = 1..2, W[k][j]*x[j]) for k in 1..3\n"
                         "yhat = v[1]*tanh(a[1]) + v[2]*sigmoid(a[2]) + v[3]*softplus(a[3])\n"
                         "loss C = mean((yhat - y)^2)\n");
    expect_order(&l, 1, "distinct activations");
    loaded_free(&l);
}

Test(autgroup, two_of_three_units_alike_give_2)
{
    /* tanh, tanh, sigmoid: only the two tanh units swap */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..3][1..2] v[1..3]\n"
                         "a[k] = sum(j = 1..2, W[k][j]*x[j]) for k in 1..3\n"
                         "yhat = v[1]*tanh(a[1]) + v[2]*tanh(a[2]) + v[3]*sigmoid(a[3])\n"
                         "loss C = mean((yhat - y)^2)\n");
    expect_order(&l, 2, "tanh tanh sigmoid");
    static const char *const a[] = {"W[1][1]", "W[1][2]", "v[1]"}, *const b[] = {"W[2][1]", "W[2][2]", "v[2]"};
    cr_expect(has_swap(&l, a, b, 3));
    expect_generators_are_symmetries(&l, 8, "tanh tanh sigmoid");
    loaded_free(&l);
}

Test(autgroup, units_scaled_by_different_constants_do_not_swap)
{
    /* 2*tanh and 3*tanh: the numbers 2 and 3 have colours of their own */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..2][1..2] v[1..2]\n"
                         "a[k] = sum(j = 1..2, W[k][j]*x[j]) for k in 1..2\n"
                         "yhat = v[1]*(2*tanh(a[1])) + v[2]*(3*tanh(a[2]))\n"
                         "loss C = mean((yhat - y)^2)\n");
    expect_order(&l, 1, "2*tanh vs 3*tanh");
    loaded_free(&l);

    /* the same scale on both: they swap */
    l = load_text("input x[1..2]\n"
                  "target y\n"
                  "param W[1..2][1..2] v[1..2]\n"
                  "a[k] = sum(j = 1..2, W[k][j]*x[j]) for k in 1..2\n"
                  "yhat = v[1]*(2*tanh(a[1])) + v[2]*(2*tanh(a[2]))\n"
                  "loss C = mean((yhat - y)^2)\n");
    expect_order(&l, 2, "2*tanh vs 2*tanh");
    expect_generators_are_symmetries(&l, 9, "2*tanh vs 2*tanh");
    loaded_free(&l);
}

Test(autgroup, units_scaled_by_different_named_constants_do_not_swap)
{
    /* named constants are fixed leaves, each its own colour, even when
       their values are equal */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "const k1 = 2\n"
                         "const k2 = 2\n"
                         "param W[1..2][1..2] v[1..2]\n"
                         "a[k] = sum(j = 1..2, W[k][j]*x[j]) for k in 1..2\n"
                         "yhat = v[1]*(k1*tanh(a[1])) + v[2]*(k2*tanh(a[2]))\n"
                         "loss C = mean((yhat - y)^2)\n");
    /* the builder keeps k1 and k2 as leaves (their values are not
       substituted into the DAG), so the units are told apart */
    expect_order(&l, 1, "k1 vs k2");
    loaded_free(&l);
}

Test(autgroup, layered_3441_gives_576)
{
    /* two hidden layers of 4 tanh units: 4! * 4! = 576 */
    loaded l = load_text("input x[1..3]\n"
                         "target y\n"
                         "param A[1..4][1..3] a[1..4] B[1..4][1..4] b[1..4] v[1..4] c\n"
                         "h[k] = tanh(sum(j = 1..3, A[k][j]*x[j]) + a[k]) for k in 1..4\n"
                         "g[m] = tanh(sum(k = 1..4, B[m][k]*h[k]) + b[m]) for m in 1..4\n"
                         "yhat = sum(m = 1..4, v[m]*g[m]) + c\n"
                         "loss C = mean((yhat - y)^2)/2\n");
    expect_order(&l, 576, "3-4-4-1");
    expect_permutations(&l);
    expect_generators_are_symmetries(&l, 11, "3-4-4-1");
    loaded_free(&l);
}

Test(autgroup, two_outputs_with_their_own_targets_do_not_swap)
{
    /* outputs o1, o2 have identical structure, but o1 meets target y1 and
       o2 meets y2, and targets are fixed: the outputs stay, and only the
       three hidden units permute (rows of W, and both v1 and v2 columns
       along).  Order 3! = 6. */
    loaded l = load_text("input x[1..2]\n"
                         "target y1 y2\n"
                         "param W[1..3][1..2] v1[1..3] v2[1..3] c1 c2\n"
                         "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j])) for k in 1..3\n"
                         "o1 = sum(k = 1..3, v1[k]*h[k]) + c1\n"
                         "o2 = sum(k = 1..3, v2[k]*h[k]) + c2\n"
                         "loss C = mean((o1 - y1)^2 + (o2 - y2)^2)\n");
    expect_order(&l, 6, "two outputs, two targets");
    static const char *const a[] = {"v1[1]", "v1[2]", "v1[3]", "c1"}, *const b[] = {"v2[1]", "v2[2]", "v2[3]", "c2"};
    cr_expect(!in_group(&l, a, b, 4), "(o1 o2) would need (y1 y2)");
    expect_generators_are_symmetries(&l, 12, "two outputs, two targets");
    loaded_free(&l);
}

Test(autgroup, two_outputs_against_one_target_swap)
{
    /* with one shared target the two output units are interchangeable:
       (v1[k] v2[k]) for every k and (c1 c2).  3! * 2! = 12. */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..3][1..2] v1[1..3] v2[1..3] c1 c2\n"
                         "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j])) for k in 1..3\n"
                         "o1 = sum(k = 1..3, v1[k]*h[k]) + c1\n"
                         "o2 = sum(k = 1..3, v2[k]*h[k]) + c2\n"
                         "loss C = mean((o1 - y)^2 + (o2 - y)^2)\n");
    expect_order(&l, 12, "two outputs, one target");
    static const char *const a[] = {"v1[1]", "v1[2]", "v1[3]", "c1"}, *const b[] = {"v2[1]", "v2[2]", "v2[3]", "c2"};
    /* the output swap need not be a generator itself: it is in the group */
    cr_expect(in_group(&l, a, b, 4), "(o1 o2) is a symmetry");
    expect_generators_are_symmetries(&l, 13, "two outputs, one target");
    loaded_free(&l);
}

Test(autgroup, a_param_used_as_a_root_is_fixed_and_unused_params_stay)
{
    /* roots: the loss and the param b[1] itself; b[2] is outside the cone */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..2][1..2] v[1..2] b[1..2]\n"
                         "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j]) + b[1]) for k in 1..2\n"
                         "loss C = mean((v[1]*h[1] + v[2]*h[2] - y)^2)\n");
    expect_order(&l, 2, "loss");
    size_t b1 = ordinal(&l, "b[1]"), b2 = ordinal(&l, "b[2]");
    for (size_t g = 0; g < l.g.ngen; g++) {
        cr_expect_eq(l.g.gen[g * l.g.nparam + b1], b1);
        cr_expect_eq(l.g.gen[g * l.g.nparam + b2], b2);
    }
    autgroup_free(&l.g);
    gp_id roots[3] = {l.cs->loss, GP_NIL, l.c->leaf[l.cs->params[b1]].node};
    cr_assert_eq(autgroup_find(&l.g, l.c, 3, roots, l.cs->nparams, l.cs->params), GP_OK);
    cr_expect_eq(l.g.order, 2);
    /* the same root twice changes nothing */
    autgroup_free(&l.g);
    gp_id twice[2] = {l.cs->loss, l.cs->loss};
    cr_assert_eq(autgroup_find(&l.g, l.c, 2, twice, l.cs->nparams, l.cs->params), GP_OK);
    cr_expect_eq(l.g.order, 2);
    loaded_free(&l);
}

Test(autgroup, each_hidden_unit_as_a_root_pins_its_unit)
{
    /* roots h[1] and the loss: h[1] has a colour of its own, so the unit
       is pinned and only h[2] <-> h[3] remain */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..3][1..2] v[1..3]\n"
                         "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j])) for k in 1..3\n"
                         "yhat = sum(k = 1..3, v[k]*h[k])\n"
                         "output h[1]\n"
                         "loss C = mean((yhat - y)^2)\n");
    expect_order(&l, 6, "loss only");
    autgroup_free(&l.g);
    cr_assert_geq(l.cs->nout, 1);
    gp_id roots[2] = {l.cs->loss, l.cs->out[0]};
    cr_assert_eq(autgroup_find(&l.g, l.c, 2, roots, l.cs->nparams, l.cs->params), GP_OK);
    cr_expect_eq(l.g.order, 2, "order %g", l.g.order);
    loaded_free(&l);
}

Test(autgroup, an_unlisted_param_is_fixed)
{
    /* leave v[3] out of the list: it becomes a fixed leaf, pinning unit 3 */
    loaded l = load_text("input x[1..2]\n"
                         "target y\n"
                         "param W[1..3][1..2] v[1..3]\n"
                         "h[k] = tanh(sum(j = 1..2, W[k][j]*x[j])) for k in 1..3\n"
                         "loss C = mean((sum(k = 1..3, v[k]*h[k]) - y)^2)\n");
    expect_order(&l, 6, "all listed");
    size_t v3 = ordinal(&l, "v[3]");
    uint32_t *list = malloc(l.cs->nparams * sizeof *list);
    size_t n = 0;
    for (size_t i = 0; i < l.cs->nparams; i++)
        if (i != v3)
            list[n++] = l.cs->params[i];
    autgroup_free(&l.g);
    cr_assert_eq(autgroup_find(&l.g, l.c, 1, &l.cs->loss, n, list), GP_OK);
    cr_expect_eq(l.g.order, 2);
    cr_expect_eq(l.g.nparam, n);
    free(list);
    loaded_free(&l);
}

Test(autgroup, contract_breaches_are_internal_errors)
{
    loaded l = load_text("input x\ntarget y\nparam w u\nloss C = mean((w*x + u*x - y)^2)\n");
    expect_order(&l, 2, "w*x + u*x"); /* (w u): the sum is symmetric */
    autgroup_free(&l.g);
    /* an input leaf listed as a param */
    uint32_t bad[1] = {l.cs->inputs[0]};
    cr_expect_eq(autgroup_find(&l.g, l.c, 1, &l.cs->loss, 1, bad), GP_EINTERNAL);
    cr_expect_eq(l.g.ngen, 0);
    cr_expect_null(l.g.gen);
    /* a leaf index out of range */
    uint32_t oob[1] = {(uint32_t)l.c->nleaf};
    cr_expect_eq(autgroup_find(&l.g, l.c, 1, &l.cs->loss, 1, oob), GP_EINTERNAL);
    /* the same param twice */
    uint32_t twice[2] = {l.cs->params[0], l.cs->params[0]};
    cr_expect_eq(autgroup_find(&l.g, l.c, 1, &l.cs->loss, 2, twice), GP_EINTERNAL);
    /* a root out of range */
    gp_id r = (gp_id)l.c->nnode;
    cr_expect_eq(autgroup_find(&l.g, l.c, 1, &r, l.cs->nparams, l.cs->params), GP_EINTERNAL);
    /* no roots: the trivial group */
    cr_expect_eq(autgroup_find(&l.g, l.c, 0, NULL, l.cs->nparams, l.cs->params), GP_OK);
    cr_expect_eq(l.g.order, 1);
    cr_expect(l.g.order_exact);
    gp_id nil = GP_NIL;
    cr_expect_eq(autgroup_find(&l.g, l.c, 1, &nil, l.cs->nparams, l.cs->params), GP_OK);
    cr_expect_eq(l.g.order, 1);
    autgroup_free(&l.g);
    autgroup_free(&l.g); /* twice is fine */
    autgroup_free(NULL);
    loaded_free(&l);
}

Test(autgroup, two_weights_on_one_shared_unit_swap_and_the_units_do_not)
{
    /* z = a*h1 + b*h1 + c*h2 with h1, h2 shared (used again in the loss):
       a and b are interchangeable (order 2), h1 and h2 are not (h1 is
       weighted twice).  The products are chains of the core; z's two
       chains to h1 must not collapse into one edge, which would make h1
       and h2 look alike. */
    loaded l = load_text("input x\n"
                         "target y\n"
                         "param p0 p1 a b c\n"
                         "h1 = tanh(p0*x)\n"
                         "h2 = tanh(p1*x)\n"
                         "z = a*h1 + b*h1 + c*h2\n"
                         "loss C = mean((z + h1 + h2 - y)^2)\n");
    expect_order(&l, 2, "a*h1 + b*h1 + c*h2");
    static const char *const a[] = {"a"}, *const b[] = {"b"};
    cr_expect(has_swap(&l, a, b, 1));
    expect_generators_are_symmetries(&l, 15, "a*h1 + b*h1 + c*h2");
    loaded_free(&l);
}

Test(autgroup, chains_of_different_kinds_are_not_merged)
{
    /* z = a*h1 + 2*b*h2: the products differ (a factor 2), so h1 and h2
       are not interchangeable; with b*h2 instead they are */
    loaded l = load_text("input x\n"
                         "target y\n"
                         "param p0 p1 a b\n"
                         "h1 = tanh(p0*x)\n"
                         "h2 = tanh(p1*x)\n"
                         "z = a*h1 + 2*b*h2\n"
                         "loss C = mean((z + h1 + h2 - y)^2)\n");
    expect_order(&l, 1, "a*h1 + 2*b*h2");
    loaded_free(&l);
    /* a*h1 + tanh(h2): both terms are chains (one child shared each) of
       different kinds; merged, h1 and h2 would look alike */
    l = load_text("input x\n"
                  "target y\n"
                  "param p0 p1 a\n"
                  "h1 = tanh(p0*x)\n"
                  "h2 = tanh(p1*x)\n"
                  "z = a*h1 + tanh(h2)\n"
                  "loss C = mean((z + h1 + h2 - y)^2)\n");
    expect_order(&l, 1, "a*h1 + tanh(h2)");
    loaded_free(&l);
    /* z1 = a*h1 + b*h2 and z2 = tanh(h3) + tanh(h4): two sums of two
       chains each, of different kinds, so z1 and z2 do not swap; inside
       each, the two terms do: (p1 p2)(a b) and (p3 p4), order 4 */
    l = load_text("input x\n"
                  "target y\n"
                  "param p[1..4] a b\n"
                  "h[k] = tanh(p[k]*x) for k in 1..4\n"
                  "z1 = a*h[1] + b*h[2]\n"
                  "z2 = tanh(h[3]) + tanh(h[4])\n"
                  "loss C = mean((z1 + z2 + h[1] + h[2] + h[3] + h[4] - y)^2)\n");
    expect_order(&l, 4, "a*h1 + b*h2 vs tanh(h3) + tanh(h4)");
    expect_generators_are_symmetries(&l, 17, "a*h1 + b*h2 vs tanh(h3) + tanh(h4)");
    loaded_free(&l);
    l = load_text("input x\n"
                  "target y\n"
                  "param p0 p1 a b\n"
                  "h1 = tanh(p0*x)\n"
                  "h2 = tanh(p1*x)\n"
                  "z = a*h1 + b*h2\n"
                  "loss C = mean((z + h1 + h2 - y)^2)\n");
    expect_order(&l, 2, "a*h1 + b*h2");
    static const char *const a[] = {"p0", "a"}, *const b[] = {"p1", "b"};
    cr_expect(has_swap(&l, a, b, 2));
    expect_generators_are_symmetries(&l, 16, "a*h1 + b*h2");
    loaded_free(&l);
}

/* ---- 3. DAGs by hand ---- */

typedef struct hand {
    gp_ctx *c;
    uint32_t pl[4]; /* leaf indices of params p0..p3 */
    gp_id p[4];     /* their nodes */
    gp_id x;        /* an input */
} hand;

static hand hand_new(void)
{
    hand h;
    h.c = gp_ctx_new();
    cr_assert_not_null(h.c);
    static const char *const names[] = {"p0", "p1", "p2", "p3"};
    for (int i = 0; i < 4; i++) {
        gp_name nm = {.base = names[i], .nidx = 0};
        long li = dag_leaf(h.c, GP_LEAF_PARAM, &nm, GP_NIL);
        cr_assert_geq(li, 0);
        h.pl[i] = (uint32_t)li;
        h.p[i] = h.c->leaf[li].node;
    }
    gp_name nx = {.base = "x", .nidx = 0};
    long lx = dag_leaf(h.c, GP_LEAF_INPUT, &nx, GP_NIL);
    cr_assert_geq(lx, 0);
    h.x = h.c->leaf[lx].node;
    return h;
}

static gp_id node2(gp_ctx *c, gp_op op, gp_id a, gp_id b)
{
    gp_id k[2] = {a, b};
    gp_id id = dag_intern(c, op, 0, 2, k);
    cr_assert_neq(id, GP_NIL);
    return id;
}

static double order_of(hand *h, gp_id root, size_t np, autgroup *g)
{
    cr_assert_eq(autgroup_find(g, h->c, 1, &root, np, h->pl), GP_OK);
    return g->order;
}

Test(autgroup, a_repeated_child_counts_its_multiplicity)
{
    /* p0 + p0 + p1 (as given, not collected): swapping p0 and p1 gives
       p1 + p1 + p0, another function.  As a simple graph the sum's
       neighbours are {p0, p1} either way: without the multiplicity vertex
       the swap would be a (false) automorphism. */
    hand h = hand_new();
    gp_id k3[3] = {h.p[0], h.p[0], h.p[1]};
    gp_id s = dag_intern(h.c, GP_OP_ADD, 0, 3, k3);
    cr_assert_neq(s, GP_NIL);
    gp_id root = node2(h.c, GP_OP_MUL, s, h.x);
    autgroup g;
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    cr_expect_eq(g.ngen, 0);
    autgroup_free(&g);
    /* the same with p1 used twice too, so that both params are in the
       graph given to nauty (not a private subtree):
       (p0 + p0 + p1) * (p0 + p1) * x */
    gp_id t = node2(h.c, GP_OP_ADD, h.p[0], h.p[1]);
    gp_id k3r[3] = {s, t, h.x};
    root = dag_intern(h.c, GP_OP_MUL, 0, 3, k3r);
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    autgroup_free(&g);
    /* p0 + p0 + p1 + p1: now the swap is real */
    gp_id k4[4] = {h.p[0], h.p[0], h.p[1], h.p[1]};
    s = dag_intern(h.c, GP_OP_ADD, 0, 4, k4);
    root = node2(h.c, GP_OP_MUL, s, h.x);
    cr_expect_eq(order_of(&h, root, 2, &g), 2);
    cr_assert_eq(g.ngen, 1);
    cr_expect(g.gen[0] == 1 && g.gen[1] == 0);
    autgroup_free(&g);
    /* p0*p0*p1 against p1*p1*p0 inside one sum: (p0 p1) maps each product
       to the other, a real symmetry */
    gp_id ka[3] = {h.p[0], h.p[0], h.p[1]}, kb[3] = {h.p[0], h.p[1], h.p[1]};
    gp_id ma = dag_intern(h.c, GP_OP_MUL, 0, 3, ka), mb = dag_intern(h.c, GP_OP_MUL, 0, 3, kb);
    root = node2(h.c, GP_OP_ADD, ma, mb);
    cr_expect_eq(order_of(&h, root, 2, &g), 2);
    autgroup_free(&g);
    /* p0*p0*p1 + p1*p1*p0 + p0*p0*p0: the cube pins p0 */
    gp_id kc[3] = {h.p[0], h.p[0], h.p[0]};
    gp_id mc = dag_intern(h.c, GP_OP_MUL, 0, 3, kc);
    gp_id k3s[3] = {ma, mb, mc};
    root = dag_intern(h.c, GP_OP_ADD, 0, 3, k3s);
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    autgroup_free(&g);
    gp_ctx_free(h.c);
    EXPECT_NO_LEAKS();
}

Test(autgroup, the_order_of_a_powers_children_counts)
{
    /* p0 * 2^3 + p1 * 3^2, the powers left unfolded: 2^3 and 3^2 have the
       same children {2, 3}, so without the position vertex they would swap
       along with p0 and p1 */
    hand h = hand_new();
    gp_id two = dag_num_si(h.c, 2, 1), three = dag_num_si(h.c, 3, 1);
    gp_id pa = node2(h.c, GP_OP_POW, two, three), pb = node2(h.c, GP_OP_POW, three, two);
    gp_id root = node2(h.c, GP_OP_ADD, node2(h.c, GP_OP_MUL, h.p[0], pa), node2(h.c, GP_OP_MUL, h.p[1], pb));
    autgroup g;
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    autgroup_free(&g);
    /* the same with the powers and the params used twice, so that they
       are in the graph given to nauty rather than private subtrees:
       p0 * 2^3 + p1 * 3^2 + p0 * p1 * 2^3 * 3^2 */
    gp_id k4[4] = {h.p[0], h.p[1], pa, pb};
    gp_id all = dag_intern(h.c, GP_OP_MUL, 0, 4, k4);
    gp_id k3[3] = {node2(h.c, GP_OP_MUL, h.p[0], pa), node2(h.c, GP_OP_MUL, h.p[1], pb), all};
    root = dag_intern(h.c, GP_OP_ADD, 0, 3, k3);
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    autgroup_free(&g);
    /* control: with 2^3 on both sides they swap */
    gp_id k4b[4] = {h.p[0], h.p[1], pa, pb};
    all = dag_intern(h.c, GP_OP_MUL, 0, 4, k4b);
    gp_id k3b[3] = {node2(h.c, GP_OP_MUL, h.p[0], pa), node2(h.c, GP_OP_MUL, h.p[1], pa), all};
    root = dag_intern(h.c, GP_OP_ADD, 0, 3, k3b);
    cr_expect_eq(order_of(&h, root, 2, &g), 2);
    autgroup_free(&g);
    /* p0^p1 + p1^p0 (a power with a non-number exponent, outside the
       contract of POW but handled): (p0 p1) is a real symmetry, and
       p0^p1 + p1^p1 has none */
    root = node2(h.c, GP_OP_ADD, node2(h.c, GP_OP_POW, h.p[0], h.p[1]), node2(h.c, GP_OP_POW, h.p[1], h.p[0]));
    cr_expect_eq(order_of(&h, root, 2, &g), 2);
    autgroup_free(&g);
    root = node2(h.c, GP_OP_ADD, node2(h.c, GP_OP_POW, h.p[0], h.p[1]), node2(h.c, GP_OP_POW, h.p[1], h.p[1]));
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    autgroup_free(&g);
    /* p0^2 * p1^3: the exponents pin the params */
    root = node2(h.c, GP_OP_MUL, node2(h.c, GP_OP_POW, h.p[0], two), node2(h.c, GP_OP_POW, h.p[1], three));
    cr_expect_eq(order_of(&h, root, 2, &g), 1);
    autgroup_free(&g);
    /* p0^2 * p1^2: they swap */
    root = node2(h.c, GP_OP_MUL, node2(h.c, GP_OP_POW, h.p[0], two), node2(h.c, GP_OP_POW, h.p[1], two));
    cr_expect_eq(order_of(&h, root, 2, &g), 2);
    autgroup_free(&g);
    gp_ctx_free(h.c);
    EXPECT_NO_LEAKS();
}

Test(autgroup, twin_nodes_do_not_inflate_the_order)
{
    /* s = p0 + p1 interned twice, with its children in both orders (two
       node ids for one value), and r = s * s' * x.  Swapping the twins moves
       no param; counted, it would double the order to 4.  The group on the
       params is {1, (p0 p1)}: order 2. */
    hand h = hand_new();
    gp_id s1 = node2(h.c, GP_OP_ADD, h.p[0], h.p[1]);
    gp_id s2 = node2(h.c, GP_OP_ADD, h.p[1], h.p[0]);
    cr_assert_neq(s1, s2, "dag_intern sorted the children: the test needs twins");
    gp_id k3[3] = {s1, s2, h.x};
    gp_id root = dag_intern(h.c, GP_OP_MUL, 0, 3, k3);
    autgroup g;
    cr_expect_eq(order_of(&h, root, 2, &g), 2);
    cr_expect(g.order_exact);
    cr_assert_eq(g.ngen, 1);
    cr_expect(g.gen[0] == 1 && g.gen[1] == 0);
    autgroup_free(&g);
    gp_ctx_free(h.c);
    EXPECT_NO_LEAKS();
}

Test(autgroup, functions_means_and_sums_keep_their_kind)
{
    /* tanh(p0 x) + sigmoid(p1 x): no symmetry; tanh(p0 x) + tanh(p1 x): 2;
       mean(p0 x) + sum(p1 x): none */
    hand h = hand_new();
    gp_id a0 = node2(h.c, GP_OP_MUL, h.p[0], h.x), a1 = node2(h.c, GP_OP_MUL, h.p[1], h.x);
    gp_id t0 = dag_intern(h.c, GP_OP_FN, GP_FN_TANH, 1, &a0), t1 = dag_intern(h.c, GP_OP_FN, GP_FN_TANH, 1, &a1);
    gp_id s1 = dag_intern(h.c, GP_OP_FN, GP_FN_SIGMOID, 1, &a1);
    autgroup g;
    cr_expect_eq(order_of(&h, node2(h.c, GP_OP_ADD, t0, s1), 2, &g), 1);
    autgroup_free(&g);
    cr_expect_eq(order_of(&h, node2(h.c, GP_OP_ADD, t0, t1), 2, &g), 2);
    autgroup_free(&g);
    gp_id m0 = dag_intern(h.c, GP_OP_MEAN, 0, 1, &a0), m1 = dag_intern(h.c, GP_OP_SUMS, 0, 1, &a1);
    cr_expect_eq(order_of(&h, node2(h.c, GP_OP_ADD, m0, m1), 2, &g), 1);
    autgroup_free(&g);
    gp_id n1 = dag_intern(h.c, GP_OP_MEAN, 0, 1, &a1);
    cr_expect_eq(order_of(&h, node2(h.c, GP_OP_ADD, m0, n1), 2, &g), 2);
    autgroup_free(&g);
    /* four params in one symmetric sum: S4, 24 */
    gp_id k4[4] = {h.p[0], h.p[1], h.p[2], h.p[3]};
    gp_id s4 = dag_intern(h.c, GP_OP_ADD, 0, 4, k4);
    cr_expect_eq(order_of(&h, node2(h.c, GP_OP_MUL, s4, h.x), 4, &g), 24);
    cr_expect(g.order_exact);
    autgroup_free(&g);
    gp_ctx_free(h.c);
    EXPECT_NO_LEAKS();
}

/* ---- 4. the property test: random layered networks ---- */

static const char *const actname[] = {"tanh", "sigmoid", ""};

/* Append printf output to a growing string. */
static void app(char **s, size_t *n, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void app(char **s, size_t *n, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(*s + *n, *cap - *n, fmt, ap);
        va_end(ap);
        if ((size_t)k < *cap - *n) {
            *n += (size_t)k;
            return;
        }
        *cap = 2 * *cap + (size_t)k;
        *s = realloc(*s, *cap);
        cr_assert_not_null(*s);
    }
}

typedef struct net {
    int nin, nhid, width[3], act[3], bias;
    char *text;
} net;

/*
 * A random layered net.  Every unit is a named element (h1[k], ...), an
 * atom of the DAG, so even an identity unit with one input and no bias,
 * h = w*x, stays a node of its own and is not merged into the next layer's
 * products (see bare_products_commute_only_when_merged).
 */
static void net_random(net *nt, uint64_t *s)
{
    nt->nin = 1 + (int)(rng_next(s) % 4);
    nt->nhid = 1 + (int)(rng_next(s) % 3);
    nt->bias = (int)(rng_next(s) % 2);
    size_t n = 0, cap = 256;
    char *t = malloc(cap);
    t[0] = '\0';
    app(&t, &n, &cap, "input x[1..%d]\ntarget y\n", nt->nin);
    int prev = nt->nin;
    for (int l = 0; l < nt->nhid; l++) {
        nt->width[l] = 1 + (int)(rng_next(s) % 4);
        nt->act[l] = (int)(rng_next(s) % 3);
        int bias = nt->bias;
        app(&t, &n, &cap, "param W%d[1..%d][1..%d]\n", l + 1, nt->width[l], prev);
        if (bias)
            app(&t, &n, &cap, "param b%d[1..%d]\n", l + 1, nt->width[l]);
        char in[16];
        if (l == 0)
            snprintf(in, sizeof in, "x");
        else
            snprintf(in, sizeof in, "h%d", l);
        app(&t, &n, &cap, "h%d[k] = %s(sum(j = 1..%d, W%d[k][j]*%s[j])%s", l + 1, actname[nt->act[l]], prev, l + 1,
            in, bias ? " + b" : "");
        if (bias)
            app(&t, &n, &cap, "%d[k]", l + 1);
        app(&t, &n, &cap, ") for k in 1..%d\n", nt->width[l]);
        prev = nt->width[l];
    }
    app(&t, &n, &cap, "param v[1..%d]\n", prev);
    if (nt->bias)
        app(&t, &n, &cap, "param c\n");
    app(&t, &n, &cap, "yhat = sum(k = 1..%d, v[k]*h%d[k])%s\n", prev, nt->nhid, nt->bias ? " + c" : "");
    app(&t, &n, &cap, "loss C = mean((yhat - y)^2)/2\n");
    nt->text = t;
}

static double fact(int k) { return k <= 1 ? 1 : k * fact(k - 1); }

Test(autgroup, random_layered_nets_have_the_product_of_factorials, .timeout = 300)
{
    uint64_t s = 20240601;
    for (int it = 0; it < 400; it++) {
        net nt;
        net_random(&nt, &s);
        double want = 1;
        for (int l = 0; l < nt.nhid; l++)
            want *= fact(nt.width[l]);
        loaded l = load_text(nt.text);
        char what[64];
        snprintf(what, sizeof what, "net %d", it);
        if (l.g.order != want)
            cr_log_error("net %d:\n%s", it, nt.text);
        expect_order(&l, want, what);
        expect_permutations(&l);
        expect_generators_are_symmetries(&l, (uint64_t)it + 100, what);
        /* the evaluation can tell: the first two weights of unit 1 of
           layer 1 (different inputs) do not swap */
        if (nt.nin >= 2)
            expect_swap_changes_loss(&l, ordinal(&l, "W1[1][1]"), ordinal(&l, "W1[1][2]"), (uint64_t)it + 200);
        loaded_free(&l);
        free(nt.text);
    }
}

Test(autgroup, bare_products_commute_only_when_merged)
{
    /* v*(w*x) with w*x written inline is one product v*w*x (the simplifier
       flattens small unnamed products), where v and w commute: order 2, a
       real symmetry */
    loaded l = load_text("input x\ntarget y\nparam w v\nloss C = mean((v*(w*x) - y)^2)\n");
    expect_order(&l, 2, "v*w*x");
    expect_generators_are_symmetries(&l, 300, "v*w*x");
    loaded_free(&l);
    /* with h = w*x named, h is an atom, and v*h shows no symmetry between v
       and w although the function has it: the group found is a subgroup of
       the true one, never larger */
    l = load_text("input x\ntarget y\nparam w v\nh = w*x\nloss C = mean((v*h - y)^2)\n");
    expect_order(&l, 1, "v*h, h = w*x");
    loaded_free(&l);
}

/* ---- 5. against brute force ---- */

typedef struct tctx {
    gp_ctx *c;
    gp_id slot[2];
    const gp_id *shared;
    int nshared;
    gp_id in[2];
    int bump;   /* perturb the constants of this copy */
} tctx;

/* A random template expression; the same seed gives the same shape. */
static gp_id tmpl(const tctx *t, uint64_t *s, int depth)
{
    unsigned r = (unsigned)(rng_next(s) % (depth <= 0 ? 4u : 10u));
    switch (r) {
    case 0:
    case 1:
        return t->slot[r];
    case 2:
        return t->shared[rng_next(s) % (uint64_t)t->nshared];
    case 3:
        return t->in[rng_next(s) % 2];
    case 4: {
        gp_id k[3];
        size_t n = 2 + rng_next(s) % 2;
        for (size_t i = 0; i < n; i++)
            k[i] = tmpl(t, s, depth - 1);
        return gp_add(t->c, n, k);
    }
    case 5: {
        gp_id a = tmpl(t, s, depth - 1);
        return gp_mul2(t->c, a, tmpl(t, s, depth - 1));
    }
    case 6:
        return gp_call(t->c, GP_FN_TANH, tmpl(t, s, depth - 1));
    case 7:
        return gp_call(t->c, GP_FN_SIGMOID, tmpl(t, s, depth - 1));
    case 8:
        return gp_pow_si(t->c, tmpl(t, s, depth - 1), 2 + (long)(rng_next(s) % 2), 1);
    default:
        return gp_mul2(t->c, dag_num_si(t->c, 2 + t->bump, 1), tmpl(t, s, depth - 1));
    }
}

static int before(const gp_ctx *c, gp_id a, gp_id b)
{
    int na = c->node[a].op == GP_OP_NUM, nb = c->node[b].op == GP_OP_NUM;
    return na != nb ? na : a < b;
}

/* Substitute param i -> param perm[i] in the cone of root and re-intern;
   returns the new root. */
static gp_id substitute(gp_ctx *c, gp_id root, size_t np, const gp_id *pnode, const uint32_t *perm)
{
    size_t n = (size_t)root + 1;
    gp_id *map = malloc(n * sizeof *map);
    unsigned char *mark = calloc(n, 1);
    dag_reach(c, 1, &root, mark);
    for (size_t id = 0; id < n; id++) {
        if (!mark[id])
            continue;
        const gp_node *nd = &c->node[id];
        map[id] = (gp_id)id;
        if (nd->op == GP_OP_LEAF) {
            for (size_t i = 0; i < np; i++)
                if (pnode[i] == id)
                    map[id] = pnode[perm[i]];
            continue;
        }
        if (nd->op == GP_OP_NUM)
            continue;
        gp_id k[64];
        cr_assert_leq(nd->nkid, 64);
        uint32_t nk = nd->nkid;
        for (uint32_t j = 0; j < nk; j++)
            k[j] = map[nd->kid[j]];
        /* the canonical order of the smart constructors: by id, but a
           product's number first */
        if (nd->op == GP_OP_ADD || nd->op == GP_OP_MUL)
            for (uint32_t a = 1; a < nk; a++)
                for (uint32_t b = a; b > 0 && before(c, k[b], k[b - 1]); b--) {
                    gp_id x = k[b];
                    k[b] = k[b - 1];
                    k[b - 1] = x;
                }
        map[id] = dag_intern(c, (gp_op)nd->op, (gp_fn)nd->fn, nk, k);
        /* dag_intern may grow the node array: nd is not used after this */
    }
    gp_id r = map[root];
    free(map);
    free(mark);
    return r;
}

static int next_perm(uint32_t *a, size_t n)
{
    if (n < 2)
        return 0;
    size_t i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0)
        return 0;
    size_t j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    uint32_t x = a[i - 1];
    a[i - 1] = a[j];
    a[j] = x;
    for (size_t l = i, r = n - 1; l < r; l++, r--) {
        x = a[l];
        a[l] = a[r];
        a[r] = x;
    }
    return 1;
}

Test(autgroup, random_templates_agree_with_brute_force, .timeout = 600)
{
    uint64_t s = 77;
    size_t nontrivial = 0;
    for (int it = 0; it < 300; it++) {
        gp_ctx *c = gp_ctx_new();
        cr_assert_not_null(c);
        size_t ncopy = 2 + rng_next(&s) % 2, np = 2 * ncopy + rng_next(&s) % 2;
        uint32_t pl[8];
        gp_id pn[8];
        static const char *const names[] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};
        for (size_t i = 0; i < np; i++) {
            gp_name nm = {.base = names[i], .nidx = 0};
            long li = dag_leaf(c, GP_LEAF_PARAM, &nm, GP_NIL);
            cr_assert_geq(li, 0);
            pl[i] = (uint32_t)li;
            pn[i] = c->leaf[li].node;
        }
        gp_id in[2];
        static const char *const inames[] = {"x0", "x1"};
        for (int i = 0; i < 2; i++) {
            gp_name nm = {.base = inames[i], .nidx = 0};
            long li = dag_leaf(c, GP_LEAF_INPUT, &nm, GP_NIL);
            in[i] = c->leaf[li].node;
        }
        /* shared subexpressions: one with the odd param, if any */
        gp_id shared[2];
        shared[0] = gp_call(c, GP_FN_SIGMOID, gp_add2(c, in[0], in[1]));
        shared[1] = np % 2 ? gp_call(c, GP_FN_TANH, gp_mul2(c, pn[np - 1], in[0])) : gp_call(c, GP_FN_TANH, in[1]);
        uint64_t seed = rng_next(&s);
        int depth = 1 + (int)(rng_next(&s) % 3);
        gp_id copy[3];
        for (size_t k = 0; k < ncopy; k++) {
            tctx t = {c, {pn[2 * k], pn[2 * k + 1]}, shared, 2, {in[0], in[1]}, 0};
            t.bump = k == ncopy - 1 && rng_next(&s) % 4 == 0;
            uint64_t ts = seed;
            copy[k] = tmpl(&t, &ts, depth);
        }
        gp_id root;
        switch (rng_next(&s) % 4) {
        case 0:
            root = gp_add(c, ncopy, copy);
            break;
        case 1:
            root = gp_mul(c, ncopy, copy);
            break;
        case 2: {
            gp_id tk[3];
            for (size_t k = 0; k < ncopy; k++)
                tk[k] = gp_call(c, GP_FN_TANH, copy[k]);
            root = gp_add(c, ncopy, tk);
            break;
        }
        default:
            root = gp_add2(c, gp_add(c, ncopy, copy), gp_mul2(c, pn[0], pn[2]));
        }
        cr_assert_neq(root, GP_NIL);

        autgroup g;
        gp_status st = autgroup_find(&g, c, 1, &root, np, pl);
        cr_assert_eq(st, GP_OK, "template %d: autgroup_find returned %d", it, (int)st);
        /* brute force */
        uint32_t perm[8];
        for (size_t i = 0; i < np; i++)
            perm[i] = (uint32_t)i;
        /* params outside the cone are fixed by definition */
        unsigned char *mk = calloc((size_t)root + 1, 1);
        dag_reach(c, 1, &root, mk);
        size_t count = 0;
        do {
            int moves_unused = 0;
            for (size_t i = 0; i < np; i++)
                moves_unused |= perm[i] != i && !mk[pn[i]];
            if (!moves_unused)
                count += substitute(c, root, np, pn, perm) == root;
        } while (next_perm(perm, np));
        free(mk);
        cr_expect(g.order_exact);
        cr_expect_eq(g.order, (double)count, "template %d (depth %d, %zu copies, %zu params): order %g, brute force %zu",
                     it, depth, ncopy, np, g.order, count);
        for (size_t k = 0; k < g.ngen; k++)
            cr_expect_eq(substitute(c, root, np, pn, g.gen + k * np), root, "template %d: generator %zu is no automorphism",
                         it, k);
        nontrivial += count > 1;
        autgroup_free(&g);
        gp_ctx_free(c);
    }
    /* the templates must exercise the search: most have symmetries */
    cr_expect_gt(nontrivial, 150, "only %zu of 300 templates have a symmetry", nontrivial);
    cr_log_info("brute force: %zu of 300 templates with a symmetry", nontrivial);
    EXPECT_NO_LEAKS();
}

/* ---- large graphs ---- */

Test(autgroup, a_wide_net_has_an_inexact_order_and_a_finite_log, .timeout = 300)
{
    /* 8-200-1 tanh: 200! ~ 7.9e374 overflows a double; log10 is 374.9 */
    const char *text = "input x[1..8]\n"
                       "target y\n"
                       "param W[1..200][1..8] b[1..200] v[1..200] c\n"
                       "h[k] = tanh(sum(j = 1..8, W[k][j]*x[j]) + b[k]) for k in 1..200\n"
                       "loss C = mean((sum(k = 1..200, v[k]*h[k]) + c - y)^2)\n";
    loaded l;
    memset(&l, 0, sizeof l);
    l.c = gp_ctx_new();
    cr_assert_eq(gp_case_load(l.c, "wide.case", text, strlen(text), &l.cs), GP_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    find(&l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_log_info("8-200-1: %zu vertices, %zu edges, %zu generators, %.3f s", l.g.nvert, l.g.nedge, l.g.ngen,
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    cr_expect(!l.g.order_exact);
    double lg = 0;
    for (int k = 2; k <= 200; k++)
        lg += log10((double)k);
    cr_expect(fabs(l.g.log10_order - lg) < 1e-6, "log10 order %.9g, expected %.9g", l.g.log10_order, lg);
    /* the units are private subtrees under one sum: S200 comes as a swap
       and a 200-cycle, without a search */
    cr_expect_eq(l.g.ngen, 2, "S200 as a swap and a cycle, got %zu generators", l.g.ngen);
    expect_permutations(&l);
    expect_generators_are_symmetries(&l, 400, "8-200-1");
    loaded_free(&l);
}

Test(autgroup, exact_up_to_two_to_the_53)
{
    /* 18! = 6.4e15 < 2^53 = 9.0e15 is exact; 19! = 1.2e17 is not */
    for (int k = 18; k <= 19; k++) {
        char text[512];
        snprintf(text, sizeof text,
                 "input x\ntarget y\nparam W[1..%d] v[1..%d]\n"
                 "h[i] = tanh(W[i]*x) for i in 1..%d\n"
                 "loss C = mean((sum(i = 1..%d, v[i]*h[i]) - y)^2)\n",
                 k, k, k, k);
        loaded l = load_text(text);
        if (k == 18) {
            cr_expect(l.g.order_exact);
            cr_expect_eq(l.g.order, 6402373705728000.0);
        } else {
            cr_expect(!l.g.order_exact);
            cr_expect(fabs(l.g.order / 121645100408832000.0 - 1) < 1e-12, "19!: %.17g", l.g.order);
        }
        loaded_free(&l);
    }
}

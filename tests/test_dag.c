/*
 * test_dag.c -- the hash-consed DAG: interning, dense topological ids,
 * canonical exact constants, per-node facts (level, flags, depth), labels,
 * reachability, and the node limit.
 *
 * Nodes are made with dag_intern() as given (no simplification), so these
 * tests see exactly what dag.c does.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "dag.h"

typedef struct world {
    gp_ctx *c;
    gp_id w, v;   /* params */
    gp_id x, y;   /* input, target */
    gp_id k;      /* constant 3/10 */
} world;

static gp_id leaf(gp_ctx *c, gp_leaf_kind kind, const char *name, gp_id value)
{
    gp_name nm;
    memset(&nm, 0, sizeof nm);
    nm.base = name;
    long li = dag_leaf(c, kind, &nm, value);
    cr_assert_geq(li, 0, "dag_leaf(%s) failed", name);
    return c->leaf[li].node;
}

static void world_init(world *W)
{
    W->c = gp_ctx_new();
    cr_assert_not_null(W->c);
    W->w = leaf(W->c, GP_LEAF_PARAM, "w", GP_NIL);
    W->v = leaf(W->c, GP_LEAF_PARAM, "v", GP_NIL);
    W->x = leaf(W->c, GP_LEAF_INPUT, "x", GP_NIL);
    W->y = leaf(W->c, GP_LEAF_TARGET, "y", GP_NIL);
    W->k = leaf(W->c, GP_LEAF_CONST, "k", dag_num_si(W->c, 3, 10));
}

static gp_id op2(gp_ctx *c, gp_op op, gp_id a, gp_id b)
{
    gp_id k[2] = {a, b};
    return dag_intern(c, op, 0, 2, k);
}

static gp_id op1(gp_ctx *c, gp_op op, gp_fn fn, gp_id a) { return dag_intern(c, op, fn, 1, &a); }

/* ---- interning ---- */

Test(dag, equal_nodes_intern_to_one_id)
{
    world W;
    world_init(&W);
    gp_id a = op2(W.c, GP_OP_ADD, W.w, W.x);
    size_t n = W.c->nnode;
    gp_id b = op2(W.c, GP_OP_ADD, W.w, W.x);
    cr_expect_eq(a, b);
    cr_expect_eq(W.c->nnode, n, "re-interning must not add a node");
    gp_id e1 = op1(W.c, GP_OP_FN, GP_FN_EXP, a), e2 = op1(W.c, GP_OP_FN, GP_FN_EXP, a);
    cr_expect_eq(e1, e2);
    gp_id m1 = op1(W.c, GP_OP_MEAN, 0, W.x), m2 = op1(W.c, GP_OP_MEAN, 0, W.x);
    cr_expect_eq(m1, m2);
    gp_ctx_free(W.c);
}

Test(dag, nodes_differing_in_op_fn_or_children_are_distinct)
{
    world W;
    world_init(&W);
    gp_id add = op2(W.c, GP_OP_ADD, W.w, W.x);
    gp_id mul = op2(W.c, GP_OP_MUL, W.w, W.x);
    gp_id rev = op2(W.c, GP_OP_ADD, W.x, W.w); /* dag_intern takes the order as given */
    gp_id add3;
    {
        gp_id k[3] = {W.w, W.x, W.y};
        add3 = dag_intern(W.c, GP_OP_ADD, 0, 3, k);
    }
    gp_id ex = op1(W.c, GP_OP_FN, GP_FN_EXP, W.w), lg = op1(W.c, GP_OP_FN, GP_FN_LOG, W.w);
    gp_id mean = op1(W.c, GP_OP_MEAN, 0, W.x), sums = op1(W.c, GP_OP_SUMS, 0, W.x);
    gp_id ids[] = {add, mul, rev, add3, ex, lg, mean, sums, W.w, W.v, W.x, W.y, W.k};
    size_t n = sizeof ids / sizeof ids[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            cr_expect_neq(ids[i], ids[j], "nodes %zu and %zu share id %u", j, i, ids[i]);
    gp_ctx_free(W.c);
}

Test(dag, two_leaves_with_the_same_name_are_different_nodes)
{
    world W;
    world_init(&W);
    gp_id w2 = leaf(W.c, GP_LEAF_PARAM, "w", GP_NIL);
    cr_expect_neq(w2, W.w, "a leaf is identified by its leaf index, not its name");
    gp_ctx_free(W.c);
}

Test(dag, children_have_smaller_ids_and_ids_are_dense)
{
    world W;
    world_init(&W);
    gp_id prev = W.k;
    gp_id t = op2(W.c, GP_OP_MUL, W.w, W.x);
    for (int i = 0; i < 200; i++) {
        gp_id e = op1(W.c, GP_OP_FN, (gp_fn)(i % GP_FN_COUNT), t);
        t = op2(W.c, i % 2 ? GP_OP_ADD : GP_OP_MUL, e, i % 3 ? W.v : W.y);
        cr_expect_gt(t, prev, "a new node gets a larger id");
        prev = t;
    }
    for (gp_id id = 0; id < W.c->nnode; id++) {
        const gp_node *n = dag_node(W.c, id);
        for (uint32_t k = 0; k < n->nkid; k++)
            cr_expect_lt(n->kid[k], id, "node %u has child %u", id, n->kid[k]);
    }
    cr_expect_eq((size_t)t + 1, W.c->nnode, "ids are 0..nnode-1");
    gp_ctx_free(W.c);
}

Test(dag, nil_child_gives_nil_without_adding_a_node)
{
    world W;
    world_init(&W);
    size_t n = W.c->nnode;
    cr_expect_eq(op2(W.c, GP_OP_ADD, W.w, GP_NIL), GP_NIL);
    cr_expect_eq(op1(W.c, GP_OP_FN, GP_FN_EXP, GP_NIL), GP_NIL);
    cr_expect_eq(W.c->nnode, n);
    cr_expect_eq(W.c->status, GP_OK, "a NIL child is propagated, not a failure of its own");
    gp_ctx_free(W.c);
}

Test(dag, many_nodes_survive_rehashing)
{
    /* 20000 distinct numbers and sums force several table growths; each must
       still be found again afterwards */
    world W;
    world_init(&W);
    enum { N = 20000 };
    gp_id *num = malloc(N * sizeof *num), *sum = malloc(N * sizeof *sum);
    cr_assert(num && sum);
    for (long i = 0; i < N; i++) {
        num[i] = dag_num_si(W.c, i - N / 2, 7);
        sum[i] = op2(W.c, GP_OP_ADD, num[i], W.x);
    }
    size_t n = W.c->nnode;
    for (long i = 0; i < N; i++) {
        cr_assert_eq(dag_num_si(W.c, i - N / 2, 7), num[i], "number %ld/7", i - N / 2);
        cr_assert_eq(op2(W.c, GP_OP_ADD, num[i], W.x), sum[i], "sum %ld", i);
    }
    cr_expect_eq(W.c->nnode, n);
    free(num);
    free(sum);
    gp_ctx_free(W.c);
}

/* ---- exact constants ---- */

Test(dag, numbers_are_canonical_rationals)
{
    gp_ctx *c = gp_ctx_new();
    gp_id half = dag_num_si(c, 1, 2);
    cr_expect_eq(dag_num_si(c, 2, 4), half);
    cr_expect_eq(dag_num_si(c, 50, 100), half);
    cr_expect_eq(dag_num_si(c, -2, 4), dag_num_si(c, -1, 2));
    cr_expect_neq(dag_num_si(c, -1, 2), half);
    cr_expect_eq(dag_num_si(c, 0, 5), dag_num_si(c, 0, 1));
    cr_expect_eq(dag_num_si(c, 6, 3), dag_num_si(c, 2, 1));
    mpq_t q;
    mpq_init(q);
    mpq_set_si(q, 3, 6);
    mpq_canonicalize(q);
    cr_expect_eq(dag_num(c, q), half, "dag_num of a canonical 1/2");
    mpq_clear(q);
    cr_expect_eq(mpq_cmp_si(dag_q(c, half), 1, 2), 0);
    cr_expect(dag_is_num(c, half));
    gp_ctx_free(c);
}

Test(dag, big_rationals_are_interned_by_value)
{
    gp_ctx *c = gp_ctx_new();
    mpq_t a, b;
    mpq_init(a);
    mpq_init(b);
    mpz_ui_pow_ui(mpq_numref(a), 2, 200);
    mpz_set_ui(mpq_denref(a), 3);
    mpq_canonicalize(a);
    mpz_ui_pow_ui(mpq_numref(b), 4, 100); /* the same value reached another way */
    mpz_set_ui(mpq_denref(b), 3);
    mpq_canonicalize(b);
    gp_id ia = dag_num(c, a);
    mpq_clear(a); /* the DAG keeps its own copy */
    cr_expect_eq(dag_num(c, b), ia);
    mpz_add_ui(mpq_numref(b), mpq_numref(b), 3); /* 2^200/3 + 1 */
    cr_expect_neq(dag_num(c, b), ia);
    mpq_clear(b);
    gp_ctx_free(c);
}

Test(dag, zero_and_one_are_recognised)
{
    world W;
    world_init(&W);
    cr_expect(dag_is_zero(W.c, dag_num_si(W.c, 0, 1)));
    cr_expect_not(dag_is_zero(W.c, dag_num_si(W.c, 1, 1000000)));
    cr_expect(dag_is_one(W.c, dag_num_si(W.c, 3, 3)));
    cr_expect_not(dag_is_one(W.c, dag_num_si(W.c, -1, 1)));
    cr_expect_not(dag_is_zero(W.c, W.x), "a leaf is not the number 0");
    cr_expect_not(dag_is_one(W.c, W.k), "a constant leaf is not a number node even with value 3/10");
    cr_expect_not(dag_is_num(W.c, W.k));
    gp_ctx_free(W.c);
}

/* ---- leaves ---- */

Test(dag, leaves_record_kind_name_value_and_order_within_kind)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    const gp_leaf *lw = &c->leaf[dag_node(c, W.w)->pay];
    const gp_leaf *lv = &c->leaf[dag_node(c, W.v)->pay];
    const gp_leaf *lx = &c->leaf[dag_node(c, W.x)->pay];
    const gp_leaf *lk = &c->leaf[dag_node(c, W.k)->pay];
    cr_expect_eq(lw->kind, GP_LEAF_PARAM);
    cr_expect_str_eq(lw->name.base, "w");
    cr_expect_eq(lw->ord, 0);
    cr_expect_eq(lv->ord, 1, "second param");
    cr_expect_eq(lx->ord, 0, "first input, counted apart from the params");
    cr_expect_eq(lw->node, W.w);
    cr_expect_eq(lw->value, GP_NIL);
    cr_expect_eq(lk->kind, GP_LEAF_CONST);
    cr_expect_eq(lk->value, dag_num_si(c, 3, 10));
    cr_expect_eq(dag_node(c, W.w)->op, GP_OP_LEAF);
    gp_ctx_free(W.c);
}

/* ---- levels, flags, depth ---- */

Test(dag, levels_follow_leaves_and_reductions)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(dag_node(c, W.w)->level, GP_LV_STATIC, "a param is static");
    cr_expect_eq(dag_node(c, W.k)->level, GP_LV_STATIC, "a constant is static");
    cr_expect_eq(dag_node(c, dag_num_si(c, 2, 1))->level, GP_LV_STATIC);
    cr_expect_eq(dag_node(c, W.x)->level, GP_LV_SAMPLE, "an input is per-sample");
    cr_expect_eq(dag_node(c, W.y)->level, GP_LV_SAMPLE, "a target is per-sample");
    gp_id wx = op2(c, GP_OP_MUL, W.w, W.x);
    cr_expect_eq(dag_node(c, wx)->level, GP_LV_SAMPLE, "w*x is per-sample");
    cr_expect_eq(dag_node(c, op2(c, GP_OP_MUL, W.w, W.v))->level, GP_LV_STATIC);
    gp_id m = op1(c, GP_OP_MEAN, 0, wx);
    gp_id s = op1(c, GP_OP_SUMS, 0, wx);
    cr_expect_eq(dag_node(c, m)->level, GP_LV_DATASET, "mean(...) is dataset-level");
    cr_expect_eq(dag_node(c, s)->level, GP_LV_DATASET, "sum(...) is dataset-level");
    cr_expect_eq(dag_node(c, op2(c, GP_OP_ADD, m, W.w))->level, GP_LV_DATASET, "mean(...) + w");
    cr_expect_eq(dag_node(c, op1(c, GP_OP_FN, GP_FN_EXP, m))->level, GP_LV_DATASET);
    gp_ctx_free(W.c);
}

Test(dag, flags_propagate_from_children)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(dag_node(c, W.w)->flags, GP_NF_PARAM);
    cr_expect_eq(dag_node(c, W.x)->flags, 0);
    cr_expect_eq(dag_node(c, W.k)->flags, 0, "a constant is not a param");
    gp_id ex = op1(c, GP_OP_FN, GP_FN_EXP, W.x);
    cr_expect_eq(dag_node(c, ex)->flags, GP_NF_NONRAT, "exp sets NONRAT only");
    gp_id rl = op1(c, GP_OP_FN, GP_FN_RELU, W.w);
    cr_expect_eq(dag_node(c, rl)->flags, GP_NF_NONRAT | GP_NF_KINK | GP_NF_PARAM, "relu(w)");
    static const gp_fn kinks[] = {GP_FN_RELU, GP_FN_ABS, GP_FN_STEP, GP_FN_SIGN};
    for (size_t i = 0; i < 4; i++)
        cr_expect(dag_node(c, op1(c, GP_OP_FN, kinks[i], W.x))->flags & GP_NF_KINK, "%s sets KINK",
                  dag_fn_name(kinks[i]));
    static const gp_fn smooth[] = {GP_FN_EXP, GP_FN_LOG, GP_FN_TANH, GP_FN_SIGMOID, GP_FN_SOFTPLUS, GP_FN_SIN, GP_FN_COS};
    for (size_t i = 0; i < 7; i++) {
        uint8_t f = dag_node(c, op1(c, GP_OP_FN, smooth[i], W.x))->flags;
        cr_expect_not(f & GP_NF_KINK, "%s must not set KINK", dag_fn_name(smooth[i]));
        cr_expect(f & GP_NF_NONRAT, "%s sets NONRAT", dag_fn_name(smooth[i]));
    }
    /* a parent inherits the facts of every child */
    gp_id p = op2(c, GP_OP_ADD, ex, rl);
    cr_expect_eq(dag_node(c, p)->flags, GP_NF_NONRAT | GP_NF_KINK | GP_NF_PARAM);
    gp_id m = op1(c, GP_OP_MEAN, 0, op2(c, GP_OP_MUL, rl, W.x));
    cr_expect_eq(dag_node(c, m)->flags, GP_NF_NONRAT | GP_NF_KINK | GP_NF_PARAM, "through a reduction");
    gp_ctx_free(W.c);
}

Test(dag, power_is_nonrational_only_for_a_fractional_exponent)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id sq = op2(c, GP_OP_POW, W.x, dag_num_si(c, 2, 1));
    gp_id inv = op2(c, GP_OP_POW, W.x, dag_num_si(c, -1, 1));
    gp_id rt = op2(c, GP_OP_POW, W.x, dag_num_si(c, 1, 2));
    gp_id r32 = op2(c, GP_OP_POW, W.x, dag_num_si(c, -3, 2));
    cr_expect_not(dag_node(c, sq)->flags & GP_NF_NONRAT, "x^2");
    cr_expect_not(dag_node(c, inv)->flags & GP_NF_NONRAT, "x^-1 is rational");
    cr_expect(dag_node(c, rt)->flags & GP_NF_NONRAT, "x^(1/2)");
    cr_expect(dag_node(c, r32)->flags & GP_NF_NONRAT, "x^(-3/2)");
    cr_expect_not(dag_node(c, op2(c, GP_OP_MUL, W.w, W.x))->flags & GP_NF_NONRAT);
    gp_ctx_free(W.c);
}

Test(dag, depth_is_one_more_than_the_deepest_child)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    cr_expect_eq(dag_node(c, W.w)->depth, 1);
    cr_expect_eq(dag_node(c, dag_num_si(c, 5, 1))->depth, 1);
    gp_id a = op2(c, GP_OP_MUL, W.w, W.x);       /* 2 */
    gp_id b = op1(c, GP_OP_FN, GP_FN_EXP, a);    /* 3 */
    gp_id d = op2(c, GP_OP_ADD, W.v, b);         /* 4: the deeper child counts */
    cr_expect_eq(dag_node(c, a)->depth, 2);
    cr_expect_eq(dag_node(c, b)->depth, 3);
    cr_expect_eq(dag_node(c, d)->depth, 4);
    gp_ctx_free(W.c);
}

/* ---- labels ---- */

Test(dag, label_is_set_once_and_not_part_of_identity)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id a = op2(c, GP_OP_MUL, W.w, W.x);
    gp_name z = {"z", 1, {3}}, other = {"q", 0, {0}};
    cr_expect_eq(dag_node(c, a)->label, 0);
    cr_expect_eq(dag_set_label(c, a, &z), 1);
    uint32_t l = dag_node(c, a)->label;
    cr_expect_neq(l, 0);
    cr_expect_str_eq(c->label[l].name.base, "z");
    cr_expect_eq(c->label[l].name.nidx, 1);
    cr_expect_eq(c->label[l].name.idx[0], 3);
    cr_expect_eq(dag_set_label(c, a, &other), 0, "a second label is refused");
    cr_expect_eq(dag_node(c, a)->label, l);
    cr_expect_eq(op2(c, GP_OP_MUL, W.w, W.x), a, "the labelled node is still found by structure");
    cr_expect_eq(dag_set_label(c, W.w, &other), 0, "leaves take no label");
    cr_expect_eq(dag_set_label(c, dag_num_si(c, 2, 1), &other), 0, "numbers take no label");
    gp_ctx_free(W.c);
}

/* ---- reachability ---- */

Test(dag, reach_counts_each_shared_node_once)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    gp_id wx = op2(c, GP_OP_MUL, W.w, W.x);
    gp_id e = op1(c, GP_OP_FN, GP_FN_EXP, wx);
    gp_id f = op2(c, GP_OP_ADD, wx, e); /* wx is reached twice */
    gp_id g = op2(c, GP_OP_MUL, W.v, W.x);
    unsigned char *mark = calloc(c->nnode, 1);
    cr_expect_eq(dag_reach(c, 1, &f, mark), 5, "f, e, wx, w, x");
    cr_expect(mark[f] && mark[e] && mark[wx] && mark[W.w] && mark[W.x]);
    cr_expect_not(mark[W.v] || mark[W.y] || mark[W.k], "unreached leaves stay unmarked");
    memset(mark, 0, c->nnode);
    gp_id roots[3] = {f, GP_NIL, g};
    cr_expect_eq(dag_reach(c, 3, roots, mark), 7, "f's 5, plus g and v; x shared; NIL skipped");
    memset(mark, 0, c->nnode);
    cr_expect_eq(dag_reach(c, 1, &W.w, mark), 1, "a leaf reaches itself");
    memset(mark, 0, c->nnode);
    cr_expect_eq(dag_reach(c, 0, NULL, mark), 0);
    free(mark);
    gp_ctx_free(W.c);
}

Test(dag, reach_of_a_deep_chain_is_iterative)
{
    world W;
    world_init(&W);
    gp_ctx *c = W.c;
    enum { N = 200000 };
    gp_id t = W.x;
    for (int i = 0; i < N; i++)
        t = op2(c, i % 2 ? GP_OP_ADD : GP_OP_MUL, t, i % 4 < 2 ? W.w : W.v);
    cr_expect_eq(dag_node(c, t)->depth, N + 1);
    unsigned char *mark = calloc(c->nnode, 1);
    cr_expect_eq(dag_reach(c, 1, &t, mark), N + 3, "the chain, x, w and v");
    free(mark);
    gp_ctx_free(W.c);
}

/* ---- names and limits ---- */

Test(dag, function_names_match_the_case_language)
{
    static const char *const want[GP_FN_COUNT] = {"exp", "log", "tanh", "sigmoid", "relu", "abs",
                                                  "softplus", "sin", "cos", "step", "sign"};
    for (int f = 0; f < GP_FN_COUNT; f++)
        cr_expect_str_eq(dag_fn_name((gp_fn)f), want[f], "fn %d", f);
    cr_expect_str_eq(dag_fn_name(GP_FN_COUNT), "?");
}

Test(dag, node_limit_is_a_limit_error_not_a_crash)
{
    gp_ctx *c = gp_ctx_new();
    gp_limits lim;
    gp_ctx_get_limits(c, &lim);
    lim.max_nodes = 10;
    gp_ctx_set_limits(c, &lim);
    gp_id last = GP_NIL;
    long i;
    for (i = 0; i < 20; i++) {
        last = dag_num_si(c, i, 1);
        if (last == GP_NIL)
            break;
    }
    cr_expect_eq(i, 10, "the 11th node is refused");
    cr_expect_eq(c->status, GP_ELIMIT);
    cr_expect_eq(c->nnode, 10);
    cr_expect_geq(gp_diag_count(c), 1, "the limit is named in a diagnostic");
    cr_expect_eq(dag_num_si(c, 0, 1), GP_NIL, "after a failure every constructor gives NIL (sticky status)");
    gp_ctx_free(c);
}

Test(dag, free_accepts_null)
{
    gp_ctx_free(NULL);
}

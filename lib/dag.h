/*
 * dag.h -- the expression DAG: hash-consed, immutable nodes with dense ids.
 *
 * Children are interned before their parents, so ids are a topological
 * order: every algorithm on the DAG is a loop over ids, never a recursion.
 * Two nodes with the same op, payload and children are the same node, so
 * id equality is structural equality.  The smart constructors that keep the
 * canonical form (sorted commutative operands, folded constants, collected
 * like terms) live in simplify.c; dag_intern() takes a node as given.
 */
#ifndef GP_DAG_H
#define GP_DAG_H
#include "ctx.h"

typedef enum gp_op {
    GP_OP_NUM,    /* exact rational; payload: index into ctx->num */
    GP_OP_LEAF,   /* param, input, target or constant; payload: index into ctx->leaf */
    GP_OP_ADD,    /* n-ary sum, n >= 2 */
    GP_OP_MUL,    /* n-ary product, n >= 2; a numeric factor comes first */
    GP_OP_POW,    /* kid[0] ^ kid[1], kid[1] a NUM */
    GP_OP_FN,     /* fn(kid[0]) */
    GP_OP_MEAN,   /* mean over the samples of kid[0] */
    GP_OP_SUMS    /* sum over the samples of kid[0] */
} gp_op;

typedef enum gp_fn {
    GP_FN_EXP, GP_FN_LOG, GP_FN_TANH, GP_FN_SIGMOID, GP_FN_RELU, GP_FN_ABS,
    GP_FN_SOFTPLUS, GP_FN_SIN, GP_FN_COS, GP_FN_STEP, GP_FN_SIGN,
    GP_FN_COUNT
} gp_fn;

/* What a value varies with. */
typedef enum gp_level {
    GP_LV_STATIC = 0,  /* params, constants and numbers only */
    GP_LV_SAMPLE = 1,  /* varies per sample: uses inputs/targets, no reduction */
    GP_LV_DATASET = 2  /* contains a sample reduction, no bare per-sample part */
} gp_level;

/* Node flags: facts propagated from children at intern time. */
enum {
    GP_NF_NONRAT = 1, /* not a rational function: a function call or a non-integer power */
    GP_NF_KINK = 2,   /* contains relu, abs, step or sign */
    GP_NF_PARAM = 4   /* depends on a param */
};

struct gp_node {
    uint8_t op;      /* gp_op */
    uint8_t fn;      /* gp_fn for GP_OP_FN */
    uint8_t level;   /* gp_level */
    uint8_t flags;   /* GP_NF_* */
    uint32_t nkid;   /* number of children */
    uint32_t label;  /* display name (index into ctx->label), 0 for none */
    uint32_t pay;    /* payload: num index or leaf index */
    uint32_t hash;   /* structural hash */
    uint32_t depth;  /* 1 + max depth of the children */
    gp_id *kid;      /* children (arena), ids smaller than this node's */
};

typedef enum gp_leaf_kind { GP_LEAF_INPUT, GP_LEAF_TARGET, GP_LEAF_PARAM, GP_LEAF_CONST } gp_leaf_kind;

#define GP_MAX_INDEX 8  /* indices of one name, e.g. w[l][j][k] */

/* A name as written: base plus integer indices, e.g. p[1][2]. */
typedef struct gp_name {
    const char *base;            /* arena */
    uint8_t nidx;                /* number of indices */
    int32_t idx[GP_MAX_INDEX];
} gp_name;

struct gp_leaf {
    gp_leaf_kind kind;
    gp_name name;
    gp_id node;    /* its LEAF node */
    gp_id value;   /* GP_LEAF_CONST: its NUM node; GP_NIL otherwise */
    uint32_t ord;  /* position among the leaves of its kind (param 0, 1, ...) */
};

struct gp_label {
    gp_name name;
};

static inline const gp_node *dag_node(const gp_ctx *c, gp_id id) { return &c->node[id]; }

/* Intern a node; returns the existing id when an equal node exists.
   For NUM nodes use dag_num(); for leaves dag_leaf(). */
gp_id dag_intern(gp_ctx *c, gp_op op, gp_fn fn, uint32_t nkid, const gp_id *kid);
/* The largest exact number a NUM node holds, in bits of numerator and
   denominator together (2^22: about 1.26 million digits). */
#define DAG_NUM_MAX_BITS (1ul << 22)
/* The NUM node of q (copied); GP_NIL and GP_ELIMIT past DAG_NUM_MAX_BITS. */
gp_id dag_num(gp_ctx *c, mpq_srcptr q);
gp_id dag_num_si(gp_ctx *c, long n, unsigned long d);
/* The value of a NUM node. */
static inline mpq_srcptr dag_q(const gp_ctx *c, gp_id id) { return c->num[c->node[id].pay]; }
/* A new leaf of the given kind; returns its leaf index, or -1 out of memory. */
long dag_leaf(gp_ctx *c, gp_leaf_kind kind, const gp_name *name, gp_id value);
/* Attach a display name to a node that has none; returns 1 if attached. */
int dag_set_label(gp_ctx *c, gp_id id, const gp_name *name);

/* Free every node's exact constants and the tables (not the arena). */
void dag_free(gp_ctx *c);

static inline int dag_is_num(const gp_ctx *c, gp_id id) { return c->node[id].op == GP_OP_NUM; }
int dag_is_zero(const gp_ctx *c, gp_id id);
int dag_is_one(const gp_ctx *c, gp_id id);

/* Mark the nodes reachable from roots[0..n) in mark[] (size ctx->nnode)
   and return how many there are. */
size_t dag_reach(const gp_ctx *c, size_t n, const gp_id *roots, unsigned char *mark);

/* Function names as written in the case language. */
const char *dag_fn_name(gp_fn fn);
#endif

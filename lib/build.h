/*
 * build.h -- the case model: statements resolved into symbols, elements and
 * DAG nodes.
 *
 * A symbol is a name of the case (declared or defined); an indexed symbol
 * has one element per index tuple in its bounding box.  Every element of an
 * input, target, param or constant is a DAG leaf; every element of a
 * definition is the node of its equation, labelled with its name.
 */
#ifndef GP_BUILD_H
#define GP_BUILD_H
#include "dag.h"
#include "parse.h"

typedef enum sym_kind { SYM_INPUT, SYM_TARGET, SYM_PARAM, SYM_CONST, SYM_DEF, SYM_LOSS } sym_kind;

typedef struct symbol {
    const char *name;        /* arena, NUL-terminated */
    sym_kind kind;
    uint32_t nidx;           /* number of indices (0: a plain name) */
    int32_t lo[GP_MAX_INDEX], hi[GP_MAX_INDEX]; /* bounding box of the indices */
    size_t first, count;     /* its elements: elem[first .. first+count) */
    const stmt *decl;        /* the first statement that declares or defines it */
    size_t off, len;         /* where the name stands in that statement */
    uint8_t const_state;     /* constants: 0 unevaluated, 1 evaluating, 2 done */
} symbol;

typedef struct element {
    uint32_t sym;            /* its symbol */
    gp_id node;              /* its node; GP_NIL when undefined or failed */
    const stmt *def;         /* defining statement (definitions), else NULL */
    int32_t fv[GP_MAX_INDEX];/* values of the statement's for-variables */
    uint8_t state;           /* 0 unvisited, 1 on the DFS stack, 2 built */
} element;

typedef enum claim_kind { CLAIM_DERIV, CLAIM_IDENT } claim_kind;

typedef struct claim {
    claim_kind kind;
    const stmt *st;
    unsigned line;
    const char *text;        /* the claim as written, after 'claim' (arena) */
    gp_id lhs, rhs;          /* both sides; GP_NIL if they failed to build */
    gp_id dnum, dwrt;        /* claim dA/dB = ...: the nodes of A and B, else GP_NIL */
} claim;

typedef struct point {       /* an `at` line */
    const stmt *st;
    size_t n;
    uint32_t *leaf;          /* leaf index of each param given */
    mpq_t *val;
} point;

struct gp_case {
    gp_ctx *c;
    int src;                 /* its source */
    char *dir;               /* directory of the case file, for data "file" (malloc) */
    syntax syn;
    const char *title;       /* arena; "" when none */
    symbol *sym; size_t nsym, capsym;
    uint32_t *stab; size_t stabcap;     /* name -> symbol+1 hash table */
    element *elem; size_t nelem, capelem;
    uint32_t loss_sym;       /* symbol of the loss, or UINT32_MAX */
    gp_id loss;              /* the loss node */
    gp_id *out; size_t nout; /* outputs (from `output`, else none) */
    uint32_t *params; size_t nparams;   /* leaf indices, in declaration order */
    uint32_t *inputs; size_t ninputs;   /* leaf indices of inputs and targets */
    uint32_t *defs; size_t ndefs;       /* elements of definitions, in build order */
    claim *claims; size_t nclaims;
    point *points; size_t npoints;
    /* data: nrows x ncols exact values; column j feeds leaf dcol[j] */
    size_t nrows, ncols;
    uint32_t *dcol;
    mpq_t *dval;
    int has_data;
    int over_limit;          /* the element limit was reported */
};

/* Resolve and build a parsed case.  Diagnostics go to the context. */
gp_status build_case(gp_case *cs);
void case_free(gp_case *cs);
/* The symbol named s[0..n), or -1. */
long build_lookup(const gp_case *cs, const char *s, size_t n);
/* Build an expression in the context of the case (claims mode: dA/dB allowed).
   Used for the `expr` round trip.  GP_NIL with a diagnostic on error. */
gp_id build_expr_in_case(gp_case *cs, int src, const ast *a);
/* Write the display-independent name of an element: "w111", "p[1][2]". */
void build_elem_name(const gp_case *cs, size_t e, gp_name *out);
/* The definition that holds node, for messages about a failure there: the
   element (a definition or the loss) whose expression contains it, the
   earliest when several share it; for a node of no definition (one of a
   derivative), when through_args, the definition of the nearest argument
   that has one.  Returns the element's index, or SIZE_MAX (none, a leaf, or
   out of memory). */
size_t build_node_owner(const gp_case *cs, gp_id node, int through_args);
#endif

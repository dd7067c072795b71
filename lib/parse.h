/*
 * parse.h -- the syntax tree of a case file.
 *
 * The parser turns tokens into statements whose expressions are trees in the
 * context's arena.  Chains of + and - (and of * and /) are n-ary nodes, so a
 * long sum is wide, not deep; only parentheses, calls, unary signs and '^'
 * nest, and their depth is capped by gp_limits.max_depth.  Names are left
 * as spans: resolving them is the builder's job, since a case may use a
 * name before the statement that defines it.
 */
#ifndef GP_PARSE_H
#define GP_PARSE_H
#include "ctx.h"
#include "dag.h"

typedef enum ast_kind {
    A_NUM,   /* number: num */
    A_NAME,  /* name span + n index expressions in kid[] */
    A_CALL,  /* fn(kid[0]) */
    A_RED,   /* mean/sum over samples of kid[0]; fn holds GP_OP_MEAN or GP_OP_SUMS */
    A_ISUM,  /* sum(var = kid[0]..kid[1], kid[2]); var is the name span */
    A_ADD,   /* kid[0] (+|-) kid[1] ...; inv[i] marks a subtraction */
    A_MUL,   /* kid[0] (*|/) kid[1] ...; inv[i] marks a division */
    A_NEG,   /* -kid[0] */
    A_POW,   /* kid[0] ^ kid[1] */
    A_DERIV  /* dA/dB inside a claim: kid[0], kid[1] are A_NAME nodes of A and B */
} ast_kind;

typedef struct ast ast;
struct ast {
    uint8_t kind;       /* ast_kind */
    uint8_t fn;         /* A_CALL: gp_fn; A_RED: gp_op */
    uint32_t n;         /* children (A_ADD, A_MUL) or indices (A_NAME) */
    size_t off, len;    /* the whole expression's span */
    size_t noff, nlen;  /* A_NAME, A_ISUM: the name's span */
    gp_id num;          /* A_NUM: its NUM node */
    ast **kid;          /* children (arena) */
    uint8_t *inv;       /* A_ADD/A_MUL: per child, subtract/divide */
};

typedef enum stmt_kind {
    S_TITLE, S_INPUT, S_TARGET, S_PARAM, S_CONST, S_DEF, S_LOSS, S_OUTPUT,
    S_CLAIM,   /* claim LHS = RHS, LHS a derivative reference */
    S_IDENT,   /* claim LHS == RHS */
    S_DATA, S_AT
} stmt_kind;

/* A declared or referenced name with index ranges: p[1..3][2]. */
typedef struct declname {
    size_t off, len;            /* the name */
    size_t eoff;                /* end of the whole item (after its last ']') */
    uint32_t nidx;
    ast *lo[GP_MAX_INDEX];      /* index or range bounds; hi == NULL: a single index */
    ast *hi[GP_MAX_INDEX];
} declname;

typedef struct forvar {
    size_t off, len;            /* the variable */
    ast *lo, *hi;
} forvar;

typedef struct datacell {
    size_t off, len;            /* the number's span, sign included */
} datacell;

typedef struct stmt stmt;
struct stmt {
    stmt_kind kind;
    size_t off, len;        /* span of the whole statement */
    size_t koff, klen;      /* its keyword (or the defined name for S_DEF) */
    /* S_TITLE, S_DATA from a file: the string span, quotes included */
    size_t soff, slen;
    /* S_INPUT/S_TARGET/S_PARAM: declared names; S_OUTPUT: referenced names;
       S_DATA: the header; S_CONST/S_DEF/S_LOSS: items[0] is the defined name
       (for S_DEF with index expressions in lo[]) */
    declname *items;
    uint32_t nitems;
    forvar *fors;           /* S_DEF: for k in lo..hi, ... */
    uint32_t nfors;
    ast *lhs, *rhs;         /* S_CONST/S_DEF/S_LOSS: rhs; claims: both */
    ast **atval;            /* S_AT: value per item */
    datacell *cells;        /* S_DATA inline: nrows * nitems cells, row-major */
    size_t *rowoff;         /* S_DATA inline: offset of each row */
    size_t nrows;
};

typedef struct syntax {
    stmt *s;         /* statements in source order (malloc) */
    size_t n, cap;
    int loss_failed; /* a `loss` statement was there but did not parse */
} syntax;

/* Parse source `src`; errors go to the context.  Returns GP_OK, GP_EINPUT
   or a resource failure.  The syntax must be released by syntax_free(). */
gp_status parse_case(gp_ctx *c, int src, syntax *out);
/* Parse one expression (a claim-like context: dA/dB allowed) from source src. */
gp_status parse_expr_source(gp_ctx *c, int src, ast **out);
void syntax_free(syntax *s);
/* Exact value of a number token ("0.3", "1e-3", "-2"): 1 on success, 0 when
   malformed, -1 when out of memory. */
int parse_number(mpq_t out, const char *s, size_t n);
/* Is the span a reserved word of the language? */
int parse_is_keyword(const char *s, size_t n);
/* The function named by the span, or -1. */
int parse_fn_lookup(const char *s, size_t n);
#endif

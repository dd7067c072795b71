/*
 * lex.h -- tokens of the case language.  A token is a span {off, len} into
 * the source (SQLite's Token); nothing is copied.  Newlines end statements
 * only at bracket depth 0: inside ( or [ a statement continues.
 */
#ifndef GP_LEX_H
#define GP_LEX_H
#include <stddef.h>

#include "ctx.h"

typedef enum tok_kind {
    T_EOF, T_NL, T_NAME, T_NUM, T_STR,
    T_PLUS, T_MINUS, T_STAR, T_SLASH, T_CARET,
    T_LP, T_RP, T_LB, T_RB, T_COMMA, T_EQ, T_EQEQ, T_DOTDOT,
    T_ERROR /* already diagnosed by the lexer */
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t off, len; /* span in the source */
} token;

typedef struct lexer {
    gp_ctx *c;
    int src;          /* source index, for diagnostics */
    const char *s;    /* text */
    size_t n, pos;    /* length and cursor */
    int depth;        /* open ( and [ */
    size_t quiet_until; /* re-lexing after a rewind: bytes before this were diagnosed already */
} lexer;

void lex_init(lexer *lx, gp_ctx *c, int src);
token lex_next(lexer *lx);
/* What a token kind looks like in a message: "')'", "a name", "end of line". */
const char *lex_kind_str(tok_kind k);
#endif

/*
 * print.h -- writing expressions and names in three syntaxes: Unicode text
 * for people (w₂₁₁·mean((ŷ − y)·x₁)), LaTeX, and the case language itself
 * (w211*mean((yhat - y)*x1)), which parses back.
 */
#ifndef GP_PRINT_H
#define GP_PRINT_H
#include "buf.h"
#include "dag.h"

typedef enum pr_syntax { PR_TEXT, PR_LATEX, PR_CASE } pr_syntax;

typedef struct pr_opts {
    pr_syntax syn;
    int labels;            /* print labelled nodes by their name */
    size_t max_bytes;      /* give up past this many bytes (0: no limit) */
    unsigned char *used;   /* if set (size ctx->nnode), marks the labelled nodes named in the output */
} pr_opts;

/* Append the expression to out.  The node itself is written out in full even
   when it has a label (so a definition prints as its equation).  Returns 1,
   or 0 when max_bytes was exceeded (out then holds a truncated text). */
int print_expr(buf *out, const gp_ctx *c, gp_id id, const pr_opts *o);
/* Append a name: w211 -> w₂₁₁ | w_{211} | w211; p[1][2] -> p₁₂ | p_{12} | p[1][2]. */
void print_name(buf *out, const gp_name *nm, pr_syntax syn);
/* Display width of UTF-8 text in a monospace font (combining marks take none). */
size_t print_width(const char *s);
/* A LaTeX rendering of a rational, e.g. \frac{3}{10}; text 3/10; case 3/10. */
void print_q(buf *out, mpq_srcptr q, pr_syntax syn);
#endif

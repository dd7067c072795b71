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
    const uint32_t *aux;   /* if set (size ctx->nnode): aux[id] = k > 0 prints node id as the auxiliary name δₖ */
} pr_opts;

/* Append the expression to out.  The node itself is written out in full even
   when it has a label (so a definition prints as its equation).  Returns 1,
   or 0 when max_bytes was exceeded (out then holds a truncated text). */
int print_expr(buf *out, const gp_ctx *c, gp_id id, const pr_opts *o);
/* Append a name: w211 -> w₂₁₁ | w_{211} | w211; p[1][2] -> p₁₂ | p_{12} | p[1][2]. */
void print_name(buf *out, const gp_name *nm, pr_syntax syn);
/*
 * Choose auxiliary names for the expressions of roots[]: when writing them
 * out in full would take more than `budget` nodes (a derivative of a deep
 * chain is quadratic when printed as a tree, though linear as a DAG), the
 * unlabelled subexpressions that would be printed more than once and have at
 * least a few nodes get numbers 1, 2, ... in aux[] (zeroed by the caller,
 * size ctx->nnode), in increasing id order, so that each is defined before
 * it is used.  Returns how many were chosen (0: print everything inline).
 */
size_t print_choose_aux(const gp_ctx *c, size_t nroots, const gp_id *roots, int labels, size_t budget, uint32_t *aux);
/* Append an auxiliary name: δ₃ | \delta_{3} | aux3. */
void print_aux_name(buf *out, uint32_t k, pr_syntax syn);
/* Display width of UTF-8 text in a monospace font (combining marks take none). */
size_t print_width(const char *s);
/* A LaTeX rendering of a rational, e.g. \frac{3}{10}; text 3/10; case 3/10. */
void print_q(buf *out, mpq_srcptr q, pr_syntax syn);
#endif

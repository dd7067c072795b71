/*
 * algebra.h -- the DAG as exact polynomials and rational functions (FLINT).
 */
#ifndef GP_ALGEBRA_H
#define GP_ALGEBRA_H
#include "buf.h"
#include "dag.h"
#include "print.h"

/*
 * Write node `id` fully expanded: a canonical polynomial in the leaves
 * (params, inputs, targets, constants by name), or a quotient of two, in the
 * given syntax.  A sample reduction of a polynomial is expanded by linearity
 * into sums of (polynomial in the static leaves) * mean(monomial in inputs and
 * targets).  Returns GP_OK; GP_EINPUT when the node is not a rational
 * function (it contains a function call or a non-integer power) or a
 * reduction of one; GP_ELIMIT (with a diagnostic) when the expansion has more
 * than ctx->lim.max_expand_terms terms.  Nothing is written on failure.
 */
gp_status algebra_expand_print(buf *out, gp_ctx *c, gp_id id, pr_syntax syn);

/*
 * Is node `id`, as a rational function of its leaves and sample moments,
 * identically zero?  The moments (mean(x1*y), sum(1), ...) are independent
 * symbols, so *zero = 1 means the node is 0 for every value of the params
 * and for every data set (where it is defined).  Same failures as
 * algebra_expand_print(); *zero is written only on GP_OK.
 */
gp_status algebra_is_zero(gp_ctx *c, gp_id id, int *zero);

/* The shape of a rational function, for diagnoses (see algebra_inspect). */
typedef struct algebra_shape {
    int zero;          /* identically 0 */
    long nterms;       /* terms of the numerator (0 when zero) */
    long nden;         /* terms of the denominator (1 for a polynomial) */
    int monomial;      /* coeff * up / down, with up and down monomials (either may be 1) */
    mpq_t coeff;       /* when monomial: the coefficient */
    char *up;          /* when monomial: up without coefficient, NULL when 1 (malloc) */
    char *down;        /* when monomial: down without coefficient, NULL when 1 (malloc) */
    char *text;        /* the canonical expanded form, in the syntax asked for (malloc) */
    int live;          /* coeff is initialised */
} algebra_shape;

/*
 * Convert node `id` to its reduced quotient, as algebra_expand_print()
 * does, and describe it in *out (initialised here; the caller clears it
 * with algebra_shape_clear() after GP_OK; nothing to clear on failure).
 * Names are written in syntax syn.  Same failures as algebra_expand_print().
 */
gp_status algebra_inspect(algebra_shape *out, gp_ctx *c, gp_id id, pr_syntax syn);
void algebra_shape_clear(algebra_shape *s);
#endif

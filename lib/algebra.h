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
#endif

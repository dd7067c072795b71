/*
 * simplify.h -- the smart constructors: every node built by the parser, the
 * builder and the differentiator goes through these, so the DAG is always in
 * canonical form.
 *
 * Canonical form: sums and products are n-ary with operands sorted by id;
 * exact rational constants are folded; like terms (c1*m + c2*m) and powers of
 * one base (x^a * x^b) are collected; a product keeps at most one numeric
 * factor, first.  A node with a display label (a name of the case) is an
 * atom: it is never flattened into its parent nor taken apart, so the names
 * a person wrote survive into derivatives.  Unlabelled sums and products are
 * flattened only when small (SIMPLIFY_FLAT operands), which keeps a long
 * chain of adjoints linear in size instead of quadratic.
 *
 * All constructors return GP_NIL when a child is GP_NIL or on failure
 * (ctx->status says which), so failures propagate like NaN.
 */
#ifndef GP_SIMPLIFY_H
#define GP_SIMPLIFY_H
#include "dag.h"

#define SIMPLIFY_FLAT 16

gp_id gp_add(gp_ctx *c, size_t n, const gp_id *terms);
gp_id gp_mul(gp_ctx *c, size_t n, const gp_id *factors);
gp_id gp_add2(gp_ctx *c, gp_id a, gp_id b);
gp_id gp_sub(gp_ctx *c, gp_id a, gp_id b);
gp_id gp_mul2(gp_ctx *c, gp_id a, gp_id b);
gp_id gp_neg(gp_ctx *c, gp_id a);
gp_id gp_div(gp_ctx *c, gp_id a, gp_id b);
/* base ^ e, e a NUM node. */
gp_id gp_pow(gp_ctx *c, gp_id base, gp_id e);
gp_id gp_pow_si(gp_ctx *c, gp_id base, long n, unsigned long d);
gp_id gp_call(gp_ctx *c, gp_fn fn, gp_id a);
/* GP_OP_MEAN or GP_OP_SUMS of a; static factors are moved outside. */
gp_id gp_reduce(gp_ctx *c, gp_op red, gp_id a);
#endif

/*
 * eval_mpfr.h -- evaluating DAG nodes in GNU MPFR at a chosen precision.
 *
 * Ownership: eval_mpfr() borrows the context, the environment and the roots;
 * it writes only the caller's out[] values (which the caller has initialised,
 * at any precision, and clears) and *fault.  Everything it allocates is freed
 * before it returns, on every path.  The MPFR flags are restored on return;
 * the exponent range and default precision are not touched.
 */
#ifndef GP_EVAL_MPFR_H
#define GP_EVAL_MPFR_H
#include <mpfr.h>

#include "dag.h"

struct gp_case;

/*
 * Where the leaves get their values.  Params come from leafval (or leafq
 * when leafval is NULL), indexed by leaf index, ctx->nleaf entries of which
 * only the params' are read.  Constants always take their exact value (the
 * NUM node of their leaf).  Inputs and targets come from the data table:
 * column j of row s feeds leaf col_leaf[j]; values from cols (or qcols when
 * cols is NULL).  Every pointer is borrowed; fields not needed by the cone
 * being evaluated may be NULL/0.
 */
typedef struct eval_env {
    const mpfr_t *leafval;    /* param values by leaf index, or NULL */
    const mpq_t *leafq;       /* exact param values by leaf index (used when leafval is NULL) */
    size_t nsamples;          /* rows of the data table */
    size_t ncols;             /* columns of the data table */
    const uint32_t *col_leaf; /* leaf index fed by each column (ncols entries) */
    const mpfr_t *cols;       /* nsamples x ncols values, row-major, or NULL */
    const mpq_t *qcols;       /* the same as exact rationals (used when cols is NULL) */
} eval_env;

/*
 * Numerical trouble found while evaluating: a result, not an error.  node is
 * the first node (in evaluation order, so its children were all fine) whose
 * value is NaN or infinite, or that underflowed to zero; GP_NIL when every
 * value is finite.  Later trouble propagates as NaN/Inf but is not recorded.
 */
typedef struct eval_fault {
    gp_id node;        /* first faulty node, GP_NIL if none */
    const char *what;  /* static text: "log of a negative number", "log of zero",
                          "division by zero", "non-integer power of a negative number",
                          "overflow", "underflow", "no samples", "not a number",
                          "argument of sin or cos too large" (|x| > 2^65536); NULL if none */
    long sample;       /* the sample it happened at, -1 for static/dataset-level nodes */
} eval_fault;

/*
 * Evaluate roots[0..nroots) into out[0..nroots) (rounded to nearest at the
 * precision of each out[i]).  Internally every value is kept at `prec` bits
 * and each operation is correctly rounded (MPFR_RNDN), except where noted in
 * eval_mpfr.c (n-ary products, sigmoid, softplus, non-dyadic rational powers
 * and sample reductions, each within a few ulps).
 *
 * Per-sample roots (and per-sample nodes outside reductions) are evaluated at
 * row `sample` of the data table; `sample` may be -1 when no such node is
 * in the cone.  A reduction (MEAN, SUMS) loops over all nsamples rows; over
 * zero rows it is the fault "no samples" and its value is NaN.  Only the
 * cone of the roots is evaluated; memory is O(cone) MPFR values plus
 * O(ctx->nnode) bytes of bookkeeping.
 *
 * Returns GP_OK, even when *fault reports numerical trouble (fault may be
 * NULL); GP_ENOMEM; GP_EINTERNAL when the call breaks its contract (a root
 * out of range or GP_NIL, a needed param/data value missing, `sample` out of
 * range while needed, nested reductions).  out[] may alias entries of
 * env->leafval: outputs are written last.
 */
gp_status eval_mpfr(mpfr_t *out, gp_ctx *c, const eval_env *env, long sample, size_t nroots,
                    const gp_id *roots, mpfr_prec_t prec, eval_fault *fault);

/*
 * The operations of the evaluator, shared with the tape's MPFR sweep.
 * r = b^eq (eq an exact rational exponent), r = fn(x); w1, w2 are work
 * variables of at least r's precision plus EXTRA (64) guard bits.  Both
 * return the reason of a NaN or infinity they know ("log of zero", ...),
 * else NULL.
 */
const char *eval_mpfr_pow(mpfr_ptr r, mpfr_srcptr b, mpq_srcptr eq, mpfr_prec_t prec);
const char *eval_mpfr_fn(mpfr_ptr r, gp_fn fn, mpfr_srcptr x, mpfr_ptr w1, mpfr_ptr w2);

/* Point env's data table at a case's exact data (rows, columns, dval); leaf
   values are left as they were. */
void eval_env_case(eval_env *env, const struct gp_case *cs);
#endif

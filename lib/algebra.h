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
/* One group of algebra_group_by_samples(): a per-sample monomial and its
   coefficient.  Texts are indexed by pr_syntax (PR_TEXT, PR_LATEX, PR_CASE). */
typedef struct algebra_group {
    char *monomial[3]; /* the monomial in the inputs and targets, "1" for the constant term (malloc) */
    char *coeff[3];    /* its coefficient: a polynomial in the params and moments (malloc) */
    unsigned degree;   /* total degree of the monomial */
    int constant;      /* the coefficient is a number (no param in it) */
} algebra_group;

typedef struct algebra_grouped {
    int polynomial;    /* 0: the reduced quotient has a denominator (nothing else is set) */
    size_t n;          /* groups (0 when the node is identically 0) */
    algebra_group *g;  /* by degree, then larger powers of earlier variables first: 1, x1, x2, x1², x1x2, x2² */
    size_t nleaf;      /* the input and target leaves that occur */
    uint32_t *leaf;    /* their leaf indices, in display order (malloc) */
} algebra_grouped;

/*
 * Expand node `id` as algebra_expand_print() does and, when it is a
 * polynomial, group its terms by their monomials in the per-sample leaves
 * (inputs and targets): id = sum over groups of coeff * monomial, each
 * coefficient in the static symbols (params, moments; named constants by
 * their values).  *out is initialised here; clear it with
 * algebra_grouped_clear() after GP_OK (nothing to clear on failure).  Same
 * failures as algebra_expand_print().
 */
gp_status algebra_group_by_samples(algebra_grouped *out, gp_ctx *c, gp_id id);
void algebra_grouped_clear(algebra_grouped *g);

/*
 * Is c0 + sum_k coef[k] * ids[k] identically zero, as a rational function of
 * the leaves (and moments)?  The nodes are converted together, in one
 * context.  *zero is written only on GP_OK; GP_EINPUT when a node is not a
 * rational function; GP_ELIMIT (with a diagnostic) past the term limit.
 */
gp_status algebra_lincomb_is_zero(gp_ctx *c, size_t n, const gp_id *ids, const mpq_t *coef, mpq_srcptr c0,
                                  int *zero);

/* Is the name shown as one letter with subscripts (w₁₁, α, ŷ), so that text
   juxtaposes it with a coefficient (3w₁₁)?  The rule the expansions use. */
int algebra_short_name(const gp_name *nm);
#endif

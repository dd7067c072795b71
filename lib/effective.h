/*
 * effective.h -- two parts of the symmetry report that look at the inputs
 * rather than the params (DESIGN.md §5):
 *
 *  - the effective model: a polynomial network's outputs expanded in the
 *    inputs, each coefficient a polynomial in the params, e.g. a 2-2-1
 *    linear network is one affine layer with w0 = v0 + u01*v1 + u02*v2;
 *  - input dependencies: the linear relations c0 + sum_k c_k f_k = 0 among
 *    the input features f_k the params see, identically (for every input)
 *    and on the case's own data.
 *
 * Texts come in the three syntaxes of print.h, indexed by pr_syntax:
 * [PR_TEXT] Unicode, [PR_LATEX], [PR_CASE] (parses back).  Every string and
 * array in these structs is malloc'd and freed by effective_free() or
 * input_deps_free(), which accept a zeroed struct.
 */
#ifndef GP_EFFECTIVE_H
#define GP_EFFECTIVE_H
#include "build.h"
#include "print.h"

/* One term of an output: coeff * monomial. */
typedef struct eff_term {
    char *monomial[3];  /* the monomial in the inputs, "1" for the constant term */
    char *coeff[3];     /* its coefficient: a polynomial in the params (named constants by value) */
    unsigned degree;    /* degree of the monomial in the inputs */
    int fixed;          /* the coefficient is a number: no param in it */
} eff_term;

/* One output expanded in the inputs. */
typedef struct eff_output {
    gp_id node;         /* the output node */
    char *name[3];      /* its name ("output 2" when it has none) */
    size_t nterms;      /* 0: identically 0 */
    eff_term *term;     /* by degree, then larger powers of earlier inputs first: 1, x1, x2, x1², x1x2, x2² */
    unsigned degree;    /* total degree in the inputs */
} eff_output;

typedef struct effective {
    int polynomial;         /* 1: out[] holds the expansion; 0: not claimed (nout = 0, `why` says why) */
    char *why;              /* polynomial = 0: which output and which node or function, or the term limit */
    size_t nout;
    eff_output *out;
    size_t ncoeff;          /* terms whose coefficient depends on the params, over all outputs: the
                               parameter count of the equivalent model */
    size_t ncoeff_distinct; /* distinct monomials over all outputs (= ncoeff for one output without fixed terms) */
    unsigned degree;        /* the largest degree of an output */
    size_t ninput;          /* the inputs (and targets) the expansion contains */
    uint32_t *input;        /* their leaf indices, in declaration order */
    char *summary[3];       /* one line, e.g. "one affine layer in x₁, x₂ (3 coefficients)" */
} effective;

/*
 * Expand the outputs out[0..nout) (cs->out, or the loss's per-sample terms)
 * in the inputs.  *e is initialised here and must be freed with
 * effective_free() whatever the result.  An output that is not a polynomial
 * in params, inputs and constants (a function call, a division, a
 * fractional power, a sample reduction) gives polynomial = 0 with `why`, as
 * does an expansion past ctx->lim.max_expand_terms: both are GP_OK, and no
 * diagnostic is left in the context.  GP_ENOMEM, GP_EINTERNAL (a bad node).
 */
gp_status effective_model(effective *e, gp_case *cs, size_t nout, const gp_id *out);
void effective_free(effective *e);

/* A linear relation among the features. */
typedef struct input_rel {
    char *text[3];      /* scaled to coprime integers, features first, constant last: "7*x1 - 3*x2 = 0" */
    int on_data_only;   /* holds on the case's data only, not for every input */
    int exact;          /* proved: polynomial identity (for every input) or exact arithmetic (on the
                           data); 0: evidence only (numeric, or random samples when the identity
                           was too large to expand) */
} input_rel;

typedef struct input_deps {
    size_t nfeat;       /* features: per-sample, param-free direct children of param-dependent nodes */
    gp_id *feat;        /* [nfeat] their nodes, by id */
    char *(*feat_name)[3]; /* [nfeat] their names (labels, input names or expressions) */
    size_t nrel;
    input_rel *rel;     /* for every input first, then on the data only */
    long rank;          /* rank of the columns (1, f_1..f_m) for every input: nfeat + 1 - relations; -1: not computed */
    long data_rank;     /* rank of (1, f_1..f_m) on the case's data; -1 without data */
    size_t data_rows;   /* data rows used (rows where a feature is undefined are skipped) */
    int numeric;        /* a feature is not rational: evaluated in MPFR, relations checked to 2^-200 */
    char *method;       /* how it was found, in one line */
} input_deps;

/*
 * Find the features of the outputs out[0..nout) and the linear relations
 * among them: for every input (null space of exact evaluations at random
 * rational inputs drawn from `seed`, each relation then proved by
 * polynomial identity; numeric features: MPFR at 256 bits, relations
 * recognised as small rationals and checked to 2^-200 at fresh inputs), and
 * on the case's data (only those not implied by the first kind).  *d is
 * initialised here and must be freed with input_deps_free() whatever the
 * result.  GP_ENOMEM, GP_EINTERNAL.
 */
gp_status input_dependencies(input_deps *d, gp_case *cs, size_t nout, const gp_id *out, uint64_t seed);
void input_deps_free(input_deps *d);
#endif

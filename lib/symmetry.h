/*
 * symmetry.h -- what the data can and cannot determine: the rank of the
 * parameter Jacobian, clamp sets, permutation symmetries, linear vector
 * fields that leave the output unchanged and the conserved quantities they
 * give, sign flips, equal and proportional gradients (DESIGN.md §5).
 *
 * The model map is the network's output (the `output` names, else the
 * per-sample terms of the loss) as a function of the params, per sample.
 * A rational network is analysed exactly: Jacobians modulo a 62-bit prime
 * (random residues for the params and the samples), solutions lifted to Q
 * by rational reconstruction and checked again modulo a second prime at
 * fresh points.  A network with exp, tanh, ... is analysed in MPFR: the
 * rank from a singular-value gap, solutions recognised as small rationals
 * and checked at fresh points to 2^-150.
 */
#ifndef GP_SYMMETRY_H
#define GP_SYMMETRY_H
#include <mpfr.h>

#include "autgroup.h"
#include "build.h"
#include "effective.h"

/* A linear vector field theta -> A theta + b, sparse: entry k is A[row][col]
   (col == P: the translation b[row]). */
typedef struct sym_field {
    size_t n;
    uint32_t *row, *col;
    mpq_t *q;
} sym_field;

/* A quadratic conserved quantity theta' M theta + 2 b' theta, sparse over
   i <= j (j == P: the linear term), scaled to coprime integers. */
typedef sym_field sym_quad;

typedef struct sym_pair {     /* dC/d(a) == ratio * dC/d(b), as functions */
    uint32_t a, b;
    mpq_t ratio;
    int exact;                /* confirmed by polynomial identity; else by random points */
} sym_pair;

typedef struct sym_opts {
    uint64_t seed;            /* 0: a fixed default */
    const uint32_t *clamp;    /* a proposed clamp set (param ordinals), or NULL */
    size_t nclamp;
    size_t max_unknowns;      /* of the linear-symmetry system (0: the default) */
} sym_opts;

#define SYM_SVD_MAX 160        /* numeric: the rank from singular values up to this many
                                  params (one-sided Jacobi, O(P^3) per sweep), else pivots */

typedef enum sym_pattern { SYM_FULL, SYM_BLOCK, SYM_DIAGONAL, SYM_NONE } sym_pattern;

/* the least gap, in bits, between the singular values (or pivots) kept and
   dropped for a numeric rank to be taken as decided */
#define SYM_GAP_MIN_BITS 32

typedef struct sym_report {
    size_t P, nout;
    gp_id *out;               /* the outputs analysed */
    int rational;             /* exact route; else MPFR */
    int direct;               /* the loss depends on params outside the outputs */
    mp_limb_t prime, prime2;  /* exact route: the primes */
    mpfr_prec_t prec;         /* numeric route: the precision */
    size_t samples;           /* random samples behind the generic rank */
    long rank, rank_data;     /* generic rank; rank on the case's data (-1: no data) */
    double sv_kept, sv_dropped; /* numeric: smallest pivot kept, largest dropped by the
                                   elimination (relative to the largest; 0 when none) */
    int svd;                  /* numeric: the generic rank is from singular values */
    double svd_kept, svd_dropped, svd_gap_log2; /* see svd_mpfr.h: smallest kept, largest
                                   dropped (relative), the gap at the cut in bits */
    long rank_pivots;         /* the elimination's rank (equal to rank unless said) */
    int rank_uncertain;       /* numeric route: no clear gap where the rank is cut
                                 (under SYM_GAP_MIN_BITS), or the elimination
                                 disagrees: the rank and the clamp set are not
                                 decided */
    /* clamp: P - rank params whose columns can go */
    uint32_t *clamp; size_t nclamp;
    /* a proposed clamp set */
    int uclamp_given;
    long uclamp_rank;         /* rank of the remaining columns, generic */
    int uclamp_valid;
    int uclamp_break[3];      /* clamp values 0, 1, -1: 1 when that value loses rank */
    uint32_t *locked; size_t nlocked; /* clamped params whose sign no symmetry changes */
    /* the null space at a generic point: spanned by symmetry fields (null_lin:
       indices into lin[]), or given as vectors at a point (strings, decimal
       where irrational) */
    size_t nnull;             /* its dimension, P - rank */
    int null_fields;
    size_t *null_lin; size_t nnull_lin;
    char **null_vec;          /* [nnull_vec x P] */
    size_t nnull_vec;
    char **null_at;           /* [P] the point of null_vec */
    /* linear symmetries */
    sym_pattern pattern;
    size_t unknowns;
    sym_field *lin; size_t nlin;
    int lin_verified;
    sym_quad *cons; size_t ncons;
    double *cons_drift;       /* [ncons] relative drift along a gradient-flow run, -1: not run */
    double flow_move;         /* how far the flow moved theta (relative) */
    sym_field *scale; size_t nscale; /* diagonal solutions: rescalings and translations */
    uint8_t *flip; size_t nflip;     /* [nflip x P] verified sign flips: 1 = negated */
    /* permutations */
    autgroup grp;
    int grp_ok;               /* found */
    int grp_verified;         /* every generator checked numerically */
    /* equal and proportional gradients */
    sym_pair *pair; size_t npair;
    /* effective model and input dependencies */
    effective eff; int eff_ok;
    input_deps deps; int deps_ok;
    char *why_numeric;        /* what made the network non-rational */
    char *unknown;            /* no defined point was found: why (then the
                                 rest of the report is not filled in) */
} sym_report;

gp_status symmetry_run(gp_case *cs, const sym_opts *o, sym_report *R);
void sym_report_free(sym_report *R);

/* Text and JSON renderings (symmetry_render.c). */
struct buf;
void symmetry_write_text(struct buf *b, const gp_case *cs, const sym_report *R);
void symmetry_write_json(struct buf *b, const gp_case *cs, const sym_report *R);
/* The report as a section of a document: Markdown, or LaTeX (latex != 0). */
void symmetry_write_doc(struct buf *b, const gp_case *cs, const sym_report *R, int latex);
#endif

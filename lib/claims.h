/*
 * claims.h -- verdicts on the `claim` lines of a case: holds or fails, with
 * a counterexample and a diagnosis (DESIGN.md §5).
 */
#ifndef GP_CLAIMS_H
#define GP_CLAIMS_H
#include <stdint.h>

#include "build.h"

typedef enum claim_verdict { CV_HOLDS, CV_FAILS, CV_UNKNOWN } claim_verdict;
typedef enum claim_method { CM_EXACT, CM_NUMERIC } claim_method;

#define CLAIMS_POINTS 24      /* numeric points, default */
#define CLAIMS_PREC 256       /* bits of the numeric evaluation */
#define CLAIMS_TOL_EXP 200    /* numeric tolerance 2^-200 * (1 + max(|claim|, |true|)) */
#define CLAIMS_SAMPLES 4      /* random samples per point when the case has no data */

typedef struct claims_opts {
    unsigned points;          /* numeric points (0: CLAIMS_POINTS) */
    uint64_t seed;            /* seed of the random points (0: a fixed default) */
} claims_opts;

/* One claim's verdict.  Strings are malloc'd, NULL when absent. */
typedef struct claim_result {
    claim_verdict verdict;
    claim_method method;
    unsigned npoints;         /* numeric: points at which both sides were evaluated */
    unsigned nredrawn;        /* numeric: points redrawn because a side faulted */
    char *reason;             /* unknown: why; exact fallback: why numeric */
    int has_cx;               /* a counterexample follows */
    int cx_exact;             /* claimed/actual are exact rationals (else ~15 digits) */
    char *cx_point;           /* text: "w111 = 1, w211 = -1/2" (case syntax, parses as an `at` line) */
    char *cx_point_json;      /* JSON object of the same */
    char *cx_data;            /* text: the sample ("x1 = 1, y = 2"), the data set, or "the case's data" */
    char *cx_data_json;       /* JSON: "sample": {...} / "samples": [...] / "data": "case" members, or NULL */
    char *claimed, *actual;   /* the two values at the counterexample */
    char *diagnosis;          /* e.g. "sign error; missing factor w₂₁₁" */
} claim_result;

/*
 * Judge every claim of the case into res[0 .. cs->nclaims) (zeroed here).
 * Returns GP_OK, or GP_ENOMEM / GP_EINTERNAL; free each result with
 * claim_result_free() in every case.
 */
gp_status claims_judge(gp_case *cs, const claims_opts *o, claim_result *res);
void claim_result_free(claim_result *r);

struct buf;
/* Count the verdicts of res[0 .. n). */
void claims_summarise(const claim_result *res, size_t n, gp_claims_summary *S);
/* The claims report: one line per claim and a summary (text), or the JSON
   object {"ok": ..., "claims": [...], "summary": {...} without its closing
   brace, so that a caller can add members.  K: numeric points per claim. */
void claims_write_text(struct buf *o, const gp_case *cs, const claim_result *res, const gp_claims_summary *S, unsigned K);
void claims_write_json(struct buf *o, const gp_case *cs, const claim_result *res, const gp_claims_summary *S, unsigned K);
#endif

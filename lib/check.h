/*
 * check.h -- the three routes to every gradient compared (DESIGN.md §5):
 * the symbolic derivative evaluated in MPFR (the reference), central
 * differences with Richardson extrapolation in MPFR, and the double
 * backprop engine of tape.c.  Also the reference used to judge gradients
 * computed elsewhere (`verify`), and the engine as a tool (`grad`).
 */
#ifndef GP_CHECK_H
#define GP_CHECK_H
#include <mpfr.h>
#include <stdint.h>

#include "build.h"

#define CHECK_POINTS 4        /* parameter points, default */
#define CHECK_PREC 256        /* bits of the reference and of the differences */
#define CHECK_SAMPLES 8       /* random samples per point when the case has no data */
#define CHECK_DIRECTIONS 2    /* random directions per point with --directional */
#define CHECK_PER_PARAM_MAX 1000 /* above this many params, directions unless per_param:
                                  one difference per param costs params x nodes */
#define CHECK_SLACK 1.01      /* the backprop bound is first order: room for the rest */

typedef struct check_opts {
    unsigned points;          /* 0: CHECK_POINTS */
    mpfr_prec_t prec;         /* 0: CHECK_PREC */
    uint64_t seed;            /* 0: a fixed default */
    int directional;          /* compare v.grad along random directions */
    unsigned directions;      /* per point, 0: CHECK_DIRECTIONS */
    int per_param;            /* one difference per param however many there are */
    int auto_directional;     /* set by check_resolve: directions for the size */
} check_opts;

/* Settle the route for cs: directional when asked, or when cs has more than
   CHECK_PER_PARAM_MAX params and per_param is not set (auto_directional). */
void check_resolve(const gp_case *cs, check_opts *o);

/* One param (or one direction) at its worst point. */
typedef struct check_entry {
    size_t param;             /* ordinal; directions: the direction's number */
    int ok, fd_ok, bp_ok;
    int fd_status;            /* fd_status of the worst point's difference */
    int seen;                 /* compared at one point at least */
    double badness;           /* max of error / allowed over both routes: > 1 fails */
    unsigned point;           /* the worst point, 1-based */
    long sample;              /* its sample for a per-sample loss, else -1 */
    char *sym, *fd, *fd_err;  /* decimal strings (malloc) */
    double bp, bound;
    double fd_rel_err;        /* |fd - sym| / |sym| (absolute when sym = 0) */
    double bp_ulp_err;        /* |bp - sym| in ulps of sym */
    double bp_ulp_bound;      /* the running error bound in the same ulps */
    mpfr_prec_t fd_prec;      /* precision of the difference's last attempt */
} check_entry;

typedef struct check_report {
    int ok;                   /* every entry ok (and at least one point) */
    size_t nentries;          /* params, or points x directions */
    check_entry *e;
    unsigned points;          /* points compared */
    unsigned at_points;       /* of which from `at` lines */
    unsigned redrawn_kink, redrawn_fault, redrawn_double;
    char *kink_where;         /* the first kink that made a redraw ("relu, line 7") */
    char *fault_where;        /* the first fault ("log of a negative number, line 9") */
    unsigned skipped_at;      /* `at` points that could not be used */
    const char *at_reason;    /* why the first was not (static) */
    size_t nsamples;          /* samples per point */
    int own_data;             /* the case has no data: random samples */
    int per_sample;           /* the loss is per sample: each sample is checked */
    mpfr_prec_t prec, fd_max_prec;
    mpfr_prec_t ref_max_prec; /* the reference's highest precision (Ziv's loop) */
    unsigned long fd_evals;
    size_t nbad;
    double worst_ulp;         /* the largest backprop error in ulps */
    size_t worst_param;
} check_report;

gp_status check_run(gp_case *cs, const check_opts *o, check_report *r);
void check_report_free(check_report *r);

struct buf;
/* The report: the table and the summary as text (fmt GP_FMT_TEXT), LaTeX
   (a longtable and paragraphs), or the JSON object of DESIGN.md §4 without
   its closing brace (GP_FMT_JSON), so that a caller can add members. */
gp_status check_write(struct buf *o, const gp_case *cs, const check_report *R, const check_opts *op, gp_format fmt);

#endif

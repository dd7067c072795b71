/*
 * gradproof.h -- the public interface of libgradproof.
 *
 * Ownership, in one sentence: functions borrow their arguments; every gp_case
 * and every diagnostic belongs to the gp_ctx that made it; strings returned
 * through a `char **out` are the caller's, freed with gp_free().
 *
 * Nothing in the library prints or exits.  A function that can fail returns a
 * gp_status; when the failure is the input's fault (GP_EINPUT) the reasons are
 * recorded as diagnostics in the context, each with a source position, and can
 * be read back with gp_diag_count()/gp_diag_get() or rendered with
 * gp_diag_render().
 *
 * The types are opaque; their fields are private.
 */
#ifndef GRADPROOF_H
#define GRADPROOF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GP_VERSION_MAJOR 0
#define GP_VERSION_MINOR 1
#define GP_VERSION_PATCH 0
#define GP_VERSION_STRING "0.1.0"

typedef enum gp_status {
    GP_OK = 0,        /* success */
    GP_EINPUT = 1,    /* the case or an option is wrong; diagnostics say why */
    GP_ELIMIT = 2,    /* a documented limit was exceeded; a diagnostic names it */
    GP_ENOMEM = 3,    /* out of memory */
    GP_EIO = 4,       /* a file could not be read */
    GP_EINTERNAL = 5  /* an invariant broke: a bug in gradproof */
} gp_status;

typedef struct gp_ctx gp_ctx;   /* owns the DAG, the cases and the diagnostics */
typedef struct gp_case gp_case; /* one loaded case file */

/* Limits.  Exceeding one is a GP_ELIMIT with a diagnostic that names it. */
typedef struct gp_limits {
    size_t max_file_bytes;  /* size of a case or data file (default 64 MiB) */
    size_t max_nodes;       /* DAG nodes in one context (default 50 million) */
    unsigned max_depth;     /* nesting of parentheses, calls and operators (default 1000) */
    size_t max_elements;    /* elements of all indexed names together (default 10 million) */
    size_t max_expand_terms;/* terms of an expanded polynomial (default 100000) */
    unsigned long max_precision; /* bits of any MPFR evaluation: the precision
                                    asked for, and the reference's own raises
                                    (default 65536) */
} gp_limits;

/* Create a context with the default limits; NULL when out of memory. */
gp_ctx *gp_ctx_new(void);
/* Free a context and everything it owns; accepts NULL. */
void gp_ctx_free(gp_ctx *c);
/* Read or replace the limits of a context (before loading a case). */
void gp_ctx_get_limits(const gp_ctx *c, gp_limits *out);
void gp_ctx_set_limits(gp_ctx *c, const gp_limits *in);

/* Free a string returned by the library; accepts NULL. */
void gp_free(void *p);

/*
 * Load a case from memory.  `name` is the file name used in diagnostics and
 * the directory against which `data "file.csv"` is resolved ("-" or NULL: the
 * current directory).  On success *out is the case, owned by the context.
 * Returns GP_EINPUT (diagnostics recorded) when the case is malformed.
 */
gp_status gp_case_load(gp_ctx *c, const char *name, const char *text,
                       size_t len, gp_case **out);
/* Load a case from a file; path "-" reads standard input. */
gp_status gp_case_load_file(gp_ctx *c, const char *path, gp_case **out);

/* Diagnostics recorded in the context, in the order they were found. */
typedef enum gp_severity { GP_SEV_ERROR, GP_SEV_WARNING, GP_SEV_NOTE } gp_severity;
typedef struct gp_diag_info {
    gp_severity severity;
    const char *file;     /* file name as given to the loader */
    unsigned line;        /* 1-based; 0 when the diagnostic has no position */
    unsigned column;      /* 1-based, in code points */
    unsigned end_column;  /* one past the last column underlined */
    const char *message;  /* lower-case, no trailing period */
} gp_diag_info;

size_t gp_diag_count(const gp_ctx *c);
/* Fill *out with diagnostic i; its strings live as long as the context. */
void gp_diag_get(const gp_ctx *c, size_t i, gp_diag_info *out);
/*
 * Render diagnostic i as "FILE:LINE:COL: error: MESSAGE", then the source
 * line and a caret under the fault.  The result is the caller's.
 */
gp_status gp_diag_render(const gp_ctx *c, size_t i, char **out);
/* Record a diagnostic without a source position (used for option errors). */
void gp_diag_add(gp_ctx *c, gp_severity sev, const char *message);

/* Output formats of the renderers. */
typedef enum gp_format {
    GP_FMT_TEXT, GP_FMT_MARKDOWN, GP_FMT_LATEX, GP_FMT_JSON
} gp_format;

/* What `gradproof derive` shows. */
typedef struct gp_derive_opts {
    gp_format format;
    int expand;             /* nonzero: expanded in weights and inputs */
    const char *const *wrt; /* NULL, or the params to show (names as written in the case) */
    size_t nwrt;
} gp_derive_opts;

/*
 * Derive the loss of a case with respect to its params and render the
 * derivative table.  *out is the caller's.  GP_EINPUT when a `wrt` name is
 * not a param (a diagnostic says which).
 */
gp_status gp_derive_render(gp_case *cs, const gp_derive_opts *opts, char **out);

/* What `gradproof claims` shows. */
typedef struct gp_claims_opts {
    gp_format format;          /* GP_FMT_TEXT or GP_FMT_JSON (the others: text) */
    unsigned points;           /* numeric points per claim (0: 24) */
    unsigned long long seed;   /* seed of the random points (0: the default) */
} gp_claims_opts;

/* How the claims of a case came out. */
typedef struct gp_claims_summary {
    size_t claims;   /* claim lines */
    size_t hold;     /* proved (exact) or holding at every point (numeric) */
    size_t fail;     /* refuted by a counterexample */
    size_t unknown;  /* neither: no point where both sides could be evaluated */
} gp_claims_summary;

/*
 * Judge every `claim` line of a case (holds, fails or unknown; exact where
 * both sides are rational functions, numeric otherwise), with a
 * counterexample and a diagnosis for each failure, and render the report:
 * one line per claim and a summary (text), or the JSON document of
 * DESIGN.md §4, diagnostics included.  *out is the caller's; *sum (may be
 * NULL) gets the counts.  GP_ENOMEM or GP_EINTERNAL on failure.
 */
gp_status gp_claims_render(gp_case *cs, const gp_claims_opts *opts, char **out, gp_claims_summary *sum);

/* What `gradproof check` does. */
typedef struct gp_check_opts {
    gp_format format;           /* GP_FMT_TEXT or GP_FMT_JSON */
    unsigned points;            /* parameter points (0: 4) */
    unsigned long precision;    /* bits of the reference (0: 256) */
    unsigned long long seed;    /* seed of the random points (0: the default) */
    int directional;            /* compare v.grad along random directions */
    unsigned directions;        /* directions per point (0: 2) */
    int per_param;              /* one difference per param even above 1000
                                   params (else directions there) */
} gp_check_opts;

typedef struct gp_check_summary {
    int ok;                     /* the routes agree at every point (claims aside) */
    size_t entries;             /* params (or directions) compared */
    size_t disagree;            /* of which the routes disagree on */
    unsigned points;            /* points compared (0: nothing could be) */
    size_t claims_fail, claims_unknown;
} gp_check_summary;

/*
 * Compare, for every param, the symbolic derivative evaluated in MPFR, MPFR
 * finite differences and the double backprop engine, at seeded points, and
 * judge the case's claims (DESIGN.md §5); render the table and summary
 * (text) or the JSON of DESIGN.md §4.  *out is the caller's.
 */
gp_status gp_check_render(gp_case *cs, const gp_check_opts *opts, char **out, gp_check_summary *sum);

/* What `gradproof symmetry` does. */
typedef struct gp_symmetry_opts {
    gp_format format;          /* GP_FMT_TEXT or GP_FMT_JSON */
    unsigned long long seed;   /* seed of the random points (0: the default) */
    const char *clamp;         /* NULL, or a proposed clamp set: param names separated by commas */
} gp_symmetry_opts;

/* How the symmetry analysis came out. */
typedef struct gp_symmetry_summary {
    size_t params;
    long rank;                 /* generic rank of the output Jacobian */
    int clamp_given;
    int clamp_valid;           /* the proposed clamp set keeps the rank */
    int unknown;               /* no point where the analysis could evaluate */
} gp_symmetry_summary;

/*
 * Rank, clamp sets, permutation group, linear symmetries, conserved
 * quantities, sign flips, equal gradients, effective model and input
 * dependencies of a case (DESIGN.md §5), rendered.  GP_EINPUT when a clamp
 * name is not a param.
 */
gp_status gp_symmetry_render(gp_case *cs, const gp_symmetry_opts *opts, char **out, gp_symmetry_summary *sum);

/* What `gradproof grad` does. */
typedef struct gp_grad_opts {
    gp_format format;           /* GP_FMT_TEXT or GP_FMT_JSON */
    unsigned long long seed;    /* seed of random values (0: the default) */
    int last_at;                /* use the case's last `at` line (else its first) */
} gp_grad_opts;

/*
 * The double backprop engine on one point: the loss and its gradient, each
 * with its rounding-error bound, over the case's data (or seeded random
 * samples, included in the JSON).  *finite is 0 when a value is not finite.
 */
gp_status gp_grad_render(gp_case *cs, const gp_grad_opts *opts, char **out, int *finite);

/* What `gradproof verify` does. */
typedef struct gp_verify_opts {
    gp_format format;           /* GP_FMT_TEXT or GP_FMT_JSON */
    unsigned long long seed;    /* seed of the random samples when the case has no data */
} gp_verify_opts;

typedef struct gp_verify_summary {
    size_t entries, wrong, unknown;
    size_t points;
} gp_verify_summary;

/*
 * Judge gradients computed by another engine, text[0..len) (JSON or CSV,
 * named `name` in diagnostics), against the symbolic derivative evaluated
 * in MPFR, each within the computation's rounding-error bound.  GP_EINPUT
 * with diagnostics (file:line:column) when the file is malformed.
 */
gp_status gp_verify_render(gp_case *cs, const gp_verify_opts *opts, const char *name, const char *text, size_t len,
                           char **out, gp_verify_summary *sum);

/* What `gradproof dot` draws. */
typedef struct gp_dot_opts {
    const char *highlight;     /* NULL, or a param (as written in the case): the
                                  chain-rule paths from the loss to it in colour */
} gp_dot_opts;

/*
 * The network of a case as a Graphviz DOT graph: inputs, hidden units and
 * outputs by layer, params as labelled edges, activations on the nodes.
 * GP_EINPUT when the highlighted name is not a param.
 */
gp_status gp_dot_render(gp_case *cs, const gp_dot_opts *opts, char **out);

/* What `gradproof report` writes. */
typedef struct gp_report_opts {
    gp_format format;          /* GP_FMT_MARKDOWN (default), GP_FMT_LATEX or GP_FMT_JSON */
    int fragment;              /* latex: the sections alone, no preamble */
    unsigned long long seed;   /* seed of the random points (0: the default) */
    const char *picture;       /* NULL, or the address of the network's SVG to link */
} gp_report_opts;

typedef struct gp_report_summary {
    int check_ok;              /* the three routes agree */
    size_t claims_fail, claims_unknown;
} gp_report_summary;

/*
 * One document per case: the title, the network's equations, the
 * derivative table, the check summary, every claim's verdict and the
 * symmetry report.  *out is the caller's.
 */
gp_status gp_report_render(gp_case *cs, const gp_report_opts *opts, char **out, gp_report_summary *sum);

/* The title of a case ("" when it has none), owned by the case. */
const char *gp_case_title(const gp_case *cs);

#ifdef __cplusplus
}
#endif
#endif

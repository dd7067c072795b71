/*
 * fd.h -- derivatives of a scalar function by central differences with
 * Richardson extrapolation in GNU MPFR, with an error bound, raising the
 * precision until the bound is small enough (MPFR's Ziv loop).
 *
 * fd differentiates g(t) at t = 0, where g is the caller's callback; the
 * caller makes g(t) = C(theta + t v) for a unit param direction or a random
 * direction v.  Every t that fd passes is +-2^e (scale rounded to a power
 * of two, times a power of two), exact at any precision, so t v is exact and
 * theta + t v costs the caller one rounding.
 *
 * Ownership: fd_derivative() borrows g, ud and the options; it writes only
 * *r (initialised by fd_result_init, cleared by fd_result_clear).  Everything
 * else it allocates is freed before it returns, on every path.  The MPFR
 * flags are restored on return (including any the callback raised); the
 * default precision and the exponent range are not touched.
 */
#ifndef GP_FD_H
#define GP_FD_H
#include <mpfr.h>

/*
 * g(t) at precision prec into out (already initialised by fd at precision
 * prec, and poisoned with NaN).  Returns FD_EVAL_OK, FD_EVAL_FAULT (g is
 * undefined there: log of a negative, ...), FD_EVAL_KINK (a kink of
 * relu/abs/step/sign lies between 0 and t: the caller compares sign
 * patterns), or FD_EVAL_ERROR (out of memory: fd stops and returns it).
 * A value that is NaN or infinite with FD_EVAL_OK counts as a fault; any
 * other return value as FD_EVAL_ERROR.
 * The value must be within g_ulps * 2^-prec * M of g(t), M = max |g| over
 * 0, t and -t (see fd_opts.g_ulps).
 */
typedef int (*fd_fn)(void *ud, mpfr_t out, mpfr_srcptr t, mpfr_prec_t prec);
enum { FD_EVAL_OK = 0, FD_EVAL_FAULT = 1, FD_EVAL_KINK = 2, FD_EVAL_ERROR = -1 };

#define FD_PREC_MIN 64      /* smaller starting precisions are raised to this */
#define FD_G_ULPS 16.0      /* default error of one value of g, in units 2^-prec M */

typedef struct fd_opts {
    mpfr_prec_t prec;       /* working precision to start with (e.g. 256); < FD_PREC_MIN means FD_PREC_MIN */
    mpfr_prec_t max_prec;   /* raise up to this (e.g. 4096); below prec means prec (no raising) */
    double scale;           /* typical size of the variable, > 0 (else 1): steps are 2^round(log2 scale) * 2^-k */
    double g_ulps;          /* error of each g value in units of 2^-prec M (M: max |g| over 0, +-t),
                               constant over precisions; <= 0 (or NaN) means FD_G_ULPS.  Raise it
                               when g cancels (evaluating (A + e^t) - A with A = 2^200 loses 200
                               bits: g_ulps = 2^201) */
} fd_opts;

typedef enum fd_status {
    FD_OK,                  /* err meets the target at the precision used */
    FD_KINK,                /* g reported a kink inside a stencil: redraw the point */
    FD_FAULT,               /* g undefined (or not finite) at a point of a stencil */
    FD_INACCURATE,          /* max_prec reached without meeting the target: best estimate, its err */
    FD_NOMEM                /* g returned FD_EVAL_ERROR */
} fd_status;

typedef struct fd_result {
    fd_status status;       /* as above */
    mpfr_t value;           /* the derivative estimate, at the table's precision (prec + 32 bits);
                               NaN on FD_KINK, FD_FAULT, FD_NOMEM */
    mpfr_t err;             /* bound on |value - g'(0)| (64 bits, rounded up): truncation estimate
                               times a safety factor + rounding bound; +Inf when value is NaN
                               or when no column of the table converged */
    mpfr_prec_t prec;       /* precision of the final attempt */
    unsigned evals;         /* calls of g, over all attempts */
    unsigned raises;        /* times the precision was raised */
    mpfr_t h;               /* the largest step (h0) of the attempt that gave value (exact) */
    mpfr_t target;          /* the accuracy asked for at the reported attempt's precision p:
                               2^-ceil(p/4) (|value| + M/scale), M = max |g| over the steps
                               the estimate uses; NaN when nothing converged */
} fd_result;

/* Initialise r (value NaN, err +Inf, counters 0); pair with fd_result_clear. */
void fd_result_init(fd_result *r);
void fd_result_clear(fd_result *r);

/*
 * g'(0) into r.  o may be NULL: prec 256, max_prec 4096, scale 1, g_ulps
 * FD_G_ULPS.  Tries precision prec, then doubles it (capped at max_prec)
 * while the error bound misses the target 2^-ceil(p/4) (|value| + M/scale).
 * Returns r->status: FD_OK, FD_INACCURATE (value and err are then the
 * attempt with the smallest err, a bound but not a tight one, +Inf if the
 * table never converged), or at the first kink, fault or memory failure
 * reported by g, FD_KINK, FD_FAULT or FD_NOMEM (value NaN, err +Inf).
 * r->evals and r->raises count every case.  The bound assumes g is
 * resolved by the steps (down to scale 2^-(e0+23), e0 ~ p/9): see the
 * limits in fd.c.  g's own error is measured (the rows again at p + 64
 * bits) before a result is reported, and g_ulps raised when g is worse
 * than it says.  A smooth g costs about 15 + 14 calls; one that never
 * converges 97 per precision tried until g is measured, 49 after.
 */
fd_status fd_derivative(fd_result *r, fd_fn g, void *ud, const fd_opts *o);
#endif

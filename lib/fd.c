/*
 * fd.c -- g'(0) by central differences with Richardson extrapolation in GNU
 * MPFR, with an error bound, the precision raised until the bound is small
 * (MPFR's Ziv loop).  The table and the choice of its entry follow GSL's
 * gsl_deriv_central and Numerical Recipes' dfridr.
 *
 * One attempt at p bits builds, row by row, the Neville table of
 *   D(h) = (g(h) - g(-h)) / 2h  =  g'(0) + a1 h^2 + a2 h^4 + ...,
 *   a_k = g^(2k+1)(0) / (2k+1)!,
 * over the steps h_i = h0 2^-i, i = 0 .. ROWS-1 (ROWS = 24):
 *   T[i][0] = D(h_i),  T[i][j+1] = T[i][j] + d(i,j) / (4^(j+1) - 1),
 *   d(i,j) = T[i][j] - T[i-1][j],
 * so T[i][j] combines D(h_{i-j}) .. D(h_i) and cancels a1 .. aj; its
 * truncation error is about |a_{j+1}| h_{i-j}^2 ... h_i^2.  Columns stop at
 * COLS = 10 (more gain nothing at these precisions).  Only two rows are kept.
 *
 * Steps.  Every t passed to g is 0 or +-2^(es - e0 - i), es = round(log2
 * scale): exact in MPFR at any precision, so t v is exact for any direction
 * v, the caller's theta + t v is one rounding, and D(h) is one subtraction
 * and an exact scaling.  h0 = 2^(es - e0) balances, for g of size G that
 * varies on the scale of its variable (|a_k| ~ G/scale^(2k+1)), the
 * truncation estimate of row n-1 (that of T[n-1][n-2], which the estimate
 * below measures: (h0/scale)^(2n-2) 2^-(n(n-1)) G/scale) against the rounding
 * of D(h_{n-1}) (2^-pe 2^(n-1) G/h0, pe = p - log2 g_ulps the bits g is good
 * to):
 *   e0 = max(2, ceil((pe - (n^2 - 1)) / (2n - 1))),  n = DEPTH = 5,
 * h0 = scale 2^-26 at 256 bits, 2^-55 at 512, 2^-112 at 1024.  A smooth g
 * then gets about 8p/9 bits in ~15 calls, and 14 more to measure g's error
 * (see below) (err 2^-220 for exp at 256 bits,
 * where central differences alone stop near (2^-256)^(2/3) = 2^-170).  The
 * table goes on while it improves, down to h0 2^-23, so g steeper than its
 * scale (tanh(40 t), a pole 2^-10 away, features down to 2^-40 of the scale
 * at 256 bits) costs rows, not precision; a steeper g (sin(2^45 t)) needs
 * the smaller h0 of a higher precision.
 *
 * Error budget of an entry (bounds are 64-bit MPFR numbers rounded up; the
 * table itself is computed at wp = p + 32 bits):
 *  - rounding: each g value is within g_ulps 2^-p M of g(t), M = max |g| over
 *    0, h, -h (the caller's contract, fd_opts.g_ulps, 16 ulps by default), so
 *      R[i][0]   = (2 g_ulps 2^-p M + 2^-wp |g(h) - g(-h)|) / 2h_i,
 *      R[i][j+1] = R[i][j] + (R[i][j] + R[i-1][j]) / (4^(j+1) - 1)
 *                  + 2^-wp (|T[i][j+1]| + 3 |d(i,j)| / (4^(j+1) - 1)),
 *    the last line for the step's three roundings.  This carries the
 *    amplification by 1/h and by the sum of |Richardson coefficients| (< 2)
 *    exactly, entry by entry.
 *  - truncation: T[i][j+1] is estimated by dfridr's max(|T[i][j+1] -
 *    T[i][j]|, |T[i][j+1] - T[i-1][j]|) = |d(i,j)| 4^(j+1)/(4^(j+1) - 1):
 *    in the asymptotic regime about 4^(j+1) times the error of T[i][j], and
 *    far more than the error of T[i][j+1] itself.  D(h_i) = T[i][0] is
 *    estimated by |d(i,0)|, 3 times its error.
 *  - err = SAFE (= 2) * truncation estimate + rounding bound.
 * The estimates mean something only in the asymptotic regime, so an entry
 * is a candidate only when its column converged at the last CONFIRM (= 2)
 * rows: d(i,j) within the rounding noise 2 (R[i][j] + R[i-1][j]), or
 * d(i-1,j)/d(i,j) between 4^(j+1)/2 and 8 4^(j+1) (8: a vanishing leading
 * term makes it 4^(j+2)).  A converged column whose difference then jumps
 * (more than doubles, above the noise) voids every candidate before that
 * row: the agreement was aliasing (sin(w t) with w h_i near multiples of
 * 2 pi for a few i) or noise beyond g_ulps.  A candidate that disagrees with
 * the best by more than their two bounds widens the best's bound to cover
 * both.  The best candidate (smallest err) is the result; the table stops at
 * the first row that does not halve it once err meets the target (dfridr
 * stops when the error grows; at the rounding floor it stays flat).
 *
 * Target ("good enough"): err <= 2^-ceil(p/4) (|value| + M/2^es), M = max
 * |g| over the rows the best entry uses: about 64 correct bits at 256 (M,
 * not |g(0)| alone, makes g(t) = t^2 at 0 reachable).  An attempt that
 * misses it widens its err to the spread of its last row around its value
 * and is redone whole at twice the precision, capped at max_prec; after
 * max_prec the status is FD_INACCURATE, with the attempt of smallest err.
 *
 * Measuring g's error.  Every bound above takes the caller's g_ulps on
 * trust, and a g that cancels inside breaks it: (d/3 - 1/3)^2 at d = 0.99
 * loses 7 bits in d/3 - 1/3, its values are 100 ulps of M off against the
 * 23 that gradproof check declares.  Then the differences are rounding
 * noise above every noise test: no column converges and err stays +Inf at
 * every precision (the excess, in ulps, never shrinks), or two rows agree
 * by chance and a column converges to the noise with an err far too small.
 * So the values of an attempt are measured before it is taken, and after
 * one that missed its target until a measurement finds g within g_ulps:
 * g(+-h_i) of every row again at p + MEASURE bits, |g_p - g_p2| being each
 * value's error (to 2^-64 of it: g_ulps is constant over precisions).
 * When twice the largest, in units 2^-p Mrow, exceeds g_ulps, it becomes
 * g_ulps (for the higher precisions too) and the table is rebuilt from the
 * same values, its rounding bounds now holding for every value in it.
 * Structure of g narrower than the steps can look like noise as well
 * (t + 2^-200 sin(2^100 t) at 256 bits), but is no rounding: g at p2
 * agrees, nothing changes, and the precision rises.  The cost is 2 calls
 * per row at p + 64 bits; a g that never converges costs 97 calls per
 * precision until one measurement finds it within g_ulps, 49 after.  A g
 * whose error does not shrink with the precision (one that rounds to
 * double inside) escapes the measurement.
 *
 * Limits.  Honesty rests on the table reaching its asymptotic regime, which
 * samples at steps >= h0 2^-23 cannot prove: structure of g narrower than
 * the smallest step is invisible.  A soft kink, sqrt(1 + (K t)^2) with K far
 * above 1/h_23, makes D(h) analytic in h^2 over every step used, and the
 * table converges, err tiny, to a wrong limit; that is the caller's kink
 * test's job (FD_EVAL_KINK) or its choice of scale.  Over 160000 random
 * functions with features down to 2^-41 of the scale (tests/test_fd.c with
 * -DNRANDOM=20000, seeds 1-8) no bound failed, FD_INACCURATE ones included
 * (largest |value - g'(0)|/err 0.05); with features down to 2^-61
 * (-DSTEEP=60) 1 in 5000 FD_OK and 1 in 120 FD_INACCURATE bounds failed.
 * Over 160000 random quadratics and cubics (-DNQUAD=20000, seeds 1-8), half
 * of them cancelling near their vertex by up to 31 bits beyond the g_ulps
 * declared, all were FD_OK at the first precision, largest ratio 0.27
 * (before the measurement: half of the cancelling ones FD_INACCURATE with
 * err +Inf, 1 in 30 FD_OK with a bound that failed).
 *
 * Owns: for one call, the run state (two table rows, their bounds and
 * differences, the values of g of every row, scratch), all mpfr_t, cleared on every path; no heap memory
 * of its own.  The caller's MPFR flags are saved and restored.
 */
#include "fd.h"

#include <math.h>

#define DEPTH 5        /* table rows the step rule balances for */
#define ROWS 24        /* most rows of one table: steps h0 .. h0 2^-23 */
#define COLS 10        /* most Richardson columns (T[i][0..COLS]) */
#define CONFIRM 2      /* rows in a row a column must converge at */
#define WINDOW 8       /* d(i-1,j)/d(i,j) at most WINDOW 4^(j+1) */
#define GUARD 32       /* extra bits of the table arithmetic */
#define EPREC 64       /* precision of error bounds (rounded up) */
#define SAFE 2         /* safety factor on the truncation estimates */
#define E0_MIN 2       /* h0 <= scale / 4 */
#define MEASURE 64     /* g's error at p is measured against g at p + MEASURE */

/* One table at one precision: the state of an attempt. */
typedef struct fd_run {
    fd_fn g;                  /* the caller's function */
    void *ud;                 /* its data */
    unsigned *evals;          /* the result's counter */
    double gulps;             /* error of one g value, units 2^-p M */
    long es;                  /* scale rounded: 2^es */
    long e0;                  /* h0 = 2^(es - e0) */
    mpfr_prec_t p;            /* precision of g */
    mpfr_prec_t wp;           /* precision of the table: p + GUARD */
    long last;                /* the last row computed */
    int conv[COLS];           /* consecutive rows at which column j converged */
    mpfr_t t;                 /* the argument passed to g (exact) */
    mpfr_t g0, gp, gm;        /* g(0), g(h_i), g(-h_i), at p */
    mpfr_t T[2][COLS + 1];    /* table rows i-1 and i (alternating by parity), at wp */
    mpfr_t R[2][COLS + 1];    /* rounding bounds of those entries */
    mpfr_t dd[2][COLS];       /* d(i,j) = T[i][j] - T[i-1][j] of those rows */
    mpfr_t Mrow[ROWS];        /* max(|g(0)|, |g(h_i)|, |g(-h_i)|) of each row */
    mpfr_t gpv[ROWS], gmv[ROWS]; /* g(h_i), g(-h_i) of each row, at p: kept for a rebuild */
    mpfr_t hi;                /* g at the measuring precision (see measure) */
    int replay;               /* rebuild the table from gpv, gmv (no calls of g) */
    int measured;             /* g's error was measured and found within gulps */
    mpfr_t d, q;              /* scratch at wp */
    mpfr_t a, b, e;           /* scratch at EPREC */
    mpfr_t bv;                /* the attempt's best entry, at wp (NaN: none yet) */
    mpfr_t be;                /* its error bound (+Inf: none yet) */
    mpfr_t Mb;                /* max of Mrow over the rows bv depends on */
    mpfr_t rowbest;           /* smallest error bound of the current row */
    mpfr_t before;            /* be/2 before the current row */
} fd_run;

static void run_init(fd_run *s, mpfr_prec_t p)
{
    mpfr_inits2(p, s->t, s->g0, s->gp, s->gm, s->d, s->q, s->bv, (mpfr_ptr)0);
    mpfr_inits2(EPREC, s->a, s->b, s->e, s->be, s->Mb, s->rowbest, s->before, (mpfr_ptr)0);
    mpfr_init2(s->hi, p);
    for (int k = 0; k < ROWS; k++) {
        mpfr_init2(s->Mrow[k], EPREC);
        mpfr_init2(s->gpv[k], p);
        mpfr_init2(s->gmv[k], p);
    }
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k <= COLS; k++) {
            mpfr_init2(s->T[r][k], p);
            mpfr_init2(s->R[r][k], EPREC);
        }
        for (int k = 0; k < COLS; k++)
            mpfr_init2(s->dd[r][k], EPREC);
    }
}

static void run_clear(fd_run *s)
{
    mpfr_clears(s->t, s->g0, s->gp, s->gm, s->d, s->q, s->bv, (mpfr_ptr)0);
    mpfr_clears(s->a, s->b, s->e, s->be, s->Mb, s->rowbest, s->before, (mpfr_ptr)0);
    mpfr_clear(s->hi);
    for (int k = 0; k < ROWS; k++) {
        mpfr_clear(s->Mrow[k]);
        mpfr_clear(s->gpv[k]);
        mpfr_clear(s->gmv[k]);
    }
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k <= COLS; k++) {
            mpfr_clear(s->T[r][k]);
            mpfr_clear(s->R[r][k]);
        }
        for (int k = 0; k < COLS; k++)
            mpfr_clear(s->dd[r][k]);
    }
}

/* The precisions of an attempt at p bits (values become NaN). */
static void run_prec(fd_run *s, mpfr_prec_t p)
{
    s->p = p;
    s->wp = p + GUARD;
    mpfr_set_prec(s->t, p);
    mpfr_set_prec(s->g0, p);
    mpfr_set_prec(s->gp, p);
    mpfr_set_prec(s->gm, p);
    mpfr_set_prec(s->d, s->wp);
    mpfr_set_prec(s->q, s->wp);
    mpfr_set_prec(s->bv, s->wp);
    for (int k = 0; k < ROWS; k++) {
        mpfr_set_prec(s->gpv[k], p);
        mpfr_set_prec(s->gmv[k], p);
    }
    for (int r = 0; r < 2; r++)
        for (int k = 0; k <= COLS; k++)
            mpfr_set_prec(s->T[r][k], s->wp);
}

/* out = g(t), t = sign 2^(es - e0 - i) (t = 0 when sign is 0). */
static fd_status eval(fd_run *s, mpfr_ptr out, int sign, long i)
{
    if (sign == 0)
        mpfr_set_zero(s->t, 1);
    else
        mpfr_set_si_2exp(s->t, sign, s->es - s->e0 - i, MPFR_RNDN); /* exact */
    mpfr_set_nan(out);                                               /* poison */
    ++*s->evals;
    switch (s->g(s->ud, out, s->t, s->p)) {
    case FD_EVAL_OK:
        break;
    case FD_EVAL_KINK:
        return FD_KINK;
    case FD_EVAL_FAULT:
        return FD_FAULT;
    default: /* FD_EVAL_ERROR, or a code outside the contract */
        return FD_NOMEM;
    }
    return mpfr_number_p(out) ? FD_OK : FD_FAULT;
}

/* x = |y| rounded up (to x's precision). */
static void absup(mpfr_ptr x, mpfr_srcptr y) { mpfr_abs(x, y, MPFR_RNDU); }

/* tg = 2^-ceil(p/4) (|v| + M 2^-es), rounded down: the accuracy asked for. */
static void target(mpfr_ptr tg, mpfr_srcptr v, mpfr_srcptr M, long es, mpfr_prec_t p, mpfr_ptr tmp)
{
    mpfr_abs(tg, v, MPFR_RNDD);
    mpfr_mul_2si(tmp, M, -es, MPFR_RNDD);
    mpfr_add(tg, tg, tmp, MPFR_RNDD);
    mpfr_mul_2si(tg, tg, -(long)((p + 3) / 4), MPFR_RNDD);
}

/* A candidate entry T, computed from rows lo..i, with truncation estimate
   s->a and rounding bound R: its error bound is e = SAFE a + R.  If both
   bounds hold, |T - bv| <= e + be; when that fails one of the two columns
   only looked converged, and the best's bound widens to |T - bv| + e, which
   holds if the candidate's does.  Otherwise T becomes the best when e is
   smaller. */
static void candidate(fd_run *s, mpfr_srcptr T, mpfr_srcptr R, long lo, long i)
{
    mpfr_mul_ui(s->e, s->a, SAFE, MPFR_RNDU);
    mpfr_add(s->e, s->e, R, MPFR_RNDU);
    if (mpfr_number_p(s->be)) {
        mpfr_sub(s->b, T, s->bv, MPFR_RNDA);
        mpfr_abs(s->b, s->b, MPFR_RNDU);
        mpfr_add(s->a, s->e, s->be, MPFR_RNDD);
        if (mpfr_greater_p(s->b, s->a)) {
            mpfr_add(s->b, s->b, s->e, MPFR_RNDU);
            mpfr_max(s->be, s->be, s->b, MPFR_RNDU);
            return;
        }
    }
    if (mpfr_less_p(s->e, s->rowbest))
        mpfr_set(s->rowbest, s->e, MPFR_RNDU);
    if (mpfr_less_p(s->e, s->be)) {
        mpfr_set(s->be, s->e, MPFR_RNDU);
        mpfr_set(s->bv, T, MPFR_RNDN); /* same precision: exact */
        mpfr_set(s->Mb, s->Mrow[lo], MPFR_RNDU);
        for (long k = lo + 1; k <= i; k++)
            mpfr_max(s->Mb, s->Mb, s->Mrow[k], MPFR_RNDU);
    }
}

/* Whether d(i,j) is within the rounding noise of its two entries,
   2 (R[i][j] + R[i-1][j]). */
static int noise(fd_run *s, long i, long j)
{
    int cur = (int)(i & 1), prv = cur ^ 1;
    mpfr_add(s->a, s->R[cur][j], s->R[prv][j], MPFR_RNDU);
    mpfr_mul_2ui(s->a, s->a, 1, MPFR_RNDU);
    return mpfr_cmpabs(s->dd[cur][j], s->a) <= 0;
}

/* Whether column j converges at row i, so that d(i,j) measures the error:
   d(i,j) is noise, or d(i-1,j)/d(i,j) is in [rate/2, WINDOW rate] (rate =
   4^(j+1), its asymptotic value). */
static int converged(fd_run *s, long i, long j)
{
    int cur = (int)(i & 1), prv = cur ^ 1;
    unsigned long rate = 1ul << (2 * j + 2);
    if (noise(s, i, j))
        return 1;
    if (i - 1 <= j || mpfr_sgn(s->dd[cur][j]) != mpfr_sgn(s->dd[prv][j]))
        return 0;
    mpfr_mul_ui(s->a, s->dd[cur][j], rate / 2, MPFR_RNDU);
    if (mpfr_cmpabs(s->dd[prv][j], s->a) < 0)
        return 0;
    mpfr_mul_ui(s->a, s->dd[cur][j], rate * WINDOW, MPFR_RNDD);
    return mpfr_cmpabs(s->dd[prv][j], s->a) <= 0;
}

/* Whether column j, converged at row i-1, jumps at row i: |d(i,j)| above
   the noise and above 2 |d(i-1,j)|. */
static int jumped(fd_run *s, long i, long j)
{
    int cur = (int)(i & 1), prv = cur ^ 1;
    if (noise(s, i, j))
        return 0;
    mpfr_mul_2ui(s->a, s->dd[prv][j], 1, MPFR_RNDD);
    return mpfr_cmpabs(s->dd[cur][j], s->a) > 0;
}

/* Row i of the table from g(h_i), g(-h_i) in s->gp, s->gm; returns whether
   a converged column jumped (see jumped). */
static int extend(fd_run *s, long i, int *ok)
{
    int cur = (int)(i & 1), prv = cur ^ 1, broke = 0;
    long hexp = s->es - s->e0 - i; /* h_i = 2^hexp */

    /* each g value is within gulps 2^-p Mrow[i] */
    absup(s->a, s->gp);
    absup(s->b, s->gm);
    mpfr_max(s->a, s->a, s->b, MPFR_RNDU);
    absup(s->b, s->g0);
    mpfr_max(s->Mrow[i], s->a, s->b, MPFR_RNDU);

    /* D(h) = (g(h) - g(-h)) / 2h: one rounding (relative 2^-wp), then an
       exact scaling; R = (2 gulps 2^-p M + 2^-wp |g(h) - g(-h)|) / 2h */
    mpfr_ptr D = s->T[cur][0], RD = s->R[cur][0];
    mpfr_sub(D, s->gp, s->gm, MPFR_RNDN);
    mpfr_mul_d(RD, s->Mrow[i], 2.0 * s->gulps, MPFR_RNDU);
    mpfr_mul_2si(RD, RD, -(long)s->p, MPFR_RNDU);
    absup(s->b, D);
    mpfr_mul_2si(s->b, s->b, -(long)s->wp, MPFR_RNDU);
    mpfr_add(RD, RD, s->b, MPFR_RNDU);
    mpfr_mul_2si(D, D, -(hexp + 1), MPFR_RNDN);
    mpfr_mul_2si(RD, RD, -(hexp + 1), MPFR_RNDU);

    for (long j = 0; j < i && j < COLS; j++) {
        unsigned long c = (1ul << (2 * j + 2)) - 1; /* 4^(j+1) - 1 */
        mpfr_ptr Tj = s->T[cur][j], Tn = s->T[cur][j + 1], Rn = s->R[cur][j + 1];
        mpfr_sub(s->d, Tj, s->T[prv][j], MPFR_RNDN); /* d(i,j) */
        mpfr_set(s->dd[cur][j], s->d, MPFR_RNDN);
        int now = converged(s, i, j);
        if (s->conv[j] && !now && jumped(s, i, j))
            broke = 1;
        s->conv[j] = now ? s->conv[j] + 1 : 0;
        ok[j] = s->conv[j] >= CONFIRM;
        /* Neville: T[i][j+1] = T[i][j] + d(i,j) / (4^(j+1) - 1) */
        mpfr_div_ui(s->q, s->d, c, MPFR_RNDN);
        mpfr_add(Tn, Tj, s->q, MPFR_RNDN);
        /* R[i][j] + (R[i][j] + R[i-1][j]) / c, and the three roundings (the
           subtraction, the division, the addition) within 2^-wp (|T| + 3|q|) */
        mpfr_add(Rn, s->R[cur][j], s->R[prv][j], MPFR_RNDU);
        mpfr_div_ui(Rn, Rn, c, MPFR_RNDU);
        mpfr_add(Rn, Rn, s->R[cur][j], MPFR_RNDU);
        absup(s->a, s->q);
        mpfr_mul_ui(s->a, s->a, 3, MPFR_RNDU);
        absup(s->b, Tn);
        mpfr_add(s->a, s->a, s->b, MPFR_RNDU);
        mpfr_mul_2si(s->a, s->a, -(long)s->wp, MPFR_RNDU);
        mpfr_add(Rn, Rn, s->a, MPFR_RNDU);
    }
    return broke;
}

/* Offer the converged entries of row i as candidates. */
static void offer(fd_run *s, long i, const int *ok)
{
    int cur = (int)(i & 1);
    for (long j = 0; j < i && j < COLS; j++) {
        if (!ok[j])
            continue;
        unsigned long c = (1ul << (2 * j + 2)) - 1;
        if (j == 0) { /* D(h_i): error ~ a1 h_i^2, d(i,0) ~ -3 a1 h_i^2 */
            absup(s->a, s->dd[cur][0]);
            candidate(s, s->T[cur][0], s->R[cur][0], i - 1, i);
        }
        /* T[i][j+1]: |d(i,j)| 4^(j+1) / (4^(j+1) - 1) */
        absup(s->a, s->dd[cur][j]);
        mpfr_mul_ui(s->a, s->a, c + 1, MPFR_RNDU);
        mpfr_div_ui(s->a, s->a, c, MPFR_RNDU);
        candidate(s, s->T[cur][j + 1], s->R[cur][j + 1], i - j - 1, i);
    }
}

/* One table at s->p bits into s->bv, s->be, s->Mb.  Returns FD_OK or the
   first kink/fault/memory status of g. */
static fd_status attempt(fd_run *s)
{
    fd_status st;
    long have = s->last; /* on a replay: the rows stored */
    if (!s->replay) {
        /* the step rule (see the top of the file); a replay keeps the steps */
        long pe = (long)s->p - (long)floor(log2(s->gulps));
        long num = pe - (DEPTH * DEPTH - 1), den = 2 * DEPTH - 1;
        s->e0 = num > 0 ? (num + den - 1) / den : 0;
        if (s->e0 < E0_MIN)
            s->e0 = E0_MIN;
        if ((st = eval(s, s->g0, 0, 0)) != FD_OK)
            return st;
    }
    mpfr_set_nan(s->bv);
    mpfr_set_inf(s->be, 1);
    mpfr_set_nan(s->Mb);
    for (int j = 0; j < COLS; j++)
        s->conv[j] = 0;
    int stale = 0;
    for (s->last = 0; s->last < ROWS; s->last++) {
        long i = s->last;
        if (s->replay) {
            if (i > have)
                break;
            mpfr_set(s->gp, s->gpv[i], MPFR_RNDN); /* same precision: exact */
            mpfr_set(s->gm, s->gmv[i], MPFR_RNDN);
        } else {
            if ((st = eval(s, s->gp, 1, i)) != FD_OK || (st = eval(s, s->gm, -1, i)) != FD_OK)
                return st;
            mpfr_set(s->gpv[i], s->gp, MPFR_RNDN);
            mpfr_set(s->gmv[i], s->gm, MPFR_RNDN);
        }
        int ok[COLS];
        if (extend(s, i, ok)) {
            /* a converged column jumped: the agreement before this row was
               aliasing or noise beyond g_ulps; trust nothing before it */
            mpfr_set_nan(s->bv);
            mpfr_set_inf(s->be, 1);
            mpfr_set_nan(s->Mb);
            for (int j = 0; j < COLS; j++)
                s->conv[j] = 0;
            stale = 0;
            continue;
        }
        mpfr_set_inf(s->rowbest, 1);
        mpfr_div_2ui(s->before, s->be, 1, MPFR_RNDU); /* a row improves by halving */
        offer(s, i, ok);
        if (i >= 2)
            stale = mpfr_less_p(s->rowbest, s->before) ? 0 : stale + 1;
        if (stale > 0) {
            target(s->e, s->bv, s->Mb, s->es, s->p, s->b);
            if (mpfr_lessequal_p(s->be, s->e))
                break;
        }
    }
    if (s->last > (s->replay ? have : ROWS - 1))
        s->last = s->replay ? have : ROWS - 1;
    if (!mpfr_number_p(s->bv)) /* nothing converged: the smallest step's D */
        mpfr_set(s->bv, s->T[s->last & 1][0], MPFR_RNDN);
    return FD_OK;
}

/* g's error, measured: g(+-h_i) again at p + MEASURE bits for every row of
   the attempt just made, each |g_p - g_p2| in units 2^-p Mrow[i] (g_p2's own
   error is 2^-MEASURE smaller, g_ulps being constant over precisions).  When
   twice the largest exceeds gulps, gulps becomes that and *more is set: the
   table rebuilt from the same values then has rounding bounds that hold for
   every value in it.  A kink, fault or non-finite value at p2 leaves gulps
   as it is; a memory failure is returned. */
static fd_status measure(fd_run *s, int *more)
{
    mpfr_prec_t p2 = s->p <= MPFR_PREC_MAX - MEASURE ? s->p + MEASURE : MPFR_PREC_MAX;
    *more = 0;
    mpfr_set_prec(s->hi, p2);
    mpfr_set_zero(s->e, 1); /* the largest error so far, units 2^-p M */
    for (long i = 0; i <= s->last; i++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            mpfr_set_si_2exp(s->t, sign, s->es - s->e0 - i, MPFR_RNDN); /* exact */
            mpfr_set_nan(s->hi);
            ++*s->evals;
            int rc = s->g(s->ud, s->hi, s->t, p2);
            if (rc == FD_EVAL_KINK || rc == FD_EVAL_FAULT || (rc == FD_EVAL_OK && !mpfr_number_p(s->hi)))
                return FD_OK;
            if (rc != FD_EVAL_OK)
                return FD_NOMEM;
            mpfr_sub(s->a, sign > 0 ? s->gpv[i] : s->gmv[i], s->hi, MPFR_RNDA);
            if (mpfr_zero_p(s->a))
                continue;
            if (mpfr_zero_p(s->Mrow[i]))
                return FD_OK; /* all zero at p, not at p2: nothing to scale by */
            mpfr_abs(s->a, s->a, MPFR_RNDU);
            mpfr_div(s->a, s->a, s->Mrow[i], MPFR_RNDU);
            mpfr_mul_2si(s->a, s->a, (long)s->p + 1, MPFR_RNDU); /* twice, units 2^-p */
            mpfr_max(s->e, s->e, s->a, MPFR_RNDU);
        }
    }
    double gu = mpfr_get_d(s->e, MPFR_RNDU);
    if (gu > s->gulps && isfinite(gu)) {
        s->gulps = gu;
        *more = 1;
    }
    return FD_OK;
}

/* Whether the attempt's err meets its target. */
static int met(fd_run *s)
{
    if (!mpfr_number_p(s->be))
        return 0;
    target(s->e, s->bv, s->Mb, s->es, s->p, s->b);
    return mpfr_lessequal_p(s->be, s->e);
}

/* An attempt that missed its target: be = max(be, |T[last][j] - bv| over
   the last row), so that a column that only looked converged, contradicted
   by the rest of the table, does not give the bound. */
static void widen(fd_run *s)
{
    if (!mpfr_number_p(s->be))
        return;
    int cur = (int)(s->last & 1);
    for (long j = 0; j <= s->last && j <= COLS; j++) {
        mpfr_sub(s->b, s->T[cur][j], s->bv, MPFR_RNDA);
        mpfr_abs(s->b, s->b, MPFR_RNDU);
        mpfr_max(s->be, s->be, s->b, MPFR_RNDU);
    }
}

void fd_result_init(fd_result *r)
{
    r->status = FD_INACCURATE;
    mpfr_inits2(EPREC, r->value, r->err, r->h, r->target, (mpfr_ptr)0);
    mpfr_set_nan(r->value);
    mpfr_set_inf(r->err, 1);
    mpfr_set_nan(r->h);
    mpfr_set_nan(r->target);
    r->prec = 0;
    r->evals = 0;
    r->raises = 0;
}

void fd_result_clear(fd_result *r) { mpfr_clears(r->value, r->err, r->h, r->target, (mpfr_ptr)0); }

fd_status fd_derivative(fd_result *r, fd_fn g, void *ud, const fd_opts *o)
{
    mpfr_flags_t flags = mpfr_flags_save();
    mpfr_prec_t p = o ? o->prec : 256, maxp = o ? o->max_prec : 4096;
    double scale = o ? o->scale : 1.0, gulps = o ? o->g_ulps : FD_G_ULPS;
    if (p < FD_PREC_MIN)
        p = FD_PREC_MIN;
    if (maxp < p)
        maxp = p;
    if (maxp > MPFR_PREC_MAX - GUARD)
        maxp = MPFR_PREC_MAX - GUARD;
    if (p > maxp)
        p = maxp;
    if (!(scale > 0.0) || !isfinite(scale))
        scale = 1.0;
    if (!(gulps > 0.0) || !isfinite(gulps))
        gulps = FD_G_ULPS;
    if (gulps < 1.0)
        gulps = 1.0;

    fd_run s;
    s.g = g;
    s.ud = ud;
    s.evals = &r->evals;
    s.gulps = gulps;
    s.es = lround(log2(scale));
    s.replay = 0;
    s.measured = 0;
    s.last = 0;
    run_init(&s, p);

    fd_status st;
    int have = 0;
    r->evals = 0;
    r->raises = 0;
    mpfr_set_nan(r->value);
    mpfr_set_inf(r->err, 1);
    mpfr_set_nan(r->h);
    mpfr_set_nan(r->target);
    for (;;) {
        r->prec = p;
        run_prec(&s, p);
        st = attempt(&s);
        if (st != FD_OK)
            break;
        int ok = met(&s);
        if (ok || !s.measured) {
            /* the values obey gulps?  Measured before an attempt is taken,
               and after a miss until once found so; if not, the same table
               again with the measured gulps */
            int more;
            if ((st = measure(&s, &more)) != FD_OK)
                break;
            if (more) {
                s.replay = 1;
                attempt(&s); /* no calls of g: FD_OK */
                s.replay = 0;
                ok = met(&s);
            } else if (!ok) {
                s.measured = 1;
            }
        }
        if (mpfr_number_p(s.be)) {
            target(s.e, s.bv, s.Mb, s.es, p, s.b); /* measure used s.e */
            if (!ok)
                widen(&s);
        } else {
            mpfr_set_nan(s.e);
        }
        /* report this attempt if it is the first, met the target, or has
           the smallest err so far */
        if (ok || !have || mpfr_less_p(s.be, r->err)) {
            mpfr_set_prec(r->value, s.wp);
            mpfr_set(r->value, s.bv, MPFR_RNDN); /* exact */
            mpfr_set(r->err, s.be, MPFR_RNDU);
            mpfr_set_si_2exp(r->h, 1, s.es - s.e0, MPFR_RNDN);
            mpfr_set(r->target, s.e, MPFR_RNDD);
            have = 1;
        }
        if (ok)
            break;
        if (p >= maxp) {
            st = FD_INACCURATE;
            break;
        }
        p = p > maxp / 2 ? maxp : 2 * p;
        r->raises++;
    }
    if (st != FD_OK && st != FD_INACCURATE) {
        mpfr_set_nan(r->value);
        mpfr_set_inf(r->err, 1);
    }
    run_clear(&s);
    mpfr_flags_restore(flags, MPFR_FLAGS_ALL);
    r->status = st;
    return st;
}

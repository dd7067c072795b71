/*
 * fd.c -- HEADER COMMENT WRITTEN BELOW AFTER TUNING
 */
#include "fd.h"

#include <math.h>

#define DEPTH 5        /* table rows the step rule balances for */
#define ROWS 12        /* most rows of one table */
#define GUARD 32       /* extra bits of the table arithmetic */
#define EPREC 64       /* precision of error bounds (rounded up) */
#define SAFE 2         /* safety factor on the truncation estimates */
#define E0_MIN 2       /* h0 <= scale / 4 */

/* One table at one precision: the state of an attempt. */
typedef struct fd_run {
    fd_fn g;                 /* the caller's function */
    void *ud;                /* its data */
    unsigned *evals;         /* the result's counter */
    double gulps;            /* error of one g value, units 2^-p M */
    long es;                 /* scale rounded: 2^es */
    long e0;                 /* h0 = 2^(es - e0) */
    mpfr_prec_t p;           /* precision of g */
    mpfr_prec_t wp;          /* precision of the table: p + GUARD */
    mpfr_t t;                /* the argument passed to g (exact) */
    mpfr_t g0, gp, gm;       /* g(0), g(h_i), g(-h_i), at p */
    mpfr_t T[2][ROWS];       /* table rows i-1 and i (alternating), at wp */
    mpfr_t R[2][ROWS];       /* rounding bounds of those entries, EPREC, rounded up */
    mpfr_t dd[2][ROWS];      /* d(i,j) = T[i][j] - T[i-1][j] of those rows, EPREC */
    int conv[ROWS];          /* column j converged at the previous row */
    mpfr_t d, q;             /* scratch at wp */
    mpfr_t a, b, e;          /* scratch at EPREC */
    mpfr_t Mrow[ROWS];       /* max(|g(0)|, |g(h_i)|, |g(-h_i)|) of each row, rounded up */
    mpfr_t Mb;               /* max of Mrow over the rows the best entry depends on */
    mpfr_t bv;               /* the attempt's best entry, at wp */
    mpfr_t be;               /* its error bound */
    mpfr_t rowbest;          /* smallest error bound of the current row */
    mpfr_t before;           /* be before the current row */
} fd_run;

static void run_init(fd_run *s, mpfr_prec_t p)
{
    mpfr_inits2(p, s->t, s->g0, s->gp, s->gm, s->d, s->q, s->bv, (mpfr_ptr)0);
    mpfr_inits2(EPREC, s->a, s->b, s->e, s->Mb, s->be, s->rowbest, s->before, (mpfr_ptr)0);
    for (int k = 0; k < ROWS; k++)
        mpfr_init2(s->Mrow[k], EPREC);
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < ROWS; k++) {
            mpfr_init2(s->T[j][k], p);
            mpfr_init2(s->R[j][k], EPREC);
            mpfr_init2(s->dd[j][k], EPREC);
        }
}

static void run_clear(fd_run *s)
{
    mpfr_clears(s->t, s->g0, s->gp, s->gm, s->d, s->q, s->bv, (mpfr_ptr)0);
    mpfr_clears(s->a, s->b, s->e, s->Mb, s->be, s->rowbest, s->before, (mpfr_ptr)0);
    for (int k = 0; k < ROWS; k++)
        mpfr_clear(s->Mrow[k]);
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < ROWS; k++) {
            mpfr_clear(s->T[j][k]);
            mpfr_clear(s->R[j][k]);
            mpfr_clear(s->dd[j][k]);
        }
}

/* Set the working precisions of an attempt at p bits (values become NaN). */
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
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < ROWS; k++)
            mpfr_set_prec(s->T[j][k], s->wp);
}

/* out = g(t), t = sign 2^(es - e0 - k) (t = 0 when sign is 0). */
static fd_status eval(fd_run *s, mpfr_ptr out, int sign, long k)
{
    if (sign == 0)
        mpfr_set_zero(s->t, 1);
    else
        mpfr_set_si_2exp(s->t, sign, s->es - s->e0 - k, MPFR_RNDN); /* exact */
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

/* x = |y| rounded up to EPREC bits. */
static void absup(mpfr_ptr x, mpfr_srcptr y) { mpfr_abs(x, y, MPFR_RNDU); }

/* tg = 2^-ceil(p/4) (|v| + M 2^-es): the accuracy asked for at p bits. */
static void target(mpfr_ptr tg, mpfr_srcptr v, mpfr_srcptr M, long es, mpfr_prec_t p, mpfr_ptr tmp)
{
    mpfr_abs(tg, v, MPFR_RNDD);
    mpfr_mul_2si(tmp, M, -es, MPFR_RNDD);
    mpfr_add(tg, tg, tmp, MPFR_RNDD);
    mpfr_mul_2si(tg, tg, -(long)((p + 3) / 4), MPFR_RNDD);
}

/* A candidate entry T, computed from rows lo..i, with truncation estimate
   s->a and rounding bound R: its error bound SAFE a + R; keep it if it is the
   best so far. */
static void candidate(fd_run *s, mpfr_srcptr T, mpfr_srcptr R, long lo, long i)
{
    mpfr_mul_ui(s->e, s->a, SAFE, MPFR_RNDU);
    mpfr_add(s->e, s->e, R, MPFR_RNDU);
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

/* Whether column j of the table converges at row i, so that d(i,j) =
   T[i][j] - T[i-1][j] measures the error: either d(i,j) is within the
   rounding noise of its two entries, 2 (R[i][j] + R[i-1][j]), or the
   previous difference d(i-1,j) has the same sign and is at least rate/2
   times larger (in the asymptotic regime it is rate = 4^(j+1) times larger,
   more when the leading error term vanishes). */
static int converged(fd_run *s, long i, long j, unsigned long rate)
{
    int cur = (int)(i & 1), prv = cur ^ 1;
    mpfr_add(s->a, s->R[cur][j], s->R[prv][j], MPFR_RNDU);
    mpfr_mul_2ui(s->a, s->a, 1, MPFR_RNDU);
    if (mpfr_cmpabs(s->dd[cur][j], s->a) <= 0)
        return 1;
    if (i - 1 <= j || mpfr_sgn(s->dd[cur][j]) != mpfr_sgn(s->dd[prv][j]))
        return 0;
    mpfr_mul_ui(s->a, s->dd[cur][j], rate / 2, MPFR_RNDU);
    return mpfr_cmpabs(s->dd[prv][j], s->a) >= 0;
}

/* Whether column j, converged at row i-1, jumps at row i: |d(i,j)| above
   its rounding noise and above twice |d(i-1,j)|. */
static int jumped(fd_run *s, long i, long j)
{
    int cur = (int)(i & 1), prv = cur ^ 1;
    mpfr_add(s->a, s->R[cur][j], s->R[prv][j], MPFR_RNDU);
    mpfr_mul_2ui(s->a, s->a, 1, MPFR_RNDU);
    if (mpfr_cmpabs(s->dd[cur][j], s->a) <= 0)
        return 0;
    mpfr_mul_2ui(s->a, s->dd[prv][j], 1, MPFR_RNDD);
    return mpfr_cmpabs(s->dd[cur][j], s->a) > 0;
}

/* One table at s->p bits: s->bv, s->be, s->M.  Returns FD_OK or the first
   kink/fault/memory status of g. */
static fd_status attempt(fd_run *s)
{
    /* step rule (see the header): h0 = scale 2^-e0 */
    long pe = (long)s->p - (long)floor(log2(s->gulps));
    long num = pe - (DEPTH * DEPTH - 1), den = 2 * DEPTH - 1;
    s->e0 = num > 0 ? (num + den - 1) / den : 0;
    if (s->e0 < E0_MIN)
        s->e0 = E0_MIN;

    fd_status st = eval(s, s->g0, 0, 0);
    if (st != FD_OK)
        return st;
    mpfr_set_nan(s->bv);
    mpfr_set_inf(s->be, 1);
    int stale = 0;
    for (int j = 0; j < ROWS; j++)
        s->conv[j] = 0;
    for (long i = 0; i < ROWS; i++) {
        int cur = (int)(i & 1), prv = cur ^ 1;
        long hexp = s->es - s->e0 - i; /* h_i = 2^hexp */
        if ((st = eval(s, s->gp, 1, i)) != FD_OK || (st = eval(s, s->gm, -1, i)) != FD_OK)
            return st;
        /* a = max(|g(0)|, |g(h)|, |g(-h)|): each g value is within gulps 2^-p a */
        absup(s->a, s->gp);
        absup(s->b, s->gm);
        mpfr_max(s->a, s->a, s->b, MPFR_RNDU);
        absup(s->b, s->g0);
        mpfr_max(s->a, s->a, s->b, MPFR_RNDU);
        mpfr_set(s->Mrow[i], s->a, MPFR_RNDU);

        /* D(h) = (g(h) - g(-h)) / 2h: one rounding (relative 2^-wp), then an
           exact scaling; R = (2 gulps 2^-p a + 2^-wp |g(h) - g(-h)|) / 2h */
        mpfr_ptr D = s->T[cur][0], RD = s->R[cur][0];
        mpfr_sub(D, s->gp, s->gm, MPFR_RNDN);
        mpfr_mul_d(RD, s->a, 2.0 * s->gulps, MPFR_RNDU);
        mpfr_mul_2si(RD, RD, -(long)s->p, MPFR_RNDU);
        absup(s->b, D);
        mpfr_mul_2si(s->b, s->b, -(long)s->wp, MPFR_RNDU);
        mpfr_add(RD, RD, s->b, MPFR_RNDU);
        mpfr_mul_2si(D, D, -(hexp + 1), MPFR_RNDN);
        mpfr_mul_2si(RD, RD, -(hexp + 1), MPFR_RNDU);

        /* extend the row, and judge each column: ok[j] when column j
           converged at rows i-1 and i (see converged) */
        int ok[ROWS], broke = 0;
        for (long j = 0; j < i; j++) {
            unsigned long c = (1ul << (2 * j + 2)) - 1; /* 4^(j+1) - 1 */
            mpfr_ptr Tj = s->T[cur][j], Tn = s->T[cur][j + 1], Rn = s->R[cur][j + 1];
            mpfr_sub(s->d, Tj, s->T[prv][j], MPFR_RNDN); /* d(i,j) */
            mpfr_set(s->dd[cur][j], s->d, MPFR_RNDN);
            int now = converged(s, i, j, c + 1);
            if (s->conv[j] && !now && jumped(s, i, j))
                broke = 1;
            ok[j] = now && s->conv[j];
            s->conv[j] = now;
            /* Neville: T[i][j+1] = T[i][j] + d(i,j) / (4^(j+1) - 1) */
            mpfr_div_ui(s->q, s->d, c, MPFR_RNDN);
            mpfr_add(Tn, Tj, s->q, MPFR_RNDN);
            /* rounding: R[i][j] + (R[i][j] + R[i-1][j]) / c, plus the three
               roundings, within 2^-wp (|T| + 3 |q|) */
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
        if (broke) {
            /* a converged column jumped: the agreement before this row was
               aliasing (sin(w t) sampled where w h_i is near a multiple of
               2 pi) or noise beyond g_ulps; trust nothing before this row */
            mpfr_set_nan(s->bv);
            mpfr_set_inf(s->be, 1);
            for (int j = 0; j < ROWS; j++)
                s->conv[j] = 0;
            stale = 0;
            continue;
        }
        if (!mpfr_number_p(s->bv))
            mpfr_set(s->bv, D, MPFR_RNDN); /* a value to report while nothing converged */
        mpfr_set_inf(s->rowbest, 1);
        mpfr_set(s->before, s->be, MPFR_RNDU);
        for (long j = 0; j < i; j++) {
            if (!ok[j])
                continue;
            unsigned long c = (1ul << (2 * j + 2)) - 1;
            /* D(h_i) = T[i][0]: error ~ c h_i^2 while d(i,0) ~ -3 c h_i^2 */
            if (j == 0) {
                absup(s->a, s->dd[cur][0]);
                candidate(s, D, RD, i - 1, i);
            }
            /* T[i][j+1]: max(|T[i][j+1] - T[i][j]|, |T[i][j+1] - T[i-1][j]|)
               (dfridr's estimate), which is |d(i,j)| 4^(j+1) / (4^(j+1) - 1) */
            absup(s->a, s->dd[cur][j]);
            mpfr_mul_ui(s->a, s->a, c + 1, MPFR_RNDU);
            mpfr_div_ui(s->a, s->a, c, MPFR_RNDU);
            candidate(s, s->T[cur][j + 1], s->R[cur][j + 1], i - j - 1, i);
        }
        if (i >= 2) {
            if (mpfr_less_p(s->rowbest, s->before))
                stale = 0;
            else
                stale++;
        }
        if (stale > 0) {
            target(s->e, s->bv, s->Mb, s->es, s->p, s->b);
            if (mpfr_lessequal_p(s->be, s->e))
                break;
        }
    }
    return FD_OK;
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
    run_init(&s, p);

    fd_status st;
    int have = 0;
    r->evals = 0;
    r->raises = 0;
    mpfr_set_nan(r->value);
    mpfr_set_inf(r->err, 1);
    for (;;) {
        r->prec = p;
        run_prec(&s, p);
        st = attempt(&s);
        if (st != FD_OK)
            break;
        target(s.e, s.bv, s.Mb, s.es, p, s.b);
        int ok = mpfr_lessequal_p(s.be, s.e);
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

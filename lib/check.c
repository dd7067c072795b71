/*
 * check.c -- three routes to every gradient, and the verdict that they
 * agree (DESIGN.md §5).
 *
 * At each parameter point (the case's `at` lines first, then seeded random
 * points) and over the data (the case's, or CHECK_SAMPLES seeded random
 * samples; a per-sample loss is checked at each sample separately):
 *  - the reference: the symbolic derivatives of derive.c evaluated by
 *    eval_mpfr at `prec` bits (default 256);
 *  - finite differences: fd.c on g(t) = C(theta + t e_i), each g a forward
 *    sweep of the tape in MPFR; they must agree with the reference within
 *    their own error bound (plus the reference's 2^-(prec-8) relative).  A
 *    difference that misses is redone at twice the precision before it is
 *    called a disagreement, so an underestimated rounding error in g cannot
 *    raise a false alarm;
 *  - the double engine: tape.c's forward and reverse sweeps with the
 *    running error bound B; it must agree with the reference within
 *    CHECK_SLACK * B (B is first order) plus the reference's own error.
 *    No fixed tolerance: B is the computation's condition times the unit
 *    roundoff, so an ill-conditioned point gets the room it needs and a
 *    well-conditioned one none.
 * Params and data are doubles, and the reference is evaluated at exactly
 * those doubles, so the routes see the same numbers; constants such as 3/10
 * stay exact in the reference and their rounding is part of B.
 *
 * A random point is redrawn when a kink (relu, abs, step, sign) is within
 * reach of a difference's stencil or its sign is in doubt in double, when
 * a route faults (log of a negative number, ...), or when the double sweep
 * overflows; the report counts each reason and names the first kink and
 * fault.  An `at` point cannot be redrawn: it is skipped, and said.
 *
 * With --directional the comparison is of v.grad along random directions v
 * (entries in [-1, 1]): one symbolic pass, one backprop sweep and one
 * difference per direction, instead of one difference per param.
 *
 * Owns: for one call, every MPFR value and buffer (freed on every path);
 * the report's strings (the caller's, check_report_free).
 */
#include <stdio.h> /* before mpfr.h: mpfr_asprintf */

#include "check.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "claims.h"
#include "derive.h"
#include "diag.h"
#include "eval_mpfr.h"
#include "fd.h"
#include "json.h"
#include "print.h"
#include "render.h"
#include "rng.h"
#include "tape.h"

#define DATA_PREC 53          /* doubles are exact at 53 bits */
#define REDRAW_CAP 8          /* at most REDRAW_CAP * K draws */
#define FD_MAX_PREC 4096

/* ---- random numbers ---- */

/* a param: magnitude in [0.1, 1.5), either sign */
static double rnd_param(uint64_t *s)
{
    double m = 0.1 + 1.4 * rng_unit(s);
    return rng_next(s) & 1 ? -m : m;
}

/* ---- the checker ---- */

typedef struct checker {
    gp_case *cs;
    gp_ctx *c;
    mpfr_prec_t prec;
    uint64_t rng;
    size_t P;                 /* params */
    gp_id *dnode;             /* [P] symbolic derivatives */
    tape t;
    int per_sample;
    size_t ncol;              /* data columns (the tape's) */
    const uint32_t *col_leaf;
    size_t nall;              /* samples of the data in use */
    double *data;             /* [ncol x nall] column-major */
    /* the unit being compared: all samples, or one (per-sample loss) */
    size_t ns;
    long sample;              /* per-sample: its index, else -1 */
    double *udata;            /* [ncol x ns] */
    mpfr_t *uq;               /* the same in MPFR (53 bits) */
    double *pd;               /* [P] the point */
    mpfr_t *pq;               /* [P] the point in MPFR (53 bits) */
    mpfr_t *pw;               /* [P] theta + t v, at the difference's precision */
    const double *dir;        /* the direction of g, or NULL: param `axis` */
    size_t axis;
    /* the reference */
    mpfr_t *lv;               /* [nleaf] param values by leaf (53 bits) */
    mpfr_t *cols;             /* [nall x ncol] row-major (53 bits) */
    mpfr_t *sym;              /* [P] the reference, at prec + 64 bits or more */
    mpfr_t *sym1;             /* [P] the same at fewer bits, for its error */
    double *referr;           /* [P] the reference's error: |sym - sym1| + a few ulps */
    /* the engines */
    tape_dbl w;
    int wok;
    tape_mpfr m;
    int mok;
    signed char *kbase, *kcur;
    /* incremental differences: the workspace holds the sweep at the point
       (base_ok), except the instructions that depend on param `dirty` */
    int base_ok;
    long dirty;               /* -1: none */
    uint8_t *dep;             /* [nins] instructions that depend on param dep_of */
    long dep_of;              /* -1: none */
    double *grad, *bound;
    long kink_at;             /* instruction of a kink crossed, -1 */
} checker;

static void put_param(buf *b, const gp_case *cs, size_t k, pr_syntax syn)
{
    print_name(b, &cs->c->leaf[cs->params[k]].name, syn);
}

/* "relu, line 7" for the node of a tape instruction */
static char *where(checker *K, gp_id node, const char *what)
{
    buf b = BUF_INIT;
    render_fault_where(&b, K->cs, node, what, NULL);
    return buf_take(&b);
}

/* The data of the unit: all samples, or sample s. */
static void set_unit(checker *K, long s)
{
    K->sample = s;
    K->ns = s < 0 ? K->nall : 1;
    for (size_t j = 0; j < K->ncol; j++)
        for (size_t i = 0; i < K->ns; i++) {
            double v = K->data[j * K->nall + (s < 0 ? i : (size_t)s)];
            K->udata[j * K->ns + i] = v;
            mpfr_set_d(K->uq[j * K->ns + i], v, MPFR_RNDN);
        }
}

static gp_status ensure_mpfr(checker *K, mpfr_prec_t p)
{
    if (K->mok && K->m.prec == p && K->m.ns == K->ns)
        return GP_OK;
    K->base_ok = 0;
    if (K->mok)
        tape_mpfr_free(&K->m);
    K->mok = 0;
    if (tape_mpfr_init(&K->m, &K->t, K->ns, p) != GP_OK)
        return GP_ENOMEM;
    K->mok = 1;
    return GP_OK;
}

static int kinks_differ(const checker *K)
{
    size_t n = K->t.nkink * K->ns;
    for (size_t i = 0; i < n; i++)
        if (K->kcur[i] != K->kbase[i])
            return 1;
    return 0;
}

/* g(t) = C(theta + t v) for fd.c.  Along a param axis only the instructions
   that depend on that param are evaluated again: the rest of the sweep at
   the point is kept (in the workspace, at the precision asked). */
static int g_eval(void *ud, mpfr_t out, mpfr_srcptr t, mpfr_prec_t prec)
{
    checker *K = ud;
    if (ensure_mpfr(K, prec) != GP_OK)
        return FD_EVAL_ERROR;
    eval_fault f;
    for (size_t i = 0; i < K->P; i++) {
        mpfr_set_prec(K->pw[i], prec);
        mpfr_set(K->pw[i], K->pq[i], MPFR_RNDN);
    }
    if (!K->dir && !K->base_ok) {
        /* the sweep at the point, once per precision */
        tape_mpfr_forward(&K->m, (const mpfr_t *)K->pw, (const mpfr_t *)K->uq, K->kcur, &f);
        if (f.node != GP_NIL)
            return FD_EVAL_FAULT;
        K->base_ok = 1;
        K->dirty = -1;
    }
    if (!K->dir && K->dirty >= 0 && K->dirty != (long)K->axis) {
        /* put back what the previous param changed */
        if (K->dep_of != K->dirty) {
            tape_depends(&K->t, (size_t)K->dirty, K->dep);
            K->dep_of = K->dirty;
        }
        tape_mpfr_forward_only(&K->m, (const mpfr_t *)K->pw, (const mpfr_t *)K->uq, K->dep, NULL, &f);
        K->dirty = -1;
    }
    if (K->dir) {
        for (size_t i = 0; i < K->P; i++) {
            mpfr_mul_d(K->pw[i], t, K->dir[i], MPFR_RNDN);
            mpfr_add(K->pw[i], K->pw[i], K->pq[i], MPFR_RNDN);
        }
        K->base_ok = 0;
        tape_mpfr_forward(&K->m, (const mpfr_t *)K->pw, (const mpfr_t *)K->uq, K->kcur, &f);
    } else {
        mpfr_add(K->pw[K->axis], K->pq[K->axis], t, MPFR_RNDN);
        if (K->dep_of != (long)K->axis) {
            tape_depends(&K->t, K->axis, K->dep);
            K->dep_of = (long)K->axis;
        }
        memcpy(K->kcur, K->kbase, K->t.nkink * K->ns);
        tape_mpfr_forward_only(&K->m, (const mpfr_t *)K->pw, (const mpfr_t *)K->uq, K->dep, K->kcur, &f);
        K->dirty = (long)K->axis;
    }
    if (kinks_differ(K))
        return FD_EVAL_KINK;
    if (f.node != GP_NIL)
        return FD_EVAL_FAULT;
    mpfr_set(out, tape_mpfr_value(&K->m, 0, 0), MPFR_RNDN);
    return FD_EVAL_OK;
}

typedef enum { U_OK, U_KINK, U_FAULT, U_DOUBLE, U_ERR } unit_result;

/* The reference and the double engine at the current point and unit. */
static unit_result unit_prepare(checker *K, check_report *R, gp_status *st)
{
    gp_ctx *c = K->c;
    K->base_ok = 0;
    K->dirty = -1;
    for (size_t i = 0; i < K->P; i++) {
        mpfr_set_d(K->pq[i], K->pd[i], MPFR_RNDN);
        mpfr_set_d(K->lv[K->cs->params[i]], K->pd[i], MPFR_RNDN);
    }
    /* the reference */
    eval_env env = {.leafval = (const mpfr_t *)K->lv, .nsamples = K->nall, .ncols = K->ncol,
                    .col_leaf = K->col_leaf, .cols = (const mpfr_t *)K->cols};
    eval_fault f;
    /* Ziv's loop: evaluated at p1 and p2 = p1 + 64 bits, the difference
       bounds the error of the p1 value and so, generously, of the p2 one;
       while it is not small, the precision is doubled (a cancellation, as
       in sin(a + 10^70), costs bits that no fixed precision has) */
    mpfr_prec_t p1 = K->prec, p2 = K->prec + 64;
    for (;;) {
        for (size_t i = 0; i < K->P; i++) {
            mpfr_set_prec(K->sym1[i], p1);
            mpfr_set_prec(K->sym[i], p2);
        }
        *st = eval_mpfr(K->sym1, c, &env, K->sample, K->P, K->dnode, p1, &f);
        if (*st == GP_OK && f.node == GP_NIL)
            *st = eval_mpfr(K->sym, c, &env, K->sample, K->P, K->dnode, p2, &f);
        if (*st != GP_OK)
            return U_ERR;
        if (f.node != GP_NIL) {
            if (!R->fault_where)
                R->fault_where = where(K, f.node, f.what);
            return U_FAULT;
        }
        int good = 1;
        mpfr_t d;
        mpfr_init2(d, 64);
        for (size_t i = 0; i < K->P; i++) {
            mpfr_sub(d, K->sym[i], K->sym1[i], MPFR_RNDU);
            K->referr[i] = fabs(mpfr_get_d(d, MPFR_RNDU)) + fabs(mpfr_get_d(K->sym[i], MPFR_RNDN)) * ldexp(1.0, -(int)p2 + 8);
            /* small: |d| <= |sym| 2^-(prec/2), compared by exponents (no underflow) */
            if (!mpfr_zero_p(d) &&
                (mpfr_zero_p(K->sym[i]) || mpfr_get_exp(d) > mpfr_get_exp(K->sym[i]) - (mpfr_exp_t)(K->prec / 2)))
                good = 0;
        }
        mpfr_clear(d);
        if (good || p2 >= 16 * K->prec || 2 * (unsigned long)p2 > K->c->lim.max_precision)
            break;
        p1 = p2;
        p2 *= 2;
    }
    if (p2 > R->ref_max_prec)
        R->ref_max_prec = p2;
    /* the base kink pattern, and the loss defined there */
    if ((*st = ensure_mpfr(K, K->prec)) != GP_OK)
        return U_ERR;
    for (size_t i = 0; i < K->P; i++) {
        mpfr_set_prec(K->pw[i], K->prec);
        mpfr_set(K->pw[i], K->pq[i], MPFR_RNDN);
    }
    tape_mpfr_forward(&K->m, (const mpfr_t *)K->pw, (const mpfr_t *)K->uq, K->kbase, &f);
    K->base_ok = f.node == GP_NIL;
    if (f.node != GP_NIL) {
        if (!R->fault_where)
            R->fault_where = where(K, f.node, f.what);
        return U_FAULT;
    }
    for (size_t i = 0; i < K->t.nkink * K->ns; i++)
        if (K->kbase[i] == 0) {
            if (!R->kink_where) {
                size_t k = 0, want = i / K->ns;
                for (; k < K->t.nins; k++)
                    if (K->t.ins[k].op == TP_FN && K->t.ins[k].aux == want &&
                        (K->t.ins[k].fn == GP_FN_RELU || K->t.ins[k].fn == GP_FN_ABS || K->t.ins[k].fn == GP_FN_STEP ||
                         K->t.ins[k].fn == GP_FN_SIGN))
                        break;
                R->kink_where = where(K, k < K->t.nins ? K->t.ins[k].node : GP_NIL, NULL);
            }
            return U_KINK;
        }
    /* the double engine */
    if (!K->wok || K->w.ns != K->ns) {
        if (K->wok)
            tape_dbl_free(&K->w);
        K->wok = 0;
        if ((*st = tape_dbl_init(&K->w, &K->t, K->ns, 1)) != GP_OK)
            return U_ERR;
        K->wok = 1;
    }
    tape_dbl_forward(&K->w, K->pd, K->udata);
    if (K->w.doubt)
        return U_KINK;
    tape_dbl_reverse(&K->w, 0, K->grad, K->bound);
    if (!isfinite(tape_dbl_value(&K->w, 0, 0)))
        return U_DOUBLE;
    for (size_t i = 0; i < K->P; i++)
        if (!isfinite(K->grad[i]) || !isfinite(K->bound[i]))
            return U_DOUBLE;
    /* a derivative below the normal double range: the double sweep cannot
       carry it (its running bound underflows too), so comparing it would
       call a range limit a disagreement */
    for (size_t i = 0; i < K->P; i++)
        if (!mpfr_zero_p(K->sym[i]) && mpfr_get_exp(K->sym[i]) < DBL_MIN_EXP)
            return U_DOUBLE;
    return U_OK;
}

static char *fr_str(mpfr_srcptr x, int digits)
{
    char *g = NULL;
    if (mpfr_zero_p(x))
        return strdup("0");
    if (mpfr_asprintf(&g, "%.*Rg", digits, x) < 0)
        return NULL;
    char *s = strdup(g);
    mpfr_free_str(g);
    return s;
}

/* ulp of a double near |x| */
static double ulp_of(double x)
{
    x = fabs(x);
    if (!(x >= DBL_MIN))
        return 0x1p-1074;
    int e;
    frexp(x, &e);
    return ldexp(1.0, e - 53);
}

/* One comparison: the reference sym, the difference fd (with its bound), the
   double value bp with its bound; recorded in e when it is the worst so far.
   0 when out of memory. */
static int compare(checker *K, check_entry *e, mpfr_srcptr sym, double ref, const fd_result *fr, double bp,
                    double bound, unsigned pt)
{
    mpfr_t d, allow;
    mpfr_inits2(K->prec + 64, d, allow, (mpfr_ptr)0);
    double symd = mpfr_get_d(sym, MPFR_RNDN);
    /* finite differences */
    double fd_bad;
    mpfr_sub(d, fr->value, sym, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    mpfr_set(allow, fr->err, MPFR_RNDU);
    mpfr_add_d(allow, allow, ref, MPFR_RNDU);
    if (mpfr_zero_p(d))
        fd_bad = 0;
    else if (mpfr_zero_p(allow) || !mpfr_number_p(allow))
        fd_bad = (double)INFINITY;
    else {
        mpfr_div(d, d, allow, MPFR_RNDN);
        fd_bad = mpfr_get_d(d, MPFR_RNDN);
    }
    /* the double engine */
    mpfr_set_d(d, bp, MPFR_RNDN);
    mpfr_sub(d, d, sym, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    double bperr = mpfr_get_d(d, MPFR_RNDU);
    double bpallow = CHECK_SLACK * bound + ref;
    double bp_bad = bperr == 0 ? 0 : bpallow > 0 ? bperr / bpallow : (double)INFINITY;
    double bad = fd_bad > bp_bad ? fd_bad : bp_bad;
    if (!e->seen || bad > e->badness) {
        e->seen = 1;
        e->badness = bad;
        e->point = pt;
        e->sample = K->sample;
        e->fd_ok = fd_bad <= 1;
        e->bp_ok = bp_bad <= 1;
        e->fd_status = fr->status;
        e->fd_prec = fr->prec;
        free(e->sym);
        free(e->fd);
        free(e->fd_err);
        e->sym = fr_str(sym, 20);
        e->fd = fr_str(fr->value, 20);
        e->fd_err = fr_str(fr->err, 3);
        e->bp = bp;
        e->bound = bound;
        mpfr_sub(d, fr->value, sym, MPFR_RNDN);
        mpfr_abs(d, d, MPFR_RNDN);
        if (!mpfr_zero_p(sym))
            mpfr_div(d, d, sym, MPFR_RNDN);
        e->fd_rel_err = fabs(mpfr_get_d(d, MPFR_RNDN));
        double u = ulp_of(symd != 0 ? symd : bp); /* a zero reference: ulps of the other value */
        e->bp_ulp_err = bperr / u;
        e->bp_ulp_bound = bpallow / u;
    }
    e->ok = e->fd_ok && e->bp_ok && e->badness <= 1;
    mpfr_clears(d, allow, (mpfr_ptr)0);
    return e->sym && e->fd && e->fd_err;
}

/* The difference of g at the current point along dir (or param axis), with
   one retry at twice the precision when it misses the reference. */
static unit_result difference(checker *K, fd_result *fr, double scale, mpfr_srcptr sym, double ref, check_report *R)
{
    mpfr_prec_t most = FD_MAX_PREC > 4 * K->prec ? FD_MAX_PREC : 4 * K->prec;
    if ((unsigned long)most > K->c->lim.max_precision) /* the limit, but never below the precision asked */
        most = (unsigned long)K->prec > K->c->lim.max_precision ? K->prec : (mpfr_prec_t)K->c->lim.max_precision;
    fd_opts fo = {.prec = K->prec, .max_prec = most, .scale = scale, .g_ulps = 16.0 + (double)K->t.nins};
    for (int attempt = 0; attempt < 2; attempt++) {
        fd_status s = fd_derivative(fr, g_eval, K, &fo);
        R->fd_evals += fr->evals;
        if (fr->prec > R->fd_max_prec)
            R->fd_max_prec = fr->prec;
        if (s == FD_KINK)
            return U_KINK;
        if (s == FD_FAULT)
            return U_FAULT;
        if (s == FD_NOMEM)
            return U_ERR;
        mpfr_t d;
        mpfr_init2(d, K->prec + 64);
        mpfr_sub(d, fr->value, sym, MPFR_RNDN);
        mpfr_abs(d, d, MPFR_RNDN);
        int close = mpfr_lessequal_p(d, fr->err) || mpfr_zero_p(d);
        if (!close) { /* allow for the reference's own error */
            mpfr_t a;
            mpfr_init2(a, 64);
            mpfr_set_d(a, ref, MPFR_RNDU);
            mpfr_add(a, a, fr->err, MPFR_RNDU);
            close = mpfr_lessequal_p(d, a);
            mpfr_clear(a);
        }
        mpfr_clear(d);
        if (close || 2 * (unsigned long)fo.prec > K->c->lim.max_precision)
            break;
        fo.prec *= 2;
        if (fo.max_prec < fo.prec)
            fo.max_prec = fo.prec;
    }
    return U_OK;
}

static void note_redraw(check_report *R, unit_result u)
{
    if (u == U_KINK)
        R->redrawn_kink++;
    else if (u == U_FAULT)
        R->redrawn_fault++;
    else if (u == U_DOUBLE)
        R->redrawn_double++;
}

/* Every comparison of one unit into the entries; U_OK or why not. */
static unit_result unit_compare(checker *K, const check_opts *o, check_report *R, check_entry *ent, unsigned pt,
                                gp_status *st)
{
    unit_result u = unit_prepare(K, R, st);
    if (u != U_OK)
        return u;
    fd_result fr;
    fd_result_init(&fr);
    if (!o->directional) {
        /* first every difference (a kink anywhere redraws the whole point),
           then the comparisons */
        fd_result *all = malloc(K->P * sizeof *all);
        if (!all) {
            fd_result_clear(&fr);
            *st = GP_ENOMEM;
            return U_ERR;
        }
        size_t ninit = 0;
        for (; ninit < K->P; ninit++)
            fd_result_init(&all[ninit]);
        K->dir = NULL;
        for (size_t i = 0; i < K->P && u == U_OK; i++) {
            K->axis = i;
            double sc = fabs(K->pd[i]) > 0x1p-10 ? fabs(K->pd[i]) : 0x1p-10;
            u = difference(K, &all[i], sc, K->sym[i], K->referr[i], R);
        }
        if (u == U_OK)
            for (size_t i = 0; i < K->P && u == U_OK; i++)
                if (!compare(K, &ent[i], K->sym[i], K->referr[i], &all[i], K->grad[i], K->bound[i], pt)) {
                    *st = GP_ENOMEM;
                    u = U_ERR;
                }
        for (size_t i = 0; i < ninit; i++)
            fd_result_clear(&all[i]);
        free(all);
    } else {
        unsigned nd = o->directions ? o->directions : CHECK_DIRECTIONS;
        double *v = malloc((K->P ? K->P : 1) * sizeof *v);
        mpfr_t s, a;
        mpfr_inits2(K->prec + 64, s, a, (mpfr_ptr)0);
        if (!v) {
            *st = GP_ENOMEM;
            u = U_ERR;
        }
        for (unsigned d = 0; d < nd && u == U_OK; d++) {
            for (size_t i = 0; i < K->P; i++)
                v[i] = 2 * rng_unit(&K->rng) - 1;
            /* v.sym in MPFR; v.bp exactly (from doubles) with the bound sum |v_i| B_i */
            mpfr_set_zero(s, 1);
            mpfr_set_zero(a, 1);
            double bd = 0, rd = 0;
            for (size_t i = 0; i < K->P; i++) {
                rd += fabs(v[i]) * K->referr[i];
                mpfr_t t;
                mpfr_init2(t, K->prec + 64);
                mpfr_mul_d(t, K->sym[i], v[i], MPFR_RNDN);
                mpfr_add(s, s, t, MPFR_RNDN);
                mpfr_set_d(t, K->grad[i], MPFR_RNDN);
                mpfr_mul_d(t, t, v[i], MPFR_RNDN);
                mpfr_add(a, a, t, MPFR_RNDN);
                mpfr_clear(t);
                bd += fabs(v[i]) * K->bound[i];
            }
            K->dir = v;
            u = difference(K, &fr, 1.0, s, rd, R);
            if (u == U_OK) {
                /* bp as a double would round: compare the exact dot instead */
                double bpd = mpfr_get_d(a, MPFR_RNDN);
                mpfr_t r;
                mpfr_init2(r, 64);
                mpfr_set_d(r, bpd, MPFR_RNDN);
                mpfr_sub(r, a, r, MPFR_RNDN); /* the rounding of that double */
                bd += fabs(mpfr_get_d(r, MPFR_RNDU));
                mpfr_clear(r);
                if (!compare(K, &ent[(size_t)(pt - 1) * nd + d], s, rd, &fr, bpd, bd, pt)) {
                    *st = GP_ENOMEM;
                    u = U_ERR;
                }
                ent[(size_t)(pt - 1) * nd + d].param = d;
            }
        }
        K->dir = NULL;
        mpfr_clears(s, a, (mpfr_ptr)0);
        free(v);
    }
    fd_result_clear(&fr);
    if (u == U_ERR && *st == GP_OK)
        *st = GP_ENOMEM; /* difference(): fd ran out of memory (FD_NOMEM) */
    return u;
}

static gp_status setup_data(checker *K, check_report *R)
{
    gp_case *cs = K->cs;
    if (cs->has_data) {
        K->ncol = cs->ncols;
        K->col_leaf = cs->dcol;
        K->nall = cs->nrows;
    } else {
        K->ncol = cs->ninputs;
        K->col_leaf = cs->inputs;
        K->nall = CHECK_SAMPLES;
        R->own_data = 1;
    }
    size_t n = K->ncol * K->nall;
    K->data = malloc((n ? n : 1) * sizeof *K->data);
    K->cols = malloc((n ? n : 1) * sizeof *K->cols);
    if (!K->data || !K->cols) {
        free(K->cols); /* its numbers are not initialised: checker_free must not clear them */
        K->cols = NULL;
        return GP_ENOMEM;
    }
    mpfr_t d;
    mpfr_init2(d, 53);
    for (size_t j = 0; j < K->ncol; j++) {
        int target = K->c->leaf[K->col_leaf[j]].kind == GP_LEAF_TARGET;
        for (size_t s = 0; s < K->nall; s++) {
            double v;
            if (cs->has_data) {
                mpfr_set_q(d, cs->dval[s * cs->ncols + j], MPFR_RNDN);
                v = mpfr_get_d(d, MPFR_RNDN);
            } else {
                v = (2 * rng_unit(&K->rng) - 1) * (target ? 3 : 2);
            }
            K->data[j * K->nall + s] = v;
        }
    }
    mpfr_clear(d);
    for (size_t s = 0; s < K->nall; s++)
        for (size_t j = 0; j < K->ncol; j++)
            mpfr_init_set_d(K->cols[s * K->ncol + j], K->data[j * K->nall + s], MPFR_RNDN);
    R->nsamples = K->nall;
    return GP_OK;
}

static void checker_free(checker *K)
{
    size_t nd = K->ncol * K->nall;
    if (K->cols)
        for (size_t i = 0; i < nd; i++)
            mpfr_clear(K->cols[i]);
    free(K->cols);
    free(K->data);
    if (K->uq)
        for (size_t i = 0; i < nd; i++)
            mpfr_clear(K->uq[i]);
    free(K->uq);
    free(K->udata);
    if (K->pq)
        for (size_t i = 0; i < K->P; i++) {
            mpfr_clear(K->pq[i]);
            mpfr_clear(K->pw[i]);
            mpfr_clear(K->sym[i]);
            mpfr_clear(K->sym1[i]);
        }
    free(K->pq);
    free(K->pw);
    free(K->sym);
    free(K->sym1);
    free(K->referr);
    if (K->lv)
        for (size_t i = 0; i < K->c->nleaf; i++)
            mpfr_clear(K->lv[i]);
    free(K->lv);
    free(K->pd);
    free(K->grad);
    free(K->bound);
    free(K->kbase);
    free(K->kcur);
    free(K->dep);
    free(K->dnode);
    if (K->wok)
        tape_dbl_free(&K->w);
    if (K->mok)
        tape_mpfr_free(&K->m);
    tape_free(&K->t);
}

/* Allocate the checker of a case: derivatives, tape, data, buffers. */
static gp_status checker_init(checker *K, gp_case *cs, mpfr_prec_t prec, uint64_t seed, int symbolic, check_report *R)
{
    gp_ctx *c = cs->c;
    memset(K, 0, sizeof *K);
    K->cs = cs;
    K->c = c;
    K->prec = prec;
    K->rng = seed ? seed : 0x6772616470726f66u;
    K->P = cs->nparams;
    K->per_sample = c->node[cs->loss].level == GP_LV_SAMPLE;
    size_t P1 = K->P ? K->P : 1;
    gp_status st = setup_data(K, R);
    if (st != GP_OK)
        return st;
    K->dnode = malloc(P1 * sizeof *K->dnode);
    gp_id *wrt = malloc(P1 * sizeof *wrt);
    if (!K->dnode || !wrt) {
        free(wrt);
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < K->P; i++)
        wrt[i] = c->leaf[cs->params[i]].node;
    st = symbolic ? derive_grad(c, cs->loss, K->P, wrt, K->dnode) : GP_OK;
    free(wrt);
    if (st != GP_OK)
        return st;
    if ((st = tape_compile(&K->t, c, 1, &cs->loss, K->P, cs->params, K->ncol, K->col_leaf)) != GP_OK)
        return st;
    size_t nd = K->ncol * K->nall;
    K->udata = malloc((nd ? nd : 1) * sizeof *K->udata);
    K->uq = malloc((nd ? nd : 1) * sizeof *K->uq);
    K->pd = malloc(P1 * sizeof *K->pd);
    K->grad = malloc(P1 * sizeof *K->grad);
    K->bound = malloc(P1 * sizeof *K->bound);
    K->pq = malloc(P1 * sizeof *K->pq);
    K->pw = malloc(P1 * sizeof *K->pw);
    K->sym = malloc(P1 * sizeof *K->sym);
    K->sym1 = malloc(P1 * sizeof *K->sym1);
    K->referr = malloc(P1 * sizeof *K->referr);
    K->lv = malloc((c->nleaf ? c->nleaf : 1) * sizeof *K->lv);
    size_t nk = K->t.nkink * K->nall;
    K->kbase = malloc(nk ? nk : 1);
    K->kcur = malloc(nk ? nk : 1);
    K->dep = malloc(K->t.nins ? K->t.nins : 1);
    K->dep_of = K->dirty = -1;
    if (!K->dep || !K->udata || !K->uq || !K->pd || !K->grad || !K->bound || !K->pq || !K->pw || !K->sym || !K->sym1 || !K->referr || !K->lv || !K->kbase ||
        !K->kcur) {
        free(K->uq);
        K->uq = NULL;
        free(K->pq);
        K->pq = NULL;
        free(K->lv);
        K->lv = NULL;
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < nd; i++)
        mpfr_init2(K->uq[i], DATA_PREC);
    for (size_t i = 0; i < K->P; i++) {
        mpfr_init2(K->pq[i], DATA_PREC);
        mpfr_init2(K->pw[i], prec);
        mpfr_init2(K->sym[i], prec + 64);
        mpfr_init2(K->sym1[i], prec);
    }
    for (size_t i = 0; i < c->nleaf; i++)
        mpfr_init2(K->lv[i], DATA_PREC);
    return GP_OK;
}

/* The point of `at` line k (params it does not give: random), rounded to
   double; 1 when every value given was exact. */
static int point_at(checker *K, size_t k)
{
    for (size_t i = 0; i < K->P; i++)
        K->pd[i] = rnd_param(&K->rng);
    const point *p = &K->cs->points[k];
    int exact = 1;
    mpfr_t d;
    mpfr_init2(d, 53);
    for (size_t j = 0; j < p->n; j++)
        for (size_t i = 0; i < K->P; i++)
            if (K->cs->params[i] == p->leaf[j]) {
                exact &= mpfr_set_q(d, p->val[j], MPFR_RNDN) == 0;
                K->pd[i] = mpfr_get_d(d, MPFR_RNDN);
            }
    mpfr_clear(d);
    return exact;
}

void check_resolve(const gp_case *cs, check_opts *o)
{
    o->auto_directional = !o->directional && !o->per_param && cs->nparams > CHECK_PER_PARAM_MAX;
    if (o->auto_directional)
        o->directional = 1;
}

gp_status check_run(gp_case *cs, const check_opts *o, check_report *R)
{
    memset(R, 0, sizeof *R);
    gp_ctx *c = cs->c;
    ctx_stack_mark(c);
    unsigned K_pts = o->points ? o->points : CHECK_POINTS;
    unsigned nd = o->directions ? o->directions : CHECK_DIRECTIONS;
    mpfr_prec_t prec = o->prec ? o->prec : CHECK_PREC;
    R->prec = prec;
    checker K;
    gp_status st = checker_init(&K, cs, prec, o->seed, 1, R);
    R->per_sample = K.per_sample;
    if (st == GP_OK) {
        R->nentries = o->directional ? (size_t)K_pts * nd : K.P;
        R->e = calloc(R->nentries ? R->nentries : 1, sizeof *R->e);
        if (!R->e)
            st = GP_ENOMEM;
        for (size_t i = 0; R->e && i < R->nentries; i++)
            R->e[i].param = i;
    }
    unsigned draws = 0, cap = REDRAW_CAP * K_pts;
    size_t nat = st == GP_OK ? cs->npoints : 0;
    for (size_t a = 0; st == GP_OK && R->points < K_pts && draws < cap + nat; draws++) {
        int from_at = a < nat;
        if (from_at)
            point_at(&K, a++);
        else
            for (size_t i = 0; i < K.P; i++)
                K.pd[i] = rnd_param(&K.rng);
        unit_result u = U_OK;
        unsigned pt = R->points + 1;
        size_t nunits = K.per_sample ? K.nall : 1;
        for (size_t s = 0; s < nunits && u == U_OK; s++) {
            set_unit(&K, K.per_sample ? (long)s : -1);
            u = unit_compare(&K, o, R, R->e, pt, &st);
        }
        if (u == U_ERR) {
            if (st == GP_OK)
                st = GP_EINTERNAL;
            break;
        }
        if (u != U_OK) {
            if (from_at) {
                R->skipped_at++;
                if (!R->at_reason)
                    R->at_reason = u == U_KINK ? "a kink within reach" : u == U_FAULT ? "undefined there"
                                                                         : "the double sweep overflows or underflows";
            } else {
                note_redraw(R, u);
            }
            continue;
        }
        R->points++;
        R->at_points += from_at;
    }
    if (st == GP_OK) {
        R->ok = R->points > 0;
        for (size_t i = 0; i < R->nentries; i++) {
            check_entry *e = &R->e[i];
            if (!e->seen)
                continue;
            if (!e->ok) {
                R->ok = 0;
                R->nbad++;
            }
            if (e->bp_ulp_err > R->worst_ulp || i == 0) {
                R->worst_ulp = e->bp_ulp_err;
                R->worst_param = i;
            }
        }
    }
    checker_free(&K);
    if (st == GP_OK && c->status != GP_OK)
        st = c->status;
    return st;
}

void check_report_free(check_report *R)
{
    for (size_t i = 0; R->e && i < R->nentries; i++) {
        free(R->e[i].sym);
        free(R->e[i].fd);
        free(R->e[i].fd_err);
    }
    free(R->e);
    free(R->kink_where);
    free(R->fault_where);
    memset(R, 0, sizeof *R);
}

/* ---- rendering ---- */

static int by_badness(const void *a, const void *b)
{
    const check_entry *x = a, *y = b;
    if (x->seen != y->seen)
        return y->seen - x->seen;
    if (x->badness != y->badness)
        return x->badness < y->badness ? 1 : -1;
    if (x->bp_ulp_err != y->bp_ulp_err)
        return x->bp_ulp_err < y->bp_ulp_err ? 1 : -1;
    return x->param < y->param ? -1 : x->param > y->param;
}

static void entry_name(buf *b, const gp_case *cs, const check_opts *o, const check_entry *e,
                       pr_syntax syn)
{
    if (o->directional)
        buf_printf(b, "point %u, v%zu", e->point, e->param + 1);
    else
        put_param(b, cs, e->param, syn);
}

static const char *fd_word(int s)
{
    switch (s) {
    case FD_OK: return "ok";
    case FD_INACCURATE: return "inaccurate";
    default: return "failed";
    }
}

/* s, then spaces up to column w (two at least, so that columns never touch) */
static void pad(buf *b, const char *s, size_t w)
{
    buf_puts(b, s);
    size_t k = print_width(s);
    for (size_t end = k + 2 > w ? k + 2 : w; k < end; k++)
        buf_putc(b, ' ');
}

static void fmt_ulp(char *t, size_t n, double x)
{
    if (x < 1e5)
        snprintf(t, n, "%.1f ulp", x);
    else
        snprintf(t, n, "%.2g ulp", x);
}

static void write_summary(buf *o, const gp_case *cs, const check_report *R, const check_opts *op, const check_entry *sorted);

static void write_text(buf *o, const gp_case *cs, const check_report *R, const check_opts *op, const check_entry *sorted)
{
    size_t P = cs->nparams;
    unsigned nd = op->directions ? op->directions : CHECK_DIRECTIONS;
    if (op->auto_directional)
        buf_printf(o, "%zu params, more than %d: v·∇C compared along %u random direction%s per point"
                      " (--per-param: one difference per param)\n", P, CHECK_PER_PARAM_MAX, nd, nd == 1 ? "" : "s");
    else if (op->directional)
        buf_printf(o, "%zu params; %u random direction%s per point: v·∇C compared\n", P, nd, nd == 1 ? "" : "s");
    buf_printf(o, "%s (%s), %lu bits\n\n",
               R->per_sample ? "per-sample loss: each sample checked" : "loss over the data set",
               R->own_data ? "no data in the case: seeded random samples" : "the case's data", (unsigned long)R->prec);
    /* the table: names and columns measured first */
    size_t wn = 5;
    for (size_t i = 0; i < R->nentries; i++) {
        buf nm = BUF_INIT;
        entry_name(&nm, cs, op, &sorted[i], PR_TEXT);
        if (nm.s && print_width(nm.s) > wn)
            wn = print_width(nm.s);
        buf_free_into(o, &nm);
    }
    size_t wv = 16;  /* the decimal strings: widest of them */
    for (size_t i = 0; i < R->nentries; i++) {
        const check_entry *e = &sorted[i];
        if (e->seen && e->sym && print_width(e->sym) > wv)
            wv = print_width(e->sym);
        if (e->seen && e->fd && print_width(e->fd) > wv)
            wv = print_width(e->fd);
    }
    wv += 2;
    pad(o, op->directional ? "direction" : "param", wn + 2);
    pad(o, "symbolic (MPFR)", wv);
    pad(o, "finite difference", wv);
    pad(o, "± bound", 11);
    pad(o, "backprop (double)", 25);
    pad(o, "fd rel err", 12);
    buf_puts(o, "backprop err (bound)\n");
    for (size_t i = 0; i < R->nentries; i++) {
        const check_entry *e = &sorted[i];
        if (!e->seen)
            continue;
        buf nm = BUF_INIT;
        entry_name(&nm, cs, op, e, PR_TEXT);
        pad(o, nm.s ? nm.s : "", wn + 2);
        buf_free_into(o, &nm);
        char bp[40], fr[24], ue[24], ub[24];
        snprintf(bp, sizeof bp, "%.17g", e->bp);
        snprintf(fr, sizeof fr, "%.1e", e->fd_rel_err);
        fmt_ulp(ue, sizeof ue, e->bp_ulp_err);
        fmt_ulp(ub, sizeof ub, e->bp_ulp_bound);
        pad(o, e->sym ? e->sym : "?", wv);
        pad(o, e->fd ? e->fd : "?", wv);
        pad(o, e->fd_err ? e->fd_err : "?", 11);
        pad(o, bp, 25);
        pad(o, fr, 12);
        buf_printf(o, "%s (≤ %s)", ue, ub);
        if (!e->ok)
            buf_printf(o, "  DISAGREE:%s%s", e->fd_ok ? "" : " finite difference", e->bp_ok ? "" : " backprop");
        if (e->fd_status != FD_OK)
            buf_printf(o, "  (difference %s)", fd_word(e->fd_status));
        buf_putc(o, '\n');
    }
    buf_putc(o, '\n');
    write_summary(o, cs, R, op, sorted);
}

/* The verdict in one line, and how it was reached. */
static void write_summary(buf *o, const gp_case *cs, const check_report *R, const check_opts *op, const check_entry *sorted)
{
    size_t P = cs->nparams;
    /* the summary line */
    const char *what = op->directional ? "direction" : "weight";
    size_t nent = 0;
    for (size_t i = 0; i < R->nentries; i++)
        nent += R->e[i].seen;
    buf_printf(o, "%zu %s%s, %u point%s: ", op->directional ? nent : P, what,
               (op->directional ? nent : P) == 1 ? "" : "s", R->points, R->points == 1 ? "" : "s");
    if (R->points == 0) {
        buf_puts(o, "no point where the routes could be compared (unknown)\n");
    } else if (R->ok) {
        buf_puts(o, "all three routes agree");
        if (R->nentries) {
            char ue[24];
            fmt_ulp(ue, sizeof ue, R->e[R->worst_param].bp_ulp_err);
            buf_printf(o, "; worst backprop error %s at ", ue);
            buf nm = BUF_INIT;
            entry_name(&nm, cs, op, &R->e[R->worst_param], PR_TEXT);
            buf_puts(o, nm.s ? nm.s : "");
            buf_free_into(o, &nm);
        }
        buf_putc(o, '\n');
    } else {
        buf_printf(o, "the routes disagree on %zu %s%s:", R->nbad, what, R->nbad == 1 ? "" : "s");
        size_t shown = 0;
        for (size_t i = 0; i < R->nentries && shown < 12; i++)
            if (sorted[i].seen && !sorted[i].ok) {
                buf nm = BUF_INIT;
                entry_name(&nm, cs, op, &sorted[i], PR_TEXT);
                buf_printf(o, "%s %s", shown ? "," : "", nm.s ? nm.s : "");
                buf_free_into(o, &nm);
                shown++;
            }
        if (R->nbad > shown)
            buf_puts(o, ", …");
        buf_putc(o, '\n');
    }
    /* how the verdict was reached */
    buf_printf(o, "reference: the symbolic derivative in MPFR at %lu bits (checked at +64); finite differences: central, Richardson, "
                  "within their own error bound (up to %lu bits); backprop: within %.2f × its running error bound\n",
               (unsigned long)(R->ref_max_prec ? R->ref_max_prec - 64 : R->prec),
               (unsigned long)(R->fd_max_prec ? R->fd_max_prec : R->prec), CHECK_SLACK);
    buf_printf(o, "%zu sample%s per point", R->nsamples, R->nsamples == 1 ? "" : "s");
    if (R->at_points)
        buf_printf(o, "; %u point%s from `at` lines", R->at_points, R->at_points == 1 ? "" : "s");
    buf_printf(o, "; %lu evaluations for the differences\n", R->fd_evals);
    if (R->redrawn_kink)
        buf_printf(o, "%u point%s redrawn: a kink within reach of the step%s%s%s\n", R->redrawn_kink,
                   R->redrawn_kink == 1 ? "" : "s", R->kink_where ? " (" : "", R->kink_where ? R->kink_where : "",
                   R->kink_where ? ")" : "");
    if (R->redrawn_fault)
        buf_printf(o, "%u point%s redrawn: undefined there (%s)\n", R->redrawn_fault, R->redrawn_fault == 1 ? "" : "s",
                   R->fault_where ? R->fault_where : "a fault");
    if (R->redrawn_double)
        buf_printf(o, "%u point%s redrawn: the double sweep overflowed or underflowed\n", R->redrawn_double,
                   R->redrawn_double == 1 ? "" : "s");
    if (R->skipped_at) {
        const char *w = R->at_reason && R->at_reason[0] == 'a' ? R->kink_where : R->fault_where;
        buf_printf(o, "%u `at` point%s skipped: %s%s%s%s\n", R->skipped_at, R->skipped_at == 1 ? "" : "s",
                   R->at_reason ? R->at_reason : "?", w ? " (" : "", w ? w : "", w ? ")" : "");
    }
}

static void json_num(buf *o, double x)
{
    if (isfinite(x))
        buf_printf(o, "%.17g", x);
    else
        buf_puts(o, "null");
}

static void write_json(buf *o, const gp_case *cs, const check_report *R, const check_opts *op, const check_entry *sorted)
{
    buf_printf(o, "{\"ok\": %s, \"precision_bits\": %lu, \"points\": %u, \"samples\": %zu, \"own_data\": %s, "
                  "\"per_sample\": %s, \"directional\": %s, \"directional_auto\": %s,\n \"params\": [",
               R->ok ? "true" : "false", (unsigned long)R->prec, R->points, R->nsamples, R->own_data ? "true" : "false",
               R->per_sample ? "true" : "false", op->directional ? "true" : "false",
               op->auto_directional ? "true" : "false");
    int first = 1;
    for (size_t i = 0; i < R->nentries; i++) {
        const check_entry *e = &sorted[i];
        if (!e->seen)
            continue;
        buf_puts(o, first ? "\n  {" : ",\n  {");
        first = 0;
        buf nm = BUF_INIT;
        entry_name(&nm, cs, op, e, PR_CASE);
        buf_puts(o, op->directional ? "\"direction\": " : "\"param\": ");
        buf_json_str(o, nm.s ? nm.s : "");
        buf_free_into(o, &nm);
        buf_printf(o, ", \"ok\": %s, \"symbolic\": ", e->ok ? "true" : "false");
        buf_json_str(o, e->sym ? e->sym : "");
        buf_puts(o, ", \"finite_difference\": ");
        buf_json_str(o, e->fd ? e->fd : "");
        buf_puts(o, ", \"fd_error_bound\": ");
        buf_json_str(o, e->fd_err ? e->fd_err : "");
        char bp[40];
        snprintf(bp, sizeof bp, "%.17g", e->bp);
        buf_puts(o, ", \"backprop\": ");
        buf_json_str(o, bp);
        buf_puts(o, ", \"fd_rel_err\": ");
        json_num(o, e->fd_rel_err);
        buf_puts(o, ", \"backprop_ulp_err\": ");
        json_num(o, e->bp_ulp_err);
        buf_puts(o, ", \"backprop_ulp_bound\": ");
        json_num(o, e->bp_ulp_bound);
        buf_printf(o, ", \"finite_difference_ok\": %s, \"backprop_ok\": %s, \"fd_status\": \"%s\", \"fd_precision_bits\": %lu, "
                      "\"point\": %u, \"sample\": ",
                   e->fd_ok ? "true" : "false", e->bp_ok ? "true" : "false", fd_word(e->fd_status),
                   (unsigned long)e->fd_prec, e->point);
        if (e->sample >= 0)
            buf_printf(o, "%ld}", e->sample);
        else
            buf_puts(o, "null}");
    }
    buf_printf(o, "%s],\n \"redrawn\": {\"kink\": %u, \"fault\": %u, \"double_overflow\": %u, \"kink_where\": ",
               first ? "" : "\n ", R->redrawn_kink, R->redrawn_fault, R->redrawn_double);
    if (R->kink_where)
        buf_json_str(o, R->kink_where);
    else
        buf_puts(o, "null");
    buf_puts(o, ", \"fault_where\": ");
    if (R->fault_where)
        buf_json_str(o, R->fault_where);
    else
        buf_puts(o, "null");
    buf_puts(o, ", \"at_skipped_reason\": ");
    if (R->at_reason)
        buf_json_str(o, R->at_reason);
    else
        buf_puts(o, "null");
    buf_printf(o, "}, \"at_points\": %u, \"at_skipped\": %u, \"fd_evaluations\": %lu, \"fd_max_precision_bits\": %lu, \"reference_max_precision_bits\": %lu, "
                  "\"backprop_slack\": %.2f",
               R->at_points, R->skipped_at, R->fd_evals, (unsigned long)R->fd_max_prec, (unsigned long)R->ref_max_prec,
               CHECK_SLACK);
}

/* The table as a LaTeX longtable, then the summary as text. */
static void write_latex(buf *o, const gp_case *cs, const check_report *R, const check_opts *op, const check_entry *sorted)
{
    buf t = BUF_INIT;
    buf_printf(&t, "%s (%s), %lu bits.",
               R->per_sample ? "Per-sample loss: each sample checked" : "Loss over the data set",
               R->own_data ? "no data in the case: seeded random samples" : "the case's data", (unsigned long)R->prec);
    render_latex_text(o, t.s ? t.s : "");
    buf_free_into(o, &t);
    buf_printf(o, "\n\n\\begin{longtable}{lllll}\n%s & symbolic (MPFR) & fd rel.\\ error & backprop error (bound) & \\\\\n\\hline\n",
               op->directional ? "direction" : "param");
    for (size_t i = 0; i < R->nentries; i++) {
        const check_entry *e = &sorted[i];
        if (!e->seen)
            continue;
        buf nm = BUF_INIT;
        entry_name(&nm, cs, op, e, op->directional ? PR_TEXT : PR_LATEX);
        if (op->directional)
            render_latex_text(o, nm.s ? nm.s : "");
        else
            buf_printf(o, "$%s$", nm.s ? nm.s : "");
        buf_free_into(o, &nm);
        char ue[24], ub[24];
        fmt_ulp(ue, sizeof ue, e->bp_ulp_err);
        fmt_ulp(ub, sizeof ub, e->bp_ulp_bound);
        buf_printf(o, " & \\texttt{%s} & %.1e & %s ($\\le$ %s) & %s \\\\\n", e->sym ? e->sym : "?", e->fd_rel_err, ue, ub,
                   e->ok ? "agree" : "\\textbf{disagree}");
    }
    buf_puts(o, "\\end{longtable}\n\n");
    buf s = BUF_INIT;
    write_summary(&s, cs, R, op, sorted);
    /* one paragraph per line */
    for (char *line = s.s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        render_latex_text(o, line);
        buf_puts(o, "\n\n");
        line = nl ? nl + 1 : line + strlen(line);
    }
    buf_free_into(o, &s);
}

gp_status check_write(buf *o, const gp_case *cs, const check_report *R, const check_opts *op, gp_format fmt)
{
    check_entry *sorted = malloc((R->nentries ? R->nentries : 1) * sizeof *sorted);
    if (!sorted)
        return GP_ENOMEM;
    memcpy(sorted, R->e, R->nentries * sizeof *sorted);
    qsort(sorted, R->nentries, sizeof *sorted, by_badness);
    if (fmt == GP_FMT_JSON)
        write_json(o, cs, R, op, sorted);
    else if (fmt == GP_FMT_LATEX)
        write_latex(o, cs, R, op, sorted);
    else
        write_text(o, cs, R, op, sorted);
    free(sorted);
    return GP_OK;
}

gp_status gp_check_render(gp_case *cs, const gp_check_opts *opts, char **out, gp_check_summary *sum)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    check_opts o = {.points = opts->points, .prec = (mpfr_prec_t)opts->precision, .seed = opts->seed,
                    .directional = opts->directional, .directions = opts->directions,
                    .per_param = opts->per_param};
    check_resolve(cs, &o);
    if (opts->precision > c->lim.max_precision) {
        diag_error(c, -1, 0, 0, "a precision of %lu bits is above the limit of %lu (raise it with --max-precision)",
                   opts->precision, c->lim.max_precision);
        return GP_ELIMIT;
    }
    check_report R;
    gp_status st = check_run(cs, &o, &R);
    claim_result *res = NULL;
    gp_claims_summary S = {0, 0, 0, 0};
    if (st == GP_OK && cs->nclaims) {
        claims_opts co = {0, opts->seed};
        res = calloc(cs->nclaims, sizeof *res);
        if (!res)
            st = GP_ENOMEM;
        else
            st = claims_judge(cs, &co, res);
        if (res)
            claims_summarise(res, cs->nclaims, &S);
    }
    check_entry *sorted = NULL;
    if (st == GP_OK) {
        sorted = malloc((R.nentries ? R.nentries : 1) * sizeof *sorted);
        if (!sorted)
            st = GP_ENOMEM;
    }
    if (st == GP_OK) {
        memcpy(sorted, R.e, R.nentries * sizeof *sorted);
        qsort(sorted, R.nentries, sizeof *sorted, by_badness);
        buf b = BUF_INIT;
        if (opts->format == GP_FMT_JSON) {
            write_json(&b, cs, &R, &o, sorted);
            buf_puts(&b, ",\n \"claims\": ");
            if (cs->nclaims) {
                claims_write_json(&b, cs, res, &S, CLAIMS_POINTS);
                buf_putc(&b, '}');
            } else {
                buf_puts(&b, "null");
            }
            buf_puts(&b, ",\n \"diagnostics\": ");
            render_json_diagnostics(&b, c);
            buf_puts(&b, "}\n");
        } else {
            write_text(&b, cs, &R, &o, sorted);
            if (cs->nclaims) {
                buf_puts(&b, "\nclaims:\n");
                claims_write_text(&b, cs, res, &S, CLAIMS_POINTS);
            }
        }
        *out = buf_take(&b);
        if (!*out)
            st = GP_ENOMEM;
        buf_free(&b);
    }
    if (sum)
        *sum = (gp_check_summary){R.ok, R.nentries, R.nbad, R.points, S.fail, S.unknown};
    free(sorted);
    for (size_t i = 0; res && i < cs->nclaims; i++)
        claim_result_free(&res[i]);
    free(res);
    check_report_free(&R);
    return st;
}

/* ---- grad: the engine as a tool ---- */

static void put_value(buf *o, double x)
{
    if (isfinite(x))
        buf_printf(o, "%.17g", x);
    else
        buf_puts(o, "null");
}

/* Why the double engine's loss or gradient is not finite at K's point (the
   unit of all samples): the fault of the loss in MPFR, else the fault of the
   symbolic derivatives (sqrt at 0: a finite loss, an infinite slope).  NULL
   when MPFR finds none: the doubles overflowed where MPFR did not. */
static char *grad_fault(checker *K, gp_status *st)
{
    gp_ctx *c = K->c;
    eval_fault f = {.node = GP_NIL};
    if ((*st = ensure_mpfr(K, K->prec)) != GP_OK)
        return NULL;
    for (size_t i = 0; i < K->P; i++) {
        mpfr_set_prec(K->pw[i], K->prec);
        mpfr_set_d(K->pw[i], K->pd[i], MPFR_RNDN);
        mpfr_set_d(K->lv[K->cs->params[i]], K->pd[i], MPFR_RNDN);
    }
    tape_mpfr_forward(&K->m, (const mpfr_t *)K->pw, (const mpfr_t *)K->uq, K->kbase, &f);
    if (f.node != GP_NIL)
        return where(K, f.node, f.what);
    gp_id *wrt = malloc((K->P ? K->P : 1) * sizeof *wrt);
    if (!wrt) {
        *st = GP_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < K->P; i++)
        wrt[i] = c->leaf[K->cs->params[i]].node;
    *st = derive_grad(c, K->cs->loss, K->P, wrt, K->dnode);
    free(wrt);
    if (*st != GP_OK)
        return NULL;
    eval_env env = {.leafval = (const mpfr_t *)K->lv, .nsamples = K->nall, .ncols = K->ncol,
                    .col_leaf = K->col_leaf, .cols = (const mpfr_t *)K->cols};
    for (size_t i = 0; i < K->P; i++)
        mpfr_set_prec(K->sym1[i], K->prec);
    /* a per-sample loss: sample by sample */
    size_t nunits = K->per_sample ? K->nall : 1;
    for (size_t s = 0; s < nunits && *st == GP_OK && f.node == GP_NIL; s++)
        *st = eval_mpfr(K->sym1, c, &env, K->per_sample ? (long)s : -1, K->P, K->dnode, K->prec, &f);
    return *st == GP_OK && f.node != GP_NIL ? where(K, f.node, f.what) : NULL;
}

gp_status gp_grad_render(gp_case *cs, const gp_grad_opts *opts, char **out, int *finite)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    *finite = 0;
    ctx_stack_mark(c);
    check_report R;
    memset(&R, 0, sizeof R);
    checker K;
    gp_status st = checker_init(&K, cs, CHECK_PREC, opts->seed, 0, &R);
    if (st != GP_OK) {
        checker_free(&K);
        return st;
    }
    /* the point: the last `at` line when asked, else the first, else random */
    int exact = 1, from_at = cs->npoints > 0;
    if (from_at)
        exact = point_at(&K, opts->last_at ? cs->npoints - 1 : 0);
    else
        for (size_t i = 0; i < K.P; i++)
            K.pd[i] = rnd_param(&K.rng);
    set_unit(&K, -1);
    st = tape_dbl_init(&K.w, &K.t, K.ns, 1);
    if (st == GP_OK) {
        K.wok = 1;
        tape_dbl_forward(&K.w, K.pd, K.udata);
        tape_dbl_reverse(&K.w, 0, K.grad, K.bound);
        /* a per-sample loss: its values summed over the samples */
        double loss = 0, lerr = 0;
        size_t nl = K.per_sample ? K.ns : 1;
        for (size_t s = 0; s < nl; s++) {
            loss += tape_dbl_value(&K.w, 0, s);
            lerr += tape_dbl_value_err(&K.w, 0, s);
        }
        *finite = isfinite(loss);
        for (size_t i = 0; i < K.P; i++)
            *finite &= isfinite(K.grad[i]) != 0;
        char *why = NULL;
        if (!*finite)
            why = grad_fault(&K, &st);
        const char *lname = cs->loss_sym < cs->nsym ? cs->sym[cs->loss_sym].name : "loss";
        buf b = BUF_INIT;
        if (opts->format == GP_FMT_JSON) {
            buf_puts(&b, "{\"loss_name\": ");
            buf_json_str(&b, lname);
            buf_puts(&b, ", \"loss\": ");
            put_value(&b, loss);
            buf_puts(&b, ", \"loss_error_bound\": ");
            put_value(&b, lerr);
            buf_printf(&b, ", \"per_sample_summed\": %s, \"samples\": %zu, \"own_data\": %s, \"point_from\": \"%s\"",
                       K.per_sample ? "true" : "false", K.ns, R.own_data ? "true" : "false",
                       from_at ? (opts->last_at ? "at (last)" : "at") : "random");
            buf_printf(&b, ", \"finite\": %s, \"fault\": ", *finite ? "true" : "false");
            if (why)
                buf_json_str(&b, why);
            else
                buf_puts(&b, *finite ? "null" : "\"overflow in double (MPFR finds no fault)\"");
            for (int part = 0; part < 3; part++) {
                static const char *const key[] = {"params", "gradient", "gradient_error_bound"};
                buf_printf(&b, ",\n \"%s\": {", key[part]);
                for (size_t i = 0; i < K.P; i++) {
                    buf nm = BUF_INIT;
                    put_param(&nm, cs, i, PR_CASE);
                    buf_puts(&b, i ? ", " : "");
                    buf_json_str(&b, nm.s ? nm.s : "");
                    buf_puts(&b, ": ");
                    put_value(&b, part == 0 ? K.pd[i] : part == 1 ? K.grad[i] : K.bound[i]);
                    buf_free_into(&b, &nm);
                }
                buf_putc(&b, '}');
            }
            if (R.own_data) {
                /* the samples drawn, so that another engine can use the same */
                buf_puts(&b, ",\n \"data\": {");
                for (size_t j = 0; j < K.ncol; j++) {
                    buf nm = BUF_INIT;
                    print_name(&nm, &c->leaf[K.col_leaf[j]].name, PR_CASE);
                    buf_puts(&b, j ? ", " : "");
                    buf_json_str(&b, nm.s ? nm.s : "");
                    buf_puts(&b, ": [");
                    for (size_t s = 0; s < K.ns; s++) {
                        buf_puts(&b, s ? ", " : "");
                        put_value(&b, K.udata[j * K.ns + s]);
                    }
                    buf_putc(&b, ']');
                    buf_free_into(&b, &nm);
                }
                buf_putc(&b, '}');
            }
            buf_puts(&b, ",\n \"diagnostics\": ");
            render_json_diagnostics(&b, c);
            buf_puts(&b, "}\n");
        } else {
            /* fabs: NaN printed without the sign glibc gives it ("-nan") */
            buf_printf(&b, "%s = %.17g  (rounding error ≤ %.2g)\n", lname, isnan(loss) ? fabs(loss) : loss,
                       isnan(lerr) ? fabs(lerr) : lerr);
            buf_printf(&b, "%s, over %s%zu sample%s%s\n",
                       from_at ? (exact ? "at the case's point" : "at the case's point, rounded to double")
                               : "at a seeded random point",
                       R.own_data ? "seeded random data: " : "the case's data: ", K.ns, K.ns == 1 ? "" : "s",
                       K.per_sample ? " (a per-sample loss: values and gradients summed over them)" : "");
            if (why)
                buf_printf(&b, "not finite: undefined at this point (%s)\n", why);
            else if (!*finite)
                buf_puts(&b, "not finite: the doubles overflow at this point (MPFR finds the loss and its "
                             "derivatives defined)\n");
            buf_putc(&b, '\n');
            size_t wn = 5;
            for (size_t i = 0; i < K.P; i++) {
                buf nm = BUF_INIT;
                put_param(&nm, cs, i, PR_TEXT);
                if (nm.s && print_width(nm.s) > wn)
                    wn = print_width(nm.s);
                buf_free_into(&b, &nm);
            }
            pad(&b, "param", wn + 2);
            pad(&b, "value", 25);
            pad(&b, "gradient", 25);
            buf_puts(&b, "rounding error ≤\n");
            for (size_t i = 0; i < K.P; i++) {
                buf nm = BUF_INIT;
                put_param(&nm, cs, i, PR_TEXT);
                pad(&b, nm.s ? nm.s : "", wn + 2);
                buf_free_into(&b, &nm);
                char v[40], g[40];
                snprintf(v, sizeof v, "%.17g", K.pd[i]);
                snprintf(g, sizeof g, "%.17g", isnan(K.grad[i]) ? fabs(K.grad[i]) : K.grad[i]);
                pad(&b, v, 25);
                pad(&b, g, 25);
                buf_printf(&b, "%.2g\n", isnan(K.bound[i]) ? fabs(K.bound[i]) : K.bound[i]);
            }
        }
        *out = buf_take(&b);
        if (!*out && st == GP_OK)
            st = GP_ENOMEM;
        buf_free(&b);
        free(why);
    }
    checker_free(&K);
    check_report_free(&R);
    if (st == GP_OK && c->status != GP_OK)
        st = c->status;
    return st;
}

/* ---- verify: gradients from another engine ---- */

#define VERIFY_SLACK 4.0   /* another engine's order of operations: 4 x our bound + 1 ulp */

typedef struct vname {
    const char *name;      /* as written in a case: w111, p[1][2] (malloc) */
    size_t ord;
} vname;

static int vname_cmp(const void *a, const void *b) { return strcmp(((const vname *)a)->name, ((const vname *)b)->name); }

/* One given value: where it stands, for the messages. */
typedef struct vval {
    size_t param;
    double v;
    size_t off, len;
} vval;

typedef struct vpoint {
    size_t off;            /* the point's position in the file */
    long sample;           /* -1: all samples */
    double *params;        /* [P] */
    unsigned char *given;  /* [P] params given */
    vval *grad;
    size_t ngrad;
} vpoint;

typedef struct verifier {
    gp_case *cs;
    gp_ctx *c;
    int src;
    const char *text;
    size_t len;
    vname *names;          /* sorted by name */
    const char **byord;    /* [P] the name of each param */
    size_t P;
    vpoint *pts;
    size_t npts, cap;
} verifier;

static void vpoints_free(verifier *V)
{
    for (size_t i = 0; i < V->npts; i++) {
        free(V->pts[i].params);
        free(V->pts[i].given);
        free(V->pts[i].grad);
    }
    free(V->pts);
    for (size_t i = 0; V->names && i < V->P; i++)
        free((char *)V->names[i].name);
    free(V->names);
    free(V->byord);
}

/* The param called s, or -1 with an error at off..off+n. */
static long vlookup(verifier *V, const char *s, size_t off, size_t n)
{
    vname key = {s, 0};
    const vname *f = bsearch(&key, V->names, V->P, sizeof *V->names, vname_cmp);
    if (f)
        return (long)f->ord;
    const char *best = NULL;
    unsigned bd = 3;
    for (size_t i = 0; i < V->P; i++) {
        unsigned d = diag_edit_distance(s, strlen(s), V->names[i].name, strlen(V->names[i].name), 2);
        if (d < bd) {
            bd = d;
            best = V->names[i].name;
        }
    }
    if (best)
        diag_error(V->c, V->src, off, n, "unknown param '%s' (did you mean '%s'?)", s, best);
    else
        diag_error(V->c, V->src, off, n, "unknown param '%s'", s);
    return -1;
}

/* A finite double from a number's text; 0 with an error when it is not one. */
static int vnumber(verifier *V, const char *s, size_t off, size_t n, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) {
        diag_error(V->c, V->src, off, n ? n : 1, "'%s' is not a finite number", s);
        return 0;
    }
    *out = v;
    return 1;
}

static vpoint *vnew_point(verifier *V, size_t off)
{
    if (!ctx_grow((void **)&V->pts, &V->cap, V->npts + 1, sizeof *V->pts))
        return NULL;
    vpoint *p = &V->pts[V->npts];
    memset(p, 0, sizeof *p);
    p->off = off;
    p->sample = -1;
    p->params = calloc(V->P ? V->P : 1, sizeof *p->params);
    p->given = calloc(V->P ? V->P : 1, 1);
    p->grad = malloc((V->P ? V->P : 1) * sizeof *p->grad);
    V->npts++;
    return p->params && p->given && p->grad ? p : NULL;
}

static int vadd_grad(verifier *V, vpoint *p, size_t k, double v, size_t off, size_t n)
{
    for (size_t i = 0; i < p->ngrad; i++)
        if (p->grad[i].param == k) {
            diag_error(V->c, V->src, off, n, "a second gradient entry for this param in the same point");
            return 0;
        }
    p->grad[p->ngrad++] = (vval){k, v, off, n};
    return 1;
}

/* {"params": {...}, "gradient": {...}, "sample": i} */
static gp_status vjson_point(verifier *V, const json *o, size_t nsamples)
{
    if (o->type != JSON_OBJECT) {
        diag_error(V->c, V->src, o->off, 1, "a point is an object with \"params\" and \"gradient\", found %s",
                   json_type_name(o->type));
        return GP_EINPUT;
    }
    vpoint *p = vnew_point(V, o->off);
    if (!p)
        return GP_ENOMEM;
    const json *pa = json_get(o, "params"), *gr = json_get(o, "gradient"), *sa = json_get(o, "sample");
    if (!pa || pa->type != JSON_OBJECT || !gr || gr->type != JSON_OBJECT) {
        diag_error(V->c, V->src, o->off, 1, "a point needs the objects \"params\" and \"gradient\"");
        return GP_EINPUT;
    }
    gp_status st = GP_OK;
    if (sa) {
        double s;
        if (sa->type != JSON_NUMBER || !vnumber(V, sa->str, sa->off, sa->len, &s) || s != floor(s) || s < 0 ||
            s >= (double)nsamples) {
            diag_error(V->c, V->src, sa->off, sa->type == JSON_NUMBER ? sa->len : 1,
                       "\"sample\" must be a sample number from 0 to %zu", nsamples ? nsamples - 1 : 0);
            st = GP_EINPUT;
        } else {
            p->sample = (long)s;
        }
    }
    for (int part = 0; part < 2; part++) {
        const json *m = part ? gr : pa;
        for (size_t i = 0; i < m->len; i++) {
            const json *v = &m->item[i];
            size_t koff = m->key_off[i], klen = strlen(m->key[i]) + 2;
            long k = vlookup(V, m->key[i], koff, klen);
            double x;
            if (k < 0) {
                st = GP_EINPUT;
                continue;
            }
            if (v->type != JSON_NUMBER) {
                diag_error(V->c, V->src, v->off, 1, "the value of '%s' must be a number, found %s", m->key[i],
                           json_type_name(v->type));
                st = GP_EINPUT;
                continue;
            }
            if (!vnumber(V, v->str, v->off, v->len, &x)) {
                st = GP_EINPUT;
                continue;
            }
            if (part == 0) {
                p->params[k] = x;
                p->given[k] = 1;
            } else if (!vadd_grad(V, p, (size_t)k, x, v->off, v->len)) {
                st = GP_EINPUT;
            }
        }
    }
    return st;
}

static gp_status vparse_json(verifier *V, size_t nsamples)
{
    json_doc d = {0};
    json_error e;
    int r = json_parse(&d, V->text, V->len, &e);
    if (r == -2)
        return GP_ENOMEM;
    if (r != 0) {
        diag_error(V->c, V->src, e.off, 1, "%s", e.msg);
        return GP_EINPUT;
    }
    gp_status st = GP_OK;
    const json *root = d.root, *pts = root->type == JSON_OBJECT ? json_get(root, "points") : NULL;
    if (pts && pts->type == JSON_ARRAY) {
        if (pts->len == 0) {
            diag_error(V->c, V->src, pts->off, 1, "\"points\" is empty");
            st = GP_EINPUT;
        }
        for (size_t i = 0; i < pts->len && st != GP_ENOMEM; i++) {
            gp_status s = vjson_point(V, &pts->item[i], nsamples);
            if (s != GP_OK)
                st = s;
        }
    } else if (root->type == JSON_OBJECT && json_get(root, "gradient")) {
        st = vjson_point(V, root, nsamples); /* one point, as `gradproof grad --json` writes it */
    } else {
        diag_error(V->c, V->src, root->off, 1, "expected {\"points\": [{\"params\": {...}, \"gradient\": {...}}, ...]}");
        st = GP_EINPUT;
    }
    json_free(&d);
    return st;
}

/* CSV: a header point,param,value,gradient (point optional), one row per param. */
static gp_status vparse_csv(verifier *V)
{
    const char *t = V->text, *end = t + V->len;
    int col_point = -1, col_param = -1, col_value = -1, col_grad = -1, ncol = 0;
    gp_status st = GP_OK;
    long cur = -1;
    vpoint *p = NULL;
    int header = 1;
    char cell[4][128];
    size_t coff[4], clen[4];
    while (t < end && st != GP_ENOMEM) {
        const char *eol = memchr(t, '\n', (size_t)(end - t));
        if (!eol)
            eol = end;
        const char *line = t;
        t = eol < end ? eol + 1 : end;
        const char *q = line, *le = eol;
        if (le > q && le[-1] == '\r')
            le--;
        int blank = 1;
        for (const char *z = q; z < le; z++)
            blank &= *z == ' ' || *z == '\t';
        if (blank)
            continue;
        int n = 0;
        while (q <= le && n < 5) {
            const char *c0 = q, *c1 = memchr(q, ',', (size_t)(le - q));
            if (!c1)
                c1 = le;
            while (c0 < c1 && (*c0 == ' ' || *c0 == '\t'))
                c0++;
            const char *c2 = c1;
            while (c2 > c0 && (c2[-1] == ' ' || c2[-1] == '\t'))
                c2--;
            if (n < 4) {
                size_t w = (size_t)(c2 - c0) < sizeof cell[0] - 1 ? (size_t)(c2 - c0) : sizeof cell[0] - 1;
                memcpy(cell[n], c0, w);
                cell[n][w] = 0;
                coff[n] = (size_t)(c0 - V->text);
                clen[n] = (size_t)(c2 - c0);
            }
            n++;
            q = c1 + 1;
        }
        size_t loff = (size_t)(line - V->text);
        if (header) {
            header = 0;
            for (int i = 0; i < n && i < 4; i++) {
                if (!strcmp(cell[i], "point"))
                    col_point = i;
                else if (!strcmp(cell[i], "param"))
                    col_param = i;
                else if (!strcmp(cell[i], "value"))
                    col_value = i;
                else if (!strcmp(cell[i], "gradient"))
                    col_grad = i;
                else {
                    diag_error(V->c, V->src, coff[i], clen[i] ? clen[i] : 1,
                               "unknown column '%s' (the header is point,param,value,gradient)", cell[i]);
                    return GP_EINPUT;
                }
            }
            ncol = n;
            if (col_param < 0 || col_value < 0 || col_grad < 0 || n > 4) {
                diag_error(V->c, V->src, loff, (size_t)(le - line) ? (size_t)(le - line) : 1,
                           "the header must name the columns param, value and gradient (and point)");
                return GP_EINPUT;
            }
            continue;
        }
        if (n != ncol) {
            diag_error(V->c, V->src, loff, (size_t)(le - line) ? (size_t)(le - line) : 1,
                       "%d values in this row, the header has %d", n, ncol);
            st = GP_EINPUT;
            continue;
        }
        long pt = 1;
        if (col_point >= 0) {
            double x;
            if (!vnumber(V, cell[col_point], coff[col_point], clen[col_point], &x)) {
                st = GP_EINPUT;
                continue;
            }
            if (x != floor(x) || x < 1 || x > 1e9) {
                diag_error(V->c, V->src, coff[col_point], clen[col_point] ? clen[col_point] : 1,
                           "a point is a whole number from 1 to 1000000000, not '%s'", cell[col_point]);
                st = GP_EINPUT;
                continue;
            }
            pt = (long)x;
        }
        if (pt != cur) {
            if (pt < cur) {
                diag_error(V->c, V->src, coff[col_point], clen[col_point], "points must come in increasing order");
                st = GP_EINPUT;
                continue;
            }
            cur = pt;
            if (!(p = vnew_point(V, loff)))
                return GP_ENOMEM;
        }
        long k = vlookup(V, cell[col_param], coff[col_param], clen[col_param] ? clen[col_param] : 1);
        double v, g;
        if (k < 0 || !vnumber(V, cell[col_value], coff[col_value], clen[col_value], &v) ||
            !vnumber(V, cell[col_grad], coff[col_grad], clen[col_grad], &g)) {
            st = GP_EINPUT;
            continue;
        }
        p->params[k] = v;
        p->given[k] = 1;
        if (!vadd_grad(V, p, (size_t)k, g, coff[col_grad], clen[col_grad]))
            st = GP_EINPUT;
    }
    if (st == GP_OK && V->npts == 0) {
        diag_error(V->c, V->src, 0, 1, "no gradients in the file");
        st = GP_EINPUT;
    }
    return st;
}

/* Every point must give every param of the case, and a gradient entry. */
static gp_status vcomplete(verifier *V)
{
    gp_status st = GP_OK;
    for (size_t i = 0; i < V->npts; i++) {
        vpoint *p = &V->pts[i];
        for (size_t k = 0; k < V->P; k++)
            if (!p->given[k]) {
                diag_error(V->c, V->src, p->off, 1, "point %zu does not give the value of param '%s'", i + 1,
                           V->byord[k]);
                st = GP_EINPUT;
                break;
            }
        if (p->ngrad == 0) {
            diag_error(V->c, V->src, p->off, 1, "point %zu has no gradient entries", i + 1);
            st = GP_EINPUT;
        }
    }
    return st;
}

typedef struct ventry {
    unsigned point;        /* 1-based */
    size_t param;
    int ok;                /* 1 right, 0 wrong, -1 unknown */
    const char *reason;    /* unknown: why (static) */
    char *ref;             /* the reference, 20 digits (malloc) */
    double given, ulp_err, ulp_bound;
} ventry;

static int ventry_cmp(const void *a, const void *b)
{
    const ventry *x = a, *y = b;
    if (x->ok != y->ok)
        return x->ok == 0 ? -1 : y->ok == 0 ? 1 : x->ok < y->ok ? -1 : 1;
    double rx = x->ulp_bound > 0 ? x->ulp_err / x->ulp_bound : x->ulp_err;
    double ry = y->ulp_bound > 0 ? y->ulp_err / y->ulp_bound : y->ulp_err;
    if (rx != ry)
        return rx < ry ? 1 : -1;
    return x->point != y->point ? (x->point < y->point ? -1 : 1) : (x->param < y->param ? -1 : x->param > y->param);
}

/* Judge point p into e[0 .. p->ngrad). */
static gp_status vjudge_point(verifier *V, checker *K, check_report *R, const vpoint *p, unsigned pt, ventry *e)
{
    memcpy(K->pd, p->params, V->P * sizeof *K->pd);
    size_t P = V->P;
    mpfr_t *sum = malloc((P ? P : 1) * sizeof *sum);
    double *bsum = calloc(P ? P : 1, sizeof *bsum), *rsum = calloc(P ? P : 1, sizeof *rsum);
    if (!sum || !bsum || !rsum) {
        free(sum);
        free(bsum);
        free(rsum);
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < P; i++)
        mpfr_init2(sum[i], K->prec + 64), mpfr_set_zero(sum[i], 1);
    gp_status st = GP_OK;
    const char *why = NULL;
    size_t first = K->per_sample ? (p->sample >= 0 ? (size_t)p->sample : 0) : 0;
    size_t last = K->per_sample ? (p->sample >= 0 ? (size_t)p->sample + 1 : K->nall) : 1;
    for (size_t s = first; s < last && !why; s++) {
        set_unit(K, K->per_sample ? (long)s : -1);
        unit_result u = unit_prepare(K, R, &st);
        if (u == U_ERR)
            break;
        if (u != U_OK) {
            why = u == U_KINK ? "a kink (relu, abs, step, sign) at this point: the derivative is not defined"
                  : u == U_FAULT ? "the loss is not defined at this point"
                                 : "the double computation overflows at this point";
            break;
        }
        for (size_t i = 0; i < P; i++) {
            mpfr_add(sum[i], sum[i], K->sym[i], MPFR_RNDN);
            bsum[i] += K->bound[i];
            rsum[i] += K->referr[i];
        }
    }
    for (size_t j = 0; j < p->ngrad && st == GP_OK; j++) {
        const vval *g = &p->grad[j];
        ventry *x = &e[j];
        x->point = pt;
        x->param = g->param;
        x->given = g->v;
        if (why) {
            x->ok = -1;
            x->reason = why;
            continue;
        }
        x->ref = fr_str(sum[g->param], 20);
        if (!x->ref)
            st = GP_ENOMEM;
        double r = mpfr_get_d(sum[g->param], MPFR_RNDN), u = ulp_of(r);
        mpfr_t d;
        mpfr_init2(d, K->prec + 64);
        mpfr_set_d(d, g->v, MPFR_RNDN);
        mpfr_sub(d, d, sum[g->param], MPFR_RNDN);
        double err = fabs(mpfr_get_d(d, MPFR_RNDU));
        mpfr_clear(d);
        double allow = VERIFY_SLACK * bsum[g->param] + u + rsum[g->param];
        x->ok = err <= allow;
        x->ulp_err = err / u;
        x->ulp_bound = allow / u;
    }
    for (size_t i = 0; i < P; i++)
        mpfr_clear(sum[i]);
    free(sum);
    free(bsum);
    free(rsum);
    return st;
}

static void vwrite(buf *o, const gp_case *cs, const verifier *V, const ventry *e, size_t n, const gp_verify_summary *S,
                   int as_json)
{
    if (as_json) {
        buf_printf(o, "{\"ok\": %s, \"precision_bits\": %d, \"points\": %zu, \"entries\": %zu, \"wrong\": %zu, "
                      "\"unknown\": %zu, \"slack\": %.1f,\n \"params\": [",
                   S->wrong || S->unknown ? "false" : "true", CHECK_PREC, S->points, S->entries, S->wrong, S->unknown,
                   VERIFY_SLACK);
        for (size_t i = 0; i < n; i++) {
            buf_printf(o, "%s\n  {\"point\": %u, \"param\": ", i ? "," : "", e[i].point);
            buf_json_str(o, V->byord[e[i].param]);
            buf_printf(o, ", \"ok\": %s, \"reference\": ", e[i].ok == 1 ? "true" : e[i].ok == 0 ? "false" : "null");
            if (e[i].ref)
                buf_json_str(o, e[i].ref);
            else
                buf_puts(o, "null");
            buf_puts(o, ", \"given\": ");
            put_value(o, e[i].given);
            buf_puts(o, ", \"ulp_err\": ");
            put_value(o, e[i].ok >= 0 ? e[i].ulp_err : (double)NAN);
            buf_puts(o, ", \"ulp_bound\": ");
            put_value(o, e[i].ok >= 0 ? e[i].ulp_bound : (double)NAN);
            buf_puts(o, ", \"reason\": ");
            if (e[i].reason)
                buf_json_str(o, e[i].reason);
            else
                buf_puts(o, "null");
            buf_putc(o, '}');
        }
        buf_printf(o, "%s],\n \"diagnostics\": ", n ? "\n " : "");
        render_json_diagnostics(o, cs->c);
        buf_puts(o, "}\n");
        return;
    }
    size_t wn = 5;
    for (size_t i = 0; i < n; i++) {
        buf nm = BUF_INIT;
        put_param(&nm, cs, e[i].param, PR_TEXT);
        if (nm.s && print_width(nm.s) > wn)
            wn = print_width(nm.s);
        buf_free_into(o, &nm);
    }
    pad(o, "point", 7);
    pad(o, "param", wn + 2);
    pad(o, "reference (MPFR)", 26);
    pad(o, "given", 25);
    buf_puts(o, "error (bound)\n");
    size_t shown = 0, right_shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ok == 1 && right_shown >= 100)
            continue;
        right_shown += e[i].ok == 1;
        shown++;
        char t[40];
        snprintf(t, sizeof t, "%u", e[i].point);
        pad(o, t, 7);
        buf nm = BUF_INIT;
        put_param(&nm, cs, e[i].param, PR_TEXT);
        pad(o, nm.s ? nm.s : "", wn + 2);
        buf_free_into(o, &nm);
        pad(o, e[i].ref ? e[i].ref : "?", 26);
        snprintf(t, sizeof t, "%.17g", e[i].given);
        pad(o, t, 25);
        if (e[i].ok < 0) {
            buf_printf(o, "unknown: %s\n", e[i].reason);
            continue;
        }
        char a[24], b[24];
        fmt_ulp(a, sizeof a, e[i].ulp_err);
        fmt_ulp(b, sizeof b, e[i].ulp_bound);
        buf_printf(o, "%s (≤ %s)%s\n", a, b, e[i].ok ? "" : "  WRONG");
    }
    if (shown < n)
        buf_printf(o, "… and %zu more right entries (--json lists them all)\n", n - shown);
    buf_printf(o, "\n%zu entr%s at %zu point%s: ", S->entries, S->entries == 1 ? "y" : "ies", S->points,
               S->points == 1 ? "" : "s");
    if (!S->wrong && !S->unknown) {
        buf_puts(o, "all right");
        if (n) {
            char a[24];
            fmt_ulp(a, sizeof a, e[0].ulp_err);
            buf_printf(o, "; worst error %s at ", a);
            put_param(o, cs, e[0].param, PR_TEXT);
            if (S->points > 1)
                buf_printf(o, " (point %u)", e[0].point);
        }
    } else {
        buf_printf(o, "%zu wrong", S->wrong);
        if (S->unknown)
            buf_printf(o, ", %zu unknown", S->unknown);
        for (size_t i = 0, k = 0; i < n && k < 8; i++)
            if (e[i].ok == 0) {
                buf_puts(o, k++ ? ", " : ": ");
                put_param(o, cs, e[i].param, PR_TEXT);
                if (S->points > 1)
                    buf_printf(o, " (point %u)", e[i].point);
            }
    }
    buf_printf(o, "\nreference: the symbolic derivative in MPFR at %d bits; an entry is right within %.0f × the "
                  "double computation's rounding-error bound + 1 ulp\n",
               CHECK_PREC, VERIFY_SLACK);
}

gp_status gp_verify_render(gp_case *cs, const gp_verify_opts *opts, const char *name, const char *text, size_t len,
                           char **out, gp_verify_summary *sum)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    ctx_stack_mark(c);
    gp_verify_summary S = {0, 0, 0, 0};
    verifier V;
    memset(&V, 0, sizeof V);
    V.cs = cs;
    V.c = c;
    V.P = cs->nparams;
    V.src = diag_add_source(c, name ? name : "-", text, len);
    if (V.src < 0)
        return GP_ENOMEM;
    V.text = c->src[V.src].text;
    V.len = len;
    check_report R;
    memset(&R, 0, sizeof R);
    checker K;
    ventry *e = NULL;
    size_t ne = 0;
    gp_status st = checker_init(&K, cs, CHECK_PREC, opts->seed, 1, &R);
    V.names = calloc(V.P ? V.P : 1, sizeof *V.names);
    V.byord = calloc(V.P ? V.P : 1, sizeof *V.byord);
    if (st == GP_OK && (!V.names || !V.byord))
        st = GP_ENOMEM;
    for (size_t i = 0; st == GP_OK && i < V.P; i++) {
        buf b = BUF_INIT;
        put_param(&b, cs, i, PR_CASE);
        V.names[i] = (vname){buf_take(&b), i};
        buf_free(&b);
        if (!V.names[i].name)
            st = GP_ENOMEM;
    }
    if (st == GP_OK) {
        qsort(V.names, V.P, sizeof *V.names, vname_cmp);
        for (size_t i = 0; i < V.P; i++)
            V.byord[V.names[i].ord] = V.names[i].name;
        size_t k = 0;
        while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r'))
            k++;
        st = k < len && (text[k] == '{' || text[k] == '[') ? vparse_json(&V, K.nall)
             : (unsigned char)text[k] == 0xEF && k + 3 < len && text[k + 3] == '{' ? vparse_json(&V, K.nall)
                                                                                   : vparse_csv(&V);
    }
    if (st == GP_OK)
        st = vcomplete(&V);
    if (st == GP_OK && !K.per_sample)
        for (size_t i = 0; i < V.npts; i++)
            if (V.pts[i].sample >= 0) {
                diag_error(c, V.src, V.pts[i].off, 1,
                           "point %zu names a sample, but the loss is over the whole data set", i + 1);
                st = GP_EINPUT;
            }
    for (size_t i = 0; i < V.npts; i++)
        ne += V.pts[i].ngrad;
    if (st == GP_OK && !(e = calloc(ne ? ne : 1, sizeof *e)))
        st = GP_ENOMEM;
    for (size_t i = 0, at = 0; st == GP_OK && i < V.npts; at += V.pts[i].ngrad, i++)
        st = vjudge_point(&V, &K, &R, &V.pts[i], (unsigned)(i + 1), e + at);
    if (st == GP_OK) {
        S.points = V.npts;
        S.entries = ne;
        for (size_t i = 0; i < ne; i++) {
            S.wrong += e[i].ok == 0;
            S.unknown += e[i].ok < 0;
        }
        qsort(e, ne, sizeof *e, ventry_cmp);
        buf b = BUF_INIT;
        vwrite(&b, cs, &V, e, ne, &S, opts->format == GP_FMT_JSON);
        *out = buf_take(&b);
        if (!*out)
            st = GP_ENOMEM;
        buf_free(&b);
    }
    for (size_t i = 0; e && i < ne; i++)
        free(e[i].ref);
    free(e);
    if (sum)
        *sum = S;
    vpoints_free(&V);
    checker_free(&K);
    check_report_free(&R);
    if (st == GP_OK && c->status != GP_OK)
        st = c->status;
    return st;
}

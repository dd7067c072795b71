/*
 * claims.c -- verdicts on hand-derived formulas: holds or fails, with a
 * counterexample people can read and a diagnosis where one exists.
 *
 * A claim is two nodes of the DAG, lhs and rhs; inside them dA/dB is
 * already the true derivative (build.c), so every claim is the question
 * "is rhs - lhs zero?".
 *
 *  - exact: when neither side contains a function call or a root, both are
 *    rational functions of the params, inputs, targets and sample moments
 *    (mean(x1*y), sum(1), ...), and algebra_is_zero() decides rhs - lhs == 0
 *    with FLINT.  The moments are independent symbols, so "holds" means for
 *    every value of the params and for every data set, not only the case's.
 *    A failure is always shown by a point where exact rational evaluation
 *    gives two different values; should none be found, the claim is judged
 *    numerically instead (a difference that vanishes on every data set the
 *    search tries is not reported as a failure).
 *  - numeric: K seeded random points (params random nonzero rationals of
 *    moderate size, the `at` points first), with the case's data or, without
 *    a data block, CLAIMS_SAMPLES random samples per point (targets of both
 *    signs, so that residuals take both signs); both sides in MPFR at
 *    CLAIMS_PREC bits; a point where either side faults is redrawn.  The
 *    claim holds when |rhs - lhs| <= 2^-200 (1 + max(|lhs|, |rhs|)) at every
 *    point and every sample of a per-sample claim.
 *
 * Counterexamples: small integers and simple fractions first (all ones,
 * then values from {1, 2}, {-1, 1, 2}, ...), one-sample data sets before
 * bigger ones; random points only after that.
 *
 * Diagnoses compare the claim with the truth: the right side with the left
 * (for `dC/dw = E` the left is the true derivative).  Exact: the reduced
 * quotient rhs/lhs a constant times a monomial (sign error, factor of 2,
 * missing or extra factor), else rhs - lhs a single term.  Numeric: the
 * ratio constant over all points (rationalised with small denominators;
 * a ratio N or 1/N, N the samples of every data set tried, is named so), or
 * equal to the truth up to a sign that changes from point to point.
 *
 * Owns: for one call, the judge's exact values (cleared on every path) and
 * the strings of the results (the caller's).  Nodes built for the quotient
 * and the difference are interned in the context; nonzero assumptions and
 * diagnostics recorded on the way are taken back.
 */
#include "claims.h"

#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "algebra.h"
#include "derive.h"
#include "buf.h"
#include "eval_mpfr.h"
#include "print.h"
#include "render.h"
#include "rng.h"
#include "simplify.h"

#define CX_TRIES 400     /* points tried for a readable counterexample */
#define REDRAW_CAP 8     /* numeric: at most REDRAW_CAP * K draws in all */
#define POW_CAP 4096     /* exact evaluation: larger integer powers are refused */

/* ---- random numbers ---- */

/* uniform in lo..hi */
static long rnd_int(uint64_t *s, long lo, long hi) { return lo + (long)(rng_next(s) % (uint64_t)(hi - lo + 1)); }

/* ---- the judge ---- */

typedef enum { PT_AGREE, PT_DIFF, PT_FAULT } pt_result;

typedef struct judge {
    gp_case *cs;
    gp_ctx *c;
    uint64_t rng;
    unsigned npoints;        /* K */
    uint64_t seed;           /* of the random points */
    mpq_t *pv;               /* [nleaf] values of the params, by leaf index */
    size_t nleaf;
    /* the data set in use: the case's or our own */
    int case_data;           /* 1: cs->dval */
    size_t nrows, ncols;
    const uint32_t *col_leaf;
    mpq_t *dq;               /* own data, nrows x ncols (cs->ninputs columns) */
    size_t dqcap;            /* initialised entries of dq */
    long *leafcol;           /* [nleaf] column of a leaf in the data in use, -1 none */
    /* the claim being judged */
    const claim *cl;
    int level;               /* max level of its sides */
    unsigned char *cone;     /* [nnode at the start] nodes of its two sides */
    size_t ncone;            /* size of cone[] */
    /* exact evaluation scratch */
    mpq_t *ev;               /* [ncone] */
    size_t nev;              /* initialised entries */
    /* the point that differs */
    long diff_row;           /* its sample (per-sample claims), else -1 */
    /* the first evaluation that failed in the numeric verdict (GP_NIL node: none) */
    eval_fault fault;
} judge;

static const mpq_t *data_table(const judge *J) { return J->case_data ? (const mpq_t *)J->cs->dval : (const mpq_t *)J->dq; }

static void set_leafcol(judge *J)
{
    for (size_t l = 0; l < J->nleaf; l++)
        J->leafcol[l] = -1;
    for (size_t j = 0; j < J->ncols; j++)
        J->leafcol[J->col_leaf[j]] = (long)j;
}

static void use_case_data(judge *J)
{
    J->case_data = 1;
    J->nrows = J->cs->nrows;
    J->ncols = J->cs->ncols;
    J->col_leaf = J->cs->dcol;
    set_leafcol(J);
}

/* Own data of nrows rows, entries initialised (values set by the caller). */
static int use_own_data(judge *J, size_t nrows)
{
    size_t need = nrows * J->cs->ninputs;
    if (need > J->dqcap) {
        mpq_t *t = realloc(J->dq, need * sizeof *t);
        if (!t)
            return 0;
        J->dq = t;
        for (size_t i = J->dqcap; i < need; i++)
            mpq_init(J->dq[i]);
        J->dqcap = need;
    }
    J->case_data = 0;
    J->nrows = nrows;
    J->ncols = J->cs->ninputs;
    J->col_leaf = J->cs->inputs;
    set_leafcol(J);
    return 1;
}

/* ---- values ---- */

/* Simple values by tier: tier 0 is 1; then {1, 2}, {-1, 1, 2},
   {-2, -1, 1, 2, 3}, then fractions with small denominators. */
static void simple_q(mpq_t q, uint64_t *s, int tier, int target)
{
    static const long t1[] = {1, 2}, t2[] = {-1, 1, 2}, t3[] = {-2, -1, 1, 2, 3};
    static const long f4[][2] = {{1, 2}, {-1, 2}, {3, 2}, {-3, 2}, {1, 3}, {-1, 3}, {2, 1}, {-1, 1}, {1, 1}, {-2, 1}};
    switch (tier) {
    case 0: mpq_set_si(q, target ? 2 : 1, 1); return;
    case 1: mpq_set_si(q, t1[rnd_int(s, 0, 1)], 1); return;
    case 2: mpq_set_si(q, t2[rnd_int(s, 0, 2)], 1); return;
    case 3: mpq_set_si(q, t3[rnd_int(s, 0, 4)], 1); return;
    default: {
        long k = rnd_int(s, 0, 9);
        mpq_set_si(q, f4[k][0], (unsigned long)f4[k][1]);
        return;
    }
    }
}

/* A random param value: a nonzero rational n/d, d in 1..9, |n/d| <= 3. */
static void random_param(mpq_t q, uint64_t *s)
{
    long d = rnd_int(s, 1, 9), n = rnd_int(s, 1, 3 * d);
    if (rng_next(s) & 1)
        n = -n;
    mpq_set_si(q, n, (unsigned long)d);
    mpq_canonicalize(q);
}

/* A random input in [-2, 2] or target in [-3, 3], denominators 1..4. */
static void random_datum(mpq_t q, uint64_t *s, int target)
{
    long d = rnd_int(s, 1, 4), m = target ? 3 : 2, n = rnd_int(s, -m * d, m * d);
    mpq_set_si(q, n, (unsigned long)d);
    mpq_canonicalize(q);
}

static int leaf_is_target(const judge *J, uint32_t li) { return J->c->leaf[li].kind == GP_LEAF_TARGET; }

static void params_simple(judge *J, int tier)
{
    for (size_t i = 0; i < J->cs->nparams; i++)
        simple_q(J->pv[J->cs->params[i]], &J->rng, tier, 0);
}

static void params_random(judge *J)
{
    for (size_t i = 0; i < J->cs->nparams; i++)
        random_param(J->pv[J->cs->params[i]], &J->rng);
}

/* The params of `at` line k over random values. */
static void params_at(judge *J, size_t k)
{
    params_random(J);
    const point *p = &J->cs->points[k];
    for (size_t i = 0; i < p->n; i++)
        mpq_set(J->pv[p->leaf[i]], p->val[i]);
}

static int data_simple(judge *J, size_t nrows, int tier)
{
    if (!use_own_data(J, nrows))
        return 0;
    for (size_t r = 0; r < nrows; r++)
        for (size_t j = 0; j < J->ncols; j++) {
            int t = leaf_is_target(J, J->col_leaf[j]);
            if (tier >= 5)
                random_datum(J->dq[r * J->ncols + j], &J->rng, t);
            else
                simple_q(J->dq[r * J->ncols + j], &J->rng, tier == 0 ? 0 : t ? 3 : tier, t);
        }
    return 1;
}

/* ---- exact evaluation of the claim's cone ---- */

static mpq_ptr qv(judge *J, gp_id id) { return J->ev[id]; }

/* Evaluate node id exactly at data row `row`; 0 on a fault (division by
   zero, a power too large, a node that is not rational). */
static int exact_node(judge *J, gp_id id, long row)
{
    gp_ctx *c = J->c;
    const gp_node *n = dag_node(c, id);
    mpq_ptr r = qv(J, id);
    switch ((gp_op)n->op) {
    case GP_OP_NUM: mpq_set(r, dag_q(c, id)); return 1;
    case GP_OP_LEAF: {
        const gp_leaf *l = &c->leaf[n->pay];
        switch (l->kind) {
        case GP_LEAF_PARAM: mpq_set(r, J->pv[n->pay]); return 1;
        case GP_LEAF_CONST:
            if (l->value == GP_NIL)
                return 0;
            mpq_set(r, dag_q(c, l->value));
            return 1;
        default: {
            long col = J->leafcol[n->pay];
            if (col < 0 || row < 0 || (size_t)row >= J->nrows)
                return 0;
            mpq_set(r, data_table(J)[(size_t)row * J->ncols + (size_t)col]);
            return 1;
        }
        }
    }
    case GP_OP_ADD:
        mpq_set(r, qv(J, n->kid[0]));
        for (uint32_t i = 1; i < n->nkid; i++)
            mpq_add(r, r, qv(J, n->kid[i]));
        return 1;
    case GP_OP_MUL:
        mpq_set(r, qv(J, n->kid[0]));
        for (uint32_t i = 1; i < n->nkid; i++)
            mpq_mul(r, r, qv(J, n->kid[i]));
        return 1;
    case GP_OP_POW: {
        mpq_srcptr e = dag_q(c, n->kid[1]);
        mpq_srcptr b = qv(J, n->kid[0]);
        if (mpz_cmp_ui(mpq_denref(e), 1) != 0 || mpz_cmpabs_ui(mpq_numref(e), POW_CAP) > 0)
            return 0;
        long k = mpz_get_si(mpq_numref(e));
        if (k < 0 && mpq_sgn(b) == 0)
            return 0;
        unsigned long ak = (unsigned long)(k < 0 ? -k : k);
        mpz_pow_ui(mpq_numref(r), mpq_numref(b), ak);
        mpz_pow_ui(mpq_denref(r), mpq_denref(b), ak);
        if (k < 0)
            mpq_inv(r, r);
        return 1;
    }
    default: return 0; /* FN, reductions (done by the caller) */
    }
}

/* lhs and rhs of the claim exactly, at data row `row` (per-sample claims)
   or over all rows (reductions).  0 on a fault. */
static int exact_pair(judge *J, long row, mpq_t l, mpq_t r)
{
    gp_ctx *c = J->c;
    gp_id hi = J->cl->lhs > J->cl->rhs ? J->cl->lhs : J->cl->rhs;
    /* static nodes, and per-sample ones for a per-sample claim */
    for (gp_id id = 0; id <= hi; id++) {
        if (!J->cone[id])
            continue;
        int lv = c->node[id].level;
        if (lv == GP_LV_STATIC || (lv == GP_LV_SAMPLE && J->level == GP_LV_SAMPLE))
            if (!exact_node(J, id, row))
                return 0;
    }
    if (J->level == GP_LV_DATASET) {
        mpq_t acc;
        mpq_init(acc);
        /* the reductions, each with its own pass (small cones, few rows) */
        int ok = 1;
        for (gp_id id = 0; id <= hi && ok; id++) {
            if (!J->cone[id])
                continue;
            const gp_node *n = dag_node(c, id);
            if (n->op == GP_OP_MEAN || n->op == GP_OP_SUMS) {
                if (J->nrows == 0) {
                    ok = 0;
                    break;
                }
                mpq_set_ui(acc, 0, 1);
                for (size_t s = 0; s < J->nrows && ok; s++) {
                    for (gp_id k = 0; k < id && ok; k++)
                        if (J->cone[k] && c->node[k].level == GP_LV_SAMPLE)
                            ok = exact_node(J, k, (long)s);
                    mpq_add(acc, acc, qv(J, n->kid[0]));
                }
                if (n->op == GP_OP_MEAN) {
                    mpq_set_ui(qv(J, id), (unsigned long)J->nrows, 1);
                    mpq_div(qv(J, id), acc, qv(J, id));
                } else {
                    mpq_set(qv(J, id), acc);
                }
            } else if (n->level == GP_LV_DATASET) {
                ok = exact_node(J, id, -1);
            }
        }
        mpq_clear(acc);
        if (!ok)
            return 0;
    }
    mpq_set(l, qv(J, J->cl->lhs));
    mpq_set(r, qv(J, J->cl->rhs));
    return 1;
}

/* ---- numeric evaluation ---- */

static int num_pair(judge *J, long row, mpfr_t l, mpfr_t r, gp_status *st)
{
    eval_env env;
    memset(&env, 0, sizeof env);
    env.leafq = (const mpq_t *)J->pv;
    env.nsamples = J->nrows;
    env.ncols = J->ncols;
    env.col_leaf = J->col_leaf;
    env.qcols = data_table(J);
    gp_id roots[2] = {J->cl->lhs, J->cl->rhs};
    mpfr_t out[2];
    mpfr_init2(out[0], CLAIMS_PREC);
    mpfr_init2(out[1], CLAIMS_PREC);
    eval_fault f;
    *st = eval_mpfr(out, J->c, &env, row, 2, roots, CLAIMS_PREC, &f);
    int ok = *st == GP_OK && f.node == GP_NIL;
    if (*st == GP_OK && f.node != GP_NIL && J->fault.node == GP_NIL)
        J->fault = f;
    mpfr_set(l, out[0], MPFR_RNDN);
    mpfr_set(r, out[1], MPFR_RNDN);
    mpfr_clear(out[0]);
    mpfr_clear(out[1]);
    return ok;
}

/* |l - r| <= 2^-200 (1 + max(|l|, |r|)) */
static int num_agree(mpfr_t l, mpfr_t r)
{
    mpfr_t d, m;
    mpfr_init2(d, CLAIMS_PREC + 8);
    mpfr_init2(m, CLAIMS_PREC + 8);
    mpfr_sub(d, l, r, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    if (mpfr_cmpabs(l, r) >= 0)
        mpfr_abs(m, l, MPFR_RNDN);
    else
        mpfr_abs(m, r, MPFR_RNDN);
    mpfr_add_ui(m, m, 1, MPFR_RNDN);
    mpfr_mul_2si(m, m, -CLAIMS_TOL_EXP, MPFR_RNDN);
    int ok = mpfr_lessequal_p(d, m);
    mpfr_clear(d);
    mpfr_clear(m);
    return ok;
}

/* A clear difference, for a readable numeric counterexample:
   |l - r| > 2^-20 (|l| + |r|). */
static int num_clear(mpfr_t l, mpfr_t r)
{
    mpfr_t d, m;
    mpfr_init2(d, 64);
    mpfr_init2(m, 64);
    mpfr_sub(d, l, r, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    mpfr_abs(m, l, MPFR_RNDN);
    if (mpfr_sgn(r) >= 0)
        mpfr_add(m, m, r, MPFR_RNDN);
    else
        mpfr_sub(m, m, r, MPFR_RNDN);
    mpfr_mul_2si(m, m, -20, MPFR_RNDN);
    int ok = mpfr_greater_p(d, m);
    mpfr_clear(d);
    mpfr_clear(m);
    return ok;
}

/* ---- ratio statistics for numeric diagnoses ---- */

typedef struct ratios {
    size_t n;            /* ratios seen */
    mpfr_t first;        /* the first */
    int constant;        /* every ratio equals the first (to 2^-150) */
    int unit;            /* every |ratio| is 1 (to 2^-150) */
    int pos, neg;        /* signs seen */
} ratios;

static void ratios_add(ratios *R, mpfr_t l, mpfr_t r)
{
    if (!mpfr_number_p(l) || !mpfr_number_p(r) || mpfr_zero_p(l) || mpfr_get_exp(l) < -100)
        return; /* the truth is (nearly) zero, or a side is not a number: no ratio */
    mpfr_t q, d;
    mpfr_init2(q, CLAIMS_PREC);
    mpfr_init2(d, CLAIMS_PREC);
    mpfr_div(q, r, l, MPFR_RNDN);
    if (R->n == 0) {
        mpfr_set(R->first, q, MPFR_RNDN);
        R->constant = R->unit = 1;
    } else {
        mpfr_sub(d, q, R->first, MPFR_RNDN);
        /* a zero ratio has no exponent to compare with: equal only to zero */
        if (!mpfr_zero_p(d) && (mpfr_zero_p(q) || mpfr_get_exp(d) > mpfr_get_exp(q) - 150 + 1))
            R->constant = 0;
    }
    mpfr_abs(d, q, MPFR_RNDN);
    mpfr_sub_ui(d, d, 1, MPFR_RNDN);
    if (!mpfr_zero_p(d) && mpfr_get_exp(d) > -150)
        R->unit = 0;
    if (mpfr_sgn(q) > 0)
        R->pos = 1;
    else if (mpfr_sgn(q) < 0)
        R->neg = 1;
    R->n++;
    mpfr_clear(q);
    mpfr_clear(d);
}

/* ---- formatting ---- */

static char *q_str(mpq_srcptr q)
{
    char *g = mpq_get_str(NULL, 10, q);
    char *s = g ? strdup(g) : NULL;
    void (*freefn)(void *, size_t);
    mp_get_memory_functions(NULL, NULL, &freefn);
    if (g)
        freefn(g, strlen(g) + 1);
    return s;
}

static char *fr_str(mpfr_t x)
{
    char *g = NULL;
    if (mpfr_zero_p(x))
        return strdup("0");
    if (mpfr_asprintf(&g, "%.15Rg", x) < 0)
        return NULL;
    char *s = strdup(g);
    mpfr_free_str(g);
    return s;
}

static void put_name(buf *b, const judge *J, uint32_t li, pr_syntax syn)
{
    print_name(b, &J->c->leaf[li].name, syn);
}


/* "w111 = 1/2" into t (when given) and "w111": "1/2" into js, comma-separated */
static void put_pair(const judge *J, uint32_t li, mpq_srcptr q, buf *t, buf *js, int *first)
{
    char *v = q_str(q);
    buf nm = BUF_INIT;
    put_name(&nm, J, li, PR_CASE);
    if (t)
        buf_printf(t, "%s%s = %s", *first ? "" : ", ", nm.s ? nm.s : "", v ? v : "?");
    buf_puts(js, *first ? "" : ", ");
    buf_json_str(js, nm.s ? nm.s : "");
    buf_puts(js, ": ");
    buf_json_str(js, v ? v : "?");
    *first = 0;
    if (!v || nm.oom) {
        if (t)
            t->oom = 1;
        js->oom = 1;
    }
    free(v);
    buf_free(&nm);
}

/* "w111 = 1, w211 = -1/2" and {"w111": "1", ...} for the params of the cone */
static void fmt_params(const judge *J, buf *t, buf *js)
{
    int first = 1;
    buf_putc(js, '{');
    for (size_t i = 0; i < J->cs->nparams; i++) {
        uint32_t li = J->cs->params[i];
        if (!J->cone[J->c->leaf[li].node])
            continue;
        put_pair(J, li, J->pv[li], t, js, &first);
    }
    buf_putc(js, '}');
}

/* one data row: "x1 = 1, y = 2" / {"x1": "1", "y": "2"} (columns of the cone) */
static void fmt_row(const judge *J, size_t row, buf *t, buf *js)
{
    int first = 1;
    buf_putc(js, '{');
    for (size_t j = 0; j < J->ncols; j++) {
        uint32_t li = J->col_leaf[j];
        if (!J->cone[J->c->leaf[li].node])
            continue;
        put_pair(J, li, data_table(J)[row * J->ncols + j], t, js, &first);
    }
    buf_putc(js, '}');
}

static void cx_clear(claim_result *res)
{
    free(res->cx_point);
    free(res->cx_point_json);
    free(res->cx_data);
    free(res->cx_data_json);
    free(res->claimed);
    free(res->actual);
    res->cx_point = res->cx_point_json = res->cx_data = res->cx_data_json = res->claimed = res->actual = NULL;
    res->has_cx = 0;
}

/* Record the current point (and row) as the counterexample: claimed is the
   right side, actual the left. */
static int cx_record(judge *J, claim_result *res, long row, char *claimed, char *actual, int exact)
{
    cx_clear(res);
    buf t = BUF_INIT, js = BUF_INIT, dt = BUF_INIT, dj = BUF_INIT;
    fmt_params(J, &t, &js);
    if (J->level == GP_LV_SAMPLE && row >= 0) {
        buf_puts(&dj, "\"sample\": ");
        fmt_row(J, (size_t)row, &dt, &dj);
        if (J->case_data)
            buf_printf(&dt, "  (row %ld of the case's data)", row + 1);
    } else if (J->level == GP_LV_DATASET) {
        if (J->case_data) {
            buf_puts(&dt, "the case's data");
            buf_puts(&dj, "\"data\": \"case\"");
        } else {
            buf_printf(&dt, "%zu sample%s: ", J->nrows, J->nrows == 1 ? "" : "s");
            buf_puts(&dj, "\"samples\": [");
            for (size_t r = 0; r < J->nrows; r++) {
                buf row_t = BUF_INIT;
                if (r)
                    buf_puts(&dj, ", ");
                fmt_row(J, r, &row_t, &dj);
                buf_printf(&dt, "%s(%s)", r ? "; " : "", row_t.s ? row_t.s : "");
                buf_free_into(&dt, &row_t);
            }
            buf_putc(&dj, ']');
        }
    }
    res->has_cx = 1;
    res->cx_exact = exact;
    res->claimed = claimed;
    res->actual = actual;
    int oom = dt.oom || dj.oom;
    res->cx_point = buf_take(&t);
    res->cx_point_json = buf_take(&js);
    res->cx_data = dt.n ? buf_take(&dt) : NULL;
    res->cx_data_json = dj.n ? buf_take(&dj) : NULL;
    buf_free(&dt);
    buf_free(&dj);
    return !oom && res->cx_point && res->cx_point_json && claimed && actual;
}

/* ---- points ---- */

/* Compare the two sides at the current point: every row of a per-sample
   claim, once otherwise.  exact: rationals; else MPFR with the tolerance
   (and, when `clear`, only a clear difference counts).  On PT_DIFF the
   values are in l/r (or ql/qr) and J->diff_row is the row. */
static pt_result test_point(judge *J, int exact, int clear, mpq_t ql, mpq_t qr, mpfr_t l, mpfr_t r, ratios *R,
                            gp_status *st)
{
    *st = GP_OK;
    long rows = J->level == GP_LV_SAMPLE ? (long)J->nrows : 1;
    int diff = 0;
    for (long s = 0; s < rows; s++) {
        long row = J->level == GP_LV_SAMPLE ? s : -1;
        if (exact) {
            if (!exact_pair(J, row, ql, qr))
                return PT_FAULT;
            if (!mpq_equal(ql, qr)) {
                J->diff_row = row;
                return PT_DIFF;
            }
        } else {
            if (!num_pair(J, row, l, r, st))
                return PT_FAULT;
            if (R)
                ratios_add(R, l, r);
            if (!diff && !num_agree(l, r) && (!clear || num_clear(l, r))) {
                J->diff_row = row;
                diff = 1;
                if (!R)
                    return PT_DIFF;
            }
        }
    }
    return diff ? PT_DIFF : PT_AGREE;
}

/* Search a readable counterexample: simple values first.  1 when found
   (recorded in res), 0 when none, -1 out of memory. */
static int find_cx(judge *J, claim_result *res, int exact)
{
    gp_status st;
    mpq_t ql, qr;
    mpfr_t l, r;
    mpq_init(ql);
    mpq_init(qr);
    mpfr_init2(l, CLAIMS_PREC);
    mpfr_init2(r, CLAIMS_PREC);
    int found = 0;
    for (int t = 0; t < CX_TRIES && !found; t++) {
        int tier = t == 0 ? 0 : t < 20 ? 1 : t < 60 ? 2 : t < 150 ? 3 : t < 250 ? 4 : 5;
        if (tier == 5)
            params_random(J);
        else
            params_simple(J, tier);
        int ok = 1;
        if (J->level != GP_LV_STATIC) {
            if (J->cs->has_data && t % 2 == 0)
                use_case_data(J);
            else {
                size_t nrows = J->level == GP_LV_SAMPLE ? 1 : t < 100 ? 1 : t < 200 ? 2 : 3;
                ok = data_simple(J, nrows, tier);
            }
        } else if (!use_own_data(J, 0)) {
            ok = 0;
        }
        if (!ok) {
            found = -1;
            break;
        }
        pt_result p = test_point(J, exact, 1, ql, qr, l, r, NULL, &st);
        if (st == GP_ENOMEM) {
            found = -1;
            break;
        }
        if (p != PT_DIFF)
            continue;
        char *cl = exact ? q_str(qr) : fr_str(r), *ac = exact ? q_str(ql) : fr_str(l);
        found = cx_record(J, res, J->diff_row, cl, ac, exact) ? 1 : -1;
    }
    mpq_clear(ql);
    mpq_clear(qr);
    mpfr_clear(l);
    mpfr_clear(r);
    return found;
}

/* ---- diagnoses ---- */

static int q_is(mpq_srcptr q, long n, unsigned long d)
{
    mpq_t t;
    mpq_init(t);
    mpq_set_si(t, n, d);
    int e = mpq_equal(q, t);
    mpq_clear(t);
    return e;
}

/* The diagnosis of a constant ratio claim/true = q (q != 1). */
static void diag_const(buf *b, mpq_srcptr q)
{
    if (mpq_sgn(q) < 0)
        buf_puts(b, "sign error");
    mpq_t a;
    mpq_init(a);
    mpq_abs(a, q);
    if (!q_is(a, 1, 1)) {
        if (b->n)
            buf_puts(b, "; ");
        if (q_is(a, 2, 1))
            buf_puts(b, "factor of 2 (the claim is twice the truth)");
        else if (q_is(a, 1, 2))
            buf_puts(b, "factor of 1/2 (the claim is half the truth)");
        else {
            char *s = q_str(q);
            buf_printf(b, "off by a constant factor %s (claim = %s × true)", s ? s : "?", s ? s : "?");
            if (!s)
                b->oom = 1;
            free(s);
        }
    }
    mpq_clear(a);
}

/* Build a node without leaving nonzero assumptions or diagnostics behind. */
typedef struct ctx_mark {
    size_t nassume, ndiag, nerr;
} ctx_mark;

static ctx_mark mark_ctx(const gp_ctx *c) { return (ctx_mark){c->nassume, c->ndiag, c->nerr}; }
static void restore_ctx(gp_ctx *c, ctx_mark m)
{
    c->nassume = m.nassume;
    c->ndiag = m.ndiag;
    c->nerr = m.nerr;
}

static gp_status diagnose_exact(judge *J, claim_result *res)
{
    gp_ctx *c = J->c;
    buf b = BUF_INIT;
    ctx_mark m = mark_ctx(c);
    gp_id ratio = gp_div(c, J->cl->rhs, J->cl->lhs);
    gp_id diff = gp_sub(c, J->cl->rhs, J->cl->lhs);
    restore_ctx(c, m);
    if (c->status != GP_OK)
        return c->status;
    algebra_shape sh;
    gp_status as = ratio != GP_NIL ? algebra_inspect(&sh, c, ratio, PR_TEXT) : GP_EINPUT;
    if (as == GP_ENOMEM || as == GP_EINTERNAL) {
        restore_ctx(c, m);
        buf_free(&b);
        return as;
    }
    if (as == GP_OK) {
        if (sh.monomial && !sh.zero) {
            if (!q_is(sh.coeff, 1, 1))
                diag_const(&b, sh.coeff);
            if (sh.up && sh.down)
                buf_printf(&b, "%sfactor %s in place of %s", b.n ? "; " : "", sh.up, sh.down);
            else if (sh.down)
                buf_printf(&b, "%smissing factor %s%s", b.n ? "; " : "", sh.down,
                           strcmp(sh.down, "sum(1)") ? "" : ", the number of samples N (a mean where the sum belongs, or an extra 1/N?)");
            else if (sh.up)
                buf_printf(&b, "%sextra factor %s%s", b.n ? "; " : "", sh.up,
                           strcmp(sh.up, "sum(1)") ? "" : ", the number of samples N (a sum where the mean belongs, or a missing 1/N?)");
        }
        algebra_shape_clear(&sh);
    }
    restore_ctx(c, m);
    as = b.n == 0 && diff != GP_NIL ? algebra_inspect(&sh, c, diff, PR_TEXT) : GP_EINPUT;
    if (as == GP_ENOMEM || as == GP_EINTERNAL) {
        restore_ctx(c, m);
        buf_free(&b);
        return as;
    }
    if (as == GP_OK) {
        if (sh.nden == 1 && sh.nterms == 1)
            buf_printf(&b, "differs by a single term: claim − true = %s", sh.text);
        else if (sh.nden == 1 && sh.nterms == 2)
            buf_printf(&b, "claim − true = %s", sh.text);
        algebra_shape_clear(&sh);
    }
    restore_ctx(c, m);
    if (b.oom) {
        buf_free(&b);
        return GP_ENOMEM;
    }
    res->diagnosis = b.n ? buf_take(&b) : NULL;
    buf_free(&b);
    return GP_OK;
}

/* Rationalise x with denominators up to 1000 (continued fractions); 1 when
   p/q matches x to 2^-150 relative. */
static int rationalize(mpq_t out, mpfr_t x)
{
    mpfr_t y, f, t;
    mpfr_init2(y, CLAIMS_PREC);
    mpfr_init2(f, CLAIMS_PREC);
    mpfr_init2(t, CLAIMS_PREC);
    mpz_t a, p0, p1, q0, q1, tmp;
    mpz_inits(a, p0, p1, q0, q1, tmp, NULL);
    mpz_set_ui(p0, 1); /* p_{-1} = 1, q_{-1} = 0; p_{-2} = 0, q_{-2} = 1 */
    mpz_set_ui(q0, 0);
    mpz_set_ui(p1, 0);
    mpz_set_ui(q1, 1);
    mpfr_set(y, x, MPFR_RNDN);
    int ok = 0;
    for (int it = 0; it < 40; it++) {
        mpfr_floor(f, y);
        mpfr_get_z(a, f, MPFR_RNDN);
        /* p = a*p0 + p1 */
        mpz_mul(tmp, a, p0);
        mpz_add(tmp, tmp, p1);
        mpz_set(p1, p0);
        mpz_set(p0, tmp);
        mpz_mul(tmp, a, q0);
        mpz_add(tmp, tmp, q1);
        mpz_set(q1, q0);
        mpz_set(q0, tmp);
        if (mpz_cmp_ui(q0, 1000) > 0)
            break;
        mpq_set_num(out, p0);
        mpq_set_den(out, q0);
        mpq_canonicalize(out);
        mpfr_set_q(t, out, MPFR_RNDN);
        mpfr_sub(t, t, x, MPFR_RNDN);
        if (mpfr_zero_p(t) || mpfr_get_exp(t) < mpfr_get_exp(x) - 150) {
            ok = 1;
            break;
        }
        mpfr_sub(y, y, f, MPFR_RNDN);
        if (mpfr_zero_p(y))
            break;
        mpfr_ui_div(y, 1, y, MPFR_RNDN);
    }
    mpz_clears(a, p0, p1, q0, q1, tmp, NULL);
    mpfr_clear(y);
    mpfr_clear(f);
    mpfr_clear(t);
    return ok;
}

/* nrows: the number of samples of every point's data set when the claim is
   dataset-level (a constant ratio N or 1/N is then named as such), else 0. */
static gp_status diagnose_numeric(claim_result *res, ratios *R, size_t nrows)
{
    buf b = BUF_INIT;
    if (R->n >= 2 && R->constant) {
        mpq_t q;
        mpq_init(q);
        if (rationalize(q, R->first)) {
            if (nrows > 1 && q_is(q, (long)nrows, 1))
                buf_printf(&b, "claim = %zu × true, and %zu is N, the number of samples in each data set tried "
                               "(a sum where the mean belongs, or a missing 1/N?)", nrows, nrows);
            else if (nrows > 1 && q_is(q, 1, (unsigned long)nrows))
                buf_printf(&b, "claim = true / %zu, and %zu is N, the number of samples in each data set tried "
                               "(a mean where the sum belongs, or an extra 1/N?)", nrows, nrows);
            else if (!q_is(q, 1, 1))
                diag_const(&b, q);
        } else {
            char *s = fr_str(R->first);
            buf_printf(&b, "off by a constant factor ≈ %s (claim = factor × true at every point)", s ? s : "?");
            if (!s)
                b.oom = 1;
            free(s);
        }
        mpq_clear(q);
    } else if (R->n >= 2 && R->unit && R->pos && R->neg) {
        buf_puts(&b, "wrong sign on part of the domain: |claim| = |true| at every point, with the sign right at some "
                     "and wrong at others (an absolute value, such as sqrt(u^2) = |u|, where a signed quantity belongs?)");
    }
    if (b.oom) {
        buf_free(&b);
        return GP_ENOMEM;
    }
    res->diagnosis = b.n ? buf_take(&b) : NULL;
    buf_free(&b);
    return GP_OK;
}

/* ---- verdicts ---- */

/* Numeric verdict: K points, all of them evaluated (for the ratios). */
static gp_status judge_numeric(judge *J, claim_result *res)
{
    gp_status st = GP_OK;
    res->method = CM_NUMERIC;
    mpq_t ql, qr;
    mpfr_t l, r;
    mpq_init(ql);
    mpq_init(qr);
    mpfr_init2(l, CLAIMS_PREC);
    mpfr_init2(r, CLAIMS_PREC);
    ratios R;
    memset(&R, 0, sizeof R);
    mpfr_init2(R.first, CLAIMS_PREC);
    unsigned good = 0, draws = 0, cap = REDRAW_CAP * J->npoints;
    int failed = 0;
    J->fault = (eval_fault){.node = GP_NIL, .what = NULL, .sample = -1};
    size_t rows = 0;         /* samples of every point's data set, 0 if they differ */
    const char *why = NULL;
    while (good < J->npoints && draws < cap) {
        size_t k = draws++;
        if (k < J->cs->npoints)
            params_at(J, k);
        else
            params_random(J);
        if (J->cs->has_data)
            use_case_data(J);
        else if (!data_simple(J, J->level == GP_LV_STATIC ? 0 : CLAIMS_SAMPLES, 5)) {
            st = GP_ENOMEM;
            break;
        }
        pt_result p = test_point(J, 0, 0, ql, qr, l, r, &R, &st);
        if (st != GP_OK)
            break;
        if (p == PT_FAULT) {
            res->nredrawn++;
            continue;
        }
        if (good == 0)
            rows = J->nrows;
        else if (rows != J->nrows)
            rows = 0;
        good++;
        if (p == PT_DIFF && !failed) {
            failed = 1;
            if (!cx_record(J, res, J->diff_row, fr_str(r), fr_str(l), 0))
                st = GP_ENOMEM;
        }
    }
    res->npoints = good;
    if (st == GP_OK) {
        if (failed) {
            res->verdict = CV_FAILS;
            if (find_cx(J, res, 0) < 0)
                st = GP_ENOMEM;
            if (st == GP_OK)
                st = diagnose_numeric(res, &R, J->level == GP_LV_STATIC ? 0 : rows);
        } else if (good < J->npoints) {
            res->verdict = CV_UNKNOWN;
            why = good == 0 ? "no point where both sides could be evaluated" : "too few points where both sides could be evaluated";
            buf b = BUF_INIT;
            buf_printf(&b, "%s (%u of %u after %u draws)", why, good, J->npoints, draws);
            if (J->fault.node != GP_NIL) {
                buf_puts(&b, "; the first failure: ");
                render_fault_where(&b, J->cs, J->fault.node, J->fault.what, J->cl);
            }
            free(res->reason);
            res->reason = buf_take(&b);
        } else {
            res->verdict = CV_HOLDS;
        }
    }
    mpfr_clear(R.first);
    mpq_clear(ql);
    mpq_clear(qr);
    mpfr_clear(l);
    mpfr_clear(r);
    return st;
}

/* ---- chain-rule paths ---- */

enum { PATH_MAX_UNITS = 10, PATH_POINTS = 3 };

/* Evaluate roots at the judge's current point and data row; 0 on a fault. */
static int eval_at(judge *J, long row, size_t n, const gp_id *roots, mpfr_t *out)
{
    eval_env env;
    memset(&env, 0, sizeof env);
    env.leafq = (const mpq_t *)J->pv;
    env.nsamples = J->nrows;
    env.ncols = J->ncols;
    env.col_leaf = J->col_leaf;
    env.qcols = data_table(J);
    eval_fault f;
    gp_status st = eval_mpfr(out, J->c, &env, row, n, roots, CLAIMS_PREC, &f);
    if (st != GP_OK || f.node != GP_NIL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!mpfr_number_p(out[i]))
            return 0;
    return 1;
}

/* Does the sum of the contributions picked by mask equal target at every
   evaluated point?  val[p][0] is the truth, val[p][1] the claim, val[p][2+i]
   the contribution of unit i. */
static int subset_matches(mpfr_t (*val)[PATH_MAX_UNITS + 2], size_t npts, size_t nunits, unsigned mask, int target)
{
    mpfr_t sum;
    mpfr_init2(sum, CLAIMS_PREC);
    int ok = 1;
    for (size_t p = 0; ok && p < npts; p++) {
        mpfr_set_ui(sum, 0, MPFR_RNDN);
        for (size_t i = 0; i < nunits; i++)
            if (mask >> i & 1)
                mpfr_add(sum, sum, val[p][2 + i], MPFR_RNDN);
        ok = num_agree(val[p][target], sum);
    }
    mpfr_clear(sum);
    return ok;
}

/* "z₁", "z₂ and z₃", "a, b and c": the units in (want = 1) or out of mask */
static void put_units(buf *b, const gp_ctx *c, const gp_id *unit, size_t nu, unsigned mask, int want)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < nu; i++)
        total += (size_t)((mask >> i & 1) == (unsigned)want);
    for (size_t i = 0; i < nu; i++) {
        if ((mask >> i & 1) != (unsigned)want)
            continue;
        if (k)
            buf_puts(b, k + 1 == total ? " and " : ", ");
        print_name(b, &c->label[c->node[unit[i]].label].name, PR_TEXT);
        k++;
    }
}

/*
 * A failing claim dF/dW = rhs may be the sum over only some of the
 * chain-rule paths from F to W (seed 003: df/dp1 through z1 only).  The
 * named intermediates between F and W are ranked by the number of named
 * nodes below them on the way to W; the units of one rank whose
 * contributions (dF/dN with the others held, times dN/dW) add up to the
 * truth cut every path, and the claim is tested against each proper subset
 * of them.  The diagnosis is given only when a subset matches at every
 * point tried.
 */
static gp_status diagnose_paths(judge *J, claim_result *res)
{
    gp_ctx *c = J->c;
    gp_id F = J->cl->dnum, W = J->cl->dwrt;
    if (F == GP_NIL || W == GP_NIL || F <= W || c->node[F].level == GP_LV_DATASET)
        return GP_OK;
    size_t n = (size_t)F + 1;
    unsigned char *dep = calloc(n, 1), *in = calloc(n, 1);
    uint32_t *rank = calloc(n, sizeof *rank);
    gp_status st = GP_OK;
    if (!dep || !in || !rank) {
        free(dep);
        free(in);
        free(rank);
        return GP_ENOMEM;
    }
    dag_reach(c, 1, &F, in);
    dep[W] = 1;
    uint32_t maxrank = 0;
    for (size_t id = (size_t)W + 1; id < n; id++) {
        const gp_node *nd = &c->node[id];
        uint32_t r = 0;
        for (uint32_t k = 0; k < nd->nkid; k++)
            if (dep[nd->kid[k]]) {
                dep[id] = 1;
                if (rank[nd->kid[k]] > r)
                    r = rank[nd->kid[k]];
            }
        if (dep[id] && id != F && nd->label && in[id])
            r++;
        rank[id] = r;
        if (dep[id] && id != F && nd->label && in[id] && r > maxrank)
            maxrank = r;
    }
    ctx_mark m = mark_ctx(c);
    mpfr_t val[PATH_POINTS][PATH_MAX_UNITS + 2];
    for (size_t p = 0; p < PATH_POINTS; p++)
        for (size_t i = 0; i < PATH_MAX_UNITS + 2; i++)
            mpfr_init2(val[p][i], CLAIMS_PREC);
    for (uint32_t k = 1; k <= maxrank && !res->diagnosis && st == GP_OK; k++) {
        gp_id unit[PATH_MAX_UNITS], part[PATH_MAX_UNITS], roots[PATH_MAX_UNITS + 2];
        size_t nu = 0;
        int too_many = 0;
        for (size_t id = (size_t)W + 1; id < (size_t)F; id++)
            if (dep[id] && in[id] && c->node[id].label && rank[id] == k) {
                if (nu == PATH_MAX_UNITS)
                    too_many = 1;
                else
                    unit[nu++] = (gp_id)id;
            }
        if (nu < 2 || too_many)
            continue;
        /* contributions: dF/dN holding the other units, times dN/dW */
        if ((st = derive_grad(c, F, nu, unit, part)) != GP_OK)
            break;
        roots[0] = J->cl->lhs;
        roots[1] = J->cl->rhs;
        for (size_t i = 0; i < nu && st == GP_OK; i++) {
            gp_id d;
            st = derive_grad(c, unit[i], 1, &W, &d);
            roots[2 + i] = gp_mul2(c, part[i], d);
            if (roots[2 + i] == GP_NIL)
                st = c->status != GP_OK ? c->status : GP_ENOMEM;
        }
        if (st != GP_OK)
            break;
        /* a few random points (and every sample of their data) */
        size_t npts = 0;
        for (unsigned draw = 0; draw < 8 * PATH_POINTS && npts < PATH_POINTS; draw++) {
            params_random(J);
            if (J->cs->has_data)
                use_case_data(J);
            else if (!data_simple(J, J->level == GP_LV_STATIC ? 0 : 1, 5)) {
                st = GP_ENOMEM;
                break;
            }
            long row = c->node[F].level == GP_LV_SAMPLE ? 0 : -1;
            if (eval_at(J, row, nu + 2, roots, val[npts]))
                npts++;
        }
        if (st != GP_OK || npts < PATH_POINTS)
            continue;
        unsigned all = (1u << nu) - 1;
        if (!subset_matches(val, npts, nu, all, 0))
            continue; /* these units do not cut every path */
        for (unsigned mask = 1; mask < all; mask++) {
            if (!subset_matches(val, npts, nu, mask, 1))
                continue;
            buf b = BUF_INIT;
            buf_puts(&b, "follows only the paths through ");
            put_units(&b, c, unit, nu, mask, 1);
            buf_puts(&b, "; missing the paths through ");
            put_units(&b, c, unit, nu, mask, 0);
            res->diagnosis = buf_take(&b);
            if (!res->diagnosis)
                st = GP_ENOMEM;
            break;
        }
    }
    for (size_t p = 0; p < PATH_POINTS; p++)
        for (size_t i = 0; i < PATH_MAX_UNITS + 2; i++)
            mpfr_clear(val[p][i]);
    restore_ctx(c, m);
    free(dep);
    free(in);
    free(rank);
    return st;
}

static gp_status judge_one(judge *J, size_t i, claim_result *res)
{
    gp_ctx *c = J->c;
    const claim *cl = &J->cs->claims[i];
    J->cl = cl;
    memset(J->cone, 0, J->ncone);
    gp_id roots[2] = {cl->lhs, cl->rhs};
    dag_reach(c, 2, roots, J->cone);
    int l1 = c->node[cl->lhs].level, l2 = c->node[cl->rhs].level;
    J->level = l1 > l2 ? l1 : l2;
    /* each claim its own stream: verdicts do not depend on the other claims */
    J->rng = 0x6772616470726f6fu ^ J->seed ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15u;
    for (int k = 0; k < 4; k++)
        rng_next(&J->rng);
    int rational = !((c->node[cl->lhs].flags | c->node[cl->rhs].flags) & GP_NF_NONRAT);
    if (rational) {
        ctx_mark m = mark_ctx(c);
        gp_id d = gp_sub(c, cl->rhs, cl->lhs);
        restore_ctx(c, m);
        if (c->status != GP_OK)
            return c->status;
        int zero = 0;
        gp_status st = d == GP_NIL ? GP_EINPUT : algebra_is_zero(c, d, &zero);
        restore_ctx(c, m);
        if (st == GP_ENOMEM || st == GP_EINTERNAL)
            return st;
        if (st == GP_OK) {
            res->method = CM_EXACT;
            if (zero) {
                res->verdict = CV_HOLDS;
                return GP_OK;
            }
            int f = find_cx(J, res, 1);
            if (f < 0)
                return GP_ENOMEM;
            if (f > 0) {
                res->verdict = CV_FAILS;
                gp_status ds = diagnose_exact(J, res);
                if (ds == GP_OK && !res->diagnosis)
                    ds = diagnose_paths(J, res);
                return ds;
            }
            res->reason = strdup("the two sides differ as rational functions, but no data set tried tells them apart");
        } else {
            res->reason = strdup(st == GP_ELIMIT ? "too large to expand exactly" : "not a rational function exactly");
        }
    }
    gp_status st = judge_numeric(J, res);
    if (st == GP_OK && res->verdict == CV_FAILS && !res->diagnosis)
        st = diagnose_paths(J, res);
    return st;
}

gp_status claims_judge(gp_case *cs, const claims_opts *o, claim_result *res)
{
    gp_ctx *c = cs->c;
    memset(res, 0, cs->nclaims * sizeof *res);
    judge J;
    memset(&J, 0, sizeof J);
    J.cs = cs;
    J.c = c;
    J.npoints = o && o->points ? o->points : CLAIMS_POINTS;
    J.nleaf = c->nleaf;
    gp_status st = GP_OK;
    J.pv = malloc((J.nleaf ? J.nleaf : 1) * sizeof *J.pv);
    J.leafcol = malloc((J.nleaf ? J.nleaf : 1) * sizeof *J.leafcol);
    if (!J.pv || !J.leafcol) {
        free(J.pv);
        free(J.leafcol);
        return GP_ENOMEM;
    }
    for (size_t l = 0; l < J.nleaf; l++)
        mpq_init(J.pv[l]);
    J.seed = o ? o->seed : 0;
    for (size_t i = 0; i < cs->nclaims && st == GP_OK; i++) {
        const claim *cl = &cs->claims[i];
        if (cl->lhs == GP_NIL || cl->rhs == GP_NIL) {
            res[i].verdict = CV_UNKNOWN;
            res[i].reason = strdup("the claim could not be built");
            continue;
        }
        /* the DAG grows as claims are judged (quotients, differences) */
        size_t need = c->nnode;
        if (need > J.ncone) {
            unsigned char *t = realloc(J.cone, need);
            if (!t) {
                st = GP_ENOMEM;
                break;
            }
            J.cone = t;
            J.ncone = need;
            mpq_t *ev = realloc(J.ev, need * sizeof *ev);
            if (!ev) {
                st = GP_ENOMEM;
                break;
            }
            J.ev = ev;
            for (size_t k = J.nev; k < need; k++)
                mpq_init(J.ev[k]);
            J.nev = need;
        }
        st = judge_one(&J, i, &res[i]);
    }
    for (size_t l = 0; l < J.nleaf; l++)
        mpq_clear(J.pv[l]);
    for (size_t k = 0; k < J.nev; k++)
        mpq_clear(J.ev[k]);
    for (size_t k = 0; k < J.dqcap; k++)
        mpq_clear(J.dq[k]);
    free(J.pv);
    free(J.leafcol);
    free(J.cone);
    free(J.ev);
    free(J.dq);
    return st;
}

void claim_result_free(claim_result *r)
{
    if (!r)
        return;
    cx_clear(r);
    free(r->reason);
    free(r->diagnosis);
    memset(r, 0, sizeof *r);
}

/* ---- the report ---- */

static const char *const verdict_word[] = {"holds", "fails", "unknown"};
static const char *const method_word[] = {"exact", "numeric"};

static void json_str_or_null(buf *b, const char *s)
{
    if (s)
        buf_json_str(b, s);
    else
        buf_puts(b, "null");
}

void claims_write_text(buf *o, const gp_case *cs, const claim_result *res, const gp_claims_summary *S, unsigned K)
{
    int exact = 0, numeric = 0;
    for (size_t i = 0; i < cs->nclaims; i++) {
        const claim *cl = &cs->claims[i];
        const claim_result *r = &res[i];
        buf_printf(o, "line %-4u %-7s (%s)  %s\n", cl->line, verdict_word[r->verdict], method_word[r->method], cl->text);
        if (r->method == CM_EXACT)
            exact = 1;
        else
            numeric = 1;
        if (r->has_cx) {
            buf_printf(o, "    at %s\n", r->cx_point && r->cx_point[0] ? r->cx_point : "any point");
            if (r->cx_data)
                buf_printf(o, "    %s%s\n", r->cx_data_json && !strncmp(r->cx_data_json, "\"sample\"", 8) ? "sample " : "data: ",
                           r->cx_data);
            buf_printf(o, "    claimed %s, true %s%s\n", r->claimed, r->actual, r->cx_exact ? "" : " (15 digits)");
        }
        if (r->diagnosis)
            buf_printf(o, "    diagnosis: %s\n", r->diagnosis);
        if (r->verdict == CV_UNKNOWN && r->reason)
            buf_printf(o, "    %s\n", r->reason);
    }
    buf_printf(o, "\n%zu claim%s: %zu hold%s, %zu fail%s", S->claims, S->claims == 1 ? "" : "s", S->hold,
               S->hold == 1 ? "s" : "", S->fail, S->fail == 1 ? "s" : "");
    if (S->unknown)
        buf_printf(o, ", %zu unknown", S->unknown);
    buf_putc(o, '\n');
    if (exact)
        buf_puts(o, "exact: rhs − lhs is 0 as a rational function (FLINT), for all params and every data set\n");
    if (numeric)
        buf_printf(o, "numeric: %u points, %d bits; |claim − true| ≤ 2^-%d·(1 + max(|claim|, |true|)) at each point and sample\n",
                   K, CLAIMS_PREC, CLAIMS_TOL_EXP);
}

void claims_write_json(buf *o, const gp_case *cs, const claim_result *res, const gp_claims_summary *S, unsigned K)
{
    buf_printf(o, "{\"ok\": %s, \"claims\": [", S->fail || S->unknown ? "false" : "true");
    for (size_t i = 0; i < cs->nclaims; i++) {
        const claim *cl = &cs->claims[i];
        const claim_result *r = &res[i];
        buf_printf(o, "%s\n  {\"line\": %u, \"text\": ", i ? "," : "", cl->line);
        buf_json_str(o, cl->text);
        buf_printf(o, ", \"kind\": \"%s\", \"verdict\": \"%s\", \"method\": \"%s\"",
                   cl->kind == CLAIM_DERIV ? "derivative" : "identity", verdict_word[r->verdict], method_word[r->method]);
        if (r->method == CM_NUMERIC)
            buf_printf(o, ", \"points\": %u, \"points_wanted\": %u, \"redrawn\": %u, \"precision_bits\": %d, "
                          "\"tolerance\": \"2^-%d*(1 + max(|claim|, |true|))\"",
                       r->npoints, K, r->nredrawn, CLAIMS_PREC, CLAIMS_TOL_EXP);
        else
            buf_puts(o, ", \"points\": null, \"false_pass_bound\": 0");
        buf_puts(o, ", \"counterexample\": ");
        if (r->has_cx) {
            buf_printf(o, "{\"point\": %s", r->cx_point_json);
            if (r->cx_data_json)
                buf_printf(o, ", %s", r->cx_data_json);
            buf_puts(o, ", \"claimed\": ");
            buf_json_str(o, r->claimed);
            buf_puts(o, ", \"actual\": ");
            buf_json_str(o, r->actual);
            buf_printf(o, ", \"exact\": %s}", r->cx_exact ? "true" : "false");
        } else {
            buf_puts(o, "null");
        }
        buf_puts(o, ", \"diagnosis\": ");
        json_str_or_null(o, r->diagnosis);
        buf_puts(o, ", \"reason\": ");
        json_str_or_null(o, r->reason);
        buf_putc(o, '}');
    }
    buf_printf(o, "%s], \"summary\": {\"claims\": %zu, \"hold\": %zu, \"fail\": %zu, \"unknown\": %zu}",
               cs->nclaims ? "\n" : "", S->claims, S->hold, S->fail, S->unknown);
}

void claims_summarise(const claim_result *res, size_t n, gp_claims_summary *S)
{
    *S = (gp_claims_summary){n, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        if (res[i].verdict == CV_HOLDS)
            S->hold++;
        else if (res[i].verdict == CV_FAILS)
            S->fail++;
        else
            S->unknown++;
    }
}

gp_status gp_claims_render(gp_case *cs, const gp_claims_opts *opts, char **out, gp_claims_summary *sum)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    ctx_stack_mark(c);
    claims_opts o = {opts ? opts->points : 0, opts ? (uint64_t)opts->seed : 0};
    unsigned K = o.points ? o.points : CLAIMS_POINTS;
    claim_result *res = calloc(cs->nclaims ? cs->nclaims : 1, sizeof *res);
    if (!res)
        return GP_ENOMEM;
    gp_status st = claims_judge(cs, &o, res);
    gp_claims_summary S;
    claims_summarise(res, cs->nclaims, &S);
    if (st == GP_OK) {
        buf b = BUF_INIT;
        if (opts && opts->format == GP_FMT_JSON) {
            claims_write_json(&b, cs, res, &S, K);
            buf_puts(&b, ", \"diagnostics\": ");
            render_json_diagnostics(&b, cs->c);
            buf_puts(&b, "}\n");
        } else {
            claims_write_text(&b, cs, res, &S, K);
        }
        *out = buf_take(&b);
        if (!*out)
            st = GP_ENOMEM;
        buf_free(&b);
    }
    for (size_t i = 0; i < cs->nclaims; i++)
        claim_result_free(&res[i]);
    free(res);
    if (sum)
        *sum = S;
    if (st == GP_OK && c->status != GP_OK)
        st = c->status;
    return st;
}

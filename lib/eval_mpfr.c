/*
 * eval_mpfr.c -- the DAG evaluated in GNU MPFR.
 *
 * One call evaluates the cone of its roots, in increasing id order (children
 * have smaller ids, so one loop, no recursion), in three phases:
 *   1. static nodes (params, constants, numbers and expressions of them),
 *      once;
 *   2. the per-sample nodes below the reductions, once per data row; after
 *      each row every reduction of the cone adds its argument's value to its
 *      accumulator (all reductions share the one pass over the rows: they
 *      never nest);
 *   3. the remaining nodes: reductions (finished: MEAN divides by the number
 *      of rows), dataset-level nodes, and per-sample nodes outside any
 *      reduction, evaluated at the requested row.
 * A per-sample node can be needed both below a reduction and at the
 * requested row (roots f and mean(f)); it then has two value slots, "inner"
 * and "top", so the row loop cannot clobber the row the caller asked for.
 *
 * Invariant kept: every operation is correctly rounded to `prec` bits
 * (MPFR_RNDN) or, where MPFR has no single correctly rounded function, done
 * at prec + EXTRA bits and rounded once, so its error is at most 1/2 ulp plus
 * 2^-EXTRA ulp.  The exceptions, all within a few ulps: n-ary products
 * (sequential, n-1 roundings), sample accumulators (at prec + EXTRA bits,
 * then one rounding) and rational powers p/q with q not a power of two
 * (a q-th root and a p-th power at prec + EXTRA + bits(p), then one rounding).
 *
 * Numerical trouble is a result: NaN and Inf propagate as MPFR makes them,
 * and the first node that produces one (or underflows to zero) is recorded
 * in the eval_fault with a reason: from the operation where it knows one
 * (log of a negative number, 0^-n, ...), else from MPFR's sticky overflow
 * and underflow flags, which are cleared before each node; the caller's
 * flags are restored at the end.  MPFR's exponent range is left as it is
 * (by default 2^(2^30 - 1): exp(1e6) is a value, exp(1e10) an overflow).
 * One deliberate refusal: sin and cos of |x| > 2^TRIG_MAX_EXP (see there).
 *
 * Owns: for the duration of one call, the value slots (an mpfr_t per cone
 * node and slot kind, every one cleared on every path), two work variables,
 * and O(ctx->nnode) bytes of marks and slot numbers.
 */
#include "eval_mpfr.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"

#define EXTRA 64      /* guard bits of work variables and accumulators */
#define M_TOP 1       /* needed at the requested row (or static/dataset) */
#define M_INNER 2     /* needed below a reduction, at every row */
#define NOSLOT UINT32_MAX
/* sin and cos reduce their argument modulo 2 pi with about EXP(x) + prec
   bits of pi: beyond |x| = 2^TRIG_MAX_EXP (milliseconds) the cost grows
   without bound (exp(exp(20)) is 2^(7e8), inside MPFR's range), and no
   gradient check means anything there, so it is a fault instead */
#define TRIG_MAX_EXP 65536

typedef struct evaluator {
    gp_ctx *c;
    const eval_env *env;
    mpfr_prec_t prec;        /* precision of the value slots */
    unsigned char *mark;     /* M_TOP | M_INNER, per id < hi */
    uint32_t *slot;          /* top value slot of each id (static nodes: the only one) */
    uint32_t *islot;         /* inner slot; for a reduction: its accumulator */
    size_t hi;               /* 1 + the largest root */
    mpfr_t *v;               /* the slots */
    size_t nv;               /* slots initialised so far (cleared on exit) */
    long *leafcol;           /* data column of each leaf, -1 if none */
    mpfr_ptr *ptrs;          /* scratch for mpfr_sum: one pointer per operand */
    mpfr_t w1, w2;           /* work variables at prec + EXTRA */
    int wok;                 /* w1, w2 initialised */
    const char *why;         /* reason set by the last operation, if it knows one */
    eval_fault *fault;       /* where to record the first trouble (never NULL) */
} evaluator;

static int is_reduction(const gp_node *n) { return n->op == GP_OP_MEAN || n->op == GP_OP_SUMS; }

/* The value slot of id as seen from phase `inner` (static nodes have one). */
static mpfr_ptr val(evaluator *e, gp_id id, int inner)
{
    if (inner && e->c->node[id].level != GP_LV_STATIC)
        return e->v[e->islot[id]];
    return e->v[e->slot[id]];
}

static void note(evaluator *e, gp_id id, const char *what, long sample)
{
    if (e->fault->node != GP_NIL)
        return;
    e->fault->node = id;
    e->fault->what = what;
    e->fault->sample = sample;
}

/* After node id produced r: record trouble (its children were all fine, or
   trouble was recorded earlier and this call does nothing). */
static void inspect(evaluator *e, gp_id id, mpfr_srcptr r, long sample)
{
    if (e->fault->node != GP_NIL)
        return;
    if (mpfr_nan_p(r) || mpfr_inf_p(r)) {
        const char *what = e->why;
        if (mpfr_overflow_p()) /* also Inf * 0 inside one n-ary product */
            what = "overflow";
        else if (!what)
            what = mpfr_nan_p(r) ? "not a number" : "infinite value";
        note(e, id, what, sample);
    } else if (mpfr_underflow_p() && (mpfr_zero_p(r) || mpfr_get_exp(r) <= mpfr_get_emin())) {
        note(e, id, "underflow", sample);
    }
}

const char *eval_mpfr_pow(mpfr_ptr r, mpfr_srcptr b, mpq_srcptr eq, mpfr_prec_t prec)
{
    const char *why = NULL;
    mpz_srcptr p = mpq_numref(eq), q = mpq_denref(eq);
    if (mpz_cmp_ui(q, 1) == 0) {
        /* integer power: correctly rounded, 0^-n is +Inf (or -Inf for -0) */
        if (mpz_fits_slong_p(p))
            mpfr_pow_si(r, b, mpz_get_si(p), MPFR_RNDN);
        else
            mpfr_pow_z(r, b, p, MPFR_RNDN);
        if (mpfr_zero_p(b) && mpz_sgn(p) < 0)
            why = "division by zero";
        return why;
    }
    if (mpfr_nan_p(b)) {
        mpfr_set_nan(r);
        return why;
    }
    if (mpfr_sgn(b) < 0) {
        /* even where a real odd root exists ((-8)^(1/3) = -2) the case
           language, like pow() in C, leaves it undefined */
        mpfr_set_nan(r);
        why = mpz_cmp_ui(q, 2) == 0 ? "square root of a negative number" : "non-integer power of a negative number";
        return why;
    }
    if (mpfr_zero_p(b)) {
        if (mpz_sgn(p) > 0) {
            mpfr_set_zero(r, 1);
        } else {
            mpfr_set_inf(r, 1);
            why = "division by zero";
        }
        return why;
    }
    size_t pbits = mpz_sizeinbase(p, 2);
    if (mpz_popcount(q) == 1 && pbits + 1 < (size_t)MPFR_PREC_MAX) {
        /* q a power of two: the exponent is exact in pbits bits, and
           mpfr_pow is correctly rounded */
        mpfr_t x;
        mpfr_init2(x, (mpfr_prec_t)(pbits < MPFR_PREC_MIN ? MPFR_PREC_MIN : pbits + 1));
        mpfr_set_q(x, eq, MPFR_RNDN); /* exact */
        if (mpz_cmp_ui(q, 2) == 0 && mpz_cmp_ui(p, 1) == 0)
            mpfr_sqrt(r, b, MPFR_RNDN);
        else
            mpfr_pow(r, b, x, MPFR_RNDN);
        mpfr_clear(x);
        return why;
    }
    mpfr_t t;
    mpfr_init2(t, prec + EXTRA + (mpfr_prec_t)(pbits < 4096 ? pbits : 4096));
    if (mpz_fits_ulong_p(q) && mpz_fits_slong_p(p)) {
        /* t = b^(1/q) (1/2 ulp), then t^p: relative error below
           (|p| + 1) 2^-(wprec) <= 2^-(prec + EXTRA), then one rounding */
        mpfr_rootn_ui(t, b, mpz_get_ui(q), MPFR_RNDN);
        mpfr_pow_si(t, t, mpz_get_si(p), MPFR_RNDN);
    } else {
        /* huge exponent terms: the exponent rounded to wprec bits; the
           relative error is about |log b * p/q| 2^-wprec */
        mpfr_t x;
        mpfr_init2(x, mpfr_get_prec(t));
        mpfr_set_q(x, eq, MPFR_RNDN);
        mpfr_pow(t, b, x, MPFR_RNDN);
        mpfr_clear(x);
    }
    mpfr_set(r, t, MPFR_RNDN);
    mpfr_clear(t);
    return why;
}

const char *eval_mpfr_fn(mpfr_ptr r, gp_fn fn, mpfr_srcptr x, mpfr_ptr w1, mpfr_ptr w2)
{
    const char *why = NULL;
    if (mpfr_nan_p(x)) {
        mpfr_set_nan(r);
        return why;
    }
    switch (fn) {
    case GP_FN_EXP: mpfr_exp(r, x, MPFR_RNDN); break;
    case GP_FN_LOG:
        if (mpfr_sgn(x) < 0)
            why = "log of a negative number";
        else if (mpfr_zero_p(x))
            why = "log of zero";
        mpfr_log(r, x, MPFR_RNDN);
        break;
    case GP_FN_TANH: mpfr_tanh(r, x, MPFR_RNDN); break;
    case GP_FN_SIGMOID:
        /* never exp of a positive argument, so no spurious overflow:
           x >= 0: 1/(1 + e^-x);  x < 0: e^x/(1 + e^x).  Work at prec+EXTRA
           (three roundings there), then round once */
        if (mpfr_sgn(x) >= 0) {
            mpfr_neg(w1, x, MPFR_RNDN);
            mpfr_exp(w1, w1, MPFR_RNDN);
            mpfr_add_ui(w1, w1, 1, MPFR_RNDN);
            mpfr_ui_div(r, 1, w1, MPFR_RNDN);
        } else {
            mpfr_exp(w1, x, MPFR_RNDN);
            mpfr_add_ui(w2, w1, 1, MPFR_RNDN);
            mpfr_div(r, w1, w2, MPFR_RNDN);
        }
        break;
    case GP_FN_RELU:
        if (mpfr_sgn(x) > 0)
            mpfr_set(r, x, MPFR_RNDN);
        else
            mpfr_set_zero(r, 1);
        break;
    case GP_FN_ABS: mpfr_abs(r, x, MPFR_RNDN); break;
    case GP_FN_SOFTPLUS:
        /* log(1 + e^x) = log1p(e^-|x|) + max(x, 0): e^-|x| <= 1 never
           overflows; its underflow for large |x| is harmless unless x < 0
           (then the result itself underflows, and is reported) */
        mpfr_abs(w1, x, MPFR_RNDN);
        mpfr_neg(w1, w1, MPFR_RNDN);
        mpfr_exp(w1, w1, MPFR_RNDN);
        mpfr_log1p(w1, w1, MPFR_RNDN);
        if (mpfr_sgn(x) > 0)
            mpfr_add(r, w1, x, MPFR_RNDN);
        else
            mpfr_set(r, w1, MPFR_RNDN);
        break;
    case GP_FN_SIN:
    case GP_FN_COS:
        if (mpfr_regular_p(x) && mpfr_get_exp(x) > TRIG_MAX_EXP) {
            mpfr_set_nan(r);
            why = "argument of sin or cos too large";
        } else if (fn == GP_FN_SIN) {
            mpfr_sin(r, x, MPFR_RNDN);
        } else {
            mpfr_cos(r, x, MPFR_RNDN);
        }
        break;
    case GP_FN_STEP: mpfr_set_ui(r, mpfr_sgn(x) > 0, MPFR_RNDN); break;
    case GP_FN_SIGN: mpfr_set_si(r, mpfr_sgn(x), MPFR_RNDN); break;
    default: mpfr_set_nan(r); break;
    }
    return why;
}

/* Evaluate node id (not a reduction) into its slot for the given phase. */
static gp_status compute(evaluator *e, gp_id id, int inner, long sample)
{
    gp_ctx *c = e->c;
    const gp_node *n = &c->node[id];
    const eval_env *env = e->env;
    mpfr_ptr r = val(e, id, inner);
    e->why = NULL;
    mpfr_clear_flags();
    switch ((gp_op)n->op) {
    case GP_OP_NUM:
        mpfr_set_q(r, dag_q(c, id), MPFR_RNDN);
        break;
    case GP_OP_LEAF: {
        const gp_leaf *l = &c->leaf[n->pay];
        if (l->kind == GP_LEAF_CONST) {
            if (l->value == GP_NIL || !dag_is_num(c, l->value))
                return GP_EINTERNAL;
            mpfr_set_q(r, dag_q(c, l->value), MPFR_RNDN);
        } else if (l->kind == GP_LEAF_PARAM) {
            if (env->leafval)
                mpfr_set(r, env->leafval[n->pay], MPFR_RNDN);
            else if (env->leafq)
                mpfr_set_q(r, env->leafq[n->pay], MPFR_RNDN);
            else
                return GP_EINTERNAL;
        } else {
            long col = e->leafcol ? e->leafcol[n->pay] : -1;
            if (col < 0 || sample < 0 || (size_t)sample >= env->nsamples)
                return GP_EINTERNAL;
            size_t k = (size_t)sample * env->ncols + (size_t)col;
            if (env->cols)
                mpfr_set(r, env->cols[k], MPFR_RNDN);
            else if (env->qcols)
                mpfr_set_q(r, env->qcols[k], MPFR_RNDN);
            else
                return GP_EINTERNAL;
        }
        break;
    }
    case GP_OP_ADD:
        /* mpfr_sum: the n-ary sum correctly rounded, whatever cancels */
        for (uint32_t k = 0; k < n->nkid; k++)
            e->ptrs[k] = val(e, n->kid[k], inner);
        mpfr_sum(r, e->ptrs, n->nkid, MPFR_RNDN);
        break;
    case GP_OP_MUL:
        /* n-1 correctly rounded products: relative error <= (n-1) 2^-prec */
        mpfr_mul(r, val(e, n->kid[0], inner), val(e, n->kid[1], inner), MPFR_RNDN);
        for (uint32_t k = 2; k < n->nkid; k++)
            mpfr_mul(r, r, val(e, n->kid[k], inner), MPFR_RNDN);
        break;
    case GP_OP_POW:
        if (!dag_is_num(c, n->kid[1]))
            return GP_EINTERNAL;
        e->why = eval_mpfr_pow(r, val(e, n->kid[0], inner), dag_q(c, n->kid[1]), e->prec);
        break;
    case GP_OP_FN:
        e->why = eval_mpfr_fn(r, (gp_fn)n->fn, val(e, n->kid[0], inner), e->w1, e->w2);
        break;
    case GP_OP_MEAN:
    case GP_OP_SUMS:
        return GP_EINTERNAL;
    }
    inspect(e, id, r, n->level == GP_LV_SAMPLE ? sample : -1);
    return GP_OK;
}

/* Mark the cone, check the contract, number the slots and initialise them. */
static gp_status setup(evaluator *e, size_t nroots, const gp_id *roots, long sample, size_t *nred)
{
    gp_ctx *c = e->c;
    e->hi = 0;
    for (size_t i = 0; i < nroots; i++) {
        if (roots[i] == GP_NIL || roots[i] >= c->nnode)
            return GP_EINTERNAL;
        if ((size_t)roots[i] + 1 > e->hi)
            e->hi = (size_t)roots[i] + 1;
    }
    size_t hi = e->hi;
    e->mark = calloc(hi ? hi : 1, 1);
    e->slot = malloc((hi ? hi : 1) * sizeof *e->slot);
    e->islot = malloc((hi ? hi : 1) * sizeof *e->islot);
    if (!e->mark || !e->slot || !e->islot)
        return GP_ENOMEM;
    for (size_t i = 0; i < nroots; i++)
        e->mark[roots[i]] = M_TOP;
    /* one downward sweep: a reduction passes M_INNER to its argument,
       every other node passes on what it has */
    uint32_t maxkid = 1;
    int need_row = 0, need_data = 0;
    for (size_t id = hi; id-- > 0;) {
        unsigned char m = e->mark[id];
        if (!m)
            continue;
        const gp_node *n = &c->node[id];
        if ((m & M_INNER) && n->level == GP_LV_DATASET)
            return GP_EINTERNAL; /* a reduction below a reduction */
        if (n->nkid > maxkid)
            maxkid = n->nkid;
        if (n->op == GP_OP_LEAF && n->level == GP_LV_SAMPLE) {
            need_data = 1;
            if (m & M_TOP)
                need_row = 1;
        }
        if (is_reduction(n)) {
            e->mark[n->kid[0]] |= M_INNER;
            ++*nred;
        } else {
            for (uint32_t k = 0; k < n->nkid; k++)
                e->mark[n->kid[k]] |= m;
        }
    }
    const eval_env *env = e->env;
    if (need_row && (sample < 0 || (size_t)sample >= env->nsamples))
        return GP_EINTERNAL;
    if (need_data && env->nsamples > 0) {
        if (!env->col_leaf || (!env->cols && !env->qcols))
            return GP_EINTERNAL;
        e->leafcol = malloc((c->nleaf ? c->nleaf : 1) * sizeof *e->leafcol);
        if (!e->leafcol)
            return GP_ENOMEM;
        for (size_t l = 0; l < c->nleaf; l++)
            e->leafcol[l] = -1;
        for (size_t j = 0; j < env->ncols; j++)
            if (env->col_leaf[j] < c->nleaf)
                e->leafcol[env->col_leaf[j]] = (long)j;
    }
    /* slots: static nodes one; others one per mark bit; reductions an
       accumulator too */
    size_t nslot = 0;
    for (size_t id = 0; id < hi; id++) {
        e->slot[id] = e->islot[id] = NOSLOT;
        unsigned char m = e->mark[id];
        if (!m)
            continue;
        const gp_node *n = &c->node[id];
        if (n->level == GP_LV_STATIC) {
            e->slot[id] = (uint32_t)nslot++;
            continue;
        }
        if (m & M_TOP)
            e->slot[id] = (uint32_t)nslot++;
        if ((m & M_INNER) || is_reduction(n))
            e->islot[id] = (uint32_t)nslot++;
    }
    e->ptrs = malloc(maxkid * sizeof *e->ptrs);
    e->v = malloc((nslot ? nslot : 1) * sizeof *e->v);
    if (!e->ptrs || !e->v)
        return GP_ENOMEM;
    for (size_t id = 0; id < hi; id++) {
        if (e->slot[id] != NOSLOT)
            mpfr_init2(e->v[e->nv++], e->prec);
        if (e->islot[id] != NOSLOT) {
            int acc = is_reduction(&c->node[id]);
            mpfr_init2(e->v[e->nv++], acc ? e->prec + EXTRA : e->prec);
            if (acc)
                mpfr_set_zero(e->v[e->nv - 1], 1);
        }
    }
    mpfr_init2(e->w1, e->prec + EXTRA);
    mpfr_init2(e->w2, e->prec + EXTRA);
    e->wok = 1;
    return GP_OK;
}

static gp_status run(evaluator *e, long sample, size_t nred)
{
    gp_ctx *c = e->c;
    const eval_env *env = e->env;
    gp_status st = GP_OK;
    /* 1. static nodes */
    for (size_t id = 0; st == GP_OK && id < e->hi; id++)
        if (e->mark[id] && c->node[id].level == GP_LV_STATIC)
            st = compute(e, (gp_id)id, 0, -1);
    /* 2. every row for the nodes below reductions; each reduction adds its
       argument at prec + EXTRA (rounding error of the total below
       nsamples 2^-(prec+EXTRA) times the sum of absolute values) */
    for (size_t s = 0; st == GP_OK && nred && s < env->nsamples; s++) {
        for (size_t id = 0; st == GP_OK && id < e->hi; id++)
            if ((e->mark[id] & M_INNER) && c->node[id].level != GP_LV_STATIC)
                st = compute(e, (gp_id)id, 1, (long)s);
        for (size_t id = 0; st == GP_OK && id < e->hi; id++) {
            const gp_node *n = &c->node[id];
            if (e->mark[id] && is_reduction(n))
                mpfr_add(e->v[e->islot[id]], e->v[e->islot[id]], val(e, n->kid[0], 1), MPFR_RNDN);
        }
    }
    /* 3. reductions, dataset-level nodes, per-sample nodes at the row */
    for (size_t id = 0; st == GP_OK && id < e->hi; id++) {
        const gp_node *n = &c->node[id];
        if (!(e->mark[id] & M_TOP) || n->level == GP_LV_STATIC)
            continue;
        if (!is_reduction(n)) {
            st = compute(e, (gp_id)id, 0, sample);
            continue;
        }
        mpfr_ptr r = e->v[e->slot[id]];
        mpfr_srcptr acc = e->v[e->islot[id]];
        e->why = NULL;
        mpfr_clear_flags();
        if (env->nsamples == 0) {
            mpfr_set_nan(r);
            e->why = "no samples";
        } else if (n->op == GP_OP_MEAN) {
            mpfr_div_ui(r, acc, env->nsamples, MPFR_RNDN);
        } else {
            mpfr_set(r, acc, MPFR_RNDN);
        }
        if (mpfr_inf_p(r))
            e->why = "overflow"; /* the rows were finite, or a fault was noted */
        inspect(e, (gp_id)id, r, -1);
    }
    return st;
}

gp_status eval_mpfr(mpfr_t *out, gp_ctx *c, const eval_env *env, long sample, size_t nroots,
                    const gp_id *roots, mpfr_prec_t prec, eval_fault *fault)
{
    static const eval_env none; /* no params, no data */
    eval_fault dummy;
    evaluator e;
    memset(&e, 0, sizeof e);
    e.c = c;
    e.env = env ? env : &none;
    e.prec = prec < MPFR_PREC_MIN ? MPFR_PREC_MIN : prec;
    if (e.prec > MPFR_PREC_MAX - EXTRA - 8192) /* room for the work precisions */
        e.prec = MPFR_PREC_MAX - EXTRA - 8192;
    e.fault = fault ? fault : &dummy;
    e.fault->node = GP_NIL;
    e.fault->what = NULL;
    e.fault->sample = -1;
    mpfr_flags_t saved = mpfr_flags_save();
    size_t nred = 0;
    gp_status st = setup(&e, nroots, roots, sample, &nred);
    if (st == GP_OK)
        st = run(&e, sample, nred);
    if (st == GP_OK)
        for (size_t i = 0; i < nroots; i++)
            mpfr_set(out[i], val(&e, roots[i], 0), MPFR_RNDN);
    for (size_t i = 0; i < e.nv; i++)
        mpfr_clear(e.v[i]);
    if (e.wok) {
        mpfr_clear(e.w1);
        mpfr_clear(e.w2);
    }
    free(e.v);
    free(e.ptrs);
    free(e.leafcol);
    free(e.mark);
    free(e.slot);
    free(e.islot);
    mpfr_flags_restore(saved, MPFR_FLAGS_ALL);
    if (st != GP_OK) {
        e.fault->node = GP_NIL;
        e.fault->what = NULL;
        e.fault->sample = -1;
    }
    return st;
}

void eval_env_case(eval_env *env, const struct gp_case *cs)
{
    env->nsamples = cs->has_data ? cs->nrows : 0;
    env->ncols = cs->ncols;
    env->col_leaf = cs->dcol;
    env->cols = NULL;
    env->qcols = cs->dval;
}

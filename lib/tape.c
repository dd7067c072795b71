/*
 * tape.c -- the DAG compiled to a flat tape, and the tape run in double
 * (forward and reverse, over all samples at once), in MPFR and in mpq.
 *
 * Compiling.  The cone of the roots is walked in id order (a topological
 * order), one instruction per node, so the tape is straight-line code whose
 * slot k is written by instruction k.  One fusion: a per-sample product
 * with exactly one per-sample factor, used once, by a per-sample sum, is
 * not an instruction of its own but a term (coefficient, value) of that
 * sum, which becomes TP_LIN; a coefficient of several static factors (2*w)
 * gets a static TP_MUL made by the compiler.  A layer h_k = sum_j W_kj x_j
 * thus runs as axpy loops over the samples in the forward sweep and as axpy
 * and dot products in the reverse sweep, the way one writes it by hand.
 *
 * Layout.  Structure of arrays: a per-sample slot holds ns doubles, a
 * static or dataset-level slot one.  Every inner loop runs over the samples
 * with unit stride, so the compiler vectorises it.  Sums over the samples
 * (reductions, and the adjoint of a static value used per sample) go
 * through LANES independent accumulators, combined at the end: that order is
 * fixed, so the fast and the bounded sweeps produce the same bits.
 *
 * The reverse sweep uses the local rule of each instruction (d tanh(x) =
 * 1 - tanh^2 x, ...), never the symbolic derivative: it is the independent
 * route of `check`.
 *
 * Running error bound (bounded workspaces).  Each value v and each adjoint
 * a carries e >= |computed - exact| to first order, where "exact" is the
 * same instruction evaluated exactly on the same doubles for params and
 * data.  With U = 2^-53 the unit roundoff of round-to-nearest:
 *   - a rounding that gave x: U|x|, plus ETA = 2^-1074 when x is below the
 *     normal range (the standard model with gradual underflow; sums, and
 *     products with a zero factor, are exact there); below as U|x| for short;
 *   - a rounded constant: e = U|c|; params and data: e = 0;
 *   - s = a + b:  e_s = e_a + e_b + U|s|;   p = a*b:  e_p = |b|e_a + |a|e_b + U|p|;
 *   - v = f(x):   e_v = |f'(x)| e_x + c_f U|v|, c_f = ULPS_LIBM for libm
 *     functions (glibc documents at most 2 ulps for exp, log, tanh, sin, cos,
 *     log1p on x86_64; we allow 4, 2 ulps being 4U relative), ULPS_COMPOSITE
 *     for sigmoid and softplus (two libm calls and two operations), 0 for
 *     relu, abs, step and sign;
 *   - a power x^q: |q x^(q-1)| e_x + c U|v| (c = 1 for squares, ULPS_LIBM
 *     for pow()), plus |v log|x|| |q - fl(q)| when the exponent is inexact;
 *   - adjoints: a_x += a_p * d, d the local partial computed from forward
 *     values with its own error e_d (from their errors): the product and
 *     sum rule above.
 * The bound is the sum over every rounding of U times the magnitude it
 * acted on, weighted by how the rest of the computation scales it: the
 * "sum of absolute contributions times the unit roundoff" of DESIGN.md §5,
 * computed alongside the values.  Second-order terms (products of two
 * errors) are left out; check.c allows for them with a small factor.  A
 * kink argument (relu, abs, step, sign) whose |x| <= e_x could have the
 * wrong sign: the workspace counts such doubts, and check redraws.
 *
 * Built with GP_TAPE_MUTANT, the reverse sweep carries a planted bug (see
 * rev_fn), so that the tests can show `check` is not vacuous.
 *
 * Owns: the tape's arrays; each workspace its buffers (MPFR values cleared
 * on every path).
 */
#include "tape.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_mpfr.h"

#define U 0x1p-53              /* unit roundoff of double, round to nearest */
#define ETA 0x1p-1074          /* absolute error of a rounding below the normal range */
/* The error of one rounding that gave x: fl(x) = x(1 + d) + e, |d| <= U, and
   |e| <= ETA only for a result below the normal range (underflow).  Sums
   below it are exact (gradual underflow): RS.  A product with an exactly
   zero factor is exact: RP. */
#define RU(x) (U * fabs(x) + (fabs(x) < DBL_MIN ? ETA : 0))
#define RS(x) (U * fabs(x))
#define RP(p, a, b) ((a) == 0 || (b) == 0 ? 0 : RU(p))
#define ULPS_LIBM 8.0          /* in units of U: 4 ulps */
#define ULPS_COMPOSITE 16.0    /* sigmoid, softplus */
#define LANES 8                /* independent accumulators of a sample sum */
#define EXTRA 64               /* guard bits of the MPFR work variables */

static int is_kink(gp_fn fn) { return fn == GP_FN_RELU || fn == GP_FN_ABS || fn == GP_FN_STEP || fn == GP_FN_SIGN; }

/* ---- compiling ---- */

typedef struct comp {
    gp_ctx *c;
    tape *t;
    size_t capins;
    size_t *argoff;        /* [capins] where each instruction's operands start */
    size_t nargs, capargs;
    uint32_t *uses;        /* [nnode] uses inside the cone (+1 for a root) */
    gp_id *parent;         /* [nnode] a user of each node */
    uint32_t *slot;        /* [nnode] the slot of each node, TAPE_NONE if none */
    uint32_t *fcoef;       /* [nnode] fused products: their coefficient slot */
    uint32_t *fval;        /* [nnode] fused products: their per-sample slot */
    long *pord;            /* [nleaf] param ordinal, -1 */
    long *col;             /* [nleaf] data column, -1 */
} comp;

static int push_args(comp *k, size_t n, const uint32_t *a)
{
    if (!ctx_grow((void **)&k->t->args, &k->capargs, k->nargs + n + 1, sizeof *k->t->args))
        return 0;
    if (n)
        memcpy(k->t->args + k->nargs, a, n * sizeof *a);
    k->nargs += n;
    return 1;
}

/* Append an instruction; returns its slot, TAPE_NONE out of memory. */
static uint32_t emit(comp *k, tape_op op, unsigned fn, unsigned level, int active, size_t n,
                     const uint32_t *a, uint32_t aux, gp_id node)
{
    tape *t = k->t;
    if (t->nins >= UINT32_MAX - 1)
        return TAPE_NONE;
    size_t cap = k->capins;
    if (!ctx_grow((void **)&t->ins, &cap, t->nins + 1, sizeof *t->ins))
        return TAPE_NONE;
    cap = k->capins;
    if (!ctx_grow((void **)&k->argoff, &cap, t->nins + 1, sizeof *k->argoff))
        return TAPE_NONE;
    k->capins = cap;
    k->argoff[t->nins] = k->nargs;
    if (!push_args(k, n, a))
        return TAPE_NONE;
    t->ins[t->nins] = (tape_ins){.op = (uint8_t)op, .fn = (uint8_t)fn, .level = (uint8_t)level,
                                 .active = (uint8_t)(active != 0), .n = (uint32_t)n, .aux = aux,
                                 .arg = NULL, .node = node};
    return (uint32_t)t->nins++;
}

/* A per-sample product that can be a term of its (per-sample) sum. */
static int fusable(const comp *k, gp_id id)
{
    const gp_ctx *c = k->c;
    const gp_node *n = &c->node[id];
    if (n->op != GP_OP_MUL || n->level != GP_LV_SAMPLE || k->uses[id] != 1 || k->parent[id] == GP_NIL)
        return 0;
    const gp_node *p = &c->node[k->parent[id]];
    if (p->op != GP_OP_ADD || p->level != GP_LV_SAMPLE)
        return 0;
    uint32_t nvec = 0;
    for (uint32_t j = 0; j < n->nkid; j++)
        nvec += c->node[n->kid[j]].level == GP_LV_SAMPLE;
    return nvec == 1;
}

static gp_status compile_node(comp *k, gp_id id)
{
    gp_ctx *c = k->c;
    tape *t = k->t;
    const gp_node *n = &c->node[id];
    int active = (n->flags & GP_NF_PARAM) != 0;
    uint32_t s = TAPE_NONE, a[1];
    switch ((gp_op)n->op) {
    case GP_OP_NUM:
        s = emit(k, TP_NUM, 0, GP_LV_STATIC, 0, 0, NULL, n->pay, id);
        break;
    case GP_OP_LEAF: {
        const gp_leaf *l = &c->leaf[n->pay];
        if (l->kind == GP_LEAF_CONST) {
            if (l->value == GP_NIL || !dag_is_num(c, l->value))
                return GP_EINTERNAL;
            s = emit(k, TP_NUM, 0, GP_LV_STATIC, 0, 0, NULL, c->node[l->value].pay, id);
        } else if (l->kind == GP_LEAF_PARAM) {
            if (k->pord[n->pay] < 0)
                return GP_EINTERNAL;
            s = emit(k, TP_PARAM, 0, GP_LV_STATIC, 1, 0, NULL, (uint32_t)k->pord[n->pay], id);
            if (s != TAPE_NONE)
                t->pslot[k->pord[n->pay]] = s;
        } else {
            if (k->col[n->pay] < 0)
                return GP_EINTERNAL;
            s = emit(k, TP_DATA, 0, GP_LV_SAMPLE, 0, 0, NULL, (uint32_t)k->col[n->pay], id);
        }
        break;
    }
    case GP_OP_MUL:
        if (fusable(k, id)) {
            /* a term of its sum: the per-sample factor and the product of
               the others (a slot of its own when there are several) */
            uint32_t nst = 0, vec = TAPE_NONE, *st = malloc(n->nkid * sizeof *st);
            if (!st)
                return GP_ENOMEM;
            int act = 0;
            for (uint32_t j = 0; j < n->nkid; j++) {
                gp_id kid = n->kid[j];
                if (c->node[kid].level == GP_LV_SAMPLE) {
                    vec = k->slot[kid];
                } else {
                    st[nst++] = k->slot[kid];
                    act |= (c->node[kid].flags & GP_NF_PARAM) != 0;
                }
            }
            uint32_t coef = nst == 1 ? st[0] : emit(k, TP_MUL, 0, GP_LV_STATIC, act, nst, st, 0, GP_NIL);
            free(st);
            if (coef == TAPE_NONE)
                return GP_ENOMEM;
            k->fcoef[id] = coef;
            k->fval[id] = vec;
            return GP_OK;
        }
        /* fall through */
    case GP_OP_ADD: {
        uint32_t *ar = malloc(2 * (size_t)n->nkid * sizeof *ar);
        if (!ar)
            return GP_ENOMEM;
        uint32_t nt = 0, np = 0;
        if (n->op == GP_OP_ADD)
            for (uint32_t j = 0; j < n->nkid; j++)
                if (k->slot[n->kid[j]] == TAPE_NONE && k->fcoef[n->kid[j]] != TAPE_NONE) {
                    ar[2 * nt] = k->fcoef[n->kid[j]];
                    ar[2 * nt + 1] = k->fval[n->kid[j]];
                    nt++;
                }
        for (uint32_t j = 0; j < n->nkid; j++)
            if (k->slot[n->kid[j]] != TAPE_NONE)
                ar[2 * nt + np++] = k->slot[n->kid[j]];
        tape_op op = n->op == GP_OP_MUL ? TP_MUL : nt ? TP_LIN : TP_ADD;
        s = emit(k, op, 0, n->level, active, 2 * nt + np, ar, nt, id);
        free(ar);
        break;
    }
    case GP_OP_POW:
        if (!dag_is_num(c, n->kid[1]))
            return GP_EINTERNAL;
        a[0] = k->slot[n->kid[0]];
        s = emit(k, TP_POW, 0, n->level, active, 1, a, c->node[n->kid[1]].pay, id);
        if (mpz_cmp_ui(mpq_denref(dag_q(c, n->kid[1])), 1) != 0)
            t->rational = 0;
        break;
    case GP_OP_FN:
        a[0] = k->slot[n->kid[0]];
        s = emit(k, TP_FN, n->fn, n->level, active, 1, a, is_kink((gp_fn)n->fn) ? (uint32_t)t->nkink : 0, id);
        t->rational = 0;
        if (is_kink((gp_fn)n->fn))
            t->nkink++;
        break;
    case GP_OP_MEAN:
    case GP_OP_SUMS:
        a[0] = k->slot[n->kid[0]];
        s = emit(k, n->op == GP_OP_MEAN ? TP_MEAN : TP_SUMS, 0, GP_LV_DATASET, active, 1, a, 0, id);
        break;
    }
    if (s == TAPE_NONE)
        return GP_ENOMEM;
    k->slot[id] = s;
    return GP_OK;
}

/* Round the exact constants (and exponents) to double. */
static gp_status round_constants(tape *t)
{
    t->cval = calloc(t->nins ? t->nins : 1, sizeof *t->cval);
    t->cexact = calloc(t->nins ? t->nins : 1, 1);
    if (!t->cval || !t->cexact)
        return GP_ENOMEM;
    mpfr_t d;
    mpfr_init2(d, 53);
    mpfr_exp_t emin = mpfr_get_emin(), emax = mpfr_get_emax();
    for (size_t k = 0; k < t->nins; k++) {
        const tape_ins *in = &t->ins[k];
        if (in->op != TP_NUM && in->op != TP_POW)
            continue;
        /* the double's exponent range, so that subnormals round as doubles do */
        mpfr_set_emin(-1073);
        mpfr_set_emax(1024);
        int inex = mpfr_set_q(d, t->c->num[in->aux], MPFR_RNDN);
        inex = mpfr_subnormalize(d, inex, MPFR_RNDN);
        t->cval[k] = mpfr_get_d(d, MPFR_RNDN);
        t->cexact[k] = inex == 0 && isfinite(t->cval[k]);
        mpfr_set_emin(emin);
        mpfr_set_emax(emax);
    }
    mpfr_clear(d);
    return GP_OK;
}

gp_status tape_compile(tape *t, gp_ctx *c, size_t nroot, const gp_id *roots,
                       size_t nparam, const uint32_t *param_leaf,
                       size_t ncol, const uint32_t *col_leaf)
{
    memset(t, 0, sizeof *t);
    t->c = c;
    t->nparam = nparam;
    t->ncol = ncol;
    t->nroot = nroot;
    t->rational = 1;
    comp k = {.c = c, .t = t};
    size_t nn = c->nnode ? c->nnode : 1, nl = c->nleaf ? c->nleaf : 1;
    gp_status st = GP_ENOMEM;
    unsigned char *mark = calloc(nn, 1);
    k.uses = calloc(nn, sizeof *k.uses);
    k.parent = malloc(nn * sizeof *k.parent);
    k.slot = malloc(nn * sizeof *k.slot);
    k.fcoef = malloc(nn * sizeof *k.fcoef);
    k.fval = malloc(nn * sizeof *k.fval);
    k.pord = malloc(nl * sizeof *k.pord);
    k.col = malloc(nl * sizeof *k.col);
    t->pslot = malloc((nparam ? nparam : 1) * sizeof *t->pslot);
    t->root = malloc((nroot ? nroot : 1) * sizeof *t->root);
    if (!mark || !k.uses || !k.parent || !k.slot || !k.fcoef || !k.fval || !k.pord || !k.col || !t->pslot || !t->root)
        goto out;
    st = GP_EINTERNAL;
    for (size_t i = 0; i < nroot; i++)
        if (roots[i] == GP_NIL || roots[i] >= c->nnode)
            goto out;
    for (size_t i = 0; i < nl; i++)
        k.pord[i] = k.col[i] = -1;
    for (size_t i = 0; i < nparam; i++) {
        if (param_leaf[i] >= c->nleaf)
            goto out;
        k.pord[param_leaf[i]] = (long)i;
        t->pslot[i] = TAPE_NONE;
    }
    for (size_t j = 0; j < ncol; j++) {
        if (col_leaf[j] >= c->nleaf)
            goto out;
        k.col[col_leaf[j]] = (long)j;
    }
    dag_reach(c, nroot, roots, mark);
    for (size_t id = 0; id < c->nnode; id++) {
        k.slot[id] = k.fcoef[id] = k.fval[id] = TAPE_NONE;
        k.parent[id] = GP_NIL;
    }
    for (size_t id = 0; id < c->nnode; id++) {
        if (!mark[id])
            continue;
        const gp_node *n = &c->node[id];
        for (uint32_t j = 0; j < n->nkid; j++) {
            k.uses[n->kid[j]]++;
            k.parent[n->kid[j]] = (gp_id)id;
        }
    }
    for (size_t i = 0; i < nroot; i++)
        k.uses[roots[i]]++;
    for (size_t id = 0; id < c->nnode; id++)
        if (mark[id] && (st = compile_node(&k, (gp_id)id)) != GP_OK)
            goto out;
    st = GP_EINTERNAL;
    for (size_t i = 0; i < nroot; i++)
        if ((t->root[i] = k.slot[roots[i]]) == TAPE_NONE)
            goto out;
    for (size_t i = 0; i < t->nins; i++)
        t->ins[i].arg = t->args + k.argoff[i];
    st = round_constants(t);
out:
    free(mark);
    free(k.uses);
    free(k.parent);
    free(k.slot);
    free(k.fcoef);
    free(k.fval);
    free(k.pord);
    free(k.col);
    free(k.argoff);
    if (st != GP_OK)
        tape_free(t);
    return st;
}

void tape_free(tape *t)
{
    if (!t)
        return;
    free(t->ins);
    free(t->args);
    free(t->pslot);
    free(t->root);
    free(t->cval);
    free(t->cexact);
    memset(t, 0, sizeof *t);
}

/* ---- double: the operations ---- */

static double sigmoid_d(double x)
{
    if (x >= 0)
        return 1 / (1 + exp(-x));
    double e = exp(x);
    return e / (1 + e);
}

static double fn_d(gp_fn fn, double x)
{
    switch (fn) {
    case GP_FN_EXP: return exp(x);
    case GP_FN_LOG: return log(x);
    case GP_FN_TANH: return tanh(x);
    case GP_FN_SIGMOID: return sigmoid_d(x);
    case GP_FN_RELU: return x > 0 ? x : 0;
    case GP_FN_ABS: return fabs(x);
    case GP_FN_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case GP_FN_SIN: return sin(x);
    case GP_FN_COS: return cos(x);
    case GP_FN_STEP: return x > 0;
    case GP_FN_SIGN: return (x > 0) - (x < 0);
    default: return NAN;
    }
}

/* f'(x), from x and v = f(x) */
static double dfn_d(gp_fn fn, double x, double v)
{
    switch (fn) {
    case GP_FN_EXP: return v;
    case GP_FN_LOG: return 1 / x;
    case GP_FN_TANH: return 1 - v * v;
    case GP_FN_SIGMOID: return v * (1 - v);
    case GP_FN_RELU: return x > 0;
    case GP_FN_ABS: return (x > 0) - (x < 0);
    case GP_FN_SOFTPLUS: return sigmoid_d(x);
    case GP_FN_SIN: return cos(x);
    case GP_FN_COS: return -sin(x);
    default: return 0;  /* step, sign */
    }
}

/* Rounding of f(x) in units of U|f(x)|. */
static double fn_ulps(gp_fn fn)
{
    switch (fn) {
    case GP_FN_RELU: case GP_FN_ABS: case GP_FN_STEP: case GP_FN_SIGN: return 0;
    case GP_FN_SIGMOID: case GP_FN_SOFTPLUS: return ULPS_COMPOSITE;
    default: return ULPS_LIBM;
    }
}

/* Error of the computed f'(x) given e_x, e_v: |f''(x)| e_x (first order)
   plus its own roundings. */
static double dfn_err(gp_fn fn, double x, double v, double d, double ex, double ev)
{
    double ad = fabs(d);
    switch (fn) {
    case GP_FN_EXP: return ev;
    case GP_FN_LOG: return ex / (x * x) + RU(ad);
    case GP_FN_TANH: return 2 * fabs(v) * ev + RU(v * v) + RU(ad);
    case GP_FN_SIGMOID: return fabs(1 - 2 * v) * ev + RU(1 - v) * fabs(v) + RU(ad);
    case GP_FN_SOFTPLUS: return fabs(d * (1 - d)) * ex + ULPS_COMPOSITE * RU(ad);
    case GP_FN_SIN: return fabs(sin(x)) * ex + ULPS_LIBM * RU(ad);
    case GP_FN_COS: return fabs(cos(x)) * ex + ULPS_LIBM * RU(ad);
    default: return 0;
    }
}

/* ---- double: the workspace ---- */

#define ISVEC(w, k) ((w)->t->ins[k].level == GP_LV_SAMPLE)

gp_status tape_dbl_init(tape_dbl *w, const tape *t, size_t ns, int bounded)
{
    memset(w, 0, sizeof *w);
    w->t = t;
    w->ns = ns;
    w->bounded = bounded;
    size_t total = 0;
    w->off = malloc((t->nins ? t->nins : 1) * sizeof *w->off);
    if (!w->off)
        goto fail;
    for (size_t k = 0; k < t->nins; k++) {
        w->off[k] = total;
        size_t len = t->ins[k].level == GP_LV_SAMPLE ? ns : 1;
        if (len > SIZE_MAX / sizeof(double) - total)
            goto fail;
        total += len;
    }
    total = total ? total : 1;
    size_t nsc = ns ? ns : 1;
    w->val = malloc(total * sizeof *w->val);
    w->adj = malloc(total * sizeof *w->adj);
    w->g = malloc(nsc * sizeof *w->g);
    w->ge = malloc(nsc * sizeof *w->ge);
    if (!w->val || !w->adj || !w->g || !w->ge)
        goto fail;
    if (bounded) {
        w->err = malloc(total * sizeof *w->err);
        w->aerr = malloc(total * sizeof *w->aerr);
        if (!w->err || !w->aerr)
            goto fail;
    }
    return GP_OK;
fail:
    tape_dbl_free(w);
    return GP_ENOMEM;
}

void tape_dbl_free(tape_dbl *w)
{
    if (!w)
        return;
    free(w->off);
    free(w->val);
    free(w->adj);
    free(w->err);
    free(w->aerr);
    free(w->g);
    free(w->ge);
    memset(w, 0, sizeof *w);
}

/* Sum of x[0..n) in the fixed lane order; *e (when e != NULL) gets the
   running error bound, given the errors ex[] of the terms. */
static double lanesum(const double *x, size_t n, const double *ex, double *e)
{
    double acc[LANES] = {0};
    size_t s = 0;
    if (!e) {
        for (; s + LANES <= n; s += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += x[s + l];
        for (; s < n; s++)
            acc[0] += x[s];
        double r = acc[0];
        for (int l = 1; l < LANES; l++)
            r += acc[l];
        return r;
    }
    double ea[LANES] = {0};
    for (; s + LANES <= n; s += LANES)
        for (int l = 0; l < LANES; l++) {
            acc[l] += x[s + l];
            ea[l] += ex[s + l] + RS(acc[l]);
        }
    for (; s < n; s++) {
        acc[0] += x[s];
        ea[0] += ex[s] + RS(acc[0]);
    }
    double r = acc[0], er = ea[0];
    for (int l = 1; l < LANES; l++) {
        r += acc[l];
        er += ea[l] + RS(r);
    }
    *e = er;
    return r;
}

/* sum_s x[s] y[s] in the lane order, with the running error bound. */
static double lanedot(const double *x, const double *y, size_t n, const double *ex, const double *ey, double *e)
{
    double acc[LANES] = {0};
    size_t s = 0;
    if (!e) {
        for (; s + LANES <= n; s += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += x[s + l] * y[s + l];
        for (; s < n; s++)
            acc[0] += x[s] * y[s];
        double r = acc[0];
        for (int l = 1; l < LANES; l++)
            r += acc[l];
        return r;
    }
    double ea[LANES] = {0};
    for (; s + LANES <= n; s += LANES)
        for (int l = 0; l < LANES; l++) {
            double p = x[s + l] * y[s + l];
            acc[l] += p;
            ea[l] += fabs(y[s + l]) * ex[s + l] + fabs(x[s + l]) * ey[s + l] + RP(p, x[s + l], y[s + l]) + RS(acc[l]);
        }
    for (; s < n; s++) {
        double p = x[s] * y[s];
        acc[0] += p;
        ea[0] += fabs(y[s]) * ex[s] + fabs(x[s]) * ey[s] + RP(p, x[s], y[s]) + RS(acc[0]);
    }
    double r = acc[0], er = ea[0];
    for (int l = 1; l < LANES; l++) {
        r += acc[l];
        er += ea[l] + RS(r);
    }
    *e = er;
    return r;
}

static double *V(const tape_dbl *w, size_t k) { return w->val + w->off[k]; }
static double *E(const tape_dbl *w, size_t k) { return w->err + w->off[k]; }
static double *A(const tape_dbl *w, size_t k) { return w->adj + w->off[k]; }
static double *AE(const tape_dbl *w, size_t k) { return w->aerr + w->off[k]; }

/* d[s] = first operand (broadcast when it is a scalar) */
static void load(const tape_dbl *w, size_t len, double *d, double *de, uint32_t a)
{
    int full = len == 1 || ISVEC(w, a);
    const double *x = V(w, a);
    if (full)
        memcpy(d, x, len * sizeof *d);
    else
        for (size_t s = 0; s < len; s++)
            d[s] = x[0];
    if (de) {
        const double *ex = E(w, a);
        if (full)
            memcpy(de, ex, len * sizeof *de);
        else
            for (size_t s = 0; s < len; s++)
                de[s] = ex[0];
    }
}

/* d += x (operand a) */
static void add_to(const tape_dbl *w, size_t len, double *d, double *de, uint32_t a)
{
    const double *x = V(w, a);
    int full = len == 1 || ISVEC(w, a);
    if (!de) {
        if (full)
            for (size_t s = 0; s < len; s++)
                d[s] += x[s];
        else
            for (size_t s = 0; s < len; s++)
                d[s] += x[0];
        return;
    }
    const double *ex = E(w, a);
    for (size_t s = 0; s < len; s++) {
        size_t i = full ? s : 0;
        d[s] += x[i];
        de[s] += ex[i] + RS(d[s]);
    }
}

/* d *= x (operand a) */
static void mul_to(const tape_dbl *w, size_t len, double *d, double *de, uint32_t a)
{
    const double *x = V(w, a);
    int full = len == 1 || ISVEC(w, a);
    if (!de) {
        if (full)
            for (size_t s = 0; s < len; s++)
                d[s] *= x[s];
        else
            for (size_t s = 0; s < len; s++)
                d[s] *= x[0];
        return;
    }
    const double *ex = E(w, a);
    for (size_t s = 0; s < len; s++) {
        size_t i = full ? s : 0;
        double p = d[s] * x[i];
        de[s] = fabs(x[i]) * de[s] + fabs(d[s]) * ex[i] + RP(p, d[s], x[i]);
        d[s] = p;
    }
}

/* d += c * x: c a scalar operand, x a per-sample one (or both scalars) */
static void axpy_to(const tape_dbl *w, size_t len, double *d, double *de, uint32_t ac, uint32_t ax)
{
    double c = V(w, ac)[0];
    const double *x = V(w, ax);
    if (!de) {
        for (size_t s = 0; s < len; s++)
            d[s] += c * x[s];
        return;
    }
    double ec = E(w, ac)[0];
    const double *ex = E(w, ax);
    for (size_t s = 0; s < len; s++) {
        double p = c * x[s];
        d[s] += p;
        de[s] += ec * fabs(x[s]) + fabs(c) * ex[s] + RP(p, c, x[s]) + RS(d[s]);
    }
}

static void fwd_pow(tape_dbl *w, size_t k, size_t len, double *d, double *de)
{
    const tape *t = w->t;
    const tape_ins *in = &t->ins[k];
    const double *x = V(w, in->arg[0]);
    double q = t->cval[k];
    int sq = q == 2;
    for (size_t s = 0; s < len; s++)
        d[s] = sq ? x[s] * x[s] : q == 0.5 ? sqrt(x[s]) : q == -1 ? 1 / x[s] : pow(x[s], q);
    if (!de)
        return;
    const double *ex = E(w, in->arg[0]);
    /* the exponent's own rounding: |q - fl(q)| <= U|q| */
    double eq = t->cexact[k] ? 0 : RU(q);
    double c = sq || q == 0.5 || q == -1 ? 1 : ULPS_LIBM;
    for (size_t s = 0; s < len; s++) {
        double v = d[s];
        double e = c * RU(v);
        if (ex[s] != 0)
            e += fabs(q * pow(x[s], q - 1)) * ex[s];
        if (eq != 0 && x[s] > 0)
            e += fabs(v * log(x[s])) * eq;
        de[s] = e;
    }
}

static void fwd_fn(tape_dbl *w, size_t k, size_t len, double *d, double *de)
{
    const tape_ins *in = &w->t->ins[k];
    gp_fn fn = (gp_fn)in->fn;
    const double *x = V(w, in->arg[0]);
    switch (fn) {
    case GP_FN_TANH:
        for (size_t s = 0; s < len; s++)
            d[s] = tanh(x[s]);
        break;
    case GP_FN_EXP:
        for (size_t s = 0; s < len; s++)
            d[s] = exp(x[s]);
        break;
    case GP_FN_RELU:
        for (size_t s = 0; s < len; s++)
            d[s] = x[s] > 0 ? x[s] : 0;
        break;
    default:
        for (size_t s = 0; s < len; s++)
            d[s] = fn_d(fn, x[s]);
        break;
    }
    if (!de)
        return;
    const double *ex = E(w, in->arg[0]);
    double c = fn_ulps(fn);
    for (size_t s = 0; s < len; s++) {
        de[s] = fabs(dfn_d(fn, x[s], d[s])) * ex[s] + c * RU(d[s]);
        if (is_kink(fn) && fabs(x[s]) <= ex[s] && ex[s] > 0)
            w->doubt++;
    }
}

void tape_dbl_forward(tape_dbl *w, const double *params, const double *data)
{
    const tape *t = w->t;
    size_t ns = w->ns;
    int b = w->bounded;
    w->doubt = 0;
    for (size_t k = 0; k < t->nins; k++) {
        const tape_ins *in = &t->ins[k];
        size_t len = in->level == GP_LV_SAMPLE ? ns : 1;
        double *d = V(w, k), *de = b ? E(w, k) : NULL;
        switch ((tape_op)in->op) {
        case TP_NUM:
            d[0] = t->cval[k];
            if (de)
                de[0] = t->cexact[k] ? 0 : RU(d[0]);
            break;
        case TP_PARAM:
            d[0] = params[in->aux];
            if (de)
                de[0] = 0;
            break;
        case TP_DATA:
            memcpy(d, data + (size_t)in->aux * ns, ns * sizeof *d);
            if (de)
                memset(de, 0, ns * sizeof *de);
            break;
        case TP_ADD:
            load(w, len, d, de, in->arg[0]);
            for (uint32_t j = 1; j < in->n; j++)
                add_to(w, len, d, de, in->arg[j]);
            break;
        case TP_MUL:
            load(w, len, d, de, in->arg[0]);
            for (uint32_t j = 1; j < in->n; j++)
                mul_to(w, len, d, de, in->arg[j]);
            break;
        case TP_LIN: {
            /* the first term, then the others; the plain addends last */
            double c = V(w, in->arg[0])[0];
            const double *x = V(w, in->arg[1]);
            for (size_t s = 0; s < len; s++)
                d[s] = c * x[s];
            if (de) {
                double ec = E(w, in->arg[0])[0];
                const double *ex = E(w, in->arg[1]);
                for (size_t s = 0; s < len; s++)
                    de[s] = ec * fabs(x[s]) + fabs(c) * ex[s] + RP(d[s], c, x[s]);
            }
            for (uint32_t j = 1; j < in->aux; j++)
                axpy_to(w, len, d, de, in->arg[2 * j], in->arg[2 * j + 1]);
            for (uint32_t j = 2 * in->aux; j < in->n; j++)
                add_to(w, len, d, de, in->arg[j]);
            break;
        }
        case TP_POW:
            fwd_pow(w, k, len, d, de);
            break;
        case TP_FN:
            fwd_fn(w, k, len, d, de);
            break;
        case TP_MEAN:
        case TP_SUMS: {
            uint32_t a = in->arg[0];
            double e = 0;
            if (ISVEC(w, a)) {
                d[0] = lanesum(V(w, a), ns, de ? E(w, a) : NULL, de ? &e : NULL);
            } else { /* a static argument: ns copies of it */
                d[0] = V(w, a)[0] * (double)ns;
                e = de ? E(w, a)[0] * (double)ns + RU(d[0]) : 0;
            }
            if (in->op == TP_MEAN) {
                d[0] /= (double)ns;
                e = e / (double)ns + RU(d[0]);
            }
            if (de)
                de[0] = e;
            break;
        }
        }
    }
}

double tape_dbl_value(const tape_dbl *w, size_t r, size_t s)
{
    uint32_t k = w->t->root[r];
    return V(w, k)[ISVEC(w, k) ? s : 0];
}

double tape_dbl_value_err(const tape_dbl *w, size_t r, size_t s)
{
    uint32_t k = w->t->root[r];
    return w->bounded ? E(w, k)[ISVEC(w, k) ? s : 0] : 0;
}

/* ---- double: the reverse sweep ---- */

/* adj(a) += g, where g has the length of the user's value: summed over the
   samples when a is a scalar used per sample.  ge: errors of g. */
static void give(tape_dbl *w, uint32_t a, size_t len, const double *g, const double *ge)
{
    if (!w->t->ins[a].active)
        return;
    double *aa = A(w, a);
    int full = len == 1 || ISVEC(w, a);
    if (!w->bounded) {
        if (full)
            for (size_t s = 0; s < len; s++)
                aa[s] += g[s];
        else
            aa[0] += lanesum(g, len, NULL, NULL);
        return;
    }
    double *ae = AE(w, a);
    if (full) {
        for (size_t s = 0; s < len; s++) {
            aa[s] += g[s];
            ae[s] += ge[s] + RS(aa[s]);
        }
    } else {
        double e, sum = lanesum(g, len, ge, &e);
        aa[0] += sum;
        ae[0] += e + RS(aa[0]);
    }
}

/* g = adj(k) * d for a local partial d[] with errors ed[] (in place in
   d/ed).  A zero adjoint gives zero whatever d is: an infinite partial
   (sqrt at 0) below a locally constant function (step) is no contribution,
   as in the derivative itself. */
static void scale_adj(const tape_dbl *w, size_t k, size_t len, double *d, double *ed)
{
    const double *ak = A(w, k);
    if (!w->bounded) {
        for (size_t s = 0; s < len; s++)
            d[s] = ak[s] == 0 ? 0 : d[s] * ak[s];
        return;
    }
    const double *aek = AE(w, k);
    for (size_t s = 0; s < len; s++) {
        if (ak[s] == 0 && aek[s] == 0) {
            d[s] = ed[s] = 0;
            continue;
        }
        double p = d[s] * ak[s];
        ed[s] = aek[s] * fabs(d[s]) + fabs(ak[s]) * ed[s] + RP(p, d[s], ak[s]);
        d[s] = p;
    }
}

/* d = the product of the operands of instruction k other than j (with errors) */
static void others(const tape_dbl *w, size_t k, uint32_t j, size_t len, double *d, double *ed)
{
    const tape_ins *in = &w->t->ins[k];
    int first = 1;
    for (uint32_t i = 0; i < in->n; i++) {
        if (i == j)
            continue;
        if (first) {
            load(w, len, d, ed, in->arg[i]);
            first = 0;
        } else {
            mul_to(w, len, d, ed, in->arg[i]);
        }
    }
}

static void rev_lin(tape_dbl *w, size_t k, size_t len)
{
    const tape_ins *in = &w->t->ins[k];
    const double *ak = A(w, k), *aek = w->bounded ? AE(w, k) : NULL;
    for (uint32_t j = 0; j < in->aux; j++) {
        uint32_t cs = in->arg[2 * j], xs = in->arg[2 * j + 1];
        const double *x = V(w, xs);
        if (w->t->ins[cs].active) {
            /* d/dc = x: a dot product over the samples */
            double *ac = A(w, cs);
            if (!w->bounded) {
                ac[0] += lanedot(x, ak, len, NULL, NULL, NULL);
            } else {
                double e, v = lanedot(x, ak, len, E(w, xs), aek, &e);
                ac[0] += v;
                AE(w, cs)[0] += e + RS(ac[0]);
            }
        }
        if (w->t->ins[xs].active) {
            /* d/dx = c: an axpy over the samples */
            double c = V(w, cs)[0];
            double *ax = A(w, xs);
            if (!w->bounded) {
                for (size_t s = 0; s < len; s++)
                    ax[s] += c * ak[s];
            } else {
                double ec = E(w, cs)[0];
                double *aex = AE(w, xs);
                for (size_t s = 0; s < len; s++) {
                    double p = c * ak[s];
                    ax[s] += p;
                    aex[s] += fabs(c) * aek[s] + ec * fabs(ak[s]) + RP(p, c, ak[s]) + RS(ax[s]);
                }
            }
        }
    }
    for (uint32_t j = 2 * in->aux; j < in->n; j++)
        give(w, in->arg[j], len, ak, aek);
}

static void rev_pow(tape_dbl *w, size_t k, size_t len)
{
    const tape *t = w->t;
    const tape_ins *in = &t->ins[k];
    uint32_t a = in->arg[0];
    const double *x = V(w, a), *v = V(w, k);
    double q = t->cval[k];
    double *d = w->g, *ed = w->ge;
    for (size_t s = 0; s < len; s++)
        d[s] = q == 2 ? 2 * x[s] : q == -1 ? -(v[s] * v[s]) : q * pow(x[s], q - 1);
    if (w->bounded) {
        const double *ex = E(w, a);
        for (size_t s = 0; s < len; s++) {
            double e = (q == 2 ? 1 : q == -1 ? 2 : ULPS_LIBM + 1) * RU(d[s]);
            if (ex[s] != 0)
                e += fabs(q * (q - 1) * pow(x[s], q - 2)) * ex[s];
            if (!t->cexact[k] && x[s] > 0)
                e += fabs(d[s] * log(x[s])) * RU(q) + fabs(pow(x[s], q - 1)) * RU(q);
            ed[s] = e;
        }
    }
    scale_adj(w, k, len, d, ed);
    give(w, a, len, d, ed);
}

static void rev_fn(tape_dbl *w, size_t k, size_t len)
{
    const tape_ins *in = &w->t->ins[k];
    gp_fn fn = (gp_fn)in->fn;
    if (fn == GP_FN_STEP || fn == GP_FN_SIGN)
        return; /* locally constant: nothing to pass down */
    uint32_t a = in->arg[0];
    const double *x = V(w, a), *v = V(w, k);
    double *d = w->g, *ed = w->ge;
    switch (fn) {
    case GP_FN_TANH:
        for (size_t s = 0; s < len; s++)
            d[s] = 1 - v[s] * v[s];
#ifdef GP_TAPE_MUTANT
        /* the planted bug of the gradproof_mutant build: tanh' with its sign
           flipped (tests/cli.sh requires `check` to catch it) */
        for (size_t s = 0; s < len; s++)
            d[s] = -d[s];
#endif
        break;
    case GP_FN_SIGMOID:
        for (size_t s = 0; s < len; s++)
            d[s] = v[s] * (1 - v[s]);
        break;
    default:
        for (size_t s = 0; s < len; s++)
            d[s] = dfn_d(fn, x[s], v[s]);
        break;
    }
    if (w->bounded) {
        const double *ex = E(w, a), *ev = E(w, k);
        for (size_t s = 0; s < len; s++)
            ed[s] = dfn_err(fn, x[s], v[s], d[s], ex[s], ev[s]);
    }
    scale_adj(w, k, len, d, ed);
    give(w, a, len, d, ed);
}

void tape_dbl_reverse(tape_dbl *w, size_t r, double *grad, double *bound)
{
    const tape *t = w->t;
    size_t ns = w->ns, total = t->nins ? w->off[t->nins - 1] + (ISVEC(w, t->nins - 1) ? ns : 1) : 0;
    memset(w->adj, 0, total * sizeof *w->adj);
    if (w->bounded)
        memset(w->aerr, 0, total * sizeof *w->aerr);
    uint32_t root = t->root[r];
    size_t rlen = ISVEC(w, root) ? ns : 1;
    for (size_t s = 0; s < rlen; s++)
        A(w, root)[s] = 1;
    for (size_t k = root + 1; k-- > 0;) {
        const tape_ins *in = &t->ins[k];
        if (!in->active)
            continue;
        size_t len = in->level == GP_LV_SAMPLE ? ns : 1;
        const double *ak = A(w, k), *aek = w->bounded ? AE(w, k) : NULL;
        switch ((tape_op)in->op) {
        case TP_NUM:
        case TP_PARAM:
        case TP_DATA:
            break;
        case TP_ADD:
            for (uint32_t j = 0; j < in->n; j++)
                give(w, in->arg[j], len, ak, aek);
            break;
        case TP_MUL:
            for (uint32_t j = 0; j < in->n; j++) {
                if (!t->ins[in->arg[j]].active)
                    continue;
                others(w, k, j, len, w->g, w->bounded ? w->ge : NULL);
                scale_adj(w, k, len, w->g, w->ge);
                give(w, in->arg[j], len, w->g, w->ge);
            }
            break;
        case TP_LIN:
            rev_lin(w, k, len);
            break;
        case TP_POW:
            rev_pow(w, k, len);
            break;
        case TP_FN:
            rev_fn(w, k, len);
            break;
        case TP_MEAN:
        case TP_SUMS: {
            uint32_t a = in->arg[0];
            size_t alen = ISVEC(w, a) ? ns : 1;
            double g = ak[0], eg = aek ? aek[0] : 0;
            if (in->op == TP_MEAN) {
                g /= (double)ns;
                eg = eg / (double)ns + RU(g);
            }
            if (alen == 1) { /* a static argument: ns copies */
                g *= (double)ns;
                eg = eg * (double)ns + RU(g);
            }
            for (size_t s = 0; s < alen; s++) {
                w->g[s] = g;
                w->ge[s] = eg;
            }
            give(w, a, alen, w->g, w->ge);
            break;
        }
        }
    }
    for (size_t i = 0; i < t->nparam; i++) {
        uint32_t s = t->pslot[i];
        grad[i] = s == TAPE_NONE || s > root ? 0 : A(w, s)[0];
        if (bound)
            bound[i] = s == TAPE_NONE || s > root || !w->bounded ? 0 : AE(w, s)[0];
    }
}

/* ---- MPFR ---- */

gp_status tape_mpfr_init(tape_mpfr *w, const tape *t, size_t ns, mpfr_prec_t prec)
{
    memset(w, 0, sizeof *w);
    w->t = t;
    w->ns = ns;
    w->prec = prec;
    size_t total = 0, maxn = 1;
    w->off = malloc((t->nins ? t->nins : 1) * sizeof *w->off);
    if (!w->off)
        goto fail;
    for (size_t k = 0; k < t->nins; k++) {
        w->off[k] = total;
        total += t->ins[k].level == GP_LV_SAMPLE ? ns : 1;
        if (t->ins[k].n > maxn)
            maxn = t->ins[k].n;
    }
    w->v = malloc((total ? total : 1) * sizeof *w->v);
    w->ptrs = malloc(maxn * sizeof *w->ptrs);
    if (!w->v || !w->ptrs)
        goto fail;
    for (; w->nv < total; w->nv++)
        mpfr_init2(w->v[w->nv], prec);
    mpfr_init2(w->w1, prec + EXTRA);
    mpfr_init2(w->w2, prec + EXTRA);
    mpfr_init2(w->acc, prec + EXTRA);
    w->wok = 1;
    return GP_OK;
fail:
    tape_mpfr_free(w);
    return GP_ENOMEM;
}

void tape_mpfr_free(tape_mpfr *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nv; i++)
        mpfr_clear(w->v[i]);
    if (w->wok) {
        mpfr_clear(w->w1);
        mpfr_clear(w->w2);
        mpfr_clear(w->acc);
    }
    free(w->v);
    free(w->off);
    free(w->ptrs);
    memset(w, 0, sizeof *w);
}

static mpfr_ptr MV(const tape_mpfr *w, uint32_t k, size_t s)
{
    return w->v[w->off[k] + (w->t->ins[k].level == GP_LV_SAMPLE ? s : 0)];
}

/* Instruction k at sample s (0 for scalars); returns the reason of a NaN
   or infinity when the operation knows one. */
static const char *mpfr_step(tape_mpfr *w, size_t k, size_t s, const mpfr_t *params, const mpfr_t *data,
                             signed char *kink)
{
    const tape *t = w->t;
    const tape_ins *in = &t->ins[k];
    mpfr_ptr r = MV(w, (uint32_t)k, s);
    switch ((tape_op)in->op) {
    case TP_NUM:
        mpfr_set_q(r, t->c->num[in->aux], MPFR_RNDN);
        return NULL;
    case TP_PARAM:
        mpfr_set(r, params[in->aux], MPFR_RNDN);
        return NULL;
    case TP_DATA:
        mpfr_set(r, data[(size_t)in->aux * w->ns + s], MPFR_RNDN);
        return NULL;
    case TP_ADD:
        for (uint32_t j = 0; j < in->n; j++)
            w->ptrs[j] = MV(w, in->arg[j], s);
        mpfr_sum(r, w->ptrs, in->n, MPFR_RNDN);
        return NULL;
    case TP_MUL:
        mpfr_set(w->acc, MV(w, in->arg[0], s), MPFR_RNDN);
        for (uint32_t j = 1; j < in->n; j++)
            mpfr_mul(w->acc, w->acc, MV(w, in->arg[j], s), MPFR_RNDN);
        mpfr_set(r, w->acc, MPFR_RNDN);
        return NULL;
    case TP_LIN:
        mpfr_set_zero(w->acc, 1);
        for (uint32_t j = 0; j < in->aux; j++)
            mpfr_fma(w->acc, MV(w, in->arg[2 * j], s), MV(w, in->arg[2 * j + 1], s), w->acc, MPFR_RNDN);
        for (uint32_t j = 2 * in->aux; j < in->n; j++)
            mpfr_add(w->acc, w->acc, MV(w, in->arg[j], s), MPFR_RNDN);
        mpfr_set(r, w->acc, MPFR_RNDN);
        return NULL;
    case TP_POW:
        return eval_mpfr_pow(r, MV(w, in->arg[0], s), t->c->num[in->aux], w->prec);
    case TP_FN: {
        mpfr_srcptr x = MV(w, in->arg[0], s);
        if (kink && is_kink((gp_fn)in->fn)) {
            /* a kink of params alone is one value: its sign holds for every sample */
            size_t from = in->level == GP_LV_SAMPLE ? s : 0, to = in->level == GP_LV_SAMPLE ? s + 1 : w->ns;
            for (size_t i = from; i < to; i++)
                kink[(size_t)in->aux * w->ns + i] = (signed char)mpfr_sgn(x);
        }
        return eval_mpfr_fn(r, (gp_fn)in->fn, x, w->w1, w->w2);
    }
    case TP_MEAN:
    case TP_SUMS: {
        uint32_t a = in->arg[0];
        if (w->ns == 0) {
            mpfr_set_nan(r);
            return "no samples";
        }
        mpfr_set_zero(w->acc, 1);
        for (size_t i = 0; i < w->ns; i++)
            mpfr_add(w->acc, w->acc, MV(w, a, i), MPFR_RNDN);
        if (in->op == TP_MEAN)
            mpfr_div_ui(w->acc, w->acc, (unsigned long)w->ns, MPFR_RNDN);
        mpfr_set(r, w->acc, MPFR_RNDN);
        return NULL;
    }
    }
    return NULL;
}

void tape_mpfr_forward(tape_mpfr *w, const mpfr_t *params, const mpfr_t *data,
                       signed char *kink, eval_fault *fault)
{
    tape_mpfr_forward_only(w, params, data, NULL, kink, fault);
}

void tape_depends(const tape *t, size_t p, uint8_t *dep)
{
    for (size_t k = 0; k < t->nins; k++) {
        const tape_ins *in = &t->ins[k];
        uint8_t d = in->op == TP_PARAM && in->aux == p;
        for (uint32_t j = 0; j < in->n && !d; j++)
            d = dep[in->arg[j]];
        dep[k] = d;
    }
}

void tape_mpfr_forward_only(tape_mpfr *w, const mpfr_t *params, const mpfr_t *data, const uint8_t *only,
                            signed char *kink, eval_fault *fault)
{
    const tape *t = w->t;
    mpfr_flags_t saved = mpfr_flags_save();
    if (fault)
        *fault = (eval_fault){.node = GP_NIL, .what = NULL, .sample = -1};
    int bad = 0;
    for (size_t k = 0; k < t->nins; k++) {
        const tape_ins *in = &t->ins[k];
        if (only && !only[k])
            continue;
        size_t len = in->level == GP_LV_SAMPLE ? w->ns : 1;
        for (size_t s = 0; s < len; s++) {
            mpfr_clear_flags();
            const char *why = mpfr_step(w, k, s, params, data, kink);
            if (bad || !fault)
                continue;
            mpfr_srcptr r = MV(w, (uint32_t)k, s);
            const char *what = NULL;
            if (mpfr_nan_p(r) || mpfr_inf_p(r))
                what = why ? why : mpfr_overflow_p() ? "overflow" : mpfr_nan_p(r) ? "not a number" : "infinite value";
            else if (mpfr_underflow_p() && (mpfr_zero_p(r) || mpfr_get_exp(r) <= mpfr_get_emin()))
                what = "underflow";
            if (what) {
                bad = 1;
                gp_id node = in->node;
                *fault = (eval_fault){.node = node == GP_NIL ? t->ins[in->arg[0]].node : node, .what = what,
                                      .sample = in->level == GP_LV_SAMPLE ? (long)s : -1};
            }
        }
    }
    mpfr_flags_restore(saved, MPFR_FLAGS_ALL);
}

mpfr_srcptr tape_mpfr_value(const tape_mpfr *w, size_t r, size_t s)
{
    return MV(w, w->t->root[r], s);
}

/* ---- exact ---- */

gp_status tape_q_forward(mpq_t *out, const tape *t, size_t ns, const mpq_t *params,
                         const mpq_t *data, long sample, int *ok)
{
    if (!t->rational)
        return GP_EINTERNAL;
    size_t total = 0;
    size_t *off = malloc((t->nins ? t->nins : 1) * sizeof *off);
    if (!off)
        return GP_ENOMEM;
    for (size_t k = 0; k < t->nins; k++) {
        off[k] = total;
        total += t->ins[k].level == GP_LV_SAMPLE ? ns : 1;
    }
    mpq_t *v = malloc((total ? total : 1) * sizeof *v);
    if (!v) {
        free(off);
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < total; i++)
        mpq_init(v[i]);
    mpq_t tmp;
    mpq_init(tmp);
#define QV(k, s) v[off[k] + (t->ins[k].level == GP_LV_SAMPLE ? (s) : 0)]
    *ok = 1;
    for (size_t k = 0; k < t->nins && *ok == 1; k++) {
        const tape_ins *in = &t->ins[k];
        size_t len = in->level == GP_LV_SAMPLE ? ns : 1;
        for (size_t s = 0; s < len && *ok == 1; s++) {
            mpq_ptr r = QV(k, s);
            switch ((tape_op)in->op) {
            case TP_NUM: mpq_set(r, t->c->num[in->aux]); break;
            case TP_PARAM: mpq_set(r, params[in->aux]); break;
            case TP_DATA: mpq_set(r, data[(size_t)in->aux * ns + s]); break;
            case TP_ADD:
                mpq_set(r, QV(in->arg[0], s));
                for (uint32_t j = 1; j < in->n; j++)
                    mpq_add(r, r, QV(in->arg[j], s));
                break;
            case TP_MUL:
                mpq_set(r, QV(in->arg[0], s));
                for (uint32_t j = 1; j < in->n; j++)
                    mpq_mul(r, r, QV(in->arg[j], s));
                break;
            case TP_LIN:
                mpq_set_ui(r, 0, 1);
                for (uint32_t j = 0; j < in->aux; j++) {
                    mpq_mul(tmp, QV(in->arg[2 * j], s), QV(in->arg[2 * j + 1], s));
                    mpq_add(r, r, tmp);
                }
                for (uint32_t j = 2 * in->aux; j < in->n; j++)
                    mpq_add(r, r, QV(in->arg[j], s));
                break;
            case TP_POW: {
                mpq_srcptr e = t->c->num[in->aux];
                mpq_srcptr b = QV(in->arg[0], s);
                if (!mpz_fits_slong_p(mpq_numref(e)) || labs(mpz_get_si(mpq_numref(e))) > TAPE_Q_POW_MAX) {
                    *ok = -1;
                    break;
                }
                long p = mpz_get_si(mpq_numref(e));
                if (p < 0 && mpq_sgn(b) == 0) {
                    *ok = 0;
                    break;
                }
                unsigned long m = (unsigned long)labs(p);
                mpz_pow_ui(mpq_numref(tmp), mpq_numref(b), m);
                mpz_pow_ui(mpq_denref(tmp), mpq_denref(b), m);
                if (p < 0)
                    mpq_inv(r, tmp);
                else
                    mpq_set(r, tmp);
                break;
            }
            case TP_FN:
                *ok = -1; /* not reached: the tape is rational */
                break;
            case TP_MEAN:
            case TP_SUMS:
                if (ns == 0) {
                    *ok = 0;
                    break;
                }
                mpq_set_ui(r, 0, 1);
                if (t->ins[in->arg[0]].level == GP_LV_SAMPLE) {
                    for (size_t i = 0; i < ns; i++)
                        mpq_add(r, r, QV(in->arg[0], i));
                } else {
                    mpq_set_ui(tmp, (unsigned long)ns, 1);
                    mpq_mul(r, QV(in->arg[0], 0), tmp);
                }
                if (in->op == TP_MEAN) {
                    mpq_set_ui(tmp, (unsigned long)ns, 1);
                    mpq_div(r, r, tmp);
                }
                break;
            }
        }
    }
    if (*ok == 1)
        for (size_t r = 0; r < t->nroot; r++)
            mpq_set(out[r], QV(t->root[r], sample < 0 ? 0 : (size_t)sample));
#undef QV
    mpq_clear(tmp);
    for (size_t i = 0; i < total; i++)
        mpq_clear(v[i]);
    free(v);
    free(off);
    return GP_OK;
}

/* ---- modulo a prime ---- */

gp_status tape_nmod_init(tape_nmod *w, const tape *t, size_t ns, mp_limb_t p)
{
    memset(w, 0, sizeof *w);
    if (!t->rational)
        return GP_EINTERNAL;
    w->t = t;
    w->ns = ns;
    nmod_init(&w->mod, p);
    size_t n = t->nins ? t->nins : 1, total = 0;
    w->off = malloc(n * sizeof *w->off);
    w->cnum = calloc(n, sizeof *w->cnum);
    if (!w->off || !w->cnum) {
        tape_nmod_free(w);
        return GP_ENOMEM;
    }
    for (size_t k = 0; k < t->nins; k++) {
        w->off[k] = total;
        total += t->ins[k].level == GP_LV_SAMPLE ? ns : 1;
    }
    w->v = malloc((total ? total : 1) * sizeof *w->v);
    if (!w->v) {
        tape_nmod_free(w);
        return GP_ENOMEM;
    }
    for (size_t k = 0; k < t->nins; k++) {
        if (t->ins[k].op != TP_NUM)
            continue;
        mpq_srcptr q = t->c->num[t->ins[k].aux];
        mp_limb_t d = mpz_fdiv_ui(mpq_denref(q), p);
        if (d == 0) {
            tape_nmod_free(w);
            return GP_EINPUT;
        }
        w->cnum[k] = nmod_mul(mpz_fdiv_ui(mpq_numref(q), p), n_invmod(d, p), w->mod);
    }
    return GP_OK;
}

void tape_nmod_free(tape_nmod *w)
{
    free(w->off);
    free(w->cnum);
    free(w->v);
    memset(w, 0, sizeof *w);
}

int tape_nmod_forward(tape_nmod *w, const mp_limb_t *params, const mp_limb_t *data)
{
    const tape *t = w->t;
    size_t ns = w->ns;
    nmod_t m = w->mod;
#define NV(k, s) w->v[w->off[k] + (t->ins[k].level == GP_LV_SAMPLE ? (s) : 0)]
    for (size_t k = 0; k < t->nins; k++) {
        const tape_ins *in = &t->ins[k];
        size_t len = in->level == GP_LV_SAMPLE ? ns : 1;
        mp_limb_t *r = &w->v[w->off[k]];
        switch ((tape_op)in->op) {
        case TP_NUM: r[0] = w->cnum[k]; break;
        case TP_PARAM: r[0] = params[in->aux]; break;
        case TP_DATA:
            for (size_t s = 0; s < len; s++)
                r[s] = data[(size_t)in->aux * ns + s];
            break;
        case TP_ADD:
        case TP_MUL:
            for (size_t s = 0; s < len; s++) {
                mp_limb_t a = NV(in->arg[0], s);
                for (uint32_t j = 1; j < in->n; j++)
                    a = in->op == TP_ADD ? nmod_add(a, NV(in->arg[j], s), m) : nmod_mul(a, NV(in->arg[j], s), m);
                r[s] = a;
            }
            break;
        case TP_LIN:
            for (size_t s = 0; s < len; s++) {
                mp_limb_t a = 0;
                for (uint32_t j = 0; j < in->aux; j++)
                    a = nmod_add(a, nmod_mul(NV(in->arg[2 * j], s), NV(in->arg[2 * j + 1], s), m), m);
                for (uint32_t j = 2 * in->aux; j < in->n; j++)
                    a = nmod_add(a, NV(in->arg[j], s), m);
                r[s] = a;
            }
            break;
        case TP_POW: {
            mpq_srcptr e = t->c->num[in->aux];
            /* b^e = b^(e mod (p-1)) for b != 0 (Fermat); 0^e = 0 for e > 0 */
            mp_limb_t em = mpz_fdiv_ui(mpq_numref(e), m.n - 1);
            int neg = mpz_sgn(mpq_numref(e)) < 0;
            for (size_t s = 0; s < len; s++) {
                mp_limb_t b = NV(in->arg[0], s);
                if (b == 0) {
                    if (neg)
                        return 0;
                    r[s] = mpz_sgn(mpq_numref(e)) == 0 ? 1 : 0;
                } else {
                    r[s] = nmod_pow_ui(b, em, m);
                }
            }
            break;
        }
        case TP_FN: return 0; /* not reached: the tape is rational */
        case TP_MEAN:
        case TP_SUMS: {
            mp_limb_t a = 0;
            if (t->ins[in->arg[0]].level == GP_LV_SAMPLE) {
                for (size_t i = 0; i < ns; i++)
                    a = nmod_add(a, NV(in->arg[0], i), m);
            } else {
                a = nmod_mul(NV(in->arg[0], 0), ns % m.n, m);
            }
            if (in->op == TP_MEAN) {
                mp_limb_t d = ns % m.n;
                if (d == 0)
                    return 0;
                a = nmod_mul(a, n_invmod(d, m.n), m);
            }
            r[0] = a;
            break;
        }
        }
    }
#undef NV
    return 1;
}

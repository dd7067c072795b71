/*
 * algebra.c -- the DAG as exact rational functions over Q (FLINT fmpq_mpoly).
 *
 * algebra_expand_print() turns one node into a quotient N/D of polynomials
 * and writes it in a canonical, readable form.  The conversion is one loop
 * over the ids of the node's cone in increasing order (children first, so no
 * recursion), keeping one reduced quotient per node; a child's quotient is
 * cleared as soon as its last parent in the cone has used it.
 *
 * Variables are the params, inputs and targets of the cone (a named constant
 * is replaced by its exact value) and "moment symbols" for sample
 * reductions.  The mean of a polynomial e is split by linearity: each
 * monomial of e is (static part: params, constants, moments) times
 * (per-sample part: inputs, targets), and mean(per-sample monomial) becomes a
 * variable of its own; mean(1) is 1 and sum(1) is the variable "sum(1)", the
 * number of samples.  When e = N/D has a denominator without per-sample
 * variables, mean(N/D) = mean(N)/D.  When D depends on the samples only,
 * mean(N/D) is split by the monomials of N into static parts times moments
 * mean(p/D); when D mixes static and per-sample variables the whole
 * mean(N/D) is one moment.  Equal moments (same reduction, same reduced
 * quantity) are one variable, found through a hash table.
 *
 * Moments are created while the loop runs, so the working FLINT context
 * grows: when it runs out of variables a context with twice as many is made
 * and every live polynomial is carried over by composing with the identity
 * map.  Variable indices never change, and new variables come last in a lex
 * order, so the term order of a carried-over polynomial does not change.
 *
 * The canonical form, which the printed text guarantees:
 *  - variable order: params in declaration order, then constants without a
 *    value, inputs, targets (each in declaration order), then moments:
 *    of monomials (each placed like its monomial: higher degree first, then
 *    lexicographically), of quotients (compared term by term), and last
 *    of quotients that contain other moments (in order of first
 *    appearance); mean before sum within each group.  The working context
 *    numbers the leaves in this order too, so each normalisation made
 *    while converting depends on the value only, not on the DAG's shape;
 *  - term order: degree-lexicographic in that variable order, higher total
 *    degree first (a moment counts as degree 1);
 *  - a quotient is reduced by the gcd of numerator and denominator; a
 *    polynomial has denominator 1 (and rational coefficients); otherwise
 *    numerator and denominator have integer coefficients with no common
 *    factor, and the leading term of the denominator, in that order, is
 *    positive: 1/(2w), −1/(a − b), 3x/(2a + 2).  (While converting, the
 *    denominators are kept monic instead, the cheaper rule with FLINT.)
 *  - a coefficient is an exact rational: text 3x₁y/2, LaTeX
 *    \frac{3}{2} x_{1} y, case 3/2*x1*y; a quotient is N/D with parentheses
 *    where needed in text, \frac{N}{D} in LaTeX, (N)/(D) in case syntax.
 *
 * Ownership: every FLINT object lives in the `alg` state and alg_free()
 * clears all of them, on success and on every error path.  The DAG is only
 * read: no node is interned.
 */
#include "algebra.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* FLINT 2.9's headers are not clean under our warnings (old-style
   prototypes, unused parameters); they are not ours to fix. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <fmpq.h>
#include <fmpq_mpoly.h>
#include <fmpz.h>
#pragma GCC diagnostic pop

#define ALG_MAX_BYTES ((size_t)64 << 20) /* printed size, as render.c's unexpanded fallback */
#define ALG_MAX_POW 65535u               /* larger powers only of a monomial with coefficient ±1 */

/* A quotient num/den, reduced: gcd 1; den monic in the working context,
   integral (rf_canon) in the display context; 1 for a polynomial. */
typedef struct rf {
    fmpq_mpoly_t num; /* numerator */
    fmpq_mpoly_t den; /* denominator */
} rf;

/* A moment symbol: the sample reduction of a per-sample quantity. */
typedef struct moment {
    gp_op op;      /* GP_OP_MEAN or GP_OP_SUMS */
    int opaque;    /* 0: a monomial (den 1); 1: a quotient */
    int nested;    /* q contains other moments */
    uint32_t hash; /* of (op, opaque, q); unchanged when the context grows */
    rf q;          /* the reduced quantity, in the working context */
    int used;      /* final stage: occurs in the result */
    int fq_live;   /* final stage: fq initialised */
    rf fq;         /* final stage: q in the display context */
} moment;

/* Display of one variable of the final context. */
typedef struct fvar {
    char *s;       /* its text (malloc) */
    int shortname; /* text: a one-letter name, juxtaposed with its neighbours */
} fvar;

typedef struct alg {
    gp_ctx *c;
    gp_status st;            /* first failure; GP_OK while all is well */
    pr_syntax syn;
    /* the cone of the root, one slot per node */
    gp_id root;
    size_t nroots;           /* 0: the one root above; else the cone of roots[], root = the largest */
    const gp_id *roots;      /* kept alive to the end (algebra_lincomb_is_zero) */
    unsigned char *mark;     /* [c->nnode]: in the cone */
    uint32_t *slot;          /* [root + 1]: slot of a cone node */
    uint32_t *uses;          /* [nslot]: parents in the cone not yet converted */
    rf *val;                 /* [nslot]: the node as a quotient */
    unsigned char *live;     /* [nslot]: val initialised */
    size_t nslot;
    /* variables of the working context */
    slong nlv;               /* leaf variables are 0 .. nlv-1 */
    uint32_t *lvleaf;        /* [nlv]: the leaf index of each */
    slong *leafvar;          /* [c->nleaf]: variable of a leaf, -1 for none */
    slong capmom;            /* moment variables nlv .. nlv+capmom-1 exist */
    fmpq_mpoly_ctx_t wctx;   /* lex order, nlv + capmom variables */
    int wlive;
    moment *mom;             /* moments; mom[k] is variable nlv + k */
    size_t nmom, capm;
    uint32_t *mtab;          /* open-addressing table of moment index + 1 */
    size_t mtcap;            /* a power of two, or 0 */
    /* scratch exponent vector, big enough for either context */
    fmpz *ex;
    fmpz **exp;
    slong nex;
    fmpq_t q1;               /* scratch coefficient */
    /* the final, display context */
    fmpq_mpoly_ctx_t fctx;   /* deglex, the used variables in display order */
    int flive;
    slong nfv;
    slong *fw;               /* [nfv]: the working variable of each */
    fvar *fv;                /* [nfv] */
    rf fres;                 /* the result in fctx */
    int fres_live;
} alg;

/* ---- failures ---- */

static void fail(alg *a, gp_status st)
{
    if (a->st == GP_OK)
        a->st = st;
}

/* The one diagnostic of the term limit; 0 when p is within it. */
static int over_limit(alg *a, const fmpq_mpoly_t p, const fmpq_mpoly_ctx_t ctx)
{
    if ((size_t)fmpq_mpoly_length(p, ctx) <= a->c->lim.max_expand_terms)
        return 0;
    if (a->st == GP_OK) {
        diag_error(a->c, -1, 0, 0, "the expanded form has more terms than the limit of %zu (raise it with --max-expand-terms)",
                   a->c->lim.max_expand_terms);
        a->st = GP_ELIMIT;
    }
    return 1;
}

static int rf_over(alg *a, const rf *r)
{
    return over_limit(a, r->num, a->wctx) || over_limit(a, r->den, a->wctx);
}

/* ---- scratch ---- */

static int scratch_need(alg *a, slong n)
{
    if (n <= a->nex)
        return 1;
    fmpz *ex = flint_calloc((size_t)n, sizeof *ex); /* zeroed fmpz are initialised zeros */
    fmpz **exp = flint_malloc((size_t)n * sizeof *exp);
    for (slong i = 0; i < a->nex; i++)
        fmpz_clear(a->ex + i);
    flint_free(a->ex);
    flint_free(a->exp);
    a->ex = ex;
    a->exp = exp;
    a->nex = n;
    for (slong i = 0; i < n; i++)
        exp[i] = ex + i;
    return 1;
}

static slong wvars(const alg *a) { return a->nlv + a->capmom; }

/* ---- variables ---- */

static int is_persample(const alg *a, slong v)
{
    if (v >= a->nlv)
        return 0; /* a moment is the same for every sample */
    gp_leaf_kind k = a->c->leaf[a->lvleaf[v]].kind;
    return k == GP_LEAF_INPUT || k == GP_LEAF_TARGET;
}

/* ---- quotients ---- */

static void rf_init(rf *r, const fmpq_mpoly_ctx_t ctx)
{
    fmpq_mpoly_init(r->num, ctx);
    fmpq_mpoly_init(r->den, ctx);
    fmpq_mpoly_one(r->den, ctx);
}

static void rf_clear(rf *r, const fmpq_mpoly_ctx_t ctx)
{
    fmpq_mpoly_clear(r->num, ctx);
    fmpq_mpoly_clear(r->den, ctx);
}

/* Make the denominator monic (leading coefficient 1 in the order of ctx). */
static void rf_monic(alg *a, rf *r, const fmpq_mpoly_ctx_t ctx)
{
    if (fmpq_mpoly_is_one(r->den, ctx))
        return;
    fmpq_mpoly_get_term_coeff_fmpq(a->q1, r->den, 0, ctx);
    if (fmpq_is_one(a->q1))
        return;
    fmpq_mpoly_scalar_div_fmpq(r->num, r->num, a->q1, ctx);
    fmpq_mpoly_scalar_div_fmpq(r->den, r->den, a->q1, ctx);
}

/* The display form of a reduced quotient (in the final context): unless
   den is 1, num and den get integer coefficients with no common factor and
   den a positive leading coefficient.  FLINT keeps p = content * zpoly with
   zpoly primitive and of positive leading coefficient, so with
   cn/cd = u/v in lowest terms (v > 0), num/den = (u * znum)/(v * zden):
   scaling both by v/cd gives exactly that. */
static void rf_canon(alg *a, rf *r)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    if (fmpq_mpoly_is_one(r->den, ctx))
        return;
    fmpq_t s;
    fmpz_t v;
    fmpq_init(s);
    fmpz_init(v);
    fmpq_div(s, fmpq_mpoly_content_ref(r->num, ctx), fmpq_mpoly_content_ref(r->den, ctx));
    fmpz_set(v, fmpq_denref(s));
    fmpq_div_fmpz(s, fmpq_mpoly_content_ref(r->den, ctx), v); /* s = cd/v */
    fmpq_mpoly_scalar_div_fmpq(r->num, r->num, s, ctx);
    fmpq_mpoly_scalar_div_fmpq(r->den, r->den, s, ctx);
    fmpz_clear(v);
    fmpq_clear(s);
}

/* Reduce r by gcd(num, den) and make den monic.  A zero denominator is a
   division by zero: not a rational function, GP_EINPUT. */
static void rf_reduce(alg *a, rf *r)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    if (fmpq_mpoly_is_zero(r->den, ctx)) {
        fail(a, GP_EINPUT);
        return;
    }
    if (fmpq_mpoly_is_zero(r->num, ctx)) {
        fmpq_mpoly_one(r->den, ctx);
        return;
    }
    if (fmpq_mpoly_is_fmpq(r->den, ctx)) {
        fmpq_mpoly_get_term_coeff_fmpq(a->q1, r->den, 0, ctx);
        fmpq_mpoly_scalar_div_fmpq(r->num, r->num, a->q1, ctx);
        fmpq_mpoly_one(r->den, ctx);
        return;
    }
    fmpq_mpoly_t g;
    fmpq_mpoly_init(g, ctx);
    if (!fmpq_mpoly_gcd(g, r->num, r->den, ctx)) {
        diag_error(a->c, -1, 0, 0, "the expanded form is too large for an exact gcd");
        fail(a, GP_ELIMIT);
    } else if (!fmpq_mpoly_is_one(g, ctx)) {
        /* exact divisions: g divides both */
        fmpq_mpoly_divides(r->num, r->num, g, ctx);
        fmpq_mpoly_divides(r->den, r->den, g, ctx);
    }
    fmpq_mpoly_clear(g, ctx);
    rf_monic(a, r, ctx);
}

/* s += k, both reduced; s is left unreduced (the caller reduces once). */
static void rf_add_to(alg *a, rf *s, const rf *k)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    if (fmpq_mpoly_equal(s->den, k->den, ctx)) {
        fmpq_mpoly_add(s->num, s->num, k->num, ctx);
        over_limit(a, s->num, ctx);
        return;
    }
    /* n1/d1 + n2/d2 = (n1*(d2/g) + n2*(d1/g)) / (d1*(d2/g)), g = gcd(d1, d2) */
    fmpq_mpoly_t g, sb, kb, t;
    fmpq_mpoly_init(g, ctx);
    fmpq_mpoly_init(sb, ctx);
    fmpq_mpoly_init(kb, ctx);
    fmpq_mpoly_init(t, ctx);
    if (!fmpq_mpoly_gcd_cofactors(g, sb, kb, s->den, k->den, ctx)) {
        diag_error(a->c, -1, 0, 0, "the expanded form is too large for an exact gcd");
        fail(a, GP_ELIMIT);
    } else {
        fmpq_mpoly_mul(s->num, s->num, kb, ctx);
        if (!over_limit(a, s->num, ctx)) {
            fmpq_mpoly_mul(t, k->num, sb, ctx);
            if (!over_limit(a, t, ctx)) {
                fmpq_mpoly_add(s->num, s->num, t, ctx);
                fmpq_mpoly_mul(s->den, s->den, kb, ctx);
                if (!over_limit(a, s->num, ctx))
                    over_limit(a, s->den, ctx);
            }
        }
    }
    fmpq_mpoly_clear(g, ctx);
    fmpq_mpoly_clear(sb, ctx);
    fmpq_mpoly_clear(kb, ctx);
    fmpq_mpoly_clear(t, ctx);
}

/* p = b^k for k >= 1, checking the term limit after every product. */
static void poly_pow(alg *a, fmpq_mpoly_t p, const fmpq_mpoly_t b, const fmpz_t k)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    slong len = fmpq_mpoly_length(b, ctx);
    if (len <= 1) {
        /* a monomial stays one term; only its coefficient can grow */
        int unit = 1;
        if (len == 1) {
            fmpq_mpoly_get_term_coeff_fmpq(a->q1, b, 0, ctx);
            unit = fmpq_is_pm1(a->q1);
        }
        if (unit || fmpz_cmp_ui(k, ALG_MAX_POW) <= 0) {
            if (!fmpq_mpoly_pow_fmpz(p, b, k, ctx)) {
                diag_error(a->c, -1, 0, 0, "the expanded form has an exponent too large to represent");
                fail(a, GP_ELIMIT);
            }
            return;
        }
    }
    if (fmpz_cmp_ui(k, ALG_MAX_POW) > 0) {
        char *s = fmpz_get_str(NULL, 10, k);
        diag_error(a->c, -1, 0, 0, "the expanded form needs a power %s of a sum or a number: too large to expand", s);
        flint_free(s);
        fail(a, GP_ELIMIT);
        return;
    }
    ulong e = fmpz_get_ui(k);
    fmpq_mpoly_t sq;
    fmpq_mpoly_init(sq, ctx);
    fmpq_mpoly_set(sq, b, ctx);
    fmpq_mpoly_one(p, ctx);
    /* right-to-left binary powering: p *= sq for each set bit, sq squared */
    while (a->st == GP_OK) {
        if (e & 1) {
            fmpq_mpoly_mul(p, p, sq, ctx);
            if (over_limit(a, p, ctx))
                break;
        }
        e >>= 1;
        if (!e)
            break;
        fmpq_mpoly_mul(sq, sq, sq, ctx);
        over_limit(a, sq, ctx);
    }
    fmpq_mpoly_clear(sq, ctx);
}

/* ---- the working context and its growth ---- */

/* Carry p from context `from` into context `to` (to has the variables of
   from, and maybe more, at the same indices). */
static void carry(fmpq_mpoly_t p, const slong *map, const fmpq_mpoly_ctx_t from, const fmpq_mpoly_ctx_t to)
{
    fmpq_mpoly_t t;
    fmpq_mpoly_init(t, to);
    fmpq_mpoly_compose_fmpq_mpoly_gen(t, p, map, from, to);
    fmpq_mpoly_clear(p, from);
    *p = *t; /* the struct moves; its storage is now p's */
}

/* Make room for `need` moment variables. */
static int grow(alg *a, size_t need)
{
    if ((slong)need <= a->capmom)
        return 1;
    slong cap = a->capmom * 2 > (slong)need ? a->capmom * 2 : (slong)need;
    slong oldn = wvars(a);
    slong *map = malloc((size_t)oldn * sizeof *map);
    if (!map) {
        fail(a, GP_ENOMEM);
        return 0;
    }
    for (slong i = 0; i < oldn; i++)
        map[i] = i;
    fmpq_mpoly_ctx_t nctx;
    fmpq_mpoly_ctx_init(nctx, a->nlv + cap, ORD_LEX);
    for (size_t s = 0; s < a->nslot; s++)
        if (a->live[s]) {
            carry(a->val[s].num, map, a->wctx, nctx);
            carry(a->val[s].den, map, a->wctx, nctx);
        }
    for (size_t k = 0; k < a->nmom; k++) {
        carry(a->mom[k].q.num, map, a->wctx, nctx);
        carry(a->mom[k].q.den, map, a->wctx, nctx);
    }
    fmpq_mpoly_ctx_clear(a->wctx);
    *a->wctx = *nctx;
    a->capmom = cap;
    free(map);
    return scratch_need(a, wvars(a));
}

/* ---- moments ---- */

static uint32_t mix(uint32_t h, uint32_t v) { return h ^ (v + 0x9e3779b9u + (h << 6) + (h >> 2)); }

/* A hash of p that ignores the number of variables of the context. */
static uint32_t poly_hash(alg *a, const fmpq_mpoly_t p, uint32_t h)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    slong len = fmpq_mpoly_length(p, ctx), nv = wvars(a);
    h = mix(h, (uint32_t)len);
    for (slong i = 0; i < len; i++) {
        fmpq_mpoly_get_term_coeff_fmpq(a->q1, p, i, ctx);
        h = mix(h, (uint32_t)fmpz_fdiv_ui(fmpq_numref(a->q1), 2147483647u));
        h = mix(h, (uint32_t)fmpz_fdiv_ui(fmpq_denref(a->q1), 2147483647u));
        fmpq_mpoly_get_term_exp_fmpz(a->exp, p, i, ctx);
        for (slong v = 0; v < nv; v++)
            if (!fmpz_is_zero(a->ex + v)) {
                h = mix(h, (uint32_t)v);
                h = mix(h, (uint32_t)fmpz_fdiv_ui(a->ex + v, 2147483647u));
            }
    }
    return h;
}

static int mtab_grow(alg *a)
{
    size_t cap = a->mtcap ? a->mtcap * 2 : 64;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return 0;
    for (size_t k = 0; k < a->nmom; k++) {
        size_t i = a->mom[k].hash & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = (uint32_t)k + 1;
    }
    free(a->mtab);
    a->mtab = t;
    a->mtcap = cap;
    return 1;
}

/* Does q contain a moment variable? */
static int uses_moments(alg *a, const rf *q)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    const fmpq_mpoly_struct *p[2] = {q->num, q->den};
    for (int k = 0; k < 2; k++)
        for (slong i = 0; i < fmpq_mpoly_length(p[k], ctx); i++) {
            fmpq_mpoly_get_term_exp_fmpz(a->exp, p[k], i, ctx);
            for (slong v = a->nlv; v < wvars(a); v++)
                if (!fmpz_is_zero(a->ex + v))
                    return 1;
        }
    return 0;
}

/* The variable of the moment op(q); created when new (its variable may lie
   beyond the context until grow() is called).  -1 on failure. */
static slong moment_get(alg *a, gp_op op, int opaque, const rf *q)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    uint32_t h = mix(mix(17u, (uint32_t)op), (uint32_t)opaque);
    h = poly_hash(a, q->den, poly_hash(a, q->num, h));
    if ((a->nmom + 1) * 2 > a->mtcap && !mtab_grow(a)) {
        fail(a, GP_ENOMEM);
        return -1;
    }
    size_t i = h & (a->mtcap - 1);
    for (; a->mtab[i]; i = (i + 1) & (a->mtcap - 1)) {
        moment *m = &a->mom[a->mtab[i] - 1];
        if (m->hash == h && m->op == op && m->opaque == opaque && fmpq_mpoly_equal(m->q.num, q->num, ctx) &&
            fmpq_mpoly_equal(m->q.den, q->den, ctx))
            return a->nlv + (slong)(a->mtab[i] - 1);
    }
    if (a->nmom >= (size_t)INT32_MAX || !ctx_grow((void **)&a->mom, &a->capm, a->nmom + 1, sizeof *a->mom)) {
        fail(a, GP_ENOMEM);
        return -1;
    }
    moment *m = &a->mom[a->nmom];
    memset(m, 0, sizeof *m);
    m->op = op;
    m->opaque = opaque;
    m->hash = h;
    m->nested = uses_moments(a, q);
    rf_init(&m->q, ctx);
    fmpq_mpoly_set(m->q.num, q->num, ctx);
    fmpq_mpoly_set(m->q.den, q->den, ctx);
    a->mtab[i] = (uint32_t)++a->nmom;
    return a->nlv + (slong)(a->nmom - 1);
}

/* Does p use a per-sample variable (want 1) or a static one (want 0)? */
static int uses_kind(alg *a, const fmpq_mpoly_t p, int want, int *used)
{
    fmpq_mpoly_used_vars(used, p, a->wctx);
    for (slong v = 0; v < wvars(a); v++)
        if (used[v] && is_persample(a, v) == want)
            return 1;
    return 0;
}

/* Pull the leading coefficient out of a moment's numerator into `scale`,
   so that mean(q/2) and mean(q) are one symbol: mean(c*q) = c*mean(q). */
static void moment_scale(alg *a, rf *q, fmpq_t scale)
{
    if (fmpq_mpoly_is_zero(q->num, a->wctx)) {
        fmpq_one(scale);
        return;
    }
    fmpq_mpoly_get_term_coeff_fmpq(scale, q->num, 0, a->wctx);
    fmpq_mpoly_scalar_div_fmpq(q->num, q->num, scale, a->wctx);
}

/* r = op(e), e reduced; see the comment at the top for the three cases. */
static void reduce_samples(alg *a, rf *r, gp_op op, rf *e)
{
    enum { LINEAR, SPLIT, WHOLE } mode = LINEAR;
    int *used = malloc((size_t)wvars(a) * sizeof *used);
    slong len = fmpq_mpoly_length(e->num, a->wctx);
    slong *tv = malloc((size_t)(len ? len : 1) * sizeof *tv);
    if (!used || !tv) {
        free(used);
        free(tv);
        fail(a, GP_ENOMEM);
        return;
    }
    if (!fmpq_mpoly_is_one(e->den, a->wctx) && uses_kind(a, e->den, 1, used))
        mode = uses_kind(a, e->den, 0, used) ? WHOLE : SPLIT;
    free(used);
    fmpq *scale = _fmpq_vec_init(len ? len : 1);
    rf p;
    rf_init(&p, a->wctx);
    int plive = 1;
    if (mode == WHOLE) {
        /* mean(N/D) = c * mean((N/c)/D), kept whole */
        fmpq_mpoly_set(p.num, e->num, a->wctx);
        fmpq_mpoly_set(p.den, e->den, a->wctx);
        moment_scale(a, &p, scale);
        slong v = moment_get(a, op, 1, &p);
        rf_clear(&p, a->wctx); /* before grow(): p is not carried over */
        plive = 0;
        if (v >= 0 && grow(a, a->nmom)) {
            fmpq_mpoly_gen(r->num, v, a->wctx);
            fmpq_mpoly_scalar_mul_fmpq(r->num, r->num, scale, a->wctx);
            fmpq_mpoly_one(r->den, a->wctx);
        }
        goto done;
    }
    /* pass 1: the moment of each term's per-sample part (new ones created) */
    for (slong i = 0; i < len && a->st == GP_OK; i++) {
        const fmpq_mpoly_ctx_struct *ctx = a->wctx;
        fmpq_mpoly_get_term_exp_fmpz(a->exp, e->num, i, ctx);
        int ps = 0;
        for (slong v = 0; v < wvars(a); v++) {
            if (!is_persample(a, v))
                fmpz_zero(a->ex + v);
            else if (!fmpz_is_zero(a->ex + v))
                ps = 1;
        }
        fmpq_one(scale + i);
        if (mode == LINEAR && !ps && op == GP_OP_MEAN) {
            tv[i] = -1; /* mean(1) = 1 */
            continue;
        }
        fmpq_one(a->q1);
        fmpq_mpoly_zero(p.num, ctx);
        fmpq_mpoly_push_term_fmpq_fmpz(p.num, a->q1, a->exp, ctx);
        if (mode == SPLIT) {
            fmpq_mpoly_set(p.den, e->den, ctx);
            rf_reduce(a, &p);
            moment_scale(a, &p, scale + i);
        } else {
            fmpq_mpoly_one(p.den, ctx);
        }
        tv[i] = moment_get(a, op, mode == SPLIT, &p);
    }
    rf_clear(&p, a->wctx);
    plive = 0;
    if (a->st != GP_OK || !grow(a, a->nmom))
        goto done;
    /* pass 2: static part times moment; e's term order survived grow() */
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    fmpq_mpoly_zero(r->num, ctx);
    for (slong i = 0; i < len; i++) {
        fmpq_mpoly_get_term_coeff_fmpq(a->q1, e->num, i, ctx);
        fmpq_mul(a->q1, a->q1, scale + i);
        fmpq_mpoly_get_term_exp_fmpz(a->exp, e->num, i, ctx);
        for (slong v = 0; v < a->nlv; v++)
            if (is_persample(a, v))
                fmpz_zero(a->ex + v);
        if (tv[i] >= 0)
            fmpz_add_ui(a->ex + tv[i], a->ex + tv[i], 1);
        fmpq_mpoly_push_term_fmpq_fmpz(r->num, a->q1, a->exp, ctx);
    }
    fmpq_mpoly_sort_terms(r->num, ctx);
    fmpq_mpoly_combine_like_terms(r->num, ctx);
    if (mode == LINEAR)
        fmpq_mpoly_set(r->den, e->den, ctx); /* mean(N/D) = mean(N)/D */
    else
        fmpq_mpoly_one(r->den, ctx);
    if (!rf_over(a, r))
        rf_reduce(a, r);
done:
    if (plive)
        rf_clear(&p, a->wctx);
    _fmpq_vec_clear(scale, len ? len : 1);
    free(tv);
}

/* ---- the conversion loop ---- */

static void convert_node(alg *a, gp_id id)
{
    gp_ctx *c = a->c;
    const gp_node *n = dag_node(c, id);
    rf *r = &a->val[a->slot[id]];
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    switch ((gp_op)n->op) {
    case GP_OP_NUM:
        fmpq_set_mpq(a->q1, dag_q(c, id));
        fmpq_mpoly_set_fmpq(r->num, a->q1, ctx);
        return;
    case GP_OP_LEAF: {
        const gp_leaf *l = &c->leaf[n->pay];
        if (l->kind == GP_LEAF_CONST && l->value != GP_NIL) {
            fmpq_set_mpq(a->q1, dag_q(c, l->value));
            fmpq_mpoly_set_fmpq(r->num, a->q1, ctx);
        } else {
            fmpq_mpoly_gen(r->num, a->leafvar[n->pay], ctx);
        }
        return;
    }
    case GP_OP_ADD: {
        rf *k0 = &a->val[a->slot[n->kid[0]]];
        fmpq_mpoly_set(r->num, k0->num, ctx);
        fmpq_mpoly_set(r->den, k0->den, ctx);
        for (uint32_t i = 1; i < n->nkid && a->st == GP_OK; i++)
            rf_add_to(a, r, &a->val[a->slot[n->kid[i]]]);
        break;
    }
    case GP_OP_MUL:
        fmpq_mpoly_one(r->num, ctx);
        for (uint32_t i = 0; i < n->nkid && a->st == GP_OK; i++) {
            const rf *k = &a->val[a->slot[n->kid[i]]];
            fmpq_mpoly_mul(r->num, r->num, k->num, ctx);
            if (!fmpq_mpoly_is_one(k->den, ctx))
                fmpq_mpoly_mul(r->den, r->den, k->den, ctx);
            rf_over(a, r);
        }
        break;
    case GP_OP_POW: {
        mpq_srcptr e = dag_q(c, n->kid[1]);
        const rf *b = &a->val[a->slot[n->kid[0]]];
        if (mpz_cmp_ui(mpq_denref(e), 1) != 0) {
            fail(a, GP_EINPUT); /* a root: not rational */
            return;
        }
        if (mpq_sgn(e) == 0) {
            fmpq_mpoly_one(r->num, ctx); /* as gp_pow folds x^0 */
            return;
        }
        int neg = mpq_sgn(e) < 0;
        if (neg && fmpq_mpoly_is_zero(b->num, ctx)) {
            fail(a, GP_EINPUT); /* 1/0 */
            return;
        }
        fmpz_t k;
        fmpz_init(k);
        fmpz_set_mpz(k, mpq_numref(e));
        fmpz_abs(k, k);
        /* (n/d)^k = n^k/d^k, still coprime, and d^k is monic when d is;
           a negative exponent swaps the two */
        fmpq_mpoly_struct *pn = neg ? r->den : r->num, *pd = neg ? r->num : r->den;
        fmpq_mpoly_one(pd, ctx);
        poly_pow(a, pn, b->num, k);
        if (a->st == GP_OK && !fmpq_mpoly_is_one(b->den, ctx))
            poly_pow(a, pd, b->den, k);
        fmpz_clear(k);
        if (neg && a->st == GP_OK)
            rf_monic(a, r, ctx);
        return;
    }
    case GP_OP_FN:
        fail(a, GP_EINPUT);
        return;
    case GP_OP_MEAN:
    case GP_OP_SUMS:
        reduce_samples(a, r, (gp_op)n->op, &a->val[a->slot[n->kid[0]]]);
        return;
    }
    if (a->st == GP_OK)
        rf_reduce(a, r);
}

static void convert(alg *a)
{
    gp_ctx *c = a->c;
    for (gp_id id = 0; id <= a->root && a->st == GP_OK; id++) {
        if (!a->mark[id])
            continue;
        uint32_t s = a->slot[id];
        rf_init(&a->val[s], a->wctx);
        a->live[s] = 1;
        convert_node(a, id);
        if (a->st != GP_OK)
            break;
        rf_over(a, &a->val[s]);
        /* children whose last parent this was */
        const gp_node *n = dag_node(c, id);
        for (uint32_t k = 0; k < n->nkid; k++) {
            uint32_t ks = a->slot[n->kid[k]];
            if (--a->uses[ks] == 0 && a->live[ks]) {
                rf_clear(&a->val[ks], a->wctx);
                a->live[ks] = 0;
            }
        }
    }
}

/* ---- set-up ---- */


static int leaf_rank(gp_leaf_kind k)
{
    switch (k) {
    case GP_LEAF_PARAM: return 0;
    case GP_LEAF_CONST: return 1;
    case GP_LEAF_INPUT: return 2;
    default: return 3;
    }
}

/* A bottom-up merge sort of v[0..n) by cmp (qsort has no context pointer). */
static int msort(alg *a, slong *v, size_t n, int (*cmp)(alg *, slong, slong))
{
    slong *t = malloc((n ? n : 1) * sizeof *t);
    if (!t)
        return 0;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                t[k++] = cmp(a, v[j], v[i]) < 0 ? v[j++] : v[i++];
            while (i < mid)
                t[k++] = v[i++];
            while (j < hi)
                t[k++] = v[j++];
        }
        memcpy(v, t, n * sizeof *v);
    }
    free(t);
    return 1;
}

static int cmp_leafvar(alg *a, slong x, slong y)
{
    const gp_leaf *lx = &a->c->leaf[a->lvleaf[x]], *ly = &a->c->leaf[a->lvleaf[y]];
    int rx = leaf_rank(lx->kind), ry = leaf_rank(ly->kind);
    if (rx != ry)
        return rx - ry;
    if (lx->ord != ly->ord)
        return lx->ord < ly->ord ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int setup(alg *a)
{
    gp_ctx *c = a->c;
    size_t nid = (size_t)a->root + 1;
    a->mark = calloc(c->nnode, 1); /* dag_reach's contract: one per node */
    a->slot = malloc(nid * sizeof *a->slot);
    a->leafvar = malloc((c->nleaf ? c->nleaf : 1) * sizeof *a->leafvar);
    a->lvleaf = malloc((c->nleaf ? c->nleaf : 1) * sizeof *a->lvleaf);
    if (!a->mark || !a->slot || !a->leafvar || !a->lvleaf)
        return 0;
    if (a->nroots)
        dag_reach(c, a->nroots, a->roots, a->mark);
    else
        dag_reach(c, 1, &a->root, a->mark);
    for (size_t l = 0; l < c->nleaf; l++)
        a->leafvar[l] = -1;
    size_t nred = 0;
    for (gp_id id = 0; id <= a->root; id++) {
        if (!a->mark[id])
            continue;
        a->slot[id] = (uint32_t)a->nslot++;
        const gp_node *n = dag_node(c, id);
        if (n->op == GP_OP_MEAN || n->op == GP_OP_SUMS)
            nred++;
        if (n->op == GP_OP_LEAF) {
            const gp_leaf *l = &c->leaf[n->pay];
            if (!(l->kind == GP_LEAF_CONST && l->value != GP_NIL) && a->leafvar[n->pay] < 0) {
                a->lvleaf[a->nlv] = n->pay;
                a->leafvar[n->pay] = a->nlv++;
            }
        }
    }
    /* number the leaf variables in display order, so that the working
       context's lex order is the display order on them: then every
       normalisation done while converting (monic gcds and denominators) is
       a function of the value alone, not of the shape of the DAG */
    slong *ord = malloc((size_t)(a->nlv ? a->nlv : 1) * sizeof *ord);
    uint32_t *lv = malloc((size_t)(a->nlv ? a->nlv : 1) * sizeof *lv);
    if (!ord || !lv) {
        free(ord);
        free(lv);
        return 0;
    }
    for (slong v = 0; v < a->nlv; v++)
        ord[v] = v;
    int sorted = msort(a, ord, (size_t)a->nlv, cmp_leafvar);
    for (slong v = 0; v < a->nlv; v++)
        lv[v] = a->lvleaf[ord[v]];
    for (slong v = 0; v < a->nlv; v++) {
        a->lvleaf[v] = lv[v];
        a->leafvar[lv[v]] = v;
    }
    free(ord);
    free(lv);
    if (!sorted)
        return 0;
    a->uses = calloc(a->nslot, sizeof *a->uses);
    a->val = malloc(a->nslot * sizeof *a->val);
    a->live = calloc(a->nslot, 1);
    if (!a->uses || !a->val || !a->live)
        return 0;
    for (gp_id id = 0; id <= a->root; id++) {
        if (!a->mark[id])
            continue;
        const gp_node *n = dag_node(c, id);
        for (uint32_t k = 0; k < n->nkid; k++)
            a->uses[a->slot[n->kid[k]]]++;
    }
    /* several roots: each is used once more, by the caller, so that a root
       that is also a child of another root survives the conversion */
    for (size_t i = 0; i < a->nroots; i++)
        a->uses[a->slot[a->roots[i]]]++;
    /* FLINT wants at least one variable */
    a->capmom = nred ? 4 : (a->nlv ? 0 : 1);
    fmpq_mpoly_ctx_init(a->wctx, wvars(a), ORD_LEX);
    a->wlive = 1;
    return scratch_need(a, wvars(a));
}

/* ---- the display context ---- */


/* Compare two polynomials of the working context without moments, term by
   term: fewer terms first, then the exponents in variable order (larger
   first), then the coefficients.  Uses both halves of the scratch. */
static int poly_cmp(alg *a, const fmpq_mpoly_t p, const fmpq_mpoly_t q)
{
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    slong lp = fmpq_mpoly_length(p, ctx), lq = fmpq_mpoly_length(q, ctx), nv = wvars(a);
    if (lp != lq)
        return lp < lq ? -1 : 1;
    fmpz *eq = a->ex + nv;
    fmpq_t cp, cq;
    fmpq_init(cp);
    fmpq_init(cq);
    int r = 0;
    for (slong i = 0; i < lp && r == 0; i++) {
        fmpq_mpoly_get_term_exp_fmpz(a->exp, p, i, ctx);
        fmpq_mpoly_get_term_exp_fmpz(a->exp + nv, q, i, ctx);
        for (slong v = 0; v < nv && r == 0; v++)
            r = -fmpz_cmp(a->ex + v, eq + v);
        if (r == 0) {
            fmpq_mpoly_get_term_coeff_fmpq(cp, p, i, ctx);
            fmpq_mpoly_get_term_coeff_fmpq(cq, q, i, ctx);
            r = fmpq_cmp(cp, cq);
        }
    }
    fmpq_clear(cp);
    fmpq_clear(cq);
    return r < 0 ? -1 : r > 0;
}

/* The display order of moments: monomials (by degree, then lex), then
   quotients without moments inside (by poly_cmp), then the rest in order
   of creation; mean before sum within each group. */
static int cmp_moment(alg *a, slong x, slong y)
{
    const moment *mx = &a->mom[x - a->nlv], *my = &a->mom[y - a->nlv];
    int gx = mx->opaque + mx->nested, gy = my->opaque + my->nested;
    if (gx != gy)
        return gx - gy;
    if (mx->op != my->op)
        return mx->op == GP_OP_MEAN ? -1 : 1;
    int r = 0;
    if (gx == 0) {
        /* a monomial: higher degree first, then lex */
        const fmpq_mpoly_ctx_struct *ctx = a->wctx;
        slong nv = wvars(a);
        fmpz *ey = a->ex + nv;
        fmpq_mpoly_get_term_exp_fmpz(a->exp, mx->q.num, 0, ctx);
        fmpq_mpoly_get_term_exp_fmpz(a->exp + nv, my->q.num, 0, ctx);
        fmpz_t dx, dy;
        fmpz_init(dx);
        fmpz_init(dy);
        for (slong v = 0; v < a->nlv; v++) {
            fmpz_add(dx, dx, a->ex + v);
            fmpz_add(dy, dy, ey + v);
        }
        r = -fmpz_cmp(dx, dy);
        for (slong v = 0; v < a->nlv && r == 0; v++)
            r = -fmpz_cmp(a->ex + v, ey + v);
        fmpz_clear(dx);
        fmpz_clear(dy);
    } else if (gx == 1) {
        r = poly_cmp(a, mx->q.num, my->q.num);
        if (r == 0)
            r = poly_cmp(a, mx->q.den, my->q.den);
    }
    /* Ties left here (moments whose quotient contains other moments) keep the
       order in which they were met.  A case cannot produce them: the builder
       refuses nested reductions, so they come only from DAGs built directly
       with the constructors, where that order is still deterministic. */
    if (r)
        return r < 0 ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Build the display context from the used variables and carry the result
   and the used moments into it, each with a monic denominator there. */
static void final_context(alg *a, slong *fmap)
{
    rf *res = &a->val[a->slot[a->root]];
    slong nv = wvars(a);
    int *used = calloc((size_t)nv, sizeof *used), *tmp = malloc((size_t)nv * sizeof *tmp);
    slong *lv = malloc((size_t)(nv ? nv : 1) * sizeof *lv), *mv = malloc((size_t)(nv ? nv : 1) * sizeof *mv);
    if (!used || !tmp || !lv || !mv || !scratch_need(a, 2 * nv)) {
        fail(a, GP_ENOMEM);
        goto done;
    }
    const fmpq_mpoly_ctx_struct *ctx = a->wctx;
    const fmpq_mpoly_struct *roots[2] = {res->num, res->den};
    for (int i = 0; i < 2; i++) {
        fmpq_mpoly_used_vars(tmp, roots[i], ctx);
        for (slong v = 0; v < nv; v++)
            used[v] |= tmp[v];
    }
    /* a moment refers only to older moments: one downward sweep */
    for (size_t k = a->nmom; k-- > 0;) {
        if (!used[a->nlv + (slong)k])
            continue;
        a->mom[k].used = 1;
        const fmpq_mpoly_struct *qs[2] = {a->mom[k].q.num, a->mom[k].q.den};
        for (int i = 0; i < 2; i++) {
            fmpq_mpoly_used_vars(tmp, qs[i], ctx);
            for (slong v = 0; v < nv; v++)
                used[v] |= tmp[v];
        }
    }
    size_t nl = 0, nm = 0;
    for (slong v = 0; v < nv; v++)
        if (used[v]) {
            if (v < a->nlv)
                lv[nl++] = v;
            else
                mv[nm++] = v;
        }
    if (!msort(a, lv, nl, cmp_leafvar)) {
        fail(a, GP_ENOMEM);
        goto done;
    }
    if (!msort(a, mv, nm, cmp_moment)) {
        fail(a, GP_ENOMEM);
        goto done;
    }
    for (slong v = 0; v < nv; v++)
        fmap[v] = 0; /* unused: never occurs, any valid index */
    a->nfv = (slong)(nl + nm);
    a->fw = malloc((nl + nm ? nl + nm : 1) * sizeof *a->fw);
    a->fv = calloc(nl + nm ? nl + nm : 1, sizeof *a->fv);
    if (!a->fw || !a->fv) {
        fail(a, GP_ENOMEM);
        goto done;
    }
    for (size_t i = 0; i < nl; i++) {
        fmap[lv[i]] = (slong)i;
        a->fw[i] = lv[i];
    }
    for (size_t i = 0; i < nm; i++) {
        fmap[mv[i]] = (slong)(nl + i);
        a->fw[nl + i] = mv[i];
    }
    fmpq_mpoly_ctx_init(a->fctx, a->nfv ? a->nfv : 1, ORD_DEGLEX);
    a->flive = 1;
    rf_init(&a->fres, a->fctx);
    a->fres_live = 1;
    fmpq_mpoly_compose_fmpq_mpoly_gen(a->fres.num, res->num, fmap, ctx, a->fctx);
    fmpq_mpoly_compose_fmpq_mpoly_gen(a->fres.den, res->den, fmap, ctx, a->fctx);
    rf_canon(a, &a->fres);
    for (size_t k = 0; k < a->nmom; k++) {
        moment *m = &a->mom[k];
        if (!m->used)
            continue;
        rf_init(&m->fq, a->fctx);
        m->fq_live = 1;
        fmpq_mpoly_compose_fmpq_mpoly_gen(m->fq.num, m->q.num, fmap, ctx, a->fctx);
        fmpq_mpoly_compose_fmpq_mpoly_gen(m->fq.den, m->q.den, fmap, ctx, a->fctx);
        rf_canon(a, &m->fq);
    }
done:
    free(used);
    free(tmp);
    free(lv);
    free(mv);
}

/* ---- printing ---- */

/* a name shown as one letter with subscripts (the rule of print.c) */
static int short_name(const gp_name *nm)
{
    static const char *const greek[] = {
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
        "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta",
        "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
    };
    size_t n = strlen(nm->base), d = n;
    while (d > 1 && nm->base[d - 1] >= '0' && nm->base[d - 1] <= '9')
        d--;
    if (d == 1 || (d == 4 && memcmp(nm->base + 1, "hat", 3) == 0))
        return 1;
    for (size_t i = 0; i < sizeof greek / sizeof greek[0]; i++)
        if (strlen(greek[i]) == d && memcmp(greek[i], nm->base, d) == 0)
            return 1;
    return 0;
}

static void put_fmpz(buf *b, const fmpz_t z)
{
    char *s = fmpz_get_str(NULL, 10, z);
    buf_puts(b, s);
    flint_free(s);
}

static void put_exponent(buf *b, const fmpz_t e, pr_syntax syn)
{
    if (syn == PR_TEXT) {
        static const char *const sup[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
        char *s = fmpz_get_str(NULL, 10, e);
        for (char *p = s; *p; p++)
            buf_puts(b, sup[*p - '0']);
        flint_free(s);
    } else if (syn == PR_LATEX) {
        buf_puts(b, "^{");
        put_fmpz(b, e);
        buf_putc(b, '}');
    } else {
        buf_putc(b, '^');
        put_fmpz(b, e);
    }
}

/* Too long to be useful: the limit render.c applies to the unexpanded form. */
static int too_big(alg *a, const buf *b)
{
    if (b->n <= ALG_MAX_BYTES)
        return 0;
    if (a->st == GP_OK) {
        diag_error(a->c, -1, 0, 0, "the expanded form is larger than 64 MiB; show it with the case's names instead");
        a->st = GP_ELIMIT;
    }
    return 1;
}

/* Term i of p without its sign (the caller writes the sign). */
static void print_term(alg *a, buf *b, const fmpq_mpoly_t p, slong i)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    pr_syntax syn = a->syn;
    fmpq_mpoly_get_term_coeff_fmpq(a->q1, p, i, ctx);
    fmpq_abs(a->q1, a->q1);
    fmpq_mpoly_get_term_exp_fmpz(a->exp, p, i, ctx);
    slong nf = 0;
    for (slong v = 0; v < a->nfv; v++)
        nf += !fmpz_is_zero(a->ex + v);
    const fmpz *cn = fmpq_numref(a->q1), *cd = fmpq_denref(a->q1);
    int cnum = !fmpz_is_one(cn), cden = !fmpz_is_one(cd);
    if (nf == 0) { /* a constant */
        if (syn == PR_LATEX && cden) {
            buf_puts(b, "\\frac{");
            put_fmpz(b, cn);
            buf_puts(b, "}{");
            put_fmpz(b, cd);
            buf_putc(b, '}');
        } else {
            put_fmpz(b, cn);
            if (cden) {
                buf_putc(b, '/');
                put_fmpz(b, cd);
            }
        }
        return;
    }
    /* the coefficient: \frac{3}{2} x, 3/2*x, 3x/2 */
    enum { NOTHING, COEF, SHORT, LONG } prev = NOTHING;
    if (syn == PR_LATEX) {
        if (cden) {
            buf_puts(b, "\\frac{");
            put_fmpz(b, cn);
            buf_puts(b, "}{");
            put_fmpz(b, cd);
            buf_puts(b, "} ");
        } else if (cnum) {
            put_fmpz(b, cn);
            buf_putc(b, ' ');
        }
    } else if (syn == PR_CASE) {
        if (cnum || cden) {
            put_fmpz(b, cn);
            if (cden) {
                buf_putc(b, '/');
                put_fmpz(b, cd);
            }
            prev = COEF;
        }
    } else if (cnum) {
        put_fmpz(b, cn);
        prev = COEF;
    }
    /* the factors in variable order; text juxtaposes after a coefficient and
       between one-letter names (2w₁₁₁x₁), elsewhere "·" (w·mean(x₁²)) */
    int lead = 1;
    for (slong v = 0; v < a->nfv; v++) {
        if (fmpz_is_zero(a->ex + v))
            continue;
        const fvar *f = &a->fv[v];
        if (syn == PR_CASE) {
            if (prev != NOTHING)
                buf_putc(b, '*');
        } else if (syn == PR_LATEX) {
            if (!lead)
                buf_putc(b, ' ');
        } else if (prev == LONG || (prev == SHORT && !f->shortname)) {
            buf_puts(b, "·");
        }
        buf_puts(b, f->s);
        if (!fmpz_is_one(a->ex + v))
            put_exponent(b, a->ex + v, syn);
        prev = f->shortname ? SHORT : LONG;
        lead = 0;
    }
    if (syn == PR_TEXT && cden) {
        buf_putc(b, '/');
        put_fmpz(b, cd);
    }
}

static void print_poly(alg *a, buf *b, const fmpq_mpoly_t p)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    slong len = fmpq_mpoly_length(p, ctx);
    if (len == 0) {
        buf_putc(b, '0');
        return;
    }
    for (slong i = 0; i < len && !too_big(a, b); i++) {
        fmpq_mpoly_get_term_coeff_fmpq(a->q1, p, i, ctx);
        int neg = fmpq_sgn(a->q1) < 0;
        if (i == 0) {
            if (neg)
                buf_puts(b, a->syn == PR_TEXT ? "−" : "-");
        } else {
            buf_puts(b, neg ? (a->syn == PR_TEXT ? " − " : " - ") : " + ");
        }
        print_term(a, b, p, i);
    }
}

/* Text: can p stand next to '/' without parentheses?  A numerator: one term
   with an integer coefficient (3x₁ in 3x₁/(x₂ + 1)).  A denominator: one
   variable, maybe with a power (x₂² in x₁/x₂²). */
static int text_atom(alg *a, const fmpq_mpoly_t p, int as_den)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    if (fmpq_mpoly_length(p, ctx) != 1)
        return 0;
    fmpq_mpoly_get_term_coeff_fmpq(a->q1, p, 0, ctx);
    if (!fmpz_is_one(fmpq_denref(a->q1)))
        return 0;
    if (!as_den)
        return 1;
    if (!fmpq_is_one(a->q1))
        return 0;
    fmpq_mpoly_get_term_exp_fmpz(a->exp, p, 0, ctx);
    slong nf = 0;
    for (slong v = 0; v < a->nfv; v++)
        nf += !fmpz_is_zero(a->ex + v);
    return nf == 1;
}

static void print_rf(alg *a, buf *b, const rf *r)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    if (fmpq_mpoly_is_one(r->den, ctx)) {
        print_poly(a, b, r->num);
        return;
    }
    if (a->syn == PR_LATEX) {
        buf_puts(b, "\\frac{");
        print_poly(a, b, r->num);
        buf_puts(b, "}{");
        print_poly(a, b, r->den);
        buf_putc(b, '}');
        return;
    }
    int pn = a->syn == PR_CASE || !text_atom(a, r->num, 0);
    int pd = a->syn == PR_CASE || !text_atom(a, r->den, 1);
    if (pn)
        buf_putc(b, '(');
    print_poly(a, b, r->num);
    buf_puts(b, pn ? ")/" : "/");
    if (pd)
        buf_putc(b, '(');
    print_poly(a, b, r->den);
    if (pd)
        buf_putc(b, ')');
}

/* The display text of every variable of the final context.  Moments go in
   order of creation, so each finds the text of the older moments inside it
   already written: no recursion, however deep reductions nest. */
static void name_vars(alg *a, const slong *fmap)
{
    gp_ctx *c = a->c;
    pr_syntax syn = a->syn;
    for (slong f = 0; f < a->nfv && a->st == GP_OK; f++) {
        slong v = a->fw[f];
        if (v >= a->nlv)
            continue;
        const gp_name *nm = &c->leaf[a->lvleaf[v]].name;
        buf b = BUF_INIT;
        print_name(&b, nm, syn);
        a->fv[f].s = buf_take(&b);
        a->fv[f].shortname = short_name(nm);
        if (!a->fv[f].s)
            fail(a, GP_ENOMEM);
    }
    for (size_t k = 0; k < a->nmom && a->st == GP_OK; k++) {
        moment *m = &a->mom[k];
        if (!m->used)
            continue;
        const char *fn = m->op == GP_OP_MEAN ? "mean" : "sum";
        buf b = BUF_INIT;
        if (syn == PR_LATEX)
            buf_printf(&b, "\\operatorname{%s}\\left(", fn);
        else
            buf_printf(&b, "%s(", fn);
        print_rf(a, &b, &m->fq);
        buf_puts(&b, syn == PR_LATEX ? "\\right)" : ")");
        if (too_big(a, &b)) {
            buf_free(&b);
            return;
        }
        fvar *f = &a->fv[fmap[a->nlv + (slong)k]];
        f->s = buf_take(&b);
        f->shortname = 0;
        if (!f->s)
            fail(a, GP_ENOMEM);
    }
}

/* ---- the whole ---- */

static void alg_free(alg *a)
{
    if (a->wlive) {
        for (size_t s = 0; s < a->nslot; s++)
            if (a->live[s])
                rf_clear(&a->val[s], a->wctx);
        for (size_t k = 0; k < a->nmom; k++)
            rf_clear(&a->mom[k].q, a->wctx);
    }
    if (a->flive) {
        for (size_t k = 0; k < a->nmom; k++)
            if (a->mom[k].fq_live)
                rf_clear(&a->mom[k].fq, a->fctx);
        if (a->fres_live)
            rf_clear(&a->fres, a->fctx);
        fmpq_mpoly_ctx_clear(a->fctx);
    }
    if (a->wlive)
        fmpq_mpoly_ctx_clear(a->wctx);
    if (a->fv)
        for (slong f = 0; f < a->nfv; f++)
            free(a->fv[f].s);
    free(a->fv);
    free(a->fw);
    for (slong i = 0; i < a->nex; i++)
        fmpz_clear(a->ex + i);
    flint_free(a->ex);
    flint_free(a->exp);
    fmpq_clear(a->q1);
    free(a->mark);
    free(a->slot);
    free(a->uses);
    free(a->val);
    free(a->live);
    free(a->lvleaf);
    free(a->leafvar);
    free(a->mom);
    free(a->mtab);
}

gp_status algebra_expand_print(buf *out, gp_ctx *c, gp_id id, pr_syntax syn)
{
    if (id == GP_NIL || id >= c->nnode)
        return GP_EINTERNAL;
    if (c->node[id].flags & GP_NF_NONRAT)
        return GP_EINPUT; /* a function call or a root somewhere below */
    alg a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.syn = syn;
    a.root = id;
    fmpq_init(a.q1);
    slong *fmap = NULL;
    buf b = BUF_INIT;
    if (!setup(&a))
        fail(&a, GP_ENOMEM);
    if (a.st == GP_OK)
        convert(&a);
    if (a.st == GP_OK) {
        fmap = malloc((size_t)wvars(&a) * sizeof *fmap);
        if (!fmap)
            fail(&a, GP_ENOMEM);
        else
            final_context(&a, fmap);
    }
    if (a.st == GP_OK)
        name_vars(&a, fmap);
    if (a.st == GP_OK) {
        print_rf(&a, &b, &a.fres);
        too_big(&a, &b);
        if (b.oom)
            fail(&a, GP_ENOMEM);
    }
    if (a.st == GP_OK)
        buf_putn(out, b.s ? b.s : "", b.n);
    buf_free(&b);
    free(fmap);
    gp_status st = a.st;
    alg_free(&a);
    return st;
}

/* ---- identity tests and shapes, for claims ---- */

/* Set up and convert; the caller frees a with alg_free().  GP_EINPUT when
   the node is not a rational function. */
static gp_status alg_run(alg *a, gp_ctx *c, gp_id id, pr_syntax syn)
{
    memset(a, 0, sizeof *a);
    a->c = c;
    a->syn = syn;
    a->root = id;
    fmpq_init(a->q1);
    if (id == GP_NIL || id >= c->nnode)
        return a->st = GP_EINTERNAL;
    if (c->node[id].flags & GP_NF_NONRAT)
        return a->st = GP_EINPUT;
    if (!setup(a))
        fail(a, GP_ENOMEM);
    if (a->st == GP_OK)
        convert(a);
    return a->st;
}

/* alg_run, then the result in its final context: the map from working
   variables to final ones (malloc'd, the caller's; NULL on failure, with
   a->st saying why). */
static slong *alg_run_final(alg *a, gp_ctx *c, gp_id id, pr_syntax syn)
{
    if (alg_run(a, c, id, syn) != GP_OK)
        return NULL;
    slong *fmap = malloc((size_t)(wvars(a) ? wvars(a) : 1) * sizeof *fmap);
    if (!fmap)
        fail(a, GP_ENOMEM);
    else
        final_context(a, fmap);
    return fmap;
}

gp_status algebra_is_zero(gp_ctx *c, gp_id id, int *zero)
{
    alg a;
    gp_status st = alg_run(&a, c, id, PR_TEXT);
    if (st == GP_OK)
        *zero = fmpq_mpoly_is_zero(a.val[a.slot[a.root]].num, a.wctx);
    alg_free(&a);
    return st;
}

/* The text of monomial term 0 of p without its coefficient; NULL for 1. */
static char *monomial_text(alg *a, const fmpq_mpoly_t p)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    if (fmpq_mpoly_is_fmpq(p, ctx))
        return NULL;
    fmpq_mpoly_t m;
    fmpq_mpoly_init(m, ctx);
    fmpq_mpoly_get_term_monomial(m, p, 0, ctx);
    buf b = BUF_INIT;
    print_poly(a, &b, m);
    fmpq_mpoly_clear(m, ctx);
    char *s = buf_take(&b);
    if (!s)
        fail(a, GP_ENOMEM);
    return s;
}

gp_status algebra_inspect(algebra_shape *out, gp_ctx *c, gp_id id, pr_syntax syn)
{
    memset(out, 0, sizeof *out);
    alg a;
    slong *fmap = alg_run_final(&a, c, id, syn);
    if (a.st == GP_OK)
        name_vars(&a, fmap);
    if (a.st == GP_OK) {
        const fmpq_mpoly_ctx_struct *ctx = a.fctx;
        mpq_init(out->coeff);
        out->live = 1;
        out->zero = fmpq_mpoly_is_zero(a.fres.num, ctx);
        out->nterms = (long)fmpq_mpoly_length(a.fres.num, ctx);
        out->nden = (long)fmpq_mpoly_length(a.fres.den, ctx);
        if (out->nterms == 1 && out->nden == 1) {
            fmpq_t q, d;
            fmpq_init(q);
            fmpq_init(d);
            fmpq_mpoly_get_term_coeff_fmpq(q, a.fres.num, 0, ctx);
            fmpq_mpoly_get_term_coeff_fmpq(d, a.fres.den, 0, ctx);
            fmpq_div(q, q, d);
            fmpq_get_mpq(out->coeff, q);
            fmpq_clear(q);
            fmpq_clear(d);
            out->monomial = 1;
            out->up = monomial_text(&a, a.fres.num);
            out->down = monomial_text(&a, a.fres.den);
        }
        buf b = BUF_INIT;
        print_rf(&a, &b, &a.fres);
        too_big(&a, &b);
        out->text = buf_take(&b);
        if (!out->text)
            fail(&a, GP_ENOMEM);
        if (a.st != GP_OK)
            algebra_shape_clear(out);
    }
    free(fmap);
    gp_status st = a.st;
    alg_free(&a);
    return st;
}

void algebra_shape_clear(algebra_shape *s)
{
    free(s->text);
    free(s->up);
    free(s->down);
    if (s->live)
        mpq_clear(s->coeff);
    memset(s, 0, sizeof *s);
}

/* ---- grouped by the monomials of the per-sample leaves (effective.c) ---- */

/* A term of the result, keyed by its exponents of the per-sample variables. */
typedef struct gkey {
    const ulong *k; /* [np] exponents of the per-sample variables */
    slong np;
    slong term;     /* the term's index, for a stable order */
} gkey;

/* Lower total degree first; then larger exponents of earlier variables
   first (x1², x1x2, x2²), the order of the display context. */
static int gkey_cmp(const void *x, const void *y)
{
    const gkey *p = x, *q = y;
    ulong dp = 0, dq = 0;
    for (slong v = 0; v < p->np; v++) {
        dp += p->k[v];
        dq += q->k[v];
    }
    if (dp != dq)
        return dp < dq ? -1 : 1;
    for (slong v = 0; v < p->np; v++)
        if (p->k[v] != q->k[v])
            return p->k[v] > q->k[v] ? -1 : 1;
    return p->term < q->term ? -1 : p->term > q->term;
}

/* Split a->fres.num (a polynomial) by its per-sample monomials into out. */
static void group_terms(alg *a, slong *fmap, algebra_grouped *out)
{
    const fmpq_mpoly_ctx_struct *ctx = a->fctx;
    const fmpq_mpoly_struct *p = a->fres.num;
    slong len = fmpq_mpoly_length(p, ctx), nf = a->nfv, np = 0;
    slong *ps = malloc((size_t)(nf ? nf : 1) * sizeof *ps);
    ulong *ex = malloc((size_t)(nf ? nf : 1) * sizeof *ex);
    ulong *keys = NULL;
    gkey *gk = NULL;
    fmpq_mpoly_struct *cp = NULL, *mp = NULL;
    size_t ng = 0;
    if (!ps || !ex) {
        fail(a, GP_ENOMEM);
        goto done;
    }
    for (slong f = 0; f < nf; f++)
        if (is_persample(a, a->fw[f]))
            ps[np++] = f;
    keys = malloc((size_t)(len && np ? len * np : 1) * sizeof *keys);
    gk = malloc((size_t)(len ? len : 1) * sizeof *gk);
    if (!keys || !gk) {
        fail(a, GP_ENOMEM);
        goto done;
    }
    for (slong i = 0; i < len; i++) {
        if (!fmpq_mpoly_term_exp_fits_ui(p, i, ctx)) {
            diag_error(a->c, -1, 0, 0, "the expanded form has an exponent too large to represent");
            fail(a, GP_ELIMIT);
            goto done;
        }
        fmpq_mpoly_get_term_exp_ui(ex, p, i, ctx);
        for (slong j = 0; j < np; j++)
            keys[i * np + j] = ex[ps[j]];
        gk[i] = (gkey){keys + i * np, np, i};
    }
    qsort(gk, (size_t)len, sizeof *gk, gkey_cmp);
    for (slong i = 0; i < len; i++)
        ng += i == 0 || gkey_cmp(&(gkey){gk[i - 1].k, np, 0}, &(gkey){gk[i].k, np, 0}) != 0;
    /* the per-sample variables that occur, in display order */
    out->leaf = malloc((size_t)(np ? np : 1) * sizeof *out->leaf);
    out->g = calloc(ng ? ng : 1, sizeof *out->g);
    cp = malloc((ng ? ng : 1) * sizeof *cp);
    mp = malloc((ng ? ng : 1) * sizeof *mp);
    if (!out->leaf || !out->g || !cp || !mp) {
        free(cp);
        free(mp);
        cp = mp = NULL;
        fail(a, GP_ENOMEM);
        goto done;
    }
    for (slong j = 0; j < np; j++) {
        int occurs = 0;
        for (slong i = 0; i < len && !occurs; i++)
            occurs = keys[i * np + j] != 0;
        if (occurs)
            out->leaf[out->nleaf++] = a->lvleaf[a->fw[ps[j]]];
    }
    for (size_t g = 0; g < ng; g++) {
        fmpq_mpoly_init(cp + g, ctx);
        fmpq_mpoly_init(mp + g, ctx);
    }
    out->n = ng;
    size_t g = 0;
    for (slong i = 0; i < len; i++) {
        if (i > 0 && gkey_cmp(&(gkey){gk[i - 1].k, np, 0}, &(gkey){gk[i].k, np, 0}) != 0)
            g++;
        /* the coefficient: the term without its per-sample factors */
        fmpq_mpoly_get_term_coeff_fmpq(a->q1, p, gk[i].term, ctx);
        fmpq_mpoly_get_term_exp_ui(ex, p, gk[i].term, ctx);
        for (slong j = 0; j < np; j++)
            ex[ps[j]] = 0;
        fmpq_mpoly_push_term_fmpq_ui(cp + g, a->q1, ex, ctx);
        if (fmpq_mpoly_is_zero(mp + g, ctx)) {
            ulong d = 0;
            for (slong f = 0; f < nf; f++)
                ex[f] = 0;
            for (slong j = 0; j < np; j++) {
                ex[ps[j]] = gk[i].k[j];
                d += gk[i].k[j];
            }
            fmpq_one(a->q1);
            fmpq_mpoly_push_term_fmpq_ui(mp + g, a->q1, ex, ctx);
            out->g[g].degree = d > UINT_MAX ? UINT_MAX : (unsigned)d;
        }
    }
    for (g = 0; g < ng; g++) {
        fmpq_mpoly_sort_terms(cp + g, ctx);
        fmpq_mpoly_combine_like_terms(cp + g, ctx);
        out->g[g].constant = fmpq_mpoly_is_fmpq(cp + g, ctx);
    }
    /* the texts, one syntax at a time */
    for (int s = 0; s < 3 && a->st == GP_OK; s++) {
        for (slong f = 0; f < nf; f++) {
            free(a->fv[f].s);
            a->fv[f].s = NULL;
        }
        a->syn = (pr_syntax)s;
        name_vars(a, fmap);
        for (g = 0; g < ng && a->st == GP_OK; g++) {
            buf b = BUF_INIT;
            print_poly(a, &b, cp + g);
            out->g[g].coeff[s] = buf_take(&b);
            print_poly(a, &b, mp + g);
            out->g[g].monomial[s] = buf_take(&b);
            if (!out->g[g].coeff[s] || !out->g[g].monomial[s])
                fail(a, GP_ENOMEM);
        }
    }
    for (g = 0; g < ng; g++) {
        fmpq_mpoly_clear(cp + g, ctx);
        fmpq_mpoly_clear(mp + g, ctx);
    }
done:
    free(cp);
    free(mp);
    free(ps);
    free(ex);
    free(keys);
    free(gk);
}

gp_status algebra_group_by_samples(algebra_grouped *out, gp_ctx *c, gp_id id)
{
    memset(out, 0, sizeof *out);
    alg a;
    slong *fmap = alg_run_final(&a, c, id, PR_TEXT);
    if (a.st == GP_OK) {
        out->polynomial = fmpq_mpoly_is_one(a.fres.den, a.fctx);
        if (out->polynomial)
            group_terms(&a, fmap, out);
    }
    free(fmap);
    gp_status st = a.st;
    alg_free(&a);
    if (st != GP_OK)
        algebra_grouped_clear(out);
    return st;
}

void algebra_grouped_clear(algebra_grouped *g)
{
    if (g->g)
        for (size_t i = 0; i < g->n; i++)
            for (int s = 0; s < 3; s++) {
                free(g->g[i].monomial[s]);
                free(g->g[i].coeff[s]);
            }
    free(g->g);
    free(g->leaf);
    memset(g, 0, sizeof *g);
}

/* ---- linear relations among nodes (effective.c) ---- */

gp_status algebra_lincomb_is_zero(gp_ctx *c, size_t n, const gp_id *ids, const mpq_t *coef, mpq_srcptr c0,
                                  int *zero)
{
    gp_id top = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == GP_NIL || ids[i] >= c->nnode)
            return GP_EINTERNAL;
        if (c->node[ids[i]].flags & GP_NF_NONRAT)
            return GP_EINPUT;
        if (ids[i] > top)
            top = ids[i];
    }
    if (n == 0) {
        *zero = mpq_sgn(c0) == 0;
        return GP_OK;
    }
    alg a;
    memset(&a, 0, sizeof a);
    a.c = c;
    a.syn = PR_TEXT;
    a.root = top;
    a.nroots = n;
    a.roots = ids;
    fmpq_init(a.q1);
    if (!setup(&a))
        fail(&a, GP_ENOMEM);
    if (a.st == GP_OK)
        convert(&a);
    if (a.st == GP_OK) {
        const fmpq_mpoly_ctx_struct *ctx = a.wctx;
        rf s, t;
        fmpq_t q;
        fmpq_init(q);
        rf_init(&s, ctx);
        rf_init(&t, ctx);
        fmpq_set_mpq(q, c0);
        fmpq_mpoly_set_fmpq(s.num, q, ctx);
        for (size_t k = 0; k < n && a.st == GP_OK; k++) {
            if (mpq_sgn(coef[k]) == 0)
                continue;
            const rf *v = &a.val[a.slot[ids[k]]];
            fmpq_set_mpq(q, coef[k]);
            fmpq_mpoly_scalar_mul_fmpq(t.num, v->num, q, ctx);
            fmpq_mpoly_set(t.den, v->den, ctx);
            rf_add_to(&a, &s, &t);
            if (a.st == GP_OK)
                rf_reduce(&a, &s);
        }
        if (a.st == GP_OK)
            *zero = fmpq_mpoly_is_zero(s.num, ctx);
        rf_clear(&s, ctx);
        rf_clear(&t, ctx);
        fmpq_clear(q);
    }
    gp_status st = a.st;
    alg_free(&a);
    return st;
}

int algebra_short_name(const gp_name *nm) { return short_name(nm); }

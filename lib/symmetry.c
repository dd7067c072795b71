/*
 * symmetry.c -- the symmetry and over-parameterisation analysis.
 *
 * Everything here is linear algebra on Jacobians of the model map
 * f(theta, x) (the outputs per sample) with respect to the params:
 *  - rank: J at one random theta over enough random samples has the rank
 *    of the function family (its dimension); at the case's data, the data
 *    rank.  The pivot columns of J's echelon form are params that the data
 *    determine; the others can be clamped.
 *  - linear symmetries: vector fields v(theta) = A theta + b with
 *    J(theta, x) v(theta) = 0 for all theta and x.  Each random theta gives,
 *    from the row space of J there, linear equations in the entries of A and
 *    b; the solution space is the Lie algebra of linear symmetries (with
 *    translations).  The symmetric A in it give the conserved quantities
 *    theta' A theta + 2 b' theta of gradient flow, for any loss of f.
 *  - the diagonal solutions are rescalings theta_i -> t^(k_i) theta_i; their
 *    odd exponents are candidates for sign flips, as are the odd and even
 *    activations; every candidate is verified before it is reported.
 *  - equal and proportional gradients: fingerprints of dC/dtheta_i at random
 *    points, grouped by direction, then confirmed.
 *  - permutations: autgroup.c (nauty), each generator verified here.
 *
 * The exact route works modulo a prime p ~ 2^62: an identity in the params
 * and inputs of degree d that holds at a random point mod p fails over Q
 * with probability at most d/p (Schwartz-Zippel), and every solution lifted
 * to Q is verified again modulo a second prime at fresh points.  The
 * numeric route (exp, tanh, ...) uses MPFR at SYM_PREC bits.
 *
 * Owns: the report's arrays and strings (sym_report_free); every FLINT and
 * MPFR object of a call, freed on every path.
 */
#include <stdio.h> /* before mpfr.h */

#include "symmetry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <fmpq.h>
#include <fmpq_mat.h>
#include <fmpz.h>
#include <nmod_mat.h>

#include "buf.h"
#include "derive.h"
#include "eval_mpfr.h"
#include "render.h"
#include "rng.h"
#include "svd_mpfr.h"
#include "tape.h"

#define SYM_PREC 256            /* bits of the numeric route */
#define SYM_MARGIN 8            /* rows beyond the unknowns, for a generic rank */
#define SYM_MAX_UNKNOWNS 2500   /* of the exact linear-symmetry system */
#define SYM_MAX_UNKNOWNS_NUM 400 /* of the numeric one (MPFR elimination is slow) */
#define SYM_CHECK_POINTS 3      /* fresh points that verify a solution */
#define SYM_FIELD_ROUNDS 64     /* batches of equations added before the linear system is taken as complete */
#define SYM_LOSS_ROWS 4         /* loss-gradient rows per point when the loss has a direct part */
#define SYM_FP_POINTS 4         /* fingerprint points of the gradients */
#define SYM_EFFECTIVE_MAX 400  /* params: the effective model is expanded up to this size */
#define SYM_NULL_POINT_MAX 64   /* params: a null-space basis at a point is shown up to this size */

/* ---- the model ---- */

typedef struct model {
    gp_case *cs;
    gp_ctx *c;
    size_t P, nout;
    gp_id *out;
    int direct;
    tape tj;                  /* roots: dout_k/dtheta_i at k*P + i, then the outputs */
    tape tl;                  /* roots: dC/dtheta_i at i, then C */
    tape tv;                  /* roots: the outputs, then C */
    int tj_ok, tl_ok, tv_ok;
    int rational;
    uint64_t rng;
    size_t ncol;              /* data columns: the case's inputs and targets */
    long *dmap;               /* [ncol] column of the case's data feeding it, -1 none */
    eval_fault fault;         /* the first evaluation that failed (node GP_NIL: none) */
    int nopoint;              /* jac_random found no point where J is defined */
} model;

static void model_free(model *M)
{
    if (M->tj_ok)
        tape_free(&M->tj);
    if (M->tl_ok)
        tape_free(&M->tl);
    if (M->tv_ok)
        tape_free(&M->tv);
    free(M->dmap);
}

/* The outputs: `output` names, or the per-sample terms of the loss. */
static gp_status find_outputs(model *M, sym_report *R)
{
    gp_ctx *c = M->c;
    gp_case *cs = M->cs;
    gp_id *out = malloc((c->nnode ? c->nnode : 1) * sizeof *out);
    unsigned char *mark = calloc(c->nnode ? c->nnode : 1, 1);
    if (!out || !mark) {
        free(out);
        free(mark);
        return GP_ENOMEM;
    }
    size_t n = 0;
    if (cs->nout) {
        for (size_t k = 0; k < cs->nout; k++)
            if (!mark[cs->out[k]]) {
                mark[cs->out[k]] = 1;
                out[n++] = cs->out[k];
            }
    } else if (c->node[cs->loss].level != GP_LV_DATASET) {
        out[n++] = cs->loss;
        mark[cs->loss] = 1;
    } else {
        unsigned char *reach = calloc(c->nnode, 1);
        if (!reach) {
            free(out);
            free(mark);
            return GP_ENOMEM;
        }
        dag_reach(c, 1, &cs->loss, reach);
        for (gp_id id = 0; id < c->nnode; id++) {
            const gp_node *nd = &c->node[id];
            if (!reach[id] || (nd->op != GP_OP_MEAN && nd->op != GP_OP_SUMS))
                continue;
            gp_id k = nd->kid[0];
            if ((c->node[k].flags & GP_NF_PARAM) && c->node[k].level == GP_LV_SAMPLE && !mark[k]) {
                mark[k] = 1;
                out[n++] = k;
            }
        }
        free(reach);
    }
    /* does the loss reach a param other than through the outputs? */
    unsigned char *need = calloc(c->nnode, 1);
    if (!need) {
        free(out);
        free(mark);
        return GP_ENOMEM;
    }
    need[cs->loss] = 1;
    for (gp_id id = cs->loss + 1; id-- > 0;) {
        if (!need[id] || mark[id])
            continue;
        const gp_node *nd = &c->node[id];
        if (nd->op == GP_OP_LEAF && c->leaf[nd->pay].kind == GP_LEAF_PARAM)
            M->direct = 1;
        for (uint32_t j = 0; j < nd->nkid; j++)
            need[nd->kid[j]] = 1;
    }
    free(need);
    free(mark);
    M->out = out;
    M->nout = n;
    R->nout = n;
    R->out = malloc((n ? n : 1) * sizeof *R->out);
    if (!R->out)
        return GP_ENOMEM;
    memcpy(R->out, out, n * sizeof *out);
    return GP_OK;
}

static gp_status model_init(model *M, gp_case *cs, uint64_t seed, sym_report *R)
{
    memset(M, 0, sizeof *M);
    M->cs = cs;
    M->c = cs->c;
    M->P = cs->nparams;
    M->rng = seed ? seed : 0x73796d6d65747279u;
    M->fault = (eval_fault){GP_NIL, NULL, -1};
    gp_ctx *c = M->c;
    gp_status st = find_outputs(M, R);
    if (st != GP_OK)
        return st;
    size_t P = M->P, P1 = P ? P : 1;
    gp_id *wrt = malloc(P1 * sizeof *wrt);
    gp_id *roots = malloc((M->nout * P + M->nout + P + 1) * sizeof *roots);
    if (!wrt || !roots) {
        free(wrt);
        free(roots);
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < P; i++)
        wrt[i] = c->leaf[cs->params[i]].node;
    for (size_t k = 0; k < M->nout && st == GP_OK; k++)
        st = derive_grad(c, M->out[k], P, wrt, roots + k * P);
    for (size_t k = 0; k < M->nout; k++)
        roots[M->nout * P + k] = M->out[k];
    M->ncol = cs->ninputs;
    if (st == GP_OK)
        st = tape_compile(&M->tj, c, M->nout * P + M->nout, roots, P, cs->params, M->ncol, cs->inputs);
    M->tj_ok = st == GP_OK;
    if (st == GP_OK)
        st = derive_grad(c, cs->loss, P, wrt, roots);
    if (st == GP_OK) {
        roots[P] = cs->loss;
        st = tape_compile(&M->tl, c, P + 1, roots, P, cs->params, M->ncol, cs->inputs);
        M->tl_ok = st == GP_OK;
    }
    if (st == GP_OK) {
        memcpy(roots, M->out, M->nout * sizeof *roots);
        roots[M->nout] = cs->loss;
        st = tape_compile(&M->tv, c, M->nout + 1, roots, P, cs->params, M->ncol, cs->inputs);
        M->tv_ok = st == GP_OK;
    }
    free(wrt);
    free(roots);
    if (st != GP_OK)
        return st;
    M->rational = M->tj.rational && M->tl.rational;
    M->dmap = malloc((M->ncol ? M->ncol : 1) * sizeof *M->dmap);
    if (!M->dmap)
        return GP_ENOMEM;
    for (size_t j = 0; j < M->ncol; j++) {
        M->dmap[j] = -1;
        for (size_t d = 0; cs->has_data && d < cs->ncols; d++)
            if (cs->dcol[d] == cs->inputs[j])
                M->dmap[j] = (long)d;
    }
    return GP_OK;
}

/* Rows of J per point: enough samples for the rank to show. */
/* Random samples for a Jacobian that must reach rank `rows`: one row per
   sample and a margin.  The outputs of one sample are not counted as
   independent rows: outputs that share a narrow last layer are not (a 1-2-1-3
   tanh net has 3 outputs per sample but rank 10 needs 10 samples). */
static size_t samples_for(const model *M, size_t rows)
{
    (void)M;
    return rows + SYM_MARGIN + 1;
}

/* ================= the exact route: modulo a prime ================= */

static mp_limb_t pick_prime(model *M)
{
    return n_nextprime(((mp_limb_t)1 << 62) + (rng_next(&M->rng) >> 4), 1);
}

/* residue of an exact rational mod p; 0 when its denominator vanishes (*bad set) */
static mp_limb_t q_res(mpq_srcptr q, nmod_t m, int *bad)
{
    mp_limb_t d = mpz_fdiv_ui(mpq_denref(q), m.n);
    if (!d) {
        *bad = 1;
        return 0;
    }
    return nmod_mul(mpz_fdiv_ui(mpq_numref(q), m.n), n_invmod(d, m.n), m);
}

/* Lift a residue to the rational it most likely is (|num|, den < sqrt(p/2)). */
static int lift(mpq_t out, mp_limb_t r, mp_limb_t p)
{
    fmpz_t a, m;
    fmpq_t q;
    fmpz_init_set_ui(a, r);
    fmpz_init_set_ui(m, p);
    fmpq_init(q);
    int ok = fmpq_reconstruct_fmpz(q, a, m);
    if (ok)
        fmpq_get_mpq(out, q);
    fmpz_clear(a);
    fmpz_clear(m);
    fmpq_clear(q);
    return ok;
}

/* ================= one matrix type for both routes ================= */

/*
 * The algorithms below are written once: a matrix is either residues mod p
 * (FLINT nmod_mat, exact) or MPFR numbers at SYM_PREC bits (a zero is
 * anything below 2^-(SYM_PREC/2) of the matrix's largest entry).
 */
typedef struct mat {
    int exact;
    size_t m, n;
    nmod_mat_t a;             /* exact */
    mpfr_t *f;                /* numeric, row-major */
    double kept, dropped;     /* numeric rref: smallest pivot kept, largest rejected (relative) */
} mat;

/* A point: residues, or MPFR numbers. */
typedef struct vec {
    size_t n;
    mp_limb_t *r;
    mpfr_t *f;
} vec;

static int mat_init(mat *A, int exact, size_t m, size_t n, mp_limb_t p)
{
    memset(A, 0, sizeof *A);
    A->exact = exact;
    A->m = m;
    A->n = n;
    if (exact) {
        nmod_mat_init(A->a, (slong)m, (slong)n, p);
        return 1;
    }
    A->f = malloc((m * n > 0 ? m * n : 1) * sizeof *A->f);
    if (!A->f)
        return 0;
    for (size_t i = 0; i < m * n; i++)
        mpfr_init2(A->f[i], SYM_PREC), mpfr_set_zero(A->f[i], 1);
    return 1;
}

static void mat_clear(mat *A)
{
    if (A->exact) {
        nmod_mat_clear(A->a);
    } else if (A->f) {
        for (size_t i = 0; i < A->m * A->n; i++)
            mpfr_clear(A->f[i]);
        free(A->f);
    }
    memset(A, 0, sizeof *A);
}

#define MF(A, i, j) ((A)->f[(size_t)(i) * (A)->n + (j)])

static int vec_init(vec *v, int exact, size_t n)
{
    memset(v, 0, sizeof *v);
    v->n = n;
    if (exact)
        return (v->r = calloc(n ? n : 1, sizeof *v->r)) != NULL;
    if (!(v->f = malloc((n ? n : 1) * sizeof *v->f)))
        return 0;
    for (size_t i = 0; i < n; i++)
        mpfr_init2(v->f[i], SYM_PREC);
    return 1;
}

static void vec_clear(vec *v)
{
    free(v->r);
    if (v->f)
        for (size_t i = 0; i < v->n; i++)
            mpfr_clear(v->f[i]);
    free(v->f);
    memset(v, 0, sizeof *v);
}

/*
 * Reduced row echelon form in place; piv[] (n entries) gets the pivot
 * columns in order; returns the rank.
 */
static long mat_rref(mat *A, long *piv)
{
    if (A->exact) {
        long r = (long)nmod_mat_rref(A->a);
        long k = 0;
        for (slong i = 0; i < r; i++)
            for (size_t j = 0; j < A->n; j++)
                if (nmod_mat_entry(A->a, i, j)) {
                    piv[k++] = (long)j;
                    break;
                }
        return r;
    }
    mpfr_t big, t, u;
    mpfr_inits2(SYM_PREC, big, t, u, (mpfr_ptr)0);
    mpfr_set_zero(big, 1);
    for (size_t i = 0; i < A->m * A->n; i++)
        if (mpfr_cmpabs(A->f[i], big) > 0)
            mpfr_abs(big, A->f[i], MPFR_RNDN);
    double kept = 1, dropped = 0;
    size_t r = 0;
    for (size_t c = 0; c < A->n && r < A->m && !mpfr_zero_p(big); c++) {
        size_t best = r;
        for (size_t i = r + 1; i < A->m; i++)
            if (mpfr_cmpabs(MF(A, i, c), MF(A, best, c)) > 0)
                best = i;
        mpfr_div(t, MF(A, best, c), big, MPFR_RNDN);
        double rel = fabs(mpfr_get_d(t, MPFR_RNDN));
        if (mpfr_get_exp(t) < -(mpfr_exp_t)(SYM_PREC / 2) || mpfr_zero_p(t)) {
            if (rel > dropped)
                dropped = rel;
            continue;
        }
        if (rel < kept)
            kept = rel;
        if (best != r)
            for (size_t j = 0; j < A->n; j++)
                mpfr_swap(MF(A, best, j), MF(A, r, j));
        mpfr_set(u, MF(A, r, c), MPFR_RNDN);
        for (size_t j = c; j < A->n; j++)
            mpfr_div(MF(A, r, j), MF(A, r, j), u, MPFR_RNDN);
        for (size_t i = 0; i < A->m; i++) {
            if (i == r || mpfr_zero_p(MF(A, i, c)))
                continue;
            mpfr_set(u, MF(A, i, c), MPFR_RNDN);
            for (size_t j = c; j < A->n; j++) {
                mpfr_mul(t, u, MF(A, r, j), MPFR_RNDN);
                mpfr_sub(MF(A, i, j), MF(A, i, j), t, MPFR_RNDN);
            }
        }
        piv[r++] = (long)c;
    }
    mpfr_clears(big, t, u, (mpfr_ptr)0);
    A->kept = kept;
    A->dropped = dropped;
    return (long)r;
}

/* Recognise x as a small rational (denominator below 2^32), to half the precision. */
static int recognise(mpq_t out, mpfr_srcptr x)
{
    if (mpfr_zero_p(x)) {
        mpq_set_ui(out, 0, 1);
        return 1;
    }
    mpfr_t y, f, err, tol;
    mpfr_inits2(SYM_PREC, y, f, err, tol, (mpfr_ptr)0);
    mpz_t h0, h1, k0, k1, a, tz;
    mpz_inits(h0, h1, k0, k1, a, tz, NULL);
    mpz_set_ui(h0, 0), mpz_set_ui(h1, 1), mpz_set_ui(k0, 1), mpz_set_ui(k1, 0);
    mpfr_set(y, x, MPFR_RNDN);
    mpfr_abs(tol, x, MPFR_RNDN);
    if (mpfr_cmp_ui(tol, 1) < 0)
        mpfr_set_ui(tol, 1, MPFR_RNDN);
    mpfr_mul_2si(tol, tol, -(long)(SYM_PREC / 2), MPFR_RNDN);
    int ok = 0;
    for (int it = 0; it < 64; it++) {
        mpfr_floor(f, y);
        mpfr_get_z(a, f, MPFR_RNDN);
        /* h = a h1 + h0, k = a k1 + k0 */
        mpz_mul(tz, a, h1), mpz_add(tz, tz, h0), mpz_set(h0, h1), mpz_set(h1, tz);
        mpz_mul(tz, a, k1), mpz_add(tz, tz, k0), mpz_set(k0, k1), mpz_set(k1, tz);
        if (mpz_sizeinbase(k1, 2) > 32)
            break;
        mpfr_set_z(err, h1, MPFR_RNDN);
        mpfr_div_z(err, err, k1, MPFR_RNDN);
        mpfr_sub(err, err, x, MPFR_RNDN);
        if (mpfr_cmpabs(err, tol) <= 0) {
            mpz_set(mpq_numref(out), h1);
            mpz_set(mpq_denref(out), k1);
            mpq_canonicalize(out);
            ok = 1;
            break;
        }
        mpfr_sub(y, y, f, MPFR_RNDN);
        if (mpfr_zero_p(y))
            break;
        mpfr_ui_div(y, 1, y, MPFR_RNDN);
    }
    mpz_clears(h0, h1, k0, k1, a, tz, NULL);
    mpfr_clears(y, f, err, tol, (mpfr_ptr)0);
    return ok;
}

/*
 * The null space of an rref'd matrix (rank r, pivots piv) as rational
 * vectors: one per free column f, with 1 at f.  out[k * n + j].  0 when an
 * entry cannot be lifted, -1 when out of memory.
 */
static int null_basis(const mat *A, long r, const long *piv, mpq_t *out)
{
    size_t n = A->n, k = 0;
    unsigned char *isp = calloc(n ? n : 1, 1);
    if (!isp)
        return -1;
    for (long i = 0; i < r; i++)
        isp[piv[i]] = 1;
    int ok = 1;
    for (size_t f = 0; f < n; f++) {
        if (isp[f])
            continue;
        mpq_t *v = out + k * n;
        for (size_t j = 0; j < n; j++)
            mpq_set_ui(v[j], j == f, 1);
        for (long i = 0; i < r; i++) {
            if (A->exact) {
                mp_limb_t e = nmod_mat_entry(A->a, i, f);
                ok &= lift(v[piv[i]], e ? A->a->mod.n - e : 0, A->a->mod.n);
            } else {
                mpfr_t t;
                mpfr_init2(t, SYM_PREC);
                mpfr_neg(t, MF(A, i, f), MPFR_RNDN);
                ok &= recognise(v[piv[i]], t);
                mpfr_clear(t);
            }
        }
        k++;
    }
    free(isp);
    return ok;
}

/* ================= Jacobians ================= */

typedef struct route {
    int exact;
    mp_limb_t p;              /* exact: the prime in use */
    nmod_t mod;
} route;

/* a random param value: a residue, or a magnitude in [0.1, 1.5) of either sign */
static void rnd_param(model *M, const route *rt, vec *v, size_t i)
{
    if (rt->exact) {
        v->r[i] = rng_next(&M->rng) % rt->p;
    } else {
        double m = 0.1 + 1.4 * rng_unit(&M->rng);
        mpfr_set_d(v->f[i], rng_next(&M->rng) & 1 ? -m : m, MPFR_RNDN);
    }
}

static void rnd_data(model *M, const route *rt, vec *v)
{
    for (size_t i = 0; i < v->n; i++) {
        if (rt->exact)
            v->r[i] = rng_next(&M->rng) % rt->p;
        else
            mpfr_set_d(v->f[i], 4 * rng_unit(&M->rng) - 2, MPFR_RNDN);
    }
}

/*
 * The rows of J at theta: ns samples (data: column-major, ncol x ns), one row
 * per sample and output, then nloss rows of dC/dtheta, each at a random data
 * set of SYM_LOSS_ROWS samples.  1, or 0 where a value is undefined.
 */
static int jac_at(model *M, const route *rt, mat *J, const vec *theta, size_t ns, const vec *data, size_t nloss,
                  gp_status *st)
{
    size_t P = M->P;
    int ok = 1;
    *st = GP_OK;
    if (rt->exact) {
        tape_nmod w;
        if ((*st = tape_nmod_init(&w, &M->tj, ns, rt->p)) != GP_OK)
            return 0;
        ok = tape_nmod_forward(&w, theta->r, data->r);
        for (size_t s = 0; ok && s < ns; s++)
            for (size_t k = 0; k < M->nout; k++)
                for (size_t i = 0; i < P; i++)
                    nmod_mat_entry(J->a, s * M->nout + k, i) = tape_nmod_value(&w, k * P + i, s);
        tape_nmod_free(&w);
    } else {
        tape_mpfr w;
        eval_fault f = {GP_NIL, NULL, -1};
        if ((*st = tape_mpfr_init(&w, &M->tj, ns, SYM_PREC)) != GP_OK)
            return 0;
        tape_mpfr_forward(&w, theta->f, data->f, NULL, &f);
        ok = f.what == NULL;
        if (!ok && M->fault.node == GP_NIL)
            M->fault = f;
        for (size_t s = 0; ok && s < ns; s++)
            for (size_t k = 0; k < M->nout; k++)
                for (size_t i = 0; i < P; i++)
                    mpfr_set(MF(J, s * M->nout + k, i), tape_mpfr_value(&w, k * P + i, s), MPFR_RNDN);
        tape_mpfr_free(&w);
    }
    if (!ok || !nloss)
        return ok;
    size_t nl = SYM_LOSS_ROWS;
    vec d;
    if (!vec_init(&d, rt->exact, M->ncol * nl)) {
        *st = GP_ENOMEM;
        return 0;
    }
    for (size_t r = 0; ok && r < nloss; r++) {
        rnd_data(M, rt, &d);
        size_t row = ns * M->nout + r;
        if (rt->exact) {
            tape_nmod w;
            if ((*st = tape_nmod_init(&w, &M->tl, nl, rt->p)) != GP_OK) {
                ok = 0;
                break;
            }
            ok = tape_nmod_forward(&w, theta->r, d.r);
            for (size_t i = 0; ok && i < P; i++)
                nmod_mat_entry(J->a, row, i) = tape_nmod_value(&w, i, 0);
            tape_nmod_free(&w);
        } else {
            tape_mpfr w;
            eval_fault f = {GP_NIL, NULL, -1};
            if ((*st = tape_mpfr_init(&w, &M->tl, nl, SYM_PREC)) != GP_OK) {
                ok = 0;
                break;
            }
            tape_mpfr_forward(&w, theta->f, d.f, NULL, &f);
            ok = f.what == NULL;
            if (!ok && M->fault.node == GP_NIL)
                M->fault = f;
            for (size_t i = 0; ok && i < P; i++)
                mpfr_set(MF(J, row, i), tape_mpfr_value(&w, i, 0), MPFR_RNDN);
            tape_mpfr_free(&w);
        }
    }
    vec_clear(&d);
    return ok;
}

/*
 * J at a random point (theta: params given in fixed[] (ordinal list, values
 * fval) are held, the others random) over ns random samples; redrawn where
 * undefined.  theta receives the point.
 */
static gp_status jac_random(model *M, const route *rt, mat *J, vec *theta, size_t ns, size_t nloss)
{
    vec data;
    if (!vec_init(&data, rt->exact, M->ncol * ns))
        return GP_ENOMEM;
    gp_status st = GP_OK;
    int ok = 0;
    for (int tries = 0; tries < 16 && !ok && st == GP_OK; tries++) {
        for (size_t i = 0; i < M->P; i++)
            rnd_param(M, rt, theta, i);
        rnd_data(M, rt, &data);
        ok = jac_at(M, rt, J, theta, ns, &data, nloss, &st);
    }
    vec_clear(&data);
    if (st == GP_OK && !ok)
        M->nopoint = 1; /* symmetry_run turns it into an unknown report */
    return st != GP_OK ? st : ok ? GP_OK : GP_EINTERNAL;
}

static int mat_new_j(mat *J, const model *M, const route *rt, size_t ns, size_t nloss)
{
    return mat_init(J, rt->exact, ns * M->nout + nloss, M->P, rt->p);
}

static void mat_copy_cols(mat *dst, const mat *src, const uint32_t *cols, size_t ncols)
{
    for (size_t i = 0; i < src->m; i++)
        for (size_t k = 0; k < ncols; k++) {
            if (src->exact)
                nmod_mat_entry(dst->a, i, k) = nmod_mat_entry(src->a, i, cols[k]);
            else
                mpfr_set(MF(dst, i, k), MF(src, i, cols[k]), MPFR_RNDN);
        }
}

static long rank_of(mat *A, gp_status *st)
{
    long *piv = malloc((A->n ? A->n : 1) * sizeof *piv);
    if (!piv) {
        *st = GP_ENOMEM;
        return -1;
    }
    long r = mat_rref(A, piv);
    free(piv);
    return r;
}

/*
 * Does the loss depend on the params other than through the outputs?  The
 * DAG alone cannot say (a loss may repeat an output's expression inline), so
 * ask the Jacobians: at random points, is dC/dtheta in the span of the
 * output rows of the same samples?
 */
static gp_status direct_semantic(model *M, const route *rt)
{
    size_t P = M->P, ns = 1; /* one sample: the fewest output rows */
    mat J, K;
    vec th, data;
    if (!mat_new_j(&J, M, rt, ns, 1))
        return GP_ENOMEM;
    if (!mat_new_j(&K, M, rt, ns, 0) || !vec_init(&th, rt->exact, P) || !vec_init(&data, rt->exact, M->ncol * ns)) {
        mat_clear(&J);
        return GP_ENOMEM;
    }
    gp_status st = GP_OK;
    M->direct = 0;
    for (int pt = 0, done = 0; pt < 16 && done < 2 && st == GP_OK && !M->direct; pt++) {
        for (size_t i = 0; i < P; i++)
            rnd_param(M, rt, &th, i);
        rnd_data(M, rt, &data);
        if (!jac_at(M, rt, &J, &th, ns, &data, 0, &st))
            continue;
        /* the loss row at the same data */
        int ok;
        if (rt->exact) {
            tape_nmod w;
            if ((st = tape_nmod_init(&w, &M->tl, ns, rt->p)) != GP_OK)
                break;
            ok = tape_nmod_forward(&w, th.r, data.r);
            for (size_t i = 0; ok && i < P; i++)
                nmod_mat_entry(J.a, ns * M->nout, i) = tape_nmod_value(&w, i, 0);
            tape_nmod_free(&w);
        } else {
            tape_mpfr w;
            eval_fault f = {GP_NIL, NULL, -1};
            if ((st = tape_mpfr_init(&w, &M->tl, ns, SYM_PREC)) != GP_OK)
                break;
            tape_mpfr_forward(&w, th.f, data.f, NULL, &f);
            ok = f.what == NULL;
            for (size_t i = 0; ok && i < P; i++)
                mpfr_set(MF(&J, ns * M->nout, i), tape_mpfr_value(&w, i, 0), MPFR_RNDN);
            tape_mpfr_free(&w);
        }
        if (!ok)
            continue;
        for (size_t r = 0; r < K.m; r++)
            for (size_t i = 0; i < P; i++) {
                if (rt->exact)
                    nmod_mat_entry(K.a, r, i) = nmod_mat_entry(J.a, r, i);
                else
                    mpfr_set(MF(&K, r, i), MF(&J, r, i), MPFR_RNDN);
            }
        long r1 = rank_of(&K, &st), r2 = rank_of(&J, &st);
        M->direct = r2 > r1;
        done++;
    }
    vec_clear(&th);
    vec_clear(&data);
    mat_clear(&J);
    mat_clear(&K);
    return st;
}

/* ---- rank, data rank, clamp sets ---- */

static gp_status data_vec(model *M, const route *rt, vec *d, int *bad)
{
    gp_case *cs = M->cs;
    size_t ns = cs->nrows;
    if (!vec_init(d, rt->exact, M->ncol * ns))
        return GP_ENOMEM;
    for (size_t j = 0; j < M->ncol; j++)
        for (size_t s = 0; s < ns; s++) {
            if (M->dmap[j] < 0) {
                *bad = 1;
                continue;
            }
            mpq_srcptr q = cs->dval[s * cs->ncols + (size_t)M->dmap[j]];
            if (rt->exact)
                d->r[j * ns + s] = q_res(q, rt->mod, bad);
            else
                mpfr_set_q(d->f[j * ns + s], q, MPFR_RNDN);
        }
    return GP_OK;
}

/* The rank of the kept columns (all but clamp[]) at theta0 with the clamped
   params set to v (NULL: as they are), over ns fresh random samples. */
static long clamp_rank(model *M, const route *rt, const vec *theta0, const uint32_t *clamp, size_t nclamp,
                       const mpq_t v, gp_status *st)
{
    size_t P = M->P, ns = samples_for(M, P);
    vec th, data;
    mat J, K;
    long r = -1;
    unsigned char *isc = calloc(P ? P : 1, 1);
    uint32_t *keep = malloc((P ? P : 1) * sizeof *keep);
    if (!isc || !keep || !vec_init(&th, rt->exact, P)) {
        free(isc);
        free(keep);
        *st = GP_ENOMEM;
        return -1;
    }
    size_t nk = 0;
    for (size_t k = 0; k < nclamp; k++)
        isc[clamp[k]] = 1;
    for (size_t i = 0; i < P; i++)
        if (!isc[i])
            keep[nk++] = (uint32_t)i;
    int bad = 0;
    for (size_t i = 0; i < P; i++) {
        if (rt->exact)
            th.r[i] = isc[i] && v ? q_res(v, rt->mod, &bad) : theta0->r[i];
        else if (isc[i] && v)
            mpfr_set_q(th.f[i], v, MPFR_RNDN);
        else
            mpfr_set(th.f[i], theta0->f[i], MPFR_RNDN);
    }
    if (!vec_init(&data, rt->exact, M->ncol * ns) || !mat_new_j(&J, M, rt, ns, 0)) {
        *st = GP_ENOMEM;
    } else {
        int ok = 0;
        for (int tries = 0; tries < 8 && !ok && *st == GP_OK; tries++) {
            rnd_data(M, rt, &data);
            ok = jac_at(M, rt, &J, &th, ns, &data, 0, st);
        }
        if (ok && mat_init(&K, rt->exact, J.m, nk, rt->p)) {
            mat_copy_cols(&K, &J, keep, nk);
            r = rank_of(&K, st);
            mat_clear(&K);
        } else if (ok) {
            *st = GP_ENOMEM;
        }
        mat_clear(&J);
    }
    vec_clear(&data);
    vec_clear(&th);
    free(isc);
    free(keep);
    return r;
}

/*
 * Numeric route: the rank from the singular values of J (one-sided Jacobi
 * in MPFR), cut where they fall below 2^-(prec/2) of the largest; the gap
 * at the cut is reported.  The elimination that chooses the clamp set runs
 * after it on the same matrix.
 */
static gp_status svd_rank_of(const mat *J, sym_report *R)
{
    size_t k = J->m < J->n ? J->m : J->n;
    mpfr_t *sv = malloc((k ? k : 1) * sizeof *sv);
    if (!sv)
        return GP_ENOMEM;
    for (size_t i = 0; i < k; i++)
        mpfr_init2(sv[i], 64);
    gp_status st = GP_OK;
    int rc = svd_mpfr_values(J->f, J->m, J->n, SYM_PREC, sv, 0);
    if (rc == -2)
        st = GP_ENOMEM;
    if (rc == 0) {
        svd_rank sr;
        svd_mpfr_rank(sv, k, SYM_PREC, &sr);
        if (sr.rank >= 0) {
            R->svd = 1;
            R->rank = sr.rank;
            R->svd_kept = sr.kept;
            R->svd_dropped = sr.dropped;
            R->svd_gap_log2 = sr.gap_log2;
        }
    }
    for (size_t i = 0; i < k; i++)
        mpfr_clear(sv[i]);
    free(sv);
    return st;
}

static gp_status do_rank(model *M, const route *rt, const sym_opts *o, sym_report *R, vec *theta0)
{
    size_t P = M->P, ns = samples_for(M, P);
    R->samples = ns;
    mat J;
    if (!mat_new_j(&J, M, rt, ns, 0))
        return GP_ENOMEM;
    gp_status st = jac_random(M, rt, &J, theta0, ns, 0);
    long *piv = malloc((P ? P : 1) * sizeof *piv);
    if (st == GP_OK && !piv)
        st = GP_ENOMEM;
    if (st == GP_OK && !rt->exact && P <= SYM_SVD_MAX)
        st = svd_rank_of(&J, R);
    if (st == GP_OK) {
        long r = mat_rref(&J, piv);
        R->sv_kept = J.kept;
        R->sv_dropped = J.dropped;
        R->rank_pivots = r;
        if (!R->svd)
            R->rank = r;
        if (!rt->exact) {
            double gap = R->svd ? (R->svd_dropped > 0 ? R->svd_gap_log2 : HUGE_VAL)
                                : (R->sv_dropped > 0 && R->sv_kept > 0 ? log2(R->sv_kept / R->sv_dropped) : HUGE_VAL);
            R->rank_uncertain = R->rank_pivots != R->rank || gap < SYM_GAP_MIN_BITS;
        }
        R->nnull = P - (size_t)R->rank;
        unsigned char *isp = calloc(P ? P : 1, 1);
        R->clamp = malloc((P ? P : 1) * sizeof *R->clamp);
        if (!isp || !R->clamp) {
            st = GP_ENOMEM;
        } else {
            for (long i = 0; i < R->rank; i++)
                isp[piv[i]] = 1;
            for (size_t i = 0; i < P; i++)
                if (!isp[i])
                    R->clamp[R->nclamp++] = (uint32_t)i;
        }
        free(isp);
    }
    free(piv);
    mat_clear(&J);
    /* the rank on the case's own data, at the same point */
    R->rank_data = -1;
    if (st == GP_OK && M->cs->has_data) {
        vec d;
        int bad = 0;
        st = data_vec(M, rt, &d, &bad);
        mat D;
        if (st == GP_OK && !bad && !mat_new_j(&D, M, rt, M->cs->nrows, 0)) {
            st = GP_ENOMEM;
        } else if (st == GP_OK && !bad) {
            if (jac_at(M, rt, &D, theta0, M->cs->nrows, &d, 0, &st))
                R->rank_data = rank_of(&D, &st);
            mat_clear(&D);
        }
        vec_clear(&d);
    }
    /* a proposed clamp set: valid when the kept columns keep the rank, for
       generic clamp values; the values 0, 1, -1 tried too */
    if (st == GP_OK && o->clamp) {
        R->uclamp_given = 1;
        R->uclamp_rank = clamp_rank(M, rt, theta0, o->clamp, o->nclamp, NULL, &st);
        R->uclamp_valid = !R->rank_uncertain && R->uclamp_rank == R->rank && o->nclamp == R->nnull;
        mpq_t v;
        mpq_init(v);
        static const long vals[3] = {0, 1, -1};
        for (int k = 0; k < 3 && st == GP_OK; k++) {
            mpq_set_si(v, vals[k], 1);
            R->uclamp_break[k] = clamp_rank(M, rt, theta0, o->clamp, o->nclamp, v, &st) < R->rank;
        }
        mpq_clear(v);
    }
    return st;
}

/* ---- linear symmetries: J(theta, x) (A theta + b) = 0 ---- */

static void field_free(sym_field *f)
{
    for (size_t k = 0; k < f->n; k++)
        mpq_clear(f->q[k]);
    free(f->q);
    free(f->row);
    free(f->col);
    memset(f, 0, sizeof *f);
}

/* Scale to coprime integers with a positive first entry. */
static void field_normalise(sym_field *f)
{
    if (!f->n)
        return;
    mpz_t g, l;
    mpz_init_set_ui(g, 0);
    mpz_init_set_ui(l, 1);
    for (size_t k = 0; k < f->n; k++) {
        mpz_gcd(g, g, mpq_numref(f->q[k]));
        mpz_lcm(l, l, mpq_denref(f->q[k]));
    }
    mpq_t s;
    mpq_init(s);
    mpz_set(mpq_numref(s), l);
    mpz_set(mpq_denref(s), g);
    mpq_canonicalize(s);
    if (mpq_sgn(f->q[0]) < 0)
        mpq_neg(s, s);
    for (size_t k = 0; k < f->n; k++)
        mpq_mul(f->q[k], f->q[k], s);
    mpq_clear(s);
    mpz_clear(g);
    mpz_clear(l);
}

/* A field from a solution vector over the unknowns (pairs, then translations). */
static int field_from(sym_field *f, const mpq_t *x, const uint32_t *pi, const uint32_t *pj, size_t npairs, size_t P)
{
    size_t n = 0, U = npairs + P;
    for (size_t k = 0; k < U; k++)
        n += mpq_sgn(x[k]) != 0;
    f->n = n;
    f->row = malloc((n ? n : 1) * sizeof *f->row);
    f->col = malloc((n ? n : 1) * sizeof *f->col);
    f->q = malloc((n ? n : 1) * sizeof *f->q);
    if (!f->row || !f->col || !f->q) {
        f->n = 0;
        return 0;
    }
    n = 0;
    for (size_t k = 0; k < U; k++) {
        if (!mpq_sgn(x[k]))
            continue;
        f->row[n] = k < npairs ? pi[k] : (uint32_t)(k - npairs);
        f->col[n] = k < npairs ? pj[k] : (uint32_t)P;
        mpq_init(f->q[n]);
        mpq_set(f->q[n], x[k]);
        n++;
    }
    field_normalise(f);
    return 1;
}

/* v = A theta + b in the route's arithmetic. */
static void field_apply(const sym_field *f, const route *rt, const vec *theta, vec *v, size_t P, int *bad)
{
    mpfr_t t;
    if (!rt->exact)
        mpfr_init2(t, SYM_PREC);
    for (size_t i = 0; i < P; i++) {
        if (rt->exact)
            v->r[i] = 0;
        else
            mpfr_set_zero(v->f[i], 1);
    }
    for (size_t k = 0; k < f->n; k++) {
        uint32_t i = f->row[k], j = f->col[k];
        if (rt->exact) {
            mp_limb_t q = q_res(f->q[k], rt->mod, bad);
            v->r[i] = nmod_add(v->r[i], j == P ? q : nmod_mul(q, theta->r[j], rt->mod), rt->mod);
        } else {
            mpfr_set_q(t, f->q[k], MPFR_RNDN);
            if (j != P)
                mpfr_mul(t, t, theta->f[j], MPFR_RNDN);
            mpfr_add(v->f[i], v->f[i], t, MPFR_RNDN);
        }
    }
    if (!rt->exact)
        mpfr_clear(t);
}

/* Is every row of J orthogonal to v?  Numeric: to 2^-150 of sum |J||v|. */
static int rows_kill(const mat *J, const route *rt, const vec *v)
{
    mpfr_t dot, mag, t;
    if (!rt->exact)
        mpfr_inits2(SYM_PREC, dot, mag, t, (mpfr_ptr)0);
    int ok = 1;
    for (size_t r = 0; r < J->m && ok; r++) {
        if (rt->exact) {
            mp_limb_t d = 0;
            for (size_t i = 0; i < J->n; i++)
                d = nmod_add(d, nmod_mul(nmod_mat_entry(J->a, r, i), v->r[i], rt->mod), rt->mod);
            ok = d == 0;
        } else {
            mpfr_set_zero(dot, 1);
            mpfr_set_zero(mag, 1);
            for (size_t i = 0; i < J->n; i++) {
                mpfr_mul(t, MF(J, r, i), v->f[i], MPFR_RNDN);
                mpfr_add(dot, dot, t, MPFR_RNDN);
                mpfr_abs(t, t, MPFR_RNDN);
                mpfr_add(mag, mag, t, MPFR_RNDN);
            }
            mpfr_mul_2si(mag, mag, -150, MPFR_RNDN);
            ok = mpfr_cmpabs(dot, mag) <= 0;
        }
    }
    if (!rt->exact)
        mpfr_clears(dot, mag, t, (mpfr_ptr)0);
    return ok;
}

/*
 * The linear vector fields with A restricted to the pairs (pi[k], pj[k]),
 * plus translations, that J kills for all theta and x.  Fields verified at
 * fresh points (exact route: modulo a second prime) are kept in *out;
 * *verified = 0 when some solution failed to lift or to verify.
 */
static gp_status solve_fields(model *M, const route *rt, const route *rt2, const uint32_t *pi, const uint32_t *pj,
                              size_t npairs, sym_field **out, size_t *nout, int *verified)
{
    size_t P = M->P, U = npairs + P, need = U + SYM_MARGIN;
    size_t nloss = M->direct ? SYM_LOSS_ROWS : 0, ns = samples_for(M, P);
    /* E holds the equations found so far, reduced, and room for a batch of
       new ones: the rows of fresh points are not independent of the old
       ones (a point may add a single new equation), so batches are added
       until one adds nothing, which at a random point of a system that is
       not yet complete happens with probability below degree/p */
    size_t cap = need + (P > U / 4 ? P : U / 4) + nloss;
    *out = NULL;
    *nout = 0;
    *verified = 1;
    mat E, J;
    vec th, v;
    long *piv = malloc((U > P ? U : P) * sizeof *piv + 1);
    if (!piv || !mat_init(&E, rt->exact, cap, U, rt->p)) {
        free(piv);
        return GP_ENOMEM;
    }
    gp_status st = GP_OK;
    if (!mat_new_j(&J, M, rt, ns, nloss) || !vec_init(&th, rt->exact, P)) {
        mat_clear(&E);
        free(piv);
        return GP_ENOMEM;
    }
    size_t e = 0;
    int stall = 0, reduced = 0;
    long r = -1;
    for (int round = 0; st == GP_OK; round++) {
        while (e < E.m && st == GP_OK && stall < 4) {
            if ((st = jac_random(M, rt, &J, &th, ns, nloss)) != GP_OK)
                break;
            long rr = mat_rref(&J, piv);
            if (rr == 0) {
                stall++;
                continue;
            }
            for (long q = 0; q < rr && e < E.m; q++, e++) {
                for (size_t k = 0; k < npairs; k++) {
                    if (rt->exact)
                        nmod_mat_entry(E.a, e, k) = nmod_mul(nmod_mat_entry(J.a, q, pi[k]), th.r[pj[k]], rt->mod);
                    else
                        mpfr_mul(MF(&E, e, k), MF(&J, q, pi[k]), th.f[pj[k]], MPFR_RNDN);
                }
                for (size_t i = 0; i < P; i++) {
                    if (rt->exact)
                        nmod_mat_entry(E.a, e, npairs + i) = nmod_mat_entry(J.a, q, i);
                    else
                        mpfr_set(MF(&E, e, npairs + i), MF(&J, q, i), MPFR_RNDN);
                }
            }
        }
        if (st != GP_OK || e < E.m)
            break;  /* the points give no rows: what there is will do */
        long rn = mat_rref(&E, piv);
        reduced = 1;
        if (rn == r || (size_t)rn == U || round >= SYM_FIELD_ROUNDS) {
            r = rn;
            break;
        }
        r = rn;
        e = (size_t)r;
        reduced = 0;
    }
    mat_clear(&J);
    if (st == GP_OK && !reduced) {
        /* a partial batch: clear the rows after it, and reduce */
        for (size_t i = e; i < E.m; i++)
            for (size_t k = 0; k < U; k++) {
                if (rt->exact)
                    nmod_mat_entry(E.a, i, k) = 0;
                else
                    mpfr_set_zero(MF(&E, i, k), 1);
            }
        r = mat_rref(&E, piv);
    }
    if (st != GP_OK)
        r = 0;
    size_t nsol = st == GP_OK ? U - (size_t)r : 0;
    mpq_t *x = NULL;
    if (st == GP_OK && nsol && e > 0) {
        x = malloc(nsol * U * sizeof *x);
        *out = calloc(nsol, sizeof **out);
        if (!x || !*out) {
            free(x);
            x = NULL;
            st = GP_ENOMEM;
        } else {
            for (size_t k = 0; k < nsol * U; k++)
                mpq_init(x[k]);
            int lifted = null_basis(&E, r, piv, x);
            if (lifted < 0)
                st = GP_ENOMEM;
            else if (!lifted)
                *verified = 0;
        }
    }
    mat_clear(&E);
    /* verify each solution at fresh points, in the second route */
    size_t nf = 0;
    if (x && st == GP_OK) {
        vec th2;
        mat J2;
        unsigned char *good = NULL;
        memset(&th2, 0, sizeof th2);
        memset(&J2, 0, sizeof J2);
        if (!vec_init(&v, rt2->exact, P) || !vec_init(&th2, rt2->exact, P) || !mat_new_j(&J2, M, rt2, ns, nloss) ||
            !(good = malloc(nsol))) {
            st = GP_ENOMEM;
        } else {
            memset(good, 1, nsol);
            for (int pt = 0; pt < SYM_CHECK_POINTS && st == GP_OK; pt++) {
                if ((st = jac_random(M, rt2, &J2, &th2, ns, nloss)) != GP_OK)
                    break;
                for (size_t s = 0; s < nsol; s++) {
                    if (!good[s])
                        continue;
                    sym_field f = {0, NULL, NULL, NULL};
                    int bad = 0;
                    if (!field_from(&f, x + s * U, pi, pj, npairs, P)) {
                        st = GP_ENOMEM;
                        break;
                    }
                    field_apply(&f, rt2, &th2, &v, P, &bad);
                    if (bad || !rows_kill(&J2, rt2, &v))
                        good[s] = 0;
                    field_free(&f);
                }
            }
            for (size_t s = 0; s < nsol && st == GP_OK; s++) {
                if (!good[s]) {
                    *verified = 0;
                    continue;
                }
                if (!field_from(&(*out)[nf], x + s * U, pi, pj, npairs, P))
                    st = GP_ENOMEM;
                else
                    nf++;
            }
        }
        free(good);
        mat_clear(&J2);
        vec_clear(&th2);
        vec_clear(&v);
    }
    if (x) {
        for (size_t k = 0; k < nsol * U; k++)
            mpq_clear(x[k]);
        free(x);
    }
    *nout = nf;
    vec_clear(&th);
    free(piv);
    return st;
}

/*
 * The layer of each param, for block-diagonal A: the depth of the sum it
 * enters (directly, as a bias, or through a product, as a weight), so that
 * a layer's weights and biases share a block.
 */
static gp_status param_layers(model *M, uint32_t *layer)
{
    gp_ctx *c = M->c;
    uint32_t *addp = malloc((c->nnode ? c->nnode : 1) * sizeof *addp);
    if (!addp)
        return GP_ENOMEM;
    unsigned char *cone = calloc(c->nnode ? c->nnode : 1, 1);
    if (!cone) {
        free(addp);
        return GP_ENOMEM;
    }
    /* the forward network only: derivative and claim nodes share the DAG */
    dag_reach(c, 1, &M->cs->loss, cone);
    dag_reach(c, M->nout, M->out, cone);
    for (size_t i = 0; i < c->nnode; i++)
        addp[i] = UINT32_MAX;
    for (gp_id id = 0; id < c->nnode; id++)
        if (cone[id] && c->node[id].op == GP_OP_ADD)
            for (uint32_t k = 0; k < c->node[id].nkid; k++) {
                gp_id kid = c->node[id].kid[k];
                if (c->node[id].depth < addp[kid])
                    addp[kid] = c->node[id].depth;
            }
    for (size_t i = 0; i < M->P; i++)
        layer[i] = UINT32_MAX;
    uint32_t *ord = calloc(c->nnode ? c->nnode : 1, sizeof *ord); /* param leaf node -> ordinal + 1 */
    if (!ord) {
        free(addp);
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < M->P; i++)
        ord[c->leaf[M->cs->params[i]].node] = (uint32_t)i + 1;
    for (gp_id id = 0; id < c->nnode; id++) {
        const gp_node *nd = &c->node[id];
        for (uint32_t k = 0; k < nd->nkid && cone[id]; k++) {
            uint32_t o = ord[nd->kid[k]];
            if (!o)
                continue;
            uint32_t d = nd->op == GP_OP_MUL && addp[id] != UINT32_MAX ? addp[id] : nd->depth;
            if (d < layer[o - 1])
                layer[o - 1] = d;
        }
    }
    free(ord);
    free(addp);
    free(cone);
    return GP_OK;
}

static gp_status do_linear(model *M, const route *rt, const route *rt2, const sym_opts *o, sym_report *R)
{
    size_t P = M->P, budget = o->max_unknowns ? o->max_unknowns : rt->exact ? SYM_MAX_UNKNOWNS : SYM_MAX_UNKNOWNS_NUM;
    uint32_t *layer = malloc((P ? P : 1) * sizeof *layer);
    if (!layer)
        return GP_ENOMEM;
    gp_status st = param_layers(M, layer);
    size_t nblock = 0;
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < P; j++)
            nblock += layer[i] == layer[j];
    size_t npairs;
    if (P * P + P <= budget) {
        R->pattern = SYM_FULL;
        npairs = P * P;
    } else if (nblock + P <= budget) {
        R->pattern = SYM_BLOCK;
        npairs = nblock;
    } else if (2 * P <= budget) {
        R->pattern = SYM_DIAGONAL;
        npairs = P;
    } else {
        R->pattern = SYM_NONE;
        npairs = 0;
    }
    uint32_t *pi = calloc(npairs + P + 1, sizeof *pi), *pj = calloc(npairs + P + 1, sizeof *pj);
    if (!pi || !pj)
        st = GP_ENOMEM;
    if (st == GP_OK && R->pattern != SYM_NONE && R->rank > 0) {
        size_t k = 0;
        for (size_t i = 0; i < P; i++)
            for (size_t j = 0; j < P; j++)
                if (R->pattern == SYM_FULL || (R->pattern == SYM_BLOCK && layer[i] == layer[j]) || i == j) {
                    if (R->pattern == SYM_DIAGONAL && i != j)
                        continue;
                    pi[k] = (uint32_t)i;
                    pj[k++] = (uint32_t)j;
                }
        npairs = k;
        R->unknowns = npairs + P;
        st = solve_fields(M, rt, rt2, pi, pj, npairs, &R->lin, &R->nlin, &R->lin_verified);
        /* the diagonal solutions: rescalings and translations */
        if (st == GP_OK) {
            for (size_t i = 0; i < P; i++)
                pi[i] = pj[i] = (uint32_t)i;
            int ver = 1;
            st = solve_fields(M, rt, rt2, pi, pj, P, &R->scale, &R->nscale, &ver);
            R->lin_verified &= ver;
        }
    }
    free(pi);
    free(pj);
    free(layer);
    return st;
}

/* ---- conserved quantities: the symmetric A among the solutions ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static long find_u64(const uint64_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == key ? (long)lo : -1;
}

static gp_status do_conserved(model *M, sym_report *R)
{
    size_t P = M->P, m = R->nlin;
    if (!m)
        return GP_OK;
    /* rows: the unordered off-diagonal pairs {i, j} any field touches */
    size_t nk = 0;
    for (size_t f = 0; f < m; f++)
        nk += R->lin[f].n;
    uint64_t *key = malloc((nk ? nk : 1) * sizeof *key);
    if (!key)
        return GP_ENOMEM;
    size_t n = 0;
    for (size_t f = 0; f < m; f++)
        for (size_t k = 0; k < R->lin[f].n; k++) {
            uint32_t i = R->lin[f].row[k], j = R->lin[f].col[k];
            if (j != P && i != j)
                key[n++] = (uint64_t)(i < j ? i : j) * (P + 1) + (i < j ? j : i);
        }
    qsort(key, n, sizeof *key, cmp_u64);
    size_t u = 0;
    for (size_t k = 0; k < n; k++)
        if (!u || key[u - 1] != key[k])
            key[u++] = key[k];
    fmpq_mat_t A, B;
    fmpq_mat_init(A, (slong)(u ? u : 1), (slong)m);
    fmpq_mat_init(B, (slong)(u ? u : 1), (slong)m);
    fmpq_t t;
    fmpq_init(t);
    for (size_t f = 0; f < m; f++)
        for (size_t k = 0; k < R->lin[f].n; k++) {
            uint32_t i = R->lin[f].row[k], j = R->lin[f].col[k];
            if (j == P || i == j)
                continue;
            long row = find_u64(key, u, (uint64_t)(i < j ? i : j) * (P + 1) + (i < j ? j : i));
            fmpq_set_mpq(t, R->lin[f].q[k]);
            if (i > j)
                fmpq_neg(t, t);
            fmpq_add(fmpq_mat_entry(A, row, f), fmpq_mat_entry(A, row, f), t);
        }
    slong r = fmpq_mat_rref(B, A);
    /* the null space of B: one combination c per free column */
    long *pivc = malloc((m + 1) * sizeof *pivc);
    unsigned char *isp = calloc(m + 1, 1);
    gp_status st = pivc && isp ? GP_OK : GP_ENOMEM;
    if (st == GP_OK && u == 0)
        r = 0;
    for (slong i = 0; st == GP_OK && i < r; i++)
        for (size_t f = 0; f < m; f++)
            if (!fmpq_is_zero(fmpq_mat_entry(B, i, f))) {
                pivc[i] = (long)f;
                isp[f] = 1;
                break;
            }
    size_t nfree = st == GP_OK ? m - (size_t)r : 0;
    R->cons = calloc(nfree ? nfree : 1, sizeof *R->cons);
    R->cons_drift = malloc((nfree ? nfree : 1) * sizeof *R->cons_drift);
    mpq_t *x = malloc(((P + 1) * (P + 1) + 1) * sizeof *x);
    if (!R->cons || !R->cons_drift || !x)
        st = GP_ENOMEM;
    mpq_t cf, prod;
    mpq_inits(cf, prod, NULL);
    for (size_t fr = 0; st == GP_OK && fr < m; fr++) {
        if (isp[fr])
            continue;
        /* coefficients: c[fr] = 1, c[pivc[i]] = -B[i][fr]; quantity entries in x (dense over i <= j) */
        size_t D = (P + 1) * (P + 1);
        for (size_t k = 0; k < D; k++)
            mpq_init(x[k]);
        for (slong i = -1; i < r; i++) {
            size_t f = i < 0 ? fr : (size_t)pivc[i];
            if (i < 0) {
                mpq_set_ui(cf, 1, 1);
            } else {
                fmpq_get_mpq(cf, fmpq_mat_entry(B, i, fr));
                mpq_neg(cf, cf);
            }
            if (!mpq_sgn(cf))
                continue;
            for (size_t k = 0; k < R->lin[f].n; k++) {
                uint32_t a = R->lin[f].row[k], b = R->lin[f].col[k];
                mpq_mul(prod, cf, R->lin[f].q[k]);
                /* theta' A theta: A[a][b] theta_a theta_b; symmetric, so the
                   (a, b) and (b, a) entries each add once to the a<=b term */
                if (b == P) {
                    mpq_add(prod, prod, prod); /* 2 b' theta */
                    mpq_add(x[a * (P + 1) + P], x[a * (P + 1) + P], prod);
                } else {
                    size_t lo = a < b ? a : b, hi = a < b ? b : a;
                    mpq_add(x[lo * (P + 1) + hi], x[lo * (P + 1) + hi], prod);
                }
            }
        }
        sym_field *q = &R->cons[R->ncons];
        size_t nz = 0;
        for (size_t k = 0; k < D; k++)
            nz += mpq_sgn(x[k]) != 0;
        q->row = malloc((nz ? nz : 1) * sizeof *q->row);
        q->col = malloc((nz ? nz : 1) * sizeof *q->col);
        q->q = malloc((nz ? nz : 1) * sizeof *q->q);
        if (!q->row || !q->col || !q->q) {
            st = GP_ENOMEM;
        } else {
            for (size_t k = 0; k < D; k++)
                if (mpq_sgn(x[k])) {
                    q->row[q->n] = (uint32_t)(k / (P + 1));
                    q->col[q->n] = (uint32_t)(k % (P + 1));
                    mpq_init(q->q[q->n]);
                    mpq_set(q->q[q->n], x[k]);
                    q->n++;
                }
            field_normalise(q);
            R->cons_drift[R->ncons] = -1;
            R->ncons += q->n > 0;
        }
        for (size_t k = 0; k < D; k++)
            mpq_clear(x[k]);
    }
    mpq_clears(cf, prod, NULL);
    free(x);
    free(pivc);
    free(isp);
    fmpq_clear(t);
    fmpq_mat_clear(A);
    fmpq_mat_clear(B);
    free(key);
    return st;
}

/* ---- discrete maps: theta'[perm[i]] = (neg[i] ? -1 : 1) theta[i] ---- */

/* The outputs and the loss at theta, over ns samples: vals[r * ns + s]
   (the loss at s = 0).  1, or 0 where undefined. */
static int values_at(model *M, const route *rt, const vec *theta, size_t ns, const vec *data, vec *vals,
                     gp_status *st)
{
    size_t nr = M->nout + 1;
    int ok;
    if (rt->exact) {
        tape_nmod w;
        if ((*st = tape_nmod_init(&w, &M->tv, ns, rt->p)) != GP_OK)
            return 0;
        ok = tape_nmod_forward(&w, theta->r, data->r);
        for (size_t r = 0; ok && r < nr; r++)
            for (size_t s = 0; s < ns; s++)
                vals->r[r * ns + s] = tape_nmod_value(&w, r, r < M->nout ? s : 0);
        tape_nmod_free(&w);
    } else {
        tape_mpfr w;
        eval_fault f = {GP_NIL, NULL, -1};
        if ((*st = tape_mpfr_init(&w, &M->tv, ns, SYM_PREC)) != GP_OK)
            return 0;
        tape_mpfr_forward(&w, theta->f, data->f, NULL, &f);
        ok = f.what == NULL;
        for (size_t r = 0; ok && r < nr; r++)
            for (size_t s = 0; s < ns; s++)
                mpfr_set(vals->f[r * ns + s], tape_mpfr_value(&w, r, r < M->nout ? s : 0), MPFR_RNDN);
        tape_mpfr_free(&w);
    }
    return ok;
}

/*
 * Does the map leave every output (at every sample) and the loss unchanged?
 * Checked at SYM_CHECK_POINTS random points, exactly modulo p or to 2^-150
 * relative.  1 yes, 0 no, -1 no point could be evaluated.
 */
static int map_preserves(model *M, const route *rt, const uint32_t *perm, const uint8_t *neg, gp_status *st)
{
    size_t P = M->P, ns = 4, nr = (M->nout + 1) * ns;
    vec th, th2, data, a, b;
    int res = 1, tried = 0;
    *st = GP_OK;
    /* cleared below whichever of them was made */
    memset(&th, 0, sizeof th);
    memset(&th2, 0, sizeof th2);
    memset(&data, 0, sizeof data);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (!vec_init(&th, rt->exact, P) || !vec_init(&th2, rt->exact, P) || !vec_init(&data, rt->exact, M->ncol * ns) ||
        !vec_init(&a, rt->exact, nr) || !vec_init(&b, rt->exact, nr)) {
        *st = GP_ENOMEM;
        res = -1;
    }
    mpfr_t d, tol;
    mpfr_inits2(SYM_PREC, d, tol, (mpfr_ptr)0);
    for (int pt = 0; res == 1 && pt < SYM_CHECK_POINTS * 4 && tried < SYM_CHECK_POINTS; pt++) {
        for (size_t i = 0; i < P; i++)
            rnd_param(M, rt, &th, i);
        rnd_data(M, rt, &data);
        for (size_t i = 0; i < P; i++) {
            size_t j = perm ? perm[i] : i;
            if (rt->exact)
                th2.r[j] = neg && neg[i] ? nmod_neg(th.r[i], rt->mod) : th.r[i];
            else if (neg && neg[i])
                mpfr_neg(th2.f[j], th.f[i], MPFR_RNDN);
            else
                mpfr_set(th2.f[j], th.f[i], MPFR_RNDN);
        }
        if (!values_at(M, rt, &th, ns, &data, &a, st) || !values_at(M, rt, &th2, ns, &data, &b, st)) {
            if (*st != GP_OK)
                res = -1;
            continue;
        }
        tried++;
        for (size_t k = 0; k < nr && res == 1; k++) {
            if (rt->exact) {
                res = a.r[k] == b.r[k];
            } else {
                mpfr_sub(d, a.f[k], b.f[k], MPFR_RNDN);
                mpfr_abs(tol, a.f[k], MPFR_RNDN);
                mpfr_add_ui(tol, tol, 1, MPFR_RNDN);
                mpfr_mul_2si(tol, tol, -150, MPFR_RNDN);
                res = mpfr_cmpabs(d, tol) <= 0;
            }
        }
    }
    mpfr_clears(d, tol, (mpfr_ptr)0);
    vec_clear(&th);
    vec_clear(&th2);
    vec_clear(&data);
    vec_clear(&a);
    vec_clear(&b);
    if (res == 1 && !tried)
        res = -1;
    return res;
}

/* The param ordinal of node id, or -1. */
static long param_of(const model *M, const uint32_t *ord, gp_id id)
{
    (void)M;
    return ord[id] ? (long)ord[id] - 1 : -1;
}

/* Candidate sign flips: from each rescaling with odd exponents, and from
   each odd or even activation (incoming weights, and for odd ones the
   outgoing); kept when verified. */
static gp_status do_flips(model *M, const route *rt, sym_report *R)
{
    gp_ctx *c = M->c;
    size_t P = M->P;
    size_t cap = 16;
    uint8_t *cand = calloc(cap * (P ? P : 1), 1);
    uint32_t *ord = calloc(c->nnode ? c->nnode : 1, sizeof *ord);
    unsigned char *reach = calloc(c->nnode ? c->nnode : 1, 1);
    uint32_t *npar = calloc(c->nnode ? c->nnode : 1, sizeof *npar);
    if (!cand || !ord || !reach || !npar) {
        free(cand);
        free(ord);
        free(reach);
        free(npar);
        return GP_ENOMEM;
    }
    for (size_t i = 0; i < P; i++)
        ord[c->leaf[M->cs->params[i]].node] = (uint32_t)i + 1;
    gp_id roots[2] = {M->cs->loss, M->cs->loss};
    dag_reach(c, 1, roots, reach);
    size_t n = 0;
    gp_status st = GP_OK;
#define NEWCAND()                                                                                                      \
    do {                                                                                                               \
        if (n == cap) {                                                                                                \
            uint8_t *g = realloc(cand, 2 * cap * P);                                                                   \
            if (!g) {                                                                                                  \
                st = GP_ENOMEM;                                                                                        \
                break;                                                                                                 \
            }                                                                                                          \
            cand = g;                                                                                                  \
            cap *= 2;                                                                                                  \
        }                                                                                                              \
        memset(cand + n * P, 0, P);                                                                                    \
    } while (0)
    for (size_t f = 0; f < R->nscale && st == GP_OK && P; f++) {
        const sym_field *s = &R->scale[f];
        int pure = 1, odd = 0;
        for (size_t k = 0; k < s->n; k++)
            pure &= s->col[k] != P && mpz_cmp_ui(mpq_denref(s->q[k]), 1) == 0;
        if (!pure)
            continue;
        NEWCAND();
        if (st != GP_OK)
            break;
        for (size_t k = 0; k < s->n; k++)
            if (mpz_odd_p(mpq_numref(s->q[k])))
                cand[n * P + s->row[k]] = 1, odd = 1;
        n += odd;
    }
    /* parents in the cone: how many, and are they all products with a param? */
    for (gp_id id = 0; id < c->nnode; id++)
        if (reach[id])
            for (uint32_t k = 0; k < c->node[id].nkid; k++)
                npar[c->node[id].kid[k]]++;
    for (gp_id u = 0; u < c->nnode && st == GP_OK && P; u++) {
        const gp_node *nd = &c->node[u];
        if (!reach[u] || !(nd->flags & GP_NF_PARAM))
            continue;
        int odd;
        if (nd->op == GP_OP_FN && (nd->fn == GP_FN_TANH || nd->fn == GP_FN_SIN))
            odd = 1;
        else if (nd->op == GP_OP_FN && (nd->fn == GP_FN_ABS || nd->fn == GP_FN_COS))
            odd = 0;
        else if (nd->op == GP_OP_POW && mpz_cmp_ui(mpq_denref(dag_q(c, nd->kid[1])), 1) == 0)
            odd = mpz_odd_p(mpq_numref(dag_q(c, nd->kid[1])));
        else
            continue;
        if (odd && nd->op == GP_OP_POW)
            continue; /* an odd power: the rescalings cover it */
        NEWCAND();
        if (st != GP_OK)
            break;
        uint8_t *x = cand + n * P;
        /* incoming: one param factor of every addend of the argument */
        gp_id a = nd->kid[0];
        size_t nadd = c->node[a].op == GP_OP_ADD ? c->node[a].nkid : 1;
        int ok = 1;
        for (size_t k = 0; k < nadd && ok; k++) {
            gp_id t = c->node[a].op == GP_OP_ADD ? c->node[a].kid[k] : a;
            long p = param_of(M, ord, t);
            if (p < 0 && c->node[t].op == GP_OP_MUL)
                for (uint32_t j = 0; j < c->node[t].nkid && p < 0; j++)
                    p = param_of(M, ord, c->node[t].kid[j]);
            if (p < 0)
                ok = 0;
            else
                x[p] ^= 1;
        }
        /* outgoing (odd): every use is a product with a param */
        if (ok && odd) {
            size_t seen = 0;
            for (gp_id q = u + 1; q < c->nnode && ok; q++) {
                if (!reach[q])
                    continue;
                for (uint32_t k = 0; k < c->node[q].nkid && ok; k++) {
                    if (c->node[q].kid[k] != u)
                        continue;
                    seen++;
                    long p = -1;
                    if (c->node[q].op == GP_OP_MUL)
                        for (uint32_t j = 0; j < c->node[q].nkid && p < 0; j++)
                            p = param_of(M, ord, c->node[q].kid[j]);
                    if (p < 0)
                        ok = 0;
                    else
                        x[p] ^= 1;
                }
            }
            ok &= seen == npar[u] && seen > 0;
        }
        int any = 0;
        for (size_t i = 0; i < P; i++)
            any |= x[i];
        n += ok && any;
    }
#undef NEWCAND
    /* verify, without repeats */
    R->flip = malloc((n ? n : 1) * (P ? P : 1));
    if (!R->flip)
        st = GP_ENOMEM;
    for (size_t k = 0; k < n && st == GP_OK; k++) {
        int dup = 0;
        for (size_t j = 0; j < R->nflip && !dup; j++)
            dup = !memcmp(R->flip + j * P, cand + k * P, P);
        if (dup)
            continue;
        if (map_preserves(M, rt, NULL, cand + k * P, &st) == 1)
            memcpy(R->flip + R->nflip++ * P, cand + k * P, P);
    }
    free(cand);
    free(ord);
    free(reach);
    free(npar);
    return st;
}

/* ---- equal and proportional gradients ---- */

typedef struct fp_ctx {
    const mp_limb_t *v;       /* [P x K] normalised fingerprints */
    size_t K;
} fp_ctx;

static const fp_ctx *fp_sort_ctx; /* qsort has no user pointer in C11 */

static int fp_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    const fp_ctx *F = fp_sort_ctx;
    int r = memcmp(F->v + a * F->K, F->v + b * F->K, F->K * sizeof *F->v);
    return r ? r : (a > b) - (a < b);
}

/* dC/dtheta_i at K random points (random data sets of 4 samples): g[i * K + k]. */
static gp_status grad_fingerprints(model *M, const route *rt, size_t K, vec *g)
{
    size_t P = M->P, ns = 4;
    vec th, data;
    if (!vec_init(&th, rt->exact, P) || !vec_init(&data, rt->exact, M->ncol * ns))
        return GP_ENOMEM;
    gp_status st = GP_OK;
    for (size_t k = 0; k < K && st == GP_OK; k++) {
        int ok = 0;
        for (int tries = 0; tries < 16 && !ok && st == GP_OK; tries++) {
            for (size_t i = 0; i < P; i++)
                rnd_param(M, rt, &th, i);
            rnd_data(M, rt, &data);
            if (rt->exact) {
                tape_nmod w;
                if ((st = tape_nmod_init(&w, &M->tl, ns, rt->p)) != GP_OK)
                    break;
                ok = tape_nmod_forward(&w, th.r, data.r);
                for (size_t i = 0; ok && i < P; i++)
                    g->r[i * K + k] = tape_nmod_value(&w, i, 0);
                tape_nmod_free(&w);
            } else {
                tape_mpfr w;
                eval_fault f = {GP_NIL, NULL, -1};
                if ((st = tape_mpfr_init(&w, &M->tl, ns, SYM_PREC)) != GP_OK)
                    break;
                tape_mpfr_forward(&w, th.f, data.f, NULL, &f);
                ok = f.what == NULL;
                for (size_t i = 0; ok && i < P; i++)
                    mpfr_set(g->f[i * K + k], tape_mpfr_value(&w, i, 0), MPFR_RNDN);
                tape_mpfr_free(&w);
            }
        }
        if (!ok && st == GP_OK)
            st = GP_EINTERNAL;
    }
    vec_clear(&th);
    vec_clear(&data);
    return st;
}

/* Is g_a = ratio * g_b at every fingerprint point? */
static int fp_proportional(const route *rt, const vec *g, size_t K, size_t a, size_t b, mpq_srcptr ratio)
{
    int bad = 0, ok = 1;
    mpfr_t t, tol;
    if (!rt->exact)
        mpfr_inits2(SYM_PREC, t, tol, (mpfr_ptr)0);
    for (size_t k = 0; k < K && ok; k++) {
        if (rt->exact) {
            mp_limb_t q = q_res(ratio, rt->mod, &bad);
            ok = !bad && g->r[a * K + k] == nmod_mul(q, g->r[b * K + k], rt->mod);
        } else {
            mpfr_mul_q(t, g->f[b * K + k], ratio, MPFR_RNDN);
            mpfr_sub(t, t, g->f[a * K + k], MPFR_RNDN);
            mpfr_abs(tol, g->f[a * K + k], MPFR_RNDN);
            mpfr_add_ui(tol, tol, 1, MPFR_RNDN);
            mpfr_mul_2si(tol, tol, -150, MPFR_RNDN);
            ok = mpfr_cmpabs(t, tol) <= 0;
        }
    }
    if (!rt->exact)
        mpfr_clears(t, tol, (mpfr_ptr)0);
    return ok;
}

static gp_status do_pairs(model *M, const route *rt, const route *rt2, sym_report *R)
{
    size_t P = M->P, K = SYM_FP_POINTS;
    if (P < 2)
        return GP_OK;
    vec g, g2;
    if (!vec_init(&g, rt->exact, P * K))
        return GP_ENOMEM;
    gp_status st = grad_fingerprints(M, rt, K, &g);
    uint32_t *idx = malloc(P * sizeof *idx);
    mp_limb_t *nv = rt->exact ? malloc(P * K * sizeof *nv) : NULL;
    R->pair = calloc(P, sizeof *R->pair);
    if (st == GP_OK && (!idx || !R->pair || (rt->exact && !nv)))
        st = GP_ENOMEM;
    size_t m = 0; /* candidates: (a, b) with a the first of its class */
    uint32_t *ca = NULL, *cb = NULL;
    if (st == GP_OK) {
        ca = malloc(P * sizeof *ca);
        cb = malloc(P * sizeof *cb);
        if (!ca || !cb)
            st = GP_ENOMEM;
    }
    if (st == GP_OK && rt->exact) {
        /* normalise each fingerprint by its first nonzero entry, then sort */
        size_t n = 0;
        for (size_t i = 0; i < P; i++) {
            size_t f = 0;
            while (f < K && !g.r[i * K + f])
                f++;
            if (f == K)
                continue; /* a zero gradient: no ratio */
            mp_limb_t inv = n_invmod(g.r[i * K + f], rt->p);
            for (size_t k = 0; k < K; k++)
                nv[i * K + k] = nmod_mul(g.r[i * K + k], inv, rt->mod);
            idx[n++] = (uint32_t)i;
        }
        fp_ctx F = {nv, K};
        fp_sort_ctx = &F;
        qsort(idx, n, sizeof *idx, fp_cmp);
        for (size_t s = 0; s < n;) {
            size_t e = s + 1;
            while (e < n && !memcmp(nv + idx[s] * K, nv + idx[e] * K, K * sizeof *nv))
                e++;
            uint32_t first = idx[s];
            for (size_t k = s; k < e; k++)
                if (idx[k] < first)
                    first = idx[k];
            for (size_t k = s; k < e; k++)
                if (idx[k] != first)
                    ca[m] = first, cb[m++] = idx[k];
            s = e;
        }
    } else if (st == GP_OK && P <= 2000) {
        mpq_t q;
        mpq_init(q);
        mpfr_t t;
        mpfr_init2(t, SYM_PREC);
        unsigned char *done = calloc(P, 1);
        for (size_t a = 0; done && a < P; a++) {
            if (done[a] || mpfr_zero_p(g.f[a * K]))
                continue;
            for (size_t b = a + 1; b < P; b++) {
                if (done[b] || mpfr_zero_p(g.f[b * K]))
                    continue;
                mpfr_div(t, g.f[b * K], g.f[a * K], MPFR_RNDN);
                if (recognise(q, t) && fp_proportional(rt, &g, K, b, a, q))
                    ca[m] = (uint32_t)a, cb[m++] = (uint32_t)b, done[b] = 1;
            }
        }
        if (!done)
            st = GP_ENOMEM;
        free(done);
        mpfr_clear(t);
        mpq_clear(q);
    }
    /* the ratio dC/db = ratio * dC/da, lifted, then confirmed at fresh points
       (the exact route: modulo the second prime) */
    if (st == GP_OK && m) {
        if (!vec_init(&g2, rt2->exact, P * K)) {
            st = GP_ENOMEM;
        } else {
            st = grad_fingerprints(M, rt2, K, &g2);
            mpq_t q;
            mpq_init(q);
            for (size_t k = 0; k < m && st == GP_OK; k++) {
                uint32_t a = ca[k], b = cb[k];
                int ok;
                if (rt->exact) {
                    size_t f = 0;
                    while (!g.r[a * K + f])
                        f++;
                    ok = lift(q, nmod_mul(g.r[b * K + f], n_invmod(g.r[a * K + f], rt->p), rt->mod), rt->p);
                } else {
                    mpfr_t t;
                    mpfr_init2(t, SYM_PREC);
                    mpfr_div(t, g.f[b * K], g.f[a * K], MPFR_RNDN);
                    ok = recognise(q, t);
                    mpfr_clear(t);
                }
                if (ok && fp_proportional(rt2, &g2, K, b, a, q)) {
                    sym_pair *p = &R->pair[R->npair++];
                    p->a = a;
                    p->b = b;
                    mpq_init(p->ratio);
                    mpq_set(p->ratio, q);
                    p->exact = rt->exact;
                }
            }
            mpq_clear(q);
            vec_clear(&g2);
        }
    }
    free(ca);
    free(cb);
    free(idx);
    free(nv);
    vec_clear(&g);
    return st;
}

/* ---- conserved quantities along a gradient-flow run ---- */

static double quad_value(const sym_quad *q, const double *th, size_t P, double *mag)
{
    double v = 0, a = 0;
    for (size_t k = 0; k < q->n; k++) {
        double c = mpq_get_d(q->q[k]);
        double t = c * th[q->row[k]] * (q->col[k] == P ? 1 : th[q->col[k]]);
        v += t;
        a += fabs(t);
    }
    *mag = a;
    return v;
}

/*
 * Integrate theta' = -grad C(theta) with RK4 in double on the case's data
 * (or 8 random samples) from a random point, and measure how much each
 * conserved quantity drifts, relative to the size of its terms.
 */
static gp_status do_flow(model *M, sym_report *R)
{
    size_t P = M->P;
    if (!R->ncons || !P)
        return GP_OK;
    gp_case *cs = M->cs;
    tape t;
    gp_status st = tape_compile(&t, M->c, 1, &cs->loss, P, cs->params, M->ncol, cs->inputs);
    if (st != GP_OK)
        return st;
    size_t ns = cs->has_data ? cs->nrows : 8;
    int use_data = cs->has_data;
    for (size_t j = 0; use_data && j < M->ncol; j++)
        use_data = M->dmap[j] >= 0;
    if (!use_data)
        ns = 8;
    double *data = malloc((M->ncol * ns + 1) * sizeof *data);
    double *th = malloc(6 * P * sizeof *th);
    tape_dbl w;
    int wok = 0;
    if (!data || !th)
        st = GP_ENOMEM;
    if (st == GP_OK && (st = tape_dbl_init(&w, &t, ns, 0)) == GP_OK)
        wok = 1;
    if (st == GP_OK) {
        for (size_t j = 0; j < M->ncol; j++)
            for (size_t s = 0; s < ns; s++)
                data[j * ns + s] = use_data ? mpq_get_d(cs->dval[s * cs->ncols + (size_t)M->dmap[j]])
                                            : 4 * rng_unit(&M->rng) - 2;
        double *x = th, *x0 = th + P, *k = th + 2 * P, *acc = th + 3 * P, *y = th + 4 * P;
        for (size_t i = 0; i < P; i++) {
            double m = 0.5 + rng_unit(&M->rng);
            x[i] = x0[i] = rng_next(&M->rng) & 1 ? -m : m;
        }
        double *q0 = malloc(R->ncons * sizeof *q0), mag;
        if (!q0) {
            st = GP_ENOMEM;
        } else {
            for (size_t c = 0; c < R->ncons; c++)
                q0[c] = quad_value(&R->cons[c], x, P, &mag);
            /* step: about 0.2% of the point's size per step, 1000 steps */
            tape_dbl_forward(&w, x, data);
            tape_dbl_reverse(&w, 0, k, NULL);
            double gn = 0, xn = 0;
            for (size_t i = 0; i < P; i++)
                gn += k[i] * k[i], xn += x[i] * x[i];
            double h = gn > 0 ? 0.002 * sqrt(xn / gn) : 0;
            int finite = 1;
            for (int step = 0; step < 1000 && h > 0 && finite; step++) {
                static const double a[4] = {0, 0.5, 0.5, 1}, b[4] = {1, 2, 2, 1};
                for (size_t i = 0; i < P; i++)
                    acc[i] = 0;
                for (int s = 0; s < 4; s++) {
                    for (size_t i = 0; i < P; i++)
                        y[i] = x[i] - a[s] * h * k[i] * (s > 0);
                    tape_dbl_forward(&w, y, data);
                    tape_dbl_reverse(&w, 0, k, NULL);
                    for (size_t i = 0; i < P; i++)
                        acc[i] += b[s] * k[i];
                }
                for (size_t i = 0; i < P; i++) {
                    x[i] -= h / 6 * acc[i];
                    finite &= isfinite(x[i]);
                }
                /* k for the next step's first stage */
                tape_dbl_forward(&w, x, data);
                tape_dbl_reverse(&w, 0, k, NULL);
            }
            double mv = 0, n0 = 0;
            for (size_t i = 0; i < P; i++)
                mv += (x[i] - x0[i]) * (x[i] - x0[i]), n0 += x0[i] * x0[i];
            R->flow_move = finite ? sqrt(mv / n0) : -1;
            for (size_t c = 0; c < R->ncons; c++) {
                double m0, m1;
                quad_value(&R->cons[c], x0, P, &m0);
                double q1 = quad_value(&R->cons[c], x, P, &m1);
                R->cons_drift[c] = finite && h > 0 ? fabs(q1 - q0[c]) / fmax(m0, m1) : -1;
            }
            free(q0);
        }
    }
    if (wok)
        tape_dbl_free(&w);
    free(data);
    free(th);
    tape_free(&t);
    return st;
}

/* ---- the null space, as fields or at a point ---- */

static char *q_text(mpq_srcptr q)
{
    char *s = mpq_get_str(NULL, 10, q);
    char *r = s ? strdup(s) : NULL;
    void (*fr)(void *, size_t);
    mp_get_memory_functions(NULL, NULL, &fr);
    if (s)
        fr(s, strlen(s) + 1);
    return r;
}

static gp_status do_null(model *M, const route *rt, sym_report *R, const vec *theta0)
{
    size_t P = M->P, d = R->nnull;
    if (!d)
        return GP_OK;
    /* do the fields span it?  Their values at theta0, greedily independent */
    if (R->nlin) {
        mat F;
        if (!mat_init(&F, rt->exact, R->nlin, P, rt->p))
            return GP_ENOMEM;
        vec v;
        if (!vec_init(&v, rt->exact, P)) {
            mat_clear(&F);
            return GP_ENOMEM;
        }
        R->null_lin = malloc(R->nlin * sizeof *R->null_lin);
        if (!R->null_lin) {
            vec_clear(&v);
            mat_clear(&F);
            return GP_ENOMEM;
        }
        gp_status st = GP_OK;
        long have = 0;
        for (size_t f = 0; f < R->nlin && st == GP_OK; f++) {
            int bad = 0;
            field_apply(&R->lin[f], rt, theta0, &v, P, &bad);
            mat T;
            if (!mat_init(&T, rt->exact, R->nnull_lin + 1, P, rt->p)) {
                st = GP_ENOMEM;
                break;
            }
            for (size_t r = 0; r <= R->nnull_lin; r++) {
                for (size_t i = 0; i < P; i++) {
                    if (r < R->nnull_lin) {
                        if (rt->exact)
                            nmod_mat_entry(T.a, r, i) = nmod_mat_entry(F.a, r, i);
                        else
                            mpfr_set(MF(&T, r, i), MF(&F, r, i), MPFR_RNDN);
                    } else if (rt->exact) {
                        nmod_mat_entry(T.a, r, i) = v.r[i];
                    } else {
                        mpfr_set(MF(&T, r, i), v.f[i], MPFR_RNDN);
                    }
                }
            }
            long rk = rank_of(&T, &st);
            mat_clear(&T);
            if (rk > have) {
                for (size_t i = 0; i < P; i++) {
                    if (rt->exact)
                        nmod_mat_entry(F.a, R->nnull_lin, i) = v.r[i];
                    else
                        mpfr_set(MF(&F, R->nnull_lin, i), v.f[i], MPFR_RNDN);
                }
                R->null_lin[R->nnull_lin++] = f;
                have = rk;
            }
        }
        vec_clear(&v);
        mat_clear(&F);
        if (st != GP_OK)
            return st;
        if (R->nnull_lin == d) {
            R->null_fields = 1;
            return GP_OK;
        }
    }
    /* vectors at a point: small integers for the params and the samples, so
       that the exact route can lift the basis to Q; only for a basis small
       enough to read */
    if (P > SYM_NULL_POINT_MAX)
        return GP_OK;
    size_t ns = samples_for(M, P);
    mat J;
    vec th, data;
    if (!mat_new_j(&J, M, rt, ns, 0) || !vec_init(&th, rt->exact, P) || !vec_init(&data, rt->exact, M->ncol * ns))
        return GP_ENOMEM;
    gp_status st = GP_OK;
    int ok = 0;
    long *th_int = malloc(P * sizeof *th_int);
    if (!th_int)
        st = GP_ENOMEM;
    for (int tries = 0; th_int && tries < 32 && !ok && st == GP_OK; tries++) {
        for (size_t i = 0; i < P; i++) {
            long v = 1 + (long)(rng_next(&M->rng) % 3);
            th_int[i] = rng_next(&M->rng) & 1 ? -v : v;
            if (rt->exact)
                th.r[i] = th_int[i] < 0 ? rt->p - (mp_limb_t)(-th_int[i]) : (mp_limb_t)th_int[i];
            else
                mpfr_set_si(th.f[i], th_int[i], MPFR_RNDN);
        }
        for (size_t i = 0; i < data.n; i++) {
            long v = (long)(rng_next(&M->rng) % 7) - 3;
            if (rt->exact)
                data.r[i] = v < 0 ? rt->p - (mp_limb_t)(-v) : (mp_limb_t)v;
            else
                mpfr_set_si(data.f[i], v, MPFR_RNDN);
        }
        if (!jac_at(M, rt, &J, &th, ns, &data, 0, &st))
            continue;
        long *piv = malloc(P * sizeof *piv);
        if (!piv) {
            st = GP_ENOMEM;
            break;
        }
        long r = mat_rref(&J, piv);
        if (r != R->rank) { /* a special point: try another */
            free(piv);
            continue;
        }
        ok = 1;
        mpq_t *x = malloc(d * P * sizeof *x);
        R->null_vec = calloc(d * P, sizeof *R->null_vec);
        R->null_at = calloc(P, sizeof *R->null_at);
        if (!x || !R->null_vec || !R->null_at) {
            free(x);
            free(piv);
            st = GP_ENOMEM;
            break;
        }
        for (size_t k = 0; k < d * P; k++)
            mpq_init(x[k]);
        int lifted = null_basis(&J, r, piv, x);
        if (lifted < 0)
            st = GP_ENOMEM;
        for (size_t i = 0; i < P; i++) {
            char t[32];
            snprintf(t, sizeof t, "%ld", th_int[i]);
            if (!(R->null_at[i] = strdup(t)))
                st = GP_ENOMEM;
        }
        if (lifted > 0) {
            for (size_t k = 0; k < d * P; k++)
                if (!(R->null_vec[k] = q_text(x[k])))
                    st = GP_ENOMEM;
            R->nnull_vec = d;
        }
        for (size_t k = 0; k < d * P; k++)
            mpq_clear(x[k]);
        free(x);
        free(piv);
    }
    free(th_int);
    vec_clear(&th);
    vec_clear(&data);
    mat_clear(&J);
    return st;
}

/* ---- the whole analysis ---- */

/* the first function or fractional power the loss uses (malloc'd), NULL
   when there is none; *oom says an allocation failed */
static char *why_numeric(const model *M, int *oom)
{
    const gp_ctx *c = M->c;
    unsigned char *mark = calloc(c->nnode ? c->nnode : 1, 1);
    *oom = 0;
    if (!mark) {
        *oom = 1;
        return NULL;
    }
    dag_reach(c, 1, &M->cs->loss, mark);
    char *r = NULL;
    for (gp_id id = 0; id < c->nnode && !r; id++) {
        const gp_node *n = &c->node[id];
        if (!mark[id])
            continue;
        if (n->op == GP_OP_FN)
            *oom = !(r = strdup(dag_fn_name((gp_fn)n->fn)));
        else if (n->op == GP_OP_POW && mpz_cmp_ui(mpq_denref(dag_q(c, n->kid[1])), 1) != 0)
            *oom = !(r = strdup("a fractional power"));
        if (*oom)
            break;
    }
    free(mark);
    return r;
}

gp_status symmetry_run(gp_case *cs, const sym_opts *o, sym_report *R)
{
    memset(R, 0, sizeof *R);
    R->rank_data = -1;
    R->uclamp_rank = -1;
    R->flow_move = -1;
    model M;
    gp_status st = model_init(&M, cs, o->seed, R);
    R->P = M.P;
    R->direct = M.direct;
    R->rational = M.rational;
    route rt = {M.rational, 0, {0, 0, 0}}, rt2 = rt;
    if (st == GP_OK && M.rational) {
        rt.p = pick_prime(&M);
        do
            rt2.p = pick_prime(&M);
        while (rt2.p == rt.p);
        nmod_init(&rt.mod, rt.p);
        nmod_init(&rt2.mod, rt2.p);
        R->prime = rt.p;
        R->prime2 = rt2.p;
    } else if (st == GP_OK) {
        R->prec = SYM_PREC;
        int oom;
        R->why_numeric = why_numeric(&M, &oom);
        if (oom)
            st = GP_ENOMEM;
    }
    vec theta0;
    int th_ok = 0;
    if (st == GP_OK && !vec_init(&theta0, rt.exact, M.P))
        st = GP_ENOMEM;
    else if (st == GP_OK)
        th_ok = 1;
    if (st == GP_OK && M.nout && M.direct) {
        st = direct_semantic(&M, &rt);
        R->direct = M.direct;
    }
    if (st == GP_OK && M.nout)
        st = do_rank(&M, &rt, o, R, &theta0);
    if (st == GP_OK && M.nout)
        st = do_linear(&M, &rt, &rt2, o, R);
    if (st == GP_OK && R->pattern != SYM_DIAGONAL)
        st = do_conserved(&M, R);
    if (st == GP_OK)
        st = do_flow(&M, R);
    if (st == GP_OK && M.nout)
        st = do_null(&M, &rt, R, &theta0);
    if (st == GP_OK)
        st = do_flips(&M, &rt, R);
    if (st == GP_OK)
        st = do_pairs(&M, &rt, &rt2, R);
    if (st == GP_OK) {
        st = autgroup_find(&R->grp, M.c, 1, &cs->loss, M.P, cs->params);
        R->grp_ok = st == GP_OK;
        R->grp_verified = 1;
        for (size_t g = 0; st == GP_OK && g < R->grp.ngen; g++)
            R->grp_verified &= map_preserves(&M, &rt, R->grp.gen + g * M.P, NULL, &st) == 1;
    }
    if (st == GP_OK && M.P > SYM_EFFECTIVE_MAX) {
        /* the expansion's intermediate products grow like the paths
           through the network: not attempted for big networks */
        memset(&R->eff, 0, sizeof R->eff);
        R->eff_ok = 1;
        char t[96];
        snprintf(t, sizeof t, "not attempted for more than %d params", SYM_EFFECTIVE_MAX);
        if (!(R->eff.why = strdup(t)))
            st = GP_ENOMEM;
    } else if (st == GP_OK) {
        st = effective_model(&R->eff, cs, M.nout, M.out);
        R->eff_ok = 1;
    }
    if (st == GP_OK) {
        st = input_dependencies(&R->deps, cs, M.nout, M.out, o->seed);
        R->deps_ok = 1;
    }
    /* sign-locked clamped params: only rescaled, by even powers, and no
       verified sign flip changes them */
    if (st == GP_OK && R->uclamp_given && M.P) {
        R->locked = malloc(o->nclamp * sizeof *R->locked + 1);
        for (size_t k = 0; R->locked && k < o->nclamp; k++) {
            uint32_t i = o->clamp[k];
            int moved = 0, odd = 0, other = 0;
            for (size_t f = 0; f < R->nlin; f++)
                for (size_t e = 0; e < R->lin[f].n; e++)
                    if (R->lin[f].row[e] == i)
                        other |= R->lin[f].col[e] != i;
            for (size_t f = 0; f < R->nscale; f++)
                for (size_t e = 0; e < R->scale[f].n; e++)
                    if (R->scale[f].row[e] == i && R->scale[f].col[e] == i) {
                        moved = 1;
                        odd |= mpz_odd_p(mpq_numref(R->scale[f].q[e]));
                    }
            for (size_t f = 0; f < R->nflip; f++)
                odd |= R->flip[f * M.P + i];
            if (moved && !odd && !other)
                R->locked[R->nlocked++] = i;
        }
        if (!R->locked)
            st = GP_ENOMEM;
    }
    if (st == GP_EINTERNAL && M.nopoint) {
        /* no point where the Jacobian is defined: the analysis is unknown */
        buf b = BUF_INIT;
        buf_puts(&b, "no point where the network and its derivatives are defined (16 random draws)");
        if (M.fault.node != GP_NIL) {
            buf_puts(&b, "; the first failure: ");
            render_fault_where(&b, cs, M.fault.node, M.fault.what, NULL);
        }
        R->unknown = buf_take(&b);
        buf_free(&b);
        st = R->unknown ? GP_OK : GP_ENOMEM;
    }
    if (th_ok)
        vec_clear(&theta0);
    model_free(&M);
    free(M.out);
    return st;
}

void sym_report_free(sym_report *R)
{
    for (size_t k = 0; R->lin && k < R->nlin; k++)
        field_free(&R->lin[k]);
    free(R->lin);
    for (size_t k = 0; R->scale && k < R->nscale; k++)
        field_free(&R->scale[k]);
    free(R->scale);
    for (size_t k = 0; R->cons && k < R->ncons; k++)
        field_free(&R->cons[k]);
    free(R->cons);
    free(R->cons_drift);
    for (size_t k = 0; R->pair && k < R->npair; k++)
        mpq_clear(R->pair[k].ratio);
    free(R->pair);
    if (R->null_vec)
        for (size_t k = 0; k < R->nnull * R->P; k++)
            free(R->null_vec[k]);
    free(R->null_vec);
    if (R->null_at)
        for (size_t k = 0; k < R->P; k++)
            free(R->null_at[k]);
    free(R->null_at);
    free(R->null_lin);
    free(R->clamp);
    free(R->locked);
    free(R->flip);
    free(R->out);
    free(R->why_numeric);
    free(R->unknown);
    autgroup_free(&R->grp);
    if (R->eff_ok)
        effective_free(&R->eff);
    if (R->deps_ok)
        input_deps_free(&R->deps);
    memset(R, 0, sizeof *R);
}

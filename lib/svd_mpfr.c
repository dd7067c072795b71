/*
 * svd_mpfr.c -- singular values by one-sided Jacobi (Hestenes) in GNU MPFR,
 * and the numerical rank read from them.
 *
 * Method.  The matrix (or its transpose, when it has fewer rows than
 * columns) is copied column by column into a working matrix X, nrow >= ncol,
 * at the working precision wp (below).  A sweep visits every pair i < j of
 * columns in row-cyclic order; with
 *   alpha = |x_i|^2,  beta = |x_j|^2,  gamma = <x_i, x_j>,
 * a pair with gamma^2 > tol^2 alpha beta, tol = 2^-(prec-8), is rotated by
 *   zeta = (beta - alpha) / (2 gamma),
 *   t = sign(zeta) / (|zeta| + sqrt(1 + zeta^2))   (sign(0) = +1),
 *   c = 1 / sqrt(1 + t^2),  s = c t,
 *   x_i <- c x_i - s x_j,  x_j <- s x_i + c x_j,
 * which makes the pair orthogonal (t is the root of modulus <= 1 of
 * t^2 + 2 zeta t = 1: the angle is at most pi/4).  A sweep that rotates
 * nothing ends the loop; the singular values are then the column norms,
 * recomputed from the columns and sorted decreasing.  Every transformation
 * is orthogonal to working precision, so X keeps the singular values of A.
 *
 * Speed.  MPFR spends ~30 ns per operation whatever the precision up to a
 * few limbs, so the cost is the number of operations: for a random 200 x
 * 150 matrix at 256 bits, each sweep is 11175 dot products of 200 terms
 * and as many rotations, ~13 million operations, 0.4 s.  The plain method
 * takes 13 sweeps there (5-6 s); four things cut it to about 2 s (the
 * figure is logged by tests/test_svd_mpfr.c):
 *  - Preconditioning.  The right singular vectors are first found in
 *    double (cyclic Jacobi on the Gram matrix of a double copy of X), made
 *    into Householder reflectors by a QR factorisation, still in double,
 *    and X <- X H_0 H_1 ... is applied in MPFR.  A reflector
 *    I - 2 v v^T / v^T v is orthogonal whatever v is, so its double entries
 *    are used exactly and X keeps its singular values to working precision;
 *    what double limits is only how orthogonal the new columns are (about
 *    2^-47 relative), from which the sweeps converge quadratically: 3
 *    rotating sweeps and a checking one instead of 13.  Its own cost is
 *    nrow ncol^2 multiply-adds in MPFR (0.3 s), a few hundredths in double.
 *  - Rotations in scaled form: column j of the rotated matrix is d_j x_j
 *    with a scale d_j, and a rotation is x_i -= (t d_j/d_i) x_j, x_j +=
 *    (t d_i/d_j) x_i, d_i, d_j *= c: 2 multiplications and 2 additions per
 *    entry instead of 4 and 2.  The scales are folded back into the
 *    columns at the start of each sweep.
 *  - Squared norms tracked through each rotation (alpha' = alpha - t gamma,
 *    beta' = beta + t gamma), not recomputed per pair; an update that
 *    cancels more than half of the old value (a column becoming nearly
 *    dependent) is replaced by a recomputation, and each sweep starts from
 *    recomputed norms.
 *  - A pair found orthogonal is not tested again until a rotation touches
 *    one of its columns (the test would give the same answer): this makes
 *    the final checking sweep, and the long tail of a rank-deficient
 *    matrix, cheap.  The tail: the columns that depend on the others end
 *    as rounding noise, which keeps losing its relative orthogonality to
 *    the other columns while those still rotate, and then needs Jacobi of
 *    its own: 11-14 sweeps in all for the rank-deficient products of the
 *    tests, the later ones over the noise columns' pairs only (200 x 150
 *    of rank 120: 14 sweeps, about 1.5 times the full-rank time).
 *    Preconditioning the noise columns again in double made it worse (20
 *    sweeps): the remaining rotations of the other columns spoil them anew.
 * Every number (copy, norms, scales, scratch) is carved out of one block
 * of limbs with MPFR's custom interface: contiguous columns, no allocation
 * in the loops, and out of memory is a return value, except inside GMP.
 *
 * Working precision.  wp = prec + max(0, ceil(log2(nrow)/2) - 4), rounded
 * up to whole limbs (prec = 256 and up to 256 rows: wp = 256).  The
 * orthogonality a rotation leaves is limited by the rounding of the dot
 * product and of the rotation, about 0.3 sqrt(nrow) 2^-wp; the rule keeps
 * tol above 16 sqrt(nrow) 2^-wp, so the last sweep never chases noise.
 *
 * Accuracy.  Each orthogonal step perturbs X by about 2^-wp times the
 * norms involved, so a singular value s is found to about
 * ncol 2^-wp s_0 absolute (s_0 the largest): at 256 bits, a dependent
 * column ends near 2^-255 s_0 and a genuine 2^-60 s_0 is found to 2^-261
 * s_0, 2^-200 of itself (both tested).  Plain Jacobi can do better on graded columns
 * (Demmel and Veselic, "Jacobi's method is more accurate than QR", 1992:
 * relative accuracy for A = B D with B well conditioned); the reflectors
 * mix the columns and keep only the absolute bound.
 *
 * Owns: for one call, the working copy, the double workspace of the
 * preconditioner and the pair flags, freed on every path.  The caller's
 * MPFR flags are saved and restored.  Nothing is printed.
 */
#include "svd_mpfr.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define PRE_SWEEPS 30 /* most sweeps of the double-precision eigensolver */
#define PRE_TOL 0x1p-52 /* its relative orthogonality target */
#define PRE_ABS 0x1p-53 /* ... and absolute one, in units of the largest diagonal entry */

/* The working matrix and its scratch, for one call. */
typedef struct jac {
    size_t nrow;       /* entries per column (>= ncol) */
    size_t ncol;       /* columns: min(m, n) */
    mpfr_t *x;         /* column j is x[j*nrow .. j*nrow + nrow) */
    mpfr_t *d2;        /* |d_j x_j|^2, tracked within a sweep */
    mpfr_t *sc;        /* d_j: column j of the rotated matrix is d_j x_j */
    mpfr_t *wv;        /* nrow scratch entries (the preconditioner's X v) */
    mpfr_ptr g, z, t, c, m1, m2, u, v, h; /* scratch; h has 53 bits */
    unsigned char *ok; /* ok[i*ncol + j], i < j: pair found orthogonal, columns unchanged since */
    mpfr_t *num;       /* every number above, custom-initialised in limbs */
    void *limbs;       /* their mantissas */
} jac;

enum { NSCRATCH = 9 };

/* Custom-initialised numbers are not cleared one by one: the blocks go. */
static void jac_free(jac *J)
{
    free(J->num);
    free(J->limbs);
    free(J->ok);
}

/* Allocate nrow x ncol entries, the norms, scales and scratch at wp, all
   zero, and the pair flags, all clear.  Returns 0, or -1 when out of memory
   (nothing left allocated). */
static int jac_alloc(jac *J, size_t nrow, size_t ncol, mpfr_prec_t wp)
{
    size_t sz = mpfr_custom_get_size(wp);
    J->nrow = nrow;
    J->ncol = ncol;
    J->num = NULL;
    J->limbs = NULL;
    J->ok = NULL;
    /* nnum = (ncol + 1) nrow + 2 ncol + NSCRATCH, without overflow */
    if (nrow > (SIZE_MAX / 4 - NSCRATCH) / (ncol + 3) || ncol > SIZE_MAX / ncol)
        return -1;
    size_t nnum = (ncol + 1) * nrow + 2 * ncol + NSCRATCH;
    if (nnum > SIZE_MAX / sz || nnum > SIZE_MAX / sizeof(mpfr_t))
        return -1;
    J->num = malloc(nnum * sizeof(mpfr_t));
    J->limbs = malloc(nnum * sz);
    J->ok = calloc(ncol * ncol, 1);
    if (!J->num || !J->limbs || !J->ok) {
        jac_free(J);
        J->num = NULL;
        J->limbs = NULL;
        J->ok = NULL;
        return -1;
    }
    char *p = J->limbs;
    for (size_t k = 0; k < nnum; k++, p += sz) {
        mpfr_prec_t pk = k + 1 == nnum ? 53 : wp; /* the last one is h */
        mpfr_custom_init(p, pk);
        mpfr_custom_init_set(J->num[k], MPFR_ZERO_KIND, 0, pk, p);
    }
    J->x = J->num;
    J->wv = J->x + nrow * ncol;
    J->d2 = J->wv + nrow;
    J->sc = J->d2 + ncol;
    mpfr_t *s = J->sc + ncol;
    J->g = s[0];
    J->z = s[1];
    J->t = s[2];
    J->c = s[3];
    J->m1 = s[4];
    J->m2 = s[5];
    J->u = s[6];
    J->v = s[7];
    J->h = s[8];
    for (size_t j = 0; j < ncol; j++)
        mpfr_set_ui(J->sc[j], 1, MPFR_RNDN);
    return 0;
}

static mpfr_t *col(const jac *J, size_t j) { return J->x + j * J->nrow; }

/* out = <x, y> over n entries (each product and sum rounded; out is not an
   entry, nor tmp) */
static void dot(mpfr_ptr out, const mpfr_t *x, const mpfr_t *y, size_t n, mpfr_ptr tmp)
{
    mpfr_set_zero(out, 1);
    for (size_t k = 0; k < n; k++) {
        mpfr_mul(tmp, x[k], y[k], MPFR_RNDN);
        mpfr_add(out, out, tmp, MPFR_RNDN);
    }
}

/* out = d^2 |x|^2 */
static void norm2(mpfr_ptr out, const mpfr_t *x, size_t n, mpfr_srcptr d, mpfr_ptr tmp)
{
    mpfr_set_zero(out, 1);
    for (size_t k = 0; k < n; k++) {
        mpfr_sqr(tmp, x[k], MPFR_RNDN);
        mpfr_add(out, out, tmp, MPFR_RNDN);
    }
    mpfr_mul(out, out, d, MPFR_RNDN);
    mpfr_mul(out, out, d, MPFR_RNDN);
}

/* ---- preconditioning, in double ---- */

/* Rotate entries p and q of n vectors, the k-th at a[k*stride]:
   (a_p, a_q) <- (c a_p - s a_q, s a_p + c a_q). */
static void rot_d(double *ap, double *aq, size_t n, size_t stride, double c, double s)
{
    for (size_t k = 0; k < n; k++, ap += stride, aq += stride) {
        double p = *ap, q = *aq;
        *ap = c * p - s * q;
        *aq = s * p + c * q;
    }
}

/*
 * V (column-major, V[j*n + i]) <- eigenvectors of the symmetric n x n G
 * (row-major, destroyed), by cyclic Jacobi with the formulas of rotate(),
 * until every off-diagonal entry is below PRE_TOL relative or PRE_ABS
 * absolute (eigenvectors of eigenvalues at the rounding level of the
 * largest mean nothing in double), at most PRE_SWEEPS sweeps: V is a
 * preconditioner, so an unconverged V only costs more MPFR sweeps.
 * Returns the number of rotations (0: V = I).
 */
static unsigned long eig_d(double *G, double *V, size_t n)
{
    unsigned long total = 0;
    double gmax = 0;
    for (size_t i = 0; i < n * n; i++)
        V[i] = 0;
    for (size_t i = 0; i < n; i++) {
        V[i * n + i] = 1;
        gmax = fmax(gmax, G[i * n + i]);
    }
    for (int sweep = 0; sweep < PRE_SWEEPS; sweep++) {
        unsigned long nrot = 0;
        for (size_t p = 0; p + 1 < n; p++) {
            for (size_t q = p + 1; q < n; q++) {
                double a = G[p * n + p], b = G[q * n + q], g = G[p * n + q];
                if (fabs(g) <= PRE_TOL * sqrt(a * b) || fabs(g) <= PRE_ABS * gmax)
                    continue;
                double zeta = (b - a) / (2 * g);
                double t = (zeta >= 0 ? 1 : -1) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), s = c * t;
                rot_d(G + p, G + q, n, n, c, s);         /* columns p, q */
                rot_d(G + p * n, G + q * n, n, 1, c, s); /* rows p, q */
                rot_d(V + p * n, V + q * n, n, 1, c, s); /* V <- V J */
                G[p * n + q] = G[q * n + p] = 0;          /* what the rotation is for */
                nrot++;
            }
        }
        total += nrot;
        if (nrot == 0)
            break;
    }
    return total;
}

/*
 * Householder QR of the n x n column-major V (destroyed): V = H_0 ... H_{n-2} R,
 * H_k = I - 2 v v^T / v^T v with v = H[k*n .. k*n + n), zero above entry k
 * (v = 0: H_k = I).
 */
static void householder_d(double *V, double *H, size_t n)
{
    for (size_t k = 0; k + 1 < n; k++) {
        double *a = V + k * n, *v = H + k * n, nn = 0, vv = 0;
        for (size_t i = k; i < n; i++)
            nn += a[i] * a[i];
        for (size_t i = 0; i < n; i++)
            v[i] = i < k ? 0 : a[i];
        v[k] += a[k] >= 0 ? sqrt(nn) : -sqrt(nn); /* no cancellation */
        for (size_t i = k; i < n; i++)
            vv += v[i] * v[i];
        if (vv == 0)
            continue;
        for (size_t j = k; j < n; j++) {
            double *b = V + j * n, w = 0;
            for (size_t i = k; i < n; i++)
                w += v[i] * b[i];
            w *= 2 / vv;
            for (size_t i = k; i < n; i++)
                b[i] -= w * v[i];
        }
    }
}

/* X <- X (I - 2 v v^T / v^T v), v = 0 before entry k; v is used exactly. */
static void reflect(jac *J, const double *v, size_t k)
{
    size_t nr = J->nrow, nc = J->ncol;
    mpfr_t *w = J->wv;
    mpfr_set_zero(J->z, 1); /* z = 2 / v^T v */
    for (size_t i = k; i < nc; i++) {
        mpfr_set_d(J->h, v[i], MPFR_RNDN);
        mpfr_sqr(J->u, J->h, MPFR_RNDN);
        mpfr_add(J->z, J->z, J->u, MPFR_RNDN);
    }
    if (mpfr_zero_p(J->z))
        return;
    mpfr_ui_div(J->z, 2, J->z, MPFR_RNDN);
    for (size_t r = 0; r < nr; r++) /* w = z X v */
        mpfr_set_zero(w[r], 1);
    for (size_t i = k; i < nc; i++) {
        if (v[i] == 0)
            continue;
        mpfr_t *xi = col(J, i);
        mpfr_set_d(J->h, v[i], MPFR_RNDN);
        for (size_t r = 0; r < nr; r++) {
            mpfr_mul(J->u, xi[r], J->h, MPFR_RNDN);
            mpfr_add(w[r], w[r], J->u, MPFR_RNDN);
        }
    }
    for (size_t r = 0; r < nr; r++)
        mpfr_mul(w[r], w[r], J->z, MPFR_RNDN);
    for (size_t i = k; i < nc; i++) { /* X -= w v^T */
        if (v[i] == 0)
            continue;
        mpfr_t *xi = col(J, i);
        mpfr_set_d(J->h, v[i], MPFR_RNDN);
        for (size_t r = 0; r < nr; r++) {
            mpfr_mul(J->u, w[r], J->h, MPFR_RNDN);
            mpfr_sub(xi[r], xi[r], J->u, MPFR_RNDN);
        }
    }
}

/*
 * X <- X Q, Q orthogonal to working precision and close to the right
 * singular vectors of X (see the top of the file).  Returns 0, or -1 when
 * out of memory.
 */
static int precondition(jac *J)
{
    size_t nr = J->nrow, nc = J->ncol;
    if (nc < 2)
        return 0;
    /* scale by 2^-emax, emax the largest exponent, so the copy is in range;
       entries below 2^-1074 of the largest become 0, harmlessly */
    int any = 0;
    mpfr_exp_t emax = 0;
    for (size_t k = 0; k < nr * nc; k++) {
        if (mpfr_zero_p(J->x[k]))
            continue;
        if (!any || mpfr_get_exp(J->x[k]) > emax)
            emax = mpfr_get_exp(J->x[k]);
        any = 1;
    }
    if (!any)
        return 0;
    if (nr > SIZE_MAX / sizeof(double) / nc)
        return -1;
    double *D = malloc(nr * nc * sizeof *D), *G = malloc(nc * nc * sizeof *G), *V = malloc(nc * nc * sizeof *V);
    if (!D || !G || !V) {
        free(D);
        free(G);
        free(V);
        return -1;
    }
    for (size_t k = 0; k < nr * nc; k++) {
        long e;
        double d = mpfr_get_d_2exp(&e, J->x[k], MPFR_RNDN);
        D[k] = e - emax < -1100 ? 0 : ldexp(d, (int)(e - emax));
    }
    for (size_t i = 0; i < nc; i++) {
        for (size_t j = i; j < nc; j++) {
            double s = 0;
            for (size_t k = 0; k < nr; k++)
                s += D[i * nr + k] * D[j * nr + k];
            G[i * nc + j] = G[j * nc + i] = s;
        }
    }
    if (eig_d(G, V, nc)) { /* else the columns are orthogonal already, to double precision */
        double *H = D;     /* nc x nc <= nr x nc: D is no longer needed */
        householder_d(V, H, nc);
        for (size_t k = 0; k + 1 < nc; k++)
            reflect(J, H + k * nc, k);
    }
    free(D);
    free(G);
    free(V);
    return 0;
}

/* ---- Jacobi in MPFR ---- */

/* Forget that the pairs of column i were orthogonal. */
static void touch(jac *J, size_t i)
{
    size_t nc = J->ncol;
    for (size_t k = 0; k < i; k++)
        J->ok[k * nc + i] = 0;
    for (size_t k = i + 1; k < nc; k++)
        J->ok[i * nc + k] = 0;
}

/*
 * Rotate columns i < j, whose inner product gamma is in J->g (nonzero), so
 * that they become orthogonal; update their squared norms and scales.
 */
static void rotate(jac *J, size_t i, size_t j)
{
    mpfr_t *xi = col(J, i), *xj = col(J, j);
    mpfr_ptr ai = J->d2[i], aj = J->d2[j], di = J->sc[i], dj = J->sc[j];
    mpfr_ptr g = J->g, z = J->z, t = J->t, c = J->c, m1 = J->m1, m2 = J->m2, u = J->u, v = J->v;

    /* zeta = (beta - alpha) / (2 gamma) */
    mpfr_sub(z, aj, ai, MPFR_RNDN);
    mpfr_div(z, z, g, MPFR_RNDN);
    mpfr_div_2ui(z, z, 1, MPFR_RNDN);
    /* t = sign(zeta) / (|zeta| + sqrt(1 + zeta^2)): no cancellation */
    mpfr_sqr(t, z, MPFR_RNDN);
    mpfr_add_ui(t, t, 1, MPFR_RNDN);
    mpfr_sqrt(t, t, MPFR_RNDN);
    mpfr_abs(u, z, MPFR_RNDN);
    mpfr_add(t, t, u, MPFR_RNDN);
    mpfr_ui_div(t, 1, t, MPFR_RNDN);
    if (mpfr_sgn(z) < 0)
        mpfr_neg(t, t, MPFR_RNDN);
    /* c = 1 / sqrt(1 + t^2) */
    mpfr_sqr(c, t, MPFR_RNDN);
    mpfr_add_ui(c, c, 1, MPFR_RNDN);
    mpfr_rec_sqrt(c, c, MPFR_RNDN);
    /* c x_i - s x_j = c (x_i - t x_j) and s x_i + c x_j = c (x_j + t x_i);
       with columns d x: x_i -= m1 x_j, x_j += m2 x_i (the old x_i),
       m1 = t d_j / d_i, m2 = t d_i / d_j, then d_i, d_j *= c */
    mpfr_mul(m1, t, dj, MPFR_RNDN);
    mpfr_div(m1, m1, di, MPFR_RNDN);
    mpfr_mul(m2, t, di, MPFR_RNDN);
    mpfr_div(m2, m2, dj, MPFR_RNDN);
    for (size_t k = 0; k < J->nrow; k++) {
        mpfr_mul(u, m1, xj[k], MPFR_RNDN);
        mpfr_mul(v, m2, xi[k], MPFR_RNDN);
        mpfr_sub(xi[k], xi[k], u, MPFR_RNDN);
        mpfr_add(xj[k], xj[k], v, MPFR_RNDN);
    }
    mpfr_mul(di, di, c, MPFR_RNDN);
    mpfr_mul(dj, dj, c, MPFR_RNDN);

    /* alpha -= t gamma, beta += t gamma; recomputed when more than half of
       the old value cancels (the tracked value would lose bits) */
    mpfr_mul(u, t, g, MPFR_RNDN);
    mpfr_sub(v, ai, u, MPFR_RNDN);
    mpfr_div_2ui(z, ai, 1, MPFR_RNDN);
    if (mpfr_less_p(v, z))
        norm2(v, xi, J->nrow, di, z);
    mpfr_swap(ai, v);
    mpfr_add(v, aj, u, MPFR_RNDN);
    mpfr_div_2ui(z, aj, 1, MPFR_RNDN);
    if (mpfr_less_p(v, z))
        norm2(v, xj, J->nrow, dj, z);
    mpfr_swap(aj, v);
    touch(J, i);
    touch(J, j);
}

/*
 * Sweeps until one rotates nothing, at most maxs.  Returns 0 when
 * converged, -1 otherwise.
 */
static int sweeps(jac *J, mpfr_prec_t prec, unsigned maxs)
{
    size_t nr = J->nrow, nc = J->ncol;
    if (prec <= 8) /* tol >= 1: every pair is orthogonal enough */
        return 0;
    for (unsigned sweep = 0; sweep < maxs; sweep++) {
        unsigned long nrot = 0;
        /* fold the scales into the columns they changed, recompute the norms */
        for (size_t j = 0; j < nc; j++) {
            mpfr_t *xj = col(J, j);
            if (mpfr_cmp_ui(J->sc[j], 1) != 0) {
                for (size_t k = 0; k < nr; k++)
                    mpfr_mul(xj[k], xj[k], J->sc[j], MPFR_RNDN);
                mpfr_set_ui(J->sc[j], 1, MPFR_RNDN);
            }
            norm2(J->d2[j], xj, nr, J->sc[j], J->u);
        }
        for (size_t i = 0; i + 1 < nc; i++) {
            for (size_t j = i + 1; j < nc; j++) {
                if (J->ok[i * nc + j] || mpfr_zero_p(J->d2[i]) || mpfr_zero_p(J->d2[j]))
                    continue;
                dot(J->g, col(J, i), col(J, j), nr, J->u);
                mpfr_mul(J->g, J->g, J->sc[i], MPFR_RNDN);
                mpfr_mul(J->g, J->g, J->sc[j], MPFR_RNDN);
                /* orthogonal enough: gamma^2 <= 2^-2(prec-8) alpha beta */
                mpfr_sqr(J->u, J->g, MPFR_RNDN);
                mpfr_mul(J->v, J->d2[i], J->d2[j], MPFR_RNDN);
                mpfr_mul_2si(J->v, J->v, -2 * (prec - 8), MPFR_RNDN);
                if (mpfr_lessequal_p(J->u, J->v)) {
                    J->ok[i * nc + j] = 1;
                    continue;
                }
                rotate(J, i, j);
                nrot++;
            }
        }
        if (nrot == 0)
            return 0;
    }
    return -1;
}

/* The working precision (see the top of the file). */
static mpfr_prec_t work_prec(mpfr_prec_t prec, size_t nrow)
{
    long half = 0; /* ceil(log2(nrow) / 2) */
    while (half < 32 && ((size_t)1 << (2 * half)) < nrow)
        half++;
    mpfr_prec_t wp = (prec > 0 ? prec : 1) + (half > 4 ? half - 4 : 0);
    return (wp + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS * GMP_NUMB_BITS;
}

int svd_mpfr_values(const mpfr_t *a, size_t m, size_t n, mpfr_prec_t prec, mpfr_t *sv, unsigned max_sweeps)
{
    size_t nrow = m >= n ? m : n, ncol = m >= n ? n : m;
    if (ncol == 0)
        return 0;
    mpfr_flags_t flags = mpfr_flags_save();
    int rc = -2; /* out of memory, until the workspace is there */
    jac J;
    if (jac_alloc(&J, nrow, ncol, work_prec(prec, nrow)))
        goto out;
    rc = -1;
    /* column j of X: column j of a, or row j of a when m < n */
    for (size_t j = 0; j < ncol; j++) {
        for (size_t k = 0; k < nrow; k++) {
            mpfr_srcptr e = m >= n ? a[k * n + j] : a[j * n + k];
            if (!mpfr_number_p(e))
                goto out;
            mpfr_set(J.x[j * nrow + k], e, MPFR_RNDN);
        }
    }
    if (precondition(&J)) {
        rc = -2;
        goto out;
    }
    if (sweeps(&J, prec, max_sweeps ? max_sweeps : SVD_MPFR_SWEEPS))
        goto out;
    for (size_t j = 0; j < ncol; j++)
        norm2(J.d2[j], col(&J, j), nrow, J.sc[j], J.u);
    /* sort decreasing (selection sort: ncol^2 comparisons, nothing beside the sweeps) */
    for (size_t i = 0; i + 1 < ncol; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < ncol; j++)
            if (mpfr_greater_p(J.d2[j], J.d2[best]))
                best = j;
        mpfr_swap(J.d2[i], J.d2[best]);
    }
    for (size_t j = 0; j < ncol; j++)
        mpfr_sqrt(sv[j], J.d2[j], MPFR_RNDN);
    rc = 0;
out:
    if (rc)
        for (size_t j = 0; j < ncol; j++)
            mpfr_set_nan(sv[j]);
    jac_free(&J);
    mpfr_flags_restore(flags, MPFR_FLAGS_ALL);
    return rc;
}

/* ---- rank ---- */

/* x / y as a double rounded to nearest (y > 0) */
static double ratio(mpfr_srcptr x, mpfr_srcptr y, mpfr_ptr tmp)
{
    mpfr_div(tmp, x, y, MPFR_RNDN);
    return mpfr_get_d(tmp, MPFR_RNDN);
}

void svd_mpfr_rank(const mpfr_t *sv, size_t k, mpfr_prec_t prec, svd_rank *out)
{
    *out = (svd_rank){.rank = 0, .kept = NAN, .dropped = 0.0, .gap_log2 = INFINITY};
    for (size_t i = 0; i < k; i++) {
        if (mpfr_nan_p(sv[i])) {
            *out = (svd_rank){.rank = -1, .kept = NAN, .dropped = NAN, .gap_log2 = NAN};
            return;
        }
    }
    if (k == 0 || mpfr_zero_p(sv[0]))
        return;
    mpfr_flags_t flags = mpfr_flags_save();
    mpfr_t thr, q;
    mpfr_init2(thr, mpfr_get_prec(sv[0]));
    mpfr_init2(q, 64);
    /* thr = sv[0] 2^-floor(prec/2), exact (thr has sv[0]'s precision) */
    mpfr_mul_2si(thr, sv[0], -(long)(prec / 2), MPFR_RNDN);
    size_t r = 1;
    while (r < k && mpfr_greater_p(sv[r], thr))
        r++;
    out->rank = (long)r;
    out->kept = ratio(sv[r - 1], sv[0], q);
    if (r < k && !mpfr_zero_p(sv[r])) {
        out->dropped = ratio(sv[r], sv[0], q);
        mpfr_div(q, sv[r - 1], sv[r], MPFR_RNDN);
        mpfr_log2(q, q, MPFR_RNDN);
        out->gap_log2 = mpfr_get_d(q, MPFR_RNDN);
    }
    mpfr_clears(thr, q, (mpfr_ptr)0);
    mpfr_flags_restore(flags, MPFR_FLAGS_ALL);
}

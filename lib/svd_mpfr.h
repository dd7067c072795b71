/*
 * svd_mpfr.h -- singular values of a real matrix in GNU MPFR by one-sided
 * Jacobi (Hestenes) rotations, and the numerical rank they imply.
 *
 * Made for Jacobians of small networks (a few hundred rows and columns at
 * 256 bits): the rank of the Jacobian counts the parameters the outputs can
 * see, and at 256 bits a genuine singular value of 2^-60 relative stands far
 * above the rounding noise (about 2^-250) left by an exactly dependent
 * column, so the rank can be read from the largest relative gap.
 *
 * Ownership: both functions borrow their inputs and write only the caller's
 * sv[] / *out.  svd_mpfr_values allocates its working copy and workspace,
 * freed before it returns, on every path.  The MPFR flags are restored on
 * return; the exponent range and default precision are not touched.
 */
#ifndef GP_SVD_MPFR_H
#define GP_SVD_MPFR_H
#include <stddef.h>

#include <mpfr.h>

#define SVD_MPFR_SWEEPS 60 /* max_sweeps = 0 means this many */

/*
 * Singular values of the m x n row-major matrix a[i*n + j] (MPFR numbers at
 * any precision), computed at precision prec by one-sided Jacobi (Hestenes)
 * rotations on the columns (or on the rows when m < n: the singular values
 * are those of the transpose), sweeps until every pair of columns is
 * orthogonal to 2^-(prec-8) relative, at most max_sweeps (0: 60).
 * sv gets min(m, n) values, sorted decreasing, initialised by the caller at
 * any precision.  a is not modified (the routine works on a copy).
 * Returns 0; -1 when the sweeps did not converge (or an entry is not
 * finite); -2 when out of memory.
 *
 * Details.  The copy is kept at a working precision wp of prec rounded up
 * to whole limbs, plus a few bits beyond 256 rows (prec = 256 with up to
 * 256 rows: wp = 256), so that the rounding noise of a sweep, about
 * sqrt(rows) ulps, stays well below the tolerance; each singular value is
 * then rounded to nearest at the precision of its sv[i].  "Orthogonal"
 * means |<x_i, x_j>| <= 2^-(prec-8) |x_i| |x_j| for the working columns x_i
 * (a prec of 8 or less makes every pair orthogonal).  Before the sweeps
 * the columns are mixed by an orthogonal matrix found in double precision
 * (see svd_mpfr.c): a random matrix then takes 4 sweeps instead of 13, a
 * rank-deficient one up to about 15.  Accuracy: about ncol 2^-wp s_0 absolute,
 * s_0 the largest value; so a column that depends exactly on the others
 * gives a value near 2^-255 s_0 at 256 bits (or exactly 0), and a column
 * of a (a row, when m < n) that is exactly 0 gives exactly 0.
 * On -1 (no convergence, or an entry of a that is NaN or infinite) or -2
 * (out of memory) every sv[i] is NaN.  m or n = 0: nothing to do, returns 0.
 */
int svd_mpfr_values(const mpfr_t *a, size_t m, size_t n, mpfr_prec_t prec, mpfr_t *sv, unsigned max_sweeps);

/*
 * The numerical rank of k singular values sv[0] >= sv[1] >= ... >= 0 (as
 * svd_mpfr_values leaves them), computed at precision prec:
 *   rank = the number of sv[i] > sv[0] 2^-floor(prec/2)
 * (0 when sv[0] is 0 or k is 0).  At 256 bits the threshold 2^-128 sits
 * half-way, on a log scale, between 1 and the rounding noise of a dependent
 * column (about 2^-250), so any genuine value down to about 2^-100 counts
 * and noise never does.  With r = rank:
 *   kept     = sv[r-1] / sv[0], the smallest kept value, relative (NaN when r = 0);
 *   dropped  = sv[r] / sv[0], the largest dropped value, relative (0 when
 *              r = k, or when sv[0] = 0: the values are all exactly 0);
 *   gap_log2 = log2(sv[r-1] / sv[r]), the gap at the cut, in bits (+Inf when
 *              r = k or sv[r] = 0: nothing, or only exact zeros, dropped).
 * A gap_log2 of about 100 bits or more is a clean cut; a small one means the
 * rank depends on the threshold.  The doubles are rounded to nearest
 * (a relative value below 2^-1074 reads 0; gap_log2 is always exact enough).
 * NaN values in sv give rank -1 and NaN fields.
 */
typedef struct svd_rank {
    long rank;       /* r, as above (-1 when some sv[i] is NaN) */
    double kept;     /* sv[r-1] / sv[0] (NaN when r = 0) */
    double dropped;  /* sv[r] / sv[0] (0 when r = k or sv[0] = 0) */
    double gap_log2; /* log2(sv[r-1] / sv[r]) (+Inf when r = k or sv[r] = 0) */
} svd_rank;

void svd_mpfr_rank(const mpfr_t *sv, size_t k, mpfr_prec_t prec, svd_rank *out);
#endif

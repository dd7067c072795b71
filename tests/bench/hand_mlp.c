/*
 * hand_mlp.c -- hand-written forward and backward passes (see hand_mlp.h):
 * the baseline of tests/bench/engine.sh, plain C as one would write it for
 * these networks (arrays of doubles, one matrix product per layer over the
 * whole batch with the inner loop over the samples, no BLAS).
 *
 * Two variants of the sums over the samples (the weight gradients are dot
 * products over the batch): `plain`, one accumulator, the loop most people
 * write, which the compiler may not vectorise without -ffast-math since it
 * would reorder the additions; and `lanes`, four independent accumulators,
 * the one-line trick that lets it (and the tape engine's own sample sums do
 * the same).  Everything else is the same code.
 *
 * Built with -DHAND_MLP_MAIN it is also a program: `hand_mlp --selftest`
 * checks every gradient against central finite differences in double.
 */
#include "hand_mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hand_mlp {
    int L;
    int *n;          /* n[0..L] */
    size_t B;
    size_t np;
    size_t *off;     /* off[l]: first param of layer l (W_l, then b_l) */
    double **act;    /* act[l], l = 1..L: n[l] x B, unit-major (act[l][k*B + s]) */
    double *d0, *d1; /* deltas: max n[l] x B each */
    int lanes;       /* sums over the samples with four accumulators */
};

/* sums over the samples, plain or with four accumulators (see above) */
static inline double sum_s(const double *x, size_t n, int lanes)
{
    double acc = 0;
    size_t s = 0;
    if (lanes) {
        double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        for (; s + 4 <= n; s += 4) {
            q0 += x[s];
            q1 += x[s + 1];
            q2 += x[s + 2];
            q3 += x[s + 3];
        }
        acc = (q0 + q1) + (q2 + q3);
    }
    for (; s < n; s++)
        acc += x[s];
    return acc;
}

static inline double dot_s(const double *x, const double *y, size_t n, int lanes)
{
    double acc = 0;
    size_t s = 0;
    if (lanes) {
        double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
        for (; s + 4 <= n; s += 4) {
            q0 += x[s] * y[s];
            q1 += x[s + 1] * y[s + 1];
            q2 += x[s + 2] * y[s + 2];
            q3 += x[s + 3] * y[s + 3];
        }
        acc = (q0 + q1) + (q2 + q3);
    }
    for (; s < n; s++)
        acc += x[s] * y[s];
    return acc;
}

hand_mlp *hand_mlp_new(int L, const int *n, size_t B)
{
    hand_mlp *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->L = L;
    m->B = B;
    m->n = malloc((size_t)(L + 1) * sizeof *m->n);
    m->off = malloc((size_t)(L + 1) * sizeof *m->off);
    m->act = calloc((size_t)(L + 1), sizeof *m->act);
    if (!m->n || !m->off || !m->act) {
        hand_mlp_free(m);
        return NULL;
    }
    memcpy(m->n, n, (size_t)(L + 1) * sizeof *n);
    size_t maxn = 0;
    for (int l = 1; l <= L; l++) {
        m->off[l] = m->np;
        m->np += (size_t)n[l] * (size_t)n[l - 1] + (size_t)n[l];
        if ((size_t)n[l] > maxn)
            maxn = (size_t)n[l];
        if (!(m->act[l] = malloc((size_t)n[l] * B * sizeof(double)))) {
            hand_mlp_free(m);
            return NULL;
        }
    }
    m->d0 = malloc(maxn * B * sizeof(double));
    m->d1 = malloc(maxn * B * sizeof(double));
    if (!m->d0 || !m->d1) {
        hand_mlp_free(m);
        return NULL;
    }
    return m;
}

void hand_mlp_free(hand_mlp *m)
{
    if (!m)
        return;
    if (m->act)
        for (int l = 0; l <= m->L; l++)
            free(m->act[l]);
    free(m->act);
    free(m->n);
    free(m->off);
    free(m->d0);
    free(m->d1);
    free(m);
}

size_t hand_mlp_nparams(const hand_mlp *m) { return m->np; }
void hand_mlp_set_lanes(hand_mlp *m, int lanes) { m->lanes = lanes; }

/* act[l][k][s] = f(b[k] + sum_j W[k][j] * act[l-1][j][s]) */
static void mlp_forward(hand_mlp *m, const double *params, const double *data)
{
    const size_t B = m->B;
    for (int l = 1; l <= m->L; l++) {
        const size_t nin = (size_t)m->n[l - 1], nout = (size_t)m->n[l];
        const double *W = params + m->off[l], *b = W + nout * nin;
        const double *in = l == 1 ? data : m->act[l - 1];
        for (size_t k = 0; k < nout; k++) {
            double *z = m->act[l] + k * B;
            for (size_t s = 0; s < B; s++)
                z[s] = b[k];
            for (size_t j = 0; j < nin; j++) {
                const double w = W[k * nin + j], *a = in + j * B;
                for (size_t s = 0; s < B; s++)
                    z[s] += w * a[s];
            }
            if (l < m->L)
                for (size_t s = 0; s < B; s++)
                    z[s] = tanh(z[s]);
        }
    }
}

double hand_mlp_loss(hand_mlp *m, const double *params, const double *data)
{
    const size_t B = m->B, nL = (size_t)m->n[m->L];
    const double *y = data + (size_t)m->n[0] * B, *yhat = m->act[m->L];
    mlp_forward(m, params, data);
    double sum = 0;
    for (size_t i = 0; i < nL * B; i++) {
        const double r = yhat[i] - y[i];
        sum += r * r;
    }
    return sum / (2.0 * (double)B);
}

double hand_mlp_grad(hand_mlp *m, const double *params, const double *data, double *grad)
{
    const size_t B = m->B, nL = (size_t)m->n[m->L];
    const double *y = data + (size_t)m->n[0] * B, *yhat = m->act[m->L];
    mlp_forward(m, params, data);

    /* the output delta dC/dyhat = (yhat - y) / B */
    double *dcur = m->d0, *dprev = m->d1;
    double sum = 0;
    for (size_t i = 0; i < nL * B; i++) {
        const double r = yhat[i] - y[i];
        sum += r * r;
        dcur[i] = r / (double)B;
    }

    for (int l = m->L; l >= 1; l--) {
        const size_t nin = (size_t)m->n[l - 1], nout = (size_t)m->n[l];
        const double *W = params + m->off[l];
        double *gW = grad + m->off[l], *gb = gW + nout * nin;
        const double *in = l == 1 ? data : m->act[l - 1];
        /* dC/dW[k][j] = sum_s delta[k][s] * in[j][s], dC/db[k] = sum_s delta[k][s] */
        for (size_t k = 0; k < nout; k++) {
            const double *d = dcur + k * B;
            gb[k] = sum_s(d, B, m->lanes);
            for (size_t j = 0; j < nin; j++)
                gW[k * nin + j] = dot_s(d, in + j * B, B, m->lanes);
        }
        if (l == 1)
            break;
        /* delta of the layer below: (W^T delta) * (1 - h^2) */
        memset(dprev, 0, nin * B * sizeof *dprev);
        for (size_t k = 0; k < nout; k++) {
            const double *d = dcur + k * B;
            for (size_t j = 0; j < nin; j++) {
                const double w = W[k * nin + j];
                double *dp = dprev + j * B;
                for (size_t s = 0; s < B; s++)
                    dp[s] += w * d[s];
            }
        }
        for (size_t i = 0; i < nin * B; i++)
            dprev[i] *= 1.0 - in[i] * in[i];
        double *tmp = dcur;
        dcur = dprev;
        dprev = tmp;
    }
    return sum / (2.0 * (double)B);
}

void hand_mlp_gradscale(hand_mlp *m, const double *params, const double *data, double *scale)
{
    const size_t B = m->B, nL = (size_t)m->n[m->L];
    const double *y = data + (size_t)m->n[0] * B, *yhat = m->act[m->L];
    mlp_forward(m, params, data);
    double *dcur = m->d0, *dprev = m->d1;
    for (size_t i = 0; i < nL * B; i++)
        dcur[i] = fabs(yhat[i] - y[i]) / (double)B;
    for (int l = m->L; l >= 1; l--) {
        const size_t nin = (size_t)m->n[l - 1], nout = (size_t)m->n[l];
        const double *W = params + m->off[l];
        double *sW = scale + m->off[l], *sb = sW + nout * nin;
        const double *in = l == 1 ? data : m->act[l - 1];
        for (size_t k = 0; k < nout; k++) {
            const double *d = dcur + k * B;
            double acc = 0;
            for (size_t s = 0; s < B; s++)
                acc += d[s];
            sb[k] = acc;
            for (size_t j = 0; j < nin; j++) {
                const double *a = in + j * B;
                acc = 0;
                for (size_t s = 0; s < B; s++)
                    acc += d[s] * fabs(a[s]);
                sW[k * nin + j] = acc;
            }
        }
        if (l == 1)
            break;
        memset(dprev, 0, nin * B * sizeof *dprev);
        for (size_t k = 0; k < nout; k++) {
            const double *d = dcur + k * B;
            for (size_t j = 0; j < nin; j++) {
                const double w = fabs(W[k * nin + j]);
                double *dp = dprev + j * B;
                for (size_t s = 0; s < B; s++)
                    dp[s] += w * d[s];
            }
        }
        for (size_t i = 0; i < nin * B; i++)
            dprev[i] *= fabs(1.0 - in[i] * in[i]);
        double *tmp = dcur;
        dcur = dprev;
        dprev = tmp;
    }
}

/* ---- seed 003: 2-3-3-1 sigmoid, per-sample squared loss ---- */

static double sigmoid(double a) { return 1.0 / (1.0 + exp(-a)); }

double hand_seed003_loss(size_t B, const double *params, const double *data)
{
    const double *A = params, *Bm = params + 6, *w = params + 15;
    double f = 0;
    for (size_t s = 0; s < B; s++) {
        const double x1 = data[s], x2 = data[B + s], y = data[2 * B + s];
        double h[3], yhat = 0;
        for (int k = 0; k < 3; k++)
            h[k] = sigmoid(A[2 * k] * x1 + A[2 * k + 1] * x2);
        for (int k = 0; k < 3; k++)
            yhat += w[k] * sigmoid(Bm[3 * k] * h[0] + Bm[3 * k + 1] * h[1] + Bm[3 * k + 2] * h[2]);
        f += (yhat - y) * (yhat - y);
    }
    return f;
}

/* layer by layer over the batch, like the MLP: h[k][s], z[k][s], then back */
double hand_seed003_grad(size_t B, const double *params, const double *data, double *grad, double *work, int lanes)
{
    const double *A = params, *Bm = params + 6, *w = params + 15;
    const double *x1 = data, *x2 = data + B, *y = data + 2 * B;
    double *h = work, *z = work + 3 * B, *g = work + 6 * B, *dz = work + 7 * B, *dh = work + 10 * B;
    for (int k = 0; k < 3; k++)
        for (size_t s = 0; s < B; s++)
            h[k * B + s] = sigmoid(A[2 * k] * x1[s] + A[2 * k + 1] * x2[s]);
    for (int k = 0; k < 3; k++)
        for (size_t s = 0; s < B; s++)
            z[k * B + s] = sigmoid(Bm[3 * k] * h[s] + Bm[3 * k + 1] * h[B + s] + Bm[3 * k + 2] * h[2 * B + s]);
    double f = 0;
    for (size_t s = 0; s < B; s++) {
        const double r = w[0] * z[s] + w[1] * z[B + s] + w[2] * z[2 * B + s] - y[s];
        f += r * r;
        g[s] = 2 * r; /* df/dyhat */
    }
    memset(dh, 0, 3 * B * sizeof *dh);
    for (int k = 0; k < 3; k++) {
        const double *zk = z + k * B;
        double *d = dz + k * B;
        grad[15 + k] = dot_s(g, zk, B, lanes);
        for (size_t s = 0; s < B; s++)
            d[s] = g[s] * w[k] * zk[s] * (1 - zk[s]); /* df/d(pre-activation of z_k) */
        for (int j = 0; j < 3; j++) {
            const double bkj = Bm[3 * k + j];
            double *dhj = dh + j * B;
            grad[6 + 3 * k + j] = dot_s(d, h + j * B, B, lanes);
            for (size_t s = 0; s < B; s++)
                dhj[s] += d[s] * bkj;
        }
    }
    double *da = dz; /* dz is spent: df/d(pre-activation of h_j) */
    for (int j = 0; j < 3; j++) {
        const double *hj = h + j * B, *dhj = dh + j * B;
        double *daj = da + j * B;
        for (size_t s = 0; s < B; s++)
            daj[s] = dhj[s] * hj[s] * (1 - hj[s]);
        grad[2 * j] = dot_s(daj, x1, B, lanes);
        grad[2 * j + 1] = dot_s(daj, x2, B, lanes);
    }
    return f;
}

void hand_seed003_gradscale(size_t B, const double *params, const double *data, double *scale)
{
    const double *A = params, *Bm = params + 6, *w = params + 15;
    double *sA = scale, *sB = scale + 6, *sw = scale + 15;
    memset(scale, 0, HAND_SEED003_NPARAMS * sizeof *scale);
    for (size_t s = 0; s < B; s++) {
        const double x1 = data[s], x2 = data[B + s], y = data[2 * B + s];
        double h[3], z[3], yhat = 0;
        for (int k = 0; k < 3; k++)
            h[k] = sigmoid(A[2 * k] * x1 + A[2 * k + 1] * x2);
        for (int k = 0; k < 3; k++) {
            z[k] = sigmoid(Bm[3 * k] * h[0] + Bm[3 * k + 1] * h[1] + Bm[3 * k + 2] * h[2]);
            yhat += w[k] * z[k];
        }
        const double g = 2 * fabs(yhat - y);
        double dh[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++) {
            sw[k] += g * z[k];
            const double dz = g * fabs(w[k]) * z[k] * (1 - z[k]);
            for (int j = 0; j < 3; j++) {
                sB[3 * k + j] += dz * h[j];
                dh[j] += dz * fabs(Bm[3 * k + j]);
            }
        }
        for (int j = 0; j < 3; j++) {
            const double da = dh[j] * h[j] * (1 - h[j]);
            sA[2 * j] += da * fabs(x1);
            sA[2 * j + 1] += da * fabs(x2);
        }
    }
}

#ifdef HAND_MLP_MAIN
/* ---- self-test: central finite differences ---- */
#include <stdint.h>
#include <stdio.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;
static double urand(void) /* uniform in (-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

typedef double (*lossfn)(void *ctx, const double *params);
struct mctx { hand_mlp *m; const double *data; };
struct sctx { size_t B; const double *data; };
static double mlp_lossfn(void *c, const double *p)
{
    struct mctx *x = c;
    return hand_mlp_loss(x->m, p, x->data);
}
static double seed_lossfn(void *c, const double *p)
{
    struct sctx *x = c;
    return hand_seed003_loss(x->B, p, x->data);
}

/* compare grad with central differences at `nchk` params (all when nchk >= np) */
static int fdcheck(const char *name, lossfn f, void *ctx, double *p, const double *grad, size_t np, size_t nchk)
{
    double maxerr = 0;
    size_t worst = 0, bad = 0;
    for (size_t c = 0; c < (nchk < np ? nchk : np); c++) {
        size_t i = nchk >= np ? c : (size_t)((urand() + 1) / 2 * (double)np) % np;
        const double p0 = p[i], h = 1e-5 * (fabs(p0) > 1 ? fabs(p0) : 1);
        p[i] = p0 + h;
        const double fp = f(ctx, p);
        p[i] = p0 - h;
        const double fm = f(ctx, p);
        p[i] = p0;
        const double fd = (fp - fm) / (2 * h);
        const double err = fabs(fd - grad[i]) / (1e-4 + fabs(grad[i]));
        if (err > maxerr) {
            maxerr = err;
            worst = i;
        }
        if (err > 1e-5)
            bad++;
    }
    printf("%-28s params %7zu checked %4zu  max |fd-g|/(1e-4+|g|) %.2e (param %zu)  %s\n", name, np,
           nchk < np ? nchk : np, maxerr, worst, bad ? "FAIL" : "ok");
    return bad ? 1 : 0;
}

/* the comparison scale bounds the gradient: |g[k]| <= scale[k] */
static int scalecheck(const double *g, size_t np, const double *scale)
{
    for (size_t k = 0; k < np; k++)
        if (!(fabs(g[k]) <= scale[k] * (1 + 1e-12))) {
            printf("  scale[%zu] = %.17g < |grad| = %.17g\n", k, scale[k], fabs(g[k]));
            return 1;
        }
    return 0;
}

/* the two variants of the sums differ only by rounding: 1e-13 of the scale */
static int lanescheck(const double *g, const double *g4, size_t np, const double *scale, double f, double f4)
{
    if (f != f4) {
        printf("  loss plain %.17g != lanes %.17g\n", f, f4);
        return 1;
    }
    for (size_t k = 0; k < np; k++)
        if (!(fabs(g[k] - g4[k]) <= 1e-13 * scale[k])) {
            printf("  param %zu: plain %.17g, lanes %.17g\n", k, g[k], g4[k]);
            return 1;
        }
    return 0;
}

static int test_mlp(int L, const int *n, size_t B, size_t nchk)
{
    hand_mlp *m = hand_mlp_new(L, n, B);
    size_t np = hand_mlp_nparams(m), nd = ((size_t)n[0] + (size_t)n[L]) * B;
    double *p = malloc(np * sizeof *p), *g = malloc(2 * np * sizeof *g), *d = malloc(nd * sizeof *d);
    /* weights scaled by 1/sqrt(fan-in) so that the tanh units are not saturated */
    for (int l = 1, i = 0; l <= L; l++) {
        const double sc = 2 / sqrt((double)n[l - 1]);
        for (int k = 0; k < n[l] * n[l - 1]; k++)
            p[i++] = sc * urand();
        for (int k = 0; k < n[l]; k++)
            p[i++] = 0.5 * urand();
    }
    for (size_t i = 0; i < nd; i++)
        d[i] = urand();
    double c1 = hand_mlp_grad(m, p, d, g), c2 = hand_mlp_loss(m, p, d);
    double *g4 = malloc(np * sizeof *g4);
    hand_mlp_set_lanes(m, 1);
    double c4 = hand_mlp_grad(m, p, d, g4);
    char name[64];
    int len = snprintf(name, sizeof name, "mlp");
    for (int l = 0; l <= L && len < (int)sizeof name - 8; l++)
        len += snprintf(name + len, sizeof name - (size_t)len, "%c%d", l ? '-' : ' ', n[l]);
    snprintf(name + len, sizeof name - (size_t)len, " B=%zu", B);
    struct mctx c = {m, d};
    int rc = fdcheck(name, mlp_lossfn, &c, p, g, np, nchk);
    rc |= scalecheck(g, np, (hand_mlp_gradscale(m, p, d, g + np), g + np));
    rc |= lanescheck(g, g4, np, g + np, c1, c4);
    free(g4);
    if (c1 != c2) {
        printf("  loss from grad %.17g != loss alone %.17g\n", c1, c2);
        rc = 1;
    }
    free(p);
    free(g);
    free(d);
    hand_mlp_free(m);
    return rc;
}

static int test_seed003(size_t B)
{
    double p[HAND_SEED003_NPARAMS], g[HAND_SEED003_NPARAMS], *d = malloc(3 * B * sizeof *d);
    for (size_t i = 0; i < HAND_SEED003_NPARAMS; i++)
        p[i] = 2 * urand();
    for (size_t i = 0; i < 3 * B; i++)
        d[i] = 2 * urand();
    double *work = malloc(HAND_SEED003_WORK(B) * sizeof *work);
    double g4[HAND_SEED003_NPARAMS];
    double f1 = hand_seed003_grad(B, p, d, g, work, 0), f2 = hand_seed003_loss(B, p, d);
    double f4 = hand_seed003_grad(B, p, d, g4, work, 1);
    free(work);
    struct sctx c = {B, d};
    char name[64];
    snprintf(name, sizeof name, "seed003 2-3-3-1 B=%zu", B);
    int rc = fdcheck(name, seed_lossfn, &c, p, g, HAND_SEED003_NPARAMS, HAND_SEED003_NPARAMS);
    double sc[HAND_SEED003_NPARAMS];
    hand_seed003_gradscale(B, p, d, sc);
    rc |= scalecheck(g, HAND_SEED003_NPARAMS, sc);
    rc |= lanescheck(g, g4, HAND_SEED003_NPARAMS, sc, f1, f4);
    if (fabs(f1 - f2) > 1e-14 * fabs(f2)) {
        printf("  loss from grad %.17g != loss alone %.17g\n", f1, f2);
        rc = 1;
    }
    free(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--selftest") != 0) {
        fprintf(stderr, "usage: %s --selftest\n", argv[0]);
        return 2;
    }
    int rc = 0;
    rc |= test_seed003(1);
    rc |= test_seed003(17);
    static const int a[] = {3, 4, 2, 1}, b[] = {2, 3, 1}, c[] = {4, 5, 3}, e[] = {5, 2},
                     f[] = {64, 64, 64, 1}, h[] = {784, 256, 256, 10};
    rc |= test_mlp(3, a, 7, SIZE_MAX);
    rc |= test_mlp(2, b, 1, SIZE_MAX);
    rc |= test_mlp(2, c, 6, SIZE_MAX);
    rc |= test_mlp(1, e, 3, SIZE_MAX);
    rc |= test_mlp(3, f, 16, 400);
    rc |= test_mlp(3, h, 4, 200);
    printf("%s\n", rc ? "hand_mlp selftest: FAILED" : "hand_mlp selftest: all gradients agree with finite differences");
    return rc;
}
#endif

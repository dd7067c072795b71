/*
 * hand_mlp.h -- hand-written forward and backward passes for the networks of
 * tests/bench/engine.sh, the baseline the tape engine is timed against.
 *
 * Data is column-major over a batch of B samples, the layout of
 * tape_dbl_forward: data[j * B + s], inputs first (in declaration order),
 * then the targets.  Gradients come in the param order of the case files
 * (declaration order, indexed params in row-major index order).
 */
#ifndef HAND_MLP_H
#define HAND_MLP_H
#include <stddef.h>

/*
 * A tanh MLP n[0]-n[1]-...-n[L]: tanh hidden layers, a linear output layer,
 * loss C = mean over the samples of sum_o (yhat_o - y_o)^2 / 2.
 * Params, layer by layer: W_l[k][j] (n[l] x n[l-1], row-major), then b_l[k].
 * Data columns: x[1..n[0]], then y[1..n[L]].
 */
typedef struct hand_mlp hand_mlp;
hand_mlp *hand_mlp_new(int L, const int *n, size_t B);
void hand_mlp_free(hand_mlp *m);
size_t hand_mlp_nparams(const hand_mlp *m);
/* Sums over the samples with one accumulator (0, the default) or four (1);
   see hand_mlp.c. */
void hand_mlp_set_lanes(hand_mlp *m, int lanes);
/* Returns C; grad[nparams] = dC/dparams. */
double hand_mlp_grad(hand_mlp *m, const double *params, const double *data, double *grad);
/* The loss alone (for the finite-difference self-test). */
double hand_mlp_loss(hand_mlp *m, const double *params, const double *data);
/*
 * The scale of each gradient entry for comparing two computations of it:
 * the same backward pass with every factor replaced by its absolute value,
 * so scale[k] is the sum over all samples and paths of |the terms| that
 * make up grad[k] (>= |grad[k]|).  Rounding differences between two correct
 * codes are a few ulps of scale[k], however small grad[k] is after
 * cancellation.
 */
void hand_mlp_gradscale(hand_mlp *m, const double *params, const double *data, double *scale);

/*
 * The seed 003 network (cases/seed003_sigmoid_2331.case): inputs x1 x2,
 * target y, h_k = sigmoid(A[k][1]*x1 + A[k][2]*x2) with A = (p, q, r),
 * z_k = sigmoid(sum_j B[k][j]*h_j) with B = (s, u, v), yhat = sum_k w_k*z_k,
 * per-sample loss f = (yhat - y)^2 (no reduction).  18 params in the order
 * p1 p2 q1 q2 r1 r2 s1 s2 s3 u1 u2 u3 v1 v2 v3 w1 w2 w3.  Over a batch it
 * returns the sum over the samples of f and grad = the sum over the samples
 * of df/dparams (what tape_dbl_reverse gives for a per-sample root).
 * The gradient runs layer by layer over the batch (as the MLP does) in a
 * caller's workspace of HAND_SEED003_WORK(B) doubles; the loss and the
 * scale below run sample by sample.
 */
#define HAND_SEED003_NPARAMS 18
#define HAND_SEED003_WORK(B) (13 * (size_t)(B)) /* doubles of workspace */
double hand_seed003_grad(size_t B, const double *params, const double *data, double *grad, double *work,
                         int lanes);
double hand_seed003_loss(size_t B, const double *params, const double *data);
void hand_seed003_gradscale(size_t B, const double *params, const double *data, double *scale);
#endif

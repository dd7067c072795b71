/*
 * tape.h -- the DAG compiled to a flat instruction tape, and the tape run
 * four ways: in double (forward and reverse sweeps, batched over the
 * samples, with an optional running error bound), in MPFR at any precision
 * (forward), exactly in GMP rationals, and modulo a word-sized prime
 * (forward, rational tapes only).
 *
 * The tape is an independent route to the gradient: the reverse sweep uses
 * each instruction's local derivative rule, never the symbolic derivative
 * nodes of derive.c.
 */
#ifndef GP_TAPE_H
#define GP_TAPE_H
#include <mpfr.h>
#include <nmod_vec.h>
#include <ulong_extras.h>

#include "dag.h"

typedef enum tape_op {
    TP_NUM,    /* an exact constant; aux: index into ctx->num */
    TP_PARAM,  /* a param; aux: its ordinal (position in the param list) */
    TP_DATA,   /* an input or target; aux: its data column */
    TP_ADD,    /* sum of the operands */
    TP_MUL,    /* product of the operands */
    TP_LIN,    /* sum of arg[2k] * arg[2k+1] for k < aux (a static coefficient
                  times a per-sample value), plus arg[2 aux .. n) as they are:
                  a fused layer, h = b + sum_j W[j] * x[j] */
    TP_POW,    /* arg[0] ^ q; aux: index of the exponent q into ctx->num */
    TP_FN,     /* fn(arg[0]); aux: for relu, abs, step and sign, the kink's
                  number (0 .. nkink), else 0 */
    TP_MEAN,   /* mean over the samples of arg[0] */
    TP_SUMS    /* sum over the samples of arg[0] */
} tape_op;

/* Instruction k writes slot k; its operands are slots < k. */
typedef struct tape_ins {
    uint8_t op;       /* tape_op */
    uint8_t fn;       /* gp_fn of TP_FN */
    uint8_t level;    /* gp_level of the result: one value, or one per sample */
    uint8_t active;   /* depends on a param: the reverse sweep visits it */
    uint32_t n;       /* operands (TP_LIN: 2 x terms) */
    uint32_t aux;     /* see tape_op */
    const uint32_t *arg; /* operand slots */
    gp_id node;       /* the DAG node computed here; GP_NIL for a coefficient
                         product made by the compiler */
} tape_ins;

typedef struct tape {
    gp_ctx *c;            /* borrowed; the DAG must outlive the tape */
    tape_ins *ins;        /* the instructions, in execution order */
    size_t nins;
    uint32_t *args;       /* operand storage */
    size_t nparam;        /* params (ordinals 0 .. nparam) */
    uint32_t *pslot;      /* [nparam] slot of each param, TAPE_NONE when unused */
    size_t ncol;          /* data columns */
    size_t nroot;
    uint32_t *root;       /* [nroot] slot of each root */
    double *cval;         /* [nins] TP_NUM: the constant, TP_POW: the exponent,
                             rounded to double */
    uint8_t *cexact;      /* [nins] 1 when that double is exact */
    size_t nkink;         /* instructions that are relu, abs, step or sign */
    int rational;         /* no TP_FN and only integer powers: mpq can run it */
} tape;

#define TAPE_NONE UINT32_MAX

/*
 * Compile the cone of roots[0..nroot).  Param k is leaf param_leaf[k], data
 * column j feeds leaf col_leaf[j]; a param, input or target leaf of the cone
 * that is in neither list is GP_EINTERNAL.  The tape borrows nothing from
 * the lists.  GP_ENOMEM, or GP_OK.
 */
gp_status tape_compile(tape *t, gp_ctx *c, size_t nroot, const gp_id *roots,
                       size_t nparam, const uint32_t *param_leaf,
                       size_t ncol, const uint32_t *col_leaf);
void tape_free(tape *t);

/* ---- double ---- */

/*
 * A workspace for a batch of ns samples.  Per-sample slots hold ns doubles,
 * static and dataset-level slots one.  With `bounded`, every forward value
 * and every adjoint also carries a first-order bound on its rounding error
 * (running error analysis, see tape.c), at three to five times the cost.
 */
typedef struct tape_dbl {
    const tape *t;
    size_t ns;
    int bounded;
    size_t *off;          /* [nins] offset of slot k in val/adj/err/aerr */
    double *val, *adj;
    double *err, *aerr;   /* bounded only */
    double *g, *ge;       /* scratch: ns doubles each */
    size_t doubt;         /* bounded forward: kink arguments (sample, kink) whose
                             sign the error bound cannot decide */
} tape_dbl;

gp_status tape_dbl_init(tape_dbl *w, const tape *t, size_t ns, int bounded);
void tape_dbl_free(tape_dbl *w);
/* Forward sweep.  params[nparam]; data column-major: data[j * ns + s]. */
void tape_dbl_forward(tape_dbl *w, const double *params, const double *data);
/* Value of root r (at sample s when it is per-sample). */
double tape_dbl_value(const tape_dbl *w, size_t r, size_t s);
double tape_dbl_value_err(const tape_dbl *w, size_t r, size_t s);
/*
 * Reverse sweep from root r after a forward sweep: grad[k] = d(root)/d(param k),
 * summed over the samples when the root is per-sample.  With a bounded
 * workspace and bound != NULL, bound[k] is the rounding error bound of grad[k].
 */
void tape_dbl_reverse(tape_dbl *w, size_t r, double *grad, double *bound);

/* ---- MPFR ---- */

struct eval_fault;

/* A workspace for forward sweeps in MPFR at `prec` bits over ns samples. */
typedef struct tape_mpfr {
    const tape *t;
    size_t ns;
    mpfr_prec_t prec;
    size_t *off;          /* [nins] offset of slot k in v */
    mpfr_t *v;            /* the values */
    size_t nv;            /* initialised */
    mpfr_ptr *ptrs;       /* scratch for mpfr_sum */
    mpfr_t w1, w2, acc;   /* work variables (prec + 64 bits) */
    int wok;              /* they are initialised */
} tape_mpfr;

gp_status tape_mpfr_init(tape_mpfr *w, const tape *t, size_t ns, mpfr_prec_t prec);
void tape_mpfr_free(tape_mpfr *w);
/*
 * Forward sweep: params[nparam], data column-major (data[j * ns + s]), any
 * precision (rounded to the workspace's).  When kink != NULL it receives,
 * per kink instruction (relu, abs, step, sign) and sample, t->nkink * ns
 * entries, the sign (-1, 0, 1) of the argument, so that a caller can see a
 * kink crossed between two points.  *fault (may be NULL) names the first
 * instruction's node whose value is NaN or infinite (node, reason, sample),
 * as eval_mpfr does.  MPFR's flags are restored.
 */
void tape_mpfr_forward(tape_mpfr *w, const mpfr_t *params, const mpfr_t *data,
                       signed char *kink, struct eval_fault *fault);
/*
 * The same sweep restricted to the instructions k with only[k] != 0 (the
 * others keep their values from an earlier sweep): after a change of one
 * param, only[] = tape_depends() of it re-evaluates what it changes.  kink
 * entries of instructions left out are not written.
 */
void tape_mpfr_forward_only(tape_mpfr *w, const mpfr_t *params, const mpfr_t *data, const uint8_t *only,
                            signed char *kink, struct eval_fault *fault);
/* dep[k] = 1 when instruction k depends on param ordinal p, else 0 (nins entries). */
void tape_depends(const tape *t, size_t p, uint8_t *dep);
/* Root r (at sample s when it is per-sample). */
mpfr_srcptr tape_mpfr_value(const tape_mpfr *w, size_t r, size_t s);

/* ---- exact ---- */

/*
 * Forward sweep in exact rationals (t->rational required, else GP_EINTERNAL):
 * out[r] gets root r (per-sample roots: at sample `sample`).  *ok is 1 when
 * every value is defined, 0 on a division by zero (or a mean over no
 * samples), -1 when an integer power's exponent exceeds TAPE_Q_POW_MAX.
 * GP_OK or GP_ENOMEM.
 */
#define TAPE_Q_POW_MAX 4096
gp_status tape_q_forward(mpq_t *out, const tape *t, size_t ns, const mpq_t *params,
                         const mpq_t *data, long sample, int *ok);

/* ---- modulo a prime ---- */

/*
 * A workspace for forward sweeps modulo a prime p < 2^63 over ns samples
 * (t->rational required).  The symmetry analysis evaluates Jacobians here:
 * exact arithmetic at word speed, where a rational point is a random
 * residue and an identity that holds mod p for random residues holds over
 * Q with probability at least 1 - degree/p.
 */
typedef struct tape_nmod {
    const tape *t;
    size_t ns;
    nmod_t mod;
    size_t *off;          /* [nins] offset of slot k in v */
    mp_limb_t *v;         /* the values */
    mp_limb_t *cnum;      /* [nins] TP_NUM: the constant mod p */
} tape_nmod;

/* GP_OK; GP_EINPUT when a constant's denominator is divisible by p (choose
   another prime); GP_EINTERNAL when the tape is not rational; GP_ENOMEM. */
gp_status tape_nmod_init(tape_nmod *w, const tape *t, size_t ns, mp_limb_t p);
void tape_nmod_free(tape_nmod *w);
/* Forward sweep: params[nparam] and data (column-major, data[j * ns + s])
   as residues.  1 when every value is defined, 0 on a division by zero mod p
   (or a mean over a multiple of p samples). */
int tape_nmod_forward(tape_nmod *w, const mp_limb_t *params, const mp_limb_t *data);
/* Root r (at sample s when it is per-sample). */
static inline mp_limb_t tape_nmod_value(const tape_nmod *w, size_t r, size_t s)
{
    uint32_t k = w->t->root[r];
    return w->v[w->off[k] + (w->t->ins[k].level == GP_LV_SAMPLE ? s : 0)];
}
#endif

/*
 * simplify.c -- smart constructors keeping the DAG canonical (see simplify.h).
 *
 * Every rewrite here is an identity of real functions on the domain where
 * the original is defined, with one recorded exception: a power cancelled to
 * exponent 0 after a negative exponent took part (x * x^-1 -> 1) assumes its
 * base is nonzero, and the base is noted in ctx->assume.  Things that are
 * not identities are refused: (x^2)^(1/2) stays as it is (it is |x|, not x),
 * and 0^-1 is not folded (the evaluator reports the division by zero).
 */
#include "simplify.h"

#include <stdlib.h>
#include <string.h>

typedef struct term {
    gp_id mono;  /* the non-numeric part (a base, for products) */
    mpq_t q;     /* its coefficient (sums) or exponent (products) */
    int neg;     /* products: a negative exponent took part in the merge */
} term;

static int cmp_id(const void *a, const void *b)
{
    gp_id x = *(const gp_id *)a, y = *(const gp_id *)b;
    return x < y ? -1 : x > y;
}

static int cmp_term(const void *a, const void *b)
{
    const term *x = a, *y = b;
    return x->mono < y->mono ? -1 : x->mono > y->mono;
}

static int flattenable(const gp_ctx *c, gp_id id, gp_op op)
{
    const gp_node *n = &c->node[id];
    return n->op == op && !n->label && n->nkid <= SIMPLIFY_FLAT;
}

/* A growable list of ids with room on the stack for the common case. */
typedef struct idlist {
    gp_id *v;
    size_t n, cap;
    gp_id local[32];
} idlist;

static void il_init(idlist *l) { l->v = l->local; l->n = 0; l->cap = 32; }
static void il_free(idlist *l) { if (l->v != l->local) free(l->v); }
static int il_push(idlist *l, gp_id id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap * 2;
        gp_id *v = malloc(cap * sizeof *v);
        if (!v)
            return 0;
        memcpy(v, l->v, l->n * sizeof *v);
        if (l->v != l->local)
            free(l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return 1;
}

static term *terms_new(size_t n)
{
    term *t = malloc((n ? n : 1) * sizeof *t);
    if (t)
        for (size_t i = 0; i < n; i++)
            mpq_init(t[i].q);
    return t;
}

static void terms_free(term *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++)
        mpq_clear(t[i].q);
    free(t);
}

static void note_assumption(gp_ctx *c, gp_id base)
{
    for (size_t i = 0; i < c->nassume; i++)
        if (c->assume[i] == base)
            return;
    if (ctx_grow((void **)&c->assume, &c->capassume, c->nassume + 1, sizeof *c->assume))
        c->assume[c->nassume++] = base;
}

/* The operands of an n-ary sum (op ADD) or product (op MUL): small
   unlabelled nodes of the same op are opened, numbers are folded into k
   (added or multiplied), the rest is appended to all.  Returns 1; 0 when
   an operand is GP_NIL; -1 out of memory. */
static int gather(gp_ctx *c, gp_op op, size_t n, const gp_id *in, mpq_t k, idlist *all)
{
    void (*fold)(mpq_ptr, mpq_srcptr, mpq_srcptr) = op == GP_OP_ADD ? mpq_add : mpq_mul;
    for (size_t i = 0; i < n; i++) {
        gp_id id = in[i];
        if (id == GP_NIL)
            return 0;
        const gp_node *nd = &c->node[id];
        if (nd->op == GP_OP_NUM) {
            fold(k, k, dag_q(c, id));
        } else if (flattenable(c, id, op)) {
            for (uint32_t j = 0; j < nd->nkid; j++) {
                gp_id s = nd->kid[j];
                if (c->node[s].op == GP_OP_NUM)
                    fold(k, k, dag_q(c, s));
                else if (!il_push(all, s))
                    return -1;
            }
        } else if (!il_push(all, id)) {
            return -1;
        }
    }
    return 1;
}

/* Intern an n-ary node whose operands are already canonical. */
static gp_id make_nary(gp_ctx *c, gp_op op, gp_id coef, idlist *ops)
{
    qsort(ops->v, ops->n, sizeof *ops->v, cmp_id);
    if (coef != GP_NIL) {
        if (!il_push(ops, coef)) {
            c->status = GP_ENOMEM;
            return GP_NIL;
        }
        memmove(ops->v + 1, ops->v, (ops->n - 1) * sizeof *ops->v);
        ops->v[0] = coef;
    }
    return dag_intern(c, op, 0, (uint32_t)ops->n, ops->v);
}

gp_id gp_add(gp_ctx *c, size_t n, const gp_id *in)
{
    idlist all;
    il_init(&all);
    mpq_t k;
    mpq_init(k);
    gp_id res = GP_NIL;
    term *t = NULL;
    size_t nt = 0;
    /* 1. flatten small unlabelled sums, fold the numbers */
    int g = gather(c, GP_OP_ADD, n, in, k, &all);
    if (g <= 0) {
        if (g < 0)
            goto oom;
        goto done;
    }
    /* 2. split each term into coefficient * monomial and collect */
    t = terms_new(all.n);
    if (!t)
        goto oom;
    nt = all.n;
    for (size_t i = 0; i < nt; i++) {
        const gp_node *nd = &c->node[all.v[i]];
        if (nd->op == GP_OP_MUL && !nd->label && c->node[nd->kid[0]].op == GP_OP_NUM) {
            mpq_set(t[i].q, dag_q(c, nd->kid[0]));
            t[i].mono = nd->nkid == 2 ? nd->kid[1]
                                      : dag_intern(c, GP_OP_MUL, 0, nd->nkid - 1, nd->kid + 1);
            if (t[i].mono == GP_NIL)
                goto done;
        } else {
            mpq_set_ui(t[i].q, 1, 1);
            t[i].mono = all.v[i];
        }
    }
    qsort(t, nt, sizeof *t, cmp_term);
    all.n = 0;
    for (size_t i = 0; i < nt;) {
        size_t j = i + 1;
        while (j < nt && t[j].mono == t[i].mono) {
            mpq_add(t[i].q, t[i].q, t[j].q);
            j++;
        }
        if (mpq_sgn(t[i].q) != 0) {
            gp_id term_id = t[i].mono;
            if (mpq_cmp_si(t[i].q, 1, 1) != 0)
                term_id = gp_mul2(c, dag_num(c, t[i].q), t[i].mono);
            if (term_id == GP_NIL)
                goto done;
            if (!il_push(&all, term_id))
                goto oom;
        }
        i = j;
    }
    /* 3. assemble */
    if (mpq_sgn(k) != 0 && !il_push(&all, dag_num(c, k)))
        goto oom;
    if (all.n == 0)
        res = dag_num_si(c, 0, 1);
    else if (all.n == 1)
        res = all.v[0];
    else
        res = make_nary(c, GP_OP_ADD, GP_NIL, &all);
    goto done;
oom:
    c->status = GP_ENOMEM;
done:
    terms_free(t, nt);
    mpq_clear(k);
    il_free(&all);
    return res;
}

gp_id gp_mul(gp_ctx *c, size_t n, const gp_id *in)
{
    idlist all;
    il_init(&all);
    mpq_t k;
    mpq_init(k);
    mpq_set_ui(k, 1, 1);
    gp_id res = GP_NIL;
    term *t = NULL;
    size_t nt = 0;
    /* flatten small unlabelled products, fold the numbers */
    int g = gather(c, GP_OP_MUL, n, in, k, &all);
    if (g <= 0) {
        if (g < 0)
            goto oom;
        goto done;
    }
    if (mpq_sgn(k) == 0) {
        /* 0 * x^-1 is 0 only where x is nonzero */
        for (size_t i = 0; i < all.n; i++) {
            const gp_node *nd = &c->node[all.v[i]];
            if (nd->op == GP_OP_POW && !nd->label && mpq_sgn(dag_q(c, nd->kid[1])) < 0)
                note_assumption(c, nd->kid[0]);
        }
        res = dag_num_si(c, 0, 1);
        goto done;
    }
    /* collect powers of one base */
    t = terms_new(all.n);
    if (!t)
        goto oom;
    nt = all.n;
    for (size_t i = 0; i < nt; i++) {
        const gp_node *nd = &c->node[all.v[i]];
        if (nd->op == GP_OP_POW && !nd->label) {
            t[i].mono = nd->kid[0];
            mpq_set(t[i].q, dag_q(c, nd->kid[1]));
        } else {
            t[i].mono = all.v[i];
            mpq_set_ui(t[i].q, 1, 1);
        }
        t[i].neg = mpq_sgn(t[i].q) < 0;
    }
    qsort(t, nt, sizeof *t, cmp_term);
    all.n = 0;
    for (size_t i = 0; i < nt;) {
        size_t j = i + 1;
        int neg = t[i].neg;
        while (j < nt && t[j].mono == t[i].mono) {
            mpq_add(t[i].q, t[i].q, t[j].q);
            neg |= t[j].neg;
            j++;
        }
        /* a negative exponent merged away (x^2 * x^-1 -> x, x * x^-1 -> 1)
           makes the result defined where the original was not */
        if (neg && mpq_sgn(t[i].q) >= 0)
            note_assumption(c, t[i].mono);
        if (mpq_sgn(t[i].q) != 0) {
            gp_id f = gp_pow(c, t[i].mono, dag_num(c, t[i].q));
            if (f == GP_NIL)
                goto done;
            if (c->node[f].op == GP_OP_NUM)
                mpq_mul(k, k, dag_q(c, f));
            else if (!il_push(&all, f))
                goto oom;
        }
        i = j;
    }
    if (mpq_sgn(k) == 0) {
        res = dag_num_si(c, 0, 1);
    } else if (all.n == 0) {
        res = dag_num(c, k);
    } else if (all.n == 1 && mpq_cmp_si(k, 1, 1) == 0) {
        res = all.v[0];
    } else if (all.n == 1 && mpq_cmp_si(k, -1, 1) == 0 && flattenable(c, all.v[0], GP_OP_ADD)) {
        /* -(a - b) reads better as b - a: distribute a sign over a small sum */
        const gp_node *s = &c->node[all.v[0]];
        idlist neg;
        il_init(&neg);
        gp_id m1 = dag_num_si(c, -1, 1);
        uint32_t ns = s->nkid;
        for (uint32_t j = 0; j < ns; j++)
            if (!il_push(&neg, gp_mul2(c, m1, c->node[all.v[0]].kid[j]))) {
                il_free(&neg);
                goto oom;
            }
        res = gp_add(c, neg.n, neg.v);
        il_free(&neg);
    } else {
        gp_id coef = mpq_cmp_si(k, 1, 1) == 0 ? GP_NIL : dag_num(c, k);
        res = make_nary(c, GP_OP_MUL, coef, &all);
    }
    goto done;
oom:
    c->status = GP_ENOMEM;
done:
    terms_free(t, nt);
    mpq_clear(k);
    il_free(&all);
    return res;
}

gp_id gp_add2(gp_ctx *c, gp_id a, gp_id b) { gp_id v[2] = {a, b}; return gp_add(c, 2, v); }
gp_id gp_mul2(gp_ctx *c, gp_id a, gp_id b) { gp_id v[2] = {a, b}; return gp_mul(c, 2, v); }
gp_id gp_neg(gp_ctx *c, gp_id a) { return gp_mul2(c, dag_num_si(c, -1, 1), a); }
gp_id gp_sub(gp_ctx *c, gp_id a, gp_id b) { return gp_add2(c, a, gp_neg(c, b)); }
gp_id gp_div(gp_ctx *c, gp_id a, gp_id b) { return gp_mul2(c, a, gp_pow_si(c, b, -1, 1)); }

gp_id gp_pow_si(gp_ctx *c, gp_id base, long n, unsigned long d)
{
    return gp_pow(c, base, dag_num_si(c, n, d));
}

/* Exact root: r = a^(1/q) when a is a perfect q-th power; 1 if exact. */
static int exact_root(mpz_t r, mpz_srcptr a, unsigned long q)
{
    if (mpz_sgn(a) < 0)
        return 0;
    return mpz_root(r, a, q) != 0;
}

/* Fold b^e for rationals when the result is rational and not huge. */
static gp_id fold_pow(gp_ctx *c, mpq_srcptr b, mpq_srcptr e)
{
    if (!mpz_fits_slong_p(mpq_numref(e)) || !mpz_fits_ulong_p(mpq_denref(e)))
        return GP_NIL;
    long p = mpz_get_si(mpq_numref(e));
    unsigned long q = mpz_get_ui(mpq_denref(e));
    if (mpq_sgn(b) == 0)
        return p > 0 ? dag_num_si(c, 0, 1) : GP_NIL; /* 0^-1 is left for the evaluator */
    size_t bits = mpz_sizeinbase(mpq_numref(b), 2) + mpz_sizeinbase(mpq_denref(b), 2);
    unsigned long ap = p < 0 ? (unsigned long)(-(p + 1)) + 1 : (unsigned long)p;
    if (ap > (1ul << 20) || bits * ap > DAG_NUM_MAX_BITS)
        return GP_NIL;
    mpz_t rn, rd;
    mpz_init(rn);
    mpz_init(rd);
    gp_id res = GP_NIL;
    if (exact_root(rn, mpq_numref(b), q) && exact_root(rd, mpq_denref(b), q)) {
        mpq_t r;
        mpq_init(r);
        mpz_pow_ui(rn, rn, ap);
        mpz_pow_ui(rd, rd, ap);
        if (p < 0)
            mpz_swap(rn, rd);
        if (mpz_sgn(rd) < 0) {
            mpz_neg(rd, rd);
            mpz_neg(rn, rn);
        }
        mpq_set_num(r, rn);
        mpq_set_den(r, rd);
        mpq_canonicalize(r);
        res = dag_num(c, r);
        mpq_clear(r);
    } else if (q == 1 && mpq_sgn(b) < 0) {
        /* integer power of a negative base: (-b)^p with the sign fixed */
        mpq_t nb, r;
        mpq_init(nb);
        mpq_init(r);
        mpq_neg(nb, b);
        mpz_pow_ui(rn, mpq_numref(nb), ap);
        mpz_pow_ui(rd, mpq_denref(nb), ap);
        if (p < 0)
            mpz_swap(rn, rd);
        if (ap & 1)
            mpz_neg(rn, rn);
        mpq_set_num(r, rn);
        mpq_set_den(r, rd);
        mpq_canonicalize(r);
        res = dag_num(c, r);
        mpq_clear(nb);
        mpq_clear(r);
    }
    mpz_clear(rn);
    mpz_clear(rd);
    return res;
}

gp_id gp_pow(gp_ctx *c, gp_id base, gp_id e)
{
    if (base == GP_NIL || e == GP_NIL)
        return GP_NIL;
    mpq_srcptr q = dag_q(c, e);
    if (mpq_sgn(q) == 0)
        return dag_num_si(c, 1, 1);
    if (mpq_cmp_si(q, 1, 1) == 0)
        return base;
    const gp_node *b = &c->node[base];
    int integral = mpz_cmp_ui(mpq_denref(q), 1) == 0;
    if (b->op == GP_OP_NUM) {
        gp_id f = fold_pow(c, dag_q(c, base), q);
        if (f != GP_NIL || c->status != GP_OK)
            return f;
    } else if (!b->label && b->op == GP_OP_POW && integral) {
        mpq_t r;
        mpq_init(r);
        mpq_mul(r, dag_q(c, b->kid[1]), q);
        gp_id b0 = b->kid[0], er = dag_num(c, r);
        gp_id res = gp_pow(c, b0, er);
        mpq_clear(r);
        return res;
    } else if (!b->label && b->op == GP_OP_MUL && integral) {
        /* (x*y)^n = x^n * y^n: lets powers of one base meet */
        idlist f;
        il_init(&f);
        uint32_t nk = b->nkid;
        for (uint32_t i = 0; i < nk; i++)
            if (!il_push(&f, gp_pow(c, c->node[base].kid[i], e))) {
                il_free(&f);
                c->status = GP_ENOMEM;
                return GP_NIL;
            }
        gp_id res = gp_mul(c, f.n, f.v);
        il_free(&f);
        return res;
    }
    gp_id kid[2] = {base, e};
    return dag_intern(c, GP_OP_POW, 0, 2, kid);
}

gp_id gp_call(gp_ctx *c, gp_fn fn, gp_id a)
{
    if (a == GP_NIL)
        return GP_NIL;
    if (c->node[a].op == GP_OP_NUM) {
        /* fold where the value is an exact rational */
        mpq_srcptr q = dag_q(c, a);
        int s = mpq_sgn(q);
        switch (fn) {
        case GP_FN_ABS: {
            mpq_t r;
            mpq_init(r);
            mpq_abs(r, q);
            gp_id id = dag_num(c, r);
            mpq_clear(r);
            return id;
        }
        case GP_FN_RELU: return s > 0 ? a : dag_num_si(c, 0, 1);
        case GP_FN_STEP: return dag_num_si(c, s > 0, 1);
        case GP_FN_SIGN: return dag_num_si(c, s, 1);
        case GP_FN_EXP: if (s == 0) return dag_num_si(c, 1, 1); break;
        case GP_FN_LOG: if (mpq_cmp_si(q, 1, 1) == 0) return dag_num_si(c, 0, 1); break;
        case GP_FN_SIN: case GP_FN_TANH: if (s == 0) return a; break;
        case GP_FN_COS: if (s == 0) return dag_num_si(c, 1, 1); break;
        case GP_FN_SIGMOID: if (s == 0) return dag_num_si(c, 1, 2); break;
        default: break;
        }
    }
    return dag_intern(c, GP_OP_FN, fn, 1, &a);
}

gp_id gp_reduce(gp_ctx *c, gp_op red, gp_id a)
{
    if (a == GP_NIL)
        return GP_NIL;
    const gp_node *n = &c->node[a];
    if (n->level == GP_LV_STATIC && red == GP_OP_MEAN)
        return a; /* the mean of a constant is itself */
    if (n->op == GP_OP_NUM && mpq_sgn(dag_q(c, a)) == 0)
        return a;
    if (n->op == GP_OP_MUL && !n->label) {
        /* mean(c * e) = c * mean(e) for every factor c that is the same for all samples */
        idlist out, in;
        il_init(&out);
        il_init(&in);
        for (uint32_t i = 0; i < n->nkid; i++) {
            gp_id f = c->node[a].kid[i];
            if (!il_push(c->node[f].level == GP_LV_STATIC ? &out : &in, f)) {
                c->status = GP_ENOMEM;
                break;
            }
        }
        gp_id res = GP_NIL;
        if (c->status == GP_OK && out.n && in.n) {
            gp_id inner = gp_mul(c, in.n, in.v);
            gp_id r = dag_intern(c, red, 0, 1, &inner);
            if (!il_push(&out, r))
                c->status = GP_ENOMEM;
            else
                res = gp_mul(c, out.n, out.v);
        } else if (c->status == GP_OK) {
            res = dag_intern(c, red, 0, 1, &a);
        }
        il_free(&out);
        il_free(&in);
        return res;
    }
    return dag_intern(c, red, 0, 1, &a);
}

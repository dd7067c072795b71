/*
 * effective.c -- the effective model of a polynomial network and the linear
 * relations among its input features (DESIGN.md §5, the last two items of
 * the symmetry report).
 *
 * Effective model.  Each output is converted by algebra.c into a canonical
 * polynomial and its terms grouped by their monomials in the inputs: the
 * output is sum_m coeff_m(params) * m(inputs), the model a person would
 * write with one parameter per coefficient.  A 2-2-1 linear network with
 * biases is one affine layer, w0 = v0 + u01*v1 + u02*v2, ...; the count of
 * param-dependent coefficients is the parameter count of that model.  A
 * network that is not a polynomial (a function call, a division, a
 * fractional power, a sample reduction) or whose expansion exceeds the
 * term limit gets a reason instead; neither is an error.
 *
 * Input dependencies.  The features are what the params see: the
 * per-sample, param-free nodes that are direct children of param-dependent
 * nodes (x1, x2 in w111*x1 + w112*x2; in seed000_collinear.case the named
 * intermediates x1 = a*x, x2 = (1-a)*x of one input x).  A linear relation
 * c0 + sum_k c_k f_k = 0 among them makes some params unidentifiable.
 *  - For every input: the features are evaluated exactly (the tape in
 *    rationals) at m + 1 + EFF_MARGIN random rational inputs; the null space
 *    of the matrix of rows (1, f_1, ..., f_m) contains every true relation,
 *    and a spurious one needs the random inputs to hit the zero set of a
 *    nonzero minor (Schwartz-Zippel).  Each relation found is then proved by
 *    polynomial identity (algebra_lincomb_is_zero).  Features that are not
 *    rational are evaluated in MPFR at EFF_PREC bits instead; the numeric
 *    null space is read off a pivoted elimination, each vector recognised as
 *    small rationals (continued fractions) and kept only if it holds to
 *    2^-200 relative at EFF_FRESH fresh inputs.
 *  - On the case's data: the same null space over the data rows (exactly,
 *    by an incremental echelon basis, so a long data set costs one
 *    reduction per row), its rank, and the relations it adds to the first
 *    kind.
 *
 * Ownership: every result string and array is malloc'd into the caller's
 * struct; the tape, the matrices and the scratch are freed here on every
 * path.  The DAG is only read: no node is interned, so running this module
 * never changes the ids (and hence the printed order) of later nodes.  A
 * term-limit diagnostic raised inside algebra.c is taken back out of the
 * context: the limit is reported in the result, not as an error.
 */
#include "effective.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "algebra.h"
#include "eval_mpfr.h"
#include "rng.h"
#include "tape.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <fmpq.h>
#include <fmpq_mat.h>
#include <fmpz.h>
#include <fmpq_vec.h>
#include <fmpz_vec.h>
#pragma GCC diagnostic pop

#define EFF_MARGIN 8         /* random inputs beyond the m + 1 a full rank needs */
#define EFF_FRESH 8          /* fresh inputs a numeric relation must hold at */
#define EFF_PREC 256         /* bits of the numeric route */
#define EFF_TOL_EXP (-200)   /* numeric: |residual| <= 2^-200 * sum of |terms| */
#define EFF_PIVOT_EXP (-160) /* numeric: a pivot below 2^-160 (columns scaled to 1) is zero */
#define EFF_RAT_EXP (-170)   /* numeric: a coefficient within 2^-170 of p/q is p/q */
#define EFF_RAT_DEN 40       /* numeric: denominators up to 2^40 */
#define EFF_MAX_FEAT 4096    /* features beyond this are not analysed */
#define EFF_MAX_CELLS 4000000 /* numeric route on the data: rows x (m + 1) */
#define EFF_TRIES 64         /* random inputs drawn per sample before giving up */

/* ---- names ---- */

/* The display name of a node in one syntax: its label, its leaf name, or
   the expression.  *shortname: text juxtaposes it with a coefficient;
   *atom: a coefficient needs no parentheses around it. */
static char *node_text(const gp_ctx *c, gp_id id, pr_syntax syn, int *shortname, int *atom)
{
    const gp_node *n = dag_node(c, id);
    buf b = BUF_INIT;
    int sh = 0, at = 1;
    if (n->label) {
        print_name(&b, &c->label[n->label].name, syn);
        sh = algebra_short_name(&c->label[n->label].name);
    } else if (n->op == GP_OP_LEAF) {
        print_name(&b, &c->leaf[n->pay].name, syn);
        sh = algebra_short_name(&c->leaf[n->pay].name);
    } else {
        pr_opts o = {syn, 1, 4096, NULL, NULL};
        if (!print_expr(&b, c, id, &o))
            buf_puts(&b, syn == PR_LATEX ? "\\ldots" : "…");
        at = !(n->op == GP_OP_ADD || (n->op == GP_OP_MUL && dag_is_num(c, n->kid[0])));
    }
    if (shortname)
        *shortname = sh;
    if (atom)
        *atom = at;
    return buf_take(&b);
}

/* The name of output k: the case's name for its node (the last symbol
   defined as it, so that `phi = a2; output phi` says phi), its label or
   leaf name, else "output k+1". */
static char *output_name(const gp_case *cs, gp_id id, size_t k, pr_syntax syn)
{
    const gp_ctx *c = cs->c;
    const gp_node *n = dag_node(c, id);
    size_t best = SIZE_MAX;
    for (size_t e = 0; e < cs->nelem; e++)
        if (cs->elem[e].node == id && cs->sym[cs->elem[e].sym].kind != SYM_LOSS &&
            (best == SIZE_MAX || cs->elem[e].sym >= cs->elem[best].sym))
            best = e;
    if (best != SIZE_MAX) {
        gp_name nm;
        build_elem_name(cs, best, &nm);
        buf b = BUF_INIT;
        print_name(&b, &nm, syn);
        return buf_take(&b);
    }
    if (n->label || n->op == GP_OP_LEAF)
        return node_text(c, id, syn, NULL, NULL);
    buf b = BUF_INIT;
    buf_printf(&b, "output %zu", k + 1);
    return buf_take(&b);
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (r)
        memcpy(r, s, n);
    return r;
}

/* ---- effective model ---- */

/* Why the cone of `id` is not a polynomial in its leaves, or NULL (and
   *oom on failure).  The lowest offending node is named: the first one a
   reader meets going up from the inputs. */
static char *not_polynomial(gp_ctx *c, gp_id id, const char *name, int *oom)
{
    unsigned char *mark = calloc(c->nnode ? c->nnode : 1, 1);
    if (!mark) {
        *oom = 1;
        return NULL;
    }
    dag_reach(c, 1, &id, mark);
    buf b = BUF_INIT;
    for (gp_id k = 0; k <= id && !b.n; k++) {
        if (!mark[k])
            continue;
        const gp_node *n = dag_node(c, k);
        const char *what = NULL;
        gp_id show = k; /* the node the message quotes */
        char tmp[64];
        if (n->op == GP_OP_FN) {
            snprintf(tmp, sizeof tmp, "calls %s", dag_fn_name((gp_fn)n->fn));
            what = tmp;
        } else if (n->op == GP_OP_POW) {
            mpq_srcptr e = dag_q(c, n->kid[1]);
            if (mpz_cmp_ui(mpq_denref(e), 1) != 0)
                what = "takes a fractional power";
            else if (mpq_sgn(e) < 0) {
                what = "divides by";
                show = n->kid[0];
            }
        } else if (n->op == GP_OP_MEAN || n->op == GP_OP_SUMS) {
            what = n->op == GP_OP_MEAN ? "takes a mean over the samples" : "sums over the samples";
        }
        if (!what)
            continue;
        buf_printf(&b, "%s is not a polynomial: it %s", name, what);
        char *s = node_text(c, show, PR_CASE, NULL, NULL);
        if (show != k)
            buf_printf(&b, " %s", s ? s : "?");
        else if (n->label)
            buf_printf(&b, " (in %s)", s ? s : "?");
        else
            buf_printf(&b, ": %s", s ? s : "?");
        free(s);
    }
    free(mark);
    if (b.oom)
        *oom = 1;
    return b.n ? buf_take(&b) : NULL;
}

static void eff_output_free(eff_output *o)
{
    for (size_t t = 0; o->term && t < o->nterms; t++)
        for (int s = 0; s < 3; s++) {
            free(o->term[t].monomial[s]);
            free(o->term[t].coeff[s]);
        }
    free(o->term);
    for (int s = 0; s < 3; s++)
        free(o->name[s]);
}

void effective_free(effective *e)
{
    for (size_t k = 0; e->out && k < e->nout; k++)
        eff_output_free(&e->out[k]);
    free(e->out);
    free(e->why);
    free(e->input);
    for (int s = 0; s < 3; s++)
        free(e->summary[s]);
    memset(e, 0, sizeof *e);
}

/* Give up the claim: free the outputs, keep `why`. */
static void unclaim(effective *e, char *why)
{
    for (size_t k = 0; e->out && k < e->nout; k++)
        eff_output_free(&e->out[k]);
    free(e->out);
    free(e->input);
    e->out = NULL;
    e->input = NULL;
    e->nout = e->ninput = e->ncoeff = e->ncoeff_distinct = 0;
    e->degree = 0;
    e->polynomial = 0;
    free(e->why);
    e->why = why;
}

static int cmp_leaf_order(const gp_ctx *c, uint32_t x, uint32_t y)
{
    const gp_leaf *a = &c->leaf[x], *b = &c->leaf[y];
    if (a->kind != b->kind)
        return a->kind == GP_LEAF_INPUT ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

/* Add the leaves of g to e->input, keeping declaration order. */
static int merge_inputs(effective *e, const gp_ctx *c, const algebra_grouped *g)
{
    for (size_t i = 0; i < g->nleaf; i++) {
        uint32_t l = g->leaf[i];
        size_t j = 0;
        while (j < e->ninput && e->input[j] != l)
            j++;
        if (j < e->ninput)
            continue;
        uint32_t *p = realloc(e->input, (e->ninput + 1) * sizeof *p);
        if (!p)
            return 0;
        e->input = p;
        j = e->ninput++;
        while (j > 0 && cmp_leaf_order(c, l, p[j - 1]) < 0) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = l;
    }
    return 1;
}

/* Count the distinct monomials (by their case text) over all outputs. */
static size_t distinct_monomials(const effective *e)
{
    size_t n = 0;
    for (size_t k = 0; k < e->nout; k++)
        for (size_t t = 0; t < e->out[k].nterms; t++) {
            const char *m = e->out[k].term[t].monomial[PR_CASE];
            int seen = 0;
            for (size_t k2 = 0; k2 <= k && !seen; k2++)
                for (size_t t2 = 0; t2 < (k2 == k ? t : e->out[k2].nterms) && !seen; t2++)
                    seen = strcmp(e->out[k2].term[t2].monomial[PR_CASE], m) == 0;
            n += !seen;
        }
    return n;
}

/* The one-line description, in syntax syn. */
static char *summarise(const effective *e, const gp_ctx *c, pr_syntax syn)
{
    buf b = BUF_INIT, in = BUF_INIT;
    for (size_t i = 0; i < e->ninput; i++) {
        if (i)
            buf_puts(&in, ", ");
        print_name(&in, &c->leaf[e->input[i]].name, syn);
    }
    const char *ins = in.s ? in.s : "";
    int constant_term = 0, any_term = 0, homogeneous = 1;
    for (size_t k = 0; k < e->nout; k++)
        for (size_t t = 0; t < e->out[k].nterms; t++) {
            any_term = 1;
            if (e->out[k].term[t].degree == 0)
                constant_term = 1;
            if (e->out[k].term[t].degree != e->degree)
                homogeneous = 0;
        }
    int many = e->nout > 1;
    if (!any_term) {
        buf_puts(&b, many ? "identically zero outputs" : "identically zero");
    } else if (e->degree == 0) {
        buf_puts(&b, many ? "constants: no input reaches the outputs" : "a constant: no input reaches the output");
    } else if (e->degree == 1) {
        buf_printf(&b, "one %s in %s", constant_term ? "affine layer" : "linear layer without bias", ins);
        if (many)
            buf_printf(&b, " to %zu outputs", e->nout);
    } else {
        static const char *const deg[] = {NULL, NULL, "quadratic", "cubic", "quartic"};
        const char *kind = homogeneous ? (e->degree == 2 ? "form" : "homogeneous polynomial") : "polynomial";
        if (e->degree < sizeof deg / sizeof deg[0])
            buf_printf(&b, "%s %s %s%s in %s", many ? "" : "a", deg[e->degree], kind, many ? "s" : "", ins);
        else
            buf_printf(&b, "%s%s%s of degree %u in %s", many ? "" : "a ", kind, many ? "s" : "", e->degree, ins);
        if (many)
            buf_puts(&b, ", one per output");
    }
    if (any_term)
        buf_printf(&b, " (%zu coefficient%s)", e->ncoeff, e->ncoeff == 1 ? "" : "s");
    buf_free(&in);
    char *s = buf_take(&b);
    /* "%s %s" with many: drop the leading space */
    if (s && s[0] == ' ')
        memmove(s, s + 1, strlen(s));
    return s;
}

gp_status effective_model(effective *e, gp_case *cs, size_t nout, const gp_id *out)
{
    memset(e, 0, sizeof *e);
    gp_ctx *c = cs->c;
    for (size_t k = 0; k < nout; k++)
        if (out[k] == GP_NIL || out[k] >= c->nnode)
            return GP_EINTERNAL;
    e->out = calloc(nout ? nout : 1, sizeof *e->out);
    if (!e->out)
        return GP_ENOMEM;
    e->nout = nout;
    e->polynomial = 1;
    /* first the reasons a look at the DAG gives, for every output */
    for (size_t k = 0; k < nout; k++) {
        eff_output *o = &e->out[k];
        o->node = out[k];
        for (int s = 0; s < 3; s++)
            if (!(o->name[s] = output_name(cs, out[k], k, (pr_syntax)s)))
                return GP_ENOMEM;
        int oom = 0;
        char *why = not_polynomial(c, out[k], o->name[PR_CASE], &oom);
        if (oom) {
            free(why);
            return GP_ENOMEM;
        }
        if (why) {
            unclaim(e, why);
            return GP_OK;
        }
    }
    /* then the expansions */
    size_t ndiag = c->ndiag, nerr = c->nerr;
    for (size_t k = 0; k < nout; k++) {
        eff_output *o = &e->out[k];
        algebra_grouped g;
        gp_status st = algebra_group_by_samples(&g, c, out[k]);
        if (st == GP_ELIMIT || st == GP_EINPUT) {
            /* the limit is a result here: take its diagnostic back */
            c->ndiag = ndiag;
            c->nerr = nerr;
            buf b = BUF_INIT;
            if (st == GP_ELIMIT)
                buf_printf(&b, "the expansion of %s exceeds %zu terms", o->name[PR_CASE], c->lim.max_expand_terms);
            else
                buf_printf(&b, "%s is not a polynomial: it divides by zero", o->name[PR_CASE]);
            char *why = buf_take(&b);
            if (!why)
                return GP_ENOMEM;
            unclaim(e, why);
            return GP_OK;
        }
        if (st != GP_OK)
            return st;
        if (!g.polynomial) {
            algebra_grouped_clear(&g);
            buf b = BUF_INIT;
            buf_printf(&b, "%s is not a polynomial: it divides by an expression in its params or inputs",
                       o->name[PR_CASE]);
            char *why = buf_take(&b);
            if (!why)
                return GP_ENOMEM;
            unclaim(e, why);
            return GP_OK;
        }
        o->term = calloc(g.n ? g.n : 1, sizeof *o->term);
        if (!o->term || !merge_inputs(e, c, &g)) {
            algebra_grouped_clear(&g);
            return GP_ENOMEM;
        }
        o->nterms = g.n;
        for (size_t t = 0; t < g.n; t++) {
            eff_term *tm = &o->term[t];
            for (int s = 0; s < 3; s++) {
                tm->monomial[s] = g.g[t].monomial[s];
                tm->coeff[s] = g.g[t].coeff[s];
                g.g[t].monomial[s] = g.g[t].coeff[s] = NULL; /* moved */
            }
            tm->degree = g.g[t].degree;
            tm->fixed = g.g[t].constant;
            if (tm->degree > o->degree)
                o->degree = tm->degree;
            e->ncoeff += !tm->fixed;
        }
        algebra_grouped_clear(&g);
        if (o->degree > e->degree)
            e->degree = o->degree;
    }
    e->ncoeff_distinct = distinct_monomials(e);
    for (int s = 0; s < 3; s++)
        if (!(e->summary[s] = summarise(e, c, (pr_syntax)s)))
            return GP_ENOMEM;
    return GP_OK;
}

/* ---- input dependencies: the work area ---- */

/* A relation: integer coefficients v[0] (constant) and v[1..m] (features). */
typedef struct relv {
    fmpz *v;         /* [m + 1], coprime, first nonzero feature coefficient > 0 */
    int exact;       /* proved */
    int data;        /* on the data only */
} relv;

typedef struct dw {
    gp_case *cs;
    gp_ctx *c;
    input_deps *d;
    gp_status st;
    size_t m, w;     /* features; columns w = m + 1 (the constant first) */
    size_t ncol;     /* tape columns: cs->inputs */
    tape t;
    int tlive;
    uint64_t rng;
    /* exact evaluation */
    mpq_t *qin;      /* [ncol] inputs */
    mpq_t *qout;     /* [m] features */
    /* numeric evaluation */
    tape_mpfr tm;
    int tmlive;
    mpfr_t *fin;     /* [ncol] */
    int finlive;
    size_t *colmap;  /* [ncol] data column of each tape column */
    relv *rel;
    size_t nrel, caprel;
    size_t ngeneric; /* rel[0..ngeneric) hold for every input */
    size_t nonrat;   /* numeric dependencies not recognised as rational */
    size_t unproved; /* generic relations whose identity was too large to prove */
} dw;

static void dw_fail(dw *W, gp_status st)
{
    if (W->st == GP_OK)
        W->st = st;
}

static int add_rel(dw *W, fmpz *v, int exact, int data)
{
    if (!ctx_grow((void **)&W->rel, &W->caprel, W->nrel + 1, sizeof *W->rel)) {
        _fmpz_vec_clear(v, (slong)W->w);
        dw_fail(W, GP_ENOMEM);
        return 0;
    }
    W->rel[W->nrel++] = (relv){v, exact, data};
    return 1;
}

/* Scale a rational vector to coprime integers, first nonzero feature
   coefficient positive (the constant's sign decides only when the
   features are all 0). */
static fmpz *integerise(const fmpq *q, size_t w)
{
    fmpz *v = _fmpz_vec_init((slong)w);
    fmpz_t l;
    fmpz_init_set_ui(l, 1);
    for (size_t k = 0; k < w; k++)
        fmpz_lcm(l, l, fmpq_denref(q + k));
    for (size_t k = 0; k < w; k++) {
        fmpz_divexact(v + k, l, fmpq_denref(q + k));
        fmpz_mul(v + k, v + k, fmpq_numref(q + k));
    }
    _fmpz_vec_content(l, v, (slong)w);
    if (!fmpz_is_zero(l) && !fmpz_is_one(l))
        _fmpz_vec_scalar_divexact_fmpz(v, v, (slong)w, l);
    size_t k = 1;
    while (k < w && fmpz_is_zero(v + k))
        k++;
    if (fmpz_sgn(v + (k < w ? k : 0)) < 0)
        _fmpz_vec_neg(v, v, (slong)w);
    fmpz_clear(l);
    return v;
}

/* Write relation v in syntax syn. */
static char *rel_text(const dw *W, const fmpz *v, pr_syntax syn)
{
    buf b = BUF_INIT;
    const char *minus = syn == PR_TEXT ? "−" : "-";
    int first = 1;
    for (size_t k = 1; k < W->w; k++) {
        if (fmpz_is_zero(v + k))
            continue;
        int neg = fmpz_sgn(v + k) < 0;
        if (first)
            buf_puts(&b, neg ? minus : "");
        else
            buf_printf(&b, " %s ", neg ? minus : "+");
        first = 0;
        int sh, atom;
        char *name = node_text(W->c, W->d->feat[k - 1], syn, &sh, &atom);
        if (!fmpz_is_pm1(v + k)) {
            char *z = fmpz_get_str(NULL, 10, v + k);
            buf_puts(&b, z + (neg ? 1 : 0));
            flint_free(z);
            if (syn == PR_CASE)
                buf_putc(&b, '*');
            else if (syn == PR_LATEX)
                buf_putc(&b, ' ');
            else if (!(sh && atom))
                buf_puts(&b, "·");
        }
        if (!atom)
            buf_puts(&b, syn == PR_LATEX ? "\\left(" : "(");
        buf_puts(&b, name ? name : "?");
        if (!atom)
            buf_puts(&b, syn == PR_LATEX ? "\\right)" : ")");
        free(name);
    }
    if (!fmpz_is_zero(v)) {
        int neg = fmpz_sgn(v) < 0;
        char *z = fmpz_get_str(NULL, 10, v);
        if (first)
            buf_puts(&b, z);
        else
            buf_printf(&b, " %s %s", neg ? minus : "+", z + (neg ? 1 : 0));
        flint_free(z);
    } else if (first) {
        buf_putc(&b, '0');
    }
    buf_puts(&b, " = 0");
    return buf_take(&b);
}

/* ---- sampling ---- */

/* A random rational p/q, |p| <= 2^20, 1 <= q <= 2^10. */
static void rand_q(dw *W, mpq_ptr x)
{
    uint64_t r = rng_next(&W->rng);
    long p = (long)(r & ((1u << 21) - 1)) - (1l << 20);
    unsigned long q = ((r >> 21) & ((1u << 10) - 1)) + 1;
    mpq_set_si(x, p, q);
    mpq_canonicalize(x);
}

/* A random value in [-2, 2] with 20 fraction bits (positive only when pos),
   exactly representable. */
static void rand_f(dw *W, mpfr_ptr x, int pos)
{
    uint64_t r = rng_next(&W->rng);
    long k = (long)(r & ((1u << 22) - 1)) - (1l << 21);
    if (pos)
        k = k < 0 ? -k : k == 0 ? 1 : k;
    mpfr_set_si_2exp(x, k, -20, MPFR_RNDN);
}

/* Evaluate the features exactly at W->qin into W->qout.  1 defined; 0
   undefined (a pole); -1 an exponent too large for exact evaluation. */
static int eval_q(dw *W)
{
    int ok = 0;
    gp_status st = tape_q_forward(W->qout, &W->t, 1, NULL, W->qin, 0, &ok);
    if (st != GP_OK) {
        dw_fail(W, st);
        return 0;
    }
    return ok;
}

/* Evaluate the features in MPFR at W->fin; 1 when every value is finite. */
static int eval_f(dw *W)
{
    eval_fault f;
    tape_mpfr_forward(&W->tm, NULL, W->fin, NULL, &f);
    if (f.node != GP_NIL)
        return 0;
    for (size_t k = 0; k < W->m; k++)
        if (!mpfr_number_p(tape_mpfr_value(&W->tm, k, 0)))
            return 0;
    return 1;
}

/* Random inputs at which the features are defined, evaluated exactly.  1;
   0 none found; -1 exact evaluation impossible. */
static int draw_q(dw *W)
{
    for (int tries = 0; tries < EFF_TRIES; tries++) {
        for (size_t j = 0; j < W->ncol; j++)
            rand_q(W, W->qin[j]);
        int ok = eval_q(W);
        if (ok != 0 || W->st != GP_OK)
            return ok;
    }
    return 0;
}

/* The same in MPFR; after a few undefined draws, positive inputs only
   (log and sqrt of an input). */
static int draw_f(dw *W)
{
    for (int tries = 0; tries < EFF_TRIES; tries++) {
        for (size_t j = 0; j < W->ncol; j++)
            rand_f(W, W->fin[j], tries >= 4);
        if (eval_f(W))
            return 1;
    }
    return 0;
}

/* ---- exact linear algebra ---- */

/* The null space of the rref R (rank r): one vector per free column j, with
   1 at j and -R[i][j] at pivot i.  Appends them to W->rel as integers. */
static void null_from_rref(dw *W, const fmpq_mat_t R, slong r, int exact, int data)
{
    size_t w = W->w;
    slong *piv = malloc((size_t)(r ? r : 1) * sizeof *piv);
    char *isp = calloc(w, 1);
    fmpq *q = _fmpq_vec_init((slong)w);
    if (!piv || !isp) {
        dw_fail(W, GP_ENOMEM);
        goto out;
    }
    for (slong i = 0; i < r; i++) {
        slong j = 0;
        while (fmpq_is_zero(fmpq_mat_entry(R, i, j)))
            j++;
        piv[i] = j;
        isp[j] = 1;
    }
    for (size_t j = 0; j < w && W->st == GP_OK; j++) {
        if (isp[j])
            continue;
        for (size_t k = 0; k < w; k++)
            fmpq_zero(q + k);
        fmpq_one(q + j);
        for (slong i = 0; i < r; i++)
            fmpq_neg(q + piv[i], fmpq_mat_entry(R, i, (slong)j));
        add_rel(W, integerise(q, w), exact, data);
    }
out:
    _fmpq_vec_clear(q, (slong)w);
    free(piv);
    free(isp);
}

static slong qrank(const fmpq_mat_t A)
{
    fmpq_mat_t R;
    fmpq_mat_init(R, fmpq_mat_nrows(A), fmpq_mat_ncols(A));
    slong r = fmpq_mat_rref(R, A);
    fmpq_mat_clear(R);
    return r;
}

/* Is v in the span of rel[0..n)?  (rank test over Q) */
static int in_span(dw *W, size_t n, const fmpz *v)
{
    if (n == 0)
        return _fmpz_vec_is_zero(v, (slong)W->w);
    fmpq_mat_t A;
    fmpq_mat_init(A, (slong)n + 1, (slong)W->w);
    for (size_t i = 0; i <= n; i++)
        for (size_t k = 0; k < W->w; k++)
            fmpq_set_fmpz(fmpq_mat_entry(A, (slong)i, (slong)k), (i < n ? W->rel[i].v : v) + k);
    slong r1 = qrank(A);
    fmpq_mat_t B;
    fmpq_mat_window_init(B, A, 0, 0, (slong)n, (slong)W->w);
    slong r0 = qrank(B);
    fmpq_mat_window_clear(B);
    fmpq_mat_clear(A);
    return r1 == r0;
}

/* Prove generic relation i by polynomial identity; 1 proved, 0 refuted,
   -1 too large to decide. */
static int prove(dw *W, const fmpz *v)
{
    gp_ctx *c = W->c;
    size_t m = W->m;
    mpq_t *co = malloc((m ? m : 1) * sizeof *co), c0;
    if (!co) {
        dw_fail(W, GP_ENOMEM);
        return -1;
    }
    for (size_t k = 0; k < m; k++) {
        mpq_init(co[k]);
        fmpz_get_mpz(mpq_numref(co[k]), v + k + 1);
    }
    mpq_init(c0);
    fmpz_get_mpz(mpq_numref(c0), v);
    size_t ndiag = c->ndiag, nerr = c->nerr;
    int zero = 0;
    gp_status st = algebra_lincomb_is_zero(c, m, W->d->feat, (const mpq_t *)co, c0, &zero);
    c->ndiag = ndiag; /* a term-limit diagnostic: the limit is said in the method */
    c->nerr = nerr;
    for (size_t k = 0; k < m; k++)
        mpq_clear(co[k]);
    mpq_clear(c0);
    free(co);
    if (st == GP_ENOMEM || st == GP_EINTERNAL) {
        dw_fail(W, st);
        return -1;
    }
    return st == GP_OK ? zero : -1;
}

/* ---- numeric linear algebra ---- */

/* Recognise x as p/q with q <= 2^EFF_RAT_DEN (continued fractions); 1 on
   success, with |x - p/q| <= 2^EFF_RAT_EXP * max(1, |x|). */
static int recognise(fmpq_t out, mpfr_srcptr x)
{
    mpfr_t y, e, tol;
    mpz_t a, h0, h1, k0, k1, t;
    mpfr_inits2(EFF_PREC, y, e, tol, (mpfr_ptr)0);
    mpz_inits(a, h0, h1, k0, k1, t, NULL);
    mpfr_abs(tol, x, MPFR_RNDN);
    if (mpfr_cmp_ui(tol, 1) < 0)
        mpfr_set_ui(tol, 1, MPFR_RNDN);
    mpfr_mul_2si(tol, tol, EFF_RAT_EXP, MPFR_RNDN);
    int ok = 0;
    if (mpfr_cmpabs(x, tol) <= 0) {
        fmpq_zero(out);
        ok = 1;
        goto done;
    }
    /* h/k convergents: h(-1) = 1, h(-2) = 0, k(-1) = 0, k(-2) = 1 */
    mpz_set_ui(h1, 1);
    mpz_set_ui(h0, 0);
    mpz_set_ui(k1, 0);
    mpz_set_ui(k0, 1);
    mpfr_set(y, x, MPFR_RNDN);
    for (int it = 0; it < 200; it++) {
        mpfr_get_z(a, y, MPFR_RNDD);
        mpz_mul(t, a, h1);
        mpz_add(t, t, h0);
        mpz_swap(h0, h1);
        mpz_swap(h1, t); /* h1 = a h1 + h0 */
        mpz_mul(t, a, k1);
        mpz_add(t, t, k0);
        mpz_swap(k0, k1);
        mpz_swap(k1, t);
        if (mpz_sizeinbase(k1, 2) > EFF_RAT_DEN)
            break;
        /* e = x - h1/k1 */
        mpfr_set_z(e, h1, MPFR_RNDN);
        mpfr_div_z(e, e, k1, MPFR_RNDN);
        mpfr_sub(e, x, e, MPFR_RNDN);
        if (mpfr_cmpabs(e, tol) <= 0) {
            fmpz_set_mpz(fmpq_numref(out), h1);
            fmpz_set_mpz(fmpq_denref(out), k1);
            fmpq_canonicalise(out);
            ok = 1;
            break;
        }
        mpfr_sub_z(y, y, a, MPFR_RNDN);
        if (mpfr_zero_p(y))
            break;
        mpfr_ui_div(y, 1, y, MPFR_RNDN);
    }
done:
    mpfr_clears(y, e, tol, (mpfr_ptr)0);
    mpz_clears(a, h0, h1, k0, k1, t, NULL);
    return ok;
}

/*
 * The numeric null space of A (n x w, row-major, destroyed): columns scaled
 * to a largest entry of 1, Gauss-Jordan elimination with partial pivoting,
 * a pivot below 2^EFF_PIVOT_EXP counted as zero.  Returns the rank; each
 * null vector (one per free column, that column's coefficient 1 in the
 * original units) recognised as rationals is appended to W->rel (exact 0,
 * data as given) unless check() rejects it; the others are counted in
 * W->nonrat.
 */
static long numeric_null(dw *W, mpfr_t *A, size_t n, int data, int (*check)(dw *, const fmpz *))
{
    size_t w = W->w;
    mpfr_t *sc = malloc(w * sizeof *sc), t, piv;
    size_t *pc = malloc(w * sizeof *pc);
    fmpq *q = _fmpq_vec_init((slong)w);
    long rank = 0;
    if (!sc || !pc) {
        free(sc);
        free(pc);
        _fmpq_vec_clear(q, (slong)w);
        dw_fail(W, GP_ENOMEM);
        return 0;
    }
    mpfr_inits2(EFF_PREC, t, piv, (mpfr_ptr)0);
#define AT(i, j) A[(i) * w + (j)]
    for (size_t j = 0; j < w; j++) {
        mpfr_init2(sc[j], EFF_PREC);
        mpfr_set_ui(sc[j], 0, MPFR_RNDN);
        for (size_t i = 0; i < n; i++)
            if (mpfr_cmpabs(AT(i, j), sc[j]) > 0)
                mpfr_abs(sc[j], AT(i, j), MPFR_RNDN);
        if (mpfr_zero_p(sc[j]))
            mpfr_set_ui(sc[j], 1, MPFR_RNDN);
        for (size_t i = 0; i < n; i++)
            mpfr_div(AT(i, j), AT(i, j), sc[j], MPFR_RNDN);
    }
    size_t row = 0;
    char *isp = calloc(w, 1);
    if (!isp) {
        dw_fail(W, GP_ENOMEM);
        goto out;
    }
    for (size_t j = 0; j < w && row < n; j++) {
        size_t best = row;
        for (size_t i = row + 1; i < n; i++)
            if (mpfr_cmpabs(AT(i, j), AT(best, j)) > 0)
                best = i;
        mpfr_abs(t, AT(best, j), MPFR_RNDN);
        if (mpfr_zero_p(t) || mpfr_get_exp(t) <= EFF_PIVOT_EXP)
            continue;
        if (best != row)
            for (size_t k = 0; k < w; k++)
                mpfr_swap(AT(best, k), AT(row, k));
        mpfr_set(piv, AT(row, j), MPFR_RNDN);
        for (size_t k = 0; k < w; k++)
            mpfr_div(AT(row, k), AT(row, k), piv, MPFR_RNDN);
        for (size_t i = 0; i < n; i++) {
            if (i == row || mpfr_zero_p(AT(i, j)))
                continue;
            mpfr_set(piv, AT(i, j), MPFR_RNDN);
            for (size_t k = 0; k < w; k++) {
                mpfr_mul(t, piv, AT(row, k), MPFR_RNDN);
                mpfr_sub(AT(i, k), AT(i, k), t, MPFR_RNDN);
            }
        }
        pc[row++] = j;
        isp[j] = 1;
    }
    rank = (long)row;
    for (size_t j = 0; j < w && W->st == GP_OK; j++) {
        if (isp[j])
            continue;
        /* x_k = y_k * s_j / s_k with y the scaled null vector: x_j = 1 */
        int ok = 1;
        for (size_t k = 0; k < w; k++)
            fmpq_zero(q + k);
        fmpq_one(q + j);
        for (size_t i = 0; i < row && ok; i++) {
            mpfr_neg(t, AT(i, j), MPFR_RNDN);
            mpfr_mul(t, t, sc[j], MPFR_RNDN);
            mpfr_div(t, t, sc[pc[i]], MPFR_RNDN);
            ok = recognise(q + pc[i], t);
        }
        if (!ok) {
            W->nonrat++;
            continue;
        }
        fmpz *v = integerise(q, w);
        if (check(W, v))
            add_rel(W, v, 0, data);
        else {
            W->nonrat++;
            _fmpz_vec_clear(v, (slong)w);
        }
    }
out:
#undef AT
    free(isp);
    for (size_t j = 0; j < w; j++)
        mpfr_clear(sc[j]);
    free(sc);
    free(pc);
    mpfr_clears(t, piv, (mpfr_ptr)0);
    _fmpq_vec_clear(q, (slong)w);
    return rank;
}

/* Does v hold at the features now in the MPFR workspace, to 2^EFF_TOL_EXP
   relative to the sum of the magnitudes of its terms? */
static int holds_here(dw *W, const fmpz *v)
{
    mpfr_t r, s, t;
    mpfr_inits2(EFF_PREC + 64, r, s, t, (mpfr_ptr)0);
    fmpz_get_mpfr(r, v, MPFR_RNDN);
    mpfr_abs(s, r, MPFR_RNDN);
    for (size_t k = 1; k < W->w; k++) {
        if (fmpz_is_zero(v + k))
            continue;
        fmpz_get_mpfr(t, v + k, MPFR_RNDN);
        mpfr_mul(t, t, tape_mpfr_value(&W->tm, k - 1, 0), MPFR_RNDN);
        mpfr_add(r, r, t, MPFR_RNDN);
        mpfr_abs(t, t, MPFR_RNDN);
        mpfr_add(s, s, t, MPFR_RNDN);
    }
    mpfr_abs(r, r, MPFR_RNDN);
    mpfr_mul_2si(s, s, EFF_TOL_EXP, MPFR_RNDN);
    int ok = mpfr_cmp(r, s) <= 0;
    mpfr_clears(r, s, t, (mpfr_ptr)0);
    return ok;
}

/* A numeric relation for every input: it holds at EFF_FRESH fresh inputs. */
static int fresh_check(dw *W, const fmpz *v)
{
    for (int i = 0; i < EFF_FRESH; i++)
        if (!draw_f(W) || !holds_here(W, v))
            return 0;
    return 1;
}

/* Load data row s into the exact or the MPFR inputs. */
static void load_row(dw *W, size_t s, int numeric)
{
    const gp_case *cs = W->cs;
    for (size_t j = 0; j < W->ncol; j++) {
        mpq_srcptr x = cs->dval[s * cs->ncols + W->colmap[j]];
        if (numeric)
            mpfr_set_q(W->fin[j], x, MPFR_RNDN);
        else
            mpq_set(W->qin[j], x);
    }
}

/* A numeric relation on the data: it holds at every row where the features
   are defined. */
static int data_check(dw *W, const fmpz *v)
{
    for (size_t s = 0; s < W->cs->nrows; s++) {
        load_row(W, s, 1);
        if (eval_f(W) && !holds_here(W, v))
            return 0;
    }
    return 1;
}

/* Drop relations rel[from..nrel) that the ones before them span. */
static void keep_new(dw *W, size_t from)
{
    size_t kk = from;
    for (size_t i = from; i < W->nrel; i++) {
        if (W->st == GP_OK && !in_span(W, kk, W->rel[i].v))
            W->rel[kk++] = W->rel[i];
        else
            _fmpz_vec_clear(W->rel[i].v, (slong)W->w);
    }
    W->nrel = kk;
}

static void drop_rels(dw *W, size_t from)
{
    for (size_t i = from; i < W->nrel; i++)
        _fmpz_vec_clear(W->rel[i].v, (slong)W->w);
    W->nrel = from;
}

/* ---- input dependencies: the passes ---- */

/* For every input, exactly.  0 when the features are undefined at every
   random input tried. */
static int generic_exact(dw *W, size_t *nsamples)
{
    size_t n = W->m + 1 + EFF_MARGIN, w = W->w;
    int found = 1;
    for (int attempt = 0; attempt < 3 && W->st == GP_OK; attempt++) {
        fmpq_mat_t A, R;
        fmpq_mat_init(A, (slong)n, (slong)w);
        fmpq_mat_init(R, (slong)n, (slong)w);
        for (size_t i = 0; i < n && found; i++) {
            if (!draw_q(W)) {
                found = 0;
                break;
            }
            fmpq_one(fmpq_mat_entry(A, (slong)i, 0));
            for (size_t k = 0; k < W->m; k++)
                fmpq_set_mpq(fmpq_mat_entry(A, (slong)i, (slong)k + 1), W->qout[k]);
        }
        if (found && W->st == GP_OK) {
            slong r = fmpq_mat_rref(R, A);
            null_from_rref(W, R, r, 1, 0);
        }
        fmpq_mat_clear(A);
        fmpq_mat_clear(R);
        if (!found || W->st != GP_OK)
            break;
        *nsamples = n;
        /* prove each; a refuted one means unlucky inputs: draw again */
        int refuted = 0;
        W->unproved = 0;
        for (size_t i = 0; i < W->nrel && !refuted && W->st == GP_OK; i++) {
            int pr = prove(W, W->rel[i].v);
            if (pr == 0)
                refuted = 1;
            else if (pr < 0) {
                W->rel[i].exact = 0;
                W->unproved++;
            }
        }
        if (!refuted)
            break;
        drop_rels(W, 0);
    }
    W->ngeneric = W->nrel;
    return found;
}

/* For every input, in MPFR. */
static int generic_numeric(dw *W, size_t *nsamples, long *rank)
{
    size_t n = W->m + 1 + EFF_MARGIN, w = W->w;
    mpfr_t *A = malloc(n * w * sizeof *A);
    if (!A) {
        dw_fail(W, GP_ENOMEM);
        return 0;
    }
    for (size_t i = 0; i < n * w; i++)
        mpfr_init2(A[i], EFF_PREC);
    int found = 1;
    for (size_t i = 0; i < n && found; i++) {
        if (!draw_f(W)) {
            found = 0;
            break;
        }
        mpfr_set_ui(A[i * w], 1, MPFR_RNDN);
        for (size_t k = 0; k < W->m; k++)
            mpfr_set(A[i * w + k + 1], tape_mpfr_value(&W->tm, k, 0), MPFR_RNDN);
    }
    if (found) {
        *rank = numeric_null(W, A, n, 0, fresh_check);
        *nsamples = n;
    }
    for (size_t i = 0; i < n * w; i++)
        mpfr_clear(A[i]);
    free(A);
    W->ngeneric = W->nrel;
    return found;
}

/* On the data, exactly: an echelon basis grown row by row, kept reduced
   (each pivot 1 and alone in its column), so that its null space reads off
   directly.  Stops once the rank is full. */
static void data_exact(dw *W)
{
    const gp_case *cs = W->cs;
    input_deps *d = W->d;
    size_t w = W->w, skipped = 0;
    slong r = 0;
    fmpq_mat_t B;
    fmpq_mat_init(B, (slong)w, (slong)w);
    slong *pc = malloc(w * sizeof *pc);
    fmpq *row = _fmpq_vec_init((slong)w);
    fmpq_t f, g;
    fmpq_init(f);
    fmpq_init(g);
    if (!pc) {
        dw_fail(W, GP_ENOMEM);
        goto out;
    }
    for (size_t s = 0; s < cs->nrows && (size_t)r < w && W->st == GP_OK; s++) {
        load_row(W, s, 0);
        if (eval_q(W) != 1) {
            skipped++;
            continue;
        }
        fmpq_one(row);
        for (size_t k = 0; k < W->m; k++)
            fmpq_set_mpq(row + k + 1, W->qout[k]);
        for (slong i = 0; i < r; i++) {
            if (fmpq_is_zero(row + pc[i]))
                continue;
            fmpq_set(f, row + pc[i]);
            for (size_t k = 0; k < w; k++) {
                fmpq_mul(g, f, fmpq_mat_entry(B, i, (slong)k));
                fmpq_sub(row + k, row + k, g);
            }
        }
        slong p = 0;
        while ((size_t)p < w && fmpq_is_zero(row + p))
            p++;
        if ((size_t)p == w)
            continue;
        fmpq_inv(f, row + p);
        for (size_t k = 0; k < w; k++)
            fmpq_mul(row + k, row + k, f);
        for (slong i = 0; i < r; i++) {
            if (fmpq_is_zero(fmpq_mat_entry(B, i, p)))
                continue;
            fmpq_set(f, fmpq_mat_entry(B, i, p));
            for (size_t k = 0; k < w; k++) {
                fmpq_mul(g, f, row + k);
                fmpq_sub(fmpq_mat_entry(B, i, (slong)k), fmpq_mat_entry(B, i, (slong)k), g);
            }
        }
        for (size_t k = 0; k < w; k++)
            fmpq_set(fmpq_mat_entry(B, r, (slong)k), row + k);
        pc[r++] = p;
    }
    d->data_rank = r;
    d->data_rows = cs->nrows - skipped;
    if (W->st == GP_OK && d->data_rows > 0) {
        size_t from = W->nrel;
        null_from_rref(W, B, r, 1, 1);
        keep_new(W, from);
    }
out:
    fmpq_clear(f);
    fmpq_clear(g);
    _fmpq_vec_clear(row, (slong)w);
    free(pc);
    fmpq_mat_clear(B);
}

/* On the data, in MPFR.  0 when the data set is too large for it. */
static int data_numeric(dw *W)
{
    const gp_case *cs = W->cs;
    input_deps *d = W->d;
    size_t w = W->w, n = cs->nrows;
    if (n > EFF_MAX_CELLS / w)
        return 0;
    mpfr_t *A = malloc((n ? n : 1) * w * sizeof *A);
    if (!A) {
        dw_fail(W, GP_ENOMEM);
        return 1;
    }
    size_t used = 0;
    for (size_t s = 0; s < n; s++) {
        load_row(W, s, 1);
        if (!eval_f(W))
            continue;
        mpfr_t *a = A + used * w;
        for (size_t k = 0; k < w; k++)
            mpfr_init2(a[k], EFF_PREC);
        mpfr_set_ui(a[0], 1, MPFR_RNDN);
        for (size_t k = 0; k < W->m; k++)
            mpfr_set(a[k + 1], tape_mpfr_value(&W->tm, k, 0), MPFR_RNDN);
        used++;
    }
    d->data_rows = used;
    size_t from = W->nrel;
    d->data_rank = used ? numeric_null(W, A, used, 1, data_check) : 0;
    if (!used)
        d->data_rank = 0;
    keep_new(W, from);
    for (size_t i = 0; i < used * w; i++)
        mpfr_clear(A[i]);
    free(A);
    return 1;
}

/* ---- input dependencies: the whole ---- */

/* The feature behind an unlabelled affine wrapper: 2*x and x + 1 carry
   the same linear relations as x (the constant column absorbs the shift). */
static gp_id unwrap(const gp_ctx *c, gp_id k)
{
    for (;;) {
        const gp_node *n = dag_node(c, k);
        if (n->label || (n->op != GP_OP_MUL && n->op != GP_OP_ADD) || n->nkid != 2)
            return k;
        if (dag_is_num(c, n->kid[0]))
            k = n->kid[1];
        else if (dag_is_num(c, n->kid[1]))
            k = n->kid[0];
        else
            return k;
    }
}

/* The features of the outputs, by id, into d->feat. */
static gp_status find_features(input_deps *d, gp_ctx *c, size_t nout, const gp_id *out)
{
    unsigned char *mark = calloc(c->nnode ? c->nnode : 1, 1), *isf = calloc(c->nnode ? c->nnode : 1, 1);
    if (!mark || !isf) {
        free(mark);
        free(isf);
        return GP_ENOMEM;
    }
    dag_reach(c, nout, out, mark);
    size_t m = 0;
    for (gp_id id = 0; id < c->nnode; id++) {
        const gp_node *n = dag_node(c, id);
        if (!mark[id] || !(n->flags & GP_NF_PARAM))
            continue;
        for (uint32_t j = 0; j < n->nkid; j++) {
            const gp_node *k = dag_node(c, n->kid[j]);
            if (k->level == GP_LV_SAMPLE && !(k->flags & GP_NF_PARAM)) {
                gp_id f = unwrap(c, n->kid[j]);
                m += !isf[f];
                isf[f] = 1;
            }
        }
    }
    d->feat = malloc((m ? m : 1) * sizeof *d->feat);
    d->feat_name = calloc(m ? m : 1, sizeof *d->feat_name);
    gp_status st = d->feat && d->feat_name ? GP_OK : GP_ENOMEM;
    for (gp_id id = 0; id < c->nnode && st == GP_OK; id++)
        if (isf[id]) {
            d->feat[d->nfeat] = id;
            for (int s = 0; s < 3; s++)
                if (!(d->feat_name[d->nfeat][s] = node_text(c, id, (pr_syntax)s, NULL, NULL)))
                    st = GP_ENOMEM;
            d->nfeat++;
        }
    free(mark);
    free(isf);
    return st;
}

/* Exact evaluation needs every power within TAPE_Q_POW_MAX. */
static int exact_ok(const tape *t)
{
    if (!t->rational)
        return 0;
    for (size_t k = 0; k < t->nins; k++)
        if (t->ins[k].op == TP_POW) {
            mpq_srcptr e = t->c->num[t->ins[k].aux];
            if (!mpz_fits_slong_p(mpq_numref(e)) || labs(mpz_get_si(mpq_numref(e))) > TAPE_Q_POW_MAX)
                return 0;
        }
    return 1;
}

static void dw_free(dw *W)
{
    drop_rels(W, 0);
    free(W->rel);
    if (W->qin) {
        for (size_t j = 0; j < W->ncol; j++)
            mpq_clear(W->qin[j]);
        free(W->qin);
    }
    if (W->qout) {
        for (size_t k = 0; k < W->m; k++)
            mpq_clear(W->qout[k]);
        free(W->qout);
    }
    if (W->fin) {
        for (size_t j = 0; j < W->ncol && W->finlive; j++)
            mpfr_clear(W->fin[j]);
        free(W->fin);
    }
    if (W->tmlive)
        tape_mpfr_free(&W->tm);
    if (W->tlive)
        tape_free(&W->t);
    free(W->colmap);
}

/* Set up the MPFR route (once). */
static void numeric_setup(dw *W)
{
    if (W->tmlive || W->st != GP_OK)
        return;
    gp_status st = tape_mpfr_init(&W->tm, &W->t, 1, EFF_PREC);
    if (st != GP_OK) {
        dw_fail(W, st);
        return;
    }
    W->tmlive = 1;
    W->fin = malloc((W->ncol ? W->ncol : 1) * sizeof *W->fin);
    if (!W->fin) {
        dw_fail(W, GP_ENOMEM);
        return;
    }
    for (size_t j = 0; j < W->ncol; j++)
        mpfr_init2(W->fin[j], EFF_PREC);
    W->finlive = 1;
}

gp_status input_dependencies(input_deps *d, gp_case *cs, size_t nout, const gp_id *out, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->rank = -1;
    d->data_rank = -1;
    gp_ctx *c = cs->c;
    for (size_t k = 0; k < nout; k++)
        if (out[k] == GP_NIL || out[k] >= c->nnode)
            return GP_EINTERNAL;
    gp_status st = find_features(d, c, nout, out);
    if (st != GP_OK)
        return st;
    buf mb = BUF_INIT;
    if (d->nfeat == 0) {
        d->rank = 1;
        if (cs->has_data) {
            d->data_rank = cs->nrows ? 1 : 0;
            d->data_rows = cs->nrows;
        }
        d->method = dupstr("no input feature reaches a param");
        return d->method ? GP_OK : GP_ENOMEM;
    }
    if (d->nfeat > EFF_MAX_FEAT) {
        buf_printf(&mb, "not analysed: %zu features, more than %d", d->nfeat, EFF_MAX_FEAT);
        d->method = buf_take(&mb);
        return d->method ? GP_OK : GP_ENOMEM;
    }
    dw W;
    memset(&W, 0, sizeof W);
    W.cs = cs;
    W.c = c;
    W.d = d;
    W.m = d->nfeat;
    W.w = W.m + 1;
    W.ncol = cs->ninputs;
    W.rng = seed ? seed : 0x6566666563746976u; /* "effectiv" */
    st = tape_compile(&W.t, c, W.m, d->feat, 0, NULL, cs->ninputs, cs->inputs);
    if (st != GP_OK)
        return st;
    W.tlive = 1;
    W.colmap = malloc((W.ncol ? W.ncol : 1) * sizeof *W.colmap);
    W.qin = malloc((W.ncol ? W.ncol : 1) * sizeof *W.qin);
    W.qout = malloc(W.m * sizeof *W.qout);
    if (!W.colmap || !W.qin || !W.qout) {
        free(W.qin);
        free(W.qout);
        W.qin = NULL;
        W.qout = NULL;
        dw_free(&W);
        return GP_ENOMEM;
    }
    for (size_t j = 0; j < W.ncol; j++)
        mpq_init(W.qin[j]);
    for (size_t k = 0; k < W.m; k++)
        mpq_init(W.qout[k]);
    /* the data column of each input (the builder saw to it that there is one) */
    for (size_t j = 0; j < W.ncol && cs->has_data; j++) {
        size_t k = 0;
        while (k < cs->ncols && cs->dcol[k] != cs->inputs[j])
            k++;
        if (k == cs->ncols) {
            dw_free(&W);
            return GP_EINTERNAL;
        }
        W.colmap[j] = k;
    }
    int numeric = !exact_ok(&W.t);
    d->numeric = numeric;
    size_t nsamples = 0;
    int found;
    if (!numeric) {
        found = generic_exact(&W, &nsamples);
        d->rank = found ? (long)(W.w - W.ngeneric) : -1;
    } else {
        numeric_setup(&W);
        long rank = -1;
        found = W.st == GP_OK && generic_numeric(&W, &nsamples, &rank);
        d->rank = found ? rank : -1;
    }
    if (!found)
        drop_rels(&W, 0);
    /* the method, for every input */
    if (!found)
        buf_puts(&mb, "for every input: not analysed, the features are undefined at every random input tried");
    else if (!numeric) {
        buf_printf(&mb, "exact: null space of (1, features) at %zu random rational inputs (FLINT fmpq_mat), ", nsamples);
        if (W.unproved)
            buf_printf(&mb, "%zu relation%s too large to prove by polynomial identity (%s at those inputs)", W.unproved,
                       W.unproved == 1 ? "" : "s", W.unproved == 1 ? "it holds" : "they hold");
        else
            buf_puts(&mb, "each relation proved by polynomial identity (FLINT fmpq_mpoly)");
    } else {
        buf_printf(&mb,
                   "numeric: features evaluated in MPFR at %d bits at %zu random inputs, relations recognised as small "
                   "rationals and checked to 2^%d relative at %d fresh inputs",
                   EFF_PREC, nsamples, EFF_TOL_EXP, EFF_FRESH);
    }
    /* on the data */
    if (cs->has_data && W.st == GP_OK) {
        if (!numeric) {
            data_exact(&W);
            buf_printf(&mb, "; on the data: exact rank over %zu row%s", d->data_rows, d->data_rows == 1 ? "" : "s");
        } else {
            numeric_setup(&W);
            if (W.st == GP_OK && data_numeric(&W))
                buf_printf(&mb, "; on the data: numeric rank over %zu row%s (pivots below 2^%d count as zero)",
                           d->data_rows, d->data_rows == 1 ? "" : "s", EFF_PIVOT_EXP);
            else if (W.st == GP_OK)
                buf_printf(&mb, "; on the data: not analysed numerically, %zu rows are too many", cs->nrows);
        }
        if (d->data_rows < cs->nrows && d->data_rank >= 0)
            buf_printf(&mb, " (%zu row%s skipped: a feature is undefined there)", cs->nrows - d->data_rows,
                       cs->nrows - d->data_rows == 1 ? "" : "s");
    }
    if (W.nonrat)
        buf_printf(&mb, "; %zu numeric dependenc%s without a small rational form not shown", W.nonrat,
                   W.nonrat == 1 ? "y" : "ies");
    /* the relations, in text */
    if (W.st == GP_OK && W.nrel) {
        d->rel = calloc(W.nrel, sizeof *d->rel);
        if (!d->rel)
            dw_fail(&W, GP_ENOMEM);
        for (size_t i = 0; i < W.nrel && W.st == GP_OK; i++) {
            input_rel *r = &d->rel[d->nrel++];
            r->on_data_only = W.rel[i].data;
            r->exact = W.rel[i].exact;
            for (int s = 0; s < 3; s++)
                if (!(r->text[s] = rel_text(&W, W.rel[i].v, (pr_syntax)s)))
                    dw_fail(&W, GP_ENOMEM);
        }
    }
    d->method = buf_take(&mb);
    if (!d->method)
        dw_fail(&W, GP_ENOMEM);
    st = W.st;
    dw_free(&W);
    return st;
}

void input_deps_free(input_deps *d)
{
    for (size_t i = 0; d->rel && i < d->nrel; i++)
        for (int s = 0; s < 3; s++)
            free(d->rel[i].text[s]);
    free(d->rel);
    for (size_t k = 0; d->feat_name && k < d->nfeat; k++)
        for (int s = 0; s < 3; s++)
            free(d->feat_name[k][s]);
    free(d->feat_name);
    free(d->feat);
    free(d->method);
    memset(d, 0, sizeof *d);
}

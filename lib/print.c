/*
 * print.c -- expressions to text, LaTeX and case syntax.
 *
 * The printer is iterative: a stack of tasks, each either a literal to emit
 * or a node to expand at a given precedence.  Expanding a node pushes its
 * pieces in reverse order.  A derivative of a 10^5-deep chain is a deep
 * product, and printing it must not recurse.
 *
 * How a product is laid out for people: the numeric coefficient first, then
 * the factors that are the same for every sample (params), then the others
 * with the outermost (largest id, nearest the loss) first, so that a chain
 * rule reads from the loss down to the weight: 2w₁(ŷ − y)·z₁(1 − z₁)·h₁.  A
 * factor and the sum "1 − factor" stand together.  Factors with negative
 * exponents go below a fraction bar.  In case syntax the same order is kept
 * and every operator is written out, so the text parses back.
 */
#include "print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* precedence: a context of precedence P parenthesizes what binds looser than P */
enum { P_SUM = 10, P_NEG = 10, P_FRAC = 15, P_PROD = 20, P_POW = 40, P_ATOM = 50 };

/* ---- names ---- */

static const char *const greek[][3] = {
    {"alpha", "α", "\\alpha"}, {"beta", "β", "\\beta"}, {"gamma", "γ", "\\gamma"}, {"delta", "δ", "\\delta"},
    {"epsilon", "ε", "\\epsilon"}, {"zeta", "ζ", "\\zeta"}, {"eta", "η", "\\eta"}, {"theta", "θ", "\\theta"},
    {"iota", "ι", "\\iota"}, {"kappa", "κ", "\\kappa"}, {"lambda", "λ", "\\lambda"}, {"mu", "μ", "\\mu"},
    {"nu", "ν", "\\nu"}, {"xi", "ξ", "\\xi"}, {"pi", "π", "\\pi"}, {"rho", "ρ", "\\rho"},
    {"sigma", "σ", "\\sigma"}, {"tau", "τ", "\\tau"}, {"upsilon", "υ", "\\upsilon"}, {"phi", "φ", "\\phi"},
    {"chi", "χ", "\\chi"}, {"psi", "ψ", "\\psi"}, {"omega", "ω", "\\omega"}, {"Gamma", "Γ", "\\Gamma"},
    {"Delta", "Δ", "\\Delta"}, {"Theta", "Θ", "\\Theta"}, {"Lambda", "Λ", "\\Lambda"}, {"Xi", "Ξ", "\\Xi"},
    {"Pi", "Π", "\\Pi"}, {"Sigma", "Σ", "\\Sigma"}, {"Upsilon", "Υ", "\\Upsilon"}, {"Phi", "Φ", "\\Phi"},
    {"Psi", "Ψ", "\\Psi"}, {"Omega", "Ω", "\\Omega"},
};

static const char *const sub_digit[] = {"₀", "₁", "₂", "₃", "₄", "₅", "₆", "₇", "₈", "₉"};

static void sub_int(buf *out, long v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%ld", v);
    for (char *p = tmp; *p; p++)
        buf_puts(out, *p == '-' ? "₋" : sub_digit[*p - '0']);
}

/* the letter part of a base: Greek, hat, or as written */
static void letters(buf *out, const char *s, size_t n, pr_syntax syn)
{
    int hat = n > 3 && memcmp(s + n - 3, "hat", 3) == 0;
    size_t m = hat ? n - 3 : n;
    const char *g = NULL;
    for (size_t i = 0; i < sizeof greek / sizeof greek[0]; i++)
        if (strlen(greek[i][0]) == m && memcmp(greek[i][0], s, m) == 0)
            g = syn == PR_LATEX ? greek[i][2] : greek[i][1];
    if (hat && !g && m != 1)
        hat = 0, m = n;
    if (syn == PR_LATEX) {
        if (hat)
            buf_puts(out, "\\hat{");
        if (g)
            buf_puts(out, g);
        else if (m == 1)
            buf_putn(out, s, 1);
        else {
            buf_puts(out, "\\mathit{");
            for (size_t i = 0; i < m; i++) {
                if (s[i] == '_')
                    buf_puts(out, "\\_");
                else
                    buf_putc(out, s[i]);
            }
            buf_putc(out, '}');
        }
        if (hat)
            buf_putc(out, '}');
    } else {
        /* a precomposed letter where Unicode has one (ŷ), else a combining hat */
        static const char *const pre[][2] = {
            {"a", "â"}, {"c", "ĉ"}, {"e", "ê"}, {"g", "ĝ"}, {"h", "ĥ"}, {"i", "î"}, {"j", "ĵ"}, {"o", "ô"}, {"s", "ŝ"},
            {"u", "û"}, {"w", "ŵ"}, {"y", "ŷ"}, {"z", "ẑ"}, {"A", "Â"}, {"C", "Ĉ"}, {"E", "Ê"}, {"G", "Ĝ"}, {"H", "Ĥ"},
            {"I", "Î"}, {"J", "Ĵ"}, {"O", "Ô"}, {"S", "Ŝ"}, {"U", "Û"}, {"W", "Ŵ"}, {"Y", "Ŷ"}, {"Z", "Ẑ"},
        };
        const char *composed = NULL;
        for (size_t i = 0; hat && !g && i < sizeof pre / sizeof pre[0]; i++)
            if (pre[i][0][0] == s[0])
                composed = pre[i][1];
        if (composed) {
            buf_puts(out, composed);
            return;
        }
        if (g)
            buf_puts(out, g);
        else
            buf_putn(out, s, m);
        if (hat)
            buf_puts(out, "\xCC\x82"); /* U+0302 combining circumflex */
    }
}

void print_name(buf *out, const gp_name *nm, pr_syntax syn)
{
    const char *s = nm->base;
    size_t n = strlen(s);
    if (syn == PR_CASE) {
        buf_puts(out, s);
        for (int i = 0; i < nm->nidx; i++)
            buf_printf(out, "[%d]", nm->idx[i]);
        return;
    }
    /* trailing digits of the base become subscripts, before the indices */
    size_t d = n;
    while (d > 1 && s[d - 1] >= '0' && s[d - 1] <= '9')
        d--;
    if (d > 1 && s[d - 1] == '_')
        d--; /* w_11 reads as w₁₁ too */
    int commas = 0;
    for (int i = 0; i < nm->nidx; i++)
        if (nm->idx[i] > 9 || nm->idx[i] < 0)
            commas = 1;
    size_t digits_at = d < n && s[d] == '_' ? d + 1 : d;
    int has_sub = digits_at < n || nm->nidx > 0;
    letters(out, s, d, syn);
    if (!has_sub)
        return;
    if (syn == PR_LATEX) {
        buf_puts(out, "_{");
        buf_putn(out, s + digits_at, n - digits_at);
        for (int i = 0; i < nm->nidx; i++) {
            if (commas && (i > 0 || digits_at < n))
                buf_putc(out, ',');
            buf_printf(out, "%d", nm->idx[i]);
        }
        buf_putc(out, '}');
    } else {
        for (size_t i = digits_at; i < n; i++)
            buf_puts(out, sub_digit[s[i] - '0']);
        for (int i = 0; i < nm->nidx; i++) {
            if (commas && (i > 0 || digits_at < n))
                buf_putc(out, ',');
            sub_int(out, nm->idx[i]);
        }
    }
}

void print_aux_name(buf *out, uint32_t k, pr_syntax syn)
{
    if (syn == PR_LATEX)
        buf_printf(out, "\\delta_{%u}", k);
    else if (syn == PR_CASE)
        buf_printf(out, "aux%u", k);
    else {
        buf_puts(out, "δ");
        sub_int(out, (long)k);
    }
}

size_t print_choose_aux(const gp_ctx *c, size_t nroots, const gp_id *roots, int labels, size_t budget, uint32_t *aux)
{
    enum { AUX_MIN = 8 }; /* smaller shared pieces are cheaper inline */
    const uint64_t sat = (uint64_t)1 << 62;
    size_t hi = 0;
    for (size_t i = 0; i < nroots; i++)
        if (roots[i] + 1 > hi)
            hi = roots[i] + 1;
    uint64_t *tsize = calloc(hi ? hi : 1, sizeof *tsize), *refs = calloc(hi ? hi : 1, sizeof *refs);
    size_t naux = 0;
    if (!tsize || !refs)
        goto done;
    /* tree sizes, bottom-up; a name prints as one node */
    for (size_t id = 0; id < hi; id++) {
        const gp_node *n = &c->node[id];
        uint64_t t = 1;
        if (!(labels && n->label))
            for (uint32_t k = 0; k < n->nkid; k++) {
                t += tsize[n->kid[k]];
                if (t > sat)
                    t = sat;
            }
        tsize[id] = t;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < nroots; i++) {
        gp_id r = roots[i];
        const gp_node *n = &c->node[r];
        /* a root prints its body even when it has a name */
        uint64_t t = 1;
        for (uint32_t k = 0; k < n->nkid; k++)
            t += tsize[n->kid[k]];
        total += t;
        if (total > sat)
            total = sat;
    }
    if (total <= budget)
        goto done;
    /* how often each node would be printed, top-down */
    for (size_t i = 0; i < nroots; i++)
        refs[roots[i]] = refs[roots[i]] + 1 > sat ? sat : refs[roots[i]] + 1;
    for (size_t id = hi; id-- > 0;) {
        if (!refs[id])
            continue;
        const gp_node *n = &c->node[id];
        int root = 0;
        for (size_t i = 0; i < nroots && !root; i++)
            root = roots[i] == id;
        if (labels && n->label && !root)
            continue;
        uint64_t times = refs[id];
        if (!root && times >= 2 && tsize[id] >= AUX_MIN && n->op != GP_OP_LEAF && n->op != GP_OP_NUM) {
            aux[id] = 1; /* numbered below */
            times = 1;
        }
        if (root)
            times = 1;
        for (uint32_t k = 0; k < n->nkid; k++) {
            uint64_t r = refs[n->kid[k]] + times;
            refs[n->kid[k]] = r > sat ? sat : r;
        }
    }
    for (size_t id = 0; id < hi; id++)
        if (aux[id])
            aux[id] = (uint32_t)++naux;
done:
    free(tsize);
    free(refs);
    return naux;
}

size_t print_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        /* combining diacritical marks U+0300..U+036F: CC 80 .. CD AF */
        if ((*p == 0xCC && (p[1] & 0xC0) == 0x80) || (*p == 0xCD && p[1] >= 0x80 && p[1] <= 0xAF))
            continue;
        w++;
    }
    return w;
}

void print_q(buf *out, mpq_srcptr q, pr_syntax syn)
{
    char *num = mpz_get_str(NULL, 10, mpq_numref(q));
    char *den = mpz_get_str(NULL, 10, mpq_denref(q));
    const char *n = num;
    if (num[0] == '-') {
        buf_puts(out, syn == PR_TEXT ? "−" : "-");
        n++;
    }
    if (strcmp(den, "1") == 0)
        buf_puts(out, n);
    else if (syn == PR_LATEX)
        buf_printf(out, "\\frac{%s}{%s}", n, den);
    else
        buf_printf(out, "%s/%s", n, den);
    void (*freefunc)(void *, size_t);
    mp_get_memory_functions(NULL, NULL, &freefunc);
    freefunc(num, strlen(num) + 1);
    freefunc(den, strlen(den) + 1);
}

/* ---- the task stack ---- */

enum { F_ABS = 1, F_ROOT = 2 };

typedef struct task {
    gp_id id;          /* GP_NIL: a literal */
    const char *lit;   /* the literal */
    uint8_t prec;      /* precedence of the context */
    uint8_t flags;     /* F_ABS: drop the sign of the coefficient */
    uint8_t close;     /* literal: nothing; node: nothing */
} task;

typedef struct printer {
    const gp_ctx *c;
    const pr_opts *o;
    buf *out;
    task *st;
    size_t n, cap;
    int oom;
} printer;

static void push(printer *p, gp_id id, const char *lit, int prec, int flags)
{
    if (!ctx_grow((void **)&p->st, &p->cap, p->n + 1, sizeof *p->st)) {
        p->oom = 1;
        return;
    }
    p->st[p->n++] = (task){id, lit, (uint8_t)prec, (uint8_t)flags, 0};
}
static void lit(printer *p, const char *s) { push(p, GP_NIL, s, 0, 0); }

static int is_named(const printer *p, gp_id id, int flags)
{
    if (flags & F_ROOT)
        return 0;
    return (p->o->labels && p->c->node[id].label) || (p->o->aux && p->o->aux[id]);
}

static int coef_sign(const gp_ctx *c, gp_id id)
{
    const gp_node *n = &c->node[id];
    if (n->label)
        return 1;
    if (n->op == GP_OP_NUM)
        return mpq_sgn(dag_q(c, id));
    if (n->op == GP_OP_MUL && c->node[n->kid[0]].op == GP_OP_NUM)
        return mpq_sgn(dag_q(c, n->kid[0]));
    return 1;
}

/* the precedence a node is printed at (labelled nodes are atoms) */
static int node_prec(const printer *p, gp_id id, int flags)
{
    const gp_ctx *c = p->c;
    const gp_node *n = &c->node[id];
    if (is_named(p, id, flags) || n->op == GP_OP_LEAF || n->op == GP_OP_FN || n->op == GP_OP_MEAN ||
        n->op == GP_OP_SUMS)
        return P_ATOM;
    if (n->op == GP_OP_NUM) {
        mpq_srcptr q = dag_q(c, id);
        if (mpq_sgn(q) < 0 && !(flags & F_ABS))
            return P_NEG;
        return mpz_cmp_ui(mpq_denref(q), 1) == 0 || p->o->syn == PR_LATEX ? P_ATOM : P_FRAC;
    }
    if (n->op == GP_OP_ADD)
        return P_SUM;
    if (n->op == GP_OP_POW) {
        mpq_srcptr e = dag_q(c, n->kid[1]);
        if (mpq_sgn(e) < 0)
            return p->o->syn == PR_LATEX ? P_ATOM : P_FRAC;
        if (mpq_cmp_si(e, 1, 2) == 0)
            return P_ATOM; /* √x, \sqrt{x}, sqrt(x) */
        return P_POW;
    }
    /* MUL: negative, a fraction, or a plain product */
    if (coef_sign(c, id) < 0 && !(flags & F_ABS))
        return P_NEG;
    if (p->o->syn != PR_LATEX) {
        if (c->node[n->kid[0]].op == GP_OP_NUM && mpz_cmp_ui(mpq_denref(dag_q(c, n->kid[0])), 1) != 0)
            return P_FRAC;
        for (uint32_t k = 0; k < n->nkid; k++) {
            const gp_node *kn = &c->node[n->kid[k]];
            if (kn->op == GP_OP_POW && !is_named(p, n->kid[k], 0) && mpq_sgn(dag_q(c, kn->kid[1])) < 0)
                return P_FRAC;
        }
    }
    return P_PROD;
}

/* sorting key for the display order of factors */
static gp_id display_key(const gp_ctx *c, gp_id id, int *compound)
{
    const gp_node *n = &c->node[id];
    *compound = 0;
    for (int guard = 0; guard < 4 && !n->label; guard++) {
        if (n->op == GP_OP_POW) {
            id = n->kid[0];
        } else if (n->op == GP_OP_ADD && n->nkid == 2 && c->node[n->kid[0]].op == GP_OP_NUM) {
            id = n->kid[1];
            *compound = 1;
        } else if (n->op == GP_OP_ADD && n->nkid == 2 && c->node[n->kid[1]].op == GP_OP_NUM) {
            id = n->kid[0];
            *compound = 1;
        } else if (n->op == GP_OP_MUL && n->nkid == 2 && c->node[n->kid[0]].op == GP_OP_NUM) {
            id = n->kid[1];
        } else {
            break;
        }
        n = &c->node[id];
    }
    return id;
}

typedef struct fac {
    gp_id base;    /* the base of the factor */
    gp_id id;      /* the factor node (numerator) or its base (denominator) */
    gp_id key;
    int compound;
    int stat;      /* static level */
    mpq_t e;       /* denominator: the positive exponent */
    int den;
} fac;

static const gp_ctx *sort_ctx;
static int cmp_fac(const void *a, const void *b)
{
    const fac *x = a, *y = b;
    if (x->stat != y->stat)
        return y->stat - x->stat; /* static factors first */
    if (x->stat) {
        if (x->key != y->key)
            return x->key < y->key ? -1 : 1; /* params in declaration order */
    } else if (x->key != y->key) {
        return x->key > y->key ? -1 : 1; /* outermost first */
    }
    if (x->compound != y->compound)
        return x->compound - y->compound;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_base(const void *a, const void *b)
{
    const fac *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* does a factor printed at context P_PROD start with '(' ? */
static int opens_paren(const printer *p, gp_id id)
{
    return node_prec(p, id, 0) < P_PROD;
}

static const char *const fn_text[] = {"exp", "log", "tanh", "σ", "relu", "|", "softplus", "sin", "cos", "step", "sign"};
static const char *const fn_latex[] = {"\\exp", "\\log", "\\tanh", "\\sigma", "\\operatorname{relu}", "\\left|",
                                       "\\operatorname{softplus}", "\\sin", "\\cos", "\\operatorname{step}",
                                       "\\operatorname{sgn}"};

/* Items of a product in reading order, pushed reversed at the end. */
typedef struct seq {
    task *v;
    size_t n, cap;
} seq;

static void sq_lit(printer *p, seq *q, const char *s)
{
    if (!ctx_grow((void **)&q->v, &q->cap, q->n + 1, sizeof *q->v)) {
        p->oom = 1;
        return;
    }
    q->v[q->n++] = (task){GP_NIL, s, 0, 0, 0};
}

static void sq_node(printer *p, seq *q, gp_id id, int prec)
{
    if (!ctx_grow((void **)&q->v, &q->cap, q->n + 1, sizeof *q->v)) {
        p->oom = 1;
        return;
    }
    q->v[q->n++] = (task){id, NULL, (uint8_t)prec, 0, 0};
}

static const char *arena_str(printer *p, const char *s, size_t n)
{
    char *a = arena_strndup((arena *)&p->c->mem, s, n);
    if (!a)
        p->oom = 1;
    return a ? a : "";
}

static const char *mpz_str(printer *p, mpz_srcptr z)
{
    buf b = BUF_INIT;
    char tmp[64];
    if (mpz_sizeinbase(z, 10) < 60) {
        gmp_snprintf(tmp, sizeof tmp, "%Zd", z);
        buf_puts(&b, tmp);
    } else {
        char *s = mpz_get_str(NULL, 10, z);
        buf_puts(&b, s);
        void (*freefunc)(void *, size_t);
        mp_get_memory_functions(NULL, NULL, &freefunc);
        freefunc(s, strlen(s) + 1);
    }
    if (b.oom)
        p->oom = 1;
    const char *r = arena_str(p, b.s ? b.s : "", b.n);
    buf_free(&b);
    return r;
}

/* the exponent suffix of a power: ², ^{3/2}, ^(3/2) */
static const char *exponent(printer *p, mpq_srcptr e)
{
    pr_syntax syn = p->o->syn;
    int integral = mpz_cmp_ui(mpq_denref(e), 1) == 0;
    buf eb = BUF_INIT;
    if (syn == PR_TEXT && integral && mpz_sgn(mpq_numref(e)) > 0) {
        static const char *const sup[] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
        char digits[64];
        gmp_snprintf(digits, sizeof digits, "%Zd", mpq_numref(e));
        for (char *d = digits; *d; d++)
            buf_puts(&eb, sup[*d - '0']);
    } else if (syn == PR_LATEX) {
        buf_puts(&eb, "^{");
        print_q(&eb, e, syn);
        buf_puts(&eb, "}");
    } else {
        buf_puts(&eb, "^");
        if (!integral || mpq_sgn(e) < 0)
            buf_putc(&eb, '(');
        print_q(&eb, e, syn);
        if (!integral || mpq_sgn(e) < 0)
            buf_putc(&eb, ')');
    }
    if (eb.oom)
        p->oom = 1;
    const char *r = arena_str(p, eb.s ? eb.s : "", eb.n);
    buf_free(&eb);
    return r;
}

/* base^e with e > 0 as items: √x, sqrt(x), x², (a + b)^(3/2) */
static void sq_power(printer *p, seq *q, gp_id base, mpq_srcptr e)
{
    pr_syntax syn = p->o->syn;
    if (mpq_cmp_si(e, 1, 1) == 0) {
        sq_node(p, q, base, P_POW);
        return;
    }
    if (mpq_cmp_si(e, 1, 2) == 0) {
        if (syn == PR_LATEX) {
            sq_lit(p, q, "\\sqrt{");
            sq_node(p, q, base, 0);
            sq_lit(p, q, "}");
        } else if (syn == PR_CASE || node_prec(p, base, 0) < P_ATOM) {
            sq_lit(p, q, syn == PR_CASE ? "sqrt(" : "√(");
            sq_node(p, q, base, 0);
            sq_lit(p, q, ")");
        } else {
            sq_lit(p, q, "√");
            sq_node(p, q, base, P_ATOM);
        }
        return;
    }
    const gp_node *bn = &p->c->node[base];
    if (syn != PR_CASE && mpz_cmp_ui(mpq_denref(e), 1) == 0 && bn->op == GP_OP_FN && !is_named(p, base, 0) &&
        bn->fn != GP_FN_ABS) {
        /* tanh²(u), σ²(u): the power goes on the function's name */
        sq_lit(p, q, syn == PR_LATEX ? fn_latex[bn->fn] : fn_text[bn->fn]);
        sq_lit(p, q, exponent(p, e));
        sq_lit(p, q, syn == PR_LATEX ? "\\left(" : "(");
        sq_node(p, q, bn->kid[0], 0);
        sq_lit(p, q, syn == PR_LATEX ? "\\right)" : ")");
        return;
    }
    sq_node(p, q, base, P_POW + 1);
    sq_lit(p, q, exponent(p, e));
}

/* a name shown as one letter with subscripts: w₂₁₁, ŷ, λ, x */
static int short_name(const gp_name *nm)
{
    size_t n = strlen(nm->base), d = n;
    while (d > 1 && nm->base[d - 1] >= '0' && nm->base[d - 1] <= '9')
        d--;
    if (d == 1 || (d == 4 && n >= 4 && memcmp(nm->base + 1, "hat", 3) == 0))
        return 1;
    for (size_t i = 0; i < sizeof greek / sizeof greek[0]; i++)
        if (strlen(greek[i][0]) == d && memcmp(greek[i][0], nm->base, d) == 0)
            return 1;
    return 0;
}

static int short_atom(const printer *p, gp_id id)
{
    const gp_ctx *c = p->c;
    const gp_node *n = &c->node[id];
    if (is_named(p, id, 0))
        return p->o->labels && n->label ? short_name(&c->label[n->label].name) : 1;
    if (n->op == GP_OP_LEAF)
        return short_name(&c->leaf[n->pay].name);
    if (n->op == GP_OP_POW && mpq_sgn(dag_q(c, n->kid[1])) > 0 && mpq_cmp_si(dag_q(c, n->kid[1]), 1, 2) != 0)
        return short_atom(p, n->kid[0]);
    return 0;
}

/* text: write "ab" rather than "a·b"?  After a coefficient (2x), before a
   parenthesis (z₁(1 − z₁)), and between one-letter names (w₂₁₁x₁). */
static int juxtapose(const printer *p, gp_id left, gp_id right)
{
    if (left == GP_NIL || opens_paren(p, right))
        return 1;
    return short_atom(p, left) && short_atom(p, right);
}

/* a product (or a lone negative power): coefficient, numerator, denominator */
static void expand_product(printer *p, gp_id id, int flags, int ctxprec)
{
    const gp_ctx *c = p->c;
    const gp_node *n = &c->node[id];
    pr_syntax syn = p->o->syn;
    gp_id single = id;
    const gp_id *kid = n->kid;
    uint32_t nk = n->nkid;
    if (n->op != GP_OP_MUL) {
        kid = &single;
        nk = 1;
    }
    mpq_t coef;
    mpq_init(coef);
    mpq_set_ui(coef, 1, 1);
    seq q = {NULL, 0, 0};
    /* gather the factors, looking through unnamed nested products (the
       differentiator nests long products to keep them linear in size) */
    size_t nf = 0, capf = nk + 8, nden = 0;
    fac *f = malloc(capf * sizeof *f);
    gp_id *stack = malloc((nk + 1) * sizeof *stack);
    size_t ns = 0, caps = nk + 1;
    if (!f || !stack) {
        free(f);
        free(stack);
        p->oom = 1;
        mpq_clear(coef);
        return;
    }
    for (uint32_t i = nk; i-- > 0;)
        stack[ns++] = kid[i];
    while (ns) {
        gp_id k = stack[--ns];
        const gp_node *kn = &c->node[k];
        if (kn->op == GP_OP_NUM) {
            mpq_mul(coef, coef, dag_q(c, k));
            continue;
        }
        if (kn->op == GP_OP_MUL && !is_named(p, k, 0) && k != id) {
            if (!ctx_grow((void **)&stack, &caps, ns + kn->nkid, sizeof *stack)) {
                p->oom = 1;
                break;
            }
            for (uint32_t j = kn->nkid; j-- > 0;)
                stack[ns++] = c->node[k].kid[j];
            continue;
        }
        gp_id base = k;
        mpq_t e;
        mpq_init(e);
        mpq_set_ui(e, 1, 1);
        if (kn->op == GP_OP_POW && !is_named(p, k, 0)) {
            base = kn->kid[0];
            mpq_set(e, dag_q(c, kn->kid[1]));
        }
        if (!ctx_grow((void **)&f, &capf, nf + 1, sizeof *f)) {
            mpq_clear(e);
            p->oom = 1;
            break;
        }
        fac *x = &f[nf++];
        mpq_init(x->e);
        mpq_set(x->e, e);
        mpq_clear(e);
        x->base = base;
        x->id = k;
    }
    free(stack);
    /* powers of one base meet: a¹²·a¹⁵ shows as a²⁷ (a display-only merge) */
    qsort(f, nf, sizeof *f, cmp_base);
    size_t m = 0;
    for (size_t i = 0; i < nf; i++) {
        if (m && f[m - 1].base == f[i].base) {
            mpq_add(f[m - 1].e, f[m - 1].e, f[i].e);
            mpq_clear(f[i].e);
        } else {
            if (m != i)
                f[m] = f[i];
            m++;
        }
    }
    nf = m;
    /* a base whose exponents cancelled shows as nothing (it is 1) */
    m = 0;
    for (size_t i = 0; i < nf; i++) {
        if (mpq_sgn(f[i].e) == 0)
            mpq_clear(f[i].e);
        else
            f[m++] = f[i];
    }
    nf = m;
    for (size_t i = 0; i < nf; i++) {
        fac *x = &f[i];
        x->den = mpq_sgn(x->e) < 0;
        x->id = x->base;
        if (x->den) {
            mpq_neg(x->e, x->e);
            nden++;
        }
        x->key = display_key(c, x->base, &x->compound);
        x->stat = c->node[x->base].level == GP_LV_STATIC;
    }
    sort_ctx = c;
    qsort(f, nf, sizeof *f, cmp_fac);
    int neg = mpq_sgn(coef) < 0 && !(flags & F_ABS);
    mpq_abs(coef, coef);
    int cnum = mpz_cmp_ui(mpq_numref(coef), 1) != 0, cden = mpz_cmp_ui(mpq_denref(coef), 1) != 0;
    int frac = nden || cden;
    size_t nnum = nf - nden;
    int paren = node_prec(p, id, flags) < ctxprec;
    if (paren)
        sq_lit(p, &q, syn == PR_LATEX ? "\\left(" : "(");
    if (neg)
        sq_lit(p, &q, syn == PR_TEXT ? "−" : "-");
    if (frac && syn == PR_LATEX)
        sq_lit(p, &q, "\\frac{");
    /* numerator */
    if (cnum)
        sq_lit(p, &q, mpz_str(p, mpq_numref(coef)));
    else if (nnum == 0)
        sq_lit(p, &q, "1");
    int first = !cnum;
    gp_id prev = GP_NIL; /* GP_NIL: the coefficient */
    for (size_t i = 0; i < nf; i++) {
        if (f[i].den)
            continue;
        if (!first) {
            if (syn == PR_CASE)
                sq_lit(p, &q, "*");
            else if (syn == PR_LATEX)
                sq_lit(p, &q, opens_paren(p, f[i].id) ? "" : " ");
            else if (!juxtapose(p, prev, f[i].id))
                sq_lit(p, &q, "·");
        }
        first = 0;
        prev = f[i].id;
        if (mpq_cmp_si(f[i].e, 1, 1) != 0)
            sq_power(p, &q, f[i].base, f[i].e);
        else
            sq_node(p, &q, f[i].base, P_PROD);
    }
    if (frac) {
        sq_lit(p, &q, syn == PR_LATEX ? "}{" : "/");
        /* several factors below the bar are grouped; a single one gets
           parentheses from its own precedence */
        int dparen = syn != PR_LATEX && nden + (size_t)cden > 1;
        if (dparen)
            sq_lit(p, &q, "(");
        int dfirst = 1;
        gp_id dprev = GP_NIL; /* GP_NIL: the coefficient */
        if (cden) {
            sq_lit(p, &q, mpz_str(p, mpq_denref(coef)));
            dfirst = 0;
        }
        for (size_t i = 0; i < nf; i++) {
            if (!f[i].den)
                continue;
            if (!dfirst)
                sq_lit(p, &q, syn == PR_CASE ? "*" : syn == PR_LATEX ? " " : (juxtapose(p, dprev, f[i].id) ? "" : "·"));
            dprev = f[i].id;
            sq_power(p, &q, f[i].id, f[i].e);
            dfirst = 0;
        }
        if (dparen)
            sq_lit(p, &q, ")");
        if (syn == PR_LATEX)
            sq_lit(p, &q, "}");
    }
    if (paren)
        sq_lit(p, &q, syn == PR_LATEX ? "\\right)" : ")");
    for (size_t i = q.n; i-- > 0;) {
        if (q.v[i].id == GP_NIL)
            lit(p, q.v[i].lit);
        else
            push(p, q.v[i].id, NULL, q.v[i].prec, 0);
    }
    free(q.v);
    for (size_t i = 0; i < nf; i++)
        mpq_clear(f[i].e);
    free(f);
    mpq_clear(coef);
}

/* the key a term of a sum is ordered by: its latest factor, so that
   w₁z₁ + w₂z₂ + w₃z₃ keeps the order of the units however it was built */
static gp_id term_key(const gp_ctx *c, gp_id t)
{
    const gp_node *n = &c->node[t];
    int compound;
    if (n->op != GP_OP_MUL || n->label)
        return display_key(c, t, &compound);
    gp_id best = 0;
    for (uint32_t k = 0; k < n->nkid; k++) {
        if (c->node[n->kid[k]].op == GP_OP_NUM)
            continue;
        gp_id key = display_key(c, n->kid[k], &compound);
        if (key > best)
            best = key;
    }
    return best;
}

static int cmp_term_display(const void *a, const void *b)
{
    gp_id x = *(const gp_id *)a, y = *(const gp_id *)b;
    const gp_ctx *c = sort_ctx;
    int cx = c->node[x].op == GP_OP_NUM, cy = c->node[y].op == GP_OP_NUM;
    if (cx != cy)
        return cy - cx; /* the constant first: 1 − z */
    int sx = coef_sign(c, x) < 0, sy = coef_sign(c, y) < 0;
    if (sx != sy)
        return sx - sy; /* then positive terms, then negative ones */
    gp_id kx = term_key(c, x), ky = term_key(c, y);
    if (kx != ky)
        return kx < ky ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void expand(printer *p, const task *t)
{
    const gp_ctx *c = p->c;
    gp_id id = t->id;
    const gp_node *n = &c->node[id];
    pr_syntax syn = p->o->syn;
    buf *out = p->out;
    if (is_named(p, id, t->flags)) {
        if (p->o->aux && p->o->aux[id] && !(p->o->labels && n->label)) {
            print_aux_name(out, p->o->aux[id], syn);
            return;
        }
        const gp_label *l = &c->label[n->label];
        print_name(out, &l->name, syn);
        if (p->o->used)
            p->o->used[id] = 1;
        return;
    }
    int prec = node_prec(p, id, t->flags);
    int paren = prec < t->prec;
    switch ((gp_op)n->op) {
    case GP_OP_NUM: {
        mpq_t q;
        mpq_init(q);
        mpq_set(q, dag_q(c, id));
        if (t->flags & F_ABS)
            mpq_abs(q, q);
        if (paren)
            buf_puts(out, syn == PR_LATEX ? "\\left(" : "(");
        print_q(out, q, syn);
        if (paren)
            buf_puts(out, syn == PR_LATEX ? "\\right)" : ")");
        mpq_clear(q);
        return;
    }
    case GP_OP_LEAF:
        print_name(out, &c->leaf[n->pay].name, syn);
        return;
    case GP_OP_FN: {
        if (n->fn == GP_FN_ABS && syn != PR_CASE) {
            lit(p, syn == PR_LATEX ? "\\right|" : "|");
            push(p, n->kid[0], NULL, 0, 0);
            buf_puts(out, syn == PR_LATEX ? fn_latex[n->fn] : "|");
            return;
        }
        lit(p, syn == PR_LATEX ? "\\right)" : ")");
        push(p, n->kid[0], NULL, 0, 0);
        buf_puts(out, syn == PR_CASE ? dag_fn_name((gp_fn)n->fn) : syn == PR_LATEX ? fn_latex[n->fn] : fn_text[n->fn]);
        buf_puts(out, syn == PR_LATEX ? "\\left(" : "(");
        return;
    }
    case GP_OP_MEAN:
    case GP_OP_SUMS:
        lit(p, syn == PR_LATEX ? "\\right)" : ")");
        push(p, n->kid[0], NULL, 0, 0);
        if (syn == PR_LATEX)
            buf_puts(out, n->op == GP_OP_MEAN ? "\\operatorname{mean}\\left(" : "\\operatorname{sum}\\left(");
        else
            buf_puts(out, n->op == GP_OP_MEAN ? "mean(" : "sum(");
        return;
    case GP_OP_ADD: {
        gp_id *terms = malloc(n->nkid * sizeof *terms);
        if (!terms) {
            p->oom = 1;
            return;
        }
        memcpy(terms, n->kid, n->nkid * sizeof *terms);
        sort_ctx = c;
        qsort(terms, n->nkid, sizeof *terms, cmp_term_display);
        if (paren)
            lit(p, syn == PR_LATEX ? "\\right)" : ")");
        for (uint32_t i = n->nkid; i-- > 0;) {
            gp_id k = terms[i];
            int negk = coef_sign(c, k) < 0;
            if (i == 0) {
                push(p, k, NULL, P_SUM, 0);
            } else {
                push(p, k, NULL, P_SUM + 1, negk ? F_ABS : 0);
                lit(p, negk ? (syn == PR_TEXT ? " − " : " - ") : " + ");
            }
        }
        if (paren)
            lit(p, syn == PR_LATEX ? "\\left(" : "(");
        free(terms);
        return;
    }
    case GP_OP_MUL:
        expand_product(p, id, t->flags, t->prec);
        return;
    case GP_OP_POW: {
        mpq_srcptr e = dag_q(c, n->kid[1]);
        gp_id b = n->kid[0];
        if (mpq_sgn(e) < 0) {
            expand_product(p, id, t->flags, t->prec);
            return;
        }
        if (mpq_cmp_si(e, 1, 2) == 0) {
            if (syn == PR_LATEX) {
                lit(p, "}");
                push(p, b, NULL, 0, 0);
                buf_puts(out, "\\sqrt{");
            } else if (syn == PR_CASE || node_prec(p, b, 0) < P_ATOM) {
                lit(p, ")");
                push(p, b, NULL, 0, 0);
                buf_puts(out, syn == PR_CASE ? "sqrt(" : "√(");
            } else {
                push(p, b, NULL, P_ATOM, 0);
                buf_puts(out, "√");
            }
            return;
        }
        int integral = mpz_cmp_ui(mpq_denref(e), 1) == 0;
        const gp_node *bn = &c->node[b];
        /* tanh²(u), σ²(u): the power goes on the function name */
        int fnpow = syn != PR_CASE && integral && bn->op == GP_OP_FN && !is_named(p, b, 0) &&
                    bn->fn != GP_FN_ABS;
        buf eb = BUF_INIT;
        if (syn == PR_TEXT && integral) {
            char digits[32];
            gmp_snprintf(digits, sizeof digits, "%Zd", mpq_numref(e));
            for (char *d = digits; *d; d++)
                buf_puts(&eb, (const char *[]){"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"}[*d - '0']);
        } else if (syn == PR_LATEX) {
            buf_puts(&eb, "^{");
            print_q(&eb, e, syn);
            buf_puts(&eb, "}");
        } else {
            buf_puts(&eb, "^");
            if (!integral)
                buf_putc(&eb, '(');
            print_q(&eb, e, syn);
            if (!integral)
                buf_putc(&eb, ')');
        }
        char *sup = eb.s && !eb.oom ? arena_strndup((arena *)&c->mem, eb.s, eb.n) : NULL;
        buf_free(&eb);
        if (!sup) {
            p->oom = 1;
            return;
        }
        if (paren)
            lit(p, syn == PR_LATEX ? "\\right)" : ")");
        if (fnpow) {
            lit(p, syn == PR_LATEX ? "\\right)" : ")");
            push(p, bn->kid[0], NULL, 0, 0);
            lit(p, syn == PR_LATEX ? "\\left(" : "(");
            lit(p, sup);
            if (paren)
                buf_puts(out, syn == PR_LATEX ? "\\left(" : "(");
            buf_puts(out, syn == PR_LATEX ? fn_latex[bn->fn] : fn_text[bn->fn]);
            return;
        }
        lit(p, sup);
        push(p, b, NULL, P_POW + 1, 0);
        if (paren)
            lit(p, syn == PR_LATEX ? "\\left(" : "(");
        return;
    }
    }
}

int print_expr(buf *out, const gp_ctx *c, gp_id id, const pr_opts *o)
{
    printer p = {c, o, out, NULL, 0, 0, 0};
    push(&p, id, NULL, 0, F_ROOT);
    size_t start = out->n;
    while (p.n && !p.oom) {
        task t = p.st[--p.n];
        if (t.id == GP_NIL) {
            buf_puts(out, t.lit);
        } else {
            const gp_node *n = &c->node[t.id];
            int prec = is_named(&p, t.id, t.flags) ? P_ATOM : node_prec(&p, t.id, t.flags);
            /* parentheses for nodes whose expansion does not handle them */
            if (prec < t.prec && !is_named(&p, t.id, t.flags) &&
                (n->op == GP_OP_LEAF || n->op == GP_OP_FN || n->op == GP_OP_MEAN || n->op == GP_OP_SUMS)) {
                lit(&p, ")");
                t.prec = 0;
                p.st[p.n++] = t; /* capacity is there: we just popped */
                buf_puts(out, "(");
                continue;
            }
            expand(&p, &t);
        }
        if (o->max_bytes && out->n - start > o->max_bytes) {
            free(p.st);
            return 0;
        }
    }
    free(p.st);
    if (p.oom)
        out->oom = 1;
    return 1;
}

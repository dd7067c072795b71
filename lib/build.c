/*
 * build.c -- from statements to the DAG.
 *
 * The builder resolves every name of a case, expands indexed definitions
 * (`h[k] = ... for k in 1..3`) and index sums into elements, orders the
 * definitions by their dependencies, and interns each equation into the DAG
 * through the smart constructors.  It owns the case's symbol table.
 *
 * A case is a set of equations, not a program: a name may be used before the
 * statement that defines it.  The order is found by an iterative depth-first
 * search over elements (a chain of 100000 definitions must not recurse), and
 * a cycle is reported with its path.  Expressions themselves are built
 * recursively; their depth is bounded by the parser's max_depth.
 *
 * Every error is recorded with its source span and the builder goes on, so
 * one run reports every broken statement; an element that failed to build is
 * GP_NIL, and what depends on it fails silently, without cascading messages.
 */
#include "build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "derive.h"
#include "print.h"
#include "simplify.h"

#define NOSYM UINT32_MAX

typedef struct env {
    size_t off[2 * GP_MAX_INDEX + 8]; /* variable name spans */
    size_t len[2 * GP_MAX_INDEX + 8];
    long val[2 * GP_MAX_INDEX + 8];
    int n;
} env;

typedef struct bctx {
    gp_case *cs;
    int src;          /* the source the ASTs point into */
    env e;
    int claim;        /* building a claim: dA/dB allowed */
    uint32_t *deps;   /* collecting dependencies instead of building */
    size_t ndeps, capdeps;
    int collect;
    int in_red;       /* building the argument of a sample reduction */
    uint32_t cstack[64]; /* constants being evaluated, for cycle paths */
    int ncstack;
    size_t sum_terms[2]; /* terms of index sums built so far (by collect):
                            nested sums multiply, so they count together */
    int probing;      /* partial_defined is rebuilding equations: */
    gp_id probe;      /*   the node looked for */
    size_t probe_skip;/*   the element of the name differentiated by */
    size_t probe_elem;/*   the element whose equation is rebuilt */
    size_t probe_hit; /*   where the node came out unnamed, or SIZE_MAX */
    int probe_leaf;   /*   ... there as the name of a leaf */
} bctx;

static const char *src_text(const gp_case *cs, int src) { return cs->c->src[src].text; }

static void err(bctx *b, size_t off, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void err(bctx *b, size_t off, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf m = BUF_INIT;
    buf_vprintf(&m, fmt, ap);
    va_end(ap);
    diag_error(b->cs->c, b->src, off, len, "%s", m.s ? m.s : "out of memory");
    buf_free(&m);
}

static const char *kind_word(sym_kind k)
{
    static const char *const w[] = {"an input", "a target", "a param", "a constant", "a definition", "the loss"};
    return w[k];
}

/* ---- symbol table ---- */

static uint32_t hash_str(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

long build_lookup(const gp_case *cs, const char *s, size_t n)
{
    if (!cs->stabcap)
        return -1;
    for (size_t i = hash_str(s, n) & (cs->stabcap - 1);; i = (i + 1) & (cs->stabcap - 1)) {
        uint32_t v = cs->stab[i];
        if (!v)
            return -1;
        const char *name = cs->sym[v - 1].name;
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return (long)(v - 1);
    }
}

static int stab_insert(gp_case *cs, uint32_t symi)
{
    if ((cs->nsym + 1) * 2 > cs->stabcap) {
        size_t cap = cs->stabcap ? cs->stabcap * 2 : 64;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t)
            return 0;
        for (size_t j = 0; j < cs->stabcap; j++) {
            uint32_t v = cs->stab[j];
            if (!v)
                continue;
            const char *nm = cs->sym[v - 1].name;
            size_t i = hash_str(nm, strlen(nm)) & (cap - 1);
            while (t[i])
                i = (i + 1) & (cap - 1);
            t[i] = v;
        }
        free(cs->stab);
        cs->stab = t;
        cs->stabcap = cap;
    }
    const char *nm = cs->sym[symi].name;
    size_t i = hash_str(nm, strlen(nm)) & (cs->stabcap - 1);
    while (cs->stab[i])
        i = (i + 1) & (cs->stabcap - 1);
    cs->stab[i] = symi + 1;
    return 1;
}

static long add_symbol(bctx *b, const stmt *st, size_t off, size_t len, sym_kind kind)
{
    gp_case *cs = b->cs;
    if (!ctx_grow((void **)&cs->sym, &cs->capsym, cs->nsym + 1, sizeof *cs->sym)) {
        cs->c->status = GP_ENOMEM;
        return -1;
    }
    symbol *s = &cs->sym[cs->nsym];
    memset(s, 0, sizeof *s);
    s->name = arena_strndup(&cs->c->mem, src_text(cs, b->src) + off, len);
    s->kind = kind;
    s->decl = st;
    s->off = off;
    s->len = len;
    if (!s->name || !stab_insert(cs, (uint32_t)cs->nsym)) {
        cs->c->status = GP_ENOMEM;
        return -1;
    }
    return (long)cs->nsym++;
}

static void where(const gp_case *cs, int src, size_t off, char *out, size_t n)
{
    unsigned line, col;
    diag_linecol(cs->c, src, off, &line, &col);
    snprintf(out, n, "%u:%u", line, col);
}

/* "did you mean" among the symbols and the index variables in scope */
static const char *suggest(bctx *b, const char *s, size_t n)
{
    const char *best = NULL;
    unsigned bd = n <= 5 ? 2 : 3; /* the largest distance worth suggesting */
    for (size_t i = 0; i < b->cs->nsym; i++) {
        const char *nm = b->cs->sym[i].name;
        size_t m = strlen(nm);
        unsigned d = diag_edit_distance(s, n, nm, m, bd);
        if (d == 0 || d > bd || (best && d >= bd))
            continue;
        /* an edit must leave most of the name: 'q' is not a misspelt 'C',
           but 'x' may be a misspelt 'X' and 'w11' a misspelt 'w111' */
        size_t shorter = n < m ? n : m;
        if (d >= shorter && !(shorter == 1 && d == 1 && (s[0] | 0x20) == (nm[0] | 0x20)))
            continue;
        best = nm;
        bd = d;
    }
    return best;
}

/* "unknown name 'u0' (did you mean 'v0'?)" for the name at off..off+len */
static void unknown(bctx *b, size_t off, size_t len, const char *what)
{
    const char *t = src_text(b->cs, b->src) + off;
    const char *sug = suggest(b, t, len);
    if (sug)
        err(b, off, len, "unknown %s '%.*s' (did you mean '%s'?)", what, (int)len, t, sug);
    else
        err(b, off, len, "unknown %s '%.*s'", what, (int)len, t);
}

/* ---- integer index expressions ---- */

/* the index range: indices are far smaller; this keeps index arithmetic exact */
#define INDEX_CAP 1000000000L

static int ival(bctx *b, const ast *a, long *out);

static int const_value(bctx *b, uint32_t symi, mpq_srcptr *out);

static int ival_name(bctx *b, const ast *a, long *out)
{
    const char *s = src_text(b->cs, b->src) + a->noff;
    for (int i = b->e.n - 1; i >= 0; i--)
        if (b->e.len[i] == a->nlen && memcmp(src_text(b->cs, b->src) + b->e.off[i], s, a->nlen) == 0) {
            if (a->n) {
                err(b, a->off, a->len, "index variable '%.*s' cannot be indexed", (int)a->nlen, s);
                return 0;
            }
            *out = b->e.val[i];
            return 1;
        }
    long si = build_lookup(b->cs, s, a->nlen);
    if (si >= 0 && b->cs->sym[si].kind == SYM_CONST && !a->n) {
        mpq_srcptr q;
        if (!const_value(b, (uint32_t)si, &q))
            return 0;
        if (mpz_cmp_ui(mpq_denref(q), 1) != 0 || !mpz_fits_slong_p(mpq_numref(q)) ||
            mpz_cmpabs_ui(mpq_numref(q), (unsigned long)INDEX_CAP) > 0) {
            err(b, a->off, a->len, "constant '%.*s' is not an integer, so it cannot be an index", (int)a->nlen, s);
            return 0;
        }
        *out = mpz_get_si(mpq_numref(q));
        return 1;
    }
    if (si >= 0)
        err(b, a->noff, a->nlen, "'%.*s' is %s; an index must be an integer, an index variable or an integer constant",
            (int)a->nlen, s, kind_word(b->cs->sym[si].kind));
    else {
        unknown(b, a->noff, a->nlen, "index variable");
    }
    return 0;
}

/* The number q (negated when neg), written as the span of a, as an index. */
static int num_index(bctx *b, const ast *a, mpq_srcptr q, int neg, long *out)
{
    const char *t = src_text(b->cs, b->src) + a->off;
    if (mpz_cmp_ui(mpq_denref(q), 1) != 0) {
        err(b, a->off, a->len, "an index must be an integer, not '%.*s'", (int)a->len, t);
        return 0;
    }
    if (mpz_cmpabs_ui(mpq_numref(q), (unsigned long)INDEX_CAP) > 0) {
        err(b, a->off, a->len, "index %.*s is outside the supported range -%ld..%ld", (int)a->len, t, INDEX_CAP,
            INDEX_CAP);
        return 0;
    }
    *out = neg ? -mpz_get_si(mpq_numref(q)) : mpz_get_si(mpq_numref(q));
    return 1;
}

static int ival(bctx *b, const ast *a, long *out)
{
    switch (a->kind) {
    case A_NUM:
        return num_index(b, a, dag_q(b->cs->c, a->num), 0, out);
    case A_NAME:
        return ival_name(b, a, out);
    case A_NEG:
        if (a->kid[0]->kind == A_NUM) /* a negative number: its messages quote the sign */
            return num_index(b, a, dag_q(b->cs->c, a->kid[0]->num), 1, out);
        if (!ival(b, a->kid[0], out))
            return 0;
        *out = -*out;
        return 1;
    case A_ADD:
    case A_MUL: {
        long acc = a->kind == A_ADD ? 0 : 1;
        for (uint32_t i = 0; i < a->n; i++) {
            long v;
            if (!ival(b, a->kid[i], &v))
                return 0;
            if (a->kind == A_MUL && a->inv[i]) {
                err(b, a->off, a->len, "division is not allowed in an index expression");
                return 0;
            }
            acc = a->kind == A_ADD ? (a->inv[i] ? acc - v : acc + v) : acc * v;
            if (acc > INDEX_CAP || acc < -INDEX_CAP) {
                err(b, a->off, a->len, "index expression out of range");
                return 0;
            }
        }
        *out = acc;
        return 1;
    }
    default:
        err(b, a->off, a->len, "an index must be an integer expression of index variables (+, -, *)");
        return 0;
    }
}

/* ---- constants: exact rationals, evaluated on demand ---- */

static int qeval(bctx *b, const ast *a, mpq_t out, const char *what);

static int const_value(bctx *b, uint32_t symi, mpq_srcptr *out)
{
    gp_case *cs = b->cs;
    symbol *s = &cs->sym[symi];
    element *el = &cs->elem[s->first];
    if (s->const_state == 1) {
        /* a cycle: the path from this constant back to itself */
        buf m = BUF_INIT;
        int k = b->ncstack;
        while (k > 0 && b->cstack[k - 1] != symi)
            k--;
        for (int j = k - 1; j >= 0 && j < b->ncstack; j++)
            buf_printf(&m, "%s -> ", cs->sym[b->cstack[j]].name);
        buf_puts(&m, s->name);
        if (k > 0 && b->ncstack - (k - 1) > 1)
            err(b, s->off, s->len, "constants form a cycle: %s", m.s ? m.s : s->name);
        else
            err(b, s->off, s->len, "constant '%s' is defined in terms of itself", s->name);
        buf_free(&m);
        return 0;
    }
    if (s->const_state == 0) {
        if (b->ncstack == 64) {
            err(b, s->off, s->len, "constants nested more than 64 deep");
            return 0;
        }
        b->cstack[b->ncstack++] = symi;
        s->const_state = 1;
        mpq_t q;
        mpq_init(q);
        env saved = b->e;
        b->e.n = 0; /* a constant sees no index variables */
        int ok = qeval(b, s->decl->rhs, q, "a constant");
        b->ncstack--;
        b->e = saved;
        gp_id val = ok ? dag_num(cs->c, q) : GP_NIL;
        mpq_clear(q);
        s->const_state = 2;
        if (val != GP_NIL) {
            gp_name nm = {s->name, 0, {0}};
            long li = dag_leaf(cs->c, GP_LEAF_CONST, &nm, val);
            el->node = li >= 0 ? cs->c->leaf[li].node : GP_NIL;
        }
    }
    if (el->node == GP_NIL)
        return 0;
    *out = dag_q(cs->c, cs->c->leaf[cs->c->node[el->node].pay].value);
    return 1;
}

/* Exact value of a constant expression: numbers, constants, + - * / and ^. */
static int qeval(bctx *b, const ast *a, mpq_t out, const char *what)
{
    const char *t = src_text(b->cs, b->src);
    switch (a->kind) {
    case A_NUM:
        mpq_set(out, dag_q(b->cs->c, a->num));
        return 1;
    case A_NAME: {
        for (int i = b->e.n - 1; i >= 0; i--)
            if (b->e.len[i] == a->nlen && memcmp(t + b->e.off[i], t + a->noff, a->nlen) == 0) {
                mpq_set_si(out, b->e.val[i], 1);
                return 1;
            }
        long si = build_lookup(b->cs, t + a->noff, a->nlen);
        if (si < 0) {
            unknown(b, a->noff, a->nlen, "name");
            return 0;
        }
        if (b->cs->sym[si].kind != SYM_CONST || a->n) {
            err(b, a->off, a->len, "%s must be an exact number, but '%.*s' is %s", what, (int)a->nlen, t + a->noff,
                kind_word(b->cs->sym[si].kind));
            return 0;
        }
        mpq_srcptr q;
        if (!const_value(b, (uint32_t)si, &q))
            return 0;
        mpq_set(out, q);
        return 1;
    }
    case A_NEG:
        if (!qeval(b, a->kid[0], out, what))
            return 0;
        mpq_neg(out, out);
        return 1;
    case A_ADD:
    case A_MUL: {
        mpq_t v;
        mpq_init(v);
        mpq_set_si(out, a->kind == A_MUL, 1);
        int ok = 1;
        for (uint32_t i = 0; ok && i < a->n; i++) {
            ok = qeval(b, a->kid[i], v, what);
            if (!ok)
                break;
            if (a->kind == A_ADD)
                (a->inv[i] ? mpq_sub : mpq_add)(out, out, v);
            else if (!a->inv[i])
                mpq_mul(out, out, v);
            else if (mpq_sgn(v) == 0) {
                err(b, a->kid[i]->off, a->kid[i]->len, "division by zero in %s", what);
                ok = 0;
            } else
                mpq_div(out, out, v);
        }
        mpq_clear(v);
        return ok;
    }
    case A_POW: {
        mpq_t base, e;
        mpq_init(base);
        mpq_init(e);
        int ok = qeval(b, a->kid[0], base, what) && qeval(b, a->kid[1], e, what);
        if (ok) {
            gp_id bn = dag_num(b->cs->c, base), en = dag_num(b->cs->c, e);
            gp_id r = gp_pow(b->cs->c, bn, en);
            if (r != GP_NIL && dag_is_num(b->cs->c, r))
                mpq_set(out, dag_q(b->cs->c, r));
            else {
                err(b, a->off, a->len, "%s must be an exact rational, and '%.*s' is not", what, (int)a->len, t + a->off);
                ok = 0;
            }
        }
        mpq_clear(base);
        mpq_clear(e);
        return ok;
    }
    default:
        err(b, a->off, a->len, "%s must be an exact rational: numbers and constants with + - * / ^ only", what);
        return 0;
    }
}

/* ---- elements ---- */

static int elem_index(const symbol *s, const long *idx, size_t *out)
{
    size_t off = 0;
    for (uint32_t k = 0; k < s->nidx; k++) {
        if (idx[k] < s->lo[k] || idx[k] > s->hi[k])
            return 0;
        off = off * (size_t)(s->hi[k] - s->lo[k] + 1) + (size_t)(idx[k] - s->lo[k]);
    }
    *out = s->first + off;
    return 1;
}

void build_elem_name(const gp_case *cs, size_t e, gp_name *out)
{
    const symbol *s = &cs->sym[cs->elem[e].sym];
    size_t off = e - s->first;
    memset(out, 0, sizeof *out);
    out->base = s->name;
    out->nidx = (uint8_t)s->nidx;
    for (uint32_t k = s->nidx; k-- > 0;) {
        size_t ext = (size_t)(s->hi[k] - s->lo[k] + 1);
        out->idx[k] = s->lo[k] + (int32_t)(off % ext);
        off /= ext;
    }
}

typedef struct node_elem {
    gp_id node;
    uint32_t elem;
} node_elem;

static int by_node(const void *x, const void *y)
{
    gp_id a = ((const node_elem *)x)->node, b = ((const node_elem *)y)->node;
    return (a > b) - (a < b);
}

size_t build_node_owner(const gp_case *cs, gp_id node, int through_args)
{
    const gp_ctx *c = cs->c;
    size_t n = c->nnode, found = SIZE_MAX;
    if (node >= n || cs->nelem >= UINT32_MAX - 1)
        return SIZE_MAX;
    uint32_t *owner = malloc(n * sizeof *owner);
    node_elem *order = malloc((cs->nelem + 1) * sizeof *order);
    gp_id *stack = malloc(n * sizeof *stack);
    if (!owner || !order || !stack)
        goto done;
    for (size_t i = 0; i < n; i++)
        owner[i] = UINT32_MAX;
    /* the definitions by node, so that each one's expression stops at the
       definitions it uses (their nodes are smaller) */
    size_t nd = 0;
    for (size_t e = 0; e < cs->nelem; e++)
        if (cs->elem[e].def && cs->elem[e].node < n)
            order[nd++] = (node_elem){cs->elem[e].node, (uint32_t)e};
    qsort(order, nd, sizeof *order, by_node);
    for (size_t k = 0; k < nd; k++) {
        gp_id root = order[k].node;
        if (owner[root] != UINT32_MAX)
            continue; /* defined as another definition: x = y */
        size_t top = 0;
        owner[root] = order[k].elem;
        stack[top++] = root;
        while (top) {
            const gp_node *nd_ = &c->node[stack[--top]];
            for (uint32_t j = 0; j < nd_->nkid; j++)
                if (owner[nd_->kid[j]] == UINT32_MAX && c->node[nd_->kid[j]].op != GP_OP_LEAF &&
                    c->node[nd_->kid[j]].op != GP_OP_NUM) {
                    owner[nd_->kid[j]] = order[k].elem;
                    stack[top++] = nd_->kid[j];
                }
        }
    }
    /* outside every definition: the nearest argument that has one (nodes
       pushed once, marked SEEN) */
    const uint32_t SEEN = UINT32_MAX - 1;
    size_t top = 0;
    if (owner[node] < SEEN)
        found = owner[node];
    owner[node] = SEEN;
    if (through_args)
        stack[top++] = node;
    while (top && found == SIZE_MAX) {
        const gp_node *nd_ = &c->node[stack[--top]];
        for (uint32_t j = 0; j < nd_->nkid && found == SIZE_MAX; j++) {
            gp_id k = nd_->kid[j];
            if (owner[k] < SEEN) {
                found = owner[k];
            } else if (owner[k] == UINT32_MAX) {
                owner[k] = SEEN;
                stack[top++] = k;
            }
        }
    }
done:
    free(owner);
    free(order);
    free(stack);
    return found;
}

static int alloc_elements(bctx *b, symbol *s, size_t off, size_t len)
{
    gp_case *cs = b->cs;
    if (cs->over_limit)
        return 0; /* reported once */
    size_t count = 1;
    for (uint32_t k = 0; k < s->nidx; k++) {
        size_t ext = (size_t)((long)s->hi[k] - s->lo[k] + 1);
        if (count > cs->c->lim.max_elements / ext) {
            err(b, off, len, "'%s' has more elements than the limit of %zu (raise it with --max-elements)", s->name,
                cs->c->lim.max_elements);
            cs->over_limit = 1;
            return 0;
        }
        count *= ext;
    }
    if (cs->nelem + count > cs->c->lim.max_elements) {
        err(b, off, len, "the case has more elements than the limit of %zu (raise it with --max-elements)",
            cs->c->lim.max_elements);
        cs->over_limit = 1;
        return 0;
    }
    if (!ctx_grow((void **)&cs->elem, &cs->capelem, cs->nelem + count, sizeof *cs->elem)) {
        cs->c->status = GP_ENOMEM;
        return 0;
    }
    s->first = cs->nelem;
    s->count = count;
    for (size_t i = 0; i < count; i++) {
        element *el = &cs->elem[cs->nelem + i];
        memset(el, 0, sizeof *el);
        el->sym = (uint32_t)(s - cs->sym);
        el->node = GP_NIL;
    }
    cs->nelem += count;
    return 1;
}

/* declare input/target/param names: ranges, elements, leaves */
static void declare(bctx *b, const stmt *st)
{
    gp_case *cs = b->cs;
    sym_kind kind = st->kind == S_INPUT ? SYM_INPUT : st->kind == S_TARGET ? SYM_TARGET : SYM_PARAM;
    gp_leaf_kind lk = kind == SYM_INPUT ? GP_LEAF_INPUT : kind == SYM_TARGET ? GP_LEAF_TARGET : GP_LEAF_PARAM;
    for (uint32_t i = 0; i < st->nitems; i++) {
        const declname *d = &st->items[i];
        long si = build_lookup(cs, src_text(cs, b->src) + d->off, d->len);
        if (si < 0 || cs->sym[si].decl != st || cs->sym[si].off != d->off)
            continue; /* a clash, reported by collect() */
        symbol *s = &cs->sym[si];
        s->nidx = d->nidx;
        int ok = 1;
        for (uint32_t k = 0; ok && k < d->nidx; k++) {
            long lo, hi;
            ok = ival(b, d->lo[k], &lo);
            hi = lo;
            if (ok && d->hi[k])
                ok = ival(b, d->hi[k], &hi);
            if (ok && hi < lo) {
                err(b, d->lo[k]->off, d->hi[k]->off + d->hi[k]->len - d->lo[k]->off, "empty index range %ld..%ld", lo, hi);
                ok = 0;
            }
            s->lo[k] = (int32_t)lo;
            s->hi[k] = (int32_t)hi;
        }
        if (!ok || !alloc_elements(b, s, d->off, d->eoff - d->off)) {
            s->nidx = 0;
            s->count = 0;
            continue;
        }
        uint32_t **list = kind == SYM_PARAM ? &cs->params : &cs->inputs;
        size_t *nlist = kind == SYM_PARAM ? &cs->nparams : &cs->ninputs;
        uint32_t *grown = realloc(*list, (*nlist + s->count) * sizeof **list);
        if (!grown) {
            cs->c->status = GP_ENOMEM;
            return;
        }
        *list = grown;
        for (size_t e = s->first; e < s->first + s->count; e++) {
            gp_name nm;
            build_elem_name(cs, e, &nm);
            long li = dag_leaf(cs->c, lk, &nm, GP_NIL);
            if (li < 0)
                return;
            cs->elem[e].node = cs->c->leaf[li].node;
            cs->elem[e].state = 2;
            (*list)[(*nlist)++] = (uint32_t)li;
        }
    }
}

/* odometer over the for-variables of a statement: init, then next */
static int fors_init(bctx *b, const stmt *st, long *lo, long *hi)
{
    for (uint32_t k = 0; k < st->nfors; k++) {
        if (!ival(b, st->fors[k].lo, &lo[k]) || !ival(b, st->fors[k].hi, &hi[k]))
            return 0;
        if (hi[k] < lo[k]) {
            err(b, st->fors[k].lo->off, st->fors[k].hi->off + st->fors[k].hi->len - st->fors[k].lo->off,
                "empty index range %ld..%ld", lo[k], hi[k]);
            return 0;
        }
        /* later ranges may use earlier variables: not supported, keep them independent */
    }
    return 1;
}

static void push_env(bctx *b, size_t off, size_t len, long v)
{
    b->e.off[b->e.n] = off;
    b->e.len[b->e.n] = len;
    b->e.val[b->e.n] = v;
    b->e.n++;
}

/* Visit every element a definition statement defines; fn gets the lhs
   indices with the for-variables bound in b->e. */
typedef int (*def_visit)(bctx *b, const stmt *st, symbol *s, const long *idx, void *arg);

/* the for-variables of el's statement, bound to its values */
static void bind_fors(bctx *b, const element *el)
{
    b->e.n = 0;
    for (uint32_t k = 0; k < el->def->nfors; k++)
        push_env(b, el->def->fors[k].off, el->def->fors[k].len, el->fv[k]);
}

static int each_def_element(bctx *b, const stmt *st, symbol *s, def_visit fn, void *arg)
{
    long lo[GP_MAX_INDEX] = {0}, hi[GP_MAX_INDEX] = {0}, cur[GP_MAX_INDEX];
    if (st->nfors > GP_MAX_INDEX) {
        err(b, st->fors[GP_MAX_INDEX].off, st->fors[GP_MAX_INDEX].len, "too many index variables (at most %d)", GP_MAX_INDEX);
        return 0;
    }
    for (uint32_t k = 0; k < st->nfors; k++)
        for (uint32_t j = 0; j < k; j++)
            if (st->fors[j].len == st->fors[k].len &&
                !memcmp(src_text(b->cs, b->src) + st->fors[j].off, src_text(b->cs, b->src) + st->fors[k].off, st->fors[k].len)) {
                err(b, st->fors[k].off, st->fors[k].len, "index variable '%.*s' appears twice", (int)st->fors[k].len,
                    src_text(b->cs, b->src) + st->fors[k].off);
                return 0;
            }
    if (!fors_init(b, st, lo, hi))
        return 0;
    memcpy(cur, lo, sizeof cur);
    const declname *d = &st->items[0];
    for (;;) {
        int saved = b->e.n;
        for (uint32_t k = 0; k < st->nfors; k++)
            push_env(b, st->fors[k].off, st->fors[k].len, cur[k]);
        long idx[GP_MAX_INDEX];
        int ok = 1;
        for (uint32_t k = 0; ok && k < d->nidx; k++)
            ok = ival(b, d->lo[k], &idx[k]);
        if (ok)
            ok = fn(b, st, s, idx, arg);
        b->e.n = saved;
        if (!ok)
            return 0;
        uint32_t k = st->nfors;
        while (k > 0 && cur[k - 1] == hi[k - 1]) {
            cur[k - 1] = lo[k - 1];
            k--;
        }
        if (k == 0)
            return 1;
        cur[k - 1]++;
    }
}

static int widen_box(bctx *b, const stmt *st, symbol *s, const long *idx, void *arg)
{
    int *first = arg;
    for (uint32_t k = 0; k < s->nidx; k++) {
        if (idx[k] < -INDEX_CAP || idx[k] > INDEX_CAP) {
            err(b, st->items[0].off, st->items[0].eoff - st->items[0].off,
                "index %ld is outside the supported range -%ld..%ld", idx[k], INDEX_CAP, INDEX_CAP);
            return 0;
        }
        if (*first || idx[k] < s->lo[k])
            s->lo[k] = (int32_t)idx[k];
        if (*first || idx[k] > s->hi[k])
            s->hi[k] = (int32_t)idx[k];
    }
    *first = 0;
    return 1;
}

static int assign_def(bctx *b, const stmt *st, symbol *s, const long *idx, void *arg)
{
    size_t e;
    if (!elem_index(s, idx, &e))
        return 0;
    element *el = &b->cs->elem[e];
    if (el->def) {
        char at[32];
        where(b->cs, b->src, el->def->off, at, sizeof at);
        buf nm = BUF_INIT;
        buf_puts(&nm, s->name);
        for (uint32_t k = 0; k < s->nidx; k++)
            buf_printf(&nm, "[%ld]", idx[k]);
        if (!*(int *)arg) /* one message per statement; its other elements stay defined */
            err(b, st->items[0].off, st->items[0].eoff - st->items[0].off, "'%s' is defined twice (first at %s)",
                nm.s ? nm.s : s->name, at);
        *(int *)arg = 1;
        buf_free(&nm);
        return 1;
    }
    el->def = st;
    for (int k = 0; k < b->e.n && k < GP_MAX_INDEX; k++)
        el->fv[k] = (int32_t)b->e.val[k];
    return 1;
}

/* ---- pass 1: collect every name ---- */

static void collect(bctx *b)
{
    gp_case *cs = b->cs;
    const char *t = src_text(cs, b->src);
    for (size_t i = 0; i < cs->syn.n; i++) {
        const stmt *st = &cs->syn.s[i];
        if (st->kind == S_INPUT || st->kind == S_TARGET || st->kind == S_PARAM ||
            st->kind == S_CONST || st->kind == S_DEF || st->kind == S_LOSS) {
            for (uint32_t j = 0; j < st->nitems; j++) {
                const declname *d = &st->items[j];
                long si = build_lookup(cs, t + d->off, d->len);
                if (si < 0) {
                    /* every name in statement order, so that a clash is reported at
                       the later statement; declare() makes the leaves afterwards */
                    static const sym_kind kinds[] = {
                        [S_INPUT] = SYM_INPUT, [S_TARGET] = SYM_TARGET, [S_PARAM] = SYM_PARAM,
                        [S_CONST] = SYM_CONST, [S_DEF] = SYM_DEF,       [S_LOSS] = SYM_LOSS,
                    };
                    si = add_symbol(b, st, d->off, d->len, kinds[st->kind]);
                    if (si < 0)
                        return;
                    if (st->kind == S_DEF)
                        cs->sym[si].nidx = d->nidx;
                    continue;
                }
                symbol *s = &cs->sym[si];
                if (s->decl == st && s->off == d->off)
                    continue;
                if (st->kind == S_DEF && s->kind == SYM_DEF && (d->nidx > 0 || s->nidx > 0)) {
                    if (d->nidx != s->nidx) {
                        char at[32];
                        where(cs, b->src, s->off, at, sizeof at);
                        err(b, d->off, d->eoff - d->off, "'%s' has %u ind%s at %s but %u here", s->name, s->nidx,
                            s->nidx == 1 ? "ex" : "ices", at, d->nidx);
                    }
                    continue;
                }
                char at[32];
                where(cs, b->src, s->off, at, sizeof at);
                if (st->kind == S_LOSS && s->kind == SYM_LOSS)
                    err(b, d->off, d->len, "a second loss '%s' (the loss is defined at %s; a case has exactly one)",
                        s->name, at);
                else
                    err(b, d->off, d->len, "redefinition of '%s' (already %s, at %s)", s->name, kind_word(s->kind), at);
            }
        }
        if (st->kind == S_LOSS) {
            long si = build_lookup(cs, t + st->items[0].off, st->items[0].len);
            if (si >= 0 && cs->sym[si].kind == SYM_LOSS && cs->sym[si].decl == st) {
                if (cs->loss_sym != NOSYM) {
                    char at[32];
                    where(cs, b->src, cs->sym[cs->loss_sym].off, at, sizeof at);
                    err(b, st->items[0].off, st->items[0].len,
                        "a second loss '%s' (the loss is '%s', defined at %s; a case has exactly one)",
                        cs->sym[si].name, cs->sym[cs->loss_sym].name, at);
                } else {
                    cs->loss_sym = (uint32_t)si;
                }
            }
        }
    }
}

/* ---- expressions ---- */

static gp_id build(bctx *b, const ast *a);

static const char *quote_span(const gp_case *cs, int src, size_t off, size_t len, char *tmp, size_t n)
{
    if (len > 40) {
        snprintf(tmp, n, "%.37s...", src_text(cs, src) + off);
    } else {
        snprintf(tmp, n, "%.*s", (int)len, src_text(cs, src) + off);
    }
    return tmp;
}

/* per-sample and dataset-level values may meet only inside a reduction */
static int check_levels(bctx *b, uint32_t n, const gp_id *kid, ast *const *kast)
{
    if (b->in_red) {
        /* inside a reduction a dataset-level operand is a nested reduction */
        for (uint32_t i = 0; i < n; i++)
            if (b->cs->c->node[kid[i]].level == GP_LV_DATASET) {
                char t1[64];
                const ast *k = kast[i];
                err(b, k->off, k->len,
                    "'%s' is a mean or sum over the samples and cannot stand inside %s(...): reductions do not nest",
                    quote_span(b->cs, b->src, k->off, k->len, t1, sizeof t1), b->in_red == GP_OP_MEAN ? "mean" : "sum");
                return 0;
            }
    }
    int ks = -1, kd = -1;
    for (uint32_t i = 0; i < n; i++) {
        int lv = b->cs->c->node[kid[i]].level;
        if (lv == GP_LV_SAMPLE && ks < 0)
            ks = (int)i;
        if (lv == GP_LV_DATASET && kd < 0)
            kd = (int)i;
    }
    if (ks < 0 || kd < 0)
        return 1;
    char t1[64];
    const ast *s = kast[ks];
    quote_span(b->cs, b->src, s->off, s->len, t1, sizeof t1);
    err(b, s->off, s->len,
        "'%s' varies per sample but is combined with a mean or sum over the samples; a per-sample value must stand inside mean(...) or sum(...) here",
        t1);
    return 0;
}

static gp_id resolve_name(bctx *b, const ast *a, size_t *elem_out)
{
    gp_case *cs = b->cs;
    const char *t = src_text(cs, b->src);
    const char *s = t + a->noff;
    for (int i = b->e.n - 1; i >= 0; i--)
        if (b->e.len[i] == a->nlen && memcmp(t + b->e.off[i], s, a->nlen) == 0) {
            if (a->n) {
                err(b, a->off, a->len, "index variable '%.*s' cannot be indexed", (int)a->nlen, s);
                return GP_NIL;
            }
            if (elem_out)
                *elem_out = SIZE_MAX;
            return dag_num_si(cs->c, b->e.val[i], 1);
        }
    long si = build_lookup(cs, s, a->nlen);
    if (si < 0) {
        unknown(b, a->noff, a->nlen, "name");
        return GP_NIL;
    }
    symbol *sy = &cs->sym[si];
    if (sy->count == 0 && sy->kind != SYM_CONST)
        return GP_NIL; /* its declaration failed and was reported */
    if (a->n != sy->nidx) {
        if (sy->nidx == 0)
            err(b, a->off, a->len, "'%s' is not indexed", sy->name);
        else
            err(b, a->off, a->len, "'%s' takes %u ind%s, written with %u", sy->name, sy->nidx,
                sy->nidx == 1 ? "ex" : "ices", a->n);
        return GP_NIL;
    }
    long idx[GP_MAX_INDEX];
    for (uint32_t k = 0; k < a->n; k++) {
        if (!ival(b, a->kid[k], &idx[k]))
            return GP_NIL;
        if (idx[k] < sy->lo[k] || idx[k] > sy->hi[k]) {
            err(b, a->kid[k]->off, a->kid[k]->len, "index %ld out of range %d..%d for '%s'", idx[k], sy->lo[k], sy->hi[k],
                sy->name);
            return GP_NIL;
        }
    }
    size_t e = 0;
    if (sy->kind == SYM_CONST) {
        mpq_srcptr q;
        if (!const_value(b, (uint32_t)si, &q))
            return GP_NIL;
        e = sy->first;
    } else {
        elem_index(sy, idx, &e);
    }
    if (elem_out)
        *elem_out = e;
    element *el = &cs->elem[e];
    if (b->collect) {
        if (sy->kind == SYM_DEF || sy->kind == SYM_LOSS) {
            if (!el->def) {
                buf nm = BUF_INIT;
                buf_puts(&nm, sy->name);
                for (uint32_t k = 0; k < a->n; k++)
                    buf_printf(&nm, "[%ld]", idx[k]);
                err(b, a->off, a->len, "'%s' is not defined (no statement defines this element)", nm.s ? nm.s : "?");
                buf_free(&nm);
                return GP_NIL;
            }
            if (!ctx_grow((void **)&b->deps, &b->capdeps, b->ndeps + 1, sizeof *b->deps)) {
                cs->c->status = GP_ENOMEM;
                return GP_NIL;
            }
            b->deps[b->ndeps++] = (uint32_t)e;
        }
        return dag_num_si(cs->c, 0, 1);
    }
    return el->node;
}

/* A partial derivative by the named intermediate e (node w) differentiates
   through the uses of that name and holds every name it does not depend on
   fixed.  The DAG keeps one node for equal expressions, so when the
   equations that f depends on (other than through e) also come to w, as the
   same expression written out, another definition equal to it or the leaf e
   is defined as, the sweep would differentiate through those too and answer
   another question.  Those equations are rebuilt, which finds the same
   nodes, watching for w; found, it is an error (0), never a wrong value. */
static int partial_defined(bctx *b, const ast *a, size_t ef, gp_id f, size_t e, gp_id w)
{
    gp_case *cs = b->cs;
    gp_ctx *c = cs->c;
    const ast *wa = a->kid[1];
    if (ef == e)
        return 1; /* a name by itself: 1, whatever it is equal to */
    size_t hit = SIZE_MAX;
    int leaf = 0;
    uint8_t *seen = calloc(cs->nelem ? cs->nelem : 1, 1);
    uint32_t *work = malloc((cs->nelem ? cs->nelem : 1) * sizeof *work);
    if (!seen || !work) {
        free(seen);
        free(work);
        c->status = GP_ENOMEM;
        return 0;
    }
    size_t nwork = 0;
    sym_kind fk = cs->sym[cs->elem[ef].sym].kind;
    if (fk == SYM_DEF || fk == SYM_LOSS) {
        seen[ef] = 1;
        work[nwork++] = (uint32_t)ef;
    } else if (f == w) { /* d x/d a, with a defined as x: x does not depend on a */
        hit = ef;
        leaf = 1;
    }
    /* the claim's own state, restored after */
    env saved_env = b->e;
    int saved_claim = b->claim, saved_red = b->in_red;
    size_t saved_terms = b->sum_terms[0], saved_ndeps = b->ndeps;
    b->claim = 0;
    b->in_red = 0;
    b->probing = 1;
    b->probe = w;
    b->probe_skip = e;
    b->probe_hit = SIZE_MAX;
    b->probe_leaf = 0;
    while (nwork && hit == SIZE_MAX && c->status == GP_OK) {
        uint32_t k = work[--nwork];
        element *el = &cs->elem[k];
        if (el->node == GP_NIL || !el->def)
            continue;
        bind_fors(b, el);
        b->sum_terms[0] = 0;
        b->ndeps = 0;
        b->probe_elem = k;
        build(b, el->def->rhs);
        if (b->probe_hit != SIZE_MAX) {
            hit = b->probe_hit;
            leaf = b->probe_leaf;
        }
        for (size_t i = 0; i < b->ndeps; i++)
            if (!seen[b->deps[i]]) {
                seen[b->deps[i]] = 1;
                work[nwork++] = b->deps[i];
            }
    }
    b->probing = 0;
    b->e = saved_env;
    b->claim = saved_claim;
    b->in_red = saved_red;
    b->sum_terms[0] = saved_terms;
    b->ndeps = saved_ndeps;
    free(seen);
    free(work);
    if (c->status != GP_OK)
        return 0;
    if (hit == SIZE_MAX)
        return 1;
    gp_name nm;
    buf q = BUF_INIT, h = BUF_INIT;
    build_elem_name(cs, e, &nm);
    print_name(&q, &nm, PR_CASE);
    if (leaf) {
        print_name(&h, &c->leaf[c->node[w].pay].name, PR_CASE);
        err(b, wa->off, wa->len,
            "the derivative by '%s' alone is not defined here: '%s' is defined as %s, which the equations also use "
            "directly; differentiate by %s",
            q.s ? q.s : "?", q.s ? q.s : "?", h.s ? h.s : "?", h.s ? h.s : "?");
    } else {
        build_elem_name(cs, hit, &nm);
        print_name(&h, &nm, PR_CASE);
        unsigned line, col;
        diag_linecol(c, b->src, cs->elem[hit].def->off, &line, &col);
        err(b, wa->off, wa->len,
            "the derivative by '%s' alone is not defined here: '%s' (line %u) holds the same expression without the name "
            "'%s', and gradproof holds equal expressions as one value; write '%s' there, or differentiate by a param",
            q.s ? q.s : "?", h.s ? h.s : "?", line, q.s ? q.s : "?", q.s ? q.s : "?");
    }
    if (q.oom || h.oom)
        c->status = GP_ENOMEM;
    buf_free(&q);
    buf_free(&h);
    return 0;
}

static gp_id build_deriv(bctx *b, const ast *a)
{
    gp_case *cs = b->cs;
    if (!b->claim) {
        /* outside claims, dx/dy is a division when both names exist */
        const char *t = src_text(cs, b->src);
        const ast *na = a->kid[0], *nb = a->kid[1];
        if (build_lookup(cs, t + na->noff - 1, na->nlen + 1) >= 0 && build_lookup(cs, t + nb->noff - 1, nb->nlen + 1) >= 0) {
            ast x = *na, y = *nb;
            x.noff--, x.nlen++, y.noff--, y.nlen++;
            gp_id u = resolve_name(b, &x, NULL), v = resolve_name(b, &y, NULL);
            if (u == GP_NIL || v == GP_NIL || b->collect)
                return u == GP_NIL ? GP_NIL : v;
            if (!check_levels(b, 2, (gp_id[]){u, v}, (ast *const[]){&x, &y}))
                return GP_NIL;
            return gp_div(cs->c, u, v);
        }
        err(b, a->off, a->len, "a derivative %.*s may appear only in a claim", (int)a->len, t + a->off);
        return GP_NIL;
    }
    size_t ef, ew;
    gp_id f = resolve_name(b, a->kid[0], &ef);
    gp_id w = resolve_name(b, a->kid[1], &ew);
    if (f == GP_NIL || w == GP_NIL)
        return GP_NIL;
    if (b->collect)
        return f;
    const ast *wa = a->kid[1];
    const char *t = src_text(cs, b->src);
    if (ew == SIZE_MAX) {
        err(b, wa->off, wa->len, "'%.*s' is an index variable, not something to differentiate by", (int)wa->nlen, t + wa->noff);
        return GP_NIL;
    }
    const symbol *sw = &cs->sym[cs->elem[ew].sym];
    if (sw->kind == SYM_CONST) {
        err(b, wa->off, wa->len, "'%s' is a constant, not a param: differentiate with respect to a param, an input or a named intermediate",
            sw->name);
        return GP_NIL;
    }
    if (sw->kind == SYM_LOSS) {
        err(b, wa->off, wa->len, "cannot differentiate with respect to the loss '%s'", sw->name);
        return GP_NIL;
    }
    const gp_node *wn = &cs->c->node[w];
    const gp_node *fn = &cs->c->node[f];
    if (wn->op == GP_OP_NUM) {
        buf q = BUF_INIT;
        print_q(&q, dag_q(cs->c, w), PR_CASE);
        err(b, wa->off, wa->len, "'%s' is the number %s here, not a variable to differentiate by", sw->name, q.s ? q.s : "?");
        buf_free(&q);
        return GP_NIL;
    }
    if (wn->level == GP_LV_DATASET) {
        err(b, wa->off, wa->len, "'%s' is a mean or sum over the samples; differentiate with respect to params or per-sample names",
            sw->name);
        return GP_NIL;
    }
    if (fn->level == GP_LV_DATASET && wn->level == GP_LV_SAMPLE) {
        err(b, a->off, a->len,
            "'%.*s' is a mean or sum over the samples and '%s' varies per sample: differentiate a dataset-level value only by params",
            (int)a->kid[0]->nlen, t + a->kid[0]->noff, sw->name);
        return GP_NIL;
    }
    if (sw->kind == SYM_DEF && !partial_defined(b, a, ef, f, ew, w))
        return GP_NIL;
    gp_id out;
    gp_status st = derive_grad(cs->c, f, 1, &w, &out);
    if (st != GP_OK) {
        if (cs->c->status == GP_OK)
            cs->c->status = st;
        return GP_NIL;
    }
    return out;
}

static gp_id build_ast(bctx *b, const ast *a);

static gp_id build(bctx *b, const ast *a)
{
    if (!b->probing)
        return build_ast(b, a);
    /* rebuilding an equation (no new nodes: equal expressions are one node)
       to see where the node b->probe comes out other than by its name */
    if (a->kind != A_NAME) {
        gp_id id = build_ast(b, a);
        if (id == b->probe && b->probe_hit == SIZE_MAX)
            b->probe_hit = b->probe_elem;
        return id;
    }
    size_t e = SIZE_MAX;
    gp_id id = resolve_name(b, a, &e);
    if (e == SIZE_MAX || e == b->probe_skip || id == GP_NIL)
        return id;
    sym_kind k = b->cs->sym[b->cs->elem[e].sym].kind;
    if (k == SYM_DEF || k == SYM_LOSS) {
        if (ctx_grow((void **)&b->deps, &b->capdeps, b->ndeps + 1, sizeof *b->deps))
            b->deps[b->ndeps++] = (uint32_t)e;
        else
            b->cs->c->status = GP_ENOMEM;
    } else if (id == b->probe && b->probe_hit == SIZE_MAX) {
        b->probe_hit = b->probe_elem;
        b->probe_leaf = 1;
    }
    return id;
}

static gp_id build_ast(bctx *b, const ast *a)
{
    gp_ctx *c = b->cs->c;
    if (c->status != GP_OK)
        return GP_NIL;
    if (!ctx_stack_ok(c)) {
        err(b, a->off, a->len, "expression nested too deeply for the stack; raise the stack limit (ulimit -s) or simplify");
        return GP_NIL;
    }
    switch ((ast_kind)a->kind) {
    case A_NUM:
        return a->num;
    case A_NAME:
        return resolve_name(b, a, NULL);
    case A_DERIV:
        return build_deriv(b, a);
    case A_NEG:
        return gp_neg(c, build(b, a->kid[0]));
    case A_CALL: {
        gp_id x = build(b, a->kid[0]);
        return b->collect ? x : gp_call(c, (gp_fn)a->fn, x);
    }
    case A_RED: {
        if (b->in_red && !b->collect) {
            err(b, a->off, a->len, "%s(...) cannot contain another mean(...) or sum(...) over the samples",
                b->in_red == GP_OP_MEAN ? "mean" : "sum");
            return GP_NIL;
        }
        int saved_red = b->in_red;
        b->in_red = a->fn;
        gp_id x = build(b, a->kid[0]);
        b->in_red = saved_red;
        if (x == GP_NIL || b->collect)
            return x;
        if (c->node[x].level == GP_LV_DATASET) {
            err(b, a->kid[0]->off, a->kid[0]->len, "%s(...) cannot contain another mean(...) or sum(...) over the samples",
                a->fn == GP_OP_MEAN ? "mean" : "sum");
            return GP_NIL;
        }
        return gp_reduce(c, (gp_op)a->fn, x);
    }
    case A_POW: {
        gp_id x = build(b, a->kid[0]);
        mpq_t e;
        mpq_init(e);
        int ok = qeval(b, a->kid[1], e, "the exponent of '^'");
        gp_id en = ok ? dag_num(c, e) : GP_NIL;
        mpq_clear(e);
        if (!ok || x == GP_NIL)
            return GP_NIL;
        return b->collect ? x : gp_pow(c, x, en);
    }
    case A_ISUM: {
        long lo, hi;
        if (!ival(b, a->kid[0], &lo) || !ival(b, a->kid[1], &hi))
            return GP_NIL;
        if (b->e.n >= (int)(sizeof b->e.val / sizeof b->e.val[0])) {
            err(b, a->off, a->len, "index sums nested too deeply");
            return GP_NIL;
        }
        if (hi - lo + 1 > (long)c->lim.max_elements) {
            err(b, a->off, a->len, "index sum over %ld terms exceeds the limit of %zu (raise it with --max-elements)", hi - lo + 1,
                c->lim.max_elements);
            return GP_NIL;
        }
        size_t n = hi >= lo ? (size_t)(hi - lo + 1) : 0;
        size_t *done = &b->sum_terms[b->collect != 0];
        if (n > c->lim.max_elements - *done) {
            err(b, a->off, a->len, "the index sums of this expression expand to more terms than the limit of %zu (raise it with --max-elements)",
                c->lim.max_elements);
            *done = c->lim.max_elements; /* reported once */
            return GP_NIL;
        }
        *done += n;
        gp_id *terms = malloc((n ? n : 1) * sizeof *terms);
        if (!terms) {
            c->status = GP_ENOMEM;
            return GP_NIL;
        }
        gp_id res = GP_NIL;
        int ok = 1;
        for (long j = lo; ok && j <= hi; j++) {
            push_env(b, a->noff, a->nlen, j);
            terms[j - lo] = build(b, a->kid[2]);
            b->e.n--;
            ok = terms[j - lo] != GP_NIL;
        }
        if (ok) {
            int sample = 0, dataset = 0;
            for (size_t i = 0; i < n; i++) {
                sample |= c->node[terms[i]].level == GP_LV_SAMPLE;
                dataset |= c->node[terms[i]].level == GP_LV_DATASET;
            }
            if (sample && dataset) {
                err(b, a->kid[2]->off, a->kid[2]->len,
                    "the terms of this sum mix per-sample values with means or sums over the samples");
                ok = 0;
            }
        }
        if (ok)
            res = b->collect ? dag_num_si(c, 0, 1) : gp_add(c, n, terms);
        free(terms);
        return res;
    }
    case A_ADD:
    case A_MUL: {
        gp_id *kid = malloc(a->n * sizeof *kid);
        if (!kid) {
            c->status = GP_ENOMEM;
            return GP_NIL;
        }
        int ok = 1;
        for (uint32_t i = 0; i < a->n; i++) {
            kid[i] = build(b, a->kid[i]);
            if (kid[i] == GP_NIL)
                ok = 0;
        }
        gp_id res = GP_NIL;
        if (ok && !b->collect && check_levels(b, a->n, kid, a->kid)) {
            for (uint32_t i = 0; i < a->n; i++)
                if (a->inv[i])
                    kid[i] = a->kind == A_ADD ? gp_neg(c, kid[i]) : gp_pow_si(c, kid[i], -1, 1);
            res = a->kind == A_ADD ? gp_add(c, a->n, kid) : gp_mul(c, a->n, kid);
        } else if (ok && b->collect) {
            res = kid[0];
        }
        free(kid);
        return res;
    }
    }
    return GP_NIL;
}

/* ---- pass 3: order and build the definitions ---- */

typedef struct frame {
    uint32_t e;       /* element */
    uint32_t *deps;   /* its dependencies (malloc) */
    size_t ndeps, next;
} frame;

static void build_element(bctx *b, uint32_t e)
{
    gp_case *cs = b->cs;
    element *el = &cs->elem[e];
    bind_fors(b, el);
    b->sum_terms[0] = 0; /* the limit is per definition */
    gp_id id = build(b, el->def->rhs);
    b->e.n = 0;
    el->node = id;
    el->state = 2;
    if (id == GP_NIL)
        return;
    gp_name nm;
    build_elem_name(cs, e, &nm);
    dag_set_label(cs->c, id, &nm);
}

static int order_and_build(bctx *b)
{
    gp_case *cs = b->cs;
    frame *stack = NULL;
    size_t n = 0, cap = 0, capdefs = 0;
    for (size_t root = 0; root < cs->nelem; root++) {
        element *r = &cs->elem[root];
        if (!r->def || r->state != 0)
            continue;
        const symbol *rs = &cs->sym[r->sym];
        if (rs->kind != SYM_DEF && rs->kind != SYM_LOSS)
            continue;
        if (r->def->nfors && r->def->items[0].nidx == 0) {
            r->state = 2; /* 'for' on a plain name: reported, not built */
            continue;
        }
        if (!ctx_grow((void **)&stack, &cap, n + 1, sizeof *stack))
            goto oom;
        stack[n++] = (frame){(uint32_t)root, NULL, 0, 0};
        r->state = 1;
        int first_visit = 1;
        while (n) {
            frame *f = &stack[n - 1];
            element *el = &cs->elem[f->e];
            if (first_visit) {
                /* collect the dependencies of this element */
                bind_fors(b, el);
                b->collect = 1;
                b->sum_terms[1] = 0; /* the limit is per definition */
                b->ndeps = 0;
                size_t before = cs->c->nerr;
                build(b, el->def->rhs);
                b->collect = 0;
                b->e.n = 0;
                if (cs->c->nerr > before) {
                    el->state = 2; /* reported; it stays GP_NIL */
                    el->node = GP_NIL;
                    n--;
                    first_visit = 0;
                    continue;
                }
                f->deps = malloc((b->ndeps ? b->ndeps : 1) * sizeof *f->deps);
                if (!f->deps)
                    goto oom;
                if (b->ndeps)
                    memcpy(f->deps, b->deps, b->ndeps * sizeof *f->deps);
                f->ndeps = b->ndeps;
                f->next = 0;
                first_visit = 0;
            }
            if (f->next < f->ndeps) {
                uint32_t d = f->deps[f->next++];
                element *de = &cs->elem[d];
                if (de->state == 2)
                    continue;
                if (de->state == 1) {
                    /* a cycle: the stack from d up to the top */
                    buf m = BUF_INIT;
                    size_t k = n;
                    while (k > 0 && stack[k - 1].e != d)
                        k--;
                    for (size_t j = k - 1; j < n; j++) {
                        gp_name nm;
                        build_elem_name(cs, stack[j].e, &nm);
                        buf_puts(&m, nm.base);
                        for (int q = 0; q < nm.nidx; q++)
                            buf_printf(&m, "[%d]", nm.idx[q]);
                        buf_puts(&m, " -> ");
                    }
                    gp_name nm;
                    build_elem_name(cs, d, &nm);
                    buf_puts(&m, nm.base);
                    for (int q = 0; q < nm.nidx; q++)
                        buf_printf(&m, "[%d]", nm.idx[q]);
                    const stmt *ds = de->def;
                    err(b, ds->items[0].off, ds->items[0].eoff - ds->items[0].off,
                        "definitions form a cycle: %s", m.s ? m.s : "?");
                    buf_free(&m);
                    /* fail every element on the cycle without further messages */
                    for (size_t j = k - 1; j < n; j++) {
                        cs->elem[stack[j].e].state = 2;
                        cs->elem[stack[j].e].node = GP_NIL;
                        free(stack[j].deps);
                    }
                    n = k - 1;
                    continue;
                }
                if (!ctx_grow((void **)&stack, &cap, n + 1, sizeof *stack))
                    goto oom;
                stack[n++] = (frame){d, NULL, 0, 0};
                de->state = 1;
                first_visit = 1;
                continue;
            }
            /* every dependency is built: build this one */
            uint32_t e = f->e;
            free(f->deps);
            n--;
            int failed_dep = 0;
            bind_fors(b, el);
            b->collect = 1;
            b->sum_terms[1] = 0; /* the limit is per definition */
            b->ndeps = 0;
            build(b, el->def->rhs);
            b->collect = 0;
            for (size_t j = 0; j < b->ndeps; j++)
                if (cs->elem[b->deps[j]].node == GP_NIL)
                    failed_dep = 1;
            if (failed_dep) {
                el->state = 2;
                el->node = GP_NIL;
                continue;
            }
            build_element(b, e);
            if (cs->c->status != GP_OK)
                goto oom;
            if (el->node != GP_NIL) {
                if (!ctx_grow((void **)&cs->defs, &capdefs, cs->ndefs + 1, sizeof *cs->defs))
                    goto oom;
                cs->defs[cs->ndefs++] = e;
            }
        }
    }
    free(stack);
    return 1;
oom:
    for (size_t j = 0; j < n; j++)
        free(stack[j].deps);
    free(stack);
    if (cs->c->status == GP_OK)
        cs->c->status = GP_ENOMEM;
    return 0;
}

/* ---- data ---- */

/* map a header name (with literal indices) to an input/target leaf */
static long header_leaf(bctx *b, int src, size_t off, size_t len, const long *idx, uint32_t nidx, size_t eoff)
{
    gp_case *cs = b->cs;
    const char *t = src_text(cs, src);
    long si = build_lookup(cs, t + off, len);
    int saved = b->src;
    b->src = src;
    long res = -1;
    if (si < 0) {
        const char *sug = suggest(b, t + off, len);
        if (sug)
            err(b, off, len, "unknown column '%.*s' (did you mean '%s'?)", (int)len, t + off, sug);
        else
            err(b, off, len, "unknown column '%.*s': the header names inputs and targets", (int)len, t + off);
    } else if (cs->sym[si].kind != SYM_INPUT && cs->sym[si].kind != SYM_TARGET) {
        err(b, off, len, "column '%.*s' is %s; the data header names inputs and targets", (int)len, t + off,
            kind_word(cs->sym[si].kind));
    } else if (nidx != cs->sym[si].nidx) {
        err(b, off, eoff - off, "column '%.*s' needs %u ind%s", (int)len, t + off, cs->sym[si].nidx,
            cs->sym[si].nidx == 1 ? "ex" : "ices");
    } else {
        size_t e;
        if (!elem_index(&cs->sym[si], idx, &e))
            err(b, off, eoff - off, "column index out of the declared range of '%s'", cs->sym[si].name);
        else
            res = (long)cs->c->node[cs->elem[e].node].pay;
    }
    b->src = saved;
    return res;
}

static int set_columns(bctx *b, size_t ncols)
{
    gp_case *cs = b->cs;
    cs->ncols = ncols;
    cs->dcol = calloc(ncols ? ncols : 1, sizeof *cs->dcol);
    return cs->dcol != NULL;
}

static int add_row(bctx *b, int src, const size_t *off, const size_t *len)
{
    gp_case *cs = b->cs;
    mpq_t *v = realloc(cs->dval, (cs->nrows + 1) * cs->ncols * sizeof *v);
    if (!v)
        return 0;
    cs->dval = v;
    mpq_t *row = cs->dval + cs->nrows * cs->ncols;
    int ok = 1;
    for (size_t j = 0; j < cs->ncols; j++)
        mpq_init(row[j]);
    cs->nrows++;
    for (size_t j = 0; j < cs->ncols; j++) {
        const char *s = src_text(cs, src) + off[j];
        int pn = parse_number(row[j], s, len[j]);
        if (pn < 0)
            return 0; /* out of memory */
        if (!pn) {
            int saved = b->src;
            b->src = src;
            gp_name nm = cs->c->leaf[cs->dcol[j]].name;
            if (len[j] == 0)
                err(b, off[j], 0, "empty value in row %zu, column '%s'", cs->nrows, nm.base);
            else
                err(b, off[j], len[j], "'%.*s' in row %zu, column '%s', is not a finite number", (int)len[j], s, cs->nrows,
                    nm.base);
            b->src = saved;
            ok = 0;
            break;
        }
    }
    return ok ? 1 : -1;
}

/* every input and target has exactly one column; coff/clen: the header
   cells (in b->src), off/len: the whole header */
static void check_columns(bctx *b, const size_t *coff, const size_t *clen, size_t off, size_t len)
{
    gp_case *cs = b->cs;
    for (size_t j = 0; j < cs->ncols; j++)
        for (size_t k = 0; k < j; k++)
            if (cs->dcol[j] == cs->dcol[k]) {
                char at[32];
                where(cs, b->src, coff[k], at, sizeof at);
                err(b, coff[j], clen[j], "column '%.*s' appears twice in the data header (first at %s)", (int)clen[j],
                    src_text(cs, b->src) + coff[j], at);
                return;
            }
    for (size_t i = 0; i < cs->ninputs; i++) {
        uint32_t li = cs->inputs[i];
        size_t j;
        for (j = 0; j < cs->ncols && cs->dcol[j] != li; j++)
            ;
        if (j == cs->ncols) {
            gp_name nm = cs->c->leaf[li].name;
            buf m = BUF_INIT;
            buf_puts(&m, nm.base);
            for (int q = 0; q < nm.nidx; q++)
                buf_printf(&m, "[%d]", nm.idx[q]);
            err(b, off, len, "the data has no column for %s '%s'",
                cs->c->leaf[li].kind == GP_LEAF_INPUT ? "input" : "target", m.s ? m.s : "?");
            buf_free(&m);
            return;
        }
    }
}

static void inline_data(bctx *b, const stmt *st)
{
    gp_case *cs = b->cs;
    if (!set_columns(b, st->nitems)) {
        cs->c->status = GP_ENOMEM;
        return;
    }
    int ok = 1;
    for (uint32_t j = 0; j < st->nitems; j++) {
        const declname *d = &st->items[j];
        long idx[GP_MAX_INDEX];
        for (uint32_t k = 0; ok && k < d->nidx; k++)
            ok = ival(b, d->lo[k], &idx[k]);
        long li = ok ? header_leaf(b, b->src, d->off, d->len, idx, d->nidx, d->eoff) : -1;
        if (li < 0)
            ok = 0;
        else
            cs->dcol[j] = (uint32_t)li;
    }
    if (!ok)
        return;
    {
        size_t *co = malloc(st->nitems * sizeof *co), *cl = malloc(st->nitems * sizeof *cl);
        if (!co || !cl) {
            free(co);
            free(cl);
            cs->c->status = GP_ENOMEM;
            return;
        }
        for (uint32_t j = 0; j < st->nitems; j++) {
            co[j] = st->items[j].off;
            cl[j] = st->items[j].eoff - st->items[j].off;
        }
        check_columns(b, co, cl, st->items[0].off, st->items[st->nitems - 1].eoff - st->items[0].off);
        free(co);
        free(cl);
    }
    size_t *off = malloc(cs->ncols * sizeof *off), *len = malloc(cs->ncols * sizeof *len);
    if (!off || !len) {
        free(off);
        free(len);
        cs->c->status = GP_ENOMEM;
        return;
    }
    for (size_t r = 0; r < st->nrows; r++) {
        for (size_t j = 0; j < cs->ncols; j++) {
            off[j] = st->cells[r * cs->ncols + j].off;
            len[j] = st->cells[r * cs->ncols + j].len;
        }
        int res = add_row(b, b->src, off, len);
        if (res == 0)
            cs->c->status = GP_ENOMEM;
        if (res <= 0)
            break;
    }
    free(off);
    free(len);
}

/* split one CSV line into fields (commas; surrounding blanks and quotes dropped) */
static size_t csv_fields(const char *s, size_t a, size_t e, size_t *off, size_t *len, size_t max)
{
    size_t n = 0;
    size_t p = a;
    for (;;) {
        size_t q = p;
        while (q < e && s[q] != ',')
            q++;
        size_t fa = p, fe = q;
        while (fa < fe && (s[fa] == ' ' || s[fa] == '\t'))
            fa++;
        while (fe > fa && (s[fe - 1] == ' ' || s[fe - 1] == '\t' || s[fe - 1] == '\r'))
            fe--;
        if (fe - fa >= 2 && s[fa] == '"' && s[fe - 1] == '"') {
            fa++;
            fe--;
        }
        if (n < max) {
            off[n] = fa;
            len[n] = fe - fa;
        }
        n++;
        if (q >= e)
            break;
        p = q + 1;
    }
    return n;
}

static void csv_data(bctx *b, const stmt *st)
{
    gp_case *cs = b->cs;
    const char *t = src_text(cs, b->src);
    /* the string without quotes; no escapes are needed in a file name */
    size_t n = st->slen - 2;
    char *rel = arena_strndup(&cs->c->mem, t + st->soff + 1, n);
    if (!rel) {
        cs->c->status = GP_ENOMEM;
        return;
    }
    char *path = rel;
    buf pb = BUF_INIT;
    if (rel[0] != '/' && cs->dir && cs->dir[0]) {
        buf_printf(&pb, "%s/%s", cs->dir, rel);
        if (pb.oom) { /* never the name relative to the working directory instead */
            buf_free(&pb);
            cs->c->status = GP_ENOMEM;
            return;
        }
        path = pb.s;
    }
    char *text = NULL;
    size_t len = 0;
    int r = ctx_read_file(path, cs->c->lim.max_file_bytes, &text, &len);
    if (r == -2)
        err(b, st->soff, st->slen, "data file '%s' is larger than the limit of %zu bytes (raise it with --max-file-bytes)", path,
            cs->c->lim.max_file_bytes);
    else if (r != 0 && errno == ENOMEM)
        cs->c->status = GP_ENOMEM;
    else if (r != 0)
        err(b, st->soff, st->slen, "cannot read data file '%s': %s", path, strerror(errno));
    if (r != 0) {
        buf_free(&pb);
        return;
    }
    int src = diag_add_source(cs->c, path, text, len);
    free(text);
    buf_free(&pb);
    if (src < 0) {
        cs->c->status = GP_ENOMEM;
        return;
    }
    const char *s = cs->c->src[src].text;
    len = cs->c->src[src].len;
    size_t p = 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        p = 3;
    size_t *off = NULL, *flen = NULL;
    size_t ncols = 0;
    int header = 1;
    while (p < len) {
        size_t e = p;
        while (e < len && s[e] != '\n')
            e++;
        size_t a = p;
        p = e + 1;
        size_t k = a;
        while (k < e && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
            k++;
        if (k == e)
            continue; /* blank line */
        if (header) {
            size_t nf = csv_fields(s, a, e, NULL, NULL, 0);
            off = malloc(nf * sizeof *off);
            flen = malloc(nf * sizeof *flen);
            if (!off || !flen || !set_columns(b, nf)) {
                cs->c->status = GP_ENOMEM;
                break;
            }
            csv_fields(s, a, e, off, flen, nf);
            ncols = nf;
            int ok = 1;
            for (size_t j = 0; j < nf; j++) {
                /* a header cell is NAME or NAME[i][j] */
                const char *h = s + off[j];
                size_t q = 0;
                while (q < flen[j] && h[q] != '[')
                    q++;
                long idx[GP_MAX_INDEX];
                uint32_t ni = 0;
                size_t r2 = q;
                while (r2 < flen[j] && h[r2] == '[' && ni < GP_MAX_INDEX) {
                    char *endp;
                    idx[ni++] = strtol(h + r2 + 1, &endp, 10);
                    r2 = (size_t)(endp - h);
                    if (r2 >= flen[j] || h[r2] != ']')
                        break;
                    r2++;
                }
                if (q == 0 || r2 != flen[j]) {
                    int saved = b->src;
                    b->src = src;
                    err(b, off[j], flen[j] ? flen[j] : 1, "malformed column name '%.*s'", (int)flen[j], h);
                    b->src = saved;
                    ok = 0;
                    continue;
                }
                long li = header_leaf(b, src, off[j], q, idx, ni, off[j] + flen[j]);
                if (li < 0)
                    ok = 0;
                else
                    cs->dcol[j] = (uint32_t)li;
            }
            if (!ok)
                break;
            int saved = b->src;
            b->src = src;
            check_columns(b, off, flen, off[0], off[nf - 1] + flen[nf - 1] - off[0]);
            b->src = saved;
            header = 0;
            continue;
        }
        size_t nf = csv_fields(s, a, e, off, flen, ncols);
        if (nf != ncols) {
            int saved = b->src;
            b->src = src;
            err(b, a, e - a, "row %zu has %zu value%s but the header names %zu column%s", cs->nrows + 1, nf,
                nf == 1 ? "" : "s", ncols, ncols == 1 ? "" : "s");
            b->src = saved;
            break;
        }
        int res = add_row(b, src, off, flen);
        if (res == 0)
            cs->c->status = GP_ENOMEM;
        if (res <= 0)
            break;
    }
    if (header && cs->c->status == GP_OK && !off) {
        int saved = b->src;
        b->src = src;
        err(b, 0, 0, "data file '%s' is empty: it needs a header row", rel);
        b->src = saved;
    }
    free(off);
    free(flen);
}

/* ---- outputs, claims, points ---- */

static void outputs(bctx *b, const stmt *st)
{
    gp_case *cs = b->cs;
    const char *t = src_text(cs, b->src);
    for (uint32_t i = 0; i < st->nitems; i++) {
        const declname *d = &st->items[i];
        long si = build_lookup(cs, t + d->off, d->len);
        if (si < 0) {
            unknown(b, d->off, d->len, "name");
            continue;
        }
        symbol *s = &cs->sym[si];
        if (s->kind != SYM_DEF) {
            err(b, d->off, d->len, "'%s' is %s; an output is a named intermediate", s->name, kind_word(s->kind));
            continue;
        }
        long lo[GP_MAX_INDEX], hi[GP_MAX_INDEX];
        if (d->nidx == 0) {
            for (uint32_t k = 0; k < s->nidx; k++) {
                lo[k] = s->lo[k];
                hi[k] = s->hi[k];
            }
        } else if (d->nidx != s->nidx) {
            err(b, d->off, d->eoff - d->off, "'%s' takes %u ind%s, written with %u", s->name, s->nidx,
                s->nidx == 1 ? "ex" : "ices", d->nidx);
            continue;
        } else {
            int ok = 1;
            for (uint32_t k = 0; ok && k < d->nidx; k++) {
                ok = ival(b, d->lo[k], &lo[k]);
                hi[k] = lo[k];
                if (ok && d->hi[k])
                    ok = ival(b, d->hi[k], &hi[k]);
                if (ok && (lo[k] < s->lo[k] || hi[k] > s->hi[k] || hi[k] < lo[k])) {
                    err(b, d->lo[k]->off, d->eoff - d->lo[k]->off, "index range %ld..%ld out of range %d..%d for '%s'", lo[k],
                        hi[k], s->lo[k], s->hi[k], s->name);
                    ok = 0;
                }
            }
            if (!ok)
                continue;
        }
        long cur[GP_MAX_INDEX];
        memcpy(cur, lo, sizeof cur);
        for (;;) {
            size_t e;
            elem_index(s, cur, &e);
            if (cs->elem[e].node != GP_NIL) {
                gp_id *o = realloc(cs->out, (cs->nout + 1) * sizeof *o);
                if (!o) {
                    cs->c->status = GP_ENOMEM;
                    return;
                }
                cs->out = o;
                cs->out[cs->nout++] = cs->elem[e].node;
            } else if (!cs->elem[e].def) {
                err(b, d->off, d->eoff - d->off, "an element of output '%s' is not defined", s->name);
                break;
            }
            uint32_t k = s->nidx;
            while (k > 0 && cur[k - 1] == hi[k - 1]) {
                cur[k - 1] = lo[k - 1];
                k--;
            }
            if (k == 0)
                break;
            cur[k - 1]++;
        }
    }
}

static gp_id build_side(bctx *b, const ast *a)
{
    /* a claim side: resolve names first (reporting undefined elements), then build */
    b->collect = 1;
    b->sum_terms[1] = 0; /* the limit is per definition */
    b->ndeps = 0;
    size_t before = b->cs->c->nerr;
    build(b, a);
    b->collect = 0;
    if (b->cs->c->nerr > before)
        return GP_NIL;
    for (size_t j = 0; j < b->ndeps; j++)
        if (b->cs->elem[b->deps[j]].node == GP_NIL)
            return GP_NIL;
    b->sum_terms[0] = 0;
    return build(b, a);
}

static void claim_stmt(bctx *b, const stmt *st)
{
    gp_case *cs = b->cs;
    claim *cl = realloc(cs->claims, (cs->nclaims + 1) * sizeof *cl);
    if (!cl) {
        cs->c->status = GP_ENOMEM;
        return;
    }
    cs->claims = cl;
    cl = &cs->claims[cs->nclaims++];
    memset(cl, 0, sizeof *cl);
    cl->kind = st->kind == S_CLAIM ? CLAIM_DERIV : CLAIM_IDENT;
    cl->st = st;
    unsigned col;
    diag_linecol(cs->c, b->src, st->off, &cl->line, &col);
    size_t a = st->lhs->off;
    cl->text = arena_strndup(&cs->c->mem, src_text(cs, b->src) + a, st->off + st->len - a);
    b->claim = 1;
    b->e.n = 0;
    cl->dnum = cl->dwrt = GP_NIL;
    cl->lhs = build_side(b, st->lhs);
    cl->rhs = build_side(b, st->rhs);
    if (cl->lhs != GP_NIL && st->lhs->kind == A_DERIV) {
        /* the differentiated name and the variable, for the path diagnosis */
        cl->dnum = resolve_name(b, st->lhs->kid[0], NULL);
        cl->dwrt = resolve_name(b, st->lhs->kid[1], NULL);
    }
    b->claim = 0;
    if (cl->lhs == GP_NIL || cl->rhs == GP_NIL) {
        cl->lhs = cl->rhs = GP_NIL;
        return;
    }
    int l1 = cs->c->node[cl->lhs].level, l2 = cs->c->node[cl->rhs].level;
    if ((l1 == GP_LV_SAMPLE && l2 == GP_LV_DATASET) || (l1 == GP_LV_DATASET && l2 == GP_LV_SAMPLE)) {
        const ast *s = l1 == GP_LV_SAMPLE ? st->lhs : st->rhs;
        err(b, s->off, s->len,
            "this side varies per sample while the other is a mean or sum over the samples; compare values of the same kind");
        cl->lhs = cl->rhs = GP_NIL;
    }
}

static void point_stmt(bctx *b, const stmt *st)
{
    gp_case *cs = b->cs;
    const char *t = src_text(cs, b->src);
    point *pts = realloc(cs->points, (cs->npoints + 1) * sizeof *pts);
    if (!pts) {
        cs->c->status = GP_ENOMEM;
        return;
    }
    cs->points = pts;
    point *pt = &cs->points[cs->npoints++];
    memset(pt, 0, sizeof *pt);
    pt->st = st;
    pt->leaf = calloc(st->nitems, sizeof *pt->leaf);
    pt->val = malloc(st->nitems * sizeof *pt->val);
    if (!pt->leaf || !pt->val) {
        cs->c->status = GP_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < st->nitems; i++) {
        const declname *d = &st->items[i];
        long si = build_lookup(cs, t + d->off, d->len);
        if (si < 0) {
            unknown(b, d->off, d->len, "param");
            continue;
        }
        symbol *s = &cs->sym[si];
        if (s->kind != SYM_PARAM) {
            err(b, d->off, d->len, "'%s' is %s; 'at' gives values of params", s->name, kind_word(s->kind));
            continue;
        }
        if (d->nidx != s->nidx) {
            err(b, d->off, d->eoff - d->off, "'%s' takes %u ind%s, written with %u", s->name, s->nidx,
                s->nidx == 1 ? "ex" : "ices", d->nidx);
            continue;
        }
        long idx[GP_MAX_INDEX];
        int ok = 1;
        for (uint32_t k = 0; ok && k < d->nidx; k++) {
            ok = ival(b, d->lo[k], &idx[k]);
            if (ok && (idx[k] < s->lo[k] || idx[k] > s->hi[k])) {
                err(b, d->lo[k]->off, d->lo[k]->len, "index %ld out of range %d..%d for '%s'", idx[k], s->lo[k], s->hi[k],
                    s->name);
                ok = 0;
            }
        }
        if (!ok)
            continue;
        size_t e;
        elem_index(s, idx, &e);
        uint32_t li = cs->c->node[cs->elem[e].node].pay;
        for (size_t j = 0; j < pt->n; j++)
            if (pt->leaf[j] == li) {
                err(b, d->off, d->eoff - d->off, "'%.*s' is given twice in this point", (int)(d->eoff - d->off), t + d->off);
                ok = 0;
            }
        if (!ok)
            continue;
        mpq_init(pt->val[pt->n]);
        if (!qeval(b, st->atval[i], pt->val[pt->n], "a param value")) {
            mpq_clear(pt->val[pt->n]);
            continue;
        }
        pt->leaf[pt->n++] = li;
    }
}

/* ---- the whole case ---- */

gp_status build_case(gp_case *cs)
{
    bctx b;
    memset(&b, 0, sizeof b);
    b.cs = cs;
    b.src = cs->src;
    gp_ctx *c = cs->c;
    size_t errs = c->nerr;
    cs->loss_sym = NOSYM;
    cs->loss = GP_NIL;
    cs->title = "";
    const char *t = src_text(cs, b.src);

    /* declarations first, in order, so that leaves take the smallest ids */
    for (size_t i = 0; i < cs->syn.n && c->status == GP_OK; i++) {
        const stmt *st = &cs->syn.s[i];
        if (st->kind == S_TITLE) {
            if (cs->title[0]) {
                err(&b, st->koff, st->klen, "a second title (a case has at most one)");
                continue;
            }
            /* unescape \" and \\ */
            char *s = arena_alloc(&c->mem, st->slen);
            if (!s) {
                c->status = GP_ENOMEM;
                break;
            }
            size_t n = 0;
            for (size_t k = st->soff + 1; k + 1 < st->soff + st->slen; k++) {
                if (t[k] == '\\' && k + 2 < st->soff + st->slen)
                    k++;
                s[n++] = t[k];
            }
            s[n] = '\0';
            cs->title = s;
        }
    }
    collect(&b); /* reports clashes; registers constants, definitions and the loss */
    /* constants get their element now: declarations may use them in ranges */
    for (size_t si = 0; si < cs->nsym && c->status == GP_OK; si++)
        if (cs->sym[si].kind == SYM_CONST && !alloc_elements(&b, &cs->sym[si], cs->sym[si].off,
                                                            cs->sym[si].len))
            break;
    /* the leaves of the declarations, in order */
    for (size_t i = 0; i < cs->syn.n && c->status == GP_OK; i++) {
        const stmt *st = &cs->syn.s[i];
        if (st->kind == S_INPUT || st->kind == S_TARGET || st->kind == S_PARAM)
            declare(&b, st);
    }
    if (c->status != GP_OK)
        return c->status;
    /* constants and definitions: one element each, or a box of elements */
    for (size_t si = 0; si < cs->nsym && c->status == GP_OK; si++) {
        symbol *s = &cs->sym[si];
        if (s->kind == SYM_CONST)
            continue; /* allocated above */
        if (s->kind == SYM_LOSS || (s->kind == SYM_DEF && s->nidx == 0)) {
            if (!alloc_elements(&b, s, s->off, s->len))
                break;
            cs->elem[s->first].def = s->decl;
            continue;
        }
        if (s->kind != SYM_DEF)
            continue;
        int first = 1, ok = 1;
        for (size_t i = 0; ok && i < cs->syn.n; i++) {
            const stmt *st = &cs->syn.s[i];
            if (st->kind == S_DEF && st->items[0].len == strlen(s->name) &&
                memcmp(t + st->items[0].off, s->name, st->items[0].len) == 0 && st->items[0].nidx == s->nidx)
                ok = each_def_element(&b, st, s, widen_box, &first);
        }
        if (!ok || first) {
            s->count = 0;
            continue;
        }
        if (!alloc_elements(&b, s, s->off, s->len)) {
            s->count = 0;
            continue;
        }
        for (size_t i = 0; i < cs->syn.n; i++) {
            const stmt *st = &cs->syn.s[i];
            if (st->kind == S_DEF && st->items[0].len == strlen(s->name) &&
                memcmp(t + st->items[0].off, s->name, st->items[0].len) == 0 && st->items[0].nidx == s->nidx) {
                int reported = 0;
                each_def_element(&b, st, s, assign_def, &reported);
            }
        }
    }
    for (size_t si = 0; si < cs->nsym && c->status == GP_OK; si++) {
        mpq_srcptr q;
        if (cs->sym[si].kind == SYM_CONST)
            const_value(&b, (uint32_t)si, &q);
    }
    /* a definition statement whose for-variables are unused on the left is a mistake */
    for (size_t i = 0; i < cs->syn.n; i++) {
        const stmt *st = &cs->syn.s[i];
        if (st->kind == S_DEF && st->nfors && st->items[0].nidx == 0)
            err(&b, st->fors[0].off, st->fors[0].len, "'for' defines several elements, but '%.*s' has no index",
                (int)st->items[0].len, t + st->items[0].off);
    }
    if (c->status == GP_OK)
        order_and_build(&b);
    if (c->status == GP_OK && cs->over_limit)
        c->status = GP_ELIMIT; /* names without their elements: nothing more to build */
    if (c->status != GP_OK) {
        free(b.deps);
        return c->status;
    }
    if (cs->loss_sym != NOSYM && cs->sym[cs->loss_sym].count)
        cs->loss = cs->elem[cs->sym[cs->loss_sym].first].node;
    else if (!cs->syn.loss_failed) { /* a malformed loss line was reported already */
        /* point after the last character of the file, on a line that exists */
        size_t end = c->src[b.src].len;
        while (end > 0 && (t[end - 1] == '\n' || t[end - 1] == '\r' || t[end - 1] == ' ' || t[end - 1] == '\t'))
            end--;
        diag_error(c, b.src, end, 0, "the case has no loss: add a line 'loss C = expression'");
    }
    for (size_t i = 0; i < cs->syn.n && c->status == GP_OK; i++) {
        const stmt *st = &cs->syn.s[i];
        switch (st->kind) {
        case S_OUTPUT: outputs(&b, st); break;
        case S_CLAIM:
        case S_IDENT: claim_stmt(&b, st); break;
        case S_AT: point_stmt(&b, st); break;
        case S_DATA:
            if (cs->has_data) {
                err(&b, st->koff, st->klen, "a second data block (a case has at most one)");
                break;
            }
            cs->has_data = 1;
            if (st->slen)
                csv_data(&b, st);
            else
                inline_data(&b, st);
            break;
        default: break;
        }
    }
    free(b.deps);
    if (c->status != GP_OK)
        return c->status;
    return c->nerr > errs ? GP_EINPUT : GP_OK;
}

gp_id build_expr_in_case(gp_case *cs, int src, const ast *a)
{
    ctx_stack_mark(cs->c);
    bctx b;
    memset(&b, 0, sizeof b);
    b.cs = cs;
    b.src = src;
    b.claim = 1;
    gp_id id = build_side(&b, a);
    free(b.deps);
    return id;
}

void case_free(gp_case *cs)
{
    if (!cs)
        return;
    syntax_free(&cs->syn);
    free(cs->sym);
    free(cs->stab);
    free(cs->elem);
    free(cs->out);
    free(cs->params);
    free(cs->inputs);
    free(cs->defs);
    free(cs->claims);
    for (size_t i = 0; i < cs->npoints; i++) {
        for (size_t j = 0; j < cs->points[i].n; j++)
            mpq_clear(cs->points[i].val[j]);
        free(cs->points[i].leaf);
        free(cs->points[i].val);
    }
    free(cs->points);
    for (size_t i = 0; i < cs->nrows * cs->ncols; i++)
        mpq_clear(cs->dval[i]);
    free(cs->dval);
    free(cs->dcol);
    free(cs->dir);
    free(cs);
}

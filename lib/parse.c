/*
 * parse.c -- recursive descent over the case language (see docs/case-language.md).
 *
 * Grammar (statement level; a statement ends at a newline outside brackets):
 *   file    -> { [stmt] NL } EOF
 *   stmt    -> 'title' STR
 *            | ('input' | 'target' | 'param') decl { [','] decl }
 *            | 'const' NAME '=' expr  |  'loss' NAME '=' expr
 *            | 'output' decl { [','] decl }
 *            | 'claim' expr ('=' | '==') expr
 *            | 'data' STR  |  'data' NL { row NL } 'end'
 *            | 'at' decl '=' expr { ',' decl '=' expr }
 *            | NAME { '[' expr ']' } '=' expr [ 'for' NAME 'in' range { ',' NAME 'in' range } ]
 *   decl    -> NAME { '[' expr [ '..' expr ] ']' }
 * Expressions, loosest first (precedence decided here, once):
 *   expr    -> term { ('+' | '-') term }            n-ary A_ADD
 *   term    -> unary { ('*' | '/') unary }          n-ary A_MUL
 *   unary   -> ('-' | '+') unary | power            so -x^2 is -(x^2)
 *   power   -> primary [ '^' unary ]                right-assoc: a^b^c = a^(b^c); 2^-1 works
 *   primary -> NUM | '(' expr ')' | call | ref
 *   call    -> FN '(' expr ')' | 'mean' '(' expr ')' | 'sum' '(' expr ')'
 *            | 'sum' '(' NAME '=' expr '..' expr ',' expr ')'
 *   ref     -> NAME { '[' expr ']' }  [ '/' NAME { '[' expr ']' } ]   (the latter: dA/dB, claims only)
 * Each nesting production counts against max_depth, so a pathological input
 * is an error, not a stack overflow.  After an error the parser skips to the
 * next statement and goes on, so one run reports every broken line.
 */
#include "parse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "lex.h"
#include "simplify.h"

typedef struct parser {
    gp_ctx *c;
    lexer lx;
    token la[3];      /* lookahead ring */
    int nla;
    token prev;       /* the last token taken */
    token last;       /* the last token taken that is not a newline */
    unsigned depth;   /* current nesting */
    int in_claim;     /* dA/dB is a derivative reference */
    jmp_buf fail;     /* statement-level recovery point */
} parser;

static const char *const keywords[] = {
    "title", "input", "target", "param", "const", "loss", "output", "claim",
    "data", "end", "at", "for", "in", "sum", "mean", "sqrt", NULL,
};

int parse_fn_lookup(const char *s, size_t n)
{
    for (int f = 0; f < GP_FN_COUNT; f++) {
        const char *name = dag_fn_name((gp_fn)f);
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return f;
    }
    return -1;
}

int parse_is_keyword(const char *s, size_t n)
{
    for (int i = 0; keywords[i]; i++)
        if (strlen(keywords[i]) == n && memcmp(keywords[i], s, n) == 0)
            return 1;
    return parse_fn_lookup(s, n) >= 0;
}

/* ---- tokens ---- */

static token peek_at(parser *p, int k)
{
    while (p->nla <= k)
        p->la[p->nla++] = lex_next(&p->lx);
    return p->la[k];
}
static token peek(parser *p) { return peek_at(p, 0); }

static token advance(parser *p)
{
    token t = peek(p);
    memmove(p->la, p->la + 1, (size_t)(p->nla - 1) * sizeof *p->la);
    p->nla--;
    p->prev = t;
    if (t.kind != T_NL)
        p->last = t;
    return t;
}

static int tok_is(parser *p, token t, const char *word)
{
    return t.kind == T_NAME && strlen(word) == t.len && memcmp(p->lx.s + t.off, word, t.len) == 0;
}

static void fail_at(parser *p, token t, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void fail_at(parser *p, token t, const char *fmt, ...)
{
    if (t.kind != T_ERROR) {
        va_list ap;
        va_start(ap, fmt);
        buf b = BUF_INIT;
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        diag_error(p->c, p->lx.src, t.off, t.len ? t.len : 1, "%s", b.s ? b.s : "out of memory");
        buf_free(&b);
    }
    longjmp(p->fail, 1);
}

/* "'x'" or "end of line", into a fixed buffer: the callers longjmp */
typedef struct tokdesc {
    char s[64];
} tokdesc;

static tokdesc describe(parser *p, token t)
{
    tokdesc d;
    if (t.kind == T_NAME || t.kind == T_NUM || t.kind == T_STR)
        snprintf(d.s, sizeof d.s, "'%.*s'", (int)(t.len > 40 ? 40 : t.len), p->lx.s + t.off);
    else
        snprintf(d.s, sizeof d.s, "%s", lex_kind_str(t.kind));
    return d;
}

static void expected(parser *p, const char *what) __attribute__((noreturn));
static void expected(parser *p, const char *what)
{
    token t = peek(p);
    tokdesc d = describe(p, t);
    if (t.kind == T_EOF && p->last.len) {
        /* point just past the last token, on a line an editor shows */
        t.off = p->last.off + p->last.len;
    }
    if (t.kind == T_NL || t.kind == T_EOF)
        t.len = 1;
    fail_at(p, t, "expected %s, found %s", what, d.s);
}

static token expect(parser *p, tok_kind k, const char *what)
{
    if (peek(p).kind != k)
        expected(p, what);
    return advance(p);
}

/* expect a closing bracket, naming where it was opened */
static void expect_match(parser *p, tok_kind close, token open)
{
    if (peek(p).kind == close) {
        advance(p);
        return;
    }
    unsigned line, col;
    diag_linecol(p->c, p->lx.src, open.off, &line, &col);
    char what[64];
    snprintf(what, sizeof what, "'%c' to close '%c' at %u:%u", close == T_RP ? ')' : ']',
             close == T_RP ? '(' : '[', line, col);
    expected(p, what);
}

static void *alloc(parser *p, size_t n)
{
    void *q = arena_alloc(&p->c->mem, n);
    if (!q) {
        p->c->status = GP_ENOMEM;
        longjmp(p->fail, 2);
    }
    memset(q, 0, n);
    return q;
}

static ast *node(parser *p, ast_kind k, size_t off)
{
    ast *a = alloc(p, sizeof *a);
    a->kind = (uint8_t)k;
    a->off = off;
    a->num = GP_NIL;
    return a;
}

static void finish(parser *p, ast *a) { a->len = p->prev.off + p->prev.len - a->off; }

static void enter(parser *p, token at)
{
    if (++p->depth > p->c->lim.max_depth)
        fail_at(p, at, "expression nested deeper than the limit of %u levels (raise it with --max-depth)",
                p->c->lim.max_depth);
    if (!ctx_stack_ok(p->c))
        fail_at(p, at, "expression nested too deeply for the stack (%u levels); raise the stack limit (ulimit -s) or simplify",
                p->depth);
}

/* ---- numbers ---- */

int parse_number(mpq_t out, const char *s, size_t n)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    mpz_t num, den;
    mpz_init_set_ui(num, 0);
    mpz_init_set_ui(den, 1);
    int ok = 1;
    /* the digits before and after the point, read as one integer by GMP
       (subquadratic: a million digits take milliseconds); den = 10^frac */
    size_t i0 = i, nint = 0, nfrac = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, nint++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, nfrac++;
    }
    size_t digits = nint + nfrac;
    if (digits) {
        char *d = malloc(digits + 1);
        if (!d) {
            mpz_clear(num);
            mpz_clear(den);
            return -1;
        }
        memcpy(d, s + i0, nint);
        if (nfrac)
            memcpy(d + nint, s + i0 + nint + 1, nfrac); /* past the point */
        d[digits] = '\0';
        mpz_set_str(num, d, 10);
        free(d);
        mpz_ui_pow_ui(den, 10, (unsigned long)nfrac);
    }
    if (!digits)
        ok = 0;
    if (ok && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        long e = 0;
        int ed = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        if (!ed || e > 9999) /* exact, but an exponent past 9999 is surely a mistake */
            ok = 0;
        else {
            mpz_t t;
            mpz_init(t);
            mpz_ui_pow_ui(t, 10, (unsigned long)e);
            if (eneg)
                mpz_mul(den, den, t);
            else
                mpz_mul(num, num, t);
            mpz_clear(t);
        }
    }
    if (i != n)
        ok = 0;
    if (ok) {
        if (neg)
            mpz_neg(num, num);
        mpq_set_num(out, num);
        mpq_set_den(out, den);
        mpq_canonicalize(out);
    }
    mpz_clear(num);
    mpz_clear(den);
    return ok;
}

/* ---- expressions ---- */

static ast *expr(parser *p);
static ast *unary(parser *p);

/* '[' expr ']' ... appended to a name node */
static void indices(parser *p, ast *a)
{
    ast *idx[GP_MAX_INDEX];
    uint32_t n = 0;
    while (peek(p).kind == T_LB) {
        token open = advance(p);
        if (n == GP_MAX_INDEX)
            fail_at(p, open, "too many indices (at most %d)", GP_MAX_INDEX);
        idx[n++] = expr(p);
        if (peek(p).kind == T_DOTDOT)
            fail_at(p, peek(p), "a range 'lo..hi' is allowed only in declarations and 'for'");
        expect_match(p, T_RB, open);
    }
    if (n) {
        a->kid = alloc(p, n * sizeof *a->kid);
        memcpy(a->kid, idx, n * sizeof *idx);
    }
    a->n = n;
}

static ast *name_ref(parser *p, token t)
{
    ast *a = node(p, A_NAME, t.off);
    a->noff = t.off;
    a->nlen = t.len;
    indices(p, a);
    finish(p, a);
    return a;
}

static int starts_d(parser *p, token t) { return t.kind == T_NAME && t.len >= 2 && p->lx.s[t.off] == 'd'; }

static ast *call(parser *p, token name)
{
    token open = advance(p); /* '(' */
    ast *a;
    if (tok_is(p, name, "sum") && peek(p).kind == T_NAME && peek_at(p, 1).kind == T_EQ) {
        /* index sum: sum(j = lo..hi, body) */
        a = node(p, A_ISUM, name.off);
        token v = advance(p);
        if (parse_is_keyword(p->lx.s + v.off, v.len))
            fail_at(p, v, "'%.*s' is a reserved word and cannot be an index variable", (int)v.len, p->lx.s + v.off);
        a->noff = v.off;
        a->nlen = v.len;
        advance(p); /* '=' */
        a->kid = alloc(p, 3 * sizeof *a->kid);
        a->kid[0] = expr(p);
        expect(p, T_DOTDOT, "'..' in the index range 'lo..hi'");
        a->kid[1] = expr(p);
        expect(p, T_COMMA, "',' after the index range of sum(j = lo..hi, ...)");
        a->kid[2] = expr(p);
        expect_match(p, T_RP, open);
        finish(p, a);
        return a;
    }
    int fn = parse_fn_lookup(p->lx.s + name.off, name.len);
    int red = tok_is(p, name, "mean") || tok_is(p, name, "sum");
    int sq = tok_is(p, name, "sqrt");
    if (fn < 0 && !red && !sq) {
        /* suggest the nearest function name */
        const char *best = NULL;
        unsigned bd = 3;
        static const char *const extra[] = {"sqrt", "mean", "sum"};
        for (int f = 0; f < GP_FN_COUNT + 3; f++) {
            const char *cand = f < GP_FN_COUNT ? dag_fn_name((gp_fn)f) : extra[f - GP_FN_COUNT];
            unsigned d = diag_edit_distance(p->lx.s + name.off, name.len, cand, strlen(cand), 2);
            if (d < bd) {
                bd = d;
                best = cand;
            }
        }
        if (best)
            fail_at(p, name, "unknown function '%.*s' (did you mean '%s'?)", (int)name.len, p->lx.s + name.off, best);
        fail_at(p, name, "unknown function '%.*s'", (int)name.len, p->lx.s + name.off);
    }
    ast *arg = expr(p);
    if (peek(p).kind == T_COMMA)
        fail_at(p, peek(p), "'%.*s' takes one argument%s", (int)name.len, p->lx.s + name.off,
                tok_is(p, name, "sum") ? " (an index sum is written sum(j = 1..n, expr))" : "");
    expect_match(p, T_RP, open);
    if (sq) {
        a = node(p, A_POW, name.off);
        a->kid = alloc(p, 2 * sizeof *a->kid);
        a->kid[0] = arg;
        a->kid[1] = node(p, A_NUM, name.off);
        a->kid[1]->num = dag_num_si(p->c, 1, 2);
        a->kid[1]->len = name.len;
    } else if (red) {
        a = node(p, A_RED, name.off);
        a->fn = tok_is(p, name, "mean") ? GP_OP_MEAN : GP_OP_SUMS;
        a->kid = alloc(p, sizeof *a->kid);
        a->kid[0] = arg;
    } else {
        a = node(p, A_CALL, name.off);
        a->fn = (uint8_t)fn;
        a->kid = alloc(p, sizeof *a->kid);
        a->kid[0] = arg;
    }
    finish(p, a);
    return a;
}

/* primary -> NUM | '(' expr ')' | call | ref */
static ast *primary(parser *p)
{
    token t = peek(p);
    switch (t.kind) {
    case T_NUM: {
        advance(p);
        ast *a = node(p, A_NUM, t.off);
        mpq_t q;
        mpq_init(q);
        int ok = parse_number(q, p->lx.s + t.off, t.len);
        if (ok > 0)
            a->num = dag_num(p->c, q);
        mpq_clear(q);
        if (ok < 0)
            p->c->status = GP_ENOMEM;
        else if (!ok)
            fail_at(p, t, "malformed number '%.*s' (exponents are limited to 9999)", (int)t.len, p->lx.s + t.off);
        finish(p, a);
        return a;
    }
    case T_LP: {
        token open = advance(p);
        enter(p, open);
        ast *a = expr(p);
        p->depth--;
        expect_match(p, T_RP, open);
        return a;
    }
    case T_NAME: {
        advance(p);
        if (peek(p).kind == T_LP) {
            enter(p, t);
            ast *a = call(p, t);
            p->depth--;
            return a;
        }
        const char *s = p->lx.s + t.off;
        if (parse_fn_lookup(s, t.len) >= 0 || tok_is(p, t, "sqrt"))
            fail_at(p, t, "'%.*s' is a function: write %.*s(...)", (int)t.len, s, (int)t.len, s);
        if (tok_is(p, t, "mean") || tok_is(p, t, "sum"))
            fail_at(p, t, "'%.*s' needs parentheses: %.*s(expr)", (int)t.len, s, (int)t.len, s);
        if (parse_is_keyword(s, t.len))
            fail_at(p, t, "'%.*s' is a reserved word, not a value", (int)t.len, s);
        ast *a = name_ref(p, t);
        if (starts_d(p, t) && peek(p).kind == T_SLASH && starts_d(p, peek_at(p, 1))) {
            /* dA/dB: a derivative reference */
            advance(p);
            token b = advance(p);
            ast *d = node(p, A_DERIV, t.off);
            d->kid = alloc(p, 2 * sizeof *d->kid);
            a->noff++;
            a->nlen--;
            d->kid[0] = a;
            d->kid[1] = name_ref(p, b);
            d->kid[1]->noff++;
            d->kid[1]->nlen--;
            finish(p, d);
            return d;
        }
        return a;
    }
    default:
        expected(p, "a number, a name or '('");
    }
}

/* power -> primary [ '^' unary ] */
static ast *power(parser *p)
{
    size_t off = peek(p).off;
    ast *base = primary(p);
    if (peek(p).kind != T_CARET)
        return base;
    token op = advance(p);
    enter(p, op);
    ast *a = node(p, A_POW, off);
    a->kid = alloc(p, 2 * sizeof *a->kid);
    a->kid[0] = base;
    a->kid[1] = unary(p);
    p->depth--;
    finish(p, a);
    return a;
}

/* unary -> ('-' | '+') unary | power */
static ast *unary(parser *p)
{
    token t = peek(p);
    if (t.kind != T_MINUS && t.kind != T_PLUS)
        return power(p);
    advance(p);
    enter(p, t);
    ast *inner = unary(p);
    p->depth--;
    if (t.kind == T_PLUS)
        return inner;
    ast *a = node(p, A_NEG, t.off);
    a->kid = alloc(p, sizeof *a->kid);
    a->kid[0] = inner;
    finish(p, a);
    return a;
}

/* the n-ary chains: term -> unary {('*'|'/') unary}, expr -> term {('+'|'-') term}.
   The operand arrays grow in the arena (a recovery longjmp then leaks
   nothing); the abandoned smaller copies cost at most as much again. */
static ast *chain(parser *p, ast_kind k, tok_kind plain, tok_kind inverse, ast *(*sub)(parser *))
{
    size_t off = peek(p).off;
    ast *first = sub(p);
    if (peek(p).kind != plain && peek(p).kind != inverse)
        return first;
    size_t n = 1, cap = 8;
    ast **kid = alloc(p, cap * sizeof *kid);
    uint8_t *inv = alloc(p, cap);
    kid[0] = first;
    while (peek(p).kind == plain || peek(p).kind == inverse) {
        int is_inv = advance(p).kind == inverse;
        ast *next = sub(p);
        if (n == cap) {
            ast **k2 = alloc(p, 2 * cap * sizeof *kid);
            uint8_t *i2 = alloc(p, 2 * cap);
            memcpy(k2, kid, n * sizeof *kid);
            memcpy(i2, inv, n);
            kid = k2;
            inv = i2;
            cap *= 2;
        }
        kid[n] = next;
        inv[n++] = (uint8_t)is_inv;
    }
    ast *a = node(p, k, off);
    a->n = (uint32_t)n;
    a->kid = kid;
    a->inv = inv;
    finish(p, a);
    return a;
}

static ast *term(parser *p) { return chain(p, A_MUL, T_STAR, T_SLASH, unary); }
static ast *expr(parser *p) { return chain(p, A_ADD, T_PLUS, T_MINUS, term); }

/* ---- statements ---- */

static void end_of_statement(parser *p)
{
    token t = peek(p);
    if (t.kind == T_NL || t.kind == T_EOF)
        return;
    fail_at(p, t, "expected end of line, found %s", describe(p, t).s);
}

static token name_tok(parser *p, const char *what)
{
    token t = peek(p);
    if (t.kind != T_NAME)
        expected(p, what);
    if (parse_is_keyword(p->lx.s + t.off, t.len))
        fail_at(p, t, "'%.*s' is a reserved word and cannot be used as a name", (int)t.len, p->lx.s + t.off);
    return advance(p);
}

/* decl -> NAME { '[' expr [ '..' expr ] ']' } */
static void decl(parser *p, declname *d, int ranges)
{
    token t = name_tok(p, "a name");
    memset(d, 0, sizeof *d);
    d->off = t.off;
    d->len = t.len;
    while (peek(p).kind == T_LB) {
        token open = advance(p);
        if (d->nidx == GP_MAX_INDEX)
            fail_at(p, open, "too many indices (at most %d)", GP_MAX_INDEX);
        d->lo[d->nidx] = expr(p);
        if (peek(p).kind == T_DOTDOT) {
            token dd = advance(p);
            if (!ranges)
                fail_at(p, dd, "a range 'lo..hi' is not allowed here");
            d->hi[d->nidx] = expr(p);
        }
        d->nidx++;
        expect_match(p, T_RB, open);
    }
    d->eoff = p->prev.off + p->prev.len;
}

static void push_item(parser *p, stmt *s, const declname *d, uint32_t *cap)
{
    if (s->nitems == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 4;
        declname *items = alloc(p, nc * sizeof *items);
        if (s->nitems)
            memcpy(items, s->items, s->nitems * sizeof *items);
        s->items = items;
        *cap = nc;
    }
    s->items[s->nitems++] = *d;
}

static void decl_list(parser *p, stmt *s, int ranges)
{
    uint32_t cap = 0;
    declname d;
    if (peek(p).kind != T_NAME)
        expected(p, "a name to declare");
    while (peek(p).kind == T_NAME) {
        token t = peek(p);
        if (parse_is_keyword(p->lx.s + t.off, t.len)) {
            /* report it and go on with the other names of the line */
            diag_error(p->c, p->lx.src, t.off, t.len, "'%.*s' is a reserved word and cannot be used as a name", (int)t.len,
                       p->lx.s + t.off);
            advance(p);
            continue;
        }
        decl(p, &d, ranges);
        push_item(p, s, &d, &cap);
        if (peek(p).kind == T_COMMA)
            advance(p);
    }
    end_of_statement(p);
}


/* nan, inf, infinity in any case: what other tools write for a value that
   is not a finite number */
static int nonfinite_word(const char *s, size_t n)
{
    static const char *const w[] = {"nan", "inf", "infinity"};
    for (size_t k = 0; k < sizeof w / sizeof w[0]; k++)
        if (n == strlen(w[k]) && strncasecmp(s, w[k], n) == 0)
            return 1;
    return 0;
}

/* A data cell that names a value that is not a finite number: its row (from
   1) and column k of the header */
static void nonfinite_cell(parser *p, const stmt *s, size_t off, size_t len, size_t row, size_t k)
{
    if (k < s->nitems)
        diag_error(p->c, p->lx.src, off, len, "'%.*s' in row %zu, column '%.*s', is not a finite number", (int)len,
                   p->lx.s + off, row, (int)s->items[k].len, p->lx.s + s->items[k].off);
    else
        diag_error(p->c, p->lx.src, off, len, "'%.*s' in row %zu is not a finite number", (int)len, p->lx.s + off, row);
}

static void data_block(parser *p, stmt *s, token kw)
{
    if (peek(p).kind == T_STR) {
        token t = advance(p);
        s->soff = t.off;
        s->slen = t.len;
        end_of_statement(p);
        return;
    }
    if (peek(p).kind != T_NL)
        expected(p, "a file name in quotes, or the end of the line and then the data rows");
    advance(p);
    while (peek(p).kind == T_NL)
        advance(p);
    /* header row */
    uint32_t cap = 0;
    if (peek(p).kind != T_NAME || tok_is(p, peek(p), "end"))
        expected(p, "a header row naming the inputs and targets");
    while (peek(p).kind == T_NAME) {
        declname d;
        decl(p, &d, 0);
        push_item(p, s, &d, &cap);
        if (peek(p).kind == T_COMMA)
            advance(p);
    }
    if (peek(p).kind != T_NL)
        expected(p, "a name or the end of the header row");
    size_t ncell = 0, capcell = 0, caprow = 0, rowno = 0;
    for (;;) {
        while (peek(p).kind == T_NL)
            advance(p);
        token t = peek(p);
        if (t.kind == T_EOF) {
            unsigned line, col;
            diag_linecol(p->c, p->lx.src, kw.off, &line, &col);
            char what[64];
            snprintf(what, sizeof what, "'end' to close the data block opened at %u:%u", line, col);
            expected(p, what);
        }
        if (tok_is(p, t, "end")) {
            advance(p);
            end_of_statement(p);
            break;
        }
        if (!ctx_grow((void **)&s->rowoff, &caprow, s->nrows + 1, sizeof *s->rowoff)) {
            p->c->status = GP_ENOMEM;
            longjmp(p->fail, 2);
        }
        s->rowoff[s->nrows++] = t.off;
        rowno++; /* rows with a bad cell included, for messages */
        size_t row_start = ncell;
        int row_bad = 0;
        while (peek(p).kind != T_NL && peek(p).kind != T_EOF) {
            token a = advance(p);
            datacell cell = {a.off, a.len};
            if (a.kind == T_MINUS || a.kind == T_PLUS) {
                token b = peek(p);
                if (b.kind != T_NUM || b.off != a.off + 1) {
                    if (!row_bad) {
                        if (b.kind == T_NUM)
                            diag_error(p->c, p->lx.src, a.off, 1, "a sign must touch its number: write '%c%.*s'",
                                       p->lx.s[a.off], (int)b.len, p->lx.s + b.off);
                        else if (nonfinite_word(p->lx.s + b.off, b.len) && b.off == a.off + 1)
                            nonfinite_cell(p, s, a.off, b.off + b.len - a.off, rowno, ncell - row_start);
                        else
                            diag_error(p->c, p->lx.src, a.off, 1, "expected a number after the sign, found %s",
                                       describe(p, b).s);
                    }
                    row_bad = 1;
                    continue;
                }
                advance(p);
                cell.len = b.off + b.len - a.off;
            } else if (a.kind != T_NUM) {
                /* report the first bad cell of the row and go on with the next row */
                if (!row_bad && a.kind != T_ERROR && nonfinite_word(p->lx.s + a.off, a.len))
                    nonfinite_cell(p, s, a.off, a.len, rowno, ncell - row_start);
                else if (!row_bad && a.kind != T_ERROR)
                    diag_error(p->c, p->lx.src, a.off, a.len, "expected a number in the data row, found %s",
                               describe(p, a).s);
                row_bad = 1;
                continue;
            }
            if (!ctx_grow((void **)&s->cells, &capcell, ncell + 1, sizeof *s->cells)) {
                p->c->status = GP_ENOMEM;
                longjmp(p->fail, 2);
            }
            s->cells[ncell++] = cell;
            if (peek(p).kind == T_COMMA)
                advance(p);
        }
        if (row_bad) {
            ncell = row_start; /* drop the row */
            s->nrows--;
            continue;
        }
        size_t got = ncell - row_start;
        if (got != s->nitems) {
            diag_error(p->c, p->lx.src, s->rowoff[s->nrows - 1], 1, "data row has %zu value%s but the header names %u column%s",
                       got, got == 1 ? "" : "s", s->nitems, s->nitems == 1 ? "" : "s");
            ncell = row_start;
            s->nrows--;
        }
    }
}

static void statement(parser *p, stmt *s)
{
    token t = peek(p);
    s->off = t.off;
    s->koff = t.off;
    s->klen = t.len;
    if (t.kind != T_NAME)
        fail_at(p, t, "expected a statement (a declaration, a definition 'name = expr', 'loss', 'claim', ...), found %s",
                describe(p, t).s);
    if (tok_is(p, t, "title")) {
        advance(p);
        s->kind = S_TITLE;
        token str = expect(p, T_STR, "a title in double quotes");
        s->soff = str.off;
        s->slen = str.len;
        end_of_statement(p);
    } else if (tok_is(p, t, "input") || tok_is(p, t, "target") || tok_is(p, t, "param")) {
        advance(p);
        s->kind = tok_is(p, t, "input") ? S_INPUT : tok_is(p, t, "target") ? S_TARGET : S_PARAM;
        decl_list(p, s, 1);
    } else if (tok_is(p, t, "output")) {
        advance(p);
        s->kind = S_OUTPUT;
        decl_list(p, s, 1);
    } else if (tok_is(p, t, "const") || tok_is(p, t, "loss")) {
        advance(p);
        s->kind = tok_is(p, t, "const") ? S_CONST : S_LOSS;
        declname d;
        token nt = name_tok(p, s->kind == S_CONST ? "the constant's name" : "the loss's name");
        memset(&d, 0, sizeof d);
        d.off = nt.off;
        d.len = nt.len;
        d.eoff = nt.off + nt.len;
        uint32_t cap = 0;
        push_item(p, s, &d, &cap);
        if (peek(p).kind == T_LB)
            fail_at(p, peek(p), "%s cannot be indexed", s->kind == S_CONST ? "a constant" : "the loss");
        expect(p, T_EQ, "'='");
        s->rhs = expr(p);
        end_of_statement(p);
    } else if (tok_is(p, t, "claim")) {
        advance(p);
        p->in_claim = 1;
        s->lhs = expr(p);
        token op = peek(p);
        if (op.kind == T_EQ) {
            s->kind = S_CLAIM;
            if (s->lhs->kind != A_DERIV)
                fail_at(p, op, "a claim 'lhs = rhs' needs a derivative such as dC/dw on the left; compare two expressions with '=='");
        } else if (op.kind == T_EQEQ) {
            s->kind = S_IDENT;
        } else {
            expected(p, "'=' (after a derivative dC/dw) or '==' (between two expressions)");
        }
        advance(p);
        s->rhs = expr(p);
        p->in_claim = 0;
        end_of_statement(p);
    } else if (tok_is(p, t, "data")) {
        advance(p);
        s->kind = S_DATA;
        data_block(p, s, t);
    } else if (tok_is(p, t, "at")) {
        advance(p);
        s->kind = S_AT;
        uint32_t cap = 0, capv = 0;
        for (;;) {
            declname d;
            decl(p, &d, 0);
            push_item(p, s, &d, &cap);
            expect(p, T_EQ, "'=' after the param's name");
            if (s->nitems > capv) {
                uint32_t nc = capv ? capv * 2 : 4;
                ast **v = alloc(p, nc * sizeof *v);
                if (capv)
                    memcpy(v, s->atval, capv * sizeof *v);
                s->atval = v;
                capv = nc;
            }
            s->atval[s->nitems - 1] = expr(p);
            if (peek(p).kind != T_COMMA)
                break;
            advance(p);
        }
        end_of_statement(p);
    } else if (tok_is(p, t, "end")) {
        fail_at(p, t, "'end' without a data block to close");
    } else if (tok_is(p, t, "for") || tok_is(p, t, "in")) {
        fail_at(p, t, "'%.*s' is a reserved word and cannot start a statement", (int)t.len, p->lx.s + t.off);
    } else {
        /* a definition: NAME { '[' expr ']' } '=' expr [for ...] */
        token la = peek_at(p, 1);
        if (la.kind != T_EQ && la.kind != T_LB) {
            if (la.kind == T_NAME || la.kind == T_STR)
                fail_at(p, t, "unknown statement '%.*s' (expected a keyword such as param or loss, or a definition 'name = expr')",
                        (int)t.len, p->lx.s + t.off);
            fail_at(p, la, "expected '=' after '%.*s' in a definition, found %s", (int)t.len, p->lx.s + t.off,
                    describe(p, la).s);
        }
        s->kind = S_DEF;
        declname d;
        decl(p, &d, 0);
        uint32_t cap = 0;
        push_item(p, s, &d, &cap);
        expect(p, T_EQ, "'=' in the definition");
        s->rhs = expr(p);
        if (tok_is(p, peek(p), "for")) {
            advance(p);
            uint32_t capf = 0;
            for (;;) {
                token v = name_tok(p, "an index variable after 'for'");
                if (!tok_is(p, peek(p), "in"))
                    expected(p, "'in' after the index variable");
                advance(p);
                if (s->nfors == capf) {
                    uint32_t nc = capf ? capf * 2 : 4;
                    forvar *f = alloc(p, nc * sizeof *f);
                    if (capf)
                        memcpy(f, s->fors, capf * sizeof *f);
                    s->fors = f;
                    capf = nc;
                }
                forvar *f = &s->fors[s->nfors++];
                f->off = v.off;
                f->len = v.len;
                f->lo = expr(p);
                expect(p, T_DOTDOT, "'..' in the range 'lo..hi'");
                f->hi = expr(p);
                if (peek(p).kind != T_COMMA)
                    break;
                advance(p);
            }
        }
        end_of_statement(p);
    }
    s->len = p->prev.off + p->prev.len - s->off;
}

static void skip_statement(parser *p)
{
    /* the lookahead was lexed inside brackets, where newlines do not end a
       statement: go back to the first unread token and lex again at depth 0 */
    if (p->nla) {
        p->lx.quiet_until = p->lx.pos;
        p->lx.pos = p->la[0].off;
        p->nla = 0;
    }
    p->lx.depth = 0;
    while (peek(p).kind != T_NL && peek(p).kind != T_EOF)
        advance(p);
}

gp_status parse_case(gp_ctx *c, int src, syntax *out)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.c = c;
    lex_init(&p.lx, c, src);
    memset(out, 0, sizeof *out);
    size_t errs = c->nerr;
    for (;;) {
        while (peek(&p).kind == T_NL)
            advance(&p);
        if (peek(&p).kind == T_EOF)
            break;
        if (!ctx_grow((void **)&out->s, &out->cap, out->n + 1, sizeof *out->s))
            return GP_ENOMEM;
        stmt *s = &out->s[out->n];
        memset(s, 0, sizeof *s);
        p.depth = 0;
        p.in_claim = 0;
        int r = setjmp(p.fail);
        if (r == 0) {
            statement(&p, s);
            out->n++;
        } else {
            if (s->kind == S_LOSS || (s->klen == 4 && !memcmp(p.lx.s + s->koff, "loss", 4)))
                out->loss_failed = 1; /* no "the case has no loss" on top of this error */
            free(s->cells);
            free(s->rowoff);
            if (r == 2 || c->status != GP_OK)
                return c->status != GP_OK ? c->status : GP_ENOMEM;
            skip_statement(&p);
        }
    }
    return c->nerr > errs ? GP_EINPUT : GP_OK;
}

gp_status parse_expr_source(gp_ctx *c, int src, ast **out)
{
    ctx_stack_mark(c);
    parser p;
    memset(&p, 0, sizeof p);
    p.c = c;
    lex_init(&p.lx, c, src);
    p.in_claim = 1;
    *out = NULL;
    int r = setjmp(p.fail);
    if (r == 0) {
        *out = expr(&p);
        if (peek(&p).kind != T_EOF && peek(&p).kind != T_NL)
            expected(&p, "the end of the expression");
        return GP_OK;
    }
    return c->status != GP_OK ? c->status : GP_EINPUT;
}

void syntax_free(syntax *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->s[i].cells);
        free(s->s[i].rowoff);
    }
    free(s->s);
    memset(s, 0, sizeof *s);
}

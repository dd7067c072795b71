/*
 * diag.c -- diagnostics: record errors with byte spans, render them with
 * file:line:column, the source line and a caret underline.
 *
 * Messages follow one style: lower-case, no trailing period, the offending
 * token quoted.  Positions stay byte offsets until rendering, because a
 * column counts code points (Unicode names and subscripts in comments must
 * not shift the caret).
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctx.h"

int ctx_grow(void **pp, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 1;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / sz)
            return 0;
        n *= 2;
    }
    void *p = realloc(*pp, n * sz);
    if (!p)
        return 0;
    *pp = p;
    *cap = n;
    return 1;
}

int diag_add_source(gp_ctx *c, const char *name, const char *text, size_t len)
{
    size_t cap = (size_t)c->capsrc;
    if (!ctx_grow((void **)&c->src, &cap, (size_t)c->nsrc + 1, sizeof *c->src))
        return -1;
    c->capsrc = (int)cap;
    gp_source *s = &c->src[c->nsrc];
    s->name = arena_strndup(&c->mem, name, strlen(name));
    s->text = arena_strndup(&c->mem, text, len);
    s->len = len;
    if (!s->name || !s->text)
        return -1;
    return c->nsrc++;
}

static void vadd(gp_ctx *c, gp_severity sev, int src, size_t off, size_t len,
                 const char *fmt, va_list ap)
{
    /* a flood of errors helps nobody: keep the first 100 */
    if (c->ndiag >= 100)
        return;
    if (!ctx_grow((void **)&c->diag, &c->capdiag, c->ndiag + 1, sizeof *c->diag))
        return;
    buf b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    char *m = b.s ? arena_strndup(&c->mem, b.s, b.n) : NULL;
    buf_free(&b);
    if (!m)
        return;
    gp_diag *d = &c->diag[c->ndiag++];
    d->sev = sev;
    d->src = src;
    d->off = off;
    d->len = len;
    d->msg = m;
    d->line = d->col = d->ecol = 0;
    if (src >= 0 && src < c->nsrc) {
        if (d->off > c->src[src].len)
            d->off = c->src[src].len;
        diag_linecol(c, src, d->off, &d->line, &d->col);
        unsigned l2, c2;
        size_t end = d->off + (len ? len : 1);
        if (end > c->src[src].len)
            end = c->src[src].len;
        diag_linecol(c, src, end, &l2, &c2);
        d->ecol = (l2 == d->line && c2 > d->col) ? c2 : d->col + 1;
    }
    if (sev == GP_SEV_ERROR)
        c->nerr++;
}

void diag_error(gp_ctx *c, int src, size_t off, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(c, GP_SEV_ERROR, src, off, len, fmt, ap);
    va_end(ap);
}

void diag_note(gp_ctx *c, int src, size_t off, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(c, GP_SEV_NOTE, src, off, len, fmt, ap);
    va_end(ap);
}

void gp_diag_add(gp_ctx *c, gp_severity sev, const char *message)
{
    diag_note(c, -1, 0, 0, "%s", message);
    c->diag[c->ndiag - 1].sev = sev;
    if (sev == GP_SEV_ERROR)
        c->nerr++;
}

size_t diag_errors(const gp_ctx *c) { return c->nerr; }

void diag_linecol(const gp_ctx *c, int src, size_t off, unsigned *line, unsigned *col)
{
    const char *t = c->src[src].text;
    unsigned l = 1, k = 1;
    for (size_t i = 0; i < off && t[i]; i++) {
        if (t[i] == '\n') {
            l++;
            k = 1;
        } else if (((unsigned char)t[i] & 0xC0) != 0x80) {
            k++; /* count code points: skip UTF-8 continuation bytes */
        }
    }
    *line = l;
    *col = k;
}

unsigned diag_edit_distance(const char *a, size_t na, const char *b, size_t nb, unsigned cap)
{
    if (na > 64 || nb > 64)
        return cap + 1;
    unsigned row[65];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        unsigned prev = row[0], best;
        row[0] = (unsigned)i;
        best = row[0];
        for (size_t j = 1; j <= nb; j++) {
            unsigned cur = row[j];
            unsigned sub = prev + (a[i - 1] != b[j - 1]);
            unsigned del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
            if (row[j] < best)
                best = row[j];
        }
        if (best > cap)
            return cap + 1;
    }
    return row[nb];
}

size_t gp_diag_count(const gp_ctx *c) { return c ? c->ndiag : 0; }

void gp_diag_get(const gp_ctx *c, size_t i, gp_diag_info *out)
{
    const gp_diag *d = &c->diag[i];
    out->severity = d->sev;
    out->file = d->src >= 0 ? c->src[d->src].name : NULL;
    out->line = d->line;
    out->column = d->col;
    out->end_column = d->ecol;
    out->message = d->msg;
}

static const char *sevname(gp_severity s)
{
    return s == GP_SEV_ERROR ? "error" : s == GP_SEV_WARNING ? "warning" : "note";
}

gp_status gp_diag_render(const gp_ctx *c, size_t i, char **out)
{
    const gp_diag *d = &c->diag[i];
    buf b = BUF_INIT;
    if (d->src < 0) {
        buf_printf(&b, "%s: %s\n", sevname(d->sev), d->msg);
    } else {
        const gp_source *s = &c->src[d->src];
        buf_printf(&b, "%s:%u:%u: %s: %s\n", s->name, d->line, d->col, sevname(d->sev), d->msg);
        /* quote the line, tabs kept so that the caret lines up under them;
           a long line is shown as a window around the fault */
        size_t a = d->off;
        while (a > 0 && s->text[a - 1] != '\n')
            a--;
        size_t e = a;
        while (e < s->len && s->text[e] != '\n' && s->text[e] != '\r')
            e++;
        unsigned col = d->col, ecol = d->ecol;
        const unsigned before = 60, after = 60;
        int cut_left = 0, cut_right = 0;
        if (col > before + 1) {
            /* skip col - before - 1 code points */
            unsigned skip = col - before - 1, k = 0;
            while (a < e && k < skip) {
                a++;
                while (a < e && ((unsigned char)s->text[a] & 0xC0) == 0x80)
                    a++;
                k++;
            }
            col -= skip;
            ecol -= skip;
            cut_left = 1;
        }
        {
            /* end the window `after` code points past the underline */
            size_t p = a;
            unsigned k = 1;
            while (p < e && k < ecol + after) {
                p++;
                while (p < e && ((unsigned char)s->text[p] & 0xC0) == 0x80)
                    p++;
                k++;
            }
            if (p < e) {
                e = p;
                cut_right = 1;
            }
        }
        buf_puts(&b, cut_left ? "  ..." : "  ");
        for (size_t p = a; p < e; p++) {
            unsigned char ch = (unsigned char)s->text[p];
            if (ch < 0x20 && ch != '\t') {
                /* a control character shows as its picture (␀ for NUL), one column wide */
                char pic[4] = {(char)0xE2, (char)0x90, (char)(0x80 + ch), 0};
                buf_puts(&b, pic);
            } else if (ch == 0x7F) {
                buf_puts(&b, "\xE2\x90\xA1");
            } else if (ch == 0xC2 && p + 1 < e && (unsigned char)s->text[p + 1] < 0xA0 &&
                       (unsigned char)s->text[p + 1] >= 0x80) {
                buf_puts(&b, "\xEF\xBF\xBD"); /* a C1 control: the replacement character */
                p++;
            } else {
                buf_putc(&b, (char)ch);
            }
        }
        buf_puts(&b, cut_right ? "...\n  " : "\n  ");
        if (cut_left)
            buf_puts(&b, "   ");
        unsigned k = 1;
        for (size_t p = a; p < e && k < col; p++) {
            if (((unsigned char)s->text[p] & 0xC0) == 0x80)
                continue;
            buf_putc(&b, s->text[p] == '\t' ? '\t' : ' ');
            k++;
        }
        unsigned w = ecol > col ? ecol - col : 1;
        if (w > before + after)
            w = before + after;
        for (unsigned j = 0; j < w; j++)
            buf_putc(&b, '^');
        buf_putc(&b, '\n');
    }
    *out = buf_take(&b);
    return *out ? GP_OK : GP_ENOMEM;
}

/*
 * buf.c -- growable strings.  An allocation failure makes the buffer sticky
 * (b->oom) instead of failing every call site; the renderer checks once at the
 * end and reports GP_ENOMEM.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_free(buf *b)
{
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
    b->oom = 0;
}

void buf_free_into(buf *owner, buf *tmp)
{
    if (tmp->oom)
        owner->oom = 1;
    buf_free(tmp);
}

static int reserve(buf *b, size_t extra)
{
    if (b->oom)
        return 0;
    if (b->n + extra + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return 0;
    }
    b->s = s;
    b->cap = cap;
    return 1;
}

void buf_putn(buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void buf_puts(buf *b, const char *s) { buf_putn(b, s, strlen(s)); }
void buf_putc(buf *b, char ch) { buf_putn(b, &ch, 1); }

void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    b->n += (size_t)n;
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *buf_take(buf *b)
{
    if (b->oom) {
        buf_free(b);
        return NULL;
    }
    char *s = b->s;
    if (!s) {
        s = malloc(1);
        if (s)
            *s = '\0';
    }
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
}

void buf_json_str(buf *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\t': buf_puts(b, "\\t"); break;
        case '\r': buf_puts(b, "\\r"); break;
        default:
            if (*p < 0x20)
                buf_printf(b, "\\u%04x", *p);
            else
                buf_putc(b, (char)*p);
        }
    }
    buf_putc(b, '"');
}

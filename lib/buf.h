/* buf.h -- growable byte strings for renderers and messages. */
#ifndef GP_BUF_H
#define GP_BUF_H
#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *s;    /* NUL-terminated contents, or NULL while empty */
    size_t n;   /* length, without the NUL */
    size_t cap; /* allocated bytes */
    int oom;    /* sticky: an allocation failed, contents are truncated */
} buf;

#define BUF_INIT {NULL, 0, 0, 0}
void buf_free(buf *b);
/* Free tmp, a scratch buffer whose contents went into owner: an allocation
   that failed in tmp marks owner too. */
void buf_free_into(buf *owner, buf *tmp);
void buf_putn(buf *b, const char *s, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char ch);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Hand the contents over (never NULL unless out of memory); b is reset. */
char *buf_take(buf *b);
/* JSON string literal of s, quotes included. */
void buf_json_str(buf *b, const char *s);
#endif

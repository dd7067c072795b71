/*
 * diag.h -- sources and diagnostics.
 *
 * A diagnostic is {severity, source, byte offset, byte length, message}.
 * Line and column are computed only when a diagnostic is read or rendered,
 * from the byte offset, counting columns in code points.
 */
#ifndef GP_DIAG_H
#define GP_DIAG_H
#include <stddef.h>
#include <stdint.h>

#include "gradproof.h"

typedef struct gp_source {
    const char *name; /* file name for messages (arena) */
    const char *text; /* the bytes (arena copy, NUL-terminated) */
    size_t len;
} gp_source;

typedef struct gp_diag {
    gp_severity sev;
    int src;        /* index into ctx->src, or -1: no position */
    size_t off;     /* byte offset of the fault */
    size_t len;     /* bytes underlined (at least one caret is drawn) */
    char *msg;      /* arena */
    /* filled lazily by diag_locate */
    unsigned line, col, ecol;
} gp_diag;

/* Register a source; returns its index or -1 when out of memory. */
int diag_add_source(gp_ctx *c, const char *name, const char *text, size_t len);
/* Record an error at src:off..off+len; the message is printf-formatted. */
void diag_error(gp_ctx *c, int src, size_t off, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_note(gp_ctx *c, int src, size_t off, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Number of errors recorded so far (notes and warnings not counted). */
size_t diag_errors(const gp_ctx *c);
/* Line/column of byte offset `off` in source `src` (1-based; columns in code points). */
void diag_linecol(const gp_ctx *c, int src, size_t off, unsigned *line, unsigned *col);
/* Levenshtein distance of two byte strings, capped at cap+1. */
unsigned diag_edit_distance(const char *a, size_t na, const char *b, size_t nb, unsigned cap);
#endif

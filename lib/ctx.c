/*
 * ctx.c -- creating and freeing contexts, loading cases.
 *
 * gp_ctx_free() is the one place where a context's memory goes: the cases,
 * the DAG's exact constants (cleared one by one), the tables, then the arena.
 */
#include "ctx.h"

#include <errno.h>
#include <stdio.h> /* before mpfr.h */
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "build.h"
#include "buf.h"
#include "dag.h"
#include "parse.h"

gp_ctx *gp_ctx_new(void)
{
    gp_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    arena_init(&c->mem);
    c->lim.max_file_bytes = (size_t)64 << 20;
    c->lim.max_nodes = 50000000;
    c->lim.max_depth = 1000;
    c->lim.max_elements = 10000000;
    c->lim.max_expand_terms = 100000;
    c->lim.max_precision = 65536;
    return c;
}

void gp_ctx_free(gp_ctx *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ncases; i++)
        case_free(c->cases[i]);
    free(c->cases);
    dag_free(c);
    free(c->src);
    free(c->diag);
    arena_free(&c->mem);
    free(c);
}

void ctx_stack_mark(gp_ctx *c)
{
    char here;
    struct rlimit rl;
    size_t limit = (size_t)8 << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        limit = (size_t)rl.rlim_cur;
    if (limit > ((size_t)256 << 20))
        limit = (size_t)256 << 20;
    /* keep a margin for the frames of the callers and of libc, GMP and MPFR */
    size_t margin = (size_t)512 << 10;
    c->stack_budget = limit > 2 * margin ? limit - 2 * margin : limit / 2;
    c->stack_base = (uintptr_t)&here;
}

int ctx_stack_ok(const gp_ctx *c)
{
    char here;
    if (!c->stack_base)
        return 1;
    uintptr_t now = (uintptr_t)&here;
    size_t used = c->stack_base > now ? (size_t)(c->stack_base - now) : (size_t)(now - c->stack_base);
    return used < c->stack_budget;
}

void gp_ctx_get_limits(const gp_ctx *c, gp_limits *out) { *out = c->lim; }
void gp_ctx_set_limits(gp_ctx *c, const gp_limits *in)
{
    c->lim = *in;
    /* what MPFR can represent, and the 256 bits that claims and symmetry
       work at */
    if (c->lim.max_precision > (unsigned long)MPFR_PREC_MAX)
        c->lim.max_precision = (unsigned long)MPFR_PREC_MAX;
    if (c->lim.max_precision < 256)
        c->lim.max_precision = 256;
}
void gp_free(void *p) { free(p); }

const char *gp_case_title(const gp_case *cs) { return cs->title; }

gp_status gp_case_load(gp_ctx *c, const char *name, const char *text, size_t len, gp_case **out)
{
    *out = NULL;
    if (!name)
        name = "-";
    if (len > c->lim.max_file_bytes) {
        diag_error(c, -1, 0, 0, "%s: the case is %zu bytes, over the limit of %zu (raise it with --max-file-bytes)", name,
                   len, c->lim.max_file_bytes);
        return GP_ELIMIT;
    }
    int src = diag_add_source(c, name, text, len);
    if (src < 0)
        return GP_ENOMEM;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        diag_error(c, src, (size_t)(nul - text), 1, "a NUL byte: a case file is UTF-8 text");
        return GP_EINPUT;
    }
    gp_case *cs = calloc(1, sizeof *cs);
    if (!cs || !ctx_grow((void **)&c->cases, &c->capcases, c->ncases + 1, sizeof *c->cases)) {
        free(cs);
        return GP_ENOMEM;
    }
    c->cases[c->ncases++] = cs;
    cs->c = c;
    cs->src = src;
    /* the directory of the case, for data "file.csv" */
    const char *slash = strrchr(name, '/');
    if (strcmp(name, "-") != 0 && slash) {
        cs->dir = malloc((size_t)(slash - name) + 1);
        if (!cs->dir)
            return GP_ENOMEM;
        memcpy(cs->dir, name, (size_t)(slash - name));
        cs->dir[slash - name] = '\0';
    }
    ctx_stack_mark(c);
    gp_status st = parse_case(c, src, &cs->syn);
    if (st != GP_OK && st != GP_EINPUT)
        return st;
    gp_status bs = build_case(cs);
    if (bs != GP_OK)
        return bs == GP_EINPUT || st == GP_OK ? bs : st;
    if (st != GP_OK)
        return st;
    *out = cs;
    return GP_OK;
}

int ctx_read_file(const char *path, size_t max, char **text, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -1;
    buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    int too_big = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.n + n > max) {
            too_big = 1;
            break;
        }
        buf_putn(&b, chunk, n);
    }
    int bad = ferror(f);
    int saved = errno;
    if (f != stdin)
        fclose(f);
    errno = saved;
    if (too_big) {
        buf_free(&b);
        return -2;
    }
    if (bad || b.oom) {
        if (b.oom)
            errno = ENOMEM;
        buf_free(&b);
        return -1;
    }
    *len = b.n;
    *text = buf_take(&b);
    return *text ? 0 : -1;
}

gp_status gp_case_load_file(gp_ctx *c, const char *path, gp_case **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    errno = 0;
    int r = ctx_read_file(path, c->lim.max_file_bytes, &text, &len);
    if (r == -2) {
        diag_error(c, -1, 0, 0, "%s: the case is larger than the limit of %zu bytes (raise it with --max-file-bytes)",
                   path, c->lim.max_file_bytes);
        return GP_ELIMIT;
    }
    if (r != 0) {
        /* a path that does not open is the user's input; a failing read is the system's */
        int open_failed = errno == ENOENT || errno == EACCES || errno == ENOTDIR || errno == EISDIR || errno == ELOOP ||
                          errno == ENAMETOOLONG;
        diag_error(c, -1, 0, 0, "cannot %s '%s': %s", open_failed ? "open" : "read", path, strerror(errno));
        return open_failed ? GP_EINPUT : (errno == ENOMEM ? GP_ENOMEM : GP_EIO);
    }
    gp_status st = gp_case_load(c, path, text, len, out);
    free(text);
    return st;
}

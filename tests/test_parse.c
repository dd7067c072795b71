/*
 * test_parse.c -- the error table of tests/errors.test, through the other
 * entry point: the case is loaded from memory with gp_case_load (the CLI
 * test, tests/errors.sh, loads it from a file), under the name "INPUT", and
 * the rendered diagnostics must equal the entry's expectation exactly.
 *
 * One table, two entry points (tinyexpr's test_syntax runs each broken
 * expression through every API): a message that differs between them, a
 * diagnostic that only one path records, or a crash in either shows here with
 * the entry's stable id.  Entries that need the file system (%%NOFILE,
 * %%AUX, a data file, a file-size limit) or are known bugs (%%SKIP) are left
 * to errors.sh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradproof.h"

/* the golden file, next to this source */
static char *golden_path(void)
{
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    size_t n = slash ? (size_t)(slash - f) + 1 : 0;
    char *p = malloc(n + sizeof "errors.test");
    cr_assert_not_null(p);
    memcpy(p, f, n);
    strcpy(p + n, "errors.test");
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    cr_assert_eq(fread(s, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    s[n] = '\0';
    *len = (size_t)n;
    return s;
}

/* a growing byte string */
typedef struct str {
    char *s;
    size_t n, cap;
} str;

static void put(str *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        cr_assert_not_null(b->s);
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

/* printf %b, as errors.sh decodes %%BYTES entries: \\ \n \t \0NNN \xHH */
static void put_decoded(str *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < n) {
            char e = p[++i];
            if (e == 'x') {
                unsigned v = 0, k = 0;
                while (k < 2 && i + 1 < n && strchr("0123456789abcdefABCDEF", p[i + 1]) && p[i + 1]) {
                    char h = p[++i];
                    v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                    k++;
                }
                ch = (char)v;
            } else if (e == '0') {
                unsigned v = 0, k = 0;
                while (k < 3 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7') {
                    v = v * 8 + (unsigned)(p[++i] - '0');
                    k++;
                }
                ch = (char)v;
            } else {
                ch = e == 'n' ? '\n' : e == 't' ? '\t' : e;
            }
        }
        put(b, &ch, 1);
    }
}

typedef struct entry {
    char id[32];
    unsigned max_depth; /* from %%ARGS --max-depth N, or 0 */
    int usable;         /* 0: left to errors.sh */
    int bytes;
    str input, expect;
} entry;

/* Read the next entry starting at *pos; returns 0 at the end of the file. */
static int next_entry(const char *s, size_t len, size_t *pos, entry *e)
{
    memset(e, 0, sizeof *e);
    size_t p = *pos;
    /* find "%%FAIL " at the start of a line */
    while (p < len && strncmp(s + p, "%%FAIL ", 7) != 0) {
        const char *nl = memchr(s + p, '\n', len - p);
        p = nl ? (size_t)(nl - s) + 1 : len;
    }
    if (p >= len)
        return 0;
    sscanf(s + p + 7, "%31s", e->id);
    e->usable = 1;
    const char *nl0 = memchr(s + p, '\n', len - p); /* past the %%FAIL line */
    p = nl0 ? (size_t)(nl0 - s) + 1 : len;
    int state = 0; /* 0: directives and input, 1: expectation */
    for (;;) {
        cr_assert(p < len, "%s: the file ends before %%%%EXIT", e->id);
        const char *l = s + p;
        const char *nl = memchr(l, '\n', len - p);
        size_t n = nl ? (size_t)(nl - l) : len - p;
        p = nl ? p + n + 1 : len;
        cr_assert(strncmp(l, "%%FAIL ", 7) != 0, "%s: no %%%%EXIT before the next entry", e->id);
        if (strncmp(l, "%%EXIT", 6) == 0)
            break;
        if (state == 0 && n == 8 && strncmp(l, "%%EXPECT", 8) == 0) {
            state = 1;
        } else if (state == 0 && strncmp(l, "%%SKIP", 6) == 0) {
            e->usable = 0;
        } else if (state == 0 && (strncmp(l, "%%NOFILE", 8) == 0 || strncmp(l, "%%AUX", 5) == 0)) {
            e->usable = 0;
        } else if (state == 0 && strncmp(l, "%%BYTES", 7) == 0) {
            e->bytes = 1;
        } else if (state == 0 && strncmp(l, "%%ARGS ", 7) == 0) {
            unsigned d;
            if (sscanf(l + 7, "--max-depth %u", &d) == 1 || sscanf(l + 7, "--max-depth=%u", &d) == 1)
                e->max_depth = d;
            else
                e->usable = 0;
        } else if (state == 0 && n == 0 && e->input.n == 0) {
            /* blank lines before the case are ignored, as in errors.sh */
        } else {
            str *b = state == 0 ? &e->input : &e->expect;
            if (e->bytes)
                put_decoded(b, l, n);
            else
                put(b, l, n);
            put(b, "\n", 1);
        }
    }
    /* a data file is resolved against the file system: errors.sh's business */
    if (e->input.s && strstr(e->input.s, "data \""))
        e->usable = 0;
    if (e->expect.s && strstr(e->expect.s, "DIR/"))
        e->usable = 0;
    *pos = p;
    return 1;
}

Test(parse, error_table_from_memory_matches_the_cli_goldens)
{
    char *path = golden_path();
    size_t len;
    char *s = slurp(path, &len);
    size_t pos = 0, nrun = 0, nfail = 0;
    entry e;
    while (next_entry(s, len, &pos, &e)) {
        if (e.usable) {
            nrun++;
            gp_ctx *c = gp_ctx_new();
            cr_assert_not_null(c);
            if (e.max_depth) {
                gp_limits lim;
                gp_ctx_get_limits(c, &lim);
                lim.max_depth = e.max_depth;
                gp_ctx_set_limits(c, &lim);
            }
            gp_case *cs = (gp_case *)&cs; /* poison: must become NULL */
            gp_status st = gp_case_load(c, "INPUT", e.input.s ? e.input.s : "", e.input.n, &cs);
            str got = {0};
            for (size_t i = 0; i < gp_diag_count(c); i++) {
                char *r = NULL;
                cr_assert_eq(gp_diag_render(c, i, &r), GP_OK, "%s: rendering diagnostic %zu", e.id, i);
                put(&got, "gradproof: ", 11);
                put(&got, r, strlen(r));
                gp_free(r);
            }
            const char *want = e.expect.s ? e.expect.s : "";
            const char *have = got.s ? got.s : "";
            int ok = st == GP_EINPUT || st == GP_ELIMIT;
            cr_expect(ok, "%s: gp_case_load returned %d, expected GP_EINPUT or GP_ELIMIT", e.id, (int)st);
            cr_expect_null(cs, "%s: a malformed case must not be returned", e.id);
            cr_expect_str_eq(have, want, "%s: diagnostics from memory differ from errors.test\n--- expected\n%s--- got\n%s",
                             e.id, want, have);
            if (!ok || cs || strcmp(have, want) != 0)
                nfail++;
            free(got.s);
            gp_ctx_free(c);
        }
        free(e.input.s);
        free(e.expect.s);
    }
    cr_expect_gt(nrun, 40, "only %zu entries of %s were usable", nrun, path);
    cr_log_info("%zu entries run from memory, %zu failed", nrun, nfail);
    free(s);
    free(path);
}

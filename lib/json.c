/*
 * json.c -- a strict, iterative JSON reader (RFC 8259).
 *
 * The parser walks the text once, left to right, with an explicit stack of
 * at most JSON_MAX_DEPTH open containers and no recursion, so no input can
 * exhaust the C stack.  Invariant: every byte before the cursor has been
 * checked (grammar and UTF-8), so the first fault in source order is the one
 * reported, and line:column of any earlier offset is well defined.  Values
 * of open containers wait on a scratch stack and are copied into the arena
 * when their container closes, so each node is written once and never moves.
 * Duplicate keys are found on insertion, through one hash table of the keys
 * of the open objects keyed by (object serial, key); an object's keys leave
 * the table when it closes.
 *
 * Ownership: a json_doc owns a chain of arena chunks holding every node, key
 * array and string; json_free() releases the chain.  The scratch stacks and
 * the key table belong to one json_parse() call and are freed before it
 * returns, on every path.  Nothing here prints or exits.
 */
#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

/* ---- arena -------------------------------------------------------------- */

struct json_chunk {
    json_chunk *next;      /* the previous (older) chunk */
    size_t size, used;     /* usable bytes in data[], bytes handed out */
    max_align_t data[];
};

enum { CHUNK_MIN = 16 * 1024 };

/* n bytes aligned to `align` (a power of two, at most that of max_align_t):
   strings take 1, so that a one-digit number costs two bytes, not sixteen. */
static void *alloc(json_doc *d, size_t n, size_t align)
{
    if (n > SIZE_MAX / 4)
        return NULL;
    json_chunk *k = d->mem;
    size_t at = k ? (k->used + align - 1) & ~(align - 1) : 0;
    if (!k || at > k->size || k->size - at < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        /* double the chunks with the document, up to 16 MiB, to keep mallocs few */
        if (k && k->size < (16u << 20) && k->size * 2 > size)
            size = k->size * 2;
        k = malloc(sizeof *k + size);
        if (!k)
            return NULL;
        k->next = d->mem;
        k->size = size;
        d->mem = k;
        at = 0;
    }
    k->used = at + n;
    return (char *)k->data + at;
}

static char *dupn(json_doc *d, const char *s, size_t n)
{
    char *p = alloc(d, n + 1, 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* n objects of size sz, aligned for any of json, pointers and size_t. */
static void *alloc_array(json_doc *d, size_t n, size_t sz)
{
    if (n > SIZE_MAX / 4 / sz)
        return NULL;
    return alloc(d, n * sz, _Alignof(json));
}

/* ---- parser state ------------------------------------------------------- */

typedef struct member {    /* a key of an open object, waiting on the scratch stack */
    const char *key;       /* decoded, in the arena */
    size_t off;            /* offset of its opening quote */
    uint64_t hash;         /* its hash in the key table, to remove it on close */
} member;

typedef struct frame {     /* an open array or object */
    json_type type;        /* JSON_ARRAY or JSON_OBJECT */
    size_t off;            /* offset of '[' or '{' */
    size_t base;           /* its first element on the value stack */
    size_t kbase;          /* its first key on the key stack (objects) */
    size_t serial;         /* distinguishes this object in the key table */
} frame;

typedef struct seen {      /* a slot of the duplicate-key table */
    const char *key;       /* NULL: empty slot */
    size_t len, off, serial;
    uint64_t hash;
} seen;

typedef struct parser {
    const unsigned char *s; /* the text */
    size_t n, p;           /* its length, the cursor */
    json_doc *d;           /* the arena's owner */
    json_error *err;       /* where a fault goes (may be NULL) */
    json *val;             /* scratch: values of the open containers */
    size_t nval, capval;
    member *mem;           /* scratch: keys of the open objects */
    size_t nmem, capmem;
    char *sb;              /* scratch: the string being decoded */
    size_t nsb, capsb;
    seen *tab;             /* keys of the open objects, linear probing */
    size_t ntab, captab;   /* captab: 0 or a power of two */
    size_t nserial;        /* objects opened so far */
    size_t depth;          /* open containers */
    frame fr[JSON_MAX_DEPTH];
} parser;

/* ---- errors ------------------------------------------------------------- */

static void report(parser *P, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(parser *P, size_t off, const char *fmt, ...)
{
    json_error *e = P->err;
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->off = off > P->n ? P->n : off;
    json_position((const char *)P->s, P->n, e->off, &e->line, &e->column);
}

static int nomem(parser *P)
{
    report(P, P->p, "out of memory");
    return -2;
}

/* Length of the UTF-8 sequence at s[0..n) and its code point, or 0 when it
   is not well formed (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* sequence length, payload bits of the lead byte, smallest legal value */
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    uint32_t v = c & (0x7Fu >> k);
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < 0xC2 || c > 0xF4)
        return 0; /* continuation byte, overlong 2-byte lead, or beyond U+10FFFF */
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return k;
}

/* What stands at off, for "found ...": "end of input", "'x'" for printable
   ASCII, "U+XXXX" for anything else (invisible or confusable). */
static void describe(const parser *P, size_t off, char *out, size_t cap)
{
    uint32_t cp;
    if (off >= P->n)
        snprintf(out, cap, "end of input");
    else if (P->s[off] >= 0x20 && P->s[off] < 0x7F)
        snprintf(out, cap, "'%c'", P->s[off]);
    else if (utf8_dec(P->s + off, P->n - off, &cp))
        snprintf(out, cap, "U+%04X", (unsigned)cp);
    else
        snprintf(out, cap, "byte 0x%02X", P->s[off]);
}

/* "what, found X" at off; or "invalid UTF-8" when that is what stands there. */
static int unexpected(parser *P, size_t off, const char *what)
{
    uint32_t cp;
    if (off < P->n && P->s[off] >= 0x80 && !utf8_dec(P->s + off, P->n - off, &cp)) {
        report(P, off, "invalid UTF-8");
        return -1;
    }
    char found[24];
    describe(P, off, found, sizeof found);
    report(P, off, "%s, found %s", what, found);
    return -1;
}

/* s[0..n) quoted for a message: at most ~40 bytes, cut on a code point,
   control characters as \uXXXX so that the message stays one clean line. */
static void quote(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        /* room for the widest piece (6), then "..." and the NUL */
        if (i >= 40 || o + 10 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04X", c);
            i++;
            continue;
        }
        /* copy a whole code point (the input was validated) */
        size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + k > n)
            k = n - i;
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
}

/* ---- lexical pieces ----------------------------------------------------- */

static void ws(parser *P)
{
    while (P->p < P->n) {
        unsigned char c = P->s[P->p];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        P->p++;
    }
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }
static int is_word(unsigned c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* The four hex digits at s[at..at+4) as a code unit, or -1. */
static long hex4(const parser *P, size_t at)
{
    if (at > P->n || P->n - at < 4)
        return -1;
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hexval(P->s[at + i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

static int put(parser *P, const void *bytes, size_t k)
{
    if (!ctx_grow((void **)&P->sb, &P->capsb, P->nsb + k + 1, 1))
        return 0;
    memcpy(P->sb + P->nsb, bytes, k);
    P->nsb += k;
    return 1;
}

static int put_cp(parser *P, uint32_t cp)
{
    unsigned char b[4];
    size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const unsigned char lead[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    for (size_t i = k - 1; i > 0; i--) {
        b[i] = (unsigned char)(0x80 | (cp & 0x3F));
        cp >>= 6;
    }
    b[0] = (unsigned char)(lead[k] | cp);
    return put(P, b, k);
}

/* escape -> '\' ( ["\/bfnrt] | 'u' hex4 ), a surrogate pair as two \u escapes.
   The cursor is on the backslash; q0 is the string's opening quote. */
static int escape(parser *P, size_t q0)
{
    size_t b = P->p;
    if (b + 1 >= P->n) {
        report(P, q0, "unterminated string");
        return -1;
    }
    unsigned char e = P->s[b + 1];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *simple = e ? strchr(from, e) : NULL;
    if (simple) {
        P->p += 2;
        return put(P, &to[simple - from], 1) ? 0 : nomem(P);
    }
    if (e != 'u') {
        uint32_t cp = 0;
        if (e >= 0x20 && e < 0x7F)
            report(P, b, "invalid escape '\\%c'", e);
        else if (e >= 0x80 && !utf8_dec(P->s + b + 1, P->n - b - 1, &cp))
            report(P, b + 1, "invalid UTF-8");
        else
            report(P, b, "invalid escape '\\' followed by U+%04X", e < 0x80 ? e : (unsigned)cp);
        return -1;
    }
    long u = hex4(P, b + 2);
    if (u < 0) {
        report(P, b, "expected four hex digits after '\\u'");
        return -1;
    }
    uint32_t cp = (uint32_t)u;
    size_t end = b + 6;
    if (cp == 0) {
        report(P, b, "invalid escape '\\u0000': strings cannot contain NUL");
        return -1;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = end + 1 < P->n && P->s[end] == '\\' && P->s[end + 1] == 'u' ? hex4(P, end + 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) {
            report(P, b, "unpaired surrogate '\\u%.4s'", (const char *)P->s + b + 2);
            return -1;
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        end += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        report(P, b, "unpaired surrogate '\\u%.4s'", (const char *)P->s + b + 2);
        return -1;
    }
    P->p = end;
    return put_cp(P, cp) ? 0 : nomem(P);
}

/* string -> '"' ( char | escape )* '"'.  Decodes into the arena; *len gets
   the decoded length.  Raw control characters and bad UTF-8 are errors. */
static int string(parser *P, const char **out, size_t *len)
{
    size_t q0 = P->p++;
    P->nsb = 0;
    for (;;) {
        if (P->p >= P->n) {
            report(P, q0, "unterminated string");
            return -1;
        }
        unsigned char c = P->s[P->p];
        if (c == '"') {
            P->p++;
            break;
        }
        if (c == '\\') {
            int rc = escape(P, q0);
            if (rc)
                return rc;
            continue;
        }
        if (c < 0x20) {
            report(P, P->p, "unescaped control character U+%04X in string", c);
            return -1;
        }
        size_t k = 1;
        if (c >= 0x80) {
            uint32_t cp;
            k = utf8_dec(P->s + P->p, P->n - P->p, &cp);
            if (!k) {
                report(P, P->p, "invalid UTF-8");
                return -1;
            }
        } else {
            /* a run of plain ASCII in one copy */
            while (P->p + k < P->n && P->s[P->p + k] >= 0x20 && P->s[P->p + k] < 0x80 &&
                   P->s[P->p + k] != '"' && P->s[P->p + k] != '\\')
                k++;
        }
        if (!put(P, P->s + P->p, k))
            return nomem(P);
        P->p += k;
    }
    char *z = dupn(P->d, P->sb ? P->sb : "", P->nsb);
    if (!z)
        return nomem(P);
    *out = z;
    *len = P->nsb;
    return 0;
}

/* The end of a would-be number or word starting at off, for quoting it. */
static size_t token_end(const parser *P, size_t off)
{
    size_t e = off;
    while (e < P->n && (is_word(P->s[e]) || P->s[e] == '.' || P->s[e] == '+' || P->s[e] == '-'))
        e++;
    return e;
}

static int bad_number(parser *P, size_t start, const char *what)
{
    char q[64];
    quote(q, sizeof q, (const char *)P->s + start, token_end(P, start) - start);
    report(P, start, "%s '%s'", what, q);
    return -1;
}

/* number -> '-'? ( '0' | [1-9][0-9]* ) ( '.' [0-9]+ )? ( [eE] [+-]? [0-9]+ )?
   Kept as source text.  A letter, digit, '_' or '.' right after a complete
   number makes the whole token invalid ("0x10", "1.5.3"), which reads better
   than "expected ','" in the middle of it. */
static int number(parser *P, json *v)
{
    const unsigned char *s = P->s;
    size_t start = P->p, n = P->n;
    if (s[P->p] == '-')
        P->p++;
    if (P->p >= n || !is_digit(s[P->p]))
        return unexpected(P, P->p, "expected a digit after '-'");
    if (s[P->p] == '0') {
        P->p++;
        if (P->p < n && is_digit(s[P->p]))
            return bad_number(P, start, "leading zero in number");
    } else {
        while (P->p < n && is_digit(s[P->p]))
            P->p++;
    }
    if (P->p < n && s[P->p] == '.') {
        P->p++;
        if (P->p >= n || !is_digit(s[P->p]))
            return unexpected(P, P->p, "expected a digit after '.'");
        while (P->p < n && is_digit(s[P->p]))
            P->p++;
    }
    if (P->p < n && (s[P->p] == 'e' || s[P->p] == 'E')) {
        P->p++;
        if (P->p < n && (s[P->p] == '+' || s[P->p] == '-'))
            P->p++;
        if (P->p >= n || !is_digit(s[P->p]))
            return unexpected(P, P->p, "expected a digit in the exponent");
        while (P->p < n && is_digit(s[P->p]))
            P->p++;
    }
    if (P->p < n && (is_word(s[P->p]) || s[P->p] == '.'))
        return bad_number(P, start, "invalid number");
    v->type = JSON_NUMBER;
    v->len = P->p - start;
    v->str = dupn(P->d, (const char *)s + start, v->len);
    return v->str ? 0 : nomem(P);
}

/* scalar -> string | number | 'true' | 'false' | 'null' */
static int scalar(parser *P, json *v)
{
    unsigned char c = P->s[P->p];
    memset(v, 0, sizeof *v);
    v->off = P->p;
    if (c == '"') {
        v->type = JSON_STRING;
        return string(P, &v->str, &v->len);
    }
    if (c == '-' || is_digit(c))
        return number(P, v);
    if (is_word(c)) {
        size_t e = P->p;
        while (e < P->n && is_word(P->s[e]))
            e++;
        size_t k = e - P->p;
        const char *w = (const char *)P->s + P->p;
        if (k == 4 && !memcmp(w, "true", 4))
            v->type = JSON_TRUE;
        else if (k == 5 && !memcmp(w, "false", 5))
            v->type = JSON_FALSE;
        else if (k == 4 && !memcmp(w, "null", 4))
            v->type = JSON_NULL;
        else
            return bad_number(P, P->p, "invalid literal");
        P->p = e;
        return 0;
    }
    if (c == '\'') {
        report(P, P->p, "strings must use double quotes");
        return -1;
    }
    return unexpected(P, P->p, "expected a value");
}

/* ---- containers --------------------------------------------------------- */

static uint64_t hash_key(const char *k, size_t len, size_t serial)
{
    uint64_t h = 0xcbf29ce484222325u ^ ((uint64_t)serial * 0x9E3779B97F4A7C15u);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * 0x100000001b3u;
    /* FNV leaves the low bits (the slot) weakly mixed: finish like MurmurHash3 */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

/* Record key k of the innermost object; a second occurrence is an error
   naming both positions. */
static int add_key(parser *P, const char *k, size_t len, size_t off)
{
    if ((P->ntab + 1) * 2 > P->captab) {
        size_t cap = P->captab ? P->captab * 2 : 64;
        if (cap > SIZE_MAX / sizeof(seen))
            return nomem(P);
        seen *t = calloc(cap, sizeof *t);
        if (!t)
            return nomem(P);
        for (size_t i = 0; i < P->captab; i++) {
            if (!P->tab[i].key)
                continue;
            size_t j = (size_t)P->tab[i].hash & (cap - 1);
            while (t[j].key)
                j = (j + 1) & (cap - 1);
            t[j] = P->tab[i];
        }
        free(P->tab);
        P->tab = t;
        P->captab = cap;
    }
    size_t serial = P->fr[P->depth - 1].serial;
    uint64_t h = hash_key(k, len, serial);
    size_t j = (size_t)h & (P->captab - 1);
    for (; P->tab[j].key; j = (j + 1) & (P->captab - 1)) {
        const seen *e = &P->tab[j];
        if (e->hash == h && e->serial == serial && e->len == len && !memcmp(e->key, k, len)) {
            char q[64];
            unsigned line, col;
            quote(q, sizeof q, k, len);
            json_position((const char *)P->s, P->n, e->off, &line, &col);
            report(P, off, "duplicate key '%s' (first at %u:%u)", q, line, col);
            return -1;
        }
    }
    P->tab[j] = (seen){k, len, off, serial, h};
    P->ntab++;
    if (!ctx_grow((void **)&P->mem, &P->capmem, P->nmem + 1, sizeof *P->mem))
        return nomem(P);
    P->mem[P->nmem++] = (member){k, off, h};
    return 0;
}

/* Remove the keys of the object being closed from the table (backward-shift
   deletion, no tombstones), so that the table holds only the keys of open
   objects: it stays small and in cache however many objects a document has. */
static void forget_keys(parser *P, size_t kbase)
{
    size_t mask = P->captab - 1;
    for (size_t m = kbase; m < P->nmem; m++) {
        size_t i = (size_t)P->mem[m].hash & mask;
        while (P->tab[i].key != P->mem[m].key) /* keys are unique arena copies */
            i = (i + 1) & mask;
        for (size_t j = i;;) {
            j = (j + 1) & mask;
            if (!P->tab[j].key)
                break;
            size_t home = (size_t)P->tab[j].hash & mask;
            /* the entry at j may move back to the hole at i unless its home
               lies cyclically in (i, j] */
            if (((j - home) & mask) >= ((j - i) & mask)) {
                P->tab[i] = P->tab[j];
                i = j;
            }
        }
        P->tab[i].key = NULL;
        P->ntab--;
    }
}

/* Where the text ends inside an open container: name the opener. */
static int unclosed(parser *P)
{
    const frame *f = &P->fr[P->depth - 1];
    unsigned line, col;
    json_position((const char *)P->s, P->n, f->off, &line, &col);
    if (f->type == JSON_ARRAY)
        report(P, P->n, "expected ']' to close '[' at %u:%u", line, col);
    else
        report(P, P->n, "expected '}' to close '{' at %u:%u", line, col);
    return -1;
}

/* Something else than a key where one must be. */
static int not_key(parser *P, const char *what)
{
    if (P->s[P->p] != '\'')
        return unexpected(P, P->p, what);
    report(P, P->p, "strings must use double quotes");
    return -1;
}

/* key -> string ':'  (cursor on the key; the value comes next) */
static int key(parser *P)
{
    const char *k;
    size_t len, off = P->p;
    int rc = string(P, &k, &len);
    if (rc)
        return rc;
    if ((rc = add_key(P, k, len, off)) != 0)
        return rc;
    ws(P);
    if (P->p >= P->n)
        return unclosed(P);
    if (P->s[P->p] != ':')
        return unexpected(P, P->p, "expected ':' after an object key");
    P->p++;
    ws(P);
    return 0;
}

/* Close the innermost container: move its elements from the scratch stack
   into the arena, as one value. */
static int close_frame(parser *P, json *v)
{
    frame *f = &P->fr[--P->depth];
    size_t n = P->nval - f->base;
    memset(v, 0, sizeof *v);
    v->type = f->type;
    v->off = f->off;
    v->len = n;
    if (n) {
        v->item = alloc_array(P->d, n, sizeof *v->item);
        if (!v->item)
            return nomem(P);
        memcpy(v->item, P->val + f->base, n * sizeof *v->item);
        if (f->type == JSON_OBJECT) {
            v->key = alloc_array(P->d, n, sizeof *v->key);
            v->key_off = alloc_array(P->d, n, sizeof *v->key_off);
            if (!v->key || !v->key_off)
                return nomem(P);
            for (size_t i = 0; i < n; i++) {
                v->key[i] = P->mem[f->kbase + i].key;
                v->key_off[i] = P->mem[f->kbase + i].off;
            }
        }
    }
    if (f->type == JSON_OBJECT)
        forget_keys(P, f->kbase);
    P->nval = f->base;
    P->nmem = f->kbase;
    return 0;
}

/* document -> ws value ws
   value    -> scalar | '[' ( value ( ',' value )* )? ']'
                      | '{' ( key value ( ',' key value )* )? '}'
   Iterative: `want_value` parses one value (opening containers as it goes),
   `have_value` attaches a finished value to its container and consumes the
   separator or the closing bracket after it. */
static int document(parser *P)
{
    json v;
    int rc;
    ws(P);
    if (P->p >= P->n) {
        report(P, P->p, "empty document");
        return -1;
    }
want_value:
    if (P->p >= P->n)
        return unclosed(P);
    if (P->s[P->p] == '[' || P->s[P->p] == '{') {
        int obj = P->s[P->p] == '{';
        if (P->depth == JSON_MAX_DEPTH) {
            report(P, P->p, "nesting deeper than %d", JSON_MAX_DEPTH);
            return -1;
        }
        P->fr[P->depth++] = (frame){obj ? JSON_OBJECT : JSON_ARRAY, P->p, P->nval, P->nmem, ++P->nserial};
        P->p++;
        ws(P);
        if (P->p < P->n && P->s[P->p] == (obj ? '}' : ']')) {
            P->p++;
            if ((rc = close_frame(P, &v)) != 0)
                return rc;
            goto have_value;
        }
        if (!obj)
            goto want_value;
        if (P->p >= P->n)
            return unclosed(P);
        if (P->s[P->p] != '"')
            return not_key(P, "expected a string key or '}'");
        if ((rc = key(P)) != 0)
            return rc;
        goto want_value;
    }
    if ((rc = scalar(P, &v)) != 0)
        return rc;

have_value:
    if (P->depth == 0) {
        ws(P);
        if (P->p < P->n) {
            report(P, P->p, "trailing characters after the document");
            return -1;
        }
        P->d->root = alloc_array(P->d, 1, sizeof *P->d->root);
        if (!P->d->root)
            return nomem(P);
        *P->d->root = v;
        return 0;
    }
    if (!ctx_grow((void **)&P->val, &P->capval, P->nval + 1, sizeof *P->val))
        return nomem(P);
    P->val[P->nval++] = v;
    ws(P);
    if (P->p >= P->n)
        return unclosed(P);
    {
        const frame *f = &P->fr[P->depth - 1];
        int obj = f->type == JSON_OBJECT;
        unsigned char c = P->s[P->p];
        if (c == (obj ? '}' : ']')) {
            P->p++;
            if ((rc = close_frame(P, &v)) != 0)
                return rc;
            goto have_value;
        }
        if (c != ',')
            return unexpected(P, P->p, obj ? "expected ',' or '}' after an object member"
                                           : "expected ',' or ']' after an array element");
        size_t comma = P->p++;
        ws(P);
        if (P->p >= P->n)
            return unclosed(P);
        if (P->s[P->p] == (obj ? '}' : ']')) {
            report(P, comma, "trailing comma before '%c'", obj ? '}' : ']');
            return -1;
        }
        if (!obj)
            goto want_value;
        if (P->s[P->p] != '"')
            return not_key(P, "expected a string key after ','");
        if ((rc = key(P)) != 0)
            return rc;
        goto want_value;
    }
}

/* ---- interface ---------------------------------------------------------- */

int json_parse(json_doc *d, const char *text, size_t len, json_error *err)
{
    parser *P = calloc(1, sizeof *P);
    d->root = NULL;
    d->mem = NULL;
    if (err) {
        err->off = 0;
        err->line = err->column = 0;
        err->msg[0] = '\0';
    }
    if (!text)
        len = 0;
    if (!P) {
        if (err) {
            err->line = err->column = 1;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return -2;
    }
    P->s = (const unsigned char *)(text ? text : "");
    P->n = len;
    P->d = d;
    P->err = err;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        P->p = 3;
    int rc = document(P);
    free(P->val);
    free(P->mem);
    free(P->sb);
    free(P->tab);
    free(P);
    if (rc)
        json_free(d);
    return rc;
}

void json_free(json_doc *d)
{
    if (!d)
        return;
    json_chunk *k = d->mem;
    while (k) {
        json_chunk *next = k->next;
        free(k);
        k = next;
    }
    d->mem = NULL;
    d->root = NULL;
}

const json *json_get(const json *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (!strcmp(obj->key[i], key))
            return &obj->item[i];
    return NULL;
}

void json_position(const char *text, size_t len, size_t off, unsigned *line, unsigned *column)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t i = 0;
    unsigned l = 1, c = 1;
    if (!t)
        len = 0;
    if (off > len)
        off = len;
    /* a byte-order mark is invisible in editors: it takes no column */
    if (len >= 3 && t[0] == 0xEF && t[1] == 0xBB && t[2] == 0xBF)
        i = off < 3 ? off : 3;
    for (; i < off; i++) {
        if (t[i] == '\n') {
            l++;
            c = 1;
        } else if ((t[i] & 0xC0) != 0x80) {
            c++; /* count code points: skip UTF-8 continuation bytes */
        }
    }
    *line = l;
    *column = c;
}

const char *json_type_name(json_type t)
{
    static const char *const name[] = {"null", "false", "true", "number", "string", "array", "object"};
    return (unsigned)t < sizeof name / sizeof *name ? name[t] : "?";
}

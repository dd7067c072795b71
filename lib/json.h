/*
 * json.h -- a strict JSON reader (RFC 8259) for gradients computed by other
 * engines (`gradproof verify CASE --gradients FILE`).
 *
 * Internal to the library.  json_parse() builds a read-only tree owned by a
 * json_doc; json_free() releases all of it.  Numbers keep their exact source
 * text, so that the consumer can convert them exactly (to a rational or a
 * correctly rounded double); strings are decoded to UTF-8 without NUL bytes.
 * Errors carry a byte offset and its 1-based line:column (columns in code
 * points, a leading byte-order mark not counted).
 */
#ifndef GP_JSON_H
#define GP_JSON_H
#include <stddef.h>

#define JSON_MAX_DEPTH 256 /* arrays/objects nested deeper are a syntax error */

typedef enum json_type {
    JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} json_type;

typedef struct json json; /* a value */
struct json {
    json_type type;
    size_t off;            /* byte offset of the value in the text ('"', '[', '{', first byte) */
    const char *str;       /* STRING: decoded UTF-8, NUL-terminated, no NUL inside;
                              NUMBER: the number's source text, NUL-terminated; else NULL */
    size_t len;            /* STRING/NUMBER: bytes of str; ARRAY/OBJECT: number of elements/members */
    json *item;            /* ARRAY: elements; OBJECT: values of the members; NULL when empty */
    const char **key;      /* OBJECT: keys (decoded, unique), in source order */
    size_t *key_off;       /* OBJECT: byte offsets of the keys' opening quotes */
};

typedef struct json_chunk json_chunk;
typedef struct json_doc {
    json *root;            /* the document's value; NULL before a successful parse */
    json_chunk *mem;       /* private: the arena holding every node and string */
} json_doc;

typedef struct json_error {
    size_t off;            /* byte offset of the fault */
    unsigned line, column; /* 1-based; column in code points */
    char msg[160];         /* lower-case, no trailing period, e.g. "duplicate key 'w111' (first at 3:5)" */
} json_error;

/* Parse text[0..len) (need not be NUL-terminated; a UTF-8 BOM at the start
   is skipped).  Returns 0 on success, with d->root set; -1 on a syntax error
   and -2 when out of memory, with *err filled (err may be NULL) and d left
   empty.  The tree does not point into text: text may be freed afterwards.
   Every failure leaves d safe to pass to json_free(). */
int json_parse(json_doc *d, const char *text, size_t len, json_error *err);
/* Release the tree; d becomes empty.  Accepts NULL, an empty or zeroed doc. */
void json_free(json_doc *d);
/* Member of an object by key (linear in the number of members), or NULL when
   obj is NULL, not an object, or has no such key. */
const json *json_get(const json *obj, const char *key);
/* Line/column (1-based, columns in code points, a leading BOM not counted)
   of byte offset off in text[0..len); off is clamped to len.  For errors the
   consumer reports about values, e.g. "unknown param 'w9'". */
void json_position(const char *text, size_t len, size_t off, unsigned *line, unsigned *column);
/* "null", "false", "true", "number", "string", "array", "object". */
const char *json_type_name(json_type t);
#endif

/*
 * test_json.c -- the strict JSON reader behind `verify --gradients`: values
 * of every kind (types, exact number texts, decoded strings, key order,
 * offsets), a table of malformed documents with their exact line:column and
 * message, the nesting limit, and a seeded random-mutation run in which every
 * input must give either a tree that survives a print/parse round trip or a
 * clean error.
 *
 * Every parse goes through parse_exact(), which copies the input into a
 * malloc'd buffer of exactly its length with no NUL after it, so that an
 * over-read is an ASan report, not a silent pass.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define S(x) x, sizeof(x) - 1 /* a literal and its length, NULs included */

/* json_parse on an exactly sized copy of s[0..n); checks what every parse
   must satisfy whatever the input: the result code, an empty doc on
   failure, an error position consistent with its offset. */
static int parse_exact(json_doc *d, const char *s, size_t n, json_error *e)
{
    char *copy = malloc(n ? n : 1);
    cr_assert_not_null(copy);
    if (n)
        memcpy(copy, s, n);
    memset(e, 0x5A, sizeof *e); /* poison: a field left unset shows */
    int rc = json_parse(d, copy, n, e);
    if (rc == 0) {
        cr_assert_not_null(d->root);
    } else {
        cr_assert_eq(rc, -1, "json_parse returned %d", rc);
        cr_assert_null(d->root);
        cr_assert_leq(e->off, n);
        unsigned l, c;
        json_position(copy, n, e->off, &l, &c);
        cr_assert(e->line == l && e->column == c, "error at %u:%u but offset %zu is %u:%u", e->line, e->column,
                  e->off, l, c);
        cr_assert(e->msg[0] >= 'a' && e->msg[0] <= 'z' && memchr(e->msg, '\0', sizeof e->msg),
                  "message not lower-case or unterminated: \"%.159s\"", e->msg);
        json_free(d); /* a failed parse leaves nothing to free: must be harmless */
    }
    free(copy);
    return rc;
}

static json_doc parse_ok(const char *s)
{
    json_doc d;
    json_error e;
    int rc = parse_exact(&d, s, strlen(s), &e);
    cr_assert_eq(rc, 0, "\"%s\": %u:%u: %s", s, e.line, e.column, e.msg);
    return d;
}

/* ---- valid documents ---------------------------------------------------- */

Test(json, literals_and_their_offsets)
{
    static const struct {
        const char *text;
        json_type type;
        size_t off;
    } cases[] = {
        {"null", JSON_NULL, 0}, {" true", JSON_TRUE, 1}, {"\n\tfalse\r\n", JSON_FALSE, 2},
        {"\"\"", JSON_STRING, 0}, {"  []", JSON_ARRAY, 2}, {"{}", JSON_OBJECT, 0}, {"7", JSON_NUMBER, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_doc d = parse_ok(cases[i].text);
        cr_expect_eq(d.root->type, cases[i].type, "\"%s\": type %s", cases[i].text, json_type_name(d.root->type));
        cr_expect_eq(d.root->off, cases[i].off, "\"%s\": offset %zu", cases[i].text, d.root->off);
        if (d.root->type == JSON_ARRAY || d.root->type == JSON_OBJECT) {
            cr_expect_eq(d.root->len, 0);
            cr_expect_null(d.root->item);
        }
        json_free(&d);
        cr_expect_null(d.root);
    }
}

Test(json, numbers_keep_their_exact_source_text)
{
    static const char *const nums[] = {
        "0", "-0", "1", "-1", "0.0", "-0.000", "1.25e-3", "1E+2", "1e-0", "2.5E-0010",
        "123456789012345678901234567890", "1.7976931348623157e309", "4.9406564584124654e-324",
        "0.1000000000000000055511151231257827021181583404541015625", "-9e999999999999",
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char text[128];
        snprintf(text, sizeof text, "[%s, %s]", nums[i], nums[i]);
        json_doc d = parse_ok(text);
        cr_assert_eq(d.root->len, 2);
        for (size_t j = 0; j < 2; j++) {
            const json *v = &d.root->item[j];
            cr_expect_eq(v->type, JSON_NUMBER, "%s", text);
            cr_expect_str_eq(v->str, nums[i]);
            cr_expect_eq(v->len, strlen(nums[i]));
            cr_expect_eq(v->off, 1 + j * (strlen(nums[i]) + 2));
        }
        json_free(&d);
    }
    /* a number alone, ended by the end of the text rather than a delimiter */
    json_doc d;
    json_error e;
    cr_assert_eq(parse_exact(&d, S("-12.5e+7"), &e), 0);
    cr_expect_str_eq(d.root->str, "-12.5e+7");
    json_free(&d);
}

Test(json, strings_decode_escapes_and_surrogate_pairs)
{
    static const struct {
        const char *text, *want;
        size_t len;
    } cases[] = {
        {"\"plain\"", "plain", 5},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xC3\xA9\xE2\x82\xAC", 6},         /* 1-, 2-, 3-byte UTF-8 */
        {"\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4},                    /* U+1F600 from a pair */
        {"\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF", 4},                    /* U+10FFFF, the last */
        {"\"\\uD800\\uDC00\"", "\xF0\x90\x80\x80", 4},                    /* U+10000, the first */
        {"\"\\u0001\\u001f\"", "\x01\x1F", 2},                            /* escaped controls are fine */
        {"\"caf\xC3\xA9 \xE2\x88\x82 \xF0\x9D\x9C\x83\"", "caf\xC3\xA9 \xE2\x88\x82 \xF0\x9D\x9C\x83", 14},
        {"\"\x7F\"", "\x7F", 1},                                          /* DEL needs no escape */
        {"\"\\uFFFF\\uFEFF\"", "\xEF\xBF\xBF\xEF\xBB\xBF", 6},            /* noncharacters are scalar values */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_doc d = parse_ok(cases[i].text);
        cr_expect_eq(d.root->type, JSON_STRING);
        cr_expect_eq(d.root->len, cases[i].len, "%s: length %zu", cases[i].text, d.root->len);
        cr_expect(memcmp(d.root->str, cases[i].want, cases[i].len + 1) == 0, "%s decodes wrongly", cases[i].text);
        json_free(&d);
    }
}

Test(json, gradients_document_in_source_order)
{
    const char *text = "{\"points\": [\n"
                       "  {\"params\": {\"w111\": 0.5, \"p[1][2]\": -3},\n"
                       "   \"gradient\": {\"w111\": 1.25e-3, \"p[1][2]\": 0},\n"
                       "   \"sample\": 0},\n"
                       "  {\"gradient\": {\"p[1][2]\": 1E2, \"w111\": -0.0}, \"params\": {\"p[1][2]\": 1, \"w111\": 2}}\n"
                       "]}\n";
    json_doc d = parse_ok(text);
    const json *pts = json_get(d.root, "points");
    cr_assert_not_null(pts);
    cr_assert_eq(pts->type, JSON_ARRAY);
    cr_assert_eq(pts->len, 2);

    const json *p0 = &pts->item[0];
    cr_assert_eq(p0->type, JSON_OBJECT);
    cr_assert_eq(p0->len, 3);
    cr_expect_str_eq(p0->key[0], "params");
    cr_expect_str_eq(p0->key[1], "gradient");
    cr_expect_str_eq(p0->key[2], "sample");
    const json *params = json_get(p0, "params");
    cr_assert_not_null(params);
    cr_expect_str_eq(params->key[0], "w111");
    cr_expect_str_eq(params->key[1], "p[1][2]");
    cr_expect_str_eq(json_get(params, "w111")->str, "0.5");
    cr_expect_str_eq(json_get(params, "p[1][2]")->str, "-3");
    cr_expect_str_eq(json_get(json_get(p0, "gradient"), "w111")->str, "1.25e-3");
    cr_expect_str_eq(json_get(p0, "sample")->str, "0");
    cr_expect_null(json_get(p0, "w9"));
    cr_expect_null(json_get(p0, "param"));

    /* offsets lead back to the text: the value and key, for later messages */
    unsigned line, col;
    cr_expect_eq(params->key_off[1], (size_t)(strstr(text, "\"p[1][2]\": -3") - text));
    json_position(text, strlen(text), params->key_off[1], &line, &col);
    cr_expect(line == 2 && col == 28, "key at %u:%u", line, col);
    const json *g = json_get(json_get(p0, "gradient"), "w111");
    json_position(text, strlen(text), g->off, &line, &col);
    cr_expect(line == 3 && col == 25, "gradient at %u:%u", line, col);

    /* the second point: other order, no sample */
    const json *p1 = &pts->item[1];
    cr_expect_str_eq(p1->key[0], "gradient");
    cr_expect_null(json_get(p1, "sample"));
    cr_expect_str_eq(json_get(json_get(p1, "gradient"), "w111")->str, "-0.0");
    cr_expect_str_eq(json_get(json_get(p1, "params"), "w111")->str, "2");

    /* json_get refuses what is not an object */
    cr_expect_null(json_get(pts, "points"));
    cr_expect_null(json_get(NULL, "points"));
    cr_expect_null(json_get(d.root, NULL));
    json_free(&d);
    json_free(&d); /* twice: the first left it empty */
}

Test(json, keys_are_decoded_and_unique_per_object_only)
{
    json_doc d = parse_ok("[{\"\\u0077111\": 1, \"a\\\"b\": 2, \"\": 3}, {\"w111\": {\"w111\": 4}}]");
    const json *o = &d.root->item[0];
    cr_expect_str_eq(o->key[0], "w111");
    cr_expect_str_eq(o->key[1], "a\"b");
    cr_expect_str_eq(o->key[2], "");
    cr_expect_str_eq(json_get(o, "w111")->str, "1");
    cr_expect_str_eq(json_get(o, "")->str, "3");
    cr_expect_eq(o->key_off[0], 2);
    /* the same key in another object, and in a nested one, is no duplicate */
    const json *o2 = &d.root->item[1];
    cr_expect_str_eq(json_get(json_get(o2, "w111"), "w111")->str, "4");
    json_free(&d);
}

Test(json, nested_arrays_and_objects)
{
    json_doc d = parse_ok(" [ [ ] , { } , [ [ 1 ] , { \"a\" : [ null , true , false ] } ] ] ");
    const json *r = d.root;
    cr_assert_eq(r->len, 3);
    cr_expect_eq(r->off, 1);
    cr_expect_eq(r->item[0].type, JSON_ARRAY);
    cr_expect_eq(r->item[0].len, 0);
    cr_expect_eq(r->item[1].type, JSON_OBJECT);
    cr_expect_eq(r->item[1].len, 0);
    const json *x = &r->item[2];
    cr_assert_eq(x->len, 2);
    cr_expect_str_eq(x->item[0].item[0].str, "1");
    const json *a = json_get(&x->item[1], "a");
    cr_assert_not_null(a);
    cr_assert_eq(a->len, 3);
    cr_expect_eq(a->item[0].type, JSON_NULL);
    cr_expect_eq(a->item[1].type, JSON_TRUE);
    cr_expect_eq(a->item[2].type, JSON_FALSE);
    cr_expect_eq(a->item[2].off, 49);
    json_free(&d);
}

Test(json, byte_order_mark_is_skipped_and_takes_no_column)
{
    json_doc d;
    json_error e;
    cr_assert_eq(parse_exact(&d, S("\xEF\xBB\xBF{\"a\": 1}"), &e), 0);
    cr_expect_eq(d.root->off, 3);
    json_free(&d);
    cr_assert_eq(parse_exact(&d, S("\xEF\xBB\xBF[1,]"), &e), -1);
    cr_expect(e.off == 5 && e.line == 1 && e.column == 3, "%zu %u:%u", e.off, e.line, e.column);
    /* only at the start: elsewhere U+FEFF is not whitespace */
    cr_assert_eq(parse_exact(&d, S("[\xEF\xBB\xBF" "1]"), &e), -1);
    cr_expect_str_eq(e.msg, "expected a value, found U+FEFF");
    cr_assert_eq(parse_exact(&d, S("\xEF\xBB\xBF"), &e), -1);
    cr_expect_str_eq(e.msg, "empty document");
}

Test(json, text_need_not_be_nul_terminated)
{
    const char buf[] = "[12]  true";
    json_doc d;
    json_error e;
    cr_assert_eq(parse_exact(&d, buf, 4, &e), 0);
    cr_expect_eq(d.root->len, 1);
    json_free(&d);
    cr_assert_eq(parse_exact(&d, buf + 1, 1, &e), 0); /* "1" of "12" */
    cr_expect_str_eq(d.root->str, "1");
    json_free(&d);
    cr_assert_eq(parse_exact(&d, buf, 6, &e), 0);
    json_free(&d);
    cr_assert_eq(parse_exact(&d, buf, 7, &e), -1);
    cr_expect_str_eq(e.msg, "trailing characters after the document");
    /* and the tree does not point into the text */
    char *t = strdup("{\"k\": \"v\"}");
    cr_assert_eq(json_parse(&d, t, strlen(t), &e), 0);
    memset(t, 'x', strlen(t));
    free(t);
    cr_expect_str_eq(d.root->key[0], "k");
    cr_expect_str_eq(d.root->item[0].str, "v");
    json_free(&d);
}

Test(json, null_error_pointer_and_empty_input)
{
    json_doc d;
    cr_expect_eq(json_parse(&d, "[1,]", 4, NULL), -1);
    cr_expect_null(d.root);
    cr_expect_eq(json_parse(&d, NULL, 0, NULL), -1);
    cr_expect_eq(json_parse(&d, "0", 1, NULL), 0);
    json_free(&d);
    json_doc zero = {0};
    json_free(&zero);
    json_free(NULL);
}

Test(json, position_counts_code_points_and_clamps)
{
    const char *t = "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x9C\x83z\nxy";
    size_t n = strlen(t);
    unsigned l, c;
    static const struct {
        size_t off;
        unsigned line, col;
    } want[] = {{0, 1, 1}, {1, 1, 2}, {3, 1, 3}, {6, 1, 4}, {10, 1, 5}, {11, 1, 6}, {12, 2, 1}, {14, 2, 3}, {999, 2, 3}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        json_position(t, n, want[i].off, &l, &c);
        cr_expect(l == want[i].line && c == want[i].col, "offset %zu: %u:%u, expected %u:%u", want[i].off, l, c,
                  want[i].line, want[i].col);
    }
    cr_expect_str_eq(json_type_name(JSON_OBJECT), "object");
    cr_expect_str_eq(json_type_name(JSON_NUMBER), "number");
}

/* ---- malformed documents ------------------------------------------------ */

typedef struct bad {
    const char *id;        /* stable name for failure messages */
    const char *text;
    size_t len;
    unsigned line, col;
    const char *msg;
} bad;

static const bad bads[] = {
    /* structure */
    {"json-1.1", S(""), 1, 1, "empty document"},
    {"json-1.2", S("  \n "), 2, 2, "empty document"},
    {"json-1.3", S("[1,]"), 1, 3, "trailing comma before ']'"},
    {"json-1.4", S("{\"a\":1,}"), 1, 7, "trailing comma before '}'"},
    {"json-1.5", S("[1 2]"), 1, 4, "expected ',' or ']' after an array element, found '2'"},
    {"json-1.6", S("{\"a\":1 \"b\":2}"), 1, 8, "expected ',' or '}' after an object member, found '\"'"},
    {"json-1.7", S("{\"a\" 1}"), 1, 6, "expected ':' after an object key, found '1'"},
    {"json-1.8", S("{1:2}"), 1, 2, "expected a string key or '}', found '1'"},
    {"json-1.9", S("{\"a\":1,2}"), 1, 8, "expected a string key after ',', found '2'"},
    {"json-1.10", S("{'a':1}"), 1, 2, "strings must use double quotes"},
    {"json-1.11", S("['a']"), 1, 2, "strings must use double quotes"},
    {"json-1.12", S("[1,,2]"), 1, 4, "expected a value, found ','"},
    {"json-1.13", S("]"), 1, 1, "expected a value, found ']'"},
    {"json-1.14", S("[/* c */ 1]"), 1, 2, "expected a value, found '/'"},
    {"json-1.15", S("{\"a\":}"), 1, 6, "expected a value, found '}'"},
    {"json-1.16", S("[1]x"), 1, 4, "trailing characters after the document"},
    {"json-1.17", S("1 2"), 1, 3, "trailing characters after the document"},
    {"json-1.18", S("{\"a\":1}}"), 1, 8, "trailing characters after the document"},
    {"json-1.19", S("[1]\0"), 1, 4, "trailing characters after the document"},
    {"json-1.20", S("[\r\n1,\r\n]"), 2, 2, "trailing comma before ']'"},
    /* unclosed containers: the error is at the end, naming the opener */
    {"json-2.1", S("["), 1, 2, "expected ']' to close '[' at 1:1"},
    {"json-2.2", S("{\"a\":[1,\n"), 2, 1, "expected ']' to close '[' at 1:6"},
    {"json-2.3", S("{\"a\":"), 1, 6, "expected '}' to close '{' at 1:1"},
    {"json-2.4", S("{\"a\""), 1, 5, "expected '}' to close '{' at 1:1"},
    {"json-2.5", S("[[1], {\"b\": 2}"), 1, 15, "expected ']' to close '[' at 1:1"},
    /* numbers */
    {"json-3.1", S("[01]"), 1, 2, "leading zero in number '01'"},
    {"json-3.2", S("-01"), 1, 1, "leading zero in number '-01'"},
    {"json-3.3", S("-"), 1, 2, "expected a digit after '-', found end of input"},
    {"json-3.4", S("1."), 1, 3, "expected a digit after '.', found end of input"},
    {"json-3.5", S("1.e5"), 1, 3, "expected a digit after '.', found 'e'"},
    {"json-3.6", S("[1e]"), 1, 4, "expected a digit in the exponent, found ']'"},
    {"json-3.7", S("1e+"), 1, 4, "expected a digit in the exponent, found end of input"},
    {"json-3.8", S("+1"), 1, 1, "expected a value, found '+'"},
    {"json-3.9", S(".5"), 1, 1, "expected a value, found '.'"},
    {"json-3.10", S("[0x10]"), 1, 2, "invalid number '0x10'"},
    {"json-3.11", S("[1.5.3]"), 1, 2, "invalid number '1.5.3'"},
    {"json-3.12", S("-Infinity"), 1, 2, "expected a digit after '-', found 'I'"},
    /* literals */
    {"json-4.1", S("NaN"), 1, 1, "invalid literal 'NaN'"},
    {"json-4.2", S("[Infinity]"), 1, 2, "invalid literal 'Infinity'"},
    {"json-4.3", S("tru"), 1, 1, "invalid literal 'tru'"},
    {"json-4.4", S("[True]"), 1, 2, "invalid literal 'True'"},
    {"json-4.5", S("nulll"), 1, 1, "invalid literal 'nulll'"},
    /* strings */
    {"json-5.1", S("\"abc"), 1, 1, "unterminated string"},
    {"json-5.2", S("[\"a\", \"b"), 1, 7, "unterminated string"},
    {"json-5.3", S("\"\\"), 1, 1, "unterminated string"},
    {"json-5.4", S("[\"a\\q\"]"), 1, 4, "invalid escape '\\q'"},
    {"json-5.5", S("\"\xC3\xA9\\x\""), 1, 3, "invalid escape '\\x'"},
    {"json-5.6", S("\"\\\x01\""), 1, 2, "invalid escape '\\' followed by U+0001"},
    {"json-5.7", S("\"\\u12\""), 1, 2, "expected four hex digits after '\\u'"},
    {"json-5.8", S("\"\\uZZZZ\""), 1, 2, "expected four hex digits after '\\u'"},
    {"json-5.9", S("\"\\uD800\""), 1, 2, "unpaired surrogate '\\uD800'"},
    {"json-5.10", S("\"\\udc00\""), 1, 2, "unpaired surrogate '\\udc00'"},
    {"json-5.11", S("\"x\\ud800\\u0041\""), 1, 3, "unpaired surrogate '\\ud800'"},
    {"json-5.12", S("\"\\uD83D\\uD83D\""), 1, 2, "unpaired surrogate '\\uD83D'"},
    {"json-5.13", S("\"\\u0000\""), 1, 2, "invalid escape '\\u0000': strings cannot contain NUL"},
    {"json-5.14", S("\"a\nb\""), 1, 3, "unescaped control character U+000A in string"},
    {"json-5.15", S("\"a\tb\""), 1, 3, "unescaped control character U+0009 in string"},
    {"json-5.16", S("\"\0\""), 1, 2, "unescaped control character U+0000 in string"},
    /* UTF-8 */
    {"json-6.1", S("\"\xC3\x28\""), 1, 2, "invalid UTF-8"},
    {"json-6.2", S("\"\xC0\xAF\""), 1, 2, "invalid UTF-8"},               /* overlong '/' */
    {"json-6.3", S("\"\xE0\x80\xAF\""), 1, 2, "invalid UTF-8"},           /* overlong, 3 bytes */
    {"json-6.4", S("\"\xED\xA0\x80\""), 1, 2, "invalid UTF-8"},           /* an encoded surrogate */
    {"json-6.5", S("\"\xF4\x90\x80\x80\""), 1, 2, "invalid UTF-8"},       /* above U+10FFFF */
    {"json-6.6", S("\"ab\xE2\x82"), 1, 4, "invalid UTF-8"},               /* truncated at the end */
    {"json-6.7", S("[\xFF]"), 1, 2, "invalid UTF-8"},
    {"json-6.8", S("\"\x80\""), 1, 2, "invalid UTF-8"},                   /* lone continuation byte */
    {"json-6.9", S("\"\\\xFE\""), 1, 3, "invalid UTF-8"},
    {"json-6.10", S("[\xC2\xA0" "1]"), 1, 2, "expected a value, found U+00A0"}, /* no-break space */
    {"json-6.11", S("[\0]"), 1, 2, "expected a value, found U+0000"},
    {"json-6.12", S("[1,\n \xE2\x82\xAC, x]"), 2, 2, "expected a value, found U+20AC"},
    {"json-6.13", S("[\"\xE2\x82\xAC\", x]"), 1, 7, "invalid literal 'x'"},
    /* duplicate keys: both positions */
    {"json-7.1", S("{\"w111\":1,\n \"w111\":2}"), 2, 2, "duplicate key 'w111' (first at 1:2)"},
    {"json-7.2", S("{\"a\":1,\"b\":{\"a\":2,\"a\":3}}"), 1, 19, "duplicate key 'a' (first at 1:13)"},
    {"json-7.3", S("{\"a\\nb\":1,\"a\\u000ab\":2}"), 1, 11, "duplicate key 'a\\u000Ab' (first at 1:2)"},
    {"json-7.4", S("{\"\\u0077\":1,\"w\":2}"), 1, 13, "duplicate key 'w' (first at 1:2)"},
    {"json-7.5", S("{\"0123456789012345678901234567890123456789xyz\":1,\"0123456789012345678901234567890123456789xyz\":2}"),
     1, 50, "duplicate key '0123456789012345678901234567890123456789...' (first at 1:2)"},
    /* closing the inner objects must not forget the outer object's keys */
    {"json-7.6", S("{\"a\":{\"x\":1,\"a\":2},\"b\":{\"x\":3},\"a\":0}"), 1, 32, "duplicate key 'a' (first at 1:2)"},
};

Test(json, malformed_documents_report_position_and_message)
{
    size_t nbad = sizeof bads / sizeof *bads;
    cr_assert_geq(nbad, 30);
    for (size_t i = 0; i < nbad; i++) {
        const bad *b = &bads[i];
        json_doc d;
        json_error e;
        int rc = parse_exact(&d, b->text, b->len, &e);
        cr_expect_eq(rc, -1, "%s: parsed", b->id);
        if (rc != -1)
            continue;
        cr_expect(e.line == b->line && e.column == b->col, "%s: at %u:%u, expected %u:%u", b->id, e.line, e.column,
                  b->line, b->col);
        cr_expect_str_eq(e.msg, b->msg, "%s: \"%s\", expected \"%s\"", b->id, e.msg, b->msg);
        /* the same verdict without an error record */
        cr_expect_eq(json_parse(&d, b->text, b->len, NULL), -1, "%s: with err == NULL", b->id);
    }
}

/* ---- nesting ------------------------------------------------------------ */

static char *repeat(const char *open, const char *mid, const char *close, size_t n, size_t *len)
{
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc(n * (lo + lc) + lm + 1);
    cr_assert_not_null(s);
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k += lo)
        memcpy(s + k, open, lo);
    memcpy(s + k, mid, lm);
    k += lm;
    for (size_t i = 0; i < n; i++, k += lc)
        memcpy(s + k, close, lc);
    s[k] = '\0';
    *len = k;
    return s;
}

Test(json, nesting_up_to_the_limit_parses)
{
    size_t n;
    json_doc d;
    json_error e;
    char *s = repeat("[", "0", "]", JSON_MAX_DEPTH, &n);
    cr_assert_eq(parse_exact(&d, s, n, &e), 0, "%u:%u: %s", e.line, e.column, e.msg);
    const json *v = d.root;
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        cr_assert_eq(v->type, JSON_ARRAY);
        cr_assert_eq(v->len, 1);
        v = &v->item[0];
    }
    cr_expect_str_eq(v->str, "0");
    json_free(&d);
    free(s);
    s = repeat("{\"a\":", "{}", "}", JSON_MAX_DEPTH - 1, &n);
    cr_assert_eq(parse_exact(&d, s, n, &e), 0, "%u:%u: %s", e.line, e.column, e.msg);
    json_free(&d);
    free(s);
}

Test(json, nesting_beyond_the_limit_is_an_error)
{
    size_t n;
    json_doc d;
    json_error e;
    char *s = repeat("[", "", "]", JSON_MAX_DEPTH + 1, &n);
    cr_assert_eq(parse_exact(&d, s, n, &e), -1);
    cr_expect_str_eq(e.msg, "nesting deeper than 256");
    cr_expect(e.off == 256 && e.line == 1 && e.column == 257, "%zu %u:%u", e.off, e.line, e.column);
    free(s);
    s = repeat("{\"k\":", "1", "}", 300, &n);
    cr_assert_eq(parse_exact(&d, s, n, &e), -1);
    cr_expect_str_eq(e.msg, "nesting deeper than 256");
    cr_expect_eq(e.off, 256 * 5);
    free(s);
}

Test(json, hundred_thousand_brackets_do_not_crash)
{
    size_t n = 100000;
    char *s = malloc(n);
    cr_assert_not_null(s);
    memset(s, '[', n);
    json_doc d;
    json_error e;
    cr_assert_eq(parse_exact(&d, s, n, &e), -1);
    cr_expect_str_eq(e.msg, "nesting deeper than 256");
    cr_expect(e.line == 1 && e.column == 257, "%u:%u", e.line, e.column);
    /* alternating, and unclosed after the limit is reached: still the nesting error */
    for (size_t i = 0; i < n; i += 2)
        memcpy(s + i, "{[", 2);
    cr_assert_eq(parse_exact(&d, s, n, &e), -1);
    cr_expect_str_eq(e.msg, "expected a string key or '}', found '['");
    for (size_t i = 0; i + 5 <= n; i += 5)
        memcpy(s + i, "[{\"\":", 5);
    cr_assert_eq(parse_exact(&d, s, n, &e), -1);
    cr_expect_str_eq(e.msg, "nesting deeper than 256");
    free(s);
}

/* ---- size --------------------------------------------------------------- */

Test(json, large_object_finds_a_late_duplicate)
{
    enum { N = 50000 };
    char *s = malloc((size_t)N * 24 + 64);
    cr_assert_not_null(s);
    size_t k = 0;
    s[k++] = '{';
    for (int i = 0; i < N; i++)
        k += (size_t)sprintf(s + k, "%s\"w%d\": %d", i ? "," : "", i, i);
    s[k++] = '}';
    json_doc d;
    json_error e;
    cr_assert_eq(parse_exact(&d, s, k, &e), 0, "%s", e.msg);
    cr_assert_eq(d.root->len, N);
    cr_expect_str_eq(d.root->key[N - 1], "w49999");
    cr_expect_str_eq(json_get(d.root, "w31337")->str, "31337");
    json_free(&d);
    k += (size_t)sprintf(s + k - 1, ",\"w777\": 0}") - 1;
    cr_assert_eq(parse_exact(&d, s, k, &e), -1);
    cr_expect_str_eq(e.msg, "duplicate key 'w777' (first at 1:9106)");
    free(s);
}

Test(json, many_objects_reuse_keys_and_duplicates_are_still_found)
{
    enum { N = 3000, K = 12 };
    char *s = malloc((size_t)N * K * 16 + 64);
    cr_assert_not_null(s);
    for (int dup_at = -1; dup_at < N; dup_at += 1499) {
        size_t k = 0, dup_off = 0, first_off = 0;
        s[k++] = '[';
        for (int i = 0; i < N; i++) {
            /* the keys of each object in a different rotation */
            k += (size_t)sprintf(s + k, "%s{", i ? "," : "");
            for (int j = 0; j < K; j++) {
                int key = (i + j) % K;
                if (i == dup_at && j == K - 1) {
                    key = (i + 3) % K; /* the key of member 3, again */
                    dup_off = k + (j ? 1 : 0);
                }
                if (i == dup_at && j == 3)
                    first_off = k + 1;
                k += (size_t)sprintf(s + k, "%s\"k%d\":%d", j ? "," : "", key, i);
            }
            s[k++] = '}';
        }
        s[k++] = ']';
        json_doc d;
        json_error e;
        int rc = parse_exact(&d, s, k, &e);
        if (dup_at < 0) {
            cr_assert_eq(rc, 0, "%s", e.msg);
            cr_expect_eq(d.root->len, N);
            cr_expect_str_eq(json_get(&d.root->item[N - 1], "k0")->str, "2999");
            json_free(&d);
            continue;
        }
        cr_assert_eq(rc, -1, "duplicate in object %d not found", dup_at);
        char want[80];
        snprintf(want, sizeof want, "duplicate key 'k%d' (first at 1:%zu)", (dup_at + 3) % K, first_off + 1);
        cr_expect_str_eq(e.msg, want);
        cr_expect_eq(e.off, dup_off);
    }
    free(s);
}

/* ---- random mutations --------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct out {
    char *s;
    size_t n, cap;
} out;

static void emit(out *o, const char *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        o->cap = (o->n + n + 1) * 2;
        o->s = realloc(o->s, o->cap);
        cr_assert_not_null(o->s);
    }
    memcpy(o->s + o->n, s, n);
    o->n += n;
}

static void emit_str(out *o, const char *s, size_t n)
{
    emit(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            emit(o, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            emit(o, esc, 6);
        } else {
            emit(o, s + i, 1);
        }
    }
    emit(o, "\"", 1);
}

/* Print v back as JSON (what a writer would produce from the tree). */
static void print(out *o, const json *v)
{
    switch (v->type) {
    case JSON_NULL: emit(o, "null", 4); break;
    case JSON_FALSE: emit(o, "false", 5); break;
    case JSON_TRUE: emit(o, "true", 4); break;
    case JSON_NUMBER: emit(o, v->str, v->len); break;
    case JSON_STRING: emit_str(o, v->str, v->len); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        emit(o, v->type == JSON_ARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                emit(o, ",", 1);
            if (v->type == JSON_OBJECT) {
                emit_str(o, v->key[i], strlen(v->key[i]));
                emit(o, ":", 1);
            }
            print(o, &v->item[i]);
        }
        emit(o, v->type == JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}

static int same(const json *a, const json *b)
{
    if (a->type != b->type || a->len != b->len)
        return 0;
    if (a->type == JSON_NUMBER || a->type == JSON_STRING)
        return a->str[a->len] == '\0' && strlen(a->str) == a->len && memcmp(a->str, b->str, a->len + 1) == 0;
    if (a->type == JSON_ARRAY || a->type == JSON_OBJECT)
        for (size_t i = 0; i < a->len; i++)
            if ((a->type == JSON_OBJECT && strcmp(a->key[i], b->key[i])) || !same(&a->item[i], &b->item[i]))
                return 0;
    return 1;
}

static const char *const seeds[] = {
    "{\"points\": [{\"params\": {\"w111\": 0.5, \"p[1][2]\": -3}, \"gradient\": {\"w111\": 1.25e-3, "
    "\"p[1][2]\": -0.0E+0}, \"sample\": 0}, {\"params\": {}, \"gradient\": {}}]}",
    "[\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"caf\xC3\xA9 \xE2\x88\x82\xF0\x9D\x9C\x83\", true, false, "
    "null, [[[]]], {\"a\": {\"b\": [1, 2.5, -3e10]}}]",
    "\xEF\xBB\xBF {\n\t\"x\" : [ 0 , -0.0 , 1E-7 , 123456789012345678901234567890 ] ,\r\n\"y\":\"\\u0041\"}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "{\"a\":{\"a\":{\"a\":{\"a\":1,\"b\":2},\"b\":[]},\"b\":{}},\"b\":\"\"}",
};

static const unsigned char interesting[] = {'[', ']', '{', '}', '"', '\\', ',', ':', '0', '1', '-', '+', 'e',
                                            '.', 'u', 'd', '8', 'D', ' ', '\n', 0, 0x7F, 0x80, 0xBF, 0xC0,
                                            0xC3, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xFF};

Test(json, random_mutations_parse_or_fail_cleanly)
{
    enum { ROUNDS = 20000 };
    size_t nok = 0, nerr = 0;
    char *buf = malloc(4096);
    cr_assert_not_null(buf);
    for (int r = 0; r < ROUNDS; r++) {
        const char *seed = seeds[rnd() % (sizeof seeds / sizeof *seeds)];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int nmut = 1 + (int)(rnd() % 4);
        for (int m = 0; m < nmut; m++) {
            size_t at = n ? (size_t)(rnd() % (n + 1)) : 0;
            unsigned char c = rnd() % 2 ? interesting[rnd() % sizeof interesting] : (unsigned char)rnd();
            switch (rnd() % 4) {
            case 0: /* flip one bit */
                if (at < n)
                    buf[at] = (char)(buf[at] ^ (1u << (rnd() % 8)));
                break;
            case 1: /* overwrite */
                if (at < n)
                    buf[at] = (char)c;
                break;
            case 2: /* insert */
                if (n < 4000) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (char)c;
                    n++;
                }
                break;
            default: /* delete a run of 1..4 */
                if (at < n) {
                    size_t k = 1 + (size_t)(rnd() % 4);
                    if (k > n - at)
                        k = n - at;
                    memmove(buf + at, buf + at + k, n - at - k);
                    n -= k;
                }
            }
        }
        json_doc d, d2;
        json_error e;
        int rc = parse_exact(&d, buf, n, &e); /* checks a failure's invariants */
        if (rc != 0) {
            nerr++;
            continue;
        }
        nok++;
        /* a success must survive printing and parsing again, unchanged */
        out o = {0};
        print(&o, d.root);
        rc = parse_exact(&d2, o.s, o.n, &e);
        cr_assert_eq(rc, 0, "round %d: reprint of \"%.*s\" fails: %s", r, (int)n, buf, e.msg);
        cr_assert(same(d.root, d2.root), "round %d: \"%.*s\" changes when printed", r, (int)n, buf);
        json_free(&d2);
        json_free(&d);
        free(o.s);
    }
    free(buf);
    cr_log_info("%d mutants: %zu parse, %zu rejected", ROUNDS, nok, nerr);
    /* the run means something only if both outcomes are common */
    cr_expect_gt(nok, ROUNDS / 50);
    cr_expect_gt(nerr, ROUNDS / 2);
}

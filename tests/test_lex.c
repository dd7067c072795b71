/*
 * test_lex.c -- the tokenizer: kinds and byte spans of every token, the
 * newline rule inside brackets, the byte-order mark, and the diagnostics of
 * characters that are not part of the language.
 *
 * Each test lexes one string from a fresh context to the end and compares
 * the whole token list (kind, offset, length) against a table, so a wrong
 * span or a missing/extra token fails with the index of the first mismatch.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "diag.h"
#include "lex.h"

#define MAXTOK 64

typedef struct tk {
    tok_kind kind;
    size_t off, len;
} tk;

typedef struct lexed {
    gp_ctx *c;
    tk t[MAXTOK];
    size_t n; /* tokens before T_EOF */
    tk eof;
} lexed;

/* Lex s (n bytes) to T_EOF in a fresh context. */
static void lex_all_n(lexed *L, const char *s, size_t n)
{
    L->c = gp_ctx_new();
    cr_assert_not_null(L->c);
    int src = diag_add_source(L->c, "test.case", s, n);
    cr_assert_geq(src, 0);
    lexer lx;
    lex_init(&lx, L->c, src);
    L->n = 0;
    for (;;) {
        token t = lex_next(&lx);
        if (t.kind == T_EOF) {
            L->eof = (tk){t.kind, t.off, t.len};
            break;
        }
        cr_assert_lt(L->n, MAXTOK, "too many tokens lexing \"%s\"", s);
        L->t[L->n++] = (tk){t.kind, t.off, t.len};
    }
}

static void lex_all(lexed *L, const char *s) { lex_all_n(L, s, strlen(s)); }

static void expect_tokens(const lexed *L, const char *input, const tk *want, size_t nwant)
{
    for (size_t i = 0; i < nwant && i < L->n; i++) {
        cr_expect_eq(L->t[i].kind, want[i].kind, "\"%s\" token %zu: kind %d, expected %d", input, i, (int)L->t[i].kind,
                     (int)want[i].kind);
        cr_expect_eq(L->t[i].off, want[i].off, "\"%s\" token %zu: offset %zu, expected %zu", input, i, L->t[i].off,
                     want[i].off);
        cr_expect_eq(L->t[i].len, want[i].len, "\"%s\" token %zu: length %zu, expected %zu", input, i, L->t[i].len,
                     want[i].len);
    }
    cr_expect_eq(L->n, nwant, "\"%s\": %zu tokens, expected %zu", input, L->n, nwant);
}

#define EXPECT(L, input, ...)                                                                                          \
    do {                                                                                                               \
        static const tk want_[] = {__VA_ARGS__};                                                                       \
        expect_tokens((L), (input), want_, sizeof want_ / sizeof want_[0]);                                            \
    } while (0)

static void done(lexed *L) { gp_ctx_free(L->c); }

/* ---- operators and punctuation ---- */

Test(lex, every_operator_has_its_kind_and_span)
{
    lexed L;
    const char *s = "+ - * / ^ ( ) [ ] , = == ..";
    lex_all(&L, s);
    EXPECT(&L, s, {T_PLUS, 0, 1}, {T_MINUS, 2, 1}, {T_STAR, 4, 1}, {T_SLASH, 6, 1}, {T_CARET, 8, 1}, {T_LP, 10, 1},
           {T_RP, 12, 1}, {T_LB, 14, 1}, {T_RB, 16, 1}, {T_COMMA, 18, 1}, {T_EQ, 20, 1}, {T_EQEQ, 22, 2},
           {T_DOTDOT, 25, 2});
    cr_expect_eq(gp_diag_count(L.c), 0);
    done(&L);
}

Test(lex, operators_need_no_blanks_between_them)
{
    lexed L;
    const char *s = "a==b=c^-d";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 1}, {T_EQEQ, 1, 2}, {T_NAME, 3, 1}, {T_EQ, 4, 1}, {T_NAME, 5, 1}, {T_CARET, 6, 1},
           {T_MINUS, 7, 1}, {T_NAME, 8, 1});
    done(&L);
}

Test(lex, eof_token_sits_at_the_end_and_repeats)
{
    gp_ctx *c = gp_ctx_new();
    const char *s = "x  ";
    int src = diag_add_source(c, "t", s, 3);
    lexer lx;
    lex_init(&lx, c, src);
    token t = lex_next(&lx);
    cr_expect_eq(t.kind, T_NAME);
    for (int i = 0; i < 3; i++) {
        t = lex_next(&lx);
        cr_expect_eq(t.kind, T_EOF, "call %d after the end", i);
        cr_expect_eq(t.off, 3);
        cr_expect_eq(t.len, 0);
    }
    gp_ctx_free(c);
}

Test(lex, empty_source_is_just_eof)
{
    lexed L;
    lex_all_n(&L, "", 0);
    cr_expect_eq(L.n, 0);
    cr_expect_eq(L.eof.off, 0);
    done(&L);
}

/* ---- numbers ---- */

Test(lex, integer_range_is_num_dotdot_num)
{
    lexed L;
    lex_all(&L, "1..3");
    EXPECT(&L, "1..3", {T_NUM, 0, 1}, {T_DOTDOT, 1, 2}, {T_NUM, 3, 1});
    done(&L);
}

Test(lex, decimal_range_keeps_the_fraction_in_the_first_number)
{
    lexed L;
    lex_all(&L, "0.5..10");
    EXPECT(&L, "0.5..10", {T_NUM, 0, 3}, {T_DOTDOT, 3, 2}, {T_NUM, 5, 2});
    done(&L);
}

Test(lex, decimals_exponents_and_leading_dot_are_one_number)
{
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"0.3", 3}, {"1e-3", 4}, {".5", 2}, {"2.5e2", 5}, {"1E+10", 5}, {"12345678901234567890", 20}, {"0", 1},
        {"3.0", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lexed L;
        lex_all(&L, cases[i].s);
        cr_expect_eq(L.n, 1, "lex-num-%zu \"%s\": %zu tokens", i, cases[i].s, L.n);
        cr_expect_eq(L.t[0].kind, T_NUM, "lex-num-%zu \"%s\"", i, cases[i].s);
        cr_expect_eq(L.t[0].len, cases[i].len, "lex-num-%zu \"%s\": length %zu", i, cases[i].s, L.t[0].len);
        cr_expect_eq(gp_diag_count(L.c), 0, "lex-num-%zu \"%s\"", i, cases[i].s);
        done(&L);
    }
}

Test(lex, minus_before_a_number_is_an_operator)
{
    lexed L;
    lex_all(&L, "-2");
    EXPECT(&L, "-2", {T_MINUS, 0, 1}, {T_NUM, 1, 1});
    done(&L);
}

Test(lex, exponent_sign_belongs_to_the_number_but_a_trailing_minus_does_not)
{
    lexed L;
    lex_all(&L, "1e-3-2");
    EXPECT(&L, "1e-3-2", {T_NUM, 0, 4}, {T_MINUS, 4, 1}, {T_NUM, 5, 1});
    done(&L);
}

Test(lex, number_followed_by_letters_is_one_diagnosed_error)
{
    lexed L;
    lex_all(&L, "2x + 1");
    EXPECT(&L, "2x + 1", {T_ERROR, 0, 2}, {T_PLUS, 3, 1}, {T_NUM, 5, 1});
    cr_assert_eq(gp_diag_count(L.c), 1);
    gp_diag_info d;
    gp_diag_get(L.c, 0, &d);
    cr_expect_eq(d.severity, GP_SEV_ERROR);
    cr_expect_eq(d.line, 1);
    cr_expect_eq(d.column, 1);
    cr_expect_eq(d.end_column, 3);
    cr_expect_not_null(strstr(d.message, "'2x'"), "message: %s", d.message);
    done(&L);
}

/* ---- names, strings, comments ---- */

Test(lex, names_take_letters_digits_and_underscores)
{
    lexed L;
    const char *s = "w211 x_1 Alpha yhat2b";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 4}, {T_NAME, 5, 3}, {T_NAME, 9, 5}, {T_NAME, 15, 6});
    done(&L);
}

Test(lex, indexed_name_is_name_and_brackets)
{
    lexed L;
    const char *s = "p[1][k+1]";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 1}, {T_LB, 1, 1}, {T_NUM, 2, 1}, {T_RB, 3, 1}, {T_LB, 4, 1}, {T_NAME, 5, 1},
           {T_PLUS, 6, 1}, {T_NUM, 7, 1}, {T_RB, 8, 1});
    done(&L);
}

Test(lex, derivative_reference_is_name_slash_name)
{
    lexed L;
    lex_all(&L, "dC/dw111");
    EXPECT(&L, "dC/dw111", {T_NAME, 0, 2}, {T_SLASH, 2, 1}, {T_NAME, 3, 5});
    done(&L);
}

Test(lex, string_span_includes_quotes_and_escapes)
{
    lexed L;
    const char *s = "title \"a \\\"q\\\" b\" x";
    lex_all(&L, s);
    /* title "a \"q\" b" x : the string runs from 6 to 16 inclusive */
    EXPECT(&L, s, {T_NAME, 0, 5}, {T_STR, 6, 11}, {T_NAME, 18, 1});
    cr_expect_eq(gp_diag_count(L.c), 0);
    done(&L);
}

Test(lex, unterminated_string_is_diagnosed_and_ends_at_the_line)
{
    lexed L;
    const char *s = "title \"abc\nx";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 5}, {T_ERROR, 6, 4}, {T_NL, 10, 1}, {T_NAME, 11, 1});
    cr_expect_eq(gp_diag_count(L.c), 1);
    done(&L);
}

Test(lex, comment_runs_to_the_end_of_the_line)
{
    lexed L;
    const char *s = "x # y ( [ \"\n z";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 1}, {T_NL, 11, 1}, {T_NAME, 13, 1});
    cr_expect_eq(gp_diag_count(L.c), 0);
    done(&L);
}

Test(lex, comment_at_the_end_of_the_file_needs_no_newline)
{
    lexed L;
    lex_all(&L, "a # ∂ not lexed");
    EXPECT(&L, "a # comment", {T_NAME, 0, 1});
    cr_expect_eq(gp_diag_count(L.c), 0, "a character inside a comment must not be diagnosed");
    done(&L);
}

/* ---- newlines ---- */

Test(lex, newline_ends_a_statement_at_depth_zero)
{
    lexed L;
    const char *s = "a\nb\r\n\nc";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 1}, {T_NL, 1, 1}, {T_NAME, 2, 1}, {T_NL, 4, 1}, {T_NL, 5, 1}, {T_NAME, 6, 1});
    done(&L);
}

Test(lex, newlines_inside_parentheses_and_brackets_are_suppressed)
{
    lexed L;
    const char *s = "f(a +\n b) * p[1\n] + (x[\n2\n])\ny";
    lex_all(&L, s);
    EXPECT(&L, s, {T_NAME, 0, 1}, {T_LP, 1, 1}, {T_NAME, 2, 1}, {T_PLUS, 4, 1}, {T_NAME, 7, 1}, {T_RP, 8, 1},
           {T_STAR, 10, 1}, {T_NAME, 12, 1}, {T_LB, 13, 1}, {T_NUM, 14, 1}, {T_RB, 16, 1}, {T_PLUS, 18, 1},
           {T_LP, 20, 1}, {T_NAME, 21, 1}, {T_LB, 22, 1}, {T_NUM, 24, 1}, {T_RB, 26, 1}, {T_RP, 27, 1}, {T_NL, 28, 1},
           {T_NAME, 29, 1});
    done(&L);
}

Test(lex, stray_closing_bracket_does_not_make_depth_negative)
{
    lexed L;
    /* had ')' decremented below zero, the first newline after '(' would still be
       suppressed but the final one would not be back at depth 0 */
    const char *s = ")\n(\n)\nx";
    lex_all(&L, s);
    EXPECT(&L, s, {T_RP, 0, 1}, {T_NL, 1, 1}, {T_LP, 2, 1}, {T_RP, 4, 1}, {T_NL, 5, 1}, {T_NAME, 6, 1});
    done(&L);
}

/* ---- byte-order mark and unknown characters ---- */

Test(lex, byte_order_mark_is_skipped)
{
    lexed L;
    const char *s = "\xEF\xBB\xBFx = 1";
    lex_all(&L, s);
    EXPECT(&L, "BOM x = 1", {T_NAME, 3, 1}, {T_EQ, 5, 1}, {T_NUM, 7, 1});
    cr_expect_eq(gp_diag_count(L.c), 0);
    done(&L);
}

Test(lex, byte_order_mark_elsewhere_is_an_unknown_character)
{
    lexed L;
    const char *s = "x \xEF\xBB\xBF";
    lex_all(&L, s);
    EXPECT(&L, "x BOM", {T_NAME, 0, 1}, {T_ERROR, 2, 3});
    cr_expect_eq(gp_diag_count(L.c), 1);
    done(&L);
}

/* One diagnostic, whose quote is the whole multi-byte character. */
static void expect_one_char_error(const char *s, size_t off, const char *ch)
{
    lexed L;
    lex_all(&L, s);
    size_t n = strlen(ch);
    size_t k;
    for (k = 0; k < L.n && L.t[k].kind != T_ERROR; k++)
        ;
    cr_assert_lt(k, L.n, "\"%s\": no error token", s);
    cr_expect_eq(L.t[k].off, off, "\"%s\"", s);
    cr_expect_eq(L.t[k].len, n, "\"%s\": error token of %zu bytes, the character has %zu", s, L.t[k].len, n);
    for (size_t j = k + 1; j < L.n; j++)
        cr_expect_neq(L.t[j].kind, T_ERROR, "\"%s\": a second error token at %zu", s, L.t[j].off);
    cr_assert_eq(gp_diag_count(L.c), 1, "\"%s\": %zu diagnostics", s, gp_diag_count(L.c));
    gp_diag_info d;
    gp_diag_get(L.c, 0, &d);
    char quoted[16];
    snprintf(quoted, sizeof quoted, "'%s'", ch);
    cr_expect_not_null(strstr(d.message, quoted), "\"%s\": message %s does not quote %s", s, d.message, quoted);
    done(&L);
}

Test(lex, unknown_utf8_character_is_diagnosed_once_and_quoted_whole)
{
    expect_one_char_error("a \xE2\x88\x82 b", 2, "\xE2\x88\x82");            /* ∂, 3 bytes */
    expect_one_char_error("a\xC2\xB7" "b", 1, "\xC2\xB7");                   /* ·, 2 bytes */
    expect_one_char_error("x \xF0\x9F\x98\x80", 2, "\xF0\x9F\x98\x80");      /* 4 bytes */
    expect_one_char_error("\xCE\xB1 = 1", 0, "\xCE\xB1");                    /* α as a name */
    expect_one_char_error("a $ b", 2, "$");
}

Test(lex, token_after_unknown_character_resumes_at_the_next_character)
{
    lexed L;
    const char *s = "x\xE2\x88\x92y";
    lex_all(&L, s);
    EXPECT(&L, "x−y", {T_NAME, 0, 1}, {T_ERROR, 1, 3}, {T_NAME, 4, 1});
    done(&L);
}

Test(lex, unknown_character_column_counts_code_points)
{
    lexed L;
    /* each α is one column (two bytes), so '$' is column 4, not 6 */
    lex_all(&L, "\xCE\xB1\xCE\xB1 $");
    cr_assert_eq(gp_diag_count(L.c), 3);
    gp_diag_info d;
    gp_diag_get(L.c, 2, &d);
    cr_expect_eq(d.line, 1);
    cr_expect_eq(d.column, 4, "column %u", d.column);
    cr_expect_eq(d.end_column, 5, "end column %u", d.end_column);
    done(&L);
}

Test(lex, truncated_utf8_at_the_end_is_one_error_within_the_text)
{
    lexed L;
    const char *s = "x \xE2\x88";
    lex_all(&L, s);
    EXPECT(&L, "x <truncated>", {T_NAME, 0, 1}, {T_ERROR, 2, 2});
    cr_expect_eq(gp_diag_count(L.c), 1);
    done(&L);
}

Test(lex, lone_dot_is_an_unknown_character)
{
    lexed L;
    lex_all(&L, "a . b");
    EXPECT(&L, "a . b", {T_NAME, 0, 1}, {T_ERROR, 2, 1}, {T_NAME, 4, 1});
    cr_expect_eq(gp_diag_count(L.c), 1);
    done(&L);
}

Test(lex, double_star_is_one_diagnosed_error)
{
    lexed L;
    lex_all(&L, "x**2");
    EXPECT(&L, "x**2", {T_NAME, 0, 1}, {T_ERROR, 1, 2}, {T_NUM, 3, 1});
    cr_assert_eq(gp_diag_count(L.c), 1);
    gp_diag_info d;
    gp_diag_get(L.c, 0, &d);
    cr_expect_not_null(strstr(d.message, "'^'"), "message: %s", d.message);
    done(&L);
}

Test(lex, every_kind_has_a_description)
{
    for (int k = T_EOF; k <= T_ERROR; k++) {
        const char *s = lex_kind_str((tok_kind)k);
        cr_expect_not_null(s);
        cr_expect_gt(strlen(s), 0, "kind %d", k);
        for (int j = T_EOF; j < k; j++)
            cr_expect_str_neq(s, lex_kind_str((tok_kind)j), "kinds %d and %d read the same", j, k);
    }
}

/*
 * lex.c -- the tokenizer.
 *
 * Numbers are scanned here but converted to exact rationals by the parser;
 * a '.' belongs to a number only when a digit follows, so `1..3` is a range.
 * The lexer keeps the bracket depth so that a newline inside ( ) or [ ]
 * does not end the statement.  Unknown characters are diagnosed here, quoted
 * whole even when they are several UTF-8 bytes.
 */
#include "lex.h"

#include <string.h>

void lex_init(lexer *lx, gp_ctx *c, int src)
{
    lx->c = c;
    lx->src = src;
    lx->s = c->src[src].text;
    lx->n = c->src[src].len;
    lx->pos = 0;
    lx->depth = 0;
    lx->quiet_until = 0;
    /* a UTF-8 byte-order mark is not part of the text */
    if (lx->n >= 3 && memcmp(lx->s, "\xEF\xBB\xBF", 3) == 0)
        lx->pos = 3;
}

/* diagnose a token, unless a rewind already had it diagnosed */
#define LEX_ERROR(lx, off, len, ...)                                \
    do {                                                            \
        if ((off) >= (lx)->quiet_until)                             \
            diag_error((lx)->c, (lx)->src, (off), (len), __VA_ARGS__); \
    } while (0)

static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }
static int is_alpha(int ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

/* Length of the UTF-8 character at s, or 0 when the bytes there are not
   UTF-8 (a stray continuation byte, a bad lead byte, a truncated sequence). */
static size_t utf8_len(const char *s, size_t avail)
{
    unsigned char b = (unsigned char)s[0];
    size_t n = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n == 0 || n > avail)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

token lex_next(lexer *lx)
{
    const char *s = lx->s;
    token t = {T_EOF, lx->n, 0};
    for (;;) {
        if (lx->pos >= lx->n) {
            t.off = lx->n;
            return t;
        }
        char ch = s[lx->pos];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v') {
            lx->pos++;
        } else if (ch == '#') {
            while (lx->pos < lx->n && s[lx->pos] != '\n')
                lx->pos++;
        } else if (ch == '\n') {
            lx->pos++;
            if (lx->depth == 0) {
                t.kind = T_NL;
                t.off = lx->pos - 1;
                t.len = 1;
                return t;
            }
        } else {
            break;
        }
    }
    size_t p = lx->pos;
    t.off = p;
    char ch = s[p];
    if (is_alpha(ch)) {
        while (p < lx->n && (is_alpha(s[p]) || is_digit(s[p]) || s[p] == '_'))
            p++;
        t.kind = T_NAME;
    } else if (is_digit(ch) || (ch == '.' && p + 1 < lx->n && is_digit(s[p + 1]))) {
        while (p < lx->n && is_digit(s[p]))
            p++;
        if (p + 1 < lx->n && s[p] == '.' && is_digit(s[p + 1])) {
            p++;
            while (p < lx->n && is_digit(s[p]))
                p++;
        }
        int bad_exp = 0;
        if (p < lx->n && (s[p] == 'e' || s[p] == 'E')) {
            size_t q = p + 1;
            if (q < lx->n && (s[q] == '+' || s[q] == '-'))
                q++;
            if (q < lx->n && is_digit(s[q])) {
                while (q < lx->n && is_digit(s[q]))
                    q++;
                p = q;
            } else if (q >= lx->n || !(is_alpha(s[q]) || s[q] == '_')) {
                bad_exp = 1; /* 1e, 1e+ : an exponent without digits */
                p = q;
            }
        }
        if (bad_exp) {
            LEX_ERROR(lx, t.off, p - t.off, "malformed number '%.*s' (an exponent needs digits: 1e3, 1e-3)",
                       (int)(p - t.off), s + t.off);
            t.kind = T_ERROR;
        } else if (p + 1 < lx->n && s[p] == '.' && is_digit(s[p + 1])) {
            /* 1.2.3: a second decimal point */
            while (p < lx->n && (is_digit(s[p]) || s[p] == '.'))
                p++;
            LEX_ERROR(lx, t.off, p - t.off, "malformed number '%.*s'", (int)(p - t.off), s + t.off);
            t.kind = T_ERROR;
        } else if (p < lx->n && (is_alpha(s[p]) || s[p] == '_')) {
            size_t q = p;
            while (q < lx->n && (is_alpha(s[q]) || is_digit(s[q]) || s[q] == '_'))
                q++;
            LEX_ERROR(lx, t.off, q - t.off,
                       "malformed number '%.*s' (a name must start with a letter)",
                       (int)(q - t.off), s + t.off);
            p = q;
            t.kind = T_ERROR;
        } else {
            t.kind = T_NUM;
        }
    } else if (ch == '"') {
        p++;
        while (p < lx->n && s[p] != '"' && s[p] != '\n') {
            if (s[p] == '\\' && p + 1 < lx->n && s[p + 1] != '\n')
                p++;
            p++;
        }
        if (p >= lx->n || s[p] != '"') {
            LEX_ERROR(lx, t.off, p - t.off, "unterminated string (expected '\"' before the end of the line)");
            t.kind = T_ERROR;
        } else {
            p++;
            t.kind = T_STR;
            /* a string is printed in titles and file names: no control
               characters, and UTF-8 only */
            for (size_t q = t.off + 1; q + 1 < p;) {
                unsigned char c0 = (unsigned char)s[q];
                size_t n = utf8_len(s + q, p - 1 - q);
                unsigned cp = n == 1 ? c0 : n == 2 ? ((c0 & 0x1Fu) << 6 | ((unsigned char)s[q + 1] & 0x3Fu)) : 0x100;
                if (n == 0) {
                    LEX_ERROR(lx, q, 1, "byte 0x%02X in a string (a case file is UTF-8 text)", c0);
                    t.kind = T_ERROR;
                    break;
                }
                if ((cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp < 0xA0)) {
                    LEX_ERROR(lx, q, n, "control character U+%04X in a string", cp);
                    t.kind = T_ERROR;
                    break;
                }
                q += n;
            }
        }
    } else {
        p++;
        switch (ch) {
        case '+': t.kind = T_PLUS; break;
        case '-': t.kind = T_MINUS; break;
        case '*':
            t.kind = T_STAR;
            if (p < lx->n && s[p] == '*') {
                LEX_ERROR(lx, t.off, 2, "'**' is not an operator here: write powers with '^'");
                p++;
                t.kind = T_ERROR;
            }
            break;
        case '/': t.kind = T_SLASH; break;
        case '^': t.kind = T_CARET; break;
        case '(': t.kind = T_LP; lx->depth++; break;
        case '[': t.kind = T_LB; lx->depth++; break;
        case ')': t.kind = T_RP; if (lx->depth > 0) lx->depth--; break;
        case ']': t.kind = T_RB; if (lx->depth > 0) lx->depth--; break;
        case ',': t.kind = T_COMMA; break;
        case '=':
            t.kind = T_EQ;
            if (p < lx->n && s[p] == '=') {
                p++;
                t.kind = T_EQEQ;
            }
            break;
        case '.':
            if (p < lx->n && s[p] == '.') {
                p++;
                t.kind = T_DOTDOT;
                break;
            }
            /* fall through */
        default: {
            size_t n = utf8_len(s + t.off, lx->n - t.off);
            if (n == 0) {
                /* not UTF-8: name the byte, never copy it into a message; a
                   broken sequence (lead byte and its continuations) is one fault */
                size_t q = t.off + 1;
                while (q < lx->n && ((unsigned char)s[q] & 0xC0) == 0x80)
                    q++;
                LEX_ERROR(lx, t.off, q - t.off, "unexpected byte 0x%02X (a case file is UTF-8 text)", (unsigned char)ch);
                p = q;
                t.kind = T_ERROR;
                break;
            }
            p = t.off + n;
            const char *hint = "";
            if (n == 3 && memcmp(s + t.off, "\xE2\x88\x82", 3) == 0)
                hint = " (write a derivative as dC/dw)";
            else if (n == 2 && memcmp(s + t.off, "\xC2\xB7", 2) == 0)
                hint = " (write a product with '*')";
            else if (n == 3 && memcmp(s + t.off, "\xE2\x88\x92", 3) == 0)
                hint = " (write a minus sign as '-')";
            if (n == 1 && (ch < 0x20 || ch == 0x7F)) /* a control character: named, never copied */
                LEX_ERROR(lx, t.off, n, "unexpected control character U+%04X", (unsigned)ch);
            else if (n == 2 && (unsigned char)ch == 0xC2 && (unsigned char)s[t.off + 1] < 0xA0)
                LEX_ERROR(lx, t.off, n, "unexpected control character U+%04X", (unsigned)(unsigned char)s[t.off + 1]);
            else
                LEX_ERROR(lx, t.off, n, "unexpected character '%.*s'%s", (int)n, s + t.off, hint);
            t.kind = T_ERROR;
        }
        }
    }
    t.len = p - t.off;
    lx->pos = p;
    return t;
}

const char *lex_kind_str(tok_kind k)
{
    switch (k) {
    case T_EOF: return "end of file";
    case T_NL: return "end of line";
    case T_NAME: return "a name";
    case T_NUM: return "a number";
    case T_STR: return "a string";
    case T_PLUS: return "'+'";
    case T_MINUS: return "'-'";
    case T_STAR: return "'*'";
    case T_SLASH: return "'/'";
    case T_CARET: return "'^'";
    case T_LP: return "'('";
    case T_RP: return "')'";
    case T_LB: return "'['";
    case T_RB: return "']'";
    case T_COMMA: return "','";
    case T_EQ: return "'='";
    case T_EQEQ: return "'=='";
    case T_DOTDOT: return "'..'";
    default: return "an invalid token";
    }
}

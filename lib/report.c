/*
 * report.c -- one document per case (`gradproof report`): the title, the
 * network as written, the derivative table, the three-route check, every
 * claim's verdict and the symmetry report, in Markdown, LaTeX or JSON.
 *
 * The analyses are the modules' own (check_run, claims_judge,
 * symmetry_run) and so are most renderings; this file lays them out as
 * one document and writes the parts that exist only here: the network's
 * statements and the table of claims.
 */
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "claims.h"
#include "ctx.h"
#include "print.h"
#include "render.h"
#include "symmetry.h"

typedef struct rdoc {
    buf *b;
    gp_format fmt;       /* GP_FMT_MARKDOWN or GP_FMT_LATEX */
} rdoc;

static int is_tex(const rdoc *d)
{
    return d->fmt == GP_FMT_LATEX;
}

/* Prose, escaped for the format. */
static void text(rdoc *d, const char *s)
{
    if (is_tex(d))
        render_latex_text(d->b, s);
    else
        render_md_text(d->b, s);
}

static void section(rdoc *d, const char *title)
{
    if (is_tex(d)) {
        buf_puts(d->b, "\\section{");
        render_latex_text(d->b, title);
        buf_puts(d->b, "}\n\n");
    } else {
        buf_printf(d->b, "## %s\n\n", title);
    }
}

static const gp_source *case_source(const gp_case *cs)
{
    return cs->src >= 0 && cs->src < cs->c->nsrc ? &cs->c->src[cs->src] : NULL;
}

/* A statement as written, comments and surrounding blanks left out. */
static void statement_text(buf *out, const gp_source *src, const stmt *st)
{
    const char *s = src->text + st->off;
    size_t n = st->len;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    buf_putn(out, s, n);
}

static int is_network_stmt(stmt_kind k)
{
    return k == S_INPUT || k == S_TARGET || k == S_PARAM || k == S_CONST || k == S_DEF || k == S_LOSS ||
           k == S_OUTPUT;
}

/* The network: how many of each, then its statements as written. */
static void write_network(rdoc *d, const gp_case *cs)
{
    const gp_source *src = case_source(cs);
    buf t = BUF_INIT;
    buf_printf(&t, "%zu param%s; ", cs->nparams, cs->nparams == 1 ? "" : "s");
    if (cs->has_data)
        buf_printf(&t, "%zu data sample%s.", cs->nrows, cs->nrows == 1 ? "" : "s");
    else
        buf_puts(&t, "no data: the checks use seeded random samples.");
    buf_puts(&t, " The network's statements, as written:");
    text(d, t.s ? t.s : "");
    if (t.oom)
        d->b->oom = 1;
    buf_free(&t);
    buf_puts(d->b, is_tex(d) ? "\n\\begin{verbatim}\n" : "\n\n```\n");
    for (size_t k = 0; src && k < cs->syn.n; k++) {
        const stmt *st = &cs->syn.s[k];
        if (!is_network_stmt(st->kind))
            continue;
        buf line = BUF_INIT;
        statement_text(&line, src, st);
        /* verbatim in LaTeX takes no Unicode: the case language is ASCII,
           but a title or a comment could carry some */
        for (const unsigned char *p = (const unsigned char *)(line.s ? line.s : ""); *p; p++)
            buf_putc(d->b, is_tex(d) && *p >= 0x80 ? '?' : (char)*p);
        buf_putc(d->b, '\n');
        if (line.oom)
            d->b->oom = 1;
        buf_free(&line);
    }
    buf_puts(d->b, is_tex(d) ? "\\end{verbatim}\n\n" : "```\n\n");
}

/* The derivative table: the derive renderer's own, its heading dropped. */
static gp_status write_derivatives(rdoc *d, gp_case *cs)
{
    gp_derive_opts o = {d->fmt, 0, NULL, 0};
    char *t = NULL;
    gp_status st = gp_derive_render(cs, &o, &t);
    if (st != GP_OK)
        return st;
    const char *body = t;
    if (!is_tex(d) && !strncmp(body, "## ", 3)) {
        const char *blank = strstr(body, "\n\n");
        body = blank ? blank + 2 : body;
    }
    if (is_tex(d)) {
        buf_puts(d->b, "\\begingroup\\small\n");
        /* the comment line the renderer starts with stays: it is LaTeX */
        buf_puts(d->b, body);
        buf_puts(d->b, "\\endgroup\n\n");
    } else {
        buf_puts(d->b, body);
        buf_putc(d->b, '\n');
    }
    gp_free(t);
    return GP_OK;
}

static gp_status write_check(rdoc *d, gp_case *cs, const check_report *R, const check_opts *o)
{
    if (is_tex(d))
        return check_write(d->b, cs, R, o, GP_FMT_LATEX);
    buf_puts(d->b, "```\n");
    gp_status st = check_write(d->b, cs, R, o, GP_FMT_TEXT);
    buf_puts(d->b, "```\n\n");
    return st;
}

static const char *verdict_word(claim_verdict v)
{
    return v == CV_HOLDS ? "holds" : v == CV_FAILS ? "fails" : "unknown";
}

/* Case-language text in code: `...` in Markdown, \texttt in LaTeX. */
static void code(rdoc *d, const char *s)
{
    if (is_tex(d)) {
        buf_puts(d->b, "\\texttt{");
        render_latex_text(d->b, s);
        buf_putc(d->b, '}');
    } else {
        size_t ticks = strstr(s, "`") ? 2 : 1;
        for (size_t k = 0; k < ticks; k++)
            buf_putc(d->b, '`');
        buf_puts(d->b, ticks > 1 ? " " : "");
        buf_puts(d->b, s);
        buf_puts(d->b, ticks > 1 ? " " : "");
        for (size_t k = 0; k < ticks; k++)
            buf_putc(d->b, '`');
    }
}

/* One claim: its line, text and verdict, then what refutes it. */
static void write_claim(rdoc *d, const gp_case *cs, size_t i, const claim_result *r)
{
    const claim *cl = &cs->claims[i];
    buf t = BUF_INIT;
    if (is_tex(d))
        buf_printf(d->b, "\\item[line %u] ", cl->line);
    else
        buf_printf(d->b, "- line %u: ", cl->line);
    code(d, cl->text ? cl->text : "");
    buf_printf(d->b, is_tex(d) ? " --- \\textbf{%s} (%s" : " — **%s** (%s", verdict_word(r->verdict),
               r->method == CM_EXACT ? "exact" : "numeric");
    if (r->method == CM_NUMERIC && r->npoints)
        buf_printf(d->b, ", %u points", r->npoints);
    buf_puts(d->b, ")");
    if (r->verdict == CV_UNKNOWN && r->reason) {
        text(d, ": ");
        text(d, r->reason);
    }
    if (r->has_cx) {
        text(d, ". At ");
        code(d, r->cx_point ? r->cx_point : "");
        if (r->cx_data) {
            text(d, ", ");
            text(d, r->cx_data);
        }
        buf_printf(&t, ": claimed %s, true %s%s", r->claimed ? r->claimed : "?", r->actual ? r->actual : "?",
                   r->cx_exact ? "" : " (15 digits)");
        text(d, t.s ? t.s : "");
    }
    if (r->diagnosis) {
        text(d, ". Diagnosis: ");
        text(d, r->diagnosis);
    }
    text(d, ".");
    buf_putc(d->b, '\n');
    if (t.oom)
        d->b->oom = 1;
    buf_free(&t);
}

static void write_claims(rdoc *d, const gp_case *cs, const claim_result *res, const gp_claims_summary *S)
{
    if (!cs->nclaims) {
        text(d, "The case makes no claims.");
        buf_puts(d->b, "\n\n");
        return;
    }
    buf t = BUF_INIT;
    buf_printf(&t, "%zu claim%s: %zu hold%s, %zu fail%s", S->claims, S->claims == 1 ? "" : "s", S->hold,
               S->hold == 1 ? "s" : "", S->fail, S->fail == 1 ? "s" : "");
    if (S->unknown)
        buf_printf(&t, ", %zu undecided", S->unknown);
    buf_printf(&t, ". Exact verdicts are proofs (the two sides are equal as rational functions, or a counterexample "
                   "in exact arithmetic); numeric ones compare the two sides at seeded points in MPFR at %d bits, "
                   "within 2^-%d·(1 + max(|claim|, |true|)).", CLAIMS_PREC, CLAIMS_TOL_EXP);
    text(d, t.s ? t.s : "");
    if (t.oom)
        d->b->oom = 1;
    buf_free(&t);
    buf_puts(d->b, is_tex(d) ? "\n\n\\begin{description}\n" : "\n\n");
    for (size_t i = 0; i < cs->nclaims; i++)
        write_claim(d, cs, i, &res[i]);
    buf_puts(d->b, is_tex(d) ? "\\end{description}\n\n" : "\n");
}

static void latex_preamble(buf *b, const gp_case *cs)
{
    buf_puts(b, "\\documentclass[11pt]{article}\n"
                "\\usepackage[T1]{fontenc}\n"
                "\\usepackage{lmodern}\n"
                "\\usepackage{amsmath,amssymb}\n"
                "\\usepackage{longtable}\n"
                "\\usepackage[margin=2cm]{geometry}\n"
                "\\allowdisplaybreaks\n"
                "\\title{");
    render_latex_text(b, cs->title && *cs->title ? cs->title : "gradproof report");
    buf_puts(b, "}\n\\author{gradproof " GP_VERSION_STRING "}\n\\date{}\n\\begin{document}\n\\maketitle\n\\sloppy\n\n");
}

/* Markdown and LaTeX. */
static gp_status write_doc(rdoc *d, gp_case *cs, const gp_report_opts *opts, const check_report *CR,
                           const check_opts *co, const claim_result *res, const gp_claims_summary *S,
                           const sym_report *SR)
{
    const gp_source *src = case_source(cs);
    const char *file = src && src->name ? src->name : "-";
    gp_status st;
    if (is_tex(d)) {
        if (!opts->fragment)
            latex_preamble(d->b, cs);
        buf_puts(d->b, "% written by gradproof " GP_VERSION_STRING " from ");
        for (const char *p = file; *p; p++)
            buf_putc(d->b, *p == '\n' ? ' ' : *p);
        buf_puts(d->b, "\n\n");
    } else {
        buf_puts(d->b, "# ");
        text(d, cs->title && *cs->title ? cs->title : file);
        buf_puts(d->b, "\n\n");
        text(d, "The report of gradproof " GP_VERSION_STRING " on ");
        code(d, file);
        text(d, ": the network, the derivative of the loss for every param, the three-route check, the claims and "
                "the symmetries.");
        buf_puts(d->b, "\n\n");
        if (opts->picture) {
            buf_puts(d->b, "![the network](");
            for (const char *p = opts->picture; *p; p++)
                buf_printf(d->b, strchr(" ()<>", *p) ? "%%%02X" : "%c", (unsigned char)*p);
            buf_puts(d->b, ")\n\n");
        }
    }
    section(d, "The network");
    write_network(d, cs);
    section(d, "Derivatives");
    if ((st = write_derivatives(d, cs)) != GP_OK)
        return st;
    section(d, "Check: symbolic, finite differences, backprop");
    if ((st = write_check(d, cs, CR, co)) != GP_OK)
        return st;
    section(d, "Claims");
    write_claims(d, cs, res, S);
    section(d, "Symmetry and over-parameterisation");
    symmetry_write_doc(d->b, cs, SR, is_tex(d));
    if (is_tex(d) && !opts->fragment)
        buf_puts(d->b, "\n\\end{document}\n");
    return GP_OK;
}

/* A member whose value is a JSON document another renderer wrote. */
static void json_member(buf *b, const char *name, const char *doc)
{
    size_t n = strlen(doc);
    while (n && (doc[n - 1] == '\n' || doc[n - 1] == ' '))
        n--;
    buf_printf(b, ",\n \"%s\": ", name);
    buf_putn(b, doc, n);
}

static gp_status write_json(buf *b, gp_case *cs, const check_report *CR, const check_opts *co,
                            const claim_result *res, const gp_claims_summary *S, const sym_report *SR)
{
    const gp_source *src = case_source(cs);
    buf_printf(b, "{\"ok\": %s, \"gradproof\": \"" GP_VERSION_STRING "\", \"case\": ",
               CR->ok && !S->fail && !S->unknown ? "true" : "false");
    buf_json_str(b, src && src->name ? src->name : "-");
    buf_puts(b, ", \"title\": ");
    buf_json_str(b, cs->title ? cs->title : "");
    buf_puts(b, ",\n \"network\": [");
    size_t n = 0;
    for (size_t k = 0; src && k < cs->syn.n; k++) {
        const stmt *st = &cs->syn.s[k];
        if (!is_network_stmt(st->kind))
            continue;
        buf line = BUF_INIT;
        statement_text(&line, src, st);
        buf_puts(b, n++ ? ", " : "");
        buf_json_str(b, line.s ? line.s : "");
        buf_free_into(b, &line);
    }
    buf_puts(b, "]");
    gp_derive_opts dopt = {GP_FMT_JSON, 0, NULL, 0};
    char *t = NULL;
    gp_status st = gp_derive_render(cs, &dopt, &t);
    if (st != GP_OK)
        return st;
    json_member(b, "derive", t);
    gp_free(t);
    buf_puts(b, ",\n \"check\": ");
    if ((st = check_write(b, cs, CR, co, GP_FMT_JSON)) != GP_OK)
        return st;
    buf_putc(b, '}');
    buf_puts(b, ",\n \"claims\": ");
    claims_write_json(b, cs, res, S, CLAIMS_POINTS);
    buf_putc(b, '}');
    buf_puts(b, ",\n \"symmetry\": ");
    symmetry_write_json(b, cs, SR);
    buf_putc(b, '}');
    buf_puts(b, ",\n \"diagnostics\": ");
    render_json_diagnostics(b, cs->c);
    buf_puts(b, "}\n");
    return GP_OK;
}

gp_status gp_report_render(gp_case *cs, const gp_report_opts *opts, char **out, gp_report_summary *sum)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    if (sum)
        memset(sum, 0, sizeof *sum);
    if (cs->loss == GP_NIL)
        return GP_EINPUT;
    ctx_stack_mark(c);
    gp_format fmt = opts->format == GP_FMT_LATEX || opts->format == GP_FMT_JSON ? opts->format : GP_FMT_MARKDOWN;
    check_opts co = {.seed = opts->seed};
    check_resolve(cs, &co);
    check_report CR;
    memset(&CR, 0, sizeof CR);
    sym_report SR;
    memset(&SR, 0, sizeof SR);
    gp_claims_summary S = {0, 0, 0, 0};
    claim_result *res = calloc(cs->nclaims ? cs->nclaims : 1, sizeof *res);
    if (!res)
        return GP_ENOMEM;
    gp_status st = check_run(cs, &co, &CR);
    if (st == GP_OK) {
        claims_opts clo = {0, opts->seed};
        st = claims_judge(cs, &clo, res);
        claims_summarise(res, cs->nclaims, &S);
    }
    if (st == GP_OK) {
        sym_opts so = {opts->seed, NULL, 0, 0};
        st = symmetry_run(cs, &so, &SR);
    }
    buf b = BUF_INIT;
    if (st == GP_OK) {
        if (fmt == GP_FMT_JSON) {
            st = write_json(&b, cs, &CR, &co, res, &S, &SR);
        } else {
            rdoc d = {&b, fmt};
            st = write_doc(&d, cs, opts, &CR, &co, res, &S, &SR);
        }
    }
    if (st == GP_OK && !(*out = buf_take(&b)))
        st = GP_ENOMEM;
    buf_free(&b);
    if (sum && st == GP_OK)
        *sum = (gp_report_summary){CR.ok, S.fail, S.unknown};
    for (size_t i = 0; i < cs->nclaims; i++)
        claim_result_free(&res[i]);
    free(res);
    check_report_free(&CR);
    sym_report_free(&SR);
    if (st == GP_OK && c->status != GP_OK)
        st = c->status;
    return st;
}

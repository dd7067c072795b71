/*
 * render.c -- the derivative table of a case, in four formats.
 *
 * The derivatives are computed once (reverse mode gives all of them in one
 * sweep) and written in the case's own names: a labelled node prints as its
 * name, and the names a table uses are listed after it with their
 * definitions ("where ..."), so the table reads like a derivation on paper.
 * With expand, names are not used: rational derivatives become canonical
 * polynomials (algebra.c), the others are written out in full.
 */
#include "render.h"

#include <stdlib.h>
#include <string.h>

#include "algebra.h"
#include "derive.h"
#include "diag.h"
#include "print.h"

long render_find_param(gp_case *cs, const char *name)
{
    gp_ctx *c = cs->c;
    size_t n = strcspn(name, "[");
    long si = build_lookup(cs, name, n);
    long idx[GP_MAX_INDEX];
    uint32_t ni = 0;
    const char *p = name + n;
    int ok = 1;
    while (*p == '[' && ni < GP_MAX_INDEX) {
        char *end;
        idx[ni++] = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != ']') {
            ok = 0;
            break;
        }
        p = end + 1;
    }
    if (*p)
        ok = 0;
    if (si < 0 || !ok) {
        const char *best = NULL;
        unsigned bd = 3;
        for (size_t i = 0; i < cs->nsym; i++) {
            if (cs->sym[i].kind != SYM_PARAM)
                continue;
            unsigned d = diag_edit_distance(name, n, cs->sym[i].name, strlen(cs->sym[i].name), 2);
            if (d < bd) {
                bd = d;
                best = cs->sym[i].name;
            }
        }
        if (!ok)
            diag_error(c, -1, 0, 0, "malformed param name '%s' (write it as in the case, e.g. w111 or p[1][2])", name);
        else if (best)
            diag_error(c, -1, 0, 0, "unknown param '%s' (did you mean '%s'?)", name, best);
        else
            diag_error(c, -1, 0, 0, "unknown param '%s'", name);
        return -1;
    }
    const symbol *s = &cs->sym[si];
    if (s->kind != SYM_PARAM) {
        static const char *const w[] = {"an input", "a target", "a param", "a constant", "a definition", "the loss"};
        diag_error(c, -1, 0, 0, "'%s' is %s, not a param", name, w[s->kind]);
        return -1;
    }
    if (ni != s->nidx) {
        diag_error(c, -1, 0, 0, "'%s' takes %u ind%s, written with %u", s->name, s->nidx, s->nidx == 1 ? "ex" : "ices",
                   ni);
        return -1;
    }
    size_t off = 0;
    for (uint32_t k = 0; k < ni; k++) {
        if (idx[k] < s->lo[k] || idx[k] > s->hi[k]) {
            diag_error(c, -1, 0, 0, "index %ld out of range %d..%d for '%s'", idx[k], s->lo[k], s->hi[k], s->name);
            return -1;
        }
        off = off * (size_t)(s->hi[k] - s->lo[k] + 1) + (size_t)(idx[k] - s->lo[k]);
    }
    return (long)c->node[cs->elem[s->first + off].node].pay;
}

void render_md_text(buf *out, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\|*_`[]<>", *s))
            buf_putc(out, '\\');
        buf_putc(out, *s);
    }
}

/* Unicode signs of the text renderers and their LaTeX math. */
static const struct {
    const char *u, *tex;
} latex_signs[] = {
    {"−", "-"}, {"·", "\\cdot"}, {"∂", "\\partial"}, {"≡", "\\equiv"}, {"≤", "\\le"}, {"≥", "\\ge"},
    {"≈", "\\approx"}, {"≠", "\\ne"}, {"↦", "\\mapsto"}, {"→", "\\to"}, {"×", "\\times"}, {"±", "\\pm"},
    {"′", "'"}, {"∑", "\\sum"}, {"√", "\\surd"}, {"∞", "\\infty"}, {"‖", "\\|"}, {"∇", "\\nabla"},
    {"∈", "\\in"}, {"∘", "\\circ"}, {"ŷ", "\\hat{y}"}, {"α", "\\alpha"}, {"β", "\\beta"},
    {"γ", "\\gamma"}, {"δ", "\\delta"}, {"ε", "\\epsilon"}, {"ζ", "\\zeta"}, {"η", "\\eta"},
    {"θ", "\\theta"}, {"ι", "\\iota"}, {"κ", "\\kappa"}, {"λ", "\\lambda"}, {"μ", "\\mu"}, {"ν", "\\nu"},
    {"ξ", "\\xi"}, {"π", "\\pi"}, {"ρ", "\\rho"}, {"σ", "\\sigma"}, {"τ", "\\tau"}, {"υ", "\\upsilon"},
    {"φ", "\\phi"}, {"χ", "\\chi"}, {"ψ", "\\psi"}, {"ω", "\\omega"}, {"Γ", "\\Gamma"}, {"Δ", "\\Delta"},
    {"Θ", "\\Theta"}, {"Λ", "\\Lambda"}, {"Σ", "\\Sigma"}, {"Φ", "\\Phi"}, {"Ψ", "\\Psi"}, {"Ω", "\\Omega"},
};

/* Length of a run of sub- or superscript digits at s (0 if none); their
   ASCII digits go to out when it is not NULL. */
static size_t script_run(const unsigned char *s, int super, buf *out)
{
    size_t n = 0;
    for (;;) {
        int d = -1;
        if (!super && s[n] == 0xE2 && s[n + 1] == 0x82 && s[n + 2] >= 0x80 && s[n + 2] <= 0x89)
            d = s[n + 2] - 0x80, n += 3;
        else if (super && s[n] == 0xC2 && (s[n + 1] == 0xB2 || s[n + 1] == 0xB3 || s[n + 1] == 0xB9))
            d = s[n + 1] == 0xB2 ? 2 : s[n + 1] == 0xB3 ? 3 : 1, n += 2;
        else if (super && s[n] == 0xE2 && s[n + 1] == 0x81 && (s[n + 2] == 0xB0 || (s[n + 2] >= 0xB4 && s[n + 2] <= 0xB9)))
            d = s[n + 2] == 0xB0 ? 0 : s[n + 2] - 0xB0, n += 3;
        else
            return n;
        if (out)
            buf_putc(out, (char)('0' + d));
    }
}

/* Inline math opened and closed lazily, so that neighbouring pieces share
   one pair of dollars (never "$$", which TeX reads as display math). */
static void math_on(buf *out, int *m)
{
    if (!*m)
        buf_putc(out, '$');
    *m = 1;
}

static void math_off(buf *out, int *m)
{
    if (*m)
        buf_putc(out, '$');
    *m = 0;
}

void render_latex_text(buf *out, const char *utf8)
{
    const unsigned char *s = (const unsigned char *)utf8;
    int m = 0;
    while (*s) {
        size_t n;
        if (((*s | 32) >= 'a' && (*s | 32) <= 'z') && s[1] == 0xCC && s[2] == 0x82) {
            /* a letter with a combining hat (U+0302) */
            math_on(out, &m);
            buf_printf(out, "\\hat{%c}", *s);
            s += 3;
        } else if ((n = script_run(s, 0, NULL)) || (n = script_run(s, 1, NULL))) {
            int super = !script_run(s, 0, NULL);
            math_on(out, &m);
            buf_puts(out, super ? "^{" : "_{");
            script_run(s, super, out);
            buf_putc(out, '}');
            s += n;
        } else if (*s < 0x80) {
            math_off(out, &m);
            switch (*s) {
            case '#': case '$': case '%': case '&': case '_': case '{': case '}':
                buf_putc(out, '\\');
                buf_putc(out, (char)*s);
                break;
            case '~': buf_puts(out, "\\textasciitilde{}"); break;
            case '^': buf_puts(out, "\\textasciicircum{}"); break;
            case '\\': buf_puts(out, "\\textbackslash{}"); break;
            case '<': buf_puts(out, "\\textless{}"); break;
            case '>': buf_puts(out, "\\textgreater{}"); break;
            case '|': buf_puts(out, "\\textbar{}"); break;
            default: buf_putc(out, (char)*s);
            }
            s++;
        } else {
            size_t len = (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : (*s & 0xF8) == 0xF0 ? 4 : 1;
            for (size_t k = 1; k < len; k++)
                if ((s[k] & 0xC0) != 0x80)
                    len = k;
            const char *tex = NULL;
            for (size_t k = 0; k < sizeof latex_signs / sizeof latex_signs[0] && !tex; k++)
                if (strlen(latex_signs[k].u) == len && !memcmp(latex_signs[k].u, s, len))
                    tex = latex_signs[k].tex;
            if (tex) {
                math_on(out, &m);
                buf_puts(out, tex);
                /* a control word must not run into a following letter */
                if (tex[0] == '\\' && ((tex[1] | 32) >= 'a' && (tex[1] | 32) <= 'z'))
                    buf_putc(out, ' ');
            } else {
                math_off(out, &m);
                if (len == 3 && s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0xA6)
                    buf_puts(out, "\\ldots{}");
                else if (len == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x93 || s[2] == 0x94))
                    buf_puts(out, s[2] == 0x93 ? "--" : "---");
                else if (len == 2 && s[0] == 0xC2 && s[1] == 0xA0)
                    buf_putc(out, '~');
                else
                    buf_putc(out, '?');
            }
            s += len;
        }
    }
    math_off(out, &m);
}

void render_json_diagnostics(buf *out, const gp_ctx *c)
{
    buf_puts(out, "[");
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        gp_diag_info d;
        gp_diag_get(c, i, &d);
        buf_puts(out, i ? ", {" : "{");
        buf_printf(out, "\"severity\": \"%s\", ", d.severity == GP_SEV_ERROR ? "error" : d.severity == GP_SEV_WARNING ? "warning" : "note");
        buf_puts(out, "\"file\": ");
        if (d.file)
            buf_json_str(out, d.file);
        else
            buf_puts(out, "null");
        buf_printf(out, ", \"line\": %u, \"column\": %u, \"end_column\": %u, \"message\": ", d.line, d.column, d.end_column);
        buf_json_str(out, d.message);
        buf_puts(out, "}");
    }
    buf_puts(out, "]");
}

/* ---- one formula in a syntax ---- */

typedef struct formula {
    char *text, *latex, *expr; /* malloc */
} formula;

static void formula_free(formula *f)
{
    free(f->text);
    free(f->latex);
    free(f->expr);
}

/* write id in syntax syn; labelled names are marked in used[] */
static gp_status write_one(gp_ctx *c, gp_id id, pr_syntax syn, int expand, unsigned char *used, const uint32_t *aux,
                           char **out)
{
    buf b = BUF_INIT;
    gp_status st = GP_OK;
    if (expand) {
        st = algebra_expand_print(&b, c, id, syn);
        if (st == GP_EINPUT) {
            /* not rational: write it out without names */
            st = GP_OK;
            pr_opts o = {syn, 0, (size_t)64 << 20, NULL, NULL};
            if (!print_expr(&b, c, id, &o)) {
                diag_error(c, -1, 0, 0, "the expanded form is larger than 64 MiB; show it with the case's names instead");
                st = GP_ELIMIT;
            }
        }
    } else {
        pr_opts o = {syn, 1, 0, used, aux};
        print_expr(&b, c, id, &o);
    }
    if (st != GP_OK) {
        buf_free(&b);
        return st;
    }
    *out = buf_take(&b);
    return *out ? GP_OK : GP_ENOMEM;
}

static gp_status write_formula(gp_ctx *c, gp_id id, int expand, unsigned char *used, const uint32_t *aux, formula *f)
{
    gp_status st = write_one(c, id, PR_TEXT, expand, used, aux, &f->text);
    if (st == GP_OK)
        st = write_one(c, id, PR_LATEX, expand, NULL, aux, &f->latex);
    if (st == GP_OK)
        st = write_one(c, id, PR_CASE, expand, NULL, aux, &f->expr);
    return st;
}

static char *name_str(const gp_name *nm, pr_syntax syn)
{
    buf b = BUF_INIT;
    print_name(&b, nm, syn);
    return buf_take(&b);
}


static void pad(buf *out, size_t w, size_t to)
{
    for (; w < to; w++)
        buf_putc(out, ' ');
}

static const char *level_words(int lv)
{
    return lv == GP_LV_DATASET ? "over the data set" : lv == GP_LV_SAMPLE ? "per sample" : "independent of the data";
}

gp_status gp_derive_render(gp_case *cs, const gp_derive_opts *opts, char **out)
{
    gp_ctx *c = cs->c;
    *out = NULL;
    if (cs->loss == GP_NIL)
        return GP_EINPUT;
    /* which params */
    size_t np = opts->nwrt ? opts->nwrt : cs->nparams;
    uint32_t *leaf = malloc((np ? np : 1) * sizeof *leaf);
    gp_id *wrt = calloc(np ? np : 1, sizeof *wrt);
    gp_id *d = malloc((np ? np : 1) * sizeof *d);
    formula *df = calloc(np ? np : 1, sizeof *df);
    size_t ndefs_used = 0;
    formula *deff = NULL, lossf = {0}, *auxf = NULL;
    uint32_t *aux = NULL;
    gp_id *auxid = NULL;
    size_t naux = 0;
    uint32_t *defs_used = NULL;
    unsigned char *used = NULL;
    buf o = BUF_INIT;
    gp_status st = GP_OK;
    if (!leaf || !wrt || !d || !df) {
        st = GP_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        long li = opts->nwrt ? render_find_param(cs, opts->wrt[i]) : (long)cs->params[i];
        if (li < 0) {
            st = GP_EINPUT;
            continue;
        }
        leaf[i] = (uint32_t)li;
        wrt[i] = c->leaf[li].node;
    }
    if (st != GP_OK)
        goto done;
    st = derive_grad(c, cs->loss, np, wrt, d);
    if (st != GP_OK)
        goto done;
    /* sizes: the forward DAG, and the DAG that holds the loss and its gradient */
    unsigned char *mark = calloc(c->nnode, 1);
    if (!mark) {
        st = GP_ENOMEM;
        goto done;
    }
    size_t nfwd = dag_reach(c, 1, &cs->loss, mark);
    memset(mark, 0, c->nnode);
    gp_id *roots = malloc((np + 1) * sizeof *roots);
    if (!roots) {
        free(mark);
        st = GP_ENOMEM;
        goto done;
    }
    roots[0] = cs->loss;
    memcpy(roots + 1, d, np * sizeof *d);
    size_t nall = dag_reach(c, np + 1, roots, mark);
    free(roots);
    free(mark);

    used = calloc(c->nnode, 1);
    if (!used) {
        st = GP_ENOMEM;
        goto done;
    }
    /* a derivative too large to write out as a tree gets auxiliary names
       for its big shared parts (the budget keeps small cases inline) */
    aux = calloc(c->nnode, sizeof *aux);
    if (!aux) {
        st = GP_ENOMEM;
        goto done;
    }
    if (!opts->expand)
        naux = print_choose_aux(c, np, d, 1, 50000 + 8 * nall, aux);
    auxid = malloc((naux ? naux : 1) * sizeof *auxid);
    auxf = calloc(naux ? naux : 1, sizeof *auxf);
    if (!auxid || !auxf) {
        st = GP_ENOMEM;
        goto done;
    }
    for (size_t id = 0; id < c->nnode; id++)
        if (aux[id])
            auxid[aux[id] - 1] = (gp_id)id;
    if ((st = write_formula(c, cs->loss, 0, used, NULL, &lossf)) != GP_OK)
        goto done;
    for (size_t i = 0; i < np && st == GP_OK; i++)
        st = write_formula(c, d[i], opts->expand, used, naux ? aux : NULL, &df[i]);
    for (size_t k = 0; k < naux && st == GP_OK; k++)
        st = write_formula(c, auxid[k], 0, used, aux, &auxf[k]);
    if (st != GP_OK)
        goto done;
    /* the definitions the table names, closed under their own uses */
    if (!opts->expand) {
        defs_used = malloc((cs->ndefs ? cs->ndefs : 1) * sizeof *defs_used);
        deff = calloc(cs->ndefs ? cs->ndefs : 1, sizeof *deff);
        if (!defs_used || !deff) {
            st = GP_ENOMEM;
            goto done;
        }
        for (size_t k = cs->ndefs; k-- > 0;) {
            gp_id id = cs->elem[cs->defs[k]].node;
            if (id == cs->loss || !used[id] || c->node[id].label == 0)
                continue;
            /* several names may share one node: only the one it is labelled with is shown */
            gp_name nm;
            build_elem_name(cs, cs->defs[k], &nm);
            const gp_name *ln = &c->label[c->node[id].label].name;
            if (strcmp(ln->base, nm.base) != 0 || ln->nidx != nm.nidx ||
                memcmp(ln->idx, nm.idx, nm.nidx * sizeof nm.idx[0]) != 0)
                continue;
            used[id] = 0; /* listed once */
            defs_used[ndefs_used] = cs->defs[k];
            if ((st = write_formula(c, id, 0, used, NULL, &deff[ndefs_used])) != GP_OK)
                goto done;
            ndefs_used++;
        }
    }
    /* names as strings */
    symbol *ls = &cs->sym[cs->loss_sym];
    gp_name lname = {ls->name, 0, {0}};
    char *lt = name_str(&lname, PR_TEXT), *ll = name_str(&lname, PR_LATEX);
    int lv = c->node[cs->loss].level;
    const char *title = cs->title[0] ? cs->title : NULL;
    char **pt = calloc(np ? np : 1, sizeof *pt), **pl = calloc(np ? np : 1, sizeof *pl),
         **pc = calloc(np ? np : 1, sizeof *pc);
    char **dt = calloc(ndefs_used ? ndefs_used : 1, sizeof *dt), **dl = calloc(ndefs_used ? ndefs_used : 1, sizeof *dl),
         **dc = calloc(ndefs_used ? ndefs_used : 1, sizeof *dc);
    if (!lt || !ll || !pt || !pl || !pc || !dt || !dl || !dc) {
        st = GP_ENOMEM;
    } else {
        for (size_t i = 0; i < np; i++) {
            pt[i] = name_str(&c->leaf[leaf[i]].name, PR_TEXT);
            pl[i] = name_str(&c->leaf[leaf[i]].name, PR_LATEX);
            pc[i] = name_str(&c->leaf[leaf[i]].name, PR_CASE);
            if (!pt[i] || !pl[i] || !pc[i])
                st = GP_ENOMEM;
        }
        /* definitions in the order of the case */
        for (size_t i = 0; i < ndefs_used; i++) {
            size_t k = ndefs_used - 1 - i;
            gp_name nm;
            build_elem_name(cs, defs_used[k], &nm);
            dt[i] = name_str(&nm, PR_TEXT);
            dl[i] = name_str(&nm, PR_LATEX);
            dc[i] = name_str(&nm, PR_CASE);
            if (!dt[i] || !dl[i] || !dc[i])
                st = GP_ENOMEM;
        }
        formula *dord = deff ? deff : NULL;
#define DEFF(i) dord[ndefs_used - 1 - (i)]
        if (st == GP_OK)
        switch (opts->format) {
        case GP_FMT_TEXT: {
            if (title)
                buf_printf(&o, "%s\n", title);
            buf_printf(&o, "%s = %s    (%s)\n\n", lt, lossf.text, level_words(lv));
            size_t w = 0;
            for (size_t i = 0; i < np; i++) {
                size_t wi = print_width(lt) + print_width(pt[i]) + 4;
                if (wi > w)
                    w = wi;
            }
            for (size_t i = 0; i < np; i++) {
                buf_printf(&o, "∂%s/∂%s", lt, pt[i]);
                pad(&o, print_width(lt) + print_width(pt[i]) + 4, w);
                buf_printf(&o, " = %s\n", df[i].text);
            }
            if (naux) {
                buf_puts(&o, "\nwith the shared parts\n");
                for (size_t k = 0; k < naux; k++) {
                    buf_puts(&o, "  ");
                    print_aux_name(&o, (uint32_t)k + 1, PR_TEXT);
                    buf_printf(&o, " = %s\n", auxf[k].text);
                }
            }
            if (ndefs_used) {
                size_t wd = 0;
                for (size_t i = 0; i < ndefs_used; i++)
                    if (print_width(dt[i]) > wd)
                        wd = print_width(dt[i]);
                buf_puts(&o, "\nwhere\n");
                for (size_t i = 0; i < ndefs_used; i++) {
                    buf_printf(&o, "  %s", dt[i]);
                    pad(&o, print_width(dt[i]), wd);
                    buf_printf(&o, " = %s\n", DEFF(i).text);
                }
            }
            if (c->nassume) {
                buf_puts(&o, "\nassuming nonzero:");
                for (size_t i = 0; i < c->nassume; i++) {
                    char *s = NULL;
                    write_one(c, c->assume[i], PR_TEXT, 0, NULL, NULL, &s);
                    buf_printf(&o, "%s %s", i ? "," : "", s ? s : "?");
                    free(s);
                }
                buf_putc(&o, '\n');
            }
            break;
        }
        case GP_FMT_MARKDOWN: {
            buf_printf(&o, "## %s\n\n", title ? title : "Derivatives");
            buf_puts(&o, "Loss, ");
            buf_puts(&o, level_words(lv));
            buf_puts(&o, ": ");
            render_md_text(&o, lt);
            buf_puts(&o, " = ");
            render_md_text(&o, lossf.text);
            buf_printf(&o, "\n\n| weight | ∂%s/∂weight |\n| --- | --- |\n", lt);
            for (size_t i = 0; i < np; i++) {
                buf_puts(&o, "| ");
                render_md_text(&o, pt[i]);
                buf_puts(&o, " | ");
                render_md_text(&o, df[i].text);
                buf_puts(&o, " |\n");
            }
            if (naux) {
                buf_puts(&o, "\nwith the shared parts\n\n| name | value |\n| --- | --- |\n");
                for (size_t k = 0; k < naux; k++) {
                    buf b2 = BUF_INIT;
                    print_aux_name(&b2, (uint32_t)k + 1, PR_TEXT);
                    buf_puts(&o, "| ");
                    render_md_text(&o, b2.s ? b2.s : "");
                    buf_puts(&o, " | ");
                    render_md_text(&o, auxf[k].text);
                    buf_puts(&o, " |\n");
                    buf_free(&b2);
                }
            }
            if (ndefs_used) {
                buf_puts(&o, "\nwhere\n\n| name | definition |\n| --- | --- |\n");
                for (size_t i = 0; i < ndefs_used; i++) {
                    buf_puts(&o, "| ");
                    render_md_text(&o, dt[i]);
                    buf_puts(&o, " | ");
                    render_md_text(&o, DEFF(i).text);
                    buf_puts(&o, " |\n");
                }
            }
            break;
        }
        case GP_FMT_LATEX: {
            buf_printf(&o, "%% derivatives of %s%s%s, written by gradproof\n", ls->name, title ? ": " : "",
                       title ? title : "");
            /* one align* per block, plain text between them (KaTeX has
               no \intertext) */
            buf_puts(&o, "\\begin{align*}\n");
            buf_printf(&o, "  %s &= %s \\\\\n", ll, lossf.latex);
            for (size_t i = 0; i < np; i++)
                buf_printf(&o, "  \\frac{\\partial %s}{\\partial %s} &= %s%s\n", ll, pl[i], df[i].latex,
                           i + 1 < np ? " \\\\" : "");
            if (naux) {
                buf_puts(&o, "\\end{align*}\nwith the shared parts\n\\begin{align*}\n");
                for (size_t k = 0; k < naux; k++) {
                    buf b2 = BUF_INIT;
                    print_aux_name(&b2, (uint32_t)k + 1, PR_LATEX);
                    buf_printf(&o, "  %s &= %s%s\n", b2.s ? b2.s : "", auxf[k].latex, k + 1 < naux ? " \\\\" : "");
                    buf_free(&b2);
                }
            }
            if (ndefs_used) {
                buf_puts(&o, "\\end{align*}\nwhere\n\\begin{align*}\n");
                for (size_t i = 0; i < ndefs_used; i++)
                    buf_printf(&o, "  %s &= %s%s\n", dl[i], DEFF(i).latex, i + 1 < ndefs_used ? " \\\\" : "");
            }
            buf_puts(&o, "\\end{align*}\n");
            break;
        }
        case GP_FMT_JSON: {
            buf_puts(&o, "{\"title\": ");
            buf_json_str(&o, cs->title);
            buf_puts(&o, ", \"loss\": ");
            buf_json_str(&o, ls->name);
            buf_printf(&o, ", \"level\": \"%s\", \"expanded\": %s, \"loss_expr\": {\"text\": ",
                       lv == GP_LV_DATASET ? "dataset" : lv == GP_LV_SAMPLE ? "sample" : "static",
                       opts->expand ? "true" : "false");
            buf_json_str(&o, lossf.text);
            buf_puts(&o, ", \"latex\": ");
            buf_json_str(&o, lossf.latex);
            buf_puts(&o, ", \"expr\": ");
            buf_json_str(&o, lossf.expr);
            buf_puts(&o, "},\n \"derivatives\": [");
            for (size_t i = 0; i < np; i++) {
                buf_puts(&o, i ? ",\n  {\"param\": " : "\n  {\"param\": ");
                buf_json_str(&o, pc[i]);
                buf_puts(&o, ", \"param_text\": ");
                buf_json_str(&o, pt[i]);
                buf_puts(&o, ", \"text\": ");
                buf_json_str(&o, df[i].text);
                buf_puts(&o, ", \"latex\": ");
                buf_json_str(&o, df[i].latex);
                buf_puts(&o, ", \"expr\": ");
                buf_json_str(&o, df[i].expr);
                buf_puts(&o, "}");
            }
            buf_puts(&o, "],\n \"definitions\": [");
            for (size_t i = 0; i < ndefs_used; i++) {
                buf_puts(&o, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
                buf_json_str(&o, dc[i]);
                buf_puts(&o, ", \"text\": ");
                buf_json_str(&o, DEFF(i).text);
                buf_puts(&o, ", \"latex\": ");
                buf_json_str(&o, DEFF(i).latex);
                buf_puts(&o, ", \"expr\": ");
                buf_json_str(&o, DEFF(i).expr);
                buf_puts(&o, "}");
            }
            buf_puts(&o, "],\n \"auxiliaries\": [");
            for (size_t k = 0; k < naux; k++) {
                buf b2 = BUF_INIT;
                print_aux_name(&b2, (uint32_t)k + 1, PR_CASE);
                buf_puts(&o, k ? ",\n  {\"name\": " : "\n  {\"name\": ");
                buf_json_str(&o, b2.s ? b2.s : "");
                buf_puts(&o, ", \"text\": ");
                buf_json_str(&o, auxf[k].text);
                buf_puts(&o, ", \"latex\": ");
                buf_json_str(&o, auxf[k].latex);
                buf_puts(&o, ", \"expr\": ");
                buf_json_str(&o, auxf[k].expr);
                buf_puts(&o, "}");
                buf_free(&b2);
            }
            buf_puts(&o, "],\n \"assumptions\": [");
            for (size_t i = 0; i < c->nassume; i++) {
                char *s = NULL;
                write_one(c, c->assume[i], PR_CASE, 0, NULL, NULL, &s);
                if (i)
                    buf_puts(&o, ", ");
                buf_puts(&o, "{\"nonzero\": ");
                buf_json_str(&o, s ? s : "");
                buf_puts(&o, "}");
                free(s);
            }
            buf_printf(&o, "],\n \"dag\": {\"forward_nodes\": %zu, \"with_gradient_nodes\": %zu, \"ratio\": %.3f},\n", nfwd,
                       nall, nfwd ? (double)nall / (double)nfwd : 0.0);
            buf_puts(&o, " \"diagnostics\": ");
            render_json_diagnostics(&o, c);
            buf_puts(&o, "}\n");
            break;
        }
        }
#undef DEFF
        for (size_t i = 0; i < np; i++) {
            free(pt[i]);
            free(pl[i]);
            free(pc[i]);
        }
        for (size_t i = 0; i < ndefs_used; i++) {
            free(dt[i]);
            free(dl[i]);
            free(dc[i]);
        }
    }
    free(pt);
    free(pl);
    free(pc);
    free(dt);
    free(dl);
    free(dc);
    free(lt);
    free(ll);
    if (st == GP_OK) {
        *out = buf_take(&o);
        if (!*out)
            st = GP_ENOMEM;
    }
done:
    buf_free(&o);
    for (size_t i = 0; df && i < np; i++)
        formula_free(&df[i]);
    for (size_t i = 0; deff && i < cs->ndefs; i++)
        formula_free(&deff[i]);
    formula_free(&lossf);
    for (size_t k = 0; auxf && k < naux; k++)
        formula_free(&auxf[k]);
    free(auxf);
    free(auxid);
    free(aux);
    free(deff);
    free(defs_used);
    free(used);
    free(df);
    free(leaf);
    free(wrt);
    free(d);
    if (c->status != GP_OK)
        return c->status;
    return st;
}

/* Is node in the expression of root?  (Children have smaller ids.) */
static int reaches(const gp_ctx *c, gp_id root, gp_id node)
{
    if (root == GP_NIL || root < node)
        return 0;
    size_t n = (size_t)root - node + 1, top = 0;
    uint8_t *seen = calloc(n, 1);
    gp_id *stack = malloc(n * sizeof *stack);
    int found = 0;
    if (seen && stack) {
        stack[top++] = root;
        seen[root - node] = 1;
        while (top && !found) {
            gp_id id = stack[--top];
            found = id == node;
            const gp_node *nd = &c->node[id];
            for (uint32_t j = 0; j < nd->nkid; j++) {
                gp_id k = nd->kid[j];
                if (k >= node && !seen[k - node]) {
                    seen[k - node] = 1;
                    stack[top++] = k;
                }
            }
        }
    }
    free(seen);
    free(stack);
    return found;
}

void render_fault_where(buf *out, const gp_case *cs, gp_id node, const char *what, const claim *cl)
{
    const gp_ctx *c = cs->c;
    if (what)
        buf_puts(out, what);
    if (node == GP_NIL || node >= c->nnode)
        return;
    const gp_node *n = &c->node[node];
    if (!what && n->op == GP_OP_FN)
        buf_puts(out, dag_fn_name((gp_fn)n->fn));
    size_t e = build_node_owner(cs, node, 0);
    unsigned line, col;
    if (e == SIZE_MAX && cl &&
        (reaches(c, cl->rhs, node) || (cl->kind == CLAIM_IDENT && reaches(c, cl->lhs, node)))) {
        diag_linecol(c, cs->src, cl->st->off, &line, &col);
        buf_printf(out, " in the claim, line %u", line);
        return;
    }
    if (e == SIZE_MAX)
        e = build_node_owner(cs, node, 1);
    if (e != SIZE_MAX) {
        gp_name nm;
        build_elem_name(cs, e, &nm);
        buf_puts(out, " in ");
        print_name(out, &nm, PR_TEXT);
        diag_linecol(c, cs->src, cs->elem[e].def->off, &line, &col);
        buf_printf(out, ", line %u", line);
    } else if (n->label) {
        buf_puts(out, " in ");
        print_name(out, &c->label[n->label].name, PR_TEXT);
    }
}

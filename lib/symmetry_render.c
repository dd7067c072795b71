/*
 * symmetry_render.c -- the symmetry report as text for people and as JSON
 * (DESIGN.md §4), from a sym_report.
 */
#include <stdio.h>

#include "symmetry.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "print.h"
#include "render.h"

static void pname(buf *b, const gp_case *cs, size_t i, pr_syntax syn)
{
    print_name(b, &cs->c->leaf[cs->params[i]].name, syn);
}

static void put_q(buf *b, mpq_srcptr q)
{
    print_q(b, q, PR_CASE);
}

/* A rational in syntax syn: 3/10 in text and case syntax, \frac{3}{10} in LaTeX. */
static void put_q_syn(buf *b, mpq_srcptr q, pr_syntax syn)
{
    print_q(b, q, syn == PR_LATEX ? PR_LATEX : PR_CASE);
}

/* A signed term: sign, then |coefficient| unless it is 1 and a name follows. */
static void put_term(buf *b, mpq_srcptr q, int first, int has_name, pr_syntax syn)
{
    int neg = mpq_sgn(q) < 0;
    if (first)
        buf_puts(b, neg ? (syn == PR_TEXT ? "−" : "-") : "");
    else
        buf_puts(b, neg ? (syn == PR_TEXT ? " − " : " - ") : " + ");
    mpq_t a;
    mpq_init(a);
    mpq_abs(a, q);
    if (!has_name || mpz_cmp(mpq_numref(a), mpq_denref(a)) != 0) {
        put_q_syn(b, a, syn);
        if (has_name && syn == PR_CASE)
            buf_putc(b, '*');
        else if (has_name && syn == PR_TEXT && mpz_cmp_ui(mpq_denref(a), 1) != 0)
            buf_puts(b, "·");
    }
    mpq_clear(a);
}

/* Row i of a field: sum_j A[i][j] theta_j + b[i]. */
static void put_row(buf *b, const gp_case *cs, const sym_field *f, uint32_t i, size_t P, pr_syntax syn)
{
    int first = 1;
    for (size_t k = 0; k < f->n; k++) {
        if (f->row[k] != i)
            continue;
        put_term(b, f->q[k], first, f->col[k] != P, syn);
        if (f->col[k] != P)
            pname(b, cs, f->col[k], syn);
        first = 0;
    }
    if (first)
        buf_putc(b, '0');
}

/* The gradients of the pair are equal (ratio 1), not only proportional. */
static int pair_equal(const sym_pair *p)
{
    return mpz_cmp(mpq_numref(p->ratio), mpq_denref(p->ratio)) == 0;
}

static void count_pairs(const sym_report *R, size_t *neq, size_t *nprop)
{
    for (size_t k = 0; k < R->npair; k++)
        if (pair_equal(&R->pair[k]))
            ++*neq;
        else
            ++*nprop;
}

/* Does the field move param i? */
static int field_has_row(const sym_field *f, size_t i)
{
    for (size_t k = 0; k < f->n; k++)
        if (f->row[k] == i)
            return 1;
    return 0;
}

/* A quadratic form: entries (i, j) i <= j, j == P linear. */
static void put_quad(buf *b, const gp_case *cs, const sym_quad *q, size_t P, pr_syntax syn)
{
    for (size_t k = 0; k < q->n; k++) {
        put_term(b, q->q[k], k == 0, 1, syn);
        uint32_t i = q->row[k], j = q->col[k];
        pname(b, cs, i, syn);
        if (j == i)
            buf_puts(b, syn == PR_TEXT ? "²" : "^2");
        else if (j != P) {
            buf_puts(b, syn == PR_CASE ? "*" : syn == PR_LATEX ? " " : "·");
            pname(b, cs, j, syn);
        }
    }
}

static const char *pattern_name(sym_pattern p)
{
    switch (p) {
    case SYM_FULL: return "full";
    case SYM_BLOCK: return "block-diagonal by layer";
    case SYM_DIAGONAL: return "diagonal (rescalings and translations only)";
    default: return "none";
    }
}

static void out_name(buf *b, const gp_case *cs, gp_id id, pr_syntax syn)
{
    const gp_node *n = &cs->c->node[id];
    if (n->label)
        print_name(b, &cs->c->label[n->label].name, syn);
    else if (id == cs->loss)
        buf_puts(b, "the loss");
    else {
        pr_opts o = {syn, 1, 200, NULL, NULL};
        print_expr(b, cs->c, id, &o);
    }
}

static void put_order(buf *b, const autgroup *g)
{
    if (g->order_exact)
        buf_printf(b, "%.0f", g->order);
    else
        buf_printf(b, "%.6g", g->order);
}

/* Cycles of a permutation of the params: "(w111 w121)(w112 w122)". */
static void put_cycles(buf *b, const gp_case *cs, const uint32_t *g, size_t P, pr_syntax syn)
{
    unsigned char *seen = calloc(P ? P : 1, 1);
    if (!seen) {
        b->oom = 1;
        return;
    }
    for (size_t i = 0; i < P; i++) {
        if (seen[i] || g[i] == i)
            continue;
        buf_putc(b, '(');
        for (size_t j = i; !seen[j]; j = g[j]) {
            seen[j] = 1;
            if (j != i)
                buf_putc(b, ' ');
            pname(b, cs, j, syn);
        }
        buf_putc(b, ')');
    }
    free(seen);
}

static void method_text(buf *b, const sym_report *R)
{
    if (R->rational)
        buf_printf(b,
                   "exact: Jacobians modulo the prime %lu at random residues (%zu samples for the rank); solutions "
                   "lifted to Q and verified modulo a second prime %lu at %d fresh points (a false result has "
                   "probability below degree/p ≈ 2^-55)",
                   (unsigned long)R->prime, R->samples, (unsigned long)R->prime2, 3);
    else {
        buf_printf(b, "numeric (the network uses %s): Jacobians in MPFR at %ld bits at random points (%zu samples); ",
                   R->why_numeric ? R->why_numeric : "a function", (long)R->prec, R->samples);
        if (R->svd) {
            buf_printf(b, "rank from the singular values (one-sided Jacobi), cut at 2^-%ld of the largest: smallest kept %.3g, ",
                       (long)R->prec / 2, R->svd_kept);
            if (R->svd_dropped > 0)
                buf_printf(b, "largest dropped %.3g, a gap of %.0f bits", R->svd_dropped, R->svd_gap_log2);
            else
                buf_puts(b, "none dropped");
            if (R->rank_pivots != R->rank)
                buf_printf(b, " (elimination with partial pivoting finds rank %ld: the clamp set is not reliable)", R->rank_pivots);
        } else {
            buf_printf(b, "rank by elimination with partial pivoting (no singular values for more than %d params): smallest "
                          "pivot kept %.3g, ", SYM_SVD_MAX, R->sv_kept);
            if (R->sv_dropped > 0)
                buf_printf(b, "largest dropped %.3g (relative)", R->sv_dropped);
            else
                buf_puts(b, "none dropped");
        }
        buf_puts(b, "; solutions recognised as small rationals and verified to 2^-150 at fresh points");
    }
}

void symmetry_write_text(buf *b, const gp_case *cs, const sym_report *R)
{
    size_t P = R->P;
    if (cs->title && *cs->title)
        buf_printf(b, "%s\n\n", cs->title);
    if (R->unknown) {
        buf_printf(b, "%zu params: unknown: %s\n", P, R->unknown);
        return;
    }
    buf_printf(b, "%zu params, %zu output%s (", P, R->nout, R->nout == 1 ? "" : "s");
    for (size_t k = 0; k < R->nout; k++) {
        if (k)
            buf_puts(b, ", ");
        if (k == 4 && R->nout > 5) {
            buf_printf(b, "… %zu more", R->nout - 4);
            break;
        }
        out_name(b, cs, R->out[k], PR_TEXT);
    }
    buf_puts(b, ")\n");
    if (R->direct)
        buf_puts(b, "the loss also depends on params outside the outputs (a regulariser): symmetries must keep it too\n");
    if (!R->nout) {
        buf_puts(b, "no output depends on the params: nothing to analyse\n");
        return;
    }
    /* rank */
    buf_printf(b, "\nrank: %ld of %zu (generic)", R->rank, P);
    if (R->rank_uncertain)
        buf_puts(b, ", UNCERTAIN: no clear gap in the singular values at this precision (see the method "
                    "line), so neither the rank nor the clamp set below is decided");
    if (R->nnull)
        buf_printf(b, ": %zu redundant direction%s", R->nnull, R->nnull == 1 ? "" : "s");
    else
        buf_puts(b, ": full rank, every param is determined by the outputs (locally)");
    if (R->rank_data >= 0)
        buf_printf(b, "\n      %ld on the case's data (%zu sample%s)%s", R->rank_data, cs->nrows,
                   cs->nrows == 1 ? "" : "s", R->rank_data < R->rank ? ": the data determine less than the network could" : "");
    buf_putc(b, '\n');
    if (R->nclamp) {
        buf_puts(b, "clamp: ");
        for (size_t k = 0; k < R->nclamp; k++) {
            if (k)
                buf_puts(b, ", ");
            pname(b, cs, R->clamp[k], PR_TEXT);
        }
        buf_puts(b, " can be fixed (generic values) without losing any function\n");
    }
    if (R->uclamp_given) {
        buf_printf(b, "proposed clamp: %s: the remaining columns have rank %ld (the generic rank is %ld)",
                   R->rank_uncertain ? "undecided" : R->uclamp_valid ? "valid" : "not valid", R->uclamp_rank, R->rank);
        if (R->rank_uncertain)
            buf_puts(b, ", neither rank decided at this precision");
        else if (R->uclamp_rank == R->rank && !R->uclamp_valid)
            buf_printf(b, ", but a clamp set fixes exactly %zu params (P − rank)", R->nnull);
        buf_putc(b, '\n');
        static const char *vals[3] = {"0", "1", "-1"};
        int any = 0;
        for (int k = 0; k < 3; k++)
            if (R->uclamp_break[k]) {
                buf_printf(b, "%s%s", any ? ", " : "  with the clamped params all set to one of these values the rank drops: ", vals[k]);
                any = 1;
            }
        if (any)
            buf_putc(b, '\n');
        for (size_t k = 0; k < R->nlocked; k++) {
            buf_puts(b, "  ");
            pname(b, cs, R->locked[k], PR_TEXT);
            buf_puts(b, " is only rescaled, by an even power, and no verified sign flip changes its sign: clamped to c it "
                        "reaches only models where it has the sign of c\n");
        }
    }
    /* null space */
    if (R->nnull) {
        if (R->null_fields) {
            buf_printf(b, "null space: spanned by %zu of the linear symmetries below (", R->nnull);
            for (size_t k = 0; k < R->nnull_lin; k++)
                buf_printf(b, "%s%zu", k ? ", " : "", R->null_lin[k] + 1);
            buf_puts(b, ")\n");
        } else {
            size_t nf = R->nnull_lin;
            buf_printf(b, "null space: %zu direction%s, %zu of them from the linear symmetries below", R->nnull,
                       R->nnull == 1 ? "" : "s", nf);
            if (R->nnull_vec) {
                buf_puts(b, "; a basis at the point ");
                for (size_t i = 0; i < P; i++) {
                    buf_puts(b, i ? ", " : "");
                    pname(b, cs, i, PR_TEXT);
                    buf_printf(b, " = %s", R->null_at[i]);
                }
                buf_puts(b, ":\n");
                for (size_t k = 0; k < R->nnull_vec; k++) {
                    buf_puts(b, "  ");
                    int first = 1;
                    for (size_t i = 0; i < P; i++) {
                        const char *v = R->null_vec[k * P + i];
                        if (!v || !strcmp(v, "0"))
                            continue;
                        mpq_t q;
                        mpq_init(q);
                        if (mpq_set_str(q, v, 10) == 0) {
                            mpq_canonicalize(q);
                            put_term(b, q, first, 1, PR_TEXT);
                        } else {
                            buf_printf(b, "%s%s·", first ? "" : " + ", v);
                        }
                        mpq_clear(q);
                        buf_puts(b, "d");
                        pname(b, cs, i, PR_TEXT);
                        first = 0;
                    }
                    buf_putc(b, '\n');
                }
            } else if (P > 64) {
                buf_puts(b, " (no basis at a point is shown for more than 64 params)\n");
            } else {
                buf_puts(b, "\n");
            }
        }
    }
    /* linear symmetries */
    buf_printf(b, "\nlinear symmetries (vector fields θ ↦ Aθ + b that leave every output unchanged; A %s, %zu unknowns): %zu\n",
               pattern_name(R->pattern), R->unknowns, R->nlin);
    for (size_t f = 0; f < R->nlin; f++) {
        buf_printf(b, "  %zu. ", f + 1);
        int first = 1;
        for (size_t i = 0; i < P; i++) {
            if (!field_has_row(&R->lin[f], i))
                continue;
            buf_puts(b, first ? "d" : ", d");
            pname(b, cs, i, PR_TEXT);
            buf_puts(b, " = ");
            put_row(b, cs, &R->lin[f], (uint32_t)i, P, PR_TEXT);
            first = 0;
        }
        buf_putc(b, '\n');
    }
    if (!R->lin_verified)
        buf_puts(b, "  (some solutions could not be lifted or verified and are left out)\n");
    if (R->ncons) {
        buf_printf(b, "conserved quantities of gradient flow, for every loss of the outputs and every data set: %zu\n", R->ncons);
        for (size_t k = 0; k < R->ncons; k++) {
            buf_puts(b, "  ");
            put_quad(b, cs, &R->cons[k], P, PR_TEXT);
            if (R->cons_drift[k] >= 0)
                buf_printf(b, "    (drift %.1e along a gradient-flow run that moved θ by %.0f%%)", R->cons_drift[k],
                           100 * R->flow_move);
            buf_putc(b, '\n');
        }
    }
    if (R->nflip) {
        buf_printf(b, "sign flips (verified): %zu\n", R->nflip);
        for (size_t f = 0; f < R->nflip; f++) {
            buf_puts(b, "  negate ");
            int first = 1;
            for (size_t i = 0; i < P; i++)
                if (R->flip[f * P + i]) {
                    buf_puts(b, first ? "" : ", ");
                    pname(b, cs, i, PR_TEXT);
                    first = 0;
                }
            buf_putc(b, '\n');
        }
    }
    /* permutations */
    buf_puts(b, "\npermutation group of the network graph (nauty): order ");
    put_order(b, &R->grp);
    buf_printf(b, ", %zu generator%s%s\n", R->grp.ngen, R->grp.ngen == 1 ? "" : "s",
               R->grp.ngen ? (R->grp_verified ? ", each verified" : ", NOT all verified") : "");
    for (size_t g = 0; g < R->grp.ngen; g++) {
        buf_puts(b, "  ");
        put_cycles(b, cs, R->grp.gen + g * P, P, PR_TEXT);
        buf_puts(b, "\n    where these are equal, they stay equal under gradient descent: their gradients are equal there\n");
    }
    /* gradients */
    size_t neq = 0, nprop = 0;
    count_pairs(R, &neq, &nprop);
    buf_printf(b, "\nequal gradients (identical as functions): %s", neq ? "" : "none\n");
    for (size_t k = 0, n = 0; k < R->npair; k++) {
        const sym_pair *p = &R->pair[k];
        if (!pair_equal(p))
            continue;
        buf_puts(b, n++ ? ", " : "");
        buf_puts(b, "∂C/∂");
        pname(b, cs, p->a, PR_TEXT);
        buf_puts(b, " ≡ ∂C/∂");
        pname(b, cs, p->b, PR_TEXT);
        if (n == neq)
            buf_putc(b, '\n');
    }
    if (nprop) {
        buf_puts(b, "proportional gradients: ");
        for (size_t k = 0, n = 0; k < R->npair; k++) {
            const sym_pair *p = &R->pair[k];
            if (pair_equal(p))
                continue;
            buf_puts(b, n++ ? ", " : "");
            buf_puts(b, "∂C/∂");
            pname(b, cs, p->b, PR_TEXT);
            buf_puts(b, " ≡ ");
            put_q(b, p->ratio);
            buf_puts(b, "·∂C/∂");
            pname(b, cs, p->a, PR_TEXT);
        }
        buf_putc(b, '\n');
    }
    /* effective model and inputs */
    if (R->eff_ok) {
        if (R->eff.polynomial) {
            buf_printf(b, "\neffective model: %s\n", R->eff.summary[PR_TEXT] ? R->eff.summary[PR_TEXT] : "");
            for (size_t k = 0; k < R->eff.nout; k++) {
                const eff_output *o = &R->eff.out[k];
                buf_printf(b, "  %s =", o->name[PR_TEXT] ? o->name[PR_TEXT] : "output");
                for (size_t t = 0; t < o->nterms; t++) {
                    buf_printf(b, "%s(%s)", t ? " + " : " ", o->term[t].coeff[PR_TEXT]);
                    if (strcmp(o->term[t].monomial[PR_TEXT], "1"))
                        buf_printf(b, "·%s", o->term[t].monomial[PR_TEXT]);
                }
                if (!o->nterms)
                    buf_puts(b, " 0");
                buf_putc(b, '\n');
            }
        } else {
            buf_printf(b, "\neffective model: none claimed (%s)\n", R->eff.why ? R->eff.why : "not a polynomial");
        }
    }
    if (R->deps_ok) {
        buf_printf(b, "input features the first layer sees: %zu", R->deps.nfeat);
        if (R->deps.data_rank >= 0)
            buf_printf(b, "; rank of (1, features) on the data: %ld", R->deps.data_rank);
        buf_putc(b, '\n');
        for (size_t k = 0; k < R->deps.nrel; k++)
            buf_printf(b, "  %s   (%s)\n", R->deps.rel[k].text[PR_TEXT],
                       R->deps.rel[k].on_data_only ? "on the case's data only" : "for every input");
        if (!R->deps.nrel)
            buf_puts(b, "  no linear relation among them\n");
    }
    buf_puts(b, "\nmethod: ");
    method_text(b, R);
    buf_putc(b, '\n');
}

/* ---- Markdown and LaTeX, for `gradproof report` ---- */

typedef struct doc {
    buf *b;
    int tex;          /* LaTeX; else Markdown */
    pr_syntax syn;    /* of names and formulas: PR_LATEX or PR_TEXT */
} doc;

/* Prose, escaped for the format. */
static void dt(doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dt(doc *d, const char *fmt, ...)
{
    buf t = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&t, fmt, ap);
    va_end(ap);
    if (t.s) {
        if (d->tex)
            render_latex_text(d->b, t.s);
        else
            render_md_text(d->b, t.s);
    }
    if (t.oom)
        d->b->oom = 1;
    buf_free(&t);
}

static void dmath(doc *d)
{
    if (d->tex)
        buf_putc(d->b, '$');
}

static void dname(doc *d, const gp_case *cs, size_t i)
{
    dmath(d);
    pname(d->b, cs, i, d->syn);
    dmath(d);
}

static void dnames(doc *d, const gp_case *cs, const uint32_t *ix, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (k)
            buf_puts(d->b, ", ");
        dname(d, cs, ix[k]);
    }
}

static void dlabel(doc *d, const char *label)
{
    buf_printf(d->b, d->tex ? "\\item \\textbf{%s}: " : "- **%s**: ", label);
}

static void dlist(doc *d, int begin, int numbered)
{
    if (d->tex)
        buf_printf(d->b, "\\%s{%s}\n", begin ? "begin" : "end", numbered ? "enumerate" : "itemize");
    if (!begin)
        buf_putc(d->b, '\n');
}

static void ditem(doc *d, size_t k, int numbered)
{
    if (d->tex)
        buf_puts(d->b, "\\item ");
    else if (numbered)
        buf_printf(d->b, "%zu. ", k + 1);
    else
        buf_puts(d->b, "- ");
}

static void dpara(doc *d, const char *label, int colon)
{
    buf_printf(d->b, d->tex ? "\\paragraph{%s} " : colon ? "**%s**: " : "**%s** ", label);
}

/* The field's rows as "dθ_i = ..., ..." in the doc's syntax. */
static void dfield(doc *d, const gp_case *cs, const sym_field *f, size_t P)
{
    int first = 1;
    for (size_t i = 0; i < P; i++) {
        if (!field_has_row(f, i))
            continue;
        buf_puts(d->b, first ? "" : ", ");
        dmath(d);
        buf_puts(d->b, d->tex ? "\\dot{" : "d");
        pname(d->b, cs, i, d->syn);
        buf_puts(d->b, d->tex ? "} = " : " = ");
        put_row(d->b, cs, f, (uint32_t)i, P, d->syn);
        dmath(d);
        first = 0;
    }
}

void symmetry_write_doc(buf *b, const gp_case *cs, const sym_report *R, int latex)
{
    doc D = {b, latex, latex ? PR_LATEX : PR_TEXT}, *d = &D;
    size_t P = R->P;
    if (R->unknown) {
        dt(d, "Unknown: %s.\n\n", R->unknown);
        return;
    }
    if (!R->nout) {
        dt(d, "No output depends on the params: there is nothing to analyse.\n\n");
        return;
    }
    dlist(d, 1, 0);
    dlabel(d, "Rank");
    dt(d, "%ld of %zu params (generic)", R->rank, P);
    if (R->rank_uncertain)
        dt(d, ", uncertain: no clear gap in the singular values at this precision, so neither the rank nor the "
              "clamp set is decided");
    if (R->nnull)
        dt(d, ": %zu redundant direction%s", R->nnull, R->nnull == 1 ? "" : "s");
    else
        dt(d, ": full rank, every param is determined by the outputs (locally)");
    if (R->rank_data >= 0)
        dt(d, "; %ld on the case's data (%zu sample%s)%s", R->rank_data, cs->nrows, cs->nrows == 1 ? "" : "s",
           R->rank_data < R->rank ? ": the data determine less than the network could" : "");
    dt(d, ".\n");
    if (R->direct) {
        dlabel(d, "Loss");
        dt(d, "it also depends on params outside the outputs (a regulariser): a symmetry must keep it too.\n");
    }
    if (R->nclamp) {
        dlabel(d, "Clamp set");
        dnames(d, cs, R->clamp, R->nclamp);
        dt(d, " can be fixed at generic values without losing any function.\n");
    }
    if (R->uclamp_given) {
        dlabel(d, "Proposed clamp set");
        dt(d, "%s: the remaining columns have rank %ld (the generic rank is %ld)",
           R->rank_uncertain ? "undecided" : R->uclamp_valid ? "valid" : "not valid",
           R->uclamp_rank, R->rank);
        static const char *vals[3] = {"0", "1", "-1"};
        for (int k = 0, any = 0; k < 3; k++)
            if (R->uclamp_break[k]) {
                dt(d, "%s%s", any ? ", " : "; with the clamped params all set to one of these values the rank drops: ", vals[k]);
                any = 1;
            }
        for (size_t k = 0; k < R->nlocked; k++) {
            dt(d, "; ");
            dname(d, cs, R->locked[k]);
            dt(d, " keeps the sign it is clamped to (no verified symmetry changes it)");
        }
        dt(d, ".\n");
    }
    if (R->nnull) {
        dlabel(d, "Null space");
        if (R->null_fields) {
            dt(d, "spanned by the linear symmetries ");
            for (size_t k = 0; k < R->nnull_lin; k++)
                dt(d, "%s%zu", k == 0 ? "" : k + 1 == R->nnull_lin ? " and " : ", ", R->null_lin[k] + 1);
            dt(d, " below.\n");
        } else {
            dt(d, "%zu direction%s, %zu of them from the linear symmetries below.\n", R->nnull, R->nnull == 1 ? "" : "s",
               R->nnull_lin);
        }
    }
    dlabel(d, "Permutation group of the network graph");
    dt(d, "order ");
    {
        buf t = BUF_INIT;
        put_order(&t, &R->grp);
        dt(d, "%s", t.s ? t.s : "?");
        buf_free_into(b, &t);
    }
    if (R->grp.ngen) {
        dt(d, ", generated by ");
        for (size_t g = 0; g < R->grp.ngen; g++) {
            dt(d, "%s", g == 0 ? "" : g + 1 == R->grp.ngen ? " and " : ", ");
            dmath(d);
            put_cycles(b, cs, R->grp.gen + g * P, P, d->syn);
            dmath(d);
        }
        dt(d, "%s (nauty). Where the params a generator swaps are equal, they stay equal under gradient descent.\n",
           R->grp_verified ? ", each verified" : " (NOT all verified)");
    } else {
        dt(d, " (nauty).\n");
    }
    size_t neq = 0, nprop = 0;
    count_pairs(R, &neq, &nprop);
    dlabel(d, "Equal gradients");
    if (!neq)
        dt(d, "none");
    for (size_t k = 0, n = 0; k < R->npair; k++) {
        const sym_pair *p = &R->pair[k];
        if (!pair_equal(p))
            continue;
        buf_puts(b, n++ ? ", " : "");
        dmath(d);
        buf_puts(b, latex ? "\\partial C/\\partial " : "∂C/∂");
        pname(b, cs, p->a, d->syn);
        buf_puts(b, latex ? " \\equiv \\partial C/\\partial " : " ≡ ∂C/∂");
        pname(b, cs, p->b, d->syn);
        dmath(d);
    }
    dt(d, ".\n");
    if (nprop) {
        dlabel(d, "Proportional gradients");
        for (size_t k = 0, n = 0; k < R->npair; k++) {
            const sym_pair *p = &R->pair[k];
            if (pair_equal(p))
                continue;
            buf_puts(b, n++ ? ", " : "");
            dmath(d);
            buf_puts(b, latex ? "\\partial C/\\partial " : "∂C/∂");
            pname(b, cs, p->b, d->syn);
            buf_puts(b, latex ? " \\equiv " : " ≡ ");
            put_q_syn(b, p->ratio, d->syn);
            buf_puts(b, latex ? "\\,\\partial C/\\partial " : "·∂C/∂");
            pname(b, cs, p->a, d->syn);
            dmath(d);
        }
        dt(d, ".\n");
    }
    if (R->eff_ok) {
        dlabel(d, "Effective model");
        if (R->eff.polynomial) {
            dt(d, "%s", R->eff.summary[PR_TEXT] ? R->eff.summary[PR_TEXT] : "");
            for (size_t k = 0; k < R->eff.nout; k++) {
                const eff_output *o = &R->eff.out[k];
                buf_puts(b, latex ? "\n  \\[ " : "\n  - ");
                if (!latex)
                    buf_putc(b, '`');
                buf_printf(b, "%s =", o->name[d->syn] ? o->name[d->syn] : "output");
                for (size_t t = 0; t < o->nterms; t++) {
                    buf_printf(b, latex ? "%s\\left(%s\\right)" : "%s(%s)", t ? " + " : " ", o->term[t].coeff[d->syn]);
                    if (strcmp(o->term[t].monomial[d->syn], "1"))
                        buf_printf(b, latex ? " %s" : "·%s", o->term[t].monomial[d->syn]);
                }
                if (!o->nterms)
                    buf_puts(b, " 0");
                buf_puts(b, latex ? " \\]" : "`");
            }
            buf_putc(b, '\n');
        } else {
            dt(d, "none claimed (%s).\n", R->eff.why ? R->eff.why : "not a polynomial");
        }
    }
    if (R->deps_ok) {
        dlabel(d, "Input features");
        dt(d, "%zu seen by the first layer", R->deps.nfeat);
        if (R->deps.data_rank >= 0)
            dt(d, "; the rank of (1, features) on the data is %ld", R->deps.data_rank);
        if (!R->deps.nrel)
            dt(d, "; no linear relation among them");
        for (size_t k = 0; k < R->deps.nrel; k++) {
            dt(d, "%s", k ? ", " : "; relations: ");
            dmath(d);
            if (!latex)
                buf_putc(b, '`');
            buf_puts(b, R->deps.rel[k].text[d->syn]);
            if (!latex)
                buf_putc(b, '`');
            dmath(d);
            dt(d, " (%s)", R->deps.rel[k].on_data_only ? "on the case's data only" : "for every input");
        }
        dt(d, ".\n");
    }
    dlist(d, 0, 0);

    dpara(d, "Linear symmetries", 0);
    dt(d, "(vector fields θ ↦ Aθ + b that leave every output unchanged; A %s, %zu unknowns): %zu%s\n",
       pattern_name(R->pattern), R->unknowns, R->nlin, R->nlin ? "." : ".");
    if (!R->lin_verified)
        dt(d, "Some solutions could not be lifted or verified and are left out.\n");
    if (R->nlin) {
        buf_putc(b, '\n');
        dlist(d, 1, 1);
        for (size_t f = 0; f < R->nlin; f++) {
            ditem(d, f, 1);
            dfield(d, cs, &R->lin[f], P);
            buf_putc(b, '\n');
        }
        dlist(d, 0, 1);
    } else {
        buf_putc(b, '\n');
    }
    if (R->ncons) {
        dpara(d, "Conserved quantities", 0);
        dt(d, "of gradient flow, for every loss of the outputs and every data set: %zu.\n\n", R->ncons);
        dlist(d, 1, 0);
        for (size_t k = 0; k < R->ncons; k++) {
            ditem(d, k, 0);
            dmath(d);
            put_quad(b, cs, &R->cons[k], P, d->syn);
            dmath(d);
            if (R->cons_drift[k] >= 0)
                dt(d, " (drift %.1e along a gradient-flow run that moved θ by %.0f%%)", R->cons_drift[k],
                   100 * R->flow_move);
            buf_putc(b, '\n');
        }
        dlist(d, 0, 0);
    }
    if (R->nflip) {
        dpara(d, "Sign flips", 0);
        dt(d, "(verified): %zu.\n\n", R->nflip);
        dlist(d, 1, 0);
        for (size_t f = 0; f < R->nflip; f++) {
            ditem(d, f, 0);
            dt(d, "negate ");
            for (size_t i = 0, first = 1; i < P; i++)
                if (R->flip[f * P + i]) {
                    buf_puts(b, first ? "" : ", ");
                    dname(d, cs, i);
                    first = 0;
                }
            buf_putc(b, '\n');
        }
        dlist(d, 0, 0);
    }
    dpara(d, "Method", 1);
    {
        buf t = BUF_INIT;
        method_text(&t, R);
        dt(d, "%s.\n", t.s ? t.s : "");
        buf_free_into(b, &t);
    }
}

/* ---- JSON ---- */

static void jname(buf *b, const gp_case *cs, size_t i)
{
    buf nb = BUF_INIT;
    pname(&nb, cs, i, PR_CASE);
    buf_json_str(b, nb.s ? nb.s : "");
    buf_free_into(b, &nb);
}

static void jq(buf *b, mpq_srcptr q)
{
    buf t = BUF_INIT;
    put_q(&t, q);
    buf_json_str(b, t.s ? t.s : "0");
    buf_free_into(b, &t);
}

/* A field as the object {"param": "its rate of change", ...}. */
static void json_field(buf *b, const gp_case *cs, const sym_field *f, size_t P)
{
    buf_putc(b, '{');
    int first = 1;
    for (size_t i = 0; i < P; i++) {
        if (!field_has_row(f, i))
            continue;
        buf_puts(b, first ? "" : ", ");
        jname(b, cs, i);
        buf_puts(b, ": ");
        buf t = BUF_INIT;
        put_row(&t, cs, f, (uint32_t)i, P, PR_CASE);
        buf_json_str(b, t.s ? t.s : "0");
        buf_free_into(b, &t);
        first = 0;
    }
    buf_putc(b, '}');
}

void symmetry_write_json(buf *b, const gp_case *cs, const sym_report *R)
{
    size_t P = R->P;
    if (R->unknown) {
        buf_printf(b, "{\"params\": %zu, \"unknown\": ", P);
        buf_json_str(b, R->unknown);
        return;
    }
    buf_printf(b, "{\"params\": %zu,\n \"unknown\": null,\n \"outputs\": [", P);
    for (size_t k = 0; k < R->nout; k++) {
        buf t = BUF_INIT;
        out_name(&t, cs, R->out[k], PR_CASE);
        buf_puts(b, k ? ", " : "");
        buf_json_str(b, t.s ? t.s : "");
        buf_free_into(b, &t);
    }
    buf_printf(b, "],\n \"rank\": {\"generic\": %ld, \"uncertain\": %s, \"data\": ", R->nout ? R->rank : 0,
               R->rank_uncertain ? "true" : "false");
    if (R->rank_data >= 0)
        buf_printf(b, "%ld", R->rank_data);
    else
        buf_puts(b, "null");
    buf_printf(b, "},\n \"redundant\": %zu,\n \"clamp\": [", R->nnull);
    for (size_t k = 0; k < R->nclamp; k++) {
        buf_puts(b, k ? ", " : "");
        jname(b, cs, R->clamp[k]);
    }
    buf_puts(b, "],\n \"clamp_check\": ");
    if (R->uclamp_given) {
        buf_printf(b, "{\"valid\": %s, \"rank\": %ld, \"breaking_values\": [", R->uclamp_valid ? "true" : "false",
                   R->uclamp_rank);
        static const char *vals[3] = {"\"0\"", "\"1\"", "\"-1\""};
        int any = 0;
        for (int k = 0; k < 3; k++)
            if (R->uclamp_break[k])
                buf_printf(b, "%s%s", any++ ? ", " : "", vals[k]);
        buf_puts(b, "], \"sign_locked\": [");
        for (size_t k = 0; k < R->nlocked; k++) {
            buf_puts(b, k ? ", " : "");
            jname(b, cs, R->locked[k]);
        }
        buf_puts(b, "]}");
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\n \"equal_gradients\": [");
    for (size_t k = 0, n = 0; k < R->npair; k++) {
        const sym_pair *p = &R->pair[k];
        if (!pair_equal(p))
            continue;
        buf_puts(b, n++ ? ", [" : "[");
        jname(b, cs, p->a);
        buf_puts(b, ", ");
        jname(b, cs, p->b);
        buf_putc(b, ']');
    }
    buf_puts(b, "],\n \"proportional_gradients\": [");
    for (size_t k = 0, n = 0; k < R->npair; k++) {
        const sym_pair *p = &R->pair[k];
        if (pair_equal(p))
            continue;
        buf_puts(b, n++ ? ", {\"param\": " : "{\"param\": ");
        jname(b, cs, p->b);
        buf_puts(b, ", \"of\": ");
        jname(b, cs, p->a);
        buf_puts(b, ", \"ratio\": ");
        jq(b, p->ratio);
        buf_putc(b, '}');
    }
    buf_puts(b, "],\n \"permutation_group\": {\"order\": ");
    put_order(b, &R->grp);
    buf_printf(b, ", \"verified\": %s, \"generators\": [", R->grp_verified ? "true" : "false");
    for (size_t g = 0; g < R->grp.ngen; g++) {
        buf_puts(b, g ? ", [" : "[");
        int first = 1;
        for (size_t i = 0; i < P; i++) {
            uint32_t j = R->grp.gen[g * P + i];
            if (j == i)
                continue;
            buf_puts(b, first ? "[" : ", [");
            jname(b, cs, i);
            buf_puts(b, ", ");
            jname(b, cs, j);
            buf_putc(b, ']');
            first = 0;
        }
        buf_putc(b, ']');
    }
    buf_puts(b, "]},\n \"null_space\": [");
    if (R->null_fields) {
        for (size_t k = 0; k < R->nnull_lin; k++) {
            buf_puts(b, k ? ", " : "");
            json_field(b, cs, &R->lin[R->null_lin[k]], P);
        }
    } else {
        for (size_t k = 0; k < R->nnull_vec; k++) {
            buf_puts(b, k ? ", {" : "{");
            int first = 1;
            for (size_t i = 0; i < P; i++) {
                const char *v = R->null_vec[k * P + i];
                if (!v || !strcmp(v, "0"))
                    continue;
                buf_puts(b, first ? "" : ", ");
                jname(b, cs, i);
                buf_puts(b, ": ");
                buf_json_str(b, v);
                first = 0;
            }
            buf_putc(b, '}');
        }
    }
    buf_puts(b, "],\n \"null_space_at\": ");
    if (!R->null_fields && R->null_at) {
        buf_putc(b, '{');
        for (size_t i = 0; i < P; i++) {
            buf_puts(b, i ? ", " : "");
            jname(b, cs, i);
            buf_puts(b, ": ");
            buf_json_str(b, R->null_at[i] ? R->null_at[i] : "");
        }
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\n \"linear_symmetries\": [");
    for (size_t f = 0; f < R->nlin; f++) {
        const sym_field *F = &R->lin[f];
        buf_puts(b, f ? ",\n   {\"field\": " : "\n   {\"field\": ");
        json_field(b, cs, F, P);
        buf_puts(b, ", \"matrix\": [");
        for (size_t e = 0, n = 0; e < F->n; e++) {
            if (F->col[e] == P)
                continue;
            buf_puts(b, n++ ? ", [" : "[");
            jname(b, cs, F->row[e]);
            buf_puts(b, ", ");
            jname(b, cs, F->col[e]);
            buf_puts(b, ", ");
            jq(b, F->q[e]);
            buf_putc(b, ']');
        }
        buf_puts(b, "], \"translation\": {");
        for (size_t e = 0, n = 0; e < F->n; e++) {
            if (F->col[e] != P)
                continue;
            buf_puts(b, n++ ? ", " : "");
            jname(b, cs, F->row[e]);
            buf_puts(b, ": ");
            jq(b, F->q[e]);
        }
        buf_puts(b, "}}");
    }
    buf_puts(b, "],\n \"sign_flips\": [");
    for (size_t f = 0; f < R->nflip; f++) {
        buf_puts(b, f ? ", [" : "[");
        int first = 1;
        for (size_t i = 0; i < P; i++)
            if (R->flip[f * P + i]) {
                buf_puts(b, first ? "" : ", ");
                jname(b, cs, i);
                first = 0;
            }
        buf_putc(b, ']');
    }
    buf_puts(b, "],\n \"conserved\": [");
    for (size_t k = 0; k < R->ncons; k++) {
        buf t = BUF_INIT;
        put_quad(&t, cs, &R->cons[k], P, PR_CASE);
        buf_puts(b, k ? ", " : "");
        buf_json_str(b, t.s ? t.s : "");
        buf_free_into(b, &t);
    }
    buf_puts(b, "],\n \"conserved_drift\": [");
    for (size_t k = 0; k < R->ncons; k++) {
        if (R->cons_drift[k] >= 0)
            buf_printf(b, "%s%.3g", k ? ", " : "", R->cons_drift[k]);
        else
            buf_printf(b, "%snull", k ? ", " : "");
    }
    buf_puts(b, "],\n \"effective_model\": ");
    if (R->eff_ok && R->eff.polynomial) {
        buf_puts(b, "{\"summary\": ");
        buf_json_str(b, R->eff.summary[PR_CASE] ? R->eff.summary[PR_CASE] : "");
        buf_printf(b, ", \"degree\": %u, \"coefficients\": %zu, \"outputs\": [", R->eff.degree, R->eff.ncoeff);
        for (size_t k = 0; k < R->eff.nout; k++) {
            const eff_output *o = &R->eff.out[k];
            buf_puts(b, k ? ", {\"output\": " : "{\"output\": ");
            buf_json_str(b, o->name[PR_CASE] ? o->name[PR_CASE] : "");
            buf_puts(b, ", \"terms\": [");
            for (size_t t = 0; t < o->nterms; t++) {
                buf_puts(b, t ? ", {\"monomial\": " : "{\"monomial\": ");
                buf_json_str(b, o->term[t].monomial[PR_CASE]);
                buf_puts(b, ", \"coefficient\": ");
                buf_json_str(b, o->term[t].coeff[PR_CASE]);
                buf_putc(b, '}');
            }
            buf_puts(b, "]}");
        }
        buf_puts(b, "]}");
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\n \"input_dependencies\": [");
    for (size_t k = 0; R->deps_ok && k < R->deps.nrel; k++) {
        buf_puts(b, k ? ", " : "");
        buf_json_str(b, R->deps.rel[k].text[PR_CASE]);
    }
    buf_puts(b, "],\n \"input_dependencies_on_data_only\": [");
    for (size_t k = 0; R->deps_ok && k < R->deps.nrel; k++)
        buf_printf(b, "%s%s", k ? ", " : "", R->deps.rel[k].on_data_only ? "true" : "false");
    buf_puts(b, "],\n \"method\": {\"route\": ");
    buf_puts(b, R->rational ? "\"exact\"" : "\"numeric\"");
    if (R->rational)
        buf_printf(b, ", \"prime\": \"%lu\", \"prime2\": \"%lu\"", (unsigned long)R->prime, (unsigned long)R->prime2);
    else
        buf_printf(b, ", \"precision_bits\": %ld, \"rank_by\": \"%s\", \"pivot_kept\": %.3g, \"pivot_dropped\": %.3g",
                   (long)R->prec, R->svd ? "singular values" : "pivots", R->sv_kept, R->sv_dropped);
    if (!R->rational && R->svd) {
        buf_printf(b, ", \"singular_value_kept\": %.3g, \"singular_value_dropped\": %.3g, \"gap_bits\": ", R->svd_kept,
                   R->svd_dropped);
        if (isfinite(R->svd_gap_log2))
            buf_printf(b, "%.1f", R->svd_gap_log2);
        else
            buf_puts(b, "null");
    }
    buf_printf(b, ", \"samples\": %zu, \"linear_pattern\": ", R->samples);
    buf_json_str(b, pattern_name(R->pattern));
    buf_printf(b, ", \"unknowns\": %zu, \"flow_move\": %.3g, \"text\": ", R->unknowns, R->flow_move);
    buf t = BUF_INIT;
    method_text(&t, R);
    buf_json_str(b, t.s ? t.s : "");
    buf_free_into(b, &t);
    buf_puts(b, "}");
}

/* ---- the entry point ---- */

/* Resolve "a,b,c" to param ordinals; GP_EINPUT with a diagnostic for an unknown name. */
static gp_status parse_clamp(gp_case *cs, const char *s, uint32_t **out, size_t *n)
{
    size_t P = cs->nparams, cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    *out = malloc(cap * sizeof **out);
    *n = 0;
    if (!*out)
        return GP_ENOMEM;
    unsigned char *used = calloc(P ? P : 1, 1);
    if (!used)
        return GP_ENOMEM;
    gp_status st = GP_OK;
    const char *p = s;
    while (st == GP_OK) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        long found = -1;
        for (size_t i = 0; i < P && found < 0; i++) {
            buf nb = BUF_INIT;
            pname(&nb, cs, i, PR_CASE);
            if (nb.s && strlen(nb.s) == len && !strncmp(nb.s, p, len))
                found = (long)i;
            if (nb.oom)
                st = GP_ENOMEM;
            buf_free(&nb);
        }
        if (st != GP_OK)
            break;
        if (found < 0 || used[found]) {
            buf m = BUF_INIT;
            buf_printf(&m, "--clamp: '%.*s' is %s", (int)len, p, found < 0 ? "not a param of the case" : "named twice");
            gp_diag_add(cs->c, GP_SEV_ERROR, m.s ? m.s : "--clamp: bad name");
            buf_free(&m);
            st = GP_EINPUT;
            break;
        }
        used[found] = 1;
        (*out)[(*n)++] = (uint32_t)found;
        if (!e)
            break;
        p = e + 1;
    }
    free(used);
    return st;
}

gp_status gp_symmetry_render(gp_case *cs, const gp_symmetry_opts *opts, char **out, gp_symmetry_summary *sum)
{
    *out = NULL;
    sym_opts o = {opts->seed, NULL, 0, 0};
    uint32_t *clamp = NULL;
    gp_status st = GP_OK;
    if (opts->clamp) {
        size_t n = 0;
        st = parse_clamp(cs, opts->clamp, &clamp, &n);
        o.clamp = clamp;
        o.nclamp = n;
    }
    sym_report R;
    memset(&R, 0, sizeof R);
    if (st == GP_OK)
        st = symmetry_run(cs, &o, &R);
    if (st == GP_OK) {
        buf b = BUF_INIT;
        if (opts->format == GP_FMT_JSON) {
            symmetry_write_json(&b, cs, &R);
            buf_puts(&b, ",\n \"diagnostics\": ");
            render_json_diagnostics(&b, cs->c);
            buf_puts(&b, "}\n");
        } else {
            symmetry_write_text(&b, cs, &R);
        }
        *out = buf_take(&b);
        if (!*out)
            st = GP_ENOMEM;
        buf_free(&b);
    }
    if (sum)
        *sum = (gp_symmetry_summary){R.P, R.rank, R.uclamp_given, R.uclamp_valid, R.unknown != NULL};
    sym_report_free(&R);
    free(clamp);
    return st;
}

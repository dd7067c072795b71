/*
 * main.c -- the gradproof command: arguments -> library calls -> output ->
 * exit status.
 *
 * Results go to stdout, diagnostics to stderr (with --format json, stdout
 * holds exactly one JSON document, diagnostics included).  The exit status
 * says what happened, as DESIGN.md fixes it:
 *   0 everything holds, 1 a verdict failed, 2 bad input or usage,
 *   3 a system, I/O or internal failure.
 */
#define _DEFAULT_SOURCE /* mkstemps */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <flint.h>
#include <gmp.h>

#include "gradproof.h"

enum exit_code { EXIT_HOLDS = 0, EXIT_VERDICT = 1, EXIT_USAGE = 2, EXIT_SYSTEM = 3 };

static const char *prog = "gradproof";

static void usage_hint(const char *verb, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    if (verb)
        fprintf(stderr, "\nTry '%s %s --help'.\n", prog, verb);
    else
        fprintf(stderr, "\nTry '%s --help'.\n", prog);
}

static const char main_help[] =
    "usage: gradproof COMMAND CASE [options]\n"
    "\n"
    "gradproof reads a network and its loss written as equations in a case file,\n"
    "derives the exact derivative of the loss for every weight, and checks it.\n"
    "\n"
    "commands:\n"
    "  derive   the derivative of the loss for every param, as a table\n"
    "  claims   verdicts on the case's hand-derived formulas (claim lines)\n"
    "  check    symbolic, finite-difference and double backprop gradients compared\n"
    "  grad     the double backprop engine: loss and gradient at one point\n"
    "  verify   gradients from another engine judged against the reference\n"
    "  symmetry rank, clamp sets, permutation and linear symmetries, conserved\n"
    "           quantities, equal gradients, the effective model\n"
    "  report   one document: equations, derivatives, check, claims, symmetry\n"
    "  dot      the network as a Graphviz picture, chain-rule paths highlighted\n"
    "\n"
    "CASE is a case file (*.case), or - for standard input.\n"
    "'gradproof COMMAND --help' describes a command and its options.\n"
    "\n"
    "limits (every command):\n"
    "  --max-file-bytes N    largest case or data file (default 67108864)\n"
    "  --max-nodes N         largest expression DAG (default 50000000)\n"
    "  --max-depth N         deepest nesting of parentheses and calls (default 1000)\n"
    "  --max-elements N      most elements of indexed names (default 10000000)\n"
    "  --max-expand-terms N  largest expanded polynomial (default 100000)\n"
    "  --max-precision N     most bits of an MPFR evaluation, 256 or more (default 65536)\n"
    "\n"
    "exit status: 0 everything holds; 1 a verdict failed; 2 bad input or usage;\n"
    "3 a system, I/O or internal failure.\n"
    "\n"
    "  --help     this text\n"
    "  --version  the version\n";

static const char derive_help[] =
    "usage: gradproof derive CASE [--format text|markdown|latex|json] [--expand] [--wrt NAME ...]\n"
    "\n"
    "Derive the loss of CASE with respect to its params and print the table of\n"
    "derivatives, written with the case's own names (the names a formula uses are\n"
    "listed after the table with their definitions).\n"
    "\n"
    "  --format F    text (default, Unicode), markdown, latex (align* blocks) or json\n"
    "  --json        the same as --format json\n"
    "  --expand      write each derivative in weights and inputs only: rational\n"
    "                ones as expanded polynomials, the others with every name\n"
    "                replaced by its definition\n"
    "  --wrt NAME    only these params (as written in the case: w111, p[1][2]);\n"
    "                several names may follow, or --wrt may be repeated\n"
    "\n"
    "exit status: 0 done; 2 bad input or usage; 3 system or internal failure.\n";

static const char symmetry_help[] =
    "usage: gradproof symmetry CASE [--json] [--seed S] [--clamp a,b,c]\n"
    "\n"
    "What the data can and cannot determine, and which transformations leave the\n"
    "network's outputs unchanged: the rank of the Jacobian of the outputs with\n"
    "respect to the params (generic, and on the case's data), a set of params that\n"
    "can be clamped, the null space, the linear vector fields that are symmetries\n"
    "and the conserved quantities of gradient flow they give, verified sign flips,\n"
    "the permutation group of the network graph (nauty), equal and proportional\n"
    "gradients, the effective model of a polynomial network and linear relations\n"
    "among the input features.  Rational networks are analysed exactly (modulo\n"
    "large primes, lifted to Q, verified); others in MPFR at 256 bits.\n"
    "\n"
    "  --json         one JSON document on stdout, diagnostics included\n"
    "  --format F     text (default) or json\n"
    "  --seed S       seed of the random points (default: fixed)\n"
    "  --clamp LIST   test a proposed clamp set, e.g. --clamp 'w1[0][2],w2[2][1]'\n"
    "\n"
    "exit status: 0 done; 1 the proposed clamp set is not valid, or no point\n"
    "could be analysed (unknown); 2 bad input or usage; 3 a system or internal\n"
    "failure.\n";

static const char report_help[] =
    "usage: gradproof report CASE [--format markdown|latex|json] [--fragment]\n"
    "                        [--picture FILE] [--seed S] [-o FILE]\n"
    "\n"
    "One document about CASE: its title, the network's equations, the table of\n"
    "derivatives in the case's notation, the three-route check (symbolic in MPFR,\n"
    "finite differences, double backprop), every claim with its verdict and\n"
    "diagnosis, and the symmetry report.\n"
    "\n"
    "  --format F      markdown (default), latex (a complete document) or json\n"
    "  --json          the same as --format json\n"
    "  --fragment      latex: the sections alone, to \\input into a document\n"
    "  --picture FILE  markdown: link this picture of the network (an SVG from\n"
    "                  'gradproof dot --svg'); with -o NAME.md, NAME.svg next to\n"
    "                  it is linked when it exists\n"
    "  --seed S        seed of the random points (default: fixed)\n"
    "  -o FILE         write the document to FILE instead of standard output\n"
    "  --output FILE   the same as -o FILE\n"
    "\n"
    "exit status: 0 everything holds; 1 a claim fails or is undecided, or the\n"
    "routes disagree (the document is written all the same); 2 bad input or\n"
    "usage; 3 a system or internal failure.\n";

static const char dot_help[] =
    "usage: gradproof dot CASE [--highlight PARAM] [--svg] [-o FILE]\n"
    "\n"
    "The network of CASE as a Graphviz DOT graph: inputs, hidden units and\n"
    "outputs by layer, params as labelled edges, activations on the nodes.\n"
    "\n"
    "  --highlight P  draw the chain-rule paths from the loss to the param P in\n"
    "                 colour (P as written in the case: w211, w2[1][1])\n"
    "  --svg          render the picture as SVG with Graphviz's dot program\n"
    "  -o FILE        write to FILE instead of standard output\n"
    "  --output FILE  the same as -o FILE\n"
    "\n"
    "exit status: 0 done; 2 bad input or usage; 3 a system or internal failure\n"
    "(including --svg without Graphviz installed).\n";

static const char claims_help[] =
    "usage: gradproof claims CASE [--json] [--points K] [--seed S]\n"
    "\n"
    "Judge every 'claim' line of CASE: holds, fails or unknown.  Where both sides\n"
    "are rational functions (no exp, log, sqrt, tanh, ...) the verdict is exact:\n"
    "the two sides are compared as polynomials over Q with FLINT, for all params\n"
    "and every data set.  Otherwise it is numeric: K seeded random points (the\n"
    "case's data, or random samples), both sides in MPFR at 256 bits, agreeing\n"
    "to 2^-200 relative.  A failing claim gets a counterexample (small values\n"
    "first) with the claimed and the true value, and a diagnosis where one\n"
    "exists: sign error, factor of 2, missing or extra factor, a single term.\n"
    "\n"
    "  --json        one JSON document on stdout, diagnostics included\n"
    "  --format F    text (default) or json\n"
    "  --points K    numeric points per claim (default 24)\n"
    "  --seed S      seed of the random points (default 0)\n"
    "\n"
    "exit status: 0 every claim holds; 1 a claim fails (or is unknown);\n"
    "2 bad input or usage; 3 system or internal failure.\n";

static const char check_help[] =
    "usage: gradproof check CASE [--points K] [--precision BITS] [--seed S] [--directional]\n"
    "                            [--directions N] [--per-param] [--json]\n"
    "\n"
    "Compare three routes to the gradient of the loss, for every param, at K\n"
    "seeded points (the case's 'at' lines first) over the case's data (or seeded\n"
    "random samples): the symbolic derivative evaluated in MPFR (the reference),\n"
    "MPFR central differences with Richardson extrapolation (they must agree\n"
    "within their own error bound) and the double backprop engine (it must agree\n"
    "within its running rounding-error bound, shown in ulps: no fixed tolerance).\n"
    "Points where a kink (relu, abs, step, sign) is within reach, or where the loss\n"
    "is undefined, are redrawn, and said.  The case's claims are judged too, and\n"
    "shown; 'gradproof claims' is the command whose exit status they decide.\n"
    "\n"
    "  --points K       parameter points (default 4)\n"
    "  --precision BITS bits of the reference and of the differences (default 256,\n"
    "                   64 to 65536)\n"
    "  --seed S         seed of the random points (default 0)\n"
    "  --directional    compare v.grad along random directions v: O(1) evaluations\n"
    "                   instead of one difference per param, for big networks\n"
    "  --directions N   directions per point with --directional (default 2)\n"
    "                   (above 1000 params the comparison is along directions\n"
    "                   unless --per-param is given, and the output says so)\n"
    "  --per-param      one difference per param however many params there are\n"
    "  --json           one JSON document on stdout, diagnostics included\n"
    "  --format F       text (default) or json\n"
    "\n"
    "exit status: 0 the three routes agree; 1 they disagree, or no point could be\n"
    "compared; 2 bad input or usage; 3 system or internal failure.\n";

static const char grad_help[] =
    "usage: gradproof grad CASE [--at 'NAME = VALUE, ...'] [--seed S] [--json]\n"
    "\n"
    "The double backprop engine as a tool: the loss and its gradient at one point,\n"
    "over the case's data (or seeded random samples, printed).  The point is the\n"
    "one given with --at (written like an 'at' line of the case), else the case's\n"
    "first 'at' line, else seeded random values; params an 'at' line leaves out\n"
    "get seeded random values.  Values are rounded to double.\n"
    "\n"
    "  --at POINT   the point, e.g. --at 'w111 = 1/2, w112 = -3'\n"
    "  --seed S     seed of the random values (default 0)\n"
    "  --json       one JSON document on stdout, diagnostics included\n"
    "  --format F   text (default) or json\n"
    "\n"
    "exit status: 0 done; 1 the loss or the gradient is not finite there;\n"
    "2 bad input or usage; 3 system or internal failure.\n";

static const char verify_help[] =
    "usage: gradproof verify CASE --gradients FILE [--seed S] [--json]\n"
    "\n"
    "Judge gradients computed by another engine against the reference (the\n"
    "symbolic derivative in MPFR at 256 bits), each entry within the same\n"
    "principled bound as 'check' uses for gradproof's own double engine: the\n"
    "computation's rounding-error bound at that point, in ulps.  FILE is JSON,\n"
    "  {\"points\": [{\"params\": {\"w111\": 0.5, ...}, \"gradient\": {\"w111\": ..., ...}}]}\n"
    "(an optional \"sample\": i selects one sample of a per-sample loss; without\n"
    "it the gradient is of the loss summed over the samples), or CSV with the\n"
    "header point,param,value,gradient.  The case's data (or, without data, the\n"
    "seeded random samples that 'grad' prints) is used.\n"
    "\n"
    "  --gradients FILE  the gradients to judge (- for standard input)\n"
    "  --seed S          seed of the random samples when the case has no data\n"
    "  --json            one JSON document on stdout, diagnostics included\n"
    "  --format F        text (default) or json\n"
    "\n"
    "exit status: 0 every entry is right; 1 an entry is wrong; 2 bad input or\n"
    "usage; 3 system or internal failure.\n";

typedef struct opts {
    const char *verb;
    const char *case_path;
    gp_format format;
    int expand;
    const char **wrt;
    size_t nwrt;
    gp_limits lim;
    char *owned;      /* storage of a split --wrt= list */
    unsigned points;  /* claims, check: points (0: default) */
    unsigned long long seed; /* claims, check, grad: seed */
    unsigned long precision; /* check: bits (0: default) */
    int directional;  /* check */
    int per_param;    /* check */
    unsigned directions; /* check: per point (0: default) */
    const char *at;   /* grad: a point as an `at` line */
    const char *gradients; /* verify: the file of gradients */
    const char *clamp;  /* symmetry: a proposed clamp set */
    const char *output; /* -o FILE */
    const char *highlight; /* dot */
    int svg;          /* dot: through Graphviz */
    int fragment;     /* report: latex sections alone */
    const char *picture; /* report: the SVG to link */
    char *picture_owned; /* a sibling of -o FILE found here */
    char *grad_text;  /* its contents */
    size_t grad_len;
} opts;

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0)
        return 0;
    *out = (size_t)v;
    return 1;
}

/* global options shared by every verb; returns 1 if argv[*i] was one, -1 on error */
static int limit_option(opts *o, int argc, char **argv, int *i)
{
    static const char *const names[] = {"--max-file-bytes", "--max-nodes", "--max-depth", "--max-elements",
                                        "--max-expand-terms", "--max-precision"};
    for (int k = 0; k < 6; k++) {
        size_t n = strlen(names[k]);
        const char *a = argv[*i], *val = NULL;
        if (strncmp(a, names[k], n) != 0 || (a[n] != '\0' && a[n] != '='))
            continue;
        if (a[n] == '=')
            val = a + n + 1;
        else if (*i + 1 < argc)
            val = argv[++*i];
        size_t v;
        if (!val || !parse_size(val, &v)) {
            usage_hint(o->verb, "%s needs a positive whole number", names[k]);
            return -1;
        }
        switch (k) {
        case 0: o->lim.max_file_bytes = v; break;
        case 1: o->lim.max_nodes = v; break;
        case 2: o->lim.max_depth = v > 1000000 ? 1000000 : (unsigned)v; break;
        case 3: o->lim.max_elements = v; break;
        case 4: o->lim.max_expand_terms = v; break;
        case 5:
            if (v < 256) {
                usage_hint(o->verb, "%s needs at least 256 (the bits claims and symmetry work at)", names[k]);
                return -1;
            }
            o->lim.max_precision = v > ULONG_MAX ? ULONG_MAX : (unsigned long)v;
            break;
        }
        return 1;
    }
    return 0;
}

/* grad --at: the point is read as a last `at` line appended to the case.
   Diagnostics there are given as positions in the option's value, never
   as a line past the end of the file. */
static const char *at_text;  /* the --at value, or NULL */
static unsigned at_line;     /* the line of the case its `at` line became */

/* Move d into the --at value when it lies there: 1, else 0. */
static int at_position(gp_diag_info *d)
{
    if (!at_text || !d->file || d->line < at_line)
        return 0;
    d->file = "--at";
    d->line -= at_line - 1;
    if (d->line == 1) { /* the line began with the "at " that was added */
        d->column = d->column > 3 ? d->column - 3 : 1;
        d->end_column = d->end_column > 3 ? d->end_column - 3 : d->column + 1;
    }
    return 1;
}

static int print_diagnostics(gp_ctx *c)
{
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        gp_diag_info d;
        gp_diag_get(c, i, &d);
        if (at_position(&d)) {
            /* the line of the value, control characters shown as '?' */
            const char *l = at_text;
            for (unsigned k = 1; k < d.line && strchr(l, '\n'); k++)
                l = strchr(l, '\n') + 1;
            size_t n = strcspn(l, "\r\n");
            fprintf(stderr, "%s: --at:%u:%u: %s: %s\n  ", prog, d.line, d.column,
                    d.severity == GP_SEV_ERROR ? "error" : d.severity == GP_SEV_WARNING ? "warning" : "note", d.message);
            for (size_t k = 0; k < n; k++)
                fputc((unsigned char)l[k] < 0x20 && l[k] != '\t' ? '?' : l[k], stderr);
            fputs("\n  ", stderr);
            for (unsigned k = 1; k < d.column; k++)
                fputc(' ', stderr);
            for (unsigned k = d.column; k < d.end_column || k == d.column; k++)
                fputc('^', stderr);
            fputc('\n', stderr);
            continue;
        }
        char *s = NULL;
        if (gp_diag_render(c, i, &s) != GP_OK)
            return 0;
        fprintf(stderr, "%s: %s", prog, s);
        gp_free(s);
    }
    return 1;
}

static int status_exit(gp_status st)
{
    switch (st) {
    case GP_OK: return EXIT_HOLDS;
    case GP_EINPUT:
    case GP_ELIMIT: return EXIT_USAGE;
    default: return EXIT_SYSTEM;
    }
}

/* a JSON document for a failure before any result exists */
static void json_failure(gp_ctx *c, gp_status st)
{
    printf("{\"ok\": false, \"status\": \"%s\", \"diagnostics\": [",
           st == GP_EINPUT ? "input" : st == GP_ELIMIT ? "limit" : st == GP_ENOMEM ? "memory" : st == GP_EIO ? "io" : "internal");
    for (size_t i = 0; i < gp_diag_count(c); i++) {
        gp_diag_info d;
        gp_diag_get(c, i, &d);
        at_position(&d);
        printf("%s{\"severity\": \"%s\", \"file\": ", i ? ", " : "",
               d.severity == GP_SEV_ERROR ? "error" : d.severity == GP_SEV_WARNING ? "warning" : "note");
        if (d.file) {
            putchar('"');
            for (const char *p = d.file; *p; p++) {
                if (*p == '"' || *p == '\\')
                    putchar('\\');
                if ((unsigned char)*p >= 0x20)
                    putchar(*p);
            }
            putchar('"');
        } else {
            fputs("null", stdout);
        }
        printf(", \"line\": %u, \"column\": %u, \"end_column\": %u, \"message\": \"", d.line, d.column, d.end_column);
        for (const char *p = d.message; *p; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            if (*p == '\n')
                fputs("\\n", stdout);
            else if ((unsigned char)*p >= 0x20)
                putchar(*p);
        }
        fputs("\"}", stdout);
    }
    fputs("]}\n", stdout);
}

static int finish_output(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write the output: %s\n", prog, strerror(errno));
        return EXIT_SYSTEM;
    }
    return code;
}

/* A verb: render the case into *out; *failed says a verdict failed. */
typedef gp_status (*verb_fn)(gp_case *cs, const opts *o, char **out, int *failed);

static gp_status do_derive(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_derive_opts d = {o->format, o->expand, o->wrt, o->nwrt};
    *failed = 0;
    return gp_derive_render(cs, &d, out);
}

static gp_status do_claims(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_claims_opts co = {o->format, o->points, o->seed};
    gp_claims_summary sum = {0, 0, 0, 0};
    gp_status st = gp_claims_render(cs, &co, out, &sum);
    *failed = sum.fail || sum.unknown;
    return st;
}

static gp_status do_check(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_check_opts co = {o->format, o->points, o->precision, o->seed, o->directional, o->directions, o->per_param};
    gp_check_summary sum;
    memset(&sum, 0, sizeof sum);
    gp_status st = gp_check_render(cs, &co, out, &sum);
    *failed = !sum.ok;
    return st;
}

static gp_status do_symmetry(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_symmetry_opts so = {o->format, o->seed, o->clamp};
    gp_symmetry_summary sum;
    memset(&sum, 0, sizeof sum);
    gp_status st = gp_symmetry_render(cs, &so, out, &sum);
    *failed = (sum.clamp_given && !sum.clamp_valid) || sum.unknown;
    return st;
}

static gp_status do_report(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_report_opts ro = {o->format, o->fragment, o->seed, o->picture};
    gp_report_summary sum;
    memset(&sum, 0, sizeof sum);
    gp_status st = gp_report_render(cs, &ro, out, &sum);
    *failed = !sum.check_ok || sum.claims_fail || sum.claims_unknown;
    return st;
}

static gp_status do_dot(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_dot_opts d = {o->highlight};
    *failed = 0;
    return gp_dot_render(cs, &d, out);
}

static gp_status do_grad(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_grad_opts g = {o->format, o->seed, o->at != NULL};
    int finite = 0;
    gp_status st = gp_grad_render(cs, &g, out, &finite);
    *failed = !finite;
    return st;
}

static gp_status do_verify(gp_case *cs, const opts *o, char **out, int *failed)
{
    gp_verify_opts v = {o->format, o->seed};
    gp_verify_summary sum = {0, 0, 0, 0};
    gp_status st = gp_verify_render(cs, &v, o->gradients, o->grad_text, o->grad_len, out, &sum);
    *failed = sum.wrong || sum.unknown;
    return st;
}

/* A whole file ("-": standard input) into a malloc'd buffer; 0, or -1 with
   errno set (EFBIG when it is larger than max). */
static int read_all(const char *path, size_t max, char **text, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    int ok = b != NULL;
    while (ok) {
        if (n == cap) {
            char *t = cap <= max ? realloc(b, cap * 2) : NULL;
            if (!t) {
                errno = cap > max ? EFBIG : ENOMEM;
                ok = 0;
                break;
            }
            b = t;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            ok = !ferror(f);
            break;
        }
    }
    if (ok && n > max) {
        errno = EFBIG;
        ok = 0;
    }
    if (f != stdin)
        fclose(f);
    if (!ok) {
        free(b);
        return -1;
    }
    *text = b;
    *len = n;
    return 0;
}

extern char **environ;

/* DOT text through Graphviz's dot program into SVG, on standard output or
   into -o FILE.  The text goes through a temporary file, so that dot's own
   output never has to be read back. */
static int emit_svg(const opts *o, const char *text)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/gradproof-XXXXXX.dot", dir && *dir ? dir : "/tmp");
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "%s: TMPDIR is too long\n", prog);
        return EXIT_SYSTEM;
    }
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot create a temporary file: %s\n", prog, strerror(errno));
        return EXIT_SYSTEM;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "%s: cannot write a temporary file: %s\n", prog, strerror(errno));
            close(fd);
            unlink(path);
            return EXIT_SYSTEM;
        }
        done += (size_t)w;
    }
    close(fd);
    char prog_dot[] = "dot", tsvg[] = "-Tsvg", dash_o[] = "-o";
    char *argv[] = {prog_dot, tsvg, path, o->output ? dash_o : NULL, (char *)o->output, NULL};
    fflush(stdout);
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", NULL, NULL, argv, environ), status = 0;
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    unlink(path);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot run Graphviz's dot program: %s%s\n", prog, strerror(rc),
                rc == ENOENT ? " (apt-get install graphviz)" : "");
        return EXIT_SYSTEM;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: Graphviz's dot program failed on the picture\n", prog);
        return EXIT_SYSTEM;
    }
    return EXIT_HOLDS;
}

/* The result on standard output, or in -o FILE; through Graphviz for --svg. */
static int emit(const opts *o, const char *text)
{
    if (o->svg)
        return emit_svg(o, text);
    if (!o->output) {
        fputs(text, stdout);
        return EXIT_HOLDS;
    }
    FILE *f = fopen(o->output, "wb");
    if (!f) {
        fprintf(stderr, "%s: cannot write '%s': %s\n", prog, o->output, strerror(errno));
        return EXIT_SYSTEM;
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "%s: cannot write '%s': %s\n", prog, o->output, strerror(errno));
        return EXIT_SYSTEM;
    }
    return EXIT_HOLDS;
}

/* load the case, run the verb, print, and turn the outcome into an exit status */
static int run(opts *o, verb_fn fn)
{
    gp_ctx *c = gp_ctx_new();
    if (!c) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_SYSTEM;
    }
    gp_ctx_set_limits(c, &o->lim);
    int json = o->format == GP_FMT_JSON;
    gp_case *cs = NULL;
    gp_status st;
    if (o->at) {
        /* grad --at: the point becomes a last `at` line of the case */
        char *text = NULL;
        size_t len = 0;
        if (read_all(o->case_path, o->lim.max_file_bytes, &text, &len) != 0) {
            int e = errno;
            fprintf(stderr, "%s: cannot read '%s': %s\n", prog, o->case_path, strerror(e));
            gp_ctx_free(c);
            return e == ENOMEM ? EXIT_SYSTEM : EXIT_USAGE;
        }
        size_t n = strlen(o->at);
        char *all = realloc(text, len + n + 6);
        if (!all) {
            fprintf(stderr, "%s: out of memory\n", prog);
            free(text);
            gp_ctx_free(c);
            return EXIT_SYSTEM;
        }
        at_text = o->at;
        at_line = 2;
        for (size_t k = 0; k < len; k++)
            at_line += all[k] == '\n';
        memcpy(all + len, "\nat ", 4);
        memcpy(all + len + 4, o->at, n);
        memcpy(all + len + 4 + n, "\n", 2);
        st = gp_case_load(c, o->case_path, all, len + n + 5, &cs);
        free(all);
    } else {
        st = gp_case_load_file(c, o->case_path, &cs);
    }
    char *out = NULL;
    int failed = 0;
    if (st == GP_OK)
        st = fn(cs, o, &out, &failed);
    int code;
    if (st == GP_OK) {
        code = emit(o, out);
        if (code == EXIT_HOLDS && failed)
            code = EXIT_VERDICT;
        if (!json)
            print_diagnostics(c); /* notes, if any */
    } else {
        if (json)
            json_failure(c, st);
        print_diagnostics(c);
        if (st == GP_ENOMEM)
            fprintf(stderr, "%s: out of memory\n", prog);
        else if (st == GP_EINTERNAL)
            fprintf(stderr, "%s: internal error: an invariant of gradproof broke (a bug: please report it, "
                            "with the case)\n", prog);
        code = status_exit(st);
    }
    gp_free(out);
    gp_ctx_free(c);
    return finish_output(code);
}

/* whole number option value for claims; 0 on error */
static int parse_ull(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return 0;
    *out = v;
    return 1;
}

/* Options of the verbs after derive; each verb accepts some of them. */
enum {
    OPT_POINTS = 1, OPT_SEED = 2, OPT_PRECISION = 4, OPT_DIRECTIONAL = 8, OPT_AT = 16, OPT_GRADIENTS = 32,
    OPT_CLAMP = 64, OPT_OUTPUT = 128, OPT_REPORT = 256, OPT_DOT = 512
};

/* "--name VALUE" or "--name=VALUE": the value, or NULL when a is not --name */
static const char *opt_value(const char *a, const char *name, int argc, char **argv, int *i, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    *missing = 1;
    return NULL;
}

/* NAME.md -> "NAME.svg" (its base name, as the report links it) when that
   file exists next to it; NULL otherwise. */
/* Do two paths name one existing file? */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static char *sibling_picture(const char *output)
{
    size_t n = strlen(output);
    if (n < 4 || strcmp(output + n - 3, ".md") != 0)
        return NULL;
    char *svg = malloc(n + 2);
    if (!svg)
        return NULL;
    memcpy(svg, output, n - 3);
    strcpy(svg + n - 3, ".svg");
    if (access(svg, R_OK) != 0) {
        free(svg);
        return NULL;
    }
    const char *base = strrchr(svg, '/');
    if (base)
        memmove(svg, base + 1, strlen(base + 1) + 1);
    return svg;
}

static int main_verb(opts *o, int argc, char **argv, const char *help, unsigned allowed, verb_fn fn)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = limit_option(o, argc, argv, &i), missing = 0;
        unsigned long long x;
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return finish_output(EXIT_HOLDS);
        } else if (!(allowed & OPT_DOT) && !strcmp(a, "--json")) {
            o->format = GP_FMT_JSON;
        } else if ((allowed & OPT_REPORT) && ((v = opt_value(a, "--format", argc, argv, &i, &missing)) || missing)) {
            if (v && (!strcmp(v, "markdown") || !strcmp(v, "md")))
                o->format = GP_FMT_MARKDOWN;
            else if (v && (!strcmp(v, "latex") || !strcmp(v, "tex")))
                o->format = GP_FMT_LATEX;
            else if (v && !strcmp(v, "json"))
                o->format = GP_FMT_JSON;
            else {
                usage_hint(o->verb, "%s needs a value: markdown, latex or json", "--format");
                return EXIT_USAGE;
            }
        } else if (!(allowed & OPT_DOT) && ((v = opt_value(a, "--format", argc, argv, &i, &missing)) || missing)) {
            if (v && !strcmp(v, "text"))
                o->format = GP_FMT_TEXT;
            else if (v && !strcmp(v, "json"))
                o->format = GP_FMT_JSON;
            else {
                usage_hint(o->verb, "%s needs a value: text or json", "--format");
                return EXIT_USAGE;
            }
        } else if ((allowed & OPT_REPORT) && !strcmp(a, "--fragment")) {
            o->fragment = 1;
        } else if ((allowed & OPT_REPORT) && ((v = opt_value(a, "--picture", argc, argv, &i, &missing)) || missing)) {
            if (!v || !*v) {
                usage_hint(o->verb, "%s needs the address of a picture, e.g. --picture net.svg", "--picture");
                return EXIT_USAGE;
            }
            o->picture = v;
        } else if ((allowed & OPT_DOT) && ((v = opt_value(a, "--highlight", argc, argv, &i, &missing)) || missing)) {
            if (!v || !*v) {
                usage_hint(o->verb, "%s needs a param, e.g. --highlight w211", "--highlight");
                return EXIT_USAGE;
            }
            o->highlight = v;
        } else if ((allowed & OPT_DOT) && !strcmp(a, "--svg")) {
            o->svg = 1;
        } else if ((allowed & OPT_OUTPUT) && (!strcmp(a, "-o") || !strcmp(a, "--output") || !strncmp(a, "--output=", 9))) {
            v = a[1] == 'o' ? (i + 1 < argc ? argv[++i] : NULL) : opt_value(a, "--output", argc, argv, &i, &missing);
            if (!v || !*v) {
                usage_hint(o->verb, "%s needs a file name", "-o");
                return EXIT_USAGE;
            }
            o->output = v;
        } else if ((allowed & OPT_POINTS) && ((v = opt_value(a, "--points", argc, argv, &i, &missing)) || missing)) {
            if (!v || !parse_ull(v, &x) || x == 0 || x > 100000) {
                usage_hint(o->verb, "%s needs a whole number from 1 to 100000", "--points");
                return EXIT_USAGE;
            }
            o->points = (unsigned)x;
        } else if ((allowed & OPT_SEED) && ((v = opt_value(a, "--seed", argc, argv, &i, &missing)) || missing)) {
            if (!v || !parse_ull(v, &x)) {
                usage_hint(o->verb, "%s needs a whole number", "--seed");
                return EXIT_USAGE;
            }
            o->seed = x;
        } else if ((allowed & OPT_PRECISION) &&
                   ((v = opt_value(a, "--precision", argc, argv, &i, &missing)) || missing)) {
            if (!v || !parse_ull(v, &x) || x < 64 || x > ULONG_MAX) {
                usage_hint(o->verb, "%s needs a number of bits, at least 64", "--precision");
                return EXIT_USAGE;
            }
            o->precision = (unsigned long)x;
        } else if ((allowed & OPT_DIRECTIONAL) && !strcmp(a, "--directional")) {
            o->directional = 1;
        } else if ((allowed & OPT_DIRECTIONAL) && !strcmp(a, "--per-param")) {
            o->per_param = 1;
        } else if ((allowed & OPT_DIRECTIONAL) &&
                   ((v = opt_value(a, "--directions", argc, argv, &i, &missing)) || missing)) {
            if (!v || !parse_ull(v, &x) || x == 0 || x > 1000) {
                usage_hint(o->verb, "%s needs a whole number from 1 to 1000", "--directions");
                return EXIT_USAGE;
            }
            o->directions = (unsigned)x;
            o->directional = 1;
        } else if ((allowed & OPT_AT) && ((v = opt_value(a, "--at", argc, argv, &i, &missing)) || missing)) {
            if (!v) {
                usage_hint(o->verb, "%s needs a point, e.g. --at 'w1 = 1/2, w2 = 3'", "--at");
                return EXIT_USAGE;
            }
            o->at = v;
        } else if ((allowed & OPT_GRADIENTS) &&
                   ((v = opt_value(a, "--gradients", argc, argv, &i, &missing)) || missing)) {
            if (!v) {
                usage_hint(o->verb, "%s needs a file (JSON or CSV)", "--gradients");
                return EXIT_USAGE;
            }
            o->gradients = v;
        } else if ((allowed & OPT_CLAMP) && ((v = opt_value(a, "--clamp", argc, argv, &i, &missing)) || missing)) {
            if (!v || !*v) {
                usage_hint(o->verb, "%s needs a list of params, e.g. --clamp 'w1,w2'", "--clamp");
                return EXIT_USAGE;
            }
            o->clamp = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            usage_hint(o->verb, "unknown option '%s'", a);
            return EXIT_USAGE;
        } else if (o->case_path) {
            usage_hint(o->verb, "one case file at a time (found a second, '%s')", a);
            return EXIT_USAGE;
        } else {
            o->case_path = a;
        }
    }
    if (!o->case_path) {
        usage_hint(o->verb, "%s", "a case file is needed (or - for standard input)");
        return EXIT_USAGE;
    }
    if (o->precision > o->lim.max_precision) {
        /* after every option: --max-precision may come later */
        fprintf(stderr, "%s: error: --precision %lu is above the limit of %lu bits (raise it with --max-precision)\n",
                prog, o->precision, o->lim.max_precision);
        return EXIT_USAGE;
    }
    if (o->directional && o->per_param) {
        usage_hint(o->verb, "%s", "--per-param and --directional (or --directions) exclude each other");
        return EXIT_USAGE;
    }
    if ((allowed & OPT_GRADIENTS) && !o->gradients) {
        usage_hint(o->verb, "%s", "--gradients FILE is needed");
        return EXIT_USAGE;
    }
    if (o->gradients) {
        if (!strcmp(o->gradients, "-") && !strcmp(o->case_path, "-")) {
            usage_hint(o->verb, "%s", "the case and the gradients cannot both come from standard input");
            return EXIT_USAGE;
        }
        if (read_all(o->gradients, o->lim.max_file_bytes, &o->grad_text, &o->grad_len) != 0) {
            int e = errno;
            fprintf(stderr, "%s: cannot read '%s': %s\n", prog, o->gradients,
                    e == EFBIG ? "larger than --max-file-bytes" : strerror(e));
            return e == ENOMEM ? EXIT_SYSTEM : EXIT_USAGE;
        }
    }
    if ((allowed & OPT_REPORT) && o->fragment && o->format != GP_FMT_LATEX) {
        usage_hint(o->verb, "%s", "--fragment goes with --format latex");
        return EXIT_USAGE;
    }
    if (o->output && o->case_path && same_file(o->output, o->case_path)) {
        usage_hint(o->verb, "-o '%s' is the case file itself: write the output to another file", o->output);
        return EXIT_USAGE;
    }
    if ((allowed & OPT_REPORT) && o->format == GP_FMT_MARKDOWN && !o->picture && o->output)
        o->picture = o->picture_owned = sibling_picture(o->output);
    if (o->picture_owned && o->case_path && same_file(o->picture_owned, o->case_path)) {
        usage_hint(o->verb, "the picture '%s' would overwrite the case file: give --picture", o->picture_owned);
        free(o->picture_owned);
        return EXIT_USAGE;
    }
    int code = run(o, fn);
    free(o->grad_text);
    free(o->picture_owned);
    return code;
}

/* GMP, MPFR and FLINT abort when an allocation fails: with these they end
   the process the way gradproof ends a system failure, saying why */
static void out_of_memory(void)
{
    static const char m[] = "gradproof: out of memory (in GMP, MPFR or FLINT)\n";
    ssize_t w = write(STDERR_FILENO, m, sizeof m - 1);
    (void)w;
    _exit(EXIT_SYSTEM);
}
static void *lib_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p && n)
        out_of_memory();
    return p;
}
static void *lib_calloc(size_t n, size_t m)
{
    void *p = calloc(n, m);
    if (!p && n && m)
        out_of_memory();
    return p;
}
static void *lib_realloc(void *q, size_t n)
{
    void *p = realloc(q, n);
    if (!p && n)
        out_of_memory();
    return p;
}
static void *gmp_realloc(void *q, size_t old, size_t n)
{
    (void)old;
    return lib_realloc(q, n);
}
static void gmp_free(void *q, size_t n)
{
    (void)n;
    free(q);
}

int main(int argc, char **argv)
{
    mp_set_memory_functions(lib_malloc, gmp_realloc, gmp_free);
    __flint_set_memory_functions(lib_malloc, lib_calloc, lib_realloc, free);
    if (argc < 2) {
        usage_hint(NULL, "%s", "a command is needed");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(main_help, stdout);
        return finish_output(EXIT_HOLDS);
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gradproof %s\n", GP_VERSION_STRING);
        return finish_output(EXIT_HOLDS);
    }
    opts o;
    memset(&o, 0, sizeof o);
    o.verb = argv[1];
    o.format = GP_FMT_TEXT;
    {
        gp_ctx *tmp = gp_ctx_new();
        if (!tmp) {
            fprintf(stderr, "%s: out of memory\n", prog);
            return EXIT_SYSTEM;
        }
        gp_ctx_get_limits(tmp, &o.lim);
        gp_ctx_free(tmp);
    }
    if (!strcmp(o.verb, "claims"))
        return main_verb(&o, argc, argv, claims_help, OPT_POINTS | OPT_SEED, do_claims);
    if (!strcmp(o.verb, "symmetry"))
        return main_verb(&o, argc, argv, symmetry_help, OPT_SEED | OPT_CLAMP, do_symmetry);
    if (!strcmp(o.verb, "report")) {
        o.format = GP_FMT_MARKDOWN;
        return main_verb(&o, argc, argv, report_help, OPT_SEED | OPT_OUTPUT | OPT_REPORT, do_report);
    }
    if (!strcmp(o.verb, "dot"))
        return main_verb(&o, argc, argv, dot_help, OPT_OUTPUT | OPT_DOT, do_dot);
    if (!strcmp(o.verb, "verify"))
        return main_verb(&o, argc, argv, verify_help, OPT_SEED | OPT_GRADIENTS, do_verify);
    if (!strcmp(o.verb, "grad"))
        return main_verb(&o, argc, argv, grad_help, OPT_SEED | OPT_AT, do_grad);
    if (!strcmp(o.verb, "check"))
        return main_verb(&o, argc, argv, check_help, OPT_POINTS | OPT_SEED | OPT_PRECISION | OPT_DIRECTIONAL, do_check);
    if (strcmp(o.verb, "derive") != 0) {
        if (o.verb[0] == '-')
            usage_hint(NULL, "a command must come first, found the option '%s'", o.verb);
        else
            usage_hint(NULL, "unknown command '%s'", o.verb);
        return EXIT_USAGE;
    }
    const char **wrt = calloc((size_t)argc, sizeof *wrt);
    if (!wrt) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_SYSTEM;
    }
    o.wrt = wrt;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int r = limit_option(&o, argc, argv, &i);
        if (r < 0) {
            free(wrt);
            return EXIT_USAGE;
        }
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(derive_help, stdout);
            free(wrt);
            return finish_output(EXIT_HOLDS);
        } else if (!strcmp(a, "--format") || !strncmp(a, "--format=", 9)) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                usage_hint(o.verb, "%s needs a value: text, markdown, latex or json", "--format");
                free(wrt);
                return EXIT_USAGE;
            }
            if (!strcmp(v, "text"))
                o.format = GP_FMT_TEXT;
            else if (!strcmp(v, "markdown") || !strcmp(v, "md"))
                o.format = GP_FMT_MARKDOWN;
            else if (!strcmp(v, "latex") || !strcmp(v, "tex"))
                o.format = GP_FMT_LATEX;
            else if (!strcmp(v, "json"))
                o.format = GP_FMT_JSON;
            else {
                usage_hint(o.verb, "unknown format '%s' (text, markdown, latex or json)", v);
                free(wrt);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--json")) {
            o.format = GP_FMT_JSON;
        } else if (!strcmp(a, "--expand")) {
            o.expand = 1;
        } else if (!strcmp(a, "--wrt") || !strncmp(a, "--wrt=", 6)) {
            size_t before = o.nwrt;
            if (a[5] == '=') {
                /* --wrt=a,b: split a copy, kept until exit */
                char *list = strdup(a + 6);
                if (!list) {
                    fprintf(stderr, "%s: out of memory\n", prog);
                    free(wrt);
                    return EXIT_SYSTEM;
                }
                o.owned = list;
                for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
                    wrt[o.nwrt++] = t;
            } else {
                /* names follow until the next option or the case file */
                while (i + 1 < argc && argv[i + 1][0] != '-' &&
                       !(strlen(argv[i + 1]) > 5 && !strcmp(argv[i + 1] + strlen(argv[i + 1]) - 5, ".case")))
                    wrt[o.nwrt++] = argv[++i];
            }
            if (o.nwrt == before) {
                usage_hint(o.verb, "%s needs at least one param name", "--wrt");
                free(wrt);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            usage_hint(o.verb, "unknown option '%s'", a);
            free(wrt);
            return EXIT_USAGE;
        } else if (o.case_path) {
            usage_hint(o.verb, "one case file at a time (found a second, '%s')", a);
            free(wrt);
            return EXIT_USAGE;
        } else {
            o.case_path = a;
        }
    }
    if (!o.case_path) {
        usage_hint(o.verb, "%s", "a case file is needed (or - for standard input)");
        free(wrt);
        return EXIT_USAGE;
    }
    int code = run(&o, do_derive);
    free(o.owned);
    free(wrt);
    return code;
}

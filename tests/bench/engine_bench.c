/*
 * engine_bench.c -- time the double tape engine (lib/tape.h) against the
 * hand-written forward/backward of hand_mlp.c on the same network, the same
 * params and the same data, and check that both give the same gradient.
 *
 *   engine_bench --case FILE --hand seed003|mlp:N0-N1-...-NL --batch B
 *                [--network NAME] [--min-time SECONDS] [--rounds N] [--seed S]
 *
 * Prints one JSON line:
 *   {"network", "batch", "params", "tape_instructions",
 *    "engine_us_per_sample", "hand_us_per_sample", "ratio" (engine / hand),
 *    "hand_lanes_us_per_sample", "ratio_lanes" (engine / the hand-written
 *        code with four accumulators in its sums over the samples, see
 *        hand_mlp.c: the stronger baseline),
 *    "bounded_us_per_sample", "bounded_ratio" (bounded engine / engine),
 *    "max_scaled_diff" (engine vs hand, the checked figure: the largest
 *        |engine - hand| / max(|engine|, |hand|, scale) over the gradient
 *        entries, scale the sum of |terms| of the entry, see hand_mlp.h),
 *    "max_rel_diff" (the largest plain |engine - hand| / max(|engine|, |hand|)),
 *    "entries_rel_over_1e-10" (entries whose plain relative difference
 *        exceeds 1e-10: small entries made by cancellation),
 *    "max_diff_over_bound" (max over the entries of |engine - hand| / the
 *        bounded engine's rounding bound; informative only: the hand-written
 *        code has rounding errors of its own; null when a bound is 0),
 *    "load_s", "compile_s"}
 * Each time is the best of --rounds (default 5) measurements of at least
 * --min-time (default 0.3) seconds, the four codes measured in turn.
 * One forward plus one reverse sweep (engine) or one call of the hand-written
 * gradient is one repetition; the time per sample is its time / B.
 *
 * Exit 1 (with the entries on stderr) when an engine gradient entry differs
 * from the hand-written one by more than 1e-10 relative to its scale
 * (max_scaled_diff), when the bounded engine's gradient differs so from the
 * unbounded one, or when the loss differs by more than 1e-10 relatively;
 * 2 on a usage or load error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build.h"
#include "ctx.h"
#include "dag.h"
#include "gradproof.h"
#include "hand_mlp.h"
#include "tape.h"

#define MAX_LAYERS 16
#define TOL 1e-10

static uint64_t rng_state = 0x2545f4914f6cdd1du;
static double urand(void) /* uniform in (-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "engine_bench: %s\n", msg);
    exit(2);
}

/* ---- the three codes under test ---- */

typedef struct bench {
    size_t B, np;
    const double *params, *data;
    double *grad, *bound;
    tape_dbl *w, *wb;      /* unbounded, bounded */
    int seed003;
    double *work;          /* seed003 */
    hand_mlp *m;
} bench;

static void run_engine(bench *b)
{
    tape_dbl_forward(b->w, b->params, b->data);
    tape_dbl_reverse(b->w, 0, b->grad, NULL);
}
static void run_bounded(bench *b)
{
    tape_dbl_forward(b->wb, b->params, b->data);
    tape_dbl_reverse(b->wb, 0, b->grad, b->bound);
}
static void run_hand_variant(bench *b, int lanes)
{
    if (b->seed003) {
        hand_seed003_grad(b->B, b->params, b->data, b->grad, b->work, lanes);
    } else {
        hand_mlp_set_lanes(b->m, lanes);
        hand_mlp_grad(b->m, b->params, b->data, b->grad);
    }
}
static void run_hand(bench *b) { run_hand_variant(b, 0); }
static void run_hand_lanes(bench *b) { run_hand_variant(b, 1); }

typedef void (*runfn)(bench *);

static double time_reps(runfn f, bench *b, long reps)
{
    double t0 = now();
    for (long r = 0; r < reps; r++)
        f(b);
    return now() - t0;
}

/* repetitions that take at least min_time seconds (the calibration warms up) */
static long calibrate(runfn f, bench *b, double min_time)
{
    long reps = 1;
    for (;;) {
        double t = time_reps(f, b, reps);
        if (t >= min_time)
            return reps;
        double scale = t > 0 ? 1.2 * min_time / t : 100;
        if (scale < 2)
            scale = 2;
        if (scale > 100)
            scale = 100;
        reps = (long)((double)reps * scale) + 1;
    }
}

/* ---- names of params, for the report of a disagreement ---- */

static void leaf_name(const gp_ctx *c, uint32_t li, char *out, size_t cap)
{
    const gp_name *nm = &c->leaf[li].name;
    int len = snprintf(out, cap, "%s", nm->base);
    for (int q = 0; q < nm->nidx && len > 0 && (size_t)len < cap; q++)
        len += snprintf(out + len, cap - (size_t)len, "[%d]", (int)nm->idx[q]);
}

static double reldiff(double a, double b)
{
    double d = fabs(a - b), s = fmax(fabs(a), fabs(b));
    return d == 0 ? 0 : d / s;
}

static double scaleddiff(double a, double b, double scale)
{
    double d = fabs(a - b), s = fmax(fmax(fabs(a), fabs(b)), scale);
    return d == 0 ? 0 : d / s;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *hand = NULL, *network = NULL;
    size_t B = 0;
    double min_time = 0.3;
    int rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            die("every option takes a value");
        const char *o = argv[i], *v = argv[++i];
        if (!strcmp(o, "--case"))
            path = v;
        else if (!strcmp(o, "--hand"))
            hand = v;
        else if (!strcmp(o, "--network"))
            network = v;
        else if (!strcmp(o, "--batch"))
            B = (size_t)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--min-time"))
            min_time = strtod(v, NULL);
        else if (!strcmp(o, "--rounds"))
            rounds = atoi(v);
        else if (!strcmp(o, "--seed"))
            rng_state = strtoull(v, NULL, 10) * 0x9e3779b97f4a7c15u + 1;
        else
            die("usage: engine_bench --case FILE --hand seed003|mlp:N0-...-NL --batch B "
                "[--network NAME] [--min-time S] [--rounds N] [--seed S]");
    }
    if (!path || !hand || B == 0 || rounds < 1)
        die("--case, --hand and --batch (> 0) are required");
    if (!network)
        network = hand;

    /* the hand-written network */
    bench b = {0};
    b.B = B;
    int L = 0, n[MAX_LAYERS + 1];
    size_t nin, nout;
    if (!strcmp(hand, "seed003")) {
        b.seed003 = 1;
        b.np = HAND_SEED003_NPARAMS;
        if (!(b.work = malloc(HAND_SEED003_WORK(B) * sizeof *b.work)))
            die("out of memory");
        nin = 2;
        nout = 1;
    } else if (!strncmp(hand, "mlp:", 4)) {
        const char *s = hand + 4;
        for (;;) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || v <= 0 || L > MAX_LAYERS)
                die("bad --hand mlp:N0-N1-...-NL");
            n[L++] = (int)v;
            if (*end != '-')
                break;
            s = end + 1;
        }
        L--;
        if (L < 1)
            die("an MLP needs at least two sizes");
        if (!(b.m = hand_mlp_new(L, n, B)))
            die("out of memory");
        b.np = hand_mlp_nparams(b.m);
        nin = (size_t)n[0];
        nout = (size_t)n[L];
    } else {
        die("--hand is seed003 or mlp:N0-N1-...-NL");
    }

    /* the case */
    double t0 = now();
    gp_ctx *ctx = gp_ctx_new();
    gp_case *cs = NULL;
    if (!ctx)
        die("out of memory");
    gp_status st = gp_case_load_file(ctx, path, &cs);
    if (st != GP_OK) {
        for (size_t i = 0; i < gp_diag_count(ctx); i++) {
            char *msg = NULL;
            if (gp_diag_render(ctx, i, &msg) == GP_OK && msg)
                fprintf(stderr, "%s\n", msg);
            gp_free(msg);
        }
        fprintf(stderr, "engine_bench: cannot load %s (status %d)\n", path, (int)st);
        return 2;
    }
    double load_s = now() - t0;
    if (cs->nparams != b.np) {
        fprintf(stderr, "engine_bench: %s has %zu params, the hand-written %s %zu\n", path, cs->nparams, hand, b.np);
        return 2;
    }
    /* data columns: the case's inputs then its targets, in declaration order,
       which is the hand-written layout (x..., then y...) */
    if (cs->ninputs != nin + nout) {
        fprintf(stderr, "engine_bench: %s has %zu data columns, the hand-written %s %zu\n", path, cs->ninputs, hand,
                nin + nout);
        return 2;
    }
    for (size_t j = 0; j < cs->ninputs; j++)
        if (ctx->leaf[cs->inputs[j]].kind != (j < nin ? GP_LEAF_INPUT : GP_LEAF_TARGET)) {
            fprintf(stderr, "engine_bench: %s: data column %zu is not an %s\n", path, j, j < nin ? "input" : "target");
            return 2;
        }

    t0 = now();
    tape t;
    st = tape_compile(&t, ctx, 1, &cs->loss, cs->nparams, cs->params, cs->ninputs, cs->inputs);
    if (st != GP_OK) {
        fprintf(stderr, "engine_bench: tape_compile: status %d\n", (int)st);
        return 2;
    }
    double compile_s = now() - t0;
    tape_dbl w, wb;
    if (tape_dbl_init(&w, &t, B, 0) != GP_OK || tape_dbl_init(&wb, &t, B, 1) != GP_OK)
        die("tape_dbl_init failed");
    b.w = &w;
    b.wb = &wb;
    const int per_sample = t.ins[t.root[0]].level == GP_LV_SAMPLE;

    /* params and data */
    double *params = malloc(b.np * sizeof *params), *data = malloc((nin + nout) * B * sizeof *data);
    double *ge = malloc(b.np * sizeof *ge), *gh = malloc(b.np * sizeof *gh), *gb = malloc(b.np * sizeof *gb),
           *bnd = malloc(b.np * sizeof *bnd);
    if (!params || !data || !ge || !gh || !gb || !bnd)
        die("out of memory");
    if (b.seed003) {
        for (size_t i = 0; i < b.np; i++)
            params[i] = 2 * urand();
        for (size_t i = 0; i < (nin + nout) * B; i++)
            data[i] = 2 * urand();
    } else {
        /* weights scaled by 2/sqrt(fan-in): tanh units in their working range */
        size_t i = 0;
        for (int l = 1; l <= L; l++) {
            const double sc = 2 / sqrt((double)n[l - 1]);
            for (long k = 0; k < (long)n[l] * n[l - 1]; k++)
                params[i++] = sc * urand();
            for (int k = 0; k < n[l]; k++)
                params[i++] = 0.5 * urand();
        }
        for (size_t k = 0; k < (nin + nout) * B; k++)
            data[k] = urand();
    }
    b.params = params;
    b.data = data;
    b.bound = bnd;

    /* correctness: engine, hand-written, bounded engine */
    tape_dbl_forward(&w, params, data);
    double le = 0;
    if (per_sample)
        for (size_t s = 0; s < B; s++)
            le += tape_dbl_value(&w, 0, s);
    else
        le = tape_dbl_value(&w, 0, 0);
    tape_dbl_reverse(&w, 0, ge, NULL);
    double lh = b.seed003 ? hand_seed003_grad(B, params, data, gh, b.work, 0) : hand_mlp_grad(b.m, params, data, gh);
    double *g4 = malloc(b.np * sizeof *g4);
    if (!g4)
        die("out of memory");
    b.grad = g4;
    run_hand_lanes(&b);
    tape_dbl_forward(&wb, params, data);
    tape_dbl_reverse(&wb, 0, gb, bnd);

    /* per entry: |engine - hand| / max(|engine|, |hand|, scale), scale the
       sum of |terms| of the entry (hand_mlp.h): a plain relative difference
       for an entry of the size of its terms, relative to the terms for one
       that came out small by cancellation */
    double *sc = malloc(b.np * sizeof *sc);
    if (!sc)
        die("out of memory");
    if (b.seed003)
        hand_seed003_gradscale(B, params, data, sc);
    else
        hand_mlp_gradscale(b.m, params, data, sc);
    double maxrel = 0, maxsc = 0, maxb = 0, maxover = 0;
    size_t nbad = 0, nrel = 0, worst = 0;
    for (size_t k = 0; k < b.np; k++) {
        double r = reldiff(ge[k], gh[k]), rs = scaleddiff(ge[k], gh[k], sc[k]);
        if (!(r <= maxrel))
            maxrel = r;
        if (!(r <= TOL))
            nrel++;
        if (!(rs <= TOL))
            nbad++;
        if (!(rs <= maxsc)) {
            maxsc = rs;
            worst = k;
        }
        double rb = fmax(scaleddiff(gb[k], ge[k], sc[k]), scaleddiff(g4[k], ge[k], sc[k]));
        if (!(rb <= maxb))
            maxb = rb;
        double d = fabs(ge[k] - gh[k]);
        if (d > 0) {
            double ov = bnd[k] > 0 ? d / bnd[k] : HUGE_VAL;
            if (!(ov <= maxover))
                maxover = ov;
        }
    }
    double lrel = reldiff(le, lh);
    if (nbad || !(lrel <= TOL) || !(maxb <= TOL)) {
        char nm[96];
        fprintf(stderr, "engine_bench: %s batch %zu: the engine disagrees with the hand-written code\n", network, B);
        fprintf(stderr, "  loss: engine %.17g hand %.17g (rel %.3g)%s\n", le, lh, lrel,
                per_sample ? " [summed over samples]" : "");
        fprintf(stderr, "  %zu of %zu gradient entries differ by more than %g relative to their scale; worst %.3g\n",
                nbad, b.np, TOL, maxsc);
        fprintf(stderr, "  bounded engine and lanes hand code vs engine: max %.3g relative to the scale\n", maxb);
        size_t shown = 0;
        for (size_t k = 0; k < b.np && shown < 20; k++) {
            if (scaleddiff(ge[k], gh[k], sc[k]) <= TOL && scaleddiff(gb[k], ge[k], sc[k]) <= TOL &&
                scaleddiff(g4[k], ge[k], sc[k]) <= TOL && k != worst)
                continue;
            leaf_name(ctx, cs->params[k], nm, sizeof nm);
            fprintf(stderr,
                    "  param %zu %-14s engine %.17g  hand %.17g  hand lanes %.17g  bounded %.17g (bound %.3g, scale "
                    "%.3g)\n",
                    k, nm, ge[k], gh[k], g4[k], gb[k], bnd[k], sc[k]);
            shown++;
        }
        return 1;
    }

    /* timing: best of `rounds`, the three codes in turn */
    enum { NCODE = 4 };
    runfn fn[NCODE] = {run_engine, run_hand, run_bounded, run_hand_lanes};
    long reps[NCODE];
    double best[NCODE] = {HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL};
    b.grad = ge;
    for (int c = 0; c < NCODE; c++)
        reps[c] = calibrate(fn[c], &b, min_time);
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < NCODE; c++) {
            double tt = time_reps(fn[c], &b, reps[c]) / (double)reps[c];
            if (tt < best[c])
                best[c] = tt;
        }
    double us[NCODE];
    for (int c = 0; c < NCODE; c++)
        us[c] = best[c] * 1e6 / (double)B;

    char over[32];
    if (isfinite(maxover))
        snprintf(over, sizeof over, "%.3g", maxover);
    else
        snprintf(over, sizeof over, "null");
    printf("{\"network\": \"%s\", \"batch\": %zu, \"params\": %zu, \"tape_instructions\": %zu, "
           "\"engine_us_per_sample\": %.4g, \"hand_us_per_sample\": %.4g, \"ratio\": %.3f, "
           "\"hand_lanes_us_per_sample\": %.4g, \"ratio_lanes\": %.3f, "
           "\"bounded_us_per_sample\": %.4g, \"bounded_ratio\": %.3f, "
           "\"max_scaled_diff\": %.3g, \"max_rel_diff\": %.3g, \"entries_rel_over_1e-10\": %zu, "
           "\"max_diff_over_bound\": %s, \"load_s\": %.3f, \"compile_s\": %.3f}\n",
           network, B, b.np, t.nins, us[0], us[1], us[0] / us[1], us[3], us[0] / us[3], us[2], us[2] / us[0], maxsc, maxrel, nrel, over,
           load_s, compile_s);

    free(params);
    free(data);
    free(ge);
    free(gh);
    free(gb);
    free(bnd);
    free(sc);
    free(g4);
    tape_dbl_free(&w);
    tape_dbl_free(&wb);
    tape_free(&t);
    hand_mlp_free(b.m);
    free(b.work);
    gp_ctx_free(ctx);
    return 0;
}

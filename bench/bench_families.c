/* varia's side of bench/families.sh: the DRAW, VRNN and GAN families through the
 * public API only (bench/bench_families.py is PyTorch's side of the same tasks).
 *
 *   bench_families TASK MODEL.json [DATA] [--threads T] [--n N] [--k K] [--repeats R]
 *                  [--calls C] [--seq-n S] [--seq-len L] [--chains C] [--steps T]
 *                  [--leapfrog L] [--sigma2 S]
 *   bench_families decode MODEL.json Z.f32 OUT.f32 [--n N] [--seq-len L]
 *
 * TASK (each warmed up, then the median over R repeats; RESULT lines on stdout):
 *   draw-sample  varia_sample of one example (the whole T-step trajectory),
 *                C individually timed calls: the median in microseconds.
 *   draw-iw      varia_eval, k samples on the first N images of DATA (as given).
 *   vrnn-iw      varia_eval_ex, k particles on the first N sequences of DATA
 *                (an .npz), padded to the longest, each over its own length.
 *   vrnn-sample  varia_sample_ex of S sequences of L frames.
 *   ais          varia_ais with C chains, T steps, L leapfrog steps, sigma2 S on
 *                the first N images of DATA (an IDX file, [0, 1] intensities).
 *   gan-sample   varia_sample of batches of 1000: samples/s.
 * draw-iw, vrnn-iw and ais also print every example's estimate (RESULT
 * per_example v1,v2,...) of their first repeat (seed 1) for the sanity check.
 * decode: E[x|z] of the N latents in Z.f32 (raw float32; sequence models: L
 * frames each) written to OUT.f32, for the deterministic check. */
#include <varia.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MAX_REPEATS 64

static varia_ctx *ctx;

static int check(varia_status st, const char *what)
{
    if (st == VARIA_OK)
        return 1;
    fprintf(stderr, "bench_families: %s: %s: %s\n", what, varia_status_name(st), varia_ctx_message(ctx));
    return 0;
}

typedef struct args {
    const char *task, *model, *data, *zfile, *outfile;
    int threads, reps;
    int64_t n, k, calls, seq_n, seq_len, chains, steps, leapfrog;
    double sigma2;
} args;

static void per_example(const double *v, int64_t n)
{
    printf("RESULT per_example ");
    for (int64_t i = 0; i < n; i++)
        printf("%s%.6f", i ? "," : "", v[i]);
    printf("\n");
}

/* The process's CPU time (all its threads): on this shared machine the wall
 * clock also counts the time other processes hold the cores. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Medians of the wall times t[reps] and CPU times c[reps] of `units` each. */
static void summary(const char *key, double *t, double *c, int reps, double units)
{
    double med = bench_median(t, reps), cmed = bench_median(c, reps);
    printf("RESULT %s_seconds %.6f\nRESULT %s_per_s %.4f\n", key, med, key, units / med);
    printf("RESULT %s_cpu_seconds %.6f\nRESULT %s_cpu_per_s %.4f\n", key, cmed, key, units / cmed);
}

static int draw_sample(const varia_model *m, const varia_info *in, const args *a)
{
    float *x = malloc(sizeof(float) * (size_t)in->data_size);
    double *t = malloc(sizeof(double) * (size_t)a->calls), *c = malloc(sizeof(double) * (size_t)a->calls);
    int ok = x && t && c;
    for (int64_t i = 0; ok && i < a->calls / 10 + 1; i++)
        ok = check(varia_sample(ctx, m, 1, 100000 + (uint64_t)i, 1.0f, x, NULL), "sample (warm-up)");
    for (int64_t i = 0; ok && i < a->calls; i++) {
        double t0 = bench_now(), c0 = cpu_now();
        varia_status st = varia_sample(ctx, m, 1, (uint64_t)i + 1, 1.0f, x, NULL);
        t[i] = bench_now() - t0, c[i] = cpu_now() - c0;
        ok = check(st, "sample");
    }
    if (ok)
        printf("RESULT sample1_us %.4f\nRESULT sample1_cpu_us %.4f\nRESULT calls %lld\n", 1e6 * bench_median(t, a->calls),
               1e6 * bench_median(c, a->calls), (long long)a->calls);
    free(x), free(t), free(c);
    return ok;
}

static int draw_iw(const varia_model *m, const args *a)
{
    varia_dataset d = {0};
    if (!check(varia_dataset_load(ctx, a->data, a->n, &d), "dataset"))
        return 0;
    int64_t n = d.n < a->n ? d.n : a->n;
    varia_eval_row *rows = malloc(sizeof *rows * (size_t)n);
    double t[MAX_REPEATS], c[MAX_REPEATS], *v = malloc(sizeof(double) * (size_t)n);
    varia_eval_summary s;
    varia_eval_opts warm = {.k = a->k, .seed = 1000, .binarize = VARIA_BIN_NONE};
    int ok = rows && v && check(varia_eval(ctx, m, d.x, 1, &warm, rows, &s), "eval (warm-up)");
    for (int r = 0; ok && r < a->reps; r++) {
        varia_eval_opts o = {.k = a->k, .seed = (uint64_t)r + 1, .binarize = VARIA_BIN_NONE};
        double t0 = bench_now(), c0 = cpu_now();
        ok = check(varia_eval(ctx, m, d.x, n, &o, rows, &s), "eval");
        t[r] = bench_now() - t0, c[r] = cpu_now() - c0;
        fprintf(stderr, "  varia draw-iw repeat %d: %.3f s, log p %.4f\n", r + 1, t[r], -s.nll_mean);
        for (int64_t i = 0; ok && r == 0 && i < n; i++)
            v[i] = rows[i].log_px;
    }
    if (ok) {
        printf("RESULT n %lld\nRESULT k %lld\n", (long long)n, (long long)a->k);
        summary("iw", t, c, a->reps, (double)n);
        per_example(v, n);
    }
    free(rows), free(v);
    varia_dataset_free(&d);
    return ok;
}

static int vrnn_iw(const varia_model *m, const args *a)
{
    varia_seqset q = {0};
    if (!check(varia_seqset_load(ctx, a->data, a->n, &q), "seqset"))
        return 0;
    int64_t T = 0, n = q.n, frames = 0;
    for (int64_t i = 0; i < n; i++)
        T = q.lengths[i] > T ? q.lengths[i] : T, frames += q.lengths[i];
    float *x = calloc((size_t)(n * T * q.dim) + 1, sizeof *x);
    varia_eval_row *rows = malloc(sizeof *rows * (size_t)n);
    double t[MAX_REPEATS], c[MAX_REPEATS], *v = malloc(sizeof(double) * (size_t)n);
    int ok = x && rows && v;
    for (int64_t i = 0; ok && i < n; i++)
        memcpy(x + i * T * q.dim, q.x + q.offsets[i] * q.dim, sizeof(float) * (size_t)(q.lengths[i] * q.dim));
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = q.lengths};
    varia_eval_summary s;
    varia_eval_opts warm = {.k = a->k, .seed = 1000, .binarize = VARIA_BIN_NONE};
    ok = ok && check(varia_eval_ex(ctx, m, x, 1, &warm, &o, rows, &s), "eval (warm-up)");
    for (int r = 0; ok && r < a->reps; r++) {
        varia_eval_opts e = {.k = a->k, .seed = (uint64_t)r + 1, .binarize = VARIA_BIN_NONE};
        double t0 = bench_now(), c0 = cpu_now();
        ok = check(varia_eval_ex(ctx, m, x, n, &e, &o, rows, &s), "eval");
        t[r] = bench_now() - t0, c[r] = cpu_now() - c0;
        fprintf(stderr, "  varia vrnn-iw repeat %d: %.3f s, log p %.4f\n", r + 1, t[r], -s.nll_mean);
        for (int64_t i = 0; ok && r == 0 && i < n; i++)
            v[i] = rows[i].log_px;
    }
    if (ok) {
        printf("RESULT n %lld\nRESULT k %lld\nRESULT frames %lld\n", (long long)n, (long long)a->k, (long long)frames);
        summary("iw", t, c, a->reps, (double)n);
        per_example(v, n);
    }
    free(x), free(rows), free(v);
    varia_seqset_free(&q);
    return ok;
}

static int vrnn_sample(const varia_model *m, const varia_info *in, const args *a)
{
    int64_t n = a->seq_n, T = a->seq_len;
    float *x = malloc(sizeof(float) * (size_t)(n * T * in->data_size));
    double t[MAX_REPEATS], c[MAX_REPEATS];
    int ok = x != NULL;
    varia_opts w = {.size = sizeof w, .seed = 999, .seq_len = T};
    ok = ok && check(varia_sample_ex(ctx, m, n, &w, x, NULL), "sample (warm-up)");
    for (int r = 0; ok && r < a->reps; r++) {
        varia_opts o = {.size = sizeof o, .seed = (uint64_t)r + 1, .seq_len = T};
        double t0 = bench_now(), c0 = cpu_now();
        ok = check(varia_sample_ex(ctx, m, n, &o, x, NULL), "sample");
        t[r] = bench_now() - t0, c[r] = cpu_now() - c0;
    }
    if (ok) {
        double on = 0;
        for (int64_t i = 0; i < n * T * in->data_size; i++)
            on += x[i];
        printf("RESULT seq_n %lld\nRESULT seq_len %lld\nRESULT notes_per_frame %.4f\n", (long long)n, (long long)T,
               on / (double)(n * T));
        summary("frames", t, c, a->reps, (double)(n * T));
    }
    free(x);
    return ok;
}

static int ais(const varia_model *m, const args *a)
{
    varia_dataset d = {0};
    if (!check(varia_dataset_load(ctx, a->data, a->n, &d), "dataset"))
        return 0;
    int64_t n = d.n < a->n ? d.n : a->n;
    varia_ais_row *rows = malloc(sizeof *rows * (size_t)n);
    double t[MAX_REPEATS], c[MAX_REPEATS], *v = malloc(sizeof(double) * (size_t)n), acc = 0;
    int ok = rows && v;
    varia_ais_opts w = {.size = sizeof w, .chains = a->chains, .steps = a->steps < 10 ? a->steps : 10,
                        .leapfrog = a->leapfrog, .sigma2 = a->sigma2, .seed = 1000};
    ok = ok && check(varia_ais(ctx, m, d.x, 1, &w, rows), "ais (warm-up)");
    for (int r = 0; ok && r < a->reps; r++) {
        varia_ais_opts o = {.size = sizeof o, .chains = a->chains, .steps = a->steps, .leapfrog = a->leapfrog,
                            .sigma2 = a->sigma2, .seed = (uint64_t)r + 1};
        double t0 = bench_now(), c0 = cpu_now();
        ok = check(varia_ais(ctx, m, d.x, n, &o, rows), "ais");
        t[r] = bench_now() - t0, c[r] = cpu_now() - c0;
        double mean = 0;
        for (int64_t i = 0; ok && i < n; i++)
            mean += rows[i].log_px / (double)n;
        fprintf(stderr, "  varia ais repeat %d: %.3f s, log p %.4f\n", r + 1, t[r], mean);
        for (int64_t i = 0; ok && r == 0 && i < n; i++)
            v[i] = rows[i].log_px, acc += rows[i].accept / (double)n;
    }
    if (ok) {
        printf("RESULT n %lld\nRESULT chains %lld\nRESULT steps %lld\nRESULT leapfrog %lld\nRESULT sigma2 %g\n",
               (long long)n, (long long)a->chains, (long long)a->steps, (long long)a->leapfrog, a->sigma2);
        printf("RESULT accept %.4f\n", acc);
        /* chain-steps/s: one unit is one chain's annealing step (leapfrog L gradient passes) */
        summary("ais", t, c, a->reps, (double)(n * a->chains * a->steps));
        per_example(v, n);
    }
    free(rows), free(v);
    varia_dataset_free(&d);
    return ok;
}

static int gan_sample(const varia_model *m, const varia_info *in, const args *a)
{
    const int64_t batch = 1000;
    double t[MAX_REPEATS], c[MAX_REPEATS];
    float *x = malloc(sizeof(float) * (size_t)(batch * in->data_size));
    int ok = x != NULL;
    ok = ok && check(varia_sample(ctx, m, batch, 999, 1.0f, x, NULL), "sample (warm-up)");
    double t0 = bench_now();
    ok = ok && check(varia_sample(ctx, m, batch, 998, 1.0f, x, NULL), "sample");
    int per = (int)(0.1 / (bench_now() - t0 + 1e-9)) + 1;
    for (int r = 0; ok && r < a->reps; r++) {
        double c0 = cpu_now();
        t0 = bench_now();
        for (int b = 0; ok && b < per; b++)
            ok = check(varia_sample(ctx, m, batch, (uint64_t)(r * per + b), 1.0f, x, NULL), "sample");
        t[r] = (bench_now() - t0) / per, c[r] = (cpu_now() - c0) / per;
    }
    if (ok)
        summary("samples", t, c, a->reps, (double)batch);
    free(x);
    return ok;
}

static float *read_f32(const char *path, int64_t count)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc(sizeof(float) * (size_t)count);
    if (!f || !v || fread(v, sizeof(float), (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "bench_families: cannot read %lld floats from %s\n", (long long)count, path);
        free(v), v = NULL;
    }
    if (f)
        fclose(f);
    return v;
}

static int decode(const varia_model *m, const varia_info *in, const args *a)
{
    varia_opts o = {.size = sizeof o, .seq_len = a->seq_len};
    int seq = varia_model_can(m, VARIA_NEEDS_SEQ_LEN);
    int64_t ex = in->data_size, lat = in->latent_size;
    if (seq && !check(varia_buffer_sizes(ctx, m, &o, &ex, &lat), "buffer_sizes"))
        return 0;
    float *z = read_f32(a->zfile, a->n * lat), *x = malloc(sizeof(float) * (size_t)(a->n * ex));
    int ok = z && x && check(varia_decode_ex(ctx, m, z, a->n, seq ? &o : NULL, VARIA_DECODE_MEAN, x, NULL), "decode");
    FILE *f = ok ? fopen(a->outfile, "wb") : NULL;
    ok = f && fwrite(x, sizeof(float), (size_t)(a->n * ex), f) == (size_t)(a->n * ex);
    if (f)
        ok = !fclose(f) && ok;
    if (ok)
        printf("RESULT decoded %lld\n", (long long)a->n);
    free(z), free(x);
    return ok;
}

int main(int argc, char **argv)
{
    args a = {.threads = 1, .reps = 3, .n = 10, .k = 100, .calls = 200, .seq_n = 10, .seq_len = 500, .chains = 16,
              .steps = 100, .leapfrog = 10, .sigma2 = 0};
    const char *pos[4] = {0};
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
#define OPT(name, field, conv)                                                                                         \
    if (!strcmp(s, name) && has) {                                                                                     \
        a.field = conv(argv[++i]);                                                                                     \
        continue;                                                                                                      \
    }
        OPT("--threads", threads, atoi)
        OPT("--repeats", reps, atoi)
        OPT("--n", n, atoll)
        OPT("--k", k, atoll)
        OPT("--calls", calls, atoll)
        OPT("--seq-n", seq_n, atoll)
        OPT("--seq-len", seq_len, atoll)
        OPT("--chains", chains, atoll)
        OPT("--steps", steps, atoll)
        OPT("--leapfrog", leapfrog, atoll)
        OPT("--sigma2", sigma2, atof)
#undef OPT
        if (s[0] == '-' || np == 4) {
            fprintf(stderr, "bench_families: unknown or extra argument '%s' (see the header of bench_families.c)\n", s);
            return 2;
        }
        pos[np++] = s;
    }
    a.task = pos[0], a.model = pos[1], a.data = pos[2];
    if (np < 2 || a.reps < 1 || a.reps > MAX_REPEATS || a.threads < 1 || a.n < 1 || a.calls < 1) {
        fprintf(stderr, "usage: bench_families TASK MODEL.json [DATA] [options] (see bench_families.c)\n");
        return 2;
    }
    if (!strcmp(a.task, "decode"))
        a.zfile = pos[2], a.outfile = pos[3];
    ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_info in;
    int ok = ctx && check(varia_ctx_set_threads(ctx, a.threads), "threads") &&
             check(varia_model_load(ctx, a.model, &m), "load") && check(varia_model_info(m, &in), "info");
    if (ok)
        printf("RESULT threads %d\nRESULT params %lld\n", a.threads, (long long)in.n_params);
    int need_data = strcmp(a.task, "draw-sample") && strcmp(a.task, "vrnn-sample") && strcmp(a.task, "gan-sample");
    if (ok && need_data && !a.data) {
        fprintf(stderr, "bench_families: %s needs DATA\n", a.task);
        ok = 0;
    } else if (ok && !strcmp(a.task, "draw-sample"))
        ok = draw_sample(m, &in, &a);
    else if (ok && !strcmp(a.task, "draw-iw"))
        ok = draw_iw(m, &a);
    else if (ok && !strcmp(a.task, "vrnn-iw"))
        ok = vrnn_iw(m, &a);
    else if (ok && !strcmp(a.task, "vrnn-sample"))
        ok = vrnn_sample(m, &in, &a);
    else if (ok && !strcmp(a.task, "ais"))
        ok = ais(m, &a);
    else if (ok && !strcmp(a.task, "gan-sample"))
        ok = gan_sample(m, &in, &a);
    else if (ok && !strcmp(a.task, "decode"))
        ok = a.zfile && a.outfile && decode(m, &in, &a);
    else if (ok) {
        fprintf(stderr, "bench_families: unknown task '%s'\n", a.task);
        ok = 0;
    }
    varia_model_free(m);
    varia_ctx_free(ctx);
    return ok ? 0 : 1;
}

/* End-to-end speed of varia through its public API only, on one model and one
 * data file; bench/run.sh runs it beside bench/bench_torch.py and compares.
 *
 *   bench_varia MODEL.json DATA [--threads T] [--n N] [--k K] [--repeats R]
 *               [--calls C] [--no-iw] [--no-latency] [--no-sample]
 *
 * Measures (each warmed up first, then the median over R repeats):
 *   iw       varia_eval with k samples on the first N examples of DATA (used as
 *            given), T threads: images/s; and the mean NLL, averaged over the R
 *            repeats (seeds 1..R) with its standard deviation over them.
 *   latency  varia_decode (E[x|z]) and varia_encode of one example, one thread:
 *            the median of C individually timed calls, in microseconds.
 *   sample   varia_sample of batches of 1000, T threads set: samples/s.
 * Results go to stdout as "RESULT key value" lines (read by bench/run.sh);
 * progress and errors go to stderr. */
#include <varia.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define MAX_REPEATS 64

static int check(varia_ctx *ctx, varia_status st, const char *what)
{
    if (st == VARIA_OK)
        return 1;
    fprintf(stderr, "bench_varia: %s: %s: %s\n", what, varia_status_name(st), varia_ctx_message(ctx));
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_varia MODEL.json DATA [--threads T] [--n N] [--k K] [--repeats R]\n"
                    "                   [--calls C] [--no-iw] [--no-latency] [--no-sample]\n");
    return 2;
}

/* (a) IW log-likelihood: images/s and the NLL of each repeat. */
static int bench_iw(varia_ctx *ctx, const varia_model *m, const varia_dataset *d, int64_t n, int64_t k,
                    int threads, int reps)
{
    double t[MAX_REPEATS], nll[MAX_REPEATS];
    varia_eval_summary s;
    varia_eval_opts warm = {.k = k, .seed = 1000, .binarize = VARIA_BIN_NONE};
    /* Warm-up: one example per thread (pages in the weights, starts the threads once). */
    int64_t nw = threads < n ? threads : n;
    if (!check(ctx, varia_eval(ctx, m, d->x, nw, &warm, NULL, &s), "eval (warm-up)"))
        return 0;
    for (int r = 0; r < reps; r++) {
        varia_eval_opts o = {.k = k, .seed = (uint64_t)r + 1, .binarize = VARIA_BIN_NONE};
        double t0 = bench_now();
        if (!check(ctx, varia_eval(ctx, m, d->x, n, &o, NULL, &s), "eval"))
            return 0;
        t[r] = bench_now() - t0;
        nll[r] = s.nll_mean;
        fprintf(stderr, "  varia iw repeat %d: %.3f s, NLL %.4f\n", r + 1, t[r], nll[r]);
    }
    double mean = 0, var = 0;
    for (int r = 0; r < reps; r++)
        mean += nll[r] / reps;
    for (int r = 0; r < reps; r++)
        var += (nll[r] - mean) * (nll[r] - mean) / (reps > 1 ? reps - 1 : 1);
    double med = bench_median(t, reps);
    printf("RESULT iw_n %lld\nRESULT iw_k %lld\n", (long long)n, (long long)k);
    printf("RESULT iw_seconds %.6f\nRESULT iw_images_per_s %.4f\n", med, (double)n / med);
    printf("RESULT iw_nll_mean %.6f\nRESULT iw_nll_sd %.6f\n", mean, sqrt(var));
    return 1;
}

/* (b) Latency of one decode and one encode (batch 1), median over `calls`. */
static int bench_latency(varia_ctx *ctx, const varia_model *m, const varia_info *info, const float *x,
                         int64_t calls)
{
    int64_t L = info->latent_size, D = info->data_size;
    float *z = malloc(sizeof(float) * (size_t)L), *logvar = malloc(sizeof(float) * (size_t)L);
    float *out = malloc(sizeof(float) * (size_t)D);
    double *t = malloc(sizeof(double) * (size_t)calls);
    int ok = z && logvar && out && t;
    /* A realistic latent: the posterior mean of the first example. */
    ok = ok && check(ctx, varia_encode(ctx, m, x, 1, z, logvar), "encode");
    for (int64_t i = 0; ok && i < calls / 10 + 1; i++) /* warm-up */
        ok = check(ctx, varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, out, NULL), "decode");
    for (int64_t i = 0; ok && i < calls; i++) {
        double t0 = bench_now();
        varia_status st = varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, out, NULL);
        t[i] = bench_now() - t0;
        ok = check(ctx, st, "decode");
    }
    if (ok)
        printf("RESULT decode_us %.4f\n", 1e6 * bench_median(t, calls));
    for (int64_t i = 0; ok && i < calls / 10 + 1; i++) /* warm-up */
        ok = check(ctx, varia_encode(ctx, m, x, 1, z, logvar), "encode");
    for (int64_t i = 0; ok && i < calls; i++) {
        double t0 = bench_now();
        varia_status st = varia_encode(ctx, m, x, 1, z, logvar);
        t[i] = bench_now() - t0;
        ok = check(ctx, st, "encode");
    }
    if (ok)
        printf("RESULT encode_us %.4f\nRESULT latency_calls %lld\n", 1e6 * bench_median(t, calls), (long long)calls);
    free(z), free(logvar), free(out), free(t);
    return ok;
}

/* (c) Generation: batches of 1000 from the prior, decoded to E[x|z]. */
static int bench_sample(varia_ctx *ctx, const varia_model *m, const varia_info *info, int reps)
{
    const int64_t batch = 1000;
    double t[MAX_REPEATS];
    float *x = malloc(sizeof(float) * (size_t)(batch * info->data_size));
    int ok = x != NULL;
    ok = ok && check(ctx, varia_sample(ctx, m, batch, 999, 1.0f, x, NULL), "sample (warm-up)");
    /* Enough batches per repeat for about 0.1 s, judged from one timed batch. */
    double t0 = bench_now();
    ok = ok && check(ctx, varia_sample(ctx, m, batch, 998, 1.0f, x, NULL), "sample");
    int inner = 1 + (int)(0.1 / (bench_now() - t0 + 1e-9));
    for (int r = 0; ok && r < reps; r++) {
        t0 = bench_now();
        for (int i = 0; ok && i < inner; i++)
            ok = check(ctx, varia_sample(ctx, m, batch, (uint64_t)(r * inner + i), 1.0f, x, NULL), "sample");
        t[r] = (bench_now() - t0) / inner;
    }
    if (ok)
        printf("RESULT sample_batch %lld\nRESULT sample_per_s %.2f\n", (long long)batch,
               (double)batch / bench_median(t, reps));
    free(x);
    return ok;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *data_path = NULL;
    int threads = 2, reps = 5, do_iw = 1, do_latency = 1, do_sample = 1;
    int64_t n = 20, k = 5000, calls = 20000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--threads") && has)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--n") && has)
            n = atoll(argv[++i]);
        else if (!strcmp(a, "--k") && has)
            k = atoll(argv[++i]);
        else if (!strcmp(a, "--repeats") && has)
            reps = atoi(argv[++i]);
        else if (!strcmp(a, "--calls") && has)
            calls = atoll(argv[++i]);
        else if (!strcmp(a, "--no-iw"))
            do_iw = 0;
        else if (!strcmp(a, "--no-latency"))
            do_latency = 0;
        else if (!strcmp(a, "--no-sample"))
            do_sample = 0;
        else if (a[0] == '-')
            return usage();
        else if (!model_path)
            model_path = a;
        else if (!data_path)
            data_path = a;
        else
            return usage();
    }
    if (!model_path || !data_path || threads < 1 || n < 1 || k < 1 || calls < 1 || reps < 1 ||
        reps > MAX_REPEATS)
        return usage();

    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_dataset d = {0};
    varia_info info;
    if (!ctx)
        return 4;
    int ok = check(ctx, varia_ctx_set_threads(ctx, threads), "set_threads") &&
             check(ctx, varia_model_load(ctx, model_path, &m), model_path) &&
             check(ctx, varia_model_info(m, &info), "model_info") &&
             check(ctx, varia_dataset_load(ctx, data_path, n, &d), data_path);
    if (ok && d.example_size != info.data_size) {
        fprintf(stderr, "bench_varia: %s has %lld values per example, the model wants %lld\n", data_path,
                (long long)d.example_size, (long long)info.data_size);
        ok = 0;
    }
    if (ok && d.n < n) {
        fprintf(stderr, "bench_varia: %s has only %lld examples; using them all\n", data_path, (long long)d.n);
        n = d.n;
    }
    if (ok) {
        printf("RESULT threads %d\nRESULT params %lld\n", threads, (long long)info.n_params);
        fflush(stdout);
    }
    if (ok && do_iw) {
        ok = bench_iw(ctx, m, &d, n, k, threads, reps);
        fflush(stdout);
    }
    if (ok && do_latency) {
        ok = bench_latency(ctx, m, &info, d.x, calls);
        fflush(stdout);
    }
    if (ok && do_sample)
        ok = bench_sample(ctx, m, &info, reps);
    varia_dataset_free(&d);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return ok ? 0 : 1;
}

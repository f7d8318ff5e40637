/* The native half of the browser benchmark (bench/browser.sh; the browser
 * half is web/bench.js): the same two measurements, made the same way, so
 * that their ratio is the cost of running in the browser.
 *
 *   bench_web MODEL.json [--op decode1|sample100] [--repeats R] [--decode-calls C] [--sample-calls S]
 *             [--kernels NAME]
 *
 *   decode1    varia_decode (E[x|z]) of one latent (the prior sample of seed
 *              1): a block of C calls (default 200), its time / C, in ms.
 *   sample100  varia_sample of a batch of 100 (seed = the call's index,
 *              temperature 1): a block of S calls (default 5), time / S, in ms.
 * Each is warmed up by one block, then the median of R blocks (default 7) is
 * reported; --op measures only that one (bench/browser.mjs runs one block at a
 * time, alternating with the browser's, so both see the same load). One thread (varia_ctx_set_threads(ctx, 1)): the wasm module has
 * one. --kernels NAME runs the products on that kernel table ("generic":
 * the portable one, which, like wasm, has no fused multiply-add) instead of
 * the best this CPU has.
 * Output: "RESULT decode1 MS" and "RESULT sample100 MS" lines on stdout, and
 * "RESULT kernels NAME"; errors on stderr, exit status the failing call's. */
#include <varia.h>

#include "bench_util.h"
#include "kernels.h" /* varia_kernels_use, varia_kernel_name */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_WEB_MAX_REPEATS 64
#define BENCH_WEB_BATCH 100

/* Report a failed call on stderr; returns st. */
static varia_status report(varia_ctx *ctx, varia_status st, const char *what)
{
    if (st != VARIA_OK)
        fprintf(stderr, "bench_web: %s: %s: %s\n", what, varia_status_name(st), varia_ctx_message(ctx));
    return st;
}

/* One block of `calls` calls of op (0: decode z[L] into x; 1: sample a batch
 * of BENCH_WEB_BATCH into x, seeds from *seed on); its time per call in ms in
 * *ms. x must hold BENCH_WEB_BATCH examples. */
static varia_status block(varia_ctx *ctx, const varia_model *m, int op, const float *z, float *x, int64_t calls,
                          uint64_t *seed, double *ms)
{
    double t0 = bench_now();
    varia_status st = VARIA_OK;
    for (int64_t c = 0; c < calls && st == VARIA_OK; c++)
        st = op == 0 ? varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, x, NULL)
                     : varia_sample(ctx, m, BENCH_WEB_BATCH, (*seed)++, 1.0f, x, NULL);
    *ms = (bench_now() - t0) * 1e3 / (double)calls;
    return report(ctx, st, op == 0 ? "varia_decode" : "varia_sample");
}

/* The median time per call of op over `reps` blocks of `calls`, after one
 * warm-up block; prints its RESULT line. */
static varia_status measure(varia_ctx *ctx, const varia_model *m, int op, const float *z, float *x, int64_t calls,
                            int reps)
{
    double t[BENCH_WEB_MAX_REPEATS], warm;
    uint64_t seed = 0;
    varia_status st = block(ctx, m, op, z, x, calls, &seed, &warm);
    for (int r = 0; r < reps && st == VARIA_OK; r++)
        st = block(ctx, m, op, z, x, calls, &seed, &t[r]);
    if (st == VARIA_OK)
        printf("RESULT %s %.6f\n", op == 0 ? "decode1" : "sample100", bench_median(t, reps));
    return st;
}

int main(int argc, char **argv)
{
    int reps = 7;
    int64_t decode_calls = 200, sample_calls = 5;
    const char *kernels = NULL, *only = NULL;
    for (int i = 2; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--repeats") && has)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--decode-calls") && has)
            decode_calls = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--sample-calls") && has)
            sample_calls = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--kernels") && has)
            kernels = argv[++i];
        else if (!strcmp(argv[i], "--op") && has && (!strcmp(argv[i + 1], "decode1") || !strcmp(argv[i + 1], "sample100")))
            only = argv[++i];
        else
            argc = 0; /* a usage error below */
    }
    if (argc < 2 || reps < 1 || reps > BENCH_WEB_MAX_REPEATS || decode_calls < 1 || sample_calls < 1) {
        fprintf(stderr, "usage: bench_web MODEL.json [--op decode1|sample100] [--repeats R (1-%d)] [--decode-calls C] "
                        "[--sample-calls S] [--kernels NAME]\n", BENCH_WEB_MAX_REPEATS);
        return 2;
    }
    if (kernels && !varia_kernels_use(kernels)) {
        fprintf(stderr, "bench_web: this CPU has no kernel table '%s'\n", kernels);
        return 2;
    }
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_info in = {0};
    varia_status st = ctx ? VARIA_OK : VARIA_ERR_NOMEM;
    if (st == VARIA_OK)
        st = report(ctx, varia_model_load(ctx, argv[1], &m), argv[1]);
    if (st == VARIA_OK)
        st = report(ctx, varia_ctx_set_threads(ctx, 1), "varia_ctx_set_threads");
    if (st == VARIA_OK)
        st = report(ctx, varia_model_info(m, &in), "varia_model_info");
    float *x = st ? NULL : malloc((size_t)(BENCH_WEB_BATCH * (in.data_size + in.latent_size)) * sizeof *x);
    if (st == VARIA_OK && !x)
        st = VARIA_ERR_NOMEM;
    float *z = x ? x + BENCH_WEB_BATCH * in.data_size : NULL;
    if (st == VARIA_OK) /* the latent decode1 decodes: the prior sample of seed 1 */
        st = report(ctx, varia_sample(ctx, m, 1, 1, 1.0f, x, z), "varia_sample");
    if (st == VARIA_OK)
        printf("RESULT kernels %s\n", varia_kernel_name());
    if (st == VARIA_OK && (!only || !strcmp(only, "decode1")))
        st = measure(ctx, m, 0, z, x, decode_calls, reps);
    if (st == VARIA_OK && (!only || !strcmp(only, "sample100")))
        st = measure(ctx, m, 1, z, x, sample_calls, reps);
    free(x);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return (int)st;
}

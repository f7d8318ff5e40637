/* The matrix kernel's GFLOP/s on the shapes the 784-200-200-50 VAE uses,
 * against the system OpenBLAS's sgemm in the same run (loaded with dlopen, so
 * nothing is needed at build time). One thread; medians over repeats.
 * Usage: bench_kernel [REPEATS [KERNEL]], KERNEL one of avx512, avx2, generic
 * (default: the best this CPU runs). Set OPENBLAS_CORETYPE to the real core type
 * (OpenBLAS misdetects some CPUs) and OPENBLAS_NUM_THREADS=1. */
#include "kernels.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

/* Median seconds of one y = x W^T (+ bias) with either implementation. */
static double time_one(const varia_linear *l, sgemm_fn sgemm, const float *x, const float *w, float *y, int n,
                       int in, int out, int reps)
{
    double t[64];
    varia_act id = {VARIA_ACT_IDENTITY, 0};
    int inner = 1 + (int)(2e7 / (2.0 * n * in * out)); /* ~10 ms per sample */
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        for (int i = 0; i < inner; i++) {
            if (sgemm)
                sgemm(ROW_MAJOR, NO_TRANS, TRANS, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
            else
                varia_linear_forward(l, x, n, y, id);
        }
        t[r] = (bench_now() - t0) / inner;
    }
    return bench_median(t, reps);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    if (reps < 1 || reps > 64)
        reps = 15;
    if (argc > 2 && !varia_kernels_use(argv[2])) {
        fprintf(stderr, "bench_kernel: kernel '%s' unknown or not supported by this CPU\n", argv[2]);
        return 2;
    }
    void *blas = dlopen("libopenblas.so.0", RTLD_NOW);
    sgemm_fn sgemm = blas ? (sgemm_fn)(uintptr_t)dlsym(blas, "cblas_sgemm") : NULL;
    printf("kernel: %s; reference: %s\n", varia_kernel_name(), sgemm ? "OpenBLAS cblas_sgemm" : "none found");
    int shapes[][3] = {{256, 784, 200}, {256, 200, 200}, {256, 200, 784}, {256, 50, 200}, {1000, 50, 200},
                       {1000, 200, 784}, {1, 50, 200}, {1, 200, 784}};
    printf("%-18s %12s %12s %8s\n", "rows x in -> out", "varia GF/s", "OpenBLAS", "ratio");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = malloc(sizeof(float) * (size_t)n * in), *w = malloc(sizeof(float) * (size_t)out * in);
        float *b = calloc((size_t)out, sizeof(float)), *y = malloc(sizeof(float) * (size_t)n * out);
        for (int i = 0; i < n * in; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        for (int i = 0; i < out * in; i++) w[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
        varia_linear l;
        varia_linear_init(&l, w, b, in, out);
        double flop = 2.0 * n * in * out;
        double tv = time_one(&l, NULL, x, w, y, n, in, out, reps);
        double tb = sgemm ? time_one(&l, sgemm, x, w, y, n, in, out, reps) : 0;
        char name[32];
        snprintf(name, sizeof name, "%dx%d->%d", n, in, out);
        printf("%-18s %12.1f %12.1f %8.2f\n", name, flop / tv * 1e-9, sgemm ? flop / tb * 1e-9 : 0.0,
               sgemm ? tb / tv : 0.0);
        varia_linear_free(&l);
        free(x), free(w), free(b), free(y);
    }
    return 0;
}

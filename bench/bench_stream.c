/* This core's read bandwidth for a working set of a given size: the floor of
 * any batch-1 matrix-vector step, whose time is spent reading its weights once.
 * For each size the buffer is summed over and over with AVX-512 (or AVX2)
 * loads into 8 independent accumulators, so neither the adds nor the loop
 * limit the rate; the best of several timed passes is reported (the machine is
 * shared, and the question is what a step could reach, not what it averages).
 * Usage: bench_stream [MiB ...]   (default: 0.5 1 2 2.3 4 8 32 64) */
#include <stdio.h>
#include <stdlib.h>
#include "bench_util.h"

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));

/* Sum of n floats (n a multiple of 128) read `reps` times; the result only
 * keeps the compiler from dropping the loads. */
#define SUM_FN(name, T, lanes, isa)                                                                      \
    __attribute__((target(isa), noinline)) static float name(const float *p, size_t n, int reps)       \
    {                                                                                                      \
        T acc[8] = { 0 };                                                                                  \
        for (int r = 0; r < reps; r++)                                                                     \
            for (size_t i = 0; i < n; i += 8 * lanes)                                                      \
                for (int a = 0; a < 8; a++)                                                                \
                    acc[a] += *(const T *)(p + i + (size_t)a * lanes);                                     \
        float s = 0.0f;                                                                                    \
        for (int a = 0; a < 8; a++)                                                                        \
            for (int j = 0; j < lanes; j++)                                                                \
                s += acc[a][j];                                                                            \
        return s;                                                                                          \
    }

SUM_FN(sum512, v16, 16, "avx512f")
SUM_FN(sum256, v8, 8, "avx2")

/* GB/s for a working set of `mib` MiB: best of 7 passes, each reading about
 * 2 GB; returns 0 when the buffer cannot be allocated. */
static double rate(double mib, int wide, float *check)
{
    size_t n = (size_t)(mib * 1048576.0 / 4.0) / 128 * 128;
    float *p = aligned_alloc(64, n * sizeof *p);
    if (!p || n == 0) {
        free(p);
        return 0.0;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(i % 7) * 0.25f;
    int reps = (int)(2e9 / (double)(n * sizeof *p)) + 1;
    double best = 1e30;
    for (int pass = 0; pass < 7; pass++) {
        double t0 = bench_now();
        *check += wide ? sum512(p, n, reps) : sum256(p, n, reps);
        double s = bench_now() - t0;
        best = s < best ? s : best;
    }
    free(p);
    return (double)n * sizeof(float) * reps / best * 1e-9;
}

int main(int argc, char **argv)
{
    static const double dflt[] = { 0.5, 1, 2, 2.3, 4, 8, 32, 64 };
    int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !__builtin_cpu_supports("avx2")) {
        printf("stream: no AVX2/AVX-512 on this CPU\n");
        return 0;
    }
    float check = 0.0f;
    int n = argc > 1 ? argc - 1 : (int)(sizeof dflt / sizeof dflt[0]);
    printf("read bandwidth, one core (%s), best of 7 passes:\n", wide ? "AVX-512" : "AVX2");
    for (int i = 0; i < n; i++) {
        double mib = argc > 1 ? atof(argv[i + 1]) : dflt[i];
        printf("  %7.2f MiB: %6.1f GB/s\n", mib, rate(mib, wide, &check));
    }
    printf("(checksum %g)\n", (double)check);
    return 0;
}

/* This core's measured floating-point peak: 16 independent chains of vector
 * FMAs (enough to fill every FMA pipe), no memory traffic. The k=5000 estimate
 * cannot run faster than (cores x this) / (FLOP per image).
 * Usage: bench_peak   (prints GFLOP/s for the widest vector unit found) */
#include <stdio.h>
#include <string.h>
#include "bench_util.h"

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));

#define CHAINS(T, a, m, b)                                                                                 \
    a[0] = a[0] * m + b; a[1] = a[1] * m + b; a[2] = a[2] * m + b; a[3] = a[3] * m + b;                    \
    a[4] = a[4] * m + b; a[5] = a[5] * m + b; a[6] = a[6] * m + b; a[7] = a[7] * m + b;                    \
    a[8] = a[8] * m + b; a[9] = a[9] * m + b; a[10] = a[10] * m + b; a[11] = a[11] * m + b;                \
    a[12] = a[12] * m + b; a[13] = a[13] * m + b; a[14] = a[14] * m + b; a[15] = a[15] * m + b;

#define PEAK_FN(name, T, lanes, isa)                                                                    \
    __attribute__((target(isa), noinline)) static float name(long iters)                                \
    {                                                                                                      \
        T a[16], m, b;                                                                                     \
        for (int j = 0; j < lanes; j++) {                                                                  \
            m[j] = 0.9999f;                                                                                \
            b[j] = 1e-7f;                                                                                  \
            for (int i = 0; i < 16; i++)                                                                   \
                a[i][j] = (float)(i + j);                                                                  \
        }                                                                                                  \
        for (long t = 0; t < iters; t++) {                                                                 \
            CHAINS(T, a, m, b)                                                                             \
        }                                                                                                  \
        float r = 0.0f;                                                                                    \
        for (int i = 0; i < 16; i++)                                                                       \
            r += a[i][0];                                                                                  \
        return r;                                                                                          \
    }

PEAK_FN(peak512, v16, 16, "avx512f,fma")
PEAK_FN(peak256, v8, 8, "avx2,fma")

int main(void)
{
    long iters = 100000000;
    int wide = __builtin_cpu_supports("avx512f"), lanes = wide ? 16 : 8;
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf("peak: no AVX2/AVX-512 FMA on this CPU\n");
        return 0;
    }
    double t0 = bench_now();
    float r = wide ? peak512(iters) : peak256(iters);
    double s = bench_now() - t0;
    printf("peak FMA throughput, one core (%s): %.1f GFLOP/s (checksum %g)\n", wide ? "AVX-512" : "AVX2",
           (double)iters * 16 * lanes * 2 / s * 1e-9, (double)r);
    return 0;
}

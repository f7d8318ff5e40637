/* splitmix64 (Steele, Lea & Flood 2014): a 64-bit counter pushed through a
 * strong mixer. Cheap to key, so every work item gets its own stream; and the
 * i-th output depends only on (key, i), so blocks of outputs vectorize. */
#include "rng.h"
#include "isa.h"

#include "vmath.h"

#include <math.h>

#define GOLDEN 0x9E3779B97F4A7C15ull

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void varia_rng_init(varia_rng *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    uint64_t k = mix64(seed + GOLDEN);
    k = mix64(k ^ (purpose * 0xD6E8FEB86659FD93ull));
    k = mix64(k ^ (a * 0xA0761D6478BD642Full + 1));
    k = mix64(k ^ (b * 0xE7037ED1A0B428DBull + 2));
    r->state = k;
}

uint64_t varia_rng_u64(varia_rng *r)
{
    r->state += GOLDEN;
    return mix64(r->state);
}

double varia_rng_uniform(varia_rng *r)
{
    return ((double)(varia_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Box-Muller from one 64-bit draw: u1 and u2 are its two 32-bit halves,
 * offset by half a step so u1 is never 0 (|z| <= 6.8). Two loops over blocks
 * of 64 pairs (uniforms, then the transform), because GCC vectorizes each
 * alone but not the two fused. */
#define BLOCK 64
#define PAIRS_BODY                                                                                         \
    float u1[BLOCK], u2[BLOCK];                                                                            \
    for (int64_t i0 = 0; i0 < pairs; i0 += BLOCK) {                                                        \
        int64_t m = pairs - i0 < BLOCK ? pairs - i0 : BLOCK;                                               \
        for (int64_t i = 0; i < m; i++) {                                                                  \
            uint64_t z = mix64(state + (uint64_t)(i0 + i + 1) * GOLDEN);                                   \
            float a = ((float)(uint32_t)(z >> 32) + 0.5f) * 2.3283064e-10f;                                \
            float b = (float)(uint32_t)z * 2.3283064e-10f;                                                 \
            u1[i] = a < 0.99999994f ? a : 0.99999994f; /* float rounding can reach 1 */                  \
            u2[i] = b < 0.99999994f ? b : 0.99999994f;                                                     \
        }                                                                                                  \
        float *o = out + 2 * i0;                                                                           \
        for (int64_t i = 0; i < m; i++) {                                                                  \
            float rad = sqrtf(-2.0f * vm_log(u1[i]));                                                      \
            vm_sincos sc = vm_sincos_2pi(u2[i]);                                                           \
            o[2 * i] = rad * sc.c;                                                                         \
            o[2 * i + 1] = rad * sc.s;                                                                     \
        }                                                                                                  \
    }
#define PAIRS_ARGS uint64_t state, float *out, int64_t pairs

VARIA_TARGET("avx512f,avx512dq,fma") static void pairs_avx512(PAIRS_ARGS) { PAIRS_BODY }
VARIA_TARGET("avx2,fma") static void pairs_avx2(PAIRS_ARGS) { PAIRS_BODY }
static void pairs_generic(PAIRS_ARGS) { PAIRS_BODY }

static void normal_pairs(uint64_t state, float *out, int64_t pairs)
{
    if (VARIA_CPU_HAS("avx512f") && VARIA_CPU_HAS("avx512dq") && VARIA_CPU_HAS("fma"))
        pairs_avx512(state, out, pairs);
    else if (VARIA_CPU_HAS("avx2") && VARIA_CPU_HAS("fma"))
        pairs_avx2(state, out, pairs);
    else
        pairs_generic(state, out, pairs);
}

void varia_rng_normals(varia_rng *r, float *out, int64_t n)
{
    int64_t pairs = n / 2;
    normal_pairs(r->state, out, pairs);
    r->state += (uint64_t)pairs * GOLDEN;
    if (n & 1) { /* the last value takes a pair of its own */
        float two[2];
        normal_pairs(r->state, two, 1);
        r->state += GOLDEN;
        out[n - 1] = two[0];
    }
}

float varia_rng_normal(varia_rng *r)
{
    float v;
    varia_rng_normals(r, &v, 1);
    return v;
}

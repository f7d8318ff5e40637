/* Internal: branch-free float approximations of exp, expm1, log1p, tanh,
 * softplus and sigmoid, written so loops over arrays vectorize. Accuracy (tested
 * against libm in tests/test_kernels.c) is a few ulp over the float range. */
#ifndef VARIA_VMATH_H
#define VARIA_VMATH_H

#include <stdint.h>
#include <string.h>

/* 2^n for integer-valued n in [-126, 127]. */
static inline float vm_pow2i(float n)
{
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2); returns n. */
static inline float vm_reduce(float x, float *r)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + magic) - magic;
    *r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    return n;
}

/* exp(r) - 1 for |r| <= ln2/2: Taylor to degree 8 (truncation < 2e-9). */
static inline float vm_expm1_poly(float r)
{
    float p = 2.48015873e-5f;
    p = p * r + 1.98412698e-4f;
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    return r + r * r * p;
}

/* Clamp with NaN mapped to lo (so the integer conversion below stays
 * defined); callers put the NaN back with vm_keep_nan. */
static inline float vm_clamp(float x, float lo, float hi)
{
    return x > hi ? hi : (x > lo ? x : lo);
}

static inline float vm_keep_nan(float x, float result)
{
    return x != x ? x : result;
}

/* exp(x); arguments below -87 give about 1.6e-38 instead of a subnormal. */
static inline float vm_exp(float x)
{
    float r, n = vm_reduce(vm_clamp(x, -87.0f, 88.0f), &r);
    return vm_keep_nan(x, (vm_expm1_poly(r) + 1.0f) * vm_pow2i(n));
}

/* expm1(x) = 2^n (p + 1) - 1 = 2^n p + (2^n - 1): exact p when n = 0. */
static inline float vm_expm1(float x)
{
    float r, n = vm_reduce(vm_clamp(x, -87.0f, 88.0f), &r);
    float s = vm_pow2i(n);
    return vm_keep_nan(x, s * vm_expm1_poly(r) + (s - 1.0f));
}

/* log(1 + e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) <= 1/3, odd series. */
static inline float vm_log1p_unit(float e)
{
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    return 2.0f * (s + s * s2 * p);
}

/* softplus(x) = max(x, 0) + log(1 + exp(-|x|)). */
static inline float vm_softplus(float x)
{
    float a = x < 0.0f ? -x : x;
    return (x > 0.0f ? x : 0.0f) + vm_log1p_unit(vm_exp(-a));
}

/* tanh(|x|) = -expm1(-2|x|) / (2 + expm1(-2|x|)): no cancellation near 0. */
static inline float vm_tanh(float x)
{
    float a = x < 0.0f ? -x : x;
    float em = vm_expm1(-2.0f * a);
    float t = -em / (2.0f + em);
    return x < 0.0f ? -t : t;
}

static inline float vm_sigmoid(float x)
{
    return 1.0f / (1.0f + vm_exp(-x));
}

/* log(x) for finite x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, odd series. */
static inline float vm_log(float x)
{
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = ((bits >> 23) & 0xff) - 127;
    int32_t mb = (bits & 0x007fffff) | 0x3f800000; /* m in [1, 2) */
    float m;
    memcpy(&m, &mb, sizeof m);
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e = big ? e + 1 : e;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    float fe = (float)e;
    return (fe * 1.42860677e-6f + 2.0f * (s + s * s2 * p)) + fe * 0.693145752f;
}

/* sin and cos of 2 pi u for u in [0, 1): with t = u - 1/2 the angle is
 * 2 pi t + pi, so sin = -sin(2 pi t), cos = -cos(2 pi t); then quadrant q and
 * r = 2 pi t - q pi/2 in [-pi/4, pi/4], where Taylor series to degree 11/12 are
 * below 2e-9. */
typedef struct vm_sincos {
    float s, c;
} vm_sincos;

/* Returned by value: out-pointers kept GCC from vectorizing callers' loops. */
static inline vm_sincos vm_sincos_2pi(float u)
{
    float t = u - 0.5f;                                   /* [-1/2, 1/2) */
    float qf = (t * 4.0f + 12582912.0f) - 12582912.0f;   /* nearest quarter turn */
    float r = (t - 0.25f * qf) * 6.28318531f;             /* t - q/4 is exact */
    float r2 = r * r;
    float sp = -2.50521084e-8f;
    sp = sp * r2 + 2.75573192e-6f;
    sp = sp * r2 - 1.98412698e-4f;
    sp = sp * r2 + 8.33333333e-3f;
    sp = sp * r2 - 1.66666667e-1f;
    float sr = r + r * r2 * sp;
    float cp = 2.08767570e-9f;
    cp = cp * r2 - 2.75573192e-7f;
    cp = cp * r2 + 2.48015873e-5f;
    cp = cp * r2 - 1.38888889e-3f;
    cp = cp * r2 + 4.16666667e-2f;
    cp = cp * r2 - 0.5f;
    float cr = 1.0f + r2 * cp;
    /* angle = r + q pi/2: odd q swaps sin and cos; the signs follow the
     * quadrant. Arithmetic rather than a switch, so loops vectorize. */
    int32_t q = (int32_t)qf & 3;
    float odd = (float)(q & 1), sgn_s = (float)(q & 2) - 1.0f, sgn_c = (float)((q + 1) & 2) - 1.0f;
    vm_sincos out = {sgn_s * (odd * cr + (1.0f - odd) * sr), /* includes the outer minus */
                     sgn_c * (odd * sr + (1.0f - odd) * cr)};
    return out;
}

#endif

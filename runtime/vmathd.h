/* Internal: branch-free double evaluations of exp, log and log1p with
 * stated error bounds, for loops that vectorize (libm's are calls, one
 * element at a time). Each is for the domain it names only. Used where a
 * result rounded to float must be libm's: the bounds say when it is. */
#ifndef VARIA_VMATHD_H
#define VARIA_VMATHD_H

#include <stdint.h>
#include <string.h>

/* ln 2 as hi + lo, hi with 32 significant bits: k hi is exact for |k| < 2^21. */
#define VMD_LN2_HI 0x1.62e42feep-1
#define VMD_LN2_LO 0x1.a39ef35793c76p-33

/* The double with bit pattern b, and a double's bit pattern. */
static inline double vmd_from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static inline uint64_t vmd_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* exp(x) for x in [-40, 0]: x = k ln2 + r, |r| <= ln2/2 + 2^-40 (k by the
 * round-to-nearest shift; hi part exact), exp(r) by Taylor to degree 13
 * (truncation below 2^-57 relative), times 2^k built from the bits. Error
 * within 4 ulps. */
static inline double vmd_exp_neg40(double x)
{
    const double shift = 0x1.8p52;
    double t = x * 0x1.71547652b82fep0 + shift, kd = t - shift;
    int64_t k = (int64_t)(vmd_bits(t) - vmd_bits(shift));
    double r = (x - kd * VMD_LN2_HI) - kd * VMD_LN2_LO;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r * r + r;
    return (1.0 + p) * vmd_from_bits((uint64_t)(k + 1023) << 52);
}

/* log(w) for normal w > 0: w = m 2^k with m in [sqrt(1/2), sqrt(2)) (from
 * the bits), log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, by
 * its odd series to f^21 (truncation below 2^-60 relative); k ln2 + log m
 * does not cancel (|log m| <= ln2 / 2). Error within 4 ulps, relative to
 * log w (near w = 1, relative to log m). */
static inline double vmd_log(double w)
{
    int64_t k = (int64_t)(vmd_bits(w) - 0x3fe6a09e667f3bcdull) >> 52; /* the bits of sqrt(1/2) */
    double m = vmd_from_bits(vmd_bits(w) - ((uint64_t)k << 52));
    double f = (m - 1.0) / (m + 1.0), f2 = f * f;
    double p = 1.0 / 21.0;
    p = p * f2 + 1.0 / 19.0;
    p = p * f2 + 1.0 / 17.0;
    p = p * f2 + 1.0 / 15.0;
    p = p * f2 + 1.0 / 13.0;
    p = p * f2 + 1.0 / 11.0;
    p = p * f2 + 1.0 / 9.0;
    p = p * f2 + 1.0 / 7.0;
    p = p * f2 + 1.0 / 5.0;
    p = p * f2 + 1.0 / 3.0;
    double lm = 2.0 * f + 2.0 * f * (f2 * p), kd = (double)(int32_t)k; /* via int32: vectorizes without AVX-512DQ */
    return kd * VMD_LN2_HI + (kd * VMD_LN2_LO + lm);
}

/* log(1 + x) for x in [0, 1] by Goldberg's correction: u = 1 + x rounded,
 * log(u) x / (u - 1) (x itself when u is 1): within a few ulps of log1p. */
static inline double vmd_log1p_unit(double x)
{
    double u = 1.0 + x, d = u - 1.0;
    return d == 0.0 ? x : vmd_log(u) * (x / d);
}

#endif

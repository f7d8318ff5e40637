/* Internal: one row of each flow step (docs/format.md 2.3), forward and log
 * |det|, for the exec backend (float) and the tape (float, and double for the
 * gradient checks). Both backends call these, so the runtime and the trainer
 * compute the same bits.
 *
 * The float rows run in float lanes: sums in eight partial sums the compiler
 * vectorizes, folded in a fixed order; IAF's sigmoid and log-sigmoid sum
 * through the runtime's CPU-dispatched kernels (kernels.h). A step runs once per importance
 * sample (5000 per image), so scalar double loops with libm calls made a
 * 10-step flow cost more than half the decoder. Per-row scalars (the log of a
 * determinant) stay in double. The double rows are plain libm. */
#ifndef VARIA_FLOW_ROWS_H
#define VARIA_FLOW_ROWS_H

#include "kernels.h"
#include "vmath.h"

#include <math.h>
#include <stdint.h>

/* log(1 + e^a) without overflow. */
static inline double flow_softplus(double a)
{
    return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a));
}

static inline double flow_sigmoid(double a)
{
    return a >= 0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a));
}

/* ---- float lanes ---- */

/* sum_j a_j b_j: eight partial sums, folded pairwise. */
static inline double flow_dot_f(const float *a, const float *b, int64_t d)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int i = 0; i < 8; i++)
            s[i] += a[j + i] * b[j + i];
    for (; j < d; j++)
        s[0] += a[j] * b[j];
    return (double)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

/* sum_j (a_j - b_j)^2, the same way. */
static inline double flow_sqdist_f(const float *a, const float *b, int64_t d)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int i = 0; i < 8; i++)
            s[i] += (a[j + i] - b[j + i]) * (a[j + i] - b[j + i]);
    for (; j < d; j++)
        s[0] += (a[j] - b[j]) * (a[j] - b[j]);
    return (double)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

#define FLOW_BLOCK 64

/* sum_j log sigmoid(s_j) = sum_j [1 * s_j - softplus(s_j)]: the Bernoulli
 * kernel's log-likelihood of all-ones data, vectorized for the CPU, in blocks
 * of 64 summed in order. */
static inline double flow_logsig_sum_f(const float *s, int64_t d)
{
    static const float ones[FLOW_BLOCK] = {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    double acc = 0.0;
    for (int64_t j = 0; j < d; j += FLOW_BLOCK)
        acc += varia_bernoulli_logp(ones, s + j, d - j < FLOW_BLOCK ? d - j : FLOW_BLOCK);
    return acc;
}

/* out = m + sigmoid(s) (z - m), sigmoid by the vectorized kernel. */
static inline void flow_iaf_row_f(const float *z, const float *m, const float *s, int64_t d, float *out)
{
    float sg[FLOW_BLOCK];
    for (int64_t j0 = 0; j0 < d; j0 += FLOW_BLOCK) {
        int64_t n = d - j0 < FLOW_BLOCK ? d - j0 : FLOW_BLOCK;
        varia_sigmoid(sg, s + j0, n);
        for (int64_t i = 0; i < n; i++)
            out[j0 + i] = m[j0 + i] + sg[i] * (z[j0 + i] - m[j0 + i]);
    }
}

#define flow_tanh_f(v) vm_tanh((float)(v))

/* ---- double ---- */

static inline double flow_dot_d(const double *a, const double *b, int64_t d)
{
    double s = 0.0;
    for (int64_t j = 0; j < d; j++)
        s += a[j] * b[j];
    return s;
}

static inline double flow_sqdist_d(const double *a, const double *b, int64_t d)
{
    double s = 0.0;
    for (int64_t j = 0; j < d; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

static inline double flow_logsig_sum_d(const double *s, int64_t d)
{
    double acc = 0.0;
    for (int64_t j = 0; j < d; j++)
        acc -= flow_softplus(-s[j]);
    return acc;
}

static inline void flow_iaf_row_d(const double *z, const double *m, const double *s, int64_t d, double *out)
{
    for (int64_t j = 0; j < d; j++)
        out[j] = m[j] + flow_sigmoid(s[j]) * (z[j] - m[j]);
}

#define flow_tanh_d(v) tanh(v)

/* The per-row functions for element type T, named NAME_S, with the helpers
 * of suffix H (f: float lanes, d: double). */
#define VARIA_FLOW_ROWS(T, S, H)                                                                               \
    /* uh = u + (softplus(w.u) - 1 - w.u) w / |w|^2 (uh = u when w = 0). */                                    \
    static inline void flow_uhat_##S(const T *u, const T *w, int64_t d, T *uh)                                 \
    {                                                                                                          \
        double wu = flow_dot_##H(w, u, d), ww = flow_dot_##H(w, w, d);                                         \
        T c = (T)(ww > 0.0 ? (flow_softplus(wu) - 1.0 - wu) / ww : 0.0);                                       \
        for (int64_t j = 0; j < d; j++)                                                                        \
            uh[j] = u[j] + c * w[j];                                                                           \
    }                                                                                                          \
    /* w.z + b */                                                                                              \
    static inline double flow_affine_##S(const T *z, const T *w, T b, int64_t d)                               \
    {                                                                                                          \
        return flow_dot_##H(w, z, d) + (double)b;                                                              \
    }                                                                                                          \
    static inline void flow_planar_##S(const T *z, const T *uh, const T *w, T b, int64_t d, T *out)            \
    {                                                                                                          \
        T t = (T)flow_tanh_##H(flow_affine_##S(z, w, b, d));                                                   \
        for (int64_t j = 0; j < d; j++)                                                                        \
            out[j] = z[j] + uh[j] * t;                                                                         \
    }                                                                                                          \
    /* log |1 + tanh'(w.z + b) uh.w| */                                                                        \
    static inline double flow_planar_logdet_##S(const T *z, const T *uh, const T *w, T b, int64_t d)           \
    {                                                                                                          \
        double t = (double)(T)flow_tanh_##H(flow_affine_##S(z, w, b, d)), s = flow_dot_##H(uh, w, d);          \
        return log(fabs(1.0 + (1.0 - t * t) * s));                                                             \
    }                                                                                                          \
    /* r = |z - z0| */                                                                                         \
    static inline double flow_radius_##S(const T *z, const T *z0, int64_t d)                                   \
    {                                                                                                          \
        return sqrt(flow_sqdist_##H(z, z0, d));                                                                \
    }                                                                                                          \
    static inline void flow_radial_##S(const T *z, const T *z0, T ah, T bh, int64_t d, T *out)                 \
    {                                                                                                          \
        double alpha = flow_softplus(ah), beta = flow_softplus(bh) - alpha;                                    \
        T c = (T)(beta / (alpha + flow_radius_##S(z, z0, d)));                                                 \
        for (int64_t j = 0; j < d; j++)                                                                        \
            out[j] = z[j] + c * (z[j] - z0[j]);                                                                \
    }                                                                                                          \
    /* (d - 1) log(1 + beta h) + log(1 + alpha beta h^2), h = 1 / (alpha + r) */                               \
    static inline double flow_radial_logdet_##S(const T *z, const T *z0, T ah, T bh, int64_t d)                \
    {                                                                                                          \
        double alpha = flow_softplus(ah), beta = flow_softplus(bh) - alpha;                                    \
        double h = 1.0 / (alpha + flow_radius_##S(z, z0, d));                                                  \
        return (double)(d - 1) * log1p(beta * h) + log1p(alpha * beta * h * h);                                \
    }                                                                                                          \
    static inline void flow_iaf_##S(const T *z, const T *m, const T *s, int64_t d, T *out)                     \
    {                                                                                                          \
        flow_iaf_row_##H(z, m, s, d, out);                                                                     \
    }                                                                                                          \
    /* sum_j log sigmoid(s_j) */                                                                               \
    static inline double flow_iaf_logdet_##S(const T *s, int64_t d)                                            \
    {                                                                                                          \
        return flow_logsig_sum_##H(s, d);                                                                      \
    }

#endif

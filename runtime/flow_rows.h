/* Internal: one row of each flow step (docs/format.md 2.3), forward and log
 * |det|, for the exec backend (float) and the tape (float, and double for the
 * gradient checks). Both backends call these, so the runtime and the trainer
 * compute the same bits. Sums and the scalar functions run in double: a row
 * costs O(d), nothing next to the decoder's products. */
#ifndef VARIA_FLOW_ROWS_H
#define VARIA_FLOW_ROWS_H

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

/* The per-row functions for element type T, named NAME_S. */
#define VARIA_FLOW_ROWS(T, S)                                                                                  \
    /* uh = u + (softplus(w.u) - 1 - w.u) w / |w|^2 (uh = u when w = 0). */                                    \
    static inline void flow_uhat_##S(const T *u, const T *w, int64_t d, T *uh)                                 \
    {                                                                                                          \
        double wu = 0.0, ww = 0.0;                                                                             \
        for (int64_t j = 0; j < d; j++) {                                                                      \
            wu += (double)w[j] * u[j];                                                                         \
            ww += (double)w[j] * w[j];                                                                         \
        }                                                                                                      \
        double c = ww > 0.0 ? (flow_softplus(wu) - 1.0 - wu) / ww : 0.0;                                       \
        for (int64_t j = 0; j < d; j++)                                                                        \
            uh[j] = (T)(u[j] + c * w[j]);                                                                      \
    }                                                                                                          \
    /* w.z + b */                                                                                              \
    static inline double flow_affine_##S(const T *z, const T *w, T b, int64_t d)                               \
    {                                                                                                          \
        double a = b;                                                                                          \
        for (int64_t j = 0; j < d; j++)                                                                        \
            a += (double)w[j] * z[j];                                                                          \
        return a;                                                                                              \
    }                                                                                                          \
    static inline void flow_planar_##S(const T *z, const T *uh, const T *w, T b, int64_t d, T *out)            \
    {                                                                                                          \
        double t = tanh(flow_affine_##S(z, w, b, d));                                                          \
        for (int64_t j = 0; j < d; j++)                                                                        \
            out[j] = (T)(z[j] + uh[j] * t);                                                                    \
    }                                                                                                          \
    /* log |1 + tanh'(w.z + b) uh.w| */                                                                        \
    static inline double flow_planar_logdet_##S(const T *z, const T *uh, const T *w, T b, int64_t d)           \
    {                                                                                                          \
        double t = tanh(flow_affine_##S(z, w, b, d)), s = 0.0;                                                 \
        for (int64_t j = 0; j < d; j++)                                                                        \
            s += (double)uh[j] * w[j];                                                                         \
        return log(fabs(1.0 + (1.0 - t * t) * s));                                                             \
    }                                                                                                          \
    /* r = |z - z0| */                                                                                         \
    static inline double flow_radius_##S(const T *z, const T *z0, int64_t d)                                   \
    {                                                                                                          \
        double r2 = 0.0;                                                                                       \
        for (int64_t j = 0; j < d; j++)                                                                        \
            r2 += ((double)z[j] - z0[j]) * ((double)z[j] - z0[j]);                                             \
        return sqrt(r2);                                                                                       \
    }                                                                                                          \
    static inline void flow_radial_##S(const T *z, const T *z0, T ah, T bh, int64_t d, T *out)                 \
    {                                                                                                          \
        double alpha = flow_softplus(ah), beta = flow_softplus(bh) - alpha;                                    \
        double bh_ = beta / (alpha + flow_radius_##S(z, z0, d));                                               \
        for (int64_t j = 0; j < d; j++)                                                                        \
            out[j] = (T)(z[j] + bh_ * ((double)z[j] - z0[j]));                                                 \
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
        for (int64_t j = 0; j < d; j++)                                                                        \
            out[j] = (T)(m[j] + flow_sigmoid(s[j]) * ((double)z[j] - m[j]));                                   \
    }                                                                                                          \
    /* sum_j log sigmoid(s_j) = -softplus(-s_j) */                                                             \
    static inline double flow_iaf_logdet_##S(const T *s, int64_t d)                                            \
    {                                                                                                          \
        double acc = 0.0;                                                                                      \
        for (int64_t j = 0; j < d; j++)                                                                        \
            acc -= flow_softplus(-(double)s[j]);                                                               \
        return acc;                                                                                            \
    }

#endif

/* The linear layer and log-densities. The matrix kernel computes a 4-row by
 * 32-column tile of the output in registers from a packed weight panel; it is
 * compiled for AVX-512, AVX2+FMA and baseline x86-64 and chosen at run time
 * (GCC target_clones). Every output element is a sum over the input in the
 * same order whatever the batch size, so results do not depend on batching. */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MR 4
#define HALF (VARIA_PANEL / 2)
typedef float v16 __attribute__((vector_size(64)));

int varia_linear_init(varia_linear *l, const float *w, const float *bias, int64_t in, int64_t out)
{
    int64_t panels = (out + VARIA_PANEL - 1) / VARIA_PANEL;
    size_t bytes = (size_t)(panels * in * VARIA_PANEL) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    l->in = in;
    l->out = out;
    l->bias = bias;
    l->packed = aligned_alloc(64, bytes ? bytes : 64);
    if (!l->packed)
        return 0;
    memset(l->packed, 0, bytes);
    for (int64_t o = 0; o < out; o++) {
        float *panel = l->packed + (o / VARIA_PANEL) * in * VARIA_PANEL + o % VARIA_PANEL;
        for (int64_t i = 0; i < in; i++)
            panel[i * VARIA_PANEL] = w[o * in + i];
    }
    return 1;
}

void varia_linear_free(varia_linear *l)
{
    free(l->packed);
    l->packed = NULL;
}

static inline v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* acc[r][0..31] = sum_i x_r[i] * panel[i][0..31] for four rows. */
__attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
static void tile_4x32(const float *x0, const float *x1, const float *x2, const float *x3,
                      const float *panel, int64_t in, float acc[MR][VARIA_PANEL])
{
    v16 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
    for (int64_t i = 0; i < in; i++) {
        v16 b0 = load16(panel + i * VARIA_PANEL), b1 = load16(panel + i * VARIA_PANEL + HALF);
        float a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];
        c00 += a0 * b0; c01 += a0 * b1;
        c10 += a1 * b0; c11 += a1 * b1;
        c20 += a2 * b0; c21 += a2 * b1;
        c30 += a3 * b0; c31 += a3 * b1;
    }
    memcpy(acc[0], &c00, 64); memcpy(acc[0] + HALF, &c01, 64);
    memcpy(acc[1], &c10, 64); memcpy(acc[1] + HALF, &c11, 64);
    memcpy(acc[2], &c20, 64); memcpy(acc[2] + HALF, &c21, 64);
    memcpy(acc[3], &c30, 64); memcpy(acc[3] + HALF, &c31, 64);
}

static inline float activate(float v, varia_act act)
{
    switch (act.kind) {
    case VARIA_ACT_IDENTITY: return v;
    case VARIA_ACT_TANH: return tanhf(v);
    case VARIA_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case VARIA_ACT_LEAKY_RELU: return v > 0.0f ? v : act.param * v;
    case VARIA_ACT_ELU: return v > 0.0f ? v : act.param * expm1f(v);
    case VARIA_ACT_SOFTPLUS: return varia_softplus(v);
    case VARIA_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    }
    return v;
}

void varia_linear_forward(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act)
{
    float acc[MR][VARIA_PANEL];
    for (int64_t r = 0; r < n; r += MR) {
        const float *xr[MR];
        int rows = n - r < MR ? (int)(n - r) : MR;
        for (int q = 0; q < MR; q++) /* past the end, repeat the last row */
            xr[q] = x + (r + (q < rows ? q : rows - 1)) * l->in;
        for (int64_t o0 = 0; o0 < l->out; o0 += VARIA_PANEL) {
            tile_4x32(xr[0], xr[1], xr[2], xr[3], l->packed + o0 * l->in, l->in, acc);
            int64_t cols = l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL;
            for (int q = 0; q < rows; q++) {
                float *yr = y + (r + q) * l->out + o0;
                for (int64_t c = 0; c < cols; c++)
                    yr[c] = activate(acc[q][c] + l->bias[o0 + c], act);
            }
        }
    }
}

float varia_softplus(float x)
{
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

double varia_bernoulli_logp(const float *x, const float *logits, int64_t d)
{
    double s = 0.0;
    for (int64_t i = 0; i < d; i++)
        s += (double)(x[i] * logits[i] - varia_softplus(logits[i]));
    return s;
}

#define LOG_2PI 1.8378770664093453

double varia_gaussian_logp(const float *x, const float *mean, const float *logvar, int64_t d)
{
    double s = 0.0;
    for (int64_t i = 0; i < d; i++) {
        double diff = (double)x[i] - mean[i];
        s += -0.5 * (LOG_2PI + logvar[i] + diff * diff * exp(-(double)logvar[i]));
    }
    return s;
}

double varia_gaussian_logp_scalar(const float *x, const float *mean, float logvar, int64_t d)
{
    double s = 0.0, inv = exp(-(double)logvar);
    for (int64_t i = 0; i < d; i++) {
        double diff = (double)x[i] - mean[i];
        s += diff * diff;
    }
    return -0.5 * ((double)d * (LOG_2PI + logvar) + s * inv);
}

double varia_std_normal_logp(const float *x, int64_t d)
{
    double s = 0.0;
    for (int64_t i = 0; i < d; i++)
        s += (double)x[i] * x[i];
    return -0.5 * ((double)d * LOG_2PI + s);
}

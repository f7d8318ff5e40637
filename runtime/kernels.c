/* The linear layer and log-densities. The matrix kernel computes a 4-row by
 * 32-column tile of the output in registers from a packed weight panel; it is
 * compiled for AVX-512, AVX2+FMA and baseline x86-64 and chosen at run time
 * from the CPU's feature flags. Every output element is a sum over the input in the
 * same order whatever the batch size, so results do not depend on batching. */
#include "kernels.h"
#include "vmath.h"

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

typedef void (*tile_fn)(const float *, const float *, const float *, const float *, const float *, int64_t,
                        float (*)[VARIA_PANEL]);

/* acc[r][0..31] = sum_i x_r[i] * panel[i][0..31] for four rows. The body is
 * compiled once per instruction set below; 8 vector accumulators keep both
 * FMA pipes busy. */
#define TILE_BODY                                                                                          \
    v16 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};            \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        v16 b0 = load16(panel + i * VARIA_PANEL), b1 = load16(panel + i * VARIA_PANEL + HALF);             \
        float a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];                                              \
        c00 += a0 * b0; c01 += a0 * b1;                                                                    \
        c10 += a1 * b0; c11 += a1 * b1;                                                                    \
        c20 += a2 * b0; c21 += a2 * b1;                                                                    \
        c30 += a3 * b0; c31 += a3 * b1;                                                                    \
    }                                                                                                      \
    memcpy(acc[0], &c00, 64); memcpy(acc[0] + HALF, &c01, 64);                                             \
    memcpy(acc[1], &c10, 64); memcpy(acc[1] + HALF, &c11, 64);                                             \
    memcpy(acc[2], &c20, 64); memcpy(acc[2] + HALF, &c21, 64);                                             \
    memcpy(acc[3], &c30, 64); memcpy(acc[3] + HALF, &c31, 64);

#define TILE_ARGS                                                                                          \
    const float *x0, const float *x1, const float *x2, const float *x3, const float *panel, int64_t in,    \
        float acc[MR][VARIA_PANEL]

__attribute__((target("avx512f,fma"))) static void tile_avx512(TILE_ARGS) { TILE_BODY }
__attribute__((target("avx2,fma"))) static void tile_avx2(TILE_ARGS) { TILE_BODY }
static void tile_generic(TILE_ARGS) { TILE_BODY }

/* Chosen by what the CPU reports, not by its model name. */
static tile_fn pick_tile(void)
{
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        return tile_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return tile_avx2;
    return tile_generic;
}

const char *varia_kernel_name(void)
{
    tile_fn t = pick_tile();
    return t == tile_avx512 ? "avx512" : t == tile_avx2 ? "avx2" : "generic";
}

static inline float activate(float v, varia_act act)
{
    switch (act.kind) {
    case VARIA_ACT_IDENTITY: return v;
    case VARIA_ACT_TANH: return vm_tanh(v);
    case VARIA_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case VARIA_ACT_LEAKY_RELU: return v > 0.0f ? v : act.param * v;
    case VARIA_ACT_ELU: return v > 0.0f ? v : act.param * vm_expm1(v);
    case VARIA_ACT_SOFTPLUS: return vm_softplus(v);
    case VARIA_ACT_SIGMOID: return vm_sigmoid(v);
    }
    return v;
}

/* y[c] = act(acc[c] + bias[c]); the switch is hoisted so each case vectorizes. */
#define EPILOGUE_BODY                                                                                      \
    switch (act.kind) {                                                                                    \
    case VARIA_ACT_TANH:                                                                                   \
        for (int64_t c = 0; c < cols; c++) y[c] = vm_tanh(acc[c] + bias[c]);                               \
        break;                                                                                             \
    case VARIA_ACT_IDENTITY:                                                                               \
        for (int64_t c = 0; c < cols; c++) y[c] = acc[c] + bias[c];                                        \
        break;                                                                                             \
    default:                                                                                               \
        for (int64_t c = 0; c < cols; c++) y[c] = activate(acc[c] + bias[c], act);                         \
    }

/* sum_d x_d l_d - softplus(l_d): terms in float lanes, summed in double with
 * four accumulators in a fixed order. */
#define BERNOULLI_BODY                                                                                     \
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;                                                         \
    float t[64];                                                                                           \
    for (int64_t i0 = 0; i0 < d; i0 += 64) {                                                               \
        int64_t m = d - i0 < 64 ? d - i0 : 64;                                                             \
        for (int64_t i = 0; i < m; i++) t[i] = x[i0 + i] * l[i0 + i] - vm_softplus(l[i0 + i]);            \
        int64_t i = 0;                                                                                     \
        for (; i + 4 <= m; i += 4) { s0 += t[i]; s1 += t[i + 1]; s2 += t[i + 2]; s3 += t[i + 3]; }          \
        for (; i < m; i++) s0 += t[i];                                                                     \
    }                                                                                                      \
    return (s0 + s1) + (s2 + s3);

#define EPI_ARGS float *y, const float *acc, const float *bias, int64_t cols, varia_act act
#define BERN_ARGS const float *x, const float *l, int64_t d

__attribute__((target("avx512f,fma"))) static void epi_avx512(EPI_ARGS) { EPILOGUE_BODY }
__attribute__((target("avx2,fma"))) static void epi_avx2(EPI_ARGS) { EPILOGUE_BODY }
static void epi_generic(EPI_ARGS) { EPILOGUE_BODY }
__attribute__((target("avx512f,fma"))) static double bern_avx512(BERN_ARGS) { BERNOULLI_BODY }
__attribute__((target("avx2,fma"))) static double bern_avx2(BERN_ARGS) { BERNOULLI_BODY }
static double bern_generic(BERN_ARGS) { BERNOULLI_BODY }

typedef void (*epi_fn)(EPI_ARGS);
typedef double (*bern_fn)(BERN_ARGS);

void varia_linear_forward(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act)
{
    float acc[MR][VARIA_PANEL];
    tile_fn tile = pick_tile();
    epi_fn epi = tile == tile_avx512 ? epi_avx512 : tile == tile_avx2 ? epi_avx2 : epi_generic;
    for (int64_t r = 0; r < n; r += MR) {
        const float *xr[MR];
        int rows = n - r < MR ? (int)(n - r) : MR;
        for (int q = 0; q < MR; q++) /* past the end, repeat the last row */
            xr[q] = x + (r + (q < rows ? q : rows - 1)) * l->in;
        for (int64_t o0 = 0; o0 < l->out; o0 += VARIA_PANEL) {
            tile(xr[0], xr[1], xr[2], xr[3], l->packed + o0 * l->in, l->in, acc);
            int64_t cols = l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL;
            for (int q = 0; q < rows; q++)
                epi(y + (r + q) * l->out + o0, acc[q], l->bias + o0, cols, act);
        }
    }
}

float varia_softplus(float x)
{
    return vm_softplus(x);
}

double varia_bernoulli_logp(const float *x, const float *l, int64_t d)
{
    tile_fn tile = pick_tile();
    bern_fn f = tile == tile_avx512 ? bern_avx512 : tile == tile_avx2 ? bern_avx2 : bern_generic;
    return f(x, l, d);
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

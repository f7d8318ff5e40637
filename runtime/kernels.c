/* The linear layer and log-densities. The matrix kernel computes a 4-row by
 * 32-column tile of the output in registers from a packed weight panel; it is
 * compiled for AVX-512, AVX2+FMA and baseline x86-64 and chosen at run time
 * from the CPU's feature flags. Every output element is a sum over the input in the
 * same order whatever the batch size, so results do not depend on batching. */
#include "kernels.h"
#include "pool.h"
#include "vmath.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MR_MAX 8
#define HALF (VARIA_PANEL / 2)
typedef float v16 __attribute__((vector_size(64)));

int64_t varia_packed_floats(int64_t in, int64_t out)
{
    int64_t floats = (out + VARIA_PANEL - 1) / VARIA_PANEL * in * VARIA_PANEL;
    return (floats + 15) / 16 * 16;
}

/* 16 x 16 transpose in registers: three rounds of two-input shuffles that
 * swap ever smaller off-diagonal blocks (8, 4, 2, then 1 wide). */
__attribute__((target("avx512f"))) static void transpose16(const float *src, int64_t stride, float *dst,
                                                          int64_t dstride)
{
    v16 r[16], t[16];
    for (int i = 0; i < 16; i++)
        memcpy(&r[i], src + i * stride, sizeof r[i]);
    /* __builtin_shufflevector: GCC >= 12 and clang; indices 16-31 pick from b. */
#define M8A 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define M8B 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define M4A 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define M4B 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define M2A 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define M2B 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define M1A 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define M1B 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
    for (int i = 0; i < 8; i++) {
        t[i] = __builtin_shufflevector(r[i], r[i + 8], M8A);
        t[i + 8] = __builtin_shufflevector(r[i], r[i + 8], M8B);
    }
    for (int b = 0; b < 16; b += 8)
        for (int i = b; i < b + 4; i++) {
            r[i] = __builtin_shufflevector(t[i], t[i + 4], M4A);
            r[i + 4] = __builtin_shufflevector(t[i], t[i + 4], M4B);
        }
    for (int b = 0; b < 16; b += 4)
        for (int i = b; i < b + 2; i++) {
            t[i] = __builtin_shufflevector(r[i], r[i + 2], M2A);
            t[i + 2] = __builtin_shufflevector(r[i], r[i + 2], M2B);
        }
    for (int i = 0; i < 16; i += 2) {
        r[i] = __builtin_shufflevector(t[i], t[i + 1], M1A);
        r[i + 1] = __builtin_shufflevector(t[i], t[i + 1], M1B);
    }
    for (int i = 0; i < 16; i++)
        memcpy(dst + i * dstride, &r[i], sizeof r[i]);
}

/* The trainer repacks every step, so this is fast: the transposed layout is a
 * row copy per input; the plain one transposes 16 x 16 tiles in registers on
 * AVX-512 CPUs and 32 x 64 tiles within L1 elsewhere. */
void varia_pack_panels(float *dst, const float *w, int64_t in, int64_t out, int transposed)
{
    enum { IB = 64 };
    int fast = !transposed && __builtin_cpu_supports("avx512f");
    for (int64_t o0 = 0; o0 < out; o0 += VARIA_PANEL) {
        float *panel = dst + o0 * in;
        int64_t cols = out - o0 < VARIA_PANEL ? out - o0 : VARIA_PANEL;
        if (cols < VARIA_PANEL)
            memset(panel, 0, (size_t)(in * VARIA_PANEL) * sizeof(float));
        if (transposed) {
            for (int64_t i = 0; i < in; i++)
                memcpy(panel + i * VARIA_PANEL, w + i * out + o0, (size_t)cols * sizeof(float));
            continue;
        }
        int64_t i_fast = fast && cols == VARIA_PANEL ? in / 16 * 16 : 0;
        for (int64_t i0 = 0; i0 < i_fast; i0 += 16)
            for (int c0 = 0; c0 < VARIA_PANEL; c0 += 16)
                transpose16(w + (o0 + c0) * in + i0, in, panel + i0 * VARIA_PANEL + c0, VARIA_PANEL);
        for (int64_t i0 = i_fast; i0 < in; i0 += IB) {
            int64_t ni = in - i0 < IB ? in - i0 : IB;
            for (int64_t c = 0; c < cols; c++) {
                const float *src = w + (o0 + c) * in + i0;
                for (int64_t i = 0; i < ni; i++)
                    panel[(i0 + i) * VARIA_PANEL + c] = src[i];
            }
        }
    }
}

int varia_linear_init(varia_linear *l, const float *w, const float *bias, int64_t in, int64_t out)
{
    l->w = w;
    l->in = in;
    l->out = out;
    l->bias = bias;
    size_t bytes = (size_t)varia_packed_floats(in, out) * sizeof(float);
    l->packed = aligned_alloc(64, bytes ? bytes : 64);
    if (!l->packed)
        return 0;
    varia_pack_panels(l->packed, w, in, out, 0);
    return 1;
}

void varia_linear_free(varia_linear *l)
{
    free(l->packed);
    l->packed = NULL;
}

/* Unaligned vector load. A macro, not a function: returning a 64-byte vector
 * from a function compiled without AVX-512 changes the ABI (clang refuses). */
#define LOAD16(v, p) memcpy(&(v), (p), sizeof(v))

typedef void (*tile_fn)(const float *const *x, const float *panel, int64_t in, float (*acc)[VARIA_PANEL]);

/* acc[r][0..31] = sum_i x[r][i] * panel[i][0..31], the sum running over i in
 * order for every element, so the tile height never changes a result. Four
 * rows (8 accumulators) fit AVX2's 16 registers; AVX-512 has 32 and takes
 * eight rows (16 accumulators), halving the panel traffic per FMA. */
#define ROW_DECL(q) v16 c##q##0 = {0}, c##q##1 = {0};
#define ROW_FMA(q)                                                                                         \
    {                                                                                                      \
        float a = x[q][i];                                                                                 \
        c##q##0 += a * b0;                                                                                 \
        c##q##1 += a * b1;                                                                                 \
    }
#define ROW_STORE(q) memcpy(acc[q], &c##q##0, 64); memcpy(acc[q] + HALF, &c##q##1, 64);
#define PANEL_LOAD                                                                                         \
    v16 b0, b1;                                                                                            \
    LOAD16(b0, panel + i * VARIA_PANEL);                                                                   \
    LOAD16(b1, panel + i * VARIA_PANEL + HALF);

#define TILE4_BODY                                                                                         \
    ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3)                                                        \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        PANEL_LOAD ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3)                                             \
    }                                                                                                      \
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3)

#define TILE8_BODY                                                                                         \
    ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3) ROW_DECL(4) ROW_DECL(5) ROW_DECL(6) ROW_DECL(7)        \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        PANEL_LOAD ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5) ROW_FMA(6) ROW_FMA(7)  \
    }                                                                                                      \
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5) ROW_STORE(6) ROW_STORE(7)

#define TILE_ARGS const float *const *x, const float *panel, int64_t in, float (*acc)[VARIA_PANEL]

__attribute__((target("avx512f,fma"))) static void tile_avx512(TILE_ARGS) { TILE8_BODY }
__attribute__((target("avx2,fma"))) static void tile_avx2(TILE_ARGS) { TILE4_BODY }
static void tile_generic(TILE_ARGS) { TILE4_BODY }

/* One row against four panels at once (128 columns, 8 accumulators): the path
 * for batch 1 and for rows left over below the tile height. Same per-element
 * operation order as the tiles, so the same bits. */
typedef void (*row_fn)(const float *x, const float *const *panel, int64_t in, float (*acc)[VARIA_PANEL]);
#define ROWP_DECL(p) v16 d##p##0 = {0}, d##p##1 = {0};
#define ROWP_FMA(p)                                                                                        \
    {                                                                                                      \
        v16 b0, b1;                                                                                        \
        LOAD16(b0, panel[p] + i * VARIA_PANEL);                                                            \
        LOAD16(b1, panel[p] + i * VARIA_PANEL + HALF);                                                     \
        d##p##0 += a * b0;                                                                                 \
        d##p##1 += a * b1;                                                                                 \
    }
#define ROWP_STORE(p) memcpy(acc[p], &d##p##0, 64); memcpy(acc[p] + HALF, &d##p##1, 64);
#define ROW_BODY                                                                                           \
    ROWP_DECL(0) ROWP_DECL(1) ROWP_DECL(2) ROWP_DECL(3)                                                    \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        float a = x[i];                                                                                    \
        ROWP_FMA(0) ROWP_FMA(1) ROWP_FMA(2) ROWP_FMA(3)                                                    \
    }                                                                                                      \
    ROWP_STORE(0) ROWP_STORE(1) ROWP_STORE(2) ROWP_STORE(3)
#define ROW_ARGS const float *x, const float *const *panel, int64_t in, float (*acc)[VARIA_PANEL]

__attribute__((target("avx512f,fma"))) static void row_avx512(ROW_ARGS) { ROW_BODY }
__attribute__((target("avx2,fma"))) static void row_avx2(ROW_ARGS) { ROW_BODY }
static void row_generic(ROW_ARGS) { ROW_BODY }

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
#ifdef VARIA_USE_BLAS
    return "system BLAS";
#endif
    tile_fn t = pick_tile();
    return t == tile_avx512 ? "avx512" : t == tile_avx2 ? "avx2" : "generic";
}

/* y[c] = act(acc[c] + bias[c]); the switch is hoisted so each case's loop
 * vectorizes. */
#define EPI_LOOP(expr)                                                                                     \
    for (int64_t c = 0; c < cols; c++) {                                                                   \
        float v = acc[c] + bias[c];                                                                        \
        y[c] = (expr);                                                                                     \
    }                                                                                                      \
    break;
#define EPILOGUE_BODY                                                                                      \
    switch (act.kind) {                                                                                    \
    case VARIA_ACT_TANH: EPI_LOOP(vm_tanh(v))                                                              \
    case VARIA_ACT_IDENTITY: EPI_LOOP(v)                                                                   \
    case VARIA_ACT_RELU: EPI_LOOP(v > 0.0f ? v : 0.0f)                                                     \
    case VARIA_ACT_LEAKY_RELU: EPI_LOOP(v > 0.0f ? v : act.param * v)                                      \
    case VARIA_ACT_ELU: EPI_LOOP(v > 0.0f ? v : act.param * vm_expm1(v))                                   \
    case VARIA_ACT_SOFTPLUS: EPI_LOOP(vm_softplus(v))                                                      \
    case VARIA_ACT_SIGMOID: EPI_LOOP(vm_sigmoid(v))                                                        \
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

/* Fused Bernoulli output: s[0..3] += one row's panel of terms
 * x_c l_c - softplus(l_c), l = acc + bias, summed by a fixed float tree
 * (32 -> 16 -> 8 -> 4 lanes) so it vectorizes; the panel totals go to double. */
#define BERN_EPI_BODY                                                                                      \
    float t[VARIA_PANEL], h[HALF];                                                                         \
    if (cols == VARIA_PANEL) {                                                                             \
        for (int c = 0; c < VARIA_PANEL; c++) {                                                            \
            float v = acc[c] + bias[c];                                                                    \
            t[c] = x[c] * v - vm_softplus(v);                                                              \
        }                                                                                                  \
    } else { /* the last, partial panel */                                                                 \
        for (int c = 0; c < VARIA_PANEL; c++)                                                              \
            t[c] = 0.0f;                                                                                   \
        for (int64_t c = 0; c < cols; c++) {                                                               \
            float v = acc[c] + bias[c];                                                                    \
            t[c] = x[c] * v - vm_softplus(v);                                                              \
        }                                                                                                  \
    }                                                                                                      \
    for (int c = 0; c < HALF; c++)                                                                         \
        h[c] = t[c] + t[c + HALF];                                                                         \
    for (int c = 0; c < 8; c++)                                                                            \
        h[c] += h[c + 8];                                                                                  \
    for (int c = 0; c < 4; c++)                                                                            \
        s[c] += (double)(h[c] + h[c + 4]);
#define BERN_EPI_ARGS const float *acc, const float *bias, const float *x, int64_t cols, double *s

__attribute__((target("avx512f,fma"))) static void bepi_avx512(BERN_EPI_ARGS) { BERN_EPI_BODY }
__attribute__((target("avx2,fma"))) static void bepi_avx2(BERN_EPI_ARGS) { BERN_EPI_BODY }
static void bepi_generic(BERN_EPI_ARGS) { BERN_EPI_BODY }
typedef void (*bepi_fn)(BERN_EPI_ARGS);

typedef void (*epi_fn)(EPI_ARGS);
typedef double (*bern_fn)(BERN_ARGS);

/* One row against output panels [p_begin, p_end), four at a time. */
static void forward_row(const varia_linear *l, const float *x, float *y, varia_act act, int64_t p_begin,
                        int64_t p_end, row_fn rowk, epi_fn epi)
{
    float acc[4][VARIA_PANEL];
    for (int64_t p0 = p_begin; p0 < p_end; p0 += 4) {
        const float *pp[4];
        for (int q = 0; q < 4; q++) /* past the last panel, repeat it */
            pp[q] = l->packed + (p0 + q < p_end ? p0 + q : p_end - 1) * l->in * VARIA_PANEL;
        rowk(x, pp, l->in, acc);
        for (int q = 0; q < 4 && p0 + q < p_end; q++) {
            int64_t o0 = (p0 + q) * VARIA_PANEL;
            epi(y + o0, acc[q], l->bias + o0, l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL, act);
        }
    }
}

#ifdef VARIA_USE_BLAS
#include <cblas.h>

/* The system BLAS computes x W^T; the same epilogue adds the bias and applies
 * the activation in place. */
static void forward_blas(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act, epi_fn epi)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)l->out, (int)l->in, 1.0f, x, (int)l->in, l->w,
                (int)l->in, 0.0f, y, (int)l->out);
    for (int64_t r = 0; r < n; r++)
        epi(y + r * l->out, y + r * l->out, l->bias, l->out, act);
}
#endif

void varia_linear_forward(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act)
{
#ifdef VARIA_USE_BLAS
    if (n > 0) {
        tile_fn t = pick_tile();
        forward_blas(l, x, n, y, act, t == tile_avx512 ? epi_avx512 : t == tile_avx2 ? epi_avx2 : epi_generic);
        return;
    }
#endif
    varia_linear_forward_native(l, x, n, y, act);
}

/* Output panels [p_begin, p_end) of every row: the whole layer, or one
 * worker's share of it. */
static void forward_panels(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act,
                           int64_t p_begin, int64_t p_end)
{
    float acc[MR_MAX][VARIA_PANEL];
    tile_fn tile = pick_tile();
    epi_fn epi = tile == tile_avx512 ? epi_avx512 : tile == tile_avx2 ? epi_avx2 : epi_generic;
    row_fn rowk = tile == tile_avx512 ? row_avx512 : tile == tile_avx2 ? row_avx2 : row_generic;
    int mr = tile == tile_avx512 ? 8 : 4;
    int64_t full = n / mr * mr;
    for (int64_t r = full; r < n; r++) /* leftover rows, one at a time */
        forward_row(l, x + r * l->in, y + r * l->out, act, p_begin, p_end, rowk, epi);
    for (int64_t r = 0; r < full; r += mr) {
        const float *xr[MR_MAX];
        for (int q = 0; q < mr; q++)
            xr[q] = x + (r + q) * l->in;
        for (int64_t o0 = p_begin * VARIA_PANEL; o0 < p_end * VARIA_PANEL; o0 += VARIA_PANEL) {
            tile(xr, l->packed + o0 * l->in, l->in, acc);
            int64_t cols = l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL;
            for (int q = 0; q < mr; q++)
                epi(y + (r + q) * l->out + o0, acc[q], l->bias + o0, cols, act);
        }
    }
}

static int64_t panel_count(const varia_linear *l)
{
    return (l->out + VARIA_PANEL - 1) / VARIA_PANEL;
}

void varia_linear_forward_native(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act)
{
    forward_panels(l, x, n, y, act, 0, panel_count(l));
}

typedef struct team_job {
    const varia_linear *l;
    const float *x;
    float *y;
    int64_t n;
    varia_act act;
} team_job;

/* The chunks are the layer's output panels. */
static void team_panels(void *arg, int64_t begin, int64_t end)
{
    const team_job *j = arg;
    forward_panels(j->l, j->x, j->n, j->y, j->act, begin, end);
}

void varia_linear_forward_team(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act,
                               struct varia_pool *team)
{
    int64_t panels = panel_count(l);
    int shared = varia_pool_size(team) > 1 && n * l->in * l->out >= VARIA_TEAM_MIN_MACS && panels >= 5;
#ifdef VARIA_USE_BLAS
    shared = 0;
#endif
    if (!shared) {
        varia_linear_forward(l, x, n, y, act);
        return;
    }
    team_job j = {l, x, y, n, act};
    varia_pool_share(team, team_panels, &j, panels);
}

/* One row of the fused Bernoulli output against every panel. */
static void bernoulli_row(const varia_linear *l, const float *h, const float *x, double *logp, row_fn rowk,
                          bepi_fn bepi)
{
    float acc[4][VARIA_PANEL];
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t panels = (l->out + VARIA_PANEL - 1) / VARIA_PANEL;
    for (int64_t p0 = 0; p0 < panels; p0 += 4) {
        const float *pp[4];
        for (int q = 0; q < 4; q++)
            pp[q] = l->packed + (p0 + q < panels ? p0 + q : panels - 1) * l->in * VARIA_PANEL;
        rowk(h, pp, l->in, acc);
        for (int q = 0; q < 4 && p0 + q < panels; q++) {
            int64_t o0 = (p0 + q) * VARIA_PANEL;
            bepi(acc[q], l->bias + o0, x + o0, l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL, s);
        }
    }
    *logp = (s[0] + s[1]) + (s[2] + s[3]);
}

void varia_linear_bernoulli(const varia_linear *l, const float *h, int64_t n, const float *x, double *logp,
                            float *tmp)
{
    tile_fn tile = pick_tile();
    bepi_fn bepi = tile == tile_avx512 ? bepi_avx512 : tile == tile_avx2 ? bepi_avx2 : bepi_generic;
#ifdef VARIA_USE_BLAS
    varia_linear_forward(l, h, n, tmp, (varia_act){VARIA_ACT_IDENTITY, 0.0f});
    for (int64_t r = 0; r < n; r++)
        logp[r] = varia_bernoulli_logp(x, tmp + r * l->out, l->out);
    (void)bepi;
    return;
#else
    (void)tmp;
#endif
    row_fn rowk = tile == tile_avx512 ? row_avx512 : tile == tile_avx2 ? row_avx2 : row_generic;
    int mr = tile == tile_avx512 ? 8 : 4;
    int64_t full = n / mr * mr;
    for (int64_t r = full; r < n; r++)
        bernoulli_row(l, h + r * l->in, x, &logp[r], rowk, bepi);
    float acc[MR_MAX][VARIA_PANEL];
    double s[MR_MAX][4];
    for (int64_t r = 0; r < full; r += mr) {
        const float *xr[MR_MAX];
        for (int q = 0; q < mr; q++) {
            xr[q] = h + (r + q) * l->in;
            s[q][0] = s[q][1] = s[q][2] = s[q][3] = 0.0;
        }
        for (int64_t o0 = 0; o0 < l->out; o0 += VARIA_PANEL) {
            tile(xr, l->packed + o0 * l->in, l->in, acc);
            int64_t cols = l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL;
            for (int q = 0; q < mr; q++)
                bepi(acc[q], l->bias + o0, x + o0, cols, s[q]);
        }
        for (int q = 0; q < mr; q++)
            logp[r + q] = (s[q][0] + s[q][1]) + (s[q][2] + s[q][3]);
    }
}

#define SIGMOID_BODY for (int64_t i = 0; i < n; i++) y[i] = vm_sigmoid(x[i]);
#define SIGMOID_ARGS float *y, const float *x, int64_t n
__attribute__((target("avx512f,fma"))) static void sigmoid_avx512(SIGMOID_ARGS) { SIGMOID_BODY }
__attribute__((target("avx2,fma"))) static void sigmoid_avx2(SIGMOID_ARGS) { SIGMOID_BODY }
static void sigmoid_generic(SIGMOID_ARGS) { SIGMOID_BODY }

void varia_sigmoid(float *y, const float *x, int64_t n)
{
    tile_fn tile = pick_tile();
    (tile == tile_avx512 ? sigmoid_avx512 : tile == tile_avx2 ? sigmoid_avx2 : sigmoid_generic)(y, x, n);
}

/* First bad element: each block of 64 is tested with a branch-free OR that
 * vectorizes, and searched element by element only when it holds one. */
#define SCAN_BODY                                                                                          \
    for (int64_t i0 = 0; i0 < n; i0 += 64) {                                                               \
        int64_t m = n - i0 < 64 ? n - i0 : 64;                                                             \
        const float *b = x + i0;                                                                           \
        int bad = 0;                                                                                       \
        if (nan_only)                                                                                      \
            for (int64_t i = 0; i < m; i++) bad |= b[i] != b[i];                                           \
        else                                                                                               \
            for (int64_t i = 0; i < m; i++) bad |= !(fabsf(b[i]) <= FLT_MAX);                              \
        for (int64_t i = 0; bad && i < m; i++)                                                             \
            if (nan_only ? b[i] != b[i] : !(fabsf(b[i]) <= FLT_MAX))                                       \
                return i0 + i;                                                                             \
    }                                                                                                      \
    return -1;
#define SCAN_ARGS const float *x, int64_t n, int nan_only
__attribute__((target("avx512f,fma"))) static int64_t scan_avx512(SCAN_ARGS) { SCAN_BODY }
__attribute__((target("avx2,fma"))) static int64_t scan_avx2(SCAN_ARGS) { SCAN_BODY }
static int64_t scan_generic(SCAN_ARGS) { SCAN_BODY }

int64_t varia_find_bad(const float *x, int64_t n, int nan_only)
{
    tile_fn tile = pick_tile();
    return (tile == tile_avx512 ? scan_avx512 : tile == tile_avx2 ? scan_avx2 : scan_generic)(x, n, nan_only);
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

/* ---- elementwise ops the trainer's backward passes run ---- */

#define BGRAD_BODY for (int64_t i = 0; i < n; i++) out[i] = x[i] - vm_sigmoid(l[i]);
#define BGRAD_ARGS const float *x, const float *l, int64_t n, float *out
/* out = dy * act'(v) from the activation's output y, the switch hoisted. */
#define AGRAD_LOOP(expr)                                                                                   \
    for (int64_t i = 0; i < n; i++) {                                                                      \
        float v = y[i];                                                                                    \
        out[i] = dy[i] * (expr);                                                                           \
    }                                                                                                      \
    break;
#define AGRAD_BODY                                                                                         \
    switch (act.kind) {                                                                                    \
    case VARIA_ACT_TANH: AGRAD_LOOP(1.0f - v * v)                                                          \
    case VARIA_ACT_IDENTITY: AGRAD_LOOP(v == v ? 1.0f : v)                                                 \
    case VARIA_ACT_RELU: AGRAD_LOOP(v > 0.0f ? 1.0f : 0.0f)                                                \
    case VARIA_ACT_LEAKY_RELU: AGRAD_LOOP(v > 0.0f ? 1.0f : act.param)                                     \
    case VARIA_ACT_ELU: AGRAD_LOOP(v > 0.0f ? 1.0f : v + act.param)                                        \
    case VARIA_ACT_SOFTPLUS: AGRAD_LOOP(-vm_expm1(-v))                                                     \
    case VARIA_ACT_SIGMOID: AGRAD_LOOP(v * (1.0f - v))                                                     \
    }
#define AGRAD_ARGS varia_act act, const float *y, const float *dy, int64_t n, float *out
#define ADD_BODY for (int64_t i = 0; i < n; i++) y[i] += x[i];
#define ADD_ARGS float *y, const float *x, int64_t n

__attribute__((target("avx512f,fma"))) static void bgrad_avx512(BGRAD_ARGS) { BGRAD_BODY }
__attribute__((target("avx2,fma"))) static void bgrad_avx2(BGRAD_ARGS) { BGRAD_BODY }
static void bgrad_generic(BGRAD_ARGS) { BGRAD_BODY }
__attribute__((target("avx512f,fma"))) static void agrad_avx512(AGRAD_ARGS) { AGRAD_BODY }
__attribute__((target("avx2,fma"))) static void agrad_avx2(AGRAD_ARGS) { AGRAD_BODY }
static void agrad_generic(AGRAD_ARGS) { AGRAD_BODY }
__attribute__((target("avx512f,fma"))) static void add_avx512(ADD_ARGS) { ADD_BODY }
__attribute__((target("avx2,fma"))) static void add_avx2(ADD_ARGS) { ADD_BODY }
static void add_generic(ADD_ARGS) { ADD_BODY }

void varia_bernoulli_grad(const float *x, const float *l, int64_t n, float *out)
{
    tile_fn tile = pick_tile();
    (tile == tile_avx512 ? bgrad_avx512 : tile == tile_avx2 ? bgrad_avx2 : bgrad_generic)(x, l, n, out);
}

void varia_act_grad(varia_act act, const float *y, const float *dy, int64_t n, float *out)
{
    tile_fn tile = pick_tile();
    (tile == tile_avx512 ? agrad_avx512 : tile == tile_avx2 ? agrad_avx2 : agrad_generic)(act, y, dy, n, out);
}

void varia_add(float *y, const float *x, int64_t n)
{
    tile_fn tile = pick_tile();
    (tile == tile_avx512 ? add_avx512 : tile == tile_avx2 ? add_avx2 : add_generic)(y, x, n);
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

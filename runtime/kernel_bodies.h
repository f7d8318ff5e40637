/* Internal to runtime/kernels.c: what each CPU-specific kernel computes, as
 * macros (NAME_BODY over the parameters NAME_ARGS) that kernels.c compiles
 * once per instruction set (AVX-512, AVX2+FMA, baseline) and gathers into its
 * kernel table. Kept apart so that kernels.c reads as the clones, the table
 * and the drivers. Each body fixes its operation order, so a kernel gives the
 * same bits whatever the batch or tile height (on one instruction set). */
#ifndef VARIA_KERNEL_BODIES_H
#define VARIA_KERNEL_BODIES_H

#include "kernels.h"
#include "vmath.h"
#include "vmathd.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define HALF (VARIA_PANEL / 2)
typedef float v16 __attribute__((vector_size(64)));

/* Unaligned vector load. A macro, not a function: returning a 64-byte vector
 * from a function compiled without AVX-512 changes the ABI (clang refuses). */
#define LOAD16(v, p) memcpy(&(v), (p), sizeof(v))

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

/* Twelve rows (24 accumulators, 2 panel vectors: 26 of AVX-512's 32
 * registers, no spills): a batch of 9 to 12 rows streams each weight panel
 * once (small batches are bound by that traffic). */
#define TILE12_BODY                                                                                        \
    ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3) ROW_DECL(4) ROW_DECL(5) ROW_DECL(6) ROW_DECL(7)        \
    ROW_DECL(8) ROW_DECL(9) ROW_DECL(10) ROW_DECL(11)                                                      \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        PANEL_LOAD ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5) ROW_FMA(6) ROW_FMA(7)  \
        ROW_FMA(8) ROW_FMA(9) ROW_FMA(10) ROW_FMA(11)                                                      \
    }                                                                                                      \
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5) ROW_STORE(6) ROW_STORE(7) \
    ROW_STORE(8) ROW_STORE(9) ROW_STORE(10) ROW_STORE(11)

/* Ten rows (20 accumulators): a batch of 9 or 10 rows, which in a tile of 12
 * would spend two FMAs in twelve on repeated rows (the tile is bound by its
 * FMAs once the panel is in L1). */
#define TILE10_BODY                                                                                        \
    ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3) ROW_DECL(4) ROW_DECL(5) ROW_DECL(6) ROW_DECL(7)        \
    ROW_DECL(8) ROW_DECL(9)                                                                                \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        PANEL_LOAD ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5) ROW_FMA(6) ROW_FMA(7)  \
        ROW_FMA(8) ROW_FMA(9)                                                                              \
    }                                                                                                      \
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5) ROW_STORE(6) ROW_STORE(7) \
    ROW_STORE(8) ROW_STORE(9)

#define TILE_ARGS const float *const *x, const float *panel, int64_t in, float (*acc)[VARIA_PANEL]

/* TILE8_BODY storing each row's 32 sums straight into y + q * ldy (a full
 * panel), for products with no bias or activation: the sums are the tile's,
 * so the bits are those of the tile followed by an identity epilogue. */
#define ROW_STORE_Y(q) memcpy(y + (q) * ldy, &c##q##0, 64); memcpy(y + (q) * ldy + HALF, &c##q##1, 64);
#define TILE8Y_BODY                                                                                        \
    ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3) ROW_DECL(4) ROW_DECL(5) ROW_DECL(6) ROW_DECL(7)        \
    for (int64_t i = 0; i < in; i++) {                                                                     \
        PANEL_LOAD ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5) ROW_FMA(6) ROW_FMA(7)  \
    }                                                                                                      \
    ROW_STORE_Y(0) ROW_STORE_Y(1) ROW_STORE_Y(2) ROW_STORE_Y(3) ROW_STORE_Y(4) ROW_STORE_Y(5)              \
    ROW_STORE_Y(6) ROW_STORE_Y(7)
#define TILEY_ARGS const float *const *x, const float *panel, int64_t in, float *y, int64_t ldy

/* One row against four panels at once (128 columns, 8 accumulators): the path
 * for batch 1 and for rows left over below the tile height. Same per-element
 * operation order as the tiles, so the same bits. */
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

/* The same tile and row for AVX2 (8 lanes) and baseline SSE (4 lanes). A
 * 64-byte vector has no register there, and GCC keeps such vectors in memory
 * (measured: 2 GFLOP/s against AVX-512's 200 on one core), so these bodies
 * take the panel in strips of native vectors, few enough accumulators at a
 * time to stay in the 16 registers: a tile is 4 rows x 2 vectors per strip, a
 * row is 8 vectors from two panels. Each output element is still the sum over
 * i in order with the same multiply-add, so the bits are the wide bodies'. */
#define NLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define NT_FMA(q)                                                                                          \
    {                                                                                                      \
        float a = x[q][i];                                                                                 \
        c##q##0 += a * b0;                                                                                 \
        c##q##1 += a * b1;                                                                                 \
    }
#define NT_STORE(q)                                                                                        \
    memcpy(acc[q] + s, &c##q##0, sizeof c##q##0);                                                          \
    memcpy(acc[q] + s + W, &c##q##1, sizeof c##q##1);
#define NTILE4_BODY(vt)                                                                                    \
    enum { W = sizeof(vt) / sizeof(float) };                                                               \
    for (int s = 0; s < VARIA_PANEL; s += 2 * W) {                                                         \
        vt c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};         \
        for (int64_t i = 0; i < in; i++) {                                                                 \
            vt b0, b1;                                                                                     \
            NLOAD(b0, panel + i * VARIA_PANEL + s);                                                        \
            NLOAD(b1, panel + i * VARIA_PANEL + s + W);                                                    \
            NT_FMA(0) NT_FMA(1) NT_FMA(2) NT_FMA(3)                                                        \
        }                                                                                                  \
        NT_STORE(0) NT_STORE(1) NT_STORE(2) NT_STORE(3)                                                    \
    }
#define NR_FMA(q, p, k)                                                                                    \
    {                                                                                                      \
        vt b;                                                                                              \
        NLOAD(b, panel[p] + i * VARIA_PANEL + s + (k) * W);                                                \
        d##q += a * b;                                                                                     \
    }
#define NR_STORE(q, p, k) memcpy(acc[p] + s + (k) * W, &d##q, sizeof d##q);
/* Panels pp and pp + 1, columns s .. s + 4W of each: 8 accumulators. */
#define NROW_PAIR(pp)                                                                                      \
    for (int s = 0; s < VARIA_PANEL; s += 4 * W) {                                                         \
        vt d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0}, d5 = {0}, d6 = {0}, d7 = {0};                 \
        for (int64_t i = 0; i < in; i++) {                                                                 \
            float a = x[i];                                                                                \
            NR_FMA(0, pp, 0) NR_FMA(1, pp, 1) NR_FMA(2, pp, 2) NR_FMA(3, pp, 3)                            \
            NR_FMA(4, pp + 1, 0) NR_FMA(5, pp + 1, 1) NR_FMA(6, pp + 1, 2) NR_FMA(7, pp + 1, 3)            \
        }                                                                                                  \
        NR_STORE(0, pp, 0) NR_STORE(1, pp, 1) NR_STORE(2, pp, 2) NR_STORE(3, pp, 3)                        \
        NR_STORE(4, pp + 1, 0) NR_STORE(5, pp + 1, 1) NR_STORE(6, pp + 1, 2) NR_STORE(7, pp + 1, 3)        \
    }
#define NROW_BODY(vtype)                                                                                   \
    typedef vtype vt;                                                                                      \
    enum { W = sizeof(vt) / sizeof(float) };                                                               \
    NROW_PAIR(0) NROW_PAIR(2)
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

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

#define SIGMOID_BODY for (int64_t i = 0; i < n; i++) y[i] = vm_sigmoid(x[i]);
#define SIGMOID_ARGS float *y, const float *x, int64_t n

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

/* varia_bern_draw_bounds (kernels.h): the logit's cell from its offset on
 * the grid, clamped, then e against the cell's two thresholds bdraw_below
 * and bdraw_above (kernels.c: arrays of the same file, which GCC vectorizes
 * look-ups in, where it does not through pointers). The offset's roundings
 * are monotone and the grid points exact, so it never names a cell below
 * l's, and they are far below a cell's width, so at most the next one up:
 * one exact comparison with the cell's lower edge corrects that. A NaN l
 * is undecided. No branch, so it vectorizes. */
#define BDRAW_BODY                                                                                         \
    enum { CELLS = VARIA_BDRAW_CELLS };                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                                      \
        float ei = e[i], li = l[i], t = (li - VARIA_BDRAW_LO) * (1.0f / VARIA_BDRAW_STEP) + 1.0f;          \
        t = t > 0.0f ? t : 0.0f;                                                                           \
        t = t < (float)(CELLS + 1) ? t : (float)(CELLS + 1);                                               \
        int c = (int)t;                                                                                    \
        c -= (c >= 1) & (li < VARIA_BDRAW_LO + (float)(c - 1) * VARIA_BDRAW_STEP);                         \
        int one = ei < bdraw_below[c], undecided = (li != li) | !(one | (ei > bdraw_above[c]));            \
        y[i] = (float)(one - undecided * (one + 1)); /* 1, 0, or -1 when undecided */                      \
    }
#define BDRAW_ARGS float *restrict y, const float *restrict l, const float *restrict e, int64_t n

/* varia_softplus_logvar's first pass (kernels.c gives the error bounds):
 * softplus(a) + floor and 2 log of it in double by vmathd.h, and the float
 * it rounds to when every value within D of it rounds to that float too
 * (miss[i] = 0), else miss[i] = 1: |a| > 40, NaN, or too near a rounding
 * boundary. No branch, so it vectorizes. */
#define SPLV_BODY                                                                                          \
    for (int64_t i = 0; i < n; i++) {                                                                      \
        double v = a[i], av = fabs(v);                                                                     \
        int in = av <= 40.0;                                                                               \
        double x = vmd_exp_neg40(in ? -av : 0.0);                                                          \
        double s = (v > 0.0 ? v : 0.0) + vmd_log1p_unit(x) + floor, yd = 2.0 * vmd_log(s);                \
        double d = fabs(yd) * 0x1p-40 + 0x1p-44;                                                           \
        float lo = (float)(yd - d), hi = (float)(yd + d);                                                  \
        y[i] = lo;                                                                                         \
        miss[i] = !(in & (lo == hi));                                                                      \
    }
#define SPLV_ARGS float *restrict y, unsigned char *restrict miss, const float *restrict a, int64_t n, double floor

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

#endif

/* The linear layer and log-densities. The matrix kernel computes a tile of
 * the output (8 rows on AVX-512, with tiles of 4 for the rows left and of 12
 * for batches of 9 to 12; 4 elsewhere; by 32 columns) in registers from a
 * packed weight panel. Every kernel is compiled for AVX-512, AVX2+FMA and
 * baseline x86-64 (bodies in kernel_bodies.h); one table per instruction set
 * holds its clones, and the best table the CPU can run is chosen once, from
 * its feature flags. The WebAssembly build adds a SIMD128 tile and row
 * (isa.h: the x86 clones compile there but are never chosen). Every output element is a sum over the input in the same
 * order whatever the batch size, so results do not depend on batching. */
#include "kernel_bodies.h"
#include "kernels.h"
#include "isa.h"
#include "pool.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MR_MAX 12

int64_t varia_packed_floats(int64_t in, int64_t out)
{
    int64_t floats = (out + VARIA_PANEL - 1) / VARIA_PANEL * in * VARIA_PANEL;
    return (floats + 15) / 16 * 16;
}

/* 16 x 16 transpose in registers: three rounds of two-input shuffles that
 * swap ever smaller off-diagonal blocks (8, 4, 2, then 1 wide). */
VARIA_TARGET("avx512f") static void transpose16(const float *src, int64_t stride, float *dst,
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

/* Every kernel once per instruction set (bodies in kernel_bodies.h). */
VARIA_TARGET("avx512f,fma") static void tile_avx512(TILE_ARGS) { TILE8_BODY }
VARIA_TARGET("avx512f,fma") static void tile4_avx512(TILE_ARGS) { TILE4_BODY }
VARIA_TARGET("avx512f,fma") static void tile12_avx512(TILE_ARGS) { TILE12_BODY }
VARIA_TARGET("avx512f,fma") static void tile10_avx512(TILE_ARGS) { TILE10_BODY }
VARIA_TARGET("avx512f,fma") static void tiley_avx512(TILEY_ARGS) { TILE8Y_BODY }
VARIA_TARGET("avx2,fma") static void tile_avx2(TILE_ARGS) { NTILE4_BODY(v8) }
static void tile_generic(TILE_ARGS) { NTILE4_BODY(v4) }
VARIA_TARGET("avx512f,fma") static void row_avx512(ROW_ARGS) { ROW_BODY }
VARIA_TARGET("avx2,fma") static void row_avx2(ROW_ARGS) { NROW_BODY(v8) }
static void row_generic(ROW_ARGS) { NROW_BODY(v4) }
VARIA_TARGET("avx512f,fma") static void epi_avx512(EPI_ARGS) { EPILOGUE_BODY }
VARIA_TARGET("avx2,fma") static void epi_avx2(EPI_ARGS) { EPILOGUE_BODY }
static void epi_generic(EPI_ARGS) { EPILOGUE_BODY }
VARIA_TARGET("avx512f,fma") static double bern_avx512(BERN_ARGS) { BERNOULLI_BODY }
VARIA_TARGET("avx2,fma") static double bern_avx2(BERN_ARGS) { BERNOULLI_BODY }
static double bern_generic(BERN_ARGS) { BERNOULLI_BODY }
VARIA_TARGET("avx512f,fma") static void bepi_avx512(BERN_EPI_ARGS) { BERN_EPI_BODY }
VARIA_TARGET("avx2,fma") static void bepi_avx2(BERN_EPI_ARGS) { BERN_EPI_BODY }
static void bepi_generic(BERN_EPI_ARGS) { BERN_EPI_BODY }
VARIA_TARGET("avx512f,fma") static void sigmoid_avx512(SIGMOID_ARGS) { SIGMOID_BODY }
VARIA_TARGET("avx2,fma") static void sigmoid_avx2(SIGMOID_ARGS) { SIGMOID_BODY }
static void sigmoid_generic(SIGMOID_ARGS) { SIGMOID_BODY }
VARIA_TARGET("avx512f,fma") static int64_t scan_avx512(SCAN_ARGS) { SCAN_BODY }
VARIA_TARGET("avx2,fma") static int64_t scan_avx2(SCAN_ARGS) { SCAN_BODY }
static int64_t scan_generic(SCAN_ARGS) { SCAN_BODY }
/* The Bernoulli draw's thresholds by logit cell (bern_draw.c fills them). */
static float bdraw_below[VARIA_BDRAW_CELLS + 2], bdraw_above[VARIA_BDRAW_CELLS + 2];
VARIA_TARGET("avx512f,fma") static void bdraw_avx512(BDRAW_ARGS) { BDRAW_BODY }
VARIA_TARGET("avx2,fma") static void bdraw_avx2(BDRAW_ARGS) { BDRAW_BODY }
static void bdraw_generic(BDRAW_ARGS) { BDRAW_BODY }
VARIA_TARGET("avx512f,fma") static void splv_avx512(SPLV_ARGS) { SPLV_BODY }
VARIA_TARGET("avx2,fma") static void splv_avx2(SPLV_ARGS) { SPLV_BODY }
static void splv_generic(SPLV_ARGS) { SPLV_BODY }
VARIA_TARGET("avx512f,fma") static void bgrad_avx512(BGRAD_ARGS) { BGRAD_BODY }
VARIA_TARGET("avx2,fma") static void bgrad_avx2(BGRAD_ARGS) { BGRAD_BODY }
static void bgrad_generic(BGRAD_ARGS) { BGRAD_BODY }
VARIA_TARGET("avx512f,fma") static void agrad_avx512(AGRAD_ARGS) { AGRAD_BODY }
VARIA_TARGET("avx2,fma") static void agrad_avx2(AGRAD_ARGS) { AGRAD_BODY }
static void agrad_generic(AGRAD_ARGS) { AGRAD_BODY }
VARIA_TARGET("avx512f,fma") static void add_avx512(ADD_ARGS) { ADD_BODY }
VARIA_TARGET("avx2,fma") static void add_avx2(ADD_ARGS) { ADD_BODY }
static void add_generic(ADD_ARGS) { ADD_BODY }

#ifdef __wasm_simd128__
#include "kernel_simd128.h" /* tile_simd128, row_simd128 */
#endif

/* ---- the kernel table: every CPU-specific kernel above, resolved once ---- */

/* One instruction set's clones of every kernel of this file. A new kernel adds
 * a field here and a line to each of the three tables below. */
typedef struct kernel_table {
    const char *name;                      /* what varia_kernel_name reports */
    int mr;                                /* rows of a tile (<= MR_MAX) */
    void (*tile)(TILE_ARGS);               /* mr rows x one panel */
    void (*tile4)(TILE_ARGS);              /* 4 rows x one panel where mr is 8 (NULL: mr is 4) */
    void (*tile12)(TILE_ARGS);             /* 12 rows x one panel, for batches of 11 and 12 (NULL: none) */
    void (*tile10)(TILE_ARGS);             /* 10 rows x one panel, for batches of 9 and 10 (NULL: none) */
    void (*tiley)(TILEY_ARGS);             /* mr rows x one full panel stored in place, no epilogue (NULL: none) */
    void (*row)(ROW_ARGS);                 /* one row x four panels */
    void (*epi)(EPI_ARGS);                 /* bias and activation */
    void (*bepi)(BERN_EPI_ARGS);           /* fused Bernoulli terms of one panel */
    double (*bern)(BERN_ARGS);             /* Bernoulli log-likelihood of stored logits */
    void (*sigmoid)(SIGMOID_ARGS);
    int64_t (*scan)(SCAN_ARGS);            /* first NaN or infinity */
    void (*bdraw)(BDRAW_ARGS);             /* the Bernoulli draw's first pass */
    void (*splv)(SPLV_ARGS);               /* softplus_logvar's first pass */
    void (*bgrad)(BGRAD_ARGS);             /* the trainer's elementwise backward ops */
    void (*agrad)(AGRAD_ARGS);
    void (*add)(ADD_ARGS);
    /* 16 x 16 register transpose for packing, NULL: pack through L1 instead */
    void (*transpose16)(const float *src, int64_t stride, float *dst, int64_t dstride);
} kernel_table;

/* Best first: kernels() takes the first one the CPU can run; the wasm build
 * (-msimd128) adds its SIMD128 table before the generic one and takes it. */
static const kernel_table tables[] = {
    {.name = "avx512", .mr = 8, .tile = tile_avx512, .tile4 = tile4_avx512, .tile12 = tile12_avx512,
     .tile10 = tile10_avx512, .tiley = tiley_avx512, .row = row_avx512, .epi = epi_avx512, .bepi = bepi_avx512,
     .bern = bern_avx512, .sigmoid = sigmoid_avx512, .scan = scan_avx512, .bdraw = bdraw_avx512, .splv = splv_avx512,
     .bgrad = bgrad_avx512, .agrad = agrad_avx512, .add = add_avx512, .transpose16 = transpose16},
    {.name = "avx2", .mr = 4, .tile = tile_avx2, .row = row_avx2, .epi = epi_avx2, .bepi = bepi_avx2,
     .bern = bern_avx2, .sigmoid = sigmoid_avx2, .scan = scan_avx2, .bdraw = bdraw_avx2, .splv = splv_avx2,
     .bgrad = bgrad_avx2, .agrad = agrad_avx2, .add = add_avx2, .transpose16 = NULL},
#ifdef __wasm_simd128__
    {.name = "wasm-simd128", .mr = 4, .tile = tile_simd128, .row = row_simd128, .epi = epi_generic,
     .bepi = bepi_generic, .bern = bern_generic, .sigmoid = sigmoid_generic, .scan = scan_generic,
     .bdraw = bdraw_generic, .splv = splv_generic, .bgrad = bgrad_generic, .agrad = agrad_generic, .add = add_generic,
     .transpose16 = NULL},
#endif
    {.name = "generic", .mr = 4, .tile = tile_generic, .row = row_generic, .epi = epi_generic,
     .bepi = bepi_generic, .bern = bern_generic, .sigmoid = sigmoid_generic, .scan = scan_generic,
     .bdraw = bdraw_generic, .splv = splv_generic, .bgrad = bgrad_generic, .agrad = agrad_generic, .add = add_generic,
     .transpose16 = NULL},
};
enum { N_TABLES = sizeof tables / sizeof tables[0] };

/* Index in tables[] of the best table this CPU runs, chosen by the feature
 * flags it reports, not by its model name. */
static int best_table(void)
{
#ifdef __wasm_simd128__
    return 2; /* the wasm build's SIMD128 table: chosen at compile time, no CPU to ask */
#else
    if (VARIA_CPU_HAS("avx512f") && VARIA_CPU_HAS("fma"))
        return 0;
    if (VARIA_CPU_HAS("avx2") && VARIA_CPU_HAS("fma"))
        return 1;
    return N_TABLES - 1;
#endif
}

/* The table in use: resolved on first use, then one load per call. Threads
 * that race on the first use all store the same pointer, so relaxed order
 * suffices (the tables are constant data). */
static _Atomic(const kernel_table *) chosen;

static const kernel_table *kernels(void)
{
    const kernel_table *k = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!k) {
        k = &tables[best_table()];
        atomic_store_explicit(&chosen, k, memory_order_relaxed);
    }
    return k;
}

int varia_kernels_use(const char *name)
{
    for (int i = best_table(); i < N_TABLES; i++)
        if (!strcmp(tables[i].name, name)) {
            atomic_store_explicit(&chosen, &tables[i], memory_order_relaxed);
            return 1;
        }
    return 0;
}

const char *varia_kernel_name(void)
{
#ifdef VARIA_USE_BLAS
    return "system BLAS";
#endif
    return kernels()->name;
}

/* The trainer repacks every step, so this is fast: the transposed layout is a
 * row copy per input; the plain one transposes 16 x 16 tiles in registers on
 * AVX-512 CPUs and 32 x 64 tiles within L1 elsewhere. */
void varia_pack_panels(float *dst, const float *w, int64_t in, int64_t out, int transposed)
{
    enum { IB = 64 };
    void (*t16)(const float *, int64_t, float *, int64_t) = transposed ? NULL : kernels()->transpose16;
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
        int64_t i_fast = t16 && cols == VARIA_PANEL ? in / 16 * 16 : 0;
        for (int64_t i0 = 0; i0 < i_fast; i0 += 16)
            for (int c0 = 0; c0 < VARIA_PANEL; c0 += 16)
                t16(w + (o0 + c0) * in + i0, in, panel + i0 * VARIA_PANEL + c0, VARIA_PANEL);
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
    l->ld = 0; /* a whole layer: its own in */
    size_t bytes = (size_t)varia_packed_floats(in, out) * sizeof(float);
    l->packed = aligned_alloc(64, bytes ? bytes : 64);
    if (!l->packed)
        return 0;
    varia_pack_panels(l->packed, w, in, out, 0);
    return 1;
}

/* The rows of each packed panel (and the weight's row stride). */
static int64_t stride(const varia_linear *l)
{
    return l->ld ? l->ld : l->in;
}

varia_linear varia_linear_cols(const varia_linear *l, int64_t off, int64_t n, int bias)
{
    return (varia_linear){n, l->out, l->w ? l->w + off : NULL, l->packed ? l->packed + off * VARIA_PANEL : NULL,
                          bias ? l->bias : NULL, stride(l)};
}

/* The bias of output panel o0 (zeros for a layer without one). */
static const float *panel_bias(const varia_linear *l, int64_t o0)
{
    static const float zeros[VARIA_PANEL];
    return l->bias ? l->bias + o0 : zeros;
}

void varia_linear_free(varia_linear *l)
{
    free(l->packed);
    l->packed = NULL;
}

/* One row against output panels [p_begin, p_end), four at a time, with k's
 * kernels. */
static void forward_row(const varia_linear *l, const float *x, float *y, varia_act act, int64_t p_begin,
                        int64_t p_end, const kernel_table *k)
{
    float acc[4][VARIA_PANEL];
    for (int64_t p0 = p_begin; p0 < p_end; p0 += 4) {
        const float *pp[4];
        for (int q = 0; q < 4; q++) /* past the last panel, repeat it */
            pp[q] = l->packed + (p0 + q < p_end ? p0 + q : p_end - 1) * stride(l) * VARIA_PANEL;
        k->row(x, pp, l->in, acc);
        for (int q = 0; q < 4 && p0 + q < p_end; q++) {
            int64_t o0 = (p0 + q) * VARIA_PANEL;
            k->epi(y + o0, acc[q], panel_bias(l, o0), l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL, act);
        }
    }
}

#ifdef VARIA_USE_BLAS
#include <cblas.h>

/* The system BLAS computes x W^T; the same epilogue adds the bias and applies
 * the activation in place, a panel at a time (panel_bias). */
static void forward_blas(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act)
{
    void (*epi)(EPI_ARGS) = kernels()->epi;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)l->out, (int)l->in, 1.0f, x, (int)l->in, l->w,
                (int)stride(l), 0.0f, y, (int)l->out);
    for (int64_t r = 0; r < n; r++)
        for (int64_t o0 = 0; o0 < l->out; o0 += l->bias ? l->out : VARIA_PANEL) /* a whole row at once when it can */
            epi(y + r * l->out + o0, y + r * l->out + o0, panel_bias(l, o0),
                l->bias || l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL, act);
}
#endif

void varia_linear_forward(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act)
{
#ifdef VARIA_USE_BLAS
    if (n > 0) {
        forward_blas(l, x, n, y, act);
        return;
    }
#endif
    varia_linear_forward_native(l, x, n, y, act);
}

/* Rows [0, rows) of x against output panels [p_begin, p_end) with the tile
 * kernel `tile` of mr >= rows rows; a short tile repeats its last row in the
 * rows it lacks and drops their results (each element's sum reads its own
 * row only, so the real rows' bits are a full tile's). */
static void forward_tile(const varia_linear *l, const float *x, int64_t rows, float *y, varia_act act,
                         int64_t p_begin, int64_t p_end, void (*tile)(TILE_ARGS), int mr)
{
    float acc[MR_MAX][VARIA_PANEL];
    const float *xr[MR_MAX];
    void (*epi)(EPI_ARGS) = kernels()->epi;
    for (int q = 0; q < mr; q++)
        xr[q] = x + (q < rows ? q : rows - 1) * l->in;
    for (int64_t o0 = p_begin * VARIA_PANEL; o0 < p_end * VARIA_PANEL; o0 += VARIA_PANEL) {
        tile(xr, l->packed + o0 * stride(l), l->in, acc);
        int64_t cols = l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL;
        for (int q = 0; q < rows; q++)
            epi(y + q * l->out + o0, acc[q], panel_bias(l, o0), cols, act);
    }
}

/* Output panels [p_begin, p_end) of every row: the whole layer, or one
 * worker's share of it. Small batches are bound by streaming the weight
 * panels, so: a batch of 9 to 12 rows takes one tile (AVX-512; sampling 10
 * VRNN sequences: 5.5% more frames per CPU second than a tile of 8 and a
 * short one; tiles of 12 for every batch made AIS's 64 rows 3% slower, so
 * only these), of 10 rows for 9 or 10 and of 12 for 11 or 12: once the panel
 * is in L1 a tile is bound by its FMAs, and 10 rows in a tile of 12 spent a
 * sixth of them on repeats (a tile of 10 for the 10 sequences: 14% more
 * frames per CPU second). Otherwise rows go by tiles of mr, and the 2 to
 * mr - 1 rows left take one short tile (AVX-512: of 4 rows when they are at
 * most 4), streaming each panel once rather than once per row; a single row
 * left takes the row kernel. Every kernel sums each element in the same
 * order: the bits do not depend on the path. */
static void forward_panels(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act,
                           int64_t p_begin, int64_t p_end)
{
    const kernel_table *k = kernels();
    int64_t full = n / k->mr * k->mr, left = n - full;
    if (k->tile12 && n > k->mr && n <= 12) { /* one stream of the weight for the whole batch */
        if (n <= 10)
            forward_tile(l, x, n, y, act, p_begin, p_end, k->tile10, 10);
        else
            forward_tile(l, x, n, y, act, p_begin, p_end, k->tile12, 12);
        return;
    }
    for (int64_t r = 0; r < full; r += k->mr)
        forward_tile(l, x + r * l->in, k->mr, y + r * l->out, act, p_begin, p_end, k->tile, k->mr);
    if (left == 1)
        forward_row(l, x + full * l->in, y + full * l->out, act, p_begin, p_end, k);
    else if (left > 1 && k->tile4 && left <= 4)
        forward_tile(l, x + full * l->in, left, y + full * l->out, act, p_begin, p_end, k->tile4, 4);
    else if (left > 1)
        forward_tile(l, x + full * l->in, left, y + full * l->out, act, p_begin, p_end, k->tile, k->mr);
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

/* 1 when a product of n rows by l is worth splitting over team's workers
 * (kernels.h: at least VARIA_TEAM_MIN_MACS multiply-adds and 5 panels). */
static int team_worth(const varia_linear *l, int64_t n, struct varia_pool *team)
{
    return varia_pool_size(team) > 1 && n * l->in * l->out >= VARIA_TEAM_MIN_MACS && panel_count(l) >= 5;
}

void varia_linear_forward_team(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act,
                               struct varia_pool *team)
{
    int64_t panels = panel_count(l);
    int shared = team_worth(l, n, team);
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

/* Output panels [p_begin, p_end) of y = x W^T (no bias, no activation),
 * row stride ldy >= out, tiles of mr rows: a whole tile of a whole panel goes
 * from the registers to y (tiley); a short tile (repeating its last row, as
 * forward_tile does) or panel goes through the tile's accumulator. Panel p
 * stores min(32, ldy - 32 p) columns, so with ldy rounded up to whole panels
 * every tile is stored straight. Every element is the tiles' sum: the bits of
 * forward_panels with a zero bias and the identity. */
static void product_panels(const varia_linear *l, const float *x, int64_t n, float *y, int64_t ldy, int64_t p_begin,
                           int64_t p_end)
{
    const kernel_table *k = kernels();
    float acc[MR_MAX][VARIA_PANEL];
    for (int64_t r = 0; r < n; r += k->mr) {
        int64_t rows = n - r < k->mr ? n - r : k->mr;
        const float *xr[MR_MAX];
        for (int q = 0; q < k->mr; q++)
            xr[q] = x + (r + (q < rows ? q : rows - 1)) * l->in;
        for (int64_t p = p_begin; p < p_end; p++) {
            const float *panel = l->packed + p * VARIA_PANEL * stride(l);
            float *yp = y + r * ldy + p * VARIA_PANEL;
            int64_t cols = ldy - p * VARIA_PANEL < VARIA_PANEL ? ldy - p * VARIA_PANEL : VARIA_PANEL;
            if (k->tiley && rows == k->mr && cols == VARIA_PANEL) {
                k->tiley(xr, panel, l->in, yp, ldy);
                continue;
            }
            k->tile(xr, panel, l->in, acc);
            for (int64_t q = 0; q < rows; q++)
                memcpy(yp + q * ldy, acc[q], (size_t)cols * sizeof(float));
        }
    }
}

typedef struct product_job {
    const varia_linear *l;
    const float *x;
    float *y;
    int64_t n, ldy;
} product_job;

/* A pool worker's share of a product_job: output panels [begin, end). */
static void team_product(void *arg, int64_t begin, int64_t end)
{
    const product_job *j = arg;
    product_panels(j->l, j->x, j->n, j->y, j->ldy, begin, end);
}

void varia_linear_product_team(const varia_linear *l, const float *x, int64_t n, float *y, int64_t ldy,
                               struct varia_pool *team)
{
    int64_t panels = panel_count(l);
    if (team_worth(l, n, team)) {
        product_job j = {l, x, y, n, ldy};
        varia_pool_share(team, team_product, &j, panels);
    } else {
        product_panels(l, x, n, y, ldy, 0, panels);
    }
}

/* One row of the fused Bernoulli output against every panel, with k's kernels. */
static void bernoulli_row(const varia_linear *l, const float *h, const float *x, double *logp,
                          const kernel_table *k)
{
    float acc[4][VARIA_PANEL];
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t panels = (l->out + VARIA_PANEL - 1) / VARIA_PANEL;
    for (int64_t p0 = 0; p0 < panels; p0 += 4) {
        const float *pp[4];
        for (int q = 0; q < 4; q++)
            pp[q] = l->packed + (p0 + q < panels ? p0 + q : panels - 1) * stride(l) * VARIA_PANEL;
        k->row(h, pp, l->in, acc);
        for (int q = 0; q < 4 && p0 + q < panels; q++) {
            int64_t o0 = (p0 + q) * VARIA_PANEL;
            k->bepi(acc[q], panel_bias(l, o0), x + o0, l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL, s);
        }
    }
    *logp = (s[0] + s[1]) + (s[2] + s[3]);
}

void varia_linear_bernoulli(const varia_linear *l, const float *h, int64_t n, const float *x, double *logp,
                            float *tmp)
{
#ifdef VARIA_USE_BLAS
    varia_linear_forward(l, h, n, tmp, (varia_act){VARIA_ACT_IDENTITY, 0.0f});
    for (int64_t r = 0; r < n; r++)
        logp[r] = varia_bernoulli_logp(x, tmp + r * l->out, l->out);
    return;
#else
    (void)tmp;
#endif
    const kernel_table *k = kernels();
    int mr = k->mr;
    int64_t full = n / mr * mr;
    for (int64_t r = full; r < n; r++)
        bernoulli_row(l, h + r * l->in, x, &logp[r], k);
    float acc[MR_MAX][VARIA_PANEL];
    double s[MR_MAX][4];
    for (int64_t r = 0; r < full; r += mr) {
        const float *xr[MR_MAX];
        for (int q = 0; q < mr; q++) {
            xr[q] = h + (r + q) * l->in;
            s[q][0] = s[q][1] = s[q][2] = s[q][3] = 0.0;
        }
        for (int64_t o0 = 0; o0 < l->out; o0 += VARIA_PANEL) {
            k->tile(xr, l->packed + o0 * stride(l), l->in, acc);
            int64_t cols = l->out - o0 < VARIA_PANEL ? l->out - o0 : VARIA_PANEL;
            for (int q = 0; q < mr; q++)
                k->bepi(acc[q], panel_bias(l, o0), x + o0, cols, s[q]);
        }
        for (int q = 0; q < mr; q++)
            logp[r + q] = (s[q][0] + s[q][1]) + (s[q][2] + s[q][3]);
    }
}

void varia_sigmoid(float *y, const float *x, int64_t n)
{
    kernels()->sigmoid(y, x, n);
}

float *varia_bern_draw_thresholds(int upper)
{
    return upper ? bdraw_above : bdraw_below;
}

void varia_bern_draw_bounds(float *y, const float *l, const float *e, int64_t n)
{
    kernels()->bdraw(y, l, e, n);
}

float varia_softplus_logvar_ref(float a, float floor)
{
    double v = a, sp = fmax(v, 0.0) + log1p(exp(-fabs(v)));
    return (float)(2.0 * log(sp + (double)floor));
}

/* Why the first pass's floats are the reference's. Its double y is within
 * 2^-47 + 2^-49 |y| of the exact 2 log(softplus(a) + floor): vmathd.h's
 * exp, log1p and log are within a few ulps (2^-50 relative), the sums of
 * positive terms add 2^-53 each, so s is within 2^-48 relative, which moves
 * log s by 2^-48 at most, and log's own error is relative. The reference's
 * double is as close (libm's functions are as accurate), so the two differ
 * by less than D = 2^-44 + 2^-40 |y|, with room for the roundings of y +- D.
 * Rounding to float is monotone, so when y - D and y + D round to the same
 * float, the reference's value rounds to it as well. That fails for about
 * one value in 2^15 (D against half a float ulp), which the reference then
 * computes, as it does for |a| > 40 (outside vmathd.h's exp domain) and
 * NaN. test_kernels compares the two over many values. */
void varia_softplus_logvar(float *y, const float *a, int64_t n, float floor)
{
    enum { CHUNK = 256 };
    unsigned char miss[CHUNK];
    int fast = floor >= 0.0f && floor <= 1.0f; /* the bound's premises (the manifest's range) */
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
        int64_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
        if (fast)
            kernels()->splv(y + i0, miss, a + i0, m, (double)floor);
        for (int64_t i = 0; i < m; i++)
            if (!fast || miss[i])
                y[i0 + i] = varia_softplus_logvar_ref(a[i0 + i], floor);
    }
}

int64_t varia_find_bad(const float *x, int64_t n, int nan_only)
{
    return kernels()->scan(x, n, nan_only);
}

int64_t varia_find_outside(const float *x, int64_t n, float lo, float hi)
{
    enum { BLOCK = 256 };
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
        int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        int bad = 0;
        for (int64_t i = 0; i < m; i++) /* no exit inside a block: it vectorizes */
            bad |= (x[i0 + i] < lo) | (x[i0 + i] > hi);
        for (int64_t i = 0; bad && i < m; i++)
            if (x[i0 + i] < lo || x[i0 + i] > hi)
                return i0 + i;
    }
    return -1;
}

float varia_softplus(float x)
{
    return vm_softplus(x);
}

double varia_bernoulli_logp(const float *x, const float *l, int64_t d)
{
    return kernels()->bern(x, l, d);
}

void varia_bernoulli_grad(const float *x, const float *l, int64_t n, float *out)
{
    kernels()->bgrad(x, l, n, out);
}

void varia_act_grad(varia_act act, const float *y, const float *dy, int64_t n, float *out)
{
    kernels()->agrad(act, y, dy, n, out);
}

void varia_add(float *y, const float *x, int64_t n)
{
    kernels()->add(y, x, n);
}

void varia_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t ldd)
{
    if ((cols == 1 && lds == 1) || (rows == 1 && ldd == 1)) { /* a vector: a copy */
        memcpy(dst, src, (size_t)(rows * cols) * sizeof(float));
        return;
    }
    void (*t16)(const float *, int64_t, float *, int64_t) = kernels()->transpose16;
    int64_t r16 = t16 ? rows / 16 * 16 : 0, c16 = t16 ? cols / 16 * 16 : 0;
    for (int64_t r0 = 0; r0 < r16; r0 += 16)
        for (int64_t c0 = 0; c0 < c16; c0 += 16)
            t16(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
    for (int64_t r = 0; r < rows; r++) /* the edges the blocks left: columns past c16, then rows past r16 */
        for (int64_t c = r < r16 ? c16 : 0; c < cols; c++)
            dst[c * ldd + r] = src[r * lds + c];
}

void varia_add_act(float *y, const float *a, const float *b, int64_t n, varia_act act)
{
    kernels()->epi(y, a, b, n, act);
}

void varia_act_apply(float *y, const float *x, int64_t n, varia_act act)
{
    static const float zeros[256]; /* the epilogue adds a bias: none here */
    for (int64_t i = 0; i < n; i += 256)
        kernels()->epi(y + i, x + i, zeros, n - i < 256 ? n - i : 256, act);
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

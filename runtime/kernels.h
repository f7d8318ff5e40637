/* Internal: the small set of ops every family's forward pass is written over:
 * a linear layer with fused bias and activation, and log-densities. */
#ifndef VARIA_KERNELS_H
#define VARIA_KERNELS_H

#include <stdint.h>

typedef enum varia_act_kind {
    VARIA_ACT_IDENTITY, VARIA_ACT_TANH, VARIA_ACT_RELU, VARIA_ACT_LEAKY_RELU,
    VARIA_ACT_ELU, VARIA_ACT_SOFTPLUS, VARIA_ACT_SIGMOID
} varia_act_kind;

typedef struct varia_act {
    varia_act_kind kind;
    float param; /* leaky-relu slope or elu alpha */
} varia_act;

/* The weight [out, in] repacked into column panels so the kernel streams it. */
#define VARIA_PANEL 32
typedef struct varia_linear {
    int64_t in, out;
    const float *w;     /* the weight as given, [out, in] (for the BLAS build) */
    float *packed;      /* [ceil(out/PANEL)][in][PANEL], zero-padded */
    const float *bias;  /* [out]; NULL: no bias (a column range taken without it) */
    int64_t ld;         /* w's row stride and each packed panel's rows: 0 means in; a column
                           range's (varia_linear_cols) is its layer's, so it reads the panels in place */
} varia_linear;

/* Pack W [out, in] (PyTorch layout). Returns 0 when memory is exhausted. */
int varia_linear_init(varia_linear *l, const float *w, const float *bias, int64_t in, int64_t out);
void varia_linear_free(varia_linear *l);
/* Columns [off, off + n) of l's weight as a layer of its own, [out, n]: a
 * view reading l's packed panels in place (a panel's rows are its inputs, so
 * the range is a run of rows of every panel at l's panel stride), nothing
 * packed or allocated. With bias it adds l's bias, without it none. Valid as
 * long as l is; off + n <= l->in. */
varia_linear varia_linear_cols(const varia_linear *l, int64_t off, int64_t n, int bias);
/* Floats a packed [out, in] matrix occupies (a multiple of 16). */
int64_t varia_packed_floats(int64_t in, int64_t out);
/* Pack into dst[varia_packed_floats(in, out)]: element (o, i) is w[o * in + i],
 * or w[i * out + o] when `transposed` (so W^T and X^T pack without a copy). */
void varia_pack_panels(float *dst, const float *w, int64_t in, int64_t out, int transposed);
/* y[n, out] = act(x[n, in] W^T + b). Row r of y depends only on row r of x, and
 * is computed by the same instruction sequence whatever n is. */
void varia_linear_forward(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act);
/* The same with varia's own kernel even in the system-BLAS build; only
 * l->packed, l->bias, l->in and l->out are read (the trainer's products). */
void varia_linear_forward_native(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act);

/* The same, the output panels shared with whichever workers of `team` are
 * free (NULL: the calling thread alone; see varia_pool_share). Each element is
 * computed exactly as above, so the bits do not depend on the team. Worth it
 * only for small batches, whose rows cannot be spread over threads. A layer
 * under VARIA_TEAM_MIN_MACS multiply-adds, or of fewer than 5 panels, stays
 * on the caller: the hand-off (about 0.1 us) would cost more than it saves. */
#define VARIA_TEAM_MIN_MACS 8192
struct varia_pool;
void varia_linear_forward_team(const varia_linear *l, const float *x, int64_t n, float *y, varia_act act,
                               struct varia_pool *team);

/* y[n, out] = x[n, in] W^T: the product alone, l's bias ignored, no
 * activation, always by varia's own kernels (the system-BLAS build too),
 * output panels shared with `team` as above. y's rows are ldy >= out floats
 * apart; columns [out, ldy) of a row may be overwritten (with ldy a multiple
 * of VARIA_PANEL every tile is stored straight from the registers). Each
 * element's bits are those varia_linear_forward_native gives with a zero bias
 * and the identity. */
void varia_linear_product_team(const varia_linear *l, const float *x, int64_t n, float *y, int64_t ldy,
                               struct varia_pool *team);

/* The Bernoulli log-likelihood of the layer's output as logits, fused into
 * the matrix pass: logp[r] = sum_d x_d l_rd - softplus(l_rd), l = h W^T + b,
 * one x for every row. The logits are never stored (tmp[n * out] is used only
 * by the system-BLAS build). */
void varia_linear_bernoulli(const varia_linear *l, const float *h, int64_t n, const float *x, double *logp,
                            float *tmp);

/* Which kernels this process runs: "avx512", "avx2" or "generic" (the best
 * the CPU supports, unless varia_kernels_use chose another), or "system BLAS". */
const char *varia_kernel_name(void);
/* For tests: run every later call of this file's kernels, in the whole
 * process, with the named instruction set's ("avx512", "avx2", "generic").
 * Returns 0, changing nothing, when the name is unknown or the CPU cannot run
 * it. Not for use while another thread runs a kernel: that call may mix the
 * two sets. */
int varia_kernels_use(const char *name);

/* y[i] = 1 / (1 + exp(-x[i])), vectorized (y may equal x). */
void varia_sigmoid(float *y, const float *x, int64_t n);

/* The Bernoulli draw's first pass (runtime/bern_draw.c says why it is
 * right): the logits' grid has VARIA_BDRAW_CELLS cells of width
 * VARIA_BDRAW_STEP from VARIA_BDRAW_LO, cell c = 1 + i for [lo + i step,
 * lo + (i + 1) step), 0 below and VARIA_BDRAW_CELLS + 1 above it. For l[i]
 * in cell c, y[i] = 1 when e[i] < below[c], 0 when e[i] > above[c], and -1
 * (undecided) otherwise, or when l[i] is NaN. Vectorized; the same values on
 * every instruction set (exact comparisons only). below and above, of
 * VARIA_BDRAW_CELLS + 2 floats, are varia_bern_draw_thresholds(0) and (1):
 * filled once, before the first call, by bern_draw.c. */
#define VARIA_BDRAW_LO -32.0f
#define VARIA_BDRAW_STEP (1.0f / 16.0f)
#define VARIA_BDRAW_CELLS 1024
float *varia_bern_draw_thresholds(int upper);
void varia_bern_draw_bounds(float *y, const float *l, const float *e, int64_t n);

/* The log-variance of a softplus standard deviation, as exec and the tape
 * compute it: (float)(2 log(softplus(a) + floor)) in double, with
 * softplus(a) = max(a, 0) + log1p(exp(-|a|)), by libm. varia_softplus_logvar
 * gives the same floats for y[i] from a[i], i < n, mostly by a vectorized
 * double evaluation that can tell when its float is the reference's. */
float varia_softplus_logvar_ref(float a, float floor);
void varia_softplus_logvar(float *y, const float *a, int64_t n, float floor);

/* Elementwise ops of the trainer's backward passes, vectorized like the rest:
 * out = x - sigmoid(l) (the Bernoulli log-likelihood's gradient in l);
 * out = dy * act'(v) computed from the activation's output y; y += x. */
void varia_bernoulli_grad(const float *x, const float *l, int64_t n, float *out);
void varia_act_grad(varia_act act, const float *y, const float *dy, int64_t n, float *out);
void varia_add(float *y, const float *x, int64_t n);
/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: a matrix
 * transposed (16 x 16 blocks in registers on AVX-512, the rest element by
 * element), the NCHW / position-major moves of the convolutions. dst must not
 * overlap src. */
void varia_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t ldd);
/* y = act(a + b) elementwise, with the linear layer's own activation code (so
 * an add then an activation gives the bits a fused bias would). */
void varia_add_act(float *y, const float *a, const float *b, int64_t n, varia_act act);
/* y = act(x) elementwise, by the same code (y may equal x). */
void varia_act_apply(float *y, const float *x, int64_t n, varia_act act);

/* Index of the first element of x[0, n) that is NaN (nan_only) or not finite,
 * or -1: the input and output checks of every operation, vectorized. */
int64_t varia_find_bad(const float *x, int64_t n, int nan_only);
/* Index of the first element of x[0, n) below lo or above hi (NaN is neither),
 * or -1: the [0, 1] input check of the Bernoulli models, vectorized. */
int64_t varia_find_outside(const float *x, int64_t n, float lo, float hi);

/* Stable scalar helpers. */
float varia_softplus(float x);
/* log p(x | logits) for Bernoulli, summed over d (x may be fractional). */
double varia_bernoulli_logp(const float *x, const float *logits, int64_t d);
/* log N(x; mean, exp(logvar)) summed over d. */
double varia_gaussian_logp(const float *x, const float *mean, const float *logvar, int64_t d);
/* Same with one shared log-variance for every dimension. */
double varia_gaussian_logp_scalar(const float *x, const float *mean, float logvar, int64_t d);
/* log N(x; 0, I) summed over d. */
double varia_std_normal_logp(const float *x, int64_t d);

#endif

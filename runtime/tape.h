/* Internal: reverse-mode differentiation over the ops the families' passes use
 * (ops_tape.c adapts it to the op interface); part of the runtime, because
 * gradient-based inference needs it, and the training module's engine:
 * the linear layer with fused activation, reparameterization, and the
 * log-densities. Each op computes its value when called and records how to
 * send gradients back; tr_backward replays the records in reverse.
 *
 * The element type is float in the library. The gradient-check tests compile
 * this file (and ops_tape.c) a second time with -DTR_DOUBLE, so the same
 * backward formulas are checked in double precision against central finite
 * differences; only the matrix products and activations switch backends. */
#ifndef VARIA_TRAIN_TAPE_H
#define VARIA_TRAIN_TAPE_H

#include "attn.h"
#include "conv.h"
#include "kernels.h"

#include <stddef.h>
#include <stdint.h>

#ifdef TR_DOUBLE
typedef double tr_real;
#define TR(name) trd_##name
#else
typedef float tr_real;
#define TR(name) tr_##name
#endif

/* A matrix value with its gradient (g == NULL: a constant, no gradient). */
typedef struct tr_node {
    int64_t rows, cols;
    tr_real *v, *g;
} tr_node;

/* A linear layer's parameters as the tape sees them: the weight [out, in]
 * (PyTorch layout) and bias, where their gradients accumulate (gw and gb
 * both NULL: the layer is a constant, its weight gradient never computed,
 * as gradient-based inference over a loaded model needs), and (float build)
 * the weight packed for the forward product and its transpose for the input
 * gradient, packed once per step and shared read-only by every shard. */
typedef struct tr_lin {
    int64_t in, out;
    const tr_real *w, *b;
    tr_real *gw, *gb;
    const float *packed, *packed_t;
} tr_lin;

typedef struct tr_tape tr_tape;

/* A tape with its own arena; memory grows on the first steps and is then
 * reused (tr_reset keeps it). NULL when memory is exhausted. */
tr_tape *TR(tape_new)(void);
void TR(tape_free)(tr_tape *t);
void TR(reset)(tr_tape *t);
/* Nonzero once an allocation on the tape failed (every later op then returns
 * a dummy node, so callers check once per step). */
int TR(failed)(const tr_tape *t);

/* n values of scratch on the tape's arena, valid until the next reset. */
tr_real *TR(alloc)(tr_tape *t, int64_t n);
/* A constant (data, noise) or a parameter (grad != NULL, accumulated into). */
tr_node *TR(input)(tr_tape *t, int64_t rows, int64_t cols, const tr_real *v);
tr_node *TR(param)(tr_tape *t, int64_t rows, int64_t cols, const tr_real *v, tr_real *grad);

/* y = act(x W^T + b). */
tr_node *TR(linear)(tr_tape *t, tr_node *x, const tr_lin *l, varia_act act);
/* y = x W[:, off:off+n]^T (+ b when bias), x [rows, n], no activation
 * (tape_lincols.c): dx += dy W[:, off:off+n], the weight gradient's columns
 * [off, off + n) += dy^T x, gb += column sums of dy when bias. */
tr_node *TR(linear_cols)(tr_tape *t, tr_node *x, const tr_lin *l, int64_t off, int64_t n, int bias);
/* z[r] = mu[r / k] + temp * exp(lv[r / k] / 2) * eps[r], r < k * rows(mu). */
tr_node *TR(reparam)(tr_tape *t, tr_node *mu, tr_node *lv, const tr_real *eps, int64_t k, float temp);
/* Per row r < k * rows(lv): sum_d -eps[r]_d^2 / 2 - lv[r / k]_d / 2 - log(2 pi) / 2,
 * log q of the reparameterised z; d/dlv = -1/2. */
tr_node *TR(logq_eps)(tr_tape *t, tr_node *lv, const tr_real *eps, int64_t k);
/* c * x; d/dx = c. */
tr_node *TR(scale)(tr_tape *t, tr_node *x, double c);
/* Columns [off, off + n) of x, copied; the gradient scatters back. */
tr_node *TR(cols)(tr_tape *t, tr_node *x, int64_t off, int64_t n);
/* x's values read as rows x cols (the same count); gradients flow back in place. */
tr_node *TR(reshape)(tr_tape *t, tr_node *x, int64_t rows, int64_t cols);
/* Per row r: sum_d log N(z[r / kz]_d; mu[r / kmu]_d, exp(lv_d)), lv's row
 * r / kmu, or its only row when it has one, and its only column when it has
 * one. Output [rows, 1]. */
tr_node *TR(gauss_logp)(tr_tape *t, tr_node *z, int64_t kz, tr_node *mu, int64_t kmu, tr_node *lv);
/* Per row: sum_d log N(z_d; 0, 1). */
tr_node *TR(std_normal_logp)(tr_tape *t, tr_node *z);
/* Per row r: sum_d x[r / kx]_d l_d - softplus(l_d) (x is data, no gradient). */
tr_node *TR(bernoulli_logp)(tr_tape *t, tr_node *logits, const tr_real *x, int64_t kx);
/* Per row and dimension: KL(N(mu, exp lv) || N(0, 1)), [rows, cols]. */
tr_node *TR(gauss_kl)(tr_tape *t, tr_node *mu, tr_node *lv);
/* Per row: sum of the columns. */
tr_node *TR(row_sum)(tr_tape *t, tr_node *x);
/* sum_i c[i] * a[i], all of one shape. */
tr_node *TR(combine)(tr_tape *t, tr_node *const *a, const double *c, int n);
/* Per group of k consecutive rows of a column: logsumexp - log k, or the mean. */
tr_node *TR(lse_groups)(tr_tape *t, tr_node *x, int64_t k);
tr_node *TR(mean_groups)(tr_tape *t, tr_node *x, int64_t k);
/* act(a + b[r / kb]) per row r (b of one row broadcasts). */
tr_node *TR(add)(tr_tape *t, tr_node *a, tr_node *b, int64_t kb, varia_act act);
/* x W^T, W a node [out, in]. */
tr_node *TR(matmul)(tr_tape *t, tr_node *x, tr_node *w);
/* [a, b] side by side (equal rows); the gradient splits back. */
tr_node *TR(concat)(tr_tape *t, tr_node *a, tr_node *b);
/* act(x) elementwise. */
tr_node *TR(act)(tr_tape *t, tr_node *x, varia_act act);
/* erf(x / sqrt 2) elementwise; d/dx = sqrt(2 / pi) exp(-x^2 / 2). */
tr_node *TR(normal_to_uniform)(tr_tape *t, tr_node *x);
/* The convolutions of ops.h over NCHW rows (tape_conv.c): x [n, cin*h*w],
 * the result [n, cout*oh*ow]. conv2d's l is its weight [cout, cin kh kw] and
 * bias [cout]; conv_transpose2d's l is its weight as stored, [out = cin, in =
 * cout kh kw], and l->b, l->gb its bias [cout]. g must outlive the tape. */
tr_node *TR(conv2d)(tr_tape *t, tr_node *x, const tr_lin *l, const varia_conv *g, varia_act act);
tr_node *TR(conv_transpose2d)(tr_tape *t, tr_node *x, const tr_lin *l, const varia_conv *g, varia_act act);
/* Batch norm with the batch's statistics (PyTorch's train mode; tape_conv.c):
 * x is [n, C*HW] (NCHW rows, HW = cols / C; a vector has HW 1), channel c
 * normalised by the mean and biased variance of its n*HW values:
 * y = act(gamma_c (x - mean_c) / sqrt(var_c + eps) + beta_c). bn holds gamma
 * as w, beta as b (and their gradients), C as out. stats, if not NULL, gets
 * per channel (count, mean, sum of squared deviations), in double, for the
 * caller's running statistics. bn is copied; stats must outlive the call. */
tr_node *TR(batch_norm)(tr_tape *t, tr_node *x, const tr_lin *bn, double eps, varia_act act, double *stats);
/* The flow steps of ops.h, same arguments (tape_flow.c). */
tr_node *TR(planar_uhat)(tr_tape *t, tr_node *u, tr_node *w);
tr_node *TR(planar)(tr_tape *t, tr_node *z, tr_node *uh, tr_node *w, tr_node *b, int64_t k);
tr_node *TR(planar_logdet)(tr_tape *t, tr_node *z, tr_node *uh, tr_node *w, tr_node *b, int64_t k);
tr_node *TR(radial)(tr_tape *t, tr_node *z, tr_node *z0, tr_node *ah, tr_node *bh, int64_t k);
tr_node *TR(radial_logdet)(tr_tape *t, tr_node *z, tr_node *z0, tr_node *ah, tr_node *bh, int64_t k);
tr_node *TR(iaf)(tr_tape *t, tr_node *z, tr_node *m, tr_node *s);
tr_node *TR(iaf_logdet)(tr_tape *t, tr_node *s);
/* The recurrent cells of ops.h, same arguments (tape_rnn.c): lstm_cell's
 * gates [rows, 4H] and c [rows, H] give [h' | c'] [rows, 2H]; gru_cell's gi,
 * gh [rows, 3H] and h [rows, H] give h' [rows, H]. */
tr_node *TR(lstm_cell)(tr_tape *t, tr_node *gates, tr_node *c);
tr_node *TR(gru_cell)(tr_tape *t, tr_node *gi, tr_node *gh, tr_node *h);
/* The sequence ops of ops.h (tape_seq.c): row_mask keeps row r of x where
 * step < lengths[r / k] (else 0; the gradient reaches the kept rows only);
 * softplus_logvar is 2 log(softplus(a) + floor); gauss_kl_to the KL of
 * N(mu, e^lv) from N(mu_p, e^lv_p) per element (all four of one shape);
 * bernoulli_sample a constant draw, 1 where Phi(eps) < sigmoid(logits). */
tr_node *TR(row_mask)(tr_tape *t, tr_node *x, const int64_t *lengths, int64_t k, int64_t step);
tr_node *TR(softplus_logvar)(tr_tape *t, tr_node *a, double floor);
tr_node *TR(gauss_kl_to)(tr_tape *t, tr_node *mu, tr_node *lv, tr_node *mu_p, tr_node *lv_p);
tr_node *TR(bernoulli_sample)(tr_tape *t, tr_node *logits, tr_node *eps);
/* The mixtures of ops.h (tape_seq.c): gmm_logp per row, with gradients to
 * w, mu and lv (x is data, row r / kx); gmm_sample and gmm_moment are
 * constants. */
tr_node *TR(gmm_logp)(tr_tape *t, tr_node *x, int64_t kx, tr_node *w, tr_node *mu, tr_node *lv);
tr_node *TR(gmm_sample)(tr_tape *t, tr_node *w, tr_node *mu, tr_node *lv, tr_node *eps);
tr_node *TR(gmm_moment)(tr_tape *t, tr_node *w, tr_node *mu, tr_node *lv, int which);
/* DRAW attention, the ops of ops.h, same arguments (tape_attn.c); g must
 * outlive the tape. attn_filterbank: p [rows, 5] -> [rows, N A + N B + 1];
 * attn_read: [rows(fb), N N] from x row r / kx, or [rows(fb), 2 N N] with
 * x2 (row r / kx2) after it (x2 NULL: none); attn_write: w [rows(fb), N N]
 * -> [rows(fb), B A]. */
tr_node *TR(attn_filterbank)(tr_tape *t, tr_node *p, const varia_attn *g);
tr_node *TR(attn_read)(tr_tape *t, tr_node *fb, const varia_attn *g, tr_node *x, int64_t kx, tr_node *x2, int64_t kx2);
tr_node *TR(attn_write)(tr_tape *t, tr_node *fb, const varia_attn *g, tr_node *w);
/* A network's input gradient as a forward graph (ops.h; tape_gp.c):
 * linear_t is g W for l's weight [out, in] (no bias; gradients to g and
 * l->gw); conv2d_t the adjoint of the conv of geometry c (its own, not
 * transposed) by l's weight, no bias; act_mask g * act'(a) read from y =
 * act(a), no gradient to y; norm_penalty (|g_r| - 1)^2 per row, [rows, 1].
 * c must outlive the tape. */
tr_node *TR(linear_t)(tr_tape *t, tr_node *g, const tr_lin *l);
tr_node *TR(conv2d_t)(tr_tape *t, tr_node *g, const tr_lin *l, const varia_conv *c);
tr_node *TR(act_mask)(tr_tape *t, tr_node *g, tr_node *y, varia_act act);
tr_node *TR(norm_penalty)(tr_tape *t, tr_node *g);
#ifdef TR_DOUBLE
/* The activation in double (tmatmul.c), for the double tape's forward. */
double trd_act_apply(varia_act a, double v);
#endif

/* The linear layer's three products (tmatmul.c): y = act(x W^T + b);
 * gw += dy^T x and gb += column sums of dy; dx += dy W. The gradient
 * products take scratch of the size the _scratch functions give. */
void TR(mm_forward)(const tr_lin *l, const tr_real *x, int64_t n, tr_real *y, varia_act act);
int64_t TR(mm_weight_scratch)(const tr_lin *l, int64_t n);
void TR(mm_weight_grad)(const tr_lin *l, const tr_real *dy, const tr_real *x, int64_t n, tr_real *scratch);
int64_t TR(mm_input_scratch)(const tr_lin *l, int64_t n);
void TR(mm_input_grad)(const tr_lin *l, const tr_real *dy, int64_t n, tr_real *dx, tr_real *scratch);

/* Seed out's gradient with seed[rows * cols] (added), then run every record
 * in reverse. Several outputs may be seeded before one call. */
void TR(seed)(tr_tape *t, tr_node *out, const tr_real *seed);
void TR(backward)(tr_tape *t);
/* TR(backward) for one of several sweeps over one recorded pass: a record
 * whose output gradient is zero in every element is skipped (its rule would
 * only add zeros, finite values times zero: the same result unless the pass
 * holds a non-finite value), and each record's output gradient is zeroed
 * once its rule has run (nothing reads it after that), so the tape is left
 * as it was before the seeds. Then the next sweep may seed other outputs,
 * into other gradient buffers of the params (param nodes keep theirs:
 * point their g elsewhere between sweeps), and costs only the records its
 * seeds reach: AIS takes d log p(z) and d log p(x|z) separately this way,
 * the prior's sweep skipping the decoder. */
void TR(backward_live)(tr_tape *t);

#endif

/* Internal: the op interface every family's passes are written against.
 *
 * A family writes each pass (encode, decode, generate, log-weight terms ...)
 * once, as calls through a varia_ops table on opaque value handles. Three
 * backends implement the table:
 *  - exec (ops_exec.c): runs each op at once with the fused kernels, values in
 *    the calling worker's workspace, nothing allocated;
 *  - measure (ops_exec.c): shapes only; running a pass with it sizes the
 *    workspace at load;
 *  - tape (ops_tape.c): runs the same kernels and records each op's backward
 *    rule, for training and gradient-based inference.
 *
 * A value is a matrix of rows x cols. Log-densities are per row (cols 1); exec
 * keeps them, and everything summed from them, in double. Parameters are slots
 * given by the family's declaration (family.h): a backend binds linear slots
 * to packed mapped weights (exec) or to theta and its gradient (tape).
 *
 * Sharing arguments (k, kz, kmu, kx): row r of the output reads row r / k of
 * the shared input, so one posterior serves k samples without a copy. */
#ifndef VARIA_OPS_H
#define VARIA_OPS_H

#include "attn.h"
#include "conv.h"
#include "kernels.h"

#include <stddef.h>
#include <stdint.h>

#define VARIA_COMBINE_MAX 16

typedef struct varia_v varia_v; /* a value; what it holds is the backend's */
typedef struct varia_ops varia_ops;

/* Where a recurrence's scope began (step_begin); what it counts is the backend's. */
typedef struct varia_mark {
    size_t vals, floats;
} varia_mark;

/* Most values one step_end may carry. */
#define VARIA_CARRY_MAX 16
/* Most T-long outputs one pass emits (emit's `which`), and the one a
 * recurrent pass's final state goes to (out[VARIA_EMIT_STATE], state_in). */
#define VARIA_EMIT_MAX 3
#define VARIA_EMIT_STATE 2

struct varia_ops {
    /* A constant rows x cols matrix read from data (row stride ld; data may be
     * NULL under measure). The data must outlive the pass. */
    varia_v *(*input)(varia_ops *o, int64_t rows, int64_t cols, const float *data, int64_t ld);
    /* The declared non-linear tensor of slot `tensor` (e.g. a learned variance). */
    varia_v *(*param)(varia_ops *o, int tensor);
    /* Columns [off, off + n) of x, without a copy where the backend can. */
    varia_v *(*cols)(varia_ops *o, varia_v *x, int64_t off, int64_t n);
    /* x's values, row after row, read as rows x cols (rows * cols must equal
     * x's count): [n, T * c] <-> [n * T, c], so one product serves the T
     * steps' rows at once. Without a copy where x's rows are contiguous. */
    varia_v *(*reshape)(varia_ops *o, varia_v *x, int64_t rows, int64_t cols);
    /* act(x W^T + b) for the declared linear layer `slot`. */
    varia_v *(*linear)(varia_ops *o, varia_v *x, int slot, varia_act act);
    /* x W[:, off:off+n]^T for columns [off, off + n) of linear slot `slot`'s
     * weight W [out, in] (x [rows, n]), plus the slot's bias when `bias` is
     * nonzero; no activation. One part of W [a, b]^T = W_a a + W_b b: a part
     * that k rows share (an example's features under its k particles) is
     * multiplied once, joined to the per-row part by add's broadcast (kb =
     * k), which applies the activation. Gradients reach x, that column range
     * of the weight, and the bias when it was added. */
    varia_v *(*linear_cols)(varia_ops *o, varia_v *x, int slot, int64_t off, int64_t n, int bias);
    /* c * x, elementwise. */
    varia_v *(*scale)(varia_ops *o, varia_v *x, float c);
    /* z = mu + temp * exp(lv / 2) * eps, rows(mu) * k rows; eps is a constant. */
    varia_v *(*reparam)(varia_ops *o, varia_v *mu, varia_v *lv, int64_t k, varia_v *eps, float temp);
    /* log q(z) of that z by its noise, per row: sum_d -eps^2/2 - lv/2 - log(2 pi)/2. */
    varia_v *(*logq_eps)(varia_ops *o, varia_v *lv, int64_t k, varia_v *eps);
    /* Per row r: sum_d log N(z_d; mu_d, exp lv_d) with z row r / kz, mu row
     * r / kmu; lv is [rows(mu), d], [1, d] or [1, 1] (broadcast). */
    varia_v *(*gauss_logp)(varia_ops *o, varia_v *z, int64_t kz, varia_v *mu, int64_t kmu, varia_v *lv);
    /* Per row: sum_d log N(z_d; 0, 1). */
    varia_v *(*std_normal_logp)(varia_ops *o, varia_v *z);
    /* Per row r: log Bernoulli(x row r / kx | logits), logits = h W^T + b of
     * linear `slot`, fused where the backend can (the logits never stored). */
    varia_v *(*linear_bernoulli)(varia_ops *o, varia_v *h, int slot, varia_v *x, int64_t kx);
    /* KL(N(mu, exp lv) || N(0, 1)) per row and dimension. */
    varia_v *(*gauss_kl)(varia_ops *o, varia_v *mu, varia_v *lv);
    /* Per row: the sum of the columns. */
    varia_v *(*row_sum)(varia_ops *o, varia_v *x);
    /* sum_j c[j] * a[j], all of one shape, summed in order j; n <= VARIA_COMBINE_MAX. */
    varia_v *(*combine)(varia_ops *o, varia_v *const *a, const double *c, int n);
    /* act(a + b[r / kb]) per row r (b of one row broadcasts); a and b floats. */
    varia_v *(*add)(varia_ops *o, varia_v *a, varia_v *b, int64_t kb, varia_act act);
    /* x W^T for W a value [out, in] (a param: a weight without a bias). */
    varia_v *(*matmul)(varia_ops *o, varia_v *x, varia_v *w);
    /* Per row r: sum_d x[r / kx]_d l_d - softplus(l_d) for logits l (a
     * value), the Bernoulli log-likelihood when the logits come from a conv. */
    varia_v *(*bernoulli_logp)(varia_ops *o, varia_v *logits, varia_v *x, int64_t kx);
    /* [a, b] side by side: rows(a) == rows(b), cols(a) + cols(b) columns (a
     * recurrent cell's input made of two parts; or two per-dimension
     * log-density terms, which exec keeps in double). */
    varia_v *(*concat)(varia_ops *o, varia_v *a, varia_v *b);
    /* act(x), elementwise (DRAW's sigmoid of the canvas). */
    varia_v *(*act)(varia_ops *o, varia_v *x, varia_act act);
    /* The rows of a value (a recurrence sizes its zero initial state by them). */
    int64_t (*rows_of)(varia_ops *o, varia_v *x);
    /* erf(x / sqrt 2) = 2 Phi(x) - 1, elementwise: standard normal noise to
     * U(-1, 1) (a GAN's uniform prior). */
    varia_v *(*normal_to_uniform)(varia_ops *o, varia_v *x);

    /* Convolutions over NCHW rows (conv.h, docs/format.md 2.4): x is
     * [batch, cin*h*w], the result [batch, cout*oh*ow]; bias and act fused.
     * conv2d: conv slot `slot` (weight [cout, cin, kh, kw], bias [cout]);
     * conv_transpose2d: its slot's weight is [cin, cout, kh, kw], bias [cout].
     * g must outlive the pass (the family's configuration holds it). */
    varia_v *(*conv2d)(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act);
    varia_v *(*conv_transpose2d)(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act);
    /* Batch norm with the batch's statistics (PyTorch's train mode) over
     * slot `slot`'s output x, by its declared batch norm's weight and bias,
     * then act. Only the tape has it (training); exec and measure leave it
     * NULL, having folded the batch norm's running statistics into the slot
     * at load: a network then runs the slot with act fused (net.c). */
    varia_v *(*batch_norm)(varia_ops *o, varia_v *x, int slot, varia_act act);

    /* Flow steps (docs/format.md 2.3). Their parameters have one row per
     * group of k rows of z, or a single row shared by all; each step comes as
     * f(z) and its per-row log|det df/dz| (a log-density: double in exec). */
    /* Planar's invertible u: u + (m(w.u) - w.u) w / |w|^2, m(a) = softplus(a) - 1. */
    varia_v *(*planar_uhat)(varia_ops *o, varia_v *u, varia_v *w);
    /* z + uhat tanh(w.z + b); b is [.., 1]. */
    varia_v *(*planar)(varia_ops *o, varia_v *z, varia_v *uhat, varia_v *w, varia_v *b, int64_t k);
    varia_v *(*planar_logdet)(varia_ops *o, varia_v *z, varia_v *uhat, varia_v *w, varia_v *b, int64_t k);
    /* z + beta (z - z0) / (alpha + |z - z0|), alpha = softplus(ahat),
     * beta = softplus(bhat) - alpha; ahat and bhat are [.., 1]. */
    varia_v *(*radial)(varia_ops *o, varia_v *z, varia_v *z0, varia_v *ahat, varia_v *bhat, int64_t k);
    varia_v *(*radial_logdet)(varia_ops *o, varia_v *z, varia_v *z0, varia_v *ahat, varia_v *bhat, int64_t k);
    /* IAF: sigmoid(s) z + (1 - sigmoid(s)) m, all of z's shape; its log|det|
     * is sum_i log sigmoid(s_i). */
    varia_v *(*iaf)(varia_ops *o, varia_v *z, varia_v *m, varia_v *s);
    varia_v *(*iaf_logdet)(varia_ops *o, varia_v *s);

    /* Recurrent cells (PyTorch's nn.LSTMCell and nn.GRUCell conventions).
     * The gate pre-activations come from linear slots (x W_ih^T + b_ih and
     * h W_hh^T + b_hh, gates stacked along the columns in PyTorch's order);
     * the cells apply the nonlinearities and the state update per row. */
    /* LSTM: gates [rows, 4H] = pre-activations i, f, g, o; c [rows, H].
     * Returns [rows, 2H]: h' in columns [0, H), c' in [H, 2H) (take them with
     * cols), c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c'). */
    varia_v *(*lstm_cell)(varia_ops *o, varia_v *gates, varia_v *c);
    /* GRU: gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, both [rows, 3H] in
     * the order r, z, n; h [rows, H]. Returns h' [rows, H]:
     * r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
     * n = tanh(gi_n + r gh_n), h' = (1 - z) n + z h. */
    varia_v *(*gru_cell)(varia_ops *o, varia_v *gi, varia_v *gh, varia_v *h);
    /* Step scoping for recurrences: a step's scratch need not outlive it.
     * mark = step_begin(o) once before the loop; at the end of every step,
     * step_end(o, mark, carry, n) keeps the n values carry[0..n) (n <=
     * VARIA_CARRY_MAX: the state, a canvas, a running sum) and releases
     * every other value made since the mark, the previous step's carried
     * values included. Exec moves the carried values down to the mark (as
     * contiguous copies) and updates the handles in carry[], so a T-step
     * pass needs the workspace of one step whatever T, and measure sizes it
     * so; the tape keeps every value (its backward pass needs them) and
     * leaves the handles alone. Handles made since the mark and not carried
     * are invalid after step_end; values made before the mark (h0, inputs,
     * parameters) are untouched. A fresh mark per step would keep every
     * step's state below it: the workspace would grow with T. Scopes nest
     * (an inner loop's mark is taken inside the outer step). */
    varia_mark (*step_begin)(varia_ops *o);
    void (*step_end)(varia_ops *o, varia_mark mark, varia_v **carry, int n);
    /* DRAW attention (docs/draw.md): images of g->w (A) x g->h (B) pixels,
     * each row of an image value its B rows of A pixels; an N x N glimpse,
     * N = g->n. g must outlive the pass (the family's configuration holds it).
     * Every row of the ops below is one particle: the filterbank, read and
     * write rows correspond. */
    /* The filterbank from p [rows, 5] = (g~_X, g~_Y, log sigma^2, log delta~,
     * log gamma): [rows, N A + N B + 1] = F_X (N x A, row-major), F_Y (N x B),
     * gamma. Each filter is normalised to sum 1 (guarded: 0 when the window
     * misses the image entirely). */
    varia_v *(*attn_filterbank)(varia_ops *o, varia_v *p, const varia_attn *g);
    /* The read: row r is gamma F_Y x F_X^T of row r / kx of x [.., B A],
     * [rows(fb), N N], glimpse row j from filter j of F_Y. With x2 (NULL: none)
     * [rows(fb), 2 N N]: x's glimpse, then x2's (row r / kx2), the paper's
     * read of x and x^. */
    varia_v *(*attn_read)(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *x, int64_t kx, varia_v *x2,
                          int64_t kx2);
    /* The write: row r is (1 / gamma) F_Y^T w F_X of w [rows(fb), N N],
     * [rows(fb), B A]. */
    varia_v *(*attn_write)(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *w);

    /* Sequences (families with VARIA_FAMILY_SEQ_LEN; docs/families.md 6). */
    /* Per-row terms x [rows, cols] with row r kept where step t is inside
     * its example, t < lengths[r / k], and 0 past it (a selection, not a
     * product: padding's values never reach the result). lengths NULL: x. */
    varia_v *(*row_mask)(varia_ops *o, varia_v *x, const int64_t *lengths, int64_t k, int64_t t);
    /* A T-long output written as it is made, one step at a time: row r of v
     * goes to out[which] + r * out_ld[which] + col (double values rounded
     * to float). So a pass's workspace stays one step's whatever T. exec
     * and the tape copy when out[which] is set; measure does nothing. */
    void (*emit)(varia_ops *o, int which, varia_v *v, int64_t col);
    /* 2 log(softplus(a) + floor), elementwise: the log-variance of a
     * standard deviation made positive by a softplus and kept off 0. */
    varia_v *(*softplus_logvar)(varia_ops *o, varia_v *a, float floor);
    /* KL(N(mu, exp lv) || N(mu_p, exp lv_p)) per row and dimension, all four
     * of one shape: (lv_p - lv + (exp lv + (mu - mu_p)^2) / exp lv_p - 1) / 2. */
    varia_v *(*gauss_kl_to)(varia_ops *o, varia_v *mu, varia_v *lv, varia_v *mu_p, varia_v *lv_p);
    /* A Bernoulli draw per element from logits l and standard normal noise
     * e of l's shape: 1 where Phi(e) < sigmoid(l), else 0 (a constant: no
     * gradient flows through a draw). */
    varia_v *(*bernoulli_sample)(varia_ops *o, varia_v *logits, varia_v *eps);
    /* Mixtures of K diagonal Gaussians over d values, one per row: weights'
     * logits w [rows, K], means mu and log-variances lv [rows, K d]
     * (component j in columns j d ...). gmm_logp: per row r, log sum_j
     * softmax(w_r)_j N(x[r / kx]; mu_rj, exp lv_rj) (a log-density: double
     * in exec). gmm_sample: a draw per row from eps [rows, 1 + d], the
     * component j whose interval of the cumulative softmax(w_r) holds
     * Phi(eps_r0), then mu_rj + exp(lv_rj / 2) eps_r[1..d]. gmm_moment: the
     * mixture's mean (which 0) or the log of its variance per value (which
     * 1), sum_j pi_j (exp lv_j + mu_j^2) - mean^2. Draws and moments are
     * constants (no gradient flows through them). */
    varia_v *(*gmm_logp)(varia_ops *o, varia_v *x, int64_t kx, varia_v *w, varia_v *mu, varia_v *lv);
    varia_v *(*gmm_sample)(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, varia_v *eps);
    varia_v *(*gmm_moment)(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, int which);

    /* A network's input gradient built as a forward graph (WGAN-GP's penalty,
     * docs/training.md): backwards through a critic, each layer's output
     * gradient times its activation's derivative, then times its weight
     * untransposed. The parameter gradient of anything computed from the
     * result is then the ordinary backward of these ops (a double backward
     * without one). */
    /* g W for linear slot `slot` (W [out, in]; g [rows, out], the result
     * [rows, in]): the slot's weight used transposed, no bias. The gradient
     * reaches g and the slot's weight (its bias gets none). */
    varia_v *(*linear_t)(varia_ops *o, varia_v *g, int slot);
    /* The adjoint of conv slot `slot` of geometry c (c is the conv's own,
     * c->transposed 0): g [rows, cout*oh*ow] to [rows, cin*h*w], the
     * transposed convolution by the same weight read as [cin' = cout, cout' =
     * cin, kh, kw], output padding to the conv's input size, no bias.
     * Gradients reach g and the weight. c must outlive the pass. */
    varia_v *(*conv2d_t)(varia_ops *o, varia_v *g, int slot, const varia_conv *c);
    /* g * act'(a) elementwise, with act'(a) read from the layer's output y =
     * act(a) (one shape with g), for the piecewise-linear activations
     * (identity, relu, leaky relu of slope >= 0) whose derivative the output
     * determines. The derivative is a constant: no gradient reaches y (act''
     * = 0 almost everywhere). */
    varia_v *(*act_mask)(varia_ops *o, varia_v *g, varia_v *y, varia_act act);
    /* Per row: (|g_r|_2 - 1)^2, [rows, 1] (a per-row term: double in exec).
     * Its gradient 2 (|g| - 1) g / |g| is taken as 0 at g = 0. */
    varia_v *(*norm_penalty)(varia_ops *o, varia_v *g);

    /* Per-call data the runner sets before a pass (the exec runner in
     * passes.c, the trainer's objective for the tape); zero for the
     * families without sequences, which never read them. */
    int64_t seq_len;         /* T: frames per example in x, latents per example, steps to run */
    const int64_t *lengths;  /* [examples of the pass]: each one's steps (1..seq_len; 0 for one that ended
                                before a window of truncated BPTT: nothing counted); NULL: all seq_len */
    float *out[VARIA_EMIT_MAX]; /* emit's destinations (NULL: the output is not wanted) */
    int64_t out_ld[VARIA_EMIT_MAX];
    /* A recurrent pass continued from an earlier one (truncated BPTT,
     * docs/families.md 6): the state to start from, one row per row of the
     * pass (examples times particles), state_in_ld floats apart, laid out as
     * the family's state_size says. Read as a constant: no gradient flows
     * back through it, which is what truncates the backpropagation. NULL:
     * the family's own initial state (zeros). The pass emits its state after
     * its last step to out[VARIA_EMIT_STATE] (when that is set). */
    const float *state_in;
    int64_t state_in_ld;
};

#endif

/* Internal: the table every model family plugs into.
 *
 * A family parses its "architecture" into a private configuration, declares
 * every tensor once (name, shape, initialisation rule, parameter group) and
 * writes its passes once over the op interface (ops.h). The runtime binds the
 * declaration to the mapped weights and runs the passes on the exec backend
 * (passes.c); the training module builds theta from the same declaration and
 * runs the same passes on the tape. docs/families.md walks through adding one. */
#ifndef VARIA_FAMILY_H
#define VARIA_FAMILY_H

#include "ctx.h"
#include "kernels.h"
#include "ops.h"
#include "weights.h"

#include <cjson/cJSON.h>

/* ---- the declaration ---- */

/* How the trainer initialises a tensor. */
typedef enum varia_init {
    VARIA_INIT_ZERO,        /* zeros */
    VARIA_INIT_FAN,         /* a weight [out, in]: uniform, Glorot or He limits */
    VARIA_INIT_DATA_MEAN,   /* the output bias: the data's mean (its logit for Bernoulli) */
    VARIA_INIT_DATA_LOGVAR, /* a learned observation log-variance: log of the data's variance */
    VARIA_INIT_CONST,       /* every entry init_value */
    VARIA_INIT_UNIFORM      /* uniform in [-init_value, init_value] (breaks a symmetry zeros would keep) */
} varia_init;

/* Which part of the model a tensor belongs to (optimizers may treat them apart). */
typedef enum varia_group { VARIA_GROUP_INFERENCE, VARIA_GROUP_GENERATIVE } varia_group;

#define VARIA_DECL_NAME 64

typedef struct varia_decl_tensor {
    char name[VARIA_DECL_NAME];
    int rank;          /* 1, 2 or 4 (a conv weight) */
    int64_t shape[4];  /* shape[r] unused for r >= rank */
    int64_t alt;       /* rank 1: a second length a file may give (0: none) */
    varia_init init;
    float init_value; /* VARIA_INIT_CONST, VARIA_INIT_UNIFORM */
    varia_group group;
} varia_decl_tensor;

/* What a linear slot's product serves. */
enum { VARIA_SLOT_DENSE, VARIA_SLOT_CONV, VARIA_SLOT_CONV_T };

/* A linear layer: tensors weight [out, in] and bias [out]. A conv slot is
 * the same product over im2col rows: weight [cout, cin, kh, kw] read as
 * [out = cout, in = cin*kh*kw], bias [cout]. A transposed-conv slot keeps
 * its weight [cin, cout, kh, kw] as stored, read as [out = cin, in =
 * cout*kh*kw] (so the trainer packs, initialises and differentiates it like
 * any linear layer), and its bias is [channels = cout], not [out]. */
typedef struct varia_decl_linear {
    int64_t in, out;
    int weight, bias; /* indices into the tensors */
    int data_input;   /* its input is data: no gradient ever flows to it */
    float *mask;      /* [out * in] of 0 and 1 (an autoregressive weight), or NULL; the decl's */
    int kind;         /* VARIA_SLOT_* */
    int64_t channels; /* the output channels the bias and a batch norm run over */
    int64_t row_floats; /* conv kinds: floats a forward keeps per example (output, im2col rows); 0: out */
    int64_t window;     /* conv kinds: kh * kw, which the fan-out counts (PyTorch's rule); 0: dense */
    int has_bn;       /* a batch norm follows: folded into weight and bias at load (running statistics),
                         run with the batch's statistics in training */
    int bn[4];        /* its tensors: weight, bias, running_mean, running_var */
    float bn_eps;
} varia_decl_linear;

/* Every tensor of a model, in the order the format and the trainer lay them
 * out; linear layers are the op interface's linear slots, tensors its param
 * slots. Arrays grow on demand; `failed` says why a declaration stopped. */
enum { VARIA_DECL_NO_MEMORY = 1, VARIA_DECL_NAME_TOO_LONG = 2 };
typedef struct varia_decl {
    varia_decl_tensor *t;
    int n_t, cap_t;
    varia_decl_linear *lin;
    int n_lin, cap_lin;
    int failed;
} varia_decl;

/* Add a tensor; returns its index (-1 and decl->failed when out of memory or
 * the name has VARIA_DECL_NAME characters or more). */
int varia_decl_add(varia_decl *d, const char *name, int rank, int64_t d0, int64_t d1, varia_init init,
                      varia_group group);
/* Add `prefix`.weight [out, in] (FAN) and `prefix`.bias [out] (ZERO) as one
 * linear slot; returns the slot (-1 and decl->failed when out of memory). */
int varia_decl_linear_add(varia_decl *d, const char *prefix, int64_t in, int64_t out, varia_group group,
                          int data_input);
/* Add a linear slot whose tensors are called exactly `weight` [out, in] and
 * `bias` [out], for names that are not prefix.weight / prefix.bias
 * (PyTorch's recurrent cells: "rnn.weight_ih" and "rnn.bias_ih", and the
 * _hh pair as a second slot). limit > 0 initialises both uniform in
 * [-limit, limit] (PyTorch's 1 / sqrt(H) for every tensor of its RNN cells);
 * limit 0 gives FAN and ZERO as varia_decl_linear_add. Returns the slot (-1
 * and decl->failed when out of memory or a name is too long). */
int varia_decl_linear_named(varia_decl *d, const char *weight, const char *bias, int64_t in, int64_t out,
                            float limit, varia_group group, int data_input);
/* Add a conv (g->transposed 0) or transposed-conv slot for geometry g:
 * `prefix`.weight [cout, cin, kh, kw] or [cin, cout, kh, kw] (FAN) and
 * `prefix`.bias [cout] (ZERO). Returns the slot (-1 and decl->failed). */
int varia_decl_conv_add(varia_decl *d, const char *prefix, const varia_conv *g, varia_group group, int data_input);
/* Fold a batch norm over `slot`'s output channels into it at load: declares
 * `prefix`.weight, .bias, .running_mean, .running_var, each [channels].
 * Returns 0 when the declaration failed. */
int varia_decl_bn_add(varia_decl *d, int slot, const char *prefix, float eps, varia_group group);
/* The channels of the batch norms over slots before `slot` (slot n_lin: all
 * of them): where slot's batch statistics begin in a per-channel array. */
int64_t varia_decl_bn_channels(const varia_decl *d, int slot);
/* Elements of declared tensor t. */
int64_t varia_decl_numel(const varia_decl_tensor *t);
/* Give linear `slot` a weight mask: returns its [out * in] floats, all 1, for
 * the family to zero (NULL and decl->failed when out of memory). The runtime
 * multiplies the weight by it at load; the trainer keeps masked entries 0. */
float *varia_decl_linear_mask(varia_decl *d, int slot);
/* The failure a failed declaration reports: VARIA_ERR_NOMEM, or
 * VARIA_ERR_INTERNAL for a name too long. */
varia_status varia_decl_fail(varia_ctx *ctx, const varia_decl *d);
/* Total parameters; frees the arrays. */
int64_t varia_decl_params(const varia_decl *d);
void varia_decl_free(varia_decl *d);

/* ---- the family table ---- */

/* Per sample row (rows(x) * k of them, sample j of example b at b * k + j):
 * log p(x|z), log p(z), log q(z|x); kl_dims the analytic KL per dimension
 * where one exists (else NULL): [rows(x), latent] for a posterior the k
 * samples share (the VAE's first layer), or [rows(x) * k, latent] when each
 * sample has its own (DRAW's steps along each particle's trajectory; the
 * estimators then take the mean over the samples). */
typedef struct varia_terms {
    varia_v *log_px, *log_pz, *log_qz, *kl_dims;
    varia_v *log_det; /* a flow posterior's sum of log|det| per sample (NULL: none) */
} varia_terms;

/* Per-call information a family's calls need (varia_family.needs). */
#define VARIA_FAMILY_SEQ_LEN 1u /* varia_opts.seq_len (and lengths) */
#define VARIA_FAMILY_LABELS 2u  /* varia_opts.labels */

typedef struct varia_family {
    const char *name;
    unsigned needs; /* VARIA_FAMILY_* bits: the old calls, which cannot carry them, are refused */
    /* Parse `arch` for data of `shape`; declare every tensor into decl; fill
     * the family's part of info (latent sizes, likelihood, has_encoder).
     * *cfg is owned by the caller (free with free_cfg), also on failure. */
    varia_status (*parse)(varia_ctx *ctx, const cJSON *arch, const varia_shape *shape, void **cfg,
                          varia_decl *decl, varia_info *info);
    void (*free_cfg)(void *cfg);
    /* Standard normals one sample (posterior or generated) consumes. */
    int64_t (*noise_size)(const void *cfg);
    /* Passes; NULL when the family cannot (the API reports VARIA_ERR_UNSUPPORTED). */
    /* The top layer's posterior for rows of x (lower layers at their means). */
    void (*encode)(const void *cfg, varia_ops *o, varia_v *x, varia_v **mean, varia_v **logvar);
    /* Every layer's posterior mean: means[l], bottom first. */
    void (*layer_means)(const void *cfg, varia_ops *o, varia_v *x, varia_v **means);
    /* z ~ q(z|x) by eps [rows(x), noise_size]: the top latent and its log q. */
    void (*posterior_sample)(const void *cfg, varia_ops *o, varia_v *x, varia_v *eps, varia_v **z, varia_v **logq);
    /* From top latents; lower layers at their conditional means. *out: E[x|z]
     * (MEAN) or the likelihood's parameters (PARAMS), *out_logvar the Gaussian
     * log-variance per element for PARAMS (NULL otherwise). */
    void (*decode)(const void *cfg, varia_ops *o, varia_v *z, varia_decode_kind kind, varia_v **out,
                   varia_v **out_logvar);
    /* Ancestral samples from eps [n, noise_size] scaled by temp: E[x|z] and the top z. */
    void (*generate)(const void *cfg, varia_ops *o, varia_v *eps, float temp, varia_v **x, varia_v **z);
    /* The log-weight terms of k samples per row of x, noise eps [rows * k, noise_size]. */
    void (*terms)(const void *cfg, varia_ops *o, varia_v *x, int64_t k, varia_v *eps, varia_terms *t);
    /* A model drawn over steps (DRAW): E[x|z] after every step from latents z,
     * [rows(z), T * D], step t's image in columns t * D ... */
    void (*decode_steps)(const void *cfg, varia_ops *o, varia_v *z, varia_v **canvases);
    /* The joint density without q, the target of AIS and of any other
     * gradient-based inference: per row r of the full latents z [rows,
     * noise_size] (every stochastic layer, laid out as a sample's noise),
     * *log_pz = log p(z) and *log_px = log p(x[r / kx] | z). obs_logvar NULL:
     * the model's own likelihood; a [1, 1] value log s2: the Gaussian
     * observation model N(x; E[x|z], s2 I) instead (a decoder-only model has
     * no likelihood of its own). Differentiable in z on the tape. */
    void (*joint)(const void *cfg, varia_ops *o, varia_v *x, int64_t kx, varia_v *z, varia_v *obs_logvar,
                  varia_v **log_pz, varia_v **log_px);
    /* Full latents z ~ p(z) from eps [n, noise_size], as generate draws them
     * at temperature 1: every stochastic layer's in z[l], bottom first (the
     * layout of the joint pass's z, one layer after another). */
    void (*prior_latents)(const void *cfg, varia_ops *o, varia_v *eps, varia_v **z);
    /* NULL when encode's mean and log-variance are the whole posterior
     * q(z|x) over the full latents, one diagonal Gaussian (AIS+encoder starts
     * from it); else why not, for a message ("a flow posterior"). A family
     * without this entry has no such encoder. */
    const char *(*encode_not_q)(const void *cfg);
    /* The variance of the model's own Gaussian likelihood when it is one
     * fixed number (BDMC simulates from it); NULL or 0: there is none (not
     * Gaussian, or learned, or per element from a decoder head). */
    double (*fixed_var)(const void *cfg);
    /* The observation variance s2 the manifest gives the joint pass's Gaussian
     * observation model, used when the caller gives none (NULL, or 0: none). */
    double (*obs_var)(const void *cfg);
    /* A discriminator's logit per row of x ([rows, 1]), for adversarial
     * training: the gan family when its file has one (has_critic). */
    void (*critic)(const void *cfg, varia_ops *o, varia_v *x, varia_v **logit);
    int (*has_critic)(const void *cfg);
    /* The critic's logit on x and the gradient of sum(dy * logit) with
     * respect to x ([rows, data size]), built as a forward graph
     * (varia_net_input_grad), for WGAN-GP's penalty. critic_grad_check says
     * first whether the critic admits it (VARIA_ERR_UNSUPPORTED naming the
     * layer otherwise). */
    void (*critic_grad)(const void *cfg, varia_ops *o, varia_v *x, varia_v *dy, varia_v **logit, varia_v **gx);
    varia_status (*critic_grad_check)(const void *cfg, varia_ctx *ctx);
    /* Floats of recurrent state per row of a pass (a GRU's h; an LSTM's h
     * then c), which ops.state_in starts a pass from and
     * ops.out[VARIA_EMIT_STATE] receives after its last step; NULL: the
     * family carries no state from one call to the next. */
    int64_t (*state_size)(const void *cfg);
} varia_family;

extern const varia_family varia_family_vae;
extern const varia_family varia_family_gan;
extern const varia_family varia_family_draw;
extern const varia_family varia_family_vrnn;

/* The family called `name` (aliases included), or NULL. */
const varia_family *varia_family_find(const char *name);

struct varia_model {
    const varia_family *family;
    void *cfg;
    varia_decl decl;
    varia_linear *lin;        /* [decl.n_lin], packed */
    /* [decl.n_lin] each, NULL where the mapped tensors serve as they are: a
     * slot's weight as the kernel packs it (masked, batch norm folded in, or
     * a transposed conv's weight transposed) and its bias (folded, or the
     * zeros a transposed conv's product adds: its own bias is per channel). */
    float **owned, **owned_bias;
    float **chan_bias;        /* [decl.n_lin]: a transposed conv's bias [cout] (folded if batch norm) */
    const varia_tensor **tensor; /* [decl.n_t], bound to the mapping */
    size_t ws_floats, ws_vals; /* measured at load for VARIA_WS_ROWS rows */
    varia_info info;
    char family_name[16];
    varia_weights w;
    char *provenance;
};

/* Rows one workspace serves (the IW chunk and the operation batch are <= this),
 * and the most floats a model may ask for them: 1 GiB. */
#define VARIA_WS_ROWS 256
#define VARIA_WS_CAP_FLOATS ((size_t)1 << 28)

/* Parse the architecture with m->family, bind every declared tensor against
 * the opened weights (shapes checked, marked used) and pack the linear layers;
 * then size the workspace by measuring every pass. */
varia_status varia_model_build(varia_ctx *ctx, varia_model *m, const cJSON *arch);
void varia_model_release(varia_model *m);

/* ---- helpers for parse() ---- */

/* Integer member `key` of obj in [lo, hi]. Absent: *out = dflt if !required. */
varia_status varia_json_int(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                            int required, int64_t dflt, int64_t lo, int64_t hi, int64_t *out);
/* Array of integers in [lo, hi] (at most cap of them). */
varia_status varia_json_int_array(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                                  int64_t lo, int64_t hi, int cap, int64_t *out, int *count);
/* Activation name under `key` (absent: *out = dflt), with its parameters from arch. */
varia_status varia_json_act(varia_ctx *ctx, const cJSON *obj, const cJSON *arch, const char *where,
                            varia_act dflt, varia_act *out);
/* Warn about members of obj not in the NULL-terminated list `known`. */
void varia_json_warn_unknown(varia_ctx *ctx, const cJSON *obj, const char *where, const char *const *known);

#endif

/*
 * varia: a small C runtime for deep generative models.
 *
 * One header for the whole public API. Conventions:
 *  - Every call returns a varia_status; VARIA_OK (0) is success. On failure the
 *    context's message (varia_ctx_message) names the culprit: the tensor, the
 *    manifest key, the byte offset, or the operation the family lacks.
 *  - A loaded varia_model is immutable after varia_model_load and may be shared by
 *    any number of threads. All mutable state (workspace, error message, warnings)
 *    lives in a varia_ctx: use one context per thread.
 *  - Arrays are row-major float32. An "example" is data_size() floats (an image is
 *    C*H*W, channel-major); a "latent" is latent_size() floats.
 *  - The library never prints, aborts or exits.
 */
#ifndef VARIA_H
#define VARIA_H

#include <stddef.h>
#include <stdint.h>

/* VARIA_API marks the library's public functions: the shared library is built
 * with hidden visibility, so only these are exported (tests/test_symbols.sh
 * checks the list against this header). Define it before including to
 * override (e.g. empty). */
#ifndef VARIA_API
#if defined(__GNUC__) || defined(__clang__)
#define VARIA_API __attribute__((visibility("default")))
#else
#define VARIA_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define VARIA_VERSION_MAJOR 0
#define VARIA_VERSION_MINOR 1

/* Status codes. The numeric values are stable and are also the CLI's exit codes. */
typedef enum varia_status {
    VARIA_OK = 0,
    VARIA_ERR_ARG = 2,          /* invalid argument (null pointer, k = 0, n < 0 ...) */
    VARIA_ERR_IO = 3,           /* a file could not be opened, read, mapped or written */
    VARIA_ERR_NOMEM = 4,        /* an allocation failed */
    VARIA_ERR_JSON = 5,         /* a manifest or header is not valid JSON */
    VARIA_ERR_MANIFEST = 6,     /* a required key is missing or has the wrong type/value */
    VARIA_ERR_VERSION = 7,      /* unknown format name or unsupported major version */
    VARIA_ERR_HEADER = 8,       /* safetensors header length absurd or past the file */
    VARIA_ERR_TRUNCATED = 9,    /* file shorter than its header says */
    VARIA_ERR_TRAILING = 10,    /* file longer than its tensors (bytes nobody owns) */
    VARIA_ERR_OFFSET = 11,      /* tensor offsets out of range, reversed, or overflowing */
    VARIA_ERR_OVERLAP = 12,     /* two tensors share bytes */
    VARIA_ERR_HOLE = 13,        /* a gap between tensors */
    VARIA_ERR_DTYPE = 14,       /* unknown dtype, or byte size that contradicts it */
    VARIA_ERR_SHAPE = 15,       /* a tensor's shape contradicts the architecture */
    VARIA_ERR_MISSING = 16,     /* a tensor the architecture needs is absent */
    VARIA_ERR_UNEXPECTED = 17,  /* a tensor the architecture does not use is present */
    VARIA_ERR_DUPLICATE = 18,   /* the same tensor or key is listed twice */
    VARIA_ERR_NONFINITE = 19,   /* NaN or Inf in weights or input data */
    VARIA_ERR_TOO_LARGE = 20,   /* a size exceeds a safety cap (checked before allocating) */
    VARIA_ERR_UNSUPPORTED = 21, /* the family cannot do this operation */
    VARIA_ERR_PNG = 22,         /* malformed or unsupported PNG */
    VARIA_ERR_DATASET = 23,     /* malformed dataset file (bad magic, lying sizes ...) */
    VARIA_ERR_INTERNAL = 24     /* a bug: please report it */
} varia_status;

/* A short stable name for a status, e.g. "VARIA_ERR_SHAPE". Never NULL. */
VARIA_API const char *varia_status_name(varia_status s);

/* ---- Context: per-thread mutable state ------------------------------------ */

typedef struct varia_ctx varia_ctx;

/* Create a context. Returns NULL only when memory is exhausted. */
VARIA_API varia_ctx *varia_ctx_new(void);
VARIA_API void varia_ctx_free(varia_ctx *ctx);
/* Message of the last failing call on this context ("" if none). Valid until the
 * next call that uses the context. */
VARIA_API const char *varia_ctx_message(const varia_ctx *ctx);
/* Warnings from the last varia_model_load (e.g. unknown optional manifest keys),
 * one per line, "" if none. */
VARIA_API const char *varia_ctx_warnings(const varia_ctx *ctx);
/* Worker threads for this context's calls: varia_eval splits examples and
 * their importance samples across them; sample/encode/decode split calls of
 * more than 256 rows by rows, and smaller calls (one latent, say) by each
 * layer's output columns (1 = the calling thread only; 0 = all cores, the
 * default). The threads persist until varia_ctx_free and, between calls, poll
 * for about 100 us before they sleep, so back-to-back small calls do not pay
 * for waking them. Results never depend on this setting. A build without
 * threads (meson -Dthreads=false: the WebAssembly build) runs every call on
 * the calling thread and refuses threads > 1 with VARIA_ERR_UNSUPPORTED (0
 * and 1 are accepted), rather than silently giving less than was asked. */
VARIA_API varia_status varia_ctx_set_threads(varia_ctx *ctx, int threads);

/* ---- Model --------------------------------------------------------------- */

typedef struct varia_model varia_model;

#define VARIA_MAX_RANK 4
#define VARIA_MAX_LAYERS 8              /* stochastic layers a model may have */
typedef struct varia_shape {
    int rank;                       /* 1 = vector, 3 = image C x H x W */
    int64_t dims[VARIA_MAX_RANK];
} varia_shape;

typedef enum varia_likelihood {
    VARIA_LIK_NONE = 0,      /* no observation model (a decoder-only model such as a GAN) */
    VARIA_LIK_BERNOULLI = 1, /* decoder emits logits */
    VARIA_LIK_GAUSSIAN = 2   /* decoder emits mean (and log-variance) */
} varia_likelihood;

typedef struct varia_info {
    const char *family;        /* "vae" (also for IWAE-trained models), ... */
    varia_shape data_shape;    /* shape of one example */
    int64_t data_size;         /* product of data_shape */
    int64_t latent_size;       /* size of the latent used by sample/decode/interpolate */
    varia_shape latent_shape;  /* its shape: [L] for VAE/IWAE; [T, L] for per-step latents */
    int n_stochastic;          /* stochastic layers (1 or 2 for VAE/IWAE) */
    int64_t layer_sizes[VARIA_MAX_LAYERS];    /* latent size of each stochastic layer, bottom first */
    varia_likelihood likelihood;
    int has_encoder;           /* 0: encode/eval return VARIA_ERR_UNSUPPORTED */
    int64_t n_tensors;
    int64_t n_params;
    /* The posterior's normalizing flow (docs/format.md 2.3): "none", "planar",
     * "radial" or "iaf"; its steps; 1 when the encoder emits its parameters. */
    char flow[8];
    int flow_steps;
    int flow_amortized;
    /* The manifest's observation variance sigma2 (a GAN's "observation", what
     * AIS and encode-by-inversion use when not given one), 0 when it has none. */
    double obs_var;
} varia_info;

/* Load a model from its JSON manifest. The weights file named by the manifest is
 * resolved relative to the manifest's directory and must stay inside it (see
 * varia_model_load_ex to allow otherwise). The manifest and a safetensors
 * header are strict JSON: a key twice in one object is VARIA_ERR_DUPLICATE;
 * \u0000 in a string, a number with a leading zero, or control bytes (a NUL
 * pad after a header included) are VARIA_ERR_JSON. Validation is total:
 * every failure has its own status and a message naming the culprit. */
VARIA_API varia_status varia_model_load(varia_ctx *ctx, const char *manifest_path,
                                        varia_model **out);
VARIA_API void varia_model_free(varia_model *model);
/* Fill *info. Pointers inside stay valid while the model lives. */
VARIA_API varia_status varia_model_info(const varia_model *model, varia_info *info);
/* The manifest's "provenance" object as JSON text, or NULL if absent. */
VARIA_API const char *varia_model_provenance(const varia_model *model);

/* Let the manifest name a weights file outside its folder (an absolute path,
 * or one with a ".." component). Off by default: a manifest from elsewhere
 * must not make the loader open any file the caller can read. Symbolic links
 * inside the folder are followed either way. */
#define VARIA_LOAD_ALLOW_OUTSIDE 1u

/* varia_model_load with options. ctx: the calling thread's context (receives
 * the message and warnings). manifest_path: the manifest to read; its folder
 * is where the weights file must be unless flags allow otherwise. flags: 0, or
 * VARIA_LOAD_ALLOW_OUTSIDE; any other bit is VARIA_ERR_ARG. out: receives the
 * model on success (free it with varia_model_free), NULL on failure. A weights
 * file name leaving the folder without the flag is VARIA_ERR_MANIFEST.
 * varia_model_load(ctx, path, out) is varia_model_load_ex(ctx, path, 0, out). */
VARIA_API varia_status varia_model_load_ex(varia_ctx *ctx, const char *manifest_path, uint32_t flags,
                                           varia_model **out);

/* Load a model from bytes instead of files (a browser, a bundle, a network
 * buffer): no file is opened. ctx: the calling thread's context (message and
 * warnings). manifest[manifest_len]: the manifest's JSON text (no NUL
 * needed; NULL only when manifest_len is 0). weights[weights_len]: the bytes
 * of the file the manifest's "weights.file" names, safetensors or raw as its
 * "weights.format" says (NULL only when weights_len is 0). Both buffers are
 * copied (the weights once, 64-byte aligned): the caller keeps ownership and
 * may free them as soon as the call returns. flags: as varia_model_load_ex;
 * "weights.file" is only a name here, but it must still stay inside the
 * manifest's folder unless VARIA_LOAD_ALLOW_OUTSIDE, so that both loaders
 * accept the same manifests. out: the model (varia_model_free), NULL on
 * failure. Validation is varia_model_load_ex's, by the same code, with the
 * same statuses: a truncated or lying buffer fails as the same file would;
 * messages name the manifest "<memory>" and the weights by their "file".
 * A manifest over 4 MiB is VARIA_ERR_TOO_LARGE, a NULL buffer with a
 * nonzero length VARIA_ERR_ARG. */
VARIA_API varia_status varia_model_load_memory(varia_ctx *ctx, const void *manifest, size_t manifest_len,
                                               const void *weights, size_t weights_len, uint32_t flags,
                                               varia_model **out);

/* ---- Operations ---------------------------------------------------------- */

/* Posterior of the top stochastic layer for n examples: mean[n*L], logvar[n*L]
 * (L = latent_size). For a two-layer model the lower layers are passed through
 * their posterior means. With a flow posterior these are q_0's parameters
 * (before the flow). Either output may be NULL. */
VARIA_API varia_status varia_encode(varia_ctx *ctx, const varia_model *m, const float *x,
                                    int64_t n, float *mean, float *logvar);

/* One posterior sample per example, z[n*L] ~ q(z | x), by the family's own
 * posterior sampling (for a VAE: z = mean + sigma * eps, every stochastic
 * layer drawn, z the top one, pushed through the flow if the model has one:
 * z_K), eps from a stream keyed by (seed, i). Flows are only run forward;
 * nothing in the API inverts them. */
VARIA_API varia_status varia_encode_sample(varia_ctx *ctx, const varia_model *m, const float *x,
                                           int64_t n, uint64_t seed, float *z);

/* What varia_decode writes per example (data_size floats each). */
typedef enum varia_decode_kind {
    VARIA_DECODE_MEAN = 0,   /* E[x|z]: sigmoid(logits) or the Gaussian mean */
    VARIA_DECODE_PARAMS = 1  /* logits (Bernoulli) or the Gaussian mean; see below */
} varia_decode_kind;

/* Decode n top-layer latents. Lower stochastic layers take their conditional
 * means. out[n*data_size]. For Gaussian likelihoods and VARIA_DECODE_PARAMS,
 * out_logvar[n*data_size] receives the log-variance (may be NULL); otherwise
 * out_logvar is not touched. */
VARIA_API varia_status varia_decode(varia_ctx *ctx, const varia_model *m, const float *z,
                                    int64_t n, varia_decode_kind kind, float *out,
                                    float *out_logvar);

/* Draw n examples' means E[x|z] with z from the prior, each layer's noise scaled
 * by temperature (1 = the model; 0 = prior means). z_out[n*L] may be NULL.
 * Sample i depends only on (seed, i). */
VARIA_API varia_status varia_sample(varia_ctx *ctx, const varia_model *m, int64_t n,
                                    uint64_t seed, float temperature, float *x_out,
                                    float *z_out);

/* Reconstruct: encode to the posterior mean, decode to E[x|z]; x_out[n*D].
 * Bit-identical to varia_encode then varia_decode(VARIA_DECODE_MEAN), but needs
 * no buffer for the latents; for a flow posterior, the latent decoded is q_0's
 * mean pushed through the flow (varia_encode_sample's with zero noise), since
 * q_0's own mean (what varia_encode returns) is not where the posterior is.
 * VARIA_ERR_NONFINITE names the first example whose posterior mean overflows. */
VARIA_API varia_status varia_reconstruct(varia_ctx *ctx, const varia_model *m,
                                         const float *x, int64_t n, float *x_out);

typedef enum varia_interp { VARIA_LERP = 0, VARIA_SLERP = 1 } varia_interp;

/* steps latents from za to zb inclusive (steps >= 2): out[steps*L]. Slerp
 * interpolates the angle and the norm; it falls back to lerp when the two
 * latents are (anti)parallel or either is zero. VARIA_ERR_NONFINITE when an
 * input is NaN or infinite, or when a step has an element beyond float range
 * (slerp of huge latents can exceed both endpoints); out is then unspecified. */
VARIA_API varia_status varia_interpolate_latents(const float *za, const float *zb,
                                                 int64_t L, int64_t steps,
                                                 varia_interp how, float *out);

/* ---- Per-call options (the _ex operations) ---------------------------------- */

/* Options of one call. Set size = sizeof(varia_opts) and zero what you do not
 * use: a zero field means its default. The size is the struct's version: a
 * caller built against an older, shorter varia_opts keeps working, and fields
 * this library does not know must be zero (else VARIA_ERR_UNSUPPORTED). An
 * option the model does not take is refused with VARIA_ERR_ARG naming it. */
typedef struct varia_opts {
    uint32_t size;           /* sizeof(varia_opts) */
    uint32_t flags;          /* VARIA_OPT_* bits */
    uint64_t seed;           /* randomness of sample / encode_sample / reconstruct */
    float temperature;       /* noise scale in [0, 100], read when flags has VARIA_OPT_TEMPERATURE (else 1) */
    uint32_t reserved;       /* 0 */
    int64_t seq_len;         /* time steps, for sequence models (0: none) */
    const int64_t *lengths;  /* [n] per-example lengths <= seq_len, for sequence models (NULL: none) */
    const int64_t *labels;   /* [n] per-example class labels, for conditional models (NULL: none) */
} varia_opts;

#define VARIA_OPT_TEMPERATURE 1u /* the temperature field is set */

/* What a model can do and what its calls need (varia_model_can). */
typedef enum varia_capability {
    VARIA_CAN_ENCODE = 1,    /* encode, encode_sample, reconstruct, active units */
    VARIA_CAN_EVAL = 2,      /* varia_eval: ELBO and the importance-weighted bound */
    VARIA_CAN_SAMPLE = 3,    /* sample, decode */
    VARIA_NEEDS_SEQ_LEN = 4, /* calls need varia_opts.seq_len (the old calls are refused) */
    VARIA_NEEDS_LABELS = 5   /* calls need varia_opts.labels (the old calls are refused) */
} varia_capability;

/* 1 if the model has the capability, else 0 (also for a NULL model). */
VARIA_API int varia_model_can(const varia_model *model, varia_capability what);

/* The floats one example and one latent occupy in the buffers of a call with
 * options opts (NULL: defaults); for a sequence model they depend on
 * seq_len. Either output may be NULL. */
VARIA_API varia_status varia_buffer_sizes(varia_ctx *ctx, const varia_model *m, const varia_opts *opts,
                                          int64_t *example_floats, int64_t *latent_floats);

/* The operations above with per-call options (opts may be NULL: defaults).
 * Each behaves exactly as its counterpart; the counterparts are these with
 * opts carrying their seed and temperature.
 *
 * Sequence models (varia_model_can(m, VARIA_NEEDS_SEQ_LEN): the vrnn family)
 * take their length per call: opts->seq_len = T > 0 and, optionally,
 * opts->lengths[n] in [1, T]. info.data_shape is one frame [F] and
 * info.latent_size one step's L; an example is T frames, x[n * T * F] (frame
 * t of example i at (i * T + t) * F), padded past its length with finite
 * values that no result depends on; a latent is T steps, z[n * T * L]. So
 * encode's mean and logvar are [n * T * L] (each step's posterior along the
 * mean path), decode and sample write [n * T * F] (decode: E[x_t] with x_t's
 * mean fed back; sample: 0/1 frames drawn and fed back) and sample's z_out
 * [n * T * L]; outputs past an example's length come from its padding. The
 * calls without opts are refused (VARIA_ERR_ARG naming varia_opts.seq_len). */
VARIA_API varia_status varia_encode_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                       const varia_opts *opts, float *mean, float *logvar);
/* z[n * latent] ~ q(z | x) by the family's posterior sampling (every
 * stochastic layer drawn; z is the top one), noise from (opts->seed, i),
 * scaled by opts' temperature (default 1): at 0, the posterior's mean
 * latent, which for a flow posterior is q_0's mean pushed through the flow
 * (varia_encode gives q_0's own parameters). */
VARIA_API varia_status varia_encode_sample_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                              const varia_opts *opts, float *z);
VARIA_API varia_status varia_decode_ex(varia_ctx *ctx, const varia_model *m, const float *z, int64_t n,
                                       const varia_opts *opts, varia_decode_kind kind, float *out, float *out_logvar);
VARIA_API varia_status varia_sample_ex(varia_ctx *ctx, const varia_model *m, int64_t n, const varia_opts *opts,
                                       float *x_out, float *z_out);

/* ---- Inversion of a decoder-only model (GAN) -------------------------------- */

/* z* = argmax_z log p(z) + log p(x | z) for each example, under the Gaussian
 * observation model N(x; E[x|z], sigma2 I), by Adam on the latent (rate 0.05
 * decayed linearly to 0.005) through the runtime's tape from `starts` seeded
 * starts, keeping the best: what encode means for a model without an encoder
 * (varia_encode of such a model whose manifest gives an observation variance
 * calls this with 8 starts and 300 steps). Set size = sizeof(varia_invert_opts). */
typedef struct varia_invert_opts {
    uint32_t size;
    uint32_t reserved; /* 0 */
    int64_t starts;    /* 1 .. 256 */
    int64_t steps;     /* 1 .. 100000 */
    double sigma2;     /* > 0, or 0: the manifest's observation variance */
    uint64_t seed;     /* start s of example i from the stream (seed, i, s) */
} varia_invert_opts;

/* z_out[n * latent] (the latent decode takes); mse[n] (may be NULL): the mean
 * squared error of E[x | z*] against x. VARIA_ERR_UNSUPPORTED for a model
 * with an encoder (use varia_encode) or without a joint density. Examples are
 * shared among the ctx's threads; example i's results depend only on (seed, i)
 * and its data: bit-identical for any thread count and any n. */
VARIA_API varia_status varia_invert(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                    const varia_invert_opts *opts, float *z_out, double *mse);

/* One example's inversion: the reconstruction error and the two terms of the
 * objective at the z* kept. */
typedef struct varia_invert_row {
    double mse;      /* mean over the D values of (x - E[x | z*])^2 */
    double log_pz;   /* log p(z*) under the prior */
    double log_px_z; /* log N(x; E[x | z*], sigma2 I), sigma2 as resolved (the call's or the manifest's) */
} varia_invert_row;

/* varia_invert with each example's row: rows[n] (may be NULL). The same z_out
 * and mse bytes as varia_invert. */
VARIA_API varia_status varia_invert_rows(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                         const varia_invert_opts *opts, float *z_out, varia_invert_row *rows);

/* ---- Parzen-window estimate (for comparison with old papers only) ---------- */

/* A kernel density estimate of log p(x) from the model's samples, by
 * Goodfellow et al.'s protocol: an isotropic Gaussian of standard deviation
 * sigma on each of `samples` samples (drawn with seed, temperature 1). It
 * measures how close samples come to x, not the model's likelihood: Theis et
 * al. (2015) showed it off by hundreds of nats and misordering models. Use
 * AIS to score a decoder-only model; use this only beside published Parzen
 * numbers, with sigma chosen on validation data as they did. */
typedef struct varia_parzen_opts {
    int64_t samples; /* 1 .. 1,000,000 (the protocol: 10,000) */
    double sigma;    /* > 0 (the protocol: the best of logspace(-1, 0, 10) on validation data) */
    uint64_t seed;
} varia_parzen_opts;

/* log_px[n] for the examples x[n * D]; any family that samples. */
VARIA_API varia_status varia_parzen(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                    const varia_parzen_opts *opts, double *log_px);

/* A model drawn over T steps (DRAW; info.latent_shape is [T, L]): the image
 * after every step, E[x | z] = sigmoid(c_t) for t = 1..T, painted by the
 * decoder from n latents z[n * T * L]: out[n * T * D], example-major (latent
 * i's T images in step order; the last is varia_decode's mean). Every other
 * family: VARIA_ERR_UNSUPPORTED. */
VARIA_API varia_status varia_decode_steps(varia_ctx *ctx, const varia_model *m, const float *z, int64_t n,
                                          float *out);
VARIA_API varia_status varia_reconstruct_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                            const varia_opts *opts, float *x_out);

/* ---- Evaluation ---------------------------------------------------------- */

typedef enum varia_binarize {
    VARIA_BIN_NONE = 0,      /* data used as given */
    VARIA_BIN_THRESHOLD = 1, /* x >= 0.5 -> 1 else 0 */
    VARIA_BIN_DYNAMIC = 2    /* x ~ Bernoulli(intensity), once per example, seeded */
} varia_binarize;

typedef struct varia_eval_opts {
    int64_t k;               /* importance samples per example (>= 1) */
    uint64_t seed;
    varia_binarize binarize;
} varia_eval_opts;

/* Per-example results. */
typedef struct varia_eval_row {
    double log_px;    /* L_k = logsumexp_i log w_i - log k */
    double elbo;      /* recon - kl */
    double recon;     /* mean over the k samples of log p(x|z_i) */
    double kl;        /* KL(q||p): analytic where closed form, else Monte Carlo */
    double log_det;   /* a flow posterior: mean over the k samples of sum_k log|det J_k| (else 0) */
} varia_eval_row;

typedef struct varia_eval_summary {
    int64_t n, k;
    double nll_mean, nll_stderr;   /* of -log_px */
    double elbo, recon, kl;        /* means over examples */
    double log_det;                /* mean of the rows' log_det */
    double bits_per_dim;           /* total NLL / (total dimensions * ln 2) */
    int active_units;              /* over all stochastic layers */
    int active_units_layer[VARIA_MAX_LAYERS];
} varia_eval_summary;

/* Score n examples. rows[n] may be NULL. Example i's randomness depends only on
 * (seed, i), so results are bit-identical for any thread count. Memory is bounded
 * for any k: samples are processed in fixed-size chunks, log-sum-exp in double. */
VARIA_API varia_status varia_eval(varia_ctx *ctx, const varia_model *m, const float *x,
                                  int64_t n, const varia_eval_opts *opts,
                                  varia_eval_row *rows, varia_eval_summary *summary);

/* varia_eval with per-call options (opts may be NULL). bits_per_dim divides by
 * each example's own size (total NLL over total dimensions). */
VARIA_API varia_status varia_eval_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                     const varia_eval_opts *eval_opts, const varia_opts *opts,
                                     varia_eval_row *rows, varia_eval_summary *summary);

/* Sequence models (above): varia_eval_ex and varia_eval_part score each
 * example over its own length (opts->lengths; every log-density past it
 * counts nothing), with k particles each carrying its own recurrent state;
 * the summary's bits_per_dim counts each example's frames and its active
 * units count every step within each length as one observation of the L
 * latents; varia_eval_part's means are [n * T * L]. varia_eval_seq_summary
 * gives the per-time-step figures; varia_eval_summarise refuses them
 * (VARIA_ERR_ARG: it has no lengths), varia_eval_summarise_ex takes them. */

/* Score part of a larger set, for callers that split one evaluation across
 * processes (varia's MPI build) or machines. ctx, m, opts: as varia_eval_ex.
 * x[n * data_size]: examples first .. first + n - 1 of the set; their
 * randomness is keyed by these indices, so rows[n] (required) are
 * bit-identical to those examples' rows from a varia_eval of the whole set.
 * means[n * U] (may be NULL), U = the sum of info.layer_sizes: each example's
 * posterior means, every stochastic layer bottom first, for the active units.
 * VARIA_ERR_ARG for first < 0 or first + n > 2^31. */
VARIA_API varia_status varia_eval_part(varia_ctx *ctx, const varia_model *m, const float *x, int64_t first,
                                       int64_t n, const varia_eval_opts *eval_opts, const varia_opts *opts,
                                       varia_eval_row *rows, float *means);

/* The summary of n examples' rows[n] and means[n * U] (as varia_eval_part
 * writes them, gathered in example order) scored with k samples each: the
 * same code, summing in the same order, as varia_eval's own summary, so the
 * same rows give the same bits. */
VARIA_API varia_status varia_eval_summarise(varia_ctx *ctx, const varia_model *m, const varia_eval_row *rows,
                                            int64_t n, int64_t k, const float *means,
                                            varia_eval_summary *summary);

/* One example's k samples split into chunks, for callers that spread one
 * example (or fewer examples than processes) over processes: varia's MPI
 * build. varia_eval draws an example's samples in chunks of VARIA_EVAL_CHUNK,
 * chunk c from a stream keyed by (seed, example index, c), whatever the
 * threads, and folds the chunks' partial sums in chunk order; a caller can
 * compute any contiguous runs of chunks anywhere and fold them with
 * varia_eval_combine, which gives varia_eval's row bit for bit. */
#define VARIA_EVAL_CHUNK 256

/* One chunk's partial result: plain data, safe to copy between processes
 * of the same build and machine type. */
typedef struct varia_eval_chunk {
    int64_t example;          /* the example's index in its set */
    int64_t chunk;            /* samples [chunk * VARIA_EVAL_CHUNK, + count) of its k */
    int64_t count;
    double max, sum;          /* the log-sum-exp of its log-weights: max + log(sum) */
    double recon, mc_kl;      /* sums over its samples: log p(x|z), log q(z|x) - log p(z) */
    double log_det;           /* sum over its samples of a flow's log|det| (0 without a flow) */
    double kl;                /* the analytic KL (NaN where none); chunk 0's is the row's */
    int32_t saw_nan;          /* 1 if a log-weight was NaN */
    int32_t reserved;         /* 0 */
} varia_eval_chunk;

/* The number of chunks k samples make: ceil(k / VARIA_EVAL_CHUNK); 0 for k < 1. */
VARIA_API int64_t varia_eval_chunk_count(int64_t k);

/* Chunks [c0, c0 + nc) of one example's opts->k samples into chunks[nc]
 * (owned by the caller). x[data_size]: the example, `index` its index in the
 * set (it keys the binarization and the samples' randomness, as in
 * varia_eval_part). means[U] (may be NULL; U as in varia_eval_part): its
 * posterior means, whatever the chunks; nc may be 0 to get them alone.
 * Runs on the ctx's threads; results do not depend on their number.
 * VARIA_ERR_ARG for a range outside [0, varia_eval_chunk_count(k)) or an
 * index outside [0, 2^31); VARIA_ERR_UNSUPPORTED for a sequence model. */
VARIA_API varia_status varia_eval_chunks(varia_ctx *ctx, const varia_model *m, const float *x, int64_t index,
                                         int64_t c0, int64_t nc, const varia_eval_opts *opts,
                                         varia_eval_chunk *chunks, float *means);

/* The row of one example from all its chunks[varia_eval_chunk_count(k)],
 * in chunk order (from any mix of varia_eval_chunks calls): the fold
 * varia_eval runs, so the same bits as its row. VARIA_ERR_ARG if the chunks
 * are not one example's 0, 1, ... with the counts k gives;
 * VARIA_ERR_NONFINITE if the estimate is not finite (as varia_eval). */
VARIA_API varia_status varia_eval_combine(varia_ctx *ctx, const varia_eval_chunk *chunks, int64_t k,
                                          varia_eval_row *row);

/* varia_eval_summarise with per-call options (opts may be NULL where the
 * model needs none): for a sequence model, the same opts (seq_len and the
 * lengths of all n examples) as the varia_eval_part calls, and means[n *
 * seq_len * L] as they write them; the summary is then varia_eval_ex's, bit
 * for bit. So a sequence evaluation splits across processes too. */
VARIA_API varia_status varia_eval_summarise_ex(varia_ctx *ctx, const varia_model *m, const varia_eval_row *rows,
                                               int64_t n, int64_t k, const float *means, const varia_opts *opts,
                                               varia_eval_summary *summary);

/* A sequence model's evaluation per time step (the polyphonic-music
 * benchmarks' figure): totals over the frames of all examples, each example
 * counting its own length. Set size = sizeof(varia_seq_summary); the
 * library fills what it knows of the caller's version. */
typedef struct varia_seq_summary {
    uint32_t size;           /* sizeof(varia_seq_summary): the struct's version */
    uint32_t reserved;
    int64_t frames;          /* total frames: the sum of varia_opts.lengths (or n * seq_len) */
    double log_px_per_step;  /* sum of rows[i].log_px / frames, nats (the IW estimate; exact for the RNN) */
    double elbo_per_step;    /* sum of rows[i].elbo / frames, nats */
    double bits_per_dim;     /* -sum log_px / (frames * frame size * ln 2) */
} varia_seq_summary;

/* The per-step figures of n rows from varia_eval_ex (or gathered
 * varia_eval_part calls) of a sequence model, with the same opts (its
 * seq_len and lengths). VARIA_ERR_UNSUPPORTED for a model without
 * sequences; VARIA_ERR_ARG for a size smaller than this library's struct. */
VARIA_API varia_status varia_eval_seq_summary(varia_ctx *ctx, const varia_model *m, const varia_eval_row *rows,
                                              int64_t n, const varia_opts *opts, varia_seq_summary *out);

/* Active units (Burda et al.): dimension u of layer l is active when the variance
 * over the n examples of its posterior mean exceeds 0.01. x is used as given. */
VARIA_API varia_status varia_active_units(varia_ctx *ctx, const varia_model *m,
                                          const float *x, int64_t n, int *total,
                                          int per_layer[VARIA_MAX_LAYERS]);

/* ---- AIS and BDMC: log p(x) for any decoder (Wu et al. 2017) -------------- */

/* Annealed importance sampling (docs/ais.md) scores data under a model's
 * decoder alone: no encoder is used, so it serves decoder-only models. The
 * target is f_t(z) = p(z) p(x|z)^beta_t over the model's full latents (every
 * stochastic layer), beta_0 = 0 < ... < beta_T = 1 on the sigmoid schedule
 * (r = 4); z_0 ~ p(z); between consecutive targets one HMC trajectory of
 * `leapfrog` steps with a Metropolis test, its step size starting at 0.01 and
 * adapted per example toward 0.65 acceptance (x1.02 / x0.98, within [1e-4,
 * 0.5]); the log weight adds (beta_t - beta_{t-1}) log p(x|z_{t-1}). The
 * estimate is the log-mean-exp of the C chains' final log weights: a
 * stochastic lower bound on log p(x).
 *
 * AIS+encoder (Wu et al.'s "AIS+encoder"; start VARIA_AIS_FROM_ENCODER) starts
 * from the model's own posterior instead: f_t(z) = q(z|x)^(1 - beta_t)
 * (p(z) p(x|z))^beta_t, z_0 ~ q(z|x), the log weight adding (beta_t -
 * beta_{t-1}) (log p(z) + log p(x|z) - log q(z|x)) at z_{t-1}. Still a
 * stochastic lower bound, and exact at any T when q is the true posterior.
 * It needs an encoder whose q(z|x) is one Gaussian over all the latents (a
 * VAE of one stochastic layer without a flow; else VARIA_ERR_UNSUPPORTED).
 *
 * Options of one call, size-versioned like varia_opts: set size =
 * sizeof(varia_ais_opts) and zero what you do not use. chains and steps have
 * no default (0 is VARIA_ERR_ARG, naming the field). */
typedef enum varia_ais_start {
    VARIA_AIS_FROM_PRIOR = 0,  /* z_0 ~ p(z): any decoder, a GAN's included */
    VARIA_AIS_FROM_ENCODER = 1 /* z_0 ~ q(z|x): AIS+encoder (above) */
} varia_ais_start;

typedef struct varia_ais_opts {
    uint32_t size;           /* sizeof(varia_ais_opts) */
    uint32_t start;          /* a varia_ais_start (0: from the prior) */
    int64_t chains;          /* C: independent chains per example, in [1, 4096] */
    int64_t steps;           /* T: annealing steps (targets after the prior), in [1, 10^7] */
    int64_t leapfrog;        /* leapfrog steps per HMC trajectory, in [1, 1000] (0: 10) */
    double sigma2;           /* 0: the model's own likelihood; > 0: the Gaussian observation model
                                N(x; E[x|z], sigma2 I) instead (what a model without a likelihood needs) */
    uint64_t seed;           /* chain c of example i draws from a stream keyed by (seed, i, c) */
    varia_binarize binarize; /* of the data, as varia_eval does it (the same seed gives the same images) */
    uint32_t reserved2;      /* 0 */
    /* Called on the calling thread now and then with the annealing steps done
     * over all examples (out of total), and once at the end; NULL: none. */
    void (*progress)(int64_t done, int64_t total, void *user);
    void *user;              /* passed to progress */
    int64_t first;           /* the index of x[0] (of the first simulated example for BDMC) in the whole
                                set: example i's streams are keyed by first + i, so a part of a set run
                                elsewhere (an MPI rank's block) gives the bits of the whole run (0: none) */
    /* Every example's chains split across processes (varia's MPI build, for
     * fewer examples than processes). parts 0 or 1: every chain runs here.
     * parts > 1 (at most chains): this call runs part `part` (0 <= part <
     * parts) of each example's chains, chains [part C / parts, (part + 1) C
     * / parts), and `parts` calls, one per part, with the same x, n and
     * options but `part`, run together: after every HMC transition (the step
     * size adapts on every chain's acceptance) and at the end (the chains'
     * log weights) they exchange through allgather. Every part then returns
     * every example's whole rows, the bits of one call with parts 0. Such a
     * call runs on the calling thread alone (the exchanges must come in the
     * same order on every part). */
    int32_t part, parts;
    /* Required with parts > 1; called on the calling thread: part p's bytes
     * [off[p], off[p + 1]) of buf sent to every part, into the same place
     * of its buf (MPI_Allgatherv in place, as varia_train_comm's). Returns 0,
     * or nonzero to fail the call (VARIA_ERR_IO). A part that fails for any
     * reason stops calling it: its caller must end the others. */
    int (*allgather)(void *comm, void *buf, const int64_t *off);
    void *comm;              /* passed to allgather */
} varia_ais_opts;

/* Per-example results of AIS. */
typedef struct varia_ais_row {
    double log_px;    /* varia_ais: the estimate (a lower bound in expectation); the reverse
                         run of varia_bdmc: its upper bound, -log-mean-exp of the reverse weights */
    double accept;    /* fraction of HMC proposals accepted, over the chains and T - 1 transitions
                         (0 when T = 1: no transition) */
    double step_size; /* the example's final leapfrog step size */
} varia_ais_row;

/* AIS estimate of log p(x) for n examples x[n * data_size]: rows[n]
 * (required). Chains of all examples run as the rows of each pass, spread
 * over the context's threads; example i's result depends only on (seed, i)
 * and its data: bit-identical for any thread count and any n. The gradient
 * d log f_t / dz is taken on the runtime's tape, the weights held constant.
 * VARIA_ERR_ARG names a bad option; VARIA_ERR_UNSUPPORTED: the family has no
 * joint density pass; VARIA_ERR_NONFINITE names an example for which a chain's
 * log weight is NaN or every chain's is -inf. */
VARIA_API varia_status varia_ais(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                 const varia_ais_opts *opts, varia_ais_row *rows);

/* Bidirectional Monte Carlo (Grosse et al. 2015) on n examples simulated from
 * the model: z*_i ~ p(z) and x_i ~ p(x|z*_i) (Bernoulli draws, or the
 * Gaussian observation model's with opts->sigma2) from a stream keyed by
 * (seed, i); then AIS forward on x_i (lower[i], the same bits as varia_ais on
 * x_i) and in reverse, beta from 1 to 0, every chain started at z*_i
 * (upper[i].log_px = -log-mean-exp of the reverse log weights, a stochastic
 * upper bound on log p(x_i)). The gap upper - lower bounds AIS's error on
 * such data. x_out[n * data_size] receives the simulated examples (may be
 * NULL); lower[n] and upper[n] are required. opts->binarize is not read.
 * VARIA_ERR_UNSUPPORTED for a model whose own Gaussian likelihood has a
 * learned or per-element variance and sigma2 0 (simulation then needs a
 * variance: give sigma2); one of fixed variance is simulated from as it is. */
VARIA_API varia_status varia_bdmc(varia_ctx *ctx, const varia_model *m, int64_t n, const varia_ais_opts *opts,
                                  float *x_out, varia_ais_row *lower, varia_ais_row *upper);

/* ---- Data I/O ------------------------------------------------------------ */

/* The functions of this section are absent from a build without the dataset
 * readers (meson -Ddatasets=false: the WebAssembly build, which has neither
 * zlib nor libpng); there data comes as float arrays and models as bytes
 * (varia_model_load_memory). */

/* A dataset in memory: n examples of shape, floats scaled to [0, 1]. */
typedef struct varia_dataset {
    int64_t n;
    varia_shape shape;
    int64_t example_size;
    float *x;
    uint8_t *labels;  /* NULL when the source has none */
} varia_dataset;

/* Read IDX (MNIST, Fashion-MNIST; gzip or raw), binarized-MNIST .amat (gzip or
 * raw), or a folder of same-sized PNGs (sorted by name). The kind is detected
 * from content (magic bytes) and, for folders, the path. At most `limit` examples
 * are read when limit > 0. */
VARIA_API varia_status varia_dataset_load(varia_ctx *ctx, const char *path, int64_t limit,
                                          varia_dataset *out);
VARIA_API void varia_dataset_free(varia_dataset *d);

/* A set of n sequences of frames, each frame dim floats, stored back to
 * back: sequence i is frames offsets[i] .. offsets[i] + lengths[i] - 1, its
 * frame t the floats x[(offsets[i] + t) * dim .. + dim - 1]. */
typedef struct varia_seqset {
    int64_t n;          /* sequences (>= 1) */
    int64_t dim;        /* values per frame (>= 1) */
    int64_t total;      /* frames of all n sequences: the sum of lengths */
    float *x;           /* [total * dim] */
    int64_t *lengths;   /* [n], each >= 1 */
    int64_t *offsets;   /* [n + 1]: offsets[0] = 0, offsets[i + 1] = offsets[i] + lengths[i] */
} varia_seqset;

/* Read a sequence dataset into *out (zeroed on failure; free it with
 * varia_seqset_free). ctx: receives the message. path: one of, told apart
 * by its first bytes:
 *  - a NumPy .npz (numpy.savez or savez_compressed: stored or deflate zip
 *    members) holding exactly 'x' [total, dim] and 'lengths' [n]: x of
 *    bool, (u)int8-64, float32 or float64, either byte order, C or Fortran
 *    order, converted to float as is (not rescaled); lengths of an integer
 *    dtype, each >= 1, summing exactly to x's frames;
 *  - a NumPy .npy [n, T, dim]: n sequences of T frames;
 *  - anything varia_dataset_load reads as images [C, H, W] (IDX, .amat,
 *    PNG folders): each image a sequence of its H rows, frame t holding row
 *    t of every channel in turn (C * W values, in [0, 1]); labels dropped.
 * limit: when > 0, only the first `limit` sequences are kept (an .npz member
 * is still inflated and checked whole). Failures name the file, the member
 * and the field: VARIA_ERR_IO (missing, not a regular file),
 * VARIA_ERR_DATASET (malformed zip or .npy header, CRC mismatch, a size that
 * lies, lengths not positive or not summing to the frames, a bool byte other
 * than 0 or 1), VARIA_ERR_VERSION (.npy version other than 1.0, 2.0, 3.0),
 * VARIA_ERR_HEADER (.npy header length past the data or over 64 KiB), VARIA_ERR_DTYPE
 * (object, string, complex, float16 or structured arrays; float lengths),
 * VARIA_ERR_SHAPE (x not [frames, dim], lengths not [n], a .npy not
 * [n, T, dim], vector examples), VARIA_ERR_TRUNCATED / VARIA_ERR_TRAILING
 * (data shorter or longer than the header's shape), VARIA_ERR_MISSING /
 * VARIA_ERR_UNEXPECTED / VARIA_ERR_DUPLICATE (members), VARIA_ERR_OFFSET /
 * VARIA_ERR_OVERLAP (zip offsets), VARIA_ERR_UNSUPPORTED (encrypted or
 * multi-disk zips, compression other than deflate), VARIA_ERR_NONFINITE
 * (NaN, infinity, or a float64 beyond float range, naming the element),
 * VARIA_ERR_TOO_LARGE (over 2^29 floats kept, a member over 1 GiB, over
 * 2^26 sequences, shapes overflowing), VARIA_ERR_NOMEM. Sizes are checked
 * before anything is allocated; a declared member size beyond what deflate
 * can expand to is VARIA_ERR_DATASET. */
VARIA_API varia_status varia_seqset_load(varia_ctx *ctx, const char *path, int64_t limit,
                                         varia_seqset *out);
/* Free what varia_seqset_load allocated and zero *s; safe on a zeroed set or NULL. */
VARIA_API void varia_seqset_free(varia_seqset *s);

/* An 8-bit image: channels 1 (gray) or 3 (RGB), row-major, interleaved. */
typedef struct varia_image {
    int width, height, channels;
    uint8_t *pixels;
} varia_image;

VARIA_API varia_status varia_png_read(varia_ctx *ctx, const char *path, varia_image *out);
VARIA_API varia_status varia_png_write(varia_ctx *ctx, const char *path,
                                       const varia_image *img);
VARIA_API void varia_image_free(varia_image *img);

/* Tile n examples (each channels x h x w floats in [0,1]) into a grid with `cols`
 * columns and `pad` pixels of padding (value pad_value in [0,1]). The shape
 * is [C,H,W] (C = 1 or 3), [H,W] (gray) or [D] with D a perfect square. */
VARIA_API varia_status varia_image_grid(varia_ctx *ctx, const float *x, int64_t n,
                                        const varia_shape *shape, int cols, int pad,
                                        float pad_value, varia_image *out);
/* The width and height (either may be NULL) of the grid varia_image_grid would
 * make of n examples, without the examples: it refuses (VARIA_ERR_TOO_LARGE,
 * _SHAPE, _ARG) exactly the arguments varia_image_grid refuses, so a caller
 * can check before computing what it would tile. */
VARIA_API varia_status varia_image_grid_size(varia_ctx *ctx, int64_t n, const varia_shape *shape,
                                             int cols, int pad, int *width, int *height);

#ifdef __cplusplus
}
#endif
#endif /* VARIA_H */

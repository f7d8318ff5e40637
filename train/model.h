/* The trainer's view of a model: the runtime's family parses the
 * architecture and declares the tensors; the trainer lays them out one after
 * another in a flat theta, initialises them by their declared rules, and
 * records the family's passes and the objective over them on the tape. Nothing
 * here knows which family it trains. */
#ifndef VARIA_TRAIN_MODEL_H
#define VARIA_TRAIN_MODEL_H

#include "family.h"
#include "ops_tape.h"

typedef struct tr_model {
    const varia_family *family;
    char family_name[16];
    void *cfg;
    varia_decl decl;
    varia_info info;
    int64_t *off;           /* [decl.n_t]: each tensor's offset in theta */
    int64_t P, D, noise;    /* parameters; data size; normals per sample */
    int64_t bn_floats;      /* 3 per batch-norm channel: a pass's (count, mean, squared deviations) */
} tr_model;

/* Parse `arch` with family `family` (its name or alias) for data of `shape`
 * and lay theta out. m is then owned by the caller (tr_model_free), also on
 * failure. */
varia_status tr_model_build(varia_ctx *ctx, const char *family, const cJSON *arch, const varia_shape *shape,
                            tr_model *m);
void tr_model_free(tr_model *m);

/* Initial theta by each tensor's declared rule: FAN weights uniform with
 * Glorot (fan_in + fan_out) or He (fan_in) limits, one random stream per
 * linear slot; zeros; and, when data_mean is given, the output bias from it
 * (the logit of the mean for Bernoulli) and learned log-variances from
 * data_var, the data's variance. Deterministic in seed. */
/* Zero the masked entries of every masked weight in v (theta, or a gradient
 * laid out like it), so an autoregressive weight stays autoregressive. */
void tr_model_mask(const tr_model *m, float *v);
void tr_model_init(const tr_model *m, float *theta, uint64_t seed, int he, const float *data_mean, double data_var);

/* ---- objectives over the family's terms (float and, for the gradient
 * checks, double builds) ---- */

enum { TR_OBJ_ELBO_ANALYTIC, TR_OBJ_ELBO_MC, TR_OBJ_IWAE, TR_OBJ_GAN };

typedef struct tr_objective {
    int kind;
    int64_t k;     /* samples per example */
    double beta;   /* KL weight (warm-up) */
    int free_bits; /* analytic ELBO: the KL is left out of obj, for the caller */
    double *bn_stats; /* [bn_floats]: receives the batch norms' batch statistics (NULL: not kept) */
    /* A sequence family's (VARIA_FAMILY_SEQ_LEN): x holds seq_len frames of D
     * per example and eps seq_len steps of noise per sample; lengths [B] the
     * steps of each (NULL: all seq_len). 0 for every other family. */
    int64_t seq_len;
    const int64_t *lengths;
    /* Truncated BPTT (a window of longer sequences): x's and eps's row
     * strides in floats (0: packed, D * seq_len and noise * seq_len), so a
     * window is read in place; the recurrent state to start from, [B * k,
     * state_size] (NULL: zeros), held constant (no gradient reaches it); and
     * where the state after the window goes (NULL: not wanted). */
    int64_t x_ld, eps_ld;
    const float *state_in;
    float *state_out;
} tr_objective;

/* Truncated BPTT: narrow o, set up for B sequences of lengths[B] padded to
 * T frames (o->k samples each), to the window of at most W frames from
 * frame t0. Sets o->seq_len to the window's frames n, each row's frames in
 * it in wlen[B] (0 for a sequence already ended), o's strides (so x and
 * eps, advanced by t0 frames, are read in place), and the state: in from
 * state_in [B * k, state_size] (zeroed here for the first window and for
 * the rows of ended sequences, which count nothing and so stay bounded),
 * out to state_out. Returns n, 0 when no sequence reaches the window (o is
 * then left alone). */
int64_t tr_window(const tr_model *m, tr_objective *o, int64_t t0, int64_t W, int64_t T, int64_t B,
                  const int64_t *lengths, int64_t *wlen, float *state_in, float *state_out);

/* Per-example results, [B, 1] unless said: obj is what training maximizes;
 * recon = mean over samples of log p(x|z); kl = analytic KL or the Monte
 * Carlo log q - log p(z); kl_dims [B, latent] (analytic only, else NULL).
 * obj is NULL when the family has no analytic KL but one was asked for. */
typedef struct tr_terms {
    tr_node *obj, *recon, *kl, *kl_dims;
} tr_terms;

/* Record the family's terms pass for x[B, D] (k samples each, noise
 * eps[B * k, noise]; both times o->seq_len for a sequence family), sample j of example b at row b * k + j) and the
 * objective over them. lins come from TR(bind) over theta/grad. */
tr_terms TR(objective_record)(tr_tape *t, const tr_model *m, const tr_lin *lins, const tr_real *theta, tr_real *grad,
                       const float *x, int64_t B, const float *eps, const tr_objective *o);

/* The adversarial objectives (objective "gan"), per row, to maximise, for
 * real rows x[B, D] and noise eps[B, noise]: pass TR_GAN_PASS_D, the
 * discriminator's, log sigma(D(x)) + log(1 - sigma(D(G(z)))) (loss
 * TR_GAN_NON_SATURATING) or D(x) - D(G(z)) (TR_GAN_WASSERSTEIN), or that
 * minus lambda (|grad D(x^)|_2 - 1)^2 at x^ = mix x + (1 - mix) G(z), mix
 * per example (TR_GAN_WGAN_GP, Gulrajani et al. 2017), with G(z) held
 * constant (no gradient reaches the generator); pass TR_GAN_PASS_G, the
 * generator's, log sigma(D(G(z))) or D(G(z)). */
enum { TR_GAN_PASS_D, TR_GAN_PASS_G };
enum { TR_GAN_NON_SATURATING, TR_GAN_WASSERSTEIN, TR_GAN_WGAN_GP };
typedef struct tr_gan {
    int pass, loss;      /* TR_GAN_PASS_*, TR_GAN_* */
    double *bn_stats;    /* as in tr_objective */
    const float *mix;    /* TR_GAN_WGAN_GP, discriminator's pass: [B], each in [0, 1] */
    double lambda;       /* the penalty's weight */
    tr_node *penalty;    /* set by the record: (|grad D(x^)| - 1)^2 per row [B, 1], unweighted; else NULL */
} tr_gan;
tr_node *TR(gan_record)(tr_tape *t, const tr_model *m, const tr_lin *lins, const tr_real *theta, tr_real *grad,
                        const float *x, int64_t B, const float *eps, tr_gan *g);

#endif

/* Internal: the family's passes run on the exec backend over caller buffers,
 * for the API and the estimators (which never see a value handle), and the
 * workspace they need, measured at load. */
#ifndef VARIA_PASSES_H
#define VARIA_PASSES_H

#include "family.h"

struct varia_pool;

/* Run every pass of m under the measure backend for VARIA_WS_ROWS rows and
 * set m->ws_vals and m->ws_floats (VARIA_ERR_TOO_LARGE past the cap). */
varia_status varia_passes_measure(varia_ctx *ctx, varia_model *m);

/* The steps a sequence family's passes are measured over at load: any T
 * gives the same workspace (step scoping; T-long outputs are emitted). */
#define VARIA_MEASURE_STEPS 2
/* Measure every pass of m as passes_measure does, a sequence family's over T
 * steps (lengths all T, given): *vals and *floats, the workspace they need. Returns
 * 0, 1 when the passes need more values than measure tracks, -1 when out of
 * memory. */
int varia_passes_need(const varia_model *m, int64_t T, size_t *vals, size_t *floats);

/* Workspace floats every pass below needs for up to VARIA_WS_ROWS rows. */
size_t varia_model_ws(const varia_model *m);
/* Standard normals one sample consumes. */
int64_t varia_model_noise(const varia_model *m);

/* The passes, each over n <= VARIA_WS_ROWS rows in ws (varia_model_ws floats,
 * owned by the caller), layers shared with `team` when not NULL. Outputs are
 * caller buffers of n rows; optional ones may be NULL. Should the workspace
 * ever fall short (a sizing bug), the outputs are NaN, which every public
 * operation reports. */
void varia_run_encode(const varia_model *m, float *ws, struct varia_pool *team, const float *x, int64_t n,
                      float *mean, float *logvar);
/* means[n * noise]: every layer's posterior mean, bottom first. */
void varia_run_layer_means(const varia_model *m, float *ws, const float *x, int64_t n, float *means);
/* z[n * latent] ~ q(z|x) from eps[n * noise]; logq[n] may be NULL. */
void varia_run_posterior_sample(const varia_model *m, float *ws, struct varia_pool *team, const float *x,
                                int64_t n, const float *eps, float *z, double *logq);
void varia_run_decode(const varia_model *m, float *ws, struct varia_pool *team, const float *z, int64_t n,
                      varia_decode_kind kind, float *out, float *out_logvar);
/* One latent z[latent] of a model drawn over T steps: out[T * D], E[x|z]
 * after every step (ws sized for it: the pass is measured for one row). */
void varia_run_decode_steps(const varia_model *m, float *ws, const float *z, float *out);
/* n samples from eps[n * noise] scaled by temp: x_out[n * D], z_out[n * latent]. */
void varia_run_generate(const varia_model *m, float *ws, struct varia_pool *team, int64_t n, const float *eps,
                        float temp, float *x_out, float *z_out);
/* For one example x and `count` samples with noise eps[count * noise]:
 * log_w[i] = log p(z) - log q(z|x) + log p(x|z), log p(x|z) in log_px[i];
 * *kl the analytic KL or NAN where there is none; *log_det the sum over the
 * samples of a flow posterior's log|det| (0 without a flow). */
void varia_run_log_weights(const varia_model *m, float *ws, const float *x, int64_t count, const float *eps,
                           double *log_w, double *log_px, double *kl, double *log_det);

/* A sequence family's call (VARIA_FAMILY_SEQ_LEN): T steps; lengths, one
 * per example of the pass (NULL: all T), mask each example's terms past its
 * length. Its runners below read x as n rows of T * data_size, latents as
 * T * latent_size and noise as T * noise per row; their T-long outputs are
 * emitted step by step into the caller's buffers (any T in the measured
 * workspace); what they hold past an example's length comes from its padding. */
typedef struct varia_seq {
    int64_t T;
    const int64_t *lengths;
} varia_seq;

void varia_run_seq_encode(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                          const float *x, int64_t n, float *mean, float *logvar);
void varia_run_seq_posterior_sample(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                                    const float *x, int64_t n, const float *eps, float *z, double *logq);
/* out: E[x_t] (x_t's mean fed back) or, kind PARAMS, the logits (Bernoulli)
 * or the means and in out_logvar the log-variances (Gaussian; may be NULL),
 * n rows of T * data_size each. */
void varia_run_seq_decode(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                          const float *z, int64_t n, varia_decode_kind kind, float *out, float *out_logvar);
void varia_run_seq_generate(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                            int64_t n, const float *eps, float temp, float *x_out, float *z_out);
/* One example x (seq->lengths: its own length, or NULL) and `count`
 * particles: log_w, log_px as varia_run_log_weights, *kl the mean over the
 * particles of each one's KL along its own trajectory (0 for the RNN). */
void varia_run_seq_log_weights(const varia_model *m, float *ws, const varia_seq *seq, const float *x,
                               int64_t count, const float *eps, double *log_w, double *log_px, double *kl);

#endif

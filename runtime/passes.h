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

#endif

/* Internal: a loaded model's passes on the tape with its weights held
 * constant, for gradient-based inference (AIS's HMC today; GAN inversion
 * later). The family's joint pass gives log p(z) and log p(x|z) per row of
 * full latents z; the tape differentiates
 *   log f(z) = log p(z) + beta log p(x|z)
 * with respect to z only: every linear slot is bound without gradient buffers
 * (tape.h), so no weight gradient is ever computed. Nothing here names a
 * family. */
#ifndef VARIA_JOINT_TAPE_H
#define VARIA_JOINT_TAPE_H

#include "family.h"
#include "tape.h"

/* What every worker shares, read-only: each linear slot's weight as the
 * model serves it (masked, batch norm folded) packed for the tape's forward
 * product and, transposed, for its input gradient. */
typedef struct varia_joint_consts {
    const varia_model *m;
    tr_lin *lins;   /* [decl.n_lin] */
    float **packs;  /* [2 * decl.n_lin]: slot i's forward and transposed packings */
} varia_joint_consts;

/* Bind m's slots as constants. Fails (VARIA_ERR_NOMEM) only when memory is
 * exhausted; c is then safe to free. c refers to m, which must outlive it. */
varia_status varia_joint_consts_init(varia_ctx *ctx, const varia_model *m, varia_joint_consts *c);
void varia_joint_consts_free(varia_joint_consts *c);

/* One worker's evaluator: its own tape over the shared constants, and the
 * observation model (obs_logvar NaN: the model's own likelihood; else log s2
 * of N(x; E[x|z], s2 I)). */
typedef struct varia_joint {
    const varia_joint_consts *c;
    struct tr_tape *t;
    float obs_logvar;
} varia_joint;

/* Open an evaluator over c (which must outlive it); 0 when out of memory (j
 * is then safe to close). Close frees its tape. */
int varia_joint_open(varia_joint *j, const varia_joint_consts *c, float obs_logvar);
void varia_joint_close(varia_joint *j);

/* log f = log p(z) + beta log p(x|z) for n rows of full latents z[n * E]
 * (E = the model's noise size), row r scored against x[(r / kx) * D]:
 * log_pz[n], log_px[n] and grad[n * E] = d log f / dz. Returns 0 when the
 * tape ran out of memory (outputs then unspecified). z, x and the outputs
 * must not overlap; the tape's memory is reused by the next call. */
int varia_joint_grad(varia_joint *j, const float *x, int64_t kx, const float *z, int64_t n, double beta,
                     double *log_pz, double *log_px, float *grad);

/* log p(z) and log p(x|z) for n rows of full latents z[n * E], as
 * varia_joint_grad, with their gradients apart: grad_pz[n * E] =
 * d log p(z) / dz and grad_px[n * E] = d log p(x|z) / dz, so that a caller
 * whose beta changes forms d log f / dz = grad_pz + beta grad_px itself
 * without another pass (AIS's chains carry both). One forward pass and two
 * backward sweeps over it (TR(backward_live)), each running only the records
 * its output reaches: log p(x|z)'s the decoder, log p(z)'s the prior (for a
 * standard normal prior, one record). Each gradient is summed as
 * varia_joint_grad sums its part with the other seed 0; grad_pz + beta
 * grad_px is then rounded in the caller, not the tape: not the bits of
 * varia_joint_grad's gradient, which seeds beta at the top of the pass. The
 * log densities are the same bits as varia_joint_grad's (the same forward).
 * Returns 0 when the tape ran out of memory. */
int varia_joint_grads(varia_joint *j, const float *x, int64_t kx, const float *z, int64_t n, double *log_pz,
                      double *log_px, float *grad_pz, float *grad_px);

/* The posterior q(z|x) = N(mean, exp(logvar)) of n examples x[n * D] by the
 * family's encode pass (the caller has checked encode_is_q): mean[n * E],
 * logvar[n * E]. Returns 0 when the tape ran out of memory. */
int varia_joint_posterior(varia_joint *j, const float *x, int64_t n, float *mean, float *logvar);

/* Ancestral samples of n full latents z[n * E] and their E[x|z] mean[n * D]
 * (may be NULL) from eps[n * E], by the family's prior_latents and generate
 * passes. Returns 0 when the tape ran out of memory. */
int varia_joint_prior(varia_joint *j, const float *eps, int64_t n, float *z, float *mean);

#endif

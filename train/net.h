/* The VAE/IWAE forward pass recorded on a tape: encoders, reparameterized
 * samples, decoders, log-weights and the objective, for a minibatch of B
 * examples with k samples each. Compiled in float (the library) and double
 * (the gradient checks), like tape.c. */
#ifndef VARIA_TRAIN_NET_H
#define VARIA_TRAIN_NET_H

#include "arch.h"
#include "tape.h"

enum { TR_OBJ_ELBO_ANALYTIC, TR_OBJ_ELBO_MC, TR_OBJ_IWAE };

typedef struct tr_objective {
    int kind;
    int64_t k;     /* samples per example */
    double beta;   /* KL weight (warm-up) */
    int free_bits; /* analytic ELBO: the KL is left out of obj, for the caller */
} tr_objective;

/* Per-example results, [B, 1] unless said: obj is what training maximizes;
 * recon = mean over samples of log p(x|z); kl = analytic KL or the Monte
 * Carlo log q - log p(z); kl_dims [B, latent] (analytic only, else NULL). */
typedef struct tr_terms {
    tr_node *obj, *recon, *kl, *kl_dims;
} tr_terms;

/* One tr_lin per layout layer, pointing into theta and grad. packs holds the
 * packed forward and transposed weights (float build; NULL in double). */
void TR(net_bind)(const tr_layout *lay, const tr_real *theta, tr_real *grad, float *const *packs,
                  float *const *packs_t, tr_lin *lins);

/* Record the pass. x[B, D]; eps[B * k * lay->noise], sample (b, j)'s noise
 * contiguous with layer 1 first. theta/grad serve the learned variance. */
tr_terms TR(net_forward)(tr_tape *t, const tr_layout *lay, const tr_lin *lins, const tr_real *theta,
                         tr_real *grad, const tr_real *x, int64_t B, const tr_real *eps, const tr_objective *o);

#endif

/* Internal: the importance-weighted reduction over a stream of samples, kept
 * apart from threading so tests can feed it known log-weights. */
#ifndef VARIA_ESTIMATOR_H
#define VARIA_ESTIMATOR_H

#include "varia.h"

#include <stdint.h>

typedef struct varia_iw_acc {
    double max, sum;   /* running log-sum-exp: max + log(sum) */
    double recon, mc_kl;
    double log_det;    /* sum over the samples of a flow's log|det| (the caller adds it) */
    double kl;         /* the analytic KL its samples' pass gave (NaN if none; the caller sets it):
                          merging keeps a's, so a fold in chunk order keeps chunk 0's */
    int64_t count;
    int saw_nan;
} varia_iw_acc;

void varia_iw_init(varia_iw_acc *a);
/* Add `count` samples: log-weights and log p(x|z_i). */
void varia_iw_add(varia_iw_acc *a, const double *log_w, const double *log_px, int64_t count);
/* Fold b (later samples) into a, as if b's samples had been added to a. */
void varia_iw_merge(varia_iw_acc *a, const varia_iw_acc *b);
/* L_k, recon, KL (kl_analytic if not NaN, else the Monte Carlo mean) and ELBO.
 * Returns 0 if any value is not finite. */
int varia_iw_finish(const varia_iw_acc *a, double kl_analytic, varia_eval_row *row);

#endif

/* Internal: Hamiltonian Monte Carlo transitions over rows of full latents,
 * for AIS (ais.c). Rows come in groups of `chains` consecutive rows, one
 * group per example: the group's chains share the example's data and its
 * step size. Each row has its own random stream, so a row's path depends on
 * its stream, its example's group and nothing else (not on which other
 * groups share the batch, nor on the thread). */
#ifndef VARIA_HMC_H
#define VARIA_HMC_H

#include "joint_tape.h"
#include "rng.h"

/* The protocol of Wu et al. 2017 (docs/ais.md). */
#define VARIA_HMC_STEP0 0.01     /* initial leapfrog step size */
#define VARIA_HMC_TARGET 0.65    /* acceptance the step size is adapted toward */
#define VARIA_HMC_INC 1.02       /* step *= INC when acceptance is above TARGET */
#define VARIA_HMC_DEC 0.98       /* step *= DEC otherwise */
#define VARIA_HMC_STEP_MIN 1e-4
#define VARIA_HMC_STEP_MAX 0.5

/* The state of n = groups * chains rows of E latents each, owned by the
 * caller. Before a transition: z, and lpz, lpx, gz, gx = log p(z),
 * log p(x|z) and their gradients at z (varia_joint_grads). The chains carry
 * the two gradients apart so that d log f_beta / dz = gz + beta gx is formed
 * for any beta without a pass; a transition updates all five to the chain's
 * new state (the proposal's, computed at its last leapfrog step, or the old
 * state's kept), so the next step's weight increment and transition need no
 * pass of their own. */
typedef struct varia_hmc {
    varia_joint *j;
    const float *x;   /* [groups * D]: group b's example */
    int64_t groups, chains, E, leapfrog;
    float *z, *gz, *gx; /* [n * E] */
    double *lpz, *lpx; /* [n] */
    varia_rng *rng;   /* [n]: each row's stream */
    double *step;     /* [groups]: each example's step size */
    int64_t *accepted; /* [groups]: proposals accepted so far */
    /* scratch the transition uses: */
    float *zn, *p, *gzn, *gxn; /* [n * E] */
    double *lpzn, *lpxn, *h0; /* [n] */
    double *prob;     /* [n]: each row's Metropolis acceptance probability */
    /* The rows may be part of each example's chains, the others elsewhere
     * (ais.c's parts): share, when not NULL, turns prob (this part's rows)
     * into all[groups * total], every chain's in chain order per group, and
     * returns 0 when it cannot; NULL: the rows are every chain (all = prob,
     * total = chains). */
    int (*share)(void *arg, const double *prob, double *all);
    void *share_arg;
    double *all;
    int64_t total;
    /* AIS+encoder, when qmu is not NULL: the target is log f = (1 - beta)
     * log q(z|x) + beta (log p(z) + log p(x|z)) with q = N(qmu, 1 / qiv) of
     * the row's group; log q's gradient is analytic, so no pass computes it.
     * qmu, qiv [groups * E]; qc [groups]: log q's constant, -sum(log var)/2 -
     * E log(2 pi)/2; lq [n]: log q at z (carried like lpz), lqn [n] scratch. */
    const float *qmu, *qiv;
    const double *qc;
    double *lq, *lqn;
} varia_hmc;

/* log q(z|x) of row r of h at z[E] (h->qmu set), in double. */
double varia_hmc_logq(const varia_hmc *h, int64_t r, const float *z);

/* One HMC trajectory per row under log f = log p(z) + beta log p(x|z) (or
 * AIS+encoder's, above):
 * momentum p ~ N(0, I) from the row's stream, `leapfrog` leapfrog steps of
 * its group's step size, then the Metropolis test with a uniform from the
 * same stream; then each group's step size is adapted on the mean
 * probability over all its chains, summed in chain order (hmc.c says how).
 * Returns 0 when the tape ran out of memory or share failed. */
int varia_hmc_transition(varia_hmc *h, double beta);

#endif

/* HMC transitions (Neal 2011) over rows of latents (hmc.h): leapfrog
 * integration of H(z, p) = -log f(z) + |p|^2 / 2 with the gradient from the
 * tape, a Metropolis correction, and the step-size adaptation of Wu et al.
 * 2017.
 *
 * Step-size adaptation is per example: the C chains of one example share one
 * step size, multiplied by 1.02 after a transition whose mean Metropolis
 * acceptance probability over those chains exceeds 0.65, by 0.98 otherwise,
 * and clipped to [1e-4, 0.5]. Per example, because then an example's result
 * depends on nothing but its own chains: not on which examples share a
 * batch, how many threads run, or how many examples the call scores; per
 * chain would adapt on a single noisy accept bit. The mean probability
 * rather than the fraction accepted: the same target with less noise, and a
 * deterministic function of the chains' states. */
#include "hmc.h"

#include <math.h>
#include <string.h>

double varia_hmc_logq(const varia_hmc *h, int64_t r, const float *z)
{
    int64_t b = r / h->chains, E = h->E;
    const float *mu = h->qmu + b * E, *iv = h->qiv + b * E;
    double q = 0.0;
    for (int64_t d = 0; d < E; d++) {
        double u = (double)z[d] - mu[d];
        q += u * u * iv[d];
    }
    return h->qc[b] - 0.5 * q;
}

/* log f_beta of a row from its densities (lq unused without an encoder). */
static double log_f(const varia_hmc *h, double lpz, double lpx, double lq, double beta)
{
    return h->qmu ? (1.0 - beta) * lq + beta * (lpz + lpx) : lpz + beta * lpx;
}

/* p ~ N(0, I) per row from the row's stream; h0 = -log f(z) + |p|^2 / 2. */
static void draw_momentum(varia_hmc *h, double beta)
{
    int64_t n = h->groups * h->chains, E = h->E;
    for (int64_t r = 0; r < n; r++) {
        float *p = h->p + r * E;
        varia_rng_normals(&h->rng[r], p, E);
        double k = 0.0;
        for (int64_t d = 0; d < E; d++)
            k += (double)p[d] * p[d];
        h->h0[r] = -log_f(h, h->lpz[r], h->lpx[r], h->lq ? h->lq[r] : 0.0, beta) + 0.5 * k;
    }
}

/* AIS+encoder's kick: p += c * step * ((1 - beta) d log q + beta (gz +
 * gx)) at z, d log q = -(z - qmu) qiv. */
static void kick_q(varia_hmc *h, const float *z, const float *gz, const float *gx, double beta, double c)
{
    int64_t n = h->groups * h->chains, E = h->E;
    float a = (float)(1.0 - beta), b = (float)beta;
    for (int64_t r = 0; r < n; r++) {
        float s = (float)(c * h->step[r / h->chains]);
        const float *mu = h->qmu + (r / h->chains) * E, *iv = h->qiv + (r / h->chains) * E;
        for (int64_t d = 0; d < E; d++) {
            float gq = -(z[r * E + d] - mu[d]) * iv[d];
            h->p[r * E + d] += s * (a * gq + b * (gz[r * E + d] + gx[r * E + d]));
        }
    }
}

/* p += c * step * (gz + beta gx), per row at its group's step (c = 1/2 or
 * 1): the gradient of log f_beta at z from the two the chains carry, in
 * float (AIS+encoder: kick_q). */
static void kick(varia_hmc *h, const float *z, const float *gz, const float *gx, double beta, double c)
{
    if (h->qmu) {
        kick_q(h, z, gz, gx, beta, c);
        return;
    }
    int64_t n = h->groups * h->chains, E = h->E;
    float b = (float)beta;
    for (int64_t r = 0; r < n; r++) {
        float s = (float)(c * h->step[r / h->chains]);
        for (int64_t d = 0; d < E; d++)
            h->p[r * E + d] += s * (gz[r * E + d] + b * gx[r * E + d]);
    }
}

/* zn += step * p, per row. */
static void drift(varia_hmc *h)
{
    int64_t n = h->groups * h->chains, E = h->E;
    for (int64_t r = 0; r < n; r++) {
        float s = (float)h->step[r / h->chains];
        for (int64_t d = 0; d < E; d++)
            h->zn[r * E + d] += s * h->p[r * E + d];
    }
}

/* Accept row r's proposal with probability min(1, exp(h0 - h1)) (a
 * non-finite h1, a trajectory that diverged, is rejected); returns that
 * probability. The uniform is drawn whatever happens, so every row's stream
 * advances alike. */
static double metropolis(varia_hmc *h, int64_t r, double beta)
{
    int64_t E = h->E;
    double k = 0.0;
    for (int64_t d = 0; d < E; d++)
        k += (double)h->p[r * E + d] * h->p[r * E + d];
    double lqn = h->qmu ? (h->lqn[r] = varia_hmc_logq(h, r, h->zn + r * E)) : 0.0;
    double h1 = -log_f(h, h->lpzn[r], h->lpxn[r], lqn, beta) + 0.5 * k, u = varia_rng_uniform(&h->rng[r]);
    double prob = isfinite(h1) ? (h->h0[r] - h1 >= 0.0 ? 1.0 : exp(h->h0[r] - h1)) : 0.0;
    if (u < prob) { /* the chain's state is the proposal's, gradients and densities with it */
        memcpy(h->z + r * E, h->zn + r * E, (size_t)E * sizeof *h->z);
        memcpy(h->gz + r * E, h->gzn + r * E, (size_t)E * sizeof *h->gz);
        memcpy(h->gx + r * E, h->gxn + r * E, (size_t)E * sizeof *h->gx);
        h->lpz[r] = h->lpzn[r];
        h->lpx[r] = h->lpxn[r];
        if (h->qmu)
            h->lq[r] = lqn;
        h->accepted[r / h->chains]++;
    }
    return prob;
}

/* Each group's step size from the mean acceptance probability over all its
 * chains (the rows here and, with share, elsewhere), summed in chain order. */
static void adapt(varia_hmc *h)
{
    const double *all = h->share ? h->all : h->prob;
    int64_t C = h->share ? h->total : h->chains;
    for (int64_t b = 0; b < h->groups; b++) {
        double mean = 0.0;
        for (int64_t c = 0; c < C; c++)
            mean += all[b * C + c];
        double s = h->step[b] * (mean / (double)C > VARIA_HMC_TARGET ? VARIA_HMC_INC : VARIA_HMC_DEC);
        h->step[b] = s < VARIA_HMC_STEP_MIN ? VARIA_HMC_STEP_MIN : s > VARIA_HMC_STEP_MAX ? VARIA_HMC_STEP_MAX : s;
    }
}

int varia_hmc_transition(varia_hmc *h, double beta)
{
    int64_t n = h->groups * h->chains, C = h->chains;
    draw_momentum(h, beta);
    memcpy(h->zn, h->z, (size_t)(n * h->E) * sizeof *h->zn);
    kick(h, h->z, h->gz, h->gx, beta, 0.5);
    for (int64_t l = 1; l <= h->leapfrog; l++) {
        drift(h);
        if (!varia_joint_grads(h->j, h->x, C, h->zn, n, h->lpzn, h->lpxn, h->gzn, h->gxn))
            return 0;
        kick(h, h->zn, h->gzn, h->gxn, beta, l < h->leapfrog ? 1.0 : 0.5);
    }
    for (int64_t r = 0; r < n; r++)
        h->prob[r] = metropolis(h, r, beta);
    return (!h->share || h->share(h->share_arg, h->prob, h->all)) && (adapt(h), 1);
}

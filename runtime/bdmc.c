/* Bidirectional Monte Carlo (Grosse, Ghahramani & Adams 2015; Wu et al.
 * 2017): on data simulated from the model, where an exact posterior sample
 * comes with every example, AIS forward gives a stochastic lower bound on
 * log p(x) and AIS in reverse from that sample a stochastic upper bound; the
 * gap bounds AIS's error on such data. */
#include "ais.h"

#include "joint_tape.h"
#include "passes.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Examples simulated per pass. */
#define SIM_ROWS 256

/* x ~ p(x | z) from its mean E[x|z] and the example's stream: a Bernoulli
 * draw per element, or mean + sigma * N(0, 1) under the Gaussian
 * observation model. */
static void observe(varia_rng *rng, const float *mean, int64_t D, double sigma2, float *x)
{
    if (sigma2 > 0.0) {
        varia_rng_normals(rng, x, D);
        for (int64_t d = 0; d < D; d++)
            x[d] = mean[d] + (float)sqrt(sigma2) * x[d];
        return;
    }
    for (int64_t d = 0; d < D; d++)
        x[d] = varia_rng_uniform(rng) < (double)mean[d] ? 1.0f : 0.0f;
}

/* n examples simulated into x[n * D] with their latents z[n * E]: example
 * i's noise, then its observation, from the stream keyed by (seed, first + i). */
static varia_status simulate(varia_ctx *ctx, const varia_model *m, int64_t n, double sigma2, uint64_t seed,
                             int64_t first, float *x, float *z)
{
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    varia_joint_consts consts;
    varia_status st = varia_joint_consts_init(ctx, m, &consts);
    varia_joint jt;
    int open = varia_joint_open(&jt, &consts, NAN);
    float *eps = malloc((size_t)(SIM_ROWS * E) * sizeof *eps), *mean = malloc((size_t)(SIM_ROWS * D) * sizeof *mean);
    varia_rng *rng = malloc(SIM_ROWS * sizeof *rng);
    if (st == VARIA_OK && (!open || !eps || !mean || !rng))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "bdmc: out of memory simulating the data");
    for (int64_t r0 = 0; st == VARIA_OK && r0 < n; r0 += SIM_ROWS) {
        int64_t b = n - r0 < SIM_ROWS ? n - r0 : SIM_ROWS;
        for (int64_t i = 0; i < b; i++) {
            varia_rng_init(&rng[i], seed, VARIA_STREAM_SIMULATE, (uint64_t)(first + r0 + i), 0);
            varia_rng_normals(&rng[i], eps + i * E, E);
        }
        if (!varia_joint_prior(&jt, eps, b, z + r0 * E, mean))
            st = varia_fail(ctx, VARIA_ERR_NOMEM, "bdmc: out of memory simulating the data");
        for (int64_t i = 0; st == VARIA_OK && i < b; i++)
            observe(&rng[i], mean + i * D, D, sigma2, x + (r0 + i) * D);
    }
    free(eps);
    free(mean);
    free(rng);
    varia_joint_close(&jt);
    varia_joint_consts_free(&consts);
    if (st == VARIA_OK)
        st = varia_check_output(ctx, x, n, D, "bdmc (simulated data)");
    return st;
}

varia_status varia_bdmc_bounds(varia_ctx *ctx, const varia_model *m, int64_t n, const varia_ais_opts *opts,
                               float *x_out, varia_ais_row *lower, varia_ais_row *upper)
{
    varia_status st = varia_check_model(ctx, m, lower, n, "bdmc");
    if (st != VARIA_OK)
        return st;
    if (n < 1 || !lower || !upper)
        return varia_fail(ctx, VARIA_ERR_ARG, "bdmc: needs at least one example and rows for both bounds");
    varia_ais_call c;
    if ((st = varia_ais_resolve(ctx, m, opts, "bdmc", &c)) != VARIA_OK)
        return st;
    /* simulated through the observation model, else the model's own
     * likelihood: Bernoulli, or Gaussian of one fixed variance */
    double sim = c.sigma2;
    if (m->info.likelihood == VARIA_LIK_GAUSSIAN && sim == 0.0)
        sim = m->family->fixed_var ? m->family->fixed_var(m->cfg) : 0.0;
    if (m->info.likelihood == VARIA_LIK_GAUSSIAN && !(sim > 0.0))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "bdmc: simulating from the model's own Gaussian likelihood needs "
                          "its variance to be one fixed number (this one's is learned or comes from the decoder): set "
                          "varia_ais_opts.sigma2 (the Gaussian observation model)");
    c.binarize = VARIA_BIN_NONE; /* simulated data are already draws */
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    float *x = x_out ? x_out : malloc((size_t)(n * D) * sizeof *x), *z = malloc((size_t)(n * E) * sizeof *z);
    if (!x || !z)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "bdmc: out of memory for %lld simulated examples", (long long)n);
    if (st == VARIA_OK)
        st = simulate(ctx, m, n, sim, c.seed, c.first, x, z);
    if (st == VARIA_OK)
        st = varia_ais_run(ctx, m, x, n, &c, NULL, 0, 2 * n * c.steps, lower);
    if (st == VARIA_OK)
        st = varia_ais_run(ctx, m, x, n, &c, z, n * c.steps, 2 * n * c.steps, upper);
    if (x != x_out)
        free(x);
    free(z);
    return st;
}

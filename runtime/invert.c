/* Inversion of a decoder-only model (a GAN has no encoder): for each example
 * x, z* = argmax_z log p(z) + log p(x | z) under the Gaussian observation
 * model N(x; E[x|z], s2 I), by gradient ascent through the runtime's tape
 * (the weights constant: joint_tape.h) from several seeded starts, keeping
 * the start that ends highest. What `encode` means for such a model; never an
 * encoder's guess. The starts of an example are rows of one pass; examples
 * run one after another on the calling thread, so the result depends only on
 * (seed, example), never on threads or batching. */
#include "api.h"
#include "joint_tape.h"
#include "passes.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STARTS_MAX 256
#define STEPS_MAX 100000
#define LR0 0.05   /* Adam's rate, decayed linearly to LR0 / 10: the latent is O(1) */

/* One example's starts (rows of z[starts * E]) optimised in place by Adam
 * on -log f; their final log f in logf[starts]. m1, m2, g: scratch of
 * starts * E. Returns 0 when the tape ran out of memory. */
static int ascend(varia_joint *j, const float *x, int64_t starts, int64_t E, int64_t steps, float *z, float *m1,
                  float *m2, float *g, double *lpz, double *lpx, double *logf)
{
    memset(m1, 0, (size_t)(starts * E) * sizeof(float));
    memset(m2, 0, (size_t)(starts * E) * sizeof(float));
    for (int64_t t = 1; t <= steps; t++) {
        if (!varia_joint_grad(j, x, starts, z, starts, 1.0, lpz, lpx, g))
            return 0;
        double lr = LR0 * (1.0 - 0.9 * (double)(t - 1) / (double)steps);
        double c1 = 1.0 - pow(0.9, (double)t), c2 = 1.0 - pow(0.999, (double)t);
        for (int64_t i = 0; i < starts * E; i++) { /* ascent: the gradient of log f */
            m1[i] = 0.9f * m1[i] + 0.1f * g[i];
            m2[i] = 0.999f * m2[i] + 0.001f * g[i] * g[i];
            z[i] += (float)(lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + 1e-8));
        }
    }
    if (!varia_joint_grad(j, x, starts, z, starts, 1.0, lpz, lpx, g))
        return 0;
    for (int64_t s = 0; s < starts; s++)
        logf[s] = lpz[s] + lpx[s];
    return 1;
}

/* The checks of the options, each naming its field; *s2 resolved (the
 * caller's, or the manifest's). */
static varia_status check(varia_ctx *ctx, const varia_model *m, const varia_invert_opts *o, double *s2)
{
    if (!m->family->joint || m->info.has_encoder)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "invert: family '%s' %s", m->info.family,
                          m->info.has_encoder ? "has an encoder: use encode" : "has no joint density to optimise");
    if (!o || o->size < sizeof *o || o->reserved)
        return varia_fail(ctx, VARIA_ERR_ARG, "invert: varia_invert_opts.size must be sizeof(varia_invert_opts) and "
                          "reserved 0");
    if (o->starts < 1 || o->starts > STARTS_MAX)
        return varia_fail(ctx, VARIA_ERR_ARG, "invert: varia_invert_opts.starts = %lld outside [1, %d]",
                          (long long)o->starts, STARTS_MAX);
    if (o->steps < 1 || o->steps > STEPS_MAX)
        return varia_fail(ctx, VARIA_ERR_ARG, "invert: varia_invert_opts.steps = %lld outside [1, %d]",
                          (long long)o->steps, STEPS_MAX);
    *s2 = o->sigma2 == 0.0 && m->family->obs_var ? m->family->obs_var(m->cfg) : o->sigma2;
    if (!(*s2 > 0.0) || !isfinite(*s2) || !isfinite(log(*s2)))
        return varia_fail(ctx, VARIA_ERR_ARG, "invert: varia_invert_opts.sigma2 = %g: give a positive observation "
                          "variance (the manifest gives none)", o->sigma2);
    return VARIA_OK;
}

varia_status varia_invert(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, const varia_invert_opts *o,
                          float *z_out, double *mse)
{
    double s2 = 0.0;
    varia_status st = varia_check_model(ctx, m, x, n, "invert");
    if (st == VARIA_OK)
        st = check(ctx, m, o, &s2);
    if (st == VARIA_OK && n > 0 && !z_out)
        st = varia_fail(ctx, VARIA_ERR_ARG, "invert: null output");
    int64_t D = m ? m->info.data_size : 0, E = m ? varia_model_noise(m) : 0, L = m ? m->info.latent_size : 0;
    if (st == VARIA_OK)
        st = varia_check_finite(ctx, x, n, D, "invert: input");
    if (st != VARIA_OK)
        return st;
    int64_t S = o->starts;
    varia_joint_consts c = {0};
    varia_joint j = {0};
    float *buf = malloc((size_t)(4 * S * E + D + L) * sizeof(float)), *ws = varia_ws_get(ctx, m, 1, 0);
    double *d = malloc((size_t)(3 * S) * sizeof(double));
    st = buf && d && ws ? varia_joint_consts_init(ctx, m, &c) : varia_fail(ctx, VARIA_ERR_NOMEM, "invert: out of memory");
    if (st == VARIA_OK && !varia_joint_open(&j, &c, (float)log(s2)))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "invert: out of memory for the tape");
    float *z = buf, *m1 = z + S * E, *m2 = m1 + S * E, *g = m2 + S * E, *xh = g + S * E, *zd = xh + D;
    for (int64_t i = 0; st == VARIA_OK && i < n; i++) {
        for (int64_t s = 0; s < S; s++) { /* start s of example i: its own stream */
            varia_rng rng;
            varia_rng_init(&rng, o->seed, VARIA_STREAM_INVERT, (uint64_t)i, (uint64_t)s);
            varia_rng_normals(&rng, z + s * E, E);
        }
        if (!ascend(&j, x + i * D, S, E, o->steps, z, m1, m2, g, d, d + S, d + 2 * S)) {
            st = varia_fail(ctx, VARIA_ERR_NOMEM, "invert: out of memory for the tape");
            break;
        }
        int64_t best = 0;
        for (int64_t s = 1; s < S; s++) /* the first of equals: a fixed rule */
            best = d[2 * S + s] > d[2 * S + best] ? s : best;
        varia_run_generate(m, ws, NULL, 1, z + best * E, 1.0f, xh, zd); /* the latent as decode takes it */
        memcpy(z_out + i * L, zd, (size_t)L * sizeof(float));
        double e = 0.0;
        for (int64_t k = 0; k < D; k++)
            e += ((double)x[i * D + k] - xh[k]) * ((double)x[i * D + k] - xh[k]);
        if (mse)
            mse[i] = e / (double)D;
    }
    varia_joint_close(&j);
    varia_joint_consts_free(&c);
    free(buf);
    free(d);
    return st == VARIA_OK ? varia_check_output(ctx, z_out, n, L, "invert") : st;
}

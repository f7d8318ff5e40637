/* Inversion of a decoder-only model (a GAN has no encoder): for each example
 * x, z* = argmax_z log p(z) + log p(x | z) under the Gaussian observation
 * model N(x; E[x|z], s2 I), by gradient ascent through the runtime's tape
 * (the weights constant: joint_tape.h) from several seeded starts, keeping
 * the start that ends highest. What `encode` means for such a model; never an
 * encoder's guess. The starts of an example are rows of one pass; examples
 * are taken in turn by the context's pool workers, each with its own tape,
 * buffers and workspace, and an example's result depends only on (seed,
 * example) and its data, never on the threads or which worker ran it. */
#include "api.h"
#include "ctx.h"
#include "joint_tape.h"
#include "passes.h"
#include "pool.h"
#include "rng.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define STARTS_MAX 256
#define STEPS_MAX 100000
#define LR0 0.05   /* Adam's rate, decayed linearly to LR0 / 10: the latent is O(1) */

/* One example's starts (rows of z[starts * E]) optimised in place by Adam
 * on -log f; their final log p(z) and log p(x|z) in lpz[starts], lpx[starts].
 * m1, m2, g: scratch of starts * E. Returns 0 when the tape ran out of memory. */
static int ascend(varia_joint *j, const float *x, int64_t starts, int64_t E, int64_t steps, float *z, float *m1,
                  float *m2, float *g, double *lpz, double *lpx)
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
    return varia_joint_grad(j, x, starts, z, starts, 1.0, lpz, lpx, g);
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

/* What the workers share: the call, the bound weights, the next example to
 * take and whether any worker ran out of memory. */
typedef struct invert_job {
    varia_ctx *ctx;
    const varia_model *m;
    const float *x;
    int64_t n;
    const varia_invert_opts *o;
    float obs_logvar;
    varia_joint_consts consts;
    float *z_out;
    varia_invert_row *rows;
    atomic_llong next;
    atomic_int oom;
} invert_job;

/* A worker's memory: the starts' latents and Adam's moments, the gradient,
 * E[x|z*], the latent decode takes, and the starts' log densities. */
typedef struct invert_mem {
    float *buf, *z, *m1, *m2, *g, *xh, *zd, *ws;
    double *d;
} invert_mem;

/* Example i by worker w (its tape jt, memory w): starts drawn from their
 * streams, ascended, the best kept (the first of equals: a fixed rule), its
 * latent and row written. Returns 0 when the tape ran out of memory. */
static int invert_one(invert_job *j, varia_joint *jt, invert_mem *w, int64_t i)
{
    int64_t S = j->o->starts, E = varia_model_noise(j->m), D = j->m->info.data_size, L = j->m->info.latent_size;
    for (int64_t s = 0; s < S; s++) { /* start s of example i: its own stream */
        varia_rng rng;
        varia_rng_init(&rng, j->o->seed, VARIA_STREAM_INVERT, (uint64_t)i, (uint64_t)s);
        varia_rng_normals(&rng, w->z + s * E, E);
    }
    if (!ascend(jt, j->x + i * D, S, E, j->o->steps, w->z, w->m1, w->m2, w->g, w->d, w->d + S))
        return 0;
    int64_t best = 0;
    for (int64_t s = 1; s < S; s++)
        best = w->d[s] + w->d[S + s] > w->d[best] + w->d[S + best] ? s : best;
    varia_run_generate(j->m, w->ws, NULL, 1, w->z + best * E, 1.0f, w->xh, w->zd); /* the latent as decode takes it */
    memcpy(j->z_out + i * L, w->zd, (size_t)L * sizeof(float));
    double e = 0.0;
    for (int64_t k = 0; k < D; k++)
        e += ((double)j->x[i * D + k] - w->xh[k]) * ((double)j->x[i * D + k] - w->xh[k]);
    if (j->rows)
        j->rows[i] = (varia_invert_row){e / (double)D, w->d[best], w->d[S + best]};
    return 1;
}

/* A pool worker: its own tape and buffers, examples taken in turn until none
 * is left; out of memory is flagged for the caller. */
static void invert_worker(void *arg, int worker)
{
    invert_job *j = arg;
    int64_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n)
        return; /* nothing left: spare the buffers */
    int64_t S = j->o->starts, E = varia_model_noise(j->m), D = j->m->info.data_size, L = j->m->info.latent_size;
    invert_mem w = {.buf = malloc((size_t)(4 * S * E + D + L) * sizeof(float)),
                    .d = malloc((size_t)(2 * S) * sizeof(double))};
    varia_joint jt = {0};
    int ok = w.buf && w.d && varia_scratch_get(j->ctx, worker, varia_model_ws(j->m), 0, &w.ws, NULL) &&
             varia_joint_open(&jt, &j->consts, j->obs_logvar);
    if (ok) {
        w.z = w.buf, w.m1 = w.z + S * E, w.m2 = w.m1 + S * E, w.g = w.m2 + S * E, w.xh = w.g + S * E;
        w.zd = w.xh + D;
    }
    for (; ok && i < j->n; i = atomic_fetch_add(&j->next, 1))
        ok = invert_one(j, &jt, &w, i);
    if (!ok)
        atomic_store(&j->oom, 1);
    varia_joint_close(&jt);
    free(w.buf);
    free(w.d);
}

varia_status varia_invert_rows(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                               const varia_invert_opts *o, float *z_out, varia_invert_row *rows)
{
    double s2 = 0.0;
    varia_status st = varia_check_model(ctx, m, x, n, "invert");
    if (st == VARIA_OK)
        st = check(ctx, m, o, &s2);
    if (st == VARIA_OK && n > 0 && !z_out)
        st = varia_fail(ctx, VARIA_ERR_ARG, "invert: null output");
    if (st == VARIA_OK)
        st = varia_check_finite(ctx, x, n, m->info.data_size, "invert: input");
    if (st != VARIA_OK || n == 0)
        return st;
    invert_job j = {.ctx = ctx, .m = m, .x = x, .n = n, .o = o, .obs_logvar = (float)log(s2), .z_out = z_out,
                    .rows = rows};
    atomic_init(&j.next, 0);
    atomic_init(&j.oom, 0);
    struct varia_pool *pool = n > 1 ? varia_ctx_pool(ctx) : NULL; /* one example: no pool to wake */
    st = varia_joint_consts_init(ctx, m, &j.consts);
    if (st == VARIA_OK && pool)
        varia_pool_run(pool, invert_worker, &j);
    else if (st == VARIA_OK)
        invert_worker(&j, 0);
    varia_joint_consts_free(&j.consts);
    if (st == VARIA_OK && atomic_load(&j.oom))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "invert: out of memory for the tape or its buffers");
    return st == VARIA_OK ? varia_check_output(ctx, z_out, n, m->info.latent_size, "invert") : st;
}

varia_status varia_invert(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, const varia_invert_opts *o,
                          float *z_out, double *mse)
{
    varia_invert_row *rows = mse && n > 0 ? malloc((size_t)n * sizeof *rows) : NULL;
    if (mse && n > 0 && !rows)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "invert: out of memory for %lld rows", (long long)n);
    varia_status st = varia_invert_rows(ctx, m, x, n, o, z_out, rows);
    for (int64_t i = 0; st == VARIA_OK && rows && i < n; i++)
        mse[i] = rows[i].mse;
    free(rows);
    return st;
}

/* The public operations, written once for every family: argument checks,
 * input validation, batching into bounded workspace, per-sample random streams.
 * Rows are independent, so batching never changes a result. */
#include "api.h"

#include "ais.h"
#include "passes.h"
#include "pool.h"
#include "rng.h"

#include <stdatomic.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

varia_status varia_check_model(varia_ctx *ctx, const varia_model *m, const void *p, int64_t n, const char *op)
{
    if (!ctx || !m || (!p && n > 0))
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: null argument", op);
    if (n < 0 || n > VARIA_MAX_ROWS)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: count %lld outside [0, %lld]", op, (long long)n,
                          (long long)VARIA_MAX_ROWS);
    return VARIA_OK;
}

varia_status varia_check_finite(varia_ctx *ctx, const float *x, int64_t n, int64_t d, const char *what)
{
    int64_t i = varia_find_bad(x, n * d, 0);
    if (i < 0)
        return VARIA_OK;
    return varia_fail(ctx, VARIA_ERR_NONFINITE, "%s %lld, element %lld is %s", what, (long long)(i / d),
                      (long long)(i % d), isnan(x[i]) ? "NaN" : "infinite");
}

varia_status varia_check_output(varia_ctx *ctx, const float *y, int64_t n, int64_t d, const char *op)
{
    int64_t i = y ? varia_find_bad(y, n * d, 1) : -1;
    if (i < 0)
        return VARIA_OK;
    return varia_fail(ctx, VARIA_ERR_NONFINITE, "%s: output %lld, element %lld is NaN (weights or input too extreme)",
                      op, (long long)(i / d), (long long)(i % d));
}

varia_status varia_check_unit_range(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, int force,
                                    const char *op)
{
    if (m->info.likelihood != VARIA_LIK_BERNOULLI && !force)
        return VARIA_OK;
    int64_t D = m->info.data_size, i = varia_find_outside(x, n * D, 0.0f, 1.0f);
    int seq = (m->family->needs & VARIA_FAMILY_SEQ_LEN) != 0; /* rows are frames: n counts every example's */
    if (i >= 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: %s %lld, element %lld = %g is outside [0, 1]%s", op,
                          seq ? "frame (of all the examples' seq_len each)" : "example", (long long)(i / D),
                          (long long)(i % D), (double)x[i],
                          m->info.likelihood == VARIA_LIK_BERNOULLI
                              ? " (a Bernoulli model reads intensities in [0, 1], not 0..255)"
                              : " (dynamic binarization reads each value as a probability)");
    return VARIA_OK;
}

float *varia_ws_get(varia_ctx *ctx, const varia_model *m, int64_t rows, size_t extra)
{
    float *ws;
    if (!varia_scratch_get(ctx, 0, varia_model_ws(m) + extra, 0, &ws, NULL)) {
        varia_fail(ctx, VARIA_ERR_NOMEM, "cannot allocate workspace for %lld rows", (long long)rows);
        return NULL;
    }
    return ws;
}

static varia_status unsupported(varia_ctx *ctx, const varia_model *m, const char *op)
{
    return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "family '%s' cannot %s", m->info.family, op);
}

/* An operation over n rows, split into batches of VARIA_BATCH rows that the
 * context's pool workers take in turn; each worker has its own workspace. A
 * single batch runs on the calling thread, so small calls never wake the pool. */
struct batch_job;
typedef void (*batch_fn)(const struct batch_job *j, float *ws, int64_t r, int64_t b);

typedef struct batch_job {
    varia_ctx *ctx;
    const varia_model *m;
    int64_t n;
    size_t extra; /* floats each worker needs beyond the family's workspace */
    batch_fn fn;
    struct varia_pool *team; /* set when one batch is the whole call */
    const float *in;
    float *out, *out2;
    varia_decode_kind kind;
    uint64_t seed;
    float temperature;
    atomic_llong next;
    atomic_int oom;
    atomic_llong *bad_row; /* reconstruct: lowest row whose latent is not finite */
    int seq;                /* a sequence family: rows are T steps long, the runners varia_run_seq_* */
    int64_t T;              /* steps per row (1 unless seq) */
    const int64_t *lengths; /* [n] each example's steps, or NULL: all T */
} batch_job;

/* The call's steps on j (a sequence family's seq_len; else 1). */
static void set_steps(batch_job *j, const varia_call *c)
{
    j->seq = (j->m->family->needs & VARIA_FAMILY_SEQ_LEN) != 0;
    j->T = varia_call_steps(j->m, c);
    j->lengths = j->seq ? c->lengths : NULL;
}

/* Rows [r, r + b) of j's sequences: T steps, their lengths. */
static varia_seq seq_at(const batch_job *j, int64_t r)
{
    return (varia_seq){j->T, j->lengths ? j->lengths + r : NULL};
}

static void batch_worker(void *arg, int worker)
{
    batch_job *j = arg;
    size_t nws = varia_model_ws(j->m) + j->extra;
    float *ws;
    if (!varia_scratch_get(j->ctx, worker, nws, 0, &ws, NULL)) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int64_t k; (k = atomic_fetch_add(&j->next, 1)) * VARIA_BATCH < j->n;) {
        int64_t r = k * VARIA_BATCH, b = j->n - r < VARIA_BATCH ? j->n - r : VARIA_BATCH;
        j->fn(j, ws, r, b);
    }
}

static varia_status run_batches(batch_job *j)
{
    atomic_init(&j->next, 0);
    atomic_init(&j->oom, 0);
    /* Several batches: the workers share them out. One: they share its layers. */
    struct varia_pool *pool = varia_ctx_pool(j->ctx);
    if (j->n > VARIA_BATCH && pool) {
        j->team = NULL;
        varia_pool_run(pool, batch_worker, j);
    } else {
        j->team = pool;
        batch_worker(j, 0);
    }
    return atomic_load(&j->oom) ? varia_fail(j->ctx, VARIA_ERR_NOMEM, "cannot allocate workspace") : VARIA_OK;
}

static void encode_batch(const batch_job *j, float *ws, int64_t r, int64_t b)
{
    int64_t D = j->m->info.data_size * j->T, L = j->m->info.latent_size * j->T;
    float *mean = j->out ? j->out + r * L : NULL, *lv = j->out2 ? j->out2 + r * L : NULL;
    varia_seq s = seq_at(j, r);
    if (j->seq)
        varia_run_seq_encode(j->m, ws, j->team, &s, j->in + r * D, b, mean, lv);
    else
        varia_run_encode(j->m, ws, j->team, j->in + r * D, b, mean, lv);
}

static void decode_batch(const batch_job *j, float *ws, int64_t r, int64_t b)
{
    int64_t D = j->m->info.data_size * j->T, L = j->m->info.latent_size * j->T;
    varia_seq s = seq_at(j, r);
    if (j->seq)
        varia_run_seq_decode(j->m, ws, j->team, &s, j->in + r * L, b, j->kind, j->out + r * D,
                             j->out2 ? j->out2 + r * D : NULL);
    else
        varia_run_decode(j->m, ws, j->team, j->in + r * L, b, j->kind, j->out + r * D, j->out2 ? j->out2 + r * D : NULL);
}

static void sample_batch(const batch_job *j, float *ws, int64_t r, int64_t b)
{
    const varia_model *m = j->m;
    int64_t D = m->info.data_size * j->T, L = m->info.latent_size * j->T, E = varia_model_noise(m) * j->T;
    float *eps = ws + varia_model_ws(m), *z = j->out2 ? j->out2 + r * L : NULL;
    for (int64_t i = 0; i < b; i++) { /* sample r+i depends only on (seed, r+i) */
        varia_rng rng;
        varia_rng_init(&rng, j->seed, VARIA_STREAM_SAMPLE, (uint64_t)(r + i), 0);
        varia_rng_normals(&rng, eps + i * E, E);
    }
    varia_seq s = seq_at(j, r);
    if (j->seq)
        varia_run_seq_generate(m, ws, j->team, &s, b, eps, j->temperature, j->out + r * D, z);
    else
        varia_run_generate(m, ws, j->team, b, eps, j->temperature, j->out + r * D, z);
}

/* The checks every operation on examples makes before running the encoder:
 * arguments, an output where one is required, an encoder, the options
 * (resolved into *c), finite input. */
static varia_status check_encoder_call(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                       int need_out, const varia_opts *opts, const char *op, varia_call *c)
{
    varia_status st = varia_check_model(ctx, m, x, n, op);
    if (st != VARIA_OK)
        return st;
    if (!need_out && n > 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: null output", op);
    char what[64];
    if (!varia_model_can(m, VARIA_CAN_ENCODE)) {
        snprintf(what, sizeof what, "%s (it has no inference network)", op);
        return unsupported(ctx, m, what);
    }
    if ((st = varia_opts_resolve(ctx, m, opts, n, op, c)) != VARIA_OK)
        return st;
    snprintf(what, sizeof what, "%s: example", op);
    if ((st = varia_check_finite(ctx, x, n, m->info.data_size * varia_call_steps(m, c), what)) != VARIA_OK)
        return st;
    return varia_check_unit_range(ctx, m, x, n * varia_call_steps(m, c), 0, op);
}

/* encode of a decoder-only model (a GAN): inversion with its defaults (8
 * starts, 300 steps, the manifest's observation variance, opts' seed): a
 * point, so there is no log-variance to give. */
static varia_status encode_by_inversion(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                        const varia_opts *opts, float *mean, float *logvar)
{
    varia_call c;
    varia_status st = varia_opts_resolve(ctx, m, opts, n, "encode", &c);
    if (st == VARIA_OK && logvar)
        st = varia_fail(ctx, VARIA_ERR_ARG, "encode: family '%s' is inverted (z* maximising log p(z) + log p(x|z)): "
                        "a point, with no log-variance (pass NULL)", m->info.family);
    if (st == VARIA_OK && !mean && n > 0)
        st = varia_fail(ctx, VARIA_ERR_ARG, "encode: null output");
    varia_invert_opts io = {.size = sizeof io, .starts = 8, .steps = 300, .seed = c.seed};
    return st == VARIA_OK ? varia_invert(ctx, m, x, n, &io, mean, NULL) : st;
}

varia_status varia_encode_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                             const varia_opts *opts, float *mean, float *logvar)
{
    varia_call c;
    if (m && !m->info.has_encoder && m->family->joint && m->family->obs_var && m->family->obs_var(m->cfg) > 0.0)
        return encode_by_inversion(ctx, m, x, n, opts, mean, logvar);
    varia_status st = check_encoder_call(ctx, m, x, n, 1, opts, "encode", &c);
    if (st != VARIA_OK || (!mean && !logvar))
        return st;
    int64_t L = m->info.latent_size * varia_call_steps(m, &c);
    batch_job j = {.ctx = ctx, .m = m, .n = n, .fn = encode_batch, .in = x, .out = mean, .out2 = logvar};
    set_steps(&j, &c);
    if ((st = run_batches(&j)) != VARIA_OK)
        return st;
    st = varia_check_output(ctx, mean, n, L, "encode");
    return st == VARIA_OK ? varia_check_output(ctx, logvar, n, L, "encode") : st;
}

/* Row i's latent is drawn by the family's posterior sampling with noise from
 * the row's own stream, so the result does not depend on batching; the noise
 * lives in the worker's extra workspace. */
static void encode_sample_batch(const batch_job *j, float *ws, int64_t r, int64_t b)
{
    const varia_model *m = j->m;
    int64_t D = m->info.data_size * j->T, L = m->info.latent_size * j->T, E = varia_model_noise(m) * j->T;
    float *eps = ws + varia_model_ws(m);
    for (int64_t i = 0; i < b; i++) {
        varia_rng rng;
        varia_rng_init(&rng, j->seed, VARIA_STREAM_ENCODE, (uint64_t)(r + i), 0);
        for (int64_t k = 0; k < E; k++) /* one pair per value: the stream as first published */
            eps[i * E + k] = j->temperature * varia_rng_normal(&rng); /* x 1: the same bits */
    }
    varia_seq s = seq_at(j, r);
    if (j->seq)
        varia_run_seq_posterior_sample(m, ws, j->team, &s, j->in + r * D, b, eps, j->out + r * L, NULL);
    else
        varia_run_posterior_sample(m, ws, j->team, j->in + r * D, b, eps, j->out + r * L, NULL);
}

varia_status varia_encode_sample_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                    const varia_opts *opts, float *z)
{
    varia_call c;
    varia_status st = check_encoder_call(ctx, m, x, n, z != NULL, opts, "encode_sample", &c);
    if (st != VARIA_OK)
        return st;
    int64_t T = varia_call_steps(m, &c), L = m->info.latent_size * T;
    batch_job j = {.ctx = ctx, .m = m, .n = n, .extra = (size_t)(VARIA_BATCH * varia_model_noise(m) * T),
                   .fn = encode_sample_batch, .in = x, .out = z, .seed = c.seed, .temperature = c.temperature};
    set_steps(&j, &c);
    if ((st = run_batches(&j)) != VARIA_OK)
        return st;
    return varia_check_output(ctx, z, n, L, "encode_sample");
}

varia_status varia_decode_steps(varia_ctx *ctx, const varia_model *m, const float *z, int64_t n, float *out)
{
    varia_status st = varia_check_model(ctx, m, z, n, "decode_steps");
    if (st != VARIA_OK)
        return st;
    if (!out && n > 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "decode_steps: null output");
    if (!m->family->decode_steps)
        return unsupported(ctx, m, "decode_steps (it does not paint over steps)");
    int64_t L = m->info.latent_size, TD = m->info.latent_shape.dims[0] * m->info.data_size;
    if ((st = varia_check_finite(ctx, z, n, L, "decode_steps: latent")) != VARIA_OK)
        return st;
    float *ws = varia_ws_get(ctx, m, 1, 0);
    if (!ws)
        return VARIA_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) /* row by row: the pass is sized for one (T images a row) */
        varia_run_decode_steps(m, ws, z + i * L, out + i * TD);
    return varia_check_output(ctx, out, n, TD, "decode_steps");
}

varia_status varia_decode_ex(varia_ctx *ctx, const varia_model *m, const float *z, int64_t n,
                             const varia_opts *opts, varia_decode_kind kind, float *out, float *out_logvar)
{
    varia_call c;
    varia_status st = varia_check_model(ctx, m, z, n, "decode");
    if (st != VARIA_OK)
        return st;
    if (!out && n > 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "decode: null output");
    if (kind != VARIA_DECODE_MEAN && kind != VARIA_DECODE_PARAMS)
        return varia_fail(ctx, VARIA_ERR_ARG, "decode: unknown output kind %d", (int)kind);
    if (!varia_model_can(m, VARIA_CAN_SAMPLE))
        return unsupported(ctx, m, "decode");
    if ((st = varia_opts_resolve(ctx, m, opts, n, "decode", &c)) != VARIA_OK)
        return st;
    int64_t T = varia_call_steps(m, &c), D = m->info.data_size * T, L = m->info.latent_size * T;
    if ((st = varia_check_finite(ctx, z, n, L, "decode: latent")) != VARIA_OK)
        return st;
    batch_job j = {.ctx = ctx, .m = m, .n = n, .fn = decode_batch, .in = z, .out = out, .out2 = out_logvar, .kind = kind};
    set_steps(&j, &c);
    if ((st = run_batches(&j)) != VARIA_OK)
        return st;
    st = varia_check_output(ctx, out, n, D, "decode");
    if (st == VARIA_OK && kind == VARIA_DECODE_PARAMS && m->info.likelihood == VARIA_LIK_GAUSSIAN)
        st = varia_check_output(ctx, out_logvar, n, D, "decode");
    return st;
}

varia_status varia_sample_ex(varia_ctx *ctx, const varia_model *m, int64_t n, const varia_opts *opts,
                             float *x_out, float *z_out)
{
    varia_call c;
    varia_status st = varia_check_model(ctx, m, x_out, n, "sample");
    if (st != VARIA_OK)
        return st;
    if (!varia_model_can(m, VARIA_CAN_SAMPLE))
        return unsupported(ctx, m, "sample");
    if ((st = varia_opts_resolve(ctx, m, opts, n, "sample", &c)) != VARIA_OK)
        return st;
    int64_t T = varia_call_steps(m, &c);
    size_t eps = (size_t)(VARIA_BATCH * varia_model_noise(m) * T);
    batch_job j = {.ctx = ctx, .m = m, .n = n, .extra = eps, .fn = sample_batch, .out = x_out, .out2 = z_out,
                   .seed = c.seed, .temperature = c.temperature};
    set_steps(&j, &c);
    if ((st = run_batches(&j)) != VARIA_OK)
        return st;
    return varia_check_output(ctx, x_out, n, m->info.data_size * T, "sample");
}

/* Encode to the posterior mean and decode it, one batch at a time, the means
 * kept in the worker's extra workspace; a non-finite mean is reported by row
 * (the lowest, whatever the threads) rather than decoded into garbage. */
static void reconstruct_batch(const batch_job *j, float *ws, int64_t r, int64_t b)
{
    const varia_model *m = j->m;
    int64_t D = m->info.data_size * j->T, L = m->info.latent_size * j->T;
    float *z = ws + varia_model_ws(m);
    varia_seq s = seq_at(j, r);
    if (j->seq) {
        varia_run_seq_encode(m, ws, j->team, &s, j->in + r * D, b, z, NULL);
    } else if (m->info.flow_steps > 0) { /* q_0's mean pushed through the flow: the posterior's latent */
        float *eps = z + VARIA_BATCH * L;
        memset(eps, 0, (size_t)(b * varia_model_noise(m)) * sizeof *eps);
        varia_run_posterior_sample(m, ws, j->team, j->in + r * D, b, eps, z, NULL);
    } else {
        varia_run_encode(m, ws, j->team, j->in + r * D, b, z, NULL);
    }
    int64_t bad = varia_find_bad(z, b * L, 0);
    if (bad >= 0) {
        long long row = r + bad / L, seen = atomic_load(j->bad_row);
        while (row < seen && !atomic_compare_exchange_weak(j->bad_row, &seen, row))
            ;
        return;
    }
    if (j->seq)
        varia_run_seq_decode(m, ws, j->team, &s, z, b, VARIA_DECODE_MEAN, j->out + r * D, NULL);
    else
        varia_run_decode(m, ws, j->team, z, b, VARIA_DECODE_MEAN, j->out + r * D, NULL);
}

varia_status varia_reconstruct_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                  const varia_opts *opts, float *x_out)
{
    varia_call c;
    varia_status st = check_encoder_call(ctx, m, x, n, x_out != NULL, opts, "reconstruct", &c);
    if (st != VARIA_OK)
        return st;
    int64_t T = varia_call_steps(m, &c), D = m->info.data_size * T;
    atomic_llong bad_row;
    atomic_init(&bad_row, n);
    batch_job j = {.ctx = ctx, .m = m, .n = n,
                   .extra = (size_t)(VARIA_BATCH * (m->info.latent_size * T + varia_model_noise(m))),
                   .fn = reconstruct_batch, .in = x, .out = x_out, .bad_row = &bad_row};
    set_steps(&j, &c);
    if ((st = run_batches(&j)) != VARIA_OK)
        return st;
    long long bad = atomic_load(&bad_row);
    if (bad < n)
        return varia_fail(ctx, VARIA_ERR_NONFINITE,
                          "reconstruct: the encoder's mean for example %lld is not finite (weights or input too extreme)",
                          bad);
    return varia_check_output(ctx, x_out, n, D, "reconstruct");
}

static double norm(const float *v, int64_t L)
{
    double s = 0.0;
    for (int64_t j = 0; j < L; j++)
        s += (double)v[j] * v[j];
    return sqrt(s);
}

/* Step s of `steps` from za to zb (L values each) into out: the weights of
 * za and zb in double, so nothing overflows on the way, and a result beyond
 * float range is reported (0) rather than stored as infinity. Slerp (ca, cb
 * from the angle omega, with sin(omega) = so) keeps the norm on the line
 * from |za| to |zb|, and some of its elements can exceed both endpoints'. */
static int interp_step(const float *za, const float *zb, int64_t L, double t, int slerp, double na, double nb,
                       double omega, double so, float *out)
{
    double ca = 1.0 - t, cb = t;
    if (slerp) { /* unit directions by slerp, the norm by lerp */
        double nt = (1.0 - t) * na + t * nb;
        ca = sin((1.0 - t) * omega) / so / na * nt;
        cb = sin(t * omega) / so / nb * nt;
    }
    /* Below FLT_MAX + half its ulp a double rounds to a finite float; the
     * test is on the double, as converting an out-of-range one is undefined. */
    const double limit = (double)FLT_MAX + 0x1p103;
    for (int64_t j = 0; j < L; j++) {
        double v = ca * za[j] + cb * zb[j];
        if (!(fabs(v) < limit))
            return 0;
        out[j] = (float)v;
    }
    return 1;
}

varia_status varia_interpolate_latents(const float *za, const float *zb, int64_t L, int64_t steps,
                                       varia_interp how, float *out)
{
    if (!za || !zb || !out || L < 1 || steps < 2 || steps > VARIA_MAX_ROWS || (how != VARIA_LERP && how != VARIA_SLERP))
        return VARIA_ERR_ARG;
    if (varia_find_bad(za, L, 0) >= 0 || varia_find_bad(zb, L, 0) >= 0)
        return VARIA_ERR_NONFINITE;
    double na = norm(za, L), nb = norm(zb, L), dot = 0.0;
    for (int64_t j = 0; j < L; j++)
        dot += (double)za[j] * zb[j];
    double cosw = (na > 0 && nb > 0) ? dot / (na * nb) : 1.0;
    double omega = acos(cosw < -1.0 ? -1.0 : cosw > 1.0 ? 1.0 : cosw), so = sin(omega);
    int slerp = how == VARIA_SLERP && so > 1e-6; /* (anti)parallel or zero: lerp */
    for (int64_t s = 0; s < steps; s++)
        if (!interp_step(za, zb, L, (double)s / (double)(steps - 1), slerp, na, nb, omega, so, out + s * L))
            return VARIA_ERR_NONFINITE;
    return VARIA_OK;
}

/* AIS and BDMC are in ais.c and bdmc.c; their entry points are here, beside
 * every other operation's, because a library that embeds the runtime's
 * archive (libvaria_train) takes only the objects something references, and
 * this file is always taken: so every such library exports them. */
varia_status varia_ais(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, const varia_ais_opts *opts,
                       varia_ais_row *rows)
{
    return varia_ais_estimate(ctx, m, x, n, opts, rows);
}

varia_status varia_bdmc(varia_ctx *ctx, const varia_model *m, int64_t n, const varia_ais_opts *opts, float *x_out,
                        varia_ais_row *lower, varia_ais_row *upper)
{
    return varia_bdmc_bounds(ctx, m, n, opts, x_out, lower, upper);
}

/* Estimators written once against the family table: per-example ELBO (with its
 * two terms) and the importance-weighted bound L_k over fixed-size chunks of
 * samples with a running log-sum-exp in double, so memory is bounded for any k.
 * Example i's randomness comes from streams keyed by (seed, i, chunk), and the
 * summary is reduced in example order, so any thread count gives the same bits. */
#include "api.h"
#include "estimator.h"
#include "rng.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Samples per chunk. Part of the definition of the random streams: changing it
 * changes every estimate, so it is fixed. */
#define IW_CHUNK VARIA_WS_ROWS
#define K_CAP ((int64_t)1 << 32)

typedef struct job {
    const varia_model *m;
    const float *x;
    int64_t n;
    const varia_eval_opts *opts;
    varia_eval_row *rows;
    float *means;            /* n * lat_total posterior means, for active units */
    atomic_llong next;
    atomic_llong first_bad;  /* lowest failing example, or n */
    varia_status bad_status;
    char bad_msg[VARIA_MSG_CAP];
    pthread_mutex_t lock;
} job;

typedef struct worker {
    job *j;
    float *ws, *eps, *xb;
    double *log_w, *log_px;
} worker;

static void binarize(const job *j, int64_t i, const float *x, float *xb, int64_t D)
{
    varia_rng rng;
    varia_rng_init(&rng, j->opts->seed, VARIA_STREAM_BINARIZE, (uint64_t)i, 0);
    for (int64_t d = 0; d < D; d++) {
        switch (j->opts->binarize) {
        case VARIA_BIN_NONE: xb[d] = x[d]; break;
        case VARIA_BIN_THRESHOLD: xb[d] = x[d] >= 0.5f ? 1.0f : 0.0f; break;
        case VARIA_BIN_DYNAMIC: xb[d] = varia_rng_uniform(&rng) < (double)x[d] ? 1.0f : 0.0f; break;
        }
    }
}

/* Score example i into *row; returns 0 if the result is not finite. */
static int score_example(worker *w, int64_t i, varia_eval_row *row)
{
    const varia_model *m = w->j->m;
    int64_t k = w->j->opts->k, E = m->family->noise_size(m);
    double kl = NAN;
    varia_iw_acc acc;
    varia_iw_init(&acc);
    for (int64_t c = 0; c * IW_CHUNK < k; c++) {
        int64_t cnt = k - c * IW_CHUNK < IW_CHUNK ? k - c * IW_CHUNK : IW_CHUNK;
        varia_rng rng;
        varia_rng_init(&rng, w->j->opts->seed, VARIA_STREAM_IW, (uint64_t)i, (uint64_t)c);
        varia_rng_normals(&rng, w->eps, cnt * E);
        m->family->log_weights(m, w->ws, w->xb, cnt, w->eps, w->log_w, w->log_px, &kl);
        varia_iw_add(&acc, w->log_w, w->log_px, cnt);
    }
    return varia_iw_finish(&acc, kl, row);
}

static void record_failure(job *j, int64_t i)
{
    pthread_mutex_lock(&j->lock);
    if (i < atomic_load(&j->first_bad)) {
        atomic_store(&j->first_bad, i);
        j->bad_status = VARIA_ERR_NONFINITE;
        snprintf(j->bad_msg, sizeof j->bad_msg,
                 "eval: example %lld gives a non-finite log-weight (extreme weights or input)", (long long)i);
    }
    pthread_mutex_unlock(&j->lock);
}

static void *work(void *arg)
{
    worker *w = arg;
    job *j = w->j;
    const varia_model *m = j->m;
    int64_t D = m->info.data_size;
    for (;;) {
        int64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        binarize(j, i, j->x + i * D, w->xb, D);
        if (j->means)
            m->family->layer_means(m, w->ws, w->xb, 1, j->means + i * m->family->noise_size(m));
        if (!score_example(w, i, &j->rows[i]))
            record_failure(j, i);
    }
    return NULL;
}

static int worker_init(worker *w, job *j)
{
    const varia_model *m = j->m;
    int64_t E = m->family->noise_size(m);
    w->j = j;
    w->ws = malloc(m->family->ws_floats(m, IW_CHUNK) * sizeof(float));
    w->eps = malloc((size_t)(IW_CHUNK * E) * sizeof(float));
    w->xb = malloc((size_t)m->info.data_size * sizeof(float));
    w->log_w = malloc(IW_CHUNK * sizeof(double));
    w->log_px = malloc(IW_CHUNK * sizeof(double));
    return w->ws && w->eps && w->xb && w->log_w && w->log_px;
}

static void worker_free(worker *w)
{
    free(w->ws);
    free(w->eps);
    free(w->xb);
    free(w->log_w);
    free(w->log_px);
}

static int thread_count(const varia_ctx *ctx, int64_t n)
{
    long t = ctx->threads;
    if (t <= 0)
        t = sysconf(_SC_NPROCESSORS_ONLN);
    if (t < 1)
        t = 1;
    return (int)(t > n ? (n > 0 ? n : 1) : t);
}

/* Run the job on `threads` workers (the caller is one of them). */
static varia_status run_job(varia_ctx *ctx, job *j, int threads)
{
    worker *ws = calloc((size_t)threads, sizeof *ws);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    int ok = ws && tid, started = 0;
    for (int t = 0; ok && t < threads; t++)
        ok = worker_init(&ws[t], j);
    for (int t = 1; ok && t < threads; t++, started++)
        if (pthread_create(&tid[t], NULL, work, &ws[t]) != 0)
            break; /* fewer threads is still correct */
    if (ok)
        work(&ws[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    for (int t = 0; ws && t < threads; t++)
        worker_free(&ws[t]);
    free(ws);
    free(tid);
    return ok ? VARIA_OK : varia_fail(ctx, VARIA_ERR_NOMEM, "eval: cannot allocate worker workspace");
}

static int count_active(const float *means, int64_t n, int64_t stride, int64_t off, int64_t d)
{
    int active = 0;
    for (int64_t u = 0; u < d; u++) {
        double s = 0.0, ss = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double v = means[i * stride + off + u];
            s += v;
            ss += v * v;
        }
        double mean = s / (double)n, var = ss / (double)n - mean * mean;
        active += var > 0.01;
    }
    return active;
}

static void active_units(const varia_model *m, const float *means, int64_t n, int *total, int *per_layer)
{
    int64_t stride = m->family->noise_size(m), off = 0;
    *total = 0;
    for (int l = 0; l < 8; l++)
        per_layer[l] = 0;
    for (int l = 0; l < m->info.n_stochastic; l++) {
        per_layer[l] = count_active(means, n, stride, off, m->info.layer_sizes[l]);
        *total += per_layer[l];
        off += m->info.layer_sizes[l];
    }
}

static void summarise(const varia_model *m, const job *j, varia_eval_summary *s)
{
    double nll = 0.0, nll2 = 0.0, elbo = 0.0, recon = 0.0, kl = 0.0;
    for (int64_t i = 0; i < j->n; i++) {
        double v = -j->rows[i].log_px;
        nll += v;
        nll2 += v * v;
        elbo += j->rows[i].elbo;
        recon += j->rows[i].recon;
        kl += j->rows[i].kl;
    }
    double n = (double)j->n, mean = nll / n;
    double var = j->n > 1 ? (nll2 - n * mean * mean) / (n - 1.0) : 0.0;
    memset(s, 0, sizeof *s);
    s->n = j->n;
    s->k = j->opts->k;
    s->nll_mean = mean;
    s->nll_stderr = var > 0 ? sqrt(var / n) : 0.0;
    s->elbo = elbo / n;
    s->recon = recon / n;
    s->kl = kl / n;
    s->bits_per_dim = mean / ((double)m->info.data_size * log(2.0));
    active_units(m, j->means, j->n, &s->active_units, s->active_units_layer);
}

static varia_status check_eval_args(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                    const varia_eval_opts *o)
{
    varia_status st = varia_check_model(ctx, m, x, n, "eval");
    if (st != VARIA_OK)
        return st;
    if (!o || n < 1)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval: needs options and at least one example");
    if (!m->family->log_weights)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "family '%s' has no tractable likelihood bound (no encoder)",
                          m->info.family);
    if (o->k < 1 || o->k > K_CAP)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval: k = %lld outside [1, %lld]", (long long)o->k, (long long)K_CAP);
    if (o->binarize != VARIA_BIN_NONE && o->binarize != VARIA_BIN_THRESHOLD && o->binarize != VARIA_BIN_DYNAMIC)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval: unknown binarization %d", (int)o->binarize);
    int64_t D = m->info.data_size;
    if ((st = varia_check_finite(ctx, x, n, D, "eval: example")) != VARIA_OK)
        return st;
    int needs_unit = m->info.likelihood == VARIA_LIK_BERNOULLI || o->binarize == VARIA_BIN_DYNAMIC;
    for (int64_t i = 0; needs_unit && i < n * D; i++)
        if (x[i] < 0.0f || x[i] > 1.0f)
            return varia_fail(ctx, VARIA_ERR_ARG, "eval: example %lld, element %lld = %g is outside [0, 1]",
                              (long long)(i / D), (long long)(i % D), (double)x[i]);
    return VARIA_OK;
}

varia_status varia_eval(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                        const varia_eval_opts *opts, varia_eval_row *rows, varia_eval_summary *summary)
{
    varia_status st = check_eval_args(ctx, m, x, n, opts);
    if (st != VARIA_OK)
        return st;
    job j = {.m = m, .x = x, .n = n, .opts = opts, .rows = rows, .bad_status = VARIA_OK};
    atomic_init(&j.next, 0);
    atomic_init(&j.first_bad, n);
    pthread_mutex_init(&j.lock, NULL);
    if (!rows)
        j.rows = malloc((size_t)n * sizeof *j.rows);
    j.means = malloc((size_t)(n * m->family->noise_size(m)) * sizeof(float));
    if (!j.rows || !j.means)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "eval: cannot allocate results for %lld examples", (long long)n);
    if (st == VARIA_OK)
        st = run_job(ctx, &j, thread_count(ctx, n));
    if (st == VARIA_OK && j.bad_status != VARIA_OK)
        st = varia_fail(ctx, j.bad_status, "%s", j.bad_msg);
    if (st == VARIA_OK && summary)
        summarise(m, &j, summary);
    pthread_mutex_destroy(&j.lock);
    if (!rows)
        free(j.rows);
    free(j.means);
    return st;
}

varia_status varia_active_units(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, int *total,
                                int per_layer[8])
{
    varia_status st = varia_check_model(ctx, m, x, n, "active_units");
    if (st != VARIA_OK)
        return st;
    if (!total || !per_layer || n < 1)
        return varia_fail(ctx, VARIA_ERR_ARG, "active_units: null output or no examples");
    if (!m->family->layer_means)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "family '%s' has no encoder", m->info.family);
    if ((st = varia_check_finite(ctx, x, n, m->info.data_size, "active_units: example")) != VARIA_OK)
        return st;
    int64_t E = m->family->noise_size(m), D = m->info.data_size;
    float *means = malloc((size_t)(n * E) * sizeof(float)), *ws = varia_ws_alloc(ctx, m, VARIA_BATCH);
    if (!means || !ws) {
        free(means);
        free(ws);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "active_units: out of memory");
    }
    for (int64_t r = 0; r < n; r += VARIA_BATCH) {
        int64_t b = n - r < VARIA_BATCH ? n - r : VARIA_BATCH;
        m->family->layer_means(m, ws, x + r * D, b, means + r * E);
    }
    active_units(m, means, n, total, per_layer);
    free(means);
    free(ws);
    return VARIA_OK;
}

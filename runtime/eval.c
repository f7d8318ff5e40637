/* Estimators written once against the family table: per-example ELBO (with its
 * two terms) and the importance-weighted bound L_k over fixed-size chunks of
 * samples with a log-sum-exp in double, so memory is bounded for any k.
 * Example i's randomness comes from streams keyed by (seed, i, chunk), chunks
 * fold in chunk order and the summary in example order, so any thread count
 * gives the same bits. */
#include "api.h"
#include "estimator.h"
#include "eval.h"
#include "rng.h"

#include <math.h>
#include "passes.h"
#include "pool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Samples per chunk. Part of the definition of the random streams: changing it
 * changes every estimate, so it is fixed. */
#define IW_CHUNK VARIA_WS_ROWS
_Static_assert(IW_CHUNK == VARIA_EVAL_CHUNK, "varia.h's VARIA_EVAL_CHUNK is the chunk eval folds");
#define K_CAP ((int64_t)1 << 32)

/* Work items are (example, chunk) pairs, so one example's k samples can spread
 * over every core. Items are processed in passes of at most PASS_ITEMS; each
 * item leaves a chunk accumulator, and every example folds its chunks in chunk
 * order. That fold is the definition of the estimate, whatever the threads. */
#define PASS_ITEMS ((int64_t)1 << 16)

typedef struct job {
    varia_ctx *ctx;
    const varia_model *m;
    const float *x;
    const varia_eval_opts *opts;
    int64_t first;           /* the set's index of x's first example: what keys its randomness */
    int64_t chunks;          /* chunks per example */
    int64_t e0, ne, c0, nc;  /* this pass: examples [e0, e0+ne), chunks [c0, c0+nc) */
    varia_iw_acc *accs;      /* [ne * nc]: each with its chunk's analytic KL (NaN if none) */
    float *means;            /* [n * noise_size] posterior means, for active units (NULL: not wanted);
                                a sequence family's: [n * T * latent], every step */
    int seq;                 /* a sequence family: examples of T frames, run by varia_run_seq_* */
    int64_t T;               /* steps per example (1 unless seq) */
    const int64_t *lengths;  /* [n] each example's steps, or NULL: all T */
    atomic_llong next;
    atomic_int oom;
} job;

void varia_binarize_example(uint64_t seed, varia_binarize how, int64_t index, const float *x, float *xb, int64_t D)
{
    varia_rng rng;
    varia_rng_init(&rng, seed, VARIA_STREAM_BINARIZE, (uint64_t)index, 0);
    for (int64_t d = 0; d < D; d++) {
        switch (how) {
        case VARIA_BIN_NONE: xb[d] = x[d]; break;
        case VARIA_BIN_THRESHOLD: xb[d] = x[d] >= 0.5f ? 1.0f : 0.0f; break;
        case VARIA_BIN_DYNAMIC: xb[d] = varia_rng_uniform(&rng) < (double)x[d] ? 1.0f : 0.0f; break;
        }
    }
}

static void binarize(const job *j, int64_t i, const float *x, float *xb, int64_t D)
{
    varia_binarize_example(j->opts->seed, j->opts->binarize, j->first + i, x, xb, D);
}

/* One chunk of one example: its samples' log-weights into a fresh accumulator. */
static void run_item(job *j, int64_t item, float *ws, float *eps, float *xb, double *log_w, double *log_px)
{
    const varia_model *m = j->m;
    int64_t e = j->e0 + item / j->nc, c = j->c0 + item % j->nc, D = m->info.data_size * j->T;
    int64_t k = j->opts->k, E = varia_model_noise(m) * j->T;
    int64_t cnt = k - c * IW_CHUNK < IW_CHUNK ? k - c * IW_CHUNK : IW_CHUNK;
    varia_seq s = {j->T, j->lengths ? j->lengths + e : NULL};
    binarize(j, e, j->x + e * D, xb, D); /* the same realisation for every chunk */
    if (c == 0 && j->means && j->seq)
        varia_run_seq_encode(m, ws, NULL, &s, xb, 1, j->means + e * j->T * m->info.latent_size, NULL);
    else if (c == 0 && j->means)
        varia_run_layer_means(m, ws, xb, 1, j->means + e * E);
    varia_rng rng;
    varia_rng_init(&rng, j->opts->seed, VARIA_STREAM_IW, (uint64_t)(j->first + e), (uint64_t)c);
    varia_rng_normals(&rng, eps, cnt * E);
    double kl, log_det = 0.0;
    if (j->seq)
        varia_run_seq_log_weights(m, ws, &s, xb, cnt, eps, log_w, log_px, &kl);
    else
        varia_run_log_weights(m, ws, xb, cnt, eps, log_w, log_px, &kl, &log_det);
    varia_iw_init(&j->accs[item]);
    varia_iw_add(&j->accs[item], log_w, log_px, cnt);
    j->accs[item].log_det = log_det;
    j->accs[item].kl = kl;
}

static void work(void *arg, int worker)
{
    job *j = arg;
    const varia_model *m = j->m;
    size_t nws = varia_model_ws(m), neps = (size_t)(IW_CHUNK * varia_model_noise(m) * j->T);
    float *f;
    double *d;
    if (!varia_scratch_get(j->ctx, worker, nws + neps + (size_t)(m->info.data_size * j->T), 2 * IW_CHUNK, &f, &d)) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int64_t item; (item = atomic_fetch_add(&j->next, 1)) < j->ne * j->nc;)
        run_item(j, item, f, f + nws, f + nws + neps, d, d + IW_CHUNK);
}

/* Run one pass of items on the pool; 0 if a worker ran out of memory. */
static int run_pass(job *j, struct varia_pool *pool)
{
    atomic_store(&j->next, 0);
    varia_pool_run(pool, work, j);
    return !atomic_load(&j->oom);
}

/* Examples [e0, e0+ne): every chunk, pass by pass, folded in chunk order. */
static varia_status eval_group(job *j, struct varia_pool *pool, varia_iw_acc *run, varia_eval_row *rows)
{
    for (j->c0 = 0; j->c0 < j->chunks; j->c0 += j->nc) {
        int64_t nc = j->nc;
        j->nc = j->chunks - j->c0 < nc ? j->chunks - j->c0 : nc;
        if (!run_pass(j, pool))
            return varia_fail(j->ctx, VARIA_ERR_NOMEM, "eval: cannot allocate worker workspace");
        for (int64_t e = 0; e < j->ne; e++)
            for (int64_t c = 0; c < j->nc; c++) {
                if (j->c0 == 0 && c == 0)
                    run[e] = j->accs[e * j->nc];
                else
                    varia_iw_merge(&run[e], &j->accs[e * j->nc + c]);
            }
        j->nc = nc;
    }
    for (int64_t e = 0; e < j->ne; e++)
        if (!varia_iw_finish(&run[e], run[e].kl, &rows[j->e0 + e])) /* chunk 0's KL, kept by the merges */
            return varia_fail(j->ctx, VARIA_ERR_NONFINITE,
                              "eval: example %lld gives a non-finite log-weight (extreme weights or input)",
                              (long long)(j->first + j->e0 + e));
    return VARIA_OK;
}

static varia_status run_eval(job *j, int64_t n, varia_eval_row *rows)
{
    struct varia_pool *pool = varia_ctx_pool(j->ctx);
    j->chunks = (j->opts->k + IW_CHUNK - 1) / IW_CHUNK;
    j->nc = j->chunks < PASS_ITEMS ? j->chunks : PASS_ITEMS;
    int64_t group = PASS_ITEMS / j->nc;
    varia_iw_acc *run = malloc((size_t)group * sizeof *run);
    j->accs = malloc((size_t)(group * j->nc) * sizeof *j->accs);
    varia_status st = run && j->accs ? VARIA_OK : varia_fail(j->ctx, VARIA_ERR_NOMEM, "eval: out of memory");
    for (j->e0 = 0; st == VARIA_OK && j->e0 < n; j->e0 += group) {
        j->ne = n - j->e0 < group ? n - j->e0 : group;
        st = eval_group(j, pool, run, rows);
    }
    free(run);
    free(j->accs);
    return st;
}

varia_status varia_eval_run_chunks(varia_ctx *ctx, const varia_model *m, const float *x, int64_t index, int64_t c0,
                                   int64_t nc, const varia_eval_opts *opts, varia_iw_acc *accs)
{
    job j = {.ctx = ctx, .m = m, .x = x, .opts = opts, .first = index, .T = 1, .ne = 1,
             .chunks = (opts->k + IW_CHUNK - 1) / IW_CHUNK};
    atomic_init(&j.next, 0);
    atomic_init(&j.oom, 0);
    for (int64_t done = 0; done < nc; done += PASS_ITEMS) {
        j.c0 = c0 + done;
        j.nc = nc - done < PASS_ITEMS ? nc - done : PASS_ITEMS;
        j.accs = accs + done;
        if (!run_pass(&j, varia_ctx_pool(ctx)))
            return varia_fail(ctx, VARIA_ERR_NOMEM, "eval: cannot allocate worker workspace");
    }
    return VARIA_OK;
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

/* Active units of every layer from means[n * stride], each example's layers
 * bottom first from column 0. */
static void active_units(const varia_model *m, const float *means, int64_t n, int64_t stride, int *total,
                         int *per_layer)
{
    int64_t off = 0;
    *total = 0;
    for (int l = 0; l < VARIA_MAX_LAYERS; l++)
        per_layer[l] = 0;
    for (int l = 0; l < m->info.n_stochastic; l++) {
        per_layer[l] = count_active(means, n, stride, off, m->info.layer_sizes[l]);
        *total += per_layer[l];
        off += m->info.layer_sizes[l];
    }
}

/* A sequence family's summary: bits per dimension over every example's own
 * frames (lengths), and active units over every example's steps within its
 * length, each step's posterior mean one observation of the L latents. */
static varia_status seq_summary_fix(varia_ctx *ctx, const varia_model *m, const varia_call *c,
                                    const varia_eval_row *rows, int64_t n, const float *means, varia_eval_summary *s)
{
    int64_t T = c->seq_len, L = m->info.latent_size, frames = 0;
    double nll = 0.0;
    for (int64_t i = 0; i < n; i++) {
        frames += c->lengths ? c->lengths[i] : T;
        nll -= rows[i].log_px;
    }
    s->bits_per_dim = nll / ((double)frames * (double)m->info.data_size * log(2.0));
    s->active_units = s->active_units_layer[0] = 0;
    float *steps = L > 0 ? malloc((size_t)(frames * L) * sizeof(float)) : NULL;
    if (L > 0 && !steps)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "eval: cannot allocate the posterior means of %lld steps",
                          (long long)frames);
    int64_t row = 0;
    for (int64_t i = 0; steps && i < n; i++)
        for (int64_t t = 0; t < (c->lengths ? c->lengths[i] : T); t++)
            memcpy(steps + row++ * L, means + (i * T + t) * L, (size_t)L * sizeof(float));
    if (steps)
        active_units(m, steps, frames, L, &s->active_units, s->active_units_layer);
    free(steps);
    return VARIA_OK;
}

/* The floats of posterior means per example in the public layout: every
 * stochastic layer's, bottom first, nothing else. */
static int64_t means_width(const varia_model *m)
{
    int64_t u = 0;
    for (int l = 0; l < m->info.n_stochastic; l++)
        u += m->info.layer_sizes[l];
    return u;
}

/* The summary of rows[count] and means[count * means_width(m)], summed in
 * example order: the one definition used by varia_eval and by a caller who
 * gathered the rows of varia_eval_part calls. */
static void summarise(const varia_model *m, const varia_eval_row *rows, int64_t count, int64_t k,
                      const float *means, varia_eval_summary *s)
{
    double nll = 0.0, nll2 = 0.0, elbo = 0.0, recon = 0.0, kl = 0.0, log_det = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double v = -rows[i].log_px;
        nll += v;
        nll2 += v * v;
        elbo += rows[i].elbo;
        recon += rows[i].recon;
        kl += rows[i].kl;
        log_det += rows[i].log_det;
    }
    double n = (double)count, mean = nll / n;
    double var = count > 1 ? (nll2 - n * mean * mean) / (n - 1.0) : 0.0;
    memset(s, 0, sizeof *s);
    s->n = count;
    s->k = k;
    s->nll_mean = mean;
    s->nll_stderr = var > 0 ? sqrt(var / n) : 0.0;
    s->elbo = elbo / n;
    s->recon = recon / n;
    s->kl = kl / n;
    s->log_det = log_det / n;
    /* total NLL over total dimensions: each example counts its own size (the
     * same for every example of today's families, so this is mean / D). */
    double dims = 0.0;
    for (int64_t i = 0; i < count; i++)
        dims += (double)m->info.data_size;
    s->bits_per_dim = mean / (dims / n * log(2.0));
    active_units(m, means, count, means_width(m), &s->active_units, s->active_units_layer);
}

varia_status varia_eval_check(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                              const varia_eval_opts *o, const varia_opts *opts, varia_call *c)
{
    varia_status st = varia_check_model(ctx, m, x, n, "eval");
    if (st != VARIA_OK)
        return st;
    if (!o || n < 1)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval: needs options and at least one example");
    if (!varia_model_can(m, VARIA_CAN_EVAL))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "family '%s' has no encoder, so no ELBO or IW bound: "
                          "score it with AIS (varia_ais, varia ais)",
                          m->info.family);
    if ((st = varia_opts_resolve(ctx, m, opts, n, "eval", c)) != VARIA_OK)
        return st;
    if (o->k < 1 || o->k > K_CAP)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval: k = %lld outside [1, %lld]", (long long)o->k, (long long)K_CAP);
    if (o->binarize != VARIA_BIN_NONE && o->binarize != VARIA_BIN_THRESHOLD && o->binarize != VARIA_BIN_DYNAMIC)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval: unknown binarization %d", (int)o->binarize);
    int64_t T = varia_call_steps(m, c), D = m->info.data_size * T;
    if ((st = varia_check_finite(ctx, x, n, D, "eval: example")) != VARIA_OK)
        return st;
    return varia_check_unit_range(ctx, m, x, n * T, o->binarize == VARIA_BIN_DYNAMIC, "eval");
}

/* Copy n examples' posterior means from the passes' layout (stride noise) to
 * the public one (stride means_width); the same when the two agree. */
static void compact_means(const varia_model *m, const float *src, int64_t n, float *dst)
{
    int64_t E = varia_model_noise(m), U = means_width(m);
    for (int64_t i = 0; i < n; i++)
        memmove(dst + i * U, src + i * E, (size_t)U * sizeof(float));
}

varia_status varia_eval_part(varia_ctx *ctx, const varia_model *m, const float *x, int64_t first, int64_t n,
                             const varia_eval_opts *opts, const varia_opts *call_opts, varia_eval_row *rows,
                             float *means)
{
    varia_call c;
    varia_status st = varia_eval_check(ctx, m, x, n, opts, call_opts, &c);
    if (st != VARIA_OK)
        return st;
    if (!rows || first < 0 || first > VARIA_MAX_ROWS - n)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_part: needs rows and a first index in [0, 2^31 - n], got %lld",
                          (long long)first);
    job j = {.ctx = ctx, .m = m, .x = x, .opts = opts, .first = first,
             .seq = (m->family->needs & VARIA_FAMILY_SEQ_LEN) != 0, .T = varia_call_steps(m, &c)};
    j.lengths = j.seq ? c.lengths : NULL;
    atomic_init(&j.next, 0);
    atomic_init(&j.oom, 0);
    if (means && j.seq) /* every step's means, as the public layout has them */
        j.means = means;
    else if (means && !(j.means = malloc((size_t)(n * varia_model_noise(m)) * sizeof(float))))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "eval: cannot allocate results for %lld examples", (long long)n);
    st = run_eval(&j, n, rows);
    if (j.seq)
        return st;
    if (st == VARIA_OK && means)
        compact_means(m, j.means, n, means);
    free(j.means);
    return st;
}

varia_status varia_eval_summarise(varia_ctx *ctx, const varia_model *m, const varia_eval_row *rows, int64_t n,
                                  int64_t k, const float *means, varia_eval_summary *summary)
{
    varia_status st = varia_check_model(ctx, m, rows, n, "eval_summarise");
    if (st != VARIA_OK)
        return st;
    if (!means || !summary || n < 1 || k < 1)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_summarise: needs rows, means, a summary, n >= 1 and k >= 1");
    if (m->family->needs & VARIA_FAMILY_SEQ_LEN)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_summarise: family '%s' needs varia_opts.seq_len and lengths "
                          "(use varia_eval_ex and varia_eval_seq_summary)", m->info.family);
    summarise(m, rows, n, k, means, summary);
    return VARIA_OK;
}

/* varia_eval_summarise with the call's options, which a sequence model's
 * summary needs (its lengths: bits per dimension over every example's own
 * frames, active units over every step within them): the summary
 * varia_eval_ex writes, by the same code in the same order. */
varia_status varia_eval_summarise_ex(varia_ctx *ctx, const varia_model *m, const varia_eval_row *rows, int64_t n,
                                     int64_t k, const float *means, const varia_opts *opts,
                                     varia_eval_summary *summary)
{
    varia_status st = varia_check_model(ctx, m, rows, n, "eval_summarise_ex");
    if (st != VARIA_OK)
        return st;
    if (!means || !summary || n < 1 || k < 1)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_summarise_ex: needs rows, means, a summary, n >= 1 and k >= 1");
    varia_call c;
    if ((st = varia_opts_resolve(ctx, m, opts, n, "eval_summarise_ex", &c)) != VARIA_OK)
        return st;
    summarise(m, rows, n, k, means, summary);
    if (m->family->needs & VARIA_FAMILY_SEQ_LEN)
        st = seq_summary_fix(ctx, m, &c, rows, n, means, summary);
    return st;
}

/* varia_eval is varia_eval_part over the whole set from index 0, then
 * varia_eval_summarise(_ex): the path a distributed caller reproduces. */
varia_status varia_eval_ex(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                           const varia_eval_opts *opts, const varia_opts *call_opts, varia_eval_row *rows,
                           varia_eval_summary *summary)
{
    varia_call c;
    varia_status st = varia_eval_check(ctx, m, x, n, opts, call_opts, &c);
    if (st != VARIA_OK)
        return st;
    int64_t T = varia_call_steps(m, &c);
    int64_t width = (m->family->needs & VARIA_FAMILY_SEQ_LEN) ? T * m->info.latent_size : varia_model_noise(m);
    varia_eval_row *r = rows ? rows : malloc((size_t)n * sizeof *r);
    float *means = summary ? malloc((size_t)(n * (width > 0 ? width : 1)) * sizeof(float)) : NULL;
    if (!r || (summary && !means))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "eval: cannot allocate results for %lld examples", (long long)n);
    if (st == VARIA_OK)
        st = varia_eval_part(ctx, m, x, 0, n, opts, call_opts, r, means);
    if (st == VARIA_OK && summary)
        summarise(m, r, n, opts->k, means, summary);
    if (st == VARIA_OK && summary && (m->family->needs & VARIA_FAMILY_SEQ_LEN))
        st = seq_summary_fix(ctx, m, &c, r, n, means, summary);
    if (!rows)
        free(r);
    free(means);
    return st;
}

varia_status varia_active_units(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, int *total,
                                int per_layer[VARIA_MAX_LAYERS])
{
    varia_status st = varia_check_model(ctx, m, x, n, "active_units");
    if (st != VARIA_OK)
        return st;
    if (!total || !per_layer || n < 1)
        return varia_fail(ctx, VARIA_ERR_ARG, "active_units: null output or no examples");
    if (!varia_model_can(m, VARIA_CAN_ENCODE))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "family '%s' has no encoder", m->info.family);
    if (m->family->needs & VARIA_FAMILY_SEQ_LEN) /* no options to carry the length: its eval counts them */
        return varia_fail(ctx, VARIA_ERR_ARG, "active_units: family '%s' needs varia_opts.seq_len (use varia_eval_ex: "
                          "its summary counts the active units over every step)", m->info.family);
    if ((st = varia_check_finite(ctx, x, n, m->info.data_size, "active_units: example")) != VARIA_OK ||
        (st = varia_check_unit_range(ctx, m, x, n, 0, "active_units")) != VARIA_OK)
        return st;
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    float *means = malloc((size_t)(n * E) * sizeof(float)), *ws = varia_ws_get(ctx, m, VARIA_BATCH, 0);
    if (!means || !ws) {
        free(means);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "active_units: out of memory");
    }
    for (int64_t r = 0; r < n; r += VARIA_BATCH) {
        int64_t b = n - r < VARIA_BATCH ? n - r : VARIA_BATCH;
        varia_run_layer_means(m, ws, x + r * D, b, means + r * E);
    }
    active_units(m, means, n, E, total, per_layer);
    free(means);
    return VARIA_OK;
}

varia_status varia_eval_seq_summary(varia_ctx *ctx, const varia_model *m, const varia_eval_row *rows, int64_t n,
                                    const varia_opts *opts, varia_seq_summary *out)
{
    varia_status st = varia_check_model(ctx, m, rows, n, "eval_seq_summary");
    if (st != VARIA_OK)
        return st;
    if (!out || n < 1 || out->size < sizeof *out)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_seq_summary: needs rows, n >= 1 and an output with "
                          "size = sizeof(varia_seq_summary) = %zu", sizeof *out);
    if (!(m->family->needs & VARIA_FAMILY_SEQ_LEN))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "eval_seq_summary: family '%s' has no sequences (use "
                          "varia_eval_summary's bits_per_dim)", m->info.family);
    varia_call c;
    if ((st = varia_opts_resolve(ctx, m, opts, n, "eval_seq_summary", &c)) != VARIA_OK)
        return st;
    double lp = 0.0, elbo = 0.0;
    int64_t frames = 0;
    for (int64_t i = 0; i < n; i++) { /* in example order, as every summary sums */
        frames += c.lengths ? c.lengths[i] : c.seq_len;
        lp += rows[i].log_px;
        elbo += rows[i].elbo;
    }
    uint32_t size = out->size;
    memset(out, 0, sizeof *out);
    out->size = size;
    out->frames = frames;
    out->log_px_per_step = lp / (double)frames;
    out->elbo_per_step = elbo / (double)frames;
    out->bits_per_dim = -lp / ((double)frames * (double)m->info.data_size * log(2.0));
    return VARIA_OK;
}

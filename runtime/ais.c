/* Annealed importance sampling (Neal 2001) with HMC transitions, as Wu et al.
 * 2017 evaluate decoder-only models (docs/ais.md), written once against the
 * family table: the family's joint pass is the target, its prior_latents
 * pass the start, the tape (weights constant) the gradient. Nothing here
 * names a family.
 *
 * Work items are groups of examples; a group's chains (C per example) are
 * the rows of every pass, so the decoder runs as matrix products. Chain c of
 * example i draws from its own stream keyed by (seed, i, c), the step size
 * adapts per example (hmc.c), and every row of a pass is computed by the
 * same instructions whatever the other rows are (kernels.h): so example i's
 * result depends on (seed, i) and its data alone, whatever the grouping, the
 * threads or n. The log weights, and their log-mean-exp, are in double.
 * A split call (varia_ais_opts.parts) runs only its part of each example's
 * chains, keyed by their indices among all C, and shares every chain's
 * acceptance probabilities and final weights with the other parts
 * (ais_parts.c), so each part computes the rows one call would. */
#include "ais.h"

#include "hmc.h"
#include "passes.h"
#include "pool.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SCHEDULE_R 4.0

#define STEPS_MAX 10000000
#define LEAPFROG_MAX 1000
#define LEAPFROG_DEFAULT 10

/* The logistic function in double, for the schedule. */
static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

double varia_ais_beta(int64_t t, int64_t T)
{
    if (t <= 0)
        return 0.0;
    if (t >= T)
        return 1.0;
    double lo = sigmoid(-SCHEDULE_R), hi = sigmoid(SCHEDULE_R);
    return (sigmoid(SCHEDULE_R * (2.0 * (double)t / (double)T - 1.0)) - lo) / (hi - lo);
}

/* Copy the caller's struct of its own version into *o (older, shorter ones
 * leave the rest zero; bytes of a newer one beyond ours must be zero). */
static varia_status read_opts(varia_ctx *ctx, const varia_ais_opts *in, const char *op, varia_ais_opts *o)
{
    memset(o, 0, sizeof *o);
    size_t head = offsetof(varia_ais_opts, seed);
    if (!in || in->size < head)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: needs varia_ais_opts with size = sizeof(varia_ais_opts) = %zu%s", op,
                          sizeof(varia_ais_opts), in ? " (size too small)" : "");
    memcpy(o, in, in->size < sizeof *o ? in->size : sizeof *o);
    const unsigned char *tail = (const unsigned char *)in;
    for (size_t i = sizeof *o; i < in->size; i++)
        if (tail[i])
            return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s: varia_ais_opts has a nonzero field at byte %zu, which "
                              "this library (varia_ais_opts of %zu bytes) does not know", op, i, sizeof *o);
    return VARIA_OK;
}

/* The family must have the passes AIS runs, take no per-call information, and
 * have an observation model: its own or sigma2's. */
static varia_status check_model(varia_ctx *ctx, const varia_model *m, double sigma2, const char *op)
{
    const varia_family *f = m->family;
    if (!f->joint || !f->prior_latents)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s: family '%s' has no joint density pass", op, m->info.family);
    if (f->needs)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s: family '%s' needs per-call options, which %s does not take",
                          op, m->info.family, op);
    if (m->info.likelihood == VARIA_LIK_NONE && sigma2 == 0.0)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: the model has no likelihood of its own: set varia_ais_opts.sigma2 "
                          "(the Gaussian observation model's variance)", op);
    return VARIA_OK;
}

/* AIS+encoder needs the family to say its encoder's Gaussian is q(z|x). */
static varia_status check_start(varia_ctx *ctx, const varia_model *m, uint32_t start, const char *op)
{
    if (start != VARIA_AIS_FROM_PRIOR && start != VARIA_AIS_FROM_ENCODER)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.start = %u is no varia_ais_start (0: from the "
                          "prior, 1: from the encoder)", op, start);
    const varia_family *f = m->family;
    if (start == VARIA_AIS_FROM_PRIOR || (f->encode && f->encode_not_q && !f->encode_not_q(m->cfg)))
        return VARIA_OK;
    const char *why = !f->encode ? "no encoder" : f->encode_not_q ? f->encode_not_q(m->cfg) : NULL;
    return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s: AIS from the encoder needs q(z|x) as one Gaussian over all the "
                      "latents (a VAE of one stochastic layer without a flow); this '%s' model has %s", op,
                      m->info.family, why ? why : "a posterior that is not one (each step's depends on the last)");
}

varia_status varia_ais_resolve(varia_ctx *ctx, const varia_model *m, const varia_ais_opts *opts, const char *op,
                               varia_ais_call *c)
{
    varia_ais_opts o;
    varia_status st = read_opts(ctx, opts, op, &o);
    if (st != VARIA_OK)
        return st;
    if (o.reserved2)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.reserved2 must be 0", op);
    if ((st = check_start(ctx, m, o.start, op)) != VARIA_OK)
        return st;
    if (o.chains < 1 || o.chains > VARIA_AIS_CHAINS_MAX)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.chains = %lld outside [1, %d]", op,
                          (long long)o.chains, VARIA_AIS_CHAINS_MAX);
    if (o.steps < 1 || o.steps > STEPS_MAX)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.steps = %lld outside [1, %d]", op, (long long)o.steps,
                          STEPS_MAX);
    if (o.leapfrog < 0 || o.leapfrog > LEAPFROG_MAX)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.leapfrog = %lld outside [1, %d] (0: %d)", op,
                          (long long)o.leapfrog, LEAPFROG_MAX, LEAPFROG_DEFAULT);
    if (!(o.sigma2 >= 0.0) || !isfinite(o.sigma2) || (o.sigma2 > 0.0 && !isfinite(log(o.sigma2))))
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.sigma2 = %g: 0 (the model's likelihood) or a finite "
                          "positive variance", op, o.sigma2);
    if (o.binarize != VARIA_BIN_NONE && o.binarize != VARIA_BIN_THRESHOLD && o.binarize != VARIA_BIN_DYNAMIC)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.binarize = %d is no varia_binarize", op,
                          (int)o.binarize);
    if (o.sigma2 == 0.0 && m->family->obs_var) /* the manifest's observation model, if it has one */
        o.sigma2 = m->family->obs_var(m->cfg);
    if ((st = check_model(ctx, m, o.sigma2, op)) != VARIA_OK)
        return st;
    if (o.first < 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.first = %lld is negative", op, (long long)o.first);
    int split = o.parts > 1;
    if (o.parts < 0 || o.part < 0 || o.part >= (split ? o.parts : 1) || o.parts > o.chains ||
        (split && !o.allgather))
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_ais_opts.part = %d of parts = %d: needs 0 <= part < parts "
                          "<= chains (%lld) and, for parts > 1, an allgather (parts 0 or 1: part 0)", op, (int)o.part,
                          (int)o.parts, (long long)o.chains);
    *c = (varia_ais_call){o.chains, o.steps, o.leapfrog ? o.leapfrog : LEAPFROG_DEFAULT,
                          o.start == VARIA_AIS_FROM_ENCODER, o.sigma2, o.seed,
                          o.binarize, o.progress, o.user, o.first, o.part, split ? o.parts : 1,
                          o.allgather, o.comm};
    return VARIA_OK;
}

typedef struct ais_job {
    const varia_model *m;
    const float *x, *z_start;
    int64_t n, group, items;
    int64_t c0, nc; /* this part's chains of each example (all: 0, chains) */
    const varia_ais_call *c;
    varia_joint_consts consts;
    float obs_logvar; /* NaN: the model's likelihood */
    varia_ais_row *rows;
    int64_t done_before, total, report_every;
    atomic_llong next, done;
    atomic_int oom, comm_failed;
} ais_job;

/* One worker's buffers for a group of G examples (R = G * nc rows: this
 * part's chains); all and buf (G * C) only for a split call; qmu, qiv (G *
 * E), qc (G), lq and lqn (R) only for AIS+encoder. */
typedef struct ais_mem {
    float *z, *gz, *gx, *zn, *p, *gzn, *gxn, *eps, *xb, *qmu, *qiv;
    double *lpz, *lpx, *lpzn, *lpxn, *h0, *logw, *step, *prob, *all, *buf, *qc, *lq, *lqn;
    int64_t *acc;
    varia_rng *rng;
} ais_mem;

/* Free what mem_alloc got (any of it NULL). */
static void mem_free(ais_mem *w)
{
    void *all[] = {w->z, w->gz, w->gx, w->zn, w->p, w->gzn, w->gxn, w->eps, w->xb, w->lpz, w->lpx, w->lpzn,
                   w->lpxn, w->h0, w->logw, w->step, w->prob, w->all, w->buf, w->acc, w->rng, w->qmu, w->qiv,
                   w->qc, w->lq, w->lqn};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* AIS+encoder's buffers (mem_alloc's). Returns 0 when memory is exhausted. */
static int mem_alloc_q(ais_mem *w, int64_t G, int64_t C, int64_t E)
{
    size_t fq = (size_t)(G * E) * sizeof(float), fd = (size_t)(G * C) * sizeof(double);
    w->qmu = malloc(fq), w->qiv = malloc(fq), w->qc = malloc((size_t)G * sizeof(double));
    w->lq = malloc(fd), w->lqn = malloc(fd);
    return w->qmu && w->qiv && w->qc && w->lq && w->lqn;
}

/* Returns 0 when memory is exhausted (w is then safe to free). */
static int mem_alloc(ais_mem *w, int64_t G, int64_t C, int64_t E, int64_t D, int64_t split_chains, int q)
{
    size_t R = (size_t)(G * C), fz = R * (size_t)E * sizeof(float), fd = R * sizeof(double);
    size_t fs = (size_t)(G * split_chains) * sizeof(double);
    memset(w, 0, sizeof *w);
    w->z = malloc(fz), w->gz = malloc(fz), w->gx = malloc(fz), w->zn = malloc(fz), w->p = malloc(fz);
    w->gzn = malloc(fz), w->gxn = malloc(fz);
    w->eps = malloc(fz), w->xb = malloc((size_t)(G * D) * sizeof(float));
    w->lpz = malloc(fd), w->lpx = malloc(fd), w->lpzn = malloc(fd), w->lpxn = malloc(fd), w->h0 = malloc(fd);
    w->logw = malloc(fd), w->step = malloc((size_t)G * sizeof(double)), w->acc = malloc((size_t)G * sizeof(int64_t));
    w->rng = malloc(R * sizeof(varia_rng)), w->prob = malloc(fd);
    w->all = fs ? malloc(fs) : NULL, w->buf = fs ? malloc(fs) : NULL;
    return w->z && w->gz && w->gx && w->zn && w->p && w->gzn && w->gxn && w->eps && w->xb && w->lpz && w->lpx && w->lpzn && w->lpxn &&
           w->h0 && w->logw && w->step && w->acc && w->rng && w->prob && (!fs || (w->all && w->buf)) &&
           (!q || mem_alloc_q(w, G, C, E));
}

/* beta at step s of the run: forward beta_s, reverse beta_{T - s}. */
static double run_beta(const ais_job *j, int64_t s)
{
    return varia_ais_beta(j->z_start ? j->c->steps - s : s, j->c->steps);
}

/* AIS+encoder: the group's posteriors q(z|x) = N(qmu, exp lv) (qiv = exp
 * -lv, qc log q's constant) from its data; forward, z_0 = qmu + exp(lv/2)
 * eps from the noise each chain drew into w->eps. Returns 0 when the tape
 * ran out of memory. */
static int start_q(ais_job *j, varia_joint *jt, ais_mem *w, int64_t G, int forward)
{
    int64_t C = j->nc, E = varia_model_noise(j->m);
    if (!varia_joint_posterior(jt, w->xb, G, w->qmu, w->qiv))
        return 0;
    for (int64_t r = 0; forward && r < G * C; r++) {
        const float *mu = w->qmu + (r / C) * E, *lv = w->qiv + (r / C) * E;
        for (int64_t d = 0; d < E; d++)
            w->z[r * E + d] = mu[d] + expf(0.5f * lv[d]) * w->eps[r * E + d];
    }
    for (int64_t b = 0; b < G; b++) {
        double c = -0.5 * (double)E * log(2.0 * M_PI);
        for (int64_t d = 0; d < E; d++) {
            float *v = &w->qiv[b * E + d];
            c -= 0.5 * (double)*v;
            *v = expf(-*v);
        }
        w->qc[b] = c;
    }
    return 1;
}

/* The group's chains at their start: their streams, their data, and z_0 ~
 * p(z) or q(z|x) (forward) or the given latent of their example (reverse). */
static int start_chains(ais_job *j, varia_joint *jt, ais_mem *w, int64_t e0, int64_t G)
{
    int64_t C = j->nc, E = varia_model_noise(j->m), D = j->m->info.data_size, R = G * C;
    uint64_t stream = j->z_start ? VARIA_STREAM_AIS_REVERSE : VARIA_STREAM_AIS;
    for (int64_t b = 0; b < G; b++) {
        varia_binarize_example(j->c->seed, j->c->binarize, j->c->first + e0 + b, j->x + (e0 + b) * D, w->xb + b * D,
                               D);
        w->step[b] = VARIA_HMC_STEP0;
        w->acc[b] = 0;
    }
    for (int64_t r = 0; r < R; r++) {
        varia_rng_init(&w->rng[r], j->c->seed, stream, (uint64_t)(j->c->first + e0 + r / C),
                       (uint64_t)(j->c0 + r % C));
        w->logw[r] = 0.0;
        if (j->z_start)
            memcpy(w->z + r * E, j->z_start + (e0 + r / C) * E, (size_t)E * sizeof(float));
        else
            varia_rng_normals(&w->rng[r], w->eps + r * E, E);
    }
    if (j->c->from_encoder)
        return start_q(j, jt, w, G, !j->z_start);
    return j->z_start || varia_joint_prior(jt, w->eps, R, w->z, NULL);
}

/* Report progress from the calling thread (worker 0) every so often. */
static void add_progress(ais_job *j, int64_t steps, int worker, int64_t *last)
{
    int64_t done = atomic_fetch_add(&j->done, steps) + steps;
    if (worker == 0 && j->c->progress && done - *last >= j->report_every) {
        *last = done;
        j->c->progress(j->done_before + done, j->total, j->c->user);
    }
}

/* log-mean-exp of the group's weights logw[G * C] (every chain's) into its
 * rows (negated in reverse). */
static void finish_group(ais_job *j, ais_mem *w, const double *logw, int64_t e0, int64_t G)
{
    int64_t C = j->c->chains, T = j->c->steps;
    for (int64_t b = 0; b < G; b++) {
        const double *lw = logw + b * C;
        double mx = -INFINITY, sum = 0.0;
        int nan = 0;
        for (int64_t c = 0; c < C; c++)
            nan |= isnan(lw[c]), mx = lw[c] > mx ? lw[c] : mx;
        for (int64_t c = 0; c < C && isfinite(mx); c++)
            sum += exp(lw[c] - mx);
        double est = nan || !isfinite(mx) ? NAN : mx + log(sum) - log((double)C);
        varia_ais_row *row = &j->rows[e0 + b];
        row->log_px = j->z_start ? -est : est;
        row->accept = T > 1 ? (double)w->acc[b] / ((double)C * (double)(T - 1)) : 0.0;
        row->step_size = w->step[b];
    }
}

/* Item `item`: its group's T steps (this part's chains), every chain's
 * weights and acceptances shared in a split call. 0 when the tape ran out of
 * memory or an exchange failed (share.failed). */
static int run_item(ais_job *j, varia_joint *jt, ais_mem *w, int64_t item, int worker, int64_t *last)
{
    int64_t e0 = item * j->group, G = j->n - e0 < j->group ? j->n - e0 : j->group, C = j->nc;
    int64_t R = G * C, E = varia_model_noise(j->m);
    int split = j->c->parts > 1;
    varia_ais_share share = {j->c, G, w->buf, 0};
    if (!start_chains(j, jt, w, e0, G))
        return 0;
    varia_hmc h = {jt, w->xb, G, C, E, j->c->leapfrog, w->z, w->gz, w->gx, w->lpz, w->lpx, w->rng, w->step,
                   w->acc, w->zn, w->p, w->gzn, w->gxn, w->lpzn, w->lpxn, w->h0, w->prob,
                   split ? varia_ais_share_chains : NULL, &share, w->all, j->c->chains,
                   j->c->from_encoder ? w->qmu : NULL, w->qiv, w->qc, w->lq, w->lqn};
    /* The one pass at the start: after it each transition leaves the chains'
     * densities and gradients at their new states (hmc.h), which is all the
     * next increment and transition read. */
    if (!varia_joint_grads(jt, w->xb, C, w->z, R, w->lpz, w->lpx, w->gz, w->gx))
        return 0;
    for (int64_t r = 0; h.qmu && r < R; r++)
        w->lq[r] = varia_hmc_logq(&h, r, w->z + r * E);
    for (int64_t s = 1; s <= j->c->steps; s++) {
        double bp = run_beta(j, s - 1), b = run_beta(j, s);
        for (int64_t r = 0; r < R; r++) /* (beta_s - beta_{s-1}) log (f_1 / f_0)(z_{s-1}) */
            w->logw[r] += (b - bp) * (h.qmu ? w->lpz[r] + w->lpx[r] - w->lq[r] : w->lpx[r]);
        if (s < j->c->steps && !varia_hmc_transition(&h, b)) /* a transition after the last would change nothing */
            return share.failed ? (atomic_store(&j->comm_failed, 1), 0) : 0;
        add_progress(j, G, worker, last);
    }
    if (split && !(varia_ais_share_chains(&share, w->logw, w->all) && varia_ais_share_counts(&share, w->acc)))
        return atomic_store(&j->comm_failed, 1), 0;
    finish_group(j, w, split ? w->all : w->logw, e0, G);
    return 1;
}

/* A pool worker: its own tape and buffers, groups taken in turn until none
 * is left; out of memory is flagged for the caller. */
static void ais_worker(void *arg, int worker)
{
    ais_job *j = arg;
    int64_t item = atomic_fetch_add(&j->next, 1), last = 0;
    if (item >= j->items)
        return; /* nothing left: spare the buffers */
    ais_mem w = {0};
    varia_joint jt;
    int ok = varia_joint_open(&jt, &j->consts, j->obs_logvar) &&
             mem_alloc(&w, j->group, j->nc, varia_model_noise(j->m), j->m->info.data_size,
                       j->c->parts > 1 ? j->c->chains : 0, j->c->from_encoder);
    for (; ok && item < j->items; item = atomic_fetch_add(&j->next, 1))
        ok = run_item(j, &jt, &w, item, worker, &last);
    if (!ok && !atomic_load(&j->comm_failed))
        atomic_store(&j->oom, 1);
    mem_free(&w);
    varia_joint_close(&jt);
}

/* The first example whose estimate is not finite, as a status. */
static varia_status check_rows(varia_ctx *ctx, const varia_ais_row *rows, int64_t n, const char *op)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(rows[i].log_px))
            return varia_fail(ctx, VARIA_ERR_NONFINITE, "%s: example %lld: a chain's log weight is NaN, or every "
                              "chain's is -inf (extreme weights or input)", op, (long long)i);
    return VARIA_OK;
}

varia_status varia_ais_run(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, const varia_ais_call *c,
                           const float *z_start, int64_t done_before, int64_t total, varia_ais_row *rows)
{
    /* A split call runs on the calling thread, in groups that every part
     * forms alike (its exchanges are collective); otherwise every worker
     * should get a group. */
    int split = c->parts > 1;
    struct varia_pool *pool = split ? NULL : varia_ctx_pool(ctx);
    int64_t workers = pool ? varia_pool_size(pool) : 1, group = VARIA_AIS_ROWS * c->parts / c->chains;
    int64_t share = (n + workers - 1) / workers; /* at most: so that every worker has a group */
    group = group < 1 ? 1 : group > share ? share : group;
    ais_job j = {.m = m, .x = x, .z_start = z_start, .n = n, .group = group, .items = (n + group - 1) / group,
                 .c = c, .obs_logvar = c->sigma2 > 0.0 ? (float)log(c->sigma2) : NAN, .rows = rows,
                 .done_before = done_before, .total = total ? total : n * c->steps};
    j.report_every = j.total / 200 > 0 ? j.total / 200 : 1;
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    atomic_init(&j.oom, 0);
    atomic_init(&j.comm_failed, 0);
    varia_ais_part_chains(c->chains, c->part, c->parts, &j.c0, &j.nc);
    varia_status st = varia_joint_consts_init(ctx, m, &j.consts);
    if (st == VARIA_OK) {
        if (pool)
            varia_pool_run(pool, ais_worker, &j);
        else
            ais_worker(&j, 0);
        if (atomic_load(&j.oom))
            st = varia_fail(ctx, VARIA_ERR_NOMEM, "%s: out of memory for the chains' passes",
                            z_start ? "bdmc" : "ais");
        else if (atomic_load(&j.comm_failed))
            st = varia_fail(ctx, VARIA_ERR_IO, "%s: part %d of %d: the allgather of the chains' values failed",
                            z_start ? "bdmc" : "ais", c->part, c->parts);
    }
    varia_joint_consts_free(&j.consts);
    if (st == VARIA_OK && c->progress)
        c->progress(done_before + n * c->steps, j.total, c->user);
    return st == VARIA_OK ? check_rows(ctx, rows, n, z_start ? "bdmc (reverse)" : "ais") : st;
}

varia_status varia_ais_estimate(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                const varia_ais_opts *opts, varia_ais_row *rows)
{
    varia_status st = varia_check_model(ctx, m, x, n, "ais");
    if (st != VARIA_OK)
        return st;
    if (n < 1 || !rows)
        return varia_fail(ctx, VARIA_ERR_ARG, "ais: needs at least one example and rows for the results");
    varia_ais_call c;
    if ((st = varia_ais_resolve(ctx, m, opts, "ais", &c)) != VARIA_OK)
        return st;
    if ((st = varia_check_finite(ctx, x, n, m->info.data_size, "ais: example")) != VARIA_OK)
        return st;
    /* [0, 1] for a Bernoulli likelihood or a dynamic binarization; the
     * Gaussian observation model takes any real data */
    int dynamic = c.binarize == VARIA_BIN_DYNAMIC;
    if ((c.sigma2 == 0.0 || dynamic) && (st = varia_check_unit_range(ctx, m, x, n, dynamic, "ais")) != VARIA_OK)
        return st;
    return varia_ais_run(ctx, m, x, n, &c, NULL, 0, 0, rows);
}

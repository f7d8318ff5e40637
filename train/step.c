/* One training step: a minibatch split into fixed shards run by a thread
 * pool (the family's pass and the objective recorded on each shard's tape,
 * then backward), the gradients reduced in shard order, clipped, and the
 * optimizer's update.
 *
 * A step's gradient is the sum, in shard order, of each shard's gradient, and a
 * shard's work depends only on its rows (randomness is keyed by epoch and
 * example), so the weights never depend on how many threads ran the shards,
 * nor on how many ranks of a data-parallel job did: each rank runs its own
 * shards, the shards' results are gathered whole to every rank, and every
 * rank then sums them in shard order as one process does. */
#include "trainer.h"

#include "ctx.h"
#include "pool.h"
#include "rng.h"
#include "save.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_TRAIN_NOISE 104
/* A step's jobs. FORWARD and BACKWARD are one job (SHARDS) unless free bits
 * need the whole batch's KL in between; REDUCE and UPDATE are one (SUM_UPDATE)
 * unless clipping needs the whole gradient's norm in between. */
enum { PHASE_PACK, PHASE_FORWARD, PHASE_BACKWARD, PHASE_SHARDS, PHASE_REDUCE, PHASE_UPDATE, PHASE_SUM_UPDATE };

/* ---- one step, in phases run on every worker ---- */

#define STREAM_GAN_NOISE 105
#define STREAM_GAN_MIX 106

/* WGAN-GP's mixing weights for shard s's rows, each U(0, 1) keyed by epoch
 * and example like the noise (so neither threads nor a resume change them),
 * on the shard's tape; NULL when the pass has no penalty (or memory ran out:
 * the tape is then marked failed). */
static const float *gan_mix(varia_trainer *t, tr_shard *s)
{
    const tr_config *c = &t->c;
    int64_t rows = s->r1 - s->r0;
    float *mix = c->gan_loss == TR_GAN_WGAN_GP && t->gan_pass == TR_GAN_PASS_D ? tr_alloc(s->tape, rows) : NULL;
    for (int64_t r = 0; mix && r < rows; r++) {
        varia_rng rng;
        varia_rng_init(&rng, c->seed, STREAM_GAN_MIX, (uint64_t)t->cur_epoch,
                       (uint64_t)(t->cur_batch * c->batch + s->r0 + r));
        mix[r] = (float)varia_rng_uniform(&rng);
    }
    return mix;
}

/* A GAN step's pass t->gan_pass on shard s: the batch's real rows, the
 * generator's noise (keyed by epoch and example: the same for the
 * discriminator's pass and the generator's, as PyTorch's DCGAN example reuses
 * one fake batch), and the adversarial objective recorded (model.h). The
 * penalty's weighted sum, if any, goes where the ELBO's KL would (sum_kl). */
static void gan_forward(varia_trainer *t, tr_shard *s)
{
    const tr_config *c = &t->c;
    int64_t rows = s->r1 - s->r0, noise = t->mdl.noise;
    tr_data_batch(&t->data, c, t->cur_epoch, t->cur_batch, s->r0, s->r1, s->x);
    for (int64_t r = 0; r < rows; r++) {
        varia_rng rng;
        varia_rng_init(&rng, c->seed, STREAM_GAN_NOISE, (uint64_t)t->cur_epoch,
                       (uint64_t)(t->cur_batch * c->batch + s->r0 + r));
        varia_rng_normals(&rng, s->eps + r * noise, noise);
    }
    memset(s->grad, 0, (size_t)t->mdl.P * sizeof(float));
    tr_reset(s->tape);
    tr_bind(&t->mdl.decl, t->mdl.off, t->theta, s->grad, t->packs, t->packs_t, s->lins);
    tr_gan g = {t->gan_pass, c->gan_loss, t->gan_pass == TR_GAN_PASS_G ? s->bn : NULL, gan_mix(t, s),
                c->gradient_penalty, NULL};
    s->terms = (tr_terms){0};
    s->sum_obj = s->sum_recon = s->sum_kl = 0.0;
    if (c->gan_loss == TR_GAN_WGAN_GP && t->gan_pass == TR_GAN_PASS_D && !g.mix)
        return;
    s->terms.obj = tr_gan_record(s->tape, &t->mdl, s->lins, t->theta, s->grad, s->x, rows, s->eps, &g);
    for (int64_t r = 0; !tr_failed(s->tape) && r < rows; r++) {
        s->sum_obj += s->terms.obj->v[r];
        if (g.penalty)
            s->sum_kl += c->gradient_penalty * (double)g.penalty->v[r];
    }
}

/* Shard s's rows of the step's minibatch: examples, or sequences padded to
 * the shard's longest (s->T frames, s->lengths), and their noise, keyed by
 * epoch and example (a sequence's noise is drawn whole, so every window of
 * truncated BPTT reads the same noise for a frame as the whole pass would). */
static void shard_load(varia_trainer *t, tr_shard *s)
{
    const tr_config *c = &t->c;
    int64_t rows = s->r1 - s->r0;
    s->T = 0;
    if (t->data.is_seq)
        tr_data_seq_batch(&t->data, c, t->cur_epoch, t->cur_batch, s->r0, s->r1, s->x, s->lengths, &s->T);
    else
        tr_data_batch(&t->data, c, t->cur_epoch, t->cur_batch, s->r0, s->r1, s->x);
    int64_t noise = c->k * t->mdl.noise * (s->T ? s->T : 1);
    for (int64_t r = 0; r < rows; r++) {
        varia_rng rng;
        varia_rng_init(&rng, c->seed, STREAM_TRAIN_NOISE, (uint64_t)t->cur_epoch,
                       (uint64_t)(t->cur_batch * c->batch + s->r0 + r));
        varia_rng_normals(&rng, s->eps + r * noise, noise);
    }
}

/* Record shard s's objective for the step (for truncated BPTT, the current
 * window; the minibatch is loaded with the first) and its sums. */
static void shard_forward(varia_trainer *t, tr_shard *s)
{
    const tr_config *c = &t->c;
    if (c->objective == TR_OBJ_GAN) {
        gan_forward(t, s);
        return;
    }
    int64_t rows = s->r1 - s->r0;
    if (!c->tbptt || t->win_t0 == 0)
        shard_load(t, s);
    memset(s->grad, 0, (size_t)t->mdl.P * sizeof(float));
    tr_reset(s->tape);
    s->terms = (tr_terms){0};
    s->sum_obj = s->sum_recon = s->sum_kl = 0.0;
    const float *x = s->x, *eps = s->eps;
    tr_objective o = {.kind = t->c.objective, .k = c->k, .beta = t->beta, .free_bits = c->free_bits > 0.0,
                      .bn_stats = s->bn, .seq_len = s->T, .lengths = s->lengths};
    if (c->tbptt) { /* the window [win_t0, win_t0 + tbptt) of the shard's sequences */
        if (!tr_window(&t->mdl, &o, t->win_t0, c->tbptt, s->T, rows, s->lengths, s->wlen, s->state[0], s->state[1]))
            return; /* none of them reaches it: no terms, gradient 0 */
        x += t->win_t0 * t->mdl.D;
        eps += t->win_t0 * t->mdl.noise;
    }
    tr_bind(&t->mdl.decl, t->mdl.off, t->theta, s->grad, t->packs, t->packs_t, s->lins);
    s->terms = tr_objective_record(s->tape, &t->mdl, s->lins, t->theta, s->grad, x, rows, eps, &o);
    if (tr_failed(s->tape) || !s->terms.obj)
        return;
    for (int64_t r = 0; r < rows; r++) {
        s->sum_obj += s->terms.obj->v[r];
        s->sum_recon += s->terms.recon->v[r];
        s->sum_kl += s->terms.kl->v[r];
    }
}

static void shard_backward(varia_trainer *t, tr_shard *s)
{
    int64_t rows = s->r1 - s->r0;
    if (tr_failed(s->tape) || !s->terms.obj)
        return;
    float *seed = tr_alloc(s->tape, rows);
    if (!seed)
        return;
    /* the loss is minus the batch mean: per example, or, for sequences, per
     * frame (each sequence's objective is its frames' sum) */
    float per = (float)(t->data.is_seq ? t->batch_frames : t->c.batch);
    for (int64_t r = 0; r < rows; r++)
        seed[r] = -1.0f / per;
    tr_seed(s->tape, s->terms.obj, seed);
    if (t->c.free_bits > 0.0) {
        int64_t L = s->terms.kl_dims->cols;
        float *ks = tr_alloc(s->tape, rows * L);
        if (!ks)
            return;
        for (int64_t r = 0; r < rows; r++)
            memcpy(ks + r * L, t->kl_seed, (size_t)L * sizeof(float));
        tr_seed(s->tape, s->terms.kl_dims, ks);
    }
    tr_backward(s->tape);
    tr_model_mask(&t->mdl, s->grad); /* masked entries stay 0 */
}

static void pack_layer(varia_trainer *t, int i)
{
    const varia_decl_linear *l = &t->mdl.decl.lin[i];
    const float *w = t->theta + t->mdl.off[l->weight];
    varia_pack_panels(t->packs[i], w, l->in, l->out, 0);
    if (t->packs_t[i])
        varia_pack_panels(t->packs_t[i], w, l->out, l->in, 1);
}

#define BLOCKS TR_BLOCKS

static void block_range(const varia_trainer *t, int b, int64_t *lo, int64_t *hi)
{
    int64_t per = (t->mdl.P + BLOCKS - 1) / BLOCKS;
    *lo = b * per < t->mdl.P ? b * per : t->mdl.P;
    *hi = *lo + per < t->mdl.P ? *lo + per : t->mdl.P;
}

/* Block b's part of the range the step updates. */
static void update_range(const varia_trainer *t, int b, int64_t *lo, int64_t *hi)
{
    block_range(t, b, lo, hi);
    *lo = *lo > t->upd_lo ? *lo : t->upd_lo;
    *hi = *hi < t->upd_hi ? *hi : t->upd_hi;
    if (*hi < *lo)
        *hi = *lo;
}

/* grad = sum of the shards' gradients in shard order, and its block's squares. */
static void reduce_block(varia_trainer *t, int b)
{
    int64_t lo, hi;
    update_range(t, b, &lo, &hi);
    if (lo < hi)
        memcpy(t->grad + lo, t->sh[0].grad + lo, (size_t)(hi - lo) * sizeof(float));
    for (int s = 1; s < t->n_shards; s++)
        for (int64_t i = lo; i < hi; i++)
            t->grad[i] += t->sh[s].grad[i];
    t->block_sq[b] = t->opt.clip > 0.0 ? tr_sum_squares(t->grad, lo, hi) : 0.0;
}

static void update_block(varia_trainer *t, int b)
{
    int64_t lo, hi;
    update_range(t, b, &lo, &hi);
    tr_optim_range(t->cur_opt, t->theta, t->grad, t->lr, t->gscale, lo, hi);
}

static void phase_job(void *arg, int worker)
{
    varia_trainer *t = arg;
    int workers = t->pool ? varia_pool_size(t->pool) : 1;
    if (t->phase == PHASE_PACK)
        for (int i = worker; i < t->mdl.decl.n_lin; i += workers)
            pack_layer(t, i);
    else if (t->phase >= PHASE_REDUCE)
        for (int b = worker; b < BLOCKS; b += workers) {
            if (t->phase != PHASE_UPDATE)
                reduce_block(t, b);
            if (t->phase != PHASE_REDUCE)
                update_block(t, b);
        }
    else
        for (int s = t->s0 + worker; s < t->s1; s += workers) {
            if (t->phase != PHASE_BACKWARD)
                shard_forward(t, &t->sh[s]);
            if (t->phase != PHASE_FORWARD)
                shard_backward(t, &t->sh[s]);
        }
}

static void run_phase(varia_trainer *t, int phase)
{
    t->phase = phase;
    if (t->pool)
        varia_pool_run(t->pool, phase_job, t);
    else
        phase_job(t, 0);
}

/* Free bits: the gradient reaches dimension d's KL only while its batch mean
 * exceeds the floor (Kingma et al. 2016). Reads every row from kl_rows, in
 * row order: the same values, summed in the same order, on any rank. */
static void free_bits_seed(varia_trainer *t)
{
    int64_t L = t->mdl.info.layer_sizes[0];
    for (int64_t d = 0; d < L; d++) {
        double m = 0.0;
        for (int s = 0; s < t->n_shards; s++)
            for (int64_t r = t->sh[s].r0; r < t->sh[s].r1; r++)
                m += t->kl_rows[r * L + d];
        m /= (double)t->c.batch;
        t->kl_seed[d] = m > t->c.free_bits ? (float)(t->beta / (double)t->c.batch) : 0.0f;
    }
}

/* PyTorch's BatchNorm momentum: running = (1 - m) running + m batch. */
#define BN_MOMENTUM 0.1

/* The batch norms' running statistics, kept as PyTorch's train mode keeps
 * them: each channel's moments over the whole minibatch (the shards' moments
 * combined in shard order by Chan et al.'s pairwise rule, so any thread or
 * rank count gives the same bits), then the momentum update with the unbiased
 * variance. They live in theta, which the optimizer leaves alone there (their
 * gradient is 0), so checkpoints and the saved model carry them. */
static void update_running(varia_trainer *t)
{
    const varia_decl *d = &t->mdl.decl;
    int64_t F = t->mdl.bn_floats;
    for (int i = 0; i < d->n_lin; i++) {
        const varia_decl_linear *l = &d->lin[i];
        if (!l->has_bn)
            continue;
        int64_t at = 3 * varia_decl_bn_channels(d, i), C = l->channels ? l->channels : l->out;
        float *rm = t->theta + t->mdl.off[l->bn[2]], *rv = t->theta + t->mdl.off[l->bn[3]];
        for (int64_t c = 0; c < C; c++) {
            double n = 0.0, mean = 0.0, ss = 0.0;
            for (int s = 0; s < t->n_shards; s++) {
                const double *m = t->bn_stats + s * F + at + 3 * c;
                if (m[0] <= 0.0)
                    continue;
                double nn = n + m[0], delta = m[1] - mean;
                ss += m[2] + delta * delta * n * m[0] / nn;
                mean += delta * m[0] / nn;
                n = nn;
            }
            double var = n > 1.0 ? ss / (n - 1.0) : ss; /* one value: PyTorch refuses; 0 here */
            rm[c] = (float)((1.0 - BN_MOMENTUM) * rm[c] + BN_MOMENTUM * mean);
            rv[c] = (float)((1.0 - BN_MOMENTUM) * rv[c] + BN_MOMENTUM * var);
        }
    }
}

/* ---- the exchanges of a data-parallel job (nothing moves when alone) ---- */

/* Where shard s's part begins in each exchanged buffer, in bytes (s may be
 * n_shards: the end). */
static int64_t grad_at(const varia_trainer *t, int s)
{
    return (int64_t)s * t->mdl.P * (int64_t)sizeof(float);
}

static int64_t stats_at(const varia_trainer *t, int s)
{
    (void)t;
    return (int64_t)s * TR_STATS * (int64_t)sizeof(double);
}

/* Where shard s's batch statistics begin in bn_stats, in bytes. */
static int64_t bn_at(const varia_trainer *t, int s)
{
    return (int64_t)s * t->mdl.bn_floats * (int64_t)sizeof(double);
}

static int64_t kl_rows_at(const varia_trainer *t, int s)
{
    int64_t row = s < t->n_shards ? t->sh[s].r0 : t->c.batch;
    return row * t->mdl.info.layer_sizes[0] * (int64_t)sizeof(tr_real);
}

/* Every rank's shards' parts of buf to every rank: rank r's part runs from
 * its first shard's start to the next rank's. A gather, not a reduction: the
 * sums over shards stay in shard order wherever they are done. */
static varia_status share(varia_ctx *ctx, varia_trainer *t, void *buf,
                          int64_t (*at)(const varia_trainer *, int), const char *what)
{
    int size = t->comm.size;
    if (size == 1)
        return VARIA_OK;
    int64_t *off = malloc(((size_t)size + 1) * sizeof *off);
    if (!off)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "train: out of memory");
    for (int r = 0; r <= size; r++)
        off[r] = at(t, t->n_shards * r / size);
    int bad = t->comm.allgather(t->comm.user, buf, off);
    free(off);
    return bad ? varia_fail(ctx, VARIA_ERR_IO, "train: exchanging the shards' %s between the ranks failed", what)
               : VARIA_OK;
}

/* After the forward pass: every shard's sums and failure flag (and, with free
 * bits, its rows' KL) on every rank; then the batch's sums, in shard order. */
static varia_status gather_forward(varia_ctx *ctx, varia_trainer *t, double sums[3])
{
    int64_t L = t->mdl.info.layer_sizes[0];
    for (int s = t->s0; s < t->s1; s++) {
        const tr_shard *sh = &t->sh[s];
        double *st = t->stats + s * TR_STATS;
        st[0] = sh->sum_obj, st[1] = sh->sum_recon, st[2] = sh->sum_kl, st[3] = tr_failed(sh->tape);
    }
    varia_status st = share(ctx, t, t->stats, stats_at, "sums");
    for (int s = 0; st == VARIA_OK && s < t->n_shards; s++) {
        const double *v = t->stats + s * TR_STATS;
        if (v[3] != 0.0)
            return varia_fail(ctx, VARIA_ERR_NOMEM, "train: out of memory for the step's activations");
        sums[0] += v[0];
        sums[1] += v[1];
        sums[2] += v[2];
    }
    if (st != VARIA_OK || t->c.free_bits <= 0.0)
        return st;
    for (int s = t->s0; s < t->s1; s++)
        if (t->sh[s].terms.kl_dims)
            memcpy(t->kl_rows + t->sh[s].r0 * L, t->sh[s].terms.kl_dims->v,
                   (size_t)((t->sh[s].r1 - t->sh[s].r0) * L) * sizeof(tr_real));
    return share(ctx, t, t->kl_rows, kl_rows_at, "KL rows");
}

/* Sum the gathered gradients and update [upd_lo, upd_hi) with cur_opt at
 * rate lr, clipping the norm of that range's gradient if configured. */
static void apply_update(varia_trainer *t, double lr)
{
    t->lr = lr;
    t->gscale = 1.0;
    if (!(t->opt.clip > 0.0)) {
        run_phase(t, PHASE_SUM_UPDATE);
        return;
    }
    run_phase(t, PHASE_REDUCE);
    double sq = 0.0;
    for (int b = 0; b < BLOCKS; b++)
        sq += t->block_sq[b];
    t->gscale = tr_optim_clip_scale(&t->opt, sqrt(sq));
    run_phase(t, PHASE_UPDATE);
}

/* WGAN: every discriminator parameter into [-c, c] after its update (PyTorch's
 * clamp of netD.parameters(): batch norms' running statistics are buffers,
 * not parameters, and are left alone). */
static void clip_critic(varia_trainer *t, double c)
{
    const varia_decl *d = &t->mdl.decl;
    for (int i = 0; i < d->n_t; i++) {
        int64_t off = t->mdl.off[i];
        int running = 0;
        for (int l = 0; l < d->n_lin && !running; l++)
            running = d->lin[l].has_bn && (d->lin[l].bn[2] == i || d->lin[l].bn[3] == i);
        for (int64_t j = 0; off >= t->d_lo && !running && j < varia_decl_numel(&d->t[i]); j++)
            t->theta[off + j] = fminf(fmaxf(t->theta[off + j], (float)-c), (float)c);
    }
}

/* One pass of a GAN step (pass TR_GAN_PASS_*): record and differentiate it
 * on every shard, gather, and update that network's parameters alone, as its
 * own optimizer would (its own step count). *sum gets the batch's sum of the
 * pass's objective, *pen that of its gradient penalty (0 without one). The
 * generator's pass also keeps the batch norms' running statistics. */
static varia_status gan_pass(varia_ctx *ctx, varia_trainer *t, int pass, double lr, double *sum, double *pen)
{
    int disc = pass == TR_GAN_PASS_D;
    t->gan_pass = pass;
    t->opt_view = t->opt;
    if (disc)
        t->opt_view.t = ++t->d_steps;
    else
        tr_optim_begin(&t->opt), t->opt_view.t = t->opt.t;
    t->cur_opt = &t->opt_view;
    t->upd_lo = disc ? t->d_lo : 0;
    t->upd_hi = disc ? t->mdl.P : t->d_lo;
    run_phase(t, PHASE_PACK);
    run_phase(t, PHASE_SHARDS);
    double s3[3] = {0, 0, 0};
    varia_status st = gather_forward(ctx, t, s3);
    if (st == VARIA_OK && !disc && t->bn_stats && (st = share(ctx, t, t->bn_stats, bn_at, "batch statistics")) == VARIA_OK)
        update_running(t);
    if (st == VARIA_OK && !isfinite(s3[0]))
        st = varia_fail(ctx, VARIA_ERR_NONFINITE, "train: the %s objective became %g at epoch %lld, batch %lld "
                        "(lower the learning rate)", disc ? "discriminator's" : "generator's", s3[0],
                        (long long)t->cur_epoch + 1, (long long)t->cur_batch);
    if (st == VARIA_OK)
        st = share(ctx, t, t->grads, grad_at, "gradients");
    if (st != VARIA_OK)
        return st;
    apply_update(t, lr);
    if (disc && t->c.weight_clip > 0.0)
        clip_critic(t, t->c.weight_clip);
    *sum = s3[0];
    *pen = s3[2];
    return VARIA_OK;
}

/* A GAN step: the discriminator's update on this batch, then, every
 * critic_steps batches, the generator's. sums[0] gets the discriminator's
 * objective, sums[1] the generator's (once per its update), sums[2] the
 * discriminator's gradient penalty, weighted (WGAN-GP; else 0). */
static varia_status gan_step(varia_ctx *ctx, varia_trainer *t, double lr, double sums[3])
{
    double d = 0.0, g = 0.0, pen = 0.0, none;
    int64_t global = t->cur_epoch * (t->data.n_train / t->c.batch) + t->cur_batch;
    varia_status st = gan_pass(ctx, t, TR_GAN_PASS_D, lr, &d, &pen);
    if (st == VARIA_OK && (global + 1) % t->c.critic_steps == 0)
        st = gan_pass(ctx, t, TR_GAN_PASS_G, lr, &g, &none);
    sums[0] += d;
    sums[1] += g * (double)t->c.critic_steps; /* a per-batch mean, though it runs every critic_steps */
    sums[2] += pen;
    return st;
}

/* The KL weight of warm-up at optimizer step `step` (0-based). */
static double warmup_beta(const tr_config *c, int64_t step)
{
    return c->warmup_steps > 0 && step < c->warmup_steps
               ? c->beta0 + (1.0 - c->beta0) * (double)step / (double)c->warmup_steps
               : 1.0;
}

/* One optimizer step on what the shards record now (the minibatch, or a
 * window of it): forward and backward on every shard, the batch norms'
 * running statistics, the gathered gradients' update. Adds the recorded
 * objective, reconstruction and KL sums to sums (the epoch's running sums,
 * which are also what is checked for being finite). */
static varia_status update_once(varia_ctx *ctx, varia_trainer *t, double lr, double sums[3])
{
    int split_shards = t->c.free_bits > 0.0;
    t->upd_lo = 0;
    t->upd_hi = t->mdl.P;
    t->cur_opt = &t->opt;
    run_phase(t, PHASE_PACK);
    run_phase(t, split_shards ? PHASE_FORWARD : PHASE_SHARDS);
    varia_status st = gather_forward(ctx, t, sums);
    if (st == VARIA_OK && t->bn_stats && (st = share(ctx, t, t->bn_stats, bn_at, "batch statistics")) == VARIA_OK)
        update_running(t);
    if (st != VARIA_OK)
        return st;
    if (!isfinite(sums[0]))
        return varia_fail(ctx, VARIA_ERR_NONFINITE, "train: the objective became %g at epoch %lld, batch %lld "
                          "(lower the learning rate or clip gradients)", sums[0], (long long)t->cur_epoch + 1,
                          (long long)t->cur_batch);
    if (split_shards) {
        free_bits_seed(t);
        run_phase(t, PHASE_BACKWARD);
    }
    if ((st = share(ctx, t, t->grads, grad_at, "gradients")) != VARIA_OK)
        return st;
    tr_optim_begin(&t->opt);
    apply_update(t, lr);
    return VARIA_OK;
}

/* Truncated BPTT: the minibatch's sequences in windows of tbptt frames, one
 * optimizer step per window (so a long piece gives many updates, each
 * through at most tbptt frames of activations), each window's loss minus
 * its summed objective over its own real frames, and every shard's
 * recurrent state carried from one window to the next as a constant. Warm-up
 * counts optimizer steps, here windows. */
static varia_status tbptt_step(varia_ctx *ctx, varia_trainer *t, double lr, double sums[3])
{
    int64_t longest = tr_data_batch_longest(&t->data, &t->c, t->cur_batch);
    for (t->win_t0 = 0; t->win_t0 < longest; t->win_t0 += t->c.tbptt) {
        t->beta = warmup_beta(&t->c, t->opt.t);
        t->batch_frames = tr_data_window_frames(&t->data, &t->c, t->cur_batch, t->win_t0, t->c.tbptt);
        varia_status st = update_once(ctx, t, lr, sums);
        if (st != VARIA_OK)
            return st;
        for (int s = t->s0; s < t->s1; s++) { /* the state a window ended with starts the next */
            float *end = t->sh[s].state[1];
            t->sh[s].state[1] = t->sh[s].state[0];
            t->sh[s].state[0] = end;
        }
    }
    return VARIA_OK;
}

varia_status tr_step(varia_ctx *ctx, varia_trainer *t, double lr, double sums[3])
{
    int64_t global = t->cur_epoch * (t->data.n_train / t->c.batch) + t->cur_batch;
    t->beta = warmup_beta(&t->c, global);
    if (t->c.objective == TR_OBJ_GAN)
        return gan_step(ctx, t, lr, sums);
    t->frames_done += tr_data_batch_frames(&t->data, &t->c, t->cur_batch);
    if (t->c.tbptt)
        return tbptt_step(ctx, t, lr, sums);
    t->batch_frames = tr_data_batch_frames(&t->data, &t->c, t->cur_batch);
    return update_once(ctx, t, lr, sums);
}

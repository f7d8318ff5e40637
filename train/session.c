/* The public training API: set up a trainer from its configuration, run the
 * epochs with validation, early stopping and checkpoints, and report. */
#include "trainer.h"

#include "ctx.h"
#include "pool.h"
#include "gzfile.h"
#include "save.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Buffers for every shard and the packed weights (the first layer's input is
 * data, so its transpose is never needed). */
static varia_status alloc_state(varia_ctx *ctx, varia_trainer *t)
{
    const tr_model *md = &t->mdl;
    const tr_config *c = &t->c;
    int n_lin = md->decl.n_lin;
    int ok = tr_optim_init(&t->opt, c->opt, md->P, c->beta1, c->beta2, c->adam_eps, c->momentum, c->clip);
    t->theta = calloc((size_t)md->P, sizeof(float));
    t->grad = calloc((size_t)md->P, sizeof(float));
    t->kl_seed = calloc((size_t)md->info.layer_sizes[0] + 1, sizeof(float));
    t->packs = calloc((size_t)n_lin + 1, sizeof *t->packs);
    t->packs_t = calloc((size_t)n_lin + 1, sizeof *t->packs_t);
    t->n_shards = (int)c->shards;
    t->sh = calloc((size_t)t->n_shards, sizeof *t->sh);
    t->grads = calloc((size_t)(t->n_shards * md->P), sizeof(float));
    t->stats = calloc((size_t)t->n_shards * TR_STATS, sizeof(double));
    t->kl_rows = c->free_bits > 0.0 ? calloc((size_t)(c->batch * md->info.layer_sizes[0]), sizeof(tr_real)) : NULL;
    t->bn_stats = md->bn_floats ? calloc((size_t)(t->n_shards * md->bn_floats), sizeof(double)) : NULL;
    ok = ok && t->theta && t->grad && t->kl_seed && t->packs && t->packs_t && t->sh && t->grads && t->stats &&
         (t->kl_rows || c->free_bits <= 0.0) && (t->bn_stats || !md->bn_floats);
    for (int i = 0; ok && i < n_lin; i++) {
        const varia_decl_linear *l = &md->decl.lin[i];
        t->packs[i] = aligned_alloc(64, (size_t)varia_packed_floats(l->in, l->out) * sizeof(float));
        t->packs_t[i] = l->data_input ? NULL : aligned_alloc(64, (size_t)varia_packed_floats(l->out, l->in) * sizeof(float));
        ok = t->packs[i] && (l->data_input || t->packs_t[i]);
    }
    for (int s = 0; ok && s < t->n_shards; s++) {
        tr_shard *sh = &t->sh[s];
        sh->r0 = c->batch * s / t->n_shards;
        sh->r1 = c->batch * (s + 1) / t->n_shards;
        sh->tape = tr_tape_new();
        sh->grad = t->grads + s * md->P;
        sh->bn = t->bn_stats ? t->bn_stats + s * md->bn_floats : NULL;
        int64_t T = t->data.is_seq ? t->data.T_max : 1; /* a sequence's frames and noise, T of each */
        sh->x = calloc((size_t)((sh->r1 - sh->r0) * md->D * T), sizeof(float));
        sh->eps = calloc((size_t)((sh->r1 - sh->r0) * c->k * md->noise * T), sizeof(float));
        sh->lins = calloc((size_t)n_lin + 1, sizeof *sh->lins);
        sh->lengths = t->data.is_seq ? calloc((size_t)(sh->r1 - sh->r0), sizeof(int64_t)) : NULL;
        ok = sh->tape && sh->x && sh->eps && sh->lins && (sh->lengths || !t->data.is_seq);
        if (ok && c->tbptt) { /* the window's lengths, and the carried state in and out */
            size_t state = (size_t)((sh->r1 - sh->r0) * c->k * t->state_size);
            sh->wlen = calloc((size_t)(sh->r1 - sh->r0), sizeof(int64_t));
            sh->state[0] = calloc(state + 1, sizeof(float));
            sh->state[1] = calloc(state + 1, sizeof(float));
            ok = sh->wlen && sh->state[0] && sh->state[1];
        }
    }
    return ok ? VARIA_OK : varia_fail(ctx, VARIA_ERR_NOMEM, "train: out of memory for %lld parameters",
                                      (long long)md->P);
}

/* A step keeps every layer's output, its gradient and scratch for all
 * batch x k sample rows: refuse configurations that would need more than
 * 1 GiB of it (or of weights) before allocating anything. */
static varia_status check_sizes(varia_ctx *ctx, const varia_trainer *t)
{
    const tr_model *md = &t->mdl;
    double per_row = (double)md->D, rows = (double)t->c.batch * (double)t->c.k;
    for (int i = 0; i < md->decl.n_lin; i++) /* a conv keeps its output and its im2col rows */
        per_row += (double)(md->decl.lin[i].row_floats ? md->decl.lin[i].row_floats : md->decl.lin[i].out);
    if (t->data.is_seq) /* every step of the longest sequence (or window) is kept for the backward pass */
        per_row *= (double)(t->c.tbptt && t->c.tbptt < t->data.T_max ? t->c.tbptt : t->data.T_max);
    double floats = 4.0 * rows * per_row + 8.0 * (double)md->P;
    if (floats > (double)((int64_t)1 << 28))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "train: batch %lld x k %lld with these widths needs about %.0f MiB "
                          "of activations and state (at most 1024)", (long long)t->c.batch, (long long)t->c.k,
                          floats * 4.0 / 1048576.0);
    return VARIA_OK;
}

/* "tbptt" needs a family that carries a recurrent state from one call to
 * the next, and an objective that splits into windows: the ELBO is a sum
 * over frames, but the IWAE bound's log-mean-exp over whole sequences is not
 * a sum of the windows' bounds. Sets t->state_size. */
static varia_status check_tbptt(varia_ctx *ctx, varia_trainer *t)
{
    const tr_model *md = &t->mdl;
    if (!t->c.tbptt)
        return VARIA_OK;
    if (!t->data.is_seq || !md->family->state_size)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"tbptt\" is for sequence families with a recurrent "
                          "state (vrnn); family '%s' has none", md->family_name);
    if (t->c.objective == TR_OBJ_IWAE)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"tbptt\" needs the \"elbo\" objective (the IWAE "
                          "bound of a whole sequence does not split into windows)");
    t->state_size = md->family->state_size(md->cfg);
    return VARIA_OK;
}

/* Objective "gan" needs a family with a generator and its discriminator,
 * laid out generator first (the two networks' parameter ranges), and no
 * validation bound (a GAN has none); any other objective needs the family's
 * log-weight terms. */
static varia_status check_gan(varia_ctx *ctx, varia_trainer *t)
{
    const tr_model *md = &t->mdl;
    int gan = t->c.objective == TR_OBJ_GAN;
    if (!gan && !md->family->terms)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: family '%s' has no likelihood terms to train an ELBO or "
                          "IWAE on; use \"objective\": {\"kind\": \"gan\"}", md->family_name);
    if (!gan)
        return VARIA_OK;
    if (!md->family->critic || !md->family->has_critic(md->cfg))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: the gan objective needs an architecture with a "
                          "\"discriminator\"");
    varia_status st = VARIA_OK;
    if (t->c.gan_loss == TR_GAN_WGAN_GP && !md->family->critic_grad)
        st = varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "config: family '%s' has no critic input gradient for the "
                        "wgan_gp loss", md->family_name);
    else if (t->c.gan_loss == TR_GAN_WGAN_GP)
        st = md->family->critic_grad_check(md->cfg, ctx);
    if (st != VARIA_OK)
        return st;
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(t->c.root, "validation");
    if (val && t->c.val_every > 0)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: a gan has no validation bound; set \"validation.every\" "
                          "to 0 (its latest weights are the output)");
    t->c.val_every = 0;
    int d = 0;
    while (d < md->decl.n_t && md->decl.t[d].group != VARIA_GROUP_INFERENCE)
        d++;
    for (int i = d; i < md->decl.n_t; i++)
        if (md->decl.t[i].group != VARIA_GROUP_INFERENCE)
            return varia_fail(ctx, VARIA_ERR_INTERNAL, "train: the generator's tensors must precede the "
                              "discriminator's ('%s')", md->decl.t[i].name);
    t->d_lo = d < md->decl.n_t ? md->off[d] : md->P;
    return VARIA_OK;
}

static varia_status setup(varia_ctx *ctx, varia_trainer *t)
{
    const varia_family *fam = varia_family_find(t->c.family);
    varia_status st = tr_data_load(ctx, &t->c, fam && (fam->needs & VARIA_FAMILY_SEQ_LEN), &t->data);
    if (st == VARIA_OK)
        st = tr_model_build(ctx, t->c.family, t->c.arch, &t->data.set.shape, &t->mdl);
    if (st == VARIA_OK)
        st = check_gan(ctx, t);
    if (st == VARIA_OK)
        st = check_tbptt(ctx, t);
    if (st == VARIA_OK && t->c.objective == TR_OBJ_ELBO_ANALYTIC && t->mdl.info.n_stochastic > 1)
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: the analytic KL needs one stochastic layer; use "
                        "\"kl\": \"monte_carlo\" or the \"iwae\" objective");
    if (st == VARIA_OK && t->c.free_bits > 0.0 && strcmp(t->mdl.family->name, "vae"))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"objective.free_bits\" is for the vae family");
    if (st == VARIA_OK && t->c.objective == TR_OBJ_ELBO_ANALYTIC && t->mdl.info.flow_steps > 0)
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: a flow posterior has no analytic KL; use "
                        "\"kl\": \"monte_carlo\" or the \"iwae\" objective");
    if (st == VARIA_OK && t->mdl.info.likelihood == VARIA_LIK_BERNOULLI && t->c.binarize == TR_BIN_NONE)
        for (int64_t i = 0; i < t->data.set.n * t->data.D && st == VARIA_OK; i++)
            if (!(t->data.set.x[i] >= 0.0f && t->data.set.x[i] <= 1.0f))
                st = varia_fail(ctx, VARIA_ERR_ARG, "train: a Bernoulli likelihood needs data in [0, 1]");
    if (st == VARIA_OK && t->c.shards % t->comm.size != 0)
        st = varia_fail(ctx, VARIA_ERR_ARG, "train: %d ranks cannot share the configuration's %lld shards "
                        "evenly: run as many ranks as divide \"shards\"", t->comm.size, (long long)t->c.shards);
    if (st == VARIA_OK)
        st = check_sizes(ctx, t);
    if (st == VARIA_OK)
        st = alloc_state(ctx, t);
    if (st != VARIA_OK)
        return st;
    tr_model_init(&t->mdl, t->theta, t->c.seed, t->c.he, t->c.output_bias ? t->data.mean : NULL, t->data.var);
    int threads = t->opts.threads > 0 ? t->opts.threads : 0;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    t->s0 = (int)(t->n_shards * (int64_t)t->comm.rank / t->comm.size);
    t->s1 = (int)(t->n_shards * (int64_t)(t->comm.rank + 1) / t->comm.size);
    if (threads > t->s1 - t->s0)
        threads = t->s1 - t->s0;
    t->pool = threads > 1 ? varia_pool_new(threads) : NULL;
    t->best_val = -INFINITY;
    return varia_ctx_set_threads(ctx, threads);
}

/* A fresh run would overwrite the checkpoint of an earlier one, perhaps
 * hours of work: that takes an explicit choice. */
static varia_status refuse_overwrite(varia_ctx *ctx, const varia_trainer *t)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/checkpoint/model.json", t->c.output);
    if (!varia_path_exists(path))
        return VARIA_OK;
    return varia_fail(ctx, VARIA_ERR_ARG, "train: '%s' holds a checkpoint of an earlier run; continue it with --resume, "
                      "or remove it or choose another output to start afresh", path);
}

varia_status varia_train_open(varia_ctx *ctx, const char *config_path, const varia_train_opts *opts,
                              varia_trainer **out)
{
    return varia_train_open_comm(ctx, config_path, opts, NULL, out);
}

varia_status varia_train_open_comm(varia_ctx *ctx, const char *config_path, const varia_train_opts *opts,
                                   const varia_train_comm *comm, varia_trainer **out)
{
    if (!ctx || !config_path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_train_open: NULL argument");
    *out = NULL;
    if (comm && (comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size || !comm->allgather ||
                 !comm->broadcast))
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_train_open_comm: rank %d of %d, or a callback missing",
                          comm->rank, comm->size);
    varia_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "train: out of memory");
    if (opts)
        t->opts = *opts;
    t->comm = comm ? *comm : (varia_train_comm){.rank = 0, .size = 1};
    snprintf(t->config_path, sizeof t->config_path, "%s", config_path);
    varia_status st = tr_config_load(ctx, config_path, &t->c);
    if (st == VARIA_OK && t->comm.rank == 0) /* only rank 0 writes */
        st = tr_prepare_output(ctx, t->c.output);
    if (st == VARIA_OK)
        st = setup(ctx, t);
    int found = 0;
    if (st == VARIA_OK && t->opts.resume)
        st = tr_checkpoint_resume(ctx, t, &found);
    if (st == VARIA_OK && !t->opts.resume)
        st = refuse_overwrite(ctx, t);
    if (st != VARIA_OK) {
        varia_train_close(t);
        return st;
    }
    *out = t;
    return VARIA_OK;
}

void varia_train_close(varia_trainer *t)
{
    if (!t)
        return;
    varia_pool_free(t->pool);
    for (int s = 0; t->sh && s < t->n_shards; s++) {
        tr_tape_free(t->sh[s].tape);
        free(t->sh[s].x);
        free(t->sh[s].eps);
        free(t->sh[s].lins);
        free(t->sh[s].lengths);
        free(t->sh[s].wlen);
        free(t->sh[s].state[0]);
        free(t->sh[s].state[1]);
    }
    for (int i = 0; i < t->mdl.decl.n_lin; i++) {
        free(t->packs ? t->packs[i] : NULL);
        free(t->packs_t ? t->packs_t[i] : NULL);
    }
    free(t->packs);
    free(t->packs_t);
    tr_model_free(&t->mdl);
    free(t->sh);
    free(t->grads);
    free(t->stats);
    free(t->kl_rows);
    free(t->bn_stats);
    free(t->theta);
    free(t->grad);
    free(t->kl_seed);
    tr_optim_free(&t->opt);
    tr_data_free(&t->data);
    tr_config_free(&t->c);
    free(t->report);
    free(t);
}

const char *varia_train_report(const varia_trainer *t)
{
    return t ? t->report : NULL;
}

/* Sequences: the held-out tail padded to its longest, scored by the runtime
 * with each one's length; *bound is log p per frame (total over total
 * frames, the music benchmarks' figure). */
static varia_status validate_seq(varia_ctx *ctx, varia_trainer *t, const varia_model *m, const varia_eval_opts *eo,
                                 double *bound)
{
    const varia_seqset *q = &t->data.seq;
    int64_t n = t->data.n_val, first = t->data.n_train, T = 0, F = q->dim;
    for (int64_t i = first; i < q->n; i++)
        T = q->lengths[i] > T ? q->lengths[i] : T;
    float *x = calloc((size_t)(n * T * F) + 1, sizeof *x);
    varia_eval_row *rows = malloc((size_t)n * sizeof *rows);
    varia_status st = x && rows ? VARIA_OK : varia_fail(ctx, VARIA_ERR_NOMEM, "train: out of memory for validation");
    for (int64_t i = 0; st == VARIA_OK && i < n; i++)
        memcpy(x + i * T * F, q->x + q->offsets[first + i] * F, (size_t)(q->lengths[first + i] * F) * sizeof *x);
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = q->lengths + first};
    varia_eval_summary s;
    varia_seq_summary sq = {.size = sizeof sq};
    if (st == VARIA_OK)
        st = varia_eval_ex(ctx, m, x, n, eo, &o, rows, &s);
    if (st == VARIA_OK)
        st = varia_eval_seq_summary(ctx, m, rows, n, &o, &sq);
    *bound = st == VARIA_OK ? sq.log_px_per_step : NAN;
    free(x);
    free(rows);
    return st;
}

/* The validation IW bound (mean L_k over the held-out tail), computed by the
 * runtime on the current weights written in the model format: what validation
 * scores is exactly what will be shipped. */
static varia_status validate(varia_ctx *ctx, varia_trainer *t, double *bound)
{
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/validation", t->c.output);
    varia_status st = tr_make_dir(ctx, t->c.output);
    if (st == VARIA_OK)
        st = tr_make_dir(ctx, dir);
    if (st == VARIA_OK)
        st = tr_save_model(ctx, dir, &t->mdl, t->c.arch, t->theta, "model.safetensors", tr_data_meta(t), NULL);
    varia_model *m = NULL;
    snprintf(path, sizeof path, "%s/model.json", dir);
    if (st == VARIA_OK)
        st = varia_model_load(ctx, path, &m);
    varia_eval_summary sum;
    varia_eval_opts eo = {t->c.val_k, t->c.seed,
                          t->c.binarize == TR_BIN_DYNAMIC ? VARIA_BIN_DYNAMIC
                          : t->c.binarize == TR_BIN_THRESHOLD ? VARIA_BIN_THRESHOLD : VARIA_BIN_NONE};
    if (st == VARIA_OK && t->data.is_seq) {
        st = validate_seq(ctx, t, m, &eo, bound);
        varia_model_free(m);
        return st;
    }
    if (st == VARIA_OK)
        st = varia_eval(ctx, m, t->data.set.x + t->data.n_train * t->data.D, t->data.n_val, &eo, NULL, &sum);
    varia_model_free(m);
    *bound = st == VARIA_OK ? -sum.nll_mean : NAN;
    return st;
}

static varia_status save_output(varia_ctx *ctx, varia_trainer *t, double wall)
{
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddItemToObject(extra, "provenance", tr_provenance(t, wall));
    varia_status st = tr_make_dir(ctx, t->c.output);
    if (st == VARIA_OK)
        st = tr_save_model(ctx, t->c.output, &t->mdl, t->c.arch, t->theta, "model.safetensors", tr_data_meta(t),
                           extra);
    else
        cJSON_Delete(extra);
    return st;
}

/* Rank 0's status st (and *bound, if given) to every rank, so that all take
 * the same decisions; a rank other than 0 fails when rank 0 did. Collective:
 * every rank calls it at the same points. Alone, returns st. */
static varia_status share_root(varia_ctx *ctx, varia_trainer *t, varia_status st, double *bound)
{
    if (t->comm.size == 1)
        return st;
    double msg[2] = {(double)st, bound ? *bound : 0.0};
    if (t->comm.broadcast(t->comm.user, msg, (int64_t)sizeof msg))
        return varia_fail(ctx, VARIA_ERR_IO, "train: the broadcast from rank 0 failed");
    if (bound)
        *bound = msg[1];
    if (t->comm.rank != 0 && msg[0] != 0.0)
        return varia_fail(ctx, (varia_status)(int)msg[0], "train: rank 0 failed to validate or to write the "
                          "outputs (its own message says why)");
    return st;
}

/* Validation after epoch t->epoch; keeps the best weights as the output.
 * Rank 0 validates and writes; the others follow its bound and status. */
static varia_status after_epoch(varia_ctx *ctx, varia_trainer *t, double wall, varia_train_progress *p, int *stop)
{
    int64_t E = tr_config_epochs(&t->c);
    int root = t->comm.rank == 0;
    p->val_bound = NAN;
    int due = t->c.val_every > 0 && t->data.n_val > 0 && (t->epoch % t->c.val_every == 0 || t->epoch == E);
    varia_status st = VARIA_OK;
    if (due) {
        st = share_root(ctx, t, root ? validate(ctx, t, &p->val_bound) : VARIA_OK, &p->val_bound);
        if (st == VARIA_OK && p->val_bound > t->best_val) {
            t->best_val = p->val_bound;
            t->best_epoch = t->epoch;
            t->bad_vals = 0;
            st = root ? save_output(ctx, t, wall) : VARIA_OK;
        } else if (st == VARIA_OK) {
            t->bad_vals++;
            *stop = t->c.patience > 0 && t->bad_vals >= t->c.patience;
        }
    } else if (t->data.n_val == 0 || t->c.val_every == 0) {
        t->best_epoch = t->epoch; /* no validation: the latest weights are the output */
        st = root ? save_output(ctx, t, wall) : VARIA_OK;
    }
    if (st == VARIA_OK && root && (t->epoch % t->c.ckpt_every == 0 || t->epoch == E || *stop))
        st = tr_checkpoint_save(ctx, t, wall);
    return share_root(ctx, t, st, NULL);
}

static void make_report(varia_trainer *t, double wall, int64_t epochs_here, double rate, int stopped_early)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "epochs_run", (double)t->epoch);
    cJSON_AddNumberToObject(r, "epochs_planned", (double)tr_config_epochs(&t->c));
    cJSON_AddNumberToObject(r, "epochs_this_process", (double)epochs_here);
    cJSON_AddBoolToObject(r, "stopped_early", stopped_early);
    cJSON_AddNumberToObject(r, "best_epoch", (double)t->best_epoch);
    if (isfinite(t->best_val))
        cJSON_AddNumberToObject(r, "best_validation_bound", t->best_val);
    cJSON_AddNumberToObject(r, "wall_time_s", wall);
    cJSON_AddNumberToObject(r, "examples_per_s", rate);
    cJSON_AddStringToObject(r, "output", t->c.output);
    free(t->report);
    t->report = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
}

static void report_progress(varia_trainer *t, varia_train_progress *p, const double sums[3], int64_t done,
                            double rate, varia_train_progress_fn fn, void *user)
{
    int64_t E = tr_config_epochs(&t->c), per_epoch = t->data.n_train / t->c.batch * t->c.batch;
    p->epoch = t->cur_epoch + 1;
    p->epochs = E;
    p->examples_done = done;
    p->epoch_size = per_epoch;
    p->step = done / t->c.batch;
    p->examples_per_s = rate;
    p->eta_s = rate > 0 ? ((double)(E - t->cur_epoch) * (double)per_epoch - (double)done) / rate : NAN;
    double per = t->data.is_seq ? (double)t->frames_done : (double)done; /* sequences: per frame */
    p->objective = done ? sums[0] / per : NAN;
    p->recon = done ? sums[1] / per : NAN;
    p->kl = done ? sums[2] / per : NAN;
    p->elbo = p->recon - p->kl;
    p->adversarial = t->c.objective == TR_OBJ_GAN;
    p->gradient_penalty = NAN;
    if (p->adversarial) { /* the two passes' objectives; no likelihood terms */
        p->d_objective = p->objective;
        p->g_objective = p->recon;
        if (t->c.gan_loss == TR_GAN_WGAN_GP)
            p->gradient_penalty = p->kl;
        p->elbo = p->recon = p->kl = NAN;
    }
    p->beta = t->beta;
    p->best_val_bound = t->best_val;
    p->best_epoch = t->best_epoch;
    if (fn)
        fn(p, user);
}

/* One epoch; progress about once a second. */
static varia_status run_epoch(varia_ctx *ctx, varia_trainer *t, double t0, int64_t *examples_here,
                              varia_train_progress *p, varia_train_progress_fn fn, void *user)
{
    double sums[3] = {0, 0, 0}, last = now_s();
    int64_t nb = t->data.n_train / t->c.batch;
    tr_data_epoch(&t->data, t->c.seed, t->cur_epoch);
    t->frames_done = 0;
    p->lr = tr_config_lr(&t->c, t->cur_epoch);
    p->epoch_done = 0;
    p->val_bound = NAN;
    for (t->cur_batch = 0; t->cur_batch < nb; t->cur_batch++) {
        varia_status st = tr_step(ctx, t, p->lr, sums);
        if (st != VARIA_OK)
            return st;
        *examples_here += t->c.batch;
        double now = now_s();
        if (now - last >= 1.0 || t->cur_batch + 1 == nb) {
            last = now;
            report_progress(t, p, sums, (t->cur_batch + 1) * t->c.batch, (double)*examples_here / (now - t0), fn,
                            user);
        }
    }
    return VARIA_OK;
}

varia_status varia_train_run(varia_ctx *ctx, varia_trainer *t, varia_train_progress_fn fn, void *user)
{
    if (!ctx || !t)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_train_run: NULL argument");
    int64_t E = tr_config_epochs(&t->c), here = 0, examples = 0;
    double t0 = now_s();
    int stop = t->c.patience > 0 && t->bad_vals >= t->c.patience; /* a resumed run that had stopped early */
    varia_train_progress p;
    memset(&p, 0, sizeof p);
    while (t->epoch < E && !stop && !(t->opts.stop_after > 0 && here >= t->opts.stop_after)) {
        t->cur_epoch = t->epoch;
        varia_status st = run_epoch(ctx, t, t0, &examples, &p, fn, user);
        t->epoch++;
        here++;
        double wall = t->wall_before + (now_s() - t0);
        if (st == VARIA_OK)
            st = after_epoch(ctx, t, wall, &p, &stop);
        if (st != VARIA_OK)
            return st;
        p.epoch_done = 1;
        p.best_val_bound = t->best_val;
        p.best_epoch = t->best_epoch;
        if (fn)
            fn(&p, user);
    }
    double el = now_s() - t0;
    make_report(t, t->wall_before + el, here, el > 0 ? (double)examples / el : 0.0, stop);
    return VARIA_OK;
}

/* Internal: the trainer's state, shared by session.c (the public API and the
 * epochs), step.c (one minibatch step) and checkpoint.c (saving and resuming it). */
#ifndef VARIA_TRAIN_TRAINER_H
#define VARIA_TRAIN_TRAINER_H

#include "varia_train.h"

#include "config.h"
#include "data.h"
#include "model.h"
#include "optim.h"

struct varia_pool;

/* Elementwise work over the parameters is split into this many fixed blocks,
 * so the clipping norm's partial sums never depend on the thread count. */
#define TR_BLOCKS 64
/* Per shard and step: objective, reconstruction and KL sums, 1 if it failed. */
#define TR_STATS 4

typedef struct tr_shard {
    tr_tape *tape;
    float *grad, *x, *eps;
    tr_lin *lins; /* [n_lin], bound to theta and this shard's gradient */
    double *bn;   /* [bn_floats] in the trainer's bn_stats: this shard's batch statistics (NULL: no batch norm) */
    tr_terms terms;
    int64_t *lengths; /* sequences: this step's rows' lengths (NULL otherwise) */
    int64_t T;        /* sequences: the frames x holds per row (this shard's longest) */
    /* truncated BPTT: each row's frames in the current window, and the
     * recurrent state the window starts from ([0]) and ends with ([1]),
     * [rows * k, state_size] each (NULL without tbptt) */
    int64_t *wlen;
    float *state[2];
    int64_t r0, r1;
    double sum_obj, sum_recon, sum_kl;
} tr_shard;

struct varia_trainer {
    tr_config c;
    tr_model mdl;
    tr_data data;
    tr_optim opt;
    float *theta, *grad, *kl_seed;
    float **packs, **packs_t; /* [n_lin]: packed weights, and transposes (NULL: data input) */
    int n_shards;
    tr_shard *sh;
    /* A data-parallel job (comm.size 1: alone): this rank runs shards
     * [s0, s1); what the others ran arrives through comm's exchanges. */
    varia_train_comm comm;
    int s0, s1;
    float *grads;     /* [n_shards * P]: shard s's gradient at s * P, one block so one exchange moves them */
    double *stats;    /* [n_shards * TR_STATS]: each shard's sums and failure flag (step.c) */
    tr_real *kl_rows; /* [batch * latent], free bits only: every row's KL per dimension, in row order */
    double *bn_stats; /* [n_shards * bn_floats], batch norm only: each shard's batch statistics (step.c) */
    struct varia_pool *pool;
    varia_train_opts opts;
    char config_path[1024];
    /* progress, saved in checkpoints */
    int64_t epoch, bad_vals, best_epoch;
    double best_val, wall_before;
    /* the step being run; its update acts on [upd_lo, upd_hi) with cur_opt */
    int64_t cur_epoch, cur_batch, phase;
    int64_t upd_lo, upd_hi;
    const tr_optim *cur_opt;
    /* objective "gan": the pass being run (TR_GAN_PASS_*), where the
     * discriminator's parameters begin (they follow the generator's), and
     * the discriminator's own update count for Adam's bias correction (the
     * two share opt's moment arrays, on disjoint ranges, as two optimizers) */
    int gan_pass;
    int64_t d_lo, d_steps;
    tr_optim opt_view;
    /* sequences: the frames of this step's minibatch (the loss is per frame)
     * and of the epoch so far (progress is per frame) */
    int64_t batch_frames, frames_done;
    /* truncated BPTT: the first frame of the window being run, and the
     * recurrent state's floats per row (the family's state_size) */
    int64_t win_t0, state_size;
    double beta, lr, gscale, block_sq[TR_BLOCKS];
    char *report;
};

/* step.c: one minibatch step (cur_epoch, cur_batch) at rate lr; adds the
 * batch's sums of objective, reconstruction and KL to sums. */
varia_status tr_step(varia_ctx *ctx, varia_trainer *t, double lr, double sums[3]);

/* checkpoint.c */
varia_status tr_checkpoint_save(varia_ctx *ctx, varia_trainer *t, double wall);
/* 1 if a checkpoint was found and loaded, 0 if there is none. */
varia_status tr_checkpoint_resume(varia_ctx *ctx, varia_trainer *t, int *found);
/* The manifest's "data" object and the provenance for the output model. */
cJSON *tr_data_meta(const varia_trainer *t);
cJSON *tr_provenance(const varia_trainer *t, double wall);

#endif

/* varia training module: learns the runtime's model families on real data and
 * writes them in the format the runtime loads. A separate library (libvaria_train); the
 * runtime never links it. The configuration file is described in
 * docs/training.md.
 *
 * Determinism: for a given configuration (including its seed and its "shards")
 * the weights after every step are bit-identical whatever the thread count,
 * and a run resumed from a checkpoint ends with the same weights as one that
 * was never interrupted. */
#ifndef VARIA_TRAIN_H
#define VARIA_TRAIN_H

#include "varia.h"

#include <stdint.h>

/* VARIA_API (from varia.h) marks the functions libvaria_train exports: these
 * and varia.h's, nothing else. */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct varia_trainer varia_trainer;

typedef struct varia_train_opts {
    int threads;          /* 0: all cores */
    int resume;           /* continue from the output's checkpoint if one exists */
    int64_t stop_after;   /* > 0: stop (as if killed) after this many epochs of
                             this process, checkpoint written; 0: run to the end */
} varia_train_opts;

/* What the progress callback sees, once per reporting interval and at the end
 * of every epoch (epoch_done = 1; val_bound is then set if validation ran). */
typedef struct varia_train_progress {
    int64_t epoch, epochs;       /* 1-based current epoch, planned total */
    int64_t step, examples_done; /* in this epoch: examples so far of epoch_size */
    int64_t epoch_size;
    double examples_per_s, eta_s; /* this process's rate; time to the planned end */
    double objective, elbo, recon, kl; /* running means over the epoch so far */
    double lr, beta;
    int epoch_done;
    double val_bound;            /* validation IW bound (nats), NAN when not run */
    double best_val_bound;
    int64_t best_epoch;
    /* objective "gan": 1, with the discriminator's and the generator's
     * objectives (running means, to maximise) in place of elbo, recon, kl
     * (NAN then; objective is the discriminator's) */
    int adversarial;
    double d_objective, g_objective;
    /* loss "wgan_gp": the running mean of the discriminator's gradient
     * penalty lambda (|grad D(x^)| - 1)^2, already inside d_objective (so
     * d_objective + gradient_penalty estimates the Wasserstein distance);
     * NAN otherwise */
    double gradient_penalty;
} varia_train_progress;

typedef void (*varia_train_progress_fn)(const varia_train_progress *p, void *user);

/* Read and check the configuration, load the data, initialize (or resume).
 * Errors name the configuration key or file at fault. Without opts->resume,
 * an output that already holds a checkpoint is refused (VARIA_ERR_ARG) rather
 * than overwritten. */
VARIA_API varia_status varia_train_open(varia_ctx *ctx, const char *config_path, const varia_train_opts *opts,
                                        varia_trainer **out);

/* Exchanges between the processes of one data-parallel training job,
 * supplied by the caller (the varia command passes MPI's), so the training
 * module itself links no communication library. Every call is collective:
 * each rank makes the same calls in the same order. Each returns 0 on
 * success; a non-zero return stops the run with VARIA_ERR_IO on every rank
 * (a callback that cannot go on may also end the process itself). */
typedef struct varia_train_comm {
    int rank;  /* this process, 0 .. size - 1 */
    int size;  /* processes in the job; it must divide the configuration's "shards" */
    /* buf holds size parts, part r being bytes [off[r], off[r + 1]); on
     * entry this rank's part is set, on return every rank's is. */
    int (*allgather)(void *user, void *buf, const int64_t *off);
    /* bytes of buf from rank 0 to every rank. */
    int (*broadcast)(void *user, void *buf, int64_t bytes);
    void *user; /* passed to both */
} varia_train_comm;

/* varia_train_open for one rank of a data-parallel job (comm may be NULL:
 * one process, exactly varia_train_open). Rank r computes shards
 * [r S / size, (r + 1) S / size) of every minibatch; the shards' gradients
 * are gathered and summed in shard order on every rank, so the weights are
 * bit-identical to one process's for any size dividing S. Every rank reads
 * the configuration, the data and the checkpoint; only rank 0 writes
 * (validation, checkpoints, the output) and validates, and broadcasts what
 * it found. *comm is copied. */
VARIA_API varia_status varia_train_open_comm(varia_ctx *ctx, const char *config_path, const varia_train_opts *opts,
                                             const varia_train_comm *comm, varia_trainer **out);

/* Train to the end of the schedule (or early stop, or stop_after). Writes
 * checkpoints and, at the end, the output model. progress may be NULL. */
VARIA_API varia_status varia_train_run(varia_ctx *ctx, varia_trainer *t, varia_train_progress_fn progress, void *user);

/* After a run: the final report as a JSON object (owned by t; NULL before). */
VARIA_API const char *varia_train_report(const varia_trainer *t);

VARIA_API void varia_train_close(varia_trainer *t);

#ifdef __cplusplus
}
#endif

#endif

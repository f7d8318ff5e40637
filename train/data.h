/* Training data: the dataset split into a training part and a held-out
 * validation tail, shuffled minibatches, and per-minibatch binarization. All
 * randomness is keyed by (seed, epoch, example), never by thread or order. */
#ifndef VARIA_TRAIN_DATA_H
#define VARIA_TRAIN_DATA_H

#include "config.h"
#include "varia.h"

typedef struct tr_data {
    varia_dataset set;         /* examples; for sequences only its shape ([F], one frame) */
    varia_seqset seq;          /* sequences (a sequence family's data; else empty) */
    int is_seq;
    int64_t T_max;             /* sequences: the longest */
    int64_t n_train, n_val, D; /* train: the first n_train; validation: the rest; D: an example's (a frame's) size */
    int64_t *perm;             /* this epoch's order of the training examples */
    int64_t perm_epoch;
    float *mean;               /* per-dimension mean of the training part */
    double var;                /* its variance, averaged over dimensions */
} tr_data;

/* The configuration's data: examples, or, with seq (a sequence family), the
 * sequences varia_seqset_load reads (.npz, .npy, images as rows). */
varia_status tr_data_load(varia_ctx *ctx, const tr_config *c, int seq, tr_data *d);
void tr_data_free(tr_data *d);

/* Shuffle for 0-based epoch e (a no-op when already done for e). */
void tr_data_epoch(tr_data *d, uint64_t seed, int64_t e);

/* Rows [r0, r1) of minibatch b of epoch e into x[(r1 - r0) * D], binarized as
 * configured (dynamic: a fresh Bernoulli draw per epoch and example). */
void tr_data_batch(const tr_data *d, const tr_config *c, int64_t e, int64_t b, int64_t r0, int64_t r1, float *x);
/* Sequences: rows [r0, r1) of minibatch b padded to the longest of them,
 * *T frames each: x[(r1 - r0) * *T * D] (zeros past each length, binarized
 * as configured) and lengths[r1 - r0]. */
void tr_data_seq_batch(const tr_data *d, const tr_config *c, int64_t e, int64_t b, int64_t r0, int64_t r1, float *x,
                       int64_t *lengths, int64_t *T);
/* The frames of minibatch b's sequences (0 for examples). */
int64_t tr_data_batch_frames(const tr_data *d, const tr_config *c, int64_t b);
/* Sequences: the frames of minibatch b's sequences that fall in frames
 * [t0, t0 + n) (a window of truncated BPTT), and the longest of them. */
int64_t tr_data_window_frames(const tr_data *d, const tr_config *c, int64_t b, int64_t t0, int64_t n);
int64_t tr_data_batch_longest(const tr_data *d, const tr_config *c, int64_t b);

#endif

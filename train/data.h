/* Training data: the dataset split into a training part and a held-out
 * validation tail, shuffled minibatches, and per-minibatch binarization. All
 * randomness is keyed by (seed, epoch, example), never by thread or order. */
#ifndef VARIA_TRAIN_DATA_H
#define VARIA_TRAIN_DATA_H

#include "config.h"
#include "varia.h"

typedef struct tr_data {
    varia_dataset set;
    int64_t n_train, n_val, D; /* train: the first n_train; validation: the rest */
    int64_t *perm;             /* this epoch's order of the training examples */
    int64_t perm_epoch;
    float *mean;               /* per-dimension mean of the training part */
    double var;                /* its variance, averaged over dimensions */
} tr_data;

varia_status tr_data_load(varia_ctx *ctx, const tr_config *c, tr_data *d);
void tr_data_free(tr_data *d);

/* Shuffle for 0-based epoch e (a no-op when already done for e). */
void tr_data_epoch(tr_data *d, uint64_t seed, int64_t e);

/* Rows [r0, r1) of minibatch b of epoch e into x[(r1 - r0) * D], binarized as
 * configured (dynamic: a fresh Bernoulli draw per epoch and example). */
void tr_data_batch(const tr_data *d, const tr_config *c, int64_t e, int64_t b, int64_t r0, int64_t r1, float *x);

#endif

/* Training data (see data.h). */
#include "data.h"

#include "ctx.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_SHUFFLE 102
#define STREAM_TRAIN_BIN 103

varia_status tr_data_load(varia_ctx *ctx, const tr_config *c, tr_data *d)
{
    memset(d, 0, sizeof *d);
    varia_status st = varia_dataset_load(ctx, c->train_path, c->limit, &d->set);
    if (st != VARIA_OK)
        return st;
    d->D = d->set.example_size;
    d->n_val = c->validation;
    d->n_train = d->set.n - d->n_val;
    d->perm_epoch = -1;
    if (d->n_train < c->batch) {
        st = varia_fail(ctx, VARIA_ERR_ARG, "train: '%s' has %lld examples: fewer than the validation split (%lld) "
                        "plus one batch (%lld)", c->train_path, (long long)(d->set.n), (long long)c->validation,
                        (long long)c->batch);
        tr_data_free(d);
        return st;
    }
    int unit = c->binarize == TR_BIN_DYNAMIC || c->binarize == TR_BIN_DEQUANTIZE;
    for (int64_t i = 0; unit && i < d->set.n * d->D; i++)
        if (!(d->set.x[i] >= 0.0f && d->set.x[i] <= 1.0f)) {
            st = varia_fail(ctx, VARIA_ERR_ARG, "train: %s needs values in [0, 1]; '%s' example %lld has %g",
                            c->binarize == TR_BIN_DYNAMIC ? "dynamic binarization" : "dequantization",
                            c->train_path, (long long)(i / (d->D ? d->D : 1)), (double)d->set.x[i]);
            tr_data_free(d);
            return st;
        }
    d->perm = malloc((size_t)d->n_train * sizeof *d->perm);
    d->mean = calloc((size_t)d->D, sizeof *d->mean);
    double *acc = calloc((size_t)d->D, sizeof *acc);
    if (!d->perm || !d->mean || !acc) {
        free(acc);
        tr_data_free(d);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "train: out of memory for the data index");
    }
    for (int64_t i = 0; i < d->n_train; i++)
        for (int64_t j = 0; j < d->D; j++)
            acc[j] += d->set.x[i * d->D + j];
    for (int64_t j = 0; j < d->D; j++)
        d->mean[j] = (float)(acc[j] / (double)d->n_train);
    double ss = 0.0;
    for (int64_t i = 0; i < d->n_train; i++)
        for (int64_t j = 0; j < d->D; j++) {
            double e = (double)d->set.x[i * d->D + j] - d->mean[j];
            ss += e * e;
        }
    d->var = ss / (double)(d->n_train * d->D);
    free(acc);
    return VARIA_OK;
}

void tr_data_free(tr_data *d)
{
    varia_dataset_free(&d->set);
    free(d->perm);
    free(d->mean);
    d->perm = NULL;
    d->mean = NULL;
}

void tr_data_epoch(tr_data *d, uint64_t seed, int64_t e)
{
    if (d->perm_epoch == e)
        return;
    varia_rng r;
    varia_rng_init(&r, seed, STREAM_SHUFFLE, (uint64_t)e, 0);
    for (int64_t i = 0; i < d->n_train; i++)
        d->perm[i] = i;
    for (int64_t i = d->n_train - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)(varia_rng_u64(&r) % (uint64_t)(i + 1));
        int64_t t = d->perm[i];
        d->perm[i] = d->perm[j];
        d->perm[j] = t;
    }
    d->perm_epoch = e;
}

void tr_data_batch(const tr_data *d, const tr_config *c, int64_t e, int64_t b, int64_t r0, int64_t r1, float *x)
{
    for (int64_t r = r0; r < r1; r++) {
        int64_t idx = d->perm[b * c->batch + r];
        const float *src = d->set.x + idx * d->D;
        float *dst = x + (r - r0) * d->D;
        varia_rng rng;
        varia_rng_init(&rng, c->seed, STREAM_TRAIN_BIN, (uint64_t)e, (uint64_t)idx);
        for (int64_t j = 0; j < d->D; j++) {
            switch (c->binarize) {
            case TR_BIN_DYNAMIC: dst[j] = varia_rng_uniform(&rng) < (double)src[j] ? 1.0f : 0.0f; break;
            case TR_BIN_THRESHOLD: dst[j] = src[j] >= 0.5f ? 1.0f : 0.0f; break;
            /* 8-bit intensities v / 255 to (v + u) / 256, u ~ U(0, 1): continuous data
             * whose density is comparable with the discrete one's (Wu et al. 2017) */
            case TR_BIN_DEQUANTIZE:
                dst[j] = (float)((floor((double)src[j] * 255.0 + 0.5) + varia_rng_uniform(&rng)) / 256.0);
                break;
            default: dst[j] = src[j];
            }
        }
    }
}

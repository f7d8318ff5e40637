/* Training data (see data.h). */
#include "data.h"

#include "ctx.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_SHUFFLE 102
#define STREAM_TRAIN_BIN 103

/* The sequences of c's data into d: the set, its split, its frame size. */
static varia_status load_seq(varia_ctx *ctx, const tr_config *c, tr_data *d)
{
    varia_status st = varia_seqset_load(ctx, c->train_path, c->limit, &d->seq);
    if (st != VARIA_OK)
        return st;
    d->is_seq = 1;
    d->D = d->seq.dim;
    d->set.shape = (varia_shape){1, {d->seq.dim}};
    d->n_val = c->validation;
    d->n_train = d->seq.n - d->n_val;
    for (int64_t i = 0; i < d->seq.n; i++)
        d->T_max = d->seq.lengths[i] > d->T_max ? d->seq.lengths[i] : d->T_max;
    if (d->n_train < c->batch)
        return varia_fail(ctx, VARIA_ERR_ARG, "train: '%s' has %lld sequences: fewer than the validation split (%lld) "
                          "plus one batch (%lld)", c->train_path, (long long)d->seq.n, (long long)c->validation,
                          (long long)c->batch);
    return VARIA_OK;
}

/* The values the per-dimension statistics run over: the training examples,
 * or the training sequences' frames. */
static const float *train_values(const tr_data *d, int64_t *rows)
{
    *rows = d->is_seq ? d->seq.offsets[d->n_train] : d->n_train;
    return d->is_seq ? d->seq.x : d->set.x;
}

varia_status tr_data_load(varia_ctx *ctx, const tr_config *c, int seq, tr_data *d)
{
    memset(d, 0, sizeof *d);
    d->perm_epoch = -1;
    varia_status st = seq ? load_seq(ctx, c, d) : varia_dataset_load(ctx, c->train_path, c->limit, &d->set);
    if (st != VARIA_OK) {
        tr_data_free(d);
        return st;
    }
    if (!seq) {
        d->D = d->set.example_size;
        d->n_val = c->validation;
        d->n_train = d->set.n - d->n_val;
    }
    if (!seq && d->n_train < c->batch) {
        st = varia_fail(ctx, VARIA_ERR_ARG, "train: '%s' has %lld examples: fewer than the validation split (%lld) "
                        "plus one batch (%lld)", c->train_path, (long long)(d->set.n), (long long)c->validation,
                        (long long)c->batch);
        tr_data_free(d);
        return st;
    }
    int64_t all = seq ? d->seq.total : d->set.n;
    const float *vals = seq ? d->seq.x : d->set.x;
    int unit = c->binarize == TR_BIN_DYNAMIC || c->binarize == TR_BIN_DEQUANTIZE;
    for (int64_t i = 0; unit && i < all * d->D; i++)
        if (!(vals[i] >= 0.0f && vals[i] <= 1.0f)) {
            st = varia_fail(ctx, VARIA_ERR_ARG, "train: %s needs values in [0, 1]; '%s' %s %lld has %g",
                            c->binarize == TR_BIN_DYNAMIC ? "dynamic binarization" : "dequantization",
                            c->train_path, seq ? "frame" : "example", (long long)(i / (d->D ? d->D : 1)),
                            (double)vals[i]);
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
    int64_t rows;
    const float *tv = train_values(d, &rows);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d->D; j++)
            acc[j] += tv[i * d->D + j];
    for (int64_t j = 0; j < d->D; j++)
        d->mean[j] = (float)(acc[j] / (double)rows);
    double ss = 0.0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d->D; j++) {
            double e = (double)tv[i * d->D + j] - d->mean[j];
            ss += e * e;
        }
    d->var = ss / (double)(rows * d->D);
    free(acc);
    return VARIA_OK;
}

void tr_data_free(tr_data *d)
{
    varia_dataset_free(&d->set);
    varia_seqset_free(&d->seq);
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

/* One value as configured (rng: the example's stream). */
static float prep(const tr_config *c, varia_rng *rng, float v)
{
    switch (c->binarize) {
    case TR_BIN_DYNAMIC: return varia_rng_uniform(rng) < (double)v ? 1.0f : 0.0f;
    case TR_BIN_THRESHOLD: return v >= 0.5f ? 1.0f : 0.0f;
    /* 8-bit intensities v / 255 to (v + u) / 256, u ~ U(0, 1): continuous data
     * whose density is comparable with the discrete one's (Wu et al. 2017) */
    case TR_BIN_DEQUANTIZE: return (float)((floor((double)v * 255.0 + 0.5) + varia_rng_uniform(rng)) / 256.0);
    default: return v;
    }
}

void tr_data_seq_batch(const tr_data *d, const tr_config *c, int64_t e, int64_t b, int64_t r0, int64_t r1, float *x,
                       int64_t *lengths, int64_t *T)
{
    *T = 0;
    for (int64_t r = r0; r < r1; r++) {
        int64_t len = d->seq.lengths[d->perm[b * c->batch + r]];
        *T = len > *T ? len : *T;
    }
    memset(x, 0, (size_t)((r1 - r0) * *T * d->D) * sizeof *x);
    for (int64_t r = r0; r < r1; r++) {
        int64_t idx = d->perm[b * c->batch + r], n = d->seq.lengths[idx] * d->D;
        const float *src = d->seq.x + d->seq.offsets[idx] * d->D;
        float *dst = x + (r - r0) * *T * d->D;
        varia_rng rng;
        varia_rng_init(&rng, c->seed, STREAM_TRAIN_BIN, (uint64_t)e, (uint64_t)idx);
        for (int64_t j = 0; j < n; j++)
            dst[j] = prep(c, &rng, src[j]);
        lengths[r - r0] = d->seq.lengths[idx];
    }
}

int64_t tr_data_batch_frames(const tr_data *d, const tr_config *c, int64_t b)
{
    int64_t f = 0;
    for (int64_t r = 0; d->is_seq && r < c->batch; r++)
        f += d->seq.lengths[d->perm[b * c->batch + r]];
    return f;
}

int64_t tr_data_window_frames(const tr_data *d, const tr_config *c, int64_t b, int64_t t0, int64_t n)
{
    int64_t f = 0;
    for (int64_t r = 0; d->is_seq && r < c->batch; r++) {
        int64_t in = d->seq.lengths[d->perm[b * c->batch + r]] - t0;
        f += in < 0 ? 0 : in < n ? in : n;
    }
    return f;
}

int64_t tr_data_batch_longest(const tr_data *d, const tr_config *c, int64_t b)
{
    int64_t most = 0;
    for (int64_t r = 0; d->is_seq && r < c->batch; r++) {
        int64_t len = d->seq.lengths[d->perm[b * c->batch + r]];
        most = len > most ? len : most;
    }
    return most;
}

void tr_data_batch(const tr_data *d, const tr_config *c, int64_t e, int64_t b, int64_t r0, int64_t r1, float *x)
{
    for (int64_t r = r0; r < r1; r++) {
        int64_t idx = d->perm[b * c->batch + r];
        const float *src = d->set.x + idx * d->D;
        float *dst = x + (r - r0) * d->D;
        varia_rng rng;
        varia_rng_init(&rng, c->seed, STREAM_TRAIN_BIN, (uint64_t)e, (uint64_t)idx);
        for (int64_t j = 0; j < d->D; j++)
            dst[j] = prep(c, &rng, src[j]);
    }
}

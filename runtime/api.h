/* Internal: shared argument checks and workspace helpers for the public ops. */
#ifndef VARIA_API_H
#define VARIA_API_H

#include "family.h"
#include "passes.h"

/* Rows per batch inside encode/decode/sample: bounds the workspace. */
#define VARIA_BATCH VARIA_WS_ROWS
/* The most rows (examples, samples) one call accepts. */
#define VARIA_MAX_ROWS ((int64_t)1 << 31)

varia_status varia_check_model(varia_ctx *ctx, const varia_model *m, const void *p, int64_t n, const char *op);
varia_status varia_check_finite(varia_ctx *ctx, const float *x, int64_t n, int64_t d, const char *what);
/* Examples for a Bernoulli model (or any model when force is set, e.g. for
 * dynamic binarization) must lie in [0, 1]: 0..255 pixels would otherwise
 * give confident nonsense. VARIA_ERR_ARG names the first value outside. A
 * sequence family's callers pass n = examples x seq_len: rows are frames. */
varia_status varia_check_unit_range(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, int force,
                                    const char *op);
/* The context's workspace for `rows` rows plus `extra` floats, reused across
 * calls (do not free). NULL (with the message set) when memory is exhausted. */
float *varia_ws_get(varia_ctx *ctx, const varia_model *m, int64_t rows, size_t extra);
/* Extreme weights or inputs can overflow to NaN: report it, never return it. */
varia_status varia_check_output(varia_ctx *ctx, const float *y, int64_t n, int64_t d, const char *op);

/* Example `index` of a set as the estimators score it: x[D] binarized by
 * `how` into xb[D], a dynamic binarization drawn from the stream keyed by
 * (seed, index), so eval and AIS with one seed score the same images. */
void varia_binarize_example(uint64_t seed, varia_binarize how, int64_t index, const float *x, float *xb, int64_t D);

/* A call's options resolved against its model. */
typedef struct varia_call {
    uint64_t seed;
    float temperature;
    int64_t seq_len;
    const int64_t *lengths, *labels;
} varia_call;

/* Check opts (NULL: defaults) for an operation `op` over n rows of model m and
 * resolve them into *c: the size and unknown fields, flags, the temperature,
 * and the per-call information the family needs or does not take, each
 * refused with a message naming the field (opts.c). */
varia_status varia_opts_resolve(varia_ctx *ctx, const varia_model *m, const varia_opts *opts, int64_t n,
                                const char *op, varia_call *c);

/* Steps of one example in a call: a sequence family's (VARIA_FAMILY_SEQ_LEN)
 * seq_len, whose examples, latents and noise rows are that many frames or
 * steps long; 1 for every other family. */
int64_t varia_call_steps(const varia_model *m, const varia_call *c);

#endif

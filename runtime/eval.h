/* Internal: what eval.c shares with eval_chunks.c, which splits one
 * example's samples by their chunks (varia_eval_chunks, varia.h). */
#ifndef VARIA_EVAL_H
#define VARIA_EVAL_H

#include "api.h"
#include "estimator.h"

/* varia_eval's checks of its arguments (model, examples, options), and the
 * per-call options resolved into *c. */
varia_status varia_eval_check(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                              const varia_eval_opts *o, const varia_opts *opts, varia_call *c);

/* Chunks [c0, c0 + nc) of the one example x (index `index` of its set, which
 * keys its randomness; not a sequence family; arguments checked) into
 * accs[nc], each with its chunk's KL: the accumulators varia_eval folds in
 * chunk order, computed by the same code on the ctx's threads. */
varia_status varia_eval_run_chunks(varia_ctx *ctx, const varia_model *m, const float *x, int64_t index, int64_t c0,
                                   int64_t nc, const varia_eval_opts *opts, varia_iw_acc *accs);

#endif

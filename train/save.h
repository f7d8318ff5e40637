/* Writing what the trainer makes: safetensors files and model directories in
 * the runtime's format (docs/format.md), each file written to a temporary
 * name and renamed, so a killed run never leaves a half-written model. */
#ifndef VARIA_TRAIN_SAVE_H
#define VARIA_TRAIN_SAVE_H

#include "model.h"
#include "varia.h"

#include <cjson/cJSON.h>

typedef struct tr_tensor_out {
    const char *name;
    int rank;
    int64_t shape[4];
    const float *data;
} tr_tensor_out;

/* A safetensors file of F32 tensors, in the order given. */
varia_status tr_write_safetensors(varia_ctx *ctx, const char *path, const tr_tensor_out *t, int n);

/* dir/<weights_file> and dir/model.json (manifest last) for the parameters
 * theta laid out by md. data: the manifest's "data" object; extra: more
 * top-level members (provenance, training state), taken over by the call. */
varia_status tr_save_model(varia_ctx *ctx, const char *dir, const tr_model *md, const cJSON *arch,
                           const float *theta, const char *weights_file, cJSON *data, cJSON *extra);

/* Create dir if it does not exist (one level). */
varia_status tr_make_dir(varia_ctx *ctx, const char *dir);

/* Make the output directory ready before any work: create it and its missing
 * parents, and check that it is a directory we can write in, so a bad output
 * fails in a second (VARIA_ERR_IO naming it), not after loading data and
 * training. */
varia_status tr_prepare_output(varia_ctx *ctx, const char *dir);

#endif

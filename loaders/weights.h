/* Internal: reading and validating a weights file (safetensors, or a raw blob
 * described by the manifest). See docs/format.md section 3. */
#ifndef VARIA_WEIGHTS_H
#define VARIA_WEIGHTS_H

#include "ctx.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define VARIA_TENSOR_MAX_RANK 8
/* A header bigger than this is refused before it is read. cJSON needs about
 * 40 bytes of memory per header byte; 8 MiB holds ~80,000 tensor entries. */
#define VARIA_HEADER_CAP (8u * 1024u * 1024u)

typedef struct varia_tensor {
    char *name;
    int rank;
    int64_t shape[VARIA_TENSOR_MAX_RANK];
    int64_t numel;
    const float *data; /* f32, in the mapping or in the owned buffer */
    int used;          /* set by the family when it binds the tensor */
} varia_tensor;

typedef struct varia_weights {
    void *map;         /* the file's bytes: mapped, or a heap copy (or NULL) */
    size_t map_len;
    int heap;          /* 1 when map is the heap copy of varia_weights_open_memory */
    float *owned;      /* widened f16/bf16 and unaligned f32 tensors */
    varia_tensor *t;   /* sorted by name */
    int n;
} varia_weights;

/* Open `path`. With table == NULL the file is safetensors; otherwise it is a raw
 * blob and `table` is the manifest's tensor table. On failure *w is left empty. */
varia_status varia_weights_open(varia_ctx *ctx, const char *path,
                                const cJSON *table, varia_weights *w);
/* The same from the bytes of such a file: bytes[len] (NULL only when len is
 * 0) are copied, so the caller keeps its buffer and may free it at once.
 * name labels the bytes in messages (the manifest's "file"). Validation and
 * statuses are varia_weights_open's, by the same code. */
varia_status varia_weights_open_memory(varia_ctx *ctx, const char *name, const void *bytes, size_t len,
                                       const cJSON *table, varia_weights *w);
void varia_weights_close(varia_weights *w);

/* The tensor called `name`, or NULL. */
varia_tensor *varia_weights_find(const varia_weights *w, const char *name);

#endif

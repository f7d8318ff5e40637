/* Internal: the per-thread context and the error-reporting helpers every module
 * uses. Not part of the public API. */
#ifndef VARIA_CTX_H
#define VARIA_CTX_H

#include "varia.h"

#include <stddef.h>

#define VARIA_MSG_CAP 512
#define VARIA_WARN_CAP 2048

struct varia_pool;

/* One worker's scratch memory, grown on demand and kept for later calls. */
typedef struct varia_scratch {
    float *f;
    size_t f_cap;
    double *d;
    size_t d_cap;
} varia_scratch;

struct varia_ctx {
    char msg[VARIA_MSG_CAP];
    char warnings[VARIA_WARN_CAP];
    int threads;             /* requested: 0 = all cores */
    struct varia_pool *pool; /* created on first parallel call */
    varia_scratch *scratch;  /* one per pool worker */
    int n_scratch;
};

/* Worker w's scratch with room for nf floats and nd doubles. Only worker w may
 * call this for w while a pool job runs (the array is sized before the job).
 * Returns 0 when memory is exhausted. */
int varia_scratch_get(varia_ctx *ctx, int worker, size_t nf, size_t nd, float **f, double **d);
/* The pool for the current thread setting, with scratch slots for every worker
 * (NULL: run on the calling thread alone). */
struct varia_pool *varia_ctx_pool(varia_ctx *ctx);

/* Record a failure on ctx (ctx may be NULL) and return status, so callers can
 * write `return varia_fail(ctx, VARIA_ERR_SHAPE, "tensor '%s' ...", name);`. */
varia_status varia_fail(varia_ctx *ctx, varia_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append one warning line to ctx's warnings (silently truncated at the cap). */
void varia_warn(varia_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Overflow-checked size arithmetic: return 0 on overflow, 1 on success. */
int varia_mul_size(size_t a, size_t b, size_t *out);
int varia_add_size(size_t a, size_t b, size_t *out);

#endif

/* The per-thread context: error message, warnings and the thread setting. */
#include "ctx.h"

#include "pool.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

varia_ctx *varia_ctx_new(void)
{
    varia_ctx *ctx = calloc(1, sizeof *ctx);
    return ctx;
}

void varia_ctx_free(varia_ctx *ctx)
{
    if (!ctx)
        return;
    varia_pool_free(ctx->pool);
    for (int i = 0; i < ctx->n_scratch; i++) {
        free(ctx->scratch[i].f);
        free(ctx->scratch[i].d);
    }
    free(ctx->scratch);
    free(ctx);
}

static int ensure_slots(varia_ctx *ctx, int n)
{
    if (n <= ctx->n_scratch)
        return 1;
    varia_scratch *s = realloc(ctx->scratch, (size_t)n * sizeof *s);
    if (!s)
        return 0;
    memset(s + ctx->n_scratch, 0, (size_t)(n - ctx->n_scratch) * sizeof *s);
    ctx->scratch = s;
    ctx->n_scratch = n;
    return 1;
}

int varia_scratch_get(varia_ctx *ctx, int worker, size_t nf, size_t nd, float **f, double **d)
{
    if (!ensure_slots(ctx, worker + 1))
        return 0;
    varia_scratch *s = &ctx->scratch[worker];
    if (nf > s->f_cap) {
        free(s->f);
        s->f_cap = 0;
        /* 64-byte aligned (a cache line, an AVX-512 vector): the exec arena keeps
         * every value on that boundary relative to here */
        size_t bytes = (nf * sizeof(float) + 63) / 64 * 64;
        if (!(s->f = aligned_alloc(64, bytes)))
            return 0;
        s->f_cap = nf;
    }
    if (nd > s->d_cap) {
        free(s->d);
        s->d_cap = 0;
        if (!(s->d = malloc(nd * sizeof(double))))
            return 0;
        s->d_cap = nd;
    }
    if (f)
        *f = s->f;
    if (d)
        *d = s->d;
    return 1;
}

struct varia_pool *varia_ctx_pool(varia_ctx *ctx)
{
#ifdef VARIA_NO_THREADS
    long want = 1; /* a build without threads: the calling thread only */
#else
    long want = ctx->threads > 0 ? ctx->threads : sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (want < 1)
        want = 1;
    if (ctx->pool && varia_pool_size(ctx->pool) != want) {
        varia_pool_free(ctx->pool);
        ctx->pool = NULL;
    }
    if (!ctx->pool && want > 1)
        ctx->pool = varia_pool_new((int)want);
    return ensure_slots(ctx, varia_pool_size(ctx->pool)) ? ctx->pool : NULL;
}

const char *varia_ctx_message(const varia_ctx *ctx) { return ctx ? ctx->msg : ""; }

const char *varia_ctx_warnings(const varia_ctx *ctx) { return ctx ? ctx->warnings : ""; }

varia_status varia_ctx_set_threads(varia_ctx *ctx, int threads)
{
    if (!ctx)
        return VARIA_ERR_ARG;
    if (threads < 0 || threads > 1024)
        return varia_fail(ctx, VARIA_ERR_ARG, "threads must be 0..1024, got %d", threads);
#ifdef VARIA_NO_THREADS
    if (threads > 1) /* refused, not clamped: the caller asked for parallelism it will not get */
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "threads %d: this build of varia has no threads "
                          "(built with -Dthreads=false): 0 or 1 only", threads);
#endif
    ctx->threads = threads;
    return VARIA_OK;
}

varia_status varia_fail(varia_ctx *ctx, varia_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void varia_warn(varia_ctx *ctx, const char *fmt, ...)
{
    if (!ctx)
        return;
    size_t used = strlen(ctx->warnings);
    if (used + 2 >= sizeof ctx->warnings)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->warnings + used, sizeof ctx->warnings - used - 1, fmt, ap);
    va_end(ap);
    used = strlen(ctx->warnings);
    ctx->warnings[used] = '\n';
    ctx->warnings[used + 1] = '\0';
}

int varia_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

int varia_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
    return 1;
}

const char *varia_status_name(varia_status s)
{
    switch (s) {
    case VARIA_OK: return "VARIA_OK";
    case VARIA_ERR_ARG: return "VARIA_ERR_ARG";
    case VARIA_ERR_IO: return "VARIA_ERR_IO";
    case VARIA_ERR_NOMEM: return "VARIA_ERR_NOMEM";
    case VARIA_ERR_JSON: return "VARIA_ERR_JSON";
    case VARIA_ERR_MANIFEST: return "VARIA_ERR_MANIFEST";
    case VARIA_ERR_VERSION: return "VARIA_ERR_VERSION";
    case VARIA_ERR_HEADER: return "VARIA_ERR_HEADER";
    case VARIA_ERR_TRUNCATED: return "VARIA_ERR_TRUNCATED";
    case VARIA_ERR_TRAILING: return "VARIA_ERR_TRAILING";
    case VARIA_ERR_OFFSET: return "VARIA_ERR_OFFSET";
    case VARIA_ERR_OVERLAP: return "VARIA_ERR_OVERLAP";
    case VARIA_ERR_HOLE: return "VARIA_ERR_HOLE";
    case VARIA_ERR_DTYPE: return "VARIA_ERR_DTYPE";
    case VARIA_ERR_SHAPE: return "VARIA_ERR_SHAPE";
    case VARIA_ERR_MISSING: return "VARIA_ERR_MISSING";
    case VARIA_ERR_UNEXPECTED: return "VARIA_ERR_UNEXPECTED";
    case VARIA_ERR_DUPLICATE: return "VARIA_ERR_DUPLICATE";
    case VARIA_ERR_NONFINITE: return "VARIA_ERR_NONFINITE";
    case VARIA_ERR_TOO_LARGE: return "VARIA_ERR_TOO_LARGE";
    case VARIA_ERR_UNSUPPORTED: return "VARIA_ERR_UNSUPPORTED";
    case VARIA_ERR_PNG: return "VARIA_ERR_PNG";
    case VARIA_ERR_DATASET: return "VARIA_ERR_DATASET";
    case VARIA_ERR_INTERNAL: return "VARIA_ERR_INTERNAL";
    }
    return "VARIA_ERR_UNKNOWN";
}

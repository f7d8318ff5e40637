/* Internal: the geometry of DRAW's attention (Gregor et al. 2015; the
 * conventions are docs/draw.md's) and the check that makes one safe.
 *
 * An image value is rows = examples, cols = h * w: each row holds the image's
 * h rows of w pixels (row-major, B = h rows of A = w pixels, the paper's
 * A x B image). A glimpse is n x n. The ops (ops.h) pass a geometry by
 * pointer; the family's configuration holds it, so it outlives the pass. */
#ifndef VARIA_ATTN_H
#define VARIA_ATTN_H

#include <stdint.h>

typedef struct varia_attn {
    int64_t w; /* A: pixels per image row (the x axis) */
    int64_t h; /* B: image rows (the y axis) */
    int64_t n; /* N: filters per axis, an N x N glimpse */
} varia_attn;

/* The attention parameters per row, in this order (the paper's linear map of
 * h^dec): centre g~_X, g~_Y in [-1, 1] across the image, log sigma^2, log
 * delta~, log gamma. */
#define VARIA_ATTN_PARAMS 5

/* Largest image side and glimpse side: every product the ops form (h * w,
 * n * (w + h), n * n) then stays far below 2^62. */
#define VARIA_ATTN_DIM_CAP 65536
#define VARIA_ATTN_N_CAP 1024

/* Columns of a filterbank value: F_X (n x w), then F_Y (n x h), then gamma. */
static inline int64_t varia_attn_fb_cols(const varia_attn *g)
{
    return g->n * (g->w + g->h) + 1;
}

/* 1 when g can run: w, h in [1, VARIA_ATTN_DIM_CAP], n in [1,
 * VARIA_ATTN_N_CAP]. Else 0 with the reason in *why (a static string). */
int varia_attn_check(const varia_attn *g, const char **why);

#endif

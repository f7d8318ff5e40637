/* Internal: the geometry of a 2-D convolution or transposed convolution over
 * NCHW values (docs/format.md 2.4), and the checks that make one safe.
 *
 * A conv value is rows = batch, cols = C*H*W; the geometry travels with the
 * op. Both ops run as matrix products through im2col (conv_rows.h): conv2d
 * gathers every output position's receptive field into a row and multiplies
 * by the weight [out, in*kh*kw]; conv_transpose2d multiplies every input
 * position by the weight [in, out*kh*kw] and scatters the rows back (col2im,
 * the adjoint of im2col). */
#ifndef VARIA_CONV_H
#define VARIA_CONV_H

#include <stdint.h>

typedef struct varia_conv {
    int transposed;          /* 0: conv2d, 1: conv_transpose2d */
    int64_t cin, h, w;       /* input C x H x W */
    int64_t cout, oh, ow;    /* output C x H x W */
    int64_t kh, kw;          /* kernel */
    int64_t sh, sw;          /* stride */
    int64_t ph, pw;          /* zero padding on each side */
    int64_t oph, opw;        /* output padding (transposed only: extra rows/cols at the end) */
} varia_conv;

/* The im2col view of a geometry: an image C x IH x IW, and PH x PW positions
 * each reading a C x kh x kw window at (y * sh - ph, x * sw - pw). For conv2d
 * the image is the input and the positions the output; for the transposed
 * conv the image is the output and the positions the input. */
typedef struct varia_conv_map {
    int64_t c, ih, iw, ph_n, pw_n, kh, kw, sh, sw, ph, pw;
} varia_conv_map;

/* The map of g (see above). */
static inline varia_conv_map varia_conv_map_of(const varia_conv *g)
{
    if (g->transposed)
        return (varia_conv_map){g->cout, g->oh, g->ow, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw};
    return (varia_conv_map){g->cin, g->h, g->w, g->oh, g->ow, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw};
}

/* Largest spatial size and channel count a layer may have: every product of
 * the geometry (C*H*W, C*kh*kw, positions x window) then stays below 2^62. */
#define VARIA_CONV_DIM_CAP 65536
#define VARIA_CONV_KERNEL_CAP 64

/* Fill g's output size from its input, kernel, stride and padding. Returns 0
 * with a reason in *why (a static string) when the geometry is impossible:
 * a non-positive size, a kernel larger than the padded input, an output
 * padding not below the stride, an output of no pixels or larger than the
 * caps. The caller has checked every field against the caps above. */
int varia_conv_resolve(varia_conv *g, const char **why);

#endif

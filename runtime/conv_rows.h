/* Internal: im2col and col2im for one example, for the exec backend (float)
 * and the tape (float, and double for the gradient checks). The including
 * file defines CONV_REAL as its element type first; both backends then move
 * the same elements in the same order, so they compute the same bits. */
#ifndef VARIA_CONV_ROWS_H
#define VARIA_CONV_ROWS_H

#include "conv.h"

#include <string.h>

/* cols[p, (c, ky, kx)] = img[c, y*sh - ph + ky, x*sw - pw + kx] for position
 * p = y * pw_n + x, zero outside the image: PH*PW rows of C*kh*kw, the layout
 * of a PyTorch weight [out, C, kh, kw] flattened, so one product applies it. */
static inline void conv_im2col(const varia_conv_map *m, const CONV_REAL *img, CONV_REAL *cols)
{
    int64_t K = m->c * m->kh * m->kw;
    for (int64_t y = 0; y < m->ph_n; y++)
        for (int64_t x = 0; x < m->pw_n; x++) {
            CONV_REAL *row = cols + (y * m->pw_n + x) * K;
            for (int64_t c = 0; c < m->c; c++)
                for (int64_t ky = 0; ky < m->kh; ky++) {
                    int64_t iy = y * m->sh - m->ph + ky;
                    CONV_REAL *dst = row + (c * m->kh + ky) * m->kw;
                    if (iy < 0 || iy >= m->ih) {
                        memset(dst, 0, (size_t)m->kw * sizeof *dst);
                        continue;
                    }
                    const CONV_REAL *src = img + (c * m->ih + iy) * m->iw;
                    for (int64_t kx = 0; kx < m->kw; kx++) {
                        int64_t ix = x * m->sw - m->pw + kx;
                        dst[kx] = ix >= 0 && ix < m->iw ? src[ix] : 0;
                    }
                }
        }
}

/* The adjoint of conv_im2col: img[c, iy, ix] += every cols entry im2col
 * would have read from it (entries in the padding are dropped). */
static inline void conv_col2im(const varia_conv_map *m, const CONV_REAL *cols, CONV_REAL *img)
{
    int64_t K = m->c * m->kh * m->kw;
    for (int64_t y = 0; y < m->ph_n; y++)
        for (int64_t x = 0; x < m->pw_n; x++) {
            const CONV_REAL *row = cols + (y * m->pw_n + x) * K;
            for (int64_t c = 0; c < m->c; c++)
                for (int64_t ky = 0; ky < m->kh; ky++) {
                    int64_t iy = y * m->sh - m->ph + ky;
                    if (iy < 0 || iy >= m->ih)
                        continue;
                    const CONV_REAL *src = row + (c * m->kh + ky) * m->kw;
                    CONV_REAL *dst = img + (c * m->ih + iy) * m->iw;
                    for (int64_t kx = 0; kx < m->kw; kx++) {
                        int64_t ix = x * m->sw - m->pw + kx;
                        if (ix >= 0 && ix < m->iw)
                            dst[ix] += src[kx];
                    }
                }
        }
}

/* dst[p, c] = src[c, p] for one example: C x P (NCHW) to P x C (position-major). */
static inline void conv_to_rows(const CONV_REAL *src, int64_t c, int64_t p, CONV_REAL *dst)
{
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = 0; i < p; i++)
            dst[i * c + j] = src[j * p + i];
}

/* dst[c, p] = src[p, c]: back from position-major to NCHW. */
static inline void conv_to_planes(const CONV_REAL *src, int64_t c, int64_t p, CONV_REAL *dst)
{
    for (int64_t i = 0; i < p; i++)
        for (int64_t j = 0; j < c; j++)
            dst[j * p + i] = src[i * c + j];
}

#endif

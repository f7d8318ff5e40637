/* Internal: im2col and col2im for one example, for the exec backend (float)
 * and the tape (float, and double for the gradient checks). The including
 * file defines CONV_REAL as its element type first; both backends then move
 * the same elements in the same order, so they compute the same bits. */
#ifndef VARIA_CONV_ROWS_H
#define VARIA_CONV_ROWS_H

#include "conv.h"

#include <string.h>

/* Rows [p0, p1) of conv_im2col's result, into cols[(p1 - p0) * C*kh*kw]. */
static inline void conv_im2col_range(const varia_conv_map *m, const CONV_REAL *img, int64_t p0, int64_t p1,
                                     CONV_REAL *cols)
{
    int64_t K = m->c * m->kh * m->kw;
    for (int64_t p = p0; p < p1; p++) {
        int64_t y = p / m->pw_n, x = p % m->pw_n, ix0 = x * m->sw - m->pw;
        int inside = ix0 >= 0 && ix0 + m->kw <= m->iw; /* the window's columns need no check */
        CONV_REAL *row = cols + (p - p0) * K;
        for (int64_t c = 0; c < m->c; c++)
            for (int64_t ky = 0; ky < m->kh; ky++) {
                int64_t iy = y * m->sh - m->ph + ky;
                CONV_REAL *dst = row + (c * m->kh + ky) * m->kw;
                if (iy < 0 || iy >= m->ih) {
                    memset(dst, 0, (size_t)m->kw * sizeof *dst);
                    continue;
                }
                const CONV_REAL *src = img + (c * m->ih + iy) * m->iw + ix0;
                if (inside)
                    memcpy(dst, src, (size_t)m->kw * sizeof *dst);
                else
                    for (int64_t kx = 0; kx < m->kw; kx++)
                        dst[kx] = ix0 + kx >= 0 && ix0 + kx < m->iw ? src[kx] : 0;
            }
    }
}

/* cols[p, (c, ky, kx)] = img[c, y*sh - ph + ky, x*sw - pw + kx] for position
 * p = y * pw_n + x, zero outside the image: PH*PW rows of C*kh*kw, the layout
 * of a PyTorch weight [out, C, kh, kw] flattened, so one product applies it. */
static inline void conv_im2col(const varia_conv_map *m, const CONV_REAL *img, CONV_REAL *cols)
{
    conv_im2col_range(m, img, 0, m->ph_n * m->pw_n, cols);
}

/* The adjoint of conv_im2col: img[c, iy, ix] += every cols entry im2col
 * would have read from it (entries in the padding are dropped). */
static inline void conv_col2im(const varia_conv_map *m, const CONV_REAL *cols, CONV_REAL *img)
{
    int64_t K = m->c * m->kh * m->kw;
    for (int64_t y = 0; y < m->ph_n; y++)
        for (int64_t x = 0; x < m->pw_n; x++) {
            const CONV_REAL *row = cols + (y * m->pw_n + x) * K;
            int64_t ix0 = x * m->sw - m->pw;
            int inside = ix0 >= 0 && ix0 + m->kw <= m->iw; /* the window's columns need no check */
            for (int64_t c = 0; c < m->c; c++)
                for (int64_t ky = 0; ky < m->kh; ky++) {
                    int64_t iy = y * m->sh - m->ph + ky;
                    if (iy < 0 || iy >= m->ih)
                        continue;
                    const CONV_REAL *src = row + (c * m->kh + ky) * m->kw;
                    CONV_REAL *dst = img + (c * m->ih + iy) * m->iw + ix0;
                    if (inside)
                        for (int64_t kx = 0; kx < m->kw; kx++)
                            dst[kx] += src[kx];
                    else
                        for (int64_t kx = 0; kx < m->kw; kx++)
                            if (ix0 + kx >= 0 && ix0 + kx < m->iw)
                                dst[kx] += src[kx];
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

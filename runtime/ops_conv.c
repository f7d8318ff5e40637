/* The exec and measure backends of conv2d and conv_transpose2d (ops.h), and
 * the geometry check (conv.h). Both run the runtime's packed linear kernel
 * over im2col rows, a chunk at a time (conv2d: a block of rows, whatever
 * examples they belong to; the transposed conv: whole examples, whose
 * outputs col2im accumulates): the chunk's rows and its product are scratch
 * values of the workspace (measure sizes them), so the hot path allocates
 * nothing, and every output element is computed by the same instructions
 * whatever the batch and the chunking, so results do not depend on them.
 *
 * Measured at MNIST conv-VAE sizes (batch 100, one thread, the machine
 * shared with training runs): a transposed conv's product over input
 * positions (col2im) costs about a quarter of the product of the equivalent
 * stride-1 conv over the zero-stuffed input, so col2im it is; for conv2d,
 * packing im2col straight into kernel panels with the positions as output
 * columns (no transposes, full panels for few channels) was 1.5-2x slower
 * than the im2col rows used here.
 *
 * The transposed conv's col2im runs channel-last (its packed weight's
 * columns are (ky, kx, c): family.c), so each tap's channels are one vector
 * run, and the product is stored straight from the tile's registers: on the
 * conv VAE's decoder (bench/README.md, "Conv VAE", 2026-12-01 06:30) that
 * took 1.7-1.8x less CPU time than NCHW col2im with 5-float runs and an
 * epilogue pass over the product, bit for bit the same results. A direct
 * sub-pixel path for the 1-channel last layer (each stride phase a
 * correlation with a sub-kernel, vectorized over output columns) measured no
 * faster than this one and was left out. */
#include "ops_exec.h"

#define CONV_REAL float
#include "conv_rows.h"

/* Scratch a chunk may use, in floats: a chunk holds at least one example. */
#define CONV_CHUNK_FLOATS ((int64_t)1 << 18)

int varia_conv_resolve(varia_conv *g, const char **why)
{
    if (g->cin < 1 || g->h < 1 || g->w < 1 || g->cout < 1 || g->kh < 1 || g->kw < 1)
        return *why = "sizes, channels and the kernel must be positive", 0;
    if (g->sh < 1 || g->sw < 1)
        return *why = "the stride must be positive", 0;
    if (g->ph < 0 || g->pw < 0 || g->oph < 0 || g->opw < 0)
        return *why = "padding must not be negative", 0;
    if (!g->transposed && (g->oph || g->opw))
        return *why = "output_padding is for conv_transpose only", 0;
    if (g->transposed && (g->oph >= g->sh || g->opw >= g->sw))
        return *why = "output_padding must be smaller than the stride", 0;
    if (!g->transposed && (g->kh > g->h + 2 * g->ph || g->kw > g->w + 2 * g->pw))
        return *why = "the kernel is larger than the padded input", 0;
    if (g->transposed) {
        g->oh = (g->h - 1) * g->sh - 2 * g->ph + g->kh + g->oph;
        g->ow = (g->w - 1) * g->sw - 2 * g->pw + g->kw + g->opw;
    } else {
        g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
        g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    }
    if (g->oh < 1 || g->ow < 1)
        return *why = "the output has no pixels", 0;
    if (g->oh > VARIA_CONV_DIM_CAP || g->ow > VARIA_CONV_DIM_CAP)
        return *why = "the output is larger than 65536 pixels a side", 0;
    return 1;
}

/* Rows (examples, or im2col rows) per chunk for rows of `per` scratch floats
 * each: at least 1, at most n. */
static int64_t chunk_of(int64_t n, int64_t per)
{
    int64_t c = CONV_CHUNK_FLOATS / (per > 0 ? per : 1);
    return c < 1 ? 1 : c > n ? n : c;
}

/* y = act(conv(x) + b) as one product over the im2col rows of every
 * position of every example, [n P, cin kh kw] times the packed weight [cout,
 * cin kh kw]^T (bias and act fused), taken a block of rows at a time so that
 * the block's rows and its product stay in cache; each product row (an
 * example's position, every channel) then goes to its NCHW place. */
varia_v *varia_exec_conv2d(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act)
{
    varia_exec *e = (varia_exec *)o;
    const varia_linear *l = &e->m->lin[slot];
    varia_conv_map map = varia_conv_map_of(g);
    int64_t n = x->rows, P = g->oh * g->ow, K = l->in, O = l->out;
    int64_t R = chunk_of(n * P, K + O);
    varia_v *y = varia_exec_val(e, n, O * P, 0);
    varia_v *cols = varia_exec_val(e, R, K, 0), *prod = varia_exec_val(e, R, O, 0);
    for (int64_t r0 = 0; varia_exec_live(e) && r0 < n * P; r0 += R) {
        int64_t r1 = n * P - r0 < R ? n * P : r0 + R;
        for (int64_t i = r0 / P; i * P < r1; i++) { /* the examples the block touches */
            int64_t p0 = r0 > i * P ? r0 - i * P : 0, p1 = r1 < (i + 1) * P ? r1 - i * P : P;
            conv_im2col_range(&map, x->f + i * x->ld, p0, p1, cols->f + (i * P + p0 - r0) * K);
        }
        varia_linear_forward_team(l, cols->f, r1 - r0, prod->f, act, e->team);
        for (int64_t i = r0 / P; i * P < r1; i++) { /* each example's rows to its NCHW planes */
            int64_t p0 = r0 > i * P ? r0 - i * P : 0, p1 = r1 < (i + 1) * P ? r1 - i * P : P;
            varia_transpose(prod->f + (i * P + p0 - r0) * O, p1 - p0, O, O, y->f + i * y->ld + p0, P);
        }
    }
    return y;
}

/* One example's col2im in channel-last order: img[(iy, ix), c] += the
 * product row of every input position p = (y, x) (rows K floats apart), whose
 * entries run (ky, kx, c) (the packed weight's order: family.c). A window's taps of one kernel row
 * are kw * C contiguous floats on both sides, so the adds run as long vector
 * loops, not runs of kw. Each output element receives its terms in the order
 * of p, as conv_col2im adds them into NCHW planes: the same bits. */
static void col2im_last(const varia_conv_map *m, const float *cols, int64_t K, float *img)
{
    int64_t C = m->c, run = m->kw * C;
    for (int64_t y = 0; y < m->ph_n; y++)
        for (int64_t x = 0; x < m->pw_n; x++) {
            const float *row = cols + (y * m->pw_n + x) * K;
            int64_t ix0 = x * m->sw - m->pw, kx0 = ix0 < 0 ? -ix0 : 0;
            int64_t kx1 = ix0 + m->kw > m->iw ? m->iw - ix0 : m->kw; /* the taps inside: [kx0, kx1) */
            if (kx1 <= kx0)
                continue;
            for (int64_t ky = 0; ky < m->kh; ky++) {
                int64_t iy = y * m->sh - m->ph + ky;
                if (iy < 0 || iy >= m->ih)
                    continue;
                const float *src = row + ky * run + kx0 * C;
                float *dst = img + (iy * m->iw + ix0 + kx0) * C;
                int64_t len = (kx1 - kx0) * C;
                if (len >= 16)
                    varia_add(dst, src, len);
                else /* a few channels: the call would cost more than the adds */
                    for (int64_t j = 0; j < len; j++)
                        dst[j] += src[j];
            }
        }
}

/* y = act(conv_transpose(x) + b): per chunk, each example's input to
 * position-major rows [nb HW, cin], the product with the packed [kh kw cout,
 * cin] transpose into [nb HW, kh kw cout], added (col2im) into a zeroed
 * channel-last image, which goes to its NCHW place; then the channel's bias
 * and the activation, fused, over the whole example at once. */
varia_v *varia_exec_conv_transpose2d(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act)
{
    varia_exec *e = (varia_exec *)o;
    const varia_linear *l = &e->m->lin[slot];
    const float *bias = e->m->chan_bias[slot];
    varia_conv_map map = varia_conv_map_of(g);
    int64_t n = x->rows, HW = g->h * g->w, OP = g->oh * g->ow, Cin = l->in, K = l->out, C = g->cout;
    int64_t Kp = (K + VARIA_PANEL - 1) / VARIA_PANEL * VARIA_PANEL; /* whole panels: every tile stored straight */
    int64_t nb = chunk_of(n, HW * (Cin + Kp));
    varia_v *y = varia_exec_val(e, n, C * OP, 0);
    varia_v *rows = varia_exec_val(e, nb * HW, Cin, 0), *cols = varia_exec_val(e, nb * HW, Kp, 0);
    varia_v *img = varia_exec_val(e, 1, C * OP, 0), *fill = varia_exec_val(e, 1, C * OP, 0);
    for (int64_t c = 0; varia_exec_live(e) && c < C; c++) /* the bias, as planes */
        for (int64_t j = 0; j < OP; j++)
            fill->f[c * OP + j] = bias[c];
    for (int64_t b0 = 0; varia_exec_live(e) && b0 < n; b0 += nb) {
        int64_t m = n - b0 < nb ? n - b0 : nb;
        for (int64_t i = 0; i < m; i++)
            varia_transpose(x->f + (b0 + i) * x->ld, Cin, HW, HW, rows->f + i * HW * Cin, Cin);
        varia_linear_product_team(l, rows->f, m * HW, cols->f, Kp, e->team);
        for (int64_t i = 0; i < m; i++) {
            float *yr = y->f + (b0 + i) * y->ld;
            memset(img->f, 0, (size_t)(C * OP) * sizeof(float));
            col2im_last(&map, cols->f + i * HW * Kp, Kp, img->f);
            varia_transpose(img->f, OP, C, C, yr, OP);
            varia_add_act(yr, yr, fill->f, C * OP, act); /* the linear kernel's own bias-and-activation code */
        }
    }
    return y;
}

/* The tape's convolutions (ops.h, conv.h): each forward runs the products
 * the exec backend runs (ops_conv.c) over the same im2col rows (conv_rows.h),
 * and keeps those rows for its backward rule, written out below. In the
 * double build (the gradient checks) the products are plain loops. Batch
 * norm with batch statistics (training only: the runtime folds it) is here
 * too, as the convolutions' companion. */
#include "tape_impl.h"

#include <math.h>
#include <string.h>

#ifdef TR_DOUBLE
#define CONV_REAL double
#else
#define CONV_REAL float
#endif
#include "conv_rows.h"

/* ---- conv2d ---- */

/* y = act(cols W^T + b) per position. With D = dy * act'(y) as rows [n P,
 * cout]: dW += D^T cols, db += column sums of D, dcols = D W, dx = col2im(dcols). */
static void back_conv(tr_tape *t, const record *r)
{
    const varia_conv *g = r->aux;
    const tr_lin *l = r->lin;
    tr_node *x = r->a;
    varia_conv_map map = varia_conv_map_of(g);
    int64_t n = x->rows, P = g->oh * g->ow, K = l->in, O = l->out;
    tr_real *dpre = TR(pre_act_grad)(t, r), *drows = TR(alloc)(t, n * P * O);
    if (!dpre || !drows)
        return;
    for (int64_t i = 0; i < n; i++)
        conv_to_rows(dpre + i * O * P, O, P, drows + i * P * O);
    if (l->gw) /* NULL: constant weights (tape.h) */
        TR(mm_weight_grad)(l, drows, r->data, n * P, TR(alloc)(t, TR(mm_weight_scratch)(l, n * P)));
    if (!x->g)
        return;
    tr_real *dcols = TR(alloc)(t, n * P * K);
    if (!dcols)
        return;
    memset(dcols, 0, (size_t)(n * P * K) * sizeof *dcols);
    TR(mm_input_grad)(l, drows, n * P, dcols, TR(alloc)(t, TR(mm_input_scratch)(l, n * P)));
    for (int64_t i = 0; i < n; i++)
        conv_col2im(&map, dcols + i * P * K, x->g + i * x->cols);
}

tr_node *TR(conv2d)(tr_tape *t, tr_node *x, const tr_lin *l, const varia_conv *g, varia_act act)
{
    varia_conv_map map = varia_conv_map_of(g);
    int64_t n = x->rows, P = g->oh * g->ow, K = l->in, O = l->out;
    tr_node *y;
    record *r = TR(begin_op)(t, back_conv, n, O * P, 1, x, &y);
    tr_real *cols = r ? TR(alloc)(t, n * P * K) : NULL, *prod = cols ? TR(alloc)(t, n * P * O) : NULL;
    if (!prod)
        return y;
    r->lin = l;
    r->act = act;
    r->data = cols;
    r->aux = g;
    for (int64_t i = 0; i < n; i++)
        conv_im2col(&map, x->v + i * x->cols, cols + i * P * K);
    TR(mm_forward)(l, cols, n * P, prod, act);
    for (int64_t i = 0; i < n; i++)
        conv_to_planes(prod + i * P * O, O, P, y->v + i * O * P);
    return y;
}

/* ---- conv_transpose2d ---- */

/* y = act(col2im(X W) + b), X the input as rows [n HW, cin], W [cin, cout kk].
 * With D = dy * act'(y): db_c += sum of D over channel c, dcols = im2col(D),
 * dW += X^T dcols, dX = dcols W^T (back to NCHW). */
static void back_convt(tr_tape *t, const record *r)
{
    const varia_conv *g = r->aux;
    const tr_lin *l = r->lin;
    tr_node *x = r->a;
    varia_conv_map map = varia_conv_map_of(g);
    int64_t n = x->rows, HW = g->h * g->w, OP = g->oh * g->ow, Cin = l->out, K = l->in, C = g->cout;
    tr_real *dpre = TR(pre_act_grad)(t, r), *dcols = TR(alloc)(t, n * HW * K);
    tr_real *sink = TR(alloc)(t, Cin), *zero = TR(alloc)(t, Cin), *dx = TR(alloc)(t, n * HW * Cin);
    if (!dpre || !dcols || !sink || !zero || !dx)
        return;
    for (int64_t i = 0; l->gb && i < n; i++) /* gb NULL: constant weights (tape.h) */
        for (int64_t c = 0; c < C; c++) {
            tr_real s = 0;
            for (int64_t j = 0; j < OP; j++)
                s += dpre[(i * C + c) * OP + j];
            l->gb[c] += s;
        }
    for (int64_t i = 0; i < n; i++)
        conv_im2col(&map, dpre + i * C * OP, dcols + i * HW * K);
    /* dW [cin, K] += X^T dcols is the linear layer's weight gradient with
     * X as its output gradient; its bias sum is not ours: it goes to a sink. */
    tr_lin lw = *l;
    lw.gb = sink;
    if (l->gw)
        TR(mm_weight_grad)(&lw, r->data, dcols, n * HW, TR(alloc)(t, TR(mm_weight_scratch)(l, n * HW)));
    if (!x->g)
        return;
    tr_lin lz = *l; /* dX = dcols W^T: the layer's forward product, without its bias */
    memset(zero, 0, (size_t)Cin * sizeof *zero);
    lz.b = zero;
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    TR(mm_forward)(&lz, dcols, n * HW, dx, id);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < Cin; c++)
            for (int64_t p = 0; p < HW; p++)
                x->g[i * x->cols + c * HW + p] += dx[(i * HW + p) * Cin + c];
}

/* Channel c of one example's output: y = act(y + b), as the exec backend
 * adds it (the linear kernel's own code in float). */
static void bias_act(tr_real *y, int64_t n, tr_real b, varia_act act, tr_real *fill)
{
#ifdef TR_DOUBLE
    (void)fill;
    for (int64_t j = 0; j < n; j++)
        y[j] = trd_act_apply(act, y[j] + b);
#else
    for (int64_t j = 0; j < n; j++)
        fill[j] = b;
    varia_add_act(y, y, fill, n, act);
#endif
}

tr_node *TR(conv_transpose2d)(tr_tape *t, tr_node *x, const tr_lin *l, const varia_conv *g, varia_act act)
{
    varia_conv_map map = varia_conv_map_of(g);
    int64_t n = x->rows, HW = g->h * g->w, OP = g->oh * g->ow, Cin = l->out, K = l->in, C = g->cout;
    tr_node *y;
    record *r = TR(begin_op)(t, back_convt, n, C * OP, 1, x, &y);
    tr_real *xr = r ? TR(alloc)(t, n * HW * Cin) : NULL, *cols = xr ? TR(alloc)(t, n * HW * K) : NULL;
    tr_real *fill = cols ? TR(alloc)(t, OP) : NULL;
    tr_real *scratch = fill ? TR(alloc)(t, TR(mm_input_scratch)(l, n * HW)) : NULL;
    if (!fill || (!scratch && TR(failed)(t)))
        return y;
    r->lin = l;
    r->act = act;
    r->data = xr;
    r->aux = g;
    for (int64_t i = 0; i < n; i++)
        conv_to_rows(x->v + i * x->cols, Cin, HW, xr + i * HW * Cin);
    memset(cols, 0, (size_t)(n * HW * K) * sizeof *cols);
    TR(mm_input_grad)(l, xr, n * HW, cols, scratch); /* cols = X W */
    for (int64_t i = 0; i < n; i++) {
        tr_real *yr = y->v + i * C * OP;
        memset(yr, 0, (size_t)(C * OP) * sizeof *yr);
        conv_col2im(&map, cols + i * HW * K, yr);
        for (int64_t c = 0; c < C; c++)
            bias_act(yr + c * OP, OP, l->b[c], act, fill);
    }
    return y;
}

/* ---- batch norm with the batch's statistics ---- */

/* With xh = (x - mean) rstd, D = dy * act'(y), and m = n HW values a channel:
 * dgamma += sum D xh, dbeta += sum D, and (the mean and variance depend on
 * every x of the channel) dx = gamma rstd (D - sum D / m - xh sum(D xh) / m). */
static void back_bn(tr_tape *t, const record *r)
{
    const tr_lin *bn = r->lin;
    const tr_node *x = r->a;
    const tr_real *xh = r->data;
    int64_t n = x->rows, C = bn->out, HW = x->cols / C;
    tr_real *D = TR(pre_act_grad)(t, r);
    if (!D)
        return;
    for (int64_t c = 0; c < C; c++) {
        double sd = 0.0, sdx = 0.0, m = (double)(n * HW);
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0, j = i * x->cols + c * HW; p < HW; p++, j++) {
                sd += D[j];
                sdx += (double)D[j] * xh[j];
            }
        bn->gw[c] += (tr_real)sdx;
        bn->gb[c] += (tr_real)sd;
        double a = (double)bn->w[c] * r->coef[c];
        for (int64_t i = 0; x->g && i < n; i++)
            for (int64_t p = 0, j = i * x->cols + c * HW; p < HW; p++, j++)
                x->g[j] += (tr_real)(a * ((double)D[j] - sd / m - (double)xh[j] * sdx / m));
    }
}

/* Channel c's count, mean and sum of squared deviations over x's rows (two
 * passes in double: the variance of values far from 0 keeps its digits). */
static void channel_moments(const tr_node *x, int64_t c, int64_t HW, double out[3])
{
    double m = (double)(x->rows * HW), mean = 0.0, ss = 0.0;
    for (int64_t i = 0; i < x->rows; i++)
        for (int64_t p = 0, j = i * x->cols + c * HW; p < HW; p++, j++)
            mean += x->v[j];
    mean /= m;
    for (int64_t i = 0; i < x->rows; i++)
        for (int64_t p = 0, j = i * x->cols + c * HW; p < HW; p++, j++)
            ss += ((double)x->v[j] - mean) * ((double)x->v[j] - mean);
    out[0] = m, out[1] = mean, out[2] = ss;
}

tr_node *TR(batch_norm)(tr_tape *t, tr_node *x, const tr_lin *bn, double eps, varia_act act, double *stats)
{
    int64_t n = x->rows, C = bn->out, HW = x->cols / C;
    tr_node *y;
    record *r = TR(begin_op)(t, back_bn, n, x->cols, 1, x, &y);
    tr_lin *keep = r ? TR(arena)(t, sizeof *keep) : NULL; /* the caller's bn may be a temporary */
    double *rstd = keep ? TR(arena)(t, (size_t)C * sizeof *rstd) : NULL;
    tr_real *xh = rstd ? TR(alloc)(t, n * x->cols) : NULL, *fill = xh ? TR(alloc)(t, HW) : NULL;
    if (!fill)
        return y;
    *keep = *bn;
    r->lin = keep;
    r->act = act;
    r->data = xh;
    r->coef = rstd;
    for (int64_t c = 0; c < C; c++) {
        double mo[3];
        channel_moments(x, c, HW, mo);
        rstd[c] = 1.0 / sqrt(mo[2] / mo[0] + eps); /* the biased variance, as PyTorch normalises */
        if (stats)
            memcpy(stats + 3 * c, mo, sizeof mo);
        for (int64_t i = 0; i < n; i++) {
            int64_t j0 = i * x->cols + c * HW;
            for (int64_t p = 0; p < HW; p++) {
                xh[j0 + p] = (tr_real)(((double)x->v[j0 + p] - mo[1]) * rstd[c]);
                y->v[j0 + p] = bn->w[c] * xh[j0 + p];
            }
            bias_act(y->v + j0, HW, bn->b[c], act, fill);
        }
    }
    return y;
}

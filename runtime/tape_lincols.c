/* The tape's linear layer over a column range of its weight (tape.h's
 * linear_cols): y = x W[:, off:off+n]^T (+ b), the part of W [a, b]^T that
 * one input contributes, so that a part shared by k rows is multiplied once.
 * The float build runs the three products through the packed kernel as
 * tmatmul.c does: the forward on a view of the layer's panels, the input
 * gradient on the output panels of the packed transpose that cover the range,
 * the weight gradient as a product over a transposed packing of x. The
 * double build (gradient checks) is plain loops. */
#include "tape_impl.h"

#include <string.h>

#ifdef TR_DOUBLE

static void cols_forward(const tr_lin *l, int64_t off, int64_t n, int bias, const tr_real *x, int64_t rows,
                         tr_real *y, tr_tape *t)
{
    (void)t;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < l->out; o++) {
            double s = bias ? l->b[o] : 0.0;
            for (int64_t i = 0; i < n; i++)
                s += x[r * n + i] * l->w[o * l->in + off + i];
            y[r * l->out + o] = s;
        }
}

/* gw[:, off:off+n] += dy^T x. */
static void cols_weight_grad(const tr_lin *l, int64_t off, int64_t n, const tr_real *dy, const tr_real *x,
                             int64_t rows, tr_tape *t)
{
    (void)t;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < l->out; o++)
            for (int64_t i = 0; i < n; i++)
                l->gw[o * l->in + off + i] += dy[r * l->out + o] * x[r * n + i];
}

/* dx += dy W[:, off:off+n]. */
static void cols_input_grad(const tr_lin *l, int64_t off, int64_t n, const tr_real *dy, int64_t rows, tr_real *dx,
                            tr_tape *t)
{
    (void)t;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t o = 0; o < l->out; o++)
                s += dy[r * l->out + o] * l->w[o * l->in + off + i];
            dx[r * n + i] += s;
        }
}

#else

/* The forward kernel on a view of the packed panels: nothing repacked. */
static void cols_forward(const tr_lin *l, int64_t off, int64_t n, int bias, const tr_real *x, int64_t rows,
                         tr_real *y, tr_tape *t)
{
    (void)t;
    varia_linear k = {l->in, l->out, l->w, (float *)l->packed, l->b, 0};
    varia_linear v = varia_linear_cols(&k, off, n, bias);
    varia_linear_forward_native(&v, x, rows, y, (varia_act){VARIA_ACT_IDENTITY, 0.0f});
}

/* gw[:, off:off+n] += dy^T x: the product [out, n] of dy^T by x^T packed as
 * a weight (as tmatmul.c's weight gradient), added row by row into the range. */
static void cols_weight_grad(const tr_lin *l, int64_t off, int64_t n, const tr_real *dy, const tr_real *x,
                             int64_t rows, tr_tape *t)
{
    float *px = TR(alloc)(t, varia_packed_floats(rows, n)), *dyt = TR(alloc)(t, rows * l->out);
    float *prod = TR(alloc)(t, l->out * n);
    if (!px || !dyt || !prod)
        return;
    varia_pack_panels(px, x, rows, n, 1);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < l->out; o++)
            dyt[o * rows + r] = dy[r * l->out + o];
    varia_linear k = {rows, n, NULL, px, NULL, 0};
    varia_linear_forward_native(&k, dyt, l->out, prod, (varia_act){VARIA_ACT_IDENTITY, 0.0f});
    for (int64_t o = 0; o < l->out; o++)
        varia_add(l->gw + o * l->in + off, prod + o * n, n);
}

/* dx += dy W[:, off:off+n]: dy W is a forward pass over the packed W^T whose
 * output panels are W's input columns; only the panels [p0, p1) that cover
 * the range are run, and the range's columns of them added. */
static void cols_input_grad(const tr_lin *l, int64_t off, int64_t n, const tr_real *dy, int64_t rows, tr_real *dx,
                            tr_tape *t)
{
    int64_t p0 = off / VARIA_PANEL, p1 = (off + n + VARIA_PANEL - 1) / VARIA_PANEL;
    int64_t c0 = p0 * VARIA_PANEL, w = (p1 * VARIA_PANEL < l->in ? p1 * VARIA_PANEL : l->in) - c0;
    float *prod = TR(alloc)(t, rows * w);
    if (!prod)
        return;
    varia_linear k = {l->out, w, NULL, (float *)l->packed_t + c0 * l->out, NULL, 0};
    varia_linear_forward_native(&k, dy, rows, prod, (varia_act){VARIA_ACT_IDENTITY, 0.0f});
    for (int64_t r = 0; r < rows; r++)
        varia_add(dx + r * n, prod + r * w + (off - c0), n);
}

#endif

/* gb += column sums of dy, row after row. */
static void cols_bias_grad(const tr_lin *l, const tr_real *dy, int64_t rows)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < l->out; o++)
            l->gb[o] += dy[r * l->out + o];
}

/* r->k = off, r->k2 = n, r->s nonzero: the bias was added. Like linear, a
 * layer without gradient buffers (a loaded model's) skips its weight terms. */
static void back_linear_cols(tr_tape *t, const record *r)
{
    const tr_node *x = r->a, *y = r->out;
    if (r->lin->gw)
        cols_weight_grad(r->lin, r->k, r->k2, y->g, x->v, x->rows, t);
    if (r->lin->gb && r->s != 0.0)
        cols_bias_grad(r->lin, y->g, x->rows);
    if (x->g)
        cols_input_grad(r->lin, r->k, r->k2, y->g, x->rows, x->g, t);
}

tr_node *TR(linear_cols)(tr_tape *t, tr_node *x, const tr_lin *l, int64_t off, int64_t n, int bias)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_linear_cols, x->rows, l->out, 1, x, &y);
    if (!r)
        return y;
    r->lin = l;
    r->k = off;
    r->k2 = n;
    r->s = bias ? 1.0 : 0.0;
    cols_forward(l, off, n, bias, x->v, x->rows, y->v, t);
    return y;
}

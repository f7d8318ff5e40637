/* The tape's ops for a network's input gradient built as a forward graph
 * (ops.h: linear_t, conv2d_t, act_mask, norm_penalty), from which WGAN-GP's
 * penalty and its parameter gradient come by the ordinary backward pass.
 * Each forward here is a product the linear and conv ops run in their own
 * backward rules, and each backward one they run forward, so every product
 * goes through the same packed kernels (plain loops in the double build). */
#include "tape_impl.h"

#include <math.h>
#include <string.h>

static const varia_act IDENTITY = {VARIA_ACT_IDENTITY, 0.0f};

/* ---- linear_t: y = g W ---- */

/* dW += g^T dy: the linear layer's weight gradient with g as its output
 * gradient and dy as its input (the bias sum it also makes is not ours: it
 * goes to a sink); dg += dy W^T: the layer's forward product, bias zero. */
static void back_linear_t(tr_tape *t, const record *r)
{
    const tr_lin *l = r->lin;
    tr_node *g = r->a;
    const tr_node *y = r->out;
    int64_t n = g->rows;
    tr_real *sink = TR(alloc)(t, l->out), *dg = TR(alloc)(t, n * l->out);
    if (!sink || !dg)
        return;
    memset(sink, 0, (size_t)l->out * sizeof *sink);
    if (l->gw) { /* NULL: constant weights (tape.h) */
        tr_lin lw = *l;
        lw.gb = sink;
        TR(mm_weight_grad)(&lw, g->v, y->g, n, TR(alloc)(t, TR(mm_weight_scratch)(l, n)));
    }
    if (!g->g)
        return;
    memset(sink, 0, (size_t)l->out * sizeof *sink); /* zeroed again: now the product's bias */
    tr_lin lz = *l;
    lz.b = sink;
    TR(mm_forward)(&lz, y->g, n, dg, IDENTITY);
    for (int64_t i = 0; i < n * l->out; i++)
        g->g[i] += dg[i];
}

tr_node *TR(linear_t)(tr_tape *t, tr_node *g, const tr_lin *l)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_linear_t, g->rows, l->in, 1, g, &y);
    tr_real *scratch = r ? TR(alloc)(t, TR(mm_input_scratch)(l, g->rows)) : NULL;
    if (!r || (!scratch && TR(failed)(t)))
        return y;
    r->lin = l;
    memset(y->v, 0, (size_t)(g->rows * l->in) * sizeof *y->v);
    TR(mm_input_grad)(l, g->v, g->rows, y->v, scratch); /* y = g W, the input gradient's product */
    return y;
}

/* ---- conv2d_t: the adjoint of a conv ---- */

/* The transposed conv by the conv's own weight: its geometry is the conv's
 * with input and output swapped (the map of im2col is then the conv's,
 * conv.h), the output padding whatever rows and columns of the conv's input
 * no window reached; its bias a zero one whose gradient goes to a sink. Both
 * live on the tape, as the record reads them in the backward pass. */
tr_node *TR(conv2d_t)(tr_tape *t, tr_node *g, const tr_lin *l, const varia_conv *c)
{
    varia_conv *gt = TR(arena)(t, sizeof *gt);
    tr_lin *lt = TR(arena)(t, sizeof *lt);
    tr_real *zero = TR(alloc)(t, c->cin), *sink = TR(alloc)(t, c->cin);
    if (!gt || !lt || !zero || !sink)
        return TR(new_node)(t, g->rows, c->cin * c->h * c->w, 1); /* the failed tape's dummy */
    *gt = (varia_conv){1, c->cout, c->oh, c->ow, c->cin, c->h, c->w, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw,
                       c->h - ((c->oh - 1) * c->sh - 2 * c->ph + c->kh),
                       c->w - ((c->ow - 1) * c->sw - 2 * c->pw + c->kw)};
    memset(zero, 0, (size_t)c->cin * sizeof *zero);
    memset(sink, 0, (size_t)c->cin * sizeof *sink);
    *lt = *l;
    lt->b = zero;
    lt->gb = l->gw ? sink : NULL;
    return TR(conv_transpose2d)(t, g, lt, gt, IDENTITY);
}

/* ---- act_mask: g * act'(a), act' read from y = act(a) ---- */

/* d * act'(y) by the linear layer's own rule (pre_act_grad), through a
 * record whose output holds y's values and d as its gradient. */
static tr_real *masked(tr_tape *t, const tr_node *y, tr_real *d, varia_act act)
{
    tr_node view = {y->rows, y->cols, y->v, d};
    record fake = {.out = &view, .act = act};
    return TR(pre_act_grad)(t, &fake);
}

/* The mask is a constant: dg += dout * act'(y), and y gets nothing. */
static void back_act_mask(tr_tape *t, const record *r)
{
    tr_node *g = r->a;
    tr_real *d = g->g ? masked(t, r->b, r->out->g, r->act) : NULL;
    for (int64_t i = 0; d && i < g->rows * g->cols; i++)
        g->g[i] += d[i];
}

tr_node *TR(act_mask)(tr_tape *t, tr_node *g, tr_node *y, varia_act act)
{
    tr_node *out;
    record *r = TR(begin_op)(t, back_act_mask, g->rows, g->cols, g->g != NULL, g, &out);
    tr_real *d = r ? masked(t, y, g->v, act) : NULL;
    if (!d)
        return out;
    r->b = y;
    r->act = act;
    memcpy(out->v, d, (size_t)(g->rows * g->cols) * sizeof *d);
    return out;
}

/* ---- norm_penalty: (|g_r| - 1)^2 per row ---- */

/* Row i's Euclidean norm, summed in double. */
static double row_norm(const tr_node *g, int64_t i)
{
    double s = 0.0;
    for (int64_t j = 0; j < g->cols; j++)
        s += (double)g->v[i * g->cols + j] * g->v[i * g->cols + j];
    return sqrt(s);
}

/* d/dg = 2 (|g| - 1) g / |g|; 0 at g = 0, where the norm has no gradient
 * (PyTorch's norm backward gives 0 there too). */
static void back_norm_penalty(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *g = r->a;
    for (int64_t i = 0; i < g->rows; i++) {
        double n = row_norm(g, i), c = n > 0.0 ? 2.0 * (n - 1.0) / n * (double)r->out->g[i] : 0.0;
        for (int64_t j = 0; j < g->cols; j++)
            g->g[i * g->cols + j] += (tr_real)(c * (double)g->v[i * g->cols + j]);
    }
}

tr_node *TR(norm_penalty)(tr_tape *t, tr_node *g)
{
    tr_node *p;
    record *r = TR(begin_op)(t, back_norm_penalty, g->rows, 1, g->g != NULL, g, &p);
    if (!r)
        return p;
    for (int64_t i = 0; i < g->rows; i++) {
        double d = row_norm(g, i) - 1.0;
        p->v[i] = (tr_real)(d * d);
    }
    return p;
}

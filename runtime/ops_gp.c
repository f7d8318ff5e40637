/* The exec and measure backends of the input-gradient ops (ops.h:
 * linear_t, conv2d_t, act_mask, norm_penalty). Training runs them on the
 * tape; exec has them so that a pass written with them runs on every
 * backend and so the tape's values can be checked against an independent
 * computation. They read the slot's weight as given ([out, in], never
 * masked or folded: a critic they serve has no batch norm) with plain loops
 * summing in double; speed is the tape's business. */
#include "ops_exec.h"

#include <math.h>
#include <string.h>

#define CONV_REAL float
#include "conv_rows.h"

/* y[r, i] = sum_o g[r, o] W[o, i]. */
varia_v *varia_exec_linear_t(varia_ops *o, varia_v *g, int slot)
{
    varia_exec *e = (varia_exec *)o;
    const varia_linear *l = &e->m->lin[slot];
    varia_v *y = varia_exec_val(e, g->rows, l->in, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < g->rows; r++)
        for (int64_t i = 0; i < l->in; i++) {
            double s = 0.0;
            for (int64_t k = 0; k < l->out; k++)
                s += (double)g->f[r * g->ld + k] * l->w[k * l->in + i];
            y->f[r * y->ld + i] = (float)s;
        }
    return y;
}

/* Per example: g to position-major rows [P, cout], times W [cout, cin kk]
 * into im2col rows [P, cin kk], scattered back onto the conv's input
 * (col2im): the conv's input gradient, as the tape's conv backward makes it. */
varia_v *varia_exec_conv2d_t(varia_ops *o, varia_v *g, int slot, const varia_conv *c)
{
    varia_exec *e = (varia_exec *)o;
    const varia_linear *l = &e->m->lin[slot];
    varia_conv_map map = varia_conv_map_of(c);
    int64_t P = c->oh * c->ow, O = l->out, K = l->in;
    varia_v *y = varia_exec_val(e, g->rows, c->cin * c->h * c->w, 0);
    varia_v *rows = varia_exec_val(e, P, O, 0), *cols = varia_exec_val(e, P, K, 0);
    for (int64_t n = 0; varia_exec_live(e) && n < g->rows; n++) {
        conv_to_rows(g->f + n * g->ld, O, P, rows->f);
        for (int64_t p = 0; p < P; p++)
            for (int64_t k = 0; k < K; k++) {
                double s = 0.0;
                for (int64_t j = 0; j < O; j++)
                    s += (double)rows->f[p * O + j] * l->w[j * K + k];
                cols->f[p * K + k] = (float)s;
            }
        memset(y->f + n * y->ld, 0, (size_t)y->cols * sizeof(float));
        conv_col2im(&map, cols->f, y->f + n * y->ld);
    }
    return y;
}

/* The activation's derivative from its output by the tape's own kernel. */
varia_v *varia_exec_act_mask(varia_ops *o, varia_v *g, varia_v *y, varia_act act)
{
    varia_exec *e = (varia_exec *)o;
    varia_v *out = varia_exec_val(e, g->rows, g->cols, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < g->rows; r++) {
        if (act.kind == VARIA_ACT_IDENTITY)
            memcpy(out->f + r * out->ld, g->f + r * g->ld, (size_t)g->cols * sizeof(float));
        else
            varia_act_grad(act, y->f + r * y->ld, g->f + r * g->ld, g->cols, out->f + r * out->ld);
    }
    return out;
}

varia_v *varia_exec_norm_penalty(varia_ops *o, varia_v *g)
{
    varia_exec *e = (varia_exec *)o;
    varia_v *p = varia_exec_val(e, g->rows, 1, 1);
    for (int64_t r = 0; varia_exec_live(e) && r < g->rows; r++) {
        double s = 0.0;
        for (int64_t j = 0; j < g->cols; j++)
            s += (double)g->f[r * g->ld + j] * g->f[r * g->ld + j];
        double d = sqrt(s) - 1.0;
        p->d[r] = d * d;
    }
    return p;
}

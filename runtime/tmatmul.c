/* The trainer's matrix products. The float build runs all three through the
 * runtime's packed kernel (the forward one exactly as inference does, the two
 * gradient products as forward passes over transposed packings), so training
 * is as fast as inference per flop. The double build, used only by the
 * gradient checks, is plain loops. */
#include "tape.h"

#include <math.h>
#include <string.h>

#ifdef TR_DOUBLE

double trd_act_apply(varia_act a, double v)
{
    switch (a.kind) {
    case VARIA_ACT_TANH: return tanh(v);
    case VARIA_ACT_RELU: return v > 0 ? v : 0;
    case VARIA_ACT_LEAKY_RELU: return v > 0 ? v : a.param * v;
    case VARIA_ACT_ELU: return v > 0 ? v : a.param * expm1(v);
    case VARIA_ACT_SOFTPLUS: return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
    case VARIA_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case VARIA_ACT_IDENTITY: break;
    }
    return v;
}

void TR(mm_forward)(const tr_lin *l, const tr_real *x, int64_t n, tr_real *y, varia_act act)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < l->out; o++) {
            double s = l->b[o];
            for (int64_t i = 0; i < l->in; i++)
                s += x[r * l->in + i] * l->w[o * l->in + i];
            y[r * l->out + o] = trd_act_apply(act, s);
        }
}

int64_t TR(mm_weight_scratch)(const tr_lin *l, int64_t n)
{
    (void)l;
    (void)n;
    return 0;
}

void TR(mm_weight_grad)(const tr_lin *l, const tr_real *dy, const tr_real *x, int64_t n, tr_real *scratch)
{
    (void)scratch;
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < l->out; o++) {
            l->gb[o] += dy[r * l->out + o];
            for (int64_t i = 0; i < l->in; i++)
                l->gw[o * l->in + i] += dy[r * l->out + o] * x[r * l->in + i];
        }
}

int64_t TR(mm_input_scratch)(const tr_lin *l, int64_t n)
{
    (void)l;
    (void)n;
    return 0;
}

void TR(mm_input_grad)(const tr_lin *l, const tr_real *dy, int64_t n, tr_real *dx, tr_real *scratch)
{
    (void)scratch;
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < l->in; i++) {
            double s = 0;
            for (int64_t o = 0; o < l->out; o++)
                s += dy[r * l->out + o] * l->w[o * l->in + i];
            dx[r * l->in + i] += s;
        }
}

#else

void TR(mm_forward)(const tr_lin *l, const tr_real *x, int64_t n, tr_real *y, varia_act act)
{
    varia_linear k = {l->in, l->out, l->w, (float *)l->packed, l->b, 0};
    varia_linear_forward_native(&k, x, n, y, act);
}

/* [ packed x^T | dy^T | the product | zero bias ] */
int64_t TR(mm_weight_scratch)(const tr_lin *l, int64_t n)
{
    return varia_packed_floats(n, l->in) + n * l->out + l->out * l->in + l->in + 64;
}

void TR(mm_weight_grad)(const tr_lin *l, const tr_real *dy, const tr_real *x, int64_t n, tr_real *scratch)
{
    if (!scratch)
        return;
    float *px = scratch, *dyt = px + varia_packed_floats(n, l->in), *prod = dyt + n * l->out;
    float *zero = prod + l->out * l->in;
    /* gw = dy^T x: rows are outputs, the "input" is the batch, and the "weight"
     * is x^T, element (feature, row) = x[row * in + feature]. */
    varia_pack_panels(px, x, n, l->in, 1);
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < l->out; o++)
            dyt[o * n + r] = dy[r * l->out + o];
    memset(zero, 0, (size_t)l->in * sizeof(float));
    varia_linear k = {n, l->in, NULL, px, zero, 0};
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    varia_linear_forward_native(&k, dyt, l->out, prod, id);
    varia_add(l->gw, prod, l->out * l->in);
    for (int64_t o = 0; o < l->out; o++) {
        float s = 0.0f;
        for (int64_t r = 0; r < n; r++)
            s += dyt[o * n + r];
        l->gb[o] += s;
    }
}

int64_t TR(mm_input_scratch)(const tr_lin *l, int64_t n)
{
    return n * l->in + l->in + 16;
}

void TR(mm_input_grad)(const tr_lin *l, const tr_real *dy, int64_t n, tr_real *dx, tr_real *scratch)
{
    if (!scratch)
        return;
    float *prod = scratch, *zero = prod + n * l->in;
    memset(zero, 0, (size_t)l->in * sizeof(float));
    /* dx = dy W = dy (W^T)^T: a forward pass with the packed transpose. */
    varia_linear k = {l->out, l->in, NULL, (float *)l->packed_t, zero, 0};
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    varia_linear_forward_native(&k, dy, n, prod, id);
    varia_add(dx, prod, n * l->in);
}

#endif

/* The tape's sequence ops (tape.h), each backward rule beside its forward,
 * as in tape_ops.c: per-row masking by length, the softplus standard
 * deviation's log-variance, the KL between two Gaussians, a Bernoulli draw.
 * Compiled in float and double like the rest of the tape. */
#include "tape_impl.h"

#include <math.h>

/* ---- row_mask ---- */

/* d y_r / d x_r = keep_r (r->data: the 0/1 flag of each row) */
static void back_rowmask(tr_tape *t, const record *r)
{
    (void)t;
    for (int64_t i = 0; i < r->a->rows; i++)
        for (int64_t d = 0; r->data[i] != 0 && d < r->a->cols; d++)
            r->a->g[i * r->a->cols + d] += r->out->g[i * r->a->cols + d];
}

tr_node *TR(row_mask)(tr_tape *t, tr_node *x, const int64_t *lengths, int64_t k, int64_t step)
{
    tr_node *o;
    tr_real *keep = TR(alloc)(t, x->rows); /* the flags, kept for the backward pass */
    record *r = TR(begin_op)(t, back_rowmask, x->rows, x->cols, x->g != NULL, x, &o);
    if (!r || !keep)
        return o;
    r->data = keep;
    for (int64_t i = 0; i < x->rows; i++) {
        keep[i] = step < lengths[i / k] ? 1 : 0;
        for (int64_t d = 0; d < x->cols; d++)
            o->v[i * x->cols + d] = keep[i] != 0 ? x->v[i * x->cols + d] : 0;
    }
    return o;
}

/* ---- softplus_logvar ---- */

/* y = 2 log(softplus(a) + floor): dy/da = 2 sigmoid(a) / (softplus(a) + floor) = 2 sigmoid(a) exp(-y / 2) */
static void back_splv(tr_tape *t, const record *r)
{
    (void)t;
    for (int64_t i = 0; i < r->out->rows * r->out->cols; i++) {
        double a = r->a->v[i], sig = a >= 0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a));
        r->a->g[i] += (tr_real)(r->out->g[i] * 2.0 * sig * exp(-0.5 * (double)r->out->v[i]));
    }
}

tr_node *TR(softplus_logvar)(tr_tape *t, tr_node *a, double floor)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_splv, a->rows, a->cols, a->g != NULL, a, &y);
    if (!r)
        return y;
    for (int64_t i = 0; i < a->rows * a->cols; i++) {
        double v = a->v[i], sp = fmax(v, 0.0) + log1p(exp(-fabs(v)));
        y->v[i] = (tr_real)(2.0 * log(sp + floor));
    }
    return y;
}

/* ---- gauss_kl_to ---- */

/* KL = (lp - l + (e^l + (m - mp)^2) e^-lp - 1) / 2: dm = (m - mp) e^-lp = -dmp,
 * dl = (e^(l - lp) - 1) / 2, dlp = (1 - (e^l + (m - mp)^2) e^-lp) / 2 */
static void back_kl_to(tr_tape *t, const record *r)
{
    (void)t;
    for (int64_t i = 0; i < r->out->rows * r->out->cols; i++) {
        double g = r->out->g[i], m = r->a->v[i], l = r->b->v[i], mp = r->c->v[i], lp = r->d->v[i];
        double dm = (m - mp) * exp(-lp), q = (exp(l) + (m - mp) * (m - mp)) * exp(-lp);
        if (r->a->g)
            r->a->g[i] += (tr_real)(g * dm);
        if (r->c->g)
            r->c->g[i] -= (tr_real)(g * dm);
        if (r->b->g)
            r->b->g[i] += (tr_real)(g * 0.5 * expm1(l - lp));
        if (r->d->g)
            r->d->g[i] += (tr_real)(g * 0.5 * (1.0 - q));
    }
}

tr_node *TR(gauss_kl_to)(tr_tape *t, tr_node *mu, tr_node *lv, tr_node *mu_p, tr_node *lv_p)
{
    tr_node *o;
    int grad = mu->g || lv->g || mu_p->g || lv_p->g;
    record *r = TR(begin_op)(t, back_kl_to, mu->rows, mu->cols, grad, mu, &o);
    if (!r)
        return o;
    r->b = lv;
    r->c = mu_p;
    r->d = lv_p;
    for (int64_t i = 0; i < mu->rows * mu->cols; i++) {
        double m = mu->v[i], l = lv->v[i], mp = mu_p->v[i], lp = lv_p->v[i], dm = m - mp;
        o->v[i] = (tr_real)(0.5 * (lp - l + (exp(l) + dm * dm) * exp(-lp) - 1.0));
    }
    return o;
}

/* ---- bernoulli_sample ---- */

/* A constant: 1 where Phi(e) < sigmoid(l); nothing flows back through a draw. */
tr_node *TR(bernoulli_sample)(tr_tape *t, tr_node *logits, tr_node *eps)
{
    int64_t n = logits->rows * logits->cols;
    tr_real *v = TR(alloc)(t, n);
    for (int64_t i = 0; v && i < n; i++) {
        double u = 0.5 * erfc(-(double)eps->v[i] * 0.70710678118654752);
        double p = 1.0 / (1.0 + exp(-(double)logits->v[i]));
        v[i] = u < p ? 1 : 0;
    }
    return TR(input)(t, logits->rows, logits->cols, v);
}

/* The tape's sequence ops (tape.h), each backward rule beside its forward,
 * as in tape_ops.c: per-row masking by length, the softplus standard
 * deviation's log-variance, the KL between two Gaussians, a Bernoulli draw.
 * Compiled in float and double like the rest of the tape. */
#include "tape_impl.h"

#include <math.h>

#define GMM_T tr_real
#define GMM(name) TR(gmm_row_##name)
#include "gmm_rows.h"

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

/* ---- gmm_logp ---- */

/* With responsibilities r_j = exp(a_j - y) and pi = softmax(w): dy/dw_j = r_j - pi_j,
 * dy/dmu_jd = r_j (x_d - mu_jd) e^-lv_jd, dy/dlv_jd = r_j ((x_d - mu_jd)^2 e^-lv_jd - 1) / 2 */
static void back_gmm(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *w = r->a, *mu = r->b, *lv = r->c;
    int64_t K = w->cols, d = mu->cols / K;
    double a[GMM_K_MAX], lpi[GMM_K_MAX];
    for (int64_t i = 0; i < w->rows; i++) {
        const tr_real *x = r->d->v + (i / r->k) * r->d->cols, *wi = w->v + i * K;
        const tr_real *mi = mu->v + i * K * d, *li = lv->v + i * K * d;
        double g = r->out->g[i], y = TR(gmm_row_logp)(x, wi, mi, li, K, d, a);
        TR(gmm_row_log_weights)(wi, K, lpi);
        for (int64_t j = 0; j < K; j++) {
            double rj = exp(a[j] - y);
            if (w->g)
                w->g[i * K + j] += (tr_real)(g * (rj - exp(lpi[j])));
            for (int64_t c = 0; c < d; c++) {
                double iv = exp(-(double)li[j * d + c]), dx = (double)x[c] - mi[j * d + c];
                if (mu->g)
                    mu->g[i * K * d + j * d + c] += (tr_real)(g * rj * dx * iv);
                if (lv->g)
                    lv->g[i * K * d + j * d + c] += (tr_real)(g * rj * 0.5 * (dx * dx * iv - 1.0));
            }
        }
    }
}

tr_node *TR(gmm_logp)(tr_tape *t, tr_node *x, int64_t kx, tr_node *w, tr_node *mu, tr_node *lv)
{
    tr_node *o;
    int64_t K = w->cols, d = mu->cols / (K ? K : 1);
    double a[GMM_K_MAX];
    record *r = TR(begin_op)(t, back_gmm, w->rows, 1, w->g || mu->g || lv->g, w, &o);
    if (!r || K > GMM_K_MAX)
        return o;
    r->b = mu;
    r->c = lv;
    r->d = x;
    r->k = kx;
    for (int64_t i = 0; i < w->rows; i++)
        o->v[i] = (tr_real)TR(gmm_row_logp)(x->v + (i / kx) * x->cols, w->v + i * K, mu->v + i * K * d,
                                        lv->v + i * K * d, K, d, a);
    return o;
}

/* ---- gmm_sample, gmm_moment: constants ---- */

tr_node *TR(gmm_sample)(tr_tape *t, tr_node *w, tr_node *mu, tr_node *lv, tr_node *eps)
{
    int64_t K = w->cols, d = mu->cols / (K ? K : 1);
    double a[GMM_K_MAX];
    tr_real *v = K <= GMM_K_MAX ? TR(alloc)(t, w->rows * d) : NULL;
    for (int64_t i = 0; v && i < w->rows; i++)
        TR(gmm_row_sample)(w->v + i * K, mu->v + i * K * d, lv->v + i * K * d, eps->v + i * eps->cols, K, d, a,
                       v + i * d);
    return TR(input)(t, w->rows, d, v);
}

tr_node *TR(gmm_moment)(tr_tape *t, tr_node *w, tr_node *mu, tr_node *lv, int which)
{
    int64_t K = w->cols, d = mu->cols / (K ? K : 1);
    double a[GMM_K_MAX];
    tr_real *v = K <= GMM_K_MAX ? TR(alloc)(t, w->rows * d) : NULL;
    for (int64_t i = 0; v && i < w->rows; i++)
        TR(gmm_row_moment)(w->v + i * K, mu->v + i * K * d, lv->v + i * K * d, K, d, which, a, v + i * d);
    return TR(input)(t, w->rows, d, v);
}

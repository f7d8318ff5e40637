/* The exec and measure backends of the ops sequence families add (ops.h):
 * per-row masking by length, outputs emitted step by step, the softplus
 * standard deviation's log-variance, the KL between two Gaussians and a
 * Bernoulli draw. Each makes its value first (all measure needs), then
 * computes it when live. Log-densities are double, as everywhere in exec. */
#include "ops_exec.h"
#include "bern_draw.h"
#include "kernels.h"

#include <math.h>

#define GMM_T float
#define GMM(name) gmm_f_##name
#include "gmm_rows.h"

varia_v *varia_exec_row_mask(varia_ops *o, varia_v *x, const int64_t *lengths, int64_t k, int64_t t)
{
    varia_exec *e = (varia_exec *)o;
    if (!lengths)
        return x;
    varia_v *y = varia_exec_val(e, x->rows, x->cols, x->dbl);
    for (int64_t r = 0; varia_exec_live(e) && r < x->rows; r++) {
        int keep = t < lengths[r / k];
        for (int64_t j = 0; j < x->cols; j++) {
            if (x->dbl)
                y->d[r * y->ld + j] = keep ? x->d[r * x->ld + j] : 0.0;
            else
                y->f[r * y->ld + j] = keep ? x->f[r * x->ld + j] : 0.0f;
        }
    }
    return y;
}

void varia_exec_emit(varia_ops *o, int which, varia_v *v, int64_t col)
{
    varia_exec *e = (varia_exec *)o;
    if (which < 0 || which >= VARIA_EMIT_MAX) {
        e->failed = 1; /* a family's bug: the pass then computes nothing */
        return;
    }
    float *dst = o->out[which];
    for (int64_t r = 0; dst && varia_exec_live(e) && r < v->rows; r++)
        for (int64_t j = 0; j < v->cols; j++)
            dst[r * o->out_ld[which] + col + j] = v->dbl ? (float)v->d[r * v->ld + j] : v->f[r * v->ld + j];
}

/* The tape's floats (its double computation, rounded), by kernels.c. */
varia_v *varia_exec_softplus_logvar(varia_ops *o, varia_v *a, float floor)
{
    varia_exec *e = (varia_exec *)o;
    varia_v *y = varia_exec_val(e, a->rows, a->cols, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < a->rows; r++)
        varia_softplus_logvar(y->f + r * y->ld, a->f + r * a->ld, a->cols, floor);
    return y;
}

varia_v *varia_exec_gauss_kl_to(varia_ops *o, varia_v *mu, varia_v *lv, varia_v *mu_p, varia_v *lv_p)
{
    varia_exec *e = (varia_exec *)o;
    varia_v *k = varia_exec_val(e, mu->rows, mu->cols, 1);
    for (int64_t r = 0; varia_exec_live(e) && r < mu->rows; r++)
        for (int64_t j = 0; j < mu->cols; j++) {
            double m = mu->f[r * mu->ld + j], l = lv->f[r * lv->ld + j];
            double mp = mu_p->f[r * mu_p->ld + j], lp = lv_p->f[r * lv_p->ld + j], dm = m - mp;
            k->d[r * k->ld + j] = 0.5 * (lp - l + (exp(l) + dm * dm) * exp(-lp) - 1.0);
        }
    return k;
}

/* Phi(e) < sigmoid(l): the tape's comparison (erfc(-e / sqrt 2) / 2 < 1 /
 * (1 + exp(-l)) in double), decision for decision, by bern_draw.c's bounds. */
varia_v *varia_exec_bernoulli_sample(varia_ops *o, varia_v *logits, varia_v *eps)
{
    varia_exec *e = (varia_exec *)o;
    varia_v *y = varia_exec_val(e, logits->rows, logits->cols, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < logits->rows; r++)
        varia_bern_draw_row(y->f + r * y->ld, logits->f + r * logits->ld, eps->f + r * eps->ld, logits->cols);
    return y;
}

/* Every row's mixture from w, mu, lv (float values of any row stride). */
varia_v *varia_exec_gmm_logp(varia_ops *o, varia_v *x, int64_t kx, varia_v *w, varia_v *mu, varia_v *lv)
{
    varia_exec *e = (varia_exec *)o;
    int64_t K = w->cols, d = mu->cols / (K ? K : 1);
    double a[GMM_K_MAX];
    if (K > GMM_K_MAX)
        e->failed = 1; /* a family's bug: parse caps K */
    varia_v *p = varia_exec_val(e, w->rows, 1, 1);
    for (int64_t r = 0; varia_exec_live(e) && r < w->rows; r++)
        p->d[r] = gmm_f_logp(x->f + (r / kx) * x->ld, w->f + r * w->ld, mu->f + r * mu->ld, lv->f + r * lv->ld, K,
                             d, a);
    return p;
}

varia_v *varia_exec_gmm_sample(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, varia_v *eps)
{
    varia_exec *e = (varia_exec *)o;
    int64_t K = w->cols, d = mu->cols / (K ? K : 1);
    double a[GMM_K_MAX];
    if (K > GMM_K_MAX)
        e->failed = 1;
    varia_v *y = varia_exec_val(e, w->rows, d, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < w->rows; r++)
        gmm_f_sample(w->f + r * w->ld, mu->f + r * mu->ld, lv->f + r * lv->ld, eps->f + r * eps->ld, K, d, a,
                     y->f + r * y->ld);
    return y;
}

varia_v *varia_exec_gmm_moment(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, int which)
{
    varia_exec *e = (varia_exec *)o;
    int64_t K = w->cols, d = mu->cols / (K ? K : 1);
    double a[GMM_K_MAX];
    if (K > GMM_K_MAX)
        e->failed = 1;
    varia_v *y = varia_exec_val(e, w->rows, d, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < w->rows; r++)
        gmm_f_moment(w->f + r * w->ld, mu->f + r * mu->ld, lv->f + r * lv->ld, K, d, which, a, y->f + r * y->ld);
    return y;
}

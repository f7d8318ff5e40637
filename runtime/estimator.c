/* The importance-weighted reduction: a running log-sum-exp in double, so any
 * number of samples can stream through in bounded memory without overflow. */
#include "estimator.h"

#include <math.h>

void varia_iw_init(varia_iw_acc *a)
{
    a->max = -INFINITY;
    a->sum = 0.0;
    a->recon = a->mc_kl = a->log_det = 0.0;
    a->kl = NAN;
    a->count = 0;
    a->saw_nan = 0;
}

void varia_iw_add(varia_iw_acc *a, const double *log_w, const double *log_px, int64_t count)
{
    for (int64_t s = 0; s < count; s++) {
        double lw = log_w[s];
        if (isnan(lw) || isnan(log_px[s])) {
            a->saw_nan = 1;
            continue;
        }
        if (lw == -INFINITY) { /* weight 0: adds nothing to the sum */
        } else if (lw > a->max) { /* rescale what we have to the new maximum */
            a->sum = a->sum * exp(a->max - lw) + 1.0;
            a->max = lw;
        } else {
            a->sum += exp(lw - a->max);
        }
        a->recon += log_px[s];
        a->mc_kl += log_px[s] - lw; /* log q(z|x) - log p(z) */
    }
    a->count += count;
}

int varia_iw_finish(const varia_iw_acc *a, double kl_analytic, varia_eval_row *row)
{
    double k = (double)a->count;
    row->log_px = a->max + log(a->sum) - log(k);
    row->recon = a->recon / k;
    row->kl = isnan(kl_analytic) ? a->mc_kl / k : kl_analytic;
    row->elbo = row->recon - row->kl;
    row->log_det = a->log_det / k;
    return !a->saw_nan && isfinite(row->log_px) && isfinite(row->elbo);
}

void varia_iw_merge(varia_iw_acc *a, const varia_iw_acc *b)
{
    if (b->max == -INFINITY) {
        /* b adds no weight */
    } else if (a->max >= b->max) {
        a->sum += b->sum * exp(b->max - a->max);
    } else {
        a->sum = a->sum * exp(a->max - b->max) + b->sum;
        a->max = b->max;
    }
    a->recon += b->recon;
    a->mc_kl += b->mc_kl;
    a->log_det += b->log_det;
    a->count += b->count;
    a->saw_nan |= b->saw_nan;
}

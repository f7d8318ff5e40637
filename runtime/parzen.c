/* The Parzen-window estimate of log p(x) (Goodfellow et al. 2014's protocol,
 * for comparison with old papers only: Theis et al. 2015 showed it can be off
 * by hundreds of nats and misorder models; AIS is the sound estimator):
 *   log p(x) ~ logsumexp_s(-|x - g_s|^2 / (2 sigma^2)) - log S - (D/2) log(2 pi sigma^2)
 * over S samples g_s of the model. The squared distances come from one matrix
 * product x G^T through the packed kernel: |x|^2 + |g|^2 - 2 x.g. */
#include "api.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLES_CAP 1000000
#define CHUNK 64 /* test rows per product */

/* Per row of x[rows * D]: the estimate from the packed samples g (|g_s|^2 in
 * sq[s]) into log_px; dots[CHUNK * S] is scratch. */
static void estimate_rows(const varia_linear *g, const double *sq, const float *x, int64_t rows, double sigma,
                          float *dots, double *log_px)
{
    int64_t D = g->in, S = g->out;
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    varia_linear_forward(g, x, rows, dots, id);
    double inv = 1.0 / (2.0 * sigma * sigma), norm = log((double)S) + 0.5 * (double)D * log(2.0 * M_PI * sigma * sigma);
    for (int64_t r = 0; r < rows; r++) {
        double xx = 0.0, mx = -INFINITY, sum = 0.0;
        for (int64_t d = 0; d < D; d++)
            xx += (double)x[r * D + d] * x[r * D + d];
        for (int64_t s = 0; s < S; s++) { /* a running log-sum-exp in sample order */
            double d2 = xx + sq[s] - 2.0 * (double)dots[r * S + s], l = -(d2 > 0.0 ? d2 : 0.0) * inv;
            if (l > mx) {
                sum = sum * exp(mx - l) + 1.0;
                mx = l;
            } else {
                sum += exp(l - mx);
            }
        }
        log_px[r] = mx + log(sum) - norm;
    }
}

/* The options' checks, each naming its field. */
static varia_status check_opts(varia_ctx *ctx, const varia_parzen_opts *o)
{
    if (!o)
        return varia_fail(ctx, VARIA_ERR_ARG, "parzen: needs options");
    if (o->samples < 1 || o->samples > SAMPLES_CAP)
        return varia_fail(ctx, VARIA_ERR_ARG, "parzen: samples %lld outside [1, %d]", (long long)o->samples,
                          SAMPLES_CAP);
    if (!(o->sigma > 0.0) || !isfinite(o->sigma))
        return varia_fail(ctx, VARIA_ERR_ARG, "parzen: sigma must be positive and finite (got %g)", o->sigma);
    return VARIA_OK;
}

varia_status varia_parzen(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                          const varia_parzen_opts *o, double *log_px)
{
    varia_status st = varia_check_model(ctx, m, x, n, "parzen");
    if (st == VARIA_OK)
        st = check_opts(ctx, o);
    if (st == VARIA_OK && !log_px && n > 0)
        st = varia_fail(ctx, VARIA_ERR_ARG, "parzen: null output");
    if (st == VARIA_OK && !varia_model_can(m, VARIA_CAN_SAMPLE))
        st = varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "family '%s' cannot sample", m->info.family);
    int64_t D = m->info.data_size, S = o ? o->samples : 0;
    if (st == VARIA_OK)
        st = varia_check_finite(ctx, x, n, D, "parzen: input");
    if (st != VARIA_OK)
        return st;
    float *G = malloc((size_t)(S * D) * sizeof(float)), *zero = calloc((size_t)S, sizeof(float));
    float *dots = malloc((size_t)(CHUNK * S) * sizeof(float));
    double *sq = malloc((size_t)S * sizeof(double));
    varia_linear g = {0};
    if (!G || !zero || !dots || !sq)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "parzen: out of memory for %lld samples", (long long)S);
    if (st == VARIA_OK)
        st = varia_sample(ctx, m, S, o->seed, 1.0f, G, NULL);
    if (st == VARIA_OK && !varia_linear_init(&g, G, zero, D, S))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "parzen: out of memory for %lld samples", (long long)S);
    for (int64_t s = 0; st == VARIA_OK && s < S; s++) {
        double a = 0.0;
        for (int64_t d = 0; d < D; d++)
            a += (double)G[s * D + d] * G[s * D + d];
        sq[s] = a;
    }
    for (int64_t r = 0; st == VARIA_OK && r < n; r += CHUNK)
        estimate_rows(&g, sq, x + r * D, n - r < CHUNK ? n - r : CHUNK, o->sigma, dots, log_px + r);
    varia_linear_free(&g);
    free(G);
    free(zero);
    free(dots);
    free(sq);
    return st;
}

/* Internal: one row of a mixture of K diagonal Gaussians over d values (the
 * ops gmm_logp, gmm_sample, gmm_moment of ops.h), written once for the exec
 * backend (float values, any row stride) and the tape (its element type),
 * both computing in double. GMM_T is the element type of the including
 * file; GMM(name) its names. Weights are softmax(w); component j's means
 * and log-variances are mu[j d ...], lv[j d ...]. */
#include <math.h>
#include <stdint.h>

/* The most components a mixture may have (the rows' scratch is on the stack). */
#define GMM_K_MAX 64
#define GMM_HALF_LOG_2PI 0.91893853320467274

/* log pi_j into lpi[K] (log-softmax of w, max subtracted first). */
static void GMM(log_weights)(const GMM_T *w, int64_t K, double *lpi)
{
    double mx = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < K; j++)
        mx = fmax(mx, (double)w[j]);
    for (int64_t j = 0; j < K; j++)
        s += exp((double)w[j] - mx);
    for (int64_t j = 0; j < K; j++)
        lpi[j] = (double)w[j] - mx - log(s);
}

/* log sum_j pi_j N(x; mu_j, exp lv_j); a[K] gets each component's log pi_j +
 * log N_j, so r_j = exp(a_j - result) are its responsibilities. */
static double GMM(logp)(const GMM_T *x, const GMM_T *w, const GMM_T *mu, const GMM_T *lv, int64_t K, int64_t d,
                        double *a)
{
    double mx = -INFINITY, s = 0.0;
    GMM(log_weights)(w, K, a);
    for (int64_t j = 0; j < K; j++) {
        for (int64_t i = 0; i < d; i++) {
            double l = lv[j * d + i], dx = (double)x[i] - mu[j * d + i];
            a[j] += -0.5 * dx * dx * exp(-l) - 0.5 * l - GMM_HALF_LOG_2PI;
        }
        mx = fmax(mx, a[j]);
    }
    for (int64_t j = 0; j < K; j++)
        s += exp(a[j] - mx);
    return mx + log(s);
}

/* A draw into y[d] by e[1 + d]: the component whose interval of the
 * cumulative weights holds Phi(e_0) (the last if rounding leaves it past
 * every sum), then mu_j + exp(lv_j / 2) e[1 ...]. lpi[K] is scratch. */
static void GMM(sample)(const GMM_T *w, const GMM_T *mu, const GMM_T *lv, const GMM_T *e, int64_t K, int64_t d,
                        double *lpi, GMM_T *y)
{
    double u = 0.5 * erfc(-(double)e[0] * 0.70710678118654752), c = 0.0;
    int64_t j = 0;
    GMM(log_weights)(w, K, lpi);
    for (; j < K - 1; j++) {
        c += exp(lpi[j]);
        if (u < c)
            break;
    }
    for (int64_t i = 0; i < d; i++)
        y[i] = (GMM_T)(mu[j * d + i] + exp(0.5 * (double)lv[j * d + i]) * (double)e[1 + i]);
}

/* The mixture's mean (which 0) or the log of its variance (which 1),
 * sum_j pi_j (exp lv_j + (mu_j - mean)^2), into y[d]. */
static void GMM(moment)(const GMM_T *w, const GMM_T *mu, const GMM_T *lv, int64_t K, int64_t d, int which,
                        double *lpi, GMM_T *y)
{
    GMM(log_weights)(w, K, lpi);
    for (int64_t i = 0; i < d; i++) {
        double m = 0.0, var = 0.0;
        for (int64_t j = 0; j < K; j++)
            m += exp(lpi[j]) * mu[j * d + i];
        for (int64_t j = 0; j < K; j++) { /* about the mean: no cancellation */
            double dm = mu[j * d + i] - m;
            var += exp(lpi[j]) * (exp((double)lv[j * d + i]) + dm * dm);
        }
        y[i] = (GMM_T)(which ? log(var) : m);
    }
}

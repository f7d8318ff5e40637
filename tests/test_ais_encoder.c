/* AIS+encoder (varia_ais_opts.start = VARIA_AIS_FROM_ENCODER, docs/ais.md):
 * known answers on a linear Gaussian model whose encoder is its exact
 * posterior, where every log weight increment is (beta_t - beta_{t-1}) log
 * p(x) whatever the chain does, so the estimate is log p(x) at any T and
 * BDMC's two bounds meet; with a wrong encoder, a lower bound that annealing
 * closes; the HMC energy kept to second order in the step (the analytic
 * gradient of log q is right); the same bits for any thread count; and the
 * models it refuses. */
#include "ais.h"
#include "ais_util.h"
#include "rng.h"
#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define D 5
#define K 3
#define LOGVAR (-1.0) /* the decoder's fixed log s2 */

static char root[1024];
static char tmpdir[256];

/* The decoder x = W z + b + s eps, W's columns orthogonal (so the exact
 * posterior is a diagonal Gaussian, which a VAE's encoder can express). */
static float W[D * K], B[D];
/* The exact posterior: Sigma_k = 1 / (1 + |w_k|^2 / s2), mean A x + c with
 * A = Sigma W^T / s2, c = -A b. */
static float A[K * D], C[K], LV[K];

/* W from a fixed stream, its columns made orthogonal (Gram-Schmidt) and
 * given lengths 1.4, 0.9 and 0.5; then the posterior's parameters. */
static void make_model(void)
{
    varia_rng r;
    varia_rng_init(&r, 5, 41, 0, 0);
    varia_rng_normals(&r, W, D * K);
    varia_rng_normals(&r, B, D);
    const double len[K] = {1.4, 0.9, 0.5}, s2 = exp(LOGVAR);
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < k; j++) {
            double dot = 0.0;
            for (int i = 0; i < D; i++)
                dot += (double)W[i * K + k] * W[i * K + j];
            for (int i = 0; i < D; i++)
                W[i * K + k] -= (float)(dot * W[i * K + j]);
        }
        double nn = 0.0;
        for (int i = 0; i < D; i++)
            nn += (double)W[i * K + k] * W[i * K + k];
        for (int i = 0; i < D; i++)
            W[i * K + k] = (float)(W[i * K + k] / sqrt(nn));
    }
    for (int k = 0; k < K; k++) { /* unit columns now, exactly orthogonal up to rounding: scale them */
        for (int i = 0; i < D; i++)
            W[i * K + k] = (float)(W[i * K + k] * len[k]);
        double sig = 1.0 / (1.0 + len[k] * len[k] / s2), c = 0.0;
        for (int i = 0; i < D; i++) {
            A[k * D + i] = (float)(sig * W[i * K + k] / s2);
            c -= (double)A[k * D + i] * B[i];
        }
        C[k] = (float)c;
        LV[k] = (float)log(sig);
    }
}

/* log p(x) = log N(x; b, W W^T + s2 I) from W's orthogonal columns: along
 * u_k = w_k / |w_k| the variance is s2 + |w_k|^2, s2 elsewhere. */
static double exact(const float *x)
{
    double s2 = exp(LOGVAR), r2 = 0.0, logdet = (D - K) * log(s2), quad;
    for (int i = 0; i < D; i++)
        r2 += ((double)x[i] - B[i]) * ((double)x[i] - B[i]);
    quad = r2 / s2;
    for (int k = 0; k < K; k++) {
        double nn = 0.0, u = 0.0;
        for (int i = 0; i < D; i++)
            nn += (double)W[i * K + k] * W[i * K + k];
        for (int i = 0; i < D; i++)
            u += (double)W[i * K + k] * ((double)x[i] - B[i]);
        u /= sqrt(nn);
        logdet += log(s2 + nn);
        quad -= u * u * (1.0 / s2 - 1.0 / (s2 + nn));
    }
    return -0.5 * (D * log(2.0 * M_PI) + logdet + quad);
}

/* The model in tmpdir as `name`, its encoder the exact posterior moved by
 * `shift` (added to the mean's bias and to the log-variance). */
static varia_model *write_model(varia_ctx *ctx, const char *name, float shift)
{
    float cb[K], lvb[K];
    static float zero[K * D];
    for (int k = 0; k < K; k++)
        cb[k] = C[k] + shift, lvb[k] = LV[k] + shift;
    const lg_tensors w = {A, cb, zero, lvb, W, B};
    return lg_model(ctx, tmpdir, name, D, K, LOGVAR, &w);
}

/* n examples drawn from the model. */
static float *data(int64_t n)
{
    return lg_sample(W, B, D, K, exp(LOGVAR), n, 8, 97);
}

/* ais_opts from the encoder. */
static varia_ais_opts enc_opts(int64_t chains, int64_t steps, uint64_t seed)
{
    varia_ais_opts o = ais_opts(chains, steps, seed);
    o.start = VARIA_AIS_FROM_ENCODER;
    return o;
}

/* Largest |estimate - exact log p(x)| and the mean signed difference over n. */
static void errors(const varia_ais_row *rows, const float *x, int64_t n, double *worst, double *mean)
{
    *worst = 0.0, *mean = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = rows[i].log_px - exact(x + i * D);
        *worst = fabs(e) > *worst ? fabs(e) : *worst;
        *mean += e / (double)n;
    }
}

/* With q the exact posterior the estimate is log p(x) for T = 1 (one
 * importance sample), T = 40 (with HMC moving the chains) and any chains;
 * float rounding of terms of about 10 nats allows 2e-3. */
static void exact_posterior(varia_ctx *ctx, const varia_model *m)
{
    int64_t n = 12, steps[3] = {1, 2, 40}, chains[3] = {1, 3, 4};
    float *x = data(n);
    varia_ais_row rows[12];
    for (int i = 0; i < 3; i++) {
        varia_ais_opts o = enc_opts(chains[i], steps[i], 3);
        double worst = INFINITY, mean = 0.0;
        if (varia_ais(ctx, m, x, n, &o, rows) == VARIA_OK)
            errors(rows, x, n, &worst, &mean);
        tap_okf(worst < 2e-3, "exact encoder, T = %lld, %lld chains: AIS+encoder = exact log p(x) (worst %.2e)",
                (long long)steps[i], (long long)chains[i], worst);
    }
    free(x);
}

/* BDMC from the exact posterior: forward and reverse both give log p(x) of
 * each simulated example, so the gap is 0 up to rounding; simulated and
 * scored through the observation model of the model's own variance, and
 * (sigma2 0) through the model's own fixed-variance likelihood, which draws
 * the same data. */
static void exact_bdmc(varia_ctx *ctx, const varia_model *m)
{
    int64_t n = 6;
    float x[6 * D], x0[6 * D];
    varia_ais_row lo[6], up[6];
    for (int own = 0; own < 2; own++) {
        varia_ais_opts o = enc_opts(4, 30, 5);
        o.sigma2 = own ? 0.0 : exp(LOGVAR);
        varia_status st = varia_bdmc(ctx, m, n, &o, own ? x0 : x, lo, up);
        double worst = st == VARIA_OK ? 0.0 : INFINITY;
        for (int64_t i = 0; st == VARIA_OK && i < n; i++) {
            double e = exact(x + i * D), a = fabs(lo[i].log_px - e), b = fabs(up[i].log_px - e);
            worst = a > worst ? a : b > worst ? b : worst;
        }
        tap_okf(worst < 2e-3 && (!own || !memcmp(x, x0, sizeof x)),
                "exact encoder, BDMC (T = 30, %s): both bounds = exact log p(x) (worst %.2e)%s",
                own ? "its own likelihood" : "sigma2 = its variance", worst, own ? ", the same simulated data" : "");
    }
}

/* BDMC of a model whose Gaussian variance comes from its decoder: it cannot
 * simulate from that without sigma2, and says so. */
static void bdmc_learned_var(varia_ctx *ctx)
{
    varia_model *m = load_golden(ctx, root, "vae1_elu_gauss_learned");
    varia_ais_row lo[2], up[2];
    varia_ais_opts o = ais_opts(2, 5, 1);
    varia_status st = m ? varia_bdmc(ctx, m, 2, &o, NULL, lo, up) : VARIA_ERR_IO;
    tap_okf(st == VARIA_ERR_UNSUPPORTED && strstr(varia_ctx_message(ctx), "one fixed number"),
            "BDMC of a learned-variance Gaussian VAE without sigma2: VARIA_ERR_UNSUPPORTED (%s)", varia_ctx_message(ctx));
    varia_model_free(m);
}

/* A wrong encoder (mean and log-variance moved by 2): importance sampling
 * from it (T = 1) falls clearly below log p(x); annealing over T = 600
 * brings it back to within 0.1 nat on average. And the HMC keeps the
 * energy: one transition (T = 2) at the starting step 0.01 is accepted by
 * every chain (a wrong gradient of log q leaves an O(step) energy error:
 * acceptance well below 1). */
static void wrong_encoder(varia_ctx *ctx, const varia_model *m)
{
    int64_t n = 8;
    float *x = data(n);
    varia_ais_row rows[8];
    double worst, one = 0.0, many = 0.0, acc = 0.0;
    varia_ais_opts o = enc_opts(16, 1, 6);
    int ok = varia_ais(ctx, m, x, n, &o, rows) == VARIA_OK;
    errors(rows, x, n, &worst, &one);
    o.steps = 600;
    ok = ok && varia_ais(ctx, m, x, n, &o, rows) == VARIA_OK;
    errors(rows, x, n, &worst, &many);
    tap_okf(ok && one < -0.5 && fabs(many) < 0.1,
            "wrong encoder: T = 1 is %+.3f below log p(x) on average, T = 600 %+.3f (within 0.1)", one, many);
    o = enc_opts(64, 2, 6);
    ok = varia_ais(ctx, m, x, n, &o, rows) == VARIA_OK;
    for (int64_t i = 0; ok && i < n; i++)
        acc += rows[i].accept / (double)n;
    tap_okf(ok && acc > 0.99, "one HMC transition at step 0.01 from q: %.4f of proposals accepted", acc);
    free(x);
}

/* The same bits for threads 1 and 2 (forward, and BDMC's two runs). */
static void deterministic(const varia_model *m)
{
    varia_ctx *c1 = varia_ctx_new(), *c2 = varia_ctx_new();
    varia_ctx_set_threads(c1, 1);
    varia_ctx_set_threads(c2, 2);
    int64_t n = 9;
    float *x = data(n);
    varia_ais_row a[9], b[9], l1[5], u1[5], l2[5], u2[5];
    varia_ais_opts o = enc_opts(3, 25, 11);
    int ok = varia_ais(c1, m, x, n, &o, a) == VARIA_OK && varia_ais(c2, m, x, n, &o, b) == VARIA_OK;
    tap_check(ok && !memcmp(a, b, sizeof a), "AIS+encoder: threads 1 and 2 give the same bits");
    o.sigma2 = exp(LOGVAR);
    ok = varia_bdmc(c1, m, 5, &o, NULL, l1, u1) == VARIA_OK && varia_bdmc(c2, m, 5, &o, NULL, l2, u2) == VARIA_OK;
    tap_check(ok && !memcmp(l1, l2, sizeof l1) && !memcmp(u1, u2, sizeof u1),
              "AIS+encoder BDMC: threads 1 and 2 give the same bits");
    free(x);
    varia_ctx_free(c1);
    varia_ctx_free(c2);
}


/* Models whose encoder is not one Gaussian over all the latents, and a start
 * that is no varia_ais_start, are refused naming why. */
static void refusals(varia_ctx *ctx, const varia_model *lg)
{
    static const struct {
        const char *cas, *needle;
    } cases[] = {{"iwae2_tanh_bern", "several stochastic layers"},
                 {"flow_planar_global_k5", "a flow posterior"},
                 {"gan_mlp", "no encoder"},
                 {"draw_full", "each step's depends on the last"}};
    float x[1024] = {0};
    varia_ais_row rows[1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        varia_model *m = load_golden(ctx, root, cases[i].cas);
        varia_ais_opts o = enc_opts(2, 2, 1);
        o.sigma2 = 0.1;
        varia_status st = m ? varia_ais(ctx, m, x, 1, &o, rows) : VARIA_ERR_IO;
        tap_okf(st == VARIA_ERR_UNSUPPORTED && strstr(varia_ctx_message(ctx), cases[i].needle),
                "%s: AIS from the encoder is VARIA_ERR_UNSUPPORTED naming '%s'", cases[i].cas, cases[i].needle);
        varia_model_free(m);
    }
    varia_ais_opts o = enc_opts(2, 2, 1);
    o.start = 2;
    tap_check(varia_ais(ctx, lg, x, 1, &o, rows) == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "start"),
              "start = 2: VARIA_ERR_ARG naming start");
}

int main(void)
{
    const char *r = getenv("VARIA_SOURCE_ROOT");
    snprintf(root, sizeof root, "%s", r ? r : ".");
    snprintf(tmpdir, sizeof tmpdir, "%s/varia-aisq-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    varia_ctx *ctx = varia_ctx_new();
    if (!tap_check(ctx != NULL && mkdtemp(tmpdir), "a context and a temporary folder"))
        return tap_done();
    make_model();
    varia_model *m = write_model(ctx, "exact", 0.0f), *w = write_model(ctx, "wrong", 2.0f);
    if (tap_check(m && w, "the linear Gaussian model with its exact and a wrong encoder")) {
        exact_posterior(ctx, m);
        exact_bdmc(ctx, m);
        wrong_encoder(ctx, w);
        deterministic(w);
        refusals(ctx, m);
    }
    bdmc_learned_var(ctx);
    varia_model_free(m);
    varia_model_free(w);
    const char *files[] = {"exact.json", "exact.safetensors", "wrong.json", "wrong.safetensors"};
    for (size_t i = 0; i < 4; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        remove(path);
    }
    rmdir(tmpdir);
    varia_ctx_free(ctx);
    return tap_done();
}

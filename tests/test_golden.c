/* Golden vectors: every case under tests/golden/ was written by
 * tools/torch/make_golden.py from an independent PyTorch implementation in
 * float64. The runtime (float32) must match each quantity to 1e-5 relative
 * error: encoder outputs, decoder outputs, log-weights with the recorded noise,
 * log p(x|z), and the ELBO terms and IW estimate reduced from them. */
#include "estimator.h"
#include "family.h"
#include "passes.h"
#include "tap.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-5
/* Values near zero come out of sums of order-1 terms (weights x inputs), where
 * float32 rounding alone leaves ~1e-7 absolute error (measured up to 1e-7 on
 * an encoder mean of 0.01). They are compared on the scale 0.1, i.e. to 1e-6
 * absolute; everything of magnitude 0.1 or more to 1e-5 relative. */
#define FLOOR 1e-1

static const cJSON *at(const cJSON *j, int i) { return cJSON_GetArrayItem(j, i); }

/* Largest relative error of got[0..n) against the JSON array want. */
static double worst(const float *got, const cJSON *want, int n)
{
    double w = 0.0;
    for (int i = 0; i < n; i++) {
        double g = got[i], e = at(want, i)->valuedouble;
        double r = fabs(g - e) / fmax(fabs(e), FLOOR);
        if (!(r <= w))
            w = isnan(r) ? INFINITY : r;
    }
    return w;
}

static double worst_d(double got, double want)
{
    return fabs(got - want) / fmax(fabs(want), FLOOR);
}

static int check_err(const char *cas, const char *what, double err)
{
    char name[160];
    snprintf(name, sizeof name, "%s: %s (max rel err %.2e)", cas, what, err);
    return tap_check(err <= RTOL, name);
}

static void check_encoder(const char *cas, varia_ctx *ctx, varia_model *m, const cJSON *g)
{
    int n = cJSON_GetObjectItem(g, "n")->valueint, D = (int)m->info.data_size, L = m->info.n_stochastic;
    int top = (int)m->info.latent_size, tot = (int)varia_model_noise(m);
    float x[4096], mean[256], lv[256], means[256], ws_err = 0;
    double e_mean = 0, e_lv = 0, e_layers = 0;
    float *ws = aligned_alloc(64, varia_model_ws(m) * sizeof(float));
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < D; d++)
            x[d] = (float)at(at(cJSON_GetObjectItem(g, "x"), i), d)->valuedouble;
        ws_err += varia_encode(ctx, m, x, 1, mean, lv) != VARIA_OK;
        const cJSON *em = at(cJSON_GetObjectItem(g, "enc_mean"), i), *el = at(cJSON_GetObjectItem(g, "enc_logvar"), i);
        e_mean = fmax(e_mean, worst(mean, at(em, L - 1), top));
        e_lv = fmax(e_lv, worst(lv, at(el, L - 1), top));
        varia_run_layer_means(m, ws, x, 1, means);
        for (int l = 0, off = 0; l < L; off += (int)m->info.layer_sizes[l], l++)
            e_layers = fmax(e_layers, worst(means + off, at(em, l), (int)m->info.layer_sizes[l]));
    }
    (void)tot;
    free(ws);
    tap_check(ws_err == 0, "encode returns VARIA_OK");
    check_err(cas, "encoder mean (top layer)", e_mean);
    check_err(cas, "encoder log-variance (top layer)", e_lv);
    check_err(cas, "encoder means (every layer)", e_layers);
}

static void check_decoder(const char *cas, varia_ctx *ctx, varia_model *m, const cJSON *g)
{
    const cJSON *zs = cJSON_GetObjectItem(g, "decode_z");
    int nz = cJSON_GetArraySize(zs), D = (int)m->info.data_size, L = (int)m->info.latent_size;
    float z[256], out[4096], lv[4096];
    double e_out = 0, e_mean = 0, e_lv = 0;
    for (int i = 0; i < nz; i++) {
        for (int j = 0; j < L; j++)
            z[j] = (float)at(at(zs, i), j)->valuedouble;
        varia_decode(ctx, m, z, 1, VARIA_DECODE_PARAMS, out, lv);
        e_out = fmax(e_out, worst(out, at(cJSON_GetObjectItem(g, "decode_out"), i), D));
        if (m->info.likelihood == VARIA_LIK_GAUSSIAN)
            e_lv = fmax(e_lv, worst(lv, at(cJSON_GetObjectItem(g, "decode_logvar"), i), D));
        varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, out, NULL);
        e_mean = fmax(e_mean, worst(out, at(cJSON_GetObjectItem(g, "decode_mean"), i), D));
    }
    check_err(cas, "decoder parameters", e_out);
    check_err(cas, "decoder mean", e_mean);
    if (m->info.likelihood == VARIA_LIK_GAUSSIAN)
        check_err(cas, "decoder log-variance", e_lv);
}

/* eps in the JSON is [layer][k][latent_l]; the family wants [k][sum latent]. */
static void gather_eps(const varia_model *m, const cJSON *eps_i, int k, float *eps)
{
    int tot = (int)varia_model_noise(m);
    for (int l = 0, off = 0; l < m->info.n_stochastic; off += (int)m->info.layer_sizes[l], l++)
        for (int s = 0; s < k; s++)
            for (int j = 0; j < m->info.layer_sizes[l]; j++)
                eps[s * tot + off + j] = (float)at(at(at(eps_i, l), s), j)->valuedouble;
}

/* Example i's k log-weights reduced as the estimators do (varia_iw_*),
 * against the golden IW estimate, recon, KL and ELBO: the worst relative
 * errors so far in *e_iw and *e_terms. */
static void reduce_errors(const cJSON *g, int i, const double *log_w, const double *log_px, int k, double kl,
                          double *e_iw, double *e_terms)
{
    varia_iw_acc acc;
    varia_eval_row row;
    varia_iw_init(&acc);
    varia_iw_add(&acc, log_w, log_px, k);
    varia_iw_finish(&acc, kl, &row);
    *e_iw = fmax(*e_iw, worst_d(row.log_px, at(cJSON_GetObjectItem(g, "iw"), i)->valuedouble));
    *e_terms = fmax(*e_terms, worst_d(row.recon, at(cJSON_GetObjectItem(g, "recon"), i)->valuedouble));
    *e_terms = fmax(*e_terms, worst_d(row.kl, at(cJSON_GetObjectItem(g, "kl"), i)->valuedouble));
    *e_terms = fmax(*e_terms, worst_d(row.elbo, at(cJSON_GetObjectItem(g, "elbo"), i)->valuedouble));
}

static void check_weights(const char *cas, varia_model *m, const cJSON *g)
{
    int n = cJSON_GetObjectItem(g, "n")->valueint, k = cJSON_GetObjectItem(g, "k")->valueint;
    int D = (int)m->info.data_size, tot = (int)varia_model_noise(m);
    float x[4096], *eps = malloc((size_t)(k * tot) * sizeof(float));
    float *ws = aligned_alloc(64, varia_model_ws(m) * sizeof(float));
    double log_w[64], log_px[64], kl, log_det, e_w = 0, e_px = 0, e_iw = 0, e_terms = 0, e_ld = 0;
    const cJSON *g_ld = cJSON_GetObjectItem(g, "log_det"); /* flow cases: sum_k log|det| per sample */
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < D; d++)
            x[d] = (float)at(at(cJSON_GetObjectItem(g, "x"), i), d)->valuedouble;
        gather_eps(m, at(cJSON_GetObjectItem(g, "eps"), i), k, eps);
        varia_run_log_weights(m, ws, x, k, eps, log_w, log_px, &kl, &log_det);
        for (int s = 0; s < k; s++) {
            e_w = fmax(e_w, worst_d(log_w[s], at(at(cJSON_GetObjectItem(g, "log_w"), i), s)->valuedouble));
            e_px = fmax(e_px, worst_d(log_px[s], at(at(cJSON_GetObjectItem(g, "log_px_z"), i), s)->valuedouble));
        }
        reduce_errors(g, i, log_w, log_px, k, kl, &e_iw, &e_terms);
        double want_ld = 0.0;
        for (int s = 0; g_ld && s < k; s++)
            want_ld += at(at(g_ld, i), s)->valuedouble;
        e_ld = fmax(e_ld, worst_d(log_det / k, want_ld / k));
    }
    free(eps);
    free(ws);
    check_err(cas, "log-weights", e_w);
    check_err(cas, "log p(x|z)", e_px);
    check_err(cas, "IW estimate", e_iw);
    check_err(cas, "ELBO, recon and KL", e_terms);
    if (g_ld)
        check_err(cas, "mean log|det| of the flow", e_ld);
}

/* A gan case (tools/torch/make_golden_gan.py): E[x|z] of the generator, in
 * the data's range, for the recorded latents. */
static void check_gan(const char *cas, varia_ctx *ctx, varia_model *m, const cJSON *g)
{
    const cJSON *zs = cJSON_GetObjectItem(g, "decode_z"), *want = cJSON_GetObjectItem(g, "decode_out");
    int n = cJSON_GetArraySize(zs), D = (int)m->info.data_size, L = (int)m->info.latent_size, bad = 0;
    float z[64], x[4096];
    double e = 0;
    for (int i = 0; i < n && L <= 64 && D <= 4096; i++) {
        for (int j = 0; j < L; j++)
            z[j] = (float)at(at(zs, i), j)->valuedouble;
        bad += varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, x, NULL) != VARIA_OK;
        e = fmax(e, worst(x, at(want, i), D));
    }
    tap_check(n > 0 && bad == 0 && L <= 64 && D <= 4096, "gan: decode returns VARIA_OK");
    check_err(cas, "generator output E[x|z]", e);
}

/* A draw case (tools/torch/make_golden_draw.py): the T posterior means and
 * log-variances along the mean path, the decoder's final canvas from given
 * latents, and every particle's log-weight terms from its recorded noise,
 * reduced to the ELBO's terms (the KL analytic per step along each
 * particle's trajectory) and the IW estimate. */
static void check_draw(const char *cas, varia_ctx *ctx, varia_model *m, const cJSON *g)
{
    int n = cJSON_GetObjectItem(g, "n")->valueint, k = cJSON_GetObjectItem(g, "k")->valueint;
    int D = (int)m->info.data_size, TL = (int)m->info.latent_size, bad = 0;
    float x[4096], mean[256], lv[256], out[4096], eps[64 * 256];
    double e_mean = 0, e_lv = 0, e_out = 0, e_w = 0, e_px = 0, e_terms = 0, e_iw = 0;
    double log_w[64], log_px[64], kl, log_det;
    float *ws = aligned_alloc(64, varia_model_ws(m) * sizeof(float));
    for (int i = 0; i < n && k <= 64 && TL <= 256 && D <= 4096; i++) {
        for (int d = 0; d < D; d++)
            x[d] = (float)at(at(cJSON_GetObjectItem(g, "x"), i), d)->valuedouble;
        bad += varia_encode(ctx, m, x, 1, mean, lv) != VARIA_OK;
        e_mean = fmax(e_mean, worst(mean, at(cJSON_GetObjectItem(g, "enc_mean"), i), TL));
        e_lv = fmax(e_lv, worst(lv, at(cJSON_GetObjectItem(g, "enc_logvar"), i), TL));
        for (int s = 0; s < k; s++)
            for (int j = 0; j < TL; j++)
                eps[s * TL + j] = (float)at(at(at(cJSON_GetObjectItem(g, "eps"), i), s), j)->valuedouble;
        varia_run_log_weights(m, ws, x, k, eps, log_w, log_px, &kl, &log_det);
        for (int s = 0; s < k; s++) {
            e_w = fmax(e_w, worst_d(log_w[s], at(at(cJSON_GetObjectItem(g, "log_w"), i), s)->valuedouble));
            e_px = fmax(e_px, worst_d(log_px[s], at(at(cJSON_GetObjectItem(g, "log_px_z"), i), s)->valuedouble));
        }
        reduce_errors(g, i, log_w, log_px, k, kl, &e_iw, &e_terms);
    }
    const cJSON *zs = cJSON_GetObjectItem(g, "decode_z");
    int T = (int)m->info.latent_shape.dims[0];
    double e_steps = 0;
    float *steps = malloc((size_t)T * D * sizeof(float));
    for (int i = 0; steps && i < cJSON_GetArraySize(zs) && TL <= 256 && D <= 4096; i++) {
        for (int j = 0; j < TL; j++)
            mean[j] = (float)at(at(zs, i), j)->valuedouble;
        bad += varia_decode(ctx, m, mean, 1, VARIA_DECODE_MEAN, out, NULL) != VARIA_OK;
        e_out = fmax(e_out, worst(out, at(cJSON_GetObjectItem(g, "decode_out"), i), D));
        bad += varia_decode_steps(ctx, m, mean, 1, steps) != VARIA_OK;
        for (int t = 0; t < T; t++)
            e_steps = fmax(e_steps, worst(steps + t * D, at(at(cJSON_GetObjectItem(g, "decode_steps"), i), t), D));
        bad += memcmp(steps + (T - 1) * D, out, (size_t)D * sizeof(float)) != 0;
    }
    free(steps);
    free(ws);
    tap_check(bad == 0 && n > 0 && k <= 64, "draw: encode and decode return VARIA_OK");
    check_err(cas, "posterior means, every step (mean path)", e_mean);
    check_err(cas, "posterior log-variances, every step", e_lv);
    check_err(cas, "final canvas E[x|z] from given latents", e_out);
    check_err(cas, "the canvas after every step (decode_steps; its last is decode's, bit for bit)", e_steps);
    check_err(cas, "log-weights", e_w);
    check_err(cas, "log p(x|z)", e_px);
    check_err(cas, "IW estimate", e_iw);
    check_err(cas, "ELBO, recon and KL (analytic per step, along each trajectory)", e_terms);
}

/* n numbers of the JSON array j (of arrays, flattened in order) into f. */
static int flat(const cJSON *j, float *f, int n)
{
    int i = 0;
    for (const cJSON *e = j ? j->child : NULL; e && i < n; e = e->next) {
        if (cJSON_IsArray(e))
            i += flat(e, f + i, n - i);
        else
            f[i++] = (float)e->valuedouble;
    }
    return i;
}

/* The larger error, NaN counting as infinitely large (fmax would drop it). */
static double worse(double e, double v)
{
    return isnan(v) || isnan(e) ? INFINITY : fmax(e, v);
}

static const cJSON *key(const cJSON *g, const char *k) { return cJSON_GetObjectItem(g, k); }

/* The terms of every example (its own length, k particles), then the same
 * with the length cut to 1..T: the KL summed so far, step by step. */
static void check_vrnn_terms(const char *cas, const varia_model *m, const cJSON *g, float *ws)
{
    int n = key(g, "n")->valueint, k = key(g, "k")->valueint, T = key(g, "T")->valueint;
    int D = T * (int)m->info.data_size, E = T * (int)varia_model_noise(m);
    double log_w[16], log_px[16], kl, e_w = 0, e_px = 0, e_terms = 0, e_iw = 0, e_steps = 0;
    float x[512], eps[16 * 512];
    for (int i = 0; i < n && k <= 16 && D <= 512 && E <= 512; i++) {
        int64_t len = (int64_t)at(key(g, "lengths"), i)->valueint;
        flat(at(key(g, "x"), i), x, D);
        flat(at(key(g, "eps"), i), eps, k * E);
        varia_seq seq = {T, &len};
        varia_run_seq_log_weights(m, ws, &seq, x, k, eps, log_w, log_px, &kl);
        for (int s = 0; s < k; s++) {
            e_w = worse(e_w, worst_d(log_w[s], at(at(key(g, "log_w"), i), s)->valuedouble));
            e_px = worse(e_px, worst_d(log_px[s], at(at(key(g, "log_px_z"), i), s)->valuedouble));
        }
        varia_iw_acc acc;
        varia_eval_row row;
        varia_iw_init(&acc);
        varia_iw_add(&acc, log_w, log_px, k);
        varia_iw_finish(&acc, kl, &row);
        e_iw = worse(e_iw, worst_d(row.log_px, at(key(g, "iw"), i)->valuedouble));
        e_terms = worse(e_terms, worst_d(row.recon, at(key(g, "recon"), i)->valuedouble));
        e_terms = worse(e_terms, worst_d(row.kl, at(key(g, "kl"), i)->valuedouble));
        e_terms = worse(e_terms, worst_d(row.elbo, at(key(g, "elbo"), i)->valuedouble));
        double want = 0.0;
        for (int t = 1; t <= T; t++) { /* steps past the length add nothing */
            int64_t cut = t < len ? t : len;
            for (int s = 0; s < k; s++)
                want += at(at(at(key(g, "kl_steps"), i), s), t - 1)->valuedouble / k;
            varia_seq part = {T, &cut};
            varia_run_seq_log_weights(m, ws, &part, x, k, eps, log_w, log_px, &kl);
            e_steps = worse(e_steps, worst_d(kl, want));
        }
    }
    check_err(cas, "log-weights over whole sequences, unequal lengths", e_w);
    check_err(cas, "log p(x|z)", e_px);
    check_err(cas, "IW estimate", e_iw);
    check_err(cas, "ELBO, recon and KL (analytic Gaussian-Gaussian per step per particle)", e_terms);
    check_err(cas, "KL summed step by step (lengths 1..T; zero past each length)", e_steps);
}

/* encode (mean path), decode from given latents (means and logits) and
 * generation from given noise; the draws must agree exactly. */
static void check_vrnn_passes(const char *cas, const varia_model *m, const cJSON *g, float *ws)
{
    int n = key(g, "n")->valueint, nd = key(g, "m")->valueint, T = key(g, "T")->valueint;
    int D = T * (int)m->info.data_size, TL = T * (int)m->info.latent_size, E = T * (int)varia_model_noise(m);
    float x[4 * 512], a[4 * 512], b[4 * 512], want[4 * 512];
    double e_mean = 0, e_lv = 0, e_out = 0, e_gz = 0;
    int64_t lengths[4], draws_differ = 0;
    varia_seq seq = {T, NULL};
    if (n > 4 || nd > 4 || D > 512 || E > 512)
        return (void)tap_check(0, "vrnn golden case within the test's buffers");
    if (m->info.has_encoder) {
        for (int i = 0; i < n; i++)
            lengths[i] = at(key(g, "lengths"), i)->valueint;
        seq.lengths = lengths;
        flat(key(g, "x"), x, n * D);
        varia_run_seq_encode(m, ws, NULL, &seq, x, n, a, b);
        flat(key(g, "enc_mean"), want, n * TL);
        for (int i = 0; i < n * TL; i++)
            e_mean = worse(e_mean, worst_d(a[i], want[i]));
        flat(key(g, "enc_logvar"), want, n * TL);
        for (int i = 0; i < n * TL; i++)
            e_lv = worse(e_lv, worst_d(b[i], want[i]));
        check_err(cas, "posterior means along the mean path, every step", e_mean);
        check_err(cas, "posterior log-variances, every step", e_lv);
    }
    seq.lengths = NULL;
    flat(key(g, "decode_z"), x, nd * TL);
    int gauss = m->info.likelihood == VARIA_LIK_GAUSSIAN;
    for (int kind = 0; kind < 2; kind++) { /* PARAMS: the logits, or the means and log-variances */
        varia_run_seq_decode(m, ws, NULL, &seq, x, nd, kind ? VARIA_DECODE_PARAMS : VARIA_DECODE_MEAN, a, b);
        flat(key(g, kind && !gauss ? "decode_logits" : "decode_out"), want, nd * D);
        for (int i = 0; i < nd * D; i++)
            e_out = worse(e_out, worst_d(a[i], want[i]));
        flat(key(g, "decode_logvar"), want, kind && gauss ? nd * D : 0);
        for (int i = 0; kind && gauss && i < nd * D; i++)
            e_out = worse(e_out, worst_d(b[i], want[i]));
    }
    check_err(cas, gauss ? "decode from given latents: means and log-variances, the mean fed back"
                         : "decode from given latents: E[x_t] and logits, x_t's mean fed back", e_out);
    flat(key(g, "gen_eps"), x, nd * E);
    varia_run_seq_generate(m, ws, NULL, &seq, nd, x, (float)key(g, "gen_temp")->valuedouble, a, b);
    flat(key(g, "gen_x"), want, nd * D);
    for (int i = 0; i < nd * D; i++) /* Bernoulli draws exactly; Gaussian ones to the tolerance */
        draws_differ += gauss ? !(worst_d(a[i], want[i]) <= RTOL) : a[i] != want[i];
    flat(key(g, "gen_z"), want, nd * TL);
    for (int i = 0; i < nd * TL; i++)
        e_gz = worse(e_gz, worst_d(b[i], want[i]));
    tap_check(draws_differ == 0, gauss ? "vrnn: generated frames (mean + sigma * noise) match the reference's"
                                       : "vrnn: generated frames equal the reference's draws");
    check_err(cas, "generated latents from the prior, temperature 0.8", e_gz);
}

static void check_vrnn(const char *cas, varia_model *m, const cJSON *g)
{
    float *ws = aligned_alloc(64, varia_model_ws(m) * sizeof(float));
    check_vrnn_terms(cas, m, g, ws);
    check_vrnn_passes(cas, m, g, ws);
    free(ws);
}

/* reconstruct decodes the posterior's latent: q's mean, or for a flow q_0's
 * mean pushed through the flow (the posterior pass with zero noise), which
 * is not decode(encode) for a flow. */
static void check_reconstruct(const char *cas, varia_ctx *ctx, varia_model *m, const cJSON *g)
{
    int D = (int)m->info.data_size, L = (int)m->info.latent_size, E = (int)varia_model_noise(m);
    float x[4096], rec[4096], want[4096], z[256], eps[512] = {0}, mean[256];
    for (int d = 0; d < D && D <= 4096; d++)
        x[d] = (float)at(at(cJSON_GetObjectItem(g, "x"), 0), d)->valuedouble;
    float *ws = aligned_alloc(64, varia_model_ws(m) * sizeof(float));
    int good = ws && D <= 4096 && L <= 256 && E <= 512 && varia_reconstruct(ctx, m, x, 1, rec) == VARIA_OK;
    if (good && m->info.flow_steps > 0)
        varia_run_posterior_sample(m, ws, NULL, x, 1, eps, z, NULL);
    else if (good)
        good = varia_encode(ctx, m, x, 1, z, NULL) == VARIA_OK;
    good = good && varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, want, NULL) == VARIA_OK;
    int differs = 0;
    if (good && m->info.flow_steps > 0 && varia_encode(ctx, m, x, 1, mean, NULL) == VARIA_OK)
        differs = memcmp(mean, z, (size_t)L * sizeof *z) != 0;
    varia_opts zero = {.size = sizeof zero, .flags = VARIA_OPT_TEMPERATURE, .temperature = 0.0f};
    float z0[256];
    good = good && varia_encode_sample_ex(ctx, m, x, 1, &zero, z0) == VARIA_OK && !memcmp(z0, z, (size_t)L * sizeof *z);
    char name[200];
    snprintf(name, sizeof name, "%s: reconstruct decodes %s (encode_sample at temperature 0), bit for bit", cas,
             m->info.flow_steps > 0 ? "q_0's mean through the flow (not q_0's mean)" : "the posterior mean");
    tap_check(good && !memcmp(rec, want, (size_t)D * sizeof *rec) && (m->info.flow_steps == 0 || differs), name);
    free(ws);
}

static void run_case(const char *dir, const char *cas)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/golden.json", dir, cas);
    char *text = tap_read_file(path, NULL);
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    free(text);
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    snprintf(path, sizeof path, "%s/%s/model.json", dir, cas);
    varia_status st = varia_model_load(ctx, path, &m);
    char name[160];
    snprintf(name, sizeof name, "%s: loads (%s)", cas, st ? varia_ctx_message(ctx) : "ok");
    if (tap_check(g && st == VARIA_OK, name) && !strcmp(m->info.family, "gan")) {
        check_gan(cas, ctx, m, g);
    } else if (st == VARIA_OK && g && !strcmp(m->info.family, "vrnn")) {
        check_vrnn(cas, m, g);
    } else if (st == VARIA_OK && g && !strcmp(m->info.family, "draw")) {
        check_draw(cas, ctx, m, g);
    } else if (st == VARIA_OK && g) {
        check_encoder(cas, ctx, m, g);
        check_decoder(cas, ctx, m, g);
        check_weights(cas, m, g);
        check_reconstruct(cas, ctx, m, g);
    }
    varia_model_free(m);
    varia_ctx_free(ctx);
    cJSON_Delete(g);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/golden";
    DIR *d = opendir(dir);
    char *cases[64];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < 64;)
        if (e->d_name[0] != '.')
            cases[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(cases, (size_t)n, sizeof *cases, cmp);
    tap_check(n >= 8, "golden cases present");
    for (int i = 0; i < n; i++) {
        run_case(dir, cases[i]);
        free(cases[i]);
    }
    return tap_done();
}

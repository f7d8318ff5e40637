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
        varia_iw_acc acc;
        varia_eval_row row;
        varia_iw_init(&acc);
        varia_iw_add(&acc, log_w, log_px, k);
        varia_iw_finish(&acc, kl, &row);
        e_iw = fmax(e_iw, worst_d(row.log_px, at(cJSON_GetObjectItem(g, "iw"), i)->valuedouble));
        e_terms = fmax(e_terms, worst_d(row.recon, at(cJSON_GetObjectItem(g, "recon"), i)->valuedouble));
        e_terms = fmax(e_terms, worst_d(row.kl, at(cJSON_GetObjectItem(g, "kl"), i)->valuedouble));
        e_terms = fmax(e_terms, worst_d(row.elbo, at(cJSON_GetObjectItem(g, "elbo"), i)->valuedouble));
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
    } else if (st == VARIA_OK && g) {
        check_encoder(cas, ctx, m, g);
        check_decoder(cas, ctx, m, g);
        check_weights(cas, m, g);
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

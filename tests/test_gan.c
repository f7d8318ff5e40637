/* The gan family (docs/format.md 7) through the public API: what a
 * decoder-only model does (sample, decode, interpolate) and refuses (encode,
 * reconstruct, eval: VARIA_ERR_UNSUPPORTED naming AIS), and every bad
 * manifest of the family with its named status. Weights are the golden cases
 * gan_mlp and gan_dcgan (tools/torch/make_golden_gan.py). */
#include "manifest_case.h"
#include "tap.h"

#include <varia.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];
static const char *root;

/* Load golden case `name` (NULL on failure, reported). */
static varia_model *golden(varia_ctx *ctx, const char *name)
{
    char path[512];
    varia_model *m = NULL;
    snprintf(path, sizeof path, "%s/tests/golden/%s/model.json", root, name);
    varia_status st = varia_model_load(ctx, path, &m);
    tap_okf(st == VARIA_OK, "%s loads (%s)", name, varia_ctx_message(ctx));
    return m;
}

/* Sampling is decode of temperature * noise, deterministic by seed; refusals name AIS. */
static void operations(void)
{
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = golden(ctx, "gan_dcgan");
    if (!m) {
        varia_ctx_free(ctx);
        return;
    }
    enum { N = 5, L = 6, D = 256 };
    static float x[N * D], x2[N * D], xd[N * D], z[N * L], z2[N * L], mean[N * L];
    varia_status st = varia_sample(ctx, m, N, 7, 0.8f, x, z);
    varia_status st2 = varia_sample(ctx, m, N, 7, 0.8f, x2, z2);
    tap_okf(st == VARIA_OK && st2 == VARIA_OK && !memcmp(x, x2, sizeof x) && !memcmp(z, z2, sizeof z),
            "sample: the same seed gives the same bits");
    st = varia_decode(ctx, m, z, N, VARIA_DECODE_MEAN, xd, NULL);
    tap_okf(st == VARIA_OK && !memcmp(x, xd, sizeof x), "sample's x is decode of its z, bit for bit");
    float lo = 1, hi = 0;
    for (int i = 0; i < N * D; i++)
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    tap_okf(lo >= 0.0f && hi <= 1.0f && hi > lo, "tanh output mapped from [-1, 1] onto [0, 1]: [%.3f, %.3f]", lo, hi);
    double norm = 0;
    for (int i = 0; i < N * L; i++)
        norm += (double)z[i] * z[i];
    tap_okf(norm / (N * L) > 0.64 * 0.2 && norm / (N * L) < 0.64 * 3, "z = 0.8 * N(0, I): mean square %.3f",
            norm / (N * L));
    static float path[4 * L];
    st = varia_interpolate_latents(z, z + L, L, 4, VARIA_SLERP, path);
    tap_okf(st == VARIA_OK && varia_decode(ctx, m, path, 4, VARIA_DECODE_MEAN, xd, NULL) == VARIA_OK,
            "slerp between two samples' latents decodes");
    st = varia_decode_steps(ctx, m, z, 1, xd);
    tap_okf(st == VARIA_ERR_UNSUPPORTED, "decode_steps -> %s (%s)", varia_status_name(st), varia_ctx_message(ctx));
    st = varia_encode(ctx, m, x, 1, mean, NULL);
    tap_okf(st == VARIA_ERR_UNSUPPORTED, "encode -> %s (%s)", varia_status_name(st), varia_ctx_message(ctx));
    st = varia_reconstruct(ctx, m, x, 1, xd);
    tap_okf(st == VARIA_ERR_UNSUPPORTED, "reconstruct -> %s (%s)", varia_status_name(st), varia_ctx_message(ctx));
    varia_eval_opts eo = {.k = 10, .seed = 1};
    varia_eval_summary sum;
    st = varia_eval(ctx, m, x, 1, &eo, NULL, &sum);
    tap_okf(st == VARIA_ERR_UNSUPPORTED && strstr(varia_ctx_message(ctx), "AIS"), "eval -> %s naming AIS (%s)",
            varia_status_name(st), varia_ctx_message(ctx));
    varia_info in;
    varia_model_info(m, &in);
    tap_okf(!strcmp(in.family, "gan") && in.latent_size == L && !in.has_encoder && in.likelihood == VARIA_LIK_NONE,
            "info: family gan, latent 6, no encoder, no likelihood");
    varia_model_free(m);
    varia_ctx_free(ctx);
}

/* Load architecture `arch` over gan_mlp's weights (data [20]); check status and message. */
static void arch_case(const char *what, const char *shape, const char *arch, varia_status want, const char *needle)
{
    manifest_case(dir, root, "gan", "gan_mlp", what, shape, arch, want, needle);
}

#define GEN "\"generator\": [{\"type\": \"dense\", \"out\": 16, \"activation\": \"leaky_relu\"}," \
            "{\"type\": \"dense\", \"out\": 12, \"activation\": \"relu\"}," \
            "{\"type\": \"dense\", \"out\": 20, \"activation\": \"sigmoid\"}]"

/* A uniform prior: z = erf(eps / sqrt 2) lies in (-1, 1) with U(-1, 1)'s
 * moments (mean 0, mean square 1/3). */
static void uniform_prior(void)
{
    char path[512], text[4096];
    snprintf(path, sizeof path, "%s/uniform.json", dir);
    snprintf(text, sizeof text, "{\"format\": \"varia\", \"version\": \"1.0\", \"family\": \"gan\", \"data\": "
             "{\"shape\": [20]}, \"architecture\": {\"latent\": 5, \"leaky_relu_slope\": 0.2, \"prior\": \"uniform\", "
             GEN "}, \"weights\": {\"format\": \"safetensors\", \"file\": "
             "\"%s/tests/golden/gan_mlp/model.safetensors\"}}", root);
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    enum { N = 4000 };
    static float x[N * 20], z[N * 5];
    int good = tap_write_file(path, text, strlen(text)) &&
               varia_model_load_ex(ctx, path, VARIA_LOAD_ALLOW_OUTSIDE, &m) == VARIA_OK &&
               varia_sample(ctx, m, N, 3, 1.0f, x, z) == VARIA_OK;
    double s = 0, ss = 0, lo = 1, hi = -1;
    for (int i = 0; i < N * 5; i++)
        s += z[i], ss += (double)z[i] * z[i], lo = fmin(lo, z[i]), hi = fmax(hi, z[i]);
    tap_okf(good && lo > -1 && hi < 1 && fabs(s / (N * 5)) < 0.02 && fabs(ss / (N * 5) - 1.0 / 3) < 0.02,
            "uniform prior: %d latents in (%.4f, %.4f), mean %.4f, mean square %.4f (1/3)", N * 5, lo, hi,
            s / (N * 5), ss / (N * 5));
    varia_model_free(m);
    varia_ctx_free(ctx);
}

/* Parzen: against the estimate computed here from the same samples by plain
 * double loops over |x - g|^2 (varia_parzen expands it into a product), and
 * refusals of bad options. */
static void parzen(void)
{
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = golden(ctx, "gan_dcgan");
    enum { S = 300, N = 7, D = 256 };
    static float g[S * D], x[N * D];
    double got[N], worst = 0.0;
    varia_parzen_opts po = {S, 0.2, 11};
    int good = m && varia_sample(ctx, m, S, 11, 1.0f, g, NULL) == VARIA_OK &&
               varia_sample(ctx, m, N, 99, 1.3f, x, NULL) == VARIA_OK && varia_parzen(ctx, m, x, N, &po, got) == VARIA_OK;
    for (int i = 0; good && i < N; i++) {
        double mx = -INFINITY, sum = 0.0;
        for (int s = 0; s < S; s++) {
            double d2 = 0.0;
            for (int d = 0; d < D; d++)
                d2 += ((double)x[i * D + d] - g[s * D + d]) * ((double)x[i * D + d] - g[s * D + d]);
            double l = -d2 / (2 * 0.2 * 0.2);
            if (l > mx)
                sum = sum * exp(mx - l) + 1.0, mx = l;
            else
                sum += exp(l - mx);
        }
        double want = mx + log(sum) - log((double)S) - 0.5 * D * log(2 * M_PI * 0.04);
        worst = fmax(worst, fabs(got[i] - want));
    }
    tap_okf(good && worst < 1e-3, "parzen: %d examples against direct double loops over the same %d samples, "
            "largest difference %.2e nats", N, S, worst);
    varia_parzen_opts bad[] = {{0, 0.2, 1}, {S, 0.0, 1}, {S, NAN, 1}, {2000000, 0.2, 1}};
    const char *needle[] = {"samples", "sigma", "sigma", "samples"};
    for (int i = 0; m && i < 4; i++) {
        varia_status st = varia_parzen(ctx, m, x, N, &bad[i], got);
        tap_okf(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), needle[i]), "parzen refuses bad option %d: %s",
                i, varia_ctx_message(ctx));
    }
    varia_model_free(m);
    varia_ctx_free(ctx);
}

/* AIS on a GAN: a linear generator's marginal is Gaussian, log N(x; b,
 * W W^T + s2 I), with s2 the manifest's observation variance (the API's
 * default when the caller gives none). */
static void ais_known_answer(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/golden/gan_linear/golden.json", root);
    char *text = tap_read_file(path, NULL);
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    free(text);
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = golden(ctx, "gan_linear");
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(g, "x"));
    float x[8 * 3];
    for (int i = 0; i < n && i < 8; i++)
        for (int d = 0; d < 3; d++)
            x[i * 3 + d] = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(g, "x"), i), d)->valuedouble;
    /* VARIA_TEST_LIGHT (the valgrind pass, for memory errors): T = 300, a tolerance to match */
    int light = getenv("VARIA_TEST_LIGHT") != NULL;
    varia_ais_opts o = {.size = sizeof o, .chains = 16, .steps = light ? 300 : 5000, .seed = 5};
    varia_ais_row rows[8];
    varia_status st = m && n == 4 ? varia_ais(ctx, m, x, n, &o, rows) : VARIA_ERR_IO;
    double mean_err = 0, worst = 0;
    for (int i = 0; st == VARIA_OK && i < n; i++) {
        double e = rows[i].log_px - cJSON_GetArrayItem(cJSON_GetObjectItem(g, "log_px"), i)->valuedouble;
        mean_err += e / n;
        worst = fmax(worst, fabs(e));
    }
    tap_okf(st == VARIA_OK && fabs(mean_err) < (light ? 0.5 : 0.1) && worst < (light ? 1.5 : 0.5),
            "AIS on a linear generator with the manifest's sigma2 (16 chains, %lld steps): mean error %.3f, worst %.3f "
            "nats against the exact marginal (%s)", (long long)o.steps, mean_err, worst, varia_ctx_message(ctx));
    varia_ais_opts uo = {.size = sizeof uo, .chains = 4, .steps = 10, .sigma2 = -1.0};
    st = m ? varia_ais(ctx, m, x, 1, &uo, rows) : VARIA_ERR_IO;
    tap_okf(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "sigma2"), "AIS refuses sigma2 -1 (%s)",
            varia_ctx_message(ctx));
    varia_model_free(m);
    varia_ctx_free(ctx);
    cJSON_Delete(g);
}

/* varia_invert_rows against varia_invert's z1 and mse for the same call: the
 * same bytes on 1 and on 2 threads, and each row's log p(x|z*) the Gaussian
 * N(x; E[x|z*], 0.01 I) at the row's mean squared error over D = 256 values. */
static void inversion_rows(varia_ctx *ctx, const varia_model *m, const float *x, const varia_invert_opts *o,
                           const float *z1, const double *mse)
{
    enum { N = 3, L = 6 };
    float z[2][N * L];
    varia_invert_row rows[2][N];
    int good = m != NULL;
    for (int t = 0; good && t < 2; t++)
        good = varia_ctx_set_threads(ctx, t + 1) == VARIA_OK &&
               varia_invert_rows(ctx, m, x, N, o, z[t], rows[t]) == VARIA_OK;
    varia_ctx_set_threads(ctx, 0);
    tap_okf(good && !memcmp(z[0], z1, sizeof z[0]) && !memcmp(z[1], z1, sizeof z[1]) &&
            !memcmp(rows[0], rows[1], sizeof rows[0]), "invert_rows: varia_invert's latents, on 1 and 2 threads alike");
    double worst = 0.0;
    for (int i = 0; good && i < N; i++) {
        double want = -128.0 * log(2.0 * 3.14159265358979324 * 0.01) - 256.0 * rows[0][i].mse / 0.02;
        worst = fmax(worst, fabs(rows[0][i].log_px_z - want) / fabs(want));
        good = rows[0][i].mse == mse[i] && rows[0][i].log_pz < 0.0;
    }
    tap_okf(good && worst < 1e-4, "invert_rows: varia_invert's mse; log p(x|z*) the Gaussian's at it (relative "
            "error %.1e)", worst);
}

/* Inversion: images the generator made from known latents come back with a
 * small reconstruction error; the same seed gives the same bits; refusals. */
static void inversion(void)
{
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = golden(ctx, "gan_dcgan"), *lin = golden(ctx, "gan_linear");
    enum { N = 3, L = 6, D = 256 };
    static float z0[N * L], x[N * D], z1[N * L], z2[N * L];
    double mse[N];
    for (int i = 0; i < N * L; i++)
        z0[i] = (float)(0.3 * ((i * 5) % 7) - 0.9);
    varia_invert_opts o = {.size = sizeof o, .starts = 4, .steps = 400, .sigma2 = 0.01, .seed = 2};
    int good = m && varia_decode(ctx, m, z0, N, VARIA_DECODE_MEAN, x, NULL) == VARIA_OK &&
               varia_invert(ctx, m, x, N, &o, z1, mse) == VARIA_OK && varia_invert(ctx, m, x, N, &o, z2, NULL) == VARIA_OK;
    double worst = 0;
    for (int i = 0; good && i < N; i++)
        worst = fmax(worst, mse[i]);
    tap_okf(good && worst < 1e-3, "inversion of 3 generated images: largest mean squared error %.2e (%s)", worst,
            varia_ctx_message(ctx));
    tap_okf(good && !memcmp(z1, z2, sizeof z1), "inversion: the same seed gives the same bits");
    inversion_rows(ctx, m, x, &o, z1, mse);
    varia_invert_opts bad = o;
    bad.starts = 0;
    varia_status st = m ? varia_invert(ctx, m, x, 1, &bad, z1, NULL) : VARIA_ERR_IO;
    tap_okf(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "starts"), "starts 0 -> %s", varia_ctx_message(ctx));
    bad = o;
    bad.sigma2 = 0.0; /* gan_dcgan's manifest gives no observation variance */
    st = m ? varia_invert(ctx, m, x, 1, &bad, z1, NULL) : VARIA_ERR_IO;
    tap_okf(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "sigma2"), "no sigma2 anywhere -> %s",
            varia_ctx_message(ctx));
    float xl[3] = {0.2f, -0.1f, 0.4f}, zl[2], lv[2];
    tap_okf(lin && varia_encode(ctx, lin, xl, 1, zl, NULL) == VARIA_OK && isfinite(zl[0]),
            "encode of a GAN whose manifest gives sigma2 inverts it (%s)", varia_ctx_message(ctx));
    st = lin ? varia_encode(ctx, lin, xl, 1, zl, lv) : VARIA_ERR_IO;
    tap_okf(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "log-variance"),
            "... asking it for a log-variance -> %s", varia_ctx_message(ctx));
    varia_model_free(m);
    varia_model_free(lin);
    varia_ctx_free(ctx);
}

static void manifests(void)
{
    arch_case("the golden architecture", "[20]", "{\"latent\": 5, \"leaky_relu_slope\": 0.2, " GEN "}", VARIA_OK, NULL);
    arch_case("no generator", "[20]", "{\"latent\": 5}", VARIA_ERR_MANIFEST, "generator");
    arch_case("no latent", "[20]", "{" GEN "}", VARIA_ERR_MANIFEST, "latent");
    arch_case("latent 0", "[20]", "{\"latent\": 0, " GEN "}", VARIA_ERR_TOO_LARGE, "latent");
    arch_case("latent 4 against a 5-input generator", "[20]", "{\"latent\": 4, " GEN "}", VARIA_ERR_SHAPE,
              "gen.net.0.weight");
    arch_case("generator output 20 against data of 21", "[21]", "{\"latent\": 5, " GEN "}", VARIA_ERR_SHAPE,
              "generator produces 20");
    arch_case("output_range [1, -1]", "[20]", "{\"latent\": 5, \"output_range\": [1, -1], " GEN "}",
              VARIA_ERR_MANIFEST, "output_range");
    arch_case("output_range of one number", "[20]", "{\"latent\": 5, \"output_range\": [1], " GEN "}",
              VARIA_ERR_MANIFEST, "output_range");
    arch_case("output_range [0, 1e300]", "[20]", "{\"latent\": 5, \"output_range\": [0, 1e300], " GEN "}",
              VARIA_ERR_MANIFEST, "output_range");
    arch_case("prior uniform", "[20]", "{\"latent\": 5, \"leaky_relu_slope\": 0.2, \"prior\": \"uniform\", " GEN "}",
              VARIA_OK, NULL);
    arch_case("prior cauchy", "[20]", "{\"latent\": 5, \"prior\": \"cauchy\", " GEN "}", VARIA_ERR_MANIFEST,
              "prior");
    arch_case("prior 3", "[20]", "{\"latent\": 5, \"prior\": 3, " GEN "}", VARIA_ERR_MANIFEST, "prior");
    arch_case("observation sigma2 -1", "[20]", "{\"latent\": 5, \"observation\": {\"sigma2\": -1}, " GEN "}",
              VARIA_ERR_MANIFEST, "sigma2");
    arch_case("observation sigma2 0.01", "[20]", "{\"latent\": 5, \"leaky_relu_slope\": 0.2, \"observation\": "
              "{\"sigma2\": 0.01}, " GEN "}", VARIA_OK, NULL);
    arch_case("a discriminator of two outputs", "[20]", "{\"latent\": 5, " GEN ", \"discriminator\": "
              "[{\"type\": \"dense\", \"out\": 2}]}", VARIA_ERR_SHAPE, "discriminator must end in one value");
    arch_case("a discriminator the file lacks", "[20]", "{\"latent\": 5, " GEN ", \"discriminator\": "
              "[{\"type\": \"dense\", \"out\": 1}]}", VARIA_ERR_MISSING, "disc.net.0.weight");
    arch_case("a generator with no weighted layer", "[5]", "{\"latent\": 5, \"generator\": "
              "[{\"type\": \"activation\", \"activation\": \"tanh\"}]}", VARIA_ERR_MANIFEST, NULL);
}

int main(void)
{
    root = getenv("VARIA_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "/tmp/varia-gan-XXXXXX");
    if (!root || !mkdtemp(dir)) {
        printf("not ok 1 - VARIA_SOURCE_ROOT set, a scratch directory\n");
        return 1;
    }
    operations();
    manifests();
    uniform_prior();
    parzen();
    ais_known_answer();
    inversion();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}

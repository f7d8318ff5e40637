/* The draw family (docs/format.md 6, docs/draw.md) through the public API:
 * evaluation (ELBO <= L_k, the same bits for any thread count), sampling's
 * latents painting the sampled image, and every bad manifest of the family
 * with its named status. Weights: the golden case draw_attn (data [1, 6, 7],
 * T = 4, L = 3, read 2x2, write 3x3, H_enc 10, H_dec 8). */
#include "manifest_case.h"
#include "tap.h"

#include <varia.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];
static const char *root;

static varia_model *golden(varia_ctx *ctx)
{
    char path[512];
    varia_model *m = NULL;
    snprintf(path, sizeof path, "%s/tests/golden/draw_attn/model.json", root);
    tap_okf(varia_model_load(ctx, path, &m) == VARIA_OK, "draw_attn loads (%s)", varia_ctx_message(ctx));
    return m;
}

static void operations(void)
{
    enum { N = 6, D = 42, TL = 12 };
    varia_ctx *ctx = varia_ctx_new(), *ctx2 = varia_ctx_new();
    varia_model *m = golden(ctx);
    if (!m) {
        varia_ctx_free(ctx);
        varia_ctx_free(ctx2);
        return;
    }
    static float x[N * D], z[N * TL], xd[N * D];
    for (int i = 0; i < N * D; i++)
        x[i] = (float)((i * 7 + i / D) % 3 == 0);
    varia_eval_row r1[N], r2[N], r50[N];
    varia_eval_summary s1, s2, s50;
    varia_eval_opts e5 = {5, 3, VARIA_BIN_NONE}, e50 = {50, 3, VARIA_BIN_NONE};
    varia_ctx_set_threads(ctx2, 2);
    int good = varia_eval(ctx, m, x, N, &e5, r1, &s1) == VARIA_OK && varia_eval(ctx2, m, x, N, &e5, r2, &s2) == VARIA_OK &&
               varia_eval(ctx, m, x, N, &e50, r50, &s50) == VARIA_OK;
    tap_okf(good && !memcmp(r1, r2, sizeof r1), "eval k = 5: 1 and 2 threads give the same bits");
    tap_okf(good && s1.elbo <= -s1.nll_mean && -s1.nll_mean <= -s50.nll_mean + 0.5 && isfinite(s50.kl) && s50.kl > 0,
            "ELBO %.3f <= L_5 %.3f <~ L_50 %.3f; KL %.3f > 0", s1.elbo, -s1.nll_mean, -s50.nll_mean, s50.kl);
    varia_info in;
    varia_model_info(m, &in);
    tap_okf(in.latent_size == TL && in.latent_shape.rank == 2 && in.latent_shape.dims[0] == 4 &&
                in.latent_shape.dims[1] == 3 && in.has_encoder,
            "info: latent 4 x 3 (T x L), with an encoder");
    good = varia_sample(ctx, m, N, 5, 0.7f, xd, z) == VARIA_OK;
    static float xz[N * D];
    good = good && varia_decode(ctx, m, z, N, VARIA_DECODE_MEAN, xz, NULL) == VARIA_OK;
    tap_okf(good && !memcmp(xd, xz, sizeof xd), "a sample's image is the decode of its T x L latent, bit for bit");
    static float path[4 * TL];
    good = varia_interpolate_latents(z, z + TL, TL, 4, VARIA_LERP, path) == VARIA_OK &&
           varia_decode(ctx, m, path, 4, VARIA_DECODE_MEAN, xz, NULL) == VARIA_OK;
    tap_okf(good, "lerp between two samples' T x L latents decodes");
    varia_model_free(m);
    varia_ctx_free(ctx);
    varia_ctx_free(ctx2);
}

/* Decoding latents known in advance (at most 64 rows a batch) runs the
 * input gates and the full write of the T steps as one product each; larger
 * batches and the per-step canvases go step by step. Both must give the same
 * bits: 70 rows (step by step) against the same rows decoded 1 and 64 at a
 * time, and a 3-row sample against the first 3 of a 70-row sample. */
static void known_latents(const char *name, int64_t D, int64_t TL, int64_t T)
{
    enum { N = 70 };
    char path[512];
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    snprintf(path, sizeof path, "%s/tests/golden/%s/model.json", root, name);
    varia_status st = varia_model_load(ctx, path, &m);
    float *x = malloc(sizeof(float) * N * D), *z = malloc(sizeof(float) * N * TL);
    float *y = malloc(sizeof(float) * N * D), *steps = malloc(sizeof(float) * T * D);
    int good = st == VARIA_OK && x && z && y && steps && varia_sample(ctx, m, N, 9, 0.8f, x, z) == VARIA_OK;
    for (int64_t i = 0; good && i < N; i++)
        good = varia_decode(ctx, m, z + i * TL, 1, VARIA_DECODE_MEAN, y + i * D, NULL) == VARIA_OK;
    tap_okf(good && !memcmp(x, y, sizeof(float) * N * D), "%s: 70 sampled rows = each decoded alone, bit for bit",
            name);
    good = good && varia_decode(ctx, m, z, 64, VARIA_DECODE_MEAN, y, NULL) == VARIA_OK &&
           varia_sample(ctx, m, 3, 9, 0.8f, y + 64 * D, NULL) == VARIA_OK;
    tap_okf(good && !memcmp(x, y, sizeof(float) * 64 * D) && !memcmp(x, y + 64 * D, sizeof(float) * 3 * D),
            "%s: 64 rows decoded at once and a 3-row sample, the same bits", name);
    good = good && varia_decode_steps(ctx, m, z + 5 * TL, 1, steps) == VARIA_OK;
    tap_okf(good && !memcmp(steps + (T - 1) * D, x + 5 * D, sizeof(float) * D),
            "%s: the last of decode_steps' canvases is the sample", name);
    free(x), free(z), free(y), free(steps);
    varia_model_free(m);
    varia_ctx_free(ctx);
}

/* Load a draw manifest of architecture arch over draw_attn's weights. */
static void arch_case(const char *what, const char *shape, const char *arch, varia_status want, const char *needle)
{
    manifest_case(dir, root, "draw", "draw_attn", what, shape, arch, want, needle);
}

#define SIZES "\"steps\": 4, \"latent\": 3, \"encoder_hidden\": 10, \"decoder_hidden\": 8"
#define RW "\"read\": {\"type\": \"attention\", \"glimpse\": 2}, \"write\": {\"type\": \"attention\", \"glimpse\": 3}"
#define TAIL "\"posterior_scale\": \"log_var\", \"likelihood\": {\"type\": \"bernoulli\"}"

static void manifests(void)
{
    arch_case("the golden architecture", "[1, 6, 7]", "{" SIZES ", " RW ", " TAIL "}", VARIA_OK, NULL);
    arch_case("images of 2 channels", "[2, 6, 7]", "{" SIZES ", " RW ", " TAIL "}", VARIA_ERR_SHAPE, "one-channel");
    arch_case("vector data", "[42]", "{" SIZES ", " RW ", " TAIL "}", VARIA_ERR_SHAPE, "one-channel");
    arch_case("no steps", "[1, 6, 7]", "{\"latent\": 3, \"encoder_hidden\": 10, \"decoder_hidden\": 8, " RW ", " TAIL "}",
              VARIA_ERR_MANIFEST, "steps");
    arch_case("steps 0", "[1, 6, 7]", "{\"steps\": 0, \"latent\": 3, \"encoder_hidden\": 10, \"decoder_hidden\": 8, " RW
              ", " TAIL "}", VARIA_ERR_TOO_LARGE, "steps");
    arch_case("steps 257", "[1, 6, 7]", "{\"steps\": 257, \"latent\": 3, \"encoder_hidden\": 10, \"decoder_hidden\": 8, "
              RW ", " TAIL "}", VARIA_ERR_TOO_LARGE, "steps");
    arch_case("a read of type fovea", "[1, 6, 7]", "{" SIZES ", \"read\": {\"type\": \"fovea\"}, \"write\": {\"type\": "
              "\"full\"}, " TAIL "}", VARIA_ERR_MANIFEST, "read");
    arch_case("a full read with a glimpse", "[1, 6, 7]", "{" SIZES ", \"read\": {\"type\": \"full\", \"glimpse\": 2}, "
              "\"write\": {\"type\": \"full\"}, " TAIL "}", VARIA_ERR_MANIFEST, "glimpse");
    arch_case("a glimpse of 65", "[1, 6, 7]", "{" SIZES ", \"read\": {\"type\": \"attention\", \"glimpse\": 65}, "
              "\"write\": {\"type\": \"full\"}, " TAIL "}", VARIA_ERR_TOO_LARGE, "glimpse");
    arch_case("no write", "[1, 6, 7]", "{" SIZES ", \"read\": {\"type\": \"full\"}, " TAIL "}", VARIA_ERR_MANIFEST,
              "write");
    arch_case("a read glimpse of 3 against weights made for 2", "[1, 6, 7]", "{" SIZES ", \"read\": {\"type\": "
              "\"attention\", \"glimpse\": 3}, \"write\": {\"type\": \"attention\", \"glimpse\": 3}, " TAIL "}",
              VARIA_ERR_SHAPE, "enc.weight_ih");
    arch_case("a full write against weights made for 3x3", "[1, 6, 7]", "{" SIZES ", \"read\": {\"type\": "
              "\"attention\", \"glimpse\": 2}, \"write\": {\"type\": \"full\"}, " TAIL "}", VARIA_ERR_SHAPE, "write.weight");
    arch_case("a gaussian likelihood", "[1, 6, 7]", "{" SIZES ", " RW ", \"posterior_scale\": \"log_var\", "
              "\"likelihood\": {\"type\": \"gaussian\"}}", VARIA_ERR_UNSUPPORTED, "bernoulli");
    arch_case("posterior_scale log_sigma", "[1, 6, 7]", "{" SIZES ", " RW ", \"posterior_scale\": \"log_sigma\", "
              "\"likelihood\": {\"type\": \"bernoulli\"}}", VARIA_ERR_MANIFEST, "posterior_scale");
    arch_case("decoder_hidden 9 against weights made for 8", "[1, 6, 7]", "{\"steps\": 4, \"latent\": 3, "
              "\"encoder_hidden\": 10, \"decoder_hidden\": 9, " RW ", " TAIL "}", VARIA_ERR_SHAPE, NULL);
}

int main(void)
{
    root = getenv("VARIA_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "/tmp/varia-draw-XXXXXX");
    if (!root || !mkdtemp(dir)) {
        printf("not ok 1 - VARIA_SOURCE_ROOT set, a scratch directory\n");
        return 1;
    }
    operations();
    known_latents("draw_attn", 42, 12, 4);
    known_latents("draw_full", 35, 12, 3);
    manifests();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}

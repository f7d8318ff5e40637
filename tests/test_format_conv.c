/* Bad conv manifests (docs/format.md 2.4): every hostile geometry of a layer
 * list gets its named status and a message naming the entry, before any
 * tensor is bound. The weights are those of the golden case conv_bern_odd
 * (and conv_bn_gauss for the batch-norm rows), copied next to each manifest. */
#include "tap.h"

#include <varia.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];
static const char *root;

/* Copy golden case `name`'s weights into dir (as `name`.safetensors). */
static int copy_weights(const char *name)
{
    char src[512], dst[512];
    size_t n;
    snprintf(src, sizeof src, "%s/tests/golden/%s/model.safetensors", root, name);
    snprintf(dst, sizeof dst, "%s/%s.safetensors", dir, name);
    char *p = tap_read_file(src, &n);
    int good = p && tap_write_file(dst, p, n);
    free(p);
    return good;
}

/* Load a manifest for data `shape` with architecture `arch` over the weights
 * of golden case `weights`; check the status and that the message has needle. */
static void arch_case(const char *what, const char *shape, const char *arch, const char *weights,
                      varia_status want, const char *needle)
{
    size_t cap = strlen(arch) + 512;
    char path[512], *text = malloc(cap);
    if (!text) {
        tap_okf(0, "%s: out of memory", what);
        return;
    }
    snprintf(path, sizeof path, "%s/model.json", dir);
    snprintf(text, cap, "{\"format\": \"varia\", \"version\": \"1.0\", \"family\": \"vae\", \"data\": {\"shape\": %s}, "
                  "\"architecture\": %s, \"weights\": {\"format\": \"safetensors\", \"file\": \"%s.safetensors\"}}",
            shape, arch, weights);
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_status st = tap_write_file(path, text, strlen(text)) ? varia_model_load(ctx, path, &m) : VARIA_ERR_IO;
    const char *msg = varia_ctx_message(ctx);
    tap_okf(st == want && (!needle || strstr(msg, needle)) && (st == VARIA_OK) == (m != NULL), "%s -> %s (%s)", what,
            varia_status_name(st), msg);
    varia_model_free(m);
    varia_ctx_free(ctx);
    free(text);
}

/* The golden conv_bern_odd architecture with its encoder list `enc` and
 * decoder list `dec` (NULL: the golden ones). */
static const char *const ENC =
    "[{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1, \"activation\": \"tanh\"},"
    " {\"type\": \"conv\", \"out\": 4, \"kernel\": [2, 3], \"stride\": [1, 2], \"padding\": [0, 1], \"activation\": \"elu\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 10, \"activation\": \"tanh\"}]";
static const char *const DEC =
    "[{\"type\": \"dense\", \"out\": 16, \"activation\": \"tanh\"}, {\"type\": \"reshape\", \"shape\": [4, 2, 2]},"
    " {\"type\": \"conv_transpose\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1, \"output_padding\": 1,"
    " \"activation\": \"softplus\"},"
    " {\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 3, \"stride\": 2, \"padding\": 1}]";

static void conv_case(const char *what, const char *enc, const char *dec, varia_status want, const char *needle)
{
    char arch[4096];
    snprintf(arch, sizeof arch, "{\"likelihood\": {\"type\": \"bernoulli\"}, \"elu_alpha\": 0.7, \"layers\": "
             "[{\"latent\": 3, \"encoder_net\": %s, \"decoder_net\": %s}]}", enc ? enc : ENC, dec ? dec : DEC);
    arch_case(what, "[1, 7, 7]", arch, "conv_bern_odd", want, needle);
}

/* One conv entry as the whole encoder (then a dense head input). */
static void enc_entry(const char *what, const char *entry, varia_status want, const char *needle)
{
    char enc[1024];
    snprintf(enc, sizeof enc, "[%s]", entry);
    conv_case(what, enc, NULL, want, needle);
}

static void geometry(void)
{
    conv_case("the golden conv architecture", NULL, NULL, VARIA_OK, NULL);
    enc_entry("a 9x9 kernel on a 7x7 input without padding",
              "{\"type\": \"conv\", \"out\": 3, \"kernel\": 9}", VARIA_ERR_SHAPE, "larger than the padded input");
    enc_entry("a 1x9 kernel: wider than the input padded by 1",
              "{\"type\": \"conv\", \"out\": 3, \"kernel\": [1, 10], \"padding\": 1}", VARIA_ERR_SHAPE,
              "encoder_net[0]");
    enc_entry("stride 0", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 0}", VARIA_ERR_MANIFEST,
              "\"stride\" = 0 must be at least 1");
    enc_entry("stride -2", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": -2}", VARIA_ERR_MANIFEST,
              "\"stride\" = -2");
    enc_entry("stride [1, 0]", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": [1, 0]}",
              VARIA_ERR_MANIFEST, "stride");
    enc_entry("padding -1", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"padding\": -1}", VARIA_ERR_MANIFEST,
              "\"padding\"");
    enc_entry("kernel 0", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 0}", VARIA_ERR_MANIFEST, "\"kernel\"");
    enc_entry("kernel 2.5", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 2.5}", VARIA_ERR_MANIFEST,
              "must be an integer");
    enc_entry("kernel [3] (a pair needs two)", "{\"type\": \"conv\", \"out\": 3, \"kernel\": [3]}",
              VARIA_ERR_MANIFEST, "pair");
    enc_entry("kernel 65 (over the cap)", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 65, \"padding\": 64}",
              VARIA_ERR_TOO_LARGE, "\"kernel\"");
    enc_entry("no kernel", "{\"type\": \"conv\", \"out\": 3}", VARIA_ERR_MANIFEST, "\"kernel\"");
    enc_entry("out 0 channels", "{\"type\": \"conv\", \"out\": 0, \"kernel\": 3}", VARIA_ERR_MANIFEST, "\"out\"");
    enc_entry("65536 channels of 135x135 (padding 64): past 2^24 floats an example",
              "{\"type\": \"conv\", \"out\": 65536, \"kernel\": 1, \"padding\": 64}", VARIA_ERR_TOO_LARGE, "caps");
    enc_entry("output_padding on a conv", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"output_padding\": 1}",
              VARIA_ERR_SHAPE, "conv_transpose only");
    enc_entry("reshape whose product overflows 64 bits",
              "{\"type\": \"reshape\", \"shape\": [16777216, 16777216, 16777216]}", VARIA_ERR_TOO_LARGE, "2^24");
    enc_entry("an encoder whose input is not the data's shape (reshape to 2x7x7 of 1x7x7 data)",
              "{\"type\": \"reshape\", \"shape\": [2, 7, 7]}", VARIA_ERR_SHAPE, "its input has 49");
    enc_entry("reshape to two dimensions", "{\"type\": \"reshape\", \"shape\": [7, 7]}", VARIA_ERR_MANIFEST,
              "[C, H, W]");
    enc_entry("an unknown layer type", "{\"type\": \"maxpool\", \"kernel\": 2}", VARIA_ERR_MANIFEST,
              "unknown layer type 'maxpool'");
    enc_entry("an entry that is not an object", "3", VARIA_ERR_MANIFEST, "encoder_net[0]");
    enc_entry("batch_norm first", "{\"type\": \"batch_norm\"}", VARIA_ERR_MANIFEST, "must directly follow");
    enc_entry("batch_norm after a conv with an activation",
              "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"activation\": \"relu\"}, {\"type\": \"batch_norm\"}",
              VARIA_ERR_MANIFEST, "encoder_net[1]: batch_norm must directly follow");
    enc_entry("batch_norm eps 0",
              "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3}, {\"type\": \"batch_norm\", \"eps\": 0}",
              VARIA_ERR_MANIFEST, "\"eps\"");
    enc_entry("an activation entry after a reshape",
              "{\"type\": \"flatten\"}, {\"type\": \"activation\", \"activation\": \"relu\"}", VARIA_ERR_MANIFEST,
              "an activation entry must follow");
    enc_entry("an activation entry naming none", "{\"type\": \"conv\", \"out\": 3, \"kernel\": 3}, "
              "{\"type\": \"activation\"}", VARIA_ERR_MANIFEST, "\"activation\" is missing");
    char many[4096] = "[";
    for (int i = 0; i < 33; i++)
        strcat(many, i ? ", {\"type\": \"flatten\"}" : "{\"type\": \"flatten\"}");
    strcat(many, "]");
    conv_case("33 entries", many, NULL, VARIA_ERR_TOO_LARGE, "at most 32");
}

static void decoders(void)
{
    conv_case("a decoder emitting 2x7x7 for 1x7x7 data",
              NULL, "[{\"type\": \"dense\", \"out\": 16}, {\"type\": \"reshape\", \"shape\": [4, 2, 2]},"
              " {\"type\": \"conv_transpose\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
              " \"output_padding\": 1}, {\"type\": \"conv_transpose\", \"out\": 2, \"kernel\": 3, \"stride\": 2,"
              " \"padding\": 1}]", VARIA_ERR_SHAPE, "not the data's shape");
    conv_case("a decoder emitting 1x5x5 for 1x7x7 data (no output padding)",
              NULL, "[{\"type\": \"dense\", \"out\": 16}, {\"type\": \"reshape\", \"shape\": [4, 2, 2]},"
              " {\"type\": \"conv_transpose\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1},"
              " {\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 3, \"stride\": 2, \"padding\": 1}]",
              VARIA_ERR_SHAPE, "produces 25 values");
    conv_case("an empty bottom decoder list", NULL, "[]", VARIA_ERR_SHAPE, "decoder_net produces 3 values");
    conv_case("output_padding 2 with stride 2", NULL,
              "[{\"type\": \"dense\", \"out\": 16}, {\"type\": \"reshape\", \"shape\": [4, 2, 2]},"
              " {\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 3, \"stride\": 2, \"output_padding\": 2}]",
              VARIA_ERR_SHAPE, "smaller than the stride");
    conv_case("a conv on the latent vector", NULL, "[{\"type\": \"conv\", \"out\": 1, \"kernel\": 1}]",
              VARIA_ERR_SHAPE, "needs a C x H x W input");
    conv_case("Bernoulli logits through a sigmoid", NULL,
              "[{\"type\": \"dense\", \"out\": 49, \"activation\": \"sigmoid\"}]", VARIA_ERR_MANIFEST,
              "must have no activation");
    arch_case("a conv encoder on vector data without a reshape", "[49]",
              "{\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 3, \"encoder_net\": "
              "[{\"type\": \"conv\", \"out\": 3, \"kernel\": 3}], \"decoder\": []}]}", "conv_bern_odd",
              VARIA_ERR_SHAPE, "put a reshape before it");
    arch_case("encoder and encoder_net together", "[1, 7, 7]",
              "{\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 3, \"encoder\": [5], "
              "\"encoder_net\": [], \"decoder\": []}]}", "conv_bern_odd", VARIA_ERR_MANIFEST, "not both");
    arch_case("a Gaussian decoder variance head with a decoder_net", "[1, 7, 7]",
              "{\"likelihood\": {\"type\": \"gaussian\", \"variance\": \"decoder\"}, \"layers\": [{\"latent\": 3, "
              "\"encoder\": [], \"decoder_net\": [{\"type\": \"dense\", \"out\": 49}]}]}", "conv_bern_odd",
              VARIA_ERR_MANIFEST, "variance \"decoder\"");
    conv_case("a first conv of 4 channels where the weights have 3", "[{\"type\": \"conv\", \"out\": 4, \"kernel\": 3, "
              "\"stride\": 2, \"padding\": 1}, {\"type\": \"conv\", \"out\": 4, \"kernel\": [2, 3], \"stride\": [1, 2], "
              "\"padding\": [0, 1]}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 10}]", NULL,
              VARIA_ERR_SHAPE, "'enc1.net.0.weight' has shape [3, 1, 3, 3], the architecture needs [4, 1, 3, 3]");
    conv_case("the golden layers plus a batch norm after the dense one, whose tensors the file lacks",
              "[{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1, \"activation\": \"tanh\"}, "
              "{\"type\": \"conv\", \"out\": 4, \"kernel\": [2, 3], \"stride\": [1, 2], \"padding\": [0, 1], "
              "\"activation\": \"elu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 10}, "
              "{\"type\": \"batch_norm\", \"activation\": \"tanh\"}]", NULL, VARIA_ERR_MISSING,
              "'enc1.net.4.weight' is missing");
    conv_case("a batch norm where the file has a conv (entry 1): its weight's shape is refused",
              "[{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1}, "
              "{\"type\": \"batch_norm\", \"activation\": \"tanh\"}, {\"type\": \"conv\", \"out\": 4, \"kernel\": [2, 3], "
              "\"stride\": [1, 2], \"padding\": [0, 1], \"activation\": \"elu\"}, {\"type\": \"flatten\"}, "
              "{\"type\": \"dense\", \"out\": 10, \"activation\": \"tanh\"}]", NULL, VARIA_ERR_SHAPE,
              "'enc1.net.1.weight' has shape [4, 3, 2, 3], the architecture needs [3]");
}

/* A running variance below -eps leaves batch norm no finite scale to fold. */
static void bad_running_var(void)
{
    char src[512], dst[512], mpath[512];
    size_t n;
    snprintf(src, sizeof src, "%s/tests/golden/conv_bn_gauss/model.safetensors", root);
    snprintf(dst, sizeof dst, "%s/bn.safetensors", dir);
    unsigned char *p = (unsigned char *)tap_read_file(src, &n);
    uint64_t hl = 0;
    for (int i = 0; p && i < 8; i++)
        hl |= (uint64_t)p[i] << (8 * i);
    char *hdr = p ? strndup((char *)p + 8, (size_t)hl) : NULL;
    cJSON *h = hdr ? cJSON_Parse(hdr) : NULL;
    const cJSON *rv = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "enc1.net.1.running_var"), "data_offsets");
    int good = rv != NULL;
    if (good) {
        float bad = -2.0f;
        memcpy(p + 8 + hl + (size_t)cJSON_GetArrayItem(rv, 0)->valuedouble, &bad, sizeof bad);
        good = tap_write_file(dst, p, n);
    }
    snprintf(src, sizeof src, "%s/tests/golden/conv_bn_gauss/model.json", root);
    char *manifest = tap_read_file(src, NULL), *at = manifest ? strstr(manifest, "\"model.safetensors\"") : NULL;
    if (at)
        memcpy(at, "\"bn.safetensors\"   ", 19); /* same length: the rest of the text stays put */
    snprintf(mpath, sizeof mpath, "%s/bn.json", dir);
    good = good && at && tap_write_file(mpath, manifest, strlen(manifest));
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_status st = good ? varia_model_load(ctx, mpath, &m) : VARIA_ERR_IO;
    tap_okf(st == VARIA_ERR_NONFINITE && strstr(varia_ctx_message(ctx), "enc1.net.1.running_var") && !m,
            "a running variance of -2 -> %s (%s)", varia_status_name(st), varia_ctx_message(ctx));
    varia_model_free(m);
    varia_ctx_free(ctx);
    cJSON_Delete(h);
    free(hdr);
    free(p);
    free(manifest);
}

int main(void)
{
    root = getenv("VARIA_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "/tmp/varia-fconv-XXXXXX");
    if (!root || !mkdtemp(dir) || !copy_weights("conv_bern_odd")) {
        printf("not ok 1 - VARIA_SOURCE_ROOT set, a scratch directory, the golden weights\n");
        return 1;
    }
    geometry();
    decoders();
    bad_running_var();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}

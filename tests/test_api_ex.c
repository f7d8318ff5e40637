/* The per-call options API: every _ex operation equals its first-published
 * counterpart bit for bit, the options struct is versioned by its size, every
 * bad option is refused naming the field, a family that needs per-call
 * information refuses the old calls, and the model facts (capabilities,
 * buffer sizes) say what the family does. */
#include "family.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf
#define N 300 /* more than one batch */

static varia_model *load(varia_ctx *ctx, const char *rel)
{
    char path[1200];
    const char *root = getenv("VARIA_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    varia_model *m = NULL;
    if (varia_model_load(ctx, path, &m) != VARIA_OK)
        printf("# cannot load %s: %s\n", path, varia_ctx_message(ctx));
    return m;
}

static int same(const float *a, const float *b, int64_t n)
{
    return !memcmp(a, b, (size_t)n * sizeof(float));
}

/* Each _ex call with the counterpart's options gives the counterpart's bits. */
static void equal_to_old(varia_ctx *ctx, const varia_model *m, const float *x)
{
    int64_t D = m->info.data_size, L = m->info.latent_size;
    float *a = malloc(sizeof(float) * N * D), *b = malloc(sizeof(float) * N * D);
    float *za = malloc(sizeof(float) * N * L), *zb = malloc(sizeof(float) * N * L);
    varia_opts o = {.size = sizeof o, .seed = 7, .flags = VARIA_OPT_TEMPERATURE, .temperature = 0.8f};
    int good = varia_sample(ctx, m, N, 7, 0.8f, a, za) == VARIA_OK && varia_sample_ex(ctx, m, N, &o, b, zb) == VARIA_OK;
    ok(good && same(a, b, N * D) && same(za, zb, N * L), "sample_ex = sample (seed 7, temperature 0.8)");
    varia_opts plain = {.size = sizeof plain, .seed = 7};
    good = varia_sample(ctx, m, N, 7, 1.0f, a, za) == VARIA_OK && varia_sample_ex(ctx, m, N, &plain, b, zb) == VARIA_OK;
    ok(good && same(a, b, N * D), "sample_ex without the temperature flag samples at temperature 1");
    good = varia_encode(ctx, m, x, N, za, NULL) == VARIA_OK && varia_encode_ex(ctx, m, x, N, NULL, zb, NULL) == VARIA_OK;
    ok(good && same(za, zb, N * L), "encode_ex = encode");
    good = varia_encode_sample(ctx, m, x, N, 7, za) == VARIA_OK &&
           varia_encode_sample_ex(ctx, m, x, N, &plain, zb) == VARIA_OK;
    ok(good && same(za, zb, N * L), "encode_sample_ex = encode_sample (seed 7)");
    good = varia_decode(ctx, m, za, N, VARIA_DECODE_PARAMS, a, NULL) == VARIA_OK &&
           varia_decode_ex(ctx, m, za, N, NULL, VARIA_DECODE_PARAMS, b, NULL) == VARIA_OK;
    ok(good && same(a, b, N * D), "decode_ex = decode");
    good = varia_reconstruct(ctx, m, x, N, a) == VARIA_OK && varia_reconstruct_ex(ctx, m, x, N, NULL, b) == VARIA_OK;
    ok(good && same(a, b, N * D), "reconstruct_ex = reconstruct");
    varia_eval_opts eo = {20, 3, VARIA_BIN_DYNAMIC};
    varia_eval_summary s1, s2;
    good = varia_eval(ctx, m, x, 40, &eo, NULL, &s1) == VARIA_OK &&
           varia_eval_ex(ctx, m, x, 40, &eo, NULL, NULL, &s2) == VARIA_OK;
    ok(good && !memcmp(&s1, &s2, sizeof s1), "eval_ex = eval");
    ok(good && s1.bits_per_dim == s1.nll_mean / ((double)D * log(2.0)),
       "bits/dim is the NLL over each example's size (%.6f)", s1.bits_per_dim);
    free(a), free(b), free(za), free(zb);
}

/* Every malformed option, refused with its status and a message naming it. */
static void refusals(varia_ctx *ctx, const varia_model *m, const float *x)
{
    float out[4 * 784], z[4 * 64];
    int64_t lengths[4] = {3, 3, 3, 3}, labels[4] = {0, 1, 2, 3};
    struct { varia_opts o; varia_status st; const char *needle; } cases[] = {
        {{.size = 4}, VARIA_ERR_ARG, "varia_opts.size"},
        {{.size = sizeof(varia_opts), .flags = 0x10}, VARIA_ERR_ARG, "flags"},
        {{.size = sizeof(varia_opts), .reserved = 1}, VARIA_ERR_ARG, "reserved"},
        {{.size = sizeof(varia_opts), .flags = VARIA_OPT_TEMPERATURE, .temperature = NAN}, VARIA_ERR_ARG, "temperature"},
        {{.size = sizeof(varia_opts), .flags = VARIA_OPT_TEMPERATURE, .temperature = 101.0f}, VARIA_ERR_ARG,
         "temperature"},
        {{.size = sizeof(varia_opts), .seq_len = 5}, VARIA_ERR_ARG, "seq_len"},
        {{.size = sizeof(varia_opts), .lengths = lengths}, VARIA_ERR_ARG, "lengths"},
        {{.size = sizeof(varia_opts), .labels = labels}, VARIA_ERR_ARG, "labels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        varia_status st = varia_sample_ex(ctx, m, 4, &cases[i].o, out, z);
        ok(st == cases[i].st && strstr(varia_ctx_message(ctx), cases[i].needle), "bad option %zu: status %d naming "
           "'%s' (%s)", i, (int)cases[i].st, cases[i].needle, varia_ctx_message(ctx));
    }
    /* a caller built against a longer varia_opts: zero tail fine, nonzero refused */
    struct { varia_opts o; uint64_t later; } longer = {{.size = sizeof longer, .seed = 7}, 0};
    ok(varia_encode_sample_ex(ctx, m, x, 4, &longer.o, z) == VARIA_OK, "a longer varia_opts with zero new fields works");
    longer.later = 1;
    varia_status st = varia_encode_sample_ex(ctx, m, x, 4, &longer.o, z);
    ok(st == VARIA_ERR_UNSUPPORTED && strstr(varia_ctx_message(ctx), "byte"),
       "a longer varia_opts with a nonzero new field is refused (%s)", varia_ctx_message(ctx));
    varia_opts shorter = {.size = 16, .seed = 7}; /* an older caller: up to the seed */
    ok(varia_encode_sample_ex(ctx, m, x, 4, &shorter, z) == VARIA_OK, "a shorter varia_opts (16 bytes) works");
    int64_t df = 0, lf = 0;
    ok(varia_buffer_sizes(ctx, m, NULL, &df, &lf) == VARIA_OK && df == m->info.data_size && lf == m->info.latent_size,
       "buffer sizes: %lld floats per example, %lld per latent", (long long)df, (long long)lf);
    ok(varia_buffer_sizes(ctx, m, &cases[5].o, &df, &lf) == VARIA_ERR_ARG, "buffer sizes refuse a VAE a seq_len");
}

/* A family that needs labels refuses the old calls, naming the option (the
 * sequence family's refusals, with a real vrnn model: tests/test_vrnn.c). */
static void needs(varia_ctx *ctx, varia_model *m, const float *x)
{
    float out[4 * 784];
    const varia_family *saved = m->family;
    varia_family seq = *saved;
    m->family = &seq;
    varia_status st;
    seq.needs = VARIA_FAMILY_LABELS;
    st = varia_reconstruct(ctx, m, x, 4, out);
    ok(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "labels"), "a conditional family refuses "
       "varia_reconstruct naming labels (%s)", varia_ctx_message(ctx));
    seq.needs = 0;
    seq.encode = NULL;
    ok(!varia_model_can(m, VARIA_CAN_ENCODE) && varia_model_can(m, VARIA_CAN_EVAL), "capabilities follow the family");
    m->family = saved;
}

int main(void)
{
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = load(ctx, "models/vae-mnist-dyn/model.json");
    varia_dataset ds;
    char data[1200];
    const char *root = getenv("VARIA_SOURCE_ROOT");
    snprintf(data, sizeof data, "%s/models/vae-mnist-dyn/heldout-images-idx3-ubyte.gz", root ? root : ".");
    int good = m && varia_dataset_load(ctx, data, N, &ds) == VARIA_OK && ds.n == N;
    ok(good, "the default model and %d held-out images load", N);
    if (good) {
        ok(varia_model_can(m, VARIA_CAN_ENCODE) && varia_model_can(m, VARIA_CAN_EVAL) &&
           varia_model_can(m, VARIA_CAN_SAMPLE) && !varia_model_can(m, VARIA_NEEDS_SEQ_LEN) &&
           !varia_model_can(m, VARIA_NEEDS_LABELS) && !varia_model_can(NULL, VARIA_CAN_SAMPLE),
           "the VAE encodes, evaluates and samples, and needs no per-call information");
        equal_to_old(ctx, m, ds.x);
        refusals(ctx, m, ds.x);
        needs(ctx, m, ds.x);
        varia_dataset_free(&ds);
    }
    ok(VARIA_LIK_NONE == 0 && VARIA_MAX_LAYERS == 8, "VARIA_LIK_NONE and VARIA_MAX_LAYERS are defined");
    varia_model_free(m);
    varia_ctx_free(ctx);
    return tap_done();
}

/* Training with batch norm (docs/training.md, "Batch norm"): a tiny conv VAE
 * with a batch norm in its encoder (after a conv) and its decoder (after a
 * dense layer) trains and improves in the runtime's eyes (which folds the
 * saved running statistics); the saved running statistics of the encoder's
 * batch norm equal PyTorch's train-mode bookkeeping computed here
 * independently (the conv by direct loops, the momentum update in float);
 * the weights do not depend on the thread count; and a run interrupted and
 * resumed ends bit-identical to an uninterrupted one. */
#include "tap.h"

#include "varia_train.h"
#include "train_util.h"
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ok tap_okf

enum { N = 40, NTRAIN = 32, D = 16 };

static float data[N * D];

/* Two 4x4 prototypes (a bar, a frame) with one pixel flipped per row, kept in
 * data[] and written as img.amat. */
static void write_data(void)
{
    static char rows[N * 40];
    char *p = rows;
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) {
            int bar = d / 4 == 1 || d / 4 == 2, frame = d / 4 == 0 || d / 4 == 3 || d % 4 == 0 || d % 4 == 3;
            int v = (i % 2 ? bar : frame) ^ (d == i % 16);
            data[i * D + d] = (float)v;
            p += sprintf(p, "%d%c", v, d < 15 ? ' ' : '\n');
        }
    write_text("img.amat", rows);
}

/* A config for the bn model in `out`: batch, shards, lr, epochs. */
static void write_config(const char *name, const char *out, int batch, int shards, double lr, int epochs)
{
    char cfg[2500];
    snprintf(cfg, sizeof cfg,
             "{\"architecture\": {\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 2, "
             "\"encoder_net\": [{\"type\": \"reshape\", \"shape\": [1, 4, 4]}, {\"type\": \"conv\", \"out\": 2, "
             "\"kernel\": 3, \"stride\": 2, \"padding\": 1}, {\"type\": \"batch_norm\", \"activation\": \"tanh\"}, "
             "{\"type\": \"flatten\"}], "
             "\"decoder_net\": [{\"type\": \"dense\", \"out\": 16}, {\"type\": \"batch_norm\"}, "
             "{\"type\": \"activation\", \"activation\": \"tanh\"}, {\"type\": \"reshape\", \"shape\": [4, 2, 2]}, "
             "{\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 3, \"stride\": 2, \"padding\": 1, "
             "\"output_padding\": 1}]}]}, "
             "\"data\": {\"train\": \"%s\", \"validation\": %d, \"binarize\": \"none\"}, "
             "\"objective\": {\"kind\": \"iwae\", \"k\": 3}, \"batch\": %d, \"shards\": %d, \"seed\": 5, "
             "\"optimizer\": {\"kind\": \"adam\", \"lr\": %g}, \"schedule\": {\"kind\": \"constant\", "
             "\"epochs\": %d}, \"output\": \"%s\"}\n",
             tp("img.amat"), N - NTRAIN, batch, shards, lr, epochs, tp(out));
    write_text(name, cfg);
}

/* -log p(x) (mean, k = 50) of the model in `out` on the whole data set: the
 * runtime folds the saved running statistics, so this is eval mode. */
static double nll_of(const char *out)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.json", tp(out));
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    double nll = NAN;
    varia_eval_opts eo = {50, 3, VARIA_BIN_NONE};
    varia_eval_summary sum;
    if (varia_model_load(ctx, path, &m) == VARIA_OK && varia_eval(ctx, m, data, N, &eo, NULL, &sum) == VARIA_OK)
        nll = sum.nll_mean;
    varia_model_free(m);
    varia_ctx_free(ctx);
    return nll;
}

/* Tensor `name` of out/model.safetensors into v (n floats); 0 if absent. */
static int read_tensor(const char *out, const char *name, float *v, int64_t n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", tp(out));
    varia_ctx *ctx = varia_ctx_new();
    varia_weights w;
    int good = varia_weights_open(ctx, path, NULL, &w) == VARIA_OK;
    const varia_tensor *t = good ? varia_weights_find(&w, name) : NULL;
    int found = t && t->numel == n;
    if (found)
        memcpy(v, t->data, (size_t)n * sizeof(float));
    if (good) /* t is gone after this */
        varia_weights_close(&w);
    varia_ctx_free(ctx);
    return found;
}

/* 30 epochs improve on 1; threads 1 and 2 give the same bytes; interrupted
 * after epoch 5 and resumed = uninterrupted. Batch 8 in 2 shards: each
 * shard's batch norm normalises its own 4 examples (12 decoder rows at k 3). */
static void trains(void)
{
    char rep[600];
    write_config("bn1.json", "bn1", 8, 2, 0.01, 1);
    write_config("bn30.json", "bn30", 8, 2, 0.01, 30);
    write_config("bn30t.json", "bn30t", 8, 2, 0.01, 30);
    write_config("bn30r.json", "bn30r", 8, 2, 0.01, 30);
    varia_status s1 = train("bn1.json", 1, 0, 0, rep, sizeof rep);
    varia_status s30 = train("bn30.json", 1, 0, 0, rep, sizeof rep);
    ok(s1 == VARIA_OK && s30 == VARIA_OK, "a conv VAE with batch norms trains (%s)", rep);
    double n1 = s1 == VARIA_OK ? nll_of("bn1") : NAN, n30 = s30 == VARIA_OK ? nll_of("bn30") : NAN;
    ok(isfinite(n1) && isfinite(n30) && n30 < n1 - 0.5,
       "it improves, scored by the runtime with the running statistics folded: NLL %.3f after 1 epoch, %.3f "
       "after 30", n1, n30);
    ok(train("bn30t.json", 2, 0, 0, rep, sizeof rep) == VARIA_OK &&
           same_file(tp("bn30/model.safetensors"), tp("bn30t/model.safetensors")),
       "2 threads give the same model.safetensors as 1, running statistics included (%s)", rep);
    ok(train("bn30r.json", 1, 0, 5, rep, sizeof rep) == VARIA_OK && train("bn30r.json", 1, 1, 0, rep, sizeof rep) ==
           VARIA_OK, "the run interrupted after epoch 5 and resumed (%s)", rep);
    static const char *const files[] = {"model.safetensors", "checkpoint/model-000030.safetensors",
                                        "checkpoint/optimizer-000030.safetensors"};
    for (int i = 0; i < 3; i++) {
        char fa[200], fb[200];
        snprintf(fa, sizeof fa, "bn30/%s", files[i]);
        snprintf(fb, sizeof fb, "bn30r/%s", files[i]);
        ok(same_file(tp(fa), tp(fb)), "interrupted and resumed = uninterrupted: %s is bit-identical", files[i]);
    }
    float rm[16], rv[16];
    int good = read_tensor("bn30", "dec1.net.1.running_mean", rm, 16) &&
               read_tensor("bn30", "dec1.net.1.running_var", rv, 16);
    int moved = 0;
    for (int c = 0; good && c < 16; c++)
        moved += rm[c] != 0.0f && rv[c] != 1.0f && rv[c] > 0.0f;
    ok(good && moved == 16, "the decoder's batch norm saved 16 running means and variances, all moved from (0, 1)");
}

/* Channel c of the encoder's conv (1 -> 2 channels, kernel 3, stride 2,
 * padding 1, on 4x4) at output pixel (oy, ox) of example x: direct loops. */
static double conv_at(const float *w, const float *b, const float *x, int c, int oy, int ox)
{
    double s = b[c];
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
            if (iy >= 0 && iy < 4 && ix >= 0 && ix < 4)
                s += (double)w[(c * 3 + ky) * 3 + kx] * x[iy * 4 + ix];
        }
    return s;
}

/* At learning rate 0 the weights stay at their initial values, so after E
 * epochs of one batch (the 32 training rows, in 2 shards) the encoder's
 * running statistics are PyTorch's: E momentum updates, in float, by the
 * batch's per-channel mean and unbiased variance over 32 x 4 conv outputs. */
static void running_statistics(void)
{
    enum { E = 3 };
    char rep[600];
    write_config("bnstat.json", "bnstat", NTRAIN, 2, 0.0, E);
    float w[18], b[2], rm[2], rv[2];
    int good = train("bnstat.json", 2, 0, 0, rep, sizeof rep) == VARIA_OK &&
               read_tensor("bnstat", "enc1.net.1.weight", w, 18) && read_tensor("bnstat", "enc1.net.1.bias", b, 2) &&
               read_tensor("bnstat", "enc1.net.2.running_mean", rm, 2) &&
               read_tensor("bnstat", "enc1.net.2.running_var", rv, 2);
    ok(good, "a learning-rate-0 run with one batch an epoch saves the encoder's conv and running statistics (%s)", rep);
    double worst = 0.0;
    for (int c = 0; good && c < 2; c++) {
        double v[NTRAIN * 4], mean = 0.0, ss = 0.0;
        for (int i = 0; i < NTRAIN; i++)
            for (int p = 0; p < 4; p++)
                mean += (v[i * 4 + p] = conv_at(w, b, data + i * D, c, p / 2, p % 2)) / (NTRAIN * 4);
        for (int i = 0; i < NTRAIN * 4; i++)
            ss += (v[i] - mean) * (v[i] - mean);
        float em = 0.0f, ev = 1.0f, bm = (float)mean, bv = (float)(ss / (NTRAIN * 4 - 1));
        for (int e = 0; e < E; e++) { /* torch: running = (1 - momentum) * running + momentum * batch, float32 */
            em = 0.9f * em + 0.1f * bm;
            ev = 0.9f * ev + 0.1f * bv;
        }
        worst = fmax(worst, fmax(fabs(em - rm[c]), fabs(ev - rv[c]) / ev));
    }
    ok(good && worst < 1e-6, "the saved running mean and variance are PyTorch's for the same batches (%.1e)",
       worst);
}

int main(void)
{
    snprintf(train_dir, sizeof train_dir, "/tmp/varia-train-bn-XXXXXX");
    if (!mkdtemp(train_dir)) {
        printf("not ok 1 - a scratch directory\n");
        return 1;
    }
    write_data();
    trains();
    running_statistics();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", train_dir);
    if (getenv("VARIA_KEEP_TMP"))
        printf("# kept %s\n", train_dir);
    else if (system(cmd) != 0)
        printf("# could not remove %s\n", train_dir);
    return tap_done();
}

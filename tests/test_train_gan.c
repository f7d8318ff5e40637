/* Adversarial training (objective "gan", docs/training.md): RMSProp's known
 * first step; a small GAN that learns a 2-d cluster (its samples' mean and
 * spread, measured through the runtime); a WGAN whose critic stays inside
 * its weight clip; exact resume and thread-count invariance with batch norm
 * in both networks; WGAN-GP's learning, resume and thread invariance; and
 * the configuration errors of the objective. */
#include "tap.h"

#include "config.h"
#include "optim.h"
#include "rng.h"
#include "varia_train.h"
#include "train_util.h"
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define ok tap_okf

static void rmsprop(void)
{
    tr_optim o;
    float th[2] = {1.0f, -1.0f}, g[2] = {0.5f, -2.0f};
    tr_optim_init(&o, TR_OPT_RMSPROP, 2, 0.0, 0.99, 1e-8, 0.0, 0.0);
    tr_optim_begin(&o);
    tr_optim_range(&o, th, g, 0.01, 1.0, 0, 2);
    /* v = 0.01 g^2, so the step is lr g / (0.1 |g| + eps) = 0.1 sign(g) */
    ok(fabsf(th[0] - 0.9f) < 1e-6f && fabsf(th[1] + 0.9f) < 1e-6f, "RMSProp's first step is lr g / (sqrt(1 - alpha) |g| + eps)");
    tr_optim_free(&o);
}

/* 2000 points near (0.8, 0.2), sd 0.03, as an .amat of fractions. */
static void cluster_data(void)
{
    FILE *f = fopen(tp("cluster.amat"), "w");
    varia_rng r;
    varia_rng_init(&r, 5, 1, 0, 0);
    for (int n = 0; n < 2000 && f; n++) {
        float e[2];
        varia_rng_normals(&r, e, 2);
        fprintf(f, "%.5f %.5f\n", 0.8 + 0.03 * e[0], 0.2 + 0.03 * e[1]);
    }
    if (f)
        fclose(f);
}

/* A GAN configuration over the cluster: `objective` and `optimizer` objects,
 * the generator's and discriminator's middle layers, epochs. */
static void gan_config(const char *name, const char *out, const char *objective, const char *optimizer,
                       const char *gen_mid, const char *disc_mid, int epochs)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"family\": \"gan\", \"architecture\": {\"latent\": 2, \"leaky_relu_slope\": 0.2,"
             " \"generator\": [{\"type\": \"dense\", \"out\": 16%s}, {\"type\": \"dense\", \"out\": 2,"
             " \"activation\": \"sigmoid\"}],"
             " \"discriminator\": [{\"type\": \"dense\", \"out\": 16%s}, {\"type\": \"dense\", \"out\": 1}]},"
             " \"data\": {\"train\": \"%s\", \"validation\": 0, \"binarize\": \"none\"},"
             " \"objective\": %s, \"optimizer\": %s,"
             " \"schedule\": {\"kind\": \"constant\", \"epochs\": %d}, \"batch\": 50, \"shards\": 2, \"seed\": 4,"
             " \"output\": \"%s\"}",
             gen_mid, disc_mid, tp("cluster.amat"), objective, optimizer, epochs, tp(out));
    write_text(name, text);
}

/* Mean and largest per-coordinate standard deviation of 2000 samples of out's model. */
static int sample_stats(const char *out, double mean[2], double *sd)
{
    static float x[2000 * 2];
    char path[1100];
    snprintf(path, sizeof path, "%s/model.json", tp(out));
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    int good = varia_model_load(ctx, path, &m) == VARIA_OK && varia_sample(ctx, m, 2000, 9, 1.0f, x, NULL) == VARIA_OK;
    *sd = 0;
    for (int d = 0; d < 2; d++) {
        double s = 0, ss = 0;
        for (int n = 0; n < 2000; n++)
            s += x[2 * n + d], ss += (double)x[2 * n + d] * x[2 * n + d];
        mean[d] = s / 2000;
        *sd = fmax(*sd, sqrt(fmax(ss / 2000 - mean[d] * mean[d], 0)));
    }
    varia_model_free(m);
    varia_ctx_free(ctx);
    return good;
}

static void learning(void)
{
    char rep[1024];
    double mean[2], sd;
    gan_config("ns.json", "ns", "{\"kind\": \"gan\"}",
               "{\"kind\": \"adam\", \"lr\": 0.002, \"beta1\": 0.5, \"eps\": 1e-8}", ", \"activation\": \"relu\"",
               ", \"activation\": \"leaky_relu\"", 30);
    ok(train("ns.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "non-saturating GAN, 30 epochs of 2000 points (%s)", rep);
    int good = sample_stats("ns", mean, &sd);
    ok(good && fabs(mean[0] - 0.8) < 0.05 && fabs(mean[1] - 0.2) < 0.05 && sd < 0.12,
       "its samples find the cluster: mean (%.3f, %.3f) against (0.8, 0.2), largest sd %.3f (data 0.03)", mean[0],
       mean[1], sd);
    gan_config("w.json", "w", "{\"kind\": \"gan\", \"loss\": \"wasserstein\", \"critic_steps\": 5}",
               "{\"kind\": \"rmsprop\", \"lr\": 0.005}", ", \"activation\": \"relu\"",
               ", \"activation\": \"leaky_relu\"", 40);
    ok(train("w.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "WGAN, RMSProp, 5 critic steps per generator step (%s)",
       rep);
    varia_ctx *ctx = varia_ctx_new();
    varia_weights w;
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", tp("w"));
    int inside = varia_weights_open(ctx, path, NULL, &w) == VARIA_OK, seen = 0;
    static const char *const names[] = {"disc.net.0.weight", "disc.net.0.bias", "disc.net.1.weight", "disc.net.1.bias"};
    for (int i = 0; inside && i < 4; i++) {
        const varia_tensor *t = varia_weights_find(&w, names[i]);
        for (int64_t j = 0; t && j < t->numel; j++)
            inside = inside && fabsf(t->data[j]) <= 0.01f, seen++;
    }
    if (w.t)
        varia_weights_close(&w);
    varia_ctx_free(ctx);
    ok(inside && seen == 16 * 2 + 16 + 16 + 1, "every critic parameter (%d) within the weight clip 0.01", seen);
    good = sample_stats("w", mean, &sd);
    ok(good && fabs(mean[0] - 0.8) < 0.1 && fabs(mean[1] - 0.2) < 0.1,
       "the WGAN's samples move to the cluster: mean (%.3f, %.3f)", mean[0], mean[1]);
}

/* Batch norm in both networks: its running statistics are part of what must
 * resume exactly and not depend on threads. */
static void resume_and_threads(void)
{
    char rep[1024];
    const char *bn_gen = "}, {\"type\": \"batch_norm\", \"activation\": \"relu\"";
    const char *bn_disc = "}, {\"type\": \"batch_norm\", \"activation\": \"leaky_relu\"";
    for (int i = 0; i < 3; i++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "r%c.json", 'A' + i);
        snprintf(out, sizeof out, "r%c", 'A' + i);
        gan_config(name, out, "{\"kind\": \"gan\", \"critic_steps\": 2}", "{\"kind\": \"adam\", \"lr\": 0.001}",
                   bn_gen, bn_disc, 3);
    }
    ok(train("rA.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "GAN with batch norm, 3 epochs, 1 thread (%s)", rep);
    ok(train("rB.json", 2, 0, 1, rep, sizeof rep) == VARIA_OK, "the same, interrupted after epoch 1 (%s)", rep);
    ok(train("rB.json", 1, 1, 0, rep, sizeof rep) == VARIA_OK && strstr(rep, "\"epochs_this_process\":2"),
       "resumed for the last 2 epochs (%s)", rep);
    ok(train("rC.json", 2, 0, 0, rep, sizeof rep) == VARIA_OK, "the same on 2 threads");
    check_same_run("rA", "rB", 3, "interrupted and resumed = uninterrupted");
    check_same_run("rA", "rC", 3, "2 threads = 1 thread");
}

/* WGAN-GP (loss "wgan_gp", lambda 10 by default): the critic's gradient
 * penalty through the tape. It learns the cluster; 1 and 2 threads, and an
 * interrupted and resumed run, give the same bytes (the mixing weights are
 * keyed by epoch and example, like the noise). */
static void wgan_gp(void)
{
    char rep[1024];
    double mean[2], sd;
    for (int i = 0; i < 3; i++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "gp%c.json", 'A' + i);
        snprintf(out, sizeof out, "gp%c", 'A' + i);
        gan_config(name, out, "{\"kind\": \"gan\", \"loss\": \"wgan_gp\", \"critic_steps\": 5}",
                   "{\"kind\": \"adam\", \"lr\": 0.001, \"beta1\": 0.5, \"beta2\": 0.9, \"eps\": 1e-8}",
                   ", \"activation\": \"relu\"", ", \"activation\": \"leaky_relu\"", 40);
    }
    ok(train("gpA.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "WGAN-GP, Adam, 5 critic steps, 40 epochs, 1 thread "
       "(%s)", rep);
    int good = sample_stats("gpA", mean, &sd);
    ok(good && fabs(mean[0] - 0.8) < 0.1 && fabs(mean[1] - 0.2) < 0.1 && sd < 0.12, /* as close as the WGAN's */
       "its samples move to the cluster: mean (%.3f, %.3f) against (0.8, 0.2), largest sd %.3f (data 0.03)", mean[0],
       mean[1], sd);
    ok(train("gpB.json", 2, 0, 7, rep, sizeof rep) == VARIA_OK, "the same, interrupted after epoch 7 (%s)", rep);
    ok(train("gpB.json", 1, 1, 0, rep, sizeof rep) == VARIA_OK && strstr(rep, "\"epochs_this_process\":33"),
       "resumed for the last 33 epochs (%s)", rep);
    ok(train("gpC.json", 2, 0, 0, rep, sizeof rep) == VARIA_OK, "the same on 2 threads");
    check_same_run("gpA", "gpB", 40, "WGAN-GP interrupted and resumed = uninterrupted");
    check_same_run("gpA", "gpC", 40, "WGAN-GP on 2 threads = 1 thread");
}

static void config_case(const char *what, const char *text, const char *needle)
{
    char rep[1024];
    write_text("bad.json", text);
    varia_status st = train("bad.json", 1, 0, 0, rep, sizeof rep);
    ok(st != VARIA_OK && strstr(rep, needle), "%s -> %s (%s)", what, varia_status_name(st), rep);
}

static void config_errors(void)
{
    char text[4096];
    const char *gan_arch = "\"architecture\": {\"latent\": 2, \"generator\": [{\"type\": \"dense\", \"out\": 2}]%s}";
    char arch[512], data[512];
    snprintf(data, sizeof data, "\"data\": {\"train\": \"%s\", \"validation\": 0, \"binarize\": \"none\"}",
             tp("cluster.amat"));
    snprintf(arch, sizeof arch, gan_arch, "");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\"}, \"output\": \"%s\"}",
             arch, data, tp("e1"));
    config_case("a gan without a discriminator", text, "discriminator");
    snprintf(arch, sizeof arch, gan_arch, ", \"discriminator\": [{\"type\": \"dense\", \"out\": 1}]");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"output\": \"%s\"}", arch, data, tp("e2"));
    config_case("a gan with the default (elbo) objective", text, "objective");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\"}, \"validation\": "
             "{\"every\": 1}, \"output\": \"%s\"}", arch, data, tp("e3"));
    config_case("a gan with validation every epoch", text, "validation");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\", \"k\": 5}, "
             "\"output\": \"%s\"}", arch, data, tp("e4"));
    config_case("objective gan with the ELBO's k", text, "objective.k");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\", \"loss\": "
             "\"hinge\"}, \"output\": \"%s\"}", arch, data, tp("e5"));
    config_case("an unknown gan loss", text, "objective.loss");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\"}, \"optimizer\": "
             "{\"kind\": \"adam\", \"alpha\": 0.9}, \"output\": \"%s\"}", arch, data, tp("e6"));
    config_case("alpha given to adam", text, "alpha");
    snprintf(text, sizeof text, "{\"architecture\": {\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": "
             "[{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]}, %s, \"objective\": {\"kind\": \"gan\"}, "
             "\"output\": \"%s\"}", data, tp("e7"));
    config_case("the gan objective on a vae", text, "discriminator");
    snprintf(arch, sizeof arch, gan_arch, ", \"discriminator\": [{\"type\": \"dense\", \"out\": 1}]");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\", \"loss\": "
             "\"wasserstein\", \"gradient_penalty\": 10}, \"output\": \"%s\"}", arch, data, tp("e8"));
    config_case("gradient_penalty with the wasserstein loss", text, "wgan_gp");
    snprintf(arch, sizeof arch, gan_arch, ", \"discriminator\": [{\"type\": \"dense\", \"out\": 4, \"activation\": "
             "\"tanh\"}, {\"type\": \"dense\", \"out\": 1}]");
    snprintf(text, sizeof text, "{\"family\": \"gan\", %s, %s, \"objective\": {\"kind\": \"gan\", \"loss\": "
             "\"wgan_gp\"}, \"output\": \"%s\"}", arch, data, tp("e9"));
    config_case("wgan_gp with a tanh critic", text, "discriminator[0]");
}

int main(void)
{
    snprintf(train_dir, sizeof train_dir, "/tmp/varia-train-gan-XXXXXX");
    if (!mkdtemp(train_dir)) {
        printf("not ok 1 - a scratch directory\n");
        return 1;
    }
    rmsprop();
    cluster_data();
    learning();
    resume_and_threads();
    wgan_gp();
    config_errors();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", train_dir);
    if (getenv("VARIA_KEEP_TMP"))
        printf("# kept %s\n", train_dir);
    else if (system(cmd) != 0)
        printf("# could not remove %s\n", train_dir);
    return tap_done();
}

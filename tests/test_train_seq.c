/* Training a sequence family (the vrnn family) on the JSB Chorales corpus
 * (../shared/data/music/): minibatches of sequences of unequal lengths padded
 * to each shard's longest, the loss per frame, validation per frame through
 * the runtime; an interrupted and resumed run, and a run on 2 threads, end
 * with the bytes of an uninterrupted one-thread run. */
#include "tap.h"

#include "varia_train.h"
#include "train_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define ok tap_okf

/* A small VRNN (or its `variant`) over the first 48 JSB training sequences,
 * the last 8 held out; `extra`: more top-level keys, each followed by ", ". */
static void config_x(const char *name, const char *out, const char *data, const char *variant, const char *nets,
                     const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{%s\"family\": \"vrnn\", \"architecture\": {\"variant\": \"%s\", \"cell\": \"gru\", \"hidden\": 16, %s"
             "\"phi_x\": [16], \"decoder\": [16], \"likelihood\": {\"type\": \"bernoulli\"}},"
             " \"data\": {\"train\": \"%s\", \"validation\": 8, \"limit\": 48, \"binarize\": \"none\"},"
             " \"objective\": {\"kind\": \"elbo\", \"kl\": \"analytic\", \"warmup_start\": 0.5, \"warmup_steps\": 10},"
             " \"optimizer\": {\"kind\": \"adam\", \"lr\": 0.003, \"clip\": 10},"
             " \"schedule\": {\"kind\": \"constant\", \"epochs\": 3}, \"batch\": 8, \"shards\": 3, \"seed\": 2,"
             " \"validation\": {\"every\": 1, \"k\": 4}, \"output\": \"%s\"}",
             extra, variant, nets, data, tp(out));
    FILE *f = fopen(tp(name), "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void config(const char *name, const char *out, const char *data, const char *variant, const char *nets)
{
    config_x(name, out, data, variant, nets, "");
}

static double field(const char *report, const char *key)
{
    const char *p = strstr(report, key);
    return p ? atof(p + strlen(key) + 1) : NAN;
}

int main(void)
{
    const char *data = "../shared/data/music/jsb_chorales_train.npz";
    char path[600], rep[2048];
    snprintf(path, sizeof path, "%s/%s", getenv("VARIA_SOURCE_ROOT") ? getenv("VARIA_SOURCE_ROOT") : ".", data);
    snprintf(train_dir, sizeof train_dir, "/tmp/varia-train-seq-XXXXXX");
    if (!mkdtemp(train_dir)) {
        printf("not ok 1 - a scratch directory\n");
        return 1;
    }
    if (access(path, R_OK) != 0) {
        tap_skip("sequence training", "../shared/data/music is not beside the project");
        return tap_done();
    }
    const char *vrnn = "\"latent\": 4, \"phi_z\": [8], \"prior\": [8], \"encoder\": [8], ";
    for (int i = 0; i < 3; i++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "r%c.json", 'A' + i);
        snprintf(out, sizeof out, "r%c", 'A' + i);
        config(name, out, path, "vrnn", vrnn);
    }
    ok(train("rA.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "VRNN on 40 JSB sequences, 3 epochs (%s)", rep);
    double v = field(rep, "\"best_validation_bound\"");
    ok(v < -2.0 && v > -61.0, "validation log p per frame %.3f: between a perfect model and a coin per note (-61.0)",
       v);
    ok(train("rB.json", 2, 0, 1, rep, sizeof rep) == VARIA_OK, "the same, 2 threads, interrupted after epoch 1 (%s)",
       rep);
    ok(train("rB.json", 1, 1, 0, rep, sizeof rep) == VARIA_OK && strstr(rep, "\"epochs_this_process\":2"),
       "resumed on 1 thread for the last 2 epochs (%s)", rep);
    ok(train("rC.json", 2, 0, 0, rep, sizeof rep) == VARIA_OK, "the same on 2 threads (%s)", rep);
    check_same_run("rA", "rB", 3, "interrupted and resumed = uninterrupted");
    check_same_run("rA", "rC", 3, "2 threads = 1 thread");
    /* truncated BPTT: a window at least as long as every sequence is the
     * whole-sequence training, bit for bit */
    config_x("tA.json", "tA", path, "vrnn", vrnn, "\"tbptt\": 129, ");
    ok(train("tA.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "tbptt 129 (the longest JSB piece) trains (%s)", rep);
    check_same_run("rA", "tA", 3, "tbptt >= the longest sequence = whole sequences");
    /* windows of 16 frames: several optimizer steps per minibatch, the state
     * carried; the same bits on 2 threads and across --resume */
    for (int i = 0; i < 3; i++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "w%c.json", 'A' + i);
        snprintf(out, sizeof out, "w%c", 'A' + i);
        config_x(name, out, path, "vrnn", vrnn, "\"tbptt\": 16, ");
    }
    ok(train("wA.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "tbptt 16, 1 thread (%s)", rep);
    double w = field(rep, "\"best_validation_bound\"");
    ok(w < -2.0 && w > -61.0, "tbptt 16: validation log p per frame %.3f (whole sequences: %.3f)", w, v);
    ok(train("wB.json", 2, 0, 1, rep, sizeof rep) == VARIA_OK && train("wB.json", 1, 1, 0, rep, sizeof rep) ==
       VARIA_OK, "tbptt 16: 2 threads interrupted after epoch 1, resumed on 1 thread (%s)", rep);
    ok(train("wC.json", 2, 0, 0, rep, sizeof rep) == VARIA_OK, "tbptt 16, 2 threads (%s)", rep);
    check_same_run("wA", "wB", 3, "tbptt 16: interrupted and resumed = uninterrupted");
    check_same_run("wA", "wC", 3, "tbptt 16: 2 threads = 1 thread");
    ok(!same_file(tp("wA/model.safetensors"), tp("rA/model.safetensors")),
       "tbptt 16 trains other weights than whole sequences (the windows are real)");
    config_x("wrnn.json", "wrnn", path, "rnn", "", "\"tbptt\": 7, ");
    ok(train("wrnn.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "the RNN ablation with tbptt 7 (%s)", rep);
    char text[1024];
    snprintf(text, sizeof text, "{\"family\": \"vrnn\", \"architecture\": {\"cell\": \"lstm\", \"hidden\": 4, "
             "\"latent\": 2, \"phi_x\": [4], \"phi_z\": [4], \"prior\": [], \"encoder\": [], \"decoder\": [], "
             "\"likelihood\": {\"type\": \"bernoulli\"}}, \"data\": {\"train\": \"%s\", \"limit\": 8, "
             "\"binarize\": \"none\"}, \"objective\": {\"kind\": \"iwae\", \"k\": 2}, \"batch\": 4, "
             "\"tbptt\": 7, \"output\": \"%s\"}", path, tp("wiw"));
    write_text("wiw.json", text);
    ok(train("wiw.json", 1, 0, 0, rep, sizeof rep) == VARIA_ERR_MANIFEST && strstr(rep, "tbptt"),
       "tbptt with the IWAE objective is refused (%s)", rep);
    config("rnn.json", "rnn", path, "rnn", "");
    ok(train("rnn.json", 1, 0, 0, rep, sizeof rep) == VARIA_OK, "the RNN ablation trains too (%s)", rep);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", train_dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", train_dir);
    return tap_done();
}

/* The training configuration (docs/training.md): parsed and checked in one
 * place, so every later stage can trust it. */
#ifndef VARIA_TRAIN_CONFIG_H
#define VARIA_TRAIN_CONFIG_H

#include "varia.h"

#include <cjson/cJSON.h>
#include <stdint.h>

enum { TR_BIN_DYNAMIC, TR_BIN_THRESHOLD, TR_BIN_NONE, TR_BIN_DEQUANTIZE };
enum { TR_OPT_ADAM, TR_OPT_SGD, TR_OPT_RMSPROP };
enum { TR_SCHED_CONSTANT, TR_SCHED_IWAE, TR_SCHED_STEP, TR_SCHED_EXP };

typedef struct tr_config {
    cJSON *root;        /* owns the parsed file; arch points into it */
    const cJSON *arch;
    char family[16];    /* the model family (a manifest's "family"), default "vae" */
    char train_path[1024], output[1024];
    int64_t validation, limit;
    int binarize;
    int objective;      /* TR_OBJ_* */
    int64_t k;
    double beta0, free_bits;
    /* objective "gan" (TR_OBJ_GAN): the generator's loss, discriminator
     * updates per generator update, the WGAN critic's weight clip, and
     * WGAN-GP's penalty weight lambda */
    int gan_loss; /* TR_GAN_* (model.h) */
    int64_t critic_steps;
    double weight_clip, gradient_penalty;
    int64_t warmup_steps;
    int opt;
    double lr, beta1, beta2, adam_eps, momentum, clip;
    int sched;
    int64_t epochs, stages, step_every;
    double epoch_scale, gamma;
    int64_t batch, shards;
    int64_t tbptt;      /* sequences: frames per window of truncated BPTT (0: whole sequences) */
    uint64_t seed;
    int he, output_bias;
    int64_t val_every, val_k, patience, ckpt_every;
} tr_config;

/* Parse path into c (c->root must later go to tr_config_free). */
varia_status tr_config_load(varia_ctx *ctx, const char *path, tr_config *c);
void tr_config_free(tr_config *c);

/* The planned number of epochs, and the learning rate of 0-based epoch e. */
int64_t tr_config_epochs(const tr_config *c);
double tr_config_lr(const tr_config *c, int64_t e);

#endif

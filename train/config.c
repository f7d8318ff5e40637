/* Parse and check the training configuration. Every key has a default
 * except the architecture, the training data and the output; a misspelt key
 * is an error (VARIA_ERR_MANIFEST naming it), because a silently ignored
 * training option wastes hours. */
#include "config.h"

#include "ctx.h"
#include "gzfile.h"
#include "json.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_CAP ((size_t)1 << 20)

static varia_status unknown_keys(varia_ctx *ctx, const cJSON *obj, const char *where, const char *const *known)
{
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next) {
        int ok = 0;
        for (int i = 0; known[i] && !ok; i++)
            ok = it->string && !strcmp(it->string, known[i]);
        if (!ok)
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: unknown key \"%s.%.60s\"", where,
                              it->string ? it->string : "?");
    }
    return VARIA_OK;
}

static varia_status get_num(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key, double lo,
                            double hi, double *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j)
        return VARIA_OK;
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"%s.%s\" must be a number in [%g, %g]", where, key, lo, hi);
    *out = j->valuedouble;
    return VARIA_OK;
}

static varia_status get_int(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key, int64_t lo,
                            int64_t hi, int64_t *out)
{
    double v = (double)*out;
    varia_status st = get_num(ctx, obj, where, key, (double)lo, (double)hi, &v);
    if (st == VARIA_OK && v != floor(v))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"%s.%s\" must be an integer", where, key);
    *out = (int64_t)v;
    return st;
}

/* String member key of obj, one of names[] (index into *out); absent keeps *out. */
static varia_status get_enum(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                             const char *const *names, int *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j)
        return VARIA_OK;
    const char *s = cJSON_GetStringValue(j);
    for (int i = 0; s && names[i]; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return VARIA_OK;
        }
    return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"%s.%s\" has an unknown value", where, key);
}

static varia_status get_path(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key, char *dst,
                             size_t cap)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
    if (!s || !*s || strlen(s) >= cap)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"%s.%s\" must be a path", where, key);
    memcpy(dst, s, strlen(s) + 1);
    return VARIA_OK;
}

static varia_status parse_data(varia_ctx *ctx, const cJSON *d, tr_config *c)
{
    static const char *const known[] = {"train", "validation", "binarize", "limit", NULL};
    static const char *const bins[] = {"dynamic", "threshold", "none", "dequantize", NULL};
    if (!cJSON_IsObject(d))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"data\" must be an object");
    varia_status st = unknown_keys(ctx, d, "data", known);
    if (st == VARIA_OK)
        st = get_path(ctx, d, "data", "train", c->train_path, sizeof c->train_path);
    if (st == VARIA_OK)
        st = get_int(ctx, d, "data", "validation", 0, INT32_MAX, &c->validation);
    if (st == VARIA_OK)
        st = get_int(ctx, d, "data", "limit", 0, INT32_MAX, &c->limit);
    if (st == VARIA_OK)
        st = get_enum(ctx, d, "data", "binarize", bins, &c->binarize);
    return st;
}

/* objective "gan": its own keys (docs/training.md, "GAN"). The loss sets
 * the defaults: the WGAN paper's clip c = 0.01 for "wasserstein", none and
 * the penalty weight lambda = 10 for "wgan_gp" (Gulrajani et al.'s). */
static varia_status parse_gan_objective(varia_ctx *ctx, const cJSON *o, tr_config *c)
{
    static const char *const known[] = {"kind", "loss", "critic_steps", "weight_clip", "gradient_penalty", NULL};
    static const char *const losses[] = {"non_saturating", "wasserstein", "wgan_gp", NULL};
    varia_status st = unknown_keys(ctx, o, "objective", known);
    if (st == VARIA_OK)
        st = get_enum(ctx, o, "objective", "loss", losses, &c->gan_loss);
    if (st == VARIA_OK)
        st = get_int(ctx, o, "objective", "critic_steps", 1, 100, &c->critic_steps);
    if (c->gan_loss == TR_GAN_WASSERSTEIN)
        c->weight_clip = 0.01; /* the WGAN paper's c */
    if (c->gan_loss == TR_GAN_WGAN_GP)
        c->gradient_penalty = 10.0;
    if (st == VARIA_OK)
        st = get_num(ctx, o, "objective", "weight_clip", 0.0, 1e3, &c->weight_clip);
    if (st == VARIA_OK && c->gan_loss != TR_GAN_WGAN_GP && cJSON_GetObjectItemCaseSensitive(o, "gradient_penalty"))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"objective.gradient_penalty\" belongs to the "
                        "\"wgan_gp\" loss");
    if (st == VARIA_OK)
        st = get_num(ctx, o, "objective", "gradient_penalty", 0.0, 1e6, &c->gradient_penalty);
    c->objective = TR_OBJ_GAN;
    return st;
}

static varia_status parse_objective(varia_ctx *ctx, const cJSON *o, tr_config *c)
{
    static const char *const known[] = {"kind", "k", "kl", "warmup_start", "warmup_steps", "free_bits", NULL};
    static const char *const kinds[] = {"elbo", "iwae", "gan", NULL};
    static const char *const kls[] = {"analytic", "monte_carlo", NULL};
    int kind = 0, kl = 0;
    varia_status st = get_enum(ctx, o, "objective", "kind", kinds, &kind);
    if (st == VARIA_OK && kind == 2)
        return parse_gan_objective(ctx, o, c);
    if (st == VARIA_OK)
        st = unknown_keys(ctx, o, "objective", known);
    if (st == VARIA_OK)
        st = get_enum(ctx, o, "objective", "kl", kls, &kl);
    if (st == VARIA_OK)
        st = get_int(ctx, o, "objective", "k", 1, 100000, &c->k);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "objective", "warmup_start", 0.0, 1.0, &c->beta0);
    if (st == VARIA_OK)
        st = get_int(ctx, o, "objective", "warmup_steps", 0, INT64_MAX / 2, &c->warmup_steps);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "objective", "free_bits", 0.0, 100.0, &c->free_bits);
    if (st != VARIA_OK)
        return st;
    c->objective = kind == 1 ? TR_OBJ_IWAE : kl == 0 ? TR_OBJ_ELBO_ANALYTIC : TR_OBJ_ELBO_MC;
    if (c->free_bits > 0.0 && c->objective != TR_OBJ_ELBO_ANALYTIC)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"objective.free_bits\" needs the ELBO with analytic KL");
    return VARIA_OK;
}

static varia_status parse_optimizer(varia_ctx *ctx, const cJSON *o, tr_config *c)
{
    static const char *const known[] = {"kind", "lr", "beta1", "beta2", "alpha", "eps", "momentum", "clip", NULL};
    static const char *const kinds[] = {"adam", "sgd", "rmsprop", NULL};
    varia_status st = unknown_keys(ctx, o, "optimizer", known);
    if (st == VARIA_OK)
        st = get_enum(ctx, o, "optimizer", "kind", kinds, &c->opt);
    if (st == VARIA_OK && c->opt == TR_OPT_RMSPROP) { /* PyTorch's defaults; alpha is kept in beta2 */
        c->beta2 = 0.99;
        c->adam_eps = 1e-8;
        st = get_num(ctx, o, "optimizer", "alpha", 0.0, 0.999999999, &c->beta2);
    } else if (st == VARIA_OK && cJSON_GetObjectItemCaseSensitive(o, "alpha")) {
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"optimizer.alpha\" belongs to rmsprop");
    }
    if (st == VARIA_OK)
        st = get_num(ctx, o, "optimizer", "lr", 0.0, 10.0, &c->lr);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "optimizer", "beta1", 0.0, 0.999999, &c->beta1);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "optimizer", "beta2", 0.0, 0.999999999, &c->beta2);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "optimizer", "eps", 1e-12, 1.0, &c->adam_eps);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "optimizer", "momentum", 0.0, 0.999999, &c->momentum);
    if (st == VARIA_OK)
        st = get_num(ctx, o, "optimizer", "clip", 0.0, 1e30, &c->clip);
    return st;
}

static varia_status parse_schedule(varia_ctx *ctx, const cJSON *s, tr_config *c)
{
    static const char *const known[] = {"kind", "epochs", "stages", "epoch_scale", "every", "gamma", NULL};
    static const char *const kinds[] = {"constant", "iwae", "step", "exponential", NULL};
    varia_status st = unknown_keys(ctx, s, "schedule", known);
    if (st == VARIA_OK)
        st = get_enum(ctx, s, "schedule", "kind", kinds, &c->sched);
    if (st == VARIA_OK)
        st = get_int(ctx, s, "schedule", "epochs", 1, 10000000, &c->epochs);
    if (st == VARIA_OK)
        st = get_int(ctx, s, "schedule", "stages", 1, 12, &c->stages);
    if (st == VARIA_OK)
        st = get_num(ctx, s, "schedule", "epoch_scale", 1e-6, 1e3, &c->epoch_scale);
    if (st == VARIA_OK)
        st = get_int(ctx, s, "schedule", "every", 1, 10000000, &c->step_every);
    if (st == VARIA_OK)
        st = get_num(ctx, s, "schedule", "gamma", 0.0, 1.0, &c->gamma);
    return st;
}

static varia_status parse_rest(varia_ctx *ctx, const cJSON *r, tr_config *c)
{
    static const char *const inits[] = {"glorot", "he", NULL};
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(r, "init");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(r, "validation");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(r, "output_bias_from_data");
    static const char *const vknown[] = {"every", "k", "patience", NULL};
    varia_status st = get_int(ctx, r, "config", "batch", 1, 100000, &c->batch);
    if (st == VARIA_OK)
        st = get_int(ctx, r, "config", "shards", 1, 64, &c->shards);
    if (st == VARIA_OK)
        st = get_int(ctx, r, "config", "tbptt", 0, INT32_MAX, &c->tbptt);
    int64_t seed = (int64_t)c->seed;
    if (st == VARIA_OK)
        st = get_int(ctx, r, "config", "seed", 0, INT64_MAX / 2, &seed);
    c->seed = (uint64_t)seed;
    if (st == VARIA_OK)
        st = get_enum(ctx, r, "config", "init", inits, &c->he);
    if (init && st == VARIA_OK && !cJSON_IsString(init))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"init\" must be \"glorot\" or \"he\"");
    if (ob && st == VARIA_OK) {
        if (!cJSON_IsBool(ob))
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"output_bias_from_data\" must be true or false");
        c->output_bias = cJSON_IsTrue(ob);
    }
    if (val && st == VARIA_OK)
        st = unknown_keys(ctx, val, "validation", vknown);
    if (st == VARIA_OK)
        st = get_int(ctx, val, "validation", "every", 0, 10000000, &c->val_every);
    if (st == VARIA_OK)
        st = get_int(ctx, val, "validation", "k", 1, 100000, &c->val_k);
    if (st == VARIA_OK)
        st = get_int(ctx, val, "validation", "patience", 0, 10000000, &c->patience);
    if (st == VARIA_OK)
        st = get_int(ctx, r, "config", "checkpoint_every", 1, 10000000, &c->ckpt_every);
    return st;
}

static void defaults(tr_config *c)
{
    memset(c, 0, sizeof *c);
    c->binarize = TR_BIN_DYNAMIC;
    c->k = 1;
    c->beta0 = 1.0;
    c->lr = 1e-3;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->adam_eps = 1e-4;
    c->sched = TR_SCHED_CONSTANT;
    c->epochs = 10;
    c->stages = 8;
    c->epoch_scale = 1.0;
    c->step_every = 1;
    c->gamma = 1.0;
    c->batch = 20;
    c->shards = 2;
    c->seed = 1;
    c->output_bias = 1;
    c->val_every = 1;
    c->val_k = 100;
    c->ckpt_every = 1;
    c->critic_steps = 1;
}

static varia_status parse_root(varia_ctx *ctx, tr_config *c)
{
    static const char *const known[] = {"family", "architecture", "data", "objective", "optimizer", "schedule",
                                        "batch", "shards", "tbptt", "seed", "init", "output_bias_from_data", "validation",
                                        "checkpoint_every", "output", NULL};
    const cJSON *r = c->root;
    const cJSON *part;
    varia_status st = unknown_keys(ctx, r, "config", known);
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(r, "family");
    if (fam && !cJSON_IsString(fam))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"family\" must be a string (a family name, as in a manifest)");
    snprintf(c->family, sizeof c->family, "%s", fam ? fam->valuestring : "vae");
    c->arch = cJSON_GetObjectItemCaseSensitive(r, "architecture");
    if (st == VARIA_OK && !cJSON_IsObject(c->arch))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"architecture\" (as in a manifest) is required");
    if (st == VARIA_OK)
        st = parse_data(ctx, cJSON_GetObjectItemCaseSensitive(r, "data"), c);
    if (st == VARIA_OK && (part = cJSON_GetObjectItemCaseSensitive(r, "objective")))
        st = parse_objective(ctx, part, c);
    if (st == VARIA_OK && (part = cJSON_GetObjectItemCaseSensitive(r, "optimizer")))
        st = parse_optimizer(ctx, part, c);
    if (st == VARIA_OK && (part = cJSON_GetObjectItemCaseSensitive(r, "schedule")))
        st = parse_schedule(ctx, part, c);
    if (st == VARIA_OK)
        st = parse_rest(ctx, r, c);
    if (st == VARIA_OK)
        st = get_path(ctx, r, "config", "output", c->output, sizeof c->output - 64);
    if (st == VARIA_OK && c->batch < c->shards)
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"batch\" (%lld) is smaller than \"shards\" (%lld)",
                        (long long)c->batch, (long long)c->shards);
    return st;
}

varia_status tr_config_load(varia_ctx *ctx, const char *path, tr_config *c)
{
    defaults(c);
    unsigned char *text = NULL;
    size_t len = 0;
    varia_status st = varia_read_whole_file(ctx, path, CONFIG_CAP, &text, &len);
    if (st != VARIA_OK)
        return st;
    st = varia_json_parse_strict(ctx, (const char *)text, len, path, "config", 0, &c->root);
    free(text);
    if (st != VARIA_OK)
        return st;
    if (!cJSON_IsObject(c->root)) {
        cJSON_Delete(c->root);
        c->root = NULL;
        return varia_fail(ctx, VARIA_ERR_JSON, "config '%s' is not a JSON object", path);
    }
    st = parse_root(ctx, c);
    if (st != VARIA_OK)
        tr_config_free(c);
    return st;
}

void tr_config_free(tr_config *c)
{
    cJSON_Delete(c->root);
    c->root = NULL;
}

static int64_t stage_epochs(const tr_config *c, int64_t i)
{
    double e = pow(3.0, (double)i) * c->epoch_scale;
    return e < 1.0 ? 1 : (int64_t)llround(e);
}

int64_t tr_config_epochs(const tr_config *c)
{
    if (c->sched != TR_SCHED_IWAE)
        return c->epochs;
    int64_t n = 0;
    for (int64_t i = 0; i < c->stages; i++)
        n += stage_epochs(c, i);
    return n;
}

double tr_config_lr(const tr_config *c, int64_t e)
{
    switch (c->sched) {
    case TR_SCHED_IWAE:
        for (int64_t i = 0; i < c->stages; i++) {
            if (e < stage_epochs(c, i))
                return c->lr * pow(10.0, -(double)i / 7.0);
            e -= stage_epochs(c, i);
        }
        return c->lr * pow(10.0, -(double)(c->stages - 1) / 7.0);
    case TR_SCHED_STEP: return c->lr * pow(c->gamma, (double)(e / c->step_every));
    case TR_SCHED_EXP: return c->lr * pow(c->gamma, (double)e);
    default: return c->lr;
    }
}

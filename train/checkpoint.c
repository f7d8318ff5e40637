/* Checkpoints: OUTPUT/checkpoint/ holds a loadable model whose manifest also
 * carries a "training" object (epochs done, optimizer step, best validation,
 * the configuration) and names an optimizer-state file. Weights and optimizer
 * files carry the epoch in their names and the manifest is renamed into place
 * last, so a run killed at any instant leaves the previous checkpoint whole. */
#include "trainer.h"

#include "ctx.h"
#include "gzfile.h"
#include "json.h"
#include "save.h"
#include "weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_CAP ((size_t)4 << 20)

cJSON *tr_data_meta(const varia_trainer *t)
{
    static const char *const bins[] = {"dynamic", "threshold", "none", "dequantize"};
    cJSON *d = cJSON_CreateObject(), *shape = cJSON_CreateArray();
    const varia_shape *s = &t->data.set.shape;
    for (int i = 0; i < s->rank; i++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)s->dims[i]));
    cJSON_AddItemToObject(d, "shape", shape);
    cJSON_AddStringToObject(d, "kind", t->mdl.info.likelihood == VARIA_LIK_BERNOULLI ? "binary" : "continuous");
    cJSON_AddStringToObject(d, "binarization", bins[t->c.binarize]);
    return d;
}

cJSON *tr_provenance(const varia_trainer *t, double wall)
{
    cJSON *p = cJSON_CreateObject(), *e = cJSON_CreateObject();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "varia train %s", t->config_path);
    cJSON_AddStringToObject(p, "trainer", "varia train (libvaria_train)");
    cJSON_AddStringToObject(p, "command", cmd);
    cJSON_AddNumberToObject(e, "run", (double)t->epoch);
    cJSON_AddNumberToObject(e, "planned", (double)tr_config_epochs(&t->c));
    cJSON_AddNumberToObject(e, "best", (double)t->best_epoch);
    cJSON_AddItemToObject(p, "epochs", e);
    if (isfinite(t->best_val)) {
        cJSON_AddNumberToObject(p, "best_valid_bound", t->best_val);
        cJSON_AddNumberToObject(p, "valid_k", (double)t->c.val_k);
        cJSON_AddNumberToObject(p, "valid_examples", (double)t->data.n_val);
    }
    cJSON_AddNumberToObject(p, "wall_time_s", wall);
    cJSON_AddItemToObject(p, "config", cJSON_Duplicate(t->c.root, 1));
    return p;
}

static cJSON *training_state(const varia_trainer *t, double wall, const char *opt_file)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "epochs_done", (double)t->epoch);
    cJSON_AddNumberToObject(s, "optimizer_steps", (double)t->opt.t);
    if (t->c.objective == TR_OBJ_GAN)
        cJSON_AddNumberToObject(s, "critic_steps_done", (double)t->d_steps);
    cJSON_AddNumberToObject(s, "bad_validations", (double)t->bad_vals);
    cJSON_AddNumberToObject(s, "best_epoch", (double)t->best_epoch);
    if (isfinite(t->best_val)) /* JSON has no -inf: absent means none yet */
        cJSON_AddNumberToObject(s, "best_valid_bound", t->best_val);
    cJSON_AddNumberToObject(s, "wall_time_s", wall);
    cJSON_AddStringToObject(s, "optimizer_file", opt_file);
    cJSON_AddItemToObject(s, "config", cJSON_Duplicate(t->c.root, 1));
    return s;
}

varia_status tr_checkpoint_save(varia_ctx *ctx, varia_trainer *t, double wall)
{
    char dir[1100], path[1200], wname[64], oname[64];
    snprintf(dir, sizeof dir, "%s/checkpoint", t->c.output);
    snprintf(wname, sizeof wname, "model-%06lld.safetensors", (long long)t->epoch);
    snprintf(oname, sizeof oname, "optimizer-%06lld.safetensors", (long long)t->epoch);
    varia_status st = tr_make_dir(ctx, t->c.output);
    if (st == VARIA_OK)
        st = tr_make_dir(ctx, dir);
    tr_tensor_out o[2] = {{"m", 1, {t->mdl.P, 0}, t->opt.m}, {"v", 1, {t->mdl.P, 0}, t->opt.v}};
    snprintf(path, sizeof path, "%s/%s", dir, oname);
    if (st == VARIA_OK)
        st = tr_write_safetensors(ctx, path, o, t->opt.v ? 2 : 1);
    if (st != VARIA_OK)
        return st;
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddItemToObject(extra, "provenance", tr_provenance(t, wall));
    cJSON_AddItemToObject(extra, "training", training_state(t, wall, oname));
    st = tr_save_model(ctx, dir, &t->mdl, t->c.arch, t->theta, wname, tr_data_meta(t), extra);
    if (st == VARIA_OK && t->epoch > 0) { /* the previous checkpoint's files */
        for (int64_t e = t->epoch - 1; e >= 0 && e >= t->epoch - t->c.ckpt_every; e--) {
            snprintf(path, sizeof path, "%s/model-%06lld.safetensors", dir, (long long)e);
            remove(path);
            snprintf(path, sizeof path, "%s/optimizer-%06lld.safetensors", dir, (long long)e);
            remove(path);
        }
    }
    return st;
}

/* Copy tensor `name` of exactly n floats from w into dst. */
static varia_status take(varia_ctx *ctx, const varia_weights *w, const char *name, int64_t n, float *dst)
{
    const varia_tensor *x = varia_weights_find(w, name);
    if (!x || x->numel != n)
        return varia_fail(ctx, VARIA_ERR_SHAPE, "checkpoint: tensor '%s' is missing or not %lld values", name,
                          (long long)n);
    memcpy(dst, x->data, (size_t)n * sizeof(float));
    return VARIA_OK;
}

static varia_status load_tensors(varia_ctx *ctx, varia_trainer *t, const char *dir, const cJSON *root,
                                 const char *opt_file)
{
    char path[1300];
    const char *wfile = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "weights"), "file"));
    if (!wfile || strchr(wfile, '/') || !opt_file || strchr(opt_file, '/'))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "checkpoint: bad weights or optimizer file name in %s", dir);
    varia_weights w;
    snprintf(path, sizeof path, "%s/%s", dir, wfile);
    varia_status st = varia_weights_open(ctx, path, NULL, &w);
    if (st != VARIA_OK)
        return st;
    for (int i = 0; st == VARIA_OK && i < t->mdl.decl.n_t; i++) {
        const varia_decl_tensor *d = &t->mdl.decl.t[i];
        st = take(ctx, &w, d->name, varia_decl_numel(d), t->theta + t->mdl.off[i]);
    }
    varia_weights_close(&w);
    snprintf(path, sizeof path, "%s/%s", dir, opt_file);
    if (st == VARIA_OK)
        st = varia_weights_open(ctx, path, NULL, &w);
    if (st != VARIA_OK)
        return st;
    st = take(ctx, &w, "m", t->mdl.P, t->opt.m);
    if (st == VARIA_OK && t->opt.v)
        st = take(ctx, &w, "v", t->mdl.P, t->opt.v);
    varia_weights_close(&w);
    return st;
}

static double num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? j->valuedouble : dflt;
}

varia_status tr_checkpoint_resume(varia_ctx *ctx, varia_trainer *t, int *found)
{
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/checkpoint", t->c.output);
    snprintf(path, sizeof path, "%s/model.json", dir);
    *found = varia_path_exists(path);
    if (!*found)
        return VARIA_OK;
    uint8_t *text = NULL;
    size_t len = 0;
    varia_status st = varia_read_whole_file(ctx, path, MANIFEST_CAP, &text, &len);
    if (st != VARIA_OK)
        return st;
    cJSON *root = NULL;
    st = varia_json_parse_strict(ctx, (const char *)text, len, path, "checkpoint", 0, &root);
    free(text);
    if (st != VARIA_OK)
        return st;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "training");
    if (!cJSON_IsObject(s))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "checkpoint '%s' has no \"training\" state", path);
    else if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(s, "config"), t->c.root, 1))
        st = varia_fail(ctx, VARIA_ERR_ARG, "checkpoint '%s' was made with a different configuration; resume with "
                        "the same one, or choose another output", path);
    if (st == VARIA_OK)
        st = load_tensors(ctx, t, dir, root,
                          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "optimizer_file")));
    if (st == VARIA_OK) {
        t->epoch = (int64_t)num(s, "epochs_done", 0);
        t->opt.t = (int64_t)num(s, "optimizer_steps", 0);
        t->d_steps = (int64_t)num(s, "critic_steps_done", 0);
        t->bad_vals = (int64_t)num(s, "bad_validations", 0);
        t->best_epoch = (int64_t)num(s, "best_epoch", 0);
        t->best_val = num(s, "best_valid_bound", -INFINITY);
        t->wall_before = num(s, "wall_time_s", 0);
    }
    cJSON_Delete(root);
    return st;
}

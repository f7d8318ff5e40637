/* Parse a VAE/IWAE architecture for training and lay its tensors out in one
 * flat parameter vector, in the format's names (docs/format.md 2.1). */
#include "arch.h"

#include "ctx.h"
#include "family.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define WIDTH_CAP 65536
#define STREAM_INIT 101

static int add_tensor(tr_layout *lay, const char *name, int64_t rows, int64_t cols)
{
    int i = lay->n_tensors++;
    snprintf(lay->t[i].name, sizeof lay->t[i].name, "%s", name);
    lay->t[i].rows = rows;
    lay->t[i].cols = cols;
    lay->t[i].off = lay->P;
    lay->P += rows * (cols ? cols : 1);
    return i;
}

/* prefix.name.weight [out, in] and .bias [out] as one linear layer. */
static int add_linear(tr_layout *lay, const char *prefix, const char *name, int64_t in, int64_t out)
{
    char full[48];
    int i = lay->n_lin++;
    snprintf(full, sizeof full, "%s.%s.weight", prefix, name);
    int w = add_tensor(lay, full, out, in);
    snprintf(full, sizeof full, "%s.%s.bias", prefix, name);
    int b = add_tensor(lay, full, out, 0);
    lay->lin[i].in = in;
    lay->lin[i].out = out;
    lay->lin[i].w_off = lay->t[w].off;
    lay->lin[i].b_off = lay->t[b].off;
    return i;
}

static void add_mlp(tr_layout *lay, tr_mlp *m, const char *prefix, int64_t in, const int64_t *widths, int n,
                    int64_t out, const char *mean, int scale)
{
    char name[24];
    m->n_hidden = n;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "hidden.%d", i);
        m->hidden[i] = add_linear(lay, prefix, name, i ? widths[i - 1] : in, widths[i]);
    }
    int64_t h = n ? widths[n - 1] : in;
    m->mean = add_linear(lay, prefix, mean, h, out);
    m->scale = scale ? add_linear(lay, prefix, "scale", h, out) : -1;
}

static varia_status parse_likelihood(varia_ctx *ctx, const cJSON *arch, tr_layout *lay)
{
    const cJSON *lik = cJSON_GetObjectItemCaseSensitive(arch, "likelihood");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lik, "type"));
    const char *var = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lik, "variance"));
    if (!type)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"likelihood\" needs a \"type\"");
    if (!strcmp(type, "bernoulli")) {
        lay->lik = TR_LIK_BERNOULLI;
        return VARIA_OK;
    }
    if (strcmp(type, "gaussian"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: unknown type '%.40s'", type);
    lay->lik = TR_LIK_GAUSSIAN;
    if (var && !strcmp(var, "learned")) {
        lay->var = TR_VAR_LEARNED;
        return VARIA_OK;
    }
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(lik, "log_var");
    if (var && !strcmp(var, "fixed") && cJSON_IsNumber(lv) && fabs(lv->valuedouble) <= 100.0) {
        lay->var = TR_VAR_FIXED;
        lay->fixed_logvar = (float)lv->valuedouble;
        return VARIA_OK;
    }
    return varia_fail(ctx, VARIA_ERR_UNSUPPORTED,
                      "train: gaussian likelihood needs variance \"learned\" or \"fixed\" with a log_var in [-100, 100] "
                      "(the trainer does not learn a decoder variance head)");
}

static varia_status parse_layer(varia_ctx *ctx, const cJSON *arch, const cJSON *layer, int l, varia_act dflt,
                                tr_layout *lay)
{
    char where[32], prefix[16];
    snprintf(where, sizeof where, "layers[%d]", l);
    if (!cJSON_IsObject(layer))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s is not an object", where);
    int64_t enc_w[TR_MAX_HIDDEN], dec_w[TR_MAX_HIDDEN];
    int ne = 0, nd = 0;
    varia_act act = dflt;
    varia_status st = varia_json_int(ctx, layer, where, "latent", 1, 0, 1, WIDTH_CAP, &lay->lat[l]);
    if (st == VARIA_OK)
        st = varia_json_int_array(ctx, layer, where, "encoder", 1, WIDTH_CAP, TR_MAX_HIDDEN, enc_w, &ne);
    if (st == VARIA_OK)
        st = varia_json_int_array(ctx, layer, where, "decoder", 1, WIDTH_CAP, TR_MAX_HIDDEN, dec_w, &nd);
    if (st == VARIA_OK)
        st = varia_json_act(ctx, layer, arch, where, dflt, &act);
    if (st != VARIA_OK)
        return st;
    int64_t below = l ? lay->lat[l - 1] : lay->D;
    lay->noise += lay->lat[l];
    snprintf(prefix, sizeof prefix, "enc%d", l + 1);
    add_mlp(lay, &lay->enc[l], prefix, below, enc_w, ne, lay->lat[l], "mean", 1);
    snprintf(prefix, sizeof prefix, "dec%d", l + 1);
    add_mlp(lay, &lay->dec[l], prefix, lay->lat[l], dec_w, nd, below, l ? "mean" : "out", l > 0);
    lay->enc[l].act = lay->dec[l].act = act;
    return VARIA_OK;
}

varia_status tr_layout_build(varia_ctx *ctx, const cJSON *arch, int64_t D, tr_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    lay->D = D;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(arch, "layers");
    const char *scale = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(arch, "posterior_scale"));
    if (!cJSON_IsObject(arch) || !cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 ||
        cJSON_GetArraySize(layers) > TR_MAX_LAYERS)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"layers\" must be an array of 1 to %d objects",
                          TR_MAX_LAYERS);
    if (scale && strcmp(scale, "log_var"))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "train: the trainer learns \"posterior_scale\": \"log_var\" heads only");
    varia_act dflt = {VARIA_ACT_TANH, 0.0f};
    varia_status st = varia_json_act(ctx, arch, arch, "architecture", dflt, &dflt);
    if (st == VARIA_OK)
        st = parse_likelihood(ctx, arch, lay);
    lay->L = cJSON_GetArraySize(layers);
    int l = 0;
    for (const cJSON *layer = layers->child; layer && st == VARIA_OK; layer = layer->next, l++)
        st = parse_layer(ctx, arch, layer, l, dflt, lay);
    if (st == VARIA_OK && lay->lik == TR_LIK_GAUSSIAN && lay->var == TR_VAR_LEARNED) {
        lay->logvar_n = 1;
        lay->logvar_off = lay->t[add_tensor(lay, "dec1.logvar", 1, 0)].off;
    }
    if (st == VARIA_OK && lay->P > ((int64_t)1 << 31))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "train: %lld parameters (at most 2^31)", (long long)lay->P);
    return st;
}

void tr_layout_init(const tr_layout *lay, float *theta, uint64_t seed, int he, const float *data_mean,
                    double data_var)
{
    memset(theta, 0, (size_t)lay->P * sizeof(float));
    for (int i = 0; i < lay->n_lin; i++) {
        int64_t in = lay->lin[i].in, out = lay->lin[i].out;
        double limit = he ? sqrt(6.0 / (double)in) : sqrt(6.0 / (double)(in + out));
        varia_rng rng;
        varia_rng_init(&rng, seed, STREAM_INIT, (uint64_t)i, 0);
        for (int64_t j = 0; j < in * out; j++)
            theta[lay->lin[i].w_off + j] = (float)((2.0 * varia_rng_uniform(&rng) - 1.0) * limit);
    }
    if (!data_mean)
        return;
    if (lay->logvar_n && data_var > 0.0)
        theta[lay->logvar_off] = (float)log(data_var);
    float *b = theta + lay->lin[lay->dec[0].mean].b_off;
    for (int64_t d = 0; d < lay->D; d++) {
        double m = data_mean[d];
        if (lay->lik == TR_LIK_BERNOULLI) {
            m = m < 1e-3 ? 1e-3 : m > 1.0 - 1e-3 ? 1.0 - 1e-3 : m;
            m = log(m / (1.0 - m));
        }
        b[d] = (float)m;
    }
}

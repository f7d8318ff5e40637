/* Helpers families use while building from a manifest: typed JSON fields with
 * range checks, and binding tensors against the shapes the architecture needs. */
#include "family.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

varia_status varia_json_int(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                            int required, int64_t dflt, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j) {
        if (required)
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: required key \"%s\" is missing", where, key);
        *out = dflt;
        return VARIA_OK;
    }
    double v = j->valuedouble;
    if (!cJSON_IsNumber(j) || v != floor(v))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: \"%s\" must be an integer", where, key);
    if (v < (double)lo || v > (double)hi)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s: \"%s\" = %.0f is outside [%lld, %lld]", where, key, v,
                          (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return VARIA_OK;
}

varia_status varia_json_int_array(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                                  int64_t lo, int64_t hi, int cap, int64_t *out, int *count)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: \"%s\" must be an array of integers", where, key);
    int n = cJSON_GetArraySize(a);
    if (n > cap)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s: \"%s\" has %d entries, at most %d allowed", where, key, n, cap);
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v != floor(v))
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: \"%s\"[%d] is not an integer", where, key, i);
        if (v < (double)lo || v > (double)hi)
            return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s: \"%s\"[%d] = %.0f is outside [%lld, %lld]", where, key,
                              i, v, (long long)lo, (long long)hi);
        out[i] = (int64_t)v;
    }
    *count = n;
    return VARIA_OK;
}

static varia_status number_or(varia_ctx *ctx, const cJSON *arch, const char *key, float dflt, float *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(arch, key);
    if (!j) {
        *out = dflt;
        return VARIA_OK;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || fabs(j->valuedouble) > 1e6)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"%s\" must be a finite number", key);
    *out = (float)j->valuedouble;
    return VARIA_OK;
}

varia_status varia_json_act(varia_ctx *ctx, const cJSON *obj, const cJSON *arch, const char *where,
                            varia_act dflt, varia_act *out)
{
    static const struct { const char *name; varia_act_kind kind; } names[] = {
        {"identity", VARIA_ACT_IDENTITY}, {"tanh", VARIA_ACT_TANH}, {"relu", VARIA_ACT_RELU},
        {"leaky_relu", VARIA_ACT_LEAKY_RELU}, {"elu", VARIA_ACT_ELU}, {"softplus", VARIA_ACT_SOFTPLUS},
        {"sigmoid", VARIA_ACT_SIGMOID}};
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "activation");
    *out = dflt;
    if (!j)
        return VARIA_OK;
    const char *s = cJSON_GetStringValue(j);
    if (!s)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: \"activation\" must be a string", where);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name))
            continue;
        out->kind = names[i].kind;
        if (out->kind == VARIA_ACT_LEAKY_RELU)
            return number_or(ctx, arch, "leaky_relu_slope", 0.01f, &out->param);
        if (out->kind == VARIA_ACT_ELU)
            return number_or(ctx, arch, "elu_alpha", 1.0f, &out->param);
        return VARIA_OK;
    }
    return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: unknown activation '%.40s'", where, s);
}

void varia_json_warn_unknown(varia_ctx *ctx, const cJSON *obj, const char *where, const char *const *known)
{
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        int found = 0;
        for (const char *const *k = known; *k && !found; k++)
            found = c->string && !strcmp(c->string, *k);
        if (!found)
            varia_warn(ctx, "%s: unknown key \"%.60s\" ignored", where, c->string ? c->string : "");
    }
}

varia_status varia_bind(varia_ctx *ctx, varia_model *m, const char *name, int rank, int64_t d0,
                        int64_t d1, const float **data)
{
    varia_tensor *t = varia_weights_find(&m->w, name);
    if (!t)
        return varia_fail(ctx, VARIA_ERR_MISSING, "tensor '%s' is missing (the architecture needs it)", name);
    int ok = t->rank == rank && t->shape[0] == d0 && (rank == 1 || t->shape[1] == d1);
    if (!ok) {
        char got[96] = "", want[48];
        for (int i = 0; i < t->rank; i++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        }
        if (rank == 1)
            snprintf(want, sizeof want, "%lld", (long long)d0);
        else
            snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
        return varia_fail(ctx, VARIA_ERR_SHAPE, "tensor '%s' has shape [%s], the architecture needs [%s]", name, got, want);
    }
    t->used = 1;
    *data = t->data;
    return VARIA_OK;
}

varia_status varia_bind_linear(varia_ctx *ctx, varia_model *m, const char *prefix, int64_t in,
                               int64_t out, varia_linear *l)
{
    char name[128];
    const float *w, *b;
    snprintf(name, sizeof name, "%s.weight", prefix);
    varia_status st = varia_bind(ctx, m, name, 2, out, in, &w);
    if (st != VARIA_OK)
        return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    if ((st = varia_bind(ctx, m, name, 1, out, 0, &b)) != VARIA_OK)
        return st;
    if (!varia_linear_init(l, w, b, in, out))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot allocate packed weights for '%s'", prefix);
    m->info.n_params += out * in + out;
    return VARIA_OK;
}

/* The family registry, the declaration every family fills, binding a
 * declaration to a model's weights, and the typed JSON helpers families use
 * while parsing an architecture. */
#include "family.h"

#include "passes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- the registry ---- */

const varia_family *varia_family_find(const char *name)
{
    static const varia_family *const families[] = {&varia_family_vae};
    static const char *const aliases[][2] = {{"vae", "vae"}, {"iwae", "vae"}};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        for (size_t f = 0; !strcmp(name, aliases[i][0]) && f < sizeof families / sizeof families[0]; f++)
            if (!strcmp(families[f]->name, aliases[i][1]))
                return families[f];
    return NULL;
}

/* ---- the declaration ---- */

/* Room for one more element of size `size` in *arr (cap doubling). */
static int grow(void **arr, int n, int *cap, size_t size)
{
    if (n < *cap)
        return 1;
    int nc = *cap ? 2 * *cap : 16;
    void *p = realloc(*arr, (size_t)nc * size);
    if (!p)
        return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

int varia_decl_add(varia_decl *d, const char *name, int rank, int64_t d0, int64_t d1, varia_init init,
                   varia_group group)
{
    size_t len = strlen(name);
    if (len >= VARIA_DECL_NAME) /* a family's own names: a bug, never input */
        d->failed = VARIA_DECL_NAME_TOO_LONG;
    if (d->failed || !grow((void **)&d->t, d->n_t, &d->cap_t, sizeof *d->t)) {
        d->failed = d->failed ? d->failed : VARIA_DECL_NO_MEMORY;
        return -1;
    }
    varia_decl_tensor *t = &d->t[d->n_t];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len + 1);
    t->rank = rank;
    t->shape[0] = d0;
    t->shape[1] = rank == 2 ? d1 : 0;
    t->init = init;
    t->group = group;
    return d->n_t++;
}

varia_status varia_decl_fail(varia_ctx *ctx, const varia_decl *d)
{
    if (d->failed == VARIA_DECL_NAME_TOO_LONG)
        return varia_fail(ctx, VARIA_ERR_INTERNAL, "a declared tensor name is longer than %d characters",
                          VARIA_DECL_NAME - 1);
    return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory declaring the model's tensors");
}

int varia_decl_linear_add(varia_decl *d, const char *prefix, int64_t in, int64_t out, varia_group group,
                          int data_input)
{
    char name[VARIA_DECL_NAME + 8];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int w = varia_decl_add(d, name, 2, out, in, VARIA_INIT_FAN, group);
    snprintf(name, sizeof name, "%s.bias", prefix);
    int b = varia_decl_add(d, name, 1, out, 0, VARIA_INIT_ZERO, group);
    if (w < 0 || b < 0 || !grow((void **)&d->lin, d->n_lin, &d->cap_lin, sizeof *d->lin)) {
        d->failed = d->failed ? d->failed : VARIA_DECL_NO_MEMORY;
        return -1;
    }
    d->lin[d->n_lin] = (varia_decl_linear){in, out, w, b, data_input, NULL};
    return d->n_lin++;
}

int64_t varia_decl_params(const varia_decl *d)
{
    int64_t p = 0;
    for (int i = 0; i < d->n_t; i++)
        p += d->t[i].shape[0] * (d->t[i].rank == 2 ? d->t[i].shape[1] : 1);
    return p;
}

float *varia_decl_linear_mask(varia_decl *d, int slot)
{
    varia_decl_linear *l = &d->lin[slot];
    size_t n = (size_t)(l->out * l->in);
    if (!l->mask)
        l->mask = malloc(n * sizeof *l->mask);
    if (!l->mask) {
        d->failed = VARIA_DECL_NO_MEMORY;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        l->mask[i] = 1.0f;
    return l->mask;
}

void varia_decl_free(varia_decl *d)
{
    for (int i = 0; d->lin && i < d->n_lin; i++)
        free(d->lin[i].mask);
    free(d->t);
    free(d->lin);
    memset(d, 0, sizeof *d);
}

/* ---- binding a declaration to the weights ---- */

/* Find declared tensor i in the file, check its shape, mark it used. */
static varia_status bind_tensor(varia_ctx *ctx, varia_model *m, int i)
{
    const varia_decl_tensor *dt = &m->decl.t[i];
    varia_tensor *t = varia_weights_find(&m->w, dt->name);
    if (!t)
        return varia_fail(ctx, VARIA_ERR_MISSING, "tensor '%s' is missing (the architecture needs it)", dt->name);
    int ok = t->rank == dt->rank && (t->shape[0] == dt->shape[0] || (dt->alt && t->shape[0] == dt->alt)) &&
             (dt->rank == 1 || t->shape[1] == dt->shape[1]);
    if (!ok) {
        char got[96] = "", want[64];
        for (int r = 0; r < t->rank; r++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%lld", r ? ", " : "", (long long)t->shape[r]);
        }
        if (dt->rank == 2)
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)dt->shape[0], (long long)dt->shape[1]);
        else if (dt->alt)
            snprintf(want, sizeof want, "[%lld] or [%lld]", (long long)dt->shape[0], (long long)dt->alt);
        else
            snprintf(want, sizeof want, "[%lld]", (long long)dt->shape[0]);
        return varia_fail(ctx, VARIA_ERR_SHAPE, "tensor '%s' has shape [%s], the architecture needs %s", dt->name,
                          got, want);
    }
    t->used = 1;
    m->tensor[i] = t;
    m->info.n_params += t->numel;
    return VARIA_OK;
}

/* Pack linear slot i; a masked slot packs (and keeps, for the BLAS build)
 * its weight times the mask. */
static varia_status pack_linear(varia_ctx *ctx, varia_model *m, int i)
{
    const varia_decl_linear *l = &m->decl.lin[i];
    const float *w = m->tensor[l->weight]->data;
    if (l->mask) {
        size_t n = (size_t)(l->out * l->in);
        if (!m->masked && !(m->masked = calloc((size_t)m->decl.n_lin, sizeof *m->masked)))
            return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
        if (!(m->masked[i] = malloc(n * sizeof(float))))
            return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory masking '%s'", m->decl.t[l->weight].name);
        for (size_t j = 0; j < n; j++)
            m->masked[i][j] = w[j] * l->mask[j];
        w = m->masked[i];
    }
    if (!varia_linear_init(&m->lin[i], w, m->tensor[l->bias]->data, l->in, l->out))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot allocate packed weights for '%s'", m->decl.t[l->weight].name);
    return VARIA_OK;
}

varia_status varia_model_build(varia_ctx *ctx, varia_model *m, const cJSON *arch)
{
    varia_status st = m->family->parse(ctx, arch, &m->info.data_shape, &m->cfg, &m->decl, &m->info);
    if (st != VARIA_OK)
        return st;
    m->tensor = calloc((size_t)m->decl.n_t + 1, sizeof *m->tensor);
    m->lin = calloc((size_t)m->decl.n_lin + 1, sizeof *m->lin);
    if (!m->tensor || !m->lin)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->decl.n_t && st == VARIA_OK; i++)
        st = bind_tensor(ctx, m, i);
    for (int i = 0; i < m->decl.n_lin && st == VARIA_OK; i++)
        st = pack_linear(ctx, m, i);
    return st == VARIA_OK ? varia_passes_measure(ctx, m) : st;
}

void varia_model_release(varia_model *m)
{
    for (int i = 0; m->lin && i < m->decl.n_lin; i++)
        varia_linear_free(&m->lin[i]);
    for (int i = 0; m->masked && i < m->decl.n_lin; i++)
        free(m->masked[i]);
    free(m->masked);
    free(m->lin);
    free(m->tensor);
    varia_decl_free(&m->decl);
    if (m->family && m->cfg)
        m->family->free_cfg(m->cfg);
}

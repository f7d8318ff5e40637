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
    static const varia_family *const families[] = {&varia_family_vae, &varia_family_gan, &varia_family_draw,
                                                   &varia_family_vrnn};
    static const char *const aliases[][2] = {{"vae", "vae"}, {"iwae", "vae"}, {"gan", "gan"}, {"draw", "draw"},
                                                {"vrnn", "vrnn"}};
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

int varia_decl_linear_named(varia_decl *d, const char *weight, const char *bias, int64_t in, int64_t out,
                            float limit, varia_group group, int data_input)
{
    int w = varia_decl_add(d, weight, 2, out, in, limit > 0.0f ? VARIA_INIT_UNIFORM : VARIA_INIT_FAN, group);
    int b = varia_decl_add(d, bias, 1, out, 0, limit > 0.0f ? VARIA_INIT_UNIFORM : VARIA_INIT_ZERO, group);
    if (w < 0 || b < 0 || !grow((void **)&d->lin, d->n_lin, &d->cap_lin, sizeof *d->lin)) {
        d->failed = d->failed ? d->failed : VARIA_DECL_NO_MEMORY;
        return -1;
    }
    d->t[w].init_value = d->t[b].init_value = limit;
    d->lin[d->n_lin] = (varia_decl_linear){.in = in, .out = out, .weight = w, .bias = b, .data_input = data_input};
    return d->n_lin++;
}

int varia_decl_linear_add(varia_decl *d, const char *prefix, int64_t in, int64_t out, varia_group group,
                          int data_input)
{
    char w[VARIA_DECL_NAME + 8], b[VARIA_DECL_NAME + 8];
    snprintf(w, sizeof w, "%s.weight", prefix);
    snprintf(b, sizeof b, "%s.bias", prefix);
    return varia_decl_linear_named(d, w, b, in, out, 0.0f, group, data_input);
}

int varia_decl_conv_add(varia_decl *d, const char *prefix, const varia_conv *g, varia_group group, int data_input)
{
    int64_t kk = g->kh * g->kw;
    /* conv: [out = cout, in = cin kk]; transposed: as stored, [out = cin, in = cout kk] */
    int64_t in = g->transposed ? g->cout * kk : g->cin * kk, out = g->transposed ? g->cin : g->cout;
    int slot = varia_decl_linear_add(d, prefix, in, out, group, data_input && !g->transposed);
    if (slot < 0)
        return -1;
    varia_decl_linear *l = &d->lin[slot];
    varia_decl_tensor *w = &d->t[l->weight], *b = &d->t[l->bias];
    l->kind = g->transposed ? VARIA_SLOT_CONV_T : VARIA_SLOT_CONV;
    l->channels = g->cout;
    l->window = kk;
    /* the output, and the rows of the product: im2col and its result (conv),
     * the input's rows and their product (transposed) */
    l->row_floats = g->cout * g->oh * g->ow +
                    (g->transposed ? g->h * g->w * (g->cin + g->cout * kk) : g->oh * g->ow * (in + out));
    w->rank = 4;
    w->shape[0] = g->transposed ? g->cin : g->cout;
    w->shape[1] = g->transposed ? g->cout : g->cin;
    w->shape[2] = g->kh;
    w->shape[3] = g->kw;
    b->shape[0] = g->cout;
    return slot;
}

int varia_decl_bn_add(varia_decl *d, int slot, const char *prefix, float eps, varia_group group)
{
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    static const varia_init init[4] = {VARIA_INIT_CONST, VARIA_INIT_ZERO, VARIA_INIT_ZERO, VARIA_INIT_CONST};
    char name[VARIA_DECL_NAME + 16];
    int64_t ch = d->lin[slot].channels ? d->lin[slot].channels : d->lin[slot].out;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, part[i]);
        int t = varia_decl_add(d, name, 1, ch, 0, init[i], group);
        if (t < 0)
            return 0;
        d->t[t].init_value = 1.0f; /* gamma and the running variance start at 1, as in PyTorch */
        d->lin[slot].bn[i] = t;
    }
    d->lin[slot].has_bn = 1;
    d->lin[slot].bn_eps = eps;
    return 1;
}

int64_t varia_decl_bn_channels(const varia_decl *d, int slot)
{
    int64_t n = 0;
    for (int i = 0; i < slot; i++)
        if (d->lin[i].has_bn)
            n += d->lin[i].channels ? d->lin[i].channels : d->lin[i].out;
    return n;
}

int64_t varia_decl_numel(const varia_decl_tensor *t)
{
    int64_t n = 1;
    for (int r = 0; r < t->rank; r++)
        n *= t->shape[r];
    return n;
}

int64_t varia_decl_params(const varia_decl *d)
{
    int64_t p = 0;
    for (int i = 0; i < d->n_t; i++)
        p += varia_decl_numel(&d->t[i]);
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
    int ok = t->rank == dt->rank && (t->shape[0] == dt->shape[0] || (dt->alt && t->shape[0] == dt->alt));
    for (int r = 1; r < dt->rank; r++)
        ok = ok && t->shape[r] == dt->shape[r];
    if (!ok) {
        char got[96] = "", want[96] = "";
        for (int r = 0; r < t->rank; r++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%lld", r ? ", " : "", (long long)t->shape[r]);
        }
        if (dt->rank >= 2) {
            for (int r = 0; r < dt->rank; r++) {
                size_t len = strlen(want);
                snprintf(want + len, sizeof want - len, "%s%lld", r ? ", " : "[", (long long)dt->shape[r]);
            }
            strcat(want, "]");
        } else if (dt->alt)
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

/* (*arr)[i] = a copy of src[n] (zeros when src is NULL) that the model owns
 * and frees; *arr is allocated [decl.n_lin] on first use. NULL: out of memory. */
static float *own(varia_ctx *ctx, varia_model *m, float ***arr, int i, const float *src, size_t n)
{
    if (!*arr && !(*arr = calloc((size_t)m->decl.n_lin, sizeof **arr))) {
        varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!((*arr)[i] = malloc((n ? n : 1) * sizeof(float)))) {
        varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory preparing '%s'", m->decl.t[m->decl.lin[i].weight].name);
        return NULL;
    }
    if (src)
        memcpy((*arr)[i], src, n * sizeof(float));
    else
        memset((*arr)[i], 0, n * sizeof(float));
    return (*arr)[i];
}

/* Fold slot i's batch norm into its weight w and bias b (owned copies, the
 * weight as stored): channel c's weights times s_c = gamma_c / sqrt(var_c +
 * eps), its bias (b_c - mean_c) s_c + beta_c, which is what eval-mode batch
 * norm computes after the layer. A transposed conv's channel is the second
 * axis of its stored [cin, cout kk] weight, every other slot's the first. */
static varia_status fold_bn(varia_ctx *ctx, const varia_model *m, int i, float *w, float *b)
{
    const varia_decl_linear *l = &m->decl.lin[i];
    const float *g = m->tensor[l->bn[0]]->data, *beta = m->tensor[l->bn[1]]->data;
    const float *mean = m->tensor[l->bn[2]]->data, *var = m->tensor[l->bn[3]]->data;
    int64_t ch = l->kind == VARIA_SLOT_CONV_T ? l->channels : l->out, per = l->in * l->out / ch;
    for (int64_t c = 0; c < ch; c++) {
        double v = (double)var[c] + (double)l->bn_eps;
        if (!(v > 0.0) || !isfinite(v))
            return varia_fail(ctx, VARIA_ERR_NONFINITE, "tensor '%s': running variance %g of channel %lld gives no "
                              "finite scale (it must exceed -eps)", m->decl.t[l->bn[3]].name, (double)var[c],
                              (long long)c);
        float s = (float)((double)g[c] / sqrt(v));
        b[c] = (b[c] - mean[c]) * s + beta[c];
        for (int64_t j = 0; j < per; j++) {
            if (l->kind == VARIA_SLOT_CONV_T) /* w[ci, c * per' + j'] for every ci */
                w[(j / (l->in / ch)) * l->in + c * (l->in / ch) + j % (l->in / ch)] *= s;
            else
                w[c * per + j] *= s;
        }
    }
    return VARIA_OK;
}

/* Slot i's weight and bias: the mapped tensors, or owned copies masked or
 * with a batch norm folded in. A transposed conv always gets copies: its
 * bias per channel goes to chan_bias (its product's bias is zeros). */
static varia_status slot_weights(varia_ctx *ctx, varia_model *m, int i, const float **w, const float **b)
{
    const varia_decl_linear *l = &m->decl.lin[i];
    int conv_t = l->kind == VARIA_SLOT_CONV_T;
    size_t n = (size_t)(l->out * l->in), nb = (size_t)(conv_t ? l->channels : l->out);
    *w = m->tensor[l->weight]->data;
    *b = m->tensor[l->bias]->data;
    if (!l->mask && !l->has_bn && !conv_t)
        return VARIA_OK;
    float *ow = own(ctx, m, &m->owned, i, *w, n);
    float *ob = ow ? own(ctx, m, conv_t ? &m->chan_bias : &m->owned_bias, i, *b, nb) : NULL;
    if (!ob)
        return VARIA_ERR_NOMEM;
    for (size_t j = 0; l->mask && j < n; j++)
        ow[j] *= l->mask[j];
    *w = ow;
    *b = ob;
    return l->has_bn ? fold_bn(ctx, m, i, ow, ob) : VARIA_OK;
}

/* Pack linear slot i. A transposed conv's product maps cin to cout kk: its
 * stored [cin, cout kk] weight is transposed, with a zero bias, into
 * owned[i] (rows (c, ky, kx), what the tape binds: joint_tape.c), followed in
 * the same block by the packed product's own copy with its rows in (ky, kx,
 * c) order, so that each input position's product holds every tap's
 * channels contiguous for the channel-last col2im (ops_conv.c). */
static varia_status pack_linear(varia_ctx *ctx, varia_model *m, int i)
{
    const varia_decl_linear *l = &m->decl.lin[i];
    const float *w, *b;
    varia_status st = slot_weights(ctx, m, i, &w, &b);
    if (st != VARIA_OK)
        return st;
    int64_t in = l->in, out = l->out;
    if (l->kind == VARIA_SLOT_CONV_T) {
        float *t = malloc(2 * (size_t)(in * out) * sizeof(float)), *z;
        if (!t)
            return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory transposing '%s'", m->decl.t[l->weight].name);
        int64_t ch = l->channels, kk = l->in / ch; /* the stored rows: cin; columns: (c, tap) */
        float *tp = t + in * out;
        for (int64_t r = 0; r < out; r++)
            for (int64_t c = 0; c < in; c++) {
                t[c * out + r] = w[r * in + c];
                tp[((c % kk) * ch + c / kk) * out + r] = w[r * in + c];
            }
        free(m->owned[i]);
        m->owned[i] = t; /* the permuted half is what the BLAS build reads as [out, in] */
        if (!(z = own(ctx, m, &m->owned_bias, i, NULL, (size_t)in)))
            return VARIA_ERR_NOMEM;
        w = tp, b = z, in = l->out, out = l->in;
    }
    if (!varia_linear_init(&m->lin[i], w, b, in, out))
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
    for (int i = 0; m->owned && i < m->decl.n_lin; i++)
        free(m->owned[i]);
    for (int i = 0; m->owned_bias && i < m->decl.n_lin; i++)
        free(m->owned_bias[i]);
    for (int i = 0; m->chan_bias && i < m->decl.n_lin; i++)
        free(m->chan_bias[i]);
    free(m->owned);
    free(m->owned_bias);
    free(m->chan_bias);
    free(m->lin);
    free(m->tensor);
    varia_decl_free(&m->decl);
    if (m->family && m->cfg)
        m->family->free_cfg(m->cfg);
}

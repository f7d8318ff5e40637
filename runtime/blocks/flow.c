/* The flow block (flow.h): parsing and declaring the steps, and running them. */
#include "flow.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH_CAP 65536

static const varia_act IDENTITY = {VARIA_ACT_IDENTITY, 0.0f};

const char *varia_flow_name(int type)
{
    static const char *const names[] = {"none", "planar", "radial", "iaf"};
    return type >= 0 && type <= VARIA_FLOW_IAF ? names[type] : "none";
}

/* ---- declaring ---- */

/* Declare tensor `name` of one step with an init rule (-1 on failure). */
static int step_tensor(varia_decl *d, int k, const char *what, int rank, int64_t d0, int64_t d1, varia_init init,
                       float value)
{
    char name[VARIA_DECL_NAME];
    snprintf(name, sizeof name, "flow.%d.%s", k, what);
    int t = varia_decl_add(d, name, rank, d0, d1, init, VARIA_GROUP_INFERENCE);
    if (t >= 0)
        d->t[t].init_value = value;
    return t;
}

/* Global planar (u, w, b) or radial (z0, alpha, beta) tensors of every step.
 * u, w and z0 start small and random: at zero, planar's gradient vanishes. */
static int declare_global(varia_flow *f, varia_decl *d)
{
    const char *names[2][3] = {{"u", "w", "b"}, {"z0", "alpha", "beta"}};
    const char *const *n = names[f->type == VARIA_FLOW_RADIAL];
    float lim = (float)(1.0 / sqrt((double)f->d));
    for (int k = 0; k < f->K; k++) {
        f->par[k][0] = step_tensor(d, k, n[0], 1, f->d, 0, VARIA_INIT_UNIFORM, lim);
        f->par[k][1] = f->type == VARIA_FLOW_PLANAR ? step_tensor(d, k, n[1], 1, f->d, 0, VARIA_INIT_UNIFORM, lim)
                                                    : step_tensor(d, k, n[1], 1, 1, 0, VARIA_INIT_ZERO, 0.0f);
        f->par[k][2] = step_tensor(d, k, n[2], 1, 1, 0, VARIA_INIT_ZERO, 0.0f);
    }
    return !d->failed;
}

/* MADE degree of hidden unit j (docs/format.md 2.3). */
static int64_t hidden_degree(int64_t j, int64_t d)
{
    return d > 1 ? 1 + j % (d - 1) : 1;
}

/* Mask linear `slot` [out, in]: keep (o, i) when out_deg(o) >= in_deg(i) + strict.
 * A NULL degree array means hidden units. */
static int mask_slot(varia_decl *d, int slot, const int64_t *out_deg, const int64_t *in_deg, int64_t dim, int strict)
{
    float *mk = slot >= 0 ? varia_decl_linear_mask(d, slot) : NULL;
    if (!mk)
        return 0;
    int64_t out = d->lin[slot].out, in = d->lin[slot].in;
    for (int64_t o = 0; o < out; o++) {
        int64_t od = out_deg ? out_deg[o] : hidden_degree(o, dim);
        for (int64_t i = 0; i < in; i++)
            mk[o * in + i] = od >= (in_deg ? in_deg[i] : hidden_degree(i, dim)) + strict ? 1.0f : 0.0f;
    }
    return 1;
}

/* Declare IAF step k: its MADE's layers, masked by deg (the variables'
 * degrees in this step's ordering), and its context weight. */
static int declare_made(varia_flow *f, varia_decl *d, int k, const int64_t *hid, int64_t C, const int64_t *deg)
{
    varia_made *md = &f->made[k];
    char name[VARIA_DECL_NAME];
    snprintf(name, sizeof name, "flow.%d.in", k);
    md->in = varia_decl_linear_add(d, name, f->d, hid[0], VARIA_GROUP_INFERENCE, 0);
    int ok = mask_slot(d, md->in, NULL, deg, f->d, 0);
    md->ctx = -1;
    if (C > 0)
        md->ctx = step_tensor(d, k, "ctx.weight", 2, hid[0], C, VARIA_INIT_UNIFORM,
                              (float)sqrt(6.0 / (double)(hid[0] + C)));
    for (int j = 1; j < f->nh; j++) {
        snprintf(name, sizeof name, "flow.%d.hidden.%d", k, j);
        md->hidden[j - 1] = varia_decl_linear_add(d, name, hid[j - 1], hid[j], VARIA_GROUP_INFERENCE, 0);
        ok = ok && mask_slot(d, md->hidden[j - 1], NULL, NULL, f->d, 0);
    }
    int64_t last = hid[f->nh - 1];
    snprintf(name, sizeof name, "flow.%d.m", k);
    md->m = varia_decl_linear_add(d, name, last, f->d, VARIA_GROUP_INFERENCE, 0);
    snprintf(name, sizeof name, "flow.%d.s", k);
    md->s = varia_decl_linear_add(d, name, last, f->d, VARIA_GROUP_INFERENCE, 0);
    ok = ok && mask_slot(d, md->m, deg, NULL, f->d, 1) && mask_slot(d, md->s, deg, NULL, f->d, 1);
    if (ok) { /* sigma = sigmoid(s) starts near 1 (IAF paper): the step starts near the identity */
        d->t[d->lin[md->s].bias].init = VARIA_INIT_CONST;
        d->t[d->lin[md->s].bias].init_value = 1.0f;
    }
    return ok && !d->failed;
}

/* The ordering of step 1: "ordering" (checked to be a permutation) or the
 * identity, as each variable's position. */
static varia_status parse_ordering(varia_ctx *ctx, const cJSON *flow, int64_t dim, int64_t *pos)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(flow, "ordering");
    for (int64_t i = 0; i < dim; i++)
        pos[i] = a ? -1 : i;
    if (!a)
        return VARIA_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != dim)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: \"ordering\" must be an array of the %lld latent indices",
                          (long long)dim);
    int64_t p = 0;
    for (const cJSON *e = a->child; e; e = e->next, p++) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v != floor(v) || v < 0 || v >= (double)dim || pos[(int64_t)v] >= 0)
            return varia_fail(ctx, VARIA_ERR_MANIFEST,
                              "flow: \"ordering\" is not a permutation of 0..%lld (entry %lld)", (long long)dim - 1,
                              (long long)p);
        pos[(int64_t)v] = p;
    }
    return VARIA_OK;
}

/* IAF: hidden widths, context, ordering, activation; declare every step. */
static varia_status parse_iaf(varia_ctx *ctx, varia_flow *f, const cJSON *flow, const cJSON *arch, varia_decl *d,
                              const char *enc_prefix, int64_t h_last, int h_is_data, varia_act dflt)
{
    int64_t hid[VARIA_MADE_MAX_HIDDEN], C;
    varia_status st = varia_json_int_array(ctx, flow, "flow", "hidden", 1, WIDTH_CAP, VARIA_MADE_MAX_HIDDEN, hid, &f->nh);
    if (st == VARIA_OK && f->nh < 1)
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: iaf needs \"hidden\": 1 to %d widths", VARIA_MADE_MAX_HIDDEN);
    if (st == VARIA_OK)
        st = varia_json_int(ctx, flow, "flow", "context", 0, 0, 0, WIDTH_CAP, &C);
    if (st == VARIA_OK)
        st = varia_json_act(ctx, flow, arch, "flow", dflt, &f->act);
    int64_t *pos = st == VARIA_OK ? malloc(2 * (size_t)f->d * sizeof *pos) : NULL;
    if (st == VARIA_OK && !pos)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    if (st == VARIA_OK)
        st = parse_ordering(ctx, flow, f->d, pos);
    char name[VARIA_DECL_NAME];
    snprintf(name, sizeof name, "%s.context", enc_prefix);
    f->ctx_head = st == VARIA_OK && C > 0 ? varia_decl_linear_add(d, name, h_last, C, VARIA_GROUP_INFERENCE, h_is_data)
                                          : -1;
    for (int k = 0; k < f->K && st == VARIA_OK; k++) {
        int64_t *deg = pos + f->d; /* 1 + position; reversed on odd steps */
        for (int64_t i = 0; i < f->d; i++)
            deg[i] = 1 + (k % 2 ? f->d - 1 - pos[i] : pos[i]);
        if (!declare_made(f, d, k, hid, C, deg))
            st = varia_decl_fail(ctx, d);
    }
    free(pos);
    return st;
}

/* "params": amortized or global; an amortized flow declares its head. */
static varia_status parse_params(varia_ctx *ctx, varia_flow *f, const cJSON *flow, varia_decl *d,
                                 const char *enc_prefix, int64_t h_last, int h_is_data)
{
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(flow, "params"));
    if (!p || (strcmp(p, "amortized") && strcmp(p, "global")))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: %s needs \"params\": \"amortized\" or \"global\"",
                          varia_flow_name(f->type));
    if (cJSON_GetObjectItemCaseSensitive(flow, "hidden") || cJSON_GetObjectItemCaseSensitive(flow, "context") ||
        cJSON_GetObjectItemCaseSensitive(flow, "ordering"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: \"hidden\", \"context\" and \"ordering\" are iaf's keys");
    f->amortized = !strcmp(p, "amortized");
    if (!f->amortized)
        return declare_global(f, d) ? VARIA_OK : varia_decl_fail(ctx, d);
    char name[VARIA_DECL_NAME];
    snprintf(name, sizeof name, "%s.flow", enc_prefix);
    f->per = f->type == VARIA_FLOW_PLANAR ? 2 * f->d + 1 : f->d + 2;
    f->head = varia_decl_linear_add(d, name, h_last, f->K * f->per, VARIA_GROUP_INFERENCE, h_is_data);
    return f->head >= 0 ? VARIA_OK : varia_decl_fail(ctx, d);
}

varia_status varia_flow_parse(varia_ctx *ctx, varia_flow *f, const cJSON *flow, const cJSON *arch, varia_decl *d,
                              int64_t dim, const char *enc_prefix, int64_t h_last, int h_is_data, varia_act dflt_act)
{
    static const char *const known[] = {"type", "steps", "params", "hidden", "context", "ordering", "activation", NULL};
    memset(f, 0, sizeof *f);
    f->ctx_head = f->head = -1;
    if (!flow)
        return VARIA_OK;
    if (!cJSON_IsObject(flow))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"flow\" must be an object");
    varia_json_warn_unknown(ctx, flow, "flow", known);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(flow, "type"));
    for (int t = VARIA_FLOW_PLANAR; type && t <= VARIA_FLOW_IAF; t++)
        if (!strcmp(type, varia_flow_name(t)))
            f->type = t;
    if (!f->type && type) /* name what was given: a misspelling is then plain to see */
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: \"type\" \"%.64s\" is not \"planar\", \"radial\" or \"iaf\"",
                          type);
    if (!f->type)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: \"type\" must be \"planar\", \"radial\" or \"iaf\"");
    int64_t K;
    varia_status st = varia_json_int(ctx, flow, "flow", "steps", 1, 0, 1, VARIA_FLOW_MAX_STEPS, &K);
    f->K = (int)K;
    f->d = dim;
    if (st != VARIA_OK)
        return st;
    if (f->type != VARIA_FLOW_IAF)
        return parse_params(ctx, f, flow, d, enc_prefix, h_last, h_is_data);
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(flow, "params"));
    if (cJSON_GetObjectItemCaseSensitive(flow, "params") && (!p || strcmp(p, "global")))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "flow: iaf's MADE weights are global (\"params\": \"global\")");
    return parse_iaf(ctx, f, flow, arch, d, enc_prefix, h_last, h_is_data, dflt_act);
}

/* ---- running ---- */

/* sum of n per-row log-densities, folded VARIA_COMBINE_MAX at a time in order. */
static varia_v *sum_rows(varia_ops *o, varia_v **v, int n)
{
    double ones[VARIA_COMBINE_MAX];
    for (int i = 0; i < VARIA_COMBINE_MAX; i++)
        ones[i] = 1.0;
    varia_v *acc = o->combine(o, v, ones, n < VARIA_COMBINE_MAX ? n : VARIA_COMBINE_MAX);
    for (int i = VARIA_COMBINE_MAX; i < n; i += VARIA_COMBINE_MAX - 1) {
        varia_v *part[VARIA_COMBINE_MAX] = {acc};
        int m = n - i < VARIA_COMBINE_MAX - 1 ? n - i : VARIA_COMBINE_MAX - 1;
        memcpy(part + 1, v + i, (size_t)m * sizeof *v);
        acc = o->combine(o, part, ones, m + 1);
    }
    return acc;
}

/* One IAF step: [m, s] = MADE(z, context), z' = sigmoid(s) z + (1 - sigmoid(s)) m. */
static varia_v *iaf_step(varia_ops *o, const varia_flow *f, int k, varia_v *ctx, varia_v *z, int64_t share,
                         varia_v **ld)
{
    const varia_made *md = &f->made[k];
    varia_v *a = ctx ? o->add(o, o->linear(o, z, md->in, IDENTITY), o->matmul(o, ctx, o->param(o, md->ctx)), share,
                              f->act)
                     : o->linear(o, z, md->in, f->act);
    for (int j = 1; j < f->nh; j++)
        a = o->linear(o, a, md->hidden[j - 1], f->act);
    varia_v *s = o->linear(o, a, md->s, IDENTITY);
    *ld = o->iaf_logdet(o, s);
    return o->iaf(o, z, o->linear(o, a, md->m, IDENTITY), s);
}

/* Step k's three parameters: columns of the amortized head, or the tensors. */
static void step_params(varia_ops *o, const varia_flow *f, varia_v *head, int k, varia_v **p)
{
    if (!head) {
        for (int i = 0; i < 3; i++)
            p[i] = o->param(o, f->par[k][i]);
        return;
    }
    int64_t base = k * f->per, d = f->d;
    p[0] = o->cols(o, head, base, d);
    if (f->type == VARIA_FLOW_PLANAR) {
        p[1] = o->cols(o, head, base + d, d);
        p[2] = o->cols(o, head, base + 2 * d, 1);
    } else {
        p[1] = o->cols(o, head, base + d, 1);
        p[2] = o->cols(o, head, base + d + 1, 1);
    }
}

varia_v *varia_flow_forward(varia_ops *o, const varia_flow *f, varia_v *h, varia_v *z, int64_t k, varia_v **log_det)
{
    varia_v *lds[VARIA_FLOW_MAX_STEPS];
    varia_v *head = f->amortized ? o->linear(o, h, f->head, IDENTITY) : NULL;
    varia_v *ctx = f->ctx_head >= 0 ? o->linear(o, h, f->ctx_head, IDENTITY) : NULL;
    for (int s = 0; s < f->K; s++) {
        if (f->type == VARIA_FLOW_IAF) {
            z = iaf_step(o, f, s, ctx, z, k, &lds[s]);
            continue;
        }
        varia_v *p[3];
        step_params(o, f, head, s, p);
        if (f->type == VARIA_FLOW_PLANAR) {
            varia_v *uh = o->planar_uhat(o, p[0], p[1]);
            lds[s] = o->planar_logdet(o, z, uh, p[1], p[2], k);
            z = o->planar(o, z, uh, p[1], p[2], k);
        } else {
            lds[s] = o->radial_logdet(o, z, p[0], p[1], p[2], k);
            z = o->radial(o, z, p[0], p[1], p[2], k);
        }
    }
    *log_det = sum_rows(o, lds, f->K);
    return z;
}

/* The layer-list network block (net.h): parsing, with every geometry checked
 * before anything is declared for it, and running. */
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define WIDTH_CAP 65536
#define KERNEL_CAP VARIA_CONV_KERNEL_CAP
#define WEIGHT_CAP ((int64_t)1 << 31)

/* What the previous entry was: batch_norm and activation entries attach to it. */
enum { PREV_NONE, PREV_WEIGHTED, PREV_BN, PREV_OTHER };

typedef struct pstate {
    varia_ctx *ctx;
    varia_net *net;
    const cJSON *arch;
    varia_decl *d;
    const char *prefix;
    varia_group group;
    int data_input, prev, index;
    int rank;          /* the current shape: 1 or 3 */
    int64_t shape[3];
    char where[80], name[VARIA_DECL_NAME];
} pstate;

static int64_t cur_size(const pstate *s)
{
    return s->rank == 1 ? s->shape[0] : s->shape[0] * s->shape[1] * s->shape[2];
}

/* Member `key` of e as an integer, or (allow_pair) an [h, w] pair, each in
 * [lo, hi]: a single number gives both. Absent: dflt for both. Below lo is a
 * bad value (VARIA_ERR_MANIFEST: a zero stride, a negative padding), above hi
 * a cap (VARIA_ERR_TOO_LARGE). */
static varia_status pair(pstate *s, const cJSON *e, const char *key, int allow_pair, int64_t dflt, int64_t lo,
                         int64_t hi, int64_t out[2])
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, key);
    out[0] = out[1] = dflt;
    if (!j)
        return VARIA_OK;
    const cJSON *v[2] = {j, j};
    if (cJSON_IsArray(j) && allow_pair && cJSON_GetArraySize(j) == 2)
        v[0] = j->child, v[1] = j->child->next;
    for (int i = 0; i < 2; i++) {
        double x = cJSON_IsNumber(v[i]) ? v[i]->valuedouble : NAN;
        if (!cJSON_IsNumber(v[i]) || x != floor(x))
            return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: \"%s\" must be an integer%s", s->where, key,
                              allow_pair ? " or a pair [h, w] of integers" : "");
        if (x < (double)lo)
            return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: \"%s\" = %.0f must be at least %lld", s->where, key,
                              x, (long long)lo);
        if (x > (double)hi)
            return varia_fail(s->ctx, VARIA_ERR_TOO_LARGE, "%s: \"%s\" = %.0f exceeds %lld", s->where, key, x,
                              (long long)hi);
        out[i] = (int64_t)x;
    }
    return VARIA_OK;
}

/* Append a weighted layer's op (the caller checked the count). */
static void push(pstate *s, int kind, int slot, varia_act act, const varia_conv *g)
{
    varia_net_op *op = &s->net->op[s->net->n++];
    *op = (varia_net_op){.kind = kind, .slot = slot, .act = act, .entry = s->index};
    if (g)
        op->g = *g;
    s->prev = PREV_WEIGHTED;
}

static varia_status dense(pstate *s, const cJSON *e)
{
    static const char *const known[] = {"type", "out", "activation", NULL};
    varia_json_warn_unknown(s->ctx, e, s->where, known);
    int64_t out[2], in = cur_size(s);
    varia_act act;
    varia_status st = pair(s, e, "out", 0, 0, 1, WIDTH_CAP, out);
    if (st == VARIA_OK && !cJSON_GetObjectItemCaseSensitive(e, "out"))
        st = varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: required key \"out\" is missing", s->where);
    if (st == VARIA_OK)
        st = varia_json_act(s->ctx, e, s->arch, s->where, (varia_act){VARIA_ACT_IDENTITY, 0.0f}, &act);
    if (st != VARIA_OK)
        return st;
    if (in * out[0] > WEIGHT_CAP)
        return varia_fail(s->ctx, VARIA_ERR_TOO_LARGE, "%s: a [%lld, %lld] weight exceeds 2^31 elements", s->where,
                          (long long)out[0], (long long)in);
    int slot = varia_decl_linear_add(s->d, s->name, in, out[0], s->group, s->data_input && s->net->n == 0);
    if (slot < 0)
        return varia_decl_fail(s->ctx, s->d);
    push(s, VARIA_NET_DENSE, slot, act, NULL);
    s->rank = 1;
    s->shape[0] = out[0];
    return VARIA_OK;
}

/* The geometry of a conv entry on the current C x H x W input, resolved. */
static varia_status conv_geometry(pstate *s, const cJSON *e, int transposed, varia_conv *g)
{
    int64_t out[2], k[2], st2[2], p[2], op[2];
    varia_status st = pair(s, e, "out", 0, 0, 1, WIDTH_CAP, out);
    if (st == VARIA_OK &&
        (!cJSON_GetObjectItemCaseSensitive(e, "out") || !cJSON_GetObjectItemCaseSensitive(e, "kernel")))
        st = varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: \"out\" and \"kernel\" are required", s->where);
    if (st == VARIA_OK)
        st = pair(s, e, "kernel", 1, 1, 1, KERNEL_CAP, k);
    if (st == VARIA_OK)
        st = pair(s, e, "stride", 1, 1, 1, KERNEL_CAP, st2);
    if (st == VARIA_OK)
        st = pair(s, e, "padding", 1, 0, 0, KERNEL_CAP, p);
    if (st == VARIA_OK)
        st = pair(s, e, "output_padding", 1, 0, 0, KERNEL_CAP, op);
    if (st != VARIA_OK)
        return st;
    *g = (varia_conv){transposed, s->shape[0], s->shape[1], s->shape[2], out[0], 0, 0,
                      k[0], k[1], st2[0], st2[1], p[0], p[1], op[0], op[1]};
    const char *why;
    if (!varia_conv_resolve(g, &why))
        return varia_fail(s->ctx, VARIA_ERR_SHAPE, "%s: %s (input [%lld, %lld, %lld], kernel [%lld, %lld], stride "
                          "[%lld, %lld], padding [%lld, %lld])", s->where, why, (long long)g->cin, (long long)g->h,
                          (long long)g->w, (long long)g->kh, (long long)g->kw, (long long)g->sh, (long long)g->sw,
                          (long long)g->ph, (long long)g->pw);
    if (g->cout * g->oh * g->ow > VARIA_NET_SIZE_CAP || g->cin * g->cout * g->kh * g->kw > WEIGHT_CAP)
        return varia_fail(s->ctx, VARIA_ERR_TOO_LARGE, "%s: an output of [%lld, %lld, %lld] or its weight exceeds "
                          "the caps (2^24 floats an example, 2^31 weights)", s->where, (long long)g->cout,
                          (long long)g->oh, (long long)g->ow);
    return VARIA_OK;
}

static varia_status conv(pstate *s, const cJSON *e, int transposed)
{
    static const char *const known[] = {"type", "out", "kernel", "stride", "padding", "output_padding",
                                        "activation", NULL};
    varia_json_warn_unknown(s->ctx, e, s->where, known);
    if (s->rank != 3)
        return varia_fail(s->ctx, VARIA_ERR_SHAPE, "%s: a convolution needs a C x H x W input, this one is a vector "
                          "of %lld (put a reshape before it)", s->where, (long long)s->shape[0]);
    varia_conv g;
    varia_act act;
    varia_status st = conv_geometry(s, e, transposed, &g);
    if (st == VARIA_OK)
        st = varia_json_act(s->ctx, e, s->arch, s->where, (varia_act){VARIA_ACT_IDENTITY, 0.0f}, &act);
    if (st != VARIA_OK)
        return st;
    int slot = varia_decl_conv_add(s->d, s->name, &g, s->group, s->data_input && s->net->n == 0);
    if (slot < 0)
        return varia_decl_fail(s->ctx, s->d);
    push(s, transposed ? VARIA_NET_CONV_T : VARIA_NET_CONV, slot, act, &g);
    s->shape[0] = g.cout, s->shape[1] = g.oh, s->shape[2] = g.ow;
    return VARIA_OK;
}

/* Folded into the weighted layer right before it, whose activation then
 * comes after the normalisation (this entry's "activation"). */
static varia_status batch_norm(pstate *s, const cJSON *e)
{
    static const char *const known[] = {"type", "eps", "activation", NULL};
    varia_json_warn_unknown(s->ctx, e, s->where, known);
    varia_net_op *op = s->net->n ? &s->net->op[s->net->n - 1] : NULL;
    if (s->prev != PREV_WEIGHTED || op->act.kind != VARIA_ACT_IDENTITY)
        return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: batch_norm must directly follow a dense, conv or "
                          "conv_transpose layer without an activation (it is folded into that layer)", s->where);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(e, "eps");
    if (j && (!cJSON_IsNumber(j) || !(j->valuedouble > 0.0) || j->valuedouble > 1.0))
        return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: \"eps\" must be a number in (0, 1]", s->where);
    varia_status st = varia_json_act(s->ctx, e, s->arch, s->where, op->act, &op->act);
    if (st != VARIA_OK)
        return st;
    if (!varia_decl_bn_add(s->d, op->slot, s->name, j ? (float)j->valuedouble : 1e-5f, s->group))
        return varia_decl_fail(s->ctx, s->d);
    op->bn = 1;
    s->prev = PREV_BN;
    return VARIA_OK;
}

/* An nn.Sequential activation module: fused into the layer before it. */
static varia_status activation(pstate *s, const cJSON *e)
{
    static const char *const known[] = {"type", "activation", NULL};
    varia_json_warn_unknown(s->ctx, e, s->where, known);
    varia_net_op *op = s->net->n ? &s->net->op[s->net->n - 1] : NULL;
    if ((s->prev != PREV_WEIGHTED && s->prev != PREV_BN) || op->act.kind != VARIA_ACT_IDENTITY)
        return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: an activation entry must follow a dense, conv, "
                          "conv_transpose or batch_norm entry that has none", s->where);
    if (!cJSON_GetObjectItemCaseSensitive(e, "activation"))
        return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: required key \"activation\" is missing", s->where);
    s->prev = PREV_OTHER;
    return varia_json_act(s->ctx, e, s->arch, s->where, op->act, &op->act);
}

static varia_status reshape(pstate *s, const cJSON *e, int flatten)
{
    static const char *const known[] = {"type", "shape", NULL};
    varia_json_warn_unknown(s->ctx, e, s->where, known);
    int64_t shape[3] = {cur_size(s), 1, 1}, n = 1;
    int rank = 1;
    if (!flatten) {
        varia_status st = varia_json_int_array(s->ctx, e, s->where, "shape", 1, VARIA_NET_SIZE_CAP, 3, shape, &rank);
        if (st != VARIA_OK)
            return st;
        if (rank != 1 && rank != 3)
            return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: \"shape\" must be [n] or [C, H, W]", s->where);
    }
    for (int i = 0; i < rank; i++) { /* each factor <= the cap, so the product cannot overflow before it is caught */
        if (n > VARIA_NET_SIZE_CAP / shape[i])
            return varia_fail(s->ctx, VARIA_ERR_TOO_LARGE, "%s: \"shape\" has more than 2^24 elements", s->where);
        n *= shape[i];
    }
    if (n != cur_size(s))
        return varia_fail(s->ctx, VARIA_ERR_SHAPE, "%s: reshape to %lld elements, its input has %lld", s->where,
                          (long long)n, (long long)cur_size(s));
    s->rank = rank;
    memcpy(s->shape, shape, sizeof shape);
    s->prev = PREV_OTHER;
    return VARIA_OK;
}

/* Entry s->index of the list. */
static varia_status entry(pstate *s, const cJSON *e)
{
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type"));
    snprintf(s->name, sizeof s->name, "%s.%d", s->prefix, s->index);
    if (!cJSON_IsObject(e) || !type)
        return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s must be an object with a \"type\"", s->where);
    if (!strcmp(type, "dense"))
        return dense(s, e);
    if (!strcmp(type, "conv") || !strcmp(type, "conv_transpose"))
        return conv(s, e, type[4] == '_');
    if (!strcmp(type, "batch_norm"))
        return batch_norm(s, e);
    if (!strcmp(type, "activation"))
        return activation(s, e);
    if (!strcmp(type, "reshape") || !strcmp(type, "flatten"))
        return reshape(s, e, type[0] == 'f');
    return varia_fail(s->ctx, VARIA_ERR_MANIFEST, "%s: unknown layer type '%.40s' (dense, conv, conv_transpose, "
                      "batch_norm, activation, reshape, flatten)", s->where, type);
}

varia_status varia_net_parse(varia_ctx *ctx, varia_net *net, const cJSON *list, const cJSON *arch, const char *where,
                             const char *prefix, const varia_shape *in, varia_group group, int data_input,
                             varia_decl *d)
{
    memset(net, 0, sizeof *net);
    if (!cJSON_IsArray(list))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s must be an array of layers", where);
    if (cJSON_GetArraySize(list) > VARIA_NET_MAX)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s has %d layers, at most %d allowed", where,
                          cJSON_GetArraySize(list), VARIA_NET_MAX);
    pstate s = {.ctx = ctx, .net = net, .arch = arch, .d = d, .prefix = prefix, .group = group,
                .data_input = data_input, .rank = in->rank == 3 ? 3 : 1};
    s.shape[0] = s.shape[1] = s.shape[2] = 1;
    for (int i = 0; i < in->rank; i++)
        s.shape[in->rank == 3 ? i : 0] *= in->dims[i];
    varia_status st = VARIA_OK;
    for (const cJSON *e = list->child; e && st == VARIA_OK; e = e->next, s.index++) {
        snprintf(s.where, sizeof s.where, "%s[%d]", where, s.index);
        st = entry(&s, e);
    }
    net->present = 1;
    net->out_rank = s.rank;
    memcpy(net->out_shape, s.shape, sizeof s.shape);
    net->out_size = cur_size(&s);
    return st;
}

varia_v *varia_net_run(varia_ops *o, const varia_net *net, varia_v *x, const varia_act *last)
{
    for (int i = 0; i < net->n; i++) {
        const varia_net_op *op = &net->op[i];
        varia_act act = i == net->n - 1 && last ? *last : op->act;
        /* a backend with batch statistics (the tape) normalises between the
         * layer and its activation; the others run the folded layer */
        int split = op->bn && o->batch_norm;
        varia_act a = split ? (varia_act){VARIA_ACT_IDENTITY, 0.0f} : act;
        if (op->kind == VARIA_NET_DENSE)
            x = o->linear(o, x, op->slot, a);
        else if (op->kind == VARIA_NET_CONV)
            x = o->conv2d(o, x, op->slot, &op->g, a);
        else
            x = o->conv_transpose2d(o, x, op->slot, &op->g, a);
        if (split)
            x = o->batch_norm(o, x, op->slot, act);
    }
    return x;
}

varia_status varia_net_check_input_grad(varia_ctx *ctx, const varia_net *net, const char *where)
{
    static const char *const names[] = {"identity", "tanh", "relu", "leaky_relu", "elu", "softplus", "sigmoid"};
    for (int i = 0; i < net->n; i++) {
        const varia_net_op *op = &net->op[i];
        varia_act_kind k = op->act.kind;
        if (op->bn)
            return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s[%d]: the gradient penalty needs a critic without "
                              "batch norm (its batch statistics couple the examples; WGAN-GP recommends none)",
                              where, op->entry);
        if (op->kind == VARIA_NET_CONV_T)
            return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s[%d]: the gradient penalty covers dense and conv "
                              "layers in the critic, not conv_transpose", where, op->entry);
        if (k == VARIA_ACT_LEAKY_RELU && !(op->act.param >= 0.0f))
            return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s[%d]: the gradient penalty needs leaky_relu_slope >= 0 "
                              "(%g: its derivative is not a function of its output)", where, op->entry,
                              (double)op->act.param);
        if (k != VARIA_ACT_IDENTITY && k != VARIA_ACT_RELU && k != VARIA_ACT_LEAKY_RELU)
            return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s[%d]: the gradient penalty needs piecewise-linear "
                              "activations in the critic (identity, relu, leaky_relu), not %s: its second "
                              "derivative is not 0", where, op->entry, names[k]);
    }
    return VARIA_OK;
}

/* Forward, keeping every layer's output; then backward from dy, one layer at
 * a time: through the activation's derivative (a constant mask read from
 * the layer's output), then the layer's weight untransposed (a conv's
 * adjoint). Flatten and reshape entries cost nothing either way. */
varia_v *varia_net_input_grad(varia_ops *o, const varia_net *net, varia_v *x, varia_v *dy, varia_v **y)
{
    varia_v *out[VARIA_NET_MAX];
    varia_v *h = x;
    for (int i = 0; i < net->n; i++) {
        const varia_net_op *op = &net->op[i];
        h = out[i] = op->kind == VARIA_NET_DENSE ? o->linear(o, h, op->slot, op->act)
                                                 : o->conv2d(o, h, op->slot, &op->g, op->act);
    }
    *y = h;
    varia_v *g = dy;
    for (int i = net->n - 1; i >= 0; i--) {
        const varia_net_op *op = &net->op[i];
        if (op->act.kind != VARIA_ACT_IDENTITY)
            g = o->act_mask(o, g, out[i], op->act);
        g = op->kind == VARIA_NET_DENSE ? o->linear_t(o, g, op->slot) : o->conv2d_t(o, g, op->slot, &op->g);
    }
    return g;
}

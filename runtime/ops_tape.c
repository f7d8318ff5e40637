/* The tape backend (ops_tape.h): each op of the interface is the tape op of
 * the same name; the value handles are the tape's nodes. */
#include "ops_tape.h"

#include <string.h>

static TR(ops) *tp(varia_ops *o)
{
    return (TR(ops) *)o; /* ops is the first member */
}

tr_node *TR(node_of)(varia_v *v)
{
    return (tr_node *)(void *)v;
}

static varia_v *val(tr_node *n)
{
    return (varia_v *)(void *)n;
}

varia_v *TR(value_of)(tr_node *n)
{
    return val(n);
}

/* Caller data as a node: the floats themselves when they are contiguous and of
 * the tape's type, else a copy on the tape's arena. */
static varia_v *op_input(varia_ops *o, int64_t rows, int64_t cols, const float *data, int64_t ld)
{
    tr_tape *t = tp(o)->t;
#ifndef TR_DOUBLE
    if (ld == cols)
        return val(TR(input)(t, rows, cols, data));
#endif
    tr_real *c = TR(alloc)(t, rows * cols);
    for (int64_t r = 0; c && r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            c[r * cols + j] = (tr_real)data[r * ld + j];
    return val(TR(input)(t, rows, cols, c));
}

static varia_v *op_param(varia_ops *o, int tensor)
{
    TR(ops) *p = tp(o);
    const varia_decl_tensor *d = &p->decl->t[tensor];
    int64_t rows = d->rank >= 2 ? d->shape[0] : 1, cols = varia_decl_numel(d) / rows;
    return val(TR(param)(p->t, rows, cols, p->theta + p->off[tensor], p->grad + p->off[tensor]));
}

static varia_v *op_cols(varia_ops *o, varia_v *x, int64_t off, int64_t n)
{
    return val(TR(cols)(tp(o)->t, TR(node_of)(x), off, n));
}

static varia_v *op_reshape(varia_ops *o, varia_v *x, int64_t rows, int64_t cols)
{
    return val(TR(reshape)(tp(o)->t, TR(node_of)(x), rows, cols));
}

static varia_v *op_linear(varia_ops *o, varia_v *x, int slot, varia_act act)
{
    return val(TR(linear)(tp(o)->t, TR(node_of)(x), &tp(o)->lins[slot], act));
}

static varia_v *op_linear_cols(varia_ops *o, varia_v *x, int slot, int64_t off, int64_t n, int bias)
{
    return val(TR(linear_cols)(tp(o)->t, TR(node_of)(x), &tp(o)->lins[slot], off, n, bias));
}

/* The slot's batch norm over x with the batch's statistics, reported into
 * bn_stats at the slot's channels when the caller keeps them. */
static varia_v *op_batch_norm(varia_ops *o, varia_v *x, int slot, varia_act act)
{
    TR(ops) *p = tp(o);
    const varia_decl_linear *d = &p->decl->lin[slot];
    int64_t C = d->channels ? d->channels : d->out;
    tr_lin bn = {C, C, p->theta + p->off[d->bn[0]], p->theta + p->off[d->bn[1]], p->grad + p->off[d->bn[0]],
                 p->grad + p->off[d->bn[1]], NULL, NULL};
    double *stats = p->bn_stats ? p->bn_stats + 3 * varia_decl_bn_channels(p->decl, slot) : NULL;
    return val(TR(batch_norm)(p->t, TR(node_of)(x), &bn, d->bn_eps, act, stats));
}

static varia_v *op_scale(varia_ops *o, varia_v *x, float c)
{
    return val(TR(scale)(tp(o)->t, TR(node_of)(x), c));
}

static varia_v *op_reparam(varia_ops *o, varia_v *mu, varia_v *lv, int64_t k, varia_v *eps, float temp)
{
    return val(TR(reparam)(tp(o)->t, TR(node_of)(mu), TR(node_of)(lv), TR(node_of)(eps)->v, k, temp));
}

static varia_v *op_logq_eps(varia_ops *o, varia_v *lv, int64_t k, varia_v *eps)
{
    return val(TR(logq_eps)(tp(o)->t, TR(node_of)(lv), TR(node_of)(eps)->v, k));
}

static varia_v *op_gauss_logp(varia_ops *o, varia_v *z, int64_t kz, varia_v *mu, int64_t kmu, varia_v *lv)
{
    return val(TR(gauss_logp)(tp(o)->t, TR(node_of)(z), kz, TR(node_of)(mu), kmu, TR(node_of)(lv)));
}

static varia_v *op_std_normal_logp(varia_ops *o, varia_v *z)
{
    return val(TR(std_normal_logp)(tp(o)->t, TR(node_of)(z)));
}

/* Unfused on the tape: the logits are kept for the backward pass. */
static varia_v *op_linear_bernoulli(varia_ops *o, varia_v *h, int slot, varia_v *x, int64_t kx)
{
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    tr_node *logits = TR(linear)(tp(o)->t, TR(node_of)(h), &tp(o)->lins[slot], id);
    return val(TR(bernoulli_logp)(tp(o)->t, logits, TR(node_of)(x)->v, kx));
}

static varia_v *op_gauss_kl(varia_ops *o, varia_v *mu, varia_v *lv)
{
    return val(TR(gauss_kl)(tp(o)->t, TR(node_of)(mu), TR(node_of)(lv)));
}

static varia_v *op_row_sum(varia_ops *o, varia_v *x)
{
    return val(TR(row_sum)(tp(o)->t, TR(node_of)(x)));
}

static varia_v *op_combine(varia_ops *o, varia_v *const *a, const double *c, int n)
{
    tr_node *nodes[VARIA_COMBINE_MAX];
    for (int i = 0; i < n; i++)
        nodes[i] = TR(node_of)(a[i]);
    return val(TR(combine)(tp(o)->t, nodes, c, n));
}

static varia_v *op_add(varia_ops *o, varia_v *a, varia_v *b, int64_t kb, varia_act act)
{
    return val(TR(add)(tp(o)->t, TR(node_of)(a), TR(node_of)(b), kb, act));
}

static varia_v *op_matmul(varia_ops *o, varia_v *x, varia_v *w)
{
    return val(TR(matmul)(tp(o)->t, TR(node_of)(x), TR(node_of)(w)));
}

static varia_v *op_concat(varia_ops *o, varia_v *a, varia_v *b)
{
    return val(TR(concat)(tp(o)->t, TR(node_of)(a), TR(node_of)(b)));
}

static varia_v *op_act(varia_ops *o, varia_v *x, varia_act act)
{
    return val(TR(act)(tp(o)->t, TR(node_of)(x), act));
}

static int64_t op_rows_of(varia_ops *o, varia_v *x)
{
    (void)o;
    return TR(node_of)(x)->rows;
}

static varia_v *op_normal_to_uniform(varia_ops *o, varia_v *x)
{
    return val(TR(normal_to_uniform)(tp(o)->t, TR(node_of)(x)));
}

static varia_v *op_bernoulli_logp(varia_ops *o, varia_v *logits, varia_v *x, int64_t kx)
{
    return val(TR(bernoulli_logp)(tp(o)->t, TR(node_of)(logits), TR(node_of)(x)->v, kx));
}

static varia_v *op_conv2d(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act)
{
    return val(TR(conv2d)(tp(o)->t, TR(node_of)(x), &tp(o)->lins[slot], g, act));
}

static varia_v *op_conv_transpose2d(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act)
{
    return val(TR(conv_transpose2d)(tp(o)->t, TR(node_of)(x), &tp(o)->lins[slot], g, act));
}

static varia_v *op_planar_uhat(varia_ops *o, varia_v *u, varia_v *w)
{
    return val(TR(planar_uhat)(tp(o)->t, TR(node_of)(u), TR(node_of)(w)));
}

static varia_v *op_planar(varia_ops *o, varia_v *z, varia_v *uh, varia_v *w, varia_v *b, int64_t k)
{
    return val(TR(planar)(tp(o)->t, TR(node_of)(z), TR(node_of)(uh), TR(node_of)(w), TR(node_of)(b), k));
}

static varia_v *op_planar_logdet(varia_ops *o, varia_v *z, varia_v *uh, varia_v *w, varia_v *b, int64_t k)
{
    return val(TR(planar_logdet)(tp(o)->t, TR(node_of)(z), TR(node_of)(uh), TR(node_of)(w), TR(node_of)(b), k));
}

static varia_v *op_radial(varia_ops *o, varia_v *z, varia_v *z0, varia_v *ah, varia_v *bh, int64_t k)
{
    return val(TR(radial)(tp(o)->t, TR(node_of)(z), TR(node_of)(z0), TR(node_of)(ah), TR(node_of)(bh), k));
}

static varia_v *op_radial_logdet(varia_ops *o, varia_v *z, varia_v *z0, varia_v *ah, varia_v *bh, int64_t k)
{
    return val(TR(radial_logdet)(tp(o)->t, TR(node_of)(z), TR(node_of)(z0), TR(node_of)(ah), TR(node_of)(bh), k));
}

static varia_v *op_iaf(varia_ops *o, varia_v *z, varia_v *m, varia_v *s)
{
    return val(TR(iaf)(tp(o)->t, TR(node_of)(z), TR(node_of)(m), TR(node_of)(s)));
}

static varia_v *op_iaf_logdet(varia_ops *o, varia_v *s)
{
    return val(TR(iaf_logdet)(tp(o)->t, TR(node_of)(s)));
}

static varia_v *op_lstm_cell(varia_ops *o, varia_v *gates, varia_v *c)
{
    return val(TR(lstm_cell)(tp(o)->t, TR(node_of)(gates), TR(node_of)(c)));
}

static varia_v *op_gru_cell(varia_ops *o, varia_v *gi, varia_v *gh, varia_v *h)
{
    return val(TR(gru_cell)(tp(o)->t, TR(node_of)(gi), TR(node_of)(gh), TR(node_of)(h)));
}

/* The tape keeps every value of every step (the backward pass reads them):
 * the mark means nothing and the handles stay as they are. */
static varia_mark op_step_begin(varia_ops *o)
{
    (void)o;
    return (varia_mark){0, 0};
}

static void op_step_end(varia_ops *o, varia_mark mark, varia_v **carry, int n)
{
    (void)o;
    (void)mark;
    (void)carry;
    (void)n;
}

static varia_v *op_row_mask(varia_ops *o, varia_v *x, const int64_t *lengths, int64_t k, int64_t t)
{
    return lengths ? val(TR(row_mask)(tp(o)->t, TR(node_of)(x), lengths, k, t)) : x;
}

/* The forward values out, for a caller that wants a T-long output of a
 * recorded pass (its gradient is not the emit's business). */
static void op_emit(varia_ops *o, int which, varia_v *v, int64_t col)
{
    const tr_node *n = TR(node_of)(v);
    float *dst = which >= 0 && which < VARIA_EMIT_MAX ? o->out[which] : NULL;
    for (int64_t r = 0; dst && r < n->rows; r++)
        for (int64_t j = 0; j < n->cols; j++)
            dst[r * o->out_ld[which] + col + j] = (float)n->v[r * n->cols + j];
}

static varia_v *op_softplus_logvar(varia_ops *o, varia_v *a, float floor)
{
    return val(TR(softplus_logvar)(tp(o)->t, TR(node_of)(a), floor));
}

static varia_v *op_gauss_kl_to(varia_ops *o, varia_v *mu, varia_v *lv, varia_v *mu_p, varia_v *lv_p)
{
    return val(TR(gauss_kl_to)(tp(o)->t, TR(node_of)(mu), TR(node_of)(lv), TR(node_of)(mu_p), TR(node_of)(lv_p)));
}

static varia_v *op_bernoulli_sample(varia_ops *o, varia_v *logits, varia_v *eps)
{
    return val(TR(bernoulli_sample)(tp(o)->t, TR(node_of)(logits), TR(node_of)(eps)));
}

static varia_v *op_gmm_logp(varia_ops *o, varia_v *x, int64_t kx, varia_v *w, varia_v *mu, varia_v *lv)
{
    return val(TR(gmm_logp)(tp(o)->t, TR(node_of)(x), kx, TR(node_of)(w), TR(node_of)(mu), TR(node_of)(lv)));
}

static varia_v *op_gmm_sample(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, varia_v *eps)
{
    return val(TR(gmm_sample)(tp(o)->t, TR(node_of)(w), TR(node_of)(mu), TR(node_of)(lv), TR(node_of)(eps)));
}

static varia_v *op_gmm_moment(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, int which)
{
    return val(TR(gmm_moment)(tp(o)->t, TR(node_of)(w), TR(node_of)(mu), TR(node_of)(lv), which));
}

static varia_v *op_attn_filterbank(varia_ops *o, varia_v *p, const varia_attn *g)
{
    return val(TR(attn_filterbank)(tp(o)->t, TR(node_of)(p), g));
}

static varia_v *op_attn_read(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *x, int64_t kx, varia_v *x2,
                             int64_t kx2)
{
    return val(TR(attn_read)(tp(o)->t, TR(node_of)(fb), g, TR(node_of)(x), kx, x2 ? TR(node_of)(x2) : NULL, kx2));
}

static varia_v *op_attn_write(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *w)
{
    return val(TR(attn_write)(tp(o)->t, TR(node_of)(fb), g, TR(node_of)(w)));
}

static varia_v *op_linear_t(varia_ops *o, varia_v *g, int slot)
{
    return val(TR(linear_t)(tp(o)->t, TR(node_of)(g), &tp(o)->lins[slot]));
}

static varia_v *op_conv2d_t(varia_ops *o, varia_v *g, int slot, const varia_conv *c)
{
    return val(TR(conv2d_t)(tp(o)->t, TR(node_of)(g), &tp(o)->lins[slot], c));
}

static varia_v *op_act_mask(varia_ops *o, varia_v *g, varia_v *y, varia_act act)
{
    return val(TR(act_mask)(tp(o)->t, TR(node_of)(g), TR(node_of)(y), act));
}

static varia_v *op_norm_penalty(varia_ops *o, varia_v *g)
{
    return val(TR(norm_penalty)(tp(o)->t, TR(node_of)(g)));
}

static const varia_ops tape_ops = {
    .input = op_input,
    .param = op_param,
    .cols = op_cols,
    .reshape = op_reshape,
    .linear = op_linear,
    .linear_cols = op_linear_cols,
    .scale = op_scale,
    .reparam = op_reparam,
    .logq_eps = op_logq_eps,
    .gauss_logp = op_gauss_logp,
    .std_normal_logp = op_std_normal_logp,
    .linear_bernoulli = op_linear_bernoulli,
    .gauss_kl = op_gauss_kl,
    .row_sum = op_row_sum,
    .combine = op_combine,
    .add = op_add,
    .matmul = op_matmul,
    .concat = op_concat,
    .act = op_act,
    .normal_to_uniform = op_normal_to_uniform,
    .rows_of = op_rows_of,
    .bernoulli_logp = op_bernoulli_logp,
    .conv2d = op_conv2d,
    .conv_transpose2d = op_conv_transpose2d,
    .batch_norm = op_batch_norm,
    .planar_uhat = op_planar_uhat,
    .planar = op_planar,
    .planar_logdet = op_planar_logdet,
    .radial = op_radial,
    .radial_logdet = op_radial_logdet,
    .iaf = op_iaf,
    .iaf_logdet = op_iaf_logdet,
    .lstm_cell = op_lstm_cell,
    .gru_cell = op_gru_cell,
    .step_begin = op_step_begin,
    .step_end = op_step_end,
    .row_mask = op_row_mask,
    .emit = op_emit,
    .softplus_logvar = op_softplus_logvar,
    .gauss_kl_to = op_gauss_kl_to,
    .bernoulli_sample = op_bernoulli_sample,
    .gmm_logp = op_gmm_logp,
    .gmm_sample = op_gmm_sample,
    .gmm_moment = op_gmm_moment,
    .attn_filterbank = op_attn_filterbank,
    .attn_read = op_attn_read,
    .attn_write = op_attn_write,
    .linear_t = op_linear_t,
    .conv2d_t = op_conv2d_t,
    .act_mask = op_act_mask,
    .norm_penalty = op_norm_penalty,
};

int64_t TR(layout)(const varia_decl *decl, int64_t *off)
{
    int64_t p = 0;
    for (int i = 0; i < decl->n_t; i++) {
        off[i] = p;
        p += varia_decl_numel(&decl->t[i]);
    }
    return p;
}

void TR(bind)(const varia_decl *decl, const int64_t *off, const tr_real *theta, tr_real *grad,
              float *const *packs, float *const *packs_t, tr_lin *lins)
{
    for (int i = 0; i < decl->n_lin; i++) {
        const varia_decl_linear *d = &decl->lin[i];
        lins[i] = (tr_lin){d->in, d->out, theta + off[d->weight], theta + off[d->bias], grad + off[d->weight],
                           grad + off[d->bias], packs ? packs[i] : NULL, packs_t ? packs_t[i] : NULL};
    }
}

void TR(ops_begin)(TR(ops) *o, tr_tape *t, const varia_decl *decl, const tr_lin *lins, const int64_t *off,
                   const tr_real *theta, tr_real *grad)
{
    *o = (TR(ops)){tape_ops, t, decl, lins, off, theta, grad, NULL};
}

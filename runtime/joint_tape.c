/* A loaded model's passes on the tape, weights constant (joint_tape.h). The
 * tape backend of ops_tape.c is reused as it is, but for two entries: param
 * reads the mapped tensor itself (the runtime has no flat theta), and
 * batch_norm is absent, so a network runs its slots with the running
 * statistics folded in at load, as the exec backend does. */
#include "joint_tape.h"

#include "ops_tape.h"
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The tape backend with the model it reads its tensors from. */
typedef struct joint_ops {
    TR(ops) base; /* first: the op table's functions receive &base.ops */
    const varia_model *m;
} joint_ops;

/* The tape's values are its nodes (ops_tape.c). */
static varia_v *val(tr_node *n)
{
    return (varia_v *)(void *)n;
}

/* A declared tensor as a constant node, in the exec backend's shape. */
static varia_v *op_param_const(varia_ops *o, int tensor)
{
    joint_ops *p = (joint_ops *)(void *)o;
    const varia_tensor *t = p->m->tensor[tensor];
    int64_t rows = t->rank >= 2 ? t->shape[0] : 1, cols = t->rank >= 2 ? t->numel / t->shape[0] : t->shape[0];
    return val(TR(input)(p->base.t, rows, cols, t->data));
}

/* Slot i's weight as the exec backend uses it, stored [out, in]: *w holds
 * element (o, i) at w[o * in + i], or at w[i * out + o] when *transposed (a
 * transposed conv, which the model keeps transposed for its kernel); and its
 * bias (a transposed conv's per channel). */
static void slot_weight(const varia_model *m, int i, const float **w, int *transposed, const float **b)
{
    const varia_decl_linear *l = &m->decl.lin[i];
    *transposed = l->kind == VARIA_SLOT_CONV_T;
    if (*transposed) {
        *w = m->owned[i];
        *b = m->chan_bias[i];
        return;
    }
    *w = m->owned && m->owned[i] ? m->owned[i] : m->tensor[l->weight]->data;
    *b = m->owned_bias && m->owned_bias[i] ? m->owned_bias[i] : m->tensor[l->bias]->data;
}

varia_status varia_joint_consts_init(varia_ctx *ctx, const varia_model *m, varia_joint_consts *c)
{
    int n = m->decl.n_lin;
    c->m = m;
    c->lins = calloc((size_t)n + 1, sizeof *c->lins);
    c->packs = calloc(2 * (size_t)n + 1, sizeof *c->packs);
    if (!c->lins || !c->packs)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory binding the model to the tape");
    for (int i = 0; i < n; i++) {
        const varia_decl_linear *l = &m->decl.lin[i];
        const float *w, *b;
        int tr;
        slot_weight(m, i, &w, &tr, &b);
        float *p = aligned_alloc(64, (size_t)varia_packed_floats(l->in, l->out) * sizeof(float));
        float *pt = aligned_alloc(64, (size_t)varia_packed_floats(l->out, l->in) * sizeof(float));
        c->packs[2 * i] = p;
        c->packs[2 * i + 1] = pt;
        if (!p || !pt)
            return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory packing '%s' for the tape",
                              m->decl.t[l->weight].name);
        varia_pack_panels(p, w, l->in, l->out, tr);   /* W: what the forward product reads */
        varia_pack_panels(pt, w, l->out, l->in, !tr); /* W^T: what the input gradient reads */
        c->lins[i] = (tr_lin){l->in, l->out, NULL, b, NULL, NULL, p, pt}; /* gw, gb NULL: constant */
    }
    return VARIA_OK;
}

void varia_joint_consts_free(varia_joint_consts *c)
{
    for (int i = 0; c->packs && i < 2 * c->m->decl.n_lin; i++)
        free(c->packs[i]);
    free(c->packs);
    free(c->lins);
    memset(c, 0, sizeof *c);
}

int varia_joint_open(varia_joint *j, const varia_joint_consts *c, float obs_logvar)
{
    *j = (varia_joint){c, tr_tape_new(), obs_logvar};
    return j->t != NULL;
}

void varia_joint_close(varia_joint *j)
{
    tr_tape_free(j->t);
    j->t = NULL;
}

/* Begin a pass on j's tape: the tape backend, constants bound. */
static void begin(varia_joint *j, joint_ops *o)
{
    TR(reset)(j->t);
    TR(ops_begin)(&o->base, j->t, &j->c->m->decl, j->c->lins, NULL, NULL, NULL);
    o->base.ops.param = op_param_const;
    o->base.ops.batch_norm = NULL;
    o->m = j->c->m;
}

int varia_joint_grad(varia_joint *j, const float *x, int64_t kx, const float *z, int64_t n, double beta,
                     double *log_pz, double *log_px, float *grad)
{
    const varia_model *m = j->c->m;
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    joint_ops o;
    begin(j, &o);
    varia_ops *ops = &o.base.ops;
    memset(grad, 0, (size_t)(n * E) * sizeof *grad);
    tr_node *zn = TR(param)(j->t, n, E, z, grad); /* the only node whose gradient is kept */
    varia_v *xv = ops->input(ops, (n + kx - 1) / kx, D, x, D), *lv = NULL, *pz, *px;
    if (!isnan(j->obs_logvar))
        lv = ops->input(ops, 1, 1, &j->obs_logvar, 1);
    m->family->joint(m->cfg, ops, xv, kx, val(zn), lv, &pz, &px);
    tr_real *s = TR(alloc)(j->t, 2 * n);
    if (!s || TR(failed)(j->t))
        return 0;
    for (int64_t r = 0; r < n; r++) {
        s[r] = 1.0f;           /* d log f / d log p(z) */
        s[n + r] = (float)beta; /* d log f / d log p(x|z) */
    }
    TR(seed)(j->t, TR(node_of)(pz), s);
    TR(seed)(j->t, TR(node_of)(px), s + n);
    TR(backward)(j->t);
    for (int64_t r = 0; r < n; r++) {
        log_pz[r] = TR(node_of)(pz)->v[r];
        log_px[r] = TR(node_of)(px)->v[r];
    }
    return !TR(failed)(j->t);
}

int varia_joint_grads(varia_joint *j, const float *x, int64_t kx, const float *z, int64_t n, double *log_pz,
                      double *log_px, float *grad_pz, float *grad_px)
{
    const varia_model *m = j->c->m;
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    joint_ops o;
    begin(j, &o);
    varia_ops *ops = &o.base.ops;
    memset(grad_px, 0, (size_t)(n * E) * sizeof *grad_px);
    memset(grad_pz, 0, (size_t)(n * E) * sizeof *grad_pz);
    tr_node *zn = TR(param)(j->t, n, E, z, grad_px); /* the likelihood's sweep first, then the prior's */
    varia_v *xv = ops->input(ops, (n + kx - 1) / kx, D, x, D), *lv = NULL, *pz, *px;
    if (!isnan(j->obs_logvar))
        lv = ops->input(ops, 1, 1, &j->obs_logvar, 1);
    m->family->joint(m->cfg, ops, xv, kx, val(zn), lv, &pz, &px);
    tr_real *ones = TR(alloc)(j->t, n);
    if (!ones || TR(failed)(j->t))
        return 0;
    for (int64_t r = 0; r < n; r++)
        ones[r] = 1.0f;
    TR(seed)(j->t, TR(node_of)(px), ones);
    TR(backward_live)(j->t);
    zn->g = grad_pz;
    TR(seed)(j->t, TR(node_of)(pz), ones);
    TR(backward_live)(j->t);
    for (int64_t r = 0; r < n; r++) {
        log_pz[r] = TR(node_of)(pz)->v[r];
        log_px[r] = TR(node_of)(px)->v[r];
    }
    return !TR(failed)(j->t);
}

int varia_joint_prior(varia_joint *j, const float *eps, int64_t n, float *z, float *mean)
{
    const varia_model *m = j->c->m;
    int64_t E = varia_model_noise(m), D = m->info.data_size, off = 0;
    joint_ops o;
    begin(j, &o);
    varia_ops *ops = &o.base.ops;
    varia_v *ev = ops->input(ops, n, E, eps, E), *layers[VARIA_MAX_LAYERS], *xv, *top;
    m->family->prior_latents(m->cfg, ops, ev, layers);
    if (mean)
        m->family->generate(m->cfg, ops, ev, 1.0f, &xv, &top);
    if (TR(failed)(j->t))
        return 0;
    for (int l = 0; l < m->info.n_stochastic; l++) {
        const tr_node *v = TR(node_of)(layers[l]);
        for (int64_t r = 0; r < n; r++)
            memcpy(z + r * E + off, v->v + r * v->cols, (size_t)v->cols * sizeof *z);
        off += v->cols;
    }
    if (mean)
        memcpy(mean, TR(node_of)(xv)->v, (size_t)(n * D) * sizeof *mean);
    return 1;
}

int varia_joint_posterior(varia_joint *j, const float *x, int64_t n, float *mean, float *logvar)
{
    const varia_model *m = j->c->m;
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    joint_ops o;
    begin(j, &o);
    varia_ops *ops = &o.base.ops;
    varia_v *mu, *lv;
    m->family->encode(m->cfg, ops, ops->input(ops, n, D, x, D), &mu, &lv);
    if (TR(failed)(j->t))
        return 0;
    const tr_node *a = TR(node_of)(mu), *b = TR(node_of)(lv);
    for (int64_t r = 0; r < n; r++) { /* rows of E values (a node's row stride is its cols) */
        memcpy(mean + r * E, a->v + r * a->cols, (size_t)E * sizeof *mean);
        memcpy(logvar + r * E, b->v + r * b->cols, (size_t)E * sizeof *logvar);
    }
    return 1;
}

/* The exec and measure backends (ops_exec.h). Each op first makes its output
 * value (shape and workspace), which is all measure needs; exec then computes
 * it with the runtime's kernels. The arithmetic is that of the passes this
 * backend replaced, expression for expression, so results keep their bits. */
#include "ops_exec.h"
#include "flow_rows.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define HALF_LOG_2PI 0.91893853320467274
#define ALIGN 16 /* floats: 64 bytes */

static varia_exec *ex(varia_ops *o)
{
    return (varia_exec *)o; /* ops is the first member */
}

/* Record the high-water marks measure reports (step_end lowers n_vals and
 * used, so their final values are not the need). */
static void note_peak(varia_exec *e)
{
    e->peak_vals = e->n_vals > e->peak_vals ? e->n_vals : e->peak_vals;
    e->peak_used = e->used > e->peak_used ? e->used : e->peak_used;
}

/* A value of rows x cols in the arena (double data when dbl). Under measure,
 * or when the workspace ran out (a sizing bug: failed is then set and every
 * later op computes nothing), the data pointers stay NULL. */
static varia_v *new_val(varia_exec *e, int64_t rows, int64_t cols, int dbl)
{
    if (e->n_vals == e->cap_vals) {
        e->failed = 1;
        e->dummy = (varia_v){rows, cols, cols, NULL, NULL, dbl};
        return &e->dummy;
    }
    varia_v *v = &e->vals[e->n_vals++];
    note_peak(e);
    *v = (varia_v){rows, cols, cols, NULL, NULL, dbl};
    if (e->place && !dbl && rows == e->place_rows && cols == e->place_cols) {
        v->f = e->place;
        e->place = NULL;
        return v;
    }
    size_t n = (size_t)(rows * cols) * (dbl ? 2 : 1);
    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (!e->measure && e->used + n > e->cap)
        e->failed = 1;
    if (!e->measure && !e->failed) {
        if (dbl)
            v->d = (double *)(e->arena + e->used);
        else
            v->f = e->arena + e->used;
    }
    e->used += n;
    note_peak(e);
    return v;
}

/* Nonzero when the op should compute (not measuring, nothing failed). */
static int live(const varia_exec *e)
{
    return !e->measure && !e->failed;
}

varia_v *varia_exec_val(varia_exec *e, int64_t rows, int64_t cols, int dbl)
{
    return new_val(e, rows, cols, dbl);
}

int varia_exec_live(const varia_exec *e)
{
    return live(e);
}

static varia_v *op_input(varia_ops *o, int64_t rows, int64_t cols, const float *data, int64_t ld)
{
    varia_exec *e = ex(o);
    if (e->n_vals == e->cap_vals)
        return new_val(e, rows, cols, 0);
    varia_v *v = &e->vals[e->n_vals++];
    note_peak(e);
    *v = (varia_v){rows, cols, ld, (float *)data, NULL, 0};
    return v;
}

static varia_v *op_param(varia_ops *o, int tensor)
{
    varia_exec *e = ex(o);
    const varia_tensor *t = e->m->tensor[tensor];
    int64_t rows = t->rank >= 2 ? t->shape[0] : 1, cols = t->rank >= 2 ? t->numel / t->shape[0] : t->shape[0];
    return op_input(o, rows, cols, t->data, cols);
}

static varia_v *op_cols(varia_ops *o, varia_v *x, int64_t off, int64_t n)
{
    varia_exec *e = ex(o);
    if (e->n_vals == e->cap_vals)
        return new_val(e, x->rows, n, 0);
    varia_v *v = &e->vals[e->n_vals++];
    note_peak(e);
    *v = (varia_v){x->rows, n, x->ld, x->f ? x->f + off : NULL, x->d ? x->d + off : NULL, x->dbl};
    return v;
}

/* x with contiguous rows: itself, or a packed copy (the kernels read rows of
 * exactly `cols` floats). */
static const float *contiguous(varia_exec *e, varia_v *x)
{
    if (x->ld == x->cols)
        return x->f;
    varia_v *c = new_val(e, x->rows, x->cols, 0);
    if (live(e))
        for (int64_t r = 0; r < x->rows; r++)
            memcpy(c->f + r * x->cols, x->f + r * x->ld, (size_t)x->cols * sizeof(float));
    return c->f;
}

static varia_v *op_reshape(varia_ops *o, varia_v *x, int64_t rows, int64_t cols)
{
    varia_exec *e = ex(o);
    float *f = (float *)contiguous(e, x); /* x's own data when its rows are contiguous */
    if (e->n_vals == e->cap_vals)
        return new_val(e, rows, cols, 0);
    varia_v *v = &e->vals[e->n_vals++];
    note_peak(e);
    *v = (varia_v){rows, cols, cols, f, NULL, 0};
    return v;
}

static varia_v *op_linear(varia_ops *o, varia_v *x, int slot, varia_act act)
{
    varia_exec *e = ex(o);
    const varia_linear *l = &e->m->lin[slot];
    const float *in = contiguous(e, x);
    varia_v *y = new_val(e, x->rows, l->out, 0);
    if (live(e))
        varia_linear_forward_team(l, in, x->rows, y->f, act, e->team);
    return y;
}

/* Through the packed kernel on a view of the slot's panels (varia_linear_cols):
 * no packing, no allocation beyond the output. */
static varia_v *op_linear_cols(varia_ops *o, varia_v *x, int slot, int64_t off, int64_t n, int bias)
{
    varia_exec *e = ex(o);
    const varia_linear *l = &e->m->lin[slot];
    if (off < 0 || n != x->cols || off + n > l->in)
        e->failed = 1; /* a family's bug: the pass then computes nothing */
    const float *in = contiguous(e, x);
    varia_v *y = new_val(e, x->rows, l->out, 0);
    varia_linear v = live(e) ? varia_linear_cols(l, off, n, bias) : *l;
    if (live(e))
        varia_linear_forward_team(&v, in, x->rows, y->f, (varia_act){VARIA_ACT_IDENTITY, 0.0f}, e->team);
    return y;
}

static varia_v *op_scale(varia_ops *o, varia_v *x, float c)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, x->rows, x->cols, 0);
    for (int64_t r = 0; live(e) && r < x->rows; r++)
        for (int64_t j = 0; j < x->cols; j++)
            y->f[r * y->ld + j] = x->f[r * x->ld + j] * c;
    return y;
}

static varia_v *op_reparam(varia_ops *o, varia_v *mu, varia_v *lv, int64_t k, varia_v *eps, float temp)
{
    varia_exec *e = ex(o);
    int64_t d = mu->cols;
    varia_v *z = new_val(e, mu->rows * k, d, 0);
    for (int64_t r = 0; live(e) && r < z->rows; r++) {
        const float *m = mu->f + (r / k) * mu->ld, *l = lv->f + (r / k) * lv->ld, *ep = eps->f + r * eps->ld;
        for (int64_t j = 0; j < d; j++)
            z->f[r * d + j] = m[j] + temp * expf(0.5f * l[j]) * ep[j];
    }
    return z;
}

static varia_v *op_logq_eps(varia_ops *o, varia_v *lv, int64_t k, varia_v *eps)
{
    varia_exec *e = ex(o);
    varia_v *q = new_val(e, lv->rows * k, 1, 1);
    for (int64_t r = 0; live(e) && r < q->rows; r++) {
        const float *l = lv->f + (r / k) * lv->ld, *ep = eps->f + r * eps->ld;
        double s = 0.0;
        for (int64_t j = 0; j < lv->cols; j++)
            s += -0.5 * (double)ep[j] * ep[j] - 0.5 * (double)l[j] - HALF_LOG_2PI;
        q->d[r] = s;
    }
    return q;
}

static varia_v *op_gauss_logp(varia_ops *o, varia_v *z, int64_t kz, varia_v *mu, int64_t kmu, varia_v *lv)
{
    varia_exec *e = ex(o);
    int64_t d = mu->cols;
    varia_v *p = new_val(e, mu->rows * kmu, 1, 1);
    for (int64_t r = 0; live(e) && r < p->rows; r++) {
        const float *zr = z->f + (r / kz) * z->ld, *mr = mu->f + (r / kmu) * mu->ld;
        if (lv->cols == 1)
            p->d[r] = varia_gaussian_logp_scalar(zr, mr, lv->f[0], d);
        else
            p->d[r] = varia_gaussian_logp(zr, mr, lv->f + (lv->rows == 1 ? 0 : r / kmu) * lv->ld, d);
    }
    return p;
}

static varia_v *op_std_normal_logp(varia_ops *o, varia_v *z)
{
    varia_exec *e = ex(o);
    varia_v *p = new_val(e, z->rows, 1, 1);
    for (int64_t r = 0; live(e) && r < z->rows; r++)
        p->d[r] = varia_std_normal_logp(z->f + r * z->ld, z->cols);
    return p;
}

static varia_v *op_linear_bernoulli(varia_ops *o, varia_v *h, int slot, varia_v *x, int64_t kx)
{
    varia_exec *e = ex(o);
    const varia_linear *l = &e->m->lin[slot];
    const float *in = contiguous(e, h);
    varia_v *tmp = new_val(e, kx, l->out, 0); /* used by the system-BLAS build only */
    varia_v *p = new_val(e, h->rows, 1, 1);
    for (int64_t b = 0; live(e) && b * kx < h->rows; b++)
        varia_linear_bernoulli(l, in + b * kx * l->in, kx, x->f + b * x->ld, p->d + b * kx, tmp->f);
    return p;
}

static varia_v *op_gauss_kl(varia_ops *o, varia_v *mu, varia_v *lv)
{
    varia_exec *e = ex(o);
    varia_v *k = new_val(e, mu->rows, mu->cols, 1);
    for (int64_t r = 0; live(e) && r < mu->rows; r++)
        for (int64_t j = 0; j < mu->cols; j++) {
            float m = mu->f[r * mu->ld + j], l = lv->f[r * lv->ld + j];
            k->d[r * k->ld + j] = 0.5 * ((double)m * m + exp((double)l) - l - 1.0);
        }
    return k;
}

static varia_v *op_row_sum(varia_ops *o, varia_v *x)
{
    varia_exec *e = ex(o);
    varia_v *s = new_val(e, x->rows, 1, 1);
    for (int64_t r = 0; live(e) && r < x->rows; r++) {
        double acc = 0.0;
        for (int64_t j = 0; j < x->cols; j++)
            acc += x->d ? x->d[r * x->ld + j] : (double)x->f[r * x->ld + j];
        s->d[r] = acc;
    }
    return s;
}

static varia_v *op_combine(varia_ops *o, varia_v *const *a, const double *c, int n)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, a[0]->rows, a[0]->cols, 1);
    for (int64_t r = 0; live(e) && r < y->rows; r++)
        for (int64_t j = 0; j < y->cols; j++) {
            double s = c[0] * a[0]->d[r * a[0]->ld + j];
            for (int i = 1; i < n; i++)
                s += c[i] * a[i]->d[r * a[i]->ld + j];
            y->d[r * y->ld + j] = s;
        }
    return y;
}

static varia_v *op_add(varia_ops *o, varia_v *a, varia_v *b, int64_t kb, varia_act act)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, a->rows, a->cols, 0);
    for (int64_t r = 0; live(e) && r < a->rows; r++)
        varia_add_act(y->f + r * y->ld, a->f + r * a->ld, b->f + (b->rows == 1 ? 0 : r / kb) * b->ld, a->cols, act);
    return y;
}

static varia_v *op_bernoulli_logp(varia_ops *o, varia_v *logits, varia_v *x, int64_t kx)
{
    varia_exec *e = ex(o);
    varia_v *p = new_val(e, logits->rows, 1, 1);
    for (int64_t r = 0; live(e) && r < logits->rows; r++)
        p->d[r] = varia_bernoulli_logp(x->f + (r / kx) * x->ld, logits->f + r * logits->ld, logits->cols);
    return p;
}

/* Floats beside floats, or doubles beside doubles (per-dimension KL terms). */
static varia_v *op_concat(varia_ops *o, varia_v *a, varia_v *b)
{
    varia_exec *e = ex(o);
    if (a->dbl != b->dbl)
        e->failed = 1; /* a family's bug: the pass then computes nothing */
    varia_v *y = new_val(e, a->rows, a->cols + b->cols, a->dbl);
    for (int64_t r = 0; live(e) && r < a->rows; r++) {
        if (a->dbl) {
            memcpy(y->d + r * y->ld, a->d + r * a->ld, (size_t)a->cols * sizeof(double));
            memcpy(y->d + r * y->ld + a->cols, b->d + r * b->ld, (size_t)b->cols * sizeof(double));
        } else {
            memcpy(y->f + r * y->ld, a->f + r * a->ld, (size_t)a->cols * sizeof(float));
            memcpy(y->f + r * y->ld + a->cols, b->f + r * b->ld, (size_t)b->cols * sizeof(float));
        }
    }
    return y;
}

static varia_v *op_act(varia_ops *o, varia_v *x, varia_act act)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, x->rows, x->cols, 0);
    for (int64_t r = 0; live(e) && r < x->rows; r++)
        varia_act_apply(y->f + r * y->ld, x->f + r * x->ld, x->cols, act);
    return y;
}

static int64_t op_rows_of(varia_ops *o, varia_v *x)
{
    (void)o;
    return x->rows;
}

static varia_v *op_normal_to_uniform(varia_ops *o, varia_v *x)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, x->rows, x->cols, 0);
    for (int64_t r = 0; live(e) && r < x->rows; r++)
        for (int64_t j = 0; j < x->cols; j++) /* in double, as the tape computes it */
            y->f[r * y->ld + j] = (float)erf((double)x->f[r * x->ld + j] * 0.70710678118654752);
    return y;
}

static varia_v *op_matmul(varia_ops *o, varia_v *x, varia_v *w)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, x->rows, w->rows, 0);
    for (int64_t r = 0; live(e) && r < x->rows; r++)
        for (int64_t j = 0; j < w->rows; j++) {
            double s = 0.0;
            for (int64_t i = 0; i < x->cols; i++)
                s += (double)x->f[r * x->ld + i] * w->f[j * w->ld + i];
            y->f[r * y->ld + j] = (float)s;
        }
    return y;
}

VARIA_FLOW_ROWS(float, f, f)

/* Row of a flow parameter serving row r of z: one shared row, or r / k. */
static const float *prow(const varia_v *p, int64_t r, int64_t k)
{
    return p->f + (p->rows == 1 ? 0 : r / k) * p->ld;
}

static varia_v *op_planar_uhat(varia_ops *o, varia_v *u, varia_v *w)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, u->rows, u->cols, 0);
    for (int64_t r = 0; live(e) && r < u->rows; r++)
        flow_uhat_f(u->f + r * u->ld, w->f + r * w->ld, u->cols, y->f + r * y->ld);
    return y;
}

static varia_v *op_planar(varia_ops *o, varia_v *z, varia_v *uh, varia_v *w, varia_v *b, int64_t k)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, z->rows, z->cols, 0);
    for (int64_t r = 0; live(e) && r < z->rows; r++)
        flow_planar_f(z->f + r * z->ld, prow(uh, r, k), prow(w, r, k), *prow(b, r, k), z->cols, y->f + r * y->ld);
    return y;
}

static varia_v *op_planar_logdet(varia_ops *o, varia_v *z, varia_v *uh, varia_v *w, varia_v *b, int64_t k)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, z->rows, 1, 1);
    for (int64_t r = 0; live(e) && r < z->rows; r++)
        y->d[r] = flow_planar_logdet_f(z->f + r * z->ld, prow(uh, r, k), prow(w, r, k), *prow(b, r, k), z->cols);
    return y;
}

static varia_v *op_radial(varia_ops *o, varia_v *z, varia_v *z0, varia_v *ah, varia_v *bh, int64_t k)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, z->rows, z->cols, 0);
    for (int64_t r = 0; live(e) && r < z->rows; r++)
        flow_radial_f(z->f + r * z->ld, prow(z0, r, k), *prow(ah, r, k), *prow(bh, r, k), z->cols, y->f + r * y->ld);
    return y;
}

static varia_v *op_radial_logdet(varia_ops *o, varia_v *z, varia_v *z0, varia_v *ah, varia_v *bh, int64_t k)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, z->rows, 1, 1);
    for (int64_t r = 0; live(e) && r < z->rows; r++)
        y->d[r] = flow_radial_logdet_f(z->f + r * z->ld, prow(z0, r, k), *prow(ah, r, k), *prow(bh, r, k), z->cols);
    return y;
}

static varia_v *op_iaf(varia_ops *o, varia_v *z, varia_v *m, varia_v *s)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, z->rows, z->cols, 0);
    for (int64_t r = 0; live(e) && r < z->rows; r++)
        flow_iaf_f(z->f + r * z->ld, m->f + r * m->ld, s->f + r * s->ld, z->cols, y->f + r * y->ld);
    return y;
}

static varia_v *op_iaf_logdet(varia_ops *o, varia_v *s)
{
    varia_exec *e = ex(o);
    varia_v *y = new_val(e, s->rows, 1, 1);
    for (int64_t r = 0; live(e) && r < s->rows; r++)
        y->d[r] = flow_iaf_logdet_f(s->f + r * s->ld, s->cols);
    return y;
}

/* ---- step scoping (ops.h) ---- */

static varia_mark op_step_begin(varia_ops *o)
{
    varia_exec *e = ex(o);
    return (varia_mark){e->n_vals, e->used};
}

/* Nonzero when handle v is one of the records vals[lo, hi) (the dummy and
 * every other record are not). */
static int record_in(const varia_exec *e, const varia_v *v, size_t lo, size_t hi)
{
    uintptr_t p = (uintptr_t)v;
    return p >= (uintptr_t)(e->vals + lo) && p < (uintptr_t)(e->vals + hi);
}

/* Copy v's rows into s, a contiguous value of v's shape and type. */
static void copy_rows(varia_v *s, const varia_v *v)
{
    for (int64_t r = 0; r < v->rows; r++) {
        if (v->dbl)
            memcpy(s->d + r * s->ld, v->d + r * v->ld, (size_t)v->cols * sizeof(double));
        else
            memcpy(s->f + r * s->ld, v->f + r * v->ld, (size_t)v->cols * sizeof(float));
    }
}

/* Each carried value made since the mark is copied, contiguous, above
 * everything (no copy can overwrite another's source, views included); the
 * block of copies and their records then move down to the mark in one
 * memmove each, and the handles follow. Carried values made before the mark
 * stay where they are. Measure runs the same arithmetic on sizes alone. */
static void op_step_end(varia_ops *o, varia_mark m, varia_v **carry, int n)
{
    varia_exec *e = ex(o);
    if (n > VARIA_CARRY_MAX)
        e->failed = 1; /* a family's bug: the pass then computes nothing */
    if (e->failed)
        return;
    size_t base_vals = e->n_vals, base_used = e->used;
    float *place = e->place;
    e->place = NULL; /* the copies must stay in the block that moves */
    int idx[VARIA_CARRY_MAX], k = 0;
    for (int i = 0; i < n; i++) {
        idx[i] = -1;
        for (int j = 0; j < i && idx[i] < 0; j++) /* one value carried twice: one copy */
            idx[i] = carry[j] == carry[i] ? idx[j] : -1;
        if (idx[i] >= 0 || !record_in(e, carry[i], m.vals, base_vals))
            continue;
        varia_v *s = new_val(e, carry[i]->rows, carry[i]->cols, carry[i]->dbl);
        if (live(e))
            copy_rows(s, carry[i]);
        idx[i] = k++;
    }
    e->place = place;
    if (e->failed)
        return;
    size_t shift = base_used - m.floats; /* a multiple of ALIGN: doubles stay aligned */
    if (live(e))
        memmove(e->arena + m.floats, e->arena + base_used, (e->used - base_used) * sizeof(float));
    memmove(e->vals + m.vals, e->vals + base_vals, (size_t)k * sizeof *e->vals);
    for (int s = 0; s < k; s++) {
        varia_v *v = &e->vals[m.vals + s];
        if (v->f)
            v->f -= shift;
        if (v->d)
            v->d = (double *)(void *)((float *)(void *)v->d - shift);
    }
    e->used -= shift;
    e->n_vals = m.vals + (size_t)k;
    for (int i = 0; i < n; i++)
        if (idx[i] >= 0)
            carry[i] = &e->vals[m.vals + (size_t)idx[i]];
}

static const varia_ops exec_ops = {
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
    .conv2d = varia_exec_conv2d,
    .conv_transpose2d = varia_exec_conv_transpose2d,
    .planar_uhat = op_planar_uhat,
    .planar = op_planar,
    .planar_logdet = op_planar_logdet,
    .radial = op_radial,
    .radial_logdet = op_radial_logdet,
    .iaf = op_iaf,
    .iaf_logdet = op_iaf_logdet,
    .lstm_cell = varia_exec_lstm_cell,
    .gru_cell = varia_exec_gru_cell,
    .step_begin = op_step_begin,
    .step_end = op_step_end,
    .row_mask = varia_exec_row_mask,
    .emit = varia_exec_emit,
    .softplus_logvar = varia_exec_softplus_logvar,
    .gauss_kl_to = varia_exec_gauss_kl_to,
    .bernoulli_sample = varia_exec_bernoulli_sample,
    .gmm_logp = varia_exec_gmm_logp,
    .gmm_sample = varia_exec_gmm_sample,
    .gmm_moment = varia_exec_gmm_moment,
    .attn_filterbank = varia_exec_attn_filterbank,
    .attn_read = varia_exec_attn_read,
    .attn_write = varia_exec_attn_write,
    .linear_t = varia_exec_linear_t,
    .conv2d_t = varia_exec_conv2d_t,
    .act_mask = varia_exec_act_mask,
    .norm_penalty = varia_exec_norm_penalty,
};

size_t varia_exec_val_floats(size_t vals)
{
    size_t f = (vals * sizeof(varia_v) + sizeof(float) - 1) / sizeof(float);
    return (f + ALIGN - 1) / ALIGN * ALIGN;
}

void varia_exec_begin_sized(varia_exec *e, const varia_model *m, float *ws, size_t vals, size_t floats,
                            struct varia_pool *team)
{
    size_t vf = varia_exec_val_floats(vals);
    *e = (varia_exec){.ops = exec_ops, .m = m, .team = team, .vals = (varia_v *)(void *)ws,
                      .cap_vals = vals, .arena = ws + vf, .cap = floats - vf};
}

void varia_exec_begin(varia_exec *e, const varia_model *m, float *ws, struct varia_pool *team)
{
    varia_exec_begin_sized(e, m, ws, m->ws_vals, m->ws_floats, team);
}

void varia_measure_begin(varia_exec *e, const varia_model *m, varia_v *vals, size_t cap_vals)
{
    *e = (varia_exec){.ops = exec_ops, .m = m, .vals = vals, .cap_vals = cap_vals, .measure = 1};
}

void varia_exec_place(varia_exec *e, float *dst, int64_t rows, int64_t cols)
{
    e->place = e->measure ? NULL : dst;
    e->place_rows = rows;
    e->place_cols = cols;
}

void varia_exec_copy_out(const varia_v *v, float *dst)
{
    if (v->f == dst)
        return;
    for (int64_t r = 0; r < v->rows; r++)
        memcpy(dst + r * v->cols, v->f + r * v->ld, (size_t)v->cols * sizeof(float));
}

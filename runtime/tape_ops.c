/* The tape's ops, each one's backward rule beside its forward: the forward
 * computes the value now and records the op with its rule; TR(backward)
 * (tape.c) replays the rules in reverse. Adding an op is adding one such pair
 * here and its declaration in tape.h. */
#include "tape_impl.h"

#include <math.h>
#include <string.h>

/* Elementwise functions of the Bernoulli output, the hottest loop after the
 * products: varia's vectorized float versions in the library (the runtime's
 * own), libm in double for the gradient checks. */
#ifdef TR_DOUBLE
#define SOFTPLUS(v) ((v) > 0 ? (v) + log1p(exp(-(v))) : log1p(exp(v)))
#define SIGMOID(v) ((v) >= 0 ? 1.0 / (1.0 + exp(-(v))) : exp(v) / (1.0 + exp(v)))
#else
#include "vmath.h"
#define SOFTPLUS(v) vm_softplus(v)
#define SIGMOID(v) vm_sigmoid(v)
#endif

#define HALF_LOG_2PI 0.91893853320467274

/* exp(v / 2): expf in float, exactly as the exec backend computes it. */
#ifdef TR_DOUBLE
#define HALF_EXP(v) exp(0.5 * (v))
#else
#define HALF_EXP(v) expf(0.5f * (v))
#endif

#ifdef TR_DOUBLE
/* d act(v) / dv from the activation's output y. */
static tr_real act_grad(varia_act act, tr_real y)
{
    switch (act.kind) {
    case VARIA_ACT_TANH: return 1 - y * y;
    case VARIA_ACT_RELU: return y > 0 ? 1 : 0;
    case VARIA_ACT_LEAKY_RELU: return y > 0 ? 1 : (tr_real)act.param;
    case VARIA_ACT_ELU: return y > 0 ? 1 : y + (tr_real)act.param;
    case VARIA_ACT_SOFTPLUS: return (tr_real)(-expm1(-(double)y));
    case VARIA_ACT_SIGMOID: return y * (1 - y);
    case VARIA_ACT_IDENTITY: break;
    }
    return 1;
}
#endif

/* ---- linear ---- */

tr_real *TR(pre_act_grad)(tr_tape *t, const record *r)
{
    const tr_node *y = r->out;
    int64_t n = y->rows * y->cols;
    if (r->act.kind == VARIA_ACT_IDENTITY)
        return y->g;
    tr_real *dpre = TR(alloc)(t, n);
    if (!dpre)
        return NULL;
#ifdef TR_DOUBLE
    for (int64_t i = 0; i < n; i++)
        dpre[i] = y->g[i] * act_grad(r->act, y->v[i]);
#else
    varia_act_grad(r->act, y->v, y->g, n, dpre);
#endif
    return dpre;
}

/* dpre = dy * act'(y); dW += dpre^T x, db += column sums of dpre, dx += dpre W.
 * A layer without gradient buffers (gw NULL: weights held constant, as AIS
 * holds a loaded model's) skips the weight product, a third of the work. */
static void back_linear(tr_tape *t, const record *r)
{
    const tr_node *x = r->a;
    tr_real *dpre = TR(pre_act_grad)(t, r);
    if (!dpre)
        return;
    if (r->lin->gw)
        TR(mm_weight_grad)(r->lin, dpre, x->v, x->rows, TR(alloc)(t, TR(mm_weight_scratch)(r->lin, x->rows)));
    if (x->g)
        TR(mm_input_grad)(r->lin, dpre, x->rows, x->g, TR(alloc)(t, TR(mm_input_scratch)(r->lin, x->rows)));
}

tr_node *TR(linear)(tr_tape *t, tr_node *x, const tr_lin *l, varia_act act)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_linear, x->rows, l->out, 1, x, &y);
    if (!r)
        return y;
    r->lin = l;
    r->act = act;
    TR(mm_forward)(l, x->v, x->rows, y->v, act);
    return y;
}

/* ---- reparam ---- */

/* dz/dmu = 1, dz/dlv = temp * eps * exp(lv/2) / 2 (rows sharing mu sum) */
static void back_reparam(tr_tape *t, const record *r)
{
    (void)t;
    const tr_node *z = r->out;
    tr_node *mu = r->a, *lv = r->b;
    int64_t L = z->cols;
    for (int64_t i = 0; i < z->rows; i++)
        for (int64_t d = 0; d < L; d++) {
            int64_t p = (i / r->k) * L + d;
            tr_real g = z->g[i * L + d];
            if (mu->g)
                mu->g[p] += g;
            if (lv->g) /* dz/dlv = temp * eps * exp(lv/2) / 2 */
                lv->g[p] += g * (tr_real)(0.5 * r->s * HALF_EXP(lv->v[p]) * r->data[i * L + d]);
        }
}

tr_node *TR(reparam)(tr_tape *t, tr_node *mu, tr_node *lv, const tr_real *eps, int64_t k, float temp)
{
    int64_t rows = mu->rows * k, L = mu->cols;
    tr_node *z;
    record *r = TR(begin_op)(t, back_reparam, rows, L, 1, mu, &z);
    if (!r)
        return z;
    r->b = lv;
    r->data = eps;
    r->k = k;
    r->s = temp;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t d = 0; d < L; d++) {
            int64_t p = (i / k) * L + d;
            z->v[i * L + d] = mu->v[p] + (tr_real)temp * HALF_EXP(lv->v[p]) * eps[i * L + d];
        }
    return z;
}

/* ---- logq_eps ---- */

static void back_logq(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *lv = r->a;
    for (int64_t i = 0; i < r->out->rows; i++)
        for (int64_t d = 0; d < lv->cols; d++) /* d logq / d lv = -1/2 */
            lv->g[(i / r->k) * lv->cols + d] -= (tr_real)0.5 * r->out->g[i];
}

tr_node *TR(logq_eps)(tr_tape *t, tr_node *lv, const tr_real *eps, int64_t k)
{
    int64_t rows = lv->rows * k, L = lv->cols;
    tr_node *q;
    record *r = TR(begin_op)(t, back_logq, rows, 1, lv->g != NULL, lv, &q);
    if (!r)
        return q;
    r->k = k;
    for (int64_t i = 0; i < rows; i++) {
        const tr_real *l = lv->v + (i / k) * L, *e = eps + i * L;
        double s = 0.0;
        for (int64_t d = 0; d < L; d++)
            s += -0.5 * (double)e[d] * e[d] - 0.5 * (double)l[d] - HALF_LOG_2PI;
        q->v[i] = (tr_real)s;
    }
    return q;
}

/* ---- scale ---- */

/* d (c x) / d x = c */
static void back_scale(tr_tape *t, const record *r)
{
    (void)t;
    for (int64_t i = 0; i < r->out->rows * r->out->cols; i++)
        r->a->g[i] += (tr_real)r->s * r->out->g[i];
}

tr_node *TR(scale)(tr_tape *t, tr_node *x, double c)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_scale, x->rows, x->cols, x->g != NULL, x, &y);
    if (!r)
        return y;
    r->s = c;
    for (int64_t i = 0; i < x->rows * x->cols; i++)
        y->v[i] = x->v[i] * (tr_real)c;
    return y;
}

/* ---- cols ---- */

static void back_cols(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *x = r->a;
    const tr_node *y = r->out;
    for (int64_t i = 0; i < y->rows; i++)
        for (int64_t d = 0; d < y->cols; d++)
            x->g[i * x->cols + r->k + d] += y->g[i * y->cols + d];
}

tr_node *TR(cols)(tr_tape *t, tr_node *x, int64_t off, int64_t n)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_cols, x->rows, n, x->g != NULL, x, &y);
    if (!r)
        return y;
    r->k = off;
    for (int64_t i = 0; i < x->rows; i++)
        memcpy(y->v + i * n, x->v + i * x->cols + off, (size_t)n * sizeof(tr_real));
    return y;
}

/* ---- reshape ---- */

static void back_reshape(tr_tape *t, const record *r)
{
    (void)t;
    int64_t n = r->out->rows * r->out->cols;
    for (int64_t i = 0; i < n; i++)
        r->a->g[i] += r->out->g[i];
}

tr_node *TR(reshape)(tr_tape *t, tr_node *x, int64_t rows, int64_t cols)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_reshape, rows, cols, x->g != NULL, x, &y);
    if (!r)
        return y;
    memcpy(y->v, x->v, (size_t)(rows * cols) * sizeof(tr_real));
    return y;
}

/* ---- gauss_logp ---- */

/* The lv row serving output row r (one shared row broadcasts). */
static int64_t lv_row(const tr_node *lv, int64_t r, int64_t kmu)
{
    return lv->rows == 1 ? 0 : r / kmu;
}

/* A row whose log-variance is one value (lv of one column: a shared or
 * per-row scalar, as AIS's Gaussian observation model) takes exp(-lv) once,
 * not once per element: the same double, so the same bits, and the loop
 * then has no libm call in it (AIS spent an eighth of its time in that exp). */
static void back_gauss(tr_tape *t, const record *r)
{
    (void)t;
    const tr_node *o = r->out;
    tr_node *z = r->a, *mu = r->b, *lv = r->c;
    int64_t L = z->cols;
    for (int64_t i = 0; i < o->rows; i++) {
        tr_real g = o->g[i];
        int64_t zr = (i / r->k) * L, mr = (i / r->k2) * L, lr = lv_row(lv, i, r->k2) * lv->cols;
        int64_t step = lv->cols == 1 ? 0 : 1;
        double iv1 = exp(-(double)lv->v[lr]); /* element 0's, and every element's when step is 0 */
        if (!step && !lv->g) { /* z's and mu's gradients one loop each, vectorized: the same values */
            const tr_real *zv = z->v + zr, *mv = mu->v + mr;
            if (z->g)
                for (int64_t d = 0; d < L; d++)
                    z->g[zr + d] += (tr_real)(-((double)zv[d] - (double)mv[d]) * iv1) * g;
            if (mu->g)
                for (int64_t d = 0; d < L; d++)
                    mu->g[mr + d] -= (tr_real)(-((double)zv[d] - (double)mv[d]) * iv1) * g;
            continue;
        }
        for (int64_t d = 0; d < L; d++) {
            double iv = step ? exp(-(double)lv->v[lr + d]) : iv1;
            double e = (double)z->v[zr + d] - (double)mu->v[mr + d];
            tr_real de = (tr_real)(-e * iv) * g; /* d logp / dz */
            if (z->g)
                z->g[zr + d] += de;
            if (mu->g)
                mu->g[mr + d] -= de;
            if (lv->g)
                lv->g[lr + d * step] += g * (tr_real)(-0.5 + 0.5 * e * e * iv);
        }
    }
}

tr_node *TR(gauss_logp)(tr_tape *t, tr_node *z, int64_t kz, tr_node *mu, int64_t kmu, tr_node *lv)
{
    int64_t rows = z->rows * kz, L = z->cols;
    tr_node *o;
    record *r = TR(begin_op)(t, back_gauss, rows, 1, z->g || mu->g || lv->g, z, &o);
    if (!r)
        return o;
    r->b = mu;
    r->c = lv;
    r->k = kz;
    r->k2 = kmu;
    for (int64_t i = 0; i < rows; i++) {
        const tr_real *zr = z->v + (i / kz) * L, *mr = mu->v + (i / kmu) * L;
        const tr_real *lr = lv->v + lv_row(lv, i, kmu) * lv->cols;
        double s = 0.0;
        if (lv->cols == 1) { /* one log-variance: its exp once (back_gauss says why), the same bits */
            double l = (double)lr[0], c = -HALF_LOG_2PI - 0.5 * l, iv = exp(-l);
            for (int64_t d = 0; d < L; d++) {
                double e = (double)zr[d] - (double)mr[d];
                s += c - 0.5 * e * e * iv;
            }
        } else
            for (int64_t d = 0; d < L; d++) {
                double e = (double)zr[d] - (double)mr[d], l = (double)lr[d];
                s += -HALF_LOG_2PI - 0.5 * l - 0.5 * e * e * exp(-l);
            }
        o->v[i] = (tr_real)s;
    }
    return o;
}

/* ---- std_normal_logp ---- */

static void back_stdn(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *z = r->a;
    for (int64_t i = 0; i < z->rows; i++)
        for (int64_t d = 0; d < z->cols; d++)
            z->g[i * z->cols + d] -= r->out->g[i] * z->v[i * z->cols + d];
}

tr_node *TR(std_normal_logp)(tr_tape *t, tr_node *z)
{
    tr_node *o;
    record *r = TR(begin_op)(t, back_stdn, z->rows, 1, z->g != NULL, z, &o);
    if (!r)
        return o;
    for (int64_t i = 0; i < z->rows; i++) {
        double s = 0.0;
        for (int64_t d = 0; d < z->cols; d++) {
            double v = z->v[i * z->cols + d];
            s += -HALF_LOG_2PI - 0.5 * v * v;
        }
        o->v[i] = (tr_real)s;
    }
    return o;
}

/* ---- bernoulli_logp ---- */

static void back_bern(tr_tape *t, const record *r)
{
    tr_node *l = r->a;
    int64_t D = l->cols;
    tr_real *tmp = TR(alloc)(t, D);
    if (!tmp)
        return;
    for (int64_t i = 0; i < l->rows; i++) {
        const tr_real *xr = r->data + (i / r->k) * D;
        tr_real g = r->out->g[i];
        const tr_real *lv = l->v + i * D;
        tr_real *lg = l->g + i * D;
#ifdef TR_DOUBLE
        for (int64_t d = 0; d < D; d++)
            lg[d] += g * (xr[d] - SIGMOID(lv[d]));
#else
        varia_bernoulli_grad(xr, lv, D, tmp);
        for (int64_t d = 0; d < D; d++)
            lg[d] += g * tmp[d];
#endif
    }
}

tr_node *TR(bernoulli_logp)(tr_tape *t, tr_node *logits, const tr_real *x, int64_t kx)
{
    int64_t D = logits->cols;
    tr_node *o;
    record *r = TR(begin_op)(t, back_bern, logits->rows, 1, logits->g != NULL, logits, &o);
    if (!r)
        return o;
    r->data = x;
    r->k = kx;
    for (int64_t i = 0; i < logits->rows; i++) {
        const tr_real *l = logits->v + i * D, *xr = x + (i / kx) * D;
#ifdef TR_DOUBLE
        double s = 0.0;
        for (int64_t d = 0; d < D; d++)
            s += xr[d] * l[d] - SOFTPLUS(l[d]);
        o->v[i] = s;
#else
        o->v[i] = (float)varia_bernoulli_logp(xr, l, D); /* the runtime's own */
#endif
    }
    return o;
}

/* ---- gauss_kl ---- */

static void back_kl(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *mu = r->a, *lv = r->b;
    for (int64_t i = 0; i < mu->rows * mu->cols; i++) {
        tr_real g = r->out->g[i];
        if (mu->g)
            mu->g[i] += g * mu->v[i];
        if (lv->g)
            lv->g[i] += g * (tr_real)(0.5 * expm1((double)lv->v[i]));
    }
}

tr_node *TR(gauss_kl)(tr_tape *t, tr_node *mu, tr_node *lv)
{
    int64_t n = mu->rows * mu->cols;
    tr_node *o;
    record *r = TR(begin_op)(t, back_kl, mu->rows, mu->cols, 1, mu, &o);
    if (!r)
        return o;
    r->b = lv;
    for (int64_t i = 0; i < n; i++) {
        double m = mu->v[i], l = lv->v[i];
        o->v[i] = (tr_real)(0.5 * (m * m + exp(l) - l - 1.0));
    }
    return o;
}

/* ---- row_sum ---- */

/* d sum_d x_d / d x_d = 1 */
static void back_rowsum(tr_tape *t, const record *r)
{
    (void)t;
    for (int64_t i = 0; i < r->a->rows; i++)
        for (int64_t d = 0; d < r->a->cols; d++)
            r->a->g[i * r->a->cols + d] += r->out->g[i];
}

tr_node *TR(row_sum)(tr_tape *t, tr_node *x)
{
    tr_node *o;
    record *r = TR(begin_op)(t, back_rowsum, x->rows, 1, x->g != NULL, x, &o);
    if (!r)
        return o;
    for (int64_t i = 0; i < x->rows; i++) {
        double s = 0.0;
        for (int64_t d = 0; d < x->cols; d++)
            s += x->v[i * x->cols + d];
        o->v[i] = (tr_real)s;
    }
    return o;
}

/* ---- combine ---- */

/* d sum_j c_j a_j / d a_j = c_j */
static void back_combine(tr_tape *t, const record *r)
{
    (void)t;
    for (int j = 0; j < r->k; j++)
        if (r->list[j]->g)
            for (int64_t i = 0; i < r->out->rows * r->out->cols; i++)
                r->list[j]->g[i] += (tr_real)r->coef[j] * r->out->g[i];
}

tr_node *TR(combine)(tr_tape *t, tr_node *const *a, const double *c, int n)
{
    tr_node *o = TR(new_node)(t, a[0]->rows, a[0]->cols, 1);
    tr_node **list = TR(arena)(t, (size_t)n * sizeof *list);
    double *coef = TR(arena)(t, (size_t)n * sizeof *coef);
    record *r = list && coef ? TR(push)(t, back_combine, o) : NULL;
    if (!r)
        return o;
    memcpy(list, a, (size_t)n * sizeof *list);
    memcpy(coef, c, (size_t)n * sizeof *coef);
    r->list = list;
    r->coef = coef;
    r->k = n;
    for (int64_t i = 0; i < o->rows * o->cols; i++) {
        double s = 0.0;
        for (int j = 0; j < n; j++)
            s += c[j] * (double)a[j]->v[i];
        o->v[i] = (tr_real)s;
    }
    return o;
}

/* ---- lse_groups ---- */

/* d (logsumexp - log k) / d x_j = softmax_j: the normalized weights */
static void back_lse(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *x = r->a;
    for (int64_t i = 0; i < r->out->rows; i++) {
        double lse = (double)r->out->v[i] + log((double)r->k);
        for (int64_t j = 0; j < r->k; j++)
            x->g[i * r->k + j] += r->out->g[i] * (tr_real)exp((double)x->v[i * r->k + j] - lse);
    }
}

tr_node *TR(lse_groups)(tr_tape *t, tr_node *x, int64_t k)
{
    tr_node *o;
    record *r = TR(begin_op)(t, back_lse, x->rows / k, 1, x->g != NULL, x, &o);
    if (!r)
        return o;
    r->k = k;
    for (int64_t i = 0; i < o->rows; i++) {
        const tr_real *g = x->v + i * k;
        double m = g[0], s = 0.0;
        for (int64_t j = 1; j < k; j++)
            m = g[j] > m ? g[j] : m;
        for (int64_t j = 0; j < k; j++)
            s += exp((double)g[j] - m);
        o->v[i] = (tr_real)(m + log(s) - log((double)k));
    }
    return o;
}

/* ---- mean_groups ---- */

/* d mean / d x_j = 1 / k */
static void back_mean(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *x = r->a;
    for (int64_t i = 0; i < r->out->rows; i++)
        for (int64_t j = 0; j < r->k; j++)
            x->g[i * r->k + j] += r->out->g[i] / (tr_real)r->k;
}

tr_node *TR(mean_groups)(tr_tape *t, tr_node *x, int64_t k)
{
    tr_node *o;
    record *r = TR(begin_op)(t, back_mean, x->rows / k, 1, x->g != NULL, x, &o);
    if (!r)
        return o;
    r->k = k;
    for (int64_t i = 0; i < o->rows; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < k; j++)
            s += x->v[i * k + j];
        o->v[i] = (tr_real)(s / (double)k);
    }
    return o;
}

/* ---- add ---- */

/* The row of b serving row r of a. */
static int64_t b_row(const tr_node *b, int64_t r, int64_t kb)
{
    return b->rows == 1 ? 0 : r / kb;
}

/* dpre = dy * act'(y); da += dpre; db[r / kb] += dpre */
static void back_add(tr_tape *t, const record *r)
{
    const tr_node *y = r->out;
    tr_node *a = r->a, *b = r->b;
    tr_real *dpre = TR(pre_act_grad)(t, r);
    if (!dpre)
        return;
    for (int64_t i = 0; i < y->rows; i++)
        for (int64_t j = 0; j < y->cols; j++) {
            if (a->g)
                a->g[i * y->cols + j] += dpre[i * y->cols + j];
            if (b->g)
                b->g[b_row(b, i, r->k) * y->cols + j] += dpre[i * y->cols + j];
        }
}

tr_node *TR(add)(tr_tape *t, tr_node *a, tr_node *b, int64_t kb, varia_act act)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_add, a->rows, a->cols, a->g || b->g, a, &y);
    if (!r)
        return y;
    r->b = b;
    r->k = kb;
    r->act = act;
    for (int64_t i = 0; i < a->rows; i++) {
        const tr_real *ar = a->v + i * a->cols, *br = b->v + b_row(b, i, kb) * a->cols;
#ifdef TR_DOUBLE
        for (int64_t j = 0; j < a->cols; j++)
            y->v[i * a->cols + j] = trd_act_apply(act, ar[j] + br[j]);
#else
        varia_add_act(y->v + i * a->cols, ar, br, a->cols, act);
#endif
    }
    return y;
}

/* ---- concat, act ---- */

static void back_concat(tr_tape *t, const record *r)
{
    (void)t;
    const tr_node *y = r->out;
    tr_node *a = r->a, *b = r->b;
    for (int64_t i = 0; i < y->rows; i++) {
        for (int64_t j = 0; a->g && j < a->cols; j++)
            a->g[i * a->cols + j] += y->g[i * y->cols + j];
        for (int64_t j = 0; b->g && j < b->cols; j++)
            b->g[i * b->cols + j] += y->g[i * y->cols + a->cols + j];
    }
}

tr_node *TR(concat)(tr_tape *t, tr_node *a, tr_node *b)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_concat, a->rows, a->cols + b->cols, a->g || b->g, a, &y);
    if (!r)
        return y;
    r->b = b;
    for (int64_t i = 0; i < a->rows; i++) {
        memcpy(y->v + i * y->cols, a->v + i * a->cols, (size_t)a->cols * sizeof(tr_real));
        memcpy(y->v + i * y->cols + a->cols, b->v + i * b->cols, (size_t)b->cols * sizeof(tr_real));
    }
    return y;
}

static void back_act(tr_tape *t, const record *r)
{
    tr_node *x = r->a;
    tr_real *dpre = TR(pre_act_grad)(t, r);
    for (int64_t i = 0; dpre && i < x->rows * x->cols; i++)
        x->g[i] += dpre[i];
}

tr_node *TR(act)(tr_tape *t, tr_node *x, varia_act act)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_act, x->rows, x->cols, x->g != NULL, x, &y);
    if (!r)
        return y;
    r->act = act;
#ifdef TR_DOUBLE
    for (int64_t i = 0; i < x->rows * x->cols; i++)
        y->v[i] = trd_act_apply(act, x->v[i]);
#else
    varia_act_apply(y->v, x->v, x->rows * x->cols, act);
#endif
    return y;
}

#define SQRT_2_OVER_PI 0.79788456080286536
#define SQRT_HALF 0.70710678118654752

static void back_n2u(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *x = r->a;
    for (int64_t i = 0; i < x->rows * x->cols; i++)
        x->g[i] += r->out->g[i] * (tr_real)(SQRT_2_OVER_PI * exp(-0.5 * (double)x->v[i] * x->v[i]));
}

tr_node *TR(normal_to_uniform)(tr_tape *t, tr_node *x)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_n2u, x->rows, x->cols, x->g != NULL, x, &y);
    if (!r)
        return y;
    for (int64_t i = 0; i < x->rows * x->cols; i++) /* in double, as exec computes it */
        y->v[i] = (tr_real)erf((double)x->v[i] * SQRT_HALF);
    return y;
}

/* ---- matmul ---- */

/* dx += dy W; dW += dy^T x */
static void back_matmul(tr_tape *t, const record *r)
{
    (void)t;
    const tr_node *y = r->out;
    tr_node *x = r->a, *w = r->b;
    for (int64_t i = 0; i < y->rows; i++)
        for (int64_t j = 0; j < y->cols; j++) {
            tr_real g = y->g[i * y->cols + j];
            for (int64_t c = 0; c < x->cols; c++) {
                if (x->g)
                    x->g[i * x->cols + c] += g * w->v[j * w->cols + c];
                if (w->g)
                    w->g[j * w->cols + c] += g * x->v[i * x->cols + c];
            }
        }
}

tr_node *TR(matmul)(tr_tape *t, tr_node *x, tr_node *w)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_matmul, x->rows, w->rows, x->g || w->g, x, &y);
    if (!r)
        return y;
    r->b = w;
    for (int64_t i = 0; i < x->rows; i++)
        for (int64_t j = 0; j < w->rows; j++) {
            double s = 0.0; /* as exec sums it */
            for (int64_t c = 0; c < x->cols; c++)
                s += (double)x->v[i * x->cols + c] * w->v[j * w->cols + c];
            y->v[i * w->rows + j] = (tr_real)s;
        }
    return y;
}

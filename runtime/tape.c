/* The tape: an arena for node values and gradients, the records of the ops,
 * and each op's forward value and backward rule. See tape.h. */
#include "tape.h"

#include <math.h>
#include <stdlib.h>
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
#define BLOCK_BYTES ((size_t)1 << 22)

typedef struct block {
    struct block *next;
    size_t cap, used;
    unsigned char *mem;
} block;

typedef enum {
    OP_LINEAR, OP_REPARAM, OP_LOGQ, OP_SCALE, OP_COLS, OP_GAUSS, OP_STDN, OP_BERN, OP_KL, OP_ROWSUM, OP_COMBINE,
    OP_LSE, OP_MEAN
} op_kind;

typedef struct record {
    op_kind op;
    tr_node *out, *a, *b, *c;
    const tr_lin *lin;
    varia_act act;
    const tr_real *data;
    int64_t k, k2;
    double s;
    tr_node *const *list;
    const double *coef;
} record;

struct tr_tape {
    block *first, *cur;
    record *rec;
    int64_t n_rec, cap_rec;
    int failed;
    tr_node dummy;
    tr_real dummy_v[1];
};

/* ---- arena ---- */

static void *arena_alloc(tr_tape *t, size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    for (;;) {
        block *b = t->cur;
        if (b && b->used + bytes <= b->cap) {
            void *p = b->mem + b->used;
            b->used += bytes;
            return p;
        }
        if (b && b->next) { /* reuse the next block kept from earlier steps */
            t->cur = b->next;
            t->cur->used = 0;
            continue;
        }
        size_t cap = bytes > BLOCK_BYTES ? bytes : BLOCK_BYTES;
        block *nb = calloc(1, sizeof *nb);
        unsigned char *mem = nb ? aligned_alloc(64, cap) : NULL;
        if (!mem) {
            free(nb);
            t->failed = 1;
            return NULL;
        }
        nb->mem = mem;
        nb->cap = cap;
        if (b)
            b->next = nb;
        else
            t->first = nb;
        t->cur = nb;
    }
}

tr_tape *TR(tape_new)(void)
{
    return calloc(1, sizeof(tr_tape));
}

void TR(tape_free)(tr_tape *t)
{
    if (!t)
        return;
    for (block *b = t->first; b;) {
        block *n = b->next;
        free(b->mem);
        free(b);
        b = n;
    }
    free(t->rec);
    free(t);
}

void TR(reset)(tr_tape *t)
{
    t->cur = t->first;
    if (t->cur)
        t->cur->used = 0;
    t->n_rec = 0;
    t->failed = 0;
}

int TR(failed)(const tr_tape *t)
{
    return t->failed;
}

/* A node of rows x cols; with_grad gives it a zeroed gradient. On failure the
 * tape's dummy node comes back (and the tape is marked failed). */
static tr_node *new_node(tr_tape *t, int64_t rows, int64_t cols, int with_grad)
{
    size_t n = (size_t)(rows * cols);
    tr_node *nd = arena_alloc(t, sizeof *nd);
    tr_real *v = arena_alloc(t, n * sizeof(tr_real) + 1);
    tr_real *g = with_grad ? arena_alloc(t, n * sizeof(tr_real) + 1) : NULL;
    if (!nd || !v || (with_grad && !g)) {
        t->dummy = (tr_node){1, 1, t->dummy_v, NULL};
        return &t->dummy;
    }
    if (g)
        memset(g, 0, n * sizeof(tr_real));
    *nd = (tr_node){rows, cols, v, g};
    return nd;
}

static record *push(tr_tape *t, op_kind op, tr_node *out)
{
    if (t->failed)
        return NULL;
    if (t->n_rec == t->cap_rec) {
        int64_t cap = t->cap_rec ? 2 * t->cap_rec : 64;
        record *r = realloc(t->rec, (size_t)cap * sizeof *r);
        if (!r) {
            t->failed = 1;
            return NULL;
        }
        t->rec = r;
        t->cap_rec = cap;
    }
    record *r = &t->rec[t->n_rec++];
    memset(r, 0, sizeof *r);
    r->op = op;
    r->out = out;
    return r;
}

tr_node *TR(input)(tr_tape *t, int64_t rows, int64_t cols, const tr_real *v)
{
    tr_node *n = arena_alloc(t, sizeof *n);
    if (!n) {
        t->dummy = (tr_node){1, 1, t->dummy_v, NULL};
        return &t->dummy;
    }
    *n = (tr_node){rows, cols, (tr_real *)v, NULL};
    return n;
}

tr_node *TR(param)(tr_tape *t, int64_t rows, int64_t cols, const tr_real *v, tr_real *grad)
{
    tr_node *n = TR(input)(t, rows, cols, v);
    if (n != &t->dummy)
        n->g = grad;
    return n;
}

/* Scratch from the arena for an op's backward (lives until the next reset). */
static tr_real *scratch(tr_tape *t, int64_t n)
{
    return arena_alloc(t, (size_t)n * sizeof(tr_real) + 1);
}

tr_real *TR(alloc)(tr_tape *t, int64_t n)
{
    return scratch(t, n);
}

/* ---- the ops: forward now, backward recorded ---- */

/* Every op's prologue: its output node and its record, input a set. NULL
 * (with *out the tape's dummy or an unrecorded node) when the tape failed. */
static record *begin_op(tr_tape *t, op_kind op, int64_t rows, int64_t cols, int with_grad, tr_node *a,
                        tr_node **out)
{
    *out = new_node(t, rows, cols, with_grad);
    record *r = push(t, op, *out);
    if (r)
        r->a = a;
    return r;
}


tr_node *TR(linear)(tr_tape *t, tr_node *x, const tr_lin *l, varia_act act)
{
    tr_node *y;
    record *r = begin_op(t, OP_LINEAR, x->rows, l->out, 1, x, &y);
    if (!r)
        return y;
    r->lin = l;
    r->act = act;
    TR(mm_forward)(l, x->v, x->rows, y->v, act);
    return y;
}

/* exp(v / 2): expf in float, exactly as the exec backend computes it. */
#ifdef TR_DOUBLE
#define HALF_EXP(v) exp(0.5 * (v))
#else
#define HALF_EXP(v) expf(0.5f * (v))
#endif

tr_node *TR(reparam)(tr_tape *t, tr_node *mu, tr_node *lv, const tr_real *eps, int64_t k, float temp)
{
    int64_t rows = mu->rows * k, L = mu->cols;
    tr_node *z;
    record *r = begin_op(t, OP_REPARAM, rows, L, 1, mu, &z);
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

tr_node *TR(logq_eps)(tr_tape *t, tr_node *lv, const tr_real *eps, int64_t k)
{
    int64_t rows = lv->rows * k, L = lv->cols;
    tr_node *q;
    record *r = begin_op(t, OP_LOGQ, rows, 1, lv->g != NULL, lv, &q);
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

tr_node *TR(scale)(tr_tape *t, tr_node *x, double c)
{
    tr_node *y;
    record *r = begin_op(t, OP_SCALE, x->rows, x->cols, x->g != NULL, x, &y);
    if (!r)
        return y;
    r->s = c;
    for (int64_t i = 0; i < x->rows * x->cols; i++)
        y->v[i] = x->v[i] * (tr_real)c;
    return y;
}

tr_node *TR(cols)(tr_tape *t, tr_node *x, int64_t off, int64_t n)
{
    tr_node *y;
    record *r = begin_op(t, OP_COLS, x->rows, n, x->g != NULL, x, &y);
    if (!r)
        return y;
    r->k = off;
    for (int64_t i = 0; i < x->rows; i++)
        memcpy(y->v + i * n, x->v + i * x->cols + off, (size_t)n * sizeof(tr_real));
    return y;
}

/* The lv row serving output row r (one shared row broadcasts). */
static int64_t lv_row(const tr_node *lv, int64_t r, int64_t kmu)
{
    return lv->rows == 1 ? 0 : r / kmu;
}

tr_node *TR(gauss_logp)(tr_tape *t, tr_node *z, int64_t kz, tr_node *mu, int64_t kmu, tr_node *lv)
{
    int64_t rows = z->rows * kz, L = z->cols;
    tr_node *o;
    record *r = begin_op(t, OP_GAUSS, rows, 1, z->g || mu->g || lv->g, z, &o);
    if (!r)
        return o;
    r->b = mu;
    r->c = lv;
    r->k = kz;
    r->k2 = kmu;
    for (int64_t i = 0; i < rows; i++) {
        const tr_real *zr = z->v + (i / kz) * L, *mr = mu->v + (i / kmu) * L;
        const tr_real *lr = lv->v + lv_row(lv, i, kmu) * lv->cols;
        int64_t step = lv->cols == 1 ? 0 : 1;
        double s = 0.0;
        for (int64_t d = 0; d < L; d++) {
            double e = (double)zr[d] - (double)mr[d], l = (double)lr[d * step];
            s += -HALF_LOG_2PI - 0.5 * l - 0.5 * e * e * exp(-l);
        }
        o->v[i] = (tr_real)s;
    }
    return o;
}

tr_node *TR(std_normal_logp)(tr_tape *t, tr_node *z)
{
    tr_node *o;
    record *r = begin_op(t, OP_STDN, z->rows, 1, z->g != NULL, z, &o);
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

tr_node *TR(bernoulli_logp)(tr_tape *t, tr_node *logits, const tr_real *x, int64_t kx)
{
    int64_t D = logits->cols;
    tr_node *o;
    record *r = begin_op(t, OP_BERN, logits->rows, 1, logits->g != NULL, logits, &o);
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

tr_node *TR(gauss_kl)(tr_tape *t, tr_node *mu, tr_node *lv)
{
    int64_t n = mu->rows * mu->cols;
    tr_node *o;
    record *r = begin_op(t, OP_KL, mu->rows, mu->cols, 1, mu, &o);
    if (!r)
        return o;
    r->b = lv;
    for (int64_t i = 0; i < n; i++) {
        double m = mu->v[i], l = lv->v[i];
        o->v[i] = (tr_real)(0.5 * (m * m + exp(l) - l - 1.0));
    }
    return o;
}

tr_node *TR(row_sum)(tr_tape *t, tr_node *x)
{
    tr_node *o;
    record *r = begin_op(t, OP_ROWSUM, x->rows, 1, x->g != NULL, x, &o);
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

tr_node *TR(combine)(tr_tape *t, tr_node *const *a, const double *c, int n)
{
    tr_node *o = new_node(t, a[0]->rows, a[0]->cols, 1);
    tr_node **list = arena_alloc(t, (size_t)n * sizeof *list);
    double *coef = arena_alloc(t, (size_t)n * sizeof *coef);
    record *r = list && coef ? push(t, OP_COMBINE, o) : NULL;
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

tr_node *TR(lse_groups)(tr_tape *t, tr_node *x, int64_t k)
{
    tr_node *o;
    record *r = begin_op(t, OP_LSE, x->rows / k, 1, x->g != NULL, x, &o);
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

tr_node *TR(mean_groups)(tr_tape *t, tr_node *x, int64_t k)
{
    tr_node *o;
    record *r = begin_op(t, OP_MEAN, x->rows / k, 1, x->g != NULL, x, &o);
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

/* ---- backward rules ---- */

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

static void back_linear(tr_tape *t, const record *r)
{
    const tr_node *y = r->out, *x = r->a;
    int64_t n = y->rows * y->cols;
    tr_real *dpre = y->g;
    if (r->act.kind != VARIA_ACT_IDENTITY) {
        dpre = scratch(t, n);
        if (!dpre)
            return;
#ifdef TR_DOUBLE
        for (int64_t i = 0; i < n; i++)
            dpre[i] = y->g[i] * act_grad(r->act, y->v[i]);
#else
        varia_act_grad(r->act, y->v, y->g, n, dpre);
#endif
    }
    TR(mm_weight_grad)(r->lin, dpre, x->v, x->rows, scratch(t, TR(mm_weight_scratch)(r->lin, x->rows)));
    if (x->g)
        TR(mm_input_grad)(r->lin, dpre, x->rows, x->g, scratch(t, TR(mm_input_scratch)(r->lin, x->rows)));
}

static void back_reparam(const record *r)
{
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

static void back_logq(const record *r)
{
    tr_node *lv = r->a;
    for (int64_t i = 0; i < r->out->rows; i++)
        for (int64_t d = 0; d < lv->cols; d++) /* d logq / d lv = -1/2 */
            lv->g[(i / r->k) * lv->cols + d] -= (tr_real)0.5 * r->out->g[i];
}

static void back_cols(const record *r)
{
    tr_node *x = r->a;
    const tr_node *y = r->out;
    for (int64_t i = 0; i < y->rows; i++)
        for (int64_t d = 0; d < y->cols; d++)
            x->g[i * x->cols + r->k + d] += y->g[i * y->cols + d];
}

static void back_gauss(const record *r)
{
    const tr_node *o = r->out;
    tr_node *z = r->a, *mu = r->b, *lv = r->c;
    int64_t L = z->cols;
    for (int64_t i = 0; i < o->rows; i++) {
        tr_real g = o->g[i];
        int64_t zr = (i / r->k) * L, mr = (i / r->k2) * L, lr = lv_row(lv, i, r->k2) * lv->cols;
        int64_t step = lv->cols == 1 ? 0 : 1;
        for (int64_t d = 0; d < L; d++) {
            double iv = exp(-(double)lv->v[lr + d * step]), e = (double)z->v[zr + d] - (double)mu->v[mr + d];
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

static void back_stdn(const record *r)
{
    tr_node *z = r->a;
    for (int64_t i = 0; i < z->rows; i++)
        for (int64_t d = 0; d < z->cols; d++)
            z->g[i * z->cols + d] -= r->out->g[i] * z->v[i * z->cols + d];
}

static void back_bern(tr_tape *t, const record *r)
{
    tr_node *l = r->a;
    int64_t D = l->cols;
    tr_real *tmp = scratch(t, D);
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

static void back_kl(const record *r)
{
    tr_node *mu = r->a, *lv = r->b;
    for (int64_t i = 0; i < mu->rows * mu->cols; i++) {
        tr_real g = r->out->g[i];
        if (mu->g)
            mu->g[i] += g * mu->v[i];
        if (lv->g)
            lv->g[i] += g * (tr_real)(0.5 * expm1((double)lv->v[i]));
    }
}

static void back_groups(const record *r)
{
    tr_node *x = r->a;
    for (int64_t i = 0; i < r->out->rows; i++) {
        tr_real g = r->out->g[i];
        if (r->op == OP_MEAN) {
            for (int64_t j = 0; j < r->k; j++)
                x->g[i * r->k + j] += g / (tr_real)r->k;
            continue;
        }
        /* d (logsumexp - log k) / d x_j = softmax_j: the normalized weights */
        double lse = (double)r->out->v[i] + log((double)r->k);
        for (int64_t j = 0; j < r->k; j++)
            x->g[i * r->k + j] += g * (tr_real)exp((double)x->v[i * r->k + j] - lse);
    }
}

static void back_one(tr_tape *t, const record *r)
{
    switch (r->op) {
    case OP_LINEAR: back_linear(t, r); break;
    case OP_REPARAM: back_reparam(r); break;
    case OP_LOGQ: back_logq(r); break;
    case OP_COLS: back_cols(r); break;
    case OP_SCALE:
        for (int64_t i = 0; i < r->out->rows * r->out->cols; i++)
            r->a->g[i] += (tr_real)r->s * r->out->g[i];
        break;
    case OP_GAUSS: back_gauss(r); break;
    case OP_STDN: back_stdn(r); break;
    case OP_BERN: back_bern(t, r); break;
    case OP_KL: back_kl(r); break;
    case OP_LSE:
    case OP_MEAN: back_groups(r); break;
    case OP_ROWSUM:
        for (int64_t i = 0; i < r->a->rows; i++)
            for (int64_t d = 0; d < r->a->cols; d++)
                r->a->g[i * r->a->cols + d] += r->out->g[i];
        break;
    case OP_COMBINE:
        for (int j = 0; j < r->k; j++)
            if (r->list[j]->g)
                for (int64_t i = 0; i < r->out->rows * r->out->cols; i++)
                    r->list[j]->g[i] += (tr_real)r->coef[j] * r->out->g[i];
        break;
    }
}

void TR(seed)(tr_tape *t, tr_node *out, const tr_real *seed)
{
    (void)t;
    if (out->g)
        for (int64_t i = 0; i < out->rows * out->cols; i++)
            out->g[i] += seed[i];
}

void TR(backward)(tr_tape *t)
{
    for (int64_t i = t->n_rec - 1; i >= 0 && !t->failed; i--)
        if (t->rec[i].out->g)
            back_one(t, &t->rec[i]);
}

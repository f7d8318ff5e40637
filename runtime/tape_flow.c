/* The tape's flow steps (docs/format.md 2.3): each forward runs the row
 * function the exec backend runs (flow_rows.h), each backward is the step's
 * derivative written out below. A parameter node has one row per group of k
 * rows of z, or one row shared by all; its gradient sums over the group. */
#include "tape_impl.h"
#include "flow_rows.h"

#ifdef TR_DOUBLE
VARIA_FLOW_ROWS(double, t, d)
#else
VARIA_FLOW_ROWS(float, t, f)
#endif

/* Row index of parameter node p serving row r of z. */
static int64_t pr(const tr_node *p, int64_t r, int64_t k)
{
    return p->rows == 1 ? 0 : r / k;
}

/* Gradient row of node n (NULL when n has no gradient). */
static tr_real *grow(tr_node *n, int64_t row)
{
    return n->g ? n->g + row * n->cols : NULL;
}

/* ---- planar_uhat ---- */

/* uh = u + c w, c = (softplus(w.u) - 1 - w.u) / |w|^2:
 * du_i = g_i + (g.w)(sigmoid(w.u) - 1) w_i / |w|^2,
 * dw_i = c g_i + (g.w) dc/dw_i. */
static void back_uhat(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *u = r->a, *w = r->b;
    int64_t d = u->cols;
    for (int64_t i = 0; i < u->rows; i++) {
        const tr_real *ur = u->v + i * d, *wr = w->v + i * d, *g = r->out->g + i * d;
        tr_real *gu = grow(u, i), *gw = grow(w, i);
        double wu = 0.0, ww = 0.0, gdw = 0.0;
        for (int64_t j = 0; j < d; j++) {
            wu += (double)wr[j] * ur[j];
            ww += (double)wr[j] * wr[j];
            gdw += (double)g[j] * wr[j];
        }
        double m = flow_softplus(wu) - 1.0 - wu, sg1 = flow_sigmoid(wu) - 1.0;
        double c = ww > 0.0 ? m / ww : 0.0;
        for (int64_t j = 0; j < d; j++) {
            if (gu)
                gu[j] += (tr_real)(g[j] + (ww > 0.0 ? gdw * sg1 * wr[j] / ww : 0.0));
            if (gw && ww > 0.0)
                gw[j] += (tr_real)(c * g[j] + gdw * (sg1 * ur[j] * ww - 2.0 * m * wr[j]) / (ww * ww));
        }
    }
}

tr_node *TR(planar_uhat)(tr_tape *t, tr_node *u, tr_node *w)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_uhat, u->rows, u->cols, u->g || w->g, u, &y);
    if (!r)
        return y;
    r->b = w;
    for (int64_t i = 0; i < u->rows; i++)
        flow_uhat_t(u->v + i * u->cols, w->v + i * u->cols, u->cols, y->v + i * u->cols);
    return y;
}

/* ---- planar ---- */

/* f = z + uh tanh(a), a = w.z + b; with G = (g.uh) tanh'(a):
 * dz = g + G w, duh = g tanh(a), dw = G z, db = G. */
static void back_planar(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *z = r->a, *uh = r->b, *w = r->c, *b = r->d;
    int64_t d = z->cols;
    for (int64_t i = 0; i < z->rows; i++) {
        int64_t p = pr(w, i, r->k);
        const tr_real *zr = z->v + i * d, *ur = uh->v + pr(uh, i, r->k) * d, *wr = w->v + p * d;
        const tr_real *g = r->out->g + i * d;
        double th = tanh(flow_affine_t(zr, wr, b->v[pr(b, i, r->k)], d)), gu = 0.0;
        for (int64_t j = 0; j < d; j++)
            gu += (double)g[j] * ur[j];
        double G = gu * (1.0 - th * th);
        tr_real *gz = grow(z, i), *guh = grow(uh, pr(uh, i, r->k)), *gw = grow(w, p);
        for (int64_t j = 0; j < d; j++) {
            if (gz)
                gz[j] += (tr_real)(g[j] + G * wr[j]);
            if (guh)
                guh[j] += (tr_real)(g[j] * th);
            if (gw)
                gw[j] += (tr_real)(G * zr[j]);
        }
        if (b->g)
            b->g[pr(b, i, r->k)] += (tr_real)G;
    }
}

/* Record a four-input step; NULL when the tape failed. */
static record *begin4(tr_tape *t, tr_back back, int64_t cols, tr_node *z, tr_node *b, tr_node *c, tr_node *d,
                      tr_node **out)
{
    record *r = TR(begin_op)(t, back, z->rows, cols, z->g || b->g || c->g || d->g, z, out);
    if (r) {
        r->b = b;
        r->c = c;
        r->d = d;
    }
    return r;
}

tr_node *TR(planar)(tr_tape *t, tr_node *z, tr_node *uh, tr_node *w, tr_node *b, int64_t k)
{
    tr_node *y;
    record *r = begin4(t, back_planar, z->cols, z, uh, w, b, &y);
    if (!r)
        return y;
    r->k = k;
    int64_t d = z->cols;
    for (int64_t i = 0; i < z->rows; i++)
        flow_planar_t(z->v + i * d, uh->v + pr(uh, i, k) * d, w->v + pr(w, i, k) * d, b->v[pr(b, i, k)], d,
                      y->v + i * d);
    return y;
}

/* ld = log|1 + h' s|, h' = 1 - tanh(a)^2, s = uh.w; with G = g / (1 + h' s)
 * and A = G s dh'/da = -2 G s tanh(a) h':
 * dz = A w, dw = A z + G h' uh, db = A, duh = G h' w. */
static void back_planar_ld(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *z = r->a, *uh = r->b, *w = r->c, *b = r->d;
    int64_t d = z->cols;
    for (int64_t i = 0; i < z->rows; i++) {
        int64_t p = pr(w, i, r->k), pu = pr(uh, i, r->k);
        const tr_real *zr = z->v + i * d, *ur = uh->v + pu * d, *wr = w->v + p * d;
        double th = tanh(flow_affine_t(zr, wr, b->v[pr(b, i, r->k)], d)), hp = 1.0 - th * th, s = 0.0;
        for (int64_t j = 0; j < d; j++)
            s += (double)ur[j] * wr[j];
        double G = (double)r->out->g[i] / (1.0 + hp * s), A = -2.0 * G * s * th * hp;
        tr_real *gz = grow(z, i), *guh = grow(uh, pu), *gw = grow(w, p);
        for (int64_t j = 0; j < d; j++) {
            if (gz)
                gz[j] += (tr_real)(A * wr[j]);
            if (gw)
                gw[j] += (tr_real)(A * zr[j] + G * hp * ur[j]);
            if (guh)
                guh[j] += (tr_real)(G * hp * wr[j]);
        }
        if (b->g)
            b->g[pr(b, i, r->k)] += (tr_real)A;
    }
}

tr_node *TR(planar_logdet)(tr_tape *t, tr_node *z, tr_node *uh, tr_node *w, tr_node *b, int64_t k)
{
    tr_node *y;
    record *r = begin4(t, back_planar_ld, 1, z, uh, w, b, &y);
    if (!r)
        return y;
    r->k = k;
    int64_t d = z->cols;
    for (int64_t i = 0; i < z->rows; i++)
        y->v[i] = (tr_real)flow_planar_logdet_t(z->v + i * d, uh->v + pr(uh, i, k) * d, w->v + pr(w, i, k) * d,
                                                b->v[pr(b, i, k)], d);
    return y;
}

/* ---- radial ---- */

/* One row's radial quantities. */
typedef struct radial_row {
    double alpha, beta, r, h;
} radial_row;

static radial_row radial_at(const tr_real *zr, const tr_real *z0, tr_real ah, tr_real bh, int64_t d)
{
    radial_row q;
    q.alpha = flow_softplus(ah);
    q.beta = flow_softplus(bh) - q.alpha;
    q.r = flow_radius_t(zr, z0, d);
    q.h = 1.0 / (q.alpha + q.r);
    return q;
}

/* Send d/dr (through z - z0), d/dalpha and d/dbeta (through ahat, bhat) back:
 * dr/dz = (z - z0) / r (0 at r = 0), alpha = softplus(ahat),
 * beta = softplus(bhat) - alpha. */
static void radial_scatter(const record *r, int64_t i, const radial_row *q, double g_r, double g_alpha,
                           double g_beta, const double *g_diff)
{
    tr_node *z = r->a, *z0 = r->b, *ah = r->c, *bh = r->d;
    int64_t d = z->cols, p = pr(z0, i, r->k);
    const tr_real *zr = z->v + i * d, *z0r = z0->v + p * d;
    tr_real *gz = grow(z, i), *gz0 = grow(z0, p);
    for (int64_t j = 0; j < d; j++) {
        double gd = (g_diff ? g_diff[j] : 0.0) + (q->r > 0.0 ? g_r * ((double)zr[j] - z0r[j]) / q->r : 0.0);
        if (gz)
            gz[j] += (tr_real)gd;
        if (gz0)
            gz0[j] -= (tr_real)gd;
    }
    if (ah->g)
        ah->g[pr(ah, i, r->k) * ah->cols] += (tr_real)((g_alpha - g_beta) * flow_sigmoid(ah->v[pr(ah, i, r->k) * ah->cols]));
    if (bh->g)
        bh->g[pr(bh, i, r->k) * bh->cols] += (tr_real)(g_beta * flow_sigmoid(bh->v[pr(bh, i, r->k) * bh->cols]));
}

/* Parameter scalars of row i. */
static radial_row radial_of(const record *r, int64_t i)
{
    const tr_node *z = r->a, *z0 = r->b, *ah = r->c, *bh = r->d;
    int64_t d = z->cols;
    return radial_at(z->v + i * d, z0->v + pr(z0, i, r->k) * d, ah->v[pr(ah, i, r->k) * ah->cols],
                     bh->v[pr(bh, i, r->k) * bh->cols], d);
}

/* f = z + beta h (z - z0), h = 1 / (alpha + r); with q = g.(z - z0):
 * d(z - z0) = beta h g (direct), dr = -beta h^2 q, dbeta = h q, dalpha = -beta h^2 q;
 * and dz gets g itself. */
static void back_radial(tr_tape *t, const record *r)
{
    int64_t d = r->a->cols;
    double *gd = (double *)TR(arena)(t, (size_t)d * sizeof(double));
    if (!gd)
        return;
    for (int64_t i = 0; i < r->a->rows; i++) {
        radial_row q = radial_of(r, i);
        const tr_real *g = r->out->g + i * d, *zr = r->a->v + i * d, *z0r = r->b->v + pr(r->b, i, r->k) * d;
        double qd = 0.0;
        for (int64_t j = 0; j < d; j++) {
            qd += (double)g[j] * ((double)zr[j] - z0r[j]);
            gd[j] = q.beta * q.h * g[j];
        }
        double dh = q.beta * qd; /* d/dh */
        if (r->a->g)
            for (int64_t j = 0; j < d; j++)
                r->a->g[i * d + j] += g[j];
        radial_scatter(r, i, &q, -dh * q.h * q.h, -dh * q.h * q.h, q.h * qd, gd);
    }
}

tr_node *TR(radial)(tr_tape *t, tr_node *z, tr_node *z0, tr_node *ah, tr_node *bh, int64_t k)
{
    tr_node *y;
    record *r = begin4(t, back_radial, z->cols, z, z0, ah, bh, &y);
    if (!r)
        return y;
    r->k = k;
    int64_t d = z->cols;
    for (int64_t i = 0; i < z->rows; i++)
        flow_radial_t(z->v + i * d, z0->v + pr(z0, i, k) * d, ah->v[pr(ah, i, k) * ah->cols],
                      bh->v[pr(bh, i, k) * bh->cols], d, y->v + i * d);
    return y;
}

/* ld = (d-1) log A + log B, A = 1 + beta h, B = 1 + alpha beta h^2:
 * dh = (d-1) beta / A + 2 alpha beta h / B, dbeta = (d-1) h / A + alpha h^2 / B,
 * dalpha = beta h^2 / B + dh dh/dalpha, dr = dh dh/dr, dh/dalpha = dh/dr = -h^2. */
static void back_radial_ld(tr_tape *t, const record *r)
{
    (void)t;
    double dm1 = (double)(r->a->cols - 1);
    for (int64_t i = 0; i < r->a->rows; i++) {
        radial_row q = radial_of(r, i);
        double g = r->out->g[i], A = 1.0 + q.beta * q.h, B = 1.0 + q.alpha * q.beta * q.h * q.h;
        double gh = g * (dm1 * q.beta / A + 2.0 * q.alpha * q.beta * q.h / B);
        double gb = g * (dm1 * q.h / A + q.alpha * q.h * q.h / B);
        double ga = g * q.beta * q.h * q.h / B - gh * q.h * q.h;
        radial_scatter(r, i, &q, -gh * q.h * q.h, ga, gb, NULL);
    }
}

tr_node *TR(radial_logdet)(tr_tape *t, tr_node *z, tr_node *z0, tr_node *ah, tr_node *bh, int64_t k)
{
    tr_node *y;
    record *r = begin4(t, back_radial_ld, 1, z, z0, ah, bh, &y);
    if (!r)
        return y;
    r->k = k;
    int64_t d = z->cols;
    for (int64_t i = 0; i < z->rows; i++)
        y->v[i] = (tr_real)flow_radial_logdet_t(z->v + i * d, z0->v + pr(z0, i, k) * d, ah->v[pr(ah, i, k) * ah->cols],
                                                bh->v[pr(bh, i, k) * bh->cols], d);
    return y;
}

/* ---- iaf ---- */

/* f = m + sigma (z - m): dz = g sigma, dm = g (1 - sigma), ds = g (z - m) sigma (1 - sigma). */
static void back_iaf(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *z = r->a, *m = r->b, *s = r->c;
    for (int64_t i = 0; i < z->rows * z->cols; i++) {
        double g = r->out->g[i], sg = flow_sigmoid(s->v[i]);
        if (z->g)
            z->g[i] += (tr_real)(g * sg);
        if (m->g)
            m->g[i] += (tr_real)(g * (1.0 - sg));
        if (s->g)
            s->g[i] += (tr_real)(g * ((double)z->v[i] - m->v[i]) * sg * (1.0 - sg));
    }
}

tr_node *TR(iaf)(tr_tape *t, tr_node *z, tr_node *m, tr_node *s)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_iaf, z->rows, z->cols, z->g || m->g || s->g, z, &y);
    if (!r)
        return y;
    r->b = m;
    r->c = s;
    for (int64_t i = 0; i < z->rows; i++)
        flow_iaf_t(z->v + i * z->cols, m->v + i * z->cols, s->v + i * z->cols, z->cols, y->v + i * z->cols);
    return y;
}

/* d log sigmoid(s) / ds = 1 - sigmoid(s) */
static void back_iaf_ld(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *s = r->a;
    for (int64_t i = 0; i < s->rows; i++)
        for (int64_t j = 0; j < s->cols; j++)
            s->g[i * s->cols + j] += (tr_real)(r->out->g[i] * (1.0 - flow_sigmoid(s->v[i * s->cols + j])));
}

tr_node *TR(iaf_logdet)(tr_tape *t, tr_node *s)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_iaf_ld, s->rows, 1, s->g != NULL, s, &y);
    if (!r)
        return y;
    for (int64_t i = 0; i < s->rows; i++)
        y->v[i] = (tr_real)flow_iaf_logdet_t(s->v + i * s->cols, s->cols);
    return y;
}

/* The tape's DRAW attention ops (docs/draw.md): each forward runs the row
 * functions the exec backend runs (attn_rows.h), each backward is the op's
 * derivative written out over its comment. Scratch comes from the tape's
 * arena, one glimpse-sized block per op, so nothing is allocated per row. */
#include "tape_impl.h"

#define ATTN_REAL tr_real
#include "attn_rows.h"

#include <string.h>

/* ---- filterbank ---- */

/* One filter f = K / (sum K + eps), K_q = exp(-u_q^2 prec / 2), u_q = q + 1 -
 * mu, given its gradient df: with H_q = f_q (df_q - sum_p f_p df_p) (the
 * normalisation's Jacobian; eps is a constant, so it holds as is),
 * d mu = prec sum_q H_q u_q and d log sigma^2 = prec/2 sum_q H_q u_q^2.
 * Returns d mu and adds d log sigma^2 into *ds. Where f is 0, H is 0 and u
 * is finite in double, so an underflowed filter sends nothing. */
static double filter_1d_back(int64_t n, double mu, double prec, const tr_real *f, const tr_real *df, double *ds)
{
    double c = 0.0, am = 0.0, as = 0.0;
    for (int64_t q = 0; q < n; q++)
        c += (double)f[q] * df[q];
    for (int64_t q = 0; q < n; q++) {
        double h = (double)f[q] * ((double)df[q] - c), u = (double)(q + 1) - mu;
        am += h * u;
        as += h * u * u;
    }
    *ds += 0.5 * prec * as;
    return prec * am;
}

/* dp[5] += the parameters' gradient from one filterbank row fb and its
 * gradient dfb. g_X = (A+1)/2 (p0 + 1): dp0 = (A+1)/2 sum_i dmu_X^i (p1
 * likewise); mu^i = g + off_i delta, delta = c exp(p3): dp3 = delta sum_i
 * off_i (dmu_X^i + dmu_Y^i); dp2 = d log sigma^2; gamma = exp(p4): dp4 =
 * gamma dgamma; each log is 0 outside the cap (attn_cap). */
static void filterbank_back_row(const varia_attn *g, const tr_real *p, const tr_real *fb, const tr_real *dfb,
                                tr_real *dp)
{
    int64_t A = g->w, B = g->h, N = g->n;
    attn_par q = attn_par_of(g, p);
    double ds = 0.0, dgx = 0.0, dgy = 0.0, dd = 0.0;
    for (int64_t c = 0; c < N; c++) {
        double off = attn_offset(g, c);
        double mx = filter_1d_back(A, q.gx + off * q.delta, q.prec, fb + c * A, dfb + c * A, &ds);
        double my = filter_1d_back(B, q.gy + off * q.delta, q.prec, fb + N * A + c * B, dfb + N * A + c * B, &ds);
        dgx += mx;
        dgy += my;
        dd += off * (mx + my);
    }
    dp[0] += (tr_real)(0.5 * (double)(A + 1) * dgx);
    dp[1] += (tr_real)(0.5 * (double)(B + 1) * dgy);
    dp[2] += (tr_real)(q.ks * ds);
    dp[3] += (tr_real)(q.kd * q.delta * dd);
    dp[4] += (tr_real)(q.kg * q.gamma * (double)dfb[N * (A + B)]);
}

/* The filterbank's rule: each row's parameters from its filters' gradient
 * (filterbank_back_row). */
static void back_filterbank(tr_tape *t, const record *r)
{
    (void)t;
    const varia_attn *g = r->aux;
    tr_node *p = r->a, *y = r->out;
    for (int64_t i = 0; p->g && i < p->rows; i++)
        filterbank_back_row(g, p->v + i * p->cols, y->v + i * y->cols, y->g + i * y->cols, p->g + i * p->cols);
}

tr_node *TR(attn_filterbank)(tr_tape *t, tr_node *p, const varia_attn *g)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_filterbank, p->rows, varia_attn_fb_cols(g), p->g != NULL, p, &y);
    if (!r)
        return y;
    r->aux = g;
    for (int64_t i = 0; i < p->rows; i++)
        attn_filterbank_row(g, p->v + i * p->cols, y->v + i * y->cols);
    return y;
}

/* ---- read ---- */

/* One image of a read, y = gamma F_Y x F_X^T, given G = dy [N x N]:
 * dx += gamma F_Y^T G F_X; dF_X[i] += gamma sum_j G[j, i] P[j] with P = F_Y x;
 * dF_Y[j, b] += gamma x[b] . V[j] with V = G F_X; dgamma += <G, P F_X^T>.
 * dx or dfb may be NULL (no gradient wanted); tmp holds 2 N A. */
static void read_back_image(const varia_attn *g, const tr_real *fb, const tr_real *x, const tr_real *G, tr_real *dx,
                            tr_real *dfb, tr_real *tmp)
{
    int64_t A = g->w, B = g->h, N = g->n;
    double gamma = (double)fb[N * (A + B)];
    if (dx)
        attn_write_row(g, fb, gamma, G, tmp, dx);
    if (!dfb)
        return;
    tr_real *P = tmp, *V = tmp + N * A;
    attn_fy_x(g, fb + N * A, x, P);
    attn_w_fx(g, G, fb, V);
    double dgamma = 0.0;
    for (int64_t i = 0; i < N; i++) {
        tr_real *d = dfb + i * A;
        for (int64_t j = 0; j < N; j++) {
            const tr_real c = (tr_real)(gamma * G[j * N + i]), *pr = P + j * A;
            for (int64_t a = 0; a < A; a++)
                d[a] += c * pr[a];
            dgamma += (double)G[j * N + i] * attn_dot(pr, fb + i * A, A);
        }
    }
    for (int64_t j = 0; j < N; j++)
        for (int64_t b = 0; b < B; b++)
            dfb[N * A + j * B + b] += (tr_real)(gamma * attn_dot(x + b * A, V + j * A, A));
    dfb[N * (A + B)] += (tr_real)dgamma;
}

/* The read's rule, image by image of each row (read_back_image); a row of x
 * shared by k rows gathers their gradients. */
static void back_read(tr_tape *t, const record *r)
{
    const varia_attn *g = r->aux;
    tr_node *fb = r->a, *y = r->out;
    int64_t nn = g->n * g->n, ba = g->w * g->h, C = fb->cols;
    tr_real *tmp = TR(alloc)(t, 2 * g->n * g->w);
    if (!tmp)
        return;
    for (int64_t i = 0; i < y->rows; i++)
        for (int m = 0; m < (r->c ? 2 : 1); m++) {
            tr_node *x = m ? r->c : r->b;
            int64_t xr = i / (m ? r->k2 : r->k);
            read_back_image(g, fb->v + i * C, x->v + xr * ba, y->g + i * y->cols + m * nn, x->g ? x->g + xr * ba : NULL,
                            fb->g ? fb->g + i * C : NULL, tmp);
        }
}

tr_node *TR(attn_read)(tr_tape *t, tr_node *fb, const varia_attn *g, tr_node *x, int64_t kx, tr_node *x2, int64_t kx2)
{
    int64_t nn = g->n * g->n, ba = g->w * g->h;
    tr_node *y;
    int grad = fb->g || x->g || (x2 && x2->g);
    record *r = TR(begin_op)(t, back_read, fb->rows, x2 ? 2 * nn : nn, grad, fb, &y);
    tr_real *tmp = r ? TR(alloc)(t, g->n * g->w) : NULL;
    if (!tmp)
        return y;
    r->b = x;
    r->c = x2;
    r->k = kx;
    r->k2 = kx2;
    r->aux = g;
    for (int64_t i = 0; i < fb->rows; i++) {
        const tr_real *fr = fb->v + i * fb->cols;
        tr_real *yr = y->v + i * y->cols;
        double gamma = (double)fr[fb->cols - 1];
        memset(yr, 0, (size_t)y->cols * sizeof *yr);
        attn_read_row(g, fr, gamma, x->v + (i / kx) * ba, tmp, yr);
        if (x2)
            attn_read_row(g, fr, gamma, x2->v + (i / kx2) * ba, tmp, yr + nn);
    }
    return y;
}

/* ---- write ---- */

/* One row of a write, c = s F_Y^T w F_X with s = 1/gamma, given G = dc
 * [B x A]: dw += s F_Y G F_X^T; dF_Y[j, b] += s U[j] . G[b] with U = w F_X;
 * dF_X[i] += s sum_j w[j, i] R[j] with R = F_Y G; dgamma += -s <G, c>
 * (dc/dgamma = -c/gamma). dw or dfb may be NULL; tmp holds 2 N A. */
static void write_back_row(const varia_attn *g, const tr_real *fb, const tr_real *w, const tr_real *c,
                           const tr_real *G, tr_real *dw, tr_real *dfb, tr_real *tmp)
{
    int64_t A = g->w, B = g->h, N = g->n;
    double s = 1.0 / (double)fb[N * (A + B)];
    if (dw)
        attn_read_row(g, fb, s, G, tmp, dw);
    if (!dfb)
        return;
    tr_real *U = tmp, *R = tmp + N * A;
    attn_w_fx(g, w, fb, U);
    attn_fy_x(g, fb + N * A, G, R);
    for (int64_t j = 0; j < N; j++)
        for (int64_t b = 0; b < B; b++)
            dfb[N * A + j * B + b] += (tr_real)(s * attn_dot(U + j * A, G + b * A, A));
    for (int64_t i = 0; i < N; i++) {
        tr_real *d = dfb + i * A;
        for (int64_t j = 0; j < N; j++) {
            const tr_real k = (tr_real)(s * w[j * N + i]), *rr = R + j * A;
            for (int64_t a = 0; a < A; a++)
                d[a] += k * rr[a];
        }
    }
    dfb[N * (A + B)] += (tr_real)(-s * attn_dot(G, c, B * A));
}

/* The write's rule, row by row (write_back_row). */
static void back_write(tr_tape *t, const record *r)
{
    const varia_attn *g = r->aux;
    tr_node *fb = r->a, *w = r->b, *y = r->out;
    int64_t nn = g->n * g->n, C = fb->cols;
    tr_real *tmp = TR(alloc)(t, 2 * g->n * g->w);
    if (!tmp)
        return;
    for (int64_t i = 0; i < y->rows; i++)
        write_back_row(g, fb->v + i * C, w->v + i * nn, y->v + i * y->cols, y->g + i * y->cols,
                       w->g ? w->g + i * nn : NULL, fb->g ? fb->g + i * C : NULL, tmp);
}

tr_node *TR(attn_write)(tr_tape *t, tr_node *fb, const varia_attn *g, tr_node *w)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_write, fb->rows, g->w * g->h, fb->g || w->g, fb, &y);
    tr_real *tmp = r ? TR(alloc)(t, g->n * g->w) : NULL;
    if (!tmp)
        return y;
    r->b = w;
    r->aux = g;
    for (int64_t i = 0; i < fb->rows; i++) {
        const tr_real *fr = fb->v + i * fb->cols;
        tr_real *yr = y->v + i * y->cols;
        memset(yr, 0, (size_t)y->cols * sizeof *yr);
        attn_write_row(g, fr, 1.0 / (double)fr[fb->cols - 1], w->v + i * w->cols, tmp, yr);
    }
    return y;
}

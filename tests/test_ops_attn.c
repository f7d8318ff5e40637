/* DRAW's attention ops (ops.h, docs/draw.md): the filterbank, the read (of
 * one image or two, rows of x shared by k rows) and the write. This file is
 * built twice (tests/meson.build):
 *  - test_ops_attn_grad, with -DTR_DOUBLE and the tape compiled in double:
 *    every input's gradient against central finite differences (A != B, N =
 *    1, 2, 5, narrow filters, wide strides, windows off the image), and the
 *    PyTorch golden values and gradients to 1e-10;
 *  - test_ops_attn, the library in float: exec against tape bit for bit,
 *    measure's sizes, the golden values (exec and tape) and the float tape's
 *    gradients.
 * Both run the identities (filters sum to 1; a centred N = A = B read with
 * delta 1 and a narrow filter returns the image; <read(x), w> = gamma^2 <x,
 * write(w)>) and the extreme parameters (no NaN or Inf anywhere). */
#include "tap.h"

#include "draw_attn_golden.h"
#include "rng.h"
#include "tape.h"
#ifndef TR_DOUBLE
#include "ops_exec.h"
#include "ops_tape.h"
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf
#define PARAMS VARIA_ATTN_PARAMS
#ifdef TR_DOUBLE
#define PREC "double"
#define GOLD_TOL 1e-10
#define GOLD_GRAD_TOL 1e-10
#define ID_TOL 1e-12
#else
#define PREC "float"
#define GOLD_TOL 1e-5
#define GOLD_GRAD_TOL 1e-4
#define ID_TOL 2e-6
#endif
/* Golden values are compared relative to max(|want|, FLOOR), as
 * test_golden.c does: a read of x^ or a write of signed values cancels to
 * near 0 out of order-1 terms, where float's absolute rounding (measured:
 * 1.3e-7 on a write of -0.0038) is all that is left; so 1e-6 absolute there.
 * The float tape's gradients sum more such terms (d log sigma^2 through
 * H u^2 / sigma^2): 1e-4 (measured up to 2.3e-5). */
#define FLOOR 1e-1

typedef tr_real real;

/* ---- scratch: one bump pool, reset per case (nothing to free) ---- */

static real pool[1 << 20];
static size_t pool_used;

static real *take(int64_t n)
{
    real *p = pool + pool_used;
    pool_used += (size_t)n;
    if (pool_used > sizeof pool / sizeof *pool)
        abort(); /* a test sizing bug */
    memset(p, 0, (size_t)n * sizeof *p);
    return p;
}

static real *copy_of(const double *src, int64_t n)
{
    real *p = take(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (real)src[i];
    return p;
}

/* n uniforms in [lo, hi), seeded. */
static real *uniform(int64_t n, uint64_t seed, double lo, double hi)
{
    varia_rng r;
    varia_rng_init(&r, seed, 21, 0, 0);
    real *p = take(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (real)(lo + (hi - lo) * varia_rng_uniform(&r));
    return p;
}

/* Parameters of `rows` rows, seeded: centres in [-1.1, 1.1] (windows partly
 * off the image included), log sigma^2 in [-1.5, 1.5], log delta~ and log
 * gamma in [-1, 1]. */
static real *params(int64_t rows, uint64_t seed)
{
    real *p = uniform(rows * PARAMS, seed, -1.0, 1.0);
    for (int64_t r = 0; r < rows; r++) {
        p[r * PARAMS] *= 1.1f;
        p[r * PARAMS + 1] *= 1.1f;
        p[r * PARAMS + 2] *= 1.5f;
    }
    return p;
}

/* Worst |got - want| / max(|want|, FLOOR); NaN counts as 1e9. */
static double worst(const real *got, const double *want, int64_t n)
{
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), FLOOR);
        w = e == e ? fmax(w, e) : 1e9;
    }
    return w;
}

static int all_finite(const real *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((double)v[i]))
            return 0;
    return 1;
}

/* ---- golden values (tools/torch/draw_attn_golden.py) on the tape ---- */

/* The golden case's loss sum(cr * read) + sum(cw * write) on the tape:
 * values and every input's gradient against PyTorch's. */
static void golden_tape(const attn_golden *c)
{
    varia_attn g = {c->A, c->B, c->N};
    int64_t R = c->rows, X = R / c->k, ba = c->A * c->B, nn = c->N * c->N, C = varia_attn_fb_cols(&g);
    pool_used = 0;
    real *p = copy_of(c->p, R * PARAMS), *x = copy_of(c->x, X * ba), *x2 = copy_of(c->x2, R * ba);
    real *pw = copy_of(c->pw, R * PARAMS), *w = copy_of(c->w, R * nn);
    real *dp = take(R * PARAMS), *dx = take(X * ba), *dx2 = take(R * ba), *dpw = take(R * PARAMS), *dw = take(R * nn);
    tr_tape *t = TR(tape_new)();
    tr_node *fb = TR(attn_filterbank)(t, TR(param)(t, R, PARAMS, p, dp), &g);
    tr_node *rd = TR(attn_read)(t, fb, &g, TR(param)(t, X, ba, x, dx), c->k, TR(param)(t, R, ba, x2, dx2), 1);
    tr_node *fbw = TR(attn_filterbank)(t, TR(param)(t, R, PARAMS, pw, dpw), &g);
    tr_node *wr = TR(attn_write)(t, fbw, &g, TR(param)(t, R, nn, w, dw));
    TR(seed)(t, rd, copy_of(c->cr, R * 2 * nn));
    TR(seed)(t, wr, copy_of(c->cw, R * ba));
    TR(backward)(t);
    double ef = fmax(worst(fb->v, c->fb, R * C), worst(fbw->v, c->fbw, R * C));
    double er = worst(rd->v, c->read, R * 2 * nn), ew = worst(wr->v, c->write, R * ba);
    double eg[5] = {worst(dp, c->dp, R * PARAMS), worst(dx, c->dx, X * ba), worst(dx2, c->dx2, R * ba),
                    worst(dpw, c->dpw, R * PARAMS), worst(dw, c->dw, R * nn)};
    double egw = 0.0;
    for (int i = 0; i < 5; i++)
        egw = fmax(egw, eg[i]);
    ok(!TR(failed)(t) && ef <= GOLD_TOL && er <= GOLD_TOL && ew <= GOLD_TOL,
       "golden %s, " PREC " tape: filterbanks %.1e, read of x and x^ %.1e, write %.1e", c->name, ef, er, ew);
    ok(egw <= GOLD_GRAD_TOL,
       "golden %s, " PREC " tape gradients: p %.1e, x %.1e, x^ %.1e (read); p %.1e, w %.1e (write)", c->name, eg[0],
       eg[1], eg[2], eg[3], eg[4]);
    TR(tape_free)(t);
}

/* ---- identities ---- */

/* Each filter centred on the image sums to 1; a centred read with N = A =
 * B, delta 1 and sigma^2 = e^-6 returns the image, and the write its glimpse;
 * <read(x), w> = gamma^2 <x, write(w)> row by row (the write with gamma
 * inverted is the read's adjoint). On the tape (exec is bit-identical). */
static void identities(void)
{
    static const varia_attn geo[] = {{7, 5, 2}, {5, 9, 5}, {6, 6, 1}, {28, 28, 5}, {11, 4, 3}};
    double sum_err = 0.0, adj_err = 0.0;
    int n_on = 0;
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
        const varia_attn *g = &geo[i];
        int64_t R = 6, ba = g->w * g->h, nn = g->n * g->n, C = varia_attn_fb_cols(g);
        pool_used = 0;
        real *p = params(R, 100 + i), *x = uniform(R * ba, 200 + i, -1, 1), *w = uniform(R * nn, 300 + i, -2, 2);
        tr_tape *t = TR(tape_new)();
        tr_node *fb = TR(attn_filterbank)(t, TR(input)(t, R, PARAMS, p), g);
        tr_node *rd = TR(attn_read)(t, fb, g, TR(input)(t, R, ba, x), 1, NULL, 1);
        tr_node *wr = TR(attn_write)(t, fb, g, TR(input)(t, R, nn, w));
        for (int64_t r = 0; r < R; r++) {
            const real *f = fb->v + r * C, *pr = p + r * PARAMS;
            double delta = (double)(g->w > g->h ? g->w - 1 : g->h - 1) / (double)(g->n > 1 ? g->n - 1 : 1) * exp(pr[3]);
            for (int64_t k = 0; k < g->n; k++) {
                double off = ((double)k + 1.0 - 0.5 * (double)g->n - 0.5) * delta, s[2] = {0.0, 0.0};
                double mu[2] = {0.5 * (double)(g->w + 1) * (pr[0] + 1.0) + off, 0.5 * (double)(g->h + 1) * (pr[1] + 1.0) + off};
                for (int64_t a = 0; a < g->w; a++)
                    s[0] += f[k * g->w + a];
                for (int64_t b = 0; b < g->h; b++)
                    s[1] += f[g->n * g->w + k * g->h + b];
                for (int axis = 0; axis < 2; axis++) { /* filters centred on the image sum to 1, others to at most 1 */
                    int on = mu[axis] >= 1.0 && mu[axis] <= (double)(axis ? g->h : g->w);
                    sum_err = fmax(sum_err, on ? fabs(s[axis] - 1.0) : fmax(0.0, s[axis] - 1.0 - ID_TOL));
                    n_on += on;
                }
            }
            double lhs = 0.0, rhs = 0.0, gam = f[C - 1];
            for (int64_t j = 0; j < nn; j++)
                lhs += (double)rd->v[r * nn + j] * w[r * nn + j];
            for (int64_t j = 0; j < ba; j++)
                rhs += (double)x[r * ba + j] * wr->v[r * ba + j];
            adj_err = fmax(adj_err, fabs(lhs - gam * gam * rhs) / fmax(1.0, fabs(lhs)));
        }
        TR(tape_free)(t);
    }
    ok(sum_err < ID_TOL && n_on > 60, PREC ": every filter centred on the image (%d) sums to 1, the others to at most 1 "
       "(worst %.1e)", n_on, sum_err);
    ok(adj_err < 10 * ID_TOL, PREC ": <read(x), w> = gamma^2 <x, write(w)> (worst relative %.1e)", adj_err);
    for (int64_t n = 1; n <= 8; n += 7) {
        varia_attn g = {n, n, n};
        int64_t ba = n * n;
        pool_used = 0;
        real p[PARAMS] = {0, 0, -6, 0, 0}, *x = uniform(ba, 400, 0, 1), *w = uniform(ba, 401, -2, 2);
        tr_tape *t = TR(tape_new)();
        tr_node *fb = TR(attn_filterbank)(t, TR(input)(t, 1, PARAMS, p), &g);
        tr_node *rd = TR(attn_read)(t, fb, &g, TR(input)(t, 1, ba, x), 1, NULL, 1);
        tr_node *wr = TR(attn_write)(t, fb, &g, TR(input)(t, 1, ba, w));
        double er = 0.0, ew = 0.0;
        for (int64_t j = 0; j < ba; j++) {
            er = fmax(er, fabs((double)rd->v[j] - x[j]));
            ew = fmax(ew, fabs((double)wr->v[j] - w[j]));
        }
        ok(er < ID_TOL && ew < ID_TOL, PREC ": N = A = B = %d, centred, delta 1, sigma^2 = e^-6: read(x) = x (%.1e), "
           "write(w) = w (%.1e)", (int)n, er, ew);
        TR(tape_free)(t);
    }
}

/* ---- extreme parameters ---- */

/* Rows at the edges of the parameter space: sigma^2, delta and gamma past
 * the caps both ways, centres 1e6 and 1e30 off the image, a narrow filter
 * between pixels, N = 1 with a huge stride. */
static const float EXTREME[][PARAMS] = {
    {0.0f, 0.0f, -50.0f, 0.0f, 0.0f},   {0.0f, 0.0f, 50.0f, 0.0f, 0.0f},    {0.3f, -0.2f, 0.0f, 50.0f, 0.0f},
    {0.0f, 0.0f, 0.0f, -50.0f, 50.0f},  {0.1f, 0.0f, -1.0f, 0.5f, -50.0f},  {1e6f, -1e6f, 0.0f, 0.0f, 0.0f},
    {1e30f, 3.0f, -8.0f, 20.0f, 0.0f},  {0.05f, 0.05f, -8.0f, 0.0f, 0.0f},  {-3.0f, 0.0f, -29.9f, 29.9f, 29.9f},
};
#define N_EXTREME ((int64_t)(sizeof EXTREME / sizeof *EXTREME))

/* Filterbank, read (two images, x shared by 3 rows) and write over the
 * extreme rows, forward and backward: every value and gradient finite, and
 * the filters of a window 1e6 off the image exactly 0. */
static void extremes(void)
{
    static const varia_attn geo[] = {{7, 5, 2}, {6, 6, 1}, {5, 9, 5}};
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
        const varia_attn *g = &geo[i];
        int64_t R = N_EXTREME, ba = g->w * g->h, nn = g->n * g->n, C = varia_attn_fb_cols(g);
        pool_used = 0;
        real *p = take(R * PARAMS), *dp = take(R * PARAMS), *x = uniform(R / 3 * ba, 500, 0, 1),
             *dx = take(R / 3 * ba), *x2 = uniform(R * ba, 501, -1, 1), *dx2 = take(R * ba),
             *w = uniform(R * nn, 502, -2, 2), *dw = take(R * nn);
        for (int64_t j = 0; j < R * PARAMS; j++)
            p[j] = EXTREME[j / PARAMS][j % PARAMS];
        tr_tape *t = TR(tape_new)();
        tr_node *np = TR(param)(t, R, PARAMS, p, dp), *fb = TR(attn_filterbank)(t, np, g);
        tr_node *rd = TR(attn_read)(t, fb, g, TR(param)(t, R / 3, ba, x, dx), 3, TR(param)(t, R, ba, x2, dx2), 1);
        tr_node *wr = TR(attn_write)(t, fb, g, TR(param)(t, R, nn, w, dw));
        TR(seed)(t, rd, uniform(R * 2 * nn, 503, -1, 1));
        TR(seed)(t, wr, uniform(R * ba, 504, -1, 1));
        TR(backward)(t);
        int fin = all_finite(fb->v, R * C) && all_finite(rd->v, R * 2 * nn) && all_finite(wr->v, R * ba);
        int gfin = all_finite(dp, R * PARAMS) && all_finite(dx, R / 3 * ba) && all_finite(dx2, R * ba) &&
                   all_finite(dw, R * nn);
        double off = 0.0; /* row 5: centre 1e6 right of and below the image */
        for (int64_t j = 0; j < C - 1; j++)
            off = fmax(off, fabs((double)fb->v[5 * C + j]));
        ok(fin && gfin && off == 0.0,
           PREC ", A %d B %d N %d: %d extreme rows, values and every gradient finite; a window 1e6 off is 0",
           (int)g->w, (int)g->h, (int)g->n, (int)R);
        TR(tape_free)(t);
    }
}

/* A NaN parameter is not hidden: the kernels of a NaN centre or width are 0
 * (attn_kernel_f), so gamma carries the NaN to every value of that row's
 * read and write; the other rows stay finite. */
static void nan_params(void)
{
    varia_attn g = {7, 5, 2};
    int64_t ba = 35, nn = 4;
    int good = 1;
    for (int which = 0; which < PARAMS; which++) {
        pool_used = 0;
        real *p = params(2, 900 + which), *x = uniform(2 * ba, 901, 0, 1), *w = uniform(2 * nn, 902, -1, 1);
        p[PARAMS + which] = (real)NAN;
        tr_tape *t = TR(tape_new)();
        tr_node *fb = TR(attn_filterbank)(t, TR(input)(t, 2, PARAMS, p), &g);
        tr_node *rd = TR(attn_read)(t, fb, &g, TR(input)(t, 2, ba, x), 1, NULL, 1);
        tr_node *wr = TR(attn_write)(t, fb, &g, TR(input)(t, 2, nn, w));
        good = good && all_finite(rd->v, nn) && all_finite(wr->v, ba);
        for (int64_t j = 0; j < nn; j++)
            good = good && isnan((double)rd->v[nn + j]);
        for (int64_t j = 0; j < ba; j++)
            good = good && isnan((double)wr->v[ba + j]);
        TR(tape_free)(t);
    }
    ok(good, PREC ": a NaN in any of the five parameters makes its row's read and write NaN, the other row finite");
}

#ifdef TR_DOUBLE
/* ---- finite differences (double) ---- */

/* One gradient check: the op (0 filterbank, 1 read of one image, 2 read of
 * two, 3 write), its geometry, rows, k, and how the parameters are set. */
typedef struct fdcase {
    int op;
    varia_attn g;
    int64_t rows, k;
    const float *fixed; /* rows of parameters (NULL: seeded, as params()) */
    const char *what;
} fdcase;

/* The parameter vector th: p [rows, 5], then x [rows / k, B A] and x2 [rows,
 * B A] (read) or w [rows, N N] (write). */
static int64_t fd_size(const fdcase *c)
{
    int64_t ba = c->g.w * c->g.h, R = c->rows;
    switch (c->op) {
    case 0: return R * PARAMS;
    case 1: return R * PARAMS + R / c->k * ba;
    case 2: return R * PARAMS + R / c->k * ba + R * ba;
    default: return R * PARAMS + R * c->g.n * c->g.n;
    }
}

static tr_node *fd_build(tr_tape *t, double *th, double *gr, const fdcase *c)
{
    int64_t R = c->rows, ba = c->g.w * c->g.h, o = R * PARAMS, X = R / c->k;
    tr_node *fb = TR(attn_filterbank)(t, TR(param)(t, R, PARAMS, th, gr), &c->g);
    switch (c->op) {
    case 0: return fb;
    case 1: return TR(attn_read)(t, fb, &c->g, TR(param)(t, X, ba, th + o, gr + o), c->k, NULL, 1);
    case 2:
        return TR(attn_read)(t, fb, &c->g, TR(param)(t, X, ba, th + o, gr + o), c->k,
                             TR(param)(t, R, ba, th + o + X * ba, gr + o + X * ba), 1);
    default: return TR(attn_write)(t, fb, &c->g, TR(param)(t, R, c->g.n * c->g.n, th + o, gr + o));
    }
}

/* Max over th of |analytic - central difference| / max(1, |numeric|) for
 * the loss sum_i w_i out_i, w seeded. */
static double fd_check(const fdcase *c, double *th, int64_t n)
{
    static double gr[1 << 14], dummy[1 << 14], w[1 << 14];
    memset(gr, 0, sizeof gr);
    tr_tape *t = TR(tape_new)();
    tr_node *out = fd_build(t, th, gr, c);
    varia_rng r;
    varia_rng_init(&r, 7, 1, 0, 0);
    for (int64_t i = 0; i < out->rows * out->cols; i++)
        w[i] = 2.0 * varia_rng_uniform(&r) - 1.0;
    TR(seed)(t, out, w);
    TR(backward)(t);
    double bad = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double keep = th[i], h = 1e-6 * fmax(1.0, fabs(keep)), f[2];
        for (int s = 0; s < 2; s++) {
            th[i] = keep + (s ? -h : h);
            TR(reset)(t);
            tr_node *o = fd_build(t, th, dummy, c);
            f[s] = 0.0;
            for (int64_t j = 0; j < o->rows * o->cols; j++)
                f[s] += w[j] * o->v[j];
        }
        th[i] = keep;
        double num = (f[0] - f[1]) / (2.0 * h), e = fabs(gr[i] - num) / fmax(1.0, fabs(num));
        bad = e == e ? fmax(bad, e) : 1e9;
    }
    TR(tape_free)(t);
    return bad;
}

/* Rows at hard but differentiable places: sigma^2 = e^-4 between pixels; a
 * wide stride (delta~ = e^3) with most filters off the image; a centre 10
 * half-widths right of the image (every kernel value underflows: Z is the
 * guard alone); gamma small; log sigma^2 past the cap (gradient 0). */
static const float HARD[][PARAMS] = {
    {0.13f, -0.07f, -4.0f, 0.2f, 0.3f}, {0.0f, 0.1f, 0.5f, 3.0f, -0.2f},  {10.0f, 0.0f, -1.0f, 0.0f, 0.0f},
    {-0.4f, 1.2f, 1.0f, -0.5f, -2.5f},  {0.2f, 0.3f, -35.0f, 0.0f, 0.0f}, {-1.3f, -1.4f, -2.0f, 0.7f, 1.1f},
};

static void finite_differences(void)
{
    static const char *const opname[] = {"filterbank", "read", "read of x and x^", "write"};
    const fdcase cases[] = {
        {0, {7, 5, 2}, 3, 1, NULL, "A 7 B 5 N 2"},          {0, {5, 9, 5}, 2, 1, NULL, "A 5 B 9 N 5"},
        {0, {6, 6, 1}, 3, 1, NULL, "N 1"},                  {0, {7, 5, 2}, 6, 1, &HARD[0][0], "hard rows"},
        {1, {7, 5, 2}, 4, 2, NULL, "A 7 B 5 N 2, k 2"},     {1, {4, 6, 1}, 3, 3, NULL, "A 4 B 6 N 1, k 3"},
        {2, {5, 9, 5}, 2, 1, NULL, "A 5 B 9 N 5"},          {2, {7, 5, 2}, 6, 2, &HARD[0][0], "hard rows, k 2"},
        {2, {6, 6, 1}, 6, 3, &HARD[0][0], "N 1, hard rows, k 3"},
        {3, {7, 5, 2}, 3, 1, NULL, "A 7 B 5 N 2"},          {3, {5, 9, 5}, 2, 1, NULL, "A 5 B 9 N 5"},
        {3, {6, 6, 1}, 3, 1, NULL, "N 1"},                  {3, {9, 4, 5}, 6, 1, &HARD[0][0], "A 9 B 4 N 5, hard rows"},
    };
    static double th[1 << 14];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const fdcase *c = &cases[i];
        int64_t n = fd_size(c), o = c->rows * PARAMS;
        pool_used = 0;
        real *p = params(c->rows, 600 + i), *rest = uniform(n - o, 700 + i, -1, 1);
        for (int64_t j = 0; j < o; j++)
            th[j] = c->fixed ? c->fixed[j] : p[j];
        memcpy(th + o, rest, (size_t)(n - o) * sizeof *th);
        double e = fd_check(c, th, n);
        ok(e < 1e-6, "%s, %s: every input's gradient against finite differences (%.1e)", opname[c->op], c->what, e);
    }
}
#else
/* ---- exec against tape (float) ---- */

#define WS_VALS 256
#define WS_FLOATS ((size_t)1 << 20)

/* Worst |exec - tape| of two float values of one shape (1e9: shapes differ). */
static double diff(varia_v *ev, varia_v *tv)
{
    const tr_node *n = tr_node_of(tv);
    if (ev->rows != n->rows || ev->cols != n->cols || !ev->f)
        return 1e9;
    double w = 0.0;
    for (int64_t r = 0; r < ev->rows; r++)
        for (int64_t c = 0; c < ev->cols; c++) {
            double e = fabs((double)ev->f[r * ev->ld + c] - n->v[r * n->cols + c]);
            w = e == e ? fmax(w, e) : 1e9;
        }
    return w;
}

/* The three ops through the op tables; p and x arrive as column views of
 * wider rows (row strides the exec backend must honour). out: filterbank,
 * read of x (k 2), read of x and x2, write. */
static void run_ops(varia_ops *o, const varia_attn *g, const float *pw, const float *xw, const float *x2, const float *w,
                    varia_v **out)
{
    int64_t R = 6, ba = g->w * g->h, nn = g->n * g->n;
    varia_v *p = o->cols(o, o->input(o, R, PARAMS + 2, pw, PARAMS + 2), 1, PARAMS);
    varia_v *x = o->cols(o, o->input(o, R / 2, ba + 3, xw, ba + 3), 3, ba);
    out[0] = o->attn_filterbank(o, p, g);
    out[1] = o->attn_read(o, out[0], g, x, 2, NULL, 1);
    out[2] = o->attn_read(o, out[0], g, x, 2, o->input(o, R, ba, x2, ba), 1);
    out[3] = o->attn_write(o, out[0], g, o->input(o, R, nn, w, nn));
}

/* Exec and tape run the same row functions: the same bits. Measure sizes
 * what exec uses, and a workspace of exactly that runs without failing. */
static void exec_vs_tape(void)
{
    static const varia_attn geo[] = {{7, 5, 2}, {5, 9, 5}, {6, 6, 1}, {28, 28, 2}, {28, 28, 5}};
    static const char *const what[] = {"filterbank", "read (x shared by 2 rows)", "read of x and x^", "write"};
    float *ws = aligned_alloc(64, WS_FLOATS * sizeof(float));
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
        const varia_attn *g = &geo[i];
        int64_t R = 6, ba = g->w * g->h, nn = g->n * g->n;
        pool_used = 0;
        float *pw = uniform(R * (PARAMS + 2), 800 + i, -1, 1), *xw = uniform(R / 2 * (ba + 3), 810 + i, 0, 1);
        float *x2 = uniform(R * ba, 820 + i, -1, 1), *w = uniform(R * nn, 830 + i, -2, 2);
        memcpy(pw + 5 * (PARAMS + 2) + 1, EXTREME[6], sizeof EXTREME[6]); /* row 5: a centre 1e30 off */
        varia_exec e;
        varia_exec_begin_sized(&e, NULL, ws, WS_VALS, WS_FLOATS, NULL);
        tr_tape *tape = tr_tape_new();
        tr_ops t;
        tr_ops_begin(&t, tape, NULL, NULL, NULL, NULL, NULL);
        varia_v *ev[4], *tv[4];
        run_ops(&e.ops, g, pw, xw, x2, w, ev);
        run_ops(&t.ops, g, pw, xw, x2, w, tv);
        for (int j = 0; j < 4; j++) {
            double d = diff(ev[j], tv[j]);
            ok(d == 0.0 && !e.failed, "A %d B %d N %d, %s: exec and tape bit-identical (%.1e)", (int)g->w, (int)g->h,
               (int)g->n, what[j], d);
        }
        varia_v vals[WS_VALS], *mv[4];
        varia_exec m;
        varia_measure_begin(&m, NULL, vals, WS_VALS);
        run_ops(&m.ops, g, pw, xw, x2, w, mv);
        size_t need = varia_exec_val_floats(m.n_vals) + m.used;
        varia_exec_begin_sized(&e, NULL, ws, m.n_vals, need, NULL);
        run_ops(&e.ops, g, pw, xw, x2, w, ev);
        ok(m.used == e.used && !e.failed && diff(ev[3], tv[3]) == 0.0,
           "A %d B %d N %d: measure sizes exec's workspace (%zu floats), which runs in exactly that", (int)g->w,
           (int)g->h, (int)g->n, need);
        tr_tape_free(tape);
    }
    free(ws);
}

/* The golden values through exec (the runtime's backend). */
static void golden_exec(const attn_golden *c)
{
    varia_attn g = {c->A, c->B, c->N};
    int64_t R = c->rows, X = R / c->k, ba = c->A * c->B, nn = c->N * c->N, C = varia_attn_fb_cols(&g);
    float *ws = aligned_alloc(64, WS_FLOATS * sizeof(float));
    pool_used = 0;
    varia_exec e;
    varia_exec_begin_sized(&e, NULL, ws, WS_VALS, WS_FLOATS, NULL);
    varia_ops *o = &e.ops;
    varia_v *fb = o->attn_filterbank(o, o->input(o, R, PARAMS, copy_of(c->p, R * PARAMS), PARAMS), &g);
    varia_v *rd = o->attn_read(o, fb, &g, o->input(o, X, ba, copy_of(c->x, X * ba), ba), c->k,
                               o->input(o, R, ba, copy_of(c->x2, R * ba), ba), 1);
    varia_v *fbw = o->attn_filterbank(o, o->input(o, R, PARAMS, copy_of(c->pw, R * PARAMS), PARAMS), &g);
    varia_v *wr = o->attn_write(o, fbw, &g, o->input(o, R, nn, copy_of(c->w, R * nn), nn));
    double ef = fmax(worst(fb->f, c->fb, R * C), worst(fbw->f, c->fbw, R * C));
    double er = worst(rd->f, c->read, R * 2 * nn), ew = worst(wr->f, c->write, R * ba);
    ok(!e.failed && ef <= GOLD_TOL && er <= GOLD_TOL && ew <= GOLD_TOL,
       "golden %s, exec: filterbanks %.1e, read of x and x^ %.1e, write %.1e", c->name, ef, er, ew);
    free(ws);
}
#endif

int main(void)
{
    const char *why = NULL;
    varia_attn bad[] = {{0, 5, 2}, {5, 65537, 2}, {28, 28, 0}, {28, 28, 1025}}, good = {28, 28, 5};
    int refused = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        refused = refused && !varia_attn_check(&bad[i], &why) && why;
    ok(refused && varia_attn_check(&good, &why), "varia_attn_check refuses empty, oversized and N-less geometries");
    for (size_t i = 0; i < sizeof ATTN_GOLDEN / sizeof *ATTN_GOLDEN; i++) {
        golden_tape(&ATTN_GOLDEN[i]);
#ifndef TR_DOUBLE
        golden_exec(&ATTN_GOLDEN[i]);
#endif
    }
    identities();
    extremes();
    nan_params();
#ifdef TR_DOUBLE
    finite_differences();
#else
    exec_vs_tape();
#endif
    return tap_done();
}

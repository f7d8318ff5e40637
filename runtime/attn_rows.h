/* Internal: one row of DRAW's attention (docs/draw.md), for the exec backend
 * (float) and the tape (float, and double for the gradient checks). The
 * including file defines ATTN_REAL as its element type first (one type per
 * file, as conv_rows.h); both backends then run the same instructions and
 * compute the same bits.
 *
 * The paper's equations, with pixels numbered 1..A and 1..B:
 *   g_X = (A + 1)/2 (g~_X + 1), g_Y = (B + 1)/2 (g~_Y + 1),
 *   delta = (max(A, B) - 1)/(N - 1) exp(log delta~), gamma = exp(log gamma),
 *   mu_X^i = g_X + (i - N/2 - 0.5) delta, i = 1..N (likewise mu_Y^j),
 *   F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z_X^i.
 * The per-row scalars are computed in double; the N (A + B) kernel values in
 * ATTN_REAL lanes (float: the vectorised exp of vmath.h), and the products
 * as axpys over image rows and dot products in eight partial sums, loops the
 * compiler vectorises in either type. Nothing here allocates: the callers
 * pass scratch. */
#ifndef VARIA_ATTN_ROWS_H
#define VARIA_ATTN_ROWS_H

#ifndef ATTN_REAL
#error "define ATTN_REAL (float or double) before including attn_rows.h"
#endif

#include "attn.h"
#include "vmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* log sigma^2, log delta~ and log gamma are clamped to [-CAP, CAP] (their
 * gradient is 0 outside): exp of a float parameter could otherwise be 0 or
 * inf in double, and 0 * inf is NaN (sigma^2 = 0 at a pixel under a filter's
 * centre; an infinite stride times the middle filter's offset 0). */
#define ATTN_LOG_CAP 30.0
/* Z = sum_a K + ATTN_Z_EPS: a filter whose every kernel value underflowed
 * (its window far outside the image, or sigma tiny between two pixels) is
 * then 0 rather than 0/0. The guard is far below any sum a filter reaching
 * the image has, so it leaves the paper's normalisation alone wherever
 * floats can represent it (docs/draw.md). */
#define ATTN_Z_EPS 1e-30
/* Float kernel values are 0 below exp(-87), where vmath's exp stops (it
 * would return 1.6e-38 for anything smaller): a filter off the image is then
 * exactly 0, and so is its gradient. A NaN exponent gives 0 too; attn_par_of
 * passes a NaN parameter on through gamma instead. */
#define ATTN_EXP_MAX_F 87.0f

/* One row's scalars. */
typedef struct attn_par {
    double gx, gy;     /* the grid's centre, in pixels 1..A and 1..B */
    double prec;       /* 1 / sigma^2 */
    double delta;      /* the grid's stride */
    double gamma;      /* the intensity */
    double ks, kd, kg; /* 1 where log sigma^2, log delta~, log gamma are inside the cap, else 0 */
} attn_par;

/* v clamped to [-ATTN_LOG_CAP, ATTN_LOG_CAP]; *pass is its derivative (1
 * strictly inside, else 0). */
static inline double attn_cap(double v, double *pass)
{
    *pass = v > -ATTN_LOG_CAP && v < ATTN_LOG_CAP ? 1.0 : 0.0;
    return v < -ATTN_LOG_CAP ? -ATTN_LOG_CAP : v > ATTN_LOG_CAP ? ATTN_LOG_CAP : v;
}

/* The scalars of parameters p[VARIA_ATTN_PARAMS] under geometry g. With N =
 * 1 the stride divides by 1 instead of 0: the one filter's offset is 0, so
 * delta has no effect (and no gradient), but it stays finite. */
static inline attn_par attn_par_of(const varia_attn *g, const ATTN_REAL *p)
{
    attn_par q;
    double ls = attn_cap((double)p[2], &q.ks), ld = attn_cap((double)p[3], &q.kd);
    double lg = attn_cap((double)p[4], &q.kg);
    int64_t big = g->w > g->h ? g->w : g->h;
    q.gx = 0.5 * (double)(g->w + 1) * ((double)p[0] + 1.0);
    q.gy = 0.5 * (double)(g->h + 1) * ((double)p[1] + 1.0);
    q.prec = exp(-ls);
    q.delta = (double)(big - 1) / (double)(g->n > 1 ? g->n - 1 : 1) * exp(ld);
    q.gamma = exp(lg);
    for (int i = 0; i < VARIA_ATTN_PARAMS; i++) /* a NaN parameter makes the filters 0 (attn_kernel_f): */
        if (p[i] != p[i])                       /* gamma carries it to the read and the write */
            q.gamma = (double)p[i];
    return q;
}

/* The paper's i - N/2 - 0.5 for filter i = c + 1 (c counts from 0). */
static inline double attn_offset(const varia_attn *g, int64_t c)
{
    return (double)c + 0.5 - 0.5 * (double)g->n;
}

/* sum_j a_j b_j in eight partial sums folded pairwise (a fixed order). */
static inline double attn_dot(const ATTN_REAL *a, const ATTN_REAL *b, int64_t n)
{
    ATTN_REAL s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int i = 0; i < 8; i++)
            s[i] += a[j + i] * b[j + i];
    for (; j < n; j++)
        s[0] += a[j] * b[j];
    return (double)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

/* sum_j a_j, the same way. */
static inline double attn_sum(const ATTN_REAL *a, int64_t n)
{
    ATTN_REAL s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int i = 0; i < 8; i++)
            s[i] += a[j + i];
    for (; j < n; j++)
        s[0] += a[j];
    return (double)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

/* exp(-e) for float e >= 0, +inf or NaN: vmath's exp below ATTN_EXP_MAX_F,
 * else 0. The test and the select are on the bits of |e| as integers (a
 * float >= 0 orders as its bits, and inf and NaN of either sign lie above):
 * GCC if-converts no float comparison under the default -ftrapping-math, so
 * a float test kept the filter's loop scalar (measured: the filterbank took
 * 1.9x as long). */
static inline float attn_kernel_f(float e)
{
    const float lim = ATTN_EXP_MAX_F;
    int32_t b, cap, kb;
    memcpy(&b, &e, sizeof b);
    memcpy(&cap, &lim, sizeof cap);
    b &= INT32_MAX;                          /* |e|: x86's default NaN has its sign bit set */
    int32_t in = -(int32_t)(b < cap);        /* all ones below the limit, else 0 */
    int32_t bc = (b & in) | (cap & ~in);     /* masks, not ?: (which GCC then kept scalar) */
    float ec, r;
    memcpy(&ec, &bc, sizeof ec);
    float n = vm_reduce(-ec, &r), k = (vm_expm1_poly(r) + 1.0f) * vm_pow2i(n);
    memcpy(&kb, &k, sizeof kb);
    kb &= in;
    memcpy(&k, &kb, sizeof k);
    return k;
}

/* exp(-e) for e >= 0 (or +inf): float as above; double by libm (which
 * underflows to 0 by itself). */
static inline ATTN_REAL attn_kernel(ATTN_REAL e)
{
    if (sizeof(ATTN_REAL) == sizeof(float))
        return (ATTN_REAL)attn_kernel_f((float)e);
    return (ATTN_REAL)exp(-(double)e);
}

/* One filter over n pixels: f[q] = K_q / (sum K + ATTN_Z_EPS), K_q =
 * exp(-(q + 1 - mu)^2 prec / 2) (pixel q + 1: pixels count from 1). The
 * centre enters as a sum of two ATTN_REALs (m + ml = mu - 1), so that u =
 * (q - m) - ml keeps its own relative precision instead of the centre's
 * (rounding mu to float alone moved a narrow filter's values by 3e-6). A
 * centre beyond 1e30 (all its kernel values 0 anyway) is taken as 1e30, so
 * the conversions stay in float's range and u^2 at worst overflows to inf,
 * whose exp(-inf) is 0, never NaN. */
static inline void attn_filter_1d(int64_t n, double mu, double prec, ATTN_REAL *f)
{
    const double mc = fmin(fmax(mu - 1.0, -1e30), 1e30);
    const ATTN_REAL m = (ATTN_REAL)mc, ml = (ATTN_REAL)(mc - (double)m), hp = (ATTN_REAL)(0.5 * prec);
    for (int32_t q = 0; q < (int32_t)n; q++) { /* int32: its conversion vectorises, int64's does not (n <= 65536) */
        ATTN_REAL u = ((ATTN_REAL)q - m) - ml;
        f[q] = attn_kernel(u * u * hp);
    }
    const ATTN_REAL inv = (ATTN_REAL)(1.0 / (attn_sum(f, n) + ATTN_Z_EPS));
    for (int64_t q = 0; q < n; q++)
        f[q] *= inv;
}

/* fb[varia_attn_fb_cols(g)] = F_X (N x A), F_Y (N x B), gamma, from the
 * parameters p[VARIA_ATTN_PARAMS]. */
static inline void attn_filterbank_row(const varia_attn *g, const ATTN_REAL *p, ATTN_REAL *fb)
{
    attn_par q = attn_par_of(g, p);
    ATTN_REAL *fy = fb + g->n * g->w;
    for (int64_t c = 0; c < g->n; c++) {
        double off = attn_offset(g, c) * q.delta;
        attn_filter_1d(g->w, q.gx + off, q.prec, fb + c * g->w);
        attn_filter_1d(g->h, q.gy + off, q.prec, fy + c * g->h);
    }
    fb[g->n * (g->w + g->h)] = (ATTN_REAL)q.gamma;
}

/* tmp[N x A] = F_Y x for an image x [B x A]: N * B axpys over image rows.
 * (Blocking the columns to keep partial sums in registers measured no
 * faster at A = 28: these loops are short, and the exps dominate.) */
static inline void attn_fy_x(const varia_attn *g, const ATTN_REAL *fy, const ATTN_REAL *x, ATTN_REAL *tmp)
{
    int64_t A = g->w, B = g->h;
    for (int64_t j = 0; j < g->n; j++) {
        ATTN_REAL *t = tmp + j * A;
        for (int64_t a = 0; a < A; a++)
            t[a] = 0;
        for (int64_t b = 0; b < B; b++) {
            const ATTN_REAL c = fy[j * B + b], *xr = x + b * A;
            for (int64_t a = 0; a < A; a++)
                t[a] += c * xr[a];
        }
    }
}

/* tmp[N x A] = w F_X for a glimpse w [N x N]: N * N axpys. */
static inline void attn_w_fx(const varia_attn *g, const ATTN_REAL *w, const ATTN_REAL *fx, ATTN_REAL *tmp)
{
    int64_t A = g->w, N = g->n;
    for (int64_t j = 0; j < N; j++) {
        ATTN_REAL *t = tmp + j * A;
        for (int64_t a = 0; a < A; a++)
            t[a] = 0;
        for (int64_t i = 0; i < N; i++) {
            const ATTN_REAL c = w[j * N + i], *fr = fx + i * A;
            for (int64_t a = 0; a < A; a++)
                t[a] += c * fr[a];
        }
    }
}

/* out[j N + i] += s (F_Y x F_X^T)[j, i] for an image x [B x A] under the
 * filterbank row fb (row j of the glimpse is filter j of F_Y, column i filter
 * i of F_X). tmp[N x A] is scratch. The read is this with s = gamma; the
 * write's gradient w.r.t. its glimpse is this with s = 1/gamma. */
static inline void attn_read_row(const varia_attn *g, const ATTN_REAL *fb, double s, const ATTN_REAL *x,
                                 ATTN_REAL *tmp, ATTN_REAL *out)
{
    int64_t A = g->w, N = g->n;
    attn_fy_x(g, fb + N * A, x, tmp);
    for (int64_t j = 0; j < N; j++)
        for (int64_t i = 0; i < N; i++)
            out[j * N + i] += (ATTN_REAL)(s * attn_dot(tmp + j * A, fb + i * A, A));
}

/* out[b A + a] += s (F_Y^T w F_X)[b, a] for a glimpse w [N x N]. tmp[N x A]
 * is scratch. The write is this with s = 1/gamma; the read's gradient w.r.t.
 * its image is this with s = gamma. */
static inline void attn_write_row(const varia_attn *g, const ATTN_REAL *fb, double s, const ATTN_REAL *w,
                                  ATTN_REAL *tmp, ATTN_REAL *out)
{
    int64_t A = g->w, B = g->h, N = g->n;
    const ATTN_REAL *fy = fb + N * A;
    attn_w_fx(g, w, fb, tmp);
    for (int64_t b = 0; b < B; b++) {
        ATTN_REAL *o = out + b * A;
        for (int64_t j = 0; j < N; j++) {
            const ATTN_REAL c = (ATTN_REAL)(s * fy[j * B + b]), *t = tmp + j * A;
            for (int64_t a = 0; a < A; a++)
                o[a] += c * t[a];
        }
    }
}

#endif

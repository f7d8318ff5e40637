/* Gradient checks: every op of the tape, and the whole objectives over the
 * VAE family's pass, against central finite differences, all in double
 * precision (tape.c, tmatmul.c, ops_tape.c and objective.c are compiled here
 * with -DTR_DOUBLE: the same backward formulas the float library runs). */
#include "tap.h"

#include "model.h"
#include "rng.h"
#include "wgan_gp_golden.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAXP 4096

#define ok tap_okf

/* A function of the parameter vector th[n]: records its graph and returns the
 * output node (gradients accumulate into g). */
typedef tr_node *(*build_fn)(tr_tape *t, double *th, double *g, void *ctx);

static double weighted(const tr_node *o, const double *c)
{
    double s = 0.0;
    for (int64_t i = 0; i < o->rows * o->cols; i++)
        s += c[i] * o->v[i];
    return s;
}

/* Max over parameters of |analytic - numeric| / max(1, |numeric|) for the loss
 * sum_i c_i out_i, c fixed pseudo-random. */
static double last_grad[MAXP]; /* check()'s analytic gradient, for callers that inspect it */

/* check() over parameters [lo, n) only (the others still get their
 * analytic gradient in last_grad). */
static double check_from(build_fn f, double *th, int lo, int n, void *ctx);

static double check(build_fn f, double *th, int n, void *ctx)
{
    return check_from(f, th, 0, n, ctx);
}

static double check_from(build_fn f, double *th, int lo, int n, void *ctx)
{
    static double dummy[MAXP], c[1 << 16];
    double *g = last_grad;
    tr_tape *t = trd_tape_new();
    memset(g, 0, sizeof last_grad);
    tr_node *o = f(t, th, g, ctx);
    int64_t m = o->rows * o->cols;
    varia_rng r;
    varia_rng_init(&r, 7, 1, 0, 0);
    for (int64_t i = 0; i < m; i++)
        c[i] = 2.0 * varia_rng_uniform(&r) - 1.0;
    trd_seed(t, o, c);
    trd_backward(t);
    double worst = 0.0;
    for (int i = lo; i < n; i++) {
        double keep = th[i], h = 1e-6 * (fabs(keep) > 1.0 ? fabs(keep) : 1.0);
        th[i] = keep + h;
        trd_reset(t);
        double up = weighted(f(t, th, dummy, ctx), c);
        th[i] = keep - h;
        trd_reset(t);
        double down = weighted(f(t, th, dummy, ctx), c);
        th[i] = keep;
        double num = (up - down) / (2.0 * h), err = fabs(g[i] - num) / (fabs(num) > 1.0 ? fabs(num) : 1.0);
        if (err > worst)
            worst = err;
    }
    trd_tape_free(t);
    return worst;
}

static void fill(double *th, int n, uint64_t seed, double scale)
{
    varia_rng r;
    varia_rng_init(&r, seed, 2, 0, 0);
    for (int i = 0; i < n; i++)
        th[i] = scale * (2.0 * varia_rng_uniform(&r) - 1.0);
}

/* ---- single ops ---- */

enum { R = 3, C = 4, O = 5 };

static tr_node *op_linear(tr_tape *t, double *th, double *g, void *ctx)
{
    static tr_lin l;
    l = (tr_lin){C, O, th + R * C, th + R * C + O * C, g + R * C, g + R * C + O * C, NULL, NULL};
    return trd_linear(t, trd_param(t, R, C, th, g), &l, *(varia_act *)ctx);
}

static tr_node *op_reparam(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    static double eps[2 * R * C];
    fill(eps, 2 * R * C, 9, 2.0);
    return trd_reparam(t, trd_param(t, R, C, th, g), trd_param(t, R, C, th + R * C, g + R * C), eps, 2, 0.8f);
}

/* The ops the op interface added: log q by the noise (k = 2), scale, cols. */
static tr_node *op_more(tr_tape *t, double *th, double *g, void *ctx)
{
    static double eps[2 * R * C];
    fill(eps, 2 * R * C, 12, 2.0);
    tr_node *a = trd_param(t, R, C, th, g);
    switch (*(int *)ctx) {
    case 0: return trd_logq_eps(t, a, eps, 2);
    case 1: return trd_scale(t, a, -2.5);
    default: return trd_cols(t, a, 1, 2);
    }
}

/* z [R*2 rows] against mu [R] (kmu 2), lv broadcast per *ctx: 0 full, 1 one
 * row, 2 one value. */
static tr_node *op_gauss(tr_tape *t, double *th, double *g, void *ctx)
{
    int mode = *(int *)ctx;
    int64_t lr = mode == 0 ? R : 1, lc = mode == 2 ? 1 : C;
    tr_node *z = trd_param(t, 2 * R, C, th, g);
    tr_node *mu = trd_param(t, R, C, th + 2 * R * C, g + 2 * R * C);
    tr_node *lv = trd_param(t, lr, lc, th + 3 * R * C, g + 3 * R * C);
    return trd_gauss_logp(t, z, 1, mu, 2, lv);
}

static tr_node *op_gauss_kz(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx; /* data rows repeated: z [R] for 2R rows of mu */
    tr_node *z = trd_param(t, R, C, th, g);
    tr_node *mu = trd_param(t, 2 * R, C, th + R * C, g + R * C);
    tr_node *lv = trd_param(t, 1, 1, th + 3 * R * C, g + 3 * R * C);
    return trd_gauss_logp(t, z, 2, mu, 1, lv);
}

static tr_node *op_misc(tr_tape *t, double *th, double *g, void *ctx)
{
    int which = *(int *)ctx;
    static double x[R * C];
    fill(x, R * C, 11, 1.0);
    for (int i = 0; i < R * C; i++)
        x[i] = x[i] > 0 ? 1.0 : (which == 9 ? 0.3 : 0.0);
    tr_node *a = trd_param(t, 2 * R, C, th, g);
    tr_node *b = trd_param(t, 2 * R, C, th + 2 * R * C, g + 2 * R * C);
    switch (which) {
    case 0: return trd_std_normal_logp(t, a);
    case 1: return trd_bernoulli_logp(t, a, x, 2);
    case 2: return trd_gauss_kl(t, a, b);
    case 3: return trd_row_sum(t, a);
    case 4: {
        tr_node *l[2] = {a, b};
        const double c[2] = {0.7, -1.3};
        return trd_combine(t, l, c, 2);
    }
    case 5: return trd_lse_groups(t, trd_row_sum(t, a), 3);
    case 6: return trd_mean_groups(t, trd_row_sum(t, a), 2);
    default: return trd_bernoulli_logp(t, a, x, 2);
    }
}

static void single_ops(void)
{
    static double th[MAXP];
    static const char *const act_names[] = {"identity", "tanh", "relu", "leaky_relu", "elu", "softplus", "sigmoid"};
    for (int a = 0; a <= VARIA_ACT_SIGMOID; a++) {
        varia_act act = {(varia_act_kind)a, a == VARIA_ACT_LEAKY_RELU ? 0.1f : 1.0f};
        fill(th, R * C + O * C + O, 3 + a, 1.0);
        double e = check(op_linear, th, R * C + O * C + O, &act);
        ok(e < 1e-6, "linear + %s: x, W, b gradients match finite differences (%.1e)", act_names[a], e);
    }
    fill(th, 2 * R * C, 4, 1.0);
    double e = check(op_reparam, th, 2 * R * C, NULL);
    ok(e < 1e-6, "reparam (k = 2, temperature 0.8): mu and log-variance gradients (%.1e)", e);
    static const char *const more[] = {"log q by the noise (k = 2)", "scale", "column view"};
    for (int w = 0; w < 3; w++) {
        fill(th, R * C, 50 + w, 1.0);
        e = check(op_more, th, R * C, &w);
        ok(e < 1e-6, "%s (%.1e)", more[w], e);
    }
    for (int mode = 0; mode < 3; mode++) {
        fill(th, 4 * R * C, 5 + mode, 1.0);
        e = check(op_gauss, th, 4 * R * C, &mode);
        ok(e < 1e-6, "gaussian log-density (kmu = 2, log-variance %s): z, mu, lv (%.1e)",
           mode == 0 ? "per row" : mode == 1 ? "one row" : "one value", e);
    }
    fill(th, 3 * R * C + 1, 8, 1.0);
    e = check(op_gauss_kz, th, 3 * R * C + 1, NULL);
    ok(e < 1e-6, "gaussian log-density with repeated data rows (kz = 2) (%.1e)", e);
    static const char *const names[] = {"standard normal log-density", "bernoulli log-likelihood (kx = 2)",
                                        "analytic gaussian KL", "row sum", "weighted combination",
                                        "log-sum-exp over groups (the IWAE weights)", "mean over groups"};
    for (int w = 0; w < 7; w++) {
        fill(th, 4 * R * C, 20 + w, 2.0);
        e = check(op_misc, th, 4 * R * C, &w);
        ok(e < 1e-6, "%s (%.1e)", names[w], e);
    }
    int w = 9;
    fill(th, 4 * R * C, 31, 2.0);
    e = check(op_misc, th, 4 * R * C, &w);
    ok(e < 1e-6, "bernoulli log-likelihood with fractional x (%.1e)", e);
}

/* ---- convolutions ---- */

/* A conv case: geometry (resolved in conv_cases) and activation; x [2, cin h w],
 * then the weight and the bias are the parameters, in that order. */
typedef struct convcase {
    varia_conv g;
    varia_act act;
} convcase;

static int64_t conv_weights(const varia_conv *g)
{
    return g->cin * g->cout * g->kh * g->kw;
}

static tr_node *op_conv(tr_tape *t, double *th, double *g, void *ctx)
{
    const convcase *c = ctx;
    static tr_lin l;
    int64_t nx = 2 * c->g.cin * c->g.h * c->g.w, nw = conv_weights(&c->g), kk = c->g.kh * c->g.kw;
    /* conv: [cout, cin kk]; transposed: [cin, cout kk] as stored */
    int64_t in = c->g.transposed ? c->g.cout * kk : c->g.cin * kk, out = c->g.transposed ? c->g.cin : c->g.cout;
    l = (tr_lin){in, out, th + nx, th + nx + nw, g + nx, g + nx + nw, NULL, NULL};
    tr_node *x = trd_param(t, 2, c->g.cin * c->g.h * c->g.w, th, g);
    return c->g.transposed ? trd_conv_transpose2d(t, x, &l, &c->g, c->act) : trd_conv2d(t, x, &l, &c->g, c->act);
}

static void conv_ops(void)
{
    static double th[MAXP];
    const varia_act tanh_a = {VARIA_ACT_TANH, 0}, id = {VARIA_ACT_IDENTITY, 0}, elu = {VARIA_ACT_ELU, 1.0f};
    struct { const char *what; convcase c; } cases[] = {
        {"conv2d 2x5x4 -> 3, kernel 3x2, stride (2, 1), padding (1, 0), tanh",
         {{0, 2, 5, 4, 3, 0, 0, 3, 2, 2, 1, 1, 0, 0, 0}, tanh_a}},
        {"conv2d 1x7x7 -> 2, kernel 5, stride 2, padding 2, identity",
         {{0, 1, 7, 7, 2, 0, 0, 5, 5, 2, 2, 2, 2, 0, 0}, id}},
        {"conv2d 3x3x3 -> 2, kernel 1, stride 1, elu", {{0, 3, 3, 3, 2, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}, elu}},
        {"conv_transpose2d 3x3x2 -> 2, kernel 3x2, stride 2, padding 1, output padding (1, 0), tanh",
         {{1, 3, 3, 2, 2, 0, 0, 3, 2, 2, 2, 1, 1, 1, 0}, tanh_a}},
        {"conv_transpose2d 2x2x2 -> 1, kernel 5, stride 2, padding 2, output padding 1, identity",
         {{1, 2, 2, 2, 1, 0, 0, 5, 5, 2, 2, 2, 2, 1, 1}, id}},
        {"conv_transpose2d 2x3x3 -> 3, kernel 2, stride 1, elu", {{1, 2, 3, 3, 3, 0, 0, 2, 2, 1, 1, 0, 0, 0, 0}, elu}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        convcase *c = &cases[i].c;
        const char *why = "";
        int good = varia_conv_resolve(&c->g, &why);
        int n = (int)(2 * c->g.cin * c->g.h * c->g.w + conv_weights(&c->g) + c->g.cout);
        fill(th, n, 60 + i, 1.0);
        double e = good && n <= MAXP ? check(op_conv, th, n, c) : 1.0;
        ok(e < 1e-6, "%s: x, W, b gradients match finite differences (%.1e) %s", cases[i].what, e, why);
    }
}

/* ---- a critic's input gradient as a forward graph (WGAN-GP) ---- */

/* linear_t: g [R, O], then W [O, C] (the layer's bias plays no part). */
static tr_node *op_linear_t(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    static tr_lin l;
    static double b[O], gb[O];
    l = (tr_lin){C, O, th + R * O, b, g + R * O, gb, NULL, NULL};
    return trd_linear_t(t, trd_param(t, R, O, th, g), &l);
}

/* conv2d_t of geometry *ctx: g [2, cout oh ow], then W [cout, cin kk]. */
static tr_node *op_conv_t(tr_tape *t, double *th, double *g, void *ctx)
{
    const varia_conv *c = ctx;
    static tr_lin l;
    static double b[16], gb[16];
    int64_t ng = 2 * c->cout * c->oh * c->ow;
    l = (tr_lin){c->cin * c->kh * c->kw, c->cout, th + ng, b, g + ng, gb, NULL, NULL};
    return trd_conv2d_t(t, trd_param(t, 2, c->cout * c->oh * c->ow, th, g), &l, c);
}

/* act_mask of g [R, C] by the outputs y [R, C] that follow it in th (some
 * negative, some exactly 0), activation *ctx; and norm_penalty of g (ctx
 * NULL). */
static tr_node *op_mask_pen(tr_tape *t, double *th, double *g, void *ctx)
{
    tr_node *x = trd_param(t, R, C, th, g);
    if (!ctx)
        return trd_norm_penalty(t, x);
    return trd_act_mask(t, x, trd_param(t, R, C, th + R * C, g + R * C), *(varia_act *)ctx);
}

/* <conv(x), g> = <x, conv2d_t(g)> for the conv of geometry c with a zero
 * bias: conv2d_t is the adjoint (PyTorch's conv_transpose2d by the same
 * weight). Returns the relative gap. */
static double adjoint_gap(const varia_conv *c, double *th)
{
    tr_tape *t = trd_tape_new();
    int64_t nx = 2 * c->cin * c->h * c->w, ng = 2 * c->cout * c->oh * c->ow;
    static double b[16], gb[16], gw[4096];
    tr_lin l = {c->cin * c->kh * c->kw, c->cout, th + nx + ng, b, gw, gb, NULL, NULL};
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    tr_node *y = trd_conv2d(t, trd_input(t, 2, nx / 2, th), &l, c, id);
    tr_node *z = trd_conv2d_t(t, trd_input(t, 2, ng / 2, th + nx), &l, c);
    double a = 0.0, bb = 0.0, scale = 0.0;
    for (int64_t i = 0; i < ng; i++)
        a += y->v[i] * th[nx + i], scale += fabs(y->v[i] * th[nx + i]);
    for (int64_t i = 0; i < nx; i++)
        bb += th[i] * z->v[i];
    trd_tape_free(t);
    return fabs(a - bb) / fmax(scale, 1e-300);
}

static void gp_ops(void)
{
    static double th[MAXP];
    fill(th, R * O + O * C, 70, 1.0);
    ok(check(op_linear_t, th, R * O + O * C, NULL) < 1e-6, "linear_t g W: g and W gradients match finite differences");
    varia_conv cs[] = {{0, 2, 6, 5, 3, 0, 0, 3, 3, 2, 2, 1, 1, 0, 0}, {0, 1, 7, 7, 2, 0, 0, 5, 5, 2, 2, 2, 2, 0, 0},
                       {0, 2, 5, 4, 3, 0, 0, 3, 2, 2, 1, 1, 0, 0, 0}};
    for (int i = 0; i < 3; i++) {
        const char *why = "";
        varia_conv *c = &cs[i];
        int good = varia_conv_resolve(c, &why);
        int64_t n = 2 * c->cout * c->oh * c->ow + c->cout * c->cin * c->kh * c->kw;
        fill(th, (int)(n + 2 * c->cin * c->h * c->w), 71 + (uint64_t)i, 1.0);
        double e = good && n <= MAXP ? check(op_conv_t, th, (int)n, c) : 1.0;
        /* the adjoint identity reads x after g and W: shift them */
        memmove(th + 2 * c->cin * c->h * c->w, th, (size_t)n * sizeof *th);
        fill(th, (int)(2 * c->cin * c->h * c->w), 75 + (uint64_t)i, 1.0);
        double a = good ? adjoint_gap(c, th) : 1.0;
        ok(e < 1e-6 && a < 1e-12, "conv2d_t, the adjoint of conv %lldx%lldx%lld -> %lld (kernel %lldx%lld, stride "
           "%lld, padding %lld): g and W gradients match finite differences (%.1e); <conv x, g> = <x, conv2d_t g> "
           "(%.1e)",
           (long long)c->cin, (long long)c->h, (long long)c->w, (long long)c->cout, (long long)c->kh,
           (long long)c->kw, (long long)c->sh, (long long)c->ph, e, a);
    }
    static const varia_act acts[] = {{VARIA_ACT_LEAKY_RELU, 0.2f}, {VARIA_ACT_RELU, 0.0f}, {VARIA_ACT_IDENTITY, 0.0f}};
    for (int i = 0; i < 3; i++) {
        fill(th, 2 * R * C, 80 + (uint64_t)i, 1.0);
        th[R * C + 2] = th[R * C + 7] = 0.0;
        for (int j = R * C; j < 2 * R * C; j++) /* outputs of the activation: relu's are >= 0 */
            th[j] = acts[i].kind == VARIA_ACT_RELU ? fmax(th[j], 0.0) : th[j];
        double e = check_from(op_mask_pen, th, 0, R * C, (void *)&acts[i]);
        int none = 1;
        for (int j = R * C; j < 2 * R * C; j++)
            none = none && last_grad[j] == 0.0;
        ok(e < 1e-9 && none, "act_mask (%s): the gradient of g matches finite differences (%.1e); y gets none",
           i == 0 ? "leaky relu 0.2" : i == 1 ? "relu" : "identity", e);
    }
    fill(th, R * C, 83, 1.0);
    ok(check(op_mask_pen, th, R * C, NULL) < 1e-7, "norm_penalty (|g| - 1)^2: gradient matches finite differences");
}

/* ---- batch norm with batch statistics ---- */

/* A batch-norm case: x [rows, C*HW], then gamma [C] and beta [C]. */
typedef struct bncase {
    int64_t rows, C, HW;
    varia_act act;
    double stats[3 * 4];
} bncase;

static tr_node *op_bn(tr_tape *t, double *th, double *g, void *ctx)
{
    bncase *c = ctx;
    int64_t nx = c->rows * c->C * c->HW;
    tr_lin bn = {c->C, c->C, th + nx, th + nx + c->C, g + nx, g + nx + c->C, NULL, NULL};
    tr_node *x = trd_param(t, c->rows, c->C * c->HW, th, g);
    return trd_batch_norm(t, x, &bn, 1e-5, c->act, c->stats);
}

/* Each case's gradients against finite differences (the mean and variance
 * move with every x of the channel, which the rule must carry), and its
 * statistics against a direct computation. */
static void bn_ops(void)
{
    static double th[MAXP];
    const varia_act id = {VARIA_ACT_IDENTITY, 0}, tanh_a = {VARIA_ACT_TANH, 0}, elu = {VARIA_ACT_ELU, 1.0f};
    struct { const char *what; bncase c; } cases[] = {
        {"batch norm, 3 rows of 2 channels x 5 pixels, identity", {3, 2, 5, id, {0}}},
        {"batch norm, 4 rows of 3 channels x 2 pixels, tanh", {4, 3, 2, tanh_a, {0}}},
        {"batch norm over features (a dense layer's), 5 rows of 4, elu", {5, 4, 1, elu, {0}}},
        {"batch norm, 2 rows of 1 channel x 3 pixels, identity", {2, 1, 3, id, {0}}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bncase *c = &cases[i].c;
        int64_t nx = c->rows * c->C * c->HW;
        int n = (int)(nx + 2 * c->C);
        fill(th, n, 70 + i, 1.5);
        for (int64_t j = 0; j < nx; j++) /* values off centre, as a layer's output is */
            th[j] += 0.5 * (double)(j % 3);
        double e = check(op_bn, th, n, c), worst = 0.0;
        for (int64_t ch = 0; ch < c->C; ch++) {
            double m = 0.0, ss = 0.0, cnt = (double)(c->rows * c->HW);
            for (int64_t r = 0; r < c->rows; r++)
                for (int64_t p = 0; p < c->HW; p++)
                    m += th[r * c->C * c->HW + ch * c->HW + p] / cnt;
            for (int64_t r = 0; r < c->rows; r++)
                for (int64_t p = 0; p < c->HW; p++)
                    ss += pow(th[r * c->C * c->HW + ch * c->HW + p] - m, 2.0);
            worst = fmax(worst, fabs(c->stats[3 * ch] - cnt) + fabs(c->stats[3 * ch + 1] - m) +
                                    fabs(c->stats[3 * ch + 2] - ss));
        }
        ok(e < 1e-6 && worst < 1e-12, "%s: x, gamma, beta gradients match finite differences (%.1e); the "
           "reported count, mean and squared deviations match (%.1e)", cases[i].what, e, worst);
    }
}

/* ---- the flow ops (docs/format.md 2.3) and the two ops the IAF's MADE
 * needs (add, matmul), each on its own ---- */

enum { FD = 4, FK = 2, FG = 3 }; /* latent size, rows of z per parameter row, parameter rows */

/* add: a [FG*FK, FD] + b, b per group of FK rows (*ctx 0) or one row (*ctx 1), through softplus. */
static tr_node *op_add(tr_tape *t, double *th, double *g, void *ctx)
{
    int one = *(int *)ctx;
    varia_act act = {VARIA_ACT_SOFTPLUS, 1.0f};
    tr_node *a = trd_param(t, FG * FK, FD, th, g);
    tr_node *b = trd_param(t, one ? 1 : FG, FD, th + FG * FK * FD, g + FG * FK * FD);
    return trd_add(t, a, b, one ? 1 : FK, act);
}

/* matmul: x [R, C] times W [O, C]^T. */
static tr_node *op_matmul(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    return trd_matmul(t, trd_param(t, R, C, th, g), trd_param(t, O, C, th + R * C, g + R * C));
}

/* concat: a [R, C] beside b [R, O]. */
static tr_node *op_concat(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    return trd_concat(t, trd_param(t, R, C, th, g), trd_param(t, R, O, th + R * C, g + R * C));
}

/* act: x [R, C] through the activation *ctx. */
static tr_node *op_act(tr_tape *t, double *th, double *g, void *ctx)
{
    return trd_act(t, trd_param(t, R, C, th, g), *(const varia_act *)ctx);
}

/* normal_to_uniform: x [R, C]. */
static tr_node *op_n2u(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    return trd_normal_to_uniform(t, trd_param(t, R, C, th, g));
}

/* planar_uhat: u, w [FG, FD]. */
static tr_node *op_uhat(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    return trd_planar_uhat(t, trd_param(t, FG, FD, th, g), trd_param(t, FG, FD, th + FG * FD, g + FG * FD));
}

/* The step parameters of planar or radial: *ctx bit 0 chooses one shared row
 * (else one row per FK rows of z), bit 1 the log|det| (else f(z)), bit 2
 * radial (else planar). th = z [FG*FK, FD], then p0 [n, FD], p1 [n, FD or 1],
 * p2 [n, 1]. */
static tr_node *op_step(tr_tape *t, double *th, double *g, void *ctx)
{
    int mode = *(int *)ctx, one = mode & 1, logdet = mode & 2, radial = mode & 4;
    int64_t n = one ? 1 : FG, c1 = radial ? 1 : FD, o = FG * FK * FD;
    tr_node *z = trd_param(t, FG * FK, FD, th, g);
    tr_node *p0 = trd_param(t, n, FD, th + o, g + o);
    tr_node *p1 = trd_param(t, n, c1, th + o + n * FD, g + o + n * FD);
    tr_node *p2 = trd_param(t, n, 1, th + o + n * FD + n * c1, g + o + n * FD + n * c1);
    if (radial)
        return logdet ? trd_radial_logdet(t, z, p0, p1, p2, FK) : trd_radial(t, z, p0, p1, p2, FK);
    return logdet ? trd_planar_logdet(t, z, p0, p1, p2, FK) : trd_planar(t, z, p0, p1, p2, FK);
}

/* iaf (z, m, s [R, C]; *ctx 0) or iaf_logdet (s; *ctx 1). */
static tr_node *op_iaf(tr_tape *t, double *th, double *g, void *ctx)
{
    tr_node *s = trd_param(t, R, C, th + 2 * R * C, g + 2 * R * C);
    if (*(int *)ctx)
        return trd_iaf_logdet(t, s);
    return trd_iaf(t, trd_param(t, R, C, th, g), trd_param(t, R, C, th + R * C, g + R * C), s);
}

static void flow_ops(void)
{
    static double th[MAXP];
    double e;
    for (int one = 0; one < 2; one++) {
        int n = FG * FK * FD + (one ? 1 : FG) * FD;
        fill(th, n, 60 + one, 1.5); /* pre-activations out to |3|: softplus's curvature matters */
        e = check(op_add, th, n, &one);
        ok(e < 1e-6, "add + softplus, b %s: a and b gradients (%.1e)", one ? "one broadcast row" : "per group (kb = 2)", e);
    }
    fill(th, R * C + O * C, 62, 1.0);
    e = check(op_matmul, th, R * C + O * C, NULL);
    ok(e < 1e-6, "matmul: x and W gradients (%.1e)", e);
    fill(th, R * C + R * O, 64, 1.0);
    e = check(op_concat, th, R * C + R * O, NULL);
    ok(e < 1e-6, "concat: both inputs' gradients (%.1e)", e);
    fill(th, R * C, 69, 2.5);
    e = check(op_n2u, th, R * C, NULL);
    ok(e < 1e-6, "normal_to_uniform: x gradient (%.1e)", e);
    static const varia_act acts[] = {{VARIA_ACT_SIGMOID, 1.0f}, {VARIA_ACT_TANH, 1.0f}, {VARIA_ACT_SOFTPLUS, 1.0f},
                                     {VARIA_ACT_ELU, 0.7f}};
    for (int a = 0; a < 4; a++) {
        fill(th, R * C, 65 + a, 2.0);
        e = check(op_act, th, R * C, (void *)&acts[a]);
        ok(e < 1e-6, "act %d: x gradient (%.1e)", (int)acts[a].kind, e);
    }
    /* w.u of each row: strongly negative (u = -8 w + noise), near zero, positive:
     * at w.u << 0 the correction m(w.u) - w.u is what keeps uhat.w >= -1. */
    fill(th, 2 * FG * FD, 63, 1.0);
    double *u = th, *w = th + FG * FD, wu0 = 0.0;
    for (int j = 0; j < FD; j++) {
        u[j] = -8.0 * w[j] + 0.1 * u[j];
        u[2 * FD + j] = 2.0 * w[2 * FD + j];
        wu0 += u[j] * w[j];
    }
    e = check(op_uhat, th, 2 * FG * FD, NULL);
    ok(e < 1e-6 && wu0 < -1.0, "planar_uhat, w.u from %.1f to positive: u and w gradients (%.1e)", wu0, e);
    static const char *const what[] = {"planar", "planar", "planar_logdet", "planar_logdet",
                                       "radial", "radial", "radial_logdet", "radial_logdet"};
    for (int mode = 0; mode < 8; mode++) {
        int one = mode & 1, radial = mode & 4, np = one ? 1 : FG;
        int n = FG * FK * FD + np * FD + np * (radial ? 1 : FD) + np;
        /* planar: |uhat|, |w| < 0.45 so 1 + h' uhat.w stays > 0.19 (log|.| smooth);
         * radial: z0 near z, and beta of both signs over the rows */
        fill(th, n, 70 + mode, radial ? 1.0 : 0.45);
        if (radial) {
            double *ah = th + FG * FK * FD + np * FD, *bh = ah + np;
            for (int i = 0; i < np; i++) {
                ah[i] = 0.3;
                bh[i] = i % 2 ? -1.2 : 1.5; /* beta = softplus(bh) - softplus(ah): + on even rows, - on odd */
            }
        }
        e = check(op_step, th, n, &mode);
        ok(e < 1e-6, "%s, parameters %s: z and every parameter (%.1e)", what[mode],
           one ? "one row shared by all 6 rows" : "one row per 2 rows of z",
           e);
    }
    for (int which = 0; which < 2; which++) {
        int n = 3 * R * C;
        fill(th, n, 80 + which, 3.0);
        e = check(op_iaf, th, n, &which);
        ok(e < 1e-6, "%s: %s (%.1e)", which ? "iaf_logdet" : "iaf", which ? "s gradient" : "z, m and s gradients", e);
    }
}

/* ---- the sequence ops (tape_seq.c) ---- */

/* *ctx 0: row_mask of x [2R, C] by lengths {3, 1, 2} at step 1 (k = 2: rows
 * 0-1 kept, 2-3 zeroed, 4-5 kept); 1: softplus_logvar, floor 0.01; 2:
 * gauss_kl_to with all four inputs parameters. */
static tr_node *op_seq(tr_tape *t, double *th, double *g, void *ctx)
{
    static const int64_t lengths[R] = {3, 1, 2};
    int which = *(int *)ctx, n = 2 * R * C;
    tr_node *a = trd_param(t, 2 * R, C, th, g);
    if (which == 0)
        return trd_row_mask(t, a, lengths, 2, 1);
    if (which == 1)
        return trd_softplus_logvar(t, a, 0.01);
    if (which == 3) { /* gmm_logp: 3 components over C / 2 values, x row r / 2 (a constant) */
        static double x[R * C / 2];
        fill(x, R * C / 2, 96, 1.5);
        int64_t K = 3, d = C / 2;
        tr_node *w = trd_param(t, 2 * R, K, th, g), *mu = trd_param(t, 2 * R, K * d, th + 2 * R * K, g + 2 * R * K);
        tr_node *lv = trd_param(t, 2 * R, K * d, th + 2 * R * K * (1 + d), g + 2 * R * K * (1 + d));
        return trd_gmm_logp(t, trd_input(t, R, d, x), 2, w, mu, lv);
    }
    return trd_gauss_kl_to(t, a, trd_param(t, 2 * R, C, th + n, g + n), trd_param(t, 2 * R, C, th + 2 * n, g + 2 * n),
                           trd_param(t, 2 * R, C, th + 3 * n, g + 3 * n));
}

static void seq_ops(void)
{
    static double th[MAXP];
    static const char *const what[] = {"row_mask (k = 2, one group of rows past its length)",
                                       "softplus_logvar, floor 0.01, a from -4 to 4",
                                       "gauss_kl_to: both means and both log-variances",
                                       "gmm_logp, 3 components (x shared by 2 rows): weights, means, log-variances"};
    for (int which = 0; which < 4; which++) {
        int n = which == 3 ? 2 * R * 3 * (1 + C) : (which == 2 ? 4 : 1) * 2 * R * C;
        fill(th, n, 90 + which, which == 1 ? 4.0 : 1.5);
        double e = check(op_seq, th, n, &which);
        ok(e < 1e-6, "%s (%.1e)", what[which], e);
    }
    /* the masked rows get no gradient at all, whatever the output's weight */
    int which = 0;
    fill(th, 2 * R * C, 95, 1.0);
    check(op_seq, th, 2 * R * C, &which);
    int zero = 1, some = 0;
    for (int i = 0; i < 2 * R * C; i++) {
        int masked = i / C == 2 || i / C == 3;
        zero &= !masked || last_grad[i] == 0.0;
        some |= !masked && last_grad[i] != 0.0;
    }
    ok(zero && some, "row_mask: rows past their length get gradient 0 exactly, the others theirs");
}

/* ---- whole objectives ---- */

typedef struct netcase {
    tr_model md;
    tr_objective obj;
    int64_t B;
    float x[3 * 16], eps[3 * 4 * 16];
    tr_lin lins[64];
} netcase;

static tr_node *net_obj(tr_tape *t, double *th, double *g, void *ctx)
{
    netcase *nc = ctx;
    trd_bind(&nc->md.decl, nc->md.off, th, g, NULL, NULL, nc->lins);
    return trd_objective_record(t, &nc->md, nc->lins, th, g, nc->x, nc->B, nc->eps, &nc->obj).obj;
}

static void objective_case_full(const char *arch_json, varia_shape shape, int kind, int64_t k, double beta,
                                const char *what, int masked);
static void objective_case_fam(const char *family, const char *arch_json, varia_shape shape, int kind, int64_t k,
                               double beta, const char *what, int masked);

/* The gradient of arch_json's objective at seeded theta matches central
 * differences. With masked (an IAF's MADE), theta starts as the trainer keeps
 * it (masked entries 0, by tr_model_mask), and the gradient the trainer
 * applies (tr_model_mask'd) is 0 exactly on the masked entries and unchanged
 * elsewhere. */
static void objective_case_m(const char *arch_json, int kind, int64_t k, double beta, const char *what, int masked)
{
    objective_case_full(arch_json, (varia_shape){1, {6}}, kind, k, beta, what, masked);
}

/* objective_case_m for data of `shape` (at most 16 values). */
static void objective_case_full(const char *arch_json, varia_shape shape, int kind, int64_t k, double beta,
                                const char *what, int masked)
{
    objective_case_fam("vae", arch_json, shape, kind, k, beta, what, masked);
}

/* objective_case_full for a model of `family`. */
/* A sequence family's call for objective_case_fam: T steps (0: none), lengths[3]. */
static int64_t case_T;
static const int64_t *case_lengths;

static void objective_case_fam(const char *family, const char *arch_json, varia_shape shape, int kind, int64_t k,
                               double beta, const char *what, int masked)
{
    static double th[MAXP], tmp[3 * 4 * 16];
    static netcase nc;
    memset(&nc, 0, sizeof nc);
    int64_t T = case_T ? case_T : 1;
    cJSON *arch = cJSON_Parse(arch_json);
    varia_ctx *ctx = varia_ctx_new();
    varia_status st = tr_model_build(ctx, family, arch, &shape, &nc.md);
    ok(st == VARIA_OK && nc.md.P < MAXP && nc.md.decl.n_lin <= 64, "%s: architecture parses (%s)", what,
       varia_ctx_message(ctx));
    nc.obj = (tr_objective){.kind = kind, .k = k, .beta = beta, .seq_len = case_T, .lengths = case_lengths};
    nc.B = 3;
    ok(3 * nc.md.D * T <= 3 * 16 && 3 * k * nc.md.noise * T <= 3 * 4 * 16, "%s: the case fits the buffers", what);
    fill(tmp, (int)(3 * nc.md.D * T), 40, 1.0);
    for (int i = 0; i < 3 * nc.md.D * T; i++)
        nc.x[i] = tmp[i] > 0 ? 1.0f : 0.0f;
    fill(tmp, (int)(nc.B * k * nc.md.noise * T), 41, 1.7);
    for (int i = 0; i < nc.B * k * nc.md.noise * T; i++)
        nc.eps[i] = (float)tmp[i];
    fill(th, (int)nc.md.P, 42, 0.6);
    static float fv[MAXP];
    if (masked && st == VARIA_OK) {
        for (int64_t i = 0; i < nc.md.P; i++)
            fv[i] = (float)th[i];
        tr_model_mask(&nc.md, fv);
        for (int64_t i = 0; i < nc.md.P; i++)
            th[i] = fv[i];
    }
    double e = st == VARIA_OK ? check(net_obj, th, (int)nc.md.P, &nc) : 1.0;
    ok(e < 1e-5, "%s: gradient of every parameter matches finite differences (%.1e)", what, e);
    if (masked && st == VARIA_OK) {
        /* which entries are masked: those a float 1 turns into 0 */
        static float ones[MAXP];
        for (int64_t i = 0; i < nc.md.P; i++) {
            ones[i] = 1.0f;
            fv[i] = (float)last_grad[i];
        }
        tr_model_mask(&nc.md, ones);
        tr_model_mask(&nc.md, fv);
        int64_t n_masked = 0, raw_nonzero = 0, bad = 0;
        for (int64_t i = 0; i < nc.md.P; i++) {
            if (ones[i] == 0.0f) {
                n_masked++;
                raw_nonzero += last_grad[i] != 0.0; /* the tape does not mask: the raw gradient flows */
                bad += fv[i] != 0.0f;
            } else {
                bad += fv[i] != (float)last_grad[i];
            }
        }
        ok(n_masked > 0 && raw_nonzero > 0 && bad == 0,
           "%s: %lld masked entries (%lld with a raw gradient) get gradient 0 after tr_model_mask, the rest unchanged",
           what, (long long)n_masked, (long long)raw_nonzero);
    }
    tr_model_free(&nc.md);
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
}

static void objective_case(const char *arch_json, int kind, int64_t k, double beta, const char *what)
{
    objective_case_m(arch_json, kind, k, beta, what, 0);
}

/* The VRNN and its ablations: BPTT through 4 steps of 2-value frames, the
 * three examples 4, 2 and 1 steps long (their padding random and nonzero),
 * the analytic ELBO (KL per step against the learned prior) and IWAE. */
static void vrnn_objectives(void)
{
    static const int64_t lengths[3] = {4, 2, 1};
    static const struct { const char *arch, *what; int kind; int64_t k; } cases[] = {
        {"{\"cell\": \"gru\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [3],"
         " \"encoder\": [3], \"decoder\": [3], \"activation\": \"tanh\", \"std_floor\": 0.01,"
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN, GRU, analytic ELBO", TR_OBJ_ELBO_ANALYTIC, 2},
        {"{\"cell\": \"lstm\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [],"
         " \"encoder\": [3], \"decoder\": [3], \"activation\": \"elu\","
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN, LSTM, IWAE k = 3", TR_OBJ_IWAE, 3},
        {"{\"cell\": \"lstm\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [],"
         " \"encoder\": [3], \"decoder\": [3], \"activation\": \"tanh\","
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN, LSTM, analytic ELBO", TR_OBJ_ELBO_ANALYTIC, 1},
        {"{\"variant\": \"vrnn_i\", \"cell\": \"gru\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3],"
         " \"phi_z\": [2], \"encoder\": [], \"decoder\": [3], \"activation\": \"tanh\","
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN-I, GRU, IWAE k = 2", TR_OBJ_IWAE, 2},
        {"{\"cell\": \"gru\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [2],"
         " \"encoder\": [3], \"decoder\": [3], \"activation\": \"tanh\", \"std_floor\": 0.05,"
         " \"likelihood\": {\"type\": \"gaussian\"}}", "VRNN, GRU, Gaussian frames, IWAE k = 2", TR_OBJ_IWAE, 2},
        {"{\"cell\": \"lstm\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [],"
         " \"encoder\": [3], \"decoder\": [], \"activation\": \"tanh\", \"std_floor\": 0.05,"
         " \"likelihood\": {\"type\": \"gaussian_mixture\", \"components\": 3}}",
         "VRNN, LSTM, frames a mixture of 3 Gaussians, analytic ELBO", TR_OBJ_ELBO_ANALYTIC, 1},
        {"{\"variant\": \"rnn\", \"cell\": \"lstm\", \"hidden\": 3, \"phi_x\": [3], \"decoder\": [3],"
         " \"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"}}",
         "RNN (no latent), LSTM, exact log p(x)", TR_OBJ_ELBO_ANALYTIC, 1},
        {"{\"variant\": \"rnn\", \"cell\": \"gru\", \"hidden\": 3, \"phi_x\": [3, 2], \"decoder\": [],"
         " \"activation\": \"relu\", \"likelihood\": {\"type\": \"bernoulli\"}}",
         "RNN (no latent), GRU, IWAE k = 2 (equal to log p(x))", TR_OBJ_IWAE, 2},
    };
    case_T = 4;
    case_lengths = lengths;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s, lengths 4, 2, 1", cases[i].what);
        objective_case_fam("vrnn", cases[i].arch, (varia_shape){1, {2}}, cases[i].kind, cases[i].k, 1.0, what, 0);
    }
    case_T = 0;
    case_lengths = NULL;
}

/* Flow posteriors: each type, amortized and global, IAF with context and
 * masks, one and two stochastic layers, the Monte Carlo ELBO and IWAE. */
static void flow_objectives(void)
{
    const char *planar_am = "{\"activation\":\"tanh\",\"likelihood\":{\"type\":\"bernoulli\"},"
                            "\"flow\":{\"type\":\"planar\",\"steps\":3,\"params\":\"amortized\"},"
                            "\"layers\":[{\"latent\":2,\"encoder\":[4],\"decoder\":[3]}]}";
    const char *planar_gl2 = "{\"activation\":\"softplus\",\"likelihood\":{\"type\":\"bernoulli\"},"
                             "\"flow\":{\"type\":\"planar\",\"steps\":2,\"params\":\"global\"},"
                             "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[4]},"
                             "{\"latent\":2,\"encoder\":[3],\"decoder\":[3]}]}";
    const char *radial_gl = "{\"activation\":\"tanh\",\"likelihood\":{\"type\":\"bernoulli\"},"
                            "\"flow\":{\"type\":\"radial\",\"steps\":3,\"params\":\"global\"},"
                            "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[3]}]}";
    const char *radial_am2 = "{\"activation\":\"elu\",\"likelihood\":{\"type\":\"bernoulli\"},"
                             "\"flow\":{\"type\":\"radial\",\"steps\":2,\"params\":\"amortized\"},"
                             "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[4]},"
                             "{\"latent\":2,\"encoder\":[],\"decoder\":[3]}]}";
    const char *iaf_ctx = "{\"activation\":\"tanh\",\"likelihood\":{\"type\":\"bernoulli\"},"
                          "\"flow\":{\"type\":\"iaf\",\"steps\":2,\"hidden\":[5,4],\"context\":3,"
                          "\"ordering\":[2,0,1],\"activation\":\"elu\"},"
                          "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[3]}]}";
    const char *iaf_2 = "{\"activation\":\"softplus\",\"likelihood\":{\"type\":\"bernoulli\"},"
                        "\"flow\":{\"type\":\"iaf\",\"steps\":2,\"hidden\":[4],\"context\":2},"
                        "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[4]},"
                        "{\"latent\":3,\"encoder\":[3],\"decoder\":[3]}]}";
    const char *iaf_noctx = "{\"activation\":\"tanh\",\"likelihood\":{\"type\":\"gaussian\",\"variance\":\"learned\"},"
                            "\"flow\":{\"type\":\"iaf\",\"steps\":1,\"hidden\":[4]},"
                            "\"layers\":[{\"latent\":2,\"encoder\":[],\"decoder\":[4]}]}";
    objective_case(planar_am, TR_OBJ_ELBO_MC, 2, 1.0, "planar amortized K 3, ELBO (Monte Carlo KL), k = 2");
    objective_case(planar_am, TR_OBJ_IWAE, 3, 1.0, "planar amortized K 3, IWAE k = 3");
    objective_case(planar_gl2, TR_OBJ_IWAE, 2, 1.0, "planar global K 2 on two layers, IWAE k = 2");
    objective_case(radial_gl, TR_OBJ_ELBO_MC, 2, 0.5, "radial global K 3, ELBO beta 0.5, k = 2");
    objective_case(radial_gl, TR_OBJ_IWAE, 3, 1.0, "radial global K 3, IWAE k = 3");
    objective_case(radial_am2, TR_OBJ_ELBO_MC, 2, 1.0, "radial amortized K 2 on two layers (no top hidden), ELBO");
    objective_case_m(iaf_ctx, TR_OBJ_IWAE, 2, 1.0, "IAF K 2, MADE [5, 4], context 3, ordering [2, 0, 1], IWAE k = 2", 1);
    objective_case_m(iaf_ctx, TR_OBJ_ELBO_MC, 2, 1.0, "IAF K 2 with context, ELBO (Monte Carlo KL)", 1);
    objective_case_m(iaf_2, TR_OBJ_IWAE, 2, 1.0, "IAF K 2 with context on two layers, IWAE k = 2", 1);
    objective_case_m(iaf_noctx, TR_OBJ_ELBO_MC, 3, 1.0, "IAF K 1 without context, Gaussian learned variance, ELBO", 1);
}

/* ---- the adversarial objectives (objective "gan") ---- */

typedef struct gancase {
    tr_model md;
    int pass, loss;
    float x[3 * 6], eps[3 * 2], mix[3];
    double lambda;
    tr_lin lins[16];
} gancase;

static tr_node *gan_obj(tr_tape *t, double *th, double *g, void *ctx)
{
    gancase *gc = ctx;
    trd_bind(&gc->md.decl, gc->md.off, th, g, NULL, NULL, gc->lins);
    tr_gan gg = {gc->pass, gc->loss, NULL, gc->mix, gc->lambda, NULL};
    return trd_gan_record(t, &gc->md, gc->lins, th, g, gc->x, 3, gc->eps, &gg);
}

/* Each pass and loss: the generator's pass differentiates every parameter
 * (the discriminator's too: they shape its objective); the discriminator's
 * pass its own, and holds G(z) constant, so the generator's analytic
 * gradient is exactly 0 there (finite differences would see G move D's
 * objective: that is the point of the stop). A batch norm in each network. */
static void gan_objectives(void)
{
    static const char *arch_json =
        "{\"latent\": 2, \"leaky_relu_slope\": 0.2,"
        " \"generator\": [{\"type\": \"dense\", \"out\": 4}, {\"type\": \"batch_norm\", \"activation\": \"relu\"},"
        " {\"type\": \"dense\", \"out\": 6, \"activation\": \"sigmoid\"}],"
        " \"discriminator\": [{\"type\": \"dense\", \"out\": 3}, {\"type\": \"batch_norm\", \"activation\": \"tanh\"},"
        " {\"type\": \"dense\", \"out\": 1}]}";
    static double th[MAXP], tmp[32];
    static gancase gc;
    memset(&gc, 0, sizeof gc);
    cJSON *arch = cJSON_Parse(arch_json);
    varia_ctx *ctx = varia_ctx_new();
    varia_shape shape = {1, {6}};
    varia_status st = tr_model_build(ctx, "gan", arch, &shape, &gc.md);
    ok(st == VARIA_OK && gc.md.P < MAXP, "gan: architecture parses (%s)", varia_ctx_message(ctx));
    int d_lo = 0;
    while (st == VARIA_OK && d_lo < gc.md.decl.n_t && gc.md.decl.t[d_lo].group != VARIA_GROUP_INFERENCE)
        d_lo++;
    d_lo = st == VARIA_OK ? (int)gc.md.off[d_lo] : 0;
    fill(tmp, 18, 90, 1.0);
    for (int i = 0; i < 18; i++)
        gc.x[i] = (float)(0.5 + 0.5 * tmp[i]);
    fill(tmp, 6, 91, 1.7);
    for (int i = 0; i < 6; i++)
        gc.eps[i] = (float)tmp[i];
    static const char *const loss_name[] = {"non-saturating", "wasserstein"};
    for (int loss = 0; st == VARIA_OK && loss < 2; loss++)
        for (int pass = 0; pass < 2; pass++) {
            gc.pass = pass;
            gc.loss = loss;
            fill(th, (int)gc.md.P, 92 + loss, 0.8);
            for (int i = 0; i < gc.md.decl.n_lin; i++) /* running variances > 0 (unused: batch statistics) */
                if (gc.md.decl.lin[i].has_bn)
                    th[gc.md.off[gc.md.decl.lin[i].bn[3]]] = 1.0;
            double e = check_from(gan_obj, th, pass == TR_GAN_PASS_D ? d_lo : 0, (int)gc.md.P, &gc);
            int stopped = 1;
            for (int i = 0; pass == TR_GAN_PASS_D && i < d_lo; i++)
                stopped = stopped && last_grad[i] == 0.0;
            ok(e < 1e-5 && stopped && d_lo > 0, "gan, %s, %s pass: gradient of %s matches finite differences "
               "(%.1e)%s", loss_name[loss], pass == TR_GAN_PASS_D ? "discriminator's" : "generator's",
               pass == TR_GAN_PASS_D ? "the discriminator's parameters" : "every parameter", e,
               pass == TR_GAN_PASS_D ? "; the generator's is exactly 0" : "");
        }
    tr_model_free(&gc.md);
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
}

/* WGAN-GP (loss TR_GAN_WGAN_GP): the discriminator's whole objective,
 * D(x) - D(G(z)) - 10 (|grad D(x^)| - 1)^2, differentiated through the
 * critic's input gradient built as a forward graph, against finite
 * differences of every critic parameter (the penalty's parameter gradient is
 * the double backward the construction replaces); an MLP critic with leaky
 * relu and relu, and a conv one whose first layer's adjoint needs output
 * padding. The generator's gradient is exactly 0 in this pass. */
static void gp_objectives(void)
{
    static const char *const archs[][2] = {
        {"MLP critic (leaky relu, relu)",
         "{\"latent\": 2, \"leaky_relu_slope\": 0.2, \"generator\": [{\"type\": \"dense\", \"out\": 4, \"activation\":"
         " \"relu\"}, {\"type\": \"dense\", \"out\": 6, \"activation\": \"sigmoid\"}], \"discriminator\": [{\"type\":"
         " \"dense\", \"out\": 5, \"activation\": \"leaky_relu\"}, {\"type\": \"dense\", \"out\": 3, \"activation\":"
         " \"relu\"}, {\"type\": \"dense\", \"out\": 1}]}"},
        {"conv critic (1x3x2 data: conv 2, kernel 2, stride 2, padding 1, leaky relu; flatten; dense)",
         "{\"latent\": 2, \"leaky_relu_slope\": 0.2, \"generator\": [{\"type\": \"dense\", \"out\": 6}],"
         " \"discriminator\": [{\"type\": \"conv\", \"out\": 2, \"kernel\": 2, \"stride\": 2, \"padding\": 1,"
         " \"activation\": \"leaky_relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 1}]}"}};
    static double th[MAXP], tmp[32];
    static gancase gc;
    for (int a = 0; a < 2; a++) {
        memset(&gc, 0, sizeof gc);
        cJSON *arch = cJSON_Parse(archs[a][1]);
        varia_ctx *ctx = varia_ctx_new();
        varia_shape shape = a == 0 ? (varia_shape){1, {6}} : (varia_shape){3, {1, 3, 2}};
        varia_status st = tr_model_build(ctx, "gan", arch, &shape, &gc.md);
        int d_lo = 0;
        while (st == VARIA_OK && d_lo < gc.md.decl.n_t && gc.md.decl.t[d_lo].group != VARIA_GROUP_INFERENCE)
            d_lo++;
        d_lo = st == VARIA_OK ? (int)gc.md.off[d_lo] : 0;
        fill(tmp, 18 + 6 + 3, 95 + (uint64_t)a, 1.0);
        for (int i = 0; i < 18; i++)
            gc.x[i] = (float)(0.5 + 0.5 * tmp[i]);
        for (int i = 0; i < 6; i++)
            gc.eps[i] = (float)(1.7 * tmp[18 + i]);
        for (int i = 0; i < 3; i++)
            gc.mix[i] = (float)(0.5 + 0.5 * tmp[24 + i]);
        gc.pass = TR_GAN_PASS_D;
        gc.loss = TR_GAN_WGAN_GP;
        gc.lambda = 10.0;
        fill(th, (int)gc.md.P, 97 + (uint64_t)a, 0.8);
        double e = st == VARIA_OK ? check_from(gan_obj, th, d_lo, (int)gc.md.P, &gc) : 1.0;
        int stopped = 1;
        for (int i = 0; i < d_lo; i++)
            stopped = stopped && last_grad[i] == 0.0;
        ok(e < 1e-6 && stopped && d_lo > 0, "wgan_gp, %s: the discriminator's objective with the penalty matches "
           "finite differences (%.1e); the generator's gradient is exactly 0", archs[a][0], e);
        tr_model_free(&gc.md);
        cJSON_Delete(arch);
        varia_ctx_free(ctx);
    }
}

/* The golden penalty (tests/wgan_gp_golden.h, PyTorch float64) on the double
 * tape: the same weights and rows, the penalty lambda mean (|grad D| - 1)^2
 * and its gradient for every critic tensor to 1e-9 relative; what the float
 * test checks to float rounding, here checked to double's. */
static void gp_golden(const char *name, const char *arch_json, varia_shape shape, const wg_tensor *gt,
                      const float *x, const float *fake, const float *eps, double penalty)
{
    static double th[MAXP], g[MAXP], xh[WG_B * 60], seed[WG_B];
    static tr_lin lins[16];
    static const double ones[WG_B] = {1, 1, 1, 1};
    tr_model md;
    cJSON *arch = cJSON_Parse(arch_json);
    varia_ctx *ctx = varia_ctx_new();
    int good = tr_model_build(ctx, "gan", arch, &shape, &md) == VARIA_OK && md.P <= MAXP && md.D <= 60;
    memset(th, 0, sizeof th);
    memset(g, 0, sizeof g);
    for (int i = 0; good && i < 6; i++)
        for (int j = 0; j < md.decl.n_t; j++)
            for (int k = 0; !strcmp(md.decl.t[j].name, gt[i].name) && k < gt[i].n; k++)
                th[md.off[j] + k] = gt[i].w[k];
    for (int64_t r = 0; good && r < WG_B; r++)
        for (int64_t j = 0; j < md.D; j++)
            xh[r * md.D + j] = (double)eps[r] * x[r * md.D + j] + (1.0 - (double)eps[r]) * fake[r * md.D + j];
    tr_tape *t = trd_tape_new();
    double v = 0.0, worst = 0.0;
    if (good) {
        trd_ops ops;
        trd_bind(&md.decl, md.off, th, g, NULL, NULL, lins);
        trd_ops_begin(&ops, t, &md.decl, lins, md.off, th, g);
        varia_v *logit, *gx;
        md.family->critic_grad(md.cfg, &ops.ops, trd_value_of(trd_input(t, WG_B, md.D, xh)),
                               trd_value_of(trd_input(t, WG_B, 1, ones)), &logit, &gx);
        tr_node *pen = trd_norm_penalty(t, trd_node_of(gx));
        for (int r = 0; r < WG_B; r++)
            v += WG_LAMBDA / WG_B * pen->v[r], seed[r] = WG_LAMBDA / WG_B;
        trd_seed(t, pen, seed);
        trd_backward(t);
    }
    for (int i = 0; good && i < 6; i++)
        for (int j = 0; j < md.decl.n_t; j++)
            for (int k = 0; !strcmp(md.decl.t[j].name, gt[i].name) && k < gt[i].n; k++)
                worst = fmax(worst, fabs(g[md.off[j] + k] - gt[i].g[k]) / fmax(1.0, fabs(gt[i].g[k])));
    double pe = fabs(v - penalty) / penalty;
    ok(good && pe < 1e-12 && worst < 1e-9, "%s critic in double: PyTorch's penalty (%.1e) and its gradient for every "
       "tensor (%.1e)", name, pe, worst);
    trd_tape_free(t);
    tr_model_free(&md);
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
}

int main(void)
{
    single_ops();
    flow_ops();
    const char *one = "{\"activation\":\"tanh\",\"likelihood\":{\"type\":\"bernoulli\"},"
                      "\"layers\":[{\"latent\":2,\"encoder\":[4],\"decoder\":[3,4]}]}";
    const char *two = "{\"activation\":\"softplus\",\"likelihood\":{\"type\":\"bernoulli\"},"
                      "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[4]},"
                      "{\"latent\":2,\"encoder\":[3],\"decoder\":[3]}]}";
    const char *gauss = "{\"activation\":\"elu\",\"likelihood\":{\"type\":\"gaussian\",\"variance\":\"learned\"},"
                        "\"layers\":[{\"latent\":2,\"encoder\":[],\"decoder\":[4]}]}";
    objective_case(one, TR_OBJ_ELBO_ANALYTIC, 2, 1.0, "ELBO, analytic KL, k = 2");
    objective_case(one, TR_OBJ_ELBO_ANALYTIC, 1, 0.3, "ELBO, analytic KL, warm-up beta 0.3");
    objective_case(one, TR_OBJ_ELBO_MC, 3, 1.0, "ELBO, Monte Carlo KL, k = 3");
    objective_case(one, TR_OBJ_IWAE, 4, 1.0, "IWAE bound, k = 4");
    objective_case(two, TR_OBJ_IWAE, 3, 1.0, "two stochastic layers, IWAE k = 3");
    objective_case(two, TR_OBJ_ELBO_MC, 2, 0.5, "two stochastic layers, ELBO, beta 0.5");
    objective_case(gauss, TR_OBJ_IWAE, 2, 1.0, "gaussian likelihood with learned variance, IWAE k = 2");
    const char *log_std = "{\"activation\":\"tanh\",\"posterior_scale\":\"log_std\","
                          "\"likelihood\":{\"type\":\"gaussian\",\"variance\":\"decoder\"},"
                          "\"layers\":[{\"latent\":3,\"encoder\":[4],\"decoder\":[4]},"
                          "{\"latent\":2,\"encoder\":[3],\"decoder\":[]}]}";
    const char *fixed = "{\"activation\":\"relu\",\"likelihood\":{\"type\":\"gaussian\",\"variance\":\"fixed\","
                        "\"log_var\":-1.5},\"layers\":[{\"latent\":2,\"encoder\":[5],\"decoder\":[4]}]}";
    objective_case(log_std, TR_OBJ_IWAE, 2, 1.0, "log_std heads, decoder variance head, two layers, IWAE k = 2");
    objective_case(fixed, TR_OBJ_ELBO_ANALYTIC, 2, 1.0, "gaussian likelihood with fixed variance, analytic ELBO");
    conv_ops();
    gp_ops();
    const char *conv = "{\"likelihood\":{\"type\":\"bernoulli\"},\"layers\":[{\"latent\":2,"
                       "\"encoder_net\":[{\"type\":\"conv\",\"out\":2,\"kernel\":3,\"stride\":2,\"padding\":1,"
                       "\"activation\":\"tanh\"}],"
                       "\"decoder_net\":[{\"type\":\"dense\",\"out\":8,\"activation\":\"tanh\"},"
                       "{\"type\":\"reshape\",\"shape\":[2,2,2]},{\"type\":\"conv_transpose\",\"out\":1,"
                       "\"kernel\":3,\"stride\":2,\"padding\":1,\"output_padding\":1}]}]}";
    objective_case_full(conv, (varia_shape){3, {1, 4, 4}}, TR_OBJ_IWAE, 2, 1.0,
                        "conv encoder and transposed-conv decoder on 1x4x4, IWAE k = 2", 0);
    objective_case_full(conv, (varia_shape){3, {1, 4, 4}}, TR_OBJ_ELBO_ANALYTIC, 1, 1.0,
                        "conv encoder and transposed-conv decoder on 1x4x4, analytic ELBO", 0);
    bn_ops();
    const char *bn = "{\"likelihood\":{\"type\":\"bernoulli\"},\"layers\":[{\"latent\":2,"
                     "\"encoder_net\":[{\"type\":\"conv\",\"out\":2,\"kernel\":3,\"stride\":2,\"padding\":1},"
                     "{\"type\":\"batch_norm\",\"activation\":\"tanh\"}],"
                     "\"decoder_net\":[{\"type\":\"dense\",\"out\":8},{\"type\":\"batch_norm\"},"
                     "{\"type\":\"activation\",\"activation\":\"elu\"},"
                     "{\"type\":\"reshape\",\"shape\":[2,2,2]},{\"type\":\"conv_transpose\",\"out\":1,"
                     "\"kernel\":3,\"stride\":2,\"padding\":1,\"output_padding\":1}]}]}";
    objective_case_full(bn, (varia_shape){3, {1, 4, 4}}, TR_OBJ_IWAE, 2, 1.0,
                        "conv VAE with batch norm (batch statistics) in encoder and decoder, IWAE k = 2", 0);
    objective_case_full(bn, (varia_shape){3, {1, 4, 4}}, TR_OBJ_ELBO_ANALYTIC, 1, 1.0,
                        "conv VAE with batch norm (batch statistics), analytic ELBO", 0);
    flow_objectives();
    gan_objectives();
    gp_objectives();
    gp_golden("MLP", "{\"latent\": 2, \"leaky_relu_slope\": 0.25, \"generator\": [{\"type\": \"dense\", \"out\": 6}],"
              " \"discriminator\": [{\"type\": \"dense\", \"out\": 8, \"activation\": \"leaky_relu\"},"
              " {\"type\": \"dense\", \"out\": 5, \"activation\": \"relu\"}, {\"type\": \"dense\", \"out\": 1}]}",
              (varia_shape){1, {6}}, wg_mlp_tensors, wg_mlp_x, wg_mlp_fake, wg_mlp_eps, wg_mlp_penalty);
    gp_golden("conv", "{\"latent\": 2, \"leaky_relu_slope\": 0.25, \"generator\": [{\"type\": \"dense\", \"out\": 60}],"
              " \"discriminator\": [{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
              " \"activation\": \"leaky_relu\"}, {\"type\": \"conv\", \"out\": 2, \"kernel\": 2,"
              " \"activation\": \"relu\"},"
              " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 1}]}",
              (varia_shape){3, {2, 6, 5}}, wg_conv_tensors, wg_conv_x, wg_conv_fake, wg_conv_eps, wg_conv_penalty);
    /* DRAW: BPTT through 3 steps of both LSTMs, the error image and the
     * canvas; the analytic KL per particle along its own trajectory */
    const char *draw = "{\"steps\": 3, \"latent\": 2, \"encoder_hidden\": 3, \"decoder_hidden\": 2,"
                       " \"read\": {\"type\": \"full\"}, \"write\": {\"type\": \"full\"},"
                       " \"likelihood\": {\"type\": \"bernoulli\"}}";
    objective_case_fam("draw", draw, (varia_shape){3, {1, 2, 3}}, TR_OBJ_ELBO_ANALYTIC, 2, 1.0,
                       "DRAW without attention, 3 steps, analytic KL per step, k = 2", 0);
    objective_case_fam("draw", draw, (varia_shape){3, {1, 2, 3}}, TR_OBJ_IWAE, 3, 1.0,
                       "DRAW without attention, IWAE k = 3 (whole trajectories)", 0);
    const char *attn = "{\"steps\": 2, \"latent\": 2, \"encoder_hidden\": 3, \"decoder_hidden\": 3,"
                       " \"read\": {\"type\": \"attention\", \"glimpse\": 2},"
                       " \"write\": {\"type\": \"attention\", \"glimpse\": 2}, \"posterior_scale\": \"log_var\","
                       " \"likelihood\": {\"type\": \"bernoulli\"}}";
    objective_case_fam("draw", attn, (varia_shape){3, {1, 3, 4}}, TR_OBJ_ELBO_ANALYTIC, 2, 1.0,
                       "DRAW with attention (read and write 2x2 on 4x3), analytic KL, k = 2", 0);
    seq_ops();
    vrnn_objectives();
    return tap_done();
}

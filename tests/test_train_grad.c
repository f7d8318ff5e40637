/* Gradient checks of every op of the tape against central finite differences,
 * in double precision (tape.c, tmatmul.c and ops_tape.c are compiled here with
 * -DTR_DOUBLE: the same backward formulas the float library runs). The whole
 * objectives are in test_train_objectives.c. */
#include "grad_check.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- linear_cols ---- */

enum { LIN = 7, LA = 3 }; /* the layer's inputs; a's columns when split */

/* x [R, n] over W[:, off:off+n] of a layer [O, LIN] (+ b): ctx {off, n,
 * bias}; or (n 0) the split relu(W_b b + bias + W_a a[r / 2]) with a [R, LA]
 * shared by 2 of b's [2R, LIN - LA] rows. th: x (or a, b), W, bias. */
static tr_node *op_linear_cols(tr_tape *t, double *th, double *g, void *ctx)
{
    const int64_t *c = ctx;
    static tr_lin l;
    int64_t nx = c[1] ? R * c[1] : R * LA + 2 * R * (LIN - LA);
    l = (tr_lin){LIN, O, th + nx, th + nx + O * LIN, g + nx, g + nx + O * LIN, NULL, NULL};
    if (c[1])
        return trd_linear_cols(t, trd_param(t, R, c[1], th, g), &l, c[0], c[1], (int)c[2]);
    tr_node *a = trd_param(t, R, LA, th, g), *b = trd_param(t, 2 * R, LIN - LA, th + R * LA, g + R * LA);
    return trd_add(t, trd_linear_cols(t, b, &l, LA, LIN - LA, 1), trd_linear_cols(t, a, &l, 0, LA, 0), 2,
                   (varia_act){VARIA_ACT_RELU, 0.0f});
}

/* Finite differences for x, the range's columns of W and the bias; and the
 * gradient exactly 0 outside the range (and for the bias when not added). */
static void lincols_ops(void)
{
    static double th[MAXP];
    static const int64_t cases[][3] = {{0, 4, 1}, {2, 5, 0}, {5, 2, 1}, {0, 0, 0}};
    for (int i = 0; i < 4; i++) {
        const int64_t *c = cases[i];
        int64_t nx = c[1] ? R * c[1] : R * LA + 2 * R * (LIN - LA), n = nx + O * LIN + O;
        fill(th, (int)n, 80 + (uint64_t)i, 1.0);
        double e = check(op_linear_cols, th, (int)n, (void *)c);
        int zero = 1;
        for (int64_t o = 0; c[1] && o < O; o++) {
            for (int64_t j = 0; j < LIN; j++)
                zero &= (j >= c[0] && j < c[0] + c[1]) || last_grad[nx + o * LIN + j] == 0.0;
            zero &= c[2] || last_grad[nx + O * LIN + o] == 0.0;
        }
        if (c[1])
            ok(e < 1e-6 && zero, "linear_cols, columns [%lld, %lld) of 7, %s bias: x, W and b gradients match finite "
               "differences (%.1e), W's other columns%s get none", (long long)c[0], (long long)(c[0] + c[1]),
               c[2] ? "with" : "without", e, c[2] ? "" : " and b");
        else
            ok(e < 1e-6, "relu(W_b b + bias + W_a a) with a shared by 2 rows (add's broadcast): a, b, W and bias "
               "gradients match finite differences (%.1e)", e);
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

int main(void)
{
    single_ops();
    flow_ops();
    conv_ops();
    gp_ops();
    lincols_ops();
    bn_ops();
    seq_ops();
    return tap_done();
}

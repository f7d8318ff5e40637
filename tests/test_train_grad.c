/* Gradient checks: every op of the tape, and the whole objectives over the
 * VAE family's pass, against central finite differences, all in double
 * precision (tape.c, tmatmul.c, ops_tape.c and objective.c are compiled here
 * with -DTR_DOUBLE: the same backward formulas the float library runs). */
#include "tap.h"

#include "model.h"
#include "rng.h"

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
static double check(build_fn f, double *th, int n, void *ctx)
{
    static double g[MAXP], dummy[MAXP], c[1 << 16];
    tr_tape *t = trd_tape_new();
    memset(g, 0, sizeof g);
    tr_node *o = f(t, th, g, ctx);
    int64_t m = o->rows * o->cols;
    varia_rng r;
    varia_rng_init(&r, 7, 1, 0, 0);
    for (int64_t i = 0; i < m; i++)
        c[i] = 2.0 * varia_rng_uniform(&r) - 1.0;
    trd_seed(t, o, c);
    trd_backward(t);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
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

static void objective_case_shape(const char *arch_json, varia_shape shape, int kind, int64_t k, double beta,
                                 const char *what);

static void objective_case(const char *arch_json, int kind, int64_t k, double beta, const char *what)
{
    objective_case_shape(arch_json, (varia_shape){1, {6}}, kind, k, beta, what);
}

/* The objective over arch for data of `shape` (at most 16 values). */
static void objective_case_shape(const char *arch_json, varia_shape shape, int kind, int64_t k, double beta,
                                 const char *what)
{
    static double th[MAXP], tmp[3 * 4 * 16];
    static netcase nc;
    memset(&nc, 0, sizeof nc);
    cJSON *arch = cJSON_Parse(arch_json);
    varia_ctx *ctx = varia_ctx_new();
    varia_status st = tr_model_build(ctx, "vae", arch, &shape, &nc.md);
    ok(st == VARIA_OK && nc.md.P < MAXP && nc.md.decl.n_lin <= 64, "%s: architecture parses (%s)", what,
       varia_ctx_message(ctx));
    nc.obj = (tr_objective){kind, k, beta, 0};
    nc.B = 3;
    fill(tmp, (int)(3 * nc.md.D), 40, 1.0);
    for (int i = 0; i < 3 * nc.md.D; i++)
        nc.x[i] = tmp[i] > 0 ? 1.0f : 0.0f;
    fill(tmp, (int)(nc.B * k * nc.md.noise), 41, 1.7);
    for (int i = 0; i < nc.B * k * nc.md.noise; i++)
        nc.eps[i] = (float)tmp[i];
    fill(th, (int)nc.md.P, 42, 0.6);
    double e = st == VARIA_OK ? check(net_obj, th, (int)nc.md.P, &nc) : 1.0;
    ok(e < 1e-5, "%s: gradient of every parameter matches finite differences (%.1e)", what, e);
    tr_model_free(&nc.md);
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
}

int main(void)
{
    single_ops();
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
    const char *conv = "{\"likelihood\":{\"type\":\"bernoulli\"},\"layers\":[{\"latent\":2,"
                       "\"encoder_net\":[{\"type\":\"conv\",\"out\":2,\"kernel\":3,\"stride\":2,\"padding\":1,"
                       "\"activation\":\"tanh\"}],"
                       "\"decoder_net\":[{\"type\":\"dense\",\"out\":8,\"activation\":\"tanh\"},"
                       "{\"type\":\"reshape\",\"shape\":[2,2,2]},{\"type\":\"conv_transpose\",\"out\":1,"
                       "\"kernel\":3,\"stride\":2,\"padding\":1,\"output_padding\":1}]}]}";
    objective_case_shape(conv, (varia_shape){3, {1, 4, 4}}, TR_OBJ_IWAE, 2, 1.0,
                         "conv encoder and transposed-conv decoder on 1x4x4, IWAE k = 2");
    objective_case_shape(conv, (varia_shape){3, {1, 4, 4}}, TR_OBJ_ELBO_ANALYTIC, 1, 1.0,
                         "conv encoder and transposed-conv decoder on 1x4x4, analytic ELBO");
    return tap_done();
}

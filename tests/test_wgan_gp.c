/* WGAN-GP's gradient penalty in float (docs/training.md, "GAN"): the ops
 * that build a critic's input gradient as a forward graph (linear_t,
 * conv2d_t, act_mask, norm_penalty) on the exec and tape backends from the
 * same weights; the whole input gradient of an MLP and a conv critic; the
 * penalty and its gradient with respect to every critic parameter against
 * PyTorch's double backward (tests/wgan_gp_golden.h, written by
 * tools/torch/wgan_gp_golden.py); and the critics the construction refuses.
 * The finite-difference checks of the same ops, in double, are in
 * test_train_grad.c. */
#include "tap.h"

#include "model.h"
#include "op_pair.h"
#include "rng.h"
#include "save.h"
#include "wgan_gp_golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf
#define TOL 2e-5

static char dir[256];

/* Seeded floats, uniform in [lo, hi). */
static void fill(float *x, int64_t n, uint64_t seed, double lo, double hi)
{
    varia_rng rng;
    varia_rng_init(&rng, seed, 10, 0, 0);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * varia_rng_uniform(&rng));
}

/* The declared tensor called name, or -1. */
static int tensor_of(const tr_model *md, const char *name)
{
    for (int i = 0; i < md->decl.n_t; i++)
        if (!strcmp(md->decl.t[i].name, name))
            return i;
    return -1;
}

/* The linear (or conv) slot whose weight is the tensor called name, or -1. */
static int slot_of(const tr_model *md, const char *name)
{
    int t = tensor_of(md, name);
    for (int i = 0; t >= 0 && i < md->decl.n_lin; i++)
        if (md->decl.lin[i].weight == t)
            return i;
    return -1;
}

/* The golden critic tensors a pair starts from. */
typedef struct golden_init {
    const wg_tensor *golden;
    int n;
} golden_init;

/* theta uniform in [-0.8, 0.8), then the critic's tensors from the golden[n]
 * of *ctx (matched by name); 0 if one is missing or of another size. */
static int seeded_golden(const tr_model *md, float *theta, void *ctx)
{
    const golden_init *g = ctx;
    fill(theta, md->P, 3, -0.8, 0.8);
    for (int i = 0; i < g->n; i++) {
        int t = tensor_of(md, g->golden[i].name);
        if (t < 0 || varia_decl_numel(&md->decl.t[t]) != g->golden[i].n)
            return 0;
        memcpy(theta + md->off[t], g->golden[i].w, (size_t)g->golden[i].n * sizeof(float));
    }
    return 1;
}

/* A gan pair (op_pair.h) for arch and data shape, the critic from golden[n]. */
static int pair_open(pair *p, const char *arch_json, varia_shape shape, const wg_tensor *golden, int n)
{
    golden_init g = {golden, n};
    return pair_open_family(p, dir, "gan", arch_json, shape, seeded_golden, &g);
}

static const char *const MLP_ARCH =
    "{\"latent\": 2, \"leaky_relu_slope\": 0.25, \"generator\": [{\"type\": \"dense\", \"out\": 6}],"
    " \"discriminator\": [{\"type\": \"dense\", \"out\": 8, \"activation\": \"leaky_relu\"},"
    " {\"type\": \"dense\", \"out\": 5, \"activation\": \"relu\"}, {\"type\": \"dense\", \"out\": 1}]}";
static const char *const CONV_ARCH =
    "{\"latent\": 2, \"leaky_relu_slope\": 0.25, \"generator\": [{\"type\": \"dense\", \"out\": 60}],"
    " \"discriminator\": [{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
    " \"activation\": \"leaky_relu\"}, {\"type\": \"conv\", \"out\": 2, \"kernel\": 2, \"activation\": \"relu\"},"
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 1}]}";

/* x^ = eps x + (1 - eps) fake per row, as the trainer mixes them. */
static void mix(const float *x, const float *fake, const float *eps, int64_t D, float *xh)
{
    for (int64_t r = 0; r < WG_B; r++)
        for (int64_t j = 0; j < D; j++)
            xh[r * D + j] = (float)((double)eps[r] * x[r * D + j] + (1.0 - (double)eps[r]) * fake[r * D + j]);
}

/* Each op on both backends from the same inputs: linear_t on the MLP's
 * middle layer, act_mask for each piecewise-linear activation (outputs with
 * negatives and exact zeros), norm_penalty (a zero row included). */
static void single_ops(void)
{
    pair p;
    int good = pair_open(&p, MLP_ARCH, (varia_shape){1, {6}}, wg_mlp_tensors, 6);
    ok(good, "an MLP critic opens on both backends");
    if (!good)
        return;
    varia_ops *e = &p.e.ops, *t = &p.t.ops;
    float g[WG_B * 8], y[WG_B * 8];
    fill(g, WG_B * 8, 1, -2.0, 2.0);
    fill(y, WG_B * 8, 2, -1.0, 1.0);
    y[3] = y[9] = 0.0f;
    int slot = slot_of(&p.md, "disc.net.1.weight");
    double a = diff(e->linear_t(e, e->input(e, WG_B, 5, g, 5), slot), t->linear_t(t, t->input(t, WG_B, 5, g, 5), slot));
    ok(slot >= 0 && a < TOL, "linear_t: g W by a [5, 8] weight, 4 rows (%.1e)", a);
    static const varia_act acts[] = {{VARIA_ACT_LEAKY_RELU, 0.2f}, {VARIA_ACT_RELU, 0.0f}, {VARIA_ACT_IDENTITY, 0.0f}};
    static const char *const names[] = {"leaky relu 0.2", "relu", "identity"};
    for (int i = 0; i < 3; i++) {
        double m = diff(e->act_mask(e, e->input(e, WG_B, 8, g, 8), e->input(e, WG_B, 8, y, 8), acts[i]),
                        t->act_mask(t, t->input(t, WG_B, 8, g, 8), t->input(t, WG_B, 8, y, 8), acts[i]));
        ok(m == 0.0, "act_mask, %s: the same values on both backends (%.1e)", names[i], m);
    }
    memset(g + 8, 0, 8 * sizeof(float));
    double n = diff(e->norm_penalty(e, e->input(e, WG_B, 8, g, 8)), t->norm_penalty(t, t->input(t, WG_B, 8, g, 8)));
    ok(n < 1e-7, "norm_penalty (|g| - 1)^2 per row, a zero row among them (%.1e)", n);
    pair_close(&p);
}

/* conv2d_t on the conv critic's first layer (output padding 1 a side: its
 * windows miss the input's last row), and the whole input gradient of both
 * critics on both backends. */
static void input_grads(void)
{
    static float xh[WG_B * 60], g[WG_B * 27];
    pair p;
    int good = pair_open(&p, CONV_ARCH, (varia_shape){3, {2, 6, 5}}, wg_conv_tensors, 6);
    ok(good, "a conv critic opens on both backends");
    if (!good)
        return;
    varia_ops *e = &p.e.ops, *t = &p.t.ops;
    varia_conv c = {0, 2, 6, 5, 3, 0, 0, 3, 3, 2, 2, 1, 1, 0, 0};
    const char *why;
    fill(g, WG_B * 27, 4, -1.0, 1.0);
    int slot = slot_of(&p.md, "disc.net.0.weight");
    good = varia_conv_resolve(&c, &why) && c.oh == 3 && c.ow == 3 && slot >= 0;
    double a = good ? diff(e->conv2d_t(e, e->input(e, WG_B, 27, g, 27), slot, &c),
                           t->conv2d_t(t, t->input(t, WG_B, 27, g, 27), slot, &c)) : 1e9;
    ok(good && a < TOL, "conv2d_t: the adjoint of conv 2x6x5 -> 3x3x3 (kernel 3, stride 2, padding 1) (%.1e)", a);
    mix(wg_conv_x, wg_conv_fake, wg_conv_eps, 60, xh);
    float ones[WG_B] = {1, 1, 1, 1};
    varia_v *el, *tl, *eg, *tg;
    p.md.family->critic_grad(p.m->cfg, e, e->input(e, WG_B, 60, xh, 60), e->input(e, WG_B, 1, ones, 1), &el, &eg);
    p.md.family->critic_grad(p.md.cfg, t, t->input(t, WG_B, 60, xh, 60), t->input(t, WG_B, 1, ones, 1), &tl, &tg);
    double dl = diff(el, tl), dg = diff(eg, tg);
    ok(dl < TOL && dg < TOL, "conv critic: D(x^) (%.1e) and grad_x D(x^) (%.1e) agree on both backends", dl, dg);
    pair_close(&p);
}

/* varia's penalty lambda mean_r (|grad D(x^_r)| - 1)^2 and its gradient for
 * every critic tensor on the float tape, against PyTorch's (float64). The
 * gradient's error is judged as the suite's others, |a - b| / max(1, |b|)
 * per entry (float rounding of sums over the batch and the layers); the
 * largest absolute error and the worst tensor's |a - b|_2 / |b|_2 are
 * reported beside it. */
static void golden_case(const char *name, const char *arch, varia_shape shape, const wg_tensor *gt, int n,
                        const float *x, const float *fake, const float *eps, double penalty)
{
    static float xh[WG_B * 60];
    pair p;
    int good = pair_open(&p, arch, shape, gt, n);
    ok(good, "%s critic: PyTorch's weights load", name);
    if (!good)
        return;
    varia_ops *t = &p.t.ops;
    int64_t D = p.md.D;
    mix(x, fake, eps, D, xh);
    float ones[WG_B] = {1, 1, 1, 1}, seed[WG_B];
    varia_v *logit, *gx;
    p.md.family->critic_grad(p.md.cfg, t, t->input(t, WG_B, D, xh, D), t->input(t, WG_B, 1, ones, 1), &logit, &gx);
    tr_node *pen = tr_norm_penalty(p.tape, tr_node_of(gx));
    double v = 0.0;
    for (int r = 0; r < WG_B; r++)
        v += WG_LAMBDA / WG_B * pen->v[r], seed[r] = (float)(WG_LAMBDA / WG_B);
    tr_seed(p.tape, pen, seed);
    tr_backward(p.tape);
    double pe = fabs(v - penalty) / fabs(penalty), abs_err = 0.0, rel_err = 0.0, norm_err = 0.0;
    ok(!tr_failed(p.tape) && pe < 1e-5, "%s critic: penalty %.6f, PyTorch %.6f (relative error %.1e)", name, v,
       penalty, pe);
    for (int i = 0; i < n; i++) {
        const float *gv = p.grad + p.md.off[tensor_of(&p.md, gt[i].name)];
        double dd = 0.0, bb = 0.0;
        for (int j = 0; j < gt[i].n; j++) {
            double d = fabs(gv[j] - gt[i].g[j]);
            abs_err = fmax(abs_err, d);
            rel_err = fmax(rel_err, d / fmax(1.0, fabs(gt[i].g[j])));
            dd += d * d, bb += gt[i].g[j] * gt[i].g[j];
        }
        norm_err = fmax(norm_err, bb > 0.0 ? sqrt(dd / bb) : sqrt(dd)); /* a bias: its gradient is exactly 0 */
    }
    ok(rel_err < 1e-5, "%s critic: dGP/dtheta for all %d tensors matches PyTorch's double backward (max abs %.1e, "
       "max rel %.1e, worst tensor's norm-wise %.1e)", name, n, abs_err, rel_err, norm_err);
    pair_close(&p);
}

/* A critic the construction does not cover is refused, naming its entry. */
static void refusals(void)
{
    static const char *const cases[][3] = {
        {"a batch norm", "{\"type\": \"dense\", \"out\": 4}, {\"type\": \"batch_norm\", \"activation\": \"relu\"}",
         "discriminator[0]"},
        {"tanh", "{\"type\": \"dense\", \"out\": 4}, {\"type\": \"dense\", \"out\": 4, \"activation\": \"tanh\"}",
         "discriminator[1]"},
        {"an activation entry sigmoid", "{\"type\": \"dense\", \"out\": 4}, {\"type\": \"activation\", "
         "\"activation\": \"sigmoid\"}", "discriminator[0]"},
        {"a negative leaky relu slope", "{\"type\": \"dense\", \"out\": 4, \"activation\": \"leaky_relu\"}",
         "leaky_relu_slope"},
    };
    for (int i = 0; i < 4; i++) {
        char arch_json[600];
        snprintf(arch_json, sizeof arch_json, "{\"latent\": 2, \"leaky_relu_slope\": %s, \"generator\": [{\"type\": "
                 "\"dense\", \"out\": 6}], \"discriminator\": [%s, {\"type\": \"dense\", \"out\": 1}]}",
                 i == 3 ? "-0.1" : "0.2", cases[i][1]);
        varia_ctx *ctx = varia_ctx_new();
        cJSON *arch = cJSON_Parse(arch_json);
        tr_model md;
        varia_shape shape = {1, {6}};
        varia_status st = tr_model_build(ctx, "gan", arch, &shape, &md);
        if (st == VARIA_OK)
            st = md.family->critic_grad_check(md.cfg, ctx);
        ok(st == VARIA_ERR_UNSUPPORTED && strstr(varia_ctx_message(ctx), cases[i][2]),
           "a critic with %s -> %s (%s)", cases[i][0], varia_status_name(st), varia_ctx_message(ctx));
        tr_model_free(&md);
        cJSON_Delete(arch);
        varia_ctx_free(ctx);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/varia-wgan-gp-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("not ok 1 - a scratch directory\n");
        return 1;
    }
    single_ops();
    input_grads();
    golden_case("MLP", MLP_ARCH, (varia_shape){1, {6}}, wg_mlp_tensors, 6, wg_mlp_x, wg_mlp_fake, wg_mlp_eps,
                wg_mlp_penalty);
    golden_case("conv", CONV_ARCH, (varia_shape){3, {2, 6, 5}}, wg_conv_tensors, 6, wg_conv_x, wg_conv_fake,
                wg_conv_eps, wg_conv_penalty);
    refusals();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}

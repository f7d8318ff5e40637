/* Gradient checks of the whole training objectives (the VAE family's ELBO and
 * IWAE bounds with every likelihood and layer kind, flows, DRAW, VRNN, the GAN
 * losses and WGAN-GP's penalty against PyTorch's double backward) against
 * central finite differences, in double precision (-DTR_DOUBLE). The single
 * ops are in test_train_grad.c. */
#include "wgan_gp_golden.h"
#include "grad_check.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
    vrnn_objectives();
    return tap_done();
}

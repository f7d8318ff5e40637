/* The gradient HMC follows (runtime/joint_tape.c): d/dz of log f(z) = log p(z)
 * + beta log p(x|z) over a loaded model's full latents, against central
 * finite differences in double. Built with -DTR_DOUBLE, with the tape's
 * sources compiled a second time in double (as tests/test_train_grad.c is):
 * the family's joint pass runs on the double tape over the model's weights
 * widened to double; its gradient must match the finite differences of its
 * own values, and the runtime's float gradient (the one AIS uses, weights
 * bound as constants and packed for the float tape) must match it. Golden
 * models cover MLP and conv decoders, 1 and 2 stochastic layers, Bernoulli
 * and Gaussian likelihoods (fixed, learned, per-output decoder variance),
 * and the Gaussian observation model. */
#include "family.h"
#include "hmc.h"
#include "joint_tape.h"
#include "ops_tape.h"
#include "passes.h"
#include "rng.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char root[1024];

/* The double tape over a model: slots and tensors widened to double. */
typedef struct dmodel {
    const varia_model *m;
    tr_lin *lins;
    double **w, **b, **t; /* per slot: weight [out, in] as stored, bias; per tensor: its values */
} dmodel;

typedef struct dops {
    TR(ops) base;
    const dmodel *d;
} dops;

static double *widen(const float *src, int64_t n)
{
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        d[i] = src[i];
    return d;
}

/* Slot i's weight as stored ([out, in]) and bias, as the runtime serves them
 * (a transposed conv keeps its weight transposed: turned back here). */
static void dmodel_slot(dmodel *d, int i)
{
    const varia_model *m = d->m;
    const varia_decl_linear *l = &m->decl.lin[i];
    int64_t n = l->in * l->out;
    if (l->kind == VARIA_SLOT_CONV_T) {
        d->w[i] = malloc((size_t)n * sizeof(double));
        for (int64_t o = 0; o < l->out; o++)
            for (int64_t k = 0; k < l->in; k++)
                d->w[i][o * l->in + k] = m->owned[i][k * l->out + o];
        d->b[i] = widen(m->chan_bias[i], l->channels);
    } else {
        d->w[i] = widen(m->owned && m->owned[i] ? m->owned[i] : m->tensor[l->weight]->data, n);
        d->b[i] = widen(m->owned_bias && m->owned_bias[i] ? m->owned_bias[i] : m->tensor[l->bias]->data, l->out);
    }
    d->lins[i] = (tr_lin){l->in, l->out, d->w[i], d->b[i], NULL, NULL, NULL, NULL};
}

static void dmodel_init(dmodel *d, const varia_model *m)
{
    int nl = m->decl.n_lin, nt = m->decl.n_t;
    d->m = m;
    d->lins = calloc((size_t)nl + 1, sizeof *d->lins);
    d->w = calloc((size_t)nl + 1, sizeof *d->w);
    d->b = calloc((size_t)nl + 1, sizeof *d->b);
    d->t = calloc((size_t)nt + 1, sizeof *d->t);
    for (int i = 0; i < nl; i++)
        dmodel_slot(d, i);
    for (int i = 0; i < nt; i++)
        d->t[i] = widen(m->tensor[i]->data, m->tensor[i]->numel);
}

static void dmodel_free(dmodel *d)
{
    for (int i = 0; i < d->m->decl.n_lin; i++)
        free(d->w[i]), free(d->b[i]);
    for (int i = 0; i < d->m->decl.n_t; i++)
        free(d->t[i]);
    free(d->w), free(d->b), free(d->t), free(d->lins);
}

static varia_v *dparam(varia_ops *o, int tensor)
{
    const dops *p = (const dops *)(const void *)o;
    const varia_tensor *t = p->d->m->tensor[tensor];
    int64_t rows = t->rank >= 2 ? t->shape[0] : 1, cols = t->rank >= 2 ? t->numel / t->shape[0] : t->shape[0];
    return (varia_v *)(void *)TR(input)(p->base.t, rows, cols, p->d->t[tensor]);
}

/* log f = log p(z) + beta log p(x|z) for n rows of z[n * E] (double) against
 * one example x on the double tape: lf[n], and d lf / dz into g[n * E] when g
 * is given. obs_lv NaN: the model's likelihood. */
static void deval(tr_tape *t, const dmodel *d, const float *x, const double *z, int64_t n, double beta, float obs_lv,
                  double *lf, double *g)
{
    const varia_model *m = d->m;
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    TR(reset)(t);
    dops o;
    TR(ops_begin)(&o.base, t, &m->decl, d->lins, NULL, NULL, NULL);
    o.base.ops.param = dparam;
    o.base.ops.batch_norm = NULL; /* the folded slots, as the runtime runs them */
    o.d = d;
    varia_ops *ops = &o.base.ops;
    if (g)
        memset(g, 0, (size_t)(n * E) * sizeof *g);
    tr_node *zn = g ? TR(param)(t, n, E, z, g) : TR(input)(t, n, E, z);
    varia_v *xv = ops->input(ops, 1, D, x, D), *lv = isnan(obs_lv) ? NULL : ops->input(ops, 1, 1, &obs_lv, 1);
    varia_v *pz, *px;
    m->family->joint(m->cfg, ops, xv, n, (varia_v *)(void *)zn, lv, &pz, &px);
    for (int64_t r = 0; r < n; r++)
        lf[r] = TR(node_of)(pz)->v[r] + beta * TR(node_of)(px)->v[r];
    if (!g)
        return;
    double *s = TR(alloc)(t, 2 * n);
    for (int64_t r = 0; r < n; r++)
        s[r] = 1.0, s[n + r] = beta;
    TR(seed)(t, TR(node_of)(pz), s);
    TR(seed)(t, TR(node_of)(px), s + n);
    TR(backward)(t);
}

/* Largest |a - b| / max(1, |b|) over n values. */
static double rel_err(const double *a, const double *b, int64_t n)
{
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]) / (fabs(b[i]) > 1.0 ? fabs(b[i]) : 1.0);
        w = e > w ? e : w;
    }
    return w;
}

/* One model: the double tape's gradient against central differences (h =
 * 1e-5; every row perturbed at once: rows are independent), then the
 * runtime's float values and gradient against the double ones. */
static void check_model(varia_ctx *ctx, const char *cas, double sigma2)
{
    char path[1200], name[200];
    snprintf(path, sizeof path, "%s/tests/golden/%s/model.json", root, cas);
    snprintf(name, sizeof name, "%s%s", cas, sigma2 > 0 ? " (Gaussian observation model)" : "");
    varia_model *m = NULL;
    if (!tap_check(varia_model_load(ctx, path, &m) == VARIA_OK, name))
        return;
    int64_t n = 5, E = varia_model_noise(m), D = m->info.data_size;
    float obs = sigma2 > 0 ? (float)log(sigma2) : NAN, *x = malloc((size_t)D * sizeof *x);
    float *zf = malloc((size_t)(n * E) * sizeof *zf), *gf = malloc((size_t)(n * E) * sizeof *gf);
    double *z = malloc((size_t)(n * E) * sizeof *z), *g = malloc((size_t)(n * E) * sizeof *g);
    double *fd = malloc((size_t)(n * E) * sizeof *fd), lf[5], lp[5], lm[5], pz[5], px[5], f32[5];
    double *g32 = malloc((size_t)(n * E) * sizeof *g32);
    varia_rng r;
    varia_rng_init(&r, 17, 5, 0, 0);
    varia_rng_normals(&r, zf, n * E);
    for (int64_t i = 0; i < D; i++) /* a binary example (Bernoulli models read [0, 1]) */
        x[i] = varia_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n * E; i++)
        z[i] = zf[i];
    dmodel d;
    dmodel_init(&d, m);
    tr_tape *t = TR(tape_new)();
    const double beta = 0.37, h = 1e-5;
    deval(t, &d, x, z, n, beta, obs, lf, g);
    for (int64_t j = 0; j < E; j++) {
        for (int64_t i = 0; i < n; i++)
            z[i * E + j] += h;
        deval(t, &d, x, z, n, beta, obs, lp, NULL);
        for (int64_t i = 0; i < n; i++)
            z[i * E + j] -= 2 * h;
        deval(t, &d, x, z, n, beta, obs, lm, NULL);
        for (int64_t i = 0; i < n; i++) {
            z[i * E + j] += h;
            fd[i * E + j] = (lp[i] - lm[i]) / (2 * h);
        }
    }
    double e_fd = rel_err(g, fd, n * E);
    tap_okf(e_fd < 1e-6, "%s: the double tape's d log f / dz against central differences: %.2e (< 1e-6)", name, e_fd);
    varia_joint_consts c;
    varia_joint j;
    int ok = varia_joint_consts_init(ctx, m, &c) == VARIA_OK && varia_joint_open(&j, &c, obs) &&
             varia_joint_grad(&j, x, n, zf, n, beta, pz, px, gf);
    for (int64_t i = 0; i < n; i++)
        f32[i] = pz[i] + beta * px[i];
    for (int64_t i = 0; ok && i < n * E; i++)
        g32[i] = gf[i];
    double e_f = ok ? rel_err(f32, lf, n) : INFINITY, e_g = ok ? rel_err(g32, g, n * E) : INFINITY;
    tap_okf(ok && e_f < 1e-5 && e_g < 1e-3, "%s: the runtime's float log f (%.1e < 1e-5) and gradient (%.1e < 1e-3) "
            "against the double tape", name, e_f, e_g);
    /* The split gradients AIS's chains carry (varia_joint_grads): the same
     * densities, bit for bit (the same forward pass); d log p(z) / dz against
     * the double tape's at beta = 0, and gz + beta gx against its d log f / dz. */
    float *gz = malloc((size_t)(n * E) * sizeof *gz), *gx = malloc((size_t)(n * E) * sizeof *gx);
    double *gpz = malloc((size_t)(n * E) * sizeof *gpz), pz2[5], px2[5], lf0[5];
    deval(t, &d, x, z, n, 0.0, obs, lf0, gpz);
    int ok2 = ok && varia_joint_grads(&j, x, n, zf, n, pz2, px2, gz, gx);
    int same = ok2 && !memcmp(pz, pz2, sizeof pz2) && !memcmp(px, px2, sizeof px2);
    for (int64_t i = 0; ok2 && i < n * E; i++)
        g32[i] = gz[i];
    double e_z = ok2 ? rel_err(g32, gpz, n * E) : INFINITY;
    for (int64_t i = 0; ok2 && i < n * E; i++)
        g32[i] = (double)gz[i] + beta * gx[i];
    double e_s = ok2 ? rel_err(g32, g, n * E) : INFINITY;
    tap_okf(same && e_z < 1e-3 && e_s < 1e-3, "%s: the split gradients: log p(z), log p(x|z) the same bits as the "
            "joint pass's (%s); d log p(z) / dz (%.1e < 1e-3) and gz + beta gx (%.1e < 1e-3) against the double "
            "tape", name, same ? "yes" : "no", e_z, e_s);
    free(gz), free(gx), free(gpz);
    varia_joint_close(&j);
    varia_joint_consts_free(&c);
    TR(tape_free)(t);
    dmodel_free(&d);
    free(x), free(zf), free(gf), free(z), free(g), free(fd), free(g32);
    varia_model_free(m);
}

/* What ais.c relies on to run no pass of its own between transitions: after
 * each HMC transition, the log densities and both gradients the chains carry
 * (the proposal's from its last leapfrog step, or the old state's) are the
 * bits a fresh pass at the chains' new states gives, the rows' other
 * company in that pass notwithstanding (the kernels are batch-invariant).
 * 2 examples x 3 chains, 6 transitions at rising beta, each at step0 (the
 * adaptation undone: a step large enough for the model that proposals are
 * both accepted and rejected). */
static void check_carried(varia_ctx *ctx, const char *cas, double sigma2, double step0)
{
    char path[1200], name[200];
    snprintf(path, sizeof path, "%s/tests/golden/%s/model.json", root, cas);
    snprintf(name, sizeof name, "%s%s: HMC's carried state", cas, sigma2 > 0 ? " (Gaussian observation model)" : "");
    varia_model *m = NULL;
    if (!tap_check(varia_model_load(ctx, path, &m) == VARIA_OK, name))
        return;
    enum { G = 2, C = 3, N = G * C, T = 6 };
    int64_t E = varia_model_noise(m), D = m->info.data_size;
    size_t fz = (size_t)(N * E) * sizeof(float);
    float *x = malloc((size_t)(G * D) * sizeof *x), *z = malloc(fz), *gz = malloc(fz), *gx = malloc(fz);
    float *zn = malloc(fz), *p = malloc(fz), *gzn = malloc(fz), *gxn = malloc(fz), *fz1 = malloc(fz), *fx1 = malloc(fz);
    double lpz[N], lpx[N], lpzn[N], lpxn[N], h0[N], prob[N], fpz[N], fpx[N], step[G];
    int64_t acc[G] = {0, 0};
    varia_rng rng[N], r;
    varia_rng_init(&r, 23, 5, 0, 0);
    for (int64_t i = 0; i < G * D; i++)
        x[i] = varia_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f;
    varia_rng_normals(&r, z, N * E);
    for (int i = 0; i < N; i++)
        varia_rng_init(&rng[i], 23, 6, (uint64_t)(i / C), (uint64_t)(i % C));
    varia_joint_consts c;
    varia_joint j;
    int ok = varia_joint_consts_init(ctx, m, &c) == VARIA_OK &&
             varia_joint_open(&j, &c, sigma2 > 0 ? (float)log(sigma2) : NAN) &&
             varia_joint_grads(&j, x, C, z, N, lpz, lpx, gz, gx);
    varia_hmc h = {.j = &j, .x = x, .groups = G, .chains = C, .E = E, .leapfrog = 4, .z = z, .gz = gz, .gx = gx,
                   .lpz = lpz, .lpx = lpx, .rng = rng, .step = step, .accepted = acc, .zn = zn, .p = p, .gzn = gzn,
                   .gxn = gxn, .lpzn = lpzn, .lpxn = lpxn, .h0 = h0, .prob = prob, .total = C};
    int same = 1;
    for (int t = 1; ok && t <= T; t++) {
        step[0] = step[1] = step0;
        ok = varia_hmc_transition(&h, 0.1 * t) && varia_joint_grads(&j, x, C, z, N, fpz, fpx, fz1, fx1);
        same &= ok && !memcmp(fpz, lpz, sizeof lpz) && !memcmp(fpx, lpx, sizeof lpx) && !memcmp(fz1, gz, fz) &&
                !memcmp(fx1, gx, fz);
    }
    int64_t accepted = acc[0] + acc[1];
    tap_okf(ok && same && accepted > 0 && accepted < N * T, "%s: log p(z), log p(x|z) and both gradients the bits of "
            "a fresh pass after each of %d transitions (%lld of %d proposals accepted)", name, T,
            (long long)accepted, N * T);
    varia_joint_close(&j);
    varia_joint_consts_free(&c);
    free(x), free(z), free(gz), free(gx), free(zn), free(p), free(gzn), free(gxn), free(fz1), free(fx1);
    varia_model_free(m);
}

int main(void)
{
    const char *r = getenv("VARIA_SOURCE_ROOT");
    snprintf(root, sizeof root, "%s", r ? r : ".");
    varia_ctx *ctx = varia_ctx_new();
    static const char *const cases[] = {"vae1_tanh_bern", "vae1_sigmoid_bern", "iwae2_tanh_bern",
                                        "vae1_leaky_gauss_fixed", "vae1_elu_gauss_learned", "vae1_relu_gauss_decoder",
                                        "iwae2_gauss_learned1_raw", "conv_bern_odd", "conv_bn_gauss",
                                        "iwae2_conv_bottom"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_model(ctx, cases[i], 0.0);
    check_model(ctx, "vae1_tanh_bern", 0.1);
    check_model(ctx, "conv_bern_odd", 0.05);
    check_model(ctx, "gan_mlp", 0.025); /* a GAN: log p(z) one record, its sweep skipping the generator */
    check_carried(ctx, "iwae2_tanh_bern", 0.0, 1.5);
    check_carried(ctx, "conv_bn_gauss", 0.0, 0.6);
    check_carried(ctx, "gan_mlp", 0.025, 0.4);
    varia_ctx_free(ctx);
    return tap_done();
}

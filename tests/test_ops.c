/* Exec against tape: every op of the interface (ops.h), and every pass of the
 * VAE family over several architectures, run on the two backends from the
 * same weights. The runtime runs exec; training differentiates the tape; the
 * two must compute the same values (to float rounding: exec fuses the
 * Bernoulli likelihood and keeps log-densities in double). The weights come
 * from the trainer's own layout, saved and loaded back by the runtime, so the
 * check also covers the declaration, the save and the binding. */
#include "tap.h"

#include "model.h"
#include "op_pair.h"
#include "passes.h"
#include "pool.h"
#include "rng.h"
#include "save.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf
#define TOL 2e-5
#define D 6

static char dir[256];

/* theta uniform in [-0.8, 0.8) from seed *ctx, the IAF's masked weights zeroed
 * as the trainer keeps them (the tape does not mask, the runtime does). */
static int seeded_masked(const tr_model *md, float *theta, void *ctx)
{
    varia_rng rng;
    varia_rng_init(&rng, *(const uint64_t *)ctx, 9, 0, 0);
    for (int64_t i = 0; i < md->P; i++)
        theta[i] = (float)(0.8 * (2.0 * varia_rng_uniform(&rng) - 1.0));
    tr_model_mask(md, theta);
    return 1;
}

/* A VAE-family pair (op_pair.h) for arch_json on data of `shape`. */
static int pair_open_shape(pair *p, const char *arch_json, uint64_t seed, varia_shape shape)
{
    return pair_open_family(p, dir, "vae", arch_json, shape, seeded_masked, &seed);
}

static int pair_open(pair *p, const char *arch_json, uint64_t seed)
{
    return pair_open_shape(p, arch_json, seed, (varia_shape){1, {D}});
}

/* Seeded floats: uniform in [lo, hi). */
static void fill(float *x, int n, uint64_t seed, double lo, double hi)
{
    varia_rng rng;
    varia_rng_init(&rng, seed, 10, 0, 0);
    for (int i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * varia_rng_uniform(&rng));
}

/* ---- single ops ---- */

static const char *const ARCH1 =
    "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
    " \"layers\": [{\"latent\": 3, \"encoder\": [5], \"decoder\": [4]}]}";

/* Every op on both backends, from the same inputs (a 4 x 6 batch X, its
 * first 4 x 5 block as a posterior's parameters, noise for k = 2). */
static void single_ops(void)
{
    pair p;
    int good = pair_open(&p, ARCH1, 1);
    ok(good, "the tiny model opens on both backends");
    if (!good)
        return;
    varia_ops *e = &p.e.ops, *t = &p.t.ops;
    static float x[4 * D], eps[8 * 3], lvx[4 * 3], bin[2 * D];
    fill(x, 4 * D, 1, -1.5, 1.5);
    fill(eps, 8 * 3, 2, -2.0, 2.0);
    fill(lvx, 4 * 3, 3, -1.0, 1.0);
    fill(bin, 2 * D, 4, 0.0, 1.0);
    varia_v *ex = e->input(e, 4, D, x, D), *tx = t->input(t, 4, D, x, D);
    for (int a = 0; a <= VARIA_ACT_SIGMOID; a++) { /* slot 0: enc1.hidden.0, 6 -> 5 */
        varia_act act = {(varia_act_kind)a, a == VARIA_ACT_LEAKY_RELU ? 0.1f : 1.0f};
        ok(diff(e->linear(e, ex, 0, act), t->linear(t, tx, 0, act)) < TOL, "linear, activation %d", a);
    }
    varia_v *emu = e->cols(e, ex, 1, 3), *tmu = t->cols(t, tx, 1, 3);
    ok(diff(emu, tmu) < TOL, "cols (a view in exec, a copy on the tape)");
    ok(diff(e->scale(e, emu, -2.0f), t->scale(t, tmu, -2.0f)) < TOL, "scale");
    varia_v *elv = e->input(e, 4, 3, lvx, 3), *tlv = t->input(t, 4, 3, lvx, 3);
    varia_v *eeps = e->input(e, 8, 3, eps, 3), *teps = t->input(t, 8, 3, eps, 3);
    varia_v *ez = e->reparam(e, emu, elv, 2, eeps, 0.7f), *tz = t->reparam(t, tmu, tlv, 2, teps, 0.7f);
    ok(diff(ez, tz) < 1e-7, "reparam (k = 2, temperature 0.7): the same expression on both (%.1e)", diff(ez, tz));
    ok(diff(e->logq_eps(e, elv, 2, eeps), t->logq_eps(t, tlv, 2, teps)) < TOL, "log q by the noise (k = 2)");
    ok(diff(e->gauss_logp(e, ez, 1, emu, 2, elv), t->gauss_logp(t, tz, 1, tmu, 2, tlv)) < TOL,
       "gaussian log-density, log-variance per row (kmu = 2)");
    varia_v *e1 = e->cols(e, elv, 0, 3), *t1 = t->cols(t, tlv, 0, 3);
    float one = -0.4f;
    varia_v *es = e->input(e, 1, 1, &one, 1), *ts = t->input(t, 1, 1, &one, 1);
    ok(diff(e->gauss_logp(e, emu, 2, ez, 1, es), t->gauss_logp(t, tmu, 2, tz, 1, ts)) < TOL,
       "gaussian log-density, one log-variance (kz = 2)");
    varia_v *erow = e->input(e, 1, 3, lvx, 3), *trow = t->input(t, 1, 3, lvx, 3);
    ok(diff(e->gauss_logp(e, ez, 1, ez, 1, erow), t->gauss_logp(t, tz, 1, tz, 1, trow)) < TOL,
       "gaussian log-density, one row of log-variances");
    ok(diff(e->std_normal_logp(e, ez), t->std_normal_logp(t, tz)) < TOL, "standard normal log-density");
    varia_v *ekl = e->gauss_kl(e, emu, e1), *tkl = t->gauss_kl(t, tmu, t1);
    ok(diff(ekl, tkl) < TOL, "gaussian KL per dimension");
    varia_v *ers = e->row_sum(e, ekl), *trs = t->row_sum(t, tkl);
    ok(diff(ers, trs) < TOL, "row sum");
    varia_v *ea[2] = {ers, e->row_sum(e, emu)}, *ta[2] = {trs, t->row_sum(t, tmu)};
    const double c[2] = {0.5, -1.5};
    ok(diff(e->combine(e, ea, c, 2), t->combine(t, ta, c, 2)) < TOL, "combine");
    /* concat of a view and an input: the columns of each, side by side, exactly */
    varia_v *ecat = e->concat(e, emu, elv), *tcat = t->concat(t, tmu, tlv);
    ok(ecat->cols == 6 && diff(ecat, tcat) == 0.0 && ecat->f[3] == lvx[0] && ecat->f[1] == x[2] &&
           ecat->f[6 + 4] == lvx[3 + 1],
       "concat: [a view of x, log-variances] on both backends, bit for bit");
    /* reshape: [4, 6] read as [8, 3], and a view (row stride D) as [2, 6] */
    varia_v *er = e->reshape(e, ecat, 8, 3), *tr = t->reshape(t, tcat, 8, 3);
    varia_v *erv = e->reshape(e, emu, 2, 6), *trv = t->reshape(t, tmu, 2, 6);
    ok(er->rows == 8 && diff(er, tr) == 0.0 && er->f[3] == ecat->f[3] && er->f[7 * 3 + 2] == ecat->f[3 * 6 + 5] &&
           diff(erv, trv) == 0.0 && erv->f[3] == x[D + 1] && erv->f[6 + 5] == x[3 * D + 3],
       "reshape: a contiguous value and a view, row after row, bit for bit on both");
    float rth[6] = {1, 2, 3, 4, 5, 6}, rg[6] = {0}, rseed[6] = {0.5f, -1, 2, 0, 3, -4};
    tr_node *rp = tr_param(p.tape, 2, 3, rth, rg), *rq = tr_reshape(p.tape, rp, 3, 2);
    tr_seed(p.tape, rq, rseed);
    tr_backward(p.tape);
    ok(rq->rows == 3 && rq->v[5] == 6.0f && !memcmp(rg, rseed, sizeof rg),
       "reshape's gradient flows back to the same elements");
    for (int a = 0; a <= VARIA_ACT_SIGMOID; a++) {
        varia_act act = {(varia_act_kind)a, a == VARIA_ACT_LEAKY_RELU ? 0.1f : 1.0f};
        ok(diff(e->act(e, ex, act), t->act(t, tx, act)) == 0.0, "act %d: the same kernel on both, bit for bit", a);
    }
    varia_v *eu = e->normal_to_uniform(e, ex), *tu = t->normal_to_uniform(t, tx);
    ok(diff(eu, tu) == 0.0 && fabsf(eu->f[0] - erff(x[0] / sqrtf(2.0f))) < 1e-6f && fabsf(eu->f[5]) < 1.0f,
       "normal_to_uniform: erf(x / sqrt 2), bit for bit on both");
    varia_act sg = {VARIA_ACT_SIGMOID, 1.0f};
    varia_v *esg = e->act(e, emu, sg);
    ok(fabsf(esg->f[0] - 1.0f / (1.0f + expf(-x[1]))) < 1e-6f, "act sigmoid of a view matches 1 / (1 + e^-x)");
    /* dec1.out is the last linear slot: 4 -> 6, Bernoulli against 2 rows of data, kx = 2 */
    int out = p.md.decl.n_lin - 1;
    varia_v *eh = e->cols(e, ex, 0, 4), *th = t->cols(t, tx, 0, 4);
    varia_v *eb = e->input(e, 2, D, bin, D), *tb = t->input(t, 2, D, bin, D);
    double eb_err = diff(e->linear_bernoulli(e, eh, out, eb, 2), t->linear_bernoulli(t, th, out, tb, 2));
    ok(eb_err < TOL, "fused linear + Bernoulli (fractional data, kx = 2) (%.1e)", eb_err);
    ok(!p.e.failed && !tr_failed(p.tape), "neither backend ran out of room");
    pair_close(&p);
}


/* The flow ops (ops.h) on both backends from the same inputs: z [6, 3],
 * step parameters one row per 2 rows of z and one shared row, and the
 * MADE's add (broadcast kb = 2 and one row) and matmul. Both backends call
 * the same row functions (flow_rows.h), so f(z) and log|det| are asserted
 * bit-identical; add and matmul to float rounding. */
/* A log-density on both backends: exec's in double, the tape's in float.
 * 1 when each tape value is exec's value rounded to float, exactly. */
static int rounded_equal(varia_v *ev, varia_v *tv)
{
    const tr_node *n = tr_node_of(tv);
    if (!ev->d || ev->rows != n->rows || ev->cols != n->cols)
        return 0;
    for (int64_t r = 0; r < ev->rows; r++)
        for (int64_t c = 0; c < ev->cols; c++)
            if ((float)ev->d[r * ev->ld + c] != n->v[r * n->cols + c])
                return 0;
    return 1;
}

static void flow_ops(void)
{
    pair p;
    int good = pair_open(&p, ARCH1, 2);
    ok(good, "the tiny model opens on both backends (flow ops)");
    if (!good)
        return;
    varia_ops *e = &p.e.ops, *t = &p.t.ops;
    static float z[6 * 3], u[3 * 3], w[3 * 3], b[3], ah[3], bh[3], m[6 * 3], sv[6 * 3], wt[5 * 3];
    fill(z, 18, 11, -1.5, 1.5);
    fill(u, 9, 12, -1.0, 1.0);
    fill(w, 9, 13, -1.0, 1.0);
    fill(b, 3, 14, -0.5, 0.5);
    fill(ah, 3, 15, -1.0, 1.0);
    fill(bh, 3, 16, -2.0, 2.0);
    fill(m, 18, 17, -1.0, 1.0);
    fill(sv, 18, 18, -3.0, 3.0);
    fill(wt, 15, 19, -1.0, 1.0);
    for (int j = 0; j < 3; j++) /* row 0: w.u strongly negative, so uhat's correction is large */
        u[j] = -4.0f * w[j];
    varia_v *ez = e->input(e, 6, 3, z, 3), *tz = t->input(t, 6, 3, z, 3);
    double exact = 0.0, logdet = 0.0; /* the worst of the ops asserted bit-identical; of the log|det|s */
    for (int one = 0; one < 2; one++) {
        int64_t n = one ? 1 : 3, k = one ? 6 : 2;
        varia_v *eu = e->input(e, n, 3, u, 3), *tu = t->input(t, n, 3, u, 3);
        varia_v *ew = e->input(e, n, 3, w, 3), *tw = t->input(t, n, 3, w, 3);
        varia_v *eb = e->input(e, n, 1, b, 1), *tb = t->input(t, n, 1, b, 1);
        varia_v *ea = e->input(e, n, 1, ah, 1), *ta = t->input(t, n, 1, ah, 1);
        varia_v *ebh = e->input(e, n, 1, bh, 1), *tbh = t->input(t, n, 1, bh, 1);
        varia_v *euh = e->planar_uhat(e, eu, ew), *tuh = t->planar_uhat(t, tu, tw);
        double d[3] = {diff(euh, tuh), diff(e->planar(e, ez, euh, ew, eb, k), t->planar(t, tz, tuh, tw, tb, k)),
                       diff(e->radial(e, ez, eu, ea, ebh, k), t->radial(t, tz, tu, ta, tbh, k))};
        static const char *const names[3] = {"planar_uhat", "planar", "radial"};
        const char *how = one ? "one shared row" : "one row per 2 rows of z";
        for (int i = 0; i < 3; i++) {
            ok(d[i] == 0.0, "%s, parameters %s: bit-identical on both backends (%.1e)", names[i], how, d[i]);
            exact = fmax(exact, d[i]);
        }
        varia_v *epl = e->planar_logdet(e, ez, euh, ew, eb, k), *tpl = t->planar_logdet(t, tz, tuh, tw, tb, k);
        varia_v *erl = e->radial_logdet(e, ez, eu, ea, ebh, k), *trl = t->radial_logdet(t, tz, tu, ta, tbh, k);
        logdet = fmax(logdet, fmax(diff(epl, tpl), diff(erl, trl)));
        ok(rounded_equal(epl, tpl) && rounded_equal(erl, trl),
           "planar_logdet and radial_logdet, parameters %s: the tape's float is exec's double rounded (%.1e, %.1e)",
           how, diff(epl, tpl), diff(erl, trl));
    }
    varia_v *em = e->input(e, 6, 3, m, 3), *tm = t->input(t, 6, 3, m, 3);
    varia_v *es = e->input(e, 6, 3, sv, 3), *ts = t->input(t, 6, 3, sv, 3);
    double di = diff(e->iaf(e, ez, em, es), t->iaf(t, tz, tm, ts));
    ok(di == 0.0, "iaf: bit-identical (%.1e)", di);
    varia_v *eil = e->iaf_logdet(e, es), *til = t->iaf_logdet(t, ts);
    double dl = diff(eil, til);
    ok(rounded_equal(eil, til), "iaf_logdet: the tape's float is exec's double rounded (%.1e)", dl);
    exact = fmax(exact, di);
    logdet = fmax(logdet, dl);
    varia_v *ew3 = e->input(e, 3, 3, w, 3), *tw3 = t->input(t, 3, 3, w, 3);
    varia_v *ew1 = e->input(e, 1, 3, w, 3), *tw1 = t->input(t, 1, 3, w, 3);
    varia_act sp = {VARIA_ACT_SOFTPLUS, 1.0f}, id = {VARIA_ACT_IDENTITY, 0.0f};
    double da = fmax(diff(e->add(e, ez, ew3, 2, sp), t->add(t, tz, tw3, 2, sp)),
                     diff(e->add(e, ez, ew1, 1, id), t->add(t, tz, tw1, 1, id)));
    ok(da < TOL, "add (b per 2 rows + softplus; one row + identity) (%.1e)", da);
    varia_v *eW = e->input(e, 5, 3, wt, 3), *tW = t->input(t, 5, 3, wt, 3);
    double dm = diff(e->matmul(e, ez, eW), t->matmul(t, tz, tW));
    ok(dm < TOL, "matmul [6, 3] x [5, 3]^T (%.1e)", dm);
    printf("# flow ops: worst exec - tape %.1e (steps), %.1e (log|det|), %.1e (add), %.1e (matmul)\n", exact, logdet,
           da, dm);
    ok(!p.e.failed && !tr_failed(p.tape), "neither backend ran out of room (flow ops)");
    pair_close(&p);
}

/* ---- linear_cols: W [a, b]^T as W_a a + W_b b ---- */

/* 70 inputs, then 40 and 36 wide: slot 0 is 70 -> 40 (three input panels
 * of the packed transpose), slot 1 is 40 -> 36 (two output panels). */
static const char *const ARCH_WIDE =
    "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
    " \"layers\": [{\"latent\": 3, \"encoder\": [40, 36], \"decoder\": [4]}]}";

enum { WIDE = 70, EXAMPLES = 2, KB = 2 };

/* relu(W [a, b]^T + bias) of slot 1 at split `off` (a = h's columns [0,
 * off), b = the rest), h = tanh(x W0^T + b0) of slot 0 over x: a from the
 * EXAMPLES rows of xe, broadcast to KB rows each; b from the particles' rows
 * of xp. split: by linear_cols and add's broadcast; else over the concat of
 * a broadcast copy of a and b, as the VRNN's passes did. */
static varia_v *joint_pass(varia_ops *o, varia_v *xe, varia_v *xp, int64_t off, int split)
{
    const varia_act th = {VARIA_ACT_TANH, 0.0f}, relu = {VARIA_ACT_RELU, 0.0f}, id = {VARIA_ACT_IDENTITY, 0.0f};
    static const float zeros[EXAMPLES * KB * 40];
    varia_v *a = o->cols(o, o->linear(o, xe, 0, th), 0, off), *b = o->cols(o, o->linear(o, xp, 0, th), off, 40 - off);
    if (split)
        return o->add(o, o->linear_cols(o, b, 1, off, 40 - off, 1), o->linear_cols(o, a, 1, 0, off, 0), KB, relu);
    varia_v *ak = o->add(o, o->input(o, EXAMPLES * KB, off, zeros, 0), a, KB, id);
    return o->linear(o, o->concat(o, ak, b), 1, relu);
}

/* The float tape's gradient of sum(c * joint_pass) into g[P] (the weights'). */
static void joint_grad(pair *p, const float *xe, const float *xp, int64_t off, int split, const float *c, float *g)
{
    tr_reset(p->tape);
    tr_ops_begin(&p->t, p->tape, &p->md.decl, p->lins, p->md.off, p->theta, p->grad);
    varia_ops *t = &p->t.ops;
    memset(p->grad, 0, (size_t)p->md.P * sizeof(float));
    varia_v *y = joint_pass(t, t->input(t, EXAMPLES, WIDE, xe, WIDE), t->input(t, EXAMPLES * KB, WIDE, xp, WIDE), off,
                            split);
    tr_seed(p->tape, tr_node_of(y), c);
    tr_backward(p->tape);
    memcpy(g, p->grad, (size_t)p->md.P * sizeof(float));
}

/* linear_cols on both backends (with and without the bias, of a view, at
 * offsets inside and past the first panel), and W_a a + W_b b against the
 * product over [a, b]: values on exec and the tape, and the float tape's
 * gradients of the weights (the input gradient reaches slot 0's). */
static void lincols_ops(void)
{
    pair p;
    int good = pair_open_shape(&p, ARCH_WIDE, 5, (varia_shape){1, {WIDE}});
    ok(good, "a model with a 70 -> 40 -> 36 encoder opens on both backends");
    if (!good)
        return;
    static float xe[EXAMPLES * WIDE], xp[EXAMPLES * KB * WIDE], c[EXAMPLES * KB * 36];
    fill(xe, EXAMPLES * WIDE, 20, -1.0, 1.0);
    fill(xp, EXAMPLES * KB * WIDE, 21, -1.0, 1.0);
    fill(c, EXAMPLES * KB * 36, 22, -1.0, 1.0);
    varia_ops *e = &p.e.ops, *t = &p.t.ops;
    varia_v *ex = e->input(e, EXAMPLES * KB, WIDE, xp, WIDE), *tx = t->input(t, EXAMPLES * KB, WIDE, xp, WIDE);
    double d = 0.0;
    for (int64_t off = 0; off < WIDE; off += 37)
        for (int bias = 0; bias < 2; bias++)
            d = fmax(d, diff(e->linear_cols(e, e->cols(e, ex, off, WIDE - off - 1), 0, off, WIDE - off - 1, bias),
                             t->linear_cols(t, t->cols(t, tx, off, WIDE - off - 1), 0, off, WIDE - off - 1, bias)));
    ok(d < TOL, "linear_cols of a view, columns [0, 69) and [37, 69), with and without the bias (%.1e)", d);
    float *g1 = malloc((size_t)p.md.P * sizeof(float)), *g2 = malloc((size_t)p.md.P * sizeof(float));
    for (int64_t off = 13; g1 && g2 && off < 40; off += 20) {
        varia_v *exe = e->input(e, EXAMPLES, WIDE, xe, WIDE), *txe = t->input(t, EXAMPLES, WIDE, xe, WIDE);
        varia_v *ey = joint_pass(e, exe, ex, off, 1), *ty = joint_pass(t, txe, tx, off, 1);
        double dv = fmax(diff(ey, ty), diff(ey, joint_pass(t, txe, tx, off, 0)));
        joint_grad(&p, xe, xp, off, 1, c, g1);
        joint_grad(&p, xe, xp, off, 0, c, g2);
        tx = t->input(t, EXAMPLES * KB, WIDE, xp, WIDE); /* joint_grad reset the tape */
        double dg = 0.0;
        for (int64_t i = 0; i < p.md.P; i++)
            dg = fmax(dg, fabs(g1[i] - g2[i]) / fmax(1.0, fabs(g2[i])));
        ok(dv < TOL && dg < TOL, "W_a a + W_b b (a shared by %d rows, split at %lld of 40) = W [a, b]: values on "
           "exec and the tape (%.1e), the tape's weight gradients (%.1e)", KB, (long long)off, dv, dg);
    }
    ok(g1 && g2 && !p.e.failed && !tr_failed(p.tape), "neither backend ran out of room (linear_cols)");
    free(g1);
    free(g2);
    pair_close(&p);
}

/* ---- the family's passes ---- */

static const char *const ARCHS[][2] = {
    {"1 layer, Bernoulli, tanh", NULL},
    {"2 layers, Bernoulli, softplus, log_std",
     "{\"activation\": \"softplus\", \"posterior_scale\": \"log_std\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"layers\": [{\"latent\": 4, \"encoder\": [5], \"decoder\": [5]}, {\"latent\": 2, \"encoder\": [3],"
     " \"decoder\": []}]}"},
    {"1 layer, Gaussian fixed variance, relu",
     "{\"activation\": \"relu\", \"likelihood\": {\"type\": \"gaussian\", \"variance\": \"fixed\", \"log_var\": -0.7},"
     " \"layers\": [{\"latent\": 2, \"encoder\": [], \"decoder\": [4]}]}"},
    {"1 layer, Gaussian learned variance, elu",
     "{\"activation\": \"elu\", \"likelihood\": {\"type\": \"gaussian\", \"variance\": \"learned\"},"
     " \"layers\": [{\"latent\": 3, \"encoder\": [4, 4], \"decoder\": [4]}]}"},
    {"2 layers, Gaussian decoder variance, log_std, sigmoid",
     "{\"activation\": \"sigmoid\", \"posterior_scale\": \"log_std\", \"likelihood\": {\"type\": \"gaussian\","
     " \"variance\": \"decoder\"}, \"layers\": [{\"latent\": 3, \"encoder\": [4], \"decoder\": [4]},"
     " {\"latent\": 2, \"encoder\": [], \"decoder\": [3]}]}"},
    /* flow posteriors: every type, amortized and global, IAF with and without context */
    {"planar amortized K 4",
     "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"flow\": {\"type\": \"planar\", \"steps\": 4, \"params\": \"amortized\"},"
     " \"layers\": [{\"latent\": 3, \"encoder\": [5], \"decoder\": [4]}]}"},
    {"planar global K 3, 2 layers",
     "{\"activation\": \"softplus\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"flow\": {\"type\": \"planar\", \"steps\": 3, \"params\": \"global\"},"
     " \"layers\": [{\"latent\": 4, \"encoder\": [5], \"decoder\": [5]}, {\"latent\": 2, \"encoder\": [3],"
     " \"decoder\": []}]}"},
    {"radial global K 3",
     "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"flow\": {\"type\": \"radial\", \"steps\": 3, \"params\": \"global\"},"
     " \"layers\": [{\"latent\": 3, \"encoder\": [5], \"decoder\": [4]}]}"},
    {"radial amortized K 2, Gaussian learned variance",
     "{\"activation\": \"elu\", \"likelihood\": {\"type\": \"gaussian\", \"variance\": \"learned\"},"
     " \"flow\": {\"type\": \"radial\", \"steps\": 2, \"params\": \"amortized\"},"
     " \"layers\": [{\"latent\": 3, \"encoder\": [4], \"decoder\": [4]}]}"},
    {"IAF K 2 with context 3, MADE [5, 4], ordering",
     "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"flow\": {\"type\": \"iaf\", \"steps\": 2, \"hidden\": [5, 4], \"context\": 3, \"ordering\": [2, 0, 1]},"
     " \"layers\": [{\"latent\": 3, \"encoder\": [5], \"decoder\": [4]}]}"},
    {"IAF K 3 without context, relu MADE",
     "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"flow\": {\"type\": \"iaf\", \"steps\": 3, \"hidden\": [6], \"activation\": \"relu\"},"
     " \"layers\": [{\"latent\": 3, \"encoder\": [5], \"decoder\": [4]}]}"},
    {"IAF K 2 with context 2, 2 layers",
     "{\"activation\": \"softplus\", \"likelihood\": {\"type\": \"bernoulli\"},"
     " \"flow\": {\"type\": \"iaf\", \"steps\": 2, \"hidden\": [4], \"context\": 2},"
     " \"layers\": [{\"latent\": 4, \"encoder\": [5], \"decoder\": [5]}, {\"latent\": 3, \"encoder\": [4],"
     " \"decoder\": [3]}]}"},
};

/* The worst disagreement over every pass of one architecture. */
static double passes(pair *p, const char *what)
{
    const varia_family *f = p->md.family;
    varia_ops *e = &p->e.ops, *t = &p->t.ops;
    int64_t E = p->md.noise, L = p->m->info.latent_size, Dx = p->dx;
    static float x[2 * 64], eps[6 * 16], z[2 * 16];
    fill(x, (int)(2 * Dx), 5, 0.0, 1.0);
    fill(eps, (int)(6 * E), 6, -2.0, 2.0);
    fill(z, (int)(2 * L), 7, -1.5, 1.5);
    varia_v *ex = e->input(e, 2, Dx, x, Dx), *tx = t->input(t, 2, Dx, x, Dx);
    varia_v *ee = e->input(e, 6, E, eps, E), *te = t->input(t, 6, E, eps, E);
    varia_terms et = {0}, tt = {0};
    f->terms(p->md.cfg, e, ex, 3, ee, &et);
    f->terms(p->md.cfg, t, tx, 3, te, &tt);
    double w = fmax(fmax(diff(et.log_px, tt.log_px), diff(et.log_pz, tt.log_pz)), diff(et.log_qz, tt.log_qz));
    if (!et.kl_dims != !tt.kl_dims || (et.kl_dims && diff(et.kl_dims, tt.kl_dims) > w))
        w = et.kl_dims && tt.kl_dims ? diff(et.kl_dims, tt.kl_dims) : 1e9;
    varia_v *a, *b, *c, *d;
    f->encode(p->md.cfg, e, ex, &a, &b);
    f->encode(p->md.cfg, t, tx, &c, &d);
    w = fmax(w, fmax(diff(a, c), diff(b, d)));
    f->posterior_sample(p->md.cfg, e, ex, ee, &a, &b);
    f->posterior_sample(p->md.cfg, t, tx, te, &c, &d);
    w = fmax(w, fmax(diff(a, c), diff(b, d)));
    varia_v *ez = e->input(e, 2, L, z, L), *tz = t->input(t, 2, L, z, L);
    for (int kind = 0; kind < 2; kind++) {
        f->decode(p->md.cfg, e, ez, (varia_decode_kind)kind, &a, &b);
        f->decode(p->md.cfg, t, tz, (varia_decode_kind)kind, &c, &d);
        w = fmax(w, fmax(diff(a, c), b || d ? (b && d ? diff(b, d) : 1e9) : 0.0));
    }
    f->generate(p->md.cfg, e, ee, 0.6f, &a, &b);
    f->generate(p->md.cfg, t, te, 0.6f, &c, &d);
    w = fmax(w, fmax(diff(a, c), diff(b, d)));
    varia_v *em[VARIA_MAX_LAYERS], *tm[VARIA_MAX_LAYERS];
    f->layer_means(p->md.cfg, e, ex, em);
    f->layer_means(p->md.cfg, t, tx, tm);
    for (int l = 0; l < p->m->info.n_stochastic; l++)
        w = fmax(w, diff(em[l], tm[l]));
    if (p->e.failed || tr_failed(p->tape))
        w = 1e9;
    (void)what;
    return w;
}

static void family_passes(void)
{
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++) {
        pair p;
        int good = pair_open(&p, ARCHS[i][1] ? ARCHS[i][1] : ARCH1, 20 + i);
        ok(good, "%s: opens on both backends", ARCHS[i][0]);
        if (!good)
            continue;
        double w = passes(&p, ARCHS[i][0]);
        ok(w < TOL, "%s: terms, encode, posterior sample, decode (mean, params), generate, layer means agree "
           "(worst %.1e)", ARCHS[i][0], w);
        pair_close(&p);
    }
}

/* Conv architectures on C x H x W data: odd sizes, stride 2, padding, output
 * padding, non-square kernels and strides, a dense layer between. */
static const char *const CONV_ARCHS[][2] = {
    {"conv encoder, transposed-conv decoder, Bernoulli (1x5x5)",
     "{\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 3,"
     " \"encoder_net\": [{\"type\": \"conv\", \"out\": 3, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
     " \"activation\": \"tanh\"}],"
     " \"decoder_net\": [{\"type\": \"dense\", \"out\": 12, \"activation\": \"tanh\"},"
     " {\"type\": \"reshape\", \"shape\": [3, 2, 2]},"
     " {\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 3, \"stride\": 2}]}]}"},
    {"two convs, flatten, dense; dense, transposed conv, conv; Gaussian learned variance (1x5x5)",
     "{\"likelihood\": {\"type\": \"gaussian\", \"variance\": \"learned\"}, \"layers\": [{\"latent\": 2,"
     " \"encoder_net\": [{\"type\": \"conv\", \"out\": 2, \"kernel\": [3, 2], \"stride\": [2, 1],"
     " \"padding\": [1, 0]}, {\"type\": \"activation\", \"activation\": \"elu\"},"
     " {\"type\": \"conv\", \"out\": 3, \"kernel\": 2, \"activation\": \"softplus\"},"
     " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"out\": 6, \"activation\": \"tanh\"}],"
     " \"decoder_net\": [{\"type\": \"dense\", \"out\": 18}, {\"type\": \"reshape\", \"shape\": [2, 3, 3]},"
     " {\"type\": \"conv_transpose\", \"out\": 2, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
     " \"output_padding\": 1, \"activation\": \"tanh\"},"
     " {\"type\": \"conv\", \"out\": 1, \"kernel\": 2}]}]}"},
    {"two stochastic layers, the bottom one conv (1x5x5)",
     "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 4,"
     " \"encoder_net\": [{\"type\": \"conv\", \"out\": 2, \"kernel\": 3, \"stride\": 2,"
     " \"activation\": \"relu\"}],"
     " \"decoder_net\": [{\"type\": \"dense\", \"out\": 8, \"activation\": \"relu\"},"
     " {\"type\": \"reshape\", \"shape\": [2, 2, 2]},"
     " {\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 3, \"stride\": 2}]},"
     " {\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]}"},
    {"a planar amortized flow reading a conv encoder's output (1x5x5)",
     "{\"likelihood\": {\"type\": \"bernoulli\"}, \"flow\": {\"type\": \"planar\", \"steps\": 2,"
     " \"params\": \"amortized\"}, \"layers\": [{\"latent\": 3,"
     " \"encoder_net\": [{\"type\": \"conv\", \"out\": 2, \"kernel\": 3, \"stride\": 2, \"activation\": \"tanh\"}],"
     " \"decoder\": [6]}]}"},
};

static void conv_passes(void)
{
    for (size_t i = 0; i < sizeof CONV_ARCHS / sizeof CONV_ARCHS[0]; i++) {
        pair p;
        int good = pair_open_shape(&p, CONV_ARCHS[i][1], 40 + i, (varia_shape){3, {1, 5, 5}});
        ok(good, "%s: opens on both backends", CONV_ARCHS[i][0]);
        if (!good)
            continue;
        double w = passes(&p, CONV_ARCHS[i][0]);
        ok(w < TOL, "%s: every pass agrees (worst %.1e)", CONV_ARCHS[i][0], w);
        pair_close(&p);
    }
}

/* The ops alone on a batch of 50 28x28 examples: exec runs them in chunks
 * (the conv in blocks of 9039 im2col rows, which straddle examples; the
 * transposed conv 41 examples at a time), the tape in one go; no output may
 * depend on the chunking. */
static void conv_chunks(void)
{
    pair p;
    int good = pair_open_shape(&p, "{\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 2,"
                               " \"encoder_net\": [{\"type\": \"conv\", \"out\": 4, \"kernel\": 5, \"padding\": 2}],"
                               " \"decoder_net\": [{\"type\": \"dense\", \"out\": 3136}, {\"type\": \"reshape\","
                               " \"shape\": [16, 14, 14]}, {\"type\": \"conv_transpose\", \"out\": 1, \"kernel\": 4,"
                               " \"stride\": 2, \"padding\": 1}]}]}", 50, (varia_shape){3, {1, 28, 28}});
    ok(good, "a 28x28 conv model opens on both backends");
    if (!good)
        return;
    varia_conv cg = {0, 1, 28, 28, 4, 0, 0, 5, 5, 1, 1, 2, 2, 0, 0}, tg = {1, 16, 14, 14, 1, 0, 0, 4, 4, 2, 2, 1, 1, 0, 0};
    const char *why;
    good = varia_conv_resolve(&cg, &why) && varia_conv_resolve(&tg, &why);
    static float x[50 * 3136];
    fill(x, 50 * 3136, 51, -1.0, 1.0);
    varia_ops *e = &p.e.ops, *t = &p.t.ops;
    const varia_act act = {VARIA_ACT_TANH, 0.0f}, lr = {VARIA_ACT_LEAKY_RELU, 0.2f};
    double a = diff(e->conv2d(e, e->input(e, 50, 784, x, 784), 0, &cg, act),
                    t->conv2d(t, t->input(t, 50, 784, x, 784), 0, &cg, act));
    ok(good && a < TOL, "conv2d 1x28x28 -> 4, kernel 5, padding 2, tanh, 50 rows in chunks (%.1e)", a);
    double b = diff(e->conv_transpose2d(e, e->input(e, 50, 3136, x, 3136), 4, &tg, lr),
                    t->conv_transpose2d(t, t->input(t, 50, 3136, x, 3136), 4, &tg, lr));
    ok(good && b < TOL, "conv_transpose2d 16x14x14 -> 1, kernel 4, stride 2, padding 1, leaky relu, 50 rows (%.1e)", b);
    ok(!p.e.failed && !tr_failed(p.tape), "neither backend ran out of room");
    pair_close(&p);
}

/* ---- the exec convolutions against their definition ---- */

static double ref_act(varia_act a, double v)
{
    return a.kind == VARIA_ACT_RELU ? (v > 0.0 ? v : 0.0) : a.kind == VARIA_ACT_TANH ? tanh(v) : v;
}

/* Worst |got - want| / (1 + the sum of |terms|) over `rows` examples of a
 * conv (transposed or not) of geometry g with the stored weight w (conv:
 * [cout, cin, kh, kw]; transposed: [cin, cout, kh, kw], PyTorch's layouts)
 * and bias b, the output computed here from the definition in double: input
 * pixel (iy, ix) meets output pixel (oy, ox) through tap (ky, kx) where, for
 * the conv, iy = oy sh - ph + ky, and for the transposed conv, oy = iy sh -
 * ph + ky (the same with x). want and mag are scratch of rows * cout * oh *
 * ow doubles. */
static double conv_error(const varia_conv *g, const float *w, const float *b, const float *x, int64_t rows,
                         varia_act act, const varia_v *got, double *want, double *mag)
{
    int64_t OP = g->oh * g->ow, HW = g->h * g->w, kk = g->kh * g->kw;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t co = 0; co < g->cout; co++)
            for (int64_t j = 0; j < OP; j++) {
                want[(r * g->cout + co) * OP + j] = b[co];
                mag[(r * g->cout + co) * OP + j] = fabs(b[co]);
            }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ci = 0; ci < g->cin; ci++)
            for (int64_t co = 0; co < g->cout; co++)
                for (int64_t t = 0; t < kk; t++) {
                    int64_t ky = t / g->kw, kx = t % g->kw;
                    double wt = g->transposed ? w[(ci * g->cout + co) * kk + t] : w[(co * g->cin + ci) * kk + t];
                    for (int64_t a = 0; a < (g->transposed ? g->h : g->oh); a++)
                        for (int64_t c = 0; c < (g->transposed ? g->w : g->ow); c++) {
                            int64_t u = a * g->sh - g->ph + ky, v = c * g->sw - g->pw + kx; /* the other side */
                            int64_t lim_u = g->transposed ? g->oh : g->h, lim_v = g->transposed ? g->ow : g->w;
                            if (u < 0 || u >= lim_u || v < 0 || v >= lim_v)
                                continue;
                            int64_t in = g->transposed ? a * g->w + c : u * g->w + v;
                            int64_t out = g->transposed ? u * g->ow + v : a * g->ow + c;
                            double term = wt * x[(r * g->cin + ci) * HW + in];
                            want[(r * g->cout + co) * OP + out] += term;
                            mag[(r * g->cout + co) * OP + out] += fabs(term);
                        }
                }
    double worst = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < g->cout * OP; j++) {
            double e = fabs(got->f[r * got->ld + j] - ref_act(act, want[r * g->cout * OP + j])) /
                       (1.0 + mag[r * g->cout * OP + j]);
            worst = isnan(e) ? 1e9 : fmax(worst, e);
        }
    return worst;
}

/* Model c1 -> c2 -> c1 channels with kernel k: its conv slot (c1 -> c2) and
 * transposed-conv slot (c2 -> c1) run on geometries the model was not built
 * for (the ops take the geometry; the weight fixes only channels and kernel):
 * odd sizes, strides 1 to 3, padding, output padding, 1 to 17 rows (each row
 * count on a geometry in turn), against the definition; and with a pool of
 * two workers bit for bit as alone. */
static void conv_reference_model(int c1, int c2, int k, varia_pool *pool)
{
    char arch[1024];
    snprintf(arch, sizeof arch, "{\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": [{\"latent\": 2,"
             " \"encoder_net\": [{\"type\": \"conv\", \"out\": %d, \"kernel\": %d, \"activation\": \"tanh\"}],"
             " \"decoder_net\": [{\"type\": \"dense\", \"out\": %d}, {\"type\": \"reshape\", \"shape\": [%d, 3, 3]},"
             " {\"type\": \"conv_transpose\", \"out\": %d, \"kernel\": %d}]}]}", c2, k, 9 * c2, c2, c1, k);
    pair p;
    int good = pair_open_shape(&p, arch, 60 + (uint64_t)c1, (varia_shape){3, {c1, k + 2, k + 2}});
    ok(good, "model %d -> %d -> %d channels, kernel %d: opens", c1, c2, c1, k);
    if (!good)
        return;
    /* h, w, sh, sw, ph, pw, oph, opw (output padding: the transposed conv
     * only; padding -1: k / 2, which makes the 1-pixel-high input valid for
     * both ops whatever the kernel) */
    static const int geo[][8] = {{5, 5, 1, 1, 0, 0, 0, 0}, {4, 4, 2, 2, 2, 2, 0, 0}, {7, 7, 2, 2, 2, 2, 1, 1},
                                 {3, 5, 2, 1, 1, 0, 1, 0}, {6, 3, 3, 2, 1, 1, 2, 1}, {1, 2, 2, 2, -1, -1, 1, 1}};
    enum { NG = sizeof geo / sizeof geo[0], CAP = 17 * 33 * 15 * 15 };
    static float x[CAP], y1[CAP];
    static double want[CAP], mag[CAP];
    const varia_act acts[] = {{VARIA_ACT_RELU, 0}, {VARIA_ACT_TANH, 0}, {VARIA_ACT_IDENTITY, 0}};
    for (int transposed = 0; transposed < 2; transposed++) {
        int slot = -1;
        for (int i = 0; i < p.md.decl.n_lin; i++)
            if (p.md.decl.lin[i].kind == (transposed ? VARIA_SLOT_CONV_T : VARIA_SLOT_CONV))
                slot = i;
        const varia_decl_linear *l = &p.md.decl.lin[slot];
        const float *w = p.theta + p.md.off[l->weight], *b = p.theta + p.md.off[l->bias];
        double worst = 0.0;
        int cases = 0, same = 1;
        for (int rows = 1; rows <= 17; rows++) {
            const int *q = geo[rows % NG];
            varia_conv g = {transposed, transposed ? c2 : c1, q[0], q[1], transposed ? c1 : c2, 0, 0, k, k,
                            q[2], q[3], q[4] < 0 ? k / 2 : q[4], q[5] < 0 ? k / 2 : q[5], transposed ? q[6] : 0,
                            transposed ? q[7] : 0};
            const char *why;
            if (!varia_conv_resolve(&g, &why) || rows * g.cout * g.oh * g.ow > CAP || rows * g.cin * g.h * g.w > CAP) {
                ok(0, "geometry %d of the test is valid and fits", rows % NG);
                continue;
            }
            int64_t in = g.cin * g.h * g.w, out = g.cout * g.oh * g.ow;
            fill(x, (int)(rows * in), 70 + (uint64_t)rows, -1.0, 1.0);
            varia_act act = acts[rows % 3];
            for (int team = 0; team < 2; team++) {
                varia_exec_begin_sized(&p.e, p.m, p.ws, PAIR_WS_VALS, PAIR_WS_FLOATS, team ? pool : NULL);
                varia_ops *e = &p.e.ops;
                varia_v *xv = e->input(e, rows, in, x, in);
                varia_v *y = transposed ? e->conv_transpose2d(e, xv, slot, &g, act) : e->conv2d(e, xv, slot, &g, act);
                if (p.e.failed || !y->f) {
                    same = 0;
                    continue;
                }
                if (!team) {
                    worst = fmax(worst, conv_error(&g, w, b, x, rows, act, y, want, mag));
                    for (int64_t r = 0; r < rows; r++)
                        memcpy(y1 + r * out, y->f + r * y->ld, (size_t)out * sizeof(float));
                } else {
                    for (int64_t r = 0; r < rows; r++)
                        same &= !memcmp(y1 + r * out, y->f + r * y->ld, (size_t)out * sizeof(float));
                }
            }
            cases++;
        }
        ok(worst < 1e-6, "%s %d -> %d, kernel %d: %d geometries and row counts as defined (worst %.1e)",
           transposed ? "conv_transpose2d" : "conv2d", transposed ? c2 : c1, transposed ? c1 : c2, k, cases, worst);
        ok(same, "%s %d -> %d, kernel %d: two workers give one worker's bits", transposed ? "conv_transpose2d" : "conv2d",
           transposed ? c2 : c1, transposed ? c1 : c2, k);
    }
    pair_close(&p);
}

static void conv_reference(void)
{
    varia_pool *pool = varia_pool_new(2);
    static const int models[][3] = {{1, 16, 5}, {16, 24, 5}, {3, 17, 3}, {2, 5, 2}, {32, 33, 1}};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        conv_reference_model(models[i][0], models[i][1], models[i][2], pool);
    varia_pool_free(pool);
}

/* A latent as long as an example: whichever value takes the output's place
 * in the caller's buffer, sample's z and x come out right (x = decode(z)). */
static void placement(void)
{
    pair p;
    int good = pair_open(&p, "{\"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"},"
                             " \"layers\": [{\"latent\": 6, \"encoder\": [6], \"decoder\": [6]}]}", 30);
    ok(good, "a model whose latent is as long as its data opens");
    if (!good)
        return;
    varia_ctx *ctx = varia_ctx_new();
    float x[5 * D], z[5 * D], xd[5 * D];
    good = varia_sample(ctx, p.m, 5, 3, 0.9f, x, z) == VARIA_OK &&
           varia_decode(ctx, p.m, z, 5, VARIA_DECODE_MEAN, xd, NULL) == VARIA_OK;
    ok(good && !memcmp(x, xd, sizeof x), "sample's x is the decode of its z, bit for bit (latent 6, data 6)");
    varia_ctx_free(ctx);
    pair_close(&p);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/varia-ops-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("not ok 1 - a scratch directory\n");
        return 1;
    }
    single_ops();
    flow_ops();
    lincols_ops();
    family_passes();
    conv_passes();
    conv_chunks();
    conv_reference();
    placement();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}

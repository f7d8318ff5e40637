/* The VRNN family (Chung et al. 2015) and its two ablations: sequences of
 * frames x_1..T with a latent z_t per step, a learned conditional prior
 * p(z_t | h_{t-1}), an encoder q(z_t | x_t, h_{t-1}), a decoder p(x_t | z_t,
 * h_{t-1}) and one recurrent state h_t = RNN([phi_x(x_t), phi_z(z_t)],
 * h_{t-1}); VRNN-I fixes the prior to N(0, I); the RNN has no latent (x_t
 * from h_{t-1} alone); frames Bernoulli (logits), Gaussian (mean and a
 * softplus standard deviation) or a mixture of Gaussians. Equations: models.md section 4; the manifest and
 * tensor names: docs/format.md section 8. The call's seq_len and lengths
 * come on the ops (docs/families.md 6); every pass is one loop over the
 * steps with step scoping, and its T-long outputs are emitted step by step,
 * so a pass's workspace does not grow with T. */
#include "../family.h"
#include "../blocks/mlp.h"
#include "../blocks/rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH_CAP 16384
#define COMPONENTS_CAP 64 /* GMM_K_MAX of gmm_rows.h */
#define FRAME_CAP 65536

enum { VRNN, VRNN_I, RNN };

typedef struct vrnn {
    int variant;
    int64_t F, L, H;   /* frame, latent per step (0: RNN), recurrent state */
    int64_t Fx, Fz;    /* the feature maps' widths (Fz 0: RNN) */
    float floor;       /* added to every softplus standard deviation */
    int gauss;         /* frames Gaussian (decoder.mean, decoder.std) rather than Bernoulli (decoder.logits) */
    int64_t K;         /* > 0: a mixture of K Gaussians (decoder.mean, .std [K F], decoder.weights [K]) */
    int weights;       /* the mixture weights' linear slot */
    varia_mlp phi_x, phi_z, prior, enc, dec; /* features: hidden layers + .mean as the last layer, act on it */
    varia_cell rnn;
    float *zeros;      /* [max(H, Fx) + 1]: zero initial states, zero terms (read with ld 0) */
} vrnn;

static const varia_act IDENTITY = {VARIA_ACT_IDENTITY, 0.0f};

static void vrnn_free(void *cfg)
{
    vrnn *v = cfg;
    if (v)
        free(v->zeros);
    free(v);
}

/* ---- one step's parts ---- */

/* Standard normals of one step: L for z_t, then F for x_t's draw (and one
 * more for a mixture's component). */
static int64_t step_noise(const vrnn *v)
{
    return v->L + v->F + (v->K ? 1 : 0);
}

/* A feature map: every layer, the last included, with the activation. */
static varia_v *feature(varia_ops *o, const varia_mlp *g, varia_v *x)
{
    return o->linear(o, varia_mlp_hidden(o, g, x), g->mean, g->act);
}

/* A Gaussian head of g over in: the mean and the log-variance of the
 * standard deviation softplus(.) + floor. */
static void gauss(const vrnn *v, varia_ops *o, const varia_mlp *g, varia_v *in, varia_v **mu, varia_v **lv)
{
    varia_v *h = varia_mlp_hidden(o, g, in);
    *mu = o->linear(o, h, g->mean, IDENTITY);
    *lv = o->softplus_logvar(o, o->linear(o, h, g->scale, IDENTITY), v->floor);
}

/* act(W [a, b]^T + bias) of linear slot `slot` over a (na columns, row r /
 * ka: an example's, shared by its ka particles) beside b (nb columns, per
 * row), as W_a a + (W_b b + bias): a's product once per example rather than
 * once per particle, joined by add's broadcast. The sum's order differs from
 * the product over [a, b] (float rounding, not the value). */
static varia_v *joint(varia_ops *o, int slot, varia_v *a, int64_t ka, int64_t na, varia_v *b, int64_t nb, varia_act act)
{
    varia_v *pb = o->linear_cols(o, b, slot, na, nb, 1);
    return o->add(o, pb, o->linear_cols(o, a, slot, 0, na, 0), ka, act);
}

/* The encoder's Gaussian over [fx, h] with fx's row r / kx: over the concat
 * when nothing is shared (kx 1), else with its first layer (the heads, for
 * an encoder without hidden layers) split by joint. */
static void encoder(const vrnn *v, varia_ops *o, varia_v *fx, int64_t kx, varia_v *h, varia_v **mu, varia_v **lv)
{
    const varia_mlp *g = &v->enc;
    if (kx == 1) {
        gauss(v, o, g, o->concat(o, fx, h), mu, lv);
        return;
    }
    if (!g->n_hidden) {
        *mu = joint(o, g->mean, fx, kx, v->Fx, h, v->H, IDENTITY);
        *lv = o->softplus_logvar(o, joint(o, g->scale, fx, kx, v->Fx, h, v->H, IDENTITY), v->floor);
        return;
    }
    varia_v *x = joint(o, g->hidden[0], fx, kx, v->Fx, h, v->H, g->act);
    for (int i = 1; i < g->n_hidden; i++)
        x = o->linear(o, x, g->hidden[i], g->act);
    *mu = o->linear(o, x, g->mean, IDENTITY);
    *lv = o->softplus_logvar(o, o->linear(o, x, g->scale, IDENTITY), v->floor);
}

/* The recurrent state of a pass and the running per-row sums it keeps
 * (NULL until the first step adds to them). */
typedef struct state {
    varia_v *h, *c;
    varia_v *logq, *logp, *logpx, *kl; /* kl: per dimension, summed over the steps, [rows, L] */
} state;

/* *acc + v (*acc NULL: v itself). */
static void accumulate(varia_ops *o, varia_v **acc, varia_v *v)
{
    static const double one[2] = {1.0, 1.0};
    varia_v *parts[2] = {*acc, v};
    *acc = *acc ? o->combine(o, parts, one, 2) : v;
}

/* Close a step: all but the state and the running sums is released. */
static void end_step(varia_ops *o, varia_mark mark, state *s)
{
    varia_v **v[] = {&s->h, &s->c, &s->logq, &s->logp, &s->logpx, &s->kl};
    enum { N = sizeof v / sizeof v[0] };
    varia_v *carry[N];
    int n = 0, idx[N];
    for (int i = 0; i < N; i++)
        if (*v[i])
            idx[n] = i, carry[n++] = *v[i];
    o->step_end(o, mark, carry, n);
    for (int i = 0; i < n; i++)
        *v[idx[i]] = carry[i];
}

/* What a pass does at each step. */
typedef enum mode {
    M_TERMS,     /* x given, z_t from the noise: the log-weight terms */
    M_POSTERIOR, /* x given, z_t from the noise: emit z (out[0]), keep log q */
    M_ENCODE,    /* x given, z_t at the posterior mean: emit mean (out[0]) and log-variance (out[1]) */
    M_DECODE,    /* z given, x_t's mean fed back: emit E[x_t] or the likelihood's parameters (out[0], out[1]) */
    M_GENERATE   /* z_t and x_t drawn: emit x (out[0]) and z (out[1]) */
} mode;

/* One pass's arguments. */
typedef struct pass {
    mode mode;
    varia_v *x, *eps, *z; /* x [rows, T F]; eps [rows k, T (L + F)]; z [rows, T L] (M_DECODE) */
    int64_t k;            /* particles per example (M_TERMS) */
    float temp;
    int params;           /* M_DECODE: the parameters (logits; a Gaussian's means and log-variances) */
} pass;

/* z_t of step t for a pass given x: from the posterior q(z_t | x_t, h_{t-1})
 * (fx: phi_x(x_t), row r / kx), its terms added to s (M_TERMS; masked past
 * each example's length). */
static varia_v *infer(const vrnn *v, varia_ops *o, const pass *p, state *s, varia_v *fx, int64_t kx, int64_t t)
{
    int64_t E = step_noise(v);
    varia_v *mu, *lv;
    encoder(v, o, fx, kx, s->h, &mu, &lv);
    if (p->mode == M_ENCODE) {
        o->emit(o, 0, mu, t * v->L);
        o->emit(o, 1, lv, t * v->L);
        return mu;
    }
    varia_v *e_t = o->cols(o, p->eps, t * E, v->L), *z = o->reparam(o, mu, lv, 1, e_t, 1.0f);
    if (p->mode == M_POSTERIOR)
        o->emit(o, 0, z, t * v->L);
    accumulate(o, &s->logq, o->row_mask(o, o->logq_eps(o, lv, 1, e_t), o->lengths, p->k, t));
    if (p->mode != M_TERMS)
        return z;
    varia_v *lp, *kl;
    if (v->variant == VRNN_I) {
        lp = o->std_normal_logp(o, z);
        kl = o->gauss_kl(o, mu, lv);
    } else {
        varia_v *mu0, *lv0;
        gauss(v, o, &v->prior, s->h, &mu0, &lv0);
        lp = o->gauss_logp(o, z, 1, mu0, 1, lv0);
        kl = o->gauss_kl_to(o, mu, lv, mu0, lv0);
    }
    accumulate(o, &s->logp, o->row_mask(o, lp, o->lengths, p->k, t));
    accumulate(o, &s->kl, o->row_mask(o, kl, o->lengths, p->k, t));
    return z;
}

/* z_t of step t for a pass without x: given, or drawn from the prior. */
static varia_v *prior_z(const vrnn *v, varia_ops *o, const pass *p, state *s, int64_t t)
{
    if (p->mode == M_DECODE)
        return o->cols(o, p->z, t * v->L, v->L);
    varia_v *e_t = o->cols(o, p->eps, t * step_noise(v), v->L), *z;
    if (v->variant == VRNN_I) {
        z = o->scale(o, e_t, p->temp);
    } else {
        varia_v *mu0, *lv0;
        gauss(v, o, &v->prior, s->h, &mu0, &lv0);
        z = o->reparam(o, mu0, lv0, 1, e_t, p->temp);
    }
    o->emit(o, 1, z, t * v->L);
    return z;
}

/* The decoder's last hidden layer at step t, from phi_z(z_t) (NULL: the RNN) and h_{t-1}. */
static varia_v *decoder_in(const vrnn *v, varia_ops *o, varia_v *fz, varia_v *h)
{
    return varia_mlp_hidden(o, &v->dec, fz ? o->concat(o, fz, h) : h);
}

/* log p(x_t | .) per row (k rows per example of x_t) from the decoder's hidden dh. */
static varia_v *frame_logp(const vrnn *v, varia_ops *o, varia_v *dh, varia_v *x_t, int64_t k)
{
    if (!v->gauss)
        return o->linear_bernoulli(o, dh, v->dec.mean, x_t, k);
    varia_v *mu = o->linear(o, dh, v->dec.mean, IDENTITY);
    varia_v *lv = o->softplus_logvar(o, o->linear(o, dh, v->dec.scale, IDENTITY), v->floor);
    if (v->K)
        return o->gmm_logp(o, x_t, k, o->linear(o, dh, v->weights, IDENTITY), mu, lv);
    return o->gauss_logp(o, x_t, k, mu, 1, lv);
}

/* A mixture's frame without x: drawn from noise e_x [rows, 1 + F], or its
 * mean (emitted, with the log of its variance for PARAMS). */
static varia_v *mixture_frame(const vrnn *v, varia_ops *o, const pass *p, varia_v *dh, varia_v *e_x, int64_t t)
{
    varia_v *w = o->linear(o, dh, v->weights, IDENTITY), *mu = o->linear(o, dh, v->dec.mean, IDENTITY);
    varia_v *lv = o->softplus_logvar(o, o->linear(o, dh, v->dec.scale, IDENTITY), v->floor), *x;
    x = e_x ? o->gmm_sample(o, w, mu, lv, e_x) : o->gmm_moment(o, w, mu, lv, 0);
    o->emit(o, 0, x, t * v->F);
    if (!e_x && p->params)
        o->emit(o, 1, o->gmm_moment(o, w, mu, lv, 1), t * v->F);
    return x;
}

/* Without x: x_t drawn (M_GENERATE: Bernoulli, or mean + sigma eps at full
 * variance) or its mean (M_DECODE), emitted; the frame fed back. PARAMS
 * emits the logits, or the mean and (out[1]) the log-variance. */
static varia_v *emit_frame(const vrnn *v, varia_ops *o, const pass *p, varia_v *dh, int64_t t)
{
    if (v->K)
        return mixture_frame(v, o, p, dh,
                             p->mode == M_GENERATE ? o->cols(o, p->eps, t * step_noise(v) + v->L, 1 + v->F) : NULL,
                             t);
    varia_v *a = o->linear(o, dh, v->dec.mean, IDENTITY), *x, *e_x = NULL;
    varia_v *lv = v->gauss ? o->softplus_logvar(o, o->linear(o, dh, v->dec.scale, IDENTITY), v->floor) : NULL;
    if (p->mode == M_GENERATE) {
        e_x = o->cols(o, p->eps, t * step_noise(v) + v->L, v->F);
        x = v->gauss ? o->reparam(o, a, lv, 1, e_x, 1.0f) : o->bernoulli_sample(o, a, e_x);
        o->emit(o, 0, x, t * v->F);
        return x;
    }
    x = v->gauss ? a : o->act(o, a, (varia_act){VARIA_ACT_SIGMOID, 0.0f});
    o->emit(o, 0, p->params ? a : x, t * v->F);
    if (p->params && lv)
        o->emit(o, 1, lv, t * v->F);
    return x;
}

/* One step: z_t, x_t's log-likelihood (with x) or x_t itself (without),
 * then h_t. rows: the pass's rows (examples times particles). */
static void step(const vrnn *v, varia_ops *o, const pass *p, state *s, int64_t rows, int64_t t)
{
    varia_v *x_t = p->x ? o->cols(o, p->x, t * v->F, v->F) : NULL, *fx = NULL, *z = NULL, *fz = NULL;
    int64_t kx = 1; /* fx's rows per example: p->k while it is shared by the particles */
    if (p->x) { /* phi_x once per example; the products over it once per example too (joint) */
        fx = feature(o, &v->phi_x, x_t);
        kx = p->k;
        if (kx > 1 && v->variant == RNN) /* its cell reads fx alone: once per particle */
            fx = o->add(o, o->input(o, rows, v->Fx, v->zeros, 0), fx, kx, IDENTITY), kx = 1;
    }
    if (v->variant != RNN) {
        z = p->x ? infer(v, o, p, s, fx, kx, t) : prior_z(v, o, p, s, t);
        fz = feature(o, &v->phi_z, z);
    }
    if (p->mode == M_TERMS) {
        varia_v *lpx = frame_logp(v, o, decoder_in(v, o, fz, s->h), x_t, p->k);
        accumulate(o, &s->logpx, o->row_mask(o, lpx, o->lengths, p->k, t));
    } else if (!p->x) {
        fx = feature(o, &v->phi_x, emit_frame(v, o, p, decoder_in(v, o, fz, s->h), t));
    }
    if (kx > 1) /* the input gates over [fx, fz]: fx's part once per example */
        varia_cell_step_gates(o, &v->rnn, joint(o, v->rnn.ih, fx, kx, v->Fx, fz, v->Fz, IDENTITY), &s->h, &s->c);
    else
        varia_cell_step(o, &v->rnn, fz ? o->concat(o, fx, fz) : fx, &s->h, &s->c);
}

/* The steps a pass runs: the call's seq_len; for the terms, only as far as
 * the longest example of the pass (past it every term is masked out). */
static int64_t steps(varia_ops *o, const pass *p)
{
    int64_t T = o->seq_len, n = p->x ? o->rows_of(o, p->x) : 0, most = 0;
    if (p->mode != M_TERMS || !o->lengths)
        return T;
    for (int64_t i = 0; i < n; i++)
        most = o->lengths[i] > most ? o->lengths[i] : most;
    return most < T ? most : T;
}

/* The recurrence over the pass's steps, state and sums in *s: from h_0 = 0
 * (and c_0 = 0), or from the call's o->state_in (h, then an LSTM's c: a
 * constant, so a window of truncated BPTT sends no gradient back past its
 * start); the state after the last step is emitted to out[VARIA_EMIT_STATE]
 * for the next window. */
static void run(const vrnn *v, varia_ops *o, const pass *p, state *s)
{
    int64_t rows = p->x ? o->rows_of(o, p->x) * p->k : o->rows_of(o, p->z ? p->z : p->eps), T = steps(o, p);
    const float *h0 = o->state_in ? o->state_in : v->zeros;
    int64_t ld = o->state_in ? o->state_in_ld : 0;
    memset(s, 0, sizeof *s);
    s->h = o->input(o, rows, v->H, h0, ld);
    if (!v->rnn.gru)
        s->c = o->input(o, rows, v->H, o->state_in ? h0 + v->H : v->zeros, ld);
    varia_mark mark = o->step_begin(o);
    for (int64_t t = 0; t < T; t++) {
        step(v, o, p, s, rows, t);
        end_step(o, mark, s);
    }
    o->emit(o, VARIA_EMIT_STATE, s->h, 0);
    if (s->c)
        o->emit(o, VARIA_EMIT_STATE, s->c, v->H);
}

/* A per-row zero (double on exec, like every log-density) for a sum no step added to. */
static varia_v *zero_terms(const vrnn *v, varia_ops *o, int64_t rows)
{
    return o->row_sum(o, o->input(o, rows, 1, v->zeros, 0));
}

/* ---- the family's passes (outputs T long are emitted: docs/families.md 6) ---- */

static void vrnn_encode(const void *cfg, varia_ops *o, varia_v *x, varia_v **mean, varia_v **logvar)
{
    state s;
    pass p = {M_ENCODE, x, NULL, NULL, 1, 1.0f, 0};
    run(cfg, o, &p, &s);
    *mean = NULL;
    if (logvar)
        *logvar = NULL;
}

static void vrnn_layer_means(const void *cfg, varia_ops *o, varia_v *x, varia_v **means)
{
    vrnn_encode(cfg, o, x, &means[0], NULL);
}

static void vrnn_posterior_sample(const void *cfg, varia_ops *o, varia_v *x, varia_v *eps, varia_v **z,
                                  varia_v **logq)
{
    state s;
    pass p = {M_POSTERIOR, x, eps, NULL, 1, 1.0f, 0};
    run(cfg, o, &p, &s);
    *z = NULL;
    *logq = s.logq ? s.logq : zero_terms(cfg, o, o->rows_of(o, x));
}

/* x_t's mean fed back at every step (the mean path: decode has no noise for x). */
static void vrnn_decode(const void *cfg, varia_ops *o, varia_v *z, varia_decode_kind kind, varia_v **out,
                        varia_v **out_logvar)
{
    state s;
    pass p = {M_DECODE, NULL, NULL, z, 1, 1.0f, kind == VARIA_DECODE_PARAMS};
    run(cfg, o, &p, &s);
    *out = NULL;
    *out_logvar = NULL;
}

static void vrnn_generate(const void *cfg, varia_ops *o, varia_v *eps, float temp, varia_v **x, varia_v **z)
{
    state s;
    pass p = {M_GENERATE, NULL, eps, NULL, 1, temp, 0};
    run(cfg, o, &p, &s);
    *x = NULL;
    *z = NULL;
}

/* Over whole sequences, each particle with its own h; kl_dims [rows k, L]:
 * each particle's analytic KL per dimension summed over its steps (its row
 * sum is the sequence's KL); the RNN's terms are log p(x) exactly, zero KL. */
static void vrnn_terms(const void *cfg, varia_ops *o, varia_v *x, int64_t k, varia_v *eps, varia_terms *t)
{
    const vrnn *v = cfg;
    state s;
    pass p = {M_TERMS, x, eps, NULL, k, 1.0f, 0};
    run(v, o, &p, &s);
    int64_t rows = o->rows_of(o, x) * k;
    t->log_px = s.logpx ? s.logpx : zero_terms(v, o, rows);
    t->log_pz = s.logp ? s.logp : zero_terms(v, o, rows);
    t->log_qz = s.logq ? s.logq : zero_terms(v, o, rows);
    t->kl_dims = s.kl ? s.kl : zero_terms(v, o, rows);
    t->log_det = NULL;
}

/* The recurrent state a pass carries per row: h, and an LSTM's c after it. */
static int64_t vrnn_state_size(const void *cfg)
{
    const vrnn *v = cfg;
    return v->rnn.gru ? v->H : 2 * v->H;
}

/* Per step: L normals for z_t, then those of x_t's draw (generate only reads them). */
static int64_t vrnn_noise_size(const void *cfg)
{
    return step_noise(cfg);
}

/* ---- parsing ---- */

/* "variant", "cell" and the likelihood (Bernoulli only). */
static varia_status parse_kinds(varia_ctx *ctx, vrnn *v, const cJSON *arch)
{
    static const char *const lknown[] = {"type", "components", NULL};
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(arch, "variant");
    const char *var = j ? cJSON_GetStringValue(j) : "vrnn";
    if (!var || (strcmp(var, "vrnn") && strcmp(var, "vrnn_i") && strcmp(var, "rnn")))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"variant\" must be \"vrnn\", \"vrnn_i\" or \"rnn\"");
    v->variant = !strcmp(var, "vrnn") ? VRNN : !strcmp(var, "vrnn_i") ? VRNN_I : RNN;
    const char *cell = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(arch, "cell"));
    if (!cell || (strcmp(cell, "lstm") && strcmp(cell, "gru")))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"cell\" must be \"lstm\" or \"gru\"");
    v->rnn.gru = !strcmp(cell, "gru");
    const cJSON *lik = cJSON_GetObjectItemCaseSensitive(arch, "likelihood");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lik, "type"));
    if (!cJSON_IsObject(lik) || !type)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"likelihood\" must be an object with a \"type\"");
    varia_json_warn_unknown(ctx, lik, "likelihood", lknown);
    v->gauss = !strcmp(type, "gaussian") || !strcmp(type, "gaussian_mixture");
    if (!strcmp(type, "gaussian_mixture"))
        return varia_json_int(ctx, lik, "likelihood", "components", 1, 0, 2, COMPONENTS_CAP, &v->K);
    if (cJSON_GetObjectItemCaseSensitive(lik, "components"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: \"components\" is for a gaussian_mixture");
    if (!v->gauss && strcmp(type, "bernoulli"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "vrnn: unknown likelihood '%.40s'", type);
    return VARIA_OK;
}

/* The sizes: the frame from the data shape [F], "hidden", "latent" (none for the RNN), "std_floor". */
static varia_status parse_sizes(varia_ctx *ctx, vrnn *v, const cJSON *arch, const varia_shape *shape)
{
    if (shape->rank != 1 || shape->dims[0] > FRAME_CAP)
        return varia_fail(ctx, VARIA_ERR_SHAPE, "vrnn: the data shape must be one frame [F], F up to %d (the sequence "
                          "length is the call's)", FRAME_CAP);
    v->F = shape->dims[0];
    varia_status st = varia_json_int(ctx, arch, "architecture", "hidden", 1, 0, 1, WIDTH_CAP, &v->H);
    int has_latent = cJSON_GetObjectItemCaseSensitive(arch, "latent") != NULL;
    if (st == VARIA_OK && v->variant == RNN && has_latent)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: the rnn variant has no \"latent\"");
    if (st == VARIA_OK && v->variant != RNN)
        st = varia_json_int(ctx, arch, "architecture", "latent", 1, 0, 1, WIDTH_CAP, &v->L);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(arch, "std_floor");
    v->floor = 1e-4f;
    if (st == VARIA_OK && f && (!cJSON_IsNumber(f) || !(f->valuedouble >= 0.0 && f->valuedouble <= 1.0)))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"std_floor\" must be a number in [0, 1]");
    if (f)
        v->floor = (float)f->valuedouble;
    return st;
}

/* The widths of network `key`: a feature map needs one or more (its last is
 * its output); a network with heads may have none. *n: how many. */
static varia_status widths(varia_ctx *ctx, const cJSON *arch, const char *key, int feature, int64_t *w, int *n)
{
    if (!cJSON_GetObjectItemCaseSensitive(arch, key))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"%s\" (a list of layer widths) is required", key);
    varia_status st = varia_json_int_array(ctx, arch, "architecture", key, 1, WIDTH_CAP, VARIA_MLP_MAX_HIDDEN, w, n);
    if (st == VARIA_OK && feature && *n < 1)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"%s\" needs at least one layer width", key);
    return st;
}

/* A feature map `key` over `in`: hidden layers, then `key`.out, all with act. */
static varia_status feature_declare(varia_ctx *ctx, const cJSON *arch, varia_decl *d, varia_mlp *g, const char *key,
                                    int64_t in, int data_input, varia_act act, int64_t *out)
{
    int64_t w[VARIA_MLP_MAX_HIDDEN];
    int n = 0;
    varia_status st = widths(ctx, arch, key, 1, w, &n);
    if (st != VARIA_OK)
        return st;
    *out = w[n - 1];
    g->act = act;
    varia_mlp_declare(d, g, key, in, w, n - 1, *out, "out", NULL, VARIA_GROUP_GENERATIVE, data_input);
    return VARIA_OK;
}

/* A network `key` with heads over `in`: hidden layers, then `key`.`mean`
 * [out] and, if `scale`, `key`.`scale` [out]. */
static varia_status head_declare(varia_ctx *ctx, const cJSON *arch, varia_decl *d, varia_mlp *g, const char *key,
                                 int64_t in, int64_t out, const char *mean, const char *scale, varia_group group,
                                 varia_act act)
{
    int64_t w[VARIA_MLP_MAX_HIDDEN];
    int n = 0;
    varia_status st = widths(ctx, arch, key, 0, w, &n);
    if (st != VARIA_OK)
        return st;
    g->act = act;
    varia_mlp_declare(d, g, key, in, w, n, out, mean, scale, group, 0);
    return VARIA_OK;
}

/* Every network's tensors, in the order the format lists them (docs/format.md 8.1). */
static varia_status declare(varia_ctx *ctx, vrnn *v, const cJSON *arch, varia_decl *d, varia_act act)
{
    varia_status st = feature_declare(ctx, arch, d, &v->phi_x, "phi_x", v->F, 1, act, &v->Fx);
    if (st == VARIA_OK && v->variant != RNN)
        st = feature_declare(ctx, arch, d, &v->phi_z, "phi_z", v->L, 0, act, &v->Fz);
    if (st == VARIA_OK && v->variant == VRNN)
        st = head_declare(ctx, arch, d, &v->prior, "prior", v->H, v->L, "mean", "std", VARIA_GROUP_GENERATIVE, act);
    if (st == VARIA_OK && v->variant != RNN)
        st = head_declare(ctx, arch, d, &v->enc, "encoder", v->Fx + v->H, v->L, "mean", "std",
                          VARIA_GROUP_INFERENCE, act);
    int64_t per = v->K ? v->K : 1, h = 0; /* a mixture's heads: K means and deviations per value, K weights */
    if (st == VARIA_OK)
        st = head_declare(ctx, arch, d, &v->dec, "decoder", v->Fz + v->H, per * v->F, v->gauss ? "mean" : "logits",
                          v->gauss ? "std" : NULL, VARIA_GROUP_GENERATIVE, act);
    if (st == VARIA_OK && v->K) {
        h = v->dec.n_hidden ? d->lin[v->dec.hidden[v->dec.n_hidden - 1]].out : v->Fz + v->H;
        v->weights = varia_decl_linear_add(d, "decoder.weights", h, v->K, VARIA_GROUP_GENERATIVE, 0);
    }
    if (st != VARIA_OK)
        return st;
    int good = varia_cell_declare(d, &v->rnn, "rnn", v->Fx + v->Fz, v->H, v->rnn.gru, VARIA_GROUP_GENERATIVE);
    if (!good || d->failed)
        return varia_decl_fail(ctx, d);
    return VARIA_OK;
}

/* The networks an ablation has not must be absent, so a file cannot carry unused weights' sizes. */
static varia_status check_absent(varia_ctx *ctx, const vrnn *v, const cJSON *arch)
{
    static const char *const variant[] = {"vrnn", "vrnn_i", "rnn"};
    const char *absent[2] = {v->variant == VRNN ? NULL : "prior", v->variant == RNN ? "phi_z" : NULL};
    for (int i = 0; i < 2; i++)
        if (absent[i] && cJSON_GetObjectItemCaseSensitive(arch, absent[i]))
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: the %s variant has no \"%s\"",
                              variant[v->variant], absent[i]);
    if (v->variant == RNN && cJSON_GetObjectItemCaseSensitive(arch, "encoder"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: the rnn variant has no \"encoder\"");
    return VARIA_OK;
}

static varia_status vrnn_parse(varia_ctx *ctx, const cJSON *arch, const varia_shape *shape, void **cfg,
                               varia_decl *decl, varia_info *info)
{
    static const char *const known[] = {"variant", "cell", "hidden", "latent", "phi_x", "phi_z", "prior", "encoder",
                                        "decoder", "activation", "std_floor", "likelihood", NULL};
    vrnn *v = calloc(1, sizeof *v);
    *cfg = v;
    if (!v)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    varia_json_warn_unknown(ctx, arch, "architecture", known);
    varia_act act;
    varia_status st = parse_kinds(ctx, v, arch);
    if (st == VARIA_OK)
        st = parse_sizes(ctx, v, arch, shape);
    if (st == VARIA_OK)
        st = check_absent(ctx, v, arch);
    if (st == VARIA_OK)
        st = varia_json_act(ctx, arch, arch, "architecture", (varia_act){VARIA_ACT_RELU, 0.0f}, &act);
    if (st == VARIA_OK)
        st = declare(ctx, v, arch, decl, act);
    int64_t z = (v->H > v->Fx ? v->H : v->Fx) + 1;
    if (st == VARIA_OK && !(v->zeros = calloc((size_t)z, sizeof(float))))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    if (st != VARIA_OK)
        return st;
    info->latent_size = v->L; /* per step: a call's latents are seq_len x L */
    info->latent_shape = (varia_shape){1, {v->L}};
    info->n_stochastic = v->variant == RNN ? 0 : 1;
    info->layer_sizes[0] = v->L;
    info->likelihood = v->gauss ? VARIA_LIK_GAUSSIAN : VARIA_LIK_BERNOULLI;
    info->has_encoder = v->variant != RNN;
    snprintf(info->flow, sizeof info->flow, "none");
    return VARIA_OK;
}

const varia_family varia_family_vrnn = {
    .name = "vrnn",
    .needs = VARIA_FAMILY_SEQ_LEN,
    .parse = vrnn_parse,
    .free_cfg = vrnn_free,
    .noise_size = vrnn_noise_size,
    .encode = vrnn_encode,
    .layer_means = vrnn_layer_means,
    .posterior_sample = vrnn_posterior_sample,
    .decode = vrnn_decode,
    .generate = vrnn_generate,
    .terms = vrnn_terms,
    .state_size = vrnn_state_size,
};

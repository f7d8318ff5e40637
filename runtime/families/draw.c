/* The DRAW family (Gregor et al. 2015): an image painted on a canvas over T
 * steps by a recurrent decoder, read by a recurrent encoder, with a Gaussian
 * latent of L values per step. Equations: models.md section 3; the manifest
 * and tensor names: docs/format.md section 6; the conventions the paper
 * leaves open: docs/draw.md. Every pass is one loop over the T steps with
 * step scoping, so a pass's workspace does not grow with T. */
#include "../family.h"
#include "../attn.h"
#include "../blocks/rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS_CAP 256
#define LATENT_CAP 4096
#define HIDDEN_CAP 16384
#define SIDE_CAP 4096
#define GLIMPSE_CAP 64

typedef struct draw {
    int64_t T, L, A, B, D; /* steps, latent per step, image width, height, A * B */
    int read_n, write_n;   /* attention glimpse sizes; 0: the full image */
    varia_attn ra, wa;     /* the read's and the write's attention geometry (n = read_n, write_n) */
    int log_std;
    varia_cell enc, dec;
    int mean, scale, read_attn, write_attn, write; /* linear slots (-1: none) */
    float *zeros;          /* [max(H_enc, H_dec, D)]: the zero initial states and canvas, read with ld 0 */
} draw;

static const varia_act IDENTITY = {VARIA_ACT_IDENTITY, 0.0f};

static void draw_free(void *cfg)
{
    draw *d = cfg;
    if (d)
        free(d->zeros);
    free(d);
}

/* ---- one step's parts ---- */

/* rows x n zeros, as a constant (every row reads the same zeros). */
static varia_v *zeros(const draw *d, varia_ops *o, int64_t rows, int64_t n)
{
    return o->input(o, rows, n, d->zeros, 0);
}

/* The attention read: the two N x N glimpses of x (row r / k, shared by the
 * k particles) and x_hat through the filterbank h_dec's read head gives. */
static varia_v *glimpse(const draw *d, varia_ops *o, varia_v *x, int64_t k, varia_v *x_hat, varia_v *h_dec)
{
    varia_v *fb = o->attn_filterbank(o, o->linear(o, h_dec, d->read_attn, IDENTITY), &d->ra);
    return o->attn_read(o, fb, &d->ra, x, k, x_hat, 1);
}

/* The encoder's input gates at one step. With attention, of [read, h_dec].
 * Without, the input is [x, x_hat, h_dec] and x is the same at every step
 * and for the k particles of an example: its part gx = x W_x^T + b_ih was
 * made once per pass (run), and each step multiplies [x_hat, h_dec] by the
 * rest of W_ih and adds gx, broadcast over the k particles. */
static varia_v *enc_gates(const draw *d, varia_ops *o, varia_v *x, int64_t k, varia_v *gx, varia_v *x_hat,
                          varia_v *h_dec)
{
    if (d->read_n)
        return o->linear(o, o->concat(o, glimpse(d, o, x, k, x_hat, h_dec), h_dec), d->enc.ih, IDENTITY);
    varia_v *g = o->linear_cols(o, o->concat(o, x_hat, h_dec), d->enc.ih, d->D, d->D + d->dec.H, 0);
    return o->add(o, g, gx, k, IDENTITY);
}

/* write(h_dec): the canvas update, [rows, D]: W h_dec (full) or the N x N
 * patch W h_dec placed by the write head's filterbank. */
static varia_v *paint(const draw *d, varia_ops *o, varia_v *h_dec)
{
    varia_v *w = o->linear(o, h_dec, d->write, IDENTITY);
    if (!d->write_n)
        return w;
    varia_v *fb = o->attn_filterbank(o, o->linear(o, h_dec, d->write_attn, IDENTITY), &d->wa);
    return o->attn_write(o, fb, &d->wa, w);
}

/* The recurrent state of a pass: both LSTMs, the canvas, and the running
 * per-row sums it accumulates. */
typedef struct state {
    varia_v *h_enc, *c_enc, *h_dec, *c_dec, *canvas;
    varia_v *hs;                      /* every step's h_dec so far (batched writes, decode_known) */
    varia_v *z, *mu, *lv, *kl;        /* concatenated over the steps so far (NULL before the first) */
    varia_v *canvases;                /* sigmoid of every canvas so far, likewise */
    varia_v *logq, *logp;             /* per-row sums (NULL before the first) */
} state;

/* v appended to *acc's columns (*acc NULL: v itself). */
static void append(varia_ops *o, varia_v **acc, varia_v *v)
{
    *acc = *acc ? o->concat(o, *acc, v) : v;
}

/* *acc + v, per row (*acc NULL: v itself). */
static void accumulate(varia_ops *o, varia_v **acc, varia_v *v)
{
    static const double one[2] = {1.0, 1.0};
    varia_v *parts[2] = {*acc, v};
    *acc = *acc ? o->combine(o, parts, one, 2) : v;
}

/* What a pass keeps: which running values it needs. */
enum { KEEP_Z = 1, KEEP_MEANS = 2, KEEP_TERMS = 4, KEEP_CANVASES = 8 };

/* One encoder step on x (k rows per example; gx: the full read's x part of
 * the gates, enc_gates) and the state: the posterior of z_t; z_t itself
 * from eps_t (NULL: its mean). */
static varia_v *infer_step(const draw *d, varia_ops *o, varia_v *x, int64_t k, varia_v *gx, state *s,
                           varia_v *eps_t, int keep)
{
    varia_act sig = {VARIA_ACT_SIGMOID, 0.0f};
    varia_v *x_hat = o->add(o, o->scale(o, o->act(o, s->canvas, sig), -1.0f), x, k, IDENTITY); /* x - sigma(c) */
    varia_cell_step_gates(o, &d->enc, enc_gates(d, o, x, k, gx, x_hat, s->h_dec), &s->h_enc, &s->c_enc);
    varia_v *mu = o->linear(o, s->h_enc, d->mean, IDENTITY), *lv = o->linear(o, s->h_enc, d->scale, IDENTITY);
    if (d->log_std)
        lv = o->scale(o, lv, 2.0f);
    if (keep & KEEP_MEANS) {
        append(o, &s->mu, mu);
        append(o, &s->lv, lv);
    }
    if (!eps_t)
        return mu;
    varia_v *z = o->reparam(o, mu, lv, 1, eps_t, 1.0f);
    if (keep & KEEP_TERMS) {
        accumulate(o, &s->logq, o->logq_eps(o, lv, 1, eps_t));
        accumulate(o, &s->logp, o->std_normal_logp(o, z));
        append(o, &s->kl, o->gauss_kl(o, mu, lv));
    }
    return z;
}

/* One decoder step from z_t: the decoder LSTM and the canvas update. */
static void paint_step(const draw *d, varia_ops *o, state *s, varia_v *z)
{
    varia_cell_step(o, &d->dec, z, &s->h_dec, &s->c_dec);
    s->canvas = o->add(o, s->canvas, paint(d, o, s->h_dec), 1, IDENTITY);
}

/* Close a step: everything but the state and the running values (those
 * not NULL) is released, and the handles follow the values. */
static void end_step(varia_ops *o, varia_mark mark, state *s)
{
    varia_v **v[] = {&s->h_dec, &s->c_dec, &s->canvas, &s->hs, &s->h_enc, &s->c_enc, &s->z,
                     &s->mu, &s->lv, &s->kl, &s->logq, &s->logp, &s->canvases};
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

/* Most rows decoded by decode_known; past it the per-step products have
 * enough rows to reuse each weight from cache, and the T steps' inputs and
 * writes held at once would grow with the batch. */
#define KNOWN_ROWS_MAX 64

/* The decoder alone from latents known before the first step (z_all [rows,
 * T * L], the given or the scaled prior draws): at batch 1 a step is a
 * matrix-vector product whose time is reading its weights, and only W_hh
 * h_{t-1} depends on the step before. So the input gates z_t W_ih^T of all
 * T steps are one product, and (full write) so are the T writes W h_t,
 * added to the canvas afterwards in step order: each step reads W_hh alone.
 * Every row of a product is computed as on its own (the kernels do not
 * depend on the row count), so the values are run's, bit for bit. */
static void decode_known(const draw *d, varia_ops *o, varia_v *z_all, int keep, state *s)
{
    int64_t rows = o->rows_of(o, z_all), T = d->T, G = 4 * d->dec.H, Hd = d->dec.H;
    varia_v *gi = o->linear(o, o->reshape(o, z_all, rows * T, d->L), d->dec.ih, IDENTITY);
    gi = o->reshape(o, gi, rows, T * G);
    varia_mark mark = o->step_begin(o);
    for (int64_t t = 0; t < T; t++) {
        varia_cell_step_gates(o, &d->dec, o->cols(o, gi, t * G, G), &s->h_dec, &s->c_dec);
        if (d->write_n)
            s->canvas = o->add(o, s->canvas, paint(d, o, s->h_dec), 1, IDENTITY);
        else
            append(o, &s->hs, s->h_dec);
        end_step(o, mark, s);
    }
    if (!d->write_n) {
        varia_v *w = o->linear(o, o->reshape(o, s->hs, rows * T, Hd), d->write, IDENTITY);
        w = o->reshape(o, w, rows, T * d->D);
        for (int64_t t = 0; t < T; t++)
            s->canvas = o->add(o, s->canvas, o->cols(o, w, t * d->D, d->D), 1, IDENTITY);
    }
    if (keep & KEEP_Z)
        s->z = z_all;
}

/* The full recurrence over x (rows(x) * k particles, eps [rows * k, T * L],
 * eps NULL: the mean path), or the decoder alone from latents z (x NULL). */
static void run(const draw *d, varia_ops *o, varia_v *x, int64_t k, varia_v *eps, varia_v *z_in, float temp,
                int keep, state *s)
{
    int64_t rows = x ? o->rows_of(o, x) * k : o->rows_of(o, z_in ? z_in : eps), He = d->enc.H, Hd = d->dec.H;
    memset(s, 0, sizeof *s);
    s->h_dec = zeros(d, o, rows, Hd);
    s->c_dec = zeros(d, o, rows, Hd);
    s->canvas = zeros(d, o, rows, d->D);
    varia_v *gx = NULL;
    if (x) {
        s->h_enc = zeros(d, o, rows, He);
        s->c_enc = zeros(d, o, rows, He);
        if (!d->read_n) /* the full read's x part of the encoder's gates, once per example */
            gx = o->linear_cols(o, x, d->enc.ih, 0, d->D, 1);
    } else if (!(keep & KEEP_CANVASES) && rows <= KNOWN_ROWS_MAX) {
        decode_known(d, o, z_in ? z_in : o->scale(o, eps, temp), keep, s);
        return;
    }
    varia_mark mark = o->step_begin(o);
    for (int64_t t = 0; t < d->T; t++) {
        varia_v *e_t = eps ? o->cols(o, eps, t * d->L, d->L) : NULL, *z;
        if (x)
            z = infer_step(d, o, x, k, gx, s, e_t, keep);
        else if (z_in)
            z = o->cols(o, z_in, t * d->L, d->L);
        else
            z = o->scale(o, e_t, temp);
        if (keep & KEEP_Z)
            append(o, &s->z, z);
        paint_step(d, o, s, z);
        if (keep & KEEP_CANVASES)
            append(o, &s->canvases, o->act(o, s->canvas, (varia_act){VARIA_ACT_SIGMOID, 0.0f}));
        end_step(o, mark, s);
    }
}

/* ---- the family's passes ---- */

static void draw_encode(const void *cfg, varia_ops *o, varia_v *x, varia_v **mean, varia_v **logvar)
{
    state s;
    run(cfg, o, x, 1, NULL, NULL, 1.0f, KEEP_MEANS, &s);
    *mean = s.mu;
    if (logvar)
        *logvar = s.lv;
}

static void draw_layer_means(const void *cfg, varia_ops *o, varia_v *x, varia_v **means)
{
    draw_encode(cfg, o, x, &means[0], NULL);
}

static void draw_posterior_sample(const void *cfg, varia_ops *o, varia_v *x, varia_v *eps, varia_v **z,
                                  varia_v **logq)
{
    state s;
    run(cfg, o, x, 1, eps, NULL, 1.0f, KEEP_Z | KEEP_TERMS, &s);
    *z = s.z;
    *logq = s.logq;
}

static void draw_decode(const void *cfg, varia_ops *o, varia_v *z, varia_decode_kind kind, varia_v **out,
                        varia_v **out_logvar)
{
    state s;
    run(cfg, o, NULL, 1, NULL, z, 1.0f, 0, &s);
    varia_act sig = {VARIA_ACT_SIGMOID, 0.0f};
    *out = kind == VARIA_DECODE_PARAMS ? s.canvas : o->act(o, s.canvas, sig);
    *out_logvar = NULL;
}

static void draw_decode_steps(const void *cfg, varia_ops *o, varia_v *z, varia_v **canvases)
{
    state s;
    run(cfg, o, NULL, 1, NULL, z, 1.0f, KEEP_CANVASES, &s);
    *canvases = s.canvases;
}

static void draw_generate(const void *cfg, varia_ops *o, varia_v *eps, float temp, varia_v **x, varia_v **z)
{
    state s;
    run(cfg, o, NULL, 1, eps, NULL, temp, KEEP_Z, &s);
    varia_act sig = {VARIA_ACT_SIGMOID, 0.0f};
    *x = o->act(o, s.canvas, sig);
    *z = s.z;
}

/* kl_dims: each particle's own per-step, per-dimension KL along its
 * trajectory ([rows * k, T * L]; the paper's L^z is its row sum). */
static void draw_terms(const void *cfg, varia_ops *o, varia_v *x, int64_t k, varia_v *eps, varia_terms *t)
{
    state s;
    run(cfg, o, x, k, eps, NULL, 1.0f, KEEP_TERMS, &s);
    t->log_px = o->bernoulli_logp(o, s.canvas, x, k);
    t->log_pz = s.logp;
    t->log_qz = s.logq;
    t->kl_dims = s.kl;
    t->log_det = NULL;
}

static int64_t draw_noise_size(const void *cfg)
{
    const draw *d = cfg;
    return d->T * d->L;
}

/* ---- parsing ---- */

/* "read" / "write": {"type": "full"} or {"type": "attention", "glimpse": N}; *n = N or 0. */
static varia_status parse_window(varia_ctx *ctx, const cJSON *arch, const char *key, int *n)
{
    static const char *const known[] = {"type", "glimpse", NULL};
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(arch, key);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "type"));
    if (!cJSON_IsObject(w) || !type)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"%s\" must be an object with a \"type\"", key);
    varia_json_warn_unknown(ctx, w, key, known);
    *n = 0;
    if (!strcmp(type, "full")) {
        if (cJSON_GetObjectItemCaseSensitive(w, "glimpse"))
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: a full %s has no \"glimpse\"", key, key);
        return VARIA_OK;
    }
    if (strcmp(type, "attention"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: unknown type '%.40s' (full or attention)", key, type);
    int64_t g;
    varia_status st = varia_json_int(ctx, w, key, "glimpse", 1, 0, 1, GLIMPSE_CAP, &g);
    *n = (int)g;
    return st;
}

/* The sizes: steps, latent, the two LSTM widths, the image. */
static varia_status parse_sizes(varia_ctx *ctx, draw *d, const cJSON *arch, const varia_shape *shape, int64_t *He,
                                int64_t *Hd)
{
    if (shape->rank != 3 || shape->dims[0] != 1 || shape->dims[1] > SIDE_CAP || shape->dims[2] > SIDE_CAP)
        return varia_fail(ctx, VARIA_ERR_SHAPE, "draw: the data must be one-channel images [1, B, A] with sides up "
                          "to %d", SIDE_CAP);
    d->B = shape->dims[1];
    d->A = shape->dims[2];
    d->D = d->A * d->B;
    varia_status st = varia_json_int(ctx, arch, "architecture", "steps", 1, 0, 1, STEPS_CAP, &d->T);
    if (st == VARIA_OK)
        st = varia_json_int(ctx, arch, "architecture", "latent", 1, 0, 1, LATENT_CAP, &d->L);
    if (st == VARIA_OK)
        st = varia_json_int(ctx, arch, "architecture", "encoder_hidden", 1, 0, 1, HIDDEN_CAP, He);
    if (st == VARIA_OK)
        st = varia_json_int(ctx, arch, "architecture", "decoder_hidden", 1, 0, 1, HIDDEN_CAP, Hd);
    return st;
}

/* posterior_scale and the likelihood (Bernoulli only). */
static varia_status parse_heads(varia_ctx *ctx, draw *d, const cJSON *arch)
{
    static const char *const lknown[] = {"type", NULL};
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(arch, "posterior_scale");
    const char *sc = j ? cJSON_GetStringValue(j) : "log_std";
    if (!sc || (strcmp(sc, "log_std") && strcmp(sc, "log_var")))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"posterior_scale\" must be \"log_std\" or \"log_var\"");
    d->log_std = !strcmp(sc, "log_std");
    const cJSON *lik = cJSON_GetObjectItemCaseSensitive(arch, "likelihood");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lik, "type"));
    if (!cJSON_IsObject(lik) || !type)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"likelihood\" must be an object with a \"type\"");
    varia_json_warn_unknown(ctx, lik, "likelihood", lknown);
    if (strcmp(type, "bernoulli"))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "draw: likelihood '%.40s': only bernoulli (logits from the "
                          "canvas) is supported", type);
    return VARIA_OK;
}

/* Every tensor, in the order the trainer lays them out (docs/format.md 6.1). */
static varia_status declare(varia_ctx *ctx, draw *d, varia_decl *decl, int64_t He, int64_t Hd)
{
    int64_t R = d->read_n ? 2 * (int64_t)d->read_n * d->read_n : 2 * d->D;
    int64_t W = d->write_n ? (int64_t)d->write_n * d->write_n : d->D;
    int good = varia_cell_declare(decl, &d->enc, "enc", R + Hd, He, 0, VARIA_GROUP_INFERENCE);
    d->mean = varia_decl_linear_add(decl, "enc_mean", He, d->L, VARIA_GROUP_INFERENCE, 0);
    d->scale = varia_decl_linear_add(decl, "enc_scale", He, d->L, VARIA_GROUP_INFERENCE, 0);
    good = good && varia_cell_declare(decl, &d->dec, "dec", d->L, Hd, 0, VARIA_GROUP_GENERATIVE);
    d->read_attn = d->read_n ? varia_decl_linear_add(decl, "read_attn", Hd, 5, VARIA_GROUP_INFERENCE, 0) : -1;
    d->write_attn = d->write_n ? varia_decl_linear_add(decl, "write_attn", Hd, 5, VARIA_GROUP_GENERATIVE, 0) : -1;
    d->write = varia_decl_linear_add(decl, "write", Hd, W, VARIA_GROUP_GENERATIVE, 0);
    if (!good || decl->failed)
        return varia_decl_fail(ctx, decl);
    return VARIA_OK;
}

static varia_status draw_parse(varia_ctx *ctx, const cJSON *arch, const varia_shape *shape, void **cfg,
                               varia_decl *decl, varia_info *info)
{
    static const char *const known[] = {"steps", "latent", "encoder_hidden", "decoder_hidden", "read", "write",
                                        "posterior_scale", "likelihood", NULL};
    draw *d = calloc(1, sizeof *d);
    *cfg = d;
    if (!d)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    varia_json_warn_unknown(ctx, arch, "architecture", known);
    int64_t He = 0, Hd = 0;
    varia_status st = parse_sizes(ctx, d, arch, shape, &He, &Hd);
    if (st == VARIA_OK)
        st = parse_window(ctx, arch, "read", &d->read_n);
    if (st == VARIA_OK)
        st = parse_window(ctx, arch, "write", &d->write_n);
    if (st == VARIA_OK)
        st = parse_heads(ctx, d, arch);
    d->ra = (varia_attn){d->A, d->B, d->read_n ? d->read_n : 1};
    d->wa = (varia_attn){d->A, d->B, d->write_n ? d->write_n : 1};
    if (st == VARIA_OK)
        st = declare(ctx, d, decl, He, Hd);
    int64_t z = He > Hd ? He : Hd;
    z = z > d->D ? z : d->D;
    if (st == VARIA_OK && !(d->zeros = calloc((size_t)z, sizeof(float))))
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    if (st != VARIA_OK)
        return st;
    info->latent_size = d->T * d->L;
    info->latent_shape = (varia_shape){2, {d->T, d->L}};
    info->n_stochastic = 1;
    info->layer_sizes[0] = d->T * d->L;
    info->likelihood = VARIA_LIK_BERNOULLI;
    info->has_encoder = 1;
    snprintf(info->flow, sizeof info->flow, "none");
    return VARIA_OK;
}

const varia_family varia_family_draw = {
    .name = "draw",
    .parse = draw_parse,
    .free_cfg = draw_free,
    .noise_size = draw_noise_size,
    .encode = draw_encode,
    .layer_means = draw_layer_means,
    .posterior_sample = draw_posterior_sample,
    .decode = draw_decode,
    .generate = draw_generate,
    .terms = draw_terms,
    .decode_steps = draw_decode_steps,
};

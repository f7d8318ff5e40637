/* The VAE / IWAE family (Kingma & Welling 2014; Burda et al. 2016): L >= 1
 * stochastic layers, each with an MLP encoder q(z_l | z_{l-1}) and an MLP
 * decoder p(z_{l-1} | z_l) (p(x | z_1) for the bottom one). Tensor names and
 * the manifest are in docs/format.md section 2. Every pass is written once
 * over the op interface: the runtime runs it, the trainer differentiates it. */
#include "../family.h"
#include "../blocks/flow.h"
#include "../blocks/mlp.h"
#include "../blocks/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 8
#define WIDTH_CAP 65536

enum { VAR_NONE, VAR_FIXED, VAR_LEARNED, VAR_DECODER };

typedef struct vae {
    int L;
    int64_t D, lat[MAX_LAYERS], lat_total;
    varia_shape shape; /* of the data */
    varia_mlp enc[MAX_LAYERS], dec[MAX_LAYERS];
    /* encoder_net / decoder_net where the manifest gives them (docs/format.md
     * 2.4): they replace the MLP's hidden layers; the bottom decoder's net
     * emits the observation itself (no "out" head). */
    varia_net enc_net[MAX_LAYERS], dec_net[MAX_LAYERS];
    int log_std; /* posterior (and conditional prior) heads emit log sigma */
    int lik, var;
    float fixed_logvar;
    int logvar_tensor; /* VAR_LEARNED: the declared dec1.logvar */
    varia_flow flow;   /* the top layer's posterior flow (type VARIA_FLOW_NONE: none) */
} vae;

static const varia_act IDENTITY = {VARIA_ACT_IDENTITY, 0.0f};

/* ---- passes ---- */

/* Layer l's encoder (dec 0) or decoder (dec 1) up to its heads: the net, or
 * the MLP's hidden layers. */
static varia_v *hidden(const vae *v, varia_ops *o, int l, int dec, varia_v *x)
{
    const varia_net *net = dec ? &v->dec_net[l] : &v->enc_net[l];
    if (net->present)
        return varia_net_run(o, net, x, NULL);
    return varia_mlp_hidden(o, dec ? &v->dec[l] : &v->enc[l], x);
}

/* A Gaussian head's log-variance: log sigma^2, from log sigma when the model
 * uses log_std (the bottom decoder's own variance head is always log sigma^2). */
static varia_v *gauss_head(const vae *v, varia_ops *o, const varia_mlp *g, varia_v *h, varia_v **mean)
{
    *mean = o->linear(o, h, g->mean, IDENTITY);
    varia_v *s = o->linear(o, h, g->scale, IDENTITY);
    return v->log_std ? o->scale(o, s, 2.0f) : s;
}

/* Up the encoders along the posterior means; each layer's mean in means[l]
 * (if given), the top layer's log-variance in *top_lv (if given). */
static varia_v *encode_means(const vae *v, varia_ops *o, varia_v *x, varia_v **means, varia_v **top_lv)
{
    varia_v *in = x, *mu = NULL;
    for (int l = 0; l < v->L; l++) {
        varia_v *h = hidden(v, o, l, 0, in), *lv;
        if (l == v->L - 1 && top_lv)
            lv = gauss_head(v, o, &v->enc[l], h, &mu), *top_lv = lv;
        else
            mu = o->linear(o, h, v->enc[l].mean, IDENTITY);
        if (means)
            means[l] = mu;
        in = mu;
    }
    return mu;
}

static void vae_encode(const void *cfg, varia_ops *o, varia_v *x, varia_v **mean, varia_v **logvar)
{
    *mean = encode_means(cfg, o, x, NULL, logvar); /* logvar NULL: the scale head is skipped */
}

/* A Gaussian decoder of fixed variance: that variance. */
static double vae_fixed_var(const void *cfg)
{
    const vae *v = cfg;
    return v->lik == VARIA_LIK_GAUSSIAN && v->var == VAR_FIXED ? exp((double)v->fixed_logvar) : 0.0;
}

/* One stochastic layer without a flow: encode's Gaussian is q(z|x) itself. */
static const char *vae_encode_not_q(const void *cfg)
{
    const vae *v = cfg;
    return v->L > 1 ? "several stochastic layers" : v->flow.type != VARIA_FLOW_NONE ? "a flow posterior" : NULL;
}

static void vae_layer_means(const void *cfg, varia_ops *o, varia_v *x, varia_v **means)
{
    encode_means(cfg, o, x, means, NULL);
}

/* The noise of layer l: columns of eps, layer 1 first (full latents have the
 * same layout: the joint pass splits them with it). */
static varia_v *layer_eps(const vae *v, varia_ops *o, varia_v *eps, int l)
{
    if (v->L == 1)
        return eps; /* the whole value: no view needed (the tape would copy it) */
    int64_t off = 0;
    for (int i = 0; i < l; i++)
        off += v->lat[i];
    return o->cols(o, eps, off, v->lat[l]);
}

/* z_1..z_L ~ q by eps (k samples per row of x, sharing layer 1's posterior),
 * the top one pushed through the flow if there is one, and log q(z|x) per
 * sample; kl_dims: layer 1's analytic KL when L == 1 and there is no flow;
 * log_det (if given): the flow's sum of log|det| (NULL without a flow). */
static varia_v *sample_up(const vae *v, varia_ops *o, varia_v *x, int64_t k, varia_v *eps, varia_v **z,
                          varia_v **kl_dims, varia_v **log_det)
{
    varia_v *in = x, *logq[MAX_LAYERS + 1], *ld = NULL;
    int flow = v->flow.type != VARIA_FLOW_NONE;
    for (int l = 0; l < v->L; l++) {
        varia_v *h = hidden(v, o, l, 0, in), *mu, *lv = gauss_head(v, o, &v->enc[l], h, &mu);
        varia_v *e = layer_eps(v, o, eps, l);
        int64_t share = l ? 1 : k;
        z[l] = o->reparam(o, mu, lv, share, e, 1.0f);
        logq[l] = o->logq_eps(o, lv, share, e);
        if (kl_dims)
            *kl_dims = v->L == 1 && !flow ? o->gauss_kl(o, mu, lv) : NULL;
        if (l == v->L - 1 && flow)
            z[l] = varia_flow_forward(o, &v->flow, h, z[l], share, &ld);
        in = z[l];
    }
    if (log_det)
        *log_det = ld;
    double c[MAX_LAYERS + 1];
    for (int l = 0; l < v->L; l++)
        c[l] = 1.0;
    c[v->L] = -1.0;
    logq[v->L] = ld; /* log q_K = log q_0 - sum log|det| */
    return o->combine(o, logq, c, ld ? v->L + 1 : v->L);
}

static void vae_posterior_sample(const void *cfg, varia_ops *o, varia_v *x, varia_v *eps, varia_v **z,
                                 varia_v **logq)
{
    const vae *v = cfg;
    varia_v *zs[MAX_LAYERS];
    *logq = sample_up(v, o, x, 1, eps, zs, NULL, NULL);
    *z = zs[v->L - 1];
}

/* Down from the top latent to the bottom one: each lower layer at its
 * conditional mean (eps NULL) or drawn as mean + temp * sigma * eps; every
 * layer's latent in layers[l] when layers is given. */
static varia_v *walk_down(const vae *v, varia_ops *o, varia_v *z, varia_v *eps, float temp, varia_v **layers)
{
    if (layers)
        layers[v->L - 1] = z;
    for (int l = v->L - 1; l >= 1; l--) {
        varia_v *cm, *clv = gauss_head(v, o, &v->dec[l], hidden(v, o, l, 1, z), &cm);
        z = eps ? o->reparam(o, cm, clv, 1, layer_eps(v, o, eps, l - 1), temp) : cm;
        if (layers)
            layers[l - 1] = z;
    }
    return z;
}

/* The bottom decoder: E[x|z] (sigmoid fused for Bernoulli) or the parameters. */
static varia_v *bottom(const vae *v, varia_ops *o, varia_v *z1, int mean, varia_v **out_lv)
{
    const varia_mlp *g = &v->dec[0];
    int bern = v->lik == VARIA_LIK_BERNOULLI;
    const varia_act sig = {VARIA_ACT_SIGMOID, 0.0f};
    if (v->dec_net[0].present) { /* its last layer emits logits (checked at parse) or the mean */
        if (out_lv)
            *out_lv = NULL;
        return varia_net_run(o, &v->dec_net[0], z1, bern && mean ? &sig : NULL);
    }
    varia_v *h = varia_mlp_hidden(o, g, z1);
    varia_v *out = o->linear(o, h, g->mean, bern && mean ? sig : IDENTITY);
    if (out_lv)
        *out_lv = v->var == VAR_DECODER ? o->linear(o, h, g->scale, IDENTITY) : NULL;
    return out;
}

/* The observation log-variance as a value: the decoder head's rows, the
 * learned tensor ([1] or [D]) or the fixed scalar. */
static varia_v *obs_logvar(const vae *v, varia_ops *o, varia_v *head_lv)
{
    if (v->var == VAR_DECODER)
        return head_lv;
    if (v->var == VAR_LEARNED)
        return o->param(o, v->logvar_tensor);
    return o->input(o, 1, 1, &v->fixed_logvar, 1);
}

static void vae_decode(const void *cfg, varia_ops *o, varia_v *z, varia_decode_kind kind, varia_v **out,
                       varia_v **out_logvar)
{
    const vae *v = cfg;
    varia_v *head_lv = NULL;
    int params = kind == VARIA_DECODE_PARAMS, gauss = v->lik == VARIA_LIK_GAUSSIAN;
    *out = bottom(v, o, walk_down(v, o, z, NULL, 0.0f, NULL), !params, params && gauss ? &head_lv : NULL);
    *out_logvar = params && gauss ? obs_logvar(v, o, head_lv) : NULL;
}

static void vae_generate(const void *cfg, varia_ops *o, varia_v *eps, float temp, varia_v **x, varia_v **z)
{
    const vae *v = cfg;
    *z = o->scale(o, layer_eps(v, o, eps, v->L - 1), temp);
    *x = bottom(v, o, walk_down(v, o, *z, eps, temp, NULL), 1, NULL);
}

/* Ancestral: the top layer is its noise, each lower one drawn given the one
 * above, as generate draws them at temperature 1. */
static void vae_prior_latents(const void *cfg, varia_ops *o, varia_v *eps, varia_v **z)
{
    const vae *v = cfg;
    walk_down(v, o, layer_eps(v, o, eps, v->L - 1), eps, 1.0f, z);
}

/* log p(x|z_1) by the model's own likelihood, x row r / kx for row r. */
static varia_v *own_likelihood(const vae *v, varia_ops *o, varia_v *x, int64_t kx, varia_v *z1)
{
    if (v->dec_net[0].present) { /* the net's output: logits or the mean */
        varia_v *out = varia_net_run(o, &v->dec_net[0], z1, NULL);
        return v->lik == VARIA_LIK_BERNOULLI ? o->bernoulli_logp(o, out, x, kx)
                                             : o->gauss_logp(o, x, kx, out, 1, obs_logvar(v, o, NULL));
    }
    const varia_mlp *g = &v->dec[0];
    varia_v *h = varia_mlp_hidden(o, g, z1);
    if (v->lik == VARIA_LIK_BERNOULLI)
        return o->linear_bernoulli(o, h, g->mean, x, kx);
    varia_v *out = o->linear(o, h, g->mean, IDENTITY);
    varia_v *head_lv = v->var == VAR_DECODER ? o->linear(o, h, g->scale, IDENTITY) : NULL;
    return o->gauss_logp(o, x, kx, out, 1, obs_logvar(v, o, head_lv));
}

/* log p(z) (the top prior, then the conditional priors down) and log p(x|z_1)
 * of the latents z[0..L-1], bottom first, x row r / kx for row r: the model's
 * likelihood, or N(x; E[x|z_1], exp(obs_lv)) when obs_lv is given. What the
 * terms and the joint pass share. */
static void joint_layers(const vae *v, varia_ops *o, varia_v *x, int64_t kx, varia_v *const *z, varia_v *obs_lv,
                         varia_v **log_pz, varia_v **log_px)
{
    varia_v *lp[MAX_LAYERS];
    const double ones[MAX_LAYERS] = {1, 1, 1, 1, 1, 1, 1, 1};
    lp[0] = o->std_normal_logp(o, z[v->L - 1]);
    for (int l = v->L - 1; l >= 1; l--) {
        varia_v *cm, *clv = gauss_head(v, o, &v->dec[l], hidden(v, o, l, 1, z[l]), &cm);
        lp[v->L - l] = o->gauss_logp(o, z[l - 1], 1, cm, 1, clv);
    }
    *log_pz = o->combine(o, lp, ones, v->L);
    *log_px = obs_lv ? o->gauss_logp(o, x, kx, bottom(v, o, z[0], 1, NULL), 1, obs_lv)
                     : own_likelihood(v, o, x, kx, z[0]);
}

static void vae_terms(const void *cfg, varia_ops *o, varia_v *x, int64_t k, varia_v *eps, varia_terms *t)
{
    const vae *v = cfg;
    varia_v *z[MAX_LAYERS];
    t->log_qz = sample_up(v, o, x, k, eps, z, &t->kl_dims, &t->log_det);
    joint_layers(v, o, x, k, z, NULL, &t->log_pz, &t->log_px);
}

static void vae_joint(const void *cfg, varia_ops *o, varia_v *x, int64_t kx, varia_v *z, varia_v *obs_logvar,
                      varia_v **log_pz, varia_v **log_px)
{
    const vae *v = cfg;
    varia_v *zl[MAX_LAYERS];
    for (int l = 0; l < v->L; l++)
        zl[l] = layer_eps(v, o, z, l);
    joint_layers(v, o, x, kx, zl, obs_logvar, log_pz, log_px);
}

static int64_t vae_noise_size(const void *cfg)
{
    return ((const vae *)cfg)->lat_total;
}

/* ---- parsing and declaring ---- */

static varia_status parse_gaussian_lik(varia_ctx *ctx, vae *v, const cJSON *lik)
{
    const char *var = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lik, "variance"));
    if (!var)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: gaussian needs \"variance\": fixed, learned or decoder");
    if (!strcmp(var, "learned")) {
        v->var = VAR_LEARNED;
    } else if (!strcmp(var, "decoder")) {
        v->var = VAR_DECODER;
    } else if (!strcmp(var, "fixed")) {
        const cJSON *lv = cJSON_GetObjectItemCaseSensitive(lik, "log_var");
        if (!cJSON_IsNumber(lv) || !isfinite(lv->valuedouble) || fabs(lv->valuedouble) > 100.0)
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: fixed variance needs a finite \"log_var\" in [-100, 100]");
        v->var = VAR_FIXED;
        v->fixed_logvar = (float)lv->valuedouble;
    } else {
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: unknown variance '%.40s'", var);
    }
    return VARIA_OK;
}

static varia_status parse_likelihood(varia_ctx *ctx, vae *v, const cJSON *arch)
{
    static const char *const known[] = {"type", "variance", "log_var", NULL};
    const cJSON *lik = cJSON_GetObjectItemCaseSensitive(arch, "likelihood");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lik, "type"));
    if (!cJSON_IsObject(lik) || !type)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"likelihood\" must be an object with a \"type\"");
    varia_json_warn_unknown(ctx, lik, "likelihood", known);
    if (!strcmp(type, "bernoulli")) {
        v->lik = VARIA_LIK_BERNOULLI;
        return VARIA_OK;
    }
    if (strcmp(type, "gaussian"))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: unknown type '%.40s' (bernoulli or gaussian)", type);
    v->lik = VARIA_LIK_GAUSSIAN;
    return parse_gaussian_lik(ctx, v, lik);
}

static varia_status parse_scale(varia_ctx *ctx, vae *v, const cJSON *arch)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(arch, "posterior_scale");
    const char *s = j ? cJSON_GetStringValue(j) : "log_var";
    if (s && !strcmp(s, "log_var"))
        return VARIA_OK;
    if (s && !strcmp(s, "log_std")) {
        v->log_std = 1;
        return VARIA_OK;
    }
    return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"posterior_scale\" must be \"log_var\" or \"log_std\"");
}

/* The bottom decoder_net emits the observation: it must end in the data's
 * shape (a vector output, or vector data, only needs the same size), with at
 * least one weighted layer, and,
 * for Bernoulli, logits (no activation on its last layer). */
static varia_status check_output_net(varia_ctx *ctx, const vae *v, varia_decl *d)
{
    const varia_net *net = &v->dec_net[0];
    int same = net->out_size == v->D;
    for (int i = 0; same && net->out_rank == 3 && v->shape.rank == 3 && i < 3; i++)
        same = net->out_shape[i] == v->shape.dims[i]; /* vector data takes any layout of its size */
    if (!same)
        return varia_fail(ctx, VARIA_ERR_SHAPE, "layers[0].decoder_net produces %lld values ([%lld, %lld, %lld] or a "
                          "vector), not the data's shape (%lld values)", (long long)net->out_size,
                          (long long)net->out_shape[0], (long long)net->out_shape[1], (long long)net->out_shape[2],
                          (long long)v->D);
    if (net->n == 0)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "layers[0].decoder_net needs a weighted layer (its last one emits "
                          "the observation)");
    if (v->var == VAR_DECODER)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "likelihood: variance \"decoder\" needs an MLP bottom decoder "
                          "(\"decoder\"), not \"decoder_net\"");
    const varia_net_op *last = &net->op[net->n - 1];
    if (v->lik == VARIA_LIK_BERNOULLI && last->act.kind != VARIA_ACT_IDENTITY)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "layers[0].decoder_net: its last layer emits the Bernoulli logits "
                          "and must have no activation");
    if (last->kind == VARIA_NET_DENSE) /* one bias per output: it starts at the data */
        d->t[d->lin[last->slot].bias].init = VARIA_INIT_DATA_MEAN;
    return VARIA_OK;
}

/* Parse layer l's encoder_net (en) or decoder_net (dn) when given, declaring
 * it under enc{l}.net / dec{l}.net; *out gets the size its heads read. */
static varia_status layer_net(varia_ctx *ctx, vae *v, varia_decl *d, const cJSON *arch, int l, int dec,
                              const cJSON *list, int64_t *out)
{
    char prefix[24], where[40];
    varia_shape in = {1, {dec ? v->lat[l] : l ? v->lat[l - 1] : v->D}};
    if (!dec && l == 0)
        in = v->shape;
    snprintf(prefix, sizeof prefix, "%s%d.net", dec ? "dec" : "enc", l + 1);
    snprintf(where, sizeof where, "layers[%d].%s_net", l, dec ? "decoder" : "encoder");
    varia_net *net = dec ? &v->dec_net[l] : &v->enc_net[l];
    varia_status st = varia_net_parse(ctx, net, list, arch, where, prefix, &in,
                                      dec ? VARIA_GROUP_GENERATIVE : VARIA_GROUP_INFERENCE, !dec && l == 0, d);
    *out = net->out_size;
    return st;
}

/* Declare layer l's two networks, the encoder q(z_l | below) and the decoder
 * p(below | z_l), in the order the trainer lays them out: a net (en, dn when
 * given) then the heads, or the MLP of widths enc_w, dec_w. */
static varia_status declare_layer(varia_ctx *ctx, vae *v, varia_decl *d, const cJSON *arch, int l, const cJSON *en,
                                  const int64_t *enc_w, int ne, const cJSON *dn, const int64_t *dec_w, int nd)
{
    char prefix[16];
    int64_t below = l ? v->lat[l - 1] : v->D, in = below;
    varia_status st = en ? layer_net(ctx, v, d, arch, l, 0, en, &in) : VARIA_OK;
    if (st != VARIA_OK)
        return st;
    snprintf(prefix, sizeof prefix, "enc%d", l + 1);
    int data = l == 0 && v->enc_net[l].n == 0;
    if (!varia_mlp_declare(d, &v->enc[l], prefix, in, enc_w, ne, v->lat[l], "mean", "scale", VARIA_GROUP_INFERENCE,
                           data))
        return varia_decl_fail(ctx, d);
    in = v->lat[l];
    if (dn && (st = layer_net(ctx, v, d, arch, l, 1, dn, &in)) != VARIA_OK)
        return st;
    if (dn && l == 0)
        return check_output_net(ctx, v, d);
    snprintf(prefix, sizeof prefix, "dec%d", l + 1);
    if (l > 0)
        return varia_mlp_declare(d, &v->dec[l], prefix, in, dec_w, nd, below, "mean", "scale",
                                 VARIA_GROUP_GENERATIVE, 0) ? VARIA_OK : varia_decl_fail(ctx, d);
    if (!varia_mlp_declare(d, &v->dec[0], prefix, in, dec_w, nd, v->D, "out", v->var == VAR_DECODER ? "logvar" : NULL,
                           VARIA_GROUP_GENERATIVE, 0))
        return varia_decl_fail(ctx, d);
    /* the output starts at the data: its mean, and its variance */
    d->t[d->lin[v->dec[0].mean].bias].init = VARIA_INIT_DATA_MEAN;
    if (v->var == VAR_DECODER)
        d->t[d->lin[v->dec[0].scale].bias].init = VARIA_INIT_DATA_LOGVAR;
    return VARIA_OK;
}

/* Widths under key (an MLP), or none when the layer gives key_net instead
 * (both: refused). */
static varia_status widths_or_net(varia_ctx *ctx, const cJSON *layer, const char *where, const char *key,
                                  const cJSON **net, int64_t *w, int *n)
{
    char net_key[16];
    snprintf(net_key, sizeof net_key, "%s_net", key);
    *net = cJSON_GetObjectItemCaseSensitive(layer, net_key);
    *n = 0;
    if (!*net)
        return varia_json_int_array(ctx, layer, where, key, 1, WIDTH_CAP, VARIA_MLP_MAX_HIDDEN, w, n);
    if (cJSON_GetObjectItemCaseSensitive(layer, key))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s: give \"%s\" or \"%s\", not both", where, key, net_key);
    return VARIA_OK;
}

/* Parse layer l of the "layers" array and declare its two networks. */
static varia_status parse_layer(varia_ctx *ctx, vae *v, varia_decl *d, const cJSON *arch, const cJSON *layer,
                                int l, varia_act dflt)
{
    static const char *const known[] = {"latent", "encoder", "decoder", "encoder_net", "decoder_net",
                                        "activation", NULL};
    char where[32];
    snprintf(where, sizeof where, "layers[%d]", l);
    if (!cJSON_IsObject(layer))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s is not an object", where);
    varia_json_warn_unknown(ctx, layer, where, known);
    int64_t enc_w[VARIA_MLP_MAX_HIDDEN], dec_w[VARIA_MLP_MAX_HIDDEN];
    const cJSON *en, *dn;
    int ne, nd;
    varia_act act;
    varia_status st = varia_json_int(ctx, layer, where, "latent", 1, 0, 1, WIDTH_CAP, &v->lat[l]);
    if (st == VARIA_OK)
        st = widths_or_net(ctx, layer, where, "encoder", &en, enc_w, &ne);
    if (st == VARIA_OK)
        st = widths_or_net(ctx, layer, where, "decoder", &dn, dec_w, &nd);
    if (st == VARIA_OK)
        st = varia_json_act(ctx, layer, arch, where, dflt, &act);
    if (st == VARIA_OK)
        st = declare_layer(ctx, v, d, arch, l, en, enc_w, ne, dn, dec_w, nd);
    if (st != VARIA_OK)
        return st;
    v->enc[l].act = v->dec[l].act = act;
    v->lat_total += v->lat[l];
    return VARIA_OK;
}

static varia_status parse_layers(varia_ctx *ctx, vae *v, varia_decl *d, const cJSON *arch)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(arch, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 || cJSON_GetArraySize(layers) > MAX_LAYERS)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"layers\" must be an array of 1 to %d objects", MAX_LAYERS);
    varia_act dflt = {VARIA_ACT_TANH, 0.0f};
    varia_status st = varia_json_act(ctx, arch, arch, "architecture", dflt, &dflt);
    v->L = cJSON_GetArraySize(layers);
    int l = 0;
    for (const cJSON *layer = layers->child; layer && st == VARIA_OK; layer = layer->next, l++)
        st = parse_layer(ctx, v, d, arch, layer, l, dflt);
    if (st == VARIA_OK && v->var == VAR_LEARNED) { /* [1] shared, or one per output ([D]) */
        v->logvar_tensor = varia_decl_add(d, "dec1.logvar", 1, 1, 0, VARIA_INIT_DATA_LOGVAR, VARIA_GROUP_GENERATIVE);
        if (v->logvar_tensor < 0)
            return varia_decl_fail(ctx, d);
        d->t[v->logvar_tensor].alt = v->D;
    }
    return st;
}

/* The top layer's posterior flow, declared after every network (the heads
 * read the top encoder's last hidden layer). */
static varia_status parse_flow(varia_ctx *ctx, vae *v, varia_decl *d, const cJSON *arch)
{
    const varia_mlp *top = &v->enc[v->L - 1];
    varia_act act; /* the MADE's default: the architecture's activation */
    varia_status st = varia_json_act(ctx, arch, arch, "architecture", (varia_act){VARIA_ACT_TANH, 0.0f}, &act);
    if (st != VARIA_OK)
        return st;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "enc%d", v->L);
    return varia_flow_parse(ctx, &v->flow, cJSON_GetObjectItemCaseSensitive(arch, "flow"), arch, d, v->lat[v->L - 1],
                            prefix, d->lin[top->mean].in, v->L == 1 && top->n_hidden == 0 && v->enc_net[0].n == 0,
                            act);
}

static void fill_info(const vae *v, varia_info *info)
{
    info->latent_size = v->lat[v->L - 1];
    info->latent_shape.rank = 1;
    info->latent_shape.dims[0] = v->lat[v->L - 1];
    info->n_stochastic = v->L;
    for (int l = 0; l < v->L; l++)
        info->layer_sizes[l] = v->lat[l];
    info->likelihood = v->lik;
    info->has_encoder = 1;
    info->flow_steps = v->flow.K;
    info->flow_amortized = v->flow.amortized;
    snprintf(info->flow, sizeof info->flow, "%s", varia_flow_name(v->flow.type));
}

static varia_status vae_parse(varia_ctx *ctx, const cJSON *arch, const varia_shape *shape, void **cfg,
                              varia_decl *decl, varia_info *info)
{
    static const char *const known[] = {"layers", "activation", "leaky_relu_slope", "elu_alpha",
                                        "posterior_scale", "likelihood", "flow", NULL};
    vae *v = calloc(1, sizeof *v);
    *cfg = v;
    if (!v)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    v->D = 1;
    v->shape = *shape;
    for (int i = 0; i < shape->rank; i++)
        v->D *= shape->dims[i];
    varia_json_warn_unknown(ctx, arch, "architecture", known);
    varia_status st = parse_likelihood(ctx, v, arch);
    if (st == VARIA_OK)
        st = parse_scale(ctx, v, arch);
    if (st == VARIA_OK)
        st = parse_layers(ctx, v, decl, arch);
    if (st == VARIA_OK)
        st = parse_flow(ctx, v, decl, arch);
    if (st == VARIA_OK)
        fill_info(v, info);
    return st;
}

const varia_family varia_family_vae = {
    .name = "vae",
    .parse = vae_parse,
    .free_cfg = free,
    .noise_size = vae_noise_size,
    .encode = vae_encode,
    .layer_means = vae_layer_means,
    .posterior_sample = vae_posterior_sample,
    .decode = vae_decode,
    .generate = vae_generate,
    .terms = vae_terms,
    .joint = vae_joint,
    .prior_latents = vae_prior_latents,
    .encode_not_q = vae_encode_not_q,
    .fixed_var = vae_fixed_var,
};

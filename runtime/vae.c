/* The VAE / IWAE family (Kingma & Welling 2014; Burda et al. 2016): L >= 1
 * stochastic layers, each with an MLP encoder q(z_l | z_{l-1}) and an MLP
 * decoder p(z_{l-1} | z_l) (p(x | z_1) for the bottom one). Tensor names and
 * the manifest are in docs/format.md section 2. */
#include "family.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 8
#define MAX_HIDDEN 16
#define WIDTH_CAP 65536
#define HALF_LOG_2PI 0.91893853320467274

enum { VAR_NONE, VAR_FIXED, VAR_LEARNED, VAR_DECODER };

/* An MLP with a mean head and an optional scale (log-variance) head. */
typedef struct gnet {
    int n_hidden;
    varia_linear hidden[MAX_HIDDEN];
    varia_act act;
    varia_linear mean, scale; /* scale.packed == NULL: no scale head */
} gnet;

typedef struct vae {
    int L;
    int64_t D, lat[MAX_LAYERS], lat_total, max_lat, max_width;
    gnet enc[MAX_LAYERS], dec[MAX_LAYERS];
    int log_std; /* heads emit log sigma rather than log sigma^2 */
    int lik, var;
    float fixed_logvar;
    const float *learned_logvar;
    int64_t learned_n;
} vae;

/* ---- forward passes ---- */

/* Run g over n rows of x; mean[n, out] and, if g has a scale head and logvar is
 * not NULL, logvar[n, out] as log sigma^2. hbuf holds 2 * n * max_width floats. */
/* The hidden layers of g over n rows: returns the last hidden activations (x
 * itself when there are none). */
static const float *gnet_hidden(const vae *v, const gnet *g, struct varia_pool *team, float *hbuf,
                                const float *x, int64_t n)
{
    float *bufs[2] = {hbuf, hbuf + n * v->max_width};
    const float *h = x;
    for (int i = 0; i < g->n_hidden; i++) {
        varia_linear_forward_team(&g->hidden[i], h, n, bufs[i & 1], g->act, team);
        h = bufs[i & 1];
    }
    return h;
}

static void gnet_forward(const vae *v, const gnet *g, struct varia_pool *team, float *hbuf, const float *x,
                         int64_t n, float *mean, float *logvar)
{
    const varia_act none = {VARIA_ACT_IDENTITY, 0.0f};
    const float *h = gnet_hidden(v, g, team, hbuf, x, n);
    varia_linear_forward_team(&g->mean, h, n, mean, none, team);
    if (!g->scale.packed || !logvar)
        return;
    varia_linear_forward_team(&g->scale, h, n, logvar, none, team);
    if (v->log_std && g != &v->dec[0])
        for (int64_t i = 0; i < n * g->scale.out; i++)
            logvar[i] *= 2.0f;
}

static float logvar_at(const vae *v, const float *head_lv, int64_t d)
{
    if (v->var == VAR_DECODER)
        return head_lv[d];
    if (v->var == VAR_LEARNED)
        return v->learned_logvar[v->learned_n == 1 ? 0 : d];
    return v->fixed_logvar;
}

/* log p(x | params) for one row of decoder output. */
static double lik_logp(const vae *v, const float *x, const float *out, const float *out_lv)
{
    if (v->lik == VARIA_LIK_BERNOULLI)
        return varia_bernoulli_logp(x, out, v->D);
    if (v->var == VAR_FIXED)
        return varia_gaussian_logp_scalar(x, out, v->fixed_logvar, v->D);
    if (v->var == VAR_DECODER)
        return varia_gaussian_logp(x, out, out_lv, v->D);
    if (v->learned_n == 1)
        return varia_gaussian_logp_scalar(x, out, v->learned_logvar[0], v->D);
    return varia_gaussian_logp(x, out, v->learned_logvar, v->D);
}

static size_t vae_ws_floats(const varia_model *m, int64_t rows)
{
    const vae *v = m->impl;
    int64_t per_row = 2 * v->max_width + 3 * v->lat_total + 2 * v->max_lat + 2 * v->D;
    return (size_t)(rows * per_row + 2 * v->lat_total);
}

static int64_t vae_noise_size(const varia_model *m)
{
    return ((const vae *)m->impl)->lat_total;
}

/* Encode along the posterior means; each layer's mean goes to means_out (row
 * stride lat_total) if given. The top layer's mean/logvar land in mean/logvar. */
static void encode_path(const vae *v, float *ws, struct varia_pool *team, const float *x, int64_t n,
                        float *mean, float *logvar, float *means_out)
{
    float *hbuf = ws, *mu = ws + 2 * n * v->max_width, *lv = mu + n * v->max_lat;
    float *next = lv + n * v->max_lat;
    const float *in = x;
    int64_t off = 0;
    for (int l = 0; l < v->L; l++) {
        int top = l == v->L - 1;
        float *m_out = top && mean ? mean : (l & 1 ? next : mu);
        gnet_forward(v, &v->enc[l], team, hbuf, in, n, m_out, top && logvar ? logvar : lv);
        for (int64_t r = 0; means_out && r < n; r++)
            memcpy(means_out + r * v->lat_total + off, m_out + r * v->lat[l], (size_t)v->lat[l] * sizeof(float));
        off += v->lat[l];
        in = m_out;
    }
}

static void vae_encode(const varia_model *m, float *ws, struct varia_pool *team, const float *x, int64_t n,
                       float *mean, float *logvar)
{
    encode_path(m->impl, ws, team, x, n, mean, logvar, NULL);
}

static void vae_layer_means(const varia_model *m, float *ws, const float *x, int64_t n, float *means)
{
    encode_path(m->impl, ws, NULL, x, n, NULL, NULL, means);
}

/* Walk down from the top latent z to the decoder output for n rows. With eps
 * (generation), layer l-1 is drawn as mean + temperature * sigma * eps;
 * otherwise it takes the conditional mean. Returns the output params, or,
 * given probs (Bernoulli only), writes the means sigmoid(logits) there with
 * the sigmoid fused into the last layer, and returns probs. */
static float *decode_path(const vae *v, float *ws, struct varia_pool *team, const float *z, int64_t n,
                          const float *eps, float temp, float *probs, float **out_lv)
{
    float *hbuf = ws, *cm = ws + 2 * n * v->max_width, *clv = cm + n * v->max_lat;
    float *zbuf = clv + n * v->max_lat, *out = zbuf + n * v->max_lat, *olv = out + n * v->D;
    const float *in = z;
    int64_t eps_off = v->lat_total - v->lat[v->L - 1];
    for (int l = v->L - 1; l >= 1; l--) {
        gnet_forward(v, &v->dec[l], team, hbuf, in, n, cm, clv);
        int64_t d = v->lat[l - 1];
        eps_off -= d;
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < d; j++) {
                float noise = eps ? temp * expf(0.5f * clv[r * d + j]) * eps[r * v->lat_total + eps_off + j] : 0.0f;
                zbuf[r * d + j] = cm[r * d + j] + noise;
            }
        in = zbuf;
    }
    *out_lv = olv;
    if (!probs) {
        gnet_forward(v, &v->dec[0], team, hbuf, in, n, out, olv);
        return out;
    }
    const float *h = gnet_hidden(v, &v->dec[0], team, hbuf, in, n);
    varia_linear_forward_team(&v->dec[0].mean, h, n, probs, (varia_act){VARIA_ACT_SIGMOID, 0.0f}, team);
    return probs;
}

static void vae_decode(const varia_model *m, float *ws, struct varia_pool *team, const float *z, int64_t n,
                       varia_decode_kind kind, float *out, float *out_logvar)
{
    const vae *v = m->impl;
    if (kind == VARIA_DECODE_MEAN && v->lik == VARIA_LIK_BERNOULLI) {
        float *unused;
        decode_path(v, ws, team, z, n, NULL, 0.0f, out, &unused);
        return;
    }
    float *olv, *params = decode_path(v, ws, team, z, n, NULL, 0.0f, NULL, &olv);
    memcpy(out, params, (size_t)(n * v->D) * sizeof(float));
    if (v->lik != VARIA_LIK_GAUSSIAN || kind != VARIA_DECODE_PARAMS || !out_logvar)
        return;
    for (int64_t r = 0; r < n; r++)
        for (int64_t d = 0; d < v->D; d++)
            out_logvar[r * v->D + d] = logvar_at(v, olv + r * v->D, d);
}

static void vae_generate(const varia_model *m, float *ws, struct varia_pool *team, int64_t n, const float *eps,
                         float temp, float *x_out, float *z_out)
{
    const vae *v = m->impl;
    int64_t top = v->lat[v->L - 1], off = v->lat_total - top;
    /* decode_path uses the first n * (2 max_width + 3 max_lat + 2 D) floats. */
    float *zt = ws + n * (2 * v->max_width + 3 * v->max_lat + 2 * v->D);
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < top; j++)
            zt[r * top + j] = temp * eps[r * v->lat_total + off + j];
    if (z_out)
        memcpy(z_out, zt, (size_t)(n * top) * sizeof(float));
    int bern = v->lik == VARIA_LIK_BERNOULLI;
    float *olv, *params = decode_path(v, ws, team, zt, n, eps, temp, bern ? x_out : NULL, &olv);
    if (!bern)
        memcpy(x_out, params, (size_t)(n * v->D) * sizeof(float));
}

/* z = mu + sigma * eps for `count` rows (mu/lv shared when shared != 0); adds
 * log q(z | .) = sum -eps^2/2 - log sigma - log(2 pi)/2 to logq[r]. */
static void reparam(const float *mu, const float *lv, int shared, const float *eps, int64_t stride,
                    int64_t count, int64_t d, float *z, double *logq)
{
    for (int64_t r = 0; r < count; r++) {
        const float *m = mu + (shared ? 0 : r * d), *l = lv + (shared ? 0 : r * d), *e = eps + r * stride;
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            z[r * d + j] = m[j] + expf(0.5f * l[j]) * e[j];
            s += -0.5 * (double)e[j] * e[j] - 0.5 * (double)l[j] - HALF_LOG_2PI;
        }
        logq[r] += s;
    }
}

static void vae_log_weights(const varia_model *m, float *ws, const float *x, int64_t count, const float *eps,
                            double *log_w, double *log_px, double *kl)
{
    const vae *v = m->impl;
    float *hbuf = ws, *mu = ws + 2 * count * v->max_width, *lv = mu + count * v->max_lat;
    float *cm = lv + count * v->max_lat, *clv = cm + count * v->max_lat, *out = clv + count * v->max_lat;
    float *olv = out + count * v->D, *z[MAX_LAYERS];
    z[0] = olv + count * v->D;
    for (int l = 1; l < v->L; l++)
        z[l] = z[l - 1] + count * v->lat[l - 1];
    double *logq = log_px; /* log_px is free until the likelihood is computed */
    for (int64_t r = 0; r < count; r++)
        logq[r] = 0.0;
    /* q(z_1 | x) is the same for every sample: run the encoder on one row. */
    gnet_forward(v, &v->enc[0], NULL, hbuf, x, 1, mu, lv);
    reparam(mu, lv, 1, eps, v->lat_total, count, v->lat[0], z[0], logq);
    *kl = NAN;
    if (v->L == 1) {
        double s = 0.0;
        for (int64_t j = 0; j < v->lat[0]; j++)
            s += 0.5 * ((double)mu[j] * mu[j] + exp((double)lv[j]) - lv[j] - 1.0);
        *kl = s;
    }
    int64_t eps_off = v->lat[0];
    for (int l = 1; l < v->L; l++) {
        gnet_forward(v, &v->enc[l], NULL, hbuf, z[l - 1], count, mu, lv);
        reparam(mu, lv, 0, eps + eps_off, v->lat_total, count, v->lat[l], z[l], logq);
        eps_off += v->lat[l];
    }
    for (int64_t r = 0; r < count; r++)
        log_w[r] = varia_std_normal_logp(z[v->L - 1] + r * v->lat[v->L - 1], v->lat[v->L - 1]) - logq[r];
    for (int l = v->L - 1; l >= 1; l--) {
        int64_t d = v->lat[l - 1];
        gnet_forward(v, &v->dec[l], NULL, hbuf, z[l], count, cm, clv);
        for (int64_t r = 0; r < count; r++)
            log_w[r] += varia_gaussian_logp(z[l - 1] + r * d, cm + r * d, clv + r * d, d);
    }
    if (v->lik == VARIA_LIK_BERNOULLI) { /* fused: the logits are never stored */
        const float *h = gnet_hidden(v, &v->dec[0], NULL, hbuf, z[0], count);
        varia_linear_bernoulli(&v->dec[0].mean, h, count, x, log_px, out);
    } else {
        gnet_forward(v, &v->dec[0], NULL, hbuf, z[0], count, out, olv);
        for (int64_t r = 0; r < count; r++)
            log_px[r] = lik_logp(v, x, out + r * v->D, olv + r * v->D);
    }
    for (int64_t r = 0; r < count; r++)
        log_w[r] += log_px[r];
}

/* ---- building from the manifest ---- */

static varia_status bind_gnet(varia_ctx *ctx, varia_model *m, gnet *g, const char *prefix, int64_t in,
                              const int64_t *widths, int n_hidden, int64_t out, const char *mean_name,
                              const char *scale_name)
{
    char name[64];
    varia_status st = VARIA_OK;
    g->n_hidden = n_hidden;
    for (int i = 0; i < n_hidden && st == VARIA_OK; i++) {
        snprintf(name, sizeof name, "%s.hidden.%d", prefix, i);
        st = varia_bind_linear(ctx, m, name, i ? widths[i - 1] : in, widths[i], &g->hidden[i]);
    }
    int64_t h = n_hidden ? widths[n_hidden - 1] : in;
    if (st == VARIA_OK) {
        snprintf(name, sizeof name, "%s.%s", prefix, mean_name);
        st = varia_bind_linear(ctx, m, name, h, out, &g->mean);
    }
    if (st == VARIA_OK && scale_name) {
        snprintf(name, sizeof name, "%s.%s", prefix, scale_name);
        st = varia_bind_linear(ctx, m, name, h, out, &g->scale);
    }
    return st;
}

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

static void widen_max(int64_t *mx, int64_t v)
{
    if (v > *mx)
        *mx = v;
}

/* Parse layer l of the "layers" array and bind its two networks. */
static varia_status build_layer(varia_ctx *ctx, varia_model *m, vae *v, const cJSON *arch, const cJSON *layer,
                                int l, varia_act dflt)
{
    static const char *const known[] = {"latent", "encoder", "decoder", "activation", NULL};
    char where[32], prefix[16];
    snprintf(where, sizeof where, "layers[%d]", l);
    if (!cJSON_IsObject(layer))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "%s is not an object", where);
    varia_json_warn_unknown(ctx, layer, where, known);
    int64_t enc_w[MAX_HIDDEN], dec_w[MAX_HIDDEN];
    int ne, nd;
    varia_act act;
    varia_status st = varia_json_int(ctx, layer, where, "latent", 1, 0, 1, WIDTH_CAP, &v->lat[l]);
    if (st == VARIA_OK)
        st = varia_json_int_array(ctx, layer, where, "encoder", 1, WIDTH_CAP, MAX_HIDDEN, enc_w, &ne);
    if (st == VARIA_OK)
        st = varia_json_int_array(ctx, layer, where, "decoder", 1, WIDTH_CAP, MAX_HIDDEN, dec_w, &nd);
    if (st == VARIA_OK)
        st = varia_json_act(ctx, layer, arch, where, dflt, &act);
    if (st != VARIA_OK)
        return st;
    v->enc[l].act = v->dec[l].act = act;
    for (int i = 0; i < ne; i++)
        widen_max(&v->max_width, enc_w[i]);
    for (int i = 0; i < nd; i++)
        widen_max(&v->max_width, dec_w[i]);
    int64_t below = l ? v->lat[l - 1] : v->D;
    snprintf(prefix, sizeof prefix, "enc%d", l + 1);
    st = bind_gnet(ctx, m, &v->enc[l], prefix, below, enc_w, ne, v->lat[l], "mean", "scale");
    snprintf(prefix, sizeof prefix, "dec%d", l + 1);
    if (st == VARIA_OK && l > 0)
        st = bind_gnet(ctx, m, &v->dec[l], prefix, v->lat[l], dec_w, nd, below, "mean", "scale");
    if (st == VARIA_OK && l == 0)
        st = bind_gnet(ctx, m, &v->dec[0], prefix, v->lat[0], dec_w, nd, v->D, "out",
                       v->var == VAR_DECODER ? "logvar" : NULL);
    return st;
}

static varia_status bind_learned_logvar(varia_ctx *ctx, varia_model *m, vae *v)
{
    varia_tensor *t = varia_weights_find(&m->w, "dec1.logvar");
    if (!t)
        return varia_fail(ctx, VARIA_ERR_MISSING, "tensor 'dec1.logvar' is missing (gaussian variance \"learned\")");
    int64_t n = t->rank == 1 ? t->shape[0] : -1;
    if (n != 1 && n != v->D)
        return varia_fail(ctx, VARIA_ERR_SHAPE, "tensor 'dec1.logvar' must have shape [1] or [%lld]", (long long)v->D);
    t->used = 1;
    v->learned_logvar = t->data;
    v->learned_n = n;
    m->info.n_params += n;
    return VARIA_OK;
}

static varia_status build_layers(varia_ctx *ctx, varia_model *m, vae *v, const cJSON *arch)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(arch, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 || cJSON_GetArraySize(layers) > MAX_LAYERS)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"layers\" must be an array of 1 to %d objects", MAX_LAYERS);
    varia_act dflt = {VARIA_ACT_TANH, 0.0f};
    varia_status st = varia_json_act(ctx, arch, arch, "architecture", dflt, &dflt);
    v->L = cJSON_GetArraySize(layers);
    v->max_width = v->D;
    int l = 0;
    for (const cJSON *layer = layers->child; layer && st == VARIA_OK; layer = layer->next, l++)
        st = build_layer(ctx, m, v, arch, layer, l, dflt);
    if (st == VARIA_OK && v->var == VAR_LEARNED)
        st = bind_learned_logvar(ctx, m, v);
    return st;
}

static void fill_info(varia_model *m, const vae *v)
{
    m->info.latent_size = v->lat[v->L - 1];
    m->info.latent_shape.rank = 1;
    m->info.latent_shape.dims[0] = v->lat[v->L - 1];
    m->info.n_stochastic = v->L;
    for (int l = 0; l < v->L; l++)
        m->info.layer_sizes[l] = v->lat[l];
    m->info.likelihood = v->lik;
    m->info.has_encoder = 1;
}

static void vae_destroy(void *impl)
{
    vae *v = impl;
    gnet *nets[] = {v->enc, v->dec};
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < MAX_LAYERS; l++) {
            for (int i = 0; i < MAX_HIDDEN; i++)
                varia_linear_free(&nets[k][l].hidden[i]);
            varia_linear_free(&nets[k][l].mean);
            varia_linear_free(&nets[k][l].scale);
        }
    free(v);
}

static varia_status vae_build(varia_ctx *ctx, varia_model *m, const cJSON *arch)
{
    static const char *const known[] = {"layers", "activation", "leaky_relu_slope", "elu_alpha",
                                        "posterior_scale", "likelihood", NULL};
    vae *v = calloc(1, sizeof *v);
    if (!v)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    m->impl = v; /* destroy() frees a half-built model too */
    v->D = m->info.data_size;
    varia_json_warn_unknown(ctx, arch, "architecture", known);
    varia_status st = parse_likelihood(ctx, v, arch);
    if (st == VARIA_OK)
        st = parse_scale(ctx, v, arch);
    if (st == VARIA_OK)
        st = build_layers(ctx, m, v, arch);
    if (st != VARIA_OK)
        return st;
    for (int l = 0; l < v->L; l++) {
        v->lat_total += v->lat[l];
        widen_max(&v->max_lat, v->lat[l]);
    }
    widen_max(&v->max_width, v->max_lat);
    fill_info(m, v);
    return VARIA_OK;
}

const varia_family varia_family_vae = {
    .name = "vae",
    .build = vae_build,
    .destroy = vae_destroy,
    .ws_floats = vae_ws_floats,
    .noise_size = vae_noise_size,
    .encode = vae_encode,
    .decode = vae_decode,
    .generate = vae_generate,
    .log_weights = vae_log_weights,
    .layer_means = vae_layer_means,
};

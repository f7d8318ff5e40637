/* The GAN family (Goodfellow et al. 2014; DCGAN, Radford et al. 2016): a
 * generator G(z), z ~ N(0, I), as a layer list (an MLP or a DCGAN stack of
 * transposed convolutions with batch norm folded at load), and optionally its
 * discriminator D(x) in the same file for training and scoring. A GAN has no
 * encoder and no tractable likelihood: encode, the ELBO and the IW estimate
 * are refused (the API names AIS, the estimator for decoder-only models).
 * The manifest and tensor names are in docs/format.md section 7. */
#include "../family.h"
#include "../blocks/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LATENT_CAP 65536

typedef struct gan {
    int64_t L, D;
    varia_shape shape;
    varia_net gen, disc;
    /* E[x|z] = scale * G(z) + shift: the generator's output range [lo, hi]
     * mapped onto the data's [0, 1] (a tanh DCGAN's [-1, 1]: 0.5 y + 0.5) */
    float scale;
    float *shift;      /* [D], shift repeated: the add op's broadcast row (owned) */
    int identity_map;  /* output_range [0, 1]: no mapping at all */
    float sigma2;      /* the manifest's observation variance for AIS (0: none) */
    int uniform;       /* prior U(-1, 1)^L instead of N(0, I) */
} gan;

static void gan_free(void *cfg)
{
    gan *g = cfg;
    if (g)
        free(g->shift);
    free(g);
}

/* ---- passes ---- */

/* G(z) in the data's range: [rows(z), D]. */
static varia_v *generator(const gan *g, varia_ops *o, varia_v *z)
{
    varia_v *y = varia_net_run(o, &g->gen, z, NULL);
    if (g->identity_map)
        return y;
    varia_v *shift = o->input(o, 1, g->D, g->shift, g->D);
    varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    return o->add(o, o->scale(o, y, g->scale), shift, 1, id);
}

static void gan_decode(const void *cfg, varia_ops *o, varia_v *z, varia_decode_kind kind, varia_v **out,
                       varia_v **out_logvar)
{
    (void)kind; /* no likelihood: its "parameters" are the mean */
    *out = generator(cfg, o, z);
    *out_logvar = NULL;
}

static void gan_generate(const void *cfg, varia_ops *o, varia_v *eps, float temp, varia_v **x, varia_v **z)
{
    const gan *g = cfg;
    *z = o->scale(o, o->cols(o, eps, 0, g->L), temp);
    if (g->uniform) /* the noise's normals mapped through their CDF: temperature narrows it too */
        *z = o->normal_to_uniform(o, *z);
    *x = generator(g, o, *z);
}

/* AIS's target over the noise eps (the latent itself for the normal prior;
 * for the uniform prior z = erf(eps / sqrt 2), a bijection whose Jacobian
 * turns U(-1, 1) into N(0, I), so p(x) is the same integral over eps and
 * HMC never meets the box's walls): log N(eps; 0, I) and the Gaussian
 * observation model N(x; E[x|z], s2 I) of obs_logvar (log s2, [1, 1]: a GAN
 * has no likelihood of its own; the API supplies the manifest's s2). */
static void gan_joint(const void *cfg, varia_ops *o, varia_v *x, int64_t kx, varia_v *eps, varia_v *obs_logvar,
                      varia_v **log_pz, varia_v **log_px)
{
    const gan *g = cfg;
    *log_pz = o->std_normal_logp(o, eps);
    varia_v *z = g->uniform ? o->normal_to_uniform(o, eps) : eps;
    *log_px = o->gauss_logp(o, x, kx, generator(g, o, z), 1, obs_logvar);
}

/* The latent of the joint pass is the noise itself. */
static void gan_prior_latents(const void *cfg, varia_ops *o, varia_v *eps, varia_v **z)
{
    (void)cfg;
    (void)o;
    z[0] = eps;
}

static double gan_obs_var(const void *cfg)
{
    return ((const gan *)cfg)->sigma2;
}

static void gan_critic(const void *cfg, varia_ops *o, varia_v *x, varia_v **logit)
{
    *logit = varia_net_run(o, &((const gan *)cfg)->disc, x, NULL);
}

static void gan_critic_grad(const void *cfg, varia_ops *o, varia_v *x, varia_v *dy, varia_v **logit, varia_v **gx)
{
    *gx = varia_net_input_grad(o, &((const gan *)cfg)->disc, x, dy, logit);
}

static varia_status gan_critic_grad_check(const void *cfg, varia_ctx *ctx)
{
    return varia_net_check_input_grad(ctx, &((const gan *)cfg)->disc, "discriminator");
}

static int gan_has_critic(const void *cfg)
{
    return ((const gan *)cfg)->disc.present;
}

static int64_t gan_noise_size(const void *cfg)
{
    return ((const gan *)cfg)->L;
}

/* ---- parsing ---- */

/* The generator must end in the data's shape (vector data takes any layout
 * of its size) with a weighted layer. */
static varia_status check_generator(varia_ctx *ctx, const gan *g)
{
    const varia_net *n = &g->gen;
    int same = n->out_size == g->D;
    for (int i = 0; same && n->out_rank == 3 && g->shape.rank == 3 && i < 3; i++)
        same = n->out_shape[i] == g->shape.dims[i];
    if (!same)
        return varia_fail(ctx, VARIA_ERR_SHAPE, "generator produces %lld values ([%lld, %lld, %lld] or a vector), "
                          "not the data's shape (%lld values)", (long long)n->out_size, (long long)n->out_shape[0],
                          (long long)n->out_shape[1], (long long)n->out_shape[2], (long long)g->D);
    if (n->n == 0)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "generator needs a weighted layer");
    return VARIA_OK;
}

/* "output_range": [lo, hi], the generator's range that maps onto [0, 1]
 * (default [0, 1]: a sigmoid generator on [0, 1] data). */
static varia_status parse_range(varia_ctx *ctx, gan *g, const cJSON *arch)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(arch, "output_range");
    double lo = 0.0, hi = 1.0;
    if (r) {
        const cJSON *a = cJSON_GetArrayItem(r, 0), *b = cJSON_GetArrayItem(r, 1);
        if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
            !isfinite(a->valuedouble) || !isfinite(b->valuedouble) || !(a->valuedouble < b->valuedouble) ||
            fabs(a->valuedouble) > 1e6 || fabs(b->valuedouble) > 1e6)
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"output_range\" must be [lo, hi], finite, "
                              "lo < hi, |lo|, |hi| <= 1e6");
        lo = a->valuedouble;
        hi = b->valuedouble;
    }
    g->identity_map = lo == 0.0 && hi == 1.0;
    g->scale = (float)(1.0 / (hi - lo));
    if (!(g->shift = malloc((size_t)g->D * sizeof(float))))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < g->D; i++)
        g->shift[i] = (float)(-lo / (hi - lo));
    return VARIA_OK;
}

/* "prior" ("normal" or "uniform") and the optional "observation":
 * {"sigma2": s} that AIS uses unless told otherwise. */
static varia_status parse_prior_obs(varia_ctx *ctx, gan *g, const cJSON *arch)
{
    static const char *const known[] = {"sigma2", NULL};
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(arch, "prior");
    const char *prior = p ? cJSON_GetStringValue(p) : "normal";
    if (!prior || (strcmp(prior, "normal") && strcmp(prior, "uniform")))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"prior\" must be \"normal\" (N(0, I)) or "
                          "\"uniform\" (U(-1, 1) per dimension)");
    g->uniform = !strcmp(prior, "uniform");
    const cJSON *obs = cJSON_GetObjectItemCaseSensitive(arch, "observation");
    if (!obs)
        return VARIA_OK;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obs, "sigma2");
    if (!cJSON_IsObject(obs) || !cJSON_IsNumber(s) || !(s->valuedouble > 0.0) || !(s->valuedouble <= 1e6))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"observation\" must be {\"sigma2\": s}, 0 < s <= 1e6");
    varia_json_warn_unknown(ctx, obs, "observation", known);
    g->sigma2 = (float)s->valuedouble;
    return VARIA_OK;
}

/* The optional discriminator: the data in, one logit out. */
static varia_status parse_disc(varia_ctx *ctx, gan *g, varia_decl *d, const cJSON *arch)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(arch, "discriminator");
    if (!list)
        return VARIA_OK;
    /* not a data input: the generator's gradient passes through it */
    varia_status st = varia_net_parse(ctx, &g->disc, list, arch, "discriminator", "disc.net", &g->shape,
                                      VARIA_GROUP_INFERENCE, 0, d);
    if (st == VARIA_OK && (g->disc.out_size != 1 || g->disc.n == 0))
        return varia_fail(ctx, VARIA_ERR_SHAPE, "discriminator must end in one value (a logit), not %lld",
                          (long long)g->disc.out_size);
    return st;
}

static varia_status gan_parse(varia_ctx *ctx, const cJSON *arch, const varia_shape *shape, void **cfg,
                              varia_decl *decl, varia_info *info)
{
    static const char *const known[] = {"latent", "prior", "generator", "discriminator", "output_range",
                                        "observation", "leaky_relu_slope", "elu_alpha", NULL};
    gan *g = calloc(1, sizeof *g);
    *cfg = g;
    if (!g)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    g->shape = *shape;
    g->D = 1;
    for (int i = 0; i < shape->rank; i++)
        g->D *= shape->dims[i];
    varia_json_warn_unknown(ctx, arch, "architecture", known);
    varia_status st = varia_json_int(ctx, arch, "architecture", "latent", 1, 0, 1, LATENT_CAP, &g->L);
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(arch, "generator");
    if (st == VARIA_OK && !gen)
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "architecture: \"generator\" (a layer list) is required");
    varia_shape in = {1, {g->L}};
    if (st == VARIA_OK)
        st = varia_net_parse(ctx, &g->gen, gen, arch, "generator", "gen.net", &in, VARIA_GROUP_GENERATIVE, 0, decl);
    if (st == VARIA_OK)
        st = check_generator(ctx, g);
    if (st == VARIA_OK)
        st = parse_disc(ctx, g, decl, arch);
    if (st == VARIA_OK)
        st = parse_range(ctx, g, arch);
    if (st == VARIA_OK)
        st = parse_prior_obs(ctx, g, arch);
    if (st != VARIA_OK)
        return st;
    info->latent_size = g->L;
    info->latent_shape = in;
    info->n_stochastic = 1;
    info->layer_sizes[0] = g->L;
    info->likelihood = VARIA_LIK_NONE;
    info->has_encoder = 0;
    snprintf(info->flow, sizeof info->flow, "none");
    return VARIA_OK;
}

const varia_family varia_family_gan = {
    .name = "gan",
    .parse = gan_parse,
    .free_cfg = gan_free,
    .noise_size = gan_noise_size,
    .decode = gan_decode,
    .generate = gan_generate,
    .joint = gan_joint,
    .prior_latents = gan_prior_latents,
    .obs_var = gan_obs_var,
    .critic = gan_critic,
    .has_critic = gan_has_critic,
    .critic_grad = gan_critic_grad,
    .critic_grad_check = gan_critic_grad_check,
};

/* Tests' helpers shared by the AIS tests (test_ais.c, test_ais_encoder.c)
 * and the evaluation tests: options, linear Gaussian models written to disk
 * and data drawn from them, and the golden models by name. */
#ifndef VARIA_TEST_AIS_UTIL_H
#define VARIA_TEST_AIS_UTIL_H

#include "rng.h"
#include "safetensors_out.h"
#include "varia.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* AIS options with these settings (from the prior), everything else 0. */
static inline varia_ais_opts ais_opts(int64_t chains, int64_t steps, uint64_t seed)
{
    varia_ais_opts o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.chains = chains;
    o.steps = steps;
    o.seed = seed;
    return o;
}

/* n examples of x = W z + b + sqrt(s2) eps (W [D, K] row-major, z and eps
 * standard normal from the stream (seed, stream)); malloc'd, the caller
 * frees it (NULL when out of memory). */
static inline float *lg_sample(const float *W, const float *b, int D, int K, double s2, int64_t n, uint64_t seed,
                               uint64_t stream)
{
    float *x = malloc((size_t)(n * D) * sizeof *x), *z = malloc((size_t)(K + D) * sizeof *z);
    varia_rng r;
    varia_rng_init(&r, seed, stream, 0, 0);
    for (int64_t i = 0; x && z && i < n; i++) {
        varia_rng_normals(&r, z, K);
        varia_rng_normals(&r, z + K, D);
        for (int d = 0; d < D; d++) {
            double v = b[d] + sqrt(s2) * z[K + d];
            for (int k = 0; k < K; k++)
                v += (double)W[d * K + k] * z[k];
            x[i * D + d] = (float)v;
        }
    }
    free(z);
    return x;
}

/* The golden model `cas` under root/tests/golden (NULL, said why, when it
 * does not load); the caller frees it. */
static inline varia_model *load_golden(varia_ctx *ctx, const char *root, const char *cas)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/golden/%s/model.json", root, cas);
    varia_model *m = NULL;
    if (varia_model_load(ctx, path, &m) != VARIA_OK)
        printf("# cannot load %s: %s\n", path, varia_ctx_message(ctx));
    return m;
}

/* A one-layer VAE with no hidden layers and a Gaussian decoder of fixed
 * log-variance: its six tensors, each [rows, cols] as the format lays them. */
typedef struct lg_tensors {
    const float *mean_w, *mean_b;   /* encoder mean head: [K, D], [K] */
    const float *scale_w, *scale_b; /* encoder log-variance head: [K, D], [K] */
    const float *dec_w, *dec_b;     /* decoder: [D, K], [D] */
} lg_tensors;

/* Write that model as dir/name.json and dir/name.safetensors and load it
 * (NULL, said why, on failure); the caller frees it and removes the files. */
static inline varia_model *lg_model(varia_ctx *ctx, const char *dir, const char *name, int D, int K, double logvar,
                                    const lg_tensors *w)
{
    const tensor_out t[] = {{"enc1.mean.weight", K, D, w->mean_w}, {"enc1.mean.bias", K, 0, w->mean_b},
                            {"enc1.scale.weight", K, D, w->scale_w}, {"enc1.scale.bias", K, 0, w->scale_b},
                            {"dec1.out.weight", D, K, w->dec_w}, {"dec1.out.bias", D, 0, w->dec_b}};
    char path[600], manifest[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    if (!write_safetensors(path, t, 6))
        return NULL;
    snprintf(manifest, sizeof manifest,
             "{\"format\": \"varia\", \"version\": \"1.0\", \"family\": \"vae\", \"data\": {\"shape\": [%d]},\n"
             " \"architecture\": {\"posterior_scale\": \"log_var\",\n"
             "  \"likelihood\": {\"type\": \"gaussian\", \"variance\": \"fixed\", \"log_var\": %g},\n"
             "  \"layers\": [{\"latent\": %d, \"encoder\": [], \"decoder\": []}]},\n"
             " \"weights\": {\"format\": \"safetensors\", \"file\": \"%s.safetensors\"}}\n",
             D, logvar, K, name);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(manifest, f) < 0 || fclose(f))
        return NULL;
    varia_model *m = NULL;
    if (varia_model_load(ctx, path, &m) != VARIA_OK)
        printf("# cannot load %s: %s\n", path, varia_ctx_message(ctx));
    return m;
}

#endif

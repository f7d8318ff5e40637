/* The trainer's model: built from the runtime's family (model.h). */
#include "model.h"

#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_INIT 101
#define STREAM_INIT_CONST 102

varia_status tr_model_build(varia_ctx *ctx, const char *family, const cJSON *arch, const varia_shape *shape,
                            tr_model *m)
{
    memset(m, 0, sizeof *m);
    if (!(m->family = varia_family_find(family)))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: unknown family '%.40s'", family);
    snprintf(m->family_name, sizeof m->family_name, "%s", family);
    m->info.data_shape = *shape;
    if (!cJSON_IsObject(arch))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "config: \"architecture\" must be an object");
    varia_status st = m->family->parse(ctx, arch, shape, &m->cfg, &m->decl, &m->info);
    if (st != VARIA_OK)
        return st;
    m->bn_floats = 3 * varia_decl_bn_channels(&m->decl, m->decl.n_lin);
    m->D = 1;
    for (int i = 0; i < shape->rank; i++)
        m->D *= shape->dims[i];
    m->noise = m->family->noise_size(m->cfg);
    if (!(m->off = calloc((size_t)m->decl.n_t + 1, sizeof *m->off)))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    m->P = tr_layout(&m->decl, m->off);
    if (m->P > ((int64_t)1 << 31))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "train: %lld parameters (at most 2^31)", (long long)m->P);
    return VARIA_OK;
}

void tr_model_free(tr_model *m)
{
    if (m->family && m->cfg)
        m->family->free_cfg(m->cfg);
    varia_decl_free(&m->decl);
    free(m->off);
    memset(m, 0, sizeof *m);
}

/* The value a data-derived bias starts at for output d. */
static float data_bias(const tr_model *m, const float *data_mean, int64_t d)
{
    double v = data_mean[d % m->D];
    if (m->info.likelihood == VARIA_LIK_BERNOULLI) {
        v = v < 1e-3 ? 1e-3 : v > 1.0 - 1e-3 ? 1.0 - 1e-3 : v;
        v = log(v / (1.0 - v));
    }
    return (float)v;
}

/* Masked weights' masked entries to 0 (in theta or in a gradient). */
void tr_model_mask(const tr_model *m, float *v)
{
    for (int i = 0; i < m->decl.n_lin; i++) {
        const varia_decl_linear *l = &m->decl.lin[i];
        for (int64_t j = 0; l->mask && j < l->in * l->out; j++)
            v[m->off[l->weight] + j] *= l->mask[j];
    }
}

/* The tensors declared VARIA_INIT_CONST or VARIA_INIT_UNIFORM. */
static void init_constants(const tr_model *m, float *theta, uint64_t seed)
{
    for (int i = 0; i < m->decl.n_t; i++) {
        const varia_decl_tensor *t = &m->decl.t[i];
        int64_t n = varia_decl_numel(t);
        varia_rng rng;
        varia_rng_init(&rng, seed, STREAM_INIT_CONST, (uint64_t)i, 0);
        for (int64_t j = 0; j < n; j++) {
            if (t->init == VARIA_INIT_CONST)
                theta[m->off[i] + j] = t->init_value;
            else if (t->init == VARIA_INIT_UNIFORM)
                theta[m->off[i] + j] = (float)((2.0 * varia_rng_uniform(&rng) - 1.0) * t->init_value);
        }
    }
}

void tr_model_init(const tr_model *m, float *theta, uint64_t seed, int he, const float *data_mean, double data_var)
{
    memset(theta, 0, (size_t)m->P * sizeof(float));
    for (int i = 0; i < m->decl.n_lin; i++) {
        const varia_decl_linear *l = &m->decl.lin[i];
        /* fan-in is the slot's in (a conv's cin kh kw, a transposed conv's cout kh kw); a conv's
         * fan-out counts its window too, as PyTorch's does */
        double fan_out = (double)l->out * (double)(l->window ? l->window : 1);
        double limit = he ? sqrt(6.0 / (double)l->in) : sqrt(6.0 / ((double)l->in + fan_out));
        varia_rng rng;
        varia_rng_init(&rng, seed, STREAM_INIT, (uint64_t)i, 0);
        for (int64_t j = 0; j < l->in * l->out; j++)
            theta[m->off[l->weight] + j] = (float)((2.0 * varia_rng_uniform(&rng) - 1.0) * limit);
    }
    tr_model_mask(m, theta);
    init_constants(m, theta, seed);
    if (!data_mean)
        return;
    for (int i = 0; i < m->decl.n_t; i++) {
        const varia_decl_tensor *t = &m->decl.t[i];
        int64_t n = varia_decl_numel(t);
        for (int64_t j = 0; j < n; j++) {
            if (t->init == VARIA_INIT_DATA_MEAN)
                theta[m->off[i] + j] = data_bias(m, data_mean, j);
            else if (t->init == VARIA_INIT_DATA_LOGVAR && data_var > 0.0)
                theta[m->off[i] + j] = (float)log(data_var);
        }
    }
}

int64_t tr_window(const tr_model *m, tr_objective *o, int64_t t0, int64_t W, int64_t T, int64_t B,
                  const int64_t *lengths, int64_t *wlen, float *state_in, float *state_out)
{
    int64_t n = T - t0 < W ? T - t0 : W, k = o->k, S = m->family->state_size(m->cfg);
    if (n <= 0)
        return 0;
    for (int64_t r = 0; r < B; r++) {
        int64_t in = lengths[r] - t0;
        wlen[r] = in < 0 ? 0 : in < n ? in : n;
        if (t0 == 0 || wlen[r] == 0)
            memset(state_in + r * k * S, 0, (size_t)(k * S) * sizeof(float));
    }
    o->seq_len = n;
    o->lengths = wlen;
    o->x_ld = T * m->D;
    o->eps_ld = T * m->noise;
    o->state_in = state_in;
    o->state_out = state_out;
    return n;
}

/* The WebAssembly module's C side: flat functions over pointers and plain
 * numbers that JavaScript (web/lib/varia.js) calls through the module's
 * exports. No int64 crosses the boundary (emscripten 3.1.6 would split it
 * into two arguments): counts are int, seeds double (integers below 2^53 are
 * exact, and give the seeds the CLI's --seed gives). Each call returns a
 * varia_status; on failure varia_web_message has the runtime's message.
 * Buffers are the caller's (JS allocates them in wasm memory with malloc and
 * frees them after the call); a model owns its context, so calls on one
 * model are not reentrant (JS is single-threaded: they never are). */
#include <varia.h>

#include "kernels.h" /* varia_kernel_name: internal, reported for the benchmark */

#include <emscripten.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A loaded model and the context its calls use. */
typedef struct varia_web_model {
    varia_ctx *ctx;
    varia_model *m;
    varia_info info;
} varia_web_model;

/* Seeds arrive as doubles; negative, fractional or huge ones are refused by
 * JS before the call, so this only narrows. */
static uint64_t seed_of(double s)
{
    return s > 0 ? (uint64_t)s : 0;
}

/* A fresh model slot with its own context, or NULL when memory is out. Load
 * into it with varia_web_load; free it with varia_web_free either way. */
EMSCRIPTEN_KEEPALIVE varia_web_model *varia_web_new(void)
{
    varia_web_model *w = calloc(1, sizeof *w);
    if (w && !(w->ctx = varia_ctx_new())) {
        free(w);
        w = NULL;
    }
    return w;
}

/* Load the manifest text manifest[mlen] and the weights file's bytes
 * weights[wlen] into w (both copied by the runtime: JS frees them after the
 * call). Returns the status; varia_web_message says what failed. */
EMSCRIPTEN_KEEPALIVE int varia_web_load(varia_web_model *w, const void *manifest, int mlen, const void *weights,
                                        int wlen)
{
    if (!w || w->m || mlen < 0 || wlen < 0)
        return VARIA_ERR_ARG;
    varia_status st = varia_model_load_memory(w->ctx, manifest, (size_t)mlen, weights, (size_t)wlen, 0, &w->m);
    if (st == VARIA_OK)
        st = varia_model_info(w->m, &w->info);
    return st;
}

/* The message of w's last failing call ("" if none); valid until its next call. */
EMSCRIPTEN_KEEPALIVE const char *varia_web_message(const varia_web_model *w)
{
    return w ? varia_ctx_message(w->ctx) : "";
}

/* The model's family name ("vae", "draw", "gan", "vrnn"); valid while w lives. */
EMSCRIPTEN_KEEPALIVE const char *varia_web_family(const varia_web_model *w)
{
    return w && w->m ? w->info.family : "";
}

/* What JS needs of varia_info, as 12 ints into out[12]: latent size, data
 * size (one frame for a sequence model), data rank and dims[0..2] (rank 3:
 * C, H, W), steps (DRAW's T, else 0), then the capabilities encode, eval,
 * invert (a decoder without encoder: a GAN), decode steps (DRAW),
 * sequences (VRNN), as 0 or 1. */
EMSCRIPTEN_KEEPALIVE int varia_web_info(const varia_web_model *w, int *out)
{
    if (!w || !w->m || !out)
        return VARIA_ERR_ARG;
    const varia_info *in = &w->info;
    int draw = !strcmp(in->family, "draw"), seq = varia_model_can(w->m, VARIA_NEEDS_SEQ_LEN);
    int v[12] = {(int)in->latent_size, (int)in->data_size, in->data_shape.rank,
                 (int)in->data_shape.dims[0], (int)in->data_shape.dims[1], (int)in->data_shape.dims[2],
                 draw && in->latent_shape.rank == 2 ? (int)in->latent_shape.dims[0] : 0,
                 varia_model_can(w->m, VARIA_CAN_ENCODE), varia_model_can(w->m, VARIA_CAN_EVAL),
                 !in->has_encoder && !seq && varia_model_can(w->m, VARIA_CAN_SAMPLE), draw, seq};
    memcpy(out, v, sizeof v);
    return VARIA_OK;
}

/* varia_sample: x[n * data] = E[x|z] and, unless z is NULL, z[n * latent]
 * the latents decoded, z from the prior with noise scaled by temperature;
 * `varia sample MODEL -n n --seed seed --temperature t` draws the same. */
EMSCRIPTEN_KEEPALIVE int varia_web_sample(varia_web_model *w, int n, double seed, float temperature, float *x,
                                          float *z)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    return varia_sample(w->ctx, w->m, n, seed_of(seed), temperature, x, z);
}

/* varia_decode's means: x[n * data] from z[n * latent]. */
EMSCRIPTEN_KEEPALIVE int varia_web_decode(varia_web_model *w, const float *z, int n, float *x)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    return varia_decode(w->ctx, w->m, z, n, VARIA_DECODE_MEAN, x, NULL);
}

/* The latent an image's reconstruction decodes: mean[n * latent] from x[n *
 * data], varia_encode's posterior means, or for a flow posterior q_0's mean
 * pushed through the flow (varia_encode_sample_ex at temperature 0), as
 * `varia interpolate` takes its endpoints: q_0's own mean is not the
 * posterior's mean latent, and decodes worse. */
EMSCRIPTEN_KEEPALIVE int varia_web_encode(varia_web_model *w, const float *x, int n, float *mean)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    if (w->info.flow_steps > 0) {
        varia_opts zero = {.size = sizeof zero, .flags = VARIA_OPT_TEMPERATURE, .temperature = 0.0f};
        return varia_encode_sample_ex(w->ctx, w->m, x, n, &zero, mean);
    }
    return varia_encode(w->ctx, w->m, x, n, mean, NULL);
}

/* varia_invert of a GAN: z[n * latent] from x[n * data], `starts` seeded
 * starts of `iters` Adam steps each, under the manifest's observation
 * variance; mse[n] (may be NULL) each reconstruction's error. */
EMSCRIPTEN_KEEPALIVE int varia_web_invert(varia_web_model *w, const float *x, int n, double seed, int starts,
                                          int iters, float *z, double *mse)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    varia_invert_opts o = {.size = sizeof o, .starts = starts, .steps = iters, .seed = seed_of(seed)};
    return varia_invert(w->ctx, w->m, x, n, &o, z, mse);
}

/* The decoded path from za to zb (one latent each): steps latents
 * (varia_interpolate_latents, slerp when slerp is nonzero) into zpath[steps *
 * latent], decoded into x[steps * data], as `varia interpolate` does. */
EMSCRIPTEN_KEEPALIVE int varia_web_interpolate(varia_web_model *w, const float *za, const float *zb, int steps,
                                               int slerp, float *zpath, float *x)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    varia_status st = varia_interpolate_latents(za, zb, w->info.latent_size, steps, slerp ? VARIA_SLERP : VARIA_LERP,
                                                zpath);
    if (st != VARIA_OK)
        return st; /* NaN input or a path beyond float range: the runtime leaves no message for it */
    return varia_decode(w->ctx, w->m, zpath, steps, VARIA_DECODE_MEAN, x, NULL);
}

/* varia_eval_ex of n examples x with k importance samples, the data's
 * binarization `binarize` (a varia_binarize) and, for a sequence model,
 * length > 0 frames each (x[n * length * frame]): out[5] = the mean NLL
 * (-log p(x), the IW estimate), its standard error, the ELBO, its
 * reconstruction term and its KL term (means over examples, nats). */
EMSCRIPTEN_KEEPALIVE int varia_web_eval(varia_web_model *w, const float *x, int n, int k, double seed, int binarize,
                                        int length, double *out)
{
    if (!w || !w->m || !out)
        return VARIA_ERR_ARG;
    varia_eval_opts eo = {.k = k, .seed = seed_of(seed), .binarize = (varia_binarize)binarize};
    varia_opts o = {.size = sizeof o, .seq_len = length};
    varia_eval_summary s;
    varia_status st = varia_eval_ex(w->ctx, w->m, x, n, &eo, length > 0 ? &o : NULL, NULL, &s);
    if (st == VARIA_OK) {
        double v[5] = {s.nll_mean, s.nll_stderr, s.elbo, s.recon, s.kl};
        memcpy(out, v, sizeof v);
    }
    return st;
}

/* varia_decode_steps (DRAW): out[n * T * data], the canvas after each step. */
EMSCRIPTEN_KEEPALIVE int varia_web_decode_steps(varia_web_model *w, const float *z, int n, float *out)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    return varia_decode_steps(w->ctx, w->m, z, n, out);
}

/* varia_sample_ex of a sequence model: x[n * length * frame] (0/1 frames
 * drawn and fed back), as `varia sample MODEL -n n --length length --seed
 * seed --temperature t` draws them; z[n * length * latent] may be NULL. */
EMSCRIPTEN_KEEPALIVE int varia_web_sample_sequences(varia_web_model *w, int n, int length, double seed,
                                                    float temperature, float *x, float *z)
{
    if (!w || !w->m)
        return VARIA_ERR_ARG;
    varia_opts o = {.size = sizeof o, .flags = VARIA_OPT_TEMPERATURE, .seed = seed_of(seed),
                    .temperature = temperature, .seq_len = length};
    return varia_sample_ex(w->ctx, w->m, n, &o, x, z);
}

/* Free the model and its context; w may be NULL or never loaded. */
EMSCRIPTEN_KEEPALIVE void varia_web_free(varia_web_model *w)
{
    if (!w)
        return;
    varia_model_free(w->m);
    varia_ctx_free(w->ctx);
    free(w);
}

/* varia_status_name, for JS (exported under this prefix with the others). */
EMSCRIPTEN_KEEPALIVE const char *varia_web_status_name(int status)
{
    return varia_status_name((varia_status)status);
}

/* varia_kernel_name: the matrix kernels in use ("wasm-simd128" or "generic"). */
EMSCRIPTEN_KEEPALIVE const char *varia_web_kernel_name(void)
{
    return varia_kernel_name();
}

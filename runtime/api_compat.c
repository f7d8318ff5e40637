/* The operations as first published, before per-call options: each is its
 * _ex counterpart with the options it can carry (a seed, a temperature). A
 * model whose calls need more (a sequence length, labels) refuses them through
 * the _ex call's checks, with a message naming the option. */
#include "api.h"

/* Options carrying a seed, and a temperature when temp_set. */
static varia_opts seeded(uint64_t seed, int temp_set, float temperature)
{
    varia_opts o = {.size = sizeof(varia_opts), .seed = seed};
    if (temp_set) {
        o.flags = VARIA_OPT_TEMPERATURE;
        o.temperature = temperature;
    }
    return o;
}

varia_status varia_encode(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, float *mean,
                          float *logvar)
{
    return varia_encode_ex(ctx, m, x, n, NULL, mean, logvar);
}

varia_status varia_encode_sample(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, uint64_t seed,
                                 float *z)
{
    varia_opts o = seeded(seed, 0, 1.0f);
    return varia_encode_sample_ex(ctx, m, x, n, &o, z);
}

varia_status varia_decode(varia_ctx *ctx, const varia_model *m, const float *z, int64_t n,
                          varia_decode_kind kind, float *out, float *out_logvar)
{
    return varia_decode_ex(ctx, m, z, n, NULL, kind, out, out_logvar);
}

varia_status varia_sample(varia_ctx *ctx, const varia_model *m, int64_t n, uint64_t seed, float temperature,
                          float *x_out, float *z_out)
{
    varia_opts o = seeded(seed, 1, temperature);
    return varia_sample_ex(ctx, m, n, &o, x_out, z_out);
}

varia_status varia_reconstruct(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, float *x_out)
{
    return varia_reconstruct_ex(ctx, m, x, n, NULL, x_out);
}

varia_status varia_eval(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                        const varia_eval_opts *opts, varia_eval_row *rows, varia_eval_summary *summary)
{
    return varia_eval_ex(ctx, m, x, n, opts, NULL, rows, summary);
}

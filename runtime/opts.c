/* Per-call options (varia_opts) checked and resolved once for every _ex
 * operation, and the model facts callers size their buffers by. */
#include "api.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define KNOWN_FLAGS VARIA_OPT_TEMPERATURE

/* Copy the caller's struct (of its own version) into *o: the fields an older,
 * shorter struct lacks stay zero; fields a newer one adds must be zero. */
static varia_status read_opts(varia_ctx *ctx, const varia_opts *in, const char *op, varia_opts *o)
{
    memset(o, 0, sizeof *o);
    if (!in)
        return VARIA_OK;
    size_t head = offsetof(varia_opts, seed);
    if (in->size < head)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_opts.size is %u; set it to sizeof(varia_opts) = %zu", op,
                          in->size, sizeof(varia_opts));
    size_t n = in->size < sizeof *o ? in->size : sizeof *o;
    memcpy(o, in, n);
    const unsigned char *tail = (const unsigned char *)in;
    for (size_t i = sizeof *o; i < in->size; i++)
        if (tail[i])
            return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "%s: varia_opts has a nonzero field at byte %zu, which this "
                              "library (varia_opts of %zu bytes) does not know", op, i, sizeof *o);
    return VARIA_OK;
}

/* The per-call information the model's family needs, or does not take. */
static varia_status check_needs(varia_ctx *ctx, const varia_model *m, const varia_opts *o, const char *op)
{
    unsigned needs = m->family->needs;
    const char *fam = m->info.family;
    if (!(needs & VARIA_FAMILY_SEQ_LEN) && (o->seq_len || o->lengths))
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: family '%s' takes no sequence length (varia_opts.%s must be %s)",
                          op, fam, o->seq_len ? "seq_len" : "lengths", o->seq_len ? "0" : "NULL");
    if (!(needs & VARIA_FAMILY_LABELS) && o->labels)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: family '%s' takes no labels (varia_opts.labels must be NULL)", op,
                          fam);
    if ((needs & VARIA_FAMILY_SEQ_LEN) && o->seq_len <= 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: family '%s' needs varia_opts.seq_len > 0 (use the _ex call)", op,
                          fam);
    if ((needs & VARIA_FAMILY_LABELS) && !o->labels)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: family '%s' needs varia_opts.labels (use the _ex call)", op, fam);
    return VARIA_OK;
}

varia_status varia_opts_resolve(varia_ctx *ctx, const varia_model *m, const varia_opts *opts, int64_t n,
                                const char *op, varia_call *c)
{
    varia_opts o;
    varia_status st = read_opts(ctx, opts, op, &o);
    if (st != VARIA_OK)
        return st;
    if (o.flags & ~KNOWN_FLAGS)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: unknown bits 0x%x in varia_opts.flags", op, o.flags & ~KNOWN_FLAGS);
    if (o.reserved)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_opts.reserved must be 0", op);
    float temp = o.flags & VARIA_OPT_TEMPERATURE ? o.temperature : 1.0f;
    if (!isfinite(temp) || temp < 0.0f || temp > 100.0f)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: temperature %g outside [0, 100]", op, (double)temp);
    if ((st = check_needs(ctx, m, &o, op)) != VARIA_OK)
        return st;
    for (int64_t i = 0; o.lengths && i < n; i++)
        if (o.lengths[i] < 1 || o.lengths[i] > o.seq_len)
            return varia_fail(ctx, VARIA_ERR_ARG, "%s: varia_opts.lengths[%lld] = %lld outside [1, seq_len = %lld]", op,
                              (long long)i, (long long)o.lengths[i], (long long)o.seq_len);
    *c = (varia_call){o.seed, temp, o.seq_len, o.lengths, o.labels};
    return VARIA_OK;
}

int64_t varia_call_steps(const varia_model *m, const varia_call *c)
{
    return (m->family->needs & VARIA_FAMILY_SEQ_LEN) ? c->seq_len : 1;
}

int varia_model_can(const varia_model *m, varia_capability what)
{
    if (!m)
        return 0;
    const varia_family *f = m->family;
    switch (what) {
    case VARIA_CAN_ENCODE: return f->encode && f->posterior_sample && f->layer_means && m->info.has_encoder;
    case VARIA_CAN_EVAL: return f->terms != NULL;
    case VARIA_CAN_SAMPLE: return f->generate && f->decode;
    case VARIA_NEEDS_SEQ_LEN: return (f->needs & VARIA_FAMILY_SEQ_LEN) != 0;
    case VARIA_NEEDS_LABELS: return (f->needs & VARIA_FAMILY_LABELS) != 0;
    }
    return 0;
}

varia_status varia_buffer_sizes(varia_ctx *ctx, const varia_model *m, const varia_opts *opts,
                                int64_t *example_floats, int64_t *latent_floats)
{
    if (!ctx || !m)
        return varia_fail(ctx, VARIA_ERR_ARG, "buffer_sizes: null argument");
    varia_call c = {0};
    varia_status st = varia_opts_resolve(ctx, m, opts, 0, "buffer_sizes", &c);
    if (st != VARIA_OK)
        return st;
    if (example_floats)
        *example_floats = m->info.data_size * varia_call_steps(m, &c);
    if (latent_floats)
        *latent_floats = m->info.latent_size * varia_call_steps(m, &c);
    return VARIA_OK;
}

/* One example's importance samples split by their chunks (varia.h,
 * varia_eval_chunks): any contiguous run of an example's chunks computed by
 * eval.c's own items, and every chunk folded in chunk order by the merge and
 * finish varia_eval runs, so the row is varia_eval's bit for bit however the
 * chunks were shared out. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t varia_eval_chunk_count(int64_t k)
{
    return k < 1 ? 0 : (k + VARIA_EVAL_CHUNK - 1) / VARIA_EVAL_CHUNK;
}

static void to_public(const varia_iw_acc *a, int64_t example, int64_t chunk, varia_eval_chunk *out)
{
    *out = (varia_eval_chunk){.example = example, .chunk = chunk, .count = a->count, .max = a->max, .sum = a->sum,
                              .recon = a->recon, .mc_kl = a->mc_kl, .log_det = a->log_det, .kl = a->kl,
                              .saw_nan = a->saw_nan};
}

static varia_iw_acc from_public(const varia_eval_chunk *c)
{
    return (varia_iw_acc){.max = c->max, .sum = c->sum, .recon = c->recon, .mc_kl = c->mc_kl,
                          .log_det = c->log_det, .kl = c->kl, .count = c->count, .saw_nan = c->saw_nan};
}

/* The example's posterior means into means[U]: its binarization, then the
 * pass eval.c runs on chunk 0, every stochastic layer bottom first. */
static varia_status example_means(varia_ctx *ctx, const varia_model *m, const float *x, int64_t index,
                                  const varia_eval_opts *o, float *means)
{
    int64_t D = m->info.data_size, E = varia_model_noise(m), U = 0;
    for (int l = 0; l < m->info.n_stochastic; l++)
        U += m->info.layer_sizes[l];
    float *xb = malloc((size_t)(D + E) * sizeof *xb), *ws = varia_ws_get(ctx, m, VARIA_BATCH, 0);
    if (!xb || !ws) {
        free(xb);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "eval_chunks: out of memory for the posterior means");
    }
    varia_binarize_example(o->seed, o->binarize, index, x, xb, D);
    varia_run_layer_means(m, ws, xb, 1, xb + D);
    memcpy(means, xb + D, (size_t)U * sizeof *means);
    free(xb);
    return VARIA_OK;
}

varia_status varia_eval_chunks(varia_ctx *ctx, const varia_model *m, const float *x, int64_t index, int64_t c0,
                               int64_t nc, const varia_eval_opts *opts, varia_eval_chunk *chunks, float *means)
{
    if (m && (m->family->needs & VARIA_FAMILY_SEQ_LEN))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "eval_chunks: family '%s' has sequences (use varia_eval_ex)",
                          m->info.family);
    varia_call c;
    varia_status st = varia_eval_check(ctx, m, x, 1, opts, NULL, &c);
    if (st != VARIA_OK)
        return st;
    int64_t total = varia_eval_chunk_count(opts->k);
    if (c0 < 0 || nc < 0 || c0 > total - nc || (nc > 0 && !chunks) || index < 0 || index >= VARIA_MAX_ROWS)
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_chunks: chunks [%lld, %lld) of %lld, index %lld: needs a range "
                          "inside the example's chunks, an output for it and an index in [0, 2^31)",
                          (long long)c0, (long long)(c0 + nc), (long long)total, (long long)index);
    varia_iw_acc *accs = nc > 0 ? malloc((size_t)nc * sizeof *accs) : NULL;
    if (nc > 0 && !accs)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "eval_chunks: out of memory for %lld chunks", (long long)nc);
    st = varia_eval_run_chunks(ctx, m, x, index, c0, nc, opts, accs);
    for (int64_t i = 0; st == VARIA_OK && i < nc; i++)
        to_public(&accs[i], index, c0 + i, &chunks[i]);
    free(accs);
    if (st == VARIA_OK && means)
        st = example_means(ctx, m, x, index, opts, means);
    return st;
}

/* 1 when chunks[n] are chunks 0 .. n-1 of one example with the counts k gives. */
static int in_order(const varia_eval_chunk *chunks, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t want = k - i * VARIA_EVAL_CHUNK < VARIA_EVAL_CHUNK ? k - i * VARIA_EVAL_CHUNK : VARIA_EVAL_CHUNK;
        if (chunks[i].chunk != i || chunks[i].example != chunks[0].example || chunks[i].count != want)
            return 0;
    }
    return 1;
}

varia_status varia_eval_combine(varia_ctx *ctx, const varia_eval_chunk *chunks, int64_t k, varia_eval_row *row)
{
    int64_t n = varia_eval_chunk_count(k);
    if (!ctx || !chunks || !row || k < 1 || k > ((int64_t)1 << 32))
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_combine: needs a context, chunks, a row and k in [1, 2^32]");
    if (!in_order(chunks, n, k))
        return varia_fail(ctx, VARIA_ERR_ARG, "eval_combine: the chunks are not one example's %lld chunks of k = "
                          "%lld in chunk order", (long long)n, (long long)k);
    varia_iw_acc run = from_public(&chunks[0]); /* the fold of eval.c's eval_group */
    for (int64_t i = 1; i < n; i++) {
        varia_iw_acc b = from_public(&chunks[i]);
        varia_iw_merge(&run, &b);
    }
    if (!varia_iw_finish(&run, run.kl, row))
        return varia_fail(ctx, VARIA_ERR_NONFINITE,
                          "eval: example %lld gives a non-finite log-weight (extreme weights or input)",
                          (long long)chunks[0].example);
    return VARIA_OK;
}

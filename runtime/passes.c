/* The passes on the exec backend (passes.h): wrap the caller's buffers as
 * input values, run the family's pass, copy the values out. */
#include "passes.h"

#include "ops_exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MEASURE_VALS 8192

size_t varia_model_ws(const varia_model *m)
{
    return m->ws_floats;
}

int64_t varia_model_noise(const varia_model *m)
{
    return m->family->noise_size(m->cfg);
}

/* NaN over n floats: what a pass leaves when its workspace fell short. */
static void poison(float *y, int64_t n)
{
    for (int64_t i = 0; y && i < n; i++)
        y[i] = NAN;
}

/* Copy v out, or poison dst when the pass failed. */
static void out_f(const varia_exec *e, const varia_v *v, float *dst)
{
    if (!dst)
        return;
    if (e->failed || !v)
        poison(dst, v ? v->rows * v->cols : 0);
    else
        varia_exec_copy_out(v, dst);
}

void varia_run_encode(const varia_model *m, float *ws, struct varia_pool *team, const float *x, int64_t n,
                      float *mean, float *logvar)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, team);
    varia_v *mu, *lv = NULL;
    m->family->encode(m->cfg, &e.ops, e.ops.input(&e.ops, n, m->info.data_size, x, m->info.data_size), &mu,
                      logvar ? &lv : NULL);
    out_f(&e, mu, mean);
    out_f(&e, lv, logvar);
}

void varia_run_layer_means(const varia_model *m, float *ws, const float *x, int64_t n, float *means)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, NULL);
    varia_v *mv[VARIA_MAX_LAYERS];
    m->family->layer_means(m->cfg, &e.ops, e.ops.input(&e.ops, n, m->info.data_size, x, m->info.data_size), mv);
    int64_t stride = varia_model_noise(m), off = 0;
    for (int l = 0; l < m->info.n_stochastic; l++) {
        for (int64_t r = 0; r < n; r++) {
            float *dst = means + r * stride + off;
            if (e.failed)
                poison(dst, mv[l]->cols);
            else
                memcpy(dst, mv[l]->f + r * mv[l]->ld, (size_t)mv[l]->cols * sizeof(float));
        }
        off += m->info.layer_sizes[l];
    }
}

void varia_run_posterior_sample(const varia_model *m, float *ws, struct varia_pool *team, const float *x,
                                int64_t n, const float *eps, float *z, double *logq)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, team);
    int64_t E = varia_model_noise(m);
    varia_v *zv, *qv;
    m->family->posterior_sample(m->cfg, &e.ops, e.ops.input(&e.ops, n, m->info.data_size, x, m->info.data_size),
                                e.ops.input(&e.ops, n, E, eps, E), &zv, &qv);
    out_f(&e, zv, z);
    for (int64_t r = 0; logq && r < n; r++)
        logq[r] = e.failed ? NAN : qv->d[r];
}

/* The observation log-variance value (one row, or a scalar) spread over n rows of D. */
static void spread_logvar(const varia_exec *e, const varia_v *lv, int64_t n, int64_t D, float *dst)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t d = 0; d < D; d++) {
            int64_t row = lv->rows == 1 ? 0 : r, col = lv->cols == 1 ? 0 : d;
            dst[r * D + d] = e->failed ? NAN : lv->f[row * lv->ld + col];
        }
}

void varia_run_decode(const varia_model *m, float *ws, struct varia_pool *team, const float *z, int64_t n,
                      varia_decode_kind kind, float *out, float *out_logvar)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, team);
    int64_t L = m->info.latent_size;
    varia_v *xv, *lv;
    varia_exec_place(&e, out, n, m->info.data_size);
    m->family->decode(m->cfg, &e.ops, e.ops.input(&e.ops, n, L, z, L), kind, &xv, &lv);
    out_f(&e, xv, out);
    if (lv && out_logvar)
        spread_logvar(&e, lv, n, m->info.data_size, out_logvar);
}

void varia_run_generate(const varia_model *m, float *ws, struct varia_pool *team, int64_t n, const float *eps,
                        float temp, float *x_out, float *z_out)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, team);
    int64_t E = varia_model_noise(m);
    varia_v *xv, *zv;
    varia_exec_place(&e, x_out, n, m->info.data_size);
    m->family->generate(m->cfg, &e.ops, e.ops.input(&e.ops, n, E, eps, E), temp, &xv, &zv);
    out_f(&e, zv, z_out); /* first: z may be the value that took x_out's place */
    out_f(&e, xv, x_out);
}

void varia_run_log_weights(const varia_model *m, float *ws, const float *x, int64_t count, const float *eps,
                           double *log_w, double *log_px, double *kl, double *log_det)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, NULL);
    int64_t D = m->info.data_size, E = varia_model_noise(m);
    varia_terms t = {0};
    m->family->terms(m->cfg, &e.ops, e.ops.input(&e.ops, 1, D, x, D), count, e.ops.input(&e.ops, count, E, eps, E),
                     &t);
    /* kl_dims: one row shared by the samples (a VAE's posterior) or one per
     * sample (DRAW's, along each particle's trajectory): their mean */
    varia_v *klv = t.kl_dims ? e.ops.row_sum(&e.ops, t.kl_dims) : NULL;
    double kls = 0.0;
    for (int64_t r = 0; klv && !e.failed && r < klv->rows; r++)
        kls += klv->d[r];
    *kl = klv && !e.failed ? kls / (double)klv->rows : NAN;
    *log_det = 0.0;
    for (int64_t r = 0; t.log_det && r < count; r++)
        *log_det += e.failed ? NAN : t.log_det->d[r];
    for (int64_t r = 0; r < count; r++) {
        log_px[r] = e.failed ? NAN : t.log_px->d[r];
        log_w[r] = e.failed ? NAN : t.log_pz->d[r] - t.log_qz->d[r] + log_px[r];
    }
}

void varia_run_decode_steps(const varia_model *m, float *ws, const float *z, float *out)
{
    varia_exec e;
    varia_exec_begin(&e, m, ws, NULL);
    int64_t L = m->info.latent_size;
    varia_v *c;
    m->family->decode_steps(m->cfg, &e.ops, e.ops.input(&e.ops, 1, L, z, L), &c);
    out_f(&e, c, out);
}

/* ---- sequence families (VARIA_FAMILY_SEQ_LEN) ---- */

/* Begin a pass of a sequence family: its steps and lengths on the ops, and
 * the T-long outputs' destinations (rows of ld floats) for emit. */
static void seq_begin(varia_exec *e, const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                      float *out0, int64_t ld0, float *out1, int64_t ld1)
{
    varia_exec_begin(e, m, ws, team);
    e->ops.seq_len = seq->T;
    e->ops.lengths = seq->lengths;
    e->ops.out[0] = out0;
    e->ops.out_ld[0] = ld0;
    e->ops.out[1] = out1;
    e->ops.out_ld[1] = ld1;
}

/* An emitted output of n rows of w when the pass failed: NaN, as out_f does. */
static void seq_poison(const varia_exec *e, float *dst, int64_t n, int64_t w)
{
    if (e->failed)
        poison(dst, n * w);
}

void varia_run_seq_encode(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                          const float *x, int64_t n, float *mean, float *logvar)
{
    varia_exec e;
    int64_t TD = seq->T * m->info.data_size, TL = seq->T * m->info.latent_size;
    seq_begin(&e, m, ws, team, seq, mean, TL, logvar, TL);
    varia_v *mu, *lv = NULL;
    m->family->encode(m->cfg, &e.ops, e.ops.input(&e.ops, n, TD, x, TD), &mu, logvar ? &lv : NULL);
    seq_poison(&e, mean, n, TL);
    seq_poison(&e, logvar, n, TL);
}

void varia_run_seq_posterior_sample(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                                    const float *x, int64_t n, const float *eps, float *z, double *logq)
{
    varia_exec e;
    int64_t TD = seq->T * m->info.data_size, TL = seq->T * m->info.latent_size, TE = seq->T * varia_model_noise(m);
    seq_begin(&e, m, ws, team, seq, z, TL, NULL, 0);
    varia_v *zv, *qv;
    m->family->posterior_sample(m->cfg, &e.ops, e.ops.input(&e.ops, n, TD, x, TD),
                                e.ops.input(&e.ops, n, TE, eps, TE), &zv, &qv);
    seq_poison(&e, z, n, TL);
    for (int64_t r = 0; logq && r < n; r++)
        logq[r] = e.failed ? NAN : qv->d[r];
}

void varia_run_seq_decode(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                          const float *z, int64_t n, varia_decode_kind kind, float *out, float *out_logvar)
{
    varia_exec e;
    int64_t TD = seq->T * m->info.data_size, TL = seq->T * m->info.latent_size;
    seq_begin(&e, m, ws, team, seq, out, TD, out_logvar, TD);
    varia_v *xv, *lv;
    m->family->decode(m->cfg, &e.ops, e.ops.input(&e.ops, n, TL, z, TL), kind, &xv, &lv);
    seq_poison(&e, out, n, TD);
    if (kind == VARIA_DECODE_PARAMS && m->info.likelihood == VARIA_LIK_GAUSSIAN)
        seq_poison(&e, out_logvar, n, TD);
}

void varia_run_seq_generate(const varia_model *m, float *ws, struct varia_pool *team, const varia_seq *seq,
                            int64_t n, const float *eps, float temp, float *x_out, float *z_out)
{
    varia_exec e;
    int64_t TD = seq->T * m->info.data_size, TL = seq->T * m->info.latent_size, TE = seq->T * varia_model_noise(m);
    seq_begin(&e, m, ws, team, seq, x_out, TD, z_out, TL);
    varia_v *xv, *zv;
    m->family->generate(m->cfg, &e.ops, e.ops.input(&e.ops, n, TE, eps, TE), temp, &xv, &zv);
    seq_poison(&e, x_out, n, TD);
    seq_poison(&e, z_out, n, TL);
}

void varia_run_seq_log_weights(const varia_model *m, float *ws, const varia_seq *seq, const float *x,
                               int64_t count, const float *eps, double *log_w, double *log_px, double *kl)
{
    varia_exec e;
    int64_t TD = seq->T * m->info.data_size, TE = seq->T * varia_model_noise(m);
    seq_begin(&e, m, ws, NULL, seq, NULL, 0, NULL, 0);
    varia_terms t = {0};
    m->family->terms(m->cfg, &e.ops, e.ops.input(&e.ops, 1, TD, x, TD), count,
                     e.ops.input(&e.ops, count, TE, eps, TE), &t);
    varia_v *klv = e.ops.row_sum(&e.ops, t.kl_dims);
    double kls = 0.0;
    for (int64_t r = 0; !e.failed && r < klv->rows; r++)
        kls += klv->d[r];
    *kl = e.failed ? NAN : kls / (double)klv->rows;
    for (int64_t r = 0; r < count; r++) {
        log_px[r] = e.failed ? NAN : t.log_px->d[r];
        log_w[r] = e.failed ? NAN : t.log_pz->d[r] - t.log_qz->d[r] + log_px[r];
    }
}

/* The passes the measure runs, each as the API calls it (decode_steps for
 * one row: the API runs it row by row, its output being T images a row). */
enum { M_ENCODE, M_LAYER_MEANS, M_POSTERIOR, M_DECODE_MEAN, M_DECODE_PARAMS, M_GENERATE, M_TERMS, M_DECODE_STEPS,
       M_PASSES };

/* Run pass `which` for VARIA_WS_ROWS rows (the terms: one example, that many
 * samples) under measure; track the largest need. */
static void measure_one(const varia_model *m, int which, const varia_seq *seq, varia_v *vals, size_t *nv,
                        size_t *nf, int *failed)
{
    varia_exec e;
    varia_measure_begin(&e, m, vals, MEASURE_VALS);
    varia_ops *o = &e.ops;
    int64_t T = seq ? seq->T : 1, R = VARIA_WS_ROWS;
    int64_t D = m->info.data_size * T, E = varia_model_noise(m) * T, L = m->info.latent_size * T;
    if (seq) {
        o->seq_len = seq->T;
        o->lengths = seq->lengths;
    }
    varia_v *a, *b, *mv[VARIA_MAX_LAYERS];
    varia_terms t = {0};
    const varia_family *f = m->family;
    if (which == M_ENCODE && f->encode)
        f->encode(m->cfg, o, o->input(o, R, D, NULL, D), &a, &b);
    if (which == M_LAYER_MEANS && f->layer_means)
        f->layer_means(m->cfg, o, o->input(o, R, D, NULL, D), mv);
    if (which == M_POSTERIOR && f->posterior_sample)
        f->posterior_sample(m->cfg, o, o->input(o, R, D, NULL, D), o->input(o, R, E, NULL, E), &a, &b);
    if ((which == M_DECODE_MEAN || which == M_DECODE_PARAMS) && f->decode)
        f->decode(m->cfg, o, o->input(o, R, L, NULL, L),
                  which == M_DECODE_MEAN ? VARIA_DECODE_MEAN : VARIA_DECODE_PARAMS, &a, &b);
    if (which == M_GENERATE && f->generate)
        f->generate(m->cfg, o, o->input(o, R, E, NULL, E), 1.0f, &a, &b);
    if (which == M_DECODE_STEPS && f->decode_steps)
        f->decode_steps(m->cfg, o, o->input(o, 1, L, NULL, L), &a);
    if (which == M_TERMS && f->terms) {
        f->terms(m->cfg, o, o->input(o, 1, D, NULL, D), R, o->input(o, R, E, NULL, E), &t);
        if (t.kl_dims)
            o->row_sum(o, t.kl_dims);
    }
    *nv = e.peak_vals > *nv ? e.peak_vals : *nv;
    *nf = e.peak_used > *nf ? e.peak_used : *nf;
    *failed |= e.failed;
}

int varia_passes_need(const varia_model *m, int64_t T, size_t *vals_out, size_t *floats_out)
{
    int is_seq = (m->family->needs & VARIA_FAMILY_SEQ_LEN) != 0;
    varia_v *vals = malloc(MEASURE_VALS * sizeof *vals);
    int64_t *lengths = is_seq ? malloc(VARIA_WS_ROWS * sizeof *lengths) : NULL;
    if (!vals || (is_seq && !lengths)) {
        free(vals);
        free(lengths);
        return -1;
    }
    /* lengths given (the masks run, as with a caller's), every example T long
     * (so the terms run every step: a pass stops at its longest example) */
    for (int64_t i = 0; lengths && i < VARIA_WS_ROWS; i++)
        lengths[i] = T;
    varia_seq seq = {T, lengths};
    size_t nv = 0, nf = 0;
    int failed = 0;
    for (int which = 0; which < M_PASSES; which++)
        measure_one(m, which, is_seq ? &seq : NULL, vals, &nv, &nf, &failed);
    free(vals);
    free(lengths);
    *vals_out = nv;
    *floats_out = varia_exec_val_floats(nv) + nf;
    return failed;
}

varia_status varia_passes_measure(varia_ctx *ctx, varia_model *m)
{
    size_t nv = 0, nf = 0;
    int failed = varia_passes_need(m, VARIA_MEASURE_STEPS, &nv, &nf);
    if (failed < 0)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    if (failed)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "the architecture's passes need more than %d values", MEASURE_VALS);
    m->ws_vals = nv;
    m->ws_floats = nf;
    if (m->ws_floats > VARIA_WS_CAP_FLOATS)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "model needs %zu MiB of workspace per %d-row batch (cap %llu MiB)",
                          m->ws_floats / (256 * 1024), VARIA_WS_ROWS,
                          (unsigned long long)(VARIA_WS_CAP_FLOATS / (256 * 1024)));
    return VARIA_OK;
}

/* The vrnn family through the public API and against itself: the calls
 * without a sequence length refused naming varia_opts.seq_len, bad lengths
 * and inputs refused, the golden values reached through the _ex calls over
 * several batches of examples with unequal lengths, padding that no result
 * depends on, per-step evaluation figures, a workspace that does not grow
 * with the sequence length (and a 5000-step sample in it), exec against tape
 * on every pass, and every bad manifest with its status. The models are the
 * golden cases of tools/torch/make_golden_vrnn.py. */
#include "tap.h"

#include "api.h"
#include "ops_exec.h"
#include "ops_tape.h"
#include "passes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf

static const char *root;

static varia_model *golden(varia_ctx *ctx, const char *name, cJSON **g)
{
    char path[1200];
    varia_model *m = NULL;
    snprintf(path, sizeof path, "%s/tests/golden/%s/model.json", root, name);
    varia_status st = varia_model_load(ctx, path, &m);
    ok(st == VARIA_OK, "%s loads (%s)", name, st == VARIA_OK ? "ok" : varia_ctx_message(ctx));
    snprintf(path, sizeof path, "%s/tests/golden/%s/golden.json", root, name);
    char *text = tap_read_file(path, NULL);
    *g = text ? cJSON_Parse(text) : NULL;
    free(text);
    return m;
}

static const cJSON *key(const cJSON *g, const char *k) { return cJSON_GetObjectItem(g, k); }

/* The numbers of a JSON array of arrays, flattened, into f[n]. */
static int flat(const cJSON *j, float *f, int n)
{
    int i = 0;
    for (const cJSON *e = j ? j->child : NULL; e && i < n; e = e->next)
        i += cJSON_IsArray(e) ? flat(e, f + i, n - i) : (f[i] = (float)e->valuedouble, 1);
    return i;
}

/* Largest |a - b| / max(|b|, 0.1) over n values (NaN: infinite). */
static double rel(const float *a, const float *b, int64_t n)
{
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), 0.1);
        w = isnan(e) ? INFINITY : fmax(w, e);
    }
    return w;
}

/* ---- refusals ---- */

static void refusals(varia_ctx *ctx, const varia_model *m)
{
    enum { T = 5, F = 6, L = 3 };
    float x[2 * T * F] = {0}, z[2 * T * L] = {0}, out[2 * T * F];
    varia_eval_opts eo = {4, 1, VARIA_BIN_NONE};
    varia_status st[6] = {varia_encode(ctx, m, x, 2, z, NULL), varia_decode(ctx, m, z, 2, VARIA_DECODE_MEAN, out, NULL),
                          varia_sample(ctx, m, 2, 1, 1.0f, out, z), varia_reconstruct(ctx, m, x, 2, out),
                          varia_eval(ctx, m, x, 2, &eo, NULL, NULL), varia_buffer_sizes(ctx, m, NULL, NULL, NULL)};
    static const char *const op[6] = {"encode", "decode", "sample", "reconstruct", "eval", "buffer_sizes"};
    for (int i = 0; i < 6; i++)
        ok(st[i] == VARIA_ERR_ARG, "varia_%s without options: %s", op[i], varia_status_name(st[i]));
    varia_status s = varia_sample(ctx, m, 2, 1, 1.0f, out, z);
    ok(s == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "varia_opts.seq_len"), "the message names "
       "varia_opts.seq_len (%s)", varia_ctx_message(ctx));
    int total, per[VARIA_MAX_LAYERS];
    s = varia_active_units(ctx, m, x, 2, &total, per);
    ok(s == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "varia_opts.seq_len"), "varia_active_units too (%s)",
       varia_ctx_message(ctx));
    int64_t lengths[2] = {5, 6}, zero[2] = {0, 3};
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = lengths};
    s = varia_encode_ex(ctx, m, x, 2, &o, z, NULL);
    ok(s == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "lengths[1]"), "a length past seq_len: %s (%s)",
       varia_status_name(s), varia_ctx_message(ctx));
    o.lengths = zero;
    s = varia_eval_ex(ctx, m, x, 2, &eo, &o, NULL, NULL);
    ok(s == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "lengths[0]"), "a length of 0: %s (%s)",
       varia_status_name(s), varia_ctx_message(ctx));
    o.lengths = NULL;
    x[T * F + 7] = NAN; /* example 1, frame 1 */
    s = varia_encode_ex(ctx, m, x, 2, &o, z, NULL);
    ok(s == VARIA_ERR_NONFINITE, "a NaN frame: %s (%s)", varia_status_name(s), varia_ctx_message(ctx));
    x[T * F + 7] = 3.0f;
    s = varia_eval_ex(ctx, m, x, 2, &eo, &o, NULL, NULL);
    ok(s == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "[0, 1]"), "a value outside [0, 1]: %s (%s)",
       varia_status_name(s), varia_ctx_message(ctx));
    z[4] = INFINITY;
    s = varia_decode_ex(ctx, m, z, 2, &o, VARIA_DECODE_MEAN, out, NULL);
    ok(s == VARIA_ERR_NONFINITE, "an infinite latent: %s", varia_status_name(s));
    int64_t df = 0, lf = 0;
    s = varia_buffer_sizes(ctx, m, &o, &df, &lf);
    ok(s == VARIA_OK && df == T * F && lf == T * L, "buffer sizes at seq_len 5: %lld and %lld floats", (long long)df,
       (long long)lf);
    varia_seq_summary ss = {.size = 8};
    varia_eval_row row = {0};
    s = varia_eval_seq_summary(ctx, m, &row, 1, &o, &ss);
    ok(s == VARIA_ERR_ARG, "a varia_seq_summary of the wrong size: %s", varia_status_name(s));
}

/* The RNN has no latent: nothing to encode. */
static void rnn_refusals(varia_ctx *ctx, const varia_model *m)
{
    float x[5 * 6] = {0}, z[1];
    varia_opts o = {.size = sizeof o, .seq_len = 5};
    varia_status s = varia_encode_ex(ctx, m, x, 1, &o, z, NULL);
    ok(s == VARIA_ERR_UNSUPPORTED, "RNN: encode_ex is %s (%s)", varia_status_name(s), varia_ctx_message(ctx));
    ok(varia_model_can(m, VARIA_CAN_EVAL) && varia_model_can(m, VARIA_CAN_SAMPLE) &&
       !varia_model_can(m, VARIA_CAN_ENCODE) && varia_model_can(m, VARIA_NEEDS_SEQ_LEN),
       "RNN: evaluates and samples, does not encode, needs seq_len");
}

/* ---- the golden values through the API ---- */

enum { REP = 101 }; /* copies of the golden examples: 303 rows, two batches */

/* encode_ex and eval_ex over REP copies of the golden examples (lengths
 * repeated): every copy gives its example's golden values, so the lengths
 * follow each batch's rows. */
static void api_golden(varia_ctx *ctx, const varia_model *m, const cJSON *g, const char *name)
{
    int n = key(g, "n")->valueint, T = key(g, "T")->valueint, D = T * (int)m->info.data_size;
    int TL = T * (int)m->info.latent_size, N = n * REP;
    float *x = malloc((size_t)N * D * sizeof *x), *mean = malloc((size_t)(N * TL + 1) * sizeof *mean);
    float want[3 * 256];
    int64_t *len = malloc((size_t)N * sizeof *len);
    varia_eval_row *rows = malloc((size_t)N * sizeof *rows);
    for (int i = 0; i < N; i++) {
        flat(cJSON_GetArrayItem(key(g, "x"), i % n), x + (size_t)i * D, D);
        len[i] = cJSON_GetArrayItem(key(g, "lengths"), i % n)->valueint;
    }
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = len};
    if (m->info.has_encoder) {
        double e = 0.0;
        varia_status s = varia_encode_ex(ctx, m, x, N, &o, mean, NULL);
        flat(key(g, "enc_mean"), want, n * TL);
        for (int i = 0; s == VARIA_OK && i < N; i++)
            e = fmax(e, rel(mean + (size_t)i * TL, want + (i % n) * TL, TL));
        ok(s == VARIA_OK && e < 1e-5, "%s: encode_ex over %d examples in two batches: golden means (%.1e)", name, N, e);
    }
    varia_eval_opts eo = {key(g, "k")->valueint, 3, VARIA_BIN_NONE};
    varia_eval_summary sum;
    varia_status s = varia_eval_ex(ctx, m, x, N, &eo, &o, rows, &sum);
    ok(s == VARIA_OK, "%s: eval_ex with lengths (%s)", name, s == VARIA_OK ? "ok" : varia_ctx_message(ctx));
    double frames = 0.0, lp = 0.0;
    for (int i = 0; s == VARIA_OK && i < N; i++) {
        frames += (double)len[i];
        lp += rows[i].log_px;
    }
    /* the second half scored alone (lengths from its own first): the same rows, bit for bit */
    varia_eval_row *part = malloc((size_t)N * sizeof *part);
    varia_opts po = {.size = sizeof po, .seq_len = T, .lengths = len + N / 2};
    s = varia_eval_part(ctx, m, x + (size_t)(N / 2) * D, N / 2, N - N / 2, &eo, &po, part, NULL);
    ok(s == VARIA_OK && !memcmp(part, rows + N / 2, (size_t)(N - N / 2) * sizeof *part),
       "%s: eval_part of examples %d.. with their lengths gives eval_ex's rows", name, N / 2);
    free(part);
    if (!m->info.has_encoder) { /* the RNN's log p(x) is exact: every estimate equals it */
        double e = 0.0;
        for (int i = 0; i < N; i++)
            e = fmax(e, fabs(rows[i].log_px - cJSON_GetArrayItem(cJSON_GetArrayItem(key(g, "log_px_z"), i % n), 0)
                                                   ->valuedouble) + fabs(rows[i].elbo - rows[i].log_px));
        ok(e < 1e-4, "%s: IW estimate = ELBO = the exact log p(x) of the reference (%.1e)", name, e);
    }
    varia_seq_summary ss = {.size = sizeof ss};
    s = varia_eval_seq_summary(ctx, m, rows, N, &o, &ss);
    ok(s == VARIA_OK && ss.frames == (int64_t)frames && fabs(ss.log_px_per_step - lp / frames) < 1e-12 &&
       fabs(sum.bits_per_dim - ss.bits_per_dim) < 1e-12 * fabs(ss.bits_per_dim),
       "%s: %lld frames, log p per step %.4f nats (total over total frames), %.4f bits/dim in both summaries", name,
       (long long)ss.frames, ss.log_px_per_step, ss.bits_per_dim);
    s = varia_eval_summarise(ctx, m, rows, N, eo.k, mean, &sum);
    ok(s == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "seq_len"), "%s: eval_summarise refuses, naming seq_len",
       name);
    free(x), free(mean), free(len), free(rows);
}

/* Padding past each length, changed everywhere, changes no evaluation row. */
static void padding(varia_ctx *ctx, const varia_model *m, const cJSON *g, const char *name)
{
    int n = key(g, "n")->valueint, T = key(g, "T")->valueint, F = (int)m->info.data_size;
    float x[3 * 256], y[3 * 256];
    int64_t len[3];
    flat(key(g, "x"), x, n * T * F);
    memcpy(y, x, sizeof x);
    for (int i = 0; i < n; i++) {
        len[i] = cJSON_GetArrayItem(key(g, "lengths"), i)->valueint;
        for (int j = (int)len[i] * F; j < T * F; j++)
            y[i * T * F + j] = 1.0f - x[i * T * F + j];
    }
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = len};
    varia_eval_opts eo = {7, 5, VARIA_BIN_NONE};
    varia_eval_row a[3], b[3];
    varia_status s1 = varia_eval_ex(ctx, m, x, n, &eo, &o, a, NULL), s2 = varia_eval_ex(ctx, m, y, n, &eo, &o, b, NULL);
    ok(s1 == VARIA_OK && s2 == VARIA_OK && !memcmp(a, b, sizeof a), "%s: flipping every padded frame changes no row",
       name);
    o.lengths = NULL;
    s2 = varia_eval_ex(ctx, m, y, n, &eo, &o, b, NULL);
    ok(s2 == VARIA_OK && b[0].log_px == a[0].log_px && b[1].log_px != a[1].log_px,
       "%s: ... which the full length T reads (examples shorter than T change)", name);
}

/* ---- workspace ---- */

static void workspace(varia_ctx *ctx, const varia_model *m, const char *name)
{
    size_t v[4], f[4];
    static const int64_t T[4] = {1, 2, 40, 3000};
    int bad = 0;
    for (int i = 0; i < 4; i++)
        bad |= varia_passes_need(m, T[i], &v[i], &f[i]) != 0;
    /* one step adds nothing to a running sum, so T = 1 needs less; from 2 on, the same */
    ok(!bad && f[0] <= f[1] && f[1] == f[2] && f[2] == f[3] && v[1] == v[3] && f[1] == varia_model_ws(m),
       "%s: measured workspace %zu floats at T = 2, 40 and 3000 (the load's; %zu at T = 1)", name, f[1], f[0]);
    enum { N = 2, LONG = 5000 };
    int64_t F = m->info.data_size, L = m->info.latent_size;
    float *x = malloc((size_t)N * LONG * F * sizeof *x), *z = malloc((size_t)(N * LONG * L + 1) * sizeof *z);
    varia_opts o = {.size = sizeof o, .seq_len = LONG, .seed = 11};
    varia_status s = varia_sample_ex(ctx, m, N, &o, x, z);
    int64_t ones = 0, other = 0, gauss = m->info.likelihood == VARIA_LIK_GAUSSIAN;
    for (int64_t i = 0; s == VARIA_OK && i < N * LONG * F; i++) /* Bernoulli: 0/1 draws; Gaussian: finite, spread */
        ones += gauss ? x[i] > 0.0f : x[i] == 1.0f, other += gauss ? !isfinite(x[i]) : x[i] != 0.0f && x[i] != 1.0f;
    ok(s == VARIA_OK && other == 0 && ones > 0 && ones < N * LONG * F, "%s: %d sequences of %d steps sampled in it "
       "(%.3f of the frames' values %s)", name, N, LONG, (double)ones / (double)(N * LONG * F),
       gauss ? "positive" : "on");
    free(x), free(z);
}

/* ---- exec against tape ---- */

/* |a - b| / max(1, |b|) over a double exec value and a float tape node of one shape. */
static double diff(const varia_v *e, varia_v *tv)
{
    const tr_node *t = tr_node_of(tv);
    if (!e || !t || e->rows != t->rows || e->cols != t->cols)
        return 1e9;
    double w = 0.0;
    for (int64_t r = 0; r < e->rows; r++)
        for (int64_t c = 0; c < e->cols; c++) {
            double a = e->d ? e->d[r * e->ld + c] : e->f[r * e->ld + c], b = t->v[r * t->cols + c];
            double d = fabs(a - b) / fmax(1.0, fabs(b));
            w = isnan(d) ? 1e9 : fmax(w, d);
        }
    return w;
}

/* The terms of the golden examples (k particles, their lengths), then every
 * emitted pass, on exec and on the tape, from the model's own weights laid
 * out as the trainer's theta. */
static void exec_tape(const varia_model *m, const cJSON *g, const char *name)
{
    enum { WS_VALS = 4096, WS_FLOATS = 1 << 20, K = 3 };
    int n = key(g, "n")->valueint, T = key(g, "T")->valueint, F = (int)m->info.data_size;
    int L = (int)m->info.latent_size, E = (int)varia_model_noise(m);
    const varia_decl *decl = &m->decl;
    int64_t *off = malloc((size_t)decl->n_t * sizeof *off), P = tr_layout(decl, off), len[3];
    float *theta = malloc((size_t)P * sizeof *theta), *grad = calloc((size_t)P, sizeof *grad);
    float *ws = aligned_alloc(64, WS_FLOATS * sizeof(float)), x[3 * 256], eps[3 * K * 256], z[3 * 256];
    static float oe[2][3 * 256], ot[2][3 * 256];
    tr_lin *lins = malloc((size_t)decl->n_lin * sizeof *lins);
    for (int i = 0; i < decl->n_t; i++)
        memcpy(theta + off[i], m->tensor[i]->data, (size_t)m->tensor[i]->numel * sizeof(float));
    float **packs = malloc((size_t)decl->n_lin * sizeof *packs); /* the forward's: the runtime's own packing */
    for (int i = 0; i < decl->n_lin; i++)
        packs[i] = m->lin[i].packed;
    tr_bind(decl, off, theta, grad, packs, NULL, lins);
    tr_tape *tape = tr_tape_new();
    varia_exec ex;
    tr_ops tp;
    varia_exec_begin_sized(&ex, m, ws, WS_VALS, WS_FLOATS, NULL);
    tr_ops_begin(&tp, tape, decl, lins, off, theta, grad);
    varia_ops *o[2] = {&ex.ops, &tp.ops};
    flat(key(g, "x"), x, n * T * F);
    flat(key(g, "eps"), eps, n * K * T * E); /* the first K of each example's particles, as rows */
    flat(key(g, "decode_z"), z, n * T * L);
    for (int i = 0; i < n; i++)
        len[i] = cJSON_GetArrayItem(key(g, "lengths"), i)->valueint;
    varia_terms t[2];
    varia_v *a, *b;
    for (int s = 0; s < 2; s++) {
        o[s]->seq_len = T;
        o[s]->lengths = len;
        memset(&t[s], 0, sizeof t[s]);
        m->family->terms(m->cfg, o[s], o[s]->input(o[s], n, T * F, x, T * F), K,
                         o[s]->input(o[s], n * K, T * E, eps, T * E), &t[s]);
    }
    double w = fmax(fmax(diff(t[0].log_px, t[1].log_px), diff(t[0].log_pz, t[1].log_pz)),
                    fmax(diff(t[0].log_qz, t[1].log_qz), diff(t[0].kl_dims, t[1].kl_dims)));
    double we = 0.0;
    for (int s = 0; s < 2; s++) { /* the emitted passes: encode (or decode for the RNN), then generate */
        o[s]->out[0] = oe[s];
        o[s]->out[1] = ot[s];
        o[s]->out_ld[0] = T * (L ? L : F);
        o[s]->out_ld[1] = T * (L ? L : F);
        if (L)
            m->family->encode(m->cfg, o[s], o[s]->input(o[s], n, T * F, x, T * F), &a, &b);
        else
            m->family->decode(m->cfg, o[s], o[s]->input(o[s], n, 0, z, 0), VARIA_DECODE_PARAMS, &a, &b);
    }
    we = fmax(rel(oe[0], oe[1], n * T * (L ? L : F)), L ? rel(ot[0], ot[1], n * T * L) : 0.0);
    for (int s = 0; s < 2; s++) {
        o[s]->out_ld[0] = T * F;
        o[s]->out_ld[1] = T * L;
        m->family->generate(m->cfg, o[s], o[s]->input(o[s], n, T * E, eps, T * E), 0.7f, &a, &b);
    }
    we = fmax(we, fmax(rel(oe[0], oe[1], n * T * F), rel(ot[0], ot[1], n * T * L)));
    ok(!ex.failed && !tr_failed(tape) && w < 2e-5, "%s: exec and tape terms agree, lengths 5, 3, 1 and k = %d "
       "(%.1e)", name, K, w);
    ok(!ex.failed && we < 2e-5, "%s: exec and tape agree on %s and generate (%.1e)", name,
       L ? "encode's means and log-variances" : "decode's logits", we);
    tr_tape_free(tape);
    free(off), free(theta), free(grad), free(ws), free(lins), free(packs);
}

/* ---- bad manifests ---- */

static void arch_case(const char *arch_json, int64_t frame, varia_status want, const char *needle)
{
    varia_ctx *ctx = varia_ctx_new();
    cJSON *arch = cJSON_Parse(arch_json);
    varia_shape shape = {frame ? 1 : 2, {frame ? frame : 4, 4}};
    varia_decl decl = {0};
    varia_info info = {0};
    void *cfg = NULL;
    varia_status st = varia_family_vrnn.parse(ctx, arch, &shape, &cfg, &decl, &info);
    ok(st == want && strstr(varia_ctx_message(ctx), needle), "%s -> %s naming '%s' (%s)", arch_json,
       varia_status_name(st), needle, varia_ctx_message(ctx));
    varia_family_vrnn.free_cfg(cfg);
    varia_decl_free(&decl);
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
}

static void manifests(void)
{
#define NETS "\"phi_x\": [4], \"phi_z\": [3], \"encoder\": [4], \"decoder\": [4], "
#define LIK "\"likelihood\": {\"type\": \"bernoulli\"}"
    static const struct { const char *arch; int64_t frame; varia_status st; const char *needle; } cases[] = {
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS LIK "}", 6, VARIA_OK, ""},
        {"{\"cell\": \"rnn\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS LIK "}", 6, VARIA_ERR_MANIFEST, "cell"},
        {"{\"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS LIK "}", 6, VARIA_ERR_MANIFEST, "cell"},
        {"{\"variant\": \"storn\", \"cell\": \"gru\", \"hidden\": 4, " NETS LIK "}", 6, VARIA_ERR_MANIFEST, "variant"},
        {"{\"cell\": \"gru\", \"latent\": 2, \"prior\": [], " NETS LIK "}", 6, VARIA_ERR_MANIFEST, "hidden"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"prior\": [], " NETS LIK "}", 6, VARIA_ERR_MANIFEST, "latent"},
        {"{\"cell\": \"gru\", \"hidden\": 0, \"latent\": 2, \"prior\": [], " NETS LIK "}", 6, VARIA_ERR_TOO_LARGE,
         "hidden"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, " NETS LIK "}", 6, VARIA_ERR_MANIFEST, "prior"},
        {"{\"variant\": \"vrnn_i\", \"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS LIK "}", 6,
         VARIA_ERR_MANIFEST, "prior"},
        {"{\"variant\": \"rnn\", \"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"phi_x\": [4], \"decoder\": [], "
         LIK "}", 6, VARIA_ERR_MANIFEST, "latent"},
        {"{\"variant\": \"rnn\", \"cell\": \"gru\", \"hidden\": 4, \"phi_x\": [4], \"phi_z\": [2], \"decoder\": [], "
         LIK "}", 6, VARIA_ERR_MANIFEST, "phi_z"},
        {"{\"variant\": \"rnn\", \"cell\": \"gru\", \"hidden\": 4, \"phi_x\": [4], \"encoder\": [2], \"decoder\": [], "
         LIK "}", 6, VARIA_ERR_MANIFEST, "encoder"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], \"phi_x\": [], \"phi_z\": [3], "
         "\"encoder\": [4], \"decoder\": [4], " LIK "}", 6, VARIA_ERR_MANIFEST, "phi_x"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [-1], " NETS LIK "}", 6, VARIA_ERR_TOO_LARGE,
         "prior"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], \"std_floor\": 2, " NETS LIK "}", 6,
         VARIA_ERR_MANIFEST, "std_floor"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], \"activation\": \"swish\", " NETS LIK "}", 6,
         VARIA_ERR_MANIFEST, "swish"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS
         "\"likelihood\": {\"type\": \"gaussian_mixture\", \"components\": 5}}", 6, VARIA_OK, ""},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS
         "\"likelihood\": {\"type\": \"gaussian_mixture\"}}", 6, VARIA_ERR_MANIFEST, "components"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS
         "\"likelihood\": {\"type\": \"gaussian_mixture\", \"components\": 65}}", 6, VARIA_ERR_TOO_LARGE,
         "components"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS
         "\"likelihood\": {\"type\": \"bernoulli\", \"components\": 2}}", 6, VARIA_ERR_MANIFEST, "components"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS
         "\"likelihood\": {\"type\": \"gaussian\"}}", 6, VARIA_OK, ""},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS
         "\"likelihood\": {\"type\": \"poisson\"}}", 6, VARIA_ERR_MANIFEST, "poisson"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS "\"likelihood\": 3}", 6,
         VARIA_ERR_MANIFEST, "likelihood"},
        {"{\"cell\": \"gru\", \"hidden\": 4, \"latent\": 2, \"prior\": [], " NETS LIK "}", 0, VARIA_ERR_SHAPE, "frame"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        arch_case(cases[i].arch, cases[i].frame, cases[i].st, cases[i].needle);
#undef NETS
#undef LIK
}

int main(void)
{
    root = getenv("VARIA_SOURCE_ROOT");
    root = root ? root : ".";
    static const char *const cases[] = {"vrnn_gru", "vrnn_lstm", "vrnn_i_gru", "vrnn_rnn_lstm", "vrnn_rows28",
                                        "vrnn_gauss_lstm", "vrnn_gmm_gru"};
    varia_ctx *ctx = varia_ctx_new();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cJSON *g = NULL;
        varia_model *m = golden(ctx, cases[c], &g);
        if (m && g) {
            if (c == 0)
                refusals(ctx, m);
            if (!m->info.has_encoder)
                rnn_refusals(ctx, m);
            api_golden(ctx, m, g, cases[c]);
            padding(ctx, m, g, cases[c]);
            workspace(ctx, m, cases[c]);
            exec_tape(m, g, cases[c]);
        }
        varia_model_free(m);
        cJSON_Delete(g);
    }
    varia_ctx_free(ctx);
    manifests();
    return tap_done();
}

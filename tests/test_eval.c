/* Estimator sanity and reproducibility through the public API, on the golden
 * models (1 and 2 stochastic layers): bounds ordered as the theory says,
 * E[L_1] = ELBO, bit-identical results across runs and thread counts, bounded
 * memory for large k, and clear errors for operations a family lacks. */
#include "ais_util.h"
#include "family.h"
#include "rng.h"
#include "tap.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char root[1024];

/* A golden model by name (ais_util.h). */
static varia_model *load(varia_ctx *ctx, const char *cas)
{
    return load_golden(ctx, root, cas);
}

/* n binary examples drawn from the model itself, so bounds are near-tight. */
static float *model_data(varia_ctx *ctx, const varia_model *m, int64_t n)
{
    int64_t D = m->info.data_size;
    float *x = malloc(sizeof(float) * (size_t)(n * D));
    varia_sample(ctx, m, n, 123, 1.0f, x, NULL);
    varia_rng r;
    varia_rng_init(&r, 5, 77, 0, 0);
    for (int64_t i = 0; i < n * D; i++)
        x[i] = varia_rng_uniform(&r) < x[i] ? 1.0f : 0.0f;
    return x;
}

static varia_eval_summary eval_k(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, int64_t k,
                                 uint64_t seed, varia_eval_row *rows)
{
    varia_eval_opts o = {.k = k, .seed = seed, .binarize = VARIA_BIN_NONE};
    varia_eval_summary s;
    memset(&s, 0, sizeof s);
    varia_status st = varia_eval(ctx, m, x, n, &o, rows, &s);
    if (st != VARIA_OK)
        printf("# eval failed: %s\n", varia_ctx_message(ctx));
    return s;
}

static void test_bounds(varia_ctx *ctx, const char *cas)
{
    varia_model *m = load(ctx, cas);
    if (!tap_check(m != NULL, cas))
        return;
    int64_t n = 300;
    float *x = model_data(ctx, m, n);
    varia_eval_summary s5 = eval_k(ctx, m, x, n, 5, 1, NULL), s50 = eval_k(ctx, m, x, n, 50, 1, NULL);
    varia_eval_summary s1000 = eval_k(ctx, m, x, n, 1000, 1, NULL);
    char name[200];
    snprintf(name, sizeof name, "%s: ELBO %.4f <= L_5 %.4f <= L_50 %.4f <= L_1000 %.4f (mean over %lld)", cas,
             s1000.elbo, -s5.nll_mean, -s50.nll_mean, -s1000.nll_mean, (long long)n);
    tap_check(s1000.elbo <= -s5.nll_mean && -s5.nll_mean <= -s50.nll_mean && -s50.nll_mean <= -s1000.nll_mean, name);
    /* E[L_1] = ELBO: average L_1 over 40 seeds against the k=1000 ELBO. */
    double sum = 0, sum2 = 0;
    int seeds = 40;
    for (int sd = 0; sd < seeds; sd++) {
        double v = -eval_k(ctx, m, x, n, 1, 1000 + (uint64_t)sd, NULL).nll_mean;
        sum += v, sum2 += v * v;
    }
    double mean = sum / seeds, se = sqrt((sum2 / seeds - mean * mean) / (seeds - 1));
    snprintf(name, sizeof name, "%s: E[L_1] %.4f equals the ELBO %.4f within 4 standard errors (%.4f)", cas, mean,
             s1000.elbo, se);
    tap_check(fabs(mean - s1000.elbo) <= 4 * se + 1e-9, name);
    free(x);
    varia_model_free(m);
}

static void test_reproducible(varia_ctx *ctx)
{
    varia_model *m = load(ctx, "iwae2_tanh_bern");
    if (!m)
        return;
    int64_t n = 37;
    float *x = model_data(ctx, m, n);
    varia_eval_row r1[37], r2[37], r3[37];
    varia_ctx_set_threads(ctx, 1);
    varia_eval_summary a = eval_k(ctx, m, x, n, 700, 9, r1);
    varia_ctx_set_threads(ctx, 2);
    varia_eval_summary b = eval_k(ctx, m, x, n, 700, 9, r2);
    varia_ctx_set_threads(ctx, 3);
    varia_eval_summary c = eval_k(ctx, m, x, n, 700, 9, r3);
    tap_check(!memcmp(r1, r2, sizeof r1) && !memcmp(r1, r3, sizeof r1) && !memcmp(&a, &b, sizeof a) &&
                  !memcmp(&a, &c, sizeof a),
              "1, 2 and 3 threads give bit-identical rows and summaries");
    eval_k(ctx, m, x, n, 700, 10, r2);
    tap_check(memcmp(r1, r2, sizeof r1) != 0, "a different seed gives different estimates");
    /* Two layers, k = 1: the ELBO uses the Monte Carlo KL, so it equals log w. */
    eval_k(ctx, m, x, n, 1, 4, r1);
    int same = 1;
    for (int i = 0; i < n; i++)
        same &= fabs(r1[i].elbo - r1[i].log_px) < 1e-9 * fabs(r1[i].log_px);
    tap_check(same, "two layers, k=1: ELBO (MC KL) equals L_1 for every example");
    enum { BIG = 600 }; /* more than one 256-row batch: split across the pool */
    float *b1 = malloc(sizeof(float) * BIG * 20), *b2 = malloc(sizeof(float) * BIG * 20);
    float *z1 = malloc(sizeof(float) * BIG * 2), *d1 = malloc(sizeof(float) * BIG * 20);
    varia_ctx_set_threads(ctx, 1);
    varia_sample(ctx, m, BIG, 8, 1.0f, b1, z1);
    varia_decode(ctx, m, z1, BIG, VARIA_DECODE_MEAN, d1, NULL);
    varia_ctx_set_threads(ctx, 2);
    varia_sample(ctx, m, BIG, 8, 1.0f, b2, NULL);
    int same_big = !memcmp(b1, b2, sizeof(float) * BIG * 20);
    varia_decode(ctx, m, z1, BIG, VARIA_DECODE_MEAN, b2, NULL);
    tap_check(same_big && !memcmp(d1, b2, sizeof(float) * BIG * 20),
              "sample and decode of 600 rows: 1 and 2 threads give the same bits");
    free(b1), free(b2), free(z1), free(d1);
    float s1[4 * 20], s2[4 * 20];
    varia_sample(ctx, m, 4, 77, 1.0f, s1, NULL);
    varia_sample(ctx, m, 3, 77, 1.0f, s2, NULL);
    tap_check(!memcmp(s1, s2, sizeof(float) * 3 * 20), "sample i depends only on (seed, i), not on n");
    free(x);
    varia_model_free(m);
}

static void test_binarize_and_units(varia_ctx *ctx)
{
    varia_model *m = load(ctx, "vae1_tanh_bern");
    if (!m)
        return;
    int64_t n = 50, D = m->info.data_size;
    float *x = model_data(ctx, m, n), *half = malloc(sizeof(float) * (size_t)(n * D));
    for (int64_t i = 0; i < n * D; i++)
        half[i] = 0.5f;
    varia_eval_opts o = {.k = 20, .seed = 3, .binarize = VARIA_BIN_DYNAMIC};
    varia_eval_row a[50], b[50], c[50];
    varia_eval(ctx, m, x, n, &o, a, NULL);
    o.binarize = VARIA_BIN_NONE;
    varia_eval(ctx, m, x, n, &o, b, NULL);
    tap_check(!memcmp(a, b, sizeof a), "dynamic binarization of 0/1 data leaves it unchanged");
    o.binarize = VARIA_BIN_DYNAMIC;
    varia_eval(ctx, m, half, n, &o, a, NULL);
    varia_eval(ctx, m, half, n, &o, b, NULL);
    o.seed = 4;
    varia_eval(ctx, m, half, n, &o, c, NULL);
    tap_check(!memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a), "dynamic binarization is seeded");
    int t1, t2, l1[8], l2[8];
    varia_eval_summary s;
    o.binarize = VARIA_BIN_NONE;
    varia_eval(ctx, m, x, n, &o, NULL, &s);
    varia_active_units(ctx, m, x, n, &t2, l2);
    t1 = s.active_units;
    memcpy(l1, s.active_units_layer, sizeof l1);
    char name[128];
    snprintf(name, sizeof name, "active units agree between eval and varia_active_units (%d of %lld)", t1,
             (long long)m->info.latent_size);
    tap_check(t1 == t2 && l1[0] == l2[0] && t1 >= 0 && t1 <= m->info.latent_size, name);
    o.k = 100000;
    tap_check(varia_eval(ctx, m, x, 1, &o, a, NULL) == VARIA_OK && isfinite(a[0].log_px),
              "k = 100000 runs in bounded memory and is finite");
    free(x);
    free(half);
    varia_model_free(m);
}

/* A family with no inference network (like a GAN) must say so, not crash. */
static void test_unsupported(varia_ctx *ctx)
{
    varia_model *m = load(ctx, "vae1_tanh_bern");
    if (!m)
        return;
    varia_family gen_only = *m->family;
    gen_only.encode = NULL;
    gen_only.posterior_sample = NULL;
    gen_only.terms = NULL;
    gen_only.layer_means = NULL;
    const varia_family *saved = m->family;
    m->family = &gen_only;
    float x[20] = {0}, z[3];
    int units, per[8];
    varia_eval_opts o = {.k = 5, .seed = 0, .binarize = VARIA_BIN_NONE};
    int ok = varia_encode(ctx, m, x, 1, z, NULL) == VARIA_ERR_UNSUPPORTED &&
             strstr(varia_ctx_message(ctx), "encode") != NULL;
    ok &= varia_eval(ctx, m, x, 1, &o, NULL, NULL) == VARIA_ERR_UNSUPPORTED;
    ok &= varia_encode_sample(ctx, m, x, 1, 0, z) == VARIA_ERR_UNSUPPORTED;
    float rec[20];
    ok &= varia_reconstruct(ctx, m, x, 1, rec) == VARIA_ERR_UNSUPPORTED && strstr(varia_ctx_message(ctx), "reconstruct");
    ok &= varia_active_units(ctx, m, x, 1, &units, per) == VARIA_ERR_UNSUPPORTED;
    ok &= varia_sample(ctx, m, 1, 0, 1.0f, x, z) == VARIA_OK;
    tap_check(ok, "a family without an encoder: encode/encode_sample/reconstruct/eval/active units give VARIA_ERR_UNSUPPORTED, sample works");
    m->family = saved;
    varia_model_free(m);
}

/* Calls of one batch or less share each layer among the threads (a decode of
 * one latent is split by output columns): on the shipped 784-200-200-50 model,
 * whose layers are big enough to be split, 1 and 2 threads give the same bits
 * for every operation and batch size, and the decoder's fused sigmoid equals
 * the sigmoid of its logits. */
static void test_small_batch_threads(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/vae-mnist-dyn/model.json", root);
    varia_ctx *c1 = varia_ctx_new(), *c2 = varia_ctx_new();
    varia_model *m = NULL;
    varia_ctx_set_threads(c1, 1);
    varia_ctx_set_threads(c2, 2);
    if (!tap_check(varia_model_load(c1, path, &m) == VARIA_OK, "the shipped model loads")) {
        varia_ctx_free(c1), varia_ctx_free(c2);
        return;
    }
    enum { N = 37, D = 784, L = 50 };
    float *x1 = malloc(sizeof(float) * N * D * 4), *x2 = x1 + N * D, *lg = x2 + N * D, *pr = lg + N * D;
    float z1[N * L], z2[N * L], v1[N * L], v2[N * L];
    int same = 1, fused = 1, sizes[] = {1, 5, 9, N};
    for (int t = 0; t < 4; t++) {
        int n = sizes[t];
        same &= varia_sample(c1, m, n, 3, 1.0f, x1, z1) == VARIA_OK && varia_sample(c2, m, n, 3, 1.0f, x2, z2) == VARIA_OK;
        same &= !memcmp(x1, x2, sizeof(float) * (size_t)(n * D)) && !memcmp(z1, z2, sizeof(float) * (size_t)(n * L));
        same &= varia_encode(c1, m, x1, n, z1, v1) == VARIA_OK && varia_encode(c2, m, x1, n, z2, v2) == VARIA_OK;
        same &= !memcmp(z1, z2, sizeof(float) * (size_t)(n * L)) && !memcmp(v1, v2, sizeof(float) * (size_t)(n * L));
        same &= varia_decode(c1, m, z1, n, VARIA_DECODE_MEAN, x1, NULL) == VARIA_OK &&
                varia_decode(c2, m, z1, n, VARIA_DECODE_MEAN, x2, NULL) == VARIA_OK;
        same &= !memcmp(x1, x2, sizeof(float) * (size_t)(n * D));
        fused &= varia_decode(c2, m, z1, n, VARIA_DECODE_PARAMS, lg, NULL) == VARIA_OK;
        varia_sigmoid(pr, lg, n * D);
        fused &= !memcmp(pr, x2, sizeof(float) * (size_t)(n * D));
    }
    tap_check(same, "sample, encode, decode of 1, 5, 9 and 37 rows: 1 and 2 threads give the same bits");
    tap_check(fused, "decode's mean is bit-identical to the sigmoid of its logits");
    free(x1);
    varia_model_free(m);
    varia_ctx_free(c1), varia_ctx_free(c2);
}

/* reconstruct is decode(encode mean) and encode_sample is mean + sd * eps with
 * eps from the row's own encode stream, known answers checked over three
 * batches (n = 600) on 1 and 2 threads; the noise is standard normal. */
static void test_reconstruct_encode_sample(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/vae-mnist-dyn/model.json", root);
    varia_ctx *c[2] = {varia_ctx_new(), varia_ctx_new()};
    varia_model *m = NULL;
    varia_ctx_set_threads(c[0], 1);
    varia_ctx_set_threads(c[1], 2);
    if (!tap_check(varia_model_load(c[0], path, &m) == VARIA_OK, "the shipped model loads")) {
        varia_ctx_free(c[0]), varia_ctx_free(c[1]);
        return;
    }
    enum { N = 600, D = 784, L = 50 };
    float *x = malloc(sizeof(float) * N * D * 3), *ref = x + N * D, *rec = ref + N * D;
    float *mu = malloc(sizeof(float) * N * L * 4), *lv = mu + N * L, *z = lv + N * L, *z2 = z + N * L;
    int ok = varia_sample(c[0], m, N, 11, 1.0f, x, NULL) == VARIA_OK && varia_encode(c[0], m, x, N, mu, lv) == VARIA_OK &&
             varia_decode(c[0], m, mu, N, VARIA_DECODE_MEAN, ref, NULL) == VARIA_OK;
    int same_rec = ok, same_z = ok;
    for (int t = 0; t < 2; t++) {
        same_rec &= varia_reconstruct(c[t], m, x, N, rec) == VARIA_OK && !memcmp(rec, ref, sizeof(float) * N * D);
        same_z &= varia_encode_sample(c[t], m, x, N, 99, t ? z2 : z) == VARIA_OK;
    }
    same_z &= !memcmp(z, z2, sizeof(float) * N * L);
    double worst = 0.0, s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < N; i++) {
        varia_rng r;
        varia_rng_init(&r, 99, VARIA_STREAM_ENCODE, (uint64_t)i, 0);
        for (int64_t j = 0; j < L; j++) {
            double sd = exp(0.5 * lv[i * L + j]), e = varia_rng_normal(&r), u = (z[i * L + j] - mu[i * L + j]) / sd;
            worst = fmax(worst, fabs(z[i * L + j] - (mu[i * L + j] + sd * e)) / (1.0 + fabs(z[i * L + j])));
            s1 += u, s2 += u * u;
        }
    }
    double mean = s1 / (N * L), var = s2 / (N * L) - mean * mean;
    tap_check(same_rec, "reconstruct of 600 rows = decode(encode mean), bit for bit, on 1 and 2 threads");
    tap_check(same_z, "encode_sample of 600 rows: 1 and 2 threads give the same bits");
    tap_okf(worst < 1e-5, "encode_sample row i = mean + sd * (row i's encode stream) (worst rel. error %.2g)", worst);
    tap_okf(fabs(mean) < 0.03 && fabs(var - 1.0) < 0.05, "encode_sample noise: mean %.4f, variance %.4f", mean, var);
    free(x), free(mu);
    varia_model_free(m);
    varia_ctx_free(c[0]), varia_ctx_free(c[1]);
}

/* Finite but huge inputs overflow a leaky-ReLU encoder: reconstruct names the
 * example whose posterior mean is not finite instead of decoding it. (A
 * Gaussian model: a Bernoulli one refuses inputs outside [0, 1] up front.) */
static void test_reconstruct_overflow(varia_ctx *ctx)
{
    varia_model *m = load(ctx, "vae1_leaky_gauss_fixed");
    if (!m)
        return;
    int64_t D = m->info.data_size, n = 300;
    float *x = calloc((size_t)(n * D), sizeof(float)), *out = malloc(sizeof(float) * (size_t)(n * D));
    for (int64_t j = 0; j < D; j++)
        x[(n - 3) * D + j] = x[(n - 1) * D + j] = (j % 2 ? -3e38f : 3e38f);
    varia_status st = varia_reconstruct(ctx, m, x, n, out);
    const char *msg = varia_ctx_message(ctx);
    tap_okf(st == VARIA_ERR_NONFINITE && strstr(msg, "example 297 is not finite"),
            "reconstruct whose encoder overflows -> NONFINITE naming the first such example (%s)", msg);
    free(x), free(out);
    varia_model_free(m);
}

/* The [0, 1] check eval makes for Bernoulli models covers every operation that
 * reads examples: 0..255 pixels are refused by name, not encoded into
 * confident nonsense; a Gaussian model takes any finite value. */
static void test_unit_range(varia_ctx *ctx)
{
    varia_model *m = load(ctx, "vae1_tanh_bern"), *g = load(ctx, "vae1_leaky_gauss_fixed");
    if (!m || !g) {
        tap_check(0, "unit range: models load");
        varia_model_free(m), varia_model_free(g);
        return;
    }
    float x[40] = {0}, z[6], lv[6], rec[40];
    x[20 + 7] = 255.0f; /* example 1, element 7 */
    int units, per[8];
    struct { varia_status st; const char *op; } got[4] = {
        {varia_encode(ctx, m, x, 2, z, lv), "encode"}, {VARIA_OK, "encode_sample"}, {VARIA_OK, "reconstruct"},
        {VARIA_OK, "active_units"}};
    int ok = got[0].st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "encode: example 1, element 7 = 255");
    got[1].st = varia_encode_sample(ctx, m, x, 2, 1, z);
    ok &= got[1].st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "encode_sample: example 1, element 7 = 255");
    got[2].st = varia_reconstruct(ctx, m, x, 2, rec);
    ok &= got[2].st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "reconstruct: example 1, element 7 = 255");
    got[3].st = varia_active_units(ctx, m, x, 2, &units, per);
    ok &= got[3].st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "active_units: example 1, element 7 = 255");
    for (int i = 0; i < 4; i++)
        printf("# %s of a 255 pixel (Bernoulli): %s\n", got[i].op, varia_status_name(got[i].st));
    x[20 + 7] = -0.25f;
    ok &= varia_encode(ctx, m, x, 2, z, lv) == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "-0.25");
    x[20 + 7] = 1.0f;
    ok &= varia_encode(ctx, m, x, 2, z, lv) == VARIA_OK && varia_reconstruct(ctx, m, x, 2, rec) == VARIA_OK;
    tap_check(ok, "Bernoulli model: encode, encode_sample, reconstruct, active units refuse data outside [0, 1] "
                  "(ARG, naming op, example, element, value); data in [0, 1] passes");
    x[7] = 255.0f;
    tap_check(varia_encode(ctx, g, x, 1, z, lv) == VARIA_OK && varia_encode_sample(ctx, g, x, 1, 1, z) == VARIA_OK,
              "Gaussian model: encode and encode_sample take a value of 255");
    varia_model_free(m), varia_model_free(g);
}

/* Slerp of large finite latents: its path can leave float range (the norm is
 * interpolated, and an element of the middle step exceeds both endpoints').
 * That is VARIA_ERR_NONFINITE, never infinity returned as VARIA_OK. */
static void test_slerp_range(void)
{
    const float big = 3.0e38f;
    float za[2] = {big, big}, zb[2] = {big, -big}, out[8];
    varia_status st = varia_interpolate_latents(za, zb, 2, 3, VARIA_SLERP, out);
    tap_okf(st == VARIA_ERR_NONFINITE, "slerp from (3e38, 3e38) to (3e38, -3e38): the middle step's 4.2e38 -> "
            "NONFINITE (got %s)", varia_status_name(st));
    st = varia_interpolate_latents(za, zb, 2, 3, VARIA_LERP, out);
    tap_okf(st == VARIA_OK && out[2] == big && out[3] == 0.0f && out[5] == -big,
            "lerp between the same latents stays in range -> OK, (3e38, 0) midway");
    float top[2] = {FLT_MAX, -FLT_MAX};
    st = varia_interpolate_latents(top, top, 2, 4, VARIA_LERP, out);
    tap_okf(st == VARIA_OK && out[2] == FLT_MAX && out[5] == -FLT_MAX,
            "lerp from (FLT_MAX, -FLT_MAX) to itself -> OK, every step exact (%s)", varia_status_name(st));
    float ca[2] = {1e30f, 1e30f}, cb[2] = {1e30f, -1e30f};
    st = varia_interpolate_latents(ca, cb, 2, 3, VARIA_SLERP, out);
    tap_okf(st == VARIA_OK && fabsf(out[2] / 1.41421356e30f - 1.0f) < 1e-6f && fabsf(out[3]) < 1e24f,
            "slerp of (1e30, +-1e30) -> OK, middle (1.414e30, 0) (got %g, %g)", (double)out[2], (double)out[3]);
    za[1] = NAN;
    tap_check(varia_interpolate_latents(za, zb, 2, 3, VARIA_LERP, out) == VARIA_ERR_NONFINITE,
              "interpolation from a latent holding NaN -> NONFINITE");
}

/* varia_eval_part over blocks of a set, gathered in order, and
 * varia_eval_summarise of them give varia_eval's bytes: what the MPI build's
 * eval relies on. Dynamic binarization, so the binarization's keying by the
 * set's index is exercised too; two layers, so the per-layer active units. */
static void test_parts(varia_ctx *ctx)
{
    enum { N = 37, K = 700 };
    varia_model *m = load(ctx, "iwae2_tanh_bern");
    if (!m)
        return;
    int64_t D = m->info.data_size, U = m->info.layer_sizes[0] + m->info.layer_sizes[1];
    float *x = malloc(sizeof(float) * N * (size_t)D), *means = malloc(sizeof(float) * N * (size_t)U);
    varia_sample(ctx, m, N, 77, 1.0f, x, NULL); /* means in (0, 1): dynamic binarization draws */
    varia_eval_opts o = {.k = K, .seed = 9, .binarize = VARIA_BIN_DYNAMIC};
    varia_eval_row whole[N], parts[N], wrong[N];
    varia_eval_summary a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int good = varia_eval(ctx, m, x, N, &o, whole, &a) == VARIA_OK;
    static const int64_t cut[] = {0, 10, 11, N};
    for (int i = 0; i < 3; i++)
        good = good && varia_eval_part(ctx, m, x + cut[i] * D, cut[i], cut[i + 1] - cut[i], &o, NULL, parts + cut[i],
                                       means + cut[i] * U) == VARIA_OK;
    good = good && varia_eval_summarise(ctx, m, parts, N, K, means, &b) == VARIA_OK;
    tap_check(good && !memcmp(whole, parts, sizeof whole) && !memcmp(&a, &b, sizeof a),
              "blocks [0,10), [10,11), [11,37) by varia_eval_part, summarised: varia_eval's rows and summary, "
              "bit for bit");
    good = varia_eval_part(ctx, m, x + 11 * D, 0, N - 11, &o, NULL, wrong, NULL) == VARIA_OK;
    tap_check(good && memcmp(wrong, whole + 11, sizeof(varia_eval_row) * (N - 11)) != 0,
              "the same examples keyed from index 0 give other estimates (randomness follows the set's index)");
    tap_check(varia_eval_part(ctx, m, x, -1, 1, &o, NULL, parts, NULL) == VARIA_ERR_ARG &&
                  varia_eval_part(ctx, m, x, 0, 1, &o, NULL, NULL, NULL) == VARIA_ERR_ARG &&
                  varia_eval_summarise(ctx, m, parts, N, K, NULL, &b) == VARIA_ERR_ARG &&
                  varia_eval_summarise(ctx, m, parts, 0, K, means, &b) == VARIA_ERR_ARG,
              "eval_part: a negative first index or no rows, eval_summarise: no means or no rows -> VARIA_ERR_ARG");
    free(x);
    free(means);
    varia_model_free(m);
}

/* Example `at` of x[N] scored by varia_eval_chunks over the runs of chunks
 * [cut[i], cut[i+1]) (threads per run alternating 1 and 3), folded by
 * varia_eval_combine: 1 when that gives whole[at] and the means of
 * varia_eval_part, bit for bit. */
static int chunks_match(const varia_model *m, const float *x, int64_t at, const varia_eval_opts *o,
                        const int64_t *cut, int runs, const varia_eval_row *whole)
{
    int64_t D = m->info.data_size, U = 0, nc = varia_eval_chunk_count(o->k);
    for (int l = 0; l < m->info.n_stochastic; l++)
        U += m->info.layer_sizes[l];
    varia_eval_chunk *c = calloc((size_t)nc, sizeof *c);
    float mc[64], mp[64];
    varia_eval_row row, part;
    int good = c && U <= 64 && cut[0] == 0 && cut[runs] == nc;
    for (int i = 0; good && i < runs; i++) {
        varia_ctx *t = varia_ctx_new();
        good = t && varia_ctx_set_threads(t, i % 2 ? 3 : 1) == VARIA_OK &&
               varia_eval_chunks(t, m, x + at * D, at, cut[i], cut[i + 1] - cut[i], o, c + cut[i],
                                 i == 0 ? mc : NULL) == VARIA_OK;
        varia_ctx_free(t);
    }
    varia_ctx *ctx = varia_ctx_new();
    good = good && varia_eval_combine(ctx, c, o->k, &row) == VARIA_OK &&
           varia_eval_part(ctx, m, x + at * D, at, 1, o, NULL, &part, mp) == VARIA_OK;
    good = good && !memcmp(&row, &whole[at], sizeof row) && !memcmp(&part, &row, sizeof row) &&
           !memcmp(mc, mp, (size_t)U * sizeof *mc);
    varia_ctx_free(ctx);
    free(c);
    return good;
}

/* One example's k samples split by chunks across calls (what the MPI build
 * does with fewer examples than ranks) give varia_eval's row bit for bit:
 * two layers with dynamic binarization, and a flow posterior (log_det, a
 * Monte Carlo KL). */
static void test_chunks(varia_ctx *ctx)
{
    enum { N = 7 };
    static const struct { const char *cas; int64_t k; int64_t cut[5]; int runs; } cases[] = {
        {"iwae2_tanh_bern", 700, {0, 1, 3}, 2},       /* chunks of 256, 256, 188 */
        {"iwae2_tanh_bern", 700, {0, 0, 2, 3}, 3},    /* an empty run holding the means */
        {"iwae2_tanh_bern", 256, {0, 1}, 1},          /* one full chunk */
        {"flow_planar_amort_k1", 1025, {0, 2, 3, 4, 5}, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        varia_model *m = load(ctx, cases[i].cas);
        if (!m)
            continue;
        float *x = malloc(sizeof(float) * N * (size_t)m->info.data_size);
        varia_sample(ctx, m, N, 78, 1.0f, x, NULL);
        varia_eval_opts o = {.k = cases[i].k, .seed = 4, .binarize = VARIA_BIN_DYNAMIC};
        varia_eval_row whole[N];
        int good = varia_eval(ctx, m, x, N, &o, whole, NULL) == VARIA_OK;
        tap_okf(good && chunks_match(m, x, 5, &o, cases[i].cut, cases[i].runs, whole),
                "%s, k %lld: example 5's chunks in %d runs, combined: varia_eval's row and means, bit for bit",
                cases[i].cas, (long long)cases[i].k, cases[i].runs);
        free(x);
        varia_model_free(m);
    }
}

/* What varia_eval_chunks and varia_eval_combine refuse. */
static void test_chunks_refused(varia_ctx *ctx)
{
    varia_model *m = load(ctx, "vae1_tanh_bern");
    if (!m)
        return;
    float *x = calloc((size_t)m->info.data_size, sizeof(float));
    varia_eval_opts o = {.k = 600, .seed = 1, .binarize = VARIA_BIN_NONE};
    varia_eval_chunk c[3];
    varia_eval_row row;
    tap_check(varia_eval_chunk_count(600) == 3 && varia_eval_chunk_count(256) == 1 && varia_eval_chunk_count(0) == 0,
              "varia_eval_chunk_count: 600 -> 3, 256 -> 1, 0 -> 0");
    tap_check(varia_eval_chunks(ctx, m, x, 0, 2, 2, &o, c, NULL) == VARIA_ERR_ARG &&
                  varia_eval_chunks(ctx, m, x, -1, 0, 1, &o, c, NULL) == VARIA_ERR_ARG &&
                  varia_eval_chunks(ctx, m, x, 0, 0, 1, &o, NULL, NULL) == VARIA_ERR_ARG,
              "eval_chunks: chunks past the last, a negative index, no output -> VARIA_ERR_ARG");
    int good = varia_eval_chunks(ctx, m, x, 3, 0, 3, &o, c, NULL) == VARIA_OK &&
               varia_eval_combine(ctx, c, 600, &row) == VARIA_OK;
    tap_check(good && c[0].example == 3 && c[2].chunk == 2 && c[2].count == 600 - 512 && isfinite(row.log_px),
              "eval_chunks: each chunk names its example, index and count (the last: 88)");
    varia_eval_chunk swapped[3] = {c[0], c[2], c[1]};
    tap_check(varia_eval_combine(ctx, swapped, 600, &row) == VARIA_ERR_ARG &&
                  varia_eval_combine(ctx, c, 700, &row) == VARIA_ERR_ARG,
              "eval_combine: chunks out of order, or counts that are not k's -> VARIA_ERR_ARG");
    free(x);
    varia_model_free(m);
}

int main(void)
{
    const char *r = getenv("VARIA_SOURCE_ROOT");
    snprintf(root, sizeof root, "%s", r ? r : ".");
    varia_ctx *ctx = varia_ctx_new();
    test_bounds(ctx, "vae1_tanh_bern");
    test_bounds(ctx, "iwae2_tanh_bern");
    test_reproducible(ctx);
    test_parts(ctx);
    test_chunks(ctx);
    test_chunks_refused(ctx);
    test_binarize_and_units(ctx);
    test_unsupported(ctx);
    test_small_batch_threads();
    test_reconstruct_encode_sample();
    test_reconstruct_overflow(ctx);
    test_unit_range(ctx);
    test_slerp_range();
    varia_ctx_free(ctx);
    return tap_done();
}

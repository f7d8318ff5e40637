/* Known-answer and identity tests for the ops under every family: the fast
 * math against libm in double, the linear layer against a naive double
 * product, batching invariance, the random streams, interpolation, and the
 * importance-weighted reduction. */
#include "estimator.h"
#include "kernels.h"
#include "pool.h"
#include "rng.h"
#include "tap.h"
#include "vmath.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Distance in units of the last place of the reference, in float. */
static double ulps(float got, double want)
{
    float w = (float)want;
    double ulp = nextafterf(fabsf(w), INFINITY) - fabsf(w);
    return fabs((double)got - want) / ulp;
}

typedef float (*fast_fn)(float);
typedef double (*ref_fn)(double);

static double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double max_ulps(fast_fn f, ref_fn r, float lo, float hi, int steps)
{
    double w = 0.0;
    for (int i = 0; i <= steps; i++) {
        float x = lo + (hi - lo) * (float)i / (float)steps;
        double e = ulps(f(x), r((double)x));
        if (!(e <= w))
            w = e;
    }
    return w;
}

static void test_fast_math(void)
{
    char name[128];
    struct { const char *name; fast_fn f; ref_fn r; float lo, hi; double tol; } cases[] = {
        {"exp", vm_exp, exp, -87.0f, 88.0f, 4},
        {"expm1", vm_expm1, expm1, -20.0f, 20.0f, 4},
        {"expm1 near 0", vm_expm1, expm1, -1e-3f, 1e-3f, 4},
        {"tanh", vm_tanh, tanh, -10.0f, 10.0f, 4},
        {"tanh near 0", vm_tanh, tanh, -1e-3f, 1e-3f, 4},
        {"softplus", vm_softplus, ref_softplus, -80.0f, 80.0f, 4},
        {"sigmoid", vm_sigmoid, ref_sigmoid, -80.0f, 80.0f, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double e = max_ulps(cases[i].f, cases[i].r, cases[i].lo, cases[i].hi, 200001);
        snprintf(name, sizeof name, "%s within %.0f ulp of libm on [%g, %g] (max %.2f)", cases[i].name,
                 cases[i].tol, cases[i].lo, cases[i].hi, e);
        tap_check(e <= cases[i].tol, name);
    }
    double wl = 0.0, ws = 0.0;
    for (int i = 0; i < 400000; i++) { /* log over every binade of normal floats */
        float x = ldexpf(1.0f + (float)(i % 4096) / 4096.0f, i % 252 - 126);
        double e = ulps(vm_log(x), log((double)x));
        wl = e > wl ? e : wl;
    }
    for (int i = 0; i < 1 << 20; i++) {
        float u = (float)i / (float)(1 << 20);
        vm_sincos sc = vm_sincos_2pi(u);
        double th = 2.0 * M_PI * (double)u, e = fmax(fabs(sc.s - sin(th)), fabs(sc.c - cos(th)));
        ws = e > ws ? e : ws;
    }
    snprintf(name, sizeof name, "log within 2 ulp of libm over all binades (max %.2f)", wl);
    tap_check(wl <= 2.0, name);
    snprintf(name, sizeof name, "sin and cos of 2 pi u within 2.4e-7 of libm on [0, 1) (max %.2g)", ws);
    tap_check(ws <= 2.4e-7, name);
    tap_check(vm_softplus(1e4f) == 1e4f && vm_softplus(-1e4f) >= 0.0f && vm_softplus(-1e4f) < 1e-30f,
              "softplus of +-1e4 is finite and right");
    tap_check(vm_tanh(1e4f) == 1.0f && vm_tanh(-1e4f) == -1.0f, "tanh saturates to +-1");
    tap_check(isnan(vm_exp(NAN)) && isnan(vm_expm1(NAN)) && isnan(vm_tanh(NAN)) && isnan(vm_softplus(NAN)) &&
                  vm_exp(INFINITY) > 1e38f && vm_exp(-INFINITY) < 1e-37f,
              "NaN propagates through the fast maths; infinities saturate");
}

static double rand_unit(varia_rng *r) { return 2.0 * varia_rng_uniform(r) - 1.0; }

/* y = act(x W^T + b) against a naive double computation, for awkward sizes. */
static void test_linear(void)
{
    varia_rng rng;
    varia_rng_init(&rng, 7, 99, 0, 0);
    int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {5, 33, 31}, {9, 200, 65}, {17, 784, 200}};
    double worst = 0.0;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int n = sizes[t][0], in = sizes[t][1], out = sizes[t][2];
        float *w = malloc(sizeof(float) * (size_t)(out * in)), *b = malloc(sizeof(float) * (size_t)out);
        float *x = malloc(sizeof(float) * (size_t)(n * in)), *y = malloc(sizeof(float) * (size_t)(n * out));
        for (int i = 0; i < out * in; i++) w[i] = (float)rand_unit(&rng);
        for (int i = 0; i < out; i++) b[i] = (float)rand_unit(&rng);
        for (int i = 0; i < n * in; i++) x[i] = (float)rand_unit(&rng);
        varia_linear l;
        varia_linear_init(&l, w, b, in, out);
        varia_linear_forward(&l, x, n, y, (varia_act){VARIA_ACT_IDENTITY, 0});
        for (int r = 0; r < n; r++)
            for (int o = 0; o < out; o++) {
                double s = b[o], mag = fabs(b[o]);
                for (int i = 0; i < in; i++) {
                    s += (double)x[r * in + i] * w[o * in + i];
                    mag += fabs((double)x[r * in + i] * w[o * in + i]);
                }
                /* float accumulation: error bounded by ~in * eps * sum |terms| */
                double e = fabs(y[r * out + o] - s) / (mag * 1.2e-7 * (in + 1));
                if (e > worst)
                    worst = e;
            }
        varia_linear_free(&l);
        free(w), free(b), free(x), free(y);
    }
    char name[96];
    snprintf(name, sizeof name, "linear matches double within the float accumulation bound (ratio %.3f)", worst);
    tap_check(worst <= 1.0, name);
}

/* Row r of the output must not depend on how many rows share the call:
 * every n from 1 to 17 against each row alone: the row kernel for one row,
 * short tiles of 4 or 8 rows over repeats of the last row for 2 to 7 left
 * below a tile of 8, AVX-512's 10-row tile for batches of 9 and 10 and its
 * 12-row tile for 11 and 12. */
static void test_batch_invariance(void)
{
    int in = 50, out = 70, N = 17;
    varia_rng rng;
    varia_rng_init(&rng, 3, 99, 0, 0);
    float w[70 * 50], b[70], x[17 * 50], yall[17 * 70], yone[70];
    for (int i = 0; i < out * in; i++) w[i] = (float)rand_unit(&rng);
    for (int i = 0; i < out; i++) b[i] = (float)rand_unit(&rng);
    for (int i = 0; i < N * in; i++) x[i] = (float)rand_unit(&rng);
    varia_linear l;
    varia_linear_init(&l, w, b, in, out);
    varia_act act = {VARIA_ACT_TANH, 0};
    int same = 1;
    for (int n = 1; n <= N; n++) {
        varia_linear_forward(&l, x, n, yall, act);
        for (int r = 0; r < n; r++) {
            varia_linear_forward(&l, x + r * in, 1, yone, act);
            same &= !memcmp(yone, yall + r * out, sizeof yone);
        }
    }
    varia_linear_free(&l);
    if (!strcmp(varia_kernel_name(), "system BLAS")) { /* a property of varia's kernel, not of BLAS */
        tap_skip("batch invariance", "the system BLAS picks kernels by shape");
        return;
    }
    tap_check(same, "each row is bit-identical whether computed alone or in a batch of 9 to 15");
}

/* The fused Bernoulli output against a double computation, and the same bits
 * for a row whether scored alone (one-row path) or in a batch (tiles). */
static void test_fused_bernoulli(void)
{
    enum { N = 19, IN = 40, OUT = 77 };
    varia_rng rng;
    varia_rng_init(&rng, 11, 99, 0, 0);
    static float w[OUT * IN], b[OUT], h[N * IN], x[OUT], tmp[N * OUT];
    for (int i = 0; i < OUT * IN; i++) w[i] = (float)rand_unit(&rng);
    for (int i = 0; i < OUT; i++) b[i] = (float)rand_unit(&rng), x[i] = varia_rng_uniform(&rng) < 0.5 ? 1.0f : 0.0f;
    for (int i = 0; i < N * IN; i++) h[i] = (float)rand_unit(&rng);
    varia_linear l;
    varia_linear_init(&l, w, b, IN, OUT);
    double all[N], one, worst = 0.0;
    varia_linear_bernoulli(&l, h, N, x, all, tmp);
    int same = 1;
    for (int r = 0; r < N; r++) {
        double ref = 0.0;
        for (int o = 0; o < OUT; o++) {
            double v = b[o];
            for (int i = 0; i < IN; i++)
                v += (double)h[r * IN + i] * w[o * IN + i];
            ref += x[o] * v - (v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)));
        }
        worst = fmax(worst, fabs(all[r] - ref) / fabs(ref));
        varia_linear_bernoulli(&l, h + r * IN, 1, x, &one, tmp);
        same &= one == all[r];
    }
    varia_linear_free(&l);
    char name[120];
    snprintf(name, sizeof name, "fused Bernoulli output matches double within 1e-5 (max rel err %.1e)", worst);
    tap_check(worst < 1e-5, name);
    if (strcmp(varia_kernel_name(), "system BLAS"))
        tap_check(same, "fused Bernoulli output: the same bits alone or in a batch");
}

static void test_rng(void)
{
    varia_rng a, b;
    varia_rng_init(&a, 42, VARIA_STREAM_IW, 5, 1);
    varia_rng_init(&b, 42, VARIA_STREAM_IW, 5, 1);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= varia_rng_u64(&a) == varia_rng_u64(&b);
    tap_check(same, "a stream is reproducible from its key");
    varia_rng_init(&b, 42, VARIA_STREAM_IW, 5, 2);
    varia_rng_init(&a, 42, VARIA_STREAM_IW, 5, 1);
    tap_check(varia_rng_u64(&a) != varia_rng_u64(&b), "different keys give different streams");
    int n = 200000;
    double s = 0, ss = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double v = varia_rng_normal(&a);
        s += v, ss += v * v, s4 += v * v * v * v;
    }
    double mean = s / n, var = ss / n - mean * mean, kurt = s4 / n;
    /* standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032 */
    tap_check(fabs(mean) < 0.011 && fabs(var - 1.0) < 0.016 && fabs(kurt - 3.0) < 0.1,
              "normals have mean 0, variance 1 and kurtosis 3 (200k draws, 5 sigma)");
    float *z = malloc(sizeof(float) * 1000001);
    varia_rng_init(&a, 43, VARIA_STREAM_IW, 0, 0);
    varia_rng_normals(&a, z, 1000001);
    int tail = 0, finite = 1;
    for (int i = 0; i < 1000001; i++) {
        tail += fabsf(z[i]) > 3.0f;
        finite &= isfinite(z[i]) && fabsf(z[i]) < 7.0f;
    }
    /* P(|z| > 3) = 0.0026998; 1e6 draws: sd 52, so 5 sigma is 260 */
    tap_check(finite && abs(tail - 2700) < 260, "normal tails: P(|z| > 3) matches 0.0027 over 1e6 draws (odd n too)");
    free(z);
}

static void test_interpolation(void)
{
    float a[3] = {1, 0, 0}, b[3] = {0, 2, 0}, out[5 * 3];
    varia_interpolate_latents(a, b, 3, 5, VARIA_LERP, out);
    tap_check(!memcmp(out, a, sizeof a) && !memcmp(out + 12, b, sizeof b) && out[6] == 0.5f && out[7] == 1.0f,
              "lerp: exact endpoints and midpoint");
    varia_interpolate_latents(a, b, 3, 5, VARIA_SLERP, out);
    double mid_norm = sqrt((double)out[6] * out[6] + (double)out[7] * out[7]);
    double angle = atan2(out[7], out[6]);
    tap_check(fabs(out[0] - 1) < 1e-6 && fabs(out[13] - 2) < 1e-6 && fabs(mid_norm - 1.5) < 1e-6 &&
                  fabs(angle - M_PI / 4) < 1e-6,
              "slerp: endpoints, norm interpolated linearly, angle halved at the midpoint");
    float c[3] = {2, 0, 0};
    varia_interpolate_latents(a, c, 3, 3, VARIA_SLERP, out);
    tap_check(fabs(out[3] - 1.5f) < 1e-6, "slerp of parallel latents falls back to lerp");
    tap_check(varia_interpolate_latents(a, b, 3, 1, VARIA_LERP, out) == VARIA_ERR_ARG &&
                  varia_interpolate_latents(NULL, b, 3, 3, VARIA_LERP, out) == VARIA_ERR_ARG,
              "interpolation rejects steps < 2 and null latents");
}

static void test_iw_reduction(void)
{
    double lw[1000], lp[1000];
    for (int i = 0; i < 1000; i++)
        lw[i] = -1e4, lp[i] = -1e4 + 3.0;
    varia_iw_acc acc;
    varia_eval_row row;
    varia_iw_init(&acc);
    varia_iw_add(&acc, lw, lp, 1000);
    varia_iw_finish(&acc, NAN, &row);
    tap_check(fabs(row.log_px + 1e4) < 1e-9 && fabs(row.kl - 3.0) < 1e-9,
              "equal log-weights of -1e4: L_k = -1e4 exactly, no underflow; MC KL = 3");
    /* Two weights log 1 and log 3 over k=2: log(4/2) = log 2, fed in two chunks. */
    double a[1] = {0.0}, b[1] = {log(3.0)}, z[1] = {0.0};
    varia_iw_init(&acc);
    varia_iw_add(&acc, a, z, 1);
    varia_iw_add(&acc, b, z, 1);
    varia_iw_finish(&acc, NAN, &row);
    tap_check(fabs(row.log_px - log(2.0)) < 1e-15, "streaming log-sum-exp across chunks: log((1+3)/2)");
    double nan_w[1] = {NAN};
    varia_iw_init(&acc);
    varia_iw_add(&acc, nan_w, z, 1);
    tap_check(!varia_iw_finish(&acc, NAN, &row), "a NaN log-weight is reported, not averaged in");
}

/* A layer shared among a pool's workers gives the bits of the same layer on
 * one thread, for one-row and tiled batches, partial last panels, every
 * activation; and layers too small to be worth a hand-off still work. */
static void test_team_forward(void)
{
    int shapes[][2] = {{50, 200}, {200, 784}, {37, 161}, {8, 8}};
    int rows[] = {1, 3, 8, 13};
    varia_act acts[] = {{VARIA_ACT_IDENTITY, 0}, {VARIA_ACT_TANH, 0}, {VARIA_ACT_SIGMOID, 0}, {VARIA_ACT_ELU, 1.0f}};
    varia_pool *pools[] = {varia_pool_new(2), varia_pool_new(3)};
    varia_rng rng;
    varia_rng_init(&rng, 17, 5, 0, 0);
    int same = 1, cases = 0;
    for (int s = 0; s < 4; s++) {
        int in = shapes[s][0], out = shapes[s][1];
        float *w = malloc(sizeof(float) * (size_t)(in * out)), *b = malloc(sizeof(float) * (size_t)out);
        float *x = malloc(sizeof(float) * (size_t)(13 * in)), *y1 = malloc(sizeof(float) * (size_t)(13 * out));
        float *y2 = malloc(sizeof(float) * (size_t)(13 * out));
        for (int i = 0; i < in * out; i++) w[i] = (float)rand_unit(&rng);
        for (int i = 0; i < out; i++) b[i] = (float)rand_unit(&rng);
        for (int i = 0; i < 13 * in; i++) x[i] = (float)rand_unit(&rng);
        varia_linear l;
        varia_linear_init(&l, w, b, in, out);
        for (int r = 0; r < 4; r++)
            for (int a = 0; a < 4; a++)
                for (int p = 0; p < 2; p++) {
                    varia_linear_forward(&l, x, rows[r], y1, acts[a]);
                    memset(y2, 0xff, sizeof(float) * (size_t)(rows[r] * out)); /* NaN: a column left unwritten shows */
                    varia_linear_forward_team(&l, x, rows[r], y2, acts[a], pools[p]);
                    same &= !memcmp(y1, y2, sizeof(float) * (size_t)(rows[r] * out));
                    cases++;
                }
        varia_linear_free(&l);
        free(w), free(b), free(x), free(y1), free(y2);
    }
    varia_pool_free(pools[0]);
    varia_pool_free(pools[1]);
    char name[120];
    snprintf(name, sizeof name, "a layer shared by 2 or 3 workers gives the one-thread bits (%d cases)", cases);
    tap_check(same, name);
}

/* The bare product (varia_linear_product_team, the transposed convs'
 * product) against the whole layer with a zero bias and the identity, bit for
 * bit: full and partial panels, 1 to 17 rows (a tile of 8, a tile of 4, the
 * shorter tiles all take part), alone and with 2 workers, y's rows out or
 * whole panels apart; and every element of y is written (NaN-filled first). */
static void test_product(void)
{
    int shapes[][2] = {{1, 1}, {16, 25}, {32, 800}, {17, 33}, {33, 64}, {7, 161}};
    varia_pool *pool = varia_pool_new(2);
    varia_rng rng;
    varia_rng_init(&rng, 23, 5, 0, 0);
    int same = 1, cases = 0;
    const varia_act id = {VARIA_ACT_IDENTITY, 0};
    for (int s = 0; s < 6; s++) {
        int in = shapes[s][0], out = shapes[s][1];
        float *w = malloc(sizeof(float) * (size_t)(in * out)), *b = calloc((size_t)out, sizeof(float));
        float *x = malloc(sizeof(float) * (size_t)(17 * in)), *y1 = malloc(sizeof(float) * (size_t)(17 * out));
        float *y2 = malloc(sizeof(float) * (size_t)(17 * ((out + 31) / 32 * 32))), *bias = malloc(sizeof(float) * (size_t)out);
        for (int i = 0; i < in * out; i++) w[i] = (float)rand_unit(&rng);
        for (int i = 0; i < out; i++) bias[i] = (float)rand_unit(&rng);
        for (int i = 0; i < 17 * in; i++) x[i] = (float)rand_unit(&rng);
        varia_linear l, lb;
        varia_linear_init(&l, w, b, in, out);
        varia_linear_init(&lb, w, bias, in, out); /* a bias the product must ignore */
        int64_t padded = (out + 31) / 32 * 32;
        for (int n = 1; n <= 17; n++)
            for (int p = 0; p < 4; p++) { /* alone or shared; y's rows out or whole panels apart */
                int64_t ldy = p & 2 ? padded : out;
                varia_linear_forward_native(&l, x, n, y1, id);
                memset(y2, 0xff, sizeof(float) * (size_t)(17 * padded));
                varia_linear_product_team(&lb, x, n, y2, ldy, p & 1 ? pool : NULL);
                for (int r = 0; r < n; r++)
                    same &= !memcmp(y1 + r * out, y2 + r * ldy, sizeof(float) * (size_t)out);
                cases++;
            }
        varia_linear_free(&l);
        varia_linear_free(&lb);
        free(w), free(b), free(x), free(y1), free(y2), free(bias);
    }
    varia_pool_free(pool);
    char name[120];
    snprintf(name, sizeof name, "the bare product gives the layer's bits with a zero bias (%d cases)", cases);
    tap_check(same, name);
}

/* varia_transpose against the element-by-element definition, with row
 * strides wider than the matrix: sizes on both sides of the 16 x 16 blocks,
 * vectors (the copy path) included. */
static void test_transpose(void)
{
    int sizes[] = {1, 2, 15, 16, 17, 33, 49};
    float src[49 * 52], dst[52 * 52], want[52 * 52];
    for (int i = 0; i < 49 * 52; i++)
        src[i] = (float)i;
    int same = 1, cases = 0;
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 7; b++)
            for (int pad = 0; pad < 4; pad += 3) {
                int rows = sizes[a], cols = sizes[b], lds = cols + pad, ldd = rows + pad;
                for (int i = 0; i < 52 * 52; i++)
                    dst[i] = want[i] = -1.0f;
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        want[c * ldd + r] = src[r * lds + c];
                varia_transpose(src, rows, cols, lds, dst, ldd);
                same &= !memcmp(dst, want, sizeof dst); /* the padding between rows untouched too */
                cases++;
            }
    char name[100];
    snprintf(name, sizeof name, "transposes of 1 to 49 rows and columns, strided (%d cases)", cases);
    tap_check(same, name);
}

/* Every chunk of a shared job runs exactly once, whatever the chunk count,
 * the pool size (3 oversubscribes this 2-core machine) and however shared and
 * ordinary jobs interleave. */
typedef struct share_count {
    int counts[128];
    int64_t rounds;
} share_count;

static void count_chunks(void *arg, int64_t begin, int64_t end)
{
    share_count *c = arg;
    for (int64_t i = begin; i < end; i++)
        c->counts[i]++; /* chunks are disjoint: no two threads touch one count */
}

static void count_worker(void *arg, int worker)
{
    (void)worker;
    __atomic_fetch_add(&((share_count *)arg)->rounds, 1, __ATOMIC_RELAXED);
}

static void test_pool_share(void)
{
    int ok = 1, sizes[] = {2, 3}, chunks[] = {1, 2, 3, 7, 25, 128};
    for (int s = 0; s < 2; s++) {
        varia_pool *p = varia_pool_new(sizes[s]);
        for (int rep = 0; rep < 300; rep++)
            for (int c = 0; c < 6; c++) {
                share_count sc = {{0}, 0};
                varia_pool_share(p, count_chunks, &sc, chunks[c]);
                for (int i = 0; i < 128; i++)
                    ok &= sc.counts[i] == (i < chunks[c]);
                if (rep % 7 == 0) { /* an ordinary job in between */
                    varia_pool_run(p, count_worker, &sc);
                    ok &= sc.rounds == varia_pool_size(p);
                }
            }
        varia_pool_free(p);
    }
    share_count sc = {{0}, 0};
    varia_pool_share(NULL, count_chunks, &sc, 5);
    ok &= sc.counts[0] == 1 && sc.counts[4] == 1 && sc.counts[5] == 0;
    tap_check(ok, "a shared job runs each chunk once (pools of 2 and 3, 1 to 128 chunks, mixed with ordinary jobs)");
}

/* varia_softplus_logvar must give the reference's floats (libm in double,
 * rounded) bit for bit: over spreads of values (uniform on [-45, 45], where
 * |a| > 40 takes the reference; uniform on [-1, 1]; magnitudes from 1e-30 to
 * 1e4 of either sign) for several floors, over steps of one ulp through
 * [0.5, 0.5 + 2^-12] (every rounding boundary there), and at extremes:
 * +-0, denormals, +-40 and their neighbours, +-FLT_MAX, +-inf, NaN. */
static void test_softplus_logvar(void)
{
    enum { N = 4096 };
    static float a[N], y[N], want[N];
    const float floors[] = {1e-4f, 0.0f, 0.01f, 1.0f};
    varia_rng rng;
    varia_rng_init(&rng, 23, 99, 0, 0);
    int64_t bad = 0, n = 0;
    for (size_t f = 0; f < sizeof floors / sizeof floors[0]; f++)
        for (int rep = 0; rep < 60; rep++) {
            for (int i = 0; i < N; i++) {
                double u = varia_rng_uniform(&rng);
                a[i] = rep % 3 == 0 ? (float)(90.0 * u - 45.0)
                     : rep % 3 == 1 ? (float)(2.0 * u - 1.0)
                                    : (float)((i % 2 ? 1.0 : -1.0) * pow(10.0, 34.0 * u - 30.0));
            }
            varia_softplus_logvar(y, a, N, floors[f]);
            for (int i = 0; i < N; i++)
                want[i] = varia_softplus_logvar_ref(a[i], floors[f]);
            bad += memcmp(y, want, sizeof y) != 0;
            n += N;
        }
    for (int i = 0; i < N; i++)
        a[i] = nextafterf(i ? a[i - 1] : 0.5f, INFINITY);
    varia_softplus_logvar(y, a, N, 1e-4f);
    for (int i = 0; i < N; i++)
        want[i] = varia_softplus_logvar_ref(a[i], 1e-4f);
    bad += memcmp(y, want, sizeof y) != 0;
    const float ext[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, 40.0f, -40.0f, nextafterf(40.0f, 0.0f),
                         nextafterf(40.0f, 100.0f), nextafterf(-40.0f, 0.0f), nextafterf(-40.0f, -100.0f), 88.0f,
                         -88.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN};
    enum { E = sizeof ext / sizeof ext[0] };
    float ye[E], we[E];
    varia_softplus_logvar(ye, ext, E, 1e-4f);
    for (int i = 0; i < E; i++)
        we[i] = varia_softplus_logvar_ref(ext[i], 1e-4f);
    bad += memcmp(ye, we, sizeof ye) != 0;
    tap_okf(bad == 0, "softplus_logvar: the reference's bits for %lld values, one-ulp steps and extremes "
                      "(%lld blocks differ)", (long long)n, (long long)bad);
}

/* The vectorized scan finds the first bad element wherever it sits relative
 * to its 64-element blocks, and tells NaN from infinity. */
static void test_find_bad(void)
{
    enum { N = 300 };
    float x[N];
    int ok = 1;
    for (int i = 0; i < N; i++)
        x[i] = (float)i - 150.0f;
    ok &= varia_find_bad(x, N, 0) == -1 && varia_find_bad(x, N, 1) == -1 && varia_find_bad(x, 0, 0) == -1;
    int at[] = {0, 1, 63, 64, 65, 127, 128, 191, 255, 256, 299};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        int i = at[k];
        float keep = x[i];
        x[i] = NAN;
        ok &= varia_find_bad(x, N, 0) == i && varia_find_bad(x, N, 1) == i && varia_find_bad(x, i, 0) == -1;
        x[i] = -INFINITY;
        ok &= varia_find_bad(x, N, 0) == i && varia_find_bad(x, N, 1) == -1;
        if (i + 7 < N) { /* a later NaN must not hide the earlier infinity */
            x[i + 7] = NAN;
            ok &= varia_find_bad(x, N, 0) == i && varia_find_bad(x, N, 1) == i + 7;
            x[i + 7] = (float)(i + 7) - 150.0f;
        }
        x[i] = keep;
    }
    x[5] = FLT_MAX;
    x[6] = -FLT_MAX;
    ok &= varia_find_bad(x, N, 0) == -1;
    tap_check(ok, "find_bad: the first NaN or infinity at block edges, NaN apart from infinity");
}

int main(void)
{
    printf("# matrix kernel: %s\n", varia_kernel_name());
    test_fast_math();
    test_pool_share();
    /* The kernels with every instruction set this CPU can run, so that an
     * AVX-512 machine tests the AVX2 and baseline clones too. */
    const char *sets[] = {"avx512", "avx2", "generic"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!varia_kernels_use(sets[i]))
            continue;
        printf("# kernels: %s\n", varia_kernel_name());
        test_linear();
        test_batch_invariance();
        test_team_forward();
        test_product();
        test_transpose();
        test_find_bad();
        test_fused_bernoulli();
        test_softplus_logvar();
    }
    test_rng();
    test_interpolation();
    test_iw_reduction();
    return tap_done();
}

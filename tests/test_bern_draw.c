/* The Bernoulli draw of exec's bernoulli_sample (runtime/bern_draw.c) must
 * decide exactly as the reference comparison Phi(e) < sigmoid(l) in double:
 * over random pairs, over near ties (e or l within a few ulps of where the
 * reference's decision flips), at the threshold tables' grid points and
 * their neighbours, and at extremes (huge, infinite and NaN noise and
 * logits); with each instruction set's threshold pass. */
#include "bern_draw.h"
#include "kernels.h"
#include "rng.h"
#include "tap.h"

#include <float.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The float `steps` ulps from f (steps < 0: below), along the order of keys. */
static float ulps_from(float f, int steps)
{
    return varia_key_float(varia_float_key(f) + (uint32_t)steps);
}

/* Pairs compared, and how many disagreed (with the first one printed). */
static int64_t compared, wrong;

/* Draw (e, l) through the row function and compare with the reference. */
static void compare(float e, float l)
{
    float y = -1.0f;
    varia_bern_draw_row(&y, &l, &e, 1);
    float want = varia_bern_draw_exact(e, l) ? 1.0f : 0.0f;
    compared++;
    if (y != want && wrong++ == 0)
        printf("# first disagreement: e %a l %a: drew %g, the reference %g\n", (double)e, (double)l, (double)y,
               (double)want);
}

/* The float in [lo, hi] (keys) where decision(x) flips from first to its
 * opposite, by bisection over the float order; hi when it never does. */
static float flip_point(int (*decision)(float, float), float fixed, float lo, float hi, int first)
{
    uint32_t a = varia_float_key(lo), b = varia_float_key(hi);
    if (decision(fixed, hi) == first)
        return hi;
    while (b - a > 1) {
        uint32_t m = a + (b - a) / 2;
        if (decision(fixed, varia_key_float(m)) == first)
            a = m;
        else
            b = m;
    }
    return varia_key_float(b);
}

/* The reference's decision as a function of e (l fixed) and of l (e fixed). */
static int by_e(float l, float e)
{
    return varia_bern_draw_exact(e, l);
}

static int by_l(float e, float l)
{
    return varia_bern_draw_exact(e, l);
}

/* Random pairs: e standard normal, logits spread wide (8 times a normal). */
static void test_random(varia_rng *rng)
{
    enum { N = 4096 };
    float e[N], l[N], y[N];
    int64_t ones = 0, bad = 0;
    for (int rep = 0; rep < 100; rep++) {
        varia_rng_normals(rng, e, N);
        varia_rng_normals(rng, l, N);
        for (int i = 0; i < N; i++)
            l[i] *= 8.0f;
        varia_bern_draw_row(y, l, e, N);
        for (int i = 0; i < N; i++) {
            bad += y[i] != (varia_bern_draw_exact(e[i], l[i]) ? 1.0f : 0.0f);
            ones += y[i] == 1.0f;
        }
    }
    tap_okf(bad == 0, "409,600 random pairs (e ~ N(0, 1), l ~ N(0, 64)) as a row: %lld disagreements",
            (long long)bad);
    tap_okf(ones > 100000 && ones < 309600, "and they draw both values (%lld ones)", (long long)ones);
}

/* Near ties: for each l, the e where the reference's decision flips and the
 * 64 floats on either side of it; for each e, the same in l. */
static void test_ties(varia_rng *rng)
{
    compared = wrong = 0;
    for (int i = 0; i < 1500; i++) {
        float l = 80.0f * (float)varia_rng_uniform(rng) - 40.0f;
        float e = flip_point(by_e, l, -40.0f, 40.0f, 1);
        for (int k = -64; k <= 64; k++)
            compare(ulps_from(e, k), l);
    }
    for (int i = 0; i < 1500; i++) {
        float e = 20.0f * (float)varia_rng_uniform(rng) - 10.0f;
        float l = flip_point(by_l, e, -100.0f, 100.0f, 0);
        for (int k = -64; k <= 64; k++)
            compare(e, ulps_from(l, k));
    }
    tap_okf(wrong == 0, "near ties, within 64 ulps of the flip in e or in l: %lld of %lld pairs disagree",
            (long long)wrong, (long long)compared);
}

/* The logit grid's points (-32 to 32 by 1/16, a little beyond both ends)
 * and a float either side, against e within 8 ulps of the flip (where the
 * thresholds lie) and against normal noise. */
static void test_grid(varia_rng *rng)
{
    compared = wrong = 0;
    for (int i = -4; i <= 1028; i++) {
        float g = -32.0f + (float)i / 16.0f;
        for (int k = -1; k <= 1; k++) {
            float l = ulps_from(g, k), e = flip_point(by_e, l, -40.0f, 40.0f, 1);
            for (int j = -8; j <= 8; j++)
                compare(ulps_from(e, j), l);
            for (int j = 0; j < 8; j++)
                compare(varia_rng_normal(rng), l);
        }
    }
    tap_okf(wrong == 0, "the logit grid's points and their neighbours: %lld of %lld pairs disagree",
            (long long)wrong, (long long)compared);
}

/* Every pair of extreme values: zeros, denormals, the grids' ends, the
 * limits of exp and erfc, the largest floats, infinities and NaN. */
static void test_extremes(void)
{
    const float v[] = {0.0f, 1e-45f, 1e-30f, 0.5f, 7.9999995f, 8.0f, 8.000001f, 20.0f, 26.5f, 27.5f,
                       31.999998f, 32.0f, 32.000004f, 38.0f, 40.0f, 88.7f, 89.0f, 103.0f, 104.0f, 700.0f,
                       745.2f, 746.0f, 1e4f, 1e30f, FLT_MAX, INFINITY, NAN};
    enum { N = sizeof v / sizeof v[0] };
    compared = wrong = 0;
    for (int i = 0; i < N; i++)
        for (int si = -1; si <= 1; si += 2)
            for (int j = 0; j < N; j++)
                for (int sj = -1; sj <= 1; sj += 2)
                    compare((float)si * v[i], (float)sj * v[j]);
    tap_okf(wrong == 0, "extremes (+-0, denormals, grid ends, +-1e30, +-FLT_MAX, +-inf, NaN), every pair: "
                        "%lld of %lld disagree",
            (long long)wrong, (long long)compared);
    float e = NAN, l = 5.0f, y = -1.0f;
    varia_bern_draw_row(&y, &l, &e, 1);
    tap_check(y == 0.0f, "a NaN draws 0, as the reference's comparison is false");
}

/* The thresholds are filled on first use: several threads drawing at once
 * for the first time must all see them whole (run under ThreadSanitizer by
 * tools/run-tests.sh too). */
enum { FIRST_N = 2048, FIRST_THREADS = 4 };
static float first_e[FIRST_N], first_l[FIRST_N], first_y[FIRST_THREADS][FIRST_N];

static void *first_draws(void *arg)
{
    float *y = arg;
    varia_bern_draw_row(y, first_l, first_e, FIRST_N);
    return NULL;
}

static void test_first_use_threads(void)
{
    varia_rng rng;
    varia_rng_init(&rng, 29, 5, 0, 0);
    varia_rng_normals(&rng, first_e, FIRST_N);
    varia_rng_normals(&rng, first_l, FIRST_N);
    pthread_t tid[FIRST_THREADS];
    int started = 0, bad = 0;
    for (int t = 0; t < FIRST_THREADS; t++)
        started += pthread_create(&tid[t], NULL, first_draws, first_y[t]) == 0;
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    for (int t = 0; t < started; t++)
        for (int i = 0; i < FIRST_N; i++)
            bad += first_y[t][i] != (varia_bern_draw_exact(first_e[i], first_l[i]) ? 1.0f : 0.0f);
    tap_okf(started == FIRST_THREADS && bad == 0, "%d threads drawing first at once: %d disagreements", started, bad);
}

int main(void)
{
    test_first_use_threads();
    /* The threshold pass with every instruction set this CPU can run. */
    const char *sets[] = {"avx512", "avx2", "generic"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        if (!varia_kernels_use(sets[i]))
            continue;
        printf("# kernels: %s\n", varia_kernel_name());
        varia_rng rng;
        varia_rng_init(&rng, 17, 5, 0, 0);
        test_random(&rng);
        test_ties(&rng);
        test_grid(&rng);
        test_extremes();
    }
    return tap_done();
}

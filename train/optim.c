/* Adam (Kingma & Ba 2015, with bias correction), SGD with momentum and
 * RMSProp (the WGAN paper's). The
 * loops are compiled for AVX-512, AVX2 and baseline and picked from the CPU's
 * flags (as the matrix kernels are; not ifuncs, whose resolvers run before
 * sanitizer runtimes start): at small batches the update streams every
 * parameter each step. */
#include "optim.h"

#include "config.h"

#include <math.h>
#include <stdlib.h>

int tr_optim_init(tr_optim *o, int kind, int64_t P, double beta1, double beta2, double eps, double momentum,
                  double clip)
{
    *o = (tr_optim){kind, beta1, beta2, eps, momentum, clip, P, 0, NULL, NULL};
    o->m = calloc((size_t)P + 1, sizeof(float));
    o->v = kind != TR_OPT_SGD ? calloc((size_t)P + 1, sizeof(float)) : NULL;
    return o->m && (kind == TR_OPT_SGD || o->v);
}

void tr_optim_free(tr_optim *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double tr_sum_squares(const float *g, int64_t lo, int64_t hi)
{
    double s0 = 0.0, s1 = 0.0;
    int64_t i = lo;
    for (; i + 2 <= hi; i += 2) {
        s0 += (double)g[i] * g[i];
        s1 += (double)g[i + 1] * g[i + 1];
    }
    for (; i < hi; i++)
        s0 += (double)g[i] * g[i];
    return s0 + s1;
}

double tr_optim_clip_scale(const tr_optim *o, double norm)
{
    return o->clip > 0.0 && norm > o->clip ? o->clip / norm : 1.0;
}

void tr_optim_begin(tr_optim *o)
{
    o->t++;
}

#define SGD_ARGS float *theta, float *mom, const float *grad, float mu, float a, float gs, int64_t n
#define SGD_BODY                                                                                           \
    for (int64_t i = 0; i < n; i++) {                                                                      \
        mom[i] = mu * mom[i] + gs * grad[i];                                                               \
        theta[i] -= a * mom[i];                                                                            \
    }
#define ADAM_ARGS                                                                                          \
    float *theta, float *m, float *v, const float *grad, float b1, float b2, float a, float rc2, float eps,  \
        float gs, int64_t n
#define ADAM_BODY                                                                                          \
    for (int64_t i = 0; i < n; i++) {                                                                      \
        float g = gs * grad[i];                                                                            \
        m[i] = b1 * m[i] + (1.0f - b1) * g;                                                                \
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;                                                            \
        theta[i] -= a * m[i] / (sqrtf(v[i]) * rc2 + eps);                                                  \
    }

/* RMSProp as PyTorch's (no momentum, not centered): v = alpha v + (1 - alpha) g^2,
 * theta -= lr g / (sqrt(v) + eps). */
#define RMS_ARGS float *theta, float *v, const float *grad, float alpha, float a, float eps, float gs, int64_t n
#define RMS_BODY                                                                                           \
    for (int64_t i = 0; i < n; i++) {                                                                      \
        float g = gs * grad[i];                                                                            \
        v[i] = alpha * v[i] + (1.0f - alpha) * g * g;                                                      \
        theta[i] -= a * g / (sqrtf(v[i]) + eps);                                                           \
    }

__attribute__((target("avx512f,fma"))) static void rms_avx512(RMS_ARGS) { RMS_BODY }
__attribute__((target("avx2,fma"))) static void rms_avx2(RMS_ARGS) { RMS_BODY }
static void rms_generic(RMS_ARGS) { RMS_BODY }
__attribute__((target("avx512f,fma"))) static void sgd_avx512(SGD_ARGS) { SGD_BODY }
__attribute__((target("avx2,fma"))) static void sgd_avx2(SGD_ARGS) { SGD_BODY }
static void sgd_generic(SGD_ARGS) { SGD_BODY }
__attribute__((target("avx512f,fma"))) static void adam_avx512(ADAM_ARGS) { ADAM_BODY }
__attribute__((target("avx2,fma"))) static void adam_avx2(ADAM_ARGS) { ADAM_BODY }
static void adam_generic(ADAM_ARGS) { ADAM_BODY }

/* 2: AVX-512, 1: AVX2 + FMA, 0: baseline. */
static int isa(void)
{
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        return 2;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void tr_optim_range(const tr_optim *o, float *theta, const float *grad, double lr, double gscale, int64_t lo,
                    int64_t hi)
{
    if (o->kind == TR_OPT_SGD) {
        void (*f)(SGD_ARGS) = isa() == 2 ? sgd_avx512 : isa() ? sgd_avx2 : sgd_generic;
        f(theta + lo, o->m + lo, grad + lo, (float)o->momentum, (float)lr, (float)gscale, hi - lo);
        return;
    }
    if (o->kind == TR_OPT_RMSPROP) {
        void (*f)(RMS_ARGS) = isa() == 2 ? rms_avx512 : isa() ? rms_avx2 : rms_generic;
        f(theta + lo, o->v + lo, grad + lo, (float)o->beta2, (float)lr, (float)o->eps, (float)gscale, hi - lo);
        return;
    }
    /* The bias corrections fold into the step size and epsilon's scale. */
    double c1 = 1.0 - pow(o->beta1, (double)o->t), c2 = 1.0 - pow(o->beta2, (double)o->t);
    void (*f)(ADAM_ARGS) = isa() == 2 ? adam_avx512 : isa() ? adam_avx2 : adam_generic;
    f(theta + lo, o->m + lo, o->v + lo, grad + lo, (float)o->beta1, (float)o->beta2, (float)(lr / c1),
         (float)(1.0 / sqrt(c2)), (float)o->eps, (float)gscale, hi - lo);
}

/* The finite-difference gradient check the double-precision tape tests share
 * (test_train_grad.c: single ops; test_train_objectives.c: whole objectives).
 * Internal to tests/; include after model.h and rng.h, in one .c only per
 * executable (its functions are static). */
#ifndef VARIA_TESTS_GRAD_CHECK_H
#define VARIA_TESTS_GRAD_CHECK_H

#include "model.h"
#include "rng.h"
#include "tap.h"

#include <math.h>
#include <string.h>

#define MAXP 4096

#define ok tap_okf

/* A function of the parameter vector th[n]: records its graph and returns the
 * output node (gradients accumulate into g). */
typedef tr_node *(*build_fn)(tr_tape *t, double *th, double *g, void *ctx);

static __attribute__((unused)) double weighted(const tr_node *o, const double *c)
{
    double s = 0.0;
    for (int64_t i = 0; i < o->rows * o->cols; i++)
        s += c[i] * o->v[i];
    return s;
}

/* Max over parameters of |analytic - numeric| / max(1, |numeric|) for the loss
 * sum_i c_i out_i, c fixed pseudo-random. */
static double last_grad[MAXP]; /* check()'s analytic gradient, for callers that inspect it */

/* check() over parameters [lo, n) only (the others still get their
 * analytic gradient in last_grad). */
static double check_from(build_fn f, double *th, int lo, int n, void *ctx);

static __attribute__((unused)) double check(build_fn f, double *th, int n, void *ctx)
{
    return check_from(f, th, 0, n, ctx);
}

static __attribute__((unused)) double check_from(build_fn f, double *th, int lo, int n, void *ctx)
{
    static double dummy[MAXP], c[1 << 16];
    double *g = last_grad;
    tr_tape *t = trd_tape_new();
    memset(g, 0, sizeof last_grad);
    tr_node *o = f(t, th, g, ctx);
    int64_t m = o->rows * o->cols;
    varia_rng r;
    varia_rng_init(&r, 7, 1, 0, 0);
    for (int64_t i = 0; i < m; i++)
        c[i] = 2.0 * varia_rng_uniform(&r) - 1.0;
    trd_seed(t, o, c);
    trd_backward(t);
    double worst = 0.0;
    for (int i = lo; i < n; i++) {
        double keep = th[i], h = 1e-6 * (fabs(keep) > 1.0 ? fabs(keep) : 1.0);
        th[i] = keep + h;
        trd_reset(t);
        double up = weighted(f(t, th, dummy, ctx), c);
        th[i] = keep - h;
        trd_reset(t);
        double down = weighted(f(t, th, dummy, ctx), c);
        th[i] = keep;
        double num = (up - down) / (2.0 * h), err = fabs(g[i] - num) / (fabs(num) > 1.0 ? fabs(num) : 1.0);
        if (err > worst)
            worst = err;
    }
    trd_tape_free(t);
    return worst;
}

static __attribute__((unused)) void fill(double *th, int n, uint64_t seed, double scale)
{
    varia_rng r;
    varia_rng_init(&r, seed, 2, 0, 0);
    for (int i = 0; i < n; i++)
        th[i] = scale * (2.0 * varia_rng_uniform(&r) - 1.0);
}

#endif

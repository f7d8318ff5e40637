/* DRAW's attention ops at the paper's MNIST sizes (A = B = 28, read 2 x 2 of
 * x and x^, write 5 x 5), one thread: microseconds per call over ROWS rows
 * (batch x particles) for the exec ops (filterbank, read, write) and for the
 * tape's forward + backward of filterbank -> read and filterbank -> write.
 * Medians over repeats of the thread's CPU time, not wall time: on a shared
 * machine a wall clock counts the time other processes hold the core (the
 * write measured 2-3x slower by it at a load of 7 on 2 cores).
 * bench/bench_attn.py times PyTorch's batched-matmul form of the same
 * equations on the same shapes the same way, for comparison.
 * Usage: bench_attn [ROWS [REPEATS]]. */
#include "ops_exec.h"
#include "tape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define A 28
#define B 28

/* Seconds of CPU time this thread has used. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seeded values in [lo, hi). */
static void fill(float *v, int64_t n, unsigned seed, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = lo + (hi - lo) * (float)(seed >> 8) / 16777216.0f;
    }
}

/* Median microseconds of one exec run over the rows of the filterbank (op
 * 0), the filterbank and a read of two images (1), the filterbank and a
 * write (2). */
static double time_exec(int op, int64_t rows, int reps, const float *p, const float *x, const float *w,
                        const varia_attn *gr, const varia_attn *gw)
{
    size_t floats = (size_t)rows * (2 * A * B + 2 * varia_attn_fb_cols(gw)) + (1 << 16);
    float *ws = aligned_alloc(64, floats * sizeof(float));
    double t[64];
    int inner = 1 + (int)(2e3 / (double)rows);
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        for (int i = 0; i < inner; i++) {
            varia_exec e;
            varia_exec_begin_sized(&e, NULL, ws, 64, floats, NULL);
            varia_ops *o = &e.ops;
            const varia_attn *g = op == 2 ? gw : gr;
            varia_v *fb = o->attn_filterbank(o, o->input(o, rows, VARIA_ATTN_PARAMS, p, VARIA_ATTN_PARAMS), g);
            if (op == 1)
                o->attn_read(o, fb, g, o->input(o, rows, A * B, x, A * B), 1, o->input(o, rows, A * B, x, A * B), 1);
            if (op == 2)
                o->attn_write(o, fb, g, o->input(o, rows, 25, w, 25));
        }
        t[r] = (cpu_now() - t0) / inner * 1e6;
    }
    free(ws);
    return bench_median(t, reps);
}

/* Median microseconds of the tape's forward + backward of filterbank -> read
 * (op 1) or filterbank -> write (op 2), seeded with ones. */
static double time_tape(int op, int64_t rows, int reps, float *p, float *x, float *w, const varia_attn *gr,
                        const varia_attn *gw)
{
    tr_tape *t = tr_tape_new();
    float *gp = calloc((size_t)rows * VARIA_ATTN_PARAMS, sizeof(float)), *gx = calloc((size_t)rows * A * B, 4);
    float *gwv = calloc((size_t)rows * 25, 4), *seed = malloc((size_t)rows * A * B * sizeof(float));
    fill(seed, rows * A * B, 9, -1, 1);
    double tm[64];
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        tr_reset(t);
        tr_node *fb = tr_attn_filterbank(t, tr_param(t, rows, VARIA_ATTN_PARAMS, p, gp), op == 1 ? gr : gw);
        tr_node *y = op == 1 ? tr_attn_read(t, fb, gr, tr_param(t, rows, A * B, x, gx), 1,
                                            tr_param(t, rows, A * B, x, gx), 1)
                             : tr_attn_write(t, fb, gw, tr_param(t, rows, 25, w, gwv));
        tr_seed(t, y, seed);
        tr_backward(t);
        tm[r] = (cpu_now() - t0) * 1e6;
    }
    tr_tape_free(t);
    free(gp);
    free(gx);
    free(gwv);
    free(seed);
    return bench_median(tm, reps);
}

int main(int argc, char **argv)
{
    int64_t rows = argc > 1 ? atoll(argv[1]) : 500;
    int reps = argc > 2 ? atoi(argv[2]) : 21;
    if (rows < 1 || reps < 1 || reps > 64)
        return 2;
    const varia_attn gr = {A, B, 2}, gw = {A, B, 5};
    float *p = malloc((size_t)rows * VARIA_ATTN_PARAMS * sizeof(float)), *x = malloc((size_t)rows * A * B * 4);
    float *w = malloc((size_t)rows * 25 * sizeof(float));
    fill(p, rows * VARIA_ATTN_PARAMS, 1, -1, 1);
    fill(x, rows * A * B, 2, 0, 1);
    fill(w, rows * 25, 3, -2, 2);
    /* multiply-adds per row: read 2 x (N B A + N N A), write N N A + B N A */
    double fma_r = 2.0 * (2 * B * A + 4 * A), fma_w = 25.0 * A + B * 5.0 * A;
    double tf = time_exec(0, rows, reps, p, x, w, &gr, &gw), tr = time_exec(1, rows, reps, p, x, w, &gr, &gw);
    double tw = time_exec(2, rows, reps, p, x, w, &gr, &gw);
    printf("rows %lld, A = B = %d, one thread, median of %d\n", (long long)rows, A, reps);
    printf("exec filterbank N 2:           %9.1f us  %6.1f ns/row\n", tf, tf * 1e3 / (double)rows);
    printf("exec read N 2 of x and x^:     %9.1f us  %6.1f ns/row  %5.2f GFLOP/s (with its filterbank)\n", tr,
           tr * 1e3 / (double)rows, 2.0 * fma_r * (double)rows / (tr * 1e3));
    printf("exec write N 5:                %9.1f us  %6.1f ns/row  %5.2f GFLOP/s (with its filterbank)\n", tw,
           tw * 1e3 / (double)rows, 2.0 * fma_w * (double)rows / (tw * 1e3));
    double br = time_tape(1, rows, reps, p, x, w, &gr, &gw), bw = time_tape(2, rows, reps, p, x, w, &gr, &gw);
    printf("tape filterbank + read, fwd + bwd:  %9.1f us  %6.1f ns/row\n", br, br * 1e3 / (double)rows);
    printf("tape filterbank + write, fwd + bwd: %9.1f us  %6.1f ns/row\n", bw, bw * 1e3 / (double)rows);
    free(p);
    free(x);
    free(w);
    return 0;
}

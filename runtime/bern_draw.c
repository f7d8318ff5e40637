/* The Bernoulli draw without erfc (bern_draw.h). Sampling a VRNN's 88-note
 * frames spent about a tenth of its time in the reference comparison's erfc
 * and exp; a vectorized pass over thresholds settles almost every draw
 * instead (varia_bern_draw_bounds, kernels.c), and the rest (near ties,
 * NaN) take the reference comparison itself, so every decision is the
 * reference's.
 *
 * Phi(e) < sigmoid(l) is e < Phi^-1(sigmoid(l)): a threshold on e that grows
 * with l. For each cell [a, b) of a grid on l the tables hold two floats:
 * below, with u(below)(1 + m) < p(a)(1 - m), and above, with u(above)(1 - m)
 * > p(b)(1 + m), where u(e) and p(l) are the doubles the reference computes
 * for Phi(e) and sigmoid(l) (each product rounded as the code rounds it).
 * Then e < below gives u(e) < p(l) for every l in the cell (the draw is 1),
 * and e > above gives u(e) > p(l) (0), provided that u and p are monotone to
 * within the margin m: u(x)(1 - m) <= u(y) <= u(z)(1 + m) for x <= y <= z,
 * and the same for p. They are: each is within a relative D of the exact
 * increasing function, and that implies the above whenever m > 2D / (1 - D).
 * libm's erfc and exp are accurate to a few ulps; the reference's own
 * roundings (e / sqrt 2, 1 + exp(-l), the division) add a few, and the
 * rounding of erfc's argument t is amplified by erfc's slope, at most 2t^2 +
 * 2 ulps: every threshold lies where Phi(e) is between sigmoid(-32) ~ 1e-14
 * and 1 - 1e-14, so |e| < 8, t < 5.7, and D < 2^-42. The tables take m =
 * 2^-30, room to spare (also for a libm much worse than glibc's). Beyond the
 * thresholds, in the far tails, u is smaller (nearer 1) than at the
 * threshold by far more than any error, and the limits are exact: 0 <= u, p
 * <= 1 (erfc is in [0, 2], exp >= 0), which bound the open cells below and
 * above the grid. The cells are 1/16 wide in l: the undecided band is
 * narrow (sampling the JSB VRNN, 0.07% of the draws fall in it). */
#include "bern_draw.h"
#include "kernels.h"

#include <math.h>
#ifndef VARIA_NO_THREADS
#include <pthread.h>
#endif
#include <string.h>

#define UP (1.0 + 0x1p-30)
#define DOWN (1.0 - 0x1p-30)
#define E_FAR 40.0f /* Phi(-40) is 0 in double and Phi(40) 1: the thresholds lie within */

/* Guards the one filling of the thresholds (varia_bern_draw_thresholds); a
 * build without threads has one caller at a time and a plain flag. */
#ifndef VARIA_NO_THREADS
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
#else
static int tables_filled;
#endif

/* The reference's Phi(e), as tape_seq.c computes it. */
static double ref_phi(float e)
{
    return 0.5 * erfc(-(double)e * 0.70710678118654752);
}

/* The reference's sigmoid(l), as tape_seq.c computes it. */
static double ref_sigmoid(float l)
{
    return 1.0 / (1.0 + exp(-(double)l));
}

int varia_bern_draw_exact(float e, float l)
{
    return ref_phi(e) < ref_sigmoid(l);
}

/* A float e in [-E_FAR, E_FAR] with u(e)(1 + m) < q, the largest the
 * bisection finds (u need not be exactly monotone: the property holds at the
 * returned point); -inf when -E_FAR has not it. */
static float last_below(double q)
{
    uint32_t a = varia_float_key(-E_FAR), b = varia_float_key(E_FAR);
    if (!(ref_phi(-E_FAR) * UP < q))
        return -INFINITY;
    if (ref_phi(E_FAR) * UP < q)
        return E_FAR;
    while (b - a > 1) { /* invariant: a has the property, b has not */
        uint32_t mid = a + (b - a) / 2;
        if (ref_phi(varia_key_float(mid)) * UP < q)
            a = mid;
        else
            b = mid;
    }
    return varia_key_float(a);
}

/* A float e in [-E_FAR, E_FAR] with u(e)(1 - m) > q, the smallest the
 * bisection finds; +inf when E_FAR has not it. */
static float first_above(double q)
{
    uint32_t a = varia_float_key(-E_FAR), b = varia_float_key(E_FAR);
    if (!(ref_phi(E_FAR) * DOWN > q))
        return INFINITY;
    if (ref_phi(-E_FAR) * DOWN > q)
        return -E_FAR;
    while (b - a > 1) { /* invariant: b has the property, a has not */
        uint32_t mid = a + (b - a) / 2;
        if (ref_phi(varia_key_float(mid)) * DOWN > q)
            b = mid;
        else
            a = mid;
    }
    return varia_key_float(b);
}

/* Both thresholds of every cell: cell 0 is l < lo (p in [0, p(lo)]), cell
 * CELLS + 1 is l >= the grid's end (p in [p(end), 1]); the grid points are
 * exact in float, so p sees the points themselves. About 70,000 erfc calls,
 * once per process. */
static void fill_tables(void)
{
    enum { CELLS = VARIA_BDRAW_CELLS };
    float *below = varia_bern_draw_thresholds(0), *above = varia_bern_draw_thresholds(1);
    for (int c = 0; c <= CELLS + 1; c++) {
        double p_lo = c == 0 ? 0.0 : ref_sigmoid(VARIA_BDRAW_LO + (float)(c - 1) * VARIA_BDRAW_STEP);
        double p_hi = c == CELLS + 1 ? 1.0 : ref_sigmoid(VARIA_BDRAW_LO + (float)c * VARIA_BDRAW_STEP);
        below[c] = last_below(p_lo * DOWN);
        above[c] = first_above(p_hi * UP);
    }
}

void varia_bern_draw_row(float *y, const float *l, const float *e, int64_t n)
{
#ifndef VARIA_NO_THREADS
    pthread_once(&tables_once, fill_tables);
#else
    if (!tables_filled) {
        fill_tables();
        tables_filled = 1;
    }
#endif
    varia_bern_draw_bounds(y, l, e, n);
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0.0f) /* undecided: a near tie or a NaN */
            y[i] = varia_bern_draw_exact(e[i], l[i]) ? 1.0f : 0.0f;
}

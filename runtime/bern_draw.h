/* Internal: the Bernoulli draw of exec's bernoulli_sample (ops_seq.c). A
 * frame's note is 1 where Phi(e) < sigmoid(l), the reference comparison
 * being the tape's (tape_seq.c): erfc(-e / sqrt 2) / 2 < 1 / (1 + exp(-l)) in
 * double. This module reaches the same decision for every (e, l), almost
 * always by comparing e with thresholds looked up by l (bern_draw.c says why
 * that is right). */
#ifndef VARIA_BERN_DRAW_H
#define VARIA_BERN_DRAW_H

#include <stdint.h>
#include <string.h>

/* The reference comparison itself: 1 when erfc(-e / sqrt 2) / 2 < 1 / (1 +
 * exp(-l)) in double, else 0 (0 when either is NaN). */
int varia_bern_draw_exact(float e, float l);

/* y[i] = 1.0f where Phi(e[i]) < sigmoid(l[i]), else 0.0f, for i < n: the
 * decisions of varia_bern_draw_exact, bit for bit, for any inputs. Safe to
 * call from several threads at once. */
void varia_bern_draw_row(float *y, const float *l, const float *e, int64_t n);

/* A float's position in the order of the floats (-inf lowest), and back:
 * the bisection over floats here and its test walk that order. */
static inline uint32_t varia_float_key(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b >> 31 ? ~b : b | 0x80000000u;
}

static inline float varia_key_float(uint32_t k)
{
    uint32_t b = k >> 31 ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

#endif

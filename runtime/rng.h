/* Internal: a counter-keyed random stream. A stream is keyed by (seed, a, b),
 * e.g. (seed, example index, chunk index), so randomness belongs to the work
 * item, not to the thread that happens to run it. */
#ifndef VARIA_RNG_H
#define VARIA_RNG_H

#include <stdint.h>

typedef struct varia_rng {
    uint64_t state;
} varia_rng;

/* Stream purposes, so different uses of one seed never share numbers. */
enum { VARIA_STREAM_IW = 1, VARIA_STREAM_BINARIZE = 2, VARIA_STREAM_SAMPLE = 3, VARIA_STREAM_ENCODE = 4,
       VARIA_STREAM_AIS = 5, VARIA_STREAM_AIS_REVERSE = 6, VARIA_STREAM_SIMULATE = 7, VARIA_STREAM_INVERT = 8 };

void varia_rng_init(varia_rng *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
uint64_t varia_rng_u64(varia_rng *r);
/* Uniform in (0, 1), 53 bits. */
double varia_rng_uniform(varia_rng *r);
/* n standard normals: Box-Muller in float (fast log and sin/cos within 2 ulp),
 * one 64-bit draw per pair; |z| <= 6.8. Vectorized. */
void varia_rng_normals(varia_rng *r, float *out, int64_t n);
/* One normal (a pair of its own). */
float varia_rng_normal(varia_rng *r);

#endif

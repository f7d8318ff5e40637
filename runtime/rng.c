/* splitmix64 (Steele, Lea & Flood 2014): a 64-bit counter pushed through a
 * strong mixer. Cheap to key, so every work item gets its own stream. */
#include "rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void varia_rng_init(varia_rng *r, uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    uint64_t k = mix64(seed + 0x9E3779B97F4A7C15ull);
    k = mix64(k ^ (purpose * 0xD6E8FEB86659FD93ull));
    k = mix64(k ^ (a * 0xA0761D6478BD642Full + 1));
    k = mix64(k ^ (b * 0xE7037ED1A0B428DBull + 2));
    r->state = k;
    r->has_spare = 0;
    r->spare = 0.0f;
}

uint64_t varia_rng_u64(varia_rng *r)
{
    r->state += 0x9E3779B97F4A7C15ull;
    return mix64(r->state);
}

double varia_rng_uniform(varia_rng *r)
{
    return ((double)(varia_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

float varia_rng_normal(varia_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = varia_rng_uniform(r), u2 = varia_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return (float)(rad * cos(th));
}

void varia_rng_normals(varia_rng *r, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = varia_rng_normal(r);
}

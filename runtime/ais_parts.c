/* AIS with each example's chains split into parts run elsewhere
 * (varia_ais_opts.parts, ais.h): which chains a part runs, and the
 * exchanges that give every part every chain's values in chain order, so
 * each part sums them exactly as one process does. */
#include "ais.h"

#include <string.h>

void varia_ais_part_chains(int64_t C, int part, int parts, int64_t *c0, int64_t *nc)
{
    if (parts <= 1) {
        *c0 = 0, *nc = C;
        return;
    }
    *c0 = C * part / parts;
    *nc = C * (part + 1) / parts - *c0;
}

/* Every part's block of G * width(p) doubles (width(p): its chains, or 1
 * with by_chain 0) gathered into s->buf, part after part; 0 on failure. */
static int gather(varia_ais_share *s, const double *mine, int by_chain)
{
    const varia_ais_call *c = s->c;
    int64_t c0, nc, off[VARIA_AIS_CHAINS_MAX + 1];
    for (int p = 0; p <= c->parts; p++) {
        varia_ais_part_chains(c->chains, p, c->parts, &c0, &nc);
        off[p] = (int64_t)sizeof(double) * s->G * (by_chain ? c0 : p);
    }
    varia_ais_part_chains(c->chains, c->part, c->parts, &c0, &nc);
    memcpy((char *)s->buf + off[c->part], mine, (size_t)(off[c->part + 1] - off[c->part]));
    return c->allgather(c->comm, s->buf, off) == 0;
}

int varia_ais_share_chains(void *arg, const double *mine, double *all)
{
    varia_ais_share *s = arg;
    int64_t C = s->c->chains, c0, nc;
    if (!gather(s, mine, 1)) {
        s->failed = 1;
        return 0;
    }
    for (int p = 0; p < s->c->parts; p++) { /* part p's [G][nc] to all[b * C + c0 ...] */
        varia_ais_part_chains(C, p, s->c->parts, &c0, &nc);
        for (int64_t b = 0; b < s->G; b++)
            memcpy(all + b * C + c0, s->buf + s->G * c0 + b * nc, (size_t)nc * sizeof *all);
    }
    return 1;
}

int varia_ais_share_counts(varia_ais_share *s, int64_t *counts)
{
    double mine[VARIA_AIS_ROWS];
    for (int64_t b = 0; b < s->G; b++)
        mine[b] = (double)counts[b]; /* counts below 2^53: exact */
    if (!gather(s, mine, 0)) {
        s->failed = 1;
        return 0;
    }
    for (int64_t b = 0; b < s->G; b++) {
        counts[b] = 0;
        for (int p = 0; p < s->c->parts; p++)
            counts[b] += (int64_t)s->buf[p * s->G + b];
    }
    return 1;
}

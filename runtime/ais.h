/* Internal: the AIS runner shared by varia_ais and varia_bdmc (ais.c,
 * bdmc.c). */
#ifndef VARIA_AIS_H
#define VARIA_AIS_H

#include "api.h"

/* Options checked and defaults resolved. */
typedef struct varia_ais_call {
    int64_t chains, steps, leapfrog;
    int from_encoder; /* AIS+encoder: start from q(z|x) (varia_ais_start) */
    double sigma2; /* 0: the model's likelihood */
    uint64_t seed;
    varia_binarize binarize;
    void (*progress)(int64_t done, int64_t total, void *user);
    void *user;
    int64_t first; /* added to every example index that keys a stream */
    int part, parts; /* this call's part of every example's chains (parts 1: all of them) */
    int (*allgather)(void *comm, void *buf, const int64_t *off);
    void *comm;
} varia_ais_call;

/* Rows (examples x chains) one pass aims at: enough for the products to run
 * at speed, few enough that every worker gets a group; not part of any
 * result (ais.c). Also the most examples a group of a split call holds. */
#define VARIA_AIS_ROWS 256
#define VARIA_AIS_CHAINS_MAX 4096

/* Chains [*c0, *c0 + *nc) of C that part `part` of `parts` runs (all of
 * them for parts <= 1): contiguous, in part order, sizes differing by at
 * most one (ais_parts.c). */
void varia_ais_part_chains(int64_t C, int part, int parts, int64_t *c0, int64_t *nc);

/* A group of G examples' exchanges between the parts of a split call:
 * buf[G * chains] the caller's scratch; failed set when allgather failed. */
typedef struct varia_ais_share {
    const varia_ais_call *c;
    int64_t G;
    double *buf;
    int failed;
} varia_ais_share;

/* varia_hmc's share (arg: a varia_ais_share): this part's values
 * mine[G * nc] to all[G * chains], every part's, each example's in chain
 * order. Returns 0 when allgather failed. */
int varia_ais_share_chains(void *arg, const double *mine, double *all);
/* counts[G] (this part's) replaced by their sums over the parts. Returns 0
 * when allgather failed. */
int varia_ais_share_counts(varia_ais_share *s, int64_t *counts);

/* Check opts for operation `op` on model m (every refusal names the field)
 * and resolve them into *c. */
varia_status varia_ais_resolve(varia_ctx *ctx, const varia_model *m, const varia_ais_opts *opts, const char *op,
                               varia_ais_call *c);

/* beta_t of the sigmoid schedule with T steps: beta_0 = 0, beta_T = 1 exactly. */
double varia_ais_beta(int64_t t, int64_t T);

/* Run AIS on n examples x[n * D] (binarized by c->binarize first) into
 * rows[n]. z_start NULL: forward, every chain from its own z ~ p(z); else
 * z_start[n * E]: reverse (beta from 1 to 0), every chain of example i from
 * z_start[i], rows[i].log_px then the upper bound -log-mean-exp(weights).
 * progress counts `done_before` steps already done of `total` (0: n * T). */
varia_status varia_ais_run(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, const varia_ais_call *c,
                           const float *z_start, int64_t done_before, int64_t total, varia_ais_row *rows);

/* varia_ais and varia_bdmc (varia.h), whose exported entry points are in
 * api.c. */
varia_status varia_ais_estimate(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n,
                                const varia_ais_opts *opts, varia_ais_row *rows);
varia_status varia_bdmc_bounds(varia_ctx *ctx, const varia_model *m, int64_t n, const varia_ais_opts *opts,
                               float *x_out, varia_ais_row *lower, varia_ais_row *upper);

#endif

/* The trainer's view of a VAE/IWAE architecture: parsed from the same
 * "architecture" object the manifest carries (docs/format.md section 2), laid
 * out as one flat parameter vector whose pieces are the format's tensors. */
#ifndef VARIA_TRAIN_ARCH_H
#define VARIA_TRAIN_ARCH_H

#include "kernels.h"
#include "varia.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define TR_MAX_LAYERS 8
#define TR_MAX_HIDDEN 16
#define TR_MAX_LIN (2 * TR_MAX_LAYERS * (TR_MAX_HIDDEN + 2))
#define TR_MAX_TENSORS (2 * TR_MAX_LIN + 1)

enum { TR_LIK_BERNOULLI, TR_LIK_GAUSSIAN };
enum { TR_VAR_FIXED, TR_VAR_LEARNED };

/* One MLP: hidden layers, then a mean (or output) head and, for Gaussian
 * heads, a log-variance head (scale < 0: none). Indices into tr_layout.lin. */
typedef struct tr_mlp {
    int n_hidden, hidden[TR_MAX_HIDDEN], mean, scale;
    varia_act act;
} tr_mlp;

typedef struct tr_layout {
    int L;
    int64_t D, lat[TR_MAX_LAYERS], noise; /* noise: sum of lat, per sample */
    int lik, var;
    float fixed_logvar;
    int64_t logvar_n, logvar_off;        /* learned variance: [logvar_n] at offset */
    tr_mlp enc[TR_MAX_LAYERS], dec[TR_MAX_LAYERS];
    int n_lin;
    struct { int64_t in, out, w_off, b_off; } lin[TR_MAX_LIN];
    int n_tensors;
    struct { char name[48]; int64_t rows, cols, off; } t[TR_MAX_TENSORS]; /* cols 0: rank 1 */
    int64_t P; /* parameters in all */
} tr_layout;

/* Parse `arch` for data of D values. The trainer supports log-variance heads,
 * Bernoulli, and Gaussian with fixed or learned variance (VARIA_ERR_UNSUPPORTED
 * names anything else). */
varia_status tr_layout_build(varia_ctx *ctx, const cJSON *arch, int64_t D, tr_layout *lay);

/* Initial parameters: weights uniform with Glorot (fan_in + fan_out) or He
 * (fan_in) limits, zero biases; when data_mean is given, the output bias from
 * it (the logit of the mean pixel for Bernoulli, the mean for Gaussian) and a
 * learned Gaussian log-variance from data_var, the data's variance, so the
 * likelihood starts at the data's scale. Deterministic in seed. */
void tr_layout_init(const tr_layout *lay, float *theta, uint64_t seed, int he, const float *data_mean,
                    double data_var);

#endif

/* Internal: the table every model family plugs into, and helpers families use
 * while building from a manifest. Estimators, sampling, interpolation and
 * threading are written once against this table (runtime/api.c, eval.c). */
#ifndef VARIA_FAMILY_H
#define VARIA_FAMILY_H

#include "ctx.h"
#include "kernels.h"
#include "weights.h"

#include <cjson/cJSON.h>

struct varia_family;

struct varia_model {
    const struct varia_family *family;
    void *impl;
    varia_info info;
    char family_name[16];
    varia_weights w;
    char *provenance;
};

typedef struct varia_family {
    const char *name;
    /* Parse the architecture, bind and check tensors, fill m->info and m->impl. */
    varia_status (*build)(varia_ctx *ctx, varia_model *m, const cJSON *arch);
    void (*destroy)(void *impl);
    /* Workspace floats an operation over `rows` rows needs. */
    size_t (*ws_floats)(const varia_model *m, int64_t rows);
    /* Standard normals one importance sample (or one generated sample) consumes. */
    int64_t (*noise_size)(const varia_model *m);
    /* Operations; NULL when the family cannot do them (the API then reports
     * VARIA_ERR_UNSUPPORTED). Arguments are already validated. */
    /* encode, decode and generate run one batch; `team`, when not NULL, is a
     * pool whose workers share each layer (varia_linear_forward_team), given
     * when the batch is the whole call and so has the threads to itself. */
    void (*encode)(const varia_model *m, float *ws, struct varia_pool *team, const float *x, int64_t n,
                   float *mean, float *logvar);
    void (*decode)(const varia_model *m, float *ws, struct varia_pool *team, const float *z, int64_t n,
                   varia_decode_kind kind, float *out, float *out_logvar);
    /* n samples from eps[n * noise_size] scaled by temperature. */
    void (*generate)(const varia_model *m, float *ws, struct varia_pool *team, int64_t n, const float *eps,
                     float temperature, float *x_out, float *z_out);
    /* For one example x and `count` samples with noise eps[count * noise_size]:
     * log_w[i], log p(x|z_i) in log_px[i]; *kl gets the analytic KL or NAN. */
    void (*log_weights)(const varia_model *m, float *ws, const float *x, int64_t count, const float *eps,
                        double *log_w, double *log_px, double *kl);
    /* Posterior means of every stochastic layer, means[n * sum(layer sizes)]. */
    void (*layer_means)(const varia_model *m, float *ws, const float *x, int64_t n, float *means);
} varia_family;

extern const varia_family varia_family_vae;

/* Rows one workspace serves (the IW chunk and the operation batch are <= this),
 * and the most floats a model may ask for them: 1 GiB. */
#define VARIA_WS_ROWS 256
#define VARIA_WS_CAP_FLOATS ((size_t)1 << 28)

/* ---- helpers for build() ---- */

/* Integer member `key` of obj in [lo, hi]. Absent: *out = dflt if !required. */
varia_status varia_json_int(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                            int required, int64_t dflt, int64_t lo, int64_t hi, int64_t *out);
/* Array of integers in [lo, hi] (at most cap of them). */
varia_status varia_json_int_array(varia_ctx *ctx, const cJSON *obj, const char *where, const char *key,
                                  int64_t lo, int64_t hi, int cap, int64_t *out, int *count);
/* Activation name under `key` (absent: *out = dflt), with its parameters from arch. */
varia_status varia_json_act(varia_ctx *ctx, const cJSON *obj, const cJSON *arch, const char *where,
                            varia_act dflt, varia_act *out);
/* Warn about members of obj not in the NULL-terminated list `known`. */
void varia_json_warn_unknown(varia_ctx *ctx, const cJSON *obj, const char *where, const char *const *known);

/* Bind tensor `name` with the given shape (rank 1 or 2; d1 ignored for rank 1)
 * and mark it used. Errors: VARIA_ERR_MISSING, VARIA_ERR_SHAPE. */
varia_status varia_bind(varia_ctx *ctx, varia_model *m, const char *name, int rank, int64_t d0,
                        int64_t d1, const float **data);
/* Bind `prefix`.weight [out, in] and `prefix`.bias [out] into a packed layer. */
varia_status varia_bind_linear(varia_ctx *ctx, varia_model *m, const char *prefix, int64_t in,
                               int64_t out, varia_linear *l);

#endif

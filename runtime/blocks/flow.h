/* Internal: the normalizing-flow posterior block (docs/format.md 2.3): K
 * planar, radial or IAF steps pushing a posterior sample forward, declared
 * from the manifest's "flow" object and run over the op interface. */
#ifndef VARIA_BLOCK_FLOW_H
#define VARIA_BLOCK_FLOW_H

#include "../family.h"

#define VARIA_FLOW_MAX_STEPS 64
#define VARIA_MADE_MAX_HIDDEN 4

enum { VARIA_FLOW_NONE, VARIA_FLOW_PLANAR, VARIA_FLOW_RADIAL, VARIA_FLOW_IAF };

/* One IAF step's MADE: linear slots, and its context weight (a tensor, -1: none). */
typedef struct varia_made {
    int in, hidden[VARIA_MADE_MAX_HIDDEN - 1], m, s, ctx;
} varia_made;

typedef struct varia_flow {
    int type, K, amortized;
    int64_t d;     /* the latent it acts on */
    int head;      /* amortized: linear slot of the encoder's parameter head */
    int64_t per;   /* amortized: head rows per step */
    int par[VARIA_FLOW_MAX_STEPS][3]; /* global: the step's tensors (u, w, b or z0, alpha, beta) */
    /* IAF */
    int ctx_head;  /* linear slot of the encoder's context head, -1: none */
    int nh;        /* MADE hidden layers */
    varia_act act;
    varia_made made[VARIA_FLOW_MAX_STEPS];
} varia_flow;

/* Parse `flow` (a JSON object, or NULL: no flow, f->type VARIA_FLOW_NONE)
 * for a latent of size d, and declare its tensors after the encoder's: heads
 * named `enc_prefix`.flow / .context reading the encoder's last hidden layer
 * (width h_last; h_is_data when that is the input itself), the steps'
 * tensors flow.{k}.*. dflt_act is the MADE's activation when the manifest
 * names none; arch gives activation parameters. */
varia_status varia_flow_parse(varia_ctx *ctx, varia_flow *f, const cJSON *flow, const cJSON *arch, varia_decl *d,
                              int64_t dim, const char *enc_prefix, int64_t h_last, int h_is_data, varia_act dflt_act);

/* Push z (rows = k * rows(h), or rows(h) * ... sharing: row r of z uses the
 * encoder output row r / k) through the K steps; returns z_K and sets *log_det
 * to the per-row sum of log|det| (double values). h is the encoder's last
 * hidden layer (used by amortized and context heads). */
varia_v *varia_flow_forward(varia_ops *o, const varia_flow *f, varia_v *h, varia_v *z, int64_t k, varia_v **log_det);

/* "planar", "radial", "iaf" or "none". */
const char *varia_flow_name(int type);

#endif

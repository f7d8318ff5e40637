/* Internal: the layer-list network block (docs/format.md 2.4): a manifest's
 * list of dense, conv, conv_transpose, batch_norm, activation, reshape and
 * flatten entries, read like a PyTorch nn.Sequential (entry i's tensors are
 * `prefix`.i.*), every geometry checked and declared at parse time, then run
 * over the op interface as the weighted layers alone: batch norms are folded
 * into the layer before them at load, activations fused into it, and
 * reshapes cost nothing (a value is rows x C*H*W either way). */
#ifndef VARIA_BLOCK_NET_H
#define VARIA_BLOCK_NET_H

#include "../family.h"

#define VARIA_NET_MAX 32          /* entries in one list */
#define VARIA_NET_SIZE_CAP (1 << 24) /* floats of one example at any point of the network */

enum { VARIA_NET_DENSE, VARIA_NET_CONV, VARIA_NET_CONV_T };

/* One weighted layer as it runs: its op, slot, fused activation, geometry. */
typedef struct varia_net_op {
    int kind;      /* VARIA_NET_* */
    int slot;      /* linear or conv slot of the declaration */
    varia_act act; /* its own, a following batch norm's or activation entry's */
    int bn;        /* a batch norm follows (folded at load; the tape runs it on the batch) */
    varia_conv g;  /* conv kinds */
    int entry;     /* its index in the manifest's list (messages name it) */
} varia_net_op;

typedef struct varia_net {
    int present;               /* the manifest gave this list */
    int n;                     /* weighted layers */
    varia_net_op op[VARIA_NET_MAX];
    int out_rank;              /* 1 (a vector) or 3 (C x H x W) */
    int64_t out_shape[3], out_size;
} varia_net;

/* Parse the JSON array `list` (named `where` in messages) for an input of
 * shape in (rank 1, or 3 for C x H x W), declaring every tensor under
 * `prefix` ("enc1.net" gives enc1.net.0.weight ...). data_input: the input is
 * data (the first weighted layer then gets no input gradient). Activation
 * parameters (leaky_relu_slope, elu_alpha) come from arch. Every refusal is
 * named: VARIA_ERR_MANIFEST (a bad key or order), VARIA_ERR_SHAPE (a geometry
 * that does not fit), VARIA_ERR_TOO_LARGE (past a cap). */
varia_status varia_net_parse(varia_ctx *ctx, varia_net *net, const cJSON *list, const cJSON *arch, const char *where,
                             const char *prefix, const varia_shape *in, varia_group group, int data_input,
                             varia_decl *d);

/* Run the network on x (rows x in-size): its output, rows x out_size. last,
 * if not NULL, replaces the last layer's activation (a sigmoid for E[x|z]). */
varia_v *varia_net_run(varia_ops *o, const varia_net *net, varia_v *x, const varia_act *last);

/* Whether varia_net_input_grad covers the network: dense and conv layers
 * with piecewise-linear activations (identity, relu, leaky relu of slope >=
 * 0), whose second derivative is 0 almost everywhere, so the input
 * gradient's dependence on the parameters runs through the weights alone.
 * Otherwise VARIA_ERR_UNSUPPORTED naming the entry (`where`[i]) and why: a
 * batch norm (its statistics couple the rows), a transposed conv, another
 * activation (tanh, sigmoid, softplus, elu: act'' != 0). */
varia_status varia_net_check_input_grad(varia_ctx *ctx, const varia_net *net, const char *where);

/* The network's output on x ([rows, out_size], *y) and the gradient of
 * sum(dy * output) with respect to x ([rows, in size], returned), dy a value
 * of the output's shape: a forward graph (ops linear_t, conv2d_t, act_mask),
 * so the backward of anything computed from it differentiates the input
 * gradient with respect to the weights. For the networks the check above
 * admits. */
varia_v *varia_net_input_grad(varia_ops *o, const varia_net *net, varia_v *x, varia_v *dy, varia_v **y);

#endif

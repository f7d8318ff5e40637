/* Internal: the multilayer perceptron block, declared and run over the op
 * interface: hidden layers sharing one activation, then a mean (or output)
 * head and an optional scale head, each a linear slot of the declaration. */
#ifndef VARIA_BLOCK_MLP_H
#define VARIA_BLOCK_MLP_H

#include "../family.h"

#define VARIA_MLP_MAX_HIDDEN 16

typedef struct varia_mlp {
    int n_hidden, hidden[VARIA_MLP_MAX_HIDDEN];
    int mean, scale; /* linear slots; scale -1: no scale head */
    varia_act act;
} varia_mlp;

/* Declare `prefix`.hidden.i for the widths, then `prefix`.`mean_name` [out]
 * and, if scale_name is not NULL, `prefix`.`scale_name` [out], in that order.
 * data_input marks the first layer as reading data. Returns 0 when the
 * declaration ran out of memory. */
int varia_mlp_declare(varia_decl *d, varia_mlp *g, const char *prefix, int64_t in, const int64_t *widths, int n,
                      int64_t out, const char *mean_name, const char *scale_name, varia_group group,
                      int data_input);
/* The hidden layers over x: the last hidden activations (x when there are none). */
varia_v *varia_mlp_hidden(varia_ops *o, const varia_mlp *g, varia_v *x);

#endif

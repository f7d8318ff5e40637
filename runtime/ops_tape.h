/* Internal: the tape backend of the op interface (ops.h). A family's pass run
 * through it is recorded on a tr_tape: values are tape nodes, linear slots
 * are tr_lin bound to theta and its gradient, param slots read theta at the
 * declared tensor's offset. Compiled in float (the library) and, for the
 * gradient checks, in double (-DTR_DOUBLE), like tape.c. */
#ifndef VARIA_OPS_TAPE_H
#define VARIA_OPS_TAPE_H

#include "family.h"
#include "tape.h"

typedef struct TR(ops) {
    varia_ops ops;
    tr_tape *t;
    const varia_decl *decl;
    const tr_lin *lins;   /* [decl->n_lin] */
    const int64_t *off;   /* [decl->n_t]: each tensor's offset in theta */
    const tr_real *theta;
    tr_real *grad;
    double *bn_stats; /* batch norms' (count, mean, squared deviations) per channel, by
                         varia_decl_bn_channels order; NULL: not kept (ops_begin sets NULL) */
} TR(ops);

/* Offsets of the declared tensors laid out one after another in theta
 * (off[decl->n_t]); returns the total. */
int64_t TR(layout)(const varia_decl *decl, int64_t *off);
/* Bind every linear slot to theta/grad at the layout's offsets: lins[n_lin];
 * packs / packs_t give each slot's packed weight and its transpose (float
 * build; NULL entries or arrays where absent). */
void TR(bind)(const varia_decl *decl, const int64_t *off, const tr_real *theta, tr_real *grad,
              float *const *packs, float *const *packs_t, tr_lin *lins);
/* Begin recording passes on t. Everything given must outlive the pass. */
void TR(ops_begin)(TR(ops) *o, tr_tape *t, const varia_decl *decl, const tr_lin *lins, const int64_t *off,
                   const tr_real *theta, tr_real *grad);
/* The tape node of a value made by this backend, and back. */
tr_node *TR(node_of)(varia_v *v);
varia_v *TR(value_of)(tr_node *n);

#endif

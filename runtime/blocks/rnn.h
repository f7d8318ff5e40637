/* Internal: recurrent cells as blocks over the op interface: an LSTM (or GRU)
 * cell's two linear slots named as PyTorch's nn.LSTMCell / nn.GRUCell names
 * them (`prefix`.weight_ih, .weight_hh, .bias_ih, .bias_hh, initialised
 * uniform in +-1/sqrt(H) as PyTorch does), and one step of it. */
#ifndef VARIA_BLOCK_RNN_H
#define VARIA_BLOCK_RNN_H

#include "../family.h"

typedef struct varia_cell {
    int ih, hh;     /* linear slots: input -> gates, state -> gates */
    int64_t in, H;
    int gru;        /* 0: LSTM (gates i, f, g, o), 1: GRU (r, z, n) */
} varia_cell;

/* Declare the cell's four tensors under `prefix` for input width in and
 * state width H. Returns 0 when the declaration failed. */
int varia_cell_declare(varia_decl *d, varia_cell *c, const char *prefix, int64_t in, int64_t H, int gru,
                       varia_group group);
/* One step on input x [rows, in]: the new state from *h (and, for an LSTM,
 * *c, its cell state; unused for a GRU), written back to *h and *c (views of
 * the cell op's output for an LSTM). */
void varia_cell_step(varia_ops *o, const varia_cell *c, varia_v *x, varia_v **h, varia_v **cs);
/* The same step from the input gates' pre-activation gi = x W_ih^T + b_ih
 * [rows, gates] made by the caller (in parts: a family whose input has a
 * part shared by k rows multiplies that part once, ops.h's linear_cols). */
void varia_cell_step_gates(varia_ops *o, const varia_cell *c, varia_v *gi, varia_v **h, varia_v **cs);

#endif

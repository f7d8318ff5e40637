/* Internal to the tape (tape.c, the engine; tape_ops.c, the ops): an op's
 * record and the engine's calls the ops make. Compiled in float and double
 * like the rest of the tape, hence the TR() names. */
#ifndef VARIA_TAPE_IMPL_H
#define VARIA_TAPE_IMPL_H

#include "tape.h"

struct record;
/* An op's backward rule: send r->out's gradient to r's inputs. */
typedef void (*tr_back)(tr_tape *t, const struct record *r);

/* One recorded op: its rule, its output, and what the rule reads (inputs a,
 * b, c; a layer; an activation; data such as the noise; counts; a scalar). */
typedef struct record {
    tr_back back;
    tr_node *out, *a, *b, *c, *d;
    const tr_lin *lin;
    varia_act act;
    const tr_real *data;
    int64_t k, k2;
    double s;
    tr_node *const *list;
    const double *coef;
    const void *aux; /* an op's own description (a conv's geometry) */
} record;

/* bytes from the tape's arena, 64-byte aligned, until the next reset (NULL
 * and the tape marked failed when memory runs out). */
void *TR(arena)(tr_tape *t, size_t bytes);
/* A node of rows x cols; with_grad gives it a zeroed gradient. On failure the
 * tape's dummy node comes back (and the tape is marked failed). */
tr_node *TR(new_node)(tr_tape *t, int64_t rows, int64_t cols, int with_grad);
/* Append a record for out with rule back (NULL when the tape failed). */
record *TR(push)(tr_tape *t, tr_back back, tr_node *out);
/* Every op's prologue: its output node and its record, input a set. NULL
 * (with *out the tape's dummy or an unrecorded node) when the tape failed. */
record *TR(begin_op)(tr_tape *t, tr_back back, int64_t rows, int64_t cols, int with_grad, tr_node *a,
                     tr_node **out);

/* The gradient before r's activation (r->act, output r->out): dy * act'(y),
 * dy itself for the identity, else on the tape's arena; NULL when the tape
 * ran out (tape_ops.c; the conv ops use it too). */
tr_real *TR(pre_act_grad)(tr_tape *t, const record *r);

#endif

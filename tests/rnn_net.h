/* The recurrence the recurrent-cell tests run (test_ops_rnn.c in float,
 * test_ops_rnn_grad.c in double), written once over the op interface the
 * way a family writes it: a one-layer LSTM or GRU declared by PyTorch's
 * names, its step, and T steps with or without step scoping. */
#ifndef VARIA_TEST_RNN_NET_H
#define VARIA_TEST_RNN_NET_H

#include "family.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* A one-layer LSTM or GRU: linear slots ih (input to gates) and hh (state to
 * gates), declared by nn.LSTMCell / nn.GRUCell's state-dict names. */
typedef struct rnn_net {
    varia_decl decl;
    int lstm, ih, hh;
    int64_t in, H;
} rnn_net;

/* Declare the net's four tensors; 0 when the declaration failed. */
static inline int net_declare(rnn_net *n, int lstm, int64_t in, int64_t H)
{
    memset(n, 0, sizeof *n);
    n->lstm = lstm;
    n->in = in;
    n->H = H;
    int64_t G = (lstm ? 4 : 3) * H;
    float limit = (float)(1.0 / sqrt((double)H)); /* PyTorch's init for every tensor of its RNN cells */
    n->ih = varia_decl_linear_named(&n->decl, "rnn.weight_ih", "rnn.bias_ih", in, G, limit,
                                    VARIA_GROUP_GENERATIVE, 1);
    n->hh = varia_decl_linear_named(&n->decl, "rnn.weight_hh", "rnn.bias_hh", H, G, limit,
                                    VARIA_GROUP_GENERATIVE, 0);
    return !n->decl.failed && n->ih == 0 && n->hh == 1;
}

/* One step: the gates from x and *h by the two slots, then the cell; *h
 * (and *c for an LSTM) become the new state, as column views of the cell's
 * output for an LSTM. */
static inline void rnn_step(varia_ops *o, const rnn_net *n, varia_v *x, varia_v **h, varia_v **c)
{
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    varia_v *gi = o->linear(o, x, n->ih, id), *gh = o->linear(o, *h, n->hh, id);
    if (!n->lstm) {
        *h = o->gru_cell(o, gi, gh, *h);
        return;
    }
    varia_v *hc = o->lstm_cell(o, o->add(o, gi, gh, 1, id), *c);
    *h = o->cols(o, hc, 0, n->H);
    *c = o->cols(o, hc, n->H, n->H);
}

/* T steps over x ([T * rows, in], step t in rows [t rows, (t + 1) rows)),
 * from h0 (and c0); scoped: one mark, and a step_end per step carrying h
 * and c. hs, if not NULL, gets each step's h ([T * rows, H], read by `read`
 * right after its step_end). Returns the last h; *c the last c. */
typedef void (*read_fn)(varia_v *v, double *out);
static inline varia_v *unroll(varia_ops *o, const rnn_net *n, const float *x, int64_t rows, int T, varia_v *h, varia_v **c,
                       int scoped, read_fn read, double *hs)
{
    varia_mark m = o->step_begin(o); /* once: each step_end releases the previous step's state too */
    for (int t = 0; t < T; t++) {
        rnn_step(o, n, o->input(o, rows, n->in, x + t * rows * n->in, n->in), &h, c);
        varia_v *carry[2] = {h, n->lstm ? *c : h};
        if (scoped)
            o->step_end(o, m, carry, 2);
        h = carry[0];
        *c = n->lstm ? carry[1] : *c;
        if (hs)
            read(h, hs + t * rows * n->H);
    }
    return h;
}

/* Seeded uniform values in [lo, hi). */
static inline void fill(double *v, int64_t n, uint64_t seed, double lo, double hi)
{
    varia_rng rng;
    varia_rng_init(&rng, seed, 3, 0, 0);
    for (int64_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * varia_rng_uniform(&rng);
}

#endif

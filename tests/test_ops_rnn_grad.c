/* The tape's recurrent cells (ops.h: lstm_cell, gru_cell) in double
 * against central finite differences (tape.c, tape_rnn.c, ops_tape.c ... are
 * compiled here with -DTR_DOUBLE, the backward formulas the float library
 * runs, in libm): each cell w.r.t. every input, and unrolled LSTM and GRU
 * recurrences over the op interface w.r.t. every weight. */
#include "tap.h"

#include "ops_tape.h"
#include "rnn_net.h"

#include <stdlib.h>

#define ok tap_okf

#define MAXP 512

/* A function of the parameters th[n]: records its graph, returns the output
 * node (gradients accumulate into g). */
typedef tr_node *(*build_fn)(tr_tape *t, double *th, double *g, void *ctx);

/* Max over parameters of |analytic - numeric| / max(1, |numeric|) for the
 * loss sum_i c_i out_i, c fixed pseudo-random (as test_train_grad.c). */
static double check(build_fn f, double *th, int n, void *ctx)
{
    static double g[MAXP], dummy[MAXP], c[4096];
    tr_tape *t = trd_tape_new();
    memset(g, 0, sizeof g);
    tr_node *o = f(t, th, g, ctx);
    int64_t m = o->rows * o->cols;
    fill(c, m, 7, -1.0, 1.0);
    trd_seed(t, o, c);
    trd_backward(t);
    double worst = trd_failed(t) ? 1.0 : 0.0;
    for (int i = 0; i < n; i++) {
        double keep = th[i], h = 1e-6 * fmax(1.0, fabs(keep)), up = 0.0, down = 0.0;
        th[i] = keep + h;
        trd_reset(t);
        tr_node *a = f(t, th, dummy, ctx);
        for (int64_t j = 0; j < m; j++)
            up += c[j] * a->v[j];
        th[i] = keep - h;
        trd_reset(t);
        tr_node *b = f(t, th, dummy, ctx);
        for (int64_t j = 0; j < m; j++)
            down += c[j] * b->v[j];
        th[i] = keep;
        double num = (up - down) / (2.0 * h), err = fabs(g[i] - num) / fmax(1.0, fabs(num));
        worst = fmax(worst, err);
    }
    trd_tape_free(t);
    return worst;
}

enum { GR = 3, GH = 4 }; /* rows, hidden units of the single-cell checks */

/* lstm_cell(gates [GR, 4GH], c [GR, GH]) with both as parameters. */
static tr_node *op_lstm(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    int64_t n = GR * 4 * GH;
    return trd_lstm_cell(t, trd_param(t, GR, 4 * GH, th, g), trd_param(t, GR, GH, th + n, g + n));
}

/* gru_cell(gi, gh [GR, 3GH], h [GR, GH]), all parameters. */
static tr_node *op_gru(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    int64_t n = GR * 3 * GH;
    return trd_gru_cell(t, trd_param(t, GR, 3 * GH, th, g), trd_param(t, GR, 3 * GH, th + n, g + n),
                        trd_param(t, GR, GH, th + 2 * n, g + 2 * n));
}

/* gru_cell(g, g, h): one value as both gate inputs, whose gradient sums both shares. */
static tr_node *op_gru_same(tr_tape *t, double *th, double *g, void *ctx)
{
    (void)ctx;
    int64_t n = GR * 3 * GH;
    tr_node *a = trd_param(t, GR, 3 * GH, th, g);
    return trd_gru_cell(t, a, a, trd_param(t, GR, GH, th + n, g + n));
}

static void cell_grads(void)
{
    static double th[MAXP];
    int n = GR * 4 * GH + GR * GH;
    fill(th, n, 1, -3.0, 3.0); /* pre-activations out to |3|: every gate off its linear range */
    fill(th + GR * 4 * GH, GR * GH, 2, -2.0, 2.0);
    double e = check(op_lstm, th, n, NULL);
    ok(e < 1e-6, "lstm_cell: gradients of h' and c' w.r.t. the gates and c match finite differences (%.1e)", e);
    n = 2 * GR * 3 * GH + GR * GH;
    fill(th, n, 3, -3.0, 3.0);
    e = check(op_gru, th, n, NULL);
    ok(e < 1e-6, "gru_cell: gradients w.r.t. gi, gh and h match finite differences (%.1e)", e);
    n = GR * 3 * GH + GR * GH;
    fill(th, n, 4, -3.0, 3.0);
    e = check(op_gru_same, th, n, NULL);
    ok(e < 1e-6, "gru_cell with one value as gi and gh: its gradient sums both shares (%.1e)", e);
}

/* An unrolled recurrence over the op interface on the double tape: the
 * net's weights are the parameters; x, h0 and c0 are constants. */
typedef struct unroll_case {
    rnn_net n;
    int64_t off[4];
    tr_lin lins[2];
    trd_ops o;
    int T;
    float x[5 * 2 * 3], h0[2 * 3], c0[2 * 3];
} unroll_case;

enum { UR = 2, UIN = 3, UH = 3 }; /* rows, inputs, hidden units of the unrolled checks */

/* The last h, plus half the last c for an LSTM (so both carry gradients). */
static tr_node *op_unroll(tr_tape *t, double *th, double *g, void *ctx)
{
    unroll_case *u = ctx;
    trd_bind(&u->n.decl, u->off, th, g, NULL, NULL, u->lins);
    trd_ops_begin(&u->o, t, &u->n.decl, u->lins, u->off, th, g);
    varia_ops *o = &u->o.ops;
    varia_v *c = o->input(o, UR, UH, u->c0, UH);
    varia_v *h = unroll(o, &u->n, u->x, UR, u->T, o->input(o, UR, UH, u->h0, UH), &c, 1, NULL, NULL);
    if (!u->n.lstm)
        return trd_node_of(h);
    varia_v *hc[2] = {h, c};
    const double coef[2] = {1.0, 0.5};
    return trd_node_of(o->combine(o, hc, coef, 2));
}

static void unroll_grads(void)
{
    static double th[MAXP], tmp[64];
    static unroll_case u;
    for (int lstm = 1; lstm >= 0; lstm--) {
        memset(&u, 0, sizeof u);
        int good = net_declare(&u.n, lstm, UIN, UH);
        int n = good ? (int)trd_layout(&u.n.decl, u.off) : 0;
        u.T = 5;
        fill(tmp, u.T * UR * UIN, 10, -2.0, 2.0);
        for (int i = 0; i < u.T * UR * UIN; i++)
            u.x[i] = (float)tmp[i];
        fill(tmp, 2 * UR * UH, 11, -1.0, 1.0);
        for (int i = 0; i < UR * UH; i++) {
            u.h0[i] = (float)tmp[i];
            u.c0[i] = (float)tmp[UR * UH + i];
        }
        fill(th, n, 12 + lstm, -0.9, 0.9);
        double e = good && n <= MAXP ? check(op_unroll, th, n, &u) : 1.0;
        ok(e < 1e-6, "%s unrolled %d steps (linear slots + %s, step-scoped): gradients of all %d weights "
           "(rnn.weight_ih, bias_ih, weight_hh, bias_hh) match finite differences (%.1e)",
           lstm ? "LSTM" : "GRU", u.T, lstm ? "add + lstm_cell" : "gru_cell", n, e);
        varia_decl_free(&u.n.decl);
    }
}

int main(void)
{
    cell_grads();
    unroll_grads();
    return tap_done();
}

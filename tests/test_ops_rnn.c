/* The recurrent cells (ops.h: lstm_cell, gru_cell), their weights declared
 * by PyTorch's names, and step scoping (step_begin / step_end).
 *
 * Built twice (tests/meson.build):
 *  - as test_ops_rnn, in float: exec and tape against PyTorch's own
 *    nn.LSTMCell, nn.GRUCell, nn.LSTM and nn.GRU (tests/rnn_golden.h, from
 *    tools/torch/rnn_golden.py), exec against tape, and step scoping: values
 *    after step_end equal those computed without it, and the workspace
 *    measured for a T-step loop does not grow with T (and suffices);
 *  - with -DTR_DOUBLE as test_ops_rnn_grad: the tape's backward rules in
 *    double against central finite differences, for each cell w.r.t. every
 *    input and for unrolled LSTM and GRU recurrences w.r.t. every weight.
 * Both run the recurrence through the same function over the op interface,
 * the way a family writes it. */
#include "tap.h"

#include "family.h"
#include "ops_tape.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf

/* ---- the recurrence, as a family writes it ---- */

/* A one-layer LSTM or GRU: linear slots ih (input to gates) and hh (state to
 * gates), declared by nn.LSTMCell / nn.GRUCell's state-dict names. */
typedef struct rnn_net {
    varia_decl decl;
    int lstm, ih, hh;
    int64_t in, H;
} rnn_net;

/* Declare the net's four tensors; 0 when the declaration failed. */
static int net_declare(rnn_net *n, int lstm, int64_t in, int64_t H)
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
static void rnn_step(varia_ops *o, const rnn_net *n, varia_v *x, varia_v **h, varia_v **c)
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
static varia_v *unroll(varia_ops *o, const rnn_net *n, const float *x, int64_t rows, int T, varia_v *h, varia_v **c,
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
static void fill(double *v, int64_t n, uint64_t seed, double lo, double hi)
{
    varia_rng rng;
    varia_rng_init(&rng, seed, 3, 0, 0);
    for (int64_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * varia_rng_uniform(&rng);
}

#ifdef TR_DOUBLE
/* ---- gradients against finite differences (double) ---- */

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

#else
/* ---- float: exec, measure and tape ---- */

#include "ops_exec.h"
#include "rnn_golden.h"

#define RTOL 1e-5
/* Values near zero are compared on the scale 0.1 (1e-6 absolute), as
 * test_golden.c does: float rounding of order-1 sums leaves ~1e-7 there. */
#define FLOOR 0.1
#define WS_VALS 4096
#define WS_FLOATS ((size_t)1 << 21)

/* A net bound on every backend: theta (float) in the trainer's layout, the
 * slots packed for exec (a model holding just them) and for the tape. */
typedef struct fixture {
    rnn_net n;
    int64_t off[4];
    float *theta, *grad, *packs[2], *packs_t[2];
    varia_linear lin[2];
    varia_model m;
    tr_lin lins[2];
} fixture;

/* Declare and bind; w[4] gives weight_ih, bias_ih, weight_hh, bias_hh (NULL:
 * seeded values within PyTorch's init range). 0 on failure. */
static int fixture_open(fixture *f, int lstm, int64_t in, int64_t H, const float *const *w)
{
    memset(f, 0, sizeof *f);
    if (!net_declare(&f->n, lstm, in, H))
        return 0;
    int64_t P = tr_layout(&f->n.decl, f->off);
    f->theta = calloc((size_t)P, sizeof(float));
    f->grad = calloc((size_t)P, sizeof(float));
    double *tmp = calloc((size_t)P, sizeof(double));
    if (!f->theta || !f->grad || !tmp)
        return free(tmp), 0;
    fill(tmp, P, 5, -1.0 / sqrt((double)H), 1.0 / sqrt((double)H));
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < varia_decl_numel(&f->n.decl.t[i]); j++)
            f->theta[f->off[i] + j] = w ? w[i][j] : (float)tmp[f->off[i] + j];
    free(tmp);
    for (int s = 0; s < 2; s++) {
        const varia_decl_linear *l = &f->n.decl.lin[s];
        const float *wt = f->theta + f->off[l->weight];
        if (!varia_linear_init(&f->lin[s], wt, f->theta + f->off[l->bias], l->in, l->out))
            return 0;
        f->packs[s] = aligned_alloc(64, (size_t)varia_packed_floats(l->in, l->out) * sizeof(float));
        f->packs_t[s] = aligned_alloc(64, (size_t)varia_packed_floats(l->out, l->in) * sizeof(float));
        if (!f->packs[s] || !f->packs_t[s])
            return 0;
        varia_pack_panels(f->packs[s], wt, l->in, l->out, 0);
        varia_pack_panels(f->packs_t[s], wt, l->out, l->in, 1);
    }
    f->m.lin = f->lin;
    tr_bind(&f->n.decl, f->off, f->theta, f->grad, f->packs, f->packs_t, f->lins);
    return 1;
}

static void fixture_close(fixture *f)
{
    for (int s = 0; s < 2; s++) {
        varia_linear_free(&f->lin[s]);
        free(f->packs[s]);
        free(f->packs_t[s]);
    }
    free(f->theta);
    free(f->grad);
    varia_decl_free(&f->n.decl);
}

/* A value's elements, row by row, as doubles (exec: float or double data). */
static void read_exec(varia_v *v, double *out)
{
    for (int64_t r = 0; r < v->rows; r++)
        for (int64_t c = 0; c < v->cols; c++)
            out[r * v->cols + c] = !v->f && !v->d ? NAN : v->dbl ? v->d[r * v->ld + c] : v->f[r * v->ld + c];
}

static void read_tape(varia_v *v, double *out)
{
    const tr_node *n = tr_node_of(v);
    for (int64_t i = 0; i < n->rows * n->cols; i++)
        out[i] = n->v[i];
}

/* Worst |got - want| / max(|want|, FLOOR) (NaN: infinite). */
static double rel(const double *got, const double *want, int64_t n)
{
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double r = fabs(got[i] - want[i]) / fmax(fabs(want[i]), FLOOR);
        w = r <= w ? w : isnan(r) ? INFINITY : r;
    }
    return w;
}

/* The golden weights of a cell, in declaration order. */
static void golden_weights(int lstm, const float *w[4])
{
    w[0] = lstm ? rg_lstm_weight_ih : rg_gru_weight_ih;
    w[1] = lstm ? rg_lstm_bias_ih : rg_gru_bias_ih;
    w[2] = lstm ? rg_lstm_weight_hh : rg_gru_weight_hh;
    w[3] = lstm ? rg_lstm_bias_hh : rg_gru_bias_hh;
}

static void declaration(void)
{
    rnn_net n;
    int good = net_declare(&n, 1, 5, 4);
    static const char *const names[4] = {"rnn.weight_ih", "rnn.bias_ih", "rnn.weight_hh", "rnn.bias_hh"};
    static const int64_t shape[4][2] = {{16, 5}, {16, 0}, {16, 4}, {16, 0}};
    for (int i = 0; good && i < 4; i++) {
        const varia_decl_tensor *t = &n.decl.t[i];
        good = !strcmp(t->name, names[i]) && t->rank == (i % 2 ? 1 : 2) && t->shape[0] == shape[i][0] &&
               t->shape[1] == shape[i][1] && t->init == VARIA_INIT_UNIFORM && t->init_value == 0.5f;
    }
    good = good && n.decl.n_t == 4 && n.decl.lin[0].weight == 0 && n.decl.lin[0].bias == 1 &&
           n.decl.lin[1].weight == 2 && n.decl.lin[1].bias == 3 && n.decl.lin[1].in == 4 && n.decl.lin[1].out == 16;
    ok(good, "an LSTM's slots declare nn.LSTMCell's names and shapes, every tensor uniform(-1/sqrt(H), 1/sqrt(H))");
    int s = varia_decl_linear_add(&n.decl, "enc1.mean", 4, 2, VARIA_GROUP_INFERENCE, 0);
    good = s == 2 && !strcmp(n.decl.t[4].name, "enc1.mean.weight") && n.decl.t[4].init == VARIA_INIT_FAN &&
           !strcmp(n.decl.t[5].name, "enc1.mean.bias") && n.decl.t[5].init == VARIA_INIT_ZERO;
    ok(good, "varia_decl_linear_add still declares prefix.weight (FAN) and prefix.bias (ZERO)");
    char longname[VARIA_DECL_NAME + 1];
    memset(longname, 'a', sizeof longname - 1);
    longname[VARIA_DECL_NAME] = '\0';
    s = varia_decl_linear_named(&n.decl, longname, "b", 1, 1, 0.0f, VARIA_GROUP_INFERENCE, 0);
    ok(s == -1 && n.decl.failed == VARIA_DECL_NAME_TOO_LONG, "a name of %d characters fails the declaration",
       VARIA_DECL_NAME);
    varia_decl_free(&n.decl);
}

/* One step of each cell from PyTorch's inputs, on exec and on the tape. */
static void golden_cells(void)
{
    static float ws[WS_FLOATS] __attribute__((aligned(64)));
    for (int lstm = 1; lstm >= 0; lstm--) {
        const char *name = lstm ? "nn.LSTMCell" : "nn.GRUCell";
        const float *w[4];
        golden_weights(lstm, w);
        fixture f;
        int good = fixture_open(&f, lstm, RG_IN, RG_H, w);
        varia_exec e;
        varia_exec_begin_sized(&e, &f.m, ws, WS_VALS, WS_FLOATS, NULL);
        tr_tape *tape = tr_tape_new();
        tr_ops t;
        tr_ops_begin(&t, tape, &f.n.decl, f.lins, f.off, f.theta, f.grad);
        double got[2][2][RG_B * RG_H]; /* backend, h or c */
        for (int b = 0; b < 2 && good && tape; b++) {
            varia_ops *o = b ? &t.ops : &e.ops;
            read_fn read = b ? read_tape : read_exec;
            varia_v *h = o->input(o, RG_B, RG_H, rg_h0, RG_H), *c = o->input(o, RG_B, RG_H, rg_c0, RG_H);
            rnn_step(o, &f.n, o->input(o, RG_B, RG_IN, rg_x, RG_IN), &h, &c);
            read(h, got[b][0]);
            if (lstm)
                read(c, got[b][1]);
        }
        int n = RG_B * RG_H;
        good = good && tape && !e.failed && !tr_failed(tape);
        double eh = fmax(rel(got[0][0], lstm ? rg_lstm_cell_h : rg_gru_cell_h, n),
                         rel(got[1][0], lstm ? rg_lstm_cell_h : rg_gru_cell_h, n));
        double ec = lstm ? fmax(rel(got[0][1], rg_lstm_cell_c, n), rel(got[1][1], rg_lstm_cell_c, n)) : 0.0;
        ok(good && eh < RTOL && ec < RTOL, "%s: h' (and c') on exec and tape match PyTorch (%.1e, %.1e)", name, eh, ec);
        ok(good && !memcmp(got[0], got[1], sizeof got[0]), "%s: exec and tape compute the same bits", name);
        tr_tape_free(tape);
        fixture_close(&f);
    }
}

/* RG_T steps of nn.LSTM / nn.GRU: exec scoped and unscoped, and the tape. */
static void golden_seq(void)
{
    static float ws[WS_FLOATS] __attribute__((aligned(64)));
    for (int lstm = 1; lstm >= 0; lstm--) {
        const char *name = lstm ? "nn.LSTM" : "nn.GRU";
        const float *w[4];
        golden_weights(lstm, w);
        fixture f;
        int good = fixture_open(&f, lstm, RG_IN, RG_H, w);
        tr_tape *tape = tr_tape_new();
        double hs[3][RG_T * RG_B * RG_H], cT[3][RG_B * RG_H];
        for (int run = 0; run < 3 && good && tape; run++) { /* exec scoped, exec unscoped, tape */
            varia_exec e;
            tr_ops t;
            varia_exec_begin_sized(&e, &f.m, ws, WS_VALS, WS_FLOATS, NULL);
            tr_ops_begin(&t, tape, &f.n.decl, f.lins, f.off, f.theta, f.grad);
            varia_ops *o = run == 2 ? &t.ops : &e.ops;
            read_fn read = run == 2 ? read_tape : read_exec;
            varia_v *c = o->input(o, RG_B, RG_H, rg_c0, RG_H);
            unroll(o, &f.n, rg_x, RG_B, RG_T, o->input(o, RG_B, RG_H, rg_h0, RG_H), &c, run == 0, read, hs[run]);
            read(c, cT[run]);
            good = good && !e.failed && !tr_failed(tape);
        }
        int n = RG_T * RG_B * RG_H;
        const double *want = lstm ? rg_lstm_seq_h : rg_gru_seq_h;
        double eh = fmax(fmax(rel(hs[0], want, n), rel(hs[1], want, n)), rel(hs[2], want, n));
        double ec = lstm ? fmax(rel(cT[0], rg_lstm_seq_c, n / RG_T), rel(cT[2], rg_lstm_seq_c, n / RG_T)) : 0.0;
        ok(good && eh < RTOL && ec < RTOL, "%s, %d steps: every h_t (and the last c) on exec (scoped and not) and "
           "the tape match PyTorch (%.1e, %.1e)", name, RG_T, eh, ec);
        ok(good && !memcmp(hs[0], hs[1], sizeof hs[0]) && !memcmp(hs[0], hs[2], sizeof hs[0]) &&
           !memcmp(cT[0], cT[1], sizeof cT[0]), "%s: scoped exec, unscoped exec and tape give the same bits", name);
        tr_tape_free(tape);
        fixture_close(&f);
    }
}

/* Workspace a T-step pass of rows x H needs, by measure: *vals records and
 * the returned floats. */
static size_t measured(fixture *f, const float *x, int64_t rows, int T, int scoped, size_t *vals)
{
    static varia_v recs[WS_VALS];
    varia_exec e;
    varia_measure_begin(&e, &f->m, recs, WS_VALS);
    varia_ops *o = &e.ops;
    varia_v *c = o->input(o, rows, f->n.H, NULL, f->n.H);
    unroll(o, &f->n, x, rows, T, o->input(o, rows, f->n.H, NULL, f->n.H), &c, scoped, NULL, NULL);
    *vals = e.failed ? (size_t)-1 : e.peak_vals;
    return e.failed ? (size_t)-1 : e.peak_used;
}

/* The measured workspace of a scoped loop does not grow with T; exec in
 * exactly that workspace runs 64 steps and gives the unscoped bits. */
static void workspace(void)
{
    enum { ROWS = 64, IN = 16, H = 32, T = 64 };
    static float x[T * ROWS * IN], h0[ROWS * H], c0[ROWS * H];
    static double tmp[T * ROWS * IN], ref[ROWS * H], got[ROWS * H];
    fill(tmp, T * ROWS * IN, 20, -2.0, 2.0);
    for (int i = 0; i < T * ROWS * IN; i++)
        x[i] = (float)tmp[i];
    fill(tmp, 2 * ROWS * H, 21, -1.0, 1.0);
    for (int i = 0; i < ROWS * H; i++) {
        h0[i] = (float)tmp[i];
        c0[i] = (float)tmp[ROWS * H + i];
    }
    for (int lstm = 1; lstm >= 0; lstm--) {
        const char *name = lstm ? "LSTM" : "GRU";
        fixture f;
        int good = fixture_open(&f, lstm, IN, H, NULL);
        size_t v2, v64, vu8, vu64;
        size_t f2 = measured(&f, x, ROWS, 2, 1, &v2), f64 = measured(&f, x, ROWS, T, 1, &v64);
        size_t fu8 = measured(&f, x, ROWS, 8, 0, &vu8), fu64 = measured(&f, x, ROWS, T, 0, &vu64);
        printf("# %s %d rows, H %d: measured workspace, scoped: %zu floats / %zu values at T 2, %zu / %zu at T %d;"
               " unscoped: %zu / %zu at T 8, %zu / %zu at T %d\n", name, ROWS, H, f2, v2, f64, v64, T, fu8, vu8, fu64,
               vu64, T);
        ok(good && f2 == f64 && v2 == v64 && f64 < fu8 && fu64 > 7 * fu8,
           "%s: the scoped loop's measured workspace is the same at T = 2 and T = %d (%zu floats), the unscoped "
           "one grows with T", name, T, f64);
        size_t floats = varia_exec_val_floats(v64) + f64;
        size_t big_floats = varia_exec_val_floats(WS_VALS) + fu64;
        float *ws = aligned_alloc(64, floats * sizeof(float)), *big = aligned_alloc(64, big_floats * sizeof(float));
        for (int run = 0; run < 2 && good && ws && big; run++) { /* unscoped in a large workspace, then scoped */
            varia_exec e;
            if (run)
                varia_exec_begin_sized(&e, &f.m, ws, v64, floats, NULL);
            else
                varia_exec_begin_sized(&e, &f.m, big, WS_VALS, big_floats, NULL);
            varia_ops *o = &e.ops;
            varia_v *c = o->input(o, ROWS, H, c0, H);
            varia_v *h = unroll(o, &f.n, x, ROWS, T, o->input(o, ROWS, H, h0, H), &c, run, NULL, NULL);
            read_exec(h, run ? got : ref);
            good = good && !e.failed && e.peak_used == (run ? f64 : fu64);
        }
        ok(good && ws && big && !memcmp(got, ref, sizeof got),
           "%s: %d steps run in exactly the measured workspace (%zu floats, used to the float as measure said) and "
           "give the unscoped loop's bits", name, T, floats);
        free(ws);
        free(big);
        fixture_close(&f);
    }
}

/* What step_end carries besides the state: a running sum in double made
 * since the mark, a value made before the mark (left where it is, handle
 * unchanged), and one value carried twice (one copy, one handle). Each
 * step's values equal those of the loop without scoping. */
static void carries(void)
{
    static float ws[2][WS_FLOATS] __attribute__((aligned(64)));
    enum { T = 6 };
    const float *w[4];
    golden_weights(1, w);
    fixture f;
    int good = fixture_open(&f, 1, RG_IN, RG_H, w), handles = 1;
    static float xs[T * RG_B * RG_IN];
    for (int i = 0; i < T * RG_B * RG_IN; i++)
        xs[i] = rg_x[i % (RG_T * RG_B * RG_IN)] * (i < RG_T * RG_B * RG_IN ? 1.0f : -0.5f);
    double sum[2][T][RG_B], keep[RG_B * RG_H];
    static const double ones[2] = {1.0, 1.0};
    for (int scoped = 0; scoped < 2 && good; scoped++) {
        varia_exec e;
        varia_exec_begin_sized(&e, &f.m, ws[scoped], WS_VALS, WS_FLOATS, NULL);
        varia_ops *o = &e.ops;
        varia_v *h = o->input(o, RG_B, RG_H, rg_h0, RG_H), *c = o->input(o, RG_B, RG_H, rg_c0, RG_H);
        varia_v *acc = o->row_sum(o, c), *before = o->scale(o, h, 2.0f);
        varia_mark m = o->step_begin(o);
        for (int t = 0; t < T; t++) {
            rnn_step(o, &f.n, o->input(o, RG_B, RG_IN, xs + t * RG_B * RG_IN, RG_IN), &h, &c);
            varia_v *terms[2] = {acc, o->row_sum(o, h)};
            acc = o->combine(o, terms, ones, 2);
            varia_v *carry[5] = {h, acc, before, c, h};
            if (scoped)
                o->step_end(o, m, carry, 5);
            handles = handles && carry[2] == before && carry[4] == carry[0] && carry[1]->dbl;
            h = carry[0], acc = carry[1], c = carry[3];
            read_exec(acc, sum[scoped][t]);
        }
        read_exec(before, keep);
        for (int i = 0; i < RG_B * RG_H; i++)
            good = good && keep[i] == 2.0 * rg_h0[i];
        good = good && !e.failed;
    }
    ok(good && handles, "step_end carries a double sum, a value made before the mark (untouched) and one value "
       "twice (one handle)");
    ok(good && !memcmp(sum[0], sum[1], sizeof sum[0]), "the running sum after each of %d scoped steps equals the "
       "unscoped loop's, bit for bit", T);
    fixture_close(&f);
}

int main(void)
{
    declaration();
    golden_cells();
    golden_seq();
    workspace();
    carries();
    return tap_done();
}

#endif

/* The recurrent cells (ops.h: lstm_cell, gru_cell), their weights declared
 * by PyTorch's names, and step scoping (step_begin / step_end), in float:
 * exec and tape against PyTorch's own nn.LSTMCell, nn.GRUCell, nn.LSTM and
 * nn.GRU (tests/rnn_golden.h, from tools/torch/rnn_golden.py) under every
 * instruction set the CPU runs; exec against tape; the float tape's
 * gradients against the double rules (which test_ops_rnn_grad.c checks
 * against finite differences); and step scoping: values after step_end
 * equal those computed without it, and the workspace measured for a T-step
 * loop does not grow with T (and suffices). */
#include "tap.h"

#include "ops_exec.h"
#include "ops_tape.h"
#include "rnn_golden.h"
#include "rnn_net.h"
#include "rnn_rows.h"

#include <stdlib.h>

#define ok tap_okf

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
        ok(good && eh < RTOL && ec < RTOL, "[%s] %s: h' (and c') on exec and tape match PyTorch (%.1e, %.1e)",
           varia_kernel_name(), name, eh, ec);
        ok(good && !memcmp(got[0], got[1], sizeof got[0]), "[%s] %s: exec and tape compute the same bits",
           varia_kernel_name(), name);
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
        ok(good && eh < RTOL && ec < RTOL, "[%s] %s, %d steps: every h_t (and the last c) on exec (scoped and "
           "not) and the tape match PyTorch (%.1e, %.1e)", varia_kernel_name(), name, RG_T, eh, ec);
        ok(good && !memcmp(hs[0], hs[1], sizeof hs[0]) && !memcmp(hs[0], hs[2], sizeof hs[0]) &&
           !memcmp(cT[0], cT[1], sizeof cT[0]), "[%s] %s: scoped exec, unscoped exec and tape give the same bits",
           varia_kernel_name(), name);
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

/* The float tape's backward (the batch clones of ops_rnn.c) against the
 * double row rules, which test_ops_rnn_grad checks against finite
 * differences: LSTM with both inputs and with c a constant (its gradient to
 * scratch); GRU with three inputs and with one value as gi and gh. */
static void float_backward(void)
{
    enum { R = 3, H = 5 };
    static double d[2 * R * 4 * H + 3 * R * H], ref[R * 4 * H + R * H + R * 3 * H];
    static float v[2 * R * 4 * H + 3 * R * H];
    fill(d, 2 * R * 4 * H + 3 * R * H, 30, -3.0, 3.0);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        v[i] = (float)(d[i] = (float)d[i]); /* the double reference sees the float inputs exactly */
    double worst = 0.0;
    for (int mode = 0; mode < 4; mode++) { /* LSTM, LSTM with constant c, GRU, GRU with gi = gh */
        int lstm = mode < 2, G = lstm ? 4 * H : 3 * H, out = lstm ? 2 * H : H;
        float *a = v, *b = v + R * G, *c = v + 2 * R * G, *gy = c + R * H; /* b: gh (GRU) */
        double *ad = d, *bd = d + R * G, *cd = d + 2 * R * G, *gyd = cd + R * H;
        static float ga[R * 4 * H], gb[R * 4 * H], gc[R * H];
        memset(ga, 0, sizeof ga), memset(gb, 0, sizeof gb), memset(gc, 0, sizeof gc), memset(ref, 0, sizeof ref);
        tr_tape *t = tr_tape_new();
        tr_node *na = tr_param(t, R, G, a, ga), *nc = mode == 1 ? tr_input(t, R, H, c) : tr_param(t, R, H, c, gc);
        tr_node *nb = mode == 3 ? na : tr_param(t, R, G, b, gb);
        tr_node *y = lstm ? tr_lstm_cell(t, na, nc) : tr_gru_cell(t, na, nb, nc);
        tr_seed(t, y, gy);
        tr_backward(t);
        for (int r = 0; r < R; r++) { /* ref: [da or dgi | dc or dh | dgh] */
            double yd[2 * H];
            if (lstm) {
                rnn_lstm_row_d(ad + r * G, cd + r * H, H, yd, yd + H);
                rnn_lstm_back_row_d(ad + r * G, cd + r * H, yd + H, gyd + r * out, gyd + r * out + H, H, ref + r * G,
                                    ref + R * G + r * H);
            } else {
                rnn_gru_back_row_d(ad + r * G, (mode == 3 ? ad : bd) + r * G, cd + r * H, gyd + r * out, H,
                                   ref + r * G, ref + R * 4 * H + R * H + r * G, ref + R * G + r * H);
            }
        }
        for (int i = 0; mode == 3 && i < R * G; i++) /* one node: both shares */
            ref[i] += ref[R * 4 * H + R * H + i];
        for (int i = 0; i < R * G; i++)
            worst = fmax(worst, fabs(ga[i] - ref[i]) / fmax(fabs(ref[i]), FLOOR));
        for (int i = 0; mode != 1 && i < R * H; i++)
            worst = fmax(worst, fabs(gc[i] - ref[R * G + i]) / fmax(fabs(ref[R * G + i]), FLOOR));
        for (int i = 0; mode == 2 && i < R * G; i++)
            worst = fmax(worst, fabs(gb[i] - ref[R * 4 * H + R * H + i]) / fmax(fabs(ref[R * 4 * H + R * H + i]), FLOOR));
        worst = tr_failed(t) ? INFINITY : worst;
        tr_tape_free(t);
    }
    ok(worst < RTOL, "[%s] the float tape's cell gradients (c constant; gi = gh) match the double rules (%.1e)",
       varia_kernel_name(), worst);
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
    static const char *const sets[] = {"avx512", "avx2", "generic"};
    for (int i = 0; i < 3; i++) { /* each instruction set's clones of the cells this CPU runs */
        if (!varia_kernels_use(sets[i])) {
            tap_skip(sets[i], "the CPU cannot run it");
            continue;
        }
        printf("# kernels: %s\n", varia_kernel_name());
        golden_cells();
        golden_seq();
        float_backward();
    }
    workspace();
    carries();
    return tap_done();
}

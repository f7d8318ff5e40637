/* Truncated BPTT's windows (train/model.c tr_window, the vrnn family's
 * state_in / out[VARIA_EMIT_STATE]) with the tape in double, for the VRNN
 * and its ablations on GRU and LSTM cells: the first window's loss is the
 * whole-sequence objective of the sequences cut to its frames; the windows
 * chained through their carried state add up to the whole sequences'
 * objective; and a later window's gradient matches central finite
 * differences with its carried state held fixed. (The trainer's bytes, with
 * a window at least as long as every sequence and across threads and
 * --resume, are tests/test_train_seq.c's.) */
#include "tap.h"

#include "model.h"
#include "rng.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ok tap_okf

enum { B = 3, T = 7, W = 3, F = 2, MAXP = 4096, MAXS = 8, MAXE = 8 };
static const int64_t LENGTHS[B] = {7, 4, 2}; /* the first runs through 3 windows, the last ends in the first */

/* One case: the model, its data and noise, and the window being recorded. */
typedef struct tcase {
    tr_model md;
    tr_lin lins[64];
    float x[B * T * F], eps[B * T * MAXE];
    int64_t t0;            /* the window's first frame */
    const float *state;    /* the state it starts from (held fixed) */
    float state_out[B * MAXS];
    int64_t wlen[B];
    float zeros[B * MAXS];
} tcase;

static void fill(double *v, int64_t n, uint64_t seed, double scale)
{
    varia_rng r;
    varia_rng_init(&r, seed, 2, 0, 0);
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * (2.0 * varia_rng_uniform(&r) - 1.0);
}

/* The per-row objective of window [t0, t0 + W) from c->state (NULL: the
 * first window, from zeros), its end state in c->state_out; *frames: the
 * real frames in it. */
static tr_node *window_obj(tr_tape *t, tcase *c, const double *th, double *g, int64_t *frames)
{
    trd_bind(&c->md.decl, c->md.off, th, g, NULL, NULL, c->lins);
    tr_objective o = {.kind = TR_OBJ_ELBO_ANALYTIC, .k = 1, .beta = 1.0, .seq_len = T, .lengths = LENGTHS};
    float *in = c->zeros;
    if (c->state)
        memcpy(in, c->state, sizeof c->zeros);
    int64_t n = tr_window(&c->md, &o, c->t0, W, T, B, LENGTHS, c->wlen, in, c->state_out);
    *frames = 0;
    for (int64_t r = 0; n && r < B; r++)
        *frames += c->wlen[r];
    if (!n)
        return NULL;
    return trd_objective_record(t, &c->md, c->lins, th, g, c->x + c->t0 * F, B, c->eps + c->t0 * c->md.noise, &o)
        .obj;
}

static double total(const tr_node *n)
{
    double s = 0.0;
    for (int64_t r = 0; n && r < n->rows; r++)
        s += n->v[r];
    return s;
}

/* The whole-sequence objective of the sequences cut to their first W frames
 * (copies, lengths min(l, W)), recorded without any window machinery. */
static double cut_direct(tcase *c, const double *th, int64_t *frames)
{
    static double g[MAXP];
    float xc[B * W * F], ec[B * W * MAXE];
    int64_t lc[B], E = c->md.noise;
    *frames = 0;
    for (int64_t r = 0; r < B; r++) {
        memcpy(xc + r * W * F, c->x + r * T * F, (size_t)(W * F) * sizeof(float));
        memcpy(ec + r * W * E, c->eps + r * T * E, (size_t)(W * E) * sizeof(float));
        lc[r] = LENGTHS[r] < W ? LENGTHS[r] : W;
        *frames += lc[r];
    }
    tr_tape *t = trd_tape_new();
    trd_bind(&c->md.decl, c->md.off, th, g, NULL, NULL, c->lins);
    tr_objective o = {.kind = TR_OBJ_ELBO_ANALYTIC, .k = 1, .beta = 1.0, .seq_len = W, .lengths = lc};
    double s = total(trd_objective_record(t, &c->md, c->lins, th, g, xc, B, ec, &o).obj);
    trd_tape_free(t);
    return s;
}

/* The whole sequences' objective, and the same chained through every
 * window (each from the state the one before ended with). */
static void chained(tcase *c, const double *th, double *whole, double *windows)
{
    static double g[MAXP];
    static float carried[B * MAXS];
    int64_t frames;
    tr_tape *t = trd_tape_new();
    trd_bind(&c->md.decl, c->md.off, th, g, NULL, NULL, c->lins);
    tr_objective o = {.kind = TR_OBJ_ELBO_ANALYTIC, .k = 1, .beta = 1.0, .seq_len = T, .lengths = LENGTHS};
    *whole = total(trd_objective_record(t, &c->md, c->lins, th, g, c->x, B, c->eps, &o).obj);
    *windows = 0.0;
    c->state = NULL;
    for (c->t0 = 0; c->t0 < T; c->t0 += W) {
        trd_reset(t);
        *windows += total(window_obj(t, c, th, g, &frames));
        memcpy(carried, c->state_out, sizeof carried);
        c->state = carried;
    }
    trd_tape_free(t);
}

/* Max over parameters of |analytic - numeric| / max(1, |numeric|) for the
 * window's summed objective, c->state held fixed. */
static double window_grad_error(tcase *c, double *th)
{
    static double g[MAXP], dummy[MAXP];
    int64_t frames;
    tr_tape *t = trd_tape_new();
    memset(g, 0, sizeof g);
    tr_node *obj = window_obj(t, c, th, g, &frames);
    double seed[B] = {1.0, 1.0, 1.0}, worst = 0.0;
    trd_seed(t, obj, seed);
    trd_backward(t);
    for (int64_t i = 0; i < c->md.P; i++) {
        double keep = th[i], h = 1e-6 * (fabs(keep) > 1.0 ? fabs(keep) : 1.0), up, down;
        th[i] = keep + h;
        trd_reset(t);
        up = total(window_obj(t, c, th, dummy, &frames));
        th[i] = keep - h;
        trd_reset(t);
        down = total(window_obj(t, c, th, dummy, &frames));
        th[i] = keep;
        double num = (up - down) / (2.0 * h), err = fabs(g[i] - num) / (fabs(num) > 1.0 ? fabs(num) : 1.0);
        worst = err > worst ? err : worst;
    }
    trd_tape_free(t);
    return worst;
}

static void run_case(const char *arch_json, const char *what)
{
    static tcase c;
    static double th[MAXP], tmp[B * T * MAXE];
    memset(&c, 0, sizeof c);
    cJSON *arch = cJSON_Parse(arch_json);
    varia_ctx *ctx = varia_ctx_new();
    varia_shape shape = {1, {F}};
    varia_status st = tr_model_build(ctx, "vrnn", arch, &shape, &c.md);
    int fits = st == VARIA_OK && c.md.P < MAXP && c.md.noise <= MAXE && c.md.family->state_size(c.md.cfg) <= MAXS;
    ok(fits, "%s: parses and fits the buffers (%s)", what, varia_ctx_message(ctx));
    if (!fits) {
        tr_model_free(&c.md);
        cJSON_Delete(arch);
        varia_ctx_free(ctx);
        return;
    }
    fill(tmp, B * T * F, 40, 1.0);
    for (int i = 0; i < B * T * F; i++) /* padding too: nonzero, which no term may read */
        c.x[i] = tmp[i] > 0 ? 1.0f : 0.0f;
    fill(tmp, B * T * c.md.noise, 41, 1.7);
    for (int i = 0; i < B * T * c.md.noise; i++)
        c.eps[i] = (float)tmp[i];
    fill(th, c.md.P, 42, 0.6);
    /* the first window = the cut sequences' whole objective */
    static double g[MAXP];
    int64_t fw, fd;
    tr_tape *t = trd_tape_new();
    c.t0 = 0;
    c.state = NULL;
    double lw = -total(window_obj(t, &c, th, g, &fw)), ld = -cut_direct(&c, th, &fd);
    trd_tape_free(t);
    ok(fw == 8 && fd == 8 && lw == ld && isfinite(lw),
       "%s: first window's loss %.9f over %lld frames = the sequences cut to 3 frames, %.9f over %lld", what,
       lw / (double)fw, (long long)fw, ld / (double)fd, (long long)fd);
    double whole, windows;
    chained(&c, th, &whole, &windows);
    ok(fabs(whole - windows) <= 1e-6 * fabs(whole),
       "%s: 3 windows chained by their state sum to the whole sequences' objective (%.9f, %.9f)", what, windows,
       whole);
    /* the second window from the first's end state, held fixed */
    static float carried[B * MAXS];
    t = trd_tape_new();
    c.t0 = 0;
    c.state = NULL;
    window_obj(t, &c, th, g, &fw);
    trd_tape_free(t);
    memcpy(carried, c.state_out, sizeof carried);
    int moved = 0;
    for (int i = 0; i < B * c.md.family->state_size(c.md.cfg); i++)
        moved |= carried[i] != 0.0f;
    c.t0 = W;
    c.state = carried;
    double e = window_grad_error(&c, th);
    ok(moved && e < 1e-5, "%s: the second window's gradient matches finite differences, its start state fixed (%.1e)",
       what, e);
    tr_model_free(&c.md);
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
}

int main(void)
{
    static const char *const cases[][2] = {
        {"{\"cell\": \"gru\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [3],"
         " \"encoder\": [3], \"decoder\": [3], \"activation\": \"tanh\", \"std_floor\": 0.01,"
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN, GRU"},
        {"{\"cell\": \"lstm\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3], \"phi_z\": [2], \"prior\": [],"
         " \"encoder\": [3], \"decoder\": [3], \"activation\": \"tanh\","
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN, LSTM (h and c carried)"},
        {"{\"variant\": \"vrnn_i\", \"cell\": \"gru\", \"hidden\": 3, \"latent\": 2, \"phi_x\": [3],"
         " \"phi_z\": [2], \"encoder\": [], \"decoder\": [3], \"activation\": \"tanh\","
         " \"likelihood\": {\"type\": \"bernoulli\"}}", "VRNN-I, GRU"},
        {"{\"variant\": \"rnn\", \"cell\": \"lstm\", \"hidden\": 3, \"phi_x\": [3], \"decoder\": [3],"
         " \"activation\": \"tanh\", \"likelihood\": {\"type\": \"bernoulli\"}}", "RNN, LSTM"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(cases[i][0], cases[i][1]);
    return tap_done();
}

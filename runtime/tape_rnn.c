/* The tape's recurrent cells (ops.h: lstm_cell, gru_cell): each forward
 * runs the rows the exec backend runs (rnn_rows.h; in float the batch
 * functions of ops_rnn.c, so both give the same bits) and records the op;
 * each backward recomputes the gates from the inputs the tape keeps (a few
 * exps per unit, cheaper than storing four gate values per unit per step)
 * and sends the gradients back by the row rules of rnn_rows.h, whose
 * comments carry the derivatives. An input without a gradient gets scratch
 * (stride 0), so the row loops have no branches. */
#include "tape_impl.h"
#include "rnn_rows.h"

#include <string.h>

#ifdef TR_DOUBLE
/* The double rows, one call per row, with the float batch functions'
 * arguments (the tape's nodes are contiguous). */
static void lstm_rows(const double *g, const double *c, int64_t rows, int64_t H, double *y)
{
    for (int64_t r = 0; r < rows; r++)
        rnn_lstm_row_d(g + r * 4 * H, c + r * H, H, y + r * 2 * H, y + r * 2 * H + H);
}

static void gru_rows(const double *gi, const double *gh, const double *h, int64_t rows, int64_t H, double *y)
{
    for (int64_t r = 0; r < rows; r++)
        rnn_gru_row_d(gi + r * 3 * H, gh + r * 3 * H, h + r * H, H, y + r * H);
}

static void lstm_back_rows(const double *a, const double *c, const double *y, const double *gy, int64_t rows,
                           int64_t H, double *da, int64_t lda, double *dc, int64_t ldc)
{
    for (int64_t r = 0; r < rows; r++)
        rnn_lstm_back_row_d(a + r * 4 * H, c + r * H, y + r * 2 * H + H, gy + r * 2 * H, gy + r * 2 * H + H, H,
                            da + r * lda, dc + r * ldc);
}

static void gru_back_rows(const double *gi, const double *gh, const double *h, const double *gy, int64_t rows,
                          int64_t H, double *dgi, int64_t ldgi, double *dgh, int64_t ldgh, double *dh, int64_t lddh)
{
    for (int64_t r = 0; r < rows; r++)
        rnn_gru_back_row_d(gi + r * 3 * H, gh + r * 3 * H, h + r * H, gy + r * H, H, dgi + r * ldgi,
                           dgh + r * ldgh, dh + r * lddh);
}
#else
static void lstm_rows(const float *g, const float *c, int64_t rows, int64_t H, float *y)
{
    varia_lstm_rows(g, 4 * H, c, H, rows, H, y, 2 * H);
}

static void gru_rows(const float *gi, const float *gh, const float *h, int64_t rows, int64_t H, float *y)
{
    varia_gru_rows(gi, 3 * H, gh, 3 * H, h, H, rows, H, y, H);
}

#define lstm_back_rows varia_lstm_back_rows
#define gru_back_rows varia_gru_back_rows
#endif

/* ---- lstm_cell ---- */

/* a = gates [rows, 4H], b = c [rows, H]; out = [h' | c'] [rows, 2H]. The
 * backward runs only when one input has a gradient; the other's goes to
 * scratch. */
static void back_lstm(tr_tape *t, const record *r)
{
    tr_node *a = r->a, *c = r->b;
    int64_t H = c->cols;
    tr_real *junk = a->g && c->g ? NULL : TR(alloc)(t, 4 * H);
    if (!(a->g && c->g) && !junk)
        return;
    lstm_back_rows(a->v, c->v, r->out->v, r->out->g, a->rows, H, a->g ? a->g : junk, a->g ? 4 * H : 0,
                   c->g ? c->g : junk, c->g ? H : 0);
}

tr_node *TR(lstm_cell)(tr_tape *t, tr_node *gates, tr_node *c)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_lstm, gates->rows, 2 * c->cols, gates->g || c->g, gates, &y);
    if (!r)
        return y;
    r->b = c;
    lstm_rows(gates->v, c->v, gates->rows, c->cols, y->v);
    return y;
}

/* ---- gru_cell ---- */

/* a = gi, b = gh [rows, 3H], c = h [rows, H]; out = h' [rows, H]. Inputs
 * without a gradient get disjoint scratch. When gi and gh are one node, the
 * row rules' two gradients must still not alias: gh's share is summed in
 * scratch, a row at a time, and added to the node's. */
static void back_gru(tr_tape *t, const record *r)
{
    tr_node *gi = r->a, *gh = r->b, *h = r->c;
    int64_t H = h->cols;
    tr_real *s = TR(alloc)(t, 7 * H); /* [gi 3H | gh 3H | h H] */
    if (!s)
        return;
    tr_real *dgi = gi->g ? gi->g : s, *dh = h->g ? h->g : s + 6 * H;
    int64_t ldgi = gi->g ? 3 * H : 0, lddh = h->g ? H : 0;
    if (gi != gh) {
        gru_back_rows(gi->v, gh->v, h->v, r->out->g, h->rows, H, dgi, ldgi, gh->g ? gh->g : s + 3 * H,
                      gh->g ? 3 * H : 0, dh, lddh);
        return;
    }
    for (int64_t i = 0; i < h->rows; i++) {
        memset(s + 3 * H, 0, (size_t)(3 * H) * sizeof *s);
        gru_back_rows(gi->v + i * 3 * H, gh->v + i * 3 * H, h->v + i * H, r->out->g + i * H, 1, H,
                      dgi + i * ldgi, 0, s + 3 * H, 0, dh + i * lddh, 0);
        for (int64_t j = 0; gi->g && j < 3 * H; j++)
            gi->g[i * 3 * H + j] += s[3 * H + j];
    }
}

tr_node *TR(gru_cell)(tr_tape *t, tr_node *gi, tr_node *gh, tr_node *h)
{
    tr_node *y;
    record *r = TR(begin_op)(t, back_gru, h->rows, h->cols, gi->g || gh->g || h->g, gi, &y);
    if (!r)
        return y;
    r->b = gh;
    r->c = h;
    gru_rows(gi->v, gh->v, h->v, h->rows, h->cols, y->v);
    return y;
}

/* The tape's recurrent cells (ops.h: lstm_cell, gru_cell): each forward
 * runs the row function the exec backend runs (rnn_rows.h) and records the
 * op; each backward recomputes the gates from the inputs the tape keeps (a
 * few exps per unit, cheaper than storing four gate values per unit per
 * step) and sends the gradients back by the row rules of rnn_rows.h, whose
 * comments carry the derivatives. */
#include "tape_impl.h"
#include "rnn_rows.h"

#ifdef TR_DOUBLE
#define lstm_row rnn_lstm_row_d
#define lstm_back_row rnn_lstm_back_row_d
#define gru_row rnn_gru_row_d
#define gru_back_row rnn_gru_back_row_d
#else
#define lstm_row rnn_lstm_row_f
#define lstm_back_row rnn_lstm_back_row_f
#define gru_row rnn_gru_row_f
#define gru_back_row rnn_gru_back_row_f
#endif

/* Row i of node n's gradient, or NULL when n has none. */
static tr_real *grad_row(tr_node *n, int64_t i)
{
    return n->g ? n->g + i * n->cols : NULL;
}

/* ---- lstm_cell ---- */

/* a = gates [rows, 4H], b = c [rows, H]; out = [h' | c'] [rows, 2H]. */
static void back_lstm(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *a = r->a, *c = r->b;
    const tr_node *y = r->out;
    int64_t H = c->cols;
    for (int64_t i = 0; i < a->rows; i++) {
        const tr_real *yr = y->v + i * 2 * H, *gy = y->g + i * 2 * H;
        lstm_back_row(a->v + i * 4 * H, c->v + i * H, yr + H, gy, gy + H, H, grad_row(a, i), grad_row(c, i));
    }
}

tr_node *TR(lstm_cell)(tr_tape *t, tr_node *gates, tr_node *c)
{
    int64_t H = c->cols;
    tr_node *y;
    record *r = TR(begin_op)(t, back_lstm, gates->rows, 2 * H, gates->g || c->g, gates, &y);
    if (!r)
        return y;
    r->b = c;
    for (int64_t i = 0; i < gates->rows; i++) {
        tr_real *yr = y->v + i * 2 * H;
        lstm_row(gates->v + i * 4 * H, c->v + i * H, H, yr, yr + H);
    }
    return y;
}

/* ---- gru_cell ---- */

/* a = gi, b = gh [rows, 3H], c = h [rows, H]; out = h' [rows, H]. */
static void back_gru(tr_tape *t, const record *r)
{
    (void)t;
    tr_node *gi = r->a, *gh = r->b, *h = r->c;
    int64_t H = h->cols;
    for (int64_t i = 0; i < h->rows; i++)
        gru_back_row(gi->v + i * 3 * H, gh->v + i * 3 * H, h->v + i * H, r->out->g + i * H, H, grad_row(gi, i),
                     grad_row(gh, i), grad_row(h, i));
}

tr_node *TR(gru_cell)(tr_tape *t, tr_node *gi, tr_node *gh, tr_node *h)
{
    int64_t H = h->cols;
    tr_node *y;
    record *r = TR(begin_op)(t, back_gru, h->rows, H, gi->g || gh->g || h->g, gi, &y);
    if (!r)
        return y;
    r->b = gh;
    r->c = h;
    for (int64_t i = 0; i < h->rows; i++)
        gru_row(gi->v + i * 3 * H, gh->v + i * 3 * H, h->v + i * H, H, y->v + i * H);
    return y;
}

/* The exec and measure backends of the recurrent cells (ops.h: lstm_cell,
 * gru_cell). The gate products are linear slots the family runs before (the
 * packed kernel, bias fused); a cell is then one pass over each row's gates
 * by the row functions the tape runs too (rnn_rows.h), into a new value of
 * the workspace, with no scratch: nothing is allocated, and under measure
 * the output's shape is all that is recorded. */
#include "ops_exec.h"
#include "rnn_rows.h"

varia_v *varia_exec_lstm_cell(varia_ops *o, varia_v *gates, varia_v *c)
{
    varia_exec *e = (varia_exec *)o;
    int64_t H = c->cols;
    varia_v *y = varia_exec_val(e, gates->rows, 2 * H, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < gates->rows; r++) {
        float *yr = y->f + r * y->ld;
        rnn_lstm_row_f(gates->f + r * gates->ld, c->f + r * c->ld, H, yr, yr + H);
    }
    return y;
}

varia_v *varia_exec_gru_cell(varia_ops *o, varia_v *gi, varia_v *gh, varia_v *h)
{
    varia_exec *e = (varia_exec *)o;
    int64_t H = h->cols;
    varia_v *y = varia_exec_val(e, h->rows, H, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < h->rows; r++)
        rnn_gru_row_f(gi->f + r * gi->ld, gh->f + r * gh->ld, h->f + r * h->ld, H, y->f + r * y->ld);
    return y;
}

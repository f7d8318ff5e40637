/* The recurrent cells' float rows over a batch, one clone per instruction
 * set (the sets of kernels.c, chosen the same way, so a test forcing one
 * with varia_kernels_use forces these too), and the exec and measure
 * backends of lstm_cell and gru_cell (ops.h).
 *
 * The gate products are linear slots the family runs before (packed kernel,
 * bias fused); a cell is then one pass over each row's gates by the row
 * functions of rnn_rows.h, into a new value, with no scratch. Exec and the
 * float tape both call the batch functions here, so they compute the same
 * bits on one machine (the AVX clones contract multiply-adds; the generic
 * one cannot).
 *
 * Measured on an LSTM step at DRAW's size (100 rows, 264 inputs, H 256, one
 * thread, the machine shared with two training runs): the cell took 54 ns
 * per unit as first written (scalar: 64% of the step, gate products
 * included), 17 ns in SSE lanes, 3-4 ns in the AVX-512 clone (7-8% of the
 * step; 8 ns AVX2, 24 ns generic). The add of the two gate products is 1-4%
 * of the step: a fused two-input linear op would not pay for itself.
 *
 * This file is compiled with -fno-trapping-math (meson.build): without it
 * GCC will not evaluate the float operations under vmath.h's selects on
 * every lane, and the loops stay scalar (AVX-512's masked lanes excepted). */
#include "ops_exec.h"
#include "isa.h"
#include "rnn_rows.h"

#include <string.h>

#define LSTM_BODY                                                                                              \
    for (int64_t r = 0; r < rows; r++)                                                                         \
        rnn_lstm_row_f(g + r * ldg, c + r * ldc, H, y + r * ldy, y + r * ldy + H);
#define GRU_BODY                                                                                               \
    for (int64_t r = 0; r < rows; r++)                                                                         \
        rnn_gru_row_f(gi + r * ldi, gh + r * ldh, h + r * ldhh, H, y + r * ldy);
#define LSTM_BACK_BODY                                                                                         \
    for (int64_t r = 0; r < rows; r++)                                                                         \
        rnn_lstm_back_row_f(a + r * 4 * H, c + r * H, y + r * 2 * H + H, gy + r * 2 * H, gy + r * 2 * H + H, H,  \
                            da + r * lda, dc + r * ldc);
#define GRU_BACK_BODY                                                                                          \
    for (int64_t r = 0; r < rows; r++)                                                                         \
        rnn_gru_back_row_f(gi + r * 3 * H, gh + r * 3 * H, h + r * H, gy + r * H, H, dgi + r * ldgi,            \
                           dgh + r * ldgh, dh + r * lddh);

#define LSTM_ARGS                                                                                              \
    const float *g, int64_t ldg, const float *c, int64_t ldc, int64_t rows, int64_t H, float *y, int64_t ldy
#define GRU_ARGS                                                                                               \
    const float *gi, int64_t ldi, const float *gh, int64_t ldh, const float *h, int64_t ldhh, int64_t rows,    \
        int64_t H, float *y, int64_t ldy
#define LSTM_BACK_ARGS                                                                                         \
    const float *a, const float *c, const float *y, const float *gy, int64_t rows, int64_t H, float *da,       \
        int64_t lda, float *dc, int64_t ldc
#define GRU_BACK_ARGS                                                                                          \
    const float *gi, const float *gh, const float *h, const float *gy, int64_t rows, int64_t H, float *dgi,    \
        int64_t ldgi, float *dgh, int64_t ldgh, float *dh, int64_t lddh

VARIA_TARGET("avx512f,fma") static void lstm_avx512(LSTM_ARGS) { LSTM_BODY }
VARIA_TARGET("avx2,fma") static void lstm_avx2(LSTM_ARGS) { LSTM_BODY }
static void lstm_generic(LSTM_ARGS) { LSTM_BODY }

VARIA_TARGET("avx512f,fma") static void gru_avx512(GRU_ARGS) { GRU_BODY }
VARIA_TARGET("avx2,fma") static void gru_avx2(GRU_ARGS) { GRU_BODY }
static void gru_generic(GRU_ARGS) { GRU_BODY }

VARIA_TARGET("avx512f,fma") static void lstm_back_avx512(LSTM_BACK_ARGS) { LSTM_BACK_BODY }
VARIA_TARGET("avx2,fma") static void lstm_back_avx2(LSTM_BACK_ARGS) { LSTM_BACK_BODY }
static void lstm_back_generic(LSTM_BACK_ARGS) { LSTM_BACK_BODY }

VARIA_TARGET("avx512f,fma") static void gru_back_avx512(GRU_BACK_ARGS) { GRU_BACK_BODY }
VARIA_TARGET("avx2,fma") static void gru_back_avx2(GRU_BACK_ARGS) { GRU_BACK_BODY }
static void gru_back_generic(GRU_BACK_ARGS) { GRU_BACK_BODY }

/* 0 (AVX-512), 1 (AVX2) or 2 (generic): the set kernels.c runs, or, in the
 * system-BLAS build (which reports no set), the best the CPU runs. One
 * string compare per cell call, next to a pass over rows x H units. */
static int isa(void)
{
    const char *k = varia_kernel_name();
    if (!strcmp(k, "avx512"))
        return 0;
    if (!strcmp(k, "avx2"))
        return 1;
    if (strcmp(k, "system BLAS"))
        return 2;
    if (VARIA_CPU_HAS("avx512f") && VARIA_CPU_HAS("fma"))
        return 0;
    return VARIA_CPU_HAS("avx2") && VARIA_CPU_HAS("fma") ? 1 : 2;
}

void varia_lstm_rows(LSTM_ARGS)
{
    static void (*const f[3])(LSTM_ARGS) = {lstm_avx512, lstm_avx2, lstm_generic};
    f[isa()](g, ldg, c, ldc, rows, H, y, ldy);
}

void varia_gru_rows(GRU_ARGS)
{
    static void (*const f[3])(GRU_ARGS) = {gru_avx512, gru_avx2, gru_generic};
    f[isa()](gi, ldi, gh, ldh, h, ldhh, rows, H, y, ldy);
}

void varia_lstm_back_rows(LSTM_BACK_ARGS)
{
    static void (*const f[3])(LSTM_BACK_ARGS) = {lstm_back_avx512, lstm_back_avx2, lstm_back_generic};
    f[isa()](a, c, y, gy, rows, H, da, lda, dc, ldc);
}

void varia_gru_back_rows(GRU_BACK_ARGS)
{
    static void (*const f[3])(GRU_BACK_ARGS) = {gru_back_avx512, gru_back_avx2, gru_back_generic};
    f[isa()](gi, gh, h, gy, rows, H, dgi, ldgi, dgh, ldgh, dh, lddh);
}

/* ---- exec and measure ---- */

varia_v *varia_exec_lstm_cell(varia_ops *o, varia_v *gates, varia_v *c)
{
    varia_exec *e = (varia_exec *)o;
    int64_t H = c->cols;
    varia_v *y = varia_exec_val(e, gates->rows, 2 * H, 0);
    if (varia_exec_live(e))
        varia_lstm_rows(gates->f, gates->ld, c->f, c->ld, gates->rows, H, y->f, y->ld);
    return y;
}

varia_v *varia_exec_gru_cell(varia_ops *o, varia_v *gi, varia_v *gh, varia_v *h)
{
    varia_exec *e = (varia_exec *)o;
    int64_t H = h->cols;
    varia_v *y = varia_exec_val(e, h->rows, H, 0);
    if (varia_exec_live(e))
        varia_gru_rows(gi->f, gi->ld, gh->f, gh->ld, h->f, h->ld, h->rows, H, y->f, y->ld);
    return y;
}

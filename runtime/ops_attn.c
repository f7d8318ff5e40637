/* The exec and measure backends of DRAW's attention ops (ops.h), and the
 * geometry check (attn.h). Each op makes its output, and the one row of
 * scratch its products need, as workspace values (so measure sizes them and
 * the hot path allocates nothing), then runs the row functions of
 * attn_rows.h that the tape runs too: exec and tape compute the same bits. */
#include "ops_exec.h"

#define ATTN_REAL float
#include "attn_rows.h"

#include <string.h>

int varia_attn_check(const varia_attn *g, const char **why)
{
    if (g->w < 1 || g->h < 1 || g->w > VARIA_ATTN_DIM_CAP || g->h > VARIA_ATTN_DIM_CAP)
        return *why = "the image's width and height must be in 1..65536", 0;
    if (g->n < 1 || g->n > VARIA_ATTN_N_CAP)
        return *why = "the glimpse's side N must be in 1..1024", 0;
    return 1;
}

varia_v *varia_exec_attn_filterbank(varia_ops *o, varia_v *p, const varia_attn *g)
{
    varia_exec *e = (varia_exec *)o;
    varia_v *fb = varia_exec_val(e, p->rows, varia_attn_fb_cols(g), 0);
    for (int64_t r = 0; varia_exec_live(e) && r < p->rows; r++)
        attn_filterbank_row(g, p->f + r * p->ld, fb->f + r * fb->ld);
    return fb;
}

/* The glimpse of one image row into out[N * N] (zeroed first), gamma read
 * from the filterbank row. */
static void read_one(const varia_attn *g, const float *fr, const float *x, float *tmp, float *out)
{
    memset(out, 0, (size_t)(g->n * g->n) * sizeof *out);
    attn_read_row(g, fr, (double)fr[varia_attn_fb_cols(g) - 1], x, tmp, out);
}

varia_v *varia_exec_attn_read(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *x, int64_t kx, varia_v *x2,
                              int64_t kx2)
{
    varia_exec *e = (varia_exec *)o;
    int64_t nn = g->n * g->n;
    varia_v *y = varia_exec_val(e, fb->rows, x2 ? 2 * nn : nn, 0);
    varia_v *tmp = varia_exec_val(e, 1, g->n * g->w, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < fb->rows; r++) {
        const float *fr = fb->f + r * fb->ld;
        read_one(g, fr, x->f + (r / kx) * x->ld, tmp->f, y->f + r * y->ld);
        if (x2)
            read_one(g, fr, x2->f + (r / kx2) * x2->ld, tmp->f, y->f + r * y->ld + nn);
    }
    return y;
}

varia_v *varia_exec_attn_write(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *w)
{
    varia_exec *e = (varia_exec *)o;
    int64_t ba = g->h * g->w;
    varia_v *y = varia_exec_val(e, fb->rows, ba, 0);
    varia_v *tmp = varia_exec_val(e, 1, g->n * g->w, 0);
    for (int64_t r = 0; varia_exec_live(e) && r < fb->rows; r++) {
        const float *fr = fb->f + r * fb->ld;
        float *yr = y->f + r * y->ld;
        memset(yr, 0, (size_t)ba * sizeof *yr);
        attn_write_row(g, fr, 1.0 / (double)fr[varia_attn_fb_cols(g) - 1], w->f + r * w->ld, tmp->f, yr);
    }
    return y;
}

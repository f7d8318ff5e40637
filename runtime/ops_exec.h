/* Internal: the exec and measure backends of the op interface (ops.h).
 *
 * exec runs every op at once with the runtime's fused kernels; its values live
 * in one workspace (value records first, then a bump arena of floats), so a
 * pass allocates nothing. measure runs the same op definitions on shapes only:
 * running a pass under it gives the workspace that pass needs (passes.c does
 * it for every pass at load). */
#ifndef VARIA_OPS_EXEC_H
#define VARIA_OPS_EXEC_H

#include "family.h"

/* An exec value: rows x cols, row stride ld; float data (f) for activations,
 * double (d) for log-densities and what is summed from them. */
struct varia_v {
    int64_t rows, cols, ld;
    float *f;
    double *d;
    int dbl; /* its data is double (d): known under measure too, where f and d stay NULL */
};

typedef struct varia_exec {
    varia_ops ops;
    const varia_model *m;
    struct varia_pool *team; /* shares each layer's columns; NULL: the caller alone */
    varia_v *vals;
    size_t n_vals, cap_vals;
    float *arena;
    size_t used, cap; /* floats */
    size_t peak_vals, peak_used; /* the most n_vals and used ever reached (step_end lowers them) */
    int measure, failed;
    varia_v dummy; /* what ops return once the records ran out */
    float *place;  /* varia_exec_place: the caller's buffer for the next value of that shape */
    int64_t place_rows, place_cols;
} varia_exec;

/* For the ops defined outside ops_exec.c (ops_conv.c, ops_attn.c): a new value of rows x
 * cols in the workspace (double when dbl; data NULL under measure or once the
 * workspace ran out), and whether an op should compute now. */
varia_v *varia_exec_val(varia_exec *e, int64_t rows, int64_t cols, int dbl);
int varia_exec_live(const varia_exec *e);
/* The exec conv ops (ops_conv.c), as ops.h declares them. */
varia_v *varia_exec_conv2d(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act);
varia_v *varia_exec_conv_transpose2d(varia_ops *o, varia_v *x, int slot, const varia_conv *g, varia_act act);
/* The exec recurrent cells (ops_rnn.c), as ops.h declares them: the output
 * is a new value; the inputs may be views (any row stride). */
varia_v *varia_exec_lstm_cell(varia_ops *o, varia_v *gates, varia_v *c);
varia_v *varia_exec_gru_cell(varia_ops *o, varia_v *gi, varia_v *gh, varia_v *h);
/* The exec sequence ops (ops_seq.c), as ops.h declares them. */
varia_v *varia_exec_row_mask(varia_ops *o, varia_v *x, const int64_t *lengths, int64_t k, int64_t t);
void varia_exec_emit(varia_ops *o, int which, varia_v *v, int64_t col);
varia_v *varia_exec_softplus_logvar(varia_ops *o, varia_v *a, float floor);
varia_v *varia_exec_gauss_kl_to(varia_ops *o, varia_v *mu, varia_v *lv, varia_v *mu_p, varia_v *lv_p);
varia_v *varia_exec_bernoulli_sample(varia_ops *o, varia_v *logits, varia_v *eps);
varia_v *varia_exec_gmm_logp(varia_ops *o, varia_v *x, int64_t kx, varia_v *w, varia_v *mu, varia_v *lv);
varia_v *varia_exec_gmm_sample(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, varia_v *eps);
varia_v *varia_exec_gmm_moment(varia_ops *o, varia_v *w, varia_v *mu, varia_v *lv, int which);
/* The exec attention ops (ops_attn.c), as ops.h declares them. */
varia_v *varia_exec_attn_filterbank(varia_ops *o, varia_v *p, const varia_attn *g);
varia_v *varia_exec_attn_read(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *x, int64_t kx, varia_v *x2,
                              int64_t kx2);
varia_v *varia_exec_attn_write(varia_ops *o, varia_v *fb, const varia_attn *g, varia_v *w);

/* The exec input-gradient ops (ops_gp.c), as ops.h declares them. */
varia_v *varia_exec_linear_t(varia_ops *o, varia_v *g, int slot);
varia_v *varia_exec_conv2d_t(varia_ops *o, varia_v *g, int slot, const varia_conv *c);
varia_v *varia_exec_act_mask(varia_ops *o, varia_v *g, varia_v *y, varia_act act);
varia_v *varia_exec_norm_penalty(varia_ops *o, varia_v *g);

/* Floats the value records of `vals` values take at the start of a workspace. */
size_t varia_exec_val_floats(size_t vals);
/* Run passes of m in ws (m->ws_floats floats, 64-byte aligned), layers shared
 * with `team` (may be NULL). Nothing is allocated; values last until the next
 * begin on the same workspace. */
void varia_exec_begin(varia_exec *e, const varia_model *m, float *ws, struct varia_pool *team);
/* The same over a workspace of `floats` floats holding `vals` value records
 * (a caller running more than one pass between begins sizes it itself). */
void varia_exec_begin_sized(varia_exec *e, const varia_model *m, float *ws, size_t vals, size_t floats,
                            struct varia_pool *team);
/* Measure instead: vals[cap_vals] holds the value records; e->peak_vals and
 * e->peak_used then give what the passes run since need (n_vals and used
 * are what is live now: step_end releases a step's scratch). */
void varia_measure_begin(varia_exec *e, const varia_model *m, varia_v *vals, size_t cap_vals);

/* Let the next float value of rows x cols live in dst (contiguous, the
 * caller's) instead of the workspace, so a pass's output lands where the
 * caller wants it without a copy. Another value of that shape may take it
 * (a hidden layer as wide as the output, a latent as long as an example):
 * the caller then copies its other outputs out before the one meant for dst,
 * and varia_exec_copy_out copies that one there unless it is there already. */
void varia_exec_place(varia_exec *e, float *dst, int64_t rows, int64_t cols);
/* Copy a float value out to dst (rows x cols, contiguous), unless it lives there. */
void varia_exec_copy_out(const varia_v *v, float *dst);

#endif

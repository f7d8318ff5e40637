/* The training objectives over a family's log-weight terms (model.h): the
 * ELBO with the analytic or the Monte Carlo KL, and the IWAE bound. Compiled
 * in float (the library) and double (the gradient checks), like tape.c. */
#include "model.h"

tr_terms TR(objective_record)(tr_tape *t, const tr_model *m, const tr_lin *lins, const tr_real *theta, tr_real *grad,
                       const float *x, int64_t B, const float *eps, const tr_objective *o)
{
    tr_terms r = {0};
    int64_t k = o->k;
    TR(ops) ops;
    TR(ops_begin)(&ops, t, &m->decl, lins, m->off, theta, grad);
    ops.bn_stats = o->bn_stats;
    varia_ops *op = &ops.ops;
    varia_terms ft = {0};
    m->family->terms(m->cfg, op, op->input(op, B, m->D, x, m->D), k, op->input(op, B * k, m->noise, eps, m->noise),
                     &ft);
    tr_node *lpx = TR(node_of)(ft.log_px);
    r.recon = TR(mean_groups)(t, lpx, k);
    tr_node *kl_parts[2] = {TR(node_of)(ft.log_qz), TR(node_of)(ft.log_pz)};
    const double kl_c[2] = {1.0, -1.0};
    tr_node *kl_mc = TR(combine)(t, kl_parts, kl_c, 2);
    if (o->kind == TR_OBJ_ELBO_ANALYTIC) {
        if (!ft.kl_dims)
            return r;
        r.kl_dims = TR(node_of)(ft.kl_dims);
        r.kl = TR(row_sum)(t, r.kl_dims);
        tr_node *parts[2] = {r.recon, r.kl};
        const double c[2] = {1.0, o->free_bits ? 0.0 : -o->beta};
        r.obj = TR(combine)(t, parts, c, 2);
        return r;
    }
    r.kl = TR(mean_groups)(t, kl_mc, k);
    tr_node *parts[2] = {lpx, kl_mc};
    const double c[2] = {1.0, -o->beta};
    tr_node *log_w = TR(combine)(t, parts, c, 2);
    r.obj = o->kind == TR_OBJ_IWAE ? TR(lse_groups)(t, log_w, k) : TR(mean_groups)(t, log_w, k);
    return r;
}

/* The training objectives over a family's log-weight terms (model.h): the
 * ELBO with the analytic or the Monte Carlo KL, and the IWAE bound; and the
 * adversarial objectives over a generator and its discriminator. Compiled
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
    op->seq_len = o->seq_len;
    op->lengths = o->lengths;
    int64_t S = m->family->state_size ? m->family->state_size(m->cfg) : 0;
    op->state_in = o->state_in;
    op->state_in_ld = S;
    op->out[VARIA_EMIT_STATE] = o->state_out;
    op->out_ld[VARIA_EMIT_STATE] = S;
    int64_t T = o->seq_len > 0 ? o->seq_len : 1, D = m->D * T, E = m->noise * T;
    varia_terms ft = {0};
    m->family->terms(m->cfg, op, op->input(op, B, D, x, o->x_ld ? o->x_ld : D), k,
                     op->input(op, B * k, E, eps, o->eps_ld ? o->eps_ld : E), &ft);
    tr_node *lpx = TR(node_of)(ft.log_px);
    r.recon = TR(mean_groups)(t, lpx, k);
    tr_node *kl_parts[2] = {TR(node_of)(ft.log_qz), TR(node_of)(ft.log_pz)};
    const double kl_c[2] = {1.0, -1.0};
    tr_node *kl_mc = TR(combine)(t, kl_parts, kl_c, 2);
    if (o->kind == TR_OBJ_ELBO_ANALYTIC) {
        if (!ft.kl_dims)
            return r;
        r.kl_dims = TR(node_of)(ft.kl_dims);
        r.kl = TR(row_sum)(t, r.kl_dims); /* one row per example, or per sample (DRAW): then their mean */
        if (r.kl->rows != B)
            r.kl = TR(mean_groups)(t, r.kl, k);
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

/* log sigma(l) (target 1) or log(1 - sigma(l)) (target 0) per row of logits
 * l [B, 1]: the Bernoulli log-likelihood of a constant label. */
static tr_node *log_sig(tr_tape *t, tr_node *l, int target)
{
    static const tr_real one = 1, zero = 0;
    return TR(bernoulli_logp)(t, l, target ? &one : &zero, l->rows);
}

/* WGAN-GP's penalty per row, (|grad D(x^)|_2 - 1)^2 at x^ = mix x + (1 -
 * mix) fake, x^ a constant: the critic's input gradient is built as a
 * forward graph (varia_net_input_grad), so the ordinary backward pass gives
 * the penalty's gradient with respect to the critic's weights. */
static tr_node *gradient_penalty(tr_tape *t, const tr_model *m, varia_ops *op, const float *x, const tr_node *fake,
                                 const float *mix)
{
    int64_t B = fake->rows, D = fake->cols;
    tr_real *xh = TR(alloc)(t, B * D), *ones = TR(alloc)(t, B);
    if (!xh || !ones)
        return TR(norm_penalty)(t, TR(input)(t, B, D, fake->v)); /* the tape failed: records nothing */
    for (int64_t r = 0; r < B; r++) {
        ones[r] = 1;
        for (int64_t j = 0; j < D; j++) /* in double for the gradient checks, as every tape value */
            xh[r * D + j] = (tr_real)((double)mix[r] * x[r * D + j] + (1.0 - (double)mix[r]) * fake->v[r * D + j]);
    }
    varia_v *logit, *gx;
    m->family->critic_grad(m->cfg, op, TR(value_of)(TR(input)(t, B, D, xh)), TR(value_of)(TR(input)(t, B, 1, ones)),
                           &logit, &gx);
    return TR(norm_penalty)(t, TR(node_of)(gx));
}

tr_node *TR(gan_record)(tr_tape *t, const tr_model *m, const tr_lin *lins, const tr_real *theta, tr_real *grad,
                        const float *x, int64_t B, const float *eps, tr_gan *g)
{
    TR(ops) ops;
    TR(ops_begin)(&ops, t, &m->decl, lins, m->off, theta, grad);
    ops.bn_stats = g->bn_stats;
    varia_ops *op = &ops.ops;
    varia_v *fake, *z, *lf, *lr;
    g->penalty = NULL;
    m->family->generate(m->cfg, op, op->input(op, B, m->noise, eps, m->noise), 1.0f, &fake, &z);
    tr_node *fn = TR(node_of)(fake);
    if (g->pass == TR_GAN_PASS_D) /* G(z) as a constant: the discriminator's step leaves G alone */
        fake = TR(value_of)(TR(input)(t, fn->rows, fn->cols, fn->v));
    m->family->critic(m->cfg, op, fake, &lf);
    tr_node *f = TR(node_of)(lf);
    if (g->pass == TR_GAN_PASS_G)
        return g->loss != TR_GAN_NON_SATURATING ? f : log_sig(t, f, 1);
    m->family->critic(m->cfg, op, op->input(op, B, m->D, x, m->D), &lr);
    tr_node *parts[3] = {TR(node_of)(lr), f, NULL};
    const double c[3] = {1.0, -1.0, -g->lambda}, c2[2] = {1.0, 1.0};
    if (g->loss == TR_GAN_WGAN_GP) {
        parts[2] = g->penalty = gradient_penalty(t, m, op, x, fn, g->mix);
        return TR(combine)(t, parts, c, 3);
    }
    if (g->loss == TR_GAN_WASSERSTEIN)
        return TR(combine)(t, parts, c, 2);
    parts[0] = log_sig(t, parts[0], 1);
    parts[1] = log_sig(t, f, 0);
    return TR(combine)(t, parts, c2, 2);
}

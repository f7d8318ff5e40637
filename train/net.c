/* The VAE/IWAE pass over the tape's ops (see net.h). Sample j of example b is
 * row b * k + j below the first encoder; the posterior of layer 1 is computed
 * once per example and shared by its k samples. */
#include "net.h"

#include <string.h>

void TR(net_bind)(const tr_layout *lay, const tr_real *theta, tr_real *grad, float *const *packs,
                  float *const *packs_t, tr_lin *lins)
{
    for (int i = 0; i < lay->n_lin; i++) {
        tr_lin *l = &lins[i];
        l->in = lay->lin[i].in;
        l->out = lay->lin[i].out;
        l->w = theta + lay->lin[i].w_off;
        l->b = theta + lay->lin[i].b_off;
        l->gw = grad + lay->lin[i].w_off;
        l->gb = grad + lay->lin[i].b_off;
        l->packed = packs ? packs[i] : NULL;
        l->packed_t = packs_t ? packs_t[i] : NULL;
    }
}

static tr_node *mlp_hidden(tr_tape *t, const tr_mlp *m, const tr_lin *lins, tr_node *h)
{
    for (int i = 0; i < m->n_hidden; i++)
        h = TR(linear)(t, h, &lins[m->hidden[i]], m->act);
    return h;
}

/* Layer l's noise for every row, gathered contiguous from the per-sample
 * layout (NULL when the arena is exhausted; the tape is then marked failed). */
static const tr_real *layer_noise(tr_tape *t, const tr_layout *lay, const tr_real *eps, int64_t rows, int l)
{
    int64_t off = 0;
    for (int i = 0; i < l; i++)
        off += lay->lat[i];
    tr_real *dst = TR(alloc)(t, rows * lay->lat[l]);
    if (dst)
        for (int64_t r = 0; r < rows; r++)
            memcpy(dst + r * lay->lat[l], eps + r * lay->noise + off, (size_t)lay->lat[l] * sizeof(tr_real));
    return dst;
}

/* log p(x | z_1) for every sample row. */
static tr_node *likelihood(tr_tape *t, const tr_layout *lay, const tr_lin *lins, const tr_real *theta,
                           tr_real *grad, tr_node *z1, const tr_real *x, int64_t B, int64_t k)
{
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    tr_node *h = mlp_hidden(t, &lay->dec[0], lins, z1);
    tr_node *out = TR(linear)(t, h, &lins[lay->dec[0].mean], id);
    if (lay->lik == TR_LIK_BERNOULLI)
        return TR(bernoulli_logp)(t, out, x, k);
    tr_node *lv;
    if (lay->var == TR_VAR_LEARNED) {
        lv = TR(param)(t, 1, 1, theta + lay->logvar_off, grad + lay->logvar_off);
    } else {
        tr_real *c = TR(alloc)(t, 1);
        if (c)
            c[0] = (tr_real)lay->fixed_logvar;
        lv = TR(input)(t, 1, 1, c);
    }
    return TR(gauss_logp)(t, TR(input)(t, B, lay->D, x), k, out, 1, lv);
}

typedef struct walk {
    tr_node *z[TR_MAX_LAYERS], *mu1, *lv1;
    tr_node *lq, *lp; /* sums over layers of log q and of the prior terms */
} walk;

/* Encoders up, then the priors down: log q(z|x) and log p(z) per sample row. */
static int latents(tr_tape *t, const tr_layout *lay, const tr_lin *lins, tr_node *xn, const tr_real *eps,
                   int64_t rows, int64_t k, walk *w)
{
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    tr_node *h = xn, *terms[2 * TR_MAX_LAYERS];
    double ones[2 * TR_MAX_LAYERS];
    int nq = 0;
    for (int l = 0; l < lay->L; l++) {
        tr_node *top = mlp_hidden(t, &lay->enc[l], lins, h);
        tr_node *mu = TR(linear)(t, top, &lins[lay->enc[l].mean], id);
        tr_node *lv = TR(linear)(t, top, &lins[lay->enc[l].scale], id);
        const tr_real *e = layer_noise(t, lay, eps, rows, l);
        if (!e)
            return 0;
        int64_t kk = l ? 1 : k;
        w->z[l] = TR(reparam)(t, mu, lv, e, kk);
        terms[nq] = TR(gauss_logp)(t, w->z[l], 1, mu, kk, lv);
        ones[nq++] = 1.0;
        if (!l) {
            w->mu1 = mu;
            w->lv1 = lv;
        }
        h = w->z[l];
    }
    w->lq = TR(combine)(t, terms, ones, nq);
    int np = 0;
    terms[np++] = TR(std_normal_logp)(t, w->z[lay->L - 1]);
    for (int l = lay->L - 1; l >= 1; l--) {
        tr_node *top = mlp_hidden(t, &lay->dec[l], lins, w->z[l]);
        tr_node *mu = TR(linear)(t, top, &lins[lay->dec[l].mean], id);
        tr_node *lv = TR(linear)(t, top, &lins[lay->dec[l].scale], id);
        terms[np++] = TR(gauss_logp)(t, w->z[l - 1], 1, mu, 1, lv);
    }
    w->lp = TR(combine)(t, terms, ones, np);
    return 1;
}

tr_terms TR(net_forward)(tr_tape *t, const tr_layout *lay, const tr_lin *lins, const tr_real *theta,
                         tr_real *grad, const tr_real *x, int64_t B, const tr_real *eps, const tr_objective *o)
{
    tr_terms r = {0};
    int64_t k = o->k, rows = B * k;
    walk w = {0};
    if (!latents(t, lay, lins, TR(input)(t, B, lay->D, x), eps, rows, k, &w))
        return r;
    tr_node *lpx = likelihood(t, lay, lins, theta, grad, w.z[0], x, B, k);
    r.recon = TR(mean_groups)(t, lpx, k);
    tr_node *kl_parts[2] = {w.lq, w.lp};
    const double kl_c[2] = {1.0, -1.0};
    tr_node *kl_mc = TR(combine)(t, kl_parts, kl_c, 2);
    if (o->kind == TR_OBJ_ELBO_ANALYTIC) {
        r.kl_dims = TR(gauss_kl)(t, w.mu1, w.lv1);
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

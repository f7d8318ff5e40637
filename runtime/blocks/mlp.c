/* The MLP block (mlp.h). */
#include "mlp.h"

#include <stdio.h>

int varia_mlp_declare(varia_decl *d, varia_mlp *g, const char *prefix, int64_t in, const int64_t *widths, int n,
                      int64_t out, const char *mean_name, const char *scale_name, varia_group group,
                      int data_input)
{
    char name[VARIA_DECL_NAME];
    g->n_hidden = n;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s.hidden.%d", prefix, i);
        g->hidden[i] = varia_decl_linear_add(d, name, i ? widths[i - 1] : in, widths[i], group, data_input && !i);
    }
    int64_t h = n ? widths[n - 1] : in;
    snprintf(name, sizeof name, "%s.%s", prefix, mean_name);
    g->mean = varia_decl_linear_add(d, name, h, out, group, data_input && !n);
    g->scale = -1;
    if (scale_name) {
        snprintf(name, sizeof name, "%s.%s", prefix, scale_name);
        g->scale = varia_decl_linear_add(d, name, h, out, group, data_input && !n);
    }
    return !d->failed;
}

varia_v *varia_mlp_hidden(varia_ops *o, const varia_mlp *g, varia_v *x)
{
    for (int i = 0; i < g->n_hidden; i++)
        x = o->linear(o, x, g->hidden[i], g->act);
    return x;
}

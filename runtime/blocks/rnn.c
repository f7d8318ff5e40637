/* Recurrent cells as blocks (rnn.h). */
#include "rnn.h"

#include <math.h>
#include <stdio.h>

int varia_cell_declare(varia_decl *d, varia_cell *c, const char *prefix, int64_t in, int64_t H, int gru,
                       varia_group group)
{
    char w[VARIA_DECL_NAME], b[VARIA_DECL_NAME];
    int64_t gates = (gru ? 3 : 4) * H;
    float limit = (float)(1.0 / sqrt((double)H));
    *c = (varia_cell){-1, -1, in, H, gru};
    snprintf(w, sizeof w, "%s.weight_ih", prefix);
    snprintf(b, sizeof b, "%s.bias_ih", prefix);
    c->ih = varia_decl_linear_named(d, w, b, in, gates, limit, group, 0);
    snprintf(w, sizeof w, "%s.weight_hh", prefix);
    snprintf(b, sizeof b, "%s.bias_hh", prefix);
    c->hh = varia_decl_linear_named(d, w, b, H, gates, limit, group, 0);
    return c->ih >= 0 && c->hh >= 0;
}

void varia_cell_step(varia_ops *o, const varia_cell *c, varia_v *x, varia_v **h, varia_v **cs)
{
    varia_cell_step_gates(o, c, o->linear(o, x, c->ih, (varia_act){VARIA_ACT_IDENTITY, 0.0f}), h, cs);
}

void varia_cell_step_gates(varia_ops *o, const varia_cell *c, varia_v *gi, varia_v **h, varia_v **cs)
{
    const varia_act id = {VARIA_ACT_IDENTITY, 0.0f};
    varia_v *gh = o->linear(o, *h, c->hh, id);
    if (c->gru) {
        *h = o->gru_cell(o, gi, gh, *h);
        return;
    }
    varia_v *hc = o->lstm_cell(o, o->add(o, gi, gh, 1, id), *cs);
    *h = o->cols(o, hc, 0, c->H);
    *cs = o->cols(o, hc, c->H, c->H);
}

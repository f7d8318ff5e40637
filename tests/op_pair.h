/* Both backends over one model, for the tests that run an op or a pass on the
 * runtime's exec backend and on the trainer's tape and compare them
 * (test_ops.c, test_wgan_gp.c). Internal to tests/; static functions, so one
 * .c per executable includes it. */
#ifndef VARIA_TESTS_OP_PAIR_H
#define VARIA_TESTS_OP_PAIR_H

#include "model.h"
#include "ops_exec.h"
#include "save.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAIR_WS_VALS 4096
#define PAIR_WS_FLOATS ((size_t)1 << 20) /* room for every pass at once */

typedef struct pair {
    tr_model md;
    float *theta, *grad, **packs, **packs_t;
    int64_t dx; /* values of one example */
    tr_lin *lins;
    varia_model *m;
    float *ws;
    varia_exec e;
    tr_ops t;
    tr_tape *tape;
} pair;

/* Fills theta[md->P] for a pair being opened; 0 refuses the model. */
typedef int (*pair_init_fn)(const tr_model *md, float *theta, void *ctx);

/* |a - b| / max(1, |b|) over the worst element of two values of one shape;
 * a shape mismatch (or NaN) is an error of 1e9. */
static __attribute__((unused)) double diff(varia_v *ev, varia_v *tv)
{
    const tr_node *n = tr_node_of(tv);
    if (ev->rows != n->rows || ev->cols != n->cols || (!ev->d && !ev->f))
        return 1e9;
    double w = 0.0;
    for (int64_t r = 0; r < ev->rows; r++)
        for (int64_t c = 0; c < ev->cols; c++) {
            double a = ev->d ? ev->d[r * ev->ld + c] : ev->f[r * ev->ld + c], b = n->v[r * n->cols + c];
            double e = fabs(a - b) / fmax(1.0, fabs(b));
            w = isnan(e) ? 1e9 : fmax(w, e);
        }
    return w;
}

/* Pack every linear slot's weight both ways for the tape. 0 on failure. */
static int pair_pack(pair *p)
{
    for (int i = 0; i < p->md.decl.n_lin; i++) {
        const varia_decl_linear *l = &p->md.decl.lin[i];
        p->packs[i] = aligned_alloc(64, (size_t)varia_packed_floats(l->in, l->out) * sizeof(float));
        p->packs_t[i] = aligned_alloc(64, (size_t)varia_packed_floats(l->out, l->in) * sizeof(float));
        if (!p->packs[i] || !p->packs_t[i])
            return 0;
        varia_pack_panels(p->packs[i], p->theta + p->md.off[l->weight], l->in, l->out, 0);
        varia_pack_panels(p->packs_t[i], p->theta + p->md.off[l->weight], l->out, l->in, 1);
    }
    return 1;
}

/* Save the trainer's model as dir/model.json and load it in the runtime. */
static int pair_save_load(pair *p, varia_ctx *ctx, const char *dir, cJSON *arch, varia_shape shape)
{
    cJSON *data = cJSON_CreateObject(), *dims = cJSON_AddArrayToObject(data, "shape");
    for (int i = 0; i < shape.rank; i++)
        cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)shape.dims[i]));
    char path[300];
    snprintf(path, sizeof path, "%s/model.json", dir);
    return tr_save_model(ctx, dir, &p->md, arch, p->theta, "model.safetensors", data, NULL) == VARIA_OK &&
           varia_model_load(ctx, path, &p->m) == VARIA_OK;
}

/* Build the trainer's `family` model for arch_json and data shape, theta
 * filled by init, save it in dir (which must exist) and load it in the
 * runtime; begin both backends. 0 on failure (the message printed as a TAP
 * comment). The caller owns *p and closes it with pair_close either way. */
static __attribute__((unused)) int pair_open_family(pair *p, const char *dir, const char *family,
                                                    const char *arch_json, varia_shape shape, pair_init_fn init,
                                                    void *init_ctx)
{
    memset(p, 0, sizeof *p);
    varia_ctx *ctx = varia_ctx_new();
    cJSON *arch = cJSON_Parse(arch_json);
    p->dx = 1;
    for (int i = 0; i < shape.rank; i++)
        p->dx *= shape.dims[i];
    int good = tr_model_build(ctx, family, arch, &shape, &p->md) == VARIA_OK;
    int n_lin = p->md.decl.n_lin;
    p->theta = good ? calloc((size_t)p->md.P, sizeof(float)) : NULL;
    p->grad = good ? calloc((size_t)p->md.P, sizeof(float)) : NULL;
    p->packs = calloc((size_t)n_lin + 1, sizeof *p->packs);
    p->packs_t = calloc((size_t)n_lin + 1, sizeof *p->packs_t);
    p->lins = calloc((size_t)n_lin + 1, sizeof *p->lins);
    good = good && p->theta && p->grad && p->packs && p->packs_t && p->lins;
    good = good && init(&p->md, p->theta, init_ctx) && pair_pack(p) && pair_save_load(p, ctx, dir, arch, shape);
    if (!good)
        printf("# %s\n", varia_ctx_message(ctx));
    cJSON_Delete(arch);
    varia_ctx_free(ctx);
    if (!good)
        return 0;
    p->ws = aligned_alloc(64, PAIR_WS_FLOATS * sizeof(float));
    p->tape = tr_tape_new();
    tr_bind(&p->md.decl, p->md.off, p->theta, p->grad, p->packs, p->packs_t, p->lins);
    varia_exec_begin_sized(&p->e, p->m, p->ws, PAIR_WS_VALS, PAIR_WS_FLOATS, NULL);
    tr_ops_begin(&p->t, p->tape, &p->md.decl, p->lins, p->md.off, p->theta, p->grad);
    return p->ws && p->tape;
}

/* Free everything pair_open_family made (also after it failed). */
static __attribute__((unused)) void pair_close(pair *p)
{
    for (int i = 0; p->packs && i < p->md.decl.n_lin; i++)
        free(p->packs[i]);
    for (int i = 0; p->packs_t && i < p->md.decl.n_lin; i++)
        free(p->packs_t[i]);
    free(p->packs);
    free(p->packs_t);
    free(p->lins);
    free(p->theta);
    free(p->grad);
    free(p->ws);
    tr_tape_free(p->tape);
    varia_model_free(p->m);
    tr_model_free(&p->md);
}

#endif

/* Embedding varia: load a model, draw samples, score them. */
#include <stdio.h>
#include <stdlib.h>
#include <varia.h>

int main(int argc, char **argv)
{
    varia_ctx *ctx = varia_ctx_new();        /* one per thread */
    varia_model *model = NULL;               /* immutable: share it between threads */
    if (argc < 2 || varia_model_load(ctx, argv[1], &model) != VARIA_OK)
        return fprintf(stderr, "load failed: %s\n", varia_ctx_message(ctx)), 1;
    varia_info info;
    varia_model_info(model, &info);
    float *x = malloc(sizeof(float) * 4 * (size_t)info.data_size);
    varia_sample(ctx, model, 4, /*seed*/ 42, /*temperature*/ 1.0f, x, NULL);
    varia_eval_opts opts = {.k = 100, .seed = 1, .binarize = VARIA_BIN_DYNAMIC};
    varia_eval_summary s;
    varia_status st = varia_eval(ctx, model, x, 4, &opts, NULL, &s);
    printf("mean log p(x) of 4 samples: %.2f nats (%s)\n", -s.nll_mean, varia_status_name(st));
    free(x), varia_model_free(model), varia_ctx_free(ctx);
    return st != VARIA_OK;
}

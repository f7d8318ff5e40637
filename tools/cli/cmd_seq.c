/* The CLI's sequence models (the vrnn family): samples written as piano
 * rolls, and evaluation with the per-time-step figures. Every example is
 * seq_len frames of the model's frame size, passed through varia_opts. */
#include "args.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n sequences x[n * T * F] (frame-major) as piano rolls: roll i is F rows
 * (pitch, the highest at the top) by T columns (time), the rolls stacked
 * top to bottom with the grid's padding. */
int cli_seq_write_rolls(varia_ctx *ctx, const char *path, const float *x, int64_t n, int64_t T, int64_t F)
{
    varia_shape roll = {2, {F, T}};
    int rc = cli_check_grid(ctx, n, &roll, 1, "the piano rolls");
    float *img = rc ? NULL : malloc((size_t)(n * T * F) * sizeof *img);
    if (!rc && !img)
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld piano rolls", (long long)n);
    for (int64_t i = 0; !rc && i < n; i++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t p = 0; p < F; p++)
                img[(i * F + (F - 1 - p)) * T + t] = x[(i * T + t) * F + p];
    if (!rc)
        rc = cli_write_grid(ctx, path, img, n, &roll, 1);
    free(img);
    return rc;
}

int cli_seq_sample(varia_ctx *ctx, const varia_model *m, const varia_info *in, int64_t n, int64_t T, uint64_t seed,
                   double temp, const char *path)
{
    int64_t F = in->data_size;
    varia_opts o = {.size = sizeof o, .flags = VARIA_OPT_TEMPERATURE, .seed = seed, .temperature = (float)temp,
                    .seq_len = T};
    varia_shape roll = {2, {F, T}};
    int rc = cli_check_grid(ctx, n, &roll, 1, "sampling");
    float *x = rc ? NULL : malloc((size_t)(n * T * F) * sizeof *x);
    float *z = rc ? NULL : malloc((size_t)(n * T * in->latent_size + 1) * sizeof *z);
    if (!rc && (!x || !z))
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld sequences of %lld steps", (long long)n, (long long)T);
    if (!rc)
        rc = cli_report(ctx, varia_sample_ex(ctx, m, n, &o, x, z));
    if (!rc)
        rc = cli_seq_write_rolls(ctx, path, x, n, T, F);
    if (!rc)
        printf("wrote %lld piano rolls of %lld steps (seed %llu, temperature %g) to %s\n", (long long)n, (long long)T,
               (unsigned long long)seed, temp, path);
    free(x);
    free(z);
    return rc;
}

/* The dataset's examples as sequences of the model's frames: T = example size / F. */
static int seq_steps(const varia_info *in, const varia_dataset *d, const char *path, int64_t *T)
{
    if (in->data_size < 1 || d->example_size % in->data_size)
        return cli_error(VARIA_ERR_SHAPE, "'%s': examples of %lld values are not whole frames of %lld", path,
                         (long long)d->example_size, (long long)in->data_size);
    *T = d->example_size / in->data_size;
    return 0;
}

int cli_seq_eval(varia_ctx *ctx, const varia_model *m, const varia_info *in, const varia_dataset *d,
                 const varia_eval_opts *eo, const char *path, int json)
{
    int64_t T = 0;
    int rc = seq_steps(in, d, path, &T);
    varia_opts o = {.size = sizeof o, .seq_len = T};
    varia_eval_summary s;
    varia_seq_summary q = {.size = sizeof q};
    varia_eval_row *rows = rc ? NULL : malloc((size_t)d->n * sizeof *rows);
    if (!rc && !rows)
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld examples' results", (long long)d->n);
    if (!rc)
        rc = cli_report(ctx, varia_eval_ex(ctx, m, d->x, d->n, eo, &o, rows, &s));
    if (!rc)
        rc = cli_report(ctx, varia_eval_seq_summary(ctx, m, rows, d->n, &o, &q));
    if (!rc && json)
        printf("{\"n\": %lld, \"k\": %lld, \"seq_len\": %lld, \"frames\": %lld, \"log_px_per_step\": %.6f, "
               "\"elbo_per_step\": %.6f, \"log_px_mean\": %.6f, \"nll_stderr\": %.6f, \"elbo\": %.6f, \"recon\": %.6f, "
               "\"kl\": %.6f, \"bits_per_dim\": %.6f, \"active_units\": %d}\n", (long long)s.n, (long long)s.k,
               (long long)T, (long long)q.frames, q.log_px_per_step, q.elbo_per_step, -s.nll_mean, s.nll_stderr,
               s.elbo, s.recon, s.kl, q.bits_per_dim, s.active_units);
    else if (!rc)
        printf("sequences:       %lld of %lld frames of %lld\n"
               "log p per step:  %.4f nats (k=%lld; total over %lld frames), ELBO %.4f\n"
               "per sequence:    log p %.3f +- %.3f, ELBO %.3f = recon %.3f - KL %.3f\n"
               "bits/dim:        %.4f\nactive units:    %d of %lld\n",
               (long long)s.n, (long long)T, (long long)in->data_size, q.log_px_per_step, (long long)s.k,
               (long long)q.frames, q.elbo_per_step, -s.nll_mean, s.nll_stderr, s.elbo, s.recon, s.kl,
               q.bits_per_dim, s.active_units, (long long)in->latent_size);
    free(rows);
    return rc;
}

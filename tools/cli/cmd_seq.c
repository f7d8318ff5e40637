/* The CLI's sequence models (the vrnn family): samples written as piano
 * rolls (or a MIDI file, midi.c), and evaluation with the per-time-step figures. Every example is
 * seq_len frames of the model's frame size, passed through varia_opts. */
#include "args.h"
#include "cli_mpi.h"
#include "commands.h"
#include "midi.h"
#include "npy_out.h"

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

/* cli_midi_encode's file for n sequences x[n * T * 88] written to path; 0,
 * or the exit code of the printed error. */
static int write_midi(const char *path, const float *x, int64_t n, int64_t T)
{
    int64_t len = cli_midi_encode(x, n, T, NULL, 0);
    if (len < 0)
        return cli_error(VARIA_ERR_TOO_LARGE, "%lld sequences of %lld frames are too long for one MIDI track",
                         (long long)n, (long long)T);
    unsigned char *buf = malloc((size_t)len);
    if (!buf)
        return cli_error(VARIA_ERR_NOMEM, "out of memory for a MIDI file of %lld bytes", (long long)len);
    cli_midi_encode(x, n, T, buf, (size_t)len);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, (size_t)len, f) == (size_t)len;
    ok = (f && fclose(f) == 0) && ok;
    free(buf);
    return ok ? 0 : cli_error(VARIA_ERR_IO, "cannot write '%s'", path);
}

int cli_seq_sample(varia_ctx *ctx, const varia_model *m, const varia_info *in, int64_t n, int64_t T, uint64_t seed,
                   double temp, const char *path, int kind)
{
    int64_t F = in->data_size;
    varia_opts o = {.size = sizeof o, .flags = VARIA_OPT_TEMPERATURE, .seed = seed, .temperature = (float)temp,
                    .seq_len = T};
    varia_shape roll = {2, {F, T}};
    int rc = kind == CLI_OUT_PNG ? cli_check_grid(ctx, n, &roll, 1, "sampling") : 0;
    float *x = rc ? NULL : malloc((size_t)(n * T * F) * sizeof *x);
    float *z = rc ? NULL : malloc((size_t)(n * T * in->latent_size + 1) * sizeof *z);
    if (!rc && (!x || !z))
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld sequences of %lld steps", (long long)n, (long long)T);
    if (!rc)
        rc = cli_report(ctx, varia_sample_ex(ctx, m, n, &o, x, z));
    int midi = kind == CLI_OUT_MIDI;
    if (!rc && midi && F != CLI_MIDI_NOTES)
        rc = cli_error(VARIA_ERR_ARG, "a MIDI file needs frames of %d notes (MIDI 21-108); this model's have %lld "
                       "values", CLI_MIDI_NOTES, (long long)F);
    if (!rc)
        rc = midi ? write_midi(path, x, n, T)
           : kind == CLI_OUT_NPY ? cli_write_npy(path, x, 3, (int64_t[]){n, T, F})
           : cli_seq_write_rolls(ctx, path, x, n, T, F);
    if (!rc)
        printf("wrote %lld %s of %lld steps (seed %llu, temperature %g) to %s\n", (long long)n,
               midi ? "sequences as MIDI" : kind == CLI_OUT_NPY ? "sequences" : "piano rolls", (long long)T,
               (unsigned long long)seed, temp, path);
    free(x);
    free(z);
    return rc;
}

/* The sequences padded to the longest, frame-major: x[n * T * F] (zeros past
 * each length), lengths[n] (the set's own array). */
static float *pad(const varia_seqset *q, int64_t *T)
{
    *T = 0;
    for (int64_t i = 0; i < q->n; i++)
        *T = q->lengths[i] > *T ? q->lengths[i] : *T;
    float *x = calloc((size_t)(q->n * *T * q->dim) + 1, sizeof *x);
    for (int64_t i = 0; x && i < q->n; i++)
        memcpy(x + i * *T * q->dim, q->x + q->offsets[i] * q->dim, (size_t)(q->lengths[i] * q->dim) * sizeof *x);
    return x;
}

static void print_seq(const varia_info *in, const varia_eval_summary *s, const varia_seq_summary *q, int64_t T,
                      int json)
{
    if (json)
        printf("{\"n\": %lld, \"k\": %lld, \"seq_len\": %lld, \"frames\": %lld, \"log_px_per_step\": %.6f, "
               "\"elbo_per_step\": %.6f, \"log_px_mean\": %.6f, \"nll_stderr\": %.6f, \"elbo\": %.6f, \"recon\": %.6f, "
               "\"kl\": %.6f, \"bits_per_dim\": %.6f, \"active_units\": %d}\n", (long long)s->n, (long long)s->k,
               (long long)T, (long long)q->frames, q->log_px_per_step, q->elbo_per_step, -s->nll_mean, s->nll_stderr,
               s->elbo, s->recon, s->kl, q->bits_per_dim, s->active_units);
    else
        printf("sequences:       %lld, up to %lld frames of %lld (%lld frames in all)\n"
               "log p per step:  %.4f nats (k=%lld; total over total frames), ELBO %.4f\n"
               "per sequence:    log p %.3f +- %.3f, ELBO %.3f = recon %.3f - KL %.3f\n"
               "bits/dim:        %.4f\nactive units:    %d of %lld\n",
               (long long)s->n, (long long)T, (long long)in->data_size, (long long)q->frames, q->log_px_per_step,
               (long long)s->k, q->elbo_per_step, -s->nll_mean, s->nll_stderr, s->elbo, s->recon, s->kl,
               q->bits_per_dim, s->active_units, (long long)in->latent_size);
}

/* One CSV row per sequence: its index, its frames, log p (the IW estimate;
 * exact for the RNN), the ELBO, its reconstruction and KL, all per sequence
 * (summed over its frames). */
static int write_seq_rows(const char *path, const varia_eval_row *rows, const int64_t *lengths, int64_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cli_error(VARIA_ERR_IO, "cannot write '%s'", path);
    fprintf(f, "index,frames,log_px,elbo,recon,kl\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "%lld,%lld,%.9g,%.9g,%.9g,%.9g\n", (long long)i, (long long)lengths[i], rows[i].log_px,
                rows[i].elbo, rows[i].recon, rows[i].kl);
    return fclose(f) ? cli_error(VARIA_ERR_IO, "cannot write '%s'", path) : 0;
}

/* This rank's block of the n padded sequences x (T frames of F each) into
 * rows[] and means[] (rank 0: the whole set's arrays, its block first; a
 * step's means are L floats), then every block gathered to rank 0 in
 * sequence order. A sequence's rows depend only on (seed, its index) and
 * its padded frames, which every rank pads to the same T, so the gathered
 * arrays are one process's bytes. L: the latent per step (0: the RNN, no
 * means to gather). Returns the exit code every rank agrees on. */
static int seq_blocks(varia_ctx *ctx, const varia_model *m, const varia_seqset *q, const float *x, int64_t T,
                      int64_t L, const varia_eval_opts *eo, varia_eval_row *rows, float *means)
{
    int64_t first, count;
    cli_mpi_block(q->n, cli_mpi_rank(), cli_mpi_size(), &first, &count);
    int root = cli_mpi_rank() == 0;
    varia_eval_row *my_rows = root ? rows : malloc((size_t)(count + 1) * sizeof *my_rows);
    float *my_means = root ? means : malloc((size_t)(count * T * L + 1) * sizeof *my_means);
    int rc = my_rows && my_means ? 0 : cli_error(VARIA_ERR_NOMEM, "out of memory for %lld rows", (long long)count);
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = q->lengths + first};
    if (!rc && count > 0)
        rc = cli_report(ctx, varia_eval_part(ctx, m, x + first * T * q->dim, first, count, eo, &o, my_rows,
                                             my_means));
    rc = cli_mpi_agree(rc);
    if (!rc)
        rc = cli_mpi_gather(my_rows, rows, q->n, (int64_t)sizeof *rows);
    if (!rc && L > 0) /* the RNN has no latent: no means */
        rc = cli_mpi_gather(my_means, means, q->n, T * L * (int64_t)sizeof *means);
    if (my_rows != rows)
        free(my_rows);
    if (my_means != means)
        free(my_means);
    return rc;
}

/* The set's frames against the model's: VARIA_ERR_SHAPE naming both. */
static int check_frames(const varia_seqset *q, const varia_info *in, const char *path)
{
    if (q->dim == in->data_size)
        return 0;
    return cli_error(VARIA_ERR_SHAPE, "'%s' has frames of %lld values; the model's are %lld", path, (long long)q->dim,
                     (long long)in->data_size);
}

int cli_seq_reconstruct(varia_ctx *ctx, const varia_model *m, const varia_info *in, const char *path, int64_t n,
                        const char *out)
{
    varia_seqset q = {0};
    int64_t T = 0, F = in->data_size;
    int rc = cli_report(ctx, varia_seqset_load(ctx, path, n, &q));
    if (!rc)
        rc = check_frames(&q, in, path);
    float *x = rc ? NULL : pad(&q, &T), *both = NULL;
    if (!rc && (!x || !(both = calloc((size_t)(2 * q.n * T * F) + 1, sizeof *both))))
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld sequences of up to %lld frames", (long long)q.n,
                       (long long)T);
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = q.lengths};
    for (int64_t i = 0; !rc && i < q.n; i++) /* rolls 2i (the data) and 2i + 1 (its reconstruction) */
        memcpy(both + 2 * i * T * F, x + i * T * F, (size_t)(T * F) * sizeof *both);
    for (int64_t i = 0; !rc && i < q.n; i++) {
        o.lengths = q.lengths + i; /* one at a time: each one's own length, its frames past it left 0 */
        rc = cli_report(ctx, varia_reconstruct_ex(ctx, m, x + i * T * F, 1, &o, both + (2 * i + 1) * T * F));
        for (int64_t t = q.lengths[i]; !rc && t < T; t++)
            memset(both + ((2 * i + 1) * T + t) * F, 0, (size_t)F * sizeof *both);
    }
    if (!rc)
        rc = cli_seq_write_rolls(ctx, out, both, 2 * q.n, T, F);
    if (!rc)
        printf("wrote %lld sequence(s) of %s, each above its reconstruction, to %s\n", (long long)q.n, path, out);
    free(x);
    free(both);
    varia_seqset_free(&q);
    return rc;
}

/* The sequences of --data, padded to the longest, scored by blocks across
 * the job's ranks (one block outside MPI); rank 0 summarises, prints, and
 * writes --per-example. */
int cli_seq_eval(varia_ctx *ctx, const varia_model *m, const varia_info *in, cli_opt *opts, int64_t limit,
                 varia_eval_opts *eo)
{
    const char *path = cli_find(opts, "--data")->value;
    varia_seqset q = {0};
    int64_t T = 0;
    int root = cli_mpi_rank() == 0;
    int rc = cli_report(ctx, varia_seqset_load(ctx, path, limit, &q));
    if (!rc)
        rc = check_frames(&q, in, path);
    if (!rc && !cli_parse_binarize("eval", opts, q.x, q.total * q.dim, in, 0.0, &eo->binarize, NULL))
        rc = VARIA_ERR_ARG;
    float *x = rc ? NULL : pad(&q, &T), *means = NULL;
    varia_eval_row *rows = NULL;
    if (!rc && root) {
        rows = malloc((size_t)q.n * sizeof *rows);
        means = malloc((size_t)(q.n * T * in->latent_size + 1) * sizeof *means);
    }
    if (!rc && (!x || (root && (!rows || !means))))
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld sequences of up to %lld frames", (long long)q.n,
                       (long long)T);
    rc = cli_mpi_agree(rc); /* a rank that could not load or allocate stops them all */
    if (!rc)
        rc = seq_blocks(ctx, m, &q, x, T, in->latent_size, eo, rows, means);
    varia_opts o = {.size = sizeof o, .seq_len = T, .lengths = q.lengths};
    varia_eval_summary s;
    varia_seq_summary sq = {.size = sizeof sq};
    if (!rc && root)
        rc = cli_report(ctx, varia_eval_summarise_ex(ctx, m, rows, q.n, eo->k, means, &o, &s));
    if (!rc && root)
        rc = cli_report(ctx, varia_eval_seq_summary(ctx, m, rows, q.n, &o, &sq));
    if (!rc && root && cli_has(opts, "--per-example"))
        rc = write_seq_rows(cli_find(opts, "--per-example")->value, rows, q.lengths, q.n);
    if (!rc && root)
        print_seq(in, &s, &sq, T, cli_has(opts, "--json"));
    free(rows);
    free(means);
    free(x);
    varia_seqset_free(&q);
    return rc;
}

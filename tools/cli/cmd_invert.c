/* varia invert: a decoder-only model (a GAN) inverted over a dataset: each
 * example's z* by varia_invert_rows, and the mean and standard error of the
 * reconstruction error and of the objective log p(z*) + log p(x|z*). */
#include "args.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *invert_usage =
    "usage: varia invert MODEL.json --data PATH [--limit N] [--starts S] [--steps T]\n"
    "                    [--sigma2 S] [--seed S] [--threads T] [--json]\n"
    "                    [--per-example FILE.csv] [-o FILE.png [--show K]]\n"
    "  Invert a model without an encoder (a GAN) on the first N examples of PATH\n"
    "  (default all; an IDX/.amat file or PNG folder, values in [0, 1]): for each,\n"
    "  z* maximising log p(z) + log p(x|z) under p(x|z) = N(x; E[x|z], S I), by Adam\n"
    "  from S starts (default 8) of T steps (default 300), the best start kept, as\n"
    "  'varia encode' does for one image. Prints the mean and standard error over\n"
    "  the examples of the reconstruction's mean squared error (per value) and of\n"
    "  log p(z*) + log p(x|z*) (nats). --sigma2: the observation variance (default:\n"
    "  the manifest's). Example i's start s is drawn from the stream (seed, i, s):\n"
    "  results are bit-identical for any --threads (default: all cores).\n"
    "  --per-example FILE.csv: 'index,mse,log_pz,log_px_z,log_joint' per example.\n"
    "  -o FILE.png: the first K examples (default 100; 10 a row) each above its\n"
    "  reconstruction E[x|z*].\n";

typedef struct invert_args {
    int64_t limit, threads, show;
    varia_invert_opts io;
} invert_args;

/* Mean and standard error (the sample deviation over sqrt(n); 0 for one
 * example) of v(rows[i]) over n rows. */
static void mean_se(const varia_invert_row *rows, int64_t n, double (*v)(const varia_invert_row *), double *mean,
                    double *se)
{
    double s = 0.0, ss = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += v(&rows[i]);
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) /* two passes: no cancellation when the spread is small beside the mean */
        ss += (v(&rows[i]) - *mean) * (v(&rows[i]) - *mean);
    *se = n > 1 ? sqrt(ss / (double)(n - 1) / (double)n) : 0.0;
}

/* The figures mean_se summarises, one accessor each. */
static double row_mse(const varia_invert_row *r) { return r->mse; }
static double row_joint(const varia_invert_row *r) { return r->log_pz + r->log_px_z; }
static double row_pz(const varia_invert_row *r) { return r->log_pz; }
static double row_pxz(const varia_invert_row *r) { return r->log_px_z; }

/* --per-example: one CSV row per example, index first, log_joint the sum. */
static int write_rows(const char *path, const varia_invert_row *rows, int64_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cli_error(VARIA_ERR_IO, "cannot write '%s'", path);
    fprintf(f, "index,mse,log_pz,log_px_z,log_joint\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "%lld,%.9g,%.9g,%.9g,%.9g\n", (long long)i, rows[i].mse, rows[i].log_pz, rows[i].log_px_z,
                rows[i].log_pz + rows[i].log_px_z);
    return fclose(f) ? cli_error(VARIA_ERR_IO, "cannot write '%s'", path) : 0;
}

/* The grid -o writes: blocks of `cols` examples, each a row of originals
 * above a row of their reconstructions; the last block's empty tiles grey. */
#define INVERT_COLS 10

static int64_t grid_cols(int64_t n) { return n < INVERT_COLS ? n : INVERT_COLS; }

static int64_t grid_tiles(int64_t n) { return 2 * ((n + grid_cols(n) - 1) / grid_cols(n)) * grid_cols(n); }

/* Decode the first n latents of z[n * L] and lay out the grid of x[n * D]
 * above them; written to path. */
static int write_pairs(varia_ctx *ctx, const varia_model *m, const varia_info *in, const float *x, const float *z,
                       int64_t n, const char *path)
{
    int64_t D = in->data_size, C = grid_cols(n), T = grid_tiles(n);
    float *rec = malloc((size_t)(n * D) * sizeof(float)), *g = malloc((size_t)(T * D) * sizeof(float));
    int rc = rec && g ? cli_report(ctx, varia_decode(ctx, m, z, n, VARIA_DECODE_MEAN, rec, NULL))
                      : cli_error(VARIA_ERR_NOMEM, "out of memory for the grid of %lld examples", (long long)n);
    for (int64_t t = 0; !rc && t < T; t++) {
        int64_t block = t / (2 * C), below = (t / C) % 2, i = block * C + t % C;
        float *tile = g + t * D;
        if (i >= n)
            for (int64_t k = 0; k < D; k++)
                tile[k] = 0.5f;
        else
            memcpy(tile, (below ? rec : x) + i * D, (size_t)D * sizeof(float));
    }
    if (!rc)
        rc = cli_write_grid(ctx, path, g, T, &in->data_shape, (int)C);
    free(rec);
    free(g);
    return rc;
}

/* Seconds on the monotonic clock, for the report's time. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The summary, as text or one JSON object. */
static void print_summary(const varia_invert_row *rows, int64_t n, const invert_args *a, double s2, int json,
                          double secs)
{
    double mse, mse_se, lj, lj_se, pz, pz_se, pxz, pxz_se;
    mean_se(rows, n, row_mse, &mse, &mse_se);
    mean_se(rows, n, row_joint, &lj, &lj_se);
    mean_se(rows, n, row_pz, &pz, &pz_se);
    mean_se(rows, n, row_pxz, &pxz, &pxz_se);
    if (json) {
        printf("{\"n\": %lld, \"starts\": %lld, \"steps\": %lld, \"sigma2\": %.7g, \"seed\": %llu, "
               "\"mse_mean\": %.9g, \"mse_stderr\": %.9g, \"log_joint_mean\": %.6f, \"log_joint_stderr\": %.6f, "
               "\"log_pz_mean\": %.6f, \"log_px_z_mean\": %.6f, \"threads\": %d, \"seconds\": %.3f}\n",
               (long long)n, (long long)a->io.starts, (long long)a->io.steps, s2, (unsigned long long)a->io.seed, mse,
               mse_se, lj, lj_se, pz, pxz, (int)a->threads, secs);
        return;
    }
    printf("examples:        %lld (%lld starts x %lld steps each, sigma2 %g)\n", (long long)n, (long long)a->io.starts,
           (long long)a->io.steps, s2);
    printf("MSE:             %.6f +- %.6f (per value, data in [0, 1])\n", mse, mse_se);
    printf("log p(z*) + log p(x|z*): %.3f +- %.3f nats (log p(z*) %.3f, log p(x|z*) %.3f)\n", lj, lj_se, pz, pxz);
    printf("time:            %.2f s\n", secs);
}

/* Load the model and the data, invert, report and write what was asked. */
static int run(varia_ctx *ctx, cli_opt *opts, const char *model_path, invert_args *a)
{
    varia_model *m = NULL;
    varia_info in;
    varia_dataset d = {0};
    const char *data_path = cli_find(opts, "--data")->value;
    int rc = cli_load_model(ctx, model_path, &m, &in);
    if (!rc)
        rc = cli_report(ctx, varia_dataset_load(ctx, data_path, a->limit, &d));
    if (!rc)
        rc = cli_check_examples(&in, &d, data_path);
    int64_t shown = rc ? 0 : d.n < a->show ? d.n : a->show;
    if (!rc && cli_has(opts, "-o")) /* a grid too large to write is refused before the work */
        rc = cli_check_grid(ctx, grid_tiles(shown), &in.data_shape, (int)grid_cols(shown), "inverting");
    varia_invert_row *rows = rc ? NULL : malloc((size_t)d.n * sizeof *rows);
    float *z = rc ? NULL : malloc((size_t)(d.n * in.latent_size) * sizeof *z);
    if (!rc && (!rows || !z))
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld examples' results", (long long)d.n);
    double t0 = now();
    if (!rc)
        rc = cli_report(ctx, varia_invert_rows(ctx, m, d.x, d.n, &a->io, z, rows));
    double secs = now() - t0, s2 = a->io.sigma2 > 0.0 ? a->io.sigma2 : in.obs_var;
    if (!rc && cli_has(opts, "--per-example"))
        rc = write_rows(cli_find(opts, "--per-example")->value, rows, d.n);
    if (!rc && cli_has(opts, "-o"))
        rc = write_pairs(ctx, m, &in, d.x, z, shown, cli_find(opts, "-o")->value);
    if (!rc)
        print_summary(rows, d.n, a, s2, cli_has(opts, "--json"), secs);
    free(rows);
    free(z);
    varia_dataset_free(&d);
    varia_model_free(m);
    return rc;
}

int cmd_invert(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return fputs(invert_usage, stdout), 0;
    cli_opt opts[] = {{"--data", 0, 1, 0, 0},   {"--limit", 0, 1, 0, 0},   {"--starts", 0, 1, 0, 0},
                      {"--steps", 0, 1, 0, 0},  {"--sigma2", 0, 1, 0, 0},  {"--seed", 0, 1, 0, 0},
                      {"--threads", 0, 1, 0, 0}, {"--json", 0, 0, 0, 0},   {"--per-example", 0, 1, 0, 0},
                      {"-o", "--output", 1, 0, 0}, {"--show", 0, 1, 0, 0}, {0}};
    const char *pos[1];
    int npos;
    invert_args a = {.show = 100, .io = {.size = sizeof a.io, .starts = 8, .steps = 300}};
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &npos) || !cli_int(opts, "--limit", 1, (int64_t)1 << 31, &a.limit) ||
        !cli_int(opts, "--starts", 1, 256, &a.io.starts) || !cli_int(opts, "--steps", 1, 100000, &a.io.steps) ||
        !cli_float(opts, "--sigma2", 1e-30, 1e6, &a.io.sigma2) || !cli_u64(opts, "--seed", &a.io.seed) ||
        !cli_int(opts, "--threads", 0, 1024, &a.threads) || !cli_int(opts, "--show", 1, (int64_t)1 << 31, &a.show))
        return VARIA_ERR_ARG;
    if (npos != 1 || !cli_has(opts, "--data"))
        return cli_usage_error("invert", "needs MODEL.json and --data PATH");
    varia_ctx *ctx = varia_ctx_new();
    if (!ctx)
        return VARIA_ERR_NOMEM;
    int rc = cli_report(ctx, varia_ctx_set_threads(ctx, (int)a.threads));
    if (!rc)
        rc = run(ctx, opts, pos[0], &a);
    varia_ctx_free(ctx);
    return rc;
}

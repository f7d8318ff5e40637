/* varia eval: score a dataset with the ELBO (both terms) and the
 * importance-weighted log-likelihood estimate. */
#include "args.h"
#include "cli_mpi.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *eval_usage =
    "usage: varia eval MODEL.json --data PATH [--k K] [--limit N]\n"
    "                  [--binarize auto|dynamic|threshold|none|dequantize] [--seed S]\n"
    "                  [--threads T] [--json] [--per-example FILE.csv]\n"
    "  Importance-weighted estimate of log p(x) with K samples per example\n"
    "  (default 5000), mean NLL with its standard error, bits/dim, the ELBO with\n"
    "  its reconstruction and KL terms, and active units. PATH is an IDX file,\n"
    "  a binarized-MNIST .amat file (either may be gzipped) or a PNG folder.\n"
    "  --binarize auto (default): data already 0/1 is used as is, other data is\n"
    "  binarized dynamically (once per example, seeded) for Bernoulli models.\n"
    "  --binarize dequantize: 8-bit data v/255 becomes (v + u)/256, u ~ U(0, 1)\n"
    "  seeded per example by --seed (continuous MNIST; as 'varia ais').\n"
    "  A K for which one example needs over 4e14 multiply-adds (K x parameters:\n"
    "  an hour or more, with no progress shown) is refused (exit 20).\n"
    "  Built with MPI (meson -Dmpi=enabled), 'mpirun -n N varia eval ...' splits\n"
    "  the examples across N ranks (with fewer examples than ranks, each one's K\n"
    "  samples, in chunks of 256) and prints the same bytes as one process (but\n"
    "  for the time taken); rank 0 prints and writes.\n"
    "  A sequence model (vrnn) reads each example as frames of its frame size (an IDX\n"
    "  image of 28x28 as 28 frames of 28; a .npz of x and lengths; a .npy) and adds\n"
    "  the log-likelihood per time step (total over total frames); mpirun splits\n"
    "  its sequences across the ranks the same way.\n"
    "  --per-example FILE.csv: one row per example, 'index,log_px,elbo,recon,kl'\n"
    "  (a flow model adds log_det); for a sequence model\n"
    "  'index,frames,log_px,elbo,recon,kl', each summed over the sequence's frames.\n"
    "  log_px is the IW estimate L_k (exact for an RNN), elbo = recon - kl.\n";

static int is_binary(const float *x, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (x[i] != 0.0f && x[i] != 1.0f)
            return 0;
    return 1;
}

int cli_parse_binarize(const char *cmd, cli_opt *opts, const float *x, int64_t count, const varia_info *in,
                       double sigma2, varia_binarize *b, int *deq)
{
    cli_opt *o = cli_find(opts, "--binarize");
    const char *v = o->present ? o->value : "auto";
    int dq = !strcmp(v, "dequantize");
    if (dq && !deq)
        return cli_usage_error(cmd, "--binarize dequantize is for images, not sequences"), 0;
    if (deq)
        *deq = dq;
    if (!strcmp(v, "none") || dq)
        *b = VARIA_BIN_NONE;
    else if (!strcmp(v, "threshold"))
        *b = VARIA_BIN_THRESHOLD;
    else if (!strcmp(v, "dynamic"))
        *b = VARIA_BIN_DYNAMIC;
    else if (!strcmp(v, "auto"))
        *b = in->likelihood == VARIA_LIK_BERNOULLI && sigma2 == 0.0 && !is_binary(x, count) ? VARIA_BIN_DYNAMIC
                                                                                           : VARIA_BIN_NONE;
    else
        return cli_usage_error(cmd, "--binarize must be auto, dynamic, threshold, none or dequantize, got '%s'", v),
               0;
    return 1;
}

const char *cli_binarize_name(varia_binarize b, int deq)
{
    return deq ? "dequantize" : b == VARIA_BIN_DYNAMIC ? "dynamic" : b == VARIA_BIN_THRESHOLD ? "threshold" : "none";
}

static void print_json(const varia_eval_summary *s, const varia_info *in, const char *bin, uint64_t seed,
                       int threads, double secs)
{
    printf("{\"n\": %lld, \"k\": %lld, \"nll_mean\": %.6f, \"nll_stderr\": %.6f, \"log_px_mean\": %.6f, "
           "\"elbo\": %.6f, \"recon\": %.6f, \"kl\": %.6f, \"bits_per_dim\": %.6f, \"active_units\": %d, "
           "\"active_units_per_layer\": [",
           (long long)s->n, (long long)s->k, s->nll_mean, s->nll_stderr, -s->nll_mean, s->elbo, s->recon, s->kl,
           s->bits_per_dim, s->active_units);
    for (int l = 0; l < in->n_stochastic; l++)
        printf("%s%d", l ? ", " : "", s->active_units_layer[l]);
    printf("]");
    if (in->flow_steps > 0) /* what the flow does: the mean of sum_k log|det J_k| */
        printf(", \"log_det\": %.6f", s->log_det);
    printf(", \"binarize\": \"%s\", \"seed\": %llu, \"threads\": %d, \"seconds\": %.3f}\n", bin,
           (unsigned long long)seed, threads, secs);
}

static void print_text(const varia_eval_summary *s, const varia_info *in, const char *bin, double secs)
{
    printf("examples:        %lld (binarization: %s)\n", (long long)s->n, bin);
    printf("NLL (k=%lld):     %.3f +- %.3f nats  (%.4f bits/dim)\n", (long long)s->k, s->nll_mean, s->nll_stderr,
           s->bits_per_dim);
    printf("ELBO:            %.3f = recon %.3f - KL %.3f\n", s->elbo, s->recon, s->kl);
    if (in->flow_steps > 0)
        printf("flow log|det|:   %.3f (mean over samples of the sum over %d %s steps)\n", s->log_det, in->flow_steps,
               in->flow);
    long long units = 0;
    for (int l = 0; l < in->n_stochastic; l++)
        units += in->layer_sizes[l];
    printf("active units:    %d of %lld\n", s->active_units, units);
    printf("time:            %.2f s\n", secs);
}

/* One CSV row per example; a flow model's rows add the mean log|det|. */
static int write_rows(const char *path, const varia_eval_row *rows, int64_t n, int flow)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cli_error(VARIA_ERR_IO, "cannot write '%s'", path);
    fprintf(f, "index,log_px,elbo,recon,kl%s\n", flow ? ",log_det" : "");
    for (int64_t i = 0; i < n; i++) {
        fprintf(f, "%lld,%.9g,%.9g,%.9g,%.9g", (long long)i, rows[i].log_px, rows[i].elbo, rows[i].recon, rows[i].kl);
        if (flow)
            fprintf(f, ",%.9g", rows[i].log_det);
        fputc('\n', f);
    }
    return fclose(f) ? cli_error(VARIA_ERR_IO, "cannot write '%s'", path) : 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The most work one example may ask for: k importance samples through about
 * n_params multiply-adds each. 4e14 is about an hour of one core that does
 * 1e11 multiply-adds a second (AVX-512; more on slower ones): a k that size is
 * a typo or a misunderstanding, and eval shows no progress within an example. */
#define WORK_PER_EXAMPLE 4e14

/* Refuse a k whose single example would run for an hour or more, saying so. */
static int check_work(const varia_info *in, int64_t k)
{
    double per_sample = (double)(in->n_params > 0 ? in->n_params : 1), work = (double)k * per_sample;
    if (work <= WORK_PER_EXAMPLE)
        return 0;
    return cli_error(VARIA_ERR_TOO_LARGE, "--k %lld: each example would take %lld samples through this "
                     "%lld-parameter model, about %.1e multiply-adds: an hour or more per example on one core, "
                     "with no progress shown; at most --k %.0f for this model", (long long)k, (long long)k,
                     (long long)in->n_params, work, floor(WORK_PER_EXAMPLE / per_sample));
}

typedef struct eval_args {
    int64_t k, limit, threads;
    uint64_t seed;
} eval_args;

/* Rank 0 summarises and prints; under MPI the other ranks only compute. */
static int run(varia_ctx *ctx, cli_opt *opts, const char *model_path, const eval_args *a)
{
    varia_model *m = NULL;
    varia_info in;
    varia_dataset d = {0};
    varia_eval_row *rows = NULL;
    float *means = NULL;
    varia_eval_summary s;
    varia_eval_opts eo = {.k = a->k, .seed = a->seed};
    int rc = cli_load_model(ctx, model_path, &m, &in), root = cli_mpi_rank() == 0;
    if (!rc)
        rc = check_work(&in, a->k);
    if (!rc && varia_model_can(m, VARIA_NEEDS_SEQ_LEN)) { /* sequences: their own loader, figures and rows */
        rc = cli_seq_eval(ctx, m, &in, opts, a->limit, &eo);
        varia_model_free(m);
        return rc;
    }
    if (!rc)
        rc = cli_report(ctx, varia_dataset_load(ctx, cli_find(opts, "--data")->value, a->limit, &d));
    if (!rc)
        rc = cli_check_examples(&in, &d, cli_find(opts, "--data")->value);
    int deq = 0;
    if (!rc && !cli_parse_binarize("eval", opts, d.x, d.n * d.example_size, &in, 0.0, &eo.binarize, &deq))
        rc = VARIA_ERR_ARG;
    if (!rc && deq)
        rc = cli_dequantize(&d, a->seed, 0, cli_find(opts, "--data")->value);
    int64_t U = 0;
    for (int l = 0; !rc && l < in.n_stochastic; l++)
        U += in.layer_sizes[l];
    if (!rc && root && (!(rows = malloc((size_t)d.n * sizeof *rows)) || !(means = malloc((size_t)(d.n * U + 1) * sizeof *means))))
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld examples' results", (long long)d.n);
    rc = cli_mpi_agree(rc); /* a rank that could not load or allocate stops them all */
    double t0 = now();
    if (!rc)
        rc = cli_eval_split(ctx, m, &in, &d, &eo, rows, means);
    if (!rc && root)
        rc = cli_report(ctx, varia_eval_summarise(ctx, m, rows, d.n, eo.k, means, &s));
    double secs = now() - t0;
    if (!rc && root && cli_has(opts, "--per-example"))
        rc = write_rows(cli_find(opts, "--per-example")->value, rows, d.n, in.flow_steps > 0);
    if (!rc && root && cli_has(opts, "--json"))
        print_json(&s, &in, cli_binarize_name(eo.binarize, deq), a->seed, (int)a->threads, secs);
    else if (!rc && root)
        print_text(&s, &in, cli_binarize_name(eo.binarize, deq), secs);
    free(rows);
    free(means);
    varia_dataset_free(&d);
    varia_model_free(m);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return fputs(eval_usage, stdout), 0;
    cli_opt opts[] = {{"--data", 0, 1, 0, 0}, {"--k", "-k", 1, 0, 0}, {"--limit", 0, 1, 0, 0},
                      {"--binarize", 0, 1, 0, 0}, {"--seed", 0, 1, 0, 0}, {"--threads", 0, 1, 0, 0},
                      {"--json", 0, 0, 0, 0}, {"--per-example", 0, 1, 0, 0}, {0}};
    const char *pos[1];
    int npos;
    eval_args a = {.k = 5000, .limit = 0, .threads = 0, .seed = 0};
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &npos) || !cli_int(opts, "--k", 1, (int64_t)1 << 32, &a.k) ||
        !cli_int(opts, "--limit", 1, (int64_t)1 << 31, &a.limit) || !cli_u64(opts, "--seed", &a.seed) ||
        !cli_int(opts, "--threads", 0, 1024, &a.threads))
        return VARIA_ERR_ARG;
    if (npos != 1 || !cli_has(opts, "--data"))
        return cli_usage_error("eval", "needs MODEL.json and --data PATH");
    varia_ctx *ctx = varia_ctx_new();
    if (!ctx)
        return VARIA_ERR_NOMEM;
    int rc = cli_report(ctx, varia_ctx_set_threads(ctx, (int)a.threads));
    if (!rc)
        rc = run(ctx, opts, pos[0], &a);
    varia_ctx_free(ctx);
    return rc;
}

/* varia ais: annealed importance sampling of log p(x) through the decoder
 * alone (docs/ais.md), and BDMC bounds on data simulated from the model. */
#include "args.h"
#include "cli_mpi.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *ais_usage =
    "usage: varia ais MODEL.json (--data PATH | --bdmc N) --chains C --steps T\n"
    "                 [--leapfrog L] [--sigma2 S] [--from-encoder] [--skip K] [--limit N] [--seed S]\n"
    "                 [--binarize auto|dynamic|threshold|none|dequantize] [--threads T]\n"
    "                 [--json] [--quiet] [--per-example FILE.csv]\n"
    "  AIS estimate of log p(x) (Wu et al. 2017) from the decoder alone: C chains per\n"
    "  example anneal from the prior to the posterior over T steps of the sigmoid\n"
    "  schedule, one HMC trajectory of L leapfrog steps (default 10) per step. The\n"
    "  estimate is a stochastic lower bound; it is printed with its mean over the\n"
    "  examples, the HMC acceptance and the final step sizes.\n"
    "  --sigma2 S: score under the Gaussian observation model N(x; E[x|z], S I)\n"
    "  instead of the model's own likelihood (what a GAN needs; S > 0).\n"
    "  --skip K --limit N: examples K .. K + N - 1 of PATH, each keyed by its index\n"
    "  in the file, so a long run done in pieces gives the rows of one run.\n"
    "  --per-example FILE.csv: 'index,log_px,accept,step_size' per example.\n"
    "  --from-encoder: AIS+encoder, annealing from the model's posterior q(z|x)\n"
    "  instead of the prior (a VAE of one stochastic layer without a flow).\n"
    "  --bdmc N: simulate N examples from the model instead of reading data, and\n"
    "  report AIS forward (lower bound) and reverse from the true latent (upper\n"
    "  bound) and their gap. --binarize: as 'varia eval' (the same --seed scores\n"
    "  the same binarized images); dequantize: 8-bit data v/255 becomes (v + u)/256,\n"
    "  u ~ U(0, 1) seeded per example by --seed (Wu et al.'s continuous MNIST, as\n"
    "  the trainer's \"binarize\": \"dequantize\"). A progress line goes to stderr\n"
    "  (--quiet: none).\n"
    "  Built with MPI, 'mpirun -n N varia ais ...' splits the examples across the\n"
    "  ranks (with fewer examples than ranks and at least N chains, each example's\n"
    "  chains) and prints the same bytes as one process (but for the time taken);\n"
    "  rank 0 prints, and its progress counts its own block (of the examples).\n";

/* Runs AIS (a) or BDMC (a, b: the lower and upper bounds) on count
 * examples x[count * D] (BDMC: simulated, x unused). */
typedef varia_status (*block_fn)(varia_ctx *ctx, const varia_model *m, const float *x, int64_t count,
                                 const varia_ais_opts *o, varia_ais_row *a, varia_ais_row *b);

static varia_status ais_block(varia_ctx *ctx, const varia_model *m, const float *x, int64_t count,
                              const varia_ais_opts *o, varia_ais_row *a, varia_ais_row *b)
{
    (void)b;
    return varia_ais(ctx, m, x, count, o, a);
}

static varia_status bdmc_block(varia_ctx *ctx, const varia_model *m, const float *x, int64_t count,
                               const varia_ais_opts *o, varia_ais_row *a, varia_ais_row *b)
{
    (void)x;
    return varia_bdmc(ctx, m, count, o, NULL, a, b);
}

/* Fewer examples than ranks (and at least as many chains): every rank runs
 * its part of every example's chains (varia_ais_opts.parts), the parts
 * exchanging through cli_mpi_allgather, and every rank gets the whole rows
 * (a and b on every rank). A rank that fails stops exchanging, so it does
 * not wait for the others' agreement: cli_mpi_end then ends the job. */
static int run_parts(varia_ctx *ctx, const varia_model *m, const float *x, int64_t first, int64_t n, block_fn fn,
                     varia_ais_opts *o, varia_ais_row *a, varia_ais_row *b)
{
    o->first = first; /* x's first example's index in the file */
    o->part = cli_mpi_rank();
    o->parts = cli_mpi_size();
    o->allgather = cli_mpi_allgather;
    o->comm = NULL;
    if (cli_mpi_rank() != 0)
        o->progress = NULL;
    int rc = cli_report(ctx, fn(ctx, m, x, n, o, a, b));
    return rc ? rc : cli_mpi_agree(0);
}

/* This rank's block of n examples run by fn into rows (rank 0: the whole
 * set's array, its block first; two arrays for BDMC's bounds), gathered to
 * rank 0 in example order. Example i's streams are keyed by its index in the
 * whole set (varia_ais_opts.first) and chain c's by c, so rank 0's rows are
 * the bytes one process computes. Returns the exit code agreed by every rank. */
static int run_even(varia_ctx *ctx, const varia_model *m, const float *x, int64_t D, int64_t base, int64_t n,
                    block_fn fn, varia_ais_opts *o, varia_ais_row *a, varia_ais_row *b)
{
    int64_t first, count, unit = (int64_t)sizeof *a;
    int root = cli_mpi_rank() == 0;
    cli_mpi_block(n, cli_mpi_rank(), cli_mpi_size(), &first, &count);
    varia_ais_row *ma = root ? a : malloc((size_t)(count + 1) * sizeof *ma);
    varia_ais_row *mb = !b || root ? b : malloc((size_t)(count + 1) * sizeof *mb);
    int rc = ma && (mb || !b) ? 0 : cli_error(VARIA_ERR_NOMEM, "out of memory for %lld rows", (long long)count);
    o->first = base + first;
    if (!root)
        o->progress = NULL;
    if (!rc && count > 0)
        rc = cli_report(ctx, fn(ctx, m, x ? x + first * D : NULL, count, o, ma, mb));
    rc = cli_mpi_agree(rc);
    if (!rc)
        rc = cli_mpi_gather(ma, a, n, unit);
    if (!rc && b)
        rc = cli_mpi_gather(mb, b, n, unit);
    if (ma != a)
        free(ma);
    if (mb != b)
        free(mb);
    return rc;
}

/* n examples over the ranks: in blocks (run_even); with fewer examples than
 * ranks, every example's chains split (run_parts); and when the blocks
 * would be uneven by more than 5% (5 examples on 4 ranks: one rank takes
 * two), the largest multiple of the ranks in blocks and the rest's chains
 * split, so every rank does about n / ranks examples' work. Either way rank
 * 0 ends with every row, the bytes of one process. x's examples are the set's
 * from o->first on (their streams' keys). */
static int run_blocks(varia_ctx *ctx, const varia_model *m, const float *x, int64_t D, int64_t n, block_fn fn,
                      varia_ais_opts *o, varia_ais_row *a, varia_ais_row *b)
{
    int64_t size = cli_mpi_size(), rest = n % size, even = n - rest, base = o->first;
    if (o->chains < size || !rest)
        return run_even(ctx, m, x, D, base, n, fn, o, a, b);
    if (!even)
        return run_parts(ctx, m, x, base, n, fn, o, a, b);
    if ((double)(even / size + 1) <= 1.05 * (double)n / (double)size)
        return run_even(ctx, m, x, D, base, n, fn, o, a, b);
    void (*progress)(int64_t, int64_t, void *) = o->progress;
    int rc = run_even(ctx, m, x, D, base, even, fn, o, a, b);
    o->progress = progress;
    return rc ? rc
              : run_parts(ctx, m, x ? x + even * D : NULL, base + even, rest, fn, o, a + even, b ? b + even : NULL);
}

typedef struct ais_args {
    int64_t chains, steps, leapfrog, limit, skip, threads, bdmc;
    double sigma2;
    uint64_t seed;
    int quiet, json, from_encoder;
} ais_args;

/* Monotonic seconds. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The progress line: live on a terminal, every tenth otherwise. */
typedef struct view {
    int tty;
    double t0;
    int64_t last_tenth;
} view;

static void progress(int64_t done, int64_t total, void *user)
{
    view *v = user;
    double f = total > 0 ? (double)done / (double)total : 1.0, el = now() - v->t0;
    double eta = f > 0 ? el * (1.0 - f) / f : NAN;
    int64_t tenth = (int64_t)(f * 10.0);
    if (!v->tty && tenth == v->last_tenth)
        return;
    v->last_tenth = tenth;
    fprintf(stderr, "%sais: %5.1f%% (%lld of %lld example-steps), %.0f s, ETA %.0f s%s", v->tty ? "\r" : "",
            100.0 * f, (long long)done, (long long)total, el, isfinite(eta) ? eta : 0.0, v->tty ? " " : "\n");
    if (v->tty && done == total)
        fputc('\n', stderr);
}

/* Mean and standard error of n values v[i * stride]. */
static void mean_se(const double *v, int64_t n, size_t stride, double *mean, double *se)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = v[i * stride];
        s += x, s2 += x * x;
    }
    *mean = s / (double)n;
    double var = n > 1 ? (s2 - (double)n * *mean * *mean) / (double)(n - 1) : 0.0;
    *se = var > 0 ? sqrt(var / (double)n) : 0.0;
}

#define ROW_STRIDE (sizeof(varia_ais_row) / sizeof(double))

/* The JSON object's opening: the run's settings. sigma2 to 7 digits, a
 * float's precision: a manifest's 0.3 is stored as a float and prints as 0.3. */
static void print_common_json(const ais_args *a, const varia_ais_opts *o, int64_t n)
{
    printf("{\"n\": %lld, \"chains\": %lld, \"steps\": %lld, \"leapfrog\": %lld, \"sigma2\": %.7g, \"start\": \"%s\", ",
           (long long)n, (long long)o->chains, (long long)o->steps, (long long)(o->leapfrog ? o->leapfrog : 10),
           a->sigma2, a->from_encoder ? "encoder" : "prior");
}

/* 'index,log_px,accept,step_size' for the n rows, indexed from first. */
static int write_rows(const char *path, const varia_ais_row *rows, int64_t first, int64_t n)
{
    FILE *f = fopen(path, "w");
    int ok = f && fprintf(f, "index,log_px,accept,step_size\n") > 0;
    for (int64_t i = 0; ok && i < n; i++)
        ok = fprintf(f, "%lld,%.17g,%.17g,%.17g\n", (long long)(first + i), rows[i].log_px, rows[i].accept,
                     rows[i].step_size) > 0;
    ok = (f && fclose(f) == 0) && ok;
    return ok ? 0 : cli_error(VARIA_ERR_IO, "cannot write '%s'", path);
}

/* AIS on the dataset's examples. */
static int run_data(varia_ctx *ctx, const varia_model *m, const varia_info *in, cli_opt *opts, const ais_args *a,
                    varia_ais_opts *o)
{
    varia_dataset d = {0};
    const char *path = cli_find(opts, "--data")->value;
    int rc = cli_report(ctx, varia_dataset_load(ctx, path, a->limit ? a->skip + a->limit : 0, &d));
    if (!rc)
        rc = cli_check_examples(in, &d, path);
    if (!rc && a->skip >= d.n)
        rc = cli_error(VARIA_ERR_ARG, "--skip %lld: '%s' has %lld examples", (long long)a->skip, path,
                       (long long)d.n);
    if (!rc && a->skip) { /* the examples from --skip on, each keyed by its index in the file */
        d.n -= a->skip;
        memmove(d.x, d.x + a->skip * d.example_size, (size_t)(d.n * d.example_size) * sizeof *d.x);
    }
    o->first = a->skip;
    int deq = 0;
    if (!rc && !cli_parse_binarize("ais", opts, d.x, d.n * d.example_size, in, a->sigma2, &o->binarize, &deq))
        rc = VARIA_ERR_ARG;
    if (!rc && deq)
        rc = cli_dequantize(&d, a->seed, a->skip, path);
    varia_ais_row *rows = rc ? NULL : malloc((size_t)d.n * sizeof *rows);
    if (!rc && !rows)
        rc = cli_error(VARIA_ERR_NOMEM, "out of memory for %lld examples' results", (long long)d.n);
    rc = cli_mpi_agree(rc);
    double t0 = now();
    if (!rc)
        rc = run_blocks(ctx, m, d.x, d.example_size, d.n, ais_block, o, rows, NULL);
    if (!rc && cli_mpi_rank() != 0) { /* only rank 0 reports */
        free(rows);
        varia_dataset_free(&d);
        return 0;
    }
    double secs = now() - t0, lp, se, acc, acc_se, step, step_se;
    if (!rc && cli_has(opts, "--per-example"))
        rc = write_rows(cli_find(opts, "--per-example")->value, rows, a->skip, d.n);
    if (!rc) {
        mean_se(&rows[0].log_px, d.n, ROW_STRIDE, &lp, &se);
        mean_se(&rows[0].accept, d.n, ROW_STRIDE, &acc, &acc_se);
        mean_se(&rows[0].step_size, d.n, ROW_STRIDE, &step, &step_se);
    }
    if (!rc && a->json) {
        print_common_json(a, o, d.n);
        printf("\"log_px_mean\": %.6f, \"log_px_stderr\": %.6f, \"nll_mean\": %.6f, \"accept_mean\": %.6f, "
               "\"step_size_mean\": %.6g, \"binarize\": \"%s\", \"seed\": %llu, \"threads\": %d, \"seconds\": %.3f}\n",
               lp, se, -lp, acc, step, cli_binarize_name(o->binarize, deq), (unsigned long long)a->seed, (int)a->threads,
               secs);
    } else if (!rc) {
        printf("examples:        %lld (binarization: %s)\n", (long long)d.n, cli_binarize_name(o->binarize, deq));
        printf("AIS log p(x):    %.3f +- %.3f nats  (NLL %.3f; %lld chains, %lld steps, %lld leapfrog%s)\n", lp, se,
               -lp, (long long)o->chains, (long long)o->steps, (long long)(o->leapfrog ? o->leapfrog : 10),
               a->from_encoder ? ", from the encoder" : "");
        if (a->sigma2 > 0)
            printf("observation:     Gaussian, sigma2 %g\n", a->sigma2);
        printf("HMC:             acceptance %.3f, final step size %.4g (mean over examples)\n", acc, step);
        printf("time:            %.2f s\n", secs);
    }
    free(rows);
    varia_dataset_free(&d);
    return rc;
}

/* BDMC on examples simulated from the model: both bounds and their gap. */
static int run_bdmc(varia_ctx *ctx, const varia_model *m, const ais_args *a, varia_ais_opts *o)
{
    int64_t n = a->bdmc;
    varia_ais_row *lo = malloc((size_t)n * sizeof *lo), *up = malloc((size_t)n * sizeof *up);
    double *gap = malloc((size_t)n * sizeof *gap);
    int rc = lo && up && gap ? 0 : cli_error(VARIA_ERR_NOMEM, "out of memory for %lld examples' results", (long long)n);
    rc = cli_mpi_agree(rc);
    double t0 = now();
    if (!rc)
        rc = run_blocks(ctx, m, NULL, 0, n, bdmc_block, o, lo, up);
    if (!rc && cli_mpi_rank() != 0) { /* only rank 0 reports */
        free(lo);
        free(up);
        free(gap);
        return 0;
    }
    double secs = now() - t0, l, lse, u, use, g, gse, gmax = -INFINITY, af, afse, ar, arse;
    if (!rc) {
        for (int64_t i = 0; i < n; i++) {
            gap[i] = up[i].log_px - lo[i].log_px;
            gmax = gap[i] > gmax ? gap[i] : gmax;
        }
        mean_se(&lo[0].log_px, n, ROW_STRIDE, &l, &lse);
        mean_se(&up[0].log_px, n, ROW_STRIDE, &u, &use);
        mean_se(gap, n, 1, &g, &gse);
        mean_se(&lo[0].accept, n, ROW_STRIDE, &af, &afse);
        mean_se(&up[0].accept, n, ROW_STRIDE, &ar, &arse);
    }
    if (!rc && a->json) {
        print_common_json(a, o, n);
        printf("\"bdmc\": true, \"lower_mean\": %.6f, \"upper_mean\": %.6f, \"gap_mean\": %.6f, \"gap_stderr\": %.6f, "
               "\"gap_max\": %.6f, \"accept_forward\": %.6f, \"accept_reverse\": %.6f, \"seed\": %llu, "
               "\"threads\": %d, \"seconds\": %.3f}\n",
               l, u, g, gse, gmax, af, ar, (unsigned long long)a->seed, (int)a->threads, secs);
    } else if (!rc) {
        printf("examples:        %lld simulated from the model (seed %llu)\n", (long long)n,
               (unsigned long long)a->seed);
        printf("lower (forward): %.3f +- %.3f nats\n", l, lse);
        printf("upper (reverse): %.3f +- %.3f nats\n", u, use);
        printf("gap:             %.3f +- %.3f nats (largest %.3f; %lld chains, %lld steps)\n", g, gse, gmax,
               (long long)o->chains, (long long)o->steps);
        printf("HMC acceptance:  %.3f forward, %.3f reverse\n", af, ar);
        printf("time:            %.2f s\n", secs);
    }
    free(lo);
    free(up);
    free(gap);
    return rc;
}

/* The command line into *a and *model; the exit code of a usage error, else 0. */
static int parse(int argc, char **argv, cli_opt *opts, const char **model, ais_args *a)
{
    const char *pos[1];
    int npos;
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &npos) || !cli_int(opts, "--chains", 1, 4096, &a->chains) ||
        !cli_int(opts, "--steps", 1, 10000000, &a->steps) || !cli_int(opts, "--leapfrog", 1, 1000, &a->leapfrog) ||
        !cli_int(opts, "--limit", 1, (int64_t)1 << 31, &a->limit) ||
        !cli_int(opts, "--skip", 0, (int64_t)1 << 31, &a->skip) ||
        !cli_int(opts, "--bdmc", 1, (int64_t)1 << 31, &a->bdmc) ||
        !cli_u64(opts, "--seed", &a->seed) || !cli_int(opts, "--threads", 0, 1024, &a->threads) ||
        !cli_float(opts, "--sigma2", 1e-30, 1e30, &a->sigma2))
        return VARIA_ERR_ARG;
    if (npos != 1 || !cli_has(opts, "--chains") || !cli_has(opts, "--steps"))
        return cli_usage_error("ais", "needs MODEL.json, --chains C and --steps T");
    if (cli_has(opts, "--data") == cli_has(opts, "--bdmc"))
        return cli_usage_error("ais", "needs --data PATH or --bdmc N (one of them)");
    if (cli_has(opts, "--bdmc") && (cli_has(opts, "--limit") || cli_has(opts, "--binarize") ||
                                    cli_has(opts, "--skip") || cli_has(opts, "--per-example")))
        return cli_usage_error("ais", "--bdmc simulates its data: --limit, --skip, --binarize and --per-example do "
                               "not apply");
    a->quiet = cli_has(opts, "--quiet");
    a->from_encoder = cli_has(opts, "--from-encoder");
    a->json = cli_has(opts, "--json");
    *model = pos[0];
    return 0;
}

int cmd_ais(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return fputs(ais_usage, stdout), 0;
    cli_opt opts[] = {{"--data", 0, 1, 0, 0},     {"--chains", 0, 1, 0, 0},   {"--steps", 0, 1, 0, 0},
                      {"--leapfrog", 0, 1, 0, 0}, {"--sigma2", 0, 1, 0, 0},   {"--bdmc", 0, 1, 0, 0},
                      {"--limit", 0, 1, 0, 0},    {"--seed", 0, 1, 0, 0},     {"--binarize", 0, 1, 0, 0},
                      {"--threads", 0, 1, 0, 0},  {"--json", 0, 0, 0, 0},     {"--quiet", "-q", 0, 0, 0},
                      {"--from-encoder", 0, 0, 0, 0}, {"--skip", 0, 1, 0, 0},
                      {"--per-example", 0, 1, 0, 0}, {0}};
    ais_args a = {.leapfrog = 10};
    const char *model = NULL;
    int rc = parse(argc, argv, opts, &model, &a);
    if (rc)
        return rc;
    varia_ctx *ctx = varia_ctx_new();
    if (!ctx)
        return VARIA_ERR_NOMEM;
    varia_model *m = NULL;
    varia_info in;
    view v = {isatty(2), now(), -1};
    varia_ais_opts o = {.size = sizeof o, .start = a.from_encoder ? VARIA_AIS_FROM_ENCODER : VARIA_AIS_FROM_PRIOR,
                        .chains = a.chains, .steps = a.steps, .leapfrog = a.leapfrog,
                        .sigma2 = a.sigma2, .seed = a.seed, .progress = a.quiet ? NULL : progress, .user = &v};
    rc = cli_report(ctx, varia_ctx_set_threads(ctx, (int)a.threads));
    if (!rc)
        rc = cli_load_model(ctx, model, &m, &in);
    if (!rc && a.sigma2 == 0.0) /* report the variance used: the manifest's, if it has one */
        a.sigma2 = o.sigma2 = in.obs_var;
    if (!rc)
        rc = a.bdmc ? run_bdmc(ctx, m, &a, &o) : run_data(ctx, m, &in, opts, &a, &o);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

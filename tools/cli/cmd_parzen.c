/* varia parzen: the Parzen-window estimate of log p(x), labelled as what it
 * is: a figure for comparison with old papers, not a likelihood. */
#include "args.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *parzen_usage =
    "usage: varia parzen MODEL.json --data PATH [--limit N] [--samples S] [--sigma SIGMA |\n"
    "                    --select PATH [--select-limit M]] [--dequantize] [--seed S] [--json]\n"
    "  Parzen-window (kernel density) estimate of log p(x) from S model samples\n"
    "  (default 10000), Goodfellow et al.'s protocol: SIGMA is given, or chosen as\n"
    "  the best of logspace(-1, 0, 10) on the first M (default 1000) examples of\n"
    "  the --select data. NOT a likelihood: it can be off by hundreds of nats and\n"
    "  misorder models (Theis et al. 2015); use it only beside published Parzen\n"
    "  figures, and 'varia ais' to score a model. --dequantize: 8-bit data v/255\n"
    "  becomes (v + u)/256, u ~ U(0, 1) seeded per example (continuous MNIST).\n";

/* Mean and standard error of log p over the n examples of d at sigma. */
static int score(varia_ctx *ctx, const varia_model *m, const varia_dataset *d, varia_parzen_opts *po,
                 double *mean, double *se)
{
    double *lp = malloc((size_t)(d->n + 1) * sizeof *lp);
    if (!lp)
        return cli_error(VARIA_ERR_NOMEM, "out of memory for %lld examples", (long long)d->n);
    int rc = cli_report(ctx, varia_parzen(ctx, m, d->x, d->n, po, lp));
    double s = 0.0, ss = 0.0;
    for (int64_t i = 0; !rc && i < d->n; i++)
        s += lp[i], ss += lp[i] * lp[i];
    *mean = s / (double)d->n;
    *se = d->n > 1 ? sqrt(fmax(ss / (double)d->n - *mean * *mean, 0.0) / (double)(d->n - 1)) : 0.0;
    free(lp);
    return rc;
}

/* --select: the sigma of logspace(-1, 0, 10) with the best mean on sel. */
static int select_sigma(varia_ctx *ctx, const varia_model *m, const varia_dataset *sel, varia_parzen_opts *po,
                        int json)
{
    double best = -INFINITY, best_sigma = 0.0, mean, se;
    for (int i = 0; i < 10; i++) {
        po->sigma = pow(10.0, -1.0 + (double)i / 9.0);
        int rc = score(ctx, m, sel, po, &mean, &se);
        if (rc)
            return rc;
        if (!json)
            printf("  sigma %.4f: %.3f on the selection data\n", po->sigma, mean);
        if (mean > best)
            best = mean, best_sigma = po->sigma;
    }
    po->sigma = best_sigma;
    return 0;
}

/* A dataset, dequantized when asked. */
static int load(varia_ctx *ctx, const varia_info *in, const char *path, int64_t limit, int deq, uint64_t seed,
                varia_dataset *d)
{
    int rc = cli_report(ctx, varia_dataset_load(ctx, path, limit, d));
    if (!rc)
        rc = cli_check_examples(in, d, path);
    if (!rc && deq)
        rc = cli_dequantize(d, seed, 0, path);
    return rc;
}

int cmd_parzen(int argc, char **argv)
{
    if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
        return fputs(parzen_usage, stdout), 0;
    cli_opt opts[] = {{"--data", 0, 1, 0, 0}, {"--limit", 0, 1, 0, 0}, {"--samples", 0, 1, 0, 0},
                      {"--sigma", 0, 1, 0, 0}, {"--select", 0, 1, 0, 0}, {"--select-limit", 0, 1, 0, 0},
                      {"--dequantize", 0, 0, 0, 0}, {"--seed", 0, 1, 0, 0}, {"--json", 0, 0, 0, 0}, {0}};
    const char *pos[1];
    int npos = 0;
    int64_t limit = 0, sel_limit = 1000;
    varia_parzen_opts po = {10000, 0.0, 0};
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &npos) || !cli_int(opts, "--limit", 0, INT32_MAX, &limit) ||
        !cli_int(opts, "--samples", 1, 1000000, &po.samples) || !cli_float(opts, "--sigma", 1e-6, 1e6, &po.sigma) ||
        !cli_int(opts, "--select-limit", 1, INT32_MAX, &sel_limit) || !cli_u64(opts, "--seed", &po.seed))
        return VARIA_ERR_ARG;
    if (npos != 1 || !cli_has(opts, "--data") || cli_has(opts, "--sigma") == cli_has(opts, "--select"))
        return cli_usage_error("parzen", "give MODEL.json, --data, and one of --sigma or --select");
    int json = cli_has(opts, "--json"), deq = cli_has(opts, "--dequantize");
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_info in;
    varia_dataset d = {0}, sel = {0};
    double mean = 0.0, se = 0.0;
    int rc = ctx ? cli_load_model(ctx, pos[0], &m, &in) : VARIA_ERR_NOMEM;
    if (!rc && cli_has(opts, "--select")) /* its own seed stream: the selection data is another set */
        rc = load(ctx, &in, cli_find(opts, "--select")->value, sel_limit, deq, po.seed ^ 0x5e1ec7ULL, &sel);
    if (!rc && cli_has(opts, "--select"))
        rc = select_sigma(ctx, m, &sel, &po, json);
    if (!rc)
        rc = load(ctx, &in, cli_find(opts, "--data")->value, limit, deq, po.seed, &d);
    if (!rc)
        rc = score(ctx, m, &d, &po, &mean, &se);
    if (!rc && json)
        printf("{\"estimator\": \"parzen\", \"n\": %lld, \"samples\": %lld, \"sigma\": %.6g, \"log_px_mean\": %.6f, "
               "\"log_px_stderr\": %.6f, \"dequantized\": %s, \"seed\": %llu}\n", (long long)d.n,
               (long long)po.samples, po.sigma, mean, se, deq ? "true" : "false", (unsigned long long)po.seed);
    else if (!rc)
        printf("Parzen-window estimate (not a likelihood; for comparison with old papers):\n"
               "  mean log p(x) %.3f +- %.3f nats over %lld examples, %lld samples, sigma %.4f\n", mean, se,
               (long long)d.n, (long long)po.samples, po.sigma);
    varia_dataset_free(&d);
    varia_dataset_free(&sel);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

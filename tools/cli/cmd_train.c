/* varia train: learn a model from a configuration file (docs/training.md),
 * with a live progress line, checkpoints and a final JSON report. Built only
 * with the training module (meson option "train"). */
#include "args.h"
#include "cli_mpi.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef VARIA_HAVE_TRAIN
#include "varia_train.h"

static const char *train_usage =
    "usage: varia train CONFIG.json [--resume] [--threads T] [--stop-after E] [--quiet]\n"
    "  Train the model CONFIG describes (docs/training.md) and write it to the\n"
    "  configured output directory: model.json + model.safetensors (the best\n"
    "  weights by validation bound), and checkpoint/ after every checkpoint.\n"
    "  --resume       continue from output/checkpoint (the same CONFIG)\n"
    "  --threads T    worker threads (default: all cores; results never depend on it)\n"
    "  --stop-after E stop after E epochs of this run, as an interruption would\n"
    "  Built with MPI (meson -Dmpi=enabled), 'mpirun -n N varia train ...' runs\n"
    "  the minibatch's shards on N ranks (N must divide \"shards\"): the same\n"
    "  weights as one process, bit for bit; rank 0 prints and writes.\n";

static void fmt_time(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "?");
    else if (s >= 3600)
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

typedef struct view {
    int tty, quiet;
} view;

/* What the objective line says: the ELBO's terms, or a GAN's two objectives. */
static void terms(const varia_train_progress *p, char *buf, size_t cap)
{
    if (p->adversarial && !isnan(p->gradient_penalty))
        snprintf(buf, cap, "D %.4f (GP %.4f)  G %.4f", p->d_objective, p->gradient_penalty, p->g_objective);
    else if (p->adversarial)
        snprintf(buf, cap, "D %.4f  G %.4f", p->d_objective, p->g_objective);
    else
        snprintf(buf, cap, "obj %.3f  elbo %.3f (rec %.3f, kl %.3f)", p->objective, p->elbo, p->recon, p->kl);
}

static void progress(const varia_train_progress *p, void *user)
{
    const view *v = user;
    char eta[32], what[128];
    if (v->quiet)
        return;
    fmt_time(p->eta_s, eta, sizeof eta);
    terms(p, what, sizeof what);
    if (!p->epoch_done) {
        if (v->tty)
            fprintf(stderr, "\repoch %lld/%lld %6.1f%%  %7.0f ex/s  ETA %s  %s  lr %.2e ",
                    (long long)p->epoch, (long long)p->epochs, 100.0 * (double)p->examples_done / (double)p->epoch_size,
                    p->examples_per_s, eta, what, p->lr);
        return;
    }
    fprintf(stderr, "%sepoch %lld/%lld  %.0f ex/s  ETA %s  %s  lr %.2e", v->tty ? "\r" : "", (long long)p->epoch,
            (long long)p->epochs, p->examples_per_s, eta, what, p->lr);
    if (isfinite(p->val_bound))
        fprintf(stderr, "  valid %.3f (best %.3f @%lld)", p->val_bound, p->best_val_bound, (long long)p->best_epoch);
    fprintf(stderr, "\n");
}

int cmd_train(int argc, char **argv)
{
    cli_opt opts[] = {{"--resume", NULL, 0, NULL, 0}, {"--threads", "-t", 1, NULL, 0},
                      {"--stop-after", NULL, 1, NULL, 0}, {"--quiet", "-q", 0, NULL, 0},
                      {"--help", "-h", 0, NULL, 0}, {0}};
    const char *pos[1];
    int npos = 0;
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &npos))
        return VARIA_ERR_ARG;
    if (cli_has(opts, "--help")) {
        fputs(train_usage, stdout);
        return 0;
    }
    if (npos != 1)
        return cli_usage_error("train", "expected one CONFIG.json\n%s", train_usage);
    int64_t threads = 0, stop = 0;
    if (!cli_int(opts, "--threads", 0, 1024, &threads) || !cli_int(opts, "--stop-after", 1, INT32_MAX, &stop))
        return VARIA_ERR_ARG;
    varia_ctx *ctx = varia_ctx_new();
    if (!ctx)
        return cli_error(VARIA_ERR_NOMEM, "out of memory");
    varia_train_opts o = {(int)threads, cli_has(opts, "--resume"), stop};
    /* Under MPI only rank 0 shows progress and the report; every rank runs. */
    int root = cli_mpi_rank() == 0;
    view v = {isatty(2), cli_has(opts, "--quiet") || !root};
    varia_trainer *t = NULL;
    varia_train_comm comm;
    int job = cli_mpi_train_comm(&comm);
    /* Opening can fail on one rank alone (its memory, its files): agree
     * before the first step, whose exchanges every rank must join. */
    int rc = cli_report(ctx, varia_train_open_comm(ctx, pos[0], &o, job ? &comm : NULL, &t));
    rc = cli_mpi_agree(rc);
    if (!rc)
        rc = cli_report(ctx, varia_train_run(ctx, t, progress, &v));
    if (!rc && root)
        printf("%s\n", varia_train_report(t));
    varia_train_close(t);
    varia_ctx_free(ctx);
    return rc;
}

#else

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error(VARIA_ERR_UNSUPPORTED, "this varia was built without the training module "
                     "(meson configure -Dtrain=enabled)");
}

#endif

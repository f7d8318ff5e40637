/* varia: the command-line front end. Exit codes are varia_status values. */
#include "args.h"
#include "cli_mpi.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: varia COMMAND [ARGS]   (varia COMMAND --help for details)\n"
    "commands:\n"
    "  info         MODEL.json                      family, shapes, size, provenance\n"
    "  sample       MODEL.json -n N --seed S -o F.png   samples from the prior\n"
    "  interpolate  MODEL.json A B --steps N [--slerp] -o F.png\n"
    "  encode       MODEL.json INPUT                posterior mean and log-variance\n"
    "  invert       MODEL.json --data PATH [--limit N] [--json]   a GAN inverted: MSE, log p(z*) + log p(x|z*)\n"
    "  decode       MODEL.json z:v1,... -o F.png\n"
    "  reconstruct  MODEL.json --data PATH -o F.png\n"
    "  eval         MODEL.json --data PATH [--k K] [--json]   log p(x), ELBO, ...\n"
    "  ais          MODEL.json (--data PATH | --bdmc N) --chains C --steps T   AIS log p(x), BDMC\n"
    "  train        CONFIG.json [--resume]          learn a model (docs/training.md)\n"
    "  parzen       MODEL.json --data PATH --select V   Parzen window (old papers' figure, not a likelihood)\n"
    "commands that read MODEL.json take --allow-outside-weights: let the manifest name a weights\n"
    "  file outside its folder (an absolute path or one with \"..\"), refused by default\n"
    "exit codes: 0 success, 2 bad arguments, other values name the failure (see varia.h)\n";

int main(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"info", cmd_info}, {"sample", cmd_sample}, {"interpolate", cmd_interpolate}, {"encode", cmd_encode},
        {"decode", cmd_decode}, {"reconstruct", cmd_reconstruct}, {"eval", cmd_eval}, {"ais", cmd_ais},
        {"train", cmd_train}, {"parzen", cmd_parzen}, {"invert", cmd_invert}};
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? VARIA_ERR_ARG : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("varia %d.%d\n", VARIA_VERSION_MAJOR, VARIA_VERSION_MINOR);
        return 0;
    }
    /* Only eval, ais and train split their work across the ranks of an MPI
     * job; any other command started as N ranks would do its whole work N times. */
    int parallel = !strcmp(argv[1], "eval") || !strcmp(argv[1], "ais") || !strcmp(argv[1], "train");
    const char *ranks = getenv("OMPI_COMM_WORLD_SIZE");
    if (!parallel && ranks && atoi(ranks) > 1) {
        fprintf(stderr, "varia: %s does not run as %s MPI ranks (only eval, ais and train do)\n", argv[1], ranks);
        return VARIA_ERR_UNSUPPORTED;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            int rc = parallel ? cli_mpi_start(&argc, &argv) : 0;
            if (rc)
                return rc;
            return cli_mpi_end(cmds[i].fn(argc, argv));
        }
    fprintf(stderr, "varia: unknown command '%s'\n%s", argv[1], usage);
    return VARIA_ERR_ARG;
}

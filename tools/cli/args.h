/* The CLI's option parsing and the helpers its commands share. */
#ifndef VARIA_CLI_ARGS_H
#define VARIA_CLI_ARGS_H

#include "varia.h"

#include <stdint.h>

typedef struct cli_opt {
    const char *name;  /* "--seed" */
    const char *alias; /* "-s" or NULL */
    int takes_value;
    const char *value; /* set by cli_parse */
    int present;
} cli_opt;

/* Parse argv[first..argc) against opts (terminated by a zero entry); the rest
 * are positionals (at most max_pos). Every command but train also takes
 * --allow-outside-weights (for cli_load_model). Prints the problem and
 * returns 0 on error. */
int cli_parse(int argc, char **argv, int first, cli_opt *opts, const char **pos, int max_pos, int *npos);
cli_opt *cli_find(cli_opt *opts, const char *name);
int cli_has(cli_opt *opts, const char *name);
/* Numeric option values with ranges; absent options keep *out. 0 on error. */
int cli_int(cli_opt *opts, const char *name, int64_t lo, int64_t hi, int64_t *out);
int cli_u64(cli_opt *opts, const char *name, uint64_t *out);
int cli_float(cli_opt *opts, const char *name, double lo, double hi, double *out);

/* Print "varia: NAME: message" for a failed call and return the status. */
int cli_report(varia_ctx *ctx, varia_status st);
/* Print "varia: NAME: formatted message" and return st. */
int cli_error(varia_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a usage problem and return VARIA_ERR_ARG. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The helpers below print their own errors and return the exit code. */
/* Load a model (printing load warnings); with --allow-outside-weights its
 * manifest may name weights outside its folder. */
int cli_load_model(varia_ctx *ctx, const char *path, varia_model **m, varia_info *info);
/* One input example into x[data_size]: a PNG file, or DATASET:INDEX. */
int cli_load_example(varia_ctx *ctx, const varia_info *info, const char *spec, float *x);
/* A dataset's examples must fit the model: the same size, and the same image
 * geometry when both have one (28x28 images of a [1,28,28] model, not 14x56). */
int cli_check_examples(const varia_info *info, const varia_dataset *d, const char *path);
/* Dequantize 8-bit data in place: each value v / 255 becomes (v + u) / 256,
 * u ~ U(0, 1) from a stream keyed by (seed, example), d's example i being
 * example first + i of its file: continuous data whose density is comparable
 * across models (Wu et al. 2017), the same noise whatever part of the file is
 * read. Values not of the form v / 255 are refused, naming the file. */
int cli_dequantize(varia_dataset *d, uint64_t seed, int64_t first, const char *path);
/* A latent "z:v1,v2,..." into z[L]. */
int cli_parse_latent(const char *spec, int64_t L, float *z);
/* Padding between the tiles of every grid the CLI writes. */
#define CLI_GRID_PAD 2
/* Refuse, before any work, a grid of n examples that cli_write_grid could not
 * write (too large, or a shape that is no image); `what` names the work
 * spared in the message ("sampling"). */
int cli_check_grid(varia_ctx *ctx, int64_t n, const varia_shape *shape, int cols, const char *what);
/* Tile n examples into a PNG grid with `cols` columns. */
int cli_write_grid(varia_ctx *ctx, const char *path, const float *x, int64_t n, const varia_shape *shape, int cols);

#endif

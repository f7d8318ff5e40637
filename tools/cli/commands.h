/* The CLI's subcommands; each returns the process exit code (a varia_status). */
#ifndef VARIA_CLI_COMMANDS_H
#define VARIA_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_reconstruct(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_ais(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_parzen(int argc, char **argv);

/* Sequence models (cmd_seq.c), each printing its errors and returning the exit code. */
#include "varia.h"
/* n sequences x[n * T * F] as piano rolls (time on x, pitch up; one roll per sequence, stacked) in a PNG. */
int cli_seq_write_rolls(varia_ctx *ctx, const char *path, const float *x, int64_t n, int64_t T, int64_t F);
/* varia sample --length T: n sequences drawn and written as piano rolls to path. */
int cli_seq_sample(varia_ctx *ctx, const varia_model *m, const varia_info *in, int64_t n, int64_t T, uint64_t seed,
                   double temp, const char *path);
/* varia eval of a sequence model: every example of d is T = example size / frame size frames
 * (IDX images as rows: 28 frames of 28); the per-step figures beside the per-sequence ones. */
int cli_seq_eval(varia_ctx *ctx, const varia_model *m, const varia_info *in, const varia_dataset *d,
                 const varia_eval_opts *eo, const char *path, int json);

#endif

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
int cmd_invert(int argc, char **argv);

/* Sequence models (cmd_seq.c), each printing its errors and returning the exit code. */
#include "varia.h"
/* n sequences x[n * T * F] as piano rolls (time on x, pitch up; one roll per sequence, stacked) in a PNG. */
int cli_seq_write_rolls(varia_ctx *ctx, const char *path, const float *x, int64_t n, int64_t T, int64_t F);
/* varia sample --length T: n sequences drawn (seed, temperature temp) and
 * written to path as kind says (a cli_out_kind of npy_out.h, which the caller
 * has checked): piano rolls in a PNG, the frames as a .npy [n, T, F], or a
 * MIDI file (refused unless frames are 88 notes). Returns the exit code. */
int cli_seq_sample(varia_ctx *ctx, const varia_model *m, const varia_info *in, int64_t n, int64_t T, uint64_t seed,
                   double temp, const char *path, int kind);
/* varia reconstruct of a sequence model: the first n sequences of path
 * (varia_seqset_load), each above its reconstruction, as piano rolls in out. */
int cli_seq_reconstruct(varia_ctx *ctx, const varia_model *m, const varia_info *in, const char *path, int64_t n,
                        const char *out);
/* varia eval of a sequence model on --data (varia_seqset_load: an .npz of x and lengths, an
 * .npy [n, T, F], or images as rows), the first `limit` sequences (0: all), padded to the
 * longest with each one's length: the per-step figures beside the per-sequence ones. */
struct cli_opt;
int cli_seq_eval(varia_ctx *ctx, const varia_model *m, const varia_info *in, struct cli_opt *opts, int64_t limit,
                 varia_eval_opts *eo);
/* varia eval's scoring of d's examples under MPI (eval_split.c; one rank
 * outside a job): rows[n] and means[n * U] (U: the stochastic units; both
 * rank 0's alone, NULL on the others) filled on rank 0 with the bytes one
 * process computes. Examples are split into blocks across ranks, or, with
 * fewer examples than ranks, their chunks of samples are. Returns the exit
 * code (every rank's agreed one, or rank 0's after gathering). */
int cli_eval_split(varia_ctx *ctx, const varia_model *m, const varia_info *in, const varia_dataset *d,
                   const varia_eval_opts *eo, varia_eval_row *rows, float *means);
/* --binarize of command cmd (cmd_eval.c) over the count values x: auto is
 * dynamic for a Bernoulli model scored by its own likelihood (sigma2 0) whose
 * data are not all 0/1, else none. "dequantize" gives none and sets *deq (the
 * caller then dequantizes the data: cli_dequantize); deq NULL refuses it
 * (sequences). Returns 1, or 0 after printing a usage error. */
int cli_parse_binarize(const char *cmd, struct cli_opt *opts, const float *x, int64_t count, const varia_info *in,
                       double sigma2, varia_binarize *b, int *deq);
/* The word --binarize takes for b, "dequantize" when deq. */
const char *cli_binarize_name(varia_binarize b, int deq);

#endif

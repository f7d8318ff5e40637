/* The CLI's float outputs: E[x|z] written as a NumPy .npy array instead of a
 * PNG when the output's name ends in .npy (varia sample, interpolate, decode),
 * and the check that an output's name is one the command can write. */
#ifndef VARIA_CLI_NPY_OUT_H
#define VARIA_CLI_NPY_OUT_H

#include "varia.h"

#include <stdint.h>

/* What an output's name asks for (its extension, any case). */
typedef enum cli_out_kind {
    CLI_OUT_PNG = 1,  /* .png: an image grid, or piano rolls */
    CLI_OUT_NPY = 2,  /* .npy: the floats themselves */
    CLI_OUT_MIDI = 4  /* .mid or .midi: sequences of 88-note frames */
} cli_out_kind;

/* The kind of output path names, if it is one of the kinds in `allowed` (a
 * mask of cli_out_kind); otherwise prints a usage error of command cmd naming
 * the extensions it takes and returns 0 (the caller exits with
 * VARIA_ERR_ARG). Checked before any work is done. */
int cli_out_kind_of(const char *cmd, const char *path, int allowed);

/* Write the float32 array x, of shape dims[0] x ... x dims[rank - 1] in C
 * order (rank 1 to 8, every dimension at least 1), to path as a .npy file
 * (format version 1.0, descr '<f4' or '>f4' as the machine stores floats,
 * fortran_order False, the header padded to 64 bytes as numpy does). Returns
 * 0, or the exit code after printing the error (VARIA_ERR_IO: the file could
 * not be written, naming it; VARIA_ERR_ARG: a rank out of range). x is only
 * read. */
int cli_write_npy(const char *path, const float *x, int rank, const int64_t *dims);

/* The n examples x[n * shape's size] as a .npy of shape [n, shape...]:
 * cli_write_npy with n in front of an example's shape. */
int cli_write_examples_npy(const char *path, const float *x, int64_t n, const varia_shape *shape);

#endif

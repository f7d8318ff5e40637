/* Internal: read a whole file that may be gzip-compressed. zlib's gzread passes
 * plain files through unchanged, so callers never need to know which it is. */
#ifndef VARIA_GZFILE_H
#define VARIA_GZFILE_H

#include "varia.h"

#include <stddef.h>
#include <stdint.h>

/* Default cap on the decompressed size: a tiny .gz can expand without bound
 * (decompression bomb), so we stop reading past this many bytes. */
#define VARIA_GZ_MAX_BYTES ((size_t)1 << 30)

/* Read all of `path` (gzip or plain) into a fresh malloc'd buffer.
 * On success *data (free it; may be NULL when *len == 0) and *len are set.
 * Failures: VARIA_ERR_IO (cannot open/read), VARIA_ERR_DATASET (corrupt or
 * truncated gzip stream), VARIA_ERR_TOO_LARGE (more than cap bytes after
 * decompression), VARIA_ERR_NOMEM. On failure *data is NULL. */
varia_status varia_read_whole_file(varia_ctx *ctx, const char *path, size_t cap,
                                   uint8_t **data, size_t *len);

/* Open `path` for reading without blocking and refuse anything but a regular
 * file: a FIFO or device named by an untrusted manifest must not hang or
 * stream forever. Returns the descriptor, or -1 with VARIA_ERR_IO recorded
 * (what names the file's role in the message, e.g. "weights"). */
int varia_open_regular(varia_ctx *ctx, const char *path, const char *what);

/* 1 when `path` names something stat() can see, else 0. */
int varia_path_exists(const char *path);

#endif

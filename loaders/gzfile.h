/* Internal: read a file that may be gzip-compressed, whole or piece by piece.
 * zlib's gzread passes plain files through unchanged, so callers never need to
 * know which it is. */
#ifndef VARIA_GZFILE_H
#define VARIA_GZFILE_H

#include "file.h"
#include "varia.h"

#include <stddef.h>
#include <stdint.h>

/* Default cap on the decompressed size: a tiny .gz can expand without bound
 * (decompression bomb), so we stop reading past this many bytes. */
#define VARIA_GZ_MAX_BYTES ((size_t)1 << 30)

/* A file (gzip or plain) open for reading piece by piece. */
typedef struct varia_gz varia_gz;

/* Open `path` (a regular file; see varia_open_regular). *out is NULL on
 * failure (VARIA_ERR_IO, VARIA_ERR_NOMEM); close it with varia_gz_close. The
 * stream keeps the pointer `path` for messages: it must outlive the stream. */
varia_status varia_gz_open(varia_ctx *ctx, const char *path, varia_gz **out);
void varia_gz_close(varia_gz *s);

/* Read the next `want` bytes into buf. *got < want only at the end of the
 * stream (not an error: the caller knows what it expected). Failures:
 * VARIA_ERR_DATASET (corrupt gzip), VARIA_ERR_IO, VARIA_ERR_NOMEM. */
varia_status varia_gz_read(varia_ctx *ctx, varia_gz *s, void *buf, size_t want, size_t *got);

/* The rest of the stream in a fresh malloc'd buffer, after `head_len` bytes of
 * `head` already read from it (copied to the front): until the end, or, with
 * lines > 0, as soon as the buffer holds that many newlines (a text reader
 * limited to n lines inflates no further). More than cap bytes in all is
 * VARIA_ERR_TOO_LARGE. On failure *data is NULL; otherwise free it. */
varia_status varia_gz_read_rest(varia_ctx *ctx, varia_gz *s, const uint8_t *head, size_t head_len,
                                size_t cap, int64_t lines, uint8_t **data, size_t *len);

/* Read all of `path` (gzip or plain) into a fresh malloc'd buffer.
 * On success *data (free it; may be NULL when *len == 0) and *len are set.
 * Failures: VARIA_ERR_IO (cannot open/read), VARIA_ERR_DATASET (corrupt or
 * truncated gzip stream), VARIA_ERR_TOO_LARGE (more than cap bytes after
 * decompression), VARIA_ERR_NOMEM. On failure *data is NULL. */
varia_status varia_read_whole_file(varia_ctx *ctx, const char *path, size_t cap,
                                   uint8_t **data, size_t *len);

#endif

/* Internal: opening the files a manifest names, with no compression library:
 * what the model loader needs, apart from gzfile.h's zlib readers, so that a
 * build without the dataset readers (meson -Ddatasets=false, the WebAssembly
 * build) still loads models from files. */
#ifndef VARIA_FILE_H
#define VARIA_FILE_H

#include "varia.h"

/* Open `path` for reading without blocking and refuse anything but a regular
 * file: a FIFO or device named by an untrusted manifest must not hang or
 * stream forever. Returns the descriptor, or -1 with VARIA_ERR_IO recorded
 * (what names the file's role in the message, e.g. "weights"). */
int varia_open_regular(varia_ctx *ctx, const char *path, const char *what);

/* 1 when `path` names something stat() can see, else 0. */
int varia_path_exists(const char *path);

#endif

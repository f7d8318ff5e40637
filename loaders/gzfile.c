/* Whole-file reader over zlib's gz* API: transparent for plain files, bounded
 * for gzip so that a decompression bomb fails cleanly instead of eating RAM. */
#include "gzfile.h"

#include "ctx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Reads larger than this go in several gzread calls: gzread takes an unsigned
 * count but returns an int, so a single call must stay below INT_MAX. */
#define GZ_CHUNK ((size_t)1 << 24)

int varia_path_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0;
}

/* Make room for at least one more byte, doubling (up to cap + 1 so that we can
 * tell "exactly cap" from "more than cap"). */
static varia_status grow(varia_ctx *ctx, uint8_t **buf, size_t *alloc, size_t cap)
{
    size_t want = *alloc ? *alloc * 2 : (size_t)1 << 16;
    if (*alloc > (SIZE_MAX >> 1) || want > cap + 1)
        want = cap + 1;
    uint8_t *p = realloc(*buf, want);
    if (!p)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory growing a %zu-byte read buffer",
                          want);
    *buf = p;
    *alloc = want;
    return VARIA_OK;
}

/* After the read loop: a gzip stream that was corrupt or cut short leaves an
 * error on the handle even when gzread itself returned 0. */
static varia_status stream_status(varia_ctx *ctx, gzFile gz, const char *path)
{
    int err = Z_OK;
    const char *msg = gzerror(gz, &err);
    if (err == Z_OK)
        return VARIA_OK;
    if (err == Z_ERRNO)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    if (err == Z_MEM_ERROR)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory decompressing '%s'", path);
    /* zlib prefixes its message with "path: "; drop that, we name the file ourselves. */
    size_t plen = strlen(path);
    if (msg && strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        msg += plen + 2;
    return varia_fail(ctx, VARIA_ERR_DATASET, "corrupt gzip stream in '%s': %s", path,
                      msg ? msg : "unknown zlib error");
}

/* The read loop proper: fills *buf until EOF, error, or more than cap bytes. */
static varia_status read_loop(varia_ctx *ctx, gzFile gz, const char *path, size_t cap,
                              uint8_t **buf, size_t *used)
{
    size_t alloc = 0;
    for (;;) {
        if (*used == alloc) {
            if (alloc > cap)
                return varia_fail(ctx, VARIA_ERR_TOO_LARGE,
                                  "'%s' decompresses to more than %zu bytes (safety cap)",
                                  path, cap);
            varia_status s = grow(ctx, buf, &alloc, cap);
            if (s != VARIA_OK)
                return s;
        }
        size_t room = alloc - *used;
        int got = gzread(gz, *buf + *used, (unsigned)(room < GZ_CHUNK ? room : GZ_CHUNK));
        if (got < 0)
            return stream_status(ctx, gz, path);
        if (got == 0)
            return stream_status(ctx, gz, path);
        *used += (size_t)got;
    }
}

int varia_open_regular(varia_ctx *ctx, const char *path, const char *what)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        varia_fail(ctx, VARIA_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        varia_fail(ctx, VARIA_ERR_IO, "%s '%s' is not a regular file", what, path);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* ordinary reads from here on */
    return fd;
}

varia_status varia_read_whole_file(varia_ctx *ctx, const char *path, size_t cap,
                                   uint8_t **data, size_t *len)
{
    if (!path || !data || !len)
        return varia_fail(ctx, VARIA_ERR_ARG, "read_whole_file: null argument");
    *data = NULL;
    *len = 0;
    int fd = varia_open_regular(ctx, path, "file");
    if (fd < 0)
        return VARIA_ERR_IO;
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot open '%s': out of memory", path);
    }
    gzbuffer(gz, 1u << 17); /* bigger than the 8 KiB default: fewer syscalls */
    uint8_t *buf = NULL;
    size_t used = 0;
    varia_status s = read_loop(ctx, gz, path, cap, &buf, &used);
    gzclose(gz);
    if (s != VARIA_OK) {
        free(buf);
        return s;
    }
    *data = buf;
    *len = used;
    return VARIA_OK;
}

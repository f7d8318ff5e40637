/* Reading files that may be gzip-compressed, over zlib's gz* API: transparent
 * for plain files, and bounded for gzip so that a decompression bomb fails
 * cleanly instead of eating RAM. Readers inflate only what they need: a
 * stream is read piece by piece (a format whose header declares its length
 * asks for exactly that much), and a whole-file read stops at a cap or after
 * the lines the caller asked for. */
#include "gzfile.h"
#include "file.h"

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

struct varia_gz {
    gzFile gz;
    const char *path; /* the caller's string, for messages */
};

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

/* After a short read: a gzip stream that was corrupt or cut short leaves an
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

varia_status varia_gz_open(varia_ctx *ctx, const char *path, varia_gz **out)
{
    if (!path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_gz_open: null argument");
    *out = NULL;
    int fd = varia_open_regular(ctx, path, "file");
    if (fd < 0)
        return VARIA_ERR_IO;
    varia_gz *s = malloc(sizeof *s);
    gzFile gz = s ? gzdopen(fd, "rb") : NULL;
    if (!gz) {
        free(s);
        close(fd);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot open '%s': out of memory", path);
    }
    gzbuffer(gz, 1u << 17); /* bigger than the 8 KiB default: fewer syscalls */
    s->gz = gz;
    s->path = path;
    *out = s;
    return VARIA_OK;
}

void varia_gz_close(varia_gz *s)
{
    if (!s)
        return;
    gzclose(s->gz);
    free(s);
}

varia_status varia_gz_read(varia_ctx *ctx, varia_gz *s, void *buf, size_t want, size_t *got)
{
    *got = 0;
    while (*got < want) {
        size_t room = want - *got;
        int n = gzread(s->gz, (uint8_t *)buf + *got, (unsigned)(room < GZ_CHUNK ? room : GZ_CHUNK));
        if (n <= 0)
            return stream_status(ctx, s->gz, s->path);
        *got += (size_t)n;
    }
    return VARIA_OK;
}

/* Newline bytes in [p, p + n). */
static int64_t count_lines(const uint8_t *p, size_t n)
{
    int64_t k = 0;
    for (const uint8_t *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

/* The read loop proper: fills *buf (holding *used bytes in *alloc) until the
 * end of the stream, an error, more than cap bytes, or `lines` newlines. */
static varia_status read_loop(varia_ctx *ctx, varia_gz *s, size_t cap, int64_t lines, uint8_t **buf,
                              size_t *used, size_t alloc)
{
    int64_t seen = lines > 0 ? count_lines(*buf, *used) : 0;
    while (lines <= 0 || seen < lines) {
        if (*used == alloc) {
            if (alloc > cap)
                return varia_fail(ctx, VARIA_ERR_TOO_LARGE,
                                  "'%s' decompresses to more than %zu bytes (safety cap)",
                                  s->path, cap);
            varia_status st = grow(ctx, buf, &alloc, cap);
            if (st != VARIA_OK)
                return st;
        }
        size_t room = alloc - *used;
        int got = gzread(s->gz, *buf + *used, (unsigned)(room < GZ_CHUNK ? room : GZ_CHUNK));
        if (got <= 0)
            return stream_status(ctx, s->gz, s->path);
        if (lines > 0)
            seen += count_lines(*buf + *used, (size_t)got);
        *used += (size_t)got;
    }
    return VARIA_OK;
}

varia_status varia_gz_read_rest(varia_ctx *ctx, varia_gz *s, const uint8_t *head, size_t head_len,
                                size_t cap, int64_t lines, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (head_len > cap)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "'%s' decompresses to more than %zu bytes "
                          "(safety cap)", s->path, cap);
    size_t alloc = head_len > ((size_t)1 << 16) ? head_len : (size_t)1 << 16;
    uint8_t *buf = malloc(alloc < cap + 1 ? alloc : cap + 1);
    if (!buf)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory reading '%s'", s->path);
    if (head_len)
        memcpy(buf, head, head_len);
    size_t used = head_len;
    varia_status st = read_loop(ctx, s, cap, lines, &buf, &used, alloc < cap + 1 ? alloc : cap + 1);
    if (st != VARIA_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = used;
    return VARIA_OK;
}

varia_status varia_read_whole_file(varia_ctx *ctx, const char *path, size_t cap,
                                   uint8_t **data, size_t *len)
{
    if (!path || !data || !len)
        return varia_fail(ctx, VARIA_ERR_ARG, "read_whole_file: null argument");
    *data = NULL;
    *len = 0;
    varia_gz *s = NULL;
    varia_status st = varia_gz_open(ctx, path, &s);
    if (st == VARIA_OK)
        st = varia_gz_read_rest(ctx, s, NULL, 0, cap, 0, data, len);
    varia_gz_close(s);
    return st;
}

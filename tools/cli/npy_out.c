/* The CLI's .npy writer (numpy.lib.format 1.0: the magic "\x93NUMPY", the
 * version bytes 1 0, a little-endian u16 header length, then the header, a
 * Python dict literal padded with spaces and ended by a newline so that the
 * data start at a multiple of 64 bytes, then the elements in C order). The
 * library reads .npy (loaders/npy.c) but has no reason to write it: writing
 * is the command's business, so it lives here. Only float32 arrays. */
#include "npy_out.h"

#include "args.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NPY_OUT_MAX_RANK 8
#define NPY_OUT_ALIGN 64 /* numpy pads its headers so the data are 64-byte aligned */

/* path ends in ext (which starts with the dot), any case. */
static int ends_in(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

int cli_out_kind_of(const char *cmd, const char *path, int allowed)
{
    int kind = ends_in(path, ".png") ? CLI_OUT_PNG
             : ends_in(path, ".npy") ? CLI_OUT_NPY
             : ends_in(path, ".mid") || ends_in(path, ".midi") ? CLI_OUT_MIDI : 0;
    if (kind & allowed)
        return kind;
    char list[64] = "";
    static const char *const names[] = {".png", ".npy", ".mid"};
    for (int i = 0, first = 1; i < 3; i++)
        if (allowed & (1 << i)) {
            strcat(list, first ? "" : (allowed >> (i + 1)) ? ", " : " or ");
            strcat(list, names[i]);
            first = 0;
        }
    return cli_usage_error(cmd, "-o '%s': the output's name must end in %s%s", path, list,
                           kind ? " for this model" : ""), 0;
}

/* The header text (dict, padding, newline) for dims[rank] into buf[cap];
 * returns its length, a multiple of NPY_OUT_ALIGN less the 10 bytes before
 * it, or 0 when it does not fit. */
static size_t header(char *buf, size_t cap, int rank, const int64_t *dims)
{
    const float one = 1.0f;
    unsigned char b0;
    memcpy(&b0, &one, 1); /* 1.0f is 00 00 80 3f little-endian: first byte 0 */
    int len = snprintf(buf, cap, "{'descr': '%cf4', 'fortran_order': False, 'shape': (", b0 == 0 ? '<' : '>');
    for (int i = 0; i < rank && len > 0 && (size_t)len < cap; i++)
        len += snprintf(buf + len, cap - (size_t)len, "%lld%s", (long long)dims[i], rank == 1 ? "," : i + 1 < rank ? ", " : "");
    if (len > 0 && (size_t)len < cap)
        len += snprintf(buf + len, cap - (size_t)len, "), }");
    size_t total = ((size_t)len + 10 + 1 + NPY_OUT_ALIGN - 1) / NPY_OUT_ALIGN * NPY_OUT_ALIGN - 10;
    if (len <= 0 || total > cap)
        return 0;
    memset(buf + len, ' ', total - 1 - (size_t)len);
    buf[total - 1] = '\n';
    return total;
}

int cli_write_npy(const char *path, const float *x, int rank, const int64_t *dims)
{
    if (rank < 1 || rank > NPY_OUT_MAX_RANK)
        return cli_error(VARIA_ERR_ARG, "a .npy of rank %d (1 to %d)", rank, NPY_OUT_MAX_RANK);
    char h[512];
    size_t hlen = header(h, sizeof h, rank, dims), count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)dims[i];
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    FILE *f = hlen ? fopen(path, "wb") : NULL;
    int ok = f && fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(h, 1, hlen, f) == hlen &&
             fwrite(x, sizeof *x, count, f) == count;
    ok = (f && fclose(f) == 0) && ok;
    return ok ? 0 : cli_error(VARIA_ERR_IO, "cannot write '%s'", path);
}

int cli_write_examples_npy(const char *path, const float *x, int64_t n, const varia_shape *shape)
{
    int64_t dims[1 + VARIA_MAX_RANK] = {n};
    for (int i = 0; i < shape->rank; i++)
        dims[1 + i] = shape->dims[i];
    return cli_write_npy(path, x, 1 + shape->rank, dims);
}

/* PNG read/write through libpng, and tiling examples into an image grid.
 *
 * libpng reports errors by longjmp. Each function that calls setjmp keeps all of
 * its mutable state in a caller-owned struct (png_io), reached through a pointer
 * parameter it never reassigns, so nothing it needs after a longjmp is an
 * indeterminate automatic variable (C11 7.13.2.1). The caller frees whatever the
 * struct holds, on success and failure alike. */
#include "ctx.h"
#include "gzfile.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Safety caps, checked before any pixel buffer is allocated. */
#define PNG_MAX_SIDE 16384
#define PNG_MAX_PIXELS ((int64_t)1 << 26)

typedef struct png_io {
    FILE *fp;
    png_structp png;
    png_infop info;
    uint8_t *pixels;  /* decoded image (read) */
    png_bytep *rows;  /* row pointers into pixels (read) */
    int width, height, channels;
    unsigned long long offset; /* bytes consumed so far (read), for messages */
    char err[256];    /* last libpng error message */
} png_io;

/* libpng error callback: remember the message, unwind to the setjmp. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    png_io *io = png_get_error_ptr(png);
    snprintf(io->err, sizeof io->err, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings are dropped: the library never prints. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* libpng read callback: like the default one, but a short read says where the
 * file ended instead of a bare "Read Error". */
static void on_png_read(png_structp png, png_bytep data, size_t len)
{
    png_io *io = png_get_io_ptr(png);
    size_t got = fread(data, 1, len, io->fp);
    io->offset += got;
    if (got != len) {
        char msg[128];
        snprintf(msg, sizeof msg, ferror(io->fp) ? "read error at byte %llu"
                                                 : "truncated: file ends at byte %llu",
                 io->offset);
        png_error(png, msg); /* on_png_error copies msg before unwinding */
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Is a declared size within the caps? Shared by read, write and grid. */
static int size_ok(int64_t w, int64_t h)
{
    return w <= PNG_MAX_SIDE && h <= PNG_MAX_SIDE && w * h <= PNG_MAX_PIXELS;
}

/* Peek at the signature and IHDR ourselves, so an absurd declared size is
 * VARIA_ERR_TOO_LARGE before libpng allocates anything (libpng's own limits
 * would report it as a generic error), then rewind for libpng. */
static varia_status check_header(varia_ctx *ctx, const char *path, FILE *fp)
{
    uint8_t h[33]; /* 8 signature + 4 length + 4 type + 13 IHDR data + 4 CRC */
    size_t got = fread(h, 1, sizeof h, fp);
    if (ferror(fp))
        return varia_fail(ctx, VARIA_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    if (got < 8 || png_sig_cmp(h, 0, 8) != 0)
        return varia_fail(ctx, VARIA_ERR_PNG, "'%s' is not a PNG file (bad signature)", path);
    if (got < sizeof h)
        return varia_fail(ctx, VARIA_ERR_PNG, "'%s': truncated PNG (%zu bytes, IHDR incomplete)",
                          path, got);
    if (be32(h + 8) != 13 || memcmp(h + 12, "IHDR", 4) != 0)
        return varia_fail(ctx, VARIA_ERR_PNG, "'%s': first chunk (byte 12) is not a valid IHDR",
                          path);
    uint32_t w = be32(h + 16), ht = be32(h + 20);
    if (w == 0 || ht == 0)
        return varia_fail(ctx, VARIA_ERR_PNG, "'%s': IHDR declares a zero size (%ux%u)", path,
                          (unsigned)w, (unsigned)ht);
    if (!size_ok(w, ht))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE,
                          "'%s': IHDR declares %ux%u pixels; cap is %d per side and %lld total",
                          path, (unsigned)w, (unsigned)ht, PNG_MAX_SIDE,
                          (long long)PNG_MAX_PIXELS);
    if (fseek(fp, 0, SEEK_SET) != 0)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot seek '%s': %s", path, strerror(errno));
    return VARIA_OK;
}

/* Ask libpng for 8-bit gray or RGB whatever the stored format; returns the
 * channel count we will get. Alpha (including tRNS) is stripped, not blended. */
static int set_transforms(png_structp png, png_infop info)
{
    int type = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (depth == 16)
        png_set_scale_16(png); /* rounds, unlike strip_16 which truncates */
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if ((type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return (type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
}

/* Allocate the pixel buffer and row pointers (sizes already capped). */
static varia_status alloc_pixels(varia_ctx *ctx, png_io *io)
{
    size_t stride = (size_t)io->width * (size_t)io->channels;
    io->pixels = malloc(stride * (size_t)io->height);
    io->rows = malloc(sizeof *io->rows * (size_t)io->height);
    if (!io->pixels || !io->rows)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory for a %dx%d image",
                          io->width, io->height);
    for (int y = 0; y < io->height; y++)
        io->rows[y] = io->pixels + (size_t)y * stride;
    return VARIA_OK;
}

/* The libpng part of reading. Contains the setjmp; see the comment at the top. */
static varia_status decode(varia_ctx *ctx, const char *path, png_io *io)
{
    io->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, io, on_png_error, on_png_warning);
    if (!io->png || !(io->info = png_create_info_struct(io->png)))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot create libpng reader for '%s'", path);
    if (setjmp(png_jmpbuf(io->png)))
        return varia_fail(ctx, VARIA_ERR_PNG, "'%s': %s", path, io->err);
    png_set_read_fn(io->png, io, on_png_read);
    png_set_user_limits(io->png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    /* Skip every optional chunk (tRNS is still read): libpng 1.6 allocates a
     * text or profile chunk's declared length before reading it, so a 46-byte
     * file could make it ask for a gigabyte. */
    png_set_keep_unknown_chunks(io->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(io->png, io->info);
    io->width = (int)png_get_image_width(io->png, io->info);
    io->height = (int)png_get_image_height(io->png, io->info);
    io->channels = set_transforms(io->png, io->info);
    if (!size_ok(io->width, io->height) ||
        png_get_rowbytes(io->png, io->info) != (size_t)io->width * (size_t)io->channels)
        return varia_fail(ctx, VARIA_ERR_PNG, "'%s': unsupported pixel layout", path);
    varia_status s = alloc_pixels(ctx, io);
    if (s != VARIA_OK)
        return s;
    png_read_image(io->png, io->rows);
    png_read_end(io->png, NULL); /* checks the trailing chunks' CRCs and IEND */
    return VARIA_OK;
}

varia_status varia_png_read(varia_ctx *ctx, const char *path, varia_image *out)
{
    if (!path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_png_read: null path or output");
    memset(out, 0, sizeof *out);
    png_io io;
    memset(&io, 0, sizeof io);
    int fd = varia_open_regular(ctx, path, "PNG");
    if (fd < 0)
        return VARIA_ERR_IO;
    if (!(io.fp = fdopen(fd, "rb"))) {
        close(fd);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot open '%s': out of memory", path);
    }
    varia_status s = check_header(ctx, path, io.fp);
    if (s == VARIA_OK)
        s = decode(ctx, path, &io);
    if (io.png)
        png_destroy_read_struct(&io.png, io.info ? &io.info : NULL, NULL);
    fclose(io.fp);
    free(io.rows);
    if (s != VARIA_OK) {
        free(io.pixels);
        return s;
    }
    out->width = io.width;
    out->height = io.height;
    out->channels = io.channels;
    out->pixels = io.pixels;
    return VARIA_OK;
}

/* Row loop kept out of encode() so no loop counter lives across its setjmp. */
static void write_rows(png_structp png, const varia_image *img)
{
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * stride);
}

/* The libpng part of writing. Inputs are validated, so a libpng error here is
 * almost always a failed write (disk full...): reported as VARIA_ERR_IO. */
static varia_status encode(varia_ctx *ctx, const char *path, const varia_image *img,
                           png_io *io)
{
    io->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, io, on_png_error, on_png_warning);
    if (!io->png || !(io->info = png_create_info_struct(io->png)))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot create libpng writer for '%s'", path);
    if (setjmp(png_jmpbuf(io->png)))
        return varia_fail(ctx, VARIA_ERR_IO, "writing PNG '%s': %s", path, io->err);
    png_init_io(io->png, io->fp);
    png_set_IHDR(io->png, io->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(io->png, io->info);
    write_rows(io->png, img);
    png_write_end(io->png, NULL);
    return VARIA_OK;
}

static varia_status check_image(varia_ctx *ctx, const varia_image *img)
{
    if (!img || !img->pixels)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_png_write: null image or pixels");
    if (img->channels != 1 && img->channels != 3)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_png_write: channels must be 1 or 3, got %d",
                          img->channels);
    if (img->width <= 0 || img->height <= 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_png_write: bad size %dx%d", img->width,
                          img->height);
    if (!size_ok(img->width, img->height))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "varia_png_write: %dx%d exceeds the size cap",
                          img->width, img->height);
    return VARIA_OK;
}

varia_status varia_png_write(varia_ctx *ctx, const char *path, const varia_image *img)
{
    if (!path)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_png_write: null path");
    varia_status s = check_image(ctx, img);
    if (s != VARIA_OK)
        return s;
    png_io io;
    memset(&io, 0, sizeof io);
    io.fp = fopen(path, "wb");
    if (!io.fp)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    s = encode(ctx, path, img, &io);
    if (io.png)
        png_destroy_write_struct(&io.png, io.info ? &io.info : NULL);
    /* fclose flushes: a failure there is a lost write too. */
    if ((fflush(io.fp) != 0 || ferror(io.fp)) && s == VARIA_OK)
        s = varia_fail(ctx, VARIA_ERR_IO, "writing '%s': %s", path, strerror(errno));
    if (fclose(io.fp) != 0 && s == VARIA_OK)
        s = varia_fail(ctx, VARIA_ERR_IO, "closing '%s': %s", path, strerror(errno));
    if (s != VARIA_OK)
        remove(path); /* do not leave a half-written PNG behind */
    return s;
}

void varia_image_free(varia_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ---- Grid ---------------------------------------------------------------- */

/* One tile's geometry: [C,H,W] with C in {1,3}, [H,W] (gray, as [1,H,W]), or
 * [D] with D a perfect square (shown as a sqrt(D) x sqrt(D) gray image). */
static varia_status tile_shape(varia_ctx *ctx, const varia_shape *shape, int *c, int *h,
                               int *w)
{
    if (shape->rank == 3 || shape->rank == 2) {
        int64_t d[3] = {1, shape->dims[0], shape->dims[1]};
        if (shape->rank == 3)
            d[0] = shape->dims[0], d[1] = shape->dims[1], d[2] = shape->dims[2];
        if (d[0] != 1 && d[0] != 3)
            return varia_fail(ctx, VARIA_ERR_SHAPE, "image grid: channels must be 1 or 3, got %lld",
                              (long long)d[0]);
        if (d[1] <= 0 || d[2] <= 0 || !size_ok(d[2], d[1]))
            return varia_fail(ctx, VARIA_ERR_SHAPE, "image grid: bad tile size %lldx%lld",
                              (long long)d[1], (long long)d[2]);
        *c = (int)d[0], *h = (int)d[1], *w = (int)d[2];
        return VARIA_OK;
    }
    if (shape->rank == 1 && shape->dims[0] > 0 && shape->dims[0] <= PNG_MAX_PIXELS) {
        int64_t s = 0;
        while ((s + 1) * (s + 1) <= shape->dims[0])
            s++;
        if (s * s == shape->dims[0]) {
            *c = 1, *h = (int)s, *w = (int)s;
            return VARIA_OK;
        }
    }
    return varia_fail(ctx, VARIA_ERR_SHAPE,
                      "image grid: shape must be [C,H,W] (C = 1 or 3), [H,W] or [D] with D a perfect "
                      "square");
}

/* [0,1] float -> byte, rounding half up. NaN maps to 0. */
static uint8_t to_byte(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* Copy example `x` (channel-major) into the interleaved grid at (x0, y0). */
static void blit(varia_image *g, const float *x, int c, int h, int w, int64_t x0, int64_t y0)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                size_t at = ((size_t)(y0 + y) * (size_t)g->width + (size_t)(x0 + xx)) * (size_t)c;
                g->pixels[at + (size_t)ch] = to_byte(x[((size_t)ch * h + y) * w + xx]);
            }
}

static varia_status grid_args(varia_ctx *ctx, const float *x, int64_t n, const varia_shape *shape,
                              int cols, int pad, float pad_value, varia_image *out)
{
    if (!x || !shape || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "image grid: null argument");
    if (n < 1 || cols < 1 || pad < 0)
        return varia_fail(ctx, VARIA_ERR_ARG, "image grid: need n >= 1, cols >= 1, pad >= 0 "
                          "(got n=%lld cols=%d pad=%d)", (long long)n, cols, pad);
    if (!(pad_value >= 0.0f && pad_value <= 1.0f))
        return varia_fail(ctx, VARIA_ERR_ARG, "image grid: pad_value must be in [0,1], got %g",
                          (double)pad_value);
    if (cols > PNG_MAX_SIDE || pad > PNG_MAX_SIDE || n > PNG_MAX_PIXELS)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "image grid: n=%lld cols=%d pad=%d exceed caps",
                          (long long)n, cols, pad);
    return VARIA_OK;
}

varia_status varia_image_grid_size(varia_ctx *ctx, int64_t n, const varia_shape *shape, int cols, int pad,
                                   int *width, int *height)
{
    static const float dummy = 0.0f; /* grid_args wants examples; none are read here */
    varia_image unused;
    varia_status s = grid_args(ctx, &dummy, n, shape, cols, pad, 0.0f, &unused);
    int c = 0, h = 0, w = 0;
    if (s == VARIA_OK)
        s = tile_shape(ctx, shape, &c, &h, &w);
    if (s != VARIA_OK)
        return s;
    /* Every factor is capped at 2^26 or below, so these int64 products cannot overflow. */
    int64_t rows = (n + cols - 1) / cols;
    int64_t gw = (int64_t)cols * w + (int64_t)(cols + 1) * pad;
    int64_t gh = rows * h + (rows + 1) * pad;
    if (!size_ok(gw, gh))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "image grid: %lld examples in %d columns make "
                          "%lldx%lld pixels, over the cap (%d per side, %lld in all)", (long long)n,
                          cols, (long long)gw, (long long)gh, PNG_MAX_SIDE, (long long)PNG_MAX_PIXELS);
    if (width)
        *width = (int)gw;
    if (height)
        *height = (int)gh;
    return VARIA_OK;
}

varia_status varia_image_grid(varia_ctx *ctx, const float *x, int64_t n, const varia_shape *shape,
                              int cols, int pad, float pad_value, varia_image *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    varia_status s = grid_args(ctx, x, n, shape, cols, pad, pad_value, out);
    int c = 0, h = 0, w = 0, gw = 0, gh = 0;
    if (s == VARIA_OK)
        s = varia_image_grid_size(ctx, n, shape, cols, pad, &gw, &gh);
    if (s == VARIA_OK)
        s = tile_shape(ctx, shape, &c, &h, &w);
    if (s != VARIA_OK)
        return s;
    out->pixels = malloc((size_t)gw * (size_t)gh * (size_t)c);
    if (!out->pixels)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "image grid: out of memory");
    out->width = gw, out->height = gh, out->channels = c;
    memset(out->pixels, to_byte(pad_value), (size_t)gw * (size_t)gh * (size_t)c); /* pad and empty cells */
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    for (int64_t i = 0; i < n; i++)
        blit(out, x + (size_t)i * per, c, h, w, pad + (i % cols) * (w + pad),
             pad + (i / cols) * (h + pad));
    return VARIA_OK;
}

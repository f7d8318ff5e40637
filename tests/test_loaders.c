/* Tests for the loaders: PNG read/write, image grid, datasets (IDX, .amat,
 * PNG folders), gzip handling. TAP-style output; exits nonzero on failure.
 * Env: VARIA_SHARED_DATA (data dir) or VARIA_SOURCE_ROOT (then
 * ROOT/../shared/data) enables the real-data checks; skipped otherwise.
 * VARIA_TEST_VERBOSE=1 also prints the message of every expected failure. */
#include "varia.h"
#include "../loaders/gzfile.h"

#include <dirent.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int n_run, n_fail;
static char tmpdir[256];
static varia_ctx *ctx;

static void report(int ok, const char *name)
{
    n_run++;
    n_fail += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", n_run, name);
}

static void skip(const char *name, const char *why)
{
    n_run++;
    printf("ok %d - %s # SKIP %s\n", n_run, name, why);
}

/* Status check with a diagnostic; `what` names the step. */
static int expect(varia_status got, varia_status want, const char *what)
{
    if (got == want && want != VARIA_OK && getenv("VARIA_TEST_VERBOSE"))
        printf("#   %s -> %s: %s\n", what, varia_status_name(got), varia_ctx_message(ctx));
    if (got == want)
        return 1;
    printf("# %s: got %s (%s), want %s\n", what, varia_status_name(got),
           varia_ctx_message(ctx), varia_status_name(want));
    return 0;
}

/* Like expect, and the message must contain `needle`. */
static int expect_msg(varia_status got, varia_status want, const char *needle, const char *what)
{
    if (!expect(got, want, what))
        return 0;
    if (strstr(varia_ctx_message(ctx), needle))
        return 1;
    printf("# %s: message '%s' lacks '%s'\n", what, varia_ctx_message(ctx), needle);
    return 0;
}

static int check(int cond, const char *what)
{
    if (!cond)
        printf("# failed: %s\n", what);
    return cond;
}

/* tmpdir/name in one of a few rotating buffers. */
static const char *tp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t put = fwrite(data, 1, len, f);
    return (fclose(f) == 0) & (put == len);
}

static int write_gz(const char *path, const void *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    if (!g)
        return 0;
    int put = len ? gzwrite(g, data, (unsigned)len) : 0;
    return (gzclose(g) == Z_OK) & (put == (int)len);
}

/* Whole file into a malloc'd buffer (test helper, plain files only). */
static uint8_t *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* ---- PNG ----------------------------------------------------------------- */

static int roundtrip(int w, int h, int c, const char *name)
{
    varia_image img = {w, h, c, malloc((size_t)(w * h * c))}, back = {0};
    for (int i = 0; i < w * h * c; i++)
        img.pixels[i] = (uint8_t)(i * 37 + 11);
    int ok = expect(varia_png_write(ctx, tp(name), &img), VARIA_OK, "write") &&
             expect(varia_png_read(ctx, tp(name), &back), VARIA_OK, "read") &&
             check(back.width == w && back.height == h && back.channels == c, "size") &&
             check(memcmp(back.pixels, img.pixels, (size_t)(w * h * c)) == 0, "pixels");
    free(img.pixels);
    varia_image_free(&back);
    return ok;
}

/* Write a PNG in any libpng format (to test read-side conversions). */
static int raw_png(const char *path, int w, int h, int type, int depth, int interlace,
                   const uint8_t *data, size_t stride, const png_color *pal, int npal,
                   const png_byte *trns, int ntrns)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, npal);
    if (trns)
        png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    if (depth == 16)
        png_set_swap(png); /* our test data is little-endian uint16 */
    png_bytep rows[64];
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)(data + (size_t)y * stride);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

/* Read `path` and compare with the expected 8-bit result. */
static int read_is(const char *path, int w, int h, int c, const uint8_t *want)
{
    varia_image img = {0};
    int ok = expect(varia_png_read(ctx, path, &img), VARIA_OK, path) &&
             check(img.width == w && img.height == h && img.channels == c, "size/channels") &&
             check(memcmp(img.pixels, want, (size_t)(w * h * c)) == 0, "converted pixels");
    varia_image_free(&img);
    return ok;
}

static int test_png_formats(void)
{
    /* 16-bit RGBA 2x1: v*257 scales back to v exactly; alpha stripped. */
    uint16_t rgba16[8] = {10 * 257, 20 * 257, 30 * 257, 0, 250 * 257, 0, 7 * 257, 65535};
    uint8_t want_rgb[6] = {10, 20, 30, 250, 0, 7};
    /* palette with tRNS, 3x1 */
    png_color pal[2] = {{10, 20, 30}, {200, 100, 50}};
    png_byte trns[2] = {0, 128};
    uint8_t idx[3] = {1, 0, 1}, want_pal[9] = {200, 100, 50, 10, 20, 30, 200, 100, 50};
    /* gray+alpha 8-bit 2x1, 1-bit gray 8x1, 16-bit gray 2x1 */
    uint8_t ga[4] = {77, 1, 199, 255}, want_ga[2] = {77, 199};
    uint8_t bits[1] = {0xA5}, want_bits[8] = {255, 0, 255, 0, 0, 255, 0, 255};
    uint16_t g16[2] = {0, 65535};
    uint8_t want_g16[2] = {0, 255};
    /* interlaced RGB 5x5 */
    uint8_t il[75];
    for (int i = 0; i < 75; i++)
        il[i] = (uint8_t)(i * 3);
    return raw_png(tp("rgba16.png"), 2, 1, PNG_COLOR_TYPE_RGBA, 16, 0, (uint8_t *)rgba16, 16,
                   NULL, 0, NULL, 0) &&
           read_is(tp("rgba16.png"), 2, 1, 3, want_rgb) &&
           raw_png(tp("pal.png"), 3, 1, PNG_COLOR_TYPE_PALETTE, 8, 0, idx, 3, pal, 2, trns, 2) &&
           read_is(tp("pal.png"), 3, 1, 3, want_pal) &&
           raw_png(tp("ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, 4, NULL, 0, NULL,
                   0) &&
           read_is(tp("ga.png"), 2, 1, 1, want_ga) &&
           raw_png(tp("bits.png"), 8, 1, PNG_COLOR_TYPE_GRAY, 1, 0, bits, 1, NULL, 0, NULL, 0) &&
           read_is(tp("bits.png"), 8, 1, 1, want_bits) &&
           raw_png(tp("g16.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 16, 0, (uint8_t *)g16, 4, NULL, 0,
                   NULL, 0) &&
           read_is(tp("g16.png"), 2, 1, 1, want_g16) &&
           raw_png(tp("il.png"), 5, 5, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, il, 15,
                   NULL, 0, NULL, 0) &&
           read_is(tp("il.png"), 5, 5, 3, il);
}

/* A 16x16 RGB PNG of pseudo-random pixels (incompressible, so the IDAT is big). */
static int noisy_png(const char *path)
{
    varia_image img = {16, 16, 3, malloc(768)};
    uint32_t r = 12345;
    for (int i = 0; i < 768; i++)
        img.pixels[i] = (uint8_t)((r = r * 1103515245u + 12345u) >> 16);
    int ok = expect(varia_png_write(ctx, path, &img), VARIA_OK, "write noisy");
    free(img.pixels);
    return ok;
}

static int test_png_truncated(void)
{
    size_t len = 0;
    if (!noisy_png(tp("noisy.png")))
        return 0;
    uint8_t *b = read_bytes(tp("noisy.png"), &len);
    varia_image img = {0};
    int ok = check(b && len > 200, "noisy size") &&
             write_bytes(tp("half.png"), b, len / 2) &&
             expect(varia_png_read(ctx, tp("half.png"), &img), VARIA_ERR_PNG, "half") &&
             check(img.pixels == NULL, "no pixels on error") &&
             write_bytes(tp("short.png"), b, 20) &&
             expect(varia_png_read(ctx, tp("short.png"), &img), VARIA_ERR_PNG, "20 bytes") &&
             write_bytes(tp("noend.png"), b, len - 12) && /* IEND chunk cut off */
             expect(varia_png_read(ctx, tp("noend.png"), &img), VARIA_ERR_PNG, "no IEND");
    if (ok) {
        b[len / 2] ^= 0x55; /* corrupt the IDAT: CRC mismatch */
        ok = write_bytes(tp("crc.png"), b, len) &&
             expect(varia_png_read(ctx, tp("crc.png"), &img), VARIA_ERR_PNG, "bad crc");
    }
    free(b);
    return ok;
}

static int test_png_not_png(void)
{
    varia_image img = {0};
    return write_bytes(tp("text.png"), "hello, this is not a png file at all", 36) &&
           expect_msg(varia_png_read(ctx, tp("text.png"), &img), VARIA_ERR_PNG, "signature",
                      "text") &&
           write_bytes(tp("empty.png"), "", 0) &&
           expect(varia_png_read(ctx, tp("empty.png"), &img), VARIA_ERR_PNG, "empty") &&
           expect(varia_png_read(ctx, tp("missing.png"), &img), VARIA_ERR_IO, "missing");
}

/* Signature + IHDR (valid CRC) + IEND, declaring w x h. */
static int ihdr_png(const char *path, uint32_t w, uint32_t h)
{
    uint8_t b[57] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    b[24] = 8, b[25] = 2; /* 8-bit RGB, compression/filter/interlace 0 */
    put_be32(b + 29, (uint32_t)crc32(0, b + 12, 17));
    put_be32(b + 33, 0); /* an empty IDAT would be invalid anyway; go to IEND */
    memcpy(b + 37, "IEND", 4);
    put_be32(b + 41, (uint32_t)crc32(0, b + 37, 4));
    return write_bytes(path, b, 45);
}

static int test_png_huge(void)
{
    varia_image img = {0};
    return ihdr_png(tp("wide.png"), 1000000, 1) &&
           expect_msg(varia_png_read(ctx, tp("wide.png"), &img), VARIA_ERR_TOO_LARGE, "1000000",
                      "1e6 wide") &&
           ihdr_png(tp("square.png"), 16384, 16384) &&
           expect(varia_png_read(ctx, tp("square.png"), &img), VARIA_ERR_TOO_LARGE, "2^28 px") &&
           ihdr_png(tp("zero.png"), 0, 5) &&
           expect(varia_png_read(ctx, tp("zero.png"), &img), VARIA_ERR_PNG, "zero width") &&
           ihdr_png(tp("nodata.png"), 4, 4) && /* sane size but no IDAT */
           expect(varia_png_read(ctx, tp("nodata.png"), &img), VARIA_ERR_PNG, "no IDAT") &&
           check(img.pixels == NULL, "no pixels");
}

static int test_png_write_errors(void)
{
    uint8_t px[4] = {0};
    varia_image two = {2, 1, 2, px}, ok1 = {2, 2, 1, px}, zero = {0, 1, 1, px};
    int ok = expect(varia_png_write(ctx, tp("x.png"), &two), VARIA_ERR_ARG, "channels 2") &&
             expect(varia_png_write(ctx, tp("x.png"), &zero), VARIA_ERR_ARG, "width 0") &&
             expect(varia_png_write(ctx, tp("x.png"), NULL), VARIA_ERR_ARG, "null img") &&
             expect(varia_png_write(ctx, tp("no/such/dir.png"), &ok1), VARIA_ERR_IO, "bad dir");
    return ok;
}

/* ---- Grid ---------------------------------------------------------------- */

static int px_at(const varia_image *g, int x, int y, int c)
{
    return g->pixels[((size_t)y * (size_t)g->width + (size_t)x) * (size_t)g->channels + (size_t)c];
}

static int test_grid_layout(void)
{
    /* 3 gray 2x2 tiles, 2 columns, pad 1 of 0.5 -> 7x7; cell (1,1) stays padding. */
    float x[12] = {0.0f, 1.0f, 0.25f, 2.0f, -1.0f, 0.5f, 0.2f, 0.8f, 1, 1, 1, 1};
    varia_shape s = {3, {1, 2, 2, 0}};
    varia_image g = {0};
    int ok = expect(varia_image_grid(ctx, x, 3, &s, 2, 1, 0.5f, &g), VARIA_OK, "grid") &&
             check(g.width == 7 && g.height == 7 && g.channels == 1, "grid size 7x7x1") &&
             check(px_at(&g, 0, 0, 0) == 128 && px_at(&g, 3, 2, 0) == 128 &&
                   px_at(&g, 6, 6, 0) == 128 && px_at(&g, 2, 3, 0) == 128, "padding 128") &&
             check(px_at(&g, 1, 1, 0) == 0 && px_at(&g, 2, 1, 0) == 255 &&
                   px_at(&g, 1, 2, 0) == 64 && px_at(&g, 2, 2, 0) == 255, "tile 0, clamping") &&
             check(px_at(&g, 4, 1, 0) == 0 && px_at(&g, 5, 1, 0) == 128 &&
                   px_at(&g, 4, 2, 0) == 51 && px_at(&g, 5, 2, 0) == 204, "tile 1") &&
             check(px_at(&g, 1, 4, 0) == 255 && px_at(&g, 2, 5, 0) == 255, "tile 2") &&
             check(px_at(&g, 4, 4, 0) == 128 && px_at(&g, 5, 5, 0) == 128, "empty cell");
    varia_image_free(&g);
    return ok;
}

static int test_grid_rgb_and_vector(void)
{
    float rgb[6] = {1.0f, 0.0f, 0.0f, 1.0f, 0.2f, 0.4f}; /* R plane, G plane, B plane */
    varia_shape s3 = {3, {3, 1, 2, 0}}, s1 = {1, {4, 0, 0, 0}}, s2 = {2, {1, 4, 0, 0}};
    float vec[4] = {0, 1, 1, 0};
    varia_image g = {0}, v = {0}, h = {0};
    int ok = expect(varia_image_grid(ctx, rgb, 1, &s3, 1, 0, 0.0f, &g), VARIA_OK, "rgb") &&
             check(g.width == 2 && g.height == 1 && g.channels == 3, "rgb size") &&
             check(px_at(&g, 0, 0, 0) == 255 && px_at(&g, 0, 0, 1) == 0 &&
                   px_at(&g, 0, 0, 2) == 51 && px_at(&g, 1, 0, 0) == 0 &&
                   px_at(&g, 1, 0, 1) == 255 && px_at(&g, 1, 0, 2) == 102, "interleaving") &&
             expect(varia_image_grid(ctx, vec, 1, &s1, 1, 0, 0.0f, &v), VARIA_OK, "vector") &&
             check(v.width == 2 && v.height == 2 && v.channels == 1 && px_at(&v, 1, 0, 0) == 255,
                   "[4] as 2x2") &&
             /* [H,W] is a gray image, as [1,H,W]: 1 row of 4 here, not a 2x2 square */
             expect(varia_image_grid(ctx, vec, 1, &s2, 1, 0, 0.0f, &h), VARIA_OK, "[1,4] rank 2") &&
             check(h.width == 4 && h.height == 1 && h.channels == 1 && px_at(&h, 1, 0, 0) == 255 &&
                       px_at(&h, 3, 0, 0) == 0, "[1,4] as 4x1 gray");
    varia_image_free(&g);
    varia_image_free(&v);
    varia_image_free(&h);
    return ok;
}

static int test_grid_errors(void)
{
    float x[64] = {0};
    varia_shape good = {3, {1, 2, 2, 0}}, five = {1, {5, 0, 0, 0}}, c2 = {3, {2, 2, 2, 0}},
                big = {3, {1, 28, 28, 0}}, rank4 = {4, {1, 1, 2, 2}};
    varia_image g = {0};
    return expect(varia_image_grid(ctx, x, 0, &good, 1, 0, 0, &g), VARIA_ERR_ARG, "n=0") &&
           expect(varia_image_grid(ctx, x, 1, &good, 0, 0, 0, &g), VARIA_ERR_ARG, "cols=0") &&
           expect(varia_image_grid(ctx, x, 1, &good, 1, -1, 0, &g), VARIA_ERR_ARG, "pad<0") &&
           expect(varia_image_grid(ctx, x, 1, &good, 1, 0, 2.0f, &g), VARIA_ERR_ARG, "pad val") &&
           expect(varia_image_grid(ctx, NULL, 1, &good, 1, 0, 0, &g), VARIA_ERR_ARG, "null x") &&
           expect(varia_image_grid(ctx, x, 1, &five, 1, 0, 0, &g), VARIA_ERR_SHAPE, "[5]") &&
           expect(varia_image_grid(ctx, x, 1, &c2, 1, 0, 0, &g), VARIA_ERR_SHAPE, "C=2") &&
           expect(varia_image_grid(ctx, x, 1, &rank4, 1, 0, 0, &g), VARIA_ERR_SHAPE, "rank4") &&
           /* 100000 tiles in one column: 2.8M pixels tall; checked before x is read */
           expect(varia_image_grid(ctx, x, 100000, &big, 1, 0, 0, &g), VARIA_ERR_TOO_LARGE,
                  "tall") &&
           check(g.pixels == NULL, "no pixels");
}

/* ---- IDX ----------------------------------------------------------------- */

/* An IDX file image: magic, dims, then `data_len` bytes of pattern. */
static uint8_t *idx_bytes(uint32_t magic, int ndims, const uint32_t *dims, size_t data_len,
                          size_t *len)
{
    size_t hdr = 4 + 4 * (size_t)ndims;
    uint8_t *b = malloc(hdr + data_len + 1);
    put_be32(b, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(b + 4 + 4 * i, dims[i]);
    for (size_t i = 0; i < data_len; i++)
        b[hdr + i] = (uint8_t)(i * 7 % 256);
    *len = hdr + data_len;
    return b;
}

/* Write images (count x 2 x 3) and, if labels >= 0, a labels file of `labels` entries. */
static int make_idx(const char *img_path, const char *lab_path, int gz, uint32_t count,
                    size_t img_data, int labels)
{
    uint32_t dims[3] = {count, 2, 3}, ldims[1] = {(uint32_t)labels};
    size_t len = 0, llen = 0;
    uint8_t *b = idx_bytes(0x803, 3, dims, img_data, &len);
    int ok = gz ? write_gz(img_path, b, len) : write_bytes(img_path, b, len);
    free(b);
    if (ok && labels >= 0) {
        b = idx_bytes(0x801, 1, ldims, (size_t)labels, &llen);
        for (int i = 0; i < labels; i++)
            b[8 + i] = (uint8_t)(i % 10);
        ok = gz ? write_gz(lab_path, b, llen) : write_bytes(lab_path, b, llen);
        free(b);
    }
    return ok;
}

/* Check a loaded 3 x [1,2,3] IDX dataset against the generator pattern. */
static int idx_content_ok(const varia_dataset *d, int64_t n, int with_labels)
{
    int ok = check(d->n == n && d->shape.rank == 3 && d->shape.dims[0] == 1 &&
                       d->shape.dims[1] == 2 && d->shape.dims[2] == 3 && d->example_size == 6,
                   "idx shape");
    for (int64_t i = 0; ok && i < n * 6; i++)
        ok = check(d->x[i] == (float)(i * 7 % 256) / 255.0f, "idx pixel value");
    if (with_labels)
        ok = ok && check(d->labels && d->labels[0] == 0 && d->labels[n - 1] == (n - 1) % 10,
                         "labels");
    else
        ok = ok && check(d->labels == NULL, "no labels");
    return ok;
}

static int load_idx_ok(const char *path, int64_t limit, int64_t n, int with_labels)
{
    varia_dataset d = {0};
    int ok = expect(varia_dataset_load(ctx, path, limit, &d), VARIA_OK, path) &&
             idx_content_ok(&d, n, with_labels);
    varia_dataset_free(&d);
    return ok;
}

static int test_idx_roundtrips(void)
{
    return make_idx(tp("a-images-idx3-ubyte"), tp("a-labels-idx1-ubyte"), 0, 3, 18, 3) &&
           load_idx_ok(tp("a-images-idx3-ubyte"), 0, 3, 1) &&
           make_idx(tp("b-images-idx3-ubyte.gz"), tp("b-labels-idx1-ubyte.gz"), 1, 3, 18, 3) &&
           load_idx_ok(tp("b-images-idx3-ubyte.gz"), 0, 3, 1) &&
           /* gz images next to raw labels: the ".gz" fallback */
           make_idx(tp("c-images-idx3-ubyte.gz"), tp("c-labels-idx1-ubyte"), 1, 3, 18, 3) &&
           load_idx_ok(tp("c-images-idx3-ubyte.gz"), 0, 3, 1) &&
           make_idx(tp("solo.idx"), NULL, 0, 3, 18, -1) && load_idx_ok(tp("solo.idx"), 0, 3, 0);
}

static int test_idx_limit(void)
{
    return make_idx(tp("l-images-idx3-ubyte"), tp("l-labels-idx1-ubyte"), 0, 11, 66, 11) &&
           load_idx_ok(tp("l-images-idx3-ubyte"), 2, 2, 1) &&
           load_idx_ok(tp("l-images-idx3-ubyte"), 100, 11, 1) &&
           load_idx_ok(tp("l-images-idx3-ubyte"), -1, 11, 1);
}

static int load_fails(const char *path, varia_status want, const char *needle)
{
    varia_dataset d = {0};
    varia_status s = varia_dataset_load(ctx, path, 0, &d);
    int ok = expect_msg(s, want, needle, path) && check(d.x == NULL && d.n == 0, "out zeroed");
    varia_dataset_free(&d);
    return ok;
}

static int test_idx_lies(void)
{
    uint32_t dims[3] = {3, 2, 3};
    size_t len = 0;
    uint8_t *b = idx_bytes(0x804, 3, dims, 18, &len);
    int ok = make_idx(tp("t-images-idx3-ubyte"), NULL, 0, 4, 18, -1) &&
             load_fails(tp("t-images-idx3-ubyte"), VARIA_ERR_DATASET, "truncated") &&
             make_idx(tp("tg-images-idx3-ubyte.gz"), NULL, 1, 4, 18, -1) &&
             load_fails(tp("tg-images-idx3-ubyte.gz"), VARIA_ERR_DATASET, "truncated") &&
             make_idx(tp("e-images-idx3-ubyte"), NULL, 0, 3, 19, -1) &&
             load_fails(tp("e-images-idx3-ubyte"), VARIA_ERR_DATASET, "extra") &&
             write_bytes(tp("magic.idx"), b, len) &&
             load_fails(tp("magic.idx"), VARIA_ERR_DATASET, "magic") &&
             write_bytes(tp("hdr.idx"), b, 10) && (put_be32(b, 0x803), 1) &&
             write_bytes(tp("hdr.idx"), b, 10) &&
             load_fails(tp("hdr.idx"), VARIA_ERR_DATASET, "header") &&
             make_idx(tp("z-images-idx3-ubyte"), NULL, 0, 0, 0, -1) &&
             load_fails(tp("z-images-idx3-ubyte"), VARIA_ERR_DATASET, "zero") &&
             make_idx(tp("m-images-idx3-ubyte"), tp("m-labels-idx1-ubyte"), 0, 3, 18, 4) &&
             load_fails(tp("m-images-idx3-ubyte"), VARIA_ERR_DATASET, "labels") &&
             load_fails(tp("m-labels-idx1-ubyte"), VARIA_ERR_DATASET, "labels file");
    free(b);
    return ok;
}

static int test_idx_huge_header(void)
{
    /* Header claims 4e9 images of 28x28 (3 TB) in a 16-byte file: over the
     * dataset cap, refused from the header alone; 1000 images in the same 16
     * bytes is a plausible size but a truncated file; and a 65536-wide image
     * exceeds the per-side cap. */
    uint32_t lie[3] = {4000000000u, 28, 28}, short_lie[3] = {1000, 28, 28}, wide[3] = {1, 1, 65536};
    size_t len = 0;
    uint8_t *a = idx_bytes(0x803, 3, lie, 0, &len);
    int ok = write_bytes(tp("lie.idx"), a, len) &&
             load_fails(tp("lie.idx"), VARIA_ERR_TOO_LARGE, "declares 4000000000 images");
    free(a);
    a = idx_bytes(0x803, 3, short_lie, 0, &len);
    ok = ok && write_bytes(tp("short.idx"), a, len) &&
         load_fails(tp("short.idx"), VARIA_ERR_DATASET, "truncated");
    free(a);
    a = idx_bytes(0x803, 3, wide, 0, &len);
    ok = ok && write_bytes(tp("wide.idx"), a, len) &&
         load_fails(tp("wide.idx"), VARIA_ERR_TOO_LARGE, "cap");
    free(a);
    return ok;
}

/* ---- amat ---------------------------------------------------------------- */

static int amat_ok(const char *path, const char *text, int gz, int64_t limit, int64_t n,
                   int rank, int64_t d, const float *first)
{
    varia_dataset ds = {0};
    size_t len = strlen(text);
    int ok = (gz ? write_gz(path, text, len) : write_bytes(path, text, len)) &&
             expect(varia_dataset_load(ctx, path, limit, &ds), VARIA_OK, path) &&
             check(ds.n == n && ds.shape.rank == rank && ds.example_size == d, "amat shape") &&
             check(ds.labels == NULL, "amat no labels") &&
             check(memcmp(ds.x, first, (size_t)d * sizeof(float)) == 0, "amat values");
    varia_dataset_free(&ds);
    return ok;
}

static int test_amat_good(void)
{
    static const float f4[4] = {0, 1, 1, 0}, f3[3] = {0.5f, 0.1f, 0.25f};
    return amat_ok(tp("a.amat"), "0 1 1 0\n1 1 1 1\n0 0 0 0\n", 0, 0, 3, 3, 4, f4) &&
           amat_ok(tp("a.amat.gz"), "0 1 1 0\n1 1 1 1\n0 0 0 0\n", 1, 0, 3, 3, 4, f4) &&
           amat_ok(tp("crlf.amat"), "0 1 1 0\r\n1 1 1 1\r\n", 0, 0, 2, 3, 4, f4) &&
           amat_ok(tp("noeol.amat"), "0 1 1 0\n1 1 1 1", 0, 0, 2, 3, 4, f4) &&
           amat_ok(tp("dec.amat"), "0.5 1e-1 .25\n1 1.0 0.0\n\n", 0, 0, 2, 1, 3, f3) &&
           amat_ok(tp("lim.amat"), "0 1 1 0\n1 1 1 1\n0 0 0 0\n", 0, 2, 2, 3, 4, f4);
}

static int amat_bad(const char *name, const char *text, const char *needle)
{
    return write_bytes(tp(name), text, strlen(text)) &&
           load_fails(tp(name), VARIA_ERR_DATASET, needle);
}

static int test_amat_bad(void)
{
    return amat_bad("ragged.amat", "0 1 1 0\n1 1 1\n0 0 0 0\n", "line 2 has 3") &&
           amat_bad("long.amat", "0 1 1 0\n0 0 0 0\n1 1 1 1 1\n", "line 3 has 5") &&
           amat_bad("blank.amat", "0 1 1 0\n\n0 0 0 0\n", "line 2 has 0") &&
           amat_bad("two.amat", "0 1 1 0\n1 2 1 1\n", "line 2: value 2 (2)") &&
           amat_bad("neg.amat", "0 1 1 0\n1 1 1 -0.5\n", "line 2") &&
           amat_bad("nan.amat", "0 1 1 0\n1 nan 1 1\n", "line 2: value 2 ('nan')") &&
           amat_bad("junk.amat", "0 1 1 0\n1 1x 1 1\n", "not a number") &&
           amat_bad("inf.amat", "0 1 1e999 0\n", "line 1") &&
           amat_bad("exp.amat", "0 1 1e 0\n", "not a number");
}

/* ---- PNG folders --------------------------------------------------------- */

static int gray_png(const char *path, int w, int h, uint8_t base)
{
    uint8_t px[64];
    for (int i = 0; i < w * h; i++)
        px[i] = (uint8_t)(base + i);
    varia_image img = {w, h, 1, px};
    return varia_png_write(ctx, path, &img) == VARIA_OK;
}

static int test_png_folder_gray(void)
{
    varia_dataset d = {0};
    int ok = mkdir(tp("pngs"), 0700) == 0 && gray_png(tp("pngs/b.png"), 3, 2, 100) &&
             gray_png(tp("pngs/a.png"), 3, 2, 0) && gray_png(tp("pngs/c.PNG"), 3, 2, 200) &&
             write_bytes(tp("pngs/notes.txt"), "x", 1) &&
             expect(varia_dataset_load(ctx, tp("pngs"), 0, &d), VARIA_OK, "folder") &&
             check(d.n == 3 && d.shape.rank == 3 && d.shape.dims[0] == 1 &&
                       d.shape.dims[1] == 2 && d.shape.dims[2] == 3 && d.example_size == 6,
                   "folder shape") &&
             check(d.x[0] == 0.0f && d.x[5] == 5 / 255.0f && d.x[6] == 100 / 255.0f &&
                       d.x[12] == 200 / 255.0f, "sorted by name, values");
    varia_dataset_free(&d);
    ok = ok && expect(varia_dataset_load(ctx, tp("pngs"), 2, &d), VARIA_OK, "limit") &&
         check(d.n == 2, "limit 2");
    varia_dataset_free(&d);
    return ok;
}

static int test_png_folder_rgb_planar(void)
{
    uint8_t px[6] = {1, 2, 3, 4, 5, 6}; /* 2x1 RGB: (1,2,3) (4,5,6) */
    varia_image img = {2, 1, 3, px};
    varia_dataset d = {0};
    static const float want[6] = {1, 4, 2, 5, 3, 6};
    int ok = mkdir(tp("rgb"), 0700) == 0 &&
             expect(varia_png_write(ctx, tp("rgb/x.png"), &img), VARIA_OK, "write") &&
             expect(varia_dataset_load(ctx, tp("rgb"), 0, &d), VARIA_OK, "load") &&
             check(d.n == 1 && d.shape.dims[0] == 3 && d.shape.dims[1] == 1 &&
                       d.shape.dims[2] == 2, "rgb shape");
    for (int i = 0; ok && i < 6; i++)
        ok = check(d.x[i] == want[i] / 255.0f, "planar order");
    varia_dataset_free(&d);
    return ok;
}

static int test_png_folder_bad(void)
{
    return mkdir(tp("mixed"), 0700) == 0 && gray_png(tp("mixed/1.png"), 3, 2, 0) &&
           gray_png(tp("mixed/2.png"), 2, 3, 0) &&
           load_fails(tp("mixed"), VARIA_ERR_DATASET, "2.png") && mkdir(tp("none"), 0700) == 0 &&
           load_fails(tp("none"), VARIA_ERR_DATASET, "no .png") && mkdir(tp("brk"), 0700) == 0 &&
           gray_png(tp("brk/1.png"), 3, 2, 0) && write_bytes(tp("brk/2.png"), "nope", 4) &&
           load_fails(tp("brk"), VARIA_ERR_PNG, "2.png");
}

/* ---- Files in general, gzip ---------------------------------------------- */

static int test_misc_files(void)
{
    return write_bytes(tp("empty.dat"), "", 0) &&
           load_fails(tp("empty.dat"), VARIA_ERR_DATASET, "empty") &&
           write_gz(tp("empty.gz"), "", 0) &&
           load_fails(tp("empty.gz"), VARIA_ERR_DATASET, "empty") &&
           write_bytes(tp("what.dat"), "GIF89a....", 10) &&
           load_fails(tp("what.dat"), VARIA_ERR_DATASET, "unrecognised") &&
           load_fails(tp("does-not-exist"), VARIA_ERR_IO, "does-not-exist") &&
           expect(varia_dataset_load(ctx, NULL, 0, &(varia_dataset){0}), VARIA_ERR_ARG, "null");
}

static int test_corrupt_gzip(void)
{
    size_t len = 0;
    char text[4000];
    for (int i = 0; i < 1999; i++)
        text[2 * i] = (char)('0' + (i * 7 % 3 == 0)), text[2 * i + 1] = i % 9 == 8 ? '\n' : ' ';
    text[3998] = '\n';
    if (!write_gz(tp("c.amat.gz"), text, 3999))
        return 0;
    uint8_t *b = read_bytes(tp("c.amat.gz"), &len);
    int ok = b && write_bytes(tp("cut.amat.gz"), b, len * 2 / 3) &&
             load_fails(tp("cut.amat.gz"), VARIA_ERR_DATASET, "gzip");
    if (ok) {
        for (size_t i = 20; i < 40 && i < len; i++)
            b[i] ^= 0xff;
        ok = write_bytes(tp("bad.amat.gz"), b, len) &&
             load_fails(tp("bad.amat.gz"), VARIA_ERR_DATASET, "gzip");
    }
    free(b);
    return ok;
}

static int test_gz_bomb(void)
{
    size_t big = (size_t)4 << 20, len = 0;
    uint8_t *zeros = calloc(1, big), *data = NULL;
    int ok = zeros && write_gz(tp("bomb.gz"), zeros, big) &&
             expect(varia_read_whole_file(ctx, tp("bomb.gz"), big - 1, &data, &len),
                    VARIA_ERR_TOO_LARGE, "cap - 1") &&
             check(data == NULL, "no data on error") &&
             expect(varia_read_whole_file(ctx, tp("bomb.gz"), big, &data, &len), VARIA_OK,
                    "cap exact") &&
             check(len == big && memcmp(data, zeros, big) == 0, "content");
    free(data);
    free(zeros);
    return ok;
}

static int test_free_safe(void)
{
    varia_dataset d = {0};
    varia_image i = {0};
    varia_dataset_free(&d);
    varia_dataset_free(&d);
    varia_dataset_free(NULL);
    varia_image_free(&i);
    varia_image_free(NULL);
    return check(d.x == NULL && i.pixels == NULL, "still zero");
}

/* ---- Real data ----------------------------------------------------------- */

/* The shared data dir from the environment, or NULL. */
static const char *shared_dir(char *buf, size_t cap)
{
    const char *s = getenv("VARIA_SHARED_DATA"), *root = getenv("VARIA_SOURCE_ROOT");
    if (s && *s)
        snprintf(buf, cap, "%s", s);
    else if (root && *root)
        snprintf(buf, cap, "%s/../shared/data", root);
    else
        return NULL;
    return buf;
}

static void test_real_binarized(const char *dir)
{
    char path[1200];
    const char *name = "real binarized MNIST test split";
    snprintf(path, sizeof path, "%s/binarized_mnist/binarized_mnist_test.amat.gz", dir ? dir : "");
    if (!dir || access(path, R_OK) != 0) {
        skip(name, "data not found");
        return;
    }
    varia_dataset d = {0};
    int ok = expect(varia_dataset_load(ctx, path, 0, &d), VARIA_OK, path) &&
             check(d.n == 10000 && d.shape.rank == 3 && d.shape.dims[0] == 1 &&
                       d.shape.dims[1] == 28 && d.shape.dims[2] == 28, "10000 x [1,28,28]");
    if (ok) {
        double ones = 0;
        for (int64_t i = 0; i < d.n * 784; i++)
            ones += d.x[i];
        ones /= (double)(d.n * 784);
        printf("# fraction of ones: %.4f\n", ones);
        ok = check(ones > 0.11 && ones < 0.15, "about 13% ones");
    }
    varia_dataset_free(&d);
    report(ok, name);
}

static void test_real_mnist(const char *dir)
{
    char path[1200];
    const char *name = "real MNIST t10k with labels";
    snprintf(path, sizeof path, "%s/mnist/t10k-images-idx3-ubyte.gz", dir ? dir : "");
    if (!dir || access(path, R_OK) != 0) {
        skip(name, "data not found");
        return;
    }
    varia_dataset d = {0}, l = {0};
    int ok = expect(varia_dataset_load(ctx, path, 0, &d), VARIA_OK, path) &&
             check(d.n == 10000 && d.shape.dims[1] == 28 && d.shape.dims[2] == 28, "10000") &&
             check(d.labels && d.labels[0] == 7 && d.labels[1] == 2, "labels 7, 2") &&
             expect(varia_dataset_load(ctx, path, 5, &l), VARIA_OK, "limit 5") &&
             check(l.n == 5 && l.labels[0] == 7 && memcmp(l.x, d.x, 5 * 784 * 4) == 0,
                   "limit prefix");
    varia_dataset_free(&d);
    varia_dataset_free(&l);
    report(ok, name);
}

/* ---- Driver -------------------------------------------------------------- */

/* Remove the temp tree (files and one level of subdirectories suffices here,
 * but recurse anyway). */
static void rm_tree(const char *path)
{
    DIR *dp = opendir(path);
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        closedir(dp);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/varia_loaders_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir) || !(ctx = varia_ctx_new())) {
        printf("Bail out! cannot create temp dir or context\n");
        return 1;
    }
    report(roundtrip(5, 3, 1, "gray.png"), "png write/read roundtrip gray");
    report(roundtrip(4, 3, 3, "rgb.png"), "png write/read roundtrip rgb");
    report(roundtrip(1, 1, 1, "one.png"), "png roundtrip 1x1");
    report(test_png_formats(), "png 16-bit, palette+tRNS, gray+alpha, 1-bit, interlaced");
    report(test_png_truncated(), "truncated / corrupt png -> VARIA_ERR_PNG");
    report(test_png_not_png(), "non-png -> VARIA_ERR_PNG, missing -> VARIA_ERR_IO");
    report(test_png_huge(), "huge declared png dims -> VARIA_ERR_TOO_LARGE");
    report(test_png_write_errors(), "png write argument and io errors");
    report(test_grid_layout(), "grid layout, padding, clamping");
    report(test_grid_rgb_and_vector(), "grid rgb interleaving, [D] vectors, [H,W] gray");
    report(test_grid_errors(), "grid argument validation");
    report(test_idx_roundtrips(), "idx raw and gz roundtrip with labels");
    report(test_idx_limit(), "idx limit");
    report(test_idx_lies(), "idx lying count, extra bytes, bad magic, bad labels");
    report(test_idx_huge_header(), "idx absurd header fails before allocating");
    report(test_amat_good(), "amat raw, gz, crlf, decimals, limit");
    report(test_amat_bad(), "amat ragged line, bad values name the line");
    report(test_png_folder_gray(), "png folder sorted, limit");
    report(test_png_folder_rgb_planar(), "png folder rgb -> planar");
    report(test_png_folder_bad(), "png folder mismatched sizes, empty, broken file");
    report(test_misc_files(), "empty, unknown, missing dataset files");
    report(test_corrupt_gzip(), "corrupt and truncated gzip -> VARIA_ERR_DATASET");
    report(test_gz_bomb(), "decompressed-size cap");
    report(test_free_safe(), "free functions safe on zeroed structs");
    char buf[1024];
    const char *dir = shared_dir(buf, sizeof buf);
    test_real_binarized(dir);
    test_real_mnist(dir);
    varia_ctx_free(ctx);
    rm_tree(tmpdir);
    printf("1..%d\n# passed %d failed %d\n", n_run, n_run - n_fail, n_fail);
    return n_fail != 0;
}

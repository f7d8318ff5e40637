/* libFuzzer harness: the input is a PNG file. Reads it with varia_png_read;
 * if that succeeds, the image must survive a write / read round trip exactly
 * (8-bit gray or RGB is lossless), loading its folder as a dataset must give
 * the same pixels as floats, and tiling it into a grid must work. */
#include "fuzz_common.h"

static char dpath[256], ipath[256], opath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(dpath, "pngdir");
    fz_path(ipath, "pngdir/a.png");
    fz_path(opath, "out.png");
    if (mkdir(dpath, 0700) != 0)
        abort();
    return 0;
}

static void check_dataset(varia_ctx *ctx, const varia_image *img)
{
    varia_dataset ds;
    varia_status st = varia_dataset_load(ctx, dpath, 0, &ds);
    if (st != VARIA_OK)
        fz_bug(); /* the same file read fine as a PNG */
    int64_t c = img->channels, h = img->height, w = img->width;
    if (ds.n != 1 || ds.shape.rank != 3 || ds.shape.dims[0] != c || ds.shape.dims[1] != h ||
        ds.shape.dims[2] != w || ds.example_size != c * h * w || !ds.x || ds.labels)
        fz_bug();
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < h * w; i++)
            if (ds.x[ch * h * w + i] != img->pixels[i * c + ch] / 255.0f)
                fz_bug();
    varia_image grid;
    st = varia_image_grid(ctx, ds.x, 1, &ds.shape, 1, 1, 0.5f, &grid);
    if (st == VARIA_OK) {
        if (grid.width != w + 2 || grid.height != h + 2 || grid.channels != c)
            fz_bug();
        for (int64_t y = 0; y < h; y++)
            if (memcmp(grid.pixels + ((y + 1) * grid.width + 1) * c, img->pixels + y * w * c,
                       (size_t)(w * c)) != 0)
                fz_bug(); /* the tile must reproduce the pixels exactly */
        varia_image_free(&grid);
    } else if (st != VARIA_ERR_TOO_LARGE) {
        fz_bug();
    }
    varia_dataset_free(&ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_write(ipath, data, size))
        return 0;
    varia_ctx *ctx = fz_ctx();
    varia_image img;
    varia_status st = varia_png_read(ctx, ipath, &img);
    fz_touch(varia_ctx_message(ctx));
    if (st != VARIA_OK) {
        if (img.pixels || img.width || img.height)
            fz_bug(); /* a failed read leaves the image empty */
        varia_ctx_free(ctx);
        return 0;
    }
    if (!img.pixels || img.width < 1 || img.height < 1 || (img.channels != 1 && img.channels != 3))
        fz_bug();
    /* Every pixel byte must be readable (ASan checks the buffer size). */
    size_t bytes = (size_t)img.width * (size_t)img.height * (size_t)img.channels;
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < bytes; i++)
        acc ^= img.pixels[i];
    (void)acc;

    if (varia_png_write(ctx, opath, &img) != VARIA_OK)
        fz_bug();
    varia_image back;
    if (varia_png_read(ctx, opath, &back) != VARIA_OK)
        fz_bug();
    if (back.width != img.width || back.height != img.height || back.channels != img.channels ||
        memcmp(back.pixels, img.pixels, bytes) != 0)
        fz_bug();
    varia_image_free(&back);
    check_dataset(ctx, &img);
    varia_image_free(&img);
    varia_ctx_free(ctx);
    return 0;
}

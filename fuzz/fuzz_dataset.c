/* libFuzzer harness: the input is a dataset file (IDX images or .amat text,
 * raw or gzip; the loader detects the kind from the content). It is saved as
 * "t-images-idx3-ubyte", so for a raw IDX images input the loader also looks
 * for "t-labels-idx1-ubyte": the harness writes one derived from the images
 * header (valid, or with a wrong count or length, chosen by the count). Loads
 * with limit 0 and limit 3; the limited result must be a prefix of the full. */
#include "fuzz_common.h"

static char ipath[256], lpath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(ipath, "t-images-idx3-ubyte");
    fz_path(lpath, "t-labels-idx1-ubyte");
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* The labels file for an IDX images input; removed for anything else. */
static void write_labels(const uint8_t *data, size_t size)
{
    unlink(lpath);
    if (size < 8 || be32(data) != 0x00000803u)
        return;
    uint32_t n = be32(data + 4);
    if (n > 4096)
        return;
    uint8_t buf[8 + 4096 + 1];
    uint32_t count = n, len = 8 + n;
    switch (n % 4) {
    case 2: count = n + 1; break; /* header disagrees with the images */
    case 3: len = 8 + n - (n > 0); break; /* truncated */
    default: break;               /* valid */
    }
    put_be32(buf, 0x00000801u);
    put_be32(buf + 4, count);
    for (uint32_t i = 0; i < n + 1; i++)
        buf[8 + i] = (uint8_t)(i % 10);
    fz_write(lpath, buf, len);
}

static void check(const varia_dataset *d)
{
    if (d->n < 1 || !d->x || d->example_size < 1)
        fz_bug();
    int64_t prod = 1;
    if (d->shape.rank < 1 || d->shape.rank > VARIA_MAX_RANK)
        fz_bug();
    for (int i = 0; i < d->shape.rank; i++)
        prod *= d->shape.dims[i];
    if (prod != d->example_size)
        fz_bug();
    for (int64_t i = 0; i < d->n * d->example_size; i++)
        if (!(d->x[i] >= 0.0f && d->x[i] <= 1.0f))
            fz_bug(); /* "floats scaled to [0, 1]" */
    if (d->labels) {
        volatile uint8_t acc = 0;
        for (int64_t i = 0; i < d->n; i++)
            acc ^= d->labels[i];
        (void)acc;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_labels(data, size);
    if (!fz_write(ipath, data, size))
        return 0;
    varia_ctx *ctx = fz_ctx();
    varia_dataset all, few;
    varia_status s_all = varia_dataset_load(ctx, ipath, 0, &all);
    fz_touch(varia_ctx_message(ctx));
    varia_status s_few = varia_dataset_load(ctx, ipath, 3, &few);
    fz_touch(varia_ctx_message(ctx));
    if (s_all == VARIA_OK)
        check(&all);
    else if (all.x || all.labels || all.n)
        fz_bug();
    if (s_few == VARIA_OK) {
        check(&few);
        if (few.n > 3)
            fz_bug();
    } else if (few.x || few.labels || few.n) {
        fz_bug();
    }
    /* A limit only cuts examples: same status as the full load (unless the full
     * load hit a size cap), and a prefix of its data. */
    if (s_all == VARIA_OK && s_few == VARIA_OK) {
        if (few.n != (all.n < 3 ? all.n : 3) || few.example_size != all.example_size ||
            memcmp(few.x, all.x, (size_t)(few.n * few.example_size) * sizeof(float)) != 0 ||
            !few.labels != !all.labels || (few.labels && memcmp(few.labels, all.labels, (size_t)few.n)))
            fz_bug();
    } else if (s_all == VARIA_OK && s_few != VARIA_OK) {
        fz_bug();
    }
    varia_dataset_free(&all);
    varia_dataset_free(&few);
    varia_ctx_free(ctx);
    return 0;
}

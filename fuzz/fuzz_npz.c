/* libFuzzer harness: sequence datasets (varia_seqset_load). The input is
 * the file: an .npz, an .npy, or anything the image loader reads. An input
 * starting with "NPZ:" is a recipe instead: the rest, split at the first
 * "\n--\n", is x.npy and lengths.npy, which the harness archives itself
 * (stored, CRCs right, laid out as numpy.savez does), so that mutations of
 * the arrays reach the .npy parser and the set's rules rather than dying at
 * the CRC check. Loads with limit 0 and limit 2: a failure leaves the set
 * zeroed, a success is consistent (lengths >= 1 summing to the frames,
 * finite values), and the limited set is a prefix of the full one. */
#include "fuzz_common.h"

#include <zlib.h>

static char path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(path, "t.npz");
    return 0;
}

static void le(uint8_t **p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

/* A stored archive of the two members into out (room for both plus 300
 * bytes); returns its length. */
static size_t archive(const uint8_t *x, size_t xn, const uint8_t *l, size_t ln, uint8_t *out)
{
    const char *names[2] = {"x.npy", "lengths.npy"};
    const uint8_t *data[2] = {x, l};
    size_t len[2] = {xn, ln}, at[2];
    uint32_t crc[2];
    uint8_t *p = out;
    for (int i = 0; i < 2; i++) {
        size_t nl = strlen(names[i]);
        crc[i] = (uint32_t)crc32(crc32(0, Z_NULL, 0), data[i], (uInt)len[i]);
        at[i] = (size_t)(p - out);
        le(&p, 0x04034b50, 4), le(&p, 20, 2), le(&p, 0, 2), le(&p, 0, 2), le(&p, 0, 4);
        le(&p, crc[i], 4), le(&p, len[i], 4), le(&p, len[i], 4), le(&p, nl, 2), le(&p, 20, 2);
        memcpy(p, names[i], nl), p += nl;
        le(&p, 1, 2), le(&p, 16, 2), le(&p, len[i], 8), le(&p, len[i], 8);
        if (len[i])
            memcpy(p, data[i], len[i]);
        p += len[i];
    }
    size_t cd = (size_t)(p - out);
    for (int i = 0; i < 2; i++) {
        size_t nl = strlen(names[i]);
        le(&p, 0x02014b50, 4), le(&p, 20, 2), le(&p, 20, 2), le(&p, 0, 2), le(&p, 0, 2);
        le(&p, 0, 4), le(&p, crc[i], 4), le(&p, len[i], 4), le(&p, len[i], 4), le(&p, nl, 2);
        le(&p, 0, 2), le(&p, 0, 2), le(&p, 0, 2), le(&p, 0, 2), le(&p, 0, 4), le(&p, at[i], 4);
        memcpy(p, names[i], nl), p += nl;
    }
    size_t cdlen = (size_t)(p - out) - cd;
    le(&p, 0x06054b50, 4), le(&p, 0, 4), le(&p, 2, 2), le(&p, 2, 2), le(&p, cdlen, 4);
    le(&p, cd, 4), le(&p, 0, 2);
    return (size_t)(p - out);
}

/* Write the input, or the archive its recipe describes. */
static int write_input(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n--\n";
    if (size < 4 || memcmp(data, "NPZ:", 4))
        return fz_write(path, data, size);
    const uint8_t *x = data + 4, *end = data + size, *l = NULL;
    for (const uint8_t *q = x; q + 4 <= end && !l; q++)
        if (!memcmp(q, sep, 4))
            l = q;
    if (!l)
        return fz_write(path, data, size);
    uint8_t *buf = malloc(size + 300);
    size_t n = buf ? archive(x, (size_t)(l - x), l + 4, (size_t)(end - l - 4), buf) : 0;
    int ok = buf && fz_write(path, buf, n);
    free(buf);
    return ok;
}

static void check(const varia_seqset *s)
{
    if (s->n < 1 || s->dim < 1 || !s->x || !s->lengths || !s->offsets || s->offsets[0] != 0)
        fz_bug();
    for (int64_t i = 0; i < s->n; i++)
        if (s->lengths[i] < 1 || s->offsets[i + 1] != s->offsets[i] + s->lengths[i])
            fz_bug();
    if (s->total != s->offsets[s->n])
        fz_bug();
    for (int64_t k = 0; k < s->total * s->dim; k++)
        if (!isfinite(s->x[k]))
            fz_bug();
}

static int zeroed(const varia_seqset *s)
{
    return !s->x && !s->lengths && !s->offsets && !s->n && !s->dim && !s->total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!write_input(data, size))
        return 0;
    varia_ctx *ctx = fz_ctx();
    varia_seqset all, few;
    varia_status s_all = varia_seqset_load(ctx, path, 0, &all);
    fz_touch(varia_ctx_message(ctx));
    varia_status s_few = varia_seqset_load(ctx, path, 2, &few);
    fz_touch(varia_ctx_message(ctx));
    if (s_all == VARIA_OK)
        check(&all);
    else if (!zeroed(&all))
        fz_bug();
    if (s_few == VARIA_OK)
        check(&few);
    else if (!zeroed(&few))
        fz_bug();
    /* A limit only drops sequences: what loads whole loads limited, as a prefix. */
    if (s_all == VARIA_OK) {
        int64_t n = all.n < 2 ? all.n : 2;
        if (s_few != VARIA_OK || few.n != n || few.dim != all.dim ||
            memcmp(few.lengths, all.lengths, (size_t)n * sizeof *few.lengths) ||
            memcmp(few.x, all.x, (size_t)(few.total * few.dim) * sizeof *few.x))
            fz_bug();
    }
    varia_seqset_free(&all);
    varia_seqset_free(&few);
    varia_ctx_free(ctx);
    return 0;
}

/* Sequence datasets (varia_seqset_load): NumPy .npz archives holding the
 * frames of every sequence back to back ('x', [total, dim]) and their
 * lengths ('lengths', [n]), as the polyphonic-music corpora are saved; a
 * single .npy of equal-length sequences [n, T, dim]; and any image dataset
 * varia_dataset_load reads, each image a sequence of its rows. The kind is
 * told by the first bytes. A file is mapped, not read: an .npz member is
 * inflated from the mapping into its own buffer once its sizes are checked. */
#include "ctx.h"
#include "gzfile.h"
#include "npy.h"
#include "zip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEQ_MAX_FLOATS ((int64_t)1 << 29) /* as for image datasets: 2 GiB of floats */
#define SEQ_MAX_SEQUENCES ((int64_t)1 << 26) /* lengths held as int64: 512 MiB */
#define WHAT_CAP 600

void varia_seqset_free(varia_seqset *s)
{
    if (!s)
        return;
    free(s->x);
    free(s->lengths);
    free(s->offsets);
    memset(s, 0, sizeof *s);
}

/* How many of `count` sequences to keep: limit > 0 caps it, otherwise all. */
static int64_t take(int64_t count, int64_t limit)
{
    return limit > 0 && limit < count ? limit : count;
}

/* Takes over lengths[n] (the caller checked each >= 1 and the sum below
 * 2^62) into out, with fresh offsets, and allocates out->x for the frames'
 * dim floats after checking them against the cap. On failure what was set
 * stays in out for varia_seqset_free. */
static varia_status alloc_set(varia_ctx *ctx, const char *path, int64_t *lengths, int64_t n,
                              int64_t dim, varia_seqset *out)
{
    out->lengths = lengths;
    out->n = n, out->dim = dim;
    out->offsets = malloc((size_t)(n + 1) * sizeof *out->offsets);
    if (!out->offsets)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory for %lld offsets", path,
                          (long long)n);
    out->offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) /* the caller checked the sum fits */
        out->offsets[i + 1] = out->offsets[i] + lengths[i];
    out->total = out->offsets[n];
    if (out->total > SEQ_MAX_FLOATS / dim)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "'%s': %lld frames of %lld values exceed the "
                          "cap of %lld floats; pass a limit", path, (long long)out->total,
                          (long long)dim, (long long)SEQ_MAX_FLOATS);
    out->x = malloc((size_t)(out->total > 0 ? out->total * dim : 1) * sizeof *out->x);
    if (!out->x)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory for %lld x %lld floats",
                          path, (long long)out->total, (long long)dim);
    return VARIA_OK;
}

/* ---- .npz: x [total, dim] and lengths [n] ----------------------------------- */

/* Exactly the members x.npy and lengths.npy. */
static varia_status check_names(varia_ctx *ctx, const char *path, const varia_zip *z)
{
    for (int64_t i = 0; i < z->n; i++)
        if (strcmp(z->m[i].name, "x.npy") && strcmp(z->m[i].name, "lengths.npy"))
            return varia_fail(ctx, VARIA_ERR_UNEXPECTED, "'%s': unexpected member '%s' (a "
                              "sequence .npz holds x.npy and lengths.npy only)", path,
                              z->m[i].name);
    const char *need[2] = {"x.npy", "lengths.npy"};
    for (int k = 0; k < 2; k++)
        if (!varia_zip_find(z, need[k]))
            return varia_fail(ctx, VARIA_ERR_MISSING, "'%s': no member '%s'", path, need[k]);
    return VARIA_OK;
}

/* The lengths member as int64s: rank 1, at least one, every one positive,
 * summing to no more than 2^62. */
static varia_status read_lengths(varia_ctx *ctx, const varia_zip *z, int64_t **out, int64_t *n)
{
    char what[WHAT_CAP];
    snprintf(what, sizeof what, "'%.500s' member 'lengths.npy'", z->path);
    const varia_zip_member *m = varia_zip_find(z, "lengths.npy");
    uint8_t *bytes = NULL;
    varia_npy a;
    varia_status st = varia_zip_read(ctx, z, m, &bytes);
    if (st == VARIA_OK)
        st = varia_npy_parse(ctx, what, bytes, (size_t)m->usize, &a);
    if (st == VARIA_OK && (a.rank != 1 || a.count == 0))
        st = varia_fail(ctx, a.rank != 1 ? VARIA_ERR_SHAPE : VARIA_ERR_DATASET, "%s: %s", what,
                        a.rank != 1 ? "'lengths' must have one dimension [n]"
                                    : "no sequences (shape (0,))");
    if (st == VARIA_OK && a.count > SEQ_MAX_SEQUENCES)
        st = varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s: %lld sequences exceed the cap of %lld",
                        what, (long long)a.count, (long long)SEQ_MAX_SEQUENCES);
    int64_t *len = st == VARIA_OK ? malloc((size_t)a.count * sizeof *len) : NULL;
    if (st == VARIA_OK && !len)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "%s: out of memory", what);
    if (st == VARIA_OK)
        st = varia_npy_to_int64(ctx, what, &a, len);
    int64_t sum = 0;
    for (int64_t i = 0; st == VARIA_OK && i < a.count; i++) {
        if (len[i] < 1 || len[i] > ((int64_t)1 << 62) - sum)
            st = varia_fail(ctx, len[i] < 1 ? VARIA_ERR_DATASET : VARIA_ERR_TOO_LARGE,
                            "%s: lengths[%lld] is %lld%s", what, (long long)i, (long long)len[i],
                            len[i] < 1 ? " (a sequence needs at least one frame)"
                                       : ": the lengths sum past 2^62");
        else
            sum += len[i]; /* only once checked: a refused length may be near 2^63 */
    }
    free(bytes);
    if (st != VARIA_OK) {
        free(len);
        return st;
    }
    *out = len, *n = a.count;
    return VARIA_OK;
}

/* The x member's header, from its first bytes, into *h: it must account for
 * exactly the member's size, be [frames, dim] and hold the frames the `all`
 * lengths sum to. A lie is refused before the rest is inflated. */
static varia_status check_x_header(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                                   const char *what, const int64_t *lengths, int64_t all,
                                   varia_npy *h)
{
    size_t want = 12 + VARIA_NPY_HEADER_CAP, got = 0;
    uint8_t *head = malloc(want);
    if (!head)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "%s: out of memory", what);
    uint64_t total = 0;
    varia_status st = varia_zip_peek(ctx, z, m, head, want, &got);
    if (st == VARIA_OK)
        st = varia_npy_header(ctx, what, head, got, h, &total);
    free(head);
    if (st == VARIA_OK && total != m->usize)
        return varia_fail(ctx, total > m->usize ? VARIA_ERR_TRUNCATED : VARIA_ERR_TRAILING,
                          "%s: the header's dtype and shape make %llu bytes; the member holds "
                          "%llu", what, (unsigned long long)total, (unsigned long long)m->usize);
    if (st == VARIA_OK && (h->rank != 2 || h->shape[1] < 1))
        return varia_fail(ctx, VARIA_ERR_SHAPE, "%s: 'x' must be [frames, dim] with dim >= 1 "
                          "(rank %d)", what, h->rank);
    int64_t sum = 0;
    for (int64_t i = 0; i < all; i++)
        sum += lengths[i]; /* read_lengths bounded the sum */
    if (st == VARIA_OK && sum != h->shape[0])
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': the %lld lengths sum to %lld frames; "
                          "'x' holds %lld", z->path, (long long)all, (long long)sum,
                          (long long)h->shape[0]);
    return st;
}

/* x [total, dim] checked by its header, the set allocated (the float cap
 * checked), then x inflated and its first n sequences converted into out.
 * Takes over lengths[all] in every case. */
static varia_status read_x(varia_ctx *ctx, const varia_zip *z, int64_t *lengths, int64_t all,
                           int64_t n, varia_seqset *out)
{
    char what[WHAT_CAP];
    snprintf(what, sizeof what, "'%.500s' member 'x.npy'", z->path);
    const varia_zip_member *m = varia_zip_find(z, "x.npy");
    uint8_t *bytes = NULL;
    varia_npy h, a;
    varia_status st = check_x_header(ctx, z, m, what, lengths, all, &h);
    if (st == VARIA_OK)
        st = alloc_set(ctx, z->path, lengths, n, h.shape[1], out);
    else
        free(lengths);
    if (st == VARIA_OK)
        st = varia_zip_read(ctx, z, m, &bytes);
    if (st == VARIA_OK)
        st = varia_npy_parse(ctx, what, bytes, (size_t)m->usize, &a);
    if (st == VARIA_OK)
        st = varia_npy_to_float(ctx, what, &a, 0, out->total * out->dim, out->x);
    free(bytes);
    return st;
}

/* An .npz mapped at buf: exactly x and lengths, the first n sequences kept. */
static varia_status load_npz(varia_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
                             int64_t limit, varia_seqset *out)
{
    varia_zip z;
    int64_t *lengths = NULL, n = 0;
    varia_status st = varia_zip_open(ctx, path, buf, len, VARIA_GZ_MAX_BYTES, &z);
    if (st != VARIA_OK)
        return st;
    if ((st = check_names(ctx, path, &z)) == VARIA_OK &&
        (st = read_lengths(ctx, &z, &lengths, &n)) == VARIA_OK)
        st = read_x(ctx, &z, lengths, n, take(n, limit), out); /* owns lengths from here */
    varia_zip_close(&z);
    return st;
}

/* ---- .npy: [n, T, dim], every sequence T frames ----------------------------- */

/* A mapped .npy [n, T, dim] (its data used in place, converted into out). */
static varia_status load_npy(varia_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
                             int64_t limit, varia_seqset *out)
{
    char what[WHAT_CAP];
    snprintf(what, sizeof what, "'%.500s'", path);
    varia_npy a;
    varia_status st = varia_npy_parse(ctx, what, buf, len, &a);
    if (st == VARIA_OK && (a.rank != 3 || !a.shape[0] || !a.shape[1] || !a.shape[2]))
        st = varia_fail(ctx, a.rank != 3 ? VARIA_ERR_SHAPE : VARIA_ERR_DATASET, "%s: %s", what,
                        a.rank != 3 ? "a sequence .npy must be [n, T, dim]"
                                    : "a dimension of [n, T, dim] is 0");
    if (st != VARIA_OK)
        return st;
    int64_t n = take(a.shape[0], limit); /* n * T * dim <= 2^59: no overflow */
    if (n * a.shape[1] > SEQ_MAX_FLOATS / a.shape[2])
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s: %lld sequences of %lld x %lld values "
                          "exceed the cap of %lld floats; pass a limit", what, (long long)n,
                          (long long)a.shape[1], (long long)a.shape[2], (long long)SEQ_MAX_FLOATS);
    int64_t *lengths = malloc((size_t)n * sizeof *lengths);
    if (!lengths)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "%s: out of memory", what);
    for (int64_t i = 0; i < n; i++)
        lengths[i] = a.shape[1];
    st = alloc_set(ctx, path, lengths, n, a.shape[2], out);
    if (st == VARIA_OK)
        st = varia_npy_to_float(ctx, what, &a, 0, out->total * out->dim, out->x);
    return st;
}

/* ---- Images: each a sequence of its rows ------------------------------------ */

/* Image [C, H, W] -> H frames of C * W values: frame t is row t of each
 * channel in turn (the layout a 1-channel image already has). */
static varia_status load_images(varia_ctx *ctx, const char *path, int64_t limit,
                                varia_seqset *out)
{
    varia_dataset d;
    varia_status st = varia_dataset_load(ctx, path, limit, &d);
    if (st != VARIA_OK)
        return st;
    if (d.shape.rank != 3) {
        varia_dataset_free(&d);
        return varia_fail(ctx, VARIA_ERR_SHAPE, "'%s': examples of %lld values are not images: "
                          "no rows to make sequences of", path, (long long)d.example_size);
    }
    int64_t c = d.shape.dims[0], h = d.shape.dims[1], w = d.shape.dims[2];
    int64_t *lengths = malloc((size_t)d.n * sizeof *lengths);
    for (int64_t i = 0; lengths && i < d.n; i++)
        lengths[i] = h;
    st = lengths ? alloc_set(ctx, path, lengths, d.n, c * w, out)
                 : varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory", path);
    for (int64_t i = 0; st == VARIA_OK && i < d.n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t t = 0; t < h; t++)
                memcpy(out->x + ((i * h + t) * c + ch) * w, d.x + ((i * c + ch) * h + t) * w,
                       (size_t)w * sizeof(float));
    varia_dataset_free(&d);
    return st;
}

/* ---- Entry point ------------------------------------------------------------ */

/* Map path read-only (*buf NULL for an empty file); unmap with munmap. */
static varia_status map_file(varia_ctx *ctx, const char *path, uint8_t **buf, size_t *len)
{
    int fd = varia_open_regular(ctx, path, "dataset");
    if (fd < 0)
        return VARIA_ERR_IO;
    struct stat sb;
    *buf = NULL;
    *len = 0;
    varia_status st = VARIA_OK;
    if (fstat(fd, &sb) != 0)
        st = varia_fail(ctx, VARIA_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    else if ((*len = (size_t)sb.st_size) > 0) {
        void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            st = varia_fail(ctx, VARIA_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        else
            *buf = p;
    }
    close(fd);
    return st;
}

/* A zip's first bytes: a local header, or the end record of an empty archive. */
static int is_zip(const uint8_t *b, size_t len)
{
    return len >= 4 && b[0] == 'P' && b[1] == 'K' &&
           ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6));
}

/* An .npz or .npy by its first bytes; *handled = 0 leaves the file to the
 * image loaders (which read gzip, IDX and .amat from a stream). */
static varia_status load_mapped(varia_ctx *ctx, const char *path, int64_t limit,
                                varia_seqset *out, int *handled)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    varia_status st = map_file(ctx, path, &buf, &len);
    *handled = st != VARIA_OK;
    if (st == VARIA_OK && is_zip(buf, len))
        *handled = 1, st = load_npz(ctx, path, buf, len, limit, out);
    else if (st == VARIA_OK && len >= 6 && !memcmp(buf, "\x93NUMPY", 6))
        *handled = 1, st = load_npy(ctx, path, buf, len, limit, out);
    if (buf)
        munmap(buf, len);
    return st;
}

varia_status varia_seqset_load(varia_ctx *ctx, const char *path, int64_t limit,
                               varia_seqset *out)
{
    if (!path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_seqset_load: null path or output");
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    int handled = 0;
    varia_status st = S_ISDIR(sb.st_mode) ? VARIA_OK : load_mapped(ctx, path, limit, out,
                                                                     &handled);
    if (!handled)
        st = load_images(ctx, path, limit, out);
    if (st != VARIA_OK)
        varia_seqset_free(out);
    return st;
}

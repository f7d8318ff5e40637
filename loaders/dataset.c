/* Dataset loading: IDX (MNIST-style), binarized-MNIST .amat text, and folders
 * of PNGs. Files are read through gzfile.c, so gzip is transparent, and no
 * further than needed: an IDX header is checked before its data is inflated,
 * and only the examples asked for (the limit) are read. Every example becomes
 * floats in [0, 1]. */
#include "ctx.h"
#include "gzfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dims */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dim */
#define DS_MAX_SIDE 16384
#define DS_MAX_EXAMPLE ((int64_t)1 << 26)  /* values per example */
#define DS_MAX_FLOATS ((int64_t)1 << 29)   /* whole dataset: 2 GiB of floats */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* How many of `count` examples to keep: limit > 0 caps it, otherwise all. */
static int64_t take(int64_t count, int64_t limit)
{
    return limit > 0 && limit < count ? limit : count;
}

static void image_shape(varia_shape *s, int64_t c, int64_t h, int64_t w)
{
    memset(s, 0, sizeof *s);
    s->rank = 3;
    s->dims[0] = c, s->dims[1] = h, s->dims[2] = w;
}

/* A flat example of d values: a perfect square is a 1-channel image, else a vector. */
static void flat_shape(varia_shape *s, int64_t d)
{
    int64_t r = 0;
    while ((r + 1) * (r + 1) <= d)
        r++;
    if (r * r == d) {
        image_shape(s, 1, r, r);
        return;
    }
    memset(s, 0, sizeof *s);
    s->rank = 1;
    s->dims[0] = d;
}

/* VARIA_ERR_TOO_LARGE when n*d floats exceed the cap. */
static varia_status check_floats(varia_ctx *ctx, const char *path, int64_t n, int64_t d)
{
    if (n > DS_MAX_FLOATS / d)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE,
                          "'%s': %lld examples of %lld values exceed the cap of %lld floats; "
                          "pass a limit", path, (long long)n, (long long)d,
                          (long long)DS_MAX_FLOATS);
    return VARIA_OK;
}

/* n*d floats, with the size checked against the cap before allocating. */
static varia_status alloc_floats(varia_ctx *ctx, const char *path, int64_t n, int64_t d,
                                 float **x)
{
    varia_status st = check_floats(ctx, path, n, d);
    if (st != VARIA_OK)
        return st;
    *x = malloc((size_t)(n * d) * sizeof **x);
    if (!*x)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory for %lld x %lld floats",
                          path, (long long)n, (long long)d);
    return VARIA_OK;
}

static void fill_out(varia_dataset *out, int64_t n, const varia_shape *shape, int64_t d,
                     float *x, uint8_t *labels)
{
    out->n = n;
    out->shape = *shape;
    out->example_size = d;
    out->x = x;
    out->labels = labels;
}

void varia_dataset_free(varia_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* ---- IDX ------------------------------------------------------------------ */

/* Validate an IDX images header (the first 16 bytes) before reading on: the
 * size it declares must be within the caps, so a header claiming terabytes is
 * refused before anything is inflated or allocated. */
static varia_status idx_header(varia_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
                               uint32_t dims[3])
{
    if (len < 16)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': IDX header truncated (%zu of 16 bytes)",
                          path, len);
    for (int i = 0; i < 3; i++)
        dims[i] = be32(buf + 4 + 4 * i);
    if (!dims[0] || !dims[1] || !dims[2])
        return varia_fail(ctx, VARIA_ERR_DATASET,
                          "'%s': IDX header (bytes 4-15) has a zero dimension: %u x %u x %u",
                          path, dims[0], dims[1], dims[2]);
    if (dims[1] > DS_MAX_SIDE || dims[2] > DS_MAX_SIDE ||
        (int64_t)dims[1] * dims[2] > DS_MAX_EXAMPLE)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "'%s': IDX images of %ux%u exceed the cap",
                          path, dims[1], dims[2]);
    uint64_t want = 16 + (uint64_t)dims[0] * dims[1] * dims[2]; /* < 2^58: no overflow */
    if (want > VARIA_GZ_MAX_BYTES)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE,
                          "'%s': IDX header declares %u images of %ux%u (%llu bytes), over the "
                          "cap of %zu bytes for a dataset file", path, dims[0], dims[1], dims[2],
                          (unsigned long long)want, VARIA_GZ_MAX_BYTES);
    return VARIA_OK;
}

/* The labels file next to `path`: "images-idx3" -> "labels-idx1" (same length),
 * trying the name as is, then with ".gz" removed or added. *name stays NULL
 * when there is no such file. */
static varia_status find_labels(varia_ctx *ctx, const char *path, char **name)
{
    static const char key[] = "images-idx3";
    const char *hit = NULL;
    for (const char *p = strstr(path, key); p; p = strstr(p + 1, key))
        hit = p;
    *name = NULL;
    if (!hit)
        return VARIA_OK;
    size_t n = strlen(path);
    char *buf = malloc(n + 4);
    if (!buf)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    memcpy(buf, path, n + 1);
    memcpy(buf + (hit - path), "labels-idx1", sizeof key - 1);
    if (!varia_path_exists(buf)) {
        if (n > 3 && strcmp(buf + n - 3, ".gz") == 0)
            buf[n - 3] = '\0';
        else
            memcpy(buf + n, ".gz", 4);
    }
    if (varia_path_exists(buf))
        *name = buf;
    else
        free(buf);
    return VARIA_OK;
}

/* The labels header, and the length when the whole file was asked for (all:
 * `more` says whether bytes follow the `len` read). */
static varia_status check_labels(varia_ctx *ctx, const char *name, const uint8_t *buf,
                                 size_t len, int more, uint32_t count, int64_t n)
{
    if (len < 8)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': IDX labels header truncated (%zu of 8 "
                          "bytes)", name, len);
    if (be32(buf) != IDX_LABELS_MAGIC)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': bad magic 0x%08x at byte 0 (expected "
                          "0x%08x for IDX labels)", name, be32(buf), IDX_LABELS_MAGIC);
    if (be32(buf + 4) != count)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': header (byte 4) says %u labels but the "
                          "images file holds %u images", name, be32(buf + 4), count);
    if (len < 8 + (uint64_t)n || (n == count && more))
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': %s: header says %u labels, file holds "
                          "%s%zu bytes (expected %llu)", name, more ? "extra bytes" : "truncated",
                          count, more ? "more than " : "", len, 8 + (unsigned long long)count);
    return VARIA_OK;
}

/* Load and validate the labels file `name`; keep the first n of its count
 * labels, inflating no more than those (and one byte to see the end when all
 * are wanted). */
static varia_status load_labels(varia_ctx *ctx, const char *name, uint32_t count, int64_t n,
                                uint8_t **labels)
{
    size_t want = 8 + (size_t)n + (n == count), got = 0;
    uint8_t *buf = malloc(want);
    varia_gz *s = NULL;
    varia_status st = buf ? varia_gz_open(ctx, name, &s)
                          : varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory for labels");
    if (st == VARIA_OK)
        st = varia_gz_read(ctx, s, buf, want, &got);
    varia_gz_close(s);
    int more = n == count && got == want;
    if (st == VARIA_OK)
        st = check_labels(ctx, name, buf, more ? got - 1 : got, more, count, n);
    if (st != VARIA_OK) {
        free(buf);
        return st;
    }
    memmove(buf, buf + 8, (size_t)n); /* reuse the buffer: the labels follow the header */
    *labels = buf;
    return VARIA_OK;
}

/* Room for `need` floats in *x (capacity *cap), grown by doubling up to
 * total: memory follows the data that arrives, not what a header claims. */
static int grow_floats(float **x, uint64_t *cap, uint64_t need, uint64_t total)
{
    if (need <= *cap)
        return 1;
    uint64_t c = *cap ? 2 * *cap : (uint64_t)1 << 20;
    c = c < need ? need : c > total ? total : c;
    float *p = realloc(*x, (size_t)c * sizeof *p);
    if (!p)
        return 0;
    *x = p;
    *cap = c;
    return 1;
}

/* The pixels of the first n images, straight from the stream into floats in
 * [0, 1] (no copy of the file in memory) in *x (the caller frees it, also on
 * failure). When all are wanted, the stream must end right after them: a long
 * file carries bytes nobody owns. */
static varia_status idx_pixels(varia_ctx *ctx, const char *path, varia_gz *s,
                               const uint32_t dims[3], int64_t n, float **xp)
{
    uint8_t chunk[1 << 16];
    uint64_t total = (uint64_t)n * dims[1] * dims[2], done = 0, cap = 0;
    size_t got = 0;
    if (!(*xp = malloc(sizeof(float)))) /* never NULL, even for no pixels */
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory", path);
    while (done < total) {
        size_t want = total - done < sizeof chunk ? (size_t)(total - done) : sizeof chunk;
        varia_status st = varia_gz_read(ctx, s, chunk, want, &got);
        if (st != VARIA_OK)
            return st;
        if (!grow_floats(xp, &cap, done + got, total))
            return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory for %llu pixels", path,
                              (unsigned long long)(done + got));
        float *x = *xp;
        for (size_t i = 0; i < got; i++)
            x[done + i] = (float)chunk[i] / 255.0f;
        done += got;
        if (got < want)
            return varia_fail(ctx, VARIA_ERR_DATASET,
                              "'%s': truncated: header says %u images of %ux%u (%llu bytes), "
                              "file holds %llu bytes", path, dims[0], dims[1], dims[2],
                              16 + (unsigned long long)dims[0] * dims[1] * dims[2],
                              16 + (unsigned long long)done);
    }
    varia_status st = n == dims[0] ? varia_gz_read(ctx, s, chunk, 1, &got) : VARIA_OK;
    if (st == VARIA_OK && n == dims[0] && got)
        st = varia_fail(ctx, VARIA_ERR_DATASET, "'%s': extra bytes at offset %llu: header says "
                        "%u images of %ux%u, the file goes on", path, 16 + (unsigned long long)total,
                        dims[0], dims[1], dims[2]);
    return st;
}

/* An IDX images file whose 16-byte header `head` was just read from s. */
static varia_status load_idx(varia_ctx *ctx, const char *path, varia_gz *s, const uint8_t *head,
                             size_t len, int64_t limit, varia_dataset *out)
{
    uint32_t dims[3];
    varia_status st = idx_header(ctx, path, head, len, dims);
    if (st != VARIA_OK)
        return st;
    int64_t n = take(dims[0], limit), d = (int64_t)dims[1] * dims[2];
    float *x = NULL;
    uint8_t *labels = NULL;
    char *lname = NULL;
    if ((st = check_floats(ctx, path, n, d)) == VARIA_OK &&
        (st = idx_pixels(ctx, path, s, dims, n, &x)) == VARIA_OK &&
        (st = find_labels(ctx, path, &lname)) == VARIA_OK && lname)
        st = load_labels(ctx, lname, dims[0], n, &labels);
    free(lname);
    if (st != VARIA_OK) {
        free(x);
        return st;
    }
    varia_shape shape;
    image_shape(&shape, 1, dims[1], dims[2]);
    fill_out(out, n, &shape, d, x, labels);
    return VARIA_OK;
}

/* ---- .amat text ------------------------------------------------------------ */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Digits [. digits] [e [sign] digits], without strtod: no locale dependence and
 * no need for a NUL-terminated buffer. Returns the end of the number or NULL. */
static const char *parse_number(const char *p, const char *end, double *out)
{
    int neg = p < end && *p == '-', digits = 0;
    p += p < end && (*p == '-' || *p == '+');
    double v = 0.0, scale = 0.1;
    for (; p < end && is_digit(*p); p++, digits++)
        v = v * 10.0 + (*p - '0');
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++, digits++, scale *= 0.1)
            v += (*p - '0') * scale;
    if (!digits)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = ++p < end && *p == '-', e = 0, edigits = 0;
        p += p < end && (*p == '-' || *p == '+');
        for (; p < end && is_digit(*p); p++, edigits++)
            e = e < 1000 ? e * 10 + (*p - '0') : e;
        if (!edigits)
            return NULL;
        for (; e > 0; e--) /* overflow to inf is fine: it fails the range check */
            v = eneg ? v / 10.0 : v * 10.0;
    }
    *out = neg ? -v : v;
    return p;
}

/* Length of the token at p, for quoting it in messages (at most 24 chars). */
static int token_len(const char *p, const char *eol)
{
    int n = 0;
    while (p + n < eol && n < 24 && !is_blank(p[n]))
        n++;
    return n;
}

/* Parse one line [p, eol) into x (NULL: just count). At most `cap` values are
 * stored; *count gets the number found. Line numbers in messages are 1-based. */
static varia_status parse_line(varia_ctx *ctx, const char *path, int64_t line, const char *p,
                               const char *eol, float *x, int64_t cap, int64_t *count)
{
    int64_t k = 0;
    for (;;) {
        while (p < eol && is_blank(*p))
            p++;
        if (p == eol)
            break;
        double v = 0.0;
        const char *q = parse_number(p, eol, &v);
        if (!q || (q < eol && !is_blank(*q)))
            return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' line %lld: value %lld ('%.*s') is "
                              "not a number", path, (long long)line, (long long)k + 1,
                              token_len(p, eol), p);
        if (!(v >= 0.0 && v <= 1.0))
            return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' line %lld: value %lld (%g) is "
                              "outside [0, 1]", path, (long long)line, (long long)k + 1, v);
        if (x && k < cap)
            x[k] = (float)v;
        k++;
        p = q;
    }
    *count = k;
    return VARIA_OK;
}

/* End of the text with trailing whitespace/newlines dropped, and its line count. */
static const char *text_end(const char *buf, size_t len, int64_t *lines)
{
    const char *end = buf + len;
    while (end > buf && (is_blank(end[-1]) || end[-1] == '\n'))
        end--;
    *lines = end > buf;
    for (const char *p = buf; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        (*lines)++;
    return end;
}

/* Every line must hold the same number of values as the first. With x NULL
 * the lines are only checked. */
static varia_status parse_lines(varia_ctx *ctx, const char *path, const char *p, const char *end,
                                int64_t n, int64_t d, float *x)
{
    for (int64_t i = 0; i < n; i++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        eol = eol ? eol : end;
        int64_t k = 0;
        varia_status s = parse_line(ctx, path, i + 1, p, eol, x ? x + i * d : NULL, d, &k);
        if (s != VARIA_OK)
            return s;
        if (k != d)
            return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' line %lld has %lld values; line 1 "
                              "has %lld", path, (long long)i + 1, (long long)k, (long long)d);
        p = eol + (eol < end);
    }
    return VARIA_OK;
}

static varia_status load_amat(varia_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
                              int64_t limit, varia_dataset *out)
{
    const char *text = (const char *)buf;
    int64_t lines = 0, d = 0;
    const char *end = text_end(text, len, &lines);
    const char *eol1 = memchr(text, '\n', (size_t)(end - text));
    varia_status s = parse_line(ctx, path, 1, text, eol1 ? eol1 : end, NULL, 0, &d);
    if (s != VARIA_OK)
        return s;
    if (d == 0)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' line 1 holds no values", path);
    if (d > DS_MAX_EXAMPLE)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "'%s' line 1 holds %lld values (cap %lld)",
                          path, (long long)d, (long long)DS_MAX_EXAMPLE);
    int64_t n = take(lines, limit);
    /* Check every line before allocating: a few bytes of short lines must
     * not buy a lines x values allocation. Then parse again into the floats. */
    float *x = NULL;
    if ((s = parse_lines(ctx, path, text, end, n, d, NULL)) == VARIA_OK &&
        (s = alloc_floats(ctx, path, n, d, &x)) == VARIA_OK)
        s = parse_lines(ctx, path, text, end, n, d, x);
    if (s != VARIA_OK) {
        free(x);
        return s;
    }
    varia_shape shape;
    flat_shape(&shape, d);
    fill_out(out, n, &shape, d, x, NULL);
    return VARIA_OK;
}

/* ---- Folder of PNGs ------------------------------------------------------- */

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void free_names(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "*.png" (any case), hidden files excluded. */
static int is_png_name(const char *s)
{
    size_t n = strlen(s);
    if (s[0] == '.' || n < 5)
        return 0;
    const char *e = s + n - 4;
    return e[0] == '.' && (e[1] | 32) == 'p' && (e[2] | 32) == 'n' && (e[3] | 32) == 'g';
}

static int push_name(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 0;
        l->v = v, l->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return 0;
    l->v[l->n++] = copy;
    return 1;
}

/* The sorted (strcmp) names of the PNGs in `dir`. */
static varia_status list_pngs(varia_ctx *ctx, const char *dir, name_list *l)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot open directory '%s': %s", dir,
                          strerror(errno));
    varia_status s = VARIA_OK;
    struct dirent *e;
    for (errno = 0; (e = readdir(dp)) != NULL; errno = 0)
        if (is_png_name(e->d_name) && !push_name(l, e->d_name)) {
            s = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory listing '%s'", dir);
            break;
        }
    if (s == VARIA_OK && errno != 0)
        s = varia_fail(ctx, VARIA_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
    closedir(dp);
    if (s == VARIA_OK && l->n)
        qsort(l->v, l->n, sizeof *l->v, cmp_names);
    return s;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* Interleaved 8-bit pixels -> channel-major floats in [0, 1]. */
static void to_planar(const varia_image *img, float *x)
{
    size_t hw = (size_t)img->width * (size_t)img->height;
    for (int c = 0; c < img->channels; c++)
        for (size_t i = 0; i < hw; i++)
            x[(size_t)c * hw + i] = img->pixels[i * (size_t)img->channels + (size_t)c] / 255.0f;
}

/* Read PNG number i into x (allocated from the first image's size). */
static varia_status load_one_png(varia_ctx *ctx, const char *dir, const name_list *l, size_t i,
                                 int64_t n, varia_image *first, float **x)
{
    char *path = join_path(dir, l->v[i]);
    if (!path)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    varia_image img = {0};
    varia_status s = varia_png_read(ctx, path, &img);
    if (s == VARIA_OK && i == 0) {
        *first = img;
        first->pixels = NULL;
        s = alloc_floats(ctx, path, n, (int64_t)img.channels * img.width * img.height, x);
    } else if (s == VARIA_OK && (img.width != first->width || img.height != first->height ||
                                 img.channels != first->channels)) {
        s = varia_fail(ctx, VARIA_ERR_DATASET, "'%s' is %dx%d with %d channel(s); '%s' (the "
                       "first PNG) is %dx%d with %d", path, img.width, img.height,
                       img.channels, l->v[0], first->width, first->height, first->channels);
    }
    if (s == VARIA_OK)
        to_planar(&img, *x + i * (size_t)img.channels * img.width * img.height);
    varia_image_free(&img);
    free(path);
    return s;
}

static varia_status load_png_dir(varia_ctx *ctx, const char *dir, int64_t limit,
                                 varia_dataset *out)
{
    name_list l = {0};
    varia_status s = list_pngs(ctx, dir, &l);
    if (s == VARIA_OK && l.n == 0)
        s = varia_fail(ctx, VARIA_ERR_DATASET, "directory '%s' holds no .png files", dir);
    int64_t n = take((int64_t)l.n, limit);
    varia_image first = {0};
    float *x = NULL;
    for (int64_t i = 0; s == VARIA_OK && i < n; i++)
        s = load_one_png(ctx, dir, &l, (size_t)i, n, &first, &x);
    free_names(&l);
    if (s != VARIA_OK) {
        free(x);
        return s;
    }
    varia_shape shape;
    image_shape(&shape, first.channels, first.height, first.width);
    fill_out(out, n, &shape, (int64_t)first.channels * first.height * first.width, x, NULL);
    return VARIA_OK;
}

/* ---- Entry point ---------------------------------------------------------- */

/* Text that could be .amat: starts like a number. */
static int looks_like_amat(const uint8_t *buf, size_t len)
{
    return len > 0 && (is_digit((char)buf[0]) || buf[0] == '.' || buf[0] == '+' || buf[0] == '-');
}

/* .amat text: the rest of the stream after `head`; with a limit, only as far
 * as the lines asked for. */
static varia_status load_amat_stream(varia_ctx *ctx, const char *path, varia_gz *s,
                                     const uint8_t *head, size_t len, int64_t limit,
                                     varia_dataset *out)
{
    uint8_t *buf = NULL;
    size_t all = 0;
    varia_status st = varia_gz_read_rest(ctx, s, head, len, VARIA_GZ_MAX_BYTES,
                                         limit > 0 ? limit : 0, &buf, &all);
    if (st == VARIA_OK)
        st = load_amat(ctx, path, buf, all, limit, out);
    free(buf);
    return st;
}

/* Pick the reader from the first bytes (`head`, len of them) of stream s. */
static varia_status dispatch(varia_ctx *ctx, const char *path, varia_gz *s, const uint8_t *head,
                             size_t len, int64_t limit, varia_dataset *out)
{
    uint32_t magic = len >= 4 ? be32(head) : 0xffffffffu;
    if (len == 0)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' is empty", path);
    if (magic == IDX_IMAGES_MAGIC)
        return load_idx(ctx, path, s, head, len, limit, out);
    if (magic == IDX_LABELS_MAGIC)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' is an IDX labels file; pass the images "
                          "file (its labels are found next to it)", path);
    if ((magic >> 16) == 0)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': unsupported IDX magic 0x%08x at byte 0 "
                          "(expected 0x%08x: unsigned bytes, 3 dims)", path, magic,
                          IDX_IMAGES_MAGIC);
    if (looks_like_amat(head, len))
        return load_amat_stream(ctx, path, s, head, len, limit, out);
    return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': unrecognised dataset format (not IDX, "
                      ".amat text, or a directory of PNGs)", path);
}

/* Sniff the first 16 bytes, then let the format's reader take what it needs
 * from the stream: a bomb whose first bytes are not a dataset is refused
 * after 16 bytes, not after a gigabyte. */
static varia_status load_file(varia_ctx *ctx, const char *path, int64_t limit,
                              varia_dataset *out)
{
    varia_gz *s = NULL;
    uint8_t head[16];
    size_t len = 0;
    varia_status st = varia_gz_open(ctx, path, &s);
    if (st == VARIA_OK)
        st = varia_gz_read(ctx, s, head, sizeof head, &len);
    if (st == VARIA_OK)
        st = dispatch(ctx, path, s, head, len, limit, out);
    varia_gz_close(s);
    return st;
}

varia_status varia_dataset_load(varia_ctx *ctx, const char *path, int64_t limit,
                                varia_dataset *out)
{
    if (!path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_dataset_load: null path or output");
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return load_png_dir(ctx, path, limit, out);
    return load_file(ctx, path, limit, out);
}

/* NumPy .npy arrays, written from numpy.lib.format's description: the magic
 * "\x93NUMPY", a major and minor version byte, the header length (u16 LE for
 * 1.0, u32 LE for 2.0 and 3.0), then the header: a Python dict literal with
 * exactly the keys 'descr', 'fortran_order' and 'shape', padded with spaces
 * and ended by a newline (3.0 only allows UTF-8 in it). This is not a Python
 * parser: it accepts the literal numpy writes (either quote, any key order,
 * spaces and tabs between tokens, an optional trailing comma, Python 2's "L"
 * after an integer) and refuses anything else, naming the byte. Fortran-order
 * arrays are read, transposed into C order on conversion: SciPy's .mat
 * readers hand out Fortran-order arrays, and savez keeps the order. */
#include "npy.h"

#include "ctx.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_BYTES ((uint64_t)1 << 62) /* sums of a few such sizes stay in uint64 */

/* A cursor over the header text; `file` is byte 0 of the .npy, for offsets. */
typedef struct hdr {
    varia_ctx *ctx;
    const char *what;
    const uint8_t *file, *p, *end;
} hdr;

/* VARIA_ERR_DATASET naming the byte under the cursor and what should be there. */
static varia_status syntax(hdr *h, const char *expected)
{
    if (h->p >= h->end)
        return varia_fail(h->ctx, VARIA_ERR_DATASET, "%s: .npy header ends at byte %zu where %s "
                          "was expected", h->what, (size_t)(h->p - h->file), expected);
    return varia_fail(h->ctx, VARIA_ERR_DATASET, "%s: .npy header byte %zu is 0x%02x ('%c') where "
                      "%s was expected", h->what, (size_t)(h->p - h->file), *h->p,
                      *h->p >= 0x20 && *h->p < 0x7f ? *h->p : '?', expected);
}

/* Past spaces and tabs (a newline only ends the header). */
static void skip_ws(hdr *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t'))
        h->p++;
}

/* Consume c (after blanks) or fail naming it. */
static varia_status eat(hdr *h, char c, const char *expected)
{
    skip_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return VARIA_OK;
    }
    return syntax(h, expected);
}

/* A quoted string without escapes, at most cap - 1 bytes, into out. */
static varia_status parse_str(hdr *h, char *out, size_t cap, const char *expected)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return syntax(h, expected);
    uint8_t q = *h->p++;
    size_t n = 0;
    for (; h->p < h->end && *h->p != q; h->p++, n++) {
        if (*h->p == '\\' || *h->p < 0x20 || *h->p >= 0x7f || n + 1 >= cap)
            return syntax(h, n + 1 >= cap ? "a shorter string" : "a plain ASCII string character");
        out[n] = (char)*h->p;
    }
    if (h->p >= h->end)
        return syntax(h, "the closing quote");
    h->p++;
    out[n] = '\0';
    return VARIA_OK;
}

/* A non-negative decimal integer (no leading zero, optional Python 2 "L")
 * of at most 2^62. */
static varia_status parse_dim(hdr *h, int64_t *out)
{
    skip_ws(h);
    const uint8_t *start = h->p;
    uint64_t v = 0;
    for (; h->p < h->end && *h->p >= '0' && *h->p <= '9'; h->p++) {
        if (h->p > start && *start == '0')
            return syntax(h, "no digit after a leading 0");
        if (v > NPY_MAX_BYTES / 10 || (v = v * 10 + (uint64_t)(*h->p - '0')) > NPY_MAX_BYTES)
            return varia_fail(h->ctx, VARIA_ERR_TOO_LARGE, "%s: a 'shape' dimension at .npy header "
                              "byte %zu exceeds 2^62", h->what, (size_t)(start - h->file));
    }
    if (h->p == start)
        return syntax(h, "a dimension (a non-negative integer)");
    if (h->p < h->end && *h->p == 'L')
        h->p++;
    *out = (int64_t)v;
    return VARIA_OK;
}

/* A tuple of dimensions: "()", "(n,)", "(a, b)", "(a, b,)". */
static varia_status parse_shape(hdr *h, varia_npy *a)
{
    varia_status st = eat(h, '(', "'(' opening the shape tuple");
    a->rank = 0;
    skip_ws(h);
    while (st == VARIA_OK && !(h->p < h->end && *h->p == ')')) {
        if (a->rank == VARIA_NPY_MAX_RANK)
            return varia_fail(h->ctx, VARIA_ERR_TOO_LARGE, "%s: 'shape' has more than %d "
                              "dimensions", h->what, VARIA_NPY_MAX_RANK);
        if ((st = parse_dim(h, &a->shape[a->rank++])) != VARIA_OK)
            return st;
        skip_ws(h);
        if (h->p < h->end && *h->p == ',')
            h->p++, skip_ws(h);
        else if (a->rank == 1) /* "(5)" is the integer 5 in Python, not a tuple */
            return syntax(h, "',' after the only dimension");
        else if (!(h->p < h->end && *h->p == ')'))
            return syntax(h, "',' or ')' in the shape tuple");
    }
    return st == VARIA_OK ? eat(h, ')', "')'") : st;
}

/* Python's True or False. */
static varia_status parse_bool(hdr *h, int *out)
{
    skip_ws(h);
    size_t left = (size_t)(h->end - h->p);
    if (left >= 4 && !memcmp(h->p, "True", 4))
        *out = 1, h->p += 4;
    else if (left >= 5 && !memcmp(h->p, "False", 5))
        *out = 0, h->p += 5;
    else
        return syntax(h, "True or False for 'fortran_order'");
    return VARIA_OK;
}

/* 'descr': a byte order, a kind and a size, of the kinds sequence data uses. */
static varia_status parse_descr(hdr *h, varia_npy *a)
{
    skip_ws(h);
    if (h->p < h->end && *h->p == '[')
        return varia_fail(h->ctx, VARIA_ERR_DTYPE, "%s: 'descr' is a structured dtype (a list); "
                          "only plain numeric arrays are read", h->what);
    char d[16];
    varia_status st = parse_str(h, d, sizeof d, "a dtype string for 'descr'");
    if (st != VARIA_OK)
        return st;
    static const char *const ok[] = {"|b1", "|i1", "|u1", "<i1", "<u1", ">i1", ">u1",
                                     "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f4", "<f8",
                                     ">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">f4", ">f8"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(d, ok[i])) {
            a->big_endian = d[0] == '>';
            a->kind = (varia_npy_kind)d[1];
            a->size = d[2] - '0';
            return VARIA_OK;
        }
    return varia_fail(h->ctx, VARIA_ERR_DTYPE, "%s: dtype '%s' is not supported (bool, int8-64, "
                      "uint8-64, float32, float64)", h->what, d);
}

/* One "key: value" of the dict; seen[] marks the keys met so far. */
static varia_status parse_item(hdr *h, varia_npy *a, int seen[3])
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    const uint8_t *at = h->p;
    char key[32];
    varia_status st = parse_str(h, key, sizeof key, "a quoted key");
    int k = 0;
    while (st == VARIA_OK && k < 3 && strcmp(key, keys[k]))
        k++;
    if (st == VARIA_OK && k == 3)
        return varia_fail(h->ctx, VARIA_ERR_DATASET, "%s: unknown key '%s' in the .npy header "
                          "(byte %zu)", h->what, key, (size_t)(at - h->file));
    if (st == VARIA_OK && seen[k]++)
        return varia_fail(h->ctx, VARIA_ERR_DUPLICATE, "%s: key '%s' twice in the .npy header",
                          h->what, key);
    if (st == VARIA_OK)
        st = eat(h, ':', "':' after the key");
    if (st == VARIA_OK)
        st = k == 0 ? parse_descr(h, a) : k == 1 ? parse_bool(h, &a->fortran_order)
                                                 : parse_shape(h, a);
    return st;
}

/* The dict literal, then blanks and the closing newline. */
static varia_status parse_dict(hdr *h, varia_npy *a)
{
    int seen[3] = {0, 0, 0};
    varia_status st = eat(h, '{', "'{' opening the header dict");
    for (skip_ws(h); st == VARIA_OK && !(h->p < h->end && *h->p == '}'); skip_ws(h)) {
        if ((st = parse_item(h, a, seen)) != VARIA_OK)
            return st;
        skip_ws(h);
        if (h->p < h->end && *h->p == ',')
            h->p++;
        else if (!(h->p < h->end && *h->p == '}'))
            return syntax(h, "',' or '}' after a value");
    }
    if (st == VARIA_OK)
        st = eat(h, '}', "'}'");
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    for (int k = 0; st == VARIA_OK && k < 3; k++)
        if (!seen[k])
            st = varia_fail(h->ctx, VARIA_ERR_DATASET, "%s: the .npy header has no '%s' key",
                            h->what, keys[k]);
    skip_ws(h);
    if (st == VARIA_OK && !(h->p + 1 == h->end && *h->p == '\n'))
        st = syntax(h, "only spaces and one final newline after the dict");
    return st;
}

/* Length of the valid UTF-8 sequence at p (at most left bytes), 0 if none. */
static size_t utf8_len(const uint8_t *p, size_t left)
{
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
             : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > left || (n == 2 && p[0] < 0xc2) || (n == 4 && p[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, or beyond U+10FFFF */
    return n;
}

/* Version 3.0 promises UTF-8; 1.0 and 2.0 latin-1, of which a valid header
 * uses only ASCII. Either way a bad byte gets its own message. */
static varia_status check_encoding(varia_ctx *ctx, const char *what, int version,
                                   const uint8_t *file, size_t start, size_t end)
{
    for (size_t i = start; i < end;) {
        size_t n = version == 3 ? utf8_len(file + i, end - i) : file[i] < 0x80;
        if (n == 0)
            return varia_fail(ctx, VARIA_ERR_DATASET, "%s: .npy header byte %zu (0x%02x) is not "
                              "%s", what, i, file[i], version == 3 ? "valid UTF-8" : "ASCII");
        i += n;
    }
    return VARIA_OK;
}

/* The fixed preamble: magic, version, header length; *start, *hend bound the
 * header text in buf. */
static varia_status preamble(varia_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                             int *version, size_t *start, size_t *hend)
{
    int magic = len > 0 && !memcmp(buf, NPY_MAGIC, len < 6 ? len : 6);
    if (len < 10 || !magic)
        return varia_fail(ctx, VARIA_ERR_DATASET, "%s: %s", what, magic
                          ? "truncated in the 10-byte .npy preamble"
                          : "not a .npy file (no \\x93NUMPY magic at byte 0)");
    if ((buf[6] != 1 && buf[6] != 2 && buf[6] != 3) || buf[7] != 0)
        return varia_fail(ctx, VARIA_ERR_VERSION, "%s: .npy format version %u.%u (bytes 6-7) is "
                          "not 1.0, 2.0 or 3.0", what, buf[6], buf[7]);
    *version = buf[6];
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    *start = 10;
    if (*version > 1) {
        if (len < 12)
            return varia_fail(ctx, VARIA_ERR_HEADER, "%s: truncated in the 12-byte .npy %d.0 "
                              "preamble", what, *version);
        hlen |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        *start = 12;
    }
    if (hlen > VARIA_NPY_HEADER_CAP)
        return varia_fail(ctx, VARIA_ERR_HEADER, "%s: .npy header length %zu exceeds the cap of "
                          "%d bytes", what, hlen, VARIA_NPY_HEADER_CAP);
    if (hlen > len - *start)
        return varia_fail(ctx, VARIA_ERR_HEADER, "%s: .npy header of %zu bytes runs past the end "
                          "(%zu bytes)", what, hlen, len);
    *hend = *start + hlen;
    return VARIA_OK;
}

/* Preamble and header; *data_at is where the elements begin, *nbytes their size. */
static varia_status parse_header(varia_ctx *ctx, const char *what, const uint8_t *buf,
                                 size_t len, varia_npy *a, size_t *data_at, uint64_t *nbytes)
{
    size_t start = 0, hend = 0;
    memset(a, 0, sizeof *a);
    varia_status st = preamble(ctx, what, buf, len, &a->version, &start, &hend);
    if (st == VARIA_OK)
        st = check_encoding(ctx, what, a->version, buf, start, hend);
    hdr h = {ctx, what, buf, buf + start, buf + hend};
    if (st == VARIA_OK)
        st = parse_dict(&h, a);
    if (st != VARIA_OK)
        return st;
    uint64_t count = 1;
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] && count > NPY_MAX_BYTES / 8 / (uint64_t)a->shape[i])
            return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "%s: 'shape' overflows: the element "
                              "count exceeds 2^59 at dimension %d", what, i);
        count *= (uint64_t)a->shape[i];
    }
    a->count = (int64_t)count;
    *data_at = hend;
    *nbytes = count * (uint64_t)a->size;
    return VARIA_OK;
}

varia_status varia_npy_header(varia_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                              varia_npy *out, uint64_t *total)
{
    size_t at = 0;
    uint64_t nbytes = 0;
    varia_status st = parse_header(ctx, what, buf, len, out, &at, &nbytes);
    if (st == VARIA_OK)
        *total = (uint64_t)at + nbytes;
    return st;
}

varia_status varia_npy_parse(varia_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                             varia_npy *out)
{
    varia_npy a;
    size_t at = 0;
    uint64_t nbytes = 0;
    varia_status st = parse_header(ctx, what, buf, len, &a, &at, &nbytes);
    if (st != VARIA_OK)
        return st;
    if (nbytes != len - at)
        return varia_fail(ctx, nbytes > len - at ? VARIA_ERR_TRUNCATED : VARIA_ERR_TRAILING,
                          "%s: the header's dtype and shape need %llu data bytes after byte %zu; "
                          "the file holds %zu", what, (unsigned long long)nbytes, at, len - at);
    a.data = buf + at;
    *out = a;
    return VARIA_OK;
}

/* ---- Conversion ------------------------------------------------------------ */

/* The unsigned bits of storage element i. */
static uint64_t raw_at(const varia_npy *a, int64_t i)
{
    const uint8_t *p = a->data + (size_t)i * (size_t)a->size;
    uint64_t v = 0;
    for (int b = 0; b < a->size; b++)
        v |= (uint64_t)p[a->big_endian ? a->size - 1 - b : b] << (8 * b);
    return v;
}

/* A signed element from its bits (two's complement of size bytes). */
static int64_t as_signed(uint64_t v, int size)
{
    if (size < 8 && (v >> (8 * size - 1)) & 1)
        return (int64_t)v - ((int64_t)1 << (8 * size));
    int64_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

/* An element's value from its bits, by the array's kind and size. */
static double as_double(const varia_npy *a, uint64_t v)
{
    if (a->kind == VARIA_NPY_INT)
        return (double)as_signed(v, a->size);
    if (a->kind != VARIA_NPY_FLOAT)
        return (double)v;
    if (a->size == 8) {
        double d;
        memcpy(&d, &v, sizeof d);
        return d;
    }
    uint32_t b = (uint32_t)v;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Walks C-order indices, giving each element's storage index: the index
 * itself for C order, the column-major offset for Fortran order. */
typedef struct walker {
    const varia_npy *a;
    int64_t idx[VARIA_NPY_MAX_RANK], stride[VARIA_NPY_MAX_RANK], at;
} walker;

static void walk_start(walker *w, const varia_npy *a, int64_t first)
{
    w->a = a;
    w->at = first;
    if (!a->fortran_order || a->rank < 2 || a->count == 0)
        return;
    int64_t s = 1;
    w->at = 0;
    for (int d = 0; d < a->rank; d++)
        w->stride[d] = s, s *= a->shape[d];
    for (int d = a->rank - 1; d >= 0; d--) {
        w->idx[d] = first % a->shape[d];
        first /= a->shape[d];
        w->at += w->idx[d] * w->stride[d];
    }
}

/* Storage index of the current element, then step to the next in C order. */
static int64_t walk_next(walker *w)
{
    int64_t at = w->at;
    const varia_npy *a = w->a;
    if (!a->fortran_order || a->rank < 2) {
        w->at++;
        return at;
    }
    for (int d = a->rank - 1; d >= 0; d--) {
        w->at += w->stride[d];
        if (++w->idx[d] < a->shape[d])
            break;
        w->at -= w->idx[d] * w->stride[d];
        w->idx[d] = 0;
    }
    return at;
}

varia_status varia_npy_to_float(varia_ctx *ctx, const char *what, const varia_npy *a,
                                int64_t first, int64_t n, float *dst)
{
    if (a->kind == VARIA_NPY_UINT && a->size == 1 && (!a->fortran_order || a->rank < 2)) {
        for (int64_t i = 0; i < n; i++) /* the common case (piano rolls): no dispatch */
            dst[i] = (float)a->data[first + i];
        return VARIA_OK;
    }
    walker w;
    walk_start(&w, a, first);
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = raw_at(a, walk_next(&w));
        if (a->kind == VARIA_NPY_BOOL && v > 1)
            return varia_fail(ctx, VARIA_ERR_DATASET, "%s: bool element %lld is the byte %llu, "
                              "not 0 or 1", what, (long long)(first + i), (unsigned long long)v);
        dst[i] = (float)as_double(a, v);
        if (!isfinite(dst[i]))
            return varia_fail(ctx, VARIA_ERR_NONFINITE, "%s: element %lld is %s", what,
                              (long long)(first + i), isnan(dst[i]) ? "NaN"
                              : isinf(as_double(a, v)) ? "infinite" : "beyond float range");
    }
    return VARIA_OK;
}

varia_status varia_npy_to_int64(varia_ctx *ctx, const char *what, const varia_npy *a,
                                int64_t *dst)
{
    if (a->kind != VARIA_NPY_INT && a->kind != VARIA_NPY_UINT)
        return varia_fail(ctx, VARIA_ERR_DTYPE, "%s: dtype is %s; integers are needed", what,
                          a->kind == VARIA_NPY_BOOL ? "bool" : "float");
    walker w;
    walk_start(&w, a, 0);
    for (int64_t i = 0; i < a->count; i++) {
        uint64_t v = raw_at(a, walk_next(&w));
        if (a->kind == VARIA_NPY_UINT && v > (uint64_t)INT64_MAX)
            return varia_fail(ctx, VARIA_ERR_DATASET, "%s: element %lld (%llu) exceeds 2^63 - 1",
                              what, (long long)i, (unsigned long long)v);
        dst[i] = a->kind == VARIA_NPY_INT ? as_signed(v, a->size) : (int64_t)v;
    }
    return VARIA_OK;
}

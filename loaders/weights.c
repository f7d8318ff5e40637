/* Reads a weights file and validates it completely before anything uses it:
 * every size and offset is checked with overflow-safe arithmetic, the tensors
 * must tile the data region exactly, and every value must be finite. The file
 * is memory-mapped (or, from varia_model_load_memory, its bytes copied) and
 * checked by the same code either way; f32 tensors that are aligned are used
 * in place. */
#include "weights.h"

#include "file.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "varia reads little-endian weights in place: a big-endian port needs byte swapping here"
#endif

enum dtype { DT_F32, DT_F16, DT_BF16 };

typedef struct entry {          /* a tensor while the table is being checked */
    varia_tensor *t;
    enum dtype dtype;
    uint64_t begin, end;
} entry;

static int cmp_entry_begin(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : (x->end > y->end);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const varia_tensor *)a)->name, ((const varia_tensor *)b)->name);
}

/* A JSON number that is an integer in [0, 2^53] (exactly representable). */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double v = j->valuedouble;
    if (!(v >= 0.0 && v <= 9007199254740992.0) || v != floor(v))
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static varia_status parse_dtype(varia_ctx *ctx, const char *name, const cJSON *j,
                                enum dtype *dt, size_t *size)
{
    const char *s = cJSON_GetStringValue(j);
    if (!s)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "tensor '%s': \"dtype\" missing or not a string", name);
    if (!strcmp(s, "F32")) { *dt = DT_F32; *size = 4; return VARIA_OK; }
    if (!strcmp(s, "F16")) { *dt = DT_F16; *size = 2; return VARIA_OK; }
    if (!strcmp(s, "BF16")) { *dt = DT_BF16; *size = 2; return VARIA_OK; }
    return varia_fail(ctx, VARIA_ERR_DTYPE, "tensor '%s': dtype '%.32s' is not F32, F16 or BF16", name, s);
}

static varia_status parse_shape(varia_ctx *ctx, varia_tensor *t, const cJSON *j, size_t esize,
                                uint64_t *nbytes)
{
    if (!cJSON_IsArray(j))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "tensor '%s': \"shape\" missing or not an array", t->name);
    int rank = cJSON_GetArraySize(j);
    if (rank > VARIA_TENSOR_MAX_RANK)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "tensor '%s': rank %d exceeds %d", t->name, rank, VARIA_TENSOR_MAX_RANK);
    /* In 64 bits whatever size_t is (32 in WebAssembly), so that no dimension
     * is truncated before it is checked; 2^40 elements fit any file size. */
    const uint64_t cap = (uint64_t)1 << 40;
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *d = j->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v))
            return varia_fail(ctx, VARIA_ERR_OFFSET, "tensor '%s': shape[%d] is not a non-negative integer", t->name, i);
        if (v && numel > cap / v)
            return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "tensor '%s': element count overflows at shape[%d]", t->name, i);
        numel *= v;
        t->shape[i] = (int64_t)v;
    }
    t->rank = rank;
    t->numel = (int64_t)numel;
    *nbytes = numel * esize;
    return VARIA_OK;
}

static varia_status parse_entry(varia_ctx *ctx, const cJSON *j, entry *e)
{
    const char *name = e->t->name;
    if (!cJSON_IsObject(j))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "tensor '%s': entry is not an object", name);
    size_t esize = 0;
    uint64_t nbytes = 0;
    varia_status st = parse_dtype(ctx, name, cJSON_GetObjectItemCaseSensitive(j, "dtype"), &e->dtype, &esize);
    if (st == VARIA_OK)
        st = parse_shape(ctx, e->t, cJSON_GetObjectItemCaseSensitive(j, "shape"), esize, &nbytes);
    if (st != VARIA_OK)
        return st;
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "tensor '%s': \"data_offsets\" must be [begin, end]", name);
    if (!json_uint(off->child, &e->begin) || !json_uint(off->child->next, &e->end))
        return varia_fail(ctx, VARIA_ERR_OFFSET, "tensor '%s': data_offsets are not non-negative integers below 2^53", name);
    if (e->begin > e->end)
        return varia_fail(ctx, VARIA_ERR_OFFSET, "tensor '%s': data_offsets begin %llu > end %llu", name,
                          (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end - e->begin != nbytes)
        return varia_fail(ctx, VARIA_ERR_DTYPE, "tensor '%s': holds %llu bytes but its dtype and shape need %llu", name,
                          (unsigned long long)(e->end - e->begin), (unsigned long long)nbytes);
    return VARIA_OK;
}

/* The tensors sorted by offset must cover [0, data_len) exactly once. */
static varia_status check_tiling(varia_ctx *ctx, entry *e, int n, uint64_t data_len)
{
    qsort(e, (size_t)n, sizeof *e, cmp_entry_begin);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].begin < pos)
            return varia_fail(ctx, VARIA_ERR_OVERLAP, "tensor '%s' (bytes %llu..%llu) overlaps '%s'", e[i].t->name,
                              (unsigned long long)e[i].begin, (unsigned long long)e[i].end, e[i - 1].t->name);
        if (e[i].begin > pos)
            return varia_fail(ctx, VARIA_ERR_HOLE, "no tensor covers data bytes %llu..%llu (before '%s')",
                              (unsigned long long)pos, (unsigned long long)e[i].begin, e[i].t->name);
        pos = e[i].end;
    }
    if (pos > data_len)
        return varia_fail(ctx, VARIA_ERR_TRUNCATED, "tensor data ends at byte %llu but the file's data region holds only %llu bytes",
                          (unsigned long long)pos, (unsigned long long)data_len);
    if (pos < data_len)
        return varia_fail(ctx, VARIA_ERR_TRAILING, "%llu bytes after the last tensor (data ends at %llu of %llu)",
                          (unsigned long long)(data_len - pos), (unsigned long long)pos, (unsigned long long)data_len);
    return VARIA_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A weights table must not name a tensor twice. The strict JSON reader
 * already refuses a repeated key; this also holds for a table a caller built
 * as a cJSON tree by other means. */
static varia_status check_duplicates(varia_ctx *ctx, const varia_weights *w)
{
    char **names = malloc(((size_t)w->n + 1) * sizeof *names);
    if (!names)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < w->n; i++)
        names[i] = w->t[i].name;
    qsort(names, (size_t)w->n, sizeof *names, cmp_str);
    varia_status st = VARIA_OK;
    for (int i = 1; i < w->n && st == VARIA_OK; i++)
        if (!strcmp(names[i], names[i - 1]))
            st = varia_fail(ctx, VARIA_ERR_DUPLICATE, "tensor '%s' is listed twice", names[i]);
    free(names);
    return st;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: renormalise */
        exp = 113;
        while (!(man & 0x400)) { man <<= 1; exp--; }
        bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void widen(const entry *e, const unsigned char *src, float *dst)
{
    for (int64_t i = 0; i < e->t->numel; i++) {
        uint16_t h;
        uint32_t bits;
        switch (e->dtype) {
        case DT_F32: memcpy(&dst[i], src + 4 * i, 4); break;
        case DT_F16: memcpy(&h, src + 2 * i, 2); dst[i] = f16_to_f32(h); break;
        case DT_BF16:
            memcpy(&h, src + 2 * i, 2);
            bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, 4);
            break;
        }
    }
}

static int in_place(const entry *e, const unsigned char *base)
{
    return e->dtype == DT_F32 && ((uintptr_t)(base + e->begin) % sizeof(float)) == 0;
}

/* Point every tensor at f32 data: in the mapping where possible, else widened
 * or realigned into one owned buffer; then refuse non-finite values. */
static varia_status bind_data(varia_ctx *ctx, varia_weights *w, entry *e, const unsigned char *base)
{
    size_t owned = 0;
    for (int i = 0; i < w->n; i++)
        if (!in_place(&e[i], base))
            owned += (size_t)e[i].t->numel; /* bounded by the file size */
    if (owned) {
        w->owned = malloc(owned * sizeof(float));
        if (!w->owned)
            return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot allocate %zu floats for converted tensors", owned);
    }
    float *next = w->owned;
    for (int i = 0; i < w->n; i++) {
        varia_tensor *t = e[i].t;
        if (in_place(&e[i], base)) {
            t->data = (const float *)(const void *)(base + e[i].begin);
        } else {
            t->data = next;
            if (t->numel > 0) { /* next is NULL when every converted tensor is empty */
                widen(&e[i], base + e[i].begin, next);
                next += t->numel;
            }
        }
        for (int64_t j = 0; j < t->numel; j++)
            if (!isfinite(t->data[j]))
                return varia_fail(ctx, VARIA_ERR_NONFINITE, "tensor '%s': element %lld is %s", t->name,
                                  (long long)j, isnan(t->data[j]) ? "NaN" : "infinite");
    }
    return VARIA_OK;
}

static int count_tensors(const cJSON *table)
{
    int n = 0;
    for (const cJSON *c = table->child; c; c = c->next)
        if (!c->string || strcmp(c->string, "__metadata__"))
            n++;
    return n;
}

/* Build w->t from the JSON table and validate it against the data region. */
static varia_status parse_table(varia_ctx *ctx, varia_weights *w, const cJSON *table,
                                const unsigned char *base, uint64_t data_len)
{
    if (!cJSON_IsObject(table))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "tensor table is not a JSON object");
    int n = count_tensors(table);
    w->t = calloc((size_t)n + 1, sizeof *w->t);
    entry *e = calloc((size_t)n + 1, sizeof *e);
    if (!w->t || !e) {
        free(e);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot allocate a table of %d tensors", n);
    }
    varia_status st = VARIA_OK;
    for (const cJSON *c = table->child; c && st == VARIA_OK; c = c->next) {
        if (c->string && !strcmp(c->string, "__metadata__"))
            continue;
        varia_tensor *t = &w->t[w->n];
        t->name = strdup(c->string ? c->string : "");
        if (!t->name) {
            st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
            break;
        }
        e[w->n].t = t;
        w->n++;
        st = parse_entry(ctx, c, &e[w->n - 1]);
    }
    if (st == VARIA_OK)
        st = check_duplicates(ctx, w);
    if (st == VARIA_OK)
        st = check_tiling(ctx, e, w->n, data_len);
    if (st == VARIA_OK)
        st = bind_data(ctx, w, e, base);
    free(e);
    /* Sorted by name for lookups; the entries pointing into w->t are gone now. */
    if (st == VARIA_OK)
        qsort(w->t, (size_t)w->n, sizeof *w->t, cmp_tensor_name);
    return st;
}

static varia_status map_file(varia_ctx *ctx, const char *path, varia_weights *w)
{
    int fd = varia_open_regular(ctx, path, "weights");
    if (fd < 0)
        return VARIA_ERR_IO;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return varia_fail(ctx, VARIA_ERR_IO, "cannot stat weights '%s'", path);
    }
    w->map_len = (size_t)sb.st_size;
    if (w->map_len > 0) {
        w->map = mmap(NULL, w->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (w->map == MAP_FAILED) {
            w->map = NULL;
            close(fd);
            return varia_fail(ctx, VARIA_ERR_IO, "cannot map weights '%s': %s", path, strerror(errno));
        }
    }
    close(fd);
    return VARIA_OK;
}

/* Parse the safetensors header; on success *table owns the parsed JSON.
 * Until the header has parsed as JSON nothing says the file is a weights file
 * at all (a manifest may name any file), so the messages before that quote
 * none of its bytes, not even the length prefix as a number. */
static varia_status read_st_header(varia_ctx *ctx, const char *path, const varia_weights *w,
                                   cJSON **table, uint64_t *data_start)
{
    const unsigned char *p = w->map;
    if (w->map_len < 8)
        return varia_fail(ctx, VARIA_ERR_HEADER, "'%s' is %zu bytes: too short for the 8-byte header length", path, w->map_len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > VARIA_HEADER_CAP)
        return varia_fail(ctx, VARIA_ERR_HEADER, "'%s': the header length (bytes 0-7) exceeds the %u-byte cap: "
                          "not a safetensors file, or a corrupt one", path, VARIA_HEADER_CAP);
    if (hlen > w->map_len - 8)
        return varia_fail(ctx, VARIA_ERR_HEADER, "'%s': the header length (bytes 0-7) runs past the end of the "
                          "%zu-byte file", path, w->map_len);
    varia_status st = varia_json_parse_strict(ctx, (const char *)p + 8, (size_t)hlen, path, "header", 8, table);
    if (st == VARIA_OK)
        *data_start = 8 + hlen;
    return st;
}

/* The one validation of both loaders: w->map[w->map_len] holds the file's
 * bytes (mapped or copied; w owns them). With table NULL they are
 * safetensors, else raw data described by table. name labels the bytes in
 * messages. On failure *w is closed (left empty). */
static varia_status bind_bytes(varia_ctx *ctx, const char *name, const cJSON *table, varia_weights *w)
{
    varia_status st = VARIA_OK;
    cJSON *header = NULL;
    uint64_t start = 0;
    if (!table) {
        st = read_st_header(ctx, name, w, &header, &start);
        table = header;
    }
    static const unsigned char empty[1]; /* an empty file is not mapped: NULL + 0 is undefined */
    const unsigned char *base = w->map ? (const unsigned char *)w->map + start : empty;
    if (st == VARIA_OK)
        st = parse_table(ctx, w, table, base, w->map_len - start);
    cJSON_Delete(header);
    if (st != VARIA_OK)
        varia_weights_close(w);
    return st;
}

varia_status varia_weights_open(varia_ctx *ctx, const char *path, const cJSON *table, varia_weights *w)
{
    memset(w, 0, sizeof *w);
    varia_status st = map_file(ctx, path, w);
    if (st != VARIA_OK) {
        varia_weights_close(w);
        return st;
    }
    return bind_bytes(ctx, path, table, w);
}

/* The copy is 64-byte aligned, as a mapping is page aligned: f32 tensors at
 * aligned offsets are then used in place, as from a file, and the same
 * tensors are widened or realigned into w->owned. */
varia_status varia_weights_open_memory(varia_ctx *ctx, const char *name, const void *bytes, size_t len,
                                       const cJSON *table, varia_weights *w)
{
    memset(w, 0, sizeof *w);
    if (!bytes && len)
        return varia_fail(ctx, VARIA_ERR_ARG, "weights '%s': NULL bytes with length %zu", name, len);
    if (len > 0) {
        if (len > SIZE_MAX - 64 || !(w->map = aligned_alloc(64, (len + 63) / 64 * 64)))
            return varia_fail(ctx, VARIA_ERR_NOMEM, "cannot copy the %zu bytes of weights '%s'", len, name);
        memcpy(w->map, bytes, len);
        w->map_len = len;
        w->heap = 1;
    }
    return bind_bytes(ctx, name, table, w);
}

void varia_weights_close(varia_weights *w)
{
    for (int i = 0; w->t && i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    free(w->owned);
    if (w->heap)
        free(w->map);
    else if (w->map)
        munmap(w->map, w->map_len);
    memset(w, 0, sizeof *w);
}

varia_tensor *varia_weights_find(const varia_weights *w, const char *name)
{
    varia_tensor key = {.name = (char *)name};
    return bsearch(&key, w->t, (size_t)w->n, sizeof *w->t, cmp_tensor_name);
}

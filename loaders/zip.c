/* The zip container of .npz files, written from PKWARE's APPNOTE.TXT: the
 * end of central directory record (found backwards from the end, its comment
 * length accounting for every byte after it), the zip64 end record and
 * locator when a field is saturated, the central directory, then each local
 * header, which must agree with its directory entry. numpy.savez writes
 * every member with a zip64 extra field (force_zip64), so that field is read
 * in local headers and directory entries alike.
 *
 * Why not libzip: zlib, already linked for gzip, inflates deflate data;
 * what remains is a few fixed-layout records, about 400 lines with the
 * checks below. libzip would add a dependency to every build and still
 * leave the size caps and the ratio bound to write here. */
#include "zip.h"

#include "ctx.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define END_LEN 22
#define END64_LEN 56
#define LOCATOR64_LEN 20
#define CENTRAL_LEN 46
#define LOCAL_LEN 30
#define MAX_COMMENT 65535
/* Deflate expands at most about 1032:1 (a 258-byte match per 2 bits), so a
 * declared size beyond this is a lie, refused before allocating it. */
#define DEFLATE_MAX_RATIO 1032
#define ZIP_CHUNK ((size_t)1 << 30) /* zlib counts in unsigned int */

/* Little-endian fields at p (the caller checked the bytes are there). */
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Where the central directory is, from the end records. */
typedef struct cdir {
    uint64_t count, size, at;
    uint64_t end; /* where the directory must end: the first end record */
} cdir;

/* The end of central directory record: the last signature whose comment
 * length reaches exactly the end of the file. */
static varia_status find_end(varia_ctx *ctx, const varia_zip *z, size_t *at)
{
    if (z->len < END_LEN)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': %zu bytes, too short for a zip "
                          "archive (no end of central directory record)", z->path, z->len);
    size_t lowest = z->len - END_LEN > MAX_COMMENT ? z->len - END_LEN - MAX_COMMENT : 0;
    for (size_t i = z->len - END_LEN + 1; i-- > lowest;)
        if (le32(z->buf + i) == SIG_END && i + END_LEN + le16(z->buf + i + 20) == z->len) {
            *at = i;
            return VARIA_OK;
        }
    return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': no zip end of central directory record "
                      "(truncated, or not a zip archive)", z->path);
}

/* The zip64 end record through its locator, just before the end record at
 * `at`. Fields the old record does not saturate must agree with it. */
static varia_status read_end64(varia_ctx *ctx, const varia_zip *z, size_t at, cdir *cd)
{
    const uint8_t *loc = at >= LOCATOR64_LEN ? z->buf + at - LOCATOR64_LEN : NULL;
    if (!loc || le32(loc) != SIG_LOCATOR64)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': the end record (byte %zu) has saturated "
                          "fields but no zip64 locator before it", z->path, at);
    uint64_t rec = le64(loc + 8), loc_at = at - LOCATOR64_LEN;
    if (le32(loc + 4) != 0 || le32(loc + 16) != 1)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "'%s': the zip64 locator describes "
                          "several disks", z->path);
    if (rec > loc_at || loc_at - rec < END64_LEN)
        return varia_fail(ctx, VARIA_ERR_OFFSET, "'%s': the zip64 end record offset %llu "
                          "(locator byte %llu) is outside the archive", z->path,
                          (unsigned long long)rec, (unsigned long long)loc_at + 8);
    const uint8_t *p = z->buf + rec;
    if (le32(p) != SIG_END64 || le64(p + 4) != loc_at - rec - 12)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': no zip64 end record of the right size "
                          "at byte %llu", z->path, (unsigned long long)rec);
    if (le32(p + 16) != 0 || le32(p + 20) != 0 || le64(p + 24) != le64(p + 32))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "'%s': the archive spans several disks",
                          z->path);
    const uint8_t *e = z->buf + at;
    if ((le16(e + 10) != 0xffff && le16(e + 10) != le64(p + 32)) ||
        (le32(e + 12) != 0xffffffffu && le32(e + 12) != le64(p + 40)) ||
        (le32(e + 16) != 0xffffffffu && le32(e + 16) != le64(p + 48)))
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': the zip64 end record contradicts the "
                          "end record", z->path);
    cd->count = le64(p + 32), cd->size = le64(p + 40), cd->at = le64(p + 48), cd->end = rec;
    return VARIA_OK;
}

static varia_status read_end(varia_ctx *ctx, const varia_zip *z, cdir *cd)
{
    size_t at = 0;
    varia_status st = find_end(ctx, z, &at);
    if (st != VARIA_OK)
        return st;
    const uint8_t *e = z->buf + at;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10))
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "'%s': the archive spans several disks "
                          "(end record byte %zu)", z->path, at + 4);
    cd->count = le16(e + 10), cd->size = le32(e + 12), cd->at = le32(e + 16), cd->end = at;
    int saturated = cd->count == 0xffff || cd->size == 0xffffffffu || cd->at == 0xffffffffu;
    if (saturated || (at >= LOCATOR64_LEN && le32(e - LOCATOR64_LEN) == SIG_LOCATOR64))
        st = read_end64(ctx, z, at, cd);
    if (st == VARIA_OK && (cd->at > cd->end || cd->size != cd->end - cd->at))
        st = varia_fail(ctx, VARIA_ERR_OFFSET, "'%s': the central directory (%llu bytes at "
                        "byte %llu) does not end where the end records begin (byte %llu)",
                        z->path, (unsigned long long)cd->size, (unsigned long long)cd->at,
                        (unsigned long long)cd->end);
    if (st == VARIA_OK && cd->count > cd->size / CENTRAL_LEN)
        st = varia_fail(ctx, VARIA_ERR_DATASET, "'%s': %llu members cannot fit a central "
                        "directory of %llu bytes", z->path, (unsigned long long)cd->count,
                        (unsigned long long)cd->size);
    return st;
}

/* The zip64 extended information field (id 1) among the extra fields
 * x[0, len): *data and *dlen, or *data NULL when absent. The fields must
 * tile the extra block exactly. Returns 0 when they do not. */
static int find_zip64(const uint8_t *x, size_t len, const uint8_t **data, size_t *dlen)
{
    *data = NULL;
    while (len) {
        if (len < 4 || le16(x + 2) > len - 4)
            return 0;
        size_t n = le16(x + 2);
        if (le16(x) == 1)
            *data = x + 4, *dlen = n;
        x += 4 + n, len -= 4 + n;
    }
    return 1;
}

/* A directory entry's saturated fields from its zip64 field, in APPNOTE's
 * order (uncompressed size, compressed size, offset, disk). */
static varia_status central_zip64(varia_ctx *ctx, const varia_zip *z, varia_zip_member *m,
                                  const uint8_t *x, size_t xlen, uint32_t *disk)
{
    const uint8_t *d = NULL;
    size_t dlen = 0, used = 0;
    if (!find_zip64(x, xlen, &d, &dlen))
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': malformed extra fields in "
                          "its directory entry", z->path, m->name);
    uint64_t *field[3] = {&m->usize, &m->csize, &m->header_at};
    for (int i = 0; i < 3; i++)
        if (*field[i] == 0xffffffffu) {
            if (!d || dlen < used + 8)
                return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': a saturated size "
                                  "or offset without its zip64 value", z->path, m->name);
            *field[i] = le64(d + used), used += 8;
        }
    if (*disk == 0xffff && d && dlen >= used + 4)
        *disk = le32(d + used);
    return VARIA_OK;
}

/* A name of 1..VARIA_ZIP_MAX_NAME bytes without NUL, into m->name. */
static varia_status copy_name(varia_ctx *ctx, const varia_zip *z, varia_zip_member *m,
                              const uint8_t *p, size_t n, uint64_t at)
{
    if (n == 0 || n > VARIA_ZIP_MAX_NAME || memchr(p, 0, n))
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': the member name at byte %llu is "
                          "%s", z->path, (unsigned long long)at, n == 0 ? "empty"
                          : n > VARIA_ZIP_MAX_NAME ? "over 255 bytes" : "holding a NUL byte");
    memcpy(m->name, p, n);
    m->name[n] = '\0';
    return VARIA_OK;
}

/* Sizes the member may declare: under the cap, equal for stored data,
 * within deflate's ratio for deflated data. */
static varia_status check_sizes(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                                size_t cap)
{
    if (m->usize > cap)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "'%s' member '%s': %llu bytes uncompressed "
                          "exceed the cap of %zu", z->path, m->name,
                          (unsigned long long)m->usize, cap);
    if (m->method == 0 ? m->usize != m->csize
                       : m->usize / DEFLATE_MAX_RATIO > m->csize) /* no overflow for any csize */
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': %llu bytes uncompressed "
                          "cannot come from %llu %s bytes", z->path, m->name,
                          (unsigned long long)m->usize, (unsigned long long)m->csize,
                          m->method == 0 ? "stored" : "deflated");
    return VARIA_OK;
}

/* Directory entry at p (inside [p, end)); *next is the entry after it. */
static varia_status read_entry(varia_ctx *ctx, const varia_zip *z, const uint8_t *p,
                               const uint8_t *end, size_t cap, varia_zip_member *m,
                               const uint8_t **next)
{
    uint64_t at = (uint64_t)(p - z->buf);
    if ((size_t)(end - p) < CENTRAL_LEN || le32(p) != SIG_CENTRAL)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': no central directory entry at byte "
                          "%llu", z->path, (unsigned long long)at);
    size_t nlen = le16(p + 28), xlen = le16(p + 30), clen = le16(p + 32);
    if ((size_t)(end - p) - CENTRAL_LEN < nlen + xlen + clen)
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s': the directory entry at byte %llu runs "
                          "past the directory", z->path, (unsigned long long)at);
    varia_status st = copy_name(ctx, z, m, p + CENTRAL_LEN, nlen, at + CENTRAL_LEN);
    if (st != VARIA_OK)
        return st;
    uint32_t flags = le16(p + 8), disk = le16(p + 34);
    m->method = (uint16_t)le16(p + 10);
    m->crc = le32(p + 16), m->csize = le32(p + 20), m->usize = le32(p + 24);
    m->header_at = le32(p + 42);
    if (flags & 0x41)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "'%s' member '%s' is encrypted", z->path,
                          m->name);
    if (m->method != 0 && m->method != 8)
        return varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "'%s' member '%s': compression method %u "
                          "(only 0, stored, and 8, deflate)", z->path, m->name, m->method);
    st = central_zip64(ctx, z, m, p + CENTRAL_LEN + nlen, xlen, &disk);
    if (st == VARIA_OK && disk != 0)
        st = varia_fail(ctx, VARIA_ERR_UNSUPPORTED, "'%s' member '%s' starts on disk %u",
                        z->path, m->name, disk);
    if (st == VARIA_OK)
        st = check_sizes(ctx, z, m, cap);
    *next = p + CENTRAL_LEN + nlen + xlen + clen;
    return st;
}

/* The local header of m: same name, method and (unless sizes follow the
 * data, flag bit 3) CRC and sizes; its data inside [0, limit). */
static varia_status check_local(varia_ctx *ctx, const varia_zip *z, varia_zip_member *m,
                                uint64_t limit)
{
    if (m->header_at > limit || limit - m->header_at < LOCAL_LEN)
        return varia_fail(ctx, VARIA_ERR_OFFSET, "'%s' member '%s': local header offset %llu "
                          "is outside the members' bytes (0..%llu)", z->path, m->name,
                          (unsigned long long)m->header_at, (unsigned long long)limit);
    const uint8_t *p = z->buf + m->header_at;
    size_t nlen = le16(p + 26), xlen = le16(p + 28);
    if (le32(p) != SIG_LOCAL || le16(p + 8) != m->method || nlen != strlen(m->name) ||
        limit - m->header_at - LOCAL_LEN < nlen + xlen ||
        memcmp(p + LOCAL_LEN, m->name, nlen))
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': the local header at byte "
                          "%llu does not match its directory entry (signature, method or name)",
                          z->path, m->name, (unsigned long long)m->header_at);
    const uint8_t *d = NULL;
    size_t dlen = 0;
    uint64_t csize = le32(p + 18), usize = le32(p + 22);
    int ok = find_zip64(p + LOCAL_LEN + nlen, xlen, &d, &dlen);
    if (ok && d && dlen >= 16 && (usize == 0xffffffffu || csize == 0xffffffffu ||
                                  le64(d) != usize || le64(d + 8) != csize))
        usize = le64(d), csize = le64(d + 8); /* then the zip64 values are the sizes */
    int deferred = (le16(p + 6) & 8) && le32(p + 14) == 0 && csize == 0 && usize == 0;
    if (!ok || (!deferred && (le32(p + 14) != m->crc || csize != m->csize || usize != m->usize)))
        return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': the local header's CRC or "
                          "sizes differ from the directory's", z->path, m->name);
    m->data_at = m->header_at + LOCAL_LEN + nlen + xlen;
    if (m->csize > limit - m->data_at)
        return varia_fail(ctx, VARIA_ERR_TRUNCATED, "'%s' member '%s': %llu bytes of data at "
                          "byte %llu run past the members' bytes (0..%llu)", z->path, m->name,
                          (unsigned long long)m->csize, (unsigned long long)m->data_at,
                          (unsigned long long)limit);
    return VARIA_OK;
}

/* qsort orders of member pointers: by local header offset, by name. */
static int by_offset(const void *a, const void *b)
{
    const varia_zip_member *x = *(varia_zip_member *const *)a, *y = *(varia_zip_member *const *)b;
    return x->header_at < y->header_at ? -1 : x->header_at > y->header_at;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(varia_zip_member *const *)a)->name, (*(varia_zip_member *const *)b)->name);
}

/* No two members share bytes or a name. */
static varia_status check_members(varia_ctx *ctx, const varia_zip *z)
{
    varia_zip_member **s = malloc((size_t)(z->n ? z->n : 1) * sizeof *s);
    if (!s)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory", z->path);
    for (int64_t i = 0; i < z->n; i++)
        s[i] = &z->m[i];
    varia_status st = VARIA_OK;
    qsort(s, (size_t)z->n, sizeof *s, by_offset);
    for (int64_t i = 1; i < z->n && st == VARIA_OK; i++)
        if (s[i - 1]->data_at + s[i - 1]->csize > s[i]->header_at)
            st = varia_fail(ctx, VARIA_ERR_OVERLAP, "'%s': members '%s' and '%s' share bytes "
                            "(at byte %llu)", z->path, s[i - 1]->name, s[i]->name,
                            (unsigned long long)s[i]->header_at);
    qsort(s, (size_t)z->n, sizeof *s, by_name);
    for (int64_t i = 1; i < z->n && st == VARIA_OK; i++)
        if (!strcmp(s[i - 1]->name, s[i]->name))
            st = varia_fail(ctx, VARIA_ERR_DUPLICATE, "'%s': member '%s' is in the archive twice",
                            z->path, s[i]->name);
    free(s);
    return st;
}

/* Every directory entry, then every local header against it. */
static varia_status read_members(varia_ctx *ctx, varia_zip *z, const cdir *cd, size_t cap)
{
    z->m = calloc((size_t)(cd->count ? cd->count : 1), sizeof *z->m);
    if (!z->m)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory for %llu members", z->path,
                          (unsigned long long)cd->count);
    const uint8_t *p = z->buf + cd->at, *end = z->buf + cd->end;
    varia_status st = VARIA_OK;
    for (uint64_t i = 0; i < cd->count && st == VARIA_OK; i++, z->n++)
        st = read_entry(ctx, z, p, end, cap, &z->m[i], &p);
    if (st == VARIA_OK && p != end)
        st = varia_fail(ctx, VARIA_ERR_DATASET, "'%s': %llu bytes of the central directory "
                        "follow its %llu entries", z->path, (unsigned long long)(end - p),
                        (unsigned long long)cd->count);
    for (int64_t i = 0; i < z->n && st == VARIA_OK; i++)
        st = check_local(ctx, z, &z->m[i], cd->at);
    return st == VARIA_OK ? check_members(ctx, z) : st;
}

varia_status varia_zip_open(varia_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
                            size_t cap, varia_zip *z)
{
    memset(z, 0, sizeof *z);
    z->path = path, z->buf = buf, z->len = len;
    cdir cd = {0, 0, 0, 0};
    varia_status st = read_end(ctx, z, &cd);
    if (st == VARIA_OK)
        st = read_members(ctx, z, &cd, cap);
    if (st != VARIA_OK)
        varia_zip_close(z);
    return st;
}

void varia_zip_close(varia_zip *z)
{
    free(z->m);
    memset(z, 0, sizeof *z);
}

const varia_zip_member *varia_zip_find(const varia_zip *z, const char *name)
{
    for (int64_t i = 0; i < z->n; i++)
        if (!strcmp(z->m[i].name, name))
            return &z->m[i];
    return NULL;
}

/* Inflate m's data into out[0, want); *got bytes came out. whole: the
 * stream must end exactly there, consuming all csize bytes; else stop once
 * want bytes are out (or the stream ends, or the input runs out). */
static varia_status inflate_member(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                                   uint8_t *out, size_t want, int whole, size_t *got)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': cannot start zlib", z->path);
    const uint8_t *in = z->buf + m->data_at;
    size_t in_left = (size_t)m->csize, out_left = want, n;
    uint8_t spare[1];
    int r = Z_OK, spared = 0, extra = 0;
    for (;;) {
        if (s.avail_in == 0 && in_left) {
            n = in_left < ZIP_CHUNK ? in_left : ZIP_CHUNK;
            s.next_in = (Bytef *)(uintptr_t)in, s.avail_in = (uInt)n, in += n, in_left -= n;
        }
        if (s.avail_out == 0 && out_left) {
            n = out_left < ZIP_CHUNK ? out_left : ZIP_CHUNK;
            s.next_out = out, s.avail_out = (uInt)n, out += n, out_left -= n;
        } else if (s.avail_out == 0 && !whole) {
            break;
        } else if (s.avail_out == 0) { /* all declared bytes out: one more is a lie */
            s.next_out = spare, s.avail_out = 1, spared = 1;
        }
        r = inflate(&s, Z_NO_FLUSH);
        if ((extra = spared && s.avail_out == 0) || r != Z_OK)
            break;
    }
    *got = want - out_left - (spared ? 0 : s.avail_out);
    int trailing = s.avail_in || in_left;
    const char *msg = s.msg;
    inflateEnd(&s);
    if (r == Z_MEM_ERROR)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s': out of memory inflating", z->path);
    if (!extra && (r == Z_OK || r == Z_BUF_ERROR || r == Z_STREAM_END) &&
        (!whole || (r == Z_STREAM_END && !trailing && *got == want)))
        return VARIA_OK;
    return varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': %s (declared %llu bytes from "
                      "%llu)", z->path, m->name, extra ? "inflates to more bytes than declared"
                      : r == Z_STREAM_END && *got < want ? "inflates to fewer bytes than declared"
                      : r == Z_STREAM_END ? "compressed bytes go on after the deflate stream"
                      : r == Z_BUF_ERROR ? "the deflate stream is cut short"
                      : msg ? msg : "corrupt deflate data", (unsigned long long)m->usize,
                      (unsigned long long)m->csize);
}

/* CRC-32 of n bytes, in pieces zlib's unsigned int can count. */
static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    for (size_t k; n; p += k, n -= k) {
        k = n < ZIP_CHUNK ? n : ZIP_CHUNK;
        c = crc32(c, p, (uInt)k);
    }
    return (uint32_t)c;
}

varia_status varia_zip_read(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                            uint8_t **out)
{
    size_t n = (size_t)m->usize, got = 0;
    uint8_t *buf = malloc(n ? n : 1);
    *out = NULL;
    if (!buf)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "'%s' member '%s': out of memory for %zu bytes",
                          z->path, m->name, n);
    varia_status st = VARIA_OK;
    if (m->method == 0 && n)
        memcpy(buf, z->buf + m->data_at, n);
    else if (m->method == 8)
        st = inflate_member(ctx, z, m, buf, n, 1, &got);
    uint32_t crc = st == VARIA_OK ? crc_of(buf, n) : 0;
    if (st == VARIA_OK && crc != m->crc)
        st = varia_fail(ctx, VARIA_ERR_DATASET, "'%s' member '%s': CRC-32 0x%08x, the archive "
                        "says 0x%08x", z->path, m->name, crc, m->crc);
    if (st != VARIA_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return VARIA_OK;
}

varia_status varia_zip_peek(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                            uint8_t *buf, size_t want, size_t *got)
{
    want = want < m->usize ? want : (size_t)m->usize;
    *got = 0;
    if (m->method == 8)
        return inflate_member(ctx, z, m, buf, want, 0, got);
    if (want)
        memcpy(buf, z->buf + m->data_at, want);
    *got = want;
    return VARIA_OK;
}

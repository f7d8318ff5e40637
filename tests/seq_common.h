/* Shared by the sequence-dataset tests (test_loaders_seq.c, good inputs;
 * test_loaders_seq_bad.c, bad ones): builders of .npy bytes and zip
 * archives written here in C (zlib deflates), laid out by the format
 * descriptions (numpy.lib.format, PKWARE's APPNOTE), with the offset of
 * every record kept so that a test can corrupt one field; the base set both
 * use; loading bytes as a file and checking the status. Header-only. */
#ifndef VARIA_TEST_SEQ_COMMON_H
#define VARIA_TEST_SEQ_COMMON_H

#include "varia.h"

#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* A growing byte buffer; on allocation failure the test aborts. */
typedef struct sb_buf {
    uint8_t *p;
    size_t n, cap;
} sb_buf;

static void sb_put(sb_buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        if (!(b->p = realloc(b->p, b->cap)))
            abort();
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void sb_le(sb_buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        sb_put(b, &c, 1);
    }
}

static void sb_set32(sb_buf *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* An .npy of `version` (1, 2 or 3) with the header dict text `dict`, padded
 * with spaces so that the data starts at a multiple of 64, then n data bytes. */
static void sb_npy(sb_buf *b, int version, const char *dict, const void *data, size_t n)
{
    size_t pre = version == 1 ? 10 : 12, text = strlen(dict) + 1;
    size_t hl = (pre + text + 63) / 64 * 64 - pre;
    sb_put(b, "\x93NUMPY", 6);
    uint8_t v[2] = {(uint8_t)version, 0};
    sb_put(b, v, 2);
    sb_le(b, hl, version == 1 ? 2 : 4);
    sb_put(b, dict, text - 1);
    for (size_t i = text; i < hl; i++)
        sb_put(b, " ", 1);
    sb_put(b, "\n", 1);
    sb_put(b, data, n);
}

/* A member to archive: method 0 (stored) or 8 (deflate). */
typedef struct sb_member {
    const char *name;
    const uint8_t *data;
    size_t n;
    int method;
} sb_member;

/* Where sb_zip put each record (offsets into the archive). */
typedef struct sb_layout {
    size_t local[8], central[8], end, end64;
} sb_layout;

enum {
    SB_ZIP64_EXTRA = 1, /* a zip64 extra field in each local header, as numpy.savez writes */
    SB_ZIP64_END = 2,   /* zip64 end record and locator, the old record saturated */
    SB_COMMENT = 4,     /* an archive comment */
    SB_ZIP64_CENTRAL = 8 /* directory entries' sizes and offset saturated, in a zip64 field */
};

/* Raw deflate of data into a fresh buffer (*out, *len). */
static void sb_deflate(const uint8_t *data, size_t n, uint8_t **out, size_t *len)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&s, (uLong)n) + 16;
    *out = malloc(cap);
    s.next_in = (Bytef *)(uintptr_t)data, s.avail_in = (uInt)n;
    s.next_out = *out, s.avail_out = (uInt)cap;
    if (!*out || deflate(&s, Z_FINISH) != Z_STREAM_END)
        abort();
    *len = cap - s.avail_out;
    deflateEnd(&s);
}

/* An archive of n (<= 8) members with the SB_* flags. */
static void sb_zip(sb_buf *b, const sb_member *m, int n, int flags, sb_layout *lay)
{
    uint32_t crc[8];
    size_t csize[8];
    for (int i = 0; i < n; i++) {
        uint8_t *c = NULL;
        size_t cl = m[i].n;
        if (m[i].method == 8)
            sb_deflate(m[i].data, m[i].n, &c, &cl);
        crc[i] = (uint32_t)crc32(crc32(0, Z_NULL, 0), m[i].data, (uInt)m[i].n);
        csize[i] = cl;
        size_t nl = strlen(m[i].name);
        lay->local[i] = b->n;
        sb_le(b, 0x04034b50, 4), sb_le(b, 20, 2), sb_le(b, 0, 2), sb_le(b, (uint64_t)m[i].method, 2);
        sb_le(b, 0, 2), sb_le(b, 0x21, 2), sb_le(b, crc[i], 4), sb_le(b, cl, 4), sb_le(b, m[i].n, 4);
        sb_le(b, nl, 2), sb_le(b, flags & SB_ZIP64_EXTRA ? 20 : 0, 2);
        sb_put(b, m[i].name, nl);
        if (flags & SB_ZIP64_EXTRA)
            sb_le(b, 1, 2), sb_le(b, 16, 2), sb_le(b, m[i].n, 8), sb_le(b, cl, 8);
        sb_put(b, m[i].method == 8 ? c : m[i].data, cl);
        free(c);
    }
    size_t cd = b->n;
    int sat = flags & SB_ZIP64_CENTRAL;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        lay->central[i] = b->n;
        sb_le(b, 0x02014b50, 4), sb_le(b, 20, 2), sb_le(b, 20, 2), sb_le(b, 0, 2);
        sb_le(b, (uint64_t)m[i].method, 2), sb_le(b, 0, 2), sb_le(b, 0x21, 2), sb_le(b, crc[i], 4);
        sb_le(b, sat ? 0xffffffffu : csize[i], 4), sb_le(b, sat ? 0xffffffffu : m[i].n, 4);
        sb_le(b, nl, 2), sb_le(b, sat ? 28 : 0, 2), sb_le(b, 0, 2);
        sb_le(b, 0, 2), sb_le(b, 0, 2), sb_le(b, 0, 4), sb_le(b, sat ? 0xffffffffu : lay->local[i], 4);
        sb_put(b, m[i].name, nl);
        if (sat) /* APPNOTE's order: uncompressed size, compressed size, offset */
            sb_le(b, 1, 2), sb_le(b, 24, 2), sb_le(b, m[i].n, 8), sb_le(b, csize[i], 8),
            sb_le(b, lay->local[i], 8);
    }
    size_t cdlen = b->n - cd;
    int z64 = flags & SB_ZIP64_END;
    lay->end64 = b->n;
    if (z64) {
        sb_le(b, 0x06064b50, 4), sb_le(b, 44, 8), sb_le(b, 45, 2), sb_le(b, 45, 2);
        sb_le(b, 0, 4), sb_le(b, 0, 4), sb_le(b, (uint64_t)n, 8), sb_le(b, (uint64_t)n, 8);
        sb_le(b, cdlen, 8), sb_le(b, cd, 8);
        sb_le(b, 0x07064b50, 4), sb_le(b, 0, 4), sb_le(b, lay->end64, 8), sb_le(b, 1, 4);
    }
    const char *comment = flags & SB_COMMENT ? "PK\x05\x06 not the end record" : "";
    lay->end = b->n;
    sb_le(b, 0x06054b50, 4), sb_le(b, 0, 2), sb_le(b, 0, 2);
    sb_le(b, z64 ? 0xffff : (uint64_t)n, 2), sb_le(b, z64 ? 0xffff : (uint64_t)n, 2);
    sb_le(b, z64 ? 0xffffffffu : cdlen, 4), sb_le(b, z64 ? 0xffffffffu : cd, 4);
    sb_le(b, strlen(comment), 2);
    sb_put(b, comment, strlen(comment));
}

/* ---- Loading ------------------------------------------------------------------ */

static varia_ctx *ctx;
static char tmpdir[256];

static const char *tp(const char *name)
{
    static char b[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(b[k], sizeof b[k], "%s/%s", tmpdir, name);
    return b[k];
}

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(d, 1, n, f) == n;
    return (f && fclose(f) == 0) && ok;
}

/* The status of loading bytes b saved as tmpdir/name; the set goes to keep
 * (NULL: freed). */
static varia_status load_bytes(const sb_buf *b, const char *name, int64_t limit, varia_seqset *keep)
{
    varia_seqset s;
    if (!write_file(tp(name), b->p, b->n))
        return VARIA_ERR_INTERNAL;
    varia_status st = varia_seqset_load(ctx, tp(name), limit, keep ? keep : &s);
    if (!keep)
        varia_seqset_free(&s);
    return st;
}

/* want == got, and a failure's message holds `needle` (NULL: any). */
static int expect(varia_status got, varia_status want, const char *needle, const char *what)
{
    const char *msg = varia_ctx_message(ctx);
    if (got == want && want != VARIA_OK && getenv("VARIA_TEST_VERBOSE"))
        printf("#   %s -> %s: %s\n", what, varia_status_name(got), msg);
    if (got != want || (needle && want != VARIA_OK && !strstr(msg, needle))) {
        printf("# %s: got %s (%s), want %s%s%s\n", what, varia_status_name(got), msg,
               varia_status_name(want), needle ? " naming " : "", needle ? needle : "");
        return 0;
    }
    return 1;
}

/* The fixtures' value rule (tools/make_npy_fixtures.py) for element k. */
static double rule(char kind, int64_t k)
{
    int64_t r = (7 * k) % 11;
    return kind == 'b' ? (k % 3 == 0) : kind == 'u' ? (double)r : kind == 'i' ? (double)(r - 5)
                                                                 : (double)(r - 5) / 4.0;
}

/* ---- The base set: x u1 [6, 3] by the rule, lengths <i8 [2, 4] ---------------- */

#define SB_X_DICT "{'descr': '|u1', 'fortran_order': False, 'shape': (6, 3), }"
#define SB_LEN_DICT "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"
static uint8_t x_u1[18];
static int64_t len_i8[2] = {2, 4};

/* The base archive, with x's or lengths' header text (NULL: the base's) and
 * data (NULL: the base's). */
static void npz_make(sb_buf *b, int method, int flags, const char *x_dict, const void *xd,
                     size_t xn, const char *len_dict, const void *ld, size_t ln, sb_layout *lay)
{
    sb_buf x = {0}, l = {0};
    sb_npy(&x, 1, x_dict ? x_dict : SB_X_DICT, xd ? xd : x_u1, xd ? xn : sizeof x_u1);
    sb_npy(&l, 1, len_dict ? len_dict : SB_LEN_DICT, ld ? ld : len_i8, ld ? ln : sizeof len_i8);
    sb_member m[2] = {{"x.npy", x.p, x.n, method}, {"lengths.npy", l.p, l.n, method}};
    sb_layout tmp;
    sb_zip(b, m, 2, flags, lay ? lay : &tmp);
    free(x.p);
    free(l.p);
}

static void npz_base(sb_buf *b, int method, int flags, sb_layout *lay)
{
    npz_make(b, method, flags, NULL, NULL, 0, NULL, NULL, 0, lay);
}

/* Set up ctx, the temp folder and the base data; 0 on failure. */
static int seq_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/varia_seq_XXXXXX", base && *base ? base : "/tmp");
    for (int k = 0; k < 18; k++)
        x_u1[k] = (uint8_t)rule('u', k);
    return mkdtemp(tmpdir) && (ctx = varia_ctx_new()) != NULL;
}

static void seq_teardown(void)
{
    DIR *dp = opendir(tmpdir);
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        char sub[800];
        snprintf(sub, sizeof sub, "%s/%s", tmpdir, e->d_name);
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(sub);
    }
    if (dp)
        closedir(dp);
    rmdir(tmpdir);
    varia_ctx_free(ctx);
}

#endif

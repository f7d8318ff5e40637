/* Bad inputs to varia_seqset_load, each with its own status and a message
 * naming the culprit: .npy headers (version, length, syntax, keys, dtypes,
 * shapes, encodings), element values, the zip container of .npz files
 * (end records, directory, local headers, sizes, CRC, methods, overlaps,
 * names) and the sequence set's own rules (lengths positive and summing to
 * the frames, ranks, dtypes). Built in C (seq_common.h). TAP output. */
#include "seq_common.h"

#include <math.h>

#define F4 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }"

typedef struct bad {
    const char *name;
    varia_status want;
    const char *needle; /* in the message */
} bad;

/* An .npy of version v with header text dict and `n` floats k / 2. */
static void npy_f4(sb_buf *b, int v, const char *dict, int n)
{
    float x[32];
    for (int k = 0; k < 32; k++)
        x[k] = (float)k / 2;
    sb_npy(b, v, dict, x, (size_t)n * sizeof(float));
}

static const bad npy_cases[] = {
    {"version 4.0", VARIA_ERR_VERSION, "version 4.0"},
    {"version 1.1", VARIA_ERR_VERSION, "version 1.1"},
    {"header length past the end", VARIA_ERR_HEADER, "runs past the end"},
    {"header length over the 64 KiB cap", VARIA_ERR_HEADER, "cap"},
    {"no 'shape' key", VARIA_ERR_DATASET, "no 'shape' key"},
    {"unknown key 'extra'", VARIA_ERR_DATASET, "unknown key 'extra'"},
    {"'descr' twice", VARIA_ERR_DUPLICATE, "'descr' twice"},
    {"shape (24) (an integer, not a tuple)", VARIA_ERR_DATASET, "',' after the only dimension"},
    {"fortran_order 'no'", VARIA_ERR_DATASET, "True or False"},
    {"dimension 02 (leading zero)", VARIA_ERR_DATASET, "leading 0"},
    {"no final newline", VARIA_ERR_DATASET, "final newline"},
    {"dtype <c8 (complex)", VARIA_ERR_DTYPE, "'<c8'"},
    {"dtype |O (objects)", VARIA_ERR_DTYPE, "'|O'"},
    {"dtype <f2", VARIA_ERR_DTYPE, "'<f2'"},
    {"dtype <U4 (strings)", VARIA_ERR_DTYPE, "'<U4'"},
    {"structured dtype", VARIA_ERR_DTYPE, "structured"},
    {"shape (2^40, 2^40, 1): the count overflows", VARIA_ERR_TOO_LARGE, "overflows"},
    {"dimension 2^63", VARIA_ERR_TOO_LARGE, "2^62"},
    {"rank 9", VARIA_ERR_TOO_LARGE, "more than 8"},
    {"lying shape (2, 3, 5) over 24 floats", VARIA_ERR_TRUNCATED, "need 120 data bytes"},
    {"shape (2, 3, 3) over 24 floats", VARIA_ERR_TRAILING, "need 72 data bytes"},
    {"3.0 header with bytes that are not UTF-8", VARIA_ERR_DATASET, "not valid UTF-8"},
    {"1.0 header with a latin-1 byte", VARIA_ERR_DATASET, "not ASCII"},
    {"3.0 header with UTF-8 in the dtype", VARIA_ERR_DATASET, "plain ASCII"},
    {"a NaN at element 5", VARIA_ERR_NONFINITE, "element 5 is NaN"},
    {"a float64 of 1e300", VARIA_ERR_NONFINITE, "beyond float range"},
    {"a bool byte 2", VARIA_ERR_DATASET, "not 0 or 1"},
    {"rank 2 [6, 4]", VARIA_ERR_SHAPE, "[n, T, dim]"},
    {"shape (0, 3, 4)", VARIA_ERR_DATASET, "is 0"},
    {"not a .npy after the magic's first byte", VARIA_ERR_DATASET, "unrecognised"},
    {"3.0 header with a UTF-16 surrogate in UTF-8", VARIA_ERR_DATASET, "not valid UTF-8"},
};

static void make_npy(int i, sb_buf *b)
{
    static const char *const dicts[31] = {
        [4] = "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (24)}",
        "{'descr': '<f4', 'fortran_order': 'no', 'shape': (2, 3, 4)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (02, 3, 4)}",
        [11] = "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3, 4), }",
        "{'descr': '|O', 'fortran_order': False, 'shape': (2, 3, 4), }",
        "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3, 4), }",
        "{'descr': '<U4', 'fortran_order': False, 'shape': (2, 3, 4), }",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808, 1, 1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 5), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), } \xc3\x28",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), } \xe9",
        "{'descr': '<f4\xc3\xa9', 'fortran_order': False, 'shape': (2, 3, 4), }",
        [27] = "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3, 4), }",
        [30] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), } \xed\xa0\x80",
    };
    int version = i == 21 || i == 23 || i == 30 ? 3 : i == 22 ? 1 : 2;
    npy_f4(b, version, dicts[i] ? dicts[i] : F4, i == 28 ? 0 : 24);
    if (i == 0 || i == 1)
        b->p[6] = i == 0 ? 4 : 1, b->p[7] = (uint8_t)i;
    if (i == 2 || i == 3)
        sb_set32(b, 8, i == 2 ? 60000 : 70000);
    if (i == 10)
        b->p[127] = ' ';
    if (i == 24 || i == 25 || i == 26) {
        sb_buf c = {0};
        double big = 1e300;
        float nan = NAN;
        uint8_t bools[24] = {0, 1, 0, 2};
        if (i == 24)
            memcpy(b->p + 128 + 20, &nan, 4);
        if (i == 25)
            sb_npy(&c, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }", &big, 8);
        if (i == 26)
            sb_npy(&c, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3, 4), }", bools, 24);
        if (c.p)
            free(b->p), *b = c;
    }
    if (i == 29)
        b->p[1] = 'X';
}

static void test_bad_npy(void)
{
    for (int i = 0; i < (int)(sizeof npy_cases / sizeof npy_cases[0]); i++) {
        sb_buf b = {0};
        make_npy(i, &b);
        tap_okf(expect(load_bytes(&b, "bad.npy", 0, NULL), npy_cases[i].want, npy_cases[i].needle,
                       npy_cases[i].name), ".npy %s -> %s", npy_cases[i].name,
                varia_status_name(npy_cases[i].want));
        free(b.p);
    }
}

/* ---- The zip container -------------------------------------------------------- */

static const bad zip_cases[] = {
    {"the same wrong CRC in both headers", VARIA_ERR_DATASET, "CRC-32"},
    {"a flipped data byte (stored)", VARIA_ERR_DATASET, "CRC-32"},
    {"a local CRC differing from the directory's", VARIA_ERR_DATASET, "differ"},
    {"an uncompressed size 8 over the truth", VARIA_ERR_DATASET, "fewer bytes than declared"},
    {"an uncompressed size 8 under the truth", VARIA_ERR_DATASET, "more bytes than declared"},
    {"an uncompressed size of 4 GiB", VARIA_ERR_TOO_LARGE, "exceed the cap"},
    {"100 MiB declared from a few hundred deflated bytes", VARIA_ERR_DATASET, "cannot come from"},
    {"a stored member whose sizes differ", VARIA_ERR_DATASET, "cannot come from"},
    {"a compressed size past the directory", VARIA_ERR_TRUNCATED, "run past"},
    {"a local header offset past the end", VARIA_ERR_OFFSET, "local header offset"},
    {"a local header naming another member", VARIA_ERR_DATASET, "does not match"},
    {"method 12 (bzip2)", VARIA_ERR_UNSUPPORTED, "method 12"},
    {"the encryption flag", VARIA_ERR_UNSUPPORTED, "encrypted"},
    {"the end record on disk 1", VARIA_ERR_UNSUPPORTED, "several disks"},
    {"the end record counting 3 members", VARIA_ERR_DATASET, "cannot fit"},
    {"the end record counting 1 member", VARIA_ERR_DATASET, "follow its 1 entries"},
    {"the directory offset 1 too low", VARIA_ERR_OFFSET, "does not end where"},
    {"a comment length 1 too long", VARIA_ERR_DATASET, "no zip end of central directory"},
    {"saturated end record, no zip64 locator", VARIA_ERR_DATASET, "no zip64 locator"},
    {"a zip64 locator pointing at garbage", VARIA_ERR_DATASET, "no zip64 end record"},
    {"members sharing bytes", VARIA_ERR_OVERLAP, "share bytes"},
    {"'x.npy' twice", VARIA_ERR_DUPLICATE, "'x.npy' is in the archive twice"},
    {"no 'lengths.npy'", VARIA_ERR_MISSING, "'lengths.npy'"},
    {"an extra member 'y.npy'", VARIA_ERR_UNEXPECTED, "'y.npy'"},
    {"an empty archive", VARIA_ERR_MISSING, "'x.npy'"},
    {"corrupt deflate data", VARIA_ERR_DATASET, "'x.npy'"},
    {"a zip64 extra field disagreeing with the local sizes", VARIA_ERR_DATASET, "differ"},
    {"a zip64 end record offset outside the archive", VARIA_ERR_OFFSET, "zip64 end record offset"},
    {"a zip64 end record on disk 1", VARIA_ERR_UNSUPPORTED, "several disks"},
    {"a zip64 end record contradicting the end record", VARIA_ERR_DATASET, "contradicts"},
    {"a saturated directory size without its zip64 field", VARIA_ERR_DATASET, "without its zip64"},
};

/* Set a 32-bit field of the central entry and the local header of member m. */
static void both32(sb_buf *b, const sb_layout *l, int m, int central_off, uint32_t v)
{
    sb_set32(b, l->central[m] + (size_t)central_off, v);
    sb_set32(b, l->local[m] + (size_t)central_off - 2, v);
}

static uint32_t get32(const sb_buf *b, size_t at)
{
    return (uint32_t)b->p[at] | (uint32_t)b->p[at + 1] << 8 | (uint32_t)b->p[at + 2] << 16 |
           (uint32_t)b->p[at + 3] << 24;
}

static void make_zip(int i, sb_buf *b)
{
    sb_layout l;
    int method = i == 1 || i == 7 || i == 20 ? 0 : 8;
    int flags = i == 19 || i == 26 ? SB_ZIP64_EXTRA : i >= 27 && i <= 29 ? SB_ZIP64_END
              : i == 30 ? SB_ZIP64_CENTRAL : 0;
    if (i >= 21 && i <= 24) { /* other member lists */
        sb_buf x = {0}, n = {0};
        sb_npy(&x, 1, SB_X_DICT, x_u1, sizeof x_u1);
        sb_npy(&n, 1, SB_LEN_DICT, len_i8, sizeof len_i8);
        sb_member m[3] = {{"x.npy", x.p, x.n, 8}, {i == 21 ? "x.npy" : "lengths.npy", n.p, n.n, 8},
                          {"y.npy", x.p, x.n, 0}};
        sb_zip(b, i == 24 ? NULL : m, i == 22 ? 1 : i == 23 ? 3 : i == 24 ? 0 : 2, 0, &l);
        free(x.p), free(n.p);
        return;
    }
    npz_base(b, method, flags, &l);
    uint32_t crc = get32(b, l.central[0] + 16), usize = get32(b, l.central[1] + 24);
    switch (i) {
    case 0: both32(b, &l, 0, 16, crc ^ 1); break;
    case 1: b->p[l.local[0] + 30 + 5 + 130] ^= 1; break;
    case 2: sb_set32(b, l.local[0] + 14, crc ^ 1); break;
    case 3: both32(b, &l, 1, 24, usize + 8); break;
    case 4: both32(b, &l, 1, 24, usize - 8); break;
    case 5: both32(b, &l, 0, 24, 0xffffff00u); break;
    case 6: both32(b, &l, 0, 24, 100u << 20); break;
    case 7: both32(b, &l, 0, 24, get32(b, l.central[0] + 24) + 1); break;
    case 8: both32(b, &l, 1, 20, get32(b, l.central[1] + 20) + 1000); break;
    case 9: sb_set32(b, l.central[1] + 42, (uint32_t)b->n + 10); break;
    case 10: b->p[l.local[1] + 30] = 'L'; break;
    case 11: b->p[l.central[0] + 10] = 12, b->p[l.local[0] + 8] = 12; break;
    case 12: b->p[l.central[0] + 8] |= 1, b->p[l.local[0] + 6] |= 1; break;
    case 13: b->p[l.end + 4] = 1; break;
    case 14: b->p[l.end + 8] = b->p[l.end + 10] = 3; break;
    case 15: b->p[l.end + 8] = b->p[l.end + 10] = 1; break;
    case 16: sb_set32(b, l.end + 16, get32(b, l.end + 16) - 1); break;
    case 17: b->p[l.end + 20] = 1; break;
    case 18: sb_set32(b, l.end + 12, 0xffffffffu); break;
    case 19: { /* a locator before a saturated end record, pointing at a local header */
        sb_buf c = {0};
        sb_put(&c, b->p, l.end);
        sb_le(&c, 0x07064b50, 4), sb_le(&c, 0, 4), sb_le(&c, 0, 8), sb_le(&c, 1, 4);
        sb_put(&c, b->p + l.end, b->n - l.end);
        free(b->p), *b = c;
        sb_set32(b, l.end + 20 + 12, 0xffffffffu);
        break;
    }
    case 20: { /* x's data grows over lengths' local header (stored: sizes equal) */
        uint32_t grow = (uint32_t)(l.local[1] - l.local[0]) + 8;
        both32(b, &l, 0, 20, grow), both32(b, &l, 0, 24, grow);
        break;
    }
    case 25: b->p[l.local[0] + 30 + 5] ^= 0xff; break;
    case 26: b->p[l.local[0] + 30 + 5 + 4] ^= 1; break; /* the extra's uncompressed size */
    case 27: sb_set32(b, l.end - 20 + 8, 0x7fffffffu); break; /* the locator's record offset */
    case 28: b->p[l.end64 + 16] = 1; break;
    case 29: b->p[l.end + 8] = b->p[l.end + 10] = 3; break; /* count 3, not saturated */
    case 30: b->p[l.central[0] + 46 + 5] = 2; break; /* the zip64 field's id 1 -> 2 */
    }
}

static void test_bad_zip(void)
{
    for (int i = 0; i < (int)(sizeof zip_cases / sizeof zip_cases[0]); i++) {
        sb_buf b = {0};
        make_zip(i, &b);
        tap_okf(expect(load_bytes(&b, "bad.npz", 0, NULL), zip_cases[i].want, zip_cases[i].needle,
                       zip_cases[i].name), ".npz %s -> %s", zip_cases[i].name,
                varia_status_name(zip_cases[i].want));
        free(b.p);
    }
}

/* ---- The sequence set's own rules ---------------------------------------------- */

static const bad set_cases[] = {
    {"lengths [2, 3] for 6 frames", VARIA_ERR_DATASET, "sum to 5 frames"},
    {"lengths [-2, 8]", VARIA_ERR_DATASET, "lengths[0] is -2"},
    {"lengths [6, 0]", VARIA_ERR_DATASET, "lengths[1] is 0"},
    {"lengths of dtype float64", VARIA_ERR_DTYPE, "integers"},
    {"lengths of dtype bool", VARIA_ERR_DTYPE, "integers"},
    {"lengths [[2, 4]] (rank 2)", VARIA_ERR_SHAPE, "one dimension"},
    {"lengths of shape (0,)", VARIA_ERR_DATASET, "no sequences"},
    {"a uint64 length of 2^64 - 1", VARIA_ERR_DATASET, "exceeds 2^63"},
    {"lengths summing past 2^62", VARIA_ERR_TOO_LARGE, "2^62"},
    {"x of rank 1", VARIA_ERR_SHAPE, "[frames, dim]"},
    {"x of dtype complex64", VARIA_ERR_DTYPE, "'<c8'"},
    {"x's header claiming 7 frames", VARIA_ERR_TRUNCATED, "'x.npy'"},
    {"x's header claiming 5 frames", VARIA_ERR_TRAILING, "'x.npy'"},
    {"an infinity in x", VARIA_ERR_NONFINITE, "element 4 is infinite"},
    {"lengths' header version 9.0", VARIA_ERR_VERSION, "'lengths.npy'"},
};

static void make_set(int i, sb_buf *b)
{
    static const char *const ldict[9] = {
        [3] = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }",
        "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }",
    };
    static const char *const xdict[15] = {
        [9] = "{'descr': '|u1', 'fortran_order': False, 'shape': (18,), }",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (6, 3), }",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (7, 3), }",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (5, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3), }",
    };
    int64_t lens[][2] = {{2, 3}, {-2, 8}, {6, 0}, {0, 0}, {0, 0}, {2, 4}, {0, 0}, {-1, 7},
                         {((int64_t)1 << 62) - 1, ((int64_t)1 << 62) + 1}};
    float xf[18] = {0, 1, 0, 1, INFINITY};
    const void *xd = i == 10 || i == 13 ? xf : NULL;
    const void *ld = i < 9 ? lens[i] : NULL;
    size_t ln = i == 4 ? 2 : i == 6 ? 0 : 16;
    sb_layout l;
    npz_make(b, i == 14 ? 0 : 8, 0, i < 9 ? NULL : xdict[i], xd, sizeof xf,
             i < 9 ? ldict[i] : NULL, ld, ln, &l);
    if (i == 14) { /* stored: the version byte of lengths.npy, CRC and all made to agree */
        size_t at = l.local[1] + 30 + strlen("lengths.npy");
        b->p[at + 6] = 9;
        uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), b->p + at, get32(b, l.central[1] + 24));
        both32(b, &l, 1, 16, crc);
    }
}

static void test_bad_set(void)
{
    for (int i = 0; i < (int)(sizeof set_cases / sizeof set_cases[0]); i++) {
        sb_buf b = {0};
        make_set(i, &b);
        tap_okf(expect(load_bytes(&b, "bad.npz", 0, NULL), set_cases[i].want, set_cases[i].needle,
                       set_cases[i].name), ".npz %s -> %s", set_cases[i].name,
                varia_status_name(set_cases[i].want));
        free(b.p);
    }
}
/* ---- Caps, on sparse files (the data is a hole: nothing is read or allocated) ---- */

#define OVER_CAP 536870913 /* 2^29 + 1 frames of one value */

/* An .npz of x [OVER_CAP, 1] u1, stored (its data a hole, its CRC never
 * reached), and lengths [OVER_CAP], at path. */
static int write_sparse_npz(const char *path)
{
    sb_buf h = {0}, tail = {0};
    int64_t len = OVER_CAP;
    sb_npy(&h, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (536870913, 1), }", NULL, 0);
    sb_buf l = {0};
    sb_npy(&l, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", &len, 8);
    uint64_t xsize = h.n + OVER_CAP, at = 35 + xsize;
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), l.p, (uInt)l.n);
    sb_buf head = {0};
    sb_le(&head, 0x04034b50, 4), sb_le(&head, 20, 2), sb_le(&head, 0, 4), sb_le(&head, 0, 2);
    sb_le(&head, 0x21, 2), sb_le(&head, 0, 4), sb_le(&head, xsize, 4), sb_le(&head, xsize, 4);
    sb_le(&head, 5, 2), sb_le(&head, 0, 2), sb_put(&head, "x.npy", 5), sb_put(&head, h.p, h.n);
    sb_le(&tail, 0x04034b50, 4), sb_le(&tail, 20, 2), sb_le(&tail, 0, 4), sb_le(&tail, 0, 2);
    sb_le(&tail, 0x21, 2), sb_le(&tail, crc, 4), sb_le(&tail, l.n, 4), sb_le(&tail, l.n, 4);
    sb_le(&tail, 11, 2), sb_le(&tail, 0, 2), sb_put(&tail, "lengths.npy", 11), sb_put(&tail, l.p, l.n);
    uint64_t cd = at + tail.n;
    const char *names[2] = {"x.npy", "lengths.npy"};
    uint64_t sizes[2] = {xsize, l.n}, offs[2] = {0, at};
    uint32_t crcs[2] = {0, crc};
    for (int i = 0; i < 2; i++) {
        sb_le(&tail, 0x02014b50, 4), sb_le(&tail, 20, 2), sb_le(&tail, 20, 2), sb_le(&tail, 0, 4);
        sb_le(&tail, 0, 2), sb_le(&tail, 0x21, 2), sb_le(&tail, crcs[i], 4);
        sb_le(&tail, sizes[i], 4), sb_le(&tail, sizes[i], 4), sb_le(&tail, strlen(names[i]), 2);
        sb_le(&tail, 0, 8), sb_le(&tail, 0, 4), sb_le(&tail, offs[i], 4);
        sb_put(&tail, names[i], strlen(names[i]));
    }
    uint64_t cdlen = at + tail.n - cd;
    sb_le(&tail, 0x06054b50, 4), sb_le(&tail, 0, 4), sb_le(&tail, 2, 2), sb_le(&tail, 2, 2);
    sb_le(&tail, cdlen, 4), sb_le(&tail, cd, 4), sb_le(&tail, 0, 2);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(head.p, 1, head.n, f) == head.n && fseeko(f, (off_t)at, SEEK_SET) == 0 &&
             fwrite(tail.p, 1, tail.n, f) == tail.n;
    ok = (f && fclose(f) == 0) && ok;
    free(h.p), free(l.p), free(head.p), free(tail.p);
    return ok;
}

static void test_caps(void)
{
    sb_buf b = {0};
    varia_seqset s;
    sb_npy(&b, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 536870913, 1), }", NULL, 0);
    int ok = write_file(tp("cap.npy"), b.p, b.n) &&
             truncate(tp("cap.npy"), (off_t)(b.n + OVER_CAP)) == 0;
    tap_check(ok && expect(varia_seqset_load(ctx, tp("cap.npy"), 0, &s), VARIA_ERR_TOO_LARGE,
                           "exceed the cap", "cap.npy"),
              ".npy [1, 2^29 + 1, 1] (a 512 MiB hole) -> VARIA_ERR_TOO_LARGE before allocating");
    free(b.p);
    ok = write_sparse_npz(tp("cap.npz"));
    tap_check(ok && expect(varia_seqset_load(ctx, tp("cap.npz"), 0, &s), VARIA_ERR_TOO_LARGE,
                           "exceed the cap", "cap.npz"),
              ".npz of x [2^29 + 1, 1] (stored, a 512 MiB hole) -> VARIA_ERR_TOO_LARGE from its "
              "header, before reading it");
    unlink(tp("cap.npy"));
    unlink(tp("cap.npz"));
}

int main(void)
{
    if (!seq_setup()) {
        printf("Bail out! no temp dir or context\n");
        return 1;
    }
    test_bad_npy();
    test_bad_zip();
    test_bad_set();
    test_caps();
    seq_teardown();
    return tap_done();
}

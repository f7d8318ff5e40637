/* Internal: NumPy .npy arrays (numpy.lib.format, versions 1.0, 2.0 and 3.0)
 * read from bytes in memory: the header parsed and checked against the bytes
 * present, then the elements converted to float or int64 in C order. */
#ifndef VARIA_NPY_H
#define VARIA_NPY_H

#include "varia.h"

#include <stddef.h>
#include <stdint.h>

#define VARIA_NPY_MAX_RANK 8           /* numpy allows 32; sequence data needs 3 */
#define VARIA_NPY_HEADER_CAP 65536     /* header bytes (numpy writes about 128) */

/* What an array's 'descr' says its elements are. */
typedef enum varia_npy_kind {
    VARIA_NPY_BOOL = 'b',
    VARIA_NPY_INT = 'i',
    VARIA_NPY_UINT = 'u',
    VARIA_NPY_FLOAT = 'f'
} varia_npy_kind;

/* One array, as its header describes it; data points into the caller's bytes
 * (count * size of them, checked present), unaligned in general. */
typedef struct varia_npy {
    int version;                        /* 1, 2 or 3 (the major version byte) */
    varia_npy_kind kind;
    int size;                           /* bytes per element: 1, 2, 4 or 8 */
    int big_endian;                     /* '>' in descr */
    int fortran_order;                  /* elements stored column-major */
    int rank;
    int64_t shape[VARIA_NPY_MAX_RANK];
    int64_t count;                      /* product of shape (1 for rank 0) */
    const uint8_t *data;
} varia_npy;

/* Parse the .npy file in buf[0, len). `what` names it in messages (e.g.
 * "'a.npz' member 'x.npy'"). The bytes after the header must hold exactly
 * count * size bytes. Failures: VARIA_ERR_DATASET (bad magic, a header that
 * is not the dict literal numpy writes, an unknown or missing key, a header
 * not UTF-8 (3.0) or not ASCII (1.0, 2.0)), VARIA_ERR_VERSION (a version
 * other than 1.0, 2.0, 3.0), VARIA_ERR_HEADER (header length past the bytes
 * or over VARIA_NPY_HEADER_CAP), VARIA_ERR_DUPLICATE (a key twice),
 * VARIA_ERR_DTYPE (a descr other than |b1 |i1 |u1 and [<>] i2 i4 i8 u2 u4 u8
 * f4 f8), VARIA_ERR_TOO_LARGE (rank over VARIA_NPY_MAX_RANK, or a shape whose
 * byte size overflows 2^62), VARIA_ERR_TRUNCATED / VARIA_ERR_TRAILING (fewer
 * or more data bytes than the shape needs). *out is filled only on success. */
varia_status varia_npy_parse(varia_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                             varia_npy *out);

/* The header of a .npy file from its first `len` bytes, parsed as by
 * varia_npy_parse but without the data: *out (data NULL) and *total, the
 * whole file's size (header bytes + count * size). Lets a reader refuse a
 * lying size, a wrong shape or an array over its cap before inflating the rest. */
varia_status varia_npy_header(varia_ctx *ctx, const char *what, const uint8_t *buf, size_t len,
                              varia_npy *out, uint64_t *total);

/* Elements first .. first + n - 1 of a, in C (row-major) order whatever the
 * array's storage order, converted to float into dst[n]. Integers convert
 * exactly up to 2^24 and round beyond; bools must be 0 or 1. VARIA_ERR_NONFINITE
 * names the first NaN, infinity or double beyond float range (by its C-order
 * index); VARIA_ERR_DATASET a bool byte other than 0 or 1. */
varia_status varia_npy_to_float(varia_ctx *ctx, const char *what, const varia_npy *a,
                                int64_t first, int64_t n, float *dst);

/* All elements of an integer array (kind 'i' or 'u') as int64, in C order,
 * into dst[a->count]. VARIA_ERR_DTYPE for a bool or float array;
 * VARIA_ERR_DATASET for a u8 value above 2^63 - 1. */
varia_status varia_npy_to_int64(varia_ctx *ctx, const char *what, const varia_npy *a,
                                int64_t *dst);

#endif

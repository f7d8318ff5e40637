/* Internal: the zip container of NumPy's .npz files, read from bytes in
 * memory (a mapped file): the central directory parsed and every member's
 * local header checked against it when the archive is opened, members
 * inflated on demand with their sizes and CRC-32 checked. */
#ifndef VARIA_ZIP_H
#define VARIA_ZIP_H

#include "varia.h"

#include <stddef.h>
#include <stdint.h>

#define VARIA_ZIP_MAX_NAME 255 /* member name bytes ("NAME.npy") */

/* One member, as the central directory and its local header agree. */
typedef struct varia_zip_member {
    char name[VARIA_ZIP_MAX_NAME + 1];
    uint16_t method;              /* 0 stored, 8 deflate */
    uint32_t crc;                 /* CRC-32 of the uncompressed bytes */
    uint64_t csize, usize;        /* compressed and uncompressed sizes */
    uint64_t header_at, data_at;  /* local header and data offsets in the archive */
} varia_zip_member;

typedef struct varia_zip {
    const char *path;             /* the caller's string, for messages */
    const uint8_t *buf;           /* the archive's bytes (the caller's) */
    size_t len;
    varia_zip_member *m;          /* n members, in central directory order */
    int64_t n;
} varia_zip;

/* Parse the archive buf[0, len) named path (both must outlive z): the end of
 * central directory record (its comment included, zip64 records when the
 * fields are saturated), the central directory, each local header. Refused:
 * a missing or inconsistent record, several disks, encryption, a method
 * other than stored or deflate, offsets or sizes outside the bytes or
 * overlapping, a local header that contradicts the directory, a name over
 * VARIA_ZIP_MAX_NAME bytes or holding a NUL, a declared size over the cap or
 * beyond what deflate can expand to, a name twice. Statuses: VARIA_ERR_DATASET
 * (malformed), VARIA_ERR_OFFSET (an offset outside the archive),
 * VARIA_ERR_TRUNCATED (member data past the end), VARIA_ERR_OVERLAP,
 * VARIA_ERR_DUPLICATE, VARIA_ERR_TOO_LARGE (over cap), VARIA_ERR_UNSUPPORTED
 * (encryption, another method, several disks), VARIA_ERR_NOMEM. On failure
 * z is zeroed; otherwise free it with varia_zip_close. */
varia_status varia_zip_open(varia_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
                            size_t cap, varia_zip *z);
void varia_zip_close(varia_zip *z);

/* The member named name, or NULL. */
const varia_zip_member *varia_zip_find(const varia_zip *z, const char *name);

/* The uncompressed bytes of member m in a fresh malloc'd buffer (*out; free
 * it) of m->usize bytes (*out is never NULL on success, even for 0 bytes).
 * Stored data is copied; deflate data is inflated into exactly usize bytes
 * and must end there, consuming exactly csize bytes. The CRC-32 must match.
 * VARIA_ERR_DATASET names the member for corrupt deflate data, a size that
 * lies, or a CRC mismatch; VARIA_ERR_NOMEM. On failure *out is NULL. */
varia_status varia_zip_read(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                            uint8_t **out);

/* The first min(want, usize) uncompressed bytes of m into buf (a member's
 * header, say, before the rest is inflated); *got receives the count. No
 * CRC check (that needs the whole member). VARIA_ERR_DATASET for corrupt data. */
varia_status varia_zip_peek(varia_ctx *ctx, const varia_zip *z, const varia_zip_member *m,
                            uint8_t *buf, size_t want, size_t *got);

#endif

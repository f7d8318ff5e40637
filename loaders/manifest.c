/* varia_model_load: reads the JSON manifest, checks the format header and the
 * data block, opens the weights, lets the family build itself, and refuses any
 * tensor the family did not use. See docs/format.md. */
#include "family.h"
#include "gzfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cJSON takes about 40 bytes of memory per input byte: 4 MiB of manifest
 * (tens of thousands of tensor entries) is plenty and costs at most ~160 MB. */
#define MANIFEST_CAP (4u * 1024u * 1024u)
#define DATA_SIZE_CAP ((int64_t)1 << 24)


static varia_status read_text(varia_ctx *ctx, const char *path, char **out)
{
    int fd = varia_open_regular(ctx, path, "manifest");
    if (fd < 0)
        return VARIA_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)MANIFEST_CAP) {
        close(fd);
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "manifest '%s' exceeds %u bytes", path, MANIFEST_CAP);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1); /* sized by the file, not the cap */
    if (!buf) {
        close(fd);
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    for (ssize_t r = 1; got < size && r > 0; got += r > 0 ? (size_t)r : 0)
        r = read(fd, buf + got, size - got);
    close(fd);
    if (got != size) {
        free(buf);
        return varia_fail(ctx, VARIA_ERR_IO, "cannot read manifest '%s'", path);
    }
    buf[size] = '\0';
    *out = buf;
    return VARIA_OK;
}

/* 1 to 6 decimal digits (no sign, no spaces: sscanf would wrap and accept
 * them); advances *p. Returns -1 if there are none or too many. */
static long parse_version_part(const char **p)
{
    long v = 0;
    int digits = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++)
        if (++digits > 6)
            return -1;
        else
            v = v * 10 + (**p - '0');
    return digits ? v : -1;
}

static varia_status check_header(varia_ctx *ctx, const cJSON *root)
{
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
    if (!fmt || strcmp(fmt, "varia"))
        return varia_fail(ctx, VARIA_ERR_VERSION, "manifest: \"format\" must be \"varia\"");
    const char *ver = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "version"));
    const char *p = ver;
    long major = ver ? parse_version_part(&p) : -1, minor = (major >= 0 && *p++ == '.') ? parse_version_part(&p) : -1;
    if (major < 0 || minor < 0 || *p)
        return varia_fail(ctx, VARIA_ERR_VERSION, "manifest: \"version\" must be a string \"MAJOR.MINOR\" of decimal digits");
    if (major != 1)
        return varia_fail(ctx, VARIA_ERR_VERSION, "manifest: format version %ld.%ld is not supported (this runtime reads 1.x)",
                          major, minor);
    return VARIA_OK;
}

static varia_status find_family(varia_ctx *ctx, const cJSON *root, varia_model *m)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "family"));
    if (!name)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: \"family\" is missing or not a string");
    if (!(m->family = varia_family_find(name)))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: unknown family '%.40s'", name);
    snprintf(m->family_name, sizeof m->family_name, "%s", name);
    m->info.family = m->family_name;
    return VARIA_OK;
}

static varia_status parse_data(varia_ctx *ctx, const cJSON *root, varia_model *m)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(data))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: \"data\" is missing or not an object");
    int64_t dims[VARIA_MAX_RANK];
    int rank;
    varia_status st = varia_json_int_array(ctx, data, "data", "shape", 1, DATA_SIZE_CAP, VARIA_MAX_RANK, dims, &rank);
    if (st != VARIA_OK)
        return st;
    if (rank < 1)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "data: \"shape\" must have 1 to %d entries", VARIA_MAX_RANK);
    int64_t size = 1;
    for (int i = 0; i < rank; i++) {
        size *= dims[i];
        if (size > DATA_SIZE_CAP)
            return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "data: \"shape\" has more than %lld elements", (long long)DATA_SIZE_CAP);
        m->info.data_shape.dims[i] = dims[i];
    }
    m->info.data_shape.rank = rank;
    m->info.data_size = size;
    static const char *const known[] = {"shape", "kind", "binarization", "scale", NULL};
    varia_json_warn_unknown(ctx, data, "data", known);
    return VARIA_OK;
}

/* Resolve the weights file relative to the manifest and open it. */
static varia_status open_weights(varia_ctx *ctx, const char *manifest_path, const cJSON *root, varia_model *m)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "weights");
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "format"));
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "file"));
    if (!cJSON_IsObject(w) || !fmt || !file || !*file)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: \"weights\" needs string keys \"format\" and \"file\"");
    const cJSON *table = NULL;
    if (!strcmp(fmt, "raw")) {
        table = cJSON_GetObjectItemCaseSensitive(w, "tensors");
        if (!cJSON_IsObject(table))
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "weights: raw format needs a \"tensors\" object");
    } else if (strcmp(fmt, "safetensors")) {
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "weights: unknown format '%.40s' (safetensors or raw)", fmt);
    }
    const char *slash = strrchr(manifest_path, '/');
    size_t dirlen = (file[0] == '/' || !slash) ? 0 : (size_t)(slash - manifest_path + 1);
    size_t len = dirlen + strlen(file) + 1;
    char *path = malloc(len);
    if (!path)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    memcpy(path, manifest_path, dirlen);
    strcpy(path + dirlen, file);
    varia_status st = varia_weights_open(ctx, path, table, &m->w);
    free(path);
    return st;
}

static varia_status check_all_used(varia_ctx *ctx, const varia_model *m)
{
    for (int i = 0; i < m->w.n; i++)
        if (!m->w.t[i].used)
            return varia_fail(ctx, VARIA_ERR_UNEXPECTED, "tensor '%s' is not used by this architecture", m->w.t[i].name);
    return VARIA_OK;
}

/* What one batch of the model's operations will allocate is fixed by the file:
 * refuse a file that would make every call allocate absurd memory, or that
 * exceeds the parameter cap of docs/format.md. */
static varia_status check_workspace(varia_ctx *ctx, const varia_model *m)
{
    if (m->info.n_params > ((int64_t)1 << 31))
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "model has %lld parameters (at most 2^31)", (long long)m->info.n_params);
    return VARIA_OK;
}

static varia_status build(varia_ctx *ctx, const char *path, const cJSON *root, varia_model *m)
{
    static const char *const known[] = {"format", "version", "family", "data", "architecture",
                                        "weights", "provenance", NULL};
    if (!cJSON_IsObject(root))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest '%s' is not a JSON object", path);
    varia_status st = check_header(ctx, root);
    if (st == VARIA_OK)
        st = find_family(ctx, root, m);
    if (st == VARIA_OK)
        st = parse_data(ctx, root, m);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architecture");
    if (st == VARIA_OK && !cJSON_IsObject(arch))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: \"architecture\" is missing or not an object");
    if (st == VARIA_OK)
        st = open_weights(ctx, path, root, m);
    if (st == VARIA_OK)
        st = varia_model_build(ctx, m, arch);
    if (st == VARIA_OK)
        st = check_all_used(ctx, m);
    if (st == VARIA_OK)
        st = check_workspace(ctx, m);
    if (st != VARIA_OK)
        return st;
    m->info.n_tensors = m->w.n;
    varia_json_warn_unknown(ctx, root, "manifest", known);
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(root, "provenance");
    if (prov && !(m->provenance = cJSON_PrintUnformatted(prov)))
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    return VARIA_OK;
}

varia_status varia_model_load(varia_ctx *ctx, const char *manifest_path, varia_model **out)
{
    if (!ctx || !manifest_path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_model_load: null argument");
    *out = NULL;
    ctx->warnings[0] = '\0';
    char *text = NULL;
    varia_status st = read_text(ctx, manifest_path, &text);
    if (st != VARIA_OK)
        return st;
    const char *end = NULL; /* on failure cJSON points it at the error (its global is not thread-safe) */
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        st = varia_fail(ctx, VARIA_ERR_JSON, "manifest '%s' is not valid JSON (near byte %lld)", manifest_path,
                        (long long)(end ? end - text : 0));
        free(text);
        return st;
    }
    varia_model *m = calloc(1, sizeof *m);
    if (!m)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    else
        st = build(ctx, manifest_path, root, m);
    cJSON_Delete(root);
    free(text);
    if (st != VARIA_OK) {
        varia_model_free(m);
        return st;
    }
    *out = m;
    return VARIA_OK;
}

void varia_model_free(varia_model *m)
{
    if (!m)
        return;
    varia_model_release(m);
    varia_weights_close(&m->w);
    free(m->provenance);
    free(m);
}

varia_status varia_model_info(const varia_model *m, varia_info *info)
{
    if (!m || !info)
        return VARIA_ERR_ARG;
    *info = m->info;
    return VARIA_OK;
}

const char *varia_model_provenance(const varia_model *m)
{
    return m ? m->provenance : NULL;
}

/* varia_model_load: reads the JSON manifest, checks the format header and the
 * data block, opens the weights, lets the family build itself, and refuses any
 * tensor the family did not use. See docs/format.md. varia_model_load_memory
 * takes the manifest's text and the weights file's bytes instead of paths;
 * both go through load_text, so they validate alike, by the same code. */
#include "family.h"
#include "file.h"
#include "json.h"

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
/* What messages call a manifest given as bytes (it has no path). */
#define VARIA_MEMORY_LABEL "<memory>"

/* Where a model's weights come from: the file the manifest names, resolved
 * against the manifest's folder (path set), or the bytes of that file given
 * by the caller (path NULL; bytes[len], borrowed for the load only). */
typedef struct weights_source {
    const char *path;  /* the manifest's path, or NULL */
    const void *bytes; /* when path is NULL: the weights file's bytes (NULL only if len is 0) */
    size_t len;
} weights_source;


/* The manifest's bytes in a fresh buffer (*out, NUL-terminated, the caller
 * frees it) and their count (*len); the file must be a regular file. */
static varia_status read_text(varia_ctx *ctx, const char *path, char **out, size_t *len)
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
    *len = size;
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

/* 1 when the weights file name `file` stays in the manifest's folder by its
 * text: relative, and no ".." component. Symlinks are deliberately not
 * resolved: model caches (the Hugging Face hub's, for one) keep the files of
 * a model as links into a shared blob folder outside it. */
static int stays_inside(const char *file)
{
    if (file[0] == '/')
        return 0;
    for (const char *p = file; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n + (p[n] == '/');
    }
    return 1;
}

/* The weights from src, as root's "weights" describes them, into m->w.
 * Unless flags has VARIA_LOAD_ALLOW_OUTSIDE, the file's name must stay inside
 * the manifest's folder: a downloaded manifest must not make the loader read
 * (and report on) any file the caller can read. The bytes path checks the
 * name too, though it opens nothing, so that the two loaders accept the same
 * manifests. */
static varia_status open_weights(varia_ctx *ctx, const weights_source *src, uint32_t flags, const cJSON *root,
                                 varia_model *m)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "weights");
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "format"));
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "file"));
    if (!cJSON_IsObject(w) || !fmt || !file || !*file)
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: \"weights\" needs string keys \"format\" and \"file\"");
    if (!(flags & VARIA_LOAD_ALLOW_OUTSIDE) && !stays_inside(file))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "weights: \"file\" '%.80s' %s: the weights must be inside the "
                          "manifest's folder (VARIA_LOAD_ALLOW_OUTSIDE or --allow-outside-weights allow it)", file,
                          file[0] == '/' ? "is an absolute path" : "has a \"..\" component");
    const cJSON *table = NULL;
    if (!strcmp(fmt, "raw")) {
        table = cJSON_GetObjectItemCaseSensitive(w, "tensors");
        if (!cJSON_IsObject(table))
            return varia_fail(ctx, VARIA_ERR_MANIFEST, "weights: raw format needs a \"tensors\" object");
    } else if (strcmp(fmt, "safetensors")) {
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "weights: unknown format '%.40s' (safetensors or raw)", fmt);
    }
    if (!src->path)
        return varia_weights_open_memory(ctx, file, src->bytes, src->len, table, &m->w);
    const char *slash = strrchr(src->path, '/');
    size_t dirlen = (file[0] == '/' || !slash) ? 0 : (size_t)(slash - src->path + 1);
    size_t len = dirlen + strlen(file) + 1;
    char *path = malloc(len);
    if (!path)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    memcpy(path, src->path, dirlen);
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

/* Fill m from the parsed manifest root and the weights from src. label names
 * the manifest in messages. On failure m holds what was built so far (free it
 * with varia_model_free). */
static varia_status build(varia_ctx *ctx, const char *label, const weights_source *src, uint32_t flags,
                          const cJSON *root, varia_model *m)
{
    /* "training" is a checkpoint's resume state (train/checkpoint.c): the
     * runtime ignores it, but a checkpoint is a model and loads quietly. */
    static const char *const known[] = {"format", "version", "family", "data", "architecture",
                                        "weights", "provenance", "training", NULL};
    if (!cJSON_IsObject(root))
        return varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest '%s' is not a JSON object", label);
    varia_status st = check_header(ctx, root);
    if (st == VARIA_OK)
        st = find_family(ctx, root, m);
    if (st == VARIA_OK)
        st = parse_data(ctx, root, m);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architecture");
    if (st == VARIA_OK && !cJSON_IsObject(arch))
        st = varia_fail(ctx, VARIA_ERR_MANIFEST, "manifest: \"architecture\" is missing or not an object");
    if (st == VARIA_OK)
        st = open_weights(ctx, src, flags, root, m);
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

/* The common core of both loaders: text[len] (NUL-terminated, at most
 * MANIFEST_CAP) is the manifest, label its name in messages, src the
 * weights, flags as begin_load accepted them. *out receives the model, or
 * NULL on failure. */
static varia_status load_text(varia_ctx *ctx, const char *text, size_t len, const char *label,
                              const weights_source *src, uint32_t flags, varia_model **out)
{
    cJSON *root = NULL;
    varia_status st = varia_json_parse_strict(ctx, text, len, label, "manifest", 0, &root);
    if (st != VARIA_OK)
        return st;
    varia_model *m = calloc(1, sizeof *m);
    if (!m)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory");
    else
        st = build(ctx, label, src, flags, root, m);
    cJSON_Delete(root);
    if (st != VARIA_OK) {
        varia_model_free(m);
        return st;
    }
    *out = m;
    return VARIA_OK;
}

/* Both loaders' argument checks: *out cleared, flags known, warnings reset. */
static varia_status begin_load(varia_ctx *ctx, const char *fn, uint32_t flags, varia_model **out)
{
    *out = NULL;
    if (flags & ~(uint32_t)VARIA_LOAD_ALLOW_OUTSIDE)
        return varia_fail(ctx, VARIA_ERR_ARG, "%s: unknown flags 0x%x", fn, (unsigned)flags);
    ctx->warnings[0] = '\0';
    return VARIA_OK;
}

varia_status varia_model_load_ex(varia_ctx *ctx, const char *manifest_path, uint32_t flags, varia_model **out)
{
    if (!ctx || !manifest_path || !out)
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_model_load: null argument");
    varia_status st = begin_load(ctx, "varia_model_load_ex", flags, out);
    char *text = NULL;
    size_t len = 0;
    if (st == VARIA_OK)
        st = read_text(ctx, manifest_path, &text, &len);
    weights_source src = {.path = manifest_path};
    if (st == VARIA_OK)
        st = load_text(ctx, text, len, manifest_path, &src, flags, out);
    free(text);
    return st;
}

/* The manifest is copied to add the NUL the JSON reader's buffer has from
 * read_text; the weights are copied by varia_weights_open_memory. */
varia_status varia_model_load_memory(varia_ctx *ctx, const void *manifest, size_t manifest_len, const void *weights,
                                     size_t weights_len, uint32_t flags, varia_model **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !out || (!manifest && manifest_len) || (!weights && weights_len))
        return varia_fail(ctx, VARIA_ERR_ARG, "varia_model_load_memory: null argument");
    varia_status st = begin_load(ctx, "varia_model_load_memory", flags, out);
    if (st != VARIA_OK)
        return st;
    if (manifest_len > MANIFEST_CAP)
        return varia_fail(ctx, VARIA_ERR_TOO_LARGE, "manifest '%s' exceeds %u bytes", VARIA_MEMORY_LABEL, MANIFEST_CAP);
    char *text = malloc(manifest_len + 1);
    if (!text)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory copying the manifest");
    if (manifest_len)
        memcpy(text, manifest, manifest_len);
    text[manifest_len] = '\0';
    weights_source src = {.path = NULL, .bytes = weights, .len = weights_len};
    st = load_text(ctx, text, manifest_len, VARIA_MEMORY_LABEL, &src, flags, out);
    free(text);
    return st;
}

varia_status varia_model_load(varia_ctx *ctx, const char *manifest_path, varia_model **out)
{
    return varia_model_load_ex(ctx, manifest_path, 0, out);
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
    info->obs_var = m->family->obs_var ? m->family->obs_var(m->cfg) : 0.0;
    return VARIA_OK;
}

const char *varia_model_provenance(const varia_model *m)
{
    return m ? m->provenance : NULL;
}

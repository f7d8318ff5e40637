/* Safetensors and manifest writers for the trainer (see save.h). */
#include "save.h"

#include "ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

varia_status tr_make_dir(varia_ctx *ctx, const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return VARIA_OK;
    return varia_fail(ctx, VARIA_ERR_IO, "cannot create directory '%s': %s", dir, strerror(errno));
}

varia_status tr_prepare_output(varia_ctx *ctx, const char *dir)
{
    char path[1100];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return varia_fail(ctx, VARIA_ERR_ARG, "train: output path empty or too long: '%.100s'", dir);
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) { /* each parent in turn, as mkdir -p */
        if (*p != '/')
            continue;
        *p = '\0';
        varia_status st = tr_make_dir(ctx, path);
        *p = '/';
        if (st != VARIA_OK)
            return st;
    }
    varia_status st = tr_make_dir(ctx, path);
    struct stat sb;
    if (st == VARIA_OK && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        st = varia_fail(ctx, VARIA_ERR_IO, "train: output '%s' is not a directory", dir);
    if (st == VARIA_OK && access(dir, W_OK | X_OK) != 0)
        st = varia_fail(ctx, VARIA_ERR_IO, "train: cannot write in the output directory '%s': %s", dir,
                        strerror(errno));
    return st;
}

/* Write len bytes of a then b to path via path.tmp and rename. */
static varia_status write_atomic(varia_ctx *ctx, const char *path, const void *a, size_t alen, const void *const *parts,
                                 const size_t *plen, int nparts)
{
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return varia_fail(ctx, VARIA_ERR_ARG, "path too long: '%.100s'", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return varia_fail(ctx, VARIA_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    int ok = fwrite(a, 1, alen, f) == alen;
    for (int i = 0; i < nparts && ok; i++)
        ok = plen[i] == 0 || fwrite(parts[i], 1, plen[i], f) == plen[i];
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return varia_fail(ctx, VARIA_ERR_IO, "cannot write '%s'", path);
    }
    return VARIA_OK;
}

static cJSON *tensor_entry(const tr_tensor_out *t, size_t *offset)
{
    cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
    size_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        n *= (size_t)t->shape[d];
    }
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*offset));
    *offset += n * sizeof(float);
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*offset));
    cJSON_AddStringToObject(e, "dtype", "F32");
    cJSON_AddItemToObject(e, "shape", shape);
    cJSON_AddItemToObject(e, "data_offsets", offs);
    return e;
}

varia_status tr_write_safetensors(varia_ctx *ctx, const char *path, const tr_tensor_out *t, int n)
{
    cJSON *h = cJSON_CreateObject();
    const void **parts = calloc((size_t)n + 1, sizeof *parts);
    size_t *plen = calloc((size_t)n + 1, sizeof *plen);
    size_t off = 0;
    for (int i = 0; i < n && h; i++) {
        size_t before = off;
        cJSON_AddItemToObject(h, t[i].name, tensor_entry(&t[i], &off));
        parts[i] = t[i].data;
        plen[i] = off - before;
    }
    char *json = h ? cJSON_PrintUnformatted(h) : NULL;
    cJSON_Delete(h);
    varia_status st = VARIA_ERR_NOMEM;
    if (json && parts && plen) {
        size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
        unsigned char *head = malloc(8 + padded);
        if (head) {
            for (int b = 0; b < 8; b++) /* little-endian header length */
                head[b] = (unsigned char)((uint64_t)padded >> (8 * b));
            memcpy(head + 8, json, jl);
            memset(head + 8 + jl, ' ', padded - jl);
            st = write_atomic(ctx, path, head, 8 + padded, parts, plen, n);
            free(head);
        }
    }
    if (st == VARIA_ERR_NOMEM)
        varia_fail(ctx, st, "out of memory writing '%s'", path);
    free(json);
    free(parts);
    free(plen);
    return st;
}

static varia_status write_weights(varia_ctx *ctx, const char *path, const tr_model *md, const float *theta)
{
    int n = md->decl.n_t;
    tr_tensor_out *t = calloc((size_t)n + 1, sizeof *t);
    if (!t)
        return varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory writing '%s'", path);
    for (int i = 0; i < n; i++) {
        const varia_decl_tensor *d = &md->decl.t[i];
        t[i].name = d->name;
        t[i].rank = d->rank;
        for (int r = 0; r < d->rank; r++)
            t[i].shape[r] = d->shape[r];
        t[i].data = theta + md->off[i];
    }
    varia_status st = tr_write_safetensors(ctx, path, t, n);
    free(t);
    return st;
}

varia_status tr_save_model(varia_ctx *ctx, const char *dir, const tr_model *md, const cJSON *arch,
                           const float *theta, const char *weights_file, cJSON *data, cJSON *extra)
{
    char path[1100];
    cJSON *m = cJSON_CreateObject(), *w = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", "varia");
    cJSON_AddStringToObject(m, "version", "1.0");
    cJSON_AddStringToObject(m, "family", md->family_name);
    cJSON_AddItemToObject(m, "data", data);
    cJSON_AddItemToObject(m, "architecture", cJSON_Duplicate(arch, 1));
    cJSON_AddStringToObject(w, "format", "safetensors");
    cJSON_AddStringToObject(w, "file", weights_file);
    cJSON_AddItemToObject(m, "weights", w);
    for (cJSON *it = extra ? extra->child : NULL; it;) {
        cJSON *next = it->next;
        char key[64];
        snprintf(key, sizeof key, "%s", it->string ? it->string : "");
        cJSON_AddItemToObject(m, key, cJSON_DetachItemViaPointer(extra, it));
        it = next;
    }
    cJSON_Delete(extra);
    snprintf(path, sizeof path, "%s/%s", dir, weights_file);
    varia_status st = write_weights(ctx, path, md, theta);
    char *text = st == VARIA_OK ? cJSON_Print(m) : NULL;
    cJSON_Delete(m);
    if (st == VARIA_OK && !text)
        st = varia_fail(ctx, VARIA_ERR_NOMEM, "out of memory writing the manifest");
    if (st == VARIA_OK) {
        size_t len = strlen(text);
        text[len] = '\n'; /* replaces the terminator: written by length */
        snprintf(path, sizeof path, "%s/model.json", dir);
        st = write_atomic(ctx, path, text, len + 1, NULL, NULL, 0);
    }
    free(text);
    return st;
}

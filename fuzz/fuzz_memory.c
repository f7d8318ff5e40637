/* libFuzzer harness for varia_model_load_memory, the loader of the
 * WebAssembly build: the input is fuzz_model's, a manifest and a weights
 * blob separated by the first "\n--\n" (no separator: all manifest, an empty
 * blob). The bytes go to the loader as they are; a model that loads runs the
 * operations (fz_exercise_model). The two loaders must agree: when the
 * manifest names "w.bin", the same manifest and blob written as files (m.json,
 * w.bin) must get the same status from varia_model_load (other names would
 * make the file loader read another file, or none). */
#include "fuzz_common.h"

#include <cjson/cJSON.h>

static char mpath[256], wpath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(mpath, "m.json");
    fz_path(wpath, "w.bin");
    return 0;
}

static const uint8_t *find_sep(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (p[i] == '\n' && p[i + 1] == '-' && p[i + 2] == '-' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

/* 1 when the manifest text[len] parses (leniently) with "weights"."file"
 * equal to "w.bin": the file the harness writes the blob to. */
static int names_blob(const uint8_t *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    const char *file = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "weights"), "file"));
    int yes = file && !strcmp(file, "w.bin");
    cJSON_Delete(root);
    return yes;
}

/* The status of the same input through the file loader. */
static varia_status file_status(const uint8_t *manifest, size_t mlen, const uint8_t *blob, size_t blen)
{
    if (!fz_write(mpath, manifest, mlen) || !fz_write(wpath, blob, blen))
        abort(); /* no scratch files: the comparison would test nothing */
    varia_ctx *ctx = fz_ctx();
    varia_model *m = NULL;
    varia_status st = varia_model_load(ctx, mpath, &m);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = find_sep(data, size);
    size_t mlen = sep ? (size_t)(sep - data) : size;
    const uint8_t *blob = sep ? sep + 4 : data + size;
    size_t blen = (size_t)(data + size - blob);
    varia_ctx *ctx = fz_ctx();
    varia_model *m = NULL;
    varia_status st = varia_model_load_memory(ctx, data, mlen, blob, blen, 0, &m);
    fz_touch(varia_ctx_message(ctx));
    fz_touch(varia_status_name(st));
    if ((st == VARIA_OK) != (m != NULL))
        fz_bug(); /* a failed load leaves the output NULL; a success sets it */
    if (m)
        fz_exercise_model(ctx, m);
    varia_model_free(m);
    varia_ctx_free(ctx);
    if (names_blob(data, mlen) && file_status(data, mlen, blob, blen) != st)
        fz_bug(); /* the loaders disagree on the same bytes */
    return 0;
}

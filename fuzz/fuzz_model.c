/* libFuzzer harness: the input is a manifest and a weights blob separated by
 * the first "\n--\n": the manifest goes to m.json, the blob to w.bin (the
 * seeds' manifests name "w.bin", mostly as format "raw", some as
 * "safetensors"). Without a separator the whole input is the manifest and
 * w.bin is empty. Loads and, if it loads, runs the operations. */
#include "fuzz_common.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = find_sep(data, size);
    size_t mlen = sep ? (size_t)(sep - data) : size;
    const uint8_t *blob = sep ? sep + 4 : data + size;
    size_t blen = (size_t)(data + size - blob);
    if (!fz_write(mpath, data, mlen) || !fz_write(wpath, blob, blen))
        return 0;
    fz_load_and_exercise(mpath);
    return 0;
}

/* libFuzzer harness: the input is a safetensors weights file for the tiny VAE
 * of docs/format.md section 5 (fixed manifest). Loads it and, if it loads,
 * runs decode / sample / reconstruct / eval on fixed inputs. */
#include "fuzz_common.h"

static const char manifest[] =
    "{\"format\":\"varia\",\"version\":\"1.0\",\"family\":\"vae\","
    "\"data\":{\"shape\":[4],\"kind\":\"binary\"},"
    "\"architecture\":{\"activation\":\"tanh\",\"likelihood\":{\"type\":\"bernoulli\"},"
    "\"layers\":[{\"latent\":2,\"encoder\":[3],\"decoder\":[3]}]},"
    "\"weights\":{\"format\":\"safetensors\",\"file\":\"w.safetensors\"}}\n";

static char mpath[256], wpath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(mpath, "m.json");
    fz_path(wpath, "w.safetensors");
    if (!fz_write(mpath, manifest, sizeof manifest - 1))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_write(wpath, data, size))
        return 0;
    fz_load_and_exercise(mpath);
    return 0;
}

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
    varia_ctx *ctx = fz_ctx();
    varia_model *m = NULL;
    varia_status st = varia_model_load(ctx, mpath, &m);
    fz_touch(varia_ctx_message(ctx));
    fz_touch(varia_status_name(st));
    if (st == VARIA_OK) {
        if (!m)
            fz_bug();
        fz_exercise_model(ctx, m);
        varia_model_free(m);
    } else if (m) {
        fz_bug(); /* a failed load must leave *out NULL */
    }
    varia_ctx_free(ctx);
    return 0;
}

/* libFuzzer harness: the input is a model manifest (JSON text). Fixed, valid
 * weights files sit next to it, so mutations of the seed manifests can load:
 *   w.safetensors   the tiny VAE of docs/format.md section 5 (F32)
 *   w.bin           the same, raw (224 bytes; needs a "tensors" table)
 *   w2.safetensors  the tiny VAE with a second layer (latent 1, [2], [2])
 *   wg.safetensors  tiny, gaussian likelihood with variance "decoder"
 *   wl.safetensors  tiny, gaussian likelihood with variance "learned" ([4])
 * Loads the manifest and, if it loads, runs the operations on small inputs. */
#include "fuzz_common.h"

static char mpath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(mpath, "m.json");
    if (!fz_write_model_weights("w.safetensors", &fz_tiny_layer, 1, FZ_VAR_NONE, 1) ||
        !fz_write_model_weights("w.bin", &fz_tiny_layer, 1, FZ_VAR_NONE, 0) ||
        !fz_write_model_weights("w2.safetensors", fz_tiny_layers2, 2, FZ_VAR_NONE, 1) ||
        !fz_write_model_weights("wg.safetensors", &fz_tiny_layer, 1, FZ_VAR_DECODER, 1) ||
        !fz_write_model_weights("wl.safetensors", &fz_tiny_layer, 1, FZ_VAR_LEARNED, 1))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_write(mpath, data, size))
        return 0;
    fz_load_and_exercise(mpath);
    return 0;
}

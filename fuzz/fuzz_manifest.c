/* libFuzzer harness: the input is a model manifest (JSON text). Fixed, valid
 * weights files sit next to it, so mutations of the seed manifests can load:
 *   w.safetensors   the tiny VAE of docs/format.md section 5 (F32)
 *   w.bin           the same, raw (224 bytes; needs a "tensors" table)
 *   w2.safetensors  the tiny VAE with a second layer (latent 1, [2], [2])
 *   wg.safetensors  tiny, gaussian likelihood with variance "decoder"
 *   wl.safetensors  tiny, gaussian likelihood with variance "learned" ([4])
 *   wfp.safetensors tiny + planar amortized flow, K 2 (enc1.flow [10, 3])
 *   wfg.safetensors tiny + planar global flow, K 2
 *   wfr.safetensors tiny + radial global flow, K 2
 *   wfa.safetensors tiny + radial amortized flow, K 2 (enc1.flow [8, 3])
 *   wfi.safetensors tiny + IAF, K 2, hidden [4], context 2
 *   wf2.safetensors the two-layer model + planar global flow on its top latent (1), K 2
 * Loads the manifest and, if it loads, runs the operations on small inputs. */
#include "fuzz_common.h"

static char mpath[256];

/* Append tensor name [d0] (d1 0) or [d0, d1] to t[n]; returns n + 1. */
static int add_t(fz_tensor *t, int n, const char *name, int64_t d0, int64_t d1)
{
    snprintf(t[n].name, sizeof t[n].name, "%s", name);
    t[n].rank = d1 ? 2 : 1, t[n].d0 = d0, t[n].d1 = d1;
    return n + 1;
}

/* A tiny model (layers ly, L) plus the tensors of a K = 2 flow on its top
 * latent (docs/format.md 2.3), as fz_dir/name: kind 'p' planar amortized,
 * 'g' planar global, 'r' radial global, 'a' radial amortized, 'i' IAF with
 * hidden [4] and context 2. The seed manifests name these files so that
 * mutations of a flow manifest reach the flow's parsing and forward pass. */
static int write_flow_weights(const char *name, const fz_layer *ly, int L, int kind)
{
    fz_tensor t[64];
    int n = fz_vae_tensors(t, 4, ly, L, FZ_VAR_NONE);
    int64_t d = ly[L - 1].latent, h = ly[L - 1].enc[ly[L - 1].ne - 1];
    char top[8], nm[24];
    snprintf(top, sizeof top, "enc%d", L);
    if (kind == 'p' || kind == 'a') {
        snprintf(nm, sizeof nm, "%s.flow", top);
        n = fz_add_linear(t, n, nm, h, 2 * (kind == 'p' ? 2 * d + 1 : d + 2));
    } else if (kind == 'i') {
        snprintf(nm, sizeof nm, "%s.context", top);
        n = fz_add_linear(t, n, nm, h, 2);
    }
    for (int k = 0; k < 2; k++) {
        static const char *const parts[3][3] = {{"u", "w", "b"}, {"z0", "alpha", "beta"}};
        if (kind == 'g' || kind == 'r')
            for (int i = 0; i < 3; i++) {
                snprintf(nm, sizeof nm, "flow.%d.%s", k, parts[kind == 'r'][i]);
                n = add_t(t, n, nm, i == 0 || (i == 1 && kind == 'g') ? d : 1, 0);
            }
        if (kind != 'i')
            continue;
        snprintf(nm, sizeof nm, "flow.%d.in", k);
        n = fz_add_linear(t, n, nm, d, 4);
        snprintf(nm, sizeof nm, "flow.%d.ctx.weight", k);
        n = add_t(t, n, nm, 4, 2);
        snprintf(nm, sizeof nm, "flow.%d.m", k);
        n = fz_add_linear(t, n, nm, 4, d);
        snprintf(nm, sizeof nm, "flow.%d.s", k);
        n = fz_add_linear(t, n, nm, 4, d);
    }
    size_t len = 0;
    unsigned char *buf = fz_weights_file(t, n, 1, &len);
    char p[256];
    int ok = buf && fz_write(fz_path(p, name), buf, len);
    free(buf);
    return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_init_dir();
    fz_path(mpath, "m.json");
    if (!fz_write_model_weights("w.safetensors", &fz_tiny_layer, 1, FZ_VAR_NONE, 1) ||
        !fz_write_model_weights("w.bin", &fz_tiny_layer, 1, FZ_VAR_NONE, 0) ||
        !fz_write_model_weights("w2.safetensors", fz_tiny_layers2, 2, FZ_VAR_NONE, 1) ||
        !fz_write_model_weights("wg.safetensors", &fz_tiny_layer, 1, FZ_VAR_DECODER, 1) ||
        !fz_write_model_weights("wl.safetensors", &fz_tiny_layer, 1, FZ_VAR_LEARNED, 1) ||
        !write_flow_weights("wfp.safetensors", &fz_tiny_layer, 1, 'p') ||
        !write_flow_weights("wfg.safetensors", &fz_tiny_layer, 1, 'g') ||
        !write_flow_weights("wfr.safetensors", &fz_tiny_layer, 1, 'r') ||
        !write_flow_weights("wfa.safetensors", &fz_tiny_layer, 1, 'a') ||
        !write_flow_weights("wfi.safetensors", &fz_tiny_layer, 1, 'i') ||
        !write_flow_weights("wf2.safetensors", fz_tiny_layers2, 2, 'g'))
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

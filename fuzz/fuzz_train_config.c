/* libFuzzer harness: the input is a training configuration (JSON text). The
 * process works in its private directory, where a small dataset `tiny.amat`
 * (6 examples of 6 binary values) waits, so mutations of the seed configs
 * reach the data loading, the architecture and the state allocation. The
 * trainer is opened, never run: a configuration's output path could point
 * anywhere. Invariant: a configuration that opens yields a trainer with no
 * report yet. */
#include "fuzz_common.h"

#include "varia_train.h"

static char cpath[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char dpath[256];
    fz_init_dir();
    static const char tiny[] = "0 1 0 1 1 0\n1 1 0 0 1 1\n0 0 1 1 0 1\n1 0 1 0 0 0\n0 1 1 0 1 0\n1 1 1 0 0 1\n";
    if (!fz_write(fz_path(dpath, "tiny.amat"), tiny, sizeof tiny - 1) || chdir(fz_dir) != 0)
        abort();
    fz_path(cpath, "c.json");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_write(cpath, data, size))
        return 0;
    varia_ctx *ctx = varia_ctx_new();
    varia_train_opts o = {1, 0, 0};
    varia_trainer *t = NULL;
    varia_status st = varia_train_open(ctx, cpath, &o, &t);
    if ((st == VARIA_OK) != (t != NULL) || (t && varia_train_report(t)))
        __builtin_trap();
    varia_train_close(t);
    varia_ctx_free(ctx);
    return 0;
}

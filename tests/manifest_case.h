/* A bad-manifest check the family tests share: write a manifest of `family`
 * with data `shape` and architecture `arch` over a golden case's weights,
 * load it, and check the status and that the message holds `needle`. */
#ifndef VARIA_TESTS_MANIFEST_CASE_H
#define VARIA_TESTS_MANIFEST_CASE_H

#include "tap.h"

#include <varia.h>

#include <stdio.h>
#include <string.h>

/* scratch: the directory the manifest is written to; root: the source tree
 * (the weights are root/tests/golden/golden/model.safetensors). */
static inline void manifest_case(const char *scratch, const char *root, const char *family, const char *golden,
                                 const char *what, const char *shape, const char *arch, varia_status want,
                                 const char *needle)
{
    char path[512], text[4096];
    snprintf(path, sizeof path, "%s/model.json", scratch);
    snprintf(text, sizeof text, "{\"format\": \"varia\", \"version\": \"1.0\", \"family\": \"%s\", \"data\": "
             "{\"shape\": %s}, \"architecture\": %s, \"weights\": {\"format\": \"safetensors\", \"file\": "
             "\"%s/tests/golden/%s/model.safetensors\"}}", family, shape, arch, root, golden);
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_status st = tap_write_file(path, text, strlen(text))
                          ? varia_model_load_ex(ctx, path, VARIA_LOAD_ALLOW_OUTSIDE, &m) : VARIA_ERR_IO;
    const char *msg = varia_ctx_message(ctx);
    tap_okf(st == want && (!needle || strstr(msg, needle)) && (st == VARIA_OK) == (m != NULL), "%s -> %s (%s)", what,
            varia_status_name(st), msg);
    varia_model_free(m);
    varia_ctx_free(ctx);
}

#endif

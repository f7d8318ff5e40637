/* Internal to runtime/kernels.c, which includes it in the WebAssembly build
 * (-msimd128) only: the SIMD128 tile and row kernels of its wasm-simd128
 * table, over the packed panels of kernels.h, beside the x86 clones that
 * kernel_bodies.h describes. */
#ifndef VARIA_KERNEL_SIMD128_H
#define VARIA_KERNEL_SIMD128_H

#include "kernel_bodies.h"

#include <wasm_simd128.h>

/* WebAssembly SIMD128 (the wasm build, -msimd128): the generic bodies'
 * strips in wasm_simd128.h's intrinsics, over the same packed panels. The
 * tile takes 4 rows x 8 columns of a panel per pass over the input (8
 * accumulators: a wasm engine maps v128 to SSE/NEON registers, 16 on x86-64);
 * the row, 16 columns of two panels (8 accumulators). WebAssembly has no
 * fused multiply-add (relaxed SIMD aside), so each step is a multiply then an
 * add, rounded twice, in the generic order: each element is the sum over i in
 * order, as on every table. x: tile rows (x[q][i]) or the row (x[i]); panel:
 * the packed weights; in: the input size; acc: the sums, [rows][32]. */
static void tile_simd128(TILE_ARGS)
{
    for (int s = 0; s < VARIA_PANEL; s += 8) {
        v128_t c[4][2];
        for (int q = 0; q < 4; q++)
            c[q][0] = c[q][1] = wasm_f32x4_splat(0.0f);
        for (int64_t i = 0; i < in; i++) {
            v128_t b0 = wasm_v128_load(panel + i * VARIA_PANEL + s), b1 = wasm_v128_load(panel + i * VARIA_PANEL + s + 4);
            for (int q = 0; q < 4; q++) {
                v128_t a = wasm_f32x4_splat(x[q][i]);
                c[q][0] = wasm_f32x4_add(c[q][0], wasm_f32x4_mul(a, b0));
                c[q][1] = wasm_f32x4_add(c[q][1], wasm_f32x4_mul(a, b1));
            }
        }
        for (int q = 0; q < 4; q++) {
            wasm_v128_store(acc[q] + s, c[q][0]);
            wasm_v128_store(acc[q] + s + 4, c[q][1]);
        }
    }
}

static void row_simd128(ROW_ARGS)
{
    for (int pp = 0; pp < 4; pp += 2)
        for (int s = 0; s < VARIA_PANEL; s += 16) {
            v128_t d[8]; /* d[4 * h + k]: panel pp + h, columns s + 4k .. s + 4k + 3 */
            for (int k = 0; k < 8; k++)
                d[k] = wasm_f32x4_splat(0.0f);
            for (int64_t i = 0; i < in; i++) {
                v128_t a = wasm_f32x4_splat(x[i]);
                for (int k = 0; k < 8; k++)
                    d[k] = wasm_f32x4_add(d[k], wasm_f32x4_mul(a, wasm_v128_load(panel[pp + k / 4] + i * VARIA_PANEL
                                                                                  + s + 4 * (k % 4))));
            }
            for (int k = 0; k < 8; k++)
                wasm_v128_store(acc[pp + k / 4] + s + 4 * (k % 4), d[k]);
        }
}

#endif

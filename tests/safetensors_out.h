/* Tests' helper: a small safetensors file written from float arrays, for
 * models a test builds itself (known-answer models whose weights it chose). */
#ifndef VARIA_TEST_SAFETENSORS_OUT_H
#define VARIA_TEST_SAFETENSORS_OUT_H

#include <stdint.h>
#include <stdio.h>

typedef struct tensor_out {
    const char *name;
    int64_t rows, cols; /* cols 0: a vector */
    const float *data;
} tensor_out;

/* A safetensors file of the tensors, laid end to end in the given order. */
static int write_safetensors(const char *path, const tensor_out *t, int n)
{
    char header[4096];
    size_t len = 1, off = 0;
    header[0] = '{';
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)(t[i].rows * (t[i].cols ? t[i].cols : 1)) * 4;
        char shape[64];
        if (t[i].cols)
            snprintf(shape, sizeof shape, "%lld, %lld", (long long)t[i].rows, (long long)t[i].cols);
        else
            snprintf(shape, sizeof shape, "%lld", (long long)t[i].rows);
        len += (size_t)snprintf(header + len, sizeof header - len, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%s], "
                                "\"data_offsets\": [%zu, %zu]}", i ? ", " : "", t[i].name, shape, off, off + bytes);
        off += bytes;
    }
    header[len++] = '}';
    while (len % 8)
        header[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    uint64_t hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(hl >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(header, 1, len, f) == len;
    for (int i = 0; ok && i < n; i++) {
        size_t cnt = (size_t)(t[i].rows * (t[i].cols ? t[i].cols : 1));
        ok = fwrite(t[i].data, 4, cnt, f) == cnt;
    }
    return fclose(f) == 0 && ok;
}

#endif

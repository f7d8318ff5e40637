/* A minimal TAP-style reporter shared by the C tests: "ok N - name" lines and a
 * closing "# passed P failed F"; main returns nonzero if anything failed. */
#ifndef VARIA_TEST_TAP_H
#define VARIA_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_run, tap_fail, tap_skipped;

static inline int tap_check(int ok, const char *name)
{
    tap_run++;
    tap_fail += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_run, name);
    fflush(stdout);
    return ok;
}

/* tap_check with a printf-style name. */
static inline void tap_okf(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void tap_okf(int ok, const char *fmt, ...)
{
    char name[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    tap_check(ok, name);
}

static inline void tap_skip(const char *name, const char *why)
{
    tap_run++;
    tap_skipped++;
    printf("ok %d - %s # SKIP %s\n", tap_run, name, why);
}

/* The whole file at path, NUL-terminated (the caller frees it), its length in
 * *len when len is not NULL; NULL when it cannot be read. */
static inline char *tap_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return p;
}

/* Write n bytes of p to path; 1 on success. */
static inline int tap_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int good = f && fwrite(p, 1, n, f) == n;
    return f && fclose(f) == 0 && good;
}

static inline int tap_done(void)
{
    printf("# passed %d failed %d skipped %d\n", tap_run - tap_fail - tap_skipped, tap_fail, tap_skipped);
    return tap_fail ? 1 : 0;
}

#endif

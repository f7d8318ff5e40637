/* A minimal TAP-style reporter shared by the C tests: "ok N - name" lines and a
 * closing "# passed P failed F"; main returns nonzero if anything failed. */
#ifndef VARIA_TEST_TAP_H
#define VARIA_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>

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

static inline int tap_done(void)
{
    printf("# passed %d failed %d skipped %d\n", tap_run - tap_fail - tap_skipped, tap_fail, tap_skipped);
    return tap_fail ? 1 : 0;
}

#endif

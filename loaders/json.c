/* Strict JSON: cJSON parses, then two checks close the gaps between what
 * cJSON accepts and what JSON (and Python's json module) means. A lexical pass
 * over the raw text catches what the parsed tree can no longer show: cJSON
 * cuts a string at \u0000, treats every byte up to 0x20 as whitespace, and
 * hands numbers to strtod, which reads 012 as 12. A walk over the tree then
 * refuses a key repeated in one object. See json.h for the contract. */
#include "json.h"

#include "ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 40 /* longest piece of the text a message quotes */
#define PATH_CAP 160 /* longest object path a duplicate message shows */

/* The text being checked and how messages name it (see json.h). */
typedef struct src {
    varia_ctx *ctx;
    const char *text, *file, *what;
    size_t base;
} src;

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static long long at(const src *s, size_t i)
{
    return (long long)(s->base + i);
}

/* The string starting at s->text[i] (its opening quote) is a value when the
 * token before it is ':'; then *key is set to the start of the string before
 * that colon (the key), else to NULL. Only called on text cJSON parsed. */
static void key_of_value(const src *s, size_t i, size_t last_key, int have_key, const char **key)
{
    *key = NULL;
    while (i > 0 && is_ws((unsigned char)s->text[i - 1]))
        i--;
    if (i > 0 && s->text[i - 1] == ':' && have_key)
        *key = s->text + last_key;
}

/* Length of the string body at p (after its opening quote) up to the closing
 * quote or `stop`, at most QUOTE_MAX, for quoting it in a message. */
static int body_len(const char *p, const char *stop)
{
    int n = 0;
    while (p + n < stop && n < QUOTE_MAX && p[n] != '"')
        n += (p[n] == '\\' && p + n + 1 < stop) ? 2 : 1;
    return n;
}

/* Scan the string whose opening quote is at text[*i]; on success *i is just
 * past its closing quote. `key_at`/`have_key` locate the previous string (a
 * key, if a ':' follows it), for naming a value's key. */
static varia_status scan_string(const src *s, size_t n, size_t *i, size_t key_at, int have_key)
{
    const char *t = s->text;
    size_t j = *i + 1;
    for (; j < n && t[j] != '"'; j++) {
        unsigned char c = (unsigned char)t[j];
        if (c < 0x20)
            return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': %s: raw control byte 0x%02x inside the string at byte %lld "
                              "(JSON needs it escaped)", s->file, s->what, c, at(s, *i));
        if (c != '\\')
            continue;
        if (j + 5 < n && t[j + 1] == 'u' && !memcmp(t + j + 2, "0000", 4)) {
            const char *key;
            key_of_value(s, *i, key_at, have_key, &key);
            if (key)
                return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': %s: the value of \"%.*s\" (byte %lld) contains "
                                  "\\u0000, which would cut it short", s->file, s->what,
                                  body_len(key + 1, t + n), key + 1, at(s, *i));
            return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': %s: the string \"%.*s\" at byte %lld contains \\u0000, "
                              "which would cut it short", s->file, s->what, body_len(t + *i + 1, t + j + 6),
                              t + *i + 1, at(s, *i));
        }
        j++; /* the escaped byte; \uXXXX's digits are ordinary bytes */
    }
    *i = j + 1;
    return VARIA_OK;
}

/* Check the number token starting at text[*i] against RFC 8259:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. The token is the run of
 * bytes cJSON hands to strtod; *i ends past it. */
static varia_status scan_number(const src *s, size_t n, size_t *i)
{
    const char *t = s->text;
    size_t b = *i, e = b;
    while (e < n && (is_digit((unsigned char)t[e]) || (t[e] && strchr("+-.eE", t[e]))))
        e++;
    *i = e;
    size_t p = b + (t[b] == '-');
    int ok = p < e && is_digit((unsigned char)t[p]);
    if (ok && t[p] == '0' && p + 1 < e && is_digit((unsigned char)t[p + 1]))
        return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': %s: number %.*s at byte %lld has a leading zero", s->file,
                          s->what, (int)(e - b < QUOTE_MAX ? e - b : QUOTE_MAX), t + b, at(s, b));
    while (ok && p < e && is_digit((unsigned char)t[p]))
        p++;
    if (ok && p < e && t[p] == '.') {
        ok = ++p < e && is_digit((unsigned char)t[p]);
        while (ok && p < e && is_digit((unsigned char)t[p]))
            p++;
    }
    if (ok && p < e && (t[p] == 'e' || t[p] == 'E')) {
        p += 1 + (p + 1 < e && (t[p + 1] == '+' || t[p + 1] == '-'));
        ok = p < e && is_digit((unsigned char)t[p]);
        while (ok && p < e && is_digit((unsigned char)t[p]))
            p++;
    }
    if (!ok || p != e)
        return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': %s: %.*s at byte %lld is not a JSON number", s->file, s->what,
                          (int)(e - b < QUOTE_MAX ? e - b : QUOTE_MAX), t + b, at(s, b));
    return VARIA_OK;
}

/* The lexical pass over text[0, n), which cJSON has parsed as one value. */
static varia_status scan_text(const src *s, size_t n)
{
    size_t i = 0, key_at = 0;
    int have_key = 0;
    varia_status st = VARIA_OK;
    while (i < n && st == VARIA_OK) {
        unsigned char c = (unsigned char)s->text[i];
        if (c == '"') {
            size_t start = i;
            st = scan_string(s, n, &i, key_at, have_key);
            key_at = start, have_key = 1;
        } else if (c == '-' || is_digit(c)) {
            st = scan_number(s, n, &i);
        } else if (c < 0x20 && !is_ws(c)) {
            st = varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': %s: %s byte 0x%02x at byte %lld (JSON allows only space, "
                            "tab, CR and LF between tokens)", s->file, s->what, c ? "control" : "NUL", c, at(s, i));
        } else {
            i++;
        }
    }
    return st;
}

/* After the value only JSON whitespace may follow, to the end of the text. */
static varia_status check_tail(const src *s, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++) {
        unsigned char c = (unsigned char)s->text[i];
        if (c == '\0')
            return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': not valid JSON: a NUL byte after the %s at offset %lld "
                              "(only spaces, tabs, CR and LF may follow it)", s->file, s->what, at(s, i));
        if (!is_ws(c))
            return varia_fail(s->ctx, VARIA_ERR_JSON, "'%s': not valid JSON: unexpected byte after the %s at offset %lld",
                              s->file, s->what, at(s, i));
    }
    return VARIA_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of `obj` sorted: two equal neighbours are a duplicate. */
static varia_status object_dups(const src *s, const cJSON *obj, const char *path)
{
    int n = cJSON_GetArraySize(obj);
    if (n < 2)
        return VARIA_OK;
    const char **keys = malloc((size_t)n * sizeof *keys);
    if (!keys)
        return varia_fail(s->ctx, VARIA_ERR_NOMEM, "'%s': out of memory checking the %s for duplicate keys", s->file,
                          s->what);
    int k = 0;
    for (const cJSON *c = obj->child; c && k < n; c = c->next)
        keys[k++] = c->string ? c->string : "";
    qsort(keys, (size_t)k, sizeof *keys, cmp_key);
    varia_status st = VARIA_OK;
    for (int i = 1; i < k && st == VARIA_OK; i++)
        if (!strcmp(keys[i], keys[i - 1]))
            st = varia_fail(s->ctx, VARIA_ERR_DUPLICATE, "'%s': %s: key \"%.60s\" appears twice in %s", s->file, s->what,
                            keys[i], *path ? path : "the top-level object");
    free(keys);
    return st;
}

/* Refuse duplicate keys in node and below. path[0, len) is node's path (""
 * at the top); children extend it in place and cut it back. Recursion is
 * bounded by cJSON's nesting limit (1000). */
static varia_status walk(const src *s, const cJSON *node, char *path, size_t len)
{
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return VARIA_OK;
    varia_status st = cJSON_IsObject(node) ? object_dups(s, node, path) : VARIA_OK;
    int i = 0;
    for (const cJSON *c = node->child; c && st == VARIA_OK; c = c->next, i++) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c))
            continue;
        if (cJSON_IsObject(node))
            snprintf(path + len, PATH_CAP - len, "%s%s", len ? "." : "", c->string ? c->string : "");
        else
            snprintf(path + len, PATH_CAP - len, "[%d]", i);
        size_t grown = strlen(path + len);
        if (len + grown >= PATH_CAP - 4) /* too deep to show: mark the cut, stop growing */
            memcpy(path + PATH_CAP - 4, "...", 4), grown = PATH_CAP - 1 - len;
        st = walk(s, c, path, len + grown);
        path[len] = '\0';
    }
    return st;
}

/* Contract in json.h. The checks run in the order listed there, so a text
 * that is not JSON at all gets the syntax message, which quotes nothing. */
varia_status varia_json_parse_strict(varia_ctx *ctx, const char *text, size_t len, const char *file,
                                     const char *what, size_t base, cJSON **out)
{
    src s = {ctx, text, file, what, base};
    const char *end = NULL; /* cJSON's error or end position (its global is not thread-safe) */
    *out = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return varia_fail(ctx, VARIA_ERR_JSON, "'%s': %s is not valid JSON (near byte %lld)", file, what,
                          at(&s, end && end >= text ? (size_t)(end - text) : 0));
    size_t value_end = end && end >= text && end <= text + len ? (size_t)(end - text) : len;
    varia_status st = check_tail(&s, value_end, len);
    if (st == VARIA_OK)
        st = scan_text(&s, value_end);
    char path[PATH_CAP] = "";
    if (st == VARIA_OK)
        st = walk(&s, root, path, 0);
    if (st != VARIA_OK) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return VARIA_OK;
}

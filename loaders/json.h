/* Internal: the one strict JSON reader behind every varia document (manifest,
 * safetensors header, training configuration, checkpoint). cJSON alone is
 * lenient where Python's json module is strict, and keeps the first of two
 * equal keys where Python keeps the last, so one file could mean one model to
 * varia and another to the tools that wrote or inspect it. This reader
 * accepts only text on which both agree. */
#ifndef VARIA_JSON_H
#define VARIA_JSON_H

#include "varia.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parse text[0, len) (it need not be NUL-terminated) as one JSON value
 * followed by nothing but JSON whitespace (space, tab, CR, LF). `file` names
 * the file and `what` the document in it ("manifest", "header", "config") in
 * messages; `base` is the offset of text in the file, so that the byte
 * offsets in messages are the file's. Refused, in this order:
 *  - text cJSON cannot parse                                   VARIA_ERR_JSON
 *  - any other byte after the value (a NUL pad included)       VARIA_ERR_JSON
 *  - a control byte (below 0x20) inside a string, or between
 *    tokens other than the four whitespace bytes               VARIA_ERR_JSON
 *  - a string containing \u0000 (cJSON would cut it there)     VARIA_ERR_JSON
 *  - a number outside RFC 8259's grammar: a leading zero
 *    (012, -01), "1.", "-.5", "1.e3"                           VARIA_ERR_JSON
 *  - a key twice in one object, at any depth                   VARIA_ERR_DUPLICATE
 * Each message names the byte offset, or for a duplicate the key and the path
 * of its object. Syntax errors quote no bytes of the text (it may not be JSON
 * at all, e.g. a file a manifest named as weights); the later checks quote
 * short pieces of what is by then a parsed JSON document.
 * On success *out owns the tree (free it with cJSON_Delete); on failure *out
 * is NULL. */
varia_status varia_json_parse_strict(varia_ctx *ctx, const char *text, size_t len, const char *file,
                                     const char *what, size_t base, cJSON **out);

#endif

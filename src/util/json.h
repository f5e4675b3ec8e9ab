/* gm_json: a streaming JSON writer. Keys come out in the order they are written, so every
 * document the project emits has a stable, documented key order. Strings are escaped and
 * invalid UTF-8 is replaced by U+FFFD, so the output is always valid JSON.
 *
 * Inside an object pass the member name as key; inside an array (or at the top) pass NULL. */
#ifndef GM_JSON_H
#define GM_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

#define GM_JSON_MAX_DEPTH 32

struct gm_json {
	struct gm_buf *out;
	bool pretty;
	int depth;
	bool has_items[GM_JSON_MAX_DEPTH];
};

/* Writes into out (appending); pretty indents by two spaces. */
void gm_json_init(struct gm_json *j, struct gm_buf *out, bool pretty);

void gm_json_begin_object(struct gm_json *j, const char *key);
void gm_json_end_object(struct gm_json *j);
void gm_json_begin_array(struct gm_json *j, const char *key);
void gm_json_end_array(struct gm_json *j);

/* s == NULL writes null. */
void gm_json_str(struct gm_json *j, const char *key, const char *s);
void gm_json_strn(struct gm_json *j, const char *key, const char *s, size_t len);
void gm_json_int(struct gm_json *j, const char *key, int64_t v);
void gm_json_uint(struct gm_json *j, const char *key, uint64_t v);
/* Finite values print in the shortest form (15 or 17 significant digits) that reads back as
 * the same double; NaN/inf print null. */
void gm_json_double(struct gm_json *j, const char *key, double v);
void gm_json_bool(struct gm_json *j, const char *key, bool v);
void gm_json_null(struct gm_json *j, const char *key);

/* Inserts an already rendered JSON value (text, len bytes) as the value of key; the caller
 * vouches that it is valid JSON (e.g. another module's document). */
void gm_json_raw(struct gm_json *j, const char *key, const char *text, size_t len);

/* Appends s as a JSON string literal (quotes included) to out. */
void gm_json_escape(struct gm_buf *out, const char *s, size_t len);

#endif

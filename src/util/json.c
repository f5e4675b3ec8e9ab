/* The JSON writer behind every --json and -o output. */
#include "util/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "util/banned.h"

void gm_json_init(struct gm_json *j, struct gm_buf *out, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty = pretty;
}

static void newline(struct gm_json *j)
{
	if (!j->pretty)
		return;
	gm_buf_addch(j->out, '\n');
	gm_buf_addpad(j->out, ' ', (size_t)j->depth * 2);
}

/* Separator, indentation and "key": before a value. */
static void prefix(struct gm_json *j, const char *key)
{
	if (j->depth > 0) {
		if (j->has_items[j->depth])
			gm_buf_addch(j->out, ',');
		j->has_items[j->depth] = true;
		newline(j);
	}
	if (key) {
		gm_json_escape(j->out, key, strlen(key));
		gm_buf_adds(j->out, j->pretty ? ": " : ":");
	}
}

static void open(struct gm_json *j, const char *key, char c)
{
	prefix(j, key);
	gm_buf_addch(j->out, c);
	if (j->depth + 1 < GM_JSON_MAX_DEPTH)
		j->depth++;
	j->has_items[j->depth] = false;
}

static void close(struct gm_json *j, char c)
{
	bool had = j->has_items[j->depth];
	if (j->depth > 0)
		j->depth--;
	if (had)
		newline(j);
	gm_buf_addch(j->out, c);
	if (j->depth == 0 && j->pretty)
		gm_buf_addch(j->out, '\n');
}

void gm_json_begin_object(struct gm_json *j, const char *key)
{
	open(j, key, '{');
}

void gm_json_end_object(struct gm_json *j)
{
	close(j, '}');
}

void gm_json_begin_array(struct gm_json *j, const char *key)
{
	open(j, key, '[');
}

void gm_json_end_array(struct gm_json *j)
{
	close(j, ']');
}

void gm_json_escape(struct gm_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	gm_buf_addch(out, '"');
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = gm_utf8_len(p + i, len - i);
		if (n == 0) {
			gm_buf_adds(out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		if (n > 1) {
			gm_buf_add(out, p + i, n);
			i += n;
			continue;
		}
		switch (c) {
		case '"': gm_buf_adds(out, "\\\""); break;
		case '\\': gm_buf_adds(out, "\\\\"); break;
		case '\n': gm_buf_adds(out, "\\n"); break;
		case '\r': gm_buf_adds(out, "\\r"); break;
		case '\t': gm_buf_adds(out, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				gm_buf_addf(out, "\\u%04x", c);
			else
				gm_buf_addch(out, (char)c);
		}
		i++;
	}
	gm_buf_addch(out, '"');
}

void gm_json_strn(struct gm_json *j, const char *key, const char *s, size_t len)
{
	prefix(j, key);
	gm_json_escape(j->out, s, len);
}

void gm_json_str(struct gm_json *j, const char *key, const char *s)
{
	if (!s) {
		gm_json_null(j, key);
		return;
	}
	gm_json_strn(j, key, s, strlen(s));
}

void gm_json_int(struct gm_json *j, const char *key, int64_t v)
{
	prefix(j, key);
	gm_buf_addf(j->out, "%" PRId64, v);
}

void gm_json_uint(struct gm_json *j, const char *key, uint64_t v)
{
	prefix(j, key);
	gm_buf_addf(j->out, "%" PRIu64, v);
}

void gm_json_double(struct gm_json *j, const char *key, double v)
{
	if (!isfinite(v)) {
		gm_json_null(j, key);
		return;
	}
	prefix(j, key);
	/* the shortest of 15 or 17 significant digits that reads back as the same double */
	char text[40];
	snprintf(text, sizeof(text), "%.15g", v);
	if (strtod(text, NULL) != v)
		snprintf(text, sizeof(text), "%.17g", v);
	gm_buf_adds(j->out, text);
}

void gm_json_bool(struct gm_json *j, const char *key, bool v)
{
	prefix(j, key);
	gm_buf_adds(j->out, v ? "true" : "false");
}

void gm_json_null(struct gm_json *j, const char *key)
{
	prefix(j, key);
	gm_buf_adds(j->out, "null");
}

void gm_json_raw(struct gm_json *j, const char *key, const char *text, size_t len)
{
	prefix(j, key);
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	gm_buf_add(j->out, text, len);
}

/* One line of an HTTP response head as libcurl's header callback hands it over, split into
 * name and trimmed value. Shared by the two HTTP clients (the registry copier and the object
 * stores), which keep different headers but must read the lines alike. */
#ifndef GM_UTIL_HTTP_LINE_H
#define GM_UTIL_HTTP_LINE_H

#include <stddef.h>

enum gm_http_line_kind {
	GM_HTTP_LINE_STATUS, /* "HTTP/…": a new response starts (after a redirect, a 100) */
	GM_HTTP_LINE_HEADER, /* "Name: value" */
	GM_HTTP_LINE_OTHER,  /* the blank line ending the head, or anything without a ':' */
};

struct gm_http_line {
	const char *name; /* as sent (any case), not NUL-terminated */
	size_t name_len;
	const char *value; /* without the spaces around it and the line end */
	size_t value_len;
};

/* Classifies p[0..len) and, for a header, fills out (pointers into p). */
enum gm_http_line_kind gm_http_line_parse(const char *p, size_t len, struct gm_http_line *out);

#endif

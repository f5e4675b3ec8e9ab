/* Splitting of HTTP response head lines (see http_line.h). */
#include "util/http_line.h"

#include <string.h>

#include "util/banned.h"

enum gm_http_line_kind gm_http_line_parse(const char *p, size_t len, struct gm_http_line *out)
{
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		return GM_HTTP_LINE_STATUS;
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return GM_HTTP_LINE_OTHER;
	out->name = p;
	out->name_len = (size_t)(colon - p);
	const char *v = colon + 1;
	size_t vn = len - out->name_len - 1;
	while (vn && (*v == ' ' || *v == '\t'))
		v++, vn--;
	while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
		vn--;
	out->value = v;
	out->value_len = vn;
	return GM_HTTP_LINE_HEADER;
}

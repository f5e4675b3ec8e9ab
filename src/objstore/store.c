/* What both object stores share of store.h: the object description's lifecycle and its
 * user-metadata pairs, the time formats of their answers, and closing a store. */
#include "objstore/store.h"

#include <stdint.h>
#include <string.h>

#include "util/fs.h"
#include "util/banned.h"

void gm_os_object_init(struct gm_os_object *o)
{
	memset(o, 0, sizeof(*o));
}

void gm_os_object_release(struct gm_os_object *o)
{
	if (!o)
		return;
	gm_buf_release(&o->key);
	gm_buf_release(&o->etag);
	gm_buf_release(&o->meta);
}

void gm_os_object_reset(struct gm_os_object *o)
{
	struct gm_buf key = o->key, etag = o->etag, meta = o->meta;
	gm_buf_reset(&key);
	gm_buf_reset(&etag);
	gm_buf_reset(&meta);
	memset(o, 0, sizeof(*o));
	o->key = key, o->etag = etag, o->meta = meta;
}

const char *gm_os_object_meta(const struct gm_os_object *o, const char *name)
{
	const char *p = o->meta.data, *end = p ? p + o->meta.len : NULL;
	while (p && p < end) {
		const char *value = p + strlen(p) + 1;
		if (value >= end)
			break;
		if (strcmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
}

void gm_os_object_meta_add(struct gm_os_object *o, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
	name_len = strnlen(name, name_len); /* a NUL inside would split the pair */
	value_len = strnlen(value, value_len);
	for (size_t i = 0; i < name_len; i++) {
		char ch = name[i];
		gm_buf_addch(&o->meta, ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch);
	}
	gm_buf_addch(&o->meta, '\0');
	gm_buf_add(&o->meta, value, value_len);
	gm_buf_addch(&o->meta, '\0');
}

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* RFC 3339 into whole seconds since the epoch and the fraction's nanoseconds. */
static bool rfc3339(const char *s, int64_t *secs_out, int64_t *frac_out)
{
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	size_t n = strlen(s);
	if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int64_t scale = 100000000;
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	int sign = 0;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) &&
	           p[3] == ':' && digits(p + 4, 2, &om) && oh < 24 && om < 60) {
		sign = *p == '+' ? 1 : -1;
	} else {
		return false;
	}
	int64_t secs =
	        gm_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
	secs -= sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
	*secs_out = secs;
	*frac_out = frac;
	return true;
}

bool gm_os_time_rfc3339(const char *s, int64_t *out)
{
	int64_t secs, frac;
	/* nanoseconds in an int64_t reach the years 1678 to 2262 */
	if (!rfc3339(s, &secs, &frac) || secs <= INT64_MIN / 1000000000 ||
	    secs >= INT64_MAX / 1000000000)
		return false;
	*out = secs * 1000000000 + frac;
	return true;
}

bool gm_os_time_rfc3339_sec(const char *s, int64_t *out)
{
	int64_t frac;
	return rfc3339(s, out, &frac);
}

bool gm_os_time_http(const char *s, int64_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	unsigned d, y, h, mi, sec;
	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || !digits(s + 5, 2, &d) || s[7] != ' ' ||
	    s[11] != ' ' || !digits(s + 12, 4, &y) || s[16] != ' ' || !digits(s + 17, 2, &h) ||
	    s[19] != ':' || !digits(s + 20, 2, &mi) || s[22] != ':' || !digits(s + 23, 2, &sec) ||
	    strcmp(s + 25, " GMT") != 0)
		return false;
	unsigned mo = 0;
	for (unsigned i = 0; i < 12; i++)
		if (memcmp(s + 8, months + (size_t)3 * i, 3) == 0)
			mo = i + 1;
	if (!mo || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	*out = (gm_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec) *
	       1000000000;
	return true;
}

void gm_os_close(struct gm_os *s)
{
	if (s)
		s->ops->close(s);
}

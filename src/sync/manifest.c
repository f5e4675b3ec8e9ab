/* The manifest's one writer and one reader (format in manifest.h). The reader is a small
 * strict parser of flat JSON objects: manifests hold a line per file, millions of them, and
 * come back from other machines, so it caps sizes and refuses what it does not understand. */
#include "sync/manifest.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "util/json.h"
#include "util/utf8.h"
#include "util/fs.h"

#include "util/banned.h"

void gm_sync_manifest_line(struct gm_buf *out, const char *path, size_t len,
                           const struct gm_sync_meta *meta, const struct gm_sync_hash *hash,
                           bool copied)
{
	char hex[33];
	struct tm tm;
	time_t secs = (time_t)(meta->mtime_ns / 1000000000);
	long ns = (long)(meta->mtime_ns % 1000000000);
	if (ns < 0)
		ns += 1000000000, secs--;
	gmtime_r(&secs, &tm);
	gm_buf_adds(out, "{\"path\":");
	size_t bad = 0;
	gm_json_escape(out, path, len);
	if (!gm_utf8_valid(path, len, &bad)) {
		gm_buf_adds(out, ",\"path_hex\":\"");
		for (size_t i = 0; i < len; i++)
			gm_buf_addf(out, "%02x", (unsigned char)path[i]);
		gm_buf_addch(out, '"');
	}
	gm_sync_hash_hex(hash, hex);
	gm_buf_addf(out,
	            ",\"size\":%" PRIu64 ",\"mtime\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\","
	            "\"mtime_ns\":%" PRId64 ",\"mode\":\"%04o\",\"xxh128\":\"%s\",\"copied\":%s}\n",
	            meta->size, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	            tm.tm_sec, ns, meta->mtime_ns, (unsigned)(meta->mode & 07777), hex,
	            copied ? "true" : "false");
}

void gm_sync_manifest_entry_init(struct gm_sync_manifest_entry *e)
{
	memset(e, 0, sizeof(*e));
	gm_buf_init(&e->path);
}

void gm_sync_manifest_entry_release(struct gm_sync_manifest_entry *e)
{
	if (e)
		gm_buf_release(&e->path);
}

struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static void add_utf8(struct gm_buf *out, uint32_t cp)
{
	if (cp < 0x80) {
		gm_buf_addch(out, (char)cp);
	} else if (cp < 0x800) {
		gm_buf_addch(out, (char)(0xc0 | cp >> 6));
		gm_buf_addch(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		gm_buf_addch(out, (char)(0xe0 | cp >> 12));
		gm_buf_addch(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		gm_buf_addch(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		gm_buf_addch(out, (char)(0xf0 | cp >> 18));
		gm_buf_addch(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
		gm_buf_addch(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		gm_buf_addch(out, (char)(0x80 | (cp & 0x3f)));
	}
}

static bool read_u4(struct cursor *c, uint32_t *v)
{
	if (c->end - c->p < 4)
		return false;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int h = gm_hex_digit(c->p[i]);
		if (h < 0)
			return false;
		*v = *v << 4 | (uint32_t)h;
	}
	c->p += 4;
	return true;
}

/* A JSON string at c (opening quote included) into out. */
static bool read_string(struct cursor *c, struct gm_buf *out)
{
	gm_buf_reset(out);
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end) {
		char ch = *c->p++;
		if (ch == '"') {
			gm_buf_add(out, "", 0);
			return true;
		}
		if ((unsigned char)ch < 0x20)
			return false;
		if (ch != '\\') {
			gm_buf_addch(out, ch);
			continue;
		}
		if (c->p >= c->end)
			return false;
		ch = *c->p++;
		uint32_t cp, lo;
		switch (ch) {
		case '"':
		case '\\':
		case '/': gm_buf_addch(out, ch); break;
		case 'b': gm_buf_addch(out, '\b'); break;
		case 'f': gm_buf_addch(out, '\f'); break;
		case 'n': gm_buf_addch(out, '\n'); break;
		case 'r': gm_buf_addch(out, '\r'); break;
		case 't': gm_buf_addch(out, '\t'); break;
		case 'u':
			if (!read_u4(c, &cp))
				return false;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u')
					return false;
				c->p += 2;
				if (!read_u4(c, &lo) || lo < 0xdc00 || lo >= 0xe000)
					return false;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return false;
			}
			add_utf8(out, cp);
			break;
		default: return false;
		}
	}
	return false;
}

/* Decimal digits only, no sign, no overflow. */
static enum gm_rc parse_dec(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return GM_ERR_PARSE;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return GM_ERR_PARSE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return GM_OK;
}

/* A scalar that is not a string: number, true, false or null, as text. */
static bool read_bare(struct cursor *c, struct gm_buf *out)
{
	gm_buf_reset(out);
	while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ' ')
		gm_buf_addch(out, *c->p++);
	return out->len > 0 && out->len < 32;
}

enum gm_rc gm_sync_manifest_parse(const char *line, size_t len, struct gm_sync_manifest_entry *e,
                                  struct gm_err *err)
{
	struct cursor c = {line, line + len};
	struct gm_buf key = GM_BUF_INIT, val = GM_BUF_INIT, hexpath = GM_BUF_INIT;
	bool have_path = false, have_hex = false, have_size = false, have_hash = false;
	const char *why = "not a JSON object";
	enum gm_rc rc = GM_ERR_PARSE;
	gm_buf_reset(&e->path);
	e->size = 0, e->mtime_ns = 0, e->mode = 0, e->copied = false;
	if (len > GM_SYNC_MANIFEST_LINE_MAX) {
		why = "line too long";
		goto out;
	}
	skip_ws(&c);
	if (c.p >= c.end || *c.p++ != '{')
		goto out;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}') {
		c.p++;
		goto done;
	}
	for (;;) {
		skip_ws(&c);
		if (!read_string(&c, &key)) {
			why = "bad key";
			goto out;
		}
		skip_ws(&c);
		if (c.p >= c.end || *c.p++ != ':')
			goto out;
		skip_ws(&c);
		bool is_str = c.p < c.end && *c.p == '"';
		if (!(is_str ? read_string(&c, &val) : read_bare(&c, &val))) {
			why = "bad value";
			goto out;
		}
		const char *k = gm_buf_cstr(&key), *v = gm_buf_cstr(&val);
		if (strcmp(k, "path") == 0 && is_str) {
			gm_buf_reset(&e->path);
			gm_buf_add(&e->path, val.data, val.len);
			have_path = true;
		} else if (strcmp(k, "path_hex") == 0 && is_str) {
			gm_buf_reset(&hexpath);
			if (val.len % 2)
				goto bad_hex;
			for (size_t i = 0; i < val.len; i += 2) {
				int a = gm_hex_digit(val.data[i]),
				    b = gm_hex_digit(val.data[i + 1]);
				if (a < 0 || b < 0)
					goto bad_hex;
				gm_buf_addch(&hexpath, (char)(a << 4 | b));
			}
			have_hex = true;
		} else if (strcmp(k, "size") == 0 && !is_str) {
			if (parse_dec(v, &e->size) != GM_OK) {
				why = "bad size";
				goto out;
			}
			have_size = true;
		} else if (strcmp(k, "mtime_ns") == 0 && !is_str) {
			uint64_t u = 0;
			bool neg = v[0] == '-';
			if (parse_dec(v + neg, &u) != GM_OK || u > INT64_MAX) {
				why = "bad mtime_ns";
				goto out;
			}
			e->mtime_ns = neg ? -(int64_t)u : (int64_t)u;
		} else if (strcmp(k, "mode") == 0 && is_str) {
			uint32_t m = 0;
			for (size_t i = 0; i < val.len; i++) {
				if (val.data[i] < '0' || val.data[i] > '7' || i >= 6) {
					why = "bad mode";
					goto out;
				}
				m = m * 8 + (uint32_t)(val.data[i] - '0');
			}
			e->mode = m & 07777;
		} else if (strcmp(k, "xxh128") == 0 && is_str) {
			if (!gm_sync_hash_from_hex(val.data, val.len, &e->hash)) {
				why = "bad xxh128";
				goto out;
			}
			have_hash = true;
		} else if (strcmp(k, "copied") == 0 && !is_str) {
			e->copied = strcmp(v, "true") == 0;
		}
		skip_ws(&c);
		if (c.p < c.end && *c.p == ',') {
			c.p++;
			continue;
		}
		if (c.p < c.end && *c.p == '}') {
			c.p++;
			break;
		}
		goto out;
	}
done:
	skip_ws(&c);
	if (c.p != c.end) {
		why = "text after the object";
		goto out;
	}
	if (have_hex) {
		gm_buf_reset(&e->path);
		gm_buf_add(&e->path, hexpath.data, hexpath.len);
		have_path = true;
	}
	if (!have_path || !have_size || !have_hash) {
		why = !have_path ? "no path" : !have_size ? "no size" : "no xxh128";
		goto out;
	}
	if (!gm_sync_path_check(e->path.data ? e->path.data : "", e->path.len) ||
	    e->path.len == 0) {
		why = "path is not a relative path inside the tree";
		goto out;
	}
	rc = GM_OK;
	goto out;
bad_hex:
	why = "bad path_hex";
out:
	if (rc != GM_OK)
		gm_err_set(err, GM_ERR_PARSE, "%s", why);
	gm_buf_release(&key);
	gm_buf_release(&val);
	gm_buf_release(&hexpath);
	return rc;
}

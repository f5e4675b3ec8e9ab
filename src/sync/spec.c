/* Endpoint names as users type them for rsync and scp, parsed once so every command reads
 * them the same way. */
#include "sync/spec.h"

#include <string.h>

#include "util/fs.h"

#include "util/banned.h"

void gm_sync_spec_init(struct gm_sync_spec *s)
{
	memset(s, 0, sizeof(*s));
}

void gm_sync_spec_release(struct gm_sync_spec *s)
{
	if (!s)
		return;
	gm_buf_release(&s->user);
	gm_buf_release(&s->host);
	gm_buf_release(&s->path);
	gm_sync_spec_init(s);
}

/* Splits "[user@]host" (host possibly "[v6]") into the spec; rejects what ssh would read as
 * an option. */
static enum gm_rc set_user_host(struct gm_sync_spec *s, const char *text, const char *p, size_t len,
                                struct gm_err *err)
{
	const char *at = NULL;
	for (size_t i = 0; i < len; i++)
		if (p[i] == '@')
			at = p + i;
	if (at) {
		gm_buf_add(&s->user, p, (size_t)(at - p));
		len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
		p++;
		len -= 2;
	}
	gm_buf_add(&s->host, p, len);
	if (s->host.len == 0)
		return gm_err_set(err, GM_ERR_USAGE, "'%s' names no host: write [user@]host:path",
		                  text);
	if (s->host.data[0] == '-' || (s->user.len && s->user.data[0] == '-'))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "'%s': a host or user name cannot start with '-'", text);
	if (at && s->user.len == 0)
		return gm_err_set(err, GM_ERR_USAGE, "'%s' has an empty user name before '@'",
		                  text);
	return GM_OK;
}

static enum gm_rc parse_url(const char *text, struct gm_sync_spec *s, struct gm_err *err)
{
	const char *auth = text + strlen("ssh://");
	const char *slash = strchr(auth, '/');
	size_t auth_len = slash ? (size_t)(slash - auth) : strlen(auth);

	/* The port is after the last ':' that follows the host (and its brackets). */
	const char *host_end = auth + auth_len;
	const char *close = memchr(auth, ']', auth_len);
	const char *colon = NULL;
	for (const char *c = close ? close : auth; c < host_end; c++)
		if (*c == ':')
			colon = c;
	if (colon) {
		struct gm_buf port = GM_BUF_INIT;
		uint64_t v = 0;
		gm_buf_add(&port, colon + 1, (size_t)(host_end - colon - 1));
		enum gm_rc rc = gm_parse_u64(gm_buf_cstr(&port), 10, &v);
		gm_buf_release(&port);
		if (rc != GM_OK || v == 0 || v > 65535)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s' has a bad port: write ssh://host:PORT/path", text);
		s->port = (unsigned)v;
		host_end = colon;
	}
	enum gm_rc rc = set_user_host(s, text, auth, (size_t)(host_end - auth), err);
	if (rc != GM_OK)
		return rc;
	if (slash)
		gm_buf_adds(&s->path, slash);
	return GM_OK;
}

/* "s3://bucket/prefix" or "gs://…": the bucket into host, the prefix into path. */
static enum gm_rc parse_bucket(const char *text, size_t scheme_len, struct gm_sync_spec *s,
                               struct gm_err *err)
{
	const char *b = text + scheme_len;
	size_t n = strcspn(b, "/");
	if (n < 3 || n > 222)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "'%s' needs a bucket name of 3 to 222 characters after '%.*s'",
		                  text, (int)scheme_len, text);
	for (size_t i = 0; i < n; i++) {
		char ch = b[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '-' || ch == '_'))
			return gm_err_set(
			        err, GM_ERR_USAGE,
			        "'%s': a bucket name holds only a-z, 0-9, '.', '-' and '_'", text);
	}
	gm_buf_add(&s->host, b, n);
	const char *prefix = b + n;
	while (*prefix == '/')
		prefix++;
	gm_buf_adds(&s->path, prefix);
	gm_buf_grow(&s->path, 0);
	return GM_OK;
}

enum gm_rc gm_sync_spec_parse(const char *text, struct gm_sync_spec *s, struct gm_err *err)
{
	gm_sync_spec_release(s);
	if (!text || !text[0])
		return gm_err_set(err, GM_ERR_USAGE, "an empty path: name a directory or file");

	enum gm_rc rc = GM_OK;
	if (strncmp(text, "ssh://", 6) == 0) {
		s->scheme = GM_SYNC_SCHEME_SSH;
		rc = parse_url(text, s, err);
	} else if (strncmp(text, "s3://", 5) == 0 || strncmp(text, "gs://", 5) == 0) {
		s->scheme = text[0] == 's' ? GM_SYNC_SCHEME_S3 : GM_SYNC_SCHEME_GS;
		rc = parse_bucket(text, 5, s, err);
	} else {
		/* scp style: a ':' before any '/' (a bracketed IPv6 host may hold colons). */
		const char *colon = NULL;
		const char *open = text[0] == '[' ? text : strstr(text, "@[");
		if (open && open != text)
			open++;
		if (open && !memchr(text, '/', (size_t)(open - text))) {
			const char *close = strchr(open, ']');
			if (close && close[1] == ':' && !memchr(open, '/', (size_t)(close - open)))
				colon = close + 1;
		} else {
			const char *c = strchr(text, ':');
			if (c && !memchr(text, '/', (size_t)(c - text)))
				colon = c;
		}
		if (colon) {
			s->scheme = GM_SYNC_SCHEME_SSH;
			rc = set_user_host(s, text, text, (size_t)(colon - text), err);
			gm_buf_adds(&s->path, colon + 1);
		} else {
			s->scheme = GM_SYNC_SCHEME_LOCAL;
			gm_buf_adds(&s->path, text);
		}
	}
	if (rc != GM_OK) {
		gm_sync_spec_release(s);
		return rc;
	}
	s->trailing_slash = s->path.len > 0 && s->path.data[s->path.len - 1] == '/';
	return GM_OK;
}

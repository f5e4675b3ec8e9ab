/* Registry requests with registry auth: anonymous first, then what the 401's
 * WWW-Authenticate asks for — Basic with the config.json credentials, or the bearer token
 * flow (GET realm?service&scope, with Basic credentials when there are any). Tokens are
 * shared by the threads of one registry and asked for every scope seen so far. Nothing
 * here logs a credential, a token or an Authorization header. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s/oci.h"
#include "k8s/oci_http.h"
#include "util/doc.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/http_line.h"

#include "util/banned.h"

enum gm_rc gm_oci_registry_open(struct gm_oci_registry *r, const char *host, bool plain_http,
                                struct gm_err *err)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->host = gm_xstrdup(host);
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_addf(&b, "%s://%s", plain_http ? "http" : "https", host);
	r->base = gm_buf_detach(&b);
	enum gm_rc rc = gm_oci_creds_find(host, &r->user, &r->pass, &r->source, err);
	if (rc == GM_OK) {
		r->has_creds = true;
		gm_debug("credentials for '%s' from '%s'", host, gm_buf_cstr(&r->source));
	} else if (rc == GM_ERR_NOT_FOUND) {
		gm_err_clear(err);
		rc = GM_OK;
	}
	return rc;
}

void gm_oci_registry_close(struct gm_oci_registry *r)
{
	if (!r)
		return;
	GM_FREE(r->host);
	GM_FREE(r->base);
	gm_buf_wipe(&r->user);
	gm_buf_wipe(&r->pass);
	gm_buf_release(&r->source);
	if (r->token) {
		memset(r->token, 0, strlen(r->token));
		GM_FREE(r->token);
	}
	gm_buf_release(&r->scopes);
	pthread_mutex_destroy(&r->mu);
}

void gm_oci_resp_release(struct gm_oci_resp *rs)
{
	gm_buf_release(&rs->body);
	gm_buf_release(&rs->content_type);
	gm_buf_release(&rs->location);
	gm_buf_release(&rs->digest);
	gm_buf_release(&rs->range);
	gm_buf_release(&rs->www_auth);
}

static void resp_reset(struct gm_oci_resp *rs)
{
	rs->status = 0;
	rs->truncated = false;
	gm_buf_reset(&rs->body);
	gm_buf_reset(&rs->content_type);
	gm_buf_reset(&rs->location);
	gm_buf_reset(&rs->digest);
	gm_buf_reset(&rs->range);
	gm_buf_reset(&rs->www_auth);
}

void gm_oci_abs_url(const struct gm_oci_registry *r, const char *loc, struct gm_buf *out)
{
	gm_buf_reset(out);
	if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
		gm_buf_adds(out, loc);
	else if (loc[0] == '/')
		gm_buf_addf(out, "%s%s", r->base, loc);
	else
		gm_buf_addf(out, "%s/%s", r->base, loc);
}

struct xfer {
	CURL *h;
	const struct gm_oci_req *q;
	struct gm_oci_resp *rs;
	bool aborted;
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	struct gm_http_line h;
	enum gm_http_line_kind kind = gm_http_line_parse(p, len, &h);
	if (kind == GM_HTTP_LINE_STATUS) /* a new response (after a redirect) */
		resp_reset(x->rs);
	if (kind != GM_HTTP_LINE_HEADER || h.value_len > GM_OCI_MAX_HEADER)
		return len;
	static const struct {
		const char *name;
		size_t off;
	} keep[] = {
	        {"content-type", offsetof(struct gm_oci_resp, content_type)},
	        {"location", offsetof(struct gm_oci_resp, location)},
	        {"docker-content-digest", offsetof(struct gm_oci_resp, digest)},
	        {"range", offsetof(struct gm_oci_resp, range)},
	        {"www-authenticate", offsetof(struct gm_oci_resp, www_auth)},
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		if (strlen(keep[i].name) == h.name_len &&
		    strncasecmp(h.name, keep[i].name, h.name_len) == 0) {
			struct gm_buf *b = (struct gm_buf *)((char *)x->rs + keep[i].off);
			if (b->len) /* the first one counts */
				return len;
			gm_buf_add(b, h.value, h.value_len);
			gm_buf_grow(b, 0);
		}
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && x->q->sink) {
		if (!x->q->sink(x->q->sink_ctx, p, len)) {
			x->aborted = true;
			return 0;
		}
		return len;
	}
	size_t room = x->q->body_cap > x->rs->body.len ? x->q->body_cap - x->rs->body.len : 0;
	if (len > room) {
		x->rs->truncated = true;
		if (status >= 200 && status < 300)
			return 0; /* a 2xx body over its cap: stop reading */
	}
	gm_buf_add(&x->rs->body, p, len < room ? len : room);
	return len;
}

/* Adds each space-separated scope of add that scopes lacks; true when one was added. */
static bool scopes_add(struct gm_buf *scopes, const char *add)
{
	bool added = false;
	while (add && *add) {
		size_t n = strcspn(add, " ");
		bool have = false;
		for (const char *s = gm_buf_cstr(scopes); *s;) {
			size_t m = strcspn(s, " ");
			if (m == n && strncmp(s, add, n) == 0)
				have = true;
			s += m;
			while (*s == ' ')
				s++;
		}
		if (!have && n) {
			if (scopes->len)
				gm_buf_addch(scopes, ' ');
			gm_buf_add(scopes, add, n);
			added = true;
		}
		add += n;
		while (*add == ' ')
			add++;
	}
	return added;
}

static void creds_hint(const struct gm_oci_registry *r, struct gm_err *err)
{
	if (r->has_creds)
		gm_err_set(err, GM_ERR_PERMISSION,
		           "registry '%s' refused the credentials for user '%s' (from '%s'); "
		           "log in again or fix that entry",
		           r->host, gm_buf_cstr(&r->user), gm_buf_cstr(&r->source));
	else
		gm_err_set(err, GM_ERR_PERMISSION,
		           "registry '%s' needs credentials; add them with `docker login %s` or "
		           "point REGISTRY_AUTH_FILE or DOCKER_CONFIG at a config.json",
		           r->host, r->host);
}

/* Credentials a registry refused may only have gone stale: the access tokens that
 * docker-credential-gcloud or Google's application default credentials hand out last about
 * an hour. Looks them up again (gm_oci_creds_find); true when r now holds a password other
 * than sent, the one the refused request carried. Called with r->mu held. */
static bool creds_renew(struct gm_oci_registry *r, const char *sent)
{
	if (!r->has_creds)
		return false;
	if (strcmp(gm_buf_cstr(&r->pass), sent) != 0)
		return true; /* another thread renewed them already */
	struct gm_buf u = GM_BUF_INIT, p = GM_BUF_INIT, s = GM_BUF_INIT;
	struct gm_err e = GM_ERR_INIT;
	bool renewed = gm_oci_creds_find(r->host, &u, &p, &s, &e) == GM_OK &&
	               strcmp(gm_buf_cstr(&p), sent) != 0;
	gm_debug("credentials for '%s' refused; looked up again: %s", r->host,
	         renewed ? "new ones" : "nothing new");
	if (renewed) {
		struct gm_buf t = r->user;
		r->user = u;
		u = t;
		t = r->pass;
		r->pass = p;
		p = t;
		t = r->source;
		r->source = s;
		s = t;
	}
	gm_buf_wipe(&u);
	gm_buf_wipe(&p);
	gm_buf_release(&s);
	gm_err_release(&e);
	return renewed;
}

/* The bearer token flow; called with r->mu held. */
static enum gm_rc fetch_token(struct gm_oci_registry *r, CURL *h, const struct gm_oci_challenge *c,
                              struct gm_err *err)
{
	struct gm_buf url = GM_BUF_INIT, sent = GM_BUF_INIT;
	struct gm_oci_resp rs = {0};
	struct gm_doc doc = {0};
	enum gm_rc rc = GM_OK;
	bool renewed = false;
	gm_buf_addf(&url, "%s%c", c->realm, strchr(c->realm, '?') ? '&' : '?');
	if (c->service) {
		char *e = curl_easy_escape(h, c->service, 0);
		gm_buf_addf(&url, "service=%s", e ? e : "");
		curl_free(e);
	}
	for (const char *s = gm_buf_cstr(&r->scopes); *s;) {
		size_t n = strcspn(s, " ");
		char *e = curl_easy_escape(h, s, (int)n);
		gm_buf_addf(&url, "&scope=%s", e ? e : "");
		curl_free(e);
		s += n;
		while (*s == ' ')
			s++;
	}
	struct xfer x = {h, NULL, &rs, false};
	struct gm_oci_req q = {.method = "GET", .url = gm_buf_cstr(&url), .body_cap = 64 << 10};
	x.q = &q;
again:
	resp_reset(&rs);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, gm_buf_cstr(&url));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	if (r->has_creds) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, gm_buf_cstr(&r->user));
		curl_easy_setopt(h, CURLOPT_PASSWORD, gm_buf_cstr(&r->pass));
	}
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs.status);
	gm_debug("GET token for '%s' -> %ld", r->host, rs.status);
	if (cc != CURLE_OK) {
		rc = gm_err_set(err, GM_ERR_UNREACHABLE,
		                "cannot reach the token service of '%s': %s", r->host,
		                curl_easy_strerror(cc));
		goto out;
	}
	if (rs.status == 401 && !renewed && r->has_creds) {
		gm_buf_reset(&sent);
		gm_buf_adds(&sent, gm_buf_cstr(&r->pass));
		renewed = true;
		if (creds_renew(r, gm_buf_cstr(&sent)))
			goto again;
	}
	if (rs.status == 401 || rs.status == 403) {
		creds_hint(r, err);
		rc = GM_ERR_PERMISSION;
		goto out;
	}
	if (rs.status != 200 || rs.truncated) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "the token service of '%s' answered HTTP %ld",
		                r->host, rs.status);
		goto out;
	}
	rc = gm_doc_load_string(&doc, "token answer", gm_buf_cstr(&rs.body), rs.body.len, err);
	if (rc != GM_OK)
		goto out;
	const char *t = gm_doc_scalar(gm_doc_get(gm_doc_root(&doc), "token"));
	if (!t || !*t)
		t = gm_doc_scalar(gm_doc_get(gm_doc_root(&doc), "access_token"));
	if (!t || !*t || strpbrk(t, "\r\n")) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "the token service of '%s' sent no token",
		                r->host);
		goto out;
	}
	if (r->token) {
		memset(r->token, 0, strlen(r->token));
		free(r->token);
	}
	r->token = gm_xstrdup(t);
	r->token_gen++;
out:
	if (rs.body.data)
		memset(rs.body.data, 0, rs.body.cap);
	gm_oci_resp_release(&rs);
	gm_doc_release(&doc);
	gm_buf_release(&url);
	gm_buf_wipe(&sent);
	return rc;
}

static bool is_write(const char *m)
{
	return strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0;
}

/* url as logs and messages may show it: without its query, and an upload's URL without
 * the part after /blobs/uploads/ (with the registry's signed state, a capability for the
 * upload that only the upload journal keeps). */
static void url_for_log(const char *url, struct gm_buf *out)
{
	const char *up = strstr(url, "/blobs/uploads/");
	size_t n = strcspn(url, "?");
	gm_buf_reset(out);
	if (up && (size_t)(up - url) + 15 < n) {
		gm_buf_add(out, url, (size_t)(up - url) + 15);
		gm_buf_adds(out, "<upload>");
	} else {
		gm_buf_add(out, url, n);
	}
}

enum gm_rc gm_oci_http(struct gm_oci_registry *r, CURL *h, const struct gm_oci_req *q,
                       struct gm_oci_resp *rs, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	struct gm_buf line = GM_BUF_INIT, sent = GM_BUF_INIT; /* sent: the Basic password used */
	struct gm_oci_challenge ch = {0};
	bool renewed = false;
	for (int attempt = 0;; attempt++) {
		struct curl_slist *hdrs = NULL;
		struct xfer x = {h, q, rs, false};
		unsigned gen = 0;
		bool sent_basic = false;
		resp_reset(rs);
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, q->url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
		if (strcmp(q->method, "HEAD") == 0) {
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		} else if (is_write(q->method)) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
			                 q->body ? q->body : (const void *)"");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
			hdrs = curl_slist_append(hdrs, "Expect:");
		} else if (strcmp(q->method, "GET") != 0) {
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
		}
		if (strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0) {
			curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
			curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		}
		if (q->accept) {
			gm_buf_reset(&line);
			gm_buf_addf(&line, "Accept: %s", q->accept);
			hdrs = curl_slist_append(hdrs, gm_buf_cstr(&line));
		}
		gm_buf_reset(&line);
		gm_buf_addf(&line, "Content-Type: %s",
		            q->content_type ? q->content_type : "application/octet-stream");
		if (is_write(q->method))
			hdrs = curl_slist_append(hdrs, gm_buf_cstr(&line));
		if (q->content_range) {
			gm_buf_reset(&line);
			gm_buf_addf(&line, "Content-Range: %s", q->content_range);
			hdrs = curl_slist_append(hdrs, gm_buf_cstr(&line));
		}
		pthread_mutex_lock(&r->mu);
		gen = r->token_gen;
		if (r->token) {
			gm_buf_reset(&line);
			gm_buf_addf(&line, "Authorization: Bearer %s", r->token);
			hdrs = curl_slist_append(hdrs, gm_buf_cstr(&line));
			memset(line.data, 0, line.len);
		} else if (r->use_basic && r->has_creds) {
			curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, gm_buf_cstr(&r->user));
			curl_easy_setopt(h, CURLOPT_PASSWORD, gm_buf_cstr(&r->pass));
			gm_buf_reset(&sent);
			gm_buf_adds(&sent, gm_buf_cstr(&r->pass));
			sent_basic = true;
		}
		pthread_mutex_unlock(&r->mu);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		CURLcode cc = curl_easy_perform(h);
		curl_slist_free_all(hdrs);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
		url_for_log(q->url, &line);
		gm_debug("%s %s -> %ld", q->method, gm_buf_cstr(&line), rs->status);
		if (cc != CURLE_OK) {
			if (x.aborted)
				rc = GM_ERR_INTERRUPTED; /* the sink said stop; it knows why */
			else
				rc = gm_err_set(err, GM_ERR_UNREACHABLE, "%s %s: %s", q->method,
				                gm_buf_cstr(&line), curl_easy_strerror(cc));
			goto out;
		}
		if (rs->status != 401 && rs->status != 403)
			break;
		if (rs->status == 401 && sent_basic && !renewed) {
			pthread_mutex_lock(&r->mu);
			bool again = creds_renew(r, gm_buf_cstr(&sent));
			pthread_mutex_unlock(&r->mu);
			renewed = true;
			if (again)
				continue;
		}
		if (attempt > 0 || rs->status == 403 || !rs->www_auth.len) {
			pthread_mutex_lock(&r->mu); /* creds_renew may swap what it names */
			creds_hint(r, err);
			pthread_mutex_unlock(&r->mu);
			rc = GM_ERR_PERMISSION;
			goto out;
		}
		if (gm_oci_challenge_parse(gm_buf_cstr(&rs->www_auth), &ch, err) != GM_OK) {
			rc = gm_err_set(err, GM_ERR_PROTOCOL,
			                "registry '%s' asks for an authentication gpumigrate does "
			                "not speak: %s",
			                r->host, gm_err_msg(err));
			goto out;
		}
		pthread_mutex_lock(&r->mu);
		if (ch.scheme == GM_OCI_AUTH_BASIC) {
			r->use_basic = true;
			if (!r->has_creds) {
				creds_hint(r, err);
				pthread_mutex_unlock(&r->mu);
				rc = GM_ERR_PERMISSION;
				goto out;
			}
		} else {
			bool added = scopes_add(&r->scopes, ch.scope);
			added = scopes_add(&r->scopes, q->scope) || added;
			if (gen == r->token_gen || added)
				rc = fetch_token(r, h, &ch, err);
		}
		pthread_mutex_unlock(&r->mu);
		gm_oci_challenge_release(&ch);
		if (rc != GM_OK)
			goto out;
	}
out:
	gm_oci_challenge_release(&ch);
	gm_buf_release(&line);
	gm_buf_wipe(&sent);
	return rc;
}

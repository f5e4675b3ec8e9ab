/* S3 and S3-compatible stores (MinIO, Ceph RGW, GCS's XML API with HMAC keys) behind
 * store.h: REST calls signed with SigV4, listings with ListObjectsV2, uploads in parts with
 * the multipart API. Every body we send carries a Content-MD5 the store checks; small bodies
 * are also signed by their SHA-256, large ones as UNSIGNED-PAYLOAD (the MD5 protects them and
 * hashing them twice would halve throughput). Credentials, region, endpoint and addressing
 * style come the AWS CLI's way (awsconf.h), options first. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "objstore/awsconf.h"
#include "objstore/codec.h"
#include "objstore/sigv4.h"
#include "objstore/store.h"
#include "objstore/xml.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* Bodies up to this size are signed by their SHA-256. */
#define SIGN_BODY_MAX ((size_t)1 << 20)
/* Most bytes of a listing or other XML answer kept. */
#define XML_MAX ((size_t)16 << 20)

struct s3 {
	struct gm_os base;
	pthread_mutex_t mu; /* guards cfg's credentials: a credential_process renews them */
	struct gm_aws_config cfg;
	bool anonymous;
	bool path_style;
	struct gm_buf scheme_host; /* "https://host[:port]" of the endpoint */
	struct gm_buf host;      /* the Host header: "host[:port]", with the bucket when virtual */
	struct gm_buf base_path; /* the endpoint's own path prefix ("" or "/sub") */
};

/* One request: what to send and sign. */
struct call {
	struct s3 *s;
	const char *method;
	struct gm_buf path;  /* encoded, starting with '/' */
	struct gm_buf query; /* encoded, without '?' */
	struct gm_buf url, what;
	struct gm_os_kv h[GM_OS_META_MAX + 8];
	size_t nh;
	struct gm_buf hstore[GM_OS_META_MAX + 8];
	const void *body;
	size_t len;
	char payload[65];
};

static void call_init(struct call *c, struct s3 *s, const char *method, const char *key)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->method = method;
	gm_buf_add(&c->path, s->base_path.data ? s->base_path.data : "", s->base_path.len);
	if (s->path_style) {
		gm_buf_addch(&c->path, '/');
		gm_buf_add(&c->path, s->base.bucket.data, s->base.bucket.len);
	}
	gm_buf_addch(&c->path, '/');
	if (key)
		gm_os_uri_encode(&c->path, key, strlen(key), true);
	gm_buf_addf(&c->what, "s3://%s/%s", gm_buf_cstr(&s->base.bucket), key ? key : "");
	memcpy(c->payload, GM_SIGV4_EMPTY_SHA256, sizeof(c->payload));
}

static void call_release(struct call *c)
{
	gm_buf_release(&c->path);
	gm_buf_release(&c->query);
	gm_buf_release(&c->url);
	gm_buf_release(&c->what);
	for (size_t i = 0; i < c->nh; i++)
		gm_buf_release(&c->hstore[i]);
}

/* A header to send and sign (name lowercase). */
static void call_header(struct call *c, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void call_header(struct call *c, const char *name, const char *fmt, ...)
{
	if (c->nh == sizeof(c->h) / sizeof(c->h[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&c->hstore[c->nh], fmt, ap);
	va_end(ap);
	c->h[c->nh].name = name;
	c->h[c->nh].value = gm_buf_cstr(&c->hstore[c->nh]);
	c->nh++;
}

static void call_query(struct call *c, const char *name, const char *value)
{
	if (c->query.len)
		gm_buf_addch(&c->query, '&');
	gm_os_uri_encode(&c->query, name, strlen(name), false);
	if (value) {
		gm_buf_addch(&c->query, '=');
		gm_os_uri_encode(&c->query, value, strlen(value), false);
	}
}

static void call_meta(struct call *c, const struct gm_os_kv *meta, size_t n)
{
	for (size_t i = 0; i < n && c->nh < sizeof(c->h) / sizeof(c->h[0]); i++) {
		gm_buf_addf(&c->hstore[c->nh], "x-amz-meta-%s", meta[i].name);
		gm_buf_addch(&c->hstore[c->nh], '\0');
		size_t at = c->hstore[c->nh].len;
		gm_buf_adds(&c->hstore[c->nh], meta[i].value);
		c->h[c->nh].name = c->hstore[c->nh].data;
		c->h[c->nh].value = c->hstore[c->nh].data + at;
		c->nh++;
	}
}

/* The body, its Content-MD5 and the payload hash the signature covers. */
static void call_body(struct call *c, const void *body, size_t len)
{
	c->body = body;
	c->len = len;
	uint8_t md5[16];
	struct gm_buf b64 = GM_BUF_INIT;
	if (gm_os_md5(body, len, md5)) { /* not where the system forbids MD5 (FIPS) */
		gm_os_base64(&b64, md5, sizeof(md5));
		call_header(c, "content-md5", "%s", gm_buf_cstr(&b64));
	}
	gm_buf_release(&b64);
	if (len <= SIGN_BODY_MAX) {
		uint8_t sha[32];
		struct gm_buf hex = GM_BUF_INIT;
		gm_os_sha256(body, len, sha);
		gm_os_hex(&hex, sha, sizeof(sha));
		memcpy(c->payload, hex.data, 64);
		c->payload[64] = '\0';
		gm_buf_release(&hex);
	} else {
		memcpy(c->payload, GM_SIGV4_UNSIGNED_PAYLOAD, sizeof(GM_SIGV4_UNSIGNED_PAYLOAD));
	}
}

/* Copies the credentials to sign with, fetching them again first when they came from a
 * credential_process and expire within minutes. A failed renewal of credentials that are
 * still valid is a warning; of expired ones, the request's error. */
static enum gm_rc current_creds(struct s3 *s, struct gm_buf *ak, struct gm_buf *sk,
                                struct gm_buf *tok, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	pthread_mutex_lock(&s->mu);
	int64_t now = (int64_t)time(NULL);
	if (gm_aws_config_refresh_due(&s->cfg, now)) {
		struct gm_err e2 = GM_ERR_INIT;
		rc = gm_aws_config_refresh(&s->cfg, &e2);
		if (rc != GM_OK && s->cfg.expires > now) {
			gm_warn("%s; the current credentials stay in use until they expire in %lld "
			        "s",
			        gm_err_msg(&e2), (long long)(s->cfg.expires - now));
			rc = GM_OK;
		} else if (rc != GM_OK) {
			rc = gm_err_set(err, rc, "%s", gm_err_msg(&e2));
		}
		gm_err_release(&e2);
	}
	if (rc == GM_OK) {
		gm_buf_add(ak, s->cfg.access_key.data, s->cfg.access_key.len);
		gm_buf_add(sk, s->cfg.secret_key.data, s->cfg.secret_key.len);
		gm_buf_add(tok, s->cfg.session_token.data, s->cfg.session_token.len);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static enum gm_rc add_headers(void *ctx, const struct gm_os_http_req *req, struct curl_slist **hdrs,
                              struct gm_err *err)
{
	(void)req;
	struct call *c = ctx;
	struct gm_buf line = GM_BUF_INIT;
	for (size_t i = 0; i < c->nh; i++) {
		gm_buf_reset(&line);
		gm_buf_addf(&line, "%s: %s", c->h[i].name, c->h[i].value);
		*hdrs = curl_slist_append(*hdrs, gm_buf_cstr(&line));
	}
	gm_buf_release(&line);
	if (c->s->anonymous)
		return GM_OK;
	struct gm_sigv4_input in = {
	        .method = c->method,
	        .host = gm_buf_cstr(&c->s->host),
	        .path = gm_buf_cstr(&c->path),
	        .query = gm_buf_cstr(&c->query),
	        .headers = c->h,
	        .n_headers = c->nh,
	        .payload_sha256 = c->payload,
	        .now = time(NULL),
	        .region = gm_buf_cstr(&c->s->cfg.region),
	        .service = "s3",
	};
	const struct gm_aws_config *cfg = &c->s->cfg;
	if (!cfg->credential_process.len) { /* keys that never change: no lock, no copy */
		struct gm_sigv4_creds cr = {gm_buf_cstr(&cfg->access_key),
		                            gm_buf_cstr(&cfg->secret_key),
		                            gm_buf_cstr(&cfg->session_token)};
		return gm_sigv4_sign(&in, &cr, hdrs, err);
	}
	struct gm_buf ak = GM_BUF_INIT, sk = GM_BUF_INIT, tok = GM_BUF_INIT;
	enum gm_rc rc = current_creds(c->s, &ak, &sk, &tok, err);
	if (rc == GM_OK) {
		struct gm_sigv4_creds cr = {gm_buf_cstr(&ak), gm_buf_cstr(&sk), gm_buf_cstr(&tok)};
		rc = gm_sigv4_sign(&in, &cr, hdrs, err);
	}
	gm_buf_wipe(&ak);
	gm_buf_wipe(&sk);
	gm_buf_wipe(&tok);
	return rc;
}

/* Performs c; the answer in resp. body_cap and sink as for gm_os_http_req. */
static enum gm_rc call_do(struct call *c, struct gm_os_http_resp *resp, size_t body_cap,
                          struct gm_buf *sink, struct gm_err *err)
{
	gm_buf_reset(&c->url);
	gm_buf_add(&c->url, c->s->scheme_host.data, c->s->scheme_host.len);
	gm_buf_add(&c->url, c->path.data, c->path.len);
	if (c->query.len) {
		gm_buf_addch(&c->url, '?');
		gm_buf_add(&c->url, c->query.data, c->query.len);
	}
	struct gm_os_http_req req = {
	        .method = c->method,
	        .url = gm_buf_cstr(&c->url),
	        .what = gm_buf_cstr(&c->what),
	        .body = c->body,
	        .body_len = c->len,
	        .body_cap = body_cap,
	        .sink = sink,
	        .headers = add_headers,
	        .ctx = c,
	};
	enum gm_rc rc = gm_os_http_do(&c->s->base.http, &req, resp, err);
	if (rc == GM_OK && (resp->status < 200 || resp->status > 299) && resp->status != 404) {
		rc = gm_os_http_fail(&req, resp, err);
		if (rc == GM_ERR_PERMISSION) {
			const char *src = gm_buf_cstr(&c->s->cfg.creds_source);
			gm_buf_addf(&err->msg,
			            "; check the credentials (%s) and the bucket's policy",
			            src[0] ? src
			                   : "none found: set AWS_ACCESS_KEY_ID and "
			                     "AWS_SECRET_ACCESS_KEY or use --profile");
		}
	} else if (rc == GM_OK && resp->status == 404) {
		bool bucket = strstr(gm_buf_cstr(&resp->body), "NoSuchBucket") != NULL;
		rc = gm_err_set(err, GM_ERR_NOT_FOUND,
		                bucket ? "%s: the bucket '%s' does not exist" : "%s: not found%s",
		                gm_buf_cstr(&c->what),
		                bucket ? gm_buf_cstr(&c->s->base.bucket) : "");
	}
	return rc;
}

/* ---- answers ---- */

/* An ETag without its quotes; its MD5 when it is one (single-part, unencrypted). */
static void set_etag(struct gm_os_object *o, const char *v, size_t n)
{
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
		v++, n -= 2;
	gm_buf_reset(&o->etag);
	gm_buf_add(&o->etag, v, n);
	gm_buf_grow(&o->etag, 0);
	o->has_md5 = n == 32 && gm_os_hex_decode(v, n, o->md5, sizeof(o->md5));
}

/* An object's description from a HEAD or GET answer. */
static void object_from_headers(const struct gm_os_http_resp *r, const char *key,
                                struct gm_os_object *o)
{
	struct gm_buf v = GM_BUF_INIT;
	gm_os_object_reset(o);
	gm_buf_adds(&o->key, key);
	uint64_t n = 0;
	if (gm_os_http_header(r, "content-range", &v)) { /* "bytes a-b/total" */
		const char *slash = strrchr(gm_buf_cstr(&v), '/');
		if (slash && gm_parse_u64(slash + 1, 10, &n) == GM_OK)
			o->size = n;
	} else if (gm_os_http_header(r, "content-length", &v) &&
	           gm_parse_u64(gm_buf_cstr(&v), 10, &n) == GM_OK) {
		o->size = n;
	}
	if (gm_os_http_header(r, "etag", &v))
		set_etag(o, v.data, v.len);
	if (gm_os_http_header(r, "last-modified", &v) &&
	    !gm_os_time_http(gm_buf_cstr(&v), &o->mtime_ns))
		o->mtime_ns = 0;
	const char *p = gm_buf_cstr(&r->headers);
	while (*p) {
		const char *eol = strchr(p, '\n');
		if (!eol)
			break;
		if (strncmp(p, "x-amz-meta-", 11) == 0) {
			const char *colon = memchr(p, ':', (size_t)(eol - p));
			if (colon && colon + 2 <= eol)
				gm_os_object_meta_add(o, p + 11, (size_t)(colon - p - 11),
				                      colon + 2, (size_t)(eol - colon - 2));
		}
		p = eol + 1;
	}
	o->meta_known = true;
	gm_buf_release(&v);
}

/* The text of child name of e, or "" when absent (len in *n). */
static const char *child_text(const struct gm_xml_el *e, const char *name, size_t *n)
{
	const char *t = e ? gm_xml_child_text(e, name, n) : NULL;
	if (!t)
		*n = 0;
	return t ? t : "";
}

static enum gm_rc parse_xml(struct gm_xml_doc *d, const struct gm_buf *body, const char *root,
                            const char *what, struct gm_err *err)
{
	enum gm_rc rc = gm_xml_parse(d, body->data ? body->data : "", body->len, err);
	if (rc != GM_OK)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "%s: the store's answer is not valid XML: %s", what,
		                  gm_err_msg(err));
	const struct gm_xml_el *r = gm_xml_root(d);
	const char *name = r ? r->name : "";
	size_t n = strlen(name);
	if (strlen(root) != n || memcmp(name, root, n) != 0) {
		size_t mn = 0;
		const char *msg = child_text(r, "Message", &mn);
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "%s: the store answered <%.*s> instead of <%s>%s%.*s", what,
		                  (int)(n > 40 ? 40 : n), name, root, mn ? ": " : "",
		                  (int)(mn > 200 ? 200 : mn), msg);
	}
	return GM_OK;
}

/* ---- operations ---- */

static struct s3 *s3_of(struct gm_os *s)
{
	return (struct s3 *)s;
}

static enum gm_rc s3_list(struct gm_os *gs, const char *prefix, bool fold,
                          const struct gm_os_list_cb *cb, struct gm_err *err)
{
	struct s3 *s = s3_of(gs);
	enum gm_rc rc = GM_OK;
	struct gm_buf token = GM_BUF_INIT, name = GM_BUF_INIT;
	struct gm_os_object o;
	gm_os_object_init(&o);
	for (bool more = true; more && rc == GM_OK;) {
		struct call c;
		struct gm_os_http_resp resp;
		struct gm_xml_doc d;
		gm_xml_doc_init(&d);
		gm_os_http_resp_init(&resp);
		call_init(&c, s, "GET", NULL);
		gm_buf_reset(&c.what);
		gm_buf_addf(&c.what, "s3://%s/%s", gm_buf_cstr(&s->base.bucket), prefix);
		call_query(&c, "list-type", "2");
		if (token.len)
			call_query(&c, "continuation-token", gm_buf_cstr(&token));
		if (fold)
			call_query(&c, "delimiter", "/");
		call_query(&c, "encoding-type", "url");
		call_query(&c, "prefix", prefix);
		rc = call_do(&c, &resp, XML_MAX, NULL, err);
		if (rc == GM_OK)
			rc = parse_xml(&d, &resp.body, "ListBucketResult", gm_buf_cstr(&c.what),
			               err);
		if (rc == GM_OK) {
			const struct gm_xml_el *root = gm_xml_root(&d);
			size_t n = 0;
			const char *enc = child_text(root, "EncodingType", &n);
			bool url = n == 3 && memcmp(enc, "url", 3) == 0;
			for (const struct gm_xml_el *e = gm_xml_child(root, "Contents");
			     e && rc == GM_OK; e = gm_xml_next(e)) {
				gm_os_object_reset(&o);
				const char *k = child_text(e, "Key", &n);
				if (url)
					gm_os_uri_decode(&o.key, k, n, true);
				else
					gm_buf_add(&o.key, k, n), gm_buf_grow(&o.key, 0);
				uint64_t size = 0;
				const char *sz = child_text(e, "Size", &n);
				gm_buf_reset(&name);
				gm_buf_add(&name, sz, n);
				if (gm_parse_u64(gm_buf_cstr(&name), 10, &size) != GM_OK) {
					rc = gm_err_set(err, GM_ERR_PROTOCOL,
					                "%s: a listed object has no size",
					                gm_buf_cstr(&c.what));
					break;
				}
				o.size = size;
				const char *lm = child_text(e, "LastModified", &n);
				gm_buf_reset(&name);
				gm_buf_add(&name, lm, n);
				if (!gm_os_time_rfc3339(gm_buf_cstr(&name), &o.mtime_ns))
					o.mtime_ns = 0;
				const char *et = child_text(e, "ETag", &n);
				set_etag(&o, et, n);
				if (o.key.len && !cb->object(cb->ctx, &o))
					rc = GM_ERR_INTERRUPTED;
			}
			for (const struct gm_xml_el *e = gm_xml_child(root, "CommonPrefixes");
			     e && rc == GM_OK && cb->prefix; e = gm_xml_next(e)) {
				const char *p = child_text(e, "Prefix", &n);
				gm_buf_reset(&name);
				if (url)
					gm_os_uri_decode(&name, p, n, true);
				else
					gm_buf_add(&name, p, n);
				if (name.len && !cb->prefix(cb->ctx, name.data, name.len))
					rc = GM_ERR_INTERRUPTED;
			}
			const char *tr = child_text(root, "IsTruncated", &n);
			more = n == 4 && memcmp(tr, "true", 4) == 0;
			const char *next = child_text(root, "NextContinuationToken", &n);
			gm_buf_reset(&token);
			gm_buf_add(&token, next, n);
			if (more && !n)
				rc = gm_err_set(
				        err, GM_ERR_PROTOCOL,
				        "%s: a truncated listing without a continuation token",
				        gm_buf_cstr(&c.what));
		}
		if (rc == GM_ERR_INTERRUPTED)
			gm_err_set(err, rc, "%s: listing stopped", gm_buf_cstr(&c.what));
		gm_xml_doc_release(&d);
		gm_os_http_resp_release(&resp);
		call_release(&c);
	}
	gm_os_object_release(&o);
	gm_buf_release(&token);
	gm_buf_release(&name);
	return rc;
}

static enum gm_rc s3_head(struct gm_os *gs, const char *key, struct gm_os_object *out,
                          struct gm_err *err)
{
	struct call c;
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "HEAD", key);
	enum gm_rc rc = call_do(&c, &resp, 0, NULL, err);
	if (rc == GM_OK)
		object_from_headers(&resp, key, out);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_get(struct gm_os *gs, const char *key, uint64_t off, uint64_t len,
                         const char *etag, struct gm_buf *out, struct gm_os_object *info,
                         struct gm_err *err)
{
	struct call c;
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "GET", key);
	if (len)
		call_header(&c, "range", "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	else if (off)
		call_header(&c, "range", "bytes=%" PRIu64 "-", off);
	if (etag && etag[0])
		call_header(&c, "if-match", "\"%s\"", etag);
	size_t cap = len ? (size_t)len + 1 : SIZE_MAX / 2;
	gm_buf_grow(out, len ? (size_t)len : 0);
	enum gm_rc rc = call_do(&c, &resp, cap, out, err);
	if (rc == GM_ERR_CHANGED)
		gm_err_set(err, rc, "%s changed while it was read: run again",
		           gm_buf_cstr(&c.what));
	if (rc == GM_OK && info)
		object_from_headers(&resp, key, info);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_put(struct gm_os *gs, const char *key, const void *data, size_t len,
                         const struct gm_os_kv *meta, size_t n_meta, struct gm_os_object *out,
                         struct gm_err *err)
{
	struct call c;
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "PUT", key);
	call_header(&c, "content-type", "application/octet-stream");
	call_meta(&c, meta, n_meta);
	call_body(&c, data, len);
	enum gm_rc rc = call_do(&c, &resp, 0, NULL, err);
	if (rc == GM_OK && out) {
		object_from_headers(&resp, key, out);
		out->size = len;
	}
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_set_meta(struct gm_os *gs, const char *key, const struct gm_os_kv *meta,
                              size_t n_meta, struct gm_err *err)
{
	struct s3 *s = s3_of(gs);
	struct call c;
	struct gm_os_http_resp resp;
	struct gm_buf src = GM_BUF_INIT;
	gm_os_http_resp_init(&resp);
	call_init(&c, s, "PUT", key);
	gm_buf_addch(&src, '/');
	gm_buf_add(&src, s->base.bucket.data, s->base.bucket.len);
	gm_buf_addch(&src, '/');
	gm_os_uri_encode(&src, key, strlen(key), true);
	call_header(&c, "x-amz-copy-source", "%s", gm_buf_cstr(&src));
	call_header(&c, "x-amz-metadata-directive", "REPLACE");
	call_header(&c, "content-type", "application/octet-stream");
	call_meta(&c, meta, n_meta);
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	enum gm_rc rc = call_do(&c, &resp, XML_MAX, NULL, err);
	if (rc == GM_OK) /* a copy can fail after its 200 */
		rc = parse_xml(&d, &resp.body, "CopyObjectResult", gm_buf_cstr(&c.what), err);
	gm_xml_doc_release(&d);
	gm_buf_release(&src);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_del(struct gm_os *gs, const char *key, struct gm_err *err)
{
	struct call c;
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "DELETE", key);
	enum gm_rc rc = call_do(&c, &resp, 0, NULL, err);
	if (rc == GM_ERR_NOT_FOUND && !strstr(gm_buf_cstr(&resp.body), "NoSuchBucket"))
		rc = GM_OK, gm_err_clear(err);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_up_begin(struct gm_os *gs, const char *key, uint64_t total,
                              const struct gm_os_kv *meta, size_t n_meta, struct gm_buf *id,
                              struct gm_err *err)
{
	(void)total;
	struct call c;
	struct gm_os_http_resp resp;
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "POST", key);
	call_query(&c, "uploads", NULL);
	call_header(&c, "content-type", "application/octet-stream");
	call_meta(&c, meta, n_meta);
	enum gm_rc rc = call_do(&c, &resp, XML_MAX, NULL, err);
	if (rc == GM_OK)
		rc = parse_xml(&d, &resp.body, "InitiateMultipartUploadResult",
		               gm_buf_cstr(&c.what), err);
	if (rc == GM_OK) {
		size_t n = 0;
		const char *u = child_text(gm_xml_root(&d), "UploadId", &n);
		if (!n || memchr(u, '\n', n))
			rc = gm_err_set(err, GM_ERR_PROTOCOL, "%s: the store gave no upload id",
			                gm_buf_cstr(&c.what));
		gm_buf_reset(id);
		gm_buf_add(id, u, n);
		gm_buf_grow(id, 0);
	}
	gm_xml_doc_release(&d);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_up_part(struct gm_os *gs, const char *key, const char *id, unsigned number,
                             uint64_t off, const void *data, size_t len, uint64_t total,
                             struct gm_buf *tag, struct gm_err *err)
{
	(void)off, (void)total;
	struct call c;
	struct gm_os_http_resp resp;
	char num[16];
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "PUT", key);
	struct gm_buf nb = GM_BUF_INIT;
	gm_buf_addf(&nb, "%u", number);
	memcpy(num, nb.data, nb.len + 1);
	gm_buf_release(&nb);
	call_query(&c, "partNumber", num);
	call_query(&c, "uploadId", id);
	call_body(&c, data, len);
	enum gm_rc rc = call_do(&c, &resp, 0, NULL, err);
	if (rc == GM_OK && !gm_os_http_header(&resp, "etag", tag))
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "%s: part %u was stored without an ETag",
		                gm_buf_cstr(&c.what), number);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

/* ListMultipartUploads with the key as prefix (so also longer keys, left out here), page
 * by page (at most 10: a key with more unfinished uploads than that is not ours to clean). */
static enum gm_rc s3_up_list(struct gm_os *gs, const char *key, struct gm_buf *ids, size_t *count,
                             struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	struct gm_buf kmark = GM_BUF_INIT, umark = GM_BUF_INIT, k = GM_BUF_INIT;
	*count = 0;
	for (int page = 0, more = 1; more && rc == GM_OK && page < 10; page++) {
		struct call c;
		struct gm_os_http_resp resp;
		struct gm_xml_doc d;
		gm_xml_doc_init(&d);
		gm_os_http_resp_init(&resp);
		call_init(&c, s3_of(gs), "GET", NULL);
		call_query(&c, "uploads", NULL);
		call_query(&c, "encoding-type", "url");
		call_query(&c, "prefix", key);
		if (kmark.len) {
			call_query(&c, "key-marker", gm_buf_cstr(&kmark));
			call_query(&c, "upload-id-marker", gm_buf_cstr(&umark));
		}
		rc = call_do(&c, &resp, XML_MAX, NULL, err);
		if (rc == GM_OK)
			rc = parse_xml(&d, &resp.body, "ListMultipartUploadsResult",
			               gm_buf_cstr(&c.what), err);
		more = 0;
		if (rc == GM_OK) {
			const struct gm_xml_el *root = gm_xml_root(&d);
			size_t n = 0;
			for (const struct gm_xml_el *e = gm_xml_child(root, "Upload"); e;
			     e = gm_xml_next(e)) {
				const char *t = child_text(e, "Key", &n);
				gm_buf_reset(&k);
				gm_os_uri_decode(&k, t, n, true);
				if (strcmp(gm_buf_cstr(&k), key) != 0)
					continue;
				t = child_text(e, "UploadId", &n);
				if (!n || memchr(t, '\0', n))
					continue;
				gm_buf_add(ids, t, n);
				gm_buf_addch(ids, '\0');
				(*count)++;
			}
			const char *tr = child_text(root, "IsTruncated", &n);
			more = n == 4 && memcmp(tr, "true", 4) == 0;
			gm_buf_reset(&kmark);
			gm_buf_reset(&umark);
			const char *t = child_text(root, "NextKeyMarker", &n);
			gm_os_uri_decode(&kmark, t, n, true);
			t = child_text(root, "NextUploadIdMarker", &n);
			gm_buf_add(&umark, t, n);
			if (!kmark.len)
				more = 0;
		}
		gm_xml_doc_release(&d);
		gm_os_http_resp_release(&resp);
		call_release(&c);
	}
	gm_buf_release(&kmark);
	gm_buf_release(&umark);
	gm_buf_release(&k);
	return rc;
}

static enum gm_rc s3_up_parts(struct gm_os *gs, const char *key, const char *id,
                              struct gm_os_part **parts, size_t *n_parts, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	struct gm_buf marker = GM_BUF_INIT, num = GM_BUF_INIT;
	*parts = NULL;
	*n_parts = 0;
	size_t cap = 0;
	for (bool more = true; more && rc == GM_OK;) {
		struct call c;
		struct gm_os_http_resp resp;
		struct gm_xml_doc d;
		gm_xml_doc_init(&d);
		gm_os_http_resp_init(&resp);
		call_init(&c, s3_of(gs), "GET", key);
		if (marker.len)
			call_query(&c, "part-number-marker", gm_buf_cstr(&marker));
		call_query(&c, "uploadId", id);
		rc = call_do(&c, &resp, XML_MAX, NULL, err);
		if (rc == GM_OK)
			rc = parse_xml(&d, &resp.body, "ListPartsResult", gm_buf_cstr(&c.what),
			               err);
		if (rc == GM_OK) {
			const struct gm_xml_el *root = gm_xml_root(&d);
			size_t n = 0;
			for (const struct gm_xml_el *e = gm_xml_child(root, "Part");
			     e && rc == GM_OK; e = gm_xml_next(e)) {
				uint64_t number = 0, size = 0;
				const char *t = child_text(e, "PartNumber", &n);
				gm_buf_reset(&num);
				gm_buf_add(&num, t, n);
				bool ok = gm_parse_u64(gm_buf_cstr(&num), 10, &number) == GM_OK &&
				          number >= 1 && number <= 100000;
				t = child_text(e, "Size", &n);
				gm_buf_reset(&num);
				gm_buf_add(&num, t, n);
				ok = ok && gm_parse_u64(gm_buf_cstr(&num), 10, &size) == GM_OK;
				if (!ok) {
					rc = gm_err_set(err, GM_ERR_PROTOCOL,
					                "%s: a listed part is malformed",
					                gm_buf_cstr(&c.what));
					break;
				}
				if (*n_parts == cap) {
					cap = cap ? 2 * cap : 64;
					*parts = gm_xreallocarray(*parts, cap, sizeof(**parts));
				}
				struct gm_os_part *p = &(*parts)[(*n_parts)++];
				memset(p, 0, sizeof(*p));
				p->number = (unsigned)number;
				p->size = size;
				t = child_text(e, "ETag", &n);
				gm_buf_add(&p->tag, t, n);
				gm_buf_grow(&p->tag, 0);
			}
			const char *tr = child_text(root, "IsTruncated", &n);
			more = n == 4 && memcmp(tr, "true", 4) == 0;
			const char *next = child_text(root, "NextPartNumberMarker", &n);
			gm_buf_reset(&marker);
			gm_buf_add(&marker, next, n);
			if (more && !n)
				more = false;
		}
		gm_xml_doc_release(&d);
		gm_os_http_resp_release(&resp);
		call_release(&c);
	}
	gm_buf_release(&marker);
	gm_buf_release(&num);
	return rc;
}

/* CompleteMultipartUpload found no upload: the answer to an earlier attempt that did
 * complete it may have been lost (libcurl retries a request whose reused connection died
 * without an answer). The object is that upload's when its ETag is the multipart ETag of
 * our parts: the MD5 of their MD5s, then "-<number of parts>". */
static enum gm_rc completed_before(struct gm_os *gs, const char *key,
                                   const struct gm_os_part *parts, size_t n,
                                   struct gm_os_object *out, struct gm_err *err)
{
	struct gm_os_object o;
	struct gm_err herr = GM_ERR_INIT;
	struct gm_buf md5s = GM_BUF_INIT, want = GM_BUF_INIT;
	enum gm_rc rc = err->rc;
	gm_os_object_init(&o);
	for (size_t i = 0; i < n; i++) {
		const char *t = gm_buf_cstr(&parts[i].tag);
		size_t tn = parts[i].tag.len;
		uint8_t md5[16];
		if (tn >= 2 && t[0] == '"')
			t++, tn -= 2;
		if (!gm_os_hex_decode(t, tn, md5, sizeof(md5)))
			goto out; /* not MD5s (an encrypting store): cannot tell */
		gm_buf_add(&md5s, md5, sizeof(md5));
	}
	uint8_t all[16];
	if (!gm_os_md5(md5s.data, md5s.len, all))
		goto out;
	gm_os_hex(&want, all, sizeof(all));
	gm_buf_addf(&want, "-%zu", n);
	if (s3_head(gs, key, &o, &herr) == GM_OK && strcmp(gm_buf_cstr(&o.etag), want.data) == 0) {
		rc = GM_OK;
		gm_err_clear(err);
		if (out) {
			gm_os_object_reset(out);
			gm_buf_adds(&out->key, key);
			set_etag(out, o.etag.data, o.etag.len);
		}
	}
out:
	gm_os_object_release(&o);
	gm_err_release(&herr);
	gm_buf_release(&md5s);
	gm_buf_release(&want);
	return rc;
}

static enum gm_rc s3_up_finish(struct gm_os *gs, const char *key, const char *id,
                               const struct gm_os_part *parts, size_t n, struct gm_os_object *out,
                               struct gm_err *err)
{
	struct call c;
	struct gm_os_http_resp resp;
	struct gm_buf body = GM_BUF_INIT;
	struct gm_xml_doc d;
	gm_xml_doc_init(&d);
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "POST", key);
	call_query(&c, "uploadId", id);
	gm_buf_adds(&body, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < n; i++) {
		const char *t = gm_buf_cstr(&parts[i].tag);
		bool quoted = t[0] == '"';
		gm_buf_addf(&body, "<Part><PartNumber>%u</PartNumber><ETag>%s%s%s</ETag></Part>",
		            parts[i].number, quoted ? "" : "\"", t, quoted ? "" : "\"");
	}
	gm_buf_adds(&body, "</CompleteMultipartUpload>");
	call_header(&c, "content-type", "application/xml");
	call_body(&c, body.data, body.len);
	enum gm_rc rc = call_do(&c, &resp, XML_MAX, NULL, err);
	if (rc == GM_ERR_NOT_FOUND && strstr(gm_buf_cstr(&resp.body), "NoSuchUpload")) {
		rc = completed_before(gs, key, parts, n, out, err);
		goto out;
	}
	if (rc == GM_OK) /* the store may fail after its 200, with <Error> in the body */
		rc = parse_xml(&d, &resp.body, "CompleteMultipartUploadResult",
		               gm_buf_cstr(&c.what), err);
	if (rc == GM_OK && out) {
		gm_os_object_reset(out);
		gm_buf_adds(&out->key, key);
		size_t en = 0;
		const char *et = child_text(gm_xml_root(&d), "ETag", &en);
		set_etag(out, et, en);
	}
out:
	gm_xml_doc_release(&d);
	gm_buf_release(&body);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static enum gm_rc s3_up_abort(struct gm_os *gs, const char *key, const char *id, struct gm_err *err)
{
	struct call c;
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	call_init(&c, s3_of(gs), "DELETE", key);
	call_query(&c, "uploadId", id);
	enum gm_rc rc = call_do(&c, &resp, 0, NULL, err);
	if (rc == GM_ERR_NOT_FOUND) /* already gone */
		rc = GM_OK, gm_err_clear(err);
	gm_os_http_resp_release(&resp);
	call_release(&c);
	return rc;
}

static void s3_close(struct gm_os *gs)
{
	struct s3 *s = s3_of(gs);
	gm_os_http_release(&s->base.http);
	gm_aws_config_release(&s->cfg);
	gm_buf_release(&s->base.bucket);
	gm_buf_release(&s->base.endpoint);
	gm_buf_release(&s->scheme_host);
	gm_buf_release(&s->host);
	gm_buf_release(&s->base_path);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static const struct gm_os_ops s3_ops = {
        .list = s3_list,
        .head = s3_head,
        .get = s3_get,
        .put = s3_put,
        .set_meta = s3_set_meta,
        .del = s3_del,
        .up_begin = s3_up_begin,
        .up_part = s3_up_part,
        .up_parts = s3_up_parts,
        .up_finish = s3_up_finish,
        .up_abort = s3_up_abort,
        .up_list = s3_up_list,
        .close = s3_close,
};

/* Splits the endpoint URL into scheme://host[:port] and a path prefix; drops a default
 * port (curl would not send it in Host, and the signature must match what is sent). */
static enum gm_rc set_endpoint(struct s3 *s, const char *url, struct gm_err *err)
{
	bool https = strncasecmp(url, "https://", 8) == 0;
	if (!https && strncasecmp(url, "http://", 7) != 0)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "the S3 endpoint '%s' is not an http:// or https:// URL", url);
	const char *hostp = url + (https ? 8 : 7);
	size_t hn = strcspn(hostp, "/?#");
	if (!hn)
		return gm_err_set(err, GM_ERR_USAGE, "the S3 endpoint '%s' has no host", url);
	struct gm_buf host = GM_BUF_INIT;
	gm_buf_add(&host, hostp, hn);
	const char *def = https ? ":443" : ":80";
	if (host.len > strlen(def) && strcmp(host.data + host.len - strlen(def), def) == 0)
		gm_buf_truncate(&host, host.len - strlen(def));
	gm_buf_adds(&s->scheme_host, https ? "https://" : "http://");
	if (!s->path_style) {
		gm_buf_add(&s->scheme_host, s->base.bucket.data, s->base.bucket.len);
		gm_buf_addch(&s->scheme_host, '.');
		gm_buf_add(&s->host, s->base.bucket.data, s->base.bucket.len);
		gm_buf_addch(&s->host, '.');
	}
	gm_buf_add(&s->scheme_host, host.data, host.len);
	gm_buf_add(&s->host, host.data, host.len);
	const char *path = hostp + hn;
	size_t pn = strcspn(path, "?#");
	while (pn && path[pn - 1] == '/')
		pn--;
	gm_buf_add(&s->base_path, path, pn);
	gm_buf_grow(&s->base_path, 0);
	gm_buf_grow(&s->host, 0);
	gm_buf_release(&host);
	return GM_OK;
}

enum gm_rc gm_os_s3_open(const char *bucket, const struct gm_os_opts *opts, struct gm_os **out,
                         struct gm_err *err)
{
	struct s3 *s = gm_xcalloc(1, sizeof(*s));
	enum gm_rc rc = GM_OK;
	*out = NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->base.ops = &s3_ops;
	s->base.scheme = "s3";
	s->base.part_min = (uint64_t)5 << 20;
	s->base.part_align = 1;
	s->base.max_parts = 10000;
	s->base.get_carries_meta = true;
	s->base.meta_rewrite_max = (uint64_t)5 << 30; /* CopyObject's limit */
	gm_buf_adds(&s->base.bucket, bucket);
	gm_aws_config_init(&s->cfg);
	struct gm_os_http_opts ho = {.insecure = opts->insecure,
	                             .base_delay_ms = opts->base_delay_ms};
	rc = gm_aws_config_load(&s->cfg, opts->profile, err);
	if (rc == GM_ERR_NOT_FOUND) { /* a profile or file to fix, not a missing sync source */
		rc = GM_ERR_USAGE;
		if (err)
			err->rc = rc;
	}
	if (rc != GM_OK)
		goto out;
	if (opts->region)
		gm_buf_reset(&s->cfg.region), gm_buf_adds(&s->cfg.region, opts->region);
	if (s->cfg.ca_bundle.len)
		ho.ca_bundle = gm_buf_cstr(&s->cfg.ca_bundle);
	rc = gm_os_http_init(&s->base.http, &ho, err);
	if (rc != GM_OK)
		goto out;
	s->anonymous = s->cfg.access_key.len == 0;
	if (s->anonymous)
		gm_info("s3://%s: no AWS credentials found; requests are sent unsigned", bucket);
	const char *endpoint = opts->endpoint ? opts->endpoint : gm_buf_cstr(&s->cfg.endpoint_url);
	bool custom = endpoint[0] != '\0';
	s->path_style = opts->path_style >= 0    ? opts->path_style
	                : s->cfg.path_style >= 0 ? s->cfg.path_style
	                                         : custom || strchr(bucket, '.') != NULL;
	struct gm_buf aws = GM_BUF_INIT;
	if (!custom) {
		gm_buf_addf(&aws, "https://s3.%s.amazonaws.com", gm_buf_cstr(&s->cfg.region));
		endpoint = gm_buf_cstr(&aws);
	}
	gm_buf_adds(&s->base.endpoint, endpoint);
	rc = set_endpoint(s, endpoint, err);
	gm_buf_release(&aws);
out:
	if (rc != GM_OK) {
		s3_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return GM_OK;
}

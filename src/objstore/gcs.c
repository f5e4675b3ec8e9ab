/* Google Cloud Storage as an object store (store.h), over the JSON API: listings with
 * prefixes and page tokens, media downloads with ranges, multipart uploads that carry our
 * CRC32C and MD5 so the service verifies the bytes, and resumable upload sessions for big
 * objects (the session URI is the upload's id, sent in order 256 KiB-aligned chunks).
 * STORAGE_EMULATOR_HOST sends everything to an emulator without credentials, as Google's
 * client libraries do; an explicit endpoint (--endpoint) is used with credentials.
 *
 * An object's "etag" here is its generation: it changes when the content is replaced and
 * not when the metadata is, and reads made with it use ifGenerationMatch, so a replaced
 * object is GM_ERR_CHANGED rather than a mix of two versions. */
#define CURL_DISABLE_TYPECHECK
#include "objstore/store.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "objstore/codec.h"
#include "objstore/crc32c.h"
#include "objstore/gauth.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define GCS_API        "https://storage.googleapis.com"
#define GCS_CHUNK      (256u << 10) /* resumable chunks are multiples of this */
#define LIST_BODY_MAX  (32u << 20)
#define DONE_MAX       64 /* finished uploads remembered for up_finish */
#define RESEND_ROUNDS  8  /* 308s without progress before a part gives up */
#define SET_META_TRIES 5  /* metadata updates raced by another writer */

/* An upload whose last part completed: what up_finish reports. */
struct done {
	struct done *next;
	char *id;
	struct gm_os_object obj;
};

/* The tail of a part the store did not persist, sent with the next part. */
struct carry {
	struct carry *next;
	char *id;
	uint64_t off;
	struct gm_buf bytes;
};

struct gcs {
	struct gm_os base;     /* first: a struct gm_os * is a struct gcs * */
	struct gm_gauth *auth; /* NULL: an emulator, no credentials */
	struct gm_buf api;     /* "https://storage.googleapis.com", no trailing '/' */
	pthread_mutex_t mu;    /* guards done and carry */
	struct done *done;
	size_t n_done;
	struct carry *carry;
};

/* One request's context for the http callbacks. */
struct call {
	struct gcs *s;
	bool auth;
	bool retried_401;
	const char *hdr[4]; /* more header lines (NULL-terminated when fewer) */
};

static struct gcs *to_gcs(struct gm_os *s)
{
	return (struct gcs *)s;
}

static enum gm_rc call_headers(void *ctx, const struct gm_os_http_req *req,
                               struct curl_slist **hdrs, struct gm_err *err)
{
	struct call *c = ctx;
	enum gm_rc rc = GM_OK;
	struct gm_buf line = GM_BUF_INIT, token = GM_BUF_INIT;
	(void)req;
	if (c->auth && c->s->auth) {
		rc = gm_gauth_token(c->s->auth, &token, err);
		if (rc != GM_OK)
			goto out;
		gm_buf_adds(&line, "Authorization: Bearer ");
		gm_buf_add(&line, token.data, token.len);
		struct curl_slist *n = curl_slist_append(*hdrs, gm_buf_cstr(&line));
		if (!n)
			gm_xalloc_fail();
		*hdrs = n;
	}
	for (size_t i = 0; i < sizeof(c->hdr) / sizeof(c->hdr[0]) && c->hdr[i]; i++) {
		struct curl_slist *n = curl_slist_append(*hdrs, c->hdr[i]);
		if (!n)
			gm_xalloc_fail();
		*hdrs = n;
	}
out:
	if (line.data)
		explicit_bzero(line.data, line.cap);
	if (token.data)
		explicit_bzero(token.data, token.cap);
	gm_buf_release(&line);
	gm_buf_release(&token);
	return rc;
}

/* A 401 with credentials: the token may have been revoked or expired early; fetch a new one
 * and try once more. */
static bool call_retry(void *ctx, long status)
{
	struct call *c = ctx;
	if (status != 401 || !c->auth || !c->s->auth || c->retried_401)
		return false;
	c->retried_401 = true;
	gm_gauth_invalidate(c->s->auth);
	return true;
}

static void req_setup(struct gm_os_http_req *req, struct call *c, struct gcs *s, const char *method,
                      const char *url, const char *what)
{
	memset(req, 0, sizeof(*req));
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->auth = true;
	req->method = method;
	req->url = url;
	req->what = what;
	req->headers = call_headers;
	req->ctx = c;
	req->retry_status = call_retry;
}

/* gm_os_http_fail, naming the credentials when they were refused. */
static enum gm_rc fail(struct gcs *s, const struct gm_os_http_req *req,
                       const struct gm_os_http_resp *resp, struct gm_err *err)
{
	enum gm_rc rc = gm_os_http_fail(req, resp, err);
	if (err && s->auth && (resp->status == 401 || resp->status == 403))
		gm_buf_addf(&err->msg, " (credentials: %s)", gm_gauth_source(s->auth));
	return rc;
}

static void what_of(const struct gcs *s, const char *key, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_addf(out, "gs://%s/%s", gm_buf_cstr(&s->base.bucket), key);
}

/* {api}/storage/v1/b/{bucket}/o */
static void objects_url(const struct gcs *s, bool upload, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_add(out, s->api.data, s->api.len);
	gm_buf_adds(out, upload ? "/upload/storage/v1/b/" : "/storage/v1/b/");
	gm_os_uri_encode(out, s->base.bucket.data, s->base.bucket.len, false);
	gm_buf_adds(out, "/o");
}

static void object_url(const struct gcs *s, const char *key, struct gm_buf *out)
{
	objects_url(s, false, out);
	gm_buf_addch(out, '/');
	gm_os_uri_encode(out, key, strlen(key), false);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static enum gm_rc protocol(struct gm_err *err, const char *what, const char *why)
{
	return gm_err_set(err, GM_ERR_PROTOCOL, "%s: the store's answer is not valid: %s", what,
	                  why);
}

/* An object resource (a list item, a head or an upload's answer) into o. */
static enum gm_rc parse_object(struct fy_node *n, struct gm_os_object *o, const char *what,
                               struct gm_err *err)
{
	gm_os_object_reset(o);
	const char *name = gm_doc_scalar(gm_doc_get(n, "name"));
	const char *size = gm_doc_scalar(gm_doc_get(n, "size"));
	const char *updated = gm_doc_scalar(gm_doc_get(n, "updated"));
	const char *gen = gm_doc_scalar(gm_doc_get(n, "generation"));
	const char *md5 = gm_doc_scalar(gm_doc_get(n, "md5Hash"));
	const char *crc = gm_doc_scalar(gm_doc_get(n, "crc32c"));
	if (!gm_doc_is_map(n) || !name || !*name)
		return protocol(err, what, "an object without a name");
	if (!size || gm_parse_u64(size, 10, &o->size) != GM_OK)
		return protocol(err, what, "an object without a valid size");
	if (updated && !gm_os_time_rfc3339(updated, &o->mtime_ns))
		return protocol(err, what, "an object's 'updated' is not an RFC 3339 time");
	uint64_t g = 0;
	if (gen && (gm_parse_u64(gen, 10, &g) != GM_OK || g == 0))
		return protocol(err, what, "an object's generation is not a number");
	if (md5 && !gm_crc32c_md5_from_b64(md5, strlen(md5), o->md5))
		return protocol(err, what, "an object's md5Hash is not base64 of 16 bytes");
	if (crc && !gm_crc32c_from_b64(crc, strlen(crc), &o->crc32c))
		return protocol(err, what, "an object's crc32c is not base64 of 4 bytes");
	gm_buf_adds(&o->key, name);
	if (gen)
		gm_buf_addf(&o->etag, "%llu", (unsigned long long)g);
	o->has_md5 = md5 != NULL;
	o->has_crc32c = crc != NULL;
	struct fy_node *meta = gm_doc_get(n, "metadata");
	int nm = gm_doc_map_len(meta);
	for (int i = 0; i < nm; i++) {
		const char *k = gm_doc_map_key_at(meta, i);
		struct fy_node *v = gm_doc_map_value_at(meta, i);
		const char *vs = gm_doc_scalar(v);
		if (k && vs && !gm_doc_is_null(v))
			gm_os_object_meta_add(o, k, strlen(k), vs, strlen(vs));
	}
	o->meta_known = true;
	return GM_OK;
}

/* Loads a JSON answer body. */
static enum gm_rc load_answer(struct gm_doc *doc, const struct gm_os_http_resp *resp,
                              const char *what, struct gm_err *err)
{
	enum gm_rc rc =
	        gm_doc_load_string(doc, what, gm_buf_cstr(&resp->body), resp->body.len, err);
	if (rc != GM_OK)
		return gm_err_set(err, GM_ERR_PROTOCOL, "%s: the store's answer is not JSON: %s",
		                  what, gm_err_msg(err));
	if (!gm_doc_is_map(gm_doc_root(doc)))
		return protocol(err, what, "not a JSON object");
	return GM_OK;
}

static enum gm_rc parse_object_answer(const struct gm_os_http_resp *resp, struct gm_os_object *o,
                                      const char *what, struct gm_err *err)
{
	struct gm_doc doc = {NULL, NULL, NULL};
	enum gm_rc rc = load_answer(&doc, resp, what, err);
	if (rc == GM_OK)
		rc = parse_object(gm_doc_root(&doc), o, what, err);
	gm_doc_release(&doc);
	return rc;
}

/* Writes the "metadata" member: the pairs given, and null for each name in drop that is not
 * among them (a PATCH removes those). */
static void json_meta(struct gm_json *j, const struct gm_os_kv *meta, size_t n_meta,
                      const struct gm_os_object *drop)
{
	gm_json_begin_object(j, "metadata");
	for (size_t i = 0; i < n_meta; i++)
		gm_json_str(j, meta[i].name, meta[i].value);
	const char *p = drop ? drop->meta.data : NULL, *end = p ? p + drop->meta.len : NULL;
	while (p && p < end) {
		const char *value = p + strlen(p) + 1;
		if (value >= end)
			break;
		bool kept = false;
		for (size_t i = 0; i < n_meta && !kept; i++)
			kept = strcmp(meta[i].name, p) == 0;
		if (!kept)
			gm_json_null(j, p);
		p = value + strlen(value) + 1;
	}
	gm_json_end_object(j);
}

static enum gm_rc check_meta(const struct gcs *s, const char *key, const struct gm_os_kv *meta,
                             size_t n_meta, struct gm_err *err)
{
	if (n_meta > GM_OS_META_MAX)
		return gm_err_set(err, GM_ERR_USAGE, "gs://%s/%s: more than %d metadata pairs",
		                  gm_buf_cstr(&s->base.bucket), key, GM_OS_META_MAX);
	if (!*key)
		return gm_err_set(err, GM_ERR_USAGE, "gs://%s: an empty object name",
		                  gm_buf_cstr(&s->base.bucket));
	return GM_OK;
}

/* list */

struct page {
	struct gm_doc doc;
	struct fy_node *items, *prefixes;
	const char *next;
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static enum gm_rc list_page(struct gcs *s, const char *prefix, const struct gm_os_list_cb *cb,
                            struct page *pg, const char *what, struct gm_err *err)
{
	struct gm_os_object o;
	gm_os_object_init(&o);
	int ni = gm_doc_seq_len(pg->items), np = gm_doc_seq_len(pg->prefixes);
	int i = 0, k = 0;
	enum gm_rc rc = GM_OK;
	while (i < ni || k < np) {
		struct fy_node *item = i < ni ? gm_doc_seq_at(pg->items, i) : NULL;
		const char *pfx = k < np ? gm_doc_scalar(gm_doc_seq_at(pg->prefixes, k)) : NULL;
		if (k < np &&
		    (!pfx || !has_prefix(pfx, prefix) || !*pfx || pfx[strlen(pfx) - 1] != '/')) {
			rc = protocol(err, what, "a prefix outside the listing");
			goto out;
		}
		const char *name = item ? gm_doc_scalar(gm_doc_get(item, "name")) : NULL;
		bool take_item = item && (!pfx || (name && strcmp(name, pfx) < 0));
		if (take_item) {
			rc = parse_object(item, &o, what, err);
			if (rc != GM_OK)
				goto out;
			if (!has_prefix(gm_buf_cstr(&o.key), prefix)) {
				rc = protocol(err, what, "an object outside the listing");
				goto out;
			}
			i++;
			if (cb->object && !cb->object(cb->ctx, &o)) {
				rc = gm_err_set(err, GM_ERR_INTERRUPTED, "%s: listing stopped",
				                what);
				goto out;
			}
		} else {
			k++;
			if (!pfx) { /* not reached: an item is taken when there is no prefix */
				rc = protocol(err, what, "a listing entry without a name");
				goto out;
			}
			if (cb->prefix && !cb->prefix(cb->ctx, pfx, strlen(pfx))) {
				rc = gm_err_set(err, GM_ERR_INTERRUPTED, "%s: listing stopped",
				                what);
				goto out;
			}
		}
	}
out:
	gm_os_object_release(&o);
	return rc;
}

static enum gm_rc gcs_list(struct gm_os *os, const char *prefix, bool fold,
                           const struct gm_os_list_cb *cb, struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT, token = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct page pg;
	enum gm_rc rc = GM_OK;
	static const char fields[] = "items(name,size,updated,generation,md5Hash,crc32c,metadata),"
	                             "prefixes,nextPageToken";
	memset(&pg, 0, sizeof(pg));
	gm_os_http_resp_init(&resp);
	what_of(s, prefix, &what);
	for (unsigned page = 0;; page++) {
		objects_url(s, false, &url);
		gm_buf_adds(&url, "?prefix=");
		gm_os_uri_encode(&url, prefix, strlen(prefix), false);
		if (fold)
			gm_buf_adds(&url, "&delimiter=%2F");
		gm_buf_adds(&url, "&fields=");
		gm_os_uri_encode(&url, fields, sizeof(fields) - 1, false);
		if (token.len) {
			gm_buf_adds(&url, "&pageToken=");
			gm_os_uri_encode(&url, token.data, token.len, false);
		}
		struct gm_os_http_req req;
		struct call c;
		req_setup(&req, &c, s, "GET", gm_buf_cstr(&url), gm_buf_cstr(&what));
		req.body_cap = LIST_BODY_MAX;
		rc = gm_os_http_do(&s->base.http, &req, &resp, err);
		if (rc != GM_OK)
			goto out;
		if (resp.status != 200) {
			rc = fail(s, &req, &resp, err);
			goto out;
		}
		gm_doc_release(&pg.doc);
		rc = load_answer(&pg.doc, &resp, gm_buf_cstr(&what), err);
		if (rc != GM_OK)
			goto out;
		struct fy_node *root = gm_doc_root(&pg.doc);
		pg.items = gm_doc_get(root, "items");
		pg.prefixes = gm_doc_get(root, "prefixes");
		pg.next = gm_doc_scalar(gm_doc_get(root, "nextPageToken"));
		if ((pg.items && !gm_doc_is_seq(pg.items)) ||
		    (pg.prefixes && !gm_doc_is_seq(pg.prefixes))) {
			rc = protocol(err, gm_buf_cstr(&what), "items or prefixes is not a list");
			goto out;
		}
		rc = list_page(s, prefix, cb, &pg, gm_buf_cstr(&what), err);
		if (rc != GM_OK || !pg.next || !*pg.next)
			goto out;
		if (strcmp(pg.next, gm_buf_cstr(&token)) == 0 || page > 10000000) {
			rc = protocol(err, gm_buf_cstr(&what), "the same page token twice");
			goto out;
		}
		gm_buf_reset(&token);
		gm_buf_adds(&token, pg.next);
	}
out:
	gm_doc_release(&pg.doc);
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	gm_buf_release(&token);
	return rc;
}

/* head */

static enum gm_rc gcs_head(struct gm_os *os, const char *key, struct gm_os_object *out,
                           struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_http_req req;
	struct call c;
	gm_os_http_resp_init(&resp);
	what_of(s, key, &what);
	object_url(s, key, &url);
	req_setup(&req, &c, s, "GET", gm_buf_cstr(&url), gm_buf_cstr(&what));
	enum gm_rc rc = gm_os_http_do(&s->base.http, &req, &resp, err);
	if (rc == GM_OK && resp.status != 200)
		rc = fail(s, &req, &resp, err);
	else if (rc == GM_OK)
		rc = parse_object_answer(&resp, out, gm_buf_cstr(&what), err);
	if (rc == GM_OK && strcmp(gm_buf_cstr(&out->key), key) != 0)
		rc = protocol(err, gm_buf_cstr(&what), "the answer names another object");
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	return rc;
}

/* get */

/* Every x-goog-hash header of resp into h. */
static enum gm_rc goog_hashes(const struct gm_os_http_resp *resp, struct gm_goog_hash *h,
                              const char *what, struct gm_err *err)
{
	static const char name[] = "x-goog-hash: ";
	const char *p = gm_buf_cstr(&resp->headers);
	memset(h, 0, sizeof(*h));
	while (*p) {
		const char *eol = strchr(p, '\n');
		if (!eol)
			break;
		if (strncmp(p, name, sizeof(name) - 1) == 0) {
			const char *v = p + sizeof(name) - 1;
			enum gm_rc rc = gm_crc32c_goog_hash_parse(v, (size_t)(eol - v), h, err);
			if (rc != GM_OK)
				return protocol(err, what, "x-goog-hash is malformed");
		}
		p = eol + 1;
	}
	return GM_OK;
}

/* "bytes a-b/total" into its numbers. */
static bool parse_content_range(const char *v, uint64_t *a, uint64_t *b, uint64_t *total)
{
	struct gm_buf t = GM_BUF_INIT;
	bool ok = false;
	if (strncmp(v, "bytes ", 6) != 0)
		return false;
	v += 6;
	const char *dash = strchr(v, '-'), *slash = strchr(v, '/');
	if (dash && slash && dash < slash) {
		gm_buf_add(&t, v, (size_t)(dash - v));
		ok = gm_parse_u64(gm_buf_cstr(&t), 10, a) == GM_OK;
		gm_buf_reset(&t);
		gm_buf_add(&t, dash + 1, (size_t)(slash - dash - 1));
		ok = ok && gm_parse_u64(gm_buf_cstr(&t), 10, b) == GM_OK;
		ok = ok && gm_parse_u64(slash + 1, 10, total) == GM_OK && *a <= *b && *b < *total;
	}
	gm_buf_release(&t);
	return ok;
}

/* With the whole object in hand, checks it against the CRC32C the store sent (unless the
 * store keeps it gzip-compressed: the hashes are of the stored bytes then). */
static enum gm_rc verify_whole(const struct gm_os_http_resp *resp, const struct gm_goog_hash *h,
                               const char *data, size_t n, const char *what, struct gm_err *err)
{
	struct gm_buf enc = GM_BUF_INIT;
	bool gzip = gm_os_http_header(resp, "x-goog-stored-content-encoding", &enc) &&
	            strcmp(gm_buf_cstr(&enc), "identity") != 0;
	gm_buf_release(&enc);
	if (h->has_crc32c && !gzip && gm_crc32c(0, data, n) != h->crc32c)
		return gm_err_set(err, GM_ERR_MISMATCH,
		                  "%s: the bytes read do not match the object's CRC32C; try again",
		                  what);
	return GM_OK;
}

static enum gm_rc gcs_get(struct gm_os *os, const char *key, uint64_t off, uint64_t len,
                          const char *etag, struct gm_buf *out, struct gm_os_object *info,
                          struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT, range = GM_BUF_INIT;
	struct gm_buf hv = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_http_req req;
	struct call c;
	struct gm_goog_hash h;
	enum gm_rc rc = GM_OK;
	size_t before = out->len;
	uint64_t gen = 0;
	gm_os_http_resp_init(&resp);
	what_of(s, key, &what);
	if (len > SIZE_MAX - before || off > UINT64_MAX - len) {
		rc = gm_err_set(err, GM_ERR_USAGE, "%s: a read past what memory can hold",
		                gm_buf_cstr(&what));
		goto out;
	}
	if (etag && *etag && (gm_parse_u64(etag, 10, &gen) != GM_OK || gen == 0)) {
		rc = gm_err_set(err, GM_ERR_USAGE, "%s: '%s' is not a GCS generation",
		                gm_buf_cstr(&what), etag);
		goto out;
	}
	object_url(s, key, &url);
	gm_buf_adds(&url, "?alt=media");
	if (gen)
		gm_buf_addf(&url, "&ifGenerationMatch=%llu", (unsigned long long)gen);
	req_setup(&req, &c, s, "GET", gm_buf_cstr(&url), gm_buf_cstr(&what));
	if (off || len) {
		gm_buf_addf(&range, "Range: bytes=%llu-", (unsigned long long)off);
		if (len)
			gm_buf_addf(&range, "%llu", (unsigned long long)(off + len - 1));
		c.hdr[0] = gm_buf_cstr(&range);
	}
	req.sink = out;
	req.body_cap = len ? (size_t)len : SIZE_MAX;
	rc = gm_os_http_do(&s->base.http, &req, &resp, err);
	if (rc != GM_OK)
		goto out;
	if (resp.status == 412 && gen) {
		rc = gm_err_set(err, GM_ERR_CHANGED,
		                "%s: the object was replaced while it was read (generation %s)",
		                gm_buf_cstr(&what), etag);
		goto out;
	}
	if (resp.status == 416) {
		if (len) {
			rc = gm_err_set(err, GM_ERR_CHANGED,
			                "%s: the object is shorter than %" PRIu64 " bytes now",
			                gm_buf_cstr(&what), off + len);
			goto out;
		}
		goto out; /* from the end to the end: nothing */
	}
	if (resp.status != 200 && resp.status != 206) {
		rc = fail(s, &req, &resp, err);
		goto out;
	}
	rc = goog_hashes(&resp, &h, gm_buf_cstr(&what), err);
	if (rc != GM_OK)
		goto out;
	size_t got = out->len - before;
	uint64_t total = 0, a = 0, b = 0;
	if (resp.status == 206) {
		if (!gm_os_http_header(&resp, "content-range", &hv) ||
		    !parse_content_range(gm_buf_cstr(&hv), &a, &b, &total) || a != off ||
		    got != b - a + 1) {
			rc = protocol(err, gm_buf_cstr(&what),
			              "a partial answer for another range");
			goto out;
		}
		if (a == 0 && b + 1 == total) {
			rc = verify_whole(&resp, &h, out->data + before, got, gm_buf_cstr(&what),
			                  err);
			if (rc != GM_OK)
				goto out;
		}
	} else {
		/* the whole object (no range asked, or the range covered it all) */
		total = got;
		if (off > total) {
			rc = gm_err_set(err, GM_ERR_CHANGED,
			                "%s: the object is shorter than %llu bytes now",
			                gm_buf_cstr(&what), (unsigned long long)off);
			goto out;
		}
		rc = verify_whole(&resp, &h, out->data + before, got, gm_buf_cstr(&what), err);
		if (rc != GM_OK)
			goto out;
		if (off) { /* drop what precedes the range */
			memmove(out->data + before, out->data + before + off,
			        (size_t)(total - off));
			gm_buf_truncate(out, before + (size_t)(total - off));
			got = (size_t)(total - off);
		}
		if (len && got > len)
			gm_buf_truncate(out, before + (size_t)len), got = (size_t)len;
	}
	if (len && got != len && off + len <= total) {
		rc = protocol(err, gm_buf_cstr(&what), "fewer bytes than asked for");
		goto out;
	}
	if (len && off + len > total) {
		rc = gm_err_set(err, GM_ERR_CHANGED,
		                "%s: the object is shorter than %" PRIu64 " bytes now",
		                gm_buf_cstr(&what), off + len);
		goto out;
	}
	if (info) {
		gm_os_object_reset(info);
		gm_buf_adds(&info->key, key);
		info->size = total;
		if (gm_os_http_header(&resp, "x-goog-generation", &hv))
			gm_buf_add(&info->etag, hv.data, hv.len);
		info->has_crc32c = h.has_crc32c;
		info->crc32c = h.crc32c;
		info->has_md5 = h.has_md5;
		memcpy(info->md5, h.md5, sizeof(info->md5));
	}
out:
	if (rc != GM_OK)
		gm_buf_truncate(out, before);
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	gm_buf_release(&range);
	gm_buf_release(&hv);
	return rc;
}

/* put */

/* A multipart/related boundary found in neither part. */
static void pick_boundary(const struct gm_buf *json, const void *data, size_t len, uint32_t seed,
                          struct gm_buf *out)
{
	for (uint32_t i = 0;; i++) {
		gm_buf_reset(out);
		gm_buf_addf(out, "gpumigrate-%08x%08x", seed, i * 2654435761u);
		if (!memmem(json->data, json->len, out->data, out->len) &&
		    (!len || !memmem(data, len, out->data, out->len)))
			return;
	}
}

/* A 400 that says the body did not match the hashes we sent. */
static bool hash_refused(const struct gm_os_http_resp *resp)
{
	const char *b = gm_buf_cstr(&resp->body);
	return resp->status == 400 && (strcasestr(b, "crc32c") || strcasestr(b, "md5")) &&
	       (strcasestr(b, "match") || strcasestr(b, "invalid"));
}

static enum gm_rc gcs_put(struct gm_os *os, const char *key, const void *data, size_t len,
                          const struct gm_os_kv *meta, size_t n_meta, struct gm_os_object *out,
                          struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT, json = GM_BUF_INIT, body = GM_BUF_INIT;
	struct gm_buf boundary = GM_BUF_INIT, ctype = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_http_req req;
	struct gm_os_object obj;
	struct call c;
	struct gm_json j;
	uint8_t md5[16];
	gm_os_http_resp_init(&resp);
	gm_os_object_init(&obj);
	what_of(s, key, &what);
	enum gm_rc rc = check_meta(s, key, meta, n_meta, err);
	if (rc != GM_OK)
		goto out;
	uint32_t crc = gm_crc32c(0, data, len);
	bool have_md5 = gm_os_md5(data, len, md5);

	gm_json_init(&j, &json, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "name", key);
	json_meta(&j, meta, n_meta, NULL);
	gm_json_str(&j, "contentType", "application/octet-stream");
	struct gm_buf b64 = GM_BUF_INIT;
	gm_crc32c_to_b64(crc, &b64);
	gm_json_str(&j, "crc32c", gm_buf_cstr(&b64));
	if (have_md5) {
		gm_buf_reset(&b64);
		gm_crc32c_md5_to_b64(md5, &b64);
		gm_json_str(&j, "md5Hash", gm_buf_cstr(&b64));
	}
	gm_buf_release(&b64);
	gm_json_end_object(&j);

	pick_boundary(&json, data, len, crc, &boundary);
	gm_buf_grow(&body, json.len + len + 3 * boundary.len + 200);
	gm_buf_addf(&body, "--%s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
	            gm_buf_cstr(&boundary));
	gm_buf_add(&body, json.data, json.len);
	gm_buf_addf(&body, "\r\n--%s\r\nContent-Type: application/octet-stream\r\n\r\n",
	            gm_buf_cstr(&boundary));
	if (len)
		gm_buf_add(&body, data, len);
	gm_buf_addf(&body, "\r\n--%s--\r\n", gm_buf_cstr(&boundary));
	gm_buf_addf(&ctype, "Content-Type: multipart/related; boundary=%s", gm_buf_cstr(&boundary));

	objects_url(s, true, &url);
	gm_buf_adds(&url, "?uploadType=multipart");
	req_setup(&req, &c, s, "POST", gm_buf_cstr(&url), gm_buf_cstr(&what));
	c.hdr[0] = gm_buf_cstr(&ctype);
	req.body = body.data;
	req.body_len = body.len;
	rc = gm_os_http_do(&s->base.http, &req, &resp, err);
	if (rc != GM_OK)
		goto out;
	if (hash_refused(&resp)) {
		fail(s, &req, &resp, err);
		rc = gm_err_set(
		        err, GM_ERR_MISMATCH,
		        "%s; the store refused the bytes as damaged in transit: nothing was "
		        "written",
		        gm_err_msg(err));
		goto out;
	}
	if (resp.status != 200 && resp.status != 201) {
		rc = fail(s, &req, &resp, err);
		goto out;
	}
	rc = parse_object_answer(&resp, &obj, gm_buf_cstr(&what), err);
	if (rc != GM_OK)
		goto out;
	if (strcmp(gm_buf_cstr(&obj.key), key) != 0 || obj.size != len ||
	    (obj.has_crc32c && obj.crc32c != crc) ||
	    (have_md5 && obj.has_md5 && memcmp(obj.md5, md5, 16) != 0)) {
		rc = gm_err_set(err, GM_ERR_MISMATCH,
		                "%s: the stored object does not match what was sent (size or "
		                "checksum)",
		                gm_buf_cstr(&what));
		goto out;
	}
	if (out) {
		struct gm_os_object tmp = *out;
		*out = obj;
		obj = tmp;
	}
out:
	gm_os_object_release(&obj);
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	gm_buf_release(&json);
	gm_buf_release(&body);
	gm_buf_release(&boundary);
	gm_buf_release(&ctype);
	return rc;
}

/* set_meta */

static enum gm_rc gcs_set_meta(struct gm_os *os, const char *key, const struct gm_os_kv *meta,
                               size_t n_meta, struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT, json = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_object cur;
	struct gm_doc doc = {NULL, NULL, NULL};
	gm_os_http_resp_init(&resp);
	gm_os_object_init(&cur);
	what_of(s, key, &what);
	enum gm_rc rc = check_meta(s, key, meta, n_meta, err);
	for (unsigned attempt = 1; rc == GM_OK; attempt++) {
		/* the current metadata (names to remove) and its metageneration */
		struct gm_os_http_req req;
		struct call c;
		object_url(s, key, &url);
		req_setup(&req, &c, s, "GET", gm_buf_cstr(&url), gm_buf_cstr(&what));
		rc = gm_os_http_do(&s->base.http, &req, &resp, err);
		if (rc != GM_OK)
			break;
		if (resp.status != 200) {
			rc = fail(s, &req, &resp, err);
			break;
		}
		gm_doc_release(&doc);
		rc = load_answer(&doc, &resp, gm_buf_cstr(&what), err);
		if (rc == GM_OK)
			rc = parse_object(gm_doc_root(&doc), &cur, gm_buf_cstr(&what), err);
		const char *m = gm_doc_scalar(gm_doc_get(gm_doc_root(&doc), "metageneration"));
		uint64_t mgv = 0;
		if (rc == GM_OK && (!m || gm_parse_u64(m, 10, &mgv) != GM_OK))
			rc = protocol(err, gm_buf_cstr(&what), "no metageneration");
		if (rc != GM_OK)
			break;

		gm_buf_reset(&json);
		struct gm_json j;
		gm_json_init(&j, &json, false);
		gm_json_begin_object(&j, NULL);
		json_meta(&j, meta, n_meta, &cur);
		gm_json_end_object(&j);
		object_url(s, key, &url);
		gm_buf_addf(&url, "?ifMetagenerationMatch=%llu", (unsigned long long)mgv);
		req_setup(&req, &c, s, "PATCH", gm_buf_cstr(&url), gm_buf_cstr(&what));
		c.hdr[0] = "Content-Type: application/json; charset=UTF-8";
		req.body = json.data;
		req.body_len = json.len;
		rc = gm_os_http_do(&s->base.http, &req, &resp, err);
		if (rc != GM_OK)
			break;
		if (resp.status == 200)
			break;
		if (resp.status != 412 || attempt >= SET_META_TRIES) {
			rc = fail(s, &req, &resp, err);
			break;
		}
		/* another writer changed the metadata in between: read it again */
	}
	gm_doc_release(&doc);
	gm_os_object_release(&cur);
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	gm_buf_release(&json);
	return rc;
}

/* del */

static enum gm_rc gcs_del(struct gm_os *os, const char *key, struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_http_req req;
	struct call c;
	gm_os_http_resp_init(&resp);
	what_of(s, key, &what);
	object_url(s, key, &url);
	req_setup(&req, &c, s, "DELETE", gm_buf_cstr(&url), gm_buf_cstr(&what));
	enum gm_rc rc = gm_os_http_do(&s->base.http, &req, &resp, err);
	if (rc == GM_OK && resp.status != 204 && resp.status != 200 && resp.status != 404)
		rc = fail(s, &req, &resp, err);
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	return rc;
}

/* resumable uploads */

/* Whether id can be a session URI of this store: a token goes only to the store itself. */
static enum gm_rc check_session(const struct gcs *s, const char *id, const char *what,
                                struct gm_err *err)
{
	bool ok = s->auth ? strncmp(id, s->api.data, s->api.len) == 0 && id[s->api.len] == '/'
	                  : strncmp(id, "http://", 7) == 0 || strncmp(id, "https://", 8) == 0;
	for (const char *p = id; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
	if (!ok)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "%s: the upload's id is not a session of %s; start the upload "
		                  "again",
		                  what, gm_buf_cstr(&s->api));
	return GM_OK;
}

static void done_put(struct gcs *s, const char *id, struct gm_os_object *obj)
{
	struct done *d = gm_xcalloc(1, sizeof(*d));
	d->id = gm_xstrdup(id);
	d->obj = *obj;
	gm_os_object_init(obj);
	pthread_mutex_lock(&s->mu);
	d->next = s->done;
	s->done = d;
	if (++s->n_done > DONE_MAX) { /* forget the oldest */
		struct done **pp = &s->done;
		while ((*pp)->next)
			pp = &(*pp)->next;
		struct done *old = *pp;
		*pp = NULL;
		s->n_done--;
		free(old->id);
		gm_os_object_release(&old->obj);
		free(old);
	}
	pthread_mutex_unlock(&s->mu);
}

/* Takes the finished upload id out of the map into obj; false when it is not there. */
static bool done_take(struct gcs *s, const char *id, struct gm_os_object *obj)
{
	bool found = false;
	pthread_mutex_lock(&s->mu);
	for (struct done **pp = &s->done; *pp; pp = &(*pp)->next) {
		struct done *d = *pp;
		if (strcmp(d->id, id) != 0)
			continue;
		*pp = d->next;
		s->n_done--;
		if (obj) {
			gm_os_object_release(obj);
			*obj = d->obj;
		} else {
			gm_os_object_release(&d->obj);
		}
		free(d->id);
		free(d);
		found = true;
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

static enum gm_rc gcs_up_begin(struct gm_os *os, const char *key, uint64_t total,
                               const struct gm_os_kv *meta, size_t n_meta, struct gm_buf *id,
                               struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf url = GM_BUF_INIT, what = GM_BUF_INIT, json = GM_BUF_INIT;
	struct gm_buf clen = GM_BUF_INIT, loc = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_http_req req;
	struct call c;
	struct gm_json j;
	gm_os_http_resp_init(&resp);
	what_of(s, key, &what);
	enum gm_rc rc = check_meta(s, key, meta, n_meta, err);
	if (rc != GM_OK)
		goto out;
	gm_json_init(&j, &json, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "name", key);
	json_meta(&j, meta, n_meta, NULL);
	gm_json_str(&j, "contentType", "application/octet-stream");
	gm_json_end_object(&j);
	gm_buf_addf(&clen, "X-Upload-Content-Length: %llu", (unsigned long long)total);

	objects_url(s, true, &url);
	gm_buf_adds(&url, "?uploadType=resumable");
	req_setup(&req, &c, s, "POST", gm_buf_cstr(&url), gm_buf_cstr(&what));
	c.hdr[0] = "Content-Type: application/json; charset=UTF-8";
	c.hdr[1] = "X-Upload-Content-Type: application/octet-stream";
	c.hdr[2] = gm_buf_cstr(&clen);
	req.body = json.data;
	req.body_len = json.len;
	rc = gm_os_http_do(&s->base.http, &req, &resp, err);
	if (rc != GM_OK)
		goto out;
	if (resp.status != 200 && resp.status != 201) {
		rc = fail(s, &req, &resp, err);
		goto out;
	}
	if (!gm_os_http_header(&resp, "location", &loc) || !loc.len) {
		rc = protocol(err, gm_buf_cstr(&what), "no session URI (Location)");
		goto out;
	}
	rc = check_session(s, gm_buf_cstr(&loc), gm_buf_cstr(&what), err);
	if (rc != GM_OK)
		goto out;
	gm_buf_reset(id);
	gm_buf_add(id, loc.data, loc.len);
out:
	gm_os_http_resp_release(&resp);
	gm_buf_release(&url);
	gm_buf_release(&what);
	gm_buf_release(&json);
	gm_buf_release(&clen);
	gm_buf_release(&loc);
	return rc;
}

/* The bytes a 308 says the session holds: "Range: bytes=0-N" is N + 1; no Range is 0. */
static enum gm_rc persisted_of(const struct gm_os_http_resp *resp, uint64_t *out, const char *what,
                               struct gm_err *err)
{
	struct gm_buf v = GM_BUF_INIT, t = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	*out = 0;
	if (gm_os_http_header(resp, "range", &v)) {
		const char *p = gm_buf_cstr(&v);
		uint64_t end = 0;
		if (strncmp(p, "bytes=0-", 8) == 0)
			gm_buf_adds(&t, p + 8);
		if (!t.len || gm_parse_u64(gm_buf_cstr(&t), 10, &end) != GM_OK || end == UINT64_MAX)
			rc = protocol(err, what, "a 308 with a Range that is not bytes=0-N");
		else
			*out = end + 1;
	}
	gm_buf_release(&v);
	gm_buf_release(&t);
	return rc;
}

/* Asks a session what it holds: an empty PUT with "Content-Range: bytes * / *" (the total
 * is not sent: "* / 0" would finish an empty upload). 308, 200 and 201 are answers; a session
 * that is gone is GM_ERR_NOT_FOUND. */
static enum gm_rc session_query(struct gcs *s, const char *id, const char *what,
                                struct gm_os_http_resp *resp, struct gm_err *err)
{
	struct gm_os_http_req req;
	struct call c;
	req_setup(&req, &c, s, "PUT", id, what);
	c.hdr[0] = "Content-Range: bytes */*";
	enum gm_rc rc = gm_os_http_do(&s->base.http, &req, resp, err);
	if (rc == GM_OK && (resp->status == 404 || resp->status == 410))
		rc = gm_err_set(err, GM_ERR_NOT_FOUND,
		                "%s: the upload session is gone (expired or cancelled); start the "
		                "upload again",
		                what);
	else if (rc == GM_OK && resp->status != 308 && resp->status != 200 && resp->status != 201)
		rc = fail(s, &req, resp, err);
	return rc;
}

/* Keeps the tail [off, off + len) of a part the store did not persist, to send in front of
 * the next part (a chunk that is not the last must be whole 256 KiB units, and the store
 * may keep fewer than it was sent). */
static void carry_put(struct gcs *s, const char *id, uint64_t off, const void *p, size_t len)
{
	struct carry *c = gm_xcalloc(1, sizeof(*c));
	c->id = gm_xstrdup(id);
	c->off = off;
	gm_buf_add(&c->bytes, p, len);
	pthread_mutex_lock(&s->mu);
	c->next = s->carry;
	s->carry = c;
	pthread_mutex_unlock(&s->mu);
}

static void carry_free(struct carry *c)
{
	free(c->id);
	gm_buf_release(&c->bytes);
	free(c);
}

/* Takes the carried tail of upload id out of the map (NULL when none). */
static struct carry *carry_take(struct gcs *s, const char *id)
{
	struct carry *found = NULL;
	pthread_mutex_lock(&s->mu);
	for (struct carry **pp = &s->carry; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			found = *pp;
			*pp = found->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

static enum gm_rc gcs_up_part(struct gm_os *os, const char *key, const char *id, unsigned number,
                              uint64_t off, const void *data, size_t len, uint64_t total,
                              struct gm_buf *tag, struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf what = GM_BUF_INIT, cr = GM_BUF_INIT, joined = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_os_object obj;
	struct carry *carry = NULL;
	gm_os_http_resp_init(&resp);
	gm_os_object_init(&obj);
	what_of(s, key, &what);
	enum gm_rc rc = check_session(s, id, gm_buf_cstr(&what), err);
	if (rc != GM_OK)
		goto out;
	if (number == 0 || off > total || len > total - off || (!len && off + len != total)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "%s: part %u (%zu bytes at %llu) is not in the %llu bytes of the "
		                "upload",
		                gm_buf_cstr(&what), number, len, (unsigned long long)off,
		                (unsigned long long)total);
		goto out;
	}
	/* what the store did not keep of the part before goes first */
	const char *body = data;
	uint64_t start = off, end = off + len;
	carry = carry_take(s, id);
	if (carry && carry->off + carry->bytes.len == off) {
		gm_buf_grow(&joined, carry->bytes.len + len);
		gm_buf_add(&joined, carry->bytes.data, carry->bytes.len);
		if (len)
			gm_buf_add(&joined, data, len);
		body = joined.data;
		start = carry->off;
	}
	uint64_t at = start;
	bool last = end == total;
	unsigned stuck = 0;
	for (;;) {
		struct gm_os_http_req req;
		struct call c;
		gm_buf_reset(&cr);
		if (end > at)
			gm_buf_addf(&cr, "Content-Range: bytes %llu-%llu/%llu",
			            (unsigned long long)at, (unsigned long long)(end - 1),
			            (unsigned long long)total);
		else
			gm_buf_addf(&cr, "Content-Range: bytes */%llu", (unsigned long long)total);
		req_setup(&req, &c, s, "PUT", id, gm_buf_cstr(&what));
		c.hdr[0] = gm_buf_cstr(&cr);
		req.body = body + (at - start);
		req.body_len = (size_t)(end - at);
		rc = gm_os_http_do(&s->base.http, &req, &resp, err);
		if (rc != GM_OK)
			goto out;
		if (resp.status == 200 || resp.status == 201) {
			if (!last) {
				rc = protocol(err, gm_buf_cstr(&what),
				              "the upload completed before its last part");
				goto out;
			}
			rc = parse_object_answer(&resp, &obj, gm_buf_cstr(&what), err);
			if (rc != GM_OK)
				goto out;
			if (strcmp(gm_buf_cstr(&obj.key), key) != 0 || obj.size != total) {
				rc = protocol(err, gm_buf_cstr(&what),
				              "the uploaded object has another name or size");
				goto out;
			}
			done_put(s, id, &obj);
			break;
		}
		if (resp.status == 404 || resp.status == 410) {
			rc = gm_err_set(
			        err, GM_ERR_NOT_FOUND,
			        "%s: the upload session is gone (expired or cancelled); start "
			        "the upload again",
			        gm_buf_cstr(&what));
			goto out;
		}
		if (resp.status != 308) {
			rc = fail(s, &req, &resp, err);
			goto out;
		}
		uint64_t have = 0;
		rc = persisted_of(&resp, &have, gm_buf_cstr(&what), err);
		if (rc != GM_OK)
			goto out;
		if (have < start || have > total) {
			rc = gm_err_set(
			        err, GM_ERR_PROTOCOL,
			        "%s: the store holds %llu bytes of the upload, not the %llu "
			        "before part %u; resume the upload from what it holds",
			        gm_buf_cstr(&what), (unsigned long long)have,
			        (unsigned long long)start, number);
			goto out;
		}
		if (have >= end && !last)
			break; /* the part is persisted */
		if (!last) {
			/* the store kept less than was sent: the rest goes with the next part */
			carry_put(s, id, have, body + (have - start), (size_t)(end - have));
			break;
		}
		/* the last part did not complete the upload: send what the store lacks again */
		if (have <= at && ++stuck >= RESEND_ROUNDS) {
			rc = gm_err_set(
			        err, GM_ERR_IO,
			        "%s: the store keeps not persisting the last part (%u); try "
			        "again later",
			        gm_buf_cstr(&what), number);
			goto out;
		}
		if (have > at)
			stuck = 0;
		at = have;
	}
	if (tag) {
		gm_buf_reset(tag);
		gm_buf_addf(tag, "%llu", (unsigned long long)end);
	}
out:
	if (carry)
		carry_free(carry);
	gm_os_object_release(&obj);
	gm_os_http_resp_release(&resp);
	gm_buf_release(&what);
	gm_buf_release(&cr);
	gm_buf_release(&joined);
	return rc;
}

/* The object a finished session's answer describes, checked against key. */
static enum gm_rc finished_object(const struct gm_os_http_resp *resp, const char *key,
                                  struct gm_os_object *obj, const char *what, struct gm_err *err)
{
	enum gm_rc rc = parse_object_answer(resp, obj, what, err);
	if (rc == GM_OK && strcmp(gm_buf_cstr(&obj->key), key) != 0)
		rc = protocol(err, what, "the upload made another object");
	return rc;
}

/* Where session id stands: finished (*finished, obj describes the object) or *have bytes
 * persisted so far. */
static enum gm_rc session_state(struct gcs *s, const char *id, const char *key, const char *what,
                                struct gm_os_object *obj, bool *finished, uint64_t *have,
                                struct gm_err *err)
{
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	*finished = false;
	*have = 0;
	enum gm_rc rc = session_query(s, id, what, &resp, err);
	if (rc == GM_OK && resp.status == 308) {
		rc = persisted_of(&resp, have, what, err);
	} else if (rc == GM_OK) {
		rc = finished_object(&resp, key, obj, what, err);
		*finished = rc == GM_OK;
		*have = obj->size;
	}
	gm_os_http_resp_release(&resp);
	return rc;
}

static enum gm_rc gcs_up_parts(struct gm_os *os, const char *key, const char *id,
                               struct gm_os_part **parts, size_t *n, struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf what = GM_BUF_INIT;
	struct gm_os_object obj;
	uint64_t have = 0;
	bool finished = false;
	gm_os_object_init(&obj);
	*parts = NULL;
	*n = 0;
	what_of(s, key, &what);
	enum gm_rc rc = check_session(s, id, gm_buf_cstr(&what), err);
	if (rc == GM_OK)
		rc = session_state(s, id, key, gm_buf_cstr(&what), &obj, &finished, &have, err);
	if (rc != GM_OK)
		goto out;
	if (finished)
		done_put(s, id, &obj);
	if (have) {
		*parts = gm_xcalloc(1, sizeof(**parts));
		(*parts)[0].number = 1;
		(*parts)[0].size = have;
		*n = 1;
	}
out:
	gm_os_object_release(&obj);
	gm_buf_release(&what);
	return rc;
}

static enum gm_rc gcs_up_finish(struct gm_os *os, const char *key, const char *id,
                                const struct gm_os_part *parts, size_t n, struct gm_os_object *out,
                                struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf what = GM_BUF_INIT;
	struct gm_os_object obj;
	uint64_t total = 0;
	gm_os_object_init(&obj);
	what_of(s, key, &what);
	enum gm_rc rc = check_session(s, id, gm_buf_cstr(&what), err);
	if (rc != GM_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		total += parts[i].size;
	if (!done_take(s, id, &obj)) {
		/* finished by an earlier process, or not finished: ask the session */
		uint64_t have = 0;
		bool finished = false;
		rc = session_state(s, id, key, gm_buf_cstr(&what), &obj, &finished, &have, err);
		if (rc == GM_OK && !finished)
			rc = gm_err_set(
			        err, GM_ERR_PROTOCOL,
			        "%s: the upload is not complete: the store holds %llu of %llu "
			        "bytes",
			        gm_buf_cstr(&what), (unsigned long long)have,
			        (unsigned long long)total);
		if (rc != GM_OK)
			goto out;
	}
	if (strcmp(gm_buf_cstr(&obj.key), key) != 0 || (n && obj.size != total)) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "%s: the finished upload is %llu bytes, the parts %llu",
		                gm_buf_cstr(&what), (unsigned long long)obj.size,
		                (unsigned long long)total);
		goto out;
	}
	if (out) {
		struct gm_os_object tmp = *out;
		*out = obj;
		obj = tmp;
	}
out:
	gm_os_object_release(&obj);
	gm_buf_release(&what);
	return rc;
}

static enum gm_rc gcs_up_abort(struct gm_os *os, const char *key, const char *id,
                               struct gm_err *err)
{
	struct gcs *s = to_gcs(os);
	struct gm_buf what = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	gm_os_http_resp_init(&resp);
	what_of(s, key, &what);
	done_take(s, id, NULL);
	struct carry *carry = carry_take(s, id);
	if (carry)
		carry_free(carry);
	enum gm_rc rc = check_session(s, id, gm_buf_cstr(&what), err);
	if (rc == GM_OK) {
		struct gm_os_http_req req;
		struct call c;
		req_setup(&req, &c, s, "DELETE", id, gm_buf_cstr(&what));
		rc = gm_os_http_do(&s->base.http, &req, &resp, err);
		/* 499 is the documented success; a session already gone is fine */
		if (rc == GM_OK && resp.status != 499 && resp.status != 204 && resp.status != 200 &&
		    resp.status != 404 && resp.status != 410)
			rc = fail(s, &req, &resp, err);
	}
	gm_os_http_resp_release(&resp);
	gm_buf_release(&what);
	return rc;
}

static void gcs_close(struct gm_os *os)
{
	struct gcs *s = to_gcs(os);
	gm_gauth_free(s->auth);
	while (s->done) {
		struct done *d = s->done;
		s->done = d->next;
		free(d->id);
		gm_os_object_release(&d->obj);
		free(d);
	}
	while (s->carry) {
		struct carry *c = s->carry;
		s->carry = c->next;
		carry_free(c);
	}
	pthread_mutex_destroy(&s->mu);
	gm_os_http_release(&s->base.http);
	gm_buf_release(&s->base.bucket);
	gm_buf_release(&s->base.endpoint);
	gm_buf_release(&s->api);
	free(s);
}

static const struct gm_os_ops gcs_ops = {
        .list = gcs_list,
        .head = gcs_head,
        .get = gcs_get,
        .put = gcs_put,
        .set_meta = gcs_set_meta,
        .del = gcs_del,
        .up_begin = gcs_up_begin,
        .up_part = gcs_up_part,
        .up_parts = gcs_up_parts,
        .up_finish = gcs_up_finish,
        .up_abort = gcs_up_abort,
        .close = gcs_close,
};

/* GCS bucket names: 3-63 characters (222 with dots) of a-z 0-9 - _ ., starting and ending
 * with a letter or digit. */
static bool bucket_ok(const char *b)
{
	size_t n = strlen(b);
	bool dots = strchr(b, '.') != NULL;
	if (n < 3 || n > (dots ? 222u : 63u))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = b[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
		if (!alnum && ((i == 0 || i == n - 1) || (ch != '-' && ch != '_' && ch != '.')))
			return false;
	}
	return true;
}

/* base = url with "http://" put in front when it has no scheme, no trailing '/'. */
static bool set_base(struct gm_buf *api, const char *url)
{
	gm_buf_reset(api);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		gm_buf_adds(api, "http://");
	gm_buf_adds(api, url);
	while (api->len && api->data[api->len - 1] == '/')
		gm_buf_truncate(api, api->len - 1);
	const char *host = strstr(gm_buf_cstr(api), "://") + 3;
	if (!*host || strchr(host, '?') || strchr(host, '#') || strchr(host, '@'))
		return false;
	for (size_t i = 0; i < api->len; i++)
		if ((unsigned char)api->data[i] <= 0x20 || (unsigned char)api->data[i] >= 0x7f)
			return false;
	return true;
}

enum gm_rc gm_os_gcs_open(const char *bucket, const struct gm_os_opts *opts, struct gm_os **out,
                          struct gm_err *err)
{
	struct gcs *s = gm_xcalloc(1, sizeof(*s));
	enum gm_rc rc = GM_OK;
	bool http_ready = false;
	*out = NULL;
	pthread_mutex_init(&s->mu, NULL);
	if (!bucket_ok(bucket)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "'%s' is not a GCS bucket name (3-63 characters: a-z, 0-9, '-', "
		                "'_', '.')",
		                bucket);
		goto out;
	}
	s->base.ops = &gcs_ops;
	s->base.scheme = "gs";
	gm_buf_adds(&s->base.bucket, bucket);
	s->base.sequential_parts = true;
	s->base.part_min = GCS_CHUNK;
	s->base.part_align = GCS_CHUNK;
	s->base.max_parts = UINT_MAX;

	const char *emu = getenv("STORAGE_EMULATOR_HOST");
	bool auth = true;
	const char *base = GCS_API;
	if (opts && opts->endpoint && *opts->endpoint) {
		base = opts->endpoint;
	} else if (emu && *emu) {
		base = emu;
		auth = false;
	}
	if (!set_base(&s->api, base)) {
		rc = gm_err_set(err, GM_ERR_USAGE, "'%s' is not a usable GCS endpoint URL", base);
		goto out;
	}
	gm_buf_add(&s->base.endpoint, s->api.data, s->api.len);

	struct gm_os_http_opts hopts;
	memset(&hopts, 0, sizeof(hopts));
	hopts.insecure = opts && opts->insecure;
	hopts.base_delay_ms = opts ? opts->base_delay_ms : 0;
	rc = gm_os_http_init(&s->base.http, &hopts, err);
	if (rc != GM_OK)
		goto out;
	http_ready = true;
	if (auth)
		rc = gm_gauth_open(&s->base.http, GM_GAUTH_SCOPE_RW, &s->auth, err);
out:
	if (rc != GM_OK) {
		if (http_ready) {
			gcs_close(&s->base);
		} else {
			pthread_mutex_destroy(&s->mu);
			gm_buf_release(&s->base.bucket);
			gm_buf_release(&s->base.endpoint);
			gm_buf_release(&s->api);
			free(s);
		}
		return rc;
	}
	*out = &s->base;
	return GM_OK;
}

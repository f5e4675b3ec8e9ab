/* Copies images between registries: the manifest walk (index → platform manifests →
 * config and layers), the parallel blob copies (HEAD at the destination, cross-repository
 * mount, else a chunked upload fed by a concurrent download of the source blob and hashed
 * on the way, journalled so a later run resumes it), and the manifest PUTs, children
 * before the index, with their exact bytes. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s/oci.h"
#include "k8s/oci_http.h"
#include "k8s/oci_resume.h"
#include "util/doc.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST  "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_V2    "application/vnd.docker.distribution.manifest.v2+json"
#define ACCEPT_ALL      MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_V2

#define CHUNK_RETRIES 3

struct gm_oci_mirror {
	struct gm_oci_mirror_opts o;
	struct gm_oci_registry *regs;
	CURL *h;
	atomic_bool journal_warned; /* the upload journal failed once: said so */
};

enum gm_rc gm_oci_mirror_new(const struct gm_oci_mirror_opts *opts, struct gm_oci_mirror **out,
                             struct gm_err *err)
{
	*out = NULL;
	if (opts->jobs < 1 || opts->chunk_size < 1)
		return gm_err_set(err, GM_ERR_USAGE, "jobs and chunk size must be at least 1");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) /* says why: util/curl_dl.c */
		return gm_err_set(err, GM_ERR_UNSUPPORTED, "%s",
		                  curl_easy_strerror(CURLE_FAILED_INIT));
	struct gm_oci_mirror *m = gm_xcalloc(1, sizeof(*m));
	m->o = *opts;
	m->h = curl_easy_init();
	if (!m->h) {
		free(m);
		return gm_err_set(err, GM_ERR_INTERNAL, "libcurl could not start");
	}
	*out = m;
	return GM_OK;
}

void gm_oci_mirror_free(struct gm_oci_mirror *m)
{
	if (!m)
		return;
	while (m->regs) {
		struct gm_oci_registry *n = m->regs->next;
		gm_oci_registry_close(m->regs);
		free(m->regs);
		m->regs = n;
	}
	if (m->h)
		curl_easy_cleanup(m->h);
	free(m);
	curl_global_cleanup();
}

static enum gm_rc get_registry(struct gm_oci_mirror *m, const struct gm_oci_ref *ref,
                               struct gm_oci_registry **out, struct gm_err *err)
{
	const char *host = gm_oci_api_host(ref);
	bool plain = ref->plain_http;
	for (const char *const *i = m->o.insecure; i && *i; i++)
		if (strcmp(*i, host) == 0 || strcmp(*i, ref->registry) == 0)
			plain = true;
	for (struct gm_oci_registry *r = m->regs; r; r = r->next) {
		if (strcmp(r->host, host) == 0 && (strncmp(r->base, "http:", 5) == 0) == plain) {
			*out = r;
			return GM_OK;
		}
	}
	struct gm_oci_registry *r = gm_xcalloc(1, sizeof(*r));
	enum gm_rc rc = gm_oci_registry_open(r, host, plain, err);
	if (rc != GM_OK) {
		gm_oci_registry_close(r);
		free(r);
		return rc;
	}
	r->next = m->regs;
	m->regs = r;
	*out = r;
	return GM_OK;
}

/* One descriptor of a manifest: a blob, or a platform manifest of an index. */
struct desc {
	char *digest;
	uint64_t size;
	char *media_type;
	char *platform; /* "os/arch[/variant]" for index entries */
};

static void descs_free(struct desc *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].digest);
		free(d[i].media_type);
		free(d[i].platform);
	}
	free(d);
}

/* A manifest as fetched: its bytes (never re-serialised), type and digest. */
struct manifest {
	struct gm_buf bytes, media_type, digest;
	bool is_index;
	struct desc *d; /* index: platform manifests; image: config then layers */
	size_t n;
};

static void manifest_release(struct manifest *mf)
{
	gm_buf_release(&mf->bytes);
	gm_buf_release(&mf->media_type);
	gm_buf_release(&mf->digest);
	descs_free(mf->d, mf->n);
	mf->d = NULL;
	mf->n = 0;
}

static void repo_url(const struct gm_oci_registry *r, const char *repo, const char *what,
                     const char *ref, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_addf(out, "%s/v2/%s/%s/%s", r->base, repo, what, ref);
}

static enum gm_rc parse_desc(const struct gm_doc *doc, struct fy_node *n, struct desc *d,
                             bool want_platform, struct gm_err *err)
{
	const char *dg = gm_doc_scalar(gm_doc_get(n, "digest"));
	const char *mt = gm_doc_scalar(gm_doc_get(n, "mediaType"));
	int64_t size = -1;
	memset(d, 0, sizeof(*d));
	if (!gm_oci_digest_valid(dg) || gm_doc_get_i64(doc, n, "size", &size, err) != GM_OK ||
	    size < 0)
		return gm_err_set(err, GM_ERR_PARSE,
		                  "a descriptor without a sha256 digest and a size");
	d->digest = gm_xstrdup(dg);
	d->size = (uint64_t)size;
	d->media_type = mt ? gm_xstrdup(mt) : NULL;
	if (want_platform) {
		struct fy_node *p = gm_doc_get(n, "platform");
		const char *os = gm_doc_scalar(gm_doc_get(p, "os"));
		const char *arch = gm_doc_scalar(gm_doc_get(p, "architecture"));
		const char *var = gm_doc_scalar(gm_doc_get(p, "variant"));
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_addf(&b, "%s/%s", os ? os : "unknown", arch ? arch : "unknown");
		if (var && *var)
			gm_buf_addf(&b, "/%s", var);
		d->platform = gm_buf_detach(&b);
	}
	return GM_OK;
}

static bool is_index_type(const char *t)
{
	return strcmp(t, MT_OCI_INDEX) == 0 || strcmp(t, MT_DOCKER_LIST) == 0;
}

static bool is_image_type(const char *t)
{
	return strcmp(t, MT_OCI_MANIFEST) == 0 || strcmp(t, MT_DOCKER_V2) == 0;
}

/* GETs repo's manifest ref from r and parses its descriptors; want_digest (or ref when it
 * is a digest) must match the bytes. */
static enum gm_rc fetch_manifest(struct gm_oci_registry *r, CURL *h, const char *repo,
                                 const char *ref, const char *want_digest, struct manifest *mf,
                                 struct gm_err *err)
{
	struct gm_buf url = GM_BUF_INIT, scope = GM_BUF_INIT;
	struct gm_oci_resp rs = {0};
	struct gm_doc doc = {0};
	enum gm_rc rc;
	repo_url(r, repo, "manifests", ref, &url);
	gm_buf_addf(&scope, "repository:%s:pull", repo);
	struct gm_oci_req q = {.method = "GET",
	                       .url = gm_buf_cstr(&url),
	                       .accept = ACCEPT_ALL,
	                       .scope = gm_buf_cstr(&scope),
	                       .body_cap = GM_OCI_MAX_MANIFEST};
	if ((rc = gm_oci_http(r, h, &q, &rs, err)) != GM_OK)
		goto out;
	if (rs.status == 404) {
		rc = gm_err_set(err, GM_ERR_NOT_FOUND, "'%s/%s:%s' is not in the registry", r->host,
		                repo, ref);
		goto out;
	}
	if (rs.status != 200) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "GET manifest '%s/%s:%s': HTTP %ld", r->host,
		                repo, ref, rs.status);
		goto out;
	}
	if (rs.truncated) {
		rc = gm_err_set(err, GM_ERR_LIMIT, "manifest '%s/%s:%s' is over %u MiB", r->host,
		                repo, ref, GM_OCI_MAX_MANIFEST >> 20);
		goto out;
	}
	gm_buf_reset(&mf->bytes);
	gm_buf_add(&mf->bytes, gm_buf_cstr(&rs.body), rs.body.len);
	gm_buf_grow(&mf->bytes, 0);
	gm_buf_reset(&mf->digest);
	gm_oci_digest_of(gm_buf_cstr(&rs.body), rs.body.len, &mf->digest);
	if (!want_digest && ref && strncmp(ref, "sha256:", 7) == 0)
		want_digest = ref;
	if (want_digest && strcmp(want_digest, gm_buf_cstr(&mf->digest)) != 0) {
		rc = gm_err_set(err, GM_ERR_MISMATCH, "manifest '%s/%s@%s' hashes to %s: refused",
		                r->host, repo, want_digest, gm_buf_cstr(&mf->digest));
		goto out;
	}
	if ((rc = gm_doc_load_string(&doc, "manifest", gm_buf_cstr(&mf->bytes), mf->bytes.len,
	                             err)) != GM_OK)
		goto out;
	struct fy_node *root = gm_doc_root(&doc);
	const char *mt = gm_doc_scalar(gm_doc_get(root, "mediaType"));
	gm_buf_reset(&mf->media_type);
	if (mt && *mt)
		gm_buf_adds(&mf->media_type, mt);
	else
		gm_buf_add(&mf->media_type, gm_buf_cstr(&rs.content_type),
		           strcspn(gm_buf_cstr(&rs.content_type), "; "));
	const char *t = gm_buf_cstr(&mf->media_type);
	if (is_index_type(t)) {
		struct fy_node *list = gm_doc_get(root, "manifests");
		mf->is_index = true;
		int n = gm_doc_is_seq(list) ? gm_doc_seq_len(list) : 0;
		mf->d = gm_xcalloc((size_t)n + 1, sizeof(*mf->d));
		for (int i = 0; i < n; i++) {
			if ((rc = parse_desc(&doc, gm_doc_seq_at(list, i), &mf->d[mf->n], true,
			                     err)) != GM_OK)
				goto bad;
			mf->n++;
		}
	} else if (is_image_type(t)) {
		struct fy_node *layers = gm_doc_get(root, "layers");
		int n = gm_doc_is_seq(layers) ? gm_doc_seq_len(layers) : 0;
		mf->d = gm_xcalloc((size_t)n + 1, sizeof(*mf->d));
		if ((rc = parse_desc(&doc, gm_doc_get(root, "config"), &mf->d[0], false, err)) !=
		    GM_OK)
			goto bad;
		mf->n = 1;
		for (int i = 0; i < n; i++) {
			struct fy_node *l = gm_doc_seq_at(layers, i);
			if ((rc = parse_desc(&doc, l, &mf->d[mf->n], false, err)) != GM_OK)
				goto bad;
			mf->n++;
			if (gm_doc_get(l, "urls")) { /* a foreign layer: not in the registry */
				mf->n--;
				free(mf->d[mf->n].digest);
				free(mf->d[mf->n].media_type);
				memset(&mf->d[mf->n], 0, sizeof(mf->d[mf->n]));
			}
		}
	} else {
		rc = gm_err_set(err, GM_ERR_UNSUPPORTED,
		                "'%s/%s:%s' has media type '%s'; gpumigrate copies OCI and Docker "
		                "v2 images and indexes",
		                r->host, repo, ref, t);
	}
	goto out;
bad : {
	char *why = gm_xstrdup(gm_err_msg(err));
	rc = gm_err_set(err, GM_ERR_PARSE, "manifest '%s/%s:%s': %s", r->host, repo, ref, why);
	free(why);
}
out:
	gm_doc_release(&doc);
	gm_oci_resp_release(&rs);
	gm_buf_release(&scope);
	gm_buf_release(&url);
	return rc;
}

/* HEADs repo's manifest ref at r; *digest gets Docker-Content-Digest. */
static enum gm_rc head_manifest(struct gm_oci_registry *r, CURL *h, const char *repo,
                                const char *ref, bool *present, struct gm_buf *digest,
                                struct gm_err *err)
{
	struct gm_buf url = GM_BUF_INIT, scope = GM_BUF_INIT;
	struct gm_oci_resp rs = {0};
	repo_url(r, repo, "manifests", ref, &url);
	gm_buf_addf(&scope, "repository:%s:pull,push", repo);
	struct gm_oci_req q = {.method = "HEAD",
	                       .url = gm_buf_cstr(&url),
	                       .accept = ACCEPT_ALL,
	                       .scope = gm_buf_cstr(&scope)};
	enum gm_rc rc = gm_oci_http(r, h, &q, &rs, err);
	*present = false;
	if (rc == GM_OK) {
		if (rs.status == 200) {
			*present = true;
			if (digest) {
				gm_buf_reset(digest);
				gm_buf_add(digest, gm_buf_cstr(&rs.digest), rs.digest.len);
				gm_buf_grow(digest, 0);
			}
		} else if (rs.status != 404) {
			rc = gm_err_set(err, GM_ERR_PROTOCOL, "HEAD manifest '%s/%s:%s': HTTP %ld",
			                r->host, repo, ref, rs.status);
		}
	}
	gm_oci_resp_release(&rs);
	gm_buf_release(&scope);
	gm_buf_release(&url);
	return rc;
}

static enum gm_rc put_manifest(struct gm_oci_registry *r, CURL *h, const char *repo,
                               const char *ref, const struct manifest *mf, struct gm_err *err)
{
	struct gm_buf url = GM_BUF_INIT, scope = GM_BUF_INIT;
	struct gm_oci_resp rs = {0};
	repo_url(r, repo, "manifests", ref, &url);
	gm_buf_addf(&scope, "repository:%s:pull,push", repo);
	struct gm_oci_req q = {.method = "PUT",
	                       .url = gm_buf_cstr(&url),
	                       .content_type = gm_buf_cstr(&mf->media_type),
	                       .body = mf->bytes.data,
	                       .body_len = mf->bytes.len,
	                       .scope = gm_buf_cstr(&scope),
	                       .body_cap = 16 << 10};
	enum gm_rc rc = gm_oci_http(r, h, &q, &rs, err);
	if (rc == GM_OK && rs.status != 201 && rs.status != 200)
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "PUT manifest '%s/%s:%s': HTTP %ld: %.300s",
		                r->host, repo, ref, rs.status, gm_buf_cstr(&rs.body));
	gm_oci_resp_release(&rs);
	gm_buf_release(&scope);
	gm_buf_release(&url);
	return rc;
}

/* ---- blob copies ---- */

/* The bytes between the download thread and the uploader: a bounded ring. */
struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf;
	size_t cap, rpos, len;
	bool eof, cancel;
	uint64_t total; /* bytes the download delivered */
	uint64_t limit; /* the descriptor's size: more is refused */
	gnutls_hash_hd_t hash;
};

static bool pipe_sink(void *ctx, const char *p, size_t n)
{
	struct pipe *pp = ctx;
	pthread_mutex_lock(&pp->mu);
	if (pp->total + n > pp->limit)
		pp->cancel = true;
	else
		gnutls_hash(pp->hash, p, n);
	pp->total += n;
	while (n && !pp->cancel) {
		while (pp->len == pp->cap && !pp->cancel)
			pthread_cond_wait(&pp->cv, &pp->mu);
		if (pp->cancel)
			break;
		size_t w = (pp->rpos + pp->len) % pp->cap;
		size_t room = pp->cap - pp->len;
		size_t k = n < room ? n : room;
		if (k > pp->cap - w)
			k = pp->cap - w;
		memcpy(pp->buf + w, p, k);
		pp->len += k;
		p += k;
		n -= k;
		pthread_cond_broadcast(&pp->cv);
	}
	bool ok = !pp->cancel;
	pthread_mutex_unlock(&pp->mu);
	return ok;
}

/* Reads up to want bytes into out; fewer only at the end. */
static size_t pipe_read(struct pipe *pp, char *out, size_t want)
{
	size_t got = 0;
	pthread_mutex_lock(&pp->mu);
	while (got < want) {
		while (pp->len == 0 && !pp->eof && !pp->cancel)
			pthread_cond_wait(&pp->cv, &pp->mu);
		if (pp->len == 0)
			break;
		size_t k = want - got < pp->len ? want - got : pp->len;
		if (k > pp->cap - pp->rpos)
			k = pp->cap - pp->rpos;
		memcpy(out + got, pp->buf + pp->rpos, k);
		pp->rpos = (pp->rpos + k) % pp->cap;
		pp->len -= k;
		got += k;
		pthread_cond_broadcast(&pp->cv);
	}
	pthread_mutex_unlock(&pp->mu);
	return got;
}

struct image_job;

struct download {
	struct image_job *job;
	const struct desc *d;
	struct pipe *pp;
	enum gm_rc rc;
	struct gm_err err;
	struct gm_buf digest; /* what the bytes hashed to */
};

struct image_job {
	struct gm_oci_mirror *m;
	struct gm_oci_registry *src, *dst;
	const char *src_repo, *dst_repo;
	struct desc *blobs;
	size_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next, running;
	struct gm_err first_err;
	unsigned failed;
	struct gm_oci_stats stats;
	atomic_uint_fast64_t bytes_done;
	atomic_uint done;
	uint64_t total;
};

static void *download_main(void *arg)
{
	struct download *dl = arg;
	struct image_job *j = dl->job;
	struct gm_buf url = GM_BUF_INIT, scope = GM_BUF_INIT;
	struct gm_oci_resp rs = {0};
	CURL *h = curl_easy_init();
	unsigned char md[32];
	repo_url(j->src, j->src_repo, "blobs", dl->d->digest, &url);
	gm_buf_addf(&scope, "repository:%s:pull", j->src_repo);
	struct gm_oci_req q = {.method = "GET",
	                       .url = gm_buf_cstr(&url),
	                       .scope = gm_buf_cstr(&scope),
	                       .body_cap = 16 << 10,
	                       .sink = pipe_sink,
	                       .sink_ctx = dl->pp};
	if (!h)
		dl->rc = gm_err_set(&dl->err, GM_ERR_INTERNAL, "libcurl could not start");
	else
		dl->rc = gm_oci_http(j->src, h, &q, &rs, &dl->err);
	if (dl->rc == GM_OK && rs.status != 200)
		dl->rc = gm_err_set(&dl->err, rs.status == 404 ? GM_ERR_NOT_FOUND : GM_ERR_PROTOCOL,
		                    "GET blob '%s' from '%s/%s': HTTP %ld", dl->d->digest,
		                    j->src->host, j->src_repo, rs.status);
	pthread_mutex_lock(&dl->pp->mu);
	if (dl->rc == GM_ERR_INTERRUPTED && dl->pp->total > dl->pp->limit)
		dl->rc = gm_err_set(&dl->err, GM_ERR_MISMATCH,
		                    "blob '%s' from '%s/%s' is longer than its %llu bytes: refused",
		                    dl->d->digest, j->src->host, j->src_repo,
		                    (unsigned long long)dl->d->size);
	gnutls_hash_output(dl->pp->hash, md);
	gm_buf_adds(&dl->digest, "sha256:");
	for (size_t i = 0; i < sizeof(md); i++)
		gm_buf_addf(&dl->digest, "%02x", md[i]);
	dl->pp->eof = true;
	if (dl->rc != GM_OK)
		dl->pp->cancel = true;
	pthread_cond_broadcast(&dl->pp->cv);
	pthread_mutex_unlock(&dl->pp->mu);
	if (h)
		curl_easy_cleanup(h);
	gm_oci_resp_release(&rs);
	gm_buf_release(&scope);
	gm_buf_release(&url);
	return NULL;
}

/* PATCHes chunk (at offset start of the upload) to *loc, re-asking the upload's status and
 * resending the rest after a failure. *loc follows the registry's new Location. */
static enum gm_rc patch_chunk(struct image_job *j, CURL *h, struct gm_buf *loc, const char *scope,
                              const char *chunk, size_t len, uint64_t start, struct gm_err *err)
{
	struct gm_oci_resp rs = {0};
	struct gm_buf range = GM_BUF_INIT, url = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	size_t sent = 0;
	for (int tries = 0; sent < len; tries++) {
		gm_buf_reset(&range);
		uint64_t first = start + sent, last = start + len - 1;
		gm_buf_addf(&range, "%llu-%llu", (unsigned long long)first,
		            (unsigned long long)last);
		struct gm_oci_req q = {.method = "PATCH",
		                       .url = gm_buf_cstr(loc),
		                       .content_range = gm_buf_cstr(&range),
		                       .body = chunk + sent,
		                       .body_len = len - sent,
		                       .scope = scope,
		                       .body_cap = 16 << 10};
		rc = gm_oci_http(j->dst, h, &q, &rs, err);
		if (rc == GM_OK && rs.status == 202 && rs.location.len) {
			gm_oci_abs_url(j->dst, gm_buf_cstr(&rs.location), &url);
			gm_buf_reset(loc);
			gm_buf_add(loc, url.data, url.len);
			gm_buf_grow(loc, 0);
			break;
		}
		if (rc == GM_OK)
			rc = gm_err_set(err, GM_ERR_PROTOCOL, "PATCH upload to '%s/%s': HTTP %ld",
			                j->dst->host, j->dst_repo, rs.status);
		if (rc == GM_ERR_PERMISSION || tries >= CHUNK_RETRIES)
			goto out;
		gm_warn("%s; asking the registry how much it has", gm_err_msg(err));
		/* How much arrived? GET on the upload URL answers Range: 0-N. */
		struct gm_oci_req st = {.method = "GET",
		                        .url = gm_buf_cstr(loc),
		                        .scope = scope,
		                        .body_cap = 16 << 10};
		uint64_t have = 0;
		rc = gm_oci_http(j->dst, h, &st, &rs, err);
		if (rc != GM_OK || rs.status != 204 ||
		    gm_oci_parse_range(gm_buf_cstr(&rs.range), &have) != GM_OK || have < start ||
		    have > start + len) {
			rc = gm_err_set(err, GM_ERR_PROTOCOL,
			                "the upload to '%s/%s' cannot be resumed (HTTP %ld, Range "
			                "'%s')",
			                j->dst->host, j->dst_repo, rs.status,
			                gm_buf_cstr(&rs.range));
			goto out;
		}
		if (rs.location.len) {
			gm_oci_abs_url(j->dst, gm_buf_cstr(&rs.location), &url);
			gm_buf_reset(loc);
			gm_buf_add(loc, url.data, url.len);
			gm_buf_grow(loc, 0);
		}
		sent = (size_t)(have - start);
		rc = GM_OK;
		gm_err_clear(err);
	}
out:
	gm_oci_resp_release(&rs);
	gm_buf_release(&range);
	gm_buf_release(&url);
	return rc;
}

enum blob_result { BLOB_COPIED, BLOB_SKIPPED, BLOB_MOUNTED };

/* Says once per session that the upload journal cannot be kept, and stops using it for
 * this blob: the copy goes on, only a rerun after an interruption starts from zero. */
static void journal_give_up(struct image_job *j, struct gm_oci_resume *jr, struct gm_err *jerr)
{
	if (!atomic_exchange(&j->m->journal_warned, true))
		gm_warn("%s; an interrupted copy will start its blobs again", gm_err_msg(jerr));
	gm_buf_reset(&jr->path);
	gm_err_clear(jerr);
}

/* Asks the registry about the upload an earlier run journalled for this blob. When it
 * still holds one whose bytes fit the blob, *have gets their count and loc the URL to go
 * on with; otherwise the journal goes (and an upload the registry still has but that does
 * not fit is cancelled) and *have is 0. Only a failure to reach the registry is an error
 * (the journal stays for the next try). The saved URL is never logged. */
static enum gm_rc resume_probe(struct image_job *j, CURL *h, const struct desc *d,
                               struct gm_oci_resume *jr, const char *scope, struct gm_buf *loc,
                               uint64_t *have, struct gm_err *err)
{
	struct gm_oci_resp rs = {0};
	struct gm_err gerr = GM_ERR_INIT;
	uint64_t n = 0;
	enum gm_rc rc = GM_OK;
	*have = 0;
	if (!gm_oci_resume_load(jr)) { /* absent, or unusable: as good as absent */
		gm_oci_resume_remove(jr);
		goto out;
	}
	struct gm_oci_req st = {.method = "GET",
	                        .url = gm_buf_cstr(&jr->location),
	                        .scope = scope,
	                        .body_cap = 16 << 10};
	enum gm_rc grc = gm_oci_http(j->dst, h, &st, &rs, &gerr);
	if (grc == GM_ERR_UNREACHABLE) {
		rc = gm_err_set(err, grc, "cannot reach '%s' to resume the upload of %s",
		                j->dst->host, d->digest);
		goto out;
	}
	/* "0-0" is what the registry says for 0 bytes and for 1: not worth resuming */
	if (grc == GM_OK && rs.status == 204 &&
	    gm_oci_parse_range(gm_buf_cstr(&rs.range), &n) == GM_OK && n > 1 && n <= d->size) {
		if (rs.location.len)
			gm_oci_abs_url(j->dst, gm_buf_cstr(&rs.location), loc);
		else {
			gm_buf_reset(loc);
			gm_buf_add(loc, jr->location.data, jr->location.len);
			gm_buf_grow(loc, 0);
		}
		*have = n;
		gm_info("resuming the upload of %s to '%s/%s' at %llu of %llu bytes", d->digest,
		        j->dst->host, j->dst_repo, (unsigned long long)n,
		        (unsigned long long)d->size);
		goto out;
	}
	gm_info("the earlier upload of %s is gone; starting it again", d->digest);
	gm_debug("its status: HTTP %ld, Range '%s'", rs.status, gm_buf_cstr(&rs.range));
	if (grc == GM_OK && rs.status == 204) { /* there, but not usable: cancel it */
		struct gm_oci_req del = {
		        .method = "DELETE", .url = gm_buf_cstr(&jr->location), .scope = scope};
		gm_oci_http(j->dst, h, &del, &rs, &gerr);
	}
	gm_oci_resume_remove(jr);
out:
	gm_err_release(&gerr);
	gm_oci_resp_release(&rs);
	return rc;
}

static bool stop_asked(const struct gm_oci_mirror *m)
{
	return m->o.stop && *m->o.stop;
}

static enum gm_rc copy_blob(struct image_job *j, CURL *h, const struct desc *d,
                            enum blob_result *res, uint64_t *resumed, struct gm_err *err)
{
	struct gm_buf url = GM_BUF_INIT, scope = GM_BUF_INIT, loc = GM_BUF_INIT;
	struct gm_oci_resp rs = {0};
	struct gm_oci_resume jr;
	struct gm_err jerr = GM_ERR_INIT;
	struct pipe pp;
	pthread_t th;
	struct download dl = {0};
	bool started = false, hash_init = false;
	char *chunk = NULL;
	enum gm_rc rc;
	size_t chunk_size = j->m->o.chunk_size;
	uint64_t resume_at = 0, held = 0; /* held: what the registry had at the start */
	bool journalled = false;          /* a journal on disk names this upload */
	*resumed = 0;
	memset(&pp, 0, sizeof(pp));
	if (stop_asked(j->m))
		return gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted before blob %s", d->digest);
	gm_oci_resume_init(&jr, j->dst->base, j->dst_repo, d->digest);
	if (gm_oci_resume_open(&jr, &jerr) != GM_OK)
		journal_give_up(j, &jr, &jerr);
	gm_buf_addf(&scope, "repository:%s:pull,push", j->dst_repo);
	repo_url(j->dst, j->dst_repo, "blobs", d->digest, &url);
	struct gm_oci_req head = {
	        .method = "HEAD", .url = gm_buf_cstr(&url), .scope = gm_buf_cstr(&scope)};
	if ((rc = gm_oci_http(j->dst, h, &head, &rs, err)) != GM_OK)
		goto out;
	if (rs.status == 200) {
		gm_oci_resume_remove(&jr);
		*res = BLOB_SKIPPED;
		goto out;
	}
	if ((rc = resume_probe(j, h, d, &jr, gm_buf_cstr(&scope), &loc, &resume_at, err)) != GM_OK)
		goto out;
	held = resume_at;
	journalled = held > 0;
	if (!resume_at) {
		gm_buf_reset(&url);
		gm_buf_addf(&url, "%s/v2/%s/blobs/uploads/", j->dst->base, j->dst_repo);
		if (j->src == j->dst && strcmp(j->src_repo, j->dst_repo) != 0) {
			char *e = curl_easy_escape(h, j->src_repo, 0);
			gm_buf_addf(&url, "?mount=%s&from=%s", d->digest, e ? e : "");
			curl_free(e);
			gm_buf_addf(&scope, " repository:%s:pull", j->src_repo);
		}
		struct gm_oci_req post = {.method = "POST",
		                          .url = gm_buf_cstr(&url),
		                          .scope = gm_buf_cstr(&scope),
		                          .body_cap = 16 << 10};
		if ((rc = gm_oci_http(j->dst, h, &post, &rs, err)) != GM_OK)
			goto out;
		if (rs.status == 201 && j->src == j->dst) {
			gm_oci_resume_remove(&jr);
			*res = BLOB_MOUNTED;
			goto out;
		}
		if (rs.status != 202 || !rs.location.len) {
			rc = gm_err_set(err, GM_ERR_PROTOCOL,
			                "POST upload to '%s/%s': HTTP %ld: %.300s", j->dst->host,
			                j->dst_repo, rs.status, gm_buf_cstr(&rs.body));
			goto out;
		}
		gm_oci_abs_url(j->dst, gm_buf_cstr(&rs.location), &loc);
	}

	/* the download, hashed as it arrives, into a ring the uploader drains */
	pthread_mutex_init(&pp.mu, NULL);
	pthread_cond_init(&pp.cv, NULL);
	pp.cap = chunk_size < (1u << 20) ? chunk_size : (4u << 20);
	if (pp.cap < (64u << 10))
		pp.cap = 64u << 10;
	pp.buf = gm_xmalloc(pp.cap);
	pp.limit = d->size;
	if (gnutls_hash_init(&pp.hash, GNUTLS_DIG_SHA256) != 0) {
		rc = gm_err_set(err, GM_ERR_INTERNAL, "GnuTLS has no SHA-256");
		goto out;
	}
	hash_init = true;
	dl.job = j;
	dl.d = d;
	dl.pp = &pp;
	gm_err_init(&dl.err);
	if (pthread_create(&th, NULL, download_main, &dl) != 0) {
		rc = gm_err_set(err, GM_ERR_INTERNAL, "cannot start a download thread");
		goto out;
	}
	started = true;
	chunk = gm_xmalloc(chunk_size);
	uint64_t off = 0;
	bool monolithic = false;
	/* what the registry already holds: hashed by the download, not sent again */
	while (off < resume_at) {
		size_t want = resume_at - off < chunk_size ? (size_t)(resume_at - off) : chunk_size;
		size_t got = pipe_read(&pp, chunk, want);
		if (got == 0)
			break;
		off += got;
		atomic_fetch_add(&j->bytes_done, got);
	}
	while (off == resume_at) { /* else the download stopped early */
		size_t got = pipe_read(&pp, chunk, chunk_size);
		if (got == 0)
			break;
		if (off == 0 && got < chunk_size) { /* all of it in one piece: PUT it */
			monolithic = true;
			off = got;
			break;
		}
		rc = patch_chunk(j, h, &loc, gm_buf_cstr(&scope), chunk, got, off, err);
		if (rc != GM_OK)
			goto out;
		off += got;
		resume_at = off; /* stays in step: what is sent from here on is new */
		atomic_fetch_add(&j->bytes_done, got);
		if (jr.path.len) { /* the registry has acknowledged up to off */
			gm_buf_reset(&jr.location);
			gm_buf_add(&jr.location, loc.data, loc.len);
			gm_buf_grow(&jr.location, 0);
			jr.acked = off;
			if (gm_oci_resume_save(&jr, &jerr) == GM_OK)
				journalled = true;
			else
				journal_give_up(j, &jr, &jerr);
		}
		if (off < d->size && stop_asked(j->m)) { /* the upload stays for the next run */
			rc = gm_err_set(err, GM_ERR_INTERRUPTED,
			                "interrupted with %llu of %llu bytes of blob %s sent",
			                (unsigned long long)off, (unsigned long long)d->size,
			                d->digest);
			goto out;
		}
	}
	pthread_join(th, NULL);
	started = false;
	if (dl.rc != GM_OK) {
		rc = dl.rc;
		gm_err_set(err, rc, "%s", gm_err_msg(&dl.err));
		if (rc != GM_ERR_MISMATCH && journalled)
			goto out; /* the upload and its journal stay for a rerun */
		goto cancel;
	}
	if (off != d->size || strcmp(gm_buf_cstr(&dl.digest), d->digest) != 0) {
		rc = gm_err_set(err, GM_ERR_MISMATCH,
		                "blob '%s' from '%s/%s' hashes to %s (%llu bytes, %llu expected): "
		                "refused, nothing committed",
		                d->digest, j->src->host, j->src_repo, gm_buf_cstr(&dl.digest),
		                (unsigned long long)off, (unsigned long long)d->size);
		goto cancel;
	}
	gm_buf_reset(&url);
	gm_buf_addf(&url, "%s%cdigest=%s", gm_buf_cstr(&loc),
	            strchr(gm_buf_cstr(&loc), '?') ? '&' : '?', d->digest);
	struct gm_oci_req put = {.method = "PUT",
	                         .url = gm_buf_cstr(&url),
	                         .body = monolithic ? chunk : NULL,
	                         .body_len = monolithic ? (size_t)off : 0,
	                         .scope = gm_buf_cstr(&scope),
	                         .body_cap = 16 << 10};
	if ((rc = gm_oci_http(j->dst, h, &put, &rs, err)) != GM_OK)
		goto out;
	if (rs.status != 201) { /* refused: a rerun must not resume this upload */
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "PUT blob '%s' to '%s/%s': HTTP %ld: %.300s",
		                d->digest, j->dst->host, j->dst_repo, rs.status,
		                gm_buf_cstr(&rs.body));
		gm_oci_resume_remove(&jr);
		goto out;
	}
	gm_oci_resume_remove(&jr);
	if (monolithic)
		atomic_fetch_add(&j->bytes_done, off);
	*res = BLOB_COPIED;
	*resumed = held;
	goto out;
cancel : {
	struct gm_err ignore = GM_ERR_INIT;
	struct gm_oci_req del = {
	        .method = "DELETE", .url = gm_buf_cstr(&loc), .scope = gm_buf_cstr(&scope)};
	gm_oci_http(j->dst, h, &del, &rs, &ignore);
	gm_err_release(&ignore);
	gm_oci_resume_remove(&jr);
}
out:
	if (started) {
		pthread_mutex_lock(&pp.mu);
		pp.cancel = true;
		pthread_cond_broadcast(&pp.cv);
		pthread_mutex_unlock(&pp.mu);
		pthread_join(th, NULL);
	}
	if (pp.buf) {
		if (hash_init)
			gnutls_hash_deinit(pp.hash, NULL);
		pthread_mutex_destroy(&pp.mu);
		pthread_cond_destroy(&pp.cv);
		free(pp.buf);
	}
	gm_err_release(&dl.err);
	gm_buf_release(&dl.digest);
	free(chunk);
	gm_oci_resp_release(&rs);
	gm_oci_resume_release(&jr);
	gm_err_release(&jerr);
	gm_buf_release(&loc);
	gm_buf_release(&scope);
	gm_buf_release(&url);
	return rc;
}

static void *worker_main(void *arg)
{
	struct image_job *j = arg;
	CURL *h = curl_easy_init();
	struct gm_err err = GM_ERR_INIT;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		size_t i = j->next < j->n && (h || !j->failed) ? j->next++ : j->n;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			break;
		enum blob_result res = BLOB_COPIED;
		uint64_t resumed = 0;
		enum gm_rc rc = h ? copy_blob(j, h, &j->blobs[i], &res, &resumed, &err)
		                  : gm_err_set(&err, GM_ERR_INTERNAL, "libcurl could not start");
		pthread_mutex_lock(&j->mu);
		if (rc != GM_OK) {
			if (!j->failed++)
				gm_err_set(&j->first_err, rc, "%s", gm_err_msg(&err));
			else
				gm_debug("also failed: %s", gm_err_msg(&err));
		} else if (res == BLOB_SKIPPED) {
			j->stats.blobs_skipped++;
		} else if (res == BLOB_MOUNTED) {
			j->stats.blobs_mounted++;
		} else {
			j->stats.blobs_copied++;
			j->stats.bytes += j->blobs[i].size - resumed;
			j->stats.bytes_resumed += resumed;
		}
		pthread_mutex_unlock(&j->mu);
		atomic_fetch_add(&j->done, 1);
		gm_err_clear(&err);
	}
	pthread_mutex_lock(&j->mu);
	j->running--;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	gm_err_release(&err);
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

static enum gm_rc copy_blobs(struct image_job *j, struct gm_err *err)
{
	unsigned nt = j->m->o.jobs < j->n ? j->m->o.jobs : (unsigned)j->n;
	pthread_t *th = gm_xcalloc(nt ? nt : 1, sizeof(*th));
	unsigned started = 0;
	for (size_t i = 0; i < j->n; i++)
		j->total += j->blobs[i].size;
	pthread_mutex_lock(&j->mu);
	for (unsigned i = 0; i < nt; i++) {
		if (pthread_create(&th[i], NULL, worker_main, j) != 0)
			break;
		started++;
		j->running++;
	}
	while (j->running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&j->cv, &j->mu, &ts);
		if (j->m->o.progress && j->running) {
			pthread_mutex_unlock(&j->mu);
			j->m->o.progress(j->m->o.progress_ctx, atomic_load(&j->bytes_done),
			                 j->total, atomic_load(&j->done), (unsigned)j->n);
			pthread_mutex_lock(&j->mu);
		}
	}
	pthread_mutex_unlock(&j->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (started == 0 && nt > 0)
		return gm_err_set(err, GM_ERR_INTERNAL, "cannot start blob threads");
	if (j->failed) {
		if (j->failed > 1)
			return gm_err_set(err, j->first_err.rc, "%s (and %u more blobs failed)",
			                  gm_err_msg(&j->first_err), j->failed - 1);
		return gm_err_set(err, j->first_err.rc, "%s", gm_err_msg(&j->first_err));
	}
	return GM_OK;
}

static void add_blobs(struct image_job *j, const struct manifest *mf)
{
	for (size_t i = 0; i < mf->n; i++) {
		bool dup = false;
		for (size_t k = 0; k < j->n && !dup; k++)
			dup = strcmp(j->blobs[k].digest, mf->d[i].digest) == 0;
		if (dup)
			continue;
		j->blobs = gm_xreallocarray(j->blobs, j->n + 1, sizeof(*j->blobs));
		memset(&j->blobs[j->n], 0, sizeof(j->blobs[j->n]));
		j->blobs[j->n].digest = gm_xstrdup(mf->d[i].digest);
		j->blobs[j->n].size = mf->d[i].size;
		j->n++;
	}
}

enum gm_rc gm_oci_mirror_copy(struct gm_oci_mirror *m, const struct gm_oci_ref *src,
                              const struct gm_oci_ref *dst, struct gm_oci_stats *stats,
                              struct gm_err *err)
{
	struct image_job j;
	struct manifest top = {0};
	struct manifest *kids = NULL;
	size_t nkids = 0;
	struct gm_buf have = GM_BUF_INIT, name = GM_BUF_INIT;
	bool present = false;
	enum gm_rc rc;
	memset(&j, 0, sizeof(j));
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cv, NULL);
	gm_err_init(&j.first_err);
	j.m = m;
	j.src_repo = src->repo;
	j.dst_repo = dst->repo;
	if ((rc = get_registry(m, src, &j.src, err)) != GM_OK ||
	    (rc = get_registry(m, dst, &j.dst, err)) != GM_OK)
		goto out;
	const char *sref = src->digest ? src->digest : src->tag ? src->tag : "latest";
	const char *dtag = dst->tag      ? dst->tag
	                   : dst->digest ? NULL
	                   : src->tag    ? src->tag
	                   : src->digest ? NULL
	                                 : "latest";
	if ((rc = fetch_manifest(j.src, m->h, src->repo, sref, NULL, &top, err)) != GM_OK)
		goto out;
	if (top.is_index && m->o.platform) {
		struct manifest one = {0};
		const struct desc *pick = NULL;
		for (size_t i = 0; i < top.n && !pick; i++)
			if (strcmp(top.d[i].platform, m->o.platform) == 0)
				pick = &top.d[i];
		if (!pick) {
			gm_buf_reset(&name);
			gm_oci_ref_format(src, &name);
			rc = gm_err_set(err, GM_ERR_NOT_FOUND,
			                "'%s' has no image for platform '%s'", gm_buf_cstr(&name),
			                m->o.platform);
			goto out;
		}
		if ((rc = fetch_manifest(j.src, m->h, src->repo, pick->digest, pick->digest, &one,
		                         err)) != GM_OK) {
			manifest_release(&one);
			goto out;
		}
		manifest_release(&top);
		top = one;
	}
	if (dst->digest && strcmp(dst->digest, gm_buf_cstr(&top.digest)) != 0) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "the destination names digest %s but the source is %s", dst->digest,
		                gm_buf_cstr(&top.digest));
		goto out;
	}
	/* idempotence: the destination already has this exact manifest under the name */
	if ((rc = head_manifest(j.dst, m->h, dst->repo, dtag ? dtag : gm_buf_cstr(&top.digest),
	                        &present, &have, err)) != GM_OK)
		goto out;
	if (present && (!dtag || strcmp(gm_buf_cstr(&have), gm_buf_cstr(&top.digest)) == 0)) {
		stats->images_skipped++;
		stats->manifests_skipped++;
		goto out;
	}
	if (top.is_index) {
		kids = gm_xcalloc(top.n + 1, sizeof(*kids));
		for (size_t i = 0; i < top.n; i++) {
			if ((rc = head_manifest(j.dst, m->h, dst->repo, top.d[i].digest, &present,
			                        NULL, err)) != GM_OK)
				goto out;
			if (present) {
				stats->manifests_skipped++;
				continue;
			}
			struct manifest *k = &kids[nkids++];
			if ((rc = fetch_manifest(j.src, m->h, src->repo, top.d[i].digest,
			                         top.d[i].digest, k, err)) != GM_OK)
				goto out;
			if (k->is_index) {
				rc = gm_err_set(
				        err, GM_ERR_UNSUPPORTED,
				        "'%s/%s@%s' is an index inside an index; not supported",
				        j.src->host, src->repo, top.d[i].digest);
				goto out;
			}
			add_blobs(&j, k);
		}
	} else {
		add_blobs(&j, &top);
	}
	if ((rc = copy_blobs(&j, err)) != GM_OK)
		goto out;
	for (size_t i = 0; i < nkids; i++) {
		if ((rc = put_manifest(j.dst, m->h, dst->repo, gm_buf_cstr(&kids[i].digest),
		                       &kids[i], err)) != GM_OK)
			goto out;
		stats->manifests_copied++;
	}
	if ((rc = put_manifest(j.dst, m->h, dst->repo, dtag ? dtag : gm_buf_cstr(&top.digest), &top,
	                       err)) != GM_OK)
		goto out;
	stats->manifests_copied++;
	stats->images_copied++;
out:
	stats->blobs_copied += j.stats.blobs_copied;
	stats->blobs_skipped += j.stats.blobs_skipped;
	stats->blobs_mounted += j.stats.blobs_mounted;
	stats->bytes += j.stats.bytes;
	stats->bytes_resumed += j.stats.bytes_resumed;
	if (rc != GM_OK)
		stats->images_failed++;
	for (size_t i = 0; i < nkids; i++)
		manifest_release(&kids[i]);
	free(kids);
	manifest_release(&top);
	descs_free(j.blobs, j.n);
	gm_err_release(&j.first_err);
	pthread_mutex_destroy(&j.mu);
	pthread_cond_destroy(&j.cv);
	gm_buf_release(&have);
	gm_buf_release(&name);
	return rc;
}

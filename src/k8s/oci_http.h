/* The registry HTTP layer shared by the mirror's files (not a public API): one registry's
 * endpoint, credentials and bearer token (shared by threads under a mutex), and one request
 * with registry auth (401 → Basic or the bearer token flow → one retry). */
#ifndef GM_K8S_OCI_HTTP_H
#define GM_K8S_OCI_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "util/buf.h"
#include "util/err.h"

struct gm_oci_registry {
	char *host; /* host[:port] of the API */
	char *base; /* "https://host" or "http://host" */
	bool has_creds;
	struct gm_buf user, pass, source; /* source: where the credentials came from */
	pthread_mutex_t mu;               /* guards what follows */
	bool use_basic;
	char *token; /* bearer token, NULL when none */
	unsigned token_gen;
	struct gm_buf scopes; /* space-separated scopes the token was asked for */
	struct gm_oci_registry *next;
};

/* Sets up r for host; looks up credentials (gm_oci_creds_find). */
enum gm_rc gm_oci_registry_open(struct gm_oci_registry *r, const char *host, bool plain_http,
                                struct gm_err *err);
void gm_oci_registry_close(struct gm_oci_registry *r);

struct gm_oci_req {
	const char *method; /* GET HEAD PUT POST PATCH DELETE */
	const char *url;    /* absolute */
	const char *accept;
	const char *content_type;
	const char *content_range;
	const void *body; /* PUT/POST/PATCH: body_len bytes (may be 0) */
	size_t body_len;
	const char *scope; /* the token scope this request needs */
	size_t body_cap;   /* bytes of a response body kept in resp->body (2xx and errors) */
	/* 2xx bodies go here instead when set; returns false to abort the transfer */
	bool (*sink)(void *ctx, const char *p, size_t n);
	void *sink_ctx;
};

struct gm_oci_resp {
	long status;
	struct gm_buf body, content_type, location, digest, range, www_auth;
	bool truncated; /* the body was over body_cap */
};

void gm_oci_resp_release(struct gm_oci_resp *rs);

/* Performs q on handle h against registry r. GM_OK whenever an HTTP answer came (look at
 * rs->status), except 401/403 after the auth retry (GM_ERR_PERMISSION, with a message that
 * names the registry and where the credentials came from, never them).
 * GM_ERR_UNREACHABLE for transport failures. */
enum gm_rc gm_oci_http(struct gm_oci_registry *r, CURL *h, const struct gm_oci_req *q,
                       struct gm_oci_resp *rs, struct gm_err *err);

/* An upload Location made absolute against r->base, into out (replacing). */
void gm_oci_abs_url(const struct gm_oci_registry *r, const char *loc, struct gm_buf *out);

#endif

/* The HTTP layer of the object stores: one client per store, a pool of libcurl handles so
 * threads reuse connections, and requests retried with exponential backoff and full jitter
 * on what the stores document as transient (429, 5xx, 408, dropped or stalled
 * connections). Every attempt asks its caller for fresh headers, because a SigV4 signature
 * carries a timestamp and an OAuth token may have been refreshed. Errors name the method,
 * the host and the key, never a header value or a query string (signatures, tokens). */
#ifndef GM_OBJSTORE_HTTP_H
#define GM_OBJSTORE_HTTP_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct curl_slist;

struct gm_os_http_opts {
	bool insecure;          /* --insecure: do not verify TLS certificates */
	const char *ca_bundle;  /* AWS_CA_BUNDLE and the like; NULL: the system's */
	unsigned max_attempts;  /* 0: 8 */
	unsigned base_delay_ms; /* first backoff cap; 0: 100 ms (tests use 1) */
	unsigned max_delay_ms;  /* 0: 20 s */
	unsigned stall_s;       /* abandon an attempt that moves < 1 KiB/s this long; 0: 60 */
};

struct gm_os_http {
	struct gm_os_http_opts opts;
	struct gm_buf ca_bundle;
	pthread_mutex_t mu; /* guards the handle pool */
	void **idle;        /* CURL * handles not in use */
	size_t n_idle, cap_idle;
};

enum gm_rc gm_os_http_init(struct gm_os_http *c, const struct gm_os_http_opts *opts,
                           struct gm_err *err);
void gm_os_http_release(struct gm_os_http *c);

/* One request. */
struct gm_os_http_req {
	const char *method; /* GET HEAD PUT POST DELETE PATCH */
	const char *url;    /* absolute, query included */
	const char *what;   /* the object as messages name it ("s3://b/k"); never the URL */
	const void *body;   /* request body (may be NULL with body_len 0) */
	size_t body_len;
	size_t body_cap; /* most response body bytes kept (0: 1 MiB); more is GM_ERR_LIMIT */
	/* When set, a 2xx body is appended here instead of resp->body (cut back to its length
	 * before each attempt), so a ranged read lands in the caller's buffer uncopied. */
	struct gm_buf *sink;
	/* Called before every attempt: append the request headers for this attempt to *hdrs
	 * (signatures, tokens, content type …). NULL: none. A non-GM_OK return ends the
	 * request with that error. */
	enum gm_rc (*headers)(void *ctx, const struct gm_os_http_req *req, struct curl_slist **hdrs,
	                      struct gm_err *err);
	void *ctx;
	/* Called after an attempt that got an answer: return true to retry it (a 401 after a
	 * token was refreshed …). NULL: only the standard transient statuses retry. */
	bool (*retry_status)(void *ctx, long status);
	/* Statuses that are answers, not failures to retry, even if transient-looking (a GCS
	 * resumable upload's 308 is always an answer). */
	bool no_retry;
};

struct gm_os_http_resp {
	long status;
	struct gm_buf body;
	/* The response headers of the final attempt, names lowercased, one "name: value\n" a
	 * header, values trimmed. */
	struct gm_buf headers;
	unsigned attempts;
};

void gm_os_http_resp_init(struct gm_os_http_resp *r);
void gm_os_http_resp_release(struct gm_os_http_resp *r);

/* Performs req, retrying transient failures. GM_OK whenever an answer came that is not
 * transient (look at resp->status); GM_ERR_UNREACHABLE when the attempts ran out on
 * transport errors or transient statuses (the message says which and how often);
 * GM_ERR_INTERRUPTED when gm_os_http_stop was set. */
enum gm_rc gm_os_http_do(struct gm_os_http *c, const struct gm_os_http_req *req,
                         struct gm_os_http_resp *resp, struct gm_err *err);

/* The value of response header name (lowercase) into out; false when absent. */
bool gm_os_http_header(const struct gm_os_http_resp *r, const char *name, struct gm_buf *out);

/* Percent-encodes s[0..len) as RFC 3986 unreserved-or-escaped (A-Z a-z 0-9 - . _ ~ stay;
 * keep_slash leaves '/' as it is), the form SigV4 and the GCS JSON API both expect. */
void gm_os_uri_encode(struct gm_buf *out, const char *s, size_t len, bool keep_slash);

/* Decodes %XX escapes of s[0..len) into out (appending); plus_space: '+' is a space, as in
 * S3's encoding-type=url listings. A '%' not followed by two hex digits stays as it is. */
void gm_os_uri_decode(struct gm_buf *out, const char *s, size_t len, bool plus_space);

/* A message-safe error for an answer with an unexpected status: "<what>: HTTP 403
 * AccessDenied: <store's message>" with the store's code and message taken from an S3 XML or
 * GCS JSON error body (at most 200 bytes of it, control bytes dropped). rc by status: 401/403
 * PERMISSION, 404 NOT_FOUND, 412 CHANGED, 400 USAGE, else IO. */
enum gm_rc gm_os_http_fail(const struct gm_os_http_req *req, const struct gm_os_http_resp *resp,
                           struct gm_err *err);

/* Set from a signal handler to make requests stop between attempts and transfers end. */
extern volatile sig_atomic_t gm_os_http_stop;

#endif

/* The HTTP client of the object stores: a pool of libcurl easy handles (a thread takes one,
 * uses its kept-alive connection, gives it back), and one retry loop for S3 and GCS alike.
 * The stores' documentation asks clients to retry 429, 408 and 5xx answers and dropped
 * connections with truncated exponential backoff and jitter; "full jitter" (a uniform delay
 * between 0 and the cap) spreads the threads of one run best. */
#define CURL_DISABLE_TYPECHECK
#include "objstore/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/http_line.h"

#include "util/banned.h"

volatile sig_atomic_t gm_os_http_stop;

/* A response header value longer than this is dropped (no store sends one). */
#define HEADER_VALUE_MAX 8192

enum gm_rc gm_os_http_init(struct gm_os_http *c, const struct gm_os_http_opts *opts,
                           struct gm_err *err)
{
	memset(c, 0, sizeof(*c));
	if (opts)
		c->opts = *opts;
	if (!c->opts.max_attempts)
		c->opts.max_attempts = 8;
	uint64_t ms = 0;
	const char *env = getenv("GPUMIGRATE_RETRY_BASE_MS"); /* tests shorten the backoff */
	if (!c->opts.base_delay_ms && env && gm_parse_u64(env, 10, &ms) == GM_OK && ms &&
	    ms < 60000)
		c->opts.base_delay_ms = (unsigned)ms;
	if (!c->opts.base_delay_ms)
		c->opts.base_delay_ms = 100;
	if (!c->opts.max_delay_ms)
		c->opts.max_delay_ms = 20000;
	if (!c->opts.stall_s)
		c->opts.stall_s = 60;
	if (c->opts.ca_bundle) {
		gm_buf_adds(&c->ca_bundle, c->opts.ca_bundle);
		c->opts.ca_bundle = gm_buf_cstr(&c->ca_bundle);
	}
	pthread_mutex_init(&c->mu, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gm_os_http_release(c);
		return gm_err_set(err, GM_ERR_UNSUPPORTED, "%s",
		                  curl_easy_strerror(CURLE_FAILED_INIT));
	}
	return GM_OK;
}

void gm_os_http_release(struct gm_os_http *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		curl_easy_cleanup(c->idle[i]);
	free(c->idle);
	c->idle = NULL;
	c->n_idle = c->cap_idle = 0;
	gm_buf_release(&c->ca_bundle);
	pthread_mutex_destroy(&c->mu);
}

void gm_os_http_resp_init(struct gm_os_http_resp *r)
{
	memset(r, 0, sizeof(*r));
}

void gm_os_http_resp_release(struct gm_os_http_resp *r)
{
	if (!r)
		return;
	gm_buf_release(&r->body);
	gm_buf_release(&r->headers);
}

static CURL *handle_take(struct gm_os_http *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->n_idle)
		h = c->idle[--c->n_idle];
	pthread_mutex_unlock(&c->mu);
	return h ? h : curl_easy_init();
}

static void handle_give(struct gm_os_http *c, CURL *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->n_idle == c->cap_idle) {
		c->cap_idle = c->cap_idle ? 2 * c->cap_idle : 8;
		c->idle = gm_xreallocarray(c->idle, c->cap_idle, sizeof(*c->idle));
	}
	c->idle[c->n_idle++] = h;
	pthread_mutex_unlock(&c->mu);
}

/* One attempt's state, seen by the callbacks. */
struct attempt {
	CURL *h;
	const struct gm_os_http_req *req;
	struct gm_os_http_resp *resp;
	size_t cap;
	size_t sink_start; /* req->sink's length before this request */
	bool over;         /* a 2xx body went over its cap */
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct attempt *a = ctx;
	size_t len = size * n;
	struct gm_http_line h;
	enum gm_http_line_kind kind = gm_http_line_parse(p, len, &h);
	if (kind == GM_HTTP_LINE_STATUS) /* a new response (100 Continue, …) */
		gm_buf_reset(&a->resp->headers);
	if (kind != GM_HTTP_LINE_HEADER || h.value_len > HEADER_VALUE_MAX ||
	    memchr(h.value, '\n', h.value_len))
		return len;
	for (size_t i = 0; i < h.name_len; i++) {
		char ch = h.name[i];
		gm_buf_addch(&a->resp->headers, ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch);
	}
	gm_buf_add(&a->resp->headers, ": ", 2);
	gm_buf_add(&a->resp->headers, h.value, h.value_len);
	gm_buf_addch(&a->resp->headers, '\n');
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct attempt *a = ctx;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
	bool ok = status >= 200 && status < 300;
	bool into_sink = ok && a->req->sink;
	struct gm_buf *to = into_sink ? a->req->sink : &a->resp->body;
	size_t have = into_sink ? to->len - a->sink_start : to->len;
	if (have + len > a->cap) {
		if (ok) {
			a->over = true;
			return 0;
		}
		len = a->cap > have ? a->cap - have : 0; /* an error body: keep its start */
		if (len)
			gm_buf_add(to, p, len);
		return size * n;
	}
	gm_buf_add(to, p, len);
	return len;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)ctx, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return gm_os_http_stop ? 1 : 0;
}

static bool is_write(const char *m)
{
	return strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0;
}

static bool has_header(const struct curl_slist *l, const char *name)
{
	size_t n = strlen(name);
	for (; l; l = l->next)
		if (strncasecmp(l->data, name, n) == 0 && l->data[n] == ':')
			return true;
	return false;
}

/* "host[:port]" of url into out, for messages (never the path's query). */
static void url_host(const char *url, struct gm_buf *out)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	gm_buf_add(out, p, n);
}

static bool transient_status(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR: return true;
	default: return false;
	}
}

/* Sleeps ms milliseconds in slices, returning early (false) when asked to stop. */
static bool pause_ms(unsigned ms)
{
	while (ms) {
		unsigned slice = ms > 50 ? 50 : ms;
		struct timespec ts = {0, (long)slice * 1000000L};
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			if (gm_os_http_stop)
				return false;
		if (gm_os_http_stop)
			return false;
		ms -= slice;
	}
	return true;
}

/* The delay before attempt number `attempt` (1 = the first retry): uniform in [0, cap] with
 * cap = base·2^(attempt−1), at most max; a Retry-After in seconds raises it to that. */
static unsigned backoff_ms(const struct gm_os_http *c, unsigned attempt,
                           const struct gm_os_http_resp *resp)
{
	uint64_t cap = c->opts.base_delay_ms;
	for (unsigned i = 1; i < attempt && cap < c->opts.max_delay_ms; i++)
		cap *= 2;
	if (cap > c->opts.max_delay_ms)
		cap = c->opts.max_delay_ms;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	unsigned seed = (unsigned)now.tv_nsec ^ (unsigned)(uintptr_t)resp;
	uint64_t ms = cap ? (uint64_t)rand_r(&seed) % (cap + 1) : 0;
	struct gm_buf ra = GM_BUF_INIT;
	uint64_t secs = 0;
	if (resp && gm_os_http_header(resp, "retry-after", &ra) &&
	    gm_parse_u64(gm_buf_cstr(&ra), 10, &secs) == GM_OK && secs * 1000 > ms)
		ms = secs * 1000 > c->opts.max_delay_ms ? c->opts.max_delay_ms : secs * 1000;
	gm_buf_release(&ra);
	return (unsigned)ms;
}

static void setup(struct gm_os_http *c, CURL *h, const struct gm_os_http_req *req,
                  struct attempt *a)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->opts.stall_s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* a key "a/../b" is a name, not a path */
	if (c->opts.insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->opts.ca_bundle)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->opts.ca_bundle);
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (is_write(req->method)) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : (const void *)"");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	}
}

enum gm_rc gm_os_http_do(struct gm_os_http *c, const struct gm_os_http_req *req,
                         struct gm_os_http_resp *resp, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	CURL *h = handle_take(c);
	struct gm_buf host = GM_BUF_INIT;
	size_t sink_len = req->sink ? req->sink->len : 0;
	url_host(req->url, &host);
	if (!h) {
		rc = gm_err_set(err, GM_ERR_UNSUPPORTED, "%s",
		                curl_easy_strerror(CURLE_FAILED_INIT));
		goto out;
	}
	for (unsigned attempt = 1;; attempt++) {
		struct curl_slist *hdrs = NULL;
		struct attempt a = {
		        h, req, resp, req->body_cap ? req->body_cap : (1u << 20), sink_len, false};
		resp->status = 0;
		resp->attempts = attempt;
		gm_buf_reset(&resp->body);
		gm_buf_reset(&resp->headers);
		if (req->sink)
			gm_buf_truncate(req->sink, sink_len);
		if (gm_os_http_stop) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "%s: stopped", req->what);
			goto out;
		}
		setup(c, h, req, &a);
		if (req->headers) {
			rc = req->headers(req->ctx, req, &hdrs, err);
			if (rc != GM_OK) {
				curl_slist_free_all(hdrs);
				goto out;
			}
		}
		if (is_write(req->method)) {
			hdrs = curl_slist_append(hdrs, "Expect:");
			if (!has_header(hdrs, "content-type"))
				hdrs = curl_slist_append(hdrs,
				                         "Content-Type: application/octet-stream");
		}
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		CURLcode cc = curl_easy_perform(h);
		curl_slist_free_all(hdrs);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		if (cc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (cc == CURLE_ABORTED_BY_CALLBACK || gm_os_http_stop) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "%s: stopped", req->what);
			goto out;
		}
		if (cc == CURLE_WRITE_ERROR && a.over) {
			rc = gm_err_set(err, GM_ERR_LIMIT,
			                "%s: the answer from %s is larger than %zu bytes",
			                req->what, gm_buf_cstr(&host), a.cap);
			goto out;
		}
		bool retry = cc != CURLE_OK ? transient_curl(cc)
		                            : (!req->no_retry && transient_status(resp->status)) ||
		                                      (req->retry_status &&
		                                       req->retry_status(req->ctx, resp->status));
		if (!retry && cc != CURLE_OK) {
			rc = gm_err_set(err, GM_ERR_UNREACHABLE, "%s: %s %s failed: %s", req->what,
			                req->method, gm_buf_cstr(&host), curl_easy_strerror(cc));
			goto out;
		}
		if (!retry)
			break;
		if (attempt >= c->opts.max_attempts) {
			if (cc != CURLE_OK)
				rc = gm_err_set(
				        err, GM_ERR_UNREACHABLE,
				        "%s: %s %s failed %u times, last: %s; try again later",
				        req->what, req->method, gm_buf_cstr(&host), attempt,
				        curl_easy_strerror(cc));
			else
				rc = gm_err_set(
				        err, GM_ERR_UNREACHABLE,
				        "%s: %s %s answered HTTP %ld %u times; try again later",
				        req->what, req->method, gm_buf_cstr(&host), resp->status,
				        attempt);
			goto out;
		}
		unsigned ms = backoff_ms(c, attempt, cc == CURLE_OK ? resp : NULL);
		gm_debug("%s: %s %s: %s, retry %u in %u ms", req->what, req->method,
		         gm_buf_cstr(&host),
		         cc != CURLE_OK ? curl_easy_strerror(cc) : "transient answer", attempt, ms);
		if (!pause_ms(ms)) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "%s: stopped", req->what);
			goto out;
		}
	}
out:
	handle_give(c, h);
	gm_buf_release(&host);
	return rc;
}

bool gm_os_http_header(const struct gm_os_http_resp *r, const char *name, struct gm_buf *out)
{
	size_t n = strlen(name);
	const char *p = gm_buf_cstr(&r->headers);
	while (*p) {
		const char *eol = strchr(p, '\n');
		if (!eol)
			break;
		if ((size_t)(eol - p) >= n + 2 && strncmp(p, name, n) == 0 && p[n] == ':') {
			gm_buf_reset(out);
			gm_buf_add(out, p + n + 2, (size_t)(eol - p) - n - 2);
			gm_buf_grow(out, 0);
			return true;
		}
		p = eol + 1;
	}
	return false;
}

void gm_os_uri_encode(struct gm_buf *out, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
		    (keep_slash && ch == '/')) {
			gm_buf_addch(out, (char)ch);
		} else {
			gm_buf_addch(out, '%');
			gm_buf_addch(out, hex[ch >> 4]);
			gm_buf_addch(out, hex[ch & 15]);
		}
	}
	gm_buf_grow(out, 0);
}

void gm_os_uri_decode(struct gm_buf *out, const char *s, size_t len, bool plus_space)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = gm_hex_digit(s[i + 1])) >= 0 &&
		    (lo = gm_hex_digit(s[i + 2])) >= 0) {
			gm_buf_addch(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			gm_buf_addch(out, plus_space && s[i] == '+' ? ' ' : s[i]);
		}
	}
	gm_buf_grow(out, 0);
}

/* Appends the text between the first `open` and the next `close` of body (at most cap
 * bytes, printable ASCII only). */
static bool extract(const struct gm_buf *body, const char *open, const char *close, size_t cap,
                    struct gm_buf *out)
{
	const char *p = body->len ? strstr(gm_buf_cstr(body), open) : NULL;
	if (!p)
		return false;
	p += strlen(open);
	const char *e = strstr(p, close);
	if (!e)
		return false;
	for (size_t i = 0; p + i < e && i < cap; i++)
		if (p[i] >= 0x20 && p[i] < 0x7f)
			gm_buf_addch(out, p[i]);
	return true;
}

enum gm_rc gm_os_http_fail(const struct gm_os_http_req *req, const struct gm_os_http_resp *resp,
                           struct gm_err *err)
{
	long s = resp->status;
	enum gm_rc rc = s == 401 || s == 403 ? GM_ERR_PERMISSION
	                : s == 404           ? GM_ERR_NOT_FOUND
	                : s == 412           ? GM_ERR_CHANGED
	                : s == 400           ? GM_ERR_USAGE
	                                     : GM_ERR_IO;
	struct gm_buf why = GM_BUF_INIT;
	if (extract(&resp->body, "<Code>", "</Code>", 64, &why))
		gm_buf_addch(&why, ' ');
	size_t before = why.len;
	if (!extract(&resp->body, "<Message>", "</Message>", 200, &why) &&
	    !extract(&resp->body, "\"message\": \"", "\"", 200, &why))
		extract(&resp->body, "\"message\":\"", "\"", 200, &why);
	if (why.len == before)
		gm_buf_rtrim(&why);
	rc = gm_err_set(err, rc, "%s: %s answered HTTP %ld%s%s", req->what, req->method, s,
	                why.len ? ": " : "", gm_buf_cstr(&why));
	gm_buf_release(&why);
	return rc;
}

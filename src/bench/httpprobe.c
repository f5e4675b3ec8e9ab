/* The HTTP probe (see httpprobe.h): one easy handle per connection slot, reused so libcurl
 * keeps its connection alive; the multi handle caps connections at the slot count. */
#include "bench/httpprobe.h"

#include <curl/curl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/xalloc.h"
#include "util/banned.h"

struct slot {
	CURL *easy;
	bool busy;
	double start;  /* when the request was due: now, or its scheduled time in rate mode */
	double prereq; /* when libcurl was about to send it on a ready connection */
	double last;   /* when the last piece of the response body arrived */
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int prereq(void *clientp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                  int conn_local_port)
{
	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	((struct slot *)clientp)->prereq = mono();
	return CURL_PREREQFUNC_OK;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	((struct slot *)userdata)->last = mono();
	return size * nmemb;
}

void gm_http_probe_init(struct gm_http_probe *p)
{
	memset(p, 0, sizeof(*p));
	gm_hist_init(&p->hist);
}

void gm_http_probe_release(struct gm_http_probe *p)
{
	if (!p)
		return;
	free(p->samples);
	gm_http_probe_init(p);
}

/* Algorithm R: every latency has the same chance to be among the kept samples. */
static void keep_sample(struct gm_http_probe *p, struct gm_rng *rng, double v)
{
	uint64_t seen = p->hist.total; /* already counts v */
	if (p->n_samples < GM_HTTP_RESERVOIR) {
		p->samples[p->n_samples++] = v;
		return;
	}
	uint64_t j = gm_rng_below(rng, seen);
	if (j < GM_HTTP_RESERVOIR)
		p->samples[j] = v;
}

static void finish(struct gm_http_probe *p, struct gm_rng *rng, struct slot *s, CURLcode res,
                   double now, bool rate_mode)
{
	if (res == CURLE_OK) {
		long code = 0;
		curl_off_t hdr = 0, body = 0;
		long hsize = 0;
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(s->easy, CURLINFO_HEADER_SIZE, &hsize);
		curl_easy_getinfo(s->easy, CURLINFO_SIZE_DOWNLOAD_T, &body);
		hdr = hsize;
		p->bytes += (uint64_t)(hdr + body);
		p->responses++;
		if (code >= 500)
			p->err_5xx++;
		else if (code >= 400)
			p->err_4xx++;
		else
			p->ok++;
		/* by this loop's monotonic clock, to the response's last byte. From when the request
		 * was due: on a new connection (connect and TLS handshake count, as the user
		 * waits for them too), and in constant-rate mode always (coordinated
		 * omission). Closed loop on a reused connection: from just before libcurl
		 * sends it, as wrk measures, so libcurl's own set-up stays out. */
		long connects = 0;
		double from = s->start;
		curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
		if (!rate_mode && connects == 0 && s->prereq > s->start)
			from = s->prereq;
		double end = s->last > from ? s->last : now; /* the body's last byte if any */
		double lat = end - from;
		gm_hist_record(&p->hist, lat);
		keep_sample(p, rng, lat);
		return;
	}
	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR: p->err_connect++; break;
	case CURLE_OPERATION_TIMEDOUT: p->err_timeout++; break;
	default: p->err_other++; break;
	}
	if (!p->first_error[0]) {
		const char *msg = curl_easy_strerror(res);
		size_t n = strnlen(msg, sizeof(p->first_error) - 1);
		memcpy(p->first_error, msg, n);
		p->first_error[n] = '\0';
	}
}

enum gm_rc gm_http_probe_run(const struct gm_http_probe_opts *o, struct gm_http_probe *p,
                             struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	CURLM *multi = NULL;
	struct curl_slist *hdrs = NULL;
	struct slot *slots = NULL;
	unsigned conns = o->conns ? o->conns : 1;
	long timeout_ms = o->timeout_s > 0 ? (long)ceil(o->timeout_s * 1000) : 10000;
	struct gm_rng rng;

	gm_http_probe_release(p);
	if (!o->url || !*o->url)
		return gm_err_set(err, GM_ERR_USAGE, "bench http needs a URL");
	if (conns > GM_HTTP_MAX_CONNS)
		return gm_err_set(err, GM_ERR_USAGE, "at most %d connections", GM_HTTP_MAX_CONNS);
	if (o->requests == 0 && !(o->duration_s > 0))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "bench http needs a duration or a request count");
	if (o->rate < 0 || !isfinite(o->rate))
		return gm_err_set(err, GM_ERR_USAGE, "the rate must be a positive number");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) /* says why: util/curl_dl.c */
		return gm_err_set(err, GM_ERR_UNSUPPORTED, "%s",
		                  curl_easy_strerror(CURLE_FAILED_INIT));
	gm_rng_seed(&rng, GM_BOOTSTRAP_SEED);
	p->samples = gm_xcalloc(GM_HTTP_RESERVOIR, sizeof(*p->samples));
	multi = curl_multi_init();
	if (!multi) {
		rc = gm_err_set(err, GM_ERR_INTERNAL, "libcurl: no multi handle");
		goto out;
	}
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns);
	for (size_t i = 0; i < o->n_headers; i++)
		hdrs = curl_slist_append(hdrs, o->headers[i]);
	slots = gm_xcalloc(conns, sizeof(*slots));
	for (unsigned i = 0; i < conns; i++) {
		CURL *e = curl_easy_init();
		if (!e) {
			rc = gm_err_set(err, GM_ERR_INTERNAL, "libcurl: no easy handle");
			goto out;
		}
		slots[i].easy = e;
		curl_easy_setopt(e, CURLOPT_URL, o->url);
		curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
		curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq);
		curl_easy_setopt(e, CURLOPT_PREREQDATA, &slots[i]);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "gpumigrate-bench/" GM_VERSION);
		if (hdrs)
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	}

	double t0 = mono(), last = t0;
	unsigned busy = 0;
	for (;;) {
		double now = mono();
		/* Is there a request left to send? With --requests, until that many were sent;
		 * for a duration: closed loop while it lasts, constant rate for every request
		 * scheduled inside it (one due at 0.999 s is sent even if the send is late). */
		bool more = o->requests   ? p->sent < o->requests
		            : o->rate > 0 ? (double)p->sent / o->rate < o->duration_s
		                          : now - t0 < o->duration_s;
		/* send on every free slot whose next request is due */
		for (unsigned i = 0; more && i < conns; i++) {
			if (slots[i].busy)
				continue;
			double start = now;
			if (o->rate > 0) {
				start = t0 + (double)p->sent / o->rate;
				if (start > now)
					break;
			}
			slots[i].busy = true;
			slots[i].start = start;
			slots[i].prereq = 0;
			slots[i].last = 0;
			curl_multi_add_handle(multi, slots[i].easy);
			p->sent++;
			busy++;
			more = o->requests   ? p->sent < o->requests
			       : o->rate > 0 ? (double)p->sent / o->rate < o->duration_s
			                     : now - t0 < o->duration_s;
		}
		if (!busy && !more)
			break;
		int running = 0;
		CURLMcode mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK) {
			rc = gm_err_set(err, GM_ERR_INTERNAL, "libcurl: %s",
			                curl_multi_strerror(mc));
			goto out;
		}
		int left = 0, done = 0;
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s = NULL;
			CURL *e = msg->easy_handle;
			CURLcode res = msg->data.result;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
			double t = mono();
			finish(p, &rng, s, res, t, o->rate > 0);
			last = t;
			curl_multi_remove_handle(multi, e);
			s->busy = false;
			busy--;
			done++;
		}
		if (done)
			continue;
		int wait_ms = 100;
		if (o->rate > 0 && more && busy < conns) {
			double due = t0 + (double)p->sent / o->rate - mono();
			wait_ms = due <= 0 ? 0 : (int)ceil(due * 1000);
			if (wait_ms > 100)
				wait_ms = 100;
		} else if (!busy) {
			wait_ms = 0;
		}
		if (wait_ms > 0 || busy) {
			mc = curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
			if (mc != CURLM_OK) {
				rc = gm_err_set(err, GM_ERR_INTERNAL, "libcurl: %s",
				                curl_multi_strerror(mc));
				goto out;
			}
		}
	}
	p->elapsed_s = last - t0;
out:
	for (unsigned i = 0; slots && i < conns; i++) {
		if (slots[i].easy) {
			if (slots[i].busy)
				curl_multi_remove_handle(multi, slots[i].easy);
			curl_easy_cleanup(slots[i].easy);
		}
	}
	free(slots);
	curl_slist_free_all(hdrs);
	if (multi)
		curl_multi_cleanup(multi);
	return rc;
}

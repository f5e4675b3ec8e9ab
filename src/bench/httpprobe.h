/* `bench http`'s core: an HTTP latency and throughput probe on libcurl's multi interface.
 * A fixed number of keep-alive connections each carry one request at a time; in
 * constant-rate mode requests are scheduled at fixed intervals and each one's latency is
 * measured from its scheduled send time, so a stalled server shows up in the percentiles
 * instead of silently slowing the load (coordinated omission, as wrk2 corrects it). */
#ifndef GM_BENCH_HTTPPROBE_H
#define GM_BENCH_HTTPPROBE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/stats.h"
#include "util/err.h"

/* Latencies kept as samples for the result (a uniform random subset beyond that). */
#define GM_HTTP_RESERVOIR 10000
#define GM_HTTP_MAX_CONNS 1024

struct gm_http_probe_opts {
	const char *url;
	unsigned conns;             /* connections, one request in flight on each (default 1) */
	double duration_s;          /* stop sending after this long (used when requests is 0) */
	uint64_t requests;          /* stop after this many requests (0: use duration_s) */
	double rate;                /* requests per second in total; 0: as fast as responses come */
	const char *const *headers; /* "Name: value" */
	size_t n_headers;
	double timeout_s; /* per request, including the connect (0: 10 s) */
};

struct gm_http_probe {
	struct gm_hist hist; /* latency of every request that got an HTTP response */
	uint64_t sent;       /* requests started */
	uint64_t responses;  /* got an HTTP response (any status) */
	uint64_t ok;         /* … with status 1xx-3xx */
	uint64_t err_connect, err_timeout, err_4xx, err_5xx, err_other;
	uint64_t bytes;   /* response header and body bytes */
	double elapsed_s; /* first send to last completion */
	double *samples;  /* up to GM_HTTP_RESERVOIR latencies (s), a uniform subset */
	size_t n_samples;
	char first_error[256]; /* curl's text for the first transport error, "" if none */
};

void gm_http_probe_init(struct gm_http_probe *p);
void gm_http_probe_release(struct gm_http_probe *p);

/* Runs the probe. Fails only for bad options or when libcurl cannot be set up; errors of
 * individual requests are counted in p. */
enum gm_rc gm_http_probe_run(const struct gm_http_probe_opts *o, struct gm_http_probe *p,
                             struct gm_err *err);

#endif

/* A small HTTP(S) server for the exporter on libmicrohttpd: bounded connections, request
 * sizes and timeouts, optional TLS and basic auth from a web configuration
 * (monitor/webconfig.h). Handlers fill a response; the server does the rest. */
#ifndef GM_HTTP_H
#define GM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct gm_web_config;

struct gm_http_request {
	const char *method; /* "GET" … */
	const char *path;   /* "/metrics" */
	const char *accept; /* Accept header, or NULL */
};

struct gm_http_response {
	int status;               /* 200 by default */
	const char *content_type; /* static string; NULL: text/plain; charset=utf-8 */
	struct gm_buf body;
};

struct gm_http_handler {
	void *ctx;
	void (*handle)(void *ctx, const struct gm_http_request *req, struct gm_http_response *res);
};

struct gm_http_opts {
	const char *listen;              /* "ADDR:PORT", "[::1]:PORT" or ":PORT" */
	const struct gm_web_config *web; /* NULL: plain HTTP, no auth */
	unsigned max_connections;        /* 0: 64 */
	unsigned max_per_ip;             /* connections from one address; 0: a quarter of
	                                    max_connections, at least 4 */
	unsigned timeout_s;              /* idle/slow client timeout; 0: 10 */
	size_t max_request_bytes;        /* 0: 8 KiB */
};

struct gm_http_server;

/* Starts serving on opts->listen in a thread of its own and returns at once. Methods other
 * than GET and HEAD get 405; with a web configuration, TLS (and the client certificate its
 * client_auth_type asks for; 403 otherwise) and basic auth (401) are checked before the
 * handler runs. The handler runs in the server's thread, one request at a time. */
enum gm_rc gm_http_start(struct gm_http_server **out, const struct gm_http_opts *opts,
                         const struct gm_http_handler *handler, struct gm_err *err);
/* The port actually bound (for ":0"). */
unsigned gm_http_port(const struct gm_http_server *srv);
/* Closes the listening socket and every connection, waits for the thread. Accepts NULL. */
void gm_http_stop(struct gm_http_server *srv);

/* Parses a listen address: "ADDR:PORT", "[IPv6]:PORT", "HOST:PORT" (resolved) or ":PORT"
 * (every address; *any set). Exposed for tests. */
struct sockaddr_storage;
enum gm_rc gm_http_parse_listen(const char *listen, struct sockaddr_storage *out, bool *any,
                                unsigned *port, struct gm_err *err);

#endif

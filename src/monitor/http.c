/* The exporter's HTTP(S) server on libmicrohttpd. libmicrohttpd does the protocol (parsing,
 * keep-alive, HEAD, malformed requests); this file sets the bounds that keep hostile clients
 * cheap (connections in all and per address, per-connection memory, idle timeout), applies
 * the web configuration (TLS, client certificates, basic auth, extra headers) and hands
 * GET/HEAD requests to the caller's handler. */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "monitor/http.h"
#include "monitor/webconfig.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct gm_http_server {
	struct MHD_Daemon *d;
	struct gm_http_handler handler;
	const struct gm_web_config *web;
	struct gm_buf priorities;
	/* libmicrohttpd's last message while starting, for the error */
	struct gm_buf start_msg;
	bool starting;
};

enum gm_rc gm_http_parse_listen(const char *listen, struct sockaddr_storage *out, bool *any,
                                unsigned *port, struct gm_err *err)
{
	struct gm_buf host = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	uint64_t p;
	memset(out, 0, sizeof(*out));
	*any = false;
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	if (!colon) {
		rc = gm_err_set(err, GM_ERR_USAGE, "listen address '%s' has no port (ADDR:PORT)",
		                listen ? listen : "");
		goto out;
	}
	if (gm_parse_u64(colon + 1, 10, &p) != GM_OK || p > 65535 || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		rc = gm_err_set(err, GM_ERR_USAGE, "listen address '%s': '%s' is not a port",
		                listen, colon + 1);
		goto out;
	}
	*port = (unsigned)p;
	const char *h = listen;
	size_t hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		gm_buf_add(&host, h + 1, hlen - 2);
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, gm_buf_cstr(&host), &a6->sin6_addr) != 1) {
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "listen address '%s': '%s' is not an IPv6 address", listen,
			                gm_buf_cstr(&host));
			goto out;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		goto out;
	}
	gm_buf_add(&host, h, hlen);
	if (hlen == 0) {
		*any = true;
		goto out;
	}
	if (memchr(h, ':', hlen) || memchr(h, '[', hlen) || memchr(h, ']', hlen)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "listen address '%s': write IPv6 addresses in brackets, as "
		                "[::1]:9400",
		                listen);
		goto out;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	if (inet_pton(AF_INET, gm_buf_cstr(&host), &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		goto out;
	}
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(gm_buf_cstr(&host), NULL, &hints, &res);
	if (gai != 0 || !res || res->ai_addrlen > sizeof(*out)) {
		rc = gm_err_set(err, GM_ERR_USAGE, "listen address '%s': cannot resolve '%s': %s",
		                listen, gm_buf_cstr(&host), gai ? gai_strerror(gai) : "no address");
		if (res)
			freeaddrinfo(res);
		goto out;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)p);
	freeaddrinfo(res);
out:
	gm_buf_release(&host);
	return rc;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's messages (a client that sent garbage, a failed handshake) are debug
 * output; while starting, the last one explains the failure. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct gm_http_server *srv = cls;
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_vaddf(&b, fmt, ap);
	gm_buf_rtrim(&b);
	if (srv->starting) {
		gm_buf_reset(&srv->start_msg);
		gm_buf_add(&srv->start_msg, b.data ? b.data : "", b.len);
	}
	gm_debug("http: %s", gm_buf_cstr(&b));
	gm_buf_release(&b);
}

static enum MHD_Result queue(struct gm_http_server *srv, struct MHD_Connection *conn, int status,
                             const char *content_type, struct gm_buf *body, bool auth_fail)
{
	size_t len = body->len;
	char *data = gm_buf_detach(body);
	struct MHD_Response *res =
	        MHD_create_response_from_buffer_with_free_callback(len, data, free);
	if (!res) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        content_type ? content_type : "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (srv->web)
		for (size_t i = 0; i < srv->web->n_headers; i++)
			MHD_add_response_header(res, srv->web->headers[i].name,
			                        srv->web->headers[i].value);
	enum MHD_Result r = auth_fail ? MHD_queue_basic_auth_fail_response(conn, "gpumigrate", res)
	                              : MHD_queue_response(conn, (unsigned)status, res);
	MHD_destroy_response(res);
	return r;
}

static enum MHD_Result queue_text(struct gm_http_server *srv, struct MHD_Connection *conn,
                                  int status, const char *text)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_adds(&b, text);
	enum MHD_Result r = queue(srv, conn, status, NULL, &b, false);
	gm_buf_release(&b);
	return r;
}

/* Whether the client certificate satisfies client_auth_type. */
static bool client_cert_ok(const struct gm_web_config *web, struct MHD_Connection *conn)
{
	if (web->client_auth == GM_WEB_NO_CLIENT_CERT ||
	    web->client_auth == GM_WEB_REQUEST_CLIENT_CERT)
		return true;
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	if (!s)
		return false;
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
	bool given = certs && n > 0;
	if (web->client_auth == GM_WEB_REQUIRE_ANY_CLIENT_CERT)
		return given;
	if (!given)
		return web->client_auth == GM_WEB_VERIFY_CLIENT_CERT_IF_GIVEN;
	unsigned status = 0;
	return gnutls_certificate_verify_peers2(s, &status) == GNUTLS_E_SUCCESS && status == 0;
}

static bool basic_auth_ok(const struct gm_web_config *web, struct MHD_Connection *conn)
{
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(conn, &pass);
	bool ok = user && pass && gm_web_config_check_password(web, user, pass);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	static int headers_seen; /* *req_cls after the first call: only its address matters */
	struct gm_http_server *srv = cls;
	(void)version;
	(void)upload_data;
	if (*req_cls == &headers_seen) {
		/* Later calls: the end of the request. Any body is read and dropped; answering
		 * only now lets libmicrohttpd keep the connection alive for the next scrape (an
		 * answer queued before the request ended forces "Connection: close"). */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		struct gm_http_request req = {
		        method, url,
		        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT)};
		struct gm_http_response res = {200, NULL, GM_BUF_INIT};
		srv->handler.handle(srv->handler.ctx, &req, &res);
		enum MHD_Result r =
		        queue(srv, conn, res.status, res.content_type, &res.body, false);
		gm_buf_release(&res.body);
		return r;
	}
	/* Refusals are decided on the first call, when the headers are in: an answer queued now
	 * makes libmicrohttpd drop any body sent and close the connection. */
	if (srv->web && srv->web->tls && !client_cert_ok(srv->web, conn))
		return queue_text(srv, conn, MHD_HTTP_FORBIDDEN, "client certificate required\n");
	if (gm_web_config_has_users(srv->web) && !basic_auth_ok(srv->web, conn)) {
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_adds(&b, "unauthorized\n");
		enum MHD_Result r = queue(srv, conn, MHD_HTTP_UNAUTHORIZED, NULL, &b, true);
		gm_buf_release(&b);
		return r;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return queue_text(srv, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	*req_cls = &headers_seen;
	return MHD_YES;
}

/* GnuTLS priorities allowing min_version and newer. */
static void tls_priorities(int min_version, struct gm_buf *out)
{
	gm_buf_adds(out, "NORMAL:-VERS-ALL");
	for (int v = 13; v >= min_version && v >= 10; v--)
		gm_buf_addf(out, ":+VERS-TLS1.%d", v - 10);
}

enum gm_rc gm_http_start(struct gm_http_server **out, const struct gm_http_opts *opts,
                         const struct gm_http_handler *handler, struct gm_err *err)
{
	struct gm_http_server *srv = gm_xcalloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	bool any;
	unsigned port = 0;
	enum gm_rc rc;
	*out = NULL;
	srv->handler = *handler;
	srv->web = opts->web;
	if ((rc = gm_http_parse_listen(opts->listen, &ss, &any, &port, err)) != GM_OK)
		goto out;

	unsigned max_conn = opts->max_connections ? opts->max_connections : 64;
	unsigned per_ip = opts->max_per_ip ? opts->max_per_ip : max_conn / 4;
	if (per_ip < 4)
		per_ip = 4;
	if (per_ip > max_conn)
		per_ip = max_conn;
	unsigned timeout = opts->timeout_s ? opts->timeout_s : 10;
	size_t req_bytes = opts->max_request_bytes ? opts->max_request_bytes : 8192;
	/* the connection's memory pool holds the request and the response headers */
	size_t pool = req_bytes + 4096;

	struct MHD_OptionItem o[16];
	size_t n = 0;
#define OPT(opt, v, p) o[n++] = (struct MHD_OptionItem){(opt), (intptr_t)(v), (p)}
	OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, srv);
	OPT(MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, timeout, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, NULL);
	OPT(MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL);
	if (!any)
		OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
	/* poll(), not epoll: with epoll, libmicrohttpd 0.9.75 keeps a connection whose client
	 * half-closed before finishing its headers in CLOSE-WAIT until the timeout, so a burst
	 * of such clients holds every per-address slot for that long. With at most a few dozen
	 * connections poll() costs nothing more. */
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	if (opts->web && opts->web->tls) {
		flags |= MHD_USE_TLS;
		tls_priorities(opts->web->min_version, &srv->priorities);
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)gm_buf_cstr(&opts->web->cert_pem));
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)gm_buf_cstr(&opts->web->key_pem));
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)gm_buf_cstr(&srv->priorities));
		if (opts->web->client_auth != GM_WEB_NO_CLIENT_CERT)
			OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0,
			    (void *)gm_buf_cstr(&opts->web->client_ca_pem));
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT

	srv->starting = true;
	errno = 0;
	if (any) {
		/* every address: IPv6 and IPv4 on one socket, IPv4 alone where IPv6 is off */
		srv->d = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, (uint16_t)port, NULL, NULL,
		                          on_request, srv, MHD_OPTION_ARRAY, o, MHD_OPTION_END);
		if (!srv->d)
			srv->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request,
			                          srv, MHD_OPTION_ARRAY, o, MHD_OPTION_END);
	} else {
		if (ss.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		srv->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv,
		                          MHD_OPTION_ARRAY, o, MHD_OPTION_END);
	}
	int e = errno;
	srv->starting = false;
	if (!srv->d) {
		rc = gm_err_set(err, GM_ERR_IO, "cannot listen on '%s'", opts->listen);
		if (err && srv->start_msg.len)
			gm_buf_addf(&err->msg, ": %s", gm_buf_cstr(&srv->start_msg));
		else if (err && e)
			gm_buf_addf(&err->msg, ": %s", strerror(e));
		goto out;
	}
	*out = srv;
	srv = NULL;
out:
	gm_http_stop(srv);
	return rc;
}

unsigned gm_http_port(const struct gm_http_server *srv)
{
	if (!srv || !srv->d)
		return 0;
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : 0;
}

void gm_http_stop(struct gm_http_server *srv)
{
	if (!srv)
		return;
	if (srv->d)
		MHD_stop_daemon(srv->d);
	gm_buf_release(&srv->priorities);
	gm_buf_release(&srv->start_msg);
	free(srv);
}

/* Unit tests for the web configuration (exporter-toolkit format: every key, every bad-input
 * fixture with its file:line:col message, bcrypt checks) and for the HTTP server with a
 * small handler of the test's own: listen address parsing, 405 for other methods, basic
 * auth (401 without leaking anything), oversized requests, a port already in use. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "monitor/http.h"
#include "monitor/webconfig.h"
#include "util/fs.h"

/* bcrypt (cost 4) of "secret", as in the fixtures */
#define HASH "$2b$04$bx9en1FXwKb8ebtvdlp6Gumnf8eyg9ssVebTeYokDrdkOn5XFk3XK"

static void fixture_path(const char *name, struct gm_buf *out)
{
	const char *dir = getenv("GM_FIXTURES");
	gm_buf_reset(out);
	gm_buf_addf(out, "%s/webconfig/%s", dir ? dir : "tests/fixtures", name);
}

/* Parses a fixture (without reading the PEM files it names). */
static enum gm_rc parse_fixture(const char *name, struct gm_web_config *wc, struct gm_err *err)
{
	struct gm_buf path = GM_BUF_INIT, text = GM_BUF_INIT;
	fixture_path(name, &path);
	assert_int_equal(gm_fs_read(gm_buf_cstr(&path), 1 << 20, &text, NULL), GM_OK);
	enum gm_rc rc =
	        gm_web_config_parse(wc, name, "/cfg", text.data ? text.data : "", text.len, err);
	gm_buf_release(&path);
	gm_buf_release(&text);
	return rc;
}

static void full_config(void **state)
{
	(void)state;
	struct gm_web_config wc;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	assert_int_equal(parse_fixture("full.yml", &wc, &err), GM_OK);
	assert_true(wc.tls);
	assert_string_equal(wc.cert_file, "/cfg/server.crt");
	assert_string_equal(wc.key_file, "/etc/gpumigrate/server.key");
	assert_string_equal(wc.client_ca_file, "/cfg/ca.crt");
	assert_int_equal(wc.client_auth, GM_WEB_REQUIRE_AND_VERIFY_CLIENT_CERT);
	assert_int_equal(wc.min_version, 13);
	assert_int_equal(wc.n_headers, 2);
	assert_string_equal(wc.headers[0].name, "X-Frame-Options");
	assert_string_equal(wc.headers[0].value, "deny");
	/* the name is written as exporter-toolkit spells it, whatever the case in the file */
	assert_string_equal(wc.headers[1].name, "Strict-Transport-Security");
	assert_string_equal(wc.headers[1].value, "max-age=31536000");
	assert_int_equal(wc.n_users, 2);
	assert_string_equal(wc.users[0].name, "prometheus");
	assert_string_equal(wc.users[1].name, "grafana");
	assert_string_equal(wc.users[1].hash, HASH);
	assert_true(gm_web_config_has_users(&wc));
	assert_true(gm_web_config_check_password(&wc, "prometheus", "secret"));
	assert_true(gm_web_config_check_password(&wc, "grafana", "secret"));
	assert_false(gm_web_config_check_password(&wc, "prometheus", "Secret"));
	assert_false(gm_web_config_check_password(&wc, "prometheus", "secret "));
	assert_false(gm_web_config_check_password(&wc, "prometheus", ""));
	assert_false(gm_web_config_check_password(&wc, "nobody", "secret"));
	assert_false(gm_web_config_check_password(&wc, "prometheu", "secret"));
	assert_false(gm_web_config_check_password(&wc, NULL, "secret"));
	assert_false(gm_web_config_check_password(&wc, "prometheus", NULL));
	gm_web_config_release(&wc);
	assert_false(wc.tls);
	assert_int_equal(wc.n_users, 0);
	gm_web_config_release(&wc); /* twice is fine */
	gm_err_release(&err);
}

static void defaults_and_empty(void **state)
{
	(void)state;
	struct gm_web_config wc;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	assert_int_equal(parse_fixture("empty.yml", &wc, &err), GM_OK);
	assert_false(wc.tls);
	assert_false(gm_web_config_has_users(&wc));
	assert_false(gm_web_config_check_password(&wc, "a", "b"));
	assert_int_equal(wc.min_version, 12);

	assert_int_equal(parse_fixture("auth-only.yml", &wc, &err), GM_OK);
	assert_false(wc.tls);
	assert_int_equal(wc.n_users, 1);

	static const char tls[] = "tls_server_config: {cert_file: a.crt, key_file: k.pem}\n";
	assert_int_equal(gm_web_config_parse(&wc, "t.yml", NULL, tls, strlen(tls), &err), GM_OK);
	assert_true(wc.tls);
	assert_string_equal(wc.cert_file, "a.crt"); /* no dir: kept as written */
	assert_int_equal(wc.client_auth, GM_WEB_NO_CLIENT_CERT);
	assert_int_equal(wc.min_version, 12);
	assert_null(wc.client_ca_file);
	gm_web_config_release(&wc);
	gm_err_release(&err);
}

struct bad {
	const char *file;
	const char *where;  /* "file:line:col" prefix expected */
	const char *needle; /* in the message */
};

static void bad_fixtures(void **state)
{
	(void)state;
	static const struct bad cases[] = {
	        {"bad-typo.yml", "bad-typo.yml:3:3",
	         "unknown key 'key_flie' (did you mean 'key_file'?)"},
	        {"bad-plain-password.yml", "bad-plain-password.yml:2:15",
	         "the hash of user 'prometheus' is not a bcrypt hash"},
	        {"bad-client-auth.yml", "bad-client-auth.yml:4:21",
	         "unknown client_auth_type 'RequireClientCert'"},
	        {"bad-ca-without-mode.yml", "bad-ca-without-mode.yml:2:3",
	         "'client_ca_file' is given but client_auth_type is NoClientCert"},
	        {"bad-header.yml", "bad-header.yml:3:19", "header 'Content-Type' cannot be set"},
	        {"bad-top-key.yml", "bad-top-key.yml:1:1",
	         "unknown key 'basic_auth_user' (did you mean 'basic_auth_users'?)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gm_web_config wc;
		struct gm_err err = GM_ERR_INIT;
		gm_web_config_init(&wc);
		assert_int_equal(parse_fixture(cases[i].file, &wc, &err), GM_ERR_PARSE);
		const char *msg = gm_err_msg(&err);
		if (strncmp(msg, cases[i].where, strlen(cases[i].where)) != 0 ||
		    !strstr(msg, cases[i].needle))
			fail_msg("%s: got '%s'", cases[i].file, msg);
		/* a failed parse leaves nothing behind */
		assert_false(wc.tls);
		assert_int_equal(wc.n_users, 0);
		assert_null(wc.users);
		/* the plain-text password never shows in the message */
		assert_null(strstr(msg, "hunter2"));
		gm_web_config_release(&wc);
		gm_err_release(&err);
	}
}

static void bad_inline(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *needle;
	} cases[] = {
	        {"tls_server_config: {cert_file: a}\n", "needs both 'cert_file' and 'key_file'"},
	        {"tls_server_config: {cert_file: a, key_file: b, client_auth_type: "
	         "RequireAndVerifyClientCert}\n",
	         "client_auth_type 'RequireAndVerifyClientCert' needs 'client_ca_file'"},
	        {"tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}\n",
	         "unknown min_version 'TLS14'"},
	        {"tls_server_config: [a, b]\n", "'tls_server_config' must be a mapping"},
	        {"- a\n- b\n", "a web configuration must be a mapping"},
	        {"basic_auth_users: {a: " HASH ", a: " HASH "}\n", ""},
	        {"basic_auth_users: {'a:b': " HASH "}\n", "without ':'"},
	        {"basic_auth_users: {u: '$2b$04$short'}\n", "is not a bcrypt hash"},
	        {"basic_auth_users: {u: [1]}\n", "is not a bcrypt hash"},
	        {"http_server_config: {headers: {X-Frame-Options: [a]}}\n", "must be a string"},
	        {"http_server_config: {http2: maybe}\n", "http2"},
	        {"tls_server_config: {cert_file: '', key_file: b}\n", "'cert_file' is empty"},
	        {"{unclosed: [\n", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gm_web_config wc;
		struct gm_err err = GM_ERR_INIT;
		gm_web_config_init(&wc);
		enum gm_rc rc = gm_web_config_parse(&wc, "w.yml", NULL, cases[i].text,
		                                    strlen(cases[i].text), &err);
		if (rc == GM_OK || !strstr(gm_err_msg(&err), cases[i].needle) ||
		    strncmp(gm_err_msg(&err), "w.yml", 5) != 0)
			fail_msg("case %zu: rc %d, '%s'", i, rc, gm_err_msg(&err));
		assert_null(strstr(gm_err_msg(&err), "$2b$"));
		gm_web_config_release(&wc);
		gm_err_release(&err);
	}
}

/* Writes a file under dir. */
static void put(const char *dir, const char *name, const char *text)
{
	struct gm_buf p = GM_BUF_INIT;
	gm_buf_addf(&p, "%s/%s", dir, name);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&p), text, strlen(text), NULL), GM_OK);
	gm_buf_release(&p);
}

static void load_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/gm-webconfig-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct gm_buf cfg = GM_BUF_INIT;
	gm_buf_addf(&cfg, "%s/web.yml", dir);
	put(dir, "web.yml",
	    "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
	    "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n");
	put(dir, "s.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	put(dir, "s.key", "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n");

	struct gm_web_config wc;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	/* the CA file is missing */
	assert_int_equal(gm_web_config_load(&wc, gm_buf_cstr(&cfg), &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "client CA '"));
	assert_non_null(strstr(gm_err_msg(&err), "/ca.crt' does not exist"));
	assert_false(wc.tls);

	put(dir, "ca.crt", "not a pem\n");
	assert_int_equal(gm_web_config_load(&wc, gm_buf_cstr(&cfg), &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "is not a PEM file"));

	put(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n");
	gm_err_clear(&err);
	assert_int_equal(gm_web_config_load(&wc, gm_buf_cstr(&cfg), &err), GM_OK);
	assert_int_equal(wc.client_auth, GM_WEB_VERIFY_CLIENT_CERT_IF_GIVEN);
	assert_non_null(strstr(gm_buf_cstr(&wc.cert_pem), "AAAA"));
	assert_non_null(strstr(gm_buf_cstr(&wc.key_pem), "BBBB"));
	assert_non_null(strstr(gm_buf_cstr(&wc.client_ca_pem), "CCCC"));
	gm_web_config_release(&wc);

	struct gm_buf missing = GM_BUF_INIT;
	gm_buf_addf(&missing, "%s/nope.yml", dir);
	assert_int_equal(gm_web_config_load(&wc, gm_buf_cstr(&missing), &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "nope.yml' does not exist"));

	static const char *const names[] = {"web.yml", "s.crt", "s.key", "ca.crt"};
	for (size_t i = 0; i < 4; i++) {
		struct gm_buf p = GM_BUF_INIT;
		gm_buf_addf(&p, "%s/%s", dir, names[i]);
		unlink(gm_buf_cstr(&p));
		gm_buf_release(&p);
	}
	rmdir(dir);
	gm_buf_release(&missing);
	gm_buf_release(&cfg);
	gm_err_release(&err);
}

static void hash_made_here(void **state)
{
	(void)state;
	/* a hash made with this libcrypt ($2y$, cost 5) is accepted and checks out */
	char salt[64];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	assert_non_null(crypt_gensalt_rn("$2y$", 5, NULL, 0, salt, sizeof(salt)));
	const char *h = crypt_r("pa:ss wörd", salt, cd);
	assert_non_null(h);
	struct gm_buf text = GM_BUF_INIT;
	gm_buf_addf(&text, "basic_auth_users:\n  ops: '%s'\n", h);
	free(cd);
	struct gm_web_config wc;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	assert_int_equal(gm_web_config_parse(&wc, "h.yml", NULL, text.data, text.len, &err), GM_OK);
	assert_true(gm_web_config_check_password(&wc, "ops", "pa:ss wörd"));
	assert_false(gm_web_config_check_password(&wc, "ops", "pa:ss word"));
	gm_web_config_release(&wc);
	gm_buf_release(&text);
	gm_err_release(&err);
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The second check of the same credentials is answered from the cache without bcrypt; a wrong
 * password, another user's password or an unknown user never is. The times are printed for
 * the record, not asserted. */
static void auth_cache(void **state)
{
	(void)state;
	char salt[64];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	assert_non_null(crypt_gensalt_rn("$2y$", 10, NULL, 0, salt, sizeof(salt)));
	const char *h = crypt_r("s3cret", salt, cd);
	assert_non_null(h);
	struct gm_buf text = GM_BUF_INIT;
	gm_buf_addf(&text, "basic_auth_users:\n  prometheus: '%s'\n  grafana: '%s'\n", h, HASH);
	free(cd);
	struct gm_web_config wc;
	struct gm_web_auth_stats st;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	assert_int_equal(gm_web_config_parse(&wc, "c.yml", NULL, text.data, text.len, &err), GM_OK);
	assert_non_null(wc.auth_cache);

	double t0 = mono_ms();
	assert_true(gm_web_config_check_password(&wc, "prometheus", "s3cret"));
	double t1 = mono_ms();
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.bcrypt_runs, 1);
	assert_int_equal(st.cache_hits, 0);
	assert_true(gm_web_config_check_password(&wc, "prometheus", "s3cret"));
	double t2 = mono_ms();
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.bcrypt_runs, 1);
	assert_int_equal(st.cache_hits, 1);
	print_message("bcrypt cost 10: first check %.2f ms, cached check %.4f ms\n", t1 - t0,
	              t2 - t1);

	/* wrong passwords pay bcrypt every time, however often they are tried */
	for (int i = 0; i < 2; i++) {
		assert_false(gm_web_config_check_password(&wc, "prometheus", "s3creT"));
		assert_false(gm_web_config_check_password(&wc, "prometheus", "s3cret "));
		assert_false(gm_web_config_check_password(&wc, "nobody", "s3cret"));
		/* the cached pair does not vouch for the same password under another user */
		assert_false(gm_web_config_check_password(&wc, "grafana", "s3cret"));
	}
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.bcrypt_runs, 9);
	assert_int_equal(st.cache_hits, 1);
	assert_true(gm_web_config_check_password(&wc, "grafana", "secret"));
	assert_true(gm_web_config_check_password(&wc, "grafana", "secret"));
	assert_true(gm_web_config_check_password(&wc, "prometheus", "s3cret"));
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.bcrypt_runs, 10);
	assert_int_equal(st.cache_hits, 3);
	gm_web_config_release(&wc);
	assert_null(wc.auth_cache);
	gm_buf_release(&text);
	gm_err_release(&err);
}

/* The cache is bounded: with more passing users than slots, the oldest is forgotten. */
static void auth_cache_bounded(void **state)
{
	(void)state;
	struct gm_buf text = GM_BUF_INIT;
	gm_buf_adds(&text, "basic_auth_users:\n");
	for (int i = 0; i <= GM_WEB_AUTH_CACHE_SLOTS; i++)
		gm_buf_addf(&text, "  u%d: '%s'\n", i, HASH);
	struct gm_web_config wc;
	struct gm_web_auth_stats st;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	assert_int_equal(gm_web_config_parse(&wc, "b.yml", NULL, text.data, text.len, &err), GM_OK);
	char user[16];
	for (int i = 0; i <= GM_WEB_AUTH_CACHE_SLOTS; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		assert_true(gm_web_config_check_password(&wc, user, "secret"));
	}
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.bcrypt_runs, GM_WEB_AUTH_CACHE_SLOTS + 1);
	snprintf(user, sizeof(user), "u%d", GM_WEB_AUTH_CACHE_SLOTS);
	assert_true(gm_web_config_check_password(&wc, user, "secret")); /* newest: cached */
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_true(gm_web_config_check_password(&wc, "u0", "secret")); /* oldest: evicted */
	gm_web_config_auth_stats(&wc, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.bcrypt_runs, GM_WEB_AUTH_CACHE_SLOTS + 2);
	gm_web_config_release(&wc);
	gm_buf_release(&text);
	gm_err_release(&err);
}

/* ---- the server, with a handler of the test's own ---- */

struct seen {
	int calls;
	struct gm_buf last; /* "METHOD PATH ACCEPT" */
};

static void handle(void *ctx, const struct gm_http_request *req, struct gm_http_response *res)
{
	struct seen *s = ctx;
	s->calls++;
	gm_buf_reset(&s->last);
	gm_buf_addf(&s->last, "%s %s %s", req->method, req->path, req->accept ? req->accept : "-");
	if (strcmp(req->path, "/hello") == 0) {
		res->content_type = "text/x-test";
		gm_buf_adds(&res->body, "hello there\n");
	} else {
		res->status = 404;
		gm_buf_adds(&res->body, "not found\n");
	}
}

/* Sends raw bytes to 127.0.0.1:port, returns what came back until the server closed or 2 s
 * passed. */
static void exchange(unsigned port, const char *req, size_t len, struct gm_buf *out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may close on a request it refuses */
		off += (size_t)w;
	}
	gm_buf_reset(out);
	char buf[4096];
	ssize_t r;
	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
		gm_buf_add(out, buf, (size_t)r);
	close(fd);
}

static void get(unsigned port, const char *req, struct gm_buf *out)
{
	exchange(port, req, strlen(req), out);
}

static void server_plain(void **state)
{
	(void)state;
	struct seen s = {0, GM_BUF_INIT};
	struct gm_http_handler h = {&s, handle};
	struct gm_http_opts o = {"127.0.0.1:0", NULL, 8, 0, 2, 2048};
	struct gm_http_server *srv = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf r = GM_BUF_INIT;
	assert_int_equal(gm_http_start(&srv, &o, &h, &err), GM_OK);
	unsigned port = gm_http_port(srv);
	assert_true(port > 0);

	get(port,
	    "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
	    &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(gm_buf_cstr(&r), "Content-Type: text/x-test\r\n"));
	assert_non_null(strstr(gm_buf_cstr(&r), "\r\n\r\nhello there\n"));
	assert_string_equal(gm_buf_cstr(&s.last), "GET /hello text/plain");

	get(port, "HEAD /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(gm_buf_cstr(&r), "Content-Length: 12\r\n"));
	assert_null(strstr(gm_buf_cstr(&r), "hello there"));

	get(port, "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 404", 12) == 0);
	assert_non_null(strstr(gm_buf_cstr(&r), "Content-Type: text/plain; charset=utf-8\r\n"));

	int before = s.calls;
	static const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "BREW"};
	for (size_t i = 0; i < 6; i++) {
		struct gm_buf q = GM_BUF_INIT;
		gm_buf_addf(&q,
		            "%s /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: "
		            "close\r\n\r\nabc",
		            methods[i]);
		get(port, gm_buf_cstr(&q), &r);
		if (strncmp(gm_buf_cstr(&r), "HTTP/1.1 405", 12) != 0)
			fail_msg("%s: %s", methods[i], gm_buf_cstr(&r));
		assert_non_null(strstr(gm_buf_cstr(&r), "Allow: GET, HEAD\r\n"));
		gm_buf_release(&q);
	}
	assert_int_equal(s.calls, before); /* the handler never saw them */

	/* a request larger than the limit is refused, and the server keeps serving */
	struct gm_buf big = GM_BUF_INIT;
	gm_buf_adds(&big, "GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: ");
	gm_buf_addpad(&big, 'a', 64 * 1024);
	gm_buf_adds(&big, "\r\nConnection: close\r\n\r\n");
	exchange(port, big.data, big.len, &r);
	assert_true(r.len == 0 || strncmp(gm_buf_cstr(&r), "HTTP/1.1 4", 10) == 0);
	gm_buf_release(&big);
	get(port, "garbage\r\n\r\n", &r);
	assert_true(r.len == 0 || strncmp(gm_buf_cstr(&r), "HTTP/1.1 4", 10) == 0);
	get(port, "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 200", 12) == 0);

	/* a client that never finishes its headers is cut off after the timeout (2 s) */
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {0};
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		struct timeval tv = {6, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_true(send(fd, "GET /hello HTTP/1.1\r\nHost:", 26, MSG_NOSIGNAL) == 26);
		struct timespec t0, t1;
		char c;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_true(recv(fd, &c, 1, 0) <= 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double took =
		        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (took < 1.0 || took > 5.0)
			fail_msg("slow client closed after %.2f s", took);
		close(fd);
	}

	/* the same port twice: a clear error */
	struct gm_buf listen = GM_BUF_INIT;
	gm_buf_addf(&listen, "127.0.0.1:%u", port);
	struct gm_http_opts o2 = {gm_buf_cstr(&listen), NULL, 0, 0, 0, 0};
	struct gm_http_server *srv2 = NULL;
	assert_int_equal(gm_http_start(&srv2, &o2, &h, &err), GM_ERR_IO);
	assert_null(srv2);
	assert_non_null(strstr(gm_err_msg(&err), "cannot listen on '127.0.0.1:"));
	gm_buf_release(&listen);

	gm_http_stop(srv);
	gm_http_stop(NULL);
	gm_buf_release(&r);
	gm_buf_release(&s.last);
	gm_err_release(&err);
}

static void server_basic_auth(void **state)
{
	(void)state;
	struct seen s = {0, GM_BUF_INIT};
	struct gm_http_handler h = {&s, handle};
	struct gm_web_config wc;
	struct gm_err err = GM_ERR_INIT;
	gm_web_config_init(&wc);
	static const char cfg[] = "basic_auth_users: {prometheus: '" HASH "'}\n"
	                          "http_server_config: {headers: {X-Frame-Options: deny}}\n";
	assert_int_equal(gm_web_config_parse(&wc, "a.yml", NULL, cfg, strlen(cfg), &err), GM_OK);
	struct gm_http_opts o = {"127.0.0.1:0", &wc, 0, 0, 2, 0};
	struct gm_http_server *srv = NULL;
	struct gm_buf r = GM_BUF_INIT;
	assert_int_equal(gm_http_start(&srv, &o, &h, &err), GM_OK);
	unsigned port = gm_http_port(srv);

	get(port, "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 401", 12) == 0);
	assert_non_null(strstr(gm_buf_cstr(&r), "WWW-Authenticate: Basic realm=\"gpumigrate\""));
	assert_null(strstr(gm_buf_cstr(&r), "hello there"));
	/* prometheus:wrong */
	get(port,
	    "GET /hello HTTP/1.1\r\nHost: a\r\nAuthorization: Basic cHJvbWV0aGV1czp3cm9uZw==\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 401", 12) == 0);
	assert_null(strstr(gm_buf_cstr(&r), "$2b$"));
	assert_null(strstr(gm_buf_cstr(&r), "hello there"));
	/* a 405 is not given away before authentication */
	get(port, "DELETE /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 401", 12) == 0);
	/* not base64 */
	get(port,
	    "GET /hello HTTP/1.1\r\nHost: a\r\nAuthorization: Basic !!!!\r\nConnection: "
	    "close\r\n\r\n",
	    &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 4", 10) == 0);
	assert_int_equal(s.calls, 0);
	/* prometheus:secret */
	get(port,
	    "GET /hello HTTP/1.1\r\nHost: a\r\nAuthorization: Basic cHJvbWV0aGV1czpzZWNyZXQ=\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_true(strncmp(gm_buf_cstr(&r), "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(gm_buf_cstr(&r), "X-Frame-Options: deny\r\n"));
	assert_non_null(strstr(gm_buf_cstr(&r), "hello there"));
	assert_int_equal(s.calls, 1);

	gm_http_stop(srv);
	gm_web_config_release(&wc);
	gm_buf_release(&r);
	gm_buf_release(&s.last);
	gm_err_release(&err);
}

static void listen_addresses(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	bool any;
	unsigned port = 0;
	struct gm_err err = GM_ERR_INIT;
	char text[64];

	assert_int_equal(gm_http_parse_listen(":9400", &ss, &any, &port, &err), GM_OK);
	assert_true(any);
	assert_int_equal(port, 9400);

	assert_int_equal(gm_http_parse_listen("10.1.2.3:80", &ss, &any, &port, &err), GM_OK);
	assert_false(any);
	assert_int_equal(ss.ss_family, AF_INET);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	assert_int_equal(ntohs(a4->sin_port), 80);
	assert_string_equal(inet_ntop(AF_INET, &a4->sin_addr, text, sizeof(text)), "10.1.2.3");

	assert_int_equal(gm_http_parse_listen("[fe80::1]:65535", &ss, &any, &port, &err), GM_OK);
	assert_int_equal(ss.ss_family, AF_INET6);
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	assert_int_equal(ntohs(a6->sin6_port), 65535);
	assert_string_equal(inet_ntop(AF_INET6, &a6->sin6_addr, text, sizeof(text)), "fe80::1");

	assert_int_equal(gm_http_parse_listen("[::]:0", &ss, &any, &port, &err), GM_OK);
	assert_false(any);
	assert_int_equal(port, 0);

	static const struct {
		const char *in, *needle;
	} bad[] = {
	        {"9400", "has no port"},
	        {"", "has no port"},
	        {"1.2.3.4:", "is not a port"},
	        {"1.2.3.4:65536", "is not a port"},
	        {"1.2.3.4:-1", "is not a port"},
	        {"1.2.3.4:+1", "is not a port"},
	        {"1.2.3.4: 1", "is not a port"},
	        {"::1:9400", "in brackets"},
	        {"[::1:9400", "in brackets"},
	        {"[zz]:1", "is not an IPv6 address"},
	        {"[1.2.3.4]:1", "is not an IPv6 address"},
	        {"no-such-host.invalid:1", "cannot resolve"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (gm_http_parse_listen(bad[i].in, &ss, &any, &port, &err) != GM_ERR_USAGE ||
		    !strstr(gm_err_msg(&err), bad[i].needle))
			fail_msg("'%s': %s", bad[i].in, gm_err_msg(&err));
	}
	assert_int_equal(gm_http_parse_listen(NULL, &ss, &any, &port, &err), GM_ERR_USAGE);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(full_config),        cmocka_unit_test(defaults_and_empty),
	        cmocka_unit_test(bad_fixtures),       cmocka_unit_test(bad_inline),
	        cmocka_unit_test(load_files),         cmocka_unit_test(hash_made_here),
	        cmocka_unit_test(server_plain),       cmocka_unit_test(server_basic_auth),
	        cmocka_unit_test(listen_addresses),   cmocka_unit_test(auth_cache),
	        cmocka_unit_test(auth_cache_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

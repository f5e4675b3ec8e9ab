/* The web configuration file of Prometheus' exporter-toolkit (the format node_exporter and
 * most exporters take with --web.config.file), so that a site's existing TLS and basic-auth
 * setup carries over to `gpumigrate exporter` unchanged:
 *
 *   tls_server_config:
 *     cert_file: server.crt          # relative paths are relative to the config file
 *     key_file: server.key
 *     client_auth_type: RequireAndVerifyClientCert
 *     client_ca_file: ca.crt
 *     min_version: TLS12             # TLS10 … TLS13; default TLS12
 *   http_server_config:
 *     headers: {X-Frame-Options: deny}
 *   basic_auth_users:
 *     prometheus: $2y$10$…           # bcrypt hashes only
 *
 * Unknown keys are errors naming file:line:col with a "did you mean" hint. Passwords and
 * hashes never appear in an error message or a log line. */
#ifndef GM_WEBCONFIG_H
#define GM_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Web configuration files larger than this are refused. */
#define GM_WEB_CONFIG_MAX_BYTES (1u << 20)
/* PEM files (certificate, key, CA) larger than this are refused. */
#define GM_WEB_PEM_MAX_BYTES (1u << 20)

/* tls_server_config.client_auth_type, as Go's crypto/tls names them. */
enum gm_web_client_auth {
	GM_WEB_NO_CLIENT_CERT = 0,
	GM_WEB_REQUEST_CLIENT_CERT,
	GM_WEB_REQUIRE_ANY_CLIENT_CERT,
	GM_WEB_VERIFY_CLIENT_CERT_IF_GIVEN,
	GM_WEB_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

struct gm_web_user {
	char *name;
	char *hash; /* bcrypt: $2a$, $2b$ or $2y$ */
};

struct gm_web_header {
	char *name;
	char *value;
};

/* Successful basic-auth checks are remembered so that a scrape every second does not pay
 * bcrypt (~50-100 ms at cost 10) each time: a bounded cache of SHA-256 digests of a random
 * per-configuration salt, the user and the password; never the password itself. */
#define GM_WEB_AUTH_CACHE_SLOTS 16

struct gm_web_auth_cache;

/* Counters of gm_web_config_check_password, for tests and debugging. */
struct gm_web_auth_stats {
	unsigned long cache_hits;  /* answered from the cache */
	unsigned long bcrypt_runs; /* answered by bcrypt */
};

struct gm_web_config {
	bool tls;                                    /* tls_server_config present */
	char *cert_file, *key_file, *client_ca_file; /* resolved paths; NULL when absent */
	/* PEM contents, read by gm_web_config_load (not by gm_web_config_parse). */
	struct gm_buf cert_pem, key_pem, client_ca_pem;
	enum gm_web_client_auth client_auth;
	int min_version; /* 10, 11, 12 or 13 (TLS 1.x) */
	struct gm_web_user *users;
	size_t n_users;
	struct gm_web_header *headers; /* http_server_config.headers, added to every response */
	size_t n_headers;
	struct gm_web_auth_cache *auth_cache; /* made by gm_web_config_parse with users */
};

void gm_web_config_init(struct gm_web_config *wc);
void gm_web_config_release(struct gm_web_config *wc);

/* Parses a web configuration text. name is used in messages; relative file names are
 * resolved against dir (NULL: kept as written). Checks the structure and values (known
 * keys, client_auth_type and min_version words, cert and key given together, a client CA
 * for the client-certificate modes, bcrypt-looking hashes) but reads no file. */
enum gm_rc gm_web_config_parse(struct gm_web_config *wc, const char *name, const char *dir,
                               const char *text, size_t len, struct gm_err *err);

/* Reads path, parses it (relative names resolved against path's directory) and reads the
 * certificate, key and client CA files into the *_pem buffers. */
enum gm_rc gm_web_config_load(struct gm_web_config *wc, const char *path, struct gm_err *err);

/* Whether basic auth is configured (at least one user). */
bool gm_web_config_has_users(const struct gm_web_config *wc);

/* Checks a user name and password against basic_auth_users with bcrypt (libxcrypt), comparing
 * in constant time; an unknown user costs the same bcrypt run as a known one. A pair that
 * passed before is answered from the configuration's cache (GM_WEB_AUTH_CACHE_SLOTS slots,
 * oldest replaced first) without bcrypt; failures are never cached, so a wrong password
 * always costs a bcrypt run. Thread-safe. */
bool gm_web_config_check_password(const struct gm_web_config *wc, const char *user,
                                  const char *password);

/* How the checks so far were answered (zeros without a cache). */
void gm_web_config_auth_stats(const struct gm_web_config *wc, struct gm_web_auth_stats *out);

#endif

/* Reading the exporter-toolkit web configuration file and checking basic-auth passwords
 * against its bcrypt hashes (libxcrypt's crypt_rn), so TLS and auth settings that sites
 * already use for node_exporter work for the exporter as they are. */
#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/webconfig.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

void gm_web_config_init(struct gm_web_config *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->min_version = 12;
}

/* Digests of user and password pairs that passed bcrypt. */
struct gm_web_auth_cache {
	pthread_mutex_t lock;
	uint8_t salt[32];
	uint8_t key[GM_WEB_AUTH_CACHE_SLOTS][32];
	bool used[GM_WEB_AUTH_CACHE_SLOTS];
	unsigned next; /* slot replaced next */
	struct gm_web_auth_stats stats;
};

static struct gm_web_auth_cache *cache_new(void)
{
	struct gm_web_auth_cache *c = gm_xcalloc(1, sizeof(*c));
	if (gnutls_rnd(GNUTLS_RND_KEY, c->salt, sizeof(c->salt)) != 0) {
		free(c);
		return NULL; /* no randomness: no cache, every check runs bcrypt */
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void cache_free(struct gm_web_auth_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* SHA-256(salt || len(user) || user || password): the length keeps "ab"+"c" apart from
 * "a"+"bc". */
static bool cache_key(const struct gm_web_auth_cache *c, const char *user, const char *password,
                      uint8_t out[32])
{
	gnutls_hash_hd_t h;
	size_t ul = strlen(user);
	uint8_t len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)((uint64_t)ul >> (8 * i));
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0)
		return false;
	gnutls_hash(h, c->salt, sizeof(c->salt));
	gnutls_hash(h, len, sizeof(len));
	gnutls_hash(h, user, ul);
	gnutls_hash(h, password, strlen(password));
	gnutls_hash_deinit(h, out);
	return true;
}

/* Whether key is cached; every slot is compared whole, so the time tells nothing. */
static bool cache_has(const struct gm_web_auth_cache *c, const uint8_t key[32])
{
	unsigned found = 0;
	for (unsigned s = 0; s < GM_WEB_AUTH_CACHE_SLOTS; s++) {
		uint8_t diff = 0;
		for (unsigned i = 0; i < 32; i++)
			diff |= (uint8_t)(c->key[s][i] ^ key[i]);
		found |= (unsigned)(c->used[s] && diff == 0);
	}
	return found != 0;
}

void gm_web_config_release(struct gm_web_config *wc)
{
	if (!wc)
		return;
	cache_free(wc->auth_cache);
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	gm_buf_release(&wc->cert_pem);
	/* the key is secret: wipe it before it goes back to the allocator */
	if (wc->key_pem.data)
		explicit_bzero(wc->key_pem.data, wc->key_pem.cap);
	gm_buf_release(&wc->key_pem);
	gm_buf_release(&wc->client_ca_pem);
	for (size_t i = 0; i < wc->n_users; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	for (size_t i = 0; i < wc->n_headers; i++) {
		free(wc->headers[i].name);
		free(wc->headers[i].value);
	}
	free(wc->headers);
	gm_web_config_init(wc);
}

bool gm_web_config_has_users(const struct gm_web_config *wc)
{
	return wc && wc->n_users > 0;
}

/* Parser state: the document (for file:line:col) and where errors go. */
struct parser {
	struct gm_doc doc;
	const char *dir;
	struct gm_err *err;
};

static enum gm_rc fail_at(struct parser *p, struct fy_node *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum gm_rc fail_at(struct parser *p, struct fy_node *n, const char *fmt, ...)
{
	struct gm_buf where = GM_BUF_INIT;
	va_list ap;
	gm_doc_where(&p->doc, n, &where);
	gm_err_set(p->err, GM_ERR_PARSE, "%s: ", gm_buf_cstr(&where));
	if (p->err) {
		va_start(ap, fmt);
		gm_buf_vaddf(&p->err->msg, fmt, ap);
		va_end(ap);
	}
	gm_buf_release(&where);
	return GM_ERR_PARSE;
}

/* A mapping under key, or NULL when absent/null; an error for anything else. */
static enum gm_rc get_map(struct parser *p, struct fy_node *parent, const char *key,
                          struct fy_node **out)
{
	struct fy_node *n = gm_doc_get(parent, key);
	*out = NULL;
	if (gm_doc_is_null(n))
		return GM_OK;
	if (!gm_doc_is_map(n))
		return fail_at(p, n, "'%s' must be a mapping", key);
	*out = n;
	return GM_OK;
}

/* A file name under key, resolved against the config file's directory. */
static enum gm_rc get_path(struct parser *p, struct fy_node *map, const char *key, char **out)
{
	const char *s = NULL;
	enum gm_rc rc = gm_doc_get_str(&p->doc, map, key, &s, p->err);
	if (rc == GM_ERR_NOT_FOUND)
		return GM_OK;
	if (rc != GM_OK)
		return rc;
	if (!*s)
		return fail_at(p, gm_doc_get(map, key), "'%s' is empty", key);
	struct gm_buf b = GM_BUF_INIT;
	if (s[0] != '/' && p->dir && *p->dir)
		gm_buf_addf(&b, "%s/", p->dir);
	gm_buf_adds(&b, s);
	*out = gm_buf_detach(&b);
	return GM_OK;
}

static const char *const client_auth_words[] = {
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
};

static enum gm_rc parse_tls(struct parser *p, struct fy_node *tls, struct gm_web_config *wc)
{
	static const char *const keys[] = {"cert_file",      "key_file",    "client_auth_type",
	                                   "client_ca_file", "min_version", NULL};
	enum gm_rc rc = gm_doc_check_keys(&p->doc, tls, keys, p->err);
	if (rc != GM_OK)
		return rc;
	wc->tls = true;
	if ((rc = get_path(p, tls, "cert_file", &wc->cert_file)) != GM_OK ||
	    (rc = get_path(p, tls, "key_file", &wc->key_file)) != GM_OK ||
	    (rc = get_path(p, tls, "client_ca_file", &wc->client_ca_file)) != GM_OK)
		return rc;
	if (!wc->cert_file || !wc->key_file)
		return fail_at(p, tls, "%s",
		               "tls_server_config needs both 'cert_file' and 'key_file'");

	const char *s = NULL;
	rc = gm_doc_get_str(&p->doc, tls, "client_auth_type", &s, p->err);
	if (rc == GM_OK) {
		size_t n = sizeof(client_auth_words) / sizeof(client_auth_words[0]), i;
		for (i = 0; i < n && strcmp(s, client_auth_words[i]) != 0; i++)
			;
		if (i == n)
			return fail_at(p, gm_doc_get(tls, "client_auth_type"),
			               "unknown client_auth_type '%s' (NoClientCert, "
			               "RequestClientCert, RequireAnyClientCert, "
			               "VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
			               s);
		wc->client_auth = (enum gm_web_client_auth)i;
	} else if (rc != GM_ERR_NOT_FOUND) {
		return rc;
	}
	/* libmicrohttpd asks for a client certificate only when it has CAs to offer, so every
	 * mode but NoClientCert needs client_ca_file; and CAs without a mode is a mistake. */
	if (wc->client_auth != GM_WEB_NO_CLIENT_CERT && !wc->client_ca_file)
		return fail_at(p, tls, "client_auth_type '%s' needs 'client_ca_file'",
		               client_auth_words[wc->client_auth]);
	if (wc->client_auth == GM_WEB_NO_CLIENT_CERT && wc->client_ca_file)
		return fail_at(p, tls,
		               "%s: set 'client_auth_type' (e.g. RequireAndVerifyClientCert) or "
		               "remove it",
		               "'client_ca_file' is given but client_auth_type is NoClientCert");

	rc = gm_doc_get_str(&p->doc, tls, "min_version", &s, p->err);
	if (rc == GM_OK) {
		static const char *const words[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
		size_t i;
		for (i = 0; i < 4 && strcmp(s, words[i]) != 0; i++)
			;
		if (i == 4)
			return fail_at(p, gm_doc_get(tls, "min_version"),
			               "unknown min_version '%s' (TLS10, TLS11, TLS12 or TLS13)",
			               s);
		wc->min_version = 10 + (int)i;
	} else if (rc != GM_ERR_NOT_FOUND) {
		return rc;
	}
	return GM_OK;
}

/* Whether a header value can go on the wire as it is: printable ASCII and tabs only. */
static bool header_value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 ? *s != '\t' : (unsigned char)*s == 0x7f)
			return false;
	return true;
}

static enum gm_rc parse_http(struct parser *p, struct fy_node *http, struct gm_web_config *wc)
{
	static const char *const keys[] = {"http2", "headers", NULL};
	/* the security headers exporter-toolkit allows to be set */
	static const char *const allowed[] = {"Strict-Transport-Security", "X-Content-Type-Options",
	                                      "X-Frame-Options", "X-XSS-Protection",
	                                      "Content-Security-Policy"};
	enum gm_rc rc = gm_doc_check_keys(&p->doc, http, keys, p->err);
	if (rc != GM_OK)
		return rc;
	bool http2;
	rc = gm_doc_get_bool(&p->doc, http, "http2", &http2, p->err);
	if (rc != GM_OK && rc != GM_ERR_NOT_FOUND)
		return rc;
	struct fy_node *h;
	if ((rc = get_map(p, http, "headers", &h)) != GM_OK || !h)
		return rc;
	int n = gm_doc_map_len(h);
	wc->headers = gm_xcalloc((size_t)n + 1, sizeof(*wc->headers));
	for (int i = 0; i < n; i++) {
		const char *name = gm_doc_map_key_at(h, i);
		struct fy_node *v = gm_doc_map_value_at(h, i);
		const char *value = gm_doc_scalar(v);
		size_t k, na = sizeof(allowed) / sizeof(allowed[0]);
		for (k = 0; name && k < na && strcasecmp(name, allowed[k]) != 0; k++)
			;
		if (!name || k == na)
			return fail_at(
			        p, v ? v : h,
			        "header '%s' cannot be set (Strict-Transport-Security, "
			        "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection or "
			        "Content-Security-Policy)",
			        name ? name : "?");
		if (!value || !header_value_ok(value))
			return fail_at(p, v ? v : h,
			               "the value of header '%s' must be a string of printable "
			               "characters",
			               allowed[k]);
		wc->headers[wc->n_headers].name = gm_xstrdup(allowed[k]);
		wc->headers[wc->n_headers].value = gm_xstrdup(value);
		wc->n_headers++;
	}
	return GM_OK;
}

/* bcrypt hashes are $2a$, $2b$ or $2y$, a two-digit cost, $, then 53 characters. */
static bool looks_like_bcrypt(const char *h)
{
	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return false;
	for (size_t i = 7; i < 60; i++)
		if (!strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		            h[i]))
			return false;
	int cost = (h[4] - '0') * 10 + (h[5] - '0');
	return cost >= 4 && cost <= 31;
}

static enum gm_rc parse_users(struct parser *p, struct fy_node *users, struct gm_web_config *wc)
{
	int n = gm_doc_map_len(users);
	wc->users = gm_xcalloc((size_t)n + 1, sizeof(*wc->users));
	for (int i = 0; i < n; i++) {
		const char *name = gm_doc_map_key_at(users, i);
		struct fy_node *v = gm_doc_map_value_at(users, i);
		const char *hash = gm_doc_scalar(v);
		if (!name || !*name || strchr(name, ':'))
			return fail_at(
			        p, v ? v : users,
			        "basic_auth_users: user name '%s' must be a non-empty string "
			        "without ':'",
			        name ? name : "?");
		for (size_t k = 0; k < wc->n_users; k++)
			if (strcmp(wc->users[k].name, name) == 0)
				return fail_at(p, v ? v : users,
				               "basic_auth_users: user '%s' is listed twice", name);
		/* never echo the hash itself: it is a secret too */
		if (!hash || !looks_like_bcrypt(hash))
			return fail_at(
			        p, v ? v : users,
			        "basic_auth_users: the hash of user '%s' is not a bcrypt hash "
			        "($2y$…); make one with 'htpasswd -nbB USER PASSWORD'",
			        name);
		wc->users[wc->n_users].name = gm_xstrdup(name);
		wc->users[wc->n_users].hash = gm_xstrdup(hash);
		wc->n_users++;
	}
	return GM_OK;
}

/* Whether a text holds nothing but blank lines and comments. */
static bool blank(const char *text, size_t len)
{
	bool comment = false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '\n')
			comment = false;
		else if (c == '#')
			comment = true;
		else if (!comment && c != ' ' && c != '\t' && c != '\r')
			return false;
	}
	return true;
}

enum gm_rc gm_web_config_parse(struct gm_web_config *wc, const char *name, const char *dir,
                               const char *text, size_t len, struct gm_err *err)
{
	static const char *const keys[] = {"tls_server_config", "http_server_config",
	                                   "basic_auth_users", NULL};
	struct parser p = {{NULL, NULL, NULL}, dir, err};
	struct fy_node *root, *tls = NULL, *http = NULL, *users = NULL;
	enum gm_rc rc = GM_OK;
	gm_web_config_release(wc);
	if (len > GM_WEB_CONFIG_MAX_BYTES) {
		rc = gm_err_set(err, GM_ERR_LIMIT, "web configuration '%s' is larger than %u bytes",
		                name, GM_WEB_CONFIG_MAX_BYTES);
		goto out;
	}
	if (blank(text, len))
		goto out; /* an empty file: plain HTTP, no auth, as exporter-toolkit does */
	if ((rc = gm_doc_load_string(&p.doc, name, text, len, err)) != GM_OK)
		goto out;
	root = gm_doc_root(&p.doc);
	if (gm_doc_is_null(root))
		goto out; /* an empty file: plain HTTP, no auth, as exporter-toolkit does */
	if (!gm_doc_is_map(root)) {
		rc = fail_at(&p, root, "%s", "a web configuration must be a mapping");
		goto out;
	}
	if ((rc = gm_doc_check_keys(&p.doc, root, keys, err)) != GM_OK ||
	    (rc = get_map(&p, root, "tls_server_config", &tls)) != GM_OK ||
	    (rc = get_map(&p, root, "http_server_config", &http)) != GM_OK ||
	    (rc = get_map(&p, root, "basic_auth_users", &users)) != GM_OK)
		goto out;
	if (tls && (rc = parse_tls(&p, tls, wc)) != GM_OK)
		goto out;
	if (http && (rc = parse_http(&p, http, wc)) != GM_OK)
		goto out;
	if (users && (rc = parse_users(&p, users, wc)) != GM_OK)
		goto out;
	if (wc->n_users)
		wc->auth_cache = cache_new();
out:
	gm_doc_release(&p.doc);
	if (rc != GM_OK)
		gm_web_config_release(wc);
	return rc;
}

static enum gm_rc read_pem(const char *path, const char *what, struct gm_buf *out,
                           struct gm_err *err)
{
	enum gm_rc rc = gm_fs_read(path, GM_WEB_PEM_MAX_BYTES, out, err);
	if (rc == GM_ERR_NOT_FOUND)
		return gm_err_set(err, rc, "%s '%s' does not exist", what, path);
	if (rc != GM_OK)
		return rc;
	if (!strstr(gm_buf_cstr(out), "-----BEGIN "))
		return gm_err_set(err, GM_ERR_PARSE, "%s '%s' is not a PEM file", what, path);
	return GM_OK;
}

enum gm_rc gm_web_config_load(struct gm_web_config *wc, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT, dir = GM_BUF_INIT;
	enum gm_rc rc = gm_fs_read(path, GM_WEB_CONFIG_MAX_BYTES, &text, err);
	if (rc == GM_ERR_NOT_FOUND)
		gm_err_set(err, rc, "web configuration '%s' does not exist", path);
	if (rc != GM_OK)
		goto out;
	const char *slash = strrchr(path, '/');
	if (slash)
		gm_buf_add(&dir, path, slash == path ? 1 : (size_t)(slash - path));
	if ((rc = gm_web_config_parse(wc, path, slash ? gm_buf_cstr(&dir) : NULL, text.data,
	                              text.len, err)) != GM_OK)
		goto out;
	if (wc->tls &&
	    ((rc = read_pem(wc->cert_file, "certificate", &wc->cert_pem, err)) != GM_OK ||
	     (rc = read_pem(wc->key_file, "key", &wc->key_pem, err)) != GM_OK))
		goto out;
	if (wc->client_ca_file &&
	    (rc = read_pem(wc->client_ca_file, "client CA", &wc->client_ca_pem, err)) != GM_OK)
		goto out;
out:
	if (rc != GM_OK)
		gm_web_config_release(wc);
	gm_buf_release(&text);
	gm_buf_release(&dir);
	return rc;
}

/* Compares two strings in time that depends on their lengths only. */
static bool equal_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
	unsigned char diff = la != lb;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)((i < la ? a[i] : 0) ^ (i < lb ? b[i] : 0));
	return diff == 0;
}

bool gm_web_config_check_password(const struct gm_web_config *wc, const char *user,
                                  const char *password)
{
	if (!wc || !wc->n_users || !user || !password)
		return false;
	struct gm_web_auth_cache *c = wc->auth_cache;
	uint8_t key[32];
	bool keyed = c && cache_key(c, user, password, key);
	if (keyed) {
		pthread_mutex_lock(&c->lock);
		bool hit = cache_has(c, key);
		if (hit)
			c->stats.cache_hits++;
		else
			c->stats.bcrypt_runs++;
		pthread_mutex_unlock(&c->lock);
		if (hit) {
			explicit_bzero(key, sizeof(key));
			return true;
		}
	}
	const struct gm_web_user *u = NULL;
	for (size_t i = 0; i < wc->n_users; i++)
		if (equal_ct(wc->users[i].name, user))
			u = &wc->users[i];
	/* an unknown user runs bcrypt against a real hash too, so timing tells nothing */
	const char *hash = u ? u->hash : wc->users[0].hash;
	/* crypt_rn, not crypt_r: it returns NULL on failure instead of a "*0" string, and the
	 * sanitizers do not intercept it (their crypt_r interceptor satisfies the link, so
	 * --as-needed drops libcrypt and the interceptor has nothing to call) */
	struct crypt_data *cd = gm_xcalloc(1, sizeof(*cd));
	const char *got = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	bool ok = u && got && got[0] == '$' && equal_ct(got, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	if (ok && keyed) {
		pthread_mutex_lock(&c->lock);
		if (!cache_has(c, key)) {
			memcpy(c->key[c->next], key, sizeof(key));
			c->used[c->next] = true;
			c->next = (c->next + 1) % GM_WEB_AUTH_CACHE_SLOTS;
		}
		pthread_mutex_unlock(&c->lock);
	}
	explicit_bzero(key, sizeof(key));
	return ok;
}

void gm_web_config_auth_stats(const struct gm_web_config *wc, struct gm_web_auth_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!wc || !wc->auth_cache)
		return;
	pthread_mutex_lock(&wc->auth_cache->lock);
	*out = wc->auth_cache->stats;
	pthread_mutex_unlock(&wc->auth_cache->lock);
}

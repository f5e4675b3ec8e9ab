/* OAuth2 access tokens for GCS: finds the credentials Google's client libraries would use,
 * turns them into bearer tokens (a signed JWT for a service account, a refresh-token grant
 * for gcloud user credentials, the metadata server on a VM), and caches them. */
#define CURL_DISABLE_TYPECHECK
#include "objstore/gauth.h"

#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "objstore/codec.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define METADATA_DEFAULT  "metadata.google.internal"
#define METADATA_PATH     "/computeMetadata/v1/instance/service-accounts/default/token"
#define DMI_PRODUCT       "/sys/class/dmi/id/product_name"
#define JWT_LIFETIME_S    3600
#define TOKEN_BODY_MAX    (64u << 10)
#define TOKEN_MAX         4096

struct gm_gauth {
	struct gm_os_http *http;
	enum gm_gauth_kind kind;
	struct gm_buf source;
	struct gm_buf scope;
	struct gm_buf token_url; /* token_uri, or the metadata server's token URL */
	struct gm_buf what;      /* the endpoint as messages name it: its host */
	/* service account */
	struct gm_buf email;
	struct gm_buf key_id;
	gnutls_privkey_t key;
	/* authorized user (secrets: never in a message) */
	struct gm_buf client_id;
	struct gm_buf client_secret;
	struct gm_buf refresh_token;

	pthread_mutex_t mu; /* guards the cache below */
	struct gm_buf token;
	int64_t refresh_at; /* clock second from which the cached token is fetched anew */
	int64_t (*now)(void *ctx);
	void *now_ctx;
};

static void secret_release(struct gm_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	gm_buf_release(b);
}

static int64_t clock_now(const struct gm_gauth *g)
{
	return g->now ? g->now(g->now_ctx) : (int64_t)time(NULL);
}

void gm_gauth_free(struct gm_gauth *g)
{
	if (!g)
		return;
	if (g->key)
		gnutls_privkey_deinit(g->key);
	gm_buf_release(&g->source);
	gm_buf_release(&g->scope);
	gm_buf_release(&g->token_url);
	gm_buf_release(&g->what);
	gm_buf_release(&g->email);
	gm_buf_release(&g->key_id);
	secret_release(&g->client_id);
	secret_release(&g->client_secret);
	secret_release(&g->refresh_token);
	secret_release(&g->token);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

const char *gm_gauth_source(const struct gm_gauth *g)
{
	return g ? gm_buf_cstr(&g->source) : "";
}

enum gm_gauth_kind gm_gauth_kind(const struct gm_gauth *g)
{
	return g->kind;
}

void gm_gauth_set_clock(struct gm_gauth *g, int64_t (*now)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&g->mu);
	g->now = now;
	g->now_ctx = ctx;
	pthread_mutex_unlock(&g->mu);
}

void gm_gauth_invalidate(struct gm_gauth *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	secret_release(&g->token);
	g->refresh_at = 0;
	pthread_mutex_unlock(&g->mu);
}

/* Printable ASCII without spaces: safe in a header and in a message. */
static bool is_token_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The host[:port] of an http(s) URL into out (for messages); false when url is neither. */
static bool url_host(const char *url, struct gm_buf *out, bool *https)
{
	const char *rest;
	if (strncmp(url, "https://", 8) == 0)
		rest = url + 8, *https = true;
	else if (strncmp(url, "http://", 7) == 0)
		rest = url + 7, *https = false;
	else
		return false;
	size_t n = strcspn(rest, "/?#");
	if (n == 0 || memchr(rest, '@', n))
		return false;
	gm_buf_reset(out);
	gm_buf_add(out, rest, n);
	return is_token_text(out->data, out->len);
}

static bool is_loopback(const char *hostport)
{
	static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (strncmp(hostport, names[i], n) == 0 &&
		    (hostport[n] == '\0' || hostport[n] == ':'))
			return true;
	}
	return false;
}

/* A string field of the credentials file: present, non-empty, at most max bytes. secret
 * fields are never quoted; the others must be printable. */
static enum gm_rc cred_field(const struct gm_doc *doc, struct fy_node *root, const char *key,
                             bool required, size_t max, struct gm_buf *out, struct gm_err *err)
{
	const char *v = NULL;
	enum gm_rc rc = gm_doc_get_str(doc, root, key, &v, err);
	if (rc == GM_ERR_NOT_FOUND || (rc == GM_OK && !*v)) {
		if (!required)
			return GM_OK;
		return gm_err_set(err, GM_ERR_PARSE, "'%s' has no '%s'", doc->name, key);
	}
	if (rc != GM_OK)
		return rc;
	size_t len = strlen(v);
	if (len > max)
		return gm_err_set(err, GM_ERR_LIMIT, "'%s': '%s' is longer than %zu bytes",
		                  doc->name, key, max);
	gm_buf_reset(out);
	gm_buf_add(out, v, len);
	return GM_OK;
}

static enum gm_rc set_token_url(struct gm_gauth *g, const char *path, const char *url,
                                struct gm_err *err)
{
	bool https = false;
	gm_buf_reset(&g->token_url);
	gm_buf_adds(&g->token_url, url);
	if (!url_host(url, &g->what, &https))
		return gm_err_set(err, GM_ERR_PARSE, "'%s': 'token_uri' is not an http(s) URL",
		                  path);
	/* a signed assertion or refresh token in the clear only to this machine (tests) */
	if (!https && !is_loopback(gm_buf_cstr(&g->what)))
		return gm_err_set(
		        err, GM_ERR_PARSE,
		        "'%s': 'token_uri' must be https:// (plain http only to loopback)", path);
	return GM_OK;
}

static enum gm_rc import_key(struct gm_gauth *g, const char *path, const struct gm_buf *pem,
                             struct gm_err *err)
{
	if (gnutls_privkey_init(&g->key) < 0) {
		g->key = NULL;
		return gm_err_set(err, GM_ERR_INTERNAL, "cannot initialise a GnuTLS private key");
	}
	gnutls_datum_t d = {(unsigned char *)pem->data, (unsigned)pem->len};
	int grc = gnutls_privkey_import_x509_raw(g->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (grc < 0)
		return gm_err_set(
		        err, GM_ERR_PARSE,
		        "'%s': 'private_key' is not a PEM private key (%s); download a new "
		        "JSON key for the service account",
		        path, gnutls_strerror(grc));
	if (gnutls_privkey_get_pk_algorithm(g->key, NULL) != GNUTLS_PK_RSA)
		return gm_err_set(err, GM_ERR_PARSE,
		                  "'%s': 'private_key' is not an RSA key (RS256 needs one)", path);
	return GM_OK;
}

/* Loads a credentials file: from says how it was found, for the source string. */
static enum gm_rc load_file(struct gm_gauth *g, const char *path, const char *from,
                            struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT, pem = GM_BUF_INIT, tmp = GM_BUF_INIT;
	struct gm_doc doc = {NULL, NULL, NULL};
	const char *type = NULL;
	enum gm_rc rc = gm_fs_read(path, GM_GAUTH_FILE_MAX, &text, err);
	if (rc == GM_ERR_LIMIT) {
		gm_err_set(err, rc, "'%s' is larger than %u KiB: not a credentials file", path,
		           GM_GAUTH_FILE_MAX >> 10);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	rc = gm_doc_load_string(&doc, path, gm_buf_cstr(&text), text.len, err);
	if (rc != GM_OK) {
		/* the parser's message may quote the text: say only where */
		gm_err_set(err, GM_ERR_PARSE, "'%s' is not a valid JSON credentials file", path);
		goto out;
	}
	struct fy_node *root = gm_doc_root(&doc);
	if (!gm_doc_is_map(root)) {
		rc = gm_err_set(err, GM_ERR_PARSE, "'%s' is not a JSON object", path);
		goto out;
	}
	rc = gm_doc_get_str(&doc, root, "type", &type, err);
	if (rc == GM_ERR_NOT_FOUND) {
		rc = gm_err_set(err, GM_ERR_PARSE, "'%s' has no 'type'", path);
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	if (strcmp(type, "service_account") == 0) {
		g->kind = GM_GAUTH_SERVICE_ACCOUNT;
		if ((rc = cred_field(&doc, root, "client_email", true, 256, &g->email, err)) ||
		    (rc = cred_field(&doc, root, "private_key_id", false, 256, &g->key_id, err)) ||
		    (rc = cred_field(&doc, root, "private_key", true, 16384, &pem, err)) ||
		    (rc = cred_field(&doc, root, "token_uri", false, 2048, &tmp, err)))
			goto out;
		if (!is_token_text(g->email.data, g->email.len) ||
		    !is_token_text(g->key_id.data, g->key_id.len)) {
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "'%s': 'client_email' or 'private_key_id' holds spaces or "
			                "control characters",
			                path);
			goto out;
		}
		rc = set_token_url(g, path, tmp.len ? gm_buf_cstr(&tmp) : DEFAULT_TOKEN_URI, err);
		if (rc == GM_OK)
			rc = import_key(g, path, &pem, err);
		if (rc != GM_OK)
			goto out;
		gm_buf_addf(&g->source, "service account '%s' from %s (%s)", gm_buf_cstr(&g->email),
		            from, path);
	} else if (strcmp(type, "authorized_user") == 0) {
		g->kind = GM_GAUTH_USER;
		if ((rc = cred_field(&doc, root, "client_id", true, 1024, &g->client_id, err)) ||
		    (rc = cred_field(&doc, root, "client_secret", true, 1024, &g->client_secret,
		                     err)) ||
		    (rc = cred_field(&doc, root, "refresh_token", true, 4096, &g->refresh_token,
		                     err)) ||
		    (rc = cred_field(&doc, root, "token_uri", false, 2048, &tmp, err)))
			goto out;
		rc = set_token_url(g, path, tmp.len ? gm_buf_cstr(&tmp) : DEFAULT_TOKEN_URI, err);
		if (rc != GM_OK)
			goto out;
		gm_buf_addf(&g->source, "user credentials from %s (%s)", from, path);
	} else {
		bool printable = is_token_text(type, strlen(type)) && strlen(type) < 64;
		rc = gm_err_set(
		        err, GM_ERR_UNSUPPORTED,
		        "'%s': credentials of type '%s' are not supported; use a "
		        "service-account key file or `gcloud auth application-default login`",
		        path, printable ? type : "?");
		goto out;
	}
out:
	if (doc.text)
		explicit_bzero(doc.text, text.len);
	gm_doc_release(&doc);
	secret_release(&text);
	secret_release(&pem);
	gm_buf_release(&tmp);
	return rc;
}

static bool on_gce(void)
{
	struct gm_buf name = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	bool yes = gm_fs_read(DMI_PRODUCT, 256, &name, &err) == GM_OK &&
	           strncmp(gm_buf_cstr(&name), "Google", 6) == 0;
	gm_buf_release(&name);
	gm_err_release(&err);
	return yes;
}

static enum gm_rc use_metadata(struct gm_gauth *g, const char *host, struct gm_err *err)
{
	g->kind = GM_GAUTH_METADATA;
	gm_buf_reset(&g->token_url);
	if (strncmp(host, "http://", 7) != 0 && strncmp(host, "https://", 8) != 0)
		gm_buf_adds(&g->token_url, "http://");
	gm_buf_adds(&g->token_url, host);
	gm_buf_rtrim(&g->token_url);
	while (g->token_url.len && g->token_url.data[g->token_url.len - 1] == '/')
		gm_buf_truncate(&g->token_url, g->token_url.len - 1);
	gm_buf_adds(&g->token_url, METADATA_PATH);
	bool https = false;
	if (!url_host(gm_buf_cstr(&g->token_url), &g->what, &https))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "$GCE_METADATA_HOST is not a host[:port]; unset it or fix it");
	gm_buf_addf(&g->source, "the default service account of the metadata server '%s'",
	            gm_buf_cstr(&g->what));
	return GM_OK;
}

enum gm_rc gm_gauth_open(struct gm_os_http *http, const char *scope, struct gm_gauth **out,
                         struct gm_err *err)
{
	struct gm_buf path = GM_BUF_INIT;
	struct gm_gauth *g = gm_xcalloc(1, sizeof(*g));
	enum gm_rc rc = GM_OK;
	*out = NULL;
	g->http = http;
	pthread_mutex_init(&g->mu, NULL);
	gm_buf_adds(&g->scope, scope ? scope : GM_GAUTH_SCOPE_RW);

	const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	if (env && *env) {
		rc = load_file(g, env, "$GOOGLE_APPLICATION_CREDENTIALS", err);
		if (rc == GM_ERR_NOT_FOUND) /* a setting to fix, not a missing sync source */
			rc = gm_err_set(
			        err, GM_ERR_USAGE,
			        "$GOOGLE_APPLICATION_CREDENTIALS names '%s', which does not exist; "
			        "point it at a service-account JSON key or unset it",
			        env);
		goto out;
	}
	const char *cfg = getenv("CLOUDSDK_CONFIG");
	const char *home = getenv("HOME");
	if (cfg && *cfg)
		gm_buf_addf(&path, "%s/application_default_credentials.json", cfg);
	else if (home && *home)
		gm_buf_addf(&path, "%s/.config/gcloud/application_default_credentials.json", home);
	if (path.len) {
		rc = load_file(g, gm_buf_cstr(&path), "gcloud's application-default credentials",
		               err);
		if (rc != GM_ERR_NOT_FOUND)
			goto out;
		gm_err_clear(err);
		gm_buf_reset(&g->source);
	}
	const char *md = getenv("GCE_METADATA_HOST");
	if (md && *md)
		rc = use_metadata(g, md, err);
	else if (on_gce())
		rc = use_metadata(g, METADATA_DEFAULT, err);
	else
		rc = gm_err_set(err, GM_ERR_PERMISSION,
		                "no Google Cloud credentials found: set "
		                "GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON key, run "
		                "`gcloud auth application-default login`, or run on a GCE VM with "
		                "a service account (STORAGE_EMULATOR_HOST selects an emulator)");
out:
	gm_buf_release(&path);
	if (rc != GM_OK)
		gm_gauth_free(g);
	else
		*out = g;
	return rc;
}

enum gm_rc gm_gauth_jwt(struct gm_gauth *g, int64_t now, struct gm_buf *out, struct gm_err *err)
{
	if (g->kind != GM_GAUTH_SERVICE_ACCOUNT || !g->key)
		return gm_err_set(err, GM_ERR_USAGE, "%s signs no JWT", gm_buf_cstr(&g->source));
	struct gm_buf part = GM_BUF_INIT;
	struct gm_json j;
	gm_buf_reset(out);

	gm_json_init(&j, &part, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "alg", "RS256");
	gm_json_str(&j, "typ", "JWT");
	if (g->key_id.len)
		gm_json_str(&j, "kid", gm_buf_cstr(&g->key_id));
	gm_json_end_object(&j);
	gm_os_base64url(out, part.data, part.len);
	gm_buf_addch(out, '.');

	gm_buf_reset(&part);
	gm_json_init(&j, &part, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "iss", gm_buf_cstr(&g->email));
	gm_json_str(&j, "scope", gm_buf_cstr(&g->scope));
	gm_json_str(&j, "aud", gm_buf_cstr(&g->token_url));
	gm_json_int(&j, "iat", now);
	gm_json_int(&j, "exp", now + JWT_LIFETIME_S);
	gm_json_end_object(&j);
	gm_os_base64url(out, part.data, part.len);
	gm_buf_release(&part);

	gnutls_datum_t data = {(unsigned char *)out->data, (unsigned)out->len};
	gnutls_datum_t sig = {NULL, 0};
	int grc = gnutls_privkey_sign_data(g->key, GNUTLS_DIG_SHA256, 0, &data, &sig);
	if (grc < 0) {
		gm_buf_reset(out);
		return gm_err_set(err, GM_ERR_INTERNAL, "%s: cannot sign the token request: %s",
		                  gm_buf_cstr(&g->source), gnutls_strerror(grc));
	}
	gm_buf_addch(out, '.');
	gm_os_base64url(out, sig.data, sig.size);
	gnutls_free(sig.data);
	return GM_OK;
}

/* Appends k=urlencoded(v) to a form body. */
static void form_add(struct gm_buf *body, const char *k, const char *v)
{
	if (body->len)
		gm_buf_addch(body, '&');
	gm_buf_adds(body, k);
	gm_buf_addch(body, '=');
	gm_os_uri_encode(body, v, strlen(v), false);
}

static enum gm_rc token_headers(void *ctx, const struct gm_os_http_req *req,
                                struct curl_slist **hdrs, struct gm_err *err)
{
	const struct gm_gauth *g = ctx;
	const char *h = g->kind == GM_GAUTH_METADATA
	                        ? "Metadata-Flavor: Google"
	                        : "Content-Type: application/x-www-form-urlencoded";
	struct curl_slist *n = curl_slist_append(*hdrs, h);
	(void)req;
	if (!n)
		return gm_err_set(err, GM_ERR_INTERNAL, "cannot build request headers");
	*hdrs = n;
	return GM_OK;
}

/* The OAuth error of a refused grant ({"error": "invalid_grant", "error_description": …}),
 * printable and short, appended to msg. */
static void oauth_error(const struct gm_buf *body, struct gm_buf *msg)
{
	struct gm_doc doc = {NULL, NULL, NULL};
	struct gm_err e = GM_ERR_INIT;
	if (gm_doc_load_string(&doc, "token answer", gm_buf_cstr(body), body->len, &e) == GM_OK) {
		struct fy_node *root = gm_doc_root(&doc);
		const char *keys[] = {"error", "error_description"};
		for (size_t k = 0; k < 2; k++) {
			const char *v = gm_doc_scalar(gm_doc_get(root, keys[k]));
			if (!v)
				continue;
			gm_buf_adds(msg, k ? ": " : " ");
			for (size_t i = 0; v[i] && i < 200; i++)
				gm_buf_addch(msg, (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?');
		}
	}
	gm_doc_release(&doc);
	gm_err_release(&e);
}

/* Fetches a token into g->token and sets g->refresh_at; called with g->mu held. */
static enum gm_rc fetch(struct gm_gauth *g, struct gm_err *err)
{
	struct gm_buf body = GM_BUF_INIT, what = GM_BUF_INIT, msg = GM_BUF_INIT;
	struct gm_os_http_resp resp;
	struct gm_doc doc = {NULL, NULL, NULL};
	enum gm_rc rc = GM_OK;
	int64_t now = clock_now(g);
	gm_os_http_resp_init(&resp);

	if (g->kind == GM_GAUTH_SERVICE_ACCOUNT) {
		struct gm_buf jwt = GM_BUF_INIT;
		rc = gm_gauth_jwt(g, now, &jwt, err);
		if (rc == GM_OK) {
			form_add(&body, "grant_type",
			         "urn:ietf:params:oauth:grant-type:jwt-bearer");
			form_add(&body, "assertion", gm_buf_cstr(&jwt));
		}
		secret_release(&jwt);
		if (rc != GM_OK)
			goto out;
	} else if (g->kind == GM_GAUTH_USER) {
		form_add(&body, "grant_type", "refresh_token");
		form_add(&body, "client_id", gm_buf_cstr(&g->client_id));
		form_add(&body, "client_secret", gm_buf_cstr(&g->client_secret));
		form_add(&body, "refresh_token", gm_buf_cstr(&g->refresh_token));
	}
	gm_buf_addf(&what, "access token from '%s'", gm_buf_cstr(&g->what));
	struct gm_os_http_req req = {
	        .method = g->kind == GM_GAUTH_METADATA ? "GET" : "POST",
	        .url = gm_buf_cstr(&g->token_url),
	        .what = gm_buf_cstr(&what),
	        .body = body.data,
	        .body_len = body.len,
	        .body_cap = TOKEN_BODY_MAX,
	        .headers = token_headers,
	        .ctx = g,
	};
	rc = gm_os_http_do(g->http, &req, &resp, err);
	if (rc != GM_OK)
		goto out;
	if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
		gm_buf_addf(&msg, "%s: the token request was refused (HTTP %ld", gm_buf_cstr(&what),
		            resp.status);
		oauth_error(&resp.body, &msg);
		rc = gm_err_set(err, GM_ERR_PERMISSION, "%s); check the credentials: %s",
		                gm_buf_cstr(&msg), gm_buf_cstr(&g->source));
		goto out;
	}
	if (resp.status != 200) {
		rc = gm_os_http_fail(&req, &resp, err);
		goto out;
	}
	struct gm_err perr = GM_ERR_INIT;
	rc = gm_doc_load_string(&doc, "token answer", gm_buf_cstr(&resp.body), resp.body.len,
	                        &perr);
	gm_err_release(&perr);
	const char *tok = NULL, *type = NULL;
	int64_t expires_in = JWT_LIFETIME_S;
	struct fy_node *root = gm_doc_root(&doc);
	if (rc != GM_OK || !gm_doc_is_map(root) ||
	    gm_doc_get_str(&doc, root, "access_token", &tok, NULL) != GM_OK || !*tok ||
	    strlen(tok) > TOKEN_MAX || !is_token_text(tok, strlen(tok))) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "%s: the answer holds no usable access_token",
		                gm_buf_cstr(&what));
		goto out;
	}
	enum gm_rc trc = gm_doc_get_str(&doc, root, "token_type", &type, NULL);
	if (trc == GM_OK && strcasecmp(type, "Bearer") != 0) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "%s: token_type is not Bearer",
		                gm_buf_cstr(&what));
		goto out;
	}
	enum gm_rc erc = gm_doc_get_i64(&doc, root, "expires_in", &expires_in, NULL);
	if ((erc != GM_OK && erc != GM_ERR_NOT_FOUND) || expires_in <= 0 ||
	    expires_in > (int64_t)86400 * 7) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "%s: expires_in is not a positive number",
		                gm_buf_cstr(&what));
		goto out;
	}
	secret_release(&g->token);
	gm_buf_adds(&g->token, tok);
	int64_t margin = expires_in >= 600 ? 300 : expires_in / 2;
	g->refresh_at = now + expires_in - margin;
	rc = GM_OK;
out:
	if (doc.text)
		explicit_bzero(doc.text, resp.body.len);
	gm_doc_release(&doc);
	if (resp.body.data)
		explicit_bzero(resp.body.data, resp.body.cap);
	gm_os_http_resp_release(&resp);
	secret_release(&body);
	gm_buf_release(&what);
	gm_buf_release(&msg);
	return rc;
}

enum gm_rc gm_gauth_token(struct gm_gauth *g, struct gm_buf *token, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	pthread_mutex_lock(&g->mu);
	if (!g->token.len || clock_now(g) >= g->refresh_at)
		rc = fetch(g, err);
	if (rc == GM_OK) {
		gm_buf_reset(token);
		gm_buf_add(token, g->token.data, g->token.len);
	}
	pthread_mutex_unlock(&g->mu);
	return rc;
}

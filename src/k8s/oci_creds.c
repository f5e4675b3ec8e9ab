/* Registry credentials found where the users' own tools keep them, so `k8s mirror` works
 * right after `docker login` or `gcloud auth configure-docker` with nothing to copy: docker
 * config.json files (auths entries; credHelpers / credsStore helpers, run as docker runs
 * them), and for gcr.io / Artifact Registry an access token from $GOOGLE_OAUTH_ACCESS_TOKEN
 * or Google's application default credentials. No secret ever reaches a message. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "k8s/oci.h"
#include "k8s/oci_creds.h"
#include "objstore/gauth.h"
#include "objstore/http.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/banned.h"

/* The host part of an auths or credHelpers key: "https://host/v1/" → "host",
 * "host/path" → "host". */
static void key_host(const char *key, struct gm_buf *out)
{
	const char *p = strstr(key, "://");
	p = p ? p + 3 : key;
	size_t n = strcspn(p, "/");
	gm_buf_reset(out);
	for (size_t i = 0; i < n; i++)
		gm_buf_addch(out, (char)tolower((unsigned char)p[i]));
}

static bool is_hub(const char *h)
{
	return strcmp(h, "docker.io") == 0 || strcmp(h, "index.docker.io") == 0 ||
	       strcmp(h, "registry-1.docker.io") == 0;
}

/* Whether a config key names host. */
static bool key_matches(const char *key, const char *host, struct gm_buf *tmp)
{
	key_host(key, tmp);
	return strcasecmp(gm_buf_cstr(tmp), host) == 0 ||
	       (is_hub(gm_buf_cstr(tmp)) && is_hub(host));
}

/* auths.<host> of a loaded config. */
static enum gm_rc auths_lookup(const struct gm_doc *doc, const char *name, const char *host,
                               struct gm_buf *user, struct gm_buf *pass, struct gm_err *err)
{
	struct gm_buf h = GM_BUF_INIT, raw = GM_BUF_INIT;
	enum gm_rc rc = GM_ERR_NOT_FOUND;
	struct fy_node *auths = gm_doc_get(gm_doc_root(doc), "auths");
	if (!auths || gm_doc_is_null(auths))
		goto out;
	if (!gm_doc_is_map(auths)) {
		rc = gm_err_set(err, GM_ERR_PARSE, "'%s': 'auths' must be a mapping", name);
		goto out;
	}
	for (int i = 0; i < gm_doc_map_len(auths); i++) {
		const char *k = gm_doc_map_key_at(auths, i);
		struct fy_node *e = gm_doc_map_value_at(auths, i);
		if (!k || !gm_doc_is_map(e) || !key_matches(k, host, &h))
			continue;
		const char *a = gm_doc_scalar(gm_doc_get(e, "auth"));
		const char *u = gm_doc_scalar(gm_doc_get(e, "username"));
		const char *pw = gm_doc_scalar(gm_doc_get(e, "password"));
		if (a && *a) {
			gm_buf_reset(&raw);
			const char *colon = NULL;
			if (gm_oci_base64_decode(a, strlen(a), &raw) != GM_OK ||
			    !(colon = memchr(raw.data, ':', raw.len))) {
				rc = gm_err_set(err, GM_ERR_PARSE,
				                "'%s': auths.\"%s\".auth is not base64 of "
				                "user:password",
				                name, k);
				goto out;
			}
			gm_buf_reset(user);
			gm_buf_reset(pass);
			gm_buf_add(user, raw.data, (size_t)(colon - raw.data));
			gm_buf_add(pass, colon + 1, raw.len - (size_t)(colon - raw.data) - 1);
			gm_buf_grow(pass, 0);
			rc = GM_OK;
			goto out;
		}
		if (u && pw) {
			gm_buf_reset(user);
			gm_buf_reset(pass);
			gm_buf_adds(user, u);
			gm_buf_adds(pass, pw);
			rc = GM_OK;
			goto out;
		}
	}
out:
	gm_buf_wipe(&raw);
	gm_buf_release(&h);
	return rc;
}

static enum gm_rc load_config(struct gm_doc *doc, const char *text, size_t len, const char *name,
                              struct gm_err *err)
{
	if (len > GM_OCI_MAX_CONFIG)
		return gm_err_set(err, GM_ERR_LIMIT, "'%s' is larger than %u KiB", name,
		                  GM_OCI_MAX_CONFIG >> 10);
	return gm_doc_load_string(doc, name, text, len, err);
}

enum gm_rc gm_oci_config_lookup(const char *text, size_t len, const char *name, const char *host,
                                struct gm_buf *user, struct gm_buf *pass, struct gm_err *err)
{
	struct gm_doc doc = {0};
	enum gm_rc rc = load_config(&doc, text, len, name, err);
	if (rc == GM_OK)
		rc = auths_lookup(&doc, name, host, user, pass, err);
	gm_doc_release(&doc);
	return rc;
}

/* Runs `prog get` with server_url on stdin and its stdout into out; *status gets its wait
 * status. A credential helper is somebody else's program, so it runs through the careful
 * runner of util/spawn.h: no shell, its own process group, a deadline
 * ($GPUMIGRATE_CREDHELPER_TIMEOUT_MS for tests), capped output, stderr only at -v. */
static enum gm_rc run_helper(const char *prog, const char *server_url, const char *named_by,
                             struct gm_buf *out, int *status, struct gm_err *err)
{
	struct gm_buf what = GM_BUF_INIT;
	const char *argv[] = {prog, "get", NULL};
	gm_buf_addf(&what, "credential helper '%s' (named by '%s')", prog, named_by);
	enum gm_rc rc = gm_spawn_capture(
	        argv, server_url,
	        gm_spawn_timeout_ms("GPUMIGRATE_CREDHELPER_TIMEOUT_MS", GM_OCI_HELPER_TIMEOUT_MS),
	        GM_OCI_HELPER_MAX_OUTPUT, gm_buf_cstr(&what), out, status, err);
	if (rc == GM_ERR_NOT_FOUND)
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "credential helper '%s' is not in $PATH, but '%s' names it; "
		                "install it or remove that entry",
		                prog, named_by);
	gm_buf_release(&what);
	return rc;
}

/* A helper name as a program-name suffix: a plain word, no path. */
static bool helper_name_ok(const char *name)
{
	if (!*name || strlen(name) > 100)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return false;
	return true;
}

/* The first line of a failed helper's stdout (its error message), for the error: at most 200
 * printable bytes, and nothing at all if it mentions a secret. */
static void helper_said(const struct gm_buf *out, struct gm_buf *msg)
{
	const char *s = gm_buf_cstr(out);
	while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
		s++;
	size_t n = strcspn(s, "\r\n");
	if (n > 200)
		n = 200;
	if (!n || strstr(s, "Secret") || strchr(s, '{'))
		return;
	gm_buf_adds(msg, ": ");
	for (size_t i = 0; i < n; i++)
		gm_buf_addch(msg, isprint((unsigned char)s[i]) ? s[i] : '?');
}

enum gm_rc gm_oci_helper_get(const char *name, const char *server_url, const char *named_by,
                             struct gm_buf *user, struct gm_buf *pass, struct gm_err *err)
{
	struct gm_buf prog = GM_BUF_INIT, out = GM_BUF_INIT, msg = GM_BUF_INIT;
	struct gm_doc doc = {0};
	struct gm_err perr = GM_ERR_INIT;
	enum gm_rc rc = GM_OK;
	int status = 0;
	if (!helper_name_ok(name)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "'%s' names a credential helper '%s' that is not a plain name",
		                named_by, name);
		goto out;
	}
	gm_buf_addf(&prog, "docker-credential-%s", name);
	rc = run_helper(gm_buf_cstr(&prog), server_url, named_by, &out, &status, err);
	if (rc != GM_OK)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (strstr(gm_buf_cstr(&out), "credentials not found")) {
			gm_debug("credential helper '%s' has no credentials for '%s'",
			         gm_buf_cstr(&prog), server_url);
			rc = GM_ERR_NOT_FOUND;
			goto out;
		}
		gm_spawn_status_text(status, &msg);
		helper_said(&out, &msg);
		rc = gm_err_set(err, GM_ERR_PROTOCOL,
		                "credential helper '%s' (named by '%s') failed for '%s' (%s)",
		                gm_buf_cstr(&prog), named_by, server_url, gm_buf_cstr(&msg));
		goto out;
	}
	/* never quote the output (or the parser's message about it): it holds the secret */
	const char *u = NULL, *s = NULL;
	if (gm_doc_load_string(&doc, "credential helper output", gm_buf_cstr(&out), out.len,
	                       &perr) == GM_OK &&
	    gm_doc_is_map(gm_doc_root(&doc))) {
		u = gm_doc_scalar(gm_doc_get(gm_doc_root(&doc), "Username"));
		s = gm_doc_scalar(gm_doc_get(gm_doc_root(&doc), "Secret"));
	}
	if (!u || !s) {
		rc = gm_err_set(
		        err, GM_ERR_PROTOCOL,
		        "credential helper '%s' (named by '%s') printed no JSON object with "
		        "\"Username\" and \"Secret\" for '%s'",
		        gm_buf_cstr(&prog), named_by, server_url);
		goto out;
	}
	if (strcmp(u, "<token>") == 0) {
		rc = gm_err_set(err, GM_ERR_UNSUPPORTED,
		                "credential helper '%s' (named by '%s') gave an identity token for "
		                "'%s', which gpumigrate cannot use yet; log in with a user and "
		                "password (or an access token) instead",
		                gm_buf_cstr(&prog), named_by, server_url);
		goto out;
	}
	if (!*s) {
		rc = GM_ERR_NOT_FOUND;
		goto out;
	}
	gm_buf_reset(user);
	gm_buf_reset(pass);
	gm_buf_adds(user, u);
	gm_buf_adds(pass, s);
out:
	gm_doc_release(&doc);
	gm_err_release(&perr);
	gm_buf_wipe(&out);
	gm_buf_release(&msg);
	gm_buf_release(&prog);
	return rc;
}

/* The helper a loaded config names for host: credHelpers.<host> first, else credsStore (as
 * docker does). *name gets the helper, server_url the URL to ask it for: the key as the
 * config writes it (credHelpers, or the auths entry `docker login` left), else the host
 * ("https://index.docker.io/v1/" for Docker Hub). false: no helper. */
static bool config_helper(const struct gm_doc *doc, const char *host, const char **name,
                          const char **which, struct gm_buf *server_url)
{
	struct gm_buf tmp = GM_BUF_INIT;
	struct fy_node *root = gm_doc_root(doc);
	struct fy_node *helpers = gm_doc_get(root, "credHelpers");
	bool found = false;
	gm_buf_reset(server_url);
	for (int i = 0; gm_doc_is_map(helpers) && i < gm_doc_map_len(helpers); i++) {
		const char *k = gm_doc_map_key_at(helpers, i);
		const char *v = gm_doc_scalar(gm_doc_map_value_at(helpers, i));
		if (k && v && *v && key_matches(k, host, &tmp)) {
			*name = v;
			*which = "credHelpers";
			gm_buf_adds(server_url, k);
			found = true;
			goto out;
		}
	}
	const char *store = gm_doc_scalar(gm_doc_get(root, "credsStore"));
	if (!store || !*store)
		goto out;
	*name = store;
	*which = "credsStore";
	found = true;
	struct fy_node *auths = gm_doc_get(root, "auths");
	for (int i = 0; gm_doc_is_map(auths) && i < gm_doc_map_len(auths); i++) {
		const char *k = gm_doc_map_key_at(auths, i);
		if (k && key_matches(k, host, &tmp)) {
			gm_buf_adds(server_url, k);
			goto out;
		}
	}
	gm_buf_adds(server_url, is_hub(host) ? "https://index.docker.io/v1/" : host);
out:
	gm_buf_release(&tmp);
	return found;
}

/* Credentials for host from one config file (text, named path). */
static enum gm_rc from_config(const char *path, const struct gm_buf *text, const char *host,
                              struct gm_buf *user, struct gm_buf *pass, struct gm_buf *source,
                              struct gm_err *err)
{
	struct gm_doc doc = {0};
	struct gm_buf url = GM_BUF_INIT, named_by = GM_BUF_INIT;
	const char *name = NULL, *which = NULL;
	enum gm_rc rc = load_config(&doc, gm_buf_cstr(text), text->len, path, err);
	if (rc != GM_OK)
		goto out;
	if (config_helper(&doc, host, &name, &which, &url)) {
		gm_buf_addf(&named_by, "%s (%s)", path, which);
		rc = gm_oci_helper_get(name, gm_buf_cstr(&url), gm_buf_cstr(&named_by), user, pass,
		                       err);
		if (rc == GM_OK) {
			gm_buf_reset(source);
			gm_buf_addf(source, "credential helper docker-credential-%s (from %s)",
			            name, path);
		}
		goto out;
	}
	rc = auths_lookup(&doc, path, host, user, pass, err);
	if (rc == GM_OK) {
		gm_buf_reset(source);
		gm_buf_adds(source, path);
	}
out:
	gm_buf_release(&named_by);
	gm_buf_release(&url);
	gm_doc_release(&doc);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

static bool is_google(const char *host)
{
	return strcmp(host, "gcr.io") == 0 || ends_with(host, ".gcr.io") ||
	       ends_with(host, "-docker.pkg.dev");
}

/* An access token from Google's application default credentials; GM_ERR_NOT_FOUND when
 * there are none (not on GCE, no key file, no gcloud ADC file). */
static enum gm_rc google_adc(struct gm_buf *user, struct gm_buf *pass, struct gm_buf *source,
                             struct gm_err *err)
{
	struct gm_os_http http;
	struct gm_os_http_opts o;
	struct gm_gauth *g = NULL;
	struct gm_buf tok = GM_BUF_INIT;
	memset(&o, 0, sizeof(o));
	o.max_attempts = 4;
	enum gm_rc rc = gm_os_http_init(&http, &o, err);
	if (rc != GM_OK)
		return rc;
	rc = gm_gauth_open(&http, GM_OCI_GOOGLE_SCOPE, &g, err);
	if (rc == GM_ERR_PERMISSION) { /* no credentials anywhere: anonymous */
		gm_debug("no Google application default credentials: %s", gm_err_msg(err));
		gm_err_clear(err);
		rc = GM_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != GM_OK)
		goto out;
	rc = gm_gauth_token(g, &tok, err);
	if (rc != GM_OK && rc != GM_ERR_INTERRUPTED && gm_gauth_kind(g) == GM_GAUTH_METADATA) {
		/* a VM without a service account: public images still come anonymously */
		gm_info("no token from the metadata server (%s); reading anonymously",
		        gm_err_msg(err));
		gm_err_clear(err);
		rc = GM_ERR_NOT_FOUND;
	}
	if (rc != GM_OK)
		goto out;
	gm_buf_reset(user);
	gm_buf_reset(pass);
	gm_buf_adds(user, GM_OCI_GOOGLE_USER);
	gm_buf_add(pass, tok.data, tok.len);
	gm_buf_grow(pass, 0);
	gm_buf_reset(source);
	gm_buf_addf(source, "Google application default credentials: %s", gm_gauth_source(g));
out:
	gm_buf_wipe(&tok);
	gm_gauth_free(g);
	gm_os_http_release(&http);
	return rc;
}

enum gm_rc gm_oci_creds_find(const char *host, struct gm_buf *user, struct gm_buf *pass,
                             struct gm_buf *source, struct gm_err *err)
{
	struct gm_buf path = GM_BUF_INIT, text = GM_BUF_INIT;
	enum gm_rc rc = GM_ERR_NOT_FOUND;
	for (int i = 0; i < 3 && rc == GM_ERR_NOT_FOUND; i++) {
		gm_buf_reset(&path);
		const char *v = NULL;
		if (i == 0 && (v = getenv("REGISTRY_AUTH_FILE")) && *v)
			gm_buf_adds(&path, v);
		else if (i == 1 && (v = getenv("DOCKER_CONFIG")) && *v)
			gm_buf_addf(&path, "%s/config.json", v);
		else if (i == 2 && (v = getenv("HOME")) && *v && !getenv("DOCKER_CONFIG"))
			gm_buf_addf(&path, "%s/.docker/config.json", v);
		if (!path.len)
			continue;
		rc = gm_fs_read(gm_buf_cstr(&path), GM_OCI_MAX_CONFIG, &text, err);
		if (rc == GM_ERR_NOT_FOUND) {
			gm_err_clear(err);
			continue;
		}
		if (rc != GM_OK)
			goto out;
		rc = from_config(gm_buf_cstr(&path), &text, host, user, pass, source, err);
	}
	if (rc != GM_ERR_NOT_FOUND || !is_google(host))
		goto out;
	const char *t = getenv("GOOGLE_OAUTH_ACCESS_TOKEN");
	if (t && *t) {
		gm_buf_reset(user);
		gm_buf_reset(pass);
		gm_buf_adds(user, GM_OCI_GOOGLE_USER);
		gm_buf_adds(pass, t);
		gm_buf_reset(source);
		gm_buf_adds(source, "GOOGLE_OAUTH_ACCESS_TOKEN");
		rc = GM_OK;
		goto out;
	}
	rc = google_adc(user, pass, source, err);
out:
	gm_buf_wipe(&text);
	gm_buf_release(&path);
	return rc;
}

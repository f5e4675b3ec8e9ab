/* Unit tests for GCS OAuth2 credentials: the service-account JWT (header, claims and an
 * RS256 signature checked with the public key through GnuTLS), the order credentials are
 * looked up in, files that must be refused (with messages that quote no secret), and tokens
 * fetched, cached, refreshed and invalidated against tests/fixtures/gcs/token_server.py,
 * a strict token endpoint and metadata server. The RSA key is made fresh at test time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "objstore/codec.h"
#include "objstore/gauth.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/banned.h"

#define EMAIL  "gm-test@gm-test-project.iam.gserviceaccount.com"
#define KID    "0123456789abcdef0123456789abcdef01234567"
#define CID    "gm-client-id.apps.googleusercontent.com"
#define SECRET "SECRET-CLIENT-d41d8cd9"
#define RTOKEN "1//SECRET-REFRESH-8f00b204e98009"

static char tmp[64];
static char fixtures[512];
static pid_t server = -1;
static int port;
static struct gm_buf token_uri = GM_BUF_INIT;
static struct gm_os_http http;

static void path_in(struct gm_buf *b, const char *dir, const char *name)
{
	gm_buf_reset(b);
	gm_buf_addf(b, "%s/%s", dir, name);
}

static int run_wait(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *name, const char *text)
{
	struct gm_buf p = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	path_in(&p, tmp, name);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&p), text, strlen(text), &err), GM_OK);
	gm_buf_release(&p);
	gm_err_release(&err);
}

/* A clean environment: no credentials anywhere but where a test puts them. */
static void clean_env(void)
{
	struct gm_buf home = GM_BUF_INIT;
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GCE_METADATA_HOST");
	path_in(&home, tmp, "empty-home");
	setenv("HOME", gm_buf_cstr(&home), 1);
	gm_buf_release(&home);
}

static void use_file(const char *dir, const char *name)
{
	struct gm_buf p = GM_BUF_INIT;
	path_in(&p, dir, name);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", gm_buf_cstr(&p), 1);
	gm_buf_release(&p);
}

static int setup(void **state)
{
	(void)state;
	const char *fx = getenv("GM_FIXTURES");
	snprintf(fixtures, sizeof(fixtures), "%s/gcs", fx ? fx : "tests/fixtures");
	snprintf(tmp, sizeof(tmp), "/tmp/gm-gauth-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	struct gm_buf p = GM_BUF_INIT, script = GM_BUF_INIT, pub = GM_BUF_INIT, pf = GM_BUF_INIT;
	path_in(&p, tmp, "empty-home");
	mkdir(gm_buf_cstr(&p), 0700);
	path_in(&script, fixtures, "token_server.py");
	path_in(&pub, tmp, "pub.pem");
	path_in(&pf, tmp, "port");
	server = fork();
	if (server == 0) {
		execl("/usr/bin/python3", "python3", gm_buf_cstr(&script), "--port-file",
		      gm_buf_cstr(&pf), "--pub", gm_buf_cstr(&pub), (char *)NULL);
		_exit(127);
	}
	struct gm_buf text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	for (int i = 0; i < 200 && !port; i++) {
		int64_t v = 0;
		if (gm_fs_read(gm_buf_cstr(&pf), 64, &text, &err) == GM_OK &&
		    gm_parse_i64(gm_buf_cstr(&text), 10, &v) == GM_OK)
			port = (int)v;
		else
			usleep(50000);
	}
	if (!port) {
		fprintf(stderr, "token_server.py did not start\n");
		return -1;
	}
	gm_buf_addf(&token_uri, "http://127.0.0.1:%d/token", port);
	path_in(&script, fixtures, "make_key.py");
	char *argv[] = {"/usr/bin/python3", script.data, tmp, token_uri.data, NULL};
	if (run_wait(argv) != 0) {
		fprintf(stderr, "make_key.py failed\n");
		return -1;
	}
	struct gm_os_http_opts o = {.base_delay_ms = 1, .max_attempts = 3};
	if (gm_os_http_init(&http, &o, &err) != GM_OK)
		return -1;
	gm_buf_release(&p);
	gm_buf_release(&script);
	gm_buf_release(&pub);
	gm_buf_release(&pf);
	gm_buf_release(&text);
	gm_err_release(&err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	gm_os_http_release(&http);
	gm_buf_release(&token_uri);
	char *argv[] = {"/bin/rm", "-rf", tmp, NULL};
	run_wait(argv);
	return 0;
}

/* Decodes a base64url JWT segment and loads it as JSON. */
static void load_segment(const char *s, size_t len, struct gm_doc *doc)
{
	struct gm_buf raw = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_true(gm_os_base64url_decode(s, len, &raw));
	assert_int_equal(gm_doc_load_string(doc, "jwt", gm_buf_cstr(&raw), raw.len, &err), GM_OK);
	gm_buf_release(&raw);
	gm_err_release(&err);
}

static const char *field(struct gm_doc *doc, const char *key)
{
	return gm_doc_scalar(gm_doc_get(gm_doc_root(doc), key));
}

static int verify_rs256(const char *signed_part, size_t len, const char *sig64, size_t sig_len)
{
	struct gm_buf pem = GM_BUF_INIT, p = GM_BUF_INIT, sig = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gnutls_pubkey_t pub;
	path_in(&p, tmp, "pub.pem");
	assert_int_equal(gm_fs_read(gm_buf_cstr(&p), 1 << 16, &pem, &err), GM_OK);
	assert_true(gm_os_base64url_decode(sig64, sig_len, &sig));
	assert_int_equal(sig.len, 256); /* RSA-2048 */
	assert_int_equal(gnutls_pubkey_init(&pub), 0);
	gnutls_datum_t d = {(unsigned char *)pem.data, (unsigned)pem.len};
	assert_int_equal(gnutls_pubkey_import(pub, &d, GNUTLS_X509_FMT_PEM), 0);
	gnutls_datum_t data = {(unsigned char *)signed_part, (unsigned)len};
	gnutls_datum_t s = {(unsigned char *)sig.data, (unsigned)sig.len};
	int rc = gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_RSA_SHA256, 0, &data, &s);
	gnutls_pubkey_deinit(pub);
	gm_buf_release(&pem);
	gm_buf_release(&p);
	gm_buf_release(&sig);
	gm_err_release(&err);
	return rc;
}

static void test_service_account_jwt(void **state)
{
	(void)state;
	struct gm_gauth *g = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf jwt = GM_BUF_INIT, want = GM_BUF_INIT;
	clean_env();
	use_file(tmp, "sa.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	assert_int_equal(gm_gauth_kind(g), GM_GAUTH_SERVICE_ACCOUNT);
	gm_buf_addf(&want,
	            "service account '" EMAIL "' from $GOOGLE_APPLICATION_CREDENTIALS (%s/sa.json)",
	            tmp);
	assert_string_equal(gm_gauth_source(g), gm_buf_cstr(&want));

	assert_int_equal(gm_gauth_jwt(g, 1700000000, &jwt, &err), GM_OK);
	const char *s = gm_buf_cstr(&jwt);
	const char *dot1 = strchr(s, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	assert_non_null(dot1);
	assert_non_null(dot2);
	assert_null(strchr(dot2 + 1, '.'));
	assert_null(strchr(s, '=')); /* base64url without padding */

	struct gm_doc h = {NULL, NULL, NULL}, c = {NULL, NULL, NULL};
	load_segment(s, (size_t)(dot1 - s), &h);
	assert_int_equal(gm_doc_map_len(gm_doc_root(&h)), 3);
	assert_string_equal(field(&h, "alg"), "RS256");
	assert_string_equal(field(&h, "typ"), "JWT");
	assert_string_equal(field(&h, "kid"), KID);
	load_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1), &c);
	assert_int_equal(gm_doc_map_len(gm_doc_root(&c)), 5);
	assert_string_equal(field(&c, "iss"), EMAIL);
	assert_string_equal(field(&c, "scope"), GM_GAUTH_SCOPE_RW);
	assert_string_equal(field(&c, "aud"), gm_buf_cstr(&token_uri));
	assert_string_equal(field(&c, "iat"), "1700000000");
	assert_string_equal(field(&c, "exp"), "1700003600");
	gm_doc_release(&h);
	gm_doc_release(&c);

	/* the signature covers header.claims, and only them */
	size_t signed_len = (size_t)(dot2 - s);
	assert_true(verify_rs256(s, signed_len, dot2 + 1, strlen(dot2 + 1)) >= 0);
	jwt.data[5] ^= 1;
	assert_true(verify_rs256(s, signed_len, dot2 + 1, strlen(dot2 + 1)) < 0);

	/* a different time, a different signature; RS256 (PKCS#1 v1.5) is deterministic */
	struct gm_buf again = GM_BUF_INIT, later = GM_BUF_INIT;
	jwt.data[5] ^= 1;
	assert_int_equal(gm_gauth_jwt(g, 1700000000, &again, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&again), gm_buf_cstr(&jwt));
	assert_int_equal(gm_gauth_jwt(g, 1700000001, &later, &err), GM_OK);
	assert_string_not_equal(gm_buf_cstr(&later), gm_buf_cstr(&jwt));
	gm_buf_release(&again);
	gm_buf_release(&later);
	gm_gauth_free(g);

	/* no private_key_id: no kid; no token_uri: Google's */
	use_file(tmp, "sa-nokid.json");
	assert_int_equal(gm_gauth_open(&http, "https://example.com/scope", &g, &err), GM_OK);
	assert_int_equal(gm_gauth_jwt(g, 1000, &jwt, &err), GM_OK);
	s = gm_buf_cstr(&jwt);
	dot1 = strchr(s, '.');
	dot2 = strchr(dot1 + 1, '.');
	load_segment(s, (size_t)(dot1 - s), &h);
	assert_int_equal(gm_doc_map_len(gm_doc_root(&h)), 2);
	assert_null(field(&h, "kid"));
	load_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1), &c);
	assert_string_equal(field(&c, "aud"), "https://oauth2.googleapis.com/token");
	assert_string_equal(field(&c, "scope"), "https://example.com/scope");
	assert_string_equal(field(&c, "exp"), "4600");
	gm_doc_release(&h);
	gm_doc_release(&c);
	gm_gauth_free(g);

	gm_buf_release(&jwt);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static void expect_refused(const char *name, enum gm_rc rc, const char *part)
{
	struct gm_gauth *g = (struct gm_gauth *)&g; /* must be reset to NULL */
	struct gm_err err = GM_ERR_INIT;
	clean_env();
	use_file(fixtures, name);
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), rc);
	assert_null(g);
	const char *msg = gm_err_msg(&err);
	if (!strstr(msg, part) || !strstr(msg, name))
		fail_msg("%s: message '%s' lacks '%s' or the file name", name, msg, part);
	if (strstr(msg, "SECRET"))
		fail_msg("%s: message '%s' quotes a secret", name, msg);
	gm_err_release(&err);
}

static void test_bad_files(void **state)
{
	(void)state;
	expect_refused("bad-not-json.json", GM_ERR_PARSE, "not a valid JSON");
	expect_refused("bad-no-type.json", GM_ERR_PARSE, "no 'type'");
	expect_refused("bad-external-account.json", GM_ERR_UNSUPPORTED, "'external_account'");
	expect_refused("bad-sa-no-key.json", GM_ERR_PARSE, "'private_key'");
	expect_refused("bad-sa-garbage-key.json", GM_ERR_PARSE, "'private_key' is not a PEM");
	expect_refused("bad-sa-email-object.json", GM_ERR_PARSE, "'client_email' must be a string");
	expect_refused("bad-user-no-secret.json", GM_ERR_PARSE, "no 'client_secret'");
	expect_refused("bad-user-plain-http.json", GM_ERR_PARSE, "https://");
	expect_refused("bad-array.json", GM_ERR_PARSE, "not a JSON object");
	expect_refused("does-not-exist.json", GM_ERR_USAGE, "$GOOGLE_APPLICATION_CREDENTIALS");

	/* bigger than the cap */
	struct gm_buf big = GM_BUF_INIT;
	gm_buf_adds(&big, "{\"type\": \"authorized_user\", \"x\": \"");
	gm_buf_addpad(&big, 'a', GM_GAUTH_FILE_MAX);
	gm_buf_adds(&big, "\"}");
	write_file("big.json", gm_buf_cstr(&big));
	gm_buf_release(&big);
	struct gm_gauth *g = NULL;
	struct gm_err err = GM_ERR_INIT;
	clean_env();
	use_file(tmp, "big.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "big.json"));
	gm_err_release(&err);
}

static bool on_gce(void)
{
	struct gm_buf b = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	bool yes = gm_fs_read("/sys/class/dmi/id/product_name", 256, &b, &err) == GM_OK &&
	           strncmp(gm_buf_cstr(&b), "Google", 6) == 0;
	gm_buf_release(&b);
	gm_err_release(&err);
	return yes;
}

static void test_lookup_order(void **state)
{
	(void)state;
	struct gm_gauth *g = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf p = GM_BUF_INIT, want = GM_BUF_INIT;

	/* nothing anywhere: say what to set (on a GCE VM: the metadata server) */
	clean_env();
	enum gm_rc rc = gm_gauth_open(&http, NULL, &g, &err);
	if (on_gce()) {
		assert_int_equal(rc, GM_OK);
		assert_int_equal(gm_gauth_kind(g), GM_GAUTH_METADATA);
		assert_string_equal(gm_gauth_source(g),
		                    "the default service account of the "
		                    "metadata server 'metadata.google.internal'");
		gm_gauth_free(g);
	} else {
		assert_int_equal(rc, GM_ERR_PERMISSION);
		assert_null(g);
		assert_non_null(strstr(gm_err_msg(&err), "GOOGLE_APPLICATION_CREDENTIALS"));
		assert_non_null(strstr(gm_err_msg(&err), "gcloud auth application-default login"));
	}

	/* gcloud's file under $HOME */
	path_in(&p, tmp, "home/.config/gcloud");
	char *argv[] = {"/bin/mkdir", "-p", p.data, NULL};
	assert_int_equal(run_wait(argv), 0);
	write_file("home/.config/gcloud/application_default_credentials.json",
	           "{\"type\": \"authorized_user\", \"client_id\": \"" CID
	           "\", \"client_secret\": \"" SECRET "\", \"refresh_token\": \"" RTOKEN "\"}");
	path_in(&p, tmp, "home");
	setenv("HOME", gm_buf_cstr(&p), 1);
	gm_err_clear(&err);
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	assert_int_equal(gm_gauth_kind(g), GM_GAUTH_USER);
	gm_buf_addf(&want,
	            "user credentials from gcloud's application-default credentials "
	            "(%s/home/.config/gcloud/application_default_credentials.json)",
	            tmp);
	assert_string_equal(gm_gauth_source(g), gm_buf_cstr(&want));
	assert_null(strstr(gm_gauth_source(g), "SECRET"));
	struct gm_buf jwt = GM_BUF_INIT;
	assert_int_equal(gm_gauth_jwt(g, 1, &jwt, &err), GM_ERR_USAGE);
	gm_buf_release(&jwt);
	gm_gauth_free(g);

	/* $CLOUDSDK_CONFIG wins over $HOME; a broken file there is an error, not a skip */
	path_in(&p, tmp, "cloudsdk");
	mkdir(gm_buf_cstr(&p), 0700);
	setenv("CLOUDSDK_CONFIG", gm_buf_cstr(&p), 1);
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), rc); /* empty dir: as before */
	gm_gauth_free(g);
	write_file("cloudsdk/application_default_credentials.json", "{\"type\": 7");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "cloudsdk/application_default_credentials.json"));

	/* $GOOGLE_APPLICATION_CREDENTIALS wins over both */
	use_file(tmp, "sa.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	assert_int_equal(gm_gauth_kind(g), GM_GAUTH_SERVICE_ACCOUNT);
	gm_gauth_free(g);
	/* empty counts as unset */
	setenv("GOOGLE_APPLICATION_CREDENTIALS", "", 1);
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_ERR_PARSE);
	unsetenv("CLOUDSDK_CONFIG");

	/* the metadata server when $GCE_METADATA_HOST names one */
	gm_buf_reset(&p);
	gm_buf_addf(&p, "127.0.0.1:%d", port);
	clean_env();
	setenv("GCE_METADATA_HOST", gm_buf_cstr(&p), 1);
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	assert_int_equal(gm_gauth_kind(g), GM_GAUTH_METADATA);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "the default service account of the metadata server '127.0.0.1:%d'",
	            port);
	assert_string_equal(gm_gauth_source(g), gm_buf_cstr(&want));
	gm_gauth_free(g);

	gm_buf_release(&p);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static int64_t fake_now(void *ctx)
{
	return *(int64_t *)ctx;
}

static void expect_token(struct gm_gauth *g, const char *want)
{
	struct gm_buf t = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_gauth_token(g, &t, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&t), want);
	gm_buf_release(&t);
	gm_err_release(&err);
}

/* The number n of the server's next token ("tok-<n>"), by fetching one with a fresh
 * metadata credential: tests compare against numbers, as other tests take tokens too. */
static int next_token_number(struct gm_gauth *g)
{
	struct gm_buf t = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	int64_t n = -1;
	gm_gauth_invalidate(g);
	assert_int_equal(gm_gauth_token(g, &t, &err), GM_OK);
	assert_int_equal(strncmp(gm_buf_cstr(&t), "tok-", 4), 0);
	assert_int_equal(gm_parse_i64(gm_buf_cstr(&t) + 4, 10, &n), GM_OK);
	gm_buf_release(&t);
	gm_err_release(&err);
	return (int)n;
}

static void tok(struct gm_buf *b, int n)
{
	gm_buf_reset(b);
	gm_buf_addf(b, "tok-%d", n);
}

static void test_tokens_cached_and_refreshed(void **state)
{
	(void)state;
	struct gm_gauth *g = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf want = GM_BUF_INIT;
	int64_t now = 1700000000;
	clean_env();
	use_file(tmp, "sa.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	gm_gauth_set_clock(g, fake_now, &now);

	int n = next_token_number(g); /* a signed JWT the server verified */
	tok(&want, n);
	expect_token(g, gm_buf_cstr(&want));
	now += 3599 - 301; /* expires_in 3599: still more than 5 minutes left */
	expect_token(g, gm_buf_cstr(&want));
	now += 2; /* less than 5 minutes left: a new one */
	tok(&want, n + 1);
	expect_token(g, gm_buf_cstr(&want));
	expect_token(g, gm_buf_cstr(&want));
	gm_gauth_invalidate(g); /* after a 401 */
	tok(&want, n + 2);
	expect_token(g, gm_buf_cstr(&want));
	gm_gauth_free(g);

	/* a refresh token (user credentials) */
	struct gm_buf doc = GM_BUF_INIT;
	gm_buf_addf(&doc,
	            "{\"type\": \"authorized_user\", \"client_id\": \"" CID
	            "\", \"client_secret\": \"" SECRET "\", \"refresh_token\": \"" RTOKEN
	            "\", \"token_uri\": \"%s\"}",
	            gm_buf_cstr(&token_uri));
	write_file("user-local.json", gm_buf_cstr(&doc));
	use_file(tmp, "user-local.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	n = next_token_number(g);
	tok(&want, n);
	expect_token(g, gm_buf_cstr(&want));
	gm_gauth_free(g);

	/* short-lived tokens are refreshed at half their life */
	gm_buf_reset(&doc);
	gm_buf_addf(&doc,
	            "{\"type\": \"authorized_user\", \"client_id\": \"c\", \"client_secret\": "
	            "\"s\", \"refresh_token\": \"mode-short\", \"token_uri\": \"%s\"}",
	            gm_buf_cstr(&token_uri));
	write_file("user-short.json", gm_buf_cstr(&doc));
	use_file(tmp, "user-short.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	now = 1000;
	gm_gauth_set_clock(g, fake_now, &now);
	n = next_token_number(g);
	now += 29;
	tok(&want, n);
	expect_token(g, gm_buf_cstr(&want));
	now += 1;
	tok(&want, n + 1);
	expect_token(g, gm_buf_cstr(&want));
	gm_gauth_free(g);

	/* the metadata server (which insists on Metadata-Flavor) */
	gm_buf_reset(&doc);
	gm_buf_addf(&doc, "http://127.0.0.1:%d/", port);
	clean_env();
	setenv("GCE_METADATA_HOST", gm_buf_cstr(&doc), 1);
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	n = next_token_number(g);
	tok(&want, n);
	expect_token(g, gm_buf_cstr(&want));
	gm_gauth_free(g);

	gm_buf_release(&doc);
	gm_buf_release(&want);
	gm_err_release(&err);
}

/* A token request that fails: rc, a part of the message, and no secret or token in it. */
static void expect_token_error(const char *refresh, const char *secret, enum gm_rc rc,
                               const char *part)
{
	struct gm_gauth *g = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf doc = GM_BUF_INIT, t = GM_BUF_INIT;
	gm_buf_addf(&doc,
	            "{\"type\": \"authorized_user\", \"client_id\": \"" CID
	            "\", \"client_secret\": \"%s\", \"refresh_token\": \"%s\", \"token_uri\": "
	            "\"%s\"}",
	            secret, refresh, gm_buf_cstr(&token_uri));
	write_file("user-err.json", gm_buf_cstr(&doc));
	clean_env();
	use_file(tmp, "user-err.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	assert_int_equal(gm_gauth_token(g, &t, &err), rc);
	assert_int_equal(t.len, 0);
	const char *msg = gm_err_msg(&err);
	if (!strstr(msg, part))
		fail_msg("message '%s' lacks '%s'", msg, part);
	if (strstr(msg, "SECRET") || strstr(msg, "tok-") || strstr(msg, refresh))
		fail_msg("message '%s' quotes a secret", msg);
	gm_gauth_free(g);
	gm_buf_release(&doc);
	gm_buf_release(&t);
	gm_err_release(&err);
}

static void test_token_errors(void **state)
{
	(void)state;
	/* a refused grant names the OAuth error and the credentials, never the secrets */
	expect_token_error("1//SECRET-REFRESH-wrong", SECRET, GM_ERR_PERMISSION, "invalid_grant");
	expect_token_error(RTOKEN, "SECRET-CLIENT-wrong", GM_ERR_PERMISSION,
	                   "user credentials from $GOOGLE_APPLICATION_CREDENTIALS");
	expect_token_error("mode-notoken", SECRET, GM_ERR_PROTOCOL, "no usable access_token");
	expect_token_error("mode-500", SECRET, GM_ERR_UNREACHABLE, "HTTP 500");

	/* a JWT signed by another key is refused by the endpoint */
	struct gm_buf p = GM_BUF_INIT;
	path_in(&p, tmp, "other");
	mkdir(gm_buf_cstr(&p), 0700);
	struct gm_buf script = GM_BUF_INIT;
	path_in(&script, fixtures, "make_key.py");
	char *argv[] = {"/usr/bin/python3", script.data, p.data, token_uri.data, NULL};
	assert_int_equal(run_wait(argv), 0);
	struct gm_gauth *g = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf t = GM_BUF_INIT;
	clean_env();
	use_file(gm_buf_cstr(&p), "sa.json");
	assert_int_equal(gm_gauth_open(&http, NULL, &g, &err), GM_OK);
	assert_int_equal(gm_gauth_token(g, &t, &err), GM_ERR_PERMISSION);
	assert_non_null(strstr(gm_err_msg(&err), "Invalid JWT Signature"));
	assert_non_null(strstr(gm_err_msg(&err), "service account '" EMAIL "'"));
	assert_null(strstr(gm_err_msg(&err), "PRIVATE KEY"));
	gm_gauth_free(g);
	gm_buf_release(&t);
	gm_buf_release(&p);
	gm_buf_release(&script);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_service_account_jwt),
	        cmocka_unit_test(test_bad_files),
	        cmocka_unit_test(test_lookup_order),
	        cmocka_unit_test(test_tokens_cached_and_refreshed),
	        cmocka_unit_test(test_token_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

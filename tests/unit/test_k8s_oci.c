/* Unit tests for the OCI registry client's parsers: image references (docker's
 * normalisation), WWW-Authenticate challenges, upload Range answers, base64, docker
 * config.json credentials (and where they are looked up: credential helpers, faked by /bin/sh
 * scripts, and Google's application default credentials against tests/fakes/fake_gcs.py's
 * token endpoint), and the --map prefix rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/oci.h"
#include "k8s/oci_creds.h"
#include "util/fs.h"
#include "util/banned.h"

static char saved_path[4096]; /* PATH as the test started: the helper tests change it */

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_ref(const char *s, const char *reg, const char *repo, const char *tag,
                       const char *digest, bool plain)
{
	struct gm_oci_ref r;
	struct gm_err err = GM_ERR_INIT;
	gm_oci_ref_init(&r);
	assert_int_equal(gm_oci_ref_parse(s, &r, &err), GM_OK);
	assert_string_equal(r.registry, reg);
	assert_string_equal(r.repo, repo);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	assert_int_equal(r.plain_http, plain);
	gm_oci_ref_release(&r);
	gm_err_release(&err);
}

static void expect_bad_ref(const char *s, const char *msg_part)
{
	struct gm_oci_ref r;
	struct gm_err err = GM_ERR_INIT;
	gm_oci_ref_init(&r);
	assert_int_not_equal(gm_oci_ref_parse(s, &r, &err), GM_OK);
	assert_null(r.repo);
	if (msg_part)
		assert_non_null(strstr(gm_err_msg(&err), msg_part));
	gm_oci_ref_release(&r);
	gm_err_release(&err);
}

static void test_ref_parse(void **state)
{
	(void)state;
	expect_ref("ubuntu", "docker.io", "library/ubuntu", NULL, NULL, false);
	expect_ref("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", NULL, false);
	expect_ref("nvidia/cuda:12.2.0-base", "docker.io", "nvidia/cuda", "12.2.0-base", NULL,
	           false);
	expect_ref("docker.io/ubuntu", "docker.io", "library/ubuntu", NULL, NULL, false);
	expect_ref("index.docker.io/library/ubuntu", "docker.io", "library/ubuntu", NULL, NULL,
	           false);
	expect_ref("gcr.io/my-proj/train:v1", "gcr.io", "my-proj/train", "v1", NULL, false);
	expect_ref("us-central1-docker.pkg.dev/p/repo/img@sha256:" D64,
	           "us-central1-docker.pkg.dev", "p/repo/img", NULL, "sha256:" D64, false);
	expect_ref("localhost/app:1", "localhost", "app", "1", NULL, false);
	expect_ref("localhost:5000/a/b_c__d-e.f:tag@sha256:" D64, "localhost:5000", "a/b_c__d-e.f",
	           "tag", "sha256:" D64, false);
	expect_ref("http://127.0.0.1:5000/x/y:z", "127.0.0.1:5000", "x/y", "z", NULL, true);
	expect_ref("docker://harbor.local/library/app", "harbor.local", "library/app", NULL, NULL,
	           false);
	expect_ref("https://[::1]:5000/app", "[::1]:5000", "app", NULL, NULL, false);
	expect_ref("a---b/c", "docker.io", "a---b/c", NULL, NULL, false);

	expect_bad_ref("", "empty");
	expect_bad_ref("Ubuntu", "lowercase");
	expect_bad_ref("gcr.io/p/App:v1", "lowercase");
	expect_bad_ref("app:-bad", "tag");
	expect_bad_ref("app@sha256:abc", "digest");
	expect_bad_ref("app@sha256:" D64 "0", "digest");
	expect_bad_ref("app@md5:" D64, "digest");
	expect_bad_ref("gcr.io:99999999/app", "registry host");
	expect_bad_ref("a//b", "lowercase");
	expect_bad_ref("a/b/", "lowercase");
	expect_bad_ref("a._b", "lowercase");

	struct gm_oci_ref r;
	struct gm_buf b = GM_BUF_INIT;
	gm_oci_ref_init(&r);
	assert_int_equal(gm_oci_ref_parse("ubuntu:22.04@sha256:" D64, &r, NULL), GM_OK);
	gm_oci_ref_format(&r, &b);
	assert_string_equal(gm_buf_cstr(&b), "docker.io/library/ubuntu:22.04@sha256:" D64);
	assert_string_equal(gm_oci_api_host(&r), "registry-1.docker.io");
	gm_oci_ref_release(&r);
	gm_buf_release(&b);
}

static void test_digest(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	gm_oci_digest_of("", 0, &b);
	assert_string_equal(
	        gm_buf_cstr(&b),
	        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(gm_oci_digest_valid(gm_buf_cstr(&b)));
	assert_false(gm_oci_digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934C"
	                                 "A495991B7852B855"));
	assert_false(gm_oci_digest_valid(NULL));
	gm_buf_release(&b);
}

static void test_challenge(void **state)
{
	(void)state;
	struct gm_oci_challenge c = {0};
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
	                                        "service=\"registry.docker.io\","
	                                        "scope=\"repository:library/ubuntu:pull,push\"",
	                                        &c, &err),
	                 GM_OK);
	assert_int_equal(c.scheme, GM_OCI_AUTH_BEARER);
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/ubuntu:pull,push");

	/* any order, case-insensitive names, spaces, escapes, token values */
	assert_int_equal(gm_oci_challenge_parse("bearer  Scope=\"a\\\"b\" , REALM=https://x/t , "
	                                        "service=svc",
	                                        &c, &err),
	                 GM_OK);
	assert_string_equal(c.realm, "https://x/t");
	assert_string_equal(c.scope, "a\"b");
	assert_string_equal(c.service, "svc");

	assert_int_equal(gm_oci_challenge_parse("Basic realm=\"Registry Realm\"", &c, &err), GM_OK);
	assert_int_equal(c.scheme, GM_OCI_AUTH_BASIC);
	assert_string_equal(c.realm, "Registry Realm");
	assert_null(c.scope);

	/* the first of two challenges */
	assert_int_equal(gm_oci_challenge_parse("Basic realm=\"r\", Bearer realm=\"x\"", &c, &err),
	                 GM_OK);
	assert_int_equal(c.scheme, GM_OCI_AUTH_BASIC);

	assert_int_equal(gm_oci_challenge_parse("Negotiate abc", &c, &err), GM_ERR_PARSE);
	assert_int_equal(c.scheme, GM_OCI_AUTH_NONE);
	assert_int_equal(gm_oci_challenge_parse("Bearer service=\"x\"", &c, &err), GM_ERR_PARSE);
	assert_int_equal(gm_oci_challenge_parse("Bearer realm=\"unterminated", &c, &err),
	                 GM_ERR_PARSE);
	assert_int_equal(gm_oci_challenge_parse("Bearer realm=\"a\" junk", &c, &err), GM_ERR_PARSE);
	assert_int_equal(gm_oci_challenge_parse("Bearerx realm=\"a\"", &c, &err), GM_ERR_PARSE);
	char big[GM_OCI_MAX_HEADER + 20];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "Bearer realm=", 13);
	assert_int_equal(gm_oci_challenge_parse(big, &c, &err), GM_ERR_LIMIT);
	gm_oci_challenge_release(&c);
	gm_err_release(&err);
}

static void test_range(void **state)
{
	(void)state;
	uint64_t n = 7;
	assert_int_equal(gm_oci_parse_range("0-1023", &n), GM_OK);
	assert_int_equal(n, 1024);
	assert_int_equal(gm_oci_parse_range("bytes=0-0", &n), GM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(gm_oci_parse_range("0-68719476735", &n), GM_OK);
	assert_int_equal(n, 68719476736ull);
	n = 7;
	assert_int_equal(gm_oci_parse_range("5-10", &n), GM_ERR_PARSE);
	assert_int_equal(gm_oci_parse_range("0-", &n), GM_ERR_PARSE);
	assert_int_equal(gm_oci_parse_range("0-1x", &n), GM_ERR_PARSE);
	assert_int_equal(gm_oci_parse_range("0--1", &n), GM_ERR_PARSE);
	assert_int_equal(gm_oci_parse_range("0-18446744073709551615", &n), GM_ERR_PARSE);
	assert_int_equal(gm_oci_parse_range("", &n), GM_ERR_PARSE);
	assert_int_equal(gm_oci_parse_range(NULL, &n), GM_ERR_PARSE);
	assert_int_equal(n, 7);
}

static void test_base64(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	assert_int_equal(gm_oci_base64_decode("dXNlcjpwYTpzcw==", 16, &b), GM_OK);
	assert_string_equal(gm_buf_cstr(&b), "user:pa:ss");
	gm_buf_reset(&b);
	assert_int_equal(gm_oci_base64_decode("YQ", 2, &b), GM_OK);
	assert_string_equal(gm_buf_cstr(&b), "a");
	gm_buf_reset(&b);
	assert_int_equal(gm_oci_base64_decode("", 0, &b), GM_OK);
	assert_int_equal(b.len, 0);
	assert_int_equal(gm_oci_base64_decode("a!==", 4, &b), GM_ERR_PARSE);
	assert_int_equal(gm_oci_base64_decode("abcde", 5, &b), GM_ERR_PARSE);
	gm_buf_release(&b);
}

static const char config[] =
        "{\"auths\": {\n"
        "  \"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},\n"
        "  \"127.0.0.1:5000\": {\"auth\": \"dXNlcjpwYTpzcw==\"},\n"
        "  \"harbor.local/library\": {\"username\": \"robot\", \"password\": \"s3\"},\n"
        "  \"helper.example\": {\"identitytoken\": \"x\"},\n"
        "  \"bad.example\": {\"auth\": \"bm9jb2xvbg==\"}\n"
        "}, \"credHelpers\": {\"gcr.io\": \"gcloud\"}}\n";

static void test_config_lookup(void **state)
{
	(void)state;
	struct gm_buf u = GM_BUF_INIT, p = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	size_t n = strlen(config);
	assert_int_equal(gm_oci_config_lookup(config, n, "c.json", "127.0.0.1:5000", &u, &p, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "user");
	assert_string_equal(gm_buf_cstr(&p), "pa:ss");
	assert_int_equal(
	        gm_oci_config_lookup(config, n, "c.json", "registry-1.docker.io", &u, &p, &err),
	        GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "hub");
	assert_string_equal(gm_buf_cstr(&p), "hubpw");
	assert_int_equal(gm_oci_config_lookup(config, n, "c.json", "harbor.local", &u, &p, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "robot");
	assert_string_equal(gm_buf_cstr(&p), "s3");
	assert_int_equal(gm_oci_config_lookup(config, n, "c.json", "helper.example", &u, &p, &err),
	                 GM_ERR_NOT_FOUND);
	assert_int_equal(gm_oci_config_lookup(config, n, "c.json", "gcr.io", &u, &p, &err),
	                 GM_ERR_NOT_FOUND);
	assert_int_equal(gm_oci_config_lookup(config, n, "c.json", "127.0.0.1:5001", &u, &p, &err),
	                 GM_ERR_NOT_FOUND);
	assert_int_equal(gm_oci_config_lookup(config, n, "c.json", "bad.example", &u, &p, &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "c.json"));
	assert_null(strstr(gm_err_msg(&err), "nocolon")); /* the secret is never echoed */
	assert_int_equal(gm_oci_config_lookup("{\"auths\": [1]}", 14, "c.json", "x", &u, &p, &err),
	                 GM_ERR_PARSE);
	assert_int_equal(gm_oci_config_lookup("{", 1, "c.json", "x", &u, &p, &err), GM_ERR_PARSE);
	assert_int_equal(gm_oci_config_lookup("{}", 2, "c.json", "x", &u, &p, &err),
	                 GM_ERR_NOT_FOUND);
	gm_buf_release(&u);
	gm_buf_release(&p);
	gm_err_release(&err);
}

/* Whether this runs on a GCE VM, where the metadata server gives Google credentials. */
static bool on_gce(void)
{
	struct gm_buf prod = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	bool gce = gm_fs_read("/sys/class/dmi/id/product_name", 256, &prod, &err) == GM_OK &&
	           strncmp(gm_buf_cstr(&prod), "Google", 6) == 0;
	gm_buf_release(&prod);
	gm_err_release(&err);
	return gce;
}

static void test_creds_find(void **state)
{
	(void)state;
	char dir[] = "/tmp/gm-oci-XXXXXX";
	struct gm_buf path = GM_BUF_INIT, u = GM_BUF_INIT, p = GM_BUF_INIT, src = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_non_null(mkdtemp(dir));
	gm_buf_addf(&path, "%s/config.json", dir);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&path), config, strlen(config), &err),
	                 GM_OK);
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("DOCKER_CONFIG", dir, 1);
	setenv("HOME", "/nonexistent", 1);
	unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GCE_METADATA_HOST");
	setenv("PATH", "/nonexistent", 1); /* no docker-credential-gcloud, whatever is installed */
	assert_int_equal(gm_oci_creds_find("harbor.local", &u, &p, &src, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "robot");
	assert_string_equal(gm_buf_cstr(&src), gm_buf_cstr(&path));
	/* gcr.io's entry is credHelpers "gcloud": run as docker would, and not installed here */
	assert_int_equal(gm_oci_creds_find("gcr.io", &u, &p, &src, &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "'docker-credential-gcloud' is not in $PATH"));
	assert_non_null(strstr(gm_err_msg(&err), gm_buf_cstr(&path)));
	if (!on_gce()) /* no Google credentials anywhere: anonymous */
		assert_int_equal(gm_oci_creds_find("us.gcr.io", &u, &p, &src, &err),
		                 GM_ERR_NOT_FOUND);
	setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.tok", 1);
	assert_int_equal(gm_oci_creds_find("europe-west4-docker.pkg.dev", &u, &p, &src, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "oauth2accesstoken");
	assert_string_equal(gm_buf_cstr(&p), "ya29.tok");
	assert_string_equal(gm_buf_cstr(&src), "GOOGLE_OAUTH_ACCESS_TOKEN");
	assert_int_equal(gm_oci_creds_find("eu.gcr.io", &u, &p, &src, &err), GM_OK);
	assert_int_equal(gm_oci_creds_find("notgcr.io", &u, &p, &src, &err), GM_ERR_NOT_FOUND);
	/* REGISTRY_AUTH_FILE comes first */
	setenv("REGISTRY_AUTH_FILE", "/nonexistent/auth.json", 1);
	assert_int_equal(gm_oci_creds_find("harbor.local", &u, &p, &src, &err), GM_OK);
	unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("DOCKER_CONFIG");
	unlink(gm_buf_cstr(&path));
	rmdir(dir);
	gm_buf_release(&path);
	gm_buf_release(&u);
	gm_buf_release(&p);
	gm_buf_release(&src);
	gm_err_release(&err);
}

/* Fake docker credential helpers: small /bin/sh scripts that insist on the protocol (the one
 * argument "get", the server URL on stdin) and answer as real helpers do. */
static const struct {
	const char *name, *body;
} helpers[] = {
        {"gmok", "[ \"$#\" = 1 ] && [ \"$1\" = get ] || { echo \"bad arguments: $*\" >&2; "
                 "exit 2; }\n"
                 "read -r url || [ -n \"$url\" ] || exit 3\n"
                 "echo noise on stderr >&2\n"
                 "printf '{\"ServerURL\": \"%s\", \"Username\": \"helper-user\", "
                 "\"Secret\": \"s3cret-for-%s\"}\\n' \"$url\" \"$url\"\n"},
        {"gmnone", "cat >/dev/null\necho 'credentials not found in native keychain'\nexit 1\n"},
        {"gmfail", "echo 'error getting credentials: keyring is locked'\nexit 3\n"},
        {"gmgarbage", "cat >/dev/null\necho 'Username=u Secret=GARBAGE-SECRET'\n"},
        {"gmtoken", "printf '{\"ServerURL\": \"x\", \"Username\": \"<token>\", \"Secret\": "
                    "\"IDTOKEN-SECRET\"}'\n"},
        {"gmhang", "sleep 30\n"},
};

/* A temporary directory with bin/ (the fake helpers, first on PATH) and a DOCKER_CONFIG. */
struct helper_env {
	char dir[32];
	struct gm_buf bin, config;
};

static void helper_env_setup(struct helper_env *h)
{
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf p = GM_BUF_INIT, text = GM_BUF_INIT;
	snprintf(h->dir, sizeof(h->dir), "/tmp/gm-credh-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	gm_buf_init(&h->bin);
	gm_buf_init(&h->config);
	gm_buf_addf(&h->bin, "%s/bin", h->dir);
	assert_int_equal(mkdir(gm_buf_cstr(&h->bin), 0700), 0);
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		gm_buf_reset(&p);
		gm_buf_reset(&text);
		gm_buf_addf(&p, "%s/docker-credential-%s", gm_buf_cstr(&h->bin), helpers[i].name);
		gm_buf_addf(&text, "#!/bin/sh\n%s", helpers[i].body);
		assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&p), text.data, text.len, &err),
		                 GM_OK);
		assert_int_equal(chmod(gm_buf_cstr(&p), 0700), 0);
	}
	gm_buf_reset(&p);
	gm_buf_addf(&p, "%s:/usr/bin:/bin", gm_buf_cstr(&h->bin));
	setenv("PATH", gm_buf_cstr(&p), 1);
	gm_buf_addf(&h->config, "%s/config.json", h->dir);
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("DOCKER_CONFIG", h->dir, 1);
	setenv("HOME", "/nonexistent", 1);
	unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GCE_METADATA_HOST");
	unsetenv("GPUMIGRATE_CREDHELPER_TIMEOUT_MS");
	gm_buf_release(&p);
	gm_buf_release(&text);
	gm_err_release(&err);
}

static void helper_env_config(struct helper_env *h, const char *json)
{
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&h->config), json, strlen(json), &err),
	                 GM_OK);
	gm_err_release(&err);
}

static void helper_env_release(struct helper_env *h)
{
	struct gm_buf p = GM_BUF_INIT;
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "%s/docker-credential-%s", gm_buf_cstr(&h->bin), helpers[i].name);
		unlink(gm_buf_cstr(&p));
	}
	unlink(gm_buf_cstr(&h->config));
	rmdir(gm_buf_cstr(&h->bin));
	rmdir(h->dir);
	gm_buf_release(&p);
	gm_buf_release(&h->bin);
	gm_buf_release(&h->config);
	unsetenv("DOCKER_CONFIG");
	unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
	unsetenv("GPUMIGRATE_CREDHELPER_TIMEOUT_MS");
	setenv("PATH", saved_path, 1);
}

/* Finds credentials for host; asserts rc, and on GM_OK the user, password and source. */
static void expect_creds(const char *host, enum gm_rc rc, const char *user, const char *pass,
                         const char *source)
{
	struct gm_buf u = GM_BUF_INIT, p = GM_BUF_INIT, src = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc got = gm_oci_creds_find(host, &u, &p, &src, &err);
	if (got != rc)
		fail_msg("'%s': rc %d, want %d (%s)", host, got, rc, gm_err_msg(&err));
	if (rc == GM_OK) {
		assert_string_equal(gm_buf_cstr(&u), user);
		assert_string_equal(gm_buf_cstr(&p), pass);
		assert_string_equal(gm_buf_cstr(&src), source);
	}
	gm_buf_release(&u);
	gm_buf_release(&p);
	gm_buf_release(&src);
	gm_err_release(&err);
}

/* Finds credentials for host expecting rc, and an error naming every one of parts and none
 * of the secrets. */
static void expect_creds_error(const char *host, enum gm_rc rc, const char *const *parts)
{
	struct gm_buf u = GM_BUF_INIT, p = GM_BUF_INIT, src = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc got = gm_oci_creds_find(host, &u, &p, &src, &err);
	if (got != rc)
		fail_msg("'%s': rc %d, want %d (%s)", host, got, rc, gm_err_msg(&err));
	for (size_t i = 0; parts[i]; i++)
		if (!strstr(gm_err_msg(&err), parts[i]))
			fail_msg("'%s' is not in '%s'", parts[i], gm_err_msg(&err));
	assert_null(strstr(gm_err_msg(&err), "SECRET"));
	assert_int_equal(p.len, 0);
	gm_buf_release(&u);
	gm_buf_release(&p);
	gm_buf_release(&src);
	gm_err_release(&err);
}

/* credHelpers, credsStore and auths: which one wins, what the helper is asked for, and the
 * source named for messages. */
static void test_creds_helper_precedence(void **state)
{
	(void)state;
	struct helper_env h;
	struct gm_buf want = GM_BUF_INIT;
	helper_env_setup(&h);
	const char *cfg = gm_buf_cstr(&h.config);
	gm_buf_addf(&want, "credential helper docker-credential-gmok (from %s)", cfg);

	/* credHelpers wins over auths; the key's host part matches, the key is what is sent */
	helper_env_config(&h, "{\"auths\": {\"a.example\": {\"auth\": \"ZmlsZTpmaWxlcHc=\"},\n"
	                      "  \"b.example\": {\"auth\": \"ZmlsZTpmaWxlcHc=\"}},\n"
	                      " \"credHelpers\": {\"https://A.example/v1/\": \"gmok\",\n"
	                      "                   \"c.example\": \"\"}}\n");
	expect_creds("a.example", GM_OK, "helper-user", "s3cret-for-https://A.example/v1/",
	             gm_buf_cstr(&want));
	expect_creds("b.example", GM_OK, "file", "filepw", cfg);       /* no helper: auths */
	expect_creds("c.example", GM_ERR_NOT_FOUND, NULL, NULL, NULL); /* "": no helper */

	/* credsStore wins over auths (docker's order) but not over credHelpers; it is asked
	 * for the auths key `docker login` left, else the host, Docker Hub by its v1 URL */
	helper_env_config(&h, "{\"auths\": {\"b.example/path\": {\"auth\": \"ZmlsZTpmaWxlcHc=\"},\n"
	                      "  \"https://index.docker.io/v1/\": {}},\n"
	                      " \"credHelpers\": {\"n.example\": \"gmnone\"},\n"
	                      " \"credsStore\": \"gmok\"}\n");
	expect_creds("b.example", GM_OK, "helper-user", "s3cret-for-b.example/path",
	             gm_buf_cstr(&want));
	expect_creds("d.example:5000", GM_OK, "helper-user", "s3cret-for-d.example:5000",
	             gm_buf_cstr(&want));
	expect_creds("registry-1.docker.io", GM_OK, "helper-user",
	             "s3cret-for-https://index.docker.io/v1/", gm_buf_cstr(&want));
	/* a helper without credentials for the host: none from this file (no credsStore, no
	 * auths), and on to the next places: here anonymous, for Google the token variable */
	expect_creds("n.example", GM_ERR_NOT_FOUND, NULL, NULL, NULL);
	helper_env_config(&h, "{\"auths\": {\"gcr.io\": {\"auth\": \"ZmlsZTpmaWxlcHc=\"}},\n"
	                      " \"credHelpers\": {\"gcr.io\": \"gmnone\"}}\n");
	setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.from-env", 1);
	expect_creds("gcr.io", GM_OK, "oauth2accesstoken", "ya29.from-env",
	             "GOOGLE_OAUTH_ACCESS_TOKEN");
	unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");

	/* REGISTRY_AUTH_FILE's helper comes before DOCKER_CONFIG's entry */
	struct gm_buf auth = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&auth, "%s/auth.json", h.dir);
	static const char authjson[] = "{\"credHelpers\": {\"gcr.io\": \"gmok\"}}";
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&auth), authjson, strlen(authjson), &err),
	                 GM_OK);
	setenv("REGISTRY_AUTH_FILE", gm_buf_cstr(&auth), 1);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "credential helper docker-credential-gmok (from %s)",
	            gm_buf_cstr(&auth));
	expect_creds("gcr.io", GM_OK, "helper-user", "s3cret-for-gcr.io", gm_buf_cstr(&want));
	unsetenv("REGISTRY_AUTH_FILE");
	unlink(gm_buf_cstr(&auth));
	gm_buf_release(&auth);
	gm_err_release(&err);

	gm_buf_release(&want);
	helper_env_release(&h);
}

/* Helpers that fail: each a clear error naming the program and the config, never a secret. */
static void test_creds_helper_errors(void **state)
{
	(void)state;
	struct helper_env h;
	helper_env_setup(&h);
	const char *cfg = gm_buf_cstr(&h.config);
	helper_env_config(&h,
	                  "{\"credHelpers\": {\"missing.example\": \"gmmissing\",\n"
	                  "  \"fail.example\": \"gmfail\", \"garbage.example\": \"gmgarbage\",\n"
	                  "  \"token.example\": \"gmtoken\", \"hang.example\": \"gmhang\",\n"
	                  "  \"path.example\": \"../../bin/sh\"},\n"
	                  " \"auths\": {\"fail.example\": {\"auth\": \"ZmlsZTpmaWxlcHc=\"}}}\n");
	const char *missing[] = {"'docker-credential-gmmissing' is not in $PATH", cfg,
	                         "credHelpers", NULL};
	expect_creds_error("missing.example", GM_ERR_USAGE, missing);
	const char *fail[] = {"'docker-credential-gmfail'", "exit status 3", "keyring is locked",
	                      "fail.example", NULL};
	expect_creds_error("fail.example", GM_ERR_PROTOCOL, fail);
	const char *garbage[] = {"'docker-credential-gmgarbage'", "no JSON object", cfg, NULL};
	expect_creds_error("garbage.example", GM_ERR_PROTOCOL, garbage);
	const char *token[] = {"'docker-credential-gmtoken'", "identity token", NULL};
	expect_creds_error("token.example", GM_ERR_UNSUPPORTED, token);
	const char *path[] = {"not a plain name", cfg, NULL};
	expect_creds_error("path.example", GM_ERR_USAGE, path);

	/* a helper that hangs is stopped at the deadline */
	setenv("GPUMIGRATE_CREDHELPER_TIMEOUT_MS", "300", 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *hang[] = {"'docker-credential-gmhang'", "did not answer within 300 ms", NULL};
	expect_creds_error("hang.example", GM_ERR_UNREACHABLE, hang);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(s >= 0.29 && s < 5.0);

	/* the helper itself, directly */
	struct gm_buf u = GM_BUF_INIT, p = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_oci_helper_get("gmok", "x.example", "c.json", &u, &p, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "helper-user");
	assert_string_equal(gm_buf_cstr(&p), "s3cret-for-x.example");
	assert_int_equal(gm_oci_helper_get("gmnone", "x.example", "c.json", &u, &p, &err),
	                 GM_ERR_NOT_FOUND);
	gm_buf_release(&u);
	gm_buf_release(&p);
	gm_err_release(&err);
	helper_env_release(&h);
}

/* Starts tests/fakes/fake_gcs.py (its OAuth token endpoint) on port; its pid, or -1. */
static pid_t fake_gcs_start(const char *dir, int port)
{
	char script[600], root[96], pf[96], portarg[16], pub[96];
	const char *src = getenv("GM_SOURCE_ROOT");
	snprintf(script, sizeof(script), "%s/tests/fakes/fake_gcs.py", src ? src : ".");
	snprintf(root, sizeof(root), "%s/gcs", dir);
	snprintf(pf, sizeof(pf), "%s/port", dir);
	snprintf(pub, sizeof(pub), "%s/pub.pem", dir);
	snprintf(portarg, sizeof(portarg), "%d", port);
	const char *argv[] = {
	        "python3", script,           "--root",
	        root,      "--port-file",    pf,
	        "--port",  portarg,          "--bucket",
	        "gm-test", "--quiet",        "--public-key",
	        pub,       "--client-email", "gm-test@gm-test-project.iam.gserviceaccount.com",
	        NULL};
	pid_t pid = fork();
	if (pid == 0) {
		execv("/usr/bin/python3", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		if (access(pf, R_OK) == 0)
			return pid;
		usleep(30000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Google's application default credentials for Artifact Registry and gcr.io: a service
 * account's key (made fresh, accepted by the fake's token endpoint) turns into an access
 * token, the password of "oauth2accesstoken"; other registries never get it. */
static void test_creds_google_adc(void **state)
{
	(void)state;
	struct helper_env h;
	helper_env_setup(&h);
	helper_env_config(&h, "{}");
	char script[600], uri[96], sa[96];
	const char *srcroot = getenv("GM_SOURCE_ROOT");
	snprintf(script, sizeof(script), "%s/tests/fixtures/gcs/make_key.py",
	         srcroot ? srcroot : ".");
	int port = free_port();
	assert_true(port > 0);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/token", port);
	pid_t mk = fork();
	if (mk == 0) {
		execl("/usr/bin/python3", "python3", script, h.dir, uri, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	assert_int_equal(waitpid(mk, &st, 0), mk);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pid_t fake = fake_gcs_start(h.dir, port);
	assert_true(fake > 0);
	snprintf(sa, sizeof(sa), "%s/sa.json", h.dir);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", sa, 1);

	struct gm_buf u = GM_BUF_INIT, p = GM_BUF_INIT, src = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_oci_creds_find("us-docker.pkg.dev", &u, &p, &src, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "oauth2accesstoken");
	assert_true(strncmp(gm_buf_cstr(&p), "ya29.fake-", 10) == 0); /* the fake issued it */
	assert_true(strncmp(gm_buf_cstr(&src), "Google application default credentials: ", 40) ==
	            0);
	assert_non_null(
	        strstr(gm_buf_cstr(&src), "gm-test@gm-test-project.iam.gserviceaccount.com"));
	assert_non_null(strstr(gm_buf_cstr(&src), sa));
	assert_null(strstr(gm_buf_cstr(&src), gm_buf_cstr(&p)));
	struct gm_buf first = GM_BUF_INIT;
	gm_buf_adds(&first, gm_buf_cstr(&p));
	/* asked again (after a 401) it is a fresh token */
	assert_int_equal(gm_oci_creds_find("eu.gcr.io", &u, &p, &src, &err), GM_OK);
	assert_true(strncmp(gm_buf_cstr(&p), "ya29.fake-", 10) == 0);
	assert_string_not_equal(gm_buf_cstr(&p), gm_buf_cstr(&first));
	/* not for other registries */
	assert_int_equal(gm_oci_creds_find("harbor.local", &u, &p, &src, &err), GM_ERR_NOT_FOUND);
	/* a config entry or the token variable comes first */
	setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.from-env", 1);
	assert_int_equal(gm_oci_creds_find("us-docker.pkg.dev", &u, &p, &src, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&p), "ya29.from-env");
	unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
	helper_env_config(&h, "{\"credHelpers\": {\"us-docker.pkg.dev\": \"gmok\"}}");
	assert_int_equal(gm_oci_creds_find("us-docker.pkg.dev", &u, &p, &src, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&p), "s3cret-for-us-docker.pkg.dev");
	/* a broken key file is an error, not anonymous */
	static const char bad[] = "{\"type\": \"service_account\"}";
	assert_int_equal(gm_fs_write_atomic(sa, bad, strlen(bad), &err), GM_OK);
	assert_int_equal(gm_oci_creds_find("europe-docker.pkg.dev", &u, &p, &src, &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), sa));

	kill(fake, SIGTERM);
	waitpid(fake, NULL, 0);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	static const char *const made[] = {"sa.json", "sa-nokid.json", "key.pem", "pub.pem",
	                                   "port"};
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		char f[128];
		snprintf(f, sizeof(f), "%s/%s", h.dir, made[i]);
		unlink(f);
	}
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "%s/gcs", h.dir);
	char *rm[] = {"/bin/rm", "-rf", cmd, NULL};
	pid_t r = fork();
	if (r == 0) {
		execv(rm[0], rm);
		_exit(127);
	}
	waitpid(r, NULL, 0);
	gm_buf_release(&first);
	gm_buf_release(&u);
	gm_buf_release(&p);
	gm_buf_release(&src);
	gm_err_release(&err);
	helper_env_release(&h);
}

static void test_map(void **state)
{
	(void)state;
	char dir[] = "/tmp/gm-ocimap-XXXXXX";
	struct gm_buf path = GM_BUF_INIT, out = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_oci_map m;
	static const char rules[] = "images:\n"
	                            "  - from: gcr.io/proj/special\n"
	                            "    to: harbor.local/special\n"
	                            "  - from: gcr.io/proj/\n"
	                            "    to: harbor.local/library\n"
	                            "  - from: docker.io/library\n"
	                            "    to: harbor.local/hub\n";
	gm_oci_map_init(&m);
	assert_non_null(mkdtemp(dir));
	gm_buf_addf(&path, "%s/rules.yaml", dir);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&path), rules, strlen(rules), &err), GM_OK);
	assert_int_equal(gm_oci_map_load(gm_buf_cstr(&path), &m, &err), GM_OK);
	assert_int_equal(m.n, 3);
	assert_true(gm_oci_map_apply(&m, "gcr.io/proj/special:v2", &out));
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/special:v2");
	assert_true(gm_oci_map_apply(&m, "gcr.io/proj/train@sha256:" D64, &out));
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/library/train@sha256:" D64);
	assert_true(gm_oci_map_apply(&m, "ubuntu:22.04", &out)); /* normalised form */
	assert_string_equal(gm_buf_cstr(&out), "harbor.local/hub/ubuntu:22.04");
	assert_false(gm_oci_map_apply(&m, "gcr.io/projx/app", &out));
	assert_false(gm_oci_map_apply(&m, "quay.io/a/b", &out));
	gm_oci_map_release(&m);

	static const char bad[] = "- from: a\n  too: b\n";
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&path), bad, strlen(bad), &err), GM_OK);
	assert_int_equal(gm_oci_map_load(gm_buf_cstr(&path), &m, &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "rules.yaml:2"));
	gm_oci_map_release(&m);
	static const char notlist[] = "images: 3\n";
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&path), notlist, strlen(notlist), &err),
	                 GM_OK);
	assert_int_equal(gm_oci_map_load(gm_buf_cstr(&path), &m, &err), GM_ERR_PARSE);
	gm_oci_map_release(&m);
	unlink(gm_buf_cstr(&path));
	rmdir(dir);
	gm_buf_release(&path);
	gm_buf_release(&out);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ref_parse),
	        cmocka_unit_test(test_digest),
	        cmocka_unit_test(test_challenge),
	        cmocka_unit_test(test_range),
	        cmocka_unit_test(test_base64),
	        cmocka_unit_test(test_config_lookup),
	        cmocka_unit_test(test_creds_find),
	        cmocka_unit_test(test_creds_helper_precedence),
	        cmocka_unit_test(test_creds_helper_errors),
	        cmocka_unit_test(test_creds_google_adc),
	        cmocka_unit_test(test_map),
	};
	const char *path = getenv("PATH");
	snprintf(saved_path, sizeof(saved_path), "%s", path ? path : "/usr/bin:/bin");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

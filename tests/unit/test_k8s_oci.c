/* Unit tests for the OCI registry client's parsers: image references (docker's
 * normalisation), WWW-Authenticate challenges, upload Range answers, base64, docker
 * config.json credentials (and where they are looked up), and the --map prefix rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/oci.h"
#include "util/fs.h"
#include "util/banned.h"

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
	assert_int_equal(gm_oci_creds_find("harbor.local", &u, &p, &src, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&u), "robot");
	assert_string_equal(gm_buf_cstr(&src), gm_buf_cstr(&path));
	assert_int_equal(gm_oci_creds_find("gcr.io", &u, &p, &src, &err), GM_ERR_NOT_FOUND);
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
	        cmocka_unit_test(test_ref_parse),  cmocka_unit_test(test_digest),
	        cmocka_unit_test(test_challenge),  cmocka_unit_test(test_range),
	        cmocka_unit_test(test_base64),     cmocka_unit_test(test_config_lookup),
	        cmocka_unit_test(test_creds_find), cmocka_unit_test(test_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

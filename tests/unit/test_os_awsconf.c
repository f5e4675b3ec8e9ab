/* Unit tests for the AWS settings resolver: precedence of environment, credentials file,
 * credential_process and config file for keys, region, endpoint and CA bundle; credentials
 * from a credential_process (a /bin/sh script written by the test): arguments, session
 * token, expiry, renewal, and every way it can fail without its secret in the message; the
 * nested s3 block and [services] sections; profile selection and the error for a missing
 * profile; INI syntax (comments, CRLF, case-blind keys, continuation); errors for malformed
 * files that name file and line but never the secret; the size cap; the permission
 * warning. Each test works in its own temporary HOME with every AWS_* variable cleared. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore/awsconf.h"
#include "util/fs.h"
#include "util/banned.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz"

static const char *const aws_vars[] = {
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_CA_BUNDLE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
};

struct fx {
	char home[64];
	struct gm_buf cred, conf; /* the default paths */
};

static void rm_tree(const char *dir)
{
	struct gm_buf cmd = GM_BUF_INIT;
	gm_buf_addf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(gm_buf_cstr(&cmd)), 0);
	gm_buf_release(&cmd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	memcpy(f->home, "/tmp/gm-awsconf-XXXXXX", 23);
	if (!mkdtemp(f->home))
		return -1;
	for (size_t i = 0; i < sizeof aws_vars / sizeof aws_vars[0]; i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", f->home, 1);
	struct gm_buf d = GM_BUF_INIT;
	gm_buf_addf(&d, "%s/.aws", f->home);
	mkdir(gm_buf_cstr(&d), 0700);
	gm_buf_release(&d);
	gm_buf_addf(&f->cred, "%s/.aws/credentials", f->home);
	gm_buf_addf(&f->conf, "%s/.aws/config", f->home);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	rm_tree(f->home);
	gm_buf_release(&f->cred);
	gm_buf_release(&f->conf);
	free(f);
	return 0;
}

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Loads with stderr captured into *log (may be NULL). */
static enum gm_rc load(struct gm_aws_config *c, const char *profile, struct gm_err *err,
                       struct gm_buf *log)
{
	char tmpl[] = "/tmp/gm-awsconf-log-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	enum gm_rc rc = gm_aws_config_load(c, profile, err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	if (log)
		assert_int_equal(gm_fs_read(tmpl, 1 << 20, log, NULL), GM_OK);
	unlink(tmpl);
	return rc;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("'%s' contains '%s'", hay, needle);
}

static void test_nothing_configured(void **state)
{
	(void)state;
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf log = GM_BUF_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, NULL, &err, &log), GM_OK);
	assert_int_equal(c.access_key.len, 0);
	assert_int_equal(c.secret_key.len, 0);
	assert_int_equal(c.creds_source.len, 0);
	assert_string_equal(gm_buf_cstr(&c.region), "us-east-1");
	assert_string_equal(gm_buf_cstr(&c.profile), "default");
	assert_int_equal(c.endpoint_url.len, 0);
	assert_int_equal(c.ca_bundle.len, 0);
	assert_int_equal(c.path_style, -1);
	assert_int_equal(log.len, 0);
	/* "default" named explicitly but absent is not an error either */
	assert_int_equal(load(&c, "default", &err, NULL), GM_OK);
	/* nor is an unset HOME */
	unsetenv("HOME");
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.region), "us-east-1");
	gm_aws_config_release(&c);
	gm_aws_config_release(NULL);
	gm_buf_release(&log);
	gm_err_release(&err);
}

static void test_env_wins(void **state)
{
	struct fx *f = *state;
	put(gm_buf_cstr(&f->cred),
	    "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n", 0600);
	put(gm_buf_cstr(&f->conf), "[default]\nregion = eu-central-1\n", 0600);
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAENV");
	assert_string_equal(gm_buf_cstr(&c.secret_key), SECRET);
	assert_string_equal(gm_buf_cstr(&c.session_token), "envtoken");
	assert_string_equal(gm_buf_cstr(&c.creds_source), "environment");
	assert_string_equal(gm_buf_cstr(&c.region), "eu-central-1"); /* config region */

	/* region: AWS_REGION > AWS_DEFAULT_REGION > config */
	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.region), "ap-south-1");
	setenv("AWS_REGION", "sa-east-1", 1);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.region), "sa-east-1");

	/* half a pair in the environment is an error, not a fallback to the file */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(load(&c, NULL, &err, NULL), GM_ERR_USAGE);
	assert_contains(gm_err_msg(&err), "AWS_SECRET_ACCESS_KEY");
	assert_lacks(gm_err_msg(&err), "AKIAENV");
	assert_int_equal(c.access_key.len, 0); /* emptied on error */
	/* empty variables count as unset */
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAFILE");
	gm_aws_config_release(&c);
	gm_err_release(&err);
}

static void test_profiles(void **state)
{
	struct fx *f = *state;
	put(gm_buf_cstr(&f->cred),
	    "# keys\n"
	    "[default]\n"
	    "aws_access_key_id = AKIADEFAULT\n"
	    "aws_secret_access_key = defaultsecret\n"
	    "\n"
	    "[prod]\n"
	    "aws_access_key_id=AKIAPROD\n"
	    "aws_secret_access_key=" SECRET "\n"
	    "aws_session_token = prodtoken\n"
	    "region = us-west-1\n",
	    0600);
	put(gm_buf_cstr(&f->conf),
	    "[default]\n"
	    "region = eu-west-1\n"
	    "[profile prod]\n"
	    "region = eu-west-2\n"
	    "ca_bundle = /etc/prod.pem\n"
	    "[profile dev]\n"
	    "aws_access_key_id = AKIADEV\n"
	    "aws_secret_access_key = devsecret\n"
	    "region = eu-north-1\n"
	    "[prod]\n" /* not a profile in the config file: ignored */
	    "region = xx-bogus-9\n",
	    0600);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf want = GM_BUF_INIT;
	gm_aws_config_init(&c);

	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.profile), "default");
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIADEFAULT");
	assert_string_equal(gm_buf_cstr(&c.secret_key), "defaultsecret");
	assert_int_equal(c.session_token.len, 0);
	assert_string_equal(gm_buf_cstr(&c.region), "eu-west-1");
	gm_buf_addf(&want, "profile 'default' in '%s'", gm_buf_cstr(&f->cred));
	assert_string_equal(gm_buf_cstr(&c.creds_source), gm_buf_cstr(&want));

	/* AWS_PROFILE picks; the credentials file's region overrides the config's */
	setenv("AWS_PROFILE", "prod", 1);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.profile), "prod");
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAPROD");
	assert_string_equal(gm_buf_cstr(&c.secret_key), SECRET);
	assert_string_equal(gm_buf_cstr(&c.session_token), "prodtoken");
	assert_string_equal(gm_buf_cstr(&c.region), "us-west-1");
	assert_string_equal(gm_buf_cstr(&c.ca_bundle), "/etc/prod.pem");
	gm_buf_reset(&want);
	gm_buf_addf(&want, "profile 'prod' in '%s'", gm_buf_cstr(&f->cred));
	assert_string_equal(gm_buf_cstr(&c.creds_source), gm_buf_cstr(&want));

	/* the argument beats AWS_PROFILE; keys from the config file */
	assert_int_equal(load(&c, "dev", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.profile), "dev");
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIADEV");
	assert_string_equal(gm_buf_cstr(&c.secret_key), "devsecret");
	assert_string_equal(gm_buf_cstr(&c.region), "eu-north-1");
	gm_buf_reset(&want);
	gm_buf_addf(&want, "profile 'dev' in '%s'", gm_buf_cstr(&f->conf));
	assert_string_equal(gm_buf_cstr(&c.creds_source), gm_buf_cstr(&want));
	/* AWS_CA_BUNDLE beats the profile's */
	setenv("AWS_CA_BUNDLE", "/env/ca.pem", 1);
	assert_int_equal(load(&c, "prod", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.ca_bundle), "/env/ca.pem");

	gm_aws_config_release(&c);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static void test_missing_profile(void **state)
{
	struct fx *f = *state;
	put(gm_buf_cstr(&f->cred), "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
	    0600);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	setenv("AWS_PROFILE", "staging", 1);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_ERR_NOT_FOUND);
	const char *m = gm_err_msg(&err);
	print_message("%s\n", m);
	assert_contains(m, "AWS_PROFILE");
	assert_contains(m, "'staging'");
	assert_contains(m, gm_buf_cstr(&f->cred));
	assert_contains(m, gm_buf_cstr(&f->conf));
	assert_contains(m, "(missing)"); /* the config file does not exist */
	assert_int_equal(c.access_key.len, 0);
	assert_int_equal(c.region.len, 0);
	/* even with keys in the environment: the user named a profile that is not there */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	assert_int_equal(load(&c, "other", &err, NULL), GM_ERR_NOT_FOUND);
	assert_contains(gm_err_msg(&err), "'other'");
	assert_lacks(gm_err_msg(&err), "AWS_PROFILE");
	/* a profile that only the config file has exists */
	put(gm_buf_cstr(&f->conf), "[profile   staging  ]\nregion = us-east-2\n", 0600);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.region), "us-east-2");
	assert_string_equal(gm_buf_cstr(&c.creds_source), "environment");
	/* an empty section is a profile too */
	put(gm_buf_cstr(&f->cred), "[empty]\n", 0600);
	assert_int_equal(load(&c, "empty", &err, NULL), GM_OK);
	gm_aws_config_release(&c);
	gm_err_release(&err);
}

static void test_endpoints(void **state)
{
	struct fx *f = *state;
	put(gm_buf_cstr(&f->conf),
	    "[profile minio]\n"
	    "region = us-west-2  ; where the bucket is\n"
	    "endpoint_url = https://global.example.com\n"
	    "s3 =\n"
	    "  addressing_style = path\n"
	    "\tendpoint_url = http://127.0.0.1:9000  # local\n"
	    "ca_bundle = /etc/ssl/minio.pem\n"
	    "\n"
	    "[profile svc]\n"
	    "services = local-stack\n"
	    "endpoint_url = https://global.example.com\n"
	    "s3 =\n"
	    "    addressing_style = virtual\n"
	    "[services    local-stack ]\n"
	    "s3 =\n"
	    "  endpoint_url = http://localhost:4566\n"
	    "sqs =\n"
	    "  endpoint_url = http://localhost:9999\n"
	    "\n"
	    "[profile global]\n"
	    "endpoint_url = https://global.example.com\n"
	    "s3 =\n"
	    "  addressing_style = auto\n"
	    "[profile badstyle]\n"
	    "s3 =\n"
	    "  addressing_style = sideways\n"
	    "[profile badurl]\n"
	    "endpoint_url = ftp://nope\n"
	    "[profile badregion]\n"
	    "region = us-east-1.evil.com/\n",
	    0600);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf want = GM_BUF_INIT;
	gm_aws_config_init(&c);

	assert_int_equal(load(&c, "minio", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.endpoint_url), "http://127.0.0.1:9000");
	assert_int_equal(c.path_style, 1);
	assert_string_equal(gm_buf_cstr(&c.region), "us-west-2");
	assert_string_equal(gm_buf_cstr(&c.ca_bundle), "/etc/ssl/minio.pem");
	assert_int_equal(c.access_key.len, 0); /* anonymous: fine here */

	assert_int_equal(load(&c, "svc", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.endpoint_url), "http://localhost:4566");
	assert_int_equal(c.path_style, 0);

	assert_int_equal(load(&c, "global", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.endpoint_url), "https://global.example.com");
	assert_int_equal(c.path_style, -1);

	/* the environment beats the files; the S3-specific variable beats the global one */
	setenv("AWS_ENDPOINT_URL", "https://env-global.example.com", 1);
	assert_int_equal(load(&c, "minio", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.endpoint_url), "https://env-global.example.com");
	assert_int_equal(c.path_style, 1); /* still from the file */
	setenv("AWS_ENDPOINT_URL_S3", "http://env-s3.example.com:8333", 1);
	assert_int_equal(load(&c, "minio", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.endpoint_url), "http://env-s3.example.com:8333");
	/* and none of them when configured endpoints are to be ignored */
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
	assert_int_equal(load(&c, "minio", &err, NULL), GM_OK);
	assert_int_equal(c.endpoint_url.len, 0);
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");

	assert_int_equal(load(&c, "badstyle", &err, NULL), GM_ERR_PARSE);
	gm_buf_addf(&want, "%s:26", gm_buf_cstr(&f->conf));
	assert_contains(gm_err_msg(&err), gm_buf_cstr(&want));
	assert_contains(gm_err_msg(&err), "addressing_style");
	assert_int_equal(load(&c, "badurl", &err, NULL), GM_ERR_PARSE);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "%s:28", gm_buf_cstr(&f->conf));
	assert_contains(gm_err_msg(&err), gm_buf_cstr(&want));
	assert_lacks(gm_err_msg(&err), "ftp://nope");
	assert_int_equal(c.endpoint_url.len, 0);
	assert_int_equal(load(&c, "badregion", &err, NULL), GM_ERR_PARSE);
	assert_contains(gm_err_msg(&err), "region");
	setenv("AWS_REGION", "bad region", 1);
	assert_int_equal(load(&c, "minio", &err, NULL), GM_ERR_PARSE);
	assert_contains(gm_err_msg(&err), "AWS_REGION");
	setenv("AWS_ENDPOINT_URL", "localhost:9000", 1);
	unsetenv("AWS_REGION");
	assert_int_equal(load(&c, "minio", &err, NULL), GM_ERR_PARSE);
	assert_contains(gm_err_msg(&err), "AWS_ENDPOINT_URL");

	gm_aws_config_release(&c);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static void test_syntax(void **state)
{
	struct fx *f = *state;
	/* a BOM, CRLF, ';' comments, "key: value", keys in capitals, a continued value,
	 * a ':' delimiter after '=' */
	put(gm_buf_cstr(&f->cred),
	    "\xef\xbb\xbf; written on windows\r\n"
	    "[ win ]\r\n"
	    "  # indented comment\r\n"
	    "AWS_Access_Key_ID: AKIAWIN\r\n"
	    "aws_secret_access_key =   winsecret   \r\n"
	    "aws_session_token =\r\n"
	    "region=ca-central-1\r\n",
	    0600);
	put(gm_buf_cstr(&f->conf),
	    "[profile multi]\n"
	    "aws_access_key_id = AKIAMULTI\n"
	    "aws_secret_access_key = part1\n"
	    "   part2\n"
	    "endpoint_url = http://h:1/x=y\n",
	    0600);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, "win", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAWIN");
	assert_string_equal(gm_buf_cstr(&c.secret_key), "winsecret");
	assert_int_equal(c.session_token.len, 0);
	assert_string_equal(gm_buf_cstr(&c.region), "ca-central-1");
	assert_int_equal(load(&c, "multi", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.secret_key), "part1\npart2"); /* as ConfigParser */
	assert_string_equal(gm_buf_cstr(&c.endpoint_url), "http://h:1/x=y");
	gm_aws_config_release(&c);
	gm_err_release(&err);
}

static void expect_malformed(struct fx *f, const char *text, const char *where_part)
{
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf want = GM_BUF_INIT, log = GM_BUF_INIT;
	put(gm_buf_cstr(&f->cred), text, 0600);
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, NULL, &err, &log), GM_ERR_PARSE);
	const char *m = gm_err_msg(&err);
	print_message("%s\n", m);
	gm_buf_addf(&want, "%s%s", gm_buf_cstr(&f->cred), where_part);
	assert_contains(m, gm_buf_cstr(&want));
	assert_lacks(m, SECRET);
	assert_lacks(m, "zzSECRETzz");
	assert_lacks(gm_buf_cstr(&log), "zzSECRETzz");
	assert_int_equal(c.secret_key.len, 0);
	gm_aws_config_release(&c);
	gm_buf_release(&want);
	gm_buf_release(&log);
	gm_err_release(&err);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	expect_malformed(f,
	                 "[default]\n"
	                 "aws_access_key_id = AKIA1\n"
	                 "aws_secret_access_key = " SECRET "\n"
	                 "oops " SECRET "\n",
	                 ":4: expected 'key = value'");
	expect_malformed(f, "aws_secret_access_key = " SECRET "\n[default]\n",
	                 ":1: a setting before any [section]");
	expect_malformed(f, "[default\naws_secret_access_key = " SECRET "\n",
	                 ":1: a section header must end with ']'");
	expect_malformed(f, "[default]\n = " SECRET "\n", ":2: a setting without a name");
	expect_malformed(f, "[]\n", ":1: empty section name");
	expect_malformed(f, "[default]\ns3 =\n  " SECRET "\n", ":3: expected 'key = value'");
	/* half a pair in the file: the profile and line named, not the key */
	expect_malformed(f, "[default]\n\naws_access_key_id = AKIAzzSECRETzz\n",
	                 ":3: profile 'default' has aws_access_key_id but no "
	                 "aws_secret_access_key");

	/* a NUL byte */
	int fd = open(gm_buf_cstr(&f->cred), O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[default]\nx = a\0b\n", 18), 18);
	close(fd);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_ERR_PARSE);
	assert_contains(gm_err_msg(&err), ":2: NUL byte");
	gm_aws_config_release(&c);
	gm_err_release(&err);
}

static void test_limits_and_access(void **state)
{
	struct fx *f = *state;
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);

	/* over 1 MiB */
	struct gm_buf big = GM_BUF_INIT;
	gm_buf_adds(&big, "[default]\n");
	while (big.len <= GM_AWS_CONFIG_MAX)
		gm_buf_adds(&big, "# padding padding padding padding padding padding padding\n");
	put(gm_buf_cstr(&f->conf), gm_buf_cstr(&big), 0600);
	assert_int_equal(load(&c, NULL, &err, NULL), GM_ERR_LIMIT);
	assert_contains(gm_err_msg(&err), gm_buf_cstr(&f->conf));
	unlink(gm_buf_cstr(&f->conf));

	/* a directory where the file should be */
	assert_int_equal(mkdir(gm_buf_cstr(&f->cred), 0700), 0);
	assert_int_not_equal(load(&c, NULL, &err, NULL), GM_OK);
	assert_contains(gm_err_msg(&err), gm_buf_cstr(&f->cred));
	rmdir(gm_buf_cstr(&f->cred));

	/* other places through the variables, "~/" meaning $HOME */
	struct gm_buf p = GM_BUF_INIT;
	gm_buf_addf(&p, "%s/creds.ini", f->home);
	put(gm_buf_cstr(&p), "[x]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n", 0600);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/creds.ini", 1);
	gm_buf_reset(&p);
	gm_buf_addf(&p, "%s/conf.ini", f->home);
	put(gm_buf_cstr(&p), "[profile x]\nregion = me-south-1\n", 0600);
	setenv("AWS_CONFIG_FILE", gm_buf_cstr(&p), 1);
	assert_int_equal(load(&c, "x", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAX");
	assert_string_equal(gm_buf_cstr(&c.region), "me-south-1");
	gm_buf_reset(&p);
	gm_buf_addf(&p, "profile 'x' in '%s/creds.ini'", f->home);
	assert_string_equal(gm_buf_cstr(&c.creds_source), gm_buf_cstr(&p));

	gm_buf_release(&p);
	gm_buf_release(&big);
	gm_aws_config_release(&c);
	gm_err_release(&err);
}

static void test_permission_warning(void **state)
{
	struct fx *f = *state;
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf log = GM_BUF_INIT;
	gm_aws_config_init(&c);
	put(gm_buf_cstr(&f->cred),
	    "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = " SECRET "\n", 0644);
	assert_int_equal(load(&c, NULL, &err, &log), GM_OK);
	print_message("%s", gm_buf_cstr(&log));
	assert_contains(gm_buf_cstr(&log), "warning");
	assert_contains(gm_buf_cstr(&log), gm_buf_cstr(&f->cred));
	assert_contains(gm_buf_cstr(&log), "chmod 600");
	assert_lacks(gm_buf_cstr(&log), SECRET);
	assert_string_equal(gm_buf_cstr(&c.secret_key), SECRET); /* loaded all the same */

	chmod(gm_buf_cstr(&f->cred), 0600);
	assert_int_equal(load(&c, NULL, &err, &log), GM_OK);
	assert_int_equal(log.len, 0);

	/* keys in a config file others can read warn as well */
	unlink(gm_buf_cstr(&f->cred));
	put(gm_buf_cstr(&f->conf),
	    "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = " SECRET "\n", 0640);
	assert_int_equal(load(&c, NULL, &err, &log), GM_OK);
	assert_contains(gm_buf_cstr(&log), gm_buf_cstr(&f->conf));
	/* but a config file without keys does not */
	put(gm_buf_cstr(&f->conf), "[default]\nregion = us-east-2\n", 0644);
	assert_int_equal(load(&c, NULL, &err, &log), GM_OK);
	assert_int_equal(log.len, 0);

	gm_aws_config_release(&c);
	gm_buf_release(&log);
	gm_err_release(&err);
}

static void test_unsupported_source(void **state)
{
	struct fx *f = *state;
	put(gm_buf_cstr(&f->conf),
	    "[profile sso]\nrole_arn = arn:aws:iam::123456789012:role/x\n"
	    "credential_process = /usr/bin/get-creds --secret " SECRET "\n",
	    0600);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	/* with a role_arn the profile means the role: refused, the process is not run */
	assert_int_equal(load(&c, "sso", &err, NULL), GM_ERR_UNSUPPORTED);
	assert_contains(gm_err_msg(&err), "role_arn");
	assert_contains(gm_err_msg(&err), "AWS_ACCESS_KEY_ID");
	assert_lacks(gm_err_msg(&err), SECRET);
	/* keys in the environment make it moot */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	assert_int_equal(load(&c, "sso", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAENV");
	gm_aws_config_release(&c);
	gm_err_release(&err);
}

/* ---- credential_process ---- */

/* Writes an executable /bin/sh script $HOME/bin/<name>; its path into path. */
static void put_prog(struct fx *f, const char *name, const char *body, struct gm_buf *path)
{
	struct gm_buf d = GM_BUF_INIT, text = GM_BUF_INIT;
	gm_buf_addf(&d, "%s/bin", f->home);
	mkdir(gm_buf_cstr(&d), 0700);
	gm_buf_reset(path);
	gm_buf_addf(path, "%s/%s", gm_buf_cstr(&d), name);
	gm_buf_addf(&text, "#!/bin/sh\n%s", body);
	put(gm_buf_cstr(path), gm_buf_cstr(&text), 0700);
	gm_buf_release(&d);
	gm_buf_release(&text);
}

/* A config with [profile p] whose credential_process is "<prog> <args>". */
static void put_process_profile(struct fx *f, const char *prog, const char *args)
{
	struct gm_buf t = GM_BUF_INIT;
	gm_buf_addf(&t, "[profile p]\nregion = eu-west-1\ncredential_process = %s %s\n", prog,
	            args);
	put(gm_buf_cstr(&f->conf), gm_buf_cstr(&t), 0600);
	gm_buf_release(&t);
}

#define GOOD_JSON                                                                                \
	"printf '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", \"SecretAccessKey\": \"" SECRET \
	"\"}\\n'\n"

static void test_process_keys(void **state)
{
	struct fx *f = *state;
	struct gm_buf prog = GM_BUF_INIT, want = GM_BUF_INIT, log = GM_BUF_INIT;
	/* it gets its arguments split as a shell would, and no stdin */
	put_prog(f, "creds",
	         "[ \"$#\" = 4 ] && [ \"$1\" = --flag ] && [ \"$2\" = 'two words' ] && "
	         "[ \"$3\" = 'it\"s' ] && [ \"$4\" = '$HOME' ] || { echo \"bad args: $*\" >&2; "
	         "exit 9; }\n"
	         "[ -z \"$(cat)\" ] || exit 8\n"
	         "echo noise on stderr >&2\n" GOOD_JSON,
	         &prog);
	put_process_profile(f, gm_buf_cstr(&prog), "--flag 'two words' \"it\\\"s\" '$HOME'");
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, "p", &err, &log), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAPROC");
	assert_string_equal(gm_buf_cstr(&c.secret_key), SECRET);
	assert_int_equal(c.session_token.len, 0);
	assert_int_equal(c.expires, 0);
	assert_string_equal(gm_buf_cstr(&c.region), "eu-west-1");
	gm_buf_addf(&want, "credential_process of profile 'p' at %s:3", gm_buf_cstr(&f->conf));
	assert_string_equal(gm_buf_cstr(&c.creds_source), gm_buf_cstr(&want));
	assert_int_equal(log.len, 0); /* its stderr is shown at -v only */
	assert_false(gm_aws_config_refresh_due(&c, (int64_t)time(NULL) + 100000));

	/* with a session token and an expiry */
	put_prog(f, "creds",
	         "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIATOK\", \"SecretAccessKey\": "
	         "\"s2\", \"SessionToken\": \"tok/en+==\", \"Expiration\": "
	         "\"2999-01-01T00:00:00Z\"}'\n",
	         &prog);
	put_process_profile(f, gm_buf_cstr(&prog), "");
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIATOK");
	assert_string_equal(gm_buf_cstr(&c.secret_key), "s2");
	assert_string_equal(gm_buf_cstr(&c.session_token), "tok/en+==");
	assert_int_equal(c.expires, 32472144000LL);
	/* fractions and an offset, as `aws configure export-credentials` may print them */
	put_prog(f, "creds",
	         "printf '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", "
	         "\"Expiration\": \"2100-02-28T23:59:59.123456+02:00\"}'\n",
	         &prog);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_int_equal(c.expires, 4107535199LL);

	/* the environment's keys win: the process is not even run */
	put_prog(f, "creds", "exit 7\n", &prog);
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAENV");
	assert_int_equal(c.credential_process.len, 0);
	gm_aws_config_release(&c);
	gm_err_release(&err);
	gm_buf_release(&prog);
	gm_buf_release(&want);
	gm_buf_release(&log);
}

/* Loads profile p and expects rc with every needle in the message and SECRET nowhere. */
static void expect_process_error(enum gm_rc rc, const char *const *needles)
{
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf log = GM_BUF_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, "p", &err, &log), rc);
	for (const char *const *n = needles; *n; n++)
		assert_contains(gm_err_msg(&err), *n);
	assert_lacks(gm_err_msg(&err), SECRET);
	assert_lacks(gm_buf_cstr(&log), SECRET);
	assert_int_equal(c.access_key.len, 0);
	assert_int_equal(c.secret_key.len, 0);
	gm_aws_config_release(&c);
	gm_err_release(&err);
	gm_buf_release(&log);
}

static void test_process_errors(void **state)
{
	struct fx *f = *state;
	struct gm_buf prog = GM_BUF_INIT, at = GM_BUF_INIT;
	gm_buf_addf(&at, "%s:3", gm_buf_cstr(&f->conf));

	/* Version 2 */
	put_prog(f, "creds",
	         "printf '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"" SECRET
	         "\"}'\n",
	         &prog);
	put_process_profile(f, gm_buf_cstr(&prog), "--token " SECRET);
	const char *v2[] = {"Version other than 1", "'p'", gm_buf_cstr(&prog), NULL};
	expect_process_error(GM_ERR_UNSUPPORTED, v2);
	/* no Version at all */
	put_prog(f, "creds",
	         "printf '{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"" SECRET "\"}'\n", &prog);
	const char *nov[] = {"no JSON object", "'p'", NULL};
	expect_process_error(GM_ERR_PROTOCOL, nov);
	/* garbage (holding the secret): never echoed */
	put_prog(f, "creds", "echo 'AccessKeyId=A SecretAccessKey=" SECRET "'\n", &prog);
	const char *garbage[] = {"no JSON object", gm_buf_cstr(&prog), gm_buf_cstr(&at), NULL};
	expect_process_error(GM_ERR_PROTOCOL, garbage);
	put_prog(f, "creds", "printf '{\"Version\": 1, \"AccessKeyId\": \"" SECRET "'\n", &prog);
	expect_process_error(GM_ERR_PROTOCOL, garbage);
	/* a key missing */
	put_prog(f, "creds",
	         "printf '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SessionToken\": \"" SECRET
	         "\"}'\n",
	         &prog);
	expect_process_error(GM_ERR_PROTOCOL, nov);
	/* a non-zero exit: the profile and program, not its output nor its arguments */
	put_prog(f, "creds", GOOD_JSON "echo 'error: " SECRET "' >&2\nexit 3\n", &prog);
	const char *fail[] = {"credential_process",
	                      "'p'",
	                      gm_buf_cstr(&prog),
	                      gm_buf_cstr(&at),
	                      "exit status 3",
	                      "-v",
	                      NULL};
	expect_process_error(GM_ERR_PROTOCOL, fail);
	/* killed by a signal */
	put_prog(f, "creds", "kill -TERM $$\n", &prog);
	const char *sig[] = {"killed by signal 15", NULL};
	expect_process_error(GM_ERR_PROTOCOL, sig);
	/* Expiration: not a time, or already past */
	put_prog(f, "creds",
	         "printf '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"" SECRET
	         "\", \"Expiration\": \"tomorrow\"}'\n",
	         &prog);
	const char *badexp[] = {"RFC 3339", NULL};
	expect_process_error(GM_ERR_PROTOCOL, badexp);
	put_prog(f, "creds",
	         "printf '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"" SECRET
	         "\", \"Expiration\": \"2001-01-01T00:00:00Z\"}'\n",
	         &prog);
	const char *expired[] = {"expired", NULL};
	expect_process_error(GM_ERR_PROTOCOL, expired);
	/* a program that is not there */
	put_process_profile(f, "gm-no-such-credential-program", "--token " SECRET);
	const char *missing[] = {"'gm-no-such-credential-program' is not in $PATH", "'p'", NULL};
	expect_process_error(GM_ERR_USAGE, missing);
	/* a command line that does not split: the file and line, not the line */
	put_process_profile(f, gm_buf_cstr(&prog), "--token '" SECRET);
	const char *quote[] = {"quote that is not closed", gm_buf_cstr(&at), "'p'", NULL};
	expect_process_error(GM_ERR_PARSE, quote);
	put(gm_buf_cstr(&f->conf), "[profile p]\nx = 1\ncredential_process =\n", 0600);
	const char *empty[] = {"empty", gm_buf_cstr(&at), NULL};
	expect_process_error(GM_ERR_PARSE, empty);

	/* a program that hangs is stopped at the deadline */
	put_prog(f, "hang", "sleep 30\n", &prog);
	put_process_profile(f, gm_buf_cstr(&prog), "");
	setenv("GPUMIGRATE_CREDHELPER_TIMEOUT_MS", "300", 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *hang[] = {"did not answer within 300 ms", gm_buf_cstr(&prog), "'p'", NULL};
	expect_process_error(GM_ERR_UNREACHABLE, hang);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unsetenv("GPUMIGRATE_CREDHELPER_TIMEOUT_MS");
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 0.29 && secs < 5.0);
	gm_buf_release(&prog);
	gm_buf_release(&at);
}

/* The AWS CLI's order: credentials file keys, then the process, then config file keys. */
static void test_process_precedence(void **state)
{
	struct fx *f = *state;
	struct gm_buf prog = GM_BUF_INIT, text = GM_BUF_INIT, ran = GM_BUF_INIT;
	gm_buf_addf(&ran, "%s/ran", f->home);
	gm_buf_addf(&text, "touch '%s'\n" GOOD_JSON, gm_buf_cstr(&ran));
	put_prog(f, "creds", gm_buf_cstr(&text), &prog);
	gm_buf_reset(&text);
	gm_buf_addf(&text,
	            "[profile p]\naws_access_key_id = AKIACONF\naws_secret_access_key = c\n"
	            "credential_process = %s\n",
	            gm_buf_cstr(&prog));
	put(gm_buf_cstr(&f->conf), gm_buf_cstr(&text), 0600);
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	/* the process beats the config file's keys */
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAPROC");
	assert_int_equal(access(gm_buf_cstr(&ran), F_OK), 0);
	unlink(gm_buf_cstr(&ran));
	/* the credentials file's keys beat the process, which does not run */
	put(gm_buf_cstr(&f->cred), "[p]\naws_access_key_id = AKIACRED\naws_secret_access_key = k\n",
	    0600);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIACRED");
	assert_int_equal(c.credential_process.len, 0);
	assert_int_equal(access(gm_buf_cstr(&ran), F_OK), -1);
	/* a credential_process in the credentials file's section counts too */
	gm_buf_reset(&text);
	gm_buf_addf(&text, "[p]\ncredential_process = %s\n", gm_buf_cstr(&prog));
	put(gm_buf_cstr(&f->cred), gm_buf_cstr(&text), 0600);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAPROC");
	assert_contains(gm_buf_cstr(&c.creds_source), gm_buf_cstr(&f->cred));
	/* the environment beats both */
	unlink(gm_buf_cstr(&ran));
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "e", 1);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AKIAENV");
	assert_int_equal(access(gm_buf_cstr(&ran), F_OK), -1);
	gm_aws_config_release(&c);
	gm_err_release(&err);
	gm_buf_release(&prog);
	gm_buf_release(&text);
	gm_buf_release(&ran);
}

/* Renewal: when it is due, and a second run replacing the keys. */
static void test_process_refresh(void **state)
{
	struct fx *f = *state;
	struct gm_buf prog = GM_BUF_INIT, text = GM_BUF_INIT;
	gm_buf_addf(&text,
	            "n=$(cat '%s/n' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '%s/n'\n"
	            "printf '{\"Version\": 1, \"AccessKeyId\": \"AK%%s\", \"SecretAccessKey\": "
	            "\"S%%s\", \"SessionToken\": \"T%%s\", \"Expiration\": "
	            "\"2999-01-01T00:00:00Z\"}' $n $n $n\n",
	            f->home, f->home);
	put_prog(f, "creds", gm_buf_cstr(&text), &prog);
	put_process_profile(f, gm_buf_cstr(&prog), "");
	struct gm_aws_config c;
	struct gm_err err = GM_ERR_INIT;
	gm_aws_config_init(&c);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AK1");
	int64_t now = (int64_t)time(NULL);
	assert_true(c.fetched >= now - 5 && c.fetched <= now);
	/* due: under 5 minutes left and the last run a minute ago, or expired */
	int64_t t = c.fetched + 3600;
	c.expires = t + 299;
	assert_true(gm_aws_config_refresh_due(&c, t));
	c.expires = t + 301;
	assert_false(gm_aws_config_refresh_due(&c, t));
	c.expires = c.fetched + 200;
	assert_false(gm_aws_config_refresh_due(&c, c.fetched + 30)); /* just run */
	assert_true(gm_aws_config_refresh_due(&c, c.fetched + 60));
	assert_true(gm_aws_config_refresh_due(&c, c.fetched + 200)); /* expired */
	assert_int_equal(gm_aws_config_refresh(&c, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AK2");
	assert_string_equal(gm_buf_cstr(&c.secret_key), "S2");
	assert_string_equal(gm_buf_cstr(&c.session_token), "T2");
	assert_int_equal(c.expires, 32472144000LL);
	/* a failed renewal keeps the keys it had */
	put_prog(f, "creds", "exit 1\n", &prog);
	assert_int_equal(gm_aws_config_refresh(&c, &err), GM_ERR_PROTOCOL);
	assert_string_equal(gm_buf_cstr(&c.access_key), "AK2");
	assert_string_equal(gm_buf_cstr(&c.secret_key), "S2");
	/* static keys are never renewed */
	put(gm_buf_cstr(&f->cred), "[p]\naws_access_key_id = AKIACRED\naws_secret_access_key = k\n",
	    0600);
	assert_int_equal(load(&c, "p", &err, NULL), GM_OK);
	assert_false(gm_aws_config_refresh_due(&c, INT64_MAX / 2));
	assert_int_equal(gm_aws_config_refresh(&c, &err), GM_ERR_USAGE);
	gm_aws_config_release(&c);
	gm_err_release(&err);
	gm_buf_release(&prog);
	gm_buf_release(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_nothing_configured, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_env_wins, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_profile, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_endpoints, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_limits_and_access, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_permission_warning, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unsupported_source, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_process_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_process_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_process_precedence, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_process_refresh, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

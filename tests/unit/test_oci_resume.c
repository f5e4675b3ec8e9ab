/* Unit tests for the mirror's upload journal (k8s/oci_resume.c): where it lives and with
 * which modes, a save/load round trip, and every kind of bad file read as "no journal"
 * rather than trusted or crashed on. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/oci_resume.h"
#include "util/fs.h"
#include "util/banned.h"

#define BASE   "http://127.0.0.1:5000"
#define REPO   "ml/train"
#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define LOC    BASE "/v2/ml/train/blobs/uploads/4f1c?_state=abc%3D%3D"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/gm-oci-resume-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	setenv("XDG_STATE_HOME", tmpdir, 1);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_dir_and_path(void **state)
{
	(void)state;
	struct gm_buf dir = GM_BUF_INIT, want = GM_BUF_INIT, p1 = GM_BUF_INIT, p2 = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct stat st;
	assert_int_equal(gm_oci_resume_dir(&dir, &err), GM_OK);
	gm_buf_addf(&want, "%s/gpumigrate/registry-uploads", tmpdir);
	assert_string_equal(gm_buf_cstr(&dir), gm_buf_cstr(&want));
	assert_int_equal(stat(gm_buf_cstr(&dir), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* a directory that allows more is made private */
	assert_int_equal(chmod(gm_buf_cstr(&dir), 0755), 0);
	assert_int_equal(gm_oci_resume_dir(&dir, &err), GM_OK);
	assert_int_equal(stat(gm_buf_cstr(&dir), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* names: 64 hex digits, one per key, nothing of the key in them */
	gm_oci_resume_path("/d", BASE, REPO, DIGEST, &p1);
	assert_int_equal(p1.len, 3 + 64);
	assert_memory_equal(gm_buf_cstr(&p1), "/d/", 3);
	for (size_t i = 3; i < p1.len; i++)
		assert_non_null(strchr("0123456789abcdef", gm_buf_cstr(&p1)[i]));
	gm_oci_resume_path("/d", BASE, "ml/train2", DIGEST, &p2);
	assert_string_not_equal(gm_buf_cstr(&p1), gm_buf_cstr(&p2));
	gm_oci_resume_path("/d", "https://127.0.0.1:5000", REPO, DIGEST, &p2);
	assert_string_not_equal(gm_buf_cstr(&p1), gm_buf_cstr(&p2));
	gm_oci_resume_path("/d", BASE, REPO, DIGEST, &p2);
	assert_string_equal(gm_buf_cstr(&p1), gm_buf_cstr(&p2));

	/* HOME when XDG_STATE_HOME is not absolute */
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("XDG_STATE_HOME", "relative/dir", 1);
	setenv("HOME", tmpdir, 1);
	assert_int_equal(gm_oci_resume_dir(&dir, &err), GM_OK);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "%s/.local/state/gpumigrate/registry-uploads", tmpdir);
	assert_string_equal(gm_buf_cstr(&dir), gm_buf_cstr(&want));
	assert_int_equal(stat(gm_buf_cstr(&dir), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	setenv("XDG_STATE_HOME", tmpdir, 1);
	if (home)
		setenv("HOME", home, 1);
	free(home);

	gm_buf_release(&dir);
	gm_buf_release(&want);
	gm_buf_release(&p1);
	gm_buf_release(&p2);
	gm_err_release(&err);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct gm_oci_resume j, k;
	struct gm_err err = GM_ERR_INIT;
	struct stat st;
	gm_oci_resume_init(&j, BASE, REPO, DIGEST);
	gm_oci_resume_init(&k, BASE, REPO, DIGEST);
	assert_int_equal(gm_oci_resume_open(&j, &err), GM_OK);
	assert_int_equal(gm_oci_resume_open(&k, &err), GM_OK);
	assert_false(gm_oci_resume_load(&k)); /* nothing saved yet */

	gm_buf_adds(&j.location, LOC);
	j.acked = 16777216;
	assert_int_equal(gm_oci_resume_save(&j, &err), GM_OK);
	assert_int_equal(stat(gm_buf_cstr(&j.path), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(gm_oci_resume_load(&k));
	assert_string_equal(gm_buf_cstr(&k.location), LOC);
	assert_int_equal(k.acked, 16777216);

	/* a later save replaces it whole */
	gm_buf_reset(&j.location);
	gm_buf_adds(&j.location, BASE "/v2/ml/train/blobs/uploads/4f1c?_state=later");
	j.acked = 33554432;
	assert_int_equal(gm_oci_resume_save(&j, &err), GM_OK);
	assert_true(gm_oci_resume_load(&k));
	assert_string_equal(gm_buf_cstr(&k.location),
	                    BASE "/v2/ml/train/blobs/uploads/4f1c?_state=later");
	assert_int_equal(k.acked, 33554432);

	/* another key does not read it */
	struct gm_oci_resume other;
	gm_oci_resume_init(&other, BASE, "ml/other", DIGEST);
	gm_buf_adds(&other.path, gm_buf_cstr(&j.path)); /* even given the same file */
	assert_false(gm_oci_resume_load(&other));
	assert_int_equal(other.location.len, 0);
	gm_oci_resume_release(&other);

	/* a Location on another host is refused: it would get our credentials */
	gm_buf_reset(&j.location);
	gm_buf_adds(&j.location, "http://evil.example/v2/ml/train/blobs/uploads/x");
	assert_int_equal(gm_oci_resume_save(&j, &err), GM_ERR_USAGE);
	assert_null(strstr(gm_err_msg(&err), "evil.example"));
	assert_true(gm_oci_resume_load(&k)); /* the old journal stays whole */
	assert_int_equal(k.acked, 33554432);

	gm_oci_resume_remove(&j);
	assert_int_not_equal(access(gm_buf_cstr(&j.path), F_OK), 0);
	assert_false(gm_oci_resume_load(&k));
	gm_oci_resume_remove(&j); /* absent is fine */

	/* no directory: every call is a no-op */
	struct gm_oci_resume none;
	gm_oci_resume_init(&none, BASE, REPO, DIGEST);
	gm_buf_adds(&none.location, LOC);
	assert_int_equal(gm_oci_resume_save(&none, &err), GM_OK);
	assert_false(gm_oci_resume_load(&none));
	gm_oci_resume_remove(&none);
	gm_oci_resume_release(&none);
	gm_oci_resume_release(NULL);

	gm_oci_resume_release(&j);
	gm_oci_resume_release(&k);
	gm_err_release(&err);
}

/* Writes text as the journal of the test key and expects it read as absent. */
static void expect_absent(const char *text, size_t len)
{
	struct gm_oci_resume j;
	struct gm_err err = GM_ERR_INIT;
	gm_oci_resume_init(&j, BASE, REPO, DIGEST);
	assert_int_equal(gm_oci_resume_open(&j, &err), GM_OK);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&j.path), text, len, &err), GM_OK);
	assert_false(gm_oci_resume_load(&j));
	assert_int_equal(j.location.len, 0);
	assert_int_equal(j.acked, 0);
	gm_oci_resume_remove(&j);
	gm_oci_resume_release(&j);
	gm_err_release(&err);
}

#define GOOD_HEAD "gpumigrate-registry-upload 1\nbase " BASE "\nrepo " REPO "\ndigest " DIGEST "\n"

static void test_bad_files(void **state)
{
	(void)state;
	static const char good[] = GOOD_HEAD "acked 42\nlocation " LOC "\n";
	/* the good one, as written by hand, is read: the cases below differ from it in one way */
	struct gm_oci_resume j;
	struct gm_err err = GM_ERR_INIT;
	gm_oci_resume_init(&j, BASE, REPO, DIGEST);
	assert_int_equal(gm_oci_resume_open(&j, &err), GM_OK);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&j.path), good, strlen(good), &err), GM_OK);
	assert_true(gm_oci_resume_load(&j));
	assert_int_equal(j.acked, 42);

	static const char *const bad[] = {
	        "",
	        "\n",
	        "not a journal at all\n",
	        "gpumigrate-registry-upload 2\nbase " BASE "\nrepo " REPO "\ndigest " DIGEST
	        "\nacked 42\nlocation " LOC "\n",
	        GOOD_HEAD,                                 /* truncated */
	        GOOD_HEAD "acked 42\n",                    /* no location */
	        GOOD_HEAD "acked 42\nlocation " LOC,       /* no final newline */
	        GOOD_HEAD "acked -1\nlocation " LOC "\n",  /* not a count */
	        GOOD_HEAD "acked 4x2\nlocation " LOC "\n", /* not a count */
	        GOOD_HEAD "acked \nlocation " LOC "\n",    /* empty count */
	        GOOD_HEAD "acked 99999999999999999999999\nlocation " LOC "\n", /* too big */
	        GOOD_HEAD "acked 42\nlocation \n",                             /* empty URL */
	        GOOD_HEAD "acked 42\nlocation " BASE "\n",                     /* no path */
	        GOOD_HEAD "acked 42\nlocation http://other:5000/v2/x\n",       /* elsewhere */
	        GOOD_HEAD "acked 42\nlocation " BASE ".evil/v2/x\n",           /* look-alike */
	        GOOD_HEAD "acked 42\nlocation " BASE "/v2/a b\n",              /* a space */
	        GOOD_HEAD "acked 42\nlocation " BASE "/v2/a\rb\n",             /* control */
	        GOOD_HEAD "acked 42\nlocation " LOC "\nextra line\n",          /* trailing */
	        GOOD_HEAD "location " LOC "\nacked 42\n",                      /* order */
	        "gpumigrate-registry-upload 1\nbase " BASE "\nrepo other/repo\ndigest " DIGEST
	        "\nacked 42\nlocation " LOC "\n", /* another key */
	        "gpumigrate-registry-upload 1\nbase " BASE "\nrepo " REPO "\ndigest sha256:00"
	        "\nacked 42\nlocation " LOC "\n",
	        "gpumigrate-registry-upload 1\nbase https://127.0.0.1:5000\nrepo " REPO
	        "\ndigest " DIGEST "\nacked 42\nlocation " LOC "\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_absent(bad[i], strlen(bad[i]));
	/* a NUL inside */
	static const char nul[] = GOOD_HEAD "acked 42\nlocation " BASE "/v2/a\0b\n";
	expect_absent(nul, sizeof(nul) - 1);
	/* over the size cap, otherwise well-formed */
	struct gm_buf big = GM_BUF_INIT;
	gm_buf_adds(&big, GOOD_HEAD "acked 42\nlocation " BASE "/v2/");
	gm_buf_addpad(&big, 'a', GM_OCI_RESUME_MAX);
	gm_buf_addch(&big, '\n');
	expect_absent(big.data, big.len);
	/* a URL over its cap in a file under the file's */
	gm_buf_reset(&big);
	gm_buf_adds(&big, GOOD_HEAD "acked 42\nlocation " BASE "/v2/");
	gm_buf_addpad(&big, 'a', GM_OCI_RESUME_MAX_URL);
	gm_buf_addch(&big, '\n');
	expect_absent(big.data, big.len);
	gm_buf_release(&big);

	/* not a regular file: a directory, and a symlink to a good journal */
	assert_int_equal(mkdir(gm_buf_cstr(&j.path), 0700), 0);
	assert_false(gm_oci_resume_load(&j));
	assert_int_equal(rmdir(gm_buf_cstr(&j.path)), 0);
	struct gm_buf target = GM_BUF_INIT;
	gm_buf_addf(&target, "%s/elsewhere", tmpdir);
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&target), good, strlen(good), &err), GM_OK);
	assert_int_equal(symlink(gm_buf_cstr(&target), gm_buf_cstr(&j.path)), 0);
	assert_false(gm_oci_resume_load(&j));
	gm_oci_resume_remove(&j);
	unlink(gm_buf_cstr(&target));
	gm_buf_release(&target);

	gm_oci_resume_release(&j);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dir_and_path),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_bad_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

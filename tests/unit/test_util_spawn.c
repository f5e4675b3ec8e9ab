/* Unit tests for util/spawn: the command-line splitter (quotes, escapes, empty words, the
 * errors, which never quote the line) and the runner (stdin, stdout, wait status, the
 * deadline whether the program keeps stdout open or not, the output cap, a program that is
 * not there), with small /bin/sh programs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/spawn.h"
#include "util/banned.h"

static void expect_split(const char *line, const char *const *want)
{
	char **v = NULL;
	size_t n = 0, k = 0;
	struct gm_err err = GM_ERR_INIT;
	if (gm_spawn_split(line, &v, &n, &err) != GM_OK)
		fail_msg("'%s' did not split: %s", line, gm_err_msg(&err));
	while (want[k])
		k++;
	assert_int_equal(n, k);
	for (size_t i = 0; i < k; i++)
		assert_string_equal(v[i], want[i]);
	assert_null(v[n]);
	gm_spawn_argv_free(v);
	gm_err_release(&err);
}

static void expect_split_error(const char *line, const char *msg)
{
	char **v = (char **)1;
	size_t n = 9;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_spawn_split(line, &v, &n, &err), GM_ERR_PARSE);
	assert_null(v);
	assert_int_equal(n, 0);
	if (!strstr(gm_err_msg(&err), msg))
		fail_msg("'%s' does not say '%s'", gm_err_msg(&err), msg);
	assert_null(strstr(gm_err_msg(&err), "SECRET"));
	gm_err_release(&err);
}

static void test_split(void **state)
{
	(void)state;
	expect_split("prog", (const char *[]){"prog", NULL});
	expect_split("  /usr/bin/prog\t-a   b\n",
	             (const char *[]){"/usr/bin/prog", "-a", "b", NULL});
	expect_split("p 'two words' \"and three words\"",
	             (const char *[]){"p", "two words", "and three words", NULL});
	/* quotes join with what touches them; '' and "" are empty words */
	expect_split("p a'b c'd \"\" ''", (const char *[]){"p", "ab cd", "", "", NULL});
	/* inside '…' nothing is special; inside "…" only \" and \\ */
	expect_split("p '\\n\"$X' \"a\\\"b\\\\c\\d'e\"",
	             (const char *[]){"p", "\\n\"$X", "a\"b\\c\\d'e", NULL});
	/* outside quotes a backslash keeps the next character */
	expect_split("p a\\ b \\' \\\\ \\\"", (const char *[]){"p", "a b", "'", "\\", "\"", NULL});
	/* nothing is expanded or interpreted */
	expect_split("p $HOME ~ *.json # | ; > x",
	             (const char *[]){"p", "$HOME", "~", "*.json", "#", "|", ";", ">", "x", NULL});
	expect_split("aws-vault exec prod --json",
	             (const char *[]){"aws-vault", "exec", "prod", "--json", NULL});

	expect_split_error("p 'SECRET", "' quote that is not closed");
	expect_split_error("p \"SECRET\\\"", "\" quote that is not closed");
	expect_split_error("p SECRET\\", "lone backslash");
	expect_split_error("", "empty");
	expect_split_error(" \t\n", "empty");
	expect_split_error(NULL, "empty");
}

/* Runs `/bin/sh -c script` (the one place a shell is asked for on purpose). */
static enum gm_rc run_sh(const char *script, const char *in, unsigned ms, size_t cap,
                         struct gm_buf *out, int *status, struct gm_err *err)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	return gm_spawn_capture(argv, in, ms, cap, "test program 'x'", out, status, err);
}

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_capture(void **state)
{
	(void)state;
	struct gm_buf out = GM_BUF_INIT, msg = GM_BUF_INIT, big = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	int status = -1;
	/* stdin in, stdout out, the exit status */
	assert_int_equal(run_sh("read -r a; echo \"got:$a\"; exit 4", "hello\n", 5000, 1024, &out,
	                        &status, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&out), "got:hello\n");
	gm_spawn_status_text(status, &msg);
	assert_string_equal(gm_buf_cstr(&msg), "exit status 4");
	/* no stdin_data: /dev/null, an immediate end of file */
	gm_buf_reset(&out);
	assert_int_equal(run_sh("wc -c", NULL, 5000, 1024, &out, &status, &err), GM_OK);
	assert_string_equal(gm_buf_cstr(&out), "0\n");
	gm_buf_reset(&msg);
	gm_spawn_status_text(status, &msg);
	assert_string_equal(gm_buf_cstr(&msg), "exit status 0");
	/* a large stdin the program reads after it has printed: no deadlock */
	for (int i = 0; i < 100000; i++)
		gm_buf_adds(&big, "0123456789");
	gm_buf_reset(&out);
	assert_int_equal(
	        run_sh("echo start; wc -c", gm_buf_cstr(&big), 10000, 1024, &out, &status, &err),
	        GM_OK);
	assert_string_equal(gm_buf_cstr(&out), "start\n1000000\n");
	/* a program that never reads its stdin */
	gm_buf_reset(&out);
	assert_int_equal(run_sh("echo x", gm_buf_cstr(&big), 10000, 1024, &out, &status, &err),
	                 GM_OK);
	assert_string_equal(gm_buf_cstr(&out), "x\n");
	/* killed by a signal */
	gm_buf_reset(&out);
	assert_int_equal(run_sh("kill -KILL $$", NULL, 5000, 1024, &out, &status, &err), GM_OK);
	gm_buf_reset(&msg);
	gm_spawn_status_text(status, &msg);
	assert_string_equal(gm_buf_cstr(&msg), "killed by signal 9");

	/* the deadline: while printing, and after closing stdout */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run_sh("echo a; sleep 30", NULL, 300, 1024, &out, &status, &err),
	                 GM_ERR_UNREACHABLE);
	assert_string_equal(gm_err_msg(&err),
	                    "test program 'x' did not answer within 300 ms; it was stopped");
	assert_true(since(&t0) < 5.0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run_sh("exec >&-; sleep 30", NULL, 300, 1024, &out, &status, &err),
	                 GM_ERR_UNREACHABLE);
	assert_string_equal(gm_err_msg(&err),
	                    "test program 'x' did not exit within 300 ms; it was stopped");
	assert_true(since(&t0) < 5.0);
	/* a child that keeps stdout open dies with the group */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run_sh("sleep 30 & wait", NULL, 300, 1024, &out, &status, &err),
	                 GM_ERR_UNREACHABLE);
	assert_true(since(&t0) < 5.0);

	/* the output cap */
	gm_buf_reset(&out);
	assert_int_equal(run_sh("yes SECRET", NULL, 5000, 2048, &out, &status, &err), GM_ERR_LIMIT);
	assert_string_equal(gm_err_msg(&err), "test program 'x' printed more than 2 KiB; it was "
	                                      "stopped");
	assert_true(out.len <= 2048);
	assert_int_equal(run_sh("yes", NULL, 5000, 100, &out, &status, &err), GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "more than 100 bytes"));

	/* not there */
	const char *none[] = {"gm-no-such-program-here", "SECRET", NULL};
	assert_int_equal(gm_spawn_capture(none, NULL, 5000, 100, "w", &out, &status, &err),
	                 GM_ERR_NOT_FOUND);
	assert_string_equal(gm_err_msg(&err), "w: 'gm-no-such-program-here' is not in $PATH");
	const char *path[] = {"/nonexistent/prog", NULL};
	assert_int_equal(gm_spawn_capture(path, NULL, 5000, 100, "w", &out, &status, &err),
	                 GM_ERR_NOT_FOUND);
	assert_string_equal(gm_err_msg(&err), "w: '/nonexistent/prog' does not exist");
	const char *dir[] = {"/tmp", NULL};
	assert_int_equal(gm_spawn_capture(dir, NULL, 5000, 100, "w", &out, &status, &err),
	                 GM_ERR_PERMISSION);
	const char *empty[] = {NULL};
	assert_int_equal(gm_spawn_capture(empty, NULL, 5000, 100, "w", &out, &status, &err),
	                 GM_ERR_USAGE);

	/* the timeout variable */
	setenv("GM_TEST_SPAWN_MS", "250", 1);
	assert_int_equal(gm_spawn_timeout_ms("GM_TEST_SPAWN_MS", 60000), 250);
	setenv("GM_TEST_SPAWN_MS", "0", 1);
	assert_int_equal(gm_spawn_timeout_ms("GM_TEST_SPAWN_MS", 60000), 60000);
	setenv("GM_TEST_SPAWN_MS", "12x", 1);
	assert_int_equal(gm_spawn_timeout_ms("GM_TEST_SPAWN_MS", 60000), 60000);
	setenv("GM_TEST_SPAWN_MS", "3600001", 1);
	assert_int_equal(gm_spawn_timeout_ms("GM_TEST_SPAWN_MS", 60000), 60000);
	unsetenv("GM_TEST_SPAWN_MS");
	assert_int_equal(gm_spawn_timeout_ms("GM_TEST_SPAWN_MS", 60000), 60000);

	gm_buf_release(&out);
	gm_buf_release(&msg);
	gm_buf_release(&big);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_split),
	        cmocka_unit_test(test_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

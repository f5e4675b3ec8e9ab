/* Unit tests for sync/filter: rsync's include/exclude rules, case by case. The expected
 * answers were checked against rsync 3.2 itself (rsync -a --exclude ... on the same tree). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "sync/filter.h"

#define EX(f, p)  gm_sync_filter_excluded((f), (p), strlen(p), false)
#define EXD(f, p) gm_sync_filter_excluded((f), (p), strlen(p), true)

static void one(struct gm_sync_filter *f, bool include, const char *pat)
{
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_filter_add(f, include, pat, &err), GM_OK);
	gm_err_release(&err);
}

static void no_rules_nothing_excluded(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	assert_false(EX(&f, "a"));
	assert_false(EXD(&f, "a/b"));
	assert_false(EX(NULL, "a"));
	assert_false(gm_sync_filter_excluded_tree(NULL, "a/b", 3, false));
	gm_sync_filter_release(&f);
	gm_sync_filter_release(NULL);
}

static void plain_name_matches_last_component(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "cache");
	assert_true(EX(&f, "cache"));
	assert_true(EXD(&f, "cache"));
	assert_true(EX(&f, "a/b/cache"));
	assert_false(EX(&f, "cache2"));
	assert_false(EX(&f, "xcache"));
	assert_false(EX(&f, "cache/x")); /* below it: the walk never gets there */
	assert_true(gm_sync_filter_excluded_tree(&f, "cache/x", 7, false));
	gm_sync_filter_release(&f);
}

static void star_stays_in_one_component(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "*.o");
	assert_true(EX(&f, "k.o"));
	assert_true(EX(&f, "a/l.o"));
	assert_true(EX(&f, ".o"));
	assert_false(EX(&f, "k.oo"));
	assert_false(EX(&f, "a.o/x"));
	gm_sync_filter_release(&f);

	gm_sync_filter_init(&f);
	one(&f, false, "/a*");
	assert_true(EX(&f, "ab"));
	assert_true(EX(&f, "a"));
	assert_false(EX(&f, "a/b"));  /* '*' does not cross '/' */
	assert_false(EX(&f, "x/ab")); /* anchored */
	gm_sync_filter_release(&f);
}

static void leading_slash_anchors(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "/foo");
	assert_true(EX(&f, "foo"));
	assert_true(EXD(&f, "foo"));
	assert_false(EX(&f, "x/foo"));
	gm_sync_filter_release(&f);

	gm_sync_filter_init(&f);
	one(&f, false, "/a/b");
	assert_true(EX(&f, "a/b"));
	assert_false(EX(&f, "x/a/b"));
	gm_sync_filter_release(&f);
}

static void inner_slash_matches_trailing_components(void **state)
{
	(void)state;
	/* rsync: "b/c" excludes both b/c and a/b/c (checked with rsync 3.2) */
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "b/c");
	assert_true(EXD(&f, "b/c"));
	assert_true(EXD(&f, "a/b/c"));
	assert_false(EX(&f, "c"));
	assert_false(EX(&f, "xb/c"));
	assert_false(EX(&f, "b/cx"));
	assert_false(EX(&f, "b"));
	gm_sync_filter_release(&f);

	gm_sync_filter_init(&f);
	one(&f, false, "b/*.tmp");
	assert_true(EX(&f, "b/x.tmp"));
	assert_true(EX(&f, "q/b/x.tmp"));
	assert_false(EX(&f, "b/c/x.tmp"));
	gm_sync_filter_release(&f);
}

static void trailing_slash_only_directories(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "foo/");
	assert_true(EXD(&f, "foo"));
	assert_true(EXD(&f, "x/foo"));
	assert_false(EX(&f, "foo")); /* a file called foo stays */
	assert_false(EX(&f, "x/foo"));
	gm_sync_filter_release(&f);
}

static void double_star_crosses_slashes(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "a/**");
	assert_true(EX(&f, "a/b"));
	assert_true(EX(&f, "a/b/c"));
	assert_false(EXD(&f, "a")); /* a itself is kept */
	gm_sync_filter_release(&f);

	gm_sync_filter_init(&f);
	one(&f, false, "a/**/c");
	assert_true(EXD(&f, "a/b/c"));
	assert_true(EXD(&f, "a/b/z/c"));
	assert_true(EXD(&f, "q/a/z/c")); /* tried after every '/' */
	assert_false(EXD(&f, "a/c"));    /* "**" between slashes needs a component */
	gm_sync_filter_release(&f);

	gm_sync_filter_init(&f);
	one(&f, false, "**/c");
	assert_true(EX(&f, "c")); /* rsync matches it at the top too */
	assert_true(EX(&f, "a/c"));
	assert_true(EX(&f, "q/a/z/c"));
	assert_false(EX(&f, "cc"));
	gm_sync_filter_release(&f);
}

static void triple_star_dir_and_contents(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "x/***");
	assert_true(EXD(&f, "x"));
	assert_true(EXD(&f, "d/y/x"));
	assert_true(EX(&f, "x/foo/i"));
	assert_false(EX(&f, "x")); /* a file called x stays, as with rsync */
	assert_false(EX(&f, "xy/z"));
	gm_sync_filter_release(&f);
}

static void question_mark_and_classes(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "?.o");
	one(&f, false, "/a?b");
	one(&f, false, "[a-c]x");
	one(&f, false, "[!a-z]y");
	one(&f, false, "[[:digit:]]*.log");
	one(&f, false, "lit\\*");
	assert_true(EX(&f, "k.o"));
	assert_false(EX(&f, "kk.o"));
	assert_true(EX(&f, "a_b"));
	assert_false(EX(&f, "a/b")); /* '?' is never '/' */
	assert_true(EX(&f, "bx"));
	assert_false(EX(&f, "dx"));
	assert_true(EX(&f, "Dy"));
	assert_false(EX(&f, "dy"));
	assert_true(EX(&f, "7days.log"));
	assert_false(EX(&f, "days.log"));
	assert_true(EX(&f, "lit*"));
	assert_false(EX(&f, "litx"));
	gm_sync_filter_release(&f);
}

static void first_match_wins(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, true, "*.o");
	one(&f, false, "*");
	assert_false(EX(&f, "k.o"));
	assert_true(EXD(&f, "a"));
	/* a/l.o would be included, but the walk never enters the excluded a */
	assert_false(EX(&f, "a/l.o"));
	assert_true(gm_sync_filter_excluded_tree(&f, "a/l.o", 5, false));
	gm_sync_filter_release(&f);

	gm_sync_filter_init(&f);
	one(&f, false, "keep");
	one(&f, true, "keep");
	assert_true(EX(&f, "keep"));
	gm_sync_filter_release(&f);

	/* include a directory and what is in it, exclude the rest */
	gm_sync_filter_init(&f);
	one(&f, true, "/data/");
	one(&f, true, "/data/**");
	one(&f, false, "*");
	assert_false(gm_sync_filter_excluded_tree(&f, "data/a/b.bin", 12, false));
	assert_true(gm_sync_filter_excluded_tree(&f, "other/b.bin", 11, false));
	assert_true(EX(&f, "top.txt"));
	gm_sync_filter_release(&f);
}

static void bad_patterns_refused(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_filter_init(&f);
	assert_int_equal(gm_sync_filter_add(&f, false, "", &err), GM_ERR_USAGE);
	assert_int_equal(gm_sync_filter_add(&f, false, "/", &err), GM_ERR_USAGE);
	assert_int_equal(f.n, 0);
	/* an unterminated class matches nothing rather than everything */
	one(&f, false, "[abc");
	assert_false(EX(&f, "a"));
	assert_false(EX(&f, "[abc"));
	gm_sync_filter_release(&f);
	gm_err_release(&err);
}

static void pathological_pattern_is_fast(void **state)
{
	(void)state;
	struct gm_sync_filter f;
	gm_sync_filter_init(&f);
	one(&f, false, "*a*a*a*a*a*a*a*a*a*a*a*a*b");
	char name[201];
	memset(name, 'a', 200);
	name[200] = '\0';
	assert_false(EX(&f, name)); /* finishes: the abort codes cut the backtracking */
	gm_sync_filter_release(&f);
}

static void rules_file(void **state)
{
	(void)state;
	char path[] = "/tmp/gm-filter-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment\n"
	                   "; another\n"
	                   "\n"
	                   "- *.tmp\r\n"
	                   "+ keep.tmp\n" /* after "- *.tmp": never reached */
	                   "junk\n"
	                   "!\n"
	                   "+ *.c\n"
	                   "- *\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct gm_sync_filter f;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_filter_init(&f);
	assert_int_equal(gm_sync_filter_add_file(&f, path, &err), GM_OK);
	assert_int_equal(f.n, 2); /* "!" cleared the first three */
	assert_false(EX(&f, "main.c"));
	assert_true(EX(&f, "x.tmp"));
	assert_true(EX(&f, "junk"));
	gm_sync_filter_release(&f);

	/* without the "!" the first rules hold */
	fd = open(path, O_WRONLY | O_TRUNC);
	text = "- *.tmp\n+ keep.tmp\njunk\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	gm_sync_filter_init(&f);
	assert_int_equal(gm_sync_filter_add_file(&f, path, &err), GM_OK);
	assert_int_equal(f.n, 3);
	assert_true(EX(&f, "keep.tmp"));
	assert_true(EX(&f, "d/junk"));
	assert_false(EX(&f, "main.c"));
	gm_sync_filter_release(&f);
	unlink(path);

	gm_sync_filter_init(&f);
	assert_int_equal(gm_sync_filter_add_file(&f, "/nonexistent/filter", &err),
	                 GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "/nonexistent/filter"));
	gm_sync_filter_release(&f);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(no_rules_nothing_excluded),
	        cmocka_unit_test(plain_name_matches_last_component),
	        cmocka_unit_test(star_stays_in_one_component),
	        cmocka_unit_test(leading_slash_anchors),
	        cmocka_unit_test(inner_slash_matches_trailing_components),
	        cmocka_unit_test(trailing_slash_only_directories),
	        cmocka_unit_test(double_star_crosses_slashes),
	        cmocka_unit_test(triple_star_dir_and_contents),
	        cmocka_unit_test(question_mark_and_classes),
	        cmocka_unit_test(first_match_wins),
	        cmocka_unit_test(bad_patterns_refused),
	        cmocka_unit_test(pathological_pattern_is_fast),
	        cmocka_unit_test(rules_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

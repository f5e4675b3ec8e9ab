/* Unit tests for the inotify tree watcher behind `sync --watch`: a write, a new directory
 * tree (watched at once, synced recursively), renames and deletes each mark the right
 * directories; the sync area is ignored; a stop flag ends the wait. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/watch.h"

struct fixture {
	char root[64];
	struct gm_sync_watch *w;
	struct gm_sync_dirty d;
};

static void at(const struct fixture *f, const char *rel, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", f->root, rel);
}

static void make_dir(const struct fixture *f, const char *rel)
{
	char p[256];
	at(f, rel, p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
}

static void make_file(const struct fixture *f, const char *rel)
{
	char p[256];
	at(f, rel, p, sizeof(p));
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/gm-watch-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	make_dir(f, "a");
	make_dir(f, "a/b");
	make_dir(f, ".gpumigrate");
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_watch_open(f->root, &f->w, &err), GM_OK);
	assert_int_equal(gm_sync_watch_count(f->w), 3); /* root, a, a/b — not the sync area */
	gm_sync_dirty_init(&f->d);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	gm_sync_watch_close(f->w);
	gm_sync_dirty_release(&f->d);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Waits for the next batch and checks it is exactly the given list of directories (a
 * trailing "/ **" without the space marks one to sync recursively). */
static void expect(struct fixture *f, const char *const *want, size_t n)
{
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_watch_wait(f->w, 50, NULL, &f->d, &err), GM_OK);
	char got[512] = "";
	for (size_t i = 0; i < f->d.n; i++) {
		strncat(got, "[", sizeof(got) - strlen(got) - 1);
		strncat(got, f->d.v[i].path, sizeof(got) - strlen(got) - 1);
		strncat(got, f->d.v[i].recursive ? "/**]" : "]", sizeof(got) - strlen(got) - 1);
	}
	char exp[512] = "";
	for (size_t i = 0; i < n; i++) {
		strncat(exp, "[", sizeof(exp) - strlen(exp) - 1);
		strncat(exp, want[i], sizeof(exp) - strlen(exp) - 1);
		strncat(exp, "]", sizeof(exp) - strlen(exp) - 1);
	}
	assert_string_equal(got, exp);
	gm_err_release(&err);
}

static void changes_mark_directories(void **state)
{
	struct fixture *f = *state;
	make_file(f, "a/b/new.bin");
	expect(f, (const char *const[]){"a/b"}, 1);

	make_dir(f, "c");
	make_dir(f, "c/d");
	make_file(f, "c/d/x");
	/* c is new: synced whole; events inside it before its watch existed are covered. */
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_watch_wait(f->w, 50, NULL, &f->d, &err), GM_OK);
	assert_true(f->d.n >= 2);
	assert_string_equal(f->d.v[0].path, "");
	assert_false(f->d.v[0].recursive);
	assert_string_equal(f->d.v[1].path, "c");
	assert_true(f->d.v[1].recursive);
	assert_int_equal(gm_sync_watch_count(f->w), 5);

	/* The new tree is watched now. */
	make_file(f, "c/d/y");
	expect(f, (const char *const[]){"c/d"}, 1);

	char from[256], to[256];
	at(f, "a/b/new.bin", from, sizeof(from));
	at(f, "renamed.bin", to, sizeof(to));
	assert_int_equal(rename(from, to), 0);
	expect(f, (const char *const[]){"", "a/b"}, 2);

	assert_int_equal(unlink(to), 0);
	expect(f, (const char *const[]){""}, 1);

	/* A renamed directory keeps being watched under its new name. */
	at(f, "c", from, sizeof(from));
	at(f, "a/c2", to, sizeof(to));
	assert_int_equal(rename(from, to), 0);
	expect(f, (const char *const[]){"", "a", "a/c2/**"}, 3);
	make_file(f, "a/c2/d/z");
	expect(f, (const char *const[]){"a/c2/d"}, 1);

	/* The sync area is never reported. */
	make_file(f, ".gpumigrate/tmp");
	make_file(f, "last");
	expect(f, (const char *const[]){""}, 1);
	gm_err_release(&err);
}

static void stop_flag(void **state)
{
	struct fixture *f = *state;
	volatile sig_atomic_t stop = 1;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_watch_wait(f->w, 50, &stop, &f->d, &err), GM_ERR_INTERRUPTED);
	gm_err_release(&err);
}

static void missing_root(void **state)
{
	(void)state;
	struct gm_sync_watch *w = NULL;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_sync_watch_open("/nonexistent/gm-watch", &w, &err), GM_ERR_NOT_FOUND);
	assert_null(w);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(changes_mark_directories, setup, teardown),
	        cmocka_unit_test_setup_teardown(stop_flag, setup, teardown),
	        cmocka_unit_test(missing_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

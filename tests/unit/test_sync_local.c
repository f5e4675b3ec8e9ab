/* Unit tests for the local sync transport (sync/local.c) and its resume journal: listings
 * and metadata of every kind, copies through a reader and a writer (holes, resume, journals
 * that must be discarded, hash mismatches), and every way a peer could try to act outside
 * the root. Everything happens in a fresh directory under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sync/delta.h"
#include "sync/endpoint.h"
#include "sync/local.h"
#include "util/buf.h"
#include "util/err.h"

#define MIB ((uint64_t)1 << 20)

struct fx {
	char base[64];
	char root[128];
	char src[128];
	char outside[128];
};

static void pathf(char *out, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < size);
}

static void put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void fill_random(unsigned char *p, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	pathf(fx->base, sizeof(fx->base), "/tmp/gm-local-XXXXXX");
	if (!mkdtemp(fx->base))
		return -1;
	pathf(fx->root, sizeof(fx->root), "%s/root", fx->base);
	pathf(fx->src, sizeof(fx->src), "%s/src", fx->base);
	pathf(fx->outside, sizeof(fx->outside), "%s/outside", fx->base);
	if (mkdir(fx->root, 0755) || mkdir(fx->src, 0755) || mkdir(fx->outside, 0755))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	nftw(fx->base, rm_one, 32, FTW_DEPTH | FTW_PHYS);
	free(fx);
	unsetenv("GM_SYNC_LOCAL_NO_OPENAT2");
	return 0;
}

static struct gm_sync_endpoint *open_ep(const char *root, bool writable)
{
	struct gm_sync_open_opts o = {.writable = writable};
	struct gm_sync_endpoint *ep = NULL;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_sync_local_open(root, &o, &ep, &err);
	if (rc != GM_OK)
		fail_msg("open %s: %s", root, gm_err_msg(&err));
	gm_err_release(&err);
	return ep;
}

/* How a copy went. */
struct copy_res {
	enum gm_rc rc;
	uint64_t resume_at;
	int holes, chunks, data;
	struct gm_sync_hash written, whole;
	char msg[512];
};

/* Copies path from s to d the way the engine does; with stop_after > 0 it gives up after that
 * many chunks with abort(keep=true). srcmeta overrides the source metadata given to the
 * writer. */
static struct copy_res copy_file(struct gm_sync_endpoint *s, struct gm_sync_endpoint *d,
                                 const char *path, unsigned flags, int stop_after,
                                 const struct gm_sync_meta *srcmeta)
{
	struct copy_res res = {0};
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta sm;
	struct gm_sync_writer *w = NULL;
	struct gm_sync_reader *r = NULL;
	struct gm_sync_piece piece;
	res.rc = s->ops->stat(s, path, &sm, NULL, &err);
	if (res.rc != GM_OK)
		goto out;
	if (srcmeta)
		sm = *srcmeta;
	res.rc = d->ops->open_write(d, path, &sm, flags, &w, &res.resume_at, &err);
	if (res.rc != GM_OK)
		goto out;
	res.rc = s->ops->open_read(s, path, res.resume_at, &r, &err);
	if (res.rc != GM_OK)
		goto out;
	for (;;) {
		res.rc = s->ops->read(r, &piece, &err);
		if (res.rc != GM_OK)
			goto out;
		switch (piece.kind) {
		case GM_SYNC_PIECE_DATA:
			res.data++;
			res.rc = d->ops->write(w, piece.data, piece.len, &err);
			break;
		case GM_SYNC_PIECE_HOLE:
			res.holes++;
			res.rc = d->ops->hole(w, piece.len, &err);
			break;
		case GM_SYNC_PIECE_CHUNK:
			res.rc = d->ops->chunk(w, &piece.hash, &err);
			if (res.rc == GM_OK && ++res.chunks == stop_after) {
				d->ops->abort(w, true);
				w = NULL;
				res.rc = GM_ERR_INTERRUPTED;
				goto out;
			}
			break;
		case GM_SYNC_PIECE_END:
			assert_false(piece.changed);
			res.whole = piece.hash;
			res.rc = d->ops->commit(w, piece.whole_valid ? &piece.hash : NULL,
			                        &piece.meta, NULL, &res.written, &err);
			w = NULL;
			goto out;
		}
		if (res.rc != GM_OK)
			goto out;
	}
out:
	if (r)
		s->ops->close_read(r);
	if (w)
		d->ops->abort(w, false);
	snprintf(res.msg, sizeof(res.msg), "%s", gm_err_msg(&err));
	gm_err_release(&err);
	return res;
}

static void assert_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	assert_int_equal(stat(a, &sa), 0);
	assert_int_equal(stat(b, &sb), 0);
	assert_int_equal(sa.st_size, sb.st_size);
	assert_int_equal(sa.st_mode, sb.st_mode);
	assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
	assert_int_equal(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	assert_true(fa >= 0 && fb >= 0);
	static unsigned char ba[1 << 16], bb[1 << 16];
	for (;;) {
		ssize_t na = read(fa, ba, sizeof(ba)), nb = read(fb, bb, sizeof(bb));
		assert_int_equal(na, nb);
		if (na <= 0)
			break;
		assert_memory_equal(ba, bb, (size_t)na);
	}
	close(fa);
	close(fb);
}

/* ---- listings and metadata ---- */

static void list_and_stat_every_kind(void **state)
{
	struct fx *fx = *state;
	char p[256], q[256];
	struct gm_err err = GM_ERR_INIT;
	pathf(p, sizeof(p), "%s/file", fx->root);
	put_file(p, "hello", 5, 0640);
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1700000000, 123456789}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	pathf(q, sizeof(q), "%s/hard", fx->root);
	assert_int_equal(link(p, q), 0);
	pathf(p, sizeof(p), "%s/dir", fx->root);
	assert_int_equal(mkdir(p, 0750), 0);
	assert_int_equal(chmod(p, 0750), 0);
	pathf(p, sizeof(p), "%s/ln", fx->root);
	assert_int_equal(symlink("dir/../file", p), 0);
	pathf(p, sizeof(p), "%s/fifo", fx->root);
	assert_int_equal(mkfifo(p, 0600), 0);
	pathf(p, sizeof(p), "%s/new\nline", fx->root);
	put_file(p, "n", 1, 0600);
	pathf(p, sizeof(p), "%s/bad\xff\xfeutf8", fx->root);
	put_file(p, "u", 1, 0600);

	/* a writable open creates the work area, which no listing shows */
	struct gm_sync_endpoint *ep = open_ep(fx->root, true);
	struct gm_sync_list l;
	gm_sync_list_init(&l);
	assert_int_equal(ep->ops->list(ep, "", &l, &err), GM_OK);
	const char *want[] = {"bad\xff\xfeutf8", "dir", "fifo", "file", "hard", "ln", "new\nline"};
	assert_int_equal(l.n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(l.v[i].name, want[i]);

	const struct gm_sync_entry *e = gm_sync_list_find(&l, "file", 4);
	struct stat st;
	pathf(p, sizeof(p), "%s/file", fx->root);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(e->meta.kind, GM_SYNC_FILE);
	assert_int_equal(e->meta.mode, 0640);
	assert_int_equal(e->meta.uid, st.st_uid);
	assert_int_equal(e->meta.gid, st.st_gid);
	assert_int_equal(e->meta.nlink, 2);
	assert_int_equal(e->meta.size, 5);
	assert_int_equal(e->meta.allocated, (uint64_t)st.st_blocks * 512);
	assert_int_equal(e->meta.mtime_ns, 1700000000123456789ll);
	assert_int_equal(e->meta.ctime_ns,
	                 (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);
	assert_int_equal(e->meta.dev, st.st_dev);
	assert_int_equal(e->meta.ino, st.st_ino);
	assert_null(e->link);
	assert_int_equal(gm_sync_list_find(&l, "hard", 4)->meta.ino, st.st_ino);

	e = gm_sync_list_find(&l, "dir", 3);
	assert_int_equal(e->meta.kind, GM_SYNC_DIR);
	assert_int_equal(e->meta.mode, 0750);
	e = gm_sync_list_find(&l, "ln", 2);
	assert_int_equal(e->meta.kind, GM_SYNC_SYMLINK);
	assert_string_equal(e->link, "dir/../file");
	assert_int_equal(e->meta.size, 11);
	e = gm_sync_list_find(&l, "fifo", 4);
	assert_int_equal(e->meta.kind, GM_SYNC_SPECIAL);
	assert_int_equal(e->meta.mode, 0600);

	/* stat agrees with the listing and does not follow a symlink */
	struct gm_sync_meta m;
	struct gm_buf link = GM_BUF_INIT;
	assert_int_equal(ep->ops->stat(ep, "ln", &m, &link, &err), GM_OK);
	assert_int_equal(m.kind, GM_SYNC_SYMLINK);
	assert_string_equal(gm_buf_cstr(&link), "dir/../file");
	assert_int_equal(ep->ops->stat(ep, "new\nline", &m, &link, &err), GM_OK);
	assert_int_equal(m.size, 1);
	assert_int_equal(link.len, 0);
	assert_int_equal(ep->ops->stat(ep, "", &m, NULL, &err), GM_OK);
	assert_int_equal(m.kind, GM_SYNC_DIR);
	assert_int_equal(ep->ops->stat(ep, "missing", &m, NULL, &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "root/missing"));
	assert_int_equal(ep->ops->stat(ep, "file/x", &m, NULL, &err), GM_ERR_NOT_FOUND);

	/* hash of a file read through the endpoint */
	struct gm_sync_hash h, want_h;
	gm_sync_hash_buf("hello", 5, &want_h);
	assert_int_equal(ep->ops->hash(ep, "file", &h, &m, &err), GM_OK);
	assert_true(gm_sync_hash_equal(&h, &want_h));
	assert_int_equal(m.size, 5);
	assert_int_equal(ep->ops->hash(ep, "fifo", &h, &m, &err), GM_ERR_USAGE);
	assert_int_equal(ep->ops->hash(ep, "ln", &h, &m, &err), GM_ERR_USAGE);

	uint64_t avail = 0;
	assert_int_equal(ep->ops->space(ep, &avail, &err), GM_OK);
	assert_true(avail > 0);
	assert_true(ep->caps & GM_SYNC_CAP_HOLES);
	assert_true(ep->caps & GM_SYNC_CAP_RESUME);
	assert_int_equal(!!(ep->caps & GM_SYNC_CAP_OWNER), geteuid() == 0);

	gm_buf_release(&link);
	gm_sync_list_release(&l);
	gm_sync_endpoint_close(ep);
	gm_err_release(&err);
}

/* ---- copies ---- */

static void copy_small_files_and_odd_names(void **state)
{
	struct fx *fx = *state;
	char p[256], q[256];
	const char *names[] = {"plain", "new\nline", "bad\xff\xfe", "empty"};
	for (size_t i = 0; i < 4; i++) {
		pathf(p, sizeof(p), "%s/%s", fx->src, names[i]);
		put_file(p, names[i], i == 3 ? 0 : strlen(names[i]), 0604);
	}
	struct gm_sync_endpoint *s = open_ep(fx->src, false), *d = open_ep(fx->root, true);
	for (size_t i = 0; i < 4; i++) {
		struct copy_res r = copy_file(s, d, names[i], 0, 0, NULL);
		assert_int_equal(r.rc, GM_OK);
		assert_true(gm_sync_hash_equal(&r.written, &r.whole));
		pathf(p, sizeof(p), "%s/%s", fx->src, names[i]);
		pathf(q, sizeof(q), "%s/%s", fx->root, names[i]);
		assert_same_file(p, q);
	}
	/* replacing an existing file, and a symlink, in place */
	pathf(q, sizeof(q), "%s/plain", fx->root);
	put_file(q, "old content", 11, 0600);
	pathf(q, sizeof(q), "%s/empty", fx->root);
	unlink(q);
	assert_int_equal(symlink("plain", q), 0);
	assert_int_equal(copy_file(s, d, "plain", 0, 0, NULL).rc, GM_OK);
	assert_int_equal(copy_file(s, d, "empty", 0, 0, NULL).rc, GM_OK);
	pathf(p, sizeof(p), "%s/plain", fx->src);
	pathf(q, sizeof(q), "%s/plain", fx->root);
	assert_same_file(p, q);
	struct stat st;
	pathf(q, sizeof(q), "%s/empty", fx->root);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* a directory in the way is named, not replaced */
	pathf(q, sizeof(q), "%s/plain", fx->root);
	unlink(q);
	assert_int_equal(mkdir(q, 0755), 0);
	struct copy_res r = copy_file(s, d, "plain", 0, 0, NULL);
	assert_int_equal(r.rc, GM_ERR_USAGE);
	assert_non_null(strstr(r.msg, "directory is in the way"));
	/* nothing left behind in the work area but the lock */
	pathf(q, sizeof(q), "%s/.gpumigrate", fx->root);
	assert_int_equal(count_entries(q), 1);
	gm_sync_endpoint_close(s);
	gm_sync_endpoint_close(d);
}

static void copy_keeps_holes(void **state)
{
	struct fx *fx = *state;
	char p[256], q[256];
	/* 20 MiB: data at 0 and 9 MiB, holes elsewhere, ending in a hole */
	pathf(p, sizeof(p), "%s/sparse", fx->src);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	unsigned char buf[65536];
	fill_random(buf, sizeof(buf), 1);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 9 * MIB), (ssize_t)sizeof(buf));
	assert_int_equal(ftruncate(fd, 20 * MIB), 0);
	close(fd);
	struct stat ss;
	assert_int_equal(stat(p, &ss), 0);
	if ((uint64_t)ss.st_blocks * 512 >= 20 * MIB)
		skip(); /* this file system does not keep holes */

	struct gm_sync_endpoint *s = open_ep(fx->src, false), *d = open_ep(fx->root, true);
	struct copy_res r = copy_file(s, d, "sparse", 0, 0, NULL);
	assert_int_equal(r.rc, GM_OK);
	assert_int_equal(r.chunks, 3); /* 8 + 8 + 4 MiB */
	assert_true(r.holes >= 3);     /* 64K-8M, 8M-9M, 9M+64K-16M, 16M-20M */
	assert_int_equal(r.data, 2);
	pathf(q, sizeof(q), "%s/sparse", fx->root);
	assert_same_file(p, q);
	struct stat ds;
	assert_int_equal(stat(q, &ds), 0);
	assert_int_equal(ds.st_size, 20 * MIB);
	assert_true((uint64_t)ds.st_blocks * 512 <= 2 * MIB); /* holes stayed holes */

	struct gm_sync_hash h;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(d->ops->hash(d, "sparse", &h, NULL, &err), GM_OK);
	assert_true(gm_sync_hash_equal(&h, &r.written));
	assert_true(gm_sync_hash_equal(&h, &r.whole));
	gm_err_release(&err);
	gm_sync_endpoint_close(s);
	gm_sync_endpoint_close(d);
}

static void make_big(struct fx *fx, const char *name, uint64_t size, uint64_t seed)
{
	char p[256];
	pathf(p, sizeof(p), "%s/%s", fx->src, name);
	unsigned char *data = malloc(size);
	fill_random(data, size, seed);
	put_file(p, data, size, 0644);
	free(data);
}

/* The names of the journal and part files in the work area. */
static int find_area_file(struct fx *fx, const char *prefix, char *out, size_t size)
{
	char p[256];
	pathf(p, sizeof(p), "%s/.gpumigrate", fx->root);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			pathf(out, size, "%s/%s", p, de->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static void resume_after_abort(void **state)
{
	struct fx *fx = *state;
	char p[256], q[256], j[256];
	make_big(fx, "big", 20 * MIB + 12345, 7);
	struct gm_sync_endpoint *s = open_ep(fx->src, false), *d = open_ep(fx->root, true);

	struct copy_res r = copy_file(s, d, "big", 0, 2, NULL);
	assert_int_equal(r.rc, GM_ERR_INTERRUPTED);
	assert_int_equal(r.resume_at, 0);
	assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 1);
	assert_int_equal(find_area_file(fx, "part.", q, sizeof(q)), 1);
	pathf(q, sizeof(q), "%s/big", fx->root);
	assert_int_equal(access(q, F_OK), -1); /* nothing under the final name */

	/* the same source: resumes at the last recorded chunk */
	r = copy_file(s, d, "big", 0, 0, NULL);
	assert_int_equal(r.rc, GM_OK);
	assert_int_equal(r.resume_at, 2 * GM_SYNC_CHUNK);
	assert_int_equal(r.chunks, 1);
	pathf(p, sizeof(p), "%s/big", fx->src);
	assert_same_file(p, q);
	struct gm_sync_hash h;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(s->ops->hash(s, "big", &h, NULL, &err), GM_OK);
	assert_true(gm_sync_hash_equal(&h, &r.written)); /* the whole-file state was restored */
	assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 0);
	assert_int_equal(find_area_file(fx, "part.", j, sizeof(j)), 0);

	/* the journal survives closing and reopening the endpoint */
	unlink(q);
	assert_int_equal(copy_file(s, d, "big", 0, 1, NULL).rc, GM_ERR_INTERRUPTED);
	gm_sync_endpoint_close(d);
	d = open_ep(fx->root, true);
	assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 1);

	/* a journal for another version of the source (mtime) is discarded */
	struct gm_sync_meta sm;
	assert_int_equal(s->ops->stat(s, "big", &sm, NULL, &err), GM_OK);
	sm.mtime_ns += 1000;
	struct gm_sync_writer *w = NULL;
	uint64_t at = 99;
	assert_int_equal(d->ops->open_write(d, "big", &sm, 0, &w, &at, &err), GM_OK);
	assert_int_equal(at, 0);
	d->ops->abort(w, false);
	assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 0);

	/* GM_SYNC_W_NO_RESUME ignores and drops a valid journal */
	assert_int_equal(copy_file(s, d, "big", 0, 2, NULL).rc, GM_ERR_INTERRUPTED);
	assert_int_equal(d->ops->open_write(d, "big", &sm, GM_SYNC_W_NO_RESUME, &w, &at, &err),
	                 GM_OK);
	assert_int_equal(at, 0);
	d->ops->abort(w, false);
	assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 0);

	gm_err_release(&err);
	gm_sync_endpoint_close(s);
	gm_sync_endpoint_close(d);
}

/* Runs fn with stderr going to a file; returns what was written there. */
static void capture_stderr_begin(int *saved, char *path, size_t size)
{
	pathf(path, size, "/tmp/gm-stderr-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void capture_stderr_end(int saved, const char *path, char *out, size_t size)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	int fd = open(path, O_RDONLY);
	ssize_t n = read(fd, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

static void corrupt_journal_discarded(void **state)
{
	struct fx *fx = *state;
	char j[256], tmp[64], log[4096];
	int saved;
	make_big(fx, "big2", 3 * GM_SYNC_CHUNK, 9);
	struct gm_sync_endpoint *s = open_ep(fx->src, false), *d = open_ep(fx->root, true);
	struct gm_sync_meta sm;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(s->ops->stat(s, "big2", &sm, NULL, &err), GM_OK);

	const char *cases[] = {"flip first", "flip last", "magic"};
	for (size_t c = 0; c < 3; c++) {
		assert_int_equal(copy_file(s, d, "big2", 0, 2, NULL).rc, GM_ERR_INTERRUPTED);
		assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 1);
		int fd = open(j, O_RDWR);
		struct stat st;
		fstat(fd, &st);
		/* header: 64 fixed bytes, the path, a checksum; then two records */
		off_t rec = (st.st_size - (64 + 4 + 8)) / 2;
		unsigned char b = 0;
		off_t pos = c == 0 ? st.st_size - rec - 100 : st.st_size - 100;
		if (c < 2) { /* a byte in the middle of a record: its checksum fails */
			assert_int_equal(pread(fd, &b, 1, pos), 1);
			b ^= 0x40;
			assert_int_equal(pwrite(fd, &b, 1, pos), 1);
		} else {
			assert_int_equal(pwrite(fd, "X", 1, 0), 1);
		}
		close(fd);

		struct gm_sync_writer *w = NULL;
		uint64_t at = 99;
		capture_stderr_begin(&saved, tmp, sizeof(tmp));
		enum gm_rc rc = d->ops->open_write(d, "big2", &sm, 0, &w, &at, &err);
		capture_stderr_end(saved, tmp, log, sizeof(log));
		assert_int_equal(rc, GM_OK);
		assert_int_equal(at, 0);
		if (!strstr(log, "not usable") || !strstr(log, "big2"))
			fail_msg("case %s: no warning: '%s'", cases[c], log);
		d->ops->abort(w, false);
	}
	/* after a discarded journal the copy from 0 is right */
	struct copy_res r = copy_file(s, d, "big2", 0, 0, NULL);
	assert_int_equal(r.rc, GM_OK);
	assert_int_equal(r.resume_at, 0);
	char p[256], q[256];
	pathf(p, sizeof(p), "%s/big2", fx->src);
	pathf(q, sizeof(q), "%s/big2", fx->root);
	assert_same_file(p, q);
	gm_err_release(&err);
	gm_sync_endpoint_close(s);
	gm_sync_endpoint_close(d);
}

/* Power lost while a record was appended: the records before it are kept, the journal is
 * cut back to them, and the copy resumes after the last whole one. */
static void cut_journal_record_resumes(void **state)
{
	struct fx *fx = *state;
	char j[256], q[256], p[256];
	make_big(fx, "big3", 3 * GM_SYNC_CHUNK + 777, 11);
	struct gm_sync_endpoint *s = open_ep(fx->src, false), *d = open_ep(fx->root, true);
	struct gm_sync_meta sm;
	struct gm_err err = GM_ERR_INIT;
	struct stat st;
	assert_int_equal(s->ops->stat(s, "big3", &sm, NULL, &err), GM_OK);
	assert_int_equal(copy_file(s, d, "big3", 0, 2, NULL).rc, GM_ERR_INTERRUPTED);
	assert_int_equal(find_area_file(fx, "journal.", j, sizeof(j)), 1);
	assert_int_equal(stat(j, &st), 0);
	off_t head = 64 + 4 + 8, rec = (st.st_size - head) / 2;
	assert_int_equal(head + 2 * rec, st.st_size);
	assert_int_equal(truncate(j, st.st_size - 10), 0); /* the second record cut short */

	struct gm_sync_writer *w = NULL;
	uint64_t at = 99;
	assert_int_equal(d->ops->open_write(d, "big3", &sm, 0, &w, &at, &err), GM_OK);
	assert_int_equal(at, GM_SYNC_CHUNK);
	assert_int_equal(stat(j, &st), 0);
	assert_int_equal(st.st_size, head + rec); /* cut back to the whole record */
	d->ops->abort(w, true);

	struct copy_res r = copy_file(s, d, "big3", 0, 0, NULL);
	assert_int_equal(r.rc, GM_OK);
	assert_int_equal(r.resume_at, GM_SYNC_CHUNK);
	assert_int_equal(r.chunks, 3);
	pathf(p, sizeof(p), "%s/big3", fx->src);
	pathf(q, sizeof(q), "%s/big3", fx->root);
	assert_same_file(p, q);
	struct gm_sync_hash h;
	assert_int_equal(s->ops->hash(s, "big3", &h, NULL, &err), GM_OK);
	assert_true(gm_sync_hash_equal(&h, &r.written));

	/* a cut in the first record leaves nothing to resume from */
	unlink(q);
	assert_int_equal(copy_file(s, d, "big3", 0, 1, NULL).rc, GM_ERR_INTERRUPTED);
	assert_int_equal(stat(j, &st), 0);
	assert_int_equal(truncate(j, st.st_size - 1), 0);
	r = copy_file(s, d, "big3", 0, 0, NULL);
	assert_int_equal(r.rc, GM_OK);
	assert_int_equal(r.resume_at, 0);
	assert_same_file(p, q);
	gm_err_release(&err);
	gm_sync_endpoint_close(s);
	gm_sync_endpoint_close(d);
}

static void mismatch_puts_nothing_in_place(void **state)
{
	struct fx *fx = *state;
	char q[256];
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_endpoint *d = open_ep(fx->root, true);
	struct gm_sync_meta sm = {.kind = GM_SYNC_FILE, .mode = 0644, .size = 5};
	struct gm_sync_writer *w = NULL;
	uint64_t at;
	struct gm_sync_hash good, bad;
	gm_sync_hash_buf("hello", 5, &good);
	gm_sync_hash_buf("hellO", 5, &bad);

	/* a chunk hash that does not match */
	assert_int_equal(d->ops->open_write(d, "f", &sm, 0, &w, &at, &err), GM_OK);
	assert_int_equal(d->ops->write(w, "hello", 5, &err), GM_OK);
	assert_int_equal(d->ops->chunk(w, &bad, &err), GM_ERR_MISMATCH);
	assert_int_equal(d->ops->write(w, "x", 1, &err), GM_ERR_USAGE); /* abandoned */
	d->ops->abort(w, false);
	pathf(q, sizeof(q), "%s/f", fx->root);
	assert_int_equal(access(q, F_OK), -1);

	/* a whole-file hash that does not match: the old file stays */
	put_file(q, "old", 3, 0600);
	assert_int_equal(d->ops->open_write(d, "f", &sm, 0, &w, &at, &err), GM_OK);
	assert_int_equal(d->ops->write(w, "hello", 5, &err), GM_OK);
	assert_int_equal(d->ops->chunk(w, &good, &err), GM_OK);
	assert_int_equal(d->ops->commit(w, &bad, &sm, NULL, NULL, &err), GM_ERR_MISMATCH);
	assert_non_null(strstr(gm_err_msg(&err), "nothing was put in place"));
	char buf[8] = {0};
	int fd = open(q, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "old");
	close(fd);

	/* data crossing a chunk boundary without a chunk hash is refused */
	assert_int_equal(d->ops->open_write(d, "g", &sm, 0, &w, &at, &err), GM_OK);
	assert_int_equal(d->ops->hole(w, GM_SYNC_CHUNK - 2, &err), GM_OK);
	assert_int_equal(d->ops->write(w, "abcd", 4, &err), GM_ERR_PROTOCOL);
	d->ops->abort(w, false);

	pathf(q, sizeof(q), "%s/.gpumigrate", fx->root);
	assert_int_equal(count_entries(q), 1); /* the lock only */
	gm_err_release(&err);
	gm_sync_endpoint_close(d);
}

/* ---- staying inside the root ---- */

static void assert_outside_untouched(struct fx *fx)
{
	char p[256];
	struct stat st;
	assert_int_equal(count_entries(fx->outside), 1);
	pathf(p, sizeof(p), "%s/keep", fx->outside);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
}

static void escapes_refused(void **state)
{
	struct fx *fx = *state;
	char p[256];
	struct gm_err err = GM_ERR_INIT;
	pathf(p, sizeof(p), "%s/keep", fx->outside);
	put_file(p, "keep", 4, 0600);
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
	utimensat(AT_FDCWD, p, ts, 0);
	pathf(p, sizeof(p), "%s/out", fx->root);
	assert_int_equal(symlink(fx->outside, p), 0);
	pathf(p, sizeof(p), "%s/rel", fx->root);
	assert_int_equal(symlink("../outside", p), 0);
	pathf(p, sizeof(p), "%s/keeplink", fx->root);
	assert_int_equal(symlink("../outside/keep", p), 0);
	pathf(p, sizeof(p), "%s/d", fx->root);
	assert_int_equal(mkdir(p, 0755), 0);
	pathf(p, sizeof(p), "%s/f", fx->root);
	put_file(p, "f", 1, 0644);

	for (int mode = 0; mode < 2; mode++) {
		if (mode)
			setenv("GM_SYNC_LOCAL_NO_OPENAT2", "1", 1); /* the component walk */
		struct gm_sync_endpoint *ep = open_ep(fx->root, true);
		struct gm_sync_meta m = {.kind = GM_SYNC_FILE, .mode = 0777, .size = 1};
		struct gm_sync_writer *w = NULL;
		struct gm_sync_reader *r = NULL;
		struct gm_sync_list l;
		struct gm_buf blob = GM_BUF_INIT;
		uint64_t at;
		gm_sync_list_init(&l);

		const char *bad[] = {"../x", "/etc/x", "d/../../x", "d//x", "./x", "d/.", ""};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(ep->ops->open_write(ep, bad[i], &m, 0, &w, &at, &err),
			                 GM_ERR_USAGE);
			assert_int_equal(ep->ops->mkdir(ep, bad[i], &m, &err), GM_ERR_USAGE);
			assert_int_equal(ep->ops->remove(ep, bad[i], &err), GM_ERR_USAGE);
			assert_int_equal(ep->ops->symlink(ep, bad[i], "t", &m, &err), GM_ERR_USAGE);
			assert_int_equal(ep->ops->hardlink(ep, "f", bad[i], &err), GM_ERR_USAGE);
			assert_int_equal(ep->ops->open_read(ep, bad[i], 0, &r, &err), GM_ERR_USAGE);
		}
		assert_int_equal(ep->ops->stat(ep, "../outside", &m, NULL, &err), GM_ERR_USAGE);
		assert_int_equal(ep->ops->list(ep, "..", &l, &err), GM_ERR_USAGE);
		/* the work area is not the peer's */
		assert_int_equal(ep->ops->open_write(ep, ".gpumigrate/lock", &m, 0, &w, &at, &err),
		                 GM_ERR_USAGE);
		assert_int_equal(ep->ops->remove(ep, ".gpumigrate", &err), GM_ERR_USAGE);

		/* through symlinks that point out of the tree */
		const char *via[] = {"out/keep", "rel/keep", "out/new", "rel/sub/new"};
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(ep->ops->open_write(ep, via[i], &m, 0, &w, &at, &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->mkdir(ep, via[i], &m, &err), GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->remove(ep, via[i], &err), GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->symlink(ep, via[i], "x", &m, &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->hardlink(ep, "f", via[i], &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->hardlink(ep, via[i], "h", &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->set_meta(ep, via[i], &m, 0, &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->open_read(ep, via[i], 0, &r, &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->stat(ep, via[i], &m, NULL, &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->xattrs(ep, via[i], &blob, &err),
			                 GM_ERR_PERMISSION);
			assert_int_equal(ep->ops->set_xattrs(ep, via[i], &blob, &err),
			                 GM_ERR_PERMISSION);
		}
		assert_non_null(strstr(gm_err_msg(&err), "symlink"));
		assert_int_equal(ep->ops->list(ep, "out", &l, &err), GM_ERR_PERMISSION);
		/* a symlink as the last name is acted on as itself, never followed */
		assert_int_equal(ep->ops->open_read(ep, "keeplink", 0, &r, &err), GM_ERR_USAGE);
		m.mode = 0777;
		m.mtime_ns = 5;
		assert_int_equal(ep->ops->set_meta(ep, "keeplink", &m, 0, &err), GM_OK);
		assert_int_equal(ep->ops->xattrs(ep, "keeplink", &blob, &err), GM_OK);
		assert_int_equal(blob.len, 0);
		assert_int_equal(ep->ops->set_xattrs(ep, "keeplink", &blob, &err), GM_ERR_USAGE);
		assert_non_null(strstr(gm_err_msg(&err), "not a regular file or directory"));
		for (size_t i = 0; i + 1 < sizeof(bad) / sizeof(bad[0]); i++) /* "" is the root */
			assert_int_equal(ep->ops->set_xattrs(ep, bad[i], &blob, &err),
			                 GM_ERR_USAGE);
		assert_int_equal(ep->ops->set_xattrs(ep, ".gpumigrate/lock", &blob, &err),
		                 GM_ERR_USAGE);
		assert_outside_untouched(fx);

		/* a directory swapped for a symlink between calls */
		pathf(p, sizeof(p), "%s/d", fx->root);
		char old[256];
		pathf(old, sizeof(old), "%s/d.old%d", fx->root, mode);
		assert_int_equal(ep->ops->list(ep, "d", &l, &err), GM_OK); /* caches d */
		m.mode = 0644;
		assert_int_equal(ep->ops->open_write(ep, "d/held", &m, 0, &w, &at, &err), GM_OK);
		assert_int_equal(rename(p, old), 0);
		assert_int_equal(symlink(fx->outside, p), 0);
		struct gm_sync_hash h;
		gm_sync_hash_buf("x", 1, &h);
		assert_int_equal(ep->ops->write(w, "x", 1, &err), GM_OK);
		assert_int_equal(ep->ops->chunk(w, &h, &err), GM_OK);
		assert_int_equal(ep->ops->commit(w, &h, &m, NULL, NULL, &err), GM_OK);
		enum gm_rc rc = ep->ops->open_write(ep, "d/later", &m, 0, &w, &at, &err);
		if (rc == GM_OK) { /* the cached descriptor still names the old directory */
			assert_int_equal(ep->ops->write(w, "x", 1, &err), GM_OK);
			assert_int_equal(ep->ops->commit(w, &h, &m, NULL, NULL, &err), GM_OK);
			pathf(p, sizeof(p), "%s/later", old);
			assert_int_equal(access(p, F_OK), 0);
		} else {
			assert_int_equal(rc, GM_ERR_PERMISSION);
		}
		/* refused through the symlink, or not found in the cached old directory */
		rc = ep->ops->mkdir(ep, "d/sub/x", &m, &err);
		assert_true(rc == GM_ERR_PERMISSION || rc == GM_ERR_NOT_FOUND);
		pathf(p, sizeof(p), "%s/held", old);
		assert_int_equal(access(p, F_OK), 0); /* landed in the directory it was opened in */
		assert_outside_untouched(fx);
		/* and the swap undone for the next round */
		pathf(p, sizeof(p), "%s/d", fx->root);
		assert_int_equal(unlink(p), 0);
		assert_int_equal(mkdir(p, 0755), 0);
		assert_int_equal(ep->ops->remove(ep, "d", &err), GM_OK); /* forgets the cache */
		assert_int_equal(ep->ops->mkdir(ep, "d", &m, &err), GM_OK);

		gm_buf_release(&blob);
		gm_sync_list_release(&l);
		gm_sync_endpoint_close(ep);
	}
	assert_outside_untouched(fx);
	gm_err_release(&err);
}

static void remove_tree_never_follows(void **state)
{
	struct fx *fx = *state;
	char p[256];
	struct gm_err err = GM_ERR_INIT;
	pathf(p, sizeof(p), "%s/keep", fx->outside);
	put_file(p, "keep", 4, 0600);
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
	utimensat(AT_FDCWD, p, ts, 0);
	const char *dirs[] = {"t", "t/a", "t/a/b", "t/a/b/c"};
	for (size_t i = 0; i < 4; i++) {
		pathf(p, sizeof(p), "%s/%s", fx->root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	pathf(p, sizeof(p), "%s/t/a/b/c/file", fx->root);
	put_file(p, "x", 1, 0644);
	pathf(p, sizeof(p), "%s/t/a/out", fx->root);
	assert_int_equal(symlink(fx->outside, p), 0);
	pathf(p, sizeof(p), "%s/t/keeplink", fx->root);
	assert_int_equal(symlink("../../outside/keep", p), 0);
	pathf(p, sizeof(p), "%s/t/a/b/fifo", fx->root);
	assert_int_equal(mkfifo(p, 0600), 0);
	pathf(p, sizeof(p), "%s/t/ro", fx->root);
	assert_int_equal(mkdir(p, 0555), 0);

	struct gm_sync_endpoint *ep = open_ep(fx->root, true);
	struct gm_sync_list l;
	gm_sync_list_init(&l);
	assert_int_equal(ep->ops->list(ep, "t/a/b", &l, &err), GM_OK); /* caches descriptors */
	assert_int_equal(ep->ops->remove(ep, "t", &err), GM_OK);
	pathf(p, sizeof(p), "%s/t", fx->root);
	assert_int_equal(access(p, F_OK), -1);
	assert_outside_untouched(fx);
	/* the cached descriptors of t/... were dropped: a new t/a/b is a new directory */
	assert_int_equal(mkdir(p, 0755), 0);
	pathf(p, sizeof(p), "%s/t/a", fx->root);
	assert_int_equal(mkdir(p, 0755), 0);
	pathf(p, sizeof(p), "%s/t/a/b", fx->root);
	assert_int_equal(mkdir(p, 0755), 0);
	pathf(p, sizeof(p), "%s/t/a/b/n", fx->root);
	put_file(p, "n", 1, 0644);
	assert_int_equal(ep->ops->list(ep, "t/a/b", &l, &err), GM_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "n");

	/* removing a single file, a symlink, a missing name */
	assert_int_equal(ep->ops->remove(ep, "t/a/b/n", &err), GM_OK);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(ep->ops->remove(ep, "t/a/b/n", &err), GM_ERR_NOT_FOUND);
	gm_sync_list_release(&l);
	gm_sync_endpoint_close(ep);
	gm_err_release(&err);
}

static void dirs_links_and_meta(void **state)
{
	struct fx *fx = *state;
	char p[256], q[256];
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_endpoint *ep = open_ep(fx->root, true);
	struct gm_sync_meta m = {
	        .kind = GM_SYNC_DIR, .mode = 0750, .mtime_ns = 1234567890000000001ll};
	struct stat st;

	assert_int_equal(ep->ops->mkdir(ep, "dd", &m, &err), GM_OK);
	assert_int_equal(ep->ops->mkdir(ep, "dd", &m, &err), GM_OK); /* exists: fine */
	pathf(p, sizeof(p), "%s/dd", fx->root);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0750, 0750);
	pathf(p, sizeof(p), "%s/ff", fx->root);
	put_file(p, "ff", 2, 0644);
	assert_int_equal(ep->ops->mkdir(ep, "ff", &m, &err), GM_ERR_USAGE);
	assert_int_equal(ep->ops->mkdir(ep, "nope/x", &m, &err), GM_ERR_NOT_FOUND);

	/* symlinks replace what is there, atomically, and keep mtime */
	assert_int_equal(ep->ops->symlink(ep, "dd/ln", "../ff", &m, &err), GM_OK);
	assert_int_equal(ep->ops->symlink(ep, "dd/ln", "elsewhere", &m, &err), GM_OK);
	char t[64] = {0};
	pathf(p, sizeof(p), "%s/dd/ln", fx->root);
	assert_int_equal(readlink(p, t, sizeof(t)), 9);
	assert_string_equal(t, "elsewhere");
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_int_equal(ep->ops->symlink(ep, "dd", "x", &m, &err), GM_ERR_USAGE);

	/* hard links: another name of the same file, replacing the name */
	pathf(q, sizeof(q), "%s/dd/h", fx->root);
	put_file(q, "old", 3, 0644);
	assert_int_equal(ep->ops->hardlink(ep, "ff", "dd/h", &err), GM_OK);
	assert_int_equal(ep->ops->hardlink(ep, "ff", "dd/h", &err), GM_OK); /* already one */
	struct stat a, b;
	pathf(p, sizeof(p), "%s/ff", fx->root);
	assert_int_equal(stat(p, &a), 0);
	assert_int_equal(stat(q, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 2);
	assert_int_equal(ep->ops->hardlink(ep, "missing", "dd/h2", &err), GM_ERR_NOT_FOUND);

	/* set_meta: mode and mtime, root included */
	m.mode = 0604;
	assert_int_equal(ep->ops->set_meta(ep, "ff", &m, 0, &err), GM_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_int_equal(st.st_mtim.tv_nsec, 1);
	m.mode = 0755;
	assert_int_equal(ep->ops->set_meta(ep, "", &m, 0, &err), GM_OK);
	assert_int_equal(stat(fx->root, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	if (geteuid() == 0) {
		m.uid = 1234;
		m.gid = 4321;
		assert_int_equal(ep->ops->set_meta(ep, "ff", &m, GM_SYNC_W_OWNER, &err), GM_OK);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 4321);
	}

	/* xattrs: read back in the blob format, set again by a writer */
	if (setxattr(p, "user.gm", "v1", 2, 0) == 0) {
		struct gm_buf blob = GM_BUF_INIT;
		assert_int_equal(ep->ops->xattrs(ep, "ff", &blob, &err), GM_OK);
		assert_int_equal(blob.len, 4 + 7 + 4 + 2);
		assert_memory_equal(blob.data, "\x07\0\0\0user.gm\x02\0\0\0v1", blob.len);
		struct gm_sync_writer *w = NULL;
		uint64_t at;
		struct gm_sync_hash h;
		gm_sync_hash_buf("z", 1, &h);
		m.kind = GM_SYNC_FILE;
		m.size = 1;
		assert_int_equal(ep->ops->open_write(ep, "xa", &m, GM_SYNC_W_XATTRS, &w, &at, &err),
		                 GM_OK);
		assert_int_equal(ep->ops->write(w, "z", 1, &err), GM_OK);
		assert_int_equal(ep->ops->commit(w, &h, &m, &blob, NULL, &err), GM_OK);
		pathf(q, sizeof(q), "%s/xa", fx->root);
		char v[8] = {0};
		assert_int_equal(getxattr(q, "user.gm", v, sizeof(v)), 2);
		assert_string_equal(v, "v1");
		/* a malformed blob is refused and nothing is put in place */
		struct gm_buf badb = GM_BUF_INIT;
		gm_buf_add(&badb, "\x50\0\0\0user", 8);
		assert_int_equal(ep->ops->open_write(ep, "xb", &m, GM_SYNC_W_XATTRS, &w, &at, &err),
		                 GM_OK);
		assert_int_equal(ep->ops->write(w, "z", 1, &err), GM_OK);
		assert_int_equal(ep->ops->commit(w, &h, &m, &badb, NULL, &err), GM_ERR_PARSE);
		pathf(q, sizeof(q), "%s/xb", fx->root);
		assert_int_equal(access(q, F_OK), -1);
		gm_buf_release(&badb);
		gm_buf_release(&blob);
	}
	gm_sync_endpoint_close(ep);

	/* a read-only endpoint changes nothing */
	ep = open_ep(fx->root, false);
	struct gm_sync_writer *w = NULL;
	uint64_t at;
	assert_int_equal(ep->ops->open_write(ep, "n", &m, 0, &w, &at, &err), GM_ERR_USAGE);
	assert_int_equal(ep->ops->mkdir(ep, "n", &m, &err), GM_ERR_USAGE);
	assert_int_equal(ep->ops->remove(ep, "ff", &err), GM_ERR_USAGE);
	assert_int_equal(ep->ops->set_meta(ep, "ff", &m, 0, &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "read-only"));
	struct gm_buf none = GM_BUF_INIT;
	assert_int_equal(ep->ops->set_xattrs(ep, "ff", &none, &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "read-only"));
	gm_buf_release(&none);
	gm_sync_endpoint_close(ep);
	gm_err_release(&err);
}

static void put_xattr(struct gm_buf *blob, const char *name, const void *value, uint32_t vl)
{
	uint32_t nl = (uint32_t)strlen(name);
	uint8_t a[4] = {(uint8_t)nl, (uint8_t)(nl >> 8), (uint8_t)(nl >> 16), (uint8_t)(nl >> 24)};
	uint8_t b[4] = {(uint8_t)vl, (uint8_t)(vl >> 8), (uint8_t)(vl >> 16), (uint8_t)(vl >> 24)};
	gm_buf_add(blob, a, 4);
	gm_buf_add(blob, name, nl);
	gm_buf_add(blob, b, 4);
	gm_buf_add(blob, value, vl);
}

/* The names of p's xattrs, sorted, joined by ',' (for comparisons). */
static void xattr_names(const char *p, char *out, size_t size)
{
	char list[1024], *names[64];
	ssize_t n = llistxattr(p, list, sizeof(list));
	size_t k = 0;
	assert_true(n >= 0);
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		names[k++] = list + i;
	for (size_t i = 1; i < k; i++) /* insertion sort: a handful of names */
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		size_t used = strlen(out);
		snprintf(out + used, size - used, "%s%s", i ? "," : "", names[i]);
	}
}

/* set_xattrs makes the set exactly the blob's: added, changed and removed names, binary
 * values, on a file, a directory and the root, leaving content and mtime alone; an empty
 * blob removes them all; a malformed one changes nothing. A commit replaces the set of the
 * file it replaces. */
static void set_xattrs_replaces(void **state)
{
	struct fx *fx = *state;
	char p[256], names[256], v[64];
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf blob = GM_BUF_INIT, back = GM_BUF_INIT;
	struct stat before, after;
	pathf(p, sizeof(p), "%s/f", fx->root);
	put_file(p, "content", 7, 0644);
	if (setxattr(p, "user.probe", "x", 1, 0) != 0) {
		print_message("no user xattrs under %s: skipped\n", fx->root);
		return;
	}
	removexattr(p, "user.probe");
	pathf(p, sizeof(p), "%s/d", fx->root);
	assert_int_equal(mkdir(p, 0755), 0);
	struct gm_sync_endpoint *ep = open_ep(fx->root, true);
	assert_non_null(ep->ops->set_xattrs);
	static const char bin[] = {'a', '\0', '\xff', '\n'};
	const char *targets[] = {"f", "d", ""};
	for (size_t i = 0; i < 3; i++) {
		pathf(p, sizeof(p), "%s%s%s", fx->root, targets[i][0] ? "/" : "", targets[i]);
		assert_int_equal(setxattr(p, "user.old", "o", 1, 0), 0);
		assert_int_equal(setxattr(p, "user.keep", "k", 1, 0), 0);
		assert_int_equal(setxattr(p, "user.chg", "before", 6, 0), 0);
		struct timespec ts[2] = {{0, UTIME_OMIT}, {1500000000, 7}};
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
		assert_int_equal(stat(p, &before), 0);
		gm_buf_reset(&blob);
		put_xattr(&blob, "user.new", bin, sizeof(bin));
		put_xattr(&blob, "user.chg", "after", 5);
		put_xattr(&blob, "user.keep", "k", 1);
		assert_int_equal(ep->ops->set_xattrs(ep, targets[i], &blob, &err), GM_OK);
		xattr_names(p, names, sizeof(names));
		assert_string_equal(names, "user.chg,user.keep,user.new");
		assert_int_equal(getxattr(p, "user.chg", v, sizeof(v)), 5);
		assert_memory_equal(v, "after", 5);
		assert_int_equal(getxattr(p, "user.new", v, sizeof(v)), 4);
		assert_memory_equal(v, bin, 4);
		assert_int_equal(getxattr(p, "user.keep", v, sizeof(v)), 1);
		assert_int_equal(stat(p, &after), 0);
		assert_int_equal(after.st_mtim.tv_sec, 1500000000);
		assert_int_equal(after.st_mtim.tv_nsec, 7);
		assert_int_equal(after.st_size, before.st_size);
		assert_int_equal(after.st_ino, before.st_ino);
		/* read back: the same set as asked for, whatever order the file system keeps */
		assert_int_equal(ep->ops->xattrs(ep, targets[i], &back, &err), GM_OK);
		assert_true(gm_sync_xattrs_same(back.data, back.len, blob.data, blob.len));
		/* a malformed blob is refused before anything changes */
		struct gm_buf bad = GM_BUF_INIT;
		put_xattr(&bad, "user.zzz", "z", 1);
		gm_buf_add(&bad, "\x50\0\0\0user", 8);
		assert_int_equal(ep->ops->set_xattrs(ep, targets[i], &bad, &err), GM_ERR_PARSE);
		xattr_names(p, names, sizeof(names));
		assert_string_equal(names, "user.chg,user.keep,user.new");
		gm_buf_release(&bad);
		/* nothing: every name goes */
		gm_buf_reset(&blob);
		assert_int_equal(ep->ops->set_xattrs(ep, targets[i], &blob, &err), GM_OK);
		xattr_names(p, names, sizeof(names));
		assert_string_equal(names, "");
	}
	/* a file the owner cannot read still gets its set (through /proc, not an open) */
	pathf(p, sizeof(p), "%s/f", fx->root);
	assert_int_equal(chmod(p, 0), 0);
	gm_buf_reset(&blob);
	put_xattr(&blob, "user.m", "1", 1);
	assert_int_equal(ep->ops->set_xattrs(ep, "f", &blob, &err), GM_OK);
	assert_int_equal(getxattr(p, "user.m", v, sizeof(v)), 1);
	assert_int_equal(ep->ops->set_xattrs(ep, "nope", &blob, &err), GM_ERR_NOT_FOUND);

	/* a commit over an existing file: the old file's names do not survive */
	pathf(p, sizeof(p), "%s/r", fx->root);
	put_file(p, "old", 3, 0644);
	assert_int_equal(setxattr(p, "user.stale", "s", 1, 0), 0);
	struct gm_sync_meta m = {.kind = GM_SYNC_FILE, .mode = 0644, .size = 3};
	struct gm_sync_writer *w = NULL;
	struct gm_sync_hash h;
	uint64_t at;
	gm_sync_hash_buf("new", 3, &h);
	assert_int_equal(ep->ops->open_write(ep, "r", &m, GM_SYNC_W_XATTRS, &w, &at, &err), GM_OK);
	assert_int_equal(ep->ops->write(w, "new", 3, &err), GM_OK);
	assert_int_equal(ep->ops->commit(w, &h, &m, &blob, NULL, &err), GM_OK);
	xattr_names(p, names, sizeof(names));
	assert_string_equal(names, "user.m");
	gm_sync_endpoint_close(ep);
	gm_buf_release(&blob);
	gm_buf_release(&back);
	gm_err_release(&err);
}

static void second_writer_refused(void **state)
{
	struct fx *fx = *state;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_open_opts o = {.writable = true};
	struct gm_sync_endpoint *a = open_ep(fx->root, true), *b = NULL;
	assert_int_equal(gm_sync_local_open(fx->root, &o, &b, &err), GM_ERR_USAGE);
	assert_null(b);
	assert_non_null(strstr(gm_err_msg(&err), "another gpumigrate sync is writing to"));
	assert_non_null(strstr(gm_err_msg(&err), fx->root));
	struct gm_sync_endpoint *ro = open_ep(fx->root, false); /* readers are fine */
	gm_sync_endpoint_close(ro);
	gm_sync_endpoint_close(a);
	b = open_ep(fx->root, true); /* the lock went with the first */
	gm_sync_endpoint_close(b);

	/* stale temporary files of a dead run are removed at open; journals stay */
	char p[256];
	pathf(p, sizeof(p), "%s/.gpumigrate/tmp.1.2", fx->root);
	put_file(p, "x", 1, 0600);
	pathf(p, sizeof(p), "%s/.gpumigrate/part.abc", fx->root);
	put_file(p, "x", 1, 0600); /* no journal: removed */
	pathf(p, sizeof(p), "%s/.gpumigrate/part.def", fx->root);
	put_file(p, "x", 1, 0600);
	pathf(p, sizeof(p), "%s/.gpumigrate/journal.def", fx->root);
	put_file(p, "x", 1, 0600);
	b = open_ep(fx->root, true);
	pathf(p, sizeof(p), "%s/.gpumigrate", fx->root);
	assert_int_equal(count_entries(p), 3); /* lock, part.def, journal.def */
	gm_sync_endpoint_close(b);

	/* missing roots: created on request, else not found; a file is not a root */
	pathf(p, sizeof(p), "%s/newroot", fx->base);
	assert_int_equal(gm_sync_local_open(p, &o, &b, &err), GM_ERR_NOT_FOUND);
	o.create = true;
	assert_int_equal(gm_sync_local_open(p, &o, &b, &err), GM_OK);
	gm_sync_endpoint_close(b);
	pathf(p, sizeof(p), "%s/.gpumigrate/lock", fx->root);
	assert_int_equal(gm_sync_local_open(p, &o, &b, &err), GM_ERR_USAGE);
	gm_err_release(&err);
}

/* ---- several writers of one run ---- */

static void joined_writers(void **state)
{
	struct fx *fx = *state;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_open_opts o = {.writable = true};
	struct gm_sync_endpoint *a = NULL, *b = NULL, *c = NULL;
	char p[256], buf[64] = {0};

	/* no primary yet: nothing to join (no lock file at all) */
	o.join_token = "0123456789abcdef0123456789abcdef";
	assert_int_equal(gm_sync_local_open(fx->root, &o, &b, &err), GM_ERR_USAGE);
	assert_null(b);
	assert_non_null(strstr(gm_err_msg(&err), "no gpumigrate sync is writing there"));

	a = open_ep(fx->root, true);
	const char *tok = gm_sync_local_token(a);
	assert_non_null(tok);
	assert_int_equal(strlen(tok), 32);
	assert_int_equal(strspn(tok, "0123456789abcdef"), 32);
	pathf(p, sizeof(p), "%s/.gpumigrate/lock", fx->root);
	int fd = open(p, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 32);
	close(fd);
	assert_string_equal(buf, tok);

	/* a stale temporary file of a dead run: a secondary leaves it alone */
	pathf(p, sizeof(p), "%s/.gpumigrate/tmp.1.dead.2", fx->root);
	put_file(p, "x", 1, 0600);

	/* the right token joins, and writes */
	o.join_token = tok;
	if (gm_sync_local_open(fx->root, &o, &b, &err) != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	assert_null(gm_sync_local_token(b));
	assert_int_equal(access(p, F_OK), 0);
	struct gm_sync_meta m = {.kind = GM_SYNC_FILE, .mode = 0600, .size = 5};
	struct gm_sync_writer *w = NULL;
	struct gm_sync_hash h;
	uint64_t at;
	gm_sync_hash_buf("hello", 5, &h);
	assert_int_equal(b->ops->open_write(b, "f", &m, 0, &w, &at, &err), GM_OK);
	assert_int_equal(b->ops->write(w, "hello", 5, &err), GM_OK);
	assert_int_equal(b->ops->chunk(w, &h, &err), GM_OK);
	assert_int_equal(b->ops->commit(w, &h, &m, NULL, NULL, &err), GM_OK);
	/* both write at once without clashing temporary names */
	struct gm_sync_writer *wa = NULL, *wb = NULL;
	assert_int_equal(a->ops->open_write(a, "g", &m, 0, &wa, &at, &err), GM_OK);
	assert_int_equal(b->ops->open_write(b, "h", &m, 0, &wb, &at, &err), GM_OK);
	assert_int_equal(a->ops->write(wa, "hello", 5, &err), GM_OK);
	assert_int_equal(b->ops->write(wb, "hello", 5, &err), GM_OK);
	assert_int_equal(a->ops->commit(wa, &h, &m, NULL, NULL, &err), GM_OK);
	assert_int_equal(b->ops->commit(wb, &h, &m, NULL, NULL, &err), GM_OK);
	assert_int_equal(a->ops->stat(a, "h", &m, NULL, &err), GM_OK);
	assert_int_equal(m.size, 5);

	/* a directory one writer removed and made again is found again by the other */
	struct gm_sync_meta dm = {.kind = GM_SYNC_DIR, .mode = 0755};
	assert_int_equal(a->ops->mkdir(a, "d", &dm, &err), GM_OK);
	m.size = 5;
	assert_int_equal(b->ops->open_write(b, "d/x", &m, 0, &w, &at, &err), GM_OK);
	assert_int_equal(b->ops->write(w, "hello", 5, &err), GM_OK);
	assert_int_equal(b->ops->commit(w, &h, &m, NULL, NULL, &err), GM_OK);
	assert_int_equal(a->ops->remove(a, "d", &err), GM_OK);
	assert_int_equal(a->ops->mkdir(a, "d", &dm, &err), GM_OK);
	assert_int_equal(b->ops->open_write(b, "d/y", &m, 0, &w, &at, &err), GM_OK);
	assert_int_equal(b->ops->write(w, "hello", 5, &err), GM_OK);
	if (b->ops->commit(w, &h, &m, NULL, NULL, &err) != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	assert_int_equal(a->ops->stat(a, "d/y", &m, NULL, &err), GM_OK);

	/* a wrong token is refused */
	o.join_token = "00000000000000000000000000000000";
	assert_int_equal(gm_sync_local_open(fx->root, &o, &c, &err), GM_ERR_USAGE);
	assert_null(c);
	assert_non_null(strstr(gm_err_msg(&err), "the lock token differs"));
	o.join_token = "short";
	assert_int_equal(gm_sync_local_open(fx->root, &o, &c, &err), GM_ERR_USAGE);

	/* once the primary is gone, its token joins nothing */
	char saved[33];
	memcpy(saved, tok, 33);
	gm_sync_endpoint_close(b);
	gm_sync_endpoint_close(a);
	o.join_token = saved;
	assert_int_equal(gm_sync_local_open(fx->root, &o, &c, &err), GM_ERR_USAGE);
	assert_null(c);
	assert_non_null(strstr(gm_err_msg(&err), "no gpumigrate sync is writing there any more"));
	/* and the lock is free again for a new primary, with a new token */
	a = open_ep(fx->root, true);
	assert_string_not_equal(gm_sync_local_token(a), saved);
	gm_sync_endpoint_close(a);
	gm_err_release(&err);
}

/* ---- deltas ---- */

enum { DSIZE = 40 << 20, DCHANGE_AT = 17 << 20, DCHANGE = 1 << 20 };

static void delta_through_local(void **state)
{
	struct fx *fx = *state;
	struct gm_err err = GM_ERR_INIT;
	char p[256], q[256], area[256];
	unsigned char *old = malloc(DSIZE), *new = malloc(DSIZE);
	fill_random(old, DSIZE, 21);
	memcpy(new, old, DSIZE);
	fill_random(new + DCHANGE_AT, DCHANGE, 22);
	pathf(p, sizeof(p), "%s/ckpt", fx->src);
	pathf(q, sizeof(q), "%s/ckpt", fx->root);
	put_file(p, new, DSIZE, 0640);
	put_file(q, old, DSIZE, 0600);
	struct gm_sync_endpoint *s = open_ep(fx->src, false), *d = open_ep(fx->root, true);
	assert_false(d->caps & GM_SYNC_CAP_DELTA); /* locally a copy is cheaper */
	assert_non_null(d->ops->signature);
	struct gm_sync_meta sm, basis;
	struct gm_sync_hash whole, written, bad;
	struct gm_buf sig = GM_BUF_INIT, delta = GM_BUF_INIT;
	assert_int_equal(s->ops->hash(s, "ckpt", &whole, &sm, &err), GM_OK);

	assert_int_equal(d->ops->signature(d, "ckpt", &basis, &sig, &err), GM_OK);
	assert_int_equal(basis.size, DSIZE);
	assert_int_equal(basis.kind, GM_SYNC_FILE);
	assert_true(sig.len > 0 && sig.len < 512 * 1024);
	struct gm_sync_delta *g = NULL;
	assert_int_equal(gm_sync_delta_gen_begin(sig.data, sig.len, &g, &err), GM_OK);
	assert_int_equal(gm_sync_delta_gen_feed(g, new, DSIZE, true, &delta, &err), GM_OK);
	gm_sync_delta_free(g);
	assert_true(delta.len < 2 * MIB);

	/* the rebuilt file is the source's, byte for byte; the delta fed in pieces */
	struct gm_sync_writer *w = NULL;
	assert_int_equal(d->ops->open_patch(d, "ckpt", &sm, &basis, 0, &w, &err), GM_OK);
	assert_int_equal(d->ops->write(w, "x", 1, &err), GM_ERR_USAGE); /* not for patches */
	d->ops->abort(w, false);
	assert_int_equal(d->ops->open_patch(d, "ckpt", &sm, &basis, 0, &w, &err), GM_OK);
	for (size_t off = 0; off < delta.len;) {
		size_t n = delta.len - off < 300000 ? delta.len - off : 300000;
		assert_int_equal(d->ops->patch(w, delta.data + off, n, false, &err), GM_OK);
		off += n;
	}
	assert_int_equal(d->ops->patch(w, NULL, 0, true, &err), GM_OK);
	if (d->ops->commit(w, &whole, &sm, NULL, &written, &err))
		fail_msg("%s", gm_err_msg(&err));
	assert_true(gm_sync_hash_equal(&whole, &written));
	assert_same_file(p, q);
	pathf(area, sizeof(area), "%s/.gpumigrate", fx->root);
	assert_int_equal(count_entries(area), 1); /* the lock only */

	/* the basis changed between signature and open_patch: refused */
	put_file(q, old, DSIZE, 0600);
	assert_int_equal(d->ops->signature(d, "ckpt", &basis, &sig, &err), GM_OK);
	struct gm_sync_meta later = basis;
	later.mtime_ns -= 1000000000;
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {later.mtime_ns / 1000000000, 0}};
	assert_int_equal(utimensat(AT_FDCWD, q, ts, 0), 0);
	assert_int_equal(d->ops->open_patch(d, "ckpt", &sm, &basis, 0, &w, &err), GM_ERR_CHANGED);
	assert_null(w);
	assert_non_null(strstr(gm_err_msg(&err), "changed since its signature"));
	assert_int_equal(count_entries(area), 1);

	/* a wrong whole-file hash at commit: MISMATCH, the old file stays, nothing left over */
	assert_int_equal(d->ops->signature(d, "ckpt", &basis, &sig, &err), GM_OK);
	gm_buf_reset(&delta);
	assert_int_equal(gm_sync_delta_gen_begin(sig.data, sig.len, &g, &err), GM_OK);
	assert_int_equal(gm_sync_delta_gen_feed(g, new, DSIZE, true, &delta, &err), GM_OK);
	gm_sync_delta_free(g);
	assert_int_equal(d->ops->open_patch(d, "ckpt", &sm, &basis, 0, &w, &err), GM_OK);
	assert_int_equal(d->ops->patch(w, delta.data, delta.len, true, &err), GM_OK);
	bad = whole;
	bad.b[3] ^= 1;
	assert_int_equal(d->ops->commit(w, &bad, &sm, NULL, NULL, &err), GM_ERR_MISMATCH);
	assert_int_equal(count_entries(area), 1);
	int fd = open(q, O_RDONLY);
	unsigned char *back = malloc(DSIZE);
	assert_int_equal(read(fd, back, DSIZE), DSIZE);
	close(fd);
	assert_memory_equal(back, old, DSIZE);

	/* a delta that stops early, or a commit without a whole hash, proves nothing */
	assert_int_equal(d->ops->open_patch(d, "ckpt", &sm, &basis, 0, &w, &err), GM_OK);
	assert_int_equal(d->ops->patch(w, delta.data, delta.len / 2, false, &err), GM_OK);
	assert_int_equal(d->ops->commit(w, &whole, &sm, NULL, NULL, &err), GM_ERR_PROTOCOL);
	assert_int_equal(d->ops->open_patch(d, "ckpt", &sm, &basis, 0, &w, &err), GM_OK);
	assert_int_equal(d->ops->patch(w, delta.data, delta.len, true, &err), GM_OK);
	assert_int_equal(d->ops->commit(w, NULL, &sm, NULL, NULL, &err), GM_ERR_PROTOCOL);
	assert_int_equal(count_entries(area), 1);

	/* a read-only endpoint signs but does not patch */
	assert_int_equal(s->ops->signature(s, "ckpt", &basis, &sig, &err), GM_OK);
	assert_int_equal(s->ops->open_patch(s, "ckpt", &sm, &basis, 0, &w, &err), GM_ERR_USAGE);
	assert_int_equal(d->ops->signature(d, "nope", &basis, &sig, &err), GM_ERR_NOT_FOUND);

	free(back);
	free(old);
	free(new);
	gm_buf_release(&sig);
	gm_buf_release(&delta);
	gm_err_release(&err);
	gm_sync_endpoint_close(s);
	gm_sync_endpoint_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(list_and_stat_every_kind, setup, teardown),
	        cmocka_unit_test_setup_teardown(copy_small_files_and_odd_names, setup, teardown),
	        cmocka_unit_test_setup_teardown(copy_keeps_holes, setup, teardown),
	        cmocka_unit_test_setup_teardown(resume_after_abort, setup, teardown),
	        cmocka_unit_test_setup_teardown(corrupt_journal_discarded, setup, teardown),
	        cmocka_unit_test_setup_teardown(cut_journal_record_resumes, setup, teardown),
	        cmocka_unit_test_setup_teardown(mismatch_puts_nothing_in_place, setup, teardown),
	        cmocka_unit_test_setup_teardown(escapes_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(remove_tree_never_follows, setup, teardown),
	        cmocka_unit_test_setup_teardown(dirs_links_and_meta, setup, teardown),
	        cmocka_unit_test_setup_teardown(set_xattrs_replaces, setup, teardown),
	        cmocka_unit_test_setup_teardown(second_writer_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(joined_writers, setup, teardown),
	        cmocka_unit_test_setup_teardown(delta_through_local, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

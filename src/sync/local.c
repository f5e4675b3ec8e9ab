/* The local transport: a directory tree on this host. Every operation starts from a file
 * descriptor of the root and resolves the parent directory beneath it without following any
 * symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a component walk with O_NOFOLLOW
 * where openat2 is missing), then acts on the last name with *at() calls that do not follow
 * it either. So a peer's "../x", a symlink planted in the tree or swapped in between two
 * calls can never make us create, change or remove anything outside the root. Parent
 * directory descriptors are kept in a small LRU so a tree of many files in few directories
 * costs one resolution per directory, not one per file. */
#include "sync/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sync/delta.h"
#include "sync/journal.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define READ_BUF_MAX ((size_t)1 << 20)
#define READ_BUF_MIN ((size_t)4096)
#define DIR_CACHE    32
#define REMOVE_DEPTH 1024
#define LOCK_NAME    "lock"

struct dir_slot {
	char *path; /* NULL: empty */
	size_t len;
	int fd; /* O_PATH|O_DIRECTORY */
	uint64_t used;
};

struct local_ep {
	struct gm_sync_endpoint base;
	int rootfd, areafd, lockfd;
	bool writable;
	bool root_user;
	bool secondary; /* joined another open's lock (join_token) */
	char token[33]; /* a primary writable open: the token in the lock file */
	uint32_t nonce; /* makes temporary names unique among this process's opens */
	atomic_bool openat2;
	atomic_uint_fast64_t seq; /* unique temporary names */
	pthread_mutex_t mu;       /* the directory cache */
	struct dir_slot cache[DIR_CACHE];
	uint64_t tick;
};

/* A directory descriptor that may be borrowed (the root) or owned (closed on release). */
struct dref {
	int fd;
	bool own;
};

struct local_reader {
	struct local_ep *ep;
	struct gm_buf path;
	int fd;
	unsigned char *buf;
	size_t bufsize;
	uint64_t off, size, chunk_start;
	uint64_t next_data, data_end; /* sparse files: the data region at or after off */
	bool sparse, whole, eof, done;
	struct stat st0;
	struct gm_sync_hasher whole_h, chunk_h;
};

struct local_writer {
	struct local_ep *ep;
	struct gm_buf path; /* relative path */
	size_t name_off;    /* where the last component starts in path */
	struct dref dir;    /* the parent directory */
	char tmp[64];       /* name in the area */
	char jname[64];     /* journal name in the area (journalled writers) */
	int fd;
	bool journalled, failed, end_hole;
	unsigned flags;
	uint64_t off, chunk_start, src_size, synced;
	/* a writer from open_patch: bytes come from the delta, not in chunks */
	bool patching, patch_eof;
	int basis_fd;
	struct gm_sync_delta *delta;
	struct gm_sync_journal j;
	struct gm_sync_hasher whole_h, chunk_h;
};

static struct local_ep *EP(struct gm_sync_endpoint *ep)
{
	return (struct local_ep *)ep;
}

/* ---- messages ---- */

static const char *where(struct local_ep *ep, const char *path, struct gm_buf *out)
{
	gm_sync_endpoint_where(&ep->base, path, out);
	return gm_buf_cstr(out);
}

static enum gm_rc sys_fail(struct local_ep *ep, struct gm_err *err, int e, const char *what,
                           const char *path)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc;
	if (e == ELOOP || e == EXDEV)
		rc = gm_err_set(err, GM_ERR_PERMISSION,
		                "cannot %s '%s': a directory on its path is a symlink, which is "
		                "never followed",
		                what, where(ep, path, &w));
	else
		rc = gm_err_errno(err, gm_rc_from_errno(e), e, "cannot %s '%s'", what,
		                  where(ep, path, &w));
	gm_buf_release(&w);
	return rc;
}

static enum gm_rc read_only(struct local_ep *ep, const char *path, struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc = gm_err_set(err, GM_ERR_USAGE, "cannot change '%s': opened read-only",
	                           where(ep, path, &w));
	gm_buf_release(&w);
	return rc;
}

/* Refuses anything but a relative path inside the tree, and the work area. */
static enum gm_rc check_path(struct local_ep *ep, const char *path, bool allow_root,
                             struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	size_t len = strlen(path);
	size_t area = sizeof(GM_SYNC_AREA) - 1;
	if (!gm_sync_path_check(path, len))
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "refusing the path '%s' for '%s': not a relative path inside the "
		                "tree",
		                path, where(ep, "", &w));
	else if (len == 0 && !allow_root)
		rc = gm_err_set(err, GM_ERR_USAGE, "refusing to act on the root '%s' itself",
		                where(ep, "", &w));
	else if (len >= area && memcmp(path, GM_SYNC_AREA, area) == 0 &&
	         (len == area || path[area] == '/'))
		rc = gm_err_set(err, GM_ERR_USAGE, "refusing '%s': it is gpumigrate's work area",
		                where(ep, path, &w));
	gm_buf_release(&w);
	return rc;
}

static void split_path(const char *path, size_t *dir_len, const char **name)
{
	const char *slash = strrchr(path, '/');
	*dir_len = slash ? (size_t)(slash - path) : 0;
	*name = slash ? slash + 1 : path;
}

static void ns_to_timespec(int64_t ns, struct timespec *ts)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;
	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)rem;
}

static int64_t timespec_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void meta_from_stat(const struct stat *st, struct gm_sync_meta *m)
{
	memset(m, 0, sizeof(*m));
	if (S_ISREG(st->st_mode))
		m->kind = GM_SYNC_FILE;
	else if (S_ISDIR(st->st_mode))
		m->kind = GM_SYNC_DIR;
	else if (S_ISLNK(st->st_mode))
		m->kind = GM_SYNC_SYMLINK;
	else
		m->kind = GM_SYNC_SPECIAL;
	m->mode = st->st_mode & 07777;
	m->uid = st->st_uid;
	m->gid = st->st_gid;
	m->nlink = (uint32_t)st->st_nlink;
	m->size = (uint64_t)st->st_size;
	m->allocated = (uint64_t)st->st_blocks * 512;
	m->mtime_ns = timespec_ns(&st->st_mtim);
	m->ctime_ns = timespec_ns(&st->st_ctim);
	m->dev = st->st_dev;
	m->ino = st->st_ino;
}

/* ---- resolving directories beneath the root ---- */

static void dref_put(struct dref *d)
{
	if (d->own && d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->own = false;
}

/* Opens directory rel (non-empty) below base without following any symlink. */
static int open_beneath(struct local_ep *ep, int base, const char *rel, size_t len, int *errnum)
{
	char path[GM_SYNC_PATH_MAX + 1];
	if (len > GM_SYNC_PATH_MAX) {
		*errnum = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, rel, len);
	path[len] = '\0';

	if (atomic_load_explicit(&ep->openat2, memory_order_relaxed)) {
		struct open_how how = {
		        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		for (int tries = 0; tries < 16; tries++) {
			long fd = syscall(SYS_openat2, base, path, &how, sizeof(how));
			if (fd >= 0)
				return (int)fd;
			if (errno == EAGAIN || errno == EINTR)
				continue; /* a concurrent rename: the kernel asks us to retry */
			if (errno == ENOSYS)
				break;
			*errnum = errno;
			return -1;
		}
		if (errno != ENOSYS) {
			*errnum = errno;
			return -1;
		}
		atomic_store(&ep->openat2, false);
	}

	/* Walk the components, never following a symlink. */
	int fd = base;
	char *comp = path;
	for (;;) {
		char *slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		if (next < 0 && e == ENOTDIR) {
			struct stat st;
			if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				e = ELOOP;
		}
		if (fd != base)
			close(fd);
		if (next < 0) {
			*errnum = e;
			return -1;
		}
		fd = next;
		if (!slash)
			return fd;
		comp = slash + 1;
	}
}

/* Whether a cached directory was removed since (by another writer of the same root: the
 * other connections of a run have their own caches). A removed directory has no links. */
static bool slot_stale(const struct dir_slot *s)
{
	struct stat st;
	return fstat(s->fd, &st) < 0 || st.st_nlink == 0;
}

static void slot_clear(struct dir_slot *s)
{
	close(s->fd);
	GM_FREE(s->path);
	s->len = 0;
}

/* A descriptor of directory dir[0..len) (len 0: the root). */
static int dir_open(struct local_ep *ep, const char *dir, size_t len, struct dref *out)
{
	out->fd = -1;
	out->own = false;
	if (len == 0) {
		out->fd = ep->rootfd;
		return 0;
	}
	int base = ep->rootfd;
	bool base_own = false;
	size_t skip = 0;

	pthread_mutex_lock(&ep->mu);
	struct dir_slot *best = NULL;
	for (size_t i = 0; i < DIR_CACHE; i++) {
		struct dir_slot *s = &ep->cache[i];
		if (!s->path)
			continue;
		if (s->len == len && memcmp(s->path, dir, len) == 0) {
			if (slot_stale(s)) {
				slot_clear(s);
				continue;
			}
			s->used = ++ep->tick;
			int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
			int e = errno;
			pthread_mutex_unlock(&ep->mu);
			if (fd < 0)
				return e;
			out->fd = fd;
			out->own = true;
			return 0;
		}
		if (s->len < len && dir[s->len] == '/' && memcmp(s->path, dir, s->len) == 0 &&
		    (!best || s->len > best->len))
			best = s;
	}
	if (best && slot_stale(best)) {
		slot_clear(best);
		best = NULL;
	}
	if (best) {
		best->used = ++ep->tick;
		base = fcntl(best->fd, F_DUPFD_CLOEXEC, 0);
		if (base < 0) {
			base = ep->rootfd;
		} else {
			base_own = true;
			skip = best->len + 1;
		}
	}
	pthread_mutex_unlock(&ep->mu);

	int e = 0;
	int fd = open_beneath(ep, base, dir + skip, len - skip, &e);
	if (base_own)
		close(base);
	if (fd < 0)
		return e;

	int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (keep >= 0) {
		pthread_mutex_lock(&ep->mu);
		struct dir_slot *victim = NULL;
		bool present = false;
		for (size_t i = 0; i < DIR_CACHE; i++) {
			struct dir_slot *s = &ep->cache[i];
			if (s->path && s->len == len && memcmp(s->path, dir, len) == 0) {
				present = true; /* another thread got there first */
				break;
			}
			if (!victim || !s->path || (victim->path && s->used < victim->used))
				victim = s;
		}
		if (!present) {
			if (victim->path) {
				close(victim->fd);
				free(victim->path);
			}
			victim->path = gm_xstrndup(dir, len);
			victim->len = len;
			victim->fd = keep;
			victim->used = ++ep->tick;
			keep = -1;
		}
		pthread_mutex_unlock(&ep->mu);
		if (keep >= 0)
			close(keep);
	}
	out->fd = fd;
	out->own = true;
	return 0;
}

/* Drops cached descriptors of dir and everything below it. */
static void dir_forget(struct local_ep *ep, const char *dir, size_t len)
{
	pthread_mutex_lock(&ep->mu);
	for (size_t i = 0; i < DIR_CACHE; i++) {
		struct dir_slot *s = &ep->cache[i];
		if (s->path && s->len >= len && memcmp(s->path, dir, len) == 0 &&
		    (s->len == len || s->path[len] == '/'))
			slot_clear(s);
	}
	pthread_mutex_unlock(&ep->mu);
}

/* Checks path and resolves its parent directory; *name is its last component. */
static enum gm_rc resolve(struct local_ep *ep, const char *path, struct dref *dir,
                          const char **name, const char *what, struct gm_err *err)
{
	enum gm_rc rc = check_path(ep, path, false, err);
	if (rc != GM_OK)
		return rc;
	size_t dlen;
	split_path(path, &dlen, name);
	int e = dir_open(ep, path, dlen, dir);
	if (e)
		return sys_fail(ep, err, e, what, path);
	return GM_OK;
}

static void temp_name(struct local_ep *ep, char out[64])
{
	uint64_t n = atomic_fetch_add(&ep->seq, 1);
	snprintf(out, 64, "tmp.%ld.%08x.%llu", (long)getpid(), (unsigned)ep->nonce,
	         (unsigned long long)n);
}

/* ---- stat, list ---- */

static enum gm_rc read_link(struct local_ep *ep, int dirfd, const char *name, const char *path,
                            struct gm_buf *out, struct gm_err *err)
{
	gm_buf_reset(out);
	gm_buf_grow(out, GM_SYNC_PATH_MAX + 1);
	ssize_t n = readlinkat(dirfd, name, out->data, GM_SYNC_PATH_MAX + 1);
	if (n < 0)
		return sys_fail(ep, err, errno, "read the symlink", path);
	if ((size_t)n > GM_SYNC_PATH_MAX)
		return gm_err_set(err, GM_ERR_LIMIT, "the target of symlink '%s' is too long",
		                  path);
	out->len = (size_t)n;
	out->data[n] = '\0';
	return GM_OK;
}

static enum gm_rc local_stat(struct gm_sync_endpoint *gep, const char *path,
                             struct gm_sync_meta *meta, struct gm_buf *link, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	struct stat st;
	const char *name;
	enum gm_rc rc = check_path(ep, path, true, err);
	if (rc != GM_OK)
		return rc;
	if (!path[0]) {
		if (fstat(ep->rootfd, &st) < 0)
			return sys_fail(ep, err, errno, "stat", path);
		meta_from_stat(&st, meta);
		if (link)
			gm_buf_reset(link);
		return GM_OK;
	}
	rc = resolve(ep, path, &dir, &name, "stat", err);
	if (rc != GM_OK)
		goto out;
	if (fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = sys_fail(ep, err, errno, "stat", path);
		goto out;
	}
	meta_from_stat(&st, meta);
	if (link) {
		gm_buf_reset(link);
		if (S_ISLNK(st.st_mode))
			rc = read_link(ep, dir.fd, name, path, link, err);
	}
out:
	dref_put(&dir);
	return rc;
}

static enum gm_rc local_list(struct gm_sync_endpoint *gep, const char *path,
                             struct gm_sync_list *out, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	struct gm_buf link = GM_BUF_INIT;
	DIR *d = NULL;
	enum gm_rc rc = check_path(ep, path, true, err);
	gm_sync_list_reset(out);
	if (rc != GM_OK)
		return rc;
	int e = dir_open(ep, path, strlen(path), &dir);
	if (e) {
		rc = sys_fail(ep, err, e, "list", path);
		goto out;
	}
	/* A new open file description: a dup would share the read position with the cache. */
	int fd = openat(dir.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		e = errno;
		if (fd >= 0)
			close(fd);
		rc = sys_fail(ep, err, e, "list", path);
		goto out;
	}
	bool at_root = !path[0];
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				rc = sys_fail(ep, err, errno, "list", path);
				goto out;
			}
			break;
		}
		const char *n = de->d_name;
		if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
			continue;
		if (at_root && strcmp(n, GM_SYNC_AREA) == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* removed since readdir */
			struct gm_buf p = GM_BUF_INIT;
			gm_sync_path_join(&p, path, n, strlen(n));
			rc = sys_fail(ep, err, errno, "stat", gm_buf_cstr(&p));
			gm_buf_release(&p);
			goto out;
		}
		struct gm_sync_meta m;
		meta_from_stat(&st, &m);
		const char *target = NULL;
		if (S_ISLNK(st.st_mode)) {
			ssize_t r;
			gm_buf_grow(&link, GM_SYNC_PATH_MAX + 1);
			r = readlinkat(dirfd(d), n, link.data, GM_SYNC_PATH_MAX + 1);
			if (r < 0 && errno == ENOENT)
				continue;
			if (r < 0 || (size_t)r > GM_SYNC_PATH_MAX) {
				struct gm_buf p = GM_BUF_INIT;
				gm_sync_path_join(&p, path, n, strlen(n));
				rc = r < 0 ? sys_fail(ep, err, errno, "read the symlink",
				                      gm_buf_cstr(&p))
				           : gm_err_set(err, GM_ERR_LIMIT,
				                        "the target of symlink '%s' is too long",
				                        gm_buf_cstr(&p));
				gm_buf_release(&p);
				goto out;
			}
			link.len = (size_t)r;
			link.data[r] = '\0';
			target = link.data;
			m.size = (uint64_t)r;
		}
		gm_sync_list_add(out, n, strlen(n), target, target ? link.len : 0, &m);
	}
	gm_sync_list_sort(out);
out:
	if (d)
		closedir(d);
	dref_put(&dir);
	gm_buf_release(&link);
	return rc;
}

/* ---- reading ---- */

static void reader_free(struct local_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	gm_buf_release(&r->path);
	gm_sync_hasher_release(&r->whole_h);
	gm_sync_hasher_release(&r->chunk_h);
	free(r);
}

static enum gm_rc local_open_read(struct gm_sync_endpoint *gep, const char *path, uint64_t offset,
                                  struct gm_sync_reader **out, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	struct local_reader *r = NULL;
	const char *name;
	*out = NULL;
	enum gm_rc rc = resolve(ep, path, &dir, &name, "read", err);
	if (rc != GM_OK)
		goto out;
	if (offset % GM_SYNC_CHUNK != 0) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "cannot read '%s' from %llu: not a chunk boundary", path,
		                (unsigned long long)offset);
		goto out;
	}
	r = gm_xcalloc(1, sizeof(*r));
	r->ep = ep;
	gm_buf_adds(&r->path, path);
	r->fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (r->fd < 0 && errno == ELOOP) {
		struct gm_buf w = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "cannot read '%s': a symlink, not a regular file",
		                where(ep, path, &w));
		gm_buf_release(&w);
		goto out;
	}
	if (r->fd < 0) {
		rc = sys_fail(ep, err, errno, "read", path);
		goto out;
	}
	if (fstat(r->fd, &r->st0) < 0) {
		rc = sys_fail(ep, err, errno, "read", path);
		goto out;
	}
	if (!S_ISREG(r->st0.st_mode)) {
		struct gm_buf w = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_USAGE, "cannot read '%s': not a regular file",
		                where(ep, path, &w));
		gm_buf_release(&w);
		goto out;
	}
	r->size = (uint64_t)r->st0.st_size;
	r->off = r->chunk_start = offset;
	r->whole = offset == 0;
	if (offset > r->size)
		r->eof = true; /* shrank since the caller looked: END reports it changed */
	uint64_t left = r->size > offset ? r->size - offset : 0;
	r->bufsize = left >= READ_BUF_MAX ? READ_BUF_MAX : (size_t)left;
	if (r->bufsize < READ_BUF_MIN)
		r->bufsize = READ_BUF_MIN;
	r->buf = gm_xmalloc(r->bufsize);
	r->sparse = (uint64_t)r->st0.st_blocks * 512 < r->size;
	r->next_data = r->data_end = offset;
	if (left > r->bufsize)
		posix_fadvise(r->fd, (off_t)offset, 0, POSIX_FADV_SEQUENTIAL);
	gm_sync_hasher_init(&r->whole_h);
	gm_sync_hasher_init(&r->chunk_h);
	*out = (struct gm_sync_reader *)r;
	r = NULL;
out:
	reader_free(r);
	dref_put(&dir);
	return rc;
}

/* Where the next data region starts and ends, at or after r->off (sparse files). */
static void find_data(struct local_reader *r)
{
	off_t d = lseek(r->fd, (off_t)r->off, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO) { /* only a hole up to the end */
			r->next_data = r->data_end = r->size;
			return;
		}
		r->sparse = false; /* the file system cannot say: read everything */
		r->next_data = r->off;
		r->data_end = r->size;
		return;
	}
	r->next_data = (uint64_t)d;
	off_t h = lseek(r->fd, d, SEEK_HOLE);
	r->data_end = h < 0 ? r->size : (uint64_t)h;
}

static void feed(struct local_reader *r, const void *data, uint64_t len)
{
	/* Within the first chunk of a read from 0 the whole-file hash is the chunk hash. */
	bool first = r->whole && r->chunk_start == 0;
	if (data) {
		if (r->whole)
			gm_sync_hasher_update(&r->whole_h, data, (size_t)len);
		if (!first)
			gm_sync_hasher_update(&r->chunk_h, data, (size_t)len);
	} else {
		if (r->whole)
			gm_sync_hasher_zeros(&r->whole_h, len);
		if (!first)
			gm_sync_hasher_zeros(&r->chunk_h, len);
	}
}

static enum gm_rc local_read(struct gm_sync_reader *gr, struct gm_sync_piece *piece,
                             struct gm_err *err)
{
	struct local_reader *r = (struct local_reader *)gr;
	memset(piece, 0, sizeof(*piece));
	if (r->done)
		return gm_err_set(err, GM_ERR_USAGE, "read '%s' past its end",
		                  gm_buf_cstr(&r->path));
	for (;;) {
		bool at_end = r->eof || r->off >= r->size;
		if (r->off > r->chunk_start &&
		    (r->off - r->chunk_start == GM_SYNC_CHUNK || at_end)) {
			piece->kind = GM_SYNC_PIECE_CHUNK;
			if (r->whole && r->chunk_start == 0)
				gm_sync_hasher_digest(&r->whole_h, &piece->hash);
			else
				gm_sync_hasher_digest(&r->chunk_h, &piece->hash);
			gm_sync_hasher_reset(&r->chunk_h);
			r->chunk_start = r->off;
			return GM_OK;
		}
		if (at_end) {
			struct stat st;
			if (fstat(r->fd, &st) < 0)
				return sys_fail(r->ep, err, errno, "read", gm_buf_cstr(&r->path));
			piece->kind = GM_SYNC_PIECE_END;
			meta_from_stat(&st, &piece->meta);
			piece->changed = r->off != r->size || st.st_size != r->st0.st_size ||
			                 timespec_ns(&st.st_mtim) != timespec_ns(&r->st0.st_mtim) ||
			                 timespec_ns(&st.st_ctim) != timespec_ns(&r->st0.st_ctim);
			piece->whole_valid = r->whole;
			if (r->whole)
				gm_sync_hasher_digest(&r->whole_h, &piece->hash);
			r->done = true;
			return GM_OK;
		}
		uint64_t lim = r->chunk_start + GM_SYNC_CHUNK;
		if (lim > r->size)
			lim = r->size;
		if (r->sparse) {
			if (r->off >= r->data_end)
				find_data(r);
			if (r->off < r->next_data) {
				uint64_t end = r->next_data < lim ? r->next_data : lim;
				piece->kind = GM_SYNC_PIECE_HOLE;
				piece->len = (size_t)(end - r->off);
				feed(r, NULL, end - r->off);
				r->off = end;
				return GM_OK;
			}
			if (r->data_end < lim)
				lim = r->data_end;
		}
		size_t want = lim - r->off < r->bufsize ? (size_t)(lim - r->off) : r->bufsize;
		ssize_t n = pread(r->fd, r->buf, want, (off_t)r->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sys_fail(r->ep, err, errno, "read", gm_buf_cstr(&r->path));
		}
		if (n == 0) {
			r->eof = true; /* shrank while we read: END says changed */
			continue;
		}
		piece->kind = GM_SYNC_PIECE_DATA;
		piece->data = r->buf;
		piece->len = (size_t)n;
		feed(r, r->buf, (uint64_t)n);
		r->off += (uint64_t)n;
		return GM_OK;
	}
}

static void local_close_read(struct gm_sync_reader *gr)
{
	reader_free((struct local_reader *)gr);
}

static enum gm_rc local_hash(struct gm_sync_endpoint *gep, const char *path,
                             struct gm_sync_hash *out, struct gm_sync_meta *meta,
                             struct gm_err *err)
{
	struct gm_sync_reader *r = NULL;
	struct gm_sync_piece piece;
	enum gm_rc rc = local_open_read(gep, path, 0, &r, err);
	if (rc != GM_OK)
		return rc;
	do {
		rc = local_read(r, &piece, err);
	} while (rc == GM_OK && piece.kind != GM_SYNC_PIECE_END);
	if (rc == GM_OK) {
		*out = piece.hash;
		if (meta)
			*meta = piece.meta;
		if (piece.changed) {
			struct gm_buf w = GM_BUF_INIT;
			rc = gm_err_set(err, GM_ERR_CHANGED, "'%s' changed while it was hashed",
			                where(EP(gep), path, &w));
			gm_buf_release(&w);
		}
	}
	local_close_read(r);
	return rc;
}

/* ---- xattrs ---- */

static void put_le32(struct gm_buf *b, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	gm_buf_add(b, p, 4);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Where xattrs are read from: a /proc/self/fd path of an O_PATH descriptor, or an fd. */
struct xsrc {
	char proc[64];
	int fd;
};

static ssize_t xlist(const struct xsrc *x, char *buf, size_t size)
{
	return x->fd >= 0 ? flistxattr(x->fd, buf, size) : listxattr(x->proc, buf, size);
}

static ssize_t xget(const struct xsrc *x, const char *name, void *buf, size_t size)
{
	return x->fd >= 0 ? fgetxattr(x->fd, name, buf, size) : getxattr(x->proc, name, buf, size);
}

static enum gm_rc local_xattrs(struct gm_sync_endpoint *gep, const char *path, struct gm_buf *blob,
                               struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	struct gm_buf names = GM_BUF_INIT, val = GM_BUF_INIT;
	struct xsrc x = {.fd = -1};
	int pfd = -1;
	const char *name;
	struct stat st;
	gm_buf_reset(blob);
	enum gm_rc rc = resolve(ep, path, &dir, &name, "read the xattrs of", err);
	if (rc != GM_OK)
		goto out;
	/* O_PATH|O_NOFOLLOW: a symlink is opened as itself, a device or fifo is not opened. */
	pfd = openat(dir.fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) < 0) {
		rc = sys_fail(ep, err, errno, "read the xattrs of", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		goto out; /* symlinks and special files: none carried */
	snprintf(x.proc, sizeof(x.proc), "/proc/self/fd/%d", pfd);
	ssize_t n;
	for (;;) {
		n = xlist(&x, NULL, 0);
		if (n < 0 && errno == ENOENT && x.fd < 0) {
			/* no /proc: open the file itself (it is a file or a directory) */
			x.fd = openat(dir.fd, name,
			              O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (x.fd < 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		gm_buf_reset(&names);
		gm_buf_grow(&names, (size_t)n);
		n = xlist(&x, names.data, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			break;
	}
	if (n < 0) {
		if (errno == ENOTSUP)
			goto out;
		rc = sys_fail(ep, err, errno, "read the xattrs of", path);
		goto out;
	}
	for (ssize_t i = 0; i < n;) {
		const char *xn = names.data + i;
		size_t xl = strnlen(xn, (size_t)(n - i));
		i += (ssize_t)xl + 1;
		if (xl == 0)
			continue;
		ssize_t v;
		for (;;) {
			v = xget(&x, xn, NULL, 0);
			if (v < 0)
				break;
			gm_buf_reset(&val);
			gm_buf_grow(&val, (size_t)v + 1);
			v = xget(&x, xn, val.data, (size_t)v + 1);
			if (v >= 0 || errno != ERANGE)
				break;
		}
		if (v < 0) {
			if (errno == ENODATA)
				continue; /* removed meanwhile */
			rc = sys_fail(ep, err, errno, "read the xattrs of", path);
			goto out;
		}
		if (blob->len + 8 + xl + (size_t)v > GM_SYNC_XATTRS_MAX) {
			struct gm_buf w = GM_BUF_INIT;
			rc = gm_err_set(err, GM_ERR_LIMIT, "the xattrs of '%s' exceed %u bytes",
			                where(ep, path, &w), GM_SYNC_XATTRS_MAX);
			gm_buf_release(&w);
			goto out;
		}
		put_le32(blob, (uint32_t)xl);
		gm_buf_add(blob, xn, xl);
		put_le32(blob, (uint32_t)v);
		gm_buf_add(blob, val.data, (size_t)v);
	}
out:
	if (rc != GM_OK)
		gm_buf_reset(blob);
	if (x.fd >= 0)
		close(x.fd);
	if (pfd >= 0)
		close(pfd);
	gm_buf_release(&names);
	gm_buf_release(&val);
	dref_put(&dir);
	return rc;
}

/* Sets the xattrs of a blob on fd. */
static enum gm_rc apply_xattrs(struct local_ep *ep, int fd, const char *path,
                               const struct gm_buf *blob, struct gm_err *err)
{
	const unsigned char *p = (const unsigned char *)blob->data;
	size_t left = blob->len;
	struct gm_buf name = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	while (left > 0) {
		if (left < 4 || get_le32(p) > left - 4 || get_le32(p) == 0)
			goto bad;
		uint32_t nl = get_le32(p);
		const char *n = (const char *)p + 4;
		if (memchr(n, '\0', nl))
			goto bad;
		p += 4 + nl;
		left -= 4 + nl;
		if (left < 4 || get_le32(p) > left - 4)
			goto bad;
		uint32_t vl = get_le32(p);
		gm_buf_reset(&name);
		gm_buf_add(&name, n, nl);
		if (fsetxattr(fd, name.data, p + 4, vl, 0) < 0) {
			if (errno == ENOTSUP) {
				gm_warn("cannot keep xattr '%s' of '%s': not supported here",
				        name.data, path);
			} else {
				rc = sys_fail(ep, err, errno, "set the xattrs of", path);
				goto out;
			}
		}
		p += 4 + vl;
		left -= 4 + vl;
	}
	goto out;
bad:
	rc = gm_err_set(err, GM_ERR_PARSE, "the xattrs sent for '%s' are malformed", path);
out:
	gm_buf_release(&name);
	return rc;
}

/* ---- writing ---- */

static void writer_free(struct local_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->basis_fd >= 0)
		close(w->basis_fd);
	gm_sync_delta_free(w->delta);
	gm_sync_journal_close(&w->j);
	dref_put(&w->dir);
	gm_buf_release(&w->path);
	gm_sync_hasher_release(&w->whole_h);
	gm_sync_hasher_release(&w->chunk_h);
	free(w);
}

/* Removes the writer's temporary file (and journal) and frees it. */
static void writer_discard(struct local_writer *w)
{
	unlinkat(w->ep->areafd, w->tmp, 0);
	if (w->journalled)
		unlinkat(w->ep->areafd, w->jname, 0);
	writer_free(w);
}

static enum gm_rc no_space(struct local_writer *w, int e, uint64_t done, struct gm_err *err)
{
	struct gm_buf s = GM_BUF_INIT;
	uint64_t need = w->src_size > done ? w->src_size - done : 0;
	enum gm_rc rc = gm_err_errno(
	        err, GM_ERR_NO_SPACE, e, "no room for '%s': it still needed %llu bytes",
	        where(w->ep, gm_buf_cstr(&w->path), &s), (unsigned long long)need);
	gm_buf_release(&s);
	return rc;
}

static enum gm_rc writer_sys(struct local_writer *w, int e, const char *what, struct gm_err *err)
{
	if (e == ENOSPC || e == EDQUOT)
		return no_space(w, e, w->synced, err);
	return sys_fail(w->ep, err, e, what, gm_buf_cstr(&w->path));
}

/* Opens the temporary file of a journalled writer, resuming from a valid journal. */
static enum gm_rc open_journalled(struct local_writer *w, const struct gm_sync_meta *src,
                                  uint64_t *resume_at, struct gm_err *err)
{
	struct local_ep *ep = w->ep;
	const char *path = gm_buf_cstr(&w->path);
	struct gm_err jerr = GM_ERR_INIT;
	enum gm_rc rc = GM_OK;

	if (!(w->flags & GM_SYNC_W_NO_RESUME)) {
		rc = gm_sync_journal_load(&w->j, ep->areafd, w->jname, path, src,
		                          src->size / GM_SYNC_CHUNK, &w->whole_h, &jerr);
		if (rc == GM_OK && w->j.chunks > 0) {
			uint64_t at = w->j.chunks * GM_SYNC_CHUNK;
			struct stat st;
			w->fd = openat(ep->areafd, w->tmp, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
			if (w->fd >= 0 && fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    st.st_nlink == 1 && (uint64_t)st.st_size >= at &&
			    ftruncate(w->fd, (off_t)at) == 0) {
				w->off = w->chunk_start = w->synced = at;
				*resume_at = at;
				goto out;
			}
			gm_warn("the partial copy of '%s' is missing or short; starting it again",
			        path);
			if (w->fd >= 0)
				close(w->fd);
			w->fd = -1;
		} else if (rc == GM_ERR_PARSE) {
			gm_warn("%s; starting it again", gm_err_msg(&jerr));
		} else if (rc != GM_OK && rc != GM_ERR_NOT_FOUND) {
			gm_warn("%s; starting it again", gm_err_msg(&jerr));
		}
	}
	gm_sync_journal_close(&w->j);
	gm_sync_journal_init(&w->j);
	gm_sync_hasher_reset(&w->whole_h);
	w->fd = openat(ep->areafd, w->tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (w->fd < 0) {
		rc = writer_sys(w, errno, "write", err);
		goto out;
	}
	if (w->flags & GM_SYNC_W_NO_RESUME) {
		unlinkat(ep->areafd, w->jname, 0);
		w->journalled = false;
		rc = GM_OK;
		goto out;
	}
	rc = gm_sync_journal_create(&w->j, ep->areafd, w->jname, path, src, err);
out:
	gm_err_release(&jerr);
	return rc;
}

static enum gm_rc local_open_write(struct gm_sync_endpoint *gep, const char *path,
                                   const struct gm_sync_meta *src, unsigned flags,
                                   struct gm_sync_writer **out, uint64_t *resume_at,
                                   struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct local_writer *w = NULL;
	const char *name;
	enum gm_rc rc;
	*out = NULL;
	*resume_at = 0;
	if (!ep->writable)
		return read_only(ep, path, err);
	w = gm_xcalloc(1, sizeof(*w));
	w->ep = ep;
	w->fd = -1;
	w->basis_fd = -1;
	w->dir.fd = -1;
	w->flags = flags;
	w->src_size = src ? src->size : 0;
	gm_sync_journal_init(&w->j);
	rc = resolve(ep, path, &w->dir, &name, "write", err);
	if (rc != GM_OK)
		goto out;
	gm_buf_adds(&w->path, path);
	w->name_off = (size_t)(name - path);
	gm_sync_hasher_init(&w->whole_h);
	gm_sync_hasher_init(&w->chunk_h);

	/* Large files get a name derived from their path, so a later run finds them. */
	if (src && src->size >= GM_SYNC_CHUNK) {
		struct gm_sync_hash ph;
		char hex[33];
		gm_sync_hash_buf(path, strlen(path), &ph);
		gm_sync_hash_hex(&ph, hex);
		snprintf(w->tmp, sizeof(w->tmp), "part.%s", hex);
		snprintf(w->jname, sizeof(w->jname), "journal.%s", hex);
		w->journalled = true;
		rc = open_journalled(w, src, resume_at, err);
		goto out;
	}
	if (flags & GM_SYNC_W_NO_RESUME) {
		/* a journal left from when this path was a large file */
		struct gm_sync_hash ph;
		char hex[33], n[64];
		gm_sync_hash_buf(path, strlen(path), &ph);
		gm_sync_hash_hex(&ph, hex);
		snprintf(n, sizeof(n), "part.%s", hex);
		unlinkat(ep->areafd, n, 0);
		snprintf(n, sizeof(n), "journal.%s", hex);
		unlinkat(ep->areafd, n, 0);
	}
	temp_name(ep, w->tmp);
	w->fd = openat(ep->areafd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (w->fd < 0)
		rc = writer_sys(w, errno, "write", err);
out:
	if (rc != GM_OK) {
		if (w->fd >= 0 || w->journalled)
			writer_discard(w);
		else
			writer_free(w);
		return rc;
	}
	*out = (struct gm_sync_writer *)w;
	return GM_OK;
}

static enum gm_rc writer_room(struct local_writer *w, uint64_t len, struct gm_err *err)
{
	if (w->failed)
		return gm_err_set(err, GM_ERR_USAGE, "'%s' was abandoned after an error",
		                  gm_buf_cstr(&w->path));
	if (w->patching)
		return GM_OK; /* no chunks: the whole-file hash at commit is the check */
	if (w->off - w->chunk_start + len > GM_SYNC_CHUNK)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "data for '%s' crosses a chunk boundary without a chunk hash",
		                  gm_buf_cstr(&w->path));
	return GM_OK;
}

/* Writes len bytes at the writer's offset and hashes them. */
static enum gm_rc writer_put(struct local_writer *w, const void *data, size_t len,
                             struct gm_err *err)
{
	const unsigned char *p = data;
	size_t left = len;
	uint64_t off = w->off;
	while (left > 0) {
		ssize_t n = pwrite(w->fd, p, left, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->failed = true;
			if (errno == ENOSPC || errno == EDQUOT)
				return no_space(w, errno, off, err);
			return writer_sys(w, errno, "write", err);
		}
		p += n;
		left -= (size_t)n;
		off += (uint64_t)n;
	}
	gm_sync_hasher_update(&w->whole_h, data, len);
	if (w->chunk_start > 0)
		gm_sync_hasher_update(&w->chunk_h, data, len);
	w->off += len;
	w->end_hole = false;
	return GM_OK;
}

/* Refuses the chunked operations on a writer from open_patch, and patch on the others. */
static enum gm_rc wrong_writer(struct local_writer *w, bool patching, struct gm_err *err)
{
	if (w->patching == patching)
		return GM_OK;
	w->failed = true;
	return gm_err_set(err, GM_ERR_USAGE, "'%s': %s", gm_buf_cstr(&w->path),
	                  patching ? "patch on a writer not opened with open_patch"
	                           : "data for a writer that takes a delta");
}

static enum gm_rc local_write(struct gm_sync_writer *gw, const void *data, size_t len,
                              struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = wrong_writer(w, false, err);
	if (rc == GM_OK)
		rc = writer_room(w, len, err);
	if (rc != GM_OK)
		return rc;
	return writer_put(w, data, len, err);
}

static enum gm_rc local_hole(struct gm_sync_writer *gw, uint64_t len, struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = wrong_writer(w, false, err);
	if (rc == GM_OK)
		rc = writer_room(w, len, err);
	if (rc != GM_OK)
		return rc;
	gm_sync_hasher_zeros(&w->whole_h, len);
	if (w->chunk_start > 0)
		gm_sync_hasher_zeros(&w->chunk_h, len);
	w->off += len;
	if (len)
		w->end_hole = true;
	return GM_OK;
}

static enum gm_rc local_chunk(struct gm_sync_writer *gw, const struct gm_sync_hash *src_hash,
                              struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = wrong_writer(w, false, err);
	if (rc == GM_OK)
		rc = writer_room(w, 0, err);
	if (rc != GM_OK)
		return rc;
	if (w->off == w->chunk_start)
		return gm_err_set(err, GM_ERR_PROTOCOL, "a chunk hash for '%s' without data",
		                  gm_buf_cstr(&w->path));
	struct gm_sync_hash mine;
	if (w->chunk_start == 0)
		gm_sync_hasher_digest(&w->whole_h, &mine);
	else
		gm_sync_hasher_digest(&w->chunk_h, &mine);
	if (!gm_sync_hash_equal(&mine, src_hash)) {
		struct gm_buf s = GM_BUF_INIT;
		w->failed = true;
		rc = gm_err_set(err, GM_ERR_MISMATCH,
		                "'%s': bytes %llu-%llu arrived different from the source (chunk "
		                "hash mismatch); nothing was put in place",
		                where(w->ep, gm_buf_cstr(&w->path), &s),
		                (unsigned long long)w->chunk_start, (unsigned long long)w->off);
		gm_buf_release(&s);
		return rc;
	}
	if (w->journalled && w->off - w->chunk_start == GM_SYNC_CHUNK) {
		if (fdatasync(w->fd) < 0) {
			w->failed = true;
			return writer_sys(w, errno, "write", err);
		}
		rc = gm_sync_journal_append(&w->j, w->off / GM_SYNC_CHUNK - 1, src_hash,
		                            &w->whole_h, err);
		if (rc != GM_OK) {
			w->failed = true;
			return rc;
		}
		w->synced = w->off;
	}
	gm_sync_hasher_reset(&w->chunk_h);
	w->chunk_start = w->off;
	return GM_OK;
}

static enum gm_rc local_commit(struct gm_sync_writer *gw, const struct gm_sync_hash *whole,
                               const struct gm_sync_meta *meta, const struct gm_buf *xattrs,
                               struct gm_sync_hash *written, struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	struct local_ep *ep = w->ep;
	const char *path = gm_buf_cstr(&w->path);
	const char *name = path + w->name_off;
	struct gm_sync_hash mine;
	struct gm_buf s = GM_BUF_INIT;
	enum gm_rc rc = writer_room(w, 0, err);
	if (rc != GM_OK)
		goto fail;
	if (w->patching && (!w->patch_eof || !whole)) {
		/* a rebuilt file is proven only by the source's whole-file hash */
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "'%s': %s; nothing was put in place",
		                where(ep, path, &s),
		                !w->patch_eof
		                        ? "the delta did not reach its end"
		                        : "a rebuilt file needs the source's whole-file hash");
		goto fail;
	}
	gm_sync_hasher_digest(&w->whole_h, &mine);
	if (whole && !gm_sync_hash_equal(whole, &mine)) {
		rc = gm_err_set(err, GM_ERR_MISMATCH,
		                "'%s' arrived different from the source (whole-file hash "
		                "mismatch); nothing was put in place",
		                where(ep, path, &s));
		goto fail;
	}
	if (w->end_hole && ftruncate(w->fd, (off_t)w->off) < 0) {
		rc = writer_sys(w, errno, "write", err);
		goto fail;
	}
	if (meta) {
		if ((w->flags & GM_SYNC_W_OWNER) && fchown(w->fd, meta->uid, meta->gid) < 0) {
			rc = writer_sys(w, errno, "set the owner of", err);
			goto fail;
		}
		if (fchmod(w->fd, meta->mode & 07777) < 0) {
			rc = writer_sys(w, errno, "set the mode of", err);
			goto fail;
		}
	}
	if ((w->flags & GM_SYNC_W_XATTRS) && xattrs && xattrs->len) {
		rc = apply_xattrs(ep, w->fd, path, xattrs, err);
		if (rc != GM_OK)
			goto fail;
	}
	if (meta) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}};
		ns_to_timespec(meta->mtime_ns, &ts[1]);
		if (futimens(w->fd, ts) < 0) {
			rc = writer_sys(w, errno, "set the time of", err);
			goto fail;
		}
	}
	if ((w->flags & GM_SYNC_W_FSYNC) && fsync(w->fd) < 0) {
		rc = writer_sys(w, errno, "write", err);
		goto fail;
	}
	if (renameat(ep->areafd, w->tmp, w->dir.fd, name) < 0) {
		if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST)
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "cannot put '%s' in place: a directory is in the way",
			                where(ep, path, &s));
		else
			rc = writer_sys(w, errno, "put in place", err);
		goto fail;
	}
	if (w->journalled)
		unlinkat(ep->areafd, w->jname, 0);
	if (written)
		*written = mine;
	gm_buf_release(&s);
	writer_free(w);
	return GM_OK;
fail:
	gm_buf_release(&s);
	writer_discard(w);
	return rc;
}

static void local_abort(struct gm_sync_writer *gw, bool keep)
{
	struct local_writer *w = (struct local_writer *)gw;
	if (!w)
		return;
	if (keep && w->journalled)
		writer_free(w); /* part file and journal stay for the next run */
	else
		writer_discard(w);
}

/* ---- deltas ---- */

/* Opens the regular file path read-only for a delta (its parent in dir). */
static enum gm_rc open_basis(struct local_ep *ep, const char *path, struct dref *dir, int *fd,
                             struct stat *st, struct gm_err *err)
{
	const char *name;
	*fd = -1;
	enum gm_rc rc = resolve(ep, path, dir, &name, "read", err);
	if (rc != GM_OK)
		return rc;
	*fd = openat(dir->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0)
		return sys_fail(ep, err, errno, "read", path);
	if (fstat(*fd, st) < 0)
		return sys_fail(ep, err, errno, "read", path);
	if (!S_ISREG(st->st_mode)) {
		struct gm_buf w = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_USAGE, "cannot read '%s': not a regular file",
		                where(ep, path, &w));
		gm_buf_release(&w);
	}
	return rc;
}

static enum gm_rc local_signature(struct gm_sync_endpoint *gep, const char *path,
                                  struct gm_sync_meta *basis, struct gm_buf *sig,
                                  struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	struct stat st0, st1;
	int fd = -1;
	gm_buf_reset(sig);
	enum gm_rc rc = open_basis(ep, path, &dir, &fd, &st0, err);
	if (rc != GM_OK)
		goto out;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = gm_sync_delta_signature(fd, (uint64_t)st0.st_size, sig, err);
	if (rc != GM_OK)
		goto out;
	if (fstat(fd, &st1) < 0) {
		rc = sys_fail(ep, err, errno, "read", path);
		goto out;
	}
	if (st1.st_size != st0.st_size || timespec_ns(&st1.st_mtim) != timespec_ns(&st0.st_mtim) ||
	    timespec_ns(&st1.st_ctim) != timespec_ns(&st0.st_ctim)) {
		struct gm_buf w = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_CHANGED,
		                "'%s' changed while its signature was computed",
		                where(ep, path, &w));
		gm_buf_release(&w);
		goto out;
	}
	meta_from_stat(&st0, basis);
out:
	if (rc != GM_OK)
		gm_buf_reset(sig);
	if (fd >= 0)
		close(fd);
	dref_put(&dir);
	return rc;
}

/* Where the patcher's rebuilt bytes go: the writer's normal path. */
static enum gm_rc patch_emit(void *ctx, const void *data, size_t len, struct gm_err *err)
{
	struct local_writer *w = ctx;
	if (w->failed)
		return gm_err_set(err, GM_ERR_USAGE, "'%s' was abandoned after an error",
		                  gm_buf_cstr(&w->path));
	return writer_put(w, data, len, err);
}

static enum gm_rc local_open_patch(struct gm_sync_endpoint *gep, const char *path,
                                   const struct gm_sync_meta *src, const struct gm_sync_meta *basis,
                                   unsigned flags, struct gm_sync_writer **out, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct local_writer *w = NULL;
	struct stat st;
	enum gm_rc rc;
	*out = NULL;
	if (!ep->writable)
		return read_only(ep, path, err);
	w = gm_xcalloc(1, sizeof(*w));
	w->ep = ep;
	w->fd = -1;
	w->basis_fd = -1;
	w->dir.fd = -1;
	w->flags = flags;
	w->patching = true;
	w->src_size = src->size;
	gm_sync_journal_init(&w->j);
	gm_sync_hasher_init(&w->whole_h);
	gm_sync_hasher_init(&w->chunk_h);
	gm_buf_adds(&w->path, path);
	rc = open_basis(ep, path, &w->dir, &w->basis_fd, &st, err);
	if (rc != GM_OK)
		goto out;
	w->name_off = (size_t)(strrchr(path, '/') ? strrchr(path, '/') + 1 - path : 0);
	if ((uint64_t)st.st_size != basis->size || timespec_ns(&st.st_mtim) != basis->mtime_ns ||
	    (basis->ino && (uint64_t)st.st_ino != basis->ino)) {
		struct gm_buf wh = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_CHANGED,
		                "'%s' changed since its signature was taken; send it whole",
		                where(ep, path, &wh));
		gm_buf_release(&wh);
		goto out;
	}
	temp_name(ep, w->tmp);
	w->fd = openat(ep->areafd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (w->fd < 0) {
		rc = writer_sys(w, errno, "write", err);
		goto out;
	}
	posix_fadvise(w->basis_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = gm_sync_delta_patch_begin(w->basis_fd, (uint64_t)st.st_size, src->size, patch_emit, w,
	                               &w->delta, err);
out:
	if (rc != GM_OK) {
		if (w->fd >= 0)
			writer_discard(w);
		else
			writer_free(w);
		return rc;
	}
	*out = (struct gm_sync_writer *)w;
	return GM_OK;
}

static enum gm_rc local_patch(struct gm_sync_writer *gw, const void *delta, size_t len, bool eof,
                              struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = wrong_writer(w, true, err);
	if (rc == GM_OK)
		rc = writer_room(w, 0, err);
	if (rc == GM_OK && w->patch_eof && len)
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "'%s': delta bytes after its end",
		                gm_buf_cstr(&w->path));
	if (rc == GM_OK)
		rc = gm_sync_delta_patch_feed(w->delta, delta, len, eof, err);
	if (rc != GM_OK) {
		w->failed = true;
		return rc;
	}
	if (eof)
		w->patch_eof = true;
	return GM_OK;
}

/* ---- directories, links, removal, metadata ---- */

static enum gm_rc local_mkdir(struct gm_sync_endpoint *gep, const char *path,
                              const struct gm_sync_meta *meta, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	const char *name;
	struct stat st;
	if (!ep->writable)
		return read_only(ep, path, err);
	enum gm_rc rc = resolve(ep, path, &dir, &name, "create the directory", err);
	if (rc != GM_OK)
		goto out;
	mode_t mode = meta ? meta->mode & 07777 : 0755;
	/* Keep it writable for us until set_meta gives it its final mode. */
	if (!ep->root_user)
		mode |= S_IRWXU;
	if (mkdirat(dir.fd, name, mode) < 0) {
		int e = errno;
		if (e == EEXIST && fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISDIR(st.st_mode))
				goto out;
			struct gm_buf w = GM_BUF_INIT;
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "cannot create the directory '%s': something else is there",
			                where(ep, path, &w));
			gm_buf_release(&w);
			goto out;
		}
		rc = sys_fail(ep, err, e, "create the directory", path);
		goto out;
	}
	/* The umask may have taken bits away. */
	if (fchmodat(dir.fd, name, mode, AT_SYMLINK_NOFOLLOW) < 0)
		rc = sys_fail(ep, err, errno, "set the mode of", path);
out:
	dref_put(&dir);
	return rc;
}

static enum gm_rc local_symlink(struct gm_sync_endpoint *gep, const char *path, const char *target,
                                const struct gm_sync_meta *meta, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	const char *name;
	char tmp[64];
	struct gm_buf w = GM_BUF_INIT;
	if (!ep->writable)
		return read_only(ep, path, err);
	enum gm_rc rc = resolve(ep, path, &dir, &name, "create the symlink", err);
	if (rc != GM_OK)
		goto out;
	size_t tl = strlen(target);
	if (tl == 0 || tl >= GM_SYNC_PATH_MAX) {
		rc = gm_err_set(err, GM_ERR_USAGE, "cannot create the symlink '%s': bad target",
		                where(ep, path, &w));
		goto out;
	}
	temp_name(ep, tmp);
	if (symlinkat(target, ep->areafd, tmp) < 0) {
		rc = sys_fail(ep, err, errno, "create the symlink", path);
		goto out;
	}
	if (meta) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}};
		ns_to_timespec(meta->mtime_ns, &ts[1]);
		utimensat(ep->areafd, tmp, ts, AT_SYMLINK_NOFOLLOW);
	}
	if (renameat(ep->areafd, tmp, dir.fd, name) < 0) {
		int e = errno;
		unlinkat(ep->areafd, tmp, 0);
		if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "cannot create the symlink '%s': a directory is in the way",
			                where(ep, path, &w));
		else
			rc = sys_fail(ep, err, e, "create the symlink", path);
	}
out:
	gm_buf_release(&w);
	dref_put(&dir);
	return rc;
}

static enum gm_rc local_hardlink(struct gm_sync_endpoint *gep, const char *existing,
                                 const char *path, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref from = {-1, false}, to = {-1, false};
	const char *fname, *tname;
	char tmp[64];
	struct gm_buf w = GM_BUF_INIT;
	if (!ep->writable)
		return read_only(ep, path, err);
	enum gm_rc rc = resolve(ep, existing, &from, &fname, "link to", err);
	if (rc != GM_OK)
		goto out;
	rc = resolve(ep, path, &to, &tname, "create the link", err);
	if (rc != GM_OK)
		goto out;
	temp_name(ep, tmp);
	if (linkat(from.fd, fname, ep->areafd, tmp, 0) < 0) {
		rc = sys_fail(ep, err, errno, "link to", existing);
		goto out;
	}
	if (renameat(ep->areafd, tmp, to.fd, tname) < 0) {
		int e = errno;
		if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "cannot create the link '%s': a directory is in the way",
			                where(ep, path, &w));
		else
			rc = sys_fail(ep, err, e, "create the link", path);
	}
	/* rename() between two names of one file does nothing: drop the temporary name. */
	unlinkat(ep->areafd, tmp, 0);
out:
	gm_buf_release(&w);
	dref_put(&from);
	dref_put(&to);
	return rc;
}

/* Empties the directory fd (consumed), never following a symlink. */
static int remove_tree(int fd, int depth)
{
	if (depth > REMOVE_DEPTH) {
		close(fd);
		return ELOOP;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return e;
	}
	int e = 0;
	/* Deleting while reading may hide entries: read again until a pass finds none. */
	for (int pass = 0; pass < 8 && !e; pass++) {
		bool seen = false;
		rewinddir(d);
		for (;;) {
			errno = 0;
			struct dirent *de = readdir(d);
			if (!de) {
				e = errno;
				break;
			}
			const char *n = de->d_name;
			if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
				continue;
			seen = true;
			if (de->d_type != DT_DIR && unlinkat(dirfd(d), n, 0) == 0)
				continue;
			if (de->d_type != DT_DIR && errno != EISDIR) {
				if (errno == ENOENT)
					continue;
				e = errno;
				break;
			}
			int sub = openat(dirfd(d), n,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				/* became something else (a symlink?): remove that name itself */
				if ((errno == ENOTDIR || errno == ELOOP) &&
				    unlinkat(dirfd(d), n, 0) == 0)
					continue;
				if (errno == ENOENT)
					continue;
				e = errno;
				break;
			}
			e = remove_tree(sub, depth + 1);
			if (e)
				break;
			if (unlinkat(dirfd(d), n, AT_REMOVEDIR) < 0 && errno != ENOENT) {
				e = errno;
				break;
			}
		}
		if (!seen)
			break;
	}
	closedir(d);
	return e;
}

static enum gm_rc local_remove(struct gm_sync_endpoint *gep, const char *path, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	const char *name;
	struct stat st;
	if (!ep->writable)
		return read_only(ep, path, err);
	enum gm_rc rc = resolve(ep, path, &dir, &name, "remove", err);
	if (rc != GM_OK)
		goto out;
	if (fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = sys_fail(ep, err, errno, "remove", path);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && unlinkat(dir.fd, name, 0) == 0)
		goto out;
	if (!S_ISDIR(st.st_mode) && errno != EISDIR) {
		rc = sys_fail(ep, err, errno, "remove", path);
		goto out;
	}
	dir_forget(ep, path, strlen(path));
	int fd = openat(dir.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = fd < 0 ? errno : remove_tree(fd, 0);
	if (!e && unlinkat(dir.fd, name, AT_REMOVEDIR) < 0)
		e = errno;
	if (e)
		rc = sys_fail(ep, err, e, "remove", path);
out:
	dref_put(&dir);
	return rc;
}

static enum gm_rc local_set_meta(struct gm_sync_endpoint *gep, const char *path,
                                 const struct gm_sync_meta *meta, unsigned flags,
                                 struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct dref dir = {-1, false};
	const char *name = ".";
	enum gm_rc rc;
	if (!ep->writable)
		return read_only(ep, path, err);
	if (!path[0]) {
		rc = check_path(ep, path, true, err);
		dir.fd = ep->rootfd;
	} else {
		rc = resolve(ep, path, &dir, &name, "set the metadata of", err);
	}
	if (rc != GM_OK)
		goto out;
	int fl = path[0] ? AT_SYMLINK_NOFOLLOW : 0; /* the root is the directory itself */
	if ((flags & GM_SYNC_W_OWNER) && fchownat(dir.fd, name, meta->uid, meta->gid, fl) < 0) {
		rc = sys_fail(ep, err, errno, "set the owner of", path);
		goto out;
	}
	/* glibc does this without following: a symlink gives EOPNOTSUPP (links have no mode). */
	if (fchmodat(dir.fd, name, meta->mode & 07777, fl) < 0 && errno != EOPNOTSUPP) {
		rc = sys_fail(ep, err, errno, "set the mode of", path);
		goto out;
	}
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}};
	ns_to_timespec(meta->mtime_ns, &ts[1]);
	if (utimensat(dir.fd, name, ts, fl) < 0)
		rc = sys_fail(ep, err, errno, "set the time of", path);
out:
	dref_put(&dir);
	return rc;
}

static enum gm_rc local_space(struct gm_sync_endpoint *gep, uint64_t *avail, struct gm_err *err)
{
	struct local_ep *ep = EP(gep);
	struct statvfs sv;
	if (fstatvfs(ep->rootfd, &sv) < 0)
		return sys_fail(ep, err, errno, "check the free space of", "");
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return GM_OK;
}

static void local_close(struct gm_sync_endpoint *gep)
{
	struct local_ep *ep = EP(gep);
	if (!ep)
		return;
	for (size_t i = 0; i < DIR_CACHE; i++) {
		if (ep->cache[i].path) {
			close(ep->cache[i].fd);
			free(ep->cache[i].path);
		}
	}
	if (ep->lockfd >= 0)
		close(ep->lockfd); /* drops the flock */
	if (ep->areafd >= 0)
		close(ep->areafd);
	if (ep->rootfd >= 0)
		close(ep->rootfd);
	pthread_mutex_destroy(&ep->mu);
	gm_buf_release(&ep->base.where);
	free(ep);
}

static const struct gm_sync_ops local_ops = {
        .stat = local_stat,
        .list = local_list,
        .hash = local_hash,
        .xattrs = local_xattrs,
        .space = local_space,
        .open_read = local_open_read,
        .read = local_read,
        .close_read = local_close_read,
        .open_write = local_open_write,
        .write = local_write,
        .hole = local_hole,
        .chunk = local_chunk,
        .commit = local_commit,
        .abort = local_abort,
        .mkdir = local_mkdir,
        .symlink = local_symlink,
        .hardlink = local_hardlink,
        .remove = local_remove,
        .set_meta = local_set_meta,
        .signature = local_signature,
        .open_patch = local_open_patch,
        .patch = local_patch,
        .close = local_close,
};

/* Removes what dead runs left in the area: unique temporary files, and part files or
 * journals that lost their partner. Only called with the lock held. */
static void clean_area(struct local_ep *ep)
{
	int fd = openat(ep->areafd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		const char *other = NULL;
		struct stat st;
		char buf[300];
		if (strncmp(n, "tmp.", 4) == 0) {
			unlinkat(ep->areafd, n, 0);
			continue;
		}
		if (strncmp(n, "part.", 5) == 0)
			other = "journal.";
		else if (strncmp(n, "journal.", 8) == 0)
			other = "part.";
		else
			continue;
		snprintf(buf, sizeof(buf), "%s%s", other, strchr(n, '.') + 1);
		if (fstatat(ep->areafd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			unlinkat(ep->areafd, n, 0);
	}
	closedir(d);
}

/* Writes a fresh random token into the lock file (the lock is held). */
static enum gm_rc write_token(struct local_ep *ep, const char *root, struct gm_err *err)
{
	unsigned char raw[16];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gm_err_errno(err, GM_ERR_IO, errno,
			                    "cannot make a lock token for '%s'", root);
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(ep->token + 2 * i, 3, "%02x", raw[i]);
	if (ftruncate(ep->lockfd, 0) < 0 || pwrite(ep->lockfd, ep->token, 32, 0) != 32)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot write '%s/%s/%s'",
		                    root, GM_SYNC_AREA, LOCK_NAME);
	return GM_OK;
}

/* Joins the writer holding the lock, proving with its token that it is the same run. */
static enum gm_rc join_lock(struct local_ep *ep, const char *root, const char *token,
                            struct gm_err *err)
{
	char have[64];
	ssize_t n;
	if (flock(ep->lockfd, LOCK_EX | LOCK_NB) == 0) {
		close(ep->lockfd); /* drops the lock we should not have got */
		ep->lockfd = -1;
		return gm_err_set(err, GM_ERR_USAGE,
		                  "cannot join the writer of '%s': no gpumigrate sync is writing "
		                  "there any more",
		                  root);
	}
	if (errno != EWOULDBLOCK)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot lock '%s/%s/%s'",
		                    root, GM_SYNC_AREA, LOCK_NAME);
	n = pread(ep->lockfd, have, sizeof(have), 0);
	if (n < 0)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot read '%s/%s/%s'",
		                    root, GM_SYNC_AREA, LOCK_NAME);
	if (strlen(token) != 32 || n != 32 || memcmp(have, token, 32) != 0)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "cannot join the writer of '%s': another gpumigrate sync is "
		                  "writing there (the lock token differs); wait for it to finish",
		                  root);
	ep->secondary = true;
	close(ep->lockfd); /* holding it open would be no lock at all: the primary's counts */
	ep->lockfd = -1;
	return GM_OK;
}

static enum gm_rc open_area(struct local_ep *ep, const char *root, const char *join_token,
                            struct gm_err *err)
{
	struct stat st;
	if (mkdirat(ep->rootfd, GM_SYNC_AREA, 0700) < 0 && errno != EEXIST)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot create '%s/%s'",
		                    root, GM_SYNC_AREA);
	ep->areafd =
	        openat(ep->rootfd, GM_SYNC_AREA, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ep->areafd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s/%s' is not a directory; move it away and retry",
			                  root, GM_SYNC_AREA);
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot open '%s/%s'",
		                    root, GM_SYNC_AREA);
	}
	/* Only we may put files there: someone else's could be links to files elsewhere. */
	if (fstat(ep->areafd, &st) < 0)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot open '%s/%s'",
		                    root, GM_SYNC_AREA);
	if (st.st_uid != geteuid())
		return gm_err_set(err, GM_ERR_PERMISSION,
		                  "'%s/%s' belongs to another user; remove it and retry", root,
		                  GM_SYNC_AREA);
	if ((st.st_mode & 077) && fchmod(ep->areafd, 0700) < 0)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno,
		                    "cannot make '%s/%s' private", root, GM_SYNC_AREA);
	ep->lockfd = openat(ep->areafd, LOCK_NAME,
	                    O_RDWR | (join_token ? 0 : O_CREAT) | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (ep->lockfd < 0 && join_token && errno == ENOENT)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "cannot join the writer of '%s': no gpumigrate sync is writing "
		                  "there",
		                  root);
	if (ep->lockfd < 0)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot open '%s/%s/%s'",
		                    root, GM_SYNC_AREA, LOCK_NAME);
	if (join_token)
		return join_lock(ep, root, join_token, err);
	if (flock(ep->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "another gpumigrate sync is writing to '%s'; wait for it "
			                  "to finish",
			                  root);
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot lock '%s/%s/%s'",
		                    root, GM_SYNC_AREA, LOCK_NAME);
	}
	clean_area(ep);
	return write_token(ep, root, err);
}

const char *gm_sync_local_token(const struct gm_sync_endpoint *ep)
{
	const struct local_ep *l = (const struct local_ep *)ep;
	if (!ep || ep->ops != &local_ops || !l->writable || l->secondary || !l->token[0])
		return NULL;
	return l->token;
}

enum gm_rc gm_sync_local_open(const char *root, const struct gm_sync_open_opts *opts,
                              struct gm_sync_endpoint **out, struct gm_err *err)
{
	struct local_ep *ep = gm_xcalloc(1, sizeof(*ep));
	enum gm_rc rc = GM_OK;
	bool writable = opts && opts->writable;
	*out = NULL;
	ep->base.ops = &local_ops;
	ep->rootfd = ep->areafd = ep->lockfd = -1;
	ep->writable = writable;
	ep->root_user = geteuid() == 0;
	pthread_mutex_init(&ep->mu, NULL);
	gm_buf_adds(&ep->base.where, root);
	ep->base.caps = GM_SYNC_CAP_SYMLINKS | GM_SYNC_CAP_HARDLINKS | GM_SYNC_CAP_HOLES |
	                GM_SYNC_CAP_MODE | GM_SYNC_CAP_RESUME | GM_SYNC_CAP_XATTRS |
	                (ep->root_user ? GM_SYNC_CAP_OWNER : 0);

	const char *dir = root[0] ? root : ".";
	ep->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ep->rootfd < 0 && errno == ENOENT && opts && opts->create && writable) {
		if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno,
			                  "cannot create the directory '%s'", root);
			goto out;
		}
		ep->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (ep->rootfd < 0) {
		if (errno == ENOTDIR)
			rc = gm_err_set(err, GM_ERR_USAGE, "'%s' is not a directory", root);
		else
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot open '%s'",
			                  root);
		goto out;
	}

	/* openat2 (Linux 5.6) resolves beneath the root in one call; the walk is the fallback.
	 * GM_SYNC_LOCAL_NO_OPENAT2 forces the walk (tests of the fallback). */
	const char *no2 = getenv("GM_SYNC_LOCAL_NO_OPENAT2");
	bool use2 = !(no2 && no2[0] && strcmp(no2, "0") != 0);
	if (use2) {
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
		long fd = syscall(SYS_openat2, ep->rootfd, ".", &how, sizeof(how));
		if (fd >= 0)
			close((int)fd);
		else if (errno == ENOSYS || errno == EINVAL || errno == EPERM)
			use2 = false; /* missing, or refused by a seccomp filter */
	}
	atomic_init(&ep->openat2, use2);
	atomic_init(&ep->seq, 0);

	if (getrandom(&ep->nonce, sizeof(ep->nonce), GRND_NONBLOCK) != sizeof(ep->nonce))
		ep->nonce = (uint32_t)(uintptr_t)ep ^ (uint32_t)getpid();
	if (writable)
		rc = open_area(ep, root, opts->join_token, err);
out:
	if (rc != GM_OK) {
		local_close(&ep->base);
		return rc;
	}
	*out = &ep->base;
	return GM_OK;
}

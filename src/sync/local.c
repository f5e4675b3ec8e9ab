/* The local transport: a directory tree on this host. Every operation starts from a file
 * descriptor of the root and resolves the parent directory beneath it without following any
 * symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a component walk with O_NOFOLLOW
 * where openat2 is missing), then acts on the last name with *at() calls that do not follow
 * it either. So a peer's "../x", a symlink planted in the tree or swapped in between two
 * calls can never make us create, change or remove anything outside the root. Parent
 * directory descriptors are kept in a small LRU so a tree of many files in few directories
 * costs one resolution per directory, not one per file.
 *
 * This file holds what every operation shares — messages, resolution beneath the root, the
 * directory cache, metadata conversion — and the endpoint itself: open and close, the work
 * area with its lock and token, and the ops table. The operations live in local_tree.c,
 * local_read.c and local_write.c (local_impl.h). */
#include "sync/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync/local_impl.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define LOCK_NAME "lock"

/* ---- messages ---- */

const char *gm_sync_local_where(struct local_ep *ep, const char *path, struct gm_buf *out)
{
	gm_sync_endpoint_where(&ep->base, path, out);
	return gm_buf_cstr(out);
}

enum gm_rc gm_sync_local_fail(struct local_ep *ep, struct gm_err *err, int e, const char *what,
                              const char *path)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc;
	if (e == ELOOP || e == EXDEV)
		rc = gm_err_set(err, GM_ERR_PERMISSION,
		                "cannot %s '%s': a directory on its path is a symlink, which is "
		                "never followed",
		                what, gm_sync_local_where(ep, path, &w));
	else
		rc = gm_err_errno(err, gm_rc_from_errno(e), e, "cannot %s '%s'", what,
		                  gm_sync_local_where(ep, path, &w));
	gm_buf_release(&w);
	return rc;
}

enum gm_rc gm_sync_local_read_only(struct local_ep *ep, const char *path, struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc = gm_err_set(err, GM_ERR_USAGE, "cannot change '%s': opened read-only",
	                           gm_sync_local_where(ep, path, &w));
	gm_buf_release(&w);
	return rc;
}

/* Refuses anything but a relative path inside the tree, and the work area. */
enum gm_rc gm_sync_local_check_path(struct local_ep *ep, const char *path, bool allow_root,
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
		                path, gm_sync_local_where(ep, "", &w));
	else if (len == 0 && !allow_root)
		rc = gm_err_set(err, GM_ERR_USAGE, "refusing to act on the root '%s' itself",
		                gm_sync_local_where(ep, "", &w));
	else if (len >= area && memcmp(path, GM_SYNC_AREA, area) == 0 &&
	         (len == area || path[area] == '/'))
		rc = gm_err_set(err, GM_ERR_USAGE, "refusing '%s': it is gpumigrate's work area",
		                gm_sync_local_where(ep, path, &w));
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

int64_t gm_sync_local_timespec_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

void gm_sync_local_meta_from_stat(const struct stat *st, struct gm_sync_meta *m)
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
	m->mtime_ns = gm_sync_local_timespec_ns(&st->st_mtim);
	m->ctime_ns = gm_sync_local_timespec_ns(&st->st_ctim);
	m->dev = st->st_dev;
	m->ino = st->st_ino;
}

/* ---- resolving directories beneath the root ---- */

/* Drops a reference to a cached directory; the last one closes it. */
static void dir_unref(struct local_dir *d)
{
	if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1) {
		close(d->fd);
		free(d->path);
		free(d);
	}
}

void gm_sync_local_dref_put(struct local_dref *d)
{
	if (d->cached)
		dir_unref(d->cached);
	d->fd = -1;
	d->cached = NULL;
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
static bool dir_stale(const struct local_dir *d)
{
	struct stat st;
	return fstat(d->fd, &st) < 0 || st.st_nlink == 0;
}

/* Empties cache slot i (ep->mu held). */
static void slot_clear(struct local_ep *ep, size_t i)
{
	dir_unref(ep->cache[i]);
	ep->cache[i] = NULL;
}

/* Lends cached directory d to out (ep->mu held). */
static void dir_lend(struct local_ep *ep, struct local_dir *d, struct local_dref *out)
{
	d->used = ++ep->tick;
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	out->fd = d->fd;
	out->cached = d;
}

/* A descriptor of directory dir[0..len) (len 0: the root). */
int gm_sync_local_dir_open(struct local_ep *ep, const char *dir, size_t len, struct local_dref *out)
{
	*out = (struct local_dref)LOCAL_DREF_INIT;
	if (len == 0) {
		out->fd = ep->rootfd;
		return 0;
	}
	/* the deepest cached ancestor (or the directory itself) to start from, checked for
	 * removal outside the lock (fstat is a system call, and every file comes here) */
	struct local_dref base = LOCAL_DREF_INIT;
	size_t skip = 0;
	for (;;) {
		pthread_mutex_lock(&ep->mu);
		struct local_dir *best = NULL;
		for (size_t i = 0; i < GM_SYNC_LOCAL_DIR_CACHE; i++) {
			struct local_dir *d = ep->cache[i];
			if (!d || d->len > len || memcmp(d->path, dir, d->len) != 0 ||
			    (d->len < len && dir[d->len] != '/') || (best && d->len <= best->len))
				continue;
			best = d;
		}
		if (best)
			dir_lend(ep, best, &base);
		pthread_mutex_unlock(&ep->mu);
		if (!best || !dir_stale(best))
			break;
		pthread_mutex_lock(&ep->mu);
		for (size_t i = 0; i < GM_SYNC_LOCAL_DIR_CACHE; i++)
			if (ep->cache[i] == best)
				slot_clear(ep, i);
		pthread_mutex_unlock(&ep->mu);
		gm_sync_local_dref_put(&base);
	}
	if (base.cached && base.cached->len == len) {
		*out = base;
		return 0;
	}
	if (base.cached)
		skip = base.cached->len + 1;

	int e = 0;
	int fd = open_beneath(ep, base.cached ? base.fd : ep->rootfd, dir + skip, len - skip, &e);
	gm_sync_local_dref_put(&base);
	if (fd < 0)
		return e;

	struct local_dir *d = gm_xcalloc(1, sizeof(*d));
	d->path = gm_xstrndup(dir, len);
	d->len = len;
	d->fd = fd;
	atomic_init(&d->refs, 1); /* the cache's */
	pthread_mutex_lock(&ep->mu);
	size_t victim = 0;
	for (size_t i = 0; i < GM_SYNC_LOCAL_DIR_CACHE; i++) {
		struct local_dir *c = ep->cache[i];
		if (c && c->len == len && memcmp(c->path, dir, len) == 0) {
			victim = i; /* another thread got there first: ours replaces it */
			break;
		}
		if (!c || (ep->cache[victim] && c->used < ep->cache[victim]->used))
			victim = i;
	}
	if (ep->cache[victim])
		slot_clear(ep, victim);
	ep->cache[victim] = d;
	dir_lend(ep, d, out);
	pthread_mutex_unlock(&ep->mu);
	return 0;
}

/* Drops cached descriptors of dir and everything below it. */
void gm_sync_local_dir_forget(struct local_ep *ep, const char *dir, size_t len)
{
	pthread_mutex_lock(&ep->mu);
	for (size_t i = 0; i < GM_SYNC_LOCAL_DIR_CACHE; i++) {
		struct local_dir *d = ep->cache[i];
		if (d && d->len >= len && memcmp(d->path, dir, len) == 0 &&
		    (d->len == len || d->path[len] == '/'))
			slot_clear(ep, i);
	}
	pthread_mutex_unlock(&ep->mu);
}

/* Checks path and resolves its parent directory; *name is its last component. */
enum gm_rc gm_sync_local_resolve(struct local_ep *ep, const char *path, struct local_dref *dir,
                                 const char **name, const char *what, struct gm_err *err)
{
	enum gm_rc rc = gm_sync_local_check_path(ep, path, false, err);
	if (rc != GM_OK)
		return rc;
	size_t dlen;
	split_path(path, &dlen, name);
	int e = gm_sync_local_dir_open(ep, path, dlen, dir);
	if (e)
		return gm_sync_local_fail(ep, err, e, what, path);
	return GM_OK;
}

void gm_sync_local_temp_name(struct local_ep *ep, char out[64])
{
	uint64_t n = atomic_fetch_add(&ep->seq, 1);
	snprintf(out, 64, "tmp.%ld.%08x.%llu", ep->pid, (unsigned)ep->nonce, (unsigned long long)n);
}

/* ---- metadata ---- */

void gm_sync_local_mtime(int64_t mtime_ns, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ns_to_timespec(mtime_ns, &ts[1]);
}

bool gm_sync_local_stat_moved(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size ||
	       gm_sync_local_timespec_ns(&a->st_mtim) != gm_sync_local_timespec_ns(&b->st_mtim) ||
	       gm_sync_local_timespec_ns(&a->st_ctim) != gm_sync_local_timespec_ns(&b->st_ctim);
}

enum gm_rc gm_sync_local_open_file(struct local_ep *ep, int dirfd, const char *name,
                                   const char *path, int *fd, struct stat *st, struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	*fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0 && errno == ELOOP)
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "cannot read '%s': a symlink, not a regular file",
		                gm_sync_local_where(ep, path, &w));
	else if (*fd < 0 || fstat(*fd, st) < 0)
		rc = gm_sync_local_fail(ep, err, errno, "read", path);
	else if (!S_ISREG(st->st_mode))
		rc = gm_err_set(err, GM_ERR_USAGE, "cannot read '%s': not a regular file",
		                gm_sync_local_where(ep, path, &w));
	gm_buf_release(&w);
	return rc;
}

/* ---- the endpoint ---- */

static void local_close(struct gm_sync_endpoint *gep)
{
	struct local_ep *ep = local_ep_of(gep);
	if (!ep)
		return;
	for (size_t i = 0; i < GM_SYNC_LOCAL_DIR_CACHE; i++)
		if (ep->cache[i])
			slot_clear(ep, i);
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
        .stat = gm_sync_local_stat,
        .list = gm_sync_local_list,
        .hash = gm_sync_local_hash,
        .xattrs = gm_sync_local_xattrs,
        .space = gm_sync_local_space,
        .open_read = gm_sync_local_open_read,
        .read = gm_sync_local_read,
        .close_read = gm_sync_local_close_read,
        .open_write = gm_sync_local_open_write,
        .write = gm_sync_local_write,
        .hole = gm_sync_local_hole,
        .chunk = gm_sync_local_chunk,
        .commit = gm_sync_local_commit,
        .abort = gm_sync_local_abort,
        .mkdir = gm_sync_local_mkdir,
        .symlink = gm_sync_local_symlink,
        .hardlink = gm_sync_local_hardlink,
        .remove = gm_sync_local_remove,
        .set_meta = gm_sync_local_set_meta,
        .set_xattrs = gm_sync_local_set_xattrs,
        .signature = gm_sync_local_signature,
        .open_patch = gm_sync_local_open_patch,
        .patch = gm_sync_local_patch,
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
	struct gm_sync_hash raw; /* 16 random bytes, written as hex like a hash */
	size_t got = 0;
	while (got < sizeof(raw.b)) {
		ssize_t n = getrandom(raw.b + got, sizeof(raw.b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gm_err_errno(err, GM_ERR_IO, errno,
			                    "cannot make a lock token for '%s'", root);
		got += (size_t)n;
	}
	gm_sync_hash_hex(&raw, ep->token);
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

	ep->pid = (long)getpid();
	if (getrandom(&ep->nonce, sizeof(ep->nonce), GRND_NONBLOCK) != sizeof(ep->nonce))
		ep->nonce = (uint32_t)(uintptr_t)ep ^ (uint32_t)ep->pid;
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

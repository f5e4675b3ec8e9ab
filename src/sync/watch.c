/* inotify watches over a whole tree: one watch per directory, added as directories appear,
 * events folded into the set of directories to re-sync. */
#include "sync/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "sync/endpoint.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include "util/banned.h"

enum {
	WATCH_MASK = IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
	             IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW |
	             IN_EXCL_UNLINK,
	EVENT_BUF = 64 * 1024,
};

struct gm_sync_watch {
	int fd;
	struct gm_buf root;
	char **dir_of_wd; /* relative path of each watch descriptor, NULL when unused */
	size_t wd_cap, count;
};

void gm_sync_dirty_init(struct gm_sync_dirty *d)
{
	memset(d, 0, sizeof(*d));
}

static void dirty_reset(struct gm_sync_dirty *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].path);
	d->n = 0;
}

void gm_sync_dirty_release(struct gm_sync_dirty *d)
{
	if (!d)
		return;
	dirty_reset(d);
	free(d->v);
	gm_sync_dirty_init(d);
}

static void dirty_add(struct gm_sync_dirty *d, const char *path, size_t len, bool recursive)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = gm_xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	d->v[d->n].path = gm_xstrndup(path, len);
	d->v[d->n].recursive = recursive;
	d->n++;
}

static int dirty_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gm_sync_dirty_dir *)a)->path,
	              ((const struct gm_sync_dirty_dir *)b)->path);
}

/* Sorts and merges duplicates (recursive wins). */
static void dirty_settle(struct gm_sync_dirty *d)
{
	if (d->n < 2)
		return;
	qsort(d->v, d->n, sizeof(*d->v), dirty_cmp);
	size_t out = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (out && strcmp(d->v[out - 1].path, d->v[i].path) == 0) {
			d->v[out - 1].recursive |= d->v[i].recursive;
			free(d->v[i].path);
			continue;
		}
		d->v[out++] = d->v[i];
	}
	d->n = out;
}

static void remember(struct gm_sync_watch *w, int wd, const char *rel)
{
	if ((size_t)wd >= w->wd_cap) {
		size_t cap = w->wd_cap ? w->wd_cap : 64;
		while (cap <= (size_t)wd)
			cap *= 2;
		w->dir_of_wd = gm_xreallocarray(w->dir_of_wd, cap, sizeof(*w->dir_of_wd));
		memset(w->dir_of_wd + w->wd_cap, 0, (cap - w->wd_cap) * sizeof(*w->dir_of_wd));
		w->wd_cap = cap;
	}
	if (w->dir_of_wd[wd])
		free(w->dir_of_wd[wd]); /* the same directory seen again (inotify reuses the wd) */
	else
		w->count++;
	w->dir_of_wd[wd] = gm_xstrdup(rel);
}

static void forget(struct gm_sync_watch *w, int wd)
{
	if (wd < 0 || (size_t)wd >= w->wd_cap || !w->dir_of_wd[wd])
		return;
	GM_FREE(w->dir_of_wd[wd]);
	w->count--;
}

/* Watches rel and every directory below it. */
static enum gm_rc add_tree(struct gm_sync_watch *w, const char *rel, struct gm_err *err)
{
	struct gm_buf abs = GM_BUF_INIT, child = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	DIR *dir = NULL;

	gm_buf_add(&abs, w->root.data, w->root.len);
	if (rel[0]) {
		gm_buf_addch(&abs, '/');
		gm_buf_adds(&abs, rel);
	}
	int wd = inotify_add_watch(w->fd, gm_buf_cstr(&abs), WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			rc = gm_err_set(err, GM_ERR_LIMIT,
			                "out of inotify watches at '%s': raise "
			                "fs.inotify.max_user_watches (sysctl -w "
			                "fs.inotify.max_user_watches=1048576)",
			                gm_buf_cstr(&abs));
		else if (errno != ENOENT && errno != ENOTDIR)
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot watch '%s'",
			                  gm_buf_cstr(&abs));
		goto out; /* a directory that vanished meanwhile is not an error */
	}
	remember(w, wd, rel);

	int fd = open(gm_buf_cstr(&abs), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	struct dirent *de;
	while (rc == GM_OK && (de = readdir(dir))) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!rel[0] && strcmp(de->d_name, GM_SYNC_AREA) == 0)
			continue;
		gm_sync_path_join(&child, rel, de->d_name, strlen(de->d_name));
		rc = add_tree(w, gm_buf_cstr(&child), err); /* DT_UNKNOWN non-dirs fail ENOTDIR */
	}
out:
	if (dir)
		closedir(dir);
	gm_buf_release(&abs);
	gm_buf_release(&child);
	return rc;
}

enum gm_rc gm_sync_watch_open(const char *root, struct gm_sync_watch **out, struct gm_err *err)
{
	*out = NULL;
	struct gm_sync_watch *w = gm_xcalloc(1, sizeof(*w));
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		enum gm_rc rc = gm_err_errno(err, GM_ERR_LIMIT, errno,
		                             "cannot start watching '%s' (inotify)", root);
		free(w);
		return rc;
	}
	gm_buf_adds(&w->root, root);
	while (w->root.len > 1 && w->root.data[w->root.len - 1] == '/')
		gm_buf_truncate(&w->root, w->root.len - 1);
	enum gm_rc rc = add_tree(w, "", err);
	if (rc == GM_OK && w->count == 0)
		rc = gm_err_set(err, GM_ERR_NOT_FOUND, "cannot watch '%s': not a directory", root);
	if (rc != GM_OK) {
		gm_sync_watch_close(w);
		return rc;
	}
	*out = w;
	return GM_OK;
}

/* Folds one event into the dirty set. */
static enum gm_rc take_event(struct gm_sync_watch *w, const struct inotify_event *ev,
                             struct gm_sync_dirty *out, struct gm_err *err)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		dirty_add(out, "", 0, true); /* events were lost: rescan everything */
		return GM_OK;
	}
	if (ev->wd < 0 || (size_t)ev->wd >= w->wd_cap || !w->dir_of_wd[ev->wd])
		return GM_OK;
	const char *dir = w->dir_of_wd[ev->wd];
	if (ev->mask & IN_IGNORED) {
		forget(w, ev->wd);
		return GM_OK;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
		return GM_OK; /* the parent's own event names it */
	size_t name_len = ev->len ? strnlen(ev->name, ev->len) : 0;
	if (!dir[0] && name_len == strlen(GM_SYNC_AREA) &&
	    memcmp(ev->name, GM_SYNC_AREA, name_len) == 0)
		return GM_OK;
	dirty_add(out, dir, strlen(dir), false);
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && name_len) {
		struct gm_buf child = GM_BUF_INIT;
		gm_sync_path_join(&child, dir, ev->name, name_len);
		enum gm_rc rc = add_tree(w, gm_buf_cstr(&child), err);
		dirty_add(out, child.data, child.len, true);
		gm_buf_release(&child);
		return rc;
	}
	return GM_OK;
}

/* Reads every queued event. */
static enum gm_rc drain(struct gm_sync_watch *w, struct gm_sync_dirty *out, bool *got,
                        struct gm_err *err)
{
	_Alignas(struct inotify_event) char buf[EVENT_BUF];
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return GM_OK;
			return gm_err_errno(err, GM_ERR_IO, errno, "cannot read inotify events");
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			enum gm_rc rc = take_event(w, ev, out, err);
			if (rc != GM_OK)
				return rc;
			*got = true;
			p += sizeof(*ev) + ev->len;
		}
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum gm_rc gm_sync_watch_wait(struct gm_sync_watch *w, int settle_ms,
                              const volatile sig_atomic_t *stop, struct gm_sync_dirty *out,
                              struct gm_err *err)
{
	dirty_reset(out);
	bool got = false;
	long long first = 0;
	for (;;) {
		if (stop && *stop)
			return gm_err_set(err, GM_ERR_INTERRUPTED, "stopped watching");
		/* Wake up now and then to look at the stop flag. */
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		int timeout = got ? settle_ms : 200;
		int r = poll(&p, 1, timeout);
		if (r < 0 && errno != EINTR)
			return gm_err_errno(err, GM_ERR_IO, errno,
			                    "cannot wait for inotify events");
		if (r > 0) {
			bool had = got;
			enum gm_rc rc = drain(w, out, &got, err);
			if (rc != GM_OK)
				return rc;
			if (got && !had)
				first = now_ms();
			if (got && now_ms() - first < 10LL * settle_ms)
				continue;
		}
		if (got && (r == 0 || now_ms() - first >= 10LL * settle_ms))
			break;
	}
	dirty_settle(out);
	return GM_OK;
}

size_t gm_sync_watch_count(const struct gm_sync_watch *w)
{
	return w->count;
}

void gm_sync_watch_close(struct gm_sync_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->wd_cap; i++)
		free(w->dir_of_wd[i]);
	free(w->dir_of_wd);
	gm_buf_release(&w->root);
	free(w);
}

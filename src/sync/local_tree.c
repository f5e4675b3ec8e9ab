/* The tree operations of the local transport (local_impl.h): what an entry is (stat, list,
 * space) and how entries other than file contents change (mkdir, symlink, hardlink,
 * remove, set_meta). Each resolves its parent beneath the root through local.c; new names
 * are made in the work area and renamed into place, so a half-made entry is never seen. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sync/local_impl.h"

#include "util/banned.h"

#define REMOVE_DEPTH 1024

/* ---- stat, list ---- */

static enum gm_rc read_link(struct local_ep *ep, int dirfd, const char *name, const char *path,
                            struct gm_buf *out, struct gm_err *err)
{
	gm_buf_reset(out);
	gm_buf_grow(out, GM_SYNC_PATH_MAX + 1);
	ssize_t n = readlinkat(dirfd, name, out->data, GM_SYNC_PATH_MAX + 1);
	if (n < 0)
		return gm_sync_local_fail(ep, err, errno, "read the symlink", path);
	if ((size_t)n > GM_SYNC_PATH_MAX)
		return gm_err_set(err, GM_ERR_LIMIT, "the target of symlink '%s' is too long",
		                  path);
	out->len = (size_t)n;
	out->data[n] = '\0';
	return GM_OK;
}

enum gm_rc gm_sync_local_stat(struct gm_sync_endpoint *gep, const char *path,
                              struct gm_sync_meta *meta, struct gm_buf *link, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	struct stat st;
	const char *name;
	enum gm_rc rc = gm_sync_local_check_path(ep, path, true, err);
	if (rc != GM_OK)
		return rc;
	if (!path[0]) {
		if (fstat(ep->rootfd, &st) < 0)
			return gm_sync_local_fail(ep, err, errno, "stat", path);
		gm_sync_local_meta_from_stat(&st, meta);
		if (link)
			gm_buf_reset(link);
		return GM_OK;
	}
	rc = gm_sync_local_resolve(ep, path, &dir, &name, "stat", err);
	if (rc != GM_OK)
		goto out;
	if (fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = gm_sync_local_fail(ep, err, errno, "stat", path);
		goto out;
	}
	gm_sync_local_meta_from_stat(&st, meta);
	if (link) {
		gm_buf_reset(link);
		if (S_ISLNK(st.st_mode))
			rc = read_link(ep, dir.fd, name, path, link, err);
	}
out:
	gm_sync_local_dref_put(&dir);
	return rc;
}

enum gm_rc gm_sync_local_list(struct gm_sync_endpoint *gep, const char *path,
                              struct gm_sync_list *out, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	struct gm_buf link = GM_BUF_INIT;
	DIR *d = NULL;
	enum gm_rc rc = gm_sync_local_check_path(ep, path, true, err);
	gm_sync_list_reset(out);
	if (rc != GM_OK)
		return rc;
	int e = gm_sync_local_dir_open(ep, path, strlen(path), &dir);
	if (e) {
		rc = gm_sync_local_fail(ep, err, e, "list", path);
		goto out;
	}
	/* A new open file description: a dup would share the read position with the cache. */
	int fd = openat(dir.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		e = errno;
		if (fd >= 0)
			close(fd);
		rc = gm_sync_local_fail(ep, err, e, "list", path);
		goto out;
	}
	bool at_root = !path[0];
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				rc = gm_sync_local_fail(ep, err, errno, "list", path);
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
			rc = gm_sync_local_fail(ep, err, errno, "stat", gm_buf_cstr(&p));
			gm_buf_release(&p);
			goto out;
		}
		struct gm_sync_meta m;
		gm_sync_local_meta_from_stat(&st, &m);
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
				rc = r < 0 ? gm_sync_local_fail(ep, err, errno, "read the symlink",
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
	gm_sync_local_dref_put(&dir);
	gm_buf_release(&link);
	return rc;
}

/* ---- directories, links, removal, metadata ---- */

/* Renames tmp (in the work area) to name in dirfd, replacing what is there; what names the
 * operation in an error ("create the symlink"). The caller removes tmp after a failure. */
static enum gm_rc place_temp(struct local_ep *ep, const char *tmp, int dirfd, const char *name,
                             const char *path, const char *what, struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	if (renameat(ep->areafd, tmp, dirfd, name) < 0) {
		int e = errno;
		if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "cannot %s '%s': a directory is in the way", what,
			                gm_sync_local_where(ep, path, &w));
		else
			rc = gm_sync_local_fail(ep, err, e, what, path);
	}
	gm_buf_release(&w);
	return rc;
}

enum gm_rc gm_sync_local_mkdir(struct gm_sync_endpoint *gep, const char *path,
                               const struct gm_sync_meta *meta, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	const char *name;
	struct stat st;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	enum gm_rc rc = gm_sync_local_resolve(ep, path, &dir, &name, "create the directory", err);
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
			                gm_sync_local_where(ep, path, &w));
			gm_buf_release(&w);
			goto out;
		}
		rc = gm_sync_local_fail(ep, err, e, "create the directory", path);
		goto out;
	}
	/* The umask may have taken bits away. */
	if (fchmodat(dir.fd, name, mode, AT_SYMLINK_NOFOLLOW) < 0)
		rc = gm_sync_local_fail(ep, err, errno, "set the mode of", path);
out:
	gm_sync_local_dref_put(&dir);
	return rc;
}

enum gm_rc gm_sync_local_symlink(struct gm_sync_endpoint *gep, const char *path, const char *target,
                                 const struct gm_sync_meta *meta, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	const char *name;
	char tmp[64];
	struct gm_buf w = GM_BUF_INIT;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	enum gm_rc rc = gm_sync_local_resolve(ep, path, &dir, &name, "create the symlink", err);
	if (rc != GM_OK)
		goto out;
	size_t tl = strlen(target);
	if (tl == 0 || tl >= GM_SYNC_PATH_MAX) {
		rc = gm_err_set(err, GM_ERR_USAGE, "cannot create the symlink '%s': bad target",
		                gm_sync_local_where(ep, path, &w));
		goto out;
	}
	gm_sync_local_temp_name(ep, tmp);
	if (symlinkat(target, ep->areafd, tmp) < 0) {
		rc = gm_sync_local_fail(ep, err, errno, "create the symlink", path);
		goto out;
	}
	if (meta) {
		struct timespec ts[2];
		gm_sync_local_mtime(meta->mtime_ns, ts);
		utimensat(ep->areafd, tmp, ts, AT_SYMLINK_NOFOLLOW);
	}
	rc = place_temp(ep, tmp, dir.fd, name, path, "create the symlink", err);
	if (rc != GM_OK)
		unlinkat(ep->areafd, tmp, 0);
out:
	gm_buf_release(&w);
	gm_sync_local_dref_put(&dir);
	return rc;
}

enum gm_rc gm_sync_local_hardlink(struct gm_sync_endpoint *gep, const char *existing,
                                  const char *path, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref from = LOCAL_DREF_INIT, to = LOCAL_DREF_INIT;
	const char *fname, *tname;
	char tmp[64];
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	enum gm_rc rc = gm_sync_local_resolve(ep, existing, &from, &fname, "link to", err);
	if (rc != GM_OK)
		goto out;
	rc = gm_sync_local_resolve(ep, path, &to, &tname, "create the link", err);
	if (rc != GM_OK)
		goto out;
	gm_sync_local_temp_name(ep, tmp);
	if (linkat(from.fd, fname, ep->areafd, tmp, 0) < 0) {
		rc = gm_sync_local_fail(ep, err, errno, "link to", existing);
		goto out;
	}
	rc = place_temp(ep, tmp, to.fd, tname, path, "create the link", err);
	/* rename() between two names of one file does nothing: drop the temporary name. */
	unlinkat(ep->areafd, tmp, 0);
out:
	gm_sync_local_dref_put(&from);
	gm_sync_local_dref_put(&to);
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

enum gm_rc gm_sync_local_remove(struct gm_sync_endpoint *gep, const char *path, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	const char *name;
	struct stat st;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	enum gm_rc rc = gm_sync_local_resolve(ep, path, &dir, &name, "remove", err);
	if (rc != GM_OK)
		goto out;
	if (fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = gm_sync_local_fail(ep, err, errno, "remove", path);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && unlinkat(dir.fd, name, 0) == 0)
		goto out;
	if (!S_ISDIR(st.st_mode) && errno != EISDIR) {
		rc = gm_sync_local_fail(ep, err, errno, "remove", path);
		goto out;
	}
	gm_sync_local_dir_forget(ep, path, strlen(path));
	int fd = openat(dir.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = fd < 0 ? errno : remove_tree(fd, 0);
	if (!e && unlinkat(dir.fd, name, AT_REMOVEDIR) < 0)
		e = errno;
	if (e)
		rc = gm_sync_local_fail(ep, err, e, "remove", path);
out:
	gm_sync_local_dref_put(&dir);
	return rc;
}

enum gm_rc gm_sync_local_set_meta(struct gm_sync_endpoint *gep, const char *path,
                                  const struct gm_sync_meta *meta, unsigned flags,
                                  struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	const char *name = ".";
	enum gm_rc rc;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	if (!path[0]) {
		rc = gm_sync_local_check_path(ep, path, true, err);
		dir.fd = ep->rootfd;
	} else {
		rc = gm_sync_local_resolve(ep, path, &dir, &name, "set the metadata of", err);
	}
	if (rc != GM_OK)
		goto out;
	int fl = path[0] ? AT_SYMLINK_NOFOLLOW : 0; /* the root is the directory itself */
	if ((flags & GM_SYNC_W_OWNER) && fchownat(dir.fd, name, meta->uid, meta->gid, fl) < 0) {
		rc = gm_sync_local_fail(ep, err, errno, "set the owner of", path);
		goto out;
	}
	/* glibc does this without following: a symlink gives EOPNOTSUPP (links have no mode). */
	if (fchmodat(dir.fd, name, meta->mode & 07777, fl) < 0 && errno != EOPNOTSUPP) {
		rc = gm_sync_local_fail(ep, err, errno, "set the mode of", path);
		goto out;
	}
	struct timespec ts[2];
	gm_sync_local_mtime(meta->mtime_ns, ts);
	if (utimensat(dir.fd, name, ts, fl) < 0)
		rc = gm_sync_local_fail(ep, err, errno, "set the time of", path);
out:
	gm_sync_local_dref_put(&dir);
	return rc;
}

enum gm_rc gm_sync_local_space(struct gm_sync_endpoint *gep, uint64_t *avail, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct statvfs sv;
	if (fstatvfs(ep->rootfd, &sv) < 0)
		return gm_sync_local_fail(ep, err, errno, "check the free space of", "");
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return GM_OK;
}

/* The writing side of the local transport (local_impl.h): writers that build a file in the
 * work area from chunks checked against the source's hashes, journal big files so a later
 * run resumes them, and at commit check the whole-file hash, apply metadata and xattrs and
 * rename the file into place; set_xattrs, which makes an existing entry's xattrs a given set
 * with the same code; and deltas: a file's signature, and writers that rebuild a file from
 * its current content and a delta (open_patch, patch). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sync/delta.h"
#include "sync/journal.h"
#include "sync/local_impl.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct local_writer {
	struct local_ep *ep;
	struct gm_buf path;    /* relative path */
	size_t name_off;       /* where the last component starts in path */
	struct local_dref dir; /* the parent directory */
	char tmp[64];          /* name in the area */
	char jname[64];        /* journal name in the area (journalled writers) */
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

/* One xattr set or removed through x (local_impl.h: /proc path, else a descriptor). */
static int xset(struct local_xfile *x, const char *name, const void *value, size_t len)
{
	for (;;) {
		int r = x->fd >= 0 ? fsetxattr(x->fd, name, value, len, 0)
		                   : setxattr(x->proc, name, value, len, 0);
		if (r == 0 || !gm_sync_local_xfile_fallback(x))
			return r;
	}
}

static int xremove(struct local_xfile *x, const char *name)
{
	for (;;) {
		int r = x->fd >= 0 ? fremovexattr(x->fd, name) : removexattr(x->proc, name);
		if (r == 0 || !gm_sync_local_xfile_fallback(x))
			return r;
	}
}

/* Makes x's xattrs the set in blob. cur: x's xattrs as they are (from
 * gm_sync_local_xfile_read): names it has and blob lacks are removed (but for the system's
 * own, gm_sync_xattr_local_only), values already right
 * are left alone. NULL: x has none yet (a new file), every record is set. A name the file
 * system does not support is warned about and skipped, as a copy does. */
static enum gm_rc apply_xattrs(struct local_ep *ep, struct local_xfile *x, const char *path,
                               const struct gm_buf *blob, const struct gm_buf *cur,
                               struct gm_err *err)
{
	struct gm_sync_xattr *v = NULL, *c = NULL;
	size_t n = 0, nc = 0;
	struct gm_buf name = GM_BUF_INIT, w = GM_BUF_INIT;
	enum gm_rc rc = gm_sync_xattrs_parse(blob->data, blob->len,
	                                     gm_sync_local_where(ep, path, &w), &v, &n, err);
	if (rc == GM_OK && cur)
		rc = gm_sync_xattrs_parse(cur->data, cur->len, gm_buf_cstr(&w), &c, &nc, err);
	if (rc != GM_OK)
		goto out;
	for (size_t i = 0; i < nc; i++) {
		if (gm_sync_xattrs_find(v, n, c[i].name, c[i].name_len) ||
		    gm_sync_xattr_local_only(c[i].name, c[i].name_len))
			continue;
		gm_buf_reset(&name);
		gm_buf_add(&name, c[i].name, c[i].name_len);
		if (xremove(x, name.data) < 0 && errno != ENODATA) {
			rc = gm_sync_local_fail(ep, err, errno, "remove the xattrs of", path);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct gm_sync_xattr *had =
		        gm_sync_xattrs_find(c, nc, v[i].name, v[i].name_len);
		if (had && had->value_len == v[i].value_len &&
		    (!v[i].value_len || memcmp(had->value, v[i].value, v[i].value_len) == 0))
			continue;
		gm_buf_reset(&name);
		gm_buf_add(&name, v[i].name, v[i].name_len);
		if (xset(x, name.data, v[i].value, v[i].value_len) < 0) {
			if (errno == ENOTSUP) {
				gm_warn("cannot keep xattr '%s' of '%s': not supported here",
				        name.data, path);
			} else {
				rc = gm_sync_local_fail(ep, err, errno, "set the xattrs of", path);
				goto out;
			}
		}
	}
out:
	free(v);
	free(c);
	gm_buf_release(&name);
	gm_buf_release(&w);
	return rc;
}

enum gm_rc gm_sync_local_set_xattrs(struct gm_sync_endpoint *gep, const char *path,
                                    const struct gm_buf *blob, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_xfile x;
	struct gm_buf cur = GM_BUF_INIT, w = GM_BUF_INIT;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	enum gm_rc rc = gm_sync_local_xfile_open(ep, path, "set the xattrs of", &x, err);
	if (rc != GM_OK)
		goto out;
	if (!S_ISREG(x.st.st_mode) && !S_ISDIR(x.st.st_mode)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "cannot set the xattrs of '%s': not a regular file or directory",
		                gm_sync_local_where(ep, path, &w));
		goto out;
	}
	rc = gm_sync_local_xfile_read(ep, &x, path, &cur, err);
	if (rc == GM_OK)
		rc = apply_xattrs(ep, &x, path, blob, &cur, err);
out:
	gm_sync_local_xfile_close(&x);
	gm_buf_release(&cur);
	gm_buf_release(&w);
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
	gm_sync_local_dref_put(&w->dir);
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
	        gm_sync_local_where(w->ep, gm_buf_cstr(&w->path), &s), (unsigned long long)need);
	gm_buf_release(&s);
	return rc;
}

static enum gm_rc writer_sys(struct local_writer *w, int e, const char *what, struct gm_err *err)
{
	if (e == ENOSPC || e == EDQUOT)
		return no_space(w, e, w->synced, err);
	return gm_sync_local_fail(w->ep, err, e, what, gm_buf_cstr(&w->path));
}

/* A writer for path with nothing open yet. */
static struct local_writer *writer_new(struct local_ep *ep, const char *path, unsigned flags,
                                       uint64_t src_size)
{
	struct local_writer *w = gm_xcalloc(1, sizeof(*w));
	w->ep = ep;
	w->fd = -1;
	w->basis_fd = -1;
	w->dir.fd = -1;
	w->flags = flags;
	w->src_size = src_size;
	gm_sync_journal_init(&w->j);
	gm_sync_hasher_init(&w->whole_h);
	gm_sync_hasher_init(&w->chunk_h);
	gm_buf_adds(&w->path, path);
	return w;
}

/* Frees a writer whose open failed, with whatever it had made in the area. */
static void writer_open_failed(struct local_writer *w)
{
	if (w->fd >= 0 || w->journalled)
		writer_discard(w);
	else
		writer_free(w);
}

/* Creates a uniquely named temporary file for the writer. */
static enum gm_rc open_temp(struct local_writer *w, struct gm_err *err)
{
	gm_sync_local_temp_name(w->ep, w->tmp);
	w->fd = openat(w->ep->areafd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600);
	if (w->fd < 0)
		return writer_sys(w, errno, "write", err);
	return GM_OK;
}

/* The names of a large file's part file and journal in the area, derived from its path so a
 * later run finds them. */
static void journal_names(const char *path, char part[64], char journal[64])
{
	struct gm_sync_hash ph;
	char hex[33];
	gm_sync_hash_buf(path, strlen(path), &ph);
	gm_sync_hash_hex(&ph, hex);
	snprintf(part, 64, "part.%s", hex);
	snprintf(journal, 64, "journal.%s", hex);
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

enum gm_rc gm_sync_local_open_write(struct gm_sync_endpoint *gep, const char *path,
                                    const struct gm_sync_meta *src, unsigned flags,
                                    struct gm_sync_writer **out, uint64_t *resume_at,
                                    struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_writer *w = NULL;
	const char *name;
	enum gm_rc rc;
	*out = NULL;
	*resume_at = 0;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	w = writer_new(ep, path, flags, src ? src->size : 0);
	rc = gm_sync_local_resolve(ep, path, &w->dir, &name, "write", err);
	if (rc != GM_OK)
		goto out;
	w->name_off = (size_t)(name - path);

	/* Large files get a name derived from their path, so a later run finds them. */
	if (src && src->size >= GM_SYNC_CHUNK) {
		journal_names(path, w->tmp, w->jname);
		w->journalled = true;
		rc = open_journalled(w, src, resume_at, err);
		goto out;
	}
	if (flags & GM_SYNC_W_NO_RESUME) {
		/* a journal left from when this path was a large file */
		char part[64], journal[64];
		journal_names(path, part, journal);
		unlinkat(ep->areafd, part, 0);
		unlinkat(ep->areafd, journal, 0);
	}
	rc = open_temp(w, err);
out:
	if (rc != GM_OK) {
		writer_open_failed(w);
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

/* Checks an operation on w before it acts: refuses the chunked operations on a writer from
 * open_patch and patch on the others (patching: the operation is patch), then len more
 * bytes as writer_room does. */
static enum gm_rc writer_check(struct local_writer *w, bool patching, uint64_t len,
                               struct gm_err *err)
{
	if (w->patching != patching) {
		w->failed = true;
		return gm_err_set(err, GM_ERR_USAGE, "'%s': %s", gm_buf_cstr(&w->path),
		                  patching ? "patch on a writer not opened with open_patch"
		                           : "data for a writer that takes a delta");
	}
	return writer_room(w, len, err);
}

enum gm_rc gm_sync_local_write(struct gm_sync_writer *gw, const void *data, size_t len,
                               struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = writer_check(w, false, len, err);
	if (rc != GM_OK)
		return rc;
	return writer_put(w, data, len, err);
}

enum gm_rc gm_sync_local_hole(struct gm_sync_writer *gw, uint64_t len, struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = writer_check(w, false, len, err);
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

enum gm_rc gm_sync_local_chunk(struct gm_sync_writer *gw, const struct gm_sync_hash *src_hash,
                               struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = writer_check(w, false, 0, err);
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
		                gm_sync_local_where(w->ep, gm_buf_cstr(&w->path), &s),
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

enum gm_rc gm_sync_local_commit(struct gm_sync_writer *gw, const struct gm_sync_hash *whole,
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
		                gm_sync_local_where(ep, path, &s),
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
		                gm_sync_local_where(ep, path, &s));
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
		/* a new file: the source's set replaces whatever the old one had */
		struct local_xfile x = {
		        .dir = LOCAL_DREF_INIT, .name = name, .pfd = -1, .fd = w->fd};
		rc = apply_xattrs(ep, &x, path, xattrs, NULL, err);
		if (rc != GM_OK)
			goto fail;
	}
	if (meta) {
		struct timespec ts[2];
		gm_sync_local_mtime(meta->mtime_ns, ts);
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
			                gm_sync_local_where(ep, path, &s));
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

void gm_sync_local_abort(struct gm_sync_writer *gw, bool keep)
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

/* Opens the regular file path read-only for a delta (its parent in dir, its last component
 * in *name). */
static enum gm_rc open_basis(struct local_ep *ep, const char *path, struct local_dref *dir,
                             const char **name, int *fd, struct stat *st, struct gm_err *err)
{
	*fd = -1;
	enum gm_rc rc = gm_sync_local_resolve(ep, path, dir, name, "read", err);
	if (rc != GM_OK)
		return rc;
	return gm_sync_local_open_file(ep, dir->fd, *name, path, fd, st, err);
}

enum gm_rc gm_sync_local_signature(struct gm_sync_endpoint *gep, const char *path,
                                   struct gm_sync_meta *basis, struct gm_buf *sig,
                                   struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	struct stat st0, st1;
	const char *name;
	int fd = -1;
	gm_buf_reset(sig);
	enum gm_rc rc = open_basis(ep, path, &dir, &name, &fd, &st0, err);
	if (rc != GM_OK)
		goto out;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = gm_sync_delta_signature(fd, (uint64_t)st0.st_size, sig, err);
	if (rc != GM_OK)
		goto out;
	if (fstat(fd, &st1) < 0) {
		rc = gm_sync_local_fail(ep, err, errno, "read", path);
		goto out;
	}
	if (gm_sync_local_stat_moved(&st0, &st1)) {
		struct gm_buf w = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_CHANGED,
		                "'%s' changed while its signature was computed",
		                gm_sync_local_where(ep, path, &w));
		gm_buf_release(&w);
		goto out;
	}
	gm_sync_local_meta_from_stat(&st0, basis);
out:
	if (rc != GM_OK)
		gm_buf_reset(sig);
	if (fd >= 0)
		close(fd);
	gm_sync_local_dref_put(&dir);
	return rc;
}

/* Where the patcher's rebuilt bytes go: the writer's normal path. */
static enum gm_rc patch_emit(void *ctx, const void *data, size_t len, struct gm_err *err)
{
	struct local_writer *w = ctx;
	enum gm_rc rc = writer_room(w, len, err); /* a patching writer: only w->failed counts */
	if (rc != GM_OK)
		return rc;
	return writer_put(w, data, len, err);
}

enum gm_rc gm_sync_local_open_patch(struct gm_sync_endpoint *gep, const char *path,
                                    const struct gm_sync_meta *src,
                                    const struct gm_sync_meta *basis, unsigned flags,
                                    struct gm_sync_writer **out, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_writer *w = NULL;
	const char *name;
	struct stat st;
	enum gm_rc rc;
	*out = NULL;
	if (!ep->writable)
		return gm_sync_local_read_only(ep, path, err);
	w = writer_new(ep, path, flags, src->size);
	w->patching = true;
	rc = open_basis(ep, path, &w->dir, &name, &w->basis_fd, &st, err);
	if (rc != GM_OK)
		goto out;
	w->name_off = (size_t)(name - path);
	if ((uint64_t)st.st_size != basis->size ||
	    gm_sync_local_timespec_ns(&st.st_mtim) != basis->mtime_ns ||
	    (basis->ino && (uint64_t)st.st_ino != basis->ino)) {
		struct gm_buf wh = GM_BUF_INIT;
		rc = gm_err_set(err, GM_ERR_CHANGED,
		                "'%s' changed since its signature was taken; send it whole",
		                gm_sync_local_where(ep, path, &wh));
		gm_buf_release(&wh);
		goto out;
	}
	rc = open_temp(w, err);
	if (rc != GM_OK)
		goto out;
	posix_fadvise(w->basis_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = gm_sync_delta_patch_begin(w->basis_fd, (uint64_t)st.st_size, src->size, patch_emit, w,
	                               &w->delta, err);
out:
	if (rc != GM_OK) {
		writer_open_failed(w);
		return rc;
	}
	*out = (struct gm_sync_writer *)w;
	return GM_OK;
}

enum gm_rc gm_sync_local_patch(struct gm_sync_writer *gw, const void *delta, size_t len, bool eof,
                               struct gm_err *err)
{
	struct local_writer *w = (struct local_writer *)gw;
	enum gm_rc rc = writer_check(w, true, 0, err);
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

/* The reading side of the local transport (local_impl.h): readers that yield a file as
 * data, holes (found with SEEK_DATA/SEEK_HOLE) and chunk hashes; whole-file hashes made by
 * reading; and a file's xattrs as the blob the engine carries. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sync/local_impl.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define READ_BUF_MAX ((size_t)1 << 20)
#define READ_BUF_MIN ((size_t)4096)

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

enum gm_rc gm_sync_local_open_read(struct gm_sync_endpoint *gep, const char *path, uint64_t offset,
                                   struct gm_sync_reader **out, struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_dref dir = LOCAL_DREF_INIT;
	struct local_reader *r = NULL;
	const char *name;
	*out = NULL;
	enum gm_rc rc = gm_sync_local_resolve(ep, path, &dir, &name, "read", err);
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
	rc = gm_sync_local_open_file(ep, dir.fd, name, path, &r->fd, &r->st0, err);
	if (rc != GM_OK)
		goto out;
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
	gm_sync_local_dref_put(&dir);
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

enum gm_rc gm_sync_local_read(struct gm_sync_reader *gr, struct gm_sync_piece *piece,
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
				return gm_sync_local_fail(r->ep, err, errno, "read",
				                          gm_buf_cstr(&r->path));
			piece->kind = GM_SYNC_PIECE_END;
			gm_sync_local_meta_from_stat(&st, &piece->meta);
			piece->changed =
			        r->off != r->size || gm_sync_local_stat_moved(&r->st0, &st);
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
			return gm_sync_local_fail(r->ep, err, errno, "read", gm_buf_cstr(&r->path));
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

void gm_sync_local_close_read(struct gm_sync_reader *gr)
{
	reader_free((struct local_reader *)gr);
}

enum gm_rc gm_sync_local_hash(struct gm_sync_endpoint *gep, const char *path,
                              struct gm_sync_hash *out, struct gm_sync_meta *meta,
                              struct gm_err *err)
{
	struct gm_sync_reader *r = NULL;
	struct gm_sync_piece piece;
	enum gm_rc rc = gm_sync_local_open_read(gep, path, 0, &r, err);
	if (rc != GM_OK)
		return rc;
	do {
		rc = gm_sync_local_read(r, &piece, err);
	} while (rc == GM_OK && piece.kind != GM_SYNC_PIECE_END);
	if (rc == GM_OK) {
		*out = piece.hash;
		if (meta)
			*meta = piece.meta;
		if (piece.changed) {
			struct gm_buf w = GM_BUF_INIT;
			rc = gm_err_set(err, GM_ERR_CHANGED, "'%s' changed while it was hashed",
			                gm_sync_local_where(local_ep_of(gep), path, &w));
			gm_buf_release(&w);
		}
	}
	gm_sync_local_close_read(r);
	return rc;
}

/* ---- xattrs ---- */

static void put_le32(struct gm_buf *b, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	gm_buf_add(b, p, 4);
}

enum gm_rc gm_sync_local_xfile_open(struct local_ep *ep, const char *path, const char *what,
                                    struct local_xfile *x, struct gm_err *err)
{
	enum gm_rc rc;
	x->dir = (struct local_dref)LOCAL_DREF_INIT;
	x->name = ".";
	x->pfd = x->fd = -1;
	x->proc[0] = '\0';
	memset(&x->st, 0, sizeof(x->st));
	if (!path[0]) {
		rc = gm_sync_local_check_path(ep, path, true, err);
		x->dir.fd = ep->rootfd; /* borrowed */
	} else {
		rc = gm_sync_local_resolve(ep, path, &x->dir, &x->name, what, err);
	}
	if (rc != GM_OK)
		return rc;
	/* O_PATH|O_NOFOLLOW: a symlink is opened as itself, a device or fifo is not opened. */
	x->pfd = openat(x->dir.fd, x->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (x->pfd < 0 || fstat(x->pfd, &x->st) < 0)
		return gm_sync_local_fail(ep, err, errno, what, path);
	snprintf(x->proc, sizeof(x->proc), "/proc/self/fd/%d", x->pfd);
	return GM_OK;
}

void gm_sync_local_xfile_close(struct local_xfile *x)
{
	if (x->fd >= 0)
		close(x->fd);
	if (x->pfd >= 0)
		close(x->pfd);
	x->fd = x->pfd = -1;
	gm_sync_local_dref_put(&x->dir);
}

bool gm_sync_local_xfile_fallback(struct local_xfile *x)
{
	if (x->fd >= 0 || errno != ENOENT || (!S_ISREG(x->st.st_mode) && !S_ISDIR(x->st.st_mode)))
		return false;
	x->fd = openat(x->dir.fd, x->name,
	               O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return x->fd >= 0;
}

static ssize_t xlist(struct local_xfile *x, char *buf, size_t size)
{
	for (;;) {
		ssize_t n =
		        x->fd >= 0 ? flistxattr(x->fd, buf, size) : listxattr(x->proc, buf, size);
		if (n >= 0 || !gm_sync_local_xfile_fallback(x))
			return n;
	}
}

static ssize_t xget(struct local_xfile *x, const char *name, void *buf, size_t size)
{
	for (;;) {
		ssize_t n = x->fd >= 0 ? fgetxattr(x->fd, name, buf, size)
		                       : getxattr(x->proc, name, buf, size);
		if (n >= 0 || !gm_sync_local_xfile_fallback(x))
			return n;
	}
}

enum gm_rc gm_sync_local_xfile_read(struct local_ep *ep, struct local_xfile *x, const char *path,
                                    struct gm_buf *blob, struct gm_err *err)
{
	struct gm_buf names = GM_BUF_INIT, val = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	ssize_t n;
	gm_buf_reset(blob);
	if (!S_ISREG(x->st.st_mode) && !S_ISDIR(x->st.st_mode))
		goto out; /* symlinks and special files: none carried */
	for (;;) {
		n = xlist(x, NULL, 0);
		if (n <= 0)
			break;
		gm_buf_reset(&names);
		gm_buf_grow(&names, (size_t)n);
		n = xlist(x, names.data, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			break;
	}
	if (n < 0) {
		if (errno == ENOTSUP)
			goto out;
		rc = gm_sync_local_fail(ep, err, errno, "read the xattrs of", path);
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
			v = xget(x, xn, NULL, 0);
			if (v < 0)
				break;
			gm_buf_reset(&val);
			gm_buf_grow(&val, (size_t)v + 1);
			v = xget(x, xn, val.data, (size_t)v + 1);
			if (v >= 0 || errno != ERANGE)
				break;
		}
		if (v < 0) {
			if (errno == ENODATA)
				continue; /* removed meanwhile */
			rc = gm_sync_local_fail(ep, err, errno, "read the xattrs of", path);
			goto out;
		}
		if (blob->len + 8 + xl + (size_t)v > GM_SYNC_XATTRS_MAX) {
			struct gm_buf w = GM_BUF_INIT;
			rc = gm_err_set(err, GM_ERR_LIMIT, "the xattrs of '%s' exceed %u bytes",
			                gm_sync_local_where(ep, path, &w), GM_SYNC_XATTRS_MAX);
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
	gm_buf_release(&names);
	gm_buf_release(&val);
	return rc;
}

enum gm_rc gm_sync_local_xattrs(struct gm_sync_endpoint *gep, const char *path, struct gm_buf *blob,
                                struct gm_err *err)
{
	struct local_ep *ep = local_ep_of(gep);
	struct local_xfile x;
	gm_buf_reset(blob);
	enum gm_rc rc = gm_sync_local_xfile_open(ep, path, "read the xattrs of", &x, err);
	if (rc == GM_OK)
		rc = gm_sync_local_xfile_read(ep, &x, path, blob, err);
	gm_sync_local_xfile_close(&x);
	return rc;
}

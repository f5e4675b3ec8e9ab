/* The inside of the local transport (local.h), shared by its files and by nothing else:
 * local.c (the endpoint, resolving paths beneath the root, the work area and its lock, the
 * ops table), local_tree.c (metadata, listings, directories, links, removal), local_read.c
 * (readers, hashes, reading xattrs) and local_write.c (writers, journals, commit, deltas).
 * Include it only from those files. */
#ifndef GM_SYNC_LOCAL_IMPL_H
#define GM_SYNC_LOCAL_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "sync/endpoint.h"
#include "util/buf.h"
#include "util/err.h"

/* Parent directory descriptors kept per endpoint. */
#define GM_SYNC_LOCAL_DIR_CACHE 32

/* One cached parent directory. The cache holds a reference and so does every borrower
 * (struct local_dref): the descriptor is closed with the last, so a borrower never needs a
 * copy of it. */
struct local_dir {
	char *path;
	size_t len;
	int fd; /* O_PATH|O_DIRECTORY */
	atomic_uint refs;
	uint64_t used; /* under the endpoint's mu */
};

/* The endpoint; base comes first so a struct gm_sync_endpoint * converts to it. */
struct local_ep {
	struct gm_sync_endpoint base;
	int rootfd, areafd, lockfd;
	bool writable;
	bool root_user;
	bool secondary; /* joined another open's lock (join_token) */
	char token[33]; /* a primary writable open: the token in the lock file */
	uint32_t nonce; /* makes temporary names unique among this process's opens */
	long pid;       /* this process, in temporary names */
	atomic_bool openat2;
	atomic_uint_fast64_t seq;                         /* unique temporary names */
	pthread_mutex_t mu;                               /* the directory cache */
	struct local_dir *cache[GM_SYNC_LOCAL_DIR_CACHE]; /* NULL: an empty slot */
	uint64_t tick;
};

/* A directory descriptor: the root's (borrowed) or a cached one (a reference held). */
struct local_dref {
	int fd;
	struct local_dir *cached;
};

#define LOCAL_DREF_INIT  \
	{                \
		-1, NULL \
	}

static inline struct local_ep *local_ep_of(struct gm_sync_endpoint *ep)
{
	return (struct local_ep *)ep;
}

/* ---- local.c: messages ---- */

/* "root/path" as the user names it, into out; returns its text. */
const char *gm_sync_local_where(struct local_ep *ep, const char *path, struct gm_buf *out);
/* The error for a failed system call (errno e) while doing what to path. ELOOP and EXDEV
 * (a symlink on the way) are GM_ERR_PERMISSION with a message that says so. */
enum gm_rc gm_sync_local_fail(struct local_ep *ep, struct gm_err *err, int e, const char *what,
                              const char *path);
/* GM_ERR_USAGE: a change asked of a read-only endpoint. */
enum gm_rc gm_sync_local_read_only(struct local_ep *ep, const char *path, struct gm_err *err);

/* ---- local.c: paths beneath the root ---- */

/* Refuses anything but a relative path inside the tree ("" only with allow_root), and the
 * work area. */
enum gm_rc gm_sync_local_check_path(struct local_ep *ep, const char *path, bool allow_root,
                                    struct gm_err *err);
/* A descriptor of directory dir[0..len) (len 0: the root, borrowed), opened beneath the root
 * without following any symlink, through the endpoint's cache. Returns 0 or an errno. */
int gm_sync_local_dir_open(struct local_ep *ep, const char *dir, size_t len,
                           struct local_dref *out);
/* Drops cached descriptors of dir and everything below it (before removing it). */
void gm_sync_local_dir_forget(struct local_ep *ep, const char *dir, size_t len);
/* Releases a descriptor from gm_sync_local_dir_open (or LOCAL_DREF_INIT); leaves it empty. */
void gm_sync_local_dref_put(struct local_dref *d);
/* Checks path (not the root) and resolves its parent directory into dir; *name is its last
 * component. what names the operation in the error. */
enum gm_rc gm_sync_local_resolve(struct local_ep *ep, const char *path, struct local_dref *dir,
                                 const char **name, const char *what, struct gm_err *err);
/* Opens the regular file name (in dirfd; path for messages) read-only without following a
 * symlink, and stats it. A symlink or anything else that is not a regular file there is
 * GM_ERR_USAGE. On error *fd may be open (the caller closes it). */
enum gm_rc gm_sync_local_open_file(struct local_ep *ep, int dirfd, const char *name,
                                   const char *path, int *fd, struct stat *st, struct gm_err *err);
/* A unique name for a temporary file in the work area. */
void gm_sync_local_temp_name(struct local_ep *ep, char out[64]);

/* ---- local.c: metadata ---- */

void gm_sync_local_meta_from_stat(const struct stat *st, struct gm_sync_meta *m);
int64_t gm_sync_local_timespec_ns(const struct timespec *ts);
/* The times for utimensat/futimens that set mtime to mtime_ns and leave atime alone. */
void gm_sync_local_mtime(int64_t mtime_ns, struct timespec ts[2]);
/* Whether a file moved between two stats: size, mtime or ctime differ. */
bool gm_sync_local_stat_moved(const struct stat *a, const struct stat *b);

/* ---- local_read.c: xattrs ---- */

/* A file or directory whose xattrs are read or set, reached without following a symlink:
 * through the /proc/self/fd path of an O_PATH descriptor (whatever the entry's mode), or,
 * where there is no /proc, through a descriptor opened on the entry itself; or, for a new
 * file at commit, its writer's descriptor (fd set, pfd -1). */
struct local_xfile {
	struct local_dref dir;
	const char *name; /* in dir */
	int pfd, fd;
	char proc[64];
	struct stat st; /* of pfd */
};
/* Opens path ("" = the root) beneath the root for its xattrs. what names the operation in
 * the error. Close x with gm_sync_local_xfile_close whatever the result. */
enum gm_rc gm_sync_local_xfile_open(struct local_ep *ep, const char *path, const char *what,
                                    struct local_xfile *x, struct gm_err *err);
void gm_sync_local_xfile_close(struct local_xfile *x);
/* After a call through x->proc failed with errno ENOENT (no /proc): opens the regular file
 * or directory itself into x->fd, so the caller retries through it. false (errno set) when
 * there is nothing to fall back to. */
bool gm_sync_local_xfile_fallback(struct local_xfile *x);
/* x's xattrs into blob (the format of ops->xattrs); empty for a symlink or special file and
 * where the file system has none. */
enum gm_rc gm_sync_local_xfile_read(struct local_ep *ep, struct local_xfile *x, const char *path,
                                    struct gm_buf *blob, struct gm_err *err);

/* ---- the operations, gathered in local.c's ops table ---- */

/* local_tree.c */
enum gm_rc gm_sync_local_stat(struct gm_sync_endpoint *gep, const char *path,
                              struct gm_sync_meta *meta, struct gm_buf *link, struct gm_err *err);
enum gm_rc gm_sync_local_list(struct gm_sync_endpoint *gep, const char *path,
                              struct gm_sync_list *out, struct gm_err *err);
enum gm_rc gm_sync_local_mkdir(struct gm_sync_endpoint *gep, const char *path,
                               const struct gm_sync_meta *meta, struct gm_err *err);
enum gm_rc gm_sync_local_symlink(struct gm_sync_endpoint *gep, const char *path, const char *target,
                                 const struct gm_sync_meta *meta, struct gm_err *err);
enum gm_rc gm_sync_local_hardlink(struct gm_sync_endpoint *gep, const char *existing,
                                  const char *path, struct gm_err *err);
enum gm_rc gm_sync_local_remove(struct gm_sync_endpoint *gep, const char *path, struct gm_err *err);
enum gm_rc gm_sync_local_set_meta(struct gm_sync_endpoint *gep, const char *path,
                                  const struct gm_sync_meta *meta, unsigned flags,
                                  struct gm_err *err);
enum gm_rc gm_sync_local_space(struct gm_sync_endpoint *gep, uint64_t *avail, struct gm_err *err);

/* local_read.c */
enum gm_rc gm_sync_local_open_read(struct gm_sync_endpoint *gep, const char *path, uint64_t offset,
                                   struct gm_sync_reader **out, struct gm_err *err);
enum gm_rc gm_sync_local_read(struct gm_sync_reader *gr, struct gm_sync_piece *piece,
                              struct gm_err *err);
void gm_sync_local_close_read(struct gm_sync_reader *gr);
enum gm_rc gm_sync_local_hash(struct gm_sync_endpoint *gep, const char *path,
                              struct gm_sync_hash *out, struct gm_sync_meta *meta,
                              struct gm_err *err);
enum gm_rc gm_sync_local_xattrs(struct gm_sync_endpoint *gep, const char *path, struct gm_buf *blob,
                                struct gm_err *err);

/* local_write.c */
enum gm_rc gm_sync_local_open_write(struct gm_sync_endpoint *gep, const char *path,
                                    const struct gm_sync_meta *src, unsigned flags,
                                    struct gm_sync_writer **out, uint64_t *resume_at,
                                    struct gm_err *err);
enum gm_rc gm_sync_local_write(struct gm_sync_writer *gw, const void *data, size_t len,
                               struct gm_err *err);
enum gm_rc gm_sync_local_hole(struct gm_sync_writer *gw, uint64_t len, struct gm_err *err);
enum gm_rc gm_sync_local_chunk(struct gm_sync_writer *gw, const struct gm_sync_hash *src_hash,
                               struct gm_err *err);
enum gm_rc gm_sync_local_commit(struct gm_sync_writer *gw, const struct gm_sync_hash *whole,
                                const struct gm_sync_meta *meta, const struct gm_buf *xattrs,
                                struct gm_sync_hash *written, struct gm_err *err);
void gm_sync_local_abort(struct gm_sync_writer *gw, bool keep);
enum gm_rc gm_sync_local_signature(struct gm_sync_endpoint *gep, const char *path,
                                   struct gm_sync_meta *basis, struct gm_buf *sig,
                                   struct gm_err *err);
enum gm_rc gm_sync_local_open_patch(struct gm_sync_endpoint *gep, const char *path,
                                    const struct gm_sync_meta *src,
                                    const struct gm_sync_meta *basis, unsigned flags,
                                    struct gm_sync_writer **out, struct gm_err *err);
enum gm_rc gm_sync_local_patch(struct gm_sync_writer *gw, const void *delta, size_t len, bool eof,
                               struct gm_err *err);
enum gm_rc gm_sync_local_set_xattrs(struct gm_sync_endpoint *gep, const char *path,
                                    const struct gm_buf *blob, struct gm_err *err);

#endif

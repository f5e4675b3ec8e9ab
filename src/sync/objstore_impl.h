/* What the object endpoint's files share (not a public API): the endpoint struct, keys of
 * paths, and the POSIX metadata carried as user metadata. objstore.c holds the tree
 * (listing, stat, directories, symlinks, removal); objstore_io.c reads and writes files. */
#ifndef GM_SYNC_OBJSTORE_IMPL_H
#define GM_SYNC_OBJSTORE_IMPL_H

#include <pthread.h>
#include <stdbool.h>

#include "objstore/store.h"
#include "sync/endpoint.h"

/* Buffers of a part or a read-ahead chunk the endpoint may hold at once beyond one per
 * open reader or writer: bounds memory at (jobs + this) × the part size. */
#define GM_OBJ_SPARE_BUFFERS 8

/* objstore_cache.c: what listings learned of files, until they are read (see there). */
#define GM_OBJ_CACHE_MAX 65536
struct gm_obj_cache {
	pthread_mutex_t mu;
	struct gm_obj_cache_ent **buckets;
	size_t n;
};
void gm_obj_cache_init(struct gm_obj_cache *c);
void gm_obj_cache_release(struct gm_obj_cache *c);
/* Keeps (replaces) what is known of the file at path. */
void gm_obj_cache_put(struct gm_obj_cache *c, const char *path, const struct gm_os_object *o);
/* Moves what is known of path into out and forgets it; false when nothing is. */
bool gm_obj_cache_take(struct gm_obj_cache *c, const char *path, struct gm_os_object *out);

struct gm_obj_ep {
	struct gm_sync_endpoint base;
	struct gm_os *store;
	struct gm_buf prefix; /* key prefix of the root: "" or ending in '/' */
	bool writable;
	pthread_mutex_t mu;         /* guards what follows */
	int state_fd;               /* the journals' directory; -1 until first needed */
	unsigned spare;             /* buffers left of GM_OBJ_SPARE_BUFFERS */
	struct gm_obj_cache listed; /* files listed and not yet read */
};

/* The key of path (relative to the root) into out (replacing): prefix + path, and a '/' after
 * it for a directory's marker. */
void gm_obj_key(const struct gm_obj_ep *ep, const char *path, bool marker, struct gm_buf *out);
/* Whether path can be a key (valid UTF-8); GM_ERR_USAGE with a message otherwise. */
enum gm_rc gm_obj_key_check(const struct gm_obj_ep *ep, const char *path, struct gm_err *err);

/* The metadata an object's user metadata describes (see objstore.h), with o's size and
 * store time for what it lacks; link receives a symlink's decoded target (may be NULL). */
void gm_obj_meta_decode(const struct gm_os_object *o, struct gm_sync_meta *meta,
                        struct gm_buf *link);
/* The stored hash of o's content, when it has one. */
bool gm_obj_meta_hash(const struct gm_os_object *o, struct gm_sync_hash *out);

/* User metadata for an entry: kind, meta's mode, mtime and owner, a content hash (may be
 * NULL) and a symlink target (may be NULL). The pairs point into store, which must live
 * while they are used. */
struct gm_obj_kvs {
	struct gm_os_kv kv[GM_OS_META_MAX];
	size_t n;
	struct gm_buf store;
};
void gm_obj_kvs_build(struct gm_obj_kvs *k, enum gm_sync_kind kind, const struct gm_sync_meta *meta,
                      const struct gm_sync_hash *hash, const char *link);
void gm_obj_kvs_release(struct gm_obj_kvs *k);

/* A spare buffer from the endpoint's budget (false when none is left: do without). */
bool gm_obj_spare_take(struct gm_obj_ep *ep);
void gm_obj_spare_give(struct gm_obj_ep *ep);

/* objstore_io.c: the reader and writer operations. */
enum gm_rc gm_obj_open_read(struct gm_sync_endpoint *ep, const char *path, uint64_t offset,
                            struct gm_sync_reader **out, struct gm_err *err);
enum gm_rc gm_obj_read(struct gm_sync_reader *r, struct gm_sync_piece *piece, struct gm_err *err);
void gm_obj_close_read(struct gm_sync_reader *r);
enum gm_rc gm_obj_open_write(struct gm_sync_endpoint *ep, const char *path,
                             const struct gm_sync_meta *src, unsigned flags,
                             struct gm_sync_writer **out, uint64_t *resume_at, struct gm_err *err);
enum gm_rc gm_obj_write(struct gm_sync_writer *w, const void *data, size_t len, struct gm_err *err);
enum gm_rc gm_obj_hole(struct gm_sync_writer *w, uint64_t len, struct gm_err *err);
enum gm_rc gm_obj_chunk(struct gm_sync_writer *w, const struct gm_sync_hash *src_hash,
                        struct gm_err *err);
enum gm_rc gm_obj_commit(struct gm_sync_writer *w, const struct gm_sync_hash *whole,
                         const struct gm_sync_meta *meta, const struct gm_buf *xattrs,
                         struct gm_sync_hash *written, struct gm_err *err);
void gm_obj_abort(struct gm_sync_writer *w, bool keep);
/* The content hash of path: the stored one, or the content read and hashed. */
enum gm_rc gm_obj_hash(struct gm_sync_endpoint *ep, const char *path, struct gm_sync_hash *out,
                       struct gm_sync_meta *meta, struct gm_err *err);

#endif

/* The transport interface of the sync engine. An endpoint is one side of a transfer — a
 * local directory, a directory on another host reached over SSH, later a bucket prefix
 * (s3://, gs://) — seen as a tree of entries under a root. The engine drives two endpoints
 * and never touches a file system itself, so every transport gets the same walk, diff,
 * verification and resume.
 *
 * Paths given to an endpoint are relative to its root: bytes separated by '/', no leading
 * '/', no empty, "." or ".." component, no NUL; "" is the root itself. Names may hold any
 * other byte, invalid UTF-8 and newlines included. Endpoints check every path they are given
 * (gm_sync_path_check) and never act outside their root, whatever a peer sends.
 *
 * Every operation may be called from several threads at once; one reader or writer is used
 * by one thread at a time. */
#ifndef GM_SYNC_ENDPOINT_H
#define GM_SYNC_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct gm_os_opts;

/* The unit of resume and of per-chunk verification: a reader reports a hash at every chunk
 * boundary of the file's logical offset; a writer journals each verified chunk, so a killed
 * run re-sends at most the chunk that was in flight. */
#define GM_SYNC_CHUNK ((uint64_t)8 << 20)
/* Caps on what any peer may send: a relative path, one name, a symlink target, the xattrs
 * of one file. */
#define GM_SYNC_PATH_MAX   4096
#define GM_SYNC_NAME_MAX   255
#define GM_SYNC_XATTRS_MAX (1u << 20)
/* The directory at a writable root that holds temporary files, journals and the lock. Never
 * listed, copied or deleted by the engine. */
#define GM_SYNC_AREA ".gpumigrate"

enum gm_sync_kind {
	GM_SYNC_NONE = 0, /* absent */
	GM_SYNC_FILE,
	GM_SYNC_DIR,
	GM_SYNC_SYMLINK,
	GM_SYNC_SPECIAL, /* device, fifo, socket: reported and skipped */
};

/* A content hash: XXH3-128 of the file's logical bytes (holes count as zeros), stored in
 * XXH128's canonical big-endian byte order so it prints and travels the same everywhere. */
struct gm_sync_hash {
	uint8_t b[16];
};

/* What an endpoint knows of one entry. Fields a transport cannot know are 0 and the
 * endpoint's caps say so (an object store has no inode, owner or ctime). */
struct gm_sync_meta {
	enum gm_sync_kind kind;
	uint32_t mode;      /* permission bits only (07777) */
	uint32_t uid, gid;  /* numeric owner */
	uint32_t nlink;     /* > 1: the engine looks for other names of this file */
	uint64_t size;      /* files: bytes; symlinks: length of the target */
	uint64_t allocated; /* bytes allocated on disk: less than size means the file has holes */
	int64_t mtime_ns;   /* modification time, ns since the epoch */
	int64_t ctime_ns;   /* status change time: with size and mtime, detects a file changing
	                     * while it is read and a journal that no longer fits its source */
	uint64_t dev, ino;  /* identity on its host (hard links) */
	bool partial;       /* from a listing that leaves mode, times and owner unknown (S3):
	                     * they are guesses until stat gives the real ones; size and kind
	                     * are right. The engine stats such an entry where a decision
	                     * needs it (both sides hold it). */
};

/* One entry of a directory listing. name and link point into the listing's own storage. */
struct gm_sync_entry {
	const char *name; /* one path component */
	size_t name_len;
	const char *link; /* symlink target; NULL for other kinds */
	struct gm_sync_meta meta;
};

/* The entries of one directory, sorted by name (bytewise, as strcmp), without "." and ".."
 * and without GM_SYNC_AREA at the root. Names are stored in chunks that never move, so
 * pointers stay valid while the list grows. */
struct gm_sync_list {
	struct gm_sync_entry *v;
	size_t n, cap;
	struct gm_sync_list_block *blocks;
};

void gm_sync_list_init(struct gm_sync_list *l);
void gm_sync_list_release(struct gm_sync_list *l);
/* Clears the entries, keeping allocated storage for reuse. */
void gm_sync_list_reset(struct gm_sync_list *l);
/* Appends an entry (name and link are copied; link may be NULL). */
struct gm_sync_entry *gm_sync_list_add(struct gm_sync_list *l, const char *name, size_t name_len,
                                       const char *link, size_t link_len,
                                       const struct gm_sync_meta *meta);
/* Sorts by name. Endpoints call it before returning a listing. */
void gm_sync_list_sort(struct gm_sync_list *l);
/* The entry called name, or NULL (binary search; the list must be sorted). */
const struct gm_sync_entry *gm_sync_list_find(const struct gm_sync_list *l, const char *name,
                                              size_t name_len);

/* The pieces a reader yields, in file order. */
enum gm_sync_piece_kind {
	GM_SYNC_PIECE_DATA,  /* data, len: bytes at the current offset */
	GM_SYNC_PIECE_HOLE,  /* len: a hole (unallocated range that reads as zeros) */
	GM_SYNC_PIECE_CHUNK, /* hash: the chunk that just ended (every GM_SYNC_CHUNK bytes from
	                      * offset 0, and the last partial chunk at end of file) */
	GM_SYNC_PIECE_END,   /* end of file: hash/whole_valid, changed, meta */
};

struct gm_sync_piece {
	enum gm_sync_piece_kind kind;
	const void *data; /* DATA: valid until the next call on the reader */
	size_t len;       /* DATA, HOLE: never crosses a chunk boundary */
	struct gm_sync_hash hash;
	bool whole_valid; /* END: hash covers the whole file (the read started at offset 0) */
	bool changed;     /* END: size, mtime or ctime moved while reading: retry the copy */
	struct gm_sync_meta meta; /* END: the file's metadata as the read finished */
};

/* Flags for open_write. */
enum {
	GM_SYNC_W_OWNER = 1u << 0,     /* set uid/gid from the source (needs privilege) */
	GM_SYNC_W_XATTRS = 1u << 1,    /* set the xattrs given at commit */
	GM_SYNC_W_NO_RESUME = 1u << 2, /* ignore and discard any journal for this path */
	GM_SYNC_W_FSYNC = 1u << 3,     /* fsync the file before it gets its final name */
};

/* What an endpoint can keep. */
enum {
	GM_SYNC_CAP_SYMLINKS = 1u << 0,
	GM_SYNC_CAP_HARDLINKS = 1u << 1,
	GM_SYNC_CAP_HOLES = 1u << 2,
	GM_SYNC_CAP_OWNER = 1u << 3, /* uid/gid are real and (as a destination) settable */
	GM_SYNC_CAP_XATTRS = 1u << 4,
	GM_SYNC_CAP_MODE = 1u << 5,
	GM_SYNC_CAP_RESUME = 1u << 6, /* keeps journals of partial files */
	GM_SYNC_CAP_DELTA = 1u << 7,  /* as a destination, rebuilds changed big files from a delta
	                               * (signature, open_patch, patch); set by transports where
	                               * bytes cost more than CPU (a network) */
};

struct gm_sync_endpoint;
struct gm_sync_reader;
struct gm_sync_writer;

/* The operations of a transport. A write operation on an endpoint opened read-only is
 * GM_ERR_USAGE. Errors carry the path as the user would name it (gm_sync_endpoint_where). */
struct gm_sync_ops {
	/* Metadata of path ("" = the root); GM_ERR_NOT_FOUND when absent. link receives a
	 * symlink's target (may be NULL). Does not follow a final symlink. */
	enum gm_rc (*stat)(struct gm_sync_endpoint *ep, const char *path, struct gm_sync_meta *meta,
	                   struct gm_buf *link, struct gm_err *err);
	/* The entries of directory dir, sorted (out is reset first). */
	enum gm_rc (*list)(struct gm_sync_endpoint *ep, const char *dir, struct gm_sync_list *out,
	                   struct gm_err *err);
	/* Whole-file content hash computed where the file lives (only hashes cross a network);
	 * meta receives the metadata the hash belongs to (may be NULL). */
	enum gm_rc (*hash)(struct gm_sync_endpoint *ep, const char *path, struct gm_sync_hash *out,
	                   struct gm_sync_meta *meta, struct gm_err *err);
	/* The xattrs of path as a blob of records (u32 name length, name, u32 value length,
	 * value; lengths little-endian), at most GM_SYNC_XATTRS_MAX bytes. Optional (NULL). */
	enum gm_rc (*xattrs)(struct gm_sync_endpoint *ep, const char *path, struct gm_buf *blob,
	                     struct gm_err *err);
	/* Free space for new files at the root, in bytes. Optional (NULL). */
	enum gm_rc (*space)(struct gm_sync_endpoint *ep, uint64_t *avail, struct gm_err *err);

	/* Opens path for reading from offset (a multiple of GM_SYNC_CHUNK). */
	enum gm_rc (*open_read)(struct gm_sync_endpoint *ep, const char *path, uint64_t offset,
	                        struct gm_sync_reader **out, struct gm_err *err);
	/* The next piece. After END the reader yields nothing more. */
	enum gm_rc (*read)(struct gm_sync_reader *r, struct gm_sync_piece *piece,
	                   struct gm_err *err);
	void (*close_read)(struct gm_sync_reader *r);

	/* Starts writing path (its parent directory exists). src is the source's metadata: a
	 * journal left by an earlier run for this path is resumed only when it was written for
	 * the same source size, mtime and (where known) ctime and inode; *resume_at receives
	 * the offset to send from (0, or a chunk boundary). Data goes to a temporary file in the
	 * root's GM_SYNC_AREA until commit. */
	enum gm_rc (*open_write)(struct gm_sync_endpoint *ep, const char *path,
	                         const struct gm_sync_meta *src, unsigned flags,
	                         struct gm_sync_writer **out, uint64_t *resume_at,
	                         struct gm_err *err);
	enum gm_rc (*write)(struct gm_sync_writer *w, const void *data, size_t len,
	                    struct gm_err *err);
	enum gm_rc (*hole)(struct gm_sync_writer *w, uint64_t len, struct gm_err *err);
	/* The source's hash of the chunk that just ended: compared with the hash of the bytes
	 * this writer received (GM_ERR_MISMATCH, and the file is abandoned, when they differ),
	 * then journalled. */
	enum gm_rc (*chunk)(struct gm_sync_writer *w, const struct gm_sync_hash *src_hash,
	                    struct gm_err *err);
	/* Finishes the file: checks whole (the source's whole-file hash; NULL after a resume,
	 * when the chunks carried the check) against the bytes written, applies meta (mode,
	 * mtime; owner and xattrs as the flags say), and renames it into place, replacing
	 * whatever was there. written receives the hash of the file as it now is (may be NULL).
	 * The writer is freed whatever the result. On a transport with drain, commit may
	 * return GM_OK before the destination has answered (written is then the source's
	 * whole hash, which the destination still checks before the rename): the outcome is
	 * known only after drain. */
	enum gm_rc (*commit)(struct gm_sync_writer *w, const struct gm_sync_hash *whole,
	                     const struct gm_sync_meta *meta, const struct gm_buf *xattrs,
	                     struct gm_sync_hash *written, struct gm_err *err);
	/* Gives up on the file and frees the writer. keep: leave the temporary file and its
	 * journal so a later run resumes (a signal, a lost connection); otherwise remove them. */
	void (*abort)(struct gm_sync_writer *w, bool keep);

	/* Creates directory path with meta's mode; an existing directory is fine. */
	enum gm_rc (*mkdir)(struct gm_sync_endpoint *ep, const char *path,
	                    const struct gm_sync_meta *meta, struct gm_err *err);
	/* Makes path a symlink to target, atomically replacing what was there. */
	enum gm_rc (*symlink)(struct gm_sync_endpoint *ep, const char *path, const char *target,
	                      const struct gm_sync_meta *meta, struct gm_err *err);
	/* Makes path another name of existing (both relative to the root), replacing path. */
	enum gm_rc (*hardlink)(struct gm_sync_endpoint *ep, const char *existing, const char *path,
	                       struct gm_err *err);
	/* Removes path: a file, a symlink, or a directory with everything below it. */
	enum gm_rc (*remove)(struct gm_sync_endpoint *ep, const char *path, struct gm_err *err);
	/* Sets mode and mtime (and the owner with GM_SYNC_W_OWNER) of an existing entry, without
	 * following a symlink. */
	enum gm_rc (*set_meta)(struct gm_sync_endpoint *ep, const char *path,
	                       const struct gm_sync_meta *meta, unsigned flags, struct gm_err *err);
	/* Makes the xattrs of the existing file or directory path ("" = the root) exactly the
	 * set in blob (the format of xattrs): names the blob lacks are removed, names whose
	 * value differs are set, the others are left alone. Does not follow a symlink; a path
	 * that is not a file or directory is GM_ERR_USAGE, a malformed blob GM_ERR_PARSE.
	 * Optional (NULL: a transport that keeps no xattrs). */
	enum gm_rc (*set_xattrs)(struct gm_sync_endpoint *ep, const char *path,
	                         const struct gm_buf *blob, struct gm_err *err);

	/* Deltas (delta.h); all three NULL when the transport has none. signature: the librsync
	 * signature of the file at path as it is now, and (basis) that file's metadata. */
	enum gm_rc (*signature)(struct gm_sync_endpoint *ep, const char *path,
	                        struct gm_sync_meta *basis, struct gm_buf *sig, struct gm_err *err);
	/* Starts writing path as its current content (which must still match basis, else
	 * GM_ERR_CHANGED) patched by the delta bytes given to patch; then commit as for
	 * open_write, with the source's whole-file hash. src as for open_write. */
	enum gm_rc (*open_patch)(struct gm_sync_endpoint *ep, const char *path,
	                         const struct gm_sync_meta *src, const struct gm_sync_meta *basis,
	                         unsigned flags, struct gm_sync_writer **out, struct gm_err *err);
	enum gm_rc (*patch)(struct gm_sync_writer *w, const void *delta, size_t len, bool eof,
	                    struct gm_err *err);

	/* Waits until every commit that returned before its answer (see commit) is answered,
	 * and calls failed once for each that failed, with the path given to open_write and
	 * the destination's error; a lost connection fails all of its own. Optional (NULL:
	 * every commit waits for its answer). Call it after the last commit and before
	 * anything that depends on the files being in place (links, deletions, directory
	 * times, a manifest). */
	enum gm_rc (*drain)(struct gm_sync_endpoint *ep,
	                    void (*failed)(void *ctx, const char *path, enum gm_rc rc,
	                                   const char *msg),
	                    void *ctx, struct gm_err *err);

	/* Releases the endpoint (ends connections, drops the lock). */
	void (*close)(struct gm_sync_endpoint *ep);
};

/* The common head of every transport's endpoint struct. */
struct gm_sync_endpoint {
	const struct gm_sync_ops *ops;
	unsigned caps;
	struct gm_buf where; /* the endpoint as the user wrote it, for messages */
};

/* How to open an endpoint. */
struct gm_sync_open_opts {
	bool writable;           /* a destination: takes GM_SYNC_AREA and its lock */
	bool create;             /* a destination root that does not exist is created */
	unsigned streams;        /* ssh: parallel connections (0: the transport's default) */
	bool compress;           /* ssh: zstd on the wire */
	const char *ssh_command; /* ssh: the program and its options ("ssh -p 2222"); NULL: "ssh" */
	const char *remote_bin;  /* ssh: gpumigrate's name on the remote; NULL: "gpumigrate" */
	/* local, writable: NULL opens normally, taking the root's lock exclusively; such a
	 * (primary) open writes a fresh random 128-bit token, 32 hex digits, into the lock file
	 * (gm_sync_local_token). Set to that token, the open joins the primary as a secondary
	 * writer of the same run (another connection's server): it takes no lock and cleans no
	 * temporary files, and is refused (GM_ERR_USAGE) unless the lock is held right now and
	 * the lock file holds exactly this token. Ignored by read-only opens. */
	const char *join_token;
	/* s3://, gs://: endpoint, region, credentials profile, TLS (NULL: the defaults). */
	const struct gm_os_opts *os;
};

/* Opens the endpoint named by spec: a local path, "[user@]host:path", or
 * "ssh://[user@]host[:port]/path". A colon after a '/' (./a:b) is a local path. */
enum gm_rc gm_sync_endpoint_open(const char *spec, const struct gm_sync_open_opts *opts,
                                 struct gm_sync_endpoint **out, struct gm_err *err);
/* Closes ep (NULL is fine). */
void gm_sync_endpoint_close(struct gm_sync_endpoint *ep);
/* "where/path" for messages, into out. */
void gm_sync_endpoint_where(const struct gm_sync_endpoint *ep, const char *path,
                            struct gm_buf *out);

/* Whether path is an acceptable relative path (see the top of this file). */
bool gm_sync_path_check(const char *path, size_t len);
/* out = dir + "/" + name (or name alone when dir is ""). */
void gm_sync_path_join(struct gm_buf *out, const char *dir, const char *name, size_t name_len);

/* xattr blobs (ops->xattrs): records of u32 name length, name, u32 value length, value. */
struct gm_sync_xattr {
	const char *name; /* not NUL-terminated; never empty, holds no NUL */
	size_t name_len;
	const void *value;
	size_t value_len;
};
/* The records of blob[0..len), sorted by name (bytewise), into *out (n of them; free() it;
 * NULL when there are none). They point into blob. A record that overruns the blob, an empty
 * name, a NUL in a name or a name given twice is GM_ERR_PARSE (what names the file in the
 * message). */
enum gm_rc gm_sync_xattrs_parse(const void *blob, size_t len, const char *what,
                                struct gm_sync_xattr **out, size_t *n, struct gm_err *err);
/* The record called name in v (sorted, as from gm_sync_xattrs_parse), or NULL. */
const struct gm_sync_xattr *gm_sync_xattrs_find(const struct gm_sync_xattr *v, size_t n,
                                                const char *name, size_t name_len);
/* Appends records v[0..n) to out in the blob format. */
void gm_sync_xattrs_put(struct gm_buf *out, const struct gm_sync_xattr *v, size_t n);
/* Whether an xattr is the destination system's own, kept there when the source lacks it:
 * the SELinux label (security.selinux), which the destination's policy sets. */
bool gm_sync_xattr_local_only(const char *name, size_t len);
/* Whether the destination's blob holds the source's set of (name, value), whatever the order
 * of their records (file systems list xattrs in their own order), and nothing more but
 * names gm_sync_xattr_local_only keeps. A malformed blob differs from everything. */
bool gm_sync_xattrs_same(const void *src, size_t slen, const void *dst, size_t dlen);

/* Hashing, one implementation for every transport. */
struct gm_sync_hasher {
	void *state; /* XXH3_state_t */
};
void gm_sync_hasher_init(struct gm_sync_hasher *h);
void gm_sync_hasher_reset(struct gm_sync_hasher *h);
void gm_sync_hasher_update(struct gm_sync_hasher *h, const void *data, size_t len);
/* Feeds len zero bytes (a hole). */
void gm_sync_hasher_zeros(struct gm_sync_hasher *h, uint64_t len);
void gm_sync_hasher_digest(const struct gm_sync_hasher *h, struct gm_sync_hash *out);
void gm_sync_hasher_release(struct gm_sync_hasher *h);
/* The hash of a whole buffer. */
void gm_sync_hash_buf(const void *data, size_t len, struct gm_sync_hash *out);
/* 32 lowercase hex digits and a NUL. */
void gm_sync_hash_hex(const struct gm_sync_hash *h, char out[33]);
/* Parses exactly 32 hex digits (either case) into out; false for anything else. */
bool gm_sync_hash_from_hex(const char *hex, size_t len, struct gm_sync_hash *out);
bool gm_sync_hash_equal(const struct gm_sync_hash *a, const struct gm_sync_hash *b);

#endif

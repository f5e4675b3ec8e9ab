/* The sync engine: walks two endpoints (endpoint.h) directory by directory on worker
 * threads, merge-joins the sorted listings, decides per entry what to do, and copies files
 * through the transports' verified readers and writers. It never touches a file system
 * itself, so every transport gets the same walk, diff, verification, resume and reports.
 * `gpumigrate verify` runs the same walk with hashing instead of copying.
 *
 * The pure pieces (selection by trailing slash, the per-entry decision, the merge-join,
 * shard assignment, the bandwidth limiter) are exported for the unit tests. */
#ifndef GM_SYNC_ENGINE_H
#define GM_SYNC_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/endpoint.h"
#include "util/buf.h"
#include "util/err.h"

struct gm_sync_filter;

/* ---- selection (rsync's trailing-slash rule) ---- */

/* How SRC as typed selects what moves. "dir/" (or ".", "..") means the contents of dir:
 * contents is true and parent is the text itself. "dir" (no trailing slash) means dir itself:
 * parent is the endpoint spec of the directory above it ("." for a bare local name, "host:"
 * for a bare remote one) and name its last component. */
struct gm_sync_selection {
	bool contents;
	struct gm_buf parent;
	struct gm_buf name;
};
void gm_sync_selection_init(struct gm_sync_selection *s);
void gm_sync_selection_release(struct gm_sync_selection *s);
/* Splits text as above (a remote spec's "host:" prefix or ssh:// URL head is kept on the
 * parent). Fails with GM_ERR_USAGE on an empty text. */
enum gm_rc gm_sync_select(const char *text, struct gm_sync_selection *s, struct gm_err *err);
/* Whether text ends with '/' (a destination meant as a directory). */
bool gm_sync_spec_is_dir(const char *text);

/* ---- decisions ---- */

enum gm_sync_action {
	GM_SYNC_ACT_NONE = 0, /* up to date */
	GM_SYNC_ACT_COPY,     /* send the file's content */
	GM_SYNC_ACT_HASH,     /* sizes and times agree but --checksum: compare hashes first */
	GM_SYNC_ACT_META,     /* content agrees; set mode/mtime/owner */
	GM_SYNC_ACT_MKDIR,    /* create the directory (and descend) */
	GM_SYNC_ACT_DESCEND,  /* both are directories: descend */
	GM_SYNC_ACT_SYMLINK,  /* create or replace the symlink */
	GM_SYNC_ACT_SPECIAL,  /* device, fifo, socket: reported and skipped */
};

/* Why (bits of gm_sync_decision.why): what differs, for the itemised list. */
enum {
	GM_SYNC_WHY_NEW = 1u << 0,  /* absent at the destination */
	GM_SYNC_WHY_KIND = 1u << 1, /* the destination holds another kind: removed first */
	GM_SYNC_WHY_SIZE = 1u << 2,
	GM_SYNC_WHY_TIME = 1u << 3,
	GM_SYNC_WHY_MODE = 1u << 4,
	GM_SYNC_WHY_OWNER = 1u << 5,
	GM_SYNC_WHY_TARGET = 1u << 6, /* symlink target differs */
	GM_SYNC_WHY_SUM = 1u << 7,    /* content hash differs (--checksum) */
	GM_SYNC_WHY_XATTRS = 1u << 8, /* the xattrs differ (-X), nothing else to copy */
};

/* Flags for gm_sync_decide. */
enum {
	GM_SYNC_DECIDE_CHECKSUM = 1u << 0, /* compare content, not size+mtime */
	GM_SYNC_DECIDE_OWNER = 1u << 1,    /* uid/gid count */
	GM_SYNC_DECIDE_MODE = 1u << 2,     /* mode counts (the destination keeps modes) */
};

struct gm_sync_decision {
	enum gm_sync_action action;
	unsigned why;
};

/* What to do with source entry s given destination entry d (NULL: absent). */
struct gm_sync_decision gm_sync_decide(const struct gm_sync_entry *s, const struct gm_sync_entry *d,
                                       unsigned flags);

/* Walks two sorted listings in name order, calling fn once per name with the source entry
 * and the destination entry (either may be NULL, never both). Stops when fn returns false. */
void gm_sync_merge(const struct gm_sync_list *src, const struct gm_sync_list *dst,
                   bool (*fn)(void *ctx, const struct gm_sync_entry *s,
                              const struct gm_sync_entry *d),
                   void *ctx);

/* The shard (0..n-1) of a path relative to the destination root: XXH3_64(path) % n. */
uint32_t gm_sync_shard_of(const char *path, size_t len, uint32_t n);
/* The shard of a file with several names (hard links): XXH3_64 of its inode number (8 bytes,
 * little-endian) % n, so all its names fall to one shard, which links them. The inode alone,
 * not the device: machines that mount one NFS export see the same inode numbers on
 * different device numbers. */
uint32_t gm_sync_shard_of_inode(uint64_t ino, uint32_t n);
/* Parses "I/N" (0 <= I < N <= 65536). */
enum gm_rc gm_sync_shard_parse(const char *text, uint32_t *index, uint32_t *count,
                               struct gm_err *err);

/* ---- bandwidth limit: a token bucket shared by the workers ---- */

struct gm_sync_bw {
	uint64_t rate;   /* bytes per second; 0: unlimited */
	uint64_t burst;  /* bytes that may go at once after an idle period */
	int64_t next_ns; /* virtual time at which the bucket is empty again */
};
/* Parses "500k", "10M", "1.5G", "800" (KiB/s when no suffix, as rsync); into bytes/s. */
enum gm_rc gm_sync_bw_parse(const char *text, uint64_t *rate, struct gm_err *err);
void gm_sync_bw_init(struct gm_sync_bw *b, uint64_t rate);
/* Accounts n bytes sent at now_ns; returns how many ns the sender must sleep first. */
int64_t gm_sync_bw_take(struct gm_sync_bw *b, int64_t now_ns, uint64_t n);

/* ---- the run ---- */

/* Counters of a run (a snapshot; the progress callback and the result get one). */
struct gm_sync_stats {
	uint64_t files;        /* regular files in the selection (seen so far) */
	uint64_t files_done;   /* of which decided and finished (copied, unchanged, failed) */
	uint64_t bytes_total;  /* bytes of the files that need copying (known so far) */
	uint64_t bytes_done;   /* of which sent or found already sent (resume) */
	uint64_t copied;       /* files whose content was sent */
	uint64_t unchanged;    /* files already up to date (metadata fixes included) */
	uint64_t meta_updated; /* entries whose mode/mtime/owner or xattrs (-X) were set */
	uint64_t dirs_created;
	uint64_t symlinks;      /* symlinks created or replaced */
	uint64_t hardlinks;     /* hard links created */
	uint64_t deleted;       /* extras removed (--delete) */
	uint64_t failed;        /* entries that could not be done */
	uint64_t skipped;       /* specials skipped */
	uint64_t bytes_sent;    /* bytes sent for files: content, or deltas (holes not counted) */
	uint64_t resumed_bytes; /* bytes not resent thanks to a journal from an earlier run */
	uint64_t wire_bytes;    /* bytes that crossed a network (ssh: both ways, after
	                         * compression, with framing); 0 for local runs */
	uint64_t differences;   /* verify: differences found */
	bool scanning;          /* the walk has not finished (totals still grow) */
	double seconds;
};

/* One per-entry problem. */
struct gm_sync_problem {
	const char *kind; /* "failed", or verify's GM_SYNC_DIFF_* / "error" (static strings) */
	char *path;       /* relative to the transfer (the destination path) */
	size_t path_len;
	char *msg;
};

/* What a finished run reports, beyond its rc. */
struct gm_sync_result {
	struct gm_sync_stats stats;
	struct gm_sync_problem *problems; /* failures (sync) or differences (verify) */
	size_t n_problems;                /* kept: at most GM_SYNC_PROBLEMS_KEPT */
	bool interrupted;
	bool delete_done;
	struct gm_buf delete_skipped; /* why --delete did nothing ("" when it ran or was off) */
	bool no_space;                /* the destination filled up: copying stopped */
	uint64_t space_needed;        /* bytes of files left unsent when it did */
	uint64_t space_avail;         /* what the destination said it had (0: unknown) */
	bool space_avail_known;
};
#define GM_SYNC_PROBLEMS_KEPT 10000

void gm_sync_result_init(struct gm_sync_result *r);
void gm_sync_result_release(struct gm_sync_result *r);

/* Verify's difference kinds (the first word of a difference message). */
#define GM_SYNC_DIFF_MISSING "missing"
#define GM_SYNC_DIFF_EXTRA   "extra"
#define GM_SYNC_DIFF_DIFFERS "differs"
#define GM_SYNC_DIFF_KIND    "kind"

struct gm_sync_opts {
	bool verify;       /* compare instead of copy (gpumigrate verify) */
	bool dry_run;      /* decide and itemise, write nothing */
	bool delete_extra; /* remove destination entries absent at the source */
	bool checksum;     /* compare content by hash, not size+mtime */
	bool shallow;      /* the top directory's own entries only: existing subdirectories are not
	                    * descended (new ones are copied whole) — a --watch pass */
	const char *start; /* with a "contents of" SRC (trailing slash): walk only from this
	                    * directory below both roots (a --watch pass); NULL or "": all */
	bool xattrs;       /* copy extended attributes */
	unsigned jobs;     /* worker threads (0: CPUs, at least 2) */
	uint64_t bwlimit;  /* bytes per second, 0: unlimited */
	const char *manifest;                /* write a JSON-lines manifest here (atomically) */
	uint32_t shard_index, shard_count;   /* count 0: no sharding */
	const struct gm_sync_filter *filter; /* NULL: everything */
	struct gm_sync_open_opts open;       /* transport options (ssh, streams, compress) */
	/* Set to non-zero by a signal handler: stop taking work, keep partial files. */
	volatile sig_atomic_t *stop;

	/* Callbacks, all optional, called from worker threads under a lock (one at a time). */
	void *ctx;
	/* One changed entry: code is rsync -i style (">f+++++++++", "*deleting"), path raw bytes. */
	void (*item)(void *ctx, const char *code, const char *path, size_t len);
	/* A failed entry (sync: kind "failed") or a difference (verify: kind GM_SYNC_DIFF_*,
	 * or "error" when a side could not be read), as it happens. */
	void (*problem)(void *ctx, const char *kind, const char *path, size_t len, const char *msg);
	/* Something skipped that is not a failure (a device file, a fifo). */
	void (*warn)(void *ctx, const char *path, size_t len, const char *msg);
	/* About five times a second while the run lasts, and once at the end (final=true). */
	void (*progress)(void *ctx, const struct gm_sync_stats *st, bool final);
};

/* Runs sync SRC DST (or verify with o->verify). Returns GM_OK when the run went through
 * (per-entry failures are in res: stats.failed, problems); an error rc when nothing could be
 * done (no such source: GM_ERR_NOT_FOUND; unreachable), GM_ERR_INTERRUPTED when o->stop was
 * raised, GM_ERR_NO_SPACE when the destination filled up (res says how much is missing). */
enum gm_rc gm_sync_run(const char *src, const char *dst, const struct gm_sync_opts *o,
                       struct gm_sync_result *res, struct gm_err *err);

/* Checks the destination dst against a manifest written by sync: every listed file present
 * with that size and hash. Differences go to res (and o->problem) as "missing" or "differs";
 * o->jobs, o->open, o->stop and o->progress apply. */
enum gm_rc gm_sync_verify_manifest(const char *manifest, const char *dst,
                                   const struct gm_sync_opts *o, struct gm_sync_result *res,
                                   struct gm_err *err);

#endif

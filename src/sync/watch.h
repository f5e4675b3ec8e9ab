/* Watching a local source tree with inotify for `sync --watch`: after the first full pass
 * the engine re-syncs only the directories where something was created, written, renamed or
 * deleted, so the target stays current through the cut-over window without rescanning
 * terabytes. */
#ifndef GM_SYNC_WATCH_H
#define GM_SYNC_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct gm_sync_watch;

/* A directory that changed, relative to the watched root ("" = the root). recursive: the
 * directory is new (or events were lost), so everything below it must be synced too. */
struct gm_sync_dirty_dir {
	char *path;
	bool recursive;
};

/* The directories that changed since the previous call, sorted by path, each once. */
struct gm_sync_dirty {
	struct gm_sync_dirty_dir *v;
	size_t n, cap;
};

void gm_sync_dirty_init(struct gm_sync_dirty *d);
void gm_sync_dirty_release(struct gm_sync_dirty *d);

/* Starts watching every directory below root (symlinks are not followed; GM_SYNC_AREA is
 * skipped). Running out of inotify watches is GM_ERR_LIMIT with the sysctl to raise. */
enum gm_rc gm_sync_watch_open(const char *root, struct gm_sync_watch **out, struct gm_err *err);

/* Waits until something changes (or *stop becomes non-zero: GM_ERR_INTERRUPTED), then keeps
 * collecting until settle_ms pass without a new event (at most ten times settle_ms), so a
 * burst of writes becomes one pass. out is reset first. */
enum gm_rc gm_sync_watch_wait(struct gm_sync_watch *w, int settle_ms,
                              const volatile sig_atomic_t *stop, struct gm_sync_dirty *out,
                              struct gm_err *err);

/* Number of directories watched. */
size_t gm_sync_watch_count(const struct gm_sync_watch *w);

void gm_sync_watch_close(struct gm_sync_watch *w);

#endif

/* `sync --watch`: keeps a destination current after the first pass by syncing only the
 * directories the inotify watcher (watch.h) reports, each pass an ordinary engine run. */
#ifndef GM_SYNC_WATCHRUN_H
#define GM_SYNC_WATCHRUN_H

#include "sync/engine.h"
#include "sync/watch.h"
#include "util/buf.h"
#include "util/err.h"

/* Where a --watch run looks and writes, for sync SRC DST. */
struct gm_sync_watch_plan {
	struct gm_buf watch_dir; /* the local directory inotify watches */
	struct gm_buf src, dst;  /* the two roots each pass opens ("contents of", trailing '/') */
	struct gm_buf prefix;    /* watch_dir's path below src ("" or SRC's own name) */
};
void gm_sync_watch_plan_init(struct gm_sync_watch_plan *p);
void gm_sync_watch_plan_release(struct gm_sync_watch_plan *p);

/* Fills plan for sync SRC DST, following the trailing-slash rule, so that every pass works
 * in the same roots (and the same GM_SYNC_AREA) as the first one. A remote SRC is
 * GM_ERR_USAGE: inotify only sees this host. */
enum gm_rc gm_sync_watch_prepare(const char *src, const char *dst, struct gm_sync_watch_plan *plan,
                                 struct gm_err *err);

/* Waits for changes under plan->watch_dir and syncs each changed directory with o (shallow
 * for a directory whose own entries changed, whole for a new one), until *o->stop is raised
 * (GM_ERR_INTERRUPTED) or watching fails. pass, when given, is called after each
 * directory's run with its result. Deletions and renames reach the destination when
 * o->delete_extra is set, as in a full run. */
enum gm_rc gm_sync_watch_run(struct gm_sync_watch *w, const struct gm_sync_watch_plan *plan,
                             const struct gm_sync_opts *o,
                             void (*pass)(void *ctx, const struct gm_sync_result *res,
                                          enum gm_rc rc, const struct gm_err *err),
                             struct gm_err *err);

#endif

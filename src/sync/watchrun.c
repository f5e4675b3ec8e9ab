/* `sync --watch`: after the first pass, every batch of inotify events becomes a pass over
 * just the directories that changed, each a regular engine run in the same roots (so it is
 * verified, resumable and filtered like the first), until a signal stops it. */
#include "sync/watchrun.h"

#include <string.h>

#include "sync/spec.h"

#include "util/banned.h"

/* Settling time: a burst of writes (an unpacking archive, a checkpoint being written)
 * becomes one pass. */
enum { SETTLE_MS = 300 };

void gm_sync_watch_plan_init(struct gm_sync_watch_plan *p)
{
	memset(p, 0, sizeof(*p));
}

void gm_sync_watch_plan_release(struct gm_sync_watch_plan *p)
{
	if (!p)
		return;
	gm_buf_release(&p->watch_dir);
	gm_buf_release(&p->src);
	gm_buf_release(&p->dst);
	gm_buf_release(&p->prefix);
}

/* out = text with a single trailing '/'. */
static void contents_of(struct gm_buf *out, const char *text)
{
	gm_buf_reset(out);
	gm_buf_adds(out, text);
	while (out->len > 1 && out->data[out->len - 1] == '/')
		gm_buf_truncate(out, out->len - 1);
	if (!out->len || out->data[out->len - 1] != '/')
		gm_buf_addch(out, '/');
}

enum gm_rc gm_sync_watch_prepare(const char *src, const char *dst, struct gm_sync_watch_plan *plan,
                                 struct gm_err *err)
{
	struct gm_sync_spec spec;
	struct gm_sync_selection sel;
	gm_sync_spec_init(&spec);
	gm_sync_selection_init(&sel);
	enum gm_rc rc = gm_sync_spec_parse(src, &spec, err);
	if (rc == GM_OK && spec.scheme != GM_SYNC_SCHEME_LOCAL)
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "--watch needs a local source ('%s' is remote): run gpumigrate "
		                "sync --watch on the host that holds the data",
		                src);
	if (rc == GM_OK)
		rc = gm_sync_select(src, &sel, err);
	if (rc != GM_OK)
		goto out;
	gm_buf_reset(&plan->watch_dir);
	gm_buf_adds(&plan->watch_dir, src);
	contents_of(&plan->dst, dst);
	gm_buf_reset(&plan->prefix);
	if (sel.contents) {
		contents_of(&plan->src, src);
	} else {
		/* SRC "dir" lands as DST/dir: passes walk "dir/…" below SRC's parent. */
		contents_of(&plan->src, gm_buf_cstr(&sel.parent));
		gm_buf_add(&plan->prefix, sel.name.data, sel.name.len);
	}
out:
	gm_sync_selection_release(&sel);
	gm_sync_spec_release(&spec);
	return rc;
}

/* Whether dirty[i] lies below a directory synced whole earlier in the same batch. */
static bool covered(const struct gm_sync_dirty *dirty, size_t i)
{
	const char *p = dirty->v[i].path;
	for (size_t k = 0; k < i; k++) {
		size_t kl = strlen(dirty->v[k].path);
		if (dirty->v[k].recursive &&
		    (kl == 0 || (strncmp(p, dirty->v[k].path, kl) == 0 && p[kl] == '/')))
			return true;
	}
	return false;
}

enum gm_rc gm_sync_watch_run(struct gm_sync_watch *w, const struct gm_sync_watch_plan *plan,
                             const struct gm_sync_opts *o,
                             void (*pass)(void *ctx, const struct gm_sync_result *res,
                                          enum gm_rc rc, const struct gm_err *err),
                             struct gm_err *err)
{
	struct gm_sync_dirty dirty;
	struct gm_buf start = GM_BUF_INIT;
	struct gm_sync_opts po = *o;
	enum gm_rc rc;
	gm_sync_dirty_init(&dirty);
	po.manifest = NULL;  /* the first pass wrote it; a pass would replace it with a part */
	po.open.streams = 1; /* a pass is small: one connection is enough */
	for (;;) {
		rc = gm_sync_watch_wait(w, SETTLE_MS, o->stop, &dirty, err);
		if (rc != GM_OK)
			break;
		bool interrupted = false;
		for (size_t i = 0; i < dirty.n && !interrupted; i++) {
			if (covered(&dirty, i))
				continue;
			gm_buf_reset(&start);
			gm_buf_add(&start, plan->prefix.data, plan->prefix.len);
			if (start.len && dirty.v[i].path[0])
				gm_buf_addch(&start, '/');
			gm_buf_adds(&start, dirty.v[i].path);
			po.start = gm_buf_cstr(&start);
			po.shallow = !dirty.v[i].recursive;

			struct gm_sync_result res;
			struct gm_err perr = GM_ERR_INIT;
			gm_sync_result_init(&res);
			enum gm_rc r = gm_sync_run(gm_buf_cstr(&plan->src), gm_buf_cstr(&plan->dst),
			                           &po, &res, &perr);
			if (r == GM_ERR_NOT_FOUND)
				r = GM_OK; /* gone again: its parent's pass sees to it */
			if (pass)
				pass(o->ctx, &res, r, &perr);
			interrupted = r == GM_ERR_INTERRUPTED;
			gm_sync_result_release(&res);
			gm_err_release(&perr);
		}
		if (interrupted || (o->stop && *o->stop)) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
			break;
		}
	}
	gm_sync_dirty_release(&dirty);
	gm_buf_release(&start);
	return rc;
}

/* One file as a delta: signature in, delta out, while the source streams through. The
 * destination checks the rebuilt file against the source's whole-file hash at commit, so
 * a wrong delta can never replace the old copy. */
#include "sync/deltasend.h"

#include <stdlib.h>

#include "sync/delta.h"

#include "util/banned.h"

/* Delta bytes gathered before they go to the destination in one patch call. */
#define PATCH_BATCH ((size_t)1 << 20)

bool gm_sync_delta_worth(const struct gm_sync_endpoint *dst, uint64_t src_size, uint64_t dst_size)
{
	if (!(dst->caps & GM_SYNC_CAP_DELTA) || !dst->ops->signature || !dst->ops->open_patch ||
	    !dst->ops->patch)
		return false;
	/* Both big: a small old copy cannot save much of a big new one. */
	return src_size >= GM_SYNC_DELTA_MIN_SIZE && dst_size >= src_size / 4;
}

static enum gm_rc flush(struct gm_sync_endpoint *dst, struct gm_sync_writer *w, struct gm_buf *out,
                        bool eof, uint64_t *wire, struct gm_err *err)
{
	enum gm_rc rc = dst->ops->patch(w, out->data, out->len, eof, err);
	*wire += out->len;
	gm_buf_reset(out);
	return rc;
}

enum gm_rc gm_sync_delta_send(struct gm_sync_endpoint *src, const char *sp,
                              struct gm_sync_endpoint *dst, const char *dp,
                              const struct gm_sync_meta *m, unsigned wflags,
                              const volatile sig_atomic_t *stop,
                              void (*progress)(void *ctx, uint64_t logical, uint64_t wire),
                              void *ctx, struct gm_sync_writer **wr, struct gm_sync_piece *end,
                              struct gm_err *err)
{
	static const char zeros[65536];
	struct gm_buf sig = GM_BUF_INIT, out = GM_BUF_INIT;
	struct gm_sync_meta basis;
	struct gm_sync_delta *gen = NULL;
	struct gm_sync_reader *r = NULL;
	struct gm_sync_writer *w = NULL;
	enum gm_rc rc;
	*wr = NULL;

	rc = dst->ops->signature(dst, dp, &basis, &sig, err);
	if (rc == GM_OK)
		rc = gm_sync_delta_gen_begin(sig.data, sig.len, &gen, err);
	if (rc == GM_OK)
		rc = dst->ops->open_patch(dst, dp, m, &basis, wflags, &w, err);
	if (rc == GM_OK)
		rc = src->ops->open_read(src, sp, 0, &r, err);
	while (rc == GM_OK) {
		if (stop && *stop) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
			break;
		}
		rc = src->ops->read(r, end, err);
		if (rc != GM_OK)
			break;
		uint64_t logical = 0, wire = 0;
		if (end->kind == GM_SYNC_PIECE_DATA) {
			rc = gm_sync_delta_gen_feed(gen, end->data, end->len, false, &out, err);
			logical = end->len;
		} else if (end->kind == GM_SYNC_PIECE_HOLE) {
			for (uint64_t left = end->len; rc == GM_OK && left;) {
				size_t n = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);
				rc = gm_sync_delta_gen_feed(gen, zeros, n, false, &out, err);
				left -= n;
			}
			logical = end->len;
		} else if (end->kind == GM_SYNC_PIECE_END) {
			rc = gm_sync_delta_gen_feed(gen, NULL, 0, true, &out, err);
			if (rc == GM_OK)
				rc = flush(dst, w, &out, true, &wire, err);
			if (progress)
				progress(ctx, 0, wire);
			break;
		}
		if (rc == GM_OK && out.len >= PATCH_BATCH)
			rc = flush(dst, w, &out, false, &wire, err);
		if (progress)
			progress(ctx, logical, wire);
	}
	if (r)
		src->ops->close_read(r);
	if (rc != GM_OK && w)
		dst->ops->abort(w, false);
	else
		*wr = w;
	gm_sync_delta_free(gen);
	gm_buf_release(&sig);
	gm_buf_release(&out);
	return rc;
}

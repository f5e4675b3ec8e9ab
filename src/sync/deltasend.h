/* Sending one changed file as a librsync delta between two endpoints (delta.h does the
 * librsync part): the destination's signature of its old copy, a delta computed while the
 * source is read, rebuilt at the destination. Used by the engine for big files whose
 * destination copy exists and whose destination endpoint has GM_SYNC_CAP_DELTA. */
#ifndef GM_SYNC_DELTASEND_H
#define GM_SYNC_DELTASEND_H

#include <signal.h>

#include "sync/endpoint.h"

/* Whether a file of src_size whose destination copy has dst_size is worth a delta there. */
bool gm_sync_delta_worth(const struct gm_sync_endpoint *dst, uint64_t src_size, uint64_t dst_size);

/* Sends src:sp to dst:dp as a delta against dp's current content. On GM_OK, *wr is the
 * destination writer, ready for commit, and *end the reader's END piece (with end->changed
 * the source moved while read: abort *wr and try again). progress(ctx, logical, wire) is
 * called after each piece with the file bytes read and the delta bytes sent since the
 * previous call; it may sleep (a bandwidth limit). *stop raised: GM_ERR_INTERRUPTED. On
 * failure nothing is left open. */
enum gm_rc gm_sync_delta_send(struct gm_sync_endpoint *src, const char *sp,
                              struct gm_sync_endpoint *dst, const char *dp,
                              const struct gm_sync_meta *m, unsigned wflags,
                              const volatile sig_atomic_t *stop,
                              void (*progress)(void *ctx, uint64_t logical, uint64_t wire),
                              void *ctx, struct gm_sync_writer **wr, struct gm_sync_piece *end,
                              struct gm_err *err);

#endif

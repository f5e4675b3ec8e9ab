/* Deltas for big files that already exist, changed, at the destination: the destination
 * sends a librsync signature of its copy, the source answers with a delta against it, and
 * the destination rebuilds the new file from its old copy plus the delta — so 1 MiB changed
 * in a 1 GiB checkpoint moves about 1 MiB. The rebuilt file is always checked against the
 * source's whole-file hash before it replaces the old one (the writer does that).
 *
 * Signatures and deltas come from the peer: every size is capped, a delta that reaches
 * outside the basis or builds more than the expected size is refused (GM_ERR_PROTOCOL). */
#ifndef GM_SYNC_DELTA_H
#define GM_SYNC_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The largest signature accepted (a 1 TiB basis needs about 6 MiB). */
#define GM_SYNC_DELTA_SIG_MAX ((size_t)64 << 20)
/* Files smaller than this are sent whole: the signature round trip is not worth it. */
#define GM_SYNC_DELTA_MIN_SIZE ((uint64_t)16 << 20)

struct gm_sync_delta;

/* The signature of the size bytes readable at fd (read with pread from 0), into sig. */
enum gm_rc gm_sync_delta_signature(int fd, uint64_t size, struct gm_buf *sig, struct gm_err *err);

/* Starts a delta against a peer's signature. */
enum gm_rc gm_sync_delta_gen_begin(const void *sig, size_t len, struct gm_sync_delta **out,
                                   struct gm_err *err);
/* Feeds the next bytes of the new file (eof: they are the last); appends the delta bytes
 * this produces to out. */
enum gm_rc gm_sync_delta_gen_feed(struct gm_sync_delta *d, const void *data, size_t len, bool eof,
                                  struct gm_buf *out, struct gm_err *err);

/* Starts rebuilding a file from the basis (basis_size bytes at basis_fd) and a delta. The
 * rebuilt bytes are handed, in order, to emit(ctx, …); more than max_out of them is an
 * error. */
enum gm_rc gm_sync_delta_patch_begin(int basis_fd, uint64_t basis_size, uint64_t max_out,
                                     enum gm_rc (*emit)(void *ctx, const void *data, size_t len,
                                                        struct gm_err *err),
                                     void *ctx, struct gm_sync_delta **out, struct gm_err *err);
/* Feeds the next delta bytes (eof: they are the last; the delta must then be complete). */
enum gm_rc gm_sync_delta_patch_feed(struct gm_sync_delta *d, const void *delta, size_t len,
                                    bool eof, struct gm_err *err);
/* Bytes rebuilt so far. */
uint64_t gm_sync_delta_patched(const struct gm_sync_delta *d);

void gm_sync_delta_free(struct gm_sync_delta *d);

#endif

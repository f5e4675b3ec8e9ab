/* The local transport: a directory tree on this host, read and written through a directory
 * file descriptor so that no operation can leave its root, whatever path it is given. */
#ifndef GM_SYNC_LOCAL_H
#define GM_SYNC_LOCAL_H

#include "sync/endpoint.h"

/* Opens the directory root. With opts->writable it creates GM_SYNC_AREA below it and takes
 * its lock (a second writer to the same root fails with a clear message, unless it joins
 * with opts->join_token); with opts->create
 * a missing root directory is created (its parent must exist). */
enum gm_rc gm_sync_local_open(const char *root, const struct gm_sync_open_opts *opts,
                              struct gm_sync_endpoint **out, struct gm_err *err);

/* The token of a primary writable open (see gm_sync_open_opts.join_token): 32 lowercase hex
 * digits, valid while ep is open. NULL for read-only and secondary opens. */
const char *gm_sync_local_token(const struct gm_sync_endpoint *ep);

#endif

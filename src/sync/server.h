/* The far end of the SSH transport: `gpumigrate sync --server --root PATH [--write]` runs
 * this on the remote host with ssh's standard input and output. It serves a local endpoint
 * (local.h) at PATH over the sync protocol (proto.h): a reader thread decodes requests,
 * handles the frames of write streams in order, and hands everything else (listings,
 * hashes, streamed reads) to a small pool of worker threads, so a client can pipeline. */
#ifndef GM_SYNC_SERVER_H
#define GM_SYNC_SERVER_H

#include <stdbool.h>

#include "util/err.h"

/* Serves root on in_fd/out_fd until the client closes the connection (GM_OK). writable
 * allows operations that change the tree; without it they are refused. The client's HELLO
 * may ask for a missing root to be created (writable servers only), or carry the lock
 * token another connection's server returned, to write beside it
 * (GM_PROTO_FEAT_SECONDARY). A client that breaks the protocol gets an ERROR frame and the
 * call returns GM_ERR_PROTOCOL; a root that cannot be opened is reported to the client in
 * the HELLO reply and returned here. Does not close the descriptors. SIGPIPE must be
 * ignored by the caller (a vanished client is then a write error, not a signal). */
enum gm_rc gm_sync_server_run(int in_fd, int out_fd, const char *root, bool writable,
                              struct gm_err *err);

#endif

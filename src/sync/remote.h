/* The client side of the sync protocol: an endpoint whose operations are requests to a
 * server (server.h) at the other end of one or more byte streams — ssh's pipes in real use
 * (ssh.c), a socketpair in the tests. Callers on several threads share the connections; a
 * receiver thread per connection hands each reply to the caller waiting for its request id.
 * Small files (below GM_SYNC_CHUNK, given the whole-file hash at commit) are written without
 * any round trip: commit returns once COMMIT is sent, at most 512 unanswered per connection,
 * and drain reports the ones the server refused (it still checks the hash before the
 * rename). Reads are streamed by the server, and a lost connection fails every waiting call
 * and every unanswered commit with GM_ERR_UNREACHABLE. With writable, every connection writes: the
 * first server's lock token goes into the other connections' HELLO. The endpoint has
 * GM_SYNC_CAP_DELTA when the server can rebuild files from deltas (signature, open_patch, patch). */
#ifndef GM_SYNC_REMOTE_H
#define GM_SYNC_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/endpoint.h"

struct gm_sync_remote_opts {
	const char *where; /* the endpoint as the user wrote it, for messages ("host:/data") */
	const char *host;  /* the peer, for messages ("host") */
	bool writable;     /* a destination (the server must have been started with --write) */
	bool create;       /* ask the server to create a missing root */
	bool compress;     /* ask for zstd on DATA frames */
};

/* Opens an endpoint over n connections: fds[i][0] is read, fds[i][1] written (distinct
 * descriptors; for a socket, dup it). The endpoint owns the descriptors from now on, also
 * when this fails. HELLO is exchanged on every connection: a different protocol version is
 * GM_ERR_PROTOCOL naming both gpumigrate versions; a root the server cannot open is the
 * server's error (GM_ERR_NOT_FOUND …); a connection that ends first is GM_ERR_UNREACHABLE. */
enum gm_rc gm_sync_remote_open(const int (*fds)[2], size_t n,
                               const struct gm_sync_remote_opts *opts,
                               struct gm_sync_endpoint **out, struct gm_err *err);

/* fn(ctx) runs at close, after every connection's write side was closed and before the
 * receiver threads are joined: ssh.c reaps (and if need be kills) its ssh processes there,
 * which ends their output. */
void gm_sync_remote_on_close(struct gm_sync_endpoint *ep, void (*fn)(void *ctx), void *ctx);

/* Bytes this endpoint sent and received on all its connections, as they went over the
 * wire (after compression, frame headers included). 0 for an endpoint that is not remote. */
uint64_t gm_sync_remote_wire_bytes(const struct gm_sync_endpoint *ep);

/* The kind of the root on the server (GM_SYNC_NONE when it does not exist). */
enum gm_sync_kind gm_sync_remote_root_kind(const struct gm_sync_endpoint *ep);

#endif

/* The SSH transport: runs the user's ssh (their config, agent and known_hosts) to start
 * "gpumigrate sync --server PATH" on the remote host, like rsync does, and speaks the sync
 * protocol (proto.h) over its standard input and output, on one or several connections. */
#ifndef GM_SYNC_SSH_H
#define GM_SYNC_SSH_H

#include "sync/endpoint.h"
#include "sync/spec.h"

/* Connects to spec (scheme ssh) and returns an endpoint whose operations run on the remote.
 * A host that cannot be reached and a host without gpumigrate are GM_ERR_UNREACHABLE with a
 * message that says which, and how to install it. */
enum gm_rc gm_sync_ssh_open(const struct gm_sync_spec *spec, const struct gm_sync_open_opts *opts,
                            struct gm_sync_endpoint **out, struct gm_err *err);

#endif

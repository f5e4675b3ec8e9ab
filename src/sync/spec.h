/* Parsing of the endpoint names users type: a local path, scp-style "[user@]host:path", an
 * ssh:// URL, or an object store prefix (s3://bucket/prefix, gs://bucket/prefix). Kept apart from
 * the transports so the rules live in one place and are tested on their own. */
#ifndef GM_SYNC_SPEC_H
#define GM_SYNC_SPEC_H

#include <stdbool.h>

#include "util/buf.h"
#include "util/err.h"

enum gm_sync_scheme {
	GM_SYNC_SCHEME_LOCAL,
	GM_SYNC_SCHEME_SSH,
	GM_SYNC_SCHEME_S3, /* host: the bucket; path: the key prefix without a leading '/' */
	GM_SYNC_SCHEME_GS,
};

struct gm_sync_spec {
	enum gm_sync_scheme scheme;
	struct gm_buf user;  /* ssh: empty when not given */
	struct gm_buf host;  /* ssh: a name, an IPv4 address or an IPv6 one without brackets */
	unsigned port;       /* ssh: 0 when not given (ssh's config decides) */
	struct gm_buf path;  /* local: as given; ssh: as the remote should resolve it ("" = home) */
	bool trailing_slash; /* the path ended in '/' (rsync's "the contents of") */
};

void gm_sync_spec_init(struct gm_sync_spec *s);
void gm_sync_spec_release(struct gm_sync_spec *s);
/* Parses text. A ':' before any '/' makes it scp-style remote ("host:path", "[::1]:path");
 * "ssh://[user@]host[:port][/path]" is a URL whose path is absolute; "s3://BUCKET[/PREFIX]"
 * and "gs://BUCKET[/PREFIX]" name a bucket (3-222 bytes of a-z 0-9 . _ -) and a prefix in
 * it; anything else, or a path starting with "/" or "./", is local. Empty hosts, bad ports and NULs
 * are GM_ERR_USAGE. */
enum gm_rc gm_sync_spec_parse(const char *text, struct gm_sync_spec *s, struct gm_err *err);

#endif

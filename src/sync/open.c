/* Opening an endpoint by the name a user typed: the one place that knows which transport
 * serves which kind of name. Kept apart from endpoint.c so code that only needs listings and
 * hashes does not pull every transport in. */
#include "sync/endpoint.h"
#include "sync/local.h"
#include "sync/objstore.h"
#include "sync/spec.h"
#include "sync/ssh.h"

#include "util/banned.h"

enum gm_rc gm_sync_endpoint_open(const char *spec_text, const struct gm_sync_open_opts *opts,
                                 struct gm_sync_endpoint **out, struct gm_err *err)
{
	struct gm_sync_spec spec;
	gm_sync_spec_init(&spec);
	*out = NULL;
	enum gm_rc rc = gm_sync_spec_parse(spec_text, &spec, err);
	if (rc != GM_OK)
		goto out;
	switch (spec.scheme) {
	case GM_SYNC_SCHEME_LOCAL:
		rc = gm_sync_local_open(gm_buf_cstr(&spec.path), opts, out, err);
		break;
	case GM_SYNC_SCHEME_SSH: rc = gm_sync_ssh_open(&spec, opts, out, err); break;
	case GM_SYNC_SCHEME_S3:
	case GM_SYNC_SCHEME_GS:
		rc = gm_sync_objstore_open(spec.scheme == GM_SYNC_SCHEME_S3 ? "s3" : "gs",
		                           gm_buf_cstr(&spec.host), gm_buf_cstr(&spec.path), opts,
		                           out, err);
		break;
	}
	if (rc == GM_OK && (*out)->where.len == 0)
		gm_buf_adds(&(*out)->where, spec_text);
out:
	gm_sync_spec_release(&spec);
	return rc;
}

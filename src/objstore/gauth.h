/* OAuth2 access tokens for Google Cloud Storage, from the credentials a user of Google's own
 * tools already has: a service-account key or gcloud's user credentials named by
 * $GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default file, or the metadata server
 * of the VM we run on. Tokens are cached and refreshed before they expire; nothing here ever
 * puts a private key, refresh token, client secret or access token into a message. */
#ifndef GM_OBJSTORE_GAUTH_H
#define GM_OBJSTORE_GAUTH_H

#include <stdint.h>

#include "objstore/http.h"
#include "util/buf.h"
#include "util/err.h"

/* The scope gpumigrate asks for: read and write objects. */
#define GM_GAUTH_SCOPE_RW "https://www.googleapis.com/auth/devstorage.read_write"

/* Credential files larger than this are refused (GM_ERR_LIMIT). */
#define GM_GAUTH_FILE_MAX (64u << 10)

struct gm_gauth;

enum gm_gauth_kind {
	GM_GAUTH_SERVICE_ACCOUNT, /* "type": "service_account": a JWT signed with its key */
	GM_GAUTH_USER,            /* "type": "authorized_user": a refresh token (gcloud) */
	GM_GAUTH_METADATA,        /* the GCE metadata server's default service account */
};

/* Resolves credentials in Google's order: $GOOGLE_APPLICATION_CREDENTIALS (a service_account
 * or authorized_user JSON file), then gcloud's application-default file
 * ($CLOUDSDK_CONFIG/application_default_credentials.json, else
 * ~/.config/gcloud/application_default_credentials.json), then the metadata server: at
 * $GCE_METADATA_HOST when set, at metadata.google.internal only when
 * /sys/class/dmi/id/product_name starts with "Google" (no network address is probed
 * otherwise). http carries the requests (it must outlive the gm_gauth); scope is the
 * OAuth scope service accounts ask for (NULL: GM_GAUTH_SCOPE_RW).
 * No credentials: GM_ERR_PERMISSION, the message saying what to set. A file that is not
 * valid: GM_ERR_PARSE (GM_ERR_LIMIT when too big, GM_ERR_UNSUPPORTED for another "type")
 * naming the file and the field; $GOOGLE_APPLICATION_CREDENTIALS naming no file:
 * GM_ERR_USAGE. No token is fetched yet. */
enum gm_rc gm_gauth_open(struct gm_os_http *http, const char *scope, struct gm_gauth **out,
                         struct gm_err *err);

/* Replaces token's contents with a current bearer token (cached; fetched anew when less than
 * 5 minutes of it remain, or half its lifetime for tokens issued for less than 10 minutes).
 * Thread-safe; one fetch at a time. Errors: what gm_os_http_do and gm_os_http_fail return
 * for the token endpoint (GM_ERR_PERMISSION for a refused grant), GM_ERR_PROTOCOL for an
 * answer without a usable access_token. */
enum gm_rc gm_gauth_token(struct gm_gauth *g, struct gm_buf *token, struct gm_err *err);

/* Forgets the cached token (after a 401): the next gm_gauth_token fetches a new one. */
void gm_gauth_invalidate(struct gm_gauth *g);

/* Where the credentials came from, for messages: "service account 'a@b.iam.gserviceaccount.com'
 * from $GOOGLE_APPLICATION_CREDENTIALS (/path/key.json)". Never a secret. */
const char *gm_gauth_source(const struct gm_gauth *g);

enum gm_gauth_kind gm_gauth_kind(const struct gm_gauth *g);

void gm_gauth_free(struct gm_gauth *g);

/* For tests. */

/* The signed assertion a service account sends for time now (seconds since the epoch):
 * base64url(header) "." base64url(claims) "." base64url(RS256 signature).
 * GM_ERR_USAGE when g is not a service account. */
enum gm_rc gm_gauth_jwt(struct gm_gauth *g, int64_t now, struct gm_buf *out, struct gm_err *err);

/* Replaces the clock (seconds since the epoch) the cache and the JWT use; NULL: the real
 * one. */
void gm_gauth_set_clock(struct gm_gauth *g, int64_t (*now)(void *ctx), void *ctx);

#endif

/* Where `k8s mirror` finds registry credentials: the docker config.json files (auths entries,
 * and the credential helpers its credHelpers / credsStore name, run by the
 * docker-credential-helpers protocol), then for Google's registries an access token from
 * $GOOGLE_OAUTH_ACCESS_TOKEN or Google's application default credentials. The lookup itself
 * is gm_oci_creds_find (declared in k8s/oci.h with the other registry-auth parsers). */
#ifndef GM_K8S_OCI_CREDS_H
#define GM_K8S_OCI_CREDS_H

#include "util/buf.h"
#include "util/err.h"

/* How long a credential helper may run before it is killed, in milliseconds.
 * $GPUMIGRATE_CREDHELPER_TIMEOUT_MS overrides it (meant for tests: 1 to 3600000). */
#define GM_OCI_HELPER_TIMEOUT_MS 60000
/* Most bytes of a credential helper's output read; more is an error. */
#define GM_OCI_HELPER_MAX_OUTPUT (64u << 10)
/* The OAuth scope asked for when Google's application default credentials are used. */
#define GM_OCI_GOOGLE_SCOPE "https://www.googleapis.com/auth/cloud-platform"
/* The user name Google's registries take with an OAuth access token as the password. */
#define GM_OCI_GOOGLE_USER "oauth2accesstoken"

/* Runs the credential helper docker-credential-<name> (found in $PATH, no shell) with the
 * argument "get" and server_url on its stdin, and takes "Username" and "Secret" from the JSON
 * it prints (docker-credential-helpers' protocol). Its stderr is shown at -v and dropped
 * otherwise; it runs at most GM_OCI_HELPER_TIMEOUT_MS with GM_OCI_HELPER_MAX_OUTPUT bytes of
 * output. named_by is the config file that names the helper, for messages.
 * GM_ERR_NOT_FOUND: the helper has no credentials for server_url (it exited non-zero saying
 * "credentials not found"), or an empty Secret. GM_ERR_USAGE: no such program in $PATH, or
 * a name that is not a plain word. GM_ERR_UNREACHABLE: it ran past the deadline (killed).
 * GM_ERR_PROTOCOL: it failed otherwise, or printed no such JSON object (GM_ERR_LIMIT: more
 * than the cap). GM_ERR_UNSUPPORTED:
 * it gave an identity token (Username "<token>"), which gpumigrate cannot use. No message
 * ever quotes the secret or the helper's JSON output. */
enum gm_rc gm_oci_helper_get(const char *name, const char *server_url, const char *named_by,
                             struct gm_buf *user, struct gm_buf *pass, struct gm_err *err);

#endif

/* The OCI registry client behind `gpumigrate k8s mirror`: image references, the registry
 * auth pieces (WWW-Authenticate challenges, docker config.json credentials, bearer tokens),
 * and a copier that moves images between registries over the OCI distribution API with
 * libcurl — indexes with every platform, blobs HEAD-first, cross-repository mounts, chunked
 * resumable uploads verified by SHA-256, manifests last and byte-exact. */
#ifndef GM_K8S_OCI_H
#define GM_K8S_OCI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Caps on untrusted input. */
#define GM_OCI_MAX_REF       1024        /* an image reference */
#define GM_OCI_MAX_HEADER    8192        /* a WWW-Authenticate header */
#define GM_OCI_MAX_MANIFEST  (4u << 20)  /* a manifest or index */
#define GM_OCI_MAX_CONFIG    (1u << 20)  /* a docker config.json */
#define GM_OCI_DEFAULT_CHUNK (16u << 20) /* PATCH chunk size */

/* An image reference: [scheme://][registry/]repository[:tag][@digest].
 * "docker.io" is kept as the registry name (gm_oci_api_host maps it to registry-1.docker.io)
 * and one-component Docker Hub names get "library/". */
struct gm_oci_ref {
	char *registry;  /* "docker.io", "gcr.io", "127.0.0.1:5000" */
	char *repo;      /* "library/ubuntu", "my-proj/app" */
	char *tag;       /* NULL when the reference has none */
	char *digest;    /* "sha256:<64 hex>", NULL when none */
	bool plain_http; /* written as http://…: talk plain HTTP to this registry */
};

void gm_oci_ref_init(struct gm_oci_ref *ref);
void gm_oci_ref_release(struct gm_oci_ref *ref);
/* Parses s. An optional "docker://" (skopeo's transport) or "http://" / "https://" prefix
 * is accepted; http:// sets plain_http. Fails with GM_ERR_PARSE naming what is wrong
 * (uppercase repository, bad tag, digest that is not sha256:<64 lowercase hex> …). */
enum gm_rc gm_oci_ref_parse(const char *s, struct gm_oci_ref *ref, struct gm_err *err);
/* "registry/repo[:tag][@digest]" into out (appending). */
void gm_oci_ref_format(const struct gm_oci_ref *ref, struct gm_buf *out);
/* The host[:port] the API lives on ("registry-1.docker.io" for docker.io). */
const char *gm_oci_api_host(const struct gm_oci_ref *ref);
/* Whether d is "sha256:" and 64 lowercase hex digits. */
bool gm_oci_digest_valid(const char *d);
/* "sha256:<hex>" of len bytes of data, into out (appending). */
void gm_oci_digest_of(const void *data, size_t len, struct gm_buf *out);

enum gm_oci_scheme { GM_OCI_AUTH_NONE = 0, GM_OCI_AUTH_BASIC, GM_OCI_AUTH_BEARER };

/* One WWW-Authenticate challenge (the first one of the header). */
struct gm_oci_challenge {
	enum gm_oci_scheme scheme;
	char *realm;   /* NULL when absent */
	char *service; /* NULL when absent */
	char *scope;   /* NULL when absent */
};

void gm_oci_challenge_release(struct gm_oci_challenge *c);
/* Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"` (quoted strings
 * with backslash escapes, tokens, any order, case-insensitive names). An unknown scheme or
 * a malformed header is GM_ERR_PARSE; a header over GM_OCI_MAX_HEADER GM_ERR_LIMIT. */
enum gm_rc gm_oci_challenge_parse(const char *hdr, struct gm_oci_challenge *c, struct gm_err *err);

/* A registry's answer to "how much of this upload do you have": Range "0-N" (also
 * "bytes=0-N") means N+1 bytes; *next gets the offset to continue from. Anything that
 * does not start at 0 is GM_ERR_PARSE. */
enum gm_rc gm_oci_parse_range(const char *s, uint64_t *next);

/* Standard base64 (padding optional, no whitespace) into out (appending); GM_ERR_PARSE for
 * anything else. */
enum gm_rc gm_oci_base64_decode(const char *s, size_t len, struct gm_buf *out);

/* Credentials for a registry host from the text of a docker config.json (or containers
 * auth.json): auths.<key> where key is host, https://host, https://host/v1/ or host/path;
 * Docker Hub also matches index.docker.io and docker.io. "auth" (base64 "user:password")
 * wins over "username"/"password". GM_ERR_NOT_FOUND when the host has no entry (or only
 * an identitytoken or a credential helper), GM_ERR_PARSE for a broken file. name is the
 * file name for messages. */
enum gm_rc gm_oci_config_lookup(const char *text, size_t len, const char *name, const char *host,
                                struct gm_buf *user, struct gm_buf *pass, struct gm_err *err);

/* Finds credentials for host as docker does (k8s/oci_creds.c): in $REGISTRY_AUTH_FILE, then
 * $DOCKER_CONFIG/config.json, then ~/.docker/config.json, the helper credHelpers.<host>
 * names, else the credsStore helper, else auths.<host>; then for gcr.io, *.gcr.io and
 * *-docker.pkg.dev the user "oauth2accesstoken" with $GOOGLE_OAUTH_ACCESS_TOKEN, else with a
 * token from Google's application default credentials. source gets where they came from,
 * never the secret. GM_ERR_NOT_FOUND: anonymous. */
enum gm_rc gm_oci_creds_find(const char *host, struct gm_buf *user, struct gm_buf *pass,
                             struct gm_buf *source, struct gm_err *err);

/* Prefix rules that compute a destination image from a source one (a YAML list of
 * {from, to}, or a mapping whose `images` key holds that list — k8s rewrite's rules file).
 * First match wins; a prefix matches at a path boundary ("gcr.io/p" matches "gcr.io/p/app"
 * and "gcr.io/p:tag", not "gcr.io/pp"). */
struct gm_oci_map {
	size_t n;
	char **from;
	char **to;
};

void gm_oci_map_init(struct gm_oci_map *m);
void gm_oci_map_release(struct gm_oci_map *m);
enum gm_rc gm_oci_map_load(const char *path, struct gm_oci_map *m, struct gm_err *err);
/* Maps image (as written, and also in its normalised registry/repo form) into out
 * (replacing it); false when no rule matches. */
bool gm_oci_map_apply(const struct gm_oci_map *m, const char *image, struct gm_buf *out);

/* What one mirror run did. Counters are totals over every image. */
struct gm_oci_stats {
	uint64_t images_copied, images_skipped, images_failed;
	uint64_t manifests_copied, manifests_skipped;
	uint64_t blobs_copied, blobs_skipped, blobs_mounted;
	uint64_t bytes;         /* blob bytes uploaded by this run */
	uint64_t bytes_resumed; /* blob bytes an earlier run's upload held, not sent again */
};

struct gm_oci_mirror_opts {
	unsigned jobs;        /* parallel blob copies (≥ 1) */
	size_t chunk_size;    /* PATCH chunk size (≥ 1) */
	const char *platform; /* "os/arch[/variant]": only that image of an index; NULL: all */
	const char *const *insecure; /* hosts to reach over plain HTTP, NULL-terminated */
	/* Progress as it happens (called from the thread that runs gm_oci_mirror_copy, about
	 * five times a second while blobs move): bytes uploaded so far for the image, the
	 * image's blob bytes, blobs done and blobs in all. NULL: none. */
	void (*progress)(void *ctx, uint64_t bytes, uint64_t total, unsigned done, unsigned blobs);
	void *progress_ctx;
	/* Set (by a signal handler) to stop: no new blob starts, and a blob being uploaded
	 * stops after the chunk in flight, its journal kept, so the next run resumes it (a
	 * registry built on the CNCF distribution registry cannot resume a chunk cut in the
	 * middle). The copy then fails with GM_ERR_INTERRUPTED. NULL: never. */
	volatile sig_atomic_t *stop;
};

struct gm_oci_mirror;

/* A mirror session: libcurl set up once, registries (with their credentials and tokens)
 * shared by every image copied through it. */
enum gm_rc gm_oci_mirror_new(const struct gm_oci_mirror_opts *opts, struct gm_oci_mirror **out,
                             struct gm_err *err);
void gm_oci_mirror_free(struct gm_oci_mirror *m);

/* Copies src to dst. dst without tag or digest takes src's tag; src without either is
 * ":latest". Already-present blobs and manifests are skipped, so a second run copies
 * nothing. A chunked upload an earlier run left unfinished (its journal: k8s/oci_resume.h)
 * is resumed from what the registry says it holds; the whole blob is still downloaded and
 * hashed. Counters go into stats (added to). A blob whose bytes do not hash to its digest
 * is refused (GM_ERR_MISMATCH) and never committed. Wrong credentials are
 * GM_ERR_PERMISSION. */
enum gm_rc gm_oci_mirror_copy(struct gm_oci_mirror *m, const struct gm_oci_ref *src,
                              const struct gm_oci_ref *dst, struct gm_oci_stats *stats,
                              struct gm_err *err);

#endif

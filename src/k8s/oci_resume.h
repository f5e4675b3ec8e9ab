/* The upload journal of `k8s mirror`: for one blob going to one repository of one
 * registry, the upload's Location URL and how many bytes the registry acknowledged, so a
 * later run can ask the registry how far that upload got and send only the rest. The
 * journal is a hint, never trusted beyond what the registry confirms. The Location is a
 * capability for that upload: it lives only in the journal file (0600, in a 0700
 * directory) and is never logged. */
#ifndef GM_K8S_OCI_RESUME_H
#define GM_K8S_OCI_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define GM_OCI_RESUME_SUBDIR  "gpumigrate/registry-uploads"
#define GM_OCI_RESUME_MAX     16384 /* a journal file; a longer one is not ours */
#define GM_OCI_RESUME_MAX_URL 8192  /* a saved Location */

/* One blob's journal: its key (borrowed strings), its file and what it holds. */
struct gm_oci_resume {
	const char *base;       /* "https://host[:port]" of the destination registry */
	const char *repo;       /* destination repository */
	const char *digest;     /* "sha256:<hex>" of the blob */
	struct gm_buf path;     /* the journal file; empty: no usable directory, no journal */
	struct gm_buf location; /* absolute upload URL; never log it */
	uint64_t acked;         /* bytes the registry acknowledged */
};

/* The journal directory, the rule the object-store journals follow:
 * $XDG_STATE_HOME/gpumigrate/registry-uploads when XDG_STATE_HOME is absolute, else
 * $HOME/.local/state/gpumigrate/registry-uploads. Missing directories are made 0700; the
 * last one must belong to this user (GM_ERR_PERMISSION otherwise) and is set to 0700 when
 * it allows more. out gets the path (replacing). GM_ERR_IO when it cannot be made. */
enum gm_rc gm_oci_resume_dir(struct gm_buf *out, struct gm_err *err);

/* The journal file for (base, repo, digest) in dir, into out (replacing): dir, "/", and
 * the SHA-256 hex of "base\nrepo\ndigest", so any key gives a safe name. */
void gm_oci_resume_path(const char *dir, const char *base, const char *repo, const char *digest,
                        struct gm_buf *out);

/* Sets the key; no allocation. The strings must outlive j. */
void gm_oci_resume_init(struct gm_oci_resume *j, const char *base, const char *repo,
                        const char *digest);
/* Frees the buffers (the Location wiped first). NULL is fine. */
void gm_oci_resume_release(struct gm_oci_resume *j);

/* Finds (and makes) the directory and sets j->path. On failure j->path stays empty, the
 * other calls do nothing, and err says why. */
enum gm_rc gm_oci_resume_open(struct gm_oci_resume *j, struct gm_err *err);

/* Reads j's journal into j->location and j->acked. True only for a well-formed journal of
 * exactly j's key whose Location is on j->base ("<base>/…", no spaces or control
 * characters); anything else — absent, unreadable, not a regular file, over
 * GM_OCI_RESUME_MAX, another key, malformed — is false and leaves location empty. */
bool gm_oci_resume_load(struct gm_oci_resume *j);

/* Writes j->location and j->acked to the journal: a 0600 temporary file beside it,
 * fsync, rename; the old journal stays whole when this fails (GM_ERR_IO, naming the file,
 * never the Location). A location not on j->base is GM_ERR_USAGE. */
enum gm_rc gm_oci_resume_save(const struct gm_oci_resume *j, struct gm_err *err);

/* Removes j's journal (absent is fine). */
void gm_oci_resume_remove(const struct gm_oci_resume *j);

#endif

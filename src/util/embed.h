/* The data files (the YAML catalog under data/: GPU specs, cloud prices, on-prem costs, CUDA driver
 * table, Xid meanings) compiled into the binary, so assess and check work with no files around.
 * `--catalog DIR` lets users override them with their own copies. */
#ifndef GM_EMBED_H
#define GM_EMBED_H

#include <stddef.h>

#include "util/doc.h"
#include "util/err.h"

struct gm_embedded {
	const char *name; /* base name, "gpus.yaml" */
	const char *data; /* NUL-terminated */
	size_t len;
};

/* The table, ending with a NULL name (generated at build time). */
extern const struct gm_embedded gm_embedded_files[];

/* The embedded file with this base name, or NULL. */
const struct gm_embedded *gm_embedded_find(const char *name);

/* Loads a catalog document into doc (fresh) and checks that its top-level 'schema' is schema.
 * text/len is the document, named name in messages; text NULL takes the embedded file name
 * (GM_ERR_INTERNAL "NAME is not compiled in" when there is none). A wrong or missing schema
 * is GM_ERR_PARSE "NAME: not KIND (schema 'SCHEMA')", kind being e.g. "an Xid catalog".
 * The caller releases doc in every case. */
enum gm_rc gm_embedded_load_doc(struct gm_doc *doc, const char *name, const char *text, size_t len,
                                const char *schema, const char *kind, struct gm_err *err);

#endif

/* The data files (the YAML catalog under data/: GPU specs, cloud prices, on-prem costs, CUDA driver
 * table, Xid meanings) compiled into the binary, so assess and check work with no files around.
 * `--catalog DIR` lets users override them with their own copies. */
#ifndef GM_EMBED_H
#define GM_EMBED_H

#include <stddef.h>

struct gm_embedded {
	const char *name; /* base name, "gpus.yaml" */
	const char *data; /* NUL-terminated */
	size_t len;
};

/* The table, ending with a NULL name (generated at build time). */
extern const struct gm_embedded gm_embedded_files[];

/* The embedded file with this base name, or NULL. */
const struct gm_embedded *gm_embedded_find(const char *name);

#endif

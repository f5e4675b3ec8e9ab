/* Lookup in the table of data files compiled into the binary. */
#include "util/embed.h"

#include <string.h>

#include "util/banned.h"

const struct gm_embedded *gm_embedded_find(const char *name)
{
	for (const struct gm_embedded *e = gm_embedded_files; e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

enum gm_rc gm_embedded_load_doc(struct gm_doc *doc, const char *name, const char *text, size_t len,
                                const char *schema, const char *kind, struct gm_err *err)
{
	const char *have = NULL;
	memset(doc, 0, sizeof(*doc));
	if (!text) {
		const struct gm_embedded *e = gm_embedded_find(name);
		if (!e)
			return gm_err_set(err, GM_ERR_INTERNAL, "%s is not compiled in", name);
		text = e->data;
		len = e->len;
	}
	enum gm_rc rc = gm_doc_load_string(doc, name, text, len, err);
	if (rc != GM_OK)
		return rc;
	if (gm_doc_get_str(doc, gm_doc_root(doc), "schema", &have, NULL) != GM_OK ||
	    strcmp(have, schema) != 0)
		return gm_err_set(err, GM_ERR_PARSE, "%s: not %s (schema '%s')", name, kind,
		                  schema);
	return GM_OK;
}

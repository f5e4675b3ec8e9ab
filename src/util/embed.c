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

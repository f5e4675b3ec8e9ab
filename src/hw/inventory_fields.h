/* The inventory's fields as tables: JSON name, type and place in the struct. One table per
 * struct drives JSON output, JSON loading and release, so adding a field is one line and the
 * three can never disagree. Internal to hw/. */
#ifndef GM_INVENTORY_FIELDS_H
#define GM_INVENTORY_FIELDS_H

#include <stddef.h>

#include "hw/inventory.h"

enum gm_field_type { GM_FIELD_STR, GM_FIELD_INT, GM_FIELD_BOOL };

struct gm_field {
	const char *key; /* JSON member name */
	enum gm_field_type type;
	size_t offset; /* of the gm_fstr / gm_fint / gm_fbool in its struct */
};

/* Each table ends with an entry whose key is NULL. */
extern const struct gm_field gm_inventory_fields[];
extern const struct gm_field gm_host_fields[];
extern const struct gm_field gm_pci_dev_fields[];
extern const struct gm_field gm_nic_fields[];
extern const struct gm_field gm_nvidia_fields[];
extern const struct gm_field gm_gpu_fields[];

/* The fact header of field f inside the struct at base. */
struct gm_fact *gm_field_fact(void *base, const struct gm_field *f);
/* Releases every field of the table in the struct at base. */
void gm_fields_release(void *base, const struct gm_field *fields);

#endif

/* libFuzzer harness: inventory documents (gpumigrate.inventory/v1) are untrusted input —
 * check and compare read files from other machines. Parse, write back, parse again. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hw/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_inventory inv;
	struct gm_err err = GM_ERR_INIT;
	gm_inventory_init(&inv);
	if (gm_inventory_parse(&inv, "fuzz.json", (const char *)data, size, &err) == GM_OK) {
		struct gm_buf out = GM_BUF_INIT;
		struct gm_inventory again;
		gm_inventory_to_json(&inv, &out, false);
		gm_inventory_init(&again);
		/* what we write we must read back */
		if (gm_inventory_parse(&again, "again.json", out.data, out.len, &err) != GM_OK)
			__builtin_trap();
		gm_inventory_release(&again);
		gm_buf_release(&out);
	}
	gm_inventory_release(&inv);
	gm_err_release(&err);
	return 0;
}

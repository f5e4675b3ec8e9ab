/* libFuzzer harness: plan files are written by people and shared between teams. Parse them
 * and, when they parse, turn them into TCO inputs with the built-in catalog. */
#include <stddef.h>
#include <stdint.h>

#include "assess/catalog.h"
#include "assess/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gm_catalog cat;
	static int loaded;
	struct gm_err err = GM_ERR_INIT;
	if (!loaded) {
		gm_catalog_init(&cat);
		if (gm_catalog_load(&cat, NULL, &err) != GM_OK)
			__builtin_trap();
		loaded = 1;
	}
	struct gm_plan plan;
	gm_plan_init(&plan);
	if (gm_plan_parse(&plan, "fuzz.yaml", (const char *)data, size, &err) == GM_OK) {
		struct gm_tco_inputs in;
		gm_tco_inputs_init(&in);
		gm_plan_tco_inputs(&plan, &cat, &in, &err);
		gm_tco_inputs_release(&in);
	}
	gm_plan_release(&plan);
	gm_err_release(&err);
	return 0;
}

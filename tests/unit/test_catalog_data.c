/* Unit tests for the compiled-in data: the embedded files and their schema check, and the GKE
 * accelerator names that check and the Kubernetes work derive from GPU names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "assess/gke_labels.h"
#include "util/doc.h"
#include "util/embed.h"

static void every_data_file_is_embedded(void **state)
{
	(void)state;
	static const char *const names[] = {"gpus.yaml", "cloud.yaml", "onprem.yaml",
	                                    "cuda-driver.yaml", "xid.yaml"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct gm_embedded *e = gm_embedded_find(names[i]);
		assert_non_null(e);
		assert_true(e->len > 1000);
		assert_int_equal(strlen(e->data), e->len);
	}
	assert_null(gm_embedded_find("nope.yaml"));
}

static void embedded_doc_checks_the_schema(void **state)
{
	(void)state;
	struct gm_doc doc = {0};
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_embedded_load_doc(&doc, "xid.yaml", NULL, 0,
	                                      "gpumigrate.catalog.xid/v1", "an Xid catalog", &err),
	                 GM_OK);
	gm_doc_release(&doc);
	assert_int_equal(gm_embedded_load_doc(&doc, "xid.yaml", NULL, 0,
	                                      "gpumigrate.catalog.gpus/v1", "a GPU catalog", &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "xid.yaml: not a GPU catalog"));
	gm_doc_release(&doc);
	const char *text = "schema: other/v1\n";
	assert_int_equal(gm_embedded_load_doc(&doc, "mine.yaml", text, strlen(text),
	                                      "gpumigrate.catalog.xid/v1", "an Xid catalog", &err),
	                 GM_ERR_PARSE);
	gm_doc_release(&doc);
	assert_int_equal(gm_embedded_load_doc(&doc, "missing.yaml", NULL, 0, "x/v1", "x", &err),
	                 GM_ERR_INTERNAL);
	gm_doc_release(&doc);
	gm_err_release(&err);
}

static void gke_accelerator_names(void **state)
{
	(void)state;
	assert_string_equal(gm_gke_accelerator_for_gpu("Tesla T4"), "nvidia-tesla-t4");
	assert_string_equal(gm_gke_accelerator_for_gpu("NVIDIA L4"), "nvidia-l4");
	assert_string_equal(gm_gke_accelerator_for_gpu("NVIDIA A100-SXM4-40GB"),
	                    "nvidia-tesla-a100");
	assert_string_equal(gm_gke_accelerator_for_gpu("NVIDIA A100-SXM4-80GB"),
	                    "nvidia-a100-80gb");
	assert_string_equal(gm_gke_accelerator_for_gpu("NVIDIA H100 80GB HBM3"),
	                    "nvidia-h100-80gb");
	assert_string_equal(gm_gke_accelerator_for_gpu("Tesla V100-SXM2-16GB"),
	                    "nvidia-tesla-v100");
	assert_null(gm_gke_accelerator_for_gpu("NVIDIA L40S")); /* L4 must not match L40S */
	assert_null(gm_gke_accelerator_for_gpu("Tesla P40"));   /* P4 must not match P40 */
	assert_null(gm_gke_accelerator_for_gpu(""));
	assert_null(gm_gke_accelerator_for_gpu(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(every_data_file_is_embedded),
	        cmocka_unit_test(embedded_doc_checks_the_schema),
	        cmocka_unit_test(gke_accelerator_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

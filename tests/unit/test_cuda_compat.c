/* Unit tests for the CUDA/driver table: numeric driver version comparison, minimum drivers
 * per CUDA release from the compiled-in data/cuda-driver.yaml (checked against NVIDIA's
 * published pairs), minor version compatibility verdicts, and malformed tables. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "assess/cuda_compat.h"

static void version_compare(void **state)
{
	(void)state;
	bool ok = false;
	assert_int_equal(gm_driver_version_cmp("550.54.15", "550.54.14", &ok), 1);
	assert_true(ok);
	assert_int_equal(gm_driver_version_cmp("550.54.14", "550.54.15", &ok), -1);
	assert_int_equal(gm_driver_version_cmp("550.9.1", "550.54.15", &ok), -1); /* not strcmp */
	assert_int_equal(gm_driver_version_cmp("570.26", "570.26.0", &ok), 0);
	assert_true(ok);
	assert_int_equal(gm_driver_version_cmp("1000.1", "999.99.99", &ok), 1);
	gm_driver_version_cmp("550.x", "550.1", &ok);
	assert_false(ok);
	gm_driver_version_cmp("550.", "550.1", &ok);
	assert_false(ok);
	gm_driver_version_cmp("", "550.1", &ok);
	assert_false(ok);
	gm_driver_version_cmp(NULL, "550.1", &ok);
	assert_false(ok);
}

static void cuda_version_parse(void **state)
{
	(void)state;
	int ma = 0, mi = 0;
	assert_true(gm_cuda_version_parse("12.4", &ma, &mi));
	assert_int_equal(ma, 12);
	assert_int_equal(mi, 4);
	assert_true(gm_cuda_version_parse("11.8.0", &ma, &mi));
	assert_int_equal(ma, 11);
	assert_int_equal(mi, 8);
	assert_false(gm_cuda_version_parse("12", &ma, &mi));
	assert_false(gm_cuda_version_parse("12.", &ma, &mi));
	assert_false(gm_cuda_version_parse("v12.4", &ma, &mi));
	assert_false(gm_cuda_version_parse("12.4a", &ma, &mi));
}

static void known_pairs(void **state)
{
	(void)state;
	struct gm_cuda_table t;
	struct gm_err err = GM_ERR_INIT;
	struct gm_cuda_need need;
	assert_int_equal(gm_cuda_table_load_embedded(&t, &err), GM_OK);
	assert_true(t.n_toolkits > 50);

	assert_int_equal(gm_cuda_min_driver(&t, 12, 4, &need, &err), GM_OK);
	assert_string_equal(need.min_driver, "550.54.14"); /* GA, not Update 1's 550.54.15 */
	assert_string_equal(need.compat_min, "525.60.13");
	assert_int_equal(need.compat_max_branch_exclusive, 580);

	assert_int_equal(gm_cuda_min_driver(&t, 11, 8, &need, &err), GM_OK);
	assert_string_equal(need.min_driver, "520.61.05");
	assert_string_equal(need.compat_min, "450.80.02");

	assert_int_equal(gm_cuda_min_driver(&t, 12, 8, &need, &err), GM_OK);
	assert_string_equal(need.min_driver, "570.26");
	assert_int_equal(gm_cuda_min_driver(&t, 13, 0, &need, &err), GM_OK);
	assert_string_equal(need.min_driver, "580.65.06");
	assert_string_equal(need.compat_min, "580.65.06");

	/* 13.4: NVIDIA publishes only the branch */
	assert_int_equal(gm_cuda_min_driver(&t, 13, 4, &need, &err), GM_OK);
	assert_null(need.min_driver);
	assert_int_equal(need.driver_branch, 615);

	/* there is no CUDA 12.7 toolkit */
	assert_int_equal(gm_cuda_min_driver(&t, 12, 7, &need, &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "CUDA 12.7 is not in the driver table"));
	gm_err_release(&err);
	gm_cuda_table_release(&t);
}

static void verdicts(void **state)
{
	(void)state;
	struct gm_cuda_table t;
	struct gm_err err = GM_ERR_INIT;
	struct gm_cuda_need need;
	assert_int_equal(gm_cuda_table_load_embedded(&t, &err), GM_OK);
	assert_int_equal(gm_cuda_min_driver(&t, 12, 4, &need, &err), GM_OK);
	assert_int_equal(gm_cuda_driver_verdict(&need, "550.54.14"), GM_CUDA_NATIVE);
	assert_int_equal(gm_cuda_driver_verdict(&need, "570.124.06"), GM_CUDA_NATIVE);
	assert_int_equal(gm_cuda_driver_verdict(&need, "550.54.13"), GM_CUDA_MINOR_COMPAT);
	assert_int_equal(gm_cuda_driver_verdict(&need, "535.104.05"), GM_CUDA_MINOR_COMPAT);
	assert_int_equal(gm_cuda_driver_verdict(&need, "525.60.13"), GM_CUDA_MINOR_COMPAT);
	assert_int_equal(gm_cuda_driver_verdict(&need, "525.60.12"), GM_CUDA_TOO_OLD);
	assert_int_equal(gm_cuda_driver_verdict(&need, "470.82.01"), GM_CUDA_TOO_OLD);
	assert_int_equal(gm_cuda_driver_verdict(&need, "garbage"), GM_CUDA_UNKNOWN);

	assert_int_equal(gm_cuda_min_driver(&t, 13, 0, &need, &err), GM_OK);
	assert_int_equal(gm_cuda_driver_verdict(&need, "575.57.08"), GM_CUDA_TOO_OLD);

	assert_int_equal(gm_cuda_min_driver(&t, 13, 4, &need, &err), GM_OK);
	assert_int_equal(gm_cuda_driver_verdict(&need, "615.10"), GM_CUDA_NATIVE);
	assert_int_equal(gm_cuda_driver_verdict(&need, "610.43.02"), GM_CUDA_MINOR_COMPAT);
	assert_int_equal(gm_cuda_driver_verdict(&need, "570.26"), GM_CUDA_TOO_OLD);
	gm_err_release(&err);
	gm_cuda_table_release(&t);
}

static void bad_tables(void **state)
{
	(void)state;
	struct gm_cuda_table t;
	struct gm_err err = GM_ERR_INIT;
	static const char wrong_schema[] = "schema: other\ntoolkits: []\n";
	static const char bad_version[] = "schema: gpumigrate.catalog.cuda-driver/v1\n"
	                                  "minor_version_compat: []\n"
	                                  "toolkits:\n"
	                                  "  - version: \"twelve\"\n"
	                                  "    min_driver_linux: \"550.54.14\"\n";
	static const char no_driver[] = "schema: gpumigrate.catalog.cuda-driver/v1\n"
	                                "minor_version_compat: []\n"
	                                "toolkits:\n"
	                                "  - version: \"12.4\"\n";
	assert_int_equal(
	        gm_cuda_table_parse(&t, "x.yaml", wrong_schema, strlen(wrong_schema), &err),
	        GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "not a CUDA driver table"));
	assert_int_equal(gm_cuda_table_parse(&t, "x.yaml", bad_version, strlen(bad_version), &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "x.yaml:4:"));
	assert_non_null(strstr(gm_err_msg(&err), "'version' must look like"));
	assert_int_equal(gm_cuda_table_parse(&t, "x.yaml", no_driver, strlen(no_driver), &err),
	                 GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "needs min_driver_linux or driver_branch"));
	assert_null(t.toolkits);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(version_compare), cmocka_unit_test(cuda_version_parse),
	        cmocka_unit_test(known_pairs),     cmocka_unit_test(verdicts),
	        cmocka_unit_test(bad_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

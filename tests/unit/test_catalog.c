/* Unit tests for the catalog: the built-in data loads and is consistent (every instance's GPU
 * resolves, every price has a source and a date), lookups by id, alias and NVML name, unknown
 * figures stay unknown, --catalog DIR overrides one file, bad files fail with file:line:col,
 * and price ages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "assess/catalog.h"
#include "util/buf.h"

/* 2026-11-28T00:00:00Z */
#define NOW ((time_t)1795824000)

static const char *fixtures(void)
{
	const char *d = getenv("GM_FIXTURES");
	return d ? d : "tests/fixtures";
}

static void load_builtin(struct gm_catalog *cat)
{
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_catalog_load(cat, NULL, &err);
	if (rc != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	gm_err_release(&err);
}

static void test_builtin_loads(void **state)
{
	(void)state;
	struct gm_catalog cat;
	load_builtin(&cat);
	assert_int_equal(cat.n_gpus, 18);
	assert_true(cat.n_instances >= 30);
	assert_int_equal(cat.n_costs, 10);
	assert_int_equal(cat.n_servers, 8);
	assert_string_equal(cat.gpus_from, "built-in");
	assert_string_equal(cat.cloud_from, "built-in");
	for (size_t i = 0; i < cat.n_instances; i++) {
		const struct gm_instance *in = &cat.instances[i];
		assert_non_null(in->gpu);
		assert_true(in->gpu_count >= 1);
		assert_non_null(strchr(in->id, ':'));
		assert_true(in->n_prices >= 1);
		for (size_t k = 0; k < in->n_prices; k++) {
			const struct gm_price *p = &in->prices[k];
			assert_non_null(p->date);
			assert_true(gm_catalog_price_age_days(p->date, NOW) >= 0);
			assert_non_null(p->source);
			assert_true(strlen(p->source) > 0);
			assert_true(p->on_demand_hour.known);
			assert_true(p->on_demand_hour.v > 0);
		}
	}
	for (size_t i = 0; i < cat.n_gpus; i++) {
		assert_non_null(cat.gpus[i].date);
		assert_non_null(cat.gpus[i].source);
		assert_true(cat.gpus[i].memory_gib.known);
		/* AWS's A10G is the one GPU whose bandwidth is not published */
		assert_true(cat.gpus[i].memory_bandwidth_gbs.known ==
		            (strcmp(cat.gpus[i].id, "a10g") != 0));
	}
	for (size_t i = 0; i < cat.n_servers; i++)
		assert_non_null(cat.servers[i].gpu);
	gm_catalog_release(&cat);
	gm_catalog_release(&cat); /* twice is harmless */
}

static void test_gpu_figures(void **state)
{
	(void)state;
	struct gm_catalog cat;
	load_builtin(&cat);
	const struct gm_gpu_spec *a = gm_catalog_find_gpu(&cat, "a100-sxm4-40gb");
	assert_non_null(a);
	assert_string_equal(a->name, "NVIDIA A100 SXM4 40GB");
	assert_string_equal(a->compute_capability, "8.0");
	assert_true(a->tflops[GM_PREC_BF16].known);
	assert_true(a->tflops[GM_PREC_BF16].v == 312);
	assert_false(a->tflops[GM_PREC_FP8].known); /* Ampere has no FP8: null, not 0 */
	assert_true(a->memory_gib.v == 40);
	assert_true(a->memory_bandwidth_gbs.v == 1555);
	assert_true(a->nvlink_gbs.v == 600);
	assert_true(a->sparse[GM_PREC_BF16].known);
	assert_true(a->sparse[GM_PREC_BF16].v == 624);

	const struct gm_gpu_spec *l = gm_catalog_find_gpu(&cat, "l40s");
	assert_non_null(l);
	assert_true(l->tflops[GM_PREC_BF16].v == 362.05);
	assert_true(l->tflops[GM_PREC_FP8].v == 733);
	assert_true(l->nvlink_gbs.known);
	assert_true(l->nvlink_gbs.v == 0);
	assert_string_equal(l->memory_type, "GDDR6");

	const struct gm_gpu_spec *v = gm_catalog_find_gpu(&cat, "v100");
	assert_non_null(v);
	assert_string_equal(v->id, "v100-sxm2-16gb");
	assert_false(v->tflops[GM_PREC_BF16].known);
	assert_false(v->tflops[GM_PREC_TF32].known);
	gm_catalog_release(&cat);
}

static void test_find_gpu_by_every_alias(void **state)
{
	(void)state;
	struct gm_catalog cat;
	load_builtin(&cat);
	for (size_t i = 0; i < cat.n_gpus; i++) {
		const struct gm_gpu_spec *g = &cat.gpus[i];
		assert_ptr_equal(gm_catalog_find_gpu(&cat, g->id), g);
		assert_true(g->n_aliases >= 1);
		for (size_t k = 0; k < g->n_aliases; k++) {
			assert_ptr_equal(gm_catalog_find_gpu(&cat, g->aliases[k]), g);
			/* case does not matter */
			char up[128];
			size_t n = strlen(g->aliases[k]);
			assert_true(n < sizeof(up));
			for (size_t c = 0; c <= n; c++)
				up[c] = (char)(g->aliases[k][c] >= 'a' && g->aliases[k][c] <= 'z'
				                       ? g->aliases[k][c] - 32
				                       : g->aliases[k][c]);
			assert_ptr_equal(gm_catalog_find_gpu(&cat, up), g);
		}
	}
	/* names NVML reports */
	static const struct {
		const char *nvml, *id;
	} names[] = {
	        {"NVIDIA A100-SXM4-40GB", "a100-sxm4-40gb"},
	        {"NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"},
	        {"NVIDIA A100 80GB PCIe", "a100-pcie-80gb"},
	        {"Tesla T4", "t4"},
	        {"Tesla V100-SXM2-16GB", "v100-sxm2-16gb"},
	        {"NVIDIA L4", "l4"},
	        {"NVIDIA L40S", "l40s"},
	        {"NVIDIA H100 80GB HBM3", "h100-sxm5-80gb"},
	        {"NVIDIA H100 PCIe", "h100-pcie-80gb"},
	        {"NVIDIA A10G", "a10g"},
	        {"NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"},
	        {"NVIDIA b200", "b200"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct gm_gpu_spec *g = gm_catalog_find_gpu(&cat, names[i].nvml);
		assert_non_null(g);
		assert_string_equal(g->id, names[i].id);
	}
	assert_null(gm_catalog_find_gpu(&cat, "NVIDIA GeForce RTX 4090"));
	assert_null(gm_catalog_find_gpu(&cat, ""));
	assert_null(gm_catalog_find_gpu(&cat, NULL));
	assert_string_equal(gm_catalog_suggest_gpu(&cat, "l40"), "l40s");
	assert_string_equal(gm_catalog_suggest_gpu(&cat, "h1OO"), "h100");
	assert_null(gm_catalog_suggest_gpu(&cat, "something else entirely"));
	gm_catalog_release(&cat);
}

static void test_instances_and_costs(void **state)
{
	(void)state;
	struct gm_catalog cat;
	load_builtin(&cat);
	const struct gm_instance *in = gm_catalog_find_instance(&cat, "gcp:a2-highgpu-8g");
	assert_non_null(in);
	assert_ptr_equal(gm_catalog_find_instance(&cat, "GCP:A2-HIGHGPU-8G"), in);
	assert_string_equal(in->gpu->id, "a100-sxm4-40gb");
	assert_int_equal(in->gpu_count, 8);
	assert_string_equal(in->interconnect, "nvswitch");
	assert_string_equal(in->provider, "gcp");
	const struct gm_price *p = gm_instance_price(in, NULL);
	assert_ptr_equal(p, &in->prices[0]);
	assert_ptr_equal(gm_instance_price(in, p->region), p);
	assert_null(gm_instance_price(in, "mars-north1"));
	assert_string_equal(p->currency, "USD");
	assert_null(gm_catalog_find_instance(&cat, "gcp:a2-highgpu-9g"));
	assert_string_equal(gm_catalog_suggest_instance(&cat, "gcp:a2-higpu-8g"),
	                    "gcp:a2-highgpu-8g");

	const struct gm_cost_default *c = gm_catalog_cost_default(&cat, "pue");
	assert_non_null(c);
	assert_true(c->value.known);
	assert_true(c->value.v == 1.56);
	assert_string_equal(c->kind, "published");
	c = gm_catalog_cost_default(&cat, "staff_fte_per_servers");
	assert_non_null(c);
	assert_false(c->value.known); /* null in the data: unknown, never 0 */
	assert_null(gm_catalog_cost_default(&cat, "no_such_key"));

	const struct gm_server_price *s0 = gm_catalog_server_for_gpu(&cat, "h100-sxm5-80gb", 0);
	const struct gm_server_price *s1 = gm_catalog_server_for_gpu(&cat, "h100-sxm5-80gb", 1);
	assert_non_null(s0);
	assert_non_null(s1);
	assert_null(gm_catalog_server_for_gpu(&cat, "h100-sxm5-80gb", 2));
	assert_true(s0->capex_usd.v == 317000);
	assert_true(s1->capex_usd.v == 270000);
	const struct gm_server_price *l = gm_catalog_server_for_gpu(&cat, "l40s", 0);
	assert_non_null(l);
	assert_false(l->capex_usd.known);
	gm_catalog_release(&cat);
}

static void test_override_dir(void **state)
{
	(void)state;
	struct gm_catalog cat;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf dir = GM_BUF_INIT;
	gm_buf_addf(&dir, "%s/catalog/override", fixtures());
	enum gm_rc rc = gm_catalog_load(&cat, gm_buf_cstr(&dir), &err);
	if (rc != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	assert_int_equal(cat.n_instances, 1);
	assert_int_equal(cat.n_gpus, 18); /* built-in */
	assert_string_equal(cat.gpus_from, "built-in");
	assert_non_null(strstr(cat.cloud_from, "override/cloud.yaml"));
	const struct gm_instance *in = gm_catalog_find_instance(&cat, "gcp:my-l4-box");
	assert_non_null(in);
	assert_string_equal(in->gpu->id, "l4");
	assert_int_equal(in->gpu_count, 2);
	assert_true(in->prices[0].on_demand_hour.v == 1.5);
	assert_false(in->prices[0].commit_1y_hour.known);
	assert_true(in->prices[0].commit_3y_hour.v == 0.75);
	assert_string_equal(in->prices[0].currency, "EUR");
	assert_null(gm_catalog_find_instance(&cat, "gcp:a2-highgpu-8g"));
	gm_catalog_release(&cat);

	/* a directory that does not exist */
	rc = gm_catalog_load(&cat, "/nonexistent/catalog", &err);
	assert_int_equal(rc, GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "/nonexistent/catalog"));
	assert_int_equal(cat.n_gpus, 0);
	gm_buf_release(&dir);
	gm_err_release(&err);
}

static void expect_error(const char *sub, const char *file, const char *want)
{
	struct gm_catalog cat;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf dir = GM_BUF_INIT, full = GM_BUF_INIT;
	gm_buf_addf(&dir, "%s/catalog/%s", fixtures(), sub);
	gm_buf_addf(&full, "%s/%s%s", gm_buf_cstr(&dir), file, want);
	enum gm_rc rc = gm_catalog_load(&cat, gm_buf_cstr(&dir), &err);
	assert_int_equal(rc, GM_ERR_PARSE);
	if (strcmp(gm_err_msg(&err), gm_buf_cstr(&full)) != 0)
		fail_msg("got '%s'\nwant '%s'", gm_err_msg(&err), gm_buf_cstr(&full));
	assert_int_equal(cat.n_gpus, 0); /* nothing half-loaded */
	assert_int_equal(cat.n_instances, 0);
	gm_buf_release(&dir);
	gm_buf_release(&full);
	gm_err_release(&err);
}

static void test_bad_files(void **state)
{
	(void)state;
	expect_error("bad-key", "gpus.yaml",
	             ":5:5: unknown key 'memory_gbi' (did you mean 'memory_gib'?)");
	expect_error("bad-type", "cloud.yaml", ":6:5: 'gpu_count' must be an integer");
	expect_error("bad-gpu", "cloud.yaml", ":5:10: unknown GPU 'l40' (did you mean 'l40s'?)");
	expect_error("bad-date", "onprem.yaml", ":8:11: 'date' must be a date written YYYY-MM-DD");

	struct gm_catalog cat;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf dir = GM_BUF_INIT;
	gm_buf_addf(&dir, "%s/catalog/bad-syntax", fixtures());
	assert_int_equal(gm_catalog_load(&cat, gm_buf_cstr(&dir), &err), GM_ERR_PARSE);
	assert_non_null(strstr(gm_err_msg(&err), "bad-syntax/gpus.yaml:"));
	gm_buf_release(&dir);
	gm_err_release(&err);
}

static void test_price_age(void **state)
{
	(void)state;
	assert_int_equal(gm_catalog_price_age_days("2025-11-15", NOW), 378);
	assert_int_equal(gm_catalog_price_age_days("2026-11-28", NOW), 0);
	assert_int_equal(gm_catalog_price_age_days("2026-11-27", NOW + 86399), 1);
	assert_int_equal(gm_catalog_price_age_days("2027-01-01", NOW), 0); /* future */
	assert_int_equal(gm_catalog_price_age_days("2024-02-29", NOW), 1003);
	assert_int_equal(gm_catalog_price_age_days("2023-02-29", NOW), -1);
	assert_int_equal(gm_catalog_price_age_days("2025-13-01", NOW), -1);
	assert_int_equal(gm_catalog_price_age_days("2025-1-01", NOW), -1);
	assert_int_equal(gm_catalog_price_age_days("", NOW), -1);
	assert_int_equal(gm_catalog_price_age_days(NULL, NOW), -1);
	assert_true(gm_catalog_price_age_days("2025-11-15", NOW) > GM_CATALOG_PRICE_MAX_AGE_DAYS);
}

static void test_parse_helpers(void **state)
{
	(void)state;
	int a = 0, b = 0;
	assert_true(gm_catalog_parse_cc("8.0", &a, &b));
	assert_int_equal(a, 8);
	assert_int_equal(b, 0);
	assert_true(gm_catalog_parse_cc("12.1", &a, &b));
	assert_int_equal(a, 12);
	assert_int_equal(b, 1);
	assert_false(gm_catalog_parse_cc("8", &a, &b));
	assert_false(gm_catalog_parse_cc("8.", &a, &b));
	assert_false(gm_catalog_parse_cc(".5", &a, &b));
	assert_false(gm_catalog_parse_cc("8.0.1", &a, &b));
	assert_false(gm_catalog_parse_cc("x.y", &a, &b));
	enum gm_precision p;
	assert_true(gm_precision_parse("BF16", &p));
	assert_int_equal(p, GM_PREC_BF16);
	assert_true(gm_precision_parse("int8", &p));
	assert_int_equal(p, GM_PREC_INT8);
	assert_false(gm_precision_parse("fp4", &p));
	assert_string_equal(gm_precision_name(GM_PREC_FP8), "fp8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_builtin_loads),
	        cmocka_unit_test(test_gpu_figures),
	        cmocka_unit_test(test_find_gpu_by_every_alias),
	        cmocka_unit_test(test_instances_and_costs),
	        cmocka_unit_test(test_override_dir),
	        cmocka_unit_test(test_bad_files),
	        cmocka_unit_test(test_price_age),
	        cmocka_unit_test(test_parse_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for assess/plan: the unit parsers, the example plans field by field, every bad
 * plan fixture with its exact file:line:col message, and plan + catalog -> TCO inputs with
 * provenance. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "assess/catalog.h"
#include "assess/plan.h"
#include "assess/tco.h"
#include "util/buf.h"
#include "util/err.h"

#define assert_money(a, b) assert_true(fabs((a) - (b)) <= 0.005)

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

/* out = $GM_SOURCE_ROOT/rel */
static void src_path(const char *rel, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_addf(out, "%s/%s", env_or("GM_SOURCE_ROOT", "."), rel);
}

static void fixture_path(const char *rel, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_addf(out, "%s/plans/%s", env_or("GM_FIXTURES", "tests/fixtures"), rel);
}

static void sizes_parse_strictly(void **state)
{
	(void)state;
	uint64_t b = 0;
	assert_true(gm_parse_size("12TiB", &b));
	assert_int_equal(b, 12ULL * 1024 * 1024 * 1024 * 1024);
	assert_true(gm_parse_size("500GB", &b));
	assert_int_equal(b, 500000000000ULL);
	assert_true(gm_parse_size("1.5TiB", &b));
	assert_int_equal(b, 1649267441664ULL);
	assert_true(gm_parse_size("1.1GB", &b));
	assert_int_equal(b, 1100000000ULL);
	assert_true(gm_parse_size("4096", &b));
	assert_int_equal(b, 4096);
	assert_true(gm_parse_size("2 KiB", &b));
	assert_int_equal(b, 2048);
	assert_true(gm_parse_size("7PiB", &b));
	assert_int_equal(b, 7ULL << 50);
	static const char *const bad[] = {"",     "TiB",     "12tib",  "12 TBs", "-1GB",  "1.5B",
	                                  "1.",   ".5GB",    "12  GB", "12GB ",  " 12GB", "1e3",
	                                  "9EiB", "8192PiB", "0x10",   "1,5GB",  NULL};
	for (const char *const *s = bad; *s; s++) {
		b = 77;
		assert_false(gm_parse_size(*s, &b));
		assert_int_equal(b, 77); /* untouched */
	}
}

static void params_rates_durations(void **state)
{
	(void)state;
	double v = 0;
	assert_true(gm_parse_params("70B", &v));
	assert_true(v == 70e9);
	assert_true(gm_parse_params("350M", &v));
	assert_true(v == 350e6);
	assert_true(gm_parse_params("1.5T", &v));
	assert_true(v == 1.5e12);
	assert_true(gm_parse_params("125000", &v));
	assert_true(v == 125000);
	assert_false(gm_parse_params("70GB", &v));
	assert_true(gm_parse_params("70b", &v) && v == 70e9); /* either case */
	assert_false(gm_parse_params("0B", &v));

	assert_true(gm_parse_rate("10Gbps", &v));
	assert_true(v == 1e10);
	assert_true(gm_parse_rate("400MB/s", &v));
	assert_true(v == 3.2e9);
	assert_true(gm_parse_rate("2.5 Gbit/s", &v));
	assert_true(v == 2.5e9);
	assert_true(gm_parse_rate("100Mb/s", &v));
	assert_true(v == 1e8);
	assert_false(gm_parse_rate("10", &v)); /* a rate needs its unit */
	assert_false(gm_parse_rate("10GBps", &v));
	assert_false(gm_parse_rate("0Gbps", &v));

	assert_true(gm_parse_duration_ms("20ms", &v));
	assert_true(v == 20);
	assert_true(gm_parse_duration_ms("1.5s", &v));
	assert_true(v == 1500);
	assert_true(gm_parse_duration_ms("250us", &v));
	assert_true(fabs(v - 0.25) < 1e-12);
	assert_false(gm_parse_duration_ms("20", &v));
	assert_false(gm_parse_duration_ms("20 sec", &v));
}

static void gke_example_parses(void **state)
{
	(void)state;
	struct gm_plan plan;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf path = GM_BUF_INIT, want = GM_BUF_INIT;
	src_path("examples/gke-a100-to-l40s.yaml", &path);
	assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_OK);
	assert_string_equal(plan.name.v, "gke-a100-to-l40s");
	assert_true(plan.horizon_years.set && plan.horizon_years.v == 3);
	assert_int_equal(plan.n_instances, 1);
	assert_string_equal(plan.instances[0].type.v, "gcp:a2-highgpu-8g");
	assert_true(plan.instances[0].count.v == 2);
	assert_string_equal(plan.instances[0].region.v, "us-central1");
	assert_int_equal(plan.instances[0].commit, GM_TCO_ON_DEMAND);
	gm_buf_addf(&want, "plan %s:14:14", gm_buf_cstr(&path));
	assert_string_equal(plan.instances[0].count.src, gm_buf_cstr(&want));
	assert_int_equal(plan.n_servers, 1);
	assert_string_equal(plan.servers[0].gpu.v, "l40s");
	assert_true(plan.servers[0].gpus_per_server.v == 4);
	assert_true(plan.servers[0].count.v == 4);
	assert_true(plan.servers[0].capex_usd.v == 62000);
	assert_true(plan.costs[GM_PLAN_COST_ELECTRICITY].set);
	assert_true(plan.costs[GM_PLAN_COST_ELECTRICITY].v == 0.11);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "plan %s:27:30", gm_buf_cstr(&path));
	assert_string_equal(plan.costs[GM_PLAN_COST_ELECTRICITY].src, gm_buf_cstr(&want));
	assert_true(plan.costs[GM_PLAN_COST_PUE].v == 1.4);
	assert_false(plan.costs[GM_PLAN_COST_SERVER_POWER_FACTOR].set);
	assert_string_equal(plan.check_profile.v, "k8s");
	assert_string_equal(plan.check_require_cuda.v, "12.2");
	assert_false(plan.check_local);
	assert_non_null(plan.check_local_src);
	assert_int_equal(plan.n_datasets, 2);
	assert_string_equal(plan.datasets[0].source.v, "gs://acme-ml-data/shards");
	assert_true(plan.datasets[0].size_bytes.v == 13194139533312.0); /* 12 x 2^40 */
	assert_true(plan.datasets[1].size_bytes.v == 1649267441664.0);  /* 1.5 x 2^40 */
	assert_int_equal(plan.n_workloads, 2);
	assert_string_equal(plan.workloads[0].name.v, "llm-finetune");
	assert_int_equal(plan.workloads[0].manifests.n, 1);
	assert_string_equal(plan.workloads[0].manifests.v[0], "manifests/finetune-job.yaml");
	assert_true(plan.workloads[0].model_params.v == 70e9);
	assert_string_equal(plan.workloads[0].precision.v, "bf16");
	assert_string_equal(plan.workloads[0].require_cuda.v, "12.2");
	assert_null(plan.workloads[1].require_cuda.v);
	assert_true(plan.bandwidth_bps.v == 1e10);
	assert_true(plan.latency_ms.v == 20);
	assert_true(plan.max_breakeven_months.v == 24);
	assert_true(plan.min_capacity_ratio.v == 1.0);
	assert_true(plan.utilisation.v == 0.7);
	/* relative paths resolve against the plan's directory */
	gm_plan_path(&plan, "manifests/x.yaml", &want);
	gm_buf_reset(&path);
	src_path("examples/manifests/x.yaml", &path);
	assert_string_equal(gm_buf_cstr(&want), gm_buf_cstr(&path));
	gm_plan_path(&plan, "/abs/x.yaml", &want);
	assert_string_equal(gm_buf_cstr(&want), "/abs/x.yaml");
	gm_plan_release(&plan);
	gm_buf_release(&path);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static void t4_example_parses(void **state)
{
	(void)state;
	struct gm_plan plan;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf path = GM_BUF_INIT;
	src_path("examples/t4-fleet-to-l4.yaml", &path);
	assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_OK);
	assert_string_equal(plan.instances[0].type.v, "gcp:n1-standard-8-t4x1");
	assert_true(plan.instances[0].count.v == 20);
	assert_int_equal(plan.instances[0].commit, GM_TCO_COMMIT_1Y);
	assert_string_equal(plan.servers[0].gpu.v, "l4");
	assert_true(plan.datasets[0].size_bytes.v == 400e9);
	assert_true(plan.workloads[0].model_params.v == 350e6);
	assert_true(plan.bandwidth_bps.v == 1e9);
	assert_true(plan.utilisation.v == 0.6);
	assert_false(plan.min_capacity_ratio.set);
	gm_plan_release(&plan);
	gm_buf_release(&path);
	gm_err_release(&err);
}

/* Each bad plan and the message after its path. */
static const struct {
	const char *file;
	const char *msg;
} bad_plans[] = {
        {"bad-unknown-key.yaml",
         ":3:1: unknown key 'horizon_year' (did you mean 'horizon_years'?)"},
        {"bad-schema.yaml",
         ":1:9: schema 'gpumigrate.plan/v2' is not supported (expected 'gpumigrate.plan/v1')"},
        {"bad-no-schema.yaml", ":1:1: missing 'schema: gpumigrate.plan/v1'"},
        {"bad-not-a-map.yaml",
         ":1:3: a plan must be a mapping that starts with 'schema: gpumigrate.plan/v1'"},
        {"bad-count.yaml", ":5:14: 'count' must be a whole number from 1 to 100000, not 0"},
        {"bad-commitment.yaml", ":6:19: 'commitment' must be on-demand, 1y or 3y, not '2y'"},
        {"bad-instance-key.yaml", ":4:7: unknown key 'typ' (did you mean 'type'?)"},
        {"bad-missing-type.yaml", ":4:7: source instance needs 'type' (a catalog instance id "
                                  "such as gcp:a2-highgpu-8g)"},
        {"bad-instances-not-list.yaml", ":4:5: 'instances' must be a list"},
        {"bad-cost-key.yaml", ":7:5: unknown key 'electricty_usd_per_kwh' (did you mean "
                              "'electricity_usd_per_kwh'?)"},
        {"bad-cost-value.yaml",
         ":4:11: 'pue' must be a number, not the string \"1.4\" (drop the quotes)"},
        {"bad-size.yaml", ":5:11: 'size' must be a size such as 500GB or 12TiB, not '12 TBs'"},
        {"bad-bandwidth.yaml",
         ":3:14: 'bandwidth' must be a rate such as 10Gbps or 400MB/s, not '10'"},
        {"bad-utilisation.yaml",
         ":3:16: 'utilisation' must be a number above 0 and at most 1, not 1.5"},
        {"bad-precision.yaml", ":5:16: 'precision' must be one of fp64, fp32, tf32, fp16, "
                               "bf16, fp8, int8, not 'fp4'"},
        {"bad-model-size.yaml",
         ":4:17: 'model_size' must be a parameter count such as 7B or 350M, not '70GB'"},
        {"bad-cuda.yaml", ":4:19: 'require_cuda' must be a CUDA version such as 12.2, not "
                          "'twelve'"},
        {"bad-profile.yaml", ":4:14: 'profile' must be k8s, anthos-baremetal, docker or "
                             "vm-passthrough, not 'kubernetes'"},
        {"bad-server.yaml", ":4:7: target server needs 'gpu' (a catalog GPU such as l40s) or "
                            "'inventories'"},
        {"bad-dataset.yaml", ":3:5: dataset needs 'name' and 'source' (gs://bucket/path, "
                             "s3://bucket/path, /path or host:/path)"},
        {"bad-horizon.yaml", ":2:16: 'horizon_years' must be a whole number from 1 to 5, not 10"},
        {"bad-syntax.yaml", ":6:7: did not find expected '-' indicator"},
};

static void bad_plans_name_file_line_col(void **state)
{
	(void)state;
	struct gm_buf path = GM_BUF_INIT, want = GM_BUF_INIT;
	for (size_t i = 0; i < sizeof(bad_plans) / sizeof(bad_plans[0]); i++) {
		struct gm_plan plan;
		struct gm_err err = GM_ERR_INIT;
		fixture_path(bad_plans[i].file, &path);
		gm_buf_reset(&want);
		gm_buf_addf(&want, "%s%s", gm_buf_cstr(&path), bad_plans[i].msg);
		assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_ERR_PARSE);
		if (strcmp(gm_err_msg(&err), gm_buf_cstr(&want)) != 0)
			fail_msg("%s:\n got  %s\n want %s", bad_plans[i].file, gm_err_msg(&err),
			         gm_buf_cstr(&want));
		assert_int_equal(plan.n_instances, 0); /* released */
		gm_plan_release(&plan);
		gm_err_release(&err);
	}
	/* every bad-*.yaml fixture is in the table */
	gm_buf_reset(&path);
	gm_buf_addf(&path, "%s/plans", env_or("GM_FIXTURES", "tests/fixtures"));
	DIR *d = opendir(gm_buf_cstr(&path));
	assert_non_null(d);
	size_t n_bad = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, "bad-", 4) != 0)
			continue;
		bool listed = false;
		for (size_t i = 0; i < sizeof(bad_plans) / sizeof(bad_plans[0]); i++)
			listed = listed || strcmp(bad_plans[i].file, e->d_name) == 0;
		if (!listed)
			fail_msg("fixture %s has no expected message", e->d_name);
		n_bad++;
	}
	closedir(d);
	assert_int_equal(n_bad, sizeof(bad_plans) / sizeof(bad_plans[0]));
	struct gm_plan plan;
	struct gm_err err = GM_ERR_INIT;
	fixture_path("does-not-exist.yaml", &path);
	assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_ERR_NOT_FOUND);
	gm_plan_release(&plan);
	gm_err_release(&err);
	gm_buf_release(&path);
	gm_buf_release(&want);
}

static void example_to_tco_inputs(void **state)
{
	(void)state;
	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf path = GM_BUF_INIT, want = GM_BUF_INIT;
	gm_catalog_init(&cat);
	gm_tco_inputs_init(&in);
	assert_int_equal(gm_catalog_load(&cat, NULL, &err), GM_OK);
	src_path("examples/gke-a100-to-l40s.yaml", &path);
	assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_OK);
	assert_int_equal(gm_plan_tco_inputs(&plan, &cat, &in, &err), GM_OK);

	assert_true(in.in[GM_TCO_CLOUD_GPUS].v == 16);
	assert_true(in.in[GM_TCO_CLOUD_ON_DEMAND].v == 29.38708 / 8);
	assert_string_equal(in.in[GM_TCO_CLOUD_ON_DEMAND].src,
	                    "catalog cloud.yaml gcp:a2-highgpu-8g us-central1 on_demand_hour "
	                    "29.38708 / 8 GPUs (2025-03-06)");
	assert_true(in.in[GM_TCO_CLOUD_COMMIT_3Y].v == 10.285667 / 8);
	assert_int_equal(in.commitment, GM_TCO_ON_DEMAND);
	assert_true(in.in[GM_TCO_SERVERS].v == 4);
	assert_true(in.in[GM_TCO_GPUS_PER_SERVER].v == 4);
	assert_true(in.in[GM_TCO_GPU_TDP_W].v == 350);
	assert_string_equal(in.in[GM_TCO_GPU_TDP_W].src,
	                    "catalog gpus.yaml l40s tdp_w (2026-11-28)");
	assert_true(in.in[GM_TCO_SERVER_CAPEX].v == 62000);
	gm_buf_addf(&want, "plan %s:28:10", gm_buf_cstr(&path));
	assert_true(in.in[GM_TCO_PUE].v == 1.4);
	assert_string_equal(in.in[GM_TCO_PUE].src, gm_buf_cstr(&want));
	assert_true(in.in[GM_TCO_SERVER_POWER_FACTOR].v == 1.8);
	assert_string_equal(in.in[GM_TCO_SERVER_POWER_FACTOR].src,
	                    "catalog onprem.yaml server_power_factor (assumption, 2026-11-28)");
	assert_true(in.in[GM_TCO_COLOCATION].v == 184.06);
	assert_true(in.in[GM_TCO_IDLE_POWER_FRACTION].v == 0.3);
	assert_string_equal(in.in[GM_TCO_IDLE_POWER_FRACTION].src,
	                    "gpumigrate assumption (set target.costs.idle_power_fraction)");
	for (int k = 0; k < GM_TCO_N_INPUTS; k++)
		assert_false(in.in[k].missing);
	assert_string_equal(in.cloud_label, "2 x gcp:a2-highgpu-8g (us-central1)");
	assert_string_equal(in.onprem_label, "4 x 4 x l40s");

	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	/* capex: 4 x 62000 = 248000, network 8 % = 19840, install 4 x 1500 = 6000 */
	assert_money(r.capex_total, 273840.00);
	/* power: 10.08 kW x 0.79 x 1.4 x 730 x 0.11 = 895.2193 */
	assert_money(r.month_power, 895.22);
	/* opex: 895.2193 + 1855.3248 + (267840 x 0.2 / 12 = 4464) + 1508.6667 = 8723.2108;
	 * break-even vs on-demand: 273840 / (30033.5958 - 8723.2108) = 12.85 -> month 13 */
	assert_money(r.month_opex, 8723.21);
	assert_int_equal(r.breakeven_month[GM_TCO_ON_DEMAND], 13);
	gm_plan_release(&plan);
	gm_tco_inputs_release(&in);
	gm_catalog_release(&cat);
	gm_buf_release(&path);
	gm_buf_release(&want);
	gm_err_release(&err);
}

static void inventory_target_and_missing_figures(void **state)
{
	(void)state;
	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_tco_inputs in;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf path = GM_BUF_INIT;
	gm_catalog_init(&cat);
	gm_tco_inputs_init(&in);
	assert_int_equal(gm_catalog_load(&cat, NULL, &err), GM_OK);
	fixture_path("good-inventory.yaml", &path);
	assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_OK);
	assert_int_equal(gm_plan_tco_inputs(&plan, &cat, &in, &err), GM_OK);
	/* 3 x g2-standard-48 (4 x L4 each), 3-year commitment */
	assert_true(in.in[GM_TCO_CLOUD_GPUS].v == 12);
	assert_true(in.in[GM_TCO_CLOUD_COMMIT_3Y].v == 1.800749 / 4);
	assert_int_equal(in.commitment, GM_TCO_COMMIT_3Y);
	/* two inventories of a 4 x L40S server: two servers */
	assert_true(in.in[GM_TCO_SERVERS].v == 2);
	assert_string_equal(in.in[GM_TCO_SERVERS].src, "one server per inventory");
	assert_true(in.in[GM_TCO_GPUS_PER_SERVER].v == 4);
	assert_true(in.in[GM_TCO_GPU_TDP_W].v == 350);
	assert_true(in.in[GM_TCO_SERVER_CAPEX].v == 58000.5);
	assert_true(in.in[GM_TCO_COLOCATION].v == 0);
	assert_false(in.in[GM_TCO_COLOCATION].missing);
	assert_true(in.in[GM_TCO_UTILISATION].v == 0.5);
	assert_true(in.in[GM_TCO_HORIZON_YEARS].v == 2);
	gm_plan_release(&plan);
	gm_tco_inputs_release(&in);

	/* a server without a public price: the message says what to set */
	gm_tco_inputs_init(&in);
	fixture_path("good-no-capex.yaml", &path);
	assert_int_equal(gm_plan_load(&plan, gm_buf_cstr(&path), &err), GM_OK);
	assert_int_equal(gm_plan_tco_inputs(&plan, &cat, &in, &err), GM_ERR_USAGE);
	struct gm_buf want = GM_BUF_INIT;
	gm_buf_addf(&want,
	            "plan %s:8:7: no price for a server with 4 x l4: the catalog's 'server-4x-l4' "
	            "has no public figure; set 'capex_usd' (USD per server) from your quote, or "
	            "pass --capex",
	            gm_buf_cstr(&path));
	assert_string_equal(gm_err_msg(&err), gm_buf_cstr(&want));
	/* with a price the catalog's null figures become missing inputs, counted as 0 */
	gm_plan_num_set(&plan.servers[0].capex_usd, 24000, "flag --capex");
	assert_int_equal(gm_plan_tco_inputs(&plan, &cat, &in, &err), GM_OK);
	assert_string_equal(in.in[GM_TCO_SERVER_CAPEX].src, "flag --capex");
	assert_true(in.in[GM_TCO_STAFF_FTE].missing);
	assert_true(in.in[GM_TCO_NETWORK_CAPEX_PCT].missing);
	assert_true(in.in[GM_TCO_INSTALL_PER_SERVER].missing);
	assert_string_equal(in.in[GM_TCO_STAFF_FTE].src,
	                    "catalog onprem.yaml staff_fte_per_servers has no public figure; set "
	                    "target.costs.staff_fte_per_servers");
	assert_false(in.in[GM_TCO_PUE].missing);
	gm_buf_release(&want);
	gm_plan_release(&plan);
	gm_tco_inputs_release(&in);
	gm_catalog_release(&cat);
	gm_buf_release(&path);
	gm_err_release(&err);
}

static enum gm_rc tco_from_text(const char *text, struct gm_err *err)
{
	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_tco_inputs in;
	gm_catalog_init(&cat);
	gm_tco_inputs_init(&in);
	enum gm_rc rc = gm_catalog_load(&cat, NULL, err);
	assert_int_equal(rc, GM_OK);
	rc = gm_plan_parse(&plan, "mem.yaml", text, strlen(text), err);
	assert_int_equal(rc, GM_OK);
	rc = gm_plan_tco_inputs(&plan, &cat, &in, err);
	gm_plan_release(&plan);
	gm_tco_inputs_release(&in);
	gm_catalog_release(&cat);
	return rc;
}

static void catalog_references_are_checked(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(
	        tco_from_text("schema: gpumigrate.plan/v1\n"
	                      "source:\n"
	                      "  instances:\n"
	                      "    - type: gcp:a2-higpu-8g\n"
	                      "target:\n"
	                      "  servers: [{gpu: l40s, gpus_per_server: 4, capex_usd: 1}]\n",
	                      &err),
	        GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err),
	                    "plan mem.yaml:4:13: unknown instance type "
	                    "'gcp:a2-higpu-8g' (did you mean 'gcp:a2-highgpu-8g'?)");
	assert_int_equal(
	        tco_from_text("schema: gpumigrate.plan/v1\n"
	                      "source:\n"
	                      "  instances:\n"
	                      "    - {type: gcp:a2-highgpu-8g, region: mars-1}\n"
	                      "target:\n"
	                      "  servers: [{gpu: l40s, gpus_per_server: 4, capex_usd: 1}]\n",
	                      &err),
	        GM_ERR_USAGE);
	assert_string_equal(
	        gm_err_msg(&err),
	        "plan mem.yaml:4:41: the catalog has no price for 'gcp:a2-highgpu-8g' in "
	        "region 'mars-1' (it has: us-central1 europe-west4)");
	assert_int_equal(
	        tco_from_text("schema: gpumigrate.plan/v1\n"
	                      "source:\n"
	                      "  instances:\n"
	                      "    - {type: gcp:a2-highgpu-8g, commitment: 1y}\n"
	                      "    - {type: gcp:a2-highgpu-1g, commitment: 3y}\n"
	                      "target:\n"
	                      "  servers: [{gpu: l40s, gpus_per_server: 4, capex_usd: 1}]\n",
	                      &err),
	        GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err),
	                    "plan mem.yaml:5:45: commitment '3y' differs from '1y' at plan "
	                    "mem.yaml:4:45: tco models one commitment for the whole source fleet");
	assert_int_equal(
	        tco_from_text("schema: gpumigrate.plan/v1\n"
	                      "source:\n"
	                      "  instances: [{type: gcp:a2-highgpu-8g}]\n"
	                      "target:\n"
	                      "  servers: [{gpu: l40z, gpus_per_server: 4, capex_usd: 1}]\n",
	                      &err),
	        GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err),
	                    "plan mem.yaml:5:19: unknown GPU 'l40z' (did you mean 'l40s'?)");
	gm_err_release(&err);
}

static void mixed_fleet_is_gpu_weighted(void **state)
{
	(void)state;
	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_tco_inputs in;
	struct gm_err err = GM_ERR_INIT;
	const char *text = "schema: gpumigrate.plan/v1\n"
	                   "source:\n"
	                   "  instances:\n"
	                   "    - {type: gcp:a2-highgpu-8g, count: 1}\n"
	                   "    - {type: gcp:a2-highgpu-1g, count: 4}\n"
	                   "target:\n"
	                   "  servers:\n"
	                   "    - {gpu: l40s, gpus_per_server: 4, count: 2, capex_usd: 60000}\n"
	                   "    - {gpu: l4, gpus_per_server: 8, count: 1, capex_usd: 30000}\n";
	gm_catalog_init(&cat);
	gm_tco_inputs_init(&in);
	assert_int_equal(gm_catalog_load(&cat, NULL, &err), GM_OK);
	assert_int_equal(gm_plan_parse(&plan, "mix.yaml", text, strlen(text), &err), GM_OK);
	assert_int_equal(gm_plan_tco_inputs(&plan, &cat, &in, &err), GM_OK);
	const struct gm_instance *one = gm_catalog_find_instance(&cat, "gcp:a2-highgpu-1g");
	assert_non_null(one);
	double p1 = gm_instance_price(one, NULL)->on_demand_hour.v;
	/* 8 + 4 GPUs; price = (29.38708 + 4 x p1) / 12 */
	assert_true(in.in[GM_TCO_CLOUD_GPUS].v == 12);
	assert_true(fabs(in.in[GM_TCO_CLOUD_ON_DEMAND].v - (29.38708 + 4 * p1) / 12) < 1e-12);
	/* 3 servers, 16 GPUs: 5.3333 per server; TDP (8 x 350 + 8 x 72) / 16 = 211 W;
	 * capex (2 x 60000 + 30000) / 3 = 50000 per server */
	assert_true(in.in[GM_TCO_SERVERS].v == 3);
	assert_true(fabs(in.in[GM_TCO_GPUS_PER_SERVER].v - 16.0 / 3) < 1e-12);
	assert_true(in.in[GM_TCO_GPU_TDP_W].v == 211);
	assert_true(in.in[GM_TCO_SERVER_CAPEX].v == 50000);
	assert_string_equal(in.onprem_label, "2 x 4 x l40s + 1 x 8 x l4");
	gm_plan_release(&plan);
	gm_tco_inputs_release(&in);
	gm_catalog_release(&cat);
	gm_err_release(&err);
}

/* The optional monitor: section (alert thresholds for `monitor rules`). */
static void monitor_section(void **state)
{
	(void)state;
	static const char good[] = "schema: gpumigrate.plan/v1\n"
	                           "monitor:\n"
	                           "  memory_threshold: 0.95\n"
	                           "  temperature_threshold: 83\n"
	                           "  job: gpu-exporter\n"
	                           "  for:\n"
	                           "    GPUMemoryHigh: 10m\n"
	                           "    GPUExporterDown: 0s\n";
	struct gm_plan plan;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_plan_parse(&plan, "m.yaml", good, strlen(good), &err), GM_OK);
	assert_true(plan.monitor_memory_threshold.set);
	assert_true(plan.monitor_memory_threshold.v == 0.95);
	assert_string_equal(plan.monitor_memory_threshold.src, "plan m.yaml:3:21");
	assert_true(plan.monitor_temperature_threshold.v == 83);
	assert_string_equal(plan.monitor_job.v, "gpu-exporter");
	assert_int_equal(plan.n_monitor_for, 2);
	assert_string_equal(plan.monitor_for[0].alert, "GPUMemoryHigh");
	assert_string_equal(plan.monitor_for[0].duration.v, "10m");
	assert_string_equal(plan.monitor_for[0].duration.src, "plan m.yaml:7:20");
	assert_string_equal(plan.monitor_for[1].alert, "GPUExporterDown");
	assert_string_equal(plan.monitor_for[1].duration.v, "0s");
	gm_plan_release(&plan);

	/* absent: nothing set */
	static const char none[] = "schema: gpumigrate.plan/v1\n";
	assert_int_equal(gm_plan_parse(&plan, "n.yaml", none, strlen(none), &err), GM_OK);
	assert_false(plan.monitor_memory_threshold.set);
	assert_null(plan.monitor_job.v);
	assert_int_equal(plan.n_monitor_for, 0);
	gm_plan_release(&plan);

	static const struct {
		const char *text, *msg;
	} bad[] = {
	        {"schema: gpumigrate.plan/v1\nmonitor:\n  memory_threshold: 90\n",
	         "b.yaml:3:21: 'memory_threshold' must be a number above 0 and at most 1, not 90"},
	        {"schema: gpumigrate.plan/v1\nmonitor:\n  temperature_threshold: hot\n",
	         "b.yaml:3:26: 'temperature_threshold' must be a number, not 'hot'"},
	        {"schema: gpumigrate.plan/v1\nmonitor:\n  memory_treshold: 0.9\n",
	         "b.yaml:3:3: unknown key 'memory_treshold'"},
	        {"schema: gpumigrate.plan/v1\nmonitor:\n  for: 5m\n",
	         "b.yaml:3:8: 'for' must be a mapping of alert name to duration"},
	        {"schema: gpumigrate.plan/v1\nmonitor:\n  for:\n    GPUMemoryHigh: [5m]\n",
	         "b.yaml:4:21: each entry of 'for' must be an alert name and a duration"},
	        {"schema: gpumigrate.plan/v1\nmonitor: 3\n",
	         "b.yaml:2:10: 'monitor' must be a mapping"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		        gm_plan_parse(&plan, "b.yaml", bad[i].text, strlen(bad[i].text), &err),
		        GM_ERR_PARSE);
		if (!strstr(gm_err_msg(&err), bad[i].msg))
			fail_msg("case %zu:\n got  %s\n want %s", i, gm_err_msg(&err), bad[i].msg);
		assert_int_equal(plan.n_monitor_for, 0); /* released */
		gm_plan_release(&plan);
	}
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(sizes_parse_strictly),
	        cmocka_unit_test(params_rates_durations),
	        cmocka_unit_test(gke_example_parses),
	        cmocka_unit_test(t4_example_parses),
	        cmocka_unit_test(bad_plans_name_file_line_col),
	        cmocka_unit_test(example_to_tco_inputs),
	        cmocka_unit_test(inventory_target_and_missing_figures),
	        cmocka_unit_test(catalog_references_are_checked),
	        cmocka_unit_test(mixed_fleet_is_gpu_weighted),
	        cmocka_unit_test(monitor_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

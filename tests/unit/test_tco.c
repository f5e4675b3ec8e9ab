/* Unit tests for assess/tco: every figure is worked out by hand in the comments next to it and
 * compared to the cent (0.005), so a change in the model shows up as a failing number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assess/tco.h"
#include "util/buf.h"
#include "util/doc.h"
#include "util/json.h"

#define CENT                    0.005
#define assert_money(a, b)      assert_true(fabs((a) - (b)) <= CENT)
#define assert_close(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

/* The GKE example: 2 x a2-highgpu-8g (16 x A100) against 4 servers with 4 x L40S each. */
static void gke_inputs(struct gm_tco_inputs *in)
{
	gm_tco_inputs_init(in);
	gm_tco_set(in, GM_TCO_CLOUD_GPUS, 16, "test");
	gm_tco_set(in, GM_TCO_CLOUD_ON_DEMAND, 29.38708 / 8, "test");  /* 3.673385 */
	gm_tco_set(in, GM_TCO_CLOUD_COMMIT_1Y, 18.513656 / 8, "test"); /* 2.314207 */
	gm_tco_set(in, GM_TCO_CLOUD_COMMIT_3Y, 10.285667 / 8, "test"); /* 1.285708375 */
	gm_tco_set(in, GM_TCO_UTILISATION, 0.7, "flag --utilisation");
	gm_tco_set(in, GM_TCO_SERVERS, 4, "test");
	gm_tco_set(in, GM_TCO_GPUS_PER_SERVER, 4, "test");
	gm_tco_set(in, GM_TCO_GPU_TDP_W, 350, "test");
	gm_tco_set(in, GM_TCO_SERVER_CAPEX, 60000, "test");
	gm_tco_set(in, GM_TCO_NETWORK_CAPEX_PCT, 0.10, "test");
	gm_tco_set(in, GM_TCO_INSTALL_PER_SERVER, 2000, "test");
	gm_tco_set(in, GM_TCO_SERVER_POWER_FACTOR, 1.8, "test");
	gm_tco_set(in, GM_TCO_PUE, 1.56, "test");
	gm_tco_set(in, GM_TCO_ELECTRICITY, 0.1238, "test");
	gm_tco_set(in, GM_TCO_IDLE_POWER_FRACTION, 0.3, "test");
	gm_tco_set(in, GM_TCO_COLOCATION, 184.06, "test");
	gm_tco_set(in, GM_TCO_SUPPORT_PCT, 0.20, "test");
	gm_tco_set(in, GM_TCO_STAFF_FTE, 0.05, "test");
	gm_tco_set(in, GM_TCO_FTE_COST, 90520, "test");
	gm_tco_set(in, GM_TCO_DEPRECIATION_YEARS, 5, "test");
	gm_tco_set(in, GM_TCO_HORIZON_YEARS, 3, "test");
}

static void cloud_costs_by_hand(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	assert_int_equal(r.months, 36);
	/* on-demand, used hours only: 16 GPUs x 730 h x 0.7 x 3.673385 = 8176 x 3.673385 */
	assert_money(r.cloud_month[GM_TCO_ON_DEMAND], 30033.60);
	/* 1y commitment, every hour: 16 x 730 x 2.314207 = 11680 x 2.314207 = 27029.93776 */
	assert_money(r.cloud_month[GM_TCO_COMMIT_1Y], 27029.94);
	/* 3y: 11680 x 1.285708375 = 15017.07382 */
	assert_money(r.cloud_month[GM_TCO_COMMIT_3Y], 15017.07);
	/* a year is 12 months of that */
	assert_money(r.year_cloud[0][GM_TCO_ON_DEMAND], 360403.15);
	assert_money(r.year_cloud[2][GM_TCO_COMMIT_1Y], 324359.25);
	/* cumulative after 36 months: 36 x 15017.07382 = 540614.65752 */
	assert_money(r.cum_cloud[36][GM_TCO_COMMIT_3Y], 540614.66);
	assert_money(r.cum_cloud[0][GM_TCO_ON_DEMAND], 0);
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void onprem_costs_by_hand(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	/* capex: 4 x 60000 = 240000; network 10 % = 24000; install 4 x 2000 = 8000 */
	assert_money(r.capex_servers, 240000);
	assert_money(r.capex_network, 24000);
	assert_money(r.capex_install, 8000);
	assert_money(r.capex_total, 272000);
	/* IT power: 16 GPUs x 350 W x 1.8 = 10.08 kW; at u 0.7: 0.3 + 0.7 x 0.7 = 0.79 -> 7.9632 */
	assert_close(r.it_kw_max, 10.08, 1e-9);
	assert_close(r.it_kw_avg, 7.9632, 1e-9);
	/* energy: 7.9632 kW x 1.56 x 730 h x 0.1238 = 9068.49216 kWh x 0.1238 = 1122.6793 */
	assert_money(r.month_power, 1122.68);
	/* colocation: 10.08 kW x 184.06 = 1855.3248 */
	assert_money(r.month_colocation, 1855.32);
	/* support: (240000 + 24000) x 0.20 / 12 = 4400 */
	assert_money(r.month_support, 4400.00);
	/* staff: 4 x 0.05 FTE x 90520 / 12 = 1508.6667 */
	assert_money(r.month_staff, 1508.67);
	/* opex: 1122.6793 + 1855.3248 + 4400 + 1508.6667 = 8886.6708 */
	assert_money(r.month_opex, 8886.67);
	/* depreciation: 272000 / 60 months = 4533.3333 */
	assert_money(r.month_depreciation, 4533.33);
	/* year 1 cash: 272000 + 12 x 8886.6708 = 378640.05; year 2: 106640.05 */
	assert_money(r.year_onprem_cash[0], 378640.05);
	assert_money(r.year_onprem_cash[1], 106640.05);
	/* amortised: 12 x (4533.3333 + 8886.6708) = 161040.05 every year */
	assert_money(r.year_onprem_amortised[0], 161040.05);
	assert_money(r.year_onprem_amortised[2], 161040.05);
	/* cumulative: capex at month 0, then + opex */
	assert_money(r.cum_onprem[0], 272000);
	assert_money(r.cum_onprem[12], 378640.05);
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void breakeven_by_hand(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	/* on-demand: 272000 / (30033.5958 - 8886.6708) = 12.86 -> month 13 */
	assert_int_equal(r.breakeven_month[GM_TCO_ON_DEMAND], 13);
	assert_true(r.cum_onprem[13] <= r.cum_cloud[13][GM_TCO_ON_DEMAND]);
	assert_true(r.cum_onprem[12] > r.cum_cloud[12][GM_TCO_ON_DEMAND]);
	/* 1y: 272000 / (27029.9378 - 8886.6708) = 14.99 -> 15 */
	assert_int_equal(r.breakeven_month[GM_TCO_COMMIT_1Y], 15);
	/* 3y: 272000 / (15017.0738 - 8886.6708) = 44.4 -> beyond 36 months */
	assert_int_equal(r.breakeven_month[GM_TCO_COMMIT_3Y], -1);
	assert_int_equal(r.reference, GM_TCO_ON_DEMAND);

	/* per delivered GPU-hour: 16 x 730 x 0.7 x 36 = 294336 GPU-hours */
	assert_close(r.delivered_gpu_hours, 294336, 1e-6);
	assert_money(r.cloud_per_gpu_hour[GM_TCO_ON_DEMAND], 3.67);
	assert_close(r.cloud_per_gpu_hour[GM_TCO_ON_DEMAND], 3.673385, 1e-9);
	/* 1y: 27029.93776 x 36 / 294336 = 3.30601 (paid for idle hours too) */
	assert_money(r.cloud_per_gpu_hour[GM_TCO_COMMIT_1Y], 3.31);
	/* on-prem amortised: 36 x (4533.3333 + 8886.6708) / 294336 = 1.64139 */
	assert_money(r.onprem_per_gpu_hour, 1.64);
	/* cash: (272000 + 36 x 8886.6708) / 294336 = 2.01104 */
	assert_money(r.onprem_per_gpu_hour_cash, 2.01);
	/* same number of GPUs on both sides here */
	assert_money(r.onprem_per_onprem_gpu_hour, 1.64);

	/* break-even utilisation, amortised, per month: energy at full load
	 * E = 10.08 x 1.56 x 730 x 0.1238 = 1421.1131;
	 * on-prem = 4533.3333 + 7763.9915 + 0.3 E + 0.7 E u; cloud = 42905.1368 u
	 * u = (4533.3333 + 7763.9915 + 426.3339) / (42905.1368 - 994.7792) = 0.30359 */
	assert_int_equal(r.beu_amortised.kind, GM_TCO_BEU_ABOVE);
	assert_close(r.beu_amortised.u, 0.30359, 1e-5);
	/* cash over 36 months: capex / 36 = 7555.5556 instead of 4533.3333 -> 0.37570 */
	assert_int_equal(r.beu_cash.kind, GM_TCO_BEU_ABOVE);
	assert_close(r.beu_cash.u, 0.37570, 1e-5);
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void sensitivity_by_hand(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	assert_close(r.sens_util[0], 0.3, 1e-12);
	assert_close(r.sens_price[3], 0.20, 1e-12);
	/* u 0.3, 0.08 $/kWh: cloud 16 x 730 x 0.3 x 3.673385 = 12871.5410;
	 * opex 10.08 x 0.51 x 1.56 x 730 x 0.08 + 7763.9915 = 8232.3389;
	 * 272000 / 4639.2021 = 58.6 -> beyond 36 months */
	assert_int_equal(r.sens_month[0][0], -1);
	/* u 0.9, 0.20 $/kWh: 272000 / (38614.5231 - 9898.8085) = 9.47 -> 10 */
	assert_int_equal(r.sens_month[3][3], 10);
	/* the base case (0.7, 0.1238) lies between the 0.12 and 0.16 columns */
	assert_true(r.sens_month[2][1] <= 13 && r.sens_month[2][2] >= 13);
	/* higher utilisation never delays break-even against on-demand */
	for (int k = 0; k < GM_TCO_SENS_N; k++)
		for (int i = 1; i < GM_TCO_SENS_N; i++)
			if (r.sens_month[i - 1][k] >= 0)
				assert_true(r.sens_month[i][k] >= 0 &&
				            r.sens_month[i][k] <= r.sens_month[i - 1][k]);
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void commitment_is_paid_when_idle(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	gm_tco_set(&in, GM_TCO_UTILISATION, 0.25, "test");
	gm_tco_set_commitment(&in, GM_TCO_COMMIT_3Y, "plan x.yaml:4:17");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	/* 3y does not depend on use: still 15017.07 */
	assert_money(r.cloud_month[GM_TCO_COMMIT_3Y], 15017.07);
	/* on-demand at 0.25: 2920 x 3.673385 = 10726.2842 */
	assert_money(r.cloud_month[GM_TCO_ON_DEMAND], 10726.28);
	/* per delivered GPU-hour the commitment costs 1.285708375 / 0.25 = 5.1428 */
	assert_money(r.cloud_per_gpu_hour[GM_TCO_COMMIT_3Y], 5.14);
	assert_int_equal(r.reference, GM_TCO_COMMIT_3Y);
	/* against a flat cloud cost, on-prem gets dearer with use: cheaper only below u*.
	 * amortised per month: 12297.3248 + 426.3339 + 994.7792 u = 15017.0738 -> u = 2.29:
	 * on-prem is cheaper at every utilisation */
	assert_int_equal(r.beu_amortised.kind, GM_TCO_BEU_ALWAYS);
	/* cash: 7555.5556 + 7763.9915 + 426.3339 + 994.7792 u = 15017.0738 -> u < 0: never */
	assert_int_equal(r.beu_cash.kind, GM_TCO_BEU_NEVER);
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void unknown_commit_price_and_short_depreciation(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	/* drop the 1y price (AWS rows have none) */
	free(in.in[GM_TCO_CLOUD_COMMIT_1Y].src);
	in.in[GM_TCO_CLOUD_COMMIT_1Y].src = NULL;
	in.in[GM_TCO_CLOUD_COMMIT_1Y].set = false;
	gm_tco_set(&in, GM_TCO_DEPRECIATION_YEARS, 2, "test");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	assert_true(isnan(r.cloud_month[GM_TCO_COMMIT_1Y]));
	assert_int_equal(r.breakeven_month[GM_TCO_COMMIT_1Y], -1);
	/* 272000 / 24 = 11333.3333 a month for two years, then nothing */
	assert_money(r.month_depreciation, 11333.33);
	assert_money(r.year_onprem_amortised[1], 12 * (11333.333333 + 8886.670796));
	assert_money(r.year_onprem_amortised[2], 106640.05);

	/* the reference commitment needs its price */
	gm_tco_set_commitment(&in, GM_TCO_COMMIT_1Y, "test");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err),
	                    "tco input 'cloud_commit_1y_usd_per_gpu_hour' (cloud 1y commitment) "
	                    "is not set");
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void bad_inputs_name_their_source(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	gke_inputs(&in);
	gm_tco_set(&in, GM_TCO_UTILISATION, 0, "flag --utilisation");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err), "tco input 'utilisation' = 0 (from flag "
	                                      "--utilisation) must be a fraction in (0, 1]");
	gm_tco_set(&in, GM_TCO_UTILISATION, 0.5, "test");
	gm_tco_set(&in, GM_TCO_HORIZON_YEARS, 6, "plan p.yaml:2:16");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err), "tco input 'horizon_years' = 6 (from plan "
	                                      "p.yaml:2:16) must be a whole number from 1 to 5");
	gm_tco_set(&in, GM_TCO_HORIZON_YEARS, 2.5, "test");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_ERR_USAGE);
	gm_tco_set(&in, GM_TCO_HORIZON_YEARS, 5, "test");
	gm_tco_set(&in, GM_TCO_PUE, 0.9, "test");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_ERR_USAGE);
	gm_tco_set(&in, GM_TCO_PUE, 1.2, "test");
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	assert_int_equal(r.months, 60);
	gm_tco_inputs_release(&in);
	gm_tco_inputs_init(&in);
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err), "tco input 'cloud_gpus' (cloud GPUs) is not set");
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void missing_inputs_count_as_zero_and_are_reported(void **state)
{
	(void)state;
	struct gm_tco_inputs in;
	struct gm_tco_result r;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	struct gm_json j;
	struct gm_doc doc;
	gke_inputs(&in);
	gm_tco_set_missing(&in, GM_TCO_STAFF_FTE,
	                   "catalog onprem.yaml staff_fte_per_servers is "
	                   "null");
	assert_true(in.in[GM_TCO_STAFF_FTE].set && in.in[GM_TCO_STAFF_FTE].missing);
	assert_int_equal(gm_tco_compute(&in, &r, &err), GM_OK);
	assert_money(r.month_staff, 0);
	/* opex without staff: 8886.6708 - 1508.6667 = 7378.0041 */
	assert_money(r.month_opex, 7378.00);

	gm_json_init(&j, &out, false);
	gm_tco_to_json(&in, &r, &j, NULL);
	assert_int_equal(gm_doc_load_string(&doc, "tco.json", out.data, out.len, &err), GM_OK);
	struct fy_node *root = gm_doc_root(&doc);
	assert_string_equal(gm_doc_scalar(gm_doc_get(root, "schema")), GM_TCO_SCHEMA);
	struct fy_node *w = gm_doc_get(root, "warnings");
	assert_int_equal(gm_doc_seq_len(w), 1);
	assert_string_equal(gm_doc_scalar(gm_doc_seq_at(w, 0)),
	                    "'staff_fte_per_servers' has no figure and counts as 0: catalog "
	                    "onprem.yaml staff_fte_per_servers is null");
	struct fy_node *pue = gm_doc_get(gm_doc_get(root, "inputs"), "pue");
	assert_string_equal(gm_doc_scalar(gm_doc_get(pue, "value")), "1.56");
	struct fy_node *be = gm_doc_get(root, "breakeven");
	/* 272000 / (30033.5958 - 7378.0041) = 12.006 -> 13 */
	assert_string_equal(gm_doc_scalar(gm_doc_get(be, "month")), "13");
	assert_int_equal(gm_doc_seq_len(gm_doc_get(root, "cumulative")), 37);
	assert_int_equal(gm_doc_seq_len(gm_doc_get(root, "years")), 3);
	gm_doc_release(&doc);
	gm_buf_release(&out);
	gm_tco_inputs_release(&in);
	gm_err_release(&err);
}

static void names_and_keys(void **state)
{
	(void)state;
	enum gm_tco_commitment c;
	assert_true(gm_tco_commitment_parse("3y", &c));
	assert_int_equal(c, GM_TCO_COMMIT_3Y);
	assert_true(gm_tco_commitment_parse("on-demand", &c));
	assert_int_equal(c, GM_TCO_ON_DEMAND);
	assert_false(gm_tco_commitment_parse("2y", &c));
	assert_false(gm_tco_commitment_parse("", &c));
	assert_string_equal(gm_tco_commitment_key(GM_TCO_COMMIT_1Y), "commit_1y");
	assert_int_equal(gm_tco_key_find("pue"), GM_TCO_PUE);
	assert_int_equal(gm_tco_key_find("nope"), -1);
	for (int k = 0; k < GM_TCO_N_INPUTS; k++)
		assert_non_null(gm_tco_fields[k].key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(cloud_costs_by_hand),
	        cmocka_unit_test(onprem_costs_by_hand),
	        cmocka_unit_test(breakeven_by_hand),
	        cmocka_unit_test(sensitivity_by_hand),
	        cmocka_unit_test(commitment_is_paid_when_idle),
	        cmocka_unit_test(unknown_commit_price_and_short_depreciation),
	        cmocka_unit_test(bad_inputs_name_their_source),
	        cmocka_unit_test(missing_inputs_count_as_zero_and_are_reported),
	        cmocka_unit_test(names_and_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

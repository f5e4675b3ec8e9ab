/* The TCO model of tco.h: checks the inputs, computes cloud and on-prem costs per month and
 * year, the cumulative curves, break-even month and utilisation and the sensitivity table,
 * and writes the gpumigrate.tco/v1 JSON object. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "assess/tco.h"
#include "assess/yamlread.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

const struct gm_tco_field gm_tco_fields[GM_TCO_N_INPUTS] = {
        [GM_TCO_CLOUD_GPUS] = {"cloud_gpus", "cloud GPUs", "GPUs", false},
        [GM_TCO_CLOUD_ON_DEMAND] = {"cloud_on_demand_usd_per_gpu_hour", "cloud on-demand",
                                    "USD/GPU-h", true},
        [GM_TCO_CLOUD_COMMIT_1Y] = {"cloud_commit_1y_usd_per_gpu_hour", "cloud 1y commitment",
                                    "USD/GPU-h", true},
        [GM_TCO_CLOUD_COMMIT_3Y] = {"cloud_commit_3y_usd_per_gpu_hour", "cloud 3y commitment",
                                    "USD/GPU-h", true},
        [GM_TCO_UTILISATION] = {"utilisation", "utilisation", "fraction", false},
        [GM_TCO_SERVERS] = {"servers", "on-prem servers", "servers", false},
        [GM_TCO_GPUS_PER_SERVER] = {"gpus_per_server", "GPUs per server", "GPUs", false},
        [GM_TCO_GPU_TDP_W] = {"gpu_tdp_w", "GPU TDP", "W", false},
        [GM_TCO_SERVER_CAPEX] = {"capex_usd_per_server", "server price", "USD", false},
        [GM_TCO_NETWORK_CAPEX_PCT] = {"network_capex_pct", "network capex", "fraction", false},
        [GM_TCO_INSTALL_PER_SERVER] = {"install_capex_usd_per_server", "install per server", "USD",
                                       false},
        [GM_TCO_SERVER_POWER_FACTOR] = {"server_power_factor", "server power factor", "ratio",
                                        false},
        [GM_TCO_PUE] = {"pue", "PUE", "ratio", false},
        [GM_TCO_ELECTRICITY] = {"electricity_usd_per_kwh", "electricity", "USD/kWh", false},
        [GM_TCO_IDLE_POWER_FRACTION] = {"idle_power_fraction", "idle power", "fraction", false},
        [GM_TCO_COLOCATION] = {"colocation_usd_per_kw_month", "colocation", "USD/kW-month", false},
        [GM_TCO_SUPPORT_PCT] = {"support_pct_per_year", "support", "fraction/year", false},
        [GM_TCO_STAFF_FTE] = {"staff_fte_per_servers", "staff", "FTE/server", false},
        [GM_TCO_FTE_COST] = {"fte_cost_usd_year", "FTE cost", "USD/year", false},
        [GM_TCO_DEPRECIATION_YEARS] = {"depreciation_years", "depreciation", "years", false},
        [GM_TCO_HORIZON_YEARS] = {"horizon_years", "horizon", "years", false},
};

/* Accepted range of each input: lo < v (lo_open) or lo <= v, and v <= hi. */
static const struct {
	double lo, hi;
	bool lo_open, integer;
	const char *what;
} ranges[GM_TCO_N_INPUTS] = {
        [GM_TCO_CLOUD_GPUS] = {0, 1e6, true, false, "a positive number"},
        [GM_TCO_CLOUD_ON_DEMAND] = {0, 1e4, false, false, "a price >= 0"},
        [GM_TCO_CLOUD_COMMIT_1Y] = {0, 1e4, false, false, "a price >= 0"},
        [GM_TCO_CLOUD_COMMIT_3Y] = {0, 1e4, false, false, "a price >= 0"},
        [GM_TCO_UTILISATION] = {0, 1, true, false, "a fraction in (0, 1]"},
        [GM_TCO_SERVERS] = {0, 1e6, true, false, "a positive number"},
        [GM_TCO_GPUS_PER_SERVER] = {0, 1024, true, false, "a positive number"},
        [GM_TCO_GPU_TDP_W] = {0, 1e5, true, false, "a positive number of watts"},
        [GM_TCO_SERVER_CAPEX] = {0, 1e9, false, false, "a price >= 0"},
        [GM_TCO_NETWORK_CAPEX_PCT] = {0, 10, false, false, "a fraction >= 0 (0.1 = 10 %)"},
        [GM_TCO_INSTALL_PER_SERVER] = {0, 1e8, false, false, "a price >= 0"},
        [GM_TCO_SERVER_POWER_FACTOR] = {0, 10, true, false, "a positive ratio"},
        [GM_TCO_PUE] = {1, 5, false, false, "a ratio between 1 and 5"},
        [GM_TCO_ELECTRICITY] = {0, 10, false, false, "a price >= 0"},
        [GM_TCO_IDLE_POWER_FRACTION] = {0, 1, false, false, "a fraction in [0, 1]"},
        [GM_TCO_COLOCATION] = {0, 1e5, false, false, "a price >= 0"},
        [GM_TCO_SUPPORT_PCT] = {0, 10, false, false, "a fraction >= 0 (0.2 = 20 %)"},
        [GM_TCO_STAFF_FTE] = {0, 100, false, false, "a number >= 0"},
        [GM_TCO_FTE_COST] = {0, 1e8, false, false, "a price >= 0"},
        [GM_TCO_DEPRECIATION_YEARS] = {0, 50, true, false, "a positive number of years"},
        [GM_TCO_HORIZON_YEARS] = {1, GM_TCO_MAX_YEARS, false, true, "a whole number from 1 to 5"},
};

const double gm_tco_sens_util[GM_TCO_SENS_N] = {0.3, 0.5, 0.7, 0.9};
const double gm_tco_sens_price[GM_TCO_SENS_N] = {0.08, 0.12, 0.16, 0.20};

static const char *const commit_names[GM_TCO_N_COMMIT] = {"on-demand", "1y", "3y"};
static const char *const commit_keys[GM_TCO_N_COMMIT] = {"on_demand", "commit_1y", "commit_3y"};
static const enum gm_tco_key commit_price[GM_TCO_N_COMMIT] = {
        GM_TCO_CLOUD_ON_DEMAND, GM_TCO_CLOUD_COMMIT_1Y, GM_TCO_CLOUD_COMMIT_3Y};

const char *gm_tco_commitment_name(enum gm_tco_commitment c)
{
	return c < GM_TCO_N_COMMIT ? commit_names[c] : "?";
}

const char *gm_tco_commitment_key(enum gm_tco_commitment c)
{
	return c < GM_TCO_N_COMMIT ? commit_keys[c] : "?";
}

bool gm_tco_commitment_parse(const char *s, enum gm_tco_commitment *out)
{
	for (int c = 0; s && c < GM_TCO_N_COMMIT; c++) {
		if (strcmp(s, commit_names[c]) == 0) {
			*out = (enum gm_tco_commitment)c;
			return true;
		}
	}
	return false;
}

const char *gm_tco_beu_name(enum gm_tco_beu_kind k)
{
	switch (k) {
	case GM_TCO_BEU_ABOVE: return "above";
	case GM_TCO_BEU_BELOW: return "below";
	case GM_TCO_BEU_ALWAYS: return "always";
	case GM_TCO_BEU_NEVER: return "never";
	}
	return "?";
}

void gm_tco_inputs_init(struct gm_tco_inputs *in)
{
	memset(in, 0, sizeof(*in));
	in->commitment = GM_TCO_ON_DEMAND;
}

void gm_tco_inputs_release(struct gm_tco_inputs *in)
{
	if (!in)
		return;
	for (int k = 0; k < GM_TCO_N_INPUTS; k++)
		free(in->in[k].src);
	free(in->commitment_src);
	free(in->cloud_label);
	free(in->onprem_label);
	gm_tco_inputs_init(in);
}

__attribute__((format(printf, 5, 0))) static void vset(struct gm_tco_inputs *in,
                                                       enum gm_tco_key key, double v, bool missing,
                                                       const char *fmt, va_list ap)
{
	gm_yr_vreplace(&in->in[key].src, fmt, ap);
	in->in[key].set = true;
	in->in[key].missing = missing;
	in->in[key].v = v;
}

void gm_tco_set(struct gm_tco_inputs *in, enum gm_tco_key key, double v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(in, key, v, false, fmt, ap);
	va_end(ap);
}

void gm_tco_set_missing(struct gm_tco_inputs *in, enum gm_tco_key key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(in, key, 0, true, fmt, ap);
	va_end(ap);
}

void gm_tco_set_commitment(struct gm_tco_inputs *in, enum gm_tco_commitment c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gm_yr_vreplace(&in->commitment_src, fmt, ap);
	va_end(ap);
	in->commitment = c;
}

void gm_tco_set_label(char **label, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gm_yr_vreplace(label, fmt, ap);
	va_end(ap);
}

int gm_tco_key_find(const char *name)
{
	for (int k = 0; name && k < GM_TCO_N_INPUTS; k++)
		if (strcmp(gm_tco_fields[k].key, name) == 0)
			return k;
	return -1;
}

/* Solves a + b u = 0 for the cost difference on-prem minus cloud over (0, 1]. */
static struct gm_tco_beu solve_beu(double a, double b)
{
	struct gm_tco_beu r = {GM_TCO_BEU_NEVER, NAN};
	const double eps = 1e-9 * (fabs(a) + fabs(b) + 1);
	if (fabs(b) <= eps) {
		r.kind = a <= 0 ? GM_TCO_BEU_ALWAYS : GM_TCO_BEU_NEVER;
		return r;
	}
	double u = -a / b;
	if (b < 0) { /* on-prem gains as u grows: cheaper for u >= u* */
		if (u <= 0)
			r.kind = GM_TCO_BEU_ALWAYS;
		else if (u > 1)
			r.kind = GM_TCO_BEU_NEVER;
		else
			r.kind = GM_TCO_BEU_ABOVE, r.u = u;
	} else { /* on-prem loses as u grows: cheaper for u <= u* */
		if (u >= 1)
			r.kind = GM_TCO_BEU_ALWAYS;
		else if (u <= 0)
			r.kind = GM_TCO_BEU_NEVER;
		else
			r.kind = GM_TCO_BEU_BELOW, r.u = u;
	}
	return r;
}

/* Depreciation charged in month m (1-based) of a period of dep_months months. */
static double depreciation_in_month(double capex, double dep_months, int m)
{
	double left = dep_months - (m - 1);
	if (left <= 0)
		return 0;
	return capex * (left < 1 ? left : 1) / dep_months;
}

/* The whole model for values v (indexed by gm_tco_key; unknown prices NaN). */
static void model(const double *v, enum gm_tco_commitment ref, bool sensitivity,
                  struct gm_tco_result *r)
{
	const double H = GM_TCO_HOURS_PER_MONTH;
	double u = v[GM_TCO_UTILISATION];
	memset(r, 0, sizeof(*r));
	r->reference = ref;
	r->years = (int)v[GM_TCO_HORIZON_YEARS];
	r->months = r->years * 12;
	r->utilisation = u;
	r->cloud_gpus = v[GM_TCO_CLOUD_GPUS];
	r->onprem_gpus = v[GM_TCO_SERVERS] * v[GM_TCO_GPUS_PER_SERVER];

	/* cloud */
	double cloud_var[GM_TCO_N_COMMIT], cloud_fix[GM_TCO_N_COMMIT]; /* per month, u slope */
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		double p = v[commit_price[c]];
		if (c == GM_TCO_ON_DEMAND)
			cloud_fix[c] = 0, cloud_var[c] = r->cloud_gpus * H * p;
		else
			cloud_fix[c] = r->cloud_gpus * H * p, cloud_var[c] = 0;
		r->cloud_month[c] = cloud_fix[c] + cloud_var[c] * u;
	}

	/* on-prem capex */
	r->capex_servers = v[GM_TCO_SERVERS] * v[GM_TCO_SERVER_CAPEX];
	r->capex_network = r->capex_servers * v[GM_TCO_NETWORK_CAPEX_PCT];
	r->capex_install = v[GM_TCO_SERVERS] * v[GM_TCO_INSTALL_PER_SERVER];
	r->capex_total = r->capex_servers + r->capex_network + r->capex_install;

	/* on-prem opex */
	double idle = v[GM_TCO_IDLE_POWER_FRACTION];
	r->it_kw_max =
	        r->onprem_gpus * v[GM_TCO_GPU_TDP_W] * v[GM_TCO_SERVER_POWER_FACTOR] / 1000.0;
	r->it_kw_avg = r->it_kw_max * (idle + (1 - idle) * u);
	double energy_at_max = r->it_kw_max * v[GM_TCO_PUE] * H * v[GM_TCO_ELECTRICITY];
	r->month_power = r->it_kw_avg * v[GM_TCO_PUE] * H * v[GM_TCO_ELECTRICITY];
	r->month_colocation = r->it_kw_max * v[GM_TCO_COLOCATION];
	r->month_support = (r->capex_servers + r->capex_network) * v[GM_TCO_SUPPORT_PCT] / 12.0;
	r->month_staff = v[GM_TCO_SERVERS] * v[GM_TCO_STAFF_FTE] * v[GM_TCO_FTE_COST] / 12.0;
	double fixed_opex = r->month_colocation + r->month_support + r->month_staff;
	r->month_opex = r->month_power + fixed_opex;
	double dep_months = v[GM_TCO_DEPRECIATION_YEARS] * 12.0;
	r->month_depreciation = r->capex_total / dep_months;

	/* series */
	double amortised_total = 0;
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		r->cum_cloud[0][c] = 0;
	r->cum_onprem[0] = r->capex_total;
	for (int m = 1; m <= r->months; m++) {
		int y = (m - 1) / 12;
		double dep = depreciation_in_month(r->capex_total, dep_months, m);
		amortised_total += dep + r->month_opex;
		for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
			r->cum_cloud[m][c] = r->cum_cloud[m - 1][c] + r->cloud_month[c];
			r->year_cloud[y][c] += r->cloud_month[c];
		}
		r->cum_onprem[m] = r->cum_onprem[m - 1] + r->month_opex;
		r->year_onprem_cash[y] += r->month_opex + (m == 1 ? r->capex_total : 0);
		r->year_onprem_amortised[y] += dep + r->month_opex;
	}
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		r->breakeven_month[c] = -1;
		if (isnan(r->cloud_month[c]))
			continue;
		for (int m = 0; m <= r->months; m++) {
			if (r->cum_onprem[m] <= r->cum_cloud[m][c]) {
				r->breakeven_month[c] = m;
				break;
			}
		}
	}

	/* per delivered GPU-hour, over the horizon */
	double M = r->months;
	r->delivered_gpu_hours = r->cloud_gpus * H * u * M;
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		r->cloud_per_gpu_hour[c] = r->cloud_month[c] * M / r->delivered_gpu_hours;
	r->onprem_per_gpu_hour = amortised_total / r->delivered_gpu_hours;
	r->onprem_per_gpu_hour_cash = r->cum_onprem[r->months] / r->delivered_gpu_hours;
	r->onprem_per_onprem_gpu_hour = amortised_total / (r->onprem_gpus * H * u * M);

	/* break-even utilisation: on-prem(u) - cloud(u) = a + b u over the horizon */
	double dep_horizon = 0;
	for (int m = 1; m <= r->months; m++)
		dep_horizon += depreciation_in_month(r->capex_total, dep_months, m);
	double onprem_fix = M * (fixed_opex + energy_at_max * idle);
	double onprem_var = M * energy_at_max * (1 - idle);
	double b = onprem_var - M * cloud_var[ref];
	r->beu_amortised = solve_beu(dep_horizon + onprem_fix - M * cloud_fix[ref], b);
	r->beu_cash = solve_beu(r->capex_total + onprem_fix - M * cloud_fix[ref], b);

	if (!sensitivity)
		return;
	double w[GM_TCO_N_INPUTS];
	struct gm_tco_result *s = gm_xmalloc(sizeof(*s));
	memcpy(w, v, sizeof(w));
	for (int i = 0; i < GM_TCO_SENS_N; i++) {
		r->sens_util[i] = gm_tco_sens_util[i];
		r->sens_price[i] = gm_tco_sens_price[i];
	}
	for (int i = 0; i < GM_TCO_SENS_N; i++) {
		for (int k = 0; k < GM_TCO_SENS_N; k++) {
			w[GM_TCO_UTILISATION] = gm_tco_sens_util[i];
			w[GM_TCO_ELECTRICITY] = gm_tco_sens_price[k];
			model(w, ref, false, s);
			r->sens_month[i][k] = s->breakeven_month[ref];
		}
	}
	free(s);
}

enum gm_rc gm_tco_compute(const struct gm_tco_inputs *in, struct gm_tco_result *out,
                          struct gm_err *err)
{
	double v[GM_TCO_N_INPUTS];
	for (int k = 0; k < GM_TCO_N_INPUTS; k++) {
		const struct gm_tco_input *x = &in->in[k];
		const struct gm_tco_field *f = &gm_tco_fields[k];
		bool needed = !f->optional || k == (int)commit_price[in->commitment];
		if (!x->set) {
			if (needed)
				return gm_err_set(err, GM_ERR_USAGE,
				                  "tco input '%s' (%s) is not set", f->key,
				                  f->label);
			v[k] = NAN;
			continue;
		}
		double lo = ranges[k].lo, hi = ranges[k].hi;
		bool bad = !isfinite(x->v) || x->v > hi || x->v < lo ||
		           (ranges[k].lo_open && x->v <= lo) ||
		           (ranges[k].integer && x->v != floor(x->v));
		if (bad)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "tco input '%s' = %g (from %s) must be %s", f->key, x->v,
			                  x->src ? x->src : "?", ranges[k].what);
		v[k] = x->v;
	}
	if (in->commitment >= GM_TCO_N_COMMIT)
		return gm_err_set(err, GM_ERR_USAGE, "unknown commitment");
	model(v, in->commitment, true, out);
	return GM_OK;
}

static void json_month(struct gm_json *j, const char *key, int m)
{
	if (m < 0)
		gm_json_null(j, key);
	else
		gm_json_int(j, key, m);
}

static void json_beu(struct gm_json *j, const char *key, const struct gm_tco_beu *b)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "kind", gm_tco_beu_name(b->kind));
	if (b->kind == GM_TCO_BEU_ABOVE || b->kind == GM_TCO_BEU_BELOW)
		gm_json_double(j, "utilisation", b->u);
	else
		gm_json_null(j, "utilisation");
	gm_json_end_object(j);
}

void gm_tco_to_json(const struct gm_tco_inputs *in, const struct gm_tco_result *r,
                    struct gm_json *j, const char *key)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "schema", GM_TCO_SCHEMA);
	gm_json_str(j, "cloud", in->cloud_label);
	gm_json_str(j, "onprem", in->onprem_label);
	gm_json_str(j, "commitment", gm_tco_commitment_name(in->commitment));
	gm_json_double(j, "hours_per_month", GM_TCO_HOURS_PER_MONTH);
	gm_json_int(j, "horizon_months", r->months);

	gm_json_begin_object(j, "inputs");
	for (int k = 0; k < GM_TCO_N_INPUTS; k++) {
		const struct gm_tco_input *x = &in->in[k];
		gm_json_begin_object(j, gm_tco_fields[k].key);
		if (x->set)
			gm_json_double(j, "value", x->v);
		else
			gm_json_null(j, "value");
		gm_json_str(j, "unit", gm_tco_fields[k].unit);
		gm_json_str(j, "source", x->src ? x->src : "not set");
		gm_json_bool(j, "missing", x->missing);
		gm_json_end_object(j);
	}
	gm_json_str(j, "commitment_source", in->commitment_src ? in->commitment_src : "default");
	gm_json_end_object(j);

	gm_json_begin_object(j, "cloud_costs");
	gm_json_double(j, "gpus", r->cloud_gpus);
	gm_json_begin_object(j, "monthly");
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		gm_json_double(j, commit_keys[c], r->cloud_month[c]);
	gm_json_end_object(j);
	gm_json_end_object(j);

	gm_json_begin_object(j, "onprem_costs");
	gm_json_double(j, "gpus", r->onprem_gpus);
	gm_json_begin_object(j, "capex");
	gm_json_double(j, "servers", r->capex_servers);
	gm_json_double(j, "network", r->capex_network);
	gm_json_double(j, "install", r->capex_install);
	gm_json_double(j, "total", r->capex_total);
	gm_json_end_object(j);
	gm_json_double(j, "it_kw_max", r->it_kw_max);
	gm_json_double(j, "it_kw_avg", r->it_kw_avg);
	gm_json_begin_object(j, "monthly");
	gm_json_double(j, "power", r->month_power);
	gm_json_double(j, "colocation", r->month_colocation);
	gm_json_double(j, "support", r->month_support);
	gm_json_double(j, "staff", r->month_staff);
	gm_json_double(j, "opex", r->month_opex);
	gm_json_double(j, "depreciation", r->month_depreciation);
	gm_json_end_object(j);
	gm_json_end_object(j);

	gm_json_begin_array(j, "years");
	for (int y = 0; y < r->years; y++) {
		gm_json_begin_object(j, NULL);
		gm_json_int(j, "year", y + 1);
		for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
			struct gm_buf k = GM_BUF_INIT;
			gm_buf_addf(&k, "cloud_%s", commit_keys[c]);
			gm_json_double(j, gm_buf_cstr(&k), r->year_cloud[y][c]);
			gm_buf_release(&k);
		}
		gm_json_double(j, "onprem_cash", r->year_onprem_cash[y]);
		gm_json_double(j, "onprem_amortised", r->year_onprem_amortised[y]);
		gm_json_end_object(j);
	}
	gm_json_end_array(j);

	gm_json_begin_array(j, "cumulative");
	for (int m = 0; m <= r->months; m++) {
		gm_json_begin_object(j, NULL);
		gm_json_int(j, "month", m);
		for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
			struct gm_buf k = GM_BUF_INIT;
			gm_buf_addf(&k, "cloud_%s", commit_keys[c]);
			gm_json_double(j, gm_buf_cstr(&k), r->cum_cloud[m][c]);
			gm_buf_release(&k);
		}
		gm_json_double(j, "onprem", r->cum_onprem[m]);
		gm_json_end_object(j);
	}
	gm_json_end_array(j);

	gm_json_begin_object(j, "breakeven");
	json_month(j, "month", r->breakeven_month[r->reference]);
	gm_json_begin_object(j, "by_commitment");
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		json_month(j, commit_keys[c], r->breakeven_month[c]);
	gm_json_end_object(j);
	json_beu(j, "utilisation_amortised", &r->beu_amortised);
	json_beu(j, "utilisation_cash", &r->beu_cash);
	gm_json_end_object(j);

	gm_json_begin_object(j, "cost_per_gpu_hour");
	gm_json_double(j, "delivered_gpu_hours", r->delivered_gpu_hours);
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		struct gm_buf k = GM_BUF_INIT;
		gm_buf_addf(&k, "cloud_%s", commit_keys[c]);
		gm_json_double(j, gm_buf_cstr(&k), r->cloud_per_gpu_hour[c]);
		gm_buf_release(&k);
	}
	gm_json_double(j, "onprem_amortised", r->onprem_per_gpu_hour);
	gm_json_double(j, "onprem_cash", r->onprem_per_gpu_hour_cash);
	gm_json_double(j, "onprem_per_onprem_gpu_hour", r->onprem_per_onprem_gpu_hour);
	gm_json_end_object(j);

	gm_json_begin_object(j, "sensitivity");
	gm_json_begin_array(j, "utilisation");
	for (int i = 0; i < GM_TCO_SENS_N; i++)
		gm_json_double(j, NULL, r->sens_util[i]);
	gm_json_end_array(j);
	gm_json_begin_array(j, "electricity_usd_per_kwh");
	for (int i = 0; i < GM_TCO_SENS_N; i++)
		gm_json_double(j, NULL, r->sens_price[i]);
	gm_json_end_array(j);
	gm_json_begin_array(j, "breakeven_month");
	for (int i = 0; i < GM_TCO_SENS_N; i++) {
		gm_json_begin_array(j, NULL);
		for (int k = 0; k < GM_TCO_SENS_N; k++)
			json_month(j, NULL, r->sens_month[i][k]);
		gm_json_end_array(j);
	}
	gm_json_end_array(j);
	gm_json_end_object(j);

	gm_json_begin_array(j, "warnings");
	for (int k = 0; k < GM_TCO_N_INPUTS; k++) {
		if (!in->in[k].missing)
			continue;
		struct gm_buf w = GM_BUF_INIT;
		gm_buf_addf(&w, "'%s' has no figure and counts as 0: %s", gm_tco_fields[k].key,
		            in->in[k].src ? in->in[k].src : "");
		gm_json_str(j, NULL, gm_buf_cstr(&w));
		gm_buf_release(&w);
	}
	gm_json_end_array(j);
	gm_json_end_object(j);
}

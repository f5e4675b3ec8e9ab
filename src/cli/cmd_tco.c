/* `gpumigrate tco`: cloud GPUs against on-prem servers over 1-5 years — costs per month and
 * year, break-even month and utilisation, cost per delivered GPU-hour and a sensitivity table,
 * with every input listed beside where it came from (flag, plan line, catalog). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assess/catalog.h"
#include "assess/plan.h"
#include "assess/tco.h"
#include "cli/commands.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum {
	OPT_PLAN = 1,
	OPT_CATALOG,
	OPT_CLOUD,
	OPT_CLOUD_COUNT,
	OPT_REGION,
	OPT_COMMITMENT,
	OPT_UTILISATION,
	OPT_TARGET_GPU,
	OPT_GPUS_PER_SERVER,
	OPT_SERVERS,
	OPT_CAPEX,
	OPT_YEARS,
	OPT_CHART,
	OPT_COST_BASE = 100, /* + gm_plan_cost */
};

const struct gm_opt gm_cmd_tco_opts[] = {
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE", "read the migration plan from FILE",
         "file"},
        {OPT_CATALOG, "catalog", 0, GM_ARG_REQUIRED, "DIR",
         "catalog files in DIR replace the built-in ones", "dir"},
        {OPT_CLOUD, "cloud", 0, GM_ARG_REQUIRED, "TYPE",
         "cloud instance type, e.g. gcp:a2-highgpu-8g", NULL},
        {OPT_CLOUD_COUNT, "cloud-count", 0, GM_ARG_REQUIRED, "N", "number of cloud instances",
         NULL},
        {OPT_REGION, "region", 0, GM_ARG_REQUIRED, "REGION",
         "region whose prices apply (default: the catalog's first)", NULL},
        {OPT_COMMITMENT, "commitment", 0, GM_ARG_REQUIRED, "KIND",
         "how the cloud GPUs are paid: on-demand, 1y or 3y (the break-even reference)",
         "on-demand 1y 3y"},
        {OPT_UTILISATION, "utilisation", 0, GM_ARG_REQUIRED, "U",
         "fraction of hours the GPUs are busy, 0 < U <= 1 (default 0.7)", NULL},
        {OPT_TARGET_GPU, "target-gpu", 0, GM_ARG_REQUIRED, "GPU", "on-prem GPU, e.g. l40s", NULL},
        {OPT_GPUS_PER_SERVER, "gpus-per-server", 0, GM_ARG_REQUIRED, "N",
         "GPUs in each on-prem server", NULL},
        {OPT_SERVERS, "servers", 0, GM_ARG_REQUIRED, "N", "number of on-prem servers", NULL},
        {OPT_CAPEX, "capex", 0, GM_ARG_REQUIRED, "USD",
         "price of one on-prem server, GPUs included", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_ELECTRICITY, "electricity", 0, GM_ARG_REQUIRED, "USD/kWh",
         "electricity price", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_PUE, "pue", 0, GM_ARG_REQUIRED, "X",
         "power usage effectiveness of the site", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_SERVER_POWER_FACTOR, "server-power-factor", 0,
         GM_ARG_REQUIRED, "X", "server wall power / sum of GPU TDP", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_IDLE_POWER_FRACTION, "idle-power", 0, GM_ARG_REQUIRED, "X",
         "server power at idle as a fraction of its maximum (default 0.3)", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_COLOCATION, "colocation", 0, GM_ARG_REQUIRED, "USD/kW-month",
         "colocation rent per provisioned kW per month", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_SUPPORT_PCT, "support-pct", 0, GM_ARG_REQUIRED, "X",
         "support per year as a fraction of server and network capex", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_STAFF_FTE, "staff-fte", 0, GM_ARG_REQUIRED, "X",
         "operations staff per server, in FTE", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_FTE_COST, "fte-cost", 0, GM_ARG_REQUIRED, "USD",
         "cost of one FTE per year", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_NETWORK_CAPEX_PCT, "network-pct", 0, GM_ARG_REQUIRED, "X",
         "network capex as a fraction of server capex", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_INSTALL_PER_SERVER, "install-per-server", 0, GM_ARG_REQUIRED,
         "USD", "one-off install cost per server", NULL},
        {OPT_COST_BASE + GM_PLAN_COST_DEPRECIATION_YEARS, "depreciation-years", 0, GM_ARG_REQUIRED,
         "N", "straight-line depreciation period", NULL},
        {OPT_YEARS, "years", 0, GM_ARG_REQUIRED, "N", "horizon, 1 to 5 years (default 3)", NULL},
        {OPT_CHART, "chart", 0, GM_ARG_NONE, NULL, "draw the cumulative costs as a text chart",
         NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

/* The long name of an option id, for provenance ("flag --pue"). */
static const char *opt_name(int id)
{
	for (const struct gm_opt *o = gm_cmd_tco_opts; o->long_name; o++)
		if (o->id == id)
			return o->long_name;
	return "?";
}

static bool parse_real(const char *s, double *out)
{
	char *end = NULL;
	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* Command-line values, applied over the plan. */
struct flags {
	const char *cloud, *region, *commitment, *target_gpu;
	double cloud_count, gpus_per_server, servers, capex, utilisation, years;
	bool has_cloud_count, has_gpus_per_server, has_servers, has_capex, has_util, has_years;
	bool has_cost[GM_PLAN_N_COSTS];
	double cost[GM_PLAN_N_COSTS];
};

static int apply_flags(struct gm_cli *cli, const struct flags *f, struct gm_plan *plan)
{
	bool cloud = f->cloud || f->region || f->commitment || f->has_cloud_count;
	bool target = f->target_gpu || f->has_gpus_per_server || f->has_servers || f->has_capex;
	if (cloud) {
		if (plan->n_instances > 1)
			return gm_cli_usage_error(cli,
			                          "the plan has %zu source instance groups: "
			                          "edit the plan instead of --cloud/--cloud-count/"
			                          "--region/--commitment",
			                          plan->n_instances);
		if (plan->n_instances == 0 && !f->cloud)
			return gm_cli_usage_error(cli,
			                          "--cloud-count, --region and --commitment need "
			                          "--cloud TYPE (or a plan with source.instances)");
		struct gm_plan_instance *x =
		        plan->n_instances ? &plan->instances[0] : gm_plan_add_instance(plan);
		if (f->cloud)
			gm_plan_str_set(&x->type, f->cloud, "flag --cloud");
		if (f->region)
			gm_plan_str_set(&x->region, f->region, "flag --region");
		if (f->commitment) {
			if (!gm_tco_commitment_parse(f->commitment, &x->commit))
				return gm_cli_usage_error(
				        cli,
				        "--commitment must be on-demand, 1y or 3y, "
				        "not '%s'",
				        f->commitment);
			gm_plan_str_set(&x->commitment, f->commitment, "flag --commitment");
		}
		if (f->has_cloud_count)
			gm_plan_num_set(&x->count, f->cloud_count, "flag --cloud-count");
	}
	if (target) {
		if (plan->n_servers > 1)
			return gm_cli_usage_error(cli,
			                          "the plan has %zu target server groups: edit "
			                          "the plan instead of --target-gpu/"
			                          "--gpus-per-server/--servers/--capex",
			                          plan->n_servers);
		if (plan->n_servers == 0 && !f->target_gpu)
			return gm_cli_usage_error(cli,
			                          "--gpus-per-server, --servers and --capex need "
			                          "--target-gpu GPU (or a plan with "
			                          "target.servers)");
		struct gm_plan_server *x =
		        plan->n_servers ? &plan->servers[0] : gm_plan_add_server(plan);
		if (f->target_gpu)
			gm_plan_str_set(&x->gpu, f->target_gpu, "flag --target-gpu");
		if (f->has_gpus_per_server)
			gm_plan_num_set(&x->gpus_per_server, f->gpus_per_server,
			                "flag --gpus-per-server");
		if (f->has_servers)
			gm_plan_num_set(&x->count, f->servers, "flag --servers");
		if (f->has_capex)
			gm_plan_num_set(&x->capex_usd, f->capex, "flag --capex");
	}
	for (int k = 0; k < GM_PLAN_N_COSTS; k++)
		if (f->has_cost[k])
			gm_plan_num_set(&plan->costs[k], f->cost[k], "flag --%s",
			                opt_name(OPT_COST_BASE + k));
	if (f->has_util)
		gm_plan_num_set(&plan->utilisation, f->utilisation, "flag --utilisation");
	if (f->has_years)
		gm_plan_num_set(&plan->horizon_years, f->years, "flag --years");
	return GM_EXIT_OK;
}

/* "1,234,567.89"; "n/a" for NaN. */
static void add_money(struct gm_buf *b, double v)
{
	if (isnan(v)) {
		gm_buf_adds(b, "n/a");
		return;
	}
	struct gm_buf t = GM_BUF_INIT;
	gm_buf_addf(&t, "%.2f", fabs(v));
	const char *s = gm_buf_cstr(&t);
	size_t int_len = strcspn(s, ".");
	if (v < 0 && fabs(v) >= 0.005)
		gm_buf_addch(b, '-');
	for (size_t i = 0; i < int_len; i++) {
		if (i && (int_len - i) % 3 == 0)
			gm_buf_addch(b, ',');
		gm_buf_addch(b, s[i]);
	}
	gm_buf_adds(b, s + int_len);
	gm_buf_release(&t);
}

static void set_money(struct gm_table *t, size_t col, double v)
{
	struct gm_buf b = GM_BUF_INIT;
	add_money(&b, v);
	gm_table_set(t, col, gm_buf_cstr(&b), GM_COLOR_NONE);
	gm_buf_release(&b);
}

static void add_month(struct gm_buf *b, int m, int months)
{
	if (m < 0)
		gm_buf_addf(b, "none within %d months", months);
	else
		gm_buf_addf(b, "month %d", m);
}

static void add_beu(struct gm_buf *b, const struct gm_tco_beu *u)
{
	switch (u->kind) {
	case GM_TCO_BEU_ABOVE:
		gm_buf_addf(b, "on-prem is cheaper at utilisation >= %.1f %%", u->u * 100);
		break;
	case GM_TCO_BEU_BELOW:
		gm_buf_addf(b, "on-prem is cheaper at utilisation <= %.1f %%", u->u * 100);
		break;
	case GM_TCO_BEU_ALWAYS: gm_buf_adds(b, "on-prem is cheaper at every utilisation"); break;
	case GM_TCO_BEU_NEVER: gm_buf_adds(b, "on-prem is never cheaper"); break;
	}
}

static void render_table(struct gm_table *t, bool color, struct gm_buf *out)
{
	gm_table_render(t, color, out);
	gm_table_release(t);
}

static void render_chart(const struct gm_tco_result *r, struct gm_buf *out)
{
	enum { ROWS = 14 };
	enum gm_tco_commitment ref = r->reference;
	double top = 0;
	for (int m = 0; m <= r->months; m++) {
		if (r->cum_onprem[m] > top)
			top = r->cum_onprem[m];
		if (r->cum_cloud[m][ref] > top)
			top = r->cum_cloud[m][ref];
	}
	if (top <= 0)
		return;
	gm_buf_addf(out,
	            "\ncumulative cost, USD (c = cloud %s, o = on-prem, * = both, | = "
	            "break-even)\n",
	            gm_tco_commitment_name(ref));
	int be = r->breakeven_month[ref];
	for (int row = ROWS; row >= 1; row--) {
		double lo = top * (row - 1) / ROWS, hi = top * row / ROWS;
		struct gm_buf label = GM_BUF_INIT;
		if (row == ROWS || row == 1 || row == ROWS / 2)
			add_money(&label, hi);
		gm_buf_addpad(out, ' ', label.len < 14 ? 14 - label.len : 0);
		gm_buf_adds(out, gm_buf_cstr(&label));
		gm_buf_adds(out, " |");
		gm_buf_release(&label);
		for (int m = 0; m <= r->months; m++) {
			bool c = r->cum_cloud[m][ref] > lo && r->cum_cloud[m][ref] <= hi;
			bool o = r->cum_onprem[m] > lo && r->cum_onprem[m] <= hi;
			if (row == 1) {
				c = c || r->cum_cloud[m][ref] <= lo;
				o = o || r->cum_onprem[m] <= lo;
			}
			char ch = c && o ? '*' : c ? 'c' : o ? 'o' : m == be ? '|' : ' ';
			gm_buf_addch(out, ch);
		}
		gm_buf_rtrim(out);
		gm_buf_addch(out, '\n');
	}
	gm_buf_addpad(out, ' ', 15);
	gm_buf_addch(out, '+');
	gm_buf_addpad(out, '-', (size_t)r->months + 1);
	gm_buf_addch(out, '\n');
	gm_buf_addpad(out, ' ', 16);
	for (int m = 0; m <= r->months; m += 12) {
		struct gm_buf n = GM_BUF_INIT;
		gm_buf_addf(&n, "%d", m);
		gm_buf_adds(out, gm_buf_cstr(&n));
		if (m + 12 <= r->months)
			gm_buf_addpad(out, ' ', 12 - n.len);
		gm_buf_release(&n);
	}
	gm_buf_adds(out, " months\n");
}

static void render(const struct gm_tco_inputs *in, const struct gm_tco_result *r, bool color,
                   bool chart, struct gm_buf *out)
{
	struct gm_table t;
	struct gm_buf v = GM_BUF_INIT;
	enum gm_tco_commitment ref = r->reference;

	gm_buf_addf(out, "tco: %s -> %s, %s, %d year%s, utilisation %.0f %%\n\n",
	            in->cloud_label ? in->cloud_label : "?",
	            in->onprem_label ? in->onprem_label : "?", gm_tco_commitment_name(ref),
	            r->years, r->years == 1 ? "" : "s", r->utilisation * 100);

	static const char *const ih[] = {"INPUT", "VALUE", "UNIT", "FROM"};
	gm_table_init(&t, 4, ih);
	gm_table_align_right(&t, 1);
	for (int k = 0; k < GM_TCO_N_INPUTS; k++) {
		const struct gm_tco_input *x = &in->in[k];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, gm_tco_fields[k].key, GM_COLOR_NONE);
		if (x->set && !x->missing)
			gm_table_setf(&t, 1, GM_COLOR_NONE, "%.10g", x->v);
		else
			gm_table_set(&t, 1, x->missing ? "0 (missing)" : "n/a", GM_COLOR_YELLOW);
		gm_table_set(&t, 2, gm_tco_fields[k].unit, GM_COLOR_DIM);
		gm_table_set(&t, 3, x->src ? x->src : "not set", GM_COLOR_NONE);
	}
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "commitment", GM_COLOR_NONE);
	gm_table_set(&t, 1, gm_tco_commitment_name(in->commitment), GM_COLOR_NONE);
	gm_table_set(&t, 3, in->commitment_src ? in->commitment_src : "default", GM_COLOR_NONE);
	render_table(&t, color, out);

	static const char *const mh[] = {"PER MONTH", "USD", "NOTE"};
	gm_table_init(&t, 3, mh);
	gm_table_align_right(&t, 1);
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "cloud %s", gm_tco_commitment_name(c));
		set_money(&t, 1, r->cloud_month[c]);
		gm_table_set(&t, 2,
		             c == GM_TCO_ON_DEMAND ? "used hours only" : "every hour, used or not",
		             GM_COLOR_DIM);
	}
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem power", GM_COLOR_NONE);
	set_money(&t, 1, r->month_power);
	gm_table_setf(&t, 2, GM_COLOR_DIM, "%.2f kW average of %.2f kW provisioned", r->it_kw_avg,
	              r->it_kw_max);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem colocation", GM_COLOR_NONE);
	set_money(&t, 1, r->month_colocation);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem support", GM_COLOR_NONE);
	set_money(&t, 1, r->month_support);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem staff", GM_COLOR_NONE);
	set_money(&t, 1, r->month_staff);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem opex", GM_COLOR_BOLD);
	set_money(&t, 1, r->month_opex);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem depreciation", GM_COLOR_NONE);
	set_money(&t, 1, r->month_depreciation);
	gm_table_set(&t, 2, "amortised view", GM_COLOR_DIM);
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "on-prem capex", GM_COLOR_BOLD);
	set_money(&t, 1, r->capex_total);
	gm_buf_adds(&v, "month 0: servers ");
	add_money(&v, r->capex_servers);
	gm_buf_adds(&v, " + network ");
	add_money(&v, r->capex_network);
	gm_buf_adds(&v, " + install ");
	add_money(&v, r->capex_install);
	gm_table_set(&t, 2, gm_buf_cstr(&v), GM_COLOR_DIM);
	gm_buf_reset(&v);
	gm_buf_addch(out, '\n');
	render_table(&t, color, out);

	static const char *const yh[] = {"YEAR",     "CLOUD ON-DEMAND", "CLOUD 1Y",
	                                 "CLOUD 3Y", "ON-PREM CASH",    "ON-PREM AMORTISED"};
	gm_table_init(&t, 6, yh);
	double total[6] = {0};
	for (int col = 1; col < 6; col++)
		gm_table_align_right(&t, (size_t)col);
	for (int y = 0; y < r->years; y++) {
		double row[6] = {0,
		                 r->year_cloud[y][0],
		                 r->year_cloud[y][1],
		                 r->year_cloud[y][2],
		                 r->year_onprem_cash[y],
		                 r->year_onprem_amortised[y]};
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "%d", y + 1);
		for (int col = 1; col < 6; col++) {
			set_money(&t, (size_t)col, row[col]);
			total[col] += row[col];
		}
	}
	gm_table_add_row(&t);
	gm_table_set(&t, 0, "total", GM_COLOR_BOLD);
	for (int col = 1; col < 6; col++)
		set_money(&t, (size_t)col, total[col]);
	gm_buf_addch(out, '\n');
	render_table(&t, color, out);

	gm_buf_adds(out, "\nbreak-even (first month cumulative on-prem <= cumulative cloud):\n");
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		gm_buf_addf(out, "  vs cloud %-10s ", gm_tco_commitment_name(c));
		if (isnan(r->cloud_month[c]))
			gm_buf_adds(out, "n/a (no price)");
		else
			add_month(out, r->breakeven_month[c], r->months);
		gm_buf_adds(out, c == (int)ref ? "  <- reference\n" : "\n");
	}

	gm_buf_addf(out, "\ncost per delivered GPU-hour (%d months, %.0f source GPU-hours):\n",
	            r->months, r->delivered_gpu_hours);
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		gm_buf_addf(out, "  cloud %-19s ", gm_tco_commitment_name(c));
		add_money(out, r->cloud_per_gpu_hour[c]);
		gm_buf_addch(out, '\n');
	}
	gm_buf_adds(out, "  on-prem amortised         ");
	add_money(out, r->onprem_per_gpu_hour);
	gm_buf_adds(out, "\n  on-prem cash              ");
	add_money(out, r->onprem_per_gpu_hour_cash);
	gm_buf_adds(out, "\n  on-prem per own GPU-hour  ");
	add_money(out, r->onprem_per_onprem_gpu_hour);
	gm_buf_addch(out, '\n');

	gm_buf_addf(out, "\nbreak-even utilisation (vs cloud %s, over %d months):\n  amortised: ",
	            gm_tco_commitment_name(ref), r->months);
	add_beu(out, &r->beu_amortised);
	gm_buf_adds(out, "\n  cash:      ");
	add_beu(out, &r->beu_cash);
	gm_buf_addch(out, '\n');

	gm_buf_addf(out, "\nsensitivity: break-even month vs cloud %s\n",
	            gm_tco_commitment_name(ref));
	char heads[GM_TCO_SENS_N][32];
	const char *sh[1 + GM_TCO_SENS_N] = {"UTILISATION"};
	for (int k = 0; k < GM_TCO_SENS_N; k++) {
		snprintf(heads[k], sizeof(heads[k]), "%.2f USD/kWh", r->sens_price[k]);
		sh[k + 1] = heads[k];
	}
	gm_table_init(&t, 1 + GM_TCO_SENS_N, sh);
	for (int k = 0; k < GM_TCO_SENS_N; k++)
		gm_table_align_right(&t, (size_t)k + 1);
	for (int i = 0; i < GM_TCO_SENS_N; i++) {
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "%.0f %%", r->sens_util[i] * 100);
		for (int k = 0; k < GM_TCO_SENS_N; k++) {
			if (r->sens_month[i][k] < 0)
				gm_table_set(&t, (size_t)k + 1, "never", GM_COLOR_YELLOW);
			else
				gm_table_setf(&t, (size_t)k + 1, GM_COLOR_NONE, "%d",
				              r->sens_month[i][k]);
		}
	}
	render_table(&t, color, out);
	gm_buf_addf(out, "(never = not within %d months)\n", r->months);

	if (chart)
		render_chart(r, out);

	bool first = true;
	for (int k = 0; k < GM_TCO_N_INPUTS; k++) {
		if (!in->in[k].missing)
			continue;
		if (first)
			gm_buf_adds(out, "\nwarnings:\n");
		first = false;
		gm_buf_addf(out, "  %s has no figure and counts as 0: %s\n", gm_tco_fields[k].key,
		            in->in[k].src ? in->in[k].src : "");
	}
	gm_buf_release(&v);
}

int gm_cmd_tco(struct gm_cli *cli, int argc, char **argv)
{
	struct flags f;
	const char *plan_path = NULL, *catalog_dir = NULL;
	bool chart = false;
	int id, code = GM_EXIT_OK;
	memset(&f, 0, sizeof(f));
	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		int64_t n;
		switch (id) {
		case -2: return code;
		case OPT_PLAN: plan_path = a; break;
		case OPT_CATALOG: catalog_dir = a; break;
		case OPT_CLOUD: f.cloud = a; break;
		case OPT_REGION: f.region = a; break;
		case OPT_COMMITMENT: f.commitment = a; break;
		case OPT_TARGET_GPU: f.target_gpu = a; break;
		case OPT_CHART: chart = true; break;
		case OPT_CLOUD_COUNT:
		case OPT_GPUS_PER_SERVER:
		case OPT_SERVERS:
		case OPT_YEARS:
			if (gm_parse_i64(a, 10, &n) != GM_OK || n < 1 || n > 100000)
				return gm_cli_usage_error(
				        cli, "--%s must be a whole number >= 1, not '%s'",
				        opt_name(id), a);
			if (id == OPT_CLOUD_COUNT)
				f.cloud_count = (double)n, f.has_cloud_count = true;
			else if (id == OPT_GPUS_PER_SERVER)
				f.gpus_per_server = (double)n, f.has_gpus_per_server = true;
			else if (id == OPT_SERVERS)
				f.servers = (double)n, f.has_servers = true;
			else
				f.years = (double)n, f.has_years = true;
			break;
		case OPT_CAPEX:
		case OPT_UTILISATION: {
			double d;
			if (!parse_real(a, &d) || d < 0)
				return gm_cli_usage_error(cli,
				                          "--%s must be a number >= 0, not '%s'",
				                          opt_name(id), a);
			if (id == OPT_CAPEX)
				f.capex = d, f.has_capex = true;
			else
				f.utilisation = d, f.has_util = true;
			break;
		}
		default:
			if (id >= OPT_COST_BASE && id < OPT_COST_BASE + GM_PLAN_N_COSTS) {
				double d;
				if (!parse_real(a, &d) || d < 0)
					return gm_cli_usage_error(
					        cli, "--%s must be a number >= 0, not '%s'",
					        opt_name(id), a);
				f.cost[id - OPT_COST_BASE] = d;
				f.has_cost[id - OPT_COST_BASE] = true;
			}
			break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc > 0)
		return gm_cli_usage_error(cli,
		                          "tco takes no operands (got '%s'); use -p PLAN or "
		                          "flags",
		                          args[0]);

	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_tco_inputs in;
	struct gm_tco_result *r = calloc(1, sizeof(*r));
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	gm_plan_init(&plan);
	gm_catalog_init(&cat);
	gm_tco_inputs_init(&in);
	if (!r) {
		gm_error("out of memory");
		code = GM_EXIT_ERROR;
		goto out;
	}
	if (plan_path && gm_plan_load(&plan, plan_path, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (!plan_path && !f.cloud && !f.target_gpu) {
		code = gm_cli_usage_error(cli, "tco needs a plan (-p FILE) or --cloud TYPE and "
		                               "--target-gpu GPU");
		goto out;
	}
	if ((code = apply_flags(cli, &f, &plan)) != GM_EXIT_OK)
		goto out;
	if (gm_catalog_load(&cat, catalog_dir, &err) != GM_OK ||
	    gm_plan_tco_inputs(&plan, &cat, &in, &err) != GM_OK ||
	    gm_tco_compute(&in, r, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		struct gm_json j;
		gm_json_init(&j, &out, true);
		gm_tco_to_json(&in, r, &j, NULL);
		gm_buf_addch(&out, '\n');
	} else {
		render(&in, r, cli->color_stdout, chart, &out);
	}
	code = gm_cli_emit(&out);
out:
	gm_buf_release(&out);
	gm_err_release(&err);
	gm_tco_inputs_release(&in);
	gm_catalog_release(&cat);
	gm_plan_release(&plan);
	free(r);
	return code;
}

/* `gpumigrate assess -p plan.yaml`: the main job. Capacity, cost, readiness, data transfer and
 * the checklist of one plan, for people (terminal), machines (--json) and sharing (--html). */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "assess/assess.h"
#include "cli/commands.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum { OPT_PLAN = 1, OPT_CATALOG, OPT_HTML, OPT_CHECK_LOCAL, OPT_SYSROOT, OPT_NVML_LIBRARY };

const struct gm_opt gm_cmd_assess_opts[] = {
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE", "the migration plan (YAML)", "file"},
        {OPT_HTML, "html", 0, GM_ARG_REQUIRED, "FILE",
         "also write the report as one self-contained HTML page", "file"},
        {OPT_CATALOG, "catalog", 0, GM_ARG_REQUIRED, "DIR",
         "read gpus.yaml, cloud.yaml, onprem.yaml from DIR over the built-in catalog", "dir"},
        {OPT_CHECK_LOCAL, "check-local", 0, GM_ARG_NONE, NULL,
         "also check this host's readiness as a target server", NULL},
        {OPT_SYSROOT, "sysroot", 0, GM_ARG_REQUIRED, "DIR",
         "with --check-local: read the host's files below DIR", "dir"},
        {OPT_NVML_LIBRARY, "nvml-library", 0, GM_ARG_REQUIRED, "FILE",
         "with --check-local: the NVML library to load", "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static void heading(struct gm_buf *out, bool color, const char *title)
{
	gm_buf_addf(out, "\n%s%s%s\n", color ? "\033[1m" : "", title, color ? "\033[0m" : "");
}

static void render_verdict(const struct gm_assess *a, bool color, struct gm_buf *out)
{
	enum gm_color c = a->verdict == GM_VERDICT_GO       ? GM_COLOR_GREEN
	                  : a->verdict == GM_VERDICT_REVIEW ? GM_COLOR_YELLOW
	                                                    : GM_COLOR_RED;
	gm_buf_addf(out, "Migration assessment: %s\nplan: %s\n\nverdict: %s%s%s\n",
	            a->plan->name.v ? a->plan->name.v : "(unnamed)",
	            a->plan->path ? a->plan->path : "", color ? gm_color_code(c) : "",
	            a->verdict == GM_VERDICT_GO       ? "GO"
	            : a->verdict == GM_VERDICT_REVIEW ? "REVIEW"
	                                              : "NO GO",
	            color ? "\033[0m" : "");
	for (size_t i = 0; i < a->n_findings; i++)
		gm_buf_addf(out, "  - %s\n", a->findings[i]);
	if (a->n_warnings)
		gm_buf_adds(out, "worth knowing:\n");
	for (size_t i = 0; i < a->n_warnings; i++)
		gm_buf_addf(out, "  - %s\n", a->warnings[i]);
}

static void render_capacity(const struct gm_assess *a, bool color, struct gm_buf *out)
{
	heading(out, color, "CAPACITY");
	for (size_t i = 0; i < a->n_caps; i++) {
		const struct gm_assess_capacity *c = &a->caps[i];
		static const char *const headers[] = {"PROFILE", "BASIS", "GPUS NEEDED", "PLANNED",
		                                      "COVERAGE"};
		struct gm_table t;
		gm_buf_addf(out, "%s: %s -> %d GPUs as %s servers\n", c->workload, c->src.title,
		            c->planned_target_gpus, c->tgt.title);
		gm_table_init(&t, 5, headers);
		for (size_t col = 2; col < 5; col++)
			gm_table_align_right(&t, col);
		for (size_t p = 0; p < c->cmp.n_profiles && p < 3; p++) {
			const struct gm_compare_profile *prof = &c->cmp.profiles[p];
			gm_table_add_row(&t);
			gm_table_set(&t, 0, prof->name, GM_COLOR_NONE);
			gm_table_set(&t, 1, prof->basis ? prof->basis : "", GM_COLOR_NONE);
			if (prof->gpus_needed.known)
				gm_table_setf(&t, 2, GM_COLOR_NONE, "%.0f", prof->gpus_needed.v);
			else
				gm_table_set(&t, 2, "n/a", GM_COLOR_NONE);
			gm_table_setf(&t, 3, GM_COLOR_NONE, "%d", c->planned_target_gpus);
			if (c->coverage[p].known)
				gm_table_setf(&t, 4,
				              c->coverage[p].v >= 1 ? GM_COLOR_GREEN : GM_COLOR_RED,
				              "%.2fx", c->coverage[p].v);
			else
				gm_table_set(&t, 4, "n/a", GM_COLOR_YELLOW);
		}
		gm_table_render(&t, color, out);
		gm_table_release(&t);
		for (size_t w = 0; w < c->cmp.n_warnings; w++)
			gm_buf_addf(out, "  %s %s\n",
			            c->cmp.warnings[w].blocker ? "BLOCKER" : "note:",
			            c->cmp.warnings[w].msg);
	}
}

static void money(struct gm_table *t, size_t col, double v)
{
	if (isfinite(v))
		gm_table_setf(t, col, GM_COLOR_NONE, "%.0f", v);
	else
		gm_table_set(t, col, "n/a", GM_COLOR_NONE);
}

static void render_cost(const struct gm_assess *a, bool color, struct gm_buf *out)
{
	heading(out, color, "COST (USD)");
	if (!a->tco_ok) {
		gm_buf_addf(out, "not computed: %s\n", gm_buf_cstr(&a->tco_why));
		return;
	}
	const struct gm_tco_result *r = &a->tco;
	static const char *const headers[] = {"YEAR",     "CLOUD ON-DEMAND", "CLOUD 1Y",
	                                      "CLOUD 3Y", "ON-PREM CASH",    "ON-PREM AMORTISED"};
	struct gm_table t;
	gm_table_init(&t, 6, headers);
	for (size_t col = 0; col < 6; col++)
		gm_table_align_right(&t, col);
	for (int y = 0; y < r->years; y++) {
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "%d", y + 1);
		for (int c = 0; c < GM_TCO_N_COMMIT; c++)
			money(&t, 1 + (size_t)c, r->year_cloud[y][c]);
		money(&t, 4, r->year_onprem_cash[y]);
		money(&t, 5, r->year_onprem_amortised[y]);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	int be = r->breakeven_month[r->reference];
	if (be >= 0)
		gm_buf_addf(out, "break-even: month %d against %s cloud prices\n", be,
		            gm_tco_commitment_name(r->reference));
	else
		gm_buf_addf(out, "break-even: not within %d years against %s cloud prices\n",
		            r->years, gm_tco_commitment_name(r->reference));
	gm_buf_addf(out, "per delivered GPU-hour: on-prem $%.2f, cloud %s $%.2f\n",
	            r->onprem_per_gpu_hour, gm_tco_commitment_name(r->reference),
	            r->cloud_per_gpu_hour[r->reference]);
	gm_buf_addf(out,
	            "capex $%.0f; opex $%.0f/month; run 'gpumigrate tco -p %s' for the "
	            "inputs, sensitivity and assumptions\n",
	            r->capex_total, r->month_opex, a->plan->path ? a->plan->path : "PLAN");
}

static void render_readiness(const struct gm_assess *a, bool color, struct gm_buf *out)
{
	heading(out, color, "READINESS OF THE TARGET SERVERS");
	if (!a->n_ready)
		gm_buf_addf(out, "not assessed: %s\n", gm_buf_cstr(&a->ready_why));
	for (size_t h = 0; h < a->n_ready; h++) {
		const struct gm_check_report *rep = &a->ready[h];
		gm_buf_addf(out, "%s (%s): %zu passed, %zu warnings, %zu failed, %zu skipped\n",
		            rep->host, rep->source, rep->count[GM_CHECK_PASS],
		            rep->count[GM_CHECK_WARN], rep->count[GM_CHECK_FAIL],
		            rep->count[GM_CHECK_SKIP]);
		for (size_t i = 0; i < rep->n; i++) {
			const struct gm_check_result *r = &rep->results[i];
			if (r->status != GM_CHECK_FAIL && r->status != GM_CHECK_WARN)
				continue;
			gm_buf_addf(out, "  %s%s%s %s: %s\n",
			            color ? gm_color_code(r->status == GM_CHECK_FAIL
			                                          ? GM_COLOR_RED
			                                          : GM_COLOR_YELLOW)
			                  : "",
			            gm_check_status_name(r->status), color ? "\033[0m" : "", r->id,
			            gm_buf_cstr(&r->evidence));
			if (r->hint.len)
				gm_buf_addf(out, "       fix: %s\n", gm_buf_cstr(&r->hint));
		}
	}
}

static void render_data(const struct gm_assess *a, bool color, struct gm_buf *out)
{
	heading(out, color, "DATA TRANSFER");
	if (!a->n_datasets) {
		gm_buf_adds(out, "the plan lists no datasets\n");
		return;
	}
	static const char *const headers[] = {"DATASET", "SOURCE", "SIZE", "HOURS"};
	struct gm_table t;
	gm_table_init(&t, 4, headers);
	gm_table_align_right(&t, 2);
	gm_table_align_right(&t, 3);
	for (size_t i = 0; i < a->n_datasets; i++) {
		const struct gm_assess_dataset *d = &a->datasets[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, d->name, GM_COLOR_NONE);
		gm_table_set(&t, 1, d->source, GM_COLOR_NONE);
		if (d->size_known)
			gm_table_setf(&t, 2, GM_COLOR_NONE, "%.2f TiB",
			              d->bytes / (1024.0 * 1024 * 1024 * 1024));
		else
			gm_table_set(&t, 2, "unknown", GM_COLOR_NONE);
		if (d->hours.known)
			gm_table_setf(&t, 3, GM_COLOR_NONE, "%.1f", d->hours.v);
		else
			gm_table_set(&t, 3, "n/a", GM_COLOR_NONE);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	if (a->data_hours.known)
		gm_buf_addf(
		        out,
		        "total %.2f TiB: %.1f hours (%.1f days) at %.3g Gb/s, %.0f%% sustained\n",
		        a->data_bytes / (1024.0 * 1024 * 1024 * 1024), a->data_hours.v,
		        a->data_hours.v / 24, a->plan->bandwidth_bps.v / 1e9,
		        GM_ASSESS_LINK_EFFICIENCY * 100);
}

static void render_checklist(const struct gm_assess *a, bool color, struct gm_buf *out)
{
	heading(out, color, "CHECKLIST");
	int phase = -1, n = 0;
	for (size_t i = 0; i < a->n_steps; i++) {
		const struct gm_assess_step *s = &a->steps[i];
		if ((int)s->phase != phase) {
			phase = (int)s->phase;
			gm_buf_addf(out, "%d. %s\n", phase + 1, gm_assess_phase_name(s->phase));
			n = 0;
		}
		gm_buf_addf(out, "   %d) %s\n", ++n, s->what);
		if (s->command)
			gm_buf_addf(out, "      $ %s\n", s->command);
	}
}

int gm_cmd_assess(struct gm_cli *cli, int argc, char **argv)
{
	const char *plan_path = NULL, *catalog_dir = NULL, *html = NULL;
	struct gm_assess_opts opts;
	memset(&opts, 0, sizeof(opts));
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_PLAN: plan_path = cli->optarg; break;
		case OPT_CATALOG: catalog_dir = cli->optarg; break;
		case OPT_HTML: html = cli->optarg; break;
		case OPT_CHECK_LOCAL: opts.check_local = true; break;
		case OPT_SYSROOT: opts.local_root.dir = cli->optarg; break;
		case OPT_NVML_LIBRARY: opts.nvml_library = cli->optarg; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc > 0)
		return gm_cli_usage_error(cli,
		                          "assess takes no operands (got '%s'); name the plan "
		                          "with -p",
		                          args[0]);
	if (!plan_path)
		return gm_cli_usage_error(cli, "assess needs a plan: -p plan.yaml (write one with "
		                               "'gpumigrate plan init')");

	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_assess a;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	gm_plan_init(&plan);
	gm_catalog_init(&cat);
	gm_assess_init(&a);
	if (gm_plan_load(&plan, plan_path, &err) != GM_OK ||
	    gm_catalog_load(&cat, catalog_dir, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	opts.now = time(NULL);
	opts.check_local = opts.check_local || plan.check_local;
	if (gm_assess_run(&a, &plan, &cat, &opts, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (html) {
		struct gm_buf page = GM_BUF_INIT;
		gm_assess_to_html(&a, &page);
		enum gm_rc rc = gm_fs_write_atomic(html, page.data, page.len, &err);
		gm_buf_release(&page);
		if (rc != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		gm_info("wrote the HTML report to '%s'", html);
	}
	if (cli->json) {
		gm_assess_to_json(&a, &out, true);
	} else {
		bool color = cli->color_stdout;
		render_verdict(&a, color, &out);
		render_capacity(&a, color, &out);
		render_cost(&a, color, &out);
		render_readiness(&a, color, &out);
		render_data(&a, color, &out);
		render_checklist(&a, color, &out);
		if (html)
			gm_buf_addf(&out, "\nreport: %s\n", html);
	}
	code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK && a.verdict == GM_VERDICT_NO_GO)
		code = GM_EXIT_FINDINGS;
out:
	gm_buf_release(&out);
	gm_err_release(&err);
	gm_assess_release(&a);
	gm_catalog_release(&cat);
	gm_plan_release(&plan);
	return code;
}

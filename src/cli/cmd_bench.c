/* `gpumigrate bench`: measure an environment (gpu, run, http, net) and compare two
 * measurements (compare). This file dispatches to the subcommands, holds what they share
 * (writing the result, the figures table, durations) and implements `bench compare`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/result.h"
#include "bench/verdict.h"
#include "cli/bench_cmds.h"
#include "cli/commands.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

/* `bench` itself has no options of its own: each subcommand has its table (below). */
const struct gm_opt gm_cmd_bench_opts[] = {
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static const struct gm_cli_subcommand subs[] = {
        {"gpu", "gpu [options]",
         "copy bandwidths and GEMM throughput of the local GPUs (CUDA driver, cuBLAS)",
         gm_cmd_bench_gpu_opts, gm_cmd_bench_gpu},
        {"run", "run [-n RUNS] [--warmup K] [--metric REGEX] [options] -- COMMAND [ARG...]",
         "run a command several times: wall time, or a figure parsed from its output",
         gm_cmd_bench_run_opts, gm_cmd_bench_run},
        {"http", "http [-c CONN] [-d DURATION | -n REQUESTS] [--rate R] [options] URL",
         "HTTP latency percentiles, errors and throughput (libcurl, keep-alive)",
         gm_cmd_bench_http_opts, gm_cmd_bench_http},
        {"net", "net --serve | net [options] HOST",
         "TCP round-trip latency and throughput between two nodes", gm_cmd_bench_net_opts,
         gm_cmd_bench_net},
        {"compare", "compare [--tolerance 5%] [options] BASELINE.json CANDIDATE.json",
         "medians, ratio with a 95% bootstrap CI, Mann-Whitney p and a verdict per figure",
         gm_cmd_bench_compare_opts, gm_cmd_bench_compare},
        {NULL, NULL, NULL, NULL, NULL},
};

static const struct gm_cli_subcommands bench = {
        "bench", "measure this environment and compare two measurements", subs};

int gm_cmd_bench(struct gm_cli *cli, int argc, char **argv)
{
	return gm_cli_run_subcommand(cli, &bench, argc, argv);
}

/* ---- shared by the subcommands ---- */

bool gm_bench_cli_parse_duration(const char *s, double *seconds)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3},
	             {"s", 1},     {"m", 60},    {"h", 3600},  {"", 1}};
	char *end = NULL;
	if (!s || !*s)
		return false;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			*seconds = v * units[i].scale;
			return true;
		}
	}
	return false;
}

void gm_bench_cli_format(double v, const char *unit, struct gm_buf *out)
{
	if (isnan(v)) {
		gm_buf_adds(out, "-");
		return;
	}
	if (strcmp(unit, "s") == 0) {
		double a = fabs(v);
		if (a < 1e-6)
			gm_buf_addf(out, "%.0f ns", v * 1e9);
		else if (a < 1e-3)
			gm_buf_addf(out, "%.1f µs", v * 1e6);
		else if (a < 1)
			gm_buf_addf(out, "%.3f ms", v * 1e3);
		else
			gm_buf_addf(out, "%.3f s", v);
		return;
	}
	if (strcmp(unit, "B/s") == 0 || strcmp(unit, "B") == 0) {
		static const char *const pre[] = {"", "k", "M", "G", "T"};
		size_t k = 0;
		while (fabs(v) >= 1000 && k < 4)
			v /= 1000, k++;
		gm_buf_addf(out, "%.4g %s%s", v, pre[k], unit);
		return;
	}
	gm_buf_addf(out, "%.6g%s%s", v, *unit ? " " : "", unit);
}

/* Sets cell col of the table's last row to v in its unit, for people. */
static void set_value(struct gm_table *t, size_t col, double v, const char *unit,
                      enum gm_color color)
{
	struct gm_buf s = GM_BUF_INIT;
	gm_bench_cli_format(v, unit, &s);
	gm_table_set(t, col, gm_buf_cstr(&s), color);
	gm_buf_release(&s);
}

void gm_bench_cli_figures_table(const struct gm_bench_result *r, bool color, struct gm_buf *out)
{
	static const char *const head[] = {"figure", "n", "median", "p90", "p99", "min", "max"};
	struct gm_table t;
	gm_table_init(&t, 7, head);
	for (size_t c = 1; c < 7; c++)
		gm_table_align_right(&t, c);
	for (size_t i = 0; i < r->n_figures; i++) {
		const struct gm_bench_figure *f = r->figures[i];
		const double vals[] = {f->summary.p50, f->summary.p90, f->summary.p99,
		                       f->summary.min, f->summary.max};
		gm_table_add_row(&t);
		gm_table_set(&t, 0, f->name, GM_COLOR_NONE);
		gm_table_setf(&t, 1, GM_COLOR_NONE, "%llu", (unsigned long long)f->summary.n);
		for (size_t k = 0; k < 5; k++)
			set_value(&t, 2 + k, vals[k], f->unit,
			          k == 0 ? GM_COLOR_BOLD : GM_COLOR_NONE);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
}

void gm_bench_cli_inventory(struct gm_bench_result *r, bool skip)
{
	struct gm_err err = GM_ERR_INIT;
	if (!skip && gm_bench_result_collect_inventory(r, false, &err) != GM_OK)
		gm_warn("the result carries no inventory: %s", gm_err_msg(&err));
	gm_err_release(&err);
}

int gm_bench_cli_emit(struct gm_cli *cli, const struct gm_bench_result *r, const char *output,
                      const struct gm_buf *table)
{
	struct gm_buf doc = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	int code = GM_EXIT_OK;
	gm_bench_result_to_json(r, &doc, true);
	if (output && strcmp(output, "-") != 0) {
		if (gm_fs_write_atomic(output, doc.data, doc.len, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		gm_info("wrote the result to '%s'", output);
	}
	if (cli->json || (output && strcmp(output, "-") == 0))
		code = gm_cli_emit(&doc);
	else if (table)
		code = gm_cli_emit(table);
out:
	gm_err_release(&err);
	gm_buf_release(&doc);
	return code;
}

int gm_bench_cli_save(struct gm_cli *cli, struct gm_bench_result *doc, bool skip_nvml,
                      const char *output, struct gm_buf *out)
{
	struct gm_err err = GM_ERR_INIT;
	int code = GM_EXIT_OK;
	if (gm_bench_result_collect_inventory(doc, skip_nvml, &err) != GM_OK) {
		gm_warn("inventory not recorded: %s", gm_err_msg(&err));
		gm_err_clear(&err);
	}
	if (output || cli->json) {
		gm_bench_result_to_json(doc, out, true);
		gm_buf_addch(out, '\n');
	}
	if (output && gm_fs_write_atomic(output, out->data, out->len, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->json)
		gm_buf_reset(out);
out:
	gm_err_release(&err);
	return code;
}

/* ---- bench compare ---- */

enum { OPT_TOLERANCE = 1 };

const struct gm_opt gm_cmd_bench_compare_opts[] = {
        {OPT_TOLERANCE, "tolerance", 't', GM_ARG_REQUIRED, "PERCENT",
         "ratios within 1 ± this are equivalent (default 5%)", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static bool parse_tolerance(const char *s, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v))
		return false;
	bool percent = strcmp(end, "%") == 0;
	if (!percent && *end)
		return false;
	if (percent || v >= 1)
		v /= 100; /* "5%", and also "5", mean 5 % */
	if (!(v >= 0 && v < 1))
		return false;
	*out = v;
	return true;
}

static void compare_table(const struct gm_bench_cmp *c, bool color, struct gm_buf *out)
{
	static const char *const head[] = {"figure", "baseline", "candidate", "ratio",
	                                   "95% CI", "p",        "verdict"};
	struct gm_table t;
	gm_table_init(&t, 7, head);
	for (size_t k = 1; k < 6; k++)
		gm_table_align_right(&t, k);
	for (size_t i = 0; i < c->n_rows; i++) {
		const struct gm_bench_cmp_row *r = &c->rows[i];
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "%s (%s better)", r->name,
		              gm_bench_better_name(r->better));
		set_value(&t, 1, r->base_median, r->unit, GM_COLOR_NONE);
		set_value(&t, 2, r->cand_median, r->unit, GM_COLOR_NONE);
		if (isnan(r->ratio))
			gm_table_set(&t, 3, "-", GM_COLOR_NONE);
		else
			gm_table_setf(&t, 3, GM_COLOR_NONE, "%.3f", r->ratio);
		if (isnan(r->lo))
			gm_table_set(&t, 4, "-", GM_COLOR_NONE);
		else
			gm_table_setf(&t, 4, GM_COLOR_NONE, "%.3f-%.3f", r->lo, r->hi);
		gm_table_setf(&t, 5, GM_COLOR_NONE, "%.3g", r->p);
		enum gm_color col = r->verdict == GM_VERDICT_SLOWER       ? GM_COLOR_RED
		                    : r->verdict == GM_VERDICT_FASTER     ? GM_COLOR_GREEN
		                    : r->verdict == GM_VERDICT_EQUIVALENT ? GM_COLOR_NONE
		                                                          : GM_COLOR_YELLOW;
		gm_table_set(&t, 6, gm_verdict_name(r->verdict), col);
	}
	gm_table_render(&t, color, out);
	for (size_t i = 0; i < c->n_only_base; i++)
		gm_buf_addf(out, "only in the baseline: %s\n", c->only_base[i]);
	for (size_t i = 0; i < c->n_only_cand; i++)
		gm_buf_addf(out, "only in the candidate: %s\n", c->only_cand[i]);
	gm_buf_addf(out,
	            "tolerance ±%g%%; ratio = candidate/baseline median; slower/faster need p < "
	            "0.05 and the CI outside the tolerance\n",
	            c->tolerance * 100);
	gm_table_release(&t);
}

int gm_cmd_bench_compare(struct gm_cli *cli, int argc, char **argv)
{
	double tolerance = 0.05;
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_TOLERANCE:
			if (!parse_tolerance(cli->optarg, &tolerance))
				return gm_cli_usage_error(
				        cli, "--tolerance takes a percentage such as 5%%, not '%s'",
				        cli->optarg);
			break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc != 2)
		return gm_cli_usage_error(cli, "bench compare takes two result files: BASELINE "
		                               "CANDIDATE");
	struct gm_bench_result base, cand;
	struct gm_bench_cmp c;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	gm_bench_result_init(&base);
	gm_bench_result_init(&cand);
	gm_bench_cmp_init(&c);
	if (gm_bench_result_load(&base, args[0], &err) != GM_OK ||
	    gm_bench_result_load(&cand, args[1], &err) != GM_OK ||
	    gm_bench_compare(&base, &cand, tolerance, &c, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (c.n_rows == 0) {
		gm_error("'%s' and '%s' have no figure with samples in common", args[0], args[1]);
		code = GM_EXIT_USAGE;
		goto out;
	}
	if (cli->json)
		gm_bench_cmp_to_json(&c, args[0], args[1], &out, true);
	else
		compare_table(&c, cli->color_stdout, &out);
	code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK && c.n_slower)
		code = GM_EXIT_FINDINGS;
out:
	gm_buf_release(&out);
	gm_bench_cmp_release(&c);
	gm_bench_result_release(&cand);
	gm_bench_result_release(&base);
	gm_err_release(&err);
	return code;
}

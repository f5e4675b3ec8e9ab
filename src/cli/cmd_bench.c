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

struct sub {
	const char *name;
	const char *usage;
	const char *summary;
	const struct gm_opt *opts;
	int (*run)(struct gm_cli *cli, int argc, char **argv);
};

static const struct sub subs[] = {
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
};
#define N_SUBS (sizeof(subs) / sizeof(subs[0]))

static void help_opts(const struct gm_opt *opts, struct gm_buf *out)
{
	for (size_t i = 0; opts && opts[i].long_name; i++) {
		const struct gm_opt *o = &opts[i];
		size_t start = out->len;
		if (o->short_name)
			gm_buf_addf(out, "  -%c, --%s", o->short_name, o->long_name);
		else
			gm_buf_addf(out, "      --%s", o->long_name);
		if (o->arg == GM_ARG_REQUIRED)
			gm_buf_addf(out, " %s", o->arg_name ? o->arg_name : "VALUE");
		else if (o->arg == GM_ARG_OPTIONAL)
			gm_buf_addf(out, "[=%s]", o->arg_name ? o->arg_name : "VALUE");
		size_t w = out->len - start;
		if (w < 30)
			gm_buf_addpad(out, ' ', 30 - w);
		else
			gm_buf_adds(out, "\n                              ");
		gm_buf_addf(out, "%s\n", o->help);
	}
}

static int bench_help(void)
{
	struct gm_buf out = GM_BUF_INIT;
	gm_buf_adds(&out, "usage: gpumigrate bench SUBCOMMAND [options] [args]\n\n"
	                  "measure this environment and compare two measurements\n\n"
	                  "subcommands:\n");
	for (size_t i = 0; i < N_SUBS; i++)
		gm_buf_addf(&out, "  %-8s  %s\n", subs[i].name, subs[i].summary);
	for (size_t i = 0; i < N_SUBS; i++) {
		gm_buf_addf(&out, "\noptions of 'bench %s' (usage: gpumigrate bench %s):\n",
		            subs[i].name, subs[i].usage);
		help_opts(subs[i].opts, &out);
	}
	gm_buf_adds(&out, "\nglobal options:\n");
	help_opts(gm_global_opts, &out);
	gm_buf_adds(&out, "\nsee gpumigrate-bench(1) for details.\n");
	int code = gm_cli_emit(&out);
	gm_buf_release(&out);
	return code;
}

int gm_cmd_bench(struct gm_cli *cli, int argc, char **argv)
{
	/* global options may come before the subcommand */
	int i = 1;
	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return bench_help();
		int code = GM_EXIT_OK;
		struct gm_cmd cmd = {"bench", "", "", gm_cmd_bench_opts, gm_cmd_bench, false};
		char *one[3] = {argv[0], argv[i], NULL};
		int n = 2;
		/* an option with a value (--color WHEN) takes the next word */
		if (strcmp(argv[i], "--color") == 0 && i + 1 < argc)
			one[2] = argv[i + 1], n = 3;
		gm_cli_begin(cli, &cmd, n, one);
		int id = gm_cli_next(cli, &code);
		if (id == -2)
			return code;
		if (id != -1)
			return gm_cli_usage_error(cli, "'%s' belongs after the subcommand",
			                          argv[i]);
		i += n - 1;
	}
	if (i >= argc) {
		gm_error("bench needs a subcommand: gpu, run, http, net or compare");
		gm_hint("run 'gpumigrate bench --help' for each one's options");
		return GM_EXIT_USAGE;
	}
	for (size_t k = 0; k < N_SUBS; k++) {
		if (strcmp(argv[i], subs[k].name) != 0)
			continue;
		static struct gm_cmd sub_cmd;
		sub_cmd = (struct gm_cmd){"bench",      subs[k].summary, subs[k].usage,
		                          subs[k].opts, subs[k].run,     false};
		gm_cli_begin(cli, &sub_cmd, argc - i, argv + i);
		return subs[k].run(cli, argc - i, argv + i);
	}
	gm_error("unknown bench subcommand '%s' (gpu, run, http, net or compare)", argv[i]);
	gm_hint("run 'gpumigrate bench --help' for the list");
	return GM_EXIT_USAGE;
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

void gm_bench_cli_figures_table(const struct gm_bench_result *r, bool color, struct gm_buf *out)
{
	static const char *const head[] = {"figure", "n", "median", "p90", "p99", "min", "max"};
	struct gm_table t;
	struct gm_buf v = GM_BUF_INIT;
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
		for (size_t k = 0; k < 5; k++) {
			gm_buf_reset(&v);
			gm_bench_cli_format(vals[k], f->unit, &v);
			gm_table_set(&t, 2 + k, gm_buf_cstr(&v),
			             k == 0 ? GM_COLOR_BOLD : GM_COLOR_NONE);
		}
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	gm_buf_release(&v);
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
	struct gm_buf a = GM_BUF_INIT;
	gm_table_init(&t, 7, head);
	for (size_t k = 1; k < 6; k++)
		gm_table_align_right(&t, k);
	for (size_t i = 0; i < c->n_rows; i++) {
		const struct gm_bench_cmp_row *r = &c->rows[i];
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "%s (%s better)", r->name,
		              gm_bench_better_name(r->better));
		gm_buf_reset(&a);
		gm_bench_cli_format(r->base_median, r->unit, &a);
		gm_table_set(&t, 1, gm_buf_cstr(&a), GM_COLOR_NONE);
		gm_buf_reset(&a);
		gm_bench_cli_format(r->cand_median, r->unit, &a);
		gm_table_set(&t, 2, gm_buf_cstr(&a), GM_COLOR_NONE);
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
	gm_buf_release(&a);
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

/* `gpumigrate bench run`: time a user's command (a training step, a script) over several
 * runs, or collect the per-step figure it prints, and record it with the environment. */
#include <stdlib.h>
#include <string.h>

#include "bench/result.h"
#include "bench/runcmd.h"
#include "cli/bench_cmds.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/banned.h"

enum {
	OPT_RUNS = 1,
	OPT_WARMUP,
	OPT_METRIC,
	OPT_NAME,
	OPT_UNIT,
	OPT_BETTER,
	OPT_OUTPUT,
	OPT_NO_INVENTORY,
};

const struct gm_opt gm_cmd_bench_run_opts[] = {
        {OPT_RUNS, "runs", 'n', GM_ARG_REQUIRED, "RUNS", "measured runs (default 10)", NULL},
        {OPT_WARMUP, "warmup", 0, GM_ARG_REQUIRED, "K",
         "runs before the measured ones, not recorded (default 1)", NULL},
        {OPT_METRIC, "metric", 0, GM_ARG_REQUIRED, "REGEX",
         "also record every number the first group of this POSIX ERE captures in the "
         "command's output, e.g. 'step_time=([0-9.]+)'",
         NULL},
        {OPT_NAME, "name", 0, GM_ARG_REQUIRED, "NAME",
         "the --metric figure's name (default metric)", NULL},
        {OPT_UNIT, "unit", 0, GM_ARG_REQUIRED, "UNIT",
         "the --metric figure's unit (s, samples/s …; default none)", NULL},
        {OPT_BETTER, "better", 0, GM_ARG_REQUIRED, "DIRECTION",
         "whether a lower or higher --metric is better (default lower)", "lower higher"},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "write the result document (gpumigrate.bench/v1) to FILE", "file"},
        {OPT_NO_INVENTORY, "no-inventory", 0, GM_ARG_NONE, NULL,
         "do not collect this machine's inventory into the result", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static bool parse_count(const char *s, uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v = 0;
	if (gm_parse_u64(s, 10, &v) != GM_OK || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

int gm_cmd_bench_run(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_runcmd_opts o = {NULL, 10, 1, NULL, NULL, NULL, GM_BETTER_LOWER};
	const char *output = NULL;
	bool no_inventory = false;
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		switch (id) {
		case -2: return code;
		case OPT_RUNS:
			if (!parse_count(a, 1, 1000000, &o.runs))
				return gm_cli_usage_error(cli, "--runs takes a count ≥ 1, not '%s'",
				                          a);
			break;
		case OPT_WARMUP:
			if (!parse_count(a, 0, 1000000, &o.warmup))
				return gm_cli_usage_error(
				        cli, "--warmup takes a count ≥ 0, not '%s'", a);
			break;
		case OPT_METRIC: o.metric = a; break;
		case OPT_NAME: o.name = a; break;
		case OPT_UNIT: o.unit = a; break;
		case OPT_BETTER:
			if (!gm_bench_better_parse(a, &o.better))
				return gm_cli_usage_error(
				        cli, "--better takes lower or higher, not '%s'", a);
			break;
		case OPT_OUTPUT: output = a; break;
		case OPT_NO_INVENTORY: no_inventory = true; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc < 1)
		return gm_cli_usage_error(cli, "bench run needs a command: gpumigrate bench run "
		                               "[options] -- COMMAND [ARG...]");
	if ((o.name || o.unit) && !o.metric)
		return gm_cli_usage_error(cli, "--name and --unit describe a --metric");

	struct gm_bench_result r;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf table = GM_BUF_INIT, params = GM_BUF_INIT;
	struct gm_json j;
	gm_bench_result_init(&r);
	gm_bench_result_begin(&r, "run");
	gm_json_init(&j, &params, false);
	gm_json_begin_object(&j, NULL);
	gm_json_begin_array(&j, "command");
	for (int i = 0; i < argc; i++)
		gm_json_str(&j, NULL, args[i]);
	gm_json_end_array(&j);
	gm_json_uint(&j, "runs", o.runs);
	gm_json_uint(&j, "warmup", o.warmup);
	gm_json_str(&j, "metric", o.metric);
	gm_json_end_object(&j);
	gm_bench_result_set_raw(&r, "params", gm_buf_cstr(&params), NULL);
	o.argv = args;
	gm_info("running '%s' %u time(s) after %u warm-up run(s)", args[0], o.runs, o.warmup);
	if (gm_runcmd_bench(&o, &r, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	gm_bench_cli_inventory(&r, no_inventory);
	gm_bench_cli_figures_table(&r, cli->color_stdout, &table);
	code = gm_bench_cli_emit(cli, &r, output, &table);
out:
	gm_buf_release(&params);
	gm_buf_release(&table);
	gm_err_release(&err);
	gm_bench_result_release(&r);
	return code;
}

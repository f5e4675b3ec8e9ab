/* gpumigrate's entry point: the command table, the global options and dispatch. Adding a
 * command is one line here plus its cmd_<name>.c (see DESIGN.md, "Adding a command"). */
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "util/doc.h"
#include "util/log.h"
#include "util/banned.h"

const struct gm_cmd gm_commands[] = {
        {"inventory", "describe this GPU host: OS, IOMMU, modules, CPUs, GPUs, NICs, runtime",
         "[options]", gm_cmd_inventory_opts, gm_cmd_inventory, false},
        {"topo", "GPU/NIC topology matrix (like nvidia-smi topo -m) from hwloc and NVML",
         "[options]", gm_cmd_topo_opts, gm_cmd_topo, false},
        {"check", "is this GPU host ready: driver, CUDA, IOMMU, PCIe, NUMA, health, runtime, k8s",
         "[options] [--inventory FILE...]", gm_cmd_check_opts, gm_cmd_check, false},
        {"compare", "compare two GPU setups (cloud vs on-prem): ratios, GPUs needed, warnings",
         "[options] SRC TGT", gm_cmd_compare_opts, gm_cmd_compare, false},
        {"tco", "cloud vs on-prem cost over 1-5 years: break-even month and utilisation",
         "[options] (-p PLAN | --cloud TYPE --target-gpu GPU ...)", gm_cmd_tco_opts, gm_cmd_tco,
         false},
        {"assess", "the assessment: capacity, cost and break-even, readiness, data, checklist",
         "-p PLAN [--html FILE] [options]", gm_cmd_assess_opts, gm_cmd_assess, false},
        {"exporter", "serve GPU metrics to Prometheus (dcgm-exporter names, NVML, no DCGM)",
         "[--listen ADDR:PORT] [--interval 1s] [--web-config FILE] [options]", gm_cmd_exporter_opts,
         gm_cmd_exporter, false},
        {"monitor", "Prometheus alert rules and a Grafana dashboard for the GPU exporter",
         "[options] rules [--format prometheus|prometheus-operator] | dashboard",
         gm_cmd_monitor_opts, gm_cmd_monitor, false},
        {"catalog", "list or show the GPU specs, cloud prices and on-prem cost defaults",
         "[options] list [gpus|instances|costs|servers] | show NAME", gm_cmd_catalog_opts,
         gm_cmd_catalog, false},
        {"plan", "write a plan template (init) or validate a plan file (check)",
         "[options] init [-o FILE] | check -p FILE", gm_cmd_plan_opts, gm_cmd_plan, false},
        {"sync", "copy a tree locally, over SSH or to/from S3 and GCS: verified, resumable",
         "[options] SRC DST", gm_cmd_sync_opts, gm_cmd_sync, false},
        {"verify", "compare two trees (or a tree and a sync manifest) by content hash",
         "[options] SRC DST | --manifest FILE DST", gm_cmd_verify_opts, gm_cmd_verify, false},
        {"k8s", "move Kubernetes workloads: scan, rewrite manifests, mirror images, node labels",
         "scan|rewrite|labels|mirror [options] [args]", gm_cmd_k8s_opts, gm_cmd_k8s, false},
        {"bench", "measure gpu, run, http, net; compare two environments with statistics",
         "gpu|run|http|net|compare [options] [args]", gm_cmd_bench_opts, gm_cmd_bench, false},
        {"completion", "print the bash completion script", "bash", gm_cmd_completion_opts,
         gm_cmd_completion, false},
        {NULL, NULL, NULL, NULL, NULL, false},
};

static const struct gm_cmd *find_command(const char *name)
{
	for (const struct gm_cmd *c = gm_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* The closest command name, for "did you mean". */
static const char *closest_command(const char *name)
{
	const char *best = NULL;
	size_t best_d = 4;
	for (const struct gm_cmd *c = gm_commands; c->name; c++) {
		size_t d = gm_levenshtein(name, c->name);
		if (d < best_d || (strncmp(name, c->name, strlen(name)) == 0 && strlen(name) >= 2))
			best_d = d, best = c->name;
	}
	return best;
}

int main(int argc, char **argv)
{
	setlocale(LC_CTYPE, "");
	signal(SIGPIPE, SIG_IGN);

	struct gm_cli cli = {0};
	cli.color_stdout = gm_cli_want_color(GM_COLOR_MODE_AUTO, STDOUT_FILENO);
	gm_log_set_color(gm_cli_want_color(GM_COLOR_MODE_AUTO, STDERR_FILENO));

	int exit_code = GM_EXIT_OK;
	gm_cli_begin(&cli, NULL, argc, argv);
	int id = gm_cli_next(&cli, &exit_code);
	if (id == -2)
		return exit_code;
	int n_args;
	char **args = gm_cli_args(&cli, &n_args);
	if (n_args == 0) {
		struct gm_buf help = GM_BUF_INIT;
		gm_cli_help_global(&help);
		fputs(gm_buf_cstr(&help), stderr);
		gm_buf_release(&help);
		return GM_EXIT_USAGE;
	}
	if (strcmp(args[0], "help") == 0 && n_args > 1 && find_command(args[1])) {
		struct gm_buf help = GM_BUF_INIT;
		gm_cli_help_command(find_command(args[1]), &help);
		exit_code = gm_cli_emit(&help);
		gm_buf_release(&help);
		return exit_code;
	}
	const struct gm_cmd *cmd = find_command(args[0]);
	if (!cmd) {
		gm_error("unknown command '%s'", args[0]);
		const char *near = closest_command(args[0]);
		if (near)
			gm_hint("did you mean 'gpumigrate %s'? run 'gpumigrate --help' for the "
			        "list",
			        near);
		else
			gm_hint("run 'gpumigrate --help' for the list of commands");
		return GM_EXIT_USAGE;
	}
	gm_cli_begin(&cli, cmd, n_args, args);
	return cmd->run(&cli, n_args, args);
}

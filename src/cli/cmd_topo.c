/* `gpumigrate topo`: the GPU/NIC matrix people know from `nvidia-smi topo -m`, built from
 * hwloc's PCI tree (live host, saved lstopo XML, or a sysfs copy) and NVML's NVLinks, with
 * CPU/NUMA affinity and the findings that matter when moving GPU jobs to a new server. */
#include "cli/commands.h"

#include <stdlib.h>
#include <string.h>

#include "hw/inventory.h"
#include "hw/nvml.h"
#include "hw/topo.h"
#include "util/log.h"
#include "util/table.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum { OPT_XML = 'x', OPT_SYSROOT = 'r', OPT_NO_NVML = 'n' };

const struct gm_opt gm_cmd_topo_opts[] = {
        {OPT_XML, "topology-xml", 'x', GM_ARG_REQUIRED, "FILE", "analyse a saved lstopo XML file",
         "file"},
        {OPT_SYSROOT, "sysroot", 0, GM_ARG_REQUIRED, "DIR", "read sysfs/procfs below DIR", "dir"},
        {OPT_NO_NVML, "no-nvml", 0, GM_ARG_NONE, NULL,
         "do not read NVLinks through NVML (PCI relations only)", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static enum gm_color cell_color(const struct gm_topo_cell *c)
{
	switch (c->link) {
	case GM_LINK_NV: return GM_COLOR_GREEN;
	case GM_LINK_SYS: return GM_COLOR_YELLOW;
	case GM_LINK_X: return GM_COLOR_DIM;
	default: return GM_COLOR_NONE;
	}
}

static void render(const struct gm_cli *cli, const struct gm_topo *t, struct gm_buf *out)
{
	size_t n = t->n_devs;
	if (n == 0) {
		gm_buf_adds(out, "no GPU or NIC found in the topology\n");
		return;
	}
	const char **headers = gm_xcalloc(n + 3, sizeof(*headers));
	headers[0] = "";
	for (size_t i = 0; i < n; i++)
		headers[i + 1] = t->devs[i].name;
	headers[n + 1] = "CPU Affinity";
	headers[n + 2] = "NUMA Affinity";
	struct gm_table table;
	struct gm_buf cell = GM_BUF_INIT;
	gm_table_init(&table, n + 3, headers);
	for (size_t i = 0; i < n; i++) {
		const struct gm_topo_dev *d = &t->devs[i];
		gm_table_add_row(&table);
		gm_table_set(&table, 0, d->name, GM_COLOR_BOLD);
		for (size_t j = 0; j < n; j++) {
			const struct gm_topo_cell *c = gm_topo_cell(t, i, j);
			gm_buf_reset(&cell);
			gm_topo_cell_str(c, &cell);
			gm_table_set(&table, j + 1, gm_buf_cstr(&cell), cell_color(c));
		}
		gm_table_set(&table, n + 1,
		             gm_fact_ok(&d->cpu_affinity.f) ? d->cpu_affinity.v : "N/A",
		             GM_COLOR_NONE);
		if (gm_fact_ok(&d->numa_node.f))
			gm_table_setf(&table, n + 2, GM_COLOR_NONE, "%lld",
			              (long long)d->numa_node.v);
		else
			gm_table_set(&table, n + 2, "N/A", GM_COLOR_NONE);
	}
	gm_table_render(&table, cli->color_stdout, out);
	gm_table_release(&table);
	gm_buf_release(&cell);
	free(headers);

	static const enum gm_link legend[] = {GM_LINK_X,   GM_LINK_SYS, GM_LINK_NODE, GM_LINK_PHB,
	                                      GM_LINK_PXB, GM_LINK_PIX, GM_LINK_NV};
	gm_buf_adds(out, "\nLegend:\n\n");
	for (size_t i = 0; i < sizeof(legend) / sizeof(legend[0]); i++) {
		size_t start = out->len;
		gm_buf_addf(out, "  %s%s", gm_topo_link_name(legend[i]),
		            legend[i] == GM_LINK_NV ? "#" : "");
		gm_buf_addpad(out, ' ', 7 - (out->len - start));
		gm_buf_addf(out, "= %s\n", gm_topo_link_meaning(legend[i]));
	}
	if (t->n_warnings) {
		gm_buf_adds(out, "\nWarnings:\n");
		for (size_t i = 0; i < t->n_warnings; i++)
			gm_buf_addf(out, "  - %s\n", t->warnings[i]);
	}
}

int gm_cmd_topo(struct gm_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct gm_topo_opts opts = {NULL, NULL};
	bool no_nvml = false;
	int exit_code = GM_EXIT_OK;
	int id;
	while ((id = gm_cli_next(cli, &exit_code)) != -1) {
		switch (id) {
		case -2: return exit_code;
		case OPT_XML: opts.xml_path = cli->optarg; break;
		case OPT_SYSROOT: opts.sysroot = cli->optarg; break;
		case OPT_NO_NVML: no_nvml = true; break;
		default: return gm_cli_usage_error(cli, "unhandled option");
		}
	}
	int n_args;
	char **args = gm_cli_args(cli, &n_args);
	if (n_args > 0)
		return gm_cli_usage_error(cli, "unexpected argument '%s'", args[0]);
	if (opts.xml_path && opts.sysroot)
		return gm_cli_usage_error(cli,
		                          "--topology-xml and --sysroot cannot be used together");

	struct gm_topo topo;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	gm_topo_init(&topo);
	enum gm_rc rc = gm_topo_load(&topo, &opts, &err);
	if (rc != GM_OK) {
		gm_error("%s", gm_err_msg(&err));
		bool from_xml = opts.xml_path || (!opts.sysroot && getenv("HWLOC_XMLFILE"));
		switch (rc) {
		case GM_ERR_USAGE:
		case GM_ERR_NOT_FOUND:
		case GM_ERR_PARSE:
		case GM_ERR_LIMIT:
			if (from_xml)
				gm_hint("create it with 'lstopo --of xml FILE' on the server "
				        "(Debian "
				        "package hwloc) and pass that file");
			else
				gm_hint("point --sysroot at a directory holding a copy of the "
				        "server's /sys and /proc");
			exit_code = GM_EXIT_USAGE;
			break;
		default:
			gm_hint("try 'lstopo' to see whether hwloc can read this host");
			exit_code = GM_EXIT_ERROR;
			break;
		}
		goto out;
	}
	gm_info("topology from %s: %zu GPU(s), %zu NIC(s)", topo.source, topo.n_gpus,
	        topo.n_devs - topo.n_gpus);

	if (!no_nvml) {
		struct gm_nvidia nv = {0};
		gm_nvml_collect(&nv, NULL);
		gm_topo_apply_nvlink(&topo, &nv);
		if (!gm_fact_ok(&nv.nvml))
			gm_info("NVLinks not shown: %s",
			        nv.nvml.why ? nv.nvml.why : "NVML unusable");
		gm_nvidia_release(&nv);
	}
	if (topo.n_gpus == 0)
		gm_warn("no NVIDIA GPU found in the topology from %s", topo.source);

	if (cli->json)
		gm_topo_to_json(&topo, &out, true);
	else
		render(cli, &topo, &out);
	exit_code = gm_cli_emit(&out);
out:
	gm_buf_release(&out);
	gm_err_release(&err);
	gm_topo_release(&topo);
	return exit_code;
}

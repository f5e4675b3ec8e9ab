/* `gpumigrate inventory`: what this GPU host is, as a report for people, JSON or YAML for
 * machines, and a file (-o) that compare and check read later. */
#include <inttypes.h>
#include <string.h>

#include "cli/commands.h"
#include "hw/inventory.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum { OPT_OUTPUT = 1, OPT_SYSROOT, OPT_NO_NVML, OPT_NVML_LIBRARY, OPT_YAML };

const struct gm_opt gm_cmd_inventory_opts[] = {
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "also write the JSON inventory to FILE (atomically)", "file"},
        {OPT_YAML, "yaml", 0, GM_ARG_NONE, NULL, "print the inventory as YAML", NULL},
        {OPT_SYSROOT, "sysroot", 0, GM_ARG_REQUIRED, "DIR",
         "read /sys, /proc, /etc and /dev below DIR instead of /", "dir"},
        {OPT_NO_NVML, "no-nvml", 0, GM_ARG_NONE, NULL, "do not query the NVIDIA driver", NULL},
        {OPT_NVML_LIBRARY, "nvml-library", 0, GM_ARG_REQUIRED, "FILE",
         "NVML library to load (default $GPUMIGRATE_NVML_LIBRARY or libnvidia-ml.so.1)", "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

/* Text of a fact for people: the value, "n/a" when unsupported, "?" when unknown. */
static const char *fstr(const struct gm_fstr *f)
{
	if (gm_fact_ok(&f->f))
		return f->v && *f->v ? f->v : "-";
	return f->f.state == GM_FACT_UNSUPPORTED ? "n/a" : "?";
}

static void add_fint(struct gm_buf *b, const struct gm_fint *f, const char *suffix)
{
	if (gm_fact_ok(&f->f))
		gm_buf_addf(b, "%" PRId64 "%s", f->v, suffix);
	else
		gm_buf_adds(b, f->f.state == GM_FACT_UNSUPPORTED ? "n/a" : "?");
}

static const char *fbool(const struct gm_fbool *f, const char *yes, const char *no)
{
	if (gm_fact_ok(&f->f))
		return f->v ? yes : no;
	return f->f.state == GM_FACT_UNSUPPORTED ? "n/a" : "?";
}

static void add_bytes(struct gm_buf *b, const struct gm_fint *f)
{
	if (gm_fact_ok(&f->f))
		gm_buf_addf(b, "%.1f GiB", (double)f->v / (1024.0 * 1024.0 * 1024.0));
	else
		add_fint(b, f, "");
}

static void render_host(const struct gm_host *h, struct gm_table *t)
{
	struct gm_buf v = GM_BUF_INIT;
#define ROW(label)                                                  \
	do {                                                        \
		gm_table_add_row(t);                                \
		gm_table_set(t, 0, label, GM_COLOR_BOLD);           \
		gm_table_set(t, 1, gm_buf_cstr(&v), GM_COLOR_NONE); \
		gm_buf_reset(&v);                                   \
	} while (0)

	gm_buf_addf(&v, "%s", fstr(&h->hostname));
	ROW("host");
	gm_buf_addf(&v, "%s, kernel %s, %s", fstr(&h->os_pretty), fstr(&h->kernel_release),
	            fstr(&h->arch));
	ROW("os");
	gm_buf_addf(&v, "%s; ", fstr(&h->cpu_model));
	add_fint(&v, &h->cpu_sockets, " sockets, ");
	add_fint(&v, &h->cpu_cores, " cores, ");
	add_fint(&v, &h->cpu_threads, " threads, ");
	add_fint(&v, &h->numa_nodes, " NUMA nodes");
	ROW("cpu");
	add_bytes(&v, &h->memory_total_bytes);
	gm_buf_addf(&v, ", swap %s", fbool(&h->swap_on, "on", "off"));
	ROW("memory");
	if (gm_fact_ok(&h->iommu_enabled.f) && h->iommu_enabled.v) {
		gm_buf_addf(&v, "on (%s), iommu=pt %s, ", fstr(&h->iommu_vendor),
		            fbool(&h->iommu_passthrough, "yes", "no"));
		add_fint(&v, &h->iommu_groups, " groups");
	} else {
		gm_buf_adds(&v, fbool(&h->iommu_enabled, "on", "off"));
	}
	ROW("iommu");
	gm_buf_addf(&v, "nvidia %s, nvidia_uvm %s, nvidia_peermem %s, nvidia_drm %s, nouveau %s",
	            fbool(&h->mod_nvidia, "yes", "no"), fbool(&h->mod_nvidia_uvm, "yes", "no"),
	            fbool(&h->mod_nvidia_peermem, "yes", "no"),
	            fbool(&h->mod_nvidia_drm, "yes", "no"), fbool(&h->mod_nouveau, "yes", "no"));
	ROW("modules");
	add_fint(&v, &h->dev_nvidia_count, " /dev/nvidiaN nodes");
	ROW("devices");
	gm_buf_addf(&v,
	            "docker %s (nvidia runtime %s), containerd %s (nvidia runtime %s), "
	            "nvidia-container-toolkit %s",
	            fbool(&h->docker, "yes", "no"), fbool(&h->docker_nvidia, "yes", "no"),
	            fbool(&h->containerd, "yes", "no"), fbool(&h->containerd_nvidia, "yes", "no"),
	            fbool(&h->nvidia_ctk, "yes", "no"));
	ROW("runtime");
	gm_buf_addf(&v, "kubelet %s, nvidia device plugin %s", fbool(&h->kubelet, "yes", "no"),
	            fbool(&h->device_plugin, "yes", "no"));
	ROW("kubernetes");
#undef ROW
	gm_buf_release(&v);
}

static void render_driver(const struct gm_nvidia *nv, const struct gm_host *h, struct gm_table *t)
{
	struct gm_buf v = GM_BUF_INIT;
	gm_table_add_row(t);
	gm_table_set(t, 0, "driver", GM_COLOR_BOLD);
	if (gm_fact_ok(&nv->nvml)) {
		gm_buf_addf(&v, "%s, NVML %s, CUDA ", fstr(&nv->driver_version),
		            fstr(&nv->nvml_version));
		if (gm_fact_ok(&nv->cuda_driver_version.f))
			gm_buf_addf(&v, "%" PRId64 ".%" PRId64, nv->cuda_driver_version.v / 1000,
			            nv->cuda_driver_version.v % 1000 / 10);
		else
			add_fint(&v, &nv->cuda_driver_version, "");
		gm_table_set(t, 1, gm_buf_cstr(&v), GM_COLOR_NONE);
	} else {
		gm_buf_addf(&v, "none: %s", nv->nvml.why ? nv->nvml.why : "not collected");
		if (h->n_pci)
			gm_buf_addf(&v, " (%zu NVIDIA PCI device%s on the bus)", h->n_pci,
			            h->n_pci == 1 ? "" : "s");
		gm_table_set(t, 1, gm_buf_cstr(&v), GM_COLOR_YELLOW);
	}
	gm_buf_release(&v);
}

static const char *health(const struct gm_gpu *g, enum gm_color *color)
{
	*color = GM_COLOR_RED;
	if (gm_fact_ok(&g->remapped_rows_failed.f) && g->remapped_rows_failed.v)
		return "row remap failed";
	if (gm_fact_ok(&g->remapped_rows_pending.f) && g->remapped_rows_pending.v)
		return "row remap pending";
	if (gm_fact_ok(&g->retired_pages_pending.f) && g->retired_pages_pending.v)
		return "page retirement pending";
	if (gm_fact_ok(&g->ecc_uncorrected_volatile.f) && g->ecc_uncorrected_volatile.v > 0)
		return "uncorrected ECC errors";
	if (gm_fact_ok(&g->pcie_width_current.f) && gm_fact_ok(&g->pcie_width_max.f) &&
	    g->pcie_width_current.v < g->pcie_width_max.v) {
		*color = GM_COLOR_YELLOW;
		return "PCIe link degraded";
	}
	*color = GM_COLOR_GREEN;
	return "ok";
}

static void render_gpus(const struct gm_nvidia *nv, struct gm_buf *out, bool color)
{
	static const char *const headers[] = {"GPU", "NAME", "BDF",    "MEMORY",
	                                      "CC",  "PCIE", "NUMA",   "PERSIST",
	                                      "ECC", "MIG",  "NVLINK", "HEALTH"};
	struct gm_table t;
	struct gm_buf v = GM_BUF_INIT;
	gm_table_init(&t, sizeof(headers) / sizeof(headers[0]), headers);
	gm_table_align_right(&t, 0);
	gm_table_align_right(&t, 3);
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		enum gm_color hc;
		gm_table_add_row(&t);
		gm_table_setf(&t, 0, GM_COLOR_NONE, "%u", g->index);
		gm_table_set(&t, 1, fstr(&g->name), GM_COLOR_NONE);
		gm_table_set(&t, 2, fstr(&g->bdf), GM_COLOR_NONE);
		add_bytes(&v, &g->memory_total_bytes);
		gm_table_set(&t, 3, gm_buf_cstr(&v), GM_COLOR_NONE);
		gm_buf_reset(&v);
		gm_table_set(&t, 4, fstr(&g->compute_capability), GM_COLOR_NONE);
		gm_buf_adds(&v, "gen");
		add_fint(&v, &g->pcie_gen_current, "/");
		add_fint(&v, &g->pcie_gen_max, " x");
		add_fint(&v, &g->pcie_width_current, "/");
		add_fint(&v, &g->pcie_width_max, "");
		gm_table_set(&t, 5, gm_buf_cstr(&v), GM_COLOR_NONE);
		gm_buf_reset(&v);
		add_fint(&v, &g->numa_node, "");
		gm_table_set(&t, 6, gm_buf_cstr(&v), GM_COLOR_NONE);
		gm_buf_reset(&v);
		gm_table_set(&t, 7, fbool(&g->persistence_mode, "on", "off"), GM_COLOR_NONE);
		gm_table_set(&t, 8, fbool(&g->ecc_enabled, "on", "off"), GM_COLOR_NONE);
		gm_table_set(&t, 9, fbool(&g->mig_enabled, "on", "off"), GM_COLOR_NONE);
		if (gm_fact_ok(&g->nvlink))
			gm_table_setf(&t, 10, GM_COLOR_NONE, "%zu", g->n_nvlinks);
		else
			gm_table_set(&t, 10, g->nvlink.state == GM_FACT_UNSUPPORTED ? "n/a" : "?",
			             GM_COLOR_NONE);
		const char *hs = health(g, &hc);
		gm_table_set(&t, 11, hs, hc);
	}
	gm_buf_addch(out, '\n');
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	gm_buf_release(&v);
}

static void render_nics(const struct gm_host *h, struct gm_buf *out, bool color)
{
	static const char *const headers[] = {"NIC",  "DRIVER", "SPEED", "STATE",
	                                      "NUMA", "RDMA",   "BDF"};
	struct gm_table t;
	struct gm_buf v = GM_BUF_INIT;
	gm_table_init(&t, sizeof(headers) / sizeof(headers[0]), headers);
	gm_table_align_right(&t, 2);
	for (size_t i = 0; i < h->n_nics; i++) {
		const struct gm_nic *n = &h->nics[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, n->name, GM_COLOR_NONE);
		gm_table_set(&t, 1, fstr(&n->driver), GM_COLOR_NONE);
		if (gm_fact_ok(&n->speed_mbps.f) && n->speed_mbps.v >= 1000)
			gm_buf_addf(&v, "%" PRId64 " Gb/s", n->speed_mbps.v / 1000);
		else
			add_fint(&v, &n->speed_mbps, " Mb/s");
		gm_table_set(&t, 2, gm_buf_cstr(&v), GM_COLOR_NONE);
		gm_buf_reset(&v);
		gm_table_set(&t, 3, fstr(&n->operstate), GM_COLOR_NONE);
		add_fint(&v, &n->numa_node, "");
		gm_table_set(&t, 4, gm_buf_cstr(&v), GM_COLOR_NONE);
		gm_buf_reset(&v);
		gm_table_set(&t, 5, gm_fact_ok(&n->rdma_device.f) ? fstr(&n->rdma_device) : "-",
		             GM_COLOR_NONE);
		gm_table_set(&t, 6, fstr(&n->bdf), GM_COLOR_NONE);
	}
	gm_buf_addch(out, '\n');
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	gm_buf_release(&v);
}

static void render(const struct gm_inventory *inv, bool color, struct gm_buf *out)
{
	static const char *const headers[] = {"", ""};
	struct gm_table t;
	gm_table_init(&t, 2, headers);
	render_host(&inv->host, &t);
	render_driver(&inv->nvidia, &inv->host, &t);
	struct gm_buf body = GM_BUF_INIT;
	gm_table_render(&t, color, &body);
	/* drop the empty header line */
	const char *s = gm_buf_cstr(&body);
	const char *nl = strchr(s, '\n');
	gm_buf_adds(out, nl ? nl + 1 : s);
	gm_buf_release(&body);
	gm_table_release(&t);
	if (inv->nvidia.n_gpus)
		render_gpus(&inv->nvidia, out, color);
	if (inv->host.n_nics)
		render_nics(&inv->host, out, color);
}

int gm_cmd_inventory(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_inventory_opts opts = {{NULL}, NULL, false};
	const char *output = NULL;
	bool yaml = false;
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_OUTPUT: output = cli->optarg; break;
		case OPT_YAML: yaml = true; break;
		case OPT_SYSROOT: opts.root.dir = cli->optarg; break;
		case OPT_NO_NVML: opts.skip_nvml = true; break;
		case OPT_NVML_LIBRARY: opts.nvml_library = cli->optarg; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc > 0)
		return gm_cli_usage_error(cli, "inventory takes no operands (got '%s')", args[0]);
	if (opts.root.dir && !gm_root_exists(NULL, opts.root.dir))
		return gm_cli_usage_error(cli, "sysroot '%s' does not exist", opts.root.dir);

	struct gm_inventory inv;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf json = GM_BUF_INIT, out = GM_BUF_INIT;
	gm_inventory_init(&inv);
	if (gm_inventory_collect(&inv, &opts, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	gm_inventory_to_json(&inv, &json, true);
	if (output && gm_fs_write_atomic(output, json.data, json.len, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (output)
		gm_info("wrote the inventory to '%s'", output);
	if (!gm_fact_ok(&inv.nvidia.nvml))
		gm_info("no GPU data: %s", inv.nvidia.nvml.why ? inv.nvidia.nvml.why : "");

	if (cli->json) {
		code = gm_cli_emit(&json);
	} else if (yaml) {
		if (gm_doc_to_yaml(json.data, json.len, &out, &err) != GM_OK)
			code = gm_cli_fail(cli, &err);
		else
			code = gm_cli_emit(&out);
	} else {
		render(&inv, cli->color_stdout, &out);
		code = gm_cli_emit(&out);
	}
out:
	gm_buf_release(&json);
	gm_buf_release(&out);
	gm_err_release(&err);
	gm_inventory_release(&inv);
	return code;
}

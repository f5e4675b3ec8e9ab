/* `gpumigrate plan`: `plan init` writes a commented plan template (optionally pre-filled with
 * the target server from an inventory file); `plan check` reads a plan, checks it against the
 * catalog and says what is in it and whether tco/assess have what they need. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assess/catalog.h"
#include "assess/plan.h"
#include "assess/tco.h"
#include "cli/commands.h"
#include "hw/inventory.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/banned.h"

enum { OPT_OUTPUT = 1, OPT_FROM_INVENTORY, OPT_FORCE, OPT_PLAN, OPT_CATALOG };

const struct gm_opt gm_cmd_plan_opts[] = {
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "init: write the template to FILE (default plan.yaml; - for standard output)", "file"},
        {OPT_FROM_INVENTORY, "from-inventory", 0, GM_ARG_REQUIRED, "FILE",
         "init: pre-fill the target server from an inventory file", "file"},
        {OPT_FORCE, "force", 'f', GM_ARG_NONE, NULL, "init: overwrite an existing file", NULL},
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE", "check: the plan to check", "file"},
        {OPT_CATALOG, "catalog", 0, GM_ARG_REQUIRED, "DIR",
         "check: catalog files in DIR replace the built-in ones", "dir"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

/* The target part of the template: from an inventory, or l40s placeholders. */
static enum gm_rc target_from_inventory(const char *path, struct gm_buf *out, struct gm_err *err)
{
	struct gm_inventory inv;
	struct gm_catalog cat;
	char *abs = NULL;
	gm_inventory_init(&inv);
	gm_catalog_init(&cat);
	enum gm_rc rc = gm_inventory_load(&inv, path, err);
	if (rc == GM_OK)
		rc = gm_catalog_load(&cat, NULL, err);
	if (rc != GM_OK)
		goto out;
	if (inv.nvidia.n_gpus == 0 || !gm_fact_ok(&inv.nvidia.gpus[0].name.f)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "inventory '%s' has no GPU data: collect it on the target server "
		                "with the NVIDIA driver loaded",
		                path);
		goto out;
	}
	const char *name = inv.nvidia.gpus[0].name.v;
	const struct gm_gpu_spec *spec = gm_catalog_find_gpu(&cat, name);
	abs = realpath(path, NULL);
	gm_buf_addf(out, "    # from %s", path);
	if (gm_fact_ok(&inv.host.hostname.f))
		gm_buf_addf(out, " (host %s)", inv.host.hostname.v);
	gm_buf_addch(out, '\n');
	if (spec)
		gm_buf_addf(out, "    - gpu: %s                 # %s\n", spec->id, name);
	else
		gm_buf_addf(out,
		            "    - gpu: CHANGE-ME   # '%s' is not in the catalog: "
		            "gpumigrate catalog list\n",
		            name);
	gm_buf_addf(out, "      gpus_per_server: %zu\n", inv.nvidia.n_gpus);
	gm_buf_adds(out, "      count: 1                   # servers like this one\n");
	gm_buf_adds(out, "      capex_usd: null            # REQUIRED for tco: price of one "
	                 "server (your quote)\n");
	gm_buf_addf(out, "      inventories: [%s]\n", abs ? abs : path);
out:
	free(abs);
	gm_catalog_release(&cat);
	gm_inventory_release(&inv);
	return rc;
}

static void template_text(const char *target, struct gm_buf *out)
{
	gm_buf_adds(out,
	            "# gpumigrate migration plan (gpumigrate.plan/v1, see doc/formats.md).\n"
	            "# Check it with:   gpumigrate plan check -p THIS-FILE\n"
	            "# Costs with:      gpumigrate tco -p THIS-FILE\n"
	            "# Anything left out comes from the catalog (gpumigrate catalog list); every\n"
	            "# report says where each number came from.\n"
	            "schema: gpumigrate.plan/v1\n"
	            "name: my-migration\n"
	            "horizon_years: 3                 # 1 to 5\n"
	            "\n"
	            "# What runs in the cloud today.\n"
	            "source:\n"
	            "  instances:\n"
	            "    - type: gcp:a2-highgpu-8g      # catalog instance id\n"
	            "      count: 2\n"
	            "      region: us-central1          # default: the catalog's first region\n"
	            "      commitment: on-demand        # on-demand, 1y or 3y\n"
	            "  # inventories: [cloud-vm.json]   # gpumigrate inventory -o, from the VMs\n"
	            "\n"
	            "# The on-prem servers.\n"
	            "target:\n"
	            "  servers:\n");
	gm_buf_adds(out, target);
	gm_buf_adds(
	        out,
	        "  # Overrides of the catalog's on-prem cost defaults (uncomment to set).\n"
	        "  costs:\n"
	        "    # electricity_usd_per_kwh: 0.12\n"
	        "    # pue: 1.4\n"
	        "    # server_power_factor: 1.8     # server wall power / sum of GPU TDP\n"
	        "    # idle_power_fraction: 0.3     # server power at idle / maximum\n"
	        "    # colocation_usd_per_kw_month: 184.06  # 0 for your own data centre\n"
	        "    # support_pct_per_year: 0.2    # of server + network capex\n"
	        "    # depreciation_years: 5\n"
	        "    network_capex_pct: null        # fraction of server capex (no default)\n"
	        "    install_capex_usd_per_server: null  # one-off (no default)\n"
	        "    staff_fte_per_servers: null    # FTE per server (no default)\n"
	        "    # fte_cost_usd_year: 90520\n"
	        "  check:\n"
	        "    profile: k8s                   # k8s, anthos-baremetal, docker, "
	        "vm-passthrough\n"
	        "    # require_cuda: \"12.2\"\n"
	        "    local: false                   # true: check this host too\n"
	        "\n"
	        "# Data to move.\n"
	        "datasets:\n"
	        "  - name: training-data\n"
	        "    source: gs://my-bucket/data    # gs://, s3://, /path or host:/path\n"
	        "    size: 2TiB                     # B, kB, MB, GB, TB, KiB … PiB\n"
	        "\n"
	        "# What runs on the GPUs.\n"
	        "workloads:\n"
	        "  - name: my-model\n"
	        "    kind: inference                # training or inference (capacity profile)\n"
	        "    manifests: []                  # Kubernetes manifests to rewrite\n"
	        "    model_size: 7B                 # parameters: K, M, B, T\n"
	        "    precision: bf16                # fp32, tf32, fp16, bf16, fp8, int8\n"
	        "    # require_cuda: \"12.2\"\n"
	        "\n"
	        "# The link between the cloud and the new site.\n"
	        "network:\n"
	        "  bandwidth: 10Gbps\n"
	        "  latency: 20ms\n"
	        "\n"
	        "thresholds:\n"
	        "  max_breakeven_months: 24\n"
	        "  min_capacity_ratio: 1.0         # on-prem capacity / cloud capacity\n"
	        "  utilisation: 0.7                # fraction of hours the GPUs are busy\n");
}

static int plan_init(struct gm_cli *cli, const char *output, const char *inventory, bool force)
{
	struct gm_buf target = GM_BUF_INIT, text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	int code = GM_EXIT_OK;
	if (!output)
		output = "plan.yaml";
	bool to_stdout = strcmp(output, "-") == 0;
	if (!to_stdout && !force && access(output, F_OK) == 0) {
		code = gm_cli_usage_error(cli, "'%s' exists: pass --force to overwrite it", output);
		goto out;
	}
	if (inventory) {
		if (target_from_inventory(inventory, &target, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
	} else {
		gm_buf_adds(&target,
		            "    - gpu: l40s                  # catalog GPU id or alias\n"
		            "      gpus_per_server: 4\n"
		            "      count: 4\n"
		            "      capex_usd: null            # REQUIRED for tco: price of "
		            "one server (your quote)\n"
		            "      # inventories: [gpu-01.json]  # gpumigrate inventory "
		            "-o, one per server\n");
	}
	template_text(gm_buf_cstr(&target), &text);
	if (to_stdout) {
		code = gm_cli_emit(&text);
	} else if (gm_fs_write_atomic(output, text.data, text.len, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
	} else {
		gm_info("wrote a plan template to '%s'; edit it, then run 'gpumigrate plan check "
		        "-p "
		        "%s'",
		        output, output);
	}
out:
	gm_buf_release(&target);
	gm_buf_release(&text);
	gm_err_release(&err);
	return code;
}

static void add_bytes(struct gm_buf *b, double v)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	int u = 0;
	while (v >= 1024 && u < 6)
		v /= 1024, u++;
	gm_buf_addf(b, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void add_rate(struct gm_buf *b, double bps)
{
	if (bps >= 1e9)
		gm_buf_addf(b, "%g Gb/s", bps / 1e9);
	else if (bps >= 1e6)
		gm_buf_addf(b, "%g Mb/s", bps / 1e6);
	else
		gm_buf_addf(b, "%g kb/s", bps / 1e3);
}

static int plan_check(struct gm_cli *cli, const char *path, const char *catalog_dir)
{
	struct gm_plan plan;
	struct gm_catalog cat;
	struct gm_tco_inputs in;
	struct gm_tco_result *r = calloc(1, sizeof(*r));
	struct gm_err err = GM_ERR_INIT, tco_err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT, v = GM_BUF_INIT;
	int code = GM_EXIT_OK;
	gm_plan_init(&plan);
	gm_catalog_init(&cat);
	gm_tco_inputs_init(&in);
	if (!r) {
		gm_error("out of memory");
		code = GM_EXIT_ERROR;
		goto out;
	}
	if (!path) {
		code = gm_cli_usage_error(cli, "plan check needs the plan: -p FILE");
		goto out;
	}
	if (gm_plan_load(&plan, path, &err) != GM_OK ||
	    gm_catalog_load(&cat, catalog_dir, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	bool tco_ok = gm_plan_tco_inputs(&plan, &cat, &in, &tco_err) == GM_OK &&
	              gm_tco_compute(&in, r, &tco_err) == GM_OK;
	double data_bytes = 0;
	size_t n_sized = 0;
	for (size_t i = 0; i < plan.n_datasets; i++)
		if (plan.datasets[i].size_bytes.set)
			data_bytes += plan.datasets[i].size_bytes.v, n_sized++;
	size_t n_missing = 0;
	for (int k = 0; k < GM_TCO_N_INPUTS; k++)
		n_missing += in.in[k].missing;

	if (cli->json) {
		struct gm_json j;
		gm_json_init(&j, &out, true);
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "plan", path);
		gm_json_str(&j, "schema", GM_PLAN_SCHEMA);
		gm_json_str(&j, "name", plan.name.v);
		gm_json_int(&j, "instances", (int64_t)plan.n_instances);
		gm_json_int(&j, "server_groups", (int64_t)plan.n_servers);
		gm_json_int(&j, "datasets", (int64_t)plan.n_datasets);
		gm_json_uint(&j, "dataset_bytes", (uint64_t)data_bytes);
		gm_json_int(&j, "workloads", (int64_t)plan.n_workloads);
		gm_json_bool(&j, "tco_ready", tco_ok);
		gm_json_str(&j, "tco_problem", tco_ok ? NULL : gm_err_msg(&tco_err));
		gm_json_int(&j, "tco_missing_inputs", (int64_t)n_missing);
		gm_json_end_object(&j);
		gm_buf_addch(&out, '\n');
	} else {
		gm_buf_addf(&out, "plan %s: valid %s\n", path, GM_PLAN_SCHEMA);
		gm_buf_addf(&out, "  name        %s\n", plan.name.v ? plan.name.v : "-");
		gm_buf_adds(&out, "  source      ");
		for (size_t i = 0; i < plan.n_instances; i++) {
			const struct gm_plan_instance *x = &plan.instances[i];
			gm_buf_addf(&out, "%s%g x %s%s%s%s, %s", i ? "; " : "",
			            x->count.set ? x->count.v : 1, x->type.v,
			            x->region.v ? " (" : "", x->region.v ? x->region.v : "",
			            x->region.v ? ")" : "", gm_tco_commitment_name(x->commit));
		}
		if (plan.source_inventories.n)
			gm_buf_addf(&out, "%s%zu inventor%s", plan.n_instances ? "; " : "",
			            plan.source_inventories.n,
			            plan.source_inventories.n == 1 ? "y" : "ies");
		if (!plan.n_instances && !plan.source_inventories.n)
			gm_buf_adds(&out, "-");
		gm_buf_adds(&out, "\n  target      ");
		gm_buf_adds(&out, in.onprem_label ? in.onprem_label : plan.n_servers ? "?" : "-");
		gm_buf_addf(&out, "\n  datasets    %zu", plan.n_datasets);
		if (n_sized) {
			gm_buf_adds(&out, ", ");
			add_bytes(&out, data_bytes);
			gm_buf_adds(&out, n_sized < plan.n_datasets ? " known" : " in total");
		}
		gm_buf_addf(&out, "\n  workloads   %zu", plan.n_workloads);
		for (size_t i = 0; i < plan.n_workloads; i++)
			gm_buf_addf(&out, "%s%s", i ? ", " : ": ", plan.workloads[i].name.v);
		gm_buf_adds(&out, "\n  network     ");
		if (plan.bandwidth_bps.set)
			add_rate(&out, plan.bandwidth_bps.v);
		else
			gm_buf_adds(&out, "bandwidth not set");
		if (plan.latency_ms.set)
			gm_buf_addf(&out, ", %g ms", plan.latency_ms.v);
		if (plan.bandwidth_bps.set && n_sized)
			gm_buf_addf(&out, " (%.1f hours for the datasets at full rate)",
			            data_bytes * 8 / plan.bandwidth_bps.v / 3600);
		gm_buf_addf(&out, "\n  horizon     %g years\n",
		            plan.horizon_years.set ? plan.horizon_years.v
		                                   : (double)GM_TCO_DEFAULT_HORIZON_YEARS);
		if (tco_ok) {
			gm_buf_addf(&out, "  tco         ready: break-even vs cloud %s ",
			            gm_tco_commitment_name(r->reference));
			if (r->breakeven_month[r->reference] < 0)
				gm_buf_addf(&out, "not within %d months", r->months);
			else
				gm_buf_addf(&out, "in month %d", r->breakeven_month[r->reference]);
			if (n_missing)
				gm_buf_addf(&out, " (%zu input%s missing, counted as 0)", n_missing,
				            n_missing == 1 ? "" : "s");
			gm_buf_addch(&out, '\n');
		} else {
			gm_buf_addf(&out, "  tco         not ready: %s\n", gm_err_msg(&tco_err));
		}
	}
	code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK && !tco_ok)
		code = GM_EXIT_FINDINGS;
out:
	gm_buf_release(&out);
	gm_buf_release(&v);
	gm_err_release(&err);
	gm_err_release(&tco_err);
	gm_tco_inputs_release(&in);
	gm_catalog_release(&cat);
	gm_plan_release(&plan);
	free(r);
	return code;
}

int gm_cmd_plan(struct gm_cli *cli, int argc, char **argv)
{
	const char *output = NULL, *inventory = NULL, *plan = NULL, *catalog = NULL;
	const char *sub = NULL;
	bool force = false;
	int id, code = GM_EXIT_OK;
	(void)argv;
	/* Options may come before and after the subcommand: parse, take the subcommand, parse
	 * the rest again (options stop at the first operand). */
	for (int pass = 0; pass < 2; pass++) {
		while ((id = gm_cli_next(cli, &code)) != -1) {
			switch (id) {
			case -2: return code;
			case OPT_OUTPUT: output = cli->optarg; break;
			case OPT_FROM_INVENTORY: inventory = cli->optarg; break;
			case OPT_FORCE: force = true; break;
			case OPT_PLAN: plan = cli->optarg; break;
			case OPT_CATALOG: catalog = cli->optarg; break;
			}
		}
		char **args = gm_cli_args(cli, &argc);
		if (pass == 0) {
			if (argc < 1)
				return gm_cli_usage_error(cli,
				                          "plan needs a subcommand: init or check");
			sub = args[0];
			gm_cli_begin(cli, cli->cmd, argc, args);
		} else if (argc > 0) {
			return gm_cli_usage_error(cli, "plan %s takes no operands (got '%s')", sub,
			                          args[0]);
		}
	}
	if (strcmp(sub, "init") == 0) {
		if (plan || catalog)
			return gm_cli_usage_error(cli, "-p and --catalog belong to 'plan check'");
		return plan_init(cli, output, inventory, force);
	}
	if (strcmp(sub, "check") == 0) {
		if (output || inventory || force)
			return gm_cli_usage_error(cli, "-o, --from-inventory and --force belong to "
			                               "'plan init'");
		return plan_check(cli, plan, catalog);
	}
	return gm_cli_usage_error(cli, "unknown plan subcommand '%s' (init or check)", sub);
}

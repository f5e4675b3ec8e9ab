/* `gpumigrate check`: is this GPU host (or each saved inventory of a fleet) ready for the
 * workloads that move to it? Runs the readiness rules of assess/check.h and shows PASS /
 * WARN / FAIL / SKIP with the evidence and the fix, as a table, JSON or JUnit XML. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assess/catalog.h"
#include "assess/check.h"
#include "assess/plan.h"
#include "cli/commands.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum {
	OPT_PROFILE = 1,
	OPT_INVENTORY,
	OPT_REQ_CUDA,
	OPT_REQ_GPUS,
	OPT_REQ_MODEL,
	OPT_REQ_MEMORY,
	OPT_SYSROOT,
	OPT_NVML_LIBRARY,
	OPT_JUNIT,
	OPT_ONLY,
	OPT_SKIP,
	OPT_LIST,
	OPT_PLAN,
};

const struct gm_opt gm_cmd_check_opts[] = {
        {OPT_PROFILE, "profile", 'P', GM_ARG_REQUIRED, "PROFILE",
         "what the host is for: k8s (default), anthos-baremetal, docker, vm-passthrough",
         "k8s anthos-baremetal docker vm-passthrough"},
        {OPT_INVENTORY, "inventory", 'i', GM_ARG_REQUIRED, "FILE",
         "check a saved inventory instead of this host (repeat, or list more files after it, "
         "for a fleet)",
         "file"},
        {OPT_REQ_CUDA, "require-cuda", 0, GM_ARG_REQUIRED, "X.Y",
         "the workload's CUDA version: the driver must run it", NULL},
        {OPT_REQ_GPUS, "require-gpus", 0, GM_ARG_REQUIRED, "N", "at least N GPUs", NULL},
        {OPT_REQ_MODEL, "require-gpu-model", 0, GM_ARG_REQUIRED, "NAME",
         "every GPU's name contains NAME (case-insensitive, e.g. A100)", NULL},
        {OPT_REQ_MEMORY, "require-gpu-memory", 0, GM_ARG_REQUIRED, "GIB",
         "at least GIB GiB of memory per GPU", NULL},
        {OPT_SYSROOT, "sysroot", 0, GM_ARG_REQUIRED, "DIR",
         "read /sys, /proc, /etc, /dev and /var/log below DIR instead of /", "dir"},
        {OPT_NVML_LIBRARY, "nvml-library", 0, GM_ARG_REQUIRED, "FILE",
         "NVML library to load (default $GPUMIGRATE_NVML_LIBRARY or libnvidia-ml.so.1)", "file"},
        {OPT_JUNIT, "junit", 0, GM_ARG_REQUIRED, "FILE",
         "also write the results as JUnit XML to FILE (atomically)", "file"},
        {OPT_ONLY, "only", 0, GM_ARG_REQUIRED, "GLOB",
         "run only checks whose id matches GLOB (repeatable; e.g. 'driver.*')", NULL},
        {OPT_SKIP, "skip", 0, GM_ARG_REQUIRED, "GLOB",
         "leave out checks whose id matches GLOB (repeatable)", NULL},
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE",
         "take the profile and requirements from the plan's target (flags win)", "file"},
        {OPT_LIST, "list", 0, GM_ARG_NONE, NULL, "list the check ids and exit", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static enum gm_color status_color(enum gm_check_status s)
{
	switch (s) {
	case GM_CHECK_PASS: return GM_COLOR_GREEN;
	case GM_CHECK_WARN: return GM_COLOR_YELLOW;
	case GM_CHECK_FAIL: return GM_COLOR_RED;
	default: return GM_COLOR_DIM;
	}
}

static void render(const struct gm_check_report *reps, size_t n, bool color, struct gm_buf *out)
{
	static const char *const headers[] = {"ID", "STATUS", "EVIDENCE"};
	for (size_t h = 0; h < n; h++) {
		const struct gm_check_report *rep = &reps[h];
		struct gm_table t;
		if (h)
			gm_buf_addch(out, '\n');
		gm_buf_addf(out, "host %s, profile %s (%s)\n", rep->host,
		            gm_check_profile_name(rep->profile), rep->source);
		gm_table_init(&t, 3, headers);
		for (size_t i = 0; i < rep->n; i++) {
			const struct gm_check_result *r = &rep->results[i];
			gm_table_add_row(&t);
			gm_table_set(&t, 0, r->id, GM_COLOR_NONE);
			gm_table_set(&t, 1, gm_check_status_name(r->status),
			             status_color(r->status));
			if (r->status == GM_CHECK_SKIP)
				gm_table_setf(&t, 2, GM_COLOR_DIM, "%s",
				              gm_buf_cstr(&r->skip_reason));
			else
				gm_table_set(&t, 2, gm_buf_cstr(&r->evidence), GM_COLOR_NONE);
			if (r->hint.len && r->status != GM_CHECK_SKIP) {
				gm_table_add_row(&t);
				if (r->status == GM_CHECK_PASS)
					gm_table_setf(&t, 2, GM_COLOR_DIM, "run: %s",
					              gm_buf_cstr(&r->hint));
				else
					gm_table_setf(&t, 2, GM_COLOR_BOLD, "fix: %s",
					              gm_buf_cstr(&r->hint));
			}
		}
		gm_table_render(&t, color, out);
		gm_table_release(&t);
		gm_buf_addf(out, "%zu passed, %zu warning%s, %zu failed, %zu skipped\n",
		            rep->count[GM_CHECK_PASS], rep->count[GM_CHECK_WARN],
		            rep->count[GM_CHECK_WARN] == 1 ? "" : "s", rep->count[GM_CHECK_FAIL],
		            rep->count[GM_CHECK_SKIP]);
	}
}

static void list_rules(struct gm_buf *out)
{
	static const char *const headers[] = {"ID", "PROFILES", "CHECKS"};
	struct gm_table t;
	struct gm_buf p = GM_BUF_INIT;
	gm_table_init(&t, 3, headers);
	for (const struct gm_check_rule *r = gm_check_rule_next(NULL); r;
	     r = gm_check_rule_next(r)) {
		gm_buf_reset(&p);
		for (int i = 0; i < GM_PROFILE_N; i++)
			if (r->profiles & GM_P(i))
				gm_buf_addf(&p, "%s%s", p.len ? "," : "",
				            gm_check_profile_name((enum gm_check_profile)i));
		gm_table_add_row(&t);
		gm_table_set(&t, 0, r->id, GM_COLOR_NONE);
		gm_table_set(&t, 1, gm_buf_cstr(&p), GM_COLOR_NONE);
		gm_table_set(&t, 2, r->title, GM_COLOR_NONE);
	}
	gm_table_render(&t, false, out);
	gm_table_release(&t);
	gm_buf_release(&p);
}

/* A growing NULL-terminated list of borrowed strings. */
static void push(const char ***list, size_t *n, const char *s)
{
	*list = gm_xreallocarray(*list, *n + 2, sizeof(**list));
	(*list)[(*n)++] = s;
	(*list)[*n] = NULL;
}

/* Fills what the command line left open from the plan: target.check.profile and
 * require_cuda, and the first target server's GPU model and count. */
static enum gm_rc apply_plan(struct gm_check_ctx *ctx, bool profile_set, const struct gm_plan *plan,
                             const struct gm_catalog *cat, struct gm_err *err)
{
	if (!profile_set && plan->check_profile.v &&
	    !gm_check_profile_parse(plan->check_profile.v, &ctx->profile))
		return gm_err_set(err, GM_ERR_USAGE, "%s: unknown profile '%s'",
		                  plan->check_profile.src, plan->check_profile.v);
	if (!ctx->req.cuda)
		ctx->req.cuda = plan->check_require_cuda.v;
	if (plan->n_servers == 0)
		return GM_OK;
	const struct gm_plan_server *s = &plan->servers[0];
	if (!ctx->req.gpus && s->gpus_per_server.set)
		ctx->req.gpus = (int64_t)s->gpus_per_server.v;
	if (!ctx->req.gpu_model && s->gpu.v) {
		const struct gm_gpu_spec *spec = gm_catalog_find_gpu(cat, s->gpu.v);
		ctx->req.gpu_model = spec ? gm_catalog_nvml_name(spec) : s->gpu.v;
	}
	return GM_OK;
}

int gm_cmd_check(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_check_ctx ctx;
	struct gm_inventory_opts iopts = {{NULL}, NULL, false};
	const char **inventories = NULL, **only = NULL, **skip = NULL;
	size_t n_inv = 0, n_only = 0, n_skip = 0;
	const char *junit = NULL, *plan_path = NULL;
	bool list = false, profile_set = false;
	struct gm_plan plan;
	struct gm_catalog cat;
	gm_plan_init(&plan);
	gm_catalog_init(&cat);
	int id, code = GM_EXIT_OK;
	struct gm_cuda_table cuda;
	struct gm_xid_catalog xid;
	struct gm_err err = GM_ERR_INIT;
	struct gm_check_report *reps = NULL;
	size_t n_reps = 0;
	struct gm_buf out = GM_BUF_INIT, xml = GM_BUF_INIT;
	memset(&ctx, 0, sizeof(ctx));
	memset(&cuda, 0, sizeof(cuda));
	memset(&xid, 0, sizeof(xid));
	(void)argv;

	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		int64_t v = 0;
		double gib = 0;
		char *end = NULL;
		switch (id) {
		case -2: goto out;
		case OPT_PROFILE:
			if (!gm_check_profile_parse(a, &ctx.profile)) {
				code = gm_cli_usage_error(
				        cli,
				        "unknown profile '%s' (use k8s, anthos-baremetal, "
				        "docker or vm-passthrough)",
				        a);
				goto out;
			}
			profile_set = true;
			break;
		case OPT_PLAN: plan_path = a; break;
		case OPT_INVENTORY: push(&inventories, &n_inv, a); break;
		case OPT_REQ_CUDA: ctx.req.cuda = a; break;
		case OPT_REQ_GPUS:
			if (gm_parse_i64(a, 10, &v) != GM_OK || v < 1 || v > 4096) {
				code = gm_cli_usage_error(cli,
				                          "--require-gpus needs a count from 1 to "
				                          "4096, not '%s'",
				                          a);
				goto out;
			}
			ctx.req.gpus = v;
			break;
		case OPT_REQ_MODEL:
			if (!*a) {
				code = gm_cli_usage_error(cli, "--require-gpu-model needs a name");
				goto out;
			}
			ctx.req.gpu_model = a;
			break;
		case OPT_REQ_MEMORY:
			gib = strtod(a, &end);
			if (end == a || *end || !isfinite(gib) || gib <= 0 || gib > 1e6) {
				code = gm_cli_usage_error(
				        cli,
				        "--require-gpu-memory needs GiB (e.g. 40), "
				        "not '%s'",
				        a);
				goto out;
			}
			ctx.req.gpu_memory_bytes = (int64_t)(gib * 1024.0 * 1024.0 * 1024.0);
			break;
		case OPT_SYSROOT: iopts.root.dir = a; break;
		case OPT_NVML_LIBRARY: iopts.nvml_library = a; break;
		case OPT_JUNIT: junit = a; break;
		case OPT_ONLY: push(&only, &n_only, a); break;
		case OPT_SKIP: push(&skip, &n_skip, a); break;
		case OPT_LIST: list = true; break;
		}
	}
	int n_args = 0;
	char **args = gm_cli_args(cli, &n_args);
	if (n_args > 0 && !n_inv) {
		code = gm_cli_usage_error(cli,
		                          "check takes no operands (got '%s'); saved inventories "
		                          "go after --inventory",
		                          args[0]);
		goto out;
	}
	for (int i = 0; i < n_args; i++)
		push(&inventories, &n_inv, args[i]);
	if (list) {
		list_rules(&out);
		code = gm_cli_emit(&out);
		goto out;
	}
	for (size_t i = 0; i < n_only + n_skip; i++) {
		const char *g = i < n_only ? only[i] : skip[i - n_only];
		if (!gm_check_glob_matches_any(g)) {
			code = gm_cli_usage_error(cli,
			                          "'%s' matches no check id (see gpumigrate check "
			                          "--list)",
			                          g);
			goto out;
		}
	}
	if (n_inv && iopts.root.dir) {
		code = gm_cli_usage_error(cli, "--sysroot and --inventory exclude each other");
		goto out;
	}
	if (iopts.root.dir && !gm_root_exists(NULL, iopts.root.dir)) {
		code = gm_cli_usage_error(cli, "sysroot '%s' does not exist", iopts.root.dir);
		goto out;
	}
	if (plan_path && (gm_plan_load(&plan, plan_path, &err) != GM_OK ||
	                  gm_catalog_load(&cat, NULL, &err) != GM_OK ||
	                  apply_plan(&ctx, profile_set, &plan, &cat, &err) != GM_OK)) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (gm_cuda_table_load_embedded(&cuda, &err) != GM_OK ||
	    gm_xid_catalog_load_embedded(&xid, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (ctx.req.cuda) {
		struct gm_cuda_need need;
		int major = 0, minor = 0;
		if (!gm_cuda_version_parse(ctx.req.cuda, &major, &minor)) {
			code = gm_cli_usage_error(cli,
			                          "--require-cuda needs a version like 12.4, not "
			                          "'%s'",
			                          ctx.req.cuda);
			goto out;
		}
		if (gm_cuda_min_driver(&cuda, major, minor, &need, &err) != GM_OK) {
			code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
			goto out;
		}
	}
	ctx.cuda = &cuda;
	ctx.xid = &xid;
	struct gm_check_filter filter = {only, skip};

	if (n_inv) {
		reps = gm_xcalloc(n_inv, sizeof(*reps));
		for (size_t i = 0; i < n_inv; i++) {
			struct gm_inventory inv;
			gm_inventory_init(&inv);
			gm_err_clear(&err);
			if (gm_inventory_load(&inv, inventories[i], &err) != GM_OK) {
				gm_inventory_release(&inv);
				gm_error("%s", gm_err_msg(&err));
				gm_hint("write an inventory with 'gpumigrate inventory -o FILE' on "
				        "the "
				        "host");
				code = GM_EXIT_USAGE;
				goto out;
			}
			ctx.inv = &inv;
			ctx.ev = NULL;
			gm_check_run(&ctx, &filter, inventories[i], &reps[n_reps++]);
			gm_inventory_release(&inv);
		}
	} else {
		struct gm_inventory inv;
		struct gm_evidence ev;
		gm_inventory_init(&inv);
		gm_evidence_init(&ev);
		if (gm_inventory_collect(&inv, &iopts, &err) != GM_OK) {
			gm_inventory_release(&inv);
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		gm_evidence_collect(&ev, &iopts.root);
		ctx.inv = &inv;
		ctx.ev = &ev;
		reps = gm_xcalloc(1, sizeof(*reps));
		gm_check_run(&ctx, &filter, iopts.root.dir ? iopts.root.dir : "local", &reps[0]);
		n_reps = 1;
		gm_evidence_release(&ev);
		gm_inventory_release(&inv);
	}

	if (junit) {
		gm_check_to_junit(reps, n_reps, &xml);
		if (gm_fs_write_atomic(junit, xml.data, xml.len, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		gm_info("wrote JUnit results to '%s'", junit);
	}
	if (cli->json)
		gm_check_to_json(reps, n_reps, &out, true);
	else
		render(reps, n_reps, cli->color_stdout, &out);
	code = gm_cli_emit(&out);
	for (size_t i = 0; code == GM_EXIT_OK && i < n_reps; i++)
		if (reps[i].count[GM_CHECK_FAIL])
			code = GM_EXIT_FINDINGS;
out:
	for (size_t i = 0; i < n_reps; i++)
		gm_check_report_release(&reps[i]);
	free(reps);
	free(inventories);
	free(only);
	free(skip);
	gm_cuda_table_release(&cuda);
	gm_xid_catalog_release(&xid);
	gm_catalog_release(&cat);
	gm_plan_release(&plan);
	gm_buf_release(&out);
	gm_buf_release(&xml);
	gm_err_release(&err);
	return code;
}

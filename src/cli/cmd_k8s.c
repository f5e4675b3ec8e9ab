/* `gpumigrate k8s`: move Kubernetes workloads off GKE. This file dispatches to the
 * subcommands and implements scan (what will not work off GKE), rewrite (apply mapping
 * rules to manifests, or export them for Velero and kustomize) and labels (node labels from
 * an inventory); mirror lives in cmd_k8s_mirror.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/k8s_cmds.h"
#include "hw/inventory.h"
#include "k8s/diff.h"
#include "k8s/labels.h"
#include "k8s/manifest.h"
#include "k8s/rewrite.h"
#include "k8s/rules.h"
#include "k8s/scan.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* `k8s` itself has no options of its own: each subcommand has its table (below). */
const struct gm_opt gm_cmd_k8s_opts[] = {
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static const struct gm_opt scan_opts[] = {
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

enum {
	OPT_RULES = 1,
	OPT_PLAN,
	OPT_OUTPUT,
	OPT_IN_PLACE,
	OPT_DIFF,
	OPT_EXPORT,
	OPT_INVENTORY,
	OPT_FORMAT,
	OPT_NODE,
};

static const struct gm_opt rewrite_opts[] = {
        {OPT_RULES, "rules", 'r', GM_ARG_REQUIRED, "FILE", "the rewrite rules (doc/formats.md)",
         "file"},
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE", "take the rules from the plan's k8s: key",
         "file"},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "DIR",
         "write the rewritten files under DIR (same relative paths)", "dir"},
        {OPT_IN_PLACE, "in-place", 'i', GM_ARG_NONE, NULL,
         "replace each file with its rewritten text (atomically)", NULL},
        {OPT_DIFF, "diff", 0, GM_ARG_NONE, NULL, "print a unified diff of the changes", NULL},
        {OPT_EXPORT, "export", 0, GM_ARG_REQUIRED, "FORMAT",
         "print the rules as velero (resource modifiers), velero-plugins or kustomize",
         "velero velero-plugins kustomize"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static const struct gm_opt labels_opts[] = {
        {OPT_INVENTORY, "inventory", 0, GM_ARG_REQUIRED, "FILE",
         "the node's inventory (default: collect this host's)", "file"},
        {OPT_FORMAT, "format", 'f', GM_ARG_REQUIRED, "FORMAT",
         "nfd (features.d file, the default), kubectl or json", "nfd kubectl json"},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE", "write to FILE (atomically)", "file"},
        {OPT_NODE, "node", 0, GM_ARG_REQUIRED, "NAME",
         "the node's name for kubectl (default: the inventory's hostname)", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static int cmd_scan(struct gm_cli *cli, int argc, char **argv);
static int cmd_rewrite(struct gm_cli *cli, int argc, char **argv);
static int cmd_labels(struct gm_cli *cli, int argc, char **argv);

static const struct gm_cli_subcommand subs[] = {
        {"scan", "scan [--json] PATH...", "list what in the manifests will not work off GKE",
         scan_opts, cmd_scan},
        {"rewrite",
         "rewrite -r RULES PATH... [-o DIR | --in-place] [--diff] | rewrite -r RULES --export "
         "FORMAT [PATH...]",
         "apply image, node-label, storage-class and annotation rules to manifests", rewrite_opts,
         cmd_rewrite},
        {"labels", "labels [--inventory FILE] [--format nfd|kubectl|json] [-o FILE]",
         "node labels (GPU Feature Discovery, accelerator, GKE) from an inventory", labels_opts,
         cmd_labels},
        {"mirror", "mirror [options] SRC_IMAGE DST_IMAGE...",
         "copy images between registries (OCI distribution API)", gm_cmd_k8s_mirror_opts,
         gm_cmd_k8s_mirror},
        {NULL, NULL, NULL, NULL, NULL},
};

static const struct gm_cli_subcommands k8s = {"k8s", "move Kubernetes workloads off GKE", subs};

int gm_cmd_k8s(struct gm_cli *cli, int argc, char **argv)
{
	return gm_cli_run_subcommand(cli, &k8s, argc, argv);
}

/* ---- shared ---- */

static void free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* ---- scan ---- */

static void scan_table(const struct gm_k8s_report *r, bool color, struct gm_buf *out)
{
	static const char *const head[] = {"severity", "where", "object", "finding", "what to do"};
	struct gm_table t;
	gm_table_init(&t, 5, head);
	for (size_t i = 0; i < r->n; i++) {
		const struct gm_k8s_finding *f = &r->findings[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, gm_k8s_severity_name(f->severity),
		             f->severity == GM_K8S_ERROR ? GM_COLOR_RED : GM_COLOR_YELLOW);
		gm_table_setf(&t, 1, GM_COLOR_NONE, "%s:%d", f->file, f->line);
		gm_table_set(&t, 2, f->object, GM_COLOR_NONE);
		gm_table_set(&t, 3, f->message, GM_COLOR_NONE);
		gm_table_set(&t, 4, f->fix, GM_COLOR_NONE);
	}
	if (r->n)
		gm_table_render(&t, color, out);
	gm_table_release(&t);
	size_t errors = 0;
	for (size_t i = 0; i < r->n; i++)
		errors += r->findings[i].severity == GM_K8S_ERROR;
	gm_buf_addf(out, "%zu files, %zu objects: %zu errors, %zu warnings\n", r->n_files,
	            r->n_objects, errors, r->n - errors);
}

static int cmd_scan(struct gm_cli *cli, int argc, char **argv)
{
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1)
		if (id == -2)
			return code;
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc < 1)
		return gm_cli_usage_error(cli, "k8s scan needs manifest files or directories");
	char **paths = NULL;
	size_t n = 0;
	struct gm_err err = GM_ERR_INIT;
	struct gm_k8s_report r;
	struct gm_buf out = GM_BUF_INIT;
	bool bad_input = false;
	gm_k8s_report_init(&r);
	if (gm_k8s_find_files(args, (size_t)argc, &paths, &n, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct gm_k8s_file f;
		gm_err_clear(&err);
		if (gm_k8s_file_load(&f, paths[i], &err) != GM_OK) {
			gm_error("%s", gm_err_msg(&err));
			bad_input = true;
			continue;
		}
		gm_k8s_scan_file(&f, &r);
		gm_k8s_file_release(&f);
	}
	gm_k8s_report_sort(&r);
	if (cli->json)
		gm_k8s_report_to_json(&r, &out, true);
	else
		scan_table(&r, cli->color_stdout, &out);
	code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK)
		code = bad_input ? GM_EXIT_USAGE : r.n ? GM_EXIT_FINDINGS : GM_EXIT_OK;
out:
	gm_buf_release(&out);
	gm_k8s_report_release(&r);
	free_paths(paths, n);
	gm_err_release(&err);
	return code;
}

/* ---- rewrite ---- */

/* mkdir -p for the directory part of path. */
static enum gm_rc make_parents(const char *path, struct gm_err *err)
{
	struct gm_buf dir = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	gm_buf_adds(&dir, path);
	for (size_t i = 1; i < dir.len && rc == GM_OK; i++) {
		if (dir.data[i] != '/')
			continue;
		dir.data[i] = '\0';
		if (mkdir(dir.data, 0777) != 0 && errno != EEXIST)
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot create '%s'",
			                  dir.data);
		dir.data[i] = '/';
	}
	gm_buf_release(&dir);
	return rc;
}

/* Where -o DIR puts a file: its path below the directory argument it was found in, or its
 * base name for a file argument. */
static void output_path(const char *dir, char **args, int n_args, const char *path,
                        struct gm_buf *out)
{
	const char *rel = NULL;
	for (int i = 0; i < n_args && !rel; i++) {
		size_t l = strlen(args[i]);
		while (l > 1 && args[i][l - 1] == '/')
			l--;
		if (strncmp(path, args[i], l) == 0 && path[l] == '/')
			rel = path + l + 1;
	}
	if (!rel) {
		rel = strrchr(path, '/');
		rel = rel ? rel + 1 : path;
	}
	gm_buf_addf(out, "%s/%s", dir, rel);
}

struct images {
	char **v;
	size_t n;
};

static void image_cb(void *ctx, struct gm_k8s_node *container)
{
	struct images *im = ctx;
	const char *img = gm_k8s_get_str(container, "image");
	if (!img)
		return;
	im->v = gm_xreallocarray(im->v, im->n + 1, sizeof(*im->v));
	im->v[im->n++] = gm_xstrdup(img);
}

static void pod_images_cb(void *ctx, struct gm_k8s_node *spec)
{
	gm_k8s_each_container(spec, image_cb, ctx);
}

/* The container images of a file's objects, in order. */
static void collect_images(const struct gm_k8s_file *f, struct images *im)
{
	struct gm_k8s_object *objs = NULL;
	size_t n = 0;
	gm_k8s_objects(f, &objs, &n);
	for (size_t i = 0; i < n; i++) {
		gm_k8s_each_pod_spec(&objs[i], pod_images_cb, im);
		gm_k8s_each_argo_container(&objs[i], image_cb, im);
	}
	free(objs);
}

static int export_rules(struct gm_cli *cli, const struct gm_k8s_rules *rules, const char *format,
                        char **args, int argc)
{
	struct gm_buf out = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	int code = GM_EXIT_OK;
	char **paths = NULL;
	size_t n = 0;
	struct images im = {NULL, 0};
	if (strcmp(format, "velero") == 0) {
		gm_k8s_export_velero(rules, &out);
	} else if (strcmp(format, "velero-plugins") == 0) {
		gm_k8s_export_velero_plugins(rules, &out);
	} else if (strcmp(format, "kustomize") == 0) {
		if (argc < 1) {
			code = gm_cli_usage_error(cli, "--export kustomize needs the manifests: "
			                               "kustomize maps whole image names");
			goto out;
		}
		if (gm_k8s_find_files(args, (size_t)argc, &paths, &n, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct gm_k8s_file f;
			if (gm_k8s_file_load(&f, paths[i], &err) != GM_OK) {
				code = gm_cli_fail(cli, &err);
				goto out;
			}
			collect_images(&f, &im);
			gm_k8s_file_release(&f);
		}
		gm_k8s_export_kustomize(rules, im.v, im.n, &out);
	} else {
		code = gm_cli_usage_error(cli,
		                          "--export takes velero, velero-plugins or kustomize, "
		                          "not '%s'",
		                          format);
		goto out;
	}
	code = gm_cli_emit(&out);
out:
	for (size_t i = 0; i < im.n; i++)
		free(im.v[i]);
	free(im.v);
	free_paths(paths, n);
	gm_buf_release(&out);
	gm_err_release(&err);
	return code;
}

static int cmd_rewrite(struct gm_cli *cli, int argc, char **argv)
{
	const char *rules_path = NULL, *plan_path = NULL, *output = NULL, *export = NULL;
	bool in_place = false, diff = false;
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_RULES: rules_path = cli->optarg; break;
		case OPT_PLAN: plan_path = cli->optarg; break;
		case OPT_OUTPUT: output = cli->optarg; break;
		case OPT_IN_PLACE: in_place = true; break;
		case OPT_DIFF: diff = true; break;
		case OPT_EXPORT: export = cli->optarg; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (!rules_path && !plan_path)
		return gm_cli_usage_error(cli, "k8s rewrite needs rules: -r RULES (or -p PLAN with "
		                               "a k8s: section)");
	if (rules_path && plan_path)
		return gm_cli_usage_error(cli, "give either -r or -p, not both");
	if (output && in_place)
		return gm_cli_usage_error(cli, "give either -o DIR or --in-place, not both");
	struct gm_k8s_rules rules;
	struct gm_err err = GM_ERR_INIT;
	char **paths = NULL;
	size_t n = 0, total = 0;
	struct gm_buf out = GM_BUF_INIT, notes = GM_BUF_INIT, text = GM_BUF_INIT,
	              where = GM_BUF_INIT;
	bool bad_input = false;
	if (gm_k8s_rules_load(&rules, rules_path ? rules_path : plan_path, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (export) {
		code = export_rules(cli, &rules, export, args, argc);
		goto out;
	}
	if (argc < 1) {
		code = gm_cli_usage_error(cli, "k8s rewrite needs manifest files or directories");
		goto out;
	}
	if (gm_k8s_find_files(args, (size_t)argc, &paths, &n, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (!output && !in_place && !diff && n > 1) {
		code = gm_cli_usage_error(cli, "%zu files: give -o DIR or --in-place (or --diff)",
		                          n);
		goto out;
	}
	for (size_t i = 0; i < n && code == GM_EXIT_OK; i++) {
		struct gm_k8s_file f;
		size_t changes = 0;
		gm_err_clear(&err);
		if (gm_k8s_file_load(&f, paths[i], &err) != GM_OK) {
			gm_error("%s", gm_err_msg(&err));
			bad_input = true;
			continue;
		}
		gm_buf_reset(&text);
		gm_buf_reset(&notes);
		gm_k8s_rewrite(&f, &rules, &text, &notes, &changes);
		total += changes;
		for (size_t s = 0; s < notes.len;) {
			const char *nl = memchr(notes.data + s, '\n', notes.len - s);
			size_t e = nl ? (size_t)(nl - notes.data) : notes.len;
			gm_warn("%.*s", (int)(e - s), notes.data + s);
			s = e + 1;
		}
		if (diff) {
			gm_buf_reset(&where);
			gm_buf_addf(&where, "%s (rewritten)", paths[i]);
			gm_k8s_diff(paths[i], f.text, f.len, gm_buf_cstr(&where),
			            text.data ? text.data : "", text.len, &out);
		}
		if (output) {
			gm_buf_reset(&where);
			output_path(output, args, argc, paths[i], &where);
			if (make_parents(gm_buf_cstr(&where), &err) != GM_OK ||
			    gm_fs_write_atomic(gm_buf_cstr(&where), text.data ? text.data : "",
			                       text.len, &err) != GM_OK)
				code = gm_cli_fail(cli, &err);
		} else if (in_place) {
			if (changes &&
			    gm_fs_write_atomic(paths[i], text.data, text.len, &err) != GM_OK)
				code = gm_cli_fail(cli, &err);
		} else if (!diff) {
			gm_buf_add(&out, text.data ? text.data : "", text.len);
		}
		gm_k8s_file_release(&f);
	}
	if (code == GM_EXIT_OK)
		code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK && (output || in_place))
		gm_info("%zu changes in %zu files", total, n);
	if (code == GM_EXIT_OK && bad_input)
		code = GM_EXIT_USAGE;
out:
	gm_buf_release(&out);
	gm_buf_release(&notes);
	gm_buf_release(&text);
	gm_buf_release(&where);
	free_paths(paths, n);
	gm_k8s_rules_release(&rules);
	gm_err_release(&err);
	return code;
}

/* ---- labels ---- */

static int cmd_labels(struct gm_cli *cli, int argc, char **argv)
{
	const char *inventory = NULL, *format = NULL, *output = NULL, *node = NULL;
	int id, code = GM_EXIT_OK;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_INVENTORY: inventory = cli->optarg; break;
		case OPT_FORMAT: format = cli->optarg; break;
		case OPT_OUTPUT: output = cli->optarg; break;
		case OPT_NODE: node = cli->optarg; break;
		}
	}
	gm_cli_args(cli, &argc);
	(void)argv;
	if (argc > 0)
		return gm_cli_usage_error(cli, "k8s labels takes no operands");
	if (!format)
		format = cli->json ? "json" : "nfd";
	if (strcmp(format, "nfd") != 0 && strcmp(format, "kubectl") != 0 &&
	    strcmp(format, "json") != 0)
		return gm_cli_usage_error(cli, "--format takes nfd, kubectl or json, not '%s'",
		                          format);
	struct gm_inventory inv;
	struct gm_k8s_node_labels l;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	gm_inventory_init(&inv);
	gm_k8s_node_labels_init(&l);
	enum gm_rc rc;
	if (inventory) {
		rc = gm_inventory_load(&inv, inventory, &err);
	} else {
		struct gm_inventory_opts opts = {{NULL}, NULL, false};
		rc = gm_inventory_collect(&inv, &opts, &err);
	}
	if (rc != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	gm_k8s_node_labels(&inv, &l);
	if (!node)
		node = gm_fact_ok(&inv.host.hostname.f) ? inv.host.hostname.v : "NODE";
	if (strcmp(format, "nfd") == 0)
		gm_k8s_labels_nfd(&l, &out);
	else if (strcmp(format, "kubectl") == 0)
		gm_k8s_labels_kubectl(&l, node, &out);
	else
		gm_k8s_labels_json(&l, node, &out);
	for (size_t i = 0; i < l.n_notes; i++)
		gm_info("%s", l.notes[i]);
	if (output && strcmp(output, "-") != 0) {
		if (gm_fs_write_atomic(output, out.data ? out.data : "", out.len, &err) != GM_OK)
			code = gm_cli_fail(cli, &err);
		else
			gm_info("wrote %zu labels to '%s'", l.n, output);
	} else {
		code = gm_cli_emit(&out);
	}
out:
	gm_buf_release(&out);
	gm_k8s_node_labels_release(&l);
	gm_inventory_release(&inv);
	gm_err_release(&err);
	return code;
}

/* `gpumigrate verify SRC DST` and `verify --manifest FILE DST`: compare two trees (or a tree
 * and the manifest a sync wrote) by content hash, computed where each file lives, and report
 * every difference: one line each, or JSON. Exit 1 on any difference, 0 when identical. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/sync_common.h"
#include "sync/engine.h"
#include "sync/filter.h"
#include "util/json.h"
#include "util/log.h"
#include "util/banned.h"

enum {
	OPT_MANIFEST = 1,
	OPT_PROGRESS,
};

const struct gm_opt gm_cmd_verify_opts[] = {
        {OPT_MANIFEST, "manifest", 0, GM_ARG_REQUIRED, "FILE",
         "check DST against a manifest written by 'sync --manifest' instead of a SRC", "file"},
        {OPT_PROGRESS, "progress", 0, GM_ARG_NONE, NULL,
         "show files and bytes hashed on stderr (default on a terminal)", NULL},
        GM_SYNC_COMMON_OPTS,
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

struct vview {
	bool json, progress, line_shown;
};

static void on_problem(void *ctx, const char *kind, const char *path, size_t len, const char *msg)
{
	struct vview *v = ctx;
	struct gm_buf l = GM_BUF_INIT;
	gm_sync_cli_clear_line(&v->line_shown);
	if (strcmp(kind, "error") == 0) {
		gm_sync_cli_quote(&l, path, len);
		gm_error("'%s': %s", gm_buf_cstr(&l), msg);
	} else if (!v->json) {
		gm_buf_addf(&l, "%-8s ", kind);
		gm_sync_cli_quote(&l, path, len);
		gm_buf_addf(&l, "  (%s)\n", msg);
		fwrite(l.data, 1, l.len, stdout);
	}
	gm_buf_release(&l);
}

static void on_progress(void *ctx, const struct gm_sync_stats *st, bool final)
{
	struct vview *v = ctx;
	if (!v->progress)
		return;
	struct gm_buf l = GM_BUF_INIT;
	gm_sync_cli_progress_line(
	        &l, st, st->seconds > 0 ? (double)st->bytes_done / st->seconds : 0, final);
	fprintf(stderr, "\r%s\033[K%s", gm_buf_cstr(&l), final ? "\n" : "");
	v->line_shown = !final;
	gm_buf_release(&l);
}

static void render_json(const struct gm_sync_result *r, struct gm_buf *out)
{
	struct gm_json j;
	gm_json_init(&j, out, true);
	gm_json_begin_object(&j, NULL);
	gm_json_bool(&j, "identical", r->stats.differences == 0 && r->stats.failed == 0);
	gm_json_uint(&j, "files", r->stats.files);
	gm_json_uint(&j, "bytes_hashed", r->stats.bytes_done);
	gm_json_uint(&j, "difference_count", r->stats.differences);
	gm_json_double(&j, "seconds", r->stats.seconds);
	gm_json_begin_array(&j, "differences");
	for (size_t i = 0; i < r->n_problems; i++) {
		if (strcmp(r->problems[i].kind, "error") == 0)
			continue;
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "kind", r->problems[i].kind);
		gm_json_strn(&j, "path", r->problems[i].path, r->problems[i].path_len);
		gm_json_str(&j, "detail", r->problems[i].msg);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_begin_array(&j, "errors");
	for (size_t i = 0; i < r->n_problems; i++) {
		if (strcmp(r->problems[i].kind, "error") != 0)
			continue;
		gm_json_begin_object(&j, NULL);
		gm_json_strn(&j, "path", r->problems[i].path, r->problems[i].path_len);
		gm_json_str(&j, "error", r->problems[i].msg);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	gm_buf_addch(out, '\n');
}

int gm_cmd_verify(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_sync_opts o;
	struct gm_sync_common common;
	struct gm_sync_filter filter;
	struct gm_sync_result res;
	struct gm_err err = GM_ERR_INIT;
	struct vview v = {false, false, false};
	const char *manifest = NULL;
	int id, code = GM_EXIT_OK, progress = -1;
	(void)argc, (void)argv;
	memset(&o, 0, sizeof(o));
	gm_sync_common_init(&common);
	gm_sync_filter_init(&filter);
	gm_sync_result_init(&res);

	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: goto out;
		case OPT_MANIFEST: manifest = cli->optarg; break;
		case OPT_PROGRESS: progress = 1; break;
		default:
			if (gm_sync_common_option(cli, &common, &filter, id, cli->optarg, &code) !=
			    0)
				goto out;
			break;
		}
	}
	int n_args = 0;
	char **args = gm_cli_args(cli, &n_args);
	if (n_args != (manifest ? 1 : 2)) {
		code = gm_cli_usage_error(cli,
		                          manifest ? "verify --manifest FILE needs one operand, DST"
		                                   : "verify needs SRC and DST (or --manifest FILE "
		                                     "DST)");
		goto out;
	}
	gm_sync_common_apply(&common, &filter, &o);
	o.verify = true;
	v.json = cli->json;
	v.progress = progress == 1 ||
	             (progress == -1 && !cli->json && !cli->quiet && isatty(STDERR_FILENO));
	o.ctx = &v;
	o.problem = on_problem;
	o.progress = on_progress;
	o.stop = &gm_sync_cli_stop;
	gm_sync_cli_catch_signals();

	enum gm_rc rc = manifest ? gm_sync_verify_manifest(manifest, args[0], &o, &res, &err)
	                         : gm_sync_run(args[0], args[1], &o, &res, &err);
	gm_sync_cli_clear_line(&v.line_shown);
	fflush(stdout);
	if (rc == GM_ERR_INTERRUPTED) {
		gm_error("interrupted");
		code = 130;
		goto out;
	}
	if (rc != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		struct gm_buf out = GM_BUF_INIT;
		render_json(&res, &out);
		code = gm_cli_emit(&out);
		gm_buf_release(&out);
		if (code != GM_EXIT_OK)
			goto out;
	}
	if (res.stats.differences) {
		if (!cli->json)
			gm_info("%" PRIu64 " difference%s in %" PRIu64 " files",
			        res.stats.differences, res.stats.differences == 1 ? "" : "s",
			        res.stats.files);
		code = GM_EXIT_FINDINGS;
	} else if (res.stats.failed) {
		gm_error("%" PRIu64 " entr%s could not be checked (listed above)", res.stats.failed,
		         res.stats.failed == 1 ? "y" : "ies");
		code = GM_EXIT_PARTIAL;
	} else if (!cli->json) {
		gm_info("identical: %" PRIu64 " files", res.stats.files);
	}
out:
	gm_sync_result_release(&res);
	gm_sync_filter_release(&filter);
	gm_sync_common_release(&common);
	gm_err_release(&err);
	return code;
}

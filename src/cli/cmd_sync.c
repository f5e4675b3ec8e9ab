/* `gpumigrate sync SRC DST`: parallel, resumable, verified copy of a tree between local
 * paths and SSH hosts (sync/engine.h does the work). This file parses the options, shows
 * progress on a TTY, prints the itemised changes and the problems, renders the --json
 * summary and maps the outcome to the documented exit codes. It also hosts the hidden
 * server mode that the SSH transport starts on the remote host. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/sync_common.h"
#include "sync/engine.h"
#include "sync/filter.h"
#include "sync/server.h"
#include "sync/watchrun.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/banned.h"

enum {
	OPT_DRY_RUN = 1,
	OPT_DELETE,
	OPT_CHECKSUM,
	OPT_ITEMIZE,
	OPT_MANIFEST,
	OPT_SHARD,
	OPT_BWLIMIT,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_XATTRS,
	OPT_WATCH,
	OPT_SERVER,
	OPT_ROOT,
	OPT_WRITE,
	OPT_CREATE,
	/* shared with verify (sync_common.h) from GM_SYNC_OPT_FIRST */
};

const struct gm_opt gm_cmd_sync_opts[] = {
        {OPT_DRY_RUN, "dry-run", 'n', GM_ARG_NONE, NULL,
         "list what would change (one line per entry), change nothing", NULL},
        {OPT_DELETE, "delete", 0, GM_ARG_NONE, NULL,
         "remove destination entries absent at the source, only after a clean transfer", NULL},
        {OPT_CHECKSUM, "checksum", 'c', GM_ARG_NONE, NULL,
         "compare content by hash, not size and modification time", NULL},
        {OPT_ITEMIZE, "itemize-changes", 'i', GM_ARG_NONE, NULL,
         "print each change as it is made (as --dry-run lists them)", NULL},
        {OPT_MANIFEST, "manifest", 0, GM_ARG_REQUIRED, "FILE",
         "write a JSON-lines record of every file (path, size, mtime, mode, xxh128)", "file"},
        {OPT_SHARD, "shard", 0, GM_ARG_REQUIRED, "I/N",
         "move only the files of shard I of N (N machines each run one shard)", NULL},
        {OPT_BWLIMIT, "bwlimit", 0, GM_ARG_REQUIRED, "RATE",
         "limit the transfer to RATE bytes per second (k, M, G suffixes; no suffix: KiB)", NULL},
        {OPT_PROGRESS, "progress", 0, GM_ARG_NONE, NULL,
         "show bytes, files, rate and ETA on stderr (default on a terminal)", NULL},
        {OPT_NO_PROGRESS, "no-progress", 0, GM_ARG_NONE, NULL, "never show progress", NULL},
        {OPT_XATTRS, "xattrs", 'X', GM_ARG_NONE, NULL, "copy extended attributes", NULL},
        {OPT_WATCH, "watch", 0, GM_ARG_NONE, NULL,
         "after the first pass keep DST current (inotify) until interrupted", NULL},
        GM_SYNC_COMMON_OPTS,
        {OPT_SERVER, "server", 0, GM_ARG_NONE, NULL,
         "internal: serve --root over stdin/stdout for a remote sync", NULL},
        {OPT_ROOT, "root", 0, GM_ARG_REQUIRED, "PATH", "internal: the tree --server serves", "dir"},
        {OPT_WRITE, "write", 0, GM_ARG_NONE, NULL, "internal: let --server change the tree", NULL},
        {OPT_CREATE, "create", 0, GM_ARG_NONE, NULL,
         "internal: accepted with --server (the client asks for a missing root)", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

struct view {
	struct gm_cli *cli;
	bool progress;   /* a progress line is on stderr */
	bool show_items; /* items to stdout as they come */
	bool json;       /* collect for the JSON summary */
	bool dry_run;
	bool line_shown;   /* a progress line needs clearing before other output */
	struct gm_buf out; /* items for stdout, flushed in batches */
	struct gm_buf jitems;
	struct gm_json ji;
	double last_t;
	uint64_t last_bytes;
	double rate;
};

static void on_item(void *ctx, const char *code, const char *path, size_t len)
{
	struct view *v = ctx;
	if (v->json) {
		if (v->jitems.len) /* the objects are the elements of one array: see render */
			gm_buf_addch(&v->jitems, ',');
		gm_json_begin_object(&v->ji, NULL);
		gm_json_str(&v->ji, "change", code);
		gm_json_strn(&v->ji, "path", path, len);
		gm_json_end_object(&v->ji);
		return;
	}
	if (!v->show_items)
		return;
	gm_buf_addf(&v->out, "%-11s ", code);
	gm_sync_cli_quote(&v->out, path, len);
	gm_buf_addch(&v->out, '\n');
	if (v->out.len > 65536 || v->progress) {
		gm_sync_cli_clear_line(&v->line_shown);
		fwrite(v->out.data, 1, v->out.len, stdout);
		fflush(stdout);
		gm_buf_reset(&v->out);
	}
}

static void on_problem(void *ctx, const char *kind, const char *path, size_t len, const char *msg)
{
	struct view *v = ctx;
	struct gm_buf q = GM_BUF_INIT;
	(void)kind;
	gm_sync_cli_clear_line(&v->line_shown);
	gm_sync_cli_quote(&q, path, len);
	gm_error("'%s': %s", gm_buf_cstr(&q), msg);
	gm_buf_release(&q);
}

static void on_warn(void *ctx, const char *path, size_t len, const char *msg)
{
	struct view *v = ctx;
	struct gm_buf q = GM_BUF_INIT;
	gm_sync_cli_clear_line(&v->line_shown);
	gm_sync_cli_quote(&q, path, len);
	gm_warn("'%s': %s", gm_buf_cstr(&q), msg);
	gm_buf_release(&q);
}

static void on_progress(void *ctx, const struct gm_sync_stats *st, bool final)
{
	struct view *v = ctx;
	if (!v->progress)
		return;
	double dt = st->seconds - v->last_t;
	if (dt > 0.05) {
		double r = (double)(st->bytes_done - v->last_bytes) / dt;
		v->rate = v->rate > 0 ? 0.7 * v->rate + 0.3 * r : r;
		v->last_t = st->seconds;
		v->last_bytes = st->bytes_done;
	}
	struct gm_buf l = GM_BUF_INIT;
	gm_sync_cli_progress_line(
	        &l, st,
	        final ? (st->seconds > 0 ? (double)st->bytes_done / st->seconds : 0) : v->rate,
	        final);
	fprintf(stderr, "\r%s\033[K%s", gm_buf_cstr(&l), final ? "\n" : "");
	v->line_shown = !final;
	gm_buf_release(&l);
}

static void summary_json(const struct gm_sync_result *r, const struct view *v, bool delete_on,
                         struct gm_buf *out)
{
	struct gm_json j;
	const struct gm_sync_stats *st = &r->stats;
	gm_json_init(&j, out, true);
	gm_json_begin_object(&j, NULL);
	gm_json_bool(&j, "dry_run", v->dry_run);
	gm_json_uint(&j, "files", st->files);
	gm_json_uint(&j, "copied", st->copied);
	gm_json_uint(&j, "unchanged", st->unchanged);
	gm_json_uint(&j, "deleted", st->deleted);
	gm_json_uint(&j, "failed", st->failed);
	gm_json_uint(&j, "skipped", st->skipped);
	gm_json_uint(&j, "meta_updated", st->meta_updated);
	gm_json_uint(&j, "dirs_created", st->dirs_created);
	gm_json_uint(&j, "symlinks", st->symlinks);
	gm_json_uint(&j, "hardlinks", st->hardlinks);
	gm_json_uint(&j, "bytes_total", st->bytes_total);
	gm_json_uint(&j, "bytes_sent", st->bytes_sent);
	gm_json_uint(&j, "resumed_bytes", st->resumed_bytes);
	gm_json_uint(&j, "wire_bytes", st->wire_bytes);
	gm_json_double(&j, "seconds", st->seconds);
	gm_json_bool(&j, "interrupted", r->interrupted);
	gm_json_str(&j, "delete",
	            !delete_on              ? "off"
	            : r->delete_done        ? "done"
	            : r->delete_skipped.len ? "skipped"
	                                    : "done");
	if (r->delete_skipped.len)
		gm_json_str(&j, "delete_skipped", gm_buf_cstr(&r->delete_skipped));
	else
		gm_json_null(&j, "delete_skipped");
	if (r->no_space) {
		gm_json_begin_object(&j, "no_space");
		gm_json_uint(&j, "bytes_needed", r->space_needed);
		if (r->space_avail_known)
			gm_json_uint(&j, "bytes_available", r->space_avail);
		else
			gm_json_null(&j, "bytes_available");
		gm_json_end_object(&j);
	} else {
		gm_json_null(&j, "no_space");
	}
	gm_json_begin_array(&j, "errors");
	for (size_t i = 0; i < r->n_problems; i++) {
		gm_json_begin_object(&j, NULL);
		gm_json_strn(&j, "path", r->problems[i].path, r->problems[i].path_len);
		gm_json_str(&j, "error", r->problems[i].msg);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	if (v->jitems.len) {
		struct gm_buf items = GM_BUF_INIT;
		gm_buf_addch(&items, '[');
		gm_buf_add(&items, v->jitems.data, v->jitems.len);
		gm_buf_addch(&items, ']');
		gm_json_raw(&j, "items", items.data, items.len);
		gm_buf_release(&items);
	} else if (v->dry_run) {
		gm_json_raw(&j, "items", "[]", 2);
	}
	gm_json_end_object(&j);
	gm_buf_addch(out, '\n');
}

static void on_pass(void *ctx, const struct gm_sync_result *res, enum gm_rc rc,
                    const struct gm_err *err)
{
	struct view *v = ctx;
	if (v->out.len) {
		fwrite(v->out.data, 1, v->out.len, stdout);
		fflush(stdout);
		gm_buf_reset(&v->out);
	}
	if (rc != GM_OK && rc != GM_ERR_INTERRUPTED)
		gm_error("%s", gm_err_msg(err));
	if (v->cli->verbose > 0) {
		struct gm_buf l = GM_BUF_INIT;
		gm_sync_cli_summary(&l, &res->stats);
		gm_info("watch: %s", gm_buf_cstr(&l));
		gm_buf_release(&l);
	}
}

/* --watch after the first pass: runs until a signal. Stopping it is the normal end, so the
 * exit code stays the first pass's. */
static int watch_loop(struct view *v, struct gm_sync_watch *w,
                      const struct gm_sync_watch_plan *plan, const struct gm_sync_opts *o, int code)
{
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_opts po = *o;
	po.progress = NULL; /* passes are small; items and problems still show */
	v->progress = false;
	v->json = false;
	const char *dir = gm_buf_cstr(&plan->watch_dir);
	gm_info("watching '%s' (%zu directories); interrupt to stop", dir, gm_sync_watch_count(w));
	enum gm_rc rc = gm_sync_watch_run(w, plan, &po, on_pass, &err);
	if (rc != GM_ERR_INTERRUPTED)
		code = gm_cli_fail(v->cli, &err);
	else
		gm_info("stopped watching '%s'", dir);
	gm_err_release(&err);
	return code;
}

static int run_server(struct gm_cli *cli, const char *root, bool writable)
{
	struct gm_err err = GM_ERR_INIT;
	int code = GM_EXIT_OK;
	if (!root) {
		code = gm_cli_usage_error(cli, "--server needs --root PATH");
		goto out;
	}
	if (gm_sync_server_run(STDIN_FILENO, STDOUT_FILENO, root, writable, &err) != GM_OK)
		code = gm_cli_fail(cli, &err);
out:
	gm_err_release(&err);
	return code;
}

int gm_cmd_sync(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_sync_opts o;
	struct gm_sync_common common;
	struct gm_sync_filter filter;
	struct gm_sync_result res;
	struct gm_err err = GM_ERR_INIT;
	struct view v;
	int id, code = GM_EXIT_OK, progress = -1;
	bool server = false, writable = false, watch = false;
	struct gm_sync_watch *watcher = NULL;
	struct gm_sync_watch_plan plan;
	const char *root = NULL;
	(void)argc, (void)argv;
	memset(&o, 0, sizeof(o));
	memset(&v, 0, sizeof(v));
	gm_sync_common_init(&common);
	gm_sync_filter_init(&filter);
	gm_sync_result_init(&res);
	gm_sync_watch_plan_init(&plan);

	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		switch (id) {
		case -2: goto out;
		case OPT_DRY_RUN: o.dry_run = true; break;
		case OPT_DELETE: o.delete_extra = true; break;
		case OPT_CHECKSUM: o.checksum = true; break;
		case OPT_ITEMIZE: v.show_items = true; break;
		case OPT_MANIFEST: o.manifest = a; break;
		case OPT_SHARD:
			if (gm_sync_shard_parse(a, &o.shard_index, &o.shard_count, &err) != GM_OK) {
				code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
				goto out;
			}
			break;
		case OPT_BWLIMIT:
			if (gm_sync_bw_parse(a, &o.bwlimit, &err) != GM_OK) {
				code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
				goto out;
			}
			break;
		case OPT_PROGRESS: progress = 1; break;
		case OPT_NO_PROGRESS: progress = 0; break;
		case OPT_XATTRS: o.xattrs = true; break;
		case OPT_WATCH: watch = true; break;
		case OPT_SERVER: server = true; break;
		case OPT_ROOT: root = a; break;
		case OPT_WRITE: writable = true; break;
		case OPT_CREATE: break;
		default:
			if (gm_sync_common_option(cli, &common, &filter, id, a, &code) != 0)
				goto out;
			break;
		}
	}
	if (server) {
		code = run_server(cli, root, writable);
		goto out;
	}
	int n_args = 0;
	char **args = gm_cli_args(cli, &n_args);
	if (n_args != 2) {
		code = gm_cli_usage_error(cli, "sync needs SRC and DST (got %d operand%s)", n_args,
		                          n_args == 1 ? "" : "s");
		goto out;
	}
	if (o.manifest && o.dry_run)
		gm_warn("--dry-run writes no manifest");
	gm_sync_common_apply(&common, &filter, &o);

	v.cli = cli;
	v.dry_run = o.dry_run;
	v.json = cli->json && (o.dry_run || v.show_items);
	v.show_items = !cli->json && (v.show_items || o.dry_run || cli->verbose > 0);
	v.progress = progress == 1 ||
	             (progress == -1 && !cli->json && !cli->quiet && isatty(STDERR_FILENO));
	if (v.json)
		gm_json_init(&v.ji, &v.jitems, false);
	o.ctx = &v;
	o.item = on_item;
	o.problem = on_problem;
	o.warn = on_warn;
	o.progress = on_progress;
	o.stop = &gm_sync_cli_stop;
	gm_sync_cli_catch_signals();

	/* Watch before the first pass so nothing that changes during it is missed. */
	if (watch) {
		if (o.dry_run || o.shard_count > 1) {
			code = gm_cli_usage_error(cli, "--watch cannot be combined with %s",
			                          o.dry_run ? "--dry-run" : "--shard");
			goto out;
		}
		if (gm_sync_watch_prepare(args[0], args[1], &plan, &err) != GM_OK ||
		    gm_sync_watch_open(gm_buf_cstr(&plan.watch_dir), &watcher, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
	}

	enum gm_rc rc = gm_sync_run(args[0], args[1], &o, &res, &err);
	gm_sync_cli_clear_line(&v.line_shown);
	if (v.out.len) {
		fwrite(v.out.data, 1, v.out.len, stdout);
		fflush(stdout);
		gm_buf_reset(&v.out);
	}
	if (rc == GM_ERR_INTERRUPTED) {
		gm_error("interrupted: files in flight are kept for resume; run the same command "
		         "again to continue");
		code = 130;
	} else if (rc == GM_ERR_NO_SPACE) {
		struct gm_buf need = GM_BUF_INIT, avail = GM_BUF_INIT;
		gm_sync_cli_bytes(&need, res.space_needed);
		gm_sync_cli_bytes(&avail, res.space_avail);
		gm_error("the destination '%s' is full: %s of files were not copied (%s free)",
		         args[1], gm_buf_cstr(&need),
		         res.space_avail_known ? gm_buf_cstr(&avail) : "unknown");
		gm_hint("free at least %s there (or pick another destination) and run the same "
		        "command again; what was copied is kept",
		        gm_buf_cstr(&need));
		gm_buf_release(&need);
		gm_buf_release(&avail);
		code = res.stats.copied > 0 ? GM_EXIT_PARTIAL : GM_EXIT_ERROR;
	} else if (rc != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	} else if (res.stats.failed) {
		gm_error("%" PRIu64 " entr%s could not be synced (listed above)", res.stats.failed,
		         res.stats.failed == 1 ? "y" : "ies");
		code = GM_EXIT_PARTIAL;
	}
	if (o.delete_extra && res.delete_skipped.len)
		gm_warn("--delete skipped: %s; nothing was deleted",
		        gm_buf_cstr(&res.delete_skipped));
	if (cli->json) {
		struct gm_buf out = GM_BUF_INIT;
		summary_json(&res, &v, o.delete_extra, &out);
		int c2 = gm_cli_emit(&out);
		gm_buf_release(&out);
		if (c2 != GM_EXIT_OK && code == GM_EXIT_OK)
			code = c2;
	} else if (cli->verbose > 0) {
		struct gm_buf l = GM_BUF_INIT;
		gm_sync_cli_summary(&l, &res.stats);
		gm_info("%s", gm_buf_cstr(&l));
		gm_buf_release(&l);
	}
	if (watcher && code != 130 && code != GM_EXIT_ERROR)
		code = watch_loop(&v, watcher, &plan, &o, code);
out:
	gm_sync_watch_close(watcher);
	gm_sync_watch_plan_release(&plan);
	gm_buf_release(&v.out);
	gm_buf_release(&v.jitems);
	gm_sync_result_release(&res);
	gm_sync_filter_release(&filter);
	gm_sync_common_release(&common);
	gm_err_release(&err);
	return code;
}

/* The command-line pieces `gpumigrate sync` and `gpumigrate verify` share (see
 * sync_common.h): option handling for filters, jobs and the SSH transport, and the rendering
 * of paths, sizes, the progress line and the summary. */
#include "cli/sync_common.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "objstore/http.h"
#include "util/fs.h"
#include "util/utf8.h"
#include "util/banned.h"

void gm_sync_common_init(struct gm_sync_common *c)
{
	memset(c, 0, sizeof(*c));
	c->os.path_style = -1;
}

void gm_sync_common_release(struct gm_sync_common *c)
{
	(void)c;
}

static int parse_count(struct gm_cli *cli, const char *name, const char *arg, uint64_t max,
                       unsigned *out, int *code)
{
	uint64_t v = 0;
	if (gm_parse_u64(arg, 10, &v) != GM_OK || v < 1 || v > max) {
		*code = gm_cli_usage_error(
		        cli, "--%s needs a number from 1 to %" PRIu64 ", not '%s'", name, max, arg);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int gm_sync_common_option(struct gm_cli *cli, struct gm_sync_common *c, struct gm_sync_filter *f,
                          int id, const char *arg, int *code)
{
	struct gm_err err = GM_ERR_INIT;
	int r = 0;
	switch (id) {
	case GM_SYNC_OPT_EXCLUDE:
	case GM_SYNC_OPT_INCLUDE:
		if (gm_sync_filter_add(f, id == GM_SYNC_OPT_INCLUDE, arg, &err) != GM_OK) {
			*code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
			r = -1;
		}
		break;
	case GM_SYNC_OPT_EXCLUDE_FROM:
		if (gm_sync_filter_add_file(f, arg, &err) != GM_OK) {
			*code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
			r = -1;
		}
		break;
	case GM_SYNC_OPT_JOBS: r = parse_count(cli, "jobs", arg, 1024, &c->jobs, code); break;
	case GM_SYNC_OPT_STREAMS:
		r = parse_count(cli, "streams", arg, 64, &c->streams, code);
		break;
	case GM_SYNC_OPT_COMPRESS: c->compress = true; break;
	case GM_SYNC_OPT_RSH: c->rsh = arg; break;
	case GM_SYNC_OPT_REMOTE_BIN: c->remote_bin = arg; break;
	case GM_SYNC_OPT_ENDPOINT: c->os.endpoint = arg; break;
	case GM_SYNC_OPT_REGION: c->os.region = arg; break;
	case GM_SYNC_OPT_PROFILE: c->os.profile = arg; break;
	case GM_SYNC_OPT_INSECURE: c->os.insecure = true; break;
	case GM_SYNC_OPT_ADDRESSING:
		if (strcmp(arg, "path") != 0 && strcmp(arg, "virtual") != 0) {
			*code = gm_cli_usage_error(cli, "--addressing is path or virtual, not '%s'",
			                           arg);
			r = -1;
		}
		c->os.path_style = strcmp(arg, "path") == 0;
		break;
	default: break;
	}
	gm_err_release(&err);
	return r;
}

void gm_sync_common_apply(const struct gm_sync_common *c, const struct gm_sync_filter *f,
                          struct gm_sync_opts *o)
{
	o->jobs = c->jobs;
	o->open.streams = c->streams;
	o->open.compress = c->compress;
	o->open.ssh_command = c->rsh;
	o->open.remote_bin = c->remote_bin;
	o->open.os = &c->os;
	o->filter = f->n ? f : NULL;
}

void gm_sync_cli_quote(struct gm_buf *out, const char *path, size_t len)
{
	const unsigned char *p = (const unsigned char *)path;
	size_t i = 0;
	while (i < len) {
		size_t n = p[i] >= 0x80 ? gm_utf8_len(p + i, len - i) : 1;
		if (p[i] >= 0x80 && n > 0) {
			gm_buf_add(out, path + i, n);
			i += n;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] >= 0x80 || p[i] == '\\')
			gm_buf_addf(out, "\\#%03o", p[i]);
		else
			gm_buf_addch(out, (char)p[i]);
		i++;
	}
}

void gm_sync_cli_bytes(struct gm_buf *out, uint64_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5)
		v /= 1024, u++;
	if (u == 0)
		gm_buf_addf(out, "%" PRIu64 " B", n);
	else
		gm_buf_addf(out, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void add_duration(struct gm_buf *out, double s)
{
	uint64_t t = (uint64_t)(s + 0.5);
	if (t >= 3600)
		gm_buf_addf(out, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, t / 3600, t / 60 % 60,
		            t % 60);
	else
		gm_buf_addf(out, "%" PRIu64 ":%02" PRIu64, t / 60, t % 60);
}

void gm_sync_cli_progress_line(struct gm_buf *out, const struct gm_sync_stats *st, double rate,
                               bool final)
{
	gm_sync_cli_bytes(out, st->bytes_done);
	gm_buf_adds(out, " / ");
	gm_sync_cli_bytes(out, st->bytes_total);
	if (st->bytes_total)
		gm_buf_addf(out, " (%u%%)",
		            (unsigned)(st->bytes_done >= st->bytes_total
		                               ? 100
		                               : st->bytes_done * 100 / st->bytes_total));
	gm_buf_addf(out, "  files %" PRIu64 "/%" PRIu64 "  ", st->files_done, st->files);
	gm_sync_cli_bytes(out, (uint64_t)(rate > 0 ? rate : 0));
	gm_buf_adds(out, "/s");
	if (final) {
		gm_buf_adds(out, "  in ");
		add_duration(out, st->seconds);
	} else if (st->scanning) {
		gm_buf_adds(out, "  scanning");
	} else if (rate > 1 && st->bytes_total > st->bytes_done) {
		gm_buf_adds(out, "  ETA ");
		add_duration(out, (double)(st->bytes_total - st->bytes_done) / rate);
	}
}

void gm_sync_cli_summary(struct gm_buf *out, const struct gm_sync_stats *st)
{
	gm_buf_addf(out,
	            "%" PRIu64 " files: %" PRIu64 " copied, %" PRIu64 " unchanged, %" PRIu64
	            " deleted, %" PRIu64 " failed; ",
	            st->files, st->copied, st->unchanged, st->deleted, st->failed);
	gm_sync_cli_bytes(out, st->bytes_sent);
	gm_buf_addf(out, " sent in %.2f s", st->seconds);
	if (st->resumed_bytes) {
		gm_buf_adds(out, " (");
		gm_sync_cli_bytes(out, st->resumed_bytes);
		gm_buf_adds(out, " resumed)");
	}
}

volatile sig_atomic_t gm_sync_cli_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	gm_sync_cli_stop = 1;
	gm_os_http_stop = 1; /* object store requests end between attempts and transfers */
}

void gm_sync_cli_catch_signals(void)
{
	gm_cli_catch_stop(on_stop_signal, false);
}

void gm_sync_cli_clear_line(bool *shown)
{
	if (*shown) {
		fputs("\r\033[K", stderr);
		*shown = false;
	}
}

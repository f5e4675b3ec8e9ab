/* `gpumigrate bench net`: the server side (`--serve`) and the client that measures TCP
 * round-trip latency and throughput to it, checks them against thresholds (flags, or the
 * plan's network section), and explains a shortfall that is only the link's ceiling. */
#include "cli/bench_cmds.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "assess/plan.h"
#include "bench/net.h"
#include "bench/result.h"
#include "bench/stats.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum {
	OPT_SERVE = 1000,
	OPT_LISTEN,
	OPT_TIME = 't',
	OPT_PARALLEL = 'P',
	OPT_REVERSE = 'R',
	OPT_LATENCY_ONLY = 1100,
	OPT_THROUGHPUT_ONLY,
	OPT_PINGS = 'n',
	OPT_MSG_SIZE = 1200,
	OPT_WARMUP,
	OPT_MAX_RTT,
	OPT_MIN_GBPS,
	OPT_PLAN = 'p',
	OPT_OUTPUT = 'o',
};

const struct gm_opt gm_cmd_bench_net_opts[] = {
        {OPT_SERVE, "serve", 0, GM_ARG_NONE, NULL,
         "run the server the client measures against (until interrupted)", NULL},
        {OPT_LISTEN, "listen", 0, GM_ARG_REQUIRED, "ADDR:PORT",
         "with --serve: address and port to listen on (default every address, port 5301; "
         "port 0 picks a free one)",
         NULL},
        {OPT_TIME, "time", 't', GM_ARG_REQUIRED, "DURATION",
         "throughput measurement time, and the latency phase's cap (default 10s)", NULL},
        {OPT_WARMUP, "warmup", 0, GM_ARG_REQUIRED, "DURATION",
         "throughput: time before bytes are counted (default 1s)", NULL},
        {OPT_PARALLEL, "parallel", 'P', GM_ARG_REQUIRED, "STREAMS",
         "parallel TCP streams for the throughput test (default 4)", NULL},
        {OPT_REVERSE, "reverse", 'R', GM_ARG_NONE, NULL, "the server sends and this side receives",
         NULL},
        {OPT_LATENCY_ONLY, "latency-only", 0, GM_ARG_NONE, NULL, "measure round trips only", NULL},
        {OPT_THROUGHPUT_ONLY, "throughput-only", 0, GM_ARG_NONE, NULL, "measure throughput only",
         NULL},
        {OPT_PINGS, "pings", 'n', GM_ARG_REQUIRED, "N",
         "round trips to measure after 200 warm-up ones (default 10000)", NULL},
        {OPT_MSG_SIZE, "message-size", 0, GM_ARG_REQUIRED, "BYTES",
         "size of each round-trip message (8 to 65536, default 64)", NULL},
        {OPT_MAX_RTT, "max-rtt", 0, GM_ARG_REQUIRED, "DURATION",
         "threshold: the 99th-percentile round trip at most this (default the plan's "
         "network.latency)",
         NULL},
        {OPT_MIN_GBPS, "min-gbps", 0, GM_ARG_REQUIRED, "GBPS",
         "threshold: total throughput at least this many Gbit/s (default the plan's "
         "network.bandwidth)",
         NULL},
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE", "take thresholds from this plan", "file"},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "write the result document (gpumigrate.bench/v1) to FILE", "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static volatile sig_atomic_t net_stop;

static void on_stop(int sig)
{
	(void)sig;
	net_stop = 1;
}

static int serve(struct gm_cli *cli, const char *listen)
{
	struct gm_buf host = GM_BUF_INIT, line = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_bench_net_server srv;
	uint16_t port;
	int code = GM_EXIT_OK;
	gm_bench_net_server_init(&srv);
	if (gm_bench_net_parse_addr(listen ? listen : "", GM_BENCH_NET_PORT, &host, &port, &err) !=
	    GM_OK) {
		code = gm_cli_usage_error(cli, "--listen %s", gm_err_msg(&err));
		goto out;
	}
	gm_cli_catch_stop(on_stop, false);
	if (gm_bench_net_listen(&srv, gm_buf_cstr(&host), port, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		if (err.rc == GM_ERR_IO || err.rc == GM_ERR_PERMISSION)
			gm_hint("pick another port with --listen ADDR:PORT");
		goto out;
	}
	gm_buf_addf(&line, "bench net: listening on %s\n", gm_buf_cstr(&srv.addr));
	code = gm_cli_emit(&line);
	if (code != GM_EXIT_OK)
		goto out;
	if (gm_bench_net_serve(&srv, &net_stop, &err) != GM_OK)
		code = gm_cli_fail(cli, &err);
out:
	gm_bench_net_server_release(&srv);
	gm_buf_release(&host);
	gm_buf_release(&line);
	gm_err_release(&err);
	return code;
}

/* One threshold and how it came out. */
struct check {
	const char *name;
	const char *unit;
	double threshold, measured;
	const char *from; /* "flag --max-rtt" or the plan's provenance */
	enum gm_bench_net_verdict verdict;
	struct gm_buf note;
};

static void judge(const struct gm_bench_net_result *r, const struct gm_stats_summary *rtt,
                  const struct gm_plan_num *max_rtt_ms, const struct gm_plan_num *min_bps,
                  struct check *checks, size_t *n)
{
	*n = 0;
	if (max_rtt_ms->set && r->n_rtt) {
		struct check *c = &checks[(*n)++];
		c->name = "rtt p99";
		c->unit = "us";
		c->threshold = max_rtt_ms->v * 1000;
		c->measured = rtt->p99;
		c->from = max_rtt_ms->src;
		c->verdict = c->measured <= c->threshold ? GM_BENCH_NET_PASS : GM_BENCH_NET_FAIL;
	}
	if (min_bps->set && r->has_throughput) {
		struct check *c = &checks[(*n)++];
		const struct gm_bench_net_link *l = &r->link;
		c->name = "throughput";
		c->unit = "Gbps";
		c->threshold = min_bps->v / 1e9;
		c->measured = r->total_gbps;
		c->from = min_bps->src;
		c->verdict = gm_bench_net_judge_gbps(c->measured, c->threshold, l->ceiling_known,
		                                     l->ceiling_gbps);
		if (l->ceiling_known && c->threshold > l->ceiling_gbps)
			gm_buf_addf(
			        &c->note,
			        "%s (%.0f Mbit/s, MTU %u) carries at most %.2f Gbps of TCP "
			        "payload, below the %.3g Gbps asked for%s",
			        l->ifname, l->speed_mbps, l->mtu, l->ceiling_gbps, c->threshold,
			        c->verdict == GM_BENCH_NET_AT_CEILING
			                ? "; the measured rate is at that ceiling, so the link, "
			                  "not the hosts, is the limit"
			                : "");
	}
}

static void params_json(const struct gm_bench_net_opts *o, struct gm_buf *out)
{
	struct gm_json j;
	gm_json_init(&j, out, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "host", o->host);
	gm_json_uint(&j, "port", o->port);
	gm_json_bool(&j, "latency", o->latency);
	gm_json_bool(&j, "throughput", o->throughput);
	gm_json_uint(&j, "pings", o->pings);
	gm_json_uint(&j, "warmup_pings", o->warm_pings);
	gm_json_uint(&j, "message_size", o->msg_size);
	gm_json_double(&j, "duration_s", o->duration_s);
	gm_json_double(&j, "warmup_s", o->warmup_s);
	gm_json_int(&j, "streams", o->streams);
	gm_json_bool(&j, "reverse", o->reverse);
	gm_json_str(&j, "implementation", "gpumigrate (own TCP sender/receiver)");
	gm_json_end_object(&j);
}

static void link_json(const struct gm_bench_net_result *r, struct gm_buf *out)
{
	const struct gm_bench_net_link *l = &r->link;
	struct gm_json j;
	gm_json_init(&j, out, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "peer", gm_buf_cstr(&r->peer));
	gm_json_str(&j, "local", gm_buf_cstr(&r->local));
	if (l->ifname[0])
		gm_json_str(&j, "interface", l->ifname);
	else
		gm_json_null(&j, "interface");
	if (l->speed_known)
		gm_json_double(&j, "speed_mbps", l->speed_mbps);
	else
		gm_json_null(&j, "speed_mbps");
	if (l->mtu_known)
		gm_json_uint(&j, "mtu", l->mtu);
	else
		gm_json_null(&j, "mtu");
	gm_json_bool(&j, "ipv6", l->ipv6);
	gm_json_bool(&j, "tcp_timestamps", l->timestamps);
	if (l->ceiling_known)
		gm_json_double(&j, "tcp_ceiling_gbps", l->ceiling_gbps);
	else
		gm_json_null(&j, "tcp_ceiling_gbps");
	gm_json_end_object(&j);
}

static void checks_json(const struct check *c, size_t n, struct gm_buf *out)
{
	struct gm_json j;
	gm_json_init(&j, out, false);
	gm_json_begin_array(&j, NULL);
	for (size_t i = 0; i < n; i++) {
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "name", c[i].name);
		gm_json_str(&j, "unit", c[i].unit);
		gm_json_double(&j, "threshold", c[i].threshold);
		gm_json_double(&j, "measured", c[i].measured);
		gm_json_str(&j, "from", c[i].from);
		gm_json_str(&j, "verdict",
		            c[i].verdict == GM_BENCH_NET_FAIL         ? "fail"
		            : c[i].verdict == GM_BENCH_NET_AT_CEILING ? "pass-link-ceiling"
		                                                      : "pass");
		if (c[i].note.len)
			gm_json_str(&j, "note", gm_buf_cstr(&c[i].note));
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
}

static void render(const struct gm_cli *cli, const struct gm_bench_net_result *r,
                   const struct gm_stats_summary *rtt, const struct check *checks, size_t n_checks,
                   struct gm_buf *out)
{
	const struct gm_bench_net_link *l = &r->link;
	gm_buf_addf(out, "peer %s from %s", gm_buf_cstr(&r->peer), gm_buf_cstr(&r->local));
	if (l->ifname[0])
		gm_buf_addf(out, " via %s", l->ifname);
	if (l->speed_known)
		gm_buf_addf(out, " (%.0f Mbit/s", l->speed_mbps);
	if (l->mtu_known)
		gm_buf_addf(out, "%sMTU %u", l->speed_known ? ", " : " (", l->mtu);
	if (l->speed_known || l->mtu_known)
		gm_buf_adds(out, ")");
	if (l->ceiling_known)
		gm_buf_addf(out, ", TCP payload ceiling %.2f Gbps", l->ceiling_gbps);
	gm_buf_adds(out, "\n\n");

	static const char *const headers[] = {"test", "value", "unit", "detail"};
	struct gm_table t;
	gm_table_init(&t, 4, headers);
	gm_table_align_right(&t, 1);
	if (r->n_rtt) {
		static const char *const names[] = {"rtt min", "rtt p50", "rtt p90", "rtt p99",
		                                    "rtt max"};
		double v[] = {rtt->min, rtt->p50, rtt->p90, rtt->p99, rtt->max};
		for (size_t i = 0; i < 5; i++) {
			gm_table_add_row(&t);
			gm_table_set(&t, 0, names[i], GM_COLOR_NONE);
			gm_table_setf(&t, 1, GM_COLOR_NONE, "%.1f", v[i]);
			gm_table_set(&t, 2, "us", GM_COLOR_NONE);
			if (i == 0)
				gm_table_setf(&t, 3, GM_COLOR_NONE,
				              "%zu round trips, one in flight", r->n_rtt);
		}
	}
	if (r->has_throughput) {
		gm_table_add_row(&t);
		gm_table_set(&t, 0, "throughput", GM_COLOR_BOLD);
		gm_table_setf(&t, 1, GM_COLOR_NONE, "%.2f", r->total_gbps);
		gm_table_set(&t, 2, "Gbps", GM_COLOR_NONE);
		gm_table_setf(&t, 3, GM_COLOR_NONE, "%d stream%s, %.1f s", r->n_streams,
		              r->n_streams == 1 ? "" : "s", r->seconds);
		for (int i = 0; i < r->n_streams && r->n_streams > 1; i++) {
			gm_table_add_row(&t);
			gm_table_setf(&t, 0, GM_COLOR_NONE, "  stream %d", i + 1);
			gm_table_setf(&t, 1, GM_COLOR_NONE, "%.2f", r->stream_gbps[i]);
			gm_table_set(&t, 2, "Gbps", GM_COLOR_NONE);
		}
	}
	gm_table_render(&t, cli->color_stdout, out);
	gm_table_release(&t);
	if (n_checks) {
		gm_buf_adds(out, "\n");
		static const char *const ch[] = {"check", "threshold", "measured", "verdict",
		                                 "from"};
		gm_table_init(&t, 5, ch);
		for (size_t i = 0; i < n_checks; i++) {
			const struct check *c = &checks[i];
			bool us = strcmp(c->unit, "us") == 0;
			gm_table_add_row(&t);
			gm_table_set(&t, 0, c->name, GM_COLOR_NONE);
			gm_table_setf(&t, 1, GM_COLOR_NONE, "%s %.4g %s",
			              us ? "<=" : ">=", c->threshold, c->unit);
			gm_table_setf(&t, 2, GM_COLOR_NONE, "%.4g %s", c->measured, c->unit);
			gm_table_set(&t, 3, gm_bench_net_verdict_name(c->verdict),
			             c->verdict == GM_BENCH_NET_FAIL ? GM_COLOR_RED
			                                             : GM_COLOR_GREEN);
			gm_table_set(&t, 4, c->from, GM_COLOR_DIM);
		}
		gm_table_render(&t, cli->color_stdout, out);
		gm_table_release(&t);
		for (size_t i = 0; i < n_checks; i++)
			if (checks[i].note.len)
				gm_buf_addf(out, "note: %s\n", gm_buf_cstr(&checks[i].note));
	}
}

/* A duration (10s, 500ms, 2min) or, as iperf takes -t, a bare number of seconds; in ms. */
static bool parse_seconds(const char *s, double *ms)
{
	if (gm_parse_duration_ms(s, ms))
		return true;
	char *end = NULL;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0) || !isfinite(v))
		return false;
	*ms = v * 1000;
	return true;
}

static bool parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return gm_parse_u64(s, 10, out) == GM_OK && *out >= min && *out <= max;
}

int gm_cmd_bench_net(struct gm_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct gm_bench_net_opts o;
	struct gm_bench_net_result r;
	struct gm_bench_result doc;
	struct gm_plan plan;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf host = GM_BUF_INIT, out = GM_BUF_INIT, raw = GM_BUF_INIT;
	struct gm_plan_num max_rtt = {0}, min_bps = {0};
	struct check checks[2];
	size_t n_checks = 0;
	bool serve_mode = false, lat_only = false, tp_only = false;
	const char *listen = NULL, *plan_path = NULL, *output = NULL;
	double d;
	uint64_t u;
	int code = GM_EXIT_OK;
	int id;

	gm_bench_net_opts_default(&o);
	gm_bench_net_result_init(&r);
	gm_bench_result_init(&doc);
	gm_plan_init(&plan);
	memset(checks, 0, sizeof(checks));
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: goto out;
		case OPT_SERVE: serve_mode = true; break;
		case OPT_LISTEN: listen = cli->optarg; break;
		case OPT_TIME:
		case OPT_WARMUP:
			if (!parse_seconds(cli->optarg, &d) || (id == OPT_TIME && !(d > 0)) ||
			    d > 24 * 3600e3) {
				code = gm_cli_usage_error(
				        cli, "--%s '%s': expected a duration such as 10s",
				        id == OPT_TIME ? "time" : "warmup", cli->optarg);
				goto out;
			}
			if (id == OPT_TIME)
				o.duration_s = d / 1000;
			else
				o.warmup_s = d / 1000;
			break;
		case OPT_PARALLEL:
			if (!parse_count(cli->optarg, 1, GM_BENCH_NET_MAX_STREAMS, &u)) {
				code = gm_cli_usage_error(cli, "--parallel '%s': expected 1 to %d",
				                          cli->optarg, GM_BENCH_NET_MAX_STREAMS);
				goto out;
			}
			o.streams = (int)u;
			break;
		case OPT_REVERSE: o.reverse = true; break;
		case OPT_LATENCY_ONLY: lat_only = true; break;
		case OPT_THROUGHPUT_ONLY: tp_only = true; break;
		case OPT_PINGS:
			if (!parse_count(cli->optarg, 1, 1000000, &o.pings)) {
				code = gm_cli_usage_error(
				        cli, "--pings '%s': expected 1 to 1000000", cli->optarg);
				goto out;
			}
			break;
		case OPT_MSG_SIZE:
			if (!parse_count(cli->optarg, 8, GM_BENCH_NET_MAX_MSG, &u)) {
				code = gm_cli_usage_error(cli,
				                          "--message-size '%s': expected 8 to %d",
				                          cli->optarg, GM_BENCH_NET_MAX_MSG);
				goto out;
			}
			o.msg_size = (size_t)u;
			break;
		case OPT_MAX_RTT:
			if (!gm_parse_duration_ms(cli->optarg, &d) || !(d > 0)) {
				code = gm_cli_usage_error(
				        cli,
				        "--max-rtt '%s': expected a duration such "
				        "as 1ms or 500us",
				        cli->optarg);
				goto out;
			}
			gm_plan_num_set(&max_rtt, d, "flag --max-rtt");
			break;
		case OPT_MIN_GBPS: {
			char *end = NULL;
			d = strtod(cli->optarg, &end);
			if (end == cli->optarg || *end || !(d > 0) || d > 1e6) {
				code = gm_cli_usage_error(cli,
				                          "--min-gbps '%s': expected a positive "
				                          "number of Gbit/s",
				                          cli->optarg);
				goto out;
			}
			gm_plan_num_set(&min_bps, d * 1e9, "flag --min-gbps");
			break;
		}
		case OPT_PLAN: plan_path = cli->optarg; break;
		case OPT_OUTPUT: output = cli->optarg; break;
		default: code = gm_cli_usage_error(cli, "unhandled option"); goto out;
		}
	}
	int n_args;
	char **args = gm_cli_args(cli, &n_args);
	if (serve_mode) {
		if (n_args > 0) {
			code = gm_cli_usage_error(cli, "--serve takes no HOST (use --listen)");
			goto out;
		}
		code = serve(cli, listen);
		goto out;
	}
	if (listen) {
		code = gm_cli_usage_error(cli, "--listen goes with --serve");
		goto out;
	}
	if (n_args != 1) {
		code = gm_cli_usage_error(cli, n_args ? "one HOST[:PORT] only"
		                                      : "expected HOST[:PORT] (or --serve)");
		goto out;
	}
	if (lat_only && tp_only) {
		code = gm_cli_usage_error(cli, "--latency-only and --throughput-only exclude each "
		                               "other");
		goto out;
	}
	o.latency = !tp_only;
	o.throughput = !lat_only;
	if (gm_bench_net_parse_addr(args[0], GM_BENCH_NET_PORT, &host, &o.port, &err) != GM_OK) {
		code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
		goto out;
	}
	if (host.len == 0 || o.port == 0) {
		code = gm_cli_usage_error(cli, "'%s': expected HOST or HOST:PORT (port 1 to 65535)",
		                          args[0]);
		goto out;
	}
	o.host = gm_buf_cstr(&host);
	if (plan_path) {
		if (gm_plan_load(&plan, plan_path, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		if (!max_rtt.set && plan.latency_ms.set)
			gm_plan_num_set(&max_rtt, plan.latency_ms.v, "%s", plan.latency_ms.src);
		if (!min_bps.set && plan.bandwidth_bps.set)
			gm_plan_num_set(&min_bps, plan.bandwidth_bps.v, "%s",
			                plan.bandwidth_bps.src);
	}
	gm_cli_catch_stop(on_stop, false);
	o.stop = &net_stop;
	if (gm_bench_net_run(&o, &r, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		if (err.rc == GM_ERR_UNREACHABLE || err.rc == GM_ERR_PROTOCOL)
			gm_hint("start 'gpumigrate bench net --serve' on '%s' (port %u) and let "
			        "the "
			        "port through its firewall",
			        o.host, (unsigned)o.port);
		goto out;
	}

	/* The result document. */
	gm_bench_result_begin(&doc, "net");
	struct gm_stats_summary rtt;
	gm_stats_summarize(r.rtt_us, r.n_rtt, &rtt);
	if (r.n_rtt) {
		struct gm_bench_figure *f =
		        gm_bench_result_add_figure(&doc, "net.rtt", "us", GM_BETTER_LOWER);
		for (size_t i = 0; i < r.n_rtt; i++)
			gm_bench_figure_add_sample(f, r.rtt_us[i]);
		gm_bench_figure_summarize(f);
	}
	if (r.has_throughput) {
		struct gm_bench_figure *f = gm_bench_result_add_figure(&doc, "net.throughput",
		                                                       "Gbps", GM_BETTER_HIGHER);
		for (size_t i = 0; i < r.n_intervals; i++)
			gm_bench_figure_add_sample(f, r.interval_gbps[i]);
		gm_bench_figure_summarize(f);
		for (int i = 0; i < r.n_streams; i++) {
			struct gm_buf name = GM_BUF_INIT;
			gm_buf_addf(&name, "net.throughput.stream%d", i + 1);
			f = gm_bench_result_add_figure(&doc, gm_buf_cstr(&name), "Gbps",
			                               GM_BETTER_HIGHER);
			gm_bench_figure_add_sample(f, r.stream_gbps[i]);
			gm_bench_figure_summarize(f);
			gm_buf_release(&name);
		}
		gm_bench_result_set_counter(&doc, "bytes", (int64_t)r.bytes);
		gm_bench_result_set_counter(&doc, "streams", r.n_streams);
	}
	judge(&r, &rtt, &max_rtt, &min_bps, checks, &n_checks);
	params_json(&o, &raw);
	gm_bench_result_set_raw(&doc, "params", gm_buf_cstr(&raw), NULL);
	gm_buf_reset(&raw);
	link_json(&r, &raw);
	gm_bench_result_set_raw(&doc, "link", gm_buf_cstr(&raw), NULL);
	gm_buf_reset(&raw);
	checks_json(checks, n_checks, &raw);
	gm_bench_result_set_raw(&doc, "checks", gm_buf_cstr(&raw), NULL);
	code = gm_bench_cli_save(cli, &doc, true, output, &out);
	if (code != GM_EXIT_OK)
		goto out;
	if (!cli->json)
		render(cli, &r, &rtt, checks, n_checks, &out);
	code = gm_cli_emit(&out);
	for (size_t i = 0; i < n_checks && code == GM_EXIT_OK; i++)
		if (checks[i].verdict == GM_BENCH_NET_FAIL)
			code = GM_EXIT_FINDINGS;
out:
	for (size_t i = 0; i < n_checks; i++)
		gm_buf_release(&checks[i].note);
	free(max_rtt.src);
	free(min_bps.src);
	gm_plan_release(&plan);
	gm_bench_result_release(&doc);
	gm_bench_net_result_release(&r);
	gm_buf_release(&host);
	gm_buf_release(&out);
	gm_buf_release(&raw);
	gm_err_release(&err);
	return code;
}

/* `gpumigrate bench http`: the REST endpoint's latency percentiles, errors and throughput
 * from this machine, closed-loop or at a constant rate (coordinated omission corrected). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/httpprobe.h"
#include "bench/result.h"
#include "cli/bench_cmds.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum {
	OPT_CONNS = 1,
	OPT_DURATION,
	OPT_REQUESTS,
	OPT_RATE,
	OPT_HEADER,
	OPT_TIMEOUT,
	OPT_OUTPUT,
	OPT_NO_INVENTORY,
};

#define MAX_HEADERS 64

const struct gm_opt gm_cmd_bench_http_opts[] = {
        {OPT_CONNS, "connections", 'c', GM_ARG_REQUIRED, "CONN",
         "keep-alive connections, one request in flight on each (default 1)", NULL},
        {OPT_DURATION, "duration", 'd', GM_ARG_REQUIRED, "DURATION",
         "send for this long: 10s, 500ms, 2m (default 10s)", NULL},
        {OPT_REQUESTS, "requests", 'n', GM_ARG_REQUIRED, "REQUESTS",
         "send this many requests instead of running for a duration", NULL},
        {OPT_RATE, "rate", 'R', GM_ARG_REQUIRED, "R",
         "constant rate, requests per second in total; latency counts from each request's "
         "scheduled time",
         NULL},
        {OPT_HEADER, "header", 'H', GM_ARG_REQUIRED, "'NAME: VALUE'",
         "add a request header (repeatable)", NULL},
        {OPT_TIMEOUT, "timeout", 0, GM_ARG_REQUIRED, "DURATION",
         "give up on a request after this long, connect included (default 10s)", NULL},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "write the result document (gpumigrate.bench/v1) to FILE", "file"},
        {OPT_NO_INVENTORY, "no-inventory", 0, GM_ARG_NONE, NULL,
         "do not collect this machine's inventory into the result", NULL},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static void add_row(struct gm_table *t, const char *what, const char *value)
{
	gm_table_add_row(t);
	gm_table_set(t, 0, what, GM_COLOR_NONE);
	gm_table_set(t, 1, value, GM_COLOR_NONE);
}

static void http_table(const struct gm_http_probe *p, bool color, struct gm_buf *out)
{
	static const char *const head[] = {"", "value"};
	struct gm_table t;
	struct gm_buf v = GM_BUF_INIT;
	struct gm_stats_summary s;
	gm_hist_summarize(&p->hist, &s);
	gm_table_init(&t, 2, head);
	gm_table_align_right(&t, 1);
	const struct {
		const char *name;
		double v;
	} lat[] = {{"latency p50", s.p50},    {"latency p90", s.p90}, {"latency p99", s.p99},
	           {"latency p99.9", s.p999}, {"latency max", s.max}, {"latency mean", s.mean}};
	for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
		gm_buf_reset(&v);
		gm_bench_cli_format(lat[i].v, "s", &v);
		add_row(&t, lat[i].name, gm_buf_cstr(&v));
	}
	double secs = p->elapsed_s > 0 ? p->elapsed_s : NAN;
	gm_buf_reset(&v);
	gm_buf_addf(&v, "%.1f", (double)p->responses / secs);
	add_row(&t, "requests/s", isnan(secs) ? "-" : gm_buf_cstr(&v));
	gm_buf_reset(&v);
	gm_bench_cli_format((double)p->bytes / secs, "B/s", &v);
	add_row(&t, "transfer", gm_buf_cstr(&v));
	const struct {
		const char *name;
		uint64_t n;
	} counts[] = {{"requests sent", p->sent},          {"responses", p->responses},
	              {"errors: connect", p->err_connect}, {"errors: timeout", p->err_timeout},
	              {"errors: HTTP 4xx", p->err_4xx},    {"errors: HTTP 5xx", p->err_5xx},
	              {"errors: other", p->err_other}};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		gm_buf_reset(&v);
		gm_buf_addf(&v, "%llu", (unsigned long long)counts[i].n);
		add_row(&t, counts[i].name, gm_buf_cstr(&v));
	}
	gm_buf_reset(&v);
	gm_buf_addf(&v, "%.3f s", p->elapsed_s);
	add_row(&t, "elapsed", gm_buf_cstr(&v));
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	gm_buf_release(&v);
}

int gm_cmd_bench_http(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_http_probe_opts o = {0};
	const char *headers[MAX_HEADERS];
	const char *output = NULL;
	bool no_inventory = false, has_duration = false;
	int id, code = GM_EXIT_OK;
	uint64_t u = 0;
	o.conns = 1;
	o.duration_s = 10;
	o.timeout_s = 10;
	o.headers = headers;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		switch (id) {
		case -2: return code;
		case OPT_CONNS:
			if (gm_parse_u64(a, 10, &u) != GM_OK || u < 1 || u > GM_HTTP_MAX_CONNS)
				return gm_cli_usage_error(cli,
				                          "--connections takes 1 to %d, not '%s'",
				                          GM_HTTP_MAX_CONNS, a);
			o.conns = (unsigned)u;
			break;
		case OPT_DURATION:
			if (!gm_bench_cli_parse_duration(a, &o.duration_s) || o.duration_s <= 0)
				return gm_cli_usage_error(
				        cli,
				        "--duration takes a duration such as 10s, "
				        "not '%s'",
				        a);
			has_duration = true;
			break;
		case OPT_REQUESTS:
			if (gm_parse_u64(a, 10, &o.requests) != GM_OK || o.requests < 1)
				return gm_cli_usage_error(
				        cli, "--requests takes a count ≥ 1, not '%s'", a);
			break;
		case OPT_RATE: {
			char *end = NULL;
			o.rate = strtod(a, &end);
			if (end == a || *end || !isfinite(o.rate) || o.rate <= 0)
				return gm_cli_usage_error(
				        cli,
				        "--rate takes requests per second such as 500, not '%s'",
				        a);
			break;
		}
		case OPT_HEADER:
			if (o.n_headers == MAX_HEADERS)
				return gm_cli_usage_error(cli, "at most %d --header options",
				                          MAX_HEADERS);
			if (!strchr(a, ':') || a[0] == ':' || strpbrk(a, "\r\n"))
				return gm_cli_usage_error(
				        cli, "--header takes 'Name: value', not '%s'", a);
			headers[o.n_headers++] = a;
			break;
		case OPT_TIMEOUT:
			if (!gm_bench_cli_parse_duration(a, &o.timeout_s) || o.timeout_s <= 0)
				return gm_cli_usage_error(cli,
				                          "--timeout takes a duration such as 2s, "
				                          "not '%s'",
				                          a);
			break;
		case OPT_OUTPUT: output = a; break;
		case OPT_NO_INVENTORY: no_inventory = true; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc != 1)
		return gm_cli_usage_error(cli, "bench http takes one URL");
	if (has_duration && o.requests)
		return gm_cli_usage_error(cli, "--duration and --requests exclude each other");
	if (o.requests)
		o.duration_s = 0;
	o.url = args[0];

	struct gm_http_probe p;
	struct gm_bench_result r;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf table = GM_BUF_INIT, params = GM_BUF_INIT;
	struct gm_json j;
	gm_http_probe_init(&p);
	gm_bench_result_init(&r);
	gm_bench_result_begin(&r, "http");
	if (o.requests)
		gm_info("sending %llu requests to '%s' on %u connection(s)",
		        (unsigned long long)o.requests, o.url, o.conns);
	else
		gm_info("sending requests to '%s' on %u connection(s) for %g s", o.url, o.conns,
		        o.duration_s);
	if (gm_http_probe_run(&o, &p, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	gm_json_init(&j, &params, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "url", o.url);
	gm_json_uint(&j, "connections", o.conns);
	if (o.requests)
		gm_json_uint(&j, "requests", o.requests);
	else
		gm_json_double(&j, "duration_s", o.duration_s);
	if (o.rate > 0)
		gm_json_double(&j, "rate", o.rate);
	else
		gm_json_null(&j, "rate");
	gm_json_double(&j, "timeout_s", o.timeout_s);
	gm_json_double(&j, "elapsed_s", p.elapsed_s);
	gm_json_end_object(&j);
	gm_bench_result_set_raw(&r, "params", gm_buf_cstr(&params), NULL);

	struct gm_bench_figure *lat =
	        gm_bench_result_add_figure(&r, "latency", "s", GM_BETTER_LOWER);
	for (size_t i = 0; i < p.n_samples; i++)
		gm_bench_figure_add_sample(lat, p.samples[i]);
	gm_hist_summarize(&p.hist, &lat->summary);
	if (p.elapsed_s > 0) {
		struct gm_bench_figure *f = gm_bench_result_add_figure(&r, "requests_per_second",
		                                                       "1/s", GM_BETTER_HIGHER);
		gm_bench_figure_add_sample(f, (double)p.responses / p.elapsed_s);
		gm_bench_figure_summarize(f);
		f = gm_bench_result_add_figure(&r, "bytes_per_second", "B/s", GM_BETTER_HIGHER);
		gm_bench_figure_add_sample(f, (double)p.bytes / p.elapsed_s);
		gm_bench_figure_summarize(f);
	}
	gm_bench_result_set_counter(&r, "sent", (int64_t)p.sent);
	gm_bench_result_set_counter(&r, "responses", (int64_t)p.responses);
	gm_bench_result_set_counter(&r, "ok", (int64_t)p.ok);
	gm_bench_result_set_counter(&r, "errors_connect", (int64_t)p.err_connect);
	gm_bench_result_set_counter(&r, "errors_timeout", (int64_t)p.err_timeout);
	gm_bench_result_set_counter(&r, "errors_4xx", (int64_t)p.err_4xx);
	gm_bench_result_set_counter(&r, "errors_5xx", (int64_t)p.err_5xx);
	gm_bench_result_set_counter(&r, "errors_other", (int64_t)p.err_other);
	gm_bench_result_set_counter(&r, "bytes", (int64_t)p.bytes);
	gm_bench_cli_inventory(&r, no_inventory);
	http_table(&p, cli->color_stdout, &table);
	code = gm_bench_cli_emit(cli, &r, output, &table);
	if (code != GM_EXIT_OK)
		goto out;
	uint64_t failed = p.sent - p.ok;
	if (p.responses == 0) {
		gm_error("no request to '%s' got a response (%s)", o.url,
		         p.first_error[0] ? p.first_error : "no response");
		code = GM_EXIT_ERROR;
	} else if (failed) {
		gm_warn("%llu of %llu requests failed", (unsigned long long)failed,
		        (unsigned long long)p.sent);
		code = GM_EXIT_FINDINGS;
	}
out:
	gm_buf_release(&params);
	gm_buf_release(&table);
	gm_err_release(&err);
	gm_bench_result_release(&r);
	gm_http_probe_release(&p);
	return code;
}

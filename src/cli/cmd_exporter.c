/* `gpumigrate exporter`: serves the GPUs' metrics to Prometheus under dcgm-exporter's names
 * (monitor/exporter.h samples, monitor/http.h serves), with the exporter-toolkit web
 * configuration for TLS and basic auth, until SIGINT or SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "assess/plan.h"
#include "cli/commands.h"
#include "monitor/exporter.h"
#include "monitor/http.h"
#include "monitor/webconfig.h"
#include "util/log.h"
#include "util/banned.h"

enum { OPT_LISTEN = 1, OPT_INTERVAL, OPT_WEB_CONFIG, OPT_HOSTNAME, OPT_NVML_LIBRARY };

const struct gm_opt gm_cmd_exporter_opts[] = {
        {OPT_LISTEN, "listen", 'l', GM_ARG_REQUIRED, "ADDR:PORT",
         "address to serve on: ADDR:PORT, [IPv6]:PORT or :PORT for all (default :9400)", NULL},
        {OPT_INTERVAL, "interval", 'i', GM_ARG_REQUIRED, "DURATION",
         "how often NVML is sampled, 100ms to 1min (default 1s)", NULL},
        {OPT_WEB_CONFIG, "web-config", 0, GM_ARG_REQUIRED, "FILE",
         "TLS and basic auth settings (Prometheus exporter-toolkit web configuration file)",
         "file"},
        {OPT_HOSTNAME, "hostname", 0, GM_ARG_REQUIRED, "NAME",
         "value of the Hostname label (default: this host's name)", NULL},
        {OPT_NVML_LIBRARY, "nvml-library", 0, GM_ARG_REQUIRED, "FILE",
         "NVML library to load (default $GPUMIGRATE_NVML_LIBRARY or libnvidia-ml.so.1)", "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

#define CT_TEXT        "text/plain; version=0.0.4; charset=utf-8"
#define CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* The q value of one media range's parameters (";q=0.5;version=…"); 1 when absent, 0 for
 * anything malformed. */
static double media_q(const char *params, size_t len)
{
	double q = 1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (params[i] != ';')
			continue;
		size_t j = i + 1;
		while (j < len && (params[j] == ' ' || params[j] == '\t'))
			j++;
		if (j + 2 > len || (params[j] != 'q' && params[j] != 'Q') || params[j + 1] != '=')
			continue;
		j += 2;
		/* 0, 0.x, 0.xx, 0.xxx, 1, 1.0 … as RFC 9110 writes qvalues */
		if (j >= len || (params[j] != '0' && params[j] != '1'))
			return 0;
		q = params[j] - '0';
		double scale = 0.1;
		if (j + 1 < len && params[j + 1] == '.')
			for (size_t k = j + 2;
			     k < len && k < j + 5 && params[k] >= '0' && params[k] <= '9';
			     k++, scale /= 10)
				q += (params[k] - '0') * scale;
		if (q > 1)
			q = 1;
	}
	return q;
}

/* Whether the Accept header prefers OpenMetrics: its best q is above zero and at least that
 * of the text format (text/plain, text/any or any/any). */
static bool wants_openmetrics(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	double q_om = 0, q_text = 0;
	if (!accept)
		return false;
	size_t total = strnlen(accept, 4096);
	for (size_t start = 0; start < total;) {
		size_t end = start;
		while (end < total && accept[end] != ',')
			end++;
		size_t s = start;
		while (s < end && (accept[s] == ' ' || accept[s] == '\t'))
			s++;
		size_t t = s;
		while (t < end && accept[t] != ';' && accept[t] != ' ' && accept[t] != '\t')
			t++;
		size_t tlen = t - s;
		size_t p = t;
		while (p < end && accept[p] != ';')
			p++;
		double q = media_q(accept + p, end - p);
		if (tlen == sizeof(om) - 1 && strncasecmp(accept + s, om, tlen) == 0) {
			if (q > q_om)
				q_om = q;
		} else if ((tlen == 10 && strncasecmp(accept + s, "text/plain", 10) == 0) ||
		           (tlen == 6 && strncasecmp(accept + s, "text/*", 6) == 0) ||
		           (tlen == 3 && strncmp(accept + s, "*/*", 3) == 0)) {
			if (q > q_text)
				q_text = q;
		}
		start = end + 1;
	}
	return q_om > 0 && q_om >= q_text;
}

static void handle(void *ctx, const struct gm_http_request *req, struct gm_http_response *res)
{
	struct gm_exporter *ex = ctx;
	if (strcmp(req->path, "/metrics") == 0) {
		bool om = wants_openmetrics(req->accept);
		res->content_type = om ? CT_OPENMETRICS : CT_TEXT;
		gm_exporter_render(ex, om, &res->body);
	} else if (strcmp(req->path, "/healthz") == 0) {
		bool ok = gm_exporter_healthy(ex);
		res->status = ok ? 200 : 503;
		gm_buf_adds(&res->body, ok ? "ok\n" : "nvml unavailable\n");
	} else if (strcmp(req->path, "/") == 0) {
		res->content_type = "text/html; charset=utf-8";
		gm_buf_adds(
		        &res->body,
		        "<!DOCTYPE html>\n<html><head><title>gpumigrate exporter</title></head>\n"
		        "<body><h1>gpumigrate exporter</h1>\n"
		        "<p>GPU metrics from NVML under dcgm-exporter's names.</p>\n"
		        "<ul><li><a href=\"metrics\">/metrics</a></li>\n"
		        "<li><a href=\"healthz\">/healthz</a></li></ul>\n"
		        "<p>version " GM_VERSION "</p></body></html>\n");
	} else {
		res->status = 404;
		gm_buf_adds(&res->body, "not found: try /metrics\n");
	}
}

int gm_cmd_exporter(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_exporter_opts eo = {NULL, 1000, NULL, NULL};
	struct gm_http_opts ho = {":9400", NULL, 0, 0, 0, 0};
	const char *web_path = NULL;
	int id, code = GM_EXIT_OK;
	(void)argv;
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_LISTEN: ho.listen = cli->optarg; break;
		case OPT_INTERVAL: {
			double ms;
			if (!gm_parse_duration_ms(cli->optarg, &ms) || ms < 100 || ms > 60000)
				return gm_cli_usage_error(cli,
				                          "--interval '%s' must be a duration from "
				                          "100ms to 1min, as 1s or 500ms",
				                          cli->optarg);
			eo.interval_ms = (unsigned)ms;
			break;
		}
		case OPT_WEB_CONFIG: web_path = cli->optarg; break;
		case OPT_HOSTNAME:
			if (!*cli->optarg)
				return gm_cli_usage_error(cli, "--hostname must not be empty");
			eo.hostname = cli->optarg;
			break;
		case OPT_NVML_LIBRARY: eo.nvml_library = cli->optarg; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	if (argc > 0)
		return gm_cli_usage_error(cli, "exporter takes no operands (got '%s')", args[0]);

	struct gm_err err = GM_ERR_INIT;
	struct gm_web_config web;
	struct gm_exporter *ex = NULL;
	struct gm_http_server *srv = NULL;
	struct sockaddr_storage ss;
	bool any;
	unsigned port;
	gm_web_config_init(&web);
	if (gm_http_parse_listen(ho.listen, &ss, &any, &port, &err) != GM_OK) {
		code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
		goto out;
	}
	if (web_path) {
		enum gm_rc rc = gm_web_config_load(&web, web_path, &err);
		if (rc == GM_ERR_NOT_FOUND) {
			code = gm_cli_usage_error(cli, "%s", gm_err_msg(&err));
			goto out;
		}
		if (rc != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
		ho.web = &web;
	}

	/* SIGINT and SIGTERM are taken by sigwait below; blocked before any thread starts, so
	 * every thread inherits the mask and none of them is interrupted. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	if (gm_exporter_start(&ex, &eo, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	struct gm_http_handler h = {ex, handle};
	if (gm_http_start(&srv, &ho, &h, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		gm_hint("is another exporter running? choose another port with --listen");
		goto out;
	}
	gm_info("serving GPU metrics on '%s' (port %u)%s%s", ho.listen, gm_http_port(srv),
	        web.tls ? " with TLS" : "", gm_web_config_has_users(&web) ? ", basic auth" : "");
	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
	gm_debug("signal %d: stopping", sig);
out:
	gm_http_stop(srv);
	gm_exporter_stop(ex);
	gm_web_config_release(&web);
	gm_err_release(&err);
	return code;
}

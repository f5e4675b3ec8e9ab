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
#include "monitor/expo.h"
#include "monitor/exporter.h"
#include "monitor/http.h"
#include "monitor/podres.h"
#include "monitor/webconfig.h"
#include "util/log.h"
#include "util/banned.h"

enum {
	OPT_LISTEN = 1,
	OPT_INTERVAL,
	OPT_WEB_CONFIG,
	OPT_HOSTNAME,
	OPT_NVML_LIBRARY,
	OPT_POD_RESOURCES
};

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
        {OPT_POD_RESOURCES, "pod-resources", 0, GM_ARG_REQUIRED, "SOCKET",
         "kubelet pod-resources socket for pod, namespace and container labels, or 'none' "
         "(default " GM_PODRES_DEFAULT_SOCKET ")",
         "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static void handle(void *ctx, const struct gm_http_request *req, struct gm_http_response *res)
{
	struct gm_exporter *ex = ctx;
	if (strcmp(req->path, "/metrics") == 0) {
		bool om = gm_expo_wants_openmetrics(req->accept);
		res->content_type =
		        om ? GM_EXPO_CONTENT_TYPE_OPENMETRICS : GM_EXPO_CONTENT_TYPE_TEXT;
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
	struct gm_exporter_opts eo = {NULL, 1000, NULL, NULL, GM_PODRES_DEFAULT_SOCKET, 0};
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
		case OPT_POD_RESOURCES:
			if (!*cli->optarg)
				return gm_cli_usage_error(
				        cli, "--pod-resources must name a socket, or be 'none'");
			eo.pod_resources = strcmp(cli->optarg, "none") == 0 ? NULL : cli->optarg;
			break;
		}
	}
	/* the kubelet is asked every 5 samples, 1 s to 10 s apart */
	eo.pod_resources_interval_ms = eo.interval_ms * 5 < 1000    ? 1000
	                               : eo.interval_ms * 5 > 10000 ? 10000
	                                                            : eo.interval_ms * 5;
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

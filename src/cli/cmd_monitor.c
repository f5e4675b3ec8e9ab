/* `gpumigrate monitor`: the Prometheus alert rules (`monitor rules`, plain or as a
 * prometheus-operator PrometheusRule) and the Grafana dashboard (`monitor dashboard`) for the
 * metrics `gpumigrate exporter` serves. Thresholds come from the defaults, then the plan's
 * monitor: section, then the flags. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assess/plan.h"
#include "cli/commands.h"
#include "monitor/dashboard.h"
#include "monitor/rules.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum {
	OPT_FORMAT = 1,
	OPT_JOB,
	OPT_MEMORY,
	OPT_TEMPERATURE,
	OPT_FOR,
	OPT_NAME,
	OPT_NAMESPACE,
	OPT_LABEL,
	OPT_PLAN,
	OPT_OUTPUT,
};

const struct gm_opt gm_cmd_monitor_opts[] = {
        {OPT_FORMAT, "format", 0, GM_ARG_REQUIRED, "FORMAT",
         "rules: prometheus (a rule file) or prometheus-operator (a PrometheusRule)",
         "prometheus prometheus-operator"},
        {OPT_JOB, "job", 0, GM_ARG_REQUIRED, "REGEX",
         "rules: the exporter's scrape job, for GPUExporterDown (default gpumigrate-exporter)",
         NULL},
        {OPT_MEMORY, "memory-threshold", 0, GM_ARG_REQUIRED, "FRACTION",
         "rules: GPUMemoryHigh fires above this share of the framebuffer (default 0.9)", NULL},
        {OPT_TEMPERATURE, "temperature-threshold", 0, GM_ARG_REQUIRED, "CELSIUS",
         "rules: GPUTemperatureHigh fires above this (default 85)", NULL},
        {OPT_FOR, "for", 0, GM_ARG_REQUIRED, "ALERT=DURATION",
         "rules: how long ALERT's condition must hold (5m, 90s; 0s for at once); repeatable", NULL},
        {OPT_NAME, "name", 0, GM_ARG_REQUIRED, "NAME",
         "rules, prometheus-operator: the PrometheusRule's name (default gpumigrate-gpu)", NULL},
        {OPT_NAMESPACE, "namespace", 'n', GM_ARG_REQUIRED, "NAMESPACE",
         "rules, prometheus-operator: the PrometheusRule's namespace", NULL},
        {OPT_LABEL, "label", 'l', GM_ARG_REQUIRED, "KEY=VALUE",
         "rules, prometheus-operator: a label for the PrometheusRule (repeatable; replaces the "
         "default labels)",
         NULL},
        {OPT_PLAN, "plan", 'p', GM_ARG_REQUIRED, "FILE",
         "rules: read thresholds from the plan's monitor: section", "file"},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "write to FILE (atomically) instead of standard output", "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

#define MAX_FOR 64

/* A number flag: the whole text must be a finite number. */
static bool parse_double(const char *s, double *v)
{
	char *end = NULL;
	*v = strtod(s, &end);
	return *s && end && !*end && isfinite(*v);
}

/* The plan's monitor: section onto o. */
static enum gm_rc apply_plan(const struct gm_plan *plan, struct gm_rules_opts *o,
                             struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	if (plan->monitor_memory_threshold.set)
		rc = gm_rules_set_memory_threshold(o, plan->monitor_memory_threshold.v,
		                                   plan->monitor_memory_threshold.src, err);
	if (rc == GM_OK && plan->monitor_temperature_threshold.set)
		rc = gm_rules_set_temperature_threshold(o, plan->monitor_temperature_threshold.v,
		                                        plan->monitor_temperature_threshold.src,
		                                        err);
	if (rc == GM_OK && plan->monitor_job.v)
		rc = gm_rules_set_job(o, plan->monitor_job.v, plan->monitor_job.src, err);
	for (size_t i = 0; rc == GM_OK && i < plan->n_monitor_for; i++)
		rc = gm_rules_set_for(o, plan->monitor_for[i].alert,
		                      plan->monitor_for[i].duration.v,
		                      plan->monitor_for[i].duration.src, err);
	return rc;
}

static int write_out(struct gm_cli *cli, const char *output, const struct gm_buf *doc,
                     const char *what)
{
	struct gm_err err = GM_ERR_INIT;
	int code = GM_EXIT_OK;
	if (!output || strcmp(output, "-") == 0)
		return gm_cli_emit(doc);
	if (gm_fs_write_atomic(output, doc->data, doc->len, &err) != GM_OK)
		code = gm_cli_fail(cli, &err);
	else
		gm_info("wrote the %s to '%s'", what, output);
	gm_err_release(&err);
	return code;
}

int gm_cmd_monitor(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_rules_opts ro;
	const char *output = NULL, *plan_path = NULL, *job = NULL, *rules_flag = NULL;
	const char *fors[MAX_FOR];
	size_t n_fors = 0;
	double memory = 0, temperature = 0;
	bool memory_set = false, temperature_set = false;
	int id, code = GM_EXIT_OK;
	gm_rules_opts_init(&ro);
	while ((id = gm_cli_next(cli, &code)) != -1) {
		const char *a = cli->optarg;
		switch (id) {
		case -2: return code;
		case OPT_FORMAT:
			if (strcmp(a, "prometheus") == 0)
				ro.format = GM_RULES_PROMETHEUS;
			else if (strcmp(a, "prometheus-operator") == 0)
				ro.format = GM_RULES_PROMETHEUS_OPERATOR;
			else
				return gm_cli_usage_error(cli,
				                          "--format must be prometheus or "
				                          "prometheus-operator, not '%s'",
				                          a);
			rules_flag = "--format";
			break;
		case OPT_JOB: job = a, rules_flag = "--job"; break;
		case OPT_MEMORY:
			if (!parse_double(a, &memory))
				return gm_cli_usage_error(cli,
				                          "--memory-threshold must be a fraction "
				                          "such as 0.9, not '%s'",
				                          a);
			memory_set = true, rules_flag = "--memory-threshold";
			break;
		case OPT_TEMPERATURE:
			if (!parse_double(a, &temperature))
				return gm_cli_usage_error(
				        cli,
				        "--temperature-threshold must be a number of °C, not '%s'",
				        a);
			temperature_set = true, rules_flag = "--temperature-threshold";
			break;
		case OPT_FOR:
			if (n_fors == MAX_FOR)
				return gm_cli_usage_error(cli, "at most %d --for options", MAX_FOR);
			if (!strchr(a, '='))
				return gm_cli_usage_error(
				        cli,
				        "--for takes ALERT=DURATION (GPUMemoryHigh=10m), not '%s'",
				        a);
			fors[n_fors++] = a, rules_flag = "--for";
			break;
		case OPT_NAME: ro.name = a, rules_flag = "--name"; break;
		case OPT_NAMESPACE: ro.namespace = a, rules_flag = "--namespace"; break;
		case OPT_LABEL:
			if (ro.n_labels == GM_RULES_MAX_LABELS)
				return gm_cli_usage_error(cli, "at most %d --label options",
				                          GM_RULES_MAX_LABELS);
			ro.labels[ro.n_labels++] = a, rules_flag = "--label";
			break;
		case OPT_PLAN: plan_path = a, rules_flag = "--plan"; break;
		case OPT_OUTPUT: output = a; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc < 1)
		return gm_cli_usage_error(cli, "monitor needs a subcommand: rules or dashboard");
	if (argc > 1)
		return gm_cli_usage_error(cli, "monitor %s takes no operands (got '%s')", args[0],
		                          args[1]);

	struct gm_buf doc = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_plan plan;
	gm_plan_init(&plan);
	if (strcmp(args[0], "dashboard") == 0) {
		if (rules_flag) {
			code = gm_cli_usage_error(cli, "%s applies to 'monitor rules' only",
			                          rules_flag);
			goto out;
		}
		gm_dashboard_to_json(&doc);
		code = write_out(cli, output, &doc, "dashboard");
		goto out;
	}
	if (strcmp(args[0], "rules") != 0) {
		code = gm_cli_usage_error(
		        cli, "unknown monitor subcommand '%s' (rules or dashboard)", args[0]);
		goto out;
	}
	if (plan_path) {
		if (gm_plan_load(&plan, plan_path, &err) != GM_OK ||
		    apply_plan(&plan, &ro, &err) != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
	}
	if ((memory_set &&
	     gm_rules_set_memory_threshold(&ro, memory, "--memory-threshold", &err) != GM_OK) ||
	    (temperature_set &&
	     gm_rules_set_temperature_threshold(&ro, temperature, "--temperature-threshold",
	                                        &err) != GM_OK) ||
	    (job && gm_rules_set_job(&ro, job, "--job", &err) != GM_OK)) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	for (size_t i = 0; i < n_fors; i++) {
		const char *eq = strchr(fors[i], '=');
		char *alert = gm_xstrndup(fors[i], (size_t)(eq - fors[i]));
		enum gm_rc rc = gm_rules_set_for(&ro, alert, eq + 1, "--for", &err);
		free(alert);
		if (rc != GM_OK) {
			code = gm_cli_fail(cli, &err);
			goto out;
		}
	}
	if (ro.format != GM_RULES_PROMETHEUS_OPERATOR && (ro.name || ro.namespace || ro.n_labels)) {
		code = gm_cli_usage_error(cli, "--name, --namespace and --label need --format "
		                               "prometheus-operator");
		goto out;
	}
	enum gm_rc rc =
	        cli->json ? gm_rules_to_json(&ro, &doc, &err) : gm_rules_to_yaml(&ro, &doc, &err);
	if (rc != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	code = write_out(cli, output, &doc, "rules");
out:
	gm_plan_release(&plan);
	gm_err_release(&err);
	gm_buf_release(&doc);
	return code;
}

/* Unit tests for the alert rules and the dashboard: the rule document's structure read back
 * through gm_doc (every alert, its expression, `for`, severity and annotations), option
 * setters and their refusals, Prometheus duration syntax, the PrometheusRule wrapper, and the
 * dashboard's ids, grid positions and data source. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "monitor/dashboard.h"
#include "monitor/rules.h"
#include "util/doc.h"

static const char *const names[GM_RULES_N_ALERTS] = {
        "GPUMemoryHigh",      "GPUTemperatureHigh", "GPUCriticalXid",       "GPUUncorrectableECC",
        "GPURowRemapFailure", "GPURowRemapPending", "GPUThermalThrottling", "GPUPowerBrake",
        "GPUMissing",         "GPUExporterDown",    "PCIeLinkDegraded",
};

/* Loads the YAML form of the rules into doc. */
static void load_rules(const struct gm_rules_opts *o, struct gm_doc *doc)
{
	struct gm_buf y = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_rules_to_yaml(o, &y, &err), GM_OK);
	assert_true(strncmp(gm_buf_cstr(&y), "# GPU alerting rules", 20) == 0);
	assert_int_equal(gm_doc_load_string(doc, "rules.yaml", y.data, y.len, &err), GM_OK);
	gm_buf_release(&y);
	gm_err_release(&err);
}

static struct fy_node *rule_at(struct fy_node *groups, int i)
{
	struct fy_node *g = gm_doc_seq_at(groups, 0);
	return gm_doc_seq_at(gm_doc_get(g, "rules"), i);
}

static const char *field(struct fy_node *rule, const char *a, const char *b)
{
	struct fy_node *n = gm_doc_get(rule, a);
	if (b)
		n = gm_doc_get(n, b);
	return gm_doc_scalar(n);
}

static void defaults(void **state)
{
	(void)state;
	struct gm_rules_opts o;
	struct gm_doc doc;
	gm_rules_opts_init(&o);
	load_rules(&o, &doc);
	struct fy_node *root = gm_doc_root(&doc);
	assert_int_equal(gm_doc_map_len(root), 1);
	struct fy_node *groups = gm_doc_get(root, "groups");
	assert_int_equal(gm_doc_seq_len(groups), 1);
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_seq_at(groups, 0), "name")),
	                    "gpumigrate-gpu");
	assert_int_equal(gm_doc_seq_len(gm_doc_get(gm_doc_seq_at(groups, 0), "rules")),
	                 GM_RULES_N_ALERTS);
	for (int i = 0; i < GM_RULES_N_ALERTS; i++) {
		struct fy_node *r = rule_at(groups, i);
		assert_string_equal(field(r, "alert", NULL), names[i]);
		assert_string_equal(gm_rules_alert_name((enum gm_rules_alert)i), names[i]);
		const char *sev = field(r, "labels", "severity");
		assert_true(strcmp(sev, "warning") == 0 || strcmp(sev, "critical") == 0);
		assert_non_null(strstr(field(r, "annotations", "summary"), "{{ $labels."));
		assert_true(strlen(field(r, "annotations", "description")) > 20);
		assert_true(strlen(field(r, "annotations", "runbook")) > 20);
	}
	/* host/GPU/model in the per-GPU descriptions */
	const char *d = field(rule_at(groups, GM_ALERT_MEMORY_HIGH), "annotations", "description");
	assert_non_null(strstr(d, "$labels.Hostname"));
	assert_non_null(strstr(d, "$labels.gpu"));
	assert_non_null(strstr(d, "$labels.modelName"));

	struct fy_node *r = rule_at(groups, GM_ALERT_MEMORY_HIGH);
	assert_string_equal(
	        field(r, "expr", NULL),
	        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 0.9");
	assert_string_equal(field(r, "for", NULL), "5m");
	assert_string_equal(field(r, "labels", "severity"), "warning");
	r = rule_at(groups, GM_ALERT_TEMPERATURE_HIGH);
	assert_string_equal(field(r, "expr", NULL), "DCGM_FI_DEV_GPU_TEMP > 85");
	assert_string_equal(field(r, "for", NULL), "5m");
	r = rule_at(groups, GM_ALERT_CRITICAL_XID);
	assert_string_equal(field(r, "expr", NULL),
	                    "increase(gpumigrate_xid_events_total{xid=~\"48|62|64|74|79|95|119|"
	                    "120\"}[10m]) > 0");
	assert_null(gm_doc_get(r, "for"));
	assert_string_equal(field(r, "labels", "severity"), "critical");
	r = rule_at(groups, GM_ALERT_UNCORRECTABLE_ECC);
	assert_string_equal(field(r, "expr", NULL),
	                    "increase(gpumigrate_ecc_errors_total{type=\"uncorrected\",counter="
	                    "\"volatile\"}[10m]) > 0");
	r = rule_at(groups, GM_ALERT_ROW_REMAP_FAILURE);
	assert_string_equal(field(r, "expr", NULL), "DCGM_FI_DEV_ROW_REMAP_FAILURE > 0");
	assert_null(gm_doc_get(r, "for"));
	r = rule_at(groups, GM_ALERT_ROW_REMAP_PENDING);
	assert_string_equal(field(r, "expr", NULL), "gpumigrate_remapped_rows_pending > 0");
	assert_string_equal(field(r, "for", NULL), "10m");
	r = rule_at(groups, GM_ALERT_THERMAL_THROTTLING);
	assert_string_equal(
	        field(r, "expr", NULL),
	        "gpumigrate_clock_event_active{reason=~\"hw_thermal|sw_thermal\"} == 1");
	assert_string_equal(field(r, "for", NULL), "5m");
	r = rule_at(groups, GM_ALERT_POWER_BRAKE);
	assert_string_equal(field(r, "expr", NULL),
	                    "gpumigrate_clock_event_active{reason=\"hw_power_brake\"} == 1");
	assert_string_equal(field(r, "for", NULL), "1m");
	r = rule_at(groups, GM_ALERT_GPU_MISSING);
	assert_string_equal(field(r, "expr", NULL),
	                    "(gpumigrate_gpus < max_over_time(gpumigrate_gpus[1h])) or "
	                    "(gpumigrate_gpu_up == 0)");
	r = rule_at(groups, GM_ALERT_EXPORTER_DOWN);
	assert_string_equal(field(r, "expr", NULL), "up{job=~\"gpumigrate-exporter\"} == 0");
	assert_string_equal(field(r, "for", NULL), "2m");
	r = rule_at(groups, GM_ALERT_PCIE_LINK_DEGRADED);
	assert_string_equal(field(r, "expr", NULL),
	                    "gpumigrate_pcie_link_width{state=\"current\"} < ignoring(state) "
	                    "gpumigrate_pcie_link_width{state=\"max\"}");
	assert_string_equal(field(r, "for", NULL), "15m");
	gm_doc_release(&doc);
}

static void options(void **state)
{
	(void)state;
	struct gm_rules_opts o;
	struct gm_err err = GM_ERR_INIT;
	struct gm_doc doc;
	gm_rules_opts_init(&o);
	assert_int_equal(gm_rules_set_memory_threshold(&o, 0.955, "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_temperature_threshold(&o, 80.5, "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_job(&o, "gpu|dcgm", "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_for(&o, "GPUMemoryHigh", "1h30m", "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_for(&o, "GPUExporterDown", "0s", "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_for(&o, "GPUCriticalXid", "30s", "flag", &err), GM_OK);
	load_rules(&o, &doc);
	struct fy_node *groups = gm_doc_get(gm_doc_root(&doc), "groups");
	struct fy_node *r = rule_at(groups, GM_ALERT_MEMORY_HIGH);
	assert_string_equal(field(r, "expr", NULL), "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + "
	                                            "DCGM_FI_DEV_FB_FREE) > 0.955");
	assert_string_equal(field(r, "for", NULL), "1h30m");
	r = rule_at(groups, GM_ALERT_TEMPERATURE_HIGH);
	assert_string_equal(field(r, "expr", NULL), "DCGM_FI_DEV_GPU_TEMP > 80.5");
	r = rule_at(groups, GM_ALERT_EXPORTER_DOWN);
	assert_string_equal(field(r, "expr", NULL), "up{job=~\"gpu|dcgm\"} == 0");
	assert_null(gm_doc_get(r, "for")); /* 0s: fire at once */
	assert_string_equal(field(rule_at(groups, GM_ALERT_CRITICAL_XID), "for", NULL), "30s");
	gm_doc_release(&doc);
	assert_int_equal(gm_rules_set_temperature_threshold(&o, 80, "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_memory_threshold(&o, 1, "flag", &err), GM_OK);
	load_rules(&o, &doc);
	groups = gm_doc_get(gm_doc_root(&doc), "groups");
	assert_string_equal(field(rule_at(groups, GM_ALERT_TEMPERATURE_HIGH), "expr", NULL),
	                    "DCGM_FI_DEV_GPU_TEMP > 80");
	assert_string_equal(
	        field(rule_at(groups, GM_ALERT_MEMORY_HIGH), "expr", NULL),
	        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 1");
	gm_doc_release(&doc);
	assert_int_equal(gm_rules_set_temperature_threshold(&o, 80.5, "flag", &err), GM_OK);
	assert_int_equal(gm_rules_set_memory_threshold(&o, 0.955, "flag", &err), GM_OK);

	/* refusals name the source and keep the old value */
	assert_int_equal(gm_rules_set_memory_threshold(&o, 90, "flag --memory-threshold", &err),
	                 GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "flag --memory-threshold"));
	assert_true(o.memory_threshold == 0.955);
	assert_int_equal(gm_rules_set_memory_threshold(&o, 0, "x", &err), GM_ERR_USAGE);
	assert_int_equal(gm_rules_set_temperature_threshold(&o, -1, "x", &err), GM_ERR_USAGE);
	assert_int_equal(gm_rules_set_temperature_threshold(&o, 200, "x", &err), GM_ERR_USAGE);
	assert_true(o.temperature_threshold == 80.5);
	assert_int_equal(gm_rules_set_job(&o, "a\"b", "x", &err), GM_ERR_USAGE);
	assert_int_equal(gm_rules_set_job(&o, "", "x", &err), GM_ERR_USAGE);
	assert_int_equal(gm_rules_set_job(&o, "a b", "x", &err), GM_ERR_USAGE);
	assert_string_equal(o.job, "gpu|dcgm");
	assert_int_equal(gm_rules_set_for(&o, "GPUMemHigh", "5m", "plan p.yaml:3:5", &err),
	                 GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "plan p.yaml:3:5"));
	assert_non_null(strstr(gm_err_msg(&err), "did you mean 'GPUMemoryHigh'"));
	assert_int_equal(gm_rules_set_for(&o, "GPUMemoryHigh", "5 min", "x", &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "not a Prometheus duration"));
	assert_string_equal(o.for_[GM_ALERT_MEMORY_HIGH], "1h30m");
	gm_err_release(&err);
}

static void durations(void **state)
{
	(void)state;
	uint64_t ms = 1;
	assert_true(gm_rules_parse_duration("5m", &ms));
	assert_int_equal(ms, 300000);
	assert_true(gm_rules_parse_duration("1h30m", &ms));
	assert_int_equal(ms, 5400000);
	assert_true(gm_rules_parse_duration("250ms", &ms));
	assert_int_equal(ms, 250);
	assert_true(gm_rules_parse_duration("1m30s500ms", &ms));
	assert_int_equal(ms, 90500);
	assert_true(gm_rules_parse_duration("2d", &ms));
	assert_int_equal(ms, 172800000);
	assert_true(gm_rules_parse_duration("0", &ms));
	assert_int_equal(ms, 0);
	assert_true(gm_rules_parse_duration("0s", &ms));
	assert_int_equal(ms, 0);
	static const char *const bad[] = {
	        "",   "5",     "m",    "5min", "1.5m", "-5m", "5 m",
	        "5M", "30m1h", "1m1m", "5mx",  "ms",   " 5m", "99999999999999999999y"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(gm_rules_parse_duration(bad[i], NULL));
	enum gm_rules_alert a;
	const char *near = "x";
	assert_true(gm_rules_alert_find("PCIeLinkDegraded", &a, &near));
	assert_int_equal(a, GM_ALERT_PCIE_LINK_DEGRADED);
	assert_false(gm_rules_alert_find("NoSuchAlertAtAll", &a, &near));
	assert_null(near); /* nothing close: no hint */
	assert_false(gm_rules_alert_find("GPUMisssing", &a, &near));
	assert_string_equal(near, "GPUMissing");
}

static void operator_format(void **state)
{
	(void)state;
	struct gm_rules_opts o;
	struct gm_doc doc;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf y = GM_BUF_INIT;
	gm_rules_opts_init(&o);
	o.format = GM_RULES_PROMETHEUS_OPERATOR;
	o.namespace = "monitoring";
	load_rules(&o, &doc);
	struct fy_node *root = gm_doc_root(&doc);
	assert_string_equal(field(root, "apiVersion", NULL), "monitoring.coreos.com/v1");
	assert_string_equal(field(root, "kind", NULL), "PrometheusRule");
	assert_string_equal(field(root, "metadata", "name"), "gpumigrate-gpu");
	assert_string_equal(field(root, "metadata", "namespace"), "monitoring");
	struct fy_node *labels = gm_doc_get(gm_doc_get(root, "metadata"), "labels");
	assert_string_equal(gm_doc_scalar(gm_doc_get(labels, "app.kubernetes.io/name")),
	                    "gpumigrate-exporter");
	struct fy_node *groups = gm_doc_get(gm_doc_get(root, "spec"), "groups");
	assert_int_equal(gm_doc_seq_len(groups), 1);
	assert_string_equal(field(rule_at(groups, 0), "alert", NULL), "GPUMemoryHigh");
	gm_doc_release(&doc);

	o.name = "gpu-alerts";
	o.labels[0] = "release=kube-prometheus-stack";
	o.labels[1] = "example.com/team=ml";
	o.n_labels = 2;
	load_rules(&o, &doc);
	root = gm_doc_root(&doc);
	assert_string_equal(field(root, "metadata", "name"), "gpu-alerts");
	labels = gm_doc_get(gm_doc_get(root, "metadata"), "labels");
	assert_int_equal(gm_doc_map_len(labels), 2);
	assert_string_equal(gm_doc_scalar(gm_doc_get(labels, "release")), "kube-prometheus-stack");
	assert_string_equal(gm_doc_scalar(gm_doc_get(labels, "example.com/team")), "ml");
	gm_doc_release(&doc);

	static const char *const bad_labels[] = {"novalue", "=x",   "a=b c",
	                                         "-a=b",    "a=-b", "Bad_/x=y"};
	for (size_t i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++) {
		o.labels[0] = bad_labels[i];
		o.n_labels = 1;
		assert_int_equal(gm_rules_to_yaml(&o, &y, &err), GM_ERR_USAGE);
		assert_non_null(strstr(gm_err_msg(&err), bad_labels[i]));
	}
	o.n_labels = 0;
	o.name = "Bad_Name";
	assert_int_equal(gm_rules_to_json(&o, &y, &err), GM_ERR_USAGE);
	o.name = NULL;
	o.namespace = "a.b";
	assert_int_equal(gm_rules_to_json(&o, &y, &err), GM_ERR_USAGE);
	assert_int_equal(y.len, 0); /* nothing written on refusal */
	gm_buf_release(&y);
	gm_err_release(&err);
}

static void dashboard(void **state)
{
	(void)state;
	struct gm_buf j = GM_BUF_INIT, again = GM_BUF_INIT;
	struct gm_doc doc;
	struct gm_err err = GM_ERR_INIT;
	gm_dashboard_to_json(&j);
	gm_dashboard_to_json(&again);
	assert_string_equal(gm_buf_cstr(&j), gm_buf_cstr(&again)); /* stable */
	assert_int_equal(gm_doc_load_string(&doc, "dash.json", j.data, j.len, &err), GM_OK);
	struct fy_node *root = gm_doc_root(&doc);
	assert_string_equal(field(root, "uid", NULL), GM_DASHBOARD_UID);
	assert_string_equal(field(root, "schemaVersion", NULL), "39");
	struct fy_node *vars = gm_doc_get(gm_doc_get(root, "templating"), "list");
	assert_int_equal(gm_doc_seq_len(vars), 3);
	assert_string_equal(field(gm_doc_seq_at(vars, 0), "name", NULL), "DS_PROMETHEUS");
	assert_string_equal(field(gm_doc_seq_at(vars, 0), "type", NULL), "datasource");
	assert_string_equal(field(gm_doc_seq_at(vars, 1), "name", NULL), "Hostname");
	assert_string_equal(field(gm_doc_seq_at(vars, 2), "name", NULL), "gpu");
	struct fy_node *panels = gm_doc_get(root, "panels");
	int n = gm_doc_seq_len(panels);
	assert_true(n >= 20);
	/* ids 1..n; no two panels overlap on the 24-column grid; every query panel uses the
	 * data source variable and filters by the template variables */
	static unsigned char cell[256][24];
	memset(cell, 0, sizeof(cell));
	for (int i = 0; i < n; i++) {
		struct fy_node *p = gm_doc_seq_at(panels, i);
		int64_t id, x, y, w, h;
		assert_int_equal(gm_doc_get_i64(&doc, p, "id", &id, &err), GM_OK);
		assert_int_equal(id, i + 1);
		struct fy_node *g = gm_doc_get(p, "gridPos");
		assert_int_equal(gm_doc_get_i64(&doc, g, "x", &x, &err), GM_OK);
		assert_int_equal(gm_doc_get_i64(&doc, g, "y", &y, &err), GM_OK);
		assert_int_equal(gm_doc_get_i64(&doc, g, "w", &w, &err), GM_OK);
		assert_int_equal(gm_doc_get_i64(&doc, g, "h", &h, &err), GM_OK);
		assert_true(x >= 0 && w > 0 && x + w <= 24 && y + h < 256);
		for (int64_t r = y; r < y + h; r++)
			for (int64_t c = x; c < x + w; c++) {
				assert_int_equal(cell[r][c], 0);
				cell[r][c] = 1;
			}
		if (strcmp(field(p, "type", NULL), "row") == 0)
			continue;
		assert_string_equal(field(p, "datasource", "uid"), "${DS_PROMETHEUS}");
		struct fy_node *targets = gm_doc_get(p, "targets");
		assert_true(gm_doc_seq_len(targets) >= 1);
		for (int t = 0; t < gm_doc_seq_len(targets); t++) {
			const char *expr = field(gm_doc_seq_at(targets, t), "expr", NULL);
			assert_non_null(strstr(expr, "Hostname=~\"$Hostname\""));
		}
	}
	gm_doc_release(&doc);
	gm_buf_release(&j);
	gm_buf_release(&again);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(defaults),  cmocka_unit_test(options),
	        cmocka_unit_test(durations), cmocka_unit_test(operator_format),
	        cmocka_unit_test(dashboard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

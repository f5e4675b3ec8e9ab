/* Generates the GPU alerting rules (see rules.h): one table of alerts, each with its PromQL,
 * severity, `for`, and the annotations an on-call engineer reads first — which host, which GPU,
 * which model, and the command that fixes or diagnoses it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/rules.h"
#include "util/doc.h"
#include "util/json.h"
#include "util/banned.h"

/* The PromQL of one alert, built from the options. */
typedef void (*expr_fn)(const struct gm_rules_opts *o, struct gm_buf *out);

struct alert {
	const char *name;
	const char *severity;
	const char *default_for; /* "" for none */
	expr_fn expr;
	const char *summary;
	const char *description;
	const char *runbook;
};

/* Shortest decimal text of v that reads back as v, without an exponent (80, not 8e+01). */
static void add_num(struct gm_buf *out, double v)
{
	char tmp[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v && !strchr(tmp, 'e'))
			break;
	}
	gm_buf_adds(out, tmp);
}

static void expr_memory(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > ");
	add_num(out, o->memory_threshold);
}

static void expr_temperature(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "DCGM_FI_DEV_GPU_TEMP > ");
	add_num(out, o->temperature_threshold);
}

static void expr_xid(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "increase(gpumigrate_xid_events_total{xid=~\"48|62|64|74|79|95|119|120\"}"
	                 "[10m]) > 0");
}

static void expr_ecc(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "increase(gpumigrate_ecc_errors_total{type=\"uncorrected\","
	                 "counter=\"volatile\"}[10m]) > 0");
}

static void expr_remap_failure(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "DCGM_FI_DEV_ROW_REMAP_FAILURE > 0");
}

static void expr_remap_pending(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "gpumigrate_remapped_rows_pending > 0");
}

static void expr_thermal(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "gpumigrate_clock_event_active{reason=~\"hw_thermal|sw_thermal\"} == 1");
}

static void expr_power_brake(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_adds(out, "gpumigrate_clock_event_active{reason=\"hw_power_brake\"} == 1");
}

static void expr_missing(const struct gm_rules_opts *o, struct gm_buf *out)
{
	/* `or` binds loosest in PromQL; the parentheses only make that visible. */
	gm_buf_adds(out, "(gpumigrate_gpus < max_over_time(gpumigrate_gpus[1h])) or "
	                 "(gpumigrate_gpu_up == 0)");
}

static void expr_exporter_down(const struct gm_rules_opts *o, struct gm_buf *out)
{
	gm_buf_addf(out, "up{job=~\"%s\"} == 0", o->job);
}

static void expr_pcie(const struct gm_rules_opts *o, struct gm_buf *out)
{
	/* The two sides differ only in state; match them one-to-one on every other label. */
	gm_buf_adds(out, "gpumigrate_pcie_link_width{state=\"current\"} < ignoring(state) "
	                 "gpumigrate_pcie_link_width{state=\"max\"}");
}

#define GPU_AT "GPU {{ $labels.gpu }} ({{ $labels.modelName }}) on {{ $labels.Hostname }}"

static const struct alert alerts[GM_RULES_N_ALERTS] = {
        [GM_ALERT_MEMORY_HIGH] =
                {"GPUMemoryHigh", "warning", "5m", expr_memory,
                 "GPU memory almost full on {{ $labels.Hostname }}",
                 GPU_AT " has {{ $value | humanizePercentage }} of its framebuffer in use.",
                 "nvidia-smi -i {{ $labels.gpu }} --query-compute-apps=pid,process_name,"
                 "used_memory --format=csv on {{ $labels.Hostname }}; move or shrink the "
                 "workload"},
        [GM_ALERT_TEMPERATURE_HIGH] =
                {"GPUTemperatureHigh", "warning", "5m", expr_temperature,
                 "GPU running hot on {{ $labels.Hostname }}", GPU_AT " is at {{ $value }} °C.",
                 "nvidia-smi -i {{ $labels.gpu }} -q -d TEMPERATURE,PERFORMANCE on "
                 "{{ $labels.Hostname }}; check fans, airflow and inlet temperature"},
        [GM_ALERT_CRITICAL_XID] =
                {"GPUCriticalXid", "critical", "", expr_xid,
                 "critical Xid {{ $labels.xid }} on {{ $labels.Hostname }}",
                 GPU_AT " reported Xid {{ $labels.xid }} in the last 10 minutes.",
                 "gpumigrate check on {{ $labels.Hostname }} (it explains the Xid); drain the "
                 "node, then nvidia-smi -r -i {{ $labels.gpu }} or reboot"},
        [GM_ALERT_UNCORRECTABLE_ECC] =
                {"GPUUncorrectableECC", "critical", "", expr_ecc,
                 "uncorrectable ECC errors on {{ $labels.Hostname }}",
                 GPU_AT " counted uncorrectable (volatile) ECC errors in the last 10 minutes.",
                 "drain the node, then nvidia-smi -r -i {{ $labels.gpu }} on "
                 "{{ $labels.Hostname }} and gpumigrate check"},
        [GM_ALERT_ROW_REMAP_FAILURE] =
                {"GPURowRemapFailure", "critical", "", expr_remap_failure,
                 "GPU row remapping failed on {{ $labels.Hostname }}",
                 GPU_AT " could not remap a faulty memory row; it needs service.",
                 "nvidia-smi -i {{ $labels.gpu }} -q -d ROW_REMAPPER on {{ $labels.Hostname }}; "
                 "take the GPU out of service and RMA it"},
        [GM_ALERT_ROW_REMAP_PENDING] =
                {"GPURowRemapPending", "warning", "10m", expr_remap_pending,
                 "GPU row remap waits for a reset on {{ $labels.Hostname }}",
                 GPU_AT " has a memory row remap pending until the GPU is reset.",
                 "drain the node, then nvidia-smi -r -i {{ $labels.gpu }} on "
                 "{{ $labels.Hostname }} (or reboot)"},
        [GM_ALERT_THERMAL_THROTTLING] =
                {"GPUThermalThrottling", "warning", "5m", expr_thermal,
                 "GPU clocks held back by heat on {{ $labels.Hostname }}",
                 GPU_AT " is slowed down ({{ $labels.reason }}).",
                 "nvidia-smi -i {{ $labels.gpu }} -q -d PERFORMANCE,TEMPERATURE on "
                 "{{ $labels.Hostname }}; check cooling"},
        [GM_ALERT_POWER_BRAKE] =
                {"GPUPowerBrake", "warning", "1m", expr_power_brake,
                 "GPU power brake asserted on {{ $labels.Hostname }}",
                 GPU_AT " is slowed down by the hardware power brake (external signal).",
                 "nvidia-smi -i {{ $labels.gpu }} -q -d PERFORMANCE on {{ $labels.Hostname }}; "
                 "check power supplies and cabling"},
        [GM_ALERT_GPU_MISSING] =
                {"GPUMissing", "critical", "", expr_missing,
                 "a GPU is missing on {{ $labels.Hostname }}",
                 "{{ $labels.Hostname }} reports fewer GPUs than in the last hour, or GPU "
                 "{{ $labels.gpu }} {{ $labels.modelName }} stopped answering (fell off the "
                 "bus).",
                 "nvidia-smi -L and dmesg | grep -i xid on {{ $labels.Hostname }}; "
                 "gpumigrate check; reboot, reseat or RMA the GPU"},
        [GM_ALERT_EXPORTER_DOWN] =
                {"GPUExporterDown", "warning", "2m", expr_exporter_down,
                 "GPU exporter down on {{ $labels.instance }}",
                 "Prometheus cannot scrape the GPU exporter at {{ $labels.instance }} (job "
                 "{{ $labels.job }}); no GPU alert can fire for that host.",
                 "systemctl status gpumigrate-exporter, or kubectl get pods -l "
                 "app.kubernetes.io/name=gpumigrate-exporter -o wide"},
        [GM_ALERT_PCIE_LINK_DEGRADED] =
                {"PCIeLinkDegraded", "warning", "15m", expr_pcie,
                 "PCIe link narrower than it can be on {{ $labels.Hostname }}",
                 GPU_AT " at {{ $labels.pci_bus_id }} runs its PCIe link at x{{ $value }}, "
                        "below its maximum width.",
                 "gpumigrate check on {{ $labels.Hostname }}; lspci -vv -s "
                 "{{ $labels.pci_bus_id }} | grep LnkSta; reseat the card or riser"},
};

const char *gm_rules_alert_name(enum gm_rules_alert a)
{
	return (unsigned)a < GM_RULES_N_ALERTS ? alerts[a].name : "?";
}

bool gm_rules_alert_find(const char *name, enum gm_rules_alert *a, const char **near)
{
	size_t best = 4;
	if (near)
		*near = NULL;
	for (int i = 0; i < GM_RULES_N_ALERTS; i++) {
		if (strcmp(name, alerts[i].name) == 0) {
			*a = (enum gm_rules_alert)i;
			return true;
		}
		size_t d = gm_levenshtein(name, alerts[i].name);
		if (near && d < best)
			best = d, *near = alerts[i].name;
	}
	return false;
}

void gm_rules_opts_init(struct gm_rules_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = GM_RULES_PROMETHEUS;
	o->memory_threshold = 0.90;
	o->temperature_threshold = 85;
	for (int i = 0; i < GM_RULES_N_ALERTS; i++)
		snprintf(o->for_[i], sizeof(o->for_[i]), "%s", alerts[i].default_for);
	snprintf(o->job, sizeof(o->job), "%s", GM_RULES_DEFAULT_JOB);
}

bool gm_rules_parse_duration(const char *s, uint64_t *ms)
{
	/* Prometheus' model.ParseDuration: units largest first, each at most once. */
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"y", 365ull * 24 * 3600 * 1000},
	             {"w", 7ull * 24 * 3600 * 1000},
	             {"d", 24ull * 3600 * 1000},
	             {"h", 3600ull * 1000},
	             {"m", 60ull * 1000},
	             {"s", 1000},
	             {"ms", 1}};
	const size_t n_units = sizeof(units) / sizeof(units[0]);
	uint64_t total = 0;
	size_t next = 0; /* the first unit still allowed */
	if (!s || !*s || strlen(s) > GM_RULES_DURATION_MAX)
		return false;
	if (strcmp(s, "0") == 0) {
		if (ms)
			*ms = 0;
		return true;
	}
	while (*s) {
		uint64_t v = 0;
		size_t digits = 0;
		while (*s >= '0' && *s <= '9') {
			if (v > UINT64_MAX / 10 / 1000)
				return false;
			v = v * 10 + (uint64_t)(*s - '0');
			s++, digits++;
		}
		if (!digits)
			return false;
		size_t u = next;
		for (; u < n_units; u++) {
			size_t ul = strlen(units[u].unit);
			/* "m" must not swallow the "m" of "ms" */
			if (strncmp(s, units[u].unit, ul) == 0 &&
			    !(ul == 1 && s[0] == 'm' && s[1] == 's'))
				break;
		}
		if (u == n_units)
			return false;
		if (v > (UINT64_MAX - total) / units[u].ms)
			return false;
		total += v * units[u].ms;
		s += strlen(units[u].unit);
		next = u + 1;
	}
	if (ms)
		*ms = total;
	return true;
}

enum gm_rc gm_rules_set_for(struct gm_rules_opts *o, const char *alert, const char *duration,
                            const char *src, struct gm_err *err)
{
	enum gm_rules_alert a;
	const char *near = NULL;
	if (!gm_rules_alert_find(alert, &a, &near)) {
		if (near)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "%s: no alert '%s' (did you mean '%s'?)", src, alert,
			                  near);
		return gm_err_set(err, GM_ERR_USAGE,
		                  "%s: no alert '%s' (the alerts: GPUMemoryHigh, "
		                  "GPUTemperatureHigh, … see gpumigrate-monitor(1))",
		                  src, alert);
	}
	uint64_t ms;
	if (!gm_rules_parse_duration(duration, &ms))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "%s: '%s' is not a Prometheus duration such as 5m, 90s or 1h30m",
		                  src, duration);
	snprintf(o->for_[a], sizeof(o->for_[a]), "%s", ms ? duration : "");
	return GM_OK;
}

enum gm_rc gm_rules_set_memory_threshold(struct gm_rules_opts *o, double v, const char *src,
                                         struct gm_err *err)
{
	if (!isfinite(v) || v <= 0 || v > 1)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "%s: the memory threshold is a fraction above 0 and at most 1 "
		                  "(0.9 = 90%%), not %g",
		                  src, v);
	o->memory_threshold = v;
	return GM_OK;
}

enum gm_rc gm_rules_set_temperature_threshold(struct gm_rules_opts *o, double v, const char *src,
                                              struct gm_err *err)
{
	if (!isfinite(v) || v <= 0 || v > 150)
		return gm_err_set(
		        err, GM_ERR_USAGE,
		        "%s: the temperature threshold is in °C, above 0 and at most 150, "
		        "not %g",
		        src, v);
	o->temperature_threshold = v;
	return GM_OK;
}

enum gm_rc gm_rules_set_job(struct gm_rules_opts *o, const char *job, const char *src,
                            struct gm_err *err)
{
	size_t len = strlen(job);
	if (len == 0 || len >= sizeof(o->job))
		return gm_err_set(err, GM_ERR_USAGE, "%s: the job must be 1 to %zu characters", src,
		                  sizeof(o->job) - 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)job[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '`')
			return gm_err_set(
			        err, GM_ERR_USAGE,
			        "%s: the job '%s' may not contain spaces, quotes, backslashes "
			        "or non-ASCII characters",
			        src, job);
	}
	snprintf(o->job, sizeof(o->job), "%s", job);
	return GM_OK;
}

/* Kubernetes names: DNS-1123 labels/subdomains (lowercase alphanumerics, '-', '.'). */
static bool k8s_name_ok(const char *s, size_t max, bool dots)
{
	size_t len = strlen(s);
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' || (dots && c == '.')))
			return false;
		if (!alnum && (i == 0 || i + 1 == len))
			return false;
	}
	return true;
}

/* A label value or the name part of a key: [A-Za-z0-9] at the ends, -_. inside, max 63. */
static bool k8s_label_part_ok(const char *s, size_t len, bool empty_ok)
{
	if (len == 0)
		return empty_ok;
	if (len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !((c == '-' || c == '_' || c == '.') && i > 0 && i + 1 < len))
			return false;
	}
	return true;
}

static enum gm_rc check_label(const char *kv, struct gm_err *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq)
		return gm_err_set(err, GM_ERR_USAGE, "label '%s' must be KEY=VALUE", kv);
	const char *slash = memchr(kv, '/', (size_t)(eq - kv));
	bool ok;
	if (slash) {
		char prefix[254];
		size_t pl = (size_t)(slash - kv);
		ok = pl < sizeof(prefix);
		if (ok) {
			memcpy(prefix, kv, pl);
			prefix[pl] = '\0';
			ok = k8s_name_ok(prefix, 253, true) &&
			     k8s_label_part_ok(slash + 1, (size_t)(eq - slash - 1), false);
		}
	} else {
		ok = k8s_label_part_ok(kv, (size_t)(eq - kv), false);
	}
	if (!ok || !k8s_label_part_ok(eq + 1, strlen(eq + 1), true))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "label '%s' is not a valid Kubernetes label (KEY=VALUE, "
		                  "alphanumerics with - _ . inside, at most 63 each)",
		                  kv);
	return GM_OK;
}

static void write_group(const struct gm_rules_opts *o, struct gm_json *j)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_json_begin_object(j, NULL);
	gm_json_str(j, "name", GM_RULES_GROUP);
	gm_json_begin_array(j, "rules");
	for (int i = 0; i < GM_RULES_N_ALERTS; i++) {
		const struct alert *a = &alerts[i];
		gm_json_begin_object(j, NULL);
		gm_json_str(j, "alert", a->name);
		gm_buf_reset(&b);
		a->expr(o, &b);
		gm_json_str(j, "expr", gm_buf_cstr(&b));
		if (o->for_[i][0])
			gm_json_str(j, "for", o->for_[i]);
		gm_json_begin_object(j, "labels");
		gm_json_str(j, "severity", a->severity);
		gm_json_end_object(j);
		gm_json_begin_object(j, "annotations");
		gm_json_str(j, "summary", a->summary);
		gm_json_str(j, "description", a->description);
		gm_json_str(j, "runbook", a->runbook);
		gm_json_end_object(j);
		gm_json_end_object(j);
	}
	gm_json_end_array(j);
	gm_json_end_object(j);
	gm_buf_release(&b);
}

enum gm_rc gm_rules_to_json(const struct gm_rules_opts *o, struct gm_buf *out, struct gm_err *err)
{
	struct gm_json j;
	enum gm_rc rc = GM_OK;
	const char *name = o->name ? o->name : GM_RULES_GROUP;
	if (o->format == GM_RULES_PROMETHEUS_OPERATOR) {
		if (!k8s_name_ok(name, 253, true))
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s' is not a valid Kubernetes object name (lowercase "
			                  "letters, digits, '-' and '.')",
			                  name);
		if (o->namespace && !k8s_name_ok(o->namespace, 63, false))
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s' is not a valid Kubernetes namespace (lowercase "
			                  "letters, digits and '-', at most 63)",
			                  o->namespace);
		if (o->n_labels > GM_RULES_MAX_LABELS)
			return gm_err_set(err, GM_ERR_USAGE, "at most %d labels",
			                  GM_RULES_MAX_LABELS);
		for (size_t i = 0; i < o->n_labels; i++)
			if ((rc = check_label(o->labels[i], err)) != GM_OK)
				return rc;
	}
	gm_json_init(&j, out, true);
	gm_json_begin_object(&j, NULL);
	if (o->format == GM_RULES_PROMETHEUS_OPERATOR) {
		gm_json_str(&j, "apiVersion", "monitoring.coreos.com/v1");
		gm_json_str(&j, "kind", "PrometheusRule");
		gm_json_begin_object(&j, "metadata");
		gm_json_str(&j, "name", name);
		if (o->namespace)
			gm_json_str(&j, "namespace", o->namespace);
		gm_json_begin_object(&j, "labels");
		if (o->n_labels == 0) {
			gm_json_str(&j, "app.kubernetes.io/name", "gpumigrate-exporter");
			gm_json_str(&j, "app.kubernetes.io/part-of", "gpumigrate");
		}
		for (size_t i = 0; i < o->n_labels; i++) {
			const char *eq = strchr(o->labels[i], '=');
			struct gm_buf key = GM_BUF_INIT;
			gm_buf_add(&key, o->labels[i], (size_t)(eq - o->labels[i]));
			gm_json_str(&j, gm_buf_cstr(&key), eq + 1);
			gm_buf_release(&key);
		}
		gm_json_end_object(&j);
		gm_json_end_object(&j);
		gm_json_begin_object(&j, "spec");
	}
	gm_json_begin_array(&j, "groups");
	write_group(o, &j);
	gm_json_end_array(&j);
	if (o->format == GM_RULES_PROMETHEUS_OPERATOR)
		gm_json_end_object(&j);
	gm_json_end_object(&j);
	gm_buf_addch(out, '\n');
	return GM_OK;
}

enum gm_rc gm_rules_to_yaml(const struct gm_rules_opts *o, struct gm_buf *out, struct gm_err *err)
{
	struct gm_buf json = GM_BUF_INIT;
	enum gm_rc rc = gm_rules_to_json(o, &json, err);
	if (rc != GM_OK)
		goto out;
	gm_buf_adds(out, "# GPU alerting rules for the metrics of `gpumigrate exporter` "
	                 "(doc/metrics.md).\n"
	                 "# Generated by `gpumigrate monitor rules`; change the thresholds in the "
	                 "plan's monitor: section\n"
	                 "# or with its flags and regenerate rather than editing this file.\n");
	if (o->format == GM_RULES_PROMETHEUS_OPERATOR)
		gm_buf_adds(out, "---\n");
	rc = gm_doc_to_yaml(json.data, json.len, out, err);
out:
	gm_buf_release(&json);
	return rc;
}

/* Prometheus alerting rules for GPU hosts watched by `gpumigrate exporter` (doc/metrics.md):
 * memory use, temperature, critical Xids, uncorrectable ECC, row remaps, throttling, a GPU
 * missing, the exporter down and a degraded PCIe link. `gpumigrate monitor rules` prints them
 * as a plain Prometheus rule file or wrapped in a prometheus-operator PrometheusRule; the
 * thresholds and `for` durations come from the plan file's monitor: section or from flags. */
#ifndef GM_RULES_H
#define GM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The alerts, in the order they appear in the rule group. */
enum gm_rules_alert {
	GM_ALERT_MEMORY_HIGH,
	GM_ALERT_TEMPERATURE_HIGH,
	GM_ALERT_CRITICAL_XID,
	GM_ALERT_UNCORRECTABLE_ECC,
	GM_ALERT_ROW_REMAP_FAILURE,
	GM_ALERT_ROW_REMAP_PENDING,
	GM_ALERT_THERMAL_THROTTLING,
	GM_ALERT_POWER_BRAKE,
	GM_ALERT_GPU_MISSING,
	GM_ALERT_EXPORTER_DOWN,
	GM_ALERT_PCIE_LINK_DEGRADED,
	GM_RULES_N_ALERTS
};

/* The rule group's name. */
#define GM_RULES_GROUP "gpumigrate-gpu"
/* The default scrape job of the exporter (deploy/prometheus, the ServiceMonitor's Service). */
#define GM_RULES_DEFAULT_JOB "gpumigrate-exporter"
/* Longest duration text kept ("1h30m" …). */
#define GM_RULES_DURATION_MAX 31
/* Most extra labels on the PrometheusRule object. */
#define GM_RULES_MAX_LABELS 16

enum gm_rules_format {
	GM_RULES_PROMETHEUS = 0,      /* groups: [...] as rule_files: reads it */
	GM_RULES_PROMETHEUS_OPERATOR, /* a monitoring.coreos.com/v1 PrometheusRule */
};

struct gm_rules_opts {
	enum gm_rules_format format;
	double memory_threshold;      /* fraction of the framebuffer in use, (0, 1] */
	double temperature_threshold; /* GPU temperature, °C */
	/* `for` of each alert, Prometheus duration text; "" or "0s" means none. */
	char for_[GM_RULES_N_ALERTS][GM_RULES_DURATION_MAX + 1];
	char job[128]; /* regular expression matched against the up series' job label */
	/* prometheus-operator only: metadata of the PrometheusRule object. */
	const char *name;                        /* default "gpumigrate-gpu" */
	const char *namespace;                   /* default: none (kubectl's current namespace) */
	const char *labels[GM_RULES_MAX_LABELS]; /* "key=value"; default set when n_labels is 0 */
	size_t n_labels;
};

/* Defaults: Prometheus format, 0.90, 85 °C, the `for` durations of doc/gpumigrate-monitor.1,
 * job "gpumigrate-exporter". */
void gm_rules_opts_init(struct gm_rules_opts *o);

/* The alert's name ("GPUMemoryHigh"). */
const char *gm_rules_alert_name(enum gm_rules_alert a);
/* The alert named name (exact, case-sensitive); false when there is none. When near is not
 * NULL it gets the closest name for a "did you mean" hint (NULL when nothing is close). */
bool gm_rules_alert_find(const char *name, enum gm_rules_alert *a, const char **near);

/* Checks a Prometheus duration ("30s", "5m", "1h30m", "0s"; units ms s m h d w y, each used
 * at most once, largest first). *ms gets its length when ms is not NULL. */
bool gm_rules_parse_duration(const char *s, uint64_t *ms);

/* Setters that validate; src names where the value came from ("flag --for", "plan x:3:5") and
 * goes into the message. GM_ERR_USAGE on a bad value. */
enum gm_rc gm_rules_set_for(struct gm_rules_opts *o, const char *alert, const char *duration,
                            const char *src, struct gm_err *err);
enum gm_rc gm_rules_set_memory_threshold(struct gm_rules_opts *o, double v, const char *src,
                                         struct gm_err *err);
enum gm_rc gm_rules_set_temperature_threshold(struct gm_rules_opts *o, double v, const char *src,
                                              struct gm_err *err);
/* The job regular expression: 1 to 127 bytes, printable ASCII. */
enum gm_rc gm_rules_set_job(struct gm_rules_opts *o, const char *job, const char *src,
                            struct gm_err *err);

/* The rule document as JSON (stable key order) into out (appended). */
enum gm_rc gm_rules_to_json(const struct gm_rules_opts *o, struct gm_buf *out, struct gm_err *err);
/* The rule document as YAML, with a header comment, into out (appended): what promtool check
 * rules and Prometheus' rule_files read, or what kubectl apply takes. */
enum gm_rc gm_rules_to_yaml(const struct gm_rules_opts *o, struct gm_buf *out, struct gm_err *err);

#endif

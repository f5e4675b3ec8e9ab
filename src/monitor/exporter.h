/* The exporter core: NVML sampled in a background thread at a fixed interval into a snapshot,
 * rendered once per sample into the Prometheus text format (0.0.4) and OpenMetrics, so that
 * a scrape only copies the latest text and never waits on NVML. A GPU that falls off the bus
 * is reported as lost while the others keep being served; NVML is re-initialised when the
 * driver comes back. Metric names: doc/metrics.md. */
#ifndef GM_EXPORTER_H
#define GM_EXPORTER_H

#include <stdbool.h>

#include "util/buf.h"
#include "util/err.h"

struct gm_exporter;

struct gm_exporter_opts {
	const char *nvml_library;   /* NULL: $GPUMIGRATE_NVML_LIBRARY, else libnvidia-ml.so.1 */
	unsigned interval_ms;       /* sampling interval, >= 100 */
	const char *hostname;       /* value of the Hostname label; NULL: gethostname() */
	const char *hostname_label; /* name of that label; NULL: "Hostname" */
	/* The kubelet pod-resources socket (monitor/podres.h) whose answers add pod, namespace
	 * and container labels to the DCGM_FI_* series of assigned GPUs; NULL: no pod labels. */
	const char *pod_resources;
	unsigned pod_resources_interval_ms; /* how often it is asked; 0: 5 s */
};

/* Starts sampling (the first sample is taken before this returns). Fails only when the
 * thread cannot start; a missing driver is served as gpumigrate_gpus 0 plus the reason in a
 * comment, and retried every interval. */
enum gm_rc gm_exporter_start(struct gm_exporter **out, const struct gm_exporter_opts *opts,
                             struct gm_err *err);
/* Stops the thread and frees everything. Accepts NULL. */
void gm_exporter_stop(struct gm_exporter *ex);

/* Appends the latest exposition to out: Prometheus text 0.0.4, or OpenMetrics 1.0.0 (with
 * "# EOF"). Thread-safe, never blocks on NVML. */
void gm_exporter_render(struct gm_exporter *ex, bool openmetrics, struct gm_buf *out);

/* True when the last sample reached NVML (for /healthz). */
bool gm_exporter_healthy(struct gm_exporter *ex);

#endif

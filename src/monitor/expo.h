/* A snapshot (monitor/sample.h) as text for Prometheus: the text exposition format 0.0.4 and
 * OpenMetrics 1.0.0. Pure functions of the snapshot, so every byte can be unit tested.
 * Families, labels and units: doc/metrics.md. */
#ifndef GM_EXPO_H
#define GM_EXPO_H

#include <stdbool.h>

#include "monitor/sample.h"
#include "util/buf.h"

/* The Content-Type of each format, for the HTTP server. */
#define GM_EXPO_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define GM_EXPO_CONTENT_TYPE_OPENMETRICS \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Appends the exposition of snap to out. In OpenMetrics the counters' TYPE lines name the
 * family without "_total" and the text ends with "# EOF"; DCGM_FI_* counters, whose names
 * do not end in _total, are typed "unknown" there so that their series keep the names
 * dcgm-exporter's users query. A snapshot without NVML gets, in the text format only, a
 * "# gpumigrate: <reason>" comment (OpenMetrics allows no free comments). */
void gm_expo_render(const struct gm_snapshot *snap, bool openmetrics, struct gm_buf *out);

/* Content negotiation: whether an Accept header prefers OpenMetrics — its best q value is
 * above zero and at least that of the text format (text/plain, text/any or any/any).
 * NULL means no. Reads at most 4 KiB of the header. */
bool gm_expo_wants_openmetrics(const char *accept);

/* Appends s as a label value: backslash, double quote and newline escaped. */
void gm_expo_escape(const char *s, struct gm_buf *out);

#endif

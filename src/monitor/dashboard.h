/* The Grafana dashboard for `gpumigrate exporter`'s metrics (doc/metrics.md): what NVIDIA's
 * DCGM dashboard shows (utilisation, clocks, temperature, power, energy, framebuffer, copy,
 * encoder and decoder) plus the health a migrated fleet needs watched (Xid events, ECC, row
 * remaps, throttle reasons, PCIe link width current against max, GPUs lost). The data source
 * is the ${DS_PROMETHEUS} variable; Hostname and gpu are template variables. Panel ids and
 * positions are fixed, so a regenerated dashboard diffs cleanly. */
#ifndef GM_DASHBOARD_H
#define GM_DASHBOARD_H

#include "util/buf.h"

/* The dashboard's uid and title. */
#define GM_DASHBOARD_UID   "gpumigrate-gpu"
#define GM_DASHBOARD_TITLE "GPUs (gpumigrate exporter)"

/* Appends the dashboard (Grafana schemaVersion 39, pretty JSON, newline-terminated) to out. */
void gm_dashboard_to_json(struct gm_buf *out);

#endif

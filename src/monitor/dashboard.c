/* Generates the Grafana dashboard (see dashboard.h) from one table of panels: the layout walks
 * the table left to right, top to bottom, so ids and grid positions follow from the order. */
#include <stddef.h>

#include "monitor/dashboard.h"
#include "util/json.h"
#include "util/banned.h"

#define GPU_SEL         "{Hostname=~\"$Hostname\",gpu=~\"$gpu\"}"
#define GPU_SEL_(extra) "{Hostname=~\"$Hostname\",gpu=~\"$gpu\"," extra "}"
#define HOST_SEL        "{Hostname=~\"$Hostname\"}"
#define LEGEND_GPU      "{{Hostname}} GPU {{gpu}}"
#define MAX_TARGETS     4

struct target {
	const char *expr;
	const char *legend;
};

struct panel {
	const char *type; /* "row", "timeseries", "stat" */
	const char *title;
	const char *description;
	const char *unit;
	int w, h;
	struct target targets[MAX_TARGETS];
};

static const struct panel panels[] = {
        {"row", "Utilisation", NULL, NULL, 24, 1, {{NULL, NULL}}},
        {"timeseries",
         "GPU utilisation",
         "DCGM_FI_DEV_GPU_UTIL: time a kernel was running",
         "percent",
         12,
         8,
         {{"DCGM_FI_DEV_GPU_UTIL" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Memory copy utilisation",
         "DCGM_FI_DEV_MEM_COPY_UTIL: time the memory was being read or written",
         "percent",
         12,
         8,
         {{"DCGM_FI_DEV_MEM_COPY_UTIL" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Framebuffer used",
         "DCGM_FI_DEV_FB_USED",
         "decmbytes",
         8,
         8,
         {{"DCGM_FI_DEV_FB_USED" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Framebuffer free",
         "DCGM_FI_DEV_FB_FREE",
         "decmbytes",
         8,
         8,
         {{"DCGM_FI_DEV_FB_FREE" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Framebuffer in use",
         "FB_USED / (FB_USED + FB_FREE): what the GPUMemoryHigh alert watches",
         "percentunit",
         8,
         8,
         {{"DCGM_FI_DEV_FB_USED" GPU_SEL " / (DCGM_FI_DEV_FB_USED" GPU_SEL
           " + DCGM_FI_DEV_FB_FREE" GPU_SEL ")",
           LEGEND_GPU}}},
        {"timeseries",
         "Encoder and decoder utilisation",
         "DCGM_FI_DEV_ENC_UTIL, DEC_UTIL",
         "percent",
         24,
         8,
         {{"DCGM_FI_DEV_ENC_UTIL" GPU_SEL, LEGEND_GPU " encoder"},
          {"DCGM_FI_DEV_DEC_UTIL" GPU_SEL, LEGEND_GPU " decoder"}}},
        {"row", "Clocks, temperature and power", NULL, NULL, 24, 1, {{NULL, NULL}}},
        {"timeseries",
         "SM clock",
         "DCGM_FI_DEV_SM_CLOCK",
         "hertz",
         12,
         8,
         {{"DCGM_FI_DEV_SM_CLOCK" GPU_SEL " * 1000000", LEGEND_GPU}}},
        {"timeseries",
         "Memory clock",
         "DCGM_FI_DEV_MEM_CLOCK",
         "hertz",
         12,
         8,
         {{"DCGM_FI_DEV_MEM_CLOCK" GPU_SEL " * 1000000", LEGEND_GPU}}},
        {"timeseries",
         "GPU temperature",
         "DCGM_FI_DEV_GPU_TEMP",
         "celsius",
         12,
         8,
         {{"DCGM_FI_DEV_GPU_TEMP" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Memory temperature",
         "DCGM_FI_DEV_MEMORY_TEMP (HBM GPUs)",
         "celsius",
         12,
         8,
         {{"DCGM_FI_DEV_MEMORY_TEMP" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Power draw",
         "DCGM_FI_DEV_POWER_USAGE",
         "watt",
         12,
         8,
         {{"DCGM_FI_DEV_POWER_USAGE" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Energy per hour",
         "increase of DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ) over an hour, in kWh",
         "kwatth",
         12,
         8,
         {{"increase(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" GPU_SEL "[1h]) / 3600000000",
           LEGEND_GPU}}},
        {"row", "Health", NULL, NULL, 24, 1, {{NULL, NULL}}},
        {"stat",
         "GPUs",
         "gpumigrate_gpus: GPUs NVML reports per host",
         "none",
         6,
         6,
         {{"gpumigrate_gpus" HOST_SEL, "{{Hostname}}"}}},
        {"stat",
         "GPUs lost",
         "GPUs that stopped answering (gpumigrate_gpu_up == 0)",
         "none",
         6,
         6,
         {{"count by (Hostname) (gpumigrate_gpu_up" GPU_SEL " == 0) or vector(0)", "lost"}}},
        {"stat",
         "Last Xid",
         "DCGM_FI_DEV_XID_ERRORS: the last Xid seen (0: none)",
         "none",
         6,
         6,
         {{"DCGM_FI_DEV_XID_ERRORS" GPU_SEL, LEGEND_GPU}}},
        {"stat",
         "Row remap failures",
         "DCGM_FI_DEV_ROW_REMAP_FAILURE: 1 means RMA the GPU",
         "none",
         6,
         6,
         {{"DCGM_FI_DEV_ROW_REMAP_FAILURE" GPU_SEL, LEGEND_GPU}}},
        {"timeseries",
         "Xid events",
         "gpumigrate_xid_events_total, per Xid code",
         "none",
         12,
         8,
         {{"increase(gpumigrate_xid_events_total" GPU_SEL "[$__rate_interval])",
           LEGEND_GPU " Xid {{xid}}"}}},
        {"timeseries",
         "ECC errors (volatile, per hour)",
         "gpumigrate_ecc_errors_total",
         "none",
         12,
         8,
         {{"increase(gpumigrate_ecc_errors_total" GPU_SEL_("counter=\"volatile\"") "[1h])",
           LEGEND_GPU " {{type}}"}}},
        {"timeseries",
         "Remapped rows",
         "DCGM_FI_DEV_*_REMAPPED_ROWS and pending remaps",
         "none",
         12,
         8,
         {{"DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS" GPU_SEL, LEGEND_GPU " correctable"},
          {"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS" GPU_SEL, LEGEND_GPU " uncorrectable"},
          {"gpumigrate_remapped_rows_pending" GPU_SEL, LEGEND_GPU " pending"},
          {"gpumigrate_retired_pages_pending" GPU_SEL, LEGEND_GPU " page retirement pending"}}},
        {"timeseries",
         "Throttle reasons",
         "gpumigrate_clock_event_active: reasons in effect",
         "none",
         12,
         8,
         {{"gpumigrate_clock_event_active" GPU_SEL_("reason!=\"gpu_idle\"") " == 1",
           LEGEND_GPU " {{reason}}"}}},
        {"timeseries",
         "PCIe link width",
         "gpumigrate_pcie_link_width: current against max",
         "none",
         12,
         8,
         {{"gpumigrate_pcie_link_width" GPU_SEL_("state=\"current\""), LEGEND_GPU " current"},
          {"gpumigrate_pcie_link_width" GPU_SEL_("state=\"max\""), LEGEND_GPU " max"}}},
        {"timeseries",
         "PCIe link generation",
         "gpumigrate_pcie_link_gen: current against max",
         "none",
         12,
         8,
         {{"gpumigrate_pcie_link_gen" GPU_SEL_("state=\"current\""), LEGEND_GPU " current"},
          {"gpumigrate_pcie_link_gen" GPU_SEL_("state=\"max\""), LEGEND_GPU " max"}}},
        {"timeseries",
         "PCIe replays",
         "rate of DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
         "ops",
         12,
         8,
         {{"rate(DCGM_FI_DEV_PCIE_REPLAY_COUNTER" GPU_SEL "[$__rate_interval])", LEGEND_GPU}}},
        {"timeseries",
         "NVLink bandwidth",
         "rate of DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
         "none",
         12,
         8,
         {{"rate(DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL" GPU_SEL "[$__rate_interval])", LEGEND_GPU}}},
        {"row", "Exporter", NULL, NULL, 24, 1, {{NULL, NULL}}},
        {"timeseries",
         "Sample duration",
         "gpumigrate_collection_duration_seconds",
         "s",
         12,
         8,
         {{"gpumigrate_collection_duration_seconds" HOST_SEL, "{{Hostname}}"}}},
        {"timeseries",
         "Sample errors",
         "rate of gpumigrate_collection_errors_total",
         "none",
         12,
         8,
         {{"increase(gpumigrate_collection_errors_total" HOST_SEL "[$__rate_interval])",
           "{{Hostname}}"}}},
};

static void datasource(struct gm_json *j)
{
	gm_json_begin_object(j, "datasource");
	gm_json_str(j, "type", "prometheus");
	gm_json_str(j, "uid", "${DS_PROMETHEUS}");
	gm_json_end_object(j);
}

static void write_panel(struct gm_json *j, const struct panel *p, int id, int x, int y)
{
	gm_json_begin_object(j, NULL);
	gm_json_int(j, "id", id);
	gm_json_str(j, "type", p->type);
	gm_json_str(j, "title", p->title);
	gm_json_begin_object(j, "gridPos");
	gm_json_int(j, "h", p->h);
	gm_json_int(j, "w", p->w);
	gm_json_int(j, "x", x);
	gm_json_int(j, "y", y);
	gm_json_end_object(j);
	if (p->type[0] == 'r') { /* row */
		gm_json_bool(j, "collapsed", false);
		gm_json_begin_array(j, "panels");
		gm_json_end_array(j);
		gm_json_end_object(j);
		return;
	}
	if (p->description)
		gm_json_str(j, "description", p->description);
	datasource(j);
	gm_json_begin_object(j, "fieldConfig");
	gm_json_begin_object(j, "defaults");
	gm_json_str(j, "unit", p->unit);
	gm_json_end_object(j);
	gm_json_begin_array(j, "overrides");
	gm_json_end_array(j);
	gm_json_end_object(j);
	gm_json_begin_object(j, "options");
	gm_json_begin_object(j, "legend");
	gm_json_str(j, "displayMode", "list");
	gm_json_str(j, "placement", "bottom");
	gm_json_bool(j, "showLegend", true);
	gm_json_end_object(j);
	gm_json_begin_object(j, "tooltip");
	gm_json_str(j, "mode", "multi");
	gm_json_str(j, "sort", "desc");
	gm_json_end_object(j);
	gm_json_end_object(j);
	gm_json_begin_array(j, "targets");
	for (int t = 0; t < MAX_TARGETS && p->targets[t].expr; t++) {
		char ref[2] = {(char)('A' + t), '\0'};
		gm_json_begin_object(j, NULL);
		datasource(j);
		gm_json_str(j, "expr", p->targets[t].expr);
		gm_json_str(j, "legendFormat", p->targets[t].legend);
		gm_json_str(j, "refId", ref);
		gm_json_end_object(j);
	}
	gm_json_end_array(j);
	gm_json_end_object(j);
}

static void query_var(struct gm_json *j, const char *name, const char *query)
{
	gm_json_begin_object(j, NULL);
	gm_json_str(j, "name", name);
	gm_json_str(j, "label", name);
	gm_json_str(j, "type", "query");
	datasource(j);
	gm_json_begin_object(j, "query");
	gm_json_str(j, "query", query);
	gm_json_str(j, "refId", "PrometheusVariableQueryEditor-VariableQuery");
	gm_json_end_object(j);
	gm_json_str(j, "definition", query);
	gm_json_int(j, "refresh", 2);
	gm_json_bool(j, "includeAll", true);
	gm_json_bool(j, "multi", true);
	gm_json_str(j, "allValue", ".*");
	gm_json_int(j, "sort", 3);
	gm_json_begin_object(j, "current");
	gm_json_str(j, "text", "All");
	gm_json_str(j, "value", "$__all");
	gm_json_end_object(j);
	gm_json_end_object(j);
}

void gm_dashboard_to_json(struct gm_buf *out)
{
	struct gm_json j;
	gm_json_init(&j, out, true);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "uid", GM_DASHBOARD_UID);
	gm_json_str(&j, "title", GM_DASHBOARD_TITLE);
	gm_json_str(&j, "description",
	            "GPU metrics from gpumigrate exporter (dcgm-exporter compatible names) and "
	            "GPU health; generated by `gpumigrate monitor dashboard`");
	gm_json_begin_array(&j, "tags");
	gm_json_str(&j, NULL, "gpu");
	gm_json_str(&j, NULL, "nvidia");
	gm_json_str(&j, NULL, "gpumigrate");
	gm_json_end_array(&j);
	gm_json_int(&j, "schemaVersion", 39);
	gm_json_int(&j, "version", 1);
	gm_json_bool(&j, "editable", true);
	gm_json_int(&j, "graphTooltip", 1);
	gm_json_str(&j, "refresh", "30s");
	gm_json_begin_object(&j, "time");
	gm_json_str(&j, "from", "now-6h");
	gm_json_str(&j, "to", "now");
	gm_json_end_object(&j);
	gm_json_str(&j, "timezone", "browser");
	gm_json_begin_object(&j, "annotations");
	gm_json_begin_array(&j, "list");
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	gm_json_begin_array(&j, "links");
	gm_json_end_array(&j);

	gm_json_begin_object(&j, "templating");
	gm_json_begin_array(&j, "list");
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "name", "DS_PROMETHEUS");
	gm_json_str(&j, "label", "Data source");
	gm_json_str(&j, "type", "datasource");
	gm_json_str(&j, "query", "prometheus");
	gm_json_int(&j, "refresh", 1);
	gm_json_bool(&j, "includeAll", false);
	gm_json_bool(&j, "multi", false);
	gm_json_end_object(&j);
	query_var(&j, "Hostname", "label_values(gpumigrate_gpus, Hostname)");
	query_var(&j, "gpu", "label_values(DCGM_FI_DEV_GPU_TEMP{Hostname=~\"$Hostname\"}, gpu)");
	gm_json_end_array(&j);
	gm_json_end_object(&j);

	gm_json_begin_array(&j, "panels");
	int x = 0, y = 0, row_h = 0;
	for (size_t i = 0; i < sizeof(panels) / sizeof(panels[0]); i++) {
		const struct panel *p = &panels[i];
		if (x + p->w > 24 || (p->type[0] == 'r' && x > 0)) {
			y += row_h;
			x = 0;
			row_h = 0;
		}
		write_panel(&j, p, (int)i + 1, x, y);
		x += p->w;
		if (p->h > row_h)
			row_h = p->h;
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	gm_buf_addch(out, '\n');
}

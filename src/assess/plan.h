/* The plan file (gpumigrate.plan/v1, doc/formats.md): one YAML document that describes a
 * migration once — the cloud source, the on-prem target and its cost inputs, the datasets, the
 * workloads, the network between the sites and the thresholds — so that tco, assess and the
 * other commands read the same description. Every value remembers where it came from
 * ("plan FILE:LINE:COL", or "flag --x" when a command line overrode it); every error names
 * file:line:col and what was expected; unknown keys are errors with a "did you mean" hint.
 *
 * Also here: the strict unit parsers plans use (sizes, parameter counts, rates, durations), and
 * the step that turns a plan plus the catalog into TCO inputs (gm_plan_tco_inputs). */
#ifndef GM_PLAN_H
#define GM_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assess/catalog.h"
#include "assess/tco.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_PLAN_SCHEMA "gpumigrate.plan/v1"
/* Caps on list lengths: a plan is written by a person. */
#define GM_PLAN_MAX_ITEMS 1024

/* A number from the plan (or a flag). src is NULL while unset. */
struct gm_plan_num {
	bool set;
	double v;
	char *src; /* "plan x.yaml:12:5" or "flag --servers" */
};

/* A string from the plan (or a flag). v and src are NULL while unset. */
struct gm_plan_str {
	char *v;
	char *src;
};

struct gm_plan_strs {
	char **v;
	size_t n;
	char *src; /* where the list starts */
};

/* source.instances[] */
struct gm_plan_instance {
	struct gm_plan_str type; /* "gcp:a2-highgpu-8g" */
	struct gm_plan_num count;
	struct gm_plan_str region;
	struct gm_plan_str commitment; /* "on-demand", "1y", "3y" */
	enum gm_tco_commitment commit; /* parsed commitment (on-demand when unset) */
	char *src;                     /* where the entry starts */
};

/* target.servers[] */
struct gm_plan_server {
	struct gm_plan_str gpu; /* catalog GPU id or alias: "l40s" */
	struct gm_plan_num gpus_per_server;
	struct gm_plan_num count;
	struct gm_plan_num capex_usd; /* per server; else the catalog's price point */
	struct gm_plan_strs inventories;
	char *src;
};

/* target.costs: overrides of the catalog's on-prem cost defaults. */
enum gm_plan_cost {
	GM_PLAN_COST_ELECTRICITY,
	GM_PLAN_COST_PUE,
	GM_PLAN_COST_SERVER_POWER_FACTOR,
	GM_PLAN_COST_DEPRECIATION_YEARS,
	GM_PLAN_COST_SUPPORT_PCT,
	GM_PLAN_COST_COLOCATION,
	GM_PLAN_COST_STAFF_FTE,
	GM_PLAN_COST_FTE_COST,
	GM_PLAN_COST_NETWORK_CAPEX_PCT,
	GM_PLAN_COST_INSTALL_PER_SERVER,
	GM_PLAN_COST_IDLE_POWER_FRACTION,
	GM_PLAN_N_COSTS
};

/* The costs key of each gm_plan_cost (the catalog's cost_defaults keys, plus
 * idle_power_fraction) and the TCO input it sets. */
extern const char *const gm_plan_cost_keys[GM_PLAN_N_COSTS];
extern const enum gm_tco_key gm_plan_cost_tco[GM_PLAN_N_COSTS];

struct gm_plan_dataset {
	struct gm_plan_str name;
	struct gm_plan_str source; /* gs://bucket/path, s3://…, /local/path, host:/path */
	struct gm_plan_num size_bytes;
	char *src;
};

struct gm_plan_workload {
	struct gm_plan_str name;
	struct gm_plan_strs manifests;
	struct gm_plan_num model_params; /* "70B" = 70e9 */
	struct gm_plan_str precision;    /* "bf16" … */
	struct gm_plan_str kind;         /* "training", "inference", or unset (both) */
	struct gm_plan_str require_cuda; /* "12.2" */
	char *src;
};

/* monitor.for: one alert's `for` duration. The plan checks only that both are non-empty
 * strings; the alert name and the duration syntax are checked where the rules are made
 * (src says where the entry is). */
struct gm_plan_monitor_for {
	char *alert;                 /* "GPUMemoryHigh" */
	struct gm_plan_str duration; /* "5m" */
};

struct gm_plan {
	char *path; /* as given; NULL for a plan made only of flags */
	char *dir;  /* directory of path, for relative paths inside the plan ("." when none) */
	struct gm_plan_str name;
	struct gm_plan_num horizon_years;
	/* source */
	struct gm_plan_instance *instances;
	size_t n_instances;
	struct gm_plan_strs source_inventories;
	/* target */
	struct gm_plan_server *servers;
	size_t n_servers;
	struct gm_plan_num costs[GM_PLAN_N_COSTS];
	struct gm_plan_str check_profile;
	struct gm_plan_str check_require_cuda;
	bool check_local;
	char *check_local_src; /* NULL when not given */
	/* datasets, workloads */
	struct gm_plan_dataset *datasets;
	size_t n_datasets;
	struct gm_plan_workload *workloads;
	size_t n_workloads;
	/* network */
	struct gm_plan_num bandwidth_bps;
	struct gm_plan_num latency_ms;
	/* thresholds */
	struct gm_plan_num max_breakeven_months;
	struct gm_plan_num min_capacity_ratio;
	struct gm_plan_num utilisation;
	/* monitor: settings of the alert rules `gpumigrate monitor rules` writes */
	struct gm_plan_num monitor_memory_threshold;      /* fraction, (0, 1] */
	struct gm_plan_num monitor_temperature_threshold; /* °C, (0, 150] */
	struct gm_plan_str monitor_job;                   /* the exporter's scrape job (regex) */
	struct gm_plan_monitor_for *monitor_for;          /* monitor.for: alert name: duration */
	size_t n_monitor_for;
};

void gm_plan_init(struct gm_plan *plan);
void gm_plan_release(struct gm_plan *plan);

/* Reads and checks a plan file. On failure plan is left released and err names
 * file:line:col and what was expected (GM_ERR_PARSE; GM_ERR_NOT_FOUND / GM_ERR_IO when the
 * file cannot be read). */
enum gm_rc gm_plan_load(struct gm_plan *plan, const char *path, struct gm_err *err);
/* The same from memory; name stands for the file in messages and provenance. */
enum gm_rc gm_plan_parse(struct gm_plan *plan, const char *name, const char *text, size_t len,
                         struct gm_err *err);

/* Setters for command-line overrides: value plus provenance (printf-style). */
void gm_plan_num_set(struct gm_plan_num *n, double v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void gm_plan_str_set(struct gm_plan_str *s, const char *v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Appends an empty entry and returns it. */
struct gm_plan_instance *gm_plan_add_instance(struct gm_plan *plan);
struct gm_plan_server *gm_plan_add_server(struct gm_plan *plan);

/* A path from the plan, relative to the plan's directory unless absolute, into out. */
void gm_plan_path(const struct gm_plan *plan, const char *rel, struct gm_buf *out);

/* Turns the plan's source and target, with the catalog filling what the plan leaves out, into
 * TCO inputs with their provenance. Needs source.instances (instance types carry the prices;
 * one commitment for the whole fleet) and target.servers (a GPU and count each, or inventory
 * files, one per server). Catalog figures that are null become "missing" inputs (counted as
 * 0, reported) — except the server price, which is required (GM_ERR_USAGE naming the plan line
 * or the flag to set). */
enum gm_rc gm_plan_tco_inputs(const struct gm_plan *plan, const struct gm_catalog *cat,
                              struct gm_tco_inputs *in, struct gm_err *err);

/* Strict unit parsers. Each accepts a decimal number and an optional unit, optionally
 * separated by one space, and nothing else; false on anything else or overflow. */
/* Bytes: B, kB/KB, MB, GB, TB, PB (powers of 1000), KiB, MiB, GiB, TiB, PiB (of 1024).
 * A bare number is bytes. The result must be a whole number of bytes below 2^63. */
bool gm_parse_size(const char *s, uint64_t *bytes);
/* Model parameter counts: K, M, B (billion), T, in either case; a bare number is a count.
 * "70B" = "70b" = 70e9. */
bool gm_parse_params(const char *s, double *count);
/* Rates: bps, kbps, Mbps, Gbps, Tbps (also Kbit/s … and Kb/s …), or bytes per second as
 * B/s, kB/s, MB/s, GB/s, TB/s (x 8). Result in bits per second; a bare number is refused. */
bool gm_parse_rate(const char *s, double *bps);
/* Durations: us, ms, s, min. Result in milliseconds; a bare number is refused. */
bool gm_parse_duration_ms(const char *s, double *ms);

#endif

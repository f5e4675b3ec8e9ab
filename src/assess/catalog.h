/* The catalog: GPU specs, cloud instance types with prices, on-prem cost defaults and server
 * price points, read from data/{gpus,cloud,onprem}.yaml (compiled in) or from a user's
 * `--catalog DIR`. compare, tco, plan and assess all look things up here; nothing else parses
 * those files. Every number carries a known/unknown state: null in the data stays unknown and
 * is never read as 0. */
#ifndef GM_CATALOG_H
#define GM_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/err.h"

/* A number that may be unknown (null in the data, not published, not measured). */
struct gm_num {
	bool known;
	double v; /* meaningful only when known */
};

#define GM_NUM_UNKNOWN ((struct gm_num){false, 0.0})
#define GM_NUM(x)      ((struct gm_num){true, (x)})

/* Precisions a GPU spec gives throughput for, in this order. */
enum gm_precision {
	GM_PREC_FP64,
	GM_PREC_FP32,
	GM_PREC_TF32,
	GM_PREC_FP16,
	GM_PREC_BF16,
	GM_PREC_FP8,
	GM_PREC_INT8,
	GM_PREC_COUNT
};

/* "fp64", "fp32", … as in the data files. */
const char *gm_precision_name(enum gm_precision p);
/* Parses "bf16", "FP16" … (case-insensitive); false when unknown. */
bool gm_precision_parse(const char *s, enum gm_precision *out);

/* One GPU variant (data/gpus.yaml). Strings are owned by the catalog. */
struct gm_gpu_spec {
	char *id;   /* "a100-sxm4-40gb" */
	char *name; /* "NVIDIA A100 SXM4 40GB" */
	char **aliases;
	size_t n_aliases;
	char *architecture;       /* "ampere" */
	char *compute_capability; /* "8.0", NULL when unknown */
	struct gm_num sm_count;
	struct gm_num memory_gib;
	char *memory_type; /* "HBM2e", "GDDR6" …; NULL when unknown */
	struct gm_num memory_bandwidth_gbs;
	struct gm_num tdp_w;
	struct gm_num pcie_gen;
	struct gm_num nvlink_gbs;            /* 0 (known) = no NVLink */
	struct gm_num tflops[GM_PREC_COUNT]; /* dense; int8 in TOPS */
	struct gm_num sparse[GM_PREC_COUNT]; /* 2:4-sparsity figures as printed; mostly unknown */
	char *source;
	char *date; /* "YYYY-MM-DD" */
};

/* One price row of an instance (one region). */
struct gm_price {
	char *region;
	struct gm_num on_demand_hour; /* per instance-hour */
	struct gm_num commit_1y_hour;
	struct gm_num commit_3y_hour;
	struct gm_num spot_hour;
	char *currency; /* "USD" */
	char *source;
	char *date; /* "YYYY-MM-DD" */
};

/* One cloud machine type (data/cloud.yaml). */
struct gm_instance {
	char *id;       /* "gcp:a2-highgpu-8g" */
	char *provider; /* "gcp", "aws", "azure" */
	char *name;
	const struct gm_gpu_spec *gpu; /* resolved; never NULL after a successful load */
	int gpu_count;
	struct gm_num vcpus;
	struct gm_num memory_gib;
	char *interconnect; /* "nvswitch", "nvlink", "pcie", "none" */
	struct gm_price *prices;
	size_t n_prices;
};

/* One on-prem cost default (data/onprem.yaml cost_defaults). */
struct gm_cost_default {
	char *key; /* "electricity_usd_per_kwh" */
	struct gm_num value;
	char *unit;
	char *kind; /* "published", "derived", "assumption"; NULL when absent */
	char *source;
	char *rationale; /* NULL when absent */
	char *date;
};

/* One public server price point (data/onprem.yaml servers). */
struct gm_server_price {
	char *id;
	char *description;
	const struct gm_gpu_spec *gpu; /* resolved */
	int gpu_count;
	struct gm_num capex_usd;
	char *source;
	char *date;
};

struct gm_catalog {
	struct gm_gpu_spec *gpus;
	size_t n_gpus;
	struct gm_instance *instances;
	size_t n_instances;
	struct gm_cost_default *costs;
	size_t n_costs;
	struct gm_server_price *servers;
	size_t n_servers;
	/* Where each file came from: "built-in" or the path read. */
	char *gpus_from;
	char *cloud_from;
	char *onprem_from;
};

void gm_catalog_init(struct gm_catalog *cat);
/* Loads the catalog. dir NULL: the built-in files. dir set: DIR/gpus.yaml, DIR/cloud.yaml and
 * DIR/onprem.yaml each replace the built-in file when present (a missing one falls back to the
 * built-in); dir itself must exist. Errors name file:line:col; unknown keys are errors with a
 * "did you mean" hint; every instance's and server's gpu must resolve. On failure cat is left
 * empty (released). */
enum gm_rc gm_catalog_load(struct gm_catalog *cat, const char *dir, struct gm_err *err);
void gm_catalog_release(struct gm_catalog *cat);

/* A GPU by id, alias or NVML name ("NVIDIA A100-SXM4-40GB", "Tesla T4"), case-insensitive.
 * A leading "NVIDIA " is ignored when the exact name is not found. NULL when none. */
const struct gm_gpu_spec *gm_catalog_find_gpu(const struct gm_catalog *cat, const char *name);
/* An instance by id ("gcp:a2-highgpu-8g"), case-insensitive. NULL when none. */
const struct gm_instance *gm_catalog_find_instance(const struct gm_catalog *cat, const char *id);
/* The price row for region, or the first row when region is NULL. NULL when none. */
const struct gm_price *gm_instance_price(const struct gm_instance *inst, const char *region);
/* A cost default by key; NULL when the key is not in the catalog (its value may still be
 * unknown: check ->value.known). */
const struct gm_cost_default *gm_catalog_cost_default(const struct gm_catalog *cat,
                                                      const char *key);
/* Server price points for a GPU id, in catalog order: call with i = 0, 1, … until NULL. */
const struct gm_server_price *gm_catalog_server_for_gpu(const struct gm_catalog *cat,
                                                        const char *gpu_id, size_t i);

/* The closest GPU id / alias / instance id to name, for "did you mean" hints; NULL when
 * nothing is reasonably close. */
/* The name NVML reports for this GPU (the first alias that reads like one: "NVIDIA L40S",
 * "Tesla T4"), else the catalog name; for matching inventories against a model. */
const char *gm_catalog_nvml_name(const struct gm_gpu_spec *g);

const char *gm_catalog_suggest_gpu(const struct gm_catalog *cat, const char *name);
const char *gm_catalog_suggest_instance(const struct gm_catalog *cat, const char *name);

/* Whole days from date ("YYYY-MM-DD") to now (UTC); 0 for a date in the future; -1 when date
 * does not parse. Prices older than GM_CATALOG_PRICE_MAX_AGE_DAYS get a warning. */
long gm_catalog_price_age_days(const char *date, time_t now);
#define GM_CATALOG_PRICE_MAX_AGE_DAYS 365

/* JSON objects for one catalog entry (the same fields as the data files, unknown as null);
 * prices also carry "age_days" relative to now. key: member name, or NULL inside an array. */
struct gm_json;
void gm_gpu_spec_to_json(struct gm_json *j, const char *key, const struct gm_gpu_spec *g);
void gm_instance_to_json(struct gm_json *j, const char *key, const struct gm_instance *in,
                         time_t now);
void gm_cost_default_to_json(struct gm_json *j, const char *key, const struct gm_cost_default *c);
void gm_server_price_to_json(struct gm_json *j, const char *key, const struct gm_server_price *s);

/* Parses a compute capability "8.0", "12.0" into its parts; false when malformed. */
bool gm_catalog_parse_cc(const char *s, int *major, int *minor);

#endif

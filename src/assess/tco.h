/* Total cost of ownership: what the cloud GPUs cost against buying, powering, housing and
 * running on-prem GPU servers, month by month, with the break-even point. Pure computation:
 * every input comes in with its value and where it came from (a flag, a plan line, the
 * catalog), so a report can say why each number is what it is. No catalog dependency: the
 * caller (plan.c, cmd_tco.c) resolves inputs.
 *
 * The model (every assumption stated here and in gpumigrate-tco(1)):
 *  - A month is 730 hours (8760 / 12). Money is computed in double and never rounded here.
 *  - Utilisation u (0 < u <= 1) is the fraction of hours the GPUs are busy. The same workload
 *    runs on both sides: the on-prem servers are assumed sized to carry it (sizing is compare's
 *    job), so both sides see the same utilisation.
 *  - Cloud on-demand is paid for used hours only (the fleet scales to zero when idle):
 *      cloud GPUs x 730 x u x price per GPU-hour.
 *    A 1-year or 3-year commitment is paid for every hour whether used or not:
 *      cloud GPUs x 730 x committed price per GPU-hour.
 *    A commitment runs its whole term; costs beyond the horizon are not shown. The source fleet
 *    has one commitment type (no mix of committed base and on-demand burst).
 *  - On-prem capex, paid at month 0: servers x server price; network = servers' price x
 *    network %; install = servers x install per server.
 *  - Power: provisioned IT power = on-prem GPUs x GPU TDP x server power factor (CPUs, fans,
 *    PSU losses on top of the GPUs). Average draw = provisioned x (idle + (1 - idle) x u),
 *    where idle is the idle power fraction (default 0.3: a server draws 30 % of its maximum
 *    when its GPUs are idle). Energy per month = average kW x PUE x 730 h x electricity price.
 *  - Colocation is paid per provisioned IT kW per month, independent of use, on top of the
 *    metered energy (set it to 0 when the colo contract already includes power at PUE, or for
 *    an own data centre whose cost is in the PUE).
 *  - Support per year = support % x (servers + network capex); install is not supported.
 *  - Staff per month = servers x FTE per server x FTE cost per year / 12.
 *  - Straight-line depreciation of all capex over N years (the amortised view); the hardware
 *    has no resale value at the end.
 *  - No price escalation, no discounting (cash flows are not discounted to present value), no
 *    financing cost, no cloud egress or storage, no sustained-use discounts.
 *
 * Two views of on-prem cost:
 *  - cash: capex at month 0 plus monthly opex. The cumulative curves and the break-even month
 *    (the first month whose cumulative on-prem cost is <= the cumulative cloud cost) use it.
 *  - amortised: monthly depreciation plus opex. Cost per delivered GPU-hour uses it.
 * Cost per delivered GPU-hour divides the cost over the horizon by the work delivered, counted
 * in source (cloud) GPU-hours: cloud GPUs x 730 x u x months, the same on both sides.
 * Break-even utilisation is the u at which on-prem and cloud (the reference commitment) cost
 * the same over the horizon; it is given for both views. Every cost is linear in u, so it is
 * solved in closed form. */
#ifndef GM_TCO_H
#define GM_TCO_H

#include <stdbool.h>

#include "util/err.h"
#include "util/json.h"

#define GM_TCO_SCHEMA          "gpumigrate.tco/v1"
#define GM_TCO_HOURS_PER_MONTH 730.0
#define GM_TCO_MAX_YEARS       5
#define GM_TCO_MAX_MONTHS      (GM_TCO_MAX_YEARS * 12)

/* gpumigrate's own assumptions, used when nothing else gives a value. */
#define GM_TCO_DEFAULT_IDLE_POWER_FRACTION 0.3
#define GM_TCO_DEFAULT_UTILISATION         0.7
#define GM_TCO_DEFAULT_HORIZON_YEARS       3

/* How the cloud GPUs are paid for. */
enum gm_tco_commitment {
	GM_TCO_ON_DEMAND = 0,
	GM_TCO_COMMIT_1Y,
	GM_TCO_COMMIT_3Y,
	GM_TCO_N_COMMIT
};

/* "on-demand", "1y", "3y" (plan files and flags). */
const char *gm_tco_commitment_name(enum gm_tco_commitment c);
/* "on_demand", "commit_1y", "commit_3y" (JSON keys). */
const char *gm_tco_commitment_key(enum gm_tco_commitment c);
/* Parses "on-demand", "1y", "3y"; false for anything else. */
bool gm_tco_commitment_parse(const char *s, enum gm_tco_commitment *out);

/* The inputs, in report order. */
enum gm_tco_key {
	GM_TCO_CLOUD_GPUS,          /* GPUs in the source fleet */
	GM_TCO_CLOUD_ON_DEMAND,     /* USD per GPU-hour */
	GM_TCO_CLOUD_COMMIT_1Y,     /* USD per GPU-hour, effective, 1-year commitment */
	GM_TCO_CLOUD_COMMIT_3Y,     /* USD per GPU-hour, effective, 3-year commitment */
	GM_TCO_UTILISATION,         /* fraction of hours busy, (0, 1] */
	GM_TCO_SERVERS,             /* on-prem servers */
	GM_TCO_GPUS_PER_SERVER,     /* GPUs per on-prem server */
	GM_TCO_GPU_TDP_W,           /* W per on-prem GPU */
	GM_TCO_SERVER_CAPEX,        /* USD per server, GPUs included */
	GM_TCO_NETWORK_CAPEX_PCT,   /* fraction of server capex */
	GM_TCO_INSTALL_PER_SERVER,  /* USD per server, one-off */
	GM_TCO_SERVER_POWER_FACTOR, /* server wall power / sum of GPU TDP */
	GM_TCO_PUE,                 /* facility power / IT power */
	GM_TCO_ELECTRICITY,         /* USD per kWh */
	GM_TCO_IDLE_POWER_FRACTION, /* server draw at idle / maximum */
	GM_TCO_COLOCATION,          /* USD per provisioned IT kW per month */
	GM_TCO_SUPPORT_PCT,         /* fraction of (server + network) capex per year */
	GM_TCO_STAFF_FTE,           /* FTE per server */
	GM_TCO_FTE_COST,            /* USD per FTE per year */
	GM_TCO_DEPRECIATION_YEARS,  /* straight-line depreciation period */
	GM_TCO_HORIZON_YEARS,       /* 1 to 5 */
	GM_TCO_N_INPUTS
};

/* Static description of one input. */
struct gm_tco_field {
	const char *key;   /* JSON key, and the plan's costs key where there is one */
	const char *label; /* for people */
	const char *unit;
	bool optional; /* may stay unset (a commitment price the catalog lacks) */
};

/* gm_tco_fields[key] describes input key. */
extern const struct gm_tco_field gm_tco_fields[GM_TCO_N_INPUTS];

/* One input: its value and where it came from. */
struct gm_tco_input {
	bool set;     /* a value was given */
	bool missing; /* no figure exists anywhere: counted as 0, and the report says so */
	double v;
	char *src; /* "flag --electricity", "plan x.yaml:12:5", "catalog onprem.yaml …" */
};

struct gm_tco_inputs {
	struct gm_tco_input in[GM_TCO_N_INPUTS];
	enum gm_tco_commitment commitment; /* the reference for break-even */
	char *commitment_src;
	char *cloud_label;  /* "2 x gcp:a2-highgpu-8g (us-central1)"; NULL when not set */
	char *onprem_label; /* "4 x 4 x l40s" */
};

void gm_tco_inputs_init(struct gm_tco_inputs *in);
void gm_tco_inputs_release(struct gm_tco_inputs *in);
/* Sets an input and its provenance (printf-style), replacing what was there. */
void gm_tco_set(struct gm_tco_inputs *in, enum gm_tco_key key, double v, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Marks an input as having no figure: it counts as 0, src says why. */
void gm_tco_set_missing(struct gm_tco_inputs *in, enum gm_tco_key key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void gm_tco_set_commitment(struct gm_tco_inputs *in, enum gm_tco_commitment c, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Replaces *label with a formatted string. */
void gm_tco_set_label(char **label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The input whose key is name; -1 when none. */
int gm_tco_key_find(const char *name);

/* Where break-even utilisation lies within (0, 1]. */
enum gm_tco_beu_kind {
	GM_TCO_BEU_ABOVE,  /* on-prem is cheaper at utilisation >= u */
	GM_TCO_BEU_BELOW,  /* on-prem is cheaper at utilisation <= u (cloud cost is flat) */
	GM_TCO_BEU_ALWAYS, /* on-prem is cheaper at every utilisation */
	GM_TCO_BEU_NEVER,  /* on-prem is never cheaper */
};

/* "above", "below", "always", "never". */
const char *gm_tco_beu_name(enum gm_tco_beu_kind k);

struct gm_tco_beu {
	enum gm_tco_beu_kind kind;
	double u; /* meaningful for ABOVE and BELOW */
};

#define GM_TCO_SENS_N 4

struct gm_tco_result {
	int years, months;
	double utilisation;
	double cloud_gpus, onprem_gpus;
	/* Cloud per month, per commitment; NaN when that price is unknown. */
	double cloud_month[GM_TCO_N_COMMIT];
	/* On-prem capex (month 0). */
	double capex_servers, capex_network, capex_install, capex_total;
	/* Provisioned and average IT power, kW. */
	double it_kw_max, it_kw_avg;
	/* On-prem per month. */
	double month_power, month_colocation, month_support, month_staff, month_opex;
	double month_depreciation; /* while the depreciation period runs */
	/* Per year (index 0 is year 1). */
	double year_cloud[GM_TCO_MAX_YEARS][GM_TCO_N_COMMIT];
	double year_onprem_cash[GM_TCO_MAX_YEARS];
	double year_onprem_amortised[GM_TCO_MAX_YEARS];
	/* Cumulative cash cost after m months, m = 0 … months. */
	double cum_cloud[GM_TCO_MAX_MONTHS + 1][GM_TCO_N_COMMIT];
	double cum_onprem[GM_TCO_MAX_MONTHS + 1];
	/* First month with cumulative on-prem <= cumulative cloud, per commitment; -1 when there
	 * is none within the horizon (or the price is unknown). */
	int breakeven_month[GM_TCO_N_COMMIT];
	enum gm_tco_commitment reference;
	/* Cost per delivered GPU-hour over the horizon (see the model above). */
	double delivered_gpu_hours;
	double cloud_per_gpu_hour[GM_TCO_N_COMMIT];
	double onprem_per_gpu_hour;        /* amortised */
	double onprem_per_gpu_hour_cash;   /* capex counted in full */
	double onprem_per_onprem_gpu_hour; /* amortised, per hour of an on-prem GPU */
	struct gm_tco_beu beu_amortised;   /* vs the reference commitment */
	struct gm_tco_beu beu_cash;
	/* Break-even month (reference commitment, -1 none) for utilisation x electricity price. */
	double sens_util[GM_TCO_SENS_N];
	double sens_price[GM_TCO_SENS_N];
	int sens_month[GM_TCO_SENS_N][GM_TCO_SENS_N]; /* [util][price] */
};

/* The utilisation and electricity prices of the sensitivity table. */
extern const double gm_tco_sens_util[GM_TCO_SENS_N];
extern const double gm_tco_sens_price[GM_TCO_SENS_N];

/* Checks the inputs (every required one set, each in its range: GM_ERR_USAGE naming the input
 * and its source) and computes the result. */
enum gm_rc gm_tco_compute(const struct gm_tco_inputs *in, struct gm_tco_result *out,
                          struct gm_err *err);

/* Writes the gpumigrate.tco/v1 object (doc/formats.md) under key (NULL at the top level). */
void gm_tco_to_json(const struct gm_tco_inputs *in, const struct gm_tco_result *r,
                    struct gm_json *j, const char *key);

#endif

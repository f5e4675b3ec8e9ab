/* Reading gpumigrate.plan/v1 files (plan.h): a strict walk over the YAML with a position for
 * every error, the unit parsers the plan's values use, and the resolution of a plan plus the
 * catalog into TCO inputs with provenance. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "assess/plan.h"

#include "assess/check.h"
#include "assess/yamlread.h"
#include "hw/inventory.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

const char *const gm_plan_cost_keys[GM_PLAN_N_COSTS] = {
        [GM_PLAN_COST_ELECTRICITY] = "electricity_usd_per_kwh",
        [GM_PLAN_COST_PUE] = "pue",
        [GM_PLAN_COST_SERVER_POWER_FACTOR] = "server_power_factor",
        [GM_PLAN_COST_DEPRECIATION_YEARS] = "depreciation_years",
        [GM_PLAN_COST_SUPPORT_PCT] = "support_pct_per_year",
        [GM_PLAN_COST_COLOCATION] = "colocation_usd_per_kw_month",
        [GM_PLAN_COST_STAFF_FTE] = "staff_fte_per_servers",
        [GM_PLAN_COST_FTE_COST] = "fte_cost_usd_year",
        [GM_PLAN_COST_NETWORK_CAPEX_PCT] = "network_capex_pct",
        [GM_PLAN_COST_INSTALL_PER_SERVER] = "install_capex_usd_per_server",
        [GM_PLAN_COST_IDLE_POWER_FRACTION] = "idle_power_fraction",
};

const enum gm_tco_key gm_plan_cost_tco[GM_PLAN_N_COSTS] = {
        [GM_PLAN_COST_ELECTRICITY] = GM_TCO_ELECTRICITY,
        [GM_PLAN_COST_PUE] = GM_TCO_PUE,
        [GM_PLAN_COST_SERVER_POWER_FACTOR] = GM_TCO_SERVER_POWER_FACTOR,
        [GM_PLAN_COST_DEPRECIATION_YEARS] = GM_TCO_DEPRECIATION_YEARS,
        [GM_PLAN_COST_SUPPORT_PCT] = GM_TCO_SUPPORT_PCT,
        [GM_PLAN_COST_COLOCATION] = GM_TCO_COLOCATION,
        [GM_PLAN_COST_STAFF_FTE] = GM_TCO_STAFF_FTE,
        [GM_PLAN_COST_FTE_COST] = GM_TCO_FTE_COST,
        [GM_PLAN_COST_NETWORK_CAPEX_PCT] = GM_TCO_NETWORK_CAPEX_PCT,
        [GM_PLAN_COST_INSTALL_PER_SERVER] = GM_TCO_INSTALL_PER_SERVER,
        [GM_PLAN_COST_IDLE_POWER_FRACTION] = GM_TCO_IDLE_POWER_FRACTION,
};

/* ---- unit parsers ---- */

struct unit {
	const char *name;
	double mult;
};

/* Splits "12.5 TiB" into mantissa digits (12 5 -> 125), the number of fraction digits (1) and
 * the unit ("TiB", or "" when none). */
static bool split_number(const char *s, uint64_t *mant, int *frac_digits, const char **unit)
{
	uint64_t m = 0;
	int digits = 0, frac = 0;
	bool dot = false;
	const char *p = s;
	if (!s)
		return false;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (++digits > 18)
				return false;
			m = m * 10 + (uint64_t)(*p - '0');
			if (dot)
				frac++;
		} else if (*p == '.' && !dot && digits > 0) {
			dot = true;
		} else {
			break;
		}
	}
	if (digits == 0 || (dot && frac == 0))
		return false;
	if (*p == ' ')
		p++;
	if (*p == ' ' || (p > s && p[-1] == ' ' && !*p))
		return false;
	*mant = m;
	*frac_digits = frac;
	*unit = p;
	return true;
}

static double pow10i(int n)
{
	double r = 1;
	while (n-- > 0)
		r *= 10;
	return r;
}

static const struct unit *find_unit(const struct unit *units, const char *name)
{
	for (const struct unit *u = units; u->name; u++)
		if (strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

/* s as a number with one of units (a unit required when need_unit; zero refused when
 * nonzero), scaled by the unit's multiplier. */
static bool parse_scaled(const char *s, const struct unit *units, bool need_unit, bool nonzero,
                         double *out)
{
	uint64_t mant;
	int frac;
	const char *unit;
	if (!split_number(s, &mant, &frac, &unit) || (need_unit && !*unit))
		return false;
	const struct unit *u = find_unit(units, unit);
	if (!u || (nonzero && mant == 0))
		return false;
	*out = (double)mant * u->mult / pow10i(frac);
	return true;
}

bool gm_parse_size(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
	        {"", 1},
	        {"B", 1},
	        {"kB", 1e3},
	        {"KB", 1e3},
	        {"MB", 1e6},
	        {"GB", 1e9},
	        {"TB", 1e12},
	        {"PB", 1e15},
	        {"KiB", 1024.0},
	        {"MiB", 1048576.0},
	        {"GiB", 1073741824.0},
	        {"TiB", 1099511627776.0},
	        {"PiB", 1125899906842624.0},
	        {NULL, 0},
	};
	uint64_t mant;
	int frac;
	const char *unit;
	if (!split_number(s, &mant, &frac, &unit))
		return false;
	const struct unit *u = find_unit(units, unit);
	if (!u)
		return false;
	unsigned __int128 total = (unsigned __int128)mant * (unsigned __int128)(uint64_t)u->mult;
	unsigned __int128 div = 1;
	for (int i = 0; i < frac; i++)
		div *= 10;
	if (total % div != 0)
		return false; /* not a whole number of bytes */
	total /= div;
	if (total >= ((unsigned __int128)1 << 63))
		return false;
	*bytes = (uint64_t)total;
	return true;
}

bool gm_parse_params(const char *s, double *count)
{
	static const struct unit units[] = {
	        {"", 1},    {"K", 1e3}, {"k", 1e3},  {"M", 1e6},  {"m", 1e6},
	        {"B", 1e9}, {"b", 1e9}, {"T", 1e12}, {"t", 1e12}, {NULL, 0},
	};
	return parse_scaled(s, units, false, true, count);
}

bool gm_parse_rate(const char *s, double *bps)
{
	static const struct unit units[] = {
	        {"bps", 1},           {"kbps", 1e3},           {"Kbps", 1e3},
	        {"Mbps", 1e6},        {"Gbps", 1e9},           {"Tbps", 1e12},
	        {"bit/s", 1},         {"kbit/s", 1e3},         {"Kbit/s", 1e3},
	        {"Mbit/s", 1e6},      {"Gbit/s", 1e9},         {"Tbit/s", 1e12},
	        {"Kb/s", 1e3},        {"kb/s", 1e3},           {"Mb/s", 1e6},
	        {"Gb/s", 1e9},        {"Tb/s", 1e12},          {"B/s", 8},
	        {"kB/s", 8e3},        {"KB/s", 8e3},           {"MB/s", 8e6},
	        {"GB/s", 8e9},        {"TB/s", 8e12},          {"KiB/s", 8192.0},
	        {"MiB/s", 8388608.0}, {"GiB/s", 8589934592.0}, {NULL, 0},
	};
	return parse_scaled(s, units, true, true, bps);
}

bool gm_parse_duration_ms(const char *s, double *ms)
{
	static const struct unit units[] = {
	        {"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"min", 6e4}, {NULL, 0},
	};
	return parse_scaled(s, units, true, false, ms);
}

/* ---- values with provenance ---- */

void gm_plan_num_set(struct gm_plan_num *n, double v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gm_yr_vreplace(&n->src, fmt, ap);
	va_end(ap);
	n->set = true;
	n->v = v;
}

void gm_plan_str_set(struct gm_plan_str *s, const char *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gm_yr_vreplace(&s->src, fmt, ap);
	va_end(ap);
	free(s->v);
	s->v = gm_xstrdup(v);
}

static void num_release(struct gm_plan_num *n)
{
	free(n->src);
	memset(n, 0, sizeof(*n));
}

static void str_release(struct gm_plan_str *s)
{
	free(s->v);
	free(s->src);
	s->v = s->src = NULL;
}

static void strs_release(struct gm_plan_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->src);
	memset(l, 0, sizeof(*l));
}

void gm_plan_init(struct gm_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
}

void gm_plan_release(struct gm_plan *plan)
{
	if (!plan)
		return;
	free(plan->path);
	free(plan->dir);
	str_release(&plan->name);
	num_release(&plan->horizon_years);
	for (size_t i = 0; i < plan->n_instances; i++) {
		struct gm_plan_instance *x = &plan->instances[i];
		str_release(&x->type);
		num_release(&x->count);
		str_release(&x->region);
		str_release(&x->commitment);
		free(x->src);
	}
	free(plan->instances);
	strs_release(&plan->source_inventories);
	for (size_t i = 0; i < plan->n_servers; i++) {
		struct gm_plan_server *x = &plan->servers[i];
		str_release(&x->gpu);
		num_release(&x->gpus_per_server);
		num_release(&x->count);
		num_release(&x->capex_usd);
		strs_release(&x->inventories);
		free(x->src);
	}
	free(plan->servers);
	for (int k = 0; k < GM_PLAN_N_COSTS; k++)
		num_release(&plan->costs[k]);
	str_release(&plan->check_profile);
	str_release(&plan->check_require_cuda);
	free(plan->check_local_src);
	for (size_t i = 0; i < plan->n_datasets; i++) {
		struct gm_plan_dataset *x = &plan->datasets[i];
		str_release(&x->name);
		str_release(&x->source);
		num_release(&x->size_bytes);
		free(x->src);
	}
	free(plan->datasets);
	for (size_t i = 0; i < plan->n_workloads; i++) {
		struct gm_plan_workload *x = &plan->workloads[i];
		str_release(&x->name);
		strs_release(&x->manifests);
		num_release(&x->model_params);
		str_release(&x->precision);
		str_release(&x->kind);
		str_release(&x->require_cuda);
		free(x->src);
	}
	free(plan->workloads);
	num_release(&plan->bandwidth_bps);
	num_release(&plan->latency_ms);
	num_release(&plan->max_breakeven_months);
	num_release(&plan->min_capacity_ratio);
	num_release(&plan->utilisation);
	num_release(&plan->monitor_memory_threshold);
	num_release(&plan->monitor_temperature_threshold);
	str_release(&plan->monitor_job);
	for (size_t i = 0; i < plan->n_monitor_for; i++) {
		free(plan->monitor_for[i].alert);
		str_release(&plan->monitor_for[i].duration);
	}
	free(plan->monitor_for);
	gm_plan_init(plan);
}

struct gm_plan_instance *gm_plan_add_instance(struct gm_plan *plan)
{
	plan->instances =
	        gm_xreallocarray(plan->instances, plan->n_instances + 1, sizeof(*plan->instances));
	struct gm_plan_instance *x = &plan->instances[plan->n_instances++];
	memset(x, 0, sizeof(*x));
	return x;
}

struct gm_plan_server *gm_plan_add_server(struct gm_plan *plan)
{
	plan->servers =
	        gm_xreallocarray(plan->servers, plan->n_servers + 1, sizeof(*plan->servers));
	struct gm_plan_server *x = &plan->servers[plan->n_servers++];
	memset(x, 0, sizeof(*x));
	return x;
}

void gm_plan_path(const struct gm_plan *plan, const char *rel, struct gm_buf *out)
{
	gm_buf_reset(out);
	if (rel[0] != '/' && plan->dir && strcmp(plan->dir, ".") != 0)
		gm_buf_addf(out, "%s/", plan->dir);
	gm_buf_adds(out, rel);
}

/* ---- the parser ---- */

struct parser {
	struct gm_doc doc;
	struct gm_plan *plan;
	struct gm_err *err;
};

static char *plan_src(struct parser *p, struct fy_node *n)
{
	struct gm_buf w = GM_BUF_INIT, b = GM_BUF_INIT;
	gm_doc_where(&p->doc, n, &w);
	gm_buf_addf(&b, "plan %s", gm_buf_cstr(&w));
	gm_buf_release(&w);
	return gm_buf_detach(&b);
}

static enum gm_rc fail_at(struct parser *p, struct fy_node *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static enum gm_rc fail_at(struct parser *p, struct fy_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum gm_rc rc = gm_yr_vfail(&p->doc, n, p->err, fmt, ap);
	va_end(ap);
	return rc;
}

/* The node of map[key], or NULL when absent or null. */
static struct fy_node *child(struct fy_node *map, const char *key)
{
	struct fy_node *n = gm_doc_get(map, key);
	return gm_doc_is_null(n) ? NULL : n;
}

static enum gm_rc want_map(struct parser *p, struct fy_node *n, const char *what,
                           const char *const *keys)
{
	if (!gm_doc_is_map(n))
		return fail_at(p, n, "%s must be a mapping", what);
	return gm_doc_check_keys(&p->doc, n, keys, p->err);
}

static enum gm_rc want_seq(struct parser *p, struct fy_node *n, const char *what)
{
	if (!gm_doc_is_seq(n))
		return fail_at(p, n, "'%s' must be a list", what);
	if (gm_doc_seq_len(n) > GM_PLAN_MAX_ITEMS)
		return fail_at(p, n, "'%s' has more than %d entries", what, GM_PLAN_MAX_ITEMS);
	return GM_OK;
}

static enum gm_rc get_str(struct parser *p, struct fy_node *map, const char *key,
                          struct gm_plan_str *out)
{
	struct fy_node *n = child(map, key);
	if (!n)
		return GM_OK;
	const char *s = gm_doc_scalar(n);
	if (!s || !*s)
		return fail_at(p, n, "'%s' must be a non-empty string", key);
	free(out->v);
	free(out->src);
	out->v = gm_xstrdup(s);
	out->src = plan_src(p, n);
	return GM_OK;
}

static enum gm_rc get_strs(struct parser *p, struct fy_node *map, const char *key,
                           struct gm_plan_strs *out)
{
	struct fy_node *n = child(map, key);
	if (!n)
		return GM_OK;
	enum gm_rc rc = want_seq(p, n, key);
	if (rc != GM_OK)
		return rc;
	int len = gm_doc_seq_len(n);
	out->src = plan_src(p, n);
	out->v = gm_xcalloc((size_t)len + 1, sizeof(*out->v));
	for (int i = 0; i < len; i++) {
		struct fy_node *item = gm_doc_seq_at(n, i);
		const char *s = gm_doc_scalar(item);
		if (!s || !*s)
			return fail_at(p, item, "each entry of '%s' must be a non-empty string",
			               key);
		out->v[out->n++] = gm_xstrdup(s);
	}
	return GM_OK;
}

enum num_kind { NUM_INT, NUM_REAL, NUM_SIZE, NUM_PARAMS, NUM_RATE, NUM_DURATION };

/* map[key] as a number of the given kind within [lo, hi] (lo excluded when lo_open). */
static enum gm_rc get_num(struct parser *p, struct fy_node *map, const char *key,
                          enum num_kind kind, double lo, bool lo_open, double hi,
                          struct gm_plan_num *out)
{
	static const char *const expect[] = {
	        [NUM_INT] = "a whole number",
	        [NUM_REAL] = "a number",
	        [NUM_SIZE] = "a size such as 500GB or 12TiB",
	        [NUM_PARAMS] = "a parameter count such as 7B or 350M",
	        [NUM_RATE] = "a rate such as 10Gbps or 400MB/s",
	        [NUM_DURATION] = "a duration such as 20ms",
	};
	struct fy_node *n = child(map, key);
	if (!n)
		return GM_OK;
	const char *s = gm_doc_scalar(n);
	double v = 0;
	bool ok = s != NULL;
	if (ok && (kind == NUM_INT || kind == NUM_REAL) && fy_node_get_style(n) != FYNS_PLAIN)
		return fail_at(p, n, "'%s' must be %s, not the string \"%s\" (drop the quotes)",
		               key, expect[kind], s);
	if (ok) {
		switch (kind) {
		case NUM_INT: {
			int64_t i;
			ok = gm_parse_i64(s, 10, &i) == GM_OK &&
			     strspn(s, "0123456789-") == strlen(s);
			v = (double)i;
			break;
		}
		case NUM_REAL: {
			char *end = NULL;
			v = strtod(s, &end);
			ok = *s && end && !*end && isfinite(v) && strspn(s, " \t") == 0;
			break;
		}
		case NUM_SIZE: {
			uint64_t b;
			ok = gm_parse_size(s, &b);
			v = (double)b;
			break;
		}
		case NUM_PARAMS: ok = gm_parse_params(s, &v); break;
		case NUM_RATE: ok = gm_parse_rate(s, &v); break;
		case NUM_DURATION: ok = gm_parse_duration_ms(s, &v); break;
		}
	}
	if (!ok)
		return fail_at(p, n, "'%s' must be %s, not '%s'", key, expect[kind],
		               s ? s : "(a list)");
	if (v > hi || v < lo || (lo_open && v <= lo)) {
		if (kind == NUM_INT || kind == NUM_REAL)
			return fail_at(p, n, "'%s' must be %s %s %g%s%g, not %s", key, expect[kind],
			               lo_open ? "above" : "from", lo,
			               lo_open ? " and at most " : " to ", hi, s);
		return fail_at(p, n, "'%s' is out of range: %s", key, s);
	}
	out->set = true;
	out->v = v;
	free(out->src);
	out->src = plan_src(p, n);
	return GM_OK;
}

#define TRY(x)                    \
	do {                      \
		rc = (x);         \
		if (rc != GM_OK)  \
			goto out; \
	} while (0)

static enum gm_rc parse_instance(struct parser *p, struct fy_node *n)
{
	static const char *const keys[] = {"type", "count", "region", "commitment", NULL};
	enum gm_rc rc;
	struct gm_plan_instance *x = gm_plan_add_instance(p->plan);
	TRY(want_map(p, n, "each source instance", keys));
	x->src = plan_src(p, n);
	TRY(get_str(p, n, "type", &x->type));
	if (!x->type.v) {
		rc = fail_at(p, n,
		             "source instance needs 'type' (a catalog instance id such as "
		             "gcp:a2-highgpu-8g)");
		goto out;
	}
	TRY(get_num(p, n, "count", NUM_INT, 1, false, 100000, &x->count));
	TRY(get_str(p, n, "region", &x->region));
	TRY(get_str(p, n, "commitment", &x->commitment));
	if (x->commitment.v && !gm_tco_commitment_parse(x->commitment.v, &x->commit)) {
		rc = fail_at(p, child(n, "commitment"),
		             "'commitment' must be on-demand, 1y or 3y, not '%s'", x->commitment.v);
		goto out;
	}
out:
	return rc;
}

static enum gm_rc parse_source(struct parser *p, struct fy_node *n)
{
	static const char *const keys[] = {"instances", "inventories", NULL};
	enum gm_rc rc;
	TRY(want_map(p, n, "'source'", keys));
	struct fy_node *list = child(n, "instances");
	if (list) {
		TRY(want_seq(p, list, "instances"));
		for (int i = 0; i < gm_doc_seq_len(list); i++)
			TRY(parse_instance(p, gm_doc_seq_at(list, i)));
	}
	TRY(get_strs(p, n, "inventories", &p->plan->source_inventories));
	if (!p->plan->n_instances && !p->plan->source_inventories.n)
		rc = fail_at(p, n, "'source' needs 'instances' or 'inventories'");
out:
	return rc;
}

static enum gm_rc parse_server(struct parser *p, struct fy_node *n)
{
	static const char *const keys[] = {"gpu",       "gpus_per_server", "count",
	                                   "capex_usd", "inventories",     NULL};
	enum gm_rc rc;
	struct gm_plan_server *x = gm_plan_add_server(p->plan);
	TRY(want_map(p, n, "each target server", keys));
	x->src = plan_src(p, n);
	TRY(get_str(p, n, "gpu", &x->gpu));
	TRY(get_num(p, n, "gpus_per_server", NUM_INT, 1, false, 64, &x->gpus_per_server));
	TRY(get_num(p, n, "count", NUM_INT, 1, false, 100000, &x->count));
	TRY(get_num(p, n, "capex_usd", NUM_REAL, 0, false, 1e9, &x->capex_usd));
	TRY(get_strs(p, n, "inventories", &x->inventories));
	if (!x->gpu.v && !x->inventories.n)
		rc = fail_at(p, n,
		             "target server needs 'gpu' (a catalog GPU such as l40s) or "
		             "'inventories'");
out:
	return rc;
}

static enum gm_rc parse_target(struct parser *p, struct fy_node *n)
{
	static const char *const keys[] = {"servers", "costs", "check", NULL};
	static const char *const check_keys[] = {"profile", "require_cuda", "local", NULL};
	enum gm_rc rc;
	TRY(want_map(p, n, "'target'", keys));
	struct fy_node *list = child(n, "servers");
	if (list) {
		TRY(want_seq(p, list, "servers"));
		for (int i = 0; i < gm_doc_seq_len(list); i++)
			TRY(parse_server(p, gm_doc_seq_at(list, i)));
	}
	struct fy_node *costs = child(n, "costs");
	if (costs) {
		const char *ckeys[GM_PLAN_N_COSTS + 1];
		for (int k = 0; k < GM_PLAN_N_COSTS; k++)
			ckeys[k] = gm_plan_cost_keys[k];
		ckeys[GM_PLAN_N_COSTS] = NULL;
		TRY(want_map(p, costs, "'costs'", ckeys));
		for (int k = 0; k < GM_PLAN_N_COSTS; k++)
			TRY(get_num(p, costs, gm_plan_cost_keys[k], NUM_REAL, 0, false, 1e9,
			            &p->plan->costs[k]));
	}
	struct fy_node *check = child(n, "check");
	if (check) {
		TRY(want_map(p, check, "'check'", check_keys));
		TRY(get_str(p, check, "profile", &p->plan->check_profile));
		enum gm_check_profile profile;
		if (p->plan->check_profile.v &&
		    !gm_check_profile_parse(p->plan->check_profile.v, &profile)) {
			rc = fail_at(p, child(check, "profile"),
			             "'profile' must be k8s, anthos-baremetal, docker or "
			             "vm-passthrough, "
			             "not '%s'",
			             p->plan->check_profile.v);
			goto out;
		}
		TRY(get_str(p, check, "require_cuda", &p->plan->check_require_cuda));
		struct fy_node *local = child(check, "local");
		if (local) {
			TRY(gm_doc_get_bool(&p->doc, check, "local", &p->plan->check_local,
			                    p->err));
			p->plan->check_local_src = plan_src(p, local);
		}
	}
out:
	return rc;
}

/* "12.2" style CUDA versions. */
static bool cuda_version_ok(const char *s)
{
	size_t major = strspn(s, "0123456789");
	if (major == 0 || major > 2 || s[major] != '.')
		return false;
	size_t minor = strspn(s + major + 1, "0123456789");
	return minor >= 1 && minor <= 2 && s[major + 1 + minor] == '\0';
}

static enum gm_rc check_cuda(struct parser *p, struct fy_node *map, struct gm_plan_str *s)
{
	if (s->v && !cuda_version_ok(s->v))
		return fail_at(p, child(map, "require_cuda"),
		               "'require_cuda' must be a CUDA version such as 12.2, not '%s'",
		               s->v);
	return GM_OK;
}

static enum gm_rc parse_datasets(struct parser *p, struct fy_node *list)
{
	static const char *const keys[] = {"name", "source", "size", NULL};
	enum gm_rc rc;
	TRY(want_seq(p, list, "datasets"));
	int len = gm_doc_seq_len(list);
	p->plan->datasets = gm_xcalloc((size_t)len + 1, sizeof(*p->plan->datasets));
	for (int i = 0; i < len; i++) {
		struct fy_node *n = gm_doc_seq_at(list, i);
		struct gm_plan_dataset *x = &p->plan->datasets[p->plan->n_datasets++];
		TRY(want_map(p, n, "each dataset", keys));
		x->src = plan_src(p, n);
		TRY(get_str(p, n, "name", &x->name));
		TRY(get_str(p, n, "source", &x->source));
		TRY(get_num(p, n, "size", NUM_SIZE, 0, false, 9.2e18, &x->size_bytes));
		if (!x->name.v || !x->source.v) {
			rc = fail_at(p, n,
			             "dataset needs 'name' and 'source' (gs://bucket/path, "
			             "s3://bucket/path, /path or host:/path)");
			goto out;
		}
	}
out:
	return rc;
}

static enum gm_rc parse_workloads(struct parser *p, struct fy_node *list)
{
	static const char *const keys[] = {"name",      "kind",         "manifests", "model_size",
	                                   "precision", "require_cuda", NULL};
	enum gm_rc rc;
	TRY(want_seq(p, list, "workloads"));
	int len = gm_doc_seq_len(list);
	p->plan->workloads = gm_xcalloc((size_t)len + 1, sizeof(*p->plan->workloads));
	for (int i = 0; i < len; i++) {
		struct fy_node *n = gm_doc_seq_at(list, i);
		struct gm_plan_workload *x = &p->plan->workloads[p->plan->n_workloads++];
		TRY(want_map(p, n, "each workload", keys));
		x->src = plan_src(p, n);
		TRY(get_str(p, n, "name", &x->name));
		if (!x->name.v) {
			rc = fail_at(p, n, "workload needs 'name'");
			goto out;
		}
		TRY(get_strs(p, n, "manifests", &x->manifests));
		TRY(get_num(p, n, "model_size", NUM_PARAMS, 0, true, 1e15, &x->model_params));
		TRY(get_str(p, n, "precision", &x->precision));
		enum gm_precision prec;
		if (x->precision.v && !gm_precision_parse(x->precision.v, &prec)) {
			rc = fail_at(
			        p, child(n, "precision"),
			        "'precision' must be one of fp64, fp32, tf32, fp16, bf16, fp8, "
			        "int8, not '%s'",
			        x->precision.v);
			goto out;
		}
		TRY(get_str(p, n, "kind", &x->kind));
		if (x->kind.v && strcmp(x->kind.v, "training") != 0 &&
		    strcmp(x->kind.v, "inference") != 0) {
			rc = fail_at(p, child(n, "kind"),
			             "'kind' must be training or inference, not '%s'", x->kind.v);
			goto out;
		}
		TRY(get_str(p, n, "require_cuda", &x->require_cuda));
		TRY(check_cuda(p, n, &x->require_cuda));
	}
out:
	return rc;
}

/* monitor: thresholds and `for` durations of the alert rules. */
static enum gm_rc parse_monitor(struct parser *p, struct fy_node *n)
{
	static const char *const keys[] = {"memory_threshold", "temperature_threshold", "job",
	                                   "for", NULL};
	enum gm_rc rc;
	struct gm_plan *plan = p->plan;
	TRY(want_map(p, n, "'monitor'", keys));
	TRY(get_num(p, n, "memory_threshold", NUM_REAL, 0, true, 1,
	            &plan->monitor_memory_threshold));
	TRY(get_num(p, n, "temperature_threshold", NUM_REAL, 0, true, 150,
	            &plan->monitor_temperature_threshold));
	TRY(get_str(p, n, "job", &plan->monitor_job));
	struct fy_node *f = child(n, "for");
	if (f) {
		if (!gm_doc_is_map(f)) {
			rc = fail_at(p, f,
			             "'for' must be a mapping of alert name to duration, such "
			             "as 'GPUMemoryHigh: 10m'");
			goto out;
		}
		int len = gm_doc_map_len(f);
		if (len > GM_PLAN_MAX_ITEMS) {
			rc = fail_at(p, f, "'for' has more than %d entries", GM_PLAN_MAX_ITEMS);
			goto out;
		}
		plan->monitor_for = gm_xcalloc((size_t)len + 1, sizeof(*plan->monitor_for));
		for (int i = 0; i < len; i++) {
			const char *key = gm_doc_map_key_at(f, i);
			struct fy_node *v = gm_doc_map_value_at(f, i);
			const char *s = gm_doc_scalar(v);
			if (!key || !*key || !s || !*s) {
				rc = fail_at(p, v,
				             "each entry of 'for' must be an alert name and a "
				             "duration, such as 'GPUMemoryHigh: 10m'");
				goto out;
			}
			struct gm_plan_monitor_for *x = &plan->monitor_for[plan->n_monitor_for++];
			x->alert = gm_xstrdup(key);
			x->duration.v = gm_xstrdup(s);
			x->duration.src = plan_src(p, v);
		}
	}
	rc = GM_OK;
out:
	return rc;
}

static enum gm_rc parse_root(struct parser *p)
{
	static const char *const keys[] = {"schema",     "name",     "horizon_years", "source",
	                                   "target",     "datasets", "workloads",     "network",
	                                   "thresholds", "monitor",  "k8s",           NULL};
	static const char *const net_keys[] = {"bandwidth", "latency", NULL};
	static const char *const thr_keys[] = {"max_breakeven_months", "min_capacity_ratio",
	                                       "utilisation", NULL};
	enum gm_rc rc;
	struct fy_node *root = gm_doc_root(&p->doc);
	struct gm_plan *plan = p->plan;
	if (!gm_doc_is_map(root)) {
		rc = fail_at(p, root, "a plan must be a mapping that starts with 'schema: %s'",
		             GM_PLAN_SCHEMA);
		goto out;
	}
	struct fy_node *schema = child(root, "schema");
	const char *sv = schema ? gm_doc_scalar(schema) : NULL;
	if (!schema) {
		rc = fail_at(p, root, "missing 'schema: %s'", GM_PLAN_SCHEMA);
		goto out;
	}
	if (!sv || strcmp(sv, GM_PLAN_SCHEMA) != 0) {
		rc = fail_at(p, schema, "schema '%s' is not supported (expected '%s')",
		             sv ? sv : "(not a string)", GM_PLAN_SCHEMA);
		goto out;
	}
	TRY(gm_doc_check_keys(&p->doc, root, keys, p->err));
	TRY(get_str(p, root, "name", &plan->name));
	TRY(get_num(p, root, "horizon_years", NUM_INT, 1, false, GM_TCO_MAX_YEARS,
	            &plan->horizon_years));
	struct fy_node *n;
	if ((n = child(root, "source")))
		TRY(parse_source(p, n));
	if ((n = child(root, "target")))
		TRY(parse_target(p, n));
	if ((n = child(root, "datasets")))
		TRY(parse_datasets(p, n));
	if ((n = child(root, "workloads")))
		TRY(parse_workloads(p, n));
	if ((n = child(root, "network"))) {
		TRY(want_map(p, n, "'network'", net_keys));
		TRY(get_num(p, n, "bandwidth", NUM_RATE, 0, true, 1e15, &plan->bandwidth_bps));
		TRY(get_num(p, n, "latency", NUM_DURATION, 0, false, 1e7, &plan->latency_ms));
	}
	if ((n = child(root, "thresholds"))) {
		TRY(want_map(p, n, "'thresholds'", thr_keys));
		TRY(get_num(p, n, "max_breakeven_months", NUM_INT, 1, false, GM_TCO_MAX_MONTHS,
		            &plan->max_breakeven_months));
		TRY(get_num(p, n, "min_capacity_ratio", NUM_REAL, 0, true, 100,
		            &plan->min_capacity_ratio));
		TRY(get_num(p, n, "utilisation", NUM_REAL, 0, true, 1, &plan->utilisation));
	}
	if ((n = child(root, "monitor")))
		TRY(parse_monitor(p, n));
	TRY(check_cuda(p, child(root, "target") ? child(child(root, "target"), "check") : NULL,
	               &plan->check_require_cuda));
out:
	return rc;
}

enum gm_rc gm_plan_parse(struct gm_plan *plan, const char *name, const char *text, size_t len,
                         struct gm_err *err)
{
	struct parser p = {{NULL, NULL, NULL}, plan, err};
	gm_plan_init(plan);
	enum gm_rc rc = gm_doc_load_string(&p.doc, name, text, len, err);
	if (rc == GM_OK) {
		plan->path = gm_xstrdup(name);
		const char *slash = strrchr(name, '/');
		plan->dir = slash ? gm_xstrndup(name, slash == name ? 1 : (size_t)(slash - name))
		                  : gm_xstrdup(".");
		rc = parse_root(&p);
	}
	gm_doc_release(&p.doc);
	if (rc != GM_OK)
		gm_plan_release(plan);
	return rc;
}

enum gm_rc gm_plan_load(struct gm_plan *plan, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT;
	gm_plan_init(plan);
	enum gm_rc rc = gm_fs_read(path, GM_DOC_MAX_BYTES, &text, err);
	if (rc == GM_OK)
		rc = gm_plan_parse(plan, path, gm_buf_cstr(&text), text.len, err);
	gm_buf_release(&text);
	return rc;
}

/* ---- plan + catalog -> TCO inputs ---- */

static const char *file_label(const char *from, const char *builtin)
{
	return !from || strcmp(from, "built-in") == 0 ? builtin : from;
}

/* The GPU and GPU count of the first inventory of a server group. */
static enum gm_rc server_from_inventory(const struct gm_plan *plan, const struct gm_plan_server *s,
                                        struct gm_buf *gpu_name, int *n_gpus, struct gm_err *err)
{
	struct gm_inventory inv;
	struct gm_buf path = GM_BUF_INIT;
	gm_inventory_init(&inv);
	gm_plan_path(plan, s->inventories.v[0], &path);
	enum gm_rc rc = gm_inventory_load(&inv, gm_buf_cstr(&path), err);
	if (rc != GM_OK)
		goto out;
	*n_gpus = (int)inv.nvidia.n_gpus;
	if (inv.nvidia.n_gpus == 0 || !gm_fact_ok(&inv.nvidia.gpus[0].name.f)) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "%s: inventory '%s' has no GPU: set 'gpu' and 'gpus_per_server'",
		                s->inventories.src, gm_buf_cstr(&path));
		goto out;
	}
	gm_buf_adds(gpu_name, inv.nvidia.gpus[0].name.v);
out:
	gm_buf_release(&path);
	gm_inventory_release(&inv);
	return rc;
}

static enum gm_rc cloud_inputs(const struct gm_plan *plan, const struct gm_catalog *cat,
                               struct gm_tco_inputs *in, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	const char *cloud_file = file_label(cat->cloud_from, "cloud.yaml");
	double gpus = 0, cost[GM_TCO_N_COMMIT] = {0, 0, 0};
	bool known[GM_TCO_N_COMMIT] = {true, true, true};
	struct gm_buf label = GM_BUF_INIT,
	              psrc[GM_TCO_N_COMMIT] = {GM_BUF_INIT, GM_BUF_INIT, GM_BUF_INIT};
	const struct gm_plan_instance *first_commit = NULL;
	if (plan->n_instances == 0) {
		rc = gm_err_set(
		        err, GM_ERR_USAGE,
		        "no cloud instances: tco needs the source instance types (they carry "
		        "the prices); add source.instances to the plan or pass --cloud");
		goto out;
	}
	for (size_t i = 0; i < plan->n_instances; i++) {
		const struct gm_plan_instance *x = &plan->instances[i];
		const struct gm_instance *inst = gm_catalog_find_instance(cat, x->type.v);
		if (!inst) {
			const char *near = gm_catalog_suggest_instance(cat, x->type.v);
			rc = gm_err_set(err, GM_ERR_USAGE, "%s: unknown instance type '%s'",
			                x->type.src, x->type.v);
			if (near)
				gm_buf_addf(&err->msg, " (did you mean '%s'?)", near);
			else
				gm_buf_adds(&err->msg,
				            "; 'gpumigrate catalog list' shows the known ones");
			goto out;
		}
		const struct gm_price *price = gm_instance_price(inst, x->region.v);
		if (!price) {
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "%s: the catalog has no price for '%s' in ",
			                x->region.src ? x->region.src : x->type.src, inst->id);
			gm_buf_addf(&err->msg,
			            "region '%s' (it has:", x->region.v ? x->region.v : "?");
			for (size_t r = 0; r < inst->n_prices; r++)
				gm_buf_addf(&err->msg, " %s", inst->prices[r].region);
			gm_buf_adds(&err->msg, ")");
			goto out;
		}
		if (x->commitment.v) {
			if (first_commit && first_commit->commit != x->commit) {
				rc = gm_err_set(
				        err, GM_ERR_USAGE,
				        "%s: commitment '%s' differs from '%s' at %s: tco models "
				        "one commitment for the whole source fleet",
				        x->commitment.src, x->commitment.v,
				        first_commit->commitment.v, first_commit->commitment.src);
				goto out;
			}
			if (!first_commit)
				first_commit = x;
		}
		double count = x->count.set ? x->count.v : 1;
		gpus += count * inst->gpu_count;
		const struct gm_num p3[GM_TCO_N_COMMIT] = {
		        price->on_demand_hour, price->commit_1y_hour, price->commit_3y_hour};
		static const char *const pkey[] = {"on_demand_hour", "commit_1y_hour",
		                                   "commit_3y_hour"};
		for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
			known[c] = known[c] && p3[c].known;
			cost[c] += p3[c].known ? count * p3[c].v : 0;
			if (p3[c].known)
				gm_buf_addf(&psrc[c], "%scatalog %s %s %s %s %.10g / %d GPUs (%s)",
				            i ? " + " : "", cloud_file, inst->id, price->region,
				            pkey[c], p3[c].v, inst->gpu_count, price->date);
			else
				gm_buf_addf(&psrc[c], "%scatalog %s %s %s %s is null (%s)",
				            i ? " + " : "", cloud_file, inst->id, price->region,
				            pkey[c], price->date);
		}
		gm_buf_addf(&label, "%s%g x %s (%s)", i ? " + " : "", count, inst->id,
		            price->region);
	}
	for (int c = 0; c < GM_TCO_N_COMMIT; c++) {
		enum gm_tco_key k = c == 0   ? GM_TCO_CLOUD_ON_DEMAND
		                    : c == 1 ? GM_TCO_CLOUD_COMMIT_1Y
		                             : GM_TCO_CLOUD_COMMIT_3Y;
		if (known[c]) {
			gm_tco_set(in, k, cost[c] / gpus, "%s", gm_buf_cstr(&psrc[c]));
		} else { /* stays unset; the source says why */
			free(in->in[k].src);
			in->in[k].src = gm_xstrdup(gm_buf_cstr(&psrc[c]));
		}
	}
	if (plan->n_instances == 1)
		gm_tco_set(in, GM_TCO_CLOUD_GPUS, gpus, "%s x %d GPUs of %s",
		           plan->instances[0].count.src ? plan->instances[0].count.src
		                                        : "default count 1",
		           (int)(gpus /
		                 (plan->instances[0].count.set ? plan->instances[0].count.v : 1)),
		           plan->instances[0].type.v);
	else
		gm_tco_set(in, GM_TCO_CLOUD_GPUS, gpus, "sum over %zu source instance groups",
		           plan->n_instances);
	if (first_commit)
		gm_tco_set_commitment(in, first_commit->commit, "%s", first_commit->commitment.src);
	else
		gm_tco_set_commitment(in, GM_TCO_ON_DEMAND, "default (no commitment in the plan)");
	gm_tco_set_label(&in->cloud_label, "%s", gm_buf_cstr(&label));
out:
	gm_buf_release(&label);
	for (int c = 0; c < GM_TCO_N_COMMIT; c++)
		gm_buf_release(&psrc[c]);
	return rc;
}

static enum gm_rc onprem_inputs(const struct gm_plan *plan, const struct gm_catalog *cat,
                                struct gm_tco_inputs *in, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	const char *onprem_file = file_label(cat->onprem_from, "onprem.yaml");
	const char *gpus_file = file_label(cat->gpus_from, "gpus.yaml");
	double servers = 0, gpus = 0, watts = 0, capex = 0;
	struct gm_buf label = GM_BUF_INIT, gpu_name = GM_BUF_INIT, capex_src = GM_BUF_INIT;
	struct gm_buf tdp_src = GM_BUF_INIT;
	if (plan->n_servers == 0) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "no target servers: add target.servers to the plan or pass "
		                "--target-gpu");
		goto out;
	}
	for (size_t i = 0; i < plan->n_servers; i++) {
		const struct gm_plan_server *x = &plan->servers[i];
		int inv_gpus = 0;
		gm_buf_reset(&gpu_name);
		if (x->gpu.v)
			gm_buf_adds(&gpu_name, x->gpu.v);
		if ((!x->gpu.v || !x->gpus_per_server.set) && x->inventories.n) {
			struct gm_buf inv_name = GM_BUF_INIT;
			rc = server_from_inventory(plan, x, &inv_name, &inv_gpus, err);
			if (rc == GM_OK && !x->gpu.v)
				gm_buf_adds(&gpu_name, gm_buf_cstr(&inv_name));
			gm_buf_release(&inv_name);
			if (rc != GM_OK)
				goto out;
		}
		const char *where = x->gpu.src           ? x->gpu.src
		                    : x->inventories.src ? x->inventories.src
		                                         : x->src;
		const struct gm_gpu_spec *spec = gm_catalog_find_gpu(cat, gm_buf_cstr(&gpu_name));
		if (!spec) {
			const char *near = gm_catalog_suggest_gpu(cat, gm_buf_cstr(&gpu_name));
			rc = gm_err_set(err, GM_ERR_USAGE, "%s: unknown GPU '%s'", where,
			                gm_buf_cstr(&gpu_name));
			if (near)
				gm_buf_addf(&err->msg, " (did you mean '%s'?)", near);
			goto out;
		}
		if (!spec->tdp_w.known) {
			rc = gm_err_set(err, GM_ERR_USAGE, "%s: the catalog has no TDP for '%s'",
			                where, spec->id);
			goto out;
		}
		double per = x->gpus_per_server.set ? x->gpus_per_server.v : inv_gpus;
		if (per <= 0) {
			rc = gm_err_set(err, GM_ERR_USAGE, "%s: set 'gpus_per_server'", x->src);
			goto out;
		}
		double count = x->count.set       ? x->count.v
		               : x->inventories.n ? (double)x->inventories.n
		                                  : 1;
		double price;
		if (x->capex_usd.set) {
			price = x->capex_usd.v;
			gm_buf_addf(&capex_src, "%s%s", i ? " + " : "", x->capex_usd.src);
		} else {
			const struct gm_server_price *sp = NULL, *nullp = NULL;
			for (size_t k = 0; (sp = gm_catalog_server_for_gpu(cat, spec->id, k));
			     k++) {
				if (sp->gpu_count != (int)per)
					continue;
				if (sp->capex_usd.known)
					break;
				nullp = sp;
			}
			if (!sp) {
				rc = gm_err_set(err, GM_ERR_USAGE,
				                "%s: no price for a server with %g x %s: ", x->src,
				                per, spec->id);
				if (nullp)
					gm_buf_addf(&err->msg,
					            "the catalog's '%s' has no public figure; ",
					            nullp->id);
				gm_buf_adds(&err->msg,
				            "set 'capex_usd' (USD per server) from your quote, "
				            "or pass --capex");
				goto out;
			}
			price = sp->capex_usd.v;
			gm_buf_addf(&capex_src, "%scatalog %s servers %s (%s)", i ? " + " : "",
			            onprem_file, sp->id, sp->date);
		}
		servers += count;
		gpus += count * per;
		watts += count * per * spec->tdp_w.v;
		capex += count * price;
		gm_buf_addf(&tdp_src, "%scatalog %s %s tdp_w (%s)", i ? " + " : "", gpus_file,
		            spec->id, spec->date);
		gm_buf_addf(&label, "%s%g x %g x %s", i ? " + " : "", count, per, spec->id);
	}
	if (plan->n_servers == 1) {
		const struct gm_plan_server *x = &plan->servers[0];
		gm_tco_set(in, GM_TCO_SERVERS, servers, "%s",
		           x->count.src       ? x->count.src
		           : x->inventories.n ? "one server per inventory"
		                              : "default 1");
		gm_tco_set(in, GM_TCO_GPUS_PER_SERVER, gpus / servers, "%s",
		           x->gpus_per_server.src ? x->gpus_per_server.src : x->inventories.src);
	} else {
		gm_tco_set(in, GM_TCO_SERVERS, servers, "sum over %zu server groups",
		           plan->n_servers);
		gm_tco_set(in, GM_TCO_GPUS_PER_SERVER, gpus / servers,
		           "average over %zu server groups", plan->n_servers);
	}
	gm_tco_set(in, GM_TCO_GPU_TDP_W, watts / gpus, "%s", gm_buf_cstr(&tdp_src));
	gm_tco_set(in, GM_TCO_SERVER_CAPEX, capex / servers, "%s%s", gm_buf_cstr(&capex_src),
	           plan->n_servers > 1 ? " (average per server)" : "");
	gm_tco_set_label(&in->onprem_label, "%s", gm_buf_cstr(&label));

	for (int k = 0; k < GM_PLAN_N_COSTS; k++) {
		const char *key = gm_plan_cost_keys[k];
		enum gm_tco_key tk = gm_plan_cost_tco[k];
		const struct gm_cost_default *d = gm_catalog_cost_default(cat, key);
		if (plan->costs[k].set)
			gm_tco_set(in, tk, plan->costs[k].v, "%s", plan->costs[k].src);
		else if (d && d->value.known)
			gm_tco_set(in, tk, d->value.v, "catalog %s %s (%s, %s)", onprem_file, key,
			           d->kind ? d->kind : "figure", d->date ? d->date : "undated");
		else if (k == GM_PLAN_COST_IDLE_POWER_FRACTION)
			gm_tco_set(in, tk, GM_TCO_DEFAULT_IDLE_POWER_FRACTION,
			           "gpumigrate assumption (set target.costs.%s)", key);
		else
			gm_tco_set_missing(
			        in, tk, "catalog %s %s has no public figure; set target.costs.%s",
			        onprem_file, key, key);
	}
out:
	gm_buf_release(&label);
	gm_buf_release(&gpu_name);
	gm_buf_release(&capex_src);
	gm_buf_release(&tdp_src);
	return rc;
}

enum gm_rc gm_plan_tco_inputs(const struct gm_plan *plan, const struct gm_catalog *cat,
                              struct gm_tco_inputs *in, struct gm_err *err)
{
	enum gm_rc rc = cloud_inputs(plan, cat, in, err);
	if (rc == GM_OK)
		rc = onprem_inputs(plan, cat, in, err);
	if (rc != GM_OK)
		return rc;
	if (plan->utilisation.set)
		gm_tco_set(in, GM_TCO_UTILISATION, plan->utilisation.v, "%s",
		           plan->utilisation.src);
	else
		gm_tco_set(in, GM_TCO_UTILISATION, GM_TCO_DEFAULT_UTILISATION,
		           "gpumigrate default (set thresholds.utilisation)");
	if (plan->horizon_years.set)
		gm_tco_set(in, GM_TCO_HORIZON_YEARS, plan->horizon_years.v, "%s",
		           plan->horizon_years.src);
	else
		gm_tco_set(in, GM_TCO_HORIZON_YEARS, GM_TCO_DEFAULT_HORIZON_YEARS,
		           "gpumigrate default (set horizon_years)");
	return GM_OK;
}

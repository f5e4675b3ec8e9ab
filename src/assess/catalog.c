/* Reads the catalog (data/gpus.yaml, cloud.yaml, onprem.yaml, built in or from --catalog DIR)
 * into plain structs, checking every key and type so a typo in a user's override file is an
 * error with file:line:col instead of a silently missing price. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "assess/catalog.h"
#include "assess/yamlread.h"
#include "util/doc.h"
#include "util/embed.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define GPUS_SCHEMA   "gpumigrate.catalog.gpus/v1"
#define CLOUD_SCHEMA  "gpumigrate.catalog.cloud/v1"
#define ONPREM_SCHEMA "gpumigrate.catalog.onprem/v1"

static const char *const prec_names[GM_PREC_COUNT] = {"fp64", "fp32", "tf32", "fp16",
                                                      "bf16", "fp8",  "int8"};

const char *gm_precision_name(enum gm_precision p)
{
	return (unsigned)p < GM_PREC_COUNT ? prec_names[p] : "?";
}

bool gm_precision_parse(const char *s, enum gm_precision *out)
{
	for (int i = 0; s && i < GM_PREC_COUNT; i++) {
		if (strcasecmp(s, prec_names[i]) == 0) {
			*out = (enum gm_precision)i;
			return true;
		}
	}
	return false;
}

/* ---------------------------------------------------------------- parsing helpers */

/* A string member; required ones fail when absent or null. */
static enum gm_rc get_str(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          bool required, char **out, struct gm_err *err)
{
	const char *s = NULL;
	enum gm_rc rc = gm_doc_get_str(doc, map, key, &s, err);
	if (rc == GM_ERR_NOT_FOUND)
		return required ? gm_yr_fail(doc, map, err, "'%s' is required", key) : GM_OK;
	if (rc != GM_OK)
		return rc;
	if (required && !*s)
		return gm_yr_fail(doc, gm_doc_get(map, key), err, "'%s' must not be empty", key);
	free(*out);
	*out = gm_xstrdup(s);
	return GM_OK;
}

/* A non-negative number that may be null (unknown) or absent (unknown). */
static enum gm_rc get_num(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          struct gm_num *out, struct gm_err *err)
{
	double v = 0;
	*out = GM_NUM_UNKNOWN;
	enum gm_rc rc = gm_doc_get_double(doc, map, key, &v, err);
	if (rc == GM_ERR_NOT_FOUND)
		return GM_OK;
	if (rc != GM_OK)
		return rc;
	if (v < 0)
		return gm_yr_fail(doc, gm_doc_get(map, key), err, "'%s' must not be negative", key);
	*out = GM_NUM(v);
	return GM_OK;
}

/* A required positive integer count. */
static enum gm_rc get_count(const struct gm_doc *doc, struct fy_node *map, const char *key,
                            int *out, struct gm_err *err)
{
	int64_t v = 0;
	enum gm_rc rc = gm_doc_get_i64(doc, map, key, &v, err);
	if (rc == GM_ERR_NOT_FOUND)
		return gm_yr_fail(doc, map, err, "'%s' is required", key);
	if (rc != GM_OK)
		return rc;
	if (v < 1 || v > 1024)
		return gm_yr_fail(doc, gm_doc_get(map, key), err, "'%s' must be between 1 and 1024",
		                  key);
	*out = (int)v;
	return GM_OK;
}

static bool parse_date(const char *date, long *days);

/* A required date, YYYY-MM-DD. */
static enum gm_rc get_date(const struct gm_doc *doc, struct fy_node *map, char **out,
                           struct gm_err *err)
{
	enum gm_rc rc = get_str(doc, map, "date", true, out, err);
	if (rc != GM_OK)
		return rc;
	long days = 0;
	if (!parse_date(*out, &days))
		return gm_yr_fail(doc, gm_doc_get(map, "date"), err,
		                  "'date' must be a date written YYYY-MM-DD");
	return GM_OK;
}

static enum gm_rc need_map(const struct gm_doc *doc, struct fy_node *n, const char *what,
                           struct gm_err *err)
{
	if (gm_doc_is_map(n))
		return GM_OK;
	return gm_yr_fail(doc, n, err, "%s must be a mapping", what);
}

/* Root mapping with the expected schema and only the given keys. */
static enum gm_rc check_root(const struct gm_doc *doc, const char *schema, const char *const *keys,
                             struct gm_err *err)
{
	struct fy_node *root = gm_doc_root(doc);
	enum gm_rc rc = need_map(doc, root, "the document", err);
	if (rc != GM_OK)
		return rc;
	rc = gm_doc_check_keys(doc, root, keys, err);
	if (rc != GM_OK)
		return rc;
	const char *s = NULL;
	rc = gm_doc_get_str(doc, root, "schema", &s, err);
	if (rc == GM_ERR_NOT_FOUND || (rc == GM_OK && strcmp(s, schema) != 0))
		return gm_yr_fail(doc, rc == GM_OK ? gm_doc_get(root, "schema") : root, err,
		                  "'schema' must be '%s'", schema);
	return rc;
}

/* root[key]: a list, or *out = NULL when absent or null. */
static enum gm_rc get_seq(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          const char *what, struct fy_node **out, struct gm_err *err)
{
	struct fy_node *n = gm_doc_get(map, key);
	*out = NULL;
	if (gm_doc_is_null(n))
		return GM_OK;
	if (!gm_doc_is_seq(n))
		return gm_yr_fail(doc, n, err, "'%s' must be %s", key, what);
	*out = n;
	return GM_OK;
}

static enum gm_rc parse_prec_map(const struct gm_doc *doc, struct fy_node *g, const char *key,
                                 struct gm_num *out, struct gm_err *err);
static enum gm_rc resolve_gpu(const struct gm_catalog *cat, const struct gm_doc *doc,
                              struct fy_node *map, const struct gm_gpu_spec **out,
                              struct gm_err *err);

/* How an entry's field is read (in table order; the first failure is the error). */
enum field_kind {
	F_STR,     /* optional string (char *) */
	F_REQ_STR, /* required non-empty string (char *) */
	F_NUM,     /* optional non-negative number (struct gm_num) */
	F_COUNT,   /* required count 1..1024 (int) */
	F_PREC,    /* optional precision map (struct gm_num[GM_PREC_COUNT]) */
	F_GPU,     /* required catalog GPU id (const struct gm_gpu_spec *) */
	F_DATE,    /* required YYYY-MM-DD under "date" (char *) */
};

struct field {
	const char *key;
	enum field_kind kind;
	size_t off; /* offset of the member in the entry struct */
};

#define FIELD(type, key, kind, member)            \
	{                                         \
		key, kind, offsetof(type, member) \
	}

/* Checks that n is a mapping (what names it) with only the allowed keys, then reads each
 * field of the table into the struct at obj. */
static enum gm_rc read_entry(const struct gm_catalog *cat, const struct gm_doc *doc,
                             struct fy_node *n, const char *what, const char *const *keys,
                             const struct field *fields, size_t n_fields, void *obj,
                             struct gm_err *err)
{
	enum gm_rc rc = need_map(doc, n, what, err);
	if (rc == GM_OK)
		rc = gm_doc_check_keys(doc, n, keys, err);
	for (size_t i = 0; rc == GM_OK && i < n_fields; i++) {
		const struct field *f = &fields[i];
		void *m = (char *)obj + f->off;
		switch (f->kind) {
		case F_STR: rc = get_str(doc, n, f->key, false, m, err); break;
		case F_REQ_STR: rc = get_str(doc, n, f->key, true, m, err); break;
		case F_NUM: rc = get_num(doc, n, f->key, m, err); break;
		case F_COUNT: rc = get_count(doc, n, f->key, m, err); break;
		case F_PREC: rc = parse_prec_map(doc, n, f->key, m, err); break;
		case F_GPU: rc = resolve_gpu(cat, doc, n, m, err); break;
		case F_DATE: rc = get_date(doc, n, m, err); break;
		}
	}
	return rc;
}

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- GPUs */

static void gpu_release(struct gm_gpu_spec *g)
{
	free(g->id);
	free(g->name);
	for (size_t i = 0; i < g->n_aliases; i++)
		free(g->aliases[i]);
	free(g->aliases);
	free(g->architecture);
	free(g->compute_capability);
	free(g->memory_type);
	free(g->source);
	free(g->date);
	memset(g, 0, sizeof(*g));
}

static enum gm_rc parse_prec_map(const struct gm_doc *doc, struct fy_node *g, const char *key,
                                 struct gm_num *out, struct gm_err *err)
{
	static const char *const keys[] = {"fp64", "fp32", "tf32", "fp16",
	                                   "bf16", "fp8",  "int8", NULL};
	struct fy_node *m = gm_doc_get(g, key);
	for (int p = 0; p < GM_PREC_COUNT; p++)
		out[p] = GM_NUM_UNKNOWN;
	if (gm_doc_is_null(m))
		return GM_OK;
	if (!gm_doc_is_map(m))
		return gm_yr_fail(doc, m, err, "'%s' must be a mapping", key);
	enum gm_rc rc = gm_doc_check_keys(doc, m, keys, err);
	for (int p = 0; rc == GM_OK && p < GM_PREC_COUNT; p++)
		rc = get_num(doc, m, prec_names[p], &out[p], err);
	return rc;
}

static enum gm_rc parse_gpu(const struct gm_doc *doc, struct fy_node *n, struct gm_gpu_spec *g,
                            struct gm_err *err)
{
	static const char *const keys[] = {"id",
	                                   "aliases",
	                                   "name",
	                                   "architecture",
	                                   "compute_capability",
	                                   "sm_count",
	                                   "memory_gib",
	                                   "memory_type",
	                                   "memory_bandwidth_gbs",
	                                   "tdp_w",
	                                   "pcie_gen",
	                                   "nvlink_gbs",
	                                   "tflops",
	                                   "sparse",
	                                   "source",
	                                   "date",
	                                   NULL};
#define G(key, kind, member) FIELD(struct gm_gpu_spec, key, kind, member)
	static const struct field fields[] = {
	        G("id", F_REQ_STR, id),
	        G("name", F_REQ_STR, name),
	        G("architecture", F_STR, architecture),
	        G("compute_capability", F_STR, compute_capability),
	        G("memory_type", F_STR, memory_type),
	        G("sm_count", F_NUM, sm_count),
	        G("memory_gib", F_NUM, memory_gib),
	        G("memory_bandwidth_gbs", F_NUM, memory_bandwidth_gbs),
	        G("tdp_w", F_NUM, tdp_w),
	        G("pcie_gen", F_NUM, pcie_gen),
	        G("nvlink_gbs", F_NUM, nvlink_gbs),
	        G("tflops", F_PREC, tflops),
	        G("sparse", F_PREC, sparse),
	        G("source", F_REQ_STR, source),
	        G("date", F_DATE, date),
	};
#undef G
	enum gm_rc rc =
	        read_entry(NULL, doc, n, "a GPU entry", keys, fields, N_FIELDS(fields), g, err);
	if (rc != GM_OK)
		return rc;
	int ccmaj = 0, ccmin = 0;
	if (g->compute_capability && !gm_catalog_parse_cc(g->compute_capability, &ccmaj, &ccmin))
		return gm_yr_fail(doc, gm_doc_get(n, "compute_capability"), err,
		                  "'compute_capability' must look like \"8.0\"");
	struct fy_node *al = NULL;
	rc = get_seq(doc, n, "aliases", "a list of strings", &al, err);
	if (rc != GM_OK || !al)
		return rc;
	int na = gm_doc_seq_len(al);
	g->aliases = gm_xcalloc(na ? (size_t)na : 1, sizeof(*g->aliases));
	for (int i = 0; i < na; i++) {
		const char *s = gm_doc_scalar(gm_doc_seq_at(al, i));
		if (!s || !*s)
			return gm_yr_fail(doc, gm_doc_seq_at(al, i), err,
			                  "'aliases' must be a list of strings");
		g->aliases[g->n_aliases++] = gm_xstrdup(s);
	}
	return GM_OK;
}

/* Whether name is the id or an alias of g (case-insensitive). */
static bool gpu_is(const struct gm_gpu_spec *g, const char *name)
{
	if (strcasecmp(g->id, name) == 0)
		return true;
	for (size_t i = 0; i < g->n_aliases; i++)
		if (strcasecmp(g->aliases[i], name) == 0)
			return true;
	return false;
}

static enum gm_rc parse_gpus(struct gm_catalog *cat, const struct gm_doc *doc, struct gm_err *err)
{
	static const char *const keys[] = {"schema", "gpus", NULL};
	struct fy_node *seq = NULL;
	enum gm_rc rc = check_root(doc, GPUS_SCHEMA, keys, err);
	if (rc == GM_OK)
		rc = get_seq(doc, gm_doc_root(doc), "gpus", "a list", &seq, err);
	if (rc != GM_OK)
		return rc;
	int n = seq ? gm_doc_seq_len(seq) : 0;
	cat->gpus = gm_xcalloc(n ? (size_t)n : 1, sizeof(*cat->gpus));
	for (int i = 0; i < n; i++) {
		struct fy_node *gn = gm_doc_seq_at(seq, i);
		struct gm_gpu_spec *g = &cat->gpus[cat->n_gpus++];
		rc = parse_gpu(doc, gn, g, err);
		if (rc != GM_OK)
			return rc;
		/* ids and aliases name exactly one GPU */
		for (size_t j = 0; j + 1 < cat->n_gpus; j++) {
			const char *clash = NULL;
			if (gpu_is(&cat->gpus[j], g->id))
				clash = g->id;
			for (size_t k = 0; !clash && k < g->n_aliases; k++)
				if (gpu_is(&cat->gpus[j], g->aliases[k]))
					clash = g->aliases[k];
			if (clash)
				return gm_yr_fail(doc, gn, err, "'%s' already names GPU '%s'",
				                  clash, cat->gpus[j].id);
		}
	}
	return GM_OK;
}

/* ---------------------------------------------------------------- cloud */

static void price_release(struct gm_price *p)
{
	free(p->region);
	free(p->currency);
	free(p->source);
	free(p->date);
}

static void instance_release(struct gm_instance *in)
{
	free(in->id);
	free(in->provider);
	free(in->name);
	free(in->interconnect);
	for (size_t i = 0; i < in->n_prices; i++)
		price_release(&in->prices[i]);
	free(in->prices);
	memset(in, 0, sizeof(*in));
}

static enum gm_rc resolve_gpu(const struct gm_catalog *cat, const struct gm_doc *doc,
                              struct fy_node *map, const struct gm_gpu_spec **out,
                              struct gm_err *err)
{
	char *id = NULL;
	enum gm_rc rc = get_str(doc, map, "gpu", true, &id, err);
	if (rc != GM_OK)
		return rc;
	*out = gm_catalog_find_gpu(cat, id);
	if (!*out) {
		const char *near = gm_catalog_suggest_gpu(cat, id);
		if (near)
			rc = gm_yr_fail(doc, gm_doc_get(map, "gpu"), err,
			                "unknown GPU '%s' (did you mean '%s'?)", id, near);
		else
			rc = gm_yr_fail(doc, gm_doc_get(map, "gpu"), err,
			                "unknown GPU '%s' (it must be an id from gpus.yaml)", id);
	}
	free(id);
	return rc;
}

static enum gm_rc parse_price(const struct gm_doc *doc, struct fy_node *n, struct gm_price *p,
                              struct gm_err *err)
{
	static const char *const keys[] = {
	        "region",   "on_demand_hour", "commit_1y_hour", "commit_3y_hour", "spot_hour",
	        "currency", "components",     "source",         "date",           NULL};
#define P(key, kind, member) FIELD(struct gm_price, key, kind, member)
	static const struct field fields[] = {
	        P("region", F_REQ_STR, region),
	        P("on_demand_hour", F_NUM, on_demand_hour),
	        P("commit_1y_hour", F_NUM, commit_1y_hour),
	        P("commit_3y_hour", F_NUM, commit_3y_hour),
	        P("spot_hour", F_NUM, spot_hour),
	        P("currency", F_STR, currency),
	        P("source", F_REQ_STR, source),
	        P("date", F_DATE, date),
	};
#undef P
	enum gm_rc rc =
	        read_entry(NULL, doc, n, "a price entry", keys, fields, N_FIELDS(fields), p, err);
	if (rc != GM_OK)
		return rc;
	if (!p->currency)
		p->currency = gm_xstrdup("USD");
	struct fy_node *c = gm_doc_get(n, "components");
	if (!gm_doc_is_null(c) && !gm_doc_is_map(c))
		return gm_yr_fail(doc, c, err, "'components' must be a mapping");
	return GM_OK;
}

static enum gm_rc parse_instance(const struct gm_catalog *cat, const struct gm_doc *doc,
                                 struct fy_node *n, struct gm_instance *in, struct gm_err *err)
{
	static const char *const keys[] = {"id",        "provider", "name",       "gpu",
	                                   "gpu_count", "vcpus",    "memory_gib", "interconnect",
	                                   "prices",    NULL};
	static const char *const links[] = {"nvswitch", "nvlink", "pcie", "none", NULL};
#define I(key, kind, member) FIELD(struct gm_instance, key, kind, member)
	static const struct field fields[] = {
	        I("id", F_REQ_STR, id),
	        I("provider", F_REQ_STR, provider),
	        I("name", F_STR, name),
	        I("gpu", F_GPU, gpu),
	        I("gpu_count", F_COUNT, gpu_count),
	        I("vcpus", F_NUM, vcpus),
	        I("memory_gib", F_NUM, memory_gib),
	        I("interconnect", F_REQ_STR, interconnect),
	};
#undef I
	enum gm_rc rc = read_entry(cat, doc, n, "an instance entry", keys, fields, N_FIELDS(fields),
	                           in, err);
	if (rc != GM_OK)
		return rc;
	bool ok = false;
	for (const char *const *l = links; *l; l++)
		ok = ok || strcmp(*l, in->interconnect) == 0;
	if (!ok)
		return gm_yr_fail(doc, gm_doc_get(n, "interconnect"), err,
		                  "'interconnect' must be nvswitch, nvlink, pcie or none");
	if (!strchr(in->id, ':'))
		return gm_yr_fail(doc, gm_doc_get(n, "id"), err,
		                  "'id' must be '<provider>:<machine type>'");
	struct fy_node *ps = NULL;
	rc = get_seq(doc, n, "prices", "a list", &ps, err);
	if (rc != GM_OK || !ps)
		return rc;
	int np = gm_doc_seq_len(ps);
	in->prices = gm_xcalloc(np ? (size_t)np : 1, sizeof(*in->prices));
	for (int i = 0; i < np; i++) {
		rc = parse_price(doc, gm_doc_seq_at(ps, i), &in->prices[in->n_prices++], err);
		if (rc != GM_OK)
			return rc;
	}
	return GM_OK;
}

static enum gm_rc parse_cloud(struct gm_catalog *cat, const struct gm_doc *doc, struct gm_err *err)
{
	static const char *const keys[] = {"schema", "instances", NULL};
	struct fy_node *seq = NULL;
	enum gm_rc rc = check_root(doc, CLOUD_SCHEMA, keys, err);
	if (rc == GM_OK)
		rc = get_seq(doc, gm_doc_root(doc), "instances", "a list", &seq, err);
	if (rc != GM_OK)
		return rc;
	int n = seq ? gm_doc_seq_len(seq) : 0;
	cat->instances = gm_xcalloc(n ? (size_t)n : 1, sizeof(*cat->instances));
	for (int i = 0; i < n; i++) {
		struct fy_node *in = gm_doc_seq_at(seq, i);
		struct gm_instance *inst = &cat->instances[cat->n_instances++];
		rc = parse_instance(cat, doc, in, inst, err);
		if (rc != GM_OK)
			return rc;
		for (size_t j = 0; j + 1 < cat->n_instances; j++) {
			if (strcasecmp(cat->instances[j].id, inst->id) == 0)
				return gm_yr_fail(doc, in, err, "instance '%s' is listed twice",
				                  inst->id);
		}
	}
	return GM_OK;
}

/* ---------------------------------------------------------------- on-prem */

static void cost_release(struct gm_cost_default *c)
{
	free(c->key);
	free(c->unit);
	free(c->kind);
	free(c->source);
	free(c->rationale);
	free(c->date);
}

static void server_release(struct gm_server_price *s)
{
	free(s->id);
	free(s->description);
	free(s->source);
	free(s->date);
}

static enum gm_rc parse_cost(const struct gm_doc *doc, struct fy_node *n, struct gm_cost_default *c,
                             struct gm_err *err)
{
	static const char *const keys[] = {"value",     "unit", "kind", "source",
	                                   "rationale", "date", NULL};
	static const char *const kinds[] = {"published", "derived", "assumption", NULL};
#define C(key, kind, member) FIELD(struct gm_cost_default, key, kind, member)
	static const struct field fields[] = {
	        C("value", F_NUM, value),         C("unit", F_REQ_STR, unit),
	        C("kind", F_STR, kind),           C("source", F_REQ_STR, source),
	        C("rationale", F_STR, rationale), C("date", F_DATE, date),
	};
#undef C
	enum gm_rc rc =
	        read_entry(NULL, doc, n, "a cost default", keys, fields, N_FIELDS(fields), c, err);
	if (rc != GM_OK || !c->kind)
		return rc;
	for (const char *const *k = kinds; *k; k++)
		if (strcmp(*k, c->kind) == 0)
			return GM_OK;
	return gm_yr_fail(doc, gm_doc_get(n, "kind"), err,
	                  "'kind' must be published, derived or assumption");
}

static enum gm_rc parse_server(const struct gm_catalog *cat, const struct gm_doc *doc,
                               struct fy_node *n, struct gm_server_price *s, struct gm_err *err)
{
	static const char *const keys[] = {"id",        "description", "gpu",  "gpu_count",
	                                   "capex_usd", "source",      "date", NULL};
#define S(key, kind, member) FIELD(struct gm_server_price, key, kind, member)
	static const struct field fields[] = {
	        S("id", F_REQ_STR, id),
	        S("description", F_STR, description),
	        S("gpu", F_GPU, gpu),
	        S("gpu_count", F_COUNT, gpu_count),
	        S("capex_usd", F_NUM, capex_usd),
	        S("source", F_REQ_STR, source),
	        S("date", F_DATE, date),
	};
#undef S
	enum gm_rc rc =
	        read_entry(cat, doc, n, "a server entry", keys, fields, N_FIELDS(fields), s, err);
	return rc;
}

static enum gm_rc parse_onprem(struct gm_catalog *cat, const struct gm_doc *doc, struct gm_err *err)
{
	static const char *const keys[] = {"schema", "cost_defaults", "servers", NULL};
	struct fy_node *root = gm_doc_root(doc), *seq = NULL;
	enum gm_rc rc = check_root(doc, ONPREM_SCHEMA, keys, err);
	if (rc != GM_OK)
		return rc;
	struct fy_node *costs = gm_doc_get(root, "cost_defaults");
	if (!gm_doc_is_null(costs)) {
		rc = need_map(doc, costs, "'cost_defaults'", err);
		if (rc != GM_OK)
			return rc;
		int n = gm_doc_map_len(costs);
		cat->costs = gm_xcalloc(n ? (size_t)n : 1, sizeof(*cat->costs));
		for (int i = 0; i < n; i++) {
			struct gm_cost_default *c = &cat->costs[cat->n_costs++];
			const char *key = gm_doc_map_key_at(costs, i);
			if (!key || !*key)
				return gm_yr_fail(doc, gm_doc_map_value_at(costs, i), err,
				                  "cost_defaults keys must be names");
			c->key = gm_xstrdup(key);
			rc = parse_cost(doc, gm_doc_map_value_at(costs, i), c, err);
			if (rc != GM_OK)
				return rc;
		}
	}
	rc = get_seq(doc, root, "servers", "a list", &seq, err);
	if (rc != GM_OK)
		return rc;
	int n = seq ? gm_doc_seq_len(seq) : 0;
	cat->servers = gm_xcalloc(n ? (size_t)n : 1, sizeof(*cat->servers));
	for (int i = 0; i < n; i++) {
		rc = parse_server(cat, doc, gm_doc_seq_at(seq, i), &cat->servers[cat->n_servers++],
		                  err);
		if (rc != GM_OK)
			return rc;
	}
	return GM_OK;
}

/* ---------------------------------------------------------------- loading */

void gm_catalog_init(struct gm_catalog *cat)
{
	memset(cat, 0, sizeof(*cat));
}

void gm_catalog_release(struct gm_catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n_instances; i++)
		instance_release(&cat->instances[i]);
	free(cat->instances);
	for (size_t i = 0; i < cat->n_costs; i++)
		cost_release(&cat->costs[i]);
	free(cat->costs);
	for (size_t i = 0; i < cat->n_servers; i++)
		server_release(&cat->servers[i]);
	free(cat->servers);
	for (size_t i = 0; i < cat->n_gpus; i++)
		gpu_release(&cat->gpus[i]);
	free(cat->gpus);
	free(cat->gpus_from);
	free(cat->cloud_from);
	free(cat->onprem_from);
	gm_catalog_init(cat);
}

/* Loads DIR/name when dir is set and the file is there, else the built-in copy. text keeps
 * the file's bytes: libfyaml points into them for as long as the document lives, so it is
 * read here and released after the document (gm_doc_load_file frees it too early). */
static enum gm_rc load_file(const char *dir, const char *name, struct gm_doc *doc,
                            struct gm_buf *text, char **from, struct gm_err *err)
{
	enum gm_rc rc;
	if (dir) {
		struct gm_buf path = GM_BUF_INIT;
		struct stat st;
		gm_buf_addf(&path, "%s/%s", dir, name);
		if (stat(gm_buf_cstr(&path), &st) == 0) {
			rc = gm_fs_read(gm_buf_cstr(&path), GM_DOC_MAX_BYTES, text, err);
			if (rc == GM_OK)
				rc = gm_doc_load_string(doc, gm_buf_cstr(&path), gm_buf_cstr(text),
				                        text->len, err);
			if (rc == GM_OK)
				*from = gm_buf_detach(&path);
			gm_buf_release(&path);
			return rc;
		}
		if (errno != ENOENT) {
			rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot read '%s'",
			                  gm_buf_cstr(&path));
			gm_buf_release(&path);
			return rc;
		}
		gm_buf_release(&path);
	}
	const struct gm_embedded *e = gm_embedded_find(name);
	if (!e)
		return gm_err_set(err, GM_ERR_INTERNAL, "the built-in '%s' is missing", name);
	rc = gm_doc_load_string(doc, name, e->data, e->len, err);
	if (rc == GM_OK)
		*from = gm_xstrdup("built-in");
	return rc;
}

enum gm_rc gm_catalog_load(struct gm_catalog *cat, const char *dir, struct gm_err *err)
{
	struct gm_doc gpus = {0}, cloud = {0}, onprem = {0};
	struct gm_buf gpus_text = GM_BUF_INIT, cloud_text = GM_BUF_INIT, onprem_text = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	gm_catalog_init(cat);
	if (dir) {
		struct stat st;
		if (stat(dir, &st) != 0) {
			rc = gm_err_errno(err, errno == ENOENT ? GM_ERR_NOT_FOUND : GM_ERR_IO,
			                  errno, "cannot use catalog directory '%s'", dir);
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = gm_err_set(err, GM_ERR_USAGE, "catalog '%s' is not a directory", dir);
			goto out;
		}
	}
	rc = load_file(dir, "gpus.yaml", &gpus, &gpus_text, &cat->gpus_from, err);
	if (rc == GM_OK)
		rc = parse_gpus(cat, &gpus, err);
	if (rc == GM_OK)
		rc = load_file(dir, "cloud.yaml", &cloud, &cloud_text, &cat->cloud_from, err);
	if (rc == GM_OK)
		rc = parse_cloud(cat, &cloud, err);
	if (rc == GM_OK)
		rc = load_file(dir, "onprem.yaml", &onprem, &onprem_text, &cat->onprem_from, err);
	if (rc == GM_OK)
		rc = parse_onprem(cat, &onprem, err);
out:
	gm_doc_release(&onprem);
	gm_doc_release(&cloud);
	gm_doc_release(&gpus);
	gm_buf_release(&onprem_text);
	gm_buf_release(&cloud_text);
	gm_buf_release(&gpus_text);
	if (rc != GM_OK)
		gm_catalog_release(cat);
	return rc;
}

/* ---------------------------------------------------------------- lookups */

const struct gm_gpu_spec *gm_catalog_find_gpu(const struct gm_catalog *cat, const char *name)
{
	if (!cat || !name)
		return NULL;
	for (size_t i = 0; i < cat->n_gpus; i++)
		if (gpu_is(&cat->gpus[i], name))
			return &cat->gpus[i];
	if (strncasecmp(name, "NVIDIA ", 7) == 0)
		return gm_catalog_find_gpu(cat, name + 7);
	return NULL;
}

const struct gm_instance *gm_catalog_find_instance(const struct gm_catalog *cat, const char *id)
{
	if (!cat || !id)
		return NULL;
	for (size_t i = 0; i < cat->n_instances; i++)
		if (strcasecmp(cat->instances[i].id, id) == 0)
			return &cat->instances[i];
	return NULL;
}

const struct gm_price *gm_instance_price(const struct gm_instance *inst, const char *region)
{
	if (!inst || inst->n_prices == 0)
		return NULL;
	if (!region)
		return &inst->prices[0];
	for (size_t i = 0; i < inst->n_prices; i++)
		if (strcasecmp(inst->prices[i].region, region) == 0)
			return &inst->prices[i];
	return NULL;
}

const struct gm_cost_default *gm_catalog_cost_default(const struct gm_catalog *cat, const char *key)
{
	for (size_t i = 0; cat && key && i < cat->n_costs; i++)
		if (strcmp(cat->costs[i].key, key) == 0)
			return &cat->costs[i];
	return NULL;
}

const struct gm_server_price *gm_catalog_server_for_gpu(const struct gm_catalog *cat,
                                                        const char *gpu_id, size_t i)
{
	for (size_t k = 0; cat && gpu_id && k < cat->n_servers; k++)
		if (strcasecmp(cat->servers[k].gpu->id, gpu_id) == 0 && i-- == 0)
			return &cat->servers[k];
	return NULL;
}

/* Keeps the candidate closest to name; ties keep the first. */
static void consider(const char *name, const char *cand, const char **best, size_t *best_d)
{
	size_t d = gm_levenshtein(name, cand);
	/* case differences do not count: compare lowercased when lengths allow */
	char a[128], b[128];
	size_t la = strlen(name), lb = strlen(cand);
	if (la < sizeof(a) && lb < sizeof(b)) {
		for (size_t i = 0; i <= la; i++)
			a[i] = (char)tolower((unsigned char)name[i]);
		for (size_t i = 0; i <= lb; i++)
			b[i] = (char)tolower((unsigned char)cand[i]);
		d = gm_levenshtein(a, b);
	}
	/* on a tie, prefer a candidate that extends what was typed ("l40" -> "l40s") */
	bool extends = strncasecmp(cand, name, strlen(name)) == 0;
	if (d < *best_d ||
	    (d == *best_d && extends && *best && strncasecmp(*best, name, strlen(name)) != 0)) {
		*best_d = d;
		*best = cand;
	}
}

static bool close_enough(const char *name, size_t d)
{
	return d <= (strlen(name) + 2) / 3 + 1;
}

const char *gm_catalog_suggest_gpu(const struct gm_catalog *cat, const char *name)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; cat && name && i < cat->n_gpus; i++) {
		consider(name, cat->gpus[i].id, &best, &best_d);
		for (size_t k = 0; k < cat->gpus[i].n_aliases; k++)
			consider(name, cat->gpus[i].aliases[k], &best, &best_d);
	}
	return best && close_enough(name, best_d) ? best : NULL;
}

const char *gm_catalog_suggest_instance(const struct gm_catalog *cat, const char *name)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; cat && name && i < cat->n_instances; i++)
		consider(name, cat->instances[i].id, &best, &best_d);
	return best && close_enough(name, best_d) ? best : NULL;
}

/* Parses "YYYY-MM-DD" into days since 1970-01-01; false when it is not a real date. */
static bool parse_date(const char *date, long *days)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!date || strlen(date) != 10 || date[4] != '-' || date[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)date[i]))
			return false;
	long y = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 +
	         (date[3] - '0');
	unsigned m = (unsigned)((date[5] - '0') * 10 + (date[6] - '0'));
	unsigned d = (unsigned)((date[8] - '0') * 10 + (date[9] - '0'));
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m == 2 && d == 29 && !leap)
		return false;
	*days = (long)gm_days_from_civil(y, m, d);
	return true;
}

long gm_catalog_price_age_days(const char *date, time_t now)
{
	long then = 0;
	if (!parse_date(date, &then))
		return -1;
	long today = (long)(now / 86400);
	if (now < 0 && now % 86400)
		today--;
	return today > then ? today - then : 0;
}

bool gm_catalog_parse_cc(const char *s, int *major, int *minor)
{
	int64_t a = 0, b = 0;
	const char *dot = s ? strchr(s, '.') : NULL;
	if (!dot || dot == s || !dot[1] || dot - s > 3 || strlen(dot + 1) > 3)
		return false;
	for (const char *p = s; *p; p++)
		if (p != dot && !isdigit((unsigned char)*p))
			return false;
	char head[4] = {0};
	memcpy(head, s, (size_t)(dot - s));
	if (gm_parse_i64(head, 10, &a) != GM_OK || gm_parse_i64(dot + 1, 10, &b) != GM_OK)
		return false;
	*major = (int)a;
	*minor = (int)b;
	return true;
}

/* ---------------------------------------------------------------- JSON */

static void json_num(struct gm_json *j, const char *key, struct gm_num n)
{
	if (n.known)
		gm_json_double(j, key, n.v);
	else
		gm_json_null(j, key);
}

static void json_prec(struct gm_json *j, const char *key, const struct gm_num *v)
{
	gm_json_begin_object(j, key);
	for (int p = 0; p < GM_PREC_COUNT; p++)
		json_num(j, prec_names[p], v[p]);
	gm_json_end_object(j);
}

void gm_gpu_spec_to_json(struct gm_json *j, const char *key, const struct gm_gpu_spec *g)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "id", g->id);
	gm_json_str(j, "name", g->name);
	gm_json_begin_array(j, "aliases");
	for (size_t i = 0; i < g->n_aliases; i++)
		gm_json_str(j, NULL, g->aliases[i]);
	gm_json_end_array(j);
	gm_json_str(j, "architecture", g->architecture);
	gm_json_str(j, "compute_capability", g->compute_capability);
	json_num(j, "sm_count", g->sm_count);
	json_num(j, "memory_gib", g->memory_gib);
	gm_json_str(j, "memory_type", g->memory_type);
	json_num(j, "memory_bandwidth_gbs", g->memory_bandwidth_gbs);
	json_num(j, "tdp_w", g->tdp_w);
	json_num(j, "pcie_gen", g->pcie_gen);
	json_num(j, "nvlink_gbs", g->nvlink_gbs);
	json_prec(j, "tflops", g->tflops);
	json_prec(j, "sparse", g->sparse);
	gm_json_str(j, "source", g->source);
	gm_json_str(j, "date", g->date);
	gm_json_end_object(j);
}

void gm_instance_to_json(struct gm_json *j, const char *key, const struct gm_instance *in,
                         time_t now)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "id", in->id);
	gm_json_str(j, "provider", in->provider);
	gm_json_str(j, "name", in->name);
	gm_json_str(j, "gpu", in->gpu->id);
	gm_json_int(j, "gpu_count", in->gpu_count);
	json_num(j, "vcpus", in->vcpus);
	json_num(j, "memory_gib", in->memory_gib);
	gm_json_str(j, "interconnect", in->interconnect);
	gm_json_begin_array(j, "prices");
	for (size_t i = 0; i < in->n_prices; i++) {
		const struct gm_price *p = &in->prices[i];
		gm_json_begin_object(j, NULL);
		gm_json_str(j, "region", p->region);
		json_num(j, "on_demand_hour", p->on_demand_hour);
		json_num(j, "commit_1y_hour", p->commit_1y_hour);
		json_num(j, "commit_3y_hour", p->commit_3y_hour);
		json_num(j, "spot_hour", p->spot_hour);
		gm_json_str(j, "currency", p->currency);
		gm_json_str(j, "source", p->source);
		gm_json_str(j, "date", p->date);
		gm_json_int(j, "age_days", gm_catalog_price_age_days(p->date, now));
		gm_json_end_object(j);
	}
	gm_json_end_array(j);
	gm_json_end_object(j);
}

void gm_cost_default_to_json(struct gm_json *j, const char *key, const struct gm_cost_default *c)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "key", c->key);
	json_num(j, "value", c->value);
	gm_json_str(j, "unit", c->unit);
	gm_json_str(j, "kind", c->kind);
	gm_json_str(j, "source", c->source);
	gm_json_str(j, "rationale", c->rationale);
	gm_json_str(j, "date", c->date);
	gm_json_end_object(j);
}

void gm_server_price_to_json(struct gm_json *j, const char *key, const struct gm_server_price *s)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "id", s->id);
	gm_json_str(j, "description", s->description);
	gm_json_str(j, "gpu", s->gpu->id);
	gm_json_int(j, "gpu_count", s->gpu_count);
	json_num(j, "capex_usd", s->capex_usd);
	gm_json_str(j, "source", s->source);
	gm_json_str(j, "date", s->date);
	gm_json_end_object(j);
}

const char *gm_catalog_nvml_name(const struct gm_gpu_spec *g)
{
	for (size_t i = 0; i < g->n_aliases; i++)
		if (strncmp(g->aliases[i], "NVIDIA ", 7) == 0 ||
		    strncmp(g->aliases[i], "Tesla ", 6) == 0)
			return g->aliases[i];
	return g->name;
}

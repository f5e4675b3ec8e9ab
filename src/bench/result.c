/* Writing and reading bench result documents (gpumigrate.bench/v1 with figures). The
 * writer goes through gm_json so key order is stable; the reader through gm_doc with caps,
 * since result files travel between machines and people. */
#include "bench/result.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hw/inventory.h"
#include "util/doc.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

const char *gm_bench_better_name(enum gm_bench_better b)
{
	return b == GM_BETTER_HIGHER ? "higher" : "lower";
}

bool gm_bench_better_parse(const char *s, enum gm_bench_better *out)
{
	if (s && strcmp(s, "lower") == 0)
		*out = GM_BETTER_LOWER;
	else if (s && strcmp(s, "higher") == 0)
		*out = GM_BETTER_HIGHER;
	else
		return false;
	return true;
}

void gm_bench_result_init(struct gm_bench_result *r)
{
	memset(r, 0, sizeof(*r));
}

static void figure_release(struct gm_bench_figure *f)
{
	free(f->name);
	free(f->unit);
	free(f->samples);
	free(f);
}

void gm_bench_result_release(struct gm_bench_result *r)
{
	if (!r)
		return;
	free(r->kind);
	free(r->started);
	free(r->host);
	for (size_t i = 0; i < r->n_figures; i++)
		figure_release(r->figures[i]);
	free(r->figures);
	for (size_t i = 0; i < r->n_counters; i++)
		free(r->counters[i].name);
	free(r->counters);
	for (size_t i = 0; i < r->n_raw; i++) {
		free(r->raw[i].key);
		gm_buf_release(&r->raw[i].json);
	}
	gm_buf_release(&r->inventory);
	gm_bench_result_init(r);
}

void gm_bench_result_begin(struct gm_bench_result *r, const char *kind)
{
	char host[256] = "";
	char when[32] = "";
	time_t now = time(NULL);
	struct tm tm;
	free(r->kind);
	free(r->started);
	free(r->host);
	r->kind = gm_xstrdup(kind);
	if (gmtime_r(&now, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r->started = gm_xstrdup(when);
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	r->host = gm_xstrdup(host);
}

struct gm_bench_figure *gm_bench_result_figure(const struct gm_bench_result *r, const char *name)
{
	for (size_t i = 0; i < r->n_figures; i++)
		if (strcmp(r->figures[i]->name, name) == 0)
			return r->figures[i];
	return NULL;
}

struct gm_bench_figure *gm_bench_result_add_figure(struct gm_bench_result *r, const char *name,
                                                   const char *unit, enum gm_bench_better better)
{
	if (gm_bench_result_figure(r, name))
		return NULL;
	r->figures =
	        gm_xreallocarray(r->figures, r->n_figures + 1, sizeof(struct gm_bench_figure *));
	struct gm_bench_figure *f = gm_xcalloc(1, sizeof(*f));
	r->figures[r->n_figures++] = f;
	f->name = gm_xstrdup(name);
	f->unit = gm_xstrdup(unit ? unit : "");
	f->better = better;
	gm_stats_summarize(NULL, 0, &f->summary);
	return f;
}

void gm_bench_figure_add_sample(struct gm_bench_figure *f, double v)
{
	if (f->n_samples == f->cap_samples) {
		f->cap_samples = f->cap_samples ? 2 * f->cap_samples : 16;
		f->samples = gm_xreallocarray(f->samples, f->cap_samples, sizeof(*f->samples));
	}
	f->samples[f->n_samples++] = v;
}

void gm_bench_figure_summarize(struct gm_bench_figure *f)
{
	gm_stats_summarize(f->samples, f->n_samples, &f->summary);
}

void gm_bench_result_set_counter(struct gm_bench_result *r, const char *name, int64_t value)
{
	for (size_t i = 0; i < r->n_counters; i++) {
		if (strcmp(r->counters[i].name, name) == 0) {
			r->counters[i].value = value;
			return;
		}
	}
	r->counters = gm_xreallocarray(r->counters, r->n_counters + 1, sizeof(*r->counters));
	r->counters[r->n_counters].name = gm_xstrdup(name);
	r->counters[r->n_counters++].value = value;
}

int64_t gm_bench_result_counter(const struct gm_bench_result *r, const char *name)
{
	for (size_t i = 0; i < r->n_counters; i++)
		if (strcmp(r->counters[i].name, name) == 0)
			return r->counters[i].value;
	return -1;
}

static const char *const top_keys[] = {"schema",  "kind",     "started",   "host",
                                       "figures", "counters", "inventory", NULL};

enum gm_rc gm_bench_result_set_raw(struct gm_bench_result *r, const char *key, const char *json,
                                   struct gm_err *err)
{
	for (size_t i = 0; top_keys[i]; i++)
		if (strcmp(top_keys[i], key) == 0)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s' is a member the bench result writes itself", key);
	struct gm_bench_raw *m = NULL;
	for (size_t i = 0; i < r->n_raw && !m; i++)
		if (strcmp(r->raw[i].key, key) == 0)
			m = &r->raw[i];
	if (!m) {
		if (r->n_raw == GM_BENCH_MAX_RAW)
			return gm_err_set(err, GM_ERR_LIMIT, "at most %d extra members in a result",
			                  GM_BENCH_MAX_RAW);
		m = &r->raw[r->n_raw++];
		m->key = gm_xstrdup(key);
		gm_buf_init(&m->json);
	}
	gm_buf_reset(&m->json);
	gm_buf_adds(&m->json, json);
	return GM_OK;
}

enum gm_rc gm_bench_result_collect_inventory(struct gm_bench_result *r, bool skip_nvml,
                                             struct gm_err *err)
{
	struct gm_inventory inv;
	struct gm_inventory_opts opts = {{NULL}, NULL, skip_nvml};
	gm_inventory_init(&inv);
	enum gm_rc rc = gm_inventory_collect(&inv, &opts, err);
	if (rc == GM_OK) {
		gm_buf_reset(&r->inventory);
		gm_inventory_to_json(&inv, &r->inventory, false);
	}
	gm_inventory_release(&inv);
	return rc;
}

static void write_summary(struct gm_json *j, const struct gm_stats_summary *s)
{
	gm_json_begin_object(j, "summary");
	gm_json_uint(j, "n", s->n);
	gm_json_double(j, "median", s->p50);
	gm_json_double(j, "p50", s->p50);
	gm_json_double(j, "p90", s->p90);
	gm_json_double(j, "p99", s->p99);
	gm_json_double(j, "p99.9", s->p999);
	gm_json_double(j, "min", s->min);
	gm_json_double(j, "max", s->max);
	gm_json_double(j, "mean", s->mean);
	gm_json_double(j, "stddev", s->stddev);
	gm_json_end_object(j);
}

void gm_bench_result_to_json(const struct gm_bench_result *r, struct gm_buf *out, bool pretty)
{
	struct gm_json j;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", GM_BENCH_RESULT_SCHEMA);
	gm_json_str(&j, "kind", r->kind);
	gm_json_str(&j, "started", r->started);
	gm_json_str(&j, "host", r->host);
	for (size_t i = 0; i < r->n_raw; i++)
		gm_json_raw(&j, r->raw[i].key, r->raw[i].json.data, r->raw[i].json.len);
	gm_json_begin_object(&j, "figures");
	for (size_t i = 0; i < r->n_figures; i++) {
		const struct gm_bench_figure *f = r->figures[i];
		gm_json_begin_object(&j, f->name);
		gm_json_str(&j, "unit", f->unit);
		gm_json_str(&j, "better", gm_bench_better_name(f->better));
		write_summary(&j, &f->summary);
		gm_json_begin_array(&j, "samples");
		bool was = j.pretty;
		j.pretty = false; /* one line of numbers, not one line each */
		for (size_t k = 0; k < f->n_samples; k++)
			gm_json_double(&j, NULL, f->samples[k]);
		j.pretty = was;
		gm_json_end_array(&j);
		gm_json_end_object(&j);
	}
	gm_json_end_object(&j);
	gm_json_begin_object(&j, "counters");
	for (size_t i = 0; i < r->n_counters; i++)
		gm_json_int(&j, r->counters[i].name, r->counters[i].value);
	gm_json_end_object(&j);
	if (r->inventory.len)
		gm_json_raw(&j, "inventory", r->inventory.data, r->inventory.len);
	else
		gm_json_null(&j, "inventory");
	gm_json_end_object(&j);
	if (pretty)
		gm_buf_addch(out, '\n');
}

/* ---- reading ---- */

static enum gm_rc fail_at(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum gm_rc fail_at(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                          const char *fmt, ...)
{
	struct gm_buf where = GM_BUF_INIT, msg = GM_BUF_INIT;
	va_list ap;
	if (n)
		gm_doc_where(doc, n, &where);
	else
		gm_buf_adds(&where, doc->name ? doc->name : "result");
	va_start(ap, fmt);
	gm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	gm_err_set(err, GM_ERR_PARSE, "%s: %s", gm_buf_cstr(&where), gm_buf_cstr(&msg));
	gm_buf_release(&msg);
	gm_buf_release(&where);
	return GM_ERR_PARSE;
}

/* A plain scalar that is a finite number. */
static bool node_number(struct fy_node *n, double *out)
{
	const char *s = gm_doc_scalar(n);
	char *end = NULL;
	if (!s || !*s || gm_doc_is_null(n))
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static enum gm_rc read_str(const struct gm_doc *doc, struct fy_node *map, const char *key,
                           bool required, char **out, struct gm_err *err)
{
	const char *s = NULL;
	enum gm_rc rc = gm_doc_get_str(doc, map, key, &s, err);
	if (rc == GM_ERR_NOT_FOUND) {
		if (required)
			return fail_at(doc, map, err, "'%s' is required", key);
		return GM_OK;
	}
	if (rc != GM_OK)
		return rc;
	*out = gm_xstrdup(s);
	return GM_OK;
}

static enum gm_rc read_summary(const struct gm_doc *doc, struct fy_node *m,
                               struct gm_stats_summary *s, struct gm_err *err)
{
	static const char *const keys[] = {"n",   "median", "p50",  "p90",    "p99", "p99.9",
	                                   "min", "max",    "mean", "stddev", NULL};
	double *dst[] = {NULL,     &s->p50, &s->p50, &s->p90,  &s->p99,
	                 &s->p999, &s->min, &s->max, &s->mean, &s->stddev};
	if (!gm_doc_is_map(m))
		return fail_at(doc, m, err, "'summary' must be a mapping");
	enum gm_rc rc = gm_doc_check_keys(doc, m, keys, err);
	if (rc != GM_OK)
		return rc;
	for (size_t i = 0; keys[i]; i++) {
		struct fy_node *v = gm_doc_get(m, keys[i]);
		double d = NAN;
		if (gm_doc_is_null(v))
			continue;
		if (!node_number(v, &d))
			return fail_at(doc, v, err, "'%s' must be a number", keys[i]);
		if (i == 0) {
			if (d < 0 || d != floor(d) || d > 9.0e15)
				return fail_at(doc, v, err, "'n' must be a count");
			s->n = (uint64_t)d;
		} else {
			*dst[i] = d;
		}
	}
	return GM_OK;
}

static enum gm_rc read_figure(struct gm_bench_result *r, const struct gm_doc *doc, const char *name,
                              struct fy_node *m, struct gm_err *err)
{
	static const char *const keys[] = {"unit", "better", "summary", "samples", NULL};
	if (!gm_doc_is_map(m))
		return fail_at(doc, m, err, "figure '%s' must be a mapping", name);
	enum gm_rc rc = gm_doc_check_keys(doc, m, keys, err);
	if (rc != GM_OK)
		return rc;
	const char *unit = "", *better = "lower";
	rc = gm_doc_get_str(doc, m, "unit", &unit, err);
	if (rc != GM_OK && rc != GM_ERR_NOT_FOUND)
		return rc;
	rc = gm_doc_get_str(doc, m, "better", &better, err);
	if (rc != GM_OK && rc != GM_ERR_NOT_FOUND)
		return rc;
	enum gm_bench_better b;
	if (!gm_bench_better_parse(better, &b))
		return fail_at(doc, gm_doc_get(m, "better"), err,
		               "'better' must be lower or higher, not '%s'", better);
	if (!*name)
		return fail_at(doc, m, err, "a figure needs a name");
	struct gm_bench_figure *f = gm_bench_result_add_figure(r, name, unit, b);
	if (!f)
		return fail_at(doc, m, err, "figure '%s' appears twice", name);
	struct fy_node *samples = gm_doc_get(m, "samples");
	if (!gm_doc_is_null(samples)) {
		if (!gm_doc_is_seq(samples))
			return fail_at(doc, samples, err, "'samples' must be a list of numbers");
		int n = gm_doc_seq_len(samples);
		if (n > GM_BENCH_MAX_SAMPLES)
			return gm_err_set(err, GM_ERR_LIMIT,
			                  "%s: figure '%s' has %d samples; at most %d are read",
			                  doc->name, name, n, GM_BENCH_MAX_SAMPLES);
		f->samples = gm_xreallocarray(NULL, n > 0 ? (size_t)n : 1, sizeof(double));
		f->cap_samples = n > 0 ? (size_t)n : 1;
		for (int i = 0; i < n; i++) {
			struct fy_node *v = gm_doc_seq_at(samples, i);
			if (!node_number(v, &f->samples[i]))
				return fail_at(doc, v, err, "sample %d of '%s' must be a number",
				               i + 1, name);
			f->n_samples++;
		}
	}
	gm_bench_figure_summarize(f);
	struct fy_node *sum = gm_doc_get(m, "summary");
	if (!gm_doc_is_null(sum))
		return read_summary(doc, sum, &f->summary, err);
	return GM_OK;
}

static enum gm_rc parse_doc(struct gm_bench_result *r, const struct gm_doc *doc, struct gm_err *err)
{
	struct fy_node *root = gm_doc_root(doc);
	if (!gm_doc_is_map(root))
		return fail_at(doc, root, err, "a bench result must be a mapping");
	const char *schema = NULL;
	enum gm_rc rc = gm_doc_get_str(doc, root, "schema", &schema, err);
	if (rc == GM_ERR_NOT_FOUND || (rc == GM_OK && strcmp(schema, GM_BENCH_RESULT_SCHEMA) != 0))
		return fail_at(doc, rc == GM_OK ? gm_doc_get(root, "schema") : root, err,
		               "not a bench result: 'schema' must be %s", GM_BENCH_RESULT_SCHEMA);
	if (rc != GM_OK)
		return rc;
	if ((rc = read_str(doc, root, "kind", false, &r->kind, err)) != GM_OK ||
	    (rc = read_str(doc, root, "started", false, &r->started, err)) != GM_OK ||
	    (rc = read_str(doc, root, "host", false, &r->host, err)) != GM_OK)
		return rc;
	struct fy_node *figs = gm_doc_get(root, "figures");
	if (!gm_doc_is_null(figs)) {
		if (!gm_doc_is_map(figs))
			return fail_at(doc, figs, err, "'figures' must map names to figures");
		int n = gm_doc_map_len(figs);
		if (n > GM_BENCH_MAX_FIGURES)
			return gm_err_set(err, GM_ERR_LIMIT, "%s: %d figures; at most %d are read",
			                  doc->name, n, GM_BENCH_MAX_FIGURES);
		for (int i = 0; i < n; i++) {
			const char *name = gm_doc_map_key_at(figs, i);
			rc = read_figure(r, doc, name ? name : "", gm_doc_map_value_at(figs, i),
			                 err);
			if (rc != GM_OK)
				return rc;
		}
	}
	struct fy_node *ctrs = gm_doc_get(root, "counters");
	if (!gm_doc_is_null(ctrs)) {
		if (!gm_doc_is_map(ctrs))
			return fail_at(doc, ctrs, err, "'counters' must map names to integers");
		int n = gm_doc_map_len(ctrs);
		if (n > GM_BENCH_MAX_COUNTERS)
			return gm_err_set(err, GM_ERR_LIMIT, "%s: %d counters; at most %d are read",
			                  doc->name, n, GM_BENCH_MAX_COUNTERS);
		for (int i = 0; i < n; i++) {
			const char *name = gm_doc_map_key_at(ctrs, i);
			int64_t v = 0;
			if (!name || gm_doc_get_i64(doc, ctrs, name, &v, err) != GM_OK)
				return fail_at(doc, gm_doc_map_value_at(ctrs, i), err,
				               "counter '%s' must be an integer", name ? name : "");
			gm_bench_result_set_counter(r, name, v);
		}
	}
	return GM_OK;
}

enum gm_rc gm_bench_result_parse(struct gm_bench_result *r, const char *name, const char *text,
                                 size_t len, struct gm_err *err)
{
	struct gm_doc doc = {0};
	gm_bench_result_release(r);
	enum gm_rc rc = gm_doc_load_string(&doc, name, text, len, err);
	if (rc == GM_OK)
		rc = parse_doc(r, &doc, err);
	if (rc != GM_OK)
		gm_bench_result_release(r);
	gm_doc_release(&doc);
	return rc;
}

enum gm_rc gm_bench_result_load(struct gm_bench_result *r, const char *path, struct gm_err *err)
{
	struct gm_doc doc = {0};
	gm_bench_result_release(r);
	enum gm_rc rc = gm_doc_load_file(&doc, path, err);
	if (rc == GM_OK)
		rc = parse_doc(r, &doc, err);
	if (rc != GM_OK)
		gm_bench_result_release(r);
	gm_doc_release(&doc);
	return rc;
}

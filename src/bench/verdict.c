/* The comparison of two bench results, figure by figure (see verdict.h for the rule). */
#include "bench/verdict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

const char *gm_verdict_name(enum gm_verdict v)
{
	switch (v) {
	case GM_VERDICT_EQUIVALENT: return "equivalent";
	case GM_VERDICT_FASTER: return "faster";
	case GM_VERDICT_SLOWER: return "slower";
	case GM_VERDICT_INCONCLUSIVE: break;
	}
	return "inconclusive";
}

enum gm_verdict gm_verdict_decide(double lo, double hi, double p, enum gm_bench_better better,
                                  double tolerance)
{
	if (isnan(lo) || isnan(hi))
		return GM_VERDICT_INCONCLUSIVE;
	double band_lo = 1 - tolerance, band_hi = 1 + tolerance;
	if (lo >= band_lo && hi <= band_hi)
		return GM_VERDICT_EQUIVALENT;
	bool significant = !isnan(p) && p < GM_VERDICT_ALPHA;
	if (!significant)
		return GM_VERDICT_INCONCLUSIVE;
	if (lo > band_hi) /* the candidate's figure is clearly larger */
		return better == GM_BETTER_HIGHER ? GM_VERDICT_FASTER : GM_VERDICT_SLOWER;
	if (hi < band_lo) /* clearly smaller */
		return better == GM_BETTER_HIGHER ? GM_VERDICT_SLOWER : GM_VERDICT_FASTER;
	return GM_VERDICT_INCONCLUSIVE;
}

void gm_bench_cmp_init(struct gm_bench_cmp *c)
{
	memset(c, 0, sizeof(*c));
}

void gm_bench_cmp_release(struct gm_bench_cmp *c)
{
	if (!c)
		return;
	free(c->rows);
	free(c->only_base);
	free(c->only_cand);
	gm_bench_cmp_init(c);
}

enum gm_rc gm_bench_compare(const struct gm_bench_result *base, const struct gm_bench_result *cand,
                            double tolerance, struct gm_bench_cmp *c, struct gm_err *err)
{
	gm_bench_cmp_release(c);
	c->tolerance = tolerance;
	if (!(tolerance >= 0 && tolerance < 1))
		return gm_err_set(err, GM_ERR_USAGE, "the tolerance must be between 0 and 100%%");
	c->rows = gm_xcalloc(base->n_figures + 1, sizeof(*c->rows));
	c->only_base = gm_xcalloc(base->n_figures + 1, sizeof(*c->only_base));
	c->only_cand = gm_xcalloc(cand->n_figures + 1, sizeof(*c->only_cand));
	for (size_t i = 0; i < base->n_figures; i++) {
		const struct gm_bench_figure *b = base->figures[i];
		const struct gm_bench_figure *k = gm_bench_result_figure(cand, b->name);
		if (!k || !b->n_samples || !k->n_samples) {
			c->only_base[c->n_only_base++] = b->name;
			continue;
		}
		if (strcmp(b->unit, k->unit) != 0)
			return gm_err_set(
			        err, GM_ERR_USAGE,
			        "figure '%s' is in '%s' in the baseline but in '%s' in the "
			        "candidate",
			        b->name, b->unit, k->unit);
		if (b->better != k->better)
			return gm_err_set(
			        err, GM_ERR_USAGE,
			        "figure '%s': the results disagree on whether lower or higher "
			        "is better",
			        b->name);
		struct gm_bench_cmp_row *row = &c->rows[c->n_rows++];
		row->name = b->name;
		row->unit = b->unit;
		row->better = b->better;
		row->n_base = b->n_samples;
		row->n_cand = k->n_samples;
		row->base_median = gm_stats_median(b->samples, b->n_samples);
		row->cand_median = gm_stats_median(k->samples, k->n_samples);
		enum gm_rc rc = gm_stats_ratio_ci(
		        b->samples, b->n_samples, k->samples, k->n_samples, GM_BOOTSTRAP_RESAMPLES,
		        0.95, GM_BOOTSTRAP_SEED, &row->ratio, &row->lo, &row->hi, err);
		if (rc != GM_OK)
			return rc;
		row->p = gm_stats_mann_whitney(b->samples, b->n_samples, k->samples, k->n_samples,
		                               NULL);
		row->verdict = gm_verdict_decide(row->lo, row->hi, row->p, row->better, tolerance);
		if (row->verdict == GM_VERDICT_SLOWER)
			c->n_slower++;
		if (row->verdict == GM_VERDICT_FASTER)
			c->n_faster++;
	}
	for (size_t i = 0; i < cand->n_figures; i++) {
		const struct gm_bench_figure *k = cand->figures[i];
		const struct gm_bench_figure *b = gm_bench_result_figure(base, k->name);
		if (!b || !b->n_samples || !k->n_samples)
			c->only_cand[c->n_only_cand++] = k->name;
	}
	return GM_OK;
}

void gm_bench_cmp_to_json(const struct gm_bench_cmp *c, const char *base_path,
                          const char *cand_path, struct gm_buf *out, bool pretty)
{
	struct gm_json j;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", "gpumigrate.bench-compare/v1");
	gm_json_str(&j, "baseline", base_path);
	gm_json_str(&j, "candidate", cand_path);
	gm_json_double(&j, "tolerance", c->tolerance);
	gm_json_double(&j, "confidence", 0.95);
	gm_json_int(&j, "resamples", GM_BOOTSTRAP_RESAMPLES);
	gm_json_begin_array(&j, "figures");
	for (size_t i = 0; i < c->n_rows; i++) {
		const struct gm_bench_cmp_row *r = &c->rows[i];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "name", r->name);
		gm_json_str(&j, "unit", r->unit);
		gm_json_str(&j, "better", gm_bench_better_name(r->better));
		gm_json_uint(&j, "baseline_n", r->n_base);
		gm_json_uint(&j, "candidate_n", r->n_cand);
		gm_json_double(&j, "baseline_median", r->base_median);
		gm_json_double(&j, "candidate_median", r->cand_median);
		gm_json_double(&j, "ratio", r->ratio);
		gm_json_double(&j, "ci_low", r->lo);
		gm_json_double(&j, "ci_high", r->hi);
		gm_json_double(&j, "p_value", r->p);
		gm_json_str(&j, "verdict", gm_verdict_name(r->verdict));
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_begin_array(&j, "only_baseline");
	for (size_t i = 0; i < c->n_only_base; i++)
		gm_json_str(&j, NULL, c->only_base[i]);
	gm_json_end_array(&j);
	gm_json_begin_array(&j, "only_candidate");
	for (size_t i = 0; i < c->n_only_cand; i++)
		gm_json_str(&j, NULL, c->only_cand[i]);
	gm_json_end_array(&j);
	gm_json_uint(&j, "slower", c->n_slower);
	gm_json_uint(&j, "faster", c->n_faster);
	gm_json_end_object(&j);
	if (pretty)
		gm_buf_addch(out, '\n');
}

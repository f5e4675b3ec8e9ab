/* `bench compare`'s judgement: for each figure two result documents share, the ratio of
 * the candidate's median to the baseline's with a bootstrap confidence interval, a
 * Mann–Whitney p-value, and a verdict that respects which direction is better. Kept apart
 * from the command so the rules are unit-tested. */
#ifndef GM_BENCH_VERDICT_H
#define GM_BENCH_VERDICT_H

#include <stddef.h>

#include "bench/result.h"
#include "util/buf.h"
#include "util/err.h"

enum gm_verdict {
	GM_VERDICT_EQUIVALENT = 0, /* the whole CI lies within 1 ± tolerance */
	GM_VERDICT_FASTER, /* significant, and the CI lies beyond the band, on the better side */
	GM_VERDICT_SLOWER, /* significant, and the CI lies beyond the band, on the worse side */
	GM_VERDICT_INCONCLUSIVE, /* anything else (CI straddles the band, p ≥ alpha, no CI) */
};

const char *gm_verdict_name(enum gm_verdict v);

#define GM_VERDICT_ALPHA 0.05

/* The rule, on its own: ratio CI [lo, hi] of candidate/baseline medians, p-value, the
 * figure's better direction and the tolerance (0.05 for ±5 %). "faster" means better for
 * the figure (a lower latency, a higher throughput). NaN bounds give inconclusive. */
enum gm_verdict gm_verdict_decide(double lo, double hi, double p, enum gm_bench_better better,
                                  double tolerance);

struct gm_bench_cmp_row {
	const char *name; /* points into the baseline result */
	const char *unit;
	enum gm_bench_better better;
	size_t n_base, n_cand;
	double base_median, cand_median;
	double ratio, lo, hi; /* candidate / baseline, 95 % bootstrap CI */
	double p;             /* Mann–Whitney, two-sided */
	enum gm_verdict verdict;
};

struct gm_bench_cmp {
	struct gm_bench_cmp_row *rows;
	size_t n_rows;
	double tolerance;
	size_t n_slower, n_faster;
	/* figures only one side has (names point into the results) */
	const char **only_base, **only_cand;
	size_t n_only_base, n_only_cand;
};

void gm_bench_cmp_init(struct gm_bench_cmp *c);
void gm_bench_cmp_release(struct gm_bench_cmp *c);

/* Compares every figure with samples on both sides (in the baseline's order), with
 * GM_BOOTSTRAP_RESAMPLES resamples seeded with GM_BOOTSTRAP_SEED. The results must outlive
 * c. Figures whose units or directions differ are GM_ERR_USAGE. */
enum gm_rc gm_bench_compare(const struct gm_bench_result *base, const struct gm_bench_result *cand,
                            double tolerance, struct gm_bench_cmp *c, struct gm_err *err);

/* The comparison as JSON (gpumigrate.bench-compare/v1, doc/formats.md). */
void gm_bench_cmp_to_json(const struct gm_bench_cmp *c, const char *base_path,
                          const char *cand_path, struct gm_buf *out, bool pretty);

#endif

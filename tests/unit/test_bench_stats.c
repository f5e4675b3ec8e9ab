/* Unit tests for bench/stats: quantiles, moments, the latency histogram, the SplitMix64
 * stream, the bootstrap CI of a ratio of medians and the Mann–Whitney test. Expected values
 * were computed independently with Python 3.11's standard library (statistics.quantiles
 * with method="inclusive", statistics.mean/stdev/median, math.erfc) and a Python
 * re-implementation of the documented bootstrap: tests/unit/bench_stats_expected.py prints
 * every number used here. SplitMix64's seed-0 stream is the published reference output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/stats.h"
#include "util/banned.h"

#define assert_near(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static const double X[] = {3.1, 1.2, 5.5, 2.2, 4.8, 9.0, 7.7, 6.1, 0.4, 8.3};
#define NX (sizeof(X) / sizeof(X[0]))

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_quantiles(void **state)
{
	(void)state;
	double s[NX];
	memcpy(s, X, sizeof(s));
	qsort(s, NX, sizeof(double), cmp);
	/* statistics.quantiles(X, n=4, method="inclusive") == [2.425, 5.15, 7.3];
	 * n=10 → last cut 8.37; type 7 by hand: p99 h=8.91 → 8.3+0.91·0.7 = 8.937,
	 * p99.9 h=8.991 → 8.9937 */
	assert_near(gm_stats_quantile_sorted(s, NX, 0.25), 2.425, 1e-12);
	assert_near(gm_stats_quantile_sorted(s, NX, 0.5), 5.15, 1e-12);
	assert_near(gm_stats_quantile_sorted(s, NX, 0.75), 7.3, 1e-12);
	assert_near(gm_stats_quantile_sorted(s, NX, 0.9), 8.37, 1e-12);
	assert_near(gm_stats_quantile_sorted(s, NX, 0.99), 8.937, 1e-12);
	assert_near(gm_stats_quantile_sorted(s, NX, 0.999), 8.9937, 1e-12);
	assert_near(gm_stats_quantile_sorted(s, NX, 0), 0.4, 0);
	assert_near(gm_stats_quantile_sorted(s, NX, 1), 9.0, 0);
	assert_near(gm_stats_quantile_sorted(s, 1, 0.9), 0.4, 0);
	assert_true(isnan(gm_stats_quantile_sorted(s, 0, 0.5)));

	/* statistics.median(X) = 5.15; odd count: median of the first 9 = 4.8 */
	assert_near(gm_stats_median(X, NX), 5.15, 1e-12);
	assert_near(gm_stats_median(X, 9), 4.8, 0);
	assert_true(isnan(gm_stats_median(X, 0)));
	assert_near(X[0], 3.1, 0); /* input untouched */

	double mean, sd;
	gm_stats_mean_stddev(X, NX, &mean, &sd);
	assert_near(mean, 4.83, 1e-12);             /* statistics.mean */
	assert_near(sd, 3.0265675461008814, 1e-12); /* statistics.stdev */
	gm_stats_mean_stddev(X, 1, &mean, &sd);
	assert_near(mean, 3.1, 0);
	assert_near(sd, 0, 0);

	struct gm_stats_summary su;
	gm_stats_summarize(X, NX, &su);
	assert_int_equal(su.n, NX);
	assert_near(su.min, 0.4, 0);
	assert_near(su.max, 9.0, 0);
	assert_near(su.p50, 5.15, 1e-12);
	assert_near(su.p90, 8.37, 1e-12);
	assert_near(su.p99, 8.937, 1e-12);
	assert_near(su.p999, 8.9937, 1e-12);
	assert_near(su.mean, 4.83, 1e-12);
	gm_stats_summarize(X, 0, &su);
	assert_int_equal(su.n, 0);
	assert_true(isnan(su.p50));
}

/* The selection-based median agrees with sorting on many random arrays, ties included. */
static void test_median_matches_sort(void **state)
{
	(void)state;
	struct gm_rng r;
	gm_rng_seed(&r, 7);
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + gm_rng_below(&r, 60);
		double a[64], s[64];
		for (size_t i = 0; i < n; i++)
			a[i] = (double)gm_rng_below(&r, round % 2 ? 5 : 1000);
		memcpy(s, a, n * sizeof(double));
		qsort(s, n, sizeof(double), cmp);
		double want = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
		assert_near(gm_stats_median(a, n), want, 1e-12);
	}
}

static void test_hist(void **state)
{
	(void)state;
	struct gm_hist *h = malloc(sizeof(*h)), *h2 = malloc(sizeof(*h2));
	gm_hist_init(h);
	assert_true(isnan(gm_hist_quantile(h, 0.5)));
	/* 1 µs, 2 µs … 1000 µs: nearest rank p50 = 500 µs, p90 = 900 µs, p99 = 990 µs */
	for (int i = 1; i <= 1000; i++)
		gm_hist_record(h, i * 1e-6);
	assert_int_equal(h->total, 1000);
	assert_near(gm_hist_quantile(h, 0.5), 500e-6, 500e-6 * 0.004);
	assert_near(gm_hist_quantile(h, 0.9), 900e-6, 900e-6 * 0.004);
	assert_near(gm_hist_quantile(h, 0.99), 990e-6, 990e-6 * 0.004);
	assert_near(gm_hist_quantile(h, 1.0), 1000e-6, 0); /* clamped to the exact max */
	assert_near(gm_hist_quantile(h, 0.0), 1e-6, 1e-6 * 0.004);
	struct gm_stats_summary s;
	gm_hist_summarize(h, &s);
	assert_int_equal(s.n, 1000);
	assert_near(s.mean, 500.5e-6, 1e-12);
	assert_near(s.min, 1e-6, 1e-15);
	assert_near(s.max, 1e-3, 1e-15);
	/* population stddev of 1…1000 µs: sqrt((1000²−1)/12) µs */
	assert_near(s.stddev, sqrt((1e6 - 1) / 12) * 1e-6, 1e-9);

	/* the relative error stays below 0.4 % anywhere from 1 µs to 100 s */
	for (double v = 1e-6; v <= 100; v *= 1.37) {
		gm_hist_init(h2);
		gm_hist_record(h2, v);
		gm_hist_record(h2, v * 1.001); /* so the clamp to min/max does not hide errors */
		gm_hist_record(h2, v * 0.999);
		double got = gm_hist_quantile(h2, 0.5);
		assert_true(fabs(got - v) / v < 0.0045);
	}
	/* beyond the range: counted, and max stays exact */
	gm_hist_init(h2);
	gm_hist_record(h2, 500.0);
	assert_int_equal(h2->total, 1);
	assert_near(gm_hist_quantile(h2, 0.5), 500.0, 0);

	/* merge: 1000 values + 1000 values of 2 ms → p50 at the top of the first set */
	gm_hist_init(h2);
	for (int i = 0; i < 1000; i++)
		gm_hist_record(h2, 2e-3);
	gm_hist_merge(h, h2);
	assert_int_equal(h->total, 2000);
	assert_near(gm_hist_quantile(h, 0.5), 1000e-6, 1000e-6 * 0.004);
	assert_near(gm_hist_quantile(h, 0.75), 2e-3, 2e-3 * 0.004);
	assert_near(h->max_ns, 2000000, 0);
	assert_near(h->min_ns, 1000, 0);
	free(h2);
	free(h);
}

static void test_rng(void **state)
{
	(void)state;
	struct gm_rng r;
	/* SplitMix64 reference stream for seed 0 */
	gm_rng_seed(&r, 0);
	assert_true(gm_rng_next(&r) == 0xe220a8397b1dcdafULL);
	assert_true(gm_rng_next(&r) == 0x6e789e6aa1b965f4ULL);
	assert_true(gm_rng_next(&r) == 0x06c45d188009454fULL);
	gm_rng_seed(&r, 42); /* Python: 0xbdd732262feb6e95 … */
	assert_true(gm_rng_next(&r) == 0xbdd732262feb6e95ULL);
	for (int i = 0; i < 1000; i++)
		assert_true(gm_rng_below(&r, 7) < 7);
}

static const double E[] = {10.2, 11.5, 9.8, 10.9, 10.1, 10.4, 10.7, 9.9};
static const double F[] = {11.0, 12.1, 11.6, 10.8, 11.9, 12.4, 11.2, 11.7, 12.0};

static void test_bootstrap(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	double ratio, lo, hi;
	/* Python re-implementation (2000 resamples, seed 0x9e3779b97f4a7c15, base drawn
	 * first): ratio 1.1359223300970873, CI 1.0467289719626167 … 1.1959798994974875 */
	assert_int_equal(gm_stats_ratio_ci(E, 8, F, 9, 2000, 0.95, GM_BOOTSTRAP_SEED, &ratio, &lo,
	                                   &hi, &err),
	                 GM_OK);
	assert_near(ratio, 1.1359223300970873, 1e-12);
	assert_near(lo, 1.0467289719626167, 1e-12);
	assert_near(hi, 1.1959798994974875, 1e-12);
	/* deterministic: the same call gives the same interval */
	double lo2, hi2;
	gm_stats_ratio_ci(E, 8, F, 9, 2000, 0.95, GM_BOOTSTRAP_SEED, &ratio, &lo2, &hi2, &err);
	assert_true(lo2 == lo && hi2 == hi);
	/* constant samples: every resample has the same ratio */
	const double two[] = {2, 2, 2}, three[] = {3, 3};
	gm_stats_ratio_ci(two, 3, three, 2, 100, 0.95, 1, &ratio, &lo, &hi, &err);
	assert_near(ratio, 1.5, 0);
	assert_near(lo, 1.5, 0);
	assert_near(hi, 1.5, 0);
	/* a zero median makes the ratio undefined, not infinite */
	const double zero[] = {0, 0, 1};
	gm_stats_ratio_ci(zero, 3, three, 2, 100, 0.95, 1, &ratio, &lo, &hi, &err);
	assert_true(isnan(ratio) && isnan(lo) && isnan(hi));
	assert_int_equal(gm_stats_ratio_ci(E, 0, F, 9, 100, 0.95, 1, &ratio, &lo, &hi, &err),
	                 GM_ERR_USAGE);
	gm_err_release(&err);
}

static void test_mann_whitney(void **state)
{
	(void)state;
	double u;
	/* fully separated 5 vs 5: U = 0, σ² = 25/12·11, z = 12/σ → p = 0.012185780355344818
	 * (the same as scipy.stats.mannwhitneyu(method="asymptotic") gives for this case) */
	const double a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8, 9, 10};
	assert_near(gm_stats_mann_whitney(a, 5, b, 5, &u), 0.012185780355344818, 1e-12);
	assert_near(u, 0, 0);
	/* symmetric: the other way round U = 25, same p */
	assert_near(gm_stats_mann_whitney(b, 5, a, 5, &u), 0.012185780355344818, 1e-12);
	assert_near(u, 25, 0);
	/* ties (tie correction): U = 3.5, p = 0.012999854364387314 */
	const double c[] = {1, 2, 2, 3, 3, 3, 4}, d[] = {3, 4, 4, 5, 5, 6};
	assert_near(gm_stats_mann_whitney(c, 7, d, 6, &u), 0.012999854364387314, 1e-12);
	assert_near(u, 3.5, 0);
	/* E vs F: U = 4, p = 0.0024367348089890154 */
	assert_near(gm_stats_mann_whitney(E, 8, F, 9, &u), 0.0024367348089890154, 1e-12);
	assert_near(u, 4, 0);
	/* identical samples: no evidence, p = 1 */
	assert_near(gm_stats_mann_whitney(a, 5, a, 5, &u), 1.0, 0);
	const double same[] = {7, 7, 7};
	assert_near(gm_stats_mann_whitney(same, 3, same, 3, &u), 1.0, 0);
	assert_true(isnan(gm_stats_mann_whitney(a, 0, b, 5, &u)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_quantiles), cmocka_unit_test(test_median_matches_sort),
	        cmocka_unit_test(test_hist),      cmocka_unit_test(test_rng),
	        cmocka_unit_test(test_bootstrap), cmocka_unit_test(test_mann_whitney),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

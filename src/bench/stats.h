/* Statistics for bench results: order statistics and moments of a sample, a log-linear
 * latency histogram with bounded relative error (HdrHistogram-like), a bootstrap confidence
 * interval for the ratio of two medians, and the Mann–Whitney U test. `bench compare` uses
 * them to tell a real difference between two environments from noise. */
#ifndef GM_BENCH_STATS_H
#define GM_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The q-quantile (0 ≤ q ≤ 1) of n ascending values by linear interpolation between the
 * closest ranks: h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). This is Hyndman &
 * Fan's type 7, the default of R, NumPy and Excel's PERCENTILE.INC, and Python's
 * statistics.quantiles(method="inclusive") at its cut points. NaN for n == 0. */
double gm_stats_quantile_sorted(const double *sorted, size_t n, double q);

/* Median of n values in any order (x is not changed); NaN for n == 0. */
double gm_stats_median(const double *x, size_t n);

/* Arithmetic mean and sample standard deviation (n − 1 in the denominator; 0 for n == 1),
 * by Welford's update. NaN for n == 0. */
void gm_stats_mean_stddev(const double *x, size_t n, double *mean, double *stddev);

/* The summary every bench figure carries. Percentiles as gm_stats_quantile_sorted. */
struct gm_stats_summary {
	uint64_t n;
	double min, max, mean, stddev;
	double p50, p90, p99, p999; /* p50 is the median */
};

/* Summarises n values (x is not changed). n == 0 gives n = 0 and NaN everywhere. */
void gm_stats_summarize(const double *x, size_t n, struct gm_stats_summary *s);

/* A log-linear histogram of durations: values are recorded in whole nanoseconds; below
 * 256 ns each nanosecond has its own bucket, above it every power of two is split into 128
 * equal buckets, so a bucket is at most 1/128 of its lower bound wide and the reported
 * value (the bucket's midpoint, clamped to the exact min and max) is within 0.4 % of any
 * value recorded in it. The range ends at GM_HIST_MAX_NS (about 137 s); larger values are
 * counted in the last bucket (and in max exactly). Fixed memory (32 KiB), no allocation. */
#define GM_HIST_SUB_BITS 8 /* 2^8 = 256 sub-buckets, the upper half new per power of two */
#define GM_HIST_BUCKETS  4096
#define GM_HIST_MAX_NS   ((uint64_t)1 << 37)

struct gm_hist {
	uint64_t counts[GM_HIST_BUCKETS];
	uint64_t total;
	uint64_t min_ns, max_ns; /* exact; min_ns is UINT64_MAX while empty */
	double sum_ns;
	double sumsq_ns;
};

void gm_hist_init(struct gm_hist *h);
/* Records one duration in seconds (negative values count as 0). */
void gm_hist_record(struct gm_hist *h, double seconds);
void gm_hist_record_ns(struct gm_hist *h, uint64_t ns);
/* Adds every count of src into dst (histograms of two threads, two runs). */
void gm_hist_merge(struct gm_hist *dst, const struct gm_hist *src);
/* The value at quantile q (0 ≤ q ≤ 1) in seconds: the recorded value of rank ⌈q·n⌉
 * (nearest rank, at least 1) within the bucket error above. NaN when empty. */
double gm_hist_quantile(const struct gm_hist *h, double q);
/* n, min, max, mean, stddev (population) and the percentiles of the recorded values, in
 * seconds. */
void gm_hist_summarize(const struct gm_hist *h, struct gm_stats_summary *s);

/* A small deterministic PRNG (SplitMix64, Steele, Lea & Flood 2014): the same seed gives
 * the same stream everywhere, so bootstrap intervals are reproducible. */
struct gm_rng {
	uint64_t state;
};
void gm_rng_seed(struct gm_rng *r, uint64_t seed);
uint64_t gm_rng_next(struct gm_rng *r);
/* Uniform integer in [0, n): the high 64 bits of next() · n (Lemire's multiply-shift;
 * the bias is below n / 2^64). */
uint64_t gm_rng_below(struct gm_rng *r, uint64_t n);

#define GM_BOOTSTRAP_RESAMPLES 2000
#define GM_BOOTSTRAP_SEED      0x9e3779b97f4a7c15ULL

/* The ratio median(cand) / median(base) with a percentile-bootstrap confidence interval at
 * level conf (0.95): resamples times, draw nb values of base and nc values of cand with
 * replacement (base first, then cand, each index gm_rng_below(n) from one stream seeded
 * with seed), take the ratio of their medians; lo and hi are the (1 − conf)/2 and
 * (1 + conf)/2 quantiles of those ratios (gm_stats_quantile_sorted). GM_ERR_USAGE when a side
 * is empty or resamples is 0; the ratio and bounds are NaN when a median is 0 (or resamples
 * hit one). */
enum gm_rc gm_stats_ratio_ci(const double *base, size_t nb, const double *cand, size_t nc,
                             unsigned resamples, double conf, uint64_t seed, double *ratio,
                             double *lo, double *hi, struct gm_err *err);

/* Two-sided Mann–Whitney U test (Wilcoxon rank-sum) of x against y: U = R_x − nx(nx+1)/2
 * with average ranks for ties; normal approximation with the tie correction of the
 * variance, σ² = nx·ny/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1))), and a continuity correction of
 * 0.5: z = max(0, |U − nx·ny/2| − 0.5)/σ, p = erfc(z/√2). *u gets U (may be NULL). p is 1
 * when every value ties (σ = 0) and NaN when a side is empty. */
double gm_stats_mann_whitney(const double *x, size_t nx, const double *y, size_t ny, double *u);

#endif

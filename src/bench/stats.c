/* The statistics behind bench results and `bench compare` (see stats.h for the definitions
 * each function uses; the unit tests hold values computed independently). */
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double gm_stats_quantile_sorted(const double *sorted, size_t n, double q)
{
	if (n == 0)
		return NAN;
	if (q <= 0)
		return sorted[0];
	if (q >= 1)
		return sorted[n - 1];
	double h = (double)(n - 1) * q;
	size_t i = (size_t)floor(h);
	if (i + 1 >= n)
		return sorted[n - 1];
	return sorted[i] + (h - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* Rearranges a[0..n) so that a[k] is the k-th smallest (Hoare's selection, median of three). */
static double select_kth(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] < a[lo]) {
			double t = a[mid];
			a[mid] = a[lo], a[lo] = t;
		}
		if (a[hi] < a[lo]) {
			double t = a[hi];
			a[hi] = a[lo], a[lo] = t;
		}
		if (a[hi] < a[mid]) {
			double t = a[hi];
			a[hi] = a[mid], a[mid] = t;
		}
		double pivot = a[mid];
		size_t i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				double t = a[i];
				a[i] = a[j], a[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return a[k];
	}
	return a[k];
}

/* Median of a scratch array (reordered). */
static double median_inplace(double *a, size_t n)
{
	if (n == 0)
		return NAN;
	size_t k = (n - 1) / 2;
	double m = select_kth(a, n, k);
	if (n % 2)
		return m;
	/* even: the next order statistic is the smallest value above position k */
	double next = a[k + 1];
	for (size_t i = k + 2; i < n; i++)
		if (a[i] < next)
			next = a[i];
	return m + 0.5 * (next - m);
}

double gm_stats_median(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	double *a = gm_xmalloc(n * sizeof(*a));
	memcpy(a, x, n * sizeof(*a));
	double m = median_inplace(a, n);
	free(a);
	return m;
}

void gm_stats_mean_stddev(const double *x, size_t n, double *mean, double *stddev)
{
	double m = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		double d = x[i] - m;
		m += d / (double)(i + 1);
		s += d * (x[i] - m);
	}
	*mean = n ? m : NAN;
	*stddev = n == 0 ? NAN : n == 1 ? 0 : sqrt(s / (double)(n - 1));
}

void gm_stats_summarize(const double *x, size_t n, struct gm_stats_summary *s)
{
	s->n = n;
	if (n == 0) {
		s->min = s->max = s->mean = s->stddev = NAN;
		s->p50 = s->p90 = s->p99 = s->p999 = NAN;
		return;
	}
	double *a = gm_xmalloc(n * sizeof(*a));
	memcpy(a, x, n * sizeof(*a));
	qsort(a, n, sizeof(*a), cmp_double);
	s->min = a[0];
	s->max = a[n - 1];
	s->p50 = gm_stats_quantile_sorted(a, n, 0.5);
	s->p90 = gm_stats_quantile_sorted(a, n, 0.9);
	s->p99 = gm_stats_quantile_sorted(a, n, 0.99);
	s->p999 = gm_stats_quantile_sorted(a, n, 0.999);
	gm_stats_mean_stddev(x, n, &s->mean, &s->stddev);
	free(a);
}

/* ---- histogram ---- */

#define SUB_COUNT ((uint64_t)1 << GM_HIST_SUB_BITS)
#define HALF      (SUB_COUNT / 2)

static size_t hist_index(uint64_t v)
{
	if (v >= GM_HIST_MAX_NS)
		v = GM_HIST_MAX_NS - 1;
	if (v < SUB_COUNT)
		return (size_t)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (GM_HIST_SUB_BITS - 1);
	uint64_t sub = v >> shift; /* HALF … SUB_COUNT − 1 */
	return (size_t)(SUB_COUNT + (shift - 1) * HALF + (sub - HALF));
}

/* The midpoint of bucket i, in nanoseconds. */
static double hist_mid(size_t i)
{
	if (i < SUB_COUNT)
		return (double)i;
	size_t j = i - SUB_COUNT;
	unsigned shift = (unsigned)(j / HALF) + 1;
	uint64_t lo = (HALF + j % HALF) << shift, width = (uint64_t)1 << shift;
	return (double)lo + (double)(width - 1) / 2.0;
}

void gm_hist_init(struct gm_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

void gm_hist_record_ns(struct gm_hist *h, uint64_t ns)
{
	h->counts[hist_index(ns)]++;
	h->total++;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->sum_ns += (double)ns;
	h->sumsq_ns += (double)ns * (double)ns;
}

void gm_hist_record(struct gm_hist *h, double seconds)
{
	double ns = seconds > 0 ? seconds * 1e9 + 0.5 : 0;
	gm_hist_record_ns(h, ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns);
}

void gm_hist_merge(struct gm_hist *dst, const struct gm_hist *src)
{
	for (size_t i = 0; i < GM_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	dst->sum_ns += src->sum_ns;
	dst->sumsq_ns += src->sumsq_ns;
}

double gm_hist_quantile(const struct gm_hist *h, double q)
{
	if (h->total == 0)
		return NAN;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	uint64_t rank = (uint64_t)ceil(q * (double)h->total);
	if (rank < 1)
		rank = 1;
	if (rank > h->total)
		rank = h->total;
	uint64_t seen = 0;
	for (size_t i = 0; i < GM_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			double v = hist_mid(i);
			if (v < (double)h->min_ns)
				v = (double)h->min_ns;
			if (v > (double)h->max_ns)
				v = (double)h->max_ns;
			return v / 1e9;
		}
	}
	return (double)h->max_ns / 1e9;
}

void gm_hist_summarize(const struct gm_hist *h, struct gm_stats_summary *s)
{
	s->n = h->total;
	if (h->total == 0) {
		s->min = s->max = s->mean = s->stddev = NAN;
		s->p50 = s->p90 = s->p99 = s->p999 = NAN;
		return;
	}
	double n = (double)h->total, mean = h->sum_ns / n;
	double var = h->sumsq_ns / n - mean * mean;
	s->min = (double)h->min_ns / 1e9;
	s->max = (double)h->max_ns / 1e9;
	s->mean = mean / 1e9;
	s->stddev = var > 0 ? sqrt(var) / 1e9 : 0;
	s->p50 = gm_hist_quantile(h, 0.5);
	s->p90 = gm_hist_quantile(h, 0.9);
	s->p99 = gm_hist_quantile(h, 0.99);
	s->p999 = gm_hist_quantile(h, 0.999);
}

/* ---- bootstrap ---- */

void gm_rng_seed(struct gm_rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t gm_rng_next(struct gm_rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t gm_rng_below(struct gm_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)gm_rng_next(r) * n) >> 64);
}

enum gm_rc gm_stats_ratio_ci(const double *base, size_t nb, const double *cand, size_t nc,
                             unsigned resamples, double conf, uint64_t seed, double *ratio,
                             double *lo, double *hi, struct gm_err *err)
{
	*ratio = *lo = *hi = NAN;
	if (nb == 0 || nc == 0)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "a ratio of medians needs samples on both sides");
	if (resamples == 0 || !(conf > 0 && conf < 1))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "the bootstrap needs resamples and 0 < conf < 1");
	double mb = gm_stats_median(base, nb), mc = gm_stats_median(cand, nc);
	*ratio = mb != 0 ? mc / mb : NAN;
	double *sb = gm_xmalloc(nb * sizeof(*sb)), *sc = gm_xmalloc(nc * sizeof(*sc));
	double *r = gm_xmalloc(resamples * sizeof(*r));
	struct gm_rng rng;
	gm_rng_seed(&rng, seed);
	bool undefined = false;
	for (unsigned k = 0; k < resamples; k++) {
		for (size_t i = 0; i < nb; i++)
			sb[i] = base[gm_rng_below(&rng, nb)];
		for (size_t i = 0; i < nc; i++)
			sc[i] = cand[gm_rng_below(&rng, nc)];
		double b = median_inplace(sb, nb), c = median_inplace(sc, nc);
		if (b == 0)
			undefined = true;
		r[k] = b != 0 ? c / b : 0;
	}
	if (!undefined && !isnan(*ratio)) {
		qsort(r, resamples, sizeof(*r), cmp_double);
		*lo = gm_stats_quantile_sorted(r, resamples, (1 - conf) / 2);
		*hi = gm_stats_quantile_sorted(r, resamples, (1 + conf) / 2);
	}
	free(r);
	free(sc);
	free(sb);
	return GM_OK;
}

/* ---- Mann–Whitney ---- */

struct tagged {
	double v;
	int group; /* 0: x, 1: y */
};

static int cmp_tagged(const void *a, const void *b)
{
	return cmp_double(&((const struct tagged *)a)->v, &((const struct tagged *)b)->v);
}

double gm_stats_mann_whitney(const double *x, size_t nx, const double *y, size_t ny, double *u)
{
	if (u)
		*u = NAN;
	if (nx == 0 || ny == 0)
		return NAN;
	size_t n = nx + ny;
	struct tagged *a = gm_xmalloc(n * sizeof(*a));
	for (size_t i = 0; i < nx; i++)
		a[i] = (struct tagged){x[i], 0};
	for (size_t i = 0; i < ny; i++)
		a[nx + i] = (struct tagged){y[i], 1};
	qsort(a, n, sizeof(*a), cmp_tagged);
	double rank_x = 0, ties = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && a[j].v == a[i].v)
			j++;
		double t = (double)(j - i), avg = ((double)i + 1 + (double)j) / 2.0;
		for (size_t k = i; k < j; k++)
			if (a[k].group == 0)
				rank_x += avg;
		ties += t * t * t - t;
		i = j;
	}
	free(a);
	double dnx = (double)nx, dny = (double)ny, dn = (double)n;
	double U = rank_x - dnx * (dnx + 1) / 2;
	if (u)
		*u = U;
	double var = dnx * dny / 12.0 * ((dn + 1) - (n > 1 ? ties / (dn * (dn - 1)) : 0));
	if (!(var > 0))
		return 1.0;
	double d = fabs(U - dnx * dny / 2) - 0.5;
	if (d < 0)
		d = 0;
	double z = d / sqrt(var);
	double p = erfc(z / sqrt(2.0));
	return p > 1 ? 1 : p;
}

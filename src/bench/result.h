/* The bench result document (gpumigrate.bench/v1, doc/formats.md): what one `gpumigrate
 * bench …` run measured — named figures with their samples and summary — together with
 * when, where (host name and the machine's inventory) and how it was measured, so that
 * `bench compare` can put two environments side by side and `compare` can use GPU figures. */
#ifndef GM_BENCH_RESULT_H
#define GM_BENCH_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/stats.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_BENCH_RESULT_SCHEMA "gpumigrate.bench/v1"

/* Caps for reading untrusted result files. */
#define GM_BENCH_MAX_FIGURES  256
#define GM_BENCH_MAX_SAMPLES  1000000
#define GM_BENCH_MAX_COUNTERS 256
#define GM_BENCH_MAX_RAW      16

enum gm_bench_better { GM_BETTER_LOWER = 0, GM_BETTER_HIGHER };

/* "lower" / "higher"; parse returns false for anything else. */
const char *gm_bench_better_name(enum gm_bench_better b);
bool gm_bench_better_parse(const char *s, enum gm_bench_better *out);

/* One named measurement: its unit ("s", "B/s", "GB/s", "TFLOPS", "" …), which direction is
 * better, the samples (each run, each request …) and their summary. The summary may cover
 * more values than the samples hold (bench http keeps a fixed-size random subset of the
 * latencies but summarises all of them from its histogram): summary.n counts them all. */
struct gm_bench_figure {
	char *name;
	char *unit;
	enum gm_bench_better better;
	double *samples;
	size_t n_samples, cap_samples;
	struct gm_stats_summary summary;
};

/* A named integer (requests sent, errors by kind …). */
struct gm_bench_counter {
	char *name;
	int64_t value;
};

/* A member the result carries as ready JSON: "params" (how it was measured), and for kind
 * gpu the "gpu" and "results" members that `gpumigrate compare` reads. */
struct gm_bench_raw {
	char *key;
	struct gm_buf json;
};

struct gm_bench_result {
	char *kind;                       /* gpu, run, http or net */
	char *started;                    /* RFC 3339 UTC */
	char *host;                       /* host name */
	struct gm_bench_figure **figures; /* each allocated alone: pointers stay valid */
	size_t n_figures;
	struct gm_bench_counter *counters;
	size_t n_counters;
	struct gm_bench_raw raw[GM_BENCH_MAX_RAW];
	size_t n_raw;
	struct gm_buf inventory; /* gpumigrate.inventory/v1 JSON; empty: written as null */
};

void gm_bench_result_init(struct gm_bench_result *r);
void gm_bench_result_release(struct gm_bench_result *r);

/* Sets kind, started (now, UTC) and host (gethostname). */
void gm_bench_result_begin(struct gm_bench_result *r, const char *kind);

/* Adds a figure (name must be new; NULL when it is not) and returns it for samples; the
 * pointer stays valid until the result is released. */
struct gm_bench_figure *gm_bench_result_add_figure(struct gm_bench_result *r, const char *name,
                                                   const char *unit, enum gm_bench_better better);
struct gm_bench_figure *gm_bench_result_figure(const struct gm_bench_result *r, const char *name);
void gm_bench_figure_add_sample(struct gm_bench_figure *f, double v);
/* summary = gm_stats_summarize of the samples. */
void gm_bench_figure_summarize(struct gm_bench_figure *f);

/* Sets (adding or replacing) a counter. */
void gm_bench_result_set_counter(struct gm_bench_result *r, const char *name, int64_t value);
/* The counter's value, or -1 when absent. */
int64_t gm_bench_result_counter(const struct gm_bench_result *r, const char *name);

/* Adds (or replaces) a member written verbatim: json must be one valid JSON value. Keys
 * the document defines itself are refused (GM_ERR_USAGE), as is a 17th member. */
enum gm_rc gm_bench_result_set_raw(struct gm_bench_result *r, const char *key, const char *json,
                                   struct gm_err *err);

/* Collects this machine's inventory (src/hw; no NVML when skip_nvml) into r->inventory. */
enum gm_rc gm_bench_result_collect_inventory(struct gm_bench_result *r, bool skip_nvml,
                                             struct gm_err *err);

/* The document, keys in the order of doc/formats.md. */
void gm_bench_result_to_json(const struct gm_bench_result *r, struct gm_buf *out, bool pretty);

/* Reads a result document: schema, kind, started, host, figures and counters (raw members
 * and the inventory are not kept). A file without "figures" (a GPU-only result written for
 * `compare`) reads with no figures. Errors name file:line:col; caps as above. */
enum gm_rc gm_bench_result_load(struct gm_bench_result *r, const char *path, struct gm_err *err);
enum gm_rc gm_bench_result_parse(struct gm_bench_result *r, const char *name, const char *text,
                                 size_t len, struct gm_err *err);

#endif

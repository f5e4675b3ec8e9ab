/* `bench run`'s core: runs a user's command (a training step, a script) several times
 * without a shell and measures each run's wall time, or collects a per-step figure the
 * command prints (e.g. "step_time=0.125") with a regular expression. */
#ifndef GM_BENCH_RUNCMD_H
#define GM_BENCH_RUNCMD_H

#include <stdbool.h>
#include <stddef.h>

#include "bench/result.h"
#include "util/buf.h"
#include "util/err.h"

/* Output kept per run (stdout and stderr together); the rest is read and dropped. */
#define GM_RUNCMD_MAX_OUTPUT (16u << 20)

struct gm_runcmd_opts {
	char *const *argv;  /* the command: argv[0] is looked up in PATH (posix_spawnp) */
	unsigned runs;      /* measured runs (≥ 1) */
	unsigned warmup;    /* runs before, not recorded (still checked) */
	const char *metric; /* POSIX ERE whose first group is a number; NULL: wall time only */
	const char *name;   /* the metric's figure name (default "metric") */
	const char *unit;   /* its unit (default "") */
	enum gm_bench_better better;
};

/* Runs argv once with stdin from /dev/null and stdout+stderr into output (capped as above);
 * *wall_s is the CLOCK_MONOTONIC time from before the spawn to the child's exit; *status
 * is waitpid's status. GM_ERR_NOT_FOUND when the program cannot be started. */
enum gm_rc gm_runcmd_once(char *const *argv, struct gm_buf *output, double *wall_s, int *status,
                          struct gm_err *err);

/* Appends to values every number the regex's first group captures in text, left to right
 * (matches do not overlap). GM_ERR_PARSE when a capture is not a number. */
enum gm_rc gm_runcmd_extract(const char *pattern, const char *text, double **values, size_t *n,
                             struct gm_err *err);

/* Checks that pattern compiles as a POSIX ERE with at least one group (GM_ERR_USAGE). */
enum gm_rc gm_runcmd_check_regex(const char *pattern, struct gm_err *err);

/* Does the warm-up and measured runs into r: figure "wall_time" (s, lower) with one sample
 * per run, and with a metric, figure <name> with every capture of every measured run. A
 * run that exits non-zero, dies of a signal, or (with a metric) prints no match fails the
 * whole benchmark: the error names the run ("warm-up run 1", "run 3 of 10") and the status,
 * and its last output lines. */
enum gm_rc gm_runcmd_bench(const struct gm_runcmd_opts *o, struct gm_bench_result *r,
                           struct gm_err *err);

#endif

/* Running a command for `bench run` (see runcmd.h): posix_spawnp with no shell, output
 * through one pipe, wall time on CLOCK_MONOTONIC. */
#include "bench/runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"
#include "util/banned.h"

extern char **environ;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum gm_rc gm_runcmd_once(char *const *argv, struct gm_buf *output, double *wall_s, int *status,
                          struct gm_err *err)
{
	int fds[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	enum gm_rc rc = GM_OK;
	pid_t pid = -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return gm_err_errno(err, GM_ERR_IO, errno, "cannot create a pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	gm_buf_reset(output);
	double t0 = mono();
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (e != 0) {
		rc = gm_err_errno(err, e == ENOENT ? GM_ERR_NOT_FOUND : gm_rc_from_errno(e), e,
		                  "cannot run '%s'", argv[0]);
		goto out;
	}
	char chunk[65536];
	for (;;) {
		ssize_t got = read(fds[0], chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		size_t keep = (size_t)got;
		if (output->len + keep > GM_RUNCMD_MAX_OUTPUT)
			keep = GM_RUNCMD_MAX_OUTPUT - output->len;
		gm_buf_add(output, chunk, keep);
	}
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot wait for '%s'", argv[0]);
			goto out;
		}
	}
	*wall_s = mono() - t0;
out:
	close(fds[0]);
	return rc;
}

enum gm_rc gm_runcmd_check_regex(const char *pattern, struct gm_err *err)
{
	regex_t re;
	int e = regcomp(&re, pattern, REG_EXTENDED);
	if (e != 0) {
		char msg[256];
		regerror(e, &re, msg, sizeof(msg));
		return gm_err_set(err, GM_ERR_USAGE, "bad regular expression '%s': %s", pattern,
		                  msg);
	}
	size_t groups = re.re_nsub;
	regfree(&re);
	if (groups < 1)
		return gm_err_set(
		        err, GM_ERR_USAGE,
		        "the regular expression '%s' needs a group around the number, e.g. "
		        "'step_time=([0-9.]+)'",
		        pattern);
	return GM_OK;
}

enum gm_rc gm_runcmd_extract(const char *pattern, const char *text, double **values, size_t *n,
                             struct gm_err *err)
{
	regex_t re;
	enum gm_rc rc = gm_runcmd_check_regex(pattern, err);
	if (rc != GM_OK)
		return rc;
	regcomp(&re, pattern, REG_EXTENDED);
	regmatch_t m[2];
	const char *p = text;
	int flags = 0;
	while (*p && regexec(&re, p, 2, m, flags) == 0) {
		if (m[1].rm_so >= 0) {
			char *s = gm_xstrndup(p + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
			char *end = NULL;
			errno = 0;
			double v = strtod(s, &end);
			bool ok = *s && !*end && !errno && isfinite(v);
			if (!ok) {
				rc = gm_err_set(err, GM_ERR_PARSE,
				                "'%s' (captured by '%s') is not a number", s,
				                pattern);
				free(s);
				break;
			}
			free(s);
			*values = gm_xreallocarray(*values, *n + 1, sizeof(**values));
			(*values)[(*n)++] = v;
		}
		/* an empty match must still advance */
		p += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
		flags = REG_NOTBOL;
	}
	regfree(&re);
	return rc;
}

/* "exited with status 2" / "was killed by signal 9 (Killed)". */
static void describe_status(int status, struct gm_buf *out)
{
	if (WIFEXITED(status))
		gm_buf_addf(out, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		gm_buf_addf(out, "was killed by signal %d (%s)", WTERMSIG(status),
		            strsignal(WTERMSIG(status)));
	else
		gm_buf_addf(out, "ended with wait status %d", status);
}

/* The last few lines of a run's output, indented, for error messages. */
static void tail_lines(const struct gm_buf *output, struct gm_buf *out)
{
	const char *s = gm_buf_cstr(output);
	size_t len = strnlen(s, output->len);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	size_t start = len;
	for (int lines = 0; start > 0 && lines < 5; start--)
		if (s[start - 1] == '\n' && ++lines == 5)
			break;
	if (len == 0)
		return;
	gm_buf_adds(out, "; its last output:\n  ");
	for (size_t i = start; i < len; i++) {
		gm_buf_addch(out, s[i]);
		if (s[i] == '\n')
			gm_buf_adds(out, "  ");
	}
}

enum gm_rc gm_runcmd_bench(const struct gm_runcmd_opts *o, struct gm_bench_result *r,
                           struct gm_err *err)
{
	struct gm_buf output = GM_BUF_INIT, what = GM_BUF_INIT;
	double *vals = NULL;
	size_t n_vals = 0;
	enum gm_rc rc = GM_OK;
	if (!o->argv || !o->argv[0] || o->runs < 1)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "bench run needs a command and at least one run");
	if (o->metric && (rc = gm_runcmd_check_regex(o->metric, err)) != GM_OK)
		return rc;
	const char *name = o->name && *o->name ? o->name : "metric";
	struct gm_bench_figure *wall =
	        gm_bench_result_add_figure(r, "wall_time", "s", GM_BETTER_LOWER);
	struct gm_bench_figure *metric = NULL;
	if (!wall)
		return gm_err_set(err, GM_ERR_USAGE, "the result already has a wall_time figure");
	if (o->metric) {
		metric = gm_bench_result_add_figure(r, name, o->unit ? o->unit : "", o->better);
		if (!metric)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "the metric cannot be called '%s' (a figure of that name "
			                  "exists)",
			                  name);
	}
	unsigned total = o->warmup + o->runs;
	for (unsigned i = 0; i < total; i++) {
		bool warm = i < o->warmup;
		double wall_s = 0;
		int status = 0;
		gm_buf_reset(&what);
		if (warm)
			gm_buf_addf(&what, "warm-up run %u of %u", i + 1, o->warmup);
		else
			gm_buf_addf(&what, "run %u of %u", i - o->warmup + 1, o->runs);
		rc = gm_runcmd_once(o->argv, &output, &wall_s, &status, err);
		if (rc != GM_OK)
			goto out;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			struct gm_buf msg = GM_BUF_INIT;
			gm_buf_addf(&msg, "%s: '%s' ", gm_buf_cstr(&what), o->argv[0]);
			describe_status(status, &msg);
			tail_lines(&output, &msg);
			rc = gm_err_set(err, GM_ERR_IO, "%s", gm_buf_cstr(&msg));
			gm_buf_release(&msg);
			goto out;
		}
		if (o->metric) {
			size_t before = n_vals;
			rc = gm_runcmd_extract(o->metric, gm_buf_cstr(&output), &vals, &n_vals,
			                       err);
			if (rc != GM_OK) {
				struct gm_buf msg = GM_BUF_INIT;
				gm_buf_addf(&msg, "%s: %s", gm_buf_cstr(&what), gm_err_msg(err));
				gm_err_set(err, rc, "%s", gm_buf_cstr(&msg));
				gm_buf_release(&msg);
				goto out;
			}
			if (n_vals == before) {
				struct gm_buf msg = GM_BUF_INIT;
				gm_buf_addf(&msg, "%s: '%s' printed nothing that matches '%s'",
				            gm_buf_cstr(&what), o->argv[0], o->metric);
				tail_lines(&output, &msg);
				rc = gm_err_set(err, GM_ERR_PARSE, "%s", gm_buf_cstr(&msg));
				gm_buf_release(&msg);
				goto out;
			}
			if (warm)
				n_vals = before;
		}
		if (!warm)
			gm_bench_figure_add_sample(wall, wall_s);
	}
	gm_bench_figure_summarize(wall);
	if (metric) {
		for (size_t i = 0; i < n_vals; i++)
			gm_bench_figure_add_sample(metric, vals[i]);
		gm_bench_figure_summarize(metric);
	}
out:
	free(vals);
	gm_buf_release(&what);
	gm_buf_release(&output);
	return rc;
}

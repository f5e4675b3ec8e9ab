/* The careful runner of credential helpers and other small external programs (spawn.h),
 * moved here from the docker credential helper code so that every caller gets the same
 * deadline, output cap, process-group kill and silence about secrets; and the strict
 * command-line splitter for programs named in configuration files. */
#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

extern char **environ;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned gm_spawn_timeout_ms(const char *var, unsigned dflt)
{
	uint64_t v = 0;
	const char *s = var ? getenv(var) : NULL;
	if (s && gm_parse_u64(s, 10, &v) == GM_OK && v >= 1 && v <= 3600000)
		return (unsigned)v;
	return dflt;
}

void gm_spawn_status_text(int status, struct gm_buf *out)
{
	if (WIFEXITED(status))
		gm_buf_addf(out, "exit status %d", WEXITSTATUS(status));
	else
		gm_buf_addf(out, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Kills the program's process group (it may have started children of its own) and reaps
 * it. */
static void kill_reap(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Stops a program that ran past its deadline (*pid becomes -1); the error says it did not
 * do `did` (answer, exit) in time. */
static enum gm_rc overdue(pid_t *pid, const char *what, const char *did, unsigned limit,
                          struct gm_err *err)
{
	kill_reap(*pid);
	*pid = -1;
	return gm_err_set(err, GM_ERR_UNREACHABLE, "%s did not %s within %u ms; it was stopped",
	                  what, did, limit);
}

static enum gm_rc too_much(pid_t *pid, const char *what, size_t max, struct gm_err *err)
{
	kill_reap(*pid);
	*pid = -1;
	if (max >= 1024 && max % 1024 == 0)
		return gm_err_set(err, GM_ERR_LIMIT, "%s printed more than %zu KiB; it was stopped",
		                  what, max >> 10);
	return gm_err_set(err, GM_ERR_LIMIT, "%s printed more than %zu bytes; it was stopped", what,
	                  max);
}

static enum gm_rc spawn_failed(int e, const char *prog, const char *what, struct gm_err *err)
{
	if (e == ENOENT || e == ENOTDIR)
		return gm_err_set(err, GM_ERR_NOT_FOUND,
		                  strchr(prog, '/') ? "%s: '%s' does not exist"
		                                    : "%s: '%s' is not in $PATH",
		                  what, prog);
	if (e == EACCES || e == EPERM)
		return gm_err_set(err, GM_ERR_PERMISSION, "%s: '%s' is not an executable program",
		                  what, prog);
	return gm_err_errno(err, GM_ERR_IO, e, "cannot run %s", what);
}

enum gm_rc gm_spawn_capture(const char *const argv[], const char *stdin_data, unsigned timeout_ms,
                            size_t max_output, const char *what, struct gm_buf *out, int *status,
                            struct gm_err *err)
{
	int in[2] = {-1, -1}, from[2] = {-1, -1}, devnull = -1, null_in = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	pid_t pid = -1;
	enum gm_rc rc = GM_OK;
	char chunk[4096];
	size_t in_off = 0, in_len = stdin_data ? strlen(stdin_data) : 0;
	int64_t deadline = mono_ms() + timeout_ms;

	*status = 0;
	if (!argv || !argv[0] || !argv[0][0])
		return gm_err_set(err, GM_ERR_USAGE, "%s: no program to run", what);
	if (stdin_data) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
			return gm_err_errno(err, GM_ERR_IO, errno, "cannot run %s", what);
	} else if ((null_in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		return gm_err_errno(err, GM_ERR_IO, errno, "cannot run %s", what);
	}
	if (pipe2(from, O_CLOEXEC) != 0) {
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot run %s", what);
		goto out;
	}
	if (gm_log_get_level() < GM_LOG_INFO)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, stdin_data ? in[1] : null_in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, from[1], STDOUT_FILENO);
	if (devnull >= 0)
		posix_spawn_file_actions_adddup2(&fa, devnull, STDERR_FILENO);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE); /* the CLI ignores it; the program gets the default back */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                        POSIX_SPAWN_SETSIGDEF);
	int e = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (in[1] >= 0)
		close(in[1]);
	in[1] = -1;
	close(from[1]);
	from[1] = -1;
	if (devnull >= 0)
		close(devnull);
	if (null_in >= 0)
		close(null_in);
	null_in = -1;
	if (e != 0) {
		pid = -1;
		rc = spawn_failed(e, argv[0], what, err);
		goto out;
	}
	gm_debug("running %s", what);
	if (in[0] >= 0 && (in_len == 0 || fcntl(in[0], F_SETFL, O_NONBLOCK) != 0)) {
		close(in[0]); /* nothing to say (or no way to say it without blocking) */
		in[0] = -1;
	}

	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			rc = overdue(&pid, what, "answer", timeout_ms, err);
			goto out;
		}
		struct pollfd p[2] = {{.fd = from[0], .events = POLLIN},
		                      {.fd = in[0], .events = POLLOUT}};
		int r = poll(p, in[0] >= 0 ? 2 : 1, (int)(left < 1000 ? left : 1000));
		if (r == 0 || (r < 0 && errno == EINTR))
			continue;
		if (in[0] >= 0 && p[1].revents) {
			ssize_t w = send(in[0], stdin_data + in_off, in_len - in_off,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				in_off += (size_t)w;
			/* all said, or it closed stdin: what it prints tells */
			if ((w < 0 && errno != EINTR && errno != EAGAIN) || w == 0 ||
			    in_off == in_len) {
				close(in[0]);
				in[0] = -1;
			}
		}
		if (!p[0].revents)
			continue;
		ssize_t got = read(from[0], chunk, sizeof(chunk));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			break;
		if (out->len + (size_t)got > max_output) {
			rc = too_much(&pid, what, max_output, err);
			goto out;
		}
		gm_buf_add(out, chunk, (size_t)got);
	}
	if (in[0] >= 0) {
		close(in[0]);
		in[0] = -1;
	}
	/* stdout closed; it should be exiting: wait for that until the deadline */
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot wait for %s", what);
			pid = -1;
			goto out;
		}
		if (mono_ms() >= deadline) {
			rc = overdue(&pid, what, "exit", timeout_ms, err);
			goto out;
		}
		struct timespec ts = {0, 5000000L}; /* 5 ms */
		nanosleep(&ts, NULL);
	}
	pid = -1;
out:
	explicit_bzero(chunk, sizeof(chunk));
	if (pid > 0)
		kill_reap(pid);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (from[i] >= 0)
			close(from[i]);
	}
	if (null_in >= 0)
		close(null_in);
	return rc;
}

/* ---- splitting a command line ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void push_word(char ***v, size_t *n, size_t *cap, struct gm_buf *w)
{
	if (*n + 2 > *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*v = gm_xreallocarray(*v, *cap, sizeof **v);
	}
	(*v)[(*n)++] = gm_buf_detach(w);
	(*v)[*n] = NULL;
}

enum gm_rc gm_spawn_split(const char *line, char ***argv, size_t *argc, struct gm_err *err)
{
	struct gm_buf w = GM_BUF_INIT;
	char **v = NULL;
	size_t n = 0, cap = 0;
	bool in_word = false;
	enum gm_rc rc = GM_OK;

	*argv = NULL;
	*argc = 0;
	for (const char *p = line ? line : ""; *p; p++) {
		char c = *p;
		if (is_blank(c)) {
			if (in_word)
				push_word(&v, &n, &cap, &w);
			in_word = false;
			continue;
		}
		in_word = true;
		if (c == '\\') {
			if (!p[1]) {
				rc = gm_err_set(err, GM_ERR_PARSE,
				                "the command line ends with a lone backslash");
				goto out;
			}
			gm_buf_addch(&w, *++p);
		} else if (c == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (!end) {
				rc = gm_err_set(
				        err, GM_ERR_PARSE,
				        "the command line has a ' quote that is not closed");
				goto out;
			}
			gm_buf_add(&w, p + 1, (size_t)(end - p - 1));
			p = end;
		} else if (c == '"') {
			for (p++;; p++) {
				if (!*p) {
					rc = gm_err_set(
					        err, GM_ERR_PARSE,
					        "the command line has a \" quote that is not "
					        "closed");
					goto out;
				}
				if (*p == '"')
					break;
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				gm_buf_addch(&w, *p);
			}
		} else {
			gm_buf_addch(&w, c);
		}
	}
	if (in_word)
		push_word(&v, &n, &cap, &w);
	if (n == 0) {
		rc = gm_err_set(err, GM_ERR_PARSE, "the command line is empty");
		goto out;
	}
	*argv = v;
	*argc = n;
	v = NULL;
out:
	gm_spawn_argv_free(v);
	if (w.data)
		explicit_bzero(w.data, w.cap);
	gm_buf_release(&w);
	return rc;
}

void gm_spawn_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
	free(argv);
}

/* The SSH transport (ssh.h): starts the user's ssh once per stream, with the remote command
 * `gpumigrate sync --server --root PATH`, and hands the pipes to the remote endpoint
 * (remote.c). ssh's standard error goes to a memory file, so nothing can block on it and
 * its last line explains a failure: exit 255 is ssh's own (no route, refused, host key,
 * auth), exit 127 is a shell that found no gpumigrate. */
#include "sync/ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sync/remote.h"
#include "util/xalloc.h"

#include "util/banned.h"

extern char **environ;

enum { STREAMS_MAX = 64, PIPE_BYTES = 1 << 20 };

/* Connections when --streams is not given: each one costs an ssh and an sshd process doing
 * crypto, so one per two CPUs, from 1 to 4 (on 2 CPUs, 4 connections measured slower). */
static unsigned default_streams(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus > 1 ? (unsigned)(cpus / 2) : 1;
	return n > 4 ? 4 : n;
}

/* Bigger pipes to ssh mean fewer wakeups per MiB; best effort (the kernel may cap it). */
static void widen_pipe(int fd)
{
	(void)fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES);
}

struct kid {
	pid_t pid;
	int errfd;
	int status; /* once reaped */
	bool reaped;
};

struct kids {
	struct kid *v;
	size_t n;
};

/* Appends s to the remote command line as one shell word: '...' with ' as '\''. */
static void shell_quote(struct gm_buf *out, const char *s)
{
	gm_buf_addch(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			gm_buf_adds(out, "'\\''");
		else
			gm_buf_addch(out, *s);
	}
	gm_buf_addch(out, '\'');
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Waits up to ms for k to exit. */
static bool reap(struct kid *k, long ms)
{
	for (long waited = 0; !k->reaped; waited += 5) {
		pid_t p = waitpid(k->pid, &k->status, WNOHANG);
		if (p == k->pid || (p < 0 && errno != EINTR)) {
			k->reaped = true;
			break;
		}
		if (waited >= ms)
			return false;
		sleep_ms(5);
	}
	return true;
}

/* Reaps every child: a grace period to exit on its own (its input was closed), then
 * SIGTERM, then SIGKILL. */
static void reap_all(struct kids *ks, long grace_ms)
{
	for (size_t i = 0; i < ks->n; i++) {
		struct kid *k = &ks->v[i];
		if (k->pid <= 0 || reap(k, grace_ms))
			continue;
		kill(k->pid, SIGTERM);
		if (!reap(k, 2000)) {
			kill(k->pid, SIGKILL);
			reap(k, 60000);
		}
	}
}

static void kids_free(struct kids *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->v[i].errfd >= 0)
			close(ks->v[i].errfd);
	free(ks->v);
	free(ks);
}

static void on_close(void *ctx)
{
	struct kids *ks = ctx;
	reap_all(ks, 10000);
	kids_free(ks);
}

/* The last non-empty line ssh (or the remote shell) wrote to standard error. */
static void last_line(const struct kid *k, struct gm_buf *out)
{
	char buf[4096];
	off_t size = lseek(k->errfd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(k->errfd, buf, sizeof(buf) - 1, from);
	gm_buf_reset(out);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	char *start = memrchr(buf, '\n', (size_t)n);
	gm_buf_adds(out, start ? start + 1 : buf);
}

static bool err_mentions(const struct kid *k, const char *needle)
{
	char buf[8192];
	ssize_t n = pread(k->errfd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
}

/* Rewrites a failed connection's error with what ssh said. */
static void explain(struct kids *ks, const char *host, const char *bin, struct gm_err *err)
{
	struct gm_buf line = GM_BUF_INIT;
	reap_all(ks, 5000);
	for (size_t i = 0; i < ks->n; i++) {
		struct kid *k = &ks->v[i];
		int code = k->reaped && WIFEXITED(k->status) ? WEXITSTATUS(k->status) : -1;
		last_line(k, &line);
		if (code == 127 || err_mentions(k, "command not found") ||
		    (code == 126 && err_mentions(k, bin))) {
			gm_err_set(err, GM_ERR_UNREACHABLE,
			           "gpumigrate is not installed on '%s' (or not on its PATH): "
			           "install it "
			           "there (the same version, %s) or pass --remote-bin PATH (%s)",
			           host, GM_VERSION, gm_buf_cstr(&line));
			goto out;
		}
		if (code == 255) {
			gm_err_set(err, GM_ERR_UNREACHABLE, "cannot reach '%s' over ssh: %s", host,
			           line.len ? gm_buf_cstr(&line) : "ssh failed");
			goto out;
		}
	}
	for (size_t i = 0; i < ks->n; i++) {
		last_line(&ks->v[i], &line);
		if (line.len && err->rc == GM_ERR_UNREACHABLE) {
			struct gm_buf msg = GM_BUF_INIT;
			gm_buf_addf(&msg, "%s; ssh said: %s", gm_err_msg(err), gm_buf_cstr(&line));
			gm_err_set(err, err->rc, "%s", gm_buf_cstr(&msg));
			gm_buf_release(&msg);
			break;
		}
	}
out:
	gm_buf_release(&line);
}

/* ssh's argument vector: the user's command split on spaces, -T -x, the port, "--", the
 * destination and the remote command. */
static char **build_argv(const struct gm_sync_spec *spec, const char *ssh_command,
                         const char *remote_cmd, char **storage, size_t *ntok)
{
	size_t cap = 16, n = 0;
	char **argv = gm_xcalloc(cap, sizeof(*argv));
	char *s = gm_xstrdup(ssh_command);
	struct gm_buf dest = GM_BUF_INIT, port = GM_BUF_INIT;
	*storage = s;
	for (char *p = s; *p;) {
		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			break;
		if (n + 10 >= cap) {
			argv = gm_xreallocarray(argv, cap * 2, sizeof(*argv));
			cap *= 2;
		}
		argv[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
	argv = gm_xreallocarray(argv, n + 10, sizeof(*argv));
	*ntok = n;
	argv[n++] = gm_xstrdup("-T");
	argv[n++] = gm_xstrdup("-x");
	if (spec->port) {
		gm_buf_addf(&port, "%u", spec->port);
		argv[n++] = gm_xstrdup("-p");
		argv[n++] = gm_buf_detach(&port);
	}
	if (spec->user.len)
		gm_buf_addf(&dest, "%s@", gm_buf_cstr(&spec->user));
	gm_buf_adds(&dest, gm_buf_cstr(&spec->host));
	argv[n++] = gm_xstrdup("--");
	argv[n++] = gm_buf_detach(&dest);
	argv[n++] = gm_xstrdup(remote_cmd);
	argv[n] = NULL;
	return argv;
}

/* Frees what build_argv allocated (the first ntok words point into its storage). */
static void free_argv(char **argv, size_t ntok)
{
	if (!argv)
		return;
	for (size_t i = ntok; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

enum gm_rc gm_sync_ssh_open(const struct gm_sync_spec *spec, const struct gm_sync_open_opts *opts,
                            struct gm_sync_endpoint **out, struct gm_err *err)
{
	unsigned streams = opts->streams ? opts->streams : default_streams();
	const char *bin = opts->remote_bin && opts->remote_bin[0] ? opts->remote_bin : "gpumigrate";
	const char *ssh = opts->ssh_command && opts->ssh_command[0] ? opts->ssh_command : "ssh";
	struct gm_buf cmd = GM_BUF_INIT;
	struct kids *ks = gm_xcalloc(1, sizeof(*ks));
	int(*fds)[2] = NULL;
	char **argv = NULL, *storage = NULL;
	enum gm_rc rc = GM_OK;
	size_t started = 0, ntok = 0;

	*out = NULL;
	if (streams > STREAMS_MAX)
		streams = STREAMS_MAX;
	/* a vanished peer must be a write error, not a signal that kills us */
	signal(SIGPIPE, SIG_IGN);

	shell_quote(&cmd, bin);
	gm_buf_adds(&cmd, " sync --server --root ");
	shell_quote(&cmd, spec->path.len ? gm_buf_cstr(&spec->path) : ".");
	if (opts->writable)
		gm_buf_adds(&cmd, " --write");
	argv = build_argv(spec, ssh, gm_buf_cstr(&cmd), &storage, &ntok);
	if (!ntok) {
		rc = gm_err_set(err, GM_ERR_USAGE, "empty ssh command");
		goto out;
	}

	ks->v = gm_xcalloc(streams, sizeof(*ks->v));
	fds = gm_xcalloc(streams, sizeof(*fds));
	for (; started < streams; started++) {
		int to[2] = {-1, -1}, from[2] = {-1, -1};
		struct kid *k = &ks->v[started];
		posix_spawn_file_actions_t fa;
		k->errfd = memfd_create("ssh-stderr", MFD_CLOEXEC);
		if (k->errfd < 0 || pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC)) {
			rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot create pipes for ssh");
			if (to[0] >= 0) {
				close(to[0]);
				close(to[1]);
			}
			break;
		}
		widen_pipe(to[1]);
		widen_pipe(from[0]);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, to[0], 0);
		posix_spawn_file_actions_adddup2(&fa, from[1], 1);
		posix_spawn_file_actions_adddup2(&fa, k->errfd, 2);
		int e = posix_spawnp(&k->pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		close(to[0]);
		close(from[1]);
		fds[started][0] = from[0];
		fds[started][1] = to[1];
		if (e) {
			k->pid = 0;
			close(from[0]);
			close(to[1]);
			rc = gm_err_errno(err, GM_ERR_UNREACHABLE, e, "cannot run '%s'", argv[0]);
			break;
		}
		ks->n = started + 1;
	}
	if (rc) {
		for (size_t i = 0; i < started; i++) {
			close(fds[i][0]);
			close(fds[i][1]);
		}
		reap_all(ks, 0);
		goto out;
	}
	ks->n = streams;

	struct gm_sync_remote_opts ro = {0};
	ro.host = gm_buf_cstr(&spec->host);
	ro.writable = opts->writable;
	ro.create = opts->create;
	ro.compress = opts->compress;
	rc = gm_sync_remote_open((const int(*)[2])fds, streams, &ro, out, err);
	if (rc) {
		explain(ks, gm_buf_cstr(&spec->host), bin, err);
		goto out;
	}
	gm_sync_remote_on_close(*out, on_close, ks);
	ks = NULL;
out:
	if (ks) {
		reap_all(ks, 0);
		kids_free(ks);
	}
	free(fds);
	free_argv(argv, ntok);
	free(storage);
	gm_buf_release(&cmd);
	return rc;
}

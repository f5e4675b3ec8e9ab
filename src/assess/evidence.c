/* Reading the local evidence check needs beyond the inventory (see evidence.h): kernel log
 * tail, process names from /proc/PID/comm, listening sockets from /proc/net/tcp{,6}. */
#include "assess/evidence.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"
#include "util/banned.h"

#define KMSG_MAX  (4u << 20)
#define PROCS_MAX 100000
#define COMM_LEN  15 /* TASK_COMM_LEN - 1: longer names are cut */

void gm_evidence_init(struct gm_evidence *ev)
{
	memset(ev, 0, sizeof(*ev));
}

void gm_evidence_release(struct gm_evidence *ev)
{
	if (!ev)
		return;
	gm_fact_release(&ev->kernel_log);
	gm_buf_release(&ev->log_text);
	GM_FREE(ev->log_source);
	gm_fbool_release(&ev->persistenced);
	gm_fstr_release(&ev->time_sync);
	gm_fact_release(&ev->tcp);
	GM_FREE(ev->ports);
	ev->n_ports = 0;
}

static bool is_live(const struct gm_root *root)
{
	return !root || !root->dir || !*root->dir || strcmp(root->dir, "/") == 0;
}

/* Reads the last max bytes of a regular file. */
static enum gm_rc read_tail(const char *path, size_t max, struct gm_buf *out)
{
	enum gm_rc rc = GM_ERR_IO;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return errno == ENOENT ? GM_ERR_NOT_FOUND : GM_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	off_t start = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	size_t want = (size_t)(st.st_size - start);
	gm_buf_reset(out);
	gm_buf_grow(out, want);
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(fd, out->data + got, want - got, start + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out->len = got;
	out->data[got] = '\0';
	rc = GM_OK;
out:
	close(fd);
	return rc;
}

/* /dev/kmsg: one record per read(), "pri,seq,usec,flags;message\n", then continuation lines.
 * Non-blocking: the read that would wait ends the loop. */
static bool read_kmsg(struct gm_buf *out)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char rec[8192];
	if (fd < 0)
		return false;
	gm_buf_reset(out);
	while (out->len < KMSG_MAX) {
		ssize_t n = read(fd, rec, sizeof(rec));
		if (n < 0 && errno == EPIPE) /* record overwritten; continue with the next */
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		const char *semi = memchr(rec, ';', (size_t)n);
		const char *msg = semi ? semi + 1 : rec;
		const char *nl = memchr(msg, '\n', (size_t)(rec + n - msg));
		gm_buf_add(out, msg, (size_t)((nl ? nl : rec + n) - msg));
		gm_buf_addch(out, '\n');
	}
	close(fd);
	return true;
}

void gm_evidence_read_kernel_log(struct gm_evidence *ev, const struct gm_root *root)
{
	static const char *const files[] = {"/var/log/kern.log", "/var/log/messages",
	                                    "/var/log/dmesg", NULL};
	struct gm_buf path = GM_BUF_INIT;
	struct gm_buf tried = GM_BUF_INIT;
	for (const char *const *f = files; *f; f++) {
		gm_root_path(root, *f, &path);
		enum gm_rc rc = read_tail(gm_buf_cstr(&path), GM_EVIDENCE_LOG_MAX, &ev->log_text);
		if (rc == GM_OK) {
			ev->kernel_log.state = GM_FACT_OK;
			ev->log_source = gm_xstrdup(*f);
			goto out;
		}
		gm_buf_addf(&tried, "%s%s%s", tried.len ? ", " : "", *f,
		            rc == GM_ERR_NOT_FOUND ? "" : " (unreadable)");
	}
	if (is_live(root) && read_kmsg(&ev->log_text)) {
		ev->kernel_log.state = GM_FACT_OK;
		ev->log_source = gm_xstrdup("/dev/kmsg");
		goto out;
	}
	gm_buf_reset(&path);
	gm_buf_addf(&path, "no kernel log readable (tried %s%s)", gm_buf_cstr(&tried),
	            is_live(root) ? ", /dev/kmsg" : "");
	gm_buf_reset(&ev->log_text);
	gm_fact_fail(&ev->kernel_log, GM_FACT_ERROR, gm_buf_cstr(&path));
out:
	gm_buf_release(&path);
	gm_buf_release(&tried);
}

/* comm holds at most 15 characters: "systemd-timesyncd" reads "systemd-timesyn". */
static bool comm_is(const char *comm, const char *name)
{
	size_t n = strlen(name);
	if (strcmp(comm, name) == 0)
		return true;
	return n > COMM_LEN && strlen(comm) == COMM_LEN && strncmp(comm, name, COMM_LEN) == 0;
}

void gm_evidence_scan_processes(struct gm_evidence *ev, const struct gm_root *root)
{
	static const char *const time_daemons[] = {"chronyd",  "ntpd",  "systemd-timesyncd",
	                                           "openntpd", "ptp4l", NULL};
	struct gm_buf path = GM_BUF_INIT, comm = GM_BUF_INIT;
	const char *found_time = NULL;
	bool persistenced = false;
	size_t seen = 0;
	gm_root_path(root, "/proc", &path);
	DIR *d = opendir(gm_buf_cstr(&path));
	if (!d) {
		gm_buf_reset(&path);
		gm_buf_addf(&path, "cannot list /proc: %s", strerror(errno));
		gm_fact_fail(&ev->persistenced.f, GM_FACT_ERROR, gm_buf_cstr(&path));
		gm_fact_fail(&ev->time_sync.f, GM_FACT_ERROR, gm_buf_cstr(&path));
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d)) && seen < PROCS_MAX) {
		const char *n = de->d_name;
		bool digits = *n != '\0';
		for (const char *c = n; *c; c++)
			digits = digits && isdigit((unsigned char)*c);
		if (!digits)
			continue;
		gm_buf_reset(&path);
		gm_buf_addf(&path, "/proc/%s/comm", n);
		if (gm_root_read(root, gm_buf_cstr(&path), &comm, NULL) != GM_OK)
			continue; /* the process ended meanwhile */
		seen++;
		const char *c = gm_buf_cstr(&comm);
		if (comm_is(c, "nvidia-persistenced"))
			persistenced = true;
		for (const char *const *t = time_daemons; *t && !found_time; t++)
			if (comm_is(c, *t))
				found_time = *t;
	}
	closedir(d);
	if (!seen) {
		gm_fact_fail(&ev->persistenced.f, GM_FACT_UNKNOWN, "no processes visible in /proc");
		gm_fact_fail(&ev->time_sync.f, GM_FACT_UNKNOWN, "no processes visible in /proc");
		goto out;
	}
	gm_fbool_set(&ev->persistenced, persistenced);
	gm_fstr_set(&ev->time_sync, found_time ? found_time : "");
out:
	gm_buf_release(&path);
	gm_buf_release(&comm);
}

static int cmp_port(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

bool gm_evidence_parse_proc_net_tcp(struct gm_evidence *ev, const char *text)
{
	const char *p = text;
	if (!strstr(text, "local_address"))
		return false;
	p = strchr(p, '\n');
	while (p && *p) {
		p++;
		/* "  0: 00000000:18EB 00000000:0000 0A ..." */
		const char *colon = strchr(p, ':');
		const char *eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		if (colon && colon < eol) {
			const char *local = colon + 1;
			while (*local == ' ')
				local++;
			const char *pc = memchr(local, ':', (size_t)(eol - local));
			if (pc) {
				char *end = NULL;
				unsigned long port = strtoul(pc + 1, &end, 16);
				const char *st = end;
				while (st && *st == ' ')
					st++;
				/* skip the remote address, then the state */
				while (st && st < eol && *st != ' ')
					st++;
				while (st && *st == ' ')
					st++;
				if (end && *end == ' ' && port > 0 && port < 65536 && st &&
				    eol - st >= 2 && strncmp(st, "0A", 2) == 0) {
					ev->ports = gm_xreallocarray(ev->ports, ev->n_ports + 1,
					                             sizeof(*ev->ports));
					ev->ports[ev->n_ports++] = (uint16_t)port;
				}
			}
		}
		p = *eol ? eol : NULL;
	}
	if (ev->n_ports > 1) {
		qsort(ev->ports, ev->n_ports, sizeof(*ev->ports), cmp_port);
		size_t w = 1;
		for (size_t i = 1; i < ev->n_ports; i++)
			if (ev->ports[i] != ev->ports[w - 1])
				ev->ports[w++] = ev->ports[i];
		ev->n_ports = w;
	}
	return true;
}

void gm_evidence_read_ports(struct gm_evidence *ev, const struct gm_root *root)
{
	struct gm_buf text = GM_BUF_INIT;
	bool any = false;
	for (int v6 = 0; v6 < 2; v6++) {
		const char *f = v6 ? "/proc/net/tcp6" : "/proc/net/tcp";
		if (gm_root_read(root, f, &text, NULL) == GM_OK &&
		    gm_evidence_parse_proc_net_tcp(ev, gm_buf_cstr(&text)))
			any = true;
	}
	if (any)
		ev->tcp.state = GM_FACT_OK;
	else
		gm_fact_fail(&ev->tcp, GM_FACT_ERROR,
		             "cannot read /proc/net/tcp or /proc/net/tcp6");
	gm_buf_release(&text);
}

bool gm_evidence_port_listening(const struct gm_evidence *ev, unsigned port)
{
	for (size_t i = 0; i < ev->n_ports; i++)
		if (ev->ports[i] == port)
			return true;
	return false;
}

void gm_evidence_collect(struct gm_evidence *ev, const struct gm_root *root)
{
	gm_evidence_read_kernel_log(ev, root);
	gm_evidence_scan_processes(ev, root);
	gm_evidence_read_ports(ev, root);
}

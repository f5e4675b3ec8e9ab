/* Our own TCP latency/throughput probe rather than libiperf: one small protocol (net.h) that
 * does both the one-in-flight echo for round-trip times and the multi-stream bulk transfer,
 * counts only bytes moved after a warm-up, and needs nothing but sockets and threads. */
#include "bench/net.h"

#include <errno.h>
#include <ifaddrs.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define HELLO_LEN  16
#define REPLY_LEN  8
#define BULK_SIZE  ((size_t)128 * 1024)
#define IO_TIMEOUT 2 /* seconds a blocked send/recv waits before the stop flag is checked */

enum { ST_OK = 0, ST_BAD_VERSION = 1, ST_BAD_MODE = 2, ST_BUSY = 3 };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Writes all of buf; false on error or EOF (errno set). */
static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads exactly len bytes; false on error or EOF (errno 0 at EOF). */
static bool recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n == 0) {
			errno = 0;
			return false;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = {seconds, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* sa holds len bytes, as the call that filled it reported. */
static void format_addr(const struct sockaddr *sa, socklen_t len, struct gm_buf *out)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	gm_buf_reset(out);
	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		gm_buf_adds(out, "?");
		return;
	}
	if (sa->sa_family == AF_INET6)
		gm_buf_addf(out, "[%s]:%s", host, serv);
	else
		gm_buf_addf(out, "%s:%s", host, serv);
}

enum gm_rc gm_bench_net_parse_addr(const char *s, uint16_t default_port, struct gm_buf *host,
                                   uint16_t *port, struct gm_err *err)
{
	gm_buf_reset(host);
	*port = default_port;
	const char *port_s = NULL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s': missing ']' after the IPv6 address", s);
		gm_buf_add(host, s + 1, (size_t)(close - s - 1));
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1] != '\0')
			return gm_err_set(err, GM_ERR_USAGE, "'%s': expected ':PORT' after ']'", s);
	} else {
		const char *colon = strchr(s, ':');
		if (colon && !strchr(colon + 1, ':')) {
			gm_buf_add(host, s, (size_t)(colon - s));
			port_s = colon + 1;
		} else {
			gm_buf_adds(host, s); /* no port, or a bare IPv6 address */
		}
	}
	if (port_s) {
		uint64_t v;
		if (gm_parse_u64(port_s, 10, &v) != GM_OK || v > 65535)
			return gm_err_set(err, GM_ERR_USAGE,
			                  "'%s': the port must be a number from 0 to 65535", s);
		*port = (uint16_t)v;
	}
	return GM_OK;
}

/* ---- server -------------------------------------------------------------------------- */

void gm_bench_net_server_init(struct gm_bench_net_server *s)
{
	s->fd = -1;
	s->port = 0;
	gm_buf_init(&s->addr);
}

void gm_bench_net_server_release(struct gm_bench_net_server *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	gm_buf_release(&s->addr);
}

static int bind_any(uint16_t port, int *errnum)
{
	/* IPv6 dual-stack first, then IPv4 (hosts with IPv6 disabled). */
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0;
	if (fd >= 0) {
		struct sockaddr_in6 a6;
		memset(&a6, 0, sizeof(a6));
		a6.sin6_family = AF_INET6;
		a6.sin6_addr = in6addr_any;
		a6.sin6_port = htons(port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
			return fd;
		*errnum = errno;
		close(fd);
		if (*errnum == EADDRINUSE || *errnum == EACCES)
			return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*errnum = errno;
		return -1;
	}
	struct sockaddr_in a4;
	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	a4.sin_addr.s_addr = htonl(INADDR_ANY);
	a4.sin_port = htons(port);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0)
		return fd;
	*errnum = errno;
	close(fd);
	return -1;
}

enum gm_rc gm_bench_net_listen(struct gm_bench_net_server *s, const char *host, uint16_t port,
                               struct gm_err *err)
{
	int fd = -1, errnum = 0;
	struct addrinfo *res = NULL;
	if (!host || !*host) {
		fd = bind_any(port, &errnum);
	} else {
		struct addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		char serv[8];
		snprintf(serv, sizeof(serv), "%u", (unsigned)port);
		int g = getaddrinfo(host, serv, &hints, &res);
		if (g != 0)
			return gm_err_set(err, GM_ERR_USAGE, "cannot resolve '%s': %s", host,
			                  gai_strerror(g));
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
			if (fd < 0) {
				errnum = errno;
				continue;
			}
			int one = 1;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			errnum = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
	}
	if (fd < 0)
		return gm_err_errno(err, gm_rc_from_errno(errnum), errnum,
		                    "cannot listen on port %u", (unsigned)port);
	if (listen(fd, 64) != 0) {
		errnum = errno;
		close(fd);
		return gm_err_errno(err, GM_ERR_IO, errnum, "cannot listen on port %u",
		                    (unsigned)port);
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		format_addr((struct sockaddr *)&ss, sl, &s->addr);
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	} else {
		s->port = port;
	}
	s->fd = fd;
	return GM_OK;
}

struct conn {
	int fd;
	const volatile sig_atomic_t *stop;
	atomic_int *active;
};

static void serve_echo(struct conn *c, size_t size, char *buf)
{
	size_t have = 0;
	while (!*c->stop) {
		ssize_t n = recv(c->fd, buf + have, size - have, 0);
		if (n == 0)
			return;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue; /* idle client: check the stop flag and wait on */
			return;
		}
		have += (size_t)n;
		if (have < size)
			continue;
		have = 0;
		if (!send_all(c->fd, buf, size))
			return;
	}
}

static void serve_sink(struct conn *c, char *buf)
{
	while (!*c->stop) {
		ssize_t n = recv(c->fd, buf, BULK_SIZE, 0);
		if (n == 0)
			return;
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return;
	}
}

static void serve_source(struct conn *c, char *buf)
{
	while (!*c->stop) {
		ssize_t n = send(c->fd, buf, BULK_SIZE, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return;
	}
}

static void *serve_client(void *arg)
{
	struct conn *c = arg;
	char *buf = NULL;
	unsigned char hello[HELLO_LEN],
	        reply[REPLY_LEN] = {'G', 'M', 'N', 'B', GM_BENCH_NET_VERSION};
	set_timeouts(c->fd, IO_TIMEOUT);
	if (!recv_all(c->fd, hello, sizeof(hello)) || memcmp(hello, "GMNB", 4) != 0)
		goto out; /* not our protocol: close without a word */
	unsigned mode = hello[5];
	uint32_t size = get_u32(hello + 8);
	if (hello[4] != GM_BENCH_NET_VERSION)
		reply[5] = ST_BAD_VERSION;
	else if (mode < GM_BENCH_NET_ECHO || mode > GM_BENCH_NET_SOURCE ||
	         (mode == GM_BENCH_NET_ECHO && (size == 0 || size > GM_BENCH_NET_MAX_MSG)))
		reply[5] = ST_BAD_MODE;
	if (!send_all(c->fd, reply, sizeof(reply)) || reply[5] != ST_OK)
		goto out;
	buf = gm_xmalloc(BULK_SIZE);
	memset(buf, 0x5a, BULK_SIZE);
	switch (mode) {
	case GM_BENCH_NET_ECHO:
		set_nodelay(c->fd);
		serve_echo(c, size, buf);
		break;
	case GM_BENCH_NET_SINK: serve_sink(c, buf); break;
	default: serve_source(c, buf); break;
	}
out:
	free(buf);
	close(c->fd);
	atomic_fetch_sub(c->active, 1);
	free(c);
	return NULL;
}

enum gm_rc gm_bench_net_serve(struct gm_bench_net_server *s, const volatile sig_atomic_t *stop,
                              struct gm_err *err)
{
	atomic_int active = 0;
	enum gm_rc rc = GM_OK;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!*stop) {
		struct pollfd pfd = {s->fd, POLLIN, 0};
		int n = poll(&pfd, 1, 200);
		if (n < 0 && errno != EINTR) {
			rc = gm_err_errno(err, GM_ERR_IO, errno, "poll on '%s'",
			                  gm_buf_cstr(&s->addr));
			break;
		}
		if (n <= 0)
			continue;
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue; /* the client went away, or a transient shortage (EMFILE) */
		if (atomic_load(&active) >= GM_BENCH_NET_MAX_CLIENTS) {
			unsigned char busy[REPLY_LEN] = {
			        'G', 'M', 'N', 'B', GM_BENCH_NET_VERSION, ST_BUSY};
			set_timeouts(fd, 1);
			send_all(fd, busy, sizeof(busy));
			close(fd);
			continue;
		}
		struct conn *c = gm_xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->stop = stop;
		c->active = &active;
		atomic_fetch_add(&active, 1);
		pthread_t t;
		if (pthread_create(&t, &attr, serve_client, c) != 0) {
			atomic_fetch_sub(&active, 1);
			close(fd);
			free(c);
		}
	}
	pthread_attr_destroy(&attr);
	/* Client threads see the stop flag within IO_TIMEOUT seconds. */
	for (int i = 0; i < (IO_TIMEOUT + 1) * 20 && atomic_load(&active) > 0; i++) {
		struct timespec ts = {0, 50L * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* ---- client -------------------------------------------------------------------------- */

void gm_bench_net_opts_default(struct gm_bench_net_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = GM_BENCH_NET_PORT;
	o->latency = true;
	o->throughput = true;
	o->pings = 10000;
	o->warm_pings = 200;
	o->msg_size = 64;
	o->duration_s = 10;
	o->warmup_s = 1;
	o->streams = 4;
}

void gm_bench_net_result_init(struct gm_bench_net_result *r)
{
	memset(r, 0, sizeof(*r));
	gm_buf_init(&r->peer);
	gm_buf_init(&r->local);
}

void gm_bench_net_result_release(struct gm_bench_net_result *r)
{
	if (!r)
		return;
	gm_buf_release(&r->peer);
	gm_buf_release(&r->local);
	free(r->rtt_us);
	free(r->stream_gbps);
	free(r->interval_gbps);
	gm_bench_net_result_init(r);
}

static bool stopped(const struct gm_bench_net_opts *o)
{
	return o->stop && *o->stop;
}

/* Connects and says hello in mode; returns the socket, or -1 with err set. */
static int dial(const struct gm_bench_net_opts *o, enum gm_bench_net_mode mode, size_t msg_size,
                struct gm_bench_net_result *r, struct gm_err *err)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	char serv[8];
	snprintf(serv, sizeof(serv), "%u", (unsigned)o->port);
	int g = getaddrinfo(o->host, serv, &hints, &res);
	if (g != 0) {
		gm_err_set(err, GM_ERR_UNREACHABLE, "cannot resolve '%s': %s", o->host,
		           gai_strerror(g));
		return -1;
	}
	int fd = -1, errnum = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			errnum = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			if (r && r->peer.len == 0)
				format_addr(ai->ai_addr, ai->ai_addrlen, &r->peer);
			break;
		}
		errnum = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		gm_err_errno(err, GM_ERR_UNREACHABLE, errnum, "cannot connect to '%s' port %u",
		             o->host, (unsigned)o->port);
		return -1;
	}
	set_timeouts(fd, IO_TIMEOUT);
	if (mode == GM_BENCH_NET_ECHO)
		set_nodelay(fd);
	unsigned char hello[HELLO_LEN] = {
	        'G', 'M', 'N', 'B', GM_BENCH_NET_VERSION, (unsigned char)mode};
	put_u32(hello + 8, (uint32_t)msg_size);
	unsigned char reply[REPLY_LEN];
	if (!send_all(fd, hello, sizeof(hello)) || !recv_all(fd, reply, sizeof(reply))) {
		int e = errno;
		close(fd);
		if (e)
			gm_err_errno(err, GM_ERR_PROTOCOL, e,
			             "'%s' port %u did not answer the bench net hello", o->host,
			             (unsigned)o->port);
		else
			gm_err_set(err, GM_ERR_PROTOCOL,
			           "'%s' port %u closed the connection: is 'gpumigrate bench net "
			           "--serve' running there?",
			           o->host, (unsigned)o->port);
		return -1;
	}
	if (memcmp(reply, "GMNB", 4) != 0 || reply[5] != ST_OK) {
		close(fd);
		const char *why = memcmp(reply, "GMNB", 4) != 0
		                          ? "is not a gpumigrate bench net server"
		                  : reply[5] == ST_BAD_VERSION ? "speaks another protocol version"
		                  : reply[5] == ST_BUSY        ? "is busy (too many clients)"
		                                               : "refused the test mode";
		gm_err_set(err, GM_ERR_PROTOCOL, "'%s' port %u %s", o->host, (unsigned)o->port,
		           why);
		return -1;
	}
	return fd;
}

/* Which interface a connected socket leaves through: the one holding its local address. */
static void find_link(int fd, struct gm_bench_net_result *r)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	format_addr((struct sockaddr *)&ss, sl, &r->local);
	r->link.ipv6 = ss.ss_family == AF_INET6;
	if (r->link.ipv6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			r->link.ipv6 = false;
	}
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) != 0)
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != ss.ss_family)
			continue;
		bool same;
		if (ss.ss_family == AF_INET)
			same = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
			       ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
		else
			same = memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
			              &((struct sockaddr_in6 *)&ss)->sin6_addr,
			              sizeof(struct in6_addr)) == 0;
		if (same) {
			snprintf(r->link.ifname, sizeof(r->link.ifname), "%s", i->ifa_name);
			break;
		}
	}
	freeifaddrs(ifs);
}

static enum gm_rc run_latency(const struct gm_bench_net_opts *o, struct gm_bench_net_result *r,
                              struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	size_t size = o->msg_size < 8 ? 8 : o->msg_size;
	unsigned char *out = gm_xmalloc(size), *in = gm_xmalloc(size);
	int fd = dial(o, GM_BENCH_NET_ECHO, size, r, err);
	if (fd < 0) {
		rc = err->rc;
		goto out;
	}
	find_link(fd, r);
	r->rtt_us = gm_xcalloc(o->pings ? o->pings : 1, sizeof(double));
	for (size_t i = 0; i < size; i++)
		out[i] = (unsigned char)(i * 131 + 7);
	double deadline = now_s() + o->duration_s;
	for (uint64_t seq = 0; seq < o->warm_pings + o->pings; seq++) {
		if (stopped(o)) {
			rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
			goto out;
		}
		put_u32(out, (uint32_t)(seq >> 32));
		put_u32(out + 4, (uint32_t)seq);
		double t0 = now_s();
		if (!send_all(fd, out, size) || !recv_all(fd, in, size)) {
			rc = gm_err_errno(err, GM_ERR_IO, errno ? errno : ECONNRESET,
			                  "round trip %llu to '%s'", (unsigned long long)seq,
			                  gm_buf_cstr(&r->peer));
			goto out;
		}
		double t1 = now_s();
		if (memcmp(in, out, size) != 0) {
			rc = gm_err_set(err, GM_ERR_PROTOCOL,
			                "'%s' sent back something else than round trip %llu",
			                gm_buf_cstr(&r->peer), (unsigned long long)seq);
			goto out;
		}
		if (seq >= o->warm_pings)
			r->rtt_us[r->n_rtt++] = (t1 - t0) * 1e6;
		if (t1 > deadline && r->n_rtt > 0)
			break;
	}
out:
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
	return rc;
}

struct stream {
	int fd;
	bool reverse;
	atomic_int *stop;
	_Atomic uint64_t bytes;
	int errnum; /* why the stream ended early; 0 when it ran to the stop */
	pthread_t thread;
	bool started;
};

static void *stream_main(void *arg)
{
	struct stream *st = arg;
	char *buf = gm_xmalloc(BULK_SIZE);
	for (size_t i = 0; i < BULK_SIZE; i++)
		buf[i] = (char)(i * 2654435761u >> 24);
	while (!atomic_load_explicit(st->stop, memory_order_relaxed)) {
		ssize_t n = st->reverse ? recv(st->fd, buf, BULK_SIZE, 0)
		                        : send(st->fd, buf, BULK_SIZE, MSG_NOSIGNAL);
		if (n > 0) {
			atomic_fetch_add_explicit(&st->bytes, (uint64_t)n, memory_order_relaxed);
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		st->errnum = n == 0 ? ECONNRESET : errno;
		break;
	}
	free(buf);
	return NULL;
}

static uint64_t total_bytes(struct stream *s, int n)
{
	uint64_t t = 0;
	for (int i = 0; i < n; i++)
		t += atomic_load_explicit(&s[i].bytes, memory_order_relaxed);
	return t;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	if (d <= 0)
		return;
	struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
	nanosleep(&ts, NULL);
}

static enum gm_rc run_throughput(const struct gm_bench_net_opts *o, struct gm_bench_net_result *r,
                                 struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	int n = o->streams;
	atomic_int stop = 0;
	struct stream *s = gm_xcalloc((size_t)n, sizeof(*s));
	uint64_t *start = gm_xcalloc((size_t)n, sizeof(*start));
	for (int i = 0; i < n; i++)
		s[i].fd = -1;
	for (int i = 0; i < n; i++) {
		s[i].fd = dial(o, o->reverse ? GM_BENCH_NET_SOURCE : GM_BENCH_NET_SINK, 0, r, err);
		if (s[i].fd < 0) {
			rc = err->rc;
			goto out;
		}
		if (i == 0 && r->local.len == 0)
			find_link(s[i].fd, r);
	}
	for (int i = 0; i < n; i++) {
		s[i].reverse = o->reverse;
		s[i].stop = &stop;
		if (pthread_create(&s[i].thread, NULL, stream_main, &s[i]) != 0) {
			rc = gm_err_set(err, GM_ERR_INTERNAL, "cannot start stream thread %d", i);
			goto out;
		}
		s[i].started = true;
	}
	/* Warm-up: TCP's slow start and the socket buffers filling stay out of the count. */
	double t0 = now_s() + o->warmup_s;
	sleep_until(t0);
	t0 = now_s();
	for (int i = 0; i < n; i++)
		start[i] = atomic_load(&s[i].bytes);
	uint64_t last = total_bytes(s, n);
	/* At least ten samples, at most one a second. */
	double step = o->duration_s / 10 < 1 ? o->duration_s / 10 : 1;
	size_t max_iv = (size_t)ceil(o->duration_s / step) + 1;
	r->interval_gbps = gm_xcalloc(max_iv, sizeof(double));
	r->interval_s = step;
	double end = t0 + o->duration_s, tprev = t0;
	while (!stopped(o)) {
		double next = tprev + step;
		if (next > end - step / 2)
			next = end;
		sleep_until(next);
		double t = now_s();
		uint64_t b = total_bytes(s, n);
		if (r->n_intervals < max_iv && t > tprev)
			r->interval_gbps[r->n_intervals++] =
			        (double)(b - last) * 8 / (t - tprev) / 1e9;
		last = b;
		tprev = t;
		if (t >= end)
			break;
	}
	double t1 = now_s();
	uint64_t end_bytes[GM_BENCH_NET_MAX_STREAMS];
	for (int i = 0; i < n; i++)
		end_bytes[i] = atomic_load(&s[i].bytes);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		if (s[i].started)
			pthread_join(s[i].thread, NULL);
		s[i].started = false;
	}
	if (stopped(o)) {
		rc = gm_err_set(err, GM_ERR_INTERRUPTED, "interrupted");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (s[i].errnum) {
			rc = gm_err_errno(err, GM_ERR_IO, s[i].errnum, "stream %d to '%s' broke",
			                  i + 1, gm_buf_cstr(&r->peer));
			goto out;
		}
	}
	r->has_throughput = true;
	r->n_streams = n;
	r->stream_gbps = gm_xcalloc((size_t)n, sizeof(double));
	r->seconds = t1 - t0;
	r->bytes = 0;
	for (int i = 0; i < n; i++) {
		uint64_t b = end_bytes[i] - start[i];
		r->bytes += b;
		r->stream_gbps[i] = (double)b * 8 / r->seconds / 1e9;
	}
	r->total_gbps = (double)r->bytes * 8 / r->seconds / 1e9;
out:
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		if (s[i].started)
			pthread_join(s[i].thread, NULL);
		if (s[i].fd >= 0) {
			shutdown(s[i].fd, SHUT_RDWR);
			close(s[i].fd);
		}
	}
	free(start);
	free(s);
	return rc;
}

enum gm_rc gm_bench_net_run(const struct gm_bench_net_opts *o, struct gm_bench_net_result *r,
                            struct gm_err *err)
{
	if (o->streams < 1 || o->streams > GM_BENCH_NET_MAX_STREAMS)
		return gm_err_set(err, GM_ERR_USAGE, "streams must be from 1 to %d",
		                  GM_BENCH_NET_MAX_STREAMS);
	if (o->msg_size > GM_BENCH_NET_MAX_MSG)
		return gm_err_set(err, GM_ERR_USAGE, "the message size must be at most %d bytes",
		                  GM_BENCH_NET_MAX_MSG);
	if (!(o->duration_s > 0) || o->warmup_s < 0)
		return gm_err_set(err, GM_ERR_USAGE, "the duration must be positive");
	enum gm_rc rc = GM_OK;
	if (o->latency && (rc = run_latency(o, r, err)) != GM_OK)
		return rc;
	if (o->throughput && (rc = run_throughput(o, r, err)) != GM_OK)
		return rc;
	if (r->link.ifname[0])
		gm_bench_net_link_read(NULL, &r->link);
	return GM_OK;
}

/* ---- link ceiling -------------------------------------------------------------------- */

double gm_bench_net_ceiling_gbps(double speed_mbps, unsigned mtu, bool ipv6, bool timestamps)
{
	unsigned hdr = (ipv6 ? 40 : 20) + 20 + (timestamps ? 12 : 0);
	if (mtu <= hdr || !(speed_mbps > 0))
		return 0;
	return speed_mbps * (double)(mtu - hdr) / (double)(mtu + 38) / 1000.0;
}

static bool read_i64(const struct gm_root *root, const char *path, int64_t *v)
{
	struct gm_buf b = GM_BUF_INIT;
	bool ok = gm_root_read(root, path, &b, NULL) == GM_OK &&
	          gm_parse_i64(gm_buf_cstr(&b), 10, v) == GM_OK;
	gm_buf_release(&b);
	return ok;
}

void gm_bench_net_link_read(const struct gm_root *root, struct gm_bench_net_link *link)
{
	static const struct gm_root live = {""};
	if (!root)
		root = &live;
	struct gm_buf path = GM_BUF_INIT;
	int64_t v;
	link->speed_known = link->mtu_known = link->ceiling_known = false;
	if (link->ifname[0] && !strchr(link->ifname, '/')) {
		gm_buf_addf(&path, "/sys/class/net/%s/speed", link->ifname);
		if (read_i64(root, gm_buf_cstr(&path), &v) && v > 0) {
			link->speed_known = true;
			link->speed_mbps = (double)v;
		}
		gm_buf_reset(&path);
		gm_buf_addf(&path, "/sys/class/net/%s/mtu", link->ifname);
		if (read_i64(root, gm_buf_cstr(&path), &v) && v > 0 && v < 1 << 20) {
			link->mtu_known = true;
			link->mtu = (unsigned)v;
		}
	}
	/* Linux's default is on; only an explicit 0 turns the option off. */
	link->timestamps = !(read_i64(root, "/proc/sys/net/ipv4/tcp_timestamps", &v) && v == 0);
	if (link->speed_known && link->mtu_known) {
		link->ceiling_gbps = gm_bench_net_ceiling_gbps(link->speed_mbps, link->mtu,
		                                               link->ipv6, link->timestamps);
		link->ceiling_known = link->ceiling_gbps > 0;
	}
	gm_buf_release(&path);
}

enum gm_bench_net_verdict gm_bench_net_judge_gbps(double measured, double min, bool ceiling_known,
                                                  double ceiling)
{
	if (measured >= min)
		return GM_BENCH_NET_PASS;
	if (ceiling_known && min > ceiling && measured >= GM_BENCH_NET_CEILING_FRACTION * ceiling)
		return GM_BENCH_NET_AT_CEILING;
	return GM_BENCH_NET_FAIL;
}

const char *gm_bench_net_verdict_name(enum gm_bench_net_verdict v)
{
	switch (v) {
	case GM_BENCH_NET_PASS: return "pass";
	case GM_BENCH_NET_AT_CEILING: return "pass (link ceiling)";
	default: return "FAIL";
	}
}

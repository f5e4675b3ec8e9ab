/* Network probe between two nodes: TCP round-trip latency with one request in flight and
 * TCP throughput over several parallel streams, against our own small server
 * (`bench net --serve`), plus the arithmetic that says how much TCP payload a link can carry
 * so a slow result on a slow link is explained rather than failed blindly.
 *
 * Wire protocol (version 1), all integers big-endian. The client opens a TCP connection and
 * sends a 16-byte hello: "GMNB", u8 version (1), u8 mode, u16 0, u32 message size (echo mode
 * only, 1..65536), u32 0. The server answers 8 bytes: "GMNB", u8 version (1), u8 status
 * (0 ok, 1 unsupported version, 2 unsupported mode or size, 3 busy), u16 0. Then:
 *   echo   (1): the client sends messages of the given size; the server sends each back;
 *   sink   (2): the client sends bytes until it closes; the server discards them;
 *   source (3): the server sends bytes until the client closes. */
#ifndef GM_BENCH_NET_H
#define GM_BENCH_NET_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"

#define GM_BENCH_NET_PORT        5301
#define GM_BENCH_NET_VERSION     1
#define GM_BENCH_NET_MAX_STREAMS 128
#define GM_BENCH_NET_MAX_MSG     65536
#define GM_BENCH_NET_MAX_CLIENTS 256

enum gm_bench_net_mode {
	GM_BENCH_NET_ECHO = 1,
	GM_BENCH_NET_SINK = 2,
	GM_BENCH_NET_SOURCE = 3,
};

/* Splits "HOST", "HOST:PORT", "[V6]", "[V6]:PORT", a bare IPv6 address or ":PORT" (empty
 * host) into host and port; port is default_port when not given (0 may be given: a listener
 * takes it as "any free port"). GM_ERR_USAGE on a bad port or an unclosed bracket. */
enum gm_rc gm_bench_net_parse_addr(const char *s, uint16_t default_port, struct gm_buf *host,
                                   uint16_t *port, struct gm_err *err);

/* ---- server -------------------------------------------------------------------------- */

struct gm_bench_net_server {
	int fd;             /* listening socket; -1 when closed */
	uint16_t port;      /* the port bound (the kernel's choice when 0 was asked for) */
	struct gm_buf addr; /* "0.0.0.0:5301", "[::]:5301" … for messages */
};

void gm_bench_net_server_init(struct gm_bench_net_server *s);
/* Binds and listens. host NULL or "" means every address (IPv6 dual-stack where the host
 * has IPv6, else IPv4). */
enum gm_rc gm_bench_net_listen(struct gm_bench_net_server *s, const char *host, uint16_t port,
                               struct gm_err *err);
/* Serves clients, each on its own thread, until *stop becomes non-zero; then waits (up to
 * about two seconds) for the client threads to finish. */
enum gm_rc gm_bench_net_serve(struct gm_bench_net_server *s, const volatile sig_atomic_t *stop,
                              struct gm_err *err);
void gm_bench_net_server_release(struct gm_bench_net_server *s);

/* ---- client -------------------------------------------------------------------------- */

struct gm_bench_net_opts {
	const char *host;
	uint16_t port;
	bool latency;        /* run the latency phase */
	bool throughput;     /* run the throughput phase */
	uint64_t pings;      /* measured round trips (after warm-up) at most */
	uint64_t warm_pings; /* round trips discarded first */
	size_t msg_size;     /* bytes per echo message */
	double duration_s;   /* cap on the latency phase; length of the throughput measurement */
	double warmup_s;     /* throughput: seconds before bytes are counted */
	int streams;         /* parallel TCP streams, 1..GM_BENCH_NET_MAX_STREAMS */
	bool reverse;        /* the server sends, the client receives */
	const volatile sig_atomic_t *stop; /* may be NULL */
};

/* Fills the defaults: 10000 pings after 200 warm-up pings, 64-byte messages, 10 s, 1 s
 * warm-up, 4 streams, both phases. */
void gm_bench_net_opts_default(struct gm_bench_net_opts *o);

/* The link a connection leaves through. */
struct gm_bench_net_link {
	char ifname[32];  /* "" when the interface is not known */
	bool speed_known; /* /sys/class/net/IF/speed gave a positive number */
	double speed_mbps;
	bool mtu_known;
	unsigned mtu;
	bool ipv6;           /* the connection runs over IPv6 (40-byte IP header) */
	bool timestamps;     /* TCP timestamps on (12 more header bytes per segment) */
	bool ceiling_known;  /* speed and MTU both known */
	double ceiling_gbps; /* TCP payload ceiling of the link */
};

struct gm_bench_net_result {
	struct gm_buf peer;  /* "127.0.0.1:5301" */
	struct gm_buf local; /* local address the route uses */
	/* latency phase: round-trip times in microseconds, after warm-up, in order */
	double *rtt_us;
	size_t n_rtt;
	/* throughput phase */
	bool has_throughput;
	double total_gbps;   /* payload bits / s over the whole measurement, all streams */
	double *stream_gbps; /* per stream, n_streams of them */
	int n_streams;
	double *interval_gbps; /* total over successive intervals (the samples) */
	size_t n_intervals;
	double interval_s;
	uint64_t bytes; /* counted payload bytes */
	double seconds; /* measured time */
	struct gm_bench_net_link link;
};

void gm_bench_net_result_init(struct gm_bench_net_result *r);
void gm_bench_net_result_release(struct gm_bench_net_result *r);

/* Runs the phases o asks for against a `bench net --serve` server. GM_ERR_UNREACHABLE when
 * the server cannot be reached, GM_ERR_PROTOCOL when it speaks something else,
 * GM_ERR_INTERRUPTED when *o->stop was set. */
enum gm_rc gm_bench_net_run(const struct gm_bench_net_opts *o, struct gm_bench_net_result *r,
                            struct gm_err *err);

/* ---- link ceiling -------------------------------------------------------------------- */

/* The most TCP payload a link of speed_mbps carries at this MTU, in Gbit/s: each segment
 * of MTU bytes holds MTU − IP header (20, or 40 for IPv6) − TCP header (20, + 12 with
 * timestamps) bytes of payload, and costs MTU + 38 bytes on the wire (preamble 8, Ethernet
 * header 14, FCS 4, inter-frame gap 12). 10000 Mbit/s, MTU 1500, IPv4, timestamps: 9.41.
 * 0 when mtu is too small to carry anything. */
double gm_bench_net_ceiling_gbps(double speed_mbps, unsigned mtu, bool ipv6, bool timestamps);

/* Reads /sys/class/net/IFNAME/{speed,mtu} and /proc/sys/net/ipv4/tcp_timestamps below root
 * into link (ifname and ipv6 already set) and computes the ceiling when both are known.
 * Unknown values (virtual interfaces report no speed, or -1) stay unknown. */
void gm_bench_net_link_read(const struct gm_root *root, struct gm_bench_net_link *link);

/* ---- thresholds ---------------------------------------------------------------------- */

enum gm_bench_net_verdict {
	GM_BENCH_NET_PASS,
	GM_BENCH_NET_FAIL,
	GM_BENCH_NET_AT_CEILING, /* below the threshold, but the link carries no more: a pass */
};

/* A measured throughput is at the link's ceiling from this fraction of it on. */
#define GM_BENCH_NET_CEILING_FRACTION 0.95

/* measured ≥ min: PASS. Else, when the ceiling is known, min is above it and measured
 * reaches GM_BENCH_NET_CEILING_FRACTION of it: AT_CEILING. Else FAIL. */
enum gm_bench_net_verdict gm_bench_net_judge_gbps(double measured, double min, bool ceiling_known,
                                                  double ceiling);
/* "pass", "FAIL", "pass (link ceiling)". */
const char *gm_bench_net_verdict_name(enum gm_bench_net_verdict v);

#endif

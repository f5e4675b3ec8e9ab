/* Local evidence check needs that the inventory does not carry: the kernel log (for Xid
 * errors), whether nvidia-persistenced and a time-sync daemon run, and which TCP ports are
 * already listening. Read through a root prefix (struct gm_root), so fixture trees work like
 * the live host. A saved inventory has none of this; check then skips the checks that need it. */
#ifndef GM_EVIDENCE_H
#define GM_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "hw/fact.h"
#include "util/buf.h"
#include "util/fs.h"

/* At most this much of the end of a log file is read. */
#define GM_EVIDENCE_LOG_MAX (8u << 20)

struct gm_evidence {
	struct gm_fact kernel_log;    /* OK when a log was read; else why not */
	struct gm_buf log_text;       /* the log (its last GM_EVIDENCE_LOG_MAX bytes) */
	char *log_source;             /* "/var/log/kern.log", "/dev/kmsg" … */
	struct gm_fbool persistenced; /* nvidia-persistenced runs */
	struct gm_fstr time_sync;     /* the time-sync daemon that runs ("chronyd"), "" if none */
	struct gm_fact tcp;           /* OK when /proc/net/tcp{,6} could be read */
	uint16_t *ports;              /* listening TCP ports, sorted, unique */
	size_t n_ports;
};

void gm_evidence_init(struct gm_evidence *ev);
void gm_evidence_release(struct gm_evidence *ev);

/* Collects everything below root. Never fails: what cannot be read is a fact with the reason.
 * On the live host (root "" or "/") the kernel log falls back to /dev/kmsg, read without
 * blocking and capped, when no log file is readable. */
void gm_evidence_collect(struct gm_evidence *ev, const struct gm_root *root);

/* The parts. */
void gm_evidence_read_kernel_log(struct gm_evidence *ev, const struct gm_root *root);
void gm_evidence_scan_processes(struct gm_evidence *ev, const struct gm_root *root);
void gm_evidence_read_ports(struct gm_evidence *ev, const struct gm_root *root);

/* Adds the LISTEN sockets' local ports of a /proc/net/tcp or tcp6 text to ev->ports. Returns
 * false when the text does not look like that file (no header line). */
bool gm_evidence_parse_proc_net_tcp(struct gm_evidence *ev, const char *text);

/* Whether port listens (ev->tcp must be OK). */
bool gm_evidence_port_listening(const struct gm_evidence *ev, unsigned port);

#endif

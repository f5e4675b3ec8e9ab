/* NVIDIA Xid events: the catalog of what each code means and what to do (data/xid.yaml,
 * compiled in; NVIDIA's Xid catalog is the source), and a scanner that finds
 * "NVRM: Xid (PCI:0000:3b:00): 79, pid=…" lines in kernel log text (kern.log, messages, dmesg
 * output or /dev/kmsg records) and counts them per code and GPU. */
#ifndef GM_XID_H
#define GM_XID_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct gm_xid_info {
	int code;
	char *mnemonic;
	char *name;             /* short meaning */
	char *category;         /* app, driver, hardware, memory, nvlink, gsp */
	char *immediate_action; /* NVIDIA's bucket: RESTART_APP, RESET_GPU, IGNORE … */
	char *action;           /* what an operator does */
};

struct gm_xid_catalog {
	struct gm_xid_info *xids;
	size_t n;
};

/* Parses a gpumigrate.catalog.xid/v1 document (text NULL: the compiled-in file name). */
enum gm_rc gm_xid_catalog_parse(struct gm_xid_catalog *c, const char *name, const char *text,
                                size_t len, struct gm_err *err);
/* Parses the compiled-in data/xid.yaml. */
enum gm_rc gm_xid_catalog_load_embedded(struct gm_xid_catalog *c, struct gm_err *err);
void gm_xid_catalog_release(struct gm_xid_catalog *c);
/* The entry for code, or NULL. */
const struct gm_xid_info *gm_xid_lookup(const struct gm_xid_catalog *c, int code);
/* Whether an Xid needs the node taken out of service (reset, reboot, support): false for
 * application-level ones (RESTART_APP, IGNORE, and Xid 45's cleanup-after-other-errors). Unknown
 * codes count as not fatal. */
bool gm_xid_is_fatal(const struct gm_xid_info *info);

/* One (code, GPU) pair seen in the log. */
struct gm_xid_hit {
	int code;
	char pci[16]; /* "0000:3b:00" as the driver prints it (domain:bus:device), lowercase */
	size_t count;
	char *last; /* the text after the code on the last such line, trimmed, capped */
};

struct gm_xid_scan {
	struct gm_xid_hit *hits; /* in order of first appearance */
	size_t n;
	size_t lines; /* Xid lines found */
};

/* Scans log text (any of the formats above; lines may be CRLF or LF). Never fails; lines that
 * say "NVRM: Xid" but cannot be parsed are not counted. */
void gm_xid_scan_text(struct gm_xid_scan *s, const char *text, size_t len);
void gm_xid_scan_release(struct gm_xid_scan *s);

#endif

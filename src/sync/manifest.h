/* The sync manifest: one JSON object per line for every regular file a sync moved or found
 * up to date — an audit record of what moved (data-compliance reviews) that `gpumigrate
 * verify --manifest` checks a destination against. Kept apart from the engine so the format
 * has one writer, one reader and its own tests.
 *
 * A line: {"path":"a/b","size":12,"mtime":"2024-05-01T10:00:00.000000000Z",
 * "mtime_ns":1714557600000000000,"mode":"0644","xxh128":"<32 hex>","copied":true}
 * A path that is not valid UTF-8 also carries "path_hex" (its bytes in hex), which a reader
 * prefers, so every name survives the round trip. */
#ifndef GM_SYNC_MANIFEST_H
#define GM_SYNC_MANIFEST_H

#include <stdbool.h>

#include "sync/endpoint.h"
#include "util/buf.h"
#include "util/err.h"

/* Longest line a reader accepts. */
#define GM_SYNC_MANIFEST_LINE_MAX ((size_t)64 * 1024)

struct gm_sync_manifest_entry {
	struct gm_buf path; /* raw bytes */
	uint64_t size;
	int64_t mtime_ns;
	uint32_t mode;
	struct gm_sync_hash hash;
	bool copied;
};

/* Appends one line (with its '\n') to out. */
void gm_sync_manifest_line(struct gm_buf *out, const char *path, size_t len,
                           const struct gm_sync_meta *meta, const struct gm_sync_hash *hash,
                           bool copied);

void gm_sync_manifest_entry_init(struct gm_sync_manifest_entry *e);
void gm_sync_manifest_entry_release(struct gm_sync_manifest_entry *e);
/* Parses one line (without its '\n'). Needs path (or path_hex), size and xxh128; the rest is
 * optional. Unknown keys are ignored. GM_ERR_PARSE with the reason otherwise. */
enum gm_rc gm_sync_manifest_parse(const char *line, size_t len, struct gm_sync_manifest_entry *e,
                                  struct gm_err *err);

#endif

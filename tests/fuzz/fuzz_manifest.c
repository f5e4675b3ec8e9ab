/* libFuzzer harness: `verify --manifest` reads manifest lines that may come from anywhere
 * (an auditor's copy, a hand edit). A line that parses must write back to a line that parses
 * to the same entry. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sync/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_sync_manifest_entry a, b;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf line = GM_BUF_INIT;
	gm_sync_manifest_entry_init(&a);
	gm_sync_manifest_entry_init(&b);
	if (size <= GM_SYNC_MANIFEST_LINE_MAX &&
	    gm_sync_manifest_parse((const char *)data, size, &a, &err) == GM_OK) {
		struct gm_sync_meta m = {.kind = GM_SYNC_FILE,
		                         .size = a.size,
		                         .mtime_ns = a.mtime_ns,
		                         .mode = a.mode};
		gm_sync_manifest_line(&line, a.path.data ? a.path.data : "", a.path.len, &m,
		                      &a.hash, a.copied);
		if (gm_sync_manifest_parse(line.data, line.len - 1, &b, &err) != GM_OK ||
		    b.size != a.size || b.path.len != a.path.len ||
		    (a.path.len && memcmp(a.path.data, b.path.data, a.path.len) != 0) ||
		    !gm_sync_hash_equal(&a.hash, &b.hash))
			__builtin_trap();
	}
	gm_buf_release(&line);
	gm_sync_manifest_entry_release(&a);
	gm_sync_manifest_entry_release(&b);
	gm_err_release(&err);
	return 0;
}

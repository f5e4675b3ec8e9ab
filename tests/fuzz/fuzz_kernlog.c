/* libFuzzer harness: the kernel log check reads arbitrary text (kern.log, dmesg, /dev/kmsg)
 * looking for NVRM Xid lines. */
#include <stddef.h>
#include <stdint.h>

#include "assess/xid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_xid_scan scan = {0};
	gm_xid_scan_text(&scan, (const char *)data, size);
	if (scan.n > scan.lines)
		__builtin_trap(); /* every distinct hit comes from at least one line */
	gm_xid_scan_release(&scan);
	return 0;
}

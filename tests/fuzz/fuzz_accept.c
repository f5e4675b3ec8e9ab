/* libFuzzer harness: the Accept header of every scrape is chosen by the client. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *header = malloc(size + 1); /* headers reach the handler NUL-terminated */
	if (!header)
		return 0;
	memcpy(header, data, size);
	header[size] = '\0';
	(void)gm_expo_wants_openmetrics(header);
	free(header);
	return 0;
}

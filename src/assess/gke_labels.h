/* GKE's accelerator label values (cloud.google.com/gke-accelerator) for NVIDIA GPU models, so
 * that check can tell which label a node needs and Kubernetes manifests written for GKE can be
 * matched to the GPUs of an on-prem node. */
#ifndef GM_GKE_LABELS_H
#define GM_GKE_LABELS_H

/* The cloud.google.com/gke-accelerator value ("nvidia-tesla-t4") for a GPU name as NVML
 * reports it ("Tesla T4", "NVIDIA A100-SXM4-80GB"), or NULL when GKE has no such GPU. The
 * model token must stand alone in the name (case-insensitive), so "L4" does not match "L40S"
 * and "P4" does not match "P40". */
const char *gm_gke_accelerator_for_gpu(const char *name);

#endif

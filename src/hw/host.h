/* Host facts from sysfs, procfs and /etc under a root prefix (struct gm_root), so every
 * reader runs the same on the live host and on fixture trees: OS and kernel, command line,
 * IOMMU, kernel modules, CPU/NUMA/memory, /dev/nvidia nodes, NVIDIA PCI functions, NICs,
 * container runtimes and kubelet. */
#ifndef GM_HOST_H
#define GM_HOST_H

#include "hw/inventory.h"

/* Fills every field of host from root; facts that cannot be read become unknown with the
 * reason. Does not fail. */
void gm_host_collect(struct gm_host *host, const struct gm_root *root);

/* The parts, each filling its own fields of host (host.c, pci.c, nic.c, runtime.c). */
void gm_host_collect_os(struct gm_host *host, const struct gm_root *root);
void gm_host_collect_pci(struct gm_host *host, const struct gm_root *root);
void gm_host_collect_nics(struct gm_host *host, const struct gm_root *root);
void gm_host_collect_runtime(struct gm_host *host, const struct gm_root *root);

/* The NVIDIA PCI function at bdf (normalised), or NULL. */
const struct gm_pci_dev *gm_host_find_pci(const struct gm_host *host, const char *bdf);

#endif

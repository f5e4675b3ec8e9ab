/* The inventory: everything a migration needs to know about one GPU host, collected on the
 * cloud VM and on each on-prem server (gpumigrate.inventory/v1, doc/formats.md). It is the
 * shared model: compare, check and k8s labels read it; hw/ fills it from NVML, sysfs/procfs
 * and the container/kubelet configuration under a root prefix.
 *
 * Every field is a fact (hw/fact.h): a value, or unknown/unsupported with the reason. */
#ifndef GM_INVENTORY_H
#define GM_INVENTORY_H

#include <stddef.h>

#include "hw/fact.h"
#include "util/err.h"
#include "util/fs.h"

#define GM_INVENTORY_SCHEMA "gpumigrate.inventory/v1"

/* What the far end of an NVLink is. */
enum gm_nvlink_remote {
	GM_NVLINK_REMOTE_UNKNOWN = 0,
	GM_NVLINK_REMOTE_GPU,
	GM_NVLINK_REMOTE_SWITCH, /* NVSwitch: the GPU reaches every GPU on the same fabric */
	GM_NVLINK_REMOTE_NPU,    /* IBM NPU / CPU (Grace) */
};

/* One active NVLink of a GPU. */
struct gm_nvlink {
	unsigned link;    /* link index on this GPU */
	char *remote_bdf; /* PCI address of the far end, normalised (see gm_pci_bdf_norm) */
	enum gm_nvlink_remote remote;
};

/* One GPU as NVML (and sysfs, for NUMA/affinity) sees it. */
struct gm_gpu {
	unsigned index; /* NVML index */
	struct gm_fstr name;
	struct gm_fstr uuid;
	struct gm_fstr serial;
	struct gm_fstr bdf; /* "0000:3b:00.0", lowercase, 4-digit domain */
	struct gm_fstr vbios;
	struct gm_fint minor;     /* N of /dev/nvidiaN */
	struct gm_fbool dev_node; /* /dev/nvidiaN exists */
	struct gm_fint memory_total_bytes;
	struct gm_fstr compute_capability; /* "8.0" */
	struct gm_fint power_limit_mw;
	struct gm_fbool persistence_mode;
	struct gm_fbool ecc_enabled; /* current mode */
	struct gm_fbool mig_enabled; /* current mode */
	struct gm_fint pcie_gen_current;
	struct gm_fint pcie_gen_max; /* the lower of what GPU and slot support */
	struct gm_fint pcie_width_current;
	struct gm_fint pcie_width_max;
	struct gm_fint pcie_replay_count;
	struct gm_fint numa_node;
	struct gm_fstr cpu_affinity; /* CPU list, "0-23,48-71" */
	struct gm_fint retired_pages_sbe;
	struct gm_fint retired_pages_dbe;
	struct gm_fbool retired_pages_pending;
	struct gm_fint remapped_rows_correctable;
	struct gm_fint remapped_rows_uncorrectable;
	struct gm_fbool remapped_rows_pending;
	struct gm_fbool remapped_rows_failed;
	struct gm_fint ecc_uncorrected_volatile;
	struct gm_fact nvlink; /* whether the links below could be read */
	struct gm_nvlink *nvlinks;
	size_t n_nvlinks;
};

/* The NVIDIA driver and its GPUs. */
struct gm_nvidia {
	struct gm_fact nvml;    /* OK when NVML initialised; else why (no library, no driver …) */
	struct gm_fstr library; /* the library that was loaded */
	struct gm_fstr driver_version; /* "550.54.15" */
	struct gm_fstr nvml_version;
	struct gm_fint cuda_driver_version; /* as NVML reports it: 12040 is CUDA 12.4 */
	struct gm_gpu *gpus;
	size_t n_gpus;
};

/* An NVIDIA PCI function seen on the bus (GPU or NVSwitch), whether or not a driver runs. */
struct gm_pci_dev {
	char *bdf;
	unsigned vendor, device, class_code; /* class_code: 0x030200 = 3D controller */
	struct gm_fstr driver;    /* bound kernel driver: "nvidia", "nouveau", "vfio-pci" … */
	struct gm_fint numa_node; /* -1 when the platform does not say */
	struct gm_fint iommu_group;
	struct gm_fint sriov_totalvfs;
	struct gm_fint link_gen_current, link_gen_max, link_width_current, link_width_max;
	struct gm_fstr local_cpulist;
};

struct gm_nic {
	char *name;
	struct gm_fstr driver;
	struct gm_fstr bdf;
	struct gm_fint speed_mbps;
	struct gm_fstr operstate;
	struct gm_fint numa_node;
	struct gm_fstr rdma_device; /* mlx5_0 … when the NIC has an RDMA device */
};

struct gm_host {
	struct gm_fstr hostname;
	struct gm_fstr os_id;         /* os-release ID: "ubuntu" */
	struct gm_fstr os_version_id; /* "22.04" */
	struct gm_fstr os_pretty;
	struct gm_fstr kernel_release;
	struct gm_fstr arch;
	struct gm_fstr kernel_cmdline;
	/* IOMMU */
	struct gm_fbool iommu_enabled;     /* groups present under /sys/kernel/iommu_groups */
	struct gm_fstr iommu_vendor;       /* "intel" (DMAR/VT-d), "amd" (AMD-Vi) */
	struct gm_fbool iommu_passthrough; /* iommu=pt on the command line */
	struct gm_fint iommu_groups;
	/* kernel modules (from /proc/modules) */
	struct gm_fbool mod_nvidia, mod_nvidia_uvm, mod_nvidia_peermem, mod_nvidia_drm, mod_nouveau;
	/* CPU and memory */
	struct gm_fstr cpu_model;
	struct gm_fint cpu_sockets, cpu_cores, cpu_threads, numa_nodes;
	struct gm_fint memory_total_bytes;
	struct gm_fbool swap_on;
	/* /dev/nvidia[0-9]+ nodes present */
	struct gm_fint dev_nvidia_count;
	struct gm_fact pci_scan; /* whether the PCI devices could be listed at all */
	struct gm_pci_dev *pci;  /* NVIDIA PCI functions */
	size_t n_pci;
	struct gm_fact nic_scan; /* whether the network interfaces could be listed at all */
	struct gm_nic *nics;
	size_t n_nics;
	/* container runtimes and Kubernetes */
	struct gm_fbool docker;            /* docker daemon installed */
	struct gm_fbool docker_nvidia;     /* nvidia runtime in /etc/docker/daemon.json */
	struct gm_fbool containerd;        /* containerd installed */
	struct gm_fbool containerd_nvidia; /* nvidia runtime in containerd's config */
	struct gm_fbool nvidia_ctk;        /* nvidia-container-toolkit installed */
	struct gm_fbool kubelet;           /* kubelet binary or its config present */
	struct gm_fbool device_plugin;     /* nvidia device plugin socket in kubelet's dir */
};

struct gm_inventory {
	struct gm_fstr collected_at; /* RFC 3339, UTC */
	struct gm_fstr tool_version;
	struct gm_host host;
	struct gm_nvidia nvidia;
};

/* Where to collect from. */
struct gm_inventory_opts {
	struct gm_root root;      /* sysfs/procfs/etc prefix; "" for the live host */
	const char *nvml_library; /* NULL: $GPUMIGRATE_NVML_LIBRARY, else libnvidia-ml.so.1 */
	bool skip_nvml;
};

void gm_inventory_init(struct gm_inventory *inv);
void gm_inventory_release(struct gm_inventory *inv);

/* Collects the inventory of the host under opts->root. Never fails for missing facts (they
 * become unknown with a reason); only for out-of-memory style problems. */
enum gm_rc gm_inventory_collect(struct gm_inventory *inv, const struct gm_inventory_opts *opts,
                                struct gm_err *err);

/* JSON document (gpumigrate.inventory/v1), keys in documented order. */
void gm_inventory_to_json(const struct gm_inventory *inv, struct gm_buf *out, bool pretty);
/* Reads a document written by gm_inventory_to_json (checks the schema). */
enum gm_rc gm_inventory_load(struct gm_inventory *inv, const char *path, struct gm_err *err);
enum gm_rc gm_inventory_parse(struct gm_inventory *inv, const char *name, const char *text,
                              size_t len, struct gm_err *err);

/* Frees the contents of one GPU / PCI device / NIC. */
void gm_gpu_release(struct gm_gpu *gpu);
void gm_pci_dev_release(struct gm_pci_dev *dev);
void gm_nic_release(struct gm_nic *nic);
void gm_host_release(struct gm_host *host);
void gm_nvidia_release(struct gm_nvidia *nv);

/* Normalises a PCI address to "dddd:bb:dd.f" lowercase (NVML gives "00000000:3B:00.0").
 * Returns false when s is not a PCI address. */
bool gm_pci_bdf_norm(const char *s, struct gm_buf *out);

#endif

/* The GPU/NIC topology of one host, as `nvidia-smi topo -m` shows it: how each pair of GPUs
 * and NICs is connected (NVLink, one PCIe switch, several bridges, a host bridge, the
 * interconnect between host bridges or between CPU sockets), plus each device's CPU and
 * NUMA affinity and the findings that matter for a migration (cross-socket GPU pairs, RDMA
 * NICs far from every GPU, a cloud VM's made-up flat PCI tree).
 *
 * The PCI relations come from hwloc's tree (the live host, a saved `lstopo --of xml` file or
 * a sysfs/procfs copy below a root directory); the NVLink counts from NVML data
 * (hw/inventory.h) when there is some. This module only computes; src/cli/cmd_topo.c prints. */
#ifndef GM_TOPO_H
#define GM_TOPO_H

#include <stdbool.h>
#include <stddef.h>

#include "hw/fact.h"
#include "hw/inventory.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_TOPO_SCHEMA "gpumigrate.topo/v1"
/* A topology file larger than this is refused (GM_ERR_LIMIT); a big server's lstopo XML with
 * every I/O device is a few MiB. */
#define GM_TOPO_MAX_XML_BYTES (64 << 20)

/* How two devices are connected, best first (the order of nvidia-smi's legend). */
enum gm_link {
	GM_LINK_X = 0, /* the same device */
	GM_LINK_NV,    /* a bonded set of NVLinks (directly or through NVSwitches) */
	GM_LINK_PIX,   /* at most a single PCIe bridge/switch: both below the same switch */
	GM_LINK_PXB,   /* several PCIe bridges, without the host bridge */
	GM_LINK_PHB,   /* through a PCIe host bridge (root complex), same one for both */
	GM_LINK_NODE,  /* different host bridges within one NUMA node */
	GM_LINK_SYS,   /* across NUMA nodes: the SMP interconnect (UPI, Infinity Fabric) */
};

enum gm_topo_kind {
	GM_TOPO_GPU = 0, /* NVIDIA PCI function of class 0300 (VGA) or 0302 (3D controller) */
	GM_TOPO_NIC,     /* PCI network device (class 02xx) or one with an RDMA device */
};

/* One GPU or NIC of the matrix. */
struct gm_topo_dev {
	enum gm_topo_kind kind;
	char *name; /* "GPU0" (PCI order, or the NVML index once matched), "mlx5_0", "eth0" */
	char *bdf;  /* "0000:07:00.0" */
	unsigned vendor, device;
	unsigned class_id;           /* 16 bits: 0x0302 is a 3D controller, 0x0207 InfiniBand */
	char *rdma;                  /* RDMA (OpenFabrics) device, "mlx5_0"; NULL when none */
	char *netdev;                /* first network interface, "ens4"; NULL when none */
	int nvml_index;              /* GPUs matched to NVML by PCI address; -1 otherwise */
	struct gm_fint numa_node;    /* the one NUMA node the device is local to */
	struct gm_fstr cpu_affinity; /* CPU list of the nearest CPU-side object, "0-31,64-95" */
};

/* One cell of the matrix. */
struct gm_topo_cell {
	enum gm_link link; /* what nvidia-smi shows: NV when there are NVLinks, else pci */
	unsigned nv;       /* number of NVLinks when link is GM_LINK_NV */
	enum gm_link pci;  /* the PCI relation underneath (X on the diagonal) */
};

struct gm_topo {
	char *source; /* "live", "xml:<file>", "sysroot:<dir>" */
	/* GPUs first (by PCI address), then NICs (by PCI address) */
	struct gm_topo_dev *devs;
	size_t n_devs;
	size_t n_gpus;
	struct gm_topo_cell *cells; /* n_devs * n_devs, row-major; symmetric */
	/* platform: DMI product/vendor as hwloc reports them (NULL when absent) */
	char *platform;
	bool virtual_machine; /* DMI names a hypervisor or cloud VM */
	bool flat_pci;        /* every GPU/NIC sits directly below a host bridge */
	/* NVLink data applied by gm_topo_apply_nvlink */
	struct gm_fact nvlink; /* OK once NVML data was applied; else why not */
	/* Findings for a migration, in a stable order; recomputed after NVLink data. */
	char **warnings;
	size_t n_warnings;
	char *nvml_note; /* kept across recomputation: GPUs NVML and hwloc disagree on */
};

/* Where to read the topology from. With neither set, HWLOC_XMLFILE (then HWLOC_FSROOT) from
 * the environment is honoured as hwloc itself does, else the live host. An explicit option
 * wins over the environment. */
struct gm_topo_opts {
	const char *xml_path; /* a file written by `lstopo --of xml FILE` */
	const char *sysroot;  /* a directory holding a copy of /sys and /proc; "" or "/": live */
};

/* No allocation; accepts NULL. */
void gm_topo_init(struct gm_topo *t);
/* Frees the contents; the struct is left initialised. Accepts NULL. */
void gm_topo_release(struct gm_topo *t);

/* Loads the topology and computes the PCI matrix, affinities and warnings. Errors:
 * GM_ERR_NOT_FOUND (the XML file or sysroot does not exist), GM_ERR_USAGE (not a regular
 * file / directory, or unreadable), GM_ERR_LIMIT (file too large), GM_ERR_PARSE (the XML is
 * not an hwloc topology), GM_ERR_IO (hwloc cannot load the topology). Briefly changes HWLOC_XMLFILE
 * and HWLOC_FSROOT in the environment while hwloc loads (its only way to take a root
 * directory), so it must not run concurrently with other environment users. */
enum gm_rc gm_topo_load(struct gm_topo *t, const struct gm_topo_opts *opts, struct gm_err *err);

/* Applies NVML's NVLink data: each GPU is matched to an NVML GPU by PCI address; a pair gets
 * NV<n> where n counts the links of one GPU whose far end is the other, plus, when both GPUs
 * have links to NVSwitches, the smaller of their switch link counts (NV12 on A100 HGX,
 * NV18 on H100 HGX). A GPU's NUMA node or CPU list that hwloc could not tell (a VM's flat
 * PCI tree) is taken from NVML. Names become GPU<NVML index> when every GPU matched; GPUs
 * NVML does not list become a warning. nv may be NULL or hold no usable NVML data: then only
 * t->nvlink records why and the PCI relations stay. Recomputes the warnings. */
void gm_topo_apply_nvlink(struct gm_topo *t, const struct gm_nvidia *nv);

/* The cell for devices (row, col); both < t->n_devs. */
const struct gm_topo_cell *gm_topo_cell(const struct gm_topo *t, size_t row, size_t col);

/* "X", "NV", "PIX", "PXB", "PHB", "NODE", "SYS". */
const char *gm_topo_link_name(enum gm_link link);
/* What nvidia-smi writes in a cell: "X", "NV12", "PIX" … (appended to out). */
void gm_topo_cell_str(const struct gm_topo_cell *cell, struct gm_buf *out);
/* The legend line for a link ("Connection traversing at most a single PCIe bridge"). */
const char *gm_topo_link_meaning(enum gm_link link);

/* JSON document gpumigrate.topo/v1: schema, source, devices (name, kind, bdf, numa_node,
 * cpu_affinity; null when unknown), matrix (cell strings, rows as devices), warnings. */
void gm_topo_to_json(const struct gm_topo *t, struct gm_buf *out, bool pretty);

#endif

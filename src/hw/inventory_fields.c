/* The field tables of the inventory model (see inventory_fields.h). The order here is the
 * documented key order of gpumigrate.inventory/v1 (doc/formats.md). */
#include "hw/inventory_fields.h"

#include "util/banned.h"

#define S(key, type, member)                              \
	{                                                 \
		key, GM_FIELD_STR, offsetof(type, member) \
	}
#define I(key, type, member)                              \
	{                                                 \
		key, GM_FIELD_INT, offsetof(type, member) \
	}
#define B(key, type, member)                               \
	{                                                  \
		key, GM_FIELD_BOOL, offsetof(type, member) \
	}
#define END                           \
	{                             \
		NULL, GM_FIELD_STR, 0 \
	}

const struct gm_field gm_inventory_fields[] = {
        S("collected_at", struct gm_inventory, collected_at),
        S("tool_version", struct gm_inventory, tool_version),
        END,
};

const struct gm_field gm_host_fields[] = {
        S("hostname", struct gm_host, hostname),
        S("os_id", struct gm_host, os_id),
        S("os_version_id", struct gm_host, os_version_id),
        S("os_pretty_name", struct gm_host, os_pretty),
        S("kernel_release", struct gm_host, kernel_release),
        S("arch", struct gm_host, arch),
        S("kernel_cmdline", struct gm_host, kernel_cmdline),
        B("iommu_enabled", struct gm_host, iommu_enabled),
        S("iommu_vendor", struct gm_host, iommu_vendor),
        B("iommu_passthrough", struct gm_host, iommu_passthrough),
        I("iommu_groups", struct gm_host, iommu_groups),
        B("module_nvidia", struct gm_host, mod_nvidia),
        B("module_nvidia_uvm", struct gm_host, mod_nvidia_uvm),
        B("module_nvidia_peermem", struct gm_host, mod_nvidia_peermem),
        B("module_nvidia_drm", struct gm_host, mod_nvidia_drm),
        B("module_nouveau", struct gm_host, mod_nouveau),
        S("cpu_model", struct gm_host, cpu_model),
        I("cpu_sockets", struct gm_host, cpu_sockets),
        I("cpu_cores", struct gm_host, cpu_cores),
        I("cpu_threads", struct gm_host, cpu_threads),
        I("numa_nodes", struct gm_host, numa_nodes),
        I("memory_total_bytes", struct gm_host, memory_total_bytes),
        B("swap_on", struct gm_host, swap_on),
        I("dev_nvidia_count", struct gm_host, dev_nvidia_count),
        B("docker", struct gm_host, docker),
        B("docker_nvidia_runtime", struct gm_host, docker_nvidia),
        B("containerd", struct gm_host, containerd),
        B("containerd_nvidia_runtime", struct gm_host, containerd_nvidia),
        B("nvidia_container_toolkit", struct gm_host, nvidia_ctk),
        B("kubelet", struct gm_host, kubelet),
        B("nvidia_device_plugin", struct gm_host, device_plugin),
        END,
};

const struct gm_field gm_pci_dev_fields[] = {
        S("driver", struct gm_pci_dev, driver),
        I("numa_node", struct gm_pci_dev, numa_node),
        I("iommu_group", struct gm_pci_dev, iommu_group),
        I("sriov_totalvfs", struct gm_pci_dev, sriov_totalvfs),
        I("link_gen_current", struct gm_pci_dev, link_gen_current),
        I("link_gen_max", struct gm_pci_dev, link_gen_max),
        I("link_width_current", struct gm_pci_dev, link_width_current),
        I("link_width_max", struct gm_pci_dev, link_width_max),
        S("local_cpulist", struct gm_pci_dev, local_cpulist),
        END,
};

const struct gm_field gm_nic_fields[] = {
        S("driver", struct gm_nic, driver),
        S("bdf", struct gm_nic, bdf),
        I("speed_mbps", struct gm_nic, speed_mbps),
        S("operstate", struct gm_nic, operstate),
        I("numa_node", struct gm_nic, numa_node),
        S("rdma_device", struct gm_nic, rdma_device),
        END,
};

const struct gm_field gm_nvidia_fields[] = {
        S("library", struct gm_nvidia, library),
        S("driver_version", struct gm_nvidia, driver_version),
        S("nvml_version", struct gm_nvidia, nvml_version),
        I("cuda_driver_version", struct gm_nvidia, cuda_driver_version),
        END,
};

const struct gm_field gm_gpu_fields[] = {
        S("name", struct gm_gpu, name),
        S("uuid", struct gm_gpu, uuid),
        S("serial", struct gm_gpu, serial),
        S("bdf", struct gm_gpu, bdf),
        S("vbios", struct gm_gpu, vbios),
        I("minor", struct gm_gpu, minor),
        B("dev_node", struct gm_gpu, dev_node),
        I("memory_total_bytes", struct gm_gpu, memory_total_bytes),
        S("compute_capability", struct gm_gpu, compute_capability),
        I("power_limit_mw", struct gm_gpu, power_limit_mw),
        B("persistence_mode", struct gm_gpu, persistence_mode),
        B("ecc_enabled", struct gm_gpu, ecc_enabled),
        B("mig_enabled", struct gm_gpu, mig_enabled),
        I("pcie_gen_current", struct gm_gpu, pcie_gen_current),
        I("pcie_gen_max", struct gm_gpu, pcie_gen_max),
        I("pcie_width_current", struct gm_gpu, pcie_width_current),
        I("pcie_width_max", struct gm_gpu, pcie_width_max),
        I("pcie_replay_count", struct gm_gpu, pcie_replay_count),
        I("numa_node", struct gm_gpu, numa_node),
        S("cpu_affinity", struct gm_gpu, cpu_affinity),
        I("retired_pages_sbe", struct gm_gpu, retired_pages_sbe),
        I("retired_pages_dbe", struct gm_gpu, retired_pages_dbe),
        B("retired_pages_pending", struct gm_gpu, retired_pages_pending),
        I("remapped_rows_correctable", struct gm_gpu, remapped_rows_correctable),
        I("remapped_rows_uncorrectable", struct gm_gpu, remapped_rows_uncorrectable),
        B("remapped_rows_pending", struct gm_gpu, remapped_rows_pending),
        B("remapped_rows_failed", struct gm_gpu, remapped_rows_failed),
        I("ecc_uncorrected_volatile", struct gm_gpu, ecc_uncorrected_volatile),
        END,
};

struct gm_fact *gm_field_fact(void *base, const struct gm_field *f)
{
	/* every fact type starts with its struct gm_fact */
	return (struct gm_fact *)((char *)base + f->offset);
}

void gm_fields_release(void *base, const struct gm_field *fields)
{
	for (const struct gm_field *f = fields; f->key; f++) {
		if (f->type == GM_FIELD_STR)
			gm_fstr_release((struct gm_fstr *)gm_field_fact(base, f));
		else
			gm_fact_release(gm_field_fact(base, f));
	}
}

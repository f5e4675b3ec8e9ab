/* Rules about the host around the GPUs: IOMMU (translated vs passthrough, groups for VFIO),
 * NUMA placement of GPUs and RDMA NICs, and the Anthos / Google Distributed Cloud bare metal
 * prerequisites that can be read locally (OS release, swap, time sync, required ports). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assess/check.h"
#include "util/banned.h"

static bool os_is(const struct gm_host *h, const char *id)
{
	return gm_fact_ok(&h->os_id.f) && h->os_id.v && strcmp(h->os_id.v, id) == 0;
}

static bool redhat_like(const struct gm_host *h)
{
	return os_is(h, "rhel") || os_is(h, "rocky") || os_is(h, "centos") ||
	       os_is(h, "almalinux") || os_is(h, "fedora");
}

/* "intel" or "amd": what the kernel reported, else guessed from the CPU. */
static const char *iommu_vendor(const struct gm_host *h)
{
	if (gm_fact_ok(&h->iommu_vendor.f) && h->iommu_vendor.v && *h->iommu_vendor.v)
		return h->iommu_vendor.v;
	if (gm_fact_ok(&h->cpu_model.f) && h->cpu_model.v && strstr(h->cpu_model.v, "AMD"))
		return "amd";
	return "intel";
}

/* The kernel command-line change and how to apply it on this OS. */
static void grub_hint(const struct gm_host *h, const char *args, struct gm_check_result *r)
{
	if (redhat_like(h))
		gm_check_hint(r, "sudo grubby --update-kernel=ALL --args=\"%s\" && sudo reboot",
		              args);
	else
		gm_check_hint(r,
		              "set GRUB_CMDLINE_LINUX=\"... %s\" in /etc/default/grub, then sudo "
		              "update-grub && sudo reboot",
		              args);
}

/* SKIP with the reason when the IOMMU state was not read; true when it did (the rule returns). */
static bool iommu_unknown(const struct gm_host *h, struct gm_check_result *r)
{
	if (gm_fact_ok(&h->iommu_enabled.f))
		return false;
	gm_check_skip(r, "IOMMU state unknown: %s",
	              h->iommu_enabled.f.why ? h->iommu_enabled.f.why : "not collected");
	return true;
}

static void iommu_enabled(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	const char *v = iommu_vendor(h);
	if (iommu_unknown(h, r))
		return;
	if (h->iommu_enabled.v) {
		if (gm_fact_ok(&h->iommu_groups.f))
			gm_check_set(r, GM_CHECK_PASS, "IOMMU on (%s), %" PRId64 " groups", v,
			             h->iommu_groups.v);
		else
			gm_check_set(r, GM_CHECK_PASS, "IOMMU on (%s)", v);
		return;
	}
	gm_check_set(r, GM_CHECK_FAIL,
	             "IOMMU off (no groups in /sys/kernel/iommu_groups): VFIO "
	             "cannot pass GPUs to VMs");
	grub_hint(h, strcmp(v, "amd") == 0 ? "amd_iommu=on iommu=pt" : "intel_iommu=on iommu=pt",
	          r);
	gm_buf_addf(&r->hint, "; enable %s in the firmware setup",
	            strcmp(v, "amd") == 0 ? "AMD-Vi (IOMMU)" : "VT-d");
}

static void iommu_passthrough(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	const char *v = iommu_vendor(h);
	if (iommu_unknown(h, r))
		return;
	if (!h->iommu_enabled.v) {
		gm_check_set(r, GM_CHECK_PASS, "IOMMU off: device DMA is not translated");
		return;
	}
	if (!gm_fact_ok(&h->iommu_passthrough.f)) {
		gm_check_skip(r, "kernel command line unknown: %s",
		              h->iommu_passthrough.f.why ? h->iommu_passthrough.f.why : "?");
		return;
	}
	if (h->iommu_passthrough.v) {
		gm_check_set(r, GM_CHECK_PASS, "IOMMU on (%s) in passthrough mode (iommu=pt)", v);
		return;
	}
	gm_check_set(r, GM_CHECK_WARN,
	             "IOMMU on (%s) in translated mode without iommu=pt: GPUDirect RDMA and P2P "
	             "transfers go through the IOMMU and lose bandwidth",
	             v);
	grub_hint(h, strcmp(v, "amd") == 0 ? "iommu=pt" : "intel_iommu=on iommu=pt", r);
}

/* The GPU functions (class 0x03) for VFIO. */
static bool is_gpu(const struct gm_pci_dev *d)
{
	return (d->class_code >> 16) == 0x03;
}

static void iommu_groups(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	struct gm_buf shared = GM_BUF_INIT, unbound = GM_BUF_INIT, ids = GM_BUF_INIT;
	size_t gpus = 0, n_shared = 0, n_unbound = 0;
	if (gm_fact_ok(&h->iommu_enabled.f) && !h->iommu_enabled.v) {
		gm_check_set(r, GM_CHECK_FAIL, "IOMMU off: no IOMMU groups to pass through");
		gm_check_hint(r, "turn the IOMMU on first (see iommu.enabled)");
		goto out;
	}
	for (size_t i = 0; i < h->n_pci; i++) {
		const struct gm_pci_dev *a = &h->pci[i];
		if (!is_gpu(a))
			continue;
		gpus++;
		if (!gm_fact_ok(&a->driver.f) || !a->driver.v ||
		    strcmp(a->driver.v, "vfio-pci") != 0) {
			gm_buf_addf(&unbound, "%s%s (%s)", n_unbound ? ", " : "", a->bdf,
			            gm_fact_ok(&a->driver.f) && a->driver.v && *a->driver.v
			                    ? a->driver.v
			                    : "no driver");
			n_unbound++;
			char id[16];
			int len = snprintf(id, sizeof(id), "10de:%04x", a->device);
			if (len > 0 && !strstr(gm_buf_cstr(&ids), id))
				gm_buf_addf(&ids, "%s%s", ids.len ? "," : "", id);
		}
		if (!gm_fact_ok(&a->iommu_group.f))
			continue;
		for (size_t k = i + 1; k < h->n_pci; k++) {
			const struct gm_pci_dev *b = &h->pci[k];
			if (is_gpu(b) && gm_fact_ok(&b->iommu_group.f) &&
			    b->iommu_group.v == a->iommu_group.v) {
				gm_buf_addf(&shared, "%s%s and %s share group %" PRId64,
				            n_shared ? "; " : "", a->bdf, b->bdf, a->iommu_group.v);
				n_shared++;
			}
		}
	}
	if (!gpus) {
		gm_check_skip(r, "no NVIDIA GPU on the PCI bus");
	} else if (n_shared) {
		gm_check_set(r, GM_CHECK_FAIL, "%s: those GPUs can only go to the same VM",
		             gm_buf_cstr(&shared));
		gm_check_hint(r,
		              "move the GPUs to slots behind different root ports or enable ACS "
		              "in the firmware setup (pcie_acs_override only hides the problem)");
	} else if (n_unbound) {
		gm_check_set(r, GM_CHECK_WARN,
		             "%zu GPUs in separate groups; not bound to vfio-pci: %s", gpus,
		             gm_buf_cstr(&unbound));
		gm_check_hint(
		        r,
		        "echo 'options vfio-pci ids=%s' | sudo tee /etc/modprobe.d/vfio.conf && "
		        "sudo %s && sudo reboot",
		        gm_buf_cstr(&ids),
		        redhat_like(h) ? "dracut --force" : "update-initramfs -u");
	} else {
		gm_check_set(r, GM_CHECK_PASS,
		             "%zu GPUs, each in its own IOMMU group, bound to "
		             "vfio-pci",
		             gpus);
	}
out:
	gm_buf_release(&shared);
	gm_buf_release(&unbound);
	gm_buf_release(&ids);
}

/* The i-th GPU's label and NUMA node: NVML's GPUs when the driver answers, else the GPUs on
 * the PCI bus. False past the end; *node is -1 when unknown. */
static bool gpu_numa(const struct gm_inventory *inv, size_t i, struct gm_buf *label, int64_t *node)
{
	gm_buf_reset(label);
	*node = -1;
	if (gm_check_have_gpus(inv)) {
		if (i >= inv->nvidia.n_gpus)
			return false;
		const struct gm_gpu *g = &inv->nvidia.gpus[i];
		gm_check_gpu_label(g, label);
		if (gm_fact_ok(&g->numa_node.f))
			*node = g->numa_node.v;
		return true;
	}
	size_t k = 0;
	for (size_t j = 0; j < inv->host.n_pci; j++) {
		const struct gm_pci_dev *d = &inv->host.pci[j];
		if (!is_gpu(d) || k++ != i)
			continue;
		gm_buf_addf(label, "GPU at %s", d->bdf);
		if (gm_fact_ok(&d->numa_node.f))
			*node = d->numa_node.v;
		return true;
	}
	return false;
}

static void numa_gpu_nic(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_inventory *inv = ctx->inv;
	const struct gm_host *h = &inv->host;
	struct gm_buf sys = GM_BUF_INIT, nics = GM_BUF_INIT;
	size_t n_rdma = 0, n_sys = 0, n_local = 0, n_unknown = 0;
	for (size_t k = 0; k < h->n_nics; k++) {
		const struct gm_nic *n = &h->nics[k];
		if (!gm_fact_ok(&n->rdma_device.f) || !n->rdma_device.v || !*n->rdma_device.v)
			continue;
		n_rdma++;
		if (gm_fact_ok(&n->numa_node.f))
			gm_buf_addf(&nics, "%s%s/%s node %" PRId64, nics.len ? ", " : "", n->name,
			            n->rdma_device.v, n->numa_node.v);
		else
			gm_buf_addf(&nics, "%s%s/%s node ?", nics.len ? ", " : "", n->name,
			            n->rdma_device.v);
	}
	if (!n_rdma) {
		gm_check_skip(r, "no RDMA NIC (GPUDirect RDMA not possible on this host)");
		goto out;
	}
	if (gm_fact_ok(&h->numa_nodes.f) && h->numa_nodes.v <= 1) {
		gm_check_set(r, GM_CHECK_PASS, "one NUMA node: GPUs and %zu RDMA NIC%s share it",
		             n_rdma, n_rdma == 1 ? "" : "s");
		goto out;
	}
	struct gm_buf label = GM_BUF_INIT;
	int64_t node = -1;
	size_t n_gpus = 0;
	for (size_t i = 0; gpu_numa(inv, i, &label, &node); i++) {
		n_gpus++;
		if (node < 0) {
			n_unknown++;
			continue;
		}
		bool local = false;
		struct gm_buf pairs = GM_BUF_INIT;
		for (size_t k = 0; k < h->n_nics; k++) {
			const struct gm_nic *n = &h->nics[k];
			if (!gm_fact_ok(&n->rdma_device.f) || !n->rdma_device.v ||
			    !*n->rdma_device.v)
				continue;
			if (!gm_fact_ok(&n->numa_node.f) || n->numa_node.v < 0)
				continue;
			if (n->numa_node.v == node)
				local = true;
			else
				gm_buf_addf(&pairs, "%s%s (node %" PRId64 ")",
				            pairs.len ? ", " : "", n->rdma_device.v,
				            n->numa_node.v);
		}
		if (local) {
			n_local++;
		} else if (pairs.len) {
			gm_buf_addf(&sys, "%s%s, node %" PRId64 " - %s", n_sys ? "; " : "",
			            gm_buf_cstr(&label), node, gm_buf_cstr(&pairs));
			n_sys++;
		} else {
			n_unknown++;
		}
		gm_buf_release(&pairs);
	}
	gm_buf_release(&label);
	if (!n_gpus) {
		gm_check_skip(r, "no NVIDIA GPU on the PCI bus or in NVML");
	} else if (n_sys) {
		gm_check_set(r, GM_CHECK_WARN, "SYS pairs (no RDMA NIC on the GPU's NUMA node): %s",
		             gm_buf_cstr(&sys));
		gm_check_hint(r, "put an RDMA NIC on each GPU's NUMA node (a slot on that socket), "
		                 "or pin jobs so NCCL pairs GPUs with near NICs; confirm with "
		                 "'nvidia-smi topo -m' or 'gpumigrate topo'");
	} else if (n_local) {
		gm_check_set(r, GM_CHECK_PASS,
		             "%zu GPU%s with an RDMA NIC on the same NUMA node (%s)", n_local,
		             n_local == 1 ? "" : "s", gm_buf_cstr(&nics));
	} else {
		gm_check_skip(r, "NUMA node of the GPUs or NICs unknown (%zu GPU%s)", n_unknown,
		              n_unknown == 1 ? "" : "s");
	}
out:
	gm_buf_release(&sys);
	gm_buf_release(&nics);
}

const struct gm_check_rule gm_check_rules_host[] = {
        {"iommu.enabled", "IOMMU on (VT-d / AMD-Vi) for VFIO", GM_P(GM_PROFILE_VM), iommu_enabled},
        {"iommu.passthrough", "iommu=pt when the IOMMU is on", GM_P_DRIVER, iommu_passthrough},
        {"iommu.groups", "each GPU in its own IOMMU group, bound to vfio-pci", GM_P(GM_PROFILE_VM),
         iommu_groups},
        {"numa.gpu-nic", "GPUs and RDMA NICs on the same NUMA node", GM_P_DRIVER, numa_gpu_nic},
        {NULL, NULL, 0, NULL},
};

/* Anthos / Google Distributed Cloud (software only) for bare metal. */

/* Supported node OS releases, from "Select your operating system" / os-reqs,
 * https://cloud.google.com/kubernetes-engine/distributed-cloud/bare-metal/docs/installing/os-reqs
 * (1.30-1.32 era): Ubuntu 20.04/22.04/24.04 LTS, RHEL 8 and 9, Rocky Linux 8 and 9. */
static const struct {
	const char *id;
	const char *version; /* exact, or "8." as a major-version prefix */
} anthos_os[] = {
        {"ubuntu", "20.04"}, {"ubuntu", "22.04"}, {"ubuntu", "24.04"}, {"rhel", "8."},
        {"rhel", "9."},      {"rocky", "8."},     {"rocky", "9."},
};

static void anthos_os_rule(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	if (!gm_fact_ok(&h->os_id.f) || !gm_fact_ok(&h->os_version_id.f)) {
		gm_check_skip(r, "OS release unknown: %s",
		              h->os_id.f.why           ? h->os_id.f.why
		              : h->os_version_id.f.why ? h->os_version_id.f.why
		                                       : "?");
		return;
	}
	const char *id = h->os_id.v ? h->os_id.v : "";
	const char *ver = h->os_version_id.v ? h->os_version_id.v : "";
	for (size_t i = 0; i < sizeof(anthos_os) / sizeof(anthos_os[0]); i++) {
		const char *want = anthos_os[i].version;
		size_t n = strlen(want);
		bool match;
		if (want[n - 1] == '.') /* major version: "8.6", "8" */
			match = strncmp(ver, want, n) == 0 ||
			        (strncmp(ver, want, n - 1) == 0 && ver[n - 1] == '\0');
		else
			match = strcmp(ver, want) == 0;
		if (strcmp(id, anthos_os[i].id) == 0 && match) {
			if (gm_fact_ok(&h->os_pretty.f) && h->os_pretty.v && *h->os_pretty.v)
				gm_check_set(r, GM_CHECK_PASS, "%s is supported", h->os_pretty.v);
			else
				gm_check_set(r, GM_CHECK_PASS, "%s %s is supported", id, ver);
			return;
		}
	}
	gm_check_set(r, GM_CHECK_FAIL, "%s %s is not a supported node OS", id, ver);
	gm_check_hint(r, "reinstall with Ubuntu 20.04/22.04/24.04 LTS, RHEL 8/9 or Rocky Linux 8/9 "
	                 "(https://cloud.google.com/kubernetes-engine/distributed-cloud/bare-metal/"
	                 "docs/installing/os-reqs)");
}

static void anthos_swap(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_fbool *s = &ctx->inv->host.swap_on;
	if (!gm_fact_ok(&s->f)) {
		gm_check_skip(r, "swap state unknown: %s", s->f.why ? s->f.why : "?");
	} else if (!s->v) {
		gm_check_set(r, GM_CHECK_PASS, "swap off");
	} else {
		gm_check_set(r, GM_CHECK_FAIL, "swap on: the kubelet refuses to start with swap");
		gm_check_hint(r, "sudo swapoff -a && sudo sed -i '/\\sswap\\s/s/^/#/' /etc/fstab");
	}
}

static void anthos_time_sync(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	if (!ctx->ev) {
		gm_check_skip(r, "process list not in a saved inventory (run check on the host)");
		return;
	}
	const struct gm_fstr *t = &ctx->ev->time_sync;
	if (!gm_fact_ok(&t->f)) {
		gm_check_skip(r, "process list unknown: %s", t->f.why ? t->f.why : "?");
	} else if (t->v && *t->v) {
		gm_check_set(r, GM_CHECK_PASS, "%s running", t->v);
	} else {
		gm_check_set(r, GM_CHECK_FAIL,
		             "no time-sync daemon running (chronyd, ntpd, "
		             "systemd-timesyncd): etcd and certificates need "
		             "synchronised clocks");
		if (redhat_like(h))
			gm_check_hint(r,
			              "sudo dnf install -y chrony && sudo systemctl enable --now "
			              "chronyd");
		else
			gm_check_hint(
			        r, "sudo apt-get install -y chrony && sudo systemctl enable --now "
			           "chrony");
	}
}

/* TCP ports the cluster's components listen on; something else holding one makes the install
 * or a component fail. From "Network requirements", Port usage (control plane, worker and load
 * balancer nodes), https://cloud.google.com/kubernetes-engine/distributed-cloud/bare-metal/
 * docs/concepts/network-reqs. Port 22 is left out: sshd must listen there for bmctl. */
static const struct {
	unsigned lo, hi;
	const char *what;
} anthos_ports[] = {
        {2379, 2381, "etcd"},
        {2382, 2384, "etcd-events"},
        {4240, 4240, "CNI health check"},
        {6444, 6444, "Kubernetes API server"},
        {7946, 7946, "MetalLB"},
        {9100, 9100, "auth-proxy (node metrics)"},
        {9443, 9443, "control plane metrics"},
        {9977, 9977, "audit events"},
        {10250, 10250, "kubelet API"},
        {10256, 10256, "node health check"},
        {10257, 10257, "kube-controller-manager"},
        {10259, 10259, "kube-scheduler"},
        {14443, 14443, "ANG webhook"},
};

static void anthos_ports_rule(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	struct gm_buf used = GM_BUF_INIT, filter = GM_BUF_INIT;
	size_t n_used = 0, n_ports = 0;
	if (!ctx->ev) {
		gm_check_skip(r,
		              "listening ports not in a saved inventory (run check on the host)");
		return;
	}
	if (!gm_fact_ok(&ctx->ev->tcp)) {
		gm_check_skip(r, "%s", ctx->ev->tcp.why ? ctx->ev->tcp.why : "ports unknown");
		return;
	}
	for (size_t i = 0; i < sizeof(anthos_ports) / sizeof(anthos_ports[0]); i++) {
		for (unsigned p = anthos_ports[i].lo; p <= anthos_ports[i].hi; p++) {
			n_ports++;
			if (!gm_evidence_port_listening(ctx->ev, p))
				continue;
			gm_buf_addf(&used, "%s%u (%s)", n_used ? ", " : "", p,
			            anthos_ports[i].what);
			gm_buf_addf(&filter, "%ssport = :%u", n_used ? " or " : "", p);
			n_used++;
		}
	}
	bool kubelet = gm_fact_ok(&h->kubelet.f) && h->kubelet.v;
	if (!n_used) {
		gm_check_set(r, GM_CHECK_PASS, "all %zu required TCP ports free", n_ports);
	} else if (kubelet) {
		gm_check_set(
		        r, GM_CHECK_WARN,
		        "in use: %s; a kubelet is installed, so a cluster may already run here",
		        gm_buf_cstr(&used));
		gm_check_hint(r,
		              "sudo ss -ltnp '( %s )' shows the owners; reset an old cluster "
		              "with bmctl reset before installing",
		              gm_buf_cstr(&filter));
	} else {
		gm_check_set(r, GM_CHECK_FAIL, "in use: %s", gm_buf_cstr(&used));
		gm_check_hint(r, "sudo ss -ltnp '( %s )' shows the owners; stop and disable them",
		              gm_buf_cstr(&filter));
	}
	gm_buf_release(&used);
	gm_buf_release(&filter);
}

const struct gm_check_rule gm_check_rules_anthos[] = {
        {"anthos.os", "supported OS release for GDC bare metal", GM_P(GM_PROFILE_ANTHOS),
         anthos_os_rule},
        {"anthos.swap", "swap off", GM_P(GM_PROFILE_ANTHOS), anthos_swap},
        {"anthos.time-sync", "time synchronisation running", GM_P(GM_PROFILE_ANTHOS),
         anthos_time_sync},
        {"anthos.ports", "required TCP ports free", GM_P(GM_PROFILE_ANTHOS), anthos_ports_rule},
        {NULL, NULL, 0, NULL},
};

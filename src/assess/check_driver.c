/* Rules about the NVIDIA driver: kernel module, nouveau, /dev nodes, NVML, nvidia_uvm, the
 * driver against the required CUDA release, persistence mode. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "assess/check.h"
#include "util/banned.h"

/* NVIDIA display/3D controllers on the bus (class 0x03xxxx), whatever driver is bound. */
static size_t pci_gpus(const struct gm_host *h)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n_pci; i++)
		if ((h->pci[i].class_code >> 16) == 0x03)
			n++;
	return n;
}

static const char *nvml_why(const struct gm_nvidia *nv)
{
	return nv->nvml.why ? nv->nvml.why : "NVML not collected";
}

/* Whether NVML failed because no driver is installed (rather than not loaded). */
static bool driver_missing(const struct gm_nvidia *nv)
{
	return !gm_fact_ok(&nv->nvml) && nv->nvml.why && strstr(nv->nvml.why, "no NVIDIA driver");
}

static void loaded(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	if (gm_fact_ok(&h->mod_nvidia.f) && h->mod_nvidia.v) {
		if (gm_fact_ok(&nv->driver_version.f))
			gm_check_set(r, GM_CHECK_PASS, "nvidia module loaded, driver %s",
			             nv->driver_version.v);
		else
			gm_check_set(r, GM_CHECK_PASS, "nvidia module loaded");
		return;
	}
	if (!gm_fact_ok(&h->mod_nvidia.f) && gm_fact_ok(&nv->nvml)) {
		gm_check_set(r, GM_CHECK_PASS, "NVML works (module list unreadable: %s)",
		             h->mod_nvidia.f.why ? h->mod_nvidia.f.why : "unknown");
		return;
	}
	if (gm_fact_ok(&h->mod_nvidia.f))
		gm_check_set(r, GM_CHECK_FAIL, "nvidia kernel module not loaded; %s", nvml_why(nv));
	else
		gm_check_set(r, GM_CHECK_FAIL, "%s", nvml_why(nv));
	if (driver_missing(nv))
		gm_check_driver_install_hint(ctx->inv, 0, &r->hint);
	else
		gm_check_hint(r, "sudo modprobe nvidia");
}

static void nouveau(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	struct gm_buf bound = GM_BUF_INIT;
	size_t n = 0;
	for (size_t i = 0; i < h->n_pci; i++) {
		const struct gm_pci_dev *d = &h->pci[i];
		if (gm_fact_ok(&d->driver.f) && d->driver.v &&
		    strcmp(d->driver.v, "nouveau") == 0) {
			gm_buf_addf(&bound, "%s%s", n ? ", " : "", d->bdf);
			n++;
		}
	}
	const char *os = gm_fact_ok(&h->os_id.f) && h->os_id.v ? h->os_id.v : "";
	bool dracut = strcmp(os, "rhel") == 0 || strcmp(os, "rocky") == 0 ||
	              strcmp(os, "centos") == 0 || strcmp(os, "almalinux") == 0 ||
	              strcmp(os, "fedora") == 0;
	const char *regen = dracut ? "dracut --force" : "update-initramfs -u";
	if (n) {
		gm_check_set(r, GM_CHECK_FAIL, "nouveau bound to %s", gm_buf_cstr(&bound));
		gm_check_hint(
		        r,
		        "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo "
		        "tee /etc/modprobe.d/blacklist-nouveau.conf && sudo %s && sudo reboot",
		        regen);
	} else if (gm_fact_ok(&h->mod_nouveau.f) && h->mod_nouveau.v) {
		gm_check_set(r, GM_CHECK_WARN,
		             "nouveau module loaded (bound to no NVIDIA device); it can grab a GPU "
		             "after a driver reload");
		gm_check_hint(
		        r,
		        "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo "
		        "tee /etc/modprobe.d/blacklist-nouveau.conf && sudo %s && sudo reboot",
		        regen);
	} else if (gm_fact_ok(&h->mod_nouveau.f)) {
		gm_check_set(r, GM_CHECK_PASS, "nouveau not loaded");
	} else if (h->n_pci) {
		gm_check_set(r, GM_CHECK_PASS, "nouveau bound to none of %zu NVIDIA devices",
		             h->n_pci);
	} else {
		gm_check_skip(r, "module list unreadable: %s",
		              h->mod_nouveau.f.why ? h->mod_nouveau.f.why : "unknown");
	}
	gm_buf_release(&bound);
}

static void dev_nodes(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	bool nvml = gm_fact_ok(&nv->nvml);
	size_t want = nvml ? nv->n_gpus : pci_gpus(h);
	const char *from = nvml ? "NVML" : "the PCI bus";
	if (!gm_fact_ok(&h->dev_nvidia_count.f)) {
		gm_check_skip(r, "/dev/nvidiaN unreadable: %s",
		              h->dev_nvidia_count.f.why ? h->dev_nvidia_count.f.why : "unknown");
		return;
	}
	if (want == 0) {
		gm_check_skip(r, "no NVIDIA GPU on the PCI bus or in NVML");
		return;
	}
	int64_t have = h->dev_nvidia_count.v;
	struct gm_buf missing = GM_BUF_INIT;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (gm_fact_ok(&g->dev_node.f) && !g->dev_node.v && gm_fact_ok(&g->minor.f))
			gm_buf_addf(&missing, "%s/dev/nvidia%" PRId64, missing.len ? ", " : "",
			            g->minor.v);
	}
	if (have < (int64_t)want || missing.len) {
		if (missing.len)
			gm_check_set(r, GM_CHECK_FAIL,
			             "%" PRId64
			             " /dev/nvidiaN nodes for %zu GPU%s (%s); missing %s",
			             have, want, want == 1 ? "" : "s", from, gm_buf_cstr(&missing));
		else
			gm_check_set(r, GM_CHECK_FAIL,
			             "%" PRId64 " /dev/nvidiaN nodes for %zu GPU%s (%s)", have,
			             want, want == 1 ? "" : "s", from);
		if (!nvml)
			gm_check_hint(
			        r, "load the driver first (sudo modprobe nvidia), then create the "
			           "nodes: sudo nvidia-modprobe -c 0 (once per GPU minor)");
		else
			gm_check_hint(
			        r, "sudo nvidia-modprobe -c <minor> for each missing node (or run "
			           "sudo nvidia-smi once)");
	} else if (have > (int64_t)want) {
		gm_check_set(r, GM_CHECK_WARN,
		             "%" PRId64
		             " /dev/nvidiaN nodes for %zu GPU%s (%s): stale nodes or GPUs "
		             "the driver does not see",
		             have, want, want == 1 ? "" : "s", from);
		gm_check_hint(r, "compare 'ls /dev/nvidia[0-9]*' with 'nvidia-smi -L'; reboot to "
		                 "recreate the nodes");
	} else {
		gm_check_set(r, GM_CHECK_PASS, "%" PRId64 " /dev/nvidiaN nodes for %zu GPU%s", have,
		             want, want == 1 ? "" : "s");
	}
	gm_buf_release(&missing);
}

static void nvml(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	size_t on_bus = pci_gpus(h);
	if (!gm_fact_ok(&nv->nvml)) {
		if (on_bus)
			gm_check_set(r, GM_CHECK_FAIL, "%s (%zu NVIDIA GPU%s on the PCI bus)",
			             nvml_why(nv), on_bus, on_bus == 1 ? "" : "s");
		else
			gm_check_set(r, GM_CHECK_FAIL, "%s", nvml_why(nv));
		if (driver_missing(nv))
			gm_check_driver_install_hint(ctx->inv, 0, &r->hint);
		else
			gm_check_hint(r,
			              "sudo modprobe nvidia, then read 'sudo dmesg | grep -i nvrm' "
			              "for why the driver does not answer");
		return;
	}
	struct gm_buf lost = GM_BUF_INIT;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (gm_check_gpu_lost(g)) {
			if (lost.len)
				gm_buf_adds(&lost, ", ");
			gm_check_gpu_label(g, &lost);
		}
	}
	const char *ver = gm_fact_ok(&nv->nvml_version.f) ? nv->nvml_version.v : "?";
	if (lost.len) {
		gm_check_set(r, GM_CHECK_FAIL, "NVML %s: %s lost (fell off the bus)", ver,
		             gm_buf_cstr(&lost));
		gm_check_hint(r, "drain the node and power-cycle it; check PCIe seating, power and "
		                 "cooling (Xid 79); RMA if it repeats");
	} else if (nv->n_gpus == 0) {
		gm_check_set(r, GM_CHECK_FAIL, "NVML %s initialised but sees no GPU", ver);
		gm_check_hint(r,
		              "check 'lspci -nn | grep -i nvidia' and 'sudo dmesg | grep -i nvrm'");
	} else if (on_bus > nv->n_gpus) {
		gm_check_set(r, GM_CHECK_FAIL, "NVML %s sees %zu of %zu NVIDIA GPUs on the PCI bus",
		             ver, nv->n_gpus, on_bus);
		gm_check_hint(r, "sudo dmesg | grep -i nvrm shows why the driver skipped a GPU; "
		                 "GPUs bound to vfio-pci are invisible to NVML");
	} else {
		gm_check_set(r, GM_CHECK_PASS, "NVML %s, %zu GPU%s", ver, nv->n_gpus,
		             nv->n_gpus == 1 ? "" : "s");
	}
	gm_buf_release(&lost);
}

static void uvm(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_fbool *m = &ctx->inv->host.mod_nvidia_uvm;
	if (!gm_fact_ok(&m->f)) {
		gm_check_skip(r, "module list unreadable: %s", m->f.why ? m->f.why : "unknown");
	} else if (m->v) {
		gm_check_set(r, GM_CHECK_PASS, "nvidia_uvm loaded");
	} else {
		gm_check_set(r, GM_CHECK_FAIL,
		             "nvidia_uvm not loaded: CUDA applications fail with "
		             "cudaErrorNoDevice / error 100");
		gm_check_hint(r, "sudo modprobe nvidia_uvm && echo nvidia_uvm | sudo tee "
		                 "/etc/modules-load.d/nvidia-uvm.conf");
	}
}

static int branch_of(const char *version)
{
	char *end = NULL;
	long b = version ? strtol(version, &end, 10) : 0;
	return end && end != version && b > 0 && b < 10000 ? (int)b : 0;
}

static void cuda_max(const struct gm_nvidia *nv, struct gm_buf *out)
{
	if (gm_fact_ok(&nv->cuda_driver_version.f))
		gm_buf_addf(out, "%" PRId64 ".%" PRId64, nv->cuda_driver_version.v / 1000,
		            nv->cuda_driver_version.v % 1000 / 10);
	else
		gm_buf_adds(out, "?");
}

static void cuda_compat(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gm_buf max = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_cuda_need need;
	int major = 0, minor = 0;
	cuda_max(nv, &max);
	if (!ctx->req.cuda) {
		if (gm_fact_ok(&nv->driver_version.f))
			gm_check_skip(r,
			              "no CUDA version required (--require-cuda X.Y); driver %s "
			              "supports CUDA up to %s",
			              nv->driver_version.v, gm_buf_cstr(&max));
		else
			gm_check_skip(r, "no CUDA version required (--require-cuda X.Y)");
		goto out;
	}
	if (!ctx->cuda) {
		gm_check_skip(r, "no CUDA driver table loaded");
		goto out;
	}
	if (!gm_cuda_version_parse(ctx->req.cuda, &major, &minor) ||
	    gm_cuda_min_driver(ctx->cuda, major, minor, &need, &err) != GM_OK) {
		gm_check_skip(r, "%s", err.msg.len ? gm_err_msg(&err) : "bad CUDA version");
		goto out;
	}
	int want_branch = branch_of(need.min_driver);
	if (!want_branch)
		want_branch = need.driver_branch;
	struct gm_buf req = GM_BUF_INIT;
	if (need.min_driver)
		gm_buf_addf(&req, ">= %s", need.min_driver);
	else
		gm_buf_addf(&req, "branch R%d or newer", need.driver_branch);
	if (!gm_fact_ok(&nv->driver_version.f)) {
		gm_check_set(r, GM_CHECK_FAIL, "CUDA %d.%d needs driver %s; no driver: %s", major,
		             minor, gm_buf_cstr(&req),
		             nv->driver_version.f.why ? nv->driver_version.f.why : nvml_why(nv));
		gm_check_driver_install_hint(ctx->inv, want_branch, &r->hint);
		gm_buf_release(&req);
		goto out;
	}
	const char *drv = nv->driver_version.v;
	switch (gm_cuda_driver_verdict(&need, drv)) {
	case GM_CUDA_NATIVE:
		gm_check_set(r, GM_CHECK_PASS, "driver %s (CUDA %s) runs CUDA %d.%d (needs %s)",
		             drv, gm_buf_cstr(&max), major, minor, gm_buf_cstr(&req));
		break;
	case GM_CUDA_MINOR_COMPAT:
		gm_check_set(r, GM_CHECK_WARN,
		             "driver %s < %s for CUDA %d.%d: runs only through minor version "
		             "compatibility (>= %s): no JIT of newer PTX, newer APIs fail",
		             drv, need.min_driver ? need.min_driver : gm_buf_cstr(&req), major,
		             minor, need.compat_min);
		gm_check_driver_install_hint(ctx->inv, want_branch, &r->hint);
		break;
	case GM_CUDA_TOO_OLD:
		if (need.compat_min)
			gm_check_set(r, GM_CHECK_FAIL,
			             "driver %s is too old for CUDA %d.%d (needs %s, or >= %s with "
			             "minor "
			             "version compatibility)",
			             drv, major, minor, gm_buf_cstr(&req), need.compat_min);
		else
			gm_check_set(r, GM_CHECK_FAIL,
			             "driver %s is too old for CUDA %d.%d (needs %s)", drv, major,
			             minor, gm_buf_cstr(&req));
		gm_check_driver_install_hint(ctx->inv, want_branch, &r->hint);
		break;
	case GM_CUDA_UNKNOWN:
		gm_check_skip(r, "driver version '%s' is not a dotted number", drv);
		break;
	}
	gm_buf_release(&req);
out:
	gm_buf_release(&max);
	gm_err_release(&err);
}

static void persistence(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gm_buf off = GM_BUF_INIT;
	size_t n_off = 0, n_known = 0;
	if (gm_check_need_nvml(ctx, r))
		return;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (!gm_fact_ok(&g->persistence_mode.f))
			continue;
		n_known++;
		if (!g->persistence_mode.v) {
			gm_buf_addf(&off, "%s%u", n_off ? ", " : "", g->index);
			n_off++;
		}
	}
	bool daemon = ctx->ev && gm_fact_ok(&ctx->ev->persistenced.f) && ctx->ev->persistenced.v;
	if (!n_known && !daemon) {
		gm_check_skip(r, "persistence mode not readable on any GPU");
	} else if (daemon) {
		gm_check_set(r, GM_CHECK_PASS, "nvidia-persistenced running");
	} else if (!n_off) {
		gm_check_set(r, GM_CHECK_PASS, "persistence mode on for %s%zu GPU%s",
		             n_known > 1 ? "all " : "", n_known, n_known == 1 ? "" : "s");
	} else {
		gm_check_set(
		        r, GM_CHECK_WARN,
		        "persistence mode off on GPU %s and nvidia-persistenced %s: every CUDA "
		        "start re-initialises the GPU (seconds of latency)",
		        gm_buf_cstr(&off),
		        !ctx->ev                               ? "not known (saved inventory)"
		        : gm_fact_ok(&ctx->ev->persistenced.f) ? "not running"
		                                               : "not known");
		gm_check_hint(r, "sudo systemctl enable --now nvidia-persistenced (or sudo "
		                 "nvidia-smi -pm 1)");
	}
	gm_buf_release(&off);
}

const struct gm_check_rule gm_check_rules_driver[] = {
        {"driver.loaded", "NVIDIA kernel module loaded", GM_P_DRIVER, loaded},
        {"driver.nouveau", "nouveau not bound to NVIDIA devices", GM_P_ALL, nouveau},
        {"driver.dev-nodes", "/dev/nvidiaN for every GPU", GM_P_DRIVER, dev_nodes},
        {"driver.nvml", "NVML initialises and sees every GPU", GM_P_DRIVER, nvml},
        {"driver.uvm", "nvidia_uvm loaded", GM_P_DRIVER, uvm},
        {"driver.cuda-compat", "driver new enough for the required CUDA", GM_P_DRIVER, cuda_compat},
        {"driver.persistence", "persistence mode or nvidia-persistenced", GM_P_DRIVER, persistence},
        {NULL, NULL, 0, NULL},
};

/* Unit tests for `check`: every rule's PASS / WARN / FAIL / SKIP branches on inventories
 * loaded from tests/fixtures/inventory and changed field by field (id, status, evidence and
 * hint asserted exactly), the engine (registry, profiles, filters), the JSON and JUnit
 * renderings, and the local evidence readers on a temporary root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assess/check.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define GIB (1024LL * 1024 * 1024)

struct fx {
	struct gm_inventory inv;
	struct gm_evidence ev;
	struct gm_check_ctx ctx;
	struct gm_cuda_table cuda;
	struct gm_xid_catalog xid;
	struct gm_check_report rep;
	bool ran;
};

static void fixture_path(const char *sub, const char *name, struct gm_buf *out)
{
	const char *dir = getenv("GM_FIXTURES");
	gm_buf_reset(out);
	gm_buf_addf(out, "%s/%s/%s", dir ? dir : "tests/fixtures", sub, name);
}

static void load(struct fx *f, const char *name)
{
	struct gm_buf path = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_inventory_release(&f->inv);
	gm_inventory_init(&f->inv);
	fixture_path("inventory", name, &path);
	if (gm_inventory_load(&f->inv, gm_buf_cstr(&path), &err) != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	gm_buf_release(&path);
	gm_err_release(&err);
}

static void set_log(struct fx *f, const char *fixture)
{
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_reset(&f->ev.log_text);
	if (fixture) {
		fixture_path("kernlog", fixture, &path);
		assert_int_equal(gm_fs_read(gm_buf_cstr(&path), 1 << 20, &f->ev.log_text, NULL),
		                 GM_OK);
	}
	gm_buf_release(&path);
}

static int setup(void **state)
{
	struct fx *f = gm_xcalloc(1, sizeof(*f));
	struct gm_err err = GM_ERR_INIT;
	gm_inventory_init(&f->inv);
	load(f, "healthy-a100.json");
	gm_evidence_init(&f->ev);
	f->ev.kernel_log.state = GM_FACT_OK;
	f->ev.log_source = gm_xstrdup("/var/log/kern.log");
	gm_buf_adds(&f->ev.log_text, "Nov 27 03:12:44 gpu kernel: nvidia: loading module\n");
	gm_fbool_set(&f->ev.persistenced, true);
	gm_fstr_set(&f->ev.time_sync, "chronyd");
	f->ev.tcp.state = GM_FACT_OK;
	f->ev.ports = gm_xcalloc(1, sizeof(uint16_t));
	f->ev.ports[0] = 22;
	f->ev.n_ports = 1;
	assert_int_equal(gm_cuda_table_load_embedded(&f->cuda, &err), GM_OK);
	assert_int_equal(gm_xid_catalog_load_embedded(&f->xid, &err), GM_OK);
	f->ctx.inv = &f->inv;
	f->ctx.ev = &f->ev;
	f->ctx.profile = GM_PROFILE_K8S;
	f->ctx.cuda = &f->cuda;
	f->ctx.xid = &f->xid;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->ran)
		gm_check_report_release(&f->rep);
	gm_inventory_release(&f->inv);
	gm_evidence_release(&f->ev);
	gm_cuda_table_release(&f->cuda);
	gm_xid_catalog_release(&f->xid);
	free(f);
	return 0;
}

/* Runs only the rule id and returns its result. */
static const struct gm_check_result *run(struct fx *f, const char *id)
{
	const char *only[] = {id, NULL};
	struct gm_check_filter filter = {only, NULL};
	if (f->ran)
		gm_check_report_release(&f->rep);
	gm_check_run(&f->ctx, &filter, "test", &f->rep);
	f->ran = true;
	assert_int_equal(f->rep.n, 1);
	assert_string_equal(f->rep.results[0].id, id);
	return &f->rep.results[0];
}

/* Asserts status, evidence (skip reason for SKIP) and hint ("" for none) exactly. */
static void expect(struct fx *f, const char *id, enum gm_check_status st, const char *text,
                   const char *hint)
{
	const struct gm_check_result *r = run(f, id);
	if (r->status != st)
		fail_msg("%s: status %s, expected %s (%s%s)", id, gm_check_status_name(r->status),
		         gm_check_status_name(st), gm_buf_cstr(&r->evidence),
		         gm_buf_cstr(&r->skip_reason));
	if (st == GM_CHECK_SKIP) {
		assert_string_equal(gm_buf_cstr(&r->skip_reason), text);
		assert_int_equal(r->evidence.len, 0);
	} else {
		assert_string_equal(gm_buf_cstr(&r->evidence), text);
		assert_int_equal(r->skip_reason.len, 0);
	}
	assert_string_equal(gm_buf_cstr(&r->hint), hint);
}

static struct gm_gpu *gpu(struct fx *f, size_t i)
{
	return &f->inv.nvidia.gpus[i];
}

/* Engine. */

static void registry(void **state)
{
	(void)state;
	static const char *const ids[] = {
	        "driver.loaded",
	        "driver.nouveau",
	        "driver.dev-nodes",
	        "driver.nvml",
	        "driver.uvm",
	        "driver.cuda-compat",
	        "driver.persistence",
	        "iommu.enabled",
	        "iommu.passthrough",
	        "iommu.groups",
	        "numa.gpu-nic",
	        "pcie.sriov",
	        "pcie.link-width",
	        "pcie.link-gen",
	        "pcie.replay",
	        "health.row-remap",
	        "health.retired-pages",
	        "health.ecc",
	        "health.xid",
	        "runtime.nvidia",
	        "runtime.toolkit",
	        "k8s.kubelet",
	        "k8s.device-plugin",
	        "k8s.node-labels",
	        "anthos.os",
	        "anthos.swap",
	        "anthos.time-sync",
	        "anthos.ports",
	        "gpu.count",
	        "gpu.model",
	        "gpu.memory",
	};
	size_t n = 0;
	for (const struct gm_check_rule *r = gm_check_rule_next(NULL); r;
	     r = gm_check_rule_next(r)) {
		assert_true(n < sizeof(ids) / sizeof(ids[0]));
		assert_string_equal(r->id, ids[n]); /* report order */
		assert_non_null(r->title);
		assert_non_null(r->run);
		assert_true(r->profiles != 0);
		assert_ptr_equal(gm_check_rule_find(r->id), r);
		n++;
	}
	assert_int_equal(n, sizeof(ids) / sizeof(ids[0]));
	assert_null(gm_check_rule_find("driver.nope"));
	assert_true(gm_check_glob_matches_any("driver.*"));
	assert_true(gm_check_glob_matches_any("anthos.ports"));
	assert_false(gm_check_glob_matches_any("drvier.*"));
}

static void profiles(void **state)
{
	(void)state;
	enum gm_check_profile p = GM_PROFILE_K8S;
	assert_true(gm_check_profile_parse("anthos-baremetal", &p));
	assert_int_equal(p, GM_PROFILE_ANTHOS);
	assert_true(gm_check_profile_parse("vm-passthrough", &p));
	assert_int_equal(p, GM_PROFILE_VM);
	assert_true(gm_check_profile_parse("docker", &p));
	assert_int_equal(p, GM_PROFILE_DOCKER);
	assert_false(gm_check_profile_parse("kubernetes", &p));
	assert_false(gm_check_profile_parse(NULL, &p));
	assert_string_equal(gm_check_profile_name(GM_PROFILE_K8S), "k8s");
	assert_string_equal(gm_check_status_name(GM_CHECK_WARN), "WARN");
}

static void healthy_passes(void **state)
{
	struct fx *f = *state;
	for (int p = 0; p < GM_PROFILE_N; p++) {
		if (p == GM_PROFILE_VM)
			continue; /* GPUs on the nvidia driver are not ready for VFIO */
		f->ctx.profile = (enum gm_check_profile)p;
		f->ctx.req.cuda = "12.4";
		f->ctx.req.gpus = 2;
		f->ctx.req.gpu_model = "A100";
		f->ctx.req.gpu_memory_bytes = 80 * GIB;
		if (f->ran)
			gm_check_report_release(&f->rep);
		gm_check_run(&f->ctx, NULL, NULL, &f->rep);
		f->ran = true;
		assert_string_equal(f->rep.host, "gpu-a100-01");
		assert_string_equal(f->rep.source, "local");
		for (size_t i = 0; i < f->rep.n; i++) {
			const struct gm_check_result *r = &f->rep.results[i];
			if (r->status == GM_CHECK_WARN || r->status == GM_CHECK_FAIL)
				fail_msg("%s %s: %s %s", gm_check_profile_name(f->ctx.profile),
				         r->id, gm_check_status_name(r->status),
				         gm_buf_cstr(&r->evidence));
			if (r->status == GM_CHECK_SKIP)
				assert_true(r->skip_reason.len > 0);
		}
		assert_int_equal(f->rep.count[GM_CHECK_FAIL] + f->rep.count[GM_CHECK_WARN], 0);
		assert_int_equal(f->rep.count[GM_CHECK_PASS] + f->rep.count[GM_CHECK_SKIP],
		                 f->rep.n);
		assert_int_equal(f->rep.n, 31);
	}
	/* k8s: only the checks of other profiles and health checks with nothing to read skip */
	f->ctx.profile = GM_PROFILE_K8S;
	gm_check_report_release(&f->rep);
	gm_check_run(&f->ctx, NULL, NULL, &f->rep);
	assert_int_equal(f->rep.count[GM_CHECK_SKIP], 8);
	assert_int_equal(f->rep.count[GM_CHECK_PASS], 23);
}

static void filters(void **state)
{
	struct fx *f = *state;
	const char *only[] = {"driver.*", "gpu.count", NULL};
	const char *skip[] = {"driver.nouveau", "*.uvm", NULL};
	struct gm_check_filter filter = {only, skip};
	gm_check_run(&f->ctx, &filter, "x.json", &f->rep);
	f->ran = true;
	assert_int_equal(f->rep.n, 6);
	assert_string_equal(f->rep.results[0].id, "driver.loaded");
	assert_string_equal(f->rep.results[1].id, "driver.dev-nodes");
	assert_string_equal(f->rep.results[4].id, "driver.persistence");
	assert_string_equal(f->rep.results[5].id, "gpu.count");
	assert_null(gm_check_report_find(&f->rep, "driver.uvm"));
	assert_non_null(gm_check_report_find(&f->rep, "driver.nvml"));
	assert_string_equal(f->rep.source, "x.json");
	struct gm_check_filter skip_only = {NULL, skip};
	gm_check_report_release(&f->rep);
	gm_check_run(&f->ctx, &skip_only, NULL, &f->rep);
	assert_int_equal(f->rep.n, 29);
}

static void profile_skip_reason(void **state)
{
	struct fx *f = *state;
	f->ctx.profile = GM_PROFILE_VM;
	expect(f, "driver.loaded", GM_CHECK_SKIP,
	       "not needed for profile vm-passthrough (applies to k8s, anthos-baremetal, docker)",
	       "");
	f->ctx.profile = GM_PROFILE_DOCKER;
	expect(f, "k8s.kubelet", GM_CHECK_SKIP,
	       "not needed for profile docker (applies to k8s, anthos-baremetal)", "");
	f->ctx.profile = GM_PROFILE_K8S;
	expect(f, "pcie.sriov", GM_CHECK_SKIP,
	       "not needed for profile k8s (applies to vm-passthrough)", "");
	expect(f, "anthos.swap", GM_CHECK_SKIP,
	       "not needed for profile k8s (applies to anthos-baremetal)", "");
}

/* Driver rules. */

static void driver_loaded(void **state)
{
	struct fx *f = *state;
	expect(f, "driver.loaded", GM_CHECK_PASS, "nvidia module loaded, driver 550.54.15", "");
	load(f, "no-driver.json");
	expect(f, "driver.loaded", GM_CHECK_FAIL,
	       "nvidia kernel module not loaded; no NVIDIA driver found (libnvidia-ml.so.1)",
	       "sudo apt-get install -y nvidia-driver-570-server && sudo reboot");
	gm_fstr_set(&f->inv.host.os_id, "rocky");
	expect(f, "driver.loaded", GM_CHECK_FAIL,
	       "nvidia kernel module not loaded; no NVIDIA driver found (libnvidia-ml.so.1)",
	       "sudo dnf module install -y nvidia-driver:570-dkms && sudo reboot");
	gm_fact_fail(&f->inv.nvidia.nvml, GM_FACT_ERROR, "nvmlInit: Driver Not Loaded");
	expect(f, "driver.loaded", GM_CHECK_FAIL,
	       "nvidia kernel module not loaded; nvmlInit: Driver Not Loaded",
	       "sudo modprobe nvidia");
	gm_fact_fail(&f->inv.host.mod_nvidia.f, GM_FACT_ERROR, "cannot read /proc/modules");
	expect(f, "driver.loaded", GM_CHECK_FAIL, "nvmlInit: Driver Not Loaded",
	       "sudo modprobe nvidia");
	load(f, "healthy-a100.json");
	gm_fact_fail(&f->inv.host.mod_nvidia.f, GM_FACT_ERROR, "cannot read /proc/modules");
	expect(f, "driver.loaded", GM_CHECK_PASS,
	       "NVML works (module list unreadable: cannot read /proc/modules)", "");
}

static void driver_nouveau(void **state)
{
	struct fx *f = *state;
	const char *apt = "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee "
	                  "/etc/modprobe.d/blacklist-nouveau.conf && sudo update-initramfs -u && "
	                  "sudo reboot";
	expect(f, "driver.nouveau", GM_CHECK_PASS, "nouveau not loaded", "");
	gm_fbool_set(&f->inv.host.mod_nouveau, true);
	expect(f, "driver.nouveau", GM_CHECK_WARN,
	       "nouveau module loaded (bound to no NVIDIA device); it can grab a GPU after a "
	       "driver "
	       "reload",
	       apt);
	gm_fstr_set(&f->inv.host.pci[1].driver, "nouveau");
	expect(f, "driver.nouveau", GM_CHECK_FAIL, "nouveau bound to 0000:65:00.0", apt);
	gm_fstr_set(&f->inv.host.os_id, "rhel");
	expect(f, "driver.nouveau", GM_CHECK_FAIL, "nouveau bound to 0000:65:00.0",
	       "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee "
	       "/etc/modprobe.d/blacklist-nouveau.conf && sudo dracut --force && sudo reboot");
	f->ctx.profile = GM_PROFILE_VM; /* applies to every profile */
	assert_int_equal(run(f, "driver.nouveau")->status, GM_CHECK_FAIL);
	gm_fstr_set(&f->inv.host.pci[1].driver, "nvidia");
	gm_fact_fail(&f->inv.host.mod_nouveau.f, GM_FACT_ERROR, "cannot read /proc/modules");
	expect(f, "driver.nouveau", GM_CHECK_PASS, "nouveau bound to none of 2 NVIDIA devices", "");
	for (size_t i = 0; i < f->inv.host.n_pci; i++)
		gm_pci_dev_release(&f->inv.host.pci[i]);
	f->inv.host.n_pci = 0;
	expect(f, "driver.nouveau", GM_CHECK_SKIP,
	       "module list unreadable: cannot read /proc/modules", "");
}

static void driver_dev_nodes(void **state)
{
	struct fx *f = *state;
	expect(f, "driver.dev-nodes", GM_CHECK_PASS, "2 /dev/nvidiaN nodes for 2 GPUs", "");
	load(f, "degraded-t4.json");
	expect(f, "driver.dev-nodes", GM_CHECK_FAIL,
	       "1 /dev/nvidiaN nodes for 2 GPUs (NVML); missing /dev/nvidia1",
	       "sudo nvidia-modprobe -c <minor> for each missing node (or run sudo nvidia-smi "
	       "once)");
	load(f, "no-driver.json");
	expect(f, "driver.dev-nodes", GM_CHECK_FAIL,
	       "0 /dev/nvidiaN nodes for 2 GPUs (the PCI bus)",
	       "load the driver first (sudo modprobe nvidia), then create the nodes: sudo "
	       "nvidia-modprobe -c 0 (once per GPU minor)");
	load(f, "healthy-a100.json");
	gm_fint_set(&f->inv.host.dev_nvidia_count, 4);
	expect(f, "driver.dev-nodes", GM_CHECK_WARN,
	       "4 /dev/nvidiaN nodes for 2 GPUs (NVML): stale nodes or GPUs the driver does not "
	       "see",
	       "compare 'ls /dev/nvidia[0-9]*' with 'nvidia-smi -L'; reboot to recreate the nodes");
	gm_fact_fail(&f->inv.host.dev_nvidia_count.f, GM_FACT_ERROR, "cannot list /dev");
	expect(f, "driver.dev-nodes", GM_CHECK_SKIP, "/dev/nvidiaN unreadable: cannot list /dev",
	       "");
}

static void driver_nvml(void **state)
{
	struct fx *f = *state;
	expect(f, "driver.nvml", GM_CHECK_PASS, "NVML 12.550.54.15, 2 GPUs", "");
	load(f, "no-driver.json");
	expect(f, "driver.nvml", GM_CHECK_FAIL,
	       "no NVIDIA driver found (libnvidia-ml.so.1) (2 NVIDIA GPUs on the PCI bus)",
	       "sudo apt-get install -y nvidia-driver-570-server && sudo reboot");
	gm_fact_fail(&f->inv.nvidia.nvml, GM_FACT_ERROR,
	             "nvmlInit: Driver/library version mismatch");
	expect(f, "driver.nvml", GM_CHECK_FAIL,
	       "nvmlInit: Driver/library version mismatch (2 NVIDIA GPUs on the PCI bus)",
	       "sudo modprobe nvidia, then read 'sudo dmesg | grep -i nvrm' for why the driver "
	       "does "
	       "not answer");
	load(f, "healthy-a100.json");
	gm_fact_fail(&gpu(f, 1)->name.f, GM_FACT_ERROR, "GPU is lost");
	expect(f, "driver.nvml", GM_CHECK_FAIL,
	       "NVML 12.550.54.15: GPU 1 (0000:65:00.0) lost (fell off the bus)",
	       "drain the node and power-cycle it; check PCIe seating, power and cooling (Xid 79); "
	       "RMA if it repeats");
	load(f, "healthy-a100.json");
	gm_gpu_release(gpu(f, 1));
	f->inv.nvidia.n_gpus = 1;
	expect(f, "driver.nvml", GM_CHECK_FAIL,
	       "NVML 12.550.54.15 sees 1 of 2 NVIDIA GPUs on the PCI bus",
	       "sudo dmesg | grep -i nvrm shows why the driver skipped a GPU; GPUs bound to "
	       "vfio-pci "
	       "are invisible to NVML");
	gm_gpu_release(gpu(f, 0));
	f->inv.nvidia.n_gpus = 0;
	expect(f, "driver.nvml", GM_CHECK_FAIL, "NVML 12.550.54.15 initialised but sees no GPU",
	       "check 'lspci -nn | grep -i nvidia' and 'sudo dmesg | grep -i nvrm'");
}

static void driver_uvm(void **state)
{
	struct fx *f = *state;
	expect(f, "driver.uvm", GM_CHECK_PASS, "nvidia_uvm loaded", "");
	load(f, "degraded-t4.json");
	expect(f, "driver.uvm", GM_CHECK_FAIL,
	       "nvidia_uvm not loaded: CUDA applications fail with cudaErrorNoDevice / error 100",
	       "sudo modprobe nvidia_uvm && echo nvidia_uvm | sudo tee "
	       "/etc/modules-load.d/nvidia-uvm.conf");
	gm_fact_fail(&f->inv.host.mod_nvidia_uvm.f, GM_FACT_UNKNOWN,
	             "not recorded in the inventory");
	expect(f, "driver.uvm", GM_CHECK_SKIP,
	       "module list unreadable: not recorded in the inventory", "");
}

static void driver_cuda_compat(void **state)
{
	struct fx *f = *state;
	expect(f, "driver.cuda-compat", GM_CHECK_SKIP,
	       "no CUDA version required (--require-cuda X.Y); driver 550.54.15 supports CUDA up "
	       "to "
	       "12.4",
	       "");
	f->ctx.req.cuda = "12.4";
	expect(f, "driver.cuda-compat", GM_CHECK_PASS,
	       "driver 550.54.15 (CUDA 12.4) runs CUDA 12.4 (needs >= 550.54.14)", "");
	f->ctx.req.cuda = "11.8";
	expect(f, "driver.cuda-compat", GM_CHECK_PASS,
	       "driver 550.54.15 (CUDA 12.4) runs CUDA 11.8 (needs >= 520.61.05)", "");
	f->ctx.req.cuda = "12.4";
	load(f, "degraded-t4.json");
	expect(f, "driver.cuda-compat", GM_CHECK_WARN,
	       "driver 535.104.05 < 550.54.14 for CUDA 12.4: runs only through minor version "
	       "compatibility (>= 525.60.13): no JIT of newer PTX, newer APIs fail",
	       "sudo dnf module install -y nvidia-driver:550-dkms && sudo reboot");
	gm_fstr_set(&f->inv.host.os_id, "ubuntu");
	gm_fstr_set(&f->inv.nvidia.driver_version, "470.82.01");
	expect(f, "driver.cuda-compat", GM_CHECK_FAIL,
	       "driver 470.82.01 is too old for CUDA 12.4 (needs >= 550.54.14, or >= 525.60.13 "
	       "with "
	       "minor version compatibility)",
	       "sudo apt-get install -y nvidia-driver-550-server && sudo reboot");
	f->ctx.req.cuda = "13.4";
	gm_fstr_set(&f->inv.nvidia.driver_version, "580.95.05");
	expect(f, "driver.cuda-compat", GM_CHECK_WARN,
	       "driver 580.95.05 < branch R615 or newer for CUDA 13.4: runs only through minor "
	       "version compatibility (>= 580.65.06): no JIT of newer PTX, newer APIs fail",
	       "sudo apt-get install -y nvidia-driver-615-server && sudo reboot");
	f->ctx.req.cuda = "12.7";
	expect(f, "driver.cuda-compat", GM_CHECK_SKIP,
	       "CUDA 12.7 is not in the driver table (it knows 11.0 to 13.4)", "");
	f->ctx.req.cuda = "12.4";
	gm_fstr_set(&f->inv.nvidia.driver_version, "r550");
	expect(f, "driver.cuda-compat", GM_CHECK_SKIP,
	       "driver version 'r550' is not a dotted number", "");
	load(f, "no-driver.json");
	expect(f, "driver.cuda-compat", GM_CHECK_FAIL,
	       "CUDA 12.4 needs driver >= 550.54.14; no driver: no NVIDIA driver found "
	       "(libnvidia-ml.so.1)",
	       "sudo apt-get install -y nvidia-driver-550-server && sudo reboot");
	f->ctx.cuda = NULL;
	expect(f, "driver.cuda-compat", GM_CHECK_SKIP, "no CUDA driver table loaded", "");
}

static void driver_persistence(void **state)
{
	struct fx *f = *state;
	const char *hint =
	        "sudo systemctl enable --now nvidia-persistenced (or sudo nvidia-smi -pm 1)";
	expect(f, "driver.persistence", GM_CHECK_PASS, "nvidia-persistenced running", "");
	gm_fbool_set(&f->ev.persistenced, false);
	expect(f, "driver.persistence", GM_CHECK_PASS, "persistence mode on for all 2 GPUs", "");
	load(f, "degraded-t4.json");
	expect(f, "driver.persistence", GM_CHECK_WARN,
	       "persistence mode off on GPU 0, 1 and nvidia-persistenced not running: every CUDA "
	       "start re-initialises the GPU (seconds of latency)",
	       hint);
	f->ctx.ev = NULL;
	expect(f, "driver.persistence", GM_CHECK_WARN,
	       "persistence mode off on GPU 0, 1 and nvidia-persistenced not known (saved "
	       "inventory): every CUDA start re-initialises the GPU (seconds of latency)",
	       hint);
	f->ctx.ev = &f->ev;
	gm_fbool_set(&f->ev.persistenced, true);
	expect(f, "driver.persistence", GM_CHECK_PASS, "nvidia-persistenced running", "");
	load(f, "no-driver.json");
	expect(f, "driver.persistence", GM_CHECK_SKIP,
	       "no GPU data: no NVIDIA driver found (libnvidia-ml.so.1)", "");
}

/* Host rules. */

static void iommu(void **state)
{
	struct fx *f = *state;
	const char *grub = "set GRUB_CMDLINE_LINUX=\"... intel_iommu=on iommu=pt\" in "
	                   "/etc/default/grub, then sudo update-grub && sudo reboot";
	expect(f, "iommu.passthrough", GM_CHECK_PASS,
	       "IOMMU on (intel) in passthrough mode (iommu=pt)", "");
	gm_fbool_set(&f->inv.host.iommu_passthrough, false);
	expect(f, "iommu.passthrough", GM_CHECK_WARN,
	       "IOMMU on (intel) in translated mode without iommu=pt: GPUDirect RDMA and P2P "
	       "transfers go through the IOMMU and lose bandwidth",
	       grub);
	gm_fstr_set(&f->inv.host.os_id, "rhel");
	gm_fstr_set(&f->inv.host.iommu_vendor, "amd");
	expect(f, "iommu.passthrough", GM_CHECK_WARN,
	       "IOMMU on (amd) in translated mode without iommu=pt: GPUDirect RDMA and P2P "
	       "transfers go through the IOMMU and lose bandwidth",
	       "sudo grubby --update-kernel=ALL --args=\"iommu=pt\" && sudo reboot");
	gm_fbool_set(&f->inv.host.iommu_enabled, false);
	expect(f, "iommu.passthrough", GM_CHECK_PASS, "IOMMU off: device DMA is not translated",
	       "");
	gm_fact_fail(&f->inv.host.iommu_enabled.f, GM_FACT_ERROR, "cannot list /sys/kernel");
	expect(f, "iommu.passthrough", GM_CHECK_SKIP,
	       "IOMMU state unknown: cannot list /sys/kernel", "");

	load(f, "healthy-a100.json");
	f->ctx.profile = GM_PROFILE_VM;
	expect(f, "iommu.enabled", GM_CHECK_PASS, "IOMMU on (intel), 212 groups", "");
	gm_fbool_set(&f->inv.host.iommu_enabled, false);
	gm_fact_fail(&f->inv.host.iommu_vendor.f, GM_FACT_UNKNOWN, "IOMMU off");
	expect(f, "iommu.enabled", GM_CHECK_FAIL,
	       "IOMMU off (no groups in /sys/kernel/iommu_groups): VFIO cannot pass GPUs to VMs",
	       "set GRUB_CMDLINE_LINUX=\"... intel_iommu=on iommu=pt\" in /etc/default/grub, then "
	       "sudo update-grub && sudo reboot; enable VT-d in the firmware setup");
	gm_fstr_set(&f->inv.host.cpu_model, "AMD EPYC 9654 96-Core Processor");
	expect(f, "iommu.enabled", GM_CHECK_FAIL,
	       "IOMMU off (no groups in /sys/kernel/iommu_groups): VFIO cannot pass GPUs to VMs",
	       "set GRUB_CMDLINE_LINUX=\"... amd_iommu=on iommu=pt\" in /etc/default/grub, then "
	       "sudo update-grub && sudo reboot; enable AMD-Vi (IOMMU) in the firmware setup");
}

static void iommu_groups(void **state)
{
	struct fx *f = *state;
	struct gm_host *h = &f->inv.host;
	f->ctx.profile = GM_PROFILE_VM;
	expect(f, "iommu.groups", GM_CHECK_WARN,
	       "2 GPUs in separate groups; not bound to vfio-pci: 0000:17:00.0 (nvidia), "
	       "0000:65:00.0 (nvidia)",
	       "echo 'options vfio-pci ids=10de:20b2' | sudo tee /etc/modprobe.d/vfio.conf && sudo "
	       "update-initramfs -u && sudo reboot");
	gm_fstr_set(&h->pci[0].driver, "vfio-pci");
	gm_fstr_set(&h->pci[1].driver, "vfio-pci");
	expect(f, "iommu.groups", GM_CHECK_PASS,
	       "2 GPUs, each in its own IOMMU group, bound to vfio-pci", "");
	gm_fint_set(&h->pci[1].iommu_group, 30);
	expect(f, "iommu.groups", GM_CHECK_FAIL,
	       "0000:17:00.0 and 0000:65:00.0 share group 30: those GPUs can only go to the same "
	       "VM",
	       "move the GPUs to slots behind different root ports or enable ACS in the firmware "
	       "setup (pcie_acs_override only hides the problem)");
	gm_fbool_set(&h->iommu_enabled, false);
	expect(f, "iommu.groups", GM_CHECK_FAIL, "IOMMU off: no IOMMU groups to pass through",
	       "turn the IOMMU on first (see iommu.enabled)");
	gm_fbool_set(&h->iommu_enabled, true);
	for (size_t i = 0; i < h->n_pci; i++)
		h->pci[i].class_code = 0x068000; /* NVSwitches only */
	expect(f, "iommu.groups", GM_CHECK_SKIP, "no NVIDIA GPU on the PCI bus", "");
}

static void numa(void **state)
{
	struct fx *f = *state;
	expect(f, "numa.gpu-nic", GM_CHECK_PASS,
	       "2 GPUs with an RDMA NIC on the same NUMA node (ens1f0np0/mlx5_0 node 0, "
	       "ens2f0np0/mlx5_1 node 1)",
	       "");
	load(f, "degraded-t4.json");
	expect(f, "numa.gpu-nic", GM_CHECK_WARN,
	       "SYS pairs (no RDMA NIC on the GPU's NUMA node): GPU 0 (0000:17:00.0), node 0 - "
	       "mlx5_0 (node 1), mlx5_1 (node 1)",
	       "put an RDMA NIC on each GPU's NUMA node (a slot on that socket), or pin jobs so "
	       "NCCL "
	       "pairs GPUs with near NICs; confirm with 'nvidia-smi topo -m' or 'gpumigrate topo'");
	gm_fint_set(&f->inv.host.numa_nodes, 1);
	expect(f, "numa.gpu-nic", GM_CHECK_PASS, "one NUMA node: GPUs and 2 RDMA NICs share it",
	       "");
	gm_fint_set(&f->inv.host.numa_nodes, 2);
	gm_fint_set(&gpu(f, 0)->numa_node, -1);
	gm_fint_set(&gpu(f, 1)->numa_node, -1);
	expect(f, "numa.gpu-nic", GM_CHECK_SKIP, "NUMA node of the GPUs or NICs unknown (2 GPUs)",
	       "");
	for (size_t k = 0; k < f->inv.host.n_nics; k++)
		gm_fstr_set(&f->inv.host.nics[k].rdma_device, "");
	expect(f, "numa.gpu-nic", GM_CHECK_SKIP,
	       "no RDMA NIC (GPUDirect RDMA not possible on this host)", "");
}

/* PCIe rules. */

static void pcie(void **state)
{
	struct fx *f = *state;
	expect(f, "pcie.link-width", GM_CHECK_PASS, "2 GPU links at full width", "");
	expect(f, "pcie.link-gen", GM_CHECK_PASS, "2 GPU links at full generation", "");
	expect(f, "pcie.replay", GM_CHECK_PASS, "replay counters at most 0 (threshold 100)", "");
	load(f, "degraded-t4.json");
	expect(f, "pcie.link-width", GM_CHECK_FAIL, "width x8 of x16 on GPU 1 (0000:65:00.0)",
	       "reseat the GPU in a slot wired x16 (check risers and the slot's bifurcation "
	       "setting "
	       "in the firmware); confirm with sudo lspci -vv -s 0000:65:00.0 | grep LnkSta");
	expect(f, "pcie.link-gen", GM_CHECK_WARN,
	       "gen 1 of 4 on GPU 1 (0000:65:00.0) (idle GPUs downtrain; recheck under load)",
	       "put load on the GPU (gpumigrate bench gpu) and check nvidia-smi "
	       "--query-gpu=pcie.link.gen.current,pcie.link.gen.max --format=csv; if it stays low, "
	       "check the firmware's PCIe speed setting and risers");
	expect(f, "pcie.replay", GM_CHECK_WARN,
	       "replay counter 412 on GPU 1 (0000:65:00.0) (threshold 100)",
	       "reseat the GPU and check risers/cables; watch whether it rises with sudo "
	       "nvidia-smi "
	       "-q -d PCIE");
	/* without NVML the links come from sysfs */
	load(f, "no-driver.json");
	gm_fint_set(&f->inv.host.pci[0].link_width_current, 4);
	expect(f, "pcie.link-width", GM_CHECK_FAIL, "width x4 of x16 on GPU at 0000:17:00.0",
	       "reseat the GPU in a slot wired x16 (check risers and the slot's bifurcation "
	       "setting "
	       "in the firmware); confirm with sudo lspci -vv -s 0000:17:00.0 | grep LnkSta");
	expect(f, "pcie.replay", GM_CHECK_SKIP,
	       "no GPU data: no NVIDIA driver found (libnvidia-ml.so.1)", "");
	for (size_t i = 0; i < f->inv.host.n_pci; i++)
		gm_fact_fail(&f->inv.host.pci[i].link_gen_current.f, GM_FACT_ERROR,
		             "cannot read current_link_speed");
	expect(f, "pcie.link-gen", GM_CHECK_SKIP,
	       "link generation unknown: cannot read current_link_speed", "");
	load(f, "no-driver.json");
	for (size_t i = 0; i < f->inv.host.n_pci; i++)
		gm_pci_dev_release(&f->inv.host.pci[i]);
	f->inv.host.n_pci = 0;
	expect(f, "pcie.link-width", GM_CHECK_SKIP, "no NVIDIA GPU on the PCI bus or in NVML", "");
}

static void sriov(void **state)
{
	struct fx *f = *state;
	f->ctx.profile = GM_PROFILE_VM;
	expect(f, "pcie.sriov", GM_CHECK_WARN,
	       "no SR-IOV capability on 0000:17:00.0, 0000:65:00.0: whole-GPU passthrough works, "
	       "vGPU does not",
	       "enable SR-IOV in the firmware setup; with the vGPU host driver, sudo "
	       "/usr/lib/nvidia/sriov-manage -e ALL");
	gm_fint_set(&f->inv.host.pci[0].sriov_totalvfs, 16);
	gm_fint_set(&f->inv.host.pci[1].sriov_totalvfs, 16);
	expect(f, "pcie.sriov", GM_CHECK_PASS, "SR-IOV on all 2 GPUs (16 VFs each)", "");
}

/* Health rules. */

static void row_remap(void **state)
{
	struct fx *f = *state;
	expect(f, "health.row-remap", GM_CHECK_PASS,
	       "no pending or failed row remaps on 2 GPUs (0 rows remapped for uncorrectable "
	       "errors)",
	       "");
	gm_fbool_set(&gpu(f, 1)->remapped_rows_pending, true);
	gm_fint_set(&gpu(f, 1)->remapped_rows_uncorrectable, 1);
	expect(f, "health.row-remap", GM_CHECK_WARN,
	       "row remap pending on GPU 1 (0000:65:00.0): takes effect at the next GPU reset",
	       "drain the GPU and reset it: sudo nvidia-smi -r -i 1");
	gm_fbool_set(&gpu(f, 0)->remapped_rows_failed, true);
	expect(f, "health.row-remap", GM_CHECK_FAIL,
	       "row remapping failed on GPU 0 (0000:17:00.0); pending on GPU 1 (0000:65:00.0)",
	       "drain the node: the GPU has run out of spare rows and needs service (RMA); run "
	       "dcgmi "
	       "diag -r 3 for the support case");
	load(f, "degraded-t4.json");
	expect(f, "health.row-remap", GM_CHECK_SKIP,
	       "row remapping not reported (nvmlDeviceGetRemappedRows: Not Supported); pre-Ampere "
	       "GPUs retire pages instead",
	       "");
}

static void retired_pages(void **state)
{
	struct fx *f = *state;
	expect(f, "health.retired-pages", GM_CHECK_SKIP,
	       "page retirement not reported (nvmlDeviceGetRetiredPages: Not Supported); Ampere "
	       "and "
	       "later remap rows instead",
	       "");
	load(f, "degraded-t4.json");
	expect(f, "health.retired-pages", GM_CHECK_WARN,
	       "page retirement pending on GPU 1 (0000:65:00.0): takes effect when the driver "
	       "reloads",
	       "drain the node and reboot (or reload the driver: sudo rmmod nvidia_uvm nvidia_drm "
	       "nvidia_modeset nvidia && sudo modprobe nvidia)");
	gm_fint_set(&gpu(f, 0)->retired_pages_sbe, 59);
	expect(f, "health.retired-pages", GM_CHECK_FAIL,
	       "retired 60 pages on GPU 0 (0000:17:00.0) (NVIDIA's RMA guideline: 60)",
	       "drain the node and RMA the GPU; run dcgmi diag -r 3 for the support case");
}

static void ecc(void **state)
{
	struct fx *f = *state;
	expect(f, "health.ecc", GM_CHECK_PASS, "ECC on, no uncorrected errors on 2 GPUs", "");
	gm_fbool_set(&gpu(f, 1)->ecc_enabled, false);
	expect(f, "health.ecc", GM_CHECK_WARN,
	       "ECC off on GPU 1 (0000:65:00.0): memory errors go undetected",
	       "sudo nvidia-smi -i 1 -e 1 && sudo reboot");
	load(f, "degraded-t4.json");
	expect(f, "health.ecc", GM_CHECK_FAIL,
	       "uncorrected ECC errors since the driver loaded: 2 on GPU 0 (0000:17:00.0)",
	       "drain the node and reset the GPU (sudo nvidia-smi -r -i 0); RMA if errors return");
	for (size_t i = 0; i < 2; i++) {
		gm_fact_fail(&gpu(f, i)->ecc_enabled.f, GM_FACT_UNSUPPORTED,
		             "nvmlDeviceGetEccMode: Not Supported");
		gm_fact_fail(&gpu(f, i)->ecc_uncorrected_volatile.f, GM_FACT_UNSUPPORTED,
		             "nvmlDeviceGetTotalEccErrors: Not Supported");
	}
	expect(f, "health.ecc", GM_CHECK_SKIP,
	       "ECC not reported (nvmlDeviceGetEccMode: Not Supported): these GPUs have no ECC "
	       "memory",
	       "");
}

static void xid(void **state)
{
	struct fx *f = *state;
	expect(f, "health.xid", GM_CHECK_PASS, "no Xid errors in /var/log/kern.log", "");
	set_log(f, "kern.log");
	expect(f, "health.xid", GM_CHECK_FAIL,
	       "Xid 13 (Graphics Engine Exception) x2 on GPU 0 (0000:17:00.0); Xid 79 (GPU has "
	       "fallen off the bus) x1 on GPU 1 (0000:65:00.0); Xid 31 (GPU memory page fault) x1 "
	       "on GPU 0 (0000:17:00.0) in /var/log/kern.log",
	       "Xid 13: restart the application; if it repeats on the same GPC/TPC/SM across "
	       "different applications, drain the node and run DCGM diagnostics (dcgmi diag -r 3); "
	       "Xid 79: drain the node and power-cycle the host; check PCIe seating, power and "
	       "cooling; RMA if it repeats; Xid 31: restart the application and check it for "
	       "illegal memory accesses (compute-sanitizer); if it repeats across applications, "
	       "drain the node and run DCGM diagnostics");
	set_log(f, "dmesg-app-only");
	free(f->ev.log_source);
	f->ev.log_source = gm_xstrdup("/var/log/dmesg");
	expect(f, "health.xid", GM_CHECK_WARN,
	       "Xid 43 (GPU stopped processing) x2 on PCI 0000:3b:00; Xid 31 (GPU memory page "
	       "fault) "
	       "x1 on PCI 0000:00:1e in /var/log/dmesg",
	       "Xid 43: no action for the node; the affected application has exited and can be "
	       "restarted; Xid 31: restart the application and check it for illegal memory "
	       "accesses "
	       "(compute-sanitizer); if it repeats across applications, drain the node and run "
	       "DCGM "
	       "diagnostics");
	gm_buf_reset(&f->ev.log_text);
	gm_buf_adds(&f->ev.log_text, "[1.0] NVRM: Xid (PCI:0000:17:00): 999, pid=1, unknown\n");
	expect(f, "health.xid", GM_CHECK_WARN,
	       "Xid 999 (not in the Xid catalog) x1 on GPU 0 (0000:17:00.0) in /var/log/dmesg",
	       "look the codes up in NVIDIA's Xid catalog "
	       "(https://docs.nvidia.com/deploy/xid-errors/)");
	gm_fact_fail(&f->ev.kernel_log, GM_FACT_ERROR,
	             "no kernel log readable (tried /var/log/kern.log, /var/log/messages)");
	expect(f, "health.xid", GM_CHECK_SKIP,
	       "no kernel log readable (tried /var/log/kern.log, /var/log/messages)", "");
	f->ctx.ev = NULL;
	expect(f, "health.xid", GM_CHECK_SKIP,
	       "kernel log not in a saved inventory (run check on the host)", "");
}

/* Runtime and Kubernetes rules. */

static void runtime(void **state)
{
	struct fx *f = *state;
	struct gm_host *h = &f->inv.host;
	expect(f, "runtime.nvidia", GM_CHECK_PASS, "nvidia runtime configured for containerd", "");
	expect(f, "runtime.toolkit", GM_CHECK_PASS, "nvidia-container-toolkit installed", "");
	f->ctx.profile = GM_PROFILE_DOCKER;
	expect(f, "runtime.nvidia", GM_CHECK_PASS, "nvidia runtime configured for docker", "");
	gm_fbool_set(&h->docker_nvidia, false);
	expect(f, "runtime.nvidia", GM_CHECK_FAIL,
	       "docker has no nvidia runtime: containers get no GPU",
	       "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart "
	       "docker");
	gm_fbool_set(&h->docker, false);
	expect(f, "runtime.nvidia", GM_CHECK_FAIL, "docker not installed",
	       "install Docker Engine (https://docs.docker.com/engine/install/), then sudo "
	       "nvidia-ctk "
	       "runtime configure --runtime=docker && sudo systemctl restart docker");
	f->ctx.profile = GM_PROFILE_K8S;
	gm_fbool_set(&h->containerd_nvidia, false);
	expect(f, "runtime.nvidia", GM_CHECK_WARN,
	       "no nvidia runtime in containerd's configuration, yet the device plugin runs (the "
	       "GPU "
	       "Operator may use a drop-in file)",
	       "sudo nvidia-ctk runtime configure --runtime=containerd && sudo systemctl restart "
	       "containerd");
	load(f, "degraded-t4.json");
	expect(f, "runtime.nvidia", GM_CHECK_FAIL,
	       "containerd has no nvidia runtime: containers get no GPU",
	       "sudo nvidia-ctk runtime configure --runtime=containerd && sudo systemctl restart "
	       "containerd");
	h = &f->inv.host;
	gm_fbool_set(&h->containerd, false);
	expect(f, "runtime.nvidia", GM_CHECK_FAIL, "containerd not installed",
	       "install containerd (sudo dnf install -y containerd.io), then sudo nvidia-ctk "
	       "runtime "
	       "configure --runtime=containerd && sudo systemctl restart containerd");
	f->ctx.profile = GM_PROFILE_ANTHOS;
	expect(f, "runtime.nvidia", GM_CHECK_SKIP,
	       "containerd not installed yet: GDC installs it, and the NVIDIA GPU Operator "
	       "configures "
	       "its runtime",
	       "");

	f->ctx.profile = GM_PROFILE_K8S;
	load(f, "no-driver.json");
	expect(f, "runtime.toolkit", GM_CHECK_FAIL, "nvidia-container-toolkit not installed",
	       "add NVIDIA's apt repository "
	       "(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/"
	       "install-guide.html), then sudo apt-get install -y nvidia-container-toolkit");
	gm_fbool_set(&f->inv.host.device_plugin, true);
	expect(f, "runtime.toolkit", GM_CHECK_PASS,
	       "toolkit not on the host; the device plugin runs (the GPU Operator ships the "
	       "toolkit "
	       "as a container)",
	       "");
}

static void kube(void **state)
{
	struct fx *f = *state;
	expect(f, "k8s.kubelet", GM_CHECK_PASS, "kubelet installed", "");
	expect(f, "k8s.device-plugin", GM_CHECK_PASS,
	       "NVIDIA device plugin socket in /var/lib/kubelet/device-plugins", "");
	gm_fbool_set(&f->inv.host.device_plugin, false);
	expect(f, "k8s.device-plugin", GM_CHECK_WARN,
	       "no NVIDIA device plugin socket in /var/lib/kubelet/device-plugins: pods cannot "
	       "request nvidia.com/gpu",
	       "helm repo add nvidia https://helm.ngc.nvidia.com/nvidia && helm install --wait "
	       "gpu-operator -n gpu-operator --create-namespace nvidia/gpu-operator --set "
	       "driver.enabled=false");
	gm_fbool_set(&f->inv.host.kubelet, false);
	expect(f, "k8s.kubelet", GM_CHECK_FAIL, "kubelet not installed",
	       "install kubeadm, kubelet and kubectl "
	       "(https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/"
	       "install-kubeadm/) and join the node");
	expect(f, "k8s.device-plugin", GM_CHECK_SKIP,
	       "kubelet not installed: the device plugin comes after the node joins", "");
	f->ctx.profile = GM_PROFILE_ANTHOS;
	expect(f, "k8s.kubelet", GM_CHECK_SKIP,
	       "kubelet not installed yet: bmctl installs it when the node joins", "");
}

static void set_names(struct fx *f, const char *a, const char *b)
{
	gm_fstr_set(&gpu(f, 0)->name, a);
	gm_fstr_set(&gpu(f, 1)->name, b);
}

static void node_labels(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name, *gke;
	} cases[] = {
	        {"NVIDIA A100-SXM4-80GB", "nvidia-a100-80gb"},
	        {"NVIDIA A100 80GB PCIe", "nvidia-a100-80gb"},
	        {"NVIDIA A100-SXM4-40GB", "nvidia-tesla-a100"},
	        {"NVIDIA H100 80GB HBM3", "nvidia-h100-80gb"},
	        {"NVIDIA L4", "nvidia-l4"},
	        {"Tesla T4", "nvidia-tesla-t4"},
	        {"Tesla V100-SXM2-16GB", "nvidia-tesla-v100"},
	        {"Tesla P4", "nvidia-tesla-p4"},
	        {"Tesla P100-PCIE-16GB", "nvidia-tesla-p100"},
	};
	struct gm_buf ev = GM_BUF_INIT, hint = GM_BUF_INIT;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_names(f, cases[i].name, cases[i].name);
		gm_buf_reset(&ev);
		gm_buf_reset(&hint);
		gm_buf_addf(&ev, "'%s' is GKE's %s", cases[i].name, cases[i].gke);
		gm_buf_addf(&hint,
		            "kubectl label nodes gpu-a100-01 accelerator=%s "
		            "cloud.google.com/gke-accelerator=%s",
		            cases[i].gke, cases[i].gke);
		expect(f, "k8s.node-labels", GM_CHECK_PASS, gm_buf_cstr(&ev), gm_buf_cstr(&hint));
	}
	gm_buf_release(&ev);
	gm_buf_release(&hint);
	set_names(f, "NVIDIA L40S", "NVIDIA L40S");
	expect(f, "k8s.node-labels", GM_CHECK_PASS,
	       "'NVIDIA L40S' has no GKE accelerator name: label it by product; manifests that "
	       "select "
	       "cloud.google.com/gke-accelerator need rewriting (gpumigrate k8s rewrite)",
	       "kubectl label nodes gpu-a100-01 nvidia.com/gpu.product=NVIDIA-L40S");
	set_names(f, "Tesla P40", "Tesla P40"); /* not P4 */
	assert_null(strstr(gm_buf_cstr(&run(f, "k8s.node-labels")->hint), "nvidia-tesla-p4"));
	set_names(f, "Tesla T4", "NVIDIA L4");
	expect(f, "k8s.node-labels", GM_CHECK_WARN,
	       "GPU models differ ('Tesla T4', 'NVIDIA L4'): one accelerator label cannot describe "
	       "the "
	       "node",
	       "keep one GPU model per node, or select on nvidia.com/gpu.product from GPU Feature "
	       "Discovery");
	set_names(f, "Tesla T4", "Tesla T4");
	gm_fact_fail(&f->inv.host.hostname.f, GM_FACT_ERROR, "cannot read hostname");
	expect(f, "k8s.node-labels", GM_CHECK_PASS, "'Tesla T4' is GKE's nvidia-tesla-t4",
	       "kubectl label nodes <node> accelerator=nvidia-tesla-t4 "
	       "cloud.google.com/gke-accelerator=nvidia-tesla-t4");
	load(f, "no-driver.json");
	expect(f, "k8s.node-labels", GM_CHECK_SKIP,
	       "no GPU data: no NVIDIA driver found (libnvidia-ml.so.1)", "");
}

/* Anthos rules. */

static void anthos(void **state)
{
	struct fx *f = *state;
	struct gm_host *h = &f->inv.host;
	f->ctx.profile = GM_PROFILE_ANTHOS;
	expect(f, "anthos.os", GM_CHECK_PASS, "Ubuntu 22.04.4 LTS is supported", "");
	gm_fstr_set(&h->os_id, "rhel");
	gm_fstr_set(&h->os_version_id, "9.4");
	gm_fact_fail(&h->os_pretty.f, GM_FACT_UNKNOWN, "not recorded");
	expect(f, "anthos.os", GM_CHECK_PASS, "rhel 9.4 is supported", "");
	gm_fstr_set(&h->os_version_id, "8");
	expect(f, "anthos.os", GM_CHECK_PASS, "rhel 8 is supported", "");
	gm_fstr_set(&h->os_version_id, "80.1");
	assert_int_equal(run(f, "anthos.os")->status, GM_CHECK_FAIL);
	gm_fstr_set(&h->os_id, "ubuntu");
	gm_fstr_set(&h->os_version_id, "18.04");
	expect(f, "anthos.os", GM_CHECK_FAIL, "ubuntu 18.04 is not a supported node OS",
	       "reinstall with Ubuntu 20.04/22.04/24.04 LTS, RHEL 8/9 or Rocky Linux 8/9 "
	       "(https://cloud.google.com/kubernetes-engine/distributed-cloud/bare-metal/docs/"
	       "installing/os-reqs)");
	gm_fact_fail(&h->os_id.f, GM_FACT_ERROR, "cannot read /etc/os-release");
	expect(f, "anthos.os", GM_CHECK_SKIP, "OS release unknown: cannot read /etc/os-release",
	       "");

	expect(f, "anthos.swap", GM_CHECK_PASS, "swap off", "");
	gm_fbool_set(&h->swap_on, true);
	expect(f, "anthos.swap", GM_CHECK_FAIL, "swap on: the kubelet refuses to start with swap",
	       "sudo swapoff -a && sudo sed -i '/\\sswap\\s/s/^/#/' /etc/fstab");
	gm_fact_fail(&h->swap_on.f, GM_FACT_ERROR, "cannot read /proc/swaps");
	expect(f, "anthos.swap", GM_CHECK_SKIP, "swap state unknown: cannot read /proc/swaps", "");

	expect(f, "anthos.time-sync", GM_CHECK_PASS, "chronyd running", "");
	gm_fstr_set(&f->ev.time_sync, "");
	expect(f, "anthos.time-sync", GM_CHECK_FAIL,
	       "no time-sync daemon running (chronyd, ntpd, systemd-timesyncd): etcd and "
	       "certificates "
	       "need synchronised clocks",
	       "sudo apt-get install -y chrony && sudo systemctl enable --now chrony");
	gm_fact_fail(&f->ev.time_sync.f, GM_FACT_UNKNOWN, "no processes visible in /proc");
	expect(f, "anthos.time-sync", GM_CHECK_SKIP,
	       "process list unknown: no processes visible in /proc", "");

	expect(f, "anthos.ports", GM_CHECK_PASS, "all 17 required TCP ports free", "");
	f->ev.ports = gm_xreallocarray(f->ev.ports, 3, sizeof(uint16_t));
	f->ev.ports[1] = 6444;
	f->ev.ports[2] = 10250;
	f->ev.n_ports = 3;
	gm_fbool_set(&h->kubelet, false);
	expect(f, "anthos.ports", GM_CHECK_FAIL,
	       "in use: 6444 (Kubernetes API server), 10250 (kubelet API)",
	       "sudo ss -ltnp '( sport = :6444 or sport = :10250 )' shows the owners; stop and "
	       "disable them");
	gm_fbool_set(&h->kubelet, true);
	expect(f, "anthos.ports", GM_CHECK_WARN,
	       "in use: 6444 (Kubernetes API server), 10250 (kubelet API); a kubelet is installed, "
	       "so "
	       "a cluster may already run here",
	       "sudo ss -ltnp '( sport = :6444 or sport = :10250 )' shows the owners; reset an old "
	       "cluster with bmctl reset before installing");
	gm_fact_fail(&f->ev.tcp, GM_FACT_ERROR, "cannot read /proc/net/tcp or /proc/net/tcp6");
	expect(f, "anthos.ports", GM_CHECK_SKIP, "cannot read /proc/net/tcp or /proc/net/tcp6", "");
	f->ctx.ev = NULL;
	expect(f, "anthos.ports", GM_CHECK_SKIP,
	       "listening ports not in a saved inventory (run check on the host)", "");
}

/* Requirement rules. */

static void requirements(void **state)
{
	struct fx *f = *state;
	expect(f, "gpu.count", GM_CHECK_SKIP, "no GPU count required (--require-gpus N)", "");
	expect(f, "gpu.model", GM_CHECK_SKIP, "no GPU model required (--require-gpu-model NAME)",
	       "");
	expect(f, "gpu.memory", GM_CHECK_SKIP, "no GPU memory required (--require-gpu-memory GIB)",
	       "");
	f->ctx.req.gpus = 2;
	f->ctx.req.gpu_model = "a100";
	f->ctx.req.gpu_memory_bytes = 40 * GIB;
	expect(f, "gpu.count", GM_CHECK_PASS, "2 GPUs, 2 required", "");
	expect(f, "gpu.model", GM_CHECK_PASS, "2 x NVIDIA A100-SXM4-80GB match 'a100'", "");
	expect(f, "gpu.memory", GM_CHECK_PASS, "2 GPUs with at least 80.0 GiB (40.0 GiB required)",
	       "");
	f->ctx.req.gpus = 4;
	f->ctx.req.gpu_model = "A100";
	f->ctx.req.gpu_memory_bytes = 16 * GIB;
	load(f, "degraded-t4.json");
	expect(f, "gpu.count", GM_CHECK_FAIL, "2 GPUs, 4 required",
	       "lspci -nn | grep -i nvidia lists what the bus sees; reseat or add GPUs, or place "
	       "the "
	       "workload on a bigger host");
	expect(f, "gpu.model", GM_CHECK_FAIL,
	       "GPU 0 (0000:17:00.0) is 'Tesla T4', GPU 1 (0000:65:00.0) is 'Tesla T4'; 'A100' "
	       "required",
	       "run the workload on hosts with A100 GPUs, or change the plan's requirement after "
	       "comparing them (gpumigrate compare)");
	expect(f, "gpu.memory", GM_CHECK_FAIL,
	       "GPU 0 (0000:17:00.0) has 15.4 GiB, GPU 1 (0000:65:00.0) has 15.4 GiB; 16.0 GiB "
	       "required",
	       "use GPUs with more memory, or shard the model (tensor/pipeline parallelism) to "
	       "fit");
	load(f, "no-driver.json");
	f->ctx.req.gpus = 1;
	expect(f, "gpu.count", GM_CHECK_PASS,
	       "2 GPUs on the PCI bus (NVML unavailable), 1 required", "");
	expect(f, "gpu.model", GM_CHECK_FAIL,
	       "'A100' required; no GPU names: no NVIDIA driver found (libnvidia-ml.so.1)",
	       "sudo apt-get install -y nvidia-driver-570-server && sudo reboot");
	expect(f, "gpu.memory", GM_CHECK_FAIL,
	       "16 GiB per GPU required; no GPU data: no NVIDIA driver found (libnvidia-ml.so.1)",
	       "sudo apt-get install -y nvidia-driver-570-server && sudo reboot");
}

/* The host without a driver: GPU checks fail clearly, host checks still run. */
static void no_driver_host(void **state)
{
	struct fx *f = *state;
	load(f, "no-driver.json");
	f->ctx.req.cuda = "12.4";
	gm_check_run(&f->ctx, NULL, NULL, &f->rep);
	f->ran = true;
	static const char *const fails[] = {
	        "driver.loaded",      "driver.dev-nodes", "driver.nvml",    "driver.uvm",
	        "driver.cuda-compat", "runtime.nvidia",   "runtime.toolkit"};
	for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
		const struct gm_check_result *r = gm_check_report_find(&f->rep, fails[i]);
		assert_non_null(r);
		if (r->status != GM_CHECK_FAIL)
			fail_msg("%s is %s", fails[i], gm_check_status_name(r->status));
		assert_true(r->hint.len > 0);
	}
	assert_int_equal(gm_check_report_find(&f->rep, "iommu.passthrough")->status, GM_CHECK_PASS);
	assert_int_equal(gm_check_report_find(&f->rep, "pcie.link-width")->status, GM_CHECK_PASS);
	assert_int_equal(gm_check_report_find(&f->rep, "driver.nouveau")->status, GM_CHECK_PASS);
	assert_int_equal(f->rep.count[GM_CHECK_FAIL], 7);
}

/* Rendering. */

static void json_document(void **state)
{
	struct fx *f = *state;
	struct gm_check_report reps[2];
	struct gm_buf out = GM_BUF_INIT;
	struct gm_doc doc;
	struct gm_err err = GM_ERR_INIT;
	gm_check_run(&f->ctx, NULL, "local", &reps[0]);
	load(f, "degraded-t4.json");
	f->ctx.ev = NULL;
	gm_check_run(&f->ctx, NULL, "degraded-t4.json", &reps[1]);
	gm_check_to_json(reps, 2, &out, false);
	assert_int_equal(gm_doc_load_string(&doc, "out.json", out.data, out.len, &err), GM_OK);
	struct fy_node *root = gm_doc_root(&doc);
	assert_string_equal(gm_doc_scalar(gm_doc_get(root, "schema")), "gpumigrate.check/v1");
	struct fy_node *hosts = gm_doc_get(root, "hosts");
	assert_int_equal(gm_doc_seq_len(hosts), 2);
	struct fy_node *h1 = gm_doc_seq_at(hosts, 1);
	assert_string_equal(gm_doc_scalar(gm_doc_get(h1, "host")), "gpu-t4-07");
	assert_string_equal(gm_doc_scalar(gm_doc_get(h1, "source")), "degraded-t4.json");
	assert_string_equal(gm_doc_scalar(gm_doc_get(h1, "profile")), "k8s");
	struct fy_node *results = gm_doc_get(h1, "results");
	assert_int_equal(gm_doc_seq_len(results), 31);
	struct fy_node *first = gm_doc_seq_at(results, 0);
	assert_string_equal(gm_doc_map_key_at(first, 0), "id");
	assert_string_equal(gm_doc_map_key_at(first, 1), "title");
	assert_string_equal(gm_doc_map_key_at(first, 2), "status");
	assert_string_equal(gm_doc_map_key_at(first, 3), "evidence");
	assert_string_equal(gm_doc_map_key_at(first, 4), "hint");
	assert_string_equal(gm_doc_map_key_at(first, 5), "skip_reason");
	assert_true(gm_doc_is_null(gm_doc_get(first, "skip_reason")));
	struct fy_node *uvm = gm_doc_seq_at(results, 4);
	assert_string_equal(gm_doc_scalar(gm_doc_get(uvm, "id")), "driver.uvm");
	assert_string_equal(gm_doc_scalar(gm_doc_get(uvm, "status")), "FAIL");
	assert_string_equal(gm_doc_scalar(gm_doc_get(uvm, "hint")),
	                    "sudo modprobe nvidia_uvm && echo nvidia_uvm | sudo tee "
	                    "/etc/modules-load.d/nvidia-uvm.conf");
	struct fy_node *sum = gm_doc_get(h1, "summary");
	char num[32];
	snprintf(num, sizeof(num), "%zu", reps[1].count[GM_CHECK_FAIL]);
	assert_string_equal(gm_doc_scalar(gm_doc_get(sum, "failed")), num);
	snprintf(num, sizeof(num), "%zu", reps[1].count[GM_CHECK_SKIP]);
	assert_string_equal(gm_doc_scalar(gm_doc_get(sum, "skipped")), num);
	assert_int_equal(reps[1].count[GM_CHECK_FAIL], 5);
	gm_doc_release(&doc);
	gm_buf_release(&out);
	gm_check_report_release(&reps[0]);
	gm_check_report_release(&reps[1]);
	gm_err_release(&err);
}

static void assert_in(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("not found: %s\n--- in ---\n%s", needle, hay);
}

static void junit_document(void **state)
{
	struct fx *f = *state;
	struct gm_check_report reps[2];
	struct gm_buf out = GM_BUF_INIT;
	gm_fstr_set(&f->inv.host.hostname, "a<b>&\"c\"\xff\x01");
	gm_check_run(&f->ctx, NULL, "local", &reps[0]);
	load(f, "degraded-t4.json");
	gm_check_run(&f->ctx, NULL, "degraded-t4.json", &reps[1]);
	gm_check_to_junit(reps, 2, &out);
	const char *x = gm_buf_cstr(&out);
	assert_true(strncmp(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites ", 51) ==
	            0);
	assert_in(x, "<testsuite name=\"a&lt;b&gt;&amp;&quot;c&quot;\xef\xbf\xbd\xef\xbf\xbd\" "
	             "tests=\"31\" failures=\"0\" errors=\"0\" skipped=\"12\">");
	assert_in(x, "<testsuite name=\"gpu-t4-07\" tests=\"31\"");
	assert_in(x, "<testcase classname=\"gpumigrate.check.gpu-t4-07\" "
	             "name=\"driver.uvm\">\n      <failure type=\"FAIL\" "
	             "message=\"nvidia_uvm not loaded: CUDA applications fail with "
	             "cudaErrorNoDevice / error 100\">sudo modprobe nvidia_uvm &amp;&amp; "
	             "echo nvidia_uvm | sudo tee /etc/modules-load.d/nvidia-uvm.conf"
	             "</failure>\n    </testcase>");
	assert_in(x, "name=\"pcie.sriov\">\n      <skipped message=\"not needed for "
	             "profile k8s (applies to vm-passthrough)\"/>");
	assert_in(x, "name=\"pcie.link-gen\">\n      <system-out>WARN: gen 1 of 4 on GPU "
	             "1 (0000:65:00.0) (idle GPUs downtrain; recheck under load)&#10;"
	             "hint: put load");
	assert_in(x, "<property name=\"profile\" value=\"k8s\"/>");
	char head[128];
	snprintf(head, sizeof(head), "tests=\"62\" failures=\"%zu\"", reps[1].count[GM_CHECK_FAIL]);
	assert_in(x, head);
	assert_in(x, "</testsuites>\n");
	gm_buf_release(&out);
	gm_check_report_release(&reps[0]);
	gm_check_report_release(&reps[1]);
}

/* Evidence readers on a temporary root. */

static void put(const char *root, const char *rel, const char *text)
{
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_addf(&path, "%s/%s", root, rel);
	char *slash = strrchr(path.data, '/');
	for (char *p = path.data + strlen(root) + 1; p < slash; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path.data, 0755);
			*p = '/';
		}
	}
	*slash = '\0';
	mkdir(path.data, 0755);
	*slash = '/';
	assert_int_equal(gm_fs_write_atomic(gm_buf_cstr(&path), text, strlen(text), NULL), GM_OK);
	gm_buf_release(&path);
}

static void evidence_readers(void **state)
{
	(void)state;
	char dir[] = "/tmp/gm-check-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct gm_root root = {dir};
	struct gm_evidence ev;
	static const char tcp[] =
	        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid "
	        " "
	        "timeout inode\n"
	        "   0: 00000000:192C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
	        "       0 31337 1 0000000000000000 100 0 0 10 0\n"
	        "   1: 0100007F:280A 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0 "
	        "       0 31338 1 0000000000000000 20 4 30 10 -1\n"
	        "   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
	        "       0 31339 1 0000000000000000 100 0 0 10 0\n";
	static const char tcp6[] =
	        "  sl  local_address                         remote_address                        "
	        "st "
	        "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	        "   0: 00000000000000000000000000000000:094B 00000000000000000000000000000000:0000 "
	        "0A "
	        "00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n"
	        "   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 "
	        "0A "
	        "00000000:00000000 00:00000000 00000000     0        0 4243 1 0 100 0 0 10 0\n";
	put(dir, "proc/1/comm", "systemd\n");
	put(dir, "proc/812/comm", "systemd-timesyn\n");
	put(dir, "proc/903/comm", "nvidia-persiste\n");
	put(dir, "proc/self/comm", "ignored\n");
	put(dir, "proc/net/tcp", tcp);
	put(dir, "proc/net/tcp6", tcp6);
	put(dir, "var/log/messages", "Nov 27 host kernel: NVRM: Xid (PCI:0000:17:00): 79, pid=0\n");

	gm_evidence_init(&ev);
	gm_evidence_collect(&ev, &root);
	assert_true(gm_fact_ok(&ev.kernel_log));
	assert_string_equal(ev.log_source, "/var/log/messages"); /* no kern.log here */
	assert_string_equal(gm_buf_cstr(&ev.log_text),
	                    "Nov 27 host kernel: NVRM: Xid (PCI:0000:17:00): 79, pid=0\n");
	assert_true(gm_fact_ok(&ev.persistenced.f));
	assert_true(ev.persistenced.v);
	assert_true(gm_fact_ok(&ev.time_sync.f));
	assert_string_equal(ev.time_sync.v, "systemd-timesyncd");
	assert_true(gm_fact_ok(&ev.tcp));
	assert_int_equal(ev.n_ports, 3); /* 22 (both files, once), 2379, 6444; not 10250 */
	assert_int_equal(ev.ports[0], 22);
	assert_int_equal(ev.ports[1], 2379);
	assert_int_equal(ev.ports[2], 6444);
	assert_true(gm_evidence_port_listening(&ev, 6444));
	assert_false(gm_evidence_port_listening(&ev, 10250));
	gm_evidence_release(&ev);

	/* kern.log wins over messages; no daemons */
	put(dir, "var/log/kern.log", "Nov 27 host kernel: all quiet\n");
	put(dir, "proc/812/comm", "bash\n");
	put(dir, "proc/903/comm", "sshd\n");
	gm_evidence_init(&ev);
	gm_evidence_collect(&ev, &root);
	assert_string_equal(ev.log_source, "/var/log/kern.log");
	assert_false(ev.persistenced.v);
	assert_string_equal(ev.time_sync.v, "");
	gm_evidence_release(&ev);

	/* an empty root: every piece unknown with the reason */
	char empty[] = "/tmp/gm-check-empty-XXXXXX";
	assert_non_null(mkdtemp(empty));
	struct gm_root none = {empty};
	gm_evidence_init(&ev);
	gm_evidence_collect(&ev, &none);
	assert_int_equal(ev.kernel_log.state, GM_FACT_ERROR);
	assert_string_equal(ev.kernel_log.why, "no kernel log readable (tried /var/log/kern.log, "
	                                       "/var/log/messages, /var/log/dmesg)");
	assert_int_equal(ev.persistenced.f.state, GM_FACT_ERROR);
	assert_non_null(strstr(ev.persistenced.f.why, "cannot list /proc"));
	assert_int_equal(ev.tcp.state, GM_FACT_ERROR);
	assert_string_equal(ev.tcp.why, "cannot read /proc/net/tcp or /proc/net/tcp6");
	gm_evidence_release(&ev);
	assert_false(gm_evidence_parse_proc_net_tcp(&ev, "garbage\n"));

	struct gm_buf cmd = GM_BUF_INIT;
	gm_buf_addf(&cmd, "rm -rf '%s' '%s'", dir, empty);
	assert_int_equal(system(gm_buf_cstr(&cmd)), 0);
	gm_buf_release(&cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(registry),
	        cmocka_unit_test(profiles),
	        cmocka_unit_test_setup_teardown(healthy_passes, setup, teardown),
	        cmocka_unit_test_setup_teardown(filters, setup, teardown),
	        cmocka_unit_test_setup_teardown(profile_skip_reason, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_loaded, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_nouveau, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_dev_nodes, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_nvml, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_uvm, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_cuda_compat, setup, teardown),
	        cmocka_unit_test_setup_teardown(driver_persistence, setup, teardown),
	        cmocka_unit_test_setup_teardown(iommu, setup, teardown),
	        cmocka_unit_test_setup_teardown(iommu_groups, setup, teardown),
	        cmocka_unit_test_setup_teardown(numa, setup, teardown),
	        cmocka_unit_test_setup_teardown(pcie, setup, teardown),
	        cmocka_unit_test_setup_teardown(sriov, setup, teardown),
	        cmocka_unit_test_setup_teardown(row_remap, setup, teardown),
	        cmocka_unit_test_setup_teardown(retired_pages, setup, teardown),
	        cmocka_unit_test_setup_teardown(ecc, setup, teardown),
	        cmocka_unit_test_setup_teardown(xid, setup, teardown),
	        cmocka_unit_test_setup_teardown(runtime, setup, teardown),
	        cmocka_unit_test_setup_teardown(kube, setup, teardown),
	        cmocka_unit_test_setup_teardown(node_labels, setup, teardown),
	        cmocka_unit_test_setup_teardown(anthos, setup, teardown),
	        cmocka_unit_test_setup_teardown(requirements, setup, teardown),
	        cmocka_unit_test_setup_teardown(no_driver_host, setup, teardown),
	        cmocka_unit_test_setup_teardown(json_document, setup, teardown),
	        cmocka_unit_test_setup_teardown(junit_document, setup, teardown),
	        cmocka_unit_test(evidence_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

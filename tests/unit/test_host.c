/* Host readers (src/hw/host.c, pci.c, nic.c, runtime.c) against the fixture trees in
 * tests/fixtures/sysroot, a root that does not exist, and small roots built per test for
 * the parsing rules: PCIe link speeds, os-release quoting, /proc/cpuinfo counting, the
 * kernel command line, NIC discovery and the container runtime configs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hw/host.h"
#include "hw/inventory_fields.h"
#include "util/buf.h"
#include "util/banned.h"

#define ASSERT_OK_STR(x, want)                             \
	do {                                               \
		assert_int_equal((x).f.state, GM_FACT_OK); \
		assert_non_null((x).v);                    \
		assert_string_equal((x).v, (want));        \
	} while (0)
#define ASSERT_OK_INT(x, want)                             \
	do {                                               \
		assert_int_equal((x).f.state, GM_FACT_OK); \
		assert_int_equal((x).v, (want));           \
	} while (0)
#define ASSERT_OK_BOOL(x, want)                            \
	do {                                               \
		assert_int_equal((x).f.state, GM_FACT_OK); \
		assert_int_equal((x).v, (want));           \
	} while (0)
#define ASSERT_FACT(x, st, reason)                        \
	do {                                              \
		assert_int_equal((x).f.state, (st));      \
		assert_non_null((x).f.why);               \
		assert_string_equal((x).f.why, (reason)); \
	} while (0)

static const char *fixtures(void)
{
	const char *dir = getenv("GM_FIXTURES");
	return dir && *dir ? dir : "tests/fixtures";
}

/* Collects the fixture tree sysroot/<name> into host. */
static void collect_fixture(struct gm_host *host, const char *name)
{
	struct gm_buf dir = GM_BUF_INIT;
	gm_buf_addf(&dir, "%s/sysroot/%s", fixtures(), name);
	struct stat st;
	if (stat(dir.data, &st) != 0)
		fail_msg("fixture '%s' missing: %s", dir.data, strerror(errno));
	memset(host, 0, sizeof(*host));
	struct gm_root root = {dir.data};
	gm_host_collect(host, &root);
	gm_buf_release(&dir);
}

/* No host field may be left "unknown" without a reason, and every failure has one. */
static void assert_all_decided(struct gm_host *host, const char *allowed_unknown)
{
	for (const struct gm_field *f = gm_host_fields; f->key; f++) {
		struct gm_fact *fact = gm_field_fact(host, f);
		if (fact->state == GM_FACT_OK)
			continue;
		if (!fact->why || !*fact->why)
			fail_msg("field '%s' failed without a reason", f->key);
		if (fact->state == GM_FACT_UNKNOWN &&
		    (!allowed_unknown || strcmp(f->key, allowed_unknown) != 0))
			fail_msg("field '%s' left unknown: %s", f->key, fact->why);
	}
}

/* --- scratch roots ------------------------------------------------------------------ */

struct scratch {
	char dir[64];
	struct gm_root root;
};

static void scratch_init(struct scratch *s)
{
	memcpy(s->dir, "/tmp/gm-test-host-XXXXXX", sizeof("/tmp/gm-test-host-XXXXXX"));
	assert_non_null(mkdtemp(s->dir));
	s->root.dir = s->dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void scratch_release(struct scratch *s)
{
	nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void mkdirs(const char *full)
{
	struct gm_buf p = GM_BUF_INIT;
	gm_buf_adds(&p, full);
	for (size_t i = 1; i < p.len; i++) {
		if (p.data[i] != '/')
			continue;
		p.data[i] = '\0';
		mkdir(p.data, 0755);
		p.data[i] = '/';
	}
	mkdir(p.data, 0755);
	gm_buf_release(&p);
}

static void parent_dirs(const char *full)
{
	struct gm_buf p = GM_BUF_INIT;
	gm_buf_adds(&p, full);
	char *slash = strrchr(p.data, '/');
	*slash = '\0';
	mkdirs(p.data);
	gm_buf_release(&p);
}

/* Writes text to path (an in-root absolute path), creating directories. */
static void put(struct scratch *s, const char *path, const char *text)
{
	struct gm_buf full = GM_BUF_INIT;
	gm_buf_addf(&full, "%s%s", s->dir, path);
	parent_dirs(full.data);
	FILE *f = fopen(full.data, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	gm_buf_release(&full);
}

static void put_link(struct scratch *s, const char *path, const char *target)
{
	struct gm_buf full = GM_BUF_INIT;
	gm_buf_addf(&full, "%s%s", s->dir, path);
	parent_dirs(full.data);
	assert_int_equal(symlink(target, full.data), 0);
	gm_buf_release(&full);
}

static void put_dir(struct scratch *s, const char *path)
{
	struct gm_buf full = GM_BUF_INIT;
	gm_buf_addf(&full, "%s%s", s->dir, path);
	mkdirs(full.data);
	gm_buf_release(&full);
}

/* --- the fixture hosts -------------------------------------------------------------- */

static void onprem_l40s(void **state)
{
	(void)state;
	struct gm_host h;
	collect_fixture(&h, "onprem-l40s");

	ASSERT_OK_STR(h.hostname, "gpu-node-01");
	ASSERT_OK_STR(h.os_id, "ubuntu");
	ASSERT_OK_STR(h.os_version_id, "22.04");
	ASSERT_OK_STR(h.os_pretty, "Ubuntu 22.04.4 LTS");
	ASSERT_OK_STR(h.kernel_release, "5.15.0-105-generic");
	ASSERT_FACT(h.arch, GM_FACT_UNKNOWN, "not recorded in the root");
	ASSERT_OK_STR(h.kernel_cmdline, "BOOT_IMAGE=/vmlinuz-5.15.0-105-generic "
	                                "root=UUID=8c1f4a52-6b3e-4d5f-9a0e-2f7d1c3b9e44 ro "
	                                "intel_iommu=on iommu=pt pci=realloc=off quiet");
	ASSERT_OK_BOOL(h.iommu_enabled, true);
	ASSERT_OK_STR(h.iommu_vendor, "intel");
	ASSERT_OK_BOOL(h.iommu_passthrough, true);
	ASSERT_OK_INT(h.iommu_groups, 8);
	ASSERT_OK_BOOL(h.mod_nvidia, true);
	ASSERT_OK_BOOL(h.mod_nvidia_uvm, true);
	ASSERT_OK_BOOL(h.mod_nvidia_peermem, true);
	ASSERT_OK_BOOL(h.mod_nvidia_drm, true);
	ASSERT_OK_BOOL(h.mod_nouveau, false);
	ASSERT_OK_STR(h.cpu_model, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
	ASSERT_OK_INT(h.cpu_sockets, 2);
	ASSERT_OK_INT(h.cpu_cores, 64);
	ASSERT_OK_INT(h.cpu_threads, 128);
	ASSERT_OK_INT(h.numa_nodes, 2);
	ASSERT_OK_INT(h.memory_total_bytes, 527759788LL * 1024);
	ASSERT_OK_BOOL(h.swap_on, false);
	ASSERT_OK_INT(h.dev_nvidia_count, 4);

	static const struct {
		const char *bdf, *cpus;
		int numa, group;
	} gpus[] = {
	        {"0000:17:00.0", "0-31,64-95", 0, 27},
	        {"0000:31:00.0", "0-31,64-95", 0, 45},
	        {"0000:b1:00.0", "32-63,96-127", 1, 130},
	        {"0000:ca:00.0", "32-63,96-127", 1, 148},
	};
	assert_int_equal(h.n_pci, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct gm_pci_dev *d = &h.pci[i];
		assert_string_equal(d->bdf, gpus[i].bdf);
		assert_int_equal(d->vendor, 0x10de);
		assert_int_equal(d->device, 0x26b9);
		assert_int_equal(d->class_code, 0x030200);
		ASSERT_OK_STR(d->driver, "nvidia");
		ASSERT_OK_INT(d->numa_node, gpus[i].numa);
		ASSERT_OK_INT(d->iommu_group, gpus[i].group);
		ASSERT_OK_INT(d->sriov_totalvfs, 32);
		ASSERT_OK_INT(d->link_gen_current, 4);
		ASSERT_OK_INT(d->link_gen_max, 4);
		ASSERT_OK_INT(d->link_width_current, 16);
		ASSERT_OK_INT(d->link_width_max, 16);
		ASSERT_OK_STR(d->local_cpulist, gpus[i].cpus);
		assert_ptr_equal(gm_host_find_pci(&h, gpus[i].bdf), d);
	}
	assert_ptr_equal(gm_host_find_pci(&h, "0000:CA:00.0"), &h.pci[3]);
	assert_null(gm_host_find_pci(&h, "0000:4b:00.0")); /* a Mellanox NIC, not NVIDIA */
	assert_null(gm_host_find_pci(&h, "0000:05:00.0")); /* the BMC's VGA */

	/* docker0, veth*, lo are virtual */
	assert_int_equal(h.n_nics, 3);
	assert_string_equal(h.nics[0].name, "eno1");
	ASSERT_OK_STR(h.nics[0].driver, "igb");
	ASSERT_OK_STR(h.nics[0].bdf, "0000:02:00.0");
	ASSERT_OK_INT(h.nics[0].speed_mbps, 1000);
	ASSERT_OK_STR(h.nics[0].operstate, "up");
	ASSERT_OK_INT(h.nics[0].numa_node, 0);
	ASSERT_FACT(h.nics[0].rdma_device, GM_FACT_UNSUPPORTED, "no RDMA device");
	assert_string_equal(h.nics[1].name, "ens1f0np0");
	ASSERT_OK_STR(h.nics[1].driver, "mlx5_core");
	ASSERT_OK_STR(h.nics[1].bdf, "0000:4b:00.0");
	ASSERT_OK_INT(h.nics[1].speed_mbps, 100000);
	ASSERT_OK_STR(h.nics[1].operstate, "up");
	ASSERT_OK_INT(h.nics[1].numa_node, 0);
	ASSERT_OK_STR(h.nics[1].rdma_device, "mlx5_0");
	assert_string_equal(h.nics[2].name, "ens6f0np0");
	ASSERT_OK_STR(h.nics[2].driver, "mlx5_core");
	ASSERT_OK_STR(h.nics[2].bdf, "0000:98:00.0");
	ASSERT_OK_INT(h.nics[2].speed_mbps, 100000);
	ASSERT_OK_STR(h.nics[2].operstate, "up");
	ASSERT_OK_INT(h.nics[2].numa_node, 1);
	ASSERT_OK_STR(h.nics[2].rdma_device, "mlx5_1");

	ASSERT_OK_BOOL(h.docker, true);
	ASSERT_OK_BOOL(h.docker_nvidia, true);
	ASSERT_OK_BOOL(h.containerd, true);
	ASSERT_OK_BOOL(h.containerd_nvidia, true); /* from the conf.d drop-in */
	ASSERT_OK_BOOL(h.nvidia_ctk, true);
	ASSERT_OK_BOOL(h.kubelet, true);
	ASSERT_OK_BOOL(h.device_plugin, true);

	assert_all_decided(&h, "arch");
	gm_host_release(&h);
}

static void gce_t4_vm(void **state)
{
	(void)state;
	struct gm_host h;
	collect_fixture(&h, "gce-t4-vm");

	ASSERT_OK_STR(h.hostname, "t4-trainer-1");
	ASSERT_OK_STR(h.os_id, "debian");
	ASSERT_OK_STR(h.os_version_id, "12");
	ASSERT_OK_STR(h.os_pretty, "Debian GNU/Linux 12 (bookworm)");
	ASSERT_OK_STR(h.kernel_release, "6.1.0-18-cloud-amd64");
	ASSERT_OK_STR(h.arch, "x86_64");
	ASSERT_OK_STR(h.kernel_cmdline,
	              "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-cloud-amd64 "
	              "root=UUID=1f0b4c7e-0d7a-4b0c-8d55-6b9c5f1d2e3a ro console=tty0 "
	              "console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0");
	ASSERT_OK_BOOL(h.iommu_enabled, false);
	ASSERT_FACT(h.iommu_vendor, GM_FACT_UNSUPPORTED, "IOMMU off");
	ASSERT_OK_BOOL(h.iommu_passthrough, false);
	ASSERT_OK_INT(h.iommu_groups, 0);
	ASSERT_OK_BOOL(h.mod_nvidia, true);
	ASSERT_OK_BOOL(h.mod_nvidia_uvm, true);
	ASSERT_OK_BOOL(h.mod_nvidia_peermem, false);
	ASSERT_OK_BOOL(h.mod_nvidia_drm, true);
	ASSERT_OK_BOOL(h.mod_nouveau, false);
	ASSERT_OK_STR(h.cpu_model, "Intel(R) Xeon(R) CPU @ 2.20GHz");
	ASSERT_OK_INT(h.cpu_sockets, 1);
	ASSERT_OK_INT(h.cpu_cores, 4);
	ASSERT_OK_INT(h.cpu_threads, 8);
	ASSERT_OK_INT(h.numa_nodes, 1);
	ASSERT_OK_INT(h.memory_total_bytes, 30817464LL * 1024);
	ASSERT_OK_BOOL(h.swap_on, false);
	ASSERT_OK_INT(h.dev_nvidia_count, 1);

	assert_int_equal(h.n_pci, 1);
	const struct gm_pci_dev *t4 = &h.pci[0];
	assert_string_equal(t4->bdf, "0000:00:04.0");
	assert_int_equal(t4->vendor, 0x10de);
	assert_int_equal(t4->device, 0x1eb8);
	assert_int_equal(t4->class_code, 0x030200);
	ASSERT_OK_STR(t4->driver, "nvidia");
	ASSERT_OK_INT(t4->numa_node, -1);
	ASSERT_FACT(t4->iommu_group, GM_FACT_UNSUPPORTED, "no IOMMU group (IOMMU off)");
	ASSERT_FACT(t4->sriov_totalvfs, GM_FACT_UNSUPPORTED, "no SR-IOV capability");
	ASSERT_OK_INT(t4->link_gen_current, 1);
	ASSERT_OK_INT(t4->link_gen_max, 3);
	ASSERT_OK_INT(t4->link_width_current, 16);
	ASSERT_OK_INT(t4->link_width_max, 16);
	ASSERT_OK_STR(t4->local_cpulist, "0-7");

	assert_int_equal(h.n_nics, 1);
	assert_string_equal(h.nics[0].name, "ens4");
	ASSERT_OK_STR(h.nics[0].driver, "gve");
	ASSERT_OK_STR(h.nics[0].bdf, "0000:00:05.0");
	ASSERT_OK_INT(h.nics[0].speed_mbps, 32000);
	ASSERT_OK_STR(h.nics[0].operstate, "up");
	ASSERT_OK_INT(h.nics[0].numa_node, -1);
	ASSERT_FACT(h.nics[0].rdma_device, GM_FACT_UNSUPPORTED, "no RDMA device");

	ASSERT_OK_BOOL(h.docker, true);
	ASSERT_OK_BOOL(h.docker_nvidia, false); /* a crun runtime only */
	ASSERT_OK_BOOL(h.containerd, true);
	ASSERT_OK_BOOL(h.containerd_nvidia, false);
	ASSERT_OK_BOOL(h.nvidia_ctk, false);
	ASSERT_OK_BOOL(h.kubelet, false);
	ASSERT_OK_BOOL(h.device_plugin, false);

	assert_all_decided(&h, NULL);
	gm_host_release(&h);
}

static void broken_host(void **state)
{
	(void)state;
	struct gm_host h;
	collect_fixture(&h, "broken-host");

	ASSERT_OK_STR(h.hostname, "gpu-bad-07");
	/* no /etc/os-release: /usr/lib/os-release, where every value is quoted */
	ASSERT_OK_STR(h.os_id, "rocky");
	ASSERT_OK_STR(h.os_version_id, "9.3");
	ASSERT_OK_STR(h.os_pretty, "Rocky Linux 9.3 (Blue Onyx)");
	ASSERT_OK_STR(h.kernel_release, "5.14.0-362.8.1.el9_3.x86_64");
	ASSERT_FACT(h.arch, GM_FACT_UNKNOWN, "not recorded in the root");
	ASSERT_OK_BOOL(h.iommu_enabled, true);
	ASSERT_OK_STR(h.iommu_vendor, "amd");
	ASSERT_OK_BOOL(h.iommu_passthrough, false);
	ASSERT_OK_INT(h.iommu_groups, 3);
	ASSERT_OK_BOOL(h.mod_nvidia, false);
	ASSERT_OK_BOOL(h.mod_nvidia_uvm, false);
	ASSERT_OK_BOOL(h.mod_nvidia_peermem, false);
	ASSERT_OK_BOOL(h.mod_nvidia_drm, false);
	ASSERT_OK_BOOL(h.mod_nouveau, true);
	ASSERT_OK_STR(h.cpu_model, "AMD EPYC 7543 32-Core Processor");
	ASSERT_OK_INT(h.cpu_sockets, 1);
	ASSERT_OK_INT(h.cpu_cores, 32);
	ASSERT_OK_INT(h.cpu_threads, 64);
	ASSERT_OK_INT(h.numa_nodes, 2);
	ASSERT_OK_INT(h.memory_total_bytes, 263556608LL * 1024);
	ASSERT_OK_BOOL(h.swap_on, true);
	ASSERT_OK_INT(h.dev_nvidia_count, 0);

	assert_int_equal(h.n_pci, 2);
	const struct gm_pci_dev *gpu = &h.pci[0], *audio = &h.pci[1];
	assert_string_equal(gpu->bdf, "0000:41:00.0");
	assert_int_equal(gpu->vendor, 0x10de);
	assert_int_equal(gpu->device, 0x2230);
	assert_int_equal(gpu->class_code, 0x030000);
	ASSERT_OK_STR(gpu->driver, "nouveau");
	ASSERT_OK_INT(gpu->numa_node, 0);
	ASSERT_OK_INT(gpu->iommu_group, 32);
	ASSERT_FACT(gpu->sriov_totalvfs, GM_FACT_UNSUPPORTED, "no SR-IOV capability");
	ASSERT_OK_INT(gpu->link_gen_current, 4);
	ASSERT_OK_INT(gpu->link_gen_max, 4);
	ASSERT_OK_INT(gpu->link_width_current, 8);
	ASSERT_OK_INT(gpu->link_width_max, 16);
	ASSERT_OK_STR(gpu->local_cpulist, "0-15,32-47");
	assert_string_equal(audio->bdf, "0000:41:00.1");
	assert_int_equal(audio->device, 0x1aef);
	assert_int_equal(audio->class_code, 0x040300);
	ASSERT_OK_STR(audio->driver, ""); /* no driver bound */
	ASSERT_OK_INT(audio->iommu_group, 32);

	assert_int_equal(h.n_nics, 2); /* cni0 is a bridge */
	assert_string_equal(h.nics[0].name, "enp193s0f0np0");
	ASSERT_OK_STR(h.nics[0].driver, "mlx5_core");
	ASSERT_OK_STR(h.nics[0].bdf, "0000:c1:00.0");
	ASSERT_OK_INT(h.nics[0].speed_mbps, 25000);
	ASSERT_OK_STR(h.nics[0].operstate, "up");
	ASSERT_OK_INT(h.nics[0].numa_node, 1);
	ASSERT_OK_STR(h.nics[0].rdma_device, "mlx5_0");
	assert_string_equal(h.nics[1].name, "enp193s0f1np1");
	ASSERT_OK_STR(h.nics[1].bdf, "0000:c1:00.1");
	ASSERT_FACT(h.nics[1].speed_mbps, GM_FACT_UNSUPPORTED, "link down or not reported");
	ASSERT_OK_STR(h.nics[1].operstate, "down");
	ASSERT_OK_INT(h.nics[1].numa_node, 1);
	ASSERT_OK_STR(h.nics[1].rdma_device, "mlx5_1");

	ASSERT_OK_BOOL(h.docker, false);
	ASSERT_OK_BOOL(h.docker_nvidia, false);
	ASSERT_OK_BOOL(h.containerd, true);
	ASSERT_OK_BOOL(h.containerd_nvidia, false); /* only a commented-out table */
	ASSERT_OK_BOOL(h.nvidia_ctk, true);
	ASSERT_OK_BOOL(h.kubelet, true);
	ASSERT_OK_BOOL(h.device_plugin, false);

	assert_all_decided(&h, "arch");
	gm_host_release(&h);
}

static void missing_root(void **state)
{
	(void)state;
	struct gm_host h;
	memset(&h, 0, sizeof(h));
	struct gm_root root = {"/nonexistent/gm-test-host-root"};
	gm_host_collect(&h, &root);

	for (const struct gm_field *f = gm_host_fields; f->key; f++) {
		struct gm_fact *fact = gm_field_fact(&h, f);
		if (fact->state != GM_FACT_ERROR)
			fail_msg("field '%s' is %s, not error", f->key,
			         gm_fact_state_name(fact->state));
		assert_non_null(fact->why);
		assert_true(strncmp(fact->why, "cannot read /", 13) == 0);
		assert_null(strstr(fact->why, "nonexistent")); /* paths as on the host */
	}
	ASSERT_FACT(h.hostname, GM_FACT_ERROR,
	            "cannot read /proc/sys/kernel/hostname: No such file or directory");
	ASSERT_FACT(h.os_id, GM_FACT_ERROR,
	            "cannot read /etc/os-release: No such file or directory");
	ASSERT_FACT(h.arch, GM_FACT_ERROR,
	            "cannot read /proc/sys/kernel/arch: No such file or directory");
	ASSERT_FACT(h.iommu_passthrough, GM_FACT_ERROR,
	            "cannot read /proc/cmdline: No such file or directory");
	ASSERT_FACT(h.cpu_cores, GM_FACT_ERROR,
	            "cannot read /proc/cpuinfo: No such file or directory");
	ASSERT_FACT(h.dev_nvidia_count, GM_FACT_ERROR,
	            "cannot read /dev: No such file or directory");
	ASSERT_FACT(h.kubelet, GM_FACT_ERROR, "cannot read /etc: No such file or directory");
	assert_null(h.hostname.v);
	assert_int_equal(h.n_pci, 0);
	assert_null(h.pci);
	assert_int_equal(h.n_nics, 0);
	/* the empty lists say why they are empty */
	assert_int_equal(h.pci_scan.state, GM_FACT_ERROR);
	assert_string_equal(h.pci_scan.why,
	                    "cannot read /sys/bus/pci/devices: No such file or directory");
	assert_int_equal(h.nic_scan.state, GM_FACT_ERROR);
	assert_string_equal(h.nic_scan.why,
	                    "cannot read /sys/class/net: No such file or directory");
	assert_null(h.nics);
	gm_host_release(&h);
}

/* Collecting twice into the same struct replaces, and does not leak (ASan checks). */
static void collect_twice(void **state)
{
	(void)state;
	struct gm_host h;
	collect_fixture(&h, "onprem-l40s");
	struct gm_buf dir = GM_BUF_INIT;
	gm_buf_addf(&dir, "%s/sysroot/gce-t4-vm", fixtures());
	struct gm_root root = {dir.data};
	gm_host_collect(&h, &root);
	ASSERT_OK_STR(h.hostname, "t4-trainer-1");
	assert_int_equal(h.n_pci, 1);
	assert_int_equal(h.n_nics, 1);
	ASSERT_OK_BOOL(h.iommu_enabled, false);
	gm_host_release(&h);
	gm_buf_release(&dir);
}

/* The live host: only what every Linux machine has, compared with uname. */
static void live_root(void **state)
{
	(void)state;
	struct gm_host h;
	memset(&h, 0, sizeof(h));
	struct gm_root root = {""};
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	gm_host_collect(&h, &root);
	ASSERT_OK_STR(h.kernel_release, u.release);
	ASSERT_OK_STR(h.arch, u.machine);
	assert_int_equal(h.cpu_threads.f.state, GM_FACT_OK);
	assert_true(h.cpu_threads.v >= 1);
	assert_int_equal(h.memory_total_bytes.f.state, GM_FACT_OK);
	assert_true(h.memory_total_bytes.v > 0);
	gm_host_release(&h);
}

/* --- parsing rules ------------------------------------------------------------------ */

/* An NVIDIA function in a scratch root with the given link speeds. */
static void put_gpu(struct scratch *s, const char *bdf, const char *cur, const char *max)
{
	struct gm_buf p = GM_BUF_INIT;
	static const char *const attrs[][2] = {
	        {"vendor", "0x10de\n"},     {"device", "0x2330\n"},
	        {"class", "0x030200\n"},    {"numa_node", "-1\n"},
	        {"local_cpulist", "0-3\n"}, {"current_link_width", "16\n"},
	        {"max_link_width", "16\n"},
	};
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "/sys/bus/pci/devices/%s/%s", bdf, attrs[i][0]);
		put(s, p.data, attrs[i][1]);
	}
	if (cur) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "/sys/bus/pci/devices/%s/current_link_speed", bdf);
		put(s, p.data, cur);
	}
	if (max) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "/sys/bus/pci/devices/%s/max_link_speed", bdf);
		put(s, p.data, max);
	}
	gm_buf_release(&p);
}

static void link_speed_gen(void **state)
{
	(void)state;
	static const struct {
		const char *speed;
		int gen; /* 0: unsupported, -1: error */
	} cases[] = {
	        {"2.5 GT/s PCIe\n", 1},  {"5.0 GT/s PCIe\n", 2},  {"8.0 GT/s PCIe\n", 3},
	        {"16.0 GT/s PCIe\n", 4}, {"32.0 GT/s PCIe\n", 5}, {"64.0 GT/s PCIe\n", 6},
	        {"2.5 GT/s\n", 1},       {"5 GT/s\n", 2},         {"8 GT/s\n", 3},
	        {"Unknown\n", 0},        {"3.0 GT/s PCIe\n", -1}, {"16.0\n", -1},
	        {"16.0GT/s\n", -1},
	};
	const size_t n = sizeof(cases) / sizeof(cases[0]);
	struct scratch s;
	scratch_init(&s);
	struct gm_buf bdf = GM_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		gm_buf_reset(&bdf);
		gm_buf_addf(&bdf, "0000:%02zx:00.0", i + 1);
		put_gpu(&s, bdf.data, cases[i].speed, "16.0 GT/s PCIe\n");
	}
	put_gpu(&s, "0000:7f:00.0", NULL, NULL); /* no link attributes */
	/* not NVIDIA, and not a PCI address: both skipped */
	put(&s, "/sys/bus/pci/devices/0000:80:00.0/vendor", "0x8086\n");
	put(&s, "/sys/bus/pci/devices/bogus name/vendor", "0x10de\n");

	struct gm_host h;
	memset(&h, 0, sizeof(h));
	gm_host_collect_pci(&h, &s.root);
	assert_int_equal(h.n_pci, n + 1);
	for (size_t i = 0; i < n; i++) {
		const struct gm_pci_dev *d = &h.pci[i];
		gm_buf_reset(&bdf);
		gm_buf_addf(&bdf, "0000:%02zx:00.0", i + 1);
		assert_string_equal(d->bdf, bdf.data);
		if (cases[i].gen > 0) {
			ASSERT_OK_INT(d->link_gen_current, cases[i].gen);
		} else if (cases[i].gen == 0) {
			ASSERT_FACT(d->link_gen_current, GM_FACT_UNSUPPORTED,
			            "link speed not reported");
		} else {
			assert_int_equal(d->link_gen_current.f.state, GM_FACT_ERROR);
			assert_non_null(strstr(d->link_gen_current.f.why, "unexpected value"));
			assert_non_null(strstr(d->link_gen_current.f.why, "current_link_speed"));
		}
		ASSERT_OK_INT(d->link_gen_max, 4);
		ASSERT_OK_INT(d->numa_node, -1);
		ASSERT_OK_STR(d->driver, "");
		ASSERT_FACT(d->iommu_group, GM_FACT_UNSUPPORTED, "no IOMMU group (IOMMU off)");
	}
	const struct gm_pci_dev *bare = &h.pci[n];
	assert_string_equal(bare->bdf, "0000:7f:00.0");
	ASSERT_FACT(bare->link_gen_current, GM_FACT_UNSUPPORTED, "no PCIe link information");
	ASSERT_FACT(bare->link_gen_max, GM_FACT_UNSUPPORTED, "no PCIe link information");

	gm_host_release(&h);
	gm_buf_release(&bdf);
	scratch_release(&s);
}

static void os_release_quoting(void **state)
{
	(void)state;
	struct scratch s;
	scratch_init(&s);
	put(&s, "/etc/os-release",
	    "# ID=commented\n"
	    "IDX=notme\n"
	    "ID_LIKE=\"debian\"\n"
	    "ID='opensuse-leap'\n"
	    "VERSION_ID=15.5 # a comment after the value\n"
	    "PRETTY_NAME=\"Say \\\"hi\\\" \\\\ \\$HOME \\`x\\` \\n\"' and '\"it's\"\n");
	struct gm_host h;
	memset(&h, 0, sizeof(h));
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_STR(h.os_id, "opensuse-leap");
	ASSERT_OK_STR(h.os_version_id, "15.5");
	ASSERT_OK_STR(h.os_pretty, "Say \"hi\" \\ $HOME `x` \\n and it's");

	/* unquoted escapes, an empty value, a missing key */
	put(&s, "/etc/os-release", "ID=my\\ distro\nVERSION_ID=\nNAME=x\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_STR(h.os_id, "my distro");
	ASSERT_OK_STR(h.os_version_id, "");
	ASSERT_FACT(h.os_pretty, GM_FACT_UNSUPPORTED, "no PRETTY_NAME in /etc/os-release");
	assert_null(h.os_pretty.v);

	/* an absolute link is followed inside the root, not on this machine */
	put(&s, "/usr/lib/os-release", "ID=\"inside\"\nVERSION_ID=\"1\"\nPRETTY_NAME=In\n");
	{
		struct gm_buf p = GM_BUF_INIT;
		gm_buf_addf(&p, "%s/etc/os-release", s.dir);
		assert_int_equal(unlink(p.data), 0);
		gm_buf_release(&p);
	}
	put_link(&s, "/etc/os-release", "/usr/lib/os-release");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_STR(h.os_id, "inside");
	ASSERT_OK_STR(h.os_version_id, "1");
	ASSERT_OK_STR(h.os_pretty, "In");

	gm_host_release(&h);
	scratch_release(&s);
}

/* Writes a /proc/cpuinfo of n CPUs with the given (physical id, core id) pairs (-1: line
 * left out) and an online list. */
static void put_cpuinfo(struct scratch *s, size_t n, const int (*ids)[2], const char *online)
{
	struct gm_buf text = GM_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		gm_buf_addf(&text, "processor\t: %zu\nmodel name\t: Test CPU\n", i);
		if (ids[i][0] >= 0)
			gm_buf_addf(&text, "physical id\t: %d\n", ids[i][0]);
		if (ids[i][1] >= 0)
			gm_buf_addf(&text, "core id\t\t: %d\n", ids[i][1]);
		gm_buf_adds(&text, "flags\t\t: fpu vme\n\n");
	}
	put(s, "/proc/cpuinfo", gm_buf_cstr(&text));
	if (online)
		put(s, "/sys/devices/system/cpu/online", online);
	gm_buf_release(&text);
}

static void cpuinfo_counting(void **state)
{
	(void)state;
	struct scratch s;
	scratch_init(&s);
	struct gm_host h;
	memset(&h, 0, sizeof(h));

	/* 2 sockets x 2 cores x 2 threads, in no particular order; core ids are not
	 * contiguous and core 4 is on both sockets */
	static const int two[8][2] = {{1, 4}, {0, 0}, {0, 4}, {1, 8},
	                              {0, 0}, {1, 4}, {0, 4}, {1, 8}};
	put_cpuinfo(&s, 8, two, "0-3,4-7\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_STR(h.cpu_model, "Test CPU");
	ASSERT_OK_INT(h.cpu_sockets, 2);
	ASSERT_OK_INT(h.cpu_cores, 4);
	ASSERT_OK_INT(h.cpu_threads, 8);

	/* /proc/cpuinfo and the online list disagree */
	put(&s, "/sys/devices/system/cpu/online", "0-5\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_FACT(h.cpu_threads, GM_FACT_ERROR,
	            "/proc/cpuinfo lists 8 CPUs but /sys/devices/system/cpu/online 6");
	ASSERT_OK_INT(h.cpu_cores, 4);

	/* no physical id / core id (Arm): sysfs topology of the online CPUs instead */
	static const int none[4][2] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
	put_cpuinfo(&s, 4, none, "0-3\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_FACT(h.cpu_sockets, GM_FACT_UNSUPPORTED,
	            "no physical id/core id in /proc/cpuinfo or "
	            "/sys/devices/system/cpu/cpu*/topology");
	ASSERT_OK_INT(h.cpu_threads, 4);
	static const char *const topo[4][2] = {{"0", "0"}, {"0", "1"}, {"0", "256"}, {"0", "257"}};
	struct gm_buf p = GM_BUF_INIT;
	for (int i = 0; i < 4; i++) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", i);
		put(&s, p.data, topo[i][0]);
		gm_buf_reset(&p);
		gm_buf_addf(&p, "/sys/devices/system/cpu/cpu%d/topology/core_id", i);
		put(&s, p.data, topo[i][1]);
	}
	put_dir(&s, "/sys/devices/system/cpu/cpufreq"); /* not a CPU */
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_INT(h.cpu_sockets, 1);
	ASSERT_OK_INT(h.cpu_cores, 4);
	ASSERT_OK_INT(h.cpu_threads, 4);

	/* no /proc/cpuinfo at all: threads from the online list, the rest an error */
	gm_buf_reset(&p);
	gm_buf_addf(&p, "%s/proc/cpuinfo", s.dir);
	assert_int_equal(unlink(p.data), 0);
	put(&s, "/sys/devices/system/cpu/online", "0,2-3,8-15\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_INT(h.cpu_threads, 11);
	ASSERT_FACT(h.cpu_cores, GM_FACT_ERROR,
	            "cannot read /proc/cpuinfo: No such file or directory");
	ASSERT_FACT(h.cpu_model, GM_FACT_ERROR,
	            "cannot read /proc/cpuinfo: No such file or directory");
	assert_null(h.cpu_model.v);

	gm_buf_release(&p);
	gm_host_release(&h);
	scratch_release(&s);
}

static void cmdline_and_modules(void **state)
{
	(void)state;
	struct scratch s;
	scratch_init(&s);
	struct gm_host h;
	memset(&h, 0, sizeof(h));

	put_dir(&s, "/sys/kernel/iommu_groups/0");
	put_dir(&s, "/sys/kernel/iommu_groups/1");
	put(&s, "/sys/kernel/iommu_groups/.hidden", "");
	/* a quoted argument holding "iommu=pt" is not the option; the later iommu=nopt wins
	 * over iommu=pt; vendor from the command line when /sys/class/iommu says nothing */
	put(&s, "/proc/cmdline",
	    "ro dyndbg=\"iommu=pt x\" iommu=pt,soft intel_iommu=on,sm_on iommu=nopt\n");
	put(&s, "/proc/modules",
	    "nvidiafb 49152 0 - Live 0x0\n"
	    "nvidia_fs 262144 0 - Live 0x0\n"
	    "nvidia_uvm 1437696 0 - Live 0x0\n"
	    "nouveau\t2961408 0 - Live 0x0\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_BOOL(h.iommu_enabled, true);
	ASSERT_OK_INT(h.iommu_groups, 2);
	ASSERT_OK_BOOL(h.iommu_passthrough, false);
	ASSERT_OK_STR(h.iommu_vendor, "intel");
	ASSERT_OK_BOOL(h.mod_nvidia, false);
	ASSERT_OK_BOOL(h.mod_nvidia_uvm, true);
	ASSERT_OK_BOOL(h.mod_nvidia_drm, false);
	ASSERT_OK_BOOL(h.mod_nouveau, true);

	/* no /proc/modules (a kernel without loadable modules): /sys/module, else an error */
	struct gm_buf mp = GM_BUF_INIT;
	gm_buf_addf(&mp, "%s/proc/modules", s.dir);
	assert_int_equal(unlink(mp.data), 0);
	gm_buf_release(&mp);
	gm_host_collect_os(&h, &s.root);
	ASSERT_FACT(h.mod_nvidia, GM_FACT_ERROR,
	            "cannot read /proc/modules: No such file or directory");
	put_dir(&s, "/sys/module/nvidia/parameters");
	put_dir(&s, "/sys/module/nvidia_drm");
	put_dir(&s, "/sys/module/nvidia_peermem_x");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_BOOL(h.mod_nvidia, true);
	ASSERT_OK_BOOL(h.mod_nvidia_drm, true);
	ASSERT_OK_BOOL(h.mod_nvidia_uvm, false);
	ASSERT_OK_BOOL(h.mod_nvidia_peermem, false);
	ASSERT_OK_BOOL(h.mod_nouveau, false);

	put(&s, "/proc/cmdline", "ro iommu.passthrough=1 amd_iommu=off\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_BOOL(h.iommu_passthrough, true);
	ASSERT_FACT(h.iommu_vendor, GM_FACT_UNSUPPORTED,
	            "IOMMU vendor not identified (no dmar/ivhd unit in /sys/class/iommu)");

	/* /sys/class/iommu beats the command line */
	put(&s, "/sys/class/iommu/ivhd0/cap", "0\n");
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_STR(h.iommu_vendor, "amd");

	/* a kernel without /sys/kernel/iommu_groups (no IOMMU support) */
	put_dir(&s, "/sys/kernel/mm");
	struct gm_buf p = GM_BUF_INIT;
	const char *groups[] = {"/sys/kernel/iommu_groups/0", "/sys/kernel/iommu_groups/1",
	                        "/sys/kernel/iommu_groups/.hidden", "/sys/kernel/iommu_groups"};
	for (size_t i = 0; i < 4; i++) {
		gm_buf_reset(&p);
		gm_buf_addf(&p, "%s%s", s.dir, groups[i]);
		assert_int_equal(remove(p.data), 0);
	}
	gm_host_collect_os(&h, &s.root);
	ASSERT_OK_BOOL(h.iommu_enabled, false);
	ASSERT_OK_INT(h.iommu_groups, 0);

	gm_buf_release(&p);
	gm_host_release(&h);
	scratch_release(&s);
}

static void nic_discovery(void **state)
{
	(void)state;
	struct scratch s;
	scratch_init(&s);
	struct gm_host h;
	memset(&h, 0, sizeof(h));

	/* virtio-net: the device link names virtio3, the PCI function is on the class path */
	put(&s, "/sys/devices/pci0000:00/0000:00:03.0/numa_node", "0\n");
	put(&s, "/sys/devices/pci0000:00/0000:00:03.0/virtio3/net/eth0/operstate", "up\n");
	put(&s, "/sys/devices/pci0000:00/0000:00:03.0/virtio3/net/eth0/speed", "-1\n");
	put_link(&s, "/sys/devices/pci0000:00/0000:00:03.0/virtio3/net/eth0/device",
	         "../../../virtio3");
	put_dir(&s, "/sys/bus/virtio/drivers/virtio_net");
	put_link(&s, "/sys/devices/pci0000:00/0000:00:03.0/virtio3/driver",
	         "../../../../bus/virtio/drivers/virtio_net");
	put_link(&s, "/sys/bus/pci/devices/0000:00:03.0",
	         "../../../devices/pci0000:00/0000:00:03.0");
	put_link(&s, "/sys/class/net/eth0",
	         "../../devices/pci0000:00/0000:00:03.0/virtio3/net/eth0");

	/* an odd name, no driver link, RDMA only through device/infiniband, no speed file */
	put(&s, "/sys/devices/pci0000:20/0000:21:00.0/numa_node", "1\n");
	put(&s, "/sys/devices/pci0000:20/0000:21:00.0/infiniband/rxe-%s x/node_type", "1: CA\n");
	put(&s, "/sys/devices/pci0000:20/0000:21:00.0/net/.we ird%s\xc3\xa9/operstate", "down\n");
	put_link(&s, "/sys/devices/pci0000:20/0000:21:00.0/net/.we ird%s\xc3\xa9/device",
	         "../../../0000:21:00.0");
	put_link(&s, "/sys/class/net/.we ird%s\xc3\xa9",
	         "../../devices/pci0000:20/0000:21:00.0/net/.we ird%s\xc3\xa9");

	/* virtual ones and a file in the directory */
	put(&s, "/sys/devices/virtual/net/br0/operstate", "up\n");
	put_link(&s, "/sys/class/net/br0", "../../devices/virtual/net/br0");
	put(&s, "/sys/devices/virtual/net/lo/operstate", "unknown\n");
	put_link(&s, "/sys/class/net/lo", "../../devices/virtual/net/lo");
	put(&s, "/sys/class/net/bonding_masters", "\n");

	gm_host_collect_nics(&h, &s.root);
	assert_int_equal(h.n_nics, 2);
	/* sorted by name: the dot first */
	assert_string_equal(h.nics[0].name, ".we ird%s\xc3\xa9");
	ASSERT_OK_STR(h.nics[0].driver, "");
	ASSERT_OK_STR(h.nics[0].bdf, "0000:21:00.0");
	ASSERT_FACT(h.nics[0].speed_mbps, GM_FACT_UNSUPPORTED, "link down or not reported");
	ASSERT_OK_STR(h.nics[0].operstate, "down");
	ASSERT_OK_INT(h.nics[0].numa_node, 1);
	ASSERT_OK_STR(h.nics[0].rdma_device, "rxe-%s x");

	assert_string_equal(h.nics[1].name, "eth0");
	ASSERT_OK_STR(h.nics[1].driver, "virtio_net");
	ASSERT_OK_STR(h.nics[1].bdf, "0000:00:03.0");
	ASSERT_FACT(h.nics[1].speed_mbps, GM_FACT_UNSUPPORTED, "link down or not reported");
	ASSERT_OK_STR(h.nics[1].operstate, "up");
	ASSERT_OK_INT(h.nics[1].numa_node, 0);
	ASSERT_FACT(h.nics[1].rdma_device, GM_FACT_UNSUPPORTED, "no RDMA device");

	gm_host_release(&h);
	scratch_release(&s);
}

static void runtime_configs(void **state)
{
	(void)state;
	struct scratch s;
	scratch_init(&s);
	struct gm_host h;
	memset(&h, 0, sizeof(h));
	put_dir(&s, "/etc");

	/* nothing installed */
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.docker, false);
	ASSERT_OK_BOOL(h.docker_nvidia, false);
	ASSERT_OK_BOOL(h.containerd, false);
	ASSERT_OK_BOOL(h.containerd_nvidia, false);
	ASSERT_OK_BOOL(h.nvidia_ctk, false);
	ASSERT_OK_BOOL(h.kubelet, false);
	ASSERT_OK_BOOL(h.device_plugin, false);

	/* docker: default-runtime alone counts; a broken file is an error with its place */
	put(&s, "/etc/docker/daemon.json", "{\"default-runtime\": \"nvidia\"}\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.docker, true);
	ASSERT_OK_BOOL(h.docker_nvidia, true);
	put(&s, "/etc/docker/daemon.json",
	    "{\"runtimes\": {\"gpu\": {\"path\": \"/usr/local/bin/nvidia-container-runtime\"}}}");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.docker_nvidia, true);
	put(&s, "/etc/docker/daemon.json", "{\"runtimes\": [}\n");
	gm_host_collect_runtime(&h, &s.root);
	assert_int_equal(h.docker_nvidia.f.state, GM_FACT_ERROR);
	assert_true(strncmp(h.docker_nvidia.f.why, "/etc/docker/daemon.json:", 24) == 0);
	put(&s, "/etc/docker/daemon.json", "");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.docker_nvidia, false);

	/* containerd: v3 names with single quotes, a dotted key, multi-line strings and
	 * arrays that only look like tables */
	put(&s, "/etc/containerd/config.toml",
	    "version = 3\n"
	    "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"
	    "  note = '''\n"
	    "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nvidia]\n"
	    "'''\n"
	    "  list = [\n"
	    "    [\"runtimes\", \"nvidia\"],\n"
	    "  ]\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.containerd, true);
	ASSERT_OK_BOOL(h.containerd_nvidia, false);
	put(&s, "/etc/containerd/config.toml",
	    "  list = [\"]\", '[', \"\\\"[\"]\n"
	    "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'nvidia']\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.containerd_nvidia, true);
	put(&s, "/etc/containerd/config.toml",
	    "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
	    "  runtimes.\"nvidia\".runtime_type = \"io.containerd.runc.v2\" # set by hand\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.containerd_nvidia, true);
	put(&s, "/etc/containerd/config.toml",
	    "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.gpu.options]\n"
	    "  BinaryName = \"/usr/local/nvidia/toolkit/nvidia-container-runtime\"\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.containerd_nvidia, true);

	/* what a comment says does not count */
	put(&s, "/etc/containerd/config.toml",
	    "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
	    "  BinaryName = \"/usr/bin/runc\" # was /usr/bin/nvidia-container-runtime\n"
	    "  # [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"
	    "  Name = \"# [x.runtimes.nvidia]\"\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.containerd_nvidia, false);

	/* a drop-in that is not .toml does not count */
	put(&s, "/etc/containerd/config.toml", "version = 2\n");
	put(&s, "/etc/containerd/conf.d/99-nvidia.toml.bak",
	    "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.containerd_nvidia, false);

	/* kubelet from its config alone; device plugin sockets by name */
	put(&s, "/etc/kubernetes/kubelet.conf", "apiVersion: v1\n");
	put(&s, "/var/lib/kubelet/device-plugins/kubelet.sock", "");
	put(&s, "/var/lib/kubelet/device-plugins/nvidia.sock.bak", "");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.kubelet, true);
	ASSERT_OK_BOOL(h.device_plugin, false);
	put(&s, "/var/lib/kubelet/device-plugins/nvidia-mig-1g.10gb.sock", "");
	gm_host_collect_runtime(&h, &s.root);
	ASSERT_OK_BOOL(h.device_plugin, true);

	gm_host_release(&h);
	scratch_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(onprem_l40s),      cmocka_unit_test(gce_t4_vm),
	        cmocka_unit_test(broken_host),      cmocka_unit_test(missing_root),
	        cmocka_unit_test(collect_twice),    cmocka_unit_test(live_root),
	        cmocka_unit_test(link_speed_gen),   cmocka_unit_test(os_release_quoting),
	        cmocka_unit_test(cpuinfo_counting), cmocka_unit_test(cmdline_and_modules),
	        cmocka_unit_test(nic_discovery),    cmocka_unit_test(runtime_configs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

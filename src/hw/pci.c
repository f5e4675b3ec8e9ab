/* The NVIDIA PCI functions (GPUs, their audio functions, NVSwitches) as sysfs shows them,
 * whether or not a driver is bound: this is how the inventory sees a GPU that nouveau or
 * vfio-pci holds, or one whose slot trained at x8, before NVML is even loaded.
 *
 * Conventions of the facts filled here:
 * - driver: the basename of the "driver" link; no link means no driver is bound, which is
 *   a known state: OK with the value "" (not an error, and not "unsupported").
 * - numa_node: -1 is a valid value (the platform does not say).
 * - iommu_group, sriov_totalvfs: absent means UNSUPPORTED (IOMMU off / no SR-IOV).
 * - link speeds "2.5/5/8/16/32/64 GT/s" become generations 1-6; a speed the kernel shows as
 *   "Unknown" is UNSUPPORTED. */
#include "hw/host.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hw/sysfs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PCI_DEVICES     "/sys/bus/pci/devices"
#define NVIDIA_VENDOR   0x10de
#define MAX_PCI_DEVICES 4096

/* "unexpected value 'x' in /sys/bus/pci/devices/<bdf>/<attr>" */
static void fail_value(struct gm_fact *f, const char *bdf, const char *attr, const char *value)
{
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_addf(&path, PCI_DEVICES "/%s/%s", bdf, attr);
	gm_sysfs_fail_value(f, path.data, value);
	gm_buf_release(&path);
}

/* Reads attr of the device into out. ENOENT: false with *missing set and f untouched (the
 * caller decides what absence means); other failures: false with f failed. */
static bool read_attr(const struct gm_root *root, const char *bdf, const char *attr,
                      struct gm_buf *out, struct gm_fact *f, bool *missing)
{
	struct gm_buf path = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, PCI_DEVICES "/%s/%s", bdf, attr);
	enum gm_rc rc = gm_root_read(root, path.data, out, &err);
	*missing = rc == GM_ERR_NOT_FOUND;
	if (rc != GM_OK && !*missing)
		gm_sysfs_fail_read(f, path.data, rc, &err);
	gm_err_release(&err);
	gm_buf_release(&path);
	return rc == GM_OK;
}

static void missing_read(struct gm_fact *f, const char *bdf, const char *attr)
{
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_addf(&path, PCI_DEVICES "/%s/%s", bdf, attr);
	gm_sysfs_fail_errno(f, path.data, ENOENT);
	gm_buf_release(&path);
}

/* vendor, device, class: hexadecimal ("0x10de"); 0 when unreadable. */
static unsigned read_hex_id(const struct gm_root *root, const char *bdf, const char *attr)
{
	struct gm_buf text = GM_BUF_INIT, path = GM_BUF_INIT;
	uint64_t v = 0;
	gm_buf_addf(&path, PCI_DEVICES "/%s/%s", bdf, attr);
	if (gm_root_read(root, path.data, &text, NULL) != GM_OK ||
	    gm_parse_u64(text.data, 16, &v) != GM_OK || v > 0xffffff)
		v = 0;
	gm_buf_release(&path);
	gm_buf_release(&text);
	return (unsigned)v;
}

/* An integer attribute; absent means state_absent with why_absent (or the read error when
 * why_absent is NULL). */
static void int_attr(struct gm_fint *dst, const struct gm_root *root, const char *bdf,
                     const char *attr, enum gm_fact_state state_absent, const char *why_absent)
{
	struct gm_buf text = GM_BUF_INIT;
	bool missing;
	int64_t v;
	dst->v = 0;
	if (read_attr(root, bdf, attr, &text, &dst->f, &missing)) {
		if (gm_parse_i64(text.data, 10, &v) == GM_OK)
			gm_fint_set(dst, v);
		else
			fail_value(&dst->f, bdf, attr, text.data);
	} else if (missing) {
		if (why_absent)
			gm_fact_fail(&dst->f, state_absent, why_absent);
		else
			missing_read(&dst->f, bdf, attr);
	}
	gm_buf_release(&text);
}

/* The PCIe generation of a link speed as the kernel prints it: "16.0 GT/s PCIe" (since
 * Linux 4.19), "8 GT/s" or "2.5 GT/s" before. 0 when the speed is not one of them. */
static int link_gen(const char *speed)
{
	static const struct {
		const char *rate;
		int gen;
	} gens[] = {
	        {"2.5", 1},  {"5", 2},  {"5.0", 2},  {"8", 3},  {"8.0", 3},  {"16", 4},
	        {"16.0", 4}, {"32", 5}, {"32.0", 5}, {"64", 6}, {"64.0", 6}, {"128.0", 7},
	};
	size_t len = strcspn(speed, " ");
	if (strncmp(speed + len, " GT/s", 5) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(gens) / sizeof(gens[0]); i++)
		if (strlen(gens[i].rate) == len && strncmp(speed, gens[i].rate, len) == 0)
			return gens[i].gen;
	return 0;
}

static void link_gen_attr(struct gm_fint *dst, const struct gm_root *root, const char *bdf,
                          const char *attr)
{
	struct gm_buf text = GM_BUF_INIT;
	bool missing;
	dst->v = 0;
	if (read_attr(root, bdf, attr, &text, &dst->f, &missing)) {
		int gen = link_gen(text.data);
		if (gen)
			gm_fint_set(dst, gen);
		else if (strncasecmp(text.data, "Unknown", 7) == 0)
			gm_fact_fail(&dst->f, GM_FACT_UNSUPPORTED, "link speed not reported");
		else
			fail_value(&dst->f, bdf, attr, text.data);
	} else if (missing) {
		gm_fact_fail(&dst->f, GM_FACT_UNSUPPORTED, "no PCIe link information");
	}
	gm_buf_release(&text);
}

/* The basename of the symlink attr of the device; absent: false with *missing set. */
static bool link_attr(const struct gm_root *root, const char *bdf, const char *attr,
                      struct gm_buf *out, struct gm_fact *f, bool *missing)
{
	struct gm_buf path = GM_BUF_INIT, target = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, PCI_DEVICES "/%s/%s", bdf, attr);
	enum gm_rc rc = gm_root_readlink(root, path.data, &target, &err);
	*missing = rc == GM_ERR_NOT_FOUND;
	if (rc == GM_OK) {
		gm_buf_reset(out);
		gm_buf_adds(out, gm_sysfs_base_name(target.data));
	} else if (!*missing) {
		gm_sysfs_fail_read(f, path.data, rc, &err);
	}
	gm_err_release(&err);
	gm_buf_release(&target);
	gm_buf_release(&path);
	return rc == GM_OK;
}

static void collect_dev(struct gm_pci_dev *dev, const struct gm_root *root)
{
	const char *bdf = dev->bdf;
	struct gm_buf text = GM_BUF_INIT;
	bool missing;

	dev->device = read_hex_id(root, bdf, "device");
	dev->class_code = read_hex_id(root, bdf, "class");

	if (link_attr(root, bdf, "driver", &text, &dev->driver.f, &missing))
		gm_fstr_set(&dev->driver, text.data);
	else if (missing)
		gm_fstr_set(&dev->driver, ""); /* no driver bound */

	int_attr(&dev->numa_node, root, bdf, "numa_node", GM_FACT_ERROR, NULL);

	if (link_attr(root, bdf, "iommu_group", &text, &dev->iommu_group.f, &missing)) {
		int64_t g;
		if (gm_parse_i64(text.data, 10, &g) == GM_OK && g >= 0)
			gm_fint_set(&dev->iommu_group, g);
		else
			fail_value(&dev->iommu_group.f, bdf, "iommu_group", text.data);
	} else if (missing) {
		gm_fact_fail(&dev->iommu_group.f, GM_FACT_UNSUPPORTED,
		             "no IOMMU group (IOMMU off)");
	}

	int_attr(&dev->sriov_totalvfs, root, bdf, "sriov_totalvfs", GM_FACT_UNSUPPORTED,
	         "no SR-IOV capability");
	link_gen_attr(&dev->link_gen_current, root, bdf, "current_link_speed");
	link_gen_attr(&dev->link_gen_max, root, bdf, "max_link_speed");
	int_attr(&dev->link_width_current, root, bdf, "current_link_width", GM_FACT_UNSUPPORTED,
	         "no PCIe link information");
	int_attr(&dev->link_width_max, root, bdf, "max_link_width", GM_FACT_UNSUPPORTED,
	         "no PCIe link information");

	if (read_attr(root, bdf, "local_cpulist", &text, &dev->local_cpulist.f, &missing))
		gm_fstr_set(&dev->local_cpulist, text.data);
	else if (missing)
		missing_read(&dev->local_cpulist.f, bdf, "local_cpulist");

	gm_buf_release(&text);
}

/* gm_sysfs_list_sort orders by the first member. */
_Static_assert(offsetof(struct gm_pci_dev, bdf) == 0, "bdf must be the first member");

void gm_host_collect_pci(struct gm_host *host, const struct gm_root *root)
{
	for (size_t i = 0; i < host->n_pci; i++)
		gm_pci_dev_release(&host->pci[i]);
	GM_FREE(host->pci);
	host->n_pci = 0;

	/* No devices directory (a root without /sys): an empty list that says why. */
	DIR *d = gm_root_opendir(root, PCI_DEVICES);
	if (!d) {
		gm_sysfs_fail_errno(&host->pci_scan, PCI_DEVICES, errno);
		return;
	}
	gm_fact_set_ok(&host->pci_scan);
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && host->n_pci < MAX_PCI_DEVICES) {
		if (!gm_sysfs_is_bdf(de->d_name) ||
		    read_hex_id(root, de->d_name, "vendor") != NVIDIA_VENDOR)
			continue;
		host->pci = gm_sysfs_list_add(host->pci, &host->n_pci, &cap, sizeof(*host->pci));
		struct gm_pci_dev *dev = &host->pci[host->n_pci - 1];
		dev->bdf = gm_xstrdup(de->d_name);
		dev->vendor = NVIDIA_VENDOR;
		collect_dev(dev, root);
	}
	closedir(d);
	gm_sysfs_list_sort(host->pci, host->n_pci, sizeof(*host->pci));
}

const struct gm_pci_dev *gm_host_find_pci(const struct gm_host *host, const char *bdf)
{
	if (!host || !bdf)
		return NULL;
	for (size_t i = 0; i < host->n_pci; i++)
		if (strcasecmp(host->pci[i].bdf, bdf) == 0)
			return &host->pci[i];
	return NULL;
}

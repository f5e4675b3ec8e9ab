/* The physical network interfaces of the host from /sys/class/net: their driver, PCI
 * function, link speed and state, NUMA node and RDMA device. GPU-to-GPU traffic across
 * servers (NCCL over RoCE/InfiniBand) needs an RDMA NIC on the GPU's NUMA node; this is
 * where the inventory learns which NICs those are.
 *
 * Interfaces without a "device" link (lo, bridges, veth, docker0, bonds …) are virtual and
 * left out. Conventions of the facts filled here:
 * - driver: no driver link is OK with the value "" (as for PCI devices, see pci.c).
 * - bdf: UNSUPPORTED for a NIC that is not behind a PCI function.
 * - speed: "-1" or unreadable (the kernel fails the read while the link is down) is
 *   UNSUPPORTED "link down or not reported".
 * - rdma_device: UNSUPPORTED "no RDMA device" for a NIC without one. */
#include "hw/host.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hw/sysfs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define CLASS_NET "/sys/class/net"
#define MAX_NICS  4096

/* The last PCI address among the components of a sysfs path
 * ("../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0" gives "0000:00:03.0"). */
static bool last_bdf_in_path(const char *path, struct gm_buf *out)
{
	bool found = false;
	const char *p = path;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (gm_sysfs_is_bdf_n(p, len)) {
			gm_buf_reset(out);
			gm_buf_add(out, p, len);
			found = true;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return found;
}

static void collect_driver(struct gm_nic *nic, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT, target = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, CLASS_NET "/%s/device/driver", nic->name);
	enum gm_rc rc = gm_root_readlink(root, path.data, &target, &err);
	if (rc == GM_OK)
		gm_fstr_set(&nic->driver, gm_sysfs_base_name(target.data));
	else if (rc == GM_ERR_NOT_FOUND)
		gm_fstr_set(&nic->driver, ""); /* no driver bound */
	else
		gm_sysfs_fail_read(&nic->driver.f, path.data, rc, &err);
	gm_err_release(&err);
	gm_buf_release(&target);
	gm_buf_release(&path);
}

/* The PCI function: the device link itself ("../../../0000:4b:00.0"), or, for a NIC on a
 * bus below PCI (virtio), the last PCI address on the interface's own sysfs path. */
static void collect_bdf(struct gm_nic *nic, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT, target = GM_BUF_INIT, bdf = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, CLASS_NET "/%s/device", nic->name);
	enum gm_rc rc = gm_root_readlink(root, path.data, &target, &err);
	if (rc != GM_OK) {
		gm_sysfs_fail_read(&nic->bdf.f, path.data, rc, &err);
		goto out;
	}
	const char *dev = gm_sysfs_base_name(target.data);
	if (gm_sysfs_is_bdf(dev)) {
		gm_fstr_set(&nic->bdf, dev);
		goto out;
	}
	gm_buf_reset(&path);
	gm_buf_addf(&path, CLASS_NET "/%s", nic->name);
	struct gm_buf self = GM_BUF_INIT;
	if (gm_root_readlink(root, path.data, &self, NULL) == GM_OK &&
	    last_bdf_in_path(self.data, &bdf)) {
		gm_fstr_set(&nic->bdf, bdf.data);
	} else {
		struct gm_buf why = GM_BUF_INIT;
		gm_buf_addf(&why, "not a PCI device ('%s')", dev);
		gm_fact_fail(&nic->bdf.f, GM_FACT_UNSUPPORTED, gm_buf_cstr(&why));
		gm_buf_release(&why);
	}
	gm_buf_release(&self);
out:
	gm_err_release(&err);
	gm_buf_release(&bdf);
	gm_buf_release(&target);
	gm_buf_release(&path);
}

static void collect_speed(struct gm_nic *nic, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT, text = GM_BUF_INIT;
	int64_t v;
	gm_buf_addf(&path, CLASS_NET "/%s/speed", nic->name);
	if (gm_root_read(root, path.data, &text, NULL) == GM_OK &&
	    gm_parse_i64(text.data, 10, &v) == GM_OK && v >= 0 && v < (int64_t)UINT32_MAX)
		gm_fint_set(&nic->speed_mbps, v);
	else
		gm_fact_fail(&nic->speed_mbps.f, GM_FACT_UNSUPPORTED, "link down or not reported");
	gm_buf_release(&text);
	gm_buf_release(&path);
}

static void collect_operstate(struct gm_nic *nic, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT, text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, CLASS_NET "/%s/operstate", nic->name);
	enum gm_rc rc = gm_root_read(root, path.data, &text, &err);
	if (rc == GM_OK)
		gm_fstr_set(&nic->operstate, text.data);
	else
		gm_sysfs_fail_read(&nic->operstate.f, path.data, rc, &err);
	gm_err_release(&err);
	gm_buf_release(&text);
	gm_buf_release(&path);
}

/* device/numa_node, or the PCI function's when the device is not the PCI function. */
static void collect_numa(struct gm_nic *nic, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT, text = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	int64_t v;
	gm_buf_addf(&path, CLASS_NET "/%s/device/numa_node", nic->name);
	enum gm_rc rc = gm_root_read(root, path.data, &text, &err);
	if (rc == GM_ERR_NOT_FOUND && gm_fact_ok(&nic->bdf.f)) {
		struct gm_buf alt = GM_BUF_INIT;
		gm_buf_addf(&alt, "/sys/bus/pci/devices/%s/numa_node", nic->bdf.v);
		if (gm_root_read(root, alt.data, &text, NULL) == GM_OK)
			rc = GM_OK;
		gm_buf_release(&alt);
	}
	if (rc != GM_OK) {
		gm_sysfs_fail_read(&nic->numa_node.f, path.data, rc, &err);
	} else if (gm_parse_i64(text.data, 10, &v) == GM_OK) {
		gm_fint_set(&nic->numa_node, v);
	} else {
		gm_sysfs_fail_value(&nic->numa_node.f, path.data, text.data);
	}
	gm_err_release(&err);
	gm_buf_release(&text);
	gm_buf_release(&path);
}

/* The RDMA device on the same PCI function: an entry of /sys/class/infiniband whose device
 * link names the NIC's PCI address, or else the device's own infiniband/ directory. */
static void collect_rdma(struct gm_nic *nic, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT, target = GM_BUF_INIT;
	char *found = NULL;
	DIR *d;
	struct dirent *de;

	if (gm_fact_ok(&nic->bdf.f) && (d = gm_root_opendir(root, "/sys/class/infiniband"))) {
		while (!found && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			gm_buf_reset(&path);
			gm_buf_addf(&path, "/sys/class/infiniband/%s/device", de->d_name);
			if (gm_root_readlink(root, path.data, &target, NULL) == GM_OK &&
			    strcmp(gm_sysfs_base_name(target.data), nic->bdf.v) == 0)
				found = gm_xstrdup(de->d_name);
		}
		closedir(d);
	}
	gm_buf_reset(&path);
	gm_buf_addf(&path, CLASS_NET "/%s/device/infiniband", nic->name);
	if (!found && (d = gm_root_opendir(root, path.data))) {
		while (!found && (de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				found = gm_xstrdup(de->d_name);
		closedir(d);
	}
	if (found)
		gm_fstr_take(&nic->rdma_device, found);
	else
		gm_fact_fail(&nic->rdma_device.f, GM_FACT_UNSUPPORTED, "no RDMA device");
	gm_buf_release(&target);
	gm_buf_release(&path);
}

/* gm_sysfs_list_sort orders by the first member. */
_Static_assert(offsetof(struct gm_nic, name) == 0, "name must be the first member");

void gm_host_collect_nics(struct gm_host *host, const struct gm_root *root)
{
	struct gm_buf path = GM_BUF_INIT;
	for (size_t i = 0; i < host->n_nics; i++)
		gm_nic_release(&host->nics[i]);
	GM_FREE(host->nics);
	host->n_nics = 0;

	/* No /sys/class/net (a root without /sys): an empty list that says why. */
	DIR *d = gm_root_opendir(root, CLASS_NET);
	if (!d) {
		gm_sysfs_fail_errno(&host->nic_scan, CLASS_NET, errno);
		goto out;
	}
	gm_fact_set_ok(&host->nic_scan);
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && host->n_nics < MAX_NICS) {
		/* interface names may start with a dot; only "." and ".." are not interfaces */
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "lo") == 0)
			continue;
		gm_buf_reset(&path);
		gm_buf_addf(&path, CLASS_NET "/%s/device", de->d_name);
		if (!gm_root_exists(root, path.data))
			continue; /* virtual */
		host->nics =
		        gm_sysfs_list_add(host->nics, &host->n_nics, &cap, sizeof(*host->nics));
		struct gm_nic *nic = &host->nics[host->n_nics - 1];
		nic->name = gm_xstrdup(de->d_name);
		collect_driver(nic, root);
		collect_bdf(nic, root);
		collect_speed(nic, root);
		collect_operstate(nic, root);
		collect_numa(nic, root);
		collect_rdma(nic, root);
	}
	closedir(d);
	gm_sysfs_list_sort(host->nics, host->n_nics, sizeof(*host->nics));
out:
	gm_buf_release(&path);
}

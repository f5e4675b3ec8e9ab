/* The GPU/NIC topology matrix from hwloc's PCI tree and NVML's NVLink data, computed the way
 * nvidia-smi's `topo -m` does, so the numbers people already know from the cloud VM can be
 * compared with the on-prem server's. No printing: see src/cli/cmd_topo.c. */
#include "hw/topo.h"

#include <errno.h>
#include <hwloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define NVIDIA_VENDOR 0x10de
/* How many GPU pairs a warning names before it says "and N more". */
#define MAX_PAIRS_NAMED 8

static const char *const link_names[] = {
        [GM_LINK_X] = "X",     [GM_LINK_NV] = "NV",   [GM_LINK_PIX] = "PIX",
        [GM_LINK_PXB] = "PXB", [GM_LINK_PHB] = "PHB", [GM_LINK_NODE] = "NODE",
        [GM_LINK_SYS] = "SYS",
};

/* nvidia-smi's legend, word for word where it has one. */
static const char *const link_meanings[] = {
        [GM_LINK_X] = "Self",
        [GM_LINK_NV] = "Connection traversing a bonded set of # NVLinks",
        [GM_LINK_PIX] = "Connection traversing at most a single PCIe bridge",
        [GM_LINK_PXB] = "Connection traversing multiple PCIe bridges (without traversing the "
                        "PCIe Host Bridge)",
        [GM_LINK_PHB] = "Connection traversing PCIe as well as a PCIe Host Bridge (typically "
                        "the CPU)",
        [GM_LINK_NODE] = "Connection traversing PCIe as well as the interconnect between PCIe "
                         "Host Bridges within a NUMA node",
        [GM_LINK_SYS] = "Connection traversing PCIe as well as the SMP interconnect between "
                        "NUMA nodes (e.g., QPI/UPI)",
};

const char *gm_topo_link_name(enum gm_link link)
{
	if ((unsigned)link < sizeof(link_names) / sizeof(link_names[0]))
		return link_names[link];
	return "?";
}

const char *gm_topo_link_meaning(enum gm_link link)
{
	if ((unsigned)link < sizeof(link_meanings) / sizeof(link_meanings[0]))
		return link_meanings[link];
	return "";
}

void gm_topo_cell_str(const struct gm_topo_cell *cell, struct gm_buf *out)
{
	if (cell->link == GM_LINK_NV)
		gm_buf_addf(out, "NV%u", cell->nv);
	else
		gm_buf_adds(out, gm_topo_link_name(cell->link));
}

const struct gm_topo_cell *gm_topo_cell(const struct gm_topo *t, size_t row, size_t col)
{
	return &t->cells[row * t->n_devs + col];
}

static struct gm_topo_cell *cell_at(struct gm_topo *t, size_t row, size_t col)
{
	return &t->cells[row * t->n_devs + col];
}

void gm_topo_init(struct gm_topo *t)
{
	if (t)
		memset(t, 0, sizeof(*t));
}

static void clear_warnings(struct gm_topo *t)
{
	for (size_t i = 0; i < t->n_warnings; i++)
		free(t->warnings[i]);
	GM_FREE(t->warnings);
	t->n_warnings = 0;
}

void gm_topo_release(struct gm_topo *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_devs; i++) {
		struct gm_topo_dev *d = &t->devs[i];
		free(d->name);
		free(d->bdf);
		free(d->rdma);
		free(d->netdev);
		gm_fint_release(&d->numa_node);
		gm_fstr_release(&d->cpu_affinity);
	}
	free(t->devs);
	free(t->cells);
	free(t->source);
	free(t->platform);
	free(t->nvml_note);
	gm_fact_release(&t->nvlink);
	clear_warnings(t);
	gm_topo_init(t);
}

static void add_warning(struct gm_topo *t, struct gm_buf *msg)
{
	t->warnings = gm_xreallocarray(t->warnings, t->n_warnings + 1, sizeof(*t->warnings));
	t->warnings[t->n_warnings++] = gm_buf_detach(msg);
}

/* ---- PCI addresses ---- */

/* A PCI address as one sortable number; false when s is not "[dddd:]bb:dd.f" (NVML writes an
 * 8-digit domain, sysfs and hwloc 4 digits). */
static bool bdf_key(const char *s, uint64_t *key)
{
	unsigned long part[4] = {0, 0, 0, 0};
	int n = 0;
	const char *p = s;
	if (!s)
		return false;
	for (;;) {
		char *end;
		if (n == 4 || !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		                (*p >= 'A' && *p <= 'F')))
			return false;
		errno = 0;
		part[n++] = strtoul(p, &end, 16);
		if (errno || end - p > 8)
			return false;
		p = end;
		if (*p == ':' || (*p == '.' && n >= 2))
			p++;
		else if (*p == '\0')
			break;
		else
			return false;
	}
	if (n == 3) { /* no domain */
		part[3] = part[2];
		part[2] = part[1];
		part[1] = part[0];
		part[0] = 0;
	} else if (n != 4) {
		return false;
	}
	if (part[0] > 0xffff || part[1] > 0xff || part[2] > 0x1f || part[3] > 7)
		return false;
	*key = (uint64_t)part[0] << 16 | part[1] << 8 | part[2] << 3 | part[3];
	return true;
}

static uint64_t obj_bdf_key(hwloc_obj_t o)
{
	const struct hwloc_pcidev_attr_s *a = &o->attr->pcidev;
	return (uint64_t)a->domain << 16 | (uint64_t)a->bus << 8 | (uint64_t)(a->dev & 0x1f) << 3 |
	       (a->func & 7);
}

/* ---- the hwloc tree ---- */

static bool is_host_bridge(hwloc_obj_t o)
{
	return o->type == HWLOC_OBJ_BRIDGE &&
	       o->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST;
}

static bool is_pci_side(hwloc_obj_t o)
{
	return o->type == HWLOC_OBJ_BRIDGE || o->type == HWLOC_OBJ_PCI_DEVICE;
}

/* PCI bridges strictly between a device and its ancestor top. */
static unsigned bridges_between(hwloc_obj_t dev, hwloc_obj_t top)
{
	unsigned n = 0;
	for (hwloc_obj_t o = dev->parent; o && o != top; o = o->parent)
		if (o->type == HWLOC_OBJ_BRIDGE)
			n++;
	return n;
}

/* hwloc_get_common_ancestor_obj compares depths, which I/O objects do not have; walk up. */
static hwloc_obj_t common_ancestor(hwloc_obj_t a, hwloc_obj_t b)
{
	for (hwloc_obj_t pa = a; pa; pa = pa->parent)
		for (hwloc_obj_t pb = b; pb; pb = pb->parent)
			if (pa == pb)
				return pa;
	return NULL;
}

/* The PCI relation of two different devices, as NVML's nvmlDeviceGetTopologyCommonAncestor
 * classifies it. */
static enum gm_link pci_relation(hwloc_topology_t topo, hwloc_obj_t a, hwloc_obj_t b)
{
	if (a == b)
		return GM_LINK_X;
	hwloc_obj_t l = common_ancestor(a, b);
	if (!l)
		return GM_LINK_SYS;
	if (is_host_bridge(l))
		return GM_LINK_PHB;
	if (is_pci_side(l)) {
		/* They meet inside the PCIe fabric. Below one switch each device has just its
		 * downstream port between itself and the switch's upstream port. */
		return bridges_between(a, l) <= 1 && bridges_between(b, l) <= 1 ? GM_LINK_PIX
		                                                                : GM_LINK_PXB;
	}
	/* They meet on the CPU side: different host bridges. */
	hwloc_obj_t ca = hwloc_get_non_io_ancestor_obj(topo, a);
	hwloc_obj_t cb = hwloc_get_non_io_ancestor_obj(topo, b);
	if (ca && cb && ca->nodeset && cb->nodeset &&
	    hwloc_bitmap_isequal(ca->nodeset, cb->nodeset) && hwloc_bitmap_weight(ca->nodeset) == 1)
		return GM_LINK_NODE;
	return GM_LINK_SYS;
}

static hwloc_obj_t first_osdev(hwloc_obj_t pci, hwloc_obj_osdev_type_t type)
{
	for (hwloc_obj_t c = pci->io_first_child; c; c = c->next_sibling)
		if (c->type == HWLOC_OBJ_OS_DEVICE && c->attr->osdev.type == type && c->name)
			return c;
	return NULL;
}

static bool is_gpu(hwloc_obj_t o)
{
	const struct hwloc_pcidev_attr_s *a = &o->attr->pcidev;
	return a->vendor_id == NVIDIA_VENDOR && (a->class_id == 0x0300 || a->class_id == 0x0302);
}

static bool is_nic(hwloc_obj_t o)
{
	return (o->attr->pcidev.class_id >> 8) == 0x02 ||
	       first_osdev(o, HWLOC_OBJ_OSDEV_OPENFABRICS) != NULL;
}

struct cand {
	hwloc_obj_t obj;
	enum gm_topo_kind kind;
	uint64_t key;
};

static int cand_cmp(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return a->key < b->key ? -1 : a->key > b->key;
}

static void fill_affinity(hwloc_topology_t topo, hwloc_obj_t pci, struct gm_topo_dev *d)
{
	hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, pci);
	char *list = NULL;
	if (anc && anc->cpuset && !hwloc_bitmap_iszero(anc->cpuset) &&
	    hwloc_bitmap_list_asprintf(&list, anc->cpuset) >= 0 && list)
		gm_fstr_set(&d->cpu_affinity, list);
	else
		gm_fact_fail(&d->cpu_affinity.f, GM_FACT_UNSUPPORTED,
		             "the topology gives no CPU locality for this device");
	free(list);

	int weight = anc && anc->nodeset ? hwloc_bitmap_weight(anc->nodeset) : 0;
	if (weight == 1) {
		gm_fint_set(&d->numa_node, hwloc_bitmap_first(anc->nodeset));
	} else if (weight > 1) {
		gm_fact_fail(&d->numa_node.f, GM_FACT_UNSUPPORTED,
		             "the device is not local to a single NUMA node");
	} else {
		gm_fact_fail(&d->numa_node.f, GM_FACT_UNSUPPORTED,
		             "the topology gives no NUMA locality for this device");
	}
}

/* hwloc's DMI strings (Linux backend) that name a hypervisor or a cloud VM. Bare-metal cloud
 * instances ("c5.metal") show their real PCIe tree and are not counted. */
static bool dmi_is_virtual(const char *vendor, const char *product)
{
	static const char *const vendors[] = {
	        "Google",       "Amazon EC2", "QEMU",          "VMware",  "Xen",   "innotek",
	        "Red Hat",      "OpenStack",  "Alibaba Cloud", "Nutanix", "oVirt", "Parallels",
	        "DigitalOcean", "Bochs",      "Tencent Cloud", "Hetzner",
	};
	static const char *const products[] = {
	        "Google Compute Engine",
	        "Virtual Machine",
	        "KVM",
	        "VMware",
	        "HVM domU",
	        "OpenStack",
	        "VirtualBox",
	        "Standard PC",
	        "Bochs",
	        "Alibaba Cloud ECS",
	        "RHEV",
	};
	if (product && strstr(product, ".metal"))
		return false;
	for (size_t i = 0; vendor && i < sizeof(vendors) / sizeof(vendors[0]); i++)
		if (strncasecmp(vendor, vendors[i], strlen(vendors[i])) == 0)
			return true;
	for (size_t i = 0; product && i < sizeof(products) / sizeof(products[0]); i++)
		if (strncasecmp(product, products[i], strlen(products[i])) == 0)
			return true;
	return false;
}

static void read_platform(hwloc_topology_t topo, struct gm_topo *t)
{
	hwloc_obj_t root = hwloc_get_root_obj(topo);
	const char *vendor = hwloc_obj_get_info_by_name(root, "DMISysVendor");
	const char *product = hwloc_obj_get_info_by_name(root, "DMIProductName");
	if (vendor || product) {
		struct gm_buf b = GM_BUF_INIT;
		/* "Google" + "Google Compute Engine" reads as the product alone */
		if (vendor && (!product || strncmp(product, vendor, strlen(vendor)) != 0))
			gm_buf_adds(&b, vendor);
		if (product)
			gm_buf_addf(&b, "%s%s", b.len ? " " : "", product);
		t->platform = gm_buf_detach(&b);
	}
	t->virtual_machine = dmi_is_virtual(vendor, product);
}

/* Builds devices and the PCI matrix from a loaded topology. */
static void build(hwloc_topology_t topo, struct gm_topo *t)
{
	struct cand *c = NULL;
	size_t n = 0;
	for (hwloc_obj_t o = hwloc_get_next_pcidev(topo, NULL); o;
	     o = hwloc_get_next_pcidev(topo, o)) {
		bool gpu = is_gpu(o);
		if (!gpu && !is_nic(o))
			continue;
		c = gm_xreallocarray(c, n + 1, sizeof(*c));
		c[n].obj = o;
		c[n].kind = gpu ? GM_TOPO_GPU : GM_TOPO_NIC;
		c[n].key = obj_bdf_key(o);
		n++;
	}
	if (n)
		qsort(c, n, sizeof(*c), cand_cmp);

	t->devs = gm_xcalloc(n ? n : 1, sizeof(*t->devs));
	t->cells = gm_xcalloc(n ? n * n : 1, sizeof(*t->cells));
	t->n_devs = n;
	t->flat_pci = n > 0;
	size_t n_nics = 0;
	struct gm_buf b = GM_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		hwloc_obj_t o = c[i].obj;
		struct gm_topo_dev *d = &t->devs[i];
		const struct hwloc_pcidev_attr_s *a = &o->attr->pcidev;
		d->kind = c[i].kind;
		d->vendor = a->vendor_id;
		d->device = a->device_id;
		d->class_id = a->class_id;
		d->nvml_index = -1;
		gm_buf_reset(&b);
		gm_buf_addf(&b, "%04x:%02x:%02x.%x", (unsigned)a->domain, (unsigned)a->bus,
		            (unsigned)a->dev, (unsigned)a->func);
		d->bdf = gm_xstrdup(gm_buf_cstr(&b));
		hwloc_obj_t rdma = first_osdev(o, HWLOC_OBJ_OSDEV_OPENFABRICS);
		hwloc_obj_t net = first_osdev(o, HWLOC_OBJ_OSDEV_NETWORK);
		d->rdma = rdma ? gm_xstrdup(rdma->name) : NULL;
		d->netdev = net ? gm_xstrdup(net->name) : NULL;
		gm_buf_reset(&b);
		if (d->kind == GM_TOPO_GPU) {
			t->n_gpus++;
			gm_buf_addf(&b, "GPU%zu", i);
		} else if (d->rdma || d->netdev) {
			gm_buf_adds(&b, d->rdma ? d->rdma : d->netdev);
			n_nics++;
		} else {
			gm_buf_addf(&b, "NIC%zu", n_nics++);
		}
		d->name = gm_xstrdup(gm_buf_cstr(&b));
		fill_affinity(topo, o, d);
		if (!o->parent || !is_host_bridge(o->parent))
			t->flat_pci = false;
	}
	gm_buf_release(&b);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			struct gm_topo_cell *cell = cell_at(t, i, j);
			cell->pci = j < i ? cell_at(t, j, i)->pci
			                  : pci_relation(topo, c[i].obj, c[j].obj);
			cell->link = cell->pci;
			cell->nv = 0;
		}
	}
	free(c);
}

/* ---- warnings ---- */

static bool near_pci(enum gm_link l)
{
	return l == GM_LINK_PIX || l == GM_LINK_PXB;
}

static void warn_virtual(struct gm_topo *t)
{
	if (!t->virtual_machine)
		return;
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_addf(&b, "this is a virtual machine (%s): ", t->platform ? t->platform : "DMI");
	if (t->flat_pci)
		gm_buf_adds(&b, "the hypervisor shows a flat PCI tree with every device directly "
		                "below a host bridge, so the PCI relations above are synthetic and "
		                "say nothing about the physical server's PCIe switches; expect "
		                "PIX/PXB/NODE/SYS on the on-prem server");
	else
		gm_buf_adds(&b, "the PCI tree above is the one the hypervisor presents and may "
		                "differ from the physical server's");
	add_warning(t, &b);
}

static void warn_sys_pairs(struct gm_topo *t)
{
	struct gm_buf pairs = GM_BUF_INIT;
	size_t count = 0;
	for (size_t i = 0; i < t->n_gpus; i++) {
		for (size_t j = i + 1; j < t->n_gpus; j++) {
			if (gm_topo_cell(t, i, j)->link != GM_LINK_SYS)
				continue;
			if (count < MAX_PAIRS_NAMED)
				gm_buf_addf(&pairs, "%s%s-%s", count ? ", " : "", t->devs[i].name,
				            t->devs[j].name);
			count++;
		}
	}
	if (count) {
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_addf(
		        &b,
		        "%zu GPU pair%s cross%s CPU sockets over the SMP interconnect (SYS): %s",
		        count, count == 1 ? "" : "s", count == 1 ? "es" : "", gm_buf_cstr(&pairs));
		if (count > MAX_PAIRS_NAMED)
			gm_buf_addf(&b, " and %zu more", count - MAX_PAIRS_NAMED);
		gm_buf_adds(&b,
		            "; peer-to-peer and NCCL traffic between them goes through the CPUs, "
		            "so keep multi-GPU jobs on the GPUs of one socket");
		if (!gm_fact_ok(&t->nvlink))
			gm_buf_addf(&b, " (NVLink not known: %s)",
			            t->nvlink.why ? t->nvlink.why : "no NVML data");
		add_warning(t, &b);
	}
	gm_buf_release(&pairs);
}

static void warn_rdma(struct gm_topo *t)
{
	size_t n_rdma = 0;
	if (t->n_gpus == 0)
		return;
	for (size_t i = t->n_gpus; i < t->n_devs; i++) {
		if (!t->devs[i].rdma)
			continue;
		n_rdma++;
		size_t best = 0;
		for (size_t g = 0; g < t->n_gpus; g++)
			if (gm_topo_cell(t, i, g)->pci < gm_topo_cell(t, i, best)->pci)
				best = g;
		enum gm_link l = gm_topo_cell(t, i, best)->pci;
		if (near_pci(l))
			continue;
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_addf(&b,
		            "RDMA NIC %s has no GPU behind its PCIe switch (nearest: %s, %s); "
		            "GPUDirect RDMA wants PIX or PXB, so its traffic is staged through "
		            "host memory",
		            t->devs[i].name, t->devs[best].name, gm_topo_link_name(l));
		add_warning(t, &b);
	}
	if (!n_rdma)
		return;
	struct gm_buf names = GM_BUF_INIT;
	size_t far = 0;
	for (size_t g = 0; g < t->n_gpus; g++) {
		bool near = false;
		for (size_t i = t->n_gpus; i < t->n_devs && !near; i++)
			near = t->devs[i].rdma && near_pci(gm_topo_cell(t, g, i)->pci);
		if (!near) {
			gm_buf_addf(&names, "%s%s", far ? ", " : "", t->devs[g].name);
			far++;
		}
	}
	if (far) {
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_addf(&b,
		            "%s ha%s no RDMA NIC behind %s PCIe switch (PIX/PXB); GPUDirect RDMA "
		            "from %s crosses the host bridge or the CPUs",
		            gm_buf_cstr(&names), far == 1 ? "s" : "ve", far == 1 ? "its" : "their",
		            far == 1 ? "it" : "them");
		add_warning(t, &b);
	}
	gm_buf_release(&names);
}

static void compute_warnings(struct gm_topo *t)
{
	clear_warnings(t);
	warn_virtual(t);
	warn_sys_pairs(t);
	warn_rdma(t);
	if (t->nvml_note) {
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_adds(&b, t->nvml_note);
		add_warning(t, &b);
	}
}

/* ---- loading ---- */

/* An environment variable saved before the load and put back after it. */
struct saved_env {
	const char *name;
	char *value; /* NULL: was unset */
};

static void env_save(struct saved_env *s, const char *name)
{
	const char *v = getenv(name);
	s->name = name;
	s->value = v ? gm_xstrdup(v) : NULL;
}

static void env_restore(struct saved_env *s)
{
	if (!s->name)
		return;
	if (s->value)
		setenv(s->name, s->value, 1);
	else
		unsetenv(s->name);
	GM_FREE(s->value);
	s->name = NULL;
}

static bool is_live_root(const char *dir)
{
	return !dir || !*dir || strcmp(dir, "/") == 0;
}

enum gm_rc gm_topo_load(struct gm_topo *t, const struct gm_topo_opts *opts, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	hwloc_topology_t topo = NULL;
	struct saved_env env_xml = {NULL, NULL}, env_fsroot = {NULL, NULL};
	struct gm_buf src = GM_BUF_INIT;
	const char *xml = opts ? opts->xml_path : NULL;
	const char *sysroot = opts && !is_live_root(opts->sysroot) ? opts->sysroot : NULL;
	struct stat st;

	gm_topo_release(t);
	if (xml && !*xml)
		return gm_err_set(err, GM_ERR_USAGE, "empty topology file name");
	if (!xml && !sysroot) { /* what hwloc itself would honour */
		const char *e = getenv("HWLOC_XMLFILE");
		if (e && *e)
			xml = e;
		else if (!is_live_root(getenv("HWLOC_FSROOT")))
			sysroot = getenv("HWLOC_FSROOT");
	}

	if (xml) {
		if (stat(xml, &st) != 0) {
			rc = gm_err_errno(err, GM_ERR_NOT_FOUND, errno,
			                  "cannot read topology file '%s'", xml);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "topology file '%s' is not a regular file", xml);
			goto out;
		}
		if (st.st_size > GM_TOPO_MAX_XML_BYTES) {
			rc = gm_err_set(
			        err, GM_ERR_LIMIT,
			        "topology file '%s' is larger than %d MiB; that is no lstopo "
			        "XML of one server",
			        xml, GM_TOPO_MAX_XML_BYTES >> 20);
			goto out;
		}
		if (access(xml, R_OK) != 0) {
			rc = gm_err_errno(err, GM_ERR_USAGE, errno,
			                  "cannot read topology file '%s'", xml);
			goto out;
		}
		gm_buf_addf(&src, "xml:%s", xml);
	} else if (sysroot) {
		if (stat(sysroot, &st) != 0) {
			rc = gm_err_errno(err, GM_ERR_NOT_FOUND, errno, "cannot use sysroot '%s'",
			                  sysroot);
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = gm_err_set(err, GM_ERR_USAGE, "sysroot '%s' is not a directory",
			                sysroot);
			goto out;
		}
		gm_buf_addf(&src, "sysroot:%s", sysroot);
	} else {
		gm_buf_adds(&src, "live");
	}

	/* hwloc lets HWLOC_XMLFILE/HWLOC_FSROOT override what the program asked for, and takes
	 * a root directory only from HWLOC_FSROOT: set both to what was decided above. */
	env_save(&env_xml, "HWLOC_XMLFILE");
	env_save(&env_fsroot, "HWLOC_FSROOT");
	unsetenv("HWLOC_XMLFILE");
	if (sysroot)
		setenv("HWLOC_FSROOT", sysroot, 1);
	else
		unsetenv("HWLOC_FSROOT");

	if (hwloc_topology_init(&topo) != 0) {
		topo = NULL;
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot initialise hwloc");
		goto out;
	}
	hwloc_topology_set_type_filter(topo, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
	hwloc_topology_set_type_filter(topo, HWLOC_OBJ_BRIDGE, HWLOC_TYPE_FILTER_KEEP_ALL);
	hwloc_topology_set_type_filter(topo, HWLOC_OBJ_OS_DEVICE, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
	/* GPU plugins would open the driver (slow, and not what we read NVLinks from);
	 * libpciaccess ("pci") repeats what the Linux backend reads from sysfs (and leaks);
	 * the x86 backend would describe this machine's CPUs, not the ones below a sysroot. */
	static const char *const skip[] = {"nvml",      "cuda", "opencl", "rsmi",
	                                   "levelzero", "gl",   "pci"};
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
		                              skip[i]);
	if (sysroot)
		hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
		                              "x86");
	if (xml && hwloc_topology_set_xml(topo, xml) != 0) {
		rc = gm_err_set(err, GM_ERR_PARSE,
		                "topology file '%s' is not a valid hwloc XML topology", xml);
		goto out;
	}
	if (hwloc_topology_load(topo) != 0) {
		if (xml)
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "topology file '%s' is not a valid hwloc XML topology",
			                xml);
		else
			rc = gm_err_errno(err, GM_ERR_IO, errno,
			                  "hwloc cannot load the topology of %s",
			                  sysroot ? sysroot : "this host");
		goto out;
	}
	env_restore(&env_xml);
	env_restore(&env_fsroot);

	t->source = gm_buf_detach(&src);
	read_platform(topo, t);
	build(topo, t);
	gm_fact_fail(&t->nvlink, GM_FACT_UNKNOWN, "no NVML data");
	compute_warnings(t);
out:
	env_restore(&env_xml);
	env_restore(&env_fsroot);
	if (topo)
		hwloc_topology_destroy(topo);
	gm_buf_release(&src);
	return rc;
}

/* ---- NVLink ---- */

static const struct gm_gpu *nvml_gpu_by_key(const struct gm_nvidia *nv, uint64_t key)
{
	for (size_t i = 0; i < nv->n_gpus; i++) {
		uint64_t k;
		const struct gm_gpu *g = &nv->gpus[i];
		if (gm_fact_ok(&g->bdf.f) && bdf_key(g->bdf.v, &k) && k == key)
			return g;
	}
	return NULL;
}

static unsigned links_to(const struct gm_gpu *g, uint64_t key)
{
	unsigned n = 0;
	for (size_t i = 0; gm_fact_ok(&g->nvlink) && i < g->n_nvlinks; i++) {
		uint64_t k;
		if (g->nvlinks[i].remote == GM_NVLINK_REMOTE_GPU &&
		    bdf_key(g->nvlinks[i].remote_bdf, &k) && k == key)
			n++;
	}
	return n;
}

static unsigned switch_links(const struct gm_gpu *g)
{
	unsigned n = 0;
	for (size_t i = 0; gm_fact_ok(&g->nvlink) && i < g->n_nvlinks; i++)
		if (g->nvlinks[i].remote == GM_NVLINK_REMOTE_SWITCH)
			n++;
	return n;
}

void gm_topo_apply_nvlink(struct gm_topo *t, const struct gm_nvidia *nv)
{
	const struct gm_gpu **match = NULL;
	uint64_t *keys = NULL;
	struct gm_buf unmatched = GM_BUF_INIT;
	size_t n_unmatched = 0;

	GM_FREE(t->nvml_note);
	for (size_t i = 0; i < t->n_devs; i++) {
		t->devs[i].nvml_index = -1;
		for (size_t j = 0; j < t->n_devs; j++) {
			struct gm_topo_cell *c = cell_at(t, i, j);
			c->link = c->pci;
			c->nv = 0;
		}
	}
	if (!nv) {
		gm_fact_fail(&t->nvlink, GM_FACT_UNKNOWN, "no NVML data");
		goto out;
	}
	if (!gm_fact_ok(&nv->nvml)) {
		gm_fact_fail(&t->nvlink,
		             nv->nvml.state == GM_FACT_OK ? GM_FACT_ERROR : nv->nvml.state,
		             nv->nvml.why ? nv->nvml.why : "NVML is not available");
		goto out;
	}

	match = gm_xcalloc(t->n_gpus ? t->n_gpus : 1, sizeof(const struct gm_gpu *));
	keys = gm_xcalloc(t->n_gpus ? t->n_gpus : 1, sizeof(*keys));
	for (size_t g = 0; g < t->n_gpus; g++) {
		if (!bdf_key(t->devs[g].bdf, &keys[g]))
			continue;
		match[g] = nvml_gpu_by_key(nv, keys[g]);
		if (match[g]) {
			struct gm_topo_dev *d = &t->devs[g];
			d->nvml_index = (int)match[g]->index;
			/* The driver knows the locality a VM's flat PCI tree hides from hwloc
			 * (which then puts the device next to all CPUs of all NUMA nodes). */
			if (!gm_fact_ok(&d->numa_node.f) && gm_fact_ok(&match[g]->numa_node.f)) {
				gm_fint_set(&d->numa_node, match[g]->numa_node.v);
				if (gm_fact_ok(&match[g]->cpu_affinity.f) &&
				    match[g]->cpu_affinity.v)
					gm_fstr_set(&d->cpu_affinity, match[g]->cpu_affinity.v);
			}
		} else {
			gm_buf_addf(&unmatched, "%s%s (%s)", n_unmatched ? ", " : "",
			            t->devs[g].name, t->devs[g].bdf);
			n_unmatched++;
		}
	}
	if (n_unmatched) {
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_addf(&b,
		            "NVML does not list %s: NVLinks of %s are not shown; check that the "
		            "nvidia driver is bound to %s (or that the topology file is from this "
		            "host)",
		            gm_buf_cstr(&unmatched), n_unmatched == 1 ? "it" : "them",
		            n_unmatched == 1 ? "it" : "them");
		t->nvml_note = gm_buf_detach(&b);
	} else {
		/* Every GPU has an NVML index: name them as nvidia-smi and CUDA do. */
		for (size_t g = 0; g < t->n_gpus; g++) {
			struct gm_buf b = GM_BUF_INIT;
			gm_buf_addf(&b, "GPU%d", t->devs[g].nvml_index);
			free(t->devs[g].name);
			t->devs[g].name = gm_buf_detach(&b);
		}
	}

	for (size_t a = 0; a < t->n_gpus; a++) {
		for (size_t b = a + 1; b < t->n_gpus; b++) {
			if (!match[a] || !match[b])
				continue;
			unsigned ab = links_to(match[a], keys[b]);
			unsigned ba = links_to(match[b], keys[a]);
			unsigned n = ab > ba ? ab : ba;
			unsigned sa = switch_links(match[a]), sb = switch_links(match[b]);
			if (sa && sb)
				n += sa < sb ? sa : sb;
			if (!n)
				continue;
			cell_at(t, a, b)->link = cell_at(t, b, a)->link = GM_LINK_NV;
			cell_at(t, a, b)->nv = cell_at(t, b, a)->nv = n;
		}
	}
	gm_fact_release(&t->nvlink);
	t->nvlink.state = GM_FACT_OK;
out:
	compute_warnings(t);
	free(match);
	free(keys);
	gm_buf_release(&unmatched);
}

/* ---- JSON ---- */

void gm_topo_to_json(const struct gm_topo *t, struct gm_buf *out, bool pretty)
{
	struct gm_json j;
	struct gm_buf cell = GM_BUF_INIT;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", GM_TOPO_SCHEMA);
	gm_json_str(&j, "source", t->source);
	gm_json_begin_array(&j, "devices");
	for (size_t i = 0; i < t->n_devs; i++) {
		const struct gm_topo_dev *d = &t->devs[i];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "name", d->name);
		gm_json_str(&j, "kind", d->kind == GM_TOPO_GPU ? "gpu" : "nic");
		gm_json_str(&j, "bdf", d->bdf);
		if (gm_fact_ok(&d->numa_node.f))
			gm_json_int(&j, "numa_node", d->numa_node.v);
		else
			gm_json_null(&j, "numa_node");
		gm_json_str(&j, "cpu_affinity",
		            gm_fact_ok(&d->cpu_affinity.f) ? d->cpu_affinity.v : NULL);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_begin_array(&j, "matrix");
	for (size_t i = 0; i < t->n_devs; i++) {
		gm_json_begin_array(&j, NULL);
		for (size_t k = 0; k < t->n_devs; k++) {
			gm_buf_reset(&cell);
			gm_topo_cell_str(gm_topo_cell(t, i, k), &cell);
			gm_json_str(&j, NULL, gm_buf_cstr(&cell));
		}
		gm_json_end_array(&j);
	}
	gm_json_end_array(&j);
	gm_json_begin_array(&j, "warnings");
	for (size_t i = 0; i < t->n_warnings; i++)
		gm_json_str(&j, NULL, t->warnings[i]);
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	gm_buf_release(&cell);
}

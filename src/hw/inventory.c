/* Collecting the inventory: host readers, then NVML, then the merge that fills what NVML
 * leaves open (NUMA node, CPU affinity, /dev/nvidiaN) from the PCI functions in sysfs. */
#include "hw/inventory.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/host.h"
#include "hw/inventory_fields.h"
#include "hw/nvml.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef GM_VERSION
#define GM_VERSION "0.0.0"
#endif

void gm_inventory_init(struct gm_inventory *inv)
{
	memset(inv, 0, sizeof(*inv));
}

void gm_gpu_release(struct gm_gpu *g)
{
	if (!g)
		return;
	gm_fields_release(g, gm_gpu_fields);
	gm_fact_release(&g->nvlink);
	for (size_t i = 0; i < g->n_nvlinks; i++)
		free(g->nvlinks[i].remote_bdf);
	GM_FREE(g->nvlinks);
	g->n_nvlinks = 0;
}

void gm_nvidia_release(struct gm_nvidia *nv)
{
	if (!nv)
		return;
	gm_fact_release(&nv->nvml);
	gm_fields_release(nv, gm_nvidia_fields);
	for (size_t i = 0; i < nv->n_gpus; i++)
		gm_gpu_release(&nv->gpus[i]);
	GM_FREE(nv->gpus);
	nv->n_gpus = 0;
}

void gm_pci_dev_release(struct gm_pci_dev *d)
{
	if (!d)
		return;
	GM_FREE(d->bdf);
	gm_fields_release(d, gm_pci_dev_fields);
}

void gm_nic_release(struct gm_nic *n)
{
	if (!n)
		return;
	GM_FREE(n->name);
	gm_fields_release(n, gm_nic_fields);
}

void gm_host_release(struct gm_host *h)
{
	if (!h)
		return;
	gm_fields_release(h, gm_host_fields);
	gm_fact_release(&h->pci_scan);
	gm_fact_release(&h->nic_scan);
	for (size_t i = 0; i < h->n_pci; i++)
		gm_pci_dev_release(&h->pci[i]);
	GM_FREE(h->pci);
	h->n_pci = 0;
	for (size_t i = 0; i < h->n_nics; i++)
		gm_nic_release(&h->nics[i]);
	GM_FREE(h->nics);
	h->n_nics = 0;
}

void gm_inventory_release(struct gm_inventory *inv)
{
	if (!inv)
		return;
	gm_fields_release(inv, gm_inventory_fields);
	gm_host_release(&inv->host);
	gm_nvidia_release(&inv->nvidia);
}

bool gm_pci_bdf_norm(const char *s, struct gm_buf *out)
{
	/* [domain:]bus:device.function, hex; domain may be 4 or 8 digits (NVML pads to 8). */
	unsigned long part[4] = {0, 0, 0, 0};
	int n = 0;
	const char *p = s;
	if (!s)
		return false;
	while (n < 4) {
		char *end = NULL;
		if (!isxdigit((unsigned char)*p))
			return false;
		part[n++] = strtoul(p, &end, 16);
		p = end;
		if (*p == ':' || (*p == '.' && n >= 2))
			p++;
		else
			break;
	}
	if (*p != '\0' || n < 3)
		return false;
	if (n == 3) { /* no domain */
		part[3] = part[2];
		part[2] = part[1];
		part[1] = part[0];
		part[0] = 0;
	}
	if (part[0] > 0xffff || part[1] > 0xff || part[2] > 0x1f || part[3] > 7)
		return false;
	gm_buf_reset(out);
	gm_buf_addf(out, "%04lx:%02lx:%02lx.%lx", part[0], part[1], part[2], part[3]);
	return true;
}

/* Fills a GPU's NUMA node, CPU affinity and /dev node from sysfs where NVML gave none. */
static void merge_gpu(struct gm_gpu *g, const struct gm_host *host, const struct gm_root *root)
{
	const struct gm_pci_dev *pci =
	        gm_fact_ok(&g->bdf.f) ? gm_host_find_pci(host, g->bdf.v) : NULL;
	/* sysfs wins: NVML's NUMA node id is the node of the GPU's own memory (coherent
	 * systems such as GH200), not the CPU node the GPU is attached to. */
	if (pci && gm_fact_ok(&pci->numa_node.f))
		gm_fint_set(&g->numa_node, pci->numa_node.v);
	if (pci && !gm_fact_ok(&g->cpu_affinity.f) && gm_fact_ok(&pci->local_cpulist.f))
		gm_fstr_set(&g->cpu_affinity, pci->local_cpulist.v);
	if (!pci && !gm_fact_ok(&g->numa_node.f))
		gm_fact_fail(&g->numa_node.f, GM_FACT_ERROR, "PCI device not found in sysfs");
	if (!pci && !gm_fact_ok(&g->cpu_affinity.f))
		gm_fact_fail(&g->cpu_affinity.f, GM_FACT_ERROR, "PCI device not found in sysfs");

	if (gm_fact_ok(&g->minor.f)) {
		struct gm_buf path = GM_BUF_INIT;
		gm_buf_addf(&path, "/dev/nvidia%lld", (long long)g->minor.v);
		gm_fbool_set(&g->dev_node, gm_root_exists(root, gm_buf_cstr(&path)));
		gm_buf_release(&path);
	} else {
		gm_fact_fail(&g->dev_node.f, GM_FACT_UNKNOWN, "minor number unknown");
	}
}

static void stamp(struct gm_inventory *inv)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gm_fstr_set(&inv->collected_at, when);
	gm_fstr_set(&inv->tool_version, GM_VERSION);
}

enum gm_rc gm_inventory_collect(struct gm_inventory *inv, const struct gm_inventory_opts *opts,
                                struct gm_err *err)
{
	(void)err;
	stamp(inv);
	gm_host_collect(&inv->host, &opts->root);
	if (opts->skip_nvml)
		gm_fact_fail(&inv->nvidia.nvml, GM_FACT_UNKNOWN, "not collected (--no-nvml)");
	else
		gm_nvml_collect(&inv->nvidia, opts->nvml_library);
	for (size_t i = 0; i < inv->nvidia.n_gpus; i++)
		merge_gpu(&inv->nvidia.gpus[i], &inv->host, &opts->root);
	return GM_OK;
}

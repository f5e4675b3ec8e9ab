/* Rules about the PCIe links of the GPUs: negotiated width (a narrow link is a hardware or
 * slot problem), generation (idle GPUs downtrain, so only a warning), the replay counter (link
 * errors), and SR-IOV where the profile needs it. Link facts come from NVML when the driver
 * answers, else from sysfs (so a host without the driver, or with GPUs on vfio-pci, is
 * still checked). */
#include <inttypes.h>
#include <string.h>

#include "assess/check.h"
#include "util/banned.h"

#define REPLAY_THRESHOLD 100

struct link {
	struct gm_buf label;
	const struct gm_fint *gen_cur, *gen_max, *width_cur, *width_max;
	const char *bdf;
};

/* The i-th GPU link; false past the end. */
static bool link_at(const struct gm_inventory *inv, size_t i, struct link *l)
{
	gm_buf_reset(&l->label);
	if (gm_check_have_gpus(inv)) {
		if (i >= inv->nvidia.n_gpus)
			return false;
		const struct gm_gpu *g = &inv->nvidia.gpus[i];
		gm_check_gpu_label(g, &l->label);
		l->gen_cur = &g->pcie_gen_current;
		l->gen_max = &g->pcie_gen_max;
		l->width_cur = &g->pcie_width_current;
		l->width_max = &g->pcie_width_max;
		l->bdf = gm_fact_ok(&g->bdf.f) && g->bdf.v ? g->bdf.v : NULL;
		return true;
	}
	size_t k = 0;
	for (size_t j = 0; j < inv->host.n_pci; j++) {
		const struct gm_pci_dev *d = &inv->host.pci[j];
		if ((d->class_code >> 16) != 0x03)
			continue;
		if (k++ != i)
			continue;
		gm_buf_addf(&l->label, "GPU at %s", d->bdf);
		l->gen_cur = &d->link_gen_current;
		l->gen_max = &d->link_gen_max;
		l->width_cur = &d->link_width_current;
		l->width_max = &d->link_width_max;
		l->bdf = d->bdf;
		return true;
	}
	return false;
}

static bool both(const struct gm_fint *a, const struct gm_fint *b)
{
	return gm_fact_ok(&a->f) && gm_fact_ok(&b->f);
}

/* Shared by width and generation: compares cur against max over every GPU. */
static void compare_links(const struct gm_check_ctx *ctx, struct gm_check_result *r, bool width)
{
	struct link l = {GM_BUF_INIT, NULL, NULL, NULL, NULL, NULL};
	struct gm_buf bad = GM_BUF_INIT, first_bdf = GM_BUF_INIT;
	size_t n = 0, known = 0, n_bad = 0;
	const char *why = NULL;
	for (size_t i = 0; link_at(ctx->inv, i, &l); i++) {
		const struct gm_fint *cur = width ? l.width_cur : l.gen_cur;
		const struct gm_fint *max = width ? l.width_max : l.gen_max;
		n++;
		if (!both(cur, max)) {
			why = !gm_fact_ok(&cur->f) ? cur->f.why : max->f.why;
			continue;
		}
		known++;
		if (cur->v >= max->v)
			continue;
		if (width)
			gm_buf_addf(&bad, "%swidth x%" PRId64 " of x%" PRId64 " on %s",
			            n_bad ? "; " : "", cur->v, max->v, gm_buf_cstr(&l.label));
		else
			gm_buf_addf(&bad, "%sgen %" PRId64 " of %" PRId64 " on %s",
			            n_bad ? "; " : "", cur->v, max->v, gm_buf_cstr(&l.label));
		if (!n_bad && l.bdf)
			gm_buf_adds(&first_bdf, l.bdf);
		n_bad++;
	}
	if (!n) {
		gm_check_skip(r, "no NVIDIA GPU on the PCI bus or in NVML");
	} else if (!known) {
		gm_check_skip(r, "link %s unknown: %s", width ? "width" : "generation",
		              why ? why : "not collected");
	} else if (n_bad && width) {
		gm_check_set(r, GM_CHECK_FAIL, "%s", gm_buf_cstr(&bad));
		gm_check_hint(
		        r,
		        "reseat the GPU in a slot wired x16 (check risers and the slot's "
		        "bifurcation setting in the firmware); confirm with sudo lspci -vv -s "
		        "%s | grep LnkSta",
		        first_bdf.len ? gm_buf_cstr(&first_bdf) : "<bdf>");
	} else if (n_bad) {
		gm_check_set(r, GM_CHECK_WARN, "%s (idle GPUs downtrain; recheck under load)",
		             gm_buf_cstr(&bad));
		gm_check_hint(
		        r, "put load on the GPU (gpumigrate bench gpu) and check nvidia-smi "
		           "--query-gpu=pcie.link.gen.current,pcie.link.gen.max --format=csv; if "
		           "it stays low, check the firmware's PCIe speed setting and risers");
	} else {
		gm_check_set(r, GM_CHECK_PASS, "%zu GPU link%s at full %s", known,
		             known == 1 ? "" : "s", width ? "width" : "generation");
	}
	gm_buf_release(&l.label);
	gm_buf_release(&bad);
	gm_buf_release(&first_bdf);
}

static void link_width(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	compare_links(ctx, r, true);
}

static void link_gen(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	compare_links(ctx, r, false);
}

static void replay(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gm_buf bad = GM_BUF_INIT;
	size_t known = 0, n_bad = 0;
	int64_t max = 0;
	const char *why = NULL;
	if (gm_check_need_nvml(ctx, r))
		return;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (!gm_fact_ok(&g->pcie_replay_count.f)) {
			why = g->pcie_replay_count.f.why;
			continue;
		}
		known++;
		if (g->pcie_replay_count.v > max)
			max = g->pcie_replay_count.v;
		if (g->pcie_replay_count.v <= REPLAY_THRESHOLD)
			continue;
		gm_buf_addf(&bad, "%sreplay counter %" PRId64 " on ", n_bad ? "; " : "",
		            g->pcie_replay_count.v);
		gm_check_gpu_label(g, &bad);
		n_bad++;
	}
	if (!known) {
		gm_check_skip(r, "replay counter unknown: %s", why ? why : "not collected");
	} else if (n_bad) {
		gm_check_set(r, GM_CHECK_WARN, "%s (threshold %d)", gm_buf_cstr(&bad),
		             REPLAY_THRESHOLD);
		gm_check_hint(r, "reseat the GPU and check risers/cables; watch whether it rises "
		                 "with sudo nvidia-smi -q -d PCIE");
	} else {
		gm_check_set(r, GM_CHECK_PASS, "replay counters at most %" PRId64 " (threshold %d)",
		             max, REPLAY_THRESHOLD);
	}
	gm_buf_release(&bad);
}

static void sriov(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_host *h = &ctx->inv->host;
	struct gm_buf without = GM_BUF_INIT;
	size_t gpus = 0, with = 0, n_without = 0;
	int64_t vfs = 0;
	for (size_t i = 0; i < h->n_pci; i++) {
		const struct gm_pci_dev *d = &h->pci[i];
		if ((d->class_code >> 16) != 0x03)
			continue;
		gpus++;
		if (gm_fact_ok(&d->sriov_totalvfs.f) && d->sriov_totalvfs.v > 0) {
			with++;
			vfs = d->sriov_totalvfs.v;
		} else {
			gm_buf_addf(&without, "%s%s", n_without ? ", " : "", d->bdf);
			n_without++;
		}
	}
	if (!gpus) {
		gm_check_skip(r, "no NVIDIA GPU on the PCI bus");
	} else if (!n_without) {
		gm_check_set(r, GM_CHECK_PASS, "SR-IOV on all %zu GPUs (%" PRId64 " VFs each)",
		             with, vfs);
	} else {
		gm_check_set(
		        r, GM_CHECK_WARN,
		        "no SR-IOV capability on %s: whole-GPU passthrough works, vGPU does not",
		        gm_buf_cstr(&without));
		gm_check_hint(r, "enable SR-IOV in the firmware setup; with the vGPU host driver, "
		                 "sudo /usr/lib/nvidia/sriov-manage -e ALL");
	}
	gm_buf_release(&without);
}

const struct gm_check_rule gm_check_rules_pcie[] = {
        {"pcie.sriov", "SR-IOV capability (vGPU)", GM_P(GM_PROFILE_VM), sriov},
        {"pcie.link-width", "PCIe link at full width", GM_P_ALL, link_width},
        {"pcie.link-gen", "PCIe link at full generation", GM_P_ALL, link_gen},
        {"pcie.replay", "PCIe replay counter below threshold", GM_P_DRIVER, replay},
        {NULL, NULL, 0, NULL},
};

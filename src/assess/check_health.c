/* Rules about GPU health (row remapping, retired pages, ECC, Xid errors in the kernel log)
 * and about what the workload requires of the GPUs (count, model, memory). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "assess/check.h"
#include "util/banned.h"

#define RETIRED_PAGES_RMA 60

/* GPUs named in evidence ("GPU 0 (0000:3b:00.0), GPU 1 (…)") and their indexes for commands
 * ("0,1", as nvidia-smi -i takes them). */
struct gpu_list {
	struct gm_buf text;
	struct gm_buf idx;
	size_t n;
};
#define GPU_LIST_INIT                       \
	{                                   \
		GM_BUF_INIT, GM_BUF_INIT, 0 \
	}

/* Adds g to l, its label preceded by before ("" or e.g. "3 on "). */
static void gpu_list_add(struct gpu_list *l, const char *before, const struct gm_gpu *g)
{
	gm_buf_addf(&l->text, "%s%s", l->n ? ", " : "", before);
	gm_check_gpu_label(g, &l->text);
	gm_buf_addf(&l->idx, "%s%u", l->n ? "," : "", g->index);
	l->n++;
}

static void gpu_list_release(struct gpu_list *l)
{
	gm_buf_release(&l->text);
	gm_buf_release(&l->idx);
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* Counts a GPU whose facts for a rule were read (ok) in *known; else keeps why f was not. */
static bool reported(bool ok, const struct gm_fact *f, size_t *known, const char **why)
{
	if (!ok) {
		*why = f->why;
		return false;
	}
	(*known)++;
	return true;
}

/* Why there are no GPUs to look at (gm_check_have_gpus false). */
static const char *no_gpus_why(const struct gm_nvidia *nv)
{
	return gm_fact_ok(&nv->nvml) ? "NVML sees no GPU"
	       : nv->nvml.why        ? nv->nvml.why
	                             : "NVML not collected";
}

static void row_remap(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gpu_list failed = GPU_LIST_INIT, pending = GPU_LIST_INIT;
	size_t known = 0;
	int64_t rows = 0;
	const char *why = NULL;
	if (gm_check_need_nvml(ctx, r))
		return;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		bool kf = gm_fact_ok(&g->remapped_rows_failed.f);
		bool kp = gm_fact_ok(&g->remapped_rows_pending.f);
		if (!reported(kf || kp, &g->remapped_rows_pending.f, &known, &why))
			continue;
		if (gm_fact_ok(&g->remapped_rows_uncorrectable.f))
			rows += g->remapped_rows_uncorrectable.v;
		if (kf && g->remapped_rows_failed.v)
			gpu_list_add(&failed, "", g);
		else if (kp && g->remapped_rows_pending.v)
			gpu_list_add(&pending, "", g);
	}
	if (!known) {
		gm_check_skip(r,
		              "row remapping not reported (%s); pre-Ampere GPUs retire pages "
		              "instead",
		              why ? why : "unknown");
	} else if (failed.n) {
		gm_check_set(r, GM_CHECK_FAIL, "row remapping failed on %s%s%s",
		             gm_buf_cstr(&failed.text), pending.n ? "; pending on " : "",
		             gm_buf_cstr(&pending.text));
		gm_check_hint(r, "drain the node: the GPU has run out of spare rows and needs "
		                 "service (RMA); run dcgmi diag -r 3 for the support case");
	} else if (pending.n) {
		gm_check_set(r, GM_CHECK_WARN,
		             "row remap pending on %s: takes effect at the next GPU "
		             "reset",
		             gm_buf_cstr(&pending.text));
		gm_check_hint(r, "drain the GPU and reset it: sudo nvidia-smi -r -i %s",
		              gm_buf_cstr(&pending.idx));
	} else {
		gm_check_set(r, GM_CHECK_PASS,
		             "no pending or failed row remaps on %zu GPU%s (%" PRId64
		             " rows remapped for uncorrectable errors)",
		             known, plural(known), rows);
	}
	gpu_list_release(&failed);
	gpu_list_release(&pending);
}

static void retired_pages(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gpu_list many = GPU_LIST_INIT, pending = GPU_LIST_INIT;
	size_t known = 0;
	const char *why = NULL;
	if (gm_check_need_nvml(ctx, r))
		return;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		bool kp = gm_fact_ok(&g->retired_pages_pending.f);
		bool ks =
		        gm_fact_ok(&g->retired_pages_sbe.f) && gm_fact_ok(&g->retired_pages_dbe.f);
		if (!reported(kp || ks, &g->retired_pages_pending.f, &known, &why))
			continue;
		int64_t total = ks ? g->retired_pages_sbe.v + g->retired_pages_dbe.v : 0;
		if (total >= RETIRED_PAGES_RMA) {
			char before[40];
			snprintf(before, sizeof(before), "%" PRId64 " pages on ", total);
			gpu_list_add(&many, before, g);
		}
		if (kp && g->retired_pages_pending.v)
			gpu_list_add(&pending, "", g);
	}
	if (!known) {
		gm_check_skip(r,
		              "page retirement not reported (%s); Ampere and later remap rows "
		              "instead",
		              why ? why : "unknown");
	} else if (many.n) {
		gm_check_set(r, GM_CHECK_FAIL, "retired %s (NVIDIA's RMA guideline: %d)",
		             gm_buf_cstr(&many.text), RETIRED_PAGES_RMA);
		gm_check_hint(r, "drain the node and RMA the GPU; run dcgmi diag -r 3 for the "
		                 "support case");
	} else if (pending.n) {
		gm_check_set(r, GM_CHECK_WARN,
		             "page retirement pending on %s: takes effect when the "
		             "driver reloads",
		             gm_buf_cstr(&pending.text));
		gm_check_hint(
		        r, "drain the node and reboot (or reload the driver: sudo rmmod "
		           "nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia)");
	} else {
		gm_check_set(r, GM_CHECK_PASS, "no pending page retirements on %zu GPU%s", known,
		             plural(known));
	}
	gpu_list_release(&many);
	gpu_list_release(&pending);
}

static void ecc(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gpu_list errs = GPU_LIST_INIT, off = GPU_LIST_INIT;
	size_t known = 0;
	const char *why = NULL;
	if (gm_check_need_nvml(ctx, r))
		return;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		bool ke = gm_fact_ok(&g->ecc_enabled.f);
		bool ku = gm_fact_ok(&g->ecc_uncorrected_volatile.f);
		if (!reported(ke || ku, &g->ecc_enabled.f, &known, &why))
			continue;
		if (ku && g->ecc_uncorrected_volatile.v > 0) {
			char before[40];
			snprintf(before, sizeof(before), "%" PRId64 " on ",
			         g->ecc_uncorrected_volatile.v);
			gpu_list_add(&errs, before, g);
		}
		if (ke && !g->ecc_enabled.v)
			gpu_list_add(&off, "", g);
	}
	if (!known) {
		gm_check_skip(r, "ECC not reported (%s): these GPUs have no ECC memory",
		              why ? why : "unknown");
	} else if (errs.n) {
		gm_check_set(r, GM_CHECK_FAIL, "uncorrected ECC errors since the driver loaded: %s",
		             gm_buf_cstr(&errs.text));
		gm_check_hint(r,
		              "drain the node and reset the GPU (sudo nvidia-smi -r -i %s); RMA if "
		              "errors return",
		              gm_buf_cstr(&errs.idx));
	} else if (off.n) {
		gm_check_set(r, GM_CHECK_WARN, "ECC off on %s: memory errors go undetected",
		             gm_buf_cstr(&off.text));
		gm_check_hint(r, "sudo nvidia-smi -i %s -e 1 && sudo reboot",
		              gm_buf_cstr(&off.idx));
	} else {
		gm_check_set(r, GM_CHECK_PASS, "ECC on, no uncorrected errors on %zu GPU%s", known,
		             plural(known));
	}
	gpu_list_release(&errs);
	gpu_list_release(&off);
}

/* The GPU whose bus address the driver printed ("0000:3b:00", or "3b:00" from old drivers). */
static const struct gm_gpu *gpu_for_pci(const struct gm_inventory *inv, const char *pci)
{
	size_t n = strlen(pci);
	for (size_t i = 0; i < inv->nvidia.n_gpus; i++) {
		const struct gm_gpu *g = &inv->nvidia.gpus[i];
		if (!gm_fact_ok(&g->bdf.f) || !g->bdf.v)
			continue;
		const char *b = g->bdf.v;
		if (strncasecmp(b, pci, n) == 0 && (b[n] == '.' || b[n] == '\0'))
			return g;
		if (strlen(b) > 5 && strncasecmp(b + 5, pci, n) == 0 && b[5 + n] == '.')
			return g;
	}
	return NULL;
}

/* The catalog name up to its first " (" (the explanation in brackets is for the man page). */
static void short_name(const char *name, struct gm_buf *out)
{
	const char *paren = strstr(name, " (");
	gm_buf_add(out, name, paren ? (size_t)(paren - name) : strlen(name));
}

static void xid(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_evidence *ev = ctx->ev;
	struct gm_xid_scan scan;
	struct gm_buf seen = GM_BUF_INIT, actions = GM_BUF_INIT, codes = GM_BUF_INIT;
	bool fatal = false;
	if (!ev) {
		gm_check_skip(r, "kernel log not in a saved inventory (run check on the host)");
		return;
	}
	if (!gm_fact_ok(&ev->kernel_log)) {
		gm_check_skip(r, "%s", ev->kernel_log.why ? ev->kernel_log.why : "no kernel log");
		return;
	}
	gm_xid_scan_text(&scan, ev->log_text.data ? ev->log_text.data : "", ev->log_text.len);
	if (!scan.n) {
		gm_check_set(r, GM_CHECK_PASS, "no Xid errors in %s", ev->log_source);
		goto out;
	}
	for (size_t i = 0; i < scan.n; i++) {
		const struct gm_xid_hit *h = &scan.hits[i];
		const struct gm_xid_info *info = gm_xid_lookup(ctx->xid, h->code);
		const struct gm_gpu *g = gpu_for_pci(ctx->inv, h->pci);
		bool f = gm_xid_is_fatal(info);
		fatal = fatal || f;
		gm_buf_addf(&seen, "%sXid %d (", i ? "; " : "", h->code);
		if (info)
			short_name(info->name, &seen);
		else
			gm_buf_adds(&seen, "not in the Xid catalog");
		gm_buf_addf(&seen, ") x%zu on ", h->count);
		if (g)
			gm_check_gpu_label(g, &seen);
		else
			gm_buf_addf(&seen, "PCI %s", h->pci);
		char code[16];
		snprintf(code, sizeof(code), "|%d|", h->code);
		if (info && *info->action && !strstr(gm_buf_cstr(&codes), code)) {
			gm_buf_adds(&codes, code);
			gm_buf_addf(&actions, "%sXid %d: %s", actions.len ? "; " : "", h->code,
			            info->action);
		}
	}
	gm_check_set(r, fatal ? GM_CHECK_FAIL : GM_CHECK_WARN, "%s in %s", gm_buf_cstr(&seen),
	             ev->log_source);
	if (actions.len)
		gm_check_hint(r, "%s", gm_buf_cstr(&actions));
	else
		gm_check_hint(r, "look the codes up in NVIDIA's Xid catalog "
		                 "(https://docs.nvidia.com/deploy/xid-errors/)");
out:
	gm_xid_scan_release(&scan);
	gm_buf_release(&seen);
	gm_buf_release(&actions);
	gm_buf_release(&codes);
}

const struct gm_check_rule gm_check_rules_health[] = {
        {"health.row-remap", "no pending or failed row remaps", GM_P_DRIVER, row_remap},
        {"health.retired-pages", "no pending page retirements", GM_P_DRIVER, retired_pages},
        {"health.ecc", "ECC on, no uncorrected errors", GM_P_DRIVER, ecc},
        {"health.xid", "no Xid errors in the kernel log", GM_P_DRIVER, xid},
        {NULL, NULL, 0, NULL},
};

/* Requirements of the workload. */

static size_t pci_gpu_count(const struct gm_host *h)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n_pci; i++)
		if ((h->pci[i].class_code >> 16) == 0x03)
			n++;
	return n;
}

static void gpu_count(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_inventory *inv = ctx->inv;
	if (ctx->req.gpus <= 0) {
		gm_check_skip(r, "no GPU count required (--require-gpus N)");
		return;
	}
	bool nvml = gm_fact_ok(&inv->nvidia.nvml);
	size_t have = nvml ? inv->nvidia.n_gpus : pci_gpu_count(&inv->host);
	const char *src = nvml ? "" : " on the PCI bus (NVML unavailable)";
	if ((int64_t)have >= ctx->req.gpus) {
		gm_check_set(r, GM_CHECK_PASS, "%zu GPU%s%s, %" PRId64 " required", have,
		             plural(have), src, ctx->req.gpus);
	} else {
		gm_check_set(r, GM_CHECK_FAIL, "%zu GPU%s%s, %" PRId64 " required", have,
		             plural(have), src, ctx->req.gpus);
		gm_check_hint(r,
		              "lspci -nn | grep -i nvidia lists what the bus sees; reseat or add "
		              "GPUs, or place the workload on a bigger host");
	}
}

static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

static void gpu_model(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	struct gpu_list bad = GPU_LIST_INIT;
	size_t ok = 0;
	const char *name = NULL;
	if (!ctx->req.gpu_model) {
		gm_check_skip(r, "no GPU model required (--require-gpu-model NAME)");
		return;
	}
	if (!gm_check_have_gpus(ctx->inv)) {
		gm_check_set(r, GM_CHECK_FAIL, "'%s' required; no GPU names: %s",
		             ctx->req.gpu_model, no_gpus_why(nv));
		gm_check_driver_install_hint(ctx->inv, 0, &r->hint);
		return;
	}
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (gm_fact_ok(&g->name.f) && g->name.v &&
		    contains_nocase(g->name.v, ctx->req.gpu_model)) {
			ok++;
			name = g->name.v;
			continue;
		}
		gpu_list_add(&bad, "", g);
		gm_buf_addf(&bad.text, " is '%s'",
		            gm_fact_ok(&g->name.f) && g->name.v ? g->name.v : "?");
	}
	if (bad.n) {
		gm_check_set(r, GM_CHECK_FAIL, "%s; '%s' required", gm_buf_cstr(&bad.text),
		             ctx->req.gpu_model);
		gm_check_hint(r,
		              "run the workload on hosts with %s GPUs, or change the plan's "
		              "requirement after comparing them (gpumigrate compare)",
		              ctx->req.gpu_model);
	} else {
		gm_check_set(r, GM_CHECK_PASS, "%zu x %s match '%s'", ok, name, ctx->req.gpu_model);
	}
	gpu_list_release(&bad);
}

static void gpu_memory(const struct gm_check_ctx *ctx, struct gm_check_result *r)
{
	const struct gm_nvidia *nv = &ctx->inv->nvidia;
	const double gib = 1024.0 * 1024.0 * 1024.0;
	struct gpu_list bad = GPU_LIST_INIT;
	size_t ok = 0;
	int64_t least = -1;
	if (ctx->req.gpu_memory_bytes <= 0) {
		gm_check_skip(r, "no GPU memory required (--require-gpu-memory GIB)");
		return;
	}
	if (!gm_check_have_gpus(ctx->inv)) {
		gm_check_set(r, GM_CHECK_FAIL, "%.0f GiB per GPU required; no GPU data: %s",
		             (double)ctx->req.gpu_memory_bytes / gib, no_gpus_why(nv));
		gm_check_driver_install_hint(ctx->inv, 0, &r->hint);
		return;
	}
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		const struct gm_fint *m = &g->memory_total_bytes;
		if (gm_fact_ok(&m->f) && m->v >= ctx->req.gpu_memory_bytes) {
			ok++;
			if (least < 0 || m->v < least)
				least = m->v;
			continue;
		}
		gpu_list_add(&bad, "", g);
		if (gm_fact_ok(&m->f))
			gm_buf_addf(&bad.text, " has %.1f GiB", (double)m->v / gib);
		else
			gm_buf_addf(&bad.text, " memory unknown (%s)", m->f.why ? m->f.why : "?");
	}
	if (bad.n) {
		gm_check_set(r, GM_CHECK_FAIL, "%s; %.1f GiB required", gm_buf_cstr(&bad.text),
		             (double)ctx->req.gpu_memory_bytes / gib);
		gm_check_hint(r, "use GPUs with more memory, or shard the model (tensor/pipeline "
		                 "parallelism) to fit");
	} else {
		gm_check_set(r, GM_CHECK_PASS,
		             "%zu GPU%s with at least %.1f GiB (%.1f GiB required)", ok, plural(ok),
		             (double)least / gib, (double)ctx->req.gpu_memory_bytes / gib);
	}
	gpu_list_release(&bad);
}

const struct gm_check_rule gm_check_rules_gpu[] = {
        {"gpu.count", "as many GPUs as required", GM_P_ALL, gpu_count},
        {"gpu.model", "the required GPU model", GM_P_DRIVER, gpu_model},
        {"gpu.memory", "enough memory per GPU", GM_P_DRIVER, gpu_memory},
        {NULL, NULL, 0, NULL},
};

/* Rendering of exporter snapshots into the Prometheus text format and OpenMetrics. Values are
 * integers without exponent; watts and seconds are fixed-point decimals with the trailing
 * zeros dropped ("245.123", "250"). A field a GPU could not give is left out for that GPU. */
#include "monitor/expo.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

void gm_expo_escape(const char *s, struct gm_buf *out)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '\\': gm_buf_add(out, "\\\\", 2); break;
		case '"': gm_buf_add(out, "\\\"", 2); break;
		case '\n': gm_buf_add(out, "\\n", 2); break;
		default: gm_buf_addch(out, *s); break;
		}
	}
}

/* "<int>.<frac>" with frac_digits digits, trailing zeros (and a bare point) dropped. */
static void add_fixed(struct gm_buf *out, int64_t v, unsigned frac_digits)
{
	int64_t scale = 1;
	for (unsigned i = 0; i < frac_digits; i++)
		scale *= 10;
	if (v < 0) {
		gm_buf_addch(out, '-');
		v = -v;
	}
	gm_buf_addf(out, "%" PRId64, v / scale);
	int64_t frac = v % scale;
	if (!frac)
		return;
	char digits[24];
	unsigned n = 0;
	for (int64_t s = scale / 10; s > 0; s /= 10)
		digits[n++] = (char)('0' + (frac / s) % 10);
	while (n > 0 && digits[n - 1] == '0')
		n--;
	gm_buf_addch(out, '.');
	gm_buf_add(out, digits, n);
}

enum family_type { T_GAUGE, T_COUNTER };

struct ctx {
	const struct gm_snapshot *snap;
	bool om;
	struct gm_buf *out;
	bool pods; /* DCGM_FI_* series carry the pod labels, as dcgm-exporter's do */
};

/* HELP and TYPE of a family. name is the series name (counters of ours end in _total). */
static void family(struct ctx *c, const char *name, enum family_type type, const char *help)
{
	size_t len = strlen(name);
	bool ours_total = len > 6 && strcmp(name + len - 6, "_total") == 0;
	const char *tname = "gauge";
	if (type == T_COUNTER)
		tname = c->om && !ours_total ? "unknown" : "counter";
	if (c->om && type == T_COUNTER && ours_total)
		len -= 6;
	gm_buf_adds(c->out, "# HELP ");
	gm_buf_add(c->out, name, len);
	gm_buf_addch(c->out, ' ');
	gm_buf_adds(c->out, help);
	gm_buf_adds(c->out, "\n# TYPE ");
	gm_buf_add(c->out, name, len);
	gm_buf_addch(c->out, ' ');
	gm_buf_adds(c->out, tname);
	gm_buf_addch(c->out, '\n');
}

static void label(struct gm_buf *out, bool *first, const char *name, const char *value)
{
	gm_buf_adds(out, *first ? "{" : ",");
	*first = false;
	gm_buf_adds(out, name);
	gm_buf_adds(out, "=\"");
	gm_expo_escape(value, out);
	gm_buf_addch(out, '"');
}

/* name{<GPU labels>[,k1="v1"[,k2="v2"]]} -- the value follows. */
static void gpu_series(struct ctx *c, const char *name, const struct gm_snap_gpu *g, const char *k1,
                       const char *v1, const char *k2, const char *v2)
{
	struct gm_buf *o = c->out;
	bool first = true;
	char idx[16];
	size_t n = 0;
	unsigned v = g->index;
	char rev[16];
	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(rev));
	for (size_t i = 0; i < n; i++)
		idx[i] = rev[n - 1 - i];
	idx[n] = '\0';
	gm_buf_adds(o, name);
	label(o, &first, "gpu", idx);
	label(o, &first, "UUID", g->uuid);
	label(o, &first, "pci_bus_id", g->pci_bus_id);
	label(o, &first, "device", g->device);
	label(o, &first, "modelName", g->model);
	label(o, &first, c->snap->hostname_label, c->snap->hostname);
	label(o, &first, "DCGM_FI_DRIVER_VERSION", c->snap->driver_version);
	if (c->pods && g->pod) {
		label(o, &first, "container", g->container ? g->container : "");
		label(o, &first, "namespace", g->ns ? g->ns : "");
		label(o, &first, "pod", g->pod);
	}
	if (k1)
		label(o, &first, k1, v1);
	if (k2)
		label(o, &first, k2, v2);
	gm_buf_adds(o, "} ");
}

/* A per-GPU family from one integer fact; divisor scales it (bytes to MiB). Nothing at all,
 * not even HELP/TYPE, when no GPU has the value. */
static void int_family(struct ctx *c, const char *name, enum family_type type, const char *help,
                       size_t off, int64_t divisor)
{
	bool any = false;
	for (size_t i = 0; i < c->snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &c->snap->gpus[i];
		const struct gm_fint *f = (const struct gm_fint *)((const char *)&g->s + off);
		if (!g->up || !gm_fact_ok(&f->f))
			continue;
		if (!any)
			family(c, name, type, help);
		any = true;
		gpu_series(c, name, g, NULL, NULL, NULL, NULL);
		gm_buf_addf(c->out, "%" PRId64 "\n", f->v / divisor);
	}
}

static bool any_up(const struct gm_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_gpus; i++)
		if (snap->gpus[i].up)
			return true;
	return false;
}

#define S(field) offsetof(struct gm_nvml_sample, field)
#define MiB      ((int64_t)1024 * 1024)

static void dcgm_families(struct ctx *c)
{
	const struct gm_snapshot *snap = c->snap;
	int_family(c, "DCGM_FI_DEV_SM_CLOCK", T_GAUGE, "SM clock frequency (in MHz).",
	           S(sm_clock_mhz), 1);
	int_family(c, "DCGM_FI_DEV_MEM_CLOCK", T_GAUGE, "Memory clock frequency (in MHz).",
	           S(mem_clock_mhz), 1);
	int_family(c, "DCGM_FI_DEV_MEMORY_TEMP", T_GAUGE, "Memory temperature (in C).",
	           S(memory_temp_c), 1);
	int_family(c, "DCGM_FI_DEV_GPU_TEMP", T_GAUGE, "GPU temperature (in C).", S(gpu_temp_c), 1);

	bool any = false;
	for (size_t i = 0; i < snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &snap->gpus[i];
		if (!g->up || !gm_fact_ok(&g->s.power_mw.f))
			continue;
		if (!any)
			family(c, "DCGM_FI_DEV_POWER_USAGE", T_GAUGE, "Power draw (in W).");
		any = true;
		gpu_series(c, "DCGM_FI_DEV_POWER_USAGE", g, NULL, NULL, NULL, NULL);
		add_fixed(c->out, g->s.power_mw.v, 3);
		gm_buf_addch(c->out, '\n');
	}

	int_family(c, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", T_COUNTER,
	           "Total energy consumption since boot (in mJ).", S(energy_mj), 1);
	int_family(c, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", T_COUNTER, "Total number of PCIe retries.",
	           S(pcie_replay), 1);
	int_family(c, "DCGM_FI_DEV_GPU_UTIL", T_GAUGE, "GPU utilization (in %).", S(util_gpu), 1);
	int_family(c, "DCGM_FI_DEV_MEM_COPY_UTIL", T_GAUGE, "Memory utilization (in %).",
	           S(util_memory), 1);
	int_family(c, "DCGM_FI_DEV_ENC_UTIL", T_GAUGE, "Encoder utilization (in %).",
	           S(util_encoder), 1);
	int_family(c, "DCGM_FI_DEV_DEC_UTIL", T_GAUGE, "Decoder utilization (in %).",
	           S(util_decoder), 1);

	any = false;
	for (size_t i = 0; i < snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &snap->gpus[i];
		if (!g->up || !g->xid_known)
			continue;
		if (!any)
			family(c, "DCGM_FI_DEV_XID_ERRORS", T_GAUGE,
			       "Value of the last XID error encountered.");
		any = true;
		gpu_series(c, "DCGM_FI_DEV_XID_ERRORS", g, NULL, NULL, NULL, NULL);
		gm_buf_addf(c->out, "%llu\n", g->last_xid);
	}

	int_family(c, "DCGM_FI_DEV_FB_FREE", T_GAUGE, "Framebuffer memory free (in MiB).",
	           S(fb_free), MiB);
	int_family(c, "DCGM_FI_DEV_FB_USED", T_GAUGE, "Framebuffer memory used (in MiB).",
	           S(fb_used), MiB);
	int_family(c, "DCGM_FI_DEV_FB_RESERVED", T_GAUGE, "Framebuffer memory reserved (in MiB).",
	           S(fb_reserved), MiB);
	int_family(c, "DCGM_FI_DEV_FB_TOTAL", T_GAUGE, "Framebuffer memory total (in MiB).",
	           S(fb_total), MiB);
	int_family(c, "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", T_COUNTER,
	           "Number of remapped rows for uncorrectable errors.", S(remapped_uncorrectable),
	           1);
	int_family(c, "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", T_COUNTER,
	           "Number of remapped rows for correctable errors.", S(remapped_correctable), 1);

	any = false;
	for (size_t i = 0; i < snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &snap->gpus[i];
		if (!g->up || !gm_fact_ok(&g->s.remapped_failed.f))
			continue;
		if (!any)
			family(c, "DCGM_FI_DEV_ROW_REMAP_FAILURE", T_GAUGE,
			       "Whether remapping of rows has failed.");
		any = true;
		gpu_series(c, "DCGM_FI_DEV_ROW_REMAP_FAILURE", g, NULL, NULL, NULL, NULL);
		gm_buf_adds(c->out, g->s.remapped_failed.v ? "1\n" : "0\n");
	}

	/* dcgm-exporter's default counter; NVML's raw TX + RX KiB over all links */
	int_family(c, "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", T_COUNTER,
	           "Total number of NVLink bandwidth counters for all lanes.", S(nvlink_raw_kib),
	           1);
}

/* A family of ours with one extra label over two facts (current/max …). */
static void pair_family(struct ctx *c, const char *name, const char *help, const char *key,
                        const char *v1, size_t off1, const char *v2, size_t off2)
{
	bool any = false;
	for (size_t i = 0; i < c->snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &c->snap->gpus[i];
		const struct gm_fint *f[2] = {
		        (const struct gm_fint *)((const char *)&g->s + off1),
		        (const struct gm_fint *)((const char *)&g->s + off2),
		};
		const char *vals[2] = {v1, v2};
		for (int k = 0; k < 2; k++) {
			if (!g->up || !gm_fact_ok(&f[k]->f))
				continue;
			if (!any)
				family(c, name, T_GAUGE, help);
			any = true;
			gpu_series(c, name, g, key, vals[k], NULL, NULL);
			gm_buf_addf(c->out, "%" PRId64 "\n", f[k]->v);
		}
	}
}

static const struct {
	uint64_t bit;
	const char *name;
} clock_reasons[] = {
        {GM_NVML_CLOCK_EVENT_GPU_IDLE, "gpu_idle"},
        {GM_NVML_CLOCK_EVENT_APPLICATIONS_CLOCKS, "applications_clocks"},
        {GM_NVML_CLOCK_EVENT_SW_POWER_CAP, "sw_power_cap"},
        {GM_NVML_CLOCK_EVENT_HW_SLOWDOWN, "hw_slowdown"},
        {GM_NVML_CLOCK_EVENT_SYNC_BOOST, "sync_boost"},
        {GM_NVML_CLOCK_EVENT_SW_THERMAL, "sw_thermal"},
        {GM_NVML_CLOCK_EVENT_HW_THERMAL, "hw_thermal"},
        {GM_NVML_CLOCK_EVENT_HW_POWER_BRAKE, "hw_power_brake"},
        {GM_NVML_CLOCK_EVENT_DISPLAY_CLOCKS, "display_clocks"},
};

static void bool_family(struct ctx *c, const char *name, const char *help, size_t off)
{
	bool any = false;
	for (size_t i = 0; i < c->snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &c->snap->gpus[i];
		const struct gm_fbool *f = (const struct gm_fbool *)((const char *)&g->s + off);
		if (!g->up || !gm_fact_ok(&f->f))
			continue;
		if (!any)
			family(c, name, T_GAUGE, help);
		any = true;
		gpu_series(c, name, g, NULL, NULL, NULL, NULL);
		gm_buf_adds(c->out, f->v ? "1\n" : "0\n");
	}
}

/* Host-level series: name{Hostname="…"[,k="v"]} */
static void host_series(struct ctx *c, const char *name, const char *k, const char *v)
{
	bool first = true;
	gm_buf_adds(c->out, name);
	label(c->out, &first, c->snap->hostname_label, c->snap->hostname);
	if (k)
		label(c->out, &first, k, v);
	gm_buf_adds(c->out, "} ");
}

static void own_families(struct ctx *c)
{
	const struct gm_snapshot *snap = c->snap;
	if (snap->n_gpus) {
		family(c, "gpumigrate_gpu_up", T_GAUGE,
		       "1 when the GPU answered the last sample, 0 when it is lost.");
		for (size_t i = 0; i < snap->n_gpus; i++) {
			gpu_series(c, "gpumigrate_gpu_up", &snap->gpus[i], NULL, NULL, NULL, NULL);
			gm_buf_adds(c->out, snap->gpus[i].up ? "1\n" : "0\n");
		}
	}
	family(c, "gpumigrate_gpus", T_GAUGE, "GPUs NVML reports.");
	host_series(c, "gpumigrate_gpus", NULL, NULL);
	gm_buf_addf(c->out, "%zu\n", snap->n_gpus);

	pair_family(c, "gpumigrate_pcie_link_gen", "PCIe link generation.", "state", "current",
	            S(pcie_gen_current), "max", S(pcie_gen_max));
	pair_family(c, "gpumigrate_pcie_link_width", "PCIe link width (lanes).", "state", "current",
	            S(pcie_width_current), "max", S(pcie_width_max));

	bool any = false;
	for (size_t i = 0; i < snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &snap->gpus[i];
		if (!g->up || !gm_fact_ok(&g->s.clock_events.f))
			continue;
		if (!any)
			family(c, "gpumigrate_clock_event_active", T_GAUGE,
			       "1 while the GPU clocks are held back for the reason.");
		any = true;
		for (size_t r = 0; r < sizeof(clock_reasons) / sizeof(clock_reasons[0]); r++) {
			gpu_series(c, "gpumigrate_clock_event_active", g, "reason",
			           clock_reasons[r].name, NULL, NULL);
			gm_buf_adds(c->out, (uint64_t)g->s.clock_events.v & clock_reasons[r].bit
			                            ? "1\n"
			                            : "0\n");
		}
	}

	static const char *const types[2] = {"corrected", "uncorrected"};
	static const char *const counters[2] = {"volatile", "aggregate"};
	any = false;
	for (size_t i = 0; i < snap->n_gpus; i++) {
		const struct gm_snap_gpu *g = &snap->gpus[i];
		for (int t = 0; t < 2; t++) {
			for (int k = 0; k < 2; k++) {
				if (!g->up || !gm_fact_ok(&g->s.ecc[t][k].f))
					continue;
				if (!any)
					family(c, "gpumigrate_ecc_errors_total", T_COUNTER,
					       "ECC errors the GPU counted.");
				any = true;
				gpu_series(c, "gpumigrate_ecc_errors_total", g, "type", types[t],
				           "counter", counters[k]);
				gm_buf_addf(c->out, "%" PRId64 "\n", g->s.ecc[t][k].v);
			}
		}
	}

	bool_family(c, "gpumigrate_retired_pages_pending",
	            "1 while a page retirement waits for the driver to reload.",
	            S(retired_pending));
	bool_family(c, "gpumigrate_remapped_rows_pending",
	            "1 while a row remap waits for a GPU reset.", S(remapped_pending));

	any = false;
	for (size_t x = 0; x < snap->n_xids; x++) {
		const struct gm_snap_xid *e = &snap->xids[x];
		const struct gm_snap_gpu *g = NULL;
		for (size_t i = 0; i < snap->n_gpus; i++)
			if (snap->gpus[i].index == e->gpu && snap->gpus[i].up)
				g = &snap->gpus[i];
		if (!g)
			continue;
		if (!any)
			family(c, "gpumigrate_xid_events_total", T_COUNTER,
			       "Xid events seen through the NVML event API since the exporter "
			       "started.");
		any = true;
		char code[24];
		size_t n = 0;
		unsigned long long v = e->xid;
		char rev[24];
		do {
			rev[n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		for (size_t i = 0; i < n; i++)
			code[i] = rev[n - 1 - i];
		code[n] = '\0';
		gpu_series(c, "gpumigrate_xid_events_total", g, "xid", code, NULL, NULL);
		gm_buf_addf(c->out, "%llu\n", e->count);
	}

	family(c, "gpumigrate_collection_duration_seconds", T_GAUGE,
	       "Time the last sample of NVML took.");
	host_series(c, "gpumigrate_collection_duration_seconds", NULL, NULL);
	double d = snap->duration_s < 0 ? 0 : snap->duration_s;
	add_fixed(c->out, (int64_t)(d * 1e6 + 0.5), 6);
	gm_buf_addch(c->out, '\n');

	family(c, "gpumigrate_collection_errors_total", T_COUNTER,
	       "Samples that failed because NVML could not be used.");
	host_series(c, "gpumigrate_collection_errors_total", NULL, NULL);
	gm_buf_addf(c->out, "%llu\n", snap->errors_total);

	family(c, "gpumigrate_exporter_build_info", T_GAUGE,
	       "The gpumigrate version serving these metrics; always 1.");
	bool first = true;
	gm_buf_adds(c->out, "gpumigrate_exporter_build_info");
	label(c->out, &first, "version", snap->version ? snap->version : "");
	gm_buf_adds(c->out, "} 1\n");
}

void gm_expo_render(const struct gm_snapshot *snap, bool openmetrics, struct gm_buf *out)
{
	struct ctx c = {snap, openmetrics, out, false};
	if (!snap->nvml_ok && !openmetrics) {
		gm_buf_adds(out, "# gpumigrate: ");
		for (const char *p = snap->nvml_why ? snap->nvml_why : "NVML unavailable"; *p; p++)
			gm_buf_addch(out, *p == '\n' || *p == '\r' ? ' ' : *p);
		gm_buf_addch(out, '\n');
	}
	if (any_up(snap)) {
		c.pods = true;
		dcgm_families(&c);
		c.pods = false;
	}
	own_families(&c);
	if (openmetrics)
		gm_buf_adds(out, "# EOF\n");
}

/* The q value of one media range's parameters (";q=0.5;version=…"); 1 when absent, 0 for
 * anything malformed. */
static double media_q(const char *params, size_t len)
{
	double q = 1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (params[i] != ';')
			continue;
		size_t j = i + 1;
		while (j < len && (params[j] == ' ' || params[j] == '\t'))
			j++;
		if (j + 2 > len || (params[j] != 'q' && params[j] != 'Q') || params[j + 1] != '=')
			continue;
		j += 2;
		/* 0, 0.x, 0.xx, 0.xxx, 1, 1.0 … as RFC 9110 writes qvalues */
		if (j >= len || (params[j] != '0' && params[j] != '1'))
			return 0;
		q = params[j] - '0';
		double scale = 0.1;
		if (j + 1 < len && params[j + 1] == '.')
			for (size_t k = j + 2;
			     k < len && k < j + 5 && params[k] >= '0' && params[k] <= '9';
			     k++, scale /= 10)
				q += (params[k] - '0') * scale;
		if (q > 1)
			q = 1;
	}
	return q;
}

/* Whether the Accept header prefers OpenMetrics: its best q is above zero and at least that
 * of the text format (text/plain, text/any or any/any). */
bool gm_expo_wants_openmetrics(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	double q_om = 0, q_text = 0;
	if (!accept)
		return false;
	size_t total = strnlen(accept, 4096);
	for (size_t start = 0; start < total;) {
		size_t end = start;
		while (end < total && accept[end] != ',')
			end++;
		size_t s = start;
		while (s < end && (accept[s] == ' ' || accept[s] == '\t'))
			s++;
		size_t t = s;
		while (t < end && accept[t] != ';' && accept[t] != ' ' && accept[t] != '\t')
			t++;
		size_t tlen = t - s;
		size_t p = t;
		while (p < end && accept[p] != ';')
			p++;
		double q = media_q(accept + p, end - p);
		if (tlen == sizeof(om) - 1 && strncasecmp(accept + s, om, tlen) == 0) {
			if (q > q_om)
				q_om = q;
		} else if ((tlen == 10 && strncasecmp(accept + s, "text/plain", 10) == 0) ||
		           (tlen == 6 && strncasecmp(accept + s, "text/*", 6) == 0) ||
		           (tlen == 3 && strncmp(accept + s, "*/*", 3) == 0)) {
			if (q > q_text)
				q_text = q;
		}
		start = end + 1;
	}
	return q_om > 0 && q_om >= q_text;
}

/* The exporter core: expo rendering of hand-built snapshots byte for byte (both formats,
 * label escaping, fields left out), and the whole exporter against the fake NVML with the
 * 8-GPU fixture: every family and value per GPU, a GPU lost at run time, an Xid arriving, and
 * `promtool check metrics` on our own families where promtool is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/expo.h"
#include "monitor/exporter.h"
#include "monitor/sample.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- expo on hand-built snapshots ---------------------------------------------------------- */

static void one_gpu(struct gm_snapshot *snap, struct gm_snap_gpu *g)
{
	memset(snap, 0, sizeof(*snap));
	memset(g, 0, sizeof(*g));
	snap->hostname = "node-1";
	snap->hostname_label = "Hostname";
	snap->version = "1.2.3";
	snap->nvml_ok = true;
	snap->driver_version = "550.90.07";
	snap->gpus = g;
	snap->n_gpus = 1;
	snap->duration_s = 0.0125;
	g->index = 0;
	g->up = true;
	g->uuid = "GPU-1";
	g->pci_bus_id = "00000000:3B:00.0";
	g->device = "nvidia0";
	g->model = "NVIDIA L4";
	gm_fint_set(&g->s.power_mw, 245123);
	gm_fint_set(&g->s.fb_used, 1536LL * 1024 * 1024);
	gm_fint_set(&g->s.energy_mj, 1000);
	gm_fint_set(&g->s.ecc[1][0], 2);
	/* everything else: unknown, so left out */
}

#define L                                                                               \
	"{gpu=\"0\",UUID=\"GPU-1\",pci_bus_id=\"00000000:3B:00.0\",device=\"nvidia0\"," \
	"modelName=\"NVIDIA L4\",Hostname=\"node-1\",DCGM_FI_DRIVER_VERSION=\"550.90.07\""

static void test_expo_text_exact(void **state)
{
	(void)state;
	struct gm_snapshot snap;
	struct gm_snap_gpu g;
	struct gm_buf out = GM_BUF_INIT;
	one_gpu(&snap, &g);
	gm_expo_render(&snap, false, &out);
	const char *want =
	        "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).\n"
	        "# TYPE DCGM_FI_DEV_POWER_USAGE gauge\n"
	        "DCGM_FI_DEV_POWER_USAGE" L "} 245.123\n"
	        "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot "
	        "(in mJ).\n"
	        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"
	        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" L "} 1000\n"
	        "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).\n"
	        "# TYPE DCGM_FI_DEV_FB_USED gauge\n"
	        "DCGM_FI_DEV_FB_USED" L "} 1536\n"
	        "# HELP gpumigrate_gpu_up 1 when the GPU answered the last sample, 0 when it is "
	        "lost.\n"
	        "# TYPE gpumigrate_gpu_up gauge\n"
	        "gpumigrate_gpu_up" L "} 1\n"
	        "# HELP gpumigrate_gpus GPUs NVML reports.\n"
	        "# TYPE gpumigrate_gpus gauge\n"
	        "gpumigrate_gpus{Hostname=\"node-1\"} 1\n"
	        "# HELP gpumigrate_ecc_errors_total ECC errors the GPU counted.\n"
	        "# TYPE gpumigrate_ecc_errors_total counter\n"
	        "gpumigrate_ecc_errors_total" L ",type=\"uncorrected\",counter=\"volatile\"} 2\n"
	        "# HELP gpumigrate_collection_duration_seconds Time the last sample of NVML "
	        "took.\n"
	        "# TYPE gpumigrate_collection_duration_seconds gauge\n"
	        "gpumigrate_collection_duration_seconds{Hostname=\"node-1\"} 0.0125\n"
	        "# HELP gpumigrate_collection_errors_total Samples that failed because NVML could "
	        "not be used.\n"
	        "# TYPE gpumigrate_collection_errors_total counter\n"
	        "gpumigrate_collection_errors_total{Hostname=\"node-1\"} 0\n"
	        "# HELP gpumigrate_exporter_build_info The gpumigrate version serving these "
	        "metrics; always 1.\n"
	        "# TYPE gpumigrate_exporter_build_info gauge\n"
	        "gpumigrate_exporter_build_info{version=\"1.2.3\"} 1\n";
	assert_string_equal(gm_buf_cstr(&out), want);
	gm_buf_release(&out);
}

static void test_expo_openmetrics(void **state)
{
	(void)state;
	struct gm_snapshot snap;
	struct gm_snap_gpu g;
	struct gm_buf out = GM_BUF_INIT;
	one_gpu(&snap, &g);
	gm_expo_render(&snap, true, &out);
	const char *s = gm_buf_cstr(&out);
	/* ours: TYPE without _total, samples with it */
	assert_non_null(strstr(s, "# TYPE gpumigrate_ecc_errors counter\n"));
	assert_non_null(strstr(s, "# HELP gpumigrate_ecc_errors ECC"));
	assert_non_null(strstr(s, "\ngpumigrate_ecc_errors_total" L ",type="));
	assert_non_null(strstr(s, "# TYPE gpumigrate_collection_errors counter\n"));
	/* dcgm's counter keeps its name, typed unknown */
	assert_non_null(strstr(s, "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION unknown\n"));
	assert_non_null(strstr(s, "\nDCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" L "} 1000\n"));
	size_t n = strlen(s);
	assert_true(n > 6);
	assert_string_equal(s + n - 6, "# EOF\n");
	assert_null(strstr(s, "_total counter"));
	gm_buf_release(&out);
}

static void test_expo_escaping_and_left_out(void **state)
{
	(void)state;
	struct gm_snapshot snap;
	struct gm_snap_gpu g;
	struct gm_buf out = GM_BUF_INIT;
	one_gpu(&snap, &g);
	g.model = "A \"quoted\" back\\slash\nnewline";
	gm_fact_fail(&g.s.power_mw.f, GM_FACT_UNSUPPORTED,
	             "nvmlDeviceGetPowerUsage: Not Supported");
	gm_expo_render(&snap, false, &out);
	const char *s = gm_buf_cstr(&out);
	assert_non_null(strstr(s, "modelName=\"A \\\"quoted\\\" back\\\\slash\\nnewline\""));
	assert_null(strstr(s, "POWER_USAGE"));
	/* one line per sample: no raw newline inside a label */
	assert_null(strstr(s, "back\\slash\nnewline"));
	gm_fact_release(&g.s.power_mw.f);

	struct gm_buf esc = GM_BUF_INIT;
	gm_expo_escape("a\\b\"c\nd", &esc);
	assert_string_equal(gm_buf_cstr(&esc), "a\\\\b\\\"c\\nd");
	gm_buf_release(&esc);
	gm_buf_release(&out);
}

static void test_expo_lost_and_no_driver(void **state)
{
	(void)state;
	struct gm_snapshot snap;
	struct gm_snap_gpu g;
	struct gm_buf out = GM_BUF_INIT;
	one_gpu(&snap, &g);
	g.up = false;
	gm_expo_render(&snap, false, &out);
	const char *s = gm_buf_cstr(&out);
	assert_non_null(strstr(s, "gpumigrate_gpu_up" L "} 0\n"));
	assert_null(strstr(s, "DCGM_FI_DEV"));
	assert_null(strstr(s, "gpumigrate_ecc_errors_total{"));

	gm_buf_reset(&out);
	memset(&snap, 0, sizeof(snap));
	snap.hostname = "h";
	snap.hostname_label = "node";
	snap.nvml_why = "no NVIDIA driver found\n(libnvidia-ml.so.1)";
	snap.errors_total = 3;
	gm_expo_render(&snap, false, &out);
	s = gm_buf_cstr(&out);
	assert_true(strncmp(s, "# gpumigrate: no NVIDIA driver found (libnvidia-ml.so.1)\n", 56) ==
	            0);
	assert_non_null(strstr(s, "\ngpumigrate_gpus{node=\"h\"} 0\n"));
	assert_non_null(strstr(s, "\ngpumigrate_collection_errors_total{node=\"h\"} 3\n"));
	gm_buf_reset(&out);
	gm_expo_render(&snap, true, &out);
	assert_null(strstr(gm_buf_cstr(&out), "# gpumigrate:"));
	gm_buf_release(&out);
}

/* ---- the exporter against the fake ------------------------------------------------------ */

static char fixture_copy[64];

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "r");
	assert_non_null(in);
	struct gm_buf b = GM_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		gm_buf_add(&b, chunk, n);
	fclose(in);
	char tmp[96];
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	FILE *out = fopen(tmp, "w");
	assert_non_null(out);
	fwrite(b.data, 1, b.len, out);
	fclose(out);
	assert_int_equal(rename(tmp, to), 0); /* the fake never sees half a file */
	gm_buf_release(&b);
}

/* Replaces the first occurrence of what in the fixture copy. */
static void edit_fixture(const char *what, const char *with)
{
	FILE *in = fopen(fixture_copy, "r");
	assert_non_null(in);
	struct gm_buf b = GM_BUF_INIT, o = GM_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		gm_buf_add(&b, chunk, n);
	fclose(in);
	const char *s = gm_buf_cstr(&b);
	const char *at = strstr(s, what);
	assert_non_null(at);
	gm_buf_add(&o, s, (size_t)(at - s));
	gm_buf_adds(&o, with);
	gm_buf_adds(&o, at + strlen(what));
	char tmp[96];
	snprintf(tmp, sizeof(tmp), "%s.tmp", fixture_copy);
	FILE *out = fopen(tmp, "w");
	assert_non_null(out);
	fwrite(o.data, 1, o.len, out);
	fclose(out);
	assert_int_equal(rename(tmp, fixture_copy), 0);
	gm_buf_release(&b);
	gm_buf_release(&o);
}

static int setup_fake(void **state)
{
	(void)state;
	const char *dir = getenv("GM_FIXTURES");
	assert_non_null(dir);
	struct gm_buf src = GM_BUF_INIT;
	gm_buf_addf(&src, "%s/nvml/exporter-8gpu.yaml", dir);
	snprintf(fixture_copy, sizeof(fixture_copy), "/tmp/gm-exporter-%d.yaml", (int)getpid());
	copy_file(gm_buf_cstr(&src), fixture_copy);
	gm_buf_release(&src);
	setenv("GPUMIGRATE_FAKE_NVML", fixture_copy, 1);
	return 0;
}

static int teardown_fake(void **state)
{
	(void)state;
	unlink(fixture_copy);
	return 0;
}

static const char *const uuids[8] = {
        "GPU-3f2a1c9e-8b1d-4e7a-9c55-0a1b2c3d4e01", "GPU-7c0e5d21-41aa-4f3b-8e12-5b6c7d8e9f02",
        "GPU-a41b9f3c-2d7e-4c88-b0a1-6c7d8e9fa003", "GPU-d5e6f708-193a-4b2c-8d4e-7e8f90a1b204",
        "GPU-10fe2c3b-4a5d-46e7-9f80-8f90a1b2c305", "GPU-62b7d8e9-fa01-4b23-8c45-90a1b2c3d406",
        "GPU-94c8e9fa-0b12-4c34-9d56-a1b2c3d4e507", "GPU-c7d9fa0b-1c23-4d45-ae67-b2c3d4e5f608",
};
static const char *const buses[8] = {"18", "2A", "3A", "5D", "9A", "AB", "BA", "DB"};

/* The GPU label set of fixture GPU i. */
static void labels(struct gm_buf *b, int i)
{
	gm_buf_addf(b,
	            "gpu=\"%d\",UUID=\"%s\",pci_bus_id=\"00000000:%s:00.0\",device=\"nvidia%d\","
	            "modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"testhost\","
	            "DCGM_FI_DRIVER_VERSION=\"550.90.07\"",
	            i, uuids[i], buses[i], i);
}

/* Asserts the line "name{<labels of i>[,extra]} value" is in text. */
static void expect(const char *text, const char *name, int i, const char *extra, const char *value)
{
	struct gm_buf line = GM_BUF_INIT;
	gm_buf_addf(&line, "\n%s{", name);
	labels(&line, i);
	if (extra)
		gm_buf_addf(&line, ",%s", extra);
	gm_buf_addf(&line, "} %s\n", value);
	if (!strstr(text, gm_buf_cstr(&line)))
		fail_msg("missing: %s", gm_buf_cstr(&line) + 1);
	gm_buf_release(&line);
}

static void expect_absent(const char *text, const char *name, int i)
{
	struct gm_buf line = GM_BUF_INIT;
	gm_buf_addf(&line, "\n%s{", name);
	labels(&line, i);
	if (strstr(text, gm_buf_cstr(&line)))
		fail_msg("present: %s", gm_buf_cstr(&line) + 1);
	gm_buf_release(&line);
}

static void check_gpu(const char *t, int i)
{
	char v[64];
#define EXPECT_I(name, val)                                       \
	do {                                                      \
		snprintf(v, sizeof(v), "%lld", (long long)(val)); \
		expect(t, name, i, NULL, v);                      \
	} while (0)
	EXPECT_I("DCGM_FI_DEV_SM_CLOCK", 1980 - i * 10);
	EXPECT_I("DCGM_FI_DEV_MEM_CLOCK", 2619);
	EXPECT_I("DCGM_FI_DEV_GPU_TEMP", 40 + i);
	if (i == 5)
		expect_absent(t, "DCGM_FI_DEV_MEMORY_TEMP", i);
	else
		EXPECT_I("DCGM_FI_DEV_MEMORY_TEMP", 50 + i);
	snprintf(v, sizeof(v), "%d.%03d", 650 + (i * 1123) / 1000, (i * 1123) % 1000);
	if (i == 0)
		snprintf(v, sizeof(v), "650");
	expect(t, "DCGM_FI_DEV_POWER_USAGE", i, NULL, v);
	EXPECT_I("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", 123456789000LL + i);
	EXPECT_I("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", i);
	EXPECT_I("DCGM_FI_DEV_GPU_UTIL", 90 + i);
	EXPECT_I("DCGM_FI_DEV_MEM_COPY_UTIL", 40 + i);
	EXPECT_I("DCGM_FI_DEV_ENC_UTIL", 0);
	EXPECT_I("DCGM_FI_DEV_DEC_UTIL", i);
	EXPECT_I("DCGM_FI_DEV_FB_USED", 40000 + i * 1000);
	EXPECT_I("DCGM_FI_DEV_FB_RESERVED", 520);
	EXPECT_I("DCGM_FI_DEV_FB_TOTAL", 81559);
	EXPECT_I("DCGM_FI_DEV_FB_FREE", 81559 - 520 - (40000 + i * 1000));
	EXPECT_I("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", i == 6 ? 1 : 0);
	EXPECT_I("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", 0);
	EXPECT_I("DCGM_FI_DEV_ROW_REMAP_FAILURE", 0);
	expect_absent(t, "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", i);
	EXPECT_I("gpumigrate_gpu_up", 1);
	expect(t, "gpumigrate_pcie_link_gen", i, "state=\"current\"", "5");
	expect(t, "gpumigrate_pcie_link_gen", i, "state=\"max\"", "5");
	expect(t, "gpumigrate_pcie_link_width", i, "state=\"current\"", "16");
	expect(t, "gpumigrate_pcie_link_width", i, "state=\"max\"", "16");
	expect(t, "gpumigrate_clock_event_active", i, "reason=\"sw_power_cap\"",
	       i == 2 ? "1" : "0");
	expect(t, "gpumigrate_clock_event_active", i, "reason=\"hw_thermal\"", "0");
	expect(t, "gpumigrate_clock_event_active", i, "reason=\"gpu_idle\"", "0");
	snprintf(v, sizeof(v), "%d", i);
	expect(t, "gpumigrate_ecc_errors_total", i, "type=\"corrected\",counter=\"volatile\"", v);
	snprintf(v, sizeof(v), "%d", 10 + i);
	expect(t, "gpumigrate_ecc_errors_total", i, "type=\"corrected\",counter=\"aggregate\"", v);
	expect(t, "gpumigrate_ecc_errors_total", i, "type=\"uncorrected\",counter=\"volatile\"",
	       "0");
	expect(t, "gpumigrate_ecc_errors_total", i, "type=\"uncorrected\",counter=\"aggregate\"",
	       "0");
	expect(t, "gpumigrate_remapped_rows_pending", i, NULL, i == 6 ? "1" : "0");
	/* H100: no retired pages (not in the fixture: Not Supported) */
	expect_absent(t, "gpumigrate_retired_pages_pending", i);
#undef EXPECT_I
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Renders until needle appears (or 5 s pass). */
static bool wait_for(struct gm_exporter *ex, const char *needle, struct gm_buf *out)
{
	for (int i = 0; i < 250; i++) {
		gm_buf_reset(out);
		gm_exporter_render(ex, false, out);
		if (strstr(gm_buf_cstr(out), needle))
			return true;
		sleep_ms(20);
	}
	return false;
}

static void run_promtool(const char *text)
{
	if (access("/usr/bin/promtool", X_OK) != 0)
		return;
	/* Only our own families: dcgm's names are known not to follow the conventions. */
	struct gm_buf own = GM_BUF_INIT;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (strstr(p, "gpumigrate_") && (strncmp(p, "gpumigrate_", 11) == 0 ||
		                                 strncmp(p, "# HELP gpumigrate_", 18) == 0 ||
		                                 strncmp(p, "# TYPE gpumigrate_", 18) == 0))
			gm_buf_add(&own, p, len);
		p += len;
	}
	char path[64], cmd[160];
	snprintf(path, sizeof(path), "/tmp/gm-exporter-prom-%d.txt", (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite(own.data, 1, own.len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[512];
	struct gm_buf msg = GM_BUF_INIT;
	/* The GPU labels are dcgm-exporter's (modelName, UUID, Hostname): promtool's complaint
	 * about their case is expected; anything else is a problem. */
	while (fgets(line, sizeof(line), p))
		if (!strstr(line, "label names should be written in 'snake_case' not 'camelCase'"))
			gm_buf_adds(&msg, line);
	pclose(p);
	unlink(path);
	if (msg.len)
		fail_msg("promtool check metrics: %s", gm_buf_cstr(&msg));
	gm_buf_release(&msg);
	gm_buf_release(&own);
}

static void test_exporter_fake(void **state)
{
	(void)state;
	struct gm_exporter *ex = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_exporter_opts opts = {getenv("GM_FAKE_NVML"), 100, "testhost", NULL, NULL, 0};
	struct gm_buf t = GM_BUF_INIT;

	assert_int_equal(gm_exporter_start(&ex, &opts, &err), GM_OK);
	assert_true(gm_exporter_healthy(ex));
	gm_exporter_render(ex, false, &t);
	const char *s = gm_buf_cstr(&t);
	for (int i = 0; i < 8; i++)
		check_gpu(s, i);
	assert_non_null(strstr(s, "\ngpumigrate_gpus{Hostname=\"testhost\"} 8\n"));
	assert_non_null(
	        strstr(s, "\ngpumigrate_collection_errors_total{Hostname=\"testhost\"} 0\n"));
	assert_non_null(strstr(s, "\ngpumigrate_exporter_build_info{version=\""));
	assert_non_null(
	        strstr(s, "\ngpumigrate_collection_duration_seconds{Hostname=\"testhost\"} "));
	/* Before any Xid: the last Xid reads 0 (events are supported) and no counter yet. */
	expect(s, "DCGM_FI_DEV_XID_ERRORS", 1, NULL, "0");
	assert_null(strstr(s, "gpumigrate_xid_events_total{"));
	run_promtool(s);

	/* The Xid of GPU 1 arrives after 300 ms. */
	struct gm_buf line = GM_BUF_INIT;
	gm_buf_adds(&line, "gpumigrate_xid_events_total{");
	labels(&line, 1);
	gm_buf_adds(&line, ",xid=\"79\"} 1\n");
	assert_true(wait_for(ex, gm_buf_cstr(&line), &t));
	expect(gm_buf_cstr(&t), "DCGM_FI_DEV_XID_ERRORS", 1, NULL, "79");
	expect(gm_buf_cstr(&t), "DCGM_FI_DEV_XID_ERRORS", 0, NULL, "0");

	/* Memory at 95% on GPU 0, changed at run time. */
	edit_fixture("memory_used: 41943040000", "memory_used: 81246208000");
	assert_true(wait_for(ex, "\nDCGM_FI_DEV_FB_USED{gpu=\"0\"", &t));
	gm_buf_reset(&line);
	gm_buf_adds(&line, "DCGM_FI_DEV_FB_USED{");
	labels(&line, 0);
	gm_buf_adds(&line, "} 77482\n");
	assert_true(wait_for(ex, gm_buf_cstr(&line), &t));

	/* GPU 3 falls off the bus: up 0, its series gone, the others still served. */
	edit_fixture("    minor: 3\n", "    minor: 3\n    lost_after_calls: 0\n");
	gm_buf_reset(&line);
	gm_buf_adds(&line, "gpumigrate_gpu_up{");
	labels(&line, 3);
	gm_buf_adds(&line, "} 0\n");
	assert_true(wait_for(ex, gm_buf_cstr(&line), &t));
	s = gm_buf_cstr(&t);
	expect_absent(s, "DCGM_FI_DEV_GPU_TEMP", 3);
	expect_absent(s, "gpumigrate_ecc_errors_total", 3);
	for (int i = 0; i < 8; i++)
		if (i != 3)
			expect(s, "gpumigrate_gpu_up", i, NULL, "1");
	expect(s, "DCGM_FI_DEV_GPU_TEMP", 4, NULL, "44");
	assert_true(gm_exporter_healthy(ex));

	/* The driver goes away: errors counted, retried, healthy again when it is back. */
	edit_fixture("driver_version:", "init_error: DRIVER_NOT_LOADED\ndriver_version:");
	assert_true(wait_for(ex, "# gpumigrate: NVIDIA driver is not loaded", &t));
	assert_false(gm_exporter_healthy(ex));
	assert_non_null(strstr(gm_buf_cstr(&t), "\ngpumigrate_gpus{Hostname=\"testhost\"} 0\n"));
	assert_null(strstr(gm_buf_cstr(&t),
	                   "\ngpumigrate_collection_errors_total{Hostname=\"testhost\"} 0\n"));
	edit_fixture("init_error: DRIVER_NOT_LOADED\n", "");
	assert_true(wait_for(ex, "\ngpumigrate_gpus{Hostname=\"testhost\"} 8\n", &t));
	assert_true(gm_exporter_healthy(ex));

	/* OpenMetrics from the same snapshot. */
	gm_buf_reset(&t);
	gm_exporter_render(ex, true, &t);
	assert_non_null(strstr(gm_buf_cstr(&t), "# TYPE gpumigrate_xid_events counter\n"));
	assert_string_equal(gm_buf_cstr(&t) + t.len - 6, "# EOF\n");

	/* Rendering 8 GPUs: report the cost (not asserted; bench/ measures). */
	struct gm_snapshot snap;
	memset(&snap, 0, sizeof(snap));
	gm_buf_release(&line);
	gm_exporter_stop(ex);
	gm_buf_release(&t);
	gm_err_release(&err);
}

static void test_exporter_no_driver(void **state)
{
	(void)state;
	struct gm_exporter *ex = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_exporter_opts opts = {
	        "/nonexistent/libnvidia-ml.so.1", 100, "h", "node", NULL, 0};
	struct gm_buf t = GM_BUF_INIT;
	assert_int_equal(gm_exporter_start(&ex, &opts, &err), GM_OK);
	assert_false(gm_exporter_healthy(ex));
	gm_exporter_render(ex, false, &t);
	assert_non_null(strstr(gm_buf_cstr(&t), "# gpumigrate: no NVIDIA driver found"));
	assert_non_null(strstr(gm_buf_cstr(&t), "\ngpumigrate_gpus{node=\"h\"} 0\n"));
	assert_non_null(
	        strstr(gm_buf_cstr(&t), "\ngpumigrate_collection_errors_total{node=\"h\"} 1\n"));
	gm_exporter_stop(ex);
	gm_buf_release(&t);
	gm_err_release(&err);
}

static void content_negotiation(void **state)
{
	(void)state;
	/* what Prometheus 2.x sends by default */
	assert_true(gm_expo_wants_openmetrics(
	        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
	        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
	assert_false(gm_expo_wants_openmetrics(NULL));
	assert_false(gm_expo_wants_openmetrics(""));
	assert_false(gm_expo_wants_openmetrics("text/plain"));
	assert_false(gm_expo_wants_openmetrics("*/*"));
	assert_false(gm_expo_wants_openmetrics("application/openmetrics-text;q=0, text/*"));
	assert_false(gm_expo_wants_openmetrics("application/openmetrics-text;q=0.5, text/plain"));
	assert_true(gm_expo_wants_openmetrics("text/plain;q=0.2, APPLICATION/OPENMETRICS-TEXT"));
	assert_false(gm_expo_wants_openmetrics("application/openmetrics-text;q=x"));
}

/* One sample of a fixture through the sampler, with the snapshot fields the exporter sets. */
static void sample_fixture(const char *name, struct gm_snapshot *snap)
{
	struct gm_buf path = GM_BUF_INIT;
	struct gm_sampler *smp = NULL;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_addf(&path, "%s/nvml/%s", getenv("GM_FIXTURES"), name);
	setenv("GPUMIGRATE_FAKE_NVML", gm_buf_cstr(&path), 1);
	memset(snap, 0, sizeof(*snap));
	assert_int_equal(gm_sampler_open(&smp, getenv("GM_FAKE_NVML"), &err), GM_OK);
	assert_int_equal(gm_sampler_take(smp, snap, &err), GM_OK);
	gm_sampler_close(smp);
	snap->nvml_ok = true;
	snap->hostname = gm_xstrdup("h");
	snap->hostname_label = gm_xstrdup("Hostname");
	snap->version = gm_xstrdup("t");
	gm_buf_release(&path);
	gm_err_release(&err);
}

/* DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL: raw TX + RX KiB where the GPU has NVLink, left out (not
 * 0) where it has none; pod labels on an assigned GPU's DCGM series only. */
static void test_nvlink_and_pod_labels(void **state)
{
	(void)state;
	struct gm_snapshot snap;
	struct gm_buf t = GM_BUF_INIT;
	sample_fixture("a2-highgpu-8g.yaml", &snap);
	assert_int_equal(snap.n_gpus, 8);
	for (unsigned i = 0; i < 8; i++) {
		assert_true(gm_fact_ok(&snap.gpus[i].s.nvlink_raw_kib.f));
		assert_int_equal(snap.gpus[i].s.nvlink_raw_kib.v, 3000000 + 3333 * i);
	}
	snap.gpus[1].pod = gm_xstrdup("trainer-0");
	snap.gpus[1].ns = gm_xstrdup("ml");
	snap.gpus[1].container = gm_xstrdup("main");
	gm_expo_render(&snap, false, &t);
	const char *s = gm_buf_cstr(&t);
	assert_non_null(strstr(s,
	                       "# HELP DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL Total number of NVLink "
	                       "bandwidth counters for all lanes.\n"
	                       "# TYPE DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL counter\n"));
	assert_non_null(strstr(
	        s,
	        "\nDCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL{gpu=\"0\","
	        "UUID=\"GPU-a0f5d042-bd17-03a0-7458-90c9d1d070d0\",pci_bus_id=\"00000000:00:04.0\","
	        "device=\"nvidia0\",modelName=\"NVIDIA A100-SXM4-40GB\",Hostname=\"h\","
	        "DCGM_FI_DRIVER_VERSION=\"550.90.07\"} 3000000\n"));
	assert_non_null(strstr(
	        s,
	        "\nDCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL{gpu=\"1\","
	        "UUID=\"GPU-0dc6d3d4-cfb5-401e-f5e9-7b64612e410c\",pci_bus_id=\"00000000:00:05.0\","
	        "device=\"nvidia1\",modelName=\"NVIDIA A100-SXM4-40GB\",Hostname=\"h\","
	        "DCGM_FI_DRIVER_VERSION=\"550.90.07\",container=\"main\",namespace=\"ml\","
	        "pod=\"trainer-0\"} 3003333\n"));
	/* every DCGM series of GPU 1 has the pod labels; ours and other GPUs' have none */
	size_t dcgm1 = 0;
	for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *end = strchr(l, '\n');
		size_t n = end ? (size_t)(end - l) : strlen(l);
		char *line = gm_xstrndup(l, n);
		bool gpu1 = strstr(line, "{gpu=\"1\",") != NULL;
		bool dcgm = strncmp(line, "DCGM_FI_", 8) == 0;
		bool pods = strstr(line, ",container=\"main\",namespace=\"ml\",pod=\"trainer-0\"}");
		if (line[0] != '#' && gpu1 && dcgm) {
			dcgm1++;
			assert_true(pods);
		} else {
			assert_null(strstr(line, "pod="));
		}
		free(line);
	}
	assert_int_equal(dcgm1, 9); /* PCIe replays, FB x4, remapped rows x3, NVLink */
	gm_snapshot_release(&snap);

	gm_buf_reset(&t);
	sample_fixture("n1-t4.yaml", &snap);
	assert_int_equal(snap.n_gpus, 1);
	assert_int_equal(snap.gpus[0].s.nvlink_raw_kib.f.state, GM_FACT_UNSUPPORTED);
	assert_string_equal(snap.gpus[0].s.nvlink_raw_kib.f.why,
	                    "nvmlDeviceGetFieldValues(NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX): Not "
	                    "Supported");
	gm_expo_render(&snap, false, &t);
	assert_non_null(strstr(gm_buf_cstr(&t), "DCGM_FI_DEV_FB_USED{"));
	assert_null(strstr(gm_buf_cstr(&t), "NVLINK"));
	gm_snapshot_release(&snap);
	gm_buf_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(content_negotiation),
	        cmocka_unit_test(test_expo_text_exact),
	        cmocka_unit_test(test_expo_openmetrics),
	        cmocka_unit_test(test_expo_escaping_and_left_out),
	        cmocka_unit_test(test_expo_lost_and_no_driver),
	        cmocka_unit_test_setup_teardown(test_exporter_fake, setup_fake, teardown_fake),
	        cmocka_unit_test(test_exporter_no_driver),
	        cmocka_unit_test(test_nvlink_and_pod_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

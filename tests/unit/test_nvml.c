/* gm_nvml_collect against the fake libnvidia-ml (tests/fakes/nvml) and the NVML fixtures:
 * every field, field by field, for real machine shapes, and every way NVML can fail
 * (no library, no driver, unsupported functions, an old driver, a GPU lost midway). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/nvml.h"
#include "util/buf.h"
#include "util/banned.h"

#define MiB (1024LL * 1024)

#define ASSERT_STR(x, want)                                \
	do {                                               \
		assert_int_equal((x).f.state, GM_FACT_OK); \
		assert_string_equal((x).v, (want));        \
	} while (0)

#define ASSERT_INT(x, want)                                \
	do {                                               \
		assert_int_equal((x).f.state, GM_FACT_OK); \
		assert_int_equal((x).v, (want));           \
	} while (0)

#define ASSERT_BOOL(x, want)                               \
	do {                                               \
		assert_int_equal((x).f.state, GM_FACT_OK); \
		assert_int_equal((x).v, (want));           \
	} while (0)

#define ASSERT_FACT(fact, st, reason)                    \
	do {                                             \
		assert_int_equal((fact).state, (st));    \
		assert_non_null((fact).why);             \
		assert_string_equal((fact).why, reason); \
	} while (0)

#define ASSERT_UNSUPPORTED(fact, reason) ASSERT_FACT(fact, GM_FACT_UNSUPPORTED, reason)
#define ASSERT_ERROR(fact, reason)       ASSERT_FACT(fact, GM_FACT_ERROR, reason)

static const char *fake_lib(void)
{
	const char *p = getenv("GM_FAKE_NVML");
	assert_non_null(p);
	return p;
}

/* The old-driver build of the fake, next to the current one. */
static void fake_old_lib(struct gm_buf *out)
{
	const char *p = fake_lib();
	const char *slash = strrchr(p, '/');
	gm_buf_reset(out);
	if (slash)
		gm_buf_add(out, p, (size_t)(slash - p + 1));
	gm_buf_adds(out, "libnvidia-ml-fake-old.so");
}

static void use_fixture(const char *name)
{
	const char *dir = getenv("GM_FIXTURES");
	assert_non_null(dir);
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_addf(&path, "%s/nvml/%s", dir, name);
	assert_int_equal(access(gm_buf_cstr(&path), R_OK), 0);
	setenv("GPUMIGRATE_FAKE_NVML", gm_buf_cstr(&path), 1);
	gm_buf_release(&path);
}

static void collect_fixture(struct gm_nvidia *nv, const char *name)
{
	memset(nv, 0, sizeof(*nv));
	use_fixture(name);
	gm_nvml_collect(nv, fake_lib());
}

/* A fixture written for one test; removed by the caller with unlink. */
static void write_fixture(struct gm_buf *path, const char *yaml)
{
	char tmpl[] = "/tmp/gm-test-nvml-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	size_t len = strlen(yaml);
	assert_int_equal(write(fd, yaml, len), (ssize_t)len);
	close(fd);
	gm_buf_reset(path);
	gm_buf_adds(path, tmpl);
	setenv("GPUMIGRATE_FAKE_NVML", tmpl, 1);
}

static void collect_yaml(struct gm_nvidia *nv, const char *yaml)
{
	struct gm_buf path = GM_BUF_INIT;
	memset(nv, 0, sizeof(*nv));
	write_fixture(&path, yaml);
	gm_nvml_collect(nv, fake_lib());
	unlink(gm_buf_cstr(&path));
	gm_buf_release(&path);
}

static void assert_versions(const struct gm_nvidia *nv, const char *driver, const char *nvml,
                            int64_t cuda)
{
	assert_int_equal(nv->nvml.state, GM_FACT_OK);
	assert_null(nv->nvml.why);
	ASSERT_STR(nv->library, fake_lib());
	ASSERT_STR(nv->driver_version, driver);
	ASSERT_STR(nv->nvml_version, nvml);
	ASSERT_INT(nv->cuda_driver_version, cuda);
}

static void assert_uuid_shape(const char *uuid)
{
	/* GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
	assert_int_equal(strlen(uuid), 40);
	assert_memory_equal(uuid, "GPU-", 4);
	for (size_t i = 4; i < 40; i++) {
		if (i == 12 || i == 17 || i == 22 || i == 27)
			assert_int_equal(uuid[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", uuid[i]));
	}
}

static void assert_unique_uuids(const struct gm_nvidia *nv)
{
	for (size_t i = 0; i < nv->n_gpus; i++) {
		assert_int_equal(nv->gpus[i].uuid.f.state, GM_FACT_OK);
		assert_uuid_shape(nv->gpus[i].uuid.v);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(nv->gpus[i].uuid.v, nv->gpus[j].uuid.v);
	}
}

/* The health fields of a GPU with nothing wrong. */
static void assert_healthy_remap(const struct gm_gpu *g)
{
	ASSERT_INT(g->remapped_rows_correctable, 0);
	ASSERT_INT(g->remapped_rows_uncorrectable, 0);
	ASSERT_BOOL(g->remapped_rows_pending, false);
	ASSERT_BOOL(g->remapped_rows_failed, false);
	ASSERT_INT(g->ecc_uncorrected_volatile, 0);
	ASSERT_INT(g->pcie_replay_count, 0);
	ASSERT_UNSUPPORTED(g->retired_pages_sbe.f, "nvmlDeviceGetRetiredPages: Not Supported");
	ASSERT_UNSUPPORTED(g->retired_pages_dbe.f, "nvmlDeviceGetRetiredPages: Not Supported");
	ASSERT_UNSUPPORTED(g->retired_pages_pending.f,
	                   "nvmlDeviceGetRetiredPagesPendingStatus: Not Supported");
}

static void assert_pcie(const struct gm_gpu *g, int gen, int width)
{
	ASSERT_INT(g->pcie_gen_current, gen);
	ASSERT_INT(g->pcie_gen_max, gen);
	ASSERT_INT(g->pcie_width_current, width);
	ASSERT_INT(g->pcie_width_max, width);
}

static void a2_highgpu_8g(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	collect_fixture(&nv, "a2-highgpu-8g.yaml");
	assert_versions(&nv, "550.90.07", "12.550.90.07", 12040);
	assert_int_equal(nv.n_gpus, 8);
	assert_unique_uuids(&nv);
	for (unsigned i = 0; i < 8; i++) {
		const struct gm_gpu *g = &nv.gpus[i];
		char bdf[16];
		snprintf(bdf, sizeof(bdf), "0000:00:%02x.0", 4 + i);
		assert_int_equal(g->index, i);
		ASSERT_STR(g->name, "NVIDIA A100-SXM4-40GB");
		ASSERT_STR(g->bdf, bdf);
		ASSERT_STR(g->vbios, "92.00.45.00.03");
		ASSERT_INT(g->minor, i);
		ASSERT_INT(g->memory_total_bytes, 40960 * MiB);
		ASSERT_STR(g->compute_capability, "8.0");
		ASSERT_INT(g->power_limit_mw, 400000);
		ASSERT_BOOL(g->persistence_mode, true);
		ASSERT_BOOL(g->ecc_enabled, true);
		ASSERT_BOOL(g->mig_enabled, false);
		assert_pcie(g, 4, 16);
		ASSERT_INT(g->numa_node, i < 4 ? 0 : 1);
		ASSERT_STR(g->cpu_affinity, i < 4 ? "0-23,48-71" : "24-47,72-95");
		assert_healthy_remap(g);
		/* not NVML's to say */
		assert_int_equal(g->dev_node.f.state, GM_FACT_UNKNOWN);
		assert_int_equal(g->nvlink.state, GM_FACT_OK);
		assert_int_equal(g->n_nvlinks, 12);
		for (unsigned l = 0; l < 12; l++) {
			assert_int_equal(g->nvlinks[l].link, l);
			assert_int_equal(g->nvlinks[l].remote, GM_NVLINK_REMOTE_SWITCH);
			assert_string_equal(g->nvlinks[l].remote_bdf, "0000:00:00.0");
		}
	}
	ASSERT_STR(nv.gpus[0].serial, "1324021012630");
	ASSERT_STR(nv.gpus[7].serial, "1324021012679");
	gm_nvidia_release(&nv);
}

static void n1_t4(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	collect_fixture(&nv, "n1-t4.yaml");
	assert_versions(&nv, "550.90.07", "12.550.90.07", 12040);
	assert_int_equal(nv.n_gpus, 1);
	assert_unique_uuids(&nv);
	const struct gm_gpu *g = &nv.gpus[0];
	ASSERT_STR(g->name, "Tesla T4");
	ASSERT_STR(g->serial, "1322120023456");
	ASSERT_STR(g->bdf, "0000:00:04.0");
	ASSERT_STR(g->vbios, "90.04.96.00.A0");
	ASSERT_INT(g->minor, 0);
	ASSERT_INT(g->memory_total_bytes, 15360 * MiB);
	ASSERT_STR(g->compute_capability, "7.5");
	ASSERT_INT(g->power_limit_mw, 70000);
	ASSERT_BOOL(g->persistence_mode, false);
	ASSERT_BOOL(g->ecc_enabled, true);
	ASSERT_UNSUPPORTED(g->mig_enabled.f, "nvmlDeviceGetMigMode: Not Supported");
	assert_pcie(g, 3, 16);
	ASSERT_INT(g->pcie_replay_count, 0);
	ASSERT_UNSUPPORTED(g->numa_node.f, "nvmlDeviceGetNumaNodeId: Not Supported");
	ASSERT_STR(g->cpu_affinity, "0-7");
	/* Turing: retired pages, no row remapping */
	ASSERT_INT(g->retired_pages_sbe, 0);
	ASSERT_INT(g->retired_pages_dbe, 0);
	ASSERT_BOOL(g->retired_pages_pending, false);
	ASSERT_UNSUPPORTED(g->remapped_rows_correctable.f,
	                   "nvmlDeviceGetRemappedRows: Not Supported");
	ASSERT_UNSUPPORTED(g->remapped_rows_uncorrectable.f,
	                   "nvmlDeviceGetRemappedRows: Not Supported");
	ASSERT_UNSUPPORTED(g->remapped_rows_pending.f, "nvmlDeviceGetRemappedRows: Not Supported");
	ASSERT_UNSUPPORTED(g->remapped_rows_failed.f, "nvmlDeviceGetRemappedRows: Not Supported");
	ASSERT_INT(g->ecc_uncorrected_volatile, 0);
	ASSERT_UNSUPPORTED(g->nvlink, "nvmlDeviceGetNvLinkState: Not Supported");
	assert_int_equal(g->n_nvlinks, 0);
	assert_null(g->nvlinks);
	gm_nvidia_release(&nv);
}

static void l40s_4x_pcie(void **state)
{
	(void)state;
	static const char *const bdfs[] = {"0000:17:00.0", "0000:31:00.0", "0000:b1:00.0",
	                                   "0000:ca:00.0"};
	struct gm_nvidia nv;
	collect_fixture(&nv, "l40s-4x-pcie.yaml");
	assert_versions(&nv, "550.90.07", "12.550.90.07", 12040);
	assert_int_equal(nv.n_gpus, 4);
	assert_unique_uuids(&nv);
	for (unsigned i = 0; i < 4; i++) {
		const struct gm_gpu *g = &nv.gpus[i];
		ASSERT_STR(g->name, "NVIDIA L40S");
		ASSERT_STR(g->bdf, bdfs[i]);
		ASSERT_INT(g->minor, i);
		ASSERT_INT(g->memory_total_bytes, 46068 * MiB);
		ASSERT_STR(g->compute_capability, "8.9");
		ASSERT_INT(g->power_limit_mw, 350000);
		ASSERT_UNSUPPORTED(g->mig_enabled.f, "nvmlDeviceGetMigMode: Not Supported");
		assert_pcie(g, 4, 16);
		ASSERT_INT(g->numa_node, i < 2 ? 0 : 1);
		ASSERT_STR(g->cpu_affinity, i < 2 ? "0-31,64-95" : "32-63,96-127");
		assert_healthy_remap(g);
		/* no nvlinks key: the GPU has no NVLink */
		ASSERT_UNSUPPORTED(g->nvlink, "nvmlDeviceGetNvLinkState: Not Supported");
		assert_int_equal(g->n_nvlinks, 0);
	}
	gm_nvidia_release(&nv);
}

static void h100_8x_sxm(void **state)
{
	(void)state;
	static const char *const bdfs[] = {"0000:1b:00.0", "0000:43:00.0", "0000:52:00.0",
	                                   "0000:61:00.0", "0000:9d:00.0", "0000:c3:00.0",
	                                   "0000:d1:00.0", "0000:df:00.0"};
	struct gm_nvidia nv;
	collect_fixture(&nv, "h100-8x-sxm.yaml");
	assert_versions(&nv, "535.183.01", "12.535.183.01", 12020);
	assert_int_equal(nv.n_gpus, 8);
	assert_unique_uuids(&nv);
	for (unsigned i = 0; i < 8; i++) {
		const struct gm_gpu *g = &nv.gpus[i];
		ASSERT_STR(g->name, "NVIDIA H100 80GB HBM3");
		ASSERT_STR(g->bdf, bdfs[i]);
		ASSERT_INT(g->memory_total_bytes, 81559 * MiB);
		ASSERT_STR(g->compute_capability, "9.0");
		ASSERT_INT(g->power_limit_mw, 700000);
		ASSERT_BOOL(g->mig_enabled, false);
		assert_pcie(g, 5, 16);
		ASSERT_INT(g->numa_node, i < 4 ? 0 : 1);
		assert_healthy_remap(g);
		assert_int_equal(g->nvlink.state, GM_FACT_OK);
		assert_int_equal(g->n_nvlinks, 18);
		/* 5 + 4 + 4 + 5 links over the four NVSwitches */
		unsigned per_switch[4] = {0, 0, 0, 0};
		for (unsigned l = 0; l < 18; l++) {
			const struct gm_nvlink *k = &g->nvlinks[l];
			assert_int_equal(k->link, l);
			assert_int_equal(k->remote, GM_NVLINK_REMOTE_SWITCH);
			assert_non_null(k->remote_bdf);
			assert_memory_equal(k->remote_bdf, "0000:0", 6);
			unsigned sw = (unsigned)(k->remote_bdf[6] - '5');
			assert_true(sw < 4);
			per_switch[sw]++;
		}
		assert_int_equal(per_switch[0], 5);
		assert_int_equal(per_switch[1], 4);
		assert_int_equal(per_switch[2], 4);
		assert_int_equal(per_switch[3], 5);
	}
	gm_nvidia_release(&nv);
}

static void degraded(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	collect_fixture(&nv, "degraded.yaml");
	assert_int_equal(nv.n_gpus, 1);
	const struct gm_gpu *g = &nv.gpus[0];
	ASSERT_STR(g->name, "NVIDIA A100-PCIE-40GB");
	ASSERT_STR(g->bdf, "0000:3b:00.0");
	ASSERT_INT(g->pcie_gen_current, 4);
	ASSERT_INT(g->pcie_gen_max, 4);
	ASSERT_INT(g->pcie_width_current, 8);
	ASSERT_INT(g->pcie_width_max, 16);
	ASSERT_INT(g->pcie_replay_count, 250);
	ASSERT_INT(g->remapped_rows_correctable, 0);
	ASSERT_INT(g->remapped_rows_uncorrectable, 1);
	ASSERT_BOOL(g->remapped_rows_pending, true);
	ASSERT_BOOL(g->remapped_rows_failed, false);
	ASSERT_INT(g->ecc_uncorrected_volatile, 1);
	ASSERT_INT(g->power_limit_mw, 250000);
	ASSERT_UNSUPPORTED(g->nvlink, "nvmlDeviceGetNvLinkState: Not Supported");
	gm_nvidia_release(&nv);
}

static void nvlink_bridge(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	collect_fixture(&nv, "nvlink-bridge.yaml");
	assert_int_equal(nv.n_gpus, 2);
	assert_unique_uuids(&nv);
	ASSERT_STR(nv.gpus[0].bdf, "0000:ca:00.0");
	ASSERT_STR(nv.gpus[1].bdf, "0000:e3:00.0");
	for (unsigned i = 0; i < 2; i++) {
		const struct gm_gpu *g = &nv.gpus[i];
		const struct gm_gpu *peer = &nv.gpus[1 - i];
		assert_int_equal(g->nvlink.state, GM_FACT_OK);
		/* 12 link positions, 4 connected */
		assert_int_equal(g->n_nvlinks, 4);
		for (unsigned l = 0; l < 4; l++) {
			assert_int_equal(g->nvlinks[l].link, l);
			assert_int_equal(g->nvlinks[l].remote, GM_NVLINK_REMOTE_GPU);
			assert_string_equal(g->nvlinks[l].remote_bdf, peer->bdf.v);
		}
	}
	gm_nvidia_release(&nv);
}

static void lost_gpu(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	collect_fixture(&nv, "lost.yaml");
	assert_int_equal(nv.nvml.state, GM_FACT_OK);
	assert_int_equal(nv.n_gpus, 2);

	/* The first GPU is whole. */
	const struct gm_gpu *g = &nv.gpus[0];
	ASSERT_STR(g->name, "NVIDIA L4");
	ASSERT_STR(g->bdf, "0000:00:03.0");
	ASSERT_INT(g->memory_total_bytes, 23034 * MiB);
	ASSERT_INT(g->ecc_uncorrected_volatile, 0);
	ASSERT_UNSUPPORTED(g->nvlink, "nvmlDeviceGetNvLinkState: Not Supported");

	/* The second answered 6 calls, then fell off the bus. */
	g = &nv.gpus[1];
	assert_int_equal(g->index, 1);
	ASSERT_STR(g->name, "NVIDIA L4");
	assert_int_equal(g->uuid.f.state, GM_FACT_OK);
	ASSERT_STR(g->serial, "1323422087315");
	ASSERT_STR(g->bdf, "0000:00:04.0");
	ASSERT_STR(g->vbios, "95.04.29.00.06");
	ASSERT_INT(g->minor, 1);
	const struct gm_fact *lost[] = {
	        &g->memory_total_bytes.f,
	        &g->compute_capability.f,
	        &g->power_limit_mw.f,
	        &g->persistence_mode.f,
	        &g->ecc_enabled.f,
	        &g->mig_enabled.f,
	        &g->pcie_gen_current.f,
	        &g->pcie_gen_max.f,
	        &g->pcie_width_current.f,
	        &g->pcie_width_max.f,
	        &g->pcie_replay_count.f,
	        &g->numa_node.f,
	        &g->cpu_affinity.f,
	        &g->retired_pages_sbe.f,
	        &g->retired_pages_dbe.f,
	        &g->retired_pages_pending.f,
	        &g->remapped_rows_correctable.f,
	        &g->remapped_rows_uncorrectable.f,
	        &g->remapped_rows_pending.f,
	        &g->remapped_rows_failed.f,
	        &g->ecc_uncorrected_volatile.f,
	        &g->nvlink,
	};
	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		ASSERT_ERROR(*lost[i], "GPU is lost");
	assert_int_equal(g->n_nvlinks, 0);
	gm_nvidia_release(&nv);
}

static void assert_nvml_down(const struct gm_nvidia *nv, const char *why)
{
	ASSERT_ERROR(nv->nvml, why);
	ASSERT_ERROR(nv->driver_version.f, why);
	ASSERT_ERROR(nv->nvml_version.f, why);
	ASSERT_ERROR(nv->cuda_driver_version.f, why);
	assert_int_equal(nv->n_gpus, 0);
	assert_null(nv->gpus);
}

static void no_driver(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	collect_fixture(&nv, "no-driver.yaml");
	assert_nvml_down(&nv, "NVIDIA driver is not loaded (nvmlInit: Driver Not Loaded)");
	/* the library itself was there */
	ASSERT_STR(nv.library, fake_lib());
	gm_nvidia_release(&nv);
}

static void missing_library(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	memset(&nv, 0, sizeof(nv));
	gm_nvml_collect(&nv, "/nonexistent/libnvidia-ml.so.1");
	assert_nvml_down(&nv, "no NVIDIA driver found (/nonexistent/libnvidia-ml.so.1)");
	ASSERT_ERROR(nv.library.f, "no NVIDIA driver found (/nonexistent/libnvidia-ml.so.1)");
	gm_nvidia_release(&nv);

	/* $GPUMIGRATE_NVML_LIBRARY when no library is named */
	setenv("GPUMIGRATE_NVML_LIBRARY", "libnvidia-ml-gm-test-absent.so.1", 1);
	memset(&nv, 0, sizeof(nv));
	gm_nvml_collect(&nv, NULL);
	assert_nvml_down(&nv, "no NVIDIA driver found (libnvidia-ml-gm-test-absent.so.1)");
	gm_nvidia_release(&nv);

	setenv("GPUMIGRATE_NVML_LIBRARY", fake_lib(), 1);
	use_fixture("n1-t4.yaml");
	memset(&nv, 0, sizeof(nv));
	gm_nvml_collect(&nv, NULL);
	assert_int_equal(nv.nvml.state, GM_FACT_OK);
	assert_int_equal(nv.n_gpus, 1);
	ASSERT_STR(nv.gpus[0].name, "Tesla T4");
	gm_nvidia_release(&nv);
	unsetenv("GPUMIGRATE_NVML_LIBRARY");

	/* a file that exists but is no shared library */
	struct gm_buf path = GM_BUF_INIT;
	write_fixture(&path, "not an ELF file\n");
	memset(&nv, 0, sizeof(nv));
	gm_nvml_collect(&nv, gm_buf_cstr(&path));
	assert_int_equal(nv.nvml.state, GM_FACT_ERROR);
	struct gm_buf want = GM_BUF_INIT;
	gm_buf_addf(&want, "cannot load NVML library '%s': ", gm_buf_cstr(&path));
	assert_memory_equal(nv.nvml.why, gm_buf_cstr(&want), want.len);
	gm_nvidia_release(&nv);
	unlink(gm_buf_cstr(&path));
	gm_buf_release(&path);
	gm_buf_release(&want);

	/* a shared library that is not NVML */
	memset(&nv, 0, sizeof(nv));
	gm_nvml_collect(&nv, "libm.so.6");
	assert_int_equal(nv.nvml.state, GM_FACT_ERROR);
	assert_non_null(
	        strstr(nv.nvml.why, "is not a usable NVML library (it has no nvmlInit_v2)"));
	gm_nvidia_release(&nv);
}

/* A driver that predates the versioned names and the newer functions: the resolver falls
 * back to the plain names, and what the driver cannot answer says so. */
static void old_driver(void **state)
{
	(void)state;
	struct gm_buf old = GM_BUF_INIT;
	struct gm_nvidia nv;
	fake_old_lib(&old);
	memset(&nv, 0, sizeof(nv));
	use_fixture("a2-highgpu-8g.yaml");
	gm_nvml_collect(&nv, gm_buf_cstr(&old));
	assert_int_equal(nv.nvml.state, GM_FACT_OK);
	ASSERT_STR(nv.library, gm_buf_cstr(&old));
	ASSERT_STR(nv.driver_version, "550.90.07");
	ASSERT_INT(nv.cuda_driver_version, 12040);
	assert_int_equal(nv.n_gpus, 8);
	for (unsigned i = 0; i < 8; i++) {
		const struct gm_gpu *g = &nv.gpus[i];
		char bdf[16];
		snprintf(bdf, sizeof(bdf), "0000:00:%02x.0", 4 + i);
		/* plain nvmlDeviceGetPciInfo: only the 16-byte bus id */
		ASSERT_STR(g->bdf, bdf);
		/* plain nvmlDeviceGetMemoryInfo */
		ASSERT_INT(g->memory_total_bytes, 40960 * MiB);
		ASSERT_UNSUPPORTED(g->mig_enabled.f,
		                   "nvmlDeviceGetMigMode: function not in this driver");
		ASSERT_UNSUPPORTED(g->remapped_rows_correctable.f,
		                   "nvmlDeviceGetRemappedRows: function not in this driver");
		ASSERT_UNSUPPORTED(g->remapped_rows_failed.f,
		                   "nvmlDeviceGetRemappedRows: function not in this driver");
		/* left for sysfs */
		assert_int_equal(g->numa_node.f.state, GM_FACT_UNKNOWN);
		ASSERT_STR(g->cpu_affinity, i < 4 ? "0-23,48-71" : "24-47,72-95");
		ASSERT_INT(g->pcie_gen_max, 4);
		assert_int_equal(g->n_nvlinks, 12);
		assert_int_equal(g->nvlinks[11].remote, GM_NVLINK_REMOTE_SWITCH);
		assert_string_equal(g->nvlinks[11].remote_bdf, "0000:00:00.0");
	}
	gm_nvidia_release(&nv);
	gm_buf_release(&old);
}

/* gm_nvml_collect leaves NVML shut down: the test holds its own reference to the fake, so
 * the library stays mapped, and a call after collect must find NVML uninitialised. */
static void shuts_down(void **state)
{
	(void)state;
	void *dl = dlopen(fake_lib(), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(dl);
	int (*count)(unsigned *) = (int (*)(unsigned *))dlsym(dl, "nvmlDeviceGetCount_v2");
	int (*init)(void) = (int (*)(void))dlsym(dl, "nvmlInit_v2");
	int (*shutdown)(void) = (int (*)(void))dlsym(dl, "nvmlShutdown");
	assert_non_null(count);
	assert_non_null(init);
	assert_non_null(shutdown);
	unsigned n = 99;

	static const char *const fixtures[] = {"h100-8x-sxm.yaml", "lost.yaml", "no-driver.yaml"};
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct gm_nvidia nv;
		collect_fixture(&nv, fixtures[i]);
		gm_nvidia_release(&nv);
		assert_int_equal(count(&n), 1 /* NVML_ERROR_UNINITIALIZED */);
	}

	/* and the fake really counts: initialised, it answers */
	use_fixture("h100-8x-sxm.yaml");
	assert_int_equal(init(), 0);
	assert_int_equal(count(&n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(shutdown(), 0);
	assert_int_equal(count(&n), 1);
	dlclose(dl);
}

static const char one_gpu_head[] = "driver_version: \"550.90.07\"\n"
                                   "nvml_version: \"12.550.90.07\"\n"
                                   "cuda_driver_version: 12040\n";

static void configured_errors(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	struct gm_buf y = GM_BUF_INIT;
	gm_buf_adds(&y, one_gpu_head);
	gm_buf_adds(&y, "devices:\n"
	                "  - name: \"NVIDIA A100-SXM4-80GB\"\n"
	                "    uuid: \"GPU-11111111-2222-3333-4444-555555555555\"\n"
	                "    pci_bus_id: \"00000000:B7:00.0\"\n"
	                "    memory_total: 85899345920\n"
	                "    pcie: {gen_current: 4, gen_max: 5, gen_gpu_max: 4, width_current: "
	                "16, width_max: 16}\n"
	                "    retired_pages: {sbe: 3, dbe: 1, pending: true}\n"
	                "    ecc_mode: false\n"
	                "    errors: {nvmlDeviceGetSerial: NO_PERMISSION, pcie.width_max: "
	                "NVML_ERROR_UNKNOWN, vbios: 10}\n"
	                "    not_supported: [minor]\n");
	collect_yaml(&nv, gm_buf_cstr(&y));
	assert_int_equal(nv.nvml.state, GM_FACT_OK);
	assert_int_equal(nv.n_gpus, 1);
	const struct gm_gpu *g = &nv.gpus[0];
	ASSERT_STR(g->name, "NVIDIA A100-SXM4-80GB");
	ASSERT_STR(g->bdf, "0000:b7:00.0");
	ASSERT_ERROR(g->serial.f, "nvmlDeviceGetSerial: Insufficient Permissions");
	ASSERT_ERROR(g->vbios.f, "nvmlDeviceGetVbiosVersion: Timeout");
	ASSERT_UNSUPPORTED(g->minor.f, "nvmlDeviceGetMinorNumber: Not Supported");
	ASSERT_ERROR(g->pcie_width_max.f, "nvmlDeviceGetMaxPcieLinkWidth: Unknown Error");
	ASSERT_INT(g->pcie_width_current, 16);
	/* the lower of slot+GPU (5) and GPU (4) */
	ASSERT_INT(g->pcie_gen_max, 4);
	ASSERT_UNSUPPORTED(g->pcie_replay_count.f, "nvmlDeviceGetPcieReplayCounter: Not Supported");
	/* counted through the INSUFFICIENT_SIZE query */
	ASSERT_INT(g->retired_pages_sbe, 3);
	ASSERT_INT(g->retired_pages_dbe, 1);
	ASSERT_BOOL(g->retired_pages_pending, true);
	ASSERT_BOOL(g->ecc_enabled, false);
	/* ECC off: no ECC counters */
	ASSERT_UNSUPPORTED(g->ecc_uncorrected_volatile.f,
	                   "nvmlDeviceGetTotalEccErrors: Not Supported");
	/* absent keys answer Not Supported */
	ASSERT_UNSUPPORTED(g->power_limit_mw.f, "nvmlDeviceGetPowerManagementLimit: Not Supported");
	ASSERT_UNSUPPORTED(g->cpu_affinity.f, "nvmlDeviceGetCpuAffinity: Not Supported");
	gm_nvidia_release(&nv);
	gm_buf_release(&y);
}

static void nvlink_kinds(void **state)
{
	(void)state;
	struct gm_nvidia nv;
	struct gm_buf y = GM_BUF_INIT;
	gm_buf_adds(&y, one_gpu_head);
	gm_buf_adds(&y, "devices:\n"
	                "  - name: \"NVIDIA GH200 480GB\"\n"
	                "    pci_bus_id: \"00000009:01:00.0\"\n"
	                "    nvlink_count: 18\n"
	                "    nvlinks:\n"
	                "      - {link: 0, remote_pci_bus_id: \"00000000:00:00.0\", remote_type: "
	                "npu, active: false}\n"
	                "      - {link: 2, remote_pci_bus_id: \"00000009:02:00.0\", remote_type: "
	                "gpu}\n"
	                "      - {link: 17, remote_pci_bus_id: \"00000000:00:00.0\", remote_type: "
	                "npu}\n");
	collect_yaml(&nv, gm_buf_cstr(&y));
	assert_int_equal(nv.n_gpus, 1);
	const struct gm_gpu *g = &nv.gpus[0];
	ASSERT_STR(g->bdf, "0009:01:00.0");
	assert_int_equal(g->nvlink.state, GM_FACT_OK);
	/* link 0 down, 1 and 3..16 not connected */
	assert_int_equal(g->n_nvlinks, 2);
	assert_int_equal(g->nvlinks[0].link, 2);
	assert_int_equal(g->nvlinks[0].remote, GM_NVLINK_REMOTE_GPU);
	assert_string_equal(g->nvlinks[0].remote_bdf, "0009:02:00.0");
	assert_int_equal(g->nvlinks[1].link, 17);
	assert_int_equal(g->nvlinks[1].remote, GM_NVLINK_REMOTE_NPU);
	gm_nvidia_release(&nv);

	/* an NVLink error other than Not Supported fails the links, not the GPU */
	gm_buf_reset(&y);
	gm_buf_adds(&y, one_gpu_head);
	gm_buf_adds(&y, "devices:\n"
	                "  - name: \"NVIDIA A100-SXM4-40GB\"\n"
	                "    nvlinks: [{link: 0, remote_pci_bus_id: \"00000000:00:00.0\"}]\n"
	                "    errors: {nvlinks: NO_PERMISSION}\n");
	collect_yaml(&nv, gm_buf_cstr(&y));
	ASSERT_ERROR(nv.gpus[0].nvlink, "nvmlDeviceGetNvLinkState: Insufficient Permissions");
	assert_int_equal(nv.gpus[0].n_nvlinks, 0);
	ASSERT_STR(nv.gpus[0].name, "NVIDIA A100-SXM4-40GB");
	gm_nvidia_release(&nv);
	gm_buf_release(&y);
}

static void driver_failures(void **state)
{
	(void)state;
	struct gm_nvidia nv;

	collect_yaml(&nv, "init_error: NO_PERMISSION\n");
	assert_nvml_down(&nv, "no permission to use the NVIDIA driver (nvmlInit: Insufficient "
	                      "Permissions)");
	gm_nvidia_release(&nv);

	collect_yaml(&nv, "init_error: LIB_RM_VERSION_MISMATCH\n");
	assert_nvml_down(&nv, "NVIDIA driver and library versions differ (reboot, or reload the "
	                      "nvidia module) (nvmlInit: RM has detected an NVML/RM version "
	                      "mismatch.)");
	gm_nvidia_release(&nv);

	/* a fixture the fake refuses (stderr says why): nvmlInit fails */
	collect_yaml(&nv, "devics: []\n");
	assert_nvml_down(&nv, "NVML failed to initialise (nvmlInit: Unknown Error)");
	gm_nvidia_release(&nv);

	/* no fixture at all */
	unsetenv("GPUMIGRATE_FAKE_NVML");
	memset(&nv, 0, sizeof(nv));
	gm_nvml_collect(&nv, fake_lib());
	assert_nvml_down(&nv, "NVIDIA driver is not loaded (nvmlInit: Driver Not Loaded)");
	gm_nvidia_release(&nv);

	/* zero GPUs is fine */
	collect_yaml(&nv, "driver_version: \"550.90.07\"\ndevices: []\n");
	assert_int_equal(nv.nvml.state, GM_FACT_OK);
	assert_null(nv.nvml.why);
	assert_int_equal(nv.n_gpus, 0);
	assert_null(nv.gpus);
	ASSERT_STR(nv.driver_version, "550.90.07");
	ASSERT_UNSUPPORTED(nv.nvml_version.f, "nvmlSystemGetNVMLVersion: Not Supported");
	ASSERT_UNSUPPORTED(nv.cuda_driver_version.f,
	                   "nvmlSystemGetCudaDriverVersion: Not Supported");
	gm_nvidia_release(&nv);

	/* counting fails */
	collect_yaml(&nv, "driver_version: \"550.90.07\"\n"
	                  "errors: {nvmlDeviceGetCount: UNKNOWN}\n"
	                  "devices: [{name: \"Tesla T4\"}]\n");
	ASSERT_ERROR(nv.nvml, "cannot count GPUs (nvmlDeviceGetCount: Unknown Error)");
	ASSERT_STR(nv.driver_version, "550.90.07");
	assert_int_equal(nv.n_gpus, 0);
	gm_nvidia_release(&nv);

	/* no handle for a GPU: every NVML field of it says why */
	collect_yaml(&nv, "errors: {nvmlDeviceGetHandleByIndex: NO_PERMISSION}\n"
	                  "devices: [{name: \"Tesla T4\"}, {name: \"Tesla T4\"}]\n");
	assert_int_equal(nv.nvml.state, GM_FACT_OK);
	assert_int_equal(nv.n_gpus, 2);
	assert_int_equal(nv.gpus[1].index, 1);
	ASSERT_ERROR(nv.gpus[1].name.f, "nvmlDeviceGetHandleByIndex: Insufficient Permissions");
	ASSERT_ERROR(nv.gpus[1].bdf.f, "nvmlDeviceGetHandleByIndex: Insufficient Permissions");
	ASSERT_ERROR(nv.gpus[1].nvlink, "nvmlDeviceGetHandleByIndex: Insufficient Permissions");
	gm_nvidia_release(&nv);

	/* lost before the first call */
	collect_yaml(&nv, "devices: [{name: \"Tesla T4\", lost_after_calls: 0}]\n");
	ASSERT_ERROR(nv.gpus[0].name.f, "GPU is lost");
	ASSERT_ERROR(nv.gpus[0].remapped_rows_failed.f, "GPU is lost");
	ASSERT_ERROR(nv.gpus[0].nvlink, "GPU is lost");
	gm_nvidia_release(&nv);
}

/* The lower-level handle the exporter will keep open. */
static void handle_api(void **state)
{
	(void)state;
	struct gm_nvml *h = NULL;
	struct gm_err err = GM_ERR_INIT;
	use_fixture("nvlink-bridge.yaml");
	assert_int_equal(gm_nvml_open(&h, fake_lib(), &err), GM_OK);
	assert_non_null(h);
	assert_string_equal(gm_nvml_library(h), fake_lib());
	unsigned n = 0;
	assert_int_equal(gm_nvml_device_count(h, &n, &err), GM_OK);
	assert_int_equal(n, 2);
	struct gm_gpu g;
	memset(&g, 0, sizeof(g));
	gm_nvml_gpu(h, 1, &g);
	assert_int_equal(g.index, 1);
	ASSERT_STR(g.bdf, "0000:e3:00.0");
	assert_int_equal(g.n_nvlinks, 4);
	gm_gpu_release(&g);
	gm_nvml_close(h);

	use_fixture("no-driver.yaml");
	assert_int_equal(gm_nvml_open(&h, fake_lib(), &err), GM_ERR_DRIVER);
	assert_null(h);
	assert_string_equal(gm_err_msg(&err),
	                    "NVIDIA driver is not loaded (nvmlInit: Driver Not Loaded)");
	assert_int_equal(gm_nvml_open(&h, "/nonexistent/libnvidia-ml.so.1", &err),
	                 GM_ERR_NO_DRIVER);
	assert_null(h);
	assert_string_equal(gm_err_msg(&err),
	                    "no NVIDIA driver found (/nonexistent/libnvidia-ml.so.1)");
	gm_nvml_close(NULL);
	gm_err_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(a2_highgpu_8g),   cmocka_unit_test(n1_t4),
	        cmocka_unit_test(l40s_4x_pcie),    cmocka_unit_test(h100_8x_sxm),
	        cmocka_unit_test(degraded),        cmocka_unit_test(nvlink_bridge),
	        cmocka_unit_test(lost_gpu),        cmocka_unit_test(no_driver),
	        cmocka_unit_test(missing_library), cmocka_unit_test(old_driver),
	        cmocka_unit_test(shuts_down),      cmocka_unit_test(configured_errors),
	        cmocka_unit_test(nvlink_kinds),    cmocka_unit_test(driver_failures),
	        cmocka_unit_test(handle_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

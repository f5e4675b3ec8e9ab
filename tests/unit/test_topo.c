/* Unit tests for hw/topo: every cell of the matrix of each fixture topology (hwloc XML and a
 * sysfs tree), affinities, the NVLink counting rules, the migration warnings, the source and
 * environment handling, errors, and the JSON document. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/topo.h"
#include "util/doc.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *fixtures(void)
{
	const char *d = getenv("GM_FIXTURES");
	return d && *d ? d : "tests/fixtures";
}

static char *fixture(const char *name)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_addf(&b, "%s/topo/%s", fixtures(), name);
	return gm_buf_detach(&b);
}

static void load_xml(struct gm_topo *t, const char *name)
{
	char *path = fixture(name);
	struct gm_topo_opts o = {.xml_path = path};
	struct gm_err err = GM_ERR_INIT;
	gm_topo_init(t);
	enum gm_rc rc = gm_topo_load(t, &o, &err);
	if (rc != GM_OK)
		fail_msg("loading %s: %s", path, gm_err_msg(&err));
	gm_err_release(&err);
	free(path);
}

/* Compares the whole matrix with rows of space-separated cell strings. */
static void assert_matrix(const struct gm_topo *t, const char *const *rows, size_t n)
{
	struct gm_buf cell = GM_BUF_INIT;
	assert_int_equal(t->n_devs, n);
	for (size_t i = 0; i < n; i++) {
		char *row = gm_xstrdup(rows[i]);
		char *save = NULL;
		char *tok = strtok_r(row, " ", &save);
		for (size_t j = 0; j < n; j++) {
			if (!tok)
				fail_msg("expected row %zu has too few cells", i);
			gm_buf_reset(&cell);
			gm_topo_cell_str(gm_topo_cell(t, i, j), &cell);
			if (strcmp(gm_buf_cstr(&cell), tok) != 0)
				fail_msg("cell %s/%s: got %s, expected %s", t->devs[i].name,
				         t->devs[j].name, gm_buf_cstr(&cell), tok);
			tok = strtok_r(NULL, " ", &save);
		}
		assert_null(tok);
		free(row);
	}
	/* symmetric, X exactly on the diagonal */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			assert_int_equal(gm_topo_cell(t, i, j)->link, gm_topo_cell(t, j, i)->link);
			assert_int_equal(gm_topo_cell(t, i, j)->link == GM_LINK_X, i == j);
		}
	gm_buf_release(&cell);
}

static void assert_dev(const struct gm_topo *t, size_t i, const char *name, enum gm_topo_kind kind,
                       const char *bdf, int numa, const char *cpus)
{
	const struct gm_topo_dev *d = &t->devs[i];
	assert_string_equal(d->name, name);
	assert_int_equal(d->kind, kind);
	assert_string_equal(d->bdf, bdf);
	if (numa < 0) {
		assert_false(gm_fact_ok(&d->numa_node.f));
		assert_non_null(d->numa_node.f.why);
	} else {
		assert_true(gm_fact_ok(&d->numa_node.f));
		assert_int_equal(d->numa_node.v, numa);
	}
	assert_true(gm_fact_ok(&d->cpu_affinity.f));
	assert_string_equal(d->cpu_affinity.v, cpus);
}

static bool has_warning(const struct gm_topo *t, const char *needle)
{
	for (size_t i = 0; i < t->n_warnings; i++)
		if (strstr(t->warnings[i], needle))
			return true;
	return false;
}

/* ---- fixture matrices ---- */

/* dgx-a100.xml: per host bridge a root port, a first-level PEX88096 switch holding a
 * ConnectX-6 (mlx5_1, 3, 5, 7) and a second-level switch with two A100s and a ConnectX-6
 * (mlx5_0, 2, 4, 6). Two host bridges per socket. */
static const char *const dgx_pci[] = {
        /*      G0   G1   G2   G3   G4  G5  G6  G7  m0   m1   m2   m3   m4  m5  m6  m7 */
        "X PIX NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE SYS SYS SYS SYS",
        "PIX X NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE SYS SYS SYS SYS",
        "NODE NODE X PIX SYS SYS SYS SYS NODE NODE PIX PXB SYS SYS SYS SYS",
        "NODE NODE PIX X SYS SYS SYS SYS NODE NODE PIX PXB SYS SYS SYS SYS",
        "SYS SYS SYS SYS X PIX NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE",
        "SYS SYS SYS SYS PIX X NODE NODE SYS SYS SYS SYS PIX PXB NODE NODE",
        "SYS SYS SYS SYS NODE NODE X PIX SYS SYS SYS SYS NODE NODE PIX PXB",
        "SYS SYS SYS SYS NODE NODE PIX X SYS SYS SYS SYS NODE NODE PIX PXB",
        "PIX PIX NODE NODE SYS SYS SYS SYS X PXB NODE NODE SYS SYS SYS SYS",
        "PXB PXB NODE NODE SYS SYS SYS SYS PXB X NODE NODE SYS SYS SYS SYS",
        "NODE NODE PIX PIX SYS SYS SYS SYS NODE NODE X PXB SYS SYS SYS SYS",
        "NODE NODE PXB PXB SYS SYS SYS SYS NODE NODE PXB X SYS SYS SYS SYS",
        "SYS SYS SYS SYS PIX PIX NODE NODE SYS SYS SYS SYS X PXB NODE NODE",
        "SYS SYS SYS SYS PXB PXB NODE NODE SYS SYS SYS SYS PXB X NODE NODE",
        "SYS SYS SYS SYS NODE NODE PIX PIX SYS SYS SYS SYS NODE NODE X PXB",
        "SYS SYS SYS SYS NODE NODE PXB PXB SYS SYS SYS SYS NODE NODE PXB X",
};

/* The same with NVML data: every GPU has 12 links to NVSwitches. */
static const char *const dgx_nv[] = {
        "X NV12 NV12 NV12 NV12 NV12 NV12 NV12 PIX PXB NODE NODE SYS SYS SYS SYS",
        "NV12 X NV12 NV12 NV12 NV12 NV12 NV12 PIX PXB NODE NODE SYS SYS SYS SYS",
        "NV12 NV12 X NV12 NV12 NV12 NV12 NV12 NODE NODE PIX PXB SYS SYS SYS SYS",
        "NV12 NV12 NV12 X NV12 NV12 NV12 NV12 NODE NODE PIX PXB SYS SYS SYS SYS",
        "NV12 NV12 NV12 NV12 X NV12 NV12 NV12 SYS SYS SYS SYS PIX PXB NODE NODE",
        "NV12 NV12 NV12 NV12 NV12 X NV12 NV12 SYS SYS SYS SYS PIX PXB NODE NODE",
        "NV12 NV12 NV12 NV12 NV12 NV12 X NV12 SYS SYS SYS SYS NODE NODE PIX PXB",
        "NV12 NV12 NV12 NV12 NV12 NV12 NV12 X SYS SYS SYS SYS NODE NODE PIX PXB",
        "PIX PIX NODE NODE SYS SYS SYS SYS X PXB NODE NODE SYS SYS SYS SYS",
        "PXB PXB NODE NODE SYS SYS SYS SYS PXB X NODE NODE SYS SYS SYS SYS",
        "NODE NODE PIX PIX SYS SYS SYS SYS NODE NODE X PXB SYS SYS SYS SYS",
        "NODE NODE PXB PXB SYS SYS SYS SYS NODE NODE PXB X SYS SYS SYS SYS",
        "SYS SYS SYS SYS PIX PIX NODE NODE SYS SYS SYS SYS X PXB NODE NODE",
        "SYS SYS SYS SYS PXB PXB NODE NODE SYS SYS SYS SYS PXB X NODE NODE",
        "SYS SYS SYS SYS NODE NODE PIX PIX SYS SYS SYS SYS NODE NODE X PXB",
        "SYS SYS SYS SYS NODE NODE PXB PXB SYS SYS SYS SYS NODE NODE PXB X",
};

/* pcie-8gpu-rdma.xml: one PEX89000 switch per host bridge (2 L40S each, a ConnectX-7 on the
 * first switch of each socket); eno1 on its own root port of the first host bridge. */
static const char *const pcie_pci[] = {
        /*      G0   G1   G2   G3   G4  G5  G6   G7  mlx5_0 eno1 mlx5_1 */
        "X PIX NODE NODE SYS SYS SYS SYS PIX PHB SYS",
        "PIX X NODE NODE SYS SYS SYS SYS PIX PHB SYS",
        "NODE NODE X PIX SYS SYS SYS SYS NODE NODE SYS",
        "NODE NODE PIX X SYS SYS SYS SYS NODE NODE SYS",
        "SYS SYS SYS SYS X PIX NODE NODE SYS SYS PIX",
        "SYS SYS SYS SYS PIX X NODE NODE SYS SYS PIX",
        "SYS SYS SYS SYS NODE NODE X PIX SYS SYS NODE",
        "SYS SYS SYS SYS NODE NODE PIX X SYS SYS NODE",
        "PIX PIX NODE NODE SYS SYS SYS SYS X PHB SYS",
        "PHB PHB NODE NODE SYS SYS SYS SYS PHB X SYS",
        "SYS SYS SYS SYS PIX PIX NODE NODE SYS SYS X",
};

/* gce-vm.xml: cloud VMs fake a flat topology — the hypervisor puts every device straight on
 * the root bus of one host bridge, so every pair reads PHB whatever the physical server has. */
static const char *const gce_pci[] = {
        "X PHB PHB",
        "PHB X PHB",
        "PHB PHB X",
};

/* sysfs-2gpu: root port -> PEX88096 switch -> 2 GPUs; an X710 on the root bus. */
static const char *const sysfs_pci[] = {
        "X PIX PHB",
        "PIX X PHB",
        "PHB PHB X",
};

/* ---- NVML data built in the test ---- */

static void add_links(struct gm_gpu *g, size_t n, enum gm_nvlink_remote remote, const char *bdf)
{
	g->nvlinks = gm_xreallocarray(g->nvlinks, g->n_nvlinks + n, sizeof(*g->nvlinks));
	for (size_t i = 0; i < n; i++) {
		struct gm_nvlink *l = &g->nvlinks[g->n_nvlinks];
		l->link = (unsigned)g->n_nvlinks;
		l->remote = remote;
		l->remote_bdf = gm_xstrdup(bdf);
		g->n_nvlinks++;
	}
}

/* n GPUs with NVML's own address spelling (8-digit domain, upper case). */
static void nv_init(struct gm_nvidia *nv, const char *const *bdfs, size_t n)
{
	memset(nv, 0, sizeof(*nv));
	nv->nvml.state = GM_FACT_OK;
	nv->gpus = gm_xcalloc(n, sizeof(*nv->gpus));
	nv->n_gpus = n;
	for (size_t i = 0; i < n; i++) {
		nv->gpus[i].index = (unsigned)i;
		gm_fstr_set(&nv->gpus[i].bdf, bdfs[i]);
		nv->gpus[i].nvlink.state = GM_FACT_OK;
	}
}

/* Frees what nv_init and add_links made (the test owns it; no dependency on nvml.c). */
static void nv_free(struct gm_nvidia *nv)
{
	for (size_t i = 0; i < nv->n_gpus; i++) {
		for (size_t l = 0; l < nv->gpus[i].n_nvlinks; l++)
			free(nv->gpus[i].nvlinks[l].remote_bdf);
		free(nv->gpus[i].nvlinks);
		gm_fstr_release(&nv->gpus[i].bdf);
		gm_fact_release(&nv->gpus[i].nvlink);
	}
	free(nv->gpus);
	gm_fact_release(&nv->nvml);
	memset(nv, 0, sizeof(*nv));
}

static const char *const dgx_nvml_bdfs[] = {
        "00000000:05:00.0", "00000000:07:00.0", "00000000:25:00.0", "00000000:27:00.0",
        "00000000:85:00.0", "00000000:87:00.0", "00000000:A5:00.0", "00000000:A7:00.0",
};

static const char *const pcie_nvml_bdfs[] = {
        "00000000:19:00.0", "00000000:1A:00.0", "00000000:3B:00.0", "00000000:3C:00.0",
        "00000000:9B:00.0", "00000000:9C:00.0", "00000000:BD:00.0", "00000000:BE:00.0",
};

/* ---- tests ---- */

static void dgx_a100_pci_only(void **state)
{
	(void)state;
	struct gm_topo t;
	load_xml(&t, "dgx-a100.xml");
	assert_int_equal(t.n_gpus, 8);
	assert_int_equal(t.n_devs, 16); /* the 6 NVSwitches (class 0680) are not endpoints */
	static const char *const gpu_bdf[] = {"0000:05:00.0", "0000:07:00.0", "0000:25:00.0",
	                                      "0000:27:00.0", "0000:85:00.0", "0000:87:00.0",
	                                      "0000:a5:00.0", "0000:a7:00.0"};
	static const char *const nic_bdf[] = {"0000:06:00.0", "0000:10:00.0", "0000:26:00.0",
	                                      "0000:30:00.0", "0000:86:00.0", "0000:90:00.0",
	                                      "0000:a6:00.0", "0000:b0:00.0"};
	for (size_t i = 0; i < 8; i++) {
		char name[16];
		int socket = i < 4 ? 0 : 1;
		const char *cpus = socket ? "64-127,192-255" : "0-63,128-191";
		snprintf(name, sizeof(name), "GPU%zu", i);
		assert_dev(&t, i, name, GM_TOPO_GPU, gpu_bdf[i], socket, cpus);
		assert_int_equal(t.devs[i].vendor, 0x10de);
		assert_int_equal(t.devs[i].device, 0x20b0);
		assert_int_equal(t.devs[i].class_id, 0x0302);
		assert_int_equal(t.devs[i].nvml_index, -1);
		snprintf(name, sizeof(name), "mlx5_%zu", i);
		assert_dev(&t, 8 + i, name, GM_TOPO_NIC, nic_bdf[i], socket, cpus);
		assert_string_equal(t.devs[8 + i].rdma, name);
		assert_non_null(t.devs[8 + i].netdev);
		assert_int_equal(t.devs[8 + i].class_id, 0x0207);
	}
	assert_string_equal(t.devs[8].netdev, "ibp6s0");
	assert_matrix(&t, dgx_pci, 16);
	for (size_t i = 0; i < 16; i++)
		for (size_t j = 0; j < 16; j++)
			assert_int_equal(gm_topo_cell(&t, i, j)->pci, gm_topo_cell(&t, i, j)->link);
	assert_string_equal(t.platform, "NVIDIA DGXA100 920-23687-2530-000");
	assert_false(t.virtual_machine);
	assert_false(t.flat_pci);
	assert_int_equal(t.nvlink.state, GM_FACT_UNKNOWN);
	/* without NVML the cross-socket pairs are a finding, and say NVLink was not checked */
	assert_int_equal(t.n_warnings, 1);
	assert_non_null(strstr(t.warnings[0], "16 GPU pairs cross CPU sockets"));
	assert_non_null(strstr(t.warnings[0], "GPU0-GPU4, GPU0-GPU5"));
	assert_non_null(strstr(t.warnings[0], "and 8 more"));
	assert_non_null(strstr(t.warnings[0], "NVLink not known"));
	gm_topo_release(&t);
	gm_topo_release(&t); /* release twice is harmless */
}

static void dgx_a100_nvswitch(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_nvidia nv;
	load_xml(&t, "dgx-a100.xml");
	nv_init(&nv, dgx_nvml_bdfs, 8);
	for (size_t i = 0; i < 8; i++) /* 6 NVSwitches, 2 links to each */
		add_links(&nv.gpus[i], 12, GM_NVLINK_REMOTE_SWITCH, "00000000:11:00.0");
	gm_topo_apply_nvlink(&t, &nv);
	assert_int_equal(t.nvlink.state, GM_FACT_OK);
	assert_matrix(&t, dgx_nv, 16);
	assert_int_equal(gm_topo_cell(&t, 0, 4)->link, GM_LINK_NV);
	assert_int_equal(gm_topo_cell(&t, 0, 4)->nv, 12);
	assert_int_equal(gm_topo_cell(&t, 0, 4)->pci, GM_LINK_SYS); /* what is underneath */
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(t.devs[i].nvml_index, (int)i);
	/* NVLink everywhere, an RDMA NIC below every GPU's switch: nothing to warn about */
	assert_int_equal(t.n_warnings, 0);

	/* Applying "no NVML" afterwards goes back to the PCI relations. */
	gm_topo_apply_nvlink(&t, NULL);
	assert_matrix(&t, dgx_pci, 16);
	assert_int_equal(t.n_warnings, 1);
	nv_free(&nv);
	gm_topo_release(&t);
}

static void nvlink_h100_and_uneven_switch_links(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_nvidia nv;
	load_xml(&t, "dgx-a100.xml");
	nv_init(&nv, dgx_nvml_bdfs, 8);
	for (size_t i = 0; i < 8; i++) /* H100 HGX: 18 links into 4 NVSwitches */
		add_links(&nv.gpus[i], i == 3 ? 6 : 18, GM_NVLINK_REMOTE_SWITCH,
		          "00000000:11:00.0");
	gm_topo_apply_nvlink(&t, &nv);
	assert_int_equal(gm_topo_cell(&t, 0, 1)->nv, 18);
	assert_int_equal(gm_topo_cell(&t, 6, 7)->nv, 18);
	assert_int_equal(gm_topo_cell(&t, 0, 3)->nv, 6); /* min(18, 6): GPU3 has lost links */
	assert_int_equal(gm_topo_cell(&t, 3, 5)->nv, 6);
	struct gm_buf s = GM_BUF_INIT;
	gm_topo_cell_str(gm_topo_cell(&t, 2, 5), &s);
	assert_string_equal(gm_buf_cstr(&s), "NV18");
	gm_buf_release(&s);
	nv_free(&nv);
	gm_topo_release(&t);
}

static void pcie_8gpu_rdma(void **state)
{
	(void)state;
	struct gm_topo t;
	load_xml(&t, "pcie-8gpu-rdma.xml");
	assert_int_equal(t.n_gpus, 8);
	assert_int_equal(t.n_devs, 11);
	const char *s0 = "0-31,64-95", *s1 = "32-63,96-127";
	assert_dev(&t, 0, "GPU0", GM_TOPO_GPU, "0000:19:00.0", 0, s0);
	assert_dev(&t, 1, "GPU1", GM_TOPO_GPU, "0000:1a:00.0", 0, s0);
	assert_dev(&t, 2, "GPU2", GM_TOPO_GPU, "0000:3b:00.0", 0, s0);
	assert_dev(&t, 3, "GPU3", GM_TOPO_GPU, "0000:3c:00.0", 0, s0);
	assert_dev(&t, 4, "GPU4", GM_TOPO_GPU, "0000:9b:00.0", 1, s1);
	assert_dev(&t, 5, "GPU5", GM_TOPO_GPU, "0000:9c:00.0", 1, s1);
	assert_dev(&t, 6, "GPU6", GM_TOPO_GPU, "0000:bd:00.0", 1, s1);
	assert_dev(&t, 7, "GPU7", GM_TOPO_GPU, "0000:be:00.0", 1, s1);
	assert_dev(&t, 8, "mlx5_0", GM_TOPO_NIC, "0000:1b:00.0", 0, s0);
	assert_dev(&t, 9, "eno1", GM_TOPO_NIC, "0000:1c:00.0", 0, s0);
	assert_dev(&t, 10, "mlx5_1", GM_TOPO_NIC, "0000:9d:00.0", 1, s1);
	assert_int_equal(t.devs[0].device, 0x26b9);
	assert_string_equal(t.devs[8].netdev, "ens1np0");
	assert_null(t.devs[9].rdma);
	assert_string_equal(t.devs[9].netdev, "eno1");
	assert_matrix(&t, pcie_pci, 11);
	assert_false(t.virtual_machine);
	assert_int_equal(t.n_warnings, 2);
	assert_non_null(strstr(t.warnings[0], "16 GPU pairs cross CPU sockets"));
	/* both RDMA NICs share a switch with two GPUs; the other four GPUs have none */
	assert_string_equal(t.warnings[1],
	                    "GPU2, GPU3, GPU6, GPU7 have no RDMA NIC behind their PCIe switch "
	                    "(PIX/PXB); GPUDirect RDMA from them crosses the host bridge or the "
	                    "CPUs");
	gm_topo_release(&t);
}

static void nvlink_direct_bridges(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_nvidia nv;
	load_xml(&t, "pcie-8gpu-rdma.xml");
	nv_init(&nv, pcie_nvml_bdfs, 8);
	/* NVLink bridges: GPU0-GPU1 with 4 links, GPU2-GPU4 with 2 (only GPU2's side listed),
	 * plus links to an NPU that do not count */
	add_links(&nv.gpus[0], 4, GM_NVLINK_REMOTE_GPU, "00000000:1A:00.0");
	add_links(&nv.gpus[1], 4, GM_NVLINK_REMOTE_GPU, "0000:19:00.0");
	add_links(&nv.gpus[2], 2, GM_NVLINK_REMOTE_GPU, "9b:00.0");
	add_links(&nv.gpus[5], 3, GM_NVLINK_REMOTE_NPU, "00000000:00:00.0");
	gm_topo_apply_nvlink(&t, &nv);
	assert_int_equal(gm_topo_cell(&t, 0, 1)->link, GM_LINK_NV);
	assert_int_equal(gm_topo_cell(&t, 1, 0)->nv, 4);
	assert_int_equal(gm_topo_cell(&t, 2, 4)->nv, 2);
	assert_int_equal(gm_topo_cell(&t, 4, 2)->link, GM_LINK_NV);
	assert_int_equal(gm_topo_cell(&t, 4, 2)->pci, GM_LINK_SYS);
	assert_int_equal(gm_topo_cell(&t, 5, 6)->link, GM_LINK_NODE);
	assert_int_equal(gm_topo_cell(&t, 0, 2)->link, GM_LINK_NODE);
	/* one SYS pair now goes over NVLink */
	assert_non_null(strstr(t.warnings[0], "15 GPU pairs cross CPU sockets"));
	assert_null(strstr(t.warnings[0], "NVLink not known"));
	assert_null(strstr(t.warnings[0], "GPU2-GPU4"));
	nv_free(&nv);
	gm_topo_release(&t);
}

static void nvml_unusable_or_mismatched(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_nvidia nv;
	load_xml(&t, "dgx-a100.xml");

	/* NVML could not be loaded: the reason is kept, PCI relations stay */
	memset(&nv, 0, sizeof(nv));
	gm_fact_fail(&nv.nvml, GM_FACT_UNSUPPORTED, "no NVIDIA driver found (libnvidia-ml.so.1)");
	gm_topo_apply_nvlink(&t, &nv);
	assert_int_equal(t.nvlink.state, GM_FACT_UNSUPPORTED);
	assert_string_equal(t.nvlink.why, "no NVIDIA driver found (libnvidia-ml.so.1)");
	assert_matrix(&t, dgx_pci, 16);
	nv_free(&nv);

	/* NVML lists 7 of the 8 GPUs (GPU5 missing; index order not PCI order for the rest) */
	static const char *const seven[] = {
	        "00000000:05:00.0", "00000000:07:00.0", "00000000:25:00.0", "00000000:27:00.0",
	        "00000000:85:00.0", "00000000:A5:00.0", "00000000:A7:00.0",
	};
	nv_init(&nv, seven, 7);
	for (size_t i = 0; i < 7; i++)
		add_links(&nv.gpus[i], 12, GM_NVLINK_REMOTE_SWITCH, "00000000:11:00.0");
	gm_topo_apply_nvlink(&t, &nv);
	assert_int_equal(t.devs[5].nvml_index, -1);
	assert_int_equal(t.devs[6].nvml_index, 5);
	assert_string_equal(t.devs[6].name, "GPU6"); /* names stay in PCI order when unmatched */
	assert_int_equal(gm_topo_cell(&t, 0, 6)->nv, 12);
	assert_int_equal(gm_topo_cell(&t, 0, 5)->link, GM_LINK_SYS);
	assert_true(has_warning(&t, "NVML does not list GPU5 (0000:87:00.0)"));
	assert_true(has_warning(&t, "4 GPU pairs cross CPU sockets over the SMP interconnect "
	                            "(SYS): GPU0-GPU5, GPU1-GPU5, GPU2-GPU5, GPU3-GPU5;"));
	nv_free(&nv);

	/* A GPU whose links could not be read counts no NVLinks */
	nv_init(&nv, dgx_nvml_bdfs, 8);
	for (size_t i = 0; i < 8; i++)
		add_links(&nv.gpus[i], 12, GM_NVLINK_REMOTE_SWITCH, "00000000:11:00.0");
	gm_fact_fail(&nv.gpus[7].nvlink, GM_FACT_ERROR, "nvmlDeviceGetNvLinkState failed");
	/* NVML index order differs from PCI order: names follow NVML */
	nv.gpus[0].index = 1;
	nv.gpus[1].index = 0;
	gm_topo_apply_nvlink(&t, &nv);
	assert_string_equal(t.devs[0].name, "GPU1");
	assert_string_equal(t.devs[1].name, "GPU0");
	assert_string_equal(t.devs[0].bdf, "0000:05:00.0");
	assert_int_equal(gm_topo_cell(&t, 0, 6)->nv, 12);
	assert_int_equal(gm_topo_cell(&t, 7, 6)->link, GM_LINK_PIX);
	assert_int_equal(gm_topo_cell(&t, 7, 0)->link, GM_LINK_SYS);
	assert_false(has_warning(&t, "NVML does not list"));
	nv_free(&nv);
	gm_topo_release(&t);
}

static void gce_vm_is_flat_and_virtual(void **state)
{
	(void)state;
	struct gm_topo t;
	load_xml(&t, "gce-vm.xml");
	assert_int_equal(t.n_gpus, 2);
	assert_dev(&t, 0, "GPU0", GM_TOPO_GPU, "0000:00:05.0", 0, "0-7");
	assert_dev(&t, 1, "GPU1", GM_TOPO_GPU, "0000:00:06.0", 0, "0-7");
	assert_dev(&t, 2, "ens4", GM_TOPO_NIC, "0000:00:04.0", 0, "0-7");
	assert_int_equal(t.devs[0].device, 0x1eb8);
	assert_int_equal(t.devs[2].vendor, 0x1ae0);
	assert_matrix(&t, gce_pci, 3);
	assert_true(t.virtual_machine);
	assert_true(t.flat_pci);
	assert_string_equal(t.platform, "Google Compute Engine");
	assert_int_equal(t.n_warnings, 1);
	assert_non_null(strstr(t.warnings[0], "virtual machine (Google Compute Engine)"));
	assert_non_null(strstr(t.warnings[0], "synthetic"));
	gm_topo_release(&t);
}

static void sysroot_tree(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_err err = GM_ERR_INIT;
	char *root = fixture("sysfs-2gpu");
	struct gm_topo_opts o = {.sysroot = root};
	gm_topo_init(&t);
	setenv("HWLOC_FSROOT", "/nonexistent-should-be-restored", 1);
	enum gm_rc rc = gm_topo_load(&t, &o, &err);
	if (rc != GM_OK)
		fail_msg("%s", gm_err_msg(&err));
	assert_string_equal(getenv("HWLOC_FSROOT"), "/nonexistent-should-be-restored");
	unsetenv("HWLOC_FSROOT");
	struct gm_buf src = GM_BUF_INIT;
	gm_buf_addf(&src, "sysroot:%s", root);
	assert_string_equal(t.source, gm_buf_cstr(&src));
	gm_buf_release(&src);
	assert_int_equal(t.n_gpus, 2);
	assert_dev(&t, 0, "GPU0", GM_TOPO_GPU, "0000:03:00.0", 0, "0-3");
	assert_dev(&t, 1, "GPU1", GM_TOPO_GPU, "0000:04:00.0", 0, "0-3");
	assert_dev(&t, 2, "eno1", GM_TOPO_NIC, "0000:00:03.0", 0, "0-3");
	assert_int_equal(t.devs[0].device, 0x20b5);
	assert_matrix(&t, sysfs_pci, 3);
	assert_false(t.virtual_machine);
	assert_int_equal(t.n_warnings, 0);
	gm_topo_release(&t);
	gm_err_release(&err);
	free(root);
}

static void environment_and_sources(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_err err = GM_ERR_INIT;
	char *gce = fixture("gce-vm.xml");
	char *dgx = fixture("dgx-a100.xml");
	struct gm_buf want = GM_BUF_INIT;
	gm_topo_init(&t);

	/* HWLOC_XMLFILE is honoured when nothing is asked for */
	setenv("HWLOC_XMLFILE", gce, 1);
	assert_int_equal(gm_topo_load(&t, NULL, &err), GM_OK);
	gm_buf_addf(&want, "xml:%s", gce);
	assert_string_equal(t.source, gm_buf_cstr(&want));
	assert_int_equal(t.n_devs, 3);
	assert_string_equal(getenv("HWLOC_XMLFILE"), gce);

	/* an explicit file wins over it */
	struct gm_topo_opts o = {.xml_path = dgx};
	assert_int_equal(gm_topo_load(&t, &o, &err), GM_OK);
	assert_int_equal(t.n_devs, 16);
	assert_string_equal(getenv("HWLOC_XMLFILE"), gce);

	/* so does an explicit sysroot */
	char *root = fixture("sysfs-2gpu");
	struct gm_topo_opts r = {.sysroot = root};
	assert_int_equal(gm_topo_load(&t, &r, &err), GM_OK);
	assert_int_equal(t.n_devs, 3);
	assert_string_equal(t.devs[0].bdf, "0000:03:00.0");
	unsetenv("HWLOC_XMLFILE");

	/* HWLOC_FSROOT too */
	setenv("HWLOC_FSROOT", root, 1);
	assert_int_equal(gm_topo_load(&t, NULL, &err), GM_OK);
	gm_buf_reset(&want);
	gm_buf_addf(&want, "sysroot:%s", root);
	assert_string_equal(t.source, gm_buf_cstr(&want));
	assert_int_equal(t.n_gpus, 2);
	unsetenv("HWLOC_FSROOT");

	/* "/" and "" mean the live host */
	struct gm_topo_opts live = {.sysroot = "/"};
	assert_int_equal(gm_topo_load(&t, &live, &err), GM_OK);
	assert_string_equal(t.source, "live");
	gm_topo_release(&t);
	gm_buf_release(&want);
	gm_err_release(&err);
	free(root);
	free(gce);
	free(dgx);
}

static void errors(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_err err = GM_ERR_INIT;
	gm_topo_init(&t);

	struct gm_topo_opts missing = {.xml_path = "/nonexistent/server.xml"};
	assert_int_equal(gm_topo_load(&t, &missing, &err), GM_ERR_NOT_FOUND);
	assert_string_equal(gm_err_msg(&err),
	                    "cannot read topology file '/nonexistent/server.xml': "
	                    "No such file or directory");
	assert_int_equal(t.n_devs, 0);
	assert_null(t.source);

	/* not XML at all, and XML that is not an hwloc topology */
	char *bad_path = NULL;
	static const char *const bad[] = {
	        "this is not xml\n",
	        ("<?xml version=\"1.0\"?>\n<topology version=\"2.0\">\n"
	         "<object type=\"Bogus\" os_index=\"0\"/>\n</topology>\n"),
	        "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char tmpl[] = "/tmp/gm-topo-bad-XXXXXX";
		int fd = mkstemp(tmpl);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(fd);
		bad_path = tmpl;
		struct gm_topo_opts o = {.xml_path = bad_path};
		assert_int_equal(gm_topo_load(&t, &o, &err), GM_ERR_PARSE);
		assert_non_null(strstr(gm_err_msg(&err), "is not a valid hwloc XML topology"));
		assert_non_null(strstr(gm_err_msg(&err), tmpl));
		unlink(tmpl);
	}

	/* a file far larger than any server's topology is refused before hwloc reads it */
	char big[] = "/tmp/gm-topo-big-XXXXXX";
	int bfd = mkstemp(big);
	assert_true(bfd >= 0);
	assert_int_equal(ftruncate(bfd, (off_t)GM_TOPO_MAX_XML_BYTES + 1), 0);
	close(bfd);
	struct gm_topo_opts huge = {.xml_path = big};
	assert_int_equal(gm_topo_load(&t, &huge, &err), GM_ERR_LIMIT);
	assert_non_null(strstr(gm_err_msg(&err), "is larger than 64 MiB"));
	unlink(big);

	struct gm_topo_opts dir = {.xml_path = "/tmp"};
	assert_int_equal(gm_topo_load(&t, &dir, &err), GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err), "topology file '/tmp' is not a regular file");

	struct gm_topo_opts noroot = {.sysroot = "/nonexistent/root"};
	assert_int_equal(gm_topo_load(&t, &noroot, &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "cannot use sysroot '/nonexistent/root'"));

	struct gm_topo_opts fileroot = {.sysroot = "/etc/hostname"};
	assert_int_equal(gm_topo_load(&t, &fileroot, &err), GM_ERR_USAGE);
	assert_string_equal(gm_err_msg(&err), "sysroot '/etc/hostname' is not a directory");
	gm_topo_release(&t);
	gm_err_release(&err);
}

static void names_and_legend(void **state)
{
	(void)state;
	static const char *const names[] = {"X", "NV", "PIX", "PXB", "PHB", "NODE", "SYS"};
	for (int l = GM_LINK_X; l <= GM_LINK_SYS; l++) {
		assert_string_equal(gm_topo_link_name((enum gm_link)l), names[l]);
		assert_true(strlen(gm_topo_link_meaning((enum gm_link)l)) > 3);
	}
	assert_string_equal(gm_topo_link_meaning(GM_LINK_PIX),
	                    "Connection traversing at most a single PCIe bridge");
	assert_string_equal(gm_topo_link_name((enum gm_link)42), "?");
	struct gm_topo_cell c = {GM_LINK_NV, 12, GM_LINK_SYS};
	struct gm_buf b = GM_BUF_INIT;
	gm_topo_cell_str(&c, &b);
	assert_string_equal(gm_buf_cstr(&b), "NV12");
	gm_buf_release(&b);
	gm_topo_release(NULL);
	gm_topo_init(NULL);
}

static void json_document(void **state)
{
	(void)state;
	struct gm_topo t;
	struct gm_nvidia nv;
	struct gm_buf out = GM_BUF_INIT;
	struct gm_doc doc = {0};
	struct gm_err err = GM_ERR_INIT;
	load_xml(&t, "dgx-a100.xml");
	nv_init(&nv, dgx_nvml_bdfs, 8);
	for (size_t i = 0; i < 8; i++)
		add_links(&nv.gpus[i], 12, GM_NVLINK_REMOTE_SWITCH, "00000000:11:00.0");
	gm_topo_apply_nvlink(&t, &nv);
	gm_topo_to_json(&t, &out, true);
	assert_int_equal(gm_doc_load_string(&doc, "topo.json", out.data, out.len, &err), GM_OK);
	struct fy_node *root = gm_doc_root(&doc);
	assert_string_equal(gm_doc_map_key_at(root, 0), "schema");
	assert_string_equal(gm_doc_scalar(gm_doc_get(root, "schema")), "gpumigrate.topo/v1");
	assert_non_null(strstr(gm_doc_scalar(gm_doc_get(root, "source")), "xml:"));
	struct fy_node *devs = gm_doc_get(root, "devices");
	assert_int_equal(gm_doc_seq_len(devs), 16);
	struct fy_node *d4 = gm_doc_seq_at(devs, 4);
	assert_int_equal(gm_doc_map_len(d4), 5);
	assert_string_equal(gm_doc_scalar(gm_doc_get(d4, "name")), "GPU4");
	assert_string_equal(gm_doc_scalar(gm_doc_get(d4, "kind")), "gpu");
	assert_string_equal(gm_doc_scalar(gm_doc_get(d4, "bdf")), "0000:85:00.0");
	assert_string_equal(gm_doc_scalar(gm_doc_get(d4, "numa_node")), "1");
	assert_string_equal(gm_doc_scalar(gm_doc_get(d4, "cpu_affinity")), "64-127,192-255");
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_seq_at(devs, 9), "kind")), "nic");
	struct fy_node *m = gm_doc_get(root, "matrix");
	assert_int_equal(gm_doc_seq_len(m), 16);
	for (int i = 0; i < 16; i++) {
		struct fy_node *row = gm_doc_seq_at(m, i);
		assert_int_equal(gm_doc_seq_len(row), 16);
		char *want = gm_xstrdup(dgx_nv[i]);
		char *save = NULL;
		int j = 0;
		for (char *tok = strtok_r(want, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			assert_string_equal(gm_doc_scalar(gm_doc_seq_at(row, j++)), tok);
		free(want);
	}
	assert_int_equal(gm_doc_seq_len(gm_doc_get(root, "warnings")), 0);
	gm_doc_release(&doc);

	/* unknown NUMA node and CPU list are null, never 0 or "" */
	gm_fact_fail(&t.devs[0].numa_node.f, GM_FACT_UNSUPPORTED, "test");
	gm_fact_fail(&t.devs[0].cpu_affinity.f, GM_FACT_UNSUPPORTED, "test");
	gm_buf_reset(&out);
	gm_topo_to_json(&t, &out, false);
	assert_non_null(strstr(gm_buf_cstr(&out), "\"name\":\"GPU0\",\"kind\":\"gpu\",\"bdf\":"
	                                          "\"0000:05:00.0\",\"numa_node\":null,"
	                                          "\"cpu_affinity\":null}"));
	assert_int_equal(gm_doc_load_string(&doc, "topo.json", out.data, out.len, &err), GM_OK);
	gm_doc_release(&doc);
	gm_buf_release(&out);
	gm_err_release(&err);
	nv_free(&nv);
	gm_topo_release(&t);
}

int main(void)
{
	/* the environment must not steer the loads below */
	unsetenv("HWLOC_XMLFILE");
	unsetenv("HWLOC_FSROOT");
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(dgx_a100_pci_only),
	        cmocka_unit_test(dgx_a100_nvswitch),
	        cmocka_unit_test(nvlink_h100_and_uneven_switch_links),
	        cmocka_unit_test(pcie_8gpu_rdma),
	        cmocka_unit_test(nvlink_direct_bridges),
	        cmocka_unit_test(nvml_unusable_or_mismatched),
	        cmocka_unit_test(gce_vm_is_flat_and_virtual),
	        cmocka_unit_test(sysroot_tree),
	        cmocka_unit_test(environment_and_sources),
	        cmocka_unit_test(errors),
	        cmocka_unit_test(names_and_legend),
	        cmocka_unit_test(json_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

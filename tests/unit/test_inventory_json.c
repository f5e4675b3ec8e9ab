/* Unit tests for the inventory document: JSON output shape, unknown facts with reasons,
 * loading it back field by field, bad documents, and PCI address normalisation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hw/inventory.h"
#include "util/doc.h"
#include "util/xalloc.h"

static void sample(struct gm_inventory *inv)
{
	gm_inventory_init(inv);
	gm_fstr_set(&inv->collected_at, "2026-11-28T12:00:00Z");
	gm_fstr_set(&inv->tool_version, "0.1.0");
	struct gm_host *h = &inv->host;
	gm_fstr_set(&h->hostname, "gpu-01");
	gm_fstr_set(&h->kernel_cmdline, "ro quiet iommu=pt \"x\"");
	gm_fbool_set(&h->iommu_enabled, true);
	gm_fint_set(&h->cpu_sockets, 2);
	gm_fint_set(&h->memory_total_bytes, 549755813888);
	gm_fact_fail(&h->arch.f, GM_FACT_UNKNOWN, "not recorded in the root");
	gm_fact_set_ok(&h->pci_scan);
	h->n_pci = 1;
	h->pci = gm_xcalloc(1, sizeof(*h->pci));
	h->pci[0].bdf = gm_xstrdup("0000:17:00.0");
	h->pci[0].vendor = 0x10de;
	h->pci[0].device = 0x26b9;
	h->pci[0].class_code = 0x030200;
	gm_fstr_set(&h->pci[0].driver, "nvidia");
	gm_fint_set(&h->pci[0].numa_node, -1);
	gm_fact_fail(&h->pci[0].sriov_totalvfs.f, GM_FACT_UNSUPPORTED, "no SR-IOV capability");
	gm_fact_set_ok(&h->nic_scan);
	h->n_nics = 1;
	h->nics = gm_xcalloc(1, sizeof(*h->nics));
	h->nics[0].name = gm_xstrdup("ens\xff"
	                             "1");
	gm_fint_set(&h->nics[0].speed_mbps, 100000);

	struct gm_nvidia *nv = &inv->nvidia;
	nv->nvml.state = GM_FACT_OK;
	gm_fstr_set(&nv->driver_version, "550.90.07");
	gm_fint_set(&nv->cuda_driver_version, 12040);
	nv->n_gpus = 2;
	nv->gpus = gm_xcalloc(2, sizeof(*nv->gpus));
	nv->gpus[0].index = 0;
	gm_fstr_set(&nv->gpus[0].name, "NVIDIA A100-SXM4-40GB");
	gm_fint_set(&nv->gpus[0].memory_total_bytes, 42949672960);
	gm_fbool_set(&nv->gpus[0].ecc_enabled, true);
	gm_fact_fail(&nv->gpus[0].mig_enabled.f, GM_FACT_UNSUPPORTED, "Not Supported");
	nv->gpus[0].nvlink.state = GM_FACT_OK;
	nv->gpus[0].n_nvlinks = 2;
	nv->gpus[0].nvlinks = gm_xcalloc(2, sizeof(struct gm_nvlink));
	nv->gpus[0].nvlinks[0] =
	        (struct gm_nvlink){0, gm_xstrdup("0000:c4:00.0"), GM_NVLINK_REMOTE_SWITCH};
	nv->gpus[0].nvlinks[1] =
	        (struct gm_nvlink){3, gm_xstrdup("0000:04:00.0"), GM_NVLINK_REMOTE_GPU};
	nv->gpus[1].index = 1;
	gm_fact_fail(&nv->gpus[1].name.f, GM_FACT_ERROR, "GPU is lost");
	gm_fact_fail(&nv->gpus[1].nvlink, GM_FACT_ERROR, "GPU is lost");
}

static void json_shape(void **state)
{
	(void)state;
	struct gm_inventory inv;
	struct gm_buf out = GM_BUF_INIT;
	sample(&inv);
	gm_inventory_to_json(&inv, &out, false);
	const char *s = out.data;
	assert_true(strncmp(s, "{\"schema\":\"gpumigrate.inventory/v1\",\"collected_at\":", 50) ==
	            0);
	assert_non_null(strstr(s, "\"kernel_cmdline\":\"ro quiet iommu=pt \\\"x\\\"\""));
	assert_non_null(strstr(s, "\"arch\":null"));
	assert_non_null(strstr(s, "\"arch\":{\"state\":\"unknown\",\"reason\":\"not recorded "
	                          "in the root\"}"));
	assert_non_null(strstr(s, "\"pci_id\":\"10de:26b9\",\"class\":\"030200\""));
	assert_non_null(strstr(s, "\"numa_node\":-1"));
	assert_non_null(strstr(s, "\"sriov_totalvfs\":{\"state\":\"unsupported\""));
	assert_non_null(strstr(s, "\"name\":\"ens\xef\xbf\xbd"
	                          "1\""));
	assert_non_null(strstr(s, "\"mig_enabled\":null"));
	assert_non_null(
	        strstr(s, "{\"link\":3,\"remote_bdf\":\"0000:04:00.0\",\"remote\":\"gpu\"}"));
	assert_non_null(strstr(s, "\"nvlinks\":{\"state\":\"error\",\"reason\":\"GPU is lost\"}"));
	/* the YAML form reads back as the same document */
	struct gm_buf yaml = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(gm_doc_to_yaml(out.data, out.len, &yaml, &err), GM_OK);
	struct gm_inventory back;
	gm_inventory_init(&back);
	assert_int_equal(gm_inventory_parse(&back, "inv.yaml", yaml.data, yaml.len, &err), GM_OK);
	assert_string_equal(back.host.kernel_cmdline.v, "ro quiet iommu=pt \"x\"");
	gm_inventory_release(&back);
	gm_buf_release(&yaml);
	gm_err_release(&err);
	gm_buf_release(&out);
	gm_inventory_release(&inv);
}

static void round_trip(void **state)
{
	(void)state;
	struct gm_inventory inv, back;
	struct gm_buf out = GM_BUF_INIT, again = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	sample(&inv);
	gm_inventory_to_json(&inv, &out, true);
	gm_inventory_init(&back);
	assert_int_equal(gm_inventory_parse(&back, "inv.json", out.data, out.len, &err), GM_OK);
	assert_string_equal(back.host.hostname.v, "gpu-01");
	assert_int_equal(back.host.cpu_sockets.v, 2);
	assert_true(back.host.memory_total_bytes.v == 549755813888);
	assert_int_equal(back.host.arch.f.state, GM_FACT_UNKNOWN);
	assert_string_equal(back.host.arch.f.why, "not recorded in the root");
	/* a field absent from the file is unknown, with that said */
	assert_int_equal(back.host.os_id.f.state, GM_FACT_UNKNOWN);
	assert_int_equal(back.host.n_pci, 1);
	assert_int_equal(back.host.pci[0].device, 0x26b9);
	assert_int_equal(back.host.pci[0].class_code, 0x030200);
	assert_int_equal(back.host.pci[0].numa_node.v, -1);
	assert_int_equal(back.host.pci[0].sriov_totalvfs.f.state, GM_FACT_UNSUPPORTED);
	assert_true(gm_fact_ok(&back.nvidia.nvml));
	assert_int_equal(back.nvidia.n_gpus, 2);
	assert_int_equal(back.nvidia.cuda_driver_version.v, 12040);
	const struct gm_gpu *g = &back.nvidia.gpus[0];
	assert_string_equal(g->name.v, "NVIDIA A100-SXM4-40GB");
	assert_true(g->memory_total_bytes.v == 42949672960);
	assert_int_equal(g->mig_enabled.f.state, GM_FACT_UNSUPPORTED);
	assert_string_equal(g->mig_enabled.f.why, "Not Supported");
	assert_int_equal(g->n_nvlinks, 2);
	assert_int_equal(g->nvlinks[1].link, 3);
	assert_int_equal(g->nvlinks[1].remote, GM_NVLINK_REMOTE_GPU);
	assert_int_equal(g->nvlinks[0].remote, GM_NVLINK_REMOTE_SWITCH);
	assert_int_equal(back.nvidia.gpus[1].index, 1);
	assert_int_equal(back.nvidia.gpus[1].nvlink.state, GM_FACT_ERROR);
	assert_string_equal(back.nvidia.gpus[1].name.f.why, "GPU is lost");
	/* and writing it again gives the same bytes */
	gm_inventory_to_json(&back, &again, true);
	assert_string_equal(out.data, again.data);
	gm_inventory_release(&back);
	gm_inventory_release(&inv);
	gm_buf_release(&out);
	gm_buf_release(&again);
	gm_err_release(&err);
}

static void expect_parse_error(const char *text, const char *needle)
{
	struct gm_inventory inv;
	struct gm_err err = GM_ERR_INIT;
	gm_inventory_init(&inv);
	assert_int_equal(gm_inventory_parse(&inv, "bad.json", text, strlen(text), &err),
	                 GM_ERR_PARSE);
	if (!strstr(gm_err_msg(&err), needle))
		fail_msg("error '%s' does not mention '%s'", gm_err_msg(&err), needle);
	gm_inventory_release(&inv);
	gm_err_release(&err);
}

static void bad_documents(void **state)
{
	(void)state;
	expect_parse_error("[1, 2]", "bad.json:1:2: expected an inventory object");
	expect_parse_error(
	        "{\"schema\": \"gpumigrate.bench/v1\"}",
	        "schema 'gpumigrate.inventory/v1' expected, found 'gpumigrate.bench/v1'");
	expect_parse_error("{\"schema\": \"gpumigrate.inventory/v1\"}", "a 'host' object");
	expect_parse_error("{\"schema\": \"gpumigrate.inventory/v1\", \"host\": {\"cpu_sockets\": "
	                   "\"two\"}}",
	                   "bad.json:1:49: 'cpu_sockets' must be an integer");
	expect_parse_error("{\"schema\": \"gpumigrate.inventory/v1\", \"host\": {}, \"nvidia\": "
	                   "{\"nvml\": {\"state\": \"fine\"}}}",
	                   "state ok, unsupported, error or unknown");
	expect_parse_error("{\"schema\": \"gpumigrate.inventory/v1\", \"host\": {}, \"nvidia\": "
	                   "{\"nvml\": {\"state\": \"ok\"}, \"gpus\": [{\"name\": \"x\"}]}}",
	                   "'index' in every GPU");
	expect_parse_error("{\"schema\": \"gpumigrate.inventory/v1\", \"host\": {\"nics\": [{}]}}",
	                   "name");
	expect_parse_error("{\"schema\": \"gpumigrate.inventory/v1\",", "bad.json:");
}

/* A list that could not be read is null with its reason, and reads back the same way. */
static void unreadable_lists(void **state)
{
	(void)state;
	struct gm_inventory inv, back;
	struct gm_buf out = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_inventory_init(&inv);
	gm_fact_fail(&inv.host.pci_scan, GM_FACT_ERROR,
	             "cannot read /sys/bus/pci/devices: Permission denied");
	gm_fact_set_ok(&inv.host.nic_scan);
	gm_inventory_to_json(&inv, &out, false);
	assert_non_null(strstr(out.data, "\"nvidia_pci_devices\":null,\"nics\":[]"));
	assert_non_null(strstr(out.data,
	                       "\"nvidia_pci_devices\":{\"state\":\"error\",\"reason\":"
	                       "\"cannot read /sys/bus/pci/devices: Permission denied\"}"));
	gm_inventory_init(&back);
	assert_int_equal(gm_inventory_parse(&back, "x.json", out.data, out.len, &err), GM_OK);
	assert_int_equal(back.host.pci_scan.state, GM_FACT_ERROR);
	assert_string_equal(back.host.pci_scan.why,
	                    "cannot read /sys/bus/pci/devices: Permission denied");
	assert_true(gm_fact_ok(&back.host.nic_scan));
	gm_inventory_release(&back);
	gm_inventory_release(&inv);
	gm_buf_release(&out);
	gm_err_release(&err);
}

static void bdf_normalisation(void **state)
{
	(void)state;
	struct gm_buf b = GM_BUF_INIT;
	assert_true(gm_pci_bdf_norm("00000000:3B:00.0", &b));
	assert_string_equal(b.data, "0000:3b:00.0");
	assert_true(gm_pci_bdf_norm("0000:c4:1f.7", &b));
	assert_string_equal(b.data, "0000:c4:1f.7");
	assert_true(gm_pci_bdf_norm("3b:00.1", &b));
	assert_string_equal(b.data, "0000:3b:00.1");
	assert_false(gm_pci_bdf_norm("0000:3b:00", &b));
	assert_false(gm_pci_bdf_norm("0000:3b:20.0", &b)); /* device is 5 bits */
	assert_false(gm_pci_bdf_norm("0000:3b:00.8", &b));
	assert_false(gm_pci_bdf_norm("eth0", &b));
	assert_false(gm_pci_bdf_norm("", &b));
	assert_false(gm_pci_bdf_norm(NULL, &b));
	assert_false(gm_pci_bdf_norm("0000:3b:00.0x", &b));
	gm_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(json_shape),        cmocka_unit_test(round_trip),
	        cmocka_unit_test(bad_documents),     cmocka_unit_test(unreadable_lists),
	        cmocka_unit_test(bdf_normalisation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for compare: sides from catalog names, inventories and bench results; ratios,
 * GPUs and servers needed per profile and the warnings, all checked against figures worked
 * out by hand here from data/gpus.yaml (A100 SXM4 40GB: bf16 312, 1555 GB/s, 40 GB, HBM2,
 * NVSwitch in a2-highgpu-8g; L40S: bf16 362.05, fp8 733, 864 GB/s, 48 GB GDDR6, no NVLink). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "assess/compare.h"
#include "assess/plan.h"
#include "hw/inventory.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/xalloc.h"

static struct gm_catalog cat;

static int setup(void **state)
{
	(void)state;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_catalog_load(&cat, NULL, &err);
	gm_err_release(&err);
	return rc == GM_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	gm_catalog_release(&cat);
	return 0;
}

static const char *fixture(const char *name, struct gm_buf *b)
{
	const char *d = getenv("GM_FIXTURES");
	gm_buf_reset(b);
	gm_buf_addf(b, "%s/catalog/%s", d ? d : "tests/fixtures", name);
	return gm_buf_cstr(b);
}

static void resolve(struct gm_side *s, const char *spec)
{
	struct gm_err err = GM_ERR_INIT;
	if (gm_side_resolve(s, &cat, spec, &err) != GM_OK)
		fail_msg("%s: %s", spec, gm_err_msg(&err));
	gm_err_release(&err);
}

static const struct gm_compare_row *row(const struct gm_compare_result *r, const char *metric,
                                        bool total)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (strcmp(r->rows[i].metric, metric) == 0 && r->rows[i].total == total)
			return &r->rows[i];
	fail_msg("no row %s", metric);
	return NULL;
}

static const struct gm_compare_warning *find_warning(const struct gm_compare_result *r,
                                                     enum gm_warn_code code)
{
	for (size_t i = 0; i < r->n_warnings; i++)
		if (r->warnings[i].code == code)
			return &r->warnings[i];
	return NULL;
}

#define assert_near(a, b) \
	assert_true(fabs((double)(a) - (double)(b)) < 1e-9 * (fabs((double)(b)) + 1))

static void test_gpu_vs_gpu_ratios(void **state)
{
	(void)state;
	struct gm_side a, l;
	struct gm_compare_opts o;
	struct gm_compare_result r;
	resolve(&a, "gpu:a100-sxm4-40gb");
	resolve(&l, "gpu:l40s");
	assert_int_equal(a.kind, GM_SIDE_GPU);
	assert_int_equal(a.gpu_count, 1);
	assert_false(a.server);
	assert_int_equal(a.link, GM_IC_NONE);
	gm_compare_opts_init(&o);
	gm_compare_run(&a, &l, &o, &r);
	assert_int_equal(r.opts.precision, GM_PREC_BF16); /* both have bf16 */
	const struct gm_compare_row *bf = row(&r, "tflops.bf16", false);
	assert_true(bf->src.n.v == 312);
	assert_true(bf->tgt.n.v == 362.05);
	assert_int_equal(bf->src.src, GM_FIG_DATASHEET);
	assert_near(bf->ratio.v, 362.05 / 312);
	const struct gm_compare_row *bw = row(&r, "bandwidth_gbs", false);
	assert_near(bw->ratio.v, 864.0 / 1555);
	const struct gm_compare_row *mem = row(&r, "memory_gib", true);
	assert_near(mem->ratio.v, 48.0 / 40);
	/* FP8: the A100 has none, so there is no ratio (unknown, not 0 or inf) */
	const struct gm_compare_row *f8 = row(&r, "tflops.fp8", false);
	assert_false(f8->src.n.known);
	assert_true(f8->tgt.n.v == 733);
	assert_false(f8->ratio.known);
	/* one GPU each: no server count */
	assert_int_equal(r.n_profiles, 2);
	assert_true(r.profiles[0].gpus_needed.v == 1);
	assert_false(r.profiles[0].servers_needed.known);
	assert_true(r.profiles[1].gpus_needed.v == 2); /* 1555 / 864 = 1.8 */
	assert_non_null(find_warning(&r, GM_WARN_MEMORY_DOWNGRADE));
	assert_null(find_warning(&r, GM_WARN_FP8_MISSING));
	assert_null(find_warning(&r, GM_WARN_NVLINK_LOST)); /* one GPU on each side */
	assert_false(r.blocker);
	gm_compare_result_release(&r);
	gm_side_release(&a);
	gm_side_release(&l);
}

static void test_instance_vs_servers(void **state)
{
	(void)state;
	struct gm_side s, t;
	struct gm_compare_opts o;
	struct gm_compare_result r;
	resolve(&s, "gcp:a2-highgpu-8g");
	resolve(&t, "4xgpu:l40s");
	assert_int_equal(s.kind, GM_SIDE_INSTANCE);
	assert_int_equal(s.gpu_count, 8);
	assert_int_equal(s.link, GM_IC_NVSWITCH);
	assert_int_equal(t.gpu_count, 4);
	assert_true(t.server);
	assert_int_equal(t.link, GM_IC_PCIE); /* L40S: nvlink_gbs 0 */
	gm_compare_opts_init(&o);
	o.model_params = 70e9;
	gm_compare_run(&s, &t, &o, &r);

	const struct gm_compare_row *bf = row(&r, "tflops.bf16", true);
	assert_near(bf->src.n.v, 8 * 312.0);
	assert_near(bf->tgt.n.v, 4 * 362.05);
	assert_near(bf->ratio.v, (4 * 362.05) / (8 * 312.0));
	const struct gm_compare_row *bw = row(&r, "bandwidth_gbs", true);
	assert_near(bw->ratio.v, (4 * 864.0) / (8 * 1555.0));

	assert_int_equal(r.n_profiles, 3);
	const struct gm_compare_profile *tr = &r.profiles[0];
	assert_string_equal(tr->name, "training");
	assert_near(tr->src_total.v, 2496);
	assert_true(tr->gpus_needed.v == 7); /* 2496 / 362.05 = 6.89 */
	assert_true(tr->servers_needed.v == 2);
	const struct gm_compare_profile *inf = &r.profiles[1];
	assert_true(inf->gpus_needed.v == 15); /* 12440 / 864 = 14.4 */
	assert_true(inf->servers_needed.v == 4);
	const struct gm_compare_profile *cap = &r.profiles[2];
	double need = 70e9 * 2 * 1.2 / (1024.0 * 1024 * 1024); /* 156.46 GiB */
	assert_near(r.model_need_gib, need);
	assert_near(cap->src_total.v, need);
	assert_true(cap->gpus_needed.v == 4); /* 156.46 / 48 = 3.26 */
	assert_true(cap->servers_needed.v == 1);

	const struct gm_compare_warning *w = find_warning(&r, GM_WARN_MODEL_NO_FIT_GPU);
	assert_non_null(w);
	assert_false(w->blocker);
	assert_non_null(strstr(w->msg, "tensor parallelism over 4 GPUs"));
	assert_null(find_warning(&r, GM_WARN_MODEL_NO_FIT_TOTAL));
	w = find_warning(&r, GM_WARN_NVLINK_LOST);
	assert_non_null(w);
	assert_non_null(strstr(w->msg, "NVSwitch"));
	assert_non_null(find_warning(&r, GM_WARN_MEMORY_DOWNGRADE));
	assert_null(find_warning(&r, GM_WARN_LESS_MEMORY)); /* 48 > 40 */
	assert_false(r.blocker);
	gm_compare_result_release(&r);

	/* 405B: 905 GiB, more than the 192 GiB of the four L40S: a blocker */
	o.model_params = 405e9;
	gm_compare_run(&s, &t, &o, &r);
	w = find_warning(&r, GM_WARN_MODEL_NO_FIT_TOTAL);
	assert_non_null(w);
	assert_true(w->blocker);
	assert_true(r.blocker);
	assert_true(r.profiles[2].gpus_needed.v == 19); /* 905.2 / 48 = 18.9 */
	assert_true(r.profiles[2].servers_needed.v == 5);
	gm_compare_result_release(&r);

	/* fp16 asked for explicitly; 1 byte per parameter */
	o.model_params = 70e9;
	o.bytes_per_param = 1;
	o.overhead = 1;
	o.precision = GM_PREC_FP16;
	o.precision_set = true;
	gm_compare_run(&s, &t, &o, &r);
	assert_int_equal(r.opts.precision, GM_PREC_FP16);
	assert_near(r.model_need_gib, 70e9 / (1024.0 * 1024 * 1024));
	assert_true(r.profiles[2].gpus_needed.v == 2); /* 65.2 / 48 */
	gm_compare_result_release(&r);
	gm_side_release(&s);
	gm_side_release(&t);
}

static void test_warnings(void **state)
{
	(void)state;
	struct gm_side h, a, v, t4;
	struct gm_compare_opts o;
	struct gm_compare_result r;
	resolve(&h, "8xgpu:h100");
	resolve(&a, "8xgpu:a100");
	resolve(&v, "gpu:v100");
	resolve(&t4, "t4"); /* a bare GPU name */
	assert_int_equal(h.link, GM_IC_NVLINK);
	assert_true(h.link_assumed);
	gm_compare_opts_init(&o);
	gm_compare_run(&h, &a, &o, &r);
	assert_non_null(find_warning(&r, GM_WARN_FP8_MISSING));
	assert_null(find_warning(&r, GM_WARN_NVLINK_LOST)); /* NVLink on both */
	assert_false(r.blocker);
	gm_compare_result_release(&r);

	/* CUDA 13 needs CC 7.5: the V100 (7.0) is a blocker, the T4 (7.5) is fine */
	o.require_cuda = true;
	o.cuda_major = 13;
	o.cuda_minor = 0;
	gm_compare_run(&t4, &v, &o, &r);
	const struct gm_compare_warning *w = find_warning(&r, GM_WARN_CC_TOO_LOW);
	assert_non_null(w);
	assert_true(w->blocker);
	assert_non_null(strstr(w->msg, "7.5"));
	assert_true(r.blocker);
	/* V100 has no bf16: the training profile falls back to fp16 */
	assert_int_equal(r.opts.precision, GM_PREC_FP16);
	gm_compare_result_release(&r);
	gm_compare_run(&v, &t4, &o, &r);
	assert_null(find_warning(&r, GM_WARN_CC_TOO_LOW));
	assert_false(r.blocker);
	gm_compare_result_release(&r);
	o.cuda_major = 12;
	o.cuda_minor = 4;
	gm_compare_run(&t4, &v, &o, &r);
	assert_null(find_warning(&r, GM_WARN_CC_TOO_LOW));
	gm_compare_result_release(&r);

	/* less memory per GPU: H100 80 GB to T4 16 GB; bf16 asked for but the T4 has none */
	gm_compare_opts_init(&o);
	o.precision_set = true;
	o.precision = GM_PREC_BF16;
	gm_compare_run(&h, &t4, &o, &r);
	assert_non_null(find_warning(&r, GM_WARN_LESS_MEMORY));
	assert_non_null(find_warning(&r, GM_WARN_NVLINK_LOST));
	assert_false(r.profiles[0].gpus_needed.known);
	assert_non_null(r.profiles[0].why);
	assert_non_null(strstr(r.profiles[0].why, "target has no bf16"));
	gm_compare_result_release(&r);

	assert_int_equal(gm_compare_cuda_min_cc(13, 0), 75);
	assert_int_equal(gm_compare_cuda_min_cc(13, 2), 75);
	assert_int_equal(gm_compare_cuda_min_cc(12, 9), 50);
	assert_int_equal(gm_compare_cuda_min_cc(12, 0), 50);
	assert_int_equal(gm_compare_cuda_min_cc(11, 8), 35);
	assert_int_equal(gm_compare_cuda_min_cc(10, 2), 30);
	assert_int_equal(gm_compare_cuda_min_cc(8, 0), 0);
	gm_side_release(&h);
	gm_side_release(&a);
	gm_side_release(&v);
	gm_side_release(&t4);
}

static void expect_bad(const char *spec, enum gm_rc want_rc, const char *want)
{
	struct gm_side s;
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_side_resolve(&s, &cat, spec, &err);
	assert_int_equal(rc, want_rc);
	if (!strstr(gm_err_msg(&err), want))
		fail_msg("'%s': got '%s', want '%s'", spec, gm_err_msg(&err), want);
	assert_null(s.gpu);
	gm_side_release(&s);
	gm_err_release(&err);
}

static void test_bad_sides(void **state)
{
	(void)state;
	expect_bad("gpu:l40", GM_ERR_USAGE, "unknown GPU 'l40' (did you mean 'l40s'?)");
	expect_bad("4xgpu:h10", GM_ERR_USAGE, "unknown GPU 'h10' (did you mean 'h100'?)");
	expect_bad("gpu:quantum", GM_ERR_USAGE, "unknown GPU 'quantum' (see 'gpumigrate");
	expect_bad("0xgpu:t4", GM_ERR_USAGE, "between 1 and 1024");
	expect_bad("99999xgpu:t4", GM_ERR_USAGE, "between 1 and 1024");
	expect_bad("gcp:a2-higpu-8g", GM_ERR_USAGE,
	           "unknown instance type 'gcp:a2-higpu-8g' (did you mean 'gcp:a2-highgpu-8g'?)");
	expect_bad("nowhere/inv.json", GM_ERR_USAGE, "cannot read 'nowhere/inv.json'");
	expect_bad("", GM_ERR_USAGE, "empty");
	struct gm_buf p = GM_BUF_INIT;
	expect_bad(fixture("override/cloud.yaml", &p), GM_ERR_PARSE,
	           "compare reads gpumigrate.inventory/v1 and gpumigrate.bench/v1");
	gm_buf_release(&p);
}

static void test_bench(void **state)
{
	(void)state;
	struct gm_buf p = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_side t, b;
	resolve(&t, "4xgpu:l40s");
	assert_false(t.measured);
	assert_int_equal(gm_side_apply_bench(&t, &cat, fixture("bench-l40s.json", &p), &err),
	                 GM_OK);
	assert_true(t.measured);
	assert_true(t.tflops[GM_PREC_BF16].n.v == 298.25);
	assert_int_equal(t.tflops[GM_PREC_BF16].src, GM_FIG_MEASURED);
	assert_true(t.tflops[GM_PREC_FP16].n.v == 301.5);
	assert_true(t.tflops[GM_PREC_FP8].n.v == 733); /* not measured: datasheet stays */
	assert_int_equal(t.tflops[GM_PREC_FP8].src, GM_FIG_DATASHEET);
	assert_true(t.bandwidth_gbs.n.v == 780);
	assert_int_equal(t.bandwidth_gbs.src, GM_FIG_MEASURED);

	/* a bench from another GPU model is refused */
	assert_int_equal(gm_side_apply_bench(&t, &cat, fixture("bench-t4.json", &p), &err),
	                 GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "was measured on NVIDIA T4"));

	/* measured numbers flow into the profiles: 2496 / 298.25 = 8.37 -> 9 */
	struct gm_side s;
	struct gm_compare_opts o;
	struct gm_compare_result r;
	resolve(&s, "gcp:a2-highgpu-8g");
	gm_compare_opts_init(&o);
	gm_compare_run(&s, &t, &o, &r);
	assert_true(r.profiles[0].gpus_needed.v == 9);
	assert_true(r.profiles[1].gpus_needed.v == 16); /* 12440 / 780 = 15.9 */
	const struct gm_compare_row *bf = row(&r, "tflops.bf16", false);
	assert_int_equal(bf->tgt.src, GM_FIG_MEASURED);
	assert_near(bf->ratio.v, 298.25 / 312);
	gm_compare_result_release(&r);

	/* a bench result as a side by itself */
	resolve(&b, fixture("bench-t4.json", &p));
	assert_int_equal(b.kind, GM_SIDE_BENCH);
	assert_string_equal(b.gpu->id, "t4");
	assert_int_equal(b.gpu_count, 1);
	assert_true(b.tflops[GM_PREC_FP16].n.v == 41.0);
	assert_true(b.measured);
	gm_side_release(&b);
	gm_side_release(&s);
	gm_side_release(&t);
	gm_buf_release(&p);
	gm_err_release(&err);
}

static void write_inventory(const char *path, bool nvswitch)
{
	struct gm_inventory inv;
	struct gm_buf json = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	gm_inventory_init(&inv);
	gm_fstr_set(&inv.host.hostname, "dgx-07");
	inv.nvidia.nvml.state = GM_FACT_OK;
	inv.nvidia.n_gpus = 2;
	inv.nvidia.gpus = gm_xcalloc(2, sizeof(*inv.nvidia.gpus));
	for (unsigned i = 0; i < 2; i++) {
		struct gm_gpu *g = &inv.nvidia.gpus[i];
		g->index = i;
		gm_fstr_set(&g->name, "NVIDIA H100 80GB HBM3");
		gm_fint_set(&g->memory_total_bytes, 81559LL * 1024 * 1024);
		gm_fstr_set(&g->compute_capability, "9.0");
		gm_fint_set(&g->pcie_gen_max, 5);
		if (nvswitch) {
			g->nvlink.state = GM_FACT_OK;
			g->n_nvlinks = 1;
			g->nvlinks = gm_xcalloc(1, sizeof(*g->nvlinks));
			g->nvlinks[0].remote = GM_NVLINK_REMOTE_SWITCH;
			g->nvlinks[0].remote_bdf = gm_xstrdup("0000:c4:00.0");
		} else {
			gm_fact_fail(&g->nvlink, GM_FACT_UNSUPPORTED, "Not Supported");
		}
	}
	gm_inventory_to_json(&inv, &json, true);
	assert_int_equal(gm_fs_write_atomic(path, json.data, json.len, &err), GM_OK);
	gm_buf_release(&json);
	gm_err_release(&err);
	gm_inventory_release(&inv);
}

static void test_inventory_side(void **state)
{
	(void)state;
	char path[] = "/tmp/gm-test-compare-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_inventory(path, true);
	struct gm_side s;
	resolve(&s, path);
	assert_int_equal(s.kind, GM_SIDE_INVENTORY);
	assert_string_equal(s.gpu->id, "h100-sxm5-80gb");
	assert_int_equal(s.gpu_count, 2);
	assert_true(s.server);
	assert_int_equal(s.link, GM_IC_NVSWITCH);
	assert_int_equal(s.memory_gib.src, GM_FIG_INVENTORY);
	assert_near(s.memory_gib.n.v, 81559.0 / 1024);
	assert_true(s.pcie_gen.n.v == 5);
	assert_int_equal(s.tflops[GM_PREC_BF16].src, GM_FIG_DATASHEET);
	assert_non_null(strstr(s.title, "dgx-07"));
	gm_side_release(&s);

	write_inventory(path, false); /* NVLink "Not Supported": PCIe only */
	resolve(&s, path);
	assert_int_equal(s.link, GM_IC_PCIE);
	gm_side_release(&s);
	unlink(path);
}

static void test_json(void **state)
{
	(void)state;
	struct gm_side s, t;
	struct gm_compare_opts o;
	struct gm_compare_result r;
	struct gm_buf out = GM_BUF_INIT;
	struct gm_doc doc = {0};
	struct gm_err err = GM_ERR_INIT;
	resolve(&s, "gcp:a2-highgpu-8g");
	resolve(&t, "4xgpu:l40s");
	gm_compare_opts_init(&o);
	o.model_params = 405e9;
	gm_compare_run(&s, &t, &o, &r);
	gm_compare_to_json(&r, &out, true);
	assert_int_equal(gm_doc_load_string(&doc, "compare.json", out.data, out.len, &err), GM_OK);
	struct fy_node *root = gm_doc_root(&doc);
	assert_string_equal(gm_doc_scalar(gm_doc_get(root, "schema")), GM_COMPARE_SCHEMA);
	assert_string_equal(gm_doc_scalar(gm_doc_get(root, "precision")), "bf16");
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_get(root, "source"), "gpu")),
	                    "a100-sxm4-40gb");
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_get(root, "target"), "interconnect")),
	                    "pcie");
	struct fy_node *rows = gm_doc_get(root, "rows");
	assert_int_equal(gm_doc_seq_len(rows), 7 * 2 + 2 * 2 + 2);
	struct fy_node *r0 = gm_doc_seq_at(rows, 0);
	assert_string_equal(gm_doc_scalar(gm_doc_get(r0, "metric")), "tflops.fp64");
	assert_true(gm_doc_is_null(gm_doc_get(r0, "ratio"))); /* L40S: no fp64 figure */
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_get(r0, "source"), "source")),
	                    "datasheet");
	struct fy_node *prof = gm_doc_get(root, "profiles");
	assert_int_equal(gm_doc_seq_len(prof), 3);
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_seq_at(prof, 0), "target_gpus_needed")),
	                    "7");
	assert_string_equal(gm_doc_scalar(gm_doc_get(root, "blocker")), "true");
	struct fy_node *ws = gm_doc_get(root, "warnings");
	assert_string_equal(gm_doc_scalar(gm_doc_get(gm_doc_seq_at(ws, 0), "code")),
	                    "model-does-not-fit");
	gm_doc_release(&doc);
	gm_buf_release(&out);
	gm_err_release(&err);
	gm_compare_result_release(&r);
	gm_side_release(&s);
	gm_side_release(&t);
}

static void test_model_size(void **state)
{
	(void)state;
	double p = 0;
	assert_true(gm_parse_params("70B", &p));
	assert_true(p == 70e9);
	assert_true(gm_parse_params("7b", &p));
	assert_true(p == 7e9);
	assert_true(gm_parse_params("1.5T", &p));
	assert_true(p == 1.5e12);
	assert_true(gm_parse_params("350M", &p));
	assert_true(p == 350e6);
	assert_true(gm_parse_params("125000000", &p));
	assert_true(p == 125e6);
	assert_false(gm_parse_params("70BB", &p));
	assert_false(gm_parse_params("-5B", &p));
	assert_false(gm_parse_params("B", &p));
	assert_false(gm_parse_params("", &p));
	assert_false(gm_parse_params(" 7B", &p));
	assert_false(gm_parse_params("nanB", &p));
	assert_false(gm_parse_params("1e30", &p));
	assert_false(gm_parse_params("0", &p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_gpu_vs_gpu_ratios),
	        cmocka_unit_test(test_instance_vs_servers),
	        cmocka_unit_test(test_warnings),
	        cmocka_unit_test(test_bad_sides),
	        cmocka_unit_test(test_bench),
	        cmocka_unit_test(test_inventory_side),
	        cmocka_unit_test(test_json),
	        cmocka_unit_test(test_model_size),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

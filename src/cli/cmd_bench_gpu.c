/* `gpumigrate bench gpu`: measures copy bandwidths and GEMM throughput on this host's GPUs,
 * sets them against the catalog's datasheet figures, and writes a result `compare` and
 * `bench compare` read. No driver or no GPU is a skip (exit 5), not an error. */
#include "cli/bench_cmds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assess/catalog.h"
#include "assess/plan.h"
#include "bench/gpu.h"
#include "bench/result.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/table.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum {
	OPT_DEVICE = 'd',
	OPT_TESTS = 1000,
	OPT_PRECISION,
	OPT_SIZE,
	OPT_COPY_SIZE,
	OPT_REPEATS = 'r',
	OPT_WARMUP = 1100,
	OPT_CATALOG,
	OPT_OUTPUT = 'o',
};

const struct gm_opt gm_cmd_bench_gpu_opts[] = {
        {OPT_DEVICE, "device", 'd', GM_ARG_REQUIRED, "N",
         "measure only GPU N (CUDA ordinal; default every GPU)", NULL},
        {OPT_TESTS, "tests", 0, GM_ARG_REQUIRED, "LIST",
         "comma-separated tests: h2d, d2h, d2d, p2p, gemm (default all)", NULL},
        {OPT_PRECISION, "precision", 0, GM_ARG_REQUIRED, "LIST",
         "GEMM precisions: fp32, tf32, fp16, bf16 (default all)", NULL},
        {OPT_SIZE, "size", 0, GM_ARG_REQUIRED, "N", "GEMM size m = n = k (default 8192)", NULL},
        {OPT_COPY_SIZE, "copy-size", 0, GM_ARG_REQUIRED, "SIZE", "bytes per copy (default 256MiB)",
         NULL},
        {OPT_REPEATS, "repeats", 'r', GM_ARG_REQUIRED, "N",
         "timed samples per figure; the median is reported (default 10)", NULL},
        {OPT_WARMUP, "warmup", 0, GM_ARG_REQUIRED, "N",
         "untimed runs before the samples (default 2)", NULL},
        {OPT_CATALOG, "catalog", 0, GM_ARG_REQUIRED, "DIR",
         "catalog files that override the built-in ones (datasheet peaks)", "dir"},
        {OPT_OUTPUT, "output", 'o', GM_ARG_REQUIRED, "FILE",
         "write the result document (gpumigrate.bench/v1) to FILE", "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

static bool parse_list(const char *s, const char *const *names, unsigned *mask)
{
	*mask = 0;
	const char *p = s;
	while (*p) {
		size_t len = strcspn(p, ",");
		bool found = false;
		for (unsigned i = 0; names[i]; i++) {
			if (strlen(names[i]) == len && strncasecmp(p, names[i], len) == 0) {
				*mask |= 1u << i;
				found = true;
			}
		}
		if (!found)
			return false;
		p += len;
		if (*p == ',')
			p++;
	}
	return *mask != 0;
}

static bool parse_int(const char *s, int64_t min, int64_t max, int *out)
{
	int64_t v;
	if (gm_parse_i64(s, 10, &v) != GM_OK || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

/* The value of option flag (in cli->optarg) as a number from min to max into *out; false,
 * with the usage error "FLAG 'VALUE': expected EXPECTED" (default "MIN to MAX") in *code,
 * when it is not one. */
static bool int_opt(struct gm_cli *cli, const char *flag, int64_t min, int64_t max,
                    const char *expected, int *out, int *code)
{
	if (parse_int(cli->optarg, min, max, out))
		return true;
	if (expected)
		*code = gm_cli_usage_error(cli, "%s '%s': expected %s", flag, cli->optarg,
		                           expected);
	else
		*code = gm_cli_usage_error(cli, "%s '%s': expected %lld to %lld", flag, cli->optarg,
		                           (long long)min, (long long)max);
	return false;
}

/* The value of option flag as a comma-separated list of names into *mask; false, with
 * the usage error "FLAG 'VALUE': expected a list of NAME, NAME…" in *code, when it is not
 * one. */
static bool list_opt(struct gm_cli *cli, const char *flag, const char *const *names, unsigned *mask,
                     int *code)
{
	if (parse_list(cli->optarg, names, mask))
		return true;
	struct gm_buf list = GM_BUF_INIT;
	for (size_t i = 0; names[i]; i++)
		gm_buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
	*code = gm_cli_usage_error(cli, "%s '%s': expected a list of %s", flag, cli->optarg,
	                           gm_buf_cstr(&list));
	gm_buf_release(&list);
	return false;
}

/* The datasheet peak a figure is held to, or unknown. D2D copies count bytes copied; the
 * memory moves twice that (read and write), which is what the datasheet bandwidth counts. */
static struct gm_num peak_of(const struct gm_bench_gpu_fig *f, const struct gm_gpu_spec *g,
                             double *scale)
{
	*scale = 1;
	if (!g)
		return GM_NUM_UNKNOWN;
	if (f->kind == GM_FIG_GEMM) {
		static const enum gm_precision map[] = {GM_PREC_FP32, GM_PREC_TF32, GM_PREC_FP16,
		                                        GM_PREC_BF16};
		return g->tflops[map[f->prec]];
	}
	if (f->kind == GM_FIG_COPY && strstr(f->name, ".d2d")) {
		*scale = 2;
		return g->memory_bandwidth_gbs;
	}
	return GM_NUM_UNKNOWN;
}

/* peak_of for f with the catalog entry (specs, one per r->devs) of the GPU it ran on. */
static struct gm_num device_peak(const struct gm_bench_gpu_result *r,
                                 const struct gm_gpu_spec *const *specs,
                                 const struct gm_bench_gpu_fig *f, double *scale)
{
	const struct gm_gpu_spec *g = NULL;
	for (int k = 0; k < r->n_devs; k++)
		if (r->devs[k].index == f->device)
			g = specs[k];
	return peak_of(f, g, scale);
}

static void render(const struct gm_cli *cli, const struct gm_bench_gpu_result *r,
                   const struct gm_gpu_spec *const *specs, struct gm_buf *out)
{
	for (int i = 0; i < r->n_devs; i++) {
		const struct gm_bench_gpu_dev *d = &r->devs[i];
		gm_buf_addf(out, "GPU %d: %s, %.1f GiB, compute capability %d.%d%s%s\n", d->index,
		            d->name, (double)d->memory_bytes / (1 << 30), d->cc_major, d->cc_minor,
		            specs[i] ? ", catalog " : " (not in the catalog: no datasheet peak)",
		            specs[i] ? specs[i]->id : "");
	}
	gm_buf_addf(out, "CUDA driver %d.%d\n\n", r->driver_version / 1000,
	            r->driver_version % 1000 / 10);
	static const char *const headers[] = {"figure",    "median",  "unit",
	                                      "datasheet", "of peak", "check"};
	struct gm_table t;
	gm_table_init(&t, 6, headers);
	gm_table_align_right(&t, 1);
	gm_table_align_right(&t, 3);
	gm_table_align_right(&t, 4);
	for (size_t i = 0; i < r->n_figs; i++) {
		const struct gm_bench_gpu_fig *f = &r->figs[i];
		double scale;
		struct gm_num peak = device_peak(r, specs, f, &scale);
		gm_table_add_row(&t);
		gm_table_set(&t, 0, f->name, GM_COLOR_NONE);
		if (f->n_samples)
			gm_table_setf(&t, 1, GM_COLOR_BOLD, "%.1f", f->median);
		else
			gm_table_set(&t, 1, "-", GM_COLOR_DIM);
		gm_table_set(&t, 2, f->unit, GM_COLOR_NONE);
		if (peak.known) {
			gm_table_setf(&t, 3, GM_COLOR_NONE, "%.1f", peak.v);
			if (f->n_samples && peak.v > 0)
				gm_table_setf(&t, 4, GM_COLOR_NONE, "%.0f%%",
				              100 * f->median * scale / peak.v);
		}
		gm_table_set(&t, 5,
		             !f->checked   ? "-"
		             : f->check_ok ? "ok"
		                           : "WRONG",
		             !f->checked   ? GM_COLOR_DIM
		             : f->check_ok ? GM_COLOR_GREEN
		                           : GM_COLOR_RED);
	}
	gm_table_render(&t, cli->color_stdout, out);
	gm_table_release(&t);
	bool d2d = false;
	for (size_t i = 0; i < r->n_figs; i++) {
		if (r->figs[i].note[0])
			gm_buf_addf(out, "note: %s: %s\n", r->figs[i].name, r->figs[i].note);
		d2d |= strstr(r->figs[i].name, ".d2d") != NULL;
	}
	if (d2d)
		gm_buf_adds(out,
		            "d2d counts bytes copied; its share of the datasheet bandwidth counts "
		            "the read and the write\n");
}

/* The members `gpumigrate compare` reads: gpu {name, count} and results {gemm_tflops,
 * memory_bandwidth_gbs}, per GPU, from the first GPU measured. */
static void compare_members(const struct gm_bench_gpu_result *r, struct gm_bench_result *doc)
{
	struct gm_buf b = GM_BUF_INIT;
	struct gm_json j;
	if (r->n_devs == 0)
		return;
	gm_json_init(&j, &b, false);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "name", r->devs[0].name);
	gm_json_int(&j, "count", r->n_devs);
	gm_json_end_object(&j);
	gm_bench_result_set_raw(doc, "gpu", gm_buf_cstr(&b), NULL);
	gm_buf_reset(&b);
	gm_json_init(&j, &b, false);
	gm_json_begin_object(&j, NULL);
	gm_json_begin_object(&j, "gemm_tflops");
	for (size_t i = 0; i < r->n_figs; i++) {
		const struct gm_bench_gpu_fig *f = &r->figs[i];
		if (f->kind == GM_FIG_GEMM && f->device == r->devs[0].index && f->n_samples &&
		    f->check_ok)
			gm_json_double(&j, gm_bench_gemm_prec_name(f->prec), f->median);
	}
	gm_json_end_object(&j);
	for (size_t i = 0; i < r->n_figs; i++) {
		const struct gm_bench_gpu_fig *f = &r->figs[i];
		if (f->kind == GM_FIG_COPY && f->device == r->devs[0].index &&
		    strstr(f->name, ".d2d") && f->n_samples && f->check_ok)
			gm_json_double(&j, "memory_bandwidth_gbs", 2 * f->median);
	}
	gm_json_end_object(&j);
	gm_bench_result_set_raw(doc, "results", gm_buf_cstr(&b), NULL);
	gm_buf_release(&b);
}

static void details_json(const struct gm_bench_gpu_opts *o, const struct gm_bench_gpu_result *r,
                         const struct gm_gpu_spec *const *specs, struct gm_bench_result *doc)
{
	struct gm_buf b = GM_BUF_INIT;
	struct gm_json j;
	gm_json_init(&j, &b, false);
	gm_json_begin_object(&j, NULL);
	gm_json_int(&j, "device", o->device);
	gm_json_uint(&j, "copy_bytes", o->copy_bytes);
	gm_json_int(&j, "copy_loops", o->copy_loops);
	gm_json_int(&j, "gemm_n", o->gemm_n);
	gm_json_int(&j, "repeats", o->repeats);
	gm_json_int(&j, "warmup", o->warmup);
	gm_json_int(&j, "cuda_driver_version", r->driver_version);
	gm_json_begin_array(&j, "devices");
	for (int i = 0; i < r->n_devs; i++) {
		gm_json_begin_object(&j, NULL);
		gm_json_int(&j, "index", r->devs[i].index);
		gm_json_str(&j, "name", r->devs[i].name);
		gm_json_uint(&j, "memory_bytes", r->devs[i].memory_bytes);
		gm_json_int(&j, "cc_major", r->devs[i].cc_major);
		gm_json_int(&j, "cc_minor", r->devs[i].cc_minor);
		if (specs[i])
			gm_json_str(&j, "catalog_gpu", specs[i]->id);
		else
			gm_json_null(&j, "catalog_gpu");
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	gm_bench_result_set_raw(doc, "params", gm_buf_cstr(&b), NULL);

	gm_buf_reset(&b);
	gm_json_init(&j, &b, false);
	gm_json_begin_array(&j, NULL);
	for (size_t i = 0; i < r->n_figs; i++) {
		const struct gm_bench_gpu_fig *f = &r->figs[i];
		double scale;
		struct gm_num peak = device_peak(r, specs, f, &scale);
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "figure", f->name);
		if (f->n_samples)
			gm_json_double(&j, "median", f->median);
		else
			gm_json_null(&j, "median");
		gm_json_str(&j, "unit", f->unit);
		if (peak.known) {
			gm_json_double(&j, "datasheet_peak", peak.v);
			gm_json_double(&j, "fraction_of_peak",
			               f->n_samples && peak.v > 0 ? f->median * scale / peak.v
			                                          : NAN);
		} else {
			gm_json_null(&j, "datasheet_peak");
			gm_json_null(&j, "fraction_of_peak");
		}
		if (f->checked)
			gm_json_bool(&j, "check_ok", f->check_ok);
		else
			gm_json_null(&j, "check_ok");
		if (f->kind == GM_FIG_GEMM && f->checked)
			gm_json_double(&j, "max_relative_error", f->max_error);
		if (f->note[0])
			gm_json_str(&j, "note", f->note);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_bench_result_set_raw(doc, "checks", gm_buf_cstr(&b), NULL);
	gm_buf_release(&b);
}

int gm_cmd_bench_gpu(struct gm_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static const char *const test_names[] = {"h2d", "d2h", "d2d", "p2p", "gemm", NULL};
	static const char *const prec_names[] = {"fp32", "tf32", "fp16", "bf16", NULL};
	struct gm_bench_gpu_opts o;
	struct gm_bench_gpu_result r;
	struct gm_bench_result doc;
	struct gm_catalog cat;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	const struct gm_gpu_spec **specs = NULL;
	const char *catalog_dir = NULL, *output = NULL;
	uint64_t u;
	int code = GM_EXIT_OK, id;

	gm_bench_gpu_opts_default(&o);
	gm_bench_gpu_result_init(&r);
	gm_bench_result_init(&doc);
	gm_catalog_init(&cat);
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: goto out;
		case OPT_DEVICE:
			if (!int_opt(cli, "--device", 0, 1023, "a GPU ordinal", &o.device, &code))
				goto out;
			break;
		case OPT_TESTS:
			if (!list_opt(cli, "--tests", test_names, &o.tests, &code))
				goto out;
			break;
		case OPT_PRECISION:
			if (!list_opt(cli, "--precision", prec_names, &o.precs, &code))
				goto out;
			break;
		case OPT_SIZE:
			if (!int_opt(cli, "--size", 16, 65536, NULL, &o.gemm_n, &code))
				goto out;
			break;
		case OPT_COPY_SIZE:
			if (!gm_parse_size(cli->optarg, &u) || u < 4096 ||
			    u > ((uint64_t)64 << 30)) {
				code = gm_cli_usage_error(
				        cli,
				        "--copy-size '%s': expected a size from 4KiB "
				        "to 64GiB",
				        cli->optarg);
				goto out;
			}
			o.copy_bytes = (size_t)u;
			break;
		case OPT_REPEATS:
			if (!int_opt(cli, "--repeats", 1, 10000, NULL, &o.repeats, &code))
				goto out;
			break;
		case OPT_WARMUP:
			if (!int_opt(cli, "--warmup", 0, 1000, NULL, &o.warmup, &code))
				goto out;
			break;
		case OPT_CATALOG: catalog_dir = cli->optarg; break;
		case OPT_OUTPUT: output = cli->optarg; break;
		default: code = gm_cli_usage_error(cli, "unhandled option"); goto out;
		}
	}
	int n_args;
	char **args = gm_cli_args(cli, &n_args);
	if (n_args > 0) {
		code = gm_cli_usage_error(cli, "unexpected argument '%s'", args[0]);
		goto out;
	}
	if (gm_catalog_load(&cat, catalog_dir, &err) != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	enum gm_rc rc = gm_bench_gpu_run(&o, &r, &err);
	if (rc == GM_ERR_NO_DRIVER) {
		/* stdout, one line: scripts that run bench gpu everywhere see why nothing came. */
		gm_buf_adds(&out, "no NVIDIA GPU/driver: nothing to measure\n");
		gm_info("%s", gm_err_msg(&err));
		code = gm_cli_emit(&out);
		if (code == GM_EXIT_OK)
			code = GM_EXIT_SKIPPED;
		goto out;
	}
	if (rc != GM_OK) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	specs = gm_xcalloc((size_t)r.n_devs + 1, sizeof(const struct gm_gpu_spec *));
	for (int i = 0; i < r.n_devs; i++) {
		specs[i] = gm_catalog_find_gpu(&cat, r.devs[i].name);
		if (!specs[i])
			gm_warn("'%s' is not in the catalog: no datasheet peak to compare with",
			        r.devs[i].name);
	}

	gm_bench_result_begin(&doc, "gpu");
	for (size_t i = 0; i < r.n_figs; i++) {
		const struct gm_bench_gpu_fig *fg = &r.figs[i];
		if (!fg->n_samples)
			continue;
		struct gm_bench_figure *f =
		        gm_bench_result_add_figure(&doc, fg->name, fg->unit, GM_BETTER_HIGHER);
		if (!f)
			continue;
		for (size_t k = 0; k < fg->n_samples; k++)
			gm_bench_figure_add_sample(f, fg->samples[k]);
		gm_bench_figure_summarize(f);
	}
	compare_members(&r, &doc);
	details_json(&o, &r, specs, &doc);
	code = gm_bench_cli_save(cli, &doc, false, output, &out);
	if (code != GM_EXIT_OK)
		goto out;
	if (!cli->json)
		render(cli, &r, specs, &out);
	code = gm_cli_emit(&out);
	for (size_t i = 0; i < r.n_figs && code == GM_EXIT_OK; i++) {
		if (r.figs[i].checked && !r.figs[i].check_ok) {
			gm_error("'%s' produced wrong results: %s", r.figs[i].name, r.figs[i].note);
			code = GM_EXIT_FINDINGS;
		}
	}
out:
	free(specs);
	gm_catalog_release(&cat);
	gm_bench_result_release(&doc);
	gm_bench_gpu_result_release(&r);
	gm_buf_release(&out);
	gm_err_release(&err);
	return code;
}

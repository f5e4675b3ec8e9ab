/* `gpumigrate compare SRC TGT`: the cloud GPUs and the on-prem GPUs side by side with ratios,
 * how many target GPUs and servers match the source per workload profile, and the warnings
 * that should stop or change a purchase. Exit 1 when a warning is a blocker. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assess/compare.h"
#include "assess/plan.h"
#include "cli/commands.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/table.h"
#include "util/banned.h"

enum {
	OPT_PRECISION = 1,
	OPT_MODEL_SIZE,
	OPT_BYTES_PER_PARAM,
	OPT_OVERHEAD,
	OPT_REQUIRE_CUDA,
	OPT_CATALOG,
	OPT_SOURCE_BENCH,
	OPT_TARGET_BENCH,
};

const struct gm_opt gm_cmd_compare_opts[] = {
        {OPT_PRECISION, "precision", 0, GM_ARG_REQUIRED, "P",
         "precision of the training profile (default bf16 where both sides have it, else "
         "fp16)",
         "fp64 fp32 tf32 fp16 bf16 fp8 int8"},
        {OPT_MODEL_SIZE, "model-size", 0, GM_ARG_REQUIRED, "N",
         "model parameters (70B, 7b, 1.5T, 350M): adds the memory-capacity profile", NULL},
        {OPT_BYTES_PER_PARAM, "bytes-per-param", 0, GM_ARG_REQUIRED, "N",
         "bytes per parameter for --model-size (default 2: fp16/bf16 weights)", NULL},
        {OPT_OVERHEAD, "overhead", 0, GM_ARG_REQUIRED, "F",
         "factor for KV cache and activations on top of the weights (default 1.2)", NULL},
        {OPT_REQUIRE_CUDA, "require-cuda", 0, GM_ARG_REQUIRED, "X.Y",
         "warn when the target's compute capability is too low for CUDA X.Y", NULL},
        {OPT_CATALOG, "catalog", 0, GM_ARG_REQUIRED, "DIR",
         "read gpus.yaml, cloud.yaml and onprem.yaml from DIR where present", "dir"},
        {OPT_SOURCE_BENCH, "source-bench", 0, GM_ARG_REQUIRED, "FILE",
         "measured numbers (gpumigrate.bench/v1) that replace the source's datasheet figures",
         "file"},
        {OPT_TARGET_BENCH, "target-bench", 0, GM_ARG_REQUIRED, "FILE",
         "measured numbers (gpumigrate.bench/v1) that replace the target's datasheet figures",
         "file"},
        {0, NULL, 0, GM_ARG_NONE, NULL, NULL, NULL},
};

/* A figure for people: the value, a mark for where it came from, "-" when unknown. */
static void fig_cell(struct gm_table *t, size_t col, struct gm_fig f, bool *any_measured,
                     bool *any_inventory)
{
	if (!f.n.known) {
		gm_table_set(t, col, "-", GM_COLOR_DIM);
		return;
	}
	const char *mark = "";
	if (f.src == GM_FIG_MEASURED) {
		mark = " *";
		*any_measured = true;
	} else if (f.src == GM_FIG_INVENTORY) {
		mark = " +";
		*any_inventory = true;
	}
	double v = f.n.v;
	if (v >= 100)
		gm_table_setf(t, col, GM_COLOR_NONE, "%.0f%s", v, mark);
	else
		gm_table_setf(t, col, GM_COLOR_NONE, "%.3g%s", v, mark);
}

static void ratio_cell(struct gm_table *t, size_t col, struct gm_num r)
{
	if (!r.known) {
		gm_table_set(t, col, "-", GM_COLOR_DIM);
		return;
	}
	enum gm_color c = r.v >= 0.995 ? GM_COLOR_GREEN : GM_COLOR_YELLOW;
	gm_table_setf(t, col, c, "%.2fx", r.v);
}

static void num_cell(struct gm_table *t, size_t col, struct gm_num n)
{
	if (!n.known)
		gm_table_set(t, col, "-", GM_COLOR_DIM);
	else if (n.v >= 100)
		gm_table_setf(t, col, GM_COLOR_NONE, "%.0f", n.v);
	else
		gm_table_setf(t, col, GM_COLOR_NONE, "%.3g", n.v);
}

static void side_line(struct gm_buf *out, const char *label, const struct gm_side *s)
{
	gm_buf_addf(out, "%s %s; %s%s", label, s->title, gm_interconnect_name(s->link),
	            s->link_assumed ? " (assumed from the datasheet)" : "");
	if (s->compute_capability)
		gm_buf_addf(out, "; CC %s", s->compute_capability);
	if (s->memory_type)
		gm_buf_addf(out, "; %s", s->memory_type);
	gm_buf_addch(out, '\n');
}

static void render(const struct gm_compare_result *r, bool color, struct gm_buf *out)
{
	static const char *const h[] = {"METRIC", "SCOPE", "SOURCE", "TARGET", "TARGET/SOURCE"};
	static const char *const ph[] = {"PROFILE",    "BASIS",       "SOURCE",
	                                 "TARGET/GPU", "TARGET GPUS", "TARGET SERVERS"};
	bool measured = false, inventory = false;
	side_line(out, "source:", r->src);
	side_line(out, "target:", r->tgt);
	gm_buf_addch(out, '\n');

	struct gm_table t;
	gm_table_init(&t, 5, h);
	for (size_t c = 2; c <= 4; c++)
		gm_table_align_right(&t, c);
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct gm_compare_row *row = &r->rows[i];
		if (!row->src.n.known && !row->tgt.n.known)
			continue; /* neither GPU has this precision */
		gm_table_add_row(&t);
		if (!row->total || i == 0 || strcmp(r->rows[i - 1].metric, row->metric) != 0 ||
		    (!r->rows[i - 1].src.n.known && !r->rows[i - 1].tgt.n.known))
			gm_table_set(&t, 0, row->label, GM_COLOR_BOLD);
		gm_table_set(&t, 1, row->total ? "total" : "per GPU", GM_COLOR_NONE);
		fig_cell(&t, 2, row->src, &measured, &inventory);
		fig_cell(&t, 3, row->tgt, &measured, &inventory);
		ratio_cell(&t, 4, row->ratio);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);
	if (measured)
		gm_buf_adds(out, "* measured (bench result), not the datasheet\n");
	if (inventory)
		gm_buf_adds(out, "+ as the driver reported it (inventory)\n");

	gm_buf_addch(out, '\n');
	gm_table_init(&t, 6, ph);
	for (size_t c = 2; c <= 5; c++)
		gm_table_align_right(&t, c);
	for (size_t i = 0; i < r->n_profiles; i++) {
		const struct gm_compare_profile *p = &r->profiles[i];
		gm_table_add_row(&t);
		gm_table_set(&t, 0, p->name, GM_COLOR_BOLD);
		gm_table_set(&t, 1, p->basis, GM_COLOR_NONE);
		num_cell(&t, 2, p->src_total);
		num_cell(&t, 3, p->tgt_per_gpu);
		if (p->why) {
			gm_table_set(&t, 4, p->why, GM_COLOR_YELLOW);
			continue;
		}
		num_cell(&t, 4, p->gpus_needed);
		if (p->servers_needed.known)
			gm_table_setf(&t, 5, GM_COLOR_NONE, "%.0f x %d GPUs", p->servers_needed.v,
			              r->tgt->gpu_count);
		else
			gm_table_set(&t, 5, "-", GM_COLOR_DIM);
	}
	gm_table_render(&t, color, out);
	gm_table_release(&t);

	if (r->n_warnings) {
		gm_buf_adds(out, "\nwarnings:\n");
		for (size_t i = 0; i < r->n_warnings; i++) {
			const struct gm_compare_warning *w = &r->warnings[i];
			const char *tag = w->blocker ? "BLOCKER" : "warning";
			enum gm_color c = w->blocker ? GM_COLOR_RED : GM_COLOR_YELLOW;
			gm_buf_addf(out, "  %s%s%s %s\n", color ? gm_color_code(c) : "", tag,
			            color ? "\033[0m" : "", w->msg);
		}
	}
}

static bool parse_positive(const char *s, double max, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (end == s || *end || !isfinite(v) || v <= 0 || v > max)
		return false;
	*out = v;
	return true;
}

int gm_cmd_compare(struct gm_cli *cli, int argc, char **argv)
{
	struct gm_compare_opts opts;
	const char *dir = NULL, *src_bench = NULL, *tgt_bench = NULL;
	int id, code = GM_EXIT_OK;
	gm_compare_opts_init(&opts);
	while ((id = gm_cli_next(cli, &code)) != -1) {
		switch (id) {
		case -2: return code;
		case OPT_PRECISION:
			if (!gm_precision_parse(cli->optarg, &opts.precision))
				return gm_cli_usage_error(cli,
				                          "unknown precision '%s': use fp64, fp32, "
				                          "tf32, fp16, bf16, fp8 or int8",
				                          cli->optarg);
			opts.precision_set = true;
			break;
		case OPT_MODEL_SIZE:
			if (!gm_parse_params(cli->optarg, &opts.model_params) ||
			    opts.model_params > 1e15)
				return gm_cli_usage_error(
				        cli,
				        "bad --model-size '%s': write parameters as "
				        "70B, 7b, 1.5T or 350M",
				        cli->optarg);
			break;
		case OPT_BYTES_PER_PARAM:
			if (!parse_positive(cli->optarg, 64, &opts.bytes_per_param))
				return gm_cli_usage_error(
				        cli,
				        "bad --bytes-per-param '%s': a number above 0, up to 64",
				        cli->optarg);
			break;
		case OPT_OVERHEAD:
			if (!parse_positive(cli->optarg, 100, &opts.overhead) || opts.overhead < 1)
				return gm_cli_usage_error(cli,
				                          "bad --overhead '%s': a factor of 1 or "
				                          "more (1.2 = 20%% extra)",
				                          cli->optarg);
			break;
		case OPT_REQUIRE_CUDA:
			if (!gm_catalog_parse_cc(cli->optarg, &opts.cuda_major, &opts.cuda_minor))
				return gm_cli_usage_error(
				        cli, "bad --require-cuda '%s': write it as 12.4",
				        cli->optarg);
			opts.require_cuda = true;
			break;
		case OPT_CATALOG: dir = cli->optarg; break;
		case OPT_SOURCE_BENCH: src_bench = cli->optarg; break;
		case OPT_TARGET_BENCH: tgt_bench = cli->optarg; break;
		}
	}
	char **args = gm_cli_args(cli, &argc);
	(void)argv;
	if (argc != 2)
		return gm_cli_usage_error(cli,
		                          "compare needs two sides, SRC and TGT (e.g. "
		                          "gcp:a2-highgpu-8g 4xgpu:l40s), got %d",
		                          argc);

	if (dir && !gm_root_exists(NULL, dir))
		return gm_cli_usage_error(cli, "catalog directory '%s' does not exist", dir);
	struct gm_catalog cat;
	struct gm_side src, tgt;
	struct gm_compare_result r;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf out = GM_BUF_INIT;
	gm_side_init(&src);
	gm_side_init(&tgt);
	gm_compare_result_init(&r);
	if (gm_catalog_load(&cat, dir, &err) != GM_OK ||
	    gm_side_resolve(&src, &cat, args[0], &err) != GM_OK ||
	    gm_side_resolve(&tgt, &cat, args[1], &err) != GM_OK ||
	    (src_bench && gm_side_apply_bench(&src, &cat, src_bench, &err) != GM_OK) ||
	    (tgt_bench && gm_side_apply_bench(&tgt, &cat, tgt_bench, &err) != GM_OK)) {
		code = gm_cli_fail(cli, &err);
		goto out;
	}
	gm_compare_run(&src, &tgt, &opts, &r);
	if (cli->json)
		gm_compare_to_json(&r, &out, true);
	else
		render(&r, cli->color_stdout, &out);
	code = gm_cli_emit(&out);
	if (code == GM_EXIT_OK && r.blocker)
		code = GM_EXIT_FINDINGS;
out:
	gm_buf_release(&out);
	gm_compare_result_release(&r);
	gm_side_release(&tgt);
	gm_side_release(&src);
	gm_catalog_release(&cat);
	gm_err_release(&err);
	return code;
}

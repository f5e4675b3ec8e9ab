/* compare: resolves each side (catalog name, inventory, bench result) to a GPU model, a count
 * and per-GPU figures with their origin, then works out ratios, GPUs needed per workload
 * profile and the warnings. The arithmetic is kept here, away from rendering, so the unit
 * tests can check it against figures computed by hand. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "assess/compare.h"
#include "assess/yamlread.h"
#include "hw/inventory.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

const char *gm_interconnect_name(enum gm_interconnect l)
{
	switch (l) {
	case GM_IC_NONE: return "none";
	case GM_IC_PCIE: return "pcie";
	case GM_IC_NVLINK: return "nvlink";
	case GM_IC_NVSWITCH: return "nvswitch";
	case GM_IC_UNKNOWN: break;
	}
	return "unknown";
}

static bool link_parse(const char *s, enum gm_interconnect *out)
{
	static const enum gm_interconnect all[] = {GM_IC_NONE, GM_IC_PCIE, GM_IC_NVLINK,
	                                           GM_IC_NVSWITCH};
	for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, gm_interconnect_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

const char *gm_fig_src_name(enum gm_fig_src s)
{
	switch (s) {
	case GM_FIG_INVENTORY: return "inventory";
	case GM_FIG_MEASURED: return "measured";
	case GM_FIG_DATASHEET: break;
	}
	return "datasheet";
}

const char *gm_warn_code_name(enum gm_warn_code c)
{
	switch (c) {
	case GM_WARN_MODEL_NO_FIT_GPU: return "model-needs-several-gpus";
	case GM_WARN_MODEL_NO_FIT_TOTAL: return "model-does-not-fit";
	case GM_WARN_NVLINK_LOST: return "nvlink-lost";
	case GM_WARN_FP8_MISSING: return "fp8-missing";
	case GM_WARN_CC_TOO_LOW: return "compute-capability-too-low";
	case GM_WARN_CC_UNKNOWN: return "compute-capability-unknown";
	case GM_WARN_MEMORY_DOWNGRADE: return "memory-type-downgrade";
	case GM_WARN_LESS_MEMORY: return "less-memory-per-gpu";
	}
	return "?";
}

/* ---------------------------------------------------------------- sides */

void gm_side_init(struct gm_side *s)
{
	memset(s, 0, sizeof(*s));
}

void gm_side_release(struct gm_side *s)
{
	if (!s)
		return;
	free(s->spec);
	free(s->title);
	free(s->compute_capability);
	free(s->memory_type);
	gm_side_init(s);
}

static struct gm_fig fig(struct gm_num n, enum gm_fig_src src)
{
	struct gm_fig f = {n, src};
	return f;
}

/* Datasheet figures of the side's GPU model. */
static void fill_from_spec(struct gm_side *s)
{
	const struct gm_gpu_spec *g = s->gpu;
	for (int p = 0; p < GM_PREC_COUNT; p++)
		s->tflops[p] = fig(g->tflops[p], GM_FIG_DATASHEET);
	s->memory_gib = fig(g->memory_gib, GM_FIG_DATASHEET);
	s->bandwidth_gbs = fig(g->memory_bandwidth_gbs, GM_FIG_DATASHEET);
	s->nvlink_gbs = fig(g->nvlink_gbs, GM_FIG_DATASHEET);
	s->pcie_gen = fig(g->pcie_gen, GM_FIG_DATASHEET);
	free(s->compute_capability);
	s->compute_capability = g->compute_capability ? gm_xstrdup(g->compute_capability) : NULL;
	free(s->memory_type);
	s->memory_type = g->memory_type ? gm_xstrdup(g->memory_type) : NULL;
}

static void set_title(struct gm_side *s, const char *what)
{
	struct gm_buf t = GM_BUF_INIT;
	if (what)
		gm_buf_addf(&t, "%s: ", what);
	gm_buf_addf(&t, "%d x %s", s->gpu_count, s->gpu->name);
	free(s->title);
	s->title = gm_buf_detach(&t);
	gm_buf_release(&t);
}

static enum gm_rc unknown_gpu(const struct gm_catalog *cat, const char *name, struct gm_err *err)
{
	const char *near = gm_catalog_suggest_gpu(cat, name);
	if (near)
		return gm_err_set(err, GM_ERR_USAGE, "unknown GPU '%s' (did you mean '%s'?)", name,
		                  near);
	return gm_err_set(err, GM_ERR_USAGE,
	                  "unknown GPU '%s' (see 'gpumigrate catalog list gpus')", name);
}

/* "gpu" -> 1, "4xgpu" / "4XGPU" / "4gpu" -> 4; 0 when prefix is not a GPU prefix. */
static int gpu_prefix_count(const char *p, size_t len)
{
	size_t digits = 0;
	while (digits < len && isdigit((unsigned char)p[digits]))
		digits++;
	size_t rest = len - digits;
	const char *r = p + digits;
	if (rest >= 1 && (r[0] == 'x' || r[0] == 'X') && digits > 0)
		r++, rest--;
	if (rest != 3 || strncasecmp(r, "gpu", 3) != 0)
		return 0;
	if (digits == 0)
		return 1;
	if (digits > 4)
		return -1;
	int64_t n = 0;
	char buf[8] = {0};
	memcpy(buf, p, digits);
	if (gm_parse_i64(buf, 10, &n) != GM_OK || n < 1 || n > 1024)
		return -1;
	return (int)n;
}

/* A GPU model named by an NVML name in a file; not found is a usage-style error. */
static enum gm_rc file_gpu(const struct gm_catalog *cat, const char *path, const char *name,
                           const struct gm_gpu_spec **out, struct gm_err *err)
{
	*out = gm_catalog_find_gpu(cat, name);
	if (*out)
		return GM_OK;
	const char *near = gm_catalog_suggest_gpu(cat, name);
	return gm_err_set(err, GM_ERR_USAGE,
	                  "'%s': GPU '%s' is not in the catalog%s%s%s; add it to gpus.yaml in a "
	                  "--catalog directory",
	                  path, name, near ? " (closest: '" : "", near ? near : "",
	                  near ? "')" : "");
}

static enum gm_rc side_from_inventory(struct gm_side *s, const struct gm_catalog *cat,
                                      const char *path, struct gm_err *err)
{
	struct gm_inventory inv;
	gm_inventory_init(&inv);
	enum gm_rc rc = gm_inventory_load(&inv, path, err);
	if (rc != GM_OK)
		goto out;
	const struct gm_nvidia *nv = &inv.nvidia;
	if (nv->n_gpus == 0) {
		rc = gm_err_set(err, GM_ERR_USAGE, "inventory '%s' has no GPUs%s%s", path,
		                nv->nvml.why ? ": " : "", nv->nvml.why ? nv->nvml.why : "");
		goto out;
	}
	const struct gm_gpu *g0 = &nv->gpus[0];
	if (!gm_fact_ok(&g0->name.f) || !g0->name.v) {
		rc = gm_err_set(err, GM_ERR_USAGE, "inventory '%s': the model of GPU %u is unknown",
		                path, g0->index);
		goto out;
	}
	for (size_t i = 1; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		if (!gm_fact_ok(&g->name.f) || !g->name.v || strcmp(g->name.v, g0->name.v) != 0) {
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "inventory '%s' mixes GPU models ('%s' and '%s'); compare "
			                "one model at a time",
			                path, g0->name.v,
			                gm_fact_ok(&g->name.f) && g->name.v ? g->name.v
			                                                    : "unknown");
			goto out;
		}
	}
	rc = file_gpu(cat, path, g0->name.v, &s->gpu, err);
	if (rc != GM_OK)
		goto out;
	s->kind = GM_SIDE_INVENTORY;
	s->gpu_count = (int)nv->n_gpus;
	s->server = true;
	fill_from_spec(s);
	/* what the driver reported beats the datasheet: usable memory, CC, PCIe generation */
	bool mem_ok = true, pcie_ok = true;
	int64_t mem_min = 0, pcie_min = 0;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		mem_ok = mem_ok && gm_fact_ok(&g->memory_total_bytes.f);
		if (mem_ok && (i == 0 || g->memory_total_bytes.v < mem_min))
			mem_min = g->memory_total_bytes.v;
		pcie_ok = pcie_ok && gm_fact_ok(&g->pcie_gen_max.f);
		if (pcie_ok && (i == 0 || g->pcie_gen_max.v < pcie_min))
			pcie_min = g->pcie_gen_max.v;
	}
	if (mem_ok && mem_min > 0)
		s->memory_gib = fig(GM_NUM((double)mem_min / GIB), GM_FIG_INVENTORY);
	if (pcie_ok && pcie_min > 0)
		s->pcie_gen = fig(GM_NUM((double)pcie_min), GM_FIG_INVENTORY);
	if (gm_fact_ok(&g0->compute_capability.f) && g0->compute_capability.v) {
		free(s->compute_capability);
		s->compute_capability = gm_xstrdup(g0->compute_capability.v);
	}
	/* interconnect from the NVLinks NVML saw */
	bool links_known = true, any_gpu = false, any_switch = false;
	for (size_t i = 0; i < nv->n_gpus; i++) {
		const struct gm_gpu *g = &nv->gpus[i];
		/* NVML's "Not Supported" for NVLink means the GPU has none */
		links_known = links_known &&
		              (gm_fact_ok(&g->nvlink) || g->nvlink.state == GM_FACT_UNSUPPORTED);
		for (size_t k = 0; k < g->n_nvlinks; k++) {
			any_switch = any_switch || g->nvlinks[k].remote == GM_NVLINK_REMOTE_SWITCH;
			any_gpu = any_gpu || g->nvlinks[k].remote == GM_NVLINK_REMOTE_GPU;
		}
	}
	if (nv->n_gpus == 1)
		s->link = GM_IC_NONE;
	else if (any_switch)
		s->link = GM_IC_NVSWITCH;
	else if (any_gpu)
		s->link = GM_IC_NVLINK;
	else if (links_known)
		s->link = GM_IC_PCIE;
	else
		s->link = GM_IC_UNKNOWN;
	{
		struct gm_buf what = GM_BUF_INIT;
		const char *host = gm_fact_ok(&inv.host.hostname.f) && inv.host.hostname.v
		                           ? inv.host.hostname.v
		                           : path;
		gm_buf_addf(&what, "%s (inventory)", host);
		set_title(s, gm_buf_cstr(&what));
		gm_buf_release(&what);
	}
out:
	gm_inventory_release(&inv);
	return rc;
}

/* A bench result: the GPU it ran on and the measured per-GPU figures. */
struct bench {
	const struct gm_gpu_spec *gpu;
	int count;
	bool has_link;
	enum gm_interconnect link;
	struct gm_num tflops[GM_PREC_COUNT];
	struct gm_num bandwidth_gbs;
};

static enum gm_rc bench_error(const struct gm_doc *doc, struct fy_node *n, const char *what,
                              struct gm_err *err)
{
	return gm_yr_fail(doc, n, err, "%s", what);
}

static enum gm_rc bench_num(const struct gm_doc *doc, struct fy_node *map, const char *key,
                            struct gm_num *out, struct gm_err *err)
{
	double v = 0;
	enum gm_rc rc = gm_doc_get_double(doc, map, key, &v, err);
	*out = GM_NUM_UNKNOWN;
	if (rc == GM_ERR_NOT_FOUND)
		return GM_OK;
	if (rc != GM_OK)
		return rc;
	if (v <= 0)
		return bench_error(doc, gm_doc_get(map, key), "measured figures must be positive",
		                   err);
	*out = GM_NUM(v);
	return GM_OK;
}

static enum gm_rc bench_parse(struct bench *b, const struct gm_catalog *cat,
                              const struct gm_doc *doc, const char *path, struct gm_err *err)
{
	static const char *const gpu_keys[] = {"name", "count", "interconnect", NULL};
	static const char *const prec_keys[] = {"fp64", "fp32", "tf32", "fp16",
	                                        "bf16", "fp8",  "int8", NULL};
	struct fy_node *root = gm_doc_root(doc);
	memset(b, 0, sizeof(*b));
	struct fy_node *g = gm_doc_get(root, "gpu");
	if (!gm_doc_is_map(g))
		return bench_error(doc, g ? g : root, "'gpu' must be a mapping with the GPU's name",
		                   err);
	enum gm_rc rc = gm_doc_check_keys(doc, g, gpu_keys, err);
	if (rc != GM_OK)
		return rc;
	const char *name = NULL;
	rc = gm_doc_get_str(doc, g, "name", &name, err);
	if (rc == GM_ERR_NOT_FOUND)
		return bench_error(doc, g, "'name' is required (the GPU name NVML reports)", err);
	if (rc != GM_OK)
		return rc;
	rc = file_gpu(cat, path, name, &b->gpu, err);
	if (rc != GM_OK)
		return rc;
	int64_t count = 1;
	rc = gm_doc_get_i64(doc, g, "count", &count, err);
	if (rc != GM_OK && rc != GM_ERR_NOT_FOUND)
		return rc;
	if (count < 1 || count > 1024)
		return bench_error(doc, gm_doc_get(g, "count"),
		                   "'count' must be between 1 and 1024", err);
	b->count = (int)count;
	const char *link = NULL;
	rc = gm_doc_get_str(doc, g, "interconnect", &link, err);
	if (rc == GM_OK) {
		if (!link_parse(link, &b->link) || b->link == GM_IC_UNKNOWN)
			return bench_error(doc, gm_doc_get(g, "interconnect"),
			                   "'interconnect' must be nvswitch, nvlink, pcie or none",
			                   err);
		b->has_link = true;
	} else if (rc != GM_ERR_NOT_FOUND) {
		return rc;
	}
	struct fy_node *res = gm_doc_get(root, "results");
	if (!gm_doc_is_map(res))
		return bench_error(doc, res ? res : root, "'results' must be a mapping", err);
	struct fy_node *gemm = gm_doc_get(res, "gemm_tflops");
	if (!gm_doc_is_null(gemm)) {
		if (!gm_doc_is_map(gemm))
			return bench_error(doc, gemm, "'gemm_tflops' must map precisions to TFLOPS",
			                   err);
		rc = gm_doc_check_keys(doc, gemm, prec_keys, err);
		for (int p = 0; rc == GM_OK && p < GM_PREC_COUNT; p++)
			rc = bench_num(doc, gemm, gm_precision_name((enum gm_precision)p),
			               &b->tflops[p], err);
		if (rc != GM_OK)
			return rc;
	}
	return bench_num(doc, res, "memory_bandwidth_gbs", &b->bandwidth_gbs, err);
}

/* Loads path and tells which document it is by its schema. */
static enum gm_rc load_typed(struct gm_doc *doc, const char *path, const char **schema,
                             struct gm_err *err)
{
	enum gm_rc rc = gm_doc_load_file(doc, path, err);
	if (rc != GM_OK)
		return rc;
	*schema = NULL;
	struct fy_node *root = gm_doc_root(doc);
	if (!gm_doc_is_map(root) || gm_doc_get_str(doc, root, "schema", schema, err) != GM_OK ||
	    !*schema) {
		gm_err_clear(err);
		return gm_err_set(err, GM_ERR_PARSE,
		                  "'%s' is neither an inventory (%s) nor a bench result (%s): it "
		                  "has no 'schema'",
		                  path, GM_INVENTORY_SCHEMA, GM_BENCH_SCHEMA);
	}
	if (strcmp(*schema, GM_INVENTORY_SCHEMA) != 0 && strcmp(*schema, GM_BENCH_SCHEMA) != 0)
		return gm_err_set(err, GM_ERR_PARSE,
		                  "'%s' has schema '%s'; compare reads %s and %s documents", path,
		                  *schema, GM_INVENTORY_SCHEMA, GM_BENCH_SCHEMA);
	return GM_OK;
}

static void apply_measured(struct gm_side *s, const struct bench *b)
{
	for (int p = 0; p < GM_PREC_COUNT; p++) {
		if (b->tflops[p].known) {
			s->tflops[p] = fig(b->tflops[p], GM_FIG_MEASURED);
			s->measured = true;
		}
	}
	if (b->bandwidth_gbs.known) {
		s->bandwidth_gbs = fig(b->bandwidth_gbs, GM_FIG_MEASURED);
		s->measured = true;
	}
}

static enum gm_rc side_from_file(struct gm_side *s, const struct gm_catalog *cat, const char *path,
                                 struct gm_err *err)
{
	struct gm_doc doc = {0};
	const char *schema = NULL;
	struct bench b;
	enum gm_rc rc = load_typed(&doc, path, &schema, err);
	if (rc != GM_OK || !schema) { /* load_typed sets schema on success */
		if (rc == GM_OK)
			rc = GM_ERR_INTERNAL;
		goto out;
	}
	if (strcmp(schema, GM_INVENTORY_SCHEMA) == 0) {
		rc = side_from_inventory(s, cat, path, err);
		goto out;
	}
	rc = bench_parse(&b, cat, &doc, path, err);
	if (rc != GM_OK)
		goto out;
	s->kind = GM_SIDE_BENCH;
	s->gpu = b.gpu;
	s->gpu_count = b.count;
	s->server = b.count > 1;
	fill_from_spec(s);
	apply_measured(s, &b);
	s->link = b.has_link ? b.link : b.count == 1 ? GM_IC_NONE : GM_IC_UNKNOWN;
	{
		struct gm_buf what = GM_BUF_INIT;
		gm_buf_addf(&what, "%s (bench)", path);
		set_title(s, gm_buf_cstr(&what));
		gm_buf_release(&what);
	}
out:
	gm_doc_release(&doc);
	return rc;
}

enum gm_rc gm_side_resolve(struct gm_side *s, const struct gm_catalog *cat, const char *spec,
                           struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	struct stat st;
	gm_side_init(s);
	s->spec = gm_xstrdup(spec);
	if (!*spec) {
		rc = gm_err_set(err, GM_ERR_USAGE, "an empty side: give a catalog name or a file");
		goto out;
	}
	if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
		rc = side_from_file(s, cat, spec, err);
		goto out;
	}
	const char *colon = strchr(spec, ':');
	if (colon) {
		int n = gpu_prefix_count(spec, (size_t)(colon - spec));
		if (n < 0) {
			rc = gm_err_set(err, GM_ERR_USAGE,
			                "'%s': the GPU count must be between 1 and 1024", spec);
			goto out;
		}
		if (n > 0) {
			s->gpu = gm_catalog_find_gpu(cat, colon + 1);
			if (!s->gpu) {
				rc = unknown_gpu(cat, colon + 1, err);
				goto out;
			}
			s->kind = GM_SIDE_GPU;
			s->gpu_count = n;
			s->server = isdigit((unsigned char)spec[0]);
			fill_from_spec(s);
			if (n == 1) {
				s->link = GM_IC_NONE;
			} else if (s->gpu->nvlink_gbs.known) {
				s->link = s->gpu->nvlink_gbs.v > 0 ? GM_IC_NVLINK : GM_IC_PCIE;
				s->link_assumed = s->gpu->nvlink_gbs.v > 0;
			}
			set_title(s, NULL);
			goto out;
		}
		const struct gm_instance *in = gm_catalog_find_instance(cat, spec);
		if (!in) {
			const char *near = gm_catalog_suggest_instance(cat, spec);
			if (near)
				rc = gm_err_set(err, GM_ERR_USAGE,
				                "unknown instance type '%s' (did you mean '%s'?)",
				                spec, near);
			else
				rc = gm_err_set(
				        err, GM_ERR_USAGE,
				        "unknown instance type '%s' (see 'gpumigrate catalog "
				        "list instances')",
				        spec);
			goto out;
		}
		s->kind = GM_SIDE_INSTANCE;
		s->gpu = in->gpu;
		s->gpu_count = in->gpu_count;
		s->server = true;
		fill_from_spec(s);
		if (!link_parse(in->interconnect, &s->link))
			s->link = GM_IC_UNKNOWN;
		set_title(s, in->id);
		goto out;
	}
	if (strchr(spec, '/') || strstr(spec, ".json") || strstr(spec, ".yaml")) {
		rc = gm_err_errno(err, GM_ERR_USAGE, errno ? errno : ENOENT, "cannot read '%s'",
		                  spec);
		goto out;
	}
	s->gpu = gm_catalog_find_gpu(cat, spec);
	if (!s->gpu) {
		rc = unknown_gpu(cat, spec, err);
		goto out;
	}
	s->kind = GM_SIDE_GPU;
	s->gpu_count = 1;
	s->link = GM_IC_NONE;
	fill_from_spec(s);
	set_title(s, NULL);
out:
	if (rc != GM_OK) {
		char *keep = s->spec;
		s->spec = NULL;
		gm_side_release(s);
		s->spec = keep;
	}
	return rc;
}

enum gm_rc gm_side_apply_bench(struct gm_side *s, const struct gm_catalog *cat, const char *path,
                               struct gm_err *err)
{
	struct gm_doc doc = {0};
	const char *schema = NULL;
	struct bench b;
	enum gm_rc rc = load_typed(&doc, path, &schema, err);
	if (rc != GM_OK || !schema) { /* load_typed sets schema on success */
		if (rc == GM_OK)
			rc = GM_ERR_INTERNAL;
		goto out;
	}
	if (strcmp(schema, GM_BENCH_SCHEMA) != 0) {
		rc = gm_err_set(err, GM_ERR_USAGE, "'%s' is not a bench result (schema '%s')", path,
		                GM_BENCH_SCHEMA);
		goto out;
	}
	rc = bench_parse(&b, cat, &doc, path, err);
	if (rc != GM_OK)
		goto out;
	if (!b.gpu || b.gpu != s->gpu) {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "bench result '%s' was measured on %s, not on %s (the GPU of '%s')",
		                path, b.gpu ? b.gpu->name : "?", s->gpu->name, s->spec);
		goto out;
	}
	apply_measured(s, &b);
out:
	gm_doc_release(&doc);
	return rc;
}

/* ---------------------------------------------------------------- options */

void gm_compare_opts_init(struct gm_compare_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->precision = GM_PREC_BF16;
	o->bytes_per_param = 2.0;
	o->overhead = 1.2;
}

/* The lowest compute capability each CUDA major release can build for and run on.
 * - CUDA 9.0 removed Fermi (sm_2x): minimum 3.0.
 * - CUDA 11.0 removed sm_30/sm_32: minimum 3.5 ("Starting from CUDA 11.0: GPU architecture
 *   SM30 is no longer supported. The minimum required architecture is SM35").
 * - CUDA 12.0 removed Kepler sm_35/sm_37: minimum 5.0 ("Starting from CUDA 12.0: GPU
 *   architectures SM35 and SM37 are no longer supported. The minimum required architecture is
 *   SM50"). Both: https://docs.nvidia.com/cuda/archive/12.6.3/cufft/deprecated-functionality.html
 * - CUDA 13.0 removed Maxwell, Pascal and Volta (sm_50 … sm_72): minimum 7.5 (Turing). CUDA
 *   13.0 release notes, "Deprecated Architectures",
 *   https://docs.nvidia.com/cuda/archive/13.0.0/cuda-toolkit-release-notes/index.html */
static const struct {
	int major, minor, min_cc10;
} cuda_min_cc[] = {
        {9, 0, 30},
        {11, 0, 35},
        {12, 0, 50},
        {13, 0, 75},
};

int gm_compare_cuda_min_cc(int cuda_major, int cuda_minor)
{
	int min = 0;
	for (size_t i = 0; i < sizeof(cuda_min_cc) / sizeof(cuda_min_cc[0]); i++)
		if (cuda_major > cuda_min_cc[i].major ||
		    (cuda_major == cuda_min_cc[i].major && cuda_minor >= cuda_min_cc[i].minor))
			min = cuda_min_cc[i].min_cc10;
	return min;
}

/* ---------------------------------------------------------------- the comparison */

void gm_compare_result_init(struct gm_compare_result *r)
{
	memset(r, 0, sizeof(*r));
}

void gm_compare_result_release(struct gm_compare_result *r)
{
	if (!r)
		return;
	free(r->rows);
	for (size_t i = 0; i < r->n_profiles; i++) {
		free(r->profiles[i].basis);
		free(r->profiles[i].why);
	}
	for (size_t i = 0; i < r->n_warnings; i++)
		free(r->warnings[i].msg);
	free(r->warnings);
	gm_compare_result_init(r);
}

static struct gm_num times(struct gm_num a, double k)
{
	return a.known ? GM_NUM(a.v * k) : GM_NUM_UNKNOWN;
}

static struct gm_num ratio(struct gm_num src, struct gm_num tgt)
{
	if (!src.known || !tgt.known || src.v <= 0)
		return GM_NUM_UNKNOWN;
	return GM_NUM(tgt.v / src.v);
}

/* Smallest whole number of units of size per that reach need (need / per, rounded up, with a
 * little slack so 2.0000000001 does not become 3). */
static double units_needed(double need, double per)
{
	double q = need / per;
	double c = ceil(q - 1e-9);
	return c < 1 ? 1 : c;
}

static void add_row(struct gm_compare_result *r, const char *metric, const char *label, bool total,
                    struct gm_fig src, struct gm_fig tgt)
{
	r->rows = gm_xreallocarray(r->rows, r->n_rows + 1, sizeof(*r->rows));
	struct gm_compare_row *row = &r->rows[r->n_rows++];
	row->metric = metric;
	row->label = label;
	row->total = total;
	row->src = src;
	row->tgt = tgt;
	row->ratio = ratio(src.n, tgt.n);
}

static void add_pair(struct gm_compare_result *r, const char *metric, const char *label,
                     struct gm_fig src, struct gm_fig tgt)
{
	add_row(r, metric, label, false, src, tgt);
	add_row(r, metric, label, true, fig(times(src.n, r->src->gpu_count), src.src),
	        fig(times(tgt.n, r->tgt->gpu_count), tgt.src));
}

static void warn(struct gm_compare_result *r, enum gm_warn_code code, bool blocker, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

static void warn(struct gm_compare_result *r, enum gm_warn_code code, bool blocker, const char *fmt,
                 ...)
{
	struct gm_buf msg = GM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	r->warnings = gm_xreallocarray(r->warnings, r->n_warnings + 1, sizeof(*r->warnings));
	struct gm_compare_warning *w = &r->warnings[r->n_warnings++];
	w->code = code;
	w->blocker = blocker;
	w->msg = gm_buf_detach(&msg);
	gm_buf_release(&msg);
	r->blocker = r->blocker || blocker;
}

/* One profile: the source total of a per-GPU figure against the target per GPU. */
static void profile(struct gm_compare_result *r, enum gm_profile_kind kind, const char *name,
                    const char *basis, struct gm_num src_total, struct gm_num tgt_per_gpu,
                    const char *what)
{
	struct gm_compare_profile *p = &r->profiles[r->n_profiles++];
	p->kind = kind;
	p->name = name;
	p->basis = gm_xstrdup(basis);
	p->src_total = src_total;
	p->tgt_per_gpu = tgt_per_gpu;
	p->gpus_needed = GM_NUM_UNKNOWN;
	p->servers_needed = GM_NUM_UNKNOWN;
	struct gm_buf why = GM_BUF_INIT;
	if (!src_total.known)
		gm_buf_addf(&why, "the source has no %s figure", what);
	else if (!tgt_per_gpu.known || tgt_per_gpu.v <= 0)
		gm_buf_addf(&why, "the target has no %s figure", what);
	if (why.len) {
		p->why = gm_buf_detach(&why);
		gm_buf_release(&why);
		return;
	}
	gm_buf_release(&why);
	p->gpus_needed = GM_NUM(units_needed(src_total.v, tgt_per_gpu.v));
	if (r->tgt->server)
		p->servers_needed = GM_NUM(units_needed(p->gpus_needed.v, r->tgt->gpu_count));
}

/* "70B", "1.5T", "350M" for messages. */
static void add_params(struct gm_buf *b, double params)
{
	static const struct {
		double div;
		const char *suffix;
	} units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (params >= units[i].div) {
			gm_buf_addf(b, "%.4g%s", params / units[i].div, units[i].suffix);
			return;
		}
	}
	gm_buf_addf(b, "%.0f", params);
}

static bool is_nvlink(enum gm_interconnect l)
{
	return l == GM_IC_NVLINK || l == GM_IC_NVSWITCH;
}

static void check_capacity(struct gm_compare_result *r)
{
	const struct gm_side *t = r->tgt;
	const struct gm_compare_opts *o = &r->opts;
	r->model_need_gib = o->model_params * o->bytes_per_param * o->overhead / GIB;
	struct gm_buf basis = GM_BUF_INIT, model = GM_BUF_INIT;
	add_params(&model, o->model_params);
	gm_buf_addf(&basis, "%s parameters x %g bytes x %g overhead = %.1f GiB",
	            gm_buf_cstr(&model), o->bytes_per_param, o->overhead, r->model_need_gib);
	profile(r, GM_PROFILE_CAPACITY, "capacity", gm_buf_cstr(&basis), GM_NUM(r->model_need_gib),
	        t->memory_gib.n, "memory size");
	const struct gm_compare_profile *p = &r->profiles[r->n_profiles - 1];
	if (p->gpus_needed.known) {
		double per = t->memory_gib.n.v, total = per * t->gpu_count;
		if (r->model_need_gib > total)
			warn(r, GM_WARN_MODEL_NO_FIT_TOTAL, true,
			     "a %s model needs %.1f GiB but the target's %d x %s have %.1f GiB in "
			     "total: it needs %.0f GPUs",
			     gm_buf_cstr(&model), r->model_need_gib, t->gpu_count, t->gpu->name,
			     total, p->gpus_needed.v);
		else if (r->model_need_gib > per)
			warn(r, GM_WARN_MODEL_NO_FIT_GPU, false,
			     "a %s model needs %.1f GiB but one %s has %.1f GiB: it needs tensor "
			     "parallelism over %.0f GPUs",
			     gm_buf_cstr(&model), r->model_need_gib, t->gpu->name, per,
			     p->gpus_needed.v);
	}
	gm_buf_release(&basis);
	gm_buf_release(&model);
}

static void check_warnings(struct gm_compare_result *r)
{
	const struct gm_side *s = r->src, *t = r->tgt;
	if (s->gpu_count > 1 && is_nvlink(s->link) &&
	    (t->link == GM_IC_PCIE || t->link == GM_IC_NONE))
		warn(r, GM_WARN_NVLINK_LOST, false,
		     "the source's GPUs talk over %s but the target's %s: multi-GPU training "
		     "that relies on NVLink all-reduce will be slower",
		     s->link == GM_IC_NVSWITCH ? "NVSwitch" : "NVLink",
		     t->link == GM_IC_PCIE ? "only over PCIe" : "is a single GPU per server");
	const struct gm_num *sf = &s->tflops[GM_PREC_FP8].n, *tf = &t->tflops[GM_PREC_FP8].n;
	if (sf->known && sf->v > 0 && !(tf->known && tf->v > 0))
		warn(r, GM_WARN_FP8_MISSING, false,
		     "%s has FP8 tensor cores and %s has none: FP8 training or inference must "
		     "fall back to FP16/BF16",
		     s->gpu->name, t->gpu->name);
	if (r->opts.require_cuda) {
		int min = gm_compare_cuda_min_cc(r->opts.cuda_major, r->opts.cuda_minor);
		int maj = 0, min_ = 0;
		if (!t->compute_capability ||
		    !gm_catalog_parse_cc(t->compute_capability, &maj, &min_))
			warn(r, GM_WARN_CC_UNKNOWN, false,
			     "the compute capability of %s is unknown: cannot check CUDA %d.%d",
			     t->gpu->name, r->opts.cuda_major, r->opts.cuda_minor);
		else if (maj * 10 + min_ < min)
			warn(r, GM_WARN_CC_TOO_LOW, true,
			     "CUDA %d.%d needs compute capability %d.%d or higher; %s has %s",
			     r->opts.cuda_major, r->opts.cuda_minor, min / 10, min % 10,
			     t->gpu->name, t->compute_capability);
	}
	if (s->memory_type && t->memory_type && strncasecmp(s->memory_type, "HBM", 3) == 0 &&
	    strncasecmp(t->memory_type, "GDDR", 4) == 0)
		warn(r, GM_WARN_MEMORY_DOWNGRADE, false,
		     "memory goes from %s to %s: bandwidth-bound kernels (attention, decoding) "
		     "slow down with the bandwidth ratio, not the compute ratio",
		     s->memory_type, t->memory_type);
	if (s->memory_gib.n.known && t->memory_gib.n.known &&
	    t->memory_gib.n.v < 0.9 * s->memory_gib.n.v)
		warn(r, GM_WARN_LESS_MEMORY, false,
		     "each target GPU has %.1f GiB against %.1f GiB on the source: batch sizes "
		     "and model shards sized for the source need re-planning",
		     t->memory_gib.n.v, s->memory_gib.n.v);
}

void gm_compare_run(const struct gm_side *src, const struct gm_side *tgt,
                    const struct gm_compare_opts *opts, struct gm_compare_result *r)
{
	static const char *const tflops_metric[GM_PREC_COUNT] = {
	        "tflops.fp64", "tflops.fp32", "tflops.tf32", "tflops.fp16",
	        "tflops.bf16", "tflops.fp8",  "tflops.int8"};
	static const char *const tflops_label[GM_PREC_COUNT] = {
	        "FP64 TFLOPS", "FP32 TFLOPS", "TF32 TFLOPS", "FP16 TFLOPS",
	        "BF16 TFLOPS", "FP8 TFLOPS",  "INT8 TOPS"};
	gm_compare_result_init(r);
	r->src = src;
	r->tgt = tgt;
	r->opts = *opts;
	if (!opts->precision_set)
		r->opts.precision =
		        src->tflops[GM_PREC_BF16].n.known && tgt->tflops[GM_PREC_BF16].n.known
		                ? GM_PREC_BF16
		                : GM_PREC_FP16;
	for (int p = 0; p < GM_PREC_COUNT; p++)
		add_pair(r, tflops_metric[p], tflops_label[p], src->tflops[p], tgt->tflops[p]);
	add_pair(r, "memory_gib", "memory GiB", src->memory_gib, tgt->memory_gib);
	add_pair(r, "bandwidth_gbs", "memory bandwidth GB/s", src->bandwidth_gbs,
	         tgt->bandwidth_gbs);
	add_row(r, "nvlink_gbs", "NVLink GB/s", false, src->nvlink_gbs, tgt->nvlink_gbs);
	add_row(r, "pcie_gen", "PCIe generation", false, src->pcie_gen, tgt->pcie_gen);

	enum gm_precision pr = r->opts.precision;
	struct gm_buf basis = GM_BUF_INIT;
	gm_buf_addf(&basis, "%s dense %s", gm_precision_name(pr),
	            pr == GM_PREC_INT8 ? "TOPS" : "TFLOPS");
	profile(r, GM_PROFILE_TRAINING, "training", gm_buf_cstr(&basis),
	        times(src->tflops[pr].n, src->gpu_count), tgt->tflops[pr].n, gm_buf_cstr(&basis));
	gm_buf_release(&basis);
	profile(r, GM_PROFILE_INFERENCE, "inference", "memory bandwidth GB/s",
	        times(src->bandwidth_gbs.n, src->gpu_count), tgt->bandwidth_gbs.n,
	        "memory bandwidth");
	if (opts->model_params > 0)
		check_capacity(r);
	check_warnings(r);
}

/* ---------------------------------------------------------------- JSON */

static void json_num(struct gm_json *j, const char *key, struct gm_num n)
{
	if (n.known)
		gm_json_double(j, key, n.v);
	else
		gm_json_null(j, key);
}

static void json_fig(struct gm_json *j, const char *key, struct gm_fig f)
{
	gm_json_begin_object(j, key);
	json_num(j, "value", f.n);
	gm_json_str(j, "source", gm_fig_src_name(f.src));
	gm_json_end_object(j);
}

static const char *kind_name(enum gm_side_kind k)
{
	switch (k) {
	case GM_SIDE_INSTANCE: return "instance";
	case GM_SIDE_INVENTORY: return "inventory";
	case GM_SIDE_BENCH: return "bench";
	case GM_SIDE_GPU: break;
	}
	return "gpu";
}

static void json_side(struct gm_json *j, const char *key, const struct gm_side *s)
{
	gm_json_begin_object(j, key);
	gm_json_str(j, "spec", s->spec);
	gm_json_str(j, "kind", kind_name(s->kind));
	gm_json_str(j, "title", s->title);
	gm_json_str(j, "gpu", s->gpu->id);
	gm_json_str(j, "gpu_name", s->gpu->name);
	gm_json_int(j, "gpu_count", s->gpu_count);
	gm_json_bool(j, "server", s->server);
	gm_json_str(j, "interconnect", gm_interconnect_name(s->link));
	gm_json_bool(j, "interconnect_assumed", s->link_assumed);
	gm_json_str(j, "compute_capability", s->compute_capability);
	gm_json_str(j, "memory_type", s->memory_type);
	gm_json_bool(j, "measured", s->measured);
	gm_json_end_object(j);
}

void gm_compare_to_json(const struct gm_compare_result *r, struct gm_buf *out, bool pretty)
{
	struct gm_json j;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "schema", GM_COMPARE_SCHEMA);
	json_side(&j, "source", r->src);
	json_side(&j, "target", r->tgt);
	gm_json_str(&j, "precision", gm_precision_name(r->opts.precision));
	gm_json_begin_array(&j, "rows");
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct gm_compare_row *row = &r->rows[i];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "metric", row->metric);
		gm_json_str(&j, "scope", row->total ? "total" : "per_gpu");
		json_fig(&j, "source", row->src);
		json_fig(&j, "target", row->tgt);
		json_num(&j, "ratio", row->ratio);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_begin_array(&j, "profiles");
	for (size_t i = 0; i < r->n_profiles; i++) {
		const struct gm_compare_profile *p = &r->profiles[i];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "profile", p->name);
		gm_json_str(&j, "basis", p->basis);
		json_num(&j, "source_total", p->src_total);
		json_num(&j, "target_per_gpu", p->tgt_per_gpu);
		json_num(&j, "target_gpus_needed", p->gpus_needed);
		json_num(&j, "target_servers_needed", p->servers_needed);
		gm_json_str(&j, "why_unknown", p->why);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	if (r->opts.model_params > 0) {
		gm_json_begin_object(&j, "model");
		gm_json_double(&j, "parameters", r->opts.model_params);
		gm_json_double(&j, "bytes_per_param", r->opts.bytes_per_param);
		gm_json_double(&j, "overhead", r->opts.overhead);
		gm_json_double(&j, "needs_gib", r->model_need_gib);
		gm_json_end_object(&j);
	} else {
		gm_json_null(&j, "model");
	}
	if (r->opts.require_cuda) {
		struct gm_buf v = GM_BUF_INIT;
		gm_buf_addf(&v, "%d.%d", r->opts.cuda_major, r->opts.cuda_minor);
		gm_json_str(&j, "require_cuda", gm_buf_cstr(&v));
		gm_buf_release(&v);
	} else {
		gm_json_null(&j, "require_cuda");
	}
	gm_json_begin_array(&j, "warnings");
	for (size_t i = 0; i < r->n_warnings; i++) {
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "code", gm_warn_code_name(r->warnings[i].code));
		gm_json_bool(&j, "blocker", r->warnings[i].blocker);
		gm_json_str(&j, "message", r->warnings[i].msg);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_bool(&j, "blocker", r->blocker);
	gm_json_end_object(&j);
	if (pretty)
		gm_buf_addch(out, '\n');
}

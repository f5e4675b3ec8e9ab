/* compare: the cloud side and the on-prem side of a migration, GPU against GPU — compute per
 * precision, memory, bandwidth, interconnect — and how many target GPUs (and servers) it takes
 * to match the source for each workload profile, with the warnings that decide a purchase
 * (model does not fit, NVLink lost, no FP8, compute capability too low for the CUDA needed).
 * Each side is a catalog name, an inventory file or a bench result; measured numbers replace
 * datasheet numbers and say so. No printing here: cmd_compare renders the result. */
#ifndef GM_COMPARE_H
#define GM_COMPARE_H

#include <stdbool.h>

#include "assess/catalog.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_COMPARE_SCHEMA "gpumigrate.compare/v1"
#define GM_BENCH_SCHEMA   "gpumigrate.bench/v1"

enum gm_side_kind {
	GM_SIDE_GPU,       /* "gpu:t4" (1 GPU) or "4xgpu:l40s" (a server with 4) */
	GM_SIDE_INSTANCE,  /* "gcp:a2-highgpu-8g" */
	GM_SIDE_INVENTORY, /* an inventory file (gpumigrate.inventory/v1) */
	GM_SIDE_BENCH,     /* a bench result file (gpumigrate.bench/v1) */
};

/* How the GPUs of one side talk to each other. */
enum gm_interconnect {
	GM_IC_UNKNOWN = 0,
	GM_IC_NONE,     /* a single GPU */
	GM_IC_PCIE,     /* PCIe only */
	GM_IC_NVLINK,   /* direct NVLink (bridges, no switch) */
	GM_IC_NVSWITCH, /* all-to-all NVLink through NVSwitch */
};

/* "unknown", "none", "pcie", "nvlink", "nvswitch" (the catalog's words). */
const char *gm_interconnect_name(enum gm_interconnect l);

/* Where a figure comes from. */
enum gm_fig_src {
	GM_FIG_DATASHEET = 0, /* the catalog */
	GM_FIG_INVENTORY,     /* what the driver reported on the host */
	GM_FIG_MEASURED,      /* a bench result */
};

/* "datasheet", "inventory", "measured". */
const char *gm_fig_src_name(enum gm_fig_src s);

struct gm_fig {
	struct gm_num n;
	enum gm_fig_src src;
};

/* One side of a comparison: a GPU model and a count, with per-GPU figures. */
struct gm_side {
	enum gm_side_kind kind;
	char *spec;  /* what the user wrote */
	char *title; /* "gcp:a2-highgpu-8g: 8 x NVIDIA A100 SXM4 40GB" */
	const struct gm_gpu_spec *gpu;
	int gpu_count;
	bool server; /* the GPUs are one machine (instance, inventory, N x GPU) */
	enum gm_interconnect link;
	bool link_assumed;                   /* N x GPU: inferred from the datasheet, not known */
	struct gm_fig tflops[GM_PREC_COUNT]; /* per GPU, dense */
	struct gm_fig memory_gib;            /* per GPU */
	struct gm_fig bandwidth_gbs;         /* per GPU */
	struct gm_fig nvlink_gbs;            /* per GPU */
	struct gm_fig pcie_gen;
	char *compute_capability; /* NULL when unknown */
	char *memory_type;        /* NULL when unknown */
	bool measured;            /* some figure came from a bench result */
};

void gm_side_init(struct gm_side *s);
void gm_side_release(struct gm_side *s);

/* Resolves a side from what the user wrote: "gpu:NAME", "NxGPU:NAME" (N x a GPU, e.g.
 * "4xgpu:l40s"), "provider:machine-type", a bare GPU name ("l40s"), or the path of an inventory
 * or bench result file. Unknown names fail with GM_ERR_USAGE and a "did you mean" hint;
 * unreadable or malformed files with their own error (file:line:col). */
enum gm_rc gm_side_resolve(struct gm_side *s, const struct gm_catalog *cat, const char *spec,
                           struct gm_err *err);

/* Replaces the side's datasheet figures with the measured ones of a bench result file
 * (gpumigrate.bench/v1, doc/formats.md). The bench GPU must be the side's GPU model. */
enum gm_rc gm_side_apply_bench(struct gm_side *s, const struct gm_catalog *cat, const char *path,
                               struct gm_err *err);

struct gm_compare_opts {
	enum gm_precision precision; /* for the training profile */
	bool precision_set;          /* false: bf16 when both sides have it, else fp16 */
	double model_params;         /* parameters (70e9 for "70B"); 0 = no capacity profile */
	double bytes_per_param;      /* 2 by default */
	double overhead;             /* KV cache / activations factor, 1.2 by default */
	bool require_cuda;
	int cuda_major, cuda_minor;
};

/* Defaults: precision auto, no model, 2 bytes/param, 1.2 overhead, no CUDA requirement. */
void gm_compare_opts_init(struct gm_compare_opts *o);

/* The lowest compute capability a CUDA release supports (x10: 50 for 5.0); 0 when the
 * release predates the table. */
int gm_compare_cuda_min_cc(int cuda_major, int cuda_minor);

/* One line of the side-by-side table. */
struct gm_compare_row {
	const char *
	        metric; /* "tflops.bf16", "memory_gib", "bandwidth_gbs", "nvlink_gbs", "pcie_gen" */
	const char *label; /* "BF16 TFLOPS" */
	bool total;        /* per GPU (false) or the whole side (true) */
	struct gm_fig src, tgt;
	struct gm_num ratio; /* tgt / src; unknown when either is unknown or src is 0 */
};

enum gm_profile_kind { GM_PROFILE_TRAINING, GM_PROFILE_INFERENCE, GM_PROFILE_CAPACITY };

/* How many target GPUs match the source for one workload profile. */
struct gm_compare_profile {
	enum gm_profile_kind kind;
	const char *name;        /* "training", "inference", "capacity" */
	char *basis;             /* "bf16 dense TFLOPS (total)" */
	struct gm_num src_total; /* what the source has (or the model needs, for capacity) */
	struct gm_num tgt_per_gpu;
	struct gm_num gpus_needed;    /* target GPUs to match; unknown with why set */
	struct gm_num servers_needed; /* target servers, when the target is a server */
	char *why;                    /* why the numbers are unknown; NULL when known */
};

enum gm_warn_code {
	GM_WARN_MODEL_NO_FIT_GPU,   /* needs tensor parallelism over several target GPUs */
	GM_WARN_MODEL_NO_FIT_TOTAL, /* does not fit in the whole target side: blocker */
	GM_WARN_NVLINK_LOST,
	GM_WARN_FP8_MISSING,
	GM_WARN_CC_TOO_LOW, /* blocker: the required CUDA cannot run on the target */
	GM_WARN_CC_UNKNOWN,
	GM_WARN_MEMORY_DOWNGRADE, /* HBM to GDDR */
	GM_WARN_LESS_MEMORY,      /* less memory per GPU than the source */
};

/* "model-does-not-fit-gpu", … (stable, in JSON). */
const char *gm_warn_code_name(enum gm_warn_code c);

struct gm_compare_warning {
	enum gm_warn_code code;
	bool blocker;
	char *msg;
};

struct gm_compare_result {
	const struct gm_side *src, *tgt; /* borrowed from the caller */
	struct gm_compare_opts opts;     /* as used; precision resolved */
	struct gm_compare_row *rows;
	size_t n_rows;
	struct gm_compare_profile profiles[3];
	size_t n_profiles;     /* 2, or 3 with a model size */
	double model_need_gib; /* params x bytes x overhead / 2^30 when a model is given */
	struct gm_compare_warning *warnings;
	size_t n_warnings;
	bool blocker; /* some warning is a blocker */
};

void gm_compare_result_init(struct gm_compare_result *r);
void gm_compare_result_release(struct gm_compare_result *r);

/* Compares two resolved sides. src and tgt must outlive r. */
void gm_compare_run(const struct gm_side *src, const struct gm_side *tgt,
                    const struct gm_compare_opts *opts, struct gm_compare_result *r);

/* gpumigrate.compare/v1 document (doc/formats.md). */
void gm_compare_to_json(const struct gm_compare_result *r, struct gm_buf *out, bool pretty);

#endif

/* `bench gpu`'s measurements: host↔device copies (pinned and pageable), device-local copy,
 * the peer-to-peer matrix, and cuBLAS GEMM throughput per precision, each timed with CUDA
 * events after warm-up and checked for correct results. */
#ifndef GM_BENCH_GPU_H
#define GM_BENCH_GPU_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Which tests to run (bit mask). */
enum {
	GM_BENCH_GPU_H2D = 1 << 0,  /* host→device, pinned and pageable */
	GM_BENCH_GPU_D2H = 1 << 1,  /* device→host, pinned and pageable */
	GM_BENCH_GPU_D2D = 1 << 2,  /* device-local copy */
	GM_BENCH_GPU_P2P = 1 << 3,  /* GPU i → GPU j */
	GM_BENCH_GPU_GEMM = 1 << 4, /* cublasGemmEx */
	GM_BENCH_GPU_ALL = (1 << 5) - 1,
};

/* GEMM precisions (bit mask of 1 << gm_bench_gemm_prec). */
enum gm_bench_gemm_prec {
	GM_GEMM_FP32, /* FP32 inputs, compute 32F */
	GM_GEMM_TF32, /* FP32 inputs, compute 32F_FAST_TF32 */
	GM_GEMM_FP16, /* FP16 inputs and output, compute 32F */
	GM_GEMM_BF16, /* BF16 inputs and output, compute 32F */
	GM_GEMM_NPREC
};

/* "fp32", "tf32", "fp16", "bf16". */
const char *gm_bench_gemm_prec_name(enum gm_bench_gemm_prec p);
/* Relative error bound of a GEMM result element: |got − ref| ≤ bound · Σ|a·b|. */
double gm_bench_gemm_tolerance(enum gm_bench_gemm_prec p);

struct gm_bench_gpu_opts {
	int device;        /* ordinal to measure; -1: every GPU */
	unsigned tests;    /* GM_BENCH_GPU_* */
	unsigned precs;    /* 1 << GM_GEMM_* */
	size_t copy_bytes; /* bytes per copy (default 256 MiB) */
	int copy_loops;    /* copies per timed sample (default 8) */
	int gemm_n;        /* m = n = k (default 8192) */
	int repeats;       /* timed samples per figure (default 10) */
	int warmup;        /* untimed runs first (default 2) */
};

void gm_bench_gpu_opts_default(struct gm_bench_gpu_opts *o);

enum gm_bench_gpu_kind { GM_FIG_COPY, GM_FIG_P2P, GM_FIG_GEMM };

/* One measured figure. */
struct gm_bench_gpu_fig {
	char name[64];    /* "gpu0.h2d_pinned", "gpu0.gemm.bf16", "p2p.gpu0-gpu1" */
	const char *unit; /* "GB/s" (10^9 bytes) or "TFLOPS" */
	enum gm_bench_gpu_kind kind;
	int device, peer;             /* peer: destination GPU of a P2P copy, else -1 */
	enum gm_bench_gemm_prec prec; /* GEMM only */
	double *samples;              /* one rate per timed sample */
	size_t n_samples;
	double median;
	bool checked; /* the result was compared with the expected values */
	bool check_ok;
	double max_error; /* GEMM: largest |got − ref| / Σ|a·b| of the sampled elements */
	char note[160];   /* why a figure is missing or failed its check; "" when fine */
};

struct gm_bench_gpu_dev {
	int index;
	char name[128]; /* as cuDeviceGetName reports it ("NVIDIA H200") */
	size_t memory_bytes;
	int cc_major, cc_minor;
};

struct gm_bench_gpu_result {
	int driver_version; /* cuDriverGetVersion: 12040 = 12.4 */
	struct gm_bench_gpu_dev *devs;
	int n_devs;
	struct gm_bench_gpu_fig *figs;
	size_t n_figs;
	char blas_why[256]; /* why GEMM was not measured; "" when it was */
};

void gm_bench_gpu_result_init(struct gm_bench_gpu_result *r);
void gm_bench_gpu_result_release(struct gm_bench_gpu_result *r);

/* Runs the tests. GM_ERR_NO_DRIVER: no CUDA driver library, or no GPU (nothing to measure);
 * GM_ERR_DRIVER: the driver failed (err says which call). A failed correctness check is not
 * an error: the figure carries check_ok false and a note. */
enum gm_rc gm_bench_gpu_run(const struct gm_bench_gpu_opts *o, struct gm_bench_gpu_result *r,
                            struct gm_err *err);

/* The median of n values (sorted copy); NaN when n is 0. */
double gm_bench_gpu_median(const double *x, size_t n);

/* Float to IEEE binary16 and to bfloat16 bits, rounding to nearest even (host-side input
 * preparation; exported for tests). */
unsigned short gm_bench_float_to_half(float f);
unsigned short gm_bench_float_to_bf16(float f);

/* The spin-on-flag kernel (PTX, sm_52), for tests that check it is well-formed. */
extern const char gm_bench_gpu_ptx[];

#endif

/* GPU measurements the way nvbandwidth and the cuBLAS samples take them: copies queued
 * behind a kernel that spins on a host flag so launch overhead stays out of the timing,
 * GEMMs back to back between CUDA events, medians of repeats, inputs never zero and every
 * result compared with what it should be. */
#include "bench/gpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/cuda.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Spins until *flag != 0 or timeout_ns passed (%globaltimer), so a stuck host never hangs the
 * GPU. Hand-written PTX ISA 7.0 for sm_52: every driver since CUDA 11.0 JITs it. */
const char gm_bench_gpu_ptx[] = ".version 7.0\n"
                                ".target sm_52\n"
                                ".address_size 64\n"
                                "\n"
                                ".visible .entry gm_spin(\n"
                                "\t.param .u64 gm_spin_flag,\n"
                                "\t.param .u64 gm_spin_timeout\n"
                                ")\n"
                                "{\n"
                                "\t.reg .pred %p<3>;\n"
                                "\t.reg .b32 %r<2>;\n"
                                "\t.reg .b64 %rd<6>;\n"
                                "\tld.param.u64 %rd1, [gm_spin_flag];\n"
                                "\tld.param.u64 %rd2, [gm_spin_timeout];\n"
                                "\tcvta.to.global.u64 %rd1, %rd1;\n"
                                "\tmov.u64 %rd3, %globaltimer;\n"
                                "$L_spin:\n"
                                "\tld.volatile.global.u32 %r1, [%rd1];\n"
                                "\tsetp.ne.u32 %p1, %r1, 0;\n"
                                "\t@%p1 bra $L_done;\n"
                                "\tmov.u64 %rd4, %globaltimer;\n"
                                "\tsub.u64 %rd5, %rd4, %rd3;\n"
                                "\tsetp.lt.u64 %p2, %rd5, %rd2;\n"
                                "\t@%p2 bra $L_spin;\n"
                                "$L_done:\n"
                                "\tret;\n"
                                "}\n";

#define SPIN_TIMEOUT_NS (10ULL * 1000 * 1000 * 1000)
#define CHECK_WORDS     1024 /* words compared per sampled chunk */
#define CHECK_CHUNKS    16
#define GEMM_CHECKS     256 /* sampled output elements */

const char *gm_bench_gemm_prec_name(enum gm_bench_gemm_prec p)
{
	static const char *const n[] = {"fp32", "tf32", "fp16", "bf16"};
	return (unsigned)p < GM_GEMM_NPREC ? n[p] : "?";
}

double gm_bench_gemm_tolerance(enum gm_bench_gemm_prec p)
{
	/* FP32 accumulation over k terms: well below 1e-4 of Σ|a·b|. The inputs are exact in
	 * every precision (multiples of 1/8 up to 1), so the others differ only by accumulation
	 * and the rounding of the output: 2^-11 (fp16), 2^-8 (bf16), tf32 may round products'
	 * inputs to 10 bits (exact here) and accumulate in FP32. */
	switch (p) {
	case GM_GEMM_FP32: return 1e-4;
	case GM_GEMM_TF32:
	case GM_GEMM_FP16: return 2e-3;
	default: return 8e-3;
	}
}

void gm_bench_gpu_opts_default(struct gm_bench_gpu_opts *o)
{
	o->device = -1;
	o->tests = GM_BENCH_GPU_ALL;
	o->precs = (1u << GM_GEMM_NPREC) - 1;
	o->copy_bytes = (size_t)256 << 20;
	o->copy_loops = 8;
	o->gemm_n = 8192;
	o->repeats = 10;
	o->warmup = 2;
}

void gm_bench_gpu_result_init(struct gm_bench_gpu_result *r)
{
	memset(r, 0, sizeof(*r));
}

void gm_bench_gpu_result_release(struct gm_bench_gpu_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_figs; i++)
		free(r->figs[i].samples);
	free(r->figs);
	free(r->devs);
	memset(r, 0, sizeof(*r));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double gm_bench_gpu_median(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	double *s = gm_xmalloc(n * sizeof(*s));
	memcpy(s, x, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

unsigned short gm_bench_float_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (unsigned short)((u >> 16) | 0x40); /* NaN stays NaN */
	u += 0x7fffu + ((u >> 16) & 1);
	return (unsigned short)(u >> 16);
}

unsigned short gm_bench_float_to_half(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	uint32_t sign = (u >> 16) & 0x8000u;
	uint32_t exp = (u >> 23) & 0xffu;
	uint32_t man = u & 0x7fffffu;
	if (exp == 0xff)
		return (unsigned short)(sign | 0x7c00u | (man ? 0x200u : 0));
	int e = (int)exp - 127 + 15;
	if (e >= 31)
		return (unsigned short)(sign | 0x7c00u); /* overflow: infinity */
	if (e <= 0) {
		if (e < -10)
			return (unsigned short)sign; /* underflow: signed zero */
		man |= 0x800000u;
		unsigned shift = (unsigned)(14 - e);
		uint32_t half = man >> shift;
		uint32_t rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
		if (rest > mid || (rest == mid && (half & 1)))
			half++;
		return (unsigned short)(sign | half);
	}
	uint32_t h = sign | (uint32_t)e << 10 | man >> 13;
	uint32_t rest = man & 0x1fffu;
	if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
		h++; /* a carry into the exponent is the right rounding, up to infinity */
	return (unsigned short)h;
}

/* ---- plumbing -------------------------------------------------------------------------- */

struct dev {
	gm_cu_device d;
	struct gm_cu_ctx_st *ctx;
	struct gm_cu_mod_st *mod;
	struct gm_cu_func_st *spin;
	struct gm_cu_stream_st *stream;
	struct gm_cu_event_st **ev; /* repeats + 1 */
	gm_cu_ptr flag_dev;
};

struct bench {
	struct gm_cuda cu;
	const struct gm_bench_gpu_opts *o;
	struct gm_bench_gpu_result *r;
	struct dev *devs;
	int n_devs;
	volatile uint32_t *flag; /* pinned, mapped into every context */
	size_t cap_figs;
	struct gm_err *err;
};

#define CU(call)                                                                       \
	do {                                                                           \
		gm_cu_result cu_rc_ = (call);                                          \
		if (cu_rc_ != GM_CU_SUCCESS) {                                         \
			rc = gm_err_set(b->err, GM_ERR_DRIVER, "%s failed: %s", #call, \
			                gm_cuda_strerror(&b->cu, cu_rc_));             \
			goto out;                                                      \
		}                                                                      \
	} while (0)

static struct gm_bench_gpu_fig *add_fig(struct bench *b, enum gm_bench_gpu_kind kind, int device,
                                        int peer, const char *unit)
{
	struct gm_bench_gpu_result *r = b->r;
	if (r->n_figs == b->cap_figs) {
		b->cap_figs = b->cap_figs ? 2 * b->cap_figs : 16;
		r->figs = gm_xreallocarray(r->figs, b->cap_figs, sizeof(*r->figs));
	}
	struct gm_bench_gpu_fig *f = &r->figs[r->n_figs++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->device = device;
	f->peer = peer;
	f->unit = unit;
	f->samples = gm_xcalloc((size_t)b->o->repeats, sizeof(double));
	return f;
}

/* Copies src into dst[size], cut short when it does not fit. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static uint32_t pattern(size_t i, uint32_t seed)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ seed;
	x ^= x >> 15;
	return x * 2246822519u | 1u; /* never zero */
}

static void fill(uint32_t *p, size_t words, uint32_t seed)
{
	for (size_t i = 0; i < words; i++)
		p[i] = pattern(i, seed);
}

/* Offsets (in words) of the sampled chunks: the first, the last and evenly between. */
static size_t chunk_at(size_t words, int i)
{
	size_t span = words > CHECK_WORDS ? words - CHECK_WORDS : 0;
	return span * (size_t)i / (CHECK_CHUNKS - 1);
}

static bool check_host(const uint32_t *p, size_t words, uint32_t seed)
{
	for (int c = 0; c < CHECK_CHUNKS; c++) {
		size_t at = chunk_at(words, c);
		for (size_t w = at; w < at + CHECK_WORDS && w < words; w++)
			if (p[w] != pattern(w, seed))
				return false;
	}
	return true;
}

static enum gm_rc check_device(struct bench *b, struct dev *dv, gm_cu_ptr p, size_t words,
                               uint32_t seed, bool *ok)
{
	enum gm_rc rc = GM_OK;
	uint32_t chunk[CHECK_WORDS];
	*ok = true;
	CU(b->cu.ctx_set_current(dv->ctx));
	for (int c = 0; c < CHECK_CHUNKS && *ok; c++) {
		size_t at = chunk_at(words, c);
		size_t n = words - at < CHECK_WORDS ? words - at : CHECK_WORDS;
		CU(b->cu.memcpy_dtoh(chunk, p + at * 4, n * 4));
		for (size_t w = 0; w < n; w++)
			if (chunk[w] != pattern(at + w, seed))
				*ok = false;
	}
out:
	return rc;
}

enum copy_kind { C_H2D, C_D2H, C_D2D, C_P2P };

struct copy {
	enum copy_kind kind;
	gm_cu_ptr dst, src;
	void *hdst;
	const void *hsrc;
	struct dev *from, *to; /* P2P */
	size_t n;
};

static gm_cu_result enqueue(struct bench *b, const struct copy *c, struct gm_cu_stream_st *s)
{
	switch (c->kind) {
	case C_H2D: return b->cu.memcpy_htod_async(c->dst, c->hsrc, c->n, s);
	case C_D2H: return b->cu.memcpy_dtoh_async(c->hdst, c->src, c->n, s);
	case C_D2D: return b->cu.memcpy_dtod_async(c->dst, c->src, c->n, s);
	default: return b->cu.memcpy_peer_async(c->dst, c->to->ctx, c->src, c->from->ctx, c->n, s);
	}
}

/* Times copies on dv's stream: per sample, copy_loops copies between two events. With
 * blocked, the stream first waits on the host flag so every copy is queued before the first
 * starts (pageable copies cannot wait: the driver stages them through the host thread). */
static enum gm_rc time_copies(struct bench *b, struct dev *dv, const struct copy *c, bool blocked,
                              struct gm_bench_gpu_fig *f)
{
	enum gm_rc rc = GM_OK;
	const struct gm_bench_gpu_opts *o = b->o;
	CU(b->cu.ctx_set_current(dv->ctx));
	for (int w = 0; w < o->warmup; w++)
		CU(enqueue(b, c, dv->stream));
	CU(b->cu.stream_synchronize(dv->stream));
	for (int r = 0; r < o->repeats; r++) {
		if (blocked) {
			*b->flag = 0;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			unsigned long long timeout = SPIN_TIMEOUT_NS;
			void *params[] = {&dv->flag_dev, &timeout};
			CU(b->cu.launch_kernel(dv->spin, 1, 1, 1, 1, 1, 1, 0, dv->stream, params,
			                       NULL));
		}
		CU(b->cu.event_record(dv->ev[0], dv->stream));
		for (int l = 0; l < o->copy_loops; l++)
			CU(enqueue(b, c, dv->stream));
		CU(b->cu.event_record(dv->ev[1], dv->stream));
		if (blocked) {
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			*b->flag = 1;
		}
		CU(b->cu.event_synchronize(dv->ev[1]));
		float ms = 0;
		CU(b->cu.event_elapsed(&ms, dv->ev[0], dv->ev[1]));
		f->samples[f->n_samples++] =
		        ms > 0 ? (double)c->n * o->copy_loops / (ms / 1e3) / 1e9 : NAN;
	}
	f->median = gm_bench_gpu_median(f->samples, f->n_samples);
out:
	if (blocked)
		*b->flag = 1; /* never leave a spinner waiting */
	return rc;
}

/* Host↔device and device-local copies on one GPU. */
static enum gm_rc bench_copies(struct bench *b, int di)
{
	enum gm_rc rc = GM_OK;
	struct dev *dv = &b->devs[di];
	const struct gm_bench_gpu_opts *o = b->o;
	size_t n = o->copy_bytes & ~(size_t)3, words = n / 4;
	gm_cu_ptr dsrc = 0, ddst = 0;
	void *pin_src = NULL, *pin_dst = NULL;
	uint32_t *page_src = NULL, *page_dst = NULL;
	bool ok;
	int idx = b->r->devs[di].index;
	CU(b->cu.ctx_set_current(dv->ctx));
	CU(b->cu.mem_alloc(&dsrc, n));
	CU(b->cu.mem_alloc(&ddst, n));
	CU(b->cu.mem_host_alloc(&pin_src, n, GM_CU_MEMHOSTALLOC_PORTABLE));
	CU(b->cu.mem_host_alloc(&pin_dst, n, GM_CU_MEMHOSTALLOC_PORTABLE));
	page_src = gm_xmalloc(n);
	page_dst = gm_xmalloc(n);

	for (int pinned = 1; pinned >= 0; pinned--) {
		const char *tag = pinned ? "pinned" : "pageable";
		uint32_t *hs = pinned ? pin_src : page_src, *hd = pinned ? pin_dst : page_dst;
		if (o->tests & GM_BENCH_GPU_H2D) {
			uint32_t seed = 0x1000u + (uint32_t)pinned;
			fill(hs, words, seed);
			CU(b->cu.memset_d8(ddst, 0, n));
			struct gm_bench_gpu_fig *f = add_fig(b, GM_FIG_COPY, idx, -1, "GB/s");
			snprintf(f->name, sizeof(f->name), "gpu%d.h2d_%s", idx, tag);
			struct copy c = {C_H2D, ddst, 0, NULL, hs, NULL, NULL, n};
			if ((rc = time_copies(b, dv, &c, pinned, f)) != GM_OK)
				goto out;
			if ((rc = check_device(b, dv, ddst, words, seed, &ok)) != GM_OK)
				goto out;
			f->checked = true;
			f->check_ok = ok;
			if (!ok)
				snprintf(f->note, sizeof(f->note),
				         "the device copy differs from the host data");
		}
		if (o->tests & GM_BENCH_GPU_D2H) {
			uint32_t seed = 0x2000u + (uint32_t)pinned;
			fill(hs, words, seed);
			CU(b->cu.memcpy_htod(dsrc, hs, n));
			memset(hd, 0, n);
			struct gm_bench_gpu_fig *f = add_fig(b, GM_FIG_COPY, idx, -1, "GB/s");
			snprintf(f->name, sizeof(f->name), "gpu%d.d2h_%s", idx, tag);
			struct copy c = {C_D2H, 0, dsrc, hd, NULL, NULL, NULL, n};
			if ((rc = time_copies(b, dv, &c, pinned, f)) != GM_OK)
				goto out;
			f->checked = true;
			f->check_ok = check_host(hd, words, seed);
			if (!f->check_ok)
				snprintf(f->note, sizeof(f->note),
				         "the host copy differs from the device data");
		}
	}
	if (o->tests & GM_BENCH_GPU_D2D) {
		uint32_t seed = 0x3000u;
		fill(pin_src, words, seed);
		CU(b->cu.memcpy_htod(dsrc, pin_src, n));
		CU(b->cu.memset_d8(ddst, 0, n));
		struct gm_bench_gpu_fig *f = add_fig(b, GM_FIG_COPY, idx, -1, "GB/s");
		snprintf(f->name, sizeof(f->name), "gpu%d.d2d", idx);
		struct copy c = {C_D2D, ddst, dsrc, NULL, NULL, NULL, NULL, n};
		if ((rc = time_copies(b, dv, &c, true, f)) != GM_OK)
			goto out;
		if ((rc = check_device(b, dv, ddst, words, seed, &ok)) != GM_OK)
			goto out;
		f->checked = true;
		f->check_ok = ok;
		if (!ok)
			snprintf(f->note, sizeof(f->note), "the copy differs from its source");
	}
out:
	b->cu.ctx_set_current(dv->ctx);
	if (dsrc)
		b->cu.mem_free(dsrc);
	if (ddst)
		b->cu.mem_free(ddst);
	if (pin_src)
		b->cu.mem_free_host(pin_src);
	if (pin_dst)
		b->cu.mem_free_host(pin_dst);
	free(page_src);
	free(page_dst);
	return rc;
}

/* Every ordered pair of GPUs. */
static enum gm_rc bench_p2p(struct bench *b)
{
	enum gm_rc rc = GM_OK;
	size_t n = b->o->copy_bytes & ~(size_t)3, words = n / 4;
	gm_cu_ptr *bufs = gm_xcalloc((size_t)b->n_devs, sizeof(*bufs));
	gm_cu_ptr *dsts = gm_xcalloc((size_t)b->n_devs, sizeof(*dsts));
	uint32_t *host = gm_xmalloc(n);
	for (int i = 0; i < b->n_devs; i++) {
		CU(b->cu.ctx_set_current(b->devs[i].ctx));
		CU(b->cu.mem_alloc(&bufs[i], n));
		CU(b->cu.mem_alloc(&dsts[i], n));
		fill(host, words, 0x4000u + (uint32_t)i);
		CU(b->cu.memcpy_htod(bufs[i], host, n));
	}
	for (int i = 0; i < b->n_devs; i++) {
		for (int j = 0; j < b->n_devs; j++) {
			if (i == j)
				continue;
			struct dev *from = &b->devs[i], *to = &b->devs[j];
			int can = 0;
			CU(b->cu.can_access_peer(&can, from->d, to->d));
			if (can) {
				CU(b->cu.ctx_set_current(from->ctx));
				gm_cu_result e = b->cu.ctx_enable_peer_access(to->ctx, 0);
				if (e != GM_CU_SUCCESS && e != GM_CU_ERROR_PEER_ALREADY_ENABLED)
					CU(e);
				CU(b->cu.ctx_set_current(to->ctx));
				e = b->cu.ctx_enable_peer_access(from->ctx, 0);
				if (e != GM_CU_SUCCESS && e != GM_CU_ERROR_PEER_ALREADY_ENABLED)
					CU(e);
			}
			CU(b->cu.ctx_set_current(to->ctx));
			CU(b->cu.memset_d8(dsts[j], 0, n));
			int ii = b->r->devs[i].index, jj = b->r->devs[j].index;
			struct gm_bench_gpu_fig *f = add_fig(b, GM_FIG_P2P, ii, jj, "GB/s");
			snprintf(f->name, sizeof(f->name), "p2p.gpu%d-gpu%d", ii, jj);
			if (!can)
				snprintf(f->note, sizeof(f->note),
				         "no peer access between these GPUs: the driver stages the "
				         "copy "
				         "through host memory");
			struct copy c = {C_P2P, dsts[j], bufs[i], NULL, NULL, from, to, n};
			if ((rc = time_copies(b, from, &c, true, f)) != GM_OK)
				goto out;
			bool ok;
			if ((rc = check_device(b, to, dsts[j], words, 0x4000u + (uint32_t)i,
			                       &ok)) != GM_OK)
				goto out;
			f->checked = true;
			f->check_ok = ok;
			if (!ok)
				snprintf(f->note, sizeof(f->note),
				         "the peer copy differs from its source");
		}
	}
out:
	for (int i = 0; i < b->n_devs; i++) {
		b->cu.ctx_set_current(b->devs[i].ctx);
		if (bufs[i])
			b->cu.mem_free(bufs[i]);
		if (dsts[i])
			b->cu.mem_free(dsts[i]);
	}
	free(bufs);
	free(dsts);
	free(host);
	return rc;
}

/* Inputs exact in every precision: multiples of 1/8 in [−1, 1] without 0. */
static float input_value(size_t i, uint32_t seed)
{
	int k = (int)(pattern(i, seed) % 16); /* 0..15 */
	return (float)(k < 8 ? k - 8 : k - 7) / 8.0f;
}

static float half_to_float(unsigned short h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
	float f;
	if (exp == 0) {
		f = ldexpf((float)man, -24);
		return sign ? -f : f;
	}
	if (exp == 31) {
		uint32_t u = sign | 0x7f800000u | (man << 13);
		memcpy(&f, &u, sizeof(f));
		return f;
	}
	uint32_t u = sign | (exp + 112) << 23 | man << 13;
	memcpy(&f, &u, sizeof(f));
	return f;
}

static float bf16_to_float(unsigned short h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* cuBLAS takes device memory as void *, the driver API hands it out as an integer
 * (CUdeviceptr); the two are the same address. */
static void *dev_ptr(gm_cu_ptr p)
{
	/* The result is a device address that the host never dereferences, so the pointer
	 * provenance the check guards for the optimizer has nothing to lose; cublasGemmEx's
	 * prototype makes the cast unavoidable. */
	return (void *)(uintptr_t)p; // NOLINT(performance-no-int-to-ptr)
}

static enum gm_rc bench_gemm(struct bench *b, int di)
{
	enum gm_rc rc = GM_OK;
	struct dev *dv = &b->devs[di];
	const struct gm_bench_gpu_opts *o = b->o;
	int idx = b->r->devs[di].index;
	size_t n = (size_t)o->gemm_n, elems = n * n;
	struct gm_cublas_st *h = NULL;
	gm_cu_ptr da = 0, db = 0, dc = 0;
	float *a = NULL, *bm = NULL;
	unsigned short *conv = NULL;
	CU(b->cu.ctx_set_current(dv->ctx));
	if (!b->cu.blas_create || b->cu.blas_create(&h) != 0 || !h) {
		for (int p = 0; p < GM_GEMM_NPREC; p++) {
			if (!(o->precs & (1u << p)))
				continue;
			struct gm_bench_gpu_fig *f = add_fig(b, GM_FIG_GEMM, idx, -1, "TFLOPS");
			f->prec = (enum gm_bench_gemm_prec)p;
			snprintf(f->name, sizeof(f->name), "gpu%d.gemm.%s", idx,
			         gm_bench_gemm_prec_name(f->prec));
			copy_str(f->note, sizeof(f->note),
			         b->cu.blas_why[0] ? b->cu.blas_why : "cublasCreate failed");
		}
		goto out;
	}
	if (b->cu.blas_set_stream(h, dv->stream) != 0) {
		rc = gm_err_set(b->err, GM_ERR_DRIVER, "cublasSetStream failed");
		goto out;
	}
	CU(b->cu.mem_alloc(&da, elems * 4));
	CU(b->cu.mem_alloc(&db, elems * 4));
	CU(b->cu.mem_alloc(&dc, elems * 4));
	a = gm_xmalloc(elems * sizeof(float));
	bm = gm_xmalloc(elems * sizeof(float));
	conv = gm_xmalloc(elems * sizeof(unsigned short));
	for (size_t i = 0; i < elems; i++) {
		a[i] = input_value(i, 0x5000u);
		bm[i] = input_value(i, 0x6000u);
	}
	for (int p = 0; p < GM_GEMM_NPREC; p++) {
		if (!(o->precs & (1u << p)))
			continue;
		enum gm_bench_gemm_prec prec = (enum gm_bench_gemm_prec)p;
		int type = prec == GM_GEMM_FP16   ? GM_CUDA_R_16F
		           : prec == GM_GEMM_BF16 ? GM_CUDA_R_16BF
		                                  : GM_CUDA_R_32F;
		int compute = prec == GM_GEMM_TF32 ? GM_CUBLAS_COMPUTE_32F_FAST_TF32
		                                   : GM_CUBLAS_COMPUTE_32F;
		size_t esz = type == GM_CUDA_R_32F ? 4 : 2;
		if (esz == 4) {
			CU(b->cu.memcpy_htod(da, a, elems * 4));
			CU(b->cu.memcpy_htod(db, bm, elems * 4));
		} else {
			for (int m = 0; m < 2; m++) {
				const float *src = m ? bm : a;
				for (size_t i = 0; i < elems; i++)
					conv[i] = prec == GM_GEMM_FP16
					                  ? gm_bench_float_to_half(src[i])
					                  : gm_bench_float_to_bf16(src[i]);
				CU(b->cu.memcpy_htod(m ? db : da, conv, elems * 2));
			}
		}
		CU(b->cu.memset_d8(dc, 0, elems * esz));
		struct gm_bench_gpu_fig *f = add_fig(b, GM_FIG_GEMM, idx, -1, "TFLOPS");
		f->prec = prec;
		snprintf(f->name, sizeof(f->name), "gpu%d.gemm.%s", idx,
		         gm_bench_gemm_prec_name(prec));
		float alpha = 1.0f, beta = 0.0f;
		int in = o->gemm_n;
		int st = 0;
		for (int w = 0; w < o->warmup && st == 0; w++)
			st = b->cu.blas_gemm_ex(h, GM_CUBLAS_OP_N, GM_CUBLAS_OP_N, in, in, in,
			                        &alpha, dev_ptr(da), type, in, dev_ptr(db), type,
			                        in, &beta, dev_ptr(dc), type, in, compute,
			                        GM_CUBLAS_GEMM_DEFAULT);
		CU(b->cu.event_record(dv->ev[0], dv->stream));
		for (int r = 0; r < o->repeats && st == 0; r++) {
			st = b->cu.blas_gemm_ex(h, GM_CUBLAS_OP_N, GM_CUBLAS_OP_N, in, in, in,
			                        &alpha, dev_ptr(da), type, in, dev_ptr(db), type,
			                        in, &beta, dev_ptr(dc), type, in, compute,
			                        GM_CUBLAS_GEMM_DEFAULT);
			CU(b->cu.event_record(dv->ev[r + 1], dv->stream));
		}
		CU(b->cu.stream_synchronize(dv->stream));
		if (st != 0) {
			snprintf(f->note, sizeof(f->note), "cublasGemmEx failed (status %d)", st);
			continue;
		}
		double flop = 2.0 * (double)n * (double)n * (double)n;
		for (int r = 0; r < o->repeats; r++) {
			float ms = 0;
			CU(b->cu.event_elapsed(&ms, dv->ev[r], dv->ev[r + 1]));
			f->samples[f->n_samples++] = ms > 0 ? flop / (ms / 1e3) / 1e12 : NAN;
		}
		f->median = gm_bench_gpu_median(f->samples, f->n_samples);
		/* Check sampled elements against a double-precision reference. */
		f->checked = true;
		f->check_ok = true;
		for (int s = 0; s < GEMM_CHECKS; s++) {
			size_t i = pattern((size_t)s, 0x7000u) % n,
			       j = pattern((size_t)s, 0x7100u) % n;
			double ref = 0, abs_sum = 0;
			for (size_t l = 0; l < n; l++) {
				double t = (double)a[i + l * n] * (double)bm[l + j * n];
				ref += t;
				abs_sum += fabs(t);
			}
			unsigned char raw[4];
			CU(b->cu.memcpy_dtoh(raw, dc + (i + j * n) * esz, esz));
			double got;
			if (esz == 4) {
				float g;
				memcpy(&g, raw, 4);
				got = g;
			} else {
				unsigned short u;
				memcpy(&u, raw, 2);
				got = prec == GM_GEMM_FP16 ? half_to_float(u) : bf16_to_float(u);
			}
			double e = isfinite(got) ? fabs(got - ref) / abs_sum : INFINITY;
			if (e > f->max_error || !isfinite(e))
				f->max_error = e;
		}
		if (!(f->max_error <= gm_bench_gemm_tolerance(prec))) {
			f->check_ok = false;
			snprintf(f->note, sizeof(f->note),
			         "result error %.3g of the reference exceeds the bound %.3g",
			         f->max_error, gm_bench_gemm_tolerance(prec));
		}
	}
out:
	b->cu.ctx_set_current(dv->ctx);
	if (h)
		b->cu.blas_destroy(h);
	if (da)
		b->cu.mem_free(da);
	if (db)
		b->cu.mem_free(db);
	if (dc)
		b->cu.mem_free(dc);
	free(a);
	free(bm);
	free(conv);
	return rc;
}

static enum gm_rc setup_dev(struct bench *b, struct dev *dv, int ordinal,
                            struct gm_bench_gpu_dev *info)
{
	enum gm_rc rc = GM_OK;
	CU(b->cu.device_get(&dv->d, ordinal));
	info->index = ordinal;
	CU(b->cu.device_name(info->name, (int)sizeof(info->name), dv->d));
	CU(b->cu.device_total_mem(&info->memory_bytes, dv->d));
	CU(b->cu.device_attribute(&info->cc_major, GM_CU_DEVICE_ATTR_CC_MAJOR, dv->d));
	CU(b->cu.device_attribute(&info->cc_minor, GM_CU_DEVICE_ATTR_CC_MINOR, dv->d));
	CU(b->cu.primary_ctx_retain(&dv->ctx, dv->d));
	CU(b->cu.ctx_set_current(dv->ctx));
	CU(b->cu.module_load_data(&dv->mod, gm_bench_gpu_ptx));
	CU(b->cu.module_get_function(&dv->spin, dv->mod, "gm_spin"));
	CU(b->cu.stream_create(&dv->stream, GM_CU_STREAM_NON_BLOCKING));
	dv->ev = gm_xcalloc((size_t)b->o->repeats + 1, sizeof(struct gm_cu_event_st *));
	for (int i = 0; i <= b->o->repeats; i++)
		CU(b->cu.event_create(&dv->ev[i], GM_CU_EVENT_DEFAULT));
out:
	return rc;
}

static void teardown_dev(struct bench *b, struct dev *dv)
{
	if (!dv->ctx)
		return;
	b->cu.ctx_set_current(dv->ctx);
	if (dv->ev)
		for (int i = 0; i <= b->o->repeats; i++)
			if (dv->ev[i])
				b->cu.event_destroy(dv->ev[i]);
	free(dv->ev);
	if (dv->stream)
		b->cu.stream_destroy(dv->stream);
	if (dv->mod)
		b->cu.module_unload(dv->mod);
}

enum gm_rc gm_bench_gpu_run(const struct gm_bench_gpu_opts *o, struct gm_bench_gpu_result *r,
                            struct gm_err *err)
{
	struct bench bb = {0}, *b = &bb;
	enum gm_rc rc;
	void *flag = NULL;
	b->o = o;
	b->r = r;
	b->err = err;
	if (o->repeats < 1 || o->copy_loops < 1 || o->gemm_n < 1 || o->copy_bytes < 4 ||
	    o->warmup < 0)
		return gm_err_set(err, GM_ERR_USAGE, "repeats, loops, sizes must be positive");
	rc = gm_cuda_load(&b->cu, err);
	if (rc != GM_OK)
		return rc;
	gm_cu_result cr = b->cu.init(0);
	if (cr != GM_CU_SUCCESS) {
		rc = gm_err_set(err, GM_ERR_NO_DRIVER, "cuInit failed: %s",
		                gm_cuda_strerror(&b->cu, cr));
		goto out;
	}
	b->cu.driver_version(&r->driver_version);
	int count = 0;
	CU(b->cu.device_count(&count));
	if (count < 1) {
		rc = gm_err_set(err, GM_ERR_NO_DRIVER, "the CUDA driver sees no GPU");
		goto out;
	}
	if (o->device >= count) {
		rc = gm_err_set(err, GM_ERR_USAGE, "no GPU %d: this host has %d (0 to %d)",
		                o->device, count, count - 1);
		goto out;
	}
	copy_str(r->blas_why, sizeof(r->blas_why), b->cu.blas_why);
	b->n_devs = o->device >= 0 ? 1 : count;
	b->devs = gm_xcalloc((size_t)b->n_devs, sizeof(*b->devs));
	r->devs = gm_xcalloc((size_t)b->n_devs, sizeof(*r->devs));
	r->n_devs = b->n_devs;
	for (int i = 0; i < b->n_devs; i++)
		if ((rc = setup_dev(b, &b->devs[i], o->device >= 0 ? o->device : i, &r->devs[i])) !=
		    GM_OK)
			goto out;
	/* The host flag: pinned, mapped, portable to every context (a context is current now). */
	CU(b->cu.mem_host_alloc(&flag, 4,
	                        GM_CU_MEMHOSTALLOC_PORTABLE | GM_CU_MEMHOSTALLOC_DEVICEMAP));
	b->flag = flag;
	*b->flag = 1;
	for (int i = 0; i < b->n_devs; i++) {
		CU(b->cu.ctx_set_current(b->devs[i].ctx));
		CU(b->cu.mem_host_get_device_pointer(&b->devs[i].flag_dev, flag, 0));
	}
	for (int i = 0; i < b->n_devs; i++) {
		if ((o->tests & (GM_BENCH_GPU_H2D | GM_BENCH_GPU_D2H | GM_BENCH_GPU_D2D)) &&
		    (rc = bench_copies(b, i)) != GM_OK)
			goto out;
		if ((o->tests & GM_BENCH_GPU_GEMM) && o->precs && (rc = bench_gemm(b, i)) != GM_OK)
			goto out;
	}
	if ((o->tests & GM_BENCH_GPU_P2P) && b->n_devs > 1 && (rc = bench_p2p(b)) != GM_OK)
		goto out;
out:
	for (int i = 0; b->devs && i < b->n_devs; i++)
		teardown_dev(b, &b->devs[i]);
	if (flag)
		b->cu.mem_free_host(flag);
	for (int i = 0; b->devs && i < b->n_devs; i++)
		if (b->devs[i].ctx)
			b->cu.primary_ctx_release(b->devs[i].d);
	free(b->devs);
	gm_cuda_unload(&b->cu);
	return rc;
}

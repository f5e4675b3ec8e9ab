/* The CUDA driver API and cuBLAS through dlopen, with our own minimal declarations (from
 * NVIDIA's API references; no NVIDIA header, no CUDA toolkit to build). Only the calls
 * `bench gpu` makes are declared; versioned entry points are resolved by their current
 * names (cuMemAlloc_v2 …), as the toolkit's headers map them. */
#ifndef GM_BENCH_CUDA_H
#define GM_BENCH_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* CUresult (0 = CUDA_SUCCESS), CUdevice, CUdeviceptr and the opaque handles. */
typedef int gm_cu_result;
typedef int gm_cu_device;
typedef unsigned long long gm_cu_ptr;
struct gm_cu_ctx_st;
struct gm_cu_mod_st;
struct gm_cu_func_st;
struct gm_cu_stream_st;
struct gm_cu_event_st;
struct gm_cublas_st;

#define GM_CU_SUCCESS                    0
#define GM_CU_ERROR_NO_DEVICE            100
#define GM_CU_ERROR_PEER_ALREADY_ENABLED 704
#define GM_CU_DEVICE_ATTR_CC_MAJOR       75
#define GM_CU_DEVICE_ATTR_CC_MINOR       76
#define GM_CU_MEMHOSTALLOC_PORTABLE      0x01
#define GM_CU_MEMHOSTALLOC_DEVICEMAP     0x02
#define GM_CU_STREAM_NON_BLOCKING        0x01
#define GM_CU_EVENT_DEFAULT              0x00
#define GM_CUDA_R_32F                    0 /* cudaDataType */
#define GM_CUDA_R_16F                    2
#define GM_CUDA_R_16BF                   14
#define GM_CUBLAS_COMPUTE_32F            68 /* cublasComputeType_t */
#define GM_CUBLAS_COMPUTE_32F_FAST_TF32  77
#define GM_CUBLAS_OP_N                   0
#define GM_CUBLAS_GEMM_DEFAULT           (-1)

/* The resolved entry points. blas_* are NULL when cuBLAS could not be loaded. */
struct gm_cuda {
	void *dl, *dl_blas;
	char blas_why[256]; /* why cuBLAS is missing; "" when loaded */
	gm_cu_result (*init)(unsigned flags);
	gm_cu_result (*driver_version)(int *v);
	gm_cu_result (*error_string)(gm_cu_result r, const char **s);
	gm_cu_result (*device_count)(int *n);
	gm_cu_result (*device_get)(gm_cu_device *d, int ordinal);
	gm_cu_result (*device_name)(char *name, int len, gm_cu_device d);
	gm_cu_result (*device_total_mem)(size_t *bytes, gm_cu_device d);
	gm_cu_result (*device_attribute)(int *v, int attr, gm_cu_device d);
	gm_cu_result (*can_access_peer)(int *can, gm_cu_device d, gm_cu_device peer);
	gm_cu_result (*primary_ctx_retain)(struct gm_cu_ctx_st **ctx, gm_cu_device d);
	gm_cu_result (*primary_ctx_release)(gm_cu_device d);
	gm_cu_result (*ctx_set_current)(struct gm_cu_ctx_st *ctx);
	gm_cu_result (*ctx_synchronize)(void);
	gm_cu_result (*ctx_enable_peer_access)(struct gm_cu_ctx_st *peer, unsigned flags);
	gm_cu_result (*mem_alloc)(gm_cu_ptr *p, size_t bytes);
	gm_cu_result (*mem_free)(gm_cu_ptr p);
	gm_cu_result (*mem_host_alloc)(void **p, size_t bytes, unsigned flags);
	gm_cu_result (*mem_free_host)(void *p);
	gm_cu_result (*mem_host_get_device_pointer)(gm_cu_ptr *d, void *h, unsigned flags);
	gm_cu_result (*memset_d8)(gm_cu_ptr dst, unsigned char v, size_t n);
	gm_cu_result (*memcpy_htod)(gm_cu_ptr dst, const void *src, size_t n);
	gm_cu_result (*memcpy_dtoh)(void *dst, gm_cu_ptr src, size_t n);
	gm_cu_result (*memcpy_htod_async)(gm_cu_ptr dst, const void *src, size_t n,
	                                  struct gm_cu_stream_st *s);
	gm_cu_result (*memcpy_dtoh_async)(void *dst, gm_cu_ptr src, size_t n,
	                                  struct gm_cu_stream_st *s);
	gm_cu_result (*memcpy_dtod_async)(gm_cu_ptr dst, gm_cu_ptr src, size_t n,
	                                  struct gm_cu_stream_st *s);
	gm_cu_result (*memcpy_peer_async)(gm_cu_ptr dst, struct gm_cu_ctx_st *dst_ctx,
	                                  gm_cu_ptr src, struct gm_cu_ctx_st *src_ctx, size_t n,
	                                  struct gm_cu_stream_st *s);
	gm_cu_result (*stream_create)(struct gm_cu_stream_st **s, unsigned flags);
	gm_cu_result (*stream_destroy)(struct gm_cu_stream_st *s);
	gm_cu_result (*stream_synchronize)(struct gm_cu_stream_st *s);
	gm_cu_result (*event_create)(struct gm_cu_event_st **e, unsigned flags);
	gm_cu_result (*event_destroy)(struct gm_cu_event_st *e);
	gm_cu_result (*event_record)(struct gm_cu_event_st *e, struct gm_cu_stream_st *s);
	gm_cu_result (*event_synchronize)(struct gm_cu_event_st *e);
	gm_cu_result (*event_elapsed)(float *ms, struct gm_cu_event_st *a,
	                              struct gm_cu_event_st *b);
	gm_cu_result (*module_load_data)(struct gm_cu_mod_st **m, const void *image);
	gm_cu_result (*module_unload)(struct gm_cu_mod_st *m);
	gm_cu_result (*module_get_function)(struct gm_cu_func_st **f, struct gm_cu_mod_st *m,
	                                    const char *name);
	gm_cu_result (*launch_kernel)(struct gm_cu_func_st *f, unsigned gx, unsigned gy,
	                              unsigned gz, unsigned bx, unsigned by, unsigned bz,
	                              unsigned shared, struct gm_cu_stream_st *s, void **params,
	                              void **extra);
	/* cuBLAS (cublasStatus_t is an int; 0 = CUBLAS_STATUS_SUCCESS) */
	int (*blas_create)(struct gm_cublas_st **h);
	int (*blas_destroy)(struct gm_cublas_st *h);
	int (*blas_set_stream)(struct gm_cublas_st *h, struct gm_cu_stream_st *s);
	int (*blas_gemm_ex)(struct gm_cublas_st *h, int transa, int transb, int m, int n, int k,
	                    const void *alpha, const void *a, int atype, int lda, const void *b,
	                    int btype, int ldb, const void *beta, void *c, int ctype, int ldc,
	                    int compute, int algo);
};

/* Loads libcuda.so.1 (or $GPUMIGRATE_CUDA_LIBRARY) and resolves the driver entry points,
 * then tries cuBLAS ($GPUMIGRATE_CUBLAS_LIBRARY, else libcublas.so.12, .11, .so); a missing
 * cuBLAS only leaves the blas_* pointers NULL with blas_why set. GM_ERR_NO_DRIVER when the
 * driver library or one of its entry points is missing. Does not call cuInit. */
enum gm_rc gm_cuda_load(struct gm_cuda *c, struct gm_err *err);
/* Closes the libraries; accepts a zeroed struct. */
void gm_cuda_unload(struct gm_cuda *c);
/* The driver's text for r ("CUDA_ERROR_OUT_OF_MEMORY: out of memory" style), or "error N". */
const char *gm_cuda_strerror(const struct gm_cuda *c, gm_cu_result r);

#endif

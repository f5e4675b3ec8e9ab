/* Loads the CUDA driver and cuBLAS at run time so gpumigrate builds without the CUDA toolkit
 * and runs on hosts without a GPU; the symbol table maps our declarations (cuda.h) to the
 * libraries' exported names. */
#include "bench/cuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/banned.h"

struct sym {
	size_t off;
	const char *name;
};

#define SYM(field, name)                              \
	{                                             \
		offsetof(struct gm_cuda, field), name \
	}

static const struct sym driver_syms[] = {
        SYM(init, "cuInit"),
        SYM(driver_version, "cuDriverGetVersion"),
        SYM(error_string, "cuGetErrorString"),
        SYM(device_count, "cuDeviceGetCount"),
        SYM(device_get, "cuDeviceGet"),
        SYM(device_name, "cuDeviceGetName"),
        SYM(device_total_mem, "cuDeviceTotalMem_v2"),
        SYM(device_attribute, "cuDeviceGetAttribute"),
        SYM(can_access_peer, "cuDeviceCanAccessPeer"),
        SYM(primary_ctx_retain, "cuDevicePrimaryCtxRetain"),
        SYM(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2"),
        SYM(ctx_set_current, "cuCtxSetCurrent"),
        SYM(ctx_synchronize, "cuCtxSynchronize"),
        SYM(ctx_enable_peer_access, "cuCtxEnablePeerAccess"),
        SYM(mem_alloc, "cuMemAlloc_v2"),
        SYM(mem_free, "cuMemFree_v2"),
        SYM(mem_host_alloc, "cuMemHostAlloc"),
        SYM(mem_free_host, "cuMemFreeHost"),
        SYM(mem_host_get_device_pointer, "cuMemHostGetDevicePointer_v2"),
        SYM(memset_d8, "cuMemsetD8_v2"),
        SYM(memcpy_htod, "cuMemcpyHtoD_v2"),
        SYM(memcpy_dtoh, "cuMemcpyDtoH_v2"),
        SYM(memcpy_htod_async, "cuMemcpyHtoDAsync_v2"),
        SYM(memcpy_dtoh_async, "cuMemcpyDtoHAsync_v2"),
        SYM(memcpy_dtod_async, "cuMemcpyDtoDAsync_v2"),
        SYM(memcpy_peer_async, "cuMemcpyPeerAsync"),
        SYM(stream_create, "cuStreamCreate"),
        SYM(stream_destroy, "cuStreamDestroy_v2"),
        SYM(stream_synchronize, "cuStreamSynchronize"),
        SYM(event_create, "cuEventCreate"),
        SYM(event_destroy, "cuEventDestroy_v2"),
        SYM(event_record, "cuEventRecord"),
        SYM(event_synchronize, "cuEventSynchronize"),
        SYM(event_elapsed, "cuEventElapsedTime"),
        SYM(module_load_data, "cuModuleLoadData"),
        SYM(module_unload, "cuModuleUnload"),
        SYM(module_get_function, "cuModuleGetFunction"),
        SYM(launch_kernel, "cuLaunchKernel"),
};

static const struct sym blas_syms[] = {
        SYM(blas_create, "cublasCreate_v2"),
        SYM(blas_destroy, "cublasDestroy_v2"),
        SYM(blas_set_stream, "cublasSetStream_v2"),
        SYM(blas_gemm_ex, "cublasGemmEx"),
};

_Static_assert(sizeof(void *) == sizeof(int (*)(void)),
               "dlsym results must fit a function pointer");

static void load_blas(struct gm_cuda *c)
{
	static const char *const names[] = {"libcublas.so.12", "libcublas.so.11", "libcublas.so",
	                                    NULL};
	const char *env = getenv("GPUMIGRATE_CUBLAS_LIBRARY");
	const char *tried = env && *env ? env : names[0];
	dlerror();
	if (env && *env) {
		c->dl_blas = dlopen(env, RTLD_NOW | RTLD_LOCAL);
	} else {
		for (size_t i = 0; !c->dl_blas && names[i]; i++)
			c->dl_blas = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	}
	if (!c->dl_blas) {
		const char *why = dlerror();
		snprintf(c->blas_why, sizeof(c->blas_why),
		         "cuBLAS not found (%s): install libcublas (CUDA toolkit) or set "
		         "GPUMIGRATE_CUBLAS_LIBRARY",
		         why ? why : tried);
		return;
	}
	for (size_t i = 0; i < sizeof(blas_syms) / sizeof(blas_syms[0]); i++) {
		void *p = dlsym(c->dl_blas, blas_syms[i].name);
		if (!p) {
			snprintf(c->blas_why, sizeof(c->blas_why), "the cuBLAS library has no %s",
			         blas_syms[i].name);
			for (size_t j = 0; j < sizeof(blas_syms) / sizeof(blas_syms[0]); j++) {
				void *null = NULL;
				memcpy((char *)c + blas_syms[j].off, &null, sizeof(null));
			}
			dlclose(c->dl_blas);
			c->dl_blas = NULL;
			return;
		}
		memcpy((char *)c + blas_syms[i].off, &p, sizeof(p));
	}
	c->blas_why[0] = '\0';
}

enum gm_rc gm_cuda_load(struct gm_cuda *c, struct gm_err *err)
{
	memset(c, 0, sizeof(*c));
	const char *lib = getenv("GPUMIGRATE_CUDA_LIBRARY");
	if (!lib || !*lib)
		lib = "libcuda.so.1";
	dlerror();
	c->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!c->dl) {
		const char *why = dlerror();
		gm_debug("dlopen '%s': %s", lib, why ? why : "failed");
		if (strchr(lib, '/') && access(lib, F_OK) == 0)
			return gm_err_set(err, GM_ERR_NO_DRIVER,
			                  "cannot load the CUDA driver '%s': %s", lib,
			                  why ? why : "dlopen failed");
		return gm_err_set(err, GM_ERR_NO_DRIVER, "no CUDA driver library (%s)", lib);
	}
	for (size_t i = 0; i < sizeof(driver_syms) / sizeof(driver_syms[0]); i++) {
		void *p = dlsym(c->dl, driver_syms[i].name);
		if (!p) {
			enum gm_rc rc =
			        gm_err_set(err, GM_ERR_NO_DRIVER,
			                   "'%s' is not a usable CUDA driver (it has no %s)", lib,
			                   driver_syms[i].name);
			dlclose(c->dl);
			gm_cuda_unload(c);
			return rc;
		}
		memcpy((char *)c + driver_syms[i].off, &p, sizeof(p));
	}
	load_blas(c);
	return GM_OK;
}

void gm_cuda_unload(struct gm_cuda *c)
{
	if (!c)
		return;
	/* cuBLAS keeps the runtime's state; closing the driver under a live context is not
	 * safe either, so both stay mapped until exit and only the table is cleared. */
	memset(c, 0, sizeof(*c));
}

const char *gm_cuda_strerror(const struct gm_cuda *c, gm_cu_result r)
{
	const char *s = NULL;
	if (c && c->error_string && c->error_string(r, &s) == GM_CU_SUCCESS && s)
		return s;
	return "unknown CUDA error";
}

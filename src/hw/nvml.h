/* NVML, loaded with dlopen: the GPU facts of the inventory (and, later, the exporter's
 * samples) without NVIDIA headers or a link-time dependency. A host without the library,
 * the driver or a GPU gets a clear "why", never a crash. */
#ifndef GM_NVML_H
#define GM_NVML_H

#include "hw/inventory.h"
#include "util/err.h"

/* The library loaded when none is named and $GPUMIGRATE_NVML_LIBRARY is unset. */
#define GM_NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"

/* Loads NVML (library: NULL means $GPUMIGRATE_NVML_LIBRARY, else the default), initialises
 * it and fills nv: driver/NVML/CUDA versions and every GPU's facts, including active NVLinks.
 * nv must be freshly initialised (zeroed). Never fails: when NVML cannot be used, nv->nvml
 * holds the reason (e.g. "no NVIDIA driver found (libnvidia-ml.so.1)") and nv->n_gpus is 0.
 * Shuts NVML down and unloads it after.
 *
 * Reasons of fields that could not be read are "<nvmlFunction>: <nvmlErrorString>", e.g.
 * "nvmlDeviceGetRemappedRows: Not Supported" (state unsupported for NVML_ERROR_NOT_SUPPORTED,
 * error otherwise); "<nvmlFunction>: function not in this driver" (unsupported) when the
 * loaded library lacks it; "GPU is lost" (error) for every field of a GPU from the moment
 * NVML reported it lost. numa_node and cpu_affinity stay unknown when the driver has no
 * function for them; dev_node is never touched here. */
void gm_nvml_collect(struct gm_nvidia *nv, const char *library);

/* The lower-level handle, for callers that keep NVML open (the exporter). */
struct gm_nvml;

/* Loads library (NULL: as gm_nvml_collect) and runs nvmlInit. On failure *out is NULL and err
 * holds the reason gm_nvml_collect reports: GM_ERR_NO_DRIVER when the library cannot be
 * loaded or lacks the core functions, GM_ERR_DRIVER when nvmlInit fails. */
enum gm_rc gm_nvml_open(struct gm_nvml **out, const char *library, struct gm_err *err);
/* nvmlShutdown and dlclose; accepts NULL. */
void gm_nvml_close(struct gm_nvml *nvml);
/* The file that was loaded (full path where the dynamic linker says it). */
const char *gm_nvml_library(const struct gm_nvml *nvml);
/* Fills nv's driver_version, nvml_version and cuda_driver_version. */
void gm_nvml_versions(struct gm_nvml *nvml, struct gm_nvidia *nv);
/* Number of GPUs NVML sees; GM_ERR_DRIVER with "cannot count GPUs (…)" on failure. */
enum gm_rc gm_nvml_device_count(struct gm_nvml *nvml, unsigned *count, struct gm_err *err);
/* Fills gpu (freshly zeroed) with the facts of the GPU at NVML index, as gm_nvml_collect. */
void gm_nvml_gpu(struct gm_nvml *nvml, unsigned index, struct gm_gpu *gpu);

#endif

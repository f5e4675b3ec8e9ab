/* NVML, loaded with dlopen: the GPU facts of the inventory (and, later, the exporter's
 * samples) without NVIDIA headers or a link-time dependency. A host without the library,
 * the driver or a GPU gets a clear "why", never a crash. */
#ifndef GM_NVML_H
#define GM_NVML_H

#include "hw/inventory.h"

/* The library loaded when none is named and $GPUMIGRATE_NVML_LIBRARY is unset. */
#define GM_NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"

/* Loads NVML (library: NULL means $GPUMIGRATE_NVML_LIBRARY, else the default), initialises
 * it and fills nv: driver/NVML/CUDA versions and every GPU's facts, including active NVLinks.
 * Never fails: when NVML cannot be used, nv->nvml holds the reason (e.g. "no NVIDIA driver
 * found (libnvidia-ml.so.1)") and nv->n_gpus is 0. Shuts NVML down and unloads it after. */
void gm_nvml_collect(struct gm_nvidia *nv, const char *library);

#endif

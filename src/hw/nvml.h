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

/* ---- Sampling (the exporter) --------------------------------------------------------------- */

/* Clock event (throttle) reason bits, as nvmlDeviceGetCurrentClocksEventReasons answers. */
#define GM_NVML_CLOCK_EVENT_GPU_IDLE            0x1ULL
#define GM_NVML_CLOCK_EVENT_APPLICATIONS_CLOCKS 0x2ULL
#define GM_NVML_CLOCK_EVENT_SW_POWER_CAP        0x4ULL
#define GM_NVML_CLOCK_EVENT_HW_SLOWDOWN         0x8ULL
#define GM_NVML_CLOCK_EVENT_SYNC_BOOST          0x10ULL
#define GM_NVML_CLOCK_EVENT_SW_THERMAL          0x20ULL
#define GM_NVML_CLOCK_EVENT_HW_THERMAL          0x40ULL
#define GM_NVML_CLOCK_EVENT_HW_POWER_BRAKE      0x80ULL
#define GM_NVML_CLOCK_EVENT_DISPLAY_CLOCKS      0x100ULL

enum gm_nvml_ecc_type { GM_NVML_ECC_CORRECTED = 0, GM_NVML_ECC_UNCORRECTED = 1 };
enum gm_nvml_ecc_counter { GM_NVML_ECC_VOLATILE = 0, GM_NVML_ECC_AGGREGATE = 1 };

/* The identity of a GPU as the exporter labels it: name, UUID, bus id and minor only (the
 * inventory's gm_nvml_gpu reads far more). */
struct gm_nvml_ident {
	struct gm_fstr name;
	struct gm_fstr uuid;
	struct gm_fstr bus_id; /* as NVML writes it: "00000000:3B:00.0" */
	struct gm_fint minor;
};

/* The changing values of one GPU, each a fact (unsupported/error with the NVML reason). */
struct gm_nvml_sample {
	bool lost; /* NVML said GPU_IS_LOST (or gave no handle); facts after that are errors */
	struct gm_fint sm_clock_mhz, mem_clock_mhz;
	struct gm_fint gpu_temp_c, memory_temp_c;
	struct gm_fint power_mw;  /* nvmlDeviceGetPowerUsage */
	struct gm_fint energy_mj; /* since the driver loaded */
	struct gm_fint util_gpu, util_memory, util_encoder, util_decoder; /* percent */
	struct gm_fint fb_total, fb_reserved, fb_free, fb_used;           /* bytes */
	struct gm_fint pcie_replay, pcie_gen_current, pcie_gen_max, pcie_width_current,
	        pcie_width_max;
	struct gm_fint clock_events; /* GM_NVML_CLOCK_EVENT_* bits */
	struct gm_fint ecc[2][2];    /* [enum gm_nvml_ecc_type][enum gm_nvml_ecc_counter] */
	struct gm_fbool retired_pending;
	struct gm_fint remapped_correctable, remapped_uncorrectable;
	struct gm_fbool remapped_pending, remapped_failed;
	/* NVLink traffic since the driver loaded, data and protocol overhead, sent plus
	 * received over all links, in KiB: nvmlDeviceGetFieldValues
	 * NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX + _RX (140, 141) with scopeId UINT_MAX.
	 * Unsupported on GPUs without NVLink. */
	struct gm_fint nvlink_raw_kib;
};

/* Fills id (zeroed) for the GPU at NVML index. */
void gm_nvml_ident(struct gm_nvml *nvml, unsigned index, struct gm_nvml_ident *id);
void gm_nvml_ident_release(struct gm_nvml_ident *id);
/* Fills s (zeroed) with one sample of the GPU at NVML index: clocks (SM, memory), GPU and
 * memory temperature (the latter through nvmlDeviceGetFieldValues NVML_FI_DEV_MEMORY_TEMP),
 * power, energy, utilisation (GPU, memory, encoder, decoder), memory (v2 where the driver has
 * it, else v1 with reserved unsupported), PCIe link and replays, clock event reasons (the
 * throttle-reasons function on older drivers), ECC totals, retired pages pending, remapped
 * rows, NVLink raw throughput. Reasons are as gm_nvml_gpu's. */
void gm_nvml_sample(struct gm_nvml *nvml, unsigned index, struct gm_nvml_sample *s);
/* Frees the reasons; s can be reused after. Accepts NULL. */
void gm_nvml_sample_release(struct gm_nvml_sample *s);

/* Xid events through the NVML event API. */
struct gm_nvml_events;

/* Creates an event set and registers every GPU (count of them, NVML indexes 0..count-1) for
 * Xid critical errors; GPUs that cannot register are skipped. GM_ERR_UNSUPPORTED when the
 * driver lacks the event functions or no GPU could register. */
enum gm_rc gm_nvml_events_open(struct gm_nvml *nvml, unsigned count, struct gm_nvml_events **out,
                               struct gm_err *err);
/* Waits up to timeout_ms for an Xid. GM_OK with *gpu (NVML index) and *xid when one came,
 * GM_ERR_NOT_FOUND on timeout, GM_ERR_DRIVER (err says why) when the wait failed. */
enum gm_rc gm_nvml_events_wait(struct gm_nvml_events *ev, unsigned timeout_ms, unsigned *gpu,
                               unsigned long long *xid, struct gm_err *err);
/* Frees the set; accepts NULL. Call before gm_nvml_close. */
void gm_nvml_events_close(struct gm_nvml_events *ev);

#endif

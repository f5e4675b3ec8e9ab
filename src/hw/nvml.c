/* NVML through dlopen. The few NVML types and functions gpumigrate uses are declared here
 * from the NVML API reference (no NVIDIA header, no link-time dependency), resolved newest
 * version first, and every answer becomes a fact: a value, or unsupported/error with the
 * NVML error string as the reason. */
#include "hw/nvml.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- The part of nvml.h used here ------------------------------------------------------ */

/* nvmlReturn_t */
enum nvml_return {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_NO_PERMISSION = 4,
	NVML_ERROR_NOT_FOUND = 6,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
	NVML_ERROR_DRIVER_NOT_LOADED = 9,
	NVML_ERROR_TIMEOUT = 10,
	NVML_ERROR_IRQ_ISSUE = 11,
	NVML_ERROR_LIBRARY_NOT_FOUND = 12,
	NVML_ERROR_FUNCTION_NOT_FOUND = 13,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
	NVML_ERROR_UNKNOWN = 999,
};

/* nvmlEnableState_t, and the MIG mode values of nvmlDeviceGetMigMode */
#define NVML_FEATURE_ENABLED 1

/* nvmlPageRetirementCause_t */
#define NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS 0
#define NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR           1

/* nvmlMemoryErrorType_t, nvmlEccCounterType_t */
#define NVML_MEMORY_ERROR_TYPE_UNCORRECTED 1
#define NVML_VOLATILE_ECC                  0

/* nvmlIntNvLinkDeviceType_t */
#define NVML_NVLINK_DEVICE_TYPE_GPU    0
#define NVML_NVLINK_DEVICE_TYPE_IBMNPU 1
#define NVML_NVLINK_DEVICE_TYPE_SWITCH 2

#define NVML_NVLINK_MAX_LINKS 18

/* Buffer sizes: every NVML string (name 96, UUID 80, serial 30, VBIOS 32, versions 80) fits. */
#define NVML_STRING_BUFFER 128

/* nvmlPciInfo_t */
struct nvml_pci_info {
	char bus_id_legacy[16];
	unsigned domain;
	unsigned bus;
	unsigned device;
	unsigned pci_device_id;
	unsigned pci_subsystem_id;
	char bus_id[32];
};

/* nvmlMemory_t */
struct nvml_memory {
	unsigned long long total, free, used;
};

/* nvmlMemory_v2_t */
struct nvml_memory_v2 {
	unsigned version;
	unsigned long long total, reserved, free, used;
};

/* NVML's rule for versioned structs: the size in the low bits, the version in the top byte. */
#define NVML_STRUCT_VERSION(type, ver) ((unsigned)(sizeof(type) | ((unsigned)(ver) << 24)))

/* nvmlDevice_t and nvmlEventSet_t are pointers to opaque structs. */
struct nvml_device;
struct nvml_event_set;

/* nvmlClockType_t, nvmlTemperatureSensors_t */
#define NVML_CLOCK_SM        1
#define NVML_CLOCK_MEM       2
#define NVML_TEMPERATURE_GPU 0

/* nvmlEccCounterType_t aggregate, nvmlMemoryErrorType_t corrected */
#define NVML_AGGREGATE_ECC               1
#define NVML_MEMORY_ERROR_TYPE_CORRECTED 0

/* nvmlUtilization_t */
struct nvml_utilization {
	unsigned gpu, memory;
};

/* nvmlValueType_t, nvmlValue_t, nvmlFieldValue_t */
#define NVML_VALUE_TYPE_DOUBLE             0
#define NVML_VALUE_TYPE_UNSIGNED_INT       1
#define NVML_VALUE_TYPE_UNSIGNED_LONG      2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG   4
#define NVML_VALUE_TYPE_SIGNED_INT         5
#define NVML_VALUE_TYPE_UNSIGNED_SHORT     6

union nvml_value {
	double d;
	unsigned ui;
	unsigned long ul;
	unsigned long long ull;
	long long sll;
	int si;
	unsigned short us;
};

struct nvml_field_value {
	unsigned field_id;
	unsigned scope_id;
	long long timestamp;
	long long latency_us;
	int value_type;
	int nvml_return;
	union nvml_value value;
};

#define NVML_FI_DEV_MEMORY_TEMP              82
#define NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX 140 /* KiB, scopeId: link or UINT_MAX for all */
#define NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_RX 141

/* nvmlEventTypeXidCriticalError; nvmlEventData_t of nvmlEventSetWait and of _v2 (which adds
 * the MIG instance ids). */
#define NVML_EVENT_TYPE_XID_CRITICAL_ERROR 0x8ULL

struct nvml_event_data {
	struct nvml_device *device;
	unsigned long long event_type;
	unsigned long long event_data;
};

struct nvml_event_data_v2 {
	struct nvml_device *device;
	unsigned long long event_type;
	unsigned long long event_data;
	unsigned gpu_instance_id;
	unsigned compute_instance_id;
};

/* The functions, as pointers filled by the resolver. Ints stand for NVML's enums. */
struct nvml_api {
	int (*init)(void);
	int (*shutdown)(void);
	const char *(*error_string)(int);
	int (*driver_version)(char *, unsigned);
	int (*nvml_version)(char *, unsigned);
	int (*cuda_driver_version)(int *);
	int (*device_count)(unsigned *);
	int (*handle_by_index)(unsigned, struct nvml_device **);
	int (*name)(struct nvml_device *, char *, unsigned);
	int (*uuid)(struct nvml_device *, char *, unsigned);
	int (*serial)(struct nvml_device *, char *, unsigned);
	int (*pci_info)(struct nvml_device *, struct nvml_pci_info *);
	int (*vbios)(struct nvml_device *, char *, unsigned);
	int (*minor)(struct nvml_device *, unsigned *);
	int (*memory)(struct nvml_device *, struct nvml_memory *);
	int (*memory_v2)(struct nvml_device *, struct nvml_memory_v2 *);
	int (*compute_capability)(struct nvml_device *, int *, int *);
	int (*power_limit)(struct nvml_device *, unsigned *);
	int (*persistence)(struct nvml_device *, int *);
	int (*ecc_mode)(struct nvml_device *, int *, int *);
	int (*mig_mode)(struct nvml_device *, unsigned *, unsigned *);
	int (*pcie_gen_current)(struct nvml_device *, unsigned *);
	int (*pcie_gen_max)(struct nvml_device *, unsigned *);
	int (*pcie_gen_gpu_max)(struct nvml_device *, unsigned *);
	int (*pcie_width_current)(struct nvml_device *, unsigned *);
	int (*pcie_width_max)(struct nvml_device *, unsigned *);
	int (*pcie_replay)(struct nvml_device *, unsigned *);
	int (*retired_pages)(struct nvml_device *, int, unsigned *, unsigned long long *);
	int (*retired_pending)(struct nvml_device *, int *);
	int (*remapped_rows)(struct nvml_device *, unsigned *, unsigned *, unsigned *, unsigned *);
	int (*total_ecc_errors)(struct nvml_device *, int, int, unsigned long long *);
	int (*nvlink_state)(struct nvml_device *, unsigned, int *);
	int (*nvlink_remote_pci)(struct nvml_device *, unsigned, struct nvml_pci_info *);
	int (*nvlink_remote_type)(struct nvml_device *, unsigned, int *);
	int (*numa_node)(struct nvml_device *, unsigned *);
	int (*cpu_affinity)(struct nvml_device *, unsigned, unsigned long *);
	/* sampling */
	int (*clock_info)(struct nvml_device *, int, unsigned *);
	int (*temperature)(struct nvml_device *, int, unsigned *);
	int (*field_values)(struct nvml_device *, int, struct nvml_field_value *);
	int (*power_usage)(struct nvml_device *, unsigned *);
	int (*total_energy)(struct nvml_device *, unsigned long long *);
	int (*utilization)(struct nvml_device *, struct nvml_utilization *);
	int (*encoder_util)(struct nvml_device *, unsigned *, unsigned *);
	int (*decoder_util)(struct nvml_device *, unsigned *, unsigned *);
	int (*clock_events)(struct nvml_device *, unsigned long long *);
	int (*event_set_create)(struct nvml_event_set **);
	int (*register_events)(struct nvml_device *, unsigned long long, struct nvml_event_set *);
	int (*event_set_wait_v2)(struct nvml_event_set *, struct nvml_event_data_v2 *, unsigned);
	int (*event_set_wait)(struct nvml_event_set *, struct nvml_event_data *, unsigned);
	int (*event_set_free)(struct nvml_event_set *);
};

/* One entry of the resolver: the symbols to try, newest first. */
struct nvml_sym {
	size_t off;
	bool required;
	const char *names[4];
};

#define SYM(field, req, ...)                           \
	{                                              \
		offsetof(struct nvml_api, field), req, \
		{                                      \
			__VA_ARGS__, NULL              \
		}                                      \
	}

static const struct nvml_sym nvml_syms[] = {
        SYM(init, true, "nvmlInit_v2", "nvmlInit"),
        SYM(shutdown, true, "nvmlShutdown"),
        SYM(error_string, true, "nvmlErrorString"),
        SYM(driver_version, false, "nvmlSystemGetDriverVersion"),
        SYM(nvml_version, false, "nvmlSystemGetNVMLVersion"),
        SYM(cuda_driver_version, false, "nvmlSystemGetCudaDriverVersion_v2",
            "nvmlSystemGetCudaDriverVersion"),
        SYM(device_count, true, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"),
        SYM(handle_by_index, true, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"),
        SYM(name, false, "nvmlDeviceGetName"),
        SYM(uuid, false, "nvmlDeviceGetUUID"),
        SYM(serial, false, "nvmlDeviceGetSerial"),
        SYM(pci_info, false, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2",
            "nvmlDeviceGetPciInfo"),
        SYM(vbios, false, "nvmlDeviceGetVbiosVersion"),
        SYM(minor, false, "nvmlDeviceGetMinorNumber"),
        SYM(memory, false, "nvmlDeviceGetMemoryInfo"),
        SYM(memory_v2, false, "nvmlDeviceGetMemoryInfo_v2"),
        SYM(compute_capability, false, "nvmlDeviceGetCudaComputeCapability"),
        SYM(power_limit, false, "nvmlDeviceGetPowerManagementLimit"),
        SYM(persistence, false, "nvmlDeviceGetPersistenceMode"),
        SYM(ecc_mode, false, "nvmlDeviceGetEccMode"),
        SYM(mig_mode, false, "nvmlDeviceGetMigMode"),
        SYM(pcie_gen_current, false, "nvmlDeviceGetCurrPcieLinkGeneration"),
        SYM(pcie_gen_max, false, "nvmlDeviceGetMaxPcieLinkGeneration"),
        SYM(pcie_gen_gpu_max, false, "nvmlDeviceGetGpuMaxPcieLinkGeneration"),
        SYM(pcie_width_current, false, "nvmlDeviceGetCurrPcieLinkWidth"),
        SYM(pcie_width_max, false, "nvmlDeviceGetMaxPcieLinkWidth"),
        SYM(pcie_replay, false, "nvmlDeviceGetPcieReplayCounter"),
        SYM(retired_pages, false, "nvmlDeviceGetRetiredPages"),
        SYM(retired_pending, false, "nvmlDeviceGetRetiredPagesPendingStatus"),
        SYM(remapped_rows, false, "nvmlDeviceGetRemappedRows"),
        SYM(total_ecc_errors, false, "nvmlDeviceGetTotalEccErrors"),
        SYM(nvlink_state, false, "nvmlDeviceGetNvLinkState"),
        SYM(nvlink_remote_pci, false, "nvmlDeviceGetNvLinkRemotePciInfo_v2",
            "nvmlDeviceGetNvLinkRemotePciInfo"),
        SYM(nvlink_remote_type, false, "nvmlDeviceGetNvLinkRemoteDeviceType"),
        SYM(numa_node, false, "nvmlDeviceGetNumaNodeId"),
        SYM(cpu_affinity, false, "nvmlDeviceGetCpuAffinity"),
        SYM(clock_info, false, "nvmlDeviceGetClockInfo"),
        SYM(temperature, false, "nvmlDeviceGetTemperature"),
        SYM(field_values, false, "nvmlDeviceGetFieldValues"),
        SYM(power_usage, false, "nvmlDeviceGetPowerUsage"),
        SYM(total_energy, false, "nvmlDeviceGetTotalEnergyConsumption"),
        SYM(utilization, false, "nvmlDeviceGetUtilizationRates"),
        SYM(encoder_util, false, "nvmlDeviceGetEncoderUtilization"),
        SYM(decoder_util, false, "nvmlDeviceGetDecoderUtilization"),
        SYM(clock_events, false, "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons"),
        SYM(event_set_create, false, "nvmlEventSetCreate"),
        SYM(register_events, false, "nvmlDeviceRegisterEvents"),
        SYM(event_set_wait_v2, false, "nvmlEventSetWait_v2"),
        SYM(event_set_wait, false, "nvmlEventSetWait"),
        SYM(event_set_free, false, "nvmlEventSetFree"),
};

_Static_assert(sizeof(void *) == sizeof(int (*)(void)),
               "dlsym results must fit a function pointer");

struct gm_nvml {
	void *dl;
	char *library; /* what was loaded */
	bool initialised;
	struct nvml_api api;
};

/* ---- Loading ----------------------------------------------------------------------------- */

static const char *nvml_strerror(const struct gm_nvml *n, int rc)
{
	const char *s = n->api.error_string ? n->api.error_string(rc) : NULL;
	return s && *s ? s : "Unknown Error";
}

static enum gm_rc nvml_load(struct gm_nvml *n, const char *library, struct gm_err *err)
{
	const char *lib = library;
	if (!lib || !*lib)
		lib = getenv("GPUMIGRATE_NVML_LIBRARY");
	if (!lib || !*lib)
		lib = GM_NVML_DEFAULT_LIBRARY;

	dlerror();
	n->dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!n->dl) {
		const char *why = dlerror();
		gm_debug("dlopen '%s': %s", lib, why ? why : "failed");
		/* A named file that exists but does not load is a different problem than no
		 * driver at all: say what the dynamic linker said. */
		if (strchr(lib, '/') && access(lib, F_OK) == 0)
			return gm_err_set(err, GM_ERR_NO_DRIVER,
			                  "cannot load NVML library '%s': %s", lib,
			                  why ? why : "dlopen failed");
		return gm_err_set(err, GM_ERR_NO_DRIVER, "no NVIDIA driver found (%s)", lib);
	}

	struct link_map *lm = NULL;
	if (dlinfo(n->dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name)
		n->library = gm_xstrdup(lm->l_name);
	else
		n->library = gm_xstrdup(lib);

	for (size_t i = 0; i < sizeof(nvml_syms) / sizeof(nvml_syms[0]); i++) {
		const struct nvml_sym *s = &nvml_syms[i];
		void *p = NULL;
		for (size_t j = 0; !p && s->names[j]; j++)
			p = dlsym(n->dl, s->names[j]);
		if (!p && s->required)
			return gm_err_set(err, GM_ERR_NO_DRIVER,
			                  "'%s' is not a usable NVML library (it has no %s)",
			                  n->library, s->names[0]);
		memcpy((char *)&n->api + s->off, &p, sizeof(p));
	}
	return GM_OK;
}

static enum gm_rc nvml_init(struct gm_nvml *n, struct gm_err *err)
{
	if (!n->api.init)
		return gm_err_set(err, GM_ERR_NO_DRIVER, "'%s' is not a usable NVML library",
		                  n->library);
	int rc = n->api.init();
	if (rc == NVML_SUCCESS) {
		n->initialised = true;
		return GM_OK;
	}
	const char *what;
	switch (rc) {
	case NVML_ERROR_DRIVER_NOT_LOADED: what = "NVIDIA driver is not loaded"; break;
	case NVML_ERROR_NO_PERMISSION: what = "no permission to use the NVIDIA driver"; break;
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
		what = "NVIDIA driver and library versions differ (reboot, or reload the nvidia "
		       "module)";
		break;
	default: what = "NVML failed to initialise"; break;
	}
	return gm_err_set(err, GM_ERR_DRIVER, "%s (nvmlInit: %s)", what, nvml_strerror(n, rc));
}

static void nvml_unload(struct gm_nvml *n)
{
	if (n->initialised && n->api.shutdown)
		n->api.shutdown();
	n->initialised = false;
	if (n->dl)
		dlclose(n->dl);
	n->dl = NULL;
	GM_FREE(n->library);
	memset(&n->api, 0, sizeof(n->api));
}

enum gm_rc gm_nvml_open(struct gm_nvml **out, const char *library, struct gm_err *err)
{
	struct gm_nvml *n = gm_xcalloc(1, sizeof(*n));
	enum gm_rc rc = nvml_load(n, library, err);
	if (rc == GM_OK)
		rc = nvml_init(n, err);
	if (rc != GM_OK) {
		gm_nvml_close(n);
		n = NULL;
	}
	*out = n;
	return rc;
}

void gm_nvml_close(struct gm_nvml *nvml)
{
	if (!nvml)
		return;
	nvml_unload(nvml);
	free(nvml);
}

const char *gm_nvml_library(const struct gm_nvml *nvml)
{
	return nvml->library;
}

/* ---- Facts from calls -------------------------------------------------------------------- */

/* One GPU being read: once NVML says it is lost, nothing more is asked of it. */
struct nvml_gpu_ctx {
	struct gm_nvml *n;
	struct nvml_device *h;
	bool lost;
};

#define GPU_LOST_WHY "GPU is lost"

#define FACT_LIST(...)                          \
	(struct gm_fact *const[]){__VA_ARGS__}, \
	        sizeof((struct gm_fact *const[]){__VA_ARGS__}) / sizeof(struct gm_fact *)

static void fail_all(struct gm_fact *const *facts, size_t n, enum gm_fact_state state,
                     const char *why)
{
	for (size_t i = 0; i < n; i++)
		gm_fact_fail(facts[i], state, why);
}

static void fail_call(const struct gm_nvml *n, const char *fn, int rc, struct gm_fact *const *facts,
                      size_t count)
{
	struct gm_buf why = GM_BUF_INIT;
	gm_buf_addf(&why, "%s: %s", fn, nvml_strerror(n, rc));
	fail_all(facts, count, rc == NVML_ERROR_NOT_SUPPORTED ? GM_FACT_UNSUPPORTED : GM_FACT_ERROR,
	         gm_buf_cstr(&why));
	gm_buf_release(&why);
}

/* Before a call: false (and the facts marked) when the GPU is lost or the driver lacks fn. */
static bool can_call(const struct nvml_gpu_ctx *c, bool present, const char *fn,
                     struct gm_fact *const *facts, size_t count)
{
	if (c->lost) {
		fail_all(facts, count, GM_FACT_ERROR, GPU_LOST_WHY);
		return false;
	}
	if (!present) {
		struct gm_buf why = GM_BUF_INIT;
		gm_buf_addf(&why, "%s: function not in this driver", fn);
		fail_all(facts, count, GM_FACT_UNSUPPORTED, gm_buf_cstr(&why));
		gm_buf_release(&why);
		return false;
	}
	return true;
}

/* After a call: true on success, else the facts carry the reason. */
static bool call_ok(struct nvml_gpu_ctx *c, int rc, const char *fn, struct gm_fact *const *facts,
                    size_t count)
{
	if (rc == NVML_SUCCESS)
		return true;
	if (rc == NVML_ERROR_GPU_IS_LOST) {
		c->lost = true;
		fail_all(facts, count, GM_FACT_ERROR, GPU_LOST_WHY);
		return false;
	}
	fail_call(c->n, fn, rc, facts, count);
	return false;
}

static void fact_ok(struct gm_fact *f)
{
	const struct gm_fact ok = {GM_FACT_OK, NULL};
	gm_fact_copy(f, &ok);
}

static void get_str(struct nvml_gpu_ctx *c, int (*fn)(struct nvml_device *, char *, unsigned),
                    const char *name, struct gm_fstr *out)
{
	char buf[NVML_STRING_BUFFER] = {0};
	if (!can_call(c, fn != NULL, name, FACT_LIST(&out->f)))
		return;
	if (!call_ok(c, fn(c->h, buf, sizeof(buf)), name, FACT_LIST(&out->f)))
		return;
	buf[sizeof(buf) - 1] = '\0';
	gm_fstr_set(out, buf);
}

/* Calls fn for an unsigned value; false when out was failed. */
static bool get_uint(struct nvml_gpu_ctx *c, int (*fn)(struct nvml_device *, unsigned *),
                     const char *name, struct gm_fint *out)
{
	unsigned v = 0;
	if (!can_call(c, fn != NULL, name, FACT_LIST(&out->f)))
		return false;
	if (!call_ok(c, fn(c->h, &v), name, FACT_LIST(&out->f)))
		return false;
	gm_fint_set(out, v);
	return true;
}

static void get_enabled(struct nvml_gpu_ctx *c, int (*fn)(struct nvml_device *, int *),
                        const char *name, struct gm_fbool *out)
{
	int v = 0;
	if (!can_call(c, fn != NULL, name, FACT_LIST(&out->f)))
		return;
	if (!call_ok(c, fn(c->h, &v), name, FACT_LIST(&out->f)))
		return;
	gm_fbool_set(out, v == NVML_FEATURE_ENABLED);
}

/* Normalises an NVML bus id ("00000000:3B:00.0") into out. */
static bool bdf_from_pci(const struct nvml_pci_info *pci, struct gm_buf *out)
{
	char id[sizeof(pci->bus_id) + 1];
	memcpy(id, pci->bus_id, sizeof(pci->bus_id));
	id[sizeof(pci->bus_id)] = '\0';
	if (gm_pci_bdf_norm(id, out))
		return true;
	memcpy(id, pci->bus_id_legacy, sizeof(pci->bus_id_legacy));
	id[sizeof(pci->bus_id_legacy)] = '\0';
	return gm_pci_bdf_norm(id, out);
}

static void get_bdf(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	struct nvml_pci_info pci;
	memset(&pci, 0, sizeof(pci));
	const char *fn = "nvmlDeviceGetPciInfo";
	if (!can_call(c, c->n->api.pci_info != NULL, fn, FACT_LIST(&g->bdf.f)))
		return;
	if (!call_ok(c, c->n->api.pci_info(c->h, &pci), fn, FACT_LIST(&g->bdf.f)))
		return;
	struct gm_buf bdf = GM_BUF_INIT;
	if (bdf_from_pci(&pci, &bdf)) {
		gm_fstr_set(&g->bdf, gm_buf_cstr(&bdf));
	} else {
		gm_buf_reset(&bdf);
		gm_buf_addf(&bdf, "%s: not a PCI address: '%.32s'", fn, pci.bus_id);
		gm_fact_fail(&g->bdf.f, GM_FACT_ERROR, gm_buf_cstr(&bdf));
	}
	gm_buf_release(&bdf);
}

/* nvmlDeviceGetMemoryInfo_v2 where the driver has it (a versioned struct), else version 1;
 * the total is the same in both. */
static void get_memory(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	const struct nvml_api *a = &c->n->api;
	const char *fn = "nvmlDeviceGetMemoryInfo";
	struct gm_fact *f = &g->memory_total_bytes.f;
	if (!can_call(c, a->memory_v2 || a->memory, fn, FACT_LIST(f)))
		return;
	int rc;
	unsigned long long total = 0;
	if (a->memory_v2) {
		struct nvml_memory_v2 m;
		memset(&m, 0, sizeof(m));
		m.version = NVML_STRUCT_VERSION(struct nvml_memory_v2, 2);
		rc = a->memory_v2(c->h, &m);
		total = m.total;
	} else {
		struct nvml_memory m;
		memset(&m, 0, sizeof(m));
		rc = a->memory(c->h, &m);
		total = m.total;
	}
	if (call_ok(c, rc, fn, FACT_LIST(f)))
		gm_fint_set(&g->memory_total_bytes, (int64_t)total);
}

static void get_compute_capability(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	int major = 0, minor = 0;
	const char *fn = "nvmlDeviceGetCudaComputeCapability";
	struct gm_fact *f = &g->compute_capability.f;
	if (!can_call(c, c->n->api.compute_capability != NULL, fn, FACT_LIST(f)))
		return;
	if (!call_ok(c, c->n->api.compute_capability(c->h, &major, &minor), fn, FACT_LIST(f)))
		return;
	struct gm_buf s = GM_BUF_INIT;
	gm_buf_addf(&s, "%d.%d", major, minor);
	gm_fstr_take(&g->compute_capability, gm_buf_detach(&s));
}

static void get_ecc_mode(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	int current = 0, pending = 0;
	const char *fn = "nvmlDeviceGetEccMode";
	struct gm_fact *f = &g->ecc_enabled.f;
	if (!can_call(c, c->n->api.ecc_mode != NULL, fn, FACT_LIST(f)))
		return;
	if (call_ok(c, c->n->api.ecc_mode(c->h, &current, &pending), fn, FACT_LIST(f)))
		gm_fbool_set(&g->ecc_enabled, current == NVML_FEATURE_ENABLED);
}

static void get_mig_mode(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	unsigned current = 0, pending = 0;
	const char *fn = "nvmlDeviceGetMigMode";
	struct gm_fact *f = &g->mig_enabled.f;
	if (!can_call(c, c->n->api.mig_mode != NULL, fn, FACT_LIST(f)))
		return;
	if (call_ok(c, c->n->api.mig_mode(c->h, &current, &pending), fn, FACT_LIST(f)))
		gm_fbool_set(&g->mig_enabled, current == NVML_FEATURE_ENABLED);
}

/* The lower of what GPU and slot support: nvmlDeviceGetMaxPcieLinkGeneration already means
 * "with this system", but older drivers answer the GPU's own maximum there, so the GPU-only
 * function (where present) caps it. */
static void get_pcie_gen_max(struct nvml_gpu_ctx *c, struct gm_fint *out)
{
	const struct nvml_api *a = &c->n->api;
	if (!get_uint(c, a->pcie_gen_max, "nvmlDeviceGetMaxPcieLinkGeneration", out))
		return;
	if (!a->pcie_gen_gpu_max)
		return;
	unsigned gpu_max = 0;
	int rc = a->pcie_gen_gpu_max(c->h, &gpu_max);
	if (rc == NVML_ERROR_GPU_IS_LOST) {
		c->lost = true;
		gm_fact_fail(&out->f, GM_FACT_ERROR, GPU_LOST_WHY);
	} else if (rc == NVML_SUCCESS && gpu_max > 0 && gpu_max < out->v) {
		out->v = gpu_max;
	}
}

static void get_retired_count(struct nvml_gpu_ctx *c, int cause, struct gm_fint *out)
{
	const char *fn = "nvmlDeviceGetRetiredPages";
	int (*f)(struct nvml_device *, int, unsigned *, unsigned long long *) =
	        c->n->api.retired_pages;
	if (!can_call(c, f != NULL, fn, FACT_LIST(&out->f)))
		return;
	unsigned count = 0;
	int rc = f(c->h, cause, &count, NULL);
	/* The size query answers INSUFFICIENT_SIZE with the count; ask again with room for
	 * them (and a few more, pages may retire meanwhile) to be sure of the number. */
	for (int tries = 0; rc == NVML_ERROR_INSUFFICIENT_SIZE && tries < 3; tries++) {
		if (count > (1u << 20)) {
			rc = NVML_ERROR_UNKNOWN;
			break;
		}
		unsigned cap = count + 16;
		unsigned long long *addrs = gm_xcalloc(cap, sizeof(*addrs));
		count = cap;
		rc = f(c->h, cause, &count, addrs);
		free(addrs);
	}
	if (call_ok(c, rc, fn, FACT_LIST(&out->f)))
		gm_fint_set(out, count);
}

static void get_remapped_rows(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	unsigned corr = 0, unc = 0, pending = 0, failed = 0;
	const char *fn = "nvmlDeviceGetRemappedRows";
	if (!can_call(c, c->n->api.remapped_rows != NULL, fn,
	              FACT_LIST(&g->remapped_rows_correctable.f, &g->remapped_rows_uncorrectable.f,
	                        &g->remapped_rows_pending.f, &g->remapped_rows_failed.f)))
		return;
	int rc = c->n->api.remapped_rows(c->h, &corr, &unc, &pending, &failed);
	if (!call_ok(c, rc, fn,
	             FACT_LIST(&g->remapped_rows_correctable.f, &g->remapped_rows_uncorrectable.f,
	                       &g->remapped_rows_pending.f, &g->remapped_rows_failed.f)))
		return;
	gm_fint_set(&g->remapped_rows_correctable, corr);
	gm_fint_set(&g->remapped_rows_uncorrectable, unc);
	gm_fbool_set(&g->remapped_rows_pending, pending != 0);
	gm_fbool_set(&g->remapped_rows_failed, failed != 0);
}

static void get_ecc_uncorrected(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	unsigned long long v = 0;
	const char *fn = "nvmlDeviceGetTotalEccErrors";
	struct gm_fact *f = &g->ecc_uncorrected_volatile.f;
	if (!can_call(c, c->n->api.total_ecc_errors != NULL, fn, FACT_LIST(f)))
		return;
	int rc = c->n->api.total_ecc_errors(c->h, NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
	                                    NVML_VOLATILE_ECC, &v);
	if (call_ok(c, rc, fn, FACT_LIST(f)))
		gm_fint_set(&g->ecc_uncorrected_volatile, (int64_t)v);
}

static void get_numa_node(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	/* Without the function the inventory fills it from sysfs: leave it unknown. */
	if (!c->n->api.numa_node && !c->lost)
		return;
	get_uint(c, c->n->api.numa_node, "nvmlDeviceGetNumaNodeId", &g->numa_node);
}

/* "0-23,48-71" from a CPU bit mask. */
static void cpuset_to_list(const unsigned long *set, size_t words, struct gm_buf *out)
{
	const size_t bits = sizeof(*set) * 8;
	size_t n = words * bits;
	for (size_t i = 0; i < n;) {
		if (!(set[i / bits] >> (i % bits) & 1UL)) {
			i++;
			continue;
		}
		size_t j = i;
		while (j + 1 < n && (set[(j + 1) / bits] >> ((j + 1) % bits) & 1UL))
			j++;
		if (out->len)
			gm_buf_addch(out, ',');
		if (j == i)
			gm_buf_addf(out, "%zu", i);
		else
			gm_buf_addf(out, "%zu-%zu", i, j);
		i = j + 1;
	}
}

#define NVML_CPUSET_WORDS 64 /* 4096 CPUs */

static void get_cpu_affinity(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	const char *fn = "nvmlDeviceGetCpuAffinity";
	struct gm_fact *f = &g->cpu_affinity.f;
	if (!c->n->api.cpu_affinity && !c->lost)
		return;
	if (!can_call(c, c->n->api.cpu_affinity != NULL, fn, FACT_LIST(f)))
		return;
	unsigned long set[NVML_CPUSET_WORDS];
	memset(set, 0, sizeof(set));
	if (!call_ok(c, c->n->api.cpu_affinity(c->h, NVML_CPUSET_WORDS, set), fn, FACT_LIST(f)))
		return;
	struct gm_buf list = GM_BUF_INIT;
	cpuset_to_list(set, NVML_CPUSET_WORDS, &list);
	if (list.len)
		gm_fstr_take(&g->cpu_affinity, gm_buf_detach(&list));
	else
		gm_fact_fail(f, GM_FACT_ERROR, "nvmlDeviceGetCpuAffinity: empty CPU set");
	gm_buf_release(&list);
}

static void free_nvlinks(struct gm_gpu *g)
{
	for (size_t i = 0; i < g->n_nvlinks; i++)
		free(g->nvlinks[i].remote_bdf);
	GM_FREE(g->nvlinks);
	g->n_nvlinks = 0;
}

/* Reads one active link's far end. False when the GPU was lost meanwhile. */
static bool get_nvlink_remote(struct nvml_gpu_ctx *c, unsigned link, struct gm_nvlink *l)
{
	const struct nvml_api *a = &c->n->api;
	l->link = link;
	l->remote = GM_NVLINK_REMOTE_UNKNOWN;
	if (a->nvlink_remote_pci) {
		struct nvml_pci_info pci;
		memset(&pci, 0, sizeof(pci));
		int rc = a->nvlink_remote_pci(c->h, link, &pci);
		if (rc == NVML_ERROR_GPU_IS_LOST)
			return false;
		struct gm_buf bdf = GM_BUF_INIT;
		if (rc == NVML_SUCCESS && bdf_from_pci(&pci, &bdf))
			l->remote_bdf = gm_buf_detach(&bdf);
		gm_buf_release(&bdf);
	}
	if (a->nvlink_remote_type) {
		int type = -1;
		int rc = a->nvlink_remote_type(c->h, link, &type);
		if (rc == NVML_ERROR_GPU_IS_LOST)
			return false;
		if (rc == NVML_SUCCESS) {
			switch (type) {
			case NVML_NVLINK_DEVICE_TYPE_GPU: l->remote = GM_NVLINK_REMOTE_GPU; break;
			case NVML_NVLINK_DEVICE_TYPE_IBMNPU:
				l->remote = GM_NVLINK_REMOTE_NPU;
				break;
			case NVML_NVLINK_DEVICE_TYPE_SWITCH:
				l->remote = GM_NVLINK_REMOTE_SWITCH;
				break;
			default: break;
			}
		}
	}
	return true;
}

static void get_nvlinks(struct nvml_gpu_ctx *c, struct gm_gpu *g)
{
	const char *fn = "nvmlDeviceGetNvLinkState";
	if (!can_call(c, c->n->api.nvlink_state != NULL, fn, FACT_LIST(&g->nvlink)))
		return;
	for (unsigned link = 0; link < NVML_NVLINK_MAX_LINKS; link++) {
		int active = 0;
		int rc = c->n->api.nvlink_state(c->h, link, &active);
		if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_INVALID_ARGUMENT) {
			/* No NVLink at all, or a link index past this GPU's count. */
			if (link == 0) {
				fail_call(c->n, fn, rc, FACT_LIST(&g->nvlink));
				return;
			}
			continue;
		}
		if (!call_ok(c, rc, fn, FACT_LIST(&g->nvlink))) {
			free_nvlinks(g);
			return;
		}
		if (active != NVML_FEATURE_ENABLED)
			continue;
		struct gm_nvlink l = {0};
		if (!get_nvlink_remote(c, link, &l)) {
			free(l.remote_bdf);
			free_nvlinks(g);
			call_ok(c, NVML_ERROR_GPU_IS_LOST, fn, FACT_LIST(&g->nvlink));
			return;
		}
		g->nvlinks = gm_xreallocarray(g->nvlinks, g->n_nvlinks + 1, sizeof(*g->nvlinks));
		g->nvlinks[g->n_nvlinks++] = l;
	}
	fact_ok(&g->nvlink);
}

/* ---- The collection ---------------------------------------------------------------------- */

static void system_str(struct gm_nvml *n, int (*fn)(char *, unsigned), const char *name,
                       struct gm_fstr *out)
{
	char buf[NVML_STRING_BUFFER] = {0};
	if (!fn) {
		struct gm_buf why = GM_BUF_INIT;
		gm_buf_addf(&why, "%s: function not in this driver", name);
		gm_fact_fail(&out->f, GM_FACT_UNSUPPORTED, gm_buf_cstr(&why));
		gm_buf_release(&why);
		return;
	}
	int rc = fn(buf, sizeof(buf));
	if (rc != NVML_SUCCESS) {
		fail_call(n, name, rc, FACT_LIST(&out->f));
		return;
	}
	buf[sizeof(buf) - 1] = '\0';
	gm_fstr_set(out, buf);
}

void gm_nvml_versions(struct gm_nvml *nvml, struct gm_nvidia *nv)
{
	system_str(nvml, nvml->api.driver_version, "nvmlSystemGetDriverVersion",
	           &nv->driver_version);
	system_str(nvml, nvml->api.nvml_version, "nvmlSystemGetNVMLVersion", &nv->nvml_version);
	const char *fn = "nvmlSystemGetCudaDriverVersion";
	if (!nvml->api.cuda_driver_version) {
		gm_fact_fail(&nv->cuda_driver_version.f, GM_FACT_UNSUPPORTED,
		             "nvmlSystemGetCudaDriverVersion: function not in this driver");
		return;
	}
	int v = 0;
	int rc = nvml->api.cuda_driver_version(&v);
	if (rc == NVML_SUCCESS)
		gm_fint_set(&nv->cuda_driver_version, v);
	else
		fail_call(nvml, fn, rc, FACT_LIST(&nv->cuda_driver_version.f));
}

/* More GPUs than any machine has means a broken answer. */
#define NVML_MAX_GPUS 1024

enum gm_rc gm_nvml_device_count(struct gm_nvml *nvml, unsigned *count, struct gm_err *err)
{
	unsigned n = 0;
	if (!nvml->api.device_count)
		return gm_err_set(err, GM_ERR_DRIVER, "cannot count GPUs (no nvmlDeviceGetCount)");
	int rc = nvml->api.device_count(&n);
	*count = 0;
	if (rc != NVML_SUCCESS)
		return gm_err_set(err, GM_ERR_DRIVER, "cannot count GPUs (nvmlDeviceGetCount: %s)",
		                  nvml_strerror(nvml, rc));
	if (n > NVML_MAX_GPUS)
		return gm_err_set(err, GM_ERR_DRIVER, "cannot count GPUs (NVML reports %u)", n);
	*count = n;
	return GM_OK;
}

void gm_nvml_gpu(struct gm_nvml *nvml, unsigned index, struct gm_gpu *g)
{
	struct nvml_gpu_ctx c = {nvml, NULL, false};
	const struct nvml_api *a = &nvml->api;
	g->index = index;

	int rc = a->handle_by_index(index, &c.h);
	if (rc != NVML_SUCCESS) {
		/* Without a handle nothing can be read: every NVML field says why. */
		struct gm_fact why = {GM_FACT_UNKNOWN, NULL};
		if (rc == NVML_ERROR_GPU_IS_LOST)
			gm_fact_fail(&why, GM_FACT_ERROR, GPU_LOST_WHY);
		else
			fail_call(nvml, "nvmlDeviceGetHandleByIndex", rc, FACT_LIST(&why));
		struct gm_fact *all[] = {
		        &g->name.f,
		        &g->uuid.f,
		        &g->serial.f,
		        &g->bdf.f,
		        &g->vbios.f,
		        &g->minor.f,
		        &g->memory_total_bytes.f,
		        &g->compute_capability.f,
		        &g->power_limit_mw.f,
		        &g->persistence_mode.f,
		        &g->ecc_enabled.f,
		        &g->mig_enabled.f,
		        &g->pcie_gen_current.f,
		        &g->pcie_gen_max.f,
		        &g->pcie_width_current.f,
		        &g->pcie_width_max.f,
		        &g->pcie_replay_count.f,
		        &g->retired_pages_sbe.f,
		        &g->retired_pages_dbe.f,
		        &g->retired_pages_pending.f,
		        &g->remapped_rows_correctable.f,
		        &g->remapped_rows_uncorrectable.f,
		        &g->remapped_rows_pending.f,
		        &g->remapped_rows_failed.f,
		        &g->ecc_uncorrected_volatile.f,
		        &g->nvlink,
		};
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			gm_fact_copy(all[i], &why);
		gm_fact_release(&why);
		return;
	}

	/* The order is the order of the calls; a GPU lost midway keeps what came before. */
	get_str(&c, a->name, "nvmlDeviceGetName", &g->name);
	get_str(&c, a->uuid, "nvmlDeviceGetUUID", &g->uuid);
	get_str(&c, a->serial, "nvmlDeviceGetSerial", &g->serial);
	get_bdf(&c, g);
	get_str(&c, a->vbios, "nvmlDeviceGetVbiosVersion", &g->vbios);
	get_uint(&c, a->minor, "nvmlDeviceGetMinorNumber", &g->minor);
	get_memory(&c, g);
	get_compute_capability(&c, g);
	get_uint(&c, a->power_limit, "nvmlDeviceGetPowerManagementLimit", &g->power_limit_mw);
	get_enabled(&c, a->persistence, "nvmlDeviceGetPersistenceMode", &g->persistence_mode);
	get_ecc_mode(&c, g);
	get_mig_mode(&c, g);
	get_uint(&c, a->pcie_gen_current, "nvmlDeviceGetCurrPcieLinkGeneration",
	         &g->pcie_gen_current);
	get_pcie_gen_max(&c, &g->pcie_gen_max);
	get_uint(&c, a->pcie_width_current, "nvmlDeviceGetCurrPcieLinkWidth",
	         &g->pcie_width_current);
	get_uint(&c, a->pcie_width_max, "nvmlDeviceGetMaxPcieLinkWidth", &g->pcie_width_max);
	get_uint(&c, a->pcie_replay, "nvmlDeviceGetPcieReplayCounter", &g->pcie_replay_count);
	get_numa_node(&c, g);
	get_cpu_affinity(&c, g);
	get_retired_count(&c, NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
	                  &g->retired_pages_sbe);
	get_retired_count(&c, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
	                  &g->retired_pages_dbe);
	get_enabled(&c, a->retired_pending, "nvmlDeviceGetRetiredPagesPendingStatus",
	            &g->retired_pages_pending);
	get_remapped_rows(&c, g);
	get_ecc_uncorrected(&c, g);
	get_nvlinks(&c, g);
}

void gm_nvml_collect(struct gm_nvidia *nv, const char *library)
{
	struct gm_nvml n;
	struct gm_err err = GM_ERR_INIT;
	memset(&n, 0, sizeof(n));

	enum gm_rc rc = nvml_load(&n, library, &err);
	if (n.library)
		gm_fstr_set(&nv->library, n.library);
	if (rc == GM_OK)
		rc = nvml_init(&n, &err);
	if (rc != GM_OK) {
		gm_fact_fail(&nv->nvml, GM_FACT_ERROR, gm_err_msg(&err));
		if (!n.library)
			gm_fact_copy(&nv->library.f, &nv->nvml);
		gm_fact_copy(&nv->driver_version.f, &nv->nvml);
		gm_fact_copy(&nv->nvml_version.f, &nv->nvml);
		gm_fact_copy(&nv->cuda_driver_version.f, &nv->nvml);
		goto out;
	}
	fact_ok(&nv->nvml);
	gm_nvml_versions(&n, nv);

	unsigned count = 0;
	if (gm_nvml_device_count(&n, &count, &err) != GM_OK) {
		gm_fact_fail(&nv->nvml, GM_FACT_ERROR, gm_err_msg(&err));
		goto out;
	}
	if (count) {
		nv->gpus = gm_xcalloc(count, sizeof(*nv->gpus));
		nv->n_gpus = count;
	}
	for (unsigned i = 0; i < count; i++)
		gm_nvml_gpu(&n, i, &nv->gpus[i]);
out:
	nvml_unload(&n);
	gm_err_release(&err);
}

/* ---- Sampling (the exporter) --------------------------------------------------------------- */

static void ident_bus_id(struct nvml_gpu_ctx *c, struct gm_fstr *out)
{
	struct nvml_pci_info pci;
	memset(&pci, 0, sizeof(pci));
	const char *fn = "nvmlDeviceGetPciInfo";
	if (!can_call(c, c->n->api.pci_info != NULL, fn, FACT_LIST(&out->f)))
		return;
	if (!call_ok(c, c->n->api.pci_info(c->h, &pci), fn, FACT_LIST(&out->f)))
		return;
	struct gm_buf bdf = GM_BUF_INIT, id = GM_BUF_INIT;
	if (bdf_from_pci(&pci, &bdf)) {
		/* "0000:3b:00.0" -> "00000000:3B:00.0", as NVML and dcgm-exporter write it. */
		const char *s = gm_buf_cstr(&bdf);
		const char *colon = strchr(s, ':');
		size_t dom = colon ? (size_t)(colon - s) : 0;
		if (dom < 8)
			gm_buf_addpad(&id, '0', 8 - dom);
		for (; *s; s++)
			gm_buf_addch(&id, *s >= 'a' && *s <= 'f' ? (char)(*s - 'a' + 'A') : *s);
		gm_fstr_take(out, gm_buf_detach(&id));
	} else {
		gm_buf_addf(&id, "%s: not a PCI address: '%.32s'", fn, pci.bus_id);
		gm_fact_fail(&out->f, GM_FACT_ERROR, gm_buf_cstr(&id));
	}
	gm_buf_release(&id);
	gm_buf_release(&bdf);
}

/* The handle of a GPU, or every fact failed with why. */
static bool sample_handle(struct gm_nvml *nvml, unsigned index, struct nvml_gpu_ctx *c,
                          struct gm_fact *const *facts, size_t count)
{
	int rc = nvml->api.handle_by_index(index, &c->h);
	if (rc == NVML_SUCCESS)
		return true;
	c->lost = true;
	if (rc == NVML_ERROR_GPU_IS_LOST)
		fail_all(facts, count, GM_FACT_ERROR, GPU_LOST_WHY);
	else
		fail_call(nvml, "nvmlDeviceGetHandleByIndex", rc, facts, count);
	return false;
}

void gm_nvml_ident(struct gm_nvml *nvml, unsigned index, struct gm_nvml_ident *id)
{
	struct nvml_gpu_ctx c = {nvml, NULL, false};
	if (!sample_handle(nvml, index, &c,
	                   FACT_LIST(&id->name.f, &id->uuid.f, &id->bus_id.f, &id->minor.f)))
		return;
	get_str(&c, nvml->api.name, "nvmlDeviceGetName", &id->name);
	get_str(&c, nvml->api.uuid, "nvmlDeviceGetUUID", &id->uuid);
	ident_bus_id(&c, &id->bus_id);
	get_uint(&c, nvml->api.minor, "nvmlDeviceGetMinorNumber", &id->minor);
}

void gm_nvml_ident_release(struct gm_nvml_ident *id)
{
	if (!id)
		return;
	gm_fstr_release(&id->name);
	gm_fstr_release(&id->uuid);
	gm_fstr_release(&id->bus_id);
	gm_fint_release(&id->minor);
}

/* fn(handle, arg, &value) for the clock and temperature functions. */
static void get_uint_arg(struct nvml_gpu_ctx *c, int (*fn)(struct nvml_device *, int, unsigned *),
                         const char *name, int arg, struct gm_fint *out)
{
	unsigned v = 0;
	if (!can_call(c, fn != NULL, name, FACT_LIST(&out->f)))
		return;
	if (call_ok(c, fn(c->h, arg, &v), name, FACT_LIST(&out->f)))
		gm_fint_set(out, v);
}

static void get_memory_temp(struct nvml_gpu_ctx *c, struct gm_fint *out)
{
	const char *fn = "nvmlDeviceGetFieldValues";
	if (!can_call(c, c->n->api.field_values != NULL, fn, FACT_LIST(&out->f)))
		return;
	struct nvml_field_value fv;
	memset(&fv, 0, sizeof(fv));
	fv.field_id = NVML_FI_DEV_MEMORY_TEMP;
	if (!call_ok(c, c->n->api.field_values(c->h, 1, &fv), fn, FACT_LIST(&out->f)))
		return;
	if (!call_ok(c, fv.nvml_return, "nvmlDeviceGetFieldValues(NVML_FI_DEV_MEMORY_TEMP)",
	             FACT_LIST(&out->f)))
		return;
	switch (fv.value_type) {
	case NVML_VALUE_TYPE_DOUBLE: gm_fint_set(out, (int64_t)fv.value.d); break;
	case NVML_VALUE_TYPE_UNSIGNED_INT: gm_fint_set(out, fv.value.ui); break;
	case NVML_VALUE_TYPE_UNSIGNED_LONG: gm_fint_set(out, (int64_t)fv.value.ul); break;
	case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: gm_fint_set(out, (int64_t)fv.value.ull); break;
	case NVML_VALUE_TYPE_SIGNED_LONG_LONG: gm_fint_set(out, fv.value.sll); break;
	case NVML_VALUE_TYPE_SIGNED_INT: gm_fint_set(out, fv.value.si); break;
	case NVML_VALUE_TYPE_UNSIGNED_SHORT: gm_fint_set(out, fv.value.us); break;
	default:
		gm_fact_fail(
		        &out->f, GM_FACT_ERROR,
		        "nvmlDeviceGetFieldValues(NVML_FI_DEV_MEMORY_TEMP): unknown value type");
		break;
	}
}

/* An unsigned field value as a 64-bit integer; false for a type that is not one. */
static bool field_u64(const struct nvml_field_value *fv, uint64_t *out)
{
	switch (fv->value_type) {
	case NVML_VALUE_TYPE_UNSIGNED_INT: *out = fv->value.ui; return true;
	case NVML_VALUE_TYPE_UNSIGNED_LONG: *out = fv->value.ul; return true;
	case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: *out = fv->value.ull; return true;
	case NVML_VALUE_TYPE_UNSIGNED_SHORT: *out = fv->value.us; return true;
	default: return false;
	}
}

/* NVLink raw throughput (TX + RX) over all links, in one nvmlDeviceGetFieldValues call. */
static void get_nvlink_raw(struct nvml_gpu_ctx *c, struct gm_fint *out)
{
	const char *fn = "nvmlDeviceGetFieldValues";
	if (!can_call(c, c->n->api.field_values != NULL, fn, FACT_LIST(&out->f)))
		return;
	struct nvml_field_value fv[2];
	memset(fv, 0, sizeof(fv));
	fv[0].field_id = NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX;
	fv[1].field_id = NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_RX;
	fv[0].scope_id = fv[1].scope_id = 0xffffffffu; /* every link */
	if (!call_ok(c, c->n->api.field_values(c->h, 2, fv), fn, FACT_LIST(&out->f)))
		return;
	uint64_t tx = 0, rx = 0;
	for (int i = 0; i < 2; i++)
		if (!call_ok(c, fv[i].nvml_return,
		             i == 0 ? "nvmlDeviceGetFieldValues(NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_"
		                      "TX)"
		                    : "nvmlDeviceGetFieldValues(NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_"
		                      "RX)",
		             FACT_LIST(&out->f)))
			return;
	if (!field_u64(&fv[0], &tx) || !field_u64(&fv[1], &rx)) {
		gm_fact_fail(
		        &out->f, GM_FACT_ERROR,
		        "nvmlDeviceGetFieldValues(NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_*): unknown "
		        "value type");
		return;
	}
	gm_fint_set(out, (int64_t)((tx + rx) & 0x7fffffffffffffffULL));
}

static void get_energy(struct nvml_gpu_ctx *c, struct gm_fint *out)
{
	unsigned long long v = 0;
	const char *fn = "nvmlDeviceGetTotalEnergyConsumption";
	if (!can_call(c, c->n->api.total_energy != NULL, fn, FACT_LIST(&out->f)))
		return;
	if (call_ok(c, c->n->api.total_energy(c->h, &v), fn, FACT_LIST(&out->f)))
		gm_fint_set(out, (int64_t)v);
}

static void get_utilization(struct nvml_gpu_ctx *c, struct gm_nvml_sample *s)
{
	struct nvml_utilization u = {0, 0};
	const char *fn = "nvmlDeviceGetUtilizationRates";
	if (!can_call(c, c->n->api.utilization != NULL, fn,
	              FACT_LIST(&s->util_gpu.f, &s->util_memory.f)))
		return;
	if (!call_ok(c, c->n->api.utilization(c->h, &u), fn,
	             FACT_LIST(&s->util_gpu.f, &s->util_memory.f)))
		return;
	gm_fint_set(&s->util_gpu, u.gpu);
	gm_fint_set(&s->util_memory, u.memory);
}

static void get_codec_util(struct nvml_gpu_ctx *c,
                           int (*fn)(struct nvml_device *, unsigned *, unsigned *),
                           const char *name, struct gm_fint *out)
{
	unsigned util = 0, period = 0;
	if (!can_call(c, fn != NULL, name, FACT_LIST(&out->f)))
		return;
	if (call_ok(c, fn(c->h, &util, &period), name, FACT_LIST(&out->f)))
		gm_fint_set(out, util);
}

static void get_fb(struct nvml_gpu_ctx *c, struct gm_nvml_sample *s)
{
	const struct nvml_api *a = &c->n->api;
	const char *fn = "nvmlDeviceGetMemoryInfo";
	if (!can_call(c, a->memory_v2 || a->memory, fn,
	              FACT_LIST(&s->fb_total.f, &s->fb_reserved.f, &s->fb_free.f, &s->fb_used.f)))
		return;
	if (a->memory_v2) {
		struct nvml_memory_v2 m;
		memset(&m, 0, sizeof(m));
		m.version = NVML_STRUCT_VERSION(struct nvml_memory_v2, 2);
		if (!call_ok(c, a->memory_v2(c->h, &m), fn,
		             FACT_LIST(&s->fb_total.f, &s->fb_reserved.f, &s->fb_free.f,
		                       &s->fb_used.f)))
			return;
		gm_fint_set(&s->fb_total, (int64_t)m.total);
		gm_fint_set(&s->fb_reserved, (int64_t)m.reserved);
		gm_fint_set(&s->fb_free, (int64_t)m.free);
		gm_fint_set(&s->fb_used, (int64_t)m.used);
		return;
	}
	struct nvml_memory m;
	memset(&m, 0, sizeof(m));
	if (!call_ok(c, a->memory(c->h, &m), fn,
	             FACT_LIST(&s->fb_total.f, &s->fb_reserved.f, &s->fb_free.f, &s->fb_used.f)))
		return;
	gm_fint_set(&s->fb_total, (int64_t)m.total);
	gm_fint_set(&s->fb_free, (int64_t)m.free);
	gm_fint_set(&s->fb_used, (int64_t)m.used);
	gm_fact_fail(&s->fb_reserved.f, GM_FACT_UNSUPPORTED,
	             "nvmlDeviceGetMemoryInfo_v2: function not in this driver");
}

static void get_clock_events(struct nvml_gpu_ctx *c, struct gm_fint *out)
{
	unsigned long long v = 0;
	const char *fn = "nvmlDeviceGetCurrentClocksEventReasons";
	if (!can_call(c, c->n->api.clock_events != NULL, fn, FACT_LIST(&out->f)))
		return;
	if (call_ok(c, c->n->api.clock_events(c->h, &v), fn, FACT_LIST(&out->f)))
		gm_fint_set(out, (int64_t)(v & 0x7fffffffffffffffULL));
}

static void get_ecc_total(struct nvml_gpu_ctx *c, int type, int counter, struct gm_fint *out)
{
	unsigned long long v = 0;
	const char *fn = "nvmlDeviceGetTotalEccErrors";
	if (!can_call(c, c->n->api.total_ecc_errors != NULL, fn, FACT_LIST(&out->f)))
		return;
	if (call_ok(c, c->n->api.total_ecc_errors(c->h, type, counter, &v), fn, FACT_LIST(&out->f)))
		gm_fint_set(out, (int64_t)v);
}

static void get_sample_remapped(struct nvml_gpu_ctx *c, struct gm_nvml_sample *s)
{
	unsigned corr = 0, unc = 0, pending = 0, failed = 0;
	const char *fn = "nvmlDeviceGetRemappedRows";
	if (!can_call(c, c->n->api.remapped_rows != NULL, fn,
	              FACT_LIST(&s->remapped_correctable.f, &s->remapped_uncorrectable.f,
	                        &s->remapped_pending.f, &s->remapped_failed.f)))
		return;
	if (!call_ok(c, c->n->api.remapped_rows(c->h, &corr, &unc, &pending, &failed), fn,
	             FACT_LIST(&s->remapped_correctable.f, &s->remapped_uncorrectable.f,
	                       &s->remapped_pending.f, &s->remapped_failed.f)))
		return;
	gm_fint_set(&s->remapped_correctable, corr);
	gm_fint_set(&s->remapped_uncorrectable, unc);
	gm_fbool_set(&s->remapped_pending, pending != 0);
	gm_fbool_set(&s->remapped_failed, failed != 0);
}

#define SAMPLE_FACTS(s)                                                                            \
	&(s)->sm_clock_mhz.f, &(s)->mem_clock_mhz.f, &(s)->gpu_temp_c.f, &(s)->memory_temp_c.f,    \
	        &(s)->power_mw.f, &(s)->energy_mj.f, &(s)->util_gpu.f, &(s)->util_memory.f,        \
	        &(s)->util_encoder.f, &(s)->util_decoder.f, &(s)->fb_total.f, &(s)->fb_reserved.f, \
	        &(s)->fb_free.f, &(s)->fb_used.f, &(s)->pcie_replay.f, &(s)->pcie_gen_current.f,   \
	        &(s)->pcie_gen_max.f, &(s)->pcie_width_current.f, &(s)->pcie_width_max.f,          \
	        &(s)->clock_events.f, &(s)->ecc[0][0].f, &(s)->ecc[0][1].f, &(s)->ecc[1][0].f,     \
	        &(s)->ecc[1][1].f, &(s)->retired_pending.f, &(s)->remapped_correctable.f,          \
	        &(s)->remapped_uncorrectable.f, &(s)->remapped_pending.f, &(s)->remapped_failed.f, \
	        &(s)->nvlink_raw_kib.f

void gm_nvml_sample(struct gm_nvml *nvml, unsigned index, struct gm_nvml_sample *s)
{
	struct nvml_gpu_ctx c = {nvml, NULL, false};
	const struct nvml_api *a = &nvml->api;
	if (!sample_handle(nvml, index, &c, FACT_LIST(SAMPLE_FACTS(s)))) {
		s->lost = true;
		return;
	}
	get_uint_arg(&c, a->clock_info, "nvmlDeviceGetClockInfo", NVML_CLOCK_SM, &s->sm_clock_mhz);
	get_uint_arg(&c, a->clock_info, "nvmlDeviceGetClockInfo", NVML_CLOCK_MEM,
	             &s->mem_clock_mhz);
	get_uint_arg(&c, a->temperature, "nvmlDeviceGetTemperature", NVML_TEMPERATURE_GPU,
	             &s->gpu_temp_c);
	get_memory_temp(&c, &s->memory_temp_c);
	get_uint(&c, a->power_usage, "nvmlDeviceGetPowerUsage", &s->power_mw);
	get_energy(&c, &s->energy_mj);
	get_utilization(&c, s);
	get_codec_util(&c, a->encoder_util, "nvmlDeviceGetEncoderUtilization", &s->util_encoder);
	get_codec_util(&c, a->decoder_util, "nvmlDeviceGetDecoderUtilization", &s->util_decoder);
	get_fb(&c, s);
	get_uint(&c, a->pcie_replay, "nvmlDeviceGetPcieReplayCounter", &s->pcie_replay);
	get_uint(&c, a->pcie_gen_current, "nvmlDeviceGetCurrPcieLinkGeneration",
	         &s->pcie_gen_current);
	get_pcie_gen_max(&c, &s->pcie_gen_max);
	get_uint(&c, a->pcie_width_current, "nvmlDeviceGetCurrPcieLinkWidth",
	         &s->pcie_width_current);
	get_uint(&c, a->pcie_width_max, "nvmlDeviceGetMaxPcieLinkWidth", &s->pcie_width_max);
	get_clock_events(&c, &s->clock_events);
	get_ecc_total(&c, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC, &s->ecc[0][0]);
	get_ecc_total(&c, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC, &s->ecc[0][1]);
	get_ecc_total(&c, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &s->ecc[1][0]);
	get_ecc_total(&c, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC, &s->ecc[1][1]);
	get_enabled(&c, a->retired_pending, "nvmlDeviceGetRetiredPagesPendingStatus",
	            &s->retired_pending);
	get_sample_remapped(&c, s);
	get_nvlink_raw(&c, &s->nvlink_raw_kib);
	s->lost = c.lost;
}

void gm_nvml_sample_release(struct gm_nvml_sample *s)
{
	if (!s)
		return;
	struct gm_fact *const all[] = {SAMPLE_FACTS(s)};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		gm_fact_release(all[i]);
}

/* ---- Xid events -------------------------------------------------------------------------- */

struct gm_nvml_events {
	struct gm_nvml *n;
	struct nvml_event_set *set;
	struct nvml_device **handles; /* by NVML index; NULL where not registered */
	unsigned count;
};

enum gm_rc gm_nvml_events_open(struct gm_nvml *nvml, unsigned count, struct gm_nvml_events **out,
                               struct gm_err *err)
{
	const struct nvml_api *a = &nvml->api;
	struct gm_nvml_events *ev = NULL;
	enum gm_rc rc = GM_OK;
	unsigned registered = 0;
	*out = NULL;
	if (!a->event_set_create || !a->register_events || !a->event_set_free ||
	    (!a->event_set_wait_v2 && !a->event_set_wait))
		return gm_err_set(err, GM_ERR_UNSUPPORTED,
		                  "NVML events: nvmlEventSetCreate: function not in this driver");
	ev = gm_xcalloc(1, sizeof(*ev));
	ev->n = nvml;
	ev->count = count;
	ev->handles = count ? gm_xcalloc(count, sizeof(struct nvml_device *)) : NULL;
	int nrc = a->event_set_create(&ev->set);
	if (nrc != NVML_SUCCESS) {
		ev->set = NULL;
		rc = gm_err_set(
		        err, nrc == NVML_ERROR_NOT_SUPPORTED ? GM_ERR_UNSUPPORTED : GM_ERR_DRIVER,
		        "NVML events: nvmlEventSetCreate: %s", nvml_strerror(nvml, nrc));
		goto out;
	}
	for (unsigned i = 0; i < count; i++) {
		struct nvml_device *h = NULL;
		if (a->handle_by_index(i, &h) != NVML_SUCCESS)
			continue;
		nrc = a->register_events(h, NVML_EVENT_TYPE_XID_CRITICAL_ERROR, ev->set);
		if (nrc == NVML_SUCCESS) {
			ev->handles[i] = h;
			registered++;
		} else {
			gm_debug("GPU %u: nvmlDeviceRegisterEvents: %s", i,
			         nvml_strerror(nvml, nrc));
		}
	}
	if (!registered)
		rc = gm_err_set(err, GM_ERR_UNSUPPORTED,
		                "NVML events: no GPU could register for Xid events");
out:
	if (rc != GM_OK)
		gm_nvml_events_close(ev);
	else
		*out = ev;
	return rc;
}

enum gm_rc gm_nvml_events_wait(struct gm_nvml_events *ev, unsigned timeout_ms, unsigned *gpu,
                               unsigned long long *xid, struct gm_err *err)
{
	const struct nvml_api *a = &ev->n->api;
	struct nvml_device *dev = NULL;
	unsigned long long type = 0, data = 0;
	int rc;
	if (a->event_set_wait_v2) {
		struct nvml_event_data_v2 d;
		memset(&d, 0, sizeof(d));
		rc = a->event_set_wait_v2(ev->set, &d, timeout_ms);
		dev = d.device;
		type = d.event_type;
		data = d.event_data;
	} else {
		struct nvml_event_data d;
		memset(&d, 0, sizeof(d));
		rc = a->event_set_wait(ev->set, &d, timeout_ms);
		dev = d.device;
		type = d.event_type;
		data = d.event_data;
	}
	if (rc == NVML_ERROR_TIMEOUT)
		return GM_ERR_NOT_FOUND;
	if (rc != NVML_SUCCESS)
		return gm_err_set(err, GM_ERR_DRIVER, "nvmlEventSetWait: %s",
		                  nvml_strerror(ev->n, rc));
	if (!(type & NVML_EVENT_TYPE_XID_CRITICAL_ERROR))
		return GM_ERR_NOT_FOUND;
	for (unsigned i = 0; i < ev->count; i++) {
		if (ev->handles[i] && ev->handles[i] == dev) {
			*gpu = i;
			*xid = data;
			return GM_OK;
		}
	}
	return GM_ERR_NOT_FOUND;
}

void gm_nvml_events_close(struct gm_nvml_events *ev)
{
	if (!ev)
		return;
	if (ev->set && ev->n->api.event_set_free)
		ev->n->api.event_set_free(ev->set);
	free(ev->handles);
	free(ev);
}

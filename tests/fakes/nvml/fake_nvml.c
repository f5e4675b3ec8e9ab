/* A fake libnvidia-ml.so.1 for tests: the NVML functions gpumigrate uses, written from the NVML
 * API reference (same names, versioned and plain, same argument conventions and error codes),
 * answering from a fixture instead of a GPU. It is a separate shared library, so it uses
 * libfyaml directly and nothing of gpumigrate's core.
 *
 * GPUMIGRATE_FAKE_NVML names the fixture (YAML or JSON), read at the first nvmlInit. No
 * variable, an unreadable file or a fixture that does not follow the format below makes
 * nvmlInit fail (DRIVER_NOT_LOADED when there is no fixture, UNKNOWN for a bad one) and
 * print one line saying why on stderr.
 *
 * Fixture format (every key optional unless noted; unknown keys are an error):
 *
 *   driver_version: "550.90.07"        nvmlSystemGetDriverVersion
 *   nvml_version: "12.550.90.07"       nvmlSystemGetNVMLVersion
 *   cuda_driver_version: 12040         nvmlSystemGetCudaDriverVersion(_v2)
 *   init_error: DRIVER_NOT_LOADED      nvmlInit fails with this error
 *   latency_us: 100                    every call sleeps this long first
 *   errors: {nvmlDeviceGetCount: UNKNOWN}   system functions that fail
 *   devices:                           NVML index order
 *     - name: "NVIDIA A100-SXM4-40GB"
 *       uuid: "GPU-…"
 *       serial: "1324021012345"
 *       pci_bus_id: "00000000:00:04.0"   busId as NVML writes it
 *       pci_device_id: 0x20B010DE        device << 16 | vendor
 *       pci_subsystem_id: 0x134F10DE
 *       vbios: "92.00.45.00.03"
 *       minor: 0
 *       memory_total: 42949672960        bytes; memory_used too (default 0)
 *       compute_capability: "8.0"
 *       power_limit_mw: 400000
 *       persistence_mode: true
 *       ecc_mode: true                   ecc_mode_pending defaults to ecc_mode
 *       mig_mode: false                  mig_mode_pending defaults to mig_mode
 *       pcie: {gen_current: 4, gen_max: 4, gen_gpu_max: 4, width_current: 16,
 *              width_max: 16, replay_counter: 0}   gen_gpu_max defaults to gen_max
 *       retired_pages: {sbe: 0, dbe: 0, pending: false}
 *       remapped_rows: {correctable: 0, uncorrectable: 0, pending: false, failed: false}
 *       ecc_uncorrected_volatile: 0
 *       numa_node: 0
 *       cpu_affinity: "0-47,96-143"
 *       nvlink_count: 12                 links the GPU has (default: highest listed + 1)
 *       nvlinks:                         the active links
 *         - {link: 0, remote_pci_bus_id: "00000000:00:00.0", remote_type: switch}
 *                                        remote_type: gpu | switch | npu; active: false
 *                                        lists a link that is down
 *       not_supported: [serial, nvlinks] these answer NVML_ERROR_NOT_SUPPORTED
 *       errors: {nvmlDeviceGetSerial: NO_PERMISSION}   these answer that error
 *       lost_after_calls: 6              the 7th device call on, NVML_ERROR_GPU_IS_LOST
 *
 * A device key that is absent makes its function answer NOT_SUPPORTED, as a GPU without the
 * feature does. Entries of not_supported and errors name a function ("nvmlDeviceGetSerial",
 * the version suffix left off) or a field: a top key ("pcie", "nvlinks", "memory_total"), or a
 * key below one ("pcie.gen_max", "retired_pages.pending"). Error names are NVML's, with or
 * without the NVML_ERROR_ prefix ("GPU_IS_LOST"), or numbers.
 *
 * Built twice: libnvidia-ml-fake.so exports what a current driver does;
 * libnvidia-ml-fake-old.so (FAKE_NVML_OLD) stands for an old driver: only the unversioned
 * names, and none of the newer functions (remapped rows, MIG mode, NUMA node id, GPU maximum
 * PCIe generation, memory info v2), so callers' fallbacks can be tested. */
#include <errno.h>
#include <libfyaml.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/banned.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- NVML's definitions, from the API reference ------------------------------------------ */

enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
	NVML_ERROR_DRIVER_NOT_LOADED = 9,
	NVML_ERROR_TIMEOUT = 10,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
	NVML_ERROR_UNKNOWN = 999,
};

#define NVML_NVLINK_MAX_LINKS 18

struct nvml_error_name {
	int code;
	const char *name;   /* NVML_ERROR_<name> */
	const char *string; /* what nvmlErrorString says */
};

static const struct nvml_error_name error_names[] = {
        {0, "SUCCESS", "Success"},
        {1, "UNINITIALIZED", "Uninitialized"},
        {2, "INVALID_ARGUMENT", "Invalid Argument"},
        {3, "NOT_SUPPORTED", "Not Supported"},
        {4, "NO_PERMISSION", "Insufficient Permissions"},
        {5, "ALREADY_INITIALIZED", "Already Initialized"},
        {6, "NOT_FOUND", "Not Found"},
        {7, "INSUFFICIENT_SIZE", "Insufficient Size"},
        {8, "INSUFFICIENT_POWER", "Insufficient External Power"},
        {9, "DRIVER_NOT_LOADED", "Driver Not Loaded"},
        {10, "TIMEOUT", "Timeout"},
        {11, "IRQ_ISSUE", "Interrupt Request Issue"},
        {12, "LIBRARY_NOT_FOUND", "NVML Shared Library Not Found"},
        {13, "FUNCTION_NOT_FOUND", "Function Not Found"},
        {14, "CORRUPTED_INFOROM", "Corrupted infoROM"},
        {15, "GPU_IS_LOST", "GPU is lost"},
        {16, "RESET_REQUIRED", "GPU requires restart"},
        {17, "OPERATING_SYSTEM", "The operating system has blocked the request."},
        {18, "LIB_RM_VERSION_MISMATCH", "RM has detected an NVML/RM version mismatch."},
        {19, "IN_USE", "In use by another client"},
        {20, "MEMORY", "Insufficient Memory"},
        {21, "NO_DATA", "No data"},
        {22, "VGPU_ECC_NOT_SUPPORTED",
         "The requested vgpu operation is not available on target device, becasue ECC is "
         "enabled"},
        {23, "INSUFFICIENT_RESOURCES", "Ran out of critical resources, other than memory"},
        {24, "FREQ_NOT_SUPPORTED", "The requested frequency is not supported"},
        {25, "ARGUMENT_VERSION_MISMATCH", "The provided version is invalid/unsupported"},
        {26, "DEPRECATED", "The requested functionality has been deprecated"},
        {27, "NOT_READY", "The system is not ready for the request"},
        {28, "GPU_NOT_FOUND", "The GPU was not found"},
        {29, "INVALID_STATE", "The GPU is in an invalid state"},
        {999, "UNKNOWN", "Unknown Error"},
};

struct nvml_pci_info_v1 {
	char bus_id[16];
	unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
	unsigned reserved[4];
};

struct nvml_pci_info {
	char bus_id_legacy[16];
	unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
	char bus_id[32];
};

struct nvml_memory {
	unsigned long long total, free, used;
};

struct nvml_memory_v2 {
	unsigned version;
	unsigned long long total, reserved, free, used;
};

#define NVML_MEMORY_V2_VERSION ((unsigned)(sizeof(struct nvml_memory_v2) | (2u << 24)))

/* nvmlDevice_t points at one of these. */
struct fake_device {
	unsigned index;
	struct fy_node *node;
	unsigned long calls;
	long long lost_after; /* -1: never */
};

/* ---- The fixture ------------------------------------------------------------------------- */

#define FAKE_MAX_DEVICES 64
#define FAKE_MAX_XIDS    256

/* Handles point into this array, so they stay valid when the fixture is read again. */
static struct fake_device fake_devs[FAKE_MAX_DEVICES];

static struct {
	int refs; /* nvmlInit count not yet shut down */
	struct fy_document *doc;
	struct fy_node *root;
	struct fake_device *devs;
	unsigned n_devs;
	long long latency_us;
	char *file;     /* the fixture, to notice changes */
	struct stat st; /* as it was when read */
	int broken;     /* the init_error of a changed fixture: every call answers it */
} fake;

/* Xid events of the fixture, waiting to be delivered. The event wait runs in the caller's
 * event thread while the other calls run in its sampling thread: this is the only state they
 * share, so it has its own lock. */
struct fake_xid {
	unsigned dev;
	unsigned long long xid;
	long long at_ms; /* CLOCK_MONOTONIC */
};

static pthread_mutex_t xid_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_xid xids[FAKE_MAX_XIDS];
static unsigned n_xids;

enum ftype {
	F_STR,
	F_UINT,
	F_BOOL,
	F_CC,      /* "8.0" */
	F_BUSID,   /* "00000000:07:00.0" */
	F_CPULIST, /* "0-23,48-71" */
	F_ERRNAME,
	F_REMOTE, /* gpu | switch | npu */
	F_MAP,
	F_ERRMAP,  /* key: error name */
	F_STRLIST, /* list of strings */
	F_MAPLIST, /* list of maps */
};

struct field {
	const char *key;
	enum ftype type;
	const struct field *sub; /* F_MAP, F_MAPLIST: the allowed keys, NULL-terminated */
};

static const struct field pcie_fields[] = {
        {"gen_current", F_UINT, NULL}, {"gen_max", F_UINT, NULL},
        {"gen_gpu_max", F_UINT, NULL}, {"width_current", F_UINT, NULL},
        {"width_max", F_UINT, NULL},   {"replay_counter", F_UINT, NULL},
        {NULL, F_STR, NULL},
};

static const struct field retired_fields[] = {
        {"sbe", F_UINT, NULL},
        {"dbe", F_UINT, NULL},
        {"pending", F_BOOL, NULL},
        {NULL, F_STR, NULL},
};

static const struct field remapped_fields[] = {
        {"correctable", F_UINT, NULL}, {"uncorrectable", F_UINT, NULL},
        {"pending", F_BOOL, NULL},     {"failed", F_BOOL, NULL},
        {NULL, F_STR, NULL},
};

static const struct field nvlink_fields[] = {
        {"link", F_UINT, NULL},
        {"remote_pci_bus_id", F_BUSID, NULL},
        {"remote_type", F_REMOTE, NULL},
        {"active", F_BOOL, NULL},
        {NULL, F_STR, NULL},
};

static const struct field clock_fields[] = {
        {"sm", F_UINT, NULL},
        {"mem", F_UINT, NULL},
        {NULL, F_STR, NULL},
};

static const struct field util_fields[] = {
        {"gpu", F_UINT, NULL},     {"memory", F_UINT, NULL}, {"encoder", F_UINT, NULL},
        {"decoder", F_UINT, NULL}, {NULL, F_STR, NULL},
};

static const struct field ecc_fields[] = {
        {"corrected_volatile", F_UINT, NULL},
        {"corrected_aggregate", F_UINT, NULL},
        {"uncorrected_volatile", F_UINT, NULL},
        {"uncorrected_aggregate", F_UINT, NULL},
        {NULL, F_STR, NULL},
};

static const struct field xid_fields[] = {
        {"after_ms", F_UINT, NULL},
        {"xid", F_UINT, NULL},
        {NULL, F_STR, NULL},
};

static const struct field device_fields[] = {
        {"name", F_STR, NULL},
        {"uuid", F_STR, NULL},
        {"serial", F_STR, NULL},
        {"pci_bus_id", F_BUSID, NULL},
        {"pci_device_id", F_UINT, NULL},
        {"pci_subsystem_id", F_UINT, NULL},
        {"vbios", F_STR, NULL},
        {"minor", F_UINT, NULL},
        {"memory_total", F_UINT, NULL},
        {"memory_used", F_UINT, NULL},
        {"memory_reserved", F_UINT, NULL},
        {"clocks", F_MAP, clock_fields},
        {"temperature", F_UINT, NULL},
        {"memory_temperature", F_UINT, NULL},
        {"power_mw", F_UINT, NULL},
        {"energy_mj", F_UINT, NULL},
        {"nvlink_raw_tx_kib", F_UINT, NULL},
        {"nvlink_raw_rx_kib", F_UINT, NULL},
        {"utilization", F_MAP, util_fields},
        {"clocks_event_reasons", F_UINT, NULL},
        {"ecc", F_MAP, ecc_fields},
        {"xid_events", F_MAPLIST, xid_fields},
        {"compute_capability", F_CC, NULL},
        {"power_limit_mw", F_UINT, NULL},
        {"persistence_mode", F_BOOL, NULL},
        {"ecc_mode", F_BOOL, NULL},
        {"ecc_mode_pending", F_BOOL, NULL},
        {"mig_mode", F_BOOL, NULL},
        {"mig_mode_pending", F_BOOL, NULL},
        {"pcie", F_MAP, pcie_fields},
        {"retired_pages", F_MAP, retired_fields},
        {"remapped_rows", F_MAP, remapped_fields},
        {"ecc_uncorrected_volatile", F_UINT, NULL},
        {"numa_node", F_UINT, NULL},
        {"cpu_affinity", F_CPULIST, NULL},
        {"nvlink_count", F_UINT, NULL},
        {"nvlinks", F_MAPLIST, nvlink_fields},
        {"not_supported", F_STRLIST, NULL},
        {"errors", F_ERRMAP, NULL},
        {"lost_after_calls", F_UINT, NULL},
        {NULL, F_STR, NULL},
};

static const struct field top_fields[] = {
        {"driver_version", F_STR, NULL},       {"nvml_version", F_STR, NULL},
        {"cuda_driver_version", F_UINT, NULL}, {"init_error", F_ERRNAME, NULL},
        {"latency_us", F_UINT, NULL},          {"errors", F_ERRMAP, NULL},
        {"devices", F_MAPLIST, device_fields}, {NULL, F_STR, NULL},
};

static bool parse_u64(const char *s, unsigned long long *out)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	if (s && strcmp(s, "true") == 0)
		*out = true;
	else if (s && strcmp(s, "false") == 0)
		*out = false;
	else
		return false;
	return true;
}

static bool parse_errname(const char *s, int *out)
{
	unsigned long long v = 0;
	if (!s)
		return false;
	if (parse_u64(s, &v) && v <= 999) {
		*out = (int)v;
		return true;
	}
	if (strncmp(s, "NVML_ERROR_", 11) == 0)
		s += 11;
	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
		if (strcmp(s, error_names[i].name) == 0) {
			*out = error_names[i].code;
			return true;
		}
	}
	return false;
}

static bool parse_cc(const char *s, int *major, int *minor)
{
	char *end = NULL;
	if (!s || *s < '0' || *s > '9')
		return false;
	long a = strtol(s, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return false;
	long b = strtol(end + 1, &end, 10);
	if (*end || a > 99 || b > 99)
		return false;
	*major = (int)a;
	*minor = (int)b;
	return true;
}

/* "dddddddd:bb:dd.f" (domain 4 or 8 hex digits). */
static bool parse_busid(const char *s, unsigned *domain, unsigned *bus, unsigned *dev, unsigned *fn)
{
	unsigned long part[4];
	const char seps[4] = {':', ':', '.', '\0'};
	const char *p = s;
	if (!s)
		return false;
	for (int i = 0; i < 4; i++) {
		char *end = NULL;
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		      (*p >= 'A' && *p <= 'F')))
			return false;
		part[i] = strtoul(p, &end, 16);
		if (*end != seps[i])
			return false;
		p = end + (seps[i] ? 1 : 0);
	}
	if (part[0] > 0xffffffffUL || part[1] > 0xff || part[2] > 0x1f || part[3] > 7)
		return false;
	*domain = (unsigned)part[0];
	*bus = (unsigned)part[1];
	*dev = (unsigned)part[2];
	*fn = (unsigned)part[3];
	return true;
}

/* Sets the bits of a CPU list ("0-3,8") in set (words unsigned longs); false when malformed. */
static bool parse_cpulist(const char *s, unsigned long *set, size_t words)
{
	const size_t bits = sizeof(unsigned long) * 8;
	const char *p = s;
	if (!s || !*s)
		return false;
	for (;;) {
		char *end = NULL;
		if (*p < '0' || *p > '9')
			return false;
		unsigned long a = strtoul(p, &end, 10), b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (*p < '0' || *p > '9')
				return false;
			b = strtoul(p, &end, 10);
			p = end;
		}
		if (b < a || b >= 65536)
			return false;
		for (unsigned long i = a; set && i <= b && i < words * bits; i++)
			set[i / bits] |= 1UL << (i % bits);
		if (*p == '\0')
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

static const char *scalar(struct fy_node *n)
{
	return n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;
}

static bool check_node(const char *file, struct fy_node *n, const struct field *f);

static bool complain(const char *file, struct fy_node *n, const char *what)
{
	char *path = n ? fy_node_get_path(n) : NULL;
	fprintf(stderr, "fake-nvml: %s: %s: %s\n", file, path ? path : "/", what);
	free(path);
	return false;
}

static bool check_map(const char *file, struct fy_node *map, const struct field *allowed)
{
	void *it = NULL;
	struct fy_node_pair *pair;
	if (!fy_node_is_mapping(map))
		return complain(file, map, "expected a mapping");
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *key = scalar(fy_node_pair_key(pair));
		const struct field *f = allowed;
		while (f->key && (!key || strcmp(f->key, key) != 0))
			f++;
		if (!f->key) {
			char msg[160];
			snprintf(msg, sizeof(msg), "unknown key '%s'", key ? key : "?");
			return complain(file, map, msg);
		}
		if (!check_node(file, fy_node_pair_value(pair), f))
			return false;
	}
	return true;
}

static bool check_node(const char *file, struct fy_node *n, const struct field *f)
{
	const char *s = scalar(n);
	unsigned long long u;
	bool b;
	int i1, i2;
	unsigned a1, a2, a3, a4;
	switch (f->type) {
	case F_STR: return s ? true : complain(file, n, "expected a string");
	case F_UINT:
		return parse_u64(s, &u) ? true : complain(file, n, "expected an unsigned integer");
	case F_BOOL: return parse_bool(s, &b) ? true : complain(file, n, "expected true or false");
	case F_CC:
		return parse_cc(s, &i1, &i2) ? true : complain(file, n, "expected \"major.minor\"");
	case F_BUSID:
		return parse_busid(s, &a1, &a2, &a3, &a4)
		               ? true
		               : complain(file, n, "expected a PCI bus id \"00000000:07:00.0\"");
	case F_CPULIST:
		return parse_cpulist(s, NULL, 0)
		               ? true
		               : complain(file, n, "expected a CPU list \"0-3,8\"");
	case F_ERRNAME:
		return parse_errname(s, &i1) ? true
		                             : complain(file, n, "expected an NVML error name");
	case F_REMOTE:
		return s && (strcmp(s, "gpu") == 0 || strcmp(s, "switch") == 0 ||
		             strcmp(s, "npu") == 0)
		               ? true
		               : complain(file, n, "expected gpu, switch or npu");
	case F_MAP: return check_map(file, n, f->sub);
	case F_ERRMAP: {
		void *it = NULL;
		struct fy_node_pair *pair;
		if (!fy_node_is_mapping(n))
			return complain(file, n, "expected a mapping of names to NVML errors");
		while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
			if (!parse_errname(scalar(fy_node_pair_value(pair)), &i1))
				return complain(file, fy_node_pair_value(pair),
				                "expected an NVML error name");
		}
		return true;
	}
	case F_STRLIST:
	case F_MAPLIST: {
		void *it = NULL;
		struct fy_node *item;
		if (!fy_node_is_sequence(n))
			return complain(file, n, "expected a list");
		while ((item = fy_node_sequence_iterate(n, &it)) != NULL) {
			if (f->type == F_STRLIST && !scalar(item))
				return complain(file, item, "expected a string");
			if (f->type == F_MAPLIST && !check_map(file, item, f->sub))
				return false;
		}
		return true;
	}
	}
	return false;
}

/* a.b lookup in a mapping. */
static struct fy_node *lookup(struct fy_node *map, const char *path)
{
	char key[64];
	while (map && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		if (len >= sizeof(key) || !fy_node_is_mapping(map))
			return NULL;
		memcpy(key, path, len);
		key[len] = '\0';
		map = fy_node_mapping_lookup_by_string(map, key, FY_NT);
		path += len + (dot ? 1 : 0);
	}
	return map;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drops the Xid events not yet delivered (under xid_lock). */
static void xids_clear(void)
{
	pthread_mutex_lock(&xid_lock);
	n_xids = 0;
	pthread_mutex_unlock(&xid_lock);
}

static void unload(void)
{
	fy_document_destroy(fake.doc);
	free(fake.file);
	memset(&fake, 0, sizeof(fake));
	xids_clear();
}

/* Reads and checks a fixture; NVML_SUCCESS with *doc, or the error nvmlInit answers. */
static int parse_fixture(const char *file, struct fy_document **doc)
{
	*doc = NULL;
	FILE *fp = fopen(file, "r");
	if (!fp) {
		fprintf(stderr, "fake-nvml: cannot open '%s': %s\n", file, strerror(errno));
		return NVML_ERROR_DRIVER_NOT_LOADED;
	}
	fclose(fp);

	struct fy_parse_cfg cfg = {
	        .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_AUTO,
	};
	struct fy_document *d = fy_document_build_from_file(&cfg, file);
	if (!d || fy_document_resolve(d) != 0) {
		fprintf(stderr, "fake-nvml: %s: not a valid YAML or JSON document\n", file);
		fy_document_destroy(d);
		return NVML_ERROR_UNKNOWN;
	}
	struct fy_node *root = fy_document_root(d);
	if (!root || !check_map(file, root, top_fields)) {
		if (!root)
			fprintf(stderr, "fake-nvml: %s: the document is empty\n", file);
		fy_document_destroy(d);
		return NVML_ERROR_UNKNOWN;
	}
	struct fy_node *devs = lookup(root, "devices");
	if (devs && fy_node_sequence_item_count(devs) > FAKE_MAX_DEVICES) {
		fprintf(stderr, "fake-nvml: %s: more than %d devices\n", file, FAKE_MAX_DEVICES);
		fy_document_destroy(d);
		return NVML_ERROR_UNKNOWN;
	}
	*doc = d;
	return NVML_SUCCESS;
}

/* Makes doc the fixture served (the old one is destroyed). Device handles stay the same
 * pointers; call counts restart; Xid events are armed relative to now. */
static void install(struct fy_document *doc)
{
	unsigned long long u = 0;
	fy_document_destroy(fake.doc);
	fake.doc = doc;
	fake.root = fy_document_root(doc);
	fake.latency_us = 0;
	if (parse_u64(scalar(lookup(fake.root, "latency_us")), &u))
		fake.latency_us = (long long)u;

	struct fy_node *devs = lookup(fake.root, "devices");
	int n = devs ? fy_node_sequence_item_count(devs) : 0;
	long long t0 = now_ms();
	memset(fake_devs, 0, sizeof(fake_devs));
	pthread_mutex_lock(&xid_lock);
	n_xids = 0;
	for (int i = 0; i < n; i++) {
		struct fake_device *d = &fake_devs[i];
		d->index = (unsigned)i;
		d->node = fy_node_sequence_get_by_index(devs, i);
		d->lost_after = -1;
		if (parse_u64(scalar(lookup(d->node, "lost_after_calls")), &u))
			d->lost_after = (long long)u;
		struct fy_node *list = lookup(d->node, "xid_events");
		void *it = NULL;
		struct fy_node *item;
		while (list && (item = fy_node_sequence_iterate(list, &it)) != NULL &&
		       n_xids < FAKE_MAX_XIDS) {
			unsigned long long after = 0, xid = 0;
			parse_u64(scalar(lookup(item, "after_ms")), &after);
			parse_u64(scalar(lookup(item, "xid")), &xid);
			xids[n_xids++] = (struct fake_xid){(unsigned)i, xid, t0 + (long long)after};
		}
	}
	pthread_mutex_unlock(&xid_lock);
	fake.devs = fake_devs;
	fake.n_devs = (unsigned)n;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int load(void)
{
	const char *file = getenv("GPUMIGRATE_FAKE_NVML");
	if (!file || !*file) {
		fprintf(stderr, "fake-nvml: GPUMIGRATE_FAKE_NVML is not set (name a fixture)\n");
		return NVML_ERROR_DRIVER_NOT_LOADED;
	}
	struct fy_document *doc = NULL;
	struct stat st;
	memset(&st, 0, sizeof(st));
	stat(file, &st);
	int rc = parse_fixture(file, &doc);
	if (rc != NVML_SUCCESS)
		return rc;
	int init_error = NVML_SUCCESS;
	if (parse_errname(scalar(lookup(fy_document_root(doc), "init_error")), &init_error) &&
	    init_error != NVML_SUCCESS) {
		fy_document_destroy(doc);
		return init_error;
	}
	install(doc);
	fake.file = strdup(file);
	fake.st = st;
	return NVML_SUCCESS;
}

/* While initialised: a fixture file that changed (mtime, size or inode) is read again, so a
 * test can change what the GPUs answer at run time. A fixture that now has init_error stands
 * for a driver that went away: every call answers that error until one without it comes. A
 * broken rewrite (half written) keeps the old fixture. */
static void maybe_reload(void)
{
	struct stat st;
	struct fy_document *doc = NULL;
	if (fake.refs <= 0 || !fake.file || stat(fake.file, &st) != 0 || same_file(&st, &fake.st))
		return;
	if (parse_fixture(fake.file, &doc) != NVML_SUCCESS)
		return;
	fake.st = st;
	int init_error = NVML_SUCCESS;
	if (parse_errname(scalar(lookup(fy_document_root(doc), "init_error")), &init_error) &&
	    init_error != NVML_SUCCESS) {
		fake.broken = init_error;
		fy_document_destroy(doc);
		return;
	}
	fake.broken = NVML_SUCCESS;
	install(doc);
}

static void latency(void)
{
	if (fake.latency_us <= 0)
		return;
	struct timespec ts = {fake.latency_us / 1000000, (fake.latency_us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Whether entry (from not_supported or errors) names fn or field. */
static bool names_call(const char *entry, const char *fn, const char *field)
{
	if (!entry)
		return false;
	if (strcmp(entry, fn) == 0)
		return true;
	if (!field)
		return false;
	if (strcmp(entry, field) == 0)
		return true;
	/* "pcie" covers "pcie.gen_max" */
	size_t len = strlen(entry);
	return strncmp(entry, field, len) == 0 && field[len] == '.';
}

/* An error configured for fn/field in an errors map, or NVML_SUCCESS. */
static int configured_error(struct fy_node *errors, const char *fn, const char *field)
{
	void *it = NULL;
	struct fy_node_pair *pair;
	int rc = NVML_SUCCESS;
	if (!errors)
		return NVML_SUCCESS;
	while ((pair = fy_node_mapping_iterate(errors, &it)) != NULL) {
		if (names_call(scalar(fy_node_pair_key(pair)), fn, field) &&
		    parse_errname(scalar(fy_node_pair_value(pair)), &rc))
			return rc;
	}
	return NVML_SUCCESS;
}

/* The common start of every system function. */
static int sys_enter(const char *fn)
{
	if (fake.refs <= 0)
		return NVML_ERROR_UNINITIALIZED;
	maybe_reload();
	if (fake.broken)
		return fake.broken;
	latency();
	return configured_error(lookup(fake.root, "errors"), fn, NULL);
}

/* The common start of every device function: handle check, latency, lost GPU, configured
 * errors and unsupported fields. field is the fixture key the function answers from. */
static int dev_enter(struct fake_device *d, const char *fn, const char *field)
{
	if (fake.refs <= 0)
		return NVML_ERROR_UNINITIALIZED;
	if (fake.broken)
		return fake.broken;
	if (!d || fake.n_devs == 0 || d < fake.devs || d >= fake.devs + fake.n_devs)
		return NVML_ERROR_INVALID_ARGUMENT;
	latency();
	d->calls++;
	if (d->lost_after >= 0 && (long long)d->calls > d->lost_after)
		return NVML_ERROR_GPU_IS_LOST;
	int rc = configured_error(lookup(d->node, "errors"), fn, field);
	if (rc != NVML_SUCCESS)
		return rc;
	struct fy_node *ns = lookup(d->node, "not_supported");
	void *it = NULL;
	struct fy_node *item;
	while (ns && (item = fy_node_sequence_iterate(ns, &it)) != NULL) {
		if (names_call(scalar(item), fn, field))
			return NVML_ERROR_NOT_SUPPORTED;
	}
	return NVML_SUCCESS;
}

/* Copies a string answer: INSUFFICIENT_SIZE when it does not fit, as NVML does. */
static int put_str(const char *s, char *buf, unsigned len)
{
	if (!s)
		return NVML_ERROR_NOT_SUPPORTED;
	if (!buf)
		return NVML_ERROR_INVALID_ARGUMENT;
	size_t n = strlen(s);
	if (n + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, s, n + 1);
	return NVML_SUCCESS;
}

static int get_u64(struct fy_node *map, const char *path, unsigned long long *out)
{
	return parse_u64(scalar(lookup(map, path)), out) ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

static int get_uint(struct fy_node *map, const char *path, unsigned *out)
{
	unsigned long long v = 0;
	if (!out)
		return NVML_ERROR_INVALID_ARGUMENT;
	int rc = get_u64(map, path, &v);
	if (rc == NVML_SUCCESS)
		*out = (unsigned)v;
	return rc;
}

static int get_bool(struct fy_node *map, const char *path, bool *out)
{
	return parse_bool(scalar(lookup(map, path)), out) ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

/* ---- System ------------------------------------------------------------------------------ */

EXPORT int nvmlInit(void);
EXPORT int nvmlShutdown(void);
EXPORT const char *nvmlErrorString(int rc);

/* Counted, as NVML's: the fixture is read at the first and dropped at the last shutdown. */
static int init(void)
{
	if (fake.refs > 0) {
		fake.refs++;
		return NVML_SUCCESS;
	}
	int rc = load();
	if (rc == NVML_SUCCESS)
		fake.refs = 1;
	return rc;
}

EXPORT int nvmlInit(void)
{
	return init();
}

EXPORT int nvmlShutdown(void)
{
	if (fake.refs <= 0)
		return NVML_ERROR_UNINITIALIZED;
	if (--fake.refs == 0)
		unload();
	return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(int rc)
{
	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
		if (error_names[i].code == rc)
			return error_names[i].string;
	}
	return "Unknown Error";
}

EXPORT int nvmlSystemGetDriverVersion(char *version, unsigned length);
EXPORT int nvmlSystemGetDriverVersion(char *version, unsigned length)
{
	int rc = sys_enter("nvmlSystemGetDriverVersion");
	return rc ? rc : put_str(scalar(lookup(fake.root, "driver_version")), version, length);
}

EXPORT int nvmlSystemGetNVMLVersion(char *version, unsigned length);
EXPORT int nvmlSystemGetNVMLVersion(char *version, unsigned length)
{
	int rc = sys_enter("nvmlSystemGetNVMLVersion");
	return rc ? rc : put_str(scalar(lookup(fake.root, "nvml_version")), version, length);
}

static int cuda_driver_version(int *v)
{
	unsigned u = 0;
	int rc = sys_enter("nvmlSystemGetCudaDriverVersion");
	if (rc)
		return rc;
	if (!v)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = get_uint(fake.root, "cuda_driver_version", &u);
	if (rc == NVML_SUCCESS)
		*v = (int)u;
	return rc;
}

EXPORT int nvmlSystemGetCudaDriverVersion(int *v);
EXPORT int nvmlSystemGetCudaDriverVersion(int *v)
{
	return cuda_driver_version(v);
}

static int device_count(unsigned *count)
{
	int rc = sys_enter("nvmlDeviceGetCount");
	if (rc)
		return rc;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = fake.n_devs;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetCount(unsigned *count);
EXPORT int nvmlDeviceGetCount(unsigned *count)
{
	return device_count(count);
}

static int handle_by_index(unsigned index, struct fake_device **dev)
{
	int rc = sys_enter("nvmlDeviceGetHandleByIndex");
	if (rc)
		return rc;
	if (!dev || index >= fake.n_devs)
		return NVML_ERROR_INVALID_ARGUMENT;
	*dev = &fake.devs[index];
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetHandleByIndex(unsigned index, struct fake_device **dev);
EXPORT int nvmlDeviceGetHandleByIndex(unsigned index, struct fake_device **dev)
{
	return handle_by_index(index, dev);
}

/* ---- Device identity --------------------------------------------------------------------- */

static int dev_str(struct fake_device *d, const char *fn, const char *field, char *buf,
                   unsigned len)
{
	int rc = dev_enter(d, fn, field);
	return rc ? rc : put_str(scalar(lookup(d->node, field)), buf, len);
}

EXPORT int nvmlDeviceGetName(struct fake_device *d, char *buf, unsigned len);
EXPORT int nvmlDeviceGetName(struct fake_device *d, char *buf, unsigned len)
{
	return dev_str(d, "nvmlDeviceGetName", "name", buf, len);
}

EXPORT int nvmlDeviceGetUUID(struct fake_device *d, char *buf, unsigned len);
EXPORT int nvmlDeviceGetUUID(struct fake_device *d, char *buf, unsigned len)
{
	return dev_str(d, "nvmlDeviceGetUUID", "uuid", buf, len);
}

EXPORT int nvmlDeviceGetSerial(struct fake_device *d, char *buf, unsigned len);
EXPORT int nvmlDeviceGetSerial(struct fake_device *d, char *buf, unsigned len)
{
	return dev_str(d, "nvmlDeviceGetSerial", "serial", buf, len);
}

EXPORT int nvmlDeviceGetVbiosVersion(struct fake_device *d, char *buf, unsigned len);
EXPORT int nvmlDeviceGetVbiosVersion(struct fake_device *d, char *buf, unsigned len)
{
	return dev_str(d, "nvmlDeviceGetVbiosVersion", "vbios", buf, len);
}

/* Fills the fields common to every nvmlPciInfo version from a bus id. */
static int pci_from(const char *bus_id, struct fy_node *dev, unsigned *domain, unsigned *bus,
                    unsigned *device, unsigned *devid, unsigned *subsys)
{
	unsigned fn = 0;
	if (!parse_busid(bus_id, domain, bus, device, &fn))
		return NVML_ERROR_NOT_SUPPORTED;
	*devid = 0;
	*subsys = 0;
	if (dev) {
		get_uint(dev, "pci_device_id", devid);
		get_uint(dev, "pci_subsystem_id", subsys);
	}
	return NVML_SUCCESS;
}

static int pci_info_v1(const char *bus_id, struct fy_node *dev, struct nvml_pci_info_v1 *pci)
{
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	memset(pci, 0, sizeof(*pci));
	int rc = pci_from(bus_id, dev, &pci->domain, &pci->bus, &pci->device, &pci->pci_device_id,
	                  &pci->pci_subsystem_id);
	if (rc)
		return rc;
	unsigned d, b, s, f;
	parse_busid(bus_id, &d, &b, &s, &f);
	snprintf(pci->bus_id, sizeof(pci->bus_id), "%04X:%02X:%02X.%X", d & 0xffff, b, s, f);
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetPciInfo(struct fake_device *d, struct nvml_pci_info_v1 *pci);
EXPORT int nvmlDeviceGetPciInfo(struct fake_device *d, struct nvml_pci_info_v1 *pci)
{
	int rc = dev_enter(d, "nvmlDeviceGetPciInfo", "pci_bus_id");
	return rc ? rc : pci_info_v1(scalar(lookup(d->node, "pci_bus_id")), d->node, pci);
}

EXPORT int nvmlDeviceGetMinorNumber(struct fake_device *d, unsigned *minor);
EXPORT int nvmlDeviceGetMinorNumber(struct fake_device *d, unsigned *minor)
{
	int rc = dev_enter(d, "nvmlDeviceGetMinorNumber", "minor");
	return rc ? rc : get_uint(d->node, "minor", minor);
}

/* used excludes reserved (as v2 reports them); used + reserved never exceed total. */
static int memory_values(struct fake_device *d, unsigned long long *total, unsigned long long *used,
                         unsigned long long *reserved)
{
	*used = 0;
	*reserved = 0;
	int rc = get_u64(d->node, "memory_total", total);
	if (rc)
		return rc;
	get_u64(d->node, "memory_used", used);
	get_u64(d->node, "memory_reserved", reserved);
	if (*reserved > *total)
		*reserved = *total;
	if (*used > *total - *reserved)
		*used = *total - *reserved;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetMemoryInfo(struct fake_device *d, struct nvml_memory *m);
EXPORT int nvmlDeviceGetMemoryInfo(struct fake_device *d, struct nvml_memory *m)
{
	unsigned long long total = 0, used = 0, reserved = 0;
	int rc = dev_enter(d, "nvmlDeviceGetMemoryInfo", "memory_total");
	if (rc)
		return rc;
	if (!m)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = memory_values(d, &total, &used, &reserved);
	if (rc)
		return rc;
	/* Version 1 counts the reserved memory as used. */
	m->total = total;
	m->used = used + reserved;
	m->free = total - used - reserved;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetCudaComputeCapability(struct fake_device *d, int *major, int *minor);
EXPORT int nvmlDeviceGetCudaComputeCapability(struct fake_device *d, int *major, int *minor)
{
	int rc = dev_enter(d, "nvmlDeviceGetCudaComputeCapability", "compute_capability");
	if (rc)
		return rc;
	if (!major || !minor)
		return NVML_ERROR_INVALID_ARGUMENT;
	return parse_cc(scalar(lookup(d->node, "compute_capability")), major, minor)
	               ? NVML_SUCCESS
	               : NVML_ERROR_NOT_SUPPORTED;
}

EXPORT int nvmlDeviceGetPowerManagementLimit(struct fake_device *d, unsigned *limit);
EXPORT int nvmlDeviceGetPowerManagementLimit(struct fake_device *d, unsigned *limit)
{
	int rc = dev_enter(d, "nvmlDeviceGetPowerManagementLimit", "power_limit_mw");
	return rc ? rc : get_uint(d->node, "power_limit_mw", limit);
}

/* nvmlEnableState_t answers. */
static int enable_state(struct fake_device *d, const char *fn, const char *field, int *out)
{
	bool on = false;
	int rc = dev_enter(d, fn, field);
	if (rc)
		return rc;
	if (!out)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = get_bool(d->node, field, &on);
	if (rc == NVML_SUCCESS)
		*out = on ? 1 : 0;
	return rc;
}

EXPORT int nvmlDeviceGetPersistenceMode(struct fake_device *d, int *mode);
EXPORT int nvmlDeviceGetPersistenceMode(struct fake_device *d, int *mode)
{
	return enable_state(d, "nvmlDeviceGetPersistenceMode", "persistence_mode", mode);
}

/* Current and pending of a mode whose pending value defaults to the current one. */
static int mode_pair(struct fake_device *d, const char *fn, const char *field,
                     const char *pending_field, int *current, int *pending)
{
	bool cur = false, pend = false;
	int rc = dev_enter(d, fn, field);
	if (rc)
		return rc;
	if (!current || !pending)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = get_bool(d->node, field, &cur);
	if (rc)
		return rc;
	if (get_bool(d->node, pending_field, &pend) != NVML_SUCCESS)
		pend = cur;
	*current = cur ? 1 : 0;
	*pending = pend ? 1 : 0;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetEccMode(struct fake_device *d, int *current, int *pending);
EXPORT int nvmlDeviceGetEccMode(struct fake_device *d, int *current, int *pending)
{
	return mode_pair(d, "nvmlDeviceGetEccMode", "ecc_mode", "ecc_mode_pending", current,
	                 pending);
}

/* ---- PCIe -------------------------------------------------------------------------------- */

static int dev_uint(struct fake_device *d, const char *fn, const char *field, unsigned *out)
{
	int rc = dev_enter(d, fn, field);
	return rc ? rc : get_uint(d->node, field, out);
}

EXPORT int nvmlDeviceGetCurrPcieLinkGeneration(struct fake_device *d, unsigned *v);
EXPORT int nvmlDeviceGetCurrPcieLinkGeneration(struct fake_device *d, unsigned *v)
{
	return dev_uint(d, "nvmlDeviceGetCurrPcieLinkGeneration", "pcie.gen_current", v);
}

EXPORT int nvmlDeviceGetMaxPcieLinkGeneration(struct fake_device *d, unsigned *v);
EXPORT int nvmlDeviceGetMaxPcieLinkGeneration(struct fake_device *d, unsigned *v)
{
	return dev_uint(d, "nvmlDeviceGetMaxPcieLinkGeneration", "pcie.gen_max", v);
}

EXPORT int nvmlDeviceGetCurrPcieLinkWidth(struct fake_device *d, unsigned *v);
EXPORT int nvmlDeviceGetCurrPcieLinkWidth(struct fake_device *d, unsigned *v)
{
	return dev_uint(d, "nvmlDeviceGetCurrPcieLinkWidth", "pcie.width_current", v);
}

EXPORT int nvmlDeviceGetMaxPcieLinkWidth(struct fake_device *d, unsigned *v);
EXPORT int nvmlDeviceGetMaxPcieLinkWidth(struct fake_device *d, unsigned *v)
{
	return dev_uint(d, "nvmlDeviceGetMaxPcieLinkWidth", "pcie.width_max", v);
}

EXPORT int nvmlDeviceGetPcieReplayCounter(struct fake_device *d, unsigned *v);
EXPORT int nvmlDeviceGetPcieReplayCounter(struct fake_device *d, unsigned *v)
{
	return dev_uint(d, "nvmlDeviceGetPcieReplayCounter", "pcie.replay_counter", v);
}

/* ---- Memory health ----------------------------------------------------------------------- */

/* Cause 0: pages retired for multiple single-bit errors, 1: for a double-bit error. A count
 * smaller than the number of pages gets INSUFFICIENT_SIZE with the number, as in NVML. */
EXPORT int nvmlDeviceGetRetiredPages(struct fake_device *d, int cause, unsigned *count,
                                     unsigned long long *addresses);
EXPORT int nvmlDeviceGetRetiredPages(struct fake_device *d, int cause, unsigned *count,
                                     unsigned long long *addresses)
{
	unsigned n = 0;
	int rc = dev_enter(d, "nvmlDeviceGetRetiredPages",
	                   cause == 0 ? "retired_pages.sbe" : "retired_pages.dbe");
	if (rc)
		return rc;
	if (!count || (cause != 0 && cause != 1))
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = get_uint(d->node, cause == 0 ? "retired_pages.sbe" : "retired_pages.dbe", &n);
	if (rc)
		return rc;
	if (*count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	if (n && !addresses)
		return NVML_ERROR_INVALID_ARGUMENT;
	for (unsigned i = 0; i < n; i++)
		addresses[i] = 0x1000000ULL * (cause + 1) + 0x1000ULL * i;
	*count = n;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetRetiredPagesPendingStatus(struct fake_device *d, int *pending);
EXPORT int nvmlDeviceGetRetiredPagesPendingStatus(struct fake_device *d, int *pending)
{
	return enable_state(d, "nvmlDeviceGetRetiredPagesPendingStatus", "retired_pages.pending",
	                    pending);
}

/* errorType 0 corrected, 1 uncorrected; counterType 0 volatile, 1 aggregate: from the ecc map
 * (ecc.uncorrected_volatile falls back to ecc_uncorrected_volatile); counts not given read 0.
 * With ECC off: NOT_SUPPORTED. */
EXPORT int nvmlDeviceGetTotalEccErrors(struct fake_device *d, int error_type, int counter_type,
                                       unsigned long long *count);
EXPORT int nvmlDeviceGetTotalEccErrors(struct fake_device *d, int error_type, int counter_type,
                                       unsigned long long *count)
{
	static const char *const keys[2][2] = {
	        {"ecc.corrected_volatile", "ecc.corrected_aggregate"},
	        {"ecc.uncorrected_volatile", "ecc.uncorrected_aggregate"},
	};
	bool ecc = false;
	int rc = dev_enter(d, "nvmlDeviceGetTotalEccErrors", "ecc_uncorrected_volatile");
	if (rc)
		return rc;
	if (!count || error_type < 0 || error_type > 1 || counter_type < 0 || counter_type > 1)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (get_bool(d->node, "ecc_mode", &ecc) != NVML_SUCCESS || !ecc)
		return NVML_ERROR_NOT_SUPPORTED;
	*count = 0;
	if (get_u64(d->node, keys[error_type][counter_type], count) == NVML_SUCCESS)
		return NVML_SUCCESS;
	if (error_type == 1 && counter_type == 0)
		return get_u64(d->node, "ecc_uncorrected_volatile", count);
	*count = 0;
	return NVML_SUCCESS;
}

/* ---- NVLink ------------------------------------------------------------------------------ */

/* The fixture entry of a link: NOT_SUPPORTED without NVLink, INVALID_ARGUMENT past the GPU's
 * links; *entry NULL for a link the GPU has but that is not connected. */
static int nvlink_entry(struct fake_device *d, unsigned link, struct fy_node **entry)
{
	struct fy_node *links = lookup(d->node, "nvlinks");
	unsigned long long count = 0, v = 0;
	void *it = NULL;
	struct fy_node *item;
	*entry = NULL;
	if (!links)
		return NVML_ERROR_NOT_SUPPORTED;
	if (get_u64(d->node, "nvlink_count", &count) != NVML_SUCCESS) {
		while ((item = fy_node_sequence_iterate(links, &it)) != NULL)
			if (parse_u64(scalar(lookup(item, "link")), &v) && v + 1 > count)
				count = v + 1;
		it = NULL;
	}
	if (link >= NVML_NVLINK_MAX_LINKS || link >= count)
		return NVML_ERROR_INVALID_ARGUMENT;
	while ((item = fy_node_sequence_iterate(links, &it)) != NULL) {
		if (parse_u64(scalar(lookup(item, "link")), &v) && v == link) {
			*entry = item;
			break;
		}
	}
	return NVML_SUCCESS;
}

/* The entry of an active link, or NOT_SUPPORTED-style errors. */
static int nvlink_active(struct fake_device *d, const char *fn, unsigned link,
                         struct fy_node **entry)
{
	bool active = true;
	int rc = dev_enter(d, fn, "nvlinks");
	if (rc)
		return rc;
	rc = nvlink_entry(d, link, entry);
	if (rc)
		return rc;
	if (*entry)
		get_bool(*entry, "active", &active);
	return *entry && active ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

EXPORT int nvmlDeviceGetNvLinkState(struct fake_device *d, unsigned link, int *active);
EXPORT int nvmlDeviceGetNvLinkState(struct fake_device *d, unsigned link, int *active)
{
	struct fy_node *entry = NULL;
	bool on = true;
	int rc = dev_enter(d, "nvmlDeviceGetNvLinkState", "nvlinks");
	if (rc)
		return rc;
	if (!active)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = nvlink_entry(d, link, &entry);
	if (rc)
		return rc;
	if (entry)
		get_bool(entry, "active", &on);
	*active = entry && on ? 1 : 0;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetNvLinkRemotePciInfo(struct fake_device *d, unsigned link,
                                            struct nvml_pci_info_v1 *pci);
EXPORT int nvmlDeviceGetNvLinkRemotePciInfo(struct fake_device *d, unsigned link,
                                            struct nvml_pci_info_v1 *pci)
{
	struct fy_node *entry = NULL;
	int rc = nvlink_active(d, "nvmlDeviceGetNvLinkRemotePciInfo", link, &entry);
	if (rc)
		return rc;
	return pci_info_v1(scalar(lookup(entry, "remote_pci_bus_id")), NULL, pci);
}

/* nvmlIntNvLinkDeviceType_t: 0 GPU, 1 IBM NPU, 2 switch, 0xFF unknown. */
EXPORT int nvmlDeviceGetNvLinkRemoteDeviceType(struct fake_device *d, unsigned link, int *type);
EXPORT int nvmlDeviceGetNvLinkRemoteDeviceType(struct fake_device *d, unsigned link, int *type)
{
	struct fy_node *entry = NULL;
	int rc = nvlink_active(d, "nvmlDeviceGetNvLinkRemoteDeviceType", link, &entry);
	if (rc)
		return rc;
	if (!type)
		return NVML_ERROR_INVALID_ARGUMENT;
	const char *s = scalar(lookup(entry, "remote_type"));
	if (!s)
		*type = 0xFF;
	else if (strcmp(s, "gpu") == 0)
		*type = 0;
	else if (strcmp(s, "npu") == 0)
		*type = 1;
	else
		*type = 2;
	return NVML_SUCCESS;
}

/* ---- Topology ---------------------------------------------------------------------------- */

EXPORT int nvmlDeviceGetCpuAffinity(struct fake_device *d, unsigned words, unsigned long *set);
EXPORT int nvmlDeviceGetCpuAffinity(struct fake_device *d, unsigned words, unsigned long *set)
{
	int rc = dev_enter(d, "nvmlDeviceGetCpuAffinity", "cpu_affinity");
	if (rc)
		return rc;
	if (!set || words == 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	const char *s = scalar(lookup(d->node, "cpu_affinity"));
	if (!s)
		return NVML_ERROR_NOT_SUPPORTED;
	memset(set, 0, words * sizeof(*set));
	parse_cpulist(s, set, words);
	return NVML_SUCCESS;
}

/* ---- Sampling ---------------------------------------------------------------------------- */

/* nvmlClockType_t: 1 SM, 2 memory (0 graphics and 3 video are not in fixtures). */
EXPORT int nvmlDeviceGetClockInfo(struct fake_device *d, int type, unsigned *clock);
EXPORT int nvmlDeviceGetClockInfo(struct fake_device *d, int type, unsigned *clock)
{
	const char *field = type == 1 ? "clocks.sm" : type == 2 ? "clocks.mem" : "clocks.other";
	int rc = dev_enter(d, "nvmlDeviceGetClockInfo", field);
	if (rc)
		return rc;
	if (type < 0 || type > 3)
		return NVML_ERROR_INVALID_ARGUMENT;
	return get_uint(d->node, field, clock);
}

/* Sensor 0 (the GPU die) is the only one NVML defines. */
EXPORT int nvmlDeviceGetTemperature(struct fake_device *d, int sensor, unsigned *temp);
EXPORT int nvmlDeviceGetTemperature(struct fake_device *d, int sensor, unsigned *temp)
{
	int rc = dev_enter(d, "nvmlDeviceGetTemperature", "temperature");
	if (rc)
		return rc;
	if (sensor != 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	return get_uint(d->node, "temperature", temp);
}

struct nvml_field_value {
	unsigned field_id, scope_id;
	long long timestamp, latency_us;
	int value_type, nvml_return;
	union {
		double d;
		unsigned ui;
		unsigned long long ull;
	} value;
};

#define NVML_FI_DEV_MEMORY_TEMP              82
#define NVML_FI_DEV_TOTAL_ENERGY             83
#define NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX 140
#define NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_RX 141
#define NVML_VALUE_TYPE_UNSIGNED_INT         1
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG   3

/* Answers the fields fixtures have: 82 (memory_temperature, unsigned int), 83 (energy_mj,
 * unsigned long long) and 140/141 (nvlink_raw_tx_kib / nvlink_raw_rx_kib, unsigned long long
 * KiB over all links; scopeId must be UINT_MAX, "all links", else INVALID_ARGUMENT as the
 * driver answers for a link the GPU does not have); every other field id answers
 * NOT_SUPPORTED in its nvmlReturn, as a GPU without the key in its fixture does. */
EXPORT int nvmlDeviceGetFieldValues(struct fake_device *d, int count,
                                    struct nvml_field_value *values);
EXPORT int nvmlDeviceGetFieldValues(struct fake_device *d, int count,
                                    struct nvml_field_value *values)
{
	int rc = dev_enter(d, "nvmlDeviceGetFieldValues", NULL);
	if (rc)
		return rc;
	if (count < 0 || (count > 0 && !values))
		return NVML_ERROR_INVALID_ARGUMENT;
	for (int i = 0; i < count; i++) {
		struct nvml_field_value *v = &values[i];
		const char *field =
		        v->field_id == NVML_FI_DEV_MEMORY_TEMP                ? "memory_temperature"
		        : v->field_id == NVML_FI_DEV_TOTAL_ENERGY             ? "energy_mj"
		        : v->field_id == NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX ? "nvlink_raw_tx_kib"
		        : v->field_id == NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_RX ? "nvlink_raw_rx_kib"
		                                                              : NULL;
		bool nvlink = v->field_id == NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX ||
		              v->field_id == NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_RX;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v->timestamp = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		v->latency_us = 0;
		v->nvml_return = NVML_ERROR_NOT_SUPPORTED;
		if (!field)
			continue;
		if (nvlink && v->scope_id != 0xffffffffu && lookup(d->node, field)) {
			v->nvml_return = NVML_ERROR_INVALID_ARGUMENT;
			continue;
		}
		v->nvml_return = configured_error(lookup(d->node, "errors"), "", field);
		struct fy_node *ns = lookup(d->node, "not_supported");
		void *it = NULL;
		struct fy_node *item;
		while (v->nvml_return == NVML_SUCCESS && ns &&
		       (item = fy_node_sequence_iterate(ns, &it)) != NULL)
			if (names_call(scalar(item), "", field))
				v->nvml_return = NVML_ERROR_NOT_SUPPORTED;
		if (v->nvml_return != NVML_SUCCESS)
			continue;
		unsigned long long u = 0;
		v->nvml_return = get_u64(d->node, field, &u);
		if (v->field_id == NVML_FI_DEV_MEMORY_TEMP) {
			v->value_type = NVML_VALUE_TYPE_UNSIGNED_INT;
			v->value.ui = (unsigned)u;
		} else {
			v->value_type = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
			v->value.ull = u;
		}
	}
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetPowerUsage(struct fake_device *d, unsigned *mw);
EXPORT int nvmlDeviceGetPowerUsage(struct fake_device *d, unsigned *mw)
{
	return dev_uint(d, "nvmlDeviceGetPowerUsage", "power_mw", mw);
}

EXPORT int nvmlDeviceGetTotalEnergyConsumption(struct fake_device *d, unsigned long long *mj);
EXPORT int nvmlDeviceGetTotalEnergyConsumption(struct fake_device *d, unsigned long long *mj)
{
	int rc = dev_enter(d, "nvmlDeviceGetTotalEnergyConsumption", "energy_mj");
	if (rc)
		return rc;
	if (!mj)
		return NVML_ERROR_INVALID_ARGUMENT;
	return get_u64(d->node, "energy_mj", mj);
}

struct nvml_utilization {
	unsigned gpu, memory;
};

EXPORT int nvmlDeviceGetUtilizationRates(struct fake_device *d, struct nvml_utilization *u);
EXPORT int nvmlDeviceGetUtilizationRates(struct fake_device *d, struct nvml_utilization *u)
{
	int rc = dev_enter(d, "nvmlDeviceGetUtilizationRates", "utilization");
	if (rc)
		return rc;
	if (!u)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = get_uint(d->node, "utilization.gpu", &u->gpu);
	return rc ? rc : get_uint(d->node, "utilization.memory", &u->memory);
}

/* The sampling period NVML answers with the encoder/decoder utilisation, in microseconds. */
#define FAKE_CODEC_PERIOD_US 167000

static int codec_util(struct fake_device *d, const char *fn, const char *field, unsigned *util,
                      unsigned *period)
{
	int rc = dev_enter(d, fn, field);
	if (rc)
		return rc;
	if (!util || !period)
		return NVML_ERROR_INVALID_ARGUMENT;
	rc = get_uint(d->node, field, util);
	if (rc == NVML_SUCCESS)
		*period = FAKE_CODEC_PERIOD_US;
	return rc;
}

EXPORT int nvmlDeviceGetEncoderUtilization(struct fake_device *d, unsigned *util, unsigned *period);
EXPORT int nvmlDeviceGetEncoderUtilization(struct fake_device *d, unsigned *util, unsigned *period)
{
	return codec_util(d, "nvmlDeviceGetEncoderUtilization", "utilization.encoder", util,
	                  period);
}

EXPORT int nvmlDeviceGetDecoderUtilization(struct fake_device *d, unsigned *util, unsigned *period);
EXPORT int nvmlDeviceGetDecoderUtilization(struct fake_device *d, unsigned *util, unsigned *period)
{
	return codec_util(d, "nvmlDeviceGetDecoderUtilization", "utilization.decoder", util,
	                  period);
}

static int clock_reasons(struct fake_device *d, unsigned long long *reasons)
{
	int rc = dev_enter(d, "nvmlDeviceGetCurrentClocksEventReasons", "clocks_event_reasons");
	if (rc)
		return rc;
	if (!reasons)
		return NVML_ERROR_INVALID_ARGUMENT;
	return get_u64(d->node, "clocks_event_reasons", reasons);
}

/* The older name of nvmlDeviceGetCurrentClocksEventReasons (same bits). */
EXPORT int nvmlDeviceGetCurrentClocksThrottleReasons(struct fake_device *d,
                                                     unsigned long long *reasons);
EXPORT int nvmlDeviceGetCurrentClocksThrottleReasons(struct fake_device *d,
                                                     unsigned long long *reasons)
{
	return clock_reasons(d, reasons);
}

/* ---- Events ------------------------------------------------------------------------------ */

#define NVML_EVENT_TYPE_XID 0x8ULL

/* nvmlEventSet_t points at one of these: the devices registered for Xid events. */
struct fake_event_set {
	bool xid[FAKE_MAX_DEVICES];
};

EXPORT int nvmlEventSetCreate(struct fake_event_set **set);
EXPORT int nvmlEventSetCreate(struct fake_event_set **set)
{
	int rc = sys_enter("nvmlEventSetCreate");
	if (rc)
		return rc;
	if (!set)
		return NVML_ERROR_INVALID_ARGUMENT;
	*set = calloc(1, sizeof(**set));
	return *set ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

EXPORT int nvmlDeviceRegisterEvents(struct fake_device *d, unsigned long long types,
                                    struct fake_event_set *set);
EXPORT int nvmlDeviceRegisterEvents(struct fake_device *d, unsigned long long types,
                                    struct fake_event_set *set)
{
	int rc = dev_enter(d, "nvmlDeviceRegisterEvents", "xid_events");
	if (rc)
		return rc;
	if (!set)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (types & NVML_EVENT_TYPE_XID) {
		pthread_mutex_lock(&xid_lock);
		set->xid[d->index] = true;
		pthread_mutex_unlock(&xid_lock);
	}
	return NVML_SUCCESS;
}

/* The first due Xid of a registered device: taken off the list, so each is delivered once. */
static bool take_xid(struct fake_event_set *set, unsigned *dev, unsigned long long *xid)
{
	bool found = false;
	long long now = now_ms();
	pthread_mutex_lock(&xid_lock);
	for (unsigned i = 0; i < n_xids; i++) {
		if (xids[i].at_ms > now || !set->xid[xids[i].dev])
			continue;
		*dev = xids[i].dev;
		*xid = xids[i].xid;
		memmove(&xids[i], &xids[i + 1], (n_xids - i - 1) * sizeof(xids[0]));
		n_xids--;
		found = true;
		break;
	}
	pthread_mutex_unlock(&xid_lock);
	return found;
}

/* Waits (polling every 2 ms) up to timeout_ms; TIMEOUT when nothing came. Touches only the
 * Xid list, so it may run beside the other calls. */
static int event_wait(struct fake_event_set *set, unsigned timeout_ms, struct fake_device **dev,
                      unsigned long long *type, unsigned long long *data)
{
	if (!set)
		return NVML_ERROR_INVALID_ARGUMENT;
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		unsigned i = 0;
		unsigned long long xid = 0;
		if (take_xid(set, &i, &xid)) {
			*dev = &fake_devs[i];
			*type = NVML_EVENT_TYPE_XID;
			*data = xid;
			return NVML_SUCCESS;
		}
		if (now_ms() >= deadline)
			return NVML_ERROR_TIMEOUT;
		/* the real library blocks in the kernel; polling every 25 ms keeps the fake's own
		 * cost out of the exporter's idle CPU figure */
		struct timespec ts = {0, 25 * 1000000};
		nanosleep(&ts, NULL);
	}
}

struct nvml_event_data {
	struct fake_device *device;
	unsigned long long event_type, event_data;
};

EXPORT int nvmlEventSetWait(struct fake_event_set *set, struct nvml_event_data *data,
                            unsigned timeout_ms);
EXPORT int nvmlEventSetWait(struct fake_event_set *set, struct nvml_event_data *data,
                            unsigned timeout_ms)
{
	if (!data)
		return NVML_ERROR_INVALID_ARGUMENT;
	return event_wait(set, timeout_ms, &data->device, &data->event_type, &data->event_data);
}

EXPORT int nvmlEventSetFree(struct fake_event_set *set);
EXPORT int nvmlEventSetFree(struct fake_event_set *set)
{
	if (!set)
		return NVML_ERROR_INVALID_ARGUMENT;
	free(set);
	return NVML_SUCCESS;
}

/* ---- Functions of newer drivers ---------------------------------------------------------- */
#ifndef FAKE_NVML_OLD

EXPORT int nvmlDeviceGetCurrentClocksEventReasons(struct fake_device *d,
                                                  unsigned long long *reasons);
EXPORT int nvmlDeviceGetCurrentClocksEventReasons(struct fake_device *d,
                                                  unsigned long long *reasons)
{
	return clock_reasons(d, reasons);
}

/* nvmlEventData_t of _v2 adds the MIG instance ids (0xFFFFFFFF: not a MIG instance). */
struct nvml_event_data_v2 {
	struct fake_device *device;
	unsigned long long event_type, event_data;
	unsigned gpu_instance_id, compute_instance_id;
};

EXPORT int nvmlEventSetWait_v2(struct fake_event_set *set, struct nvml_event_data_v2 *data,
                               unsigned timeout_ms);
EXPORT int nvmlEventSetWait_v2(struct fake_event_set *set, struct nvml_event_data_v2 *data,
                               unsigned timeout_ms)
{
	if (!data)
		return NVML_ERROR_INVALID_ARGUMENT;
	data->gpu_instance_id = data->compute_instance_id = 0xFFFFFFFFu;
	return event_wait(set, timeout_ms, &data->device, &data->event_type, &data->event_data);
}

EXPORT int nvmlInit_v2(void);
EXPORT int nvmlInit_v2(void)
{
	return init();
}

/* The v2/v3 layout: busId as "%08X:%02X:%02X.0" and the legacy 4-digit-domain form. */
static int pci_info(const char *bus_id, struct fy_node *dev, struct nvml_pci_info *pci)
{
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	memset(pci, 0, sizeof(*pci));
	int rc = pci_from(bus_id, dev, &pci->domain, &pci->bus, &pci->device, &pci->pci_device_id,
	                  &pci->pci_subsystem_id);
	if (rc)
		return rc;
	unsigned d, b, s, f;
	parse_busid(bus_id, &d, &b, &s, &f);
	snprintf(pci->bus_id, sizeof(pci->bus_id), "%08X:%02X:%02X.%X", d, b, s, f);
	snprintf(pci->bus_id_legacy, sizeof(pci->bus_id_legacy), "%04X:%02X:%02X.%X", d & 0xffff, b,
	         s, f);
	return NVML_SUCCESS;
}

static int device_pci(struct fake_device *d, struct nvml_pci_info *pci)
{
	int rc = dev_enter(d, "nvmlDeviceGetPciInfo", "pci_bus_id");
	return rc ? rc : pci_info(scalar(lookup(d->node, "pci_bus_id")), d->node, pci);
}

static int nvlink_remote_pci(struct fake_device *d, unsigned link, struct nvml_pci_info *pci)
{
	struct fy_node *entry = NULL;
	int rc = nvlink_active(d, "nvmlDeviceGetNvLinkRemotePciInfo", link, &entry);
	if (rc)
		return rc;
	return pci_info(scalar(lookup(entry, "remote_pci_bus_id")), NULL, pci);
}

EXPORT int nvmlSystemGetCudaDriverVersion_v2(int *v);
EXPORT int nvmlSystemGetCudaDriverVersion_v2(int *v)
{
	return cuda_driver_version(v);
}

EXPORT int nvmlDeviceGetCount_v2(unsigned *count);
EXPORT int nvmlDeviceGetCount_v2(unsigned *count)
{
	return device_count(count);
}

EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned index, struct fake_device **dev);
EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned index, struct fake_device **dev)
{
	return handle_by_index(index, dev);
}

EXPORT int nvmlDeviceGetPciInfo_v2(struct fake_device *d, struct nvml_pci_info *pci);
EXPORT int nvmlDeviceGetPciInfo_v2(struct fake_device *d, struct nvml_pci_info *pci)
{
	return device_pci(d, pci);
}

EXPORT int nvmlDeviceGetPciInfo_v3(struct fake_device *d, struct nvml_pci_info *pci);
EXPORT int nvmlDeviceGetPciInfo_v3(struct fake_device *d, struct nvml_pci_info *pci)
{
	return device_pci(d, pci);
}

/* Versioned struct: the caller sets version = sizeof | 2 << 24. */
EXPORT int nvmlDeviceGetMemoryInfo_v2(struct fake_device *d, struct nvml_memory_v2 *m);
EXPORT int nvmlDeviceGetMemoryInfo_v2(struct fake_device *d, struct nvml_memory_v2 *m)
{
	unsigned long long total = 0, used = 0, reserved = 0;
	int rc = dev_enter(d, "nvmlDeviceGetMemoryInfo", "memory_total");
	if (rc)
		return rc;
	if (!m)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (m->version != NVML_MEMORY_V2_VERSION)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	rc = memory_values(d, &total, &used, &reserved);
	if (rc)
		return rc;
	m->total = total;
	m->reserved = reserved;
	m->used = used;
	m->free = total - used - reserved;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetMigMode(struct fake_device *d, unsigned *current, unsigned *pending);
EXPORT int nvmlDeviceGetMigMode(struct fake_device *d, unsigned *current, unsigned *pending)
{
	int c = 0, p = 0;
	int rc = mode_pair(d, "nvmlDeviceGetMigMode", "mig_mode", "mig_mode_pending",
	                   current ? &c : NULL, pending ? &p : NULL);
	if (rc == NVML_SUCCESS) {
		*current = (unsigned)c;
		*pending = (unsigned)p;
	}
	return rc;
}

EXPORT int nvmlDeviceGetGpuMaxPcieLinkGeneration(struct fake_device *d, unsigned *v);
EXPORT int nvmlDeviceGetGpuMaxPcieLinkGeneration(struct fake_device *d, unsigned *v)
{
	int rc = dev_enter(d, "nvmlDeviceGetGpuMaxPcieLinkGeneration", "pcie.gen_gpu_max");
	if (rc)
		return rc;
	if (get_uint(d->node, "pcie.gen_gpu_max", v) == NVML_SUCCESS)
		return NVML_SUCCESS;
	return get_uint(d->node, "pcie.gen_max", v);
}

EXPORT int nvmlDeviceGetRemappedRows(struct fake_device *d, unsigned *corr, unsigned *unc,
                                     unsigned *pending, unsigned *failed);
EXPORT int nvmlDeviceGetRemappedRows(struct fake_device *d, unsigned *corr, unsigned *unc,
                                     unsigned *pending, unsigned *failed)
{
	bool p = false, f = false;
	int rc = dev_enter(d, "nvmlDeviceGetRemappedRows", "remapped_rows");
	if (rc)
		return rc;
	if (!corr || !unc || !pending || !failed)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!lookup(d->node, "remapped_rows"))
		return NVML_ERROR_NOT_SUPPORTED;
	*corr = *unc = 0;
	get_uint(d->node, "remapped_rows.correctable", corr);
	get_uint(d->node, "remapped_rows.uncorrectable", unc);
	get_bool(d->node, "remapped_rows.pending", &p);
	get_bool(d->node, "remapped_rows.failed", &f);
	*pending = p;
	*failed = f;
	return NVML_SUCCESS;
}

EXPORT int nvmlDeviceGetNvLinkRemotePciInfo_v2(struct fake_device *d, unsigned link,
                                               struct nvml_pci_info *pci);
EXPORT int nvmlDeviceGetNvLinkRemotePciInfo_v2(struct fake_device *d, unsigned link,
                                               struct nvml_pci_info *pci)
{
	return nvlink_remote_pci(d, link, pci);
}

EXPORT int nvmlDeviceGetNumaNodeId(struct fake_device *d, unsigned *node);
EXPORT int nvmlDeviceGetNumaNodeId(struct fake_device *d, unsigned *node)
{
	return dev_uint(d, "nvmlDeviceGetNumaNodeId", "numa_node", node);
}

#endif /* FAKE_NVML_OLD */

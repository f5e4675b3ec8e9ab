/* The exporter's snapshot: what one sample of NVML found (identity labels and values of every
 * GPU, plus the collection's own numbers), as plain data that monitor/expo.h renders without
 * touching NVML. gm_sampler keeps NVML open between samples and the GPUs' identities, so a GPU
 * that is lost keeps its labels. */
#ifndef GM_SAMPLE_H
#define GM_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>

#include "hw/nvml.h"
#include "util/err.h"

/* One GPU in a snapshot. Label values are "" where NVML could not say. */
struct gm_snap_gpu {
	unsigned index;
	bool up; /* answered this sample; when false only gpumigrate_gpu_up is rendered */
	char *uuid, *pci_bus_id, *device, *model;
	struct gm_nvml_sample s;
	/* Kubernetes: the container the GPU is assigned to (monitor/podres.h); all three NULL
	 * when it is not assigned or the kubelet is not asked. */
	char *pod, *ns, *container;
	bool xid_known;              /* registered for Xid events */
	unsigned long long last_xid; /* 0: none seen */
};

/* Xid events seen for one code on one GPU since the exporter started. */
struct gm_snap_xid {
	unsigned gpu;
	unsigned long long xid;
	unsigned long long count;
};

struct gm_snapshot {
	char *hostname;       /* label value */
	char *hostname_label; /* label name */
	char *version;        /* gpumigrate's */
	bool nvml_ok;
	char *nvml_why;       /* when !nvml_ok */
	char *driver_version; /* "" when unknown */
	struct gm_snap_gpu *gpus;
	size_t n_gpus;
	struct gm_snap_xid *xids;
	size_t n_xids;
	double duration_s;
	unsigned long long errors_total;
};

void gm_snapshot_release(struct gm_snapshot *snap);

struct gm_sampler;

/* Opens NVML (library as gm_nvml_open) and reads driver version and GPU identities. */
enum gm_rc gm_sampler_open(struct gm_sampler **out, const char *library, struct gm_err *err);
/* Accepts NULL. */
void gm_sampler_close(struct gm_sampler *smp);
struct gm_nvml *gm_sampler_nvml(struct gm_sampler *smp);
/* GPUs NVML reported at the last sample (or open). */
unsigned gm_sampler_count(const struct gm_sampler *smp);
/* Samples every GPU into snap (whose gpus and driver_version are replaced; the other fields
 * are the caller's). GM_ERR_DRIVER when NVML as a whole no longer answers (the GPU count
 * fails): the caller closes the sampler and opens it again later. A GPU whose count changed
 * gets its identities read again. */
enum gm_rc gm_sampler_take(struct gm_sampler *smp, struct gm_snapshot *snap, struct gm_err *err);

#endif

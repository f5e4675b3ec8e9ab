/* NVML into a snapshot for the exporter: identities read once (again when the GPU count
 * changes or an identity could not be read), values every sample. */
#include "monitor/sample.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct gm_sampler {
	struct gm_nvml *nvml;
	char *driver_version;
	struct gm_nvml_ident *ids;
	unsigned n;
};

static void free_ids(struct gm_sampler *smp)
{
	for (unsigned i = 0; i < smp->n; i++)
		gm_nvml_ident_release(&smp->ids[i]);
	GM_FREE(smp->ids);
	smp->n = 0;
}

static void read_ids(struct gm_sampler *smp, unsigned count)
{
	free_ids(smp);
	if (!count)
		return;
	smp->ids = gm_xcalloc(count, sizeof(*smp->ids));
	smp->n = count;
	for (unsigned i = 0; i < count; i++)
		gm_nvml_ident(smp->nvml, i, &smp->ids[i]);
}

enum gm_rc gm_sampler_open(struct gm_sampler **out, const char *library, struct gm_err *err)
{
	struct gm_sampler *smp = gm_xcalloc(1, sizeof(*smp));
	struct gm_nvidia nv;
	unsigned count = 0;
	enum gm_rc rc;
	memset(&nv, 0, sizeof(nv));
	*out = NULL;
	rc = gm_nvml_open(&smp->nvml, library, err);
	if (rc != GM_OK)
		goto out;
	gm_nvml_versions(smp->nvml, &nv);
	smp->driver_version =
	        gm_xstrdup(gm_fact_ok(&nv.driver_version.f) ? nv.driver_version.v : "");
	rc = gm_nvml_device_count(smp->nvml, &count, err);
	if (rc != GM_OK)
		goto out;
	read_ids(smp, count);
	*out = smp;
	smp = NULL;
out:
	gm_fstr_release(&nv.driver_version);
	gm_fstr_release(&nv.nvml_version);
	gm_fint_release(&nv.cuda_driver_version);
	gm_sampler_close(smp);
	return rc;
}

void gm_sampler_close(struct gm_sampler *smp)
{
	if (!smp)
		return;
	free_ids(smp);
	gm_nvml_close(smp->nvml);
	free(smp->driver_version);
	free(smp);
}

struct gm_nvml *gm_sampler_nvml(struct gm_sampler *smp)
{
	return smp->nvml;
}

unsigned gm_sampler_count(const struct gm_sampler *smp)
{
	return smp->n;
}

static char *label_of(const struct gm_fstr *f)
{
	return gm_xstrdup(gm_fact_ok(&f->f) && f->v ? f->v : "");
}

static void free_gpus(struct gm_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_gpus; i++) {
		struct gm_snap_gpu *g = &snap->gpus[i];
		free(g->uuid);
		free(g->pci_bus_id);
		free(g->device);
		free(g->model);
		free(g->pod);
		free(g->ns);
		free(g->container);
		gm_nvml_sample_release(&g->s);
	}
	GM_FREE(snap->gpus);
	snap->n_gpus = 0;
}

enum gm_rc gm_sampler_take(struct gm_sampler *smp, struct gm_snapshot *snap, struct gm_err *err)
{
	unsigned count = 0;
	free_gpus(snap);
	free(snap->driver_version);
	snap->driver_version = gm_xstrdup(smp->driver_version);
	enum gm_rc rc = gm_nvml_device_count(smp->nvml, &count, err);
	if (rc != GM_OK)
		return rc;
	if (count != smp->n)
		read_ids(smp, count);
	if (!count)
		return GM_OK;
	snap->gpus = gm_xcalloc(count, sizeof(*snap->gpus));
	snap->n_gpus = count;
	for (unsigned i = 0; i < count; i++) {
		struct gm_snap_gpu *g = &snap->gpus[i];
		struct gm_nvml_ident *id = &smp->ids[i];
		g->index = i;
		gm_nvml_sample(smp->nvml, i, &g->s);
		g->up = !g->s.lost;
		/* An identity that could not be read (GPU lost at start) is tried again once the
		 * GPU answers. */
		if (g->up && (!gm_fact_ok(&id->uuid.f) || !gm_fact_ok(&id->bus_id.f))) {
			gm_nvml_ident_release(id);
			memset(id, 0, sizeof(*id));
			gm_nvml_ident(smp->nvml, i, id);
		}
		g->uuid = label_of(&id->uuid);
		g->pci_bus_id = label_of(&id->bus_id);
		g->model = label_of(&id->name);
		struct gm_buf dev = GM_BUF_INIT;
		if (gm_fact_ok(&id->minor.f))
			gm_buf_addf(&dev, "nvidia%lld", (long long)id->minor.v);
		g->device = gm_buf_detach(&dev);
	}
	return GM_OK;
}

void gm_snapshot_release(struct gm_snapshot *snap)
{
	if (!snap)
		return;
	free_gpus(snap);
	GM_FREE(snap->xids);
	snap->n_xids = 0;
	GM_FREE(snap->hostname);
	GM_FREE(snap->hostname_label);
	GM_FREE(snap->version);
	GM_FREE(snap->nvml_why);
	GM_FREE(snap->driver_version);
}

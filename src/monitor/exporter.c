/* The exporter's threads: a sampling thread that takes a snapshot of NVML every interval and
 * renders both formats into fresh buffers swapped in under a lock, and an Xid thread that
 * waits on the NVML event API and counts what comes. A scrape only copies text. */
#include "monitor/exporter.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/expo.h"
#include "monitor/podres.h"
#include "monitor/sample.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef GM_VERSION
#define GM_VERSION "unknown"
#endif

/* How long one event wait may block: the Xid thread notices a stop within this. */
#define XID_WAIT_MS 100

struct gm_exporter {
	char *library, *hostname, *hostname_label;
	unsigned interval_ms;
	struct gm_podres_watch *podres; /* NULL: no pod labels */

	pthread_mutex_t lock; /* text, om, healthy, stopping */
	pthread_cond_t wake;
	struct gm_buf text, om;
	bool healthy, stopping;
	pthread_t sampler;
	bool sampler_running;

	/* Sampling thread only (or start/stop while it does not run). */
	struct gm_sampler *smp;
	struct gm_nvml_events *ev;
	unsigned long long errors_total;
	char *nvml_why;

	/* The Xid thread and what it found. */
	pthread_t xid_thread;
	bool xid_running;
	pthread_mutex_t xid_lock; /* below */
	bool xid_stop;
	struct gm_snap_xid *xids;
	size_t n_xids;
	unsigned long long *last_xid; /* by GPU index */
	bool *xid_known;
	unsigned n_last;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void xid_record(struct gm_exporter *ex, unsigned gpu, unsigned long long xid)
{
	pthread_mutex_lock(&ex->xid_lock);
	size_t i = 0;
	while (i < ex->n_xids && !(ex->xids[i].gpu == gpu && ex->xids[i].xid == xid))
		i++;
	if (i == ex->n_xids) {
		ex->xids = gm_xreallocarray(ex->xids, ex->n_xids + 1, sizeof(*ex->xids));
		ex->xids[ex->n_xids++] = (struct gm_snap_xid){gpu, xid, 0};
	}
	ex->xids[i].count++;
	if (gpu < ex->n_last)
		ex->last_xid[gpu] = xid;
	pthread_mutex_unlock(&ex->xid_lock);
}

static void *xid_main(void *arg)
{
	struct gm_exporter *ex = arg;
	struct gm_err err = GM_ERR_INIT;
	for (;;) {
		pthread_mutex_lock(&ex->xid_lock);
		bool stop = ex->xid_stop;
		pthread_mutex_unlock(&ex->xid_lock);
		if (stop)
			break;
		unsigned gpu = 0;
		unsigned long long xid = 0;
		enum gm_rc rc = gm_nvml_events_wait(ex->ev, XID_WAIT_MS, &gpu, &xid, &err);
		if (rc == GM_OK) {
			gm_debug("GPU %u: Xid %llu", gpu, xid);
			xid_record(ex, gpu, xid);
		} else if (rc != GM_ERR_NOT_FOUND) {
			/* The sampler notices a driver that went away; do not spin meanwhile. */
			gm_debug("%s", gm_err_msg(&err));
			struct timespec ts = {0, XID_WAIT_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	gm_err_release(&err);
	return NULL;
}

/* Stops the Xid thread and closes NVML. */
static void nvml_down(struct gm_exporter *ex)
{
	if (ex->xid_running) {
		pthread_mutex_lock(&ex->xid_lock);
		ex->xid_stop = true;
		pthread_mutex_unlock(&ex->xid_lock);
		pthread_join(ex->xid_thread, NULL);
		ex->xid_running = false;
	}
	gm_nvml_events_close(ex->ev);
	ex->ev = NULL;
	gm_sampler_close(ex->smp);
	ex->smp = NULL;
}

/* Opens NVML and starts the Xid thread where the driver has events. */
static enum gm_rc nvml_up(struct gm_exporter *ex, struct gm_err *err)
{
	enum gm_rc rc = gm_sampler_open(&ex->smp, ex->library, err);
	if (rc != GM_OK)
		return rc;
	unsigned n = gm_sampler_count(ex->smp);
	struct gm_err everr = GM_ERR_INIT;
	pthread_mutex_lock(&ex->xid_lock);
	if (n > ex->n_last) {
		ex->last_xid = gm_xreallocarray(ex->last_xid, n, sizeof(*ex->last_xid));
		ex->xid_known = gm_xreallocarray(ex->xid_known, n, sizeof(*ex->xid_known));
		for (unsigned i = ex->n_last; i < n; i++)
			ex->last_xid[i] = 0;
		ex->n_last = n;
	}
	for (unsigned i = 0; i < ex->n_last; i++)
		ex->xid_known[i] = false;
	ex->xid_stop = false;
	pthread_mutex_unlock(&ex->xid_lock);
	if (gm_nvml_events_open(gm_sampler_nvml(ex->smp), n, &ex->ev, &everr) != GM_OK) {
		gm_debug("no Xid events: %s", gm_err_msg(&everr));
	} else if (pthread_create(&ex->xid_thread, NULL, xid_main, ex) != 0) {
		gm_warn("cannot start the Xid event thread: %s", strerror(errno));
		gm_nvml_events_close(ex->ev);
		ex->ev = NULL;
	} else {
		ex->xid_running = true;
		pthread_mutex_lock(&ex->xid_lock);
		for (unsigned i = 0; i < n; i++)
			ex->xid_known[i] = true;
		pthread_mutex_unlock(&ex->xid_lock);
	}
	gm_err_release(&everr);
	return GM_OK;
}

/* One sample, rendered and swapped in. */
static void collect(struct gm_exporter *ex)
{
	struct gm_snapshot snap;
	struct gm_err err = GM_ERR_INIT;
	memset(&snap, 0, sizeof(snap));
	double t0 = now_s();
	enum gm_rc rc = GM_OK;
	if (!ex->smp)
		rc = nvml_up(ex, &err);
	if (rc == GM_OK) {
		rc = gm_sampler_take(ex->smp, &snap, &err);
		if (rc != GM_OK) {
			/* NVML as a whole stopped answering: start over next interval. */
			gm_warn("NVML stopped answering (%s); trying again every interval",
			        gm_err_msg(&err));
			nvml_down(ex);
		}
	}
	if (rc != GM_OK) {
		ex->errors_total++;
		free(ex->nvml_why);
		ex->nvml_why = gm_xstrdup(gm_err_msg(&err));
		gm_snapshot_release(&snap);
		memset(&snap, 0, sizeof(snap));
	}
	snap.duration_s = now_s() - t0;
	snap.nvml_ok = rc == GM_OK;
	snap.nvml_why = rc == GM_OK ? NULL : gm_xstrdup(ex->nvml_why);
	snap.hostname = gm_xstrdup(ex->hostname);
	snap.hostname_label = gm_xstrdup(ex->hostname_label);
	snap.version = gm_xstrdup(GM_VERSION);
	if (!snap.driver_version)
		snap.driver_version = gm_xstrdup("");
	snap.errors_total = ex->errors_total;

	pthread_mutex_lock(&ex->xid_lock);
	if (ex->n_xids) {
		snap.xids = gm_xreallocarray(NULL, ex->n_xids, sizeof(*snap.xids));
		memcpy(snap.xids, ex->xids, ex->n_xids * sizeof(*snap.xids));
		snap.n_xids = ex->n_xids;
	}
	for (size_t i = 0; i < snap.n_gpus; i++) {
		unsigned idx = snap.gpus[i].index;
		if (idx < ex->n_last) {
			snap.gpus[i].xid_known = ex->xid_known[idx];
			snap.gpus[i].last_xid = ex->last_xid[idx];
		}
	}
	pthread_mutex_unlock(&ex->xid_lock);

	/* pod labels from the cache: never waits on the kubelet */
	for (size_t i = 0; ex->podres && i < snap.n_gpus; i++) {
		struct gm_snap_gpu *g = &snap.gpus[i];
		gm_podres_watch_lookup(ex->podres, g->uuid, &g->pod, &g->ns, &g->container);
	}

	struct gm_buf text = GM_BUF_INIT, om = GM_BUF_INIT;
	gm_expo_render(&snap, false, &text);
	gm_expo_render(&snap, true, &om);
	pthread_mutex_lock(&ex->lock);
	struct gm_buf old_text = ex->text, old_om = ex->om;
	ex->text = text;
	ex->om = om;
	ex->healthy = rc == GM_OK;
	pthread_mutex_unlock(&ex->lock);
	gm_buf_release(&old_text);
	gm_buf_release(&old_om);
	gm_snapshot_release(&snap);
	gm_err_release(&err);
}

static void *sampler_main(void *arg)
{
	struct gm_exporter *ex = arg;
	pthread_mutex_lock(&ex->lock);
	for (;;) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += ex->interval_ms / 1000;
		until.tv_nsec += (long)(ex->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!ex->stopping) {
			int rc = pthread_cond_timedwait(&ex->wake, &ex->lock, &until);
			if (rc == ETIMEDOUT)
				break;
		}
		if (ex->stopping)
			break;
		pthread_mutex_unlock(&ex->lock);
		collect(ex);
		pthread_mutex_lock(&ex->lock);
	}
	pthread_mutex_unlock(&ex->lock);
	return NULL;
}

static void exporter_free(struct gm_exporter *ex)
{
	nvml_down(ex);
	gm_podres_watch_stop(ex->podres);
	pthread_cond_destroy(&ex->wake);
	pthread_mutex_destroy(&ex->lock);
	pthread_mutex_destroy(&ex->xid_lock);
	gm_buf_release(&ex->text);
	gm_buf_release(&ex->om);
	free(ex->xids);
	free(ex->last_xid);
	free(ex->xid_known);
	free(ex->nvml_why);
	free(ex->library);
	free(ex->hostname);
	free(ex->hostname_label);
	free(ex);
}

enum gm_rc gm_exporter_start(struct gm_exporter **out, const struct gm_exporter_opts *opts,
                             struct gm_err *err)
{
	struct gm_exporter *ex = gm_xcalloc(1, sizeof(*ex));
	pthread_condattr_t ca;
	*out = NULL;
	ex->library = opts->nvml_library ? gm_xstrdup(opts->nvml_library) : NULL;
	ex->interval_ms = opts->interval_ms < 100 ? 100 : opts->interval_ms;
	ex->hostname_label = gm_xstrdup(
	        opts->hostname_label && *opts->hostname_label ? opts->hostname_label : "Hostname");
	if (opts->hostname) {
		ex->hostname = gm_xstrdup(opts->hostname);
	} else {
		char host[256] = {0};
		if (gethostname(host, sizeof(host) - 1) != 0)
			host[0] = '\0';
		ex->hostname = gm_xstrdup(host);
	}
	pthread_mutex_init(&ex->lock, NULL);
	pthread_mutex_init(&ex->xid_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ex->wake, &ca);
	pthread_condattr_destroy(&ca);

	if (opts->pod_resources) {
		enum gm_rc prc = gm_podres_watch_start(&ex->podres, opts->pod_resources,
		                                       opts->pod_resources_interval_ms, err);
		if (prc != GM_OK) {
			exporter_free(ex);
			return prc;
		}
	}

	collect(ex);

	int rc = pthread_create(&ex->sampler, NULL, sampler_main, ex);
	if (rc != 0) {
		exporter_free(ex);
		return gm_err_set(err, GM_ERR_INTERNAL, "cannot start the sampling thread: %s",
		                  strerror(rc));
	}
	ex->sampler_running = true;
	*out = ex;
	return GM_OK;
}

void gm_exporter_stop(struct gm_exporter *ex)
{
	if (!ex)
		return;
	if (ex->sampler_running) {
		pthread_mutex_lock(&ex->lock);
		ex->stopping = true;
		pthread_cond_broadcast(&ex->wake);
		pthread_mutex_unlock(&ex->lock);
		pthread_join(ex->sampler, NULL);
	}
	exporter_free(ex);
}

void gm_exporter_render(struct gm_exporter *ex, bool openmetrics, struct gm_buf *out)
{
	pthread_mutex_lock(&ex->lock);
	const struct gm_buf *b = openmetrics ? &ex->om : &ex->text;
	gm_buf_add(out, b->data ? b->data : "", b->len);
	pthread_mutex_unlock(&ex->lock);
}

bool gm_exporter_healthy(struct gm_exporter *ex)
{
	pthread_mutex_lock(&ex->lock);
	bool ok = ex->healthy;
	pthread_mutex_unlock(&ex->lock);
	return ok;
}

/* The assessment engine: capacity per workload, TCO, readiness of the target hosts, data
 * transfer time, the verdict against the plan's thresholds, and the migration checklist.
 * JSON and HTML rendering live in assess_report.c. */
#include "assess/assess.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "assess/cuda_compat.h"
#include "assess/evidence.h"
#include "assess/xid.h"
#include "hw/inventory.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *const phase_names[GM_PHASE_N] = {
        "prepare", "move data", "move workloads", "validate", "cut over", "rollback point",
};

const char *gm_assess_phase_name(enum gm_assess_phase p)
{
	return (unsigned)p < GM_PHASE_N ? phase_names[p] : "?";
}

const char *gm_assess_verdict_name(enum gm_assess_verdict v)
{
	switch (v) {
	case GM_VERDICT_GO: return "go";
	case GM_VERDICT_REVIEW: return "review";
	case GM_VERDICT_NO_GO: return "no-go";
	}
	return "?";
}

void gm_assess_init(struct gm_assess *a)
{
	memset(a, 0, sizeof(*a));
	gm_tco_inputs_init(&a->tco_in);
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void gm_assess_release(struct gm_assess *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_caps; i++) {
		struct gm_assess_capacity *c = &a->caps[i];
		gm_compare_result_release(&c->cmp);
		gm_side_release(&c->src);
		gm_side_release(&c->tgt);
		free(c->workload);
	}
	free(a->caps);
	gm_buf_release(&a->tco_why);
	gm_tco_inputs_release(&a->tco_in);
	for (size_t i = 0; i < a->n_ready; i++)
		gm_check_report_release(&a->ready[i]);
	free(a->ready);
	gm_buf_release(&a->ready_why);
	free(a->datasets);
	for (size_t i = 0; i < a->n_steps; i++) {
		free(a->steps[i].what);
		free(a->steps[i].command);
	}
	free(a->steps);
	free_strings(a->findings, a->n_findings);
	free_strings(a->warnings, a->n_warnings);
	gm_assess_init(a);
}

__attribute__((format(printf, 3, 4))) static void add_line(char ***v, size_t *n, const char *fmt,
                                                           ...)
{
	struct gm_buf b = GM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	*v = gm_xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = gm_buf_detach(&b);
}

#define finding(a, ...) add_line(&(a)->findings, &(a)->n_findings, __VA_ARGS__)
#define warning(a, ...) add_line(&(a)->warnings, &(a)->n_warnings, __VA_ARGS__)

static void raise_verdict(struct gm_assess *a, enum gm_assess_verdict v)
{
	if (v > a->verdict)
		a->verdict = v;
}

/* ---- capacity ---------------------------------------------------------------------------- */

/* The target side of one server entry: "Nxgpu:MODEL", or its first inventory file. */
static enum gm_rc resolve_target(const struct gm_plan *plan, const struct gm_plan_server *s,
                                 const struct gm_catalog *cat, struct gm_side *side, int *gpus,
                                 struct gm_err *err)
{
	struct gm_buf spec = GM_BUF_INIT;
	enum gm_rc rc;
	int servers = s->count.set ? (int)s->count.v : (int)s->inventories.n;
	if (s->gpu.v) {
		int per = s->gpus_per_server.set ? (int)s->gpus_per_server.v : 1;
		gm_buf_addf(&spec, "%dxgpu:%s", per, s->gpu.v);
	} else if (s->inventories.n) {
		gm_plan_path(plan, s->inventories.v[0], &spec);
	} else {
		rc = gm_err_set(err, GM_ERR_USAGE,
		                "%s: a target server needs 'gpu' or 'inventories'",
		                s->src ? s->src : "plan");
		goto out;
	}
	rc = gm_side_resolve(side, cat, gm_buf_cstr(&spec), err);
	if (rc != GM_OK && s->gpu.src)
		gm_buf_addf(&err->msg, " (%s)", s->gpu.src);
	*gpus = servers * side->gpu_count;
out:
	gm_buf_release(&spec);
	return rc;
}

/* The source side: the whole fleet of one instance type. */
static enum gm_rc resolve_source(const struct gm_plan_instance *in, const struct gm_catalog *cat,
                                 struct gm_side *side, struct gm_err *err)
{
	enum gm_rc rc = gm_side_resolve(side, cat, in->type.v ? in->type.v : "", err);
	if (rc != GM_OK) {
		if (in->type.src)
			gm_buf_addf(&err->msg, " (%s)", in->type.src);
		return rc;
	}
	int count = in->count.set ? (int)in->count.v : 1;
	if (count > 1) {
		struct gm_buf t = GM_BUF_INIT;
		gm_buf_addf(&t, "%d x %s", count, side->title);
		free(side->title);
		side->title = gm_buf_detach(&t);
		side->gpu_count *= count;
		side->server = false; /* a fleet, not one machine */
	}
	return GM_OK;
}

static void compare_opts_for(const struct gm_plan *plan, const struct gm_plan_workload *w,
                             struct gm_compare_opts *o)
{
	gm_compare_opts_init(o);
	const char *cuda = plan->check_require_cuda.v;
	if (w && w->model_params.set)
		o->model_params = w->model_params.v;
	if (w && w->precision.v && gm_precision_parse(w->precision.v, &o->precision))
		o->precision_set = true;
	if (w && w->require_cuda.v)
		cuda = w->require_cuda.v;
	if (cuda && gm_cuda_version_parse(cuda, &o->cuda_major, &o->cuda_minor))
		o->require_cuda = true;
}

static enum gm_rc assess_capacity(struct gm_assess *a, struct gm_err *err)
{
	const struct gm_plan *plan = a->plan;
	size_t n_work = plan->n_workloads ? plan->n_workloads : 1;
	size_t total = n_work * plan->n_instances * plan->n_servers;
	a->caps = gm_xcalloc(total ? total : 1, sizeof(*a->caps));
	for (size_t w = 0; w < n_work; w++) {
		const struct gm_plan_workload *wl = plan->n_workloads ? &plan->workloads[w] : NULL;
		for (size_t i = 0; i < plan->n_instances; i++) {
			for (size_t s = 0; s < plan->n_servers; s++) {
				struct gm_assess_capacity *c = &a->caps[a->n_caps++];
				struct gm_compare_opts opts;
				gm_side_init(&c->src);
				gm_side_init(&c->tgt);
				gm_compare_result_init(&c->cmp);
				c->workload = gm_xstrdup(wl && wl->name.v ? wl->name.v : "fleet");
				c->kind = wl ? wl->kind.v : NULL;
				enum gm_rc rc =
				        resolve_source(&plan->instances[i], a->cat, &c->src, err);
				if (rc == GM_OK)
					rc = resolve_target(plan, &plan->servers[s], a->cat,
					                    &c->tgt, &c->planned_target_gpus, err);
				if (rc != GM_OK)
					return rc;
				compare_opts_for(plan, wl, &opts);
				gm_compare_run(&c->src, &c->tgt, &opts, &c->cmp);
				for (size_t p = 0; p < c->cmp.n_profiles && p < 3; p++) {
					struct gm_num need = c->cmp.profiles[p].gpus_needed;
					c->coverage[p] =
					        need.known && need.v > 0
					                ? GM_NUM(c->planned_target_gpus / need.v)
					                : GM_NUM_UNKNOWN;
				}
			}
		}
	}
	return GM_OK;
}

/* A training workload is held to the training and capacity profiles, an inference one to the
 * inference and capacity profiles; one without a kind to all. */
static bool profile_applies(const char *kind, enum gm_profile_kind profile)
{
	if (!kind || profile == GM_PROFILE_CAPACITY)
		return true;
	if (strcmp(kind, "training") == 0)
		return profile == GM_PROFILE_TRAINING;
	return profile == GM_PROFILE_INFERENCE;
}

static void judge_capacity(struct gm_assess *a)
{
	double min_ratio = a->plan->min_capacity_ratio.set ? a->plan->min_capacity_ratio.v : 1.0;
	for (size_t i = 0; i < a->n_caps; i++) {
		const struct gm_assess_capacity *c = &a->caps[i];
		for (size_t w = 0; w < c->cmp.n_warnings; w++) {
			if (!c->cmp.warnings[w].blocker)
				continue;
			finding(a, "%s: %s", c->workload, c->cmp.warnings[w].msg);
			raise_verdict(a, GM_VERDICT_NO_GO);
		}
		for (size_t p = 0; p < c->cmp.n_profiles && p < 3; p++) {
			const struct gm_compare_profile *prof = &c->cmp.profiles[p];
			if (!profile_applies(c->kind, prof->kind))
				continue;
			if (!c->coverage[p].known) {
				finding(a, "%s: %s capacity unknown (%s)", c->workload, prof->name,
				        prof->why ? prof->why : "a figure is missing");
				raise_verdict(a, GM_VERDICT_REVIEW);
			} else if (c->coverage[p].v + 1e-9 < min_ratio) {
				finding(a,
				        "%s: the planned %d target GPUs cover %.2f of the %s "
				        "capacity "
				        "(%.0f GPUs needed; threshold %.2f)",
				        c->workload, c->planned_target_gpus, c->coverage[p].v,
				        prof->name, prof->gpus_needed.v, min_ratio);
				raise_verdict(a, GM_VERDICT_REVIEW);
			}
		}
	}
}

/* ---- cost -------------------------------------------------------------------------------- */

static void assess_tco(struct gm_assess *a)
{
	struct gm_err err = GM_ERR_INIT;
	if (a->plan->n_instances == 0 || a->plan->n_servers == 0) {
		gm_buf_adds(&a->tco_why, "the plan needs source.instances and target.servers");
	} else if (gm_plan_tco_inputs(a->plan, a->cat, &a->tco_in, &err) != GM_OK ||
	           gm_tco_compute(&a->tco_in, &a->tco, &err) != GM_OK) {
		gm_buf_adds(&a->tco_why, gm_err_msg(&err));
	} else {
		a->tco_ok = true;
	}
	gm_err_release(&err);
	if (!a->tco_ok) {
		finding(a, "no cost comparison: %s", gm_buf_cstr(&a->tco_why));
		raise_verdict(a, GM_VERDICT_REVIEW);
		return;
	}
	for (int k = 0; k < GM_TCO_N_INPUTS; k++)
		if (a->tco_in.in[k].missing)
			warning(a, "cost input '%s' has no figure anywhere and counts as 0 (%s)",
			        gm_tco_fields[k].key,
			        a->tco_in.in[k].src ? a->tco_in.in[k].src : "");
	int month = a->tco.breakeven_month[a->tco.reference];
	const char *commit = gm_tco_commitment_name(a->tco.reference);
	if (month < 0) {
		finding(a, "on-prem does not break even against %s cloud prices within %d years",
		        commit, a->tco.years);
		raise_verdict(a, GM_VERDICT_REVIEW);
	} else if (a->plan->max_breakeven_months.set && month > a->plan->max_breakeven_months.v) {
		finding(a, "break-even after %d months against %s prices; the plan allows %.0f",
		        month, commit, a->plan->max_breakeven_months.v);
		raise_verdict(a, GM_VERDICT_REVIEW);
	}
}

static void price_age_warnings(struct gm_assess *a)
{
	for (size_t i = 0; i < a->plan->n_instances; i++) {
		const struct gm_plan_instance *pi = &a->plan->instances[i];
		const struct gm_instance *inst =
		        pi->type.v ? gm_catalog_find_instance(a->cat, pi->type.v) : NULL;
		const struct gm_price *price = inst ? gm_instance_price(inst, pi->region.v) : NULL;
		if (!price)
			continue;
		long age = gm_catalog_price_age_days(price->date, a->now);
		if (age > GM_CATALOG_PRICE_MAX_AGE_DAYS)
			warning(a,
			        "the price of %s in %s is %ld days old (%s, %s): check the current "
			        "price and pass it with --catalog or the plan",
			        inst->id, price->region, age, price->date, price->source);
	}
}

/* ---- readiness --------------------------------------------------------------------------- */

struct check_tables {
	struct gm_cuda_table cuda;
	struct gm_xid_catalog xid;
	bool cuda_ok, xid_ok;
};

static void check_host(struct gm_assess *a, const struct check_tables *t,
                       const struct gm_inventory *inv, const struct gm_evidence *ev,
                       const struct gm_plan_server *server, const char *source)
{
	struct gm_check_ctx ctx = {0};
	ctx.inv = inv;
	ctx.ev = ev;
	ctx.profile = GM_PROFILE_K8S;
	if (a->plan->check_profile.v)
		gm_check_profile_parse(a->plan->check_profile.v, &ctx.profile);
	ctx.req.cuda = a->plan->check_require_cuda.v;
	if (server && server->gpus_per_server.set)
		ctx.req.gpus = (int64_t)server->gpus_per_server.v;
	if (server && server->gpu.v) {
		const struct gm_gpu_spec *spec = gm_catalog_find_gpu(a->cat, server->gpu.v);
		ctx.req.gpu_model = spec ? gm_catalog_nvml_name(spec) : server->gpu.v;
	}
	ctx.cuda = t->cuda_ok ? &t->cuda : NULL;
	ctx.xid = t->xid_ok ? &t->xid : NULL;
	a->ready = gm_xreallocarray(a->ready, a->n_ready + 1, sizeof(*a->ready));
	struct gm_check_report *r = &a->ready[a->n_ready++];
	gm_check_run(&ctx, NULL, source, r);
	if (r->count[GM_CHECK_FAIL]) {
		finding(a, "target host '%s' fails %zu readiness check%s (see the readiness table)",
		        r->host, r->count[GM_CHECK_FAIL], r->count[GM_CHECK_FAIL] == 1 ? "" : "s");
		raise_verdict(a, GM_VERDICT_REVIEW);
	}
}

static enum gm_rc assess_readiness(struct gm_assess *a, const struct gm_assess_opts *opts,
                                   struct gm_err *err)
{
	struct check_tables t;
	struct gm_err ignored = GM_ERR_INIT;
	enum gm_rc rc = GM_OK;
	memset(&t, 0, sizeof(t));
	t.cuda_ok = gm_cuda_table_load_embedded(&t.cuda, &ignored) == GM_OK;
	t.xid_ok = gm_xid_catalog_load_embedded(&t.xid, &ignored) == GM_OK;
	gm_err_release(&ignored);

	struct gm_buf path = GM_BUF_INIT;
	for (size_t s = 0; s < a->plan->n_servers && rc == GM_OK; s++) {
		const struct gm_plan_server *server = &a->plan->servers[s];
		for (size_t i = 0; i < server->inventories.n && rc == GM_OK; i++) {
			struct gm_inventory inv;
			gm_inventory_init(&inv);
			gm_plan_path(a->plan, server->inventories.v[i], &path);
			rc = gm_inventory_load(&inv, gm_buf_cstr(&path), err);
			if (rc == GM_OK)
				check_host(a, &t, &inv, NULL, server, gm_buf_cstr(&path));
			gm_inventory_release(&inv);
		}
	}
	if (rc == GM_OK && opts->check_local) {
		struct gm_inventory inv;
		struct gm_evidence ev;
		struct gm_inventory_opts iopts = {opts->local_root, opts->nvml_library, false};
		gm_inventory_init(&inv);
		gm_evidence_init(&ev);
		rc = gm_inventory_collect(&inv, &iopts, err);
		if (rc == GM_OK) {
			gm_evidence_collect(&ev, &iopts.root);
			check_host(a, &t, &inv, &ev,
			           a->plan->n_servers ? &a->plan->servers[0] : NULL, "local");
		}
		gm_evidence_release(&ev);
		gm_inventory_release(&inv);
	}
	if (rc == GM_OK && a->n_ready == 0)
		gm_buf_adds(&a->ready_why,
		            "no target inventories in the plan (target.servers[].inventories) and "
		            "target.check.local is off: run 'gpumigrate inventory -o FILE' on each "
		            "server and list the files");
	gm_buf_release(&path);
	if (t.cuda_ok)
		gm_cuda_table_release(&t.cuda);
	if (t.xid_ok)
		gm_xid_catalog_release(&t.xid);
	return rc;
}

/* ---- data -------------------------------------------------------------------------------- */

static void assess_data(struct gm_assess *a)
{
	const struct gm_plan *plan = a->plan;
	bool all_known = true;
	a->datasets = gm_xcalloc(plan->n_datasets ? plan->n_datasets : 1, sizeof(*a->datasets));
	a->n_datasets = plan->n_datasets;
	double rate =
	        plan->bandwidth_bps.set ? plan->bandwidth_bps.v * GM_ASSESS_LINK_EFFICIENCY : 0;
	for (size_t i = 0; i < plan->n_datasets; i++) {
		struct gm_assess_dataset *d = &a->datasets[i];
		const struct gm_plan_dataset *pd = &plan->datasets[i];
		d->name = pd->name.v ? pd->name.v : "dataset";
		d->source = pd->source.v ? pd->source.v : "";
		d->size_known = pd->size_bytes.set;
		d->bytes = pd->size_bytes.set ? pd->size_bytes.v : 0;
		d->hours = d->size_known && rate > 0 ? GM_NUM(d->bytes * 8 / rate / 3600)
		                                     : GM_NUM_UNKNOWN;
		a->data_bytes += d->bytes;
		all_known = all_known && d->size_known;
	}
	a->data_hours = all_known && rate > 0 && plan->n_datasets
	                        ? GM_NUM(a->data_bytes * 8 / rate / 3600)
	                        : GM_NUM_UNKNOWN;
	if (plan->n_datasets && rate <= 0)
		warning(a,
		        "no network bandwidth in the plan (network.bandwidth): the data transfer "
		        "time is not estimated");
	else if (plan->n_datasets && !all_known)
		warning(a, "some datasets have no size: the transfer time covers only the others");
}

/* ---- checklist --------------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static void
step(struct gm_assess *a, enum gm_assess_phase phase, const char *what, const char *fmt, ...)
{
	a->steps = gm_xreallocarray(a->steps, a->n_steps + 1, sizeof(*a->steps));
	struct gm_assess_step *s = &a->steps[a->n_steps++];
	s->phase = phase;
	s->what = gm_xstrdup(what);
	s->command = NULL;
	if (fmt) {
		struct gm_buf b = GM_BUF_INIT;
		va_list ap;
		va_start(ap, fmt);
		gm_buf_vaddf(&b, fmt, ap);
		va_end(ap);
		s->command = gm_buf_detach(&b);
	}
}

/* A shell word: quoted when it has anything but safe characters. */
static const char *shq(const char *s, struct gm_buf *tmp)
{
	gm_buf_reset(tmp);
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                    "-_./:@=+,%") == strlen(s)) {
		gm_buf_adds(tmp, s);
		return gm_buf_cstr(tmp);
	}
	gm_buf_addch(tmp, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			gm_buf_adds(tmp, "'\\''");
		else
			gm_buf_addch(tmp, *s);
	}
	gm_buf_addch(tmp, '\'');
	return gm_buf_cstr(tmp);
}

static void build_checklist(struct gm_assess *a)
{
	const struct gm_plan *plan = a->plan;
	const char *profile = plan->check_profile.v ? plan->check_profile.v : "k8s";
	const char *plan_path = plan->path ? plan->path : "plan.yaml";
	struct gm_buf q = GM_BUF_INIT, q2 = GM_BUF_INIT, req = GM_BUF_INIT;
	if (plan->check_require_cuda.v)
		gm_buf_addf(&req, " --require-cuda %s", shq(plan->check_require_cuda.v, &q));

	step(a, GM_PHASE_PREPARE, "record the cloud source hosts (on each cloud VM)",
	     "gpumigrate inventory -o cloud-$(hostname).json");
	step(a, GM_PHASE_PREPARE, "record each new server (on each on-prem server)",
	     "gpumigrate inventory -o $(hostname).json");
	step(a, GM_PHASE_PREPARE, "check each new server: driver, CUDA, IOMMU, PCIe, NUMA, runtime",
	     "gpumigrate check --profile %s%s --junit check-$(hostname).xml", profile,
	     gm_buf_cstr(&req));
	step(a, GM_PHASE_PREPARE, "compare the GPU/NIC topology with the cloud's",
	     "gpumigrate topo");
	step(a, GM_PHASE_PREPARE, "re-run this assessment with the servers' inventories",
	     "gpumigrate assess -p %s", shq(plan_path, &q));

	for (size_t i = 0; i < plan->n_datasets; i++) {
		const struct gm_plan_dataset *d = &plan->datasets[i];
		const char *name = d->name.v ? d->name.v : "data";
		struct gm_buf dest = GM_BUF_INIT, what = GM_BUF_INIT;
		gm_buf_addf(&dest, "/data/%s/", name);
		gm_buf_addf(&what,
		            "copy dataset '%s' (resumable, verified, with an audit manifest)",
		            name);
		step(a, GM_PHASE_MOVE_DATA, gm_buf_cstr(&what),
		     "gpumigrate sync %s %s --manifest %s.manifest.jsonl",
		     shq(d->source.v ? d->source.v : "SOURCE", &q), gm_buf_cstr(&dest),
		     shq(name, &q2));
		gm_buf_reset(&what);
		gm_buf_addf(&what, "verify dataset '%s' against its manifest", name);
		step(a, GM_PHASE_MOVE_DATA, gm_buf_cstr(&what),
		     "gpumigrate verify --manifest %s.manifest.jsonl %s", shq(name, &q),
		     gm_buf_cstr(&dest));
		gm_buf_release(&dest);
		gm_buf_release(&what);
	}

	struct gm_buf manifests = GM_BUF_INIT;
	for (size_t w = 0; w < plan->n_workloads; w++)
		for (size_t m = 0; m < plan->workloads[w].manifests.n; m++)
			gm_buf_addf(&manifests, " %s", shq(plan->workloads[w].manifests.v[m], &q));
	if (manifests.len) {
		step(a, GM_PHASE_MOVE_WORKLOADS,
		     "find what will not work off GKE (images, selectors, storage classes)",
		     "gpumigrate k8s scan%s", gm_buf_cstr(&manifests));
		step(a, GM_PHASE_MOVE_WORKLOADS, "rewrite the manifests for the new cluster",
		     "gpumigrate k8s rewrite -p %s%s -o migrated/ --diff", shq(plan_path, &q),
		     gm_buf_cstr(&manifests));
		step(a, GM_PHASE_MOVE_WORKLOADS, "copy the images to the on-prem registry",
		     "gpumigrate k8s mirror -p %s%s", shq(plan_path, &q), gm_buf_cstr(&manifests));
	}
	step(a, GM_PHASE_MOVE_WORKLOADS, "label the GPU nodes as the workloads expect",
	     "gpumigrate k8s labels --inventory $(hostname).json");

	step(a, GM_PHASE_VALIDATE, "measure the GPUs on both sides (cloud VM, then each server)",
	     "gpumigrate bench gpu -o bench-$(hostname).json");
	step(a, GM_PHASE_VALIDATE, "compare the two environments with statistics",
	     "gpumigrate bench compare bench-CLOUD.json bench-ONPREM.json");
	step(a, GM_PHASE_VALIDATE, "serve the new GPUs' metrics to Prometheus (on each server)",
	     "gpumigrate exporter --listen :9400");
	step(a, GM_PHASE_VALIDATE, "alert on the new GPUs (memory, temperature, Xids, ECC, links)",
	     "gpumigrate monitor rules -p %s -o gpu-rules.yml", shq(plan_path, &q));
	step(a, GM_PHASE_VALIDATE, "import the GPU dashboard into Grafana",
	     "gpumigrate monitor dashboard -o gpumigrate-gpu.json");

	for (size_t i = 0; i < plan->n_datasets; i++) {
		const struct gm_plan_dataset *d = &plan->datasets[i];
		const char *name = d->name.v ? d->name.v : "data";
		step(a, GM_PHASE_CUT_OVER, "final delta of the data during the write freeze",
		     "gpumigrate sync --delete %s /data/%s/",
		     shq(d->source.v ? d->source.v : "SOURCE", &q), shq(name, &q2));
	}
	step(a, GM_PHASE_CUT_OVER,
	     "move traffic to the on-prem services (DNS or load balancer), then scale the cloud "
	     "workloads to zero",
	     NULL);
	step(a, GM_PHASE_ROLLBACK,
	     "keep the cloud instances and the source data until validation passes on production "
	     "traffic; rolling back is pointing traffic at the cloud again",
	     NULL);
	if (a->tco_ok && a->tco.reference != GM_TCO_ON_DEMAND)
		step(a, GM_PHASE_ROLLBACK,
		     "the cloud commitment keeps billing until its term ends: plan the cut-over "
		     "around it",
		     NULL);
	gm_buf_release(&manifests);
	gm_buf_release(&q);
	gm_buf_release(&q2);
	gm_buf_release(&req);
}

enum gm_rc gm_assess_run(struct gm_assess *a, const struct gm_plan *plan,
                         const struct gm_catalog *cat, const struct gm_assess_opts *opts,
                         struct gm_err *err)
{
	a->plan = plan;
	a->cat = cat;
	a->now = opts->now;
	a->verdict = GM_VERDICT_GO;
	if (plan->n_instances == 0 || plan->n_servers == 0)
		return gm_err_set(err, GM_ERR_USAGE,
		                  "%s: an assessment needs source.instances and target.servers",
		                  plan->path ? plan->path : "plan");
	enum gm_rc rc = assess_capacity(a, err);
	if (rc != GM_OK)
		return rc;
	judge_capacity(a);
	assess_tco(a);
	price_age_warnings(a);
	rc = assess_readiness(a, opts, err);
	if (rc != GM_OK)
		return rc;
	assess_data(a);
	build_checklist(a);
	return GM_OK;
}

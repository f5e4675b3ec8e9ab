/* The GKE-isms `k8s scan` looks for, object by object. */
#include "k8s/scan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/manifest.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

void gm_k8s_report_init(struct gm_k8s_report *r)
{
	memset(r, 0, sizeof(*r));
}

void gm_k8s_report_release(struct gm_k8s_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct gm_k8s_finding *f = &r->findings[i];
		free(f->file);
		free(f->object);
		free(f->source);
		free(f->message);
		free(f->fix);
	}
	free(r->findings);
	memset(r, 0, sizeof(*r));
}

const char *gm_k8s_severity_name(enum gm_k8s_severity s)
{
	return s == GM_K8S_ERROR ? "error" : "warning";
}

struct scan {
	struct gm_k8s_report *r;
	const struct gm_k8s_object *obj;
};

static void add(struct scan *s, enum gm_k8s_severity sev, const struct gm_k8s_node *at,
                const char *id, const char *fix, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static void add(struct scan *s, enum gm_k8s_severity sev, const struct gm_k8s_node *at,
                const char *id, const char *fix, const char *fmt, ...)
{
	struct gm_k8s_report *r = s->r;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->findings = gm_xreallocarray(r->findings, r->cap, sizeof(*r->findings));
	}
	struct gm_buf msg = GM_BUF_INIT, obj = GM_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	gm_k8s_object_label(s->obj, &obj);
	const struct gm_k8s_node *pos = at ? at : s->obj->node;
	r->findings[r->n++] = (struct gm_k8s_finding){
	        .severity = sev,
	        .file = gm_xstrdup(s->obj->file->name),
	        .line = pos->line + 1,
	        .col = pos->col + 1,
	        .object = gm_buf_detach(&obj),
	        .source = s->obj->source ? gm_xstrdup(s->obj->source) : NULL,
	        .id = id,
	        .message = gm_buf_detach(&msg),
	        .fix = gm_xstrdup(fix),
	};
}

bool gm_k8s_image_is_google(const char *image)
{
	const char *slash = strchr(image, '/');
	if (!slash)
		return false;
	size_t n = (size_t)(slash - image);
	if (n == 6 && strncmp(image, "gcr.io", 6) == 0)
		return true;
	if (n > 7 && strncmp(slash - 7, ".gcr.io", 7) == 0)
		return true;
	return n > 15 && strncmp(slash - 15, "-docker.pkg.dev", 15) == 0;
}

/* GKE's node labels: the ones a rule can map, and the ones to remove. */
static const struct {
	const char *label;
	const char *fix;
} gke_labels[] = {
        {"cloud.google.com/gke-accelerator",
         "map the value to your GPU nodes' labels with an 'accelerators' rule (k8s rewrite)"},
        {"cloud.google.com/gke-nodepool",
         "map the pool to your nodes' labels with a 'nodePools' rule (k8s rewrite)"},
        {"cloud.google.com/gke-spot", "remove it: there are no spot nodes on-prem"},
        {"cloud.google.com/machine-family", "remove it or select your nodes by your own labels"},
        {"cloud.google.com/compute-class",
         "remove it: compute classes exist only on GKE (Autopilot)"},
};

static const char *gke_label_fix(const char *key)
{
	for (size_t i = 0; key && i < sizeof(gke_labels) / sizeof(gke_labels[0]); i++)
		if (strcmp(key, gke_labels[i].label) == 0)
			return gke_labels[i].fix;
	return NULL;
}

static void scan_match_expressions(struct scan *s, struct gm_k8s_node *exprs)
{
	for (size_t i = 0; gm_k8s_is_seq(exprs) && i < exprs->n_kids; i++) {
		struct gm_k8s_node *key = gm_k8s_get(exprs->kids[i], "key");
		const char *fix = gke_label_fix(gm_k8s_str(key));
		if (fix)
			add(s, GM_K8S_ERROR, key, "gke-node-affinity", fix,
			    "node affinity on '%s' matches no node off GKE", key->value);
	}
}

static void scan_affinity(struct scan *s, struct gm_k8s_node *spec)
{
	struct gm_k8s_node *na = gm_k8s_get(gm_k8s_get(spec, "affinity"), "nodeAffinity");
	struct gm_k8s_node *req =
	        gm_k8s_get(gm_k8s_get(na, "requiredDuringSchedulingIgnoredDuringExecution"),
	                   "nodeSelectorTerms");
	for (size_t i = 0; gm_k8s_is_seq(req) && i < req->n_kids; i++) {
		scan_match_expressions(s, gm_k8s_get(req->kids[i], "matchExpressions"));
		scan_match_expressions(s, gm_k8s_get(req->kids[i], "matchFields"));
	}
	struct gm_k8s_node *pref =
	        gm_k8s_get(na, "preferredDuringSchedulingIgnoredDuringExecution");
	for (size_t i = 0; gm_k8s_is_seq(pref) && i < pref->n_kids; i++)
		scan_match_expressions(
		        s, gm_k8s_get(gm_k8s_get(pref->kids[i], "preference"), "matchExpressions"));
}

static bool gke_storage_class(const char *c)
{
	static const char *const classes[] = {
	        "standard-rwo",      "premium-rwo", "standard",       "premium",
	        "standard-rwx",      "premium-rwx", "enterprise-rwx", "enterprise-multishare-rwx",
	        "hyperdisk-balanced"};
	for (size_t i = 0; c && i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(c, classes[i]) == 0)
			return true;
	return false;
}

static void scan_storage_class(struct scan *s, struct gm_k8s_node *pvc_spec)
{
	struct gm_k8s_node *sc = gm_k8s_get(pvc_spec, "storageClassName");
	if (gke_storage_class(gm_k8s_str(sc)))
		add(s, GM_K8S_ERROR, sc, "gke-storage-class",
		    "map it to a class of the new cluster with a 'storageClasses' rule (k8s "
		    "rewrite)",
		    "storage class '%s' is GKE's (Persistent Disk / Filestore): the claim stays "
		    "Pending elsewhere",
		    sc->value);
}

static void scan_image(struct scan *s, struct gm_k8s_node *container)
{
	struct gm_k8s_node *img = gm_k8s_get(container, "image");
	if (gm_k8s_str(img) && gm_k8s_image_is_google(img->value))
		add(s, GM_K8S_WARNING, img, "image-registry",
		    "copy it to your registry (k8s mirror) and map it with an 'images' rule",
		    "image '%s' is in a Google registry: pulls need GCP credentials and the "
		    "internet",
		    img->value);
	const char *v = gm_k8s_str(img);
	if (v && (strstr(v, "nvidia-driver-installer") || strstr(v, "cos-nvidia-installer")))
		add(s, GM_K8S_ERROR, img, "gke-driver-installer",
		    "install the NVIDIA driver on the nodes (or the GPU Operator) and leave this "
		    "out",
		    "image '%s' is GKE's NVIDIA driver installer for Container-Optimized OS", v);
}

static void container_cb(void *ctx, struct gm_k8s_node *c)
{
	scan_image(ctx, c);
}

static void pod_spec_cb(void *ctx, struct gm_k8s_node *spec)
{
	struct scan *s = ctx;
	gm_k8s_each_container(spec, container_cb, s);
	struct gm_k8s_node *sel = gm_k8s_get(spec, "nodeSelector");
	for (size_t i = 0; gm_k8s_is_map(sel) && i + 1 < sel->n_kids; i += 2) {
		const char *fix = gke_label_fix(gm_k8s_str(sel->kids[i]));
		if (fix)
			add(s, GM_K8S_ERROR, sel->kids[i], "gke-node-selector", fix,
			    "nodeSelector '%s: %s' matches no node off GKE: the pod stays Pending",
			    sel->kids[i]->value,
			    gm_k8s_str(sel->kids[i + 1]) ? sel->kids[i + 1]->value : "…");
	}
	scan_affinity(s, spec);
	if (!gm_k8s_tolerates_gpu(spec)) {
		struct gm_k8s_node *lists[] = {gm_k8s_get(spec, "initContainers"),
		                               gm_k8s_get(spec, "containers")};
		for (size_t l = 0; l < 2; l++)
			for (size_t i = 0; gm_k8s_is_seq(lists[l]) && i < lists[l]->n_kids; i++) {
				struct gm_k8s_node *c = lists[l]->kids[i];
				if (!gm_k8s_container_wants_gpu(c))
					continue;
				const char *name = gm_k8s_get_str(c, "name");
				add(s, GM_K8S_WARNING, gm_k8s_get_key(spec, "containers"),
				    "gpu-toleration",
				    "add the toleration (rules: gpuTolerations: true) or leave the "
				    "GPU "
				    "nodes untainted",
				    "container '%s' requests nvidia.com/gpu but the pod does not "
				    "tolerate the nvidia.com/gpu taint (GKE adds the toleration by "
				    "itself)",
				    name ? name : "?");
			}
	}
	struct gm_k8s_node *vols = gm_k8s_get(spec, "volumes");
	for (size_t i = 0; gm_k8s_is_seq(vols) && i < vols->n_kids; i++)
		scan_storage_class(s, gm_k8s_get(gm_k8s_get(gm_k8s_get(vols->kids[i], "ephemeral"),
		                                            "volumeClaimTemplate"),
		                                 "spec"));
}

static void scan_annotations(struct scan *s)
{
	struct gm_k8s_node *ann = gm_k8s_get(gm_k8s_get(s->obj->node, "metadata"), "annotations");
	for (size_t i = 0; gm_k8s_is_map(ann) && i + 1 < ann->n_kids; i += 2) {
		const char *k = gm_k8s_str(ann->kids[i]);
		const char *v = gm_k8s_str(ann->kids[i + 1]);
		if (!k)
			continue;
		if (strcmp(k, "iam.gke.io/gcp-service-account") == 0)
			add(s, GM_K8S_WARNING, ann->kids[i], "workload-identity",
			    "give the pods credentials another way (a Secret, or your cluster's "
			    "workload identity) and drop the annotation",
			    "Workload Identity annotation ('%s'): pods get no GCP credentials off "
			    "GKE",
			    v ? v : "");
		else if (strncmp(k, "cloud.google.com/", 17) == 0 ||
		         strncmp(k, "networking.gke.io/", 18) == 0)
			add(s, GM_K8S_WARNING, ann->kids[i], "gke-annotation",
			    "drop it (rules: annotations.drop) and configure your load balancer or "
			    "ingress controller",
			    "annotation '%s' is read only by GKE (load balancing, NEG, "
			    "BackendConfig): "
			    "it does nothing elsewhere",
			    k);
		else if (strcmp(k, "kubernetes.io/ingress.class") == 0 && v &&
		         (strcmp(v, "gce") == 0 || strcmp(v, "gce-internal") == 0))
			add(s, GM_K8S_ERROR, ann->kids[i + 1], "gke-ingress-class",
			    "replace it with your ingress controller's class (rules: "
			    "annotations.replace)",
			    "ingress class '%s' is GKE's load balancer controller", v);
	}
}

static void scan_kind(struct scan *s)
{
	const struct gm_k8s_object *o = s->obj;
	static const char *const kinds[] = {"BackendConfig", "FrontendConfig", "ManagedCertificate",
	                                    "ComputeClass", "ServiceNetworkEndpointGroup"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(o->kind, kinds[i]) == 0)
			add(s, GM_K8S_ERROR, gm_k8s_get(o->node, "kind"), "gke-kind",
			    "leave it out; configure the equivalent in your ingress controller or "
			    "cluster",
			    "kind %s (%s) exists only on GKE: applying it fails", o->kind,
			    *o->api_version ? o->api_version : "no apiVersion");
	struct gm_k8s_node *spec = gm_k8s_get(o->node, "spec");
	if (strcmp(o->kind, "PersistentVolumeClaim") == 0)
		scan_storage_class(s, spec);
	if (strcmp(o->kind, "StatefulSet") == 0) {
		struct gm_k8s_node *vct = gm_k8s_get(spec, "volumeClaimTemplates");
		for (size_t i = 0; gm_k8s_is_seq(vct) && i < vct->n_kids; i++)
			scan_storage_class(s, gm_k8s_get(vct->kids[i], "spec"));
	}
	if (strcmp(o->kind, "StorageClass") == 0) {
		struct gm_k8s_node *p = gm_k8s_get(o->node, "provisioner");
		const char *pv = gm_k8s_str(p);
		if (pv && (strcmp(pv, "pd.csi.storage.gke.io") == 0 ||
		           strcmp(pv, "kubernetes.io/gce-pd") == 0 ||
		           strcmp(pv, "filestore.csi.storage.gke.io") == 0))
			add(s, GM_K8S_ERROR, p, "gke-provisioner",
			    "use a storage class of the new cluster (rules: storageClasses)",
			    "provisioner '%s' is Google's (Persistent Disk / Filestore)", pv);
	}
	if (strcmp(o->kind, "Ingress") == 0) {
		struct gm_k8s_node *ic = gm_k8s_get(spec, "ingressClassName");
		const char *v = gm_k8s_str(ic);
		if (v && (strcmp(v, "gce") == 0 || strcmp(v, "gce-internal") == 0))
			add(s, GM_K8S_ERROR, ic, "gke-ingress-class",
			    "use your ingress controller's class",
			    "ingress class '%s' is GKE's load balancer controller", v);
	}
	if (strcmp(o->kind, "DaemonSet") == 0 && strstr(o->name, "nvidia-driver-installer"))
		add(s, GM_K8S_ERROR, gm_k8s_get(o->node, "kind"), "gke-driver-installer",
		    "install the NVIDIA driver on the nodes (or the GPU Operator) and leave this "
		    "out",
		    "DaemonSet '%s' is GKE's NVIDIA driver installer", o->name);
}

static void argo_cb(void *ctx, struct gm_k8s_node *c)
{
	scan_image(ctx, c);
}

void gm_k8s_scan_file(const struct gm_k8s_file *file, struct gm_k8s_report *r)
{
	struct gm_k8s_object *objs = NULL;
	size_t n = 0;
	gm_k8s_objects(file, &objs, &n);
	r->n_files++;
	r->n_objects += n;
	for (size_t i = 0; i < n; i++) {
		struct scan s = {r, &objs[i]};
		scan_kind(&s);
		scan_annotations(&s);
		gm_k8s_each_pod_spec(&objs[i], pod_spec_cb, &s);
		gm_k8s_each_argo_container(&objs[i], argo_cb, &s);
	}
	free(objs);
}

static int cmp_finding(const void *a, const void *b)
{
	const struct gm_k8s_finding *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return strcmp(x->id, y->id);
}

void gm_k8s_report_sort(struct gm_k8s_report *r)
{
	/* files keep their order: sort each run of one file's findings */
	size_t i = 0;
	while (i < r->n) {
		size_t j = i + 1;
		while (j < r->n && strcmp(r->findings[j].file, r->findings[i].file) == 0)
			j++;
		qsort(r->findings + i, j - i, sizeof(*r->findings), cmp_finding);
		i = j;
	}
}

void gm_k8s_report_to_json(const struct gm_k8s_report *r, struct gm_buf *out, bool pretty)
{
	struct gm_json j;
	gm_json_init(&j, out, pretty);
	gm_json_begin_object(&j, NULL);
	gm_json_uint(&j, "files", r->n_files);
	gm_json_uint(&j, "objects", r->n_objects);
	gm_json_begin_array(&j, "findings");
	for (size_t i = 0; i < r->n; i++) {
		const struct gm_k8s_finding *f = &r->findings[i];
		gm_json_begin_object(&j, NULL);
		gm_json_str(&j, "severity", gm_k8s_severity_name(f->severity));
		gm_json_str(&j, "file", f->file);
		gm_json_int(&j, "line", f->line);
		gm_json_int(&j, "column", f->col);
		gm_json_str(&j, "object", f->object);
		if (f->source)
			gm_json_str(&j, "source", f->source);
		gm_json_str(&j, "id", f->id);
		gm_json_str(&j, "message", f->message);
		gm_json_str(&j, "fix", f->fix);
		gm_json_end_object(&j);
	}
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	if (pretty)
		gm_buf_addch(out, '\n');
}

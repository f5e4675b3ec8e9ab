/* `k8s scan`: what in a set of manifests will not work off GKE — images in Google's
 * registries, GKE node labels in selectors and affinities, GPU requests without the GPU
 * toleration GKE adds by itself, GKE storage classes and provisioners, Workload Identity,
 * GKE load-balancer annotations and kinds, ingress class gce, GKE's driver installer. */
#ifndef GM_K8S_SCAN_H
#define GM_K8S_SCAN_H

#include <stddef.h>

#include "k8s/yaml.h"
#include "util/buf.h"

enum gm_k8s_severity {
	GM_K8S_WARNING, /* works only with extra steps, or silently loses a GKE feature */
	GM_K8S_ERROR,   /* will not apply, schedule or bind off GKE */
};

struct gm_k8s_finding {
	enum gm_k8s_severity severity;
	char *file;
	int line, col;  /* 1-based */
	char *object;   /* "Deployment/ml/llm-serve" */
	char *source;   /* helm's "# Source:" of the document, or NULL */
	const char *id; /* stable short name: "image-registry", "gke-node-selector" … */
	char *message;
	char *fix;
};

struct gm_k8s_report {
	struct gm_k8s_finding *findings;
	size_t n, cap;
	size_t n_files, n_objects;
};

void gm_k8s_report_init(struct gm_k8s_report *r);
void gm_k8s_report_release(struct gm_k8s_report *r);

/* Adds the findings of one parsed file to r (and counts the file and its objects). */
void gm_k8s_scan_file(const struct gm_k8s_file *file, struct gm_k8s_report *r);
/* Sorts the findings by file (in the order they were scanned), line and column. */
void gm_k8s_report_sort(struct gm_k8s_report *r);

const char *gm_k8s_severity_name(enum gm_k8s_severity s);

/* Whether an image reference is in a Google registry: gcr.io, *.gcr.io, *-docker.pkg.dev. */
bool gm_k8s_image_is_google(const char *image);

/* The report as JSON: {"files": N, "objects": N, "findings": [{severity, file, line,
 * column, object, source?, id, message, fix}]}. */
void gm_k8s_report_to_json(const struct gm_k8s_report *r, struct gm_buf *out, bool pretty);

#endif

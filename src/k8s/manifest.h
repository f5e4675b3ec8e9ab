/* Kubernetes objects in manifest files: which documents are objects (a `kubectl get -o yaml`
 * List contributes its items), and where their pod templates and containers are, whatever
 * the kind — built-in workloads, CronJobs, and custom resources that embed pod templates
 * (Kubeflow, JobSet, Ray, Argo). scan and rewrite both walk manifests through here. */
#ifndef GM_K8S_MANIFEST_H
#define GM_K8S_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "k8s/yaml.h"
#include "util/err.h"

/* One object: a document (or List item) that is a mapping with a kind. */
struct gm_k8s_object {
	const struct gm_k8s_file *file;
	struct gm_k8s_node *node;
	const char *kind;        /* "" when absent */
	const char *api_version; /* "" when absent */
	const char *name;        /* metadata.name, or metadata.generateName, or "" */
	const char *ns;          /* metadata.namespace, or "" */
	const char *source;      /* helm's "# Source:" of the document, or NULL */
};

/* The objects of a file, in order (List items in place of the List). *objs is allocated;
 * free() it. The objects point into file. */
void gm_k8s_objects(const struct gm_k8s_file *file, struct gm_k8s_object **objs, size_t *n);

/* "Kind/namespace/name" (namespace left out when empty) into out (appended). */
void gm_k8s_object_label(const struct gm_k8s_object *obj, struct gm_buf *out);

/* Calls fn for each pod spec in obj: any mapping with a "containers" sequence (a Pod's spec,
 * a pod template's spec wherever the template is), outermost first. */
void gm_k8s_each_pod_spec(const struct gm_k8s_object *obj,
                          void (*fn)(void *ctx, struct gm_k8s_node *spec), void *ctx);

/* Calls fn for each container mapping of a pod spec: containers, initContainers,
 * ephemeralContainers. */
void gm_k8s_each_container(struct gm_k8s_node *spec,
                           void (*fn)(void *ctx, struct gm_k8s_node *container), void *ctx);

/* Argo workflows: calls fn for each "container" / "script" mapping with an image in obj
 * (Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow); nothing for other
 * kinds. */
void gm_k8s_each_argo_container(const struct gm_k8s_object *obj,
                                void (*fn)(void *ctx, struct gm_k8s_node *container), void *ctx);

/* Whether a container asks for nvidia.com/gpu (limits or requests). */
bool gm_k8s_container_wants_gpu(const struct gm_k8s_node *container);
/* Whether a pod spec tolerates the nvidia.com/gpu taint (a toleration with that key, or an
 * Exists toleration without a key). */
bool gm_k8s_tolerates_gpu(const struct gm_k8s_node *spec);

/* Lists the manifest files under each path (files as given; directories recursively,
 * *.yaml, *.yml and *.json, sorted) into *paths (each allocated; free them and the array). */
enum gm_rc gm_k8s_find_files(char **paths_in, size_t n_in, char ***paths, size_t *n,
                             struct gm_err *err);

#endif

/* The rules of `k8s rewrite` (doc/formats.md, "k8s rules"): image registry/repository
 * prefixes, GKE accelerator and node-pool values to on-prem node labels, storage classes,
 * annotations to drop or replace, the GPU toleration and imagePullSecrets to add. The same
 * rules export as Velero resource modifiers, Velero's image and storage-class plugin
 * ConfigMaps and a kustomize images list, so a restore applies the same mapping. */
#ifndef GM_K8S_RULES_H
#define GM_K8S_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define GM_K8S_RULES_SCHEMA "gpumigrate.k8s-rules/v1"

struct gm_k8s_pair {
	char *from, *to; /* images: prefixes; storage classes, annotations: key → value */
};

struct gm_k8s_label {
	char *key, *value;
};

/* One GKE value (an accelerator, a node pool) and the node labels that replace it. */
struct gm_k8s_labelmap {
	char *from;
	struct gm_k8s_label *labels; /* in the rules' order; at least one */
	size_t n;
};

struct gm_k8s_rules {
	struct gm_k8s_pair *images; /* first match wins */
	size_t n_images;
	struct gm_k8s_labelmap *accelerators;
	size_t n_accelerators;
	struct gm_k8s_labelmap *node_pools;
	size_t n_node_pools;
	struct gm_k8s_pair *storage_classes;
	size_t n_storage_classes;
	char **drop_annotations; /* keys; "prefix/" + "*" drops every key under prefix/ */
	size_t n_drop_annotations;
	struct gm_k8s_pair *replace_annotations; /* key → new value */
	size_t n_replace_annotations;
	bool gpu_tolerations;
	char **pull_secrets;
	size_t n_pull_secrets;
};

void gm_k8s_rules_init(struct gm_k8s_rules *r);
void gm_k8s_rules_release(struct gm_k8s_rules *r);

/* Reads a rules file, or a plan file (gpumigrate.plan/v1) with the rules under its k8s: key.
 * Errors name file:line:col (unknown keys with a "did you mean"). */
enum gm_rc gm_k8s_rules_load(struct gm_k8s_rules *r, const char *path, struct gm_err *err);
enum gm_rc gm_k8s_rules_parse(struct gm_k8s_rules *r, const char *name, const char *text,
                              size_t len, struct gm_err *err);

/* Maps an image reference by the first rule whose from is a prefix of it at a path
 * boundary (followed by '/', ':', '@' or the end); the rest (path, tag, digest) is kept.
 * A from of "docker.io/…" also matches the short Docker Hub forms ("nginx",
 * "bitnami/redis"). An image already under the matching rule's to is left as it is, so
 * mapping twice changes nothing. Returns true and the new reference in out when it
 * changes. */
bool gm_k8s_rules_map_image(const struct gm_k8s_rules *r, const char *image, struct gm_buf *out);

/* The labels for a GKE accelerator / node-pool value, or NULL when no rule names it. */
const struct gm_k8s_labelmap *gm_k8s_rules_accelerator(const struct gm_k8s_rules *r,
                                                       const char *value);
const struct gm_k8s_labelmap *gm_k8s_rules_node_pool(const struct gm_k8s_rules *r,
                                                     const char *value);
/* The new storage class for from, or NULL. */
const char *gm_k8s_rules_storage_class(const struct gm_k8s_rules *r, const char *from);
/* Whether an annotation key is in the drop list. */
bool gm_k8s_rules_drops(const struct gm_k8s_rules *r, const char *key);
/* The replacement value for an annotation key, or NULL. */
const char *gm_k8s_rules_replacement(const struct gm_k8s_rules *r, const char *key);

/* Velero's restore resource modifiers (version v1) as a ConfigMap named name in namespace
 * velero: storage classes on PVCs (and StatefulSet claim templates), GKE node selectors on
 * the workload kinds (merge patches, guarded by conditions.matches), annotations dropped
 * and replaced (merge patches). */
void gm_k8s_export_velero(const struct gm_k8s_rules *r, struct gm_buf *out);
/* Velero's change-image-name and change-storage-class RestoreItemAction plugin ConfigMaps
 * (two documents). */
void gm_k8s_export_velero_plugins(const struct gm_k8s_rules *r, struct gm_buf *out);
/* A kustomize "images:" list for the given image references (each mapped by the rules; those
 * no rule changes are left out). Tags and digests are kept in the manifests: entries carry
 * name and newName only. */
void gm_k8s_export_kustomize(const struct gm_k8s_rules *r, char *const *images, size_t n,
                             struct gm_buf *out);

#endif

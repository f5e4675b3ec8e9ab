/* Reading the rewrite rules, applying the image and lookup rules, and exporting them for
 * Velero and kustomize. */
#include "k8s/rules.h"

#include <ctype.h>
#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/doc.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Caps: a rules file is written by a person. */
#define MAX_ITEMS 4096

void gm_k8s_rules_init(struct gm_k8s_rules *r)
{
	memset(r, 0, sizeof(*r));
}

static void pairs_free(struct gm_k8s_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].from);
		free(p[i].to);
	}
	free(p);
}

static void strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void labelmaps_free(struct gm_k8s_labelmap *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < m[i].n; k++) {
			free(m[i].labels[k].key);
			free(m[i].labels[k].value);
		}
		free(m[i].labels);
		free(m[i].from);
	}
	free(m);
}

void gm_k8s_rules_release(struct gm_k8s_rules *r)
{
	if (!r)
		return;
	pairs_free(r->images, r->n_images);
	labelmaps_free(r->accelerators, r->n_accelerators);
	labelmaps_free(r->node_pools, r->n_node_pools);
	pairs_free(r->storage_classes, r->n_storage_classes);
	strs_free(r->drop_annotations, r->n_drop_annotations);
	pairs_free(r->replace_annotations, r->n_replace_annotations);
	strs_free(r->pull_secrets, r->n_pull_secrets);
	memset(r, 0, sizeof(*r));
}

static enum gm_rc bad(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                      const char *what)
{
	struct gm_buf where = GM_BUF_INIT;
	gm_doc_where(doc, n, &where);
	gm_err_set(err, GM_ERR_PARSE, "%s: %s", gm_buf_cstr(&where), what);
	gm_buf_release(&where);
	return GM_ERR_PARSE;
}

/* A non-empty scalar's text, or NULL. */
static const char *text_of(struct fy_node *n)
{
	const char *s = gm_doc_scalar(n);
	return s && *s ? s : NULL;
}

static enum gm_rc read_images(const struct gm_doc *doc, struct fy_node *seq, struct gm_k8s_rules *r,
                              struct gm_err *err)
{
	static const char *const keys[] = {"from", "to", NULL};
	if (!gm_doc_is_seq(seq))
		return bad(doc, seq, err, "'images' must be a list of {from, to}");
	int n = gm_doc_seq_len(seq);
	if (n > MAX_ITEMS)
		return bad(doc, seq, err, "too many image rules");
	r->images = gm_xcalloc((size_t)n + 1, sizeof(*r->images));
	for (int i = 0; i < n; i++) {
		struct fy_node *it = gm_doc_seq_at(seq, i);
		if (!gm_doc_is_map(it))
			return bad(doc, it, err, "an image rule must be a mapping {from, to}");
		enum gm_rc rc = gm_doc_check_keys(doc, it, keys, err);
		if (rc != GM_OK)
			return rc;
		const char *from = text_of(gm_doc_get(it, "from"));
		const char *to = text_of(gm_doc_get(it, "to"));
		if (!from || !to)
			return bad(doc, it, err, "an image rule needs both 'from' and 'to'");
		size_t fl = strlen(from), tl = strlen(to);
		if (from[fl - 1] == '/' || to[tl - 1] == '/')
			return bad(doc, it, err,
			           "image prefixes end without '/' (write 'gcr.io/acme', not "
			           "'gcr.io/acme/')");
		r->images[r->n_images].from = gm_xstrdup(from);
		r->images[r->n_images++].to = gm_xstrdup(to);
	}
	return GM_OK;
}

static enum gm_rc read_labelmaps(const struct gm_doc *doc, struct fy_node *map, const char *what,
                                 struct gm_k8s_labelmap **out, size_t *n_out, struct gm_err *err)
{
	if (!gm_doc_is_map(map))
		return bad(
		        doc, map, err,
		        "must be a mapping of GKE values to node labels ({VALUE: {LABEL: VALUE}})");
	int n = gm_doc_map_len(map);
	if (n > MAX_ITEMS)
		return bad(doc, map, err, "too many entries");
	*out = gm_xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++) {
		const char *from = gm_doc_map_key_at(map, i);
		struct fy_node *labels = gm_doc_map_value_at(map, i);
		if (!from || !*from)
			return bad(doc, map, err, "keys must be strings");
		if (!gm_doc_is_map(labels) || gm_doc_map_len(labels) == 0) {
			struct gm_buf m = GM_BUF_INIT;
			gm_buf_addf(&m,
			            "%s '%s' must map to node labels, such as {accelerator: %s}",
			            what, from, from);
			enum gm_rc rc = bad(doc, labels ? labels : map, err, gm_buf_cstr(&m));
			gm_buf_release(&m);
			return rc;
		}
		struct gm_k8s_labelmap *lm = &(*out)[(*n_out)++];
		lm->from = gm_xstrdup(from);
		int nl = gm_doc_map_len(labels);
		lm->labels = gm_xcalloc((size_t)nl, sizeof(*lm->labels));
		for (int k = 0; k < nl; k++) {
			const char *key = gm_doc_map_key_at(labels, k);
			const char *v = gm_doc_scalar(gm_doc_map_value_at(labels, k));
			if (!key || !*key || !v)
				return bad(doc, gm_doc_map_value_at(labels, k), err,
				           "node labels are 'key: value' pairs of strings");
			lm->labels[lm->n].key = gm_xstrdup(key);
			lm->labels[lm->n++].value = gm_xstrdup(v);
		}
	}
	return GM_OK;
}

static enum gm_rc read_string_map(const struct gm_doc *doc, struct fy_node *map, const char *what,
                                  struct gm_k8s_pair **out, size_t *n_out, struct gm_err *err)
{
	if (!gm_doc_is_map(map)) {
		struct gm_buf m = GM_BUF_INIT;
		gm_buf_addf(&m, "'%s' must be a mapping of strings", what);
		enum gm_rc rc = bad(doc, map, err, gm_buf_cstr(&m));
		gm_buf_release(&m);
		return rc;
	}
	int n = gm_doc_map_len(map);
	if (n > MAX_ITEMS)
		return bad(doc, map, err, "too many entries");
	*out = gm_xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++) {
		const char *k = gm_doc_map_key_at(map, i);
		const char *v = gm_doc_scalar(gm_doc_map_value_at(map, i));
		if (!k || !*k || !v)
			return bad(doc, gm_doc_map_value_at(map, i), err,
			           "entries are 'from: to' pairs of strings");
		(*out)[*n_out].from = gm_xstrdup(k);
		(*out)[(*n_out)++].to = gm_xstrdup(v);
	}
	return GM_OK;
}

static enum gm_rc read_strings(const struct gm_doc *doc, struct fy_node *seq, const char *what,
                               char ***out, size_t *n_out, struct gm_err *err)
{
	if (!gm_doc_is_seq(seq)) {
		struct gm_buf m = GM_BUF_INIT;
		gm_buf_addf(&m, "'%s' must be a list of strings", what);
		enum gm_rc rc = bad(doc, seq, err, gm_buf_cstr(&m));
		gm_buf_release(&m);
		return rc;
	}
	int n = gm_doc_seq_len(seq);
	if (n > MAX_ITEMS)
		return bad(doc, seq, err, "too many entries");
	*out = gm_xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++) {
		const char *s = text_of(gm_doc_seq_at(seq, i));
		if (!s)
			return bad(doc, gm_doc_seq_at(seq, i), err, "entries must be strings");
		(*out)[(*n_out)++] = gm_xstrdup(s);
	}
	return GM_OK;
}

static enum gm_rc read_rules(const struct gm_doc *doc, struct fy_node *root, struct gm_k8s_rules *r,
                             struct gm_err *err)
{
	static const char *const keys[] = {"schema",         "images",           "accelerators",
	                                   "nodePools",      "storageClasses",   "annotations",
	                                   "gpuTolerations", "imagePullSecrets", NULL};
	static const char *const ann_keys[] = {"drop", "replace", NULL};
	if (!gm_doc_is_map(root))
		return bad(doc, root, err, "the rules must be a mapping");
	enum gm_rc rc = gm_doc_check_keys(doc, root, keys, err);
	const char *schema = NULL;
	if (rc == GM_OK && gm_doc_get_str(doc, root, "schema", &schema, err) == GM_OK &&
	    strcmp(schema, GM_K8S_RULES_SCHEMA) != 0)
		return bad(doc, gm_doc_get(root, "schema"), err,
		           "schema must be " GM_K8S_RULES_SCHEMA);
	struct fy_node *n;
	if (rc == GM_OK && !gm_doc_is_null(n = gm_doc_get(root, "images")))
		rc = read_images(doc, n, r, err);
	if (rc == GM_OK && !gm_doc_is_null(n = gm_doc_get(root, "accelerators")))
		rc = read_labelmaps(doc, n, "accelerator", &r->accelerators, &r->n_accelerators,
		                    err);
	if (rc == GM_OK && !gm_doc_is_null(n = gm_doc_get(root, "nodePools")))
		rc = read_labelmaps(doc, n, "node pool", &r->node_pools, &r->n_node_pools, err);
	if (rc == GM_OK && !gm_doc_is_null(n = gm_doc_get(root, "storageClasses")))
		rc = read_string_map(doc, n, "storageClasses", &r->storage_classes,
		                     &r->n_storage_classes, err);
	if (rc == GM_OK && !gm_doc_is_null(n = gm_doc_get(root, "annotations"))) {
		struct fy_node *a;
		if (!gm_doc_is_map(n))
			return bad(doc, n, err, "'annotations' must be a mapping {drop, replace}");
		rc = gm_doc_check_keys(doc, n, ann_keys, err);
		if (rc == GM_OK && !gm_doc_is_null(a = gm_doc_get(n, "drop")))
			rc = read_strings(doc, a, "annotations.drop", &r->drop_annotations,
			                  &r->n_drop_annotations, err);
		if (rc == GM_OK && !gm_doc_is_null(a = gm_doc_get(n, "replace")))
			rc = read_string_map(doc, a, "annotations.replace", &r->replace_annotations,
			                     &r->n_replace_annotations, err);
	}
	if (rc == GM_OK) {
		enum gm_rc b =
		        gm_doc_get_bool(doc, root, "gpuTolerations", &r->gpu_tolerations, err);
		if (b != GM_OK && b != GM_ERR_NOT_FOUND)
			rc = b;
	}
	if (rc == GM_OK && !gm_doc_is_null(n = gm_doc_get(root, "imagePullSecrets")))
		rc = read_strings(doc, n, "imagePullSecrets", &r->pull_secrets, &r->n_pull_secrets,
		                  err);
	return rc;
}

enum gm_rc gm_k8s_rules_parse(struct gm_k8s_rules *r, const char *name, const char *text,
                              size_t len, struct gm_err *err)
{
	struct gm_doc doc;
	gm_k8s_rules_init(r);
	enum gm_rc rc = gm_doc_load_string(&doc, name, text, len, err);
	if (rc == GM_OK) {
		struct fy_node *root = gm_doc_root(&doc);
		const char *schema = gm_doc_scalar(gm_doc_get(root, "schema"));
		if (schema && strcmp(schema, "gpumigrate.plan/v1") == 0) {
			root = gm_doc_get(root, "k8s");
			if (gm_doc_is_null(root))
				rc = gm_err_set(
				        err, GM_ERR_NOT_FOUND,
				        "%s: the plan has no 'k8s:' section with rewrite rules",
				        name);
		}
		if (rc == GM_OK)
			rc = read_rules(&doc, root, r, err);
	}
	gm_doc_release(&doc);
	if (rc != GM_OK)
		gm_k8s_rules_release(r);
	return rc;
}

enum gm_rc gm_k8s_rules_load(struct gm_k8s_rules *r, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT;
	gm_k8s_rules_init(r);
	enum gm_rc rc = gm_fs_read(path, GM_DOC_MAX_BYTES, &text, err);
	if (rc == GM_OK)
		rc = gm_k8s_rules_parse(r, path, gm_buf_cstr(&text), text.len, err);
	gm_buf_release(&text);
	return rc;
}

/* ---- applying ---- */

/* Whether image starts with prefix at a path boundary; *rest is what follows. */
static bool has_prefix(const char *image, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(image, prefix, n) != 0)
		return false;
	char c = image[n];
	if (c != '\0' && c != '/' && c != ':' && c != '@')
		return false;
	*rest = image + n;
	return true;
}

/* Docker Hub's long form of a short reference ("nginx" → "docker.io/library/nginx"). */
static void docker_long(const char *image, struct gm_buf *out)
{
	const char *slash = strchr(image, '/');
	size_t first = slash ? (size_t)(slash - image) : strlen(image);
	bool registry = slash && (memchr(image, '.', first) || memchr(image, ':', first) ||
	                          strncmp(image, "localhost/", 10) == 0);
	if (registry)
		gm_buf_adds(out, image);
	else
		gm_buf_addf(out, "docker.io/%s%s", slash ? "" : "library/", image);
}

bool gm_k8s_rules_map_image(const struct gm_k8s_rules *r, const char *image, struct gm_buf *out)
{
	struct gm_buf full = GM_BUF_INIT;
	bool changed = false;
	docker_long(image, &full);
	for (size_t i = 0; i < r->n_images; i++) {
		const char *rest = NULL;
		const char *from = r->images[i].from;
		const char *subject =
		        strncmp(from, "docker.io/", 10) == 0 ? gm_buf_cstr(&full) : image;
		if (has_prefix(image, r->images[i].to, &rest))
			break; /* already mapped */
		if (!has_prefix(subject, from, &rest))
			continue;
		gm_buf_reset(out);
		gm_buf_addf(out, "%s%s", r->images[i].to, rest);
		changed = strcmp(gm_buf_cstr(out), image) != 0;
		break;
	}
	gm_buf_release(&full);
	return changed;
}

static const struct gm_k8s_labelmap *find_map(const struct gm_k8s_labelmap *m, size_t n,
                                              const char *v)
{
	for (size_t i = 0; v && i < n; i++)
		if (strcmp(m[i].from, v) == 0)
			return &m[i];
	return NULL;
}

const struct gm_k8s_labelmap *gm_k8s_rules_accelerator(const struct gm_k8s_rules *r,
                                                       const char *value)
{
	return find_map(r->accelerators, r->n_accelerators, value);
}

const struct gm_k8s_labelmap *gm_k8s_rules_node_pool(const struct gm_k8s_rules *r,
                                                     const char *value)
{
	return find_map(r->node_pools, r->n_node_pools, value);
}

static const char *find_pair(const struct gm_k8s_pair *p, size_t n, const char *from)
{
	for (size_t i = 0; from && i < n; i++)
		if (strcmp(p[i].from, from) == 0)
			return p[i].to;
	return NULL;
}

const char *gm_k8s_rules_storage_class(const struct gm_k8s_rules *r, const char *from)
{
	return find_pair(r->storage_classes, r->n_storage_classes, from);
}

const char *gm_k8s_rules_replacement(const struct gm_k8s_rules *r, const char *key)
{
	return find_pair(r->replace_annotations, r->n_replace_annotations, key);
}

bool gm_k8s_rules_drops(const struct gm_k8s_rules *r, const char *key)
{
	for (size_t i = 0; key && i < r->n_drop_annotations; i++) {
		const char *d = r->drop_annotations[i];
		size_t n = strlen(d);
		if (n >= 2 && strcmp(d + n - 2, "/*") == 0) {
			if (strncmp(key, d, n - 1) == 0)
				return true;
		} else if (strcmp(key, d) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- exports ---- */

/* A YAML scalar: plain when it reads back as the same string, else JSON-quoted. */
static void yscalar(struct gm_buf *out, const char *s)
{
	bool plain = *s && (isalnum((unsigned char)*s) || *s == '/' || *s == '.');
	for (const char *p = s; plain && *p; p++)
		plain = isalnum((unsigned char)*p) || strchr("-_./", *p);
	static const char *const words[] = {"true", "false", "null", "yes", "no",
	                                    "on",   "off",   "y",    "n"};
	for (size_t i = 0; plain && i < sizeof(words) / sizeof(words[0]); i++)
		plain = strcasecmp(s, words[i]) != 0;
	char *end = NULL;
	if (plain) {
		(void)strtod(s, &end);
		plain = !(end && *end == '\0');
	}
	if (plain)
		gm_buf_adds(out, s);
	else
		gm_json_escape(out, s, strlen(s));
}

/* A JSON pointer token (RFC 6901): "~" → "~0", "/" → "~1". */
static void ptr_token(struct gm_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '~')
			gm_buf_adds(out, "~0");
		else if (*s == '/')
			gm_buf_adds(out, "~1");
		else
			gm_buf_addch(out, *s);
	}
}

static const struct {
	const char *group_resource;
	const char *path;       /* JSON pointer to the pod spec */
	const char *merge_open; /* merge patch down to the pod spec */
	const char *merge_close;
} workloads[] = {
        {"pods", "/spec", "{\"spec\":{", "}}"},
        {"deployments.apps", "/spec/template/spec", "{\"spec\":{\"template\":{\"spec\":{", "}}}}"},
        {"statefulsets.apps", "/spec/template/spec", "{\"spec\":{\"template\":{\"spec\":{", "}}}}"},
        {"daemonsets.apps", "/spec/template/spec", "{\"spec\":{\"template\":{\"spec\":{", "}}}}"},
        {"replicasets.apps", "/spec/template/spec", "{\"spec\":{\"template\":{\"spec\":{", "}}}}"},
        {"jobs.batch", "/spec/template/spec", "{\"spec\":{\"template\":{\"spec\":{", "}}}}"},
        {"cronjobs.batch", "/spec/jobTemplate/spec/template/spec",
         "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{", "}}}}}}"},
};

static void selector_rules(const struct gm_k8s_labelmap *m, size_t n, const char *label,
                           struct gm_buf *out)
{
	struct gm_buf patch = GM_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
			gm_buf_addf(out, "- conditions:\n    groupResource: %s\n    matches:\n",
			            workloads[w].group_resource);
			gm_buf_addf(out, "    - path: %s/nodeSelector/", workloads[w].path);
			ptr_token(out, label);
			gm_buf_adds(out, "\n      value: ");
			yscalar(out, m[i].from);
			gm_buf_reset(&patch);
			gm_buf_addf(&patch, "%s\"nodeSelector\":{", workloads[w].merge_open);
			gm_json_escape(&patch, label, strlen(label));
			gm_buf_adds(&patch, ":null");
			for (size_t k = 0; k < m[i].n; k++) {
				gm_buf_addch(&patch, ',');
				gm_json_escape(&patch, m[i].labels[k].key,
				               strlen(m[i].labels[k].key));
				gm_buf_addch(&patch, ':');
				gm_json_escape(&patch, m[i].labels[k].value,
				               strlen(m[i].labels[k].value));
			}
			gm_buf_addf(&patch, "}%s", workloads[w].merge_close);
			gm_buf_addf(out, "\n  mergePatches:\n  - patchData: '%s'\n",
			            gm_buf_cstr(&patch));
		}
	gm_buf_release(&patch);
}

/* The resource-modifier rules document (the ConfigMap's data). */
static void velero_rules(const struct gm_k8s_rules *r, struct gm_buf *out)
{
	gm_buf_adds(out, "version: v1\nresourceModifierRules:\n");
	size_t before = out->len;
	for (size_t i = 0; i < r->n_storage_classes; i++) {
		const struct gm_k8s_pair *p = &r->storage_classes[i];
		gm_buf_adds(out, "- conditions:\n    groupResource: persistentvolumeclaims\n"
		                 "    matches:\n    - path: /spec/storageClassName\n      value: ");
		yscalar(out, p->from);
		gm_buf_adds(out, "\n  patches:\n  - operation: replace\n"
		                 "    path: /spec/storageClassName\n    value: ");
		yscalar(out, p->to);
		gm_buf_adds(out, "\n- conditions:\n    groupResource: statefulsets.apps\n"
		                 "  patches:\n  - operation: test\n"
		                 "    path: /spec/volumeClaimTemplates/0/spec/storageClassName\n"
		                 "    value: ");
		yscalar(out, p->from);
		gm_buf_adds(out, "\n  - operation: replace\n"
		                 "    path: /spec/volumeClaimTemplates/0/spec/storageClassName\n"
		                 "    value: ");
		yscalar(out, p->to);
		gm_buf_addch(out, '\n');
	}
	selector_rules(r->accelerators, r->n_accelerators, "cloud.google.com/gke-accelerator", out);
	selector_rules(r->node_pools, r->n_node_pools, "cloud.google.com/gke-nodepool", out);
	static const char *const annotated[] = {"serviceaccounts", "services",
	                                        "ingresses.networking.k8s.io"};
	struct gm_buf patch = GM_BUF_INIT;
	gm_buf_adds(&patch, "{\"metadata\":{\"annotations\":{");
	size_t n = 0;
	for (size_t i = 0; i < r->n_drop_annotations; i++) {
		const char *k = r->drop_annotations[i];
		if (strchr(k, '*'))
			continue; /* a merge patch cannot name "every key under a prefix" */
		gm_buf_adds(&patch, n++ ? "," : "");
		gm_json_escape(&patch, k, strlen(k));
		gm_buf_adds(&patch, ":null");
	}
	for (size_t i = 0; i < r->n_replace_annotations; i++) {
		gm_buf_adds(&patch, n++ ? "," : "");
		gm_json_escape(&patch, r->replace_annotations[i].from,
		               strlen(r->replace_annotations[i].from));
		gm_buf_addch(&patch, ':');
		gm_json_escape(&patch, r->replace_annotations[i].to,
		               strlen(r->replace_annotations[i].to));
	}
	gm_buf_adds(&patch, "}}}");
	for (size_t a = 0; n && a < sizeof(annotated) / sizeof(annotated[0]); a++)
		gm_buf_addf(out,
		            "- conditions:\n    groupResource: %s\n  mergePatches:\n"
		            "  - patchData: '%s'\n",
		            annotated[a], gm_buf_cstr(&patch));
	gm_buf_release(&patch);
	if (out->len == before) {
		gm_buf_truncate(out, before);
		out->data[out->len - 1] = ' '; /* "resourceModifierRules: []" */
		gm_buf_adds(out, "[]\n");
	}
}

void gm_k8s_export_velero(const struct gm_k8s_rules *r, struct gm_buf *out)
{
	struct gm_buf doc = GM_BUF_INIT;
	velero_rules(r, &doc);
	gm_buf_adds(out,
	            "# Velero restore resource modifiers made by gpumigrate k8s rewrite --export "
	            "velero.\n# kubectl apply -f this.yaml; velero restore create "
	            "--resource-modifier-configmap gpumigrate-resource-modifiers …\n"
	            "# Images: use --export velero-plugins (change-image-name).\n"
	            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	            "  name: gpumigrate-resource-modifiers\n  namespace: velero\ndata:\n"
	            "  resource-modifiers.yaml: |\n");
	for (size_t i = 0; i < doc.len;) {
		size_t eol = i;
		while (eol < doc.len && doc.data[eol] != '\n')
			eol++;
		gm_buf_adds(out, "    ");
		gm_buf_add(out, doc.data + i, eol - i);
		gm_buf_addch(out, '\n');
		i = eol + 1;
	}
	gm_buf_release(&doc);
}

void gm_k8s_export_velero_plugins(const struct gm_k8s_rules *r, struct gm_buf *out)
{
	gm_buf_adds(out,
	            "# Velero RestoreItemAction plugin settings made by gpumigrate k8s rewrite "
	            "--export velero-plugins.\n"
	            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	            "  name: change-image-name-config\n  namespace: velero\n  labels:\n"
	            "    velero.io/plugin-config: \"\"\n"
	            "    velero.io/change-image-name: RestoreItemAction\ndata:");
	if (r->n_images == 0)
		gm_buf_adds(out, " {}");
	gm_buf_addch(out, '\n');
	struct gm_buf v = GM_BUF_INIT;
	for (size_t i = 0; i < r->n_images; i++) {
		gm_buf_reset(&v);
		gm_buf_addf(&v, "%s,%s", r->images[i].from, r->images[i].to);
		gm_buf_addf(out, "  case%zu: ", i + 1);
		gm_json_escape(out, v.data, v.len);
		gm_buf_addch(out, '\n');
	}
	gm_buf_release(&v);
	gm_buf_adds(out, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	                 "  name: change-storage-class-config\n  namespace: velero\n  labels:\n"
	                 "    velero.io/plugin-config: \"\"\n"
	                 "    velero.io/change-storage-class: RestoreItemAction\ndata:");
	if (r->n_storage_classes == 0)
		gm_buf_adds(out, " {}");
	gm_buf_addch(out, '\n');
	for (size_t i = 0; i < r->n_storage_classes; i++) {
		gm_buf_adds(out, "  ");
		yscalar(out, r->storage_classes[i].from);
		gm_buf_adds(out, ": ");
		yscalar(out, r->storage_classes[i].to);
		gm_buf_addch(out, '\n');
	}
}

/* The repository part of an image reference (no tag, no digest). */
static void image_name(const char *image, struct gm_buf *out)
{
	size_t n = strcspn(image, "@");
	size_t slash = 0;
	for (size_t i = 0; i < n; i++)
		if (image[i] == '/')
			slash = i;
	const char *colon = memchr(image + slash, ':', n - slash);
	if (colon)
		n = (size_t)(colon - image);
	gm_buf_add(out, image, n);
}

void gm_k8s_export_kustomize(const struct gm_k8s_rules *r, char *const *images, size_t n,
                             struct gm_buf *out)
{
	struct gm_buf name = GM_BUF_INIT, mapped = GM_BUF_INIT;
	char **seen = gm_xcalloc(n + 1, sizeof(*seen));
	size_t count = 0;
	gm_buf_adds(out, "# kustomization.yaml images made by gpumigrate k8s rewrite --export "
	                 "kustomize\nimages:");
	for (size_t i = 0; i < n; i++) {
		gm_buf_reset(&name);
		image_name(images[i], &name);
		gm_buf_reset(&mapped);
		if (!gm_k8s_rules_map_image(r, gm_buf_cstr(&name), &mapped))
			continue;
		bool dup = false;
		for (size_t k = 0; k < count && !dup; k++)
			dup = strcmp(seen[k], gm_buf_cstr(&name)) == 0;
		if (dup)
			continue;
		seen[count++] = gm_xstrdup(gm_buf_cstr(&name));
		gm_buf_adds(out, "\n- name: ");
		yscalar(out, gm_buf_cstr(&name));
		gm_buf_adds(out, "\n  newName: ");
		yscalar(out, gm_buf_cstr(&mapped));
	}
	gm_buf_adds(out, count ? "\n" : " []\n");
	for (size_t k = 0; k < count; k++)
		free(seen[k]);
	free(seen);
	gm_buf_release(&name);
	gm_buf_release(&mapped);
}

/* Finding objects, pod specs and containers in manifest trees, and manifest files on disk. */
#include "k8s/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/xalloc.h"
#include "util/banned.h"

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static void add_object(const struct gm_k8s_file *file, const struct gm_k8s_yamldoc *doc,
                       struct gm_k8s_node *node, struct gm_k8s_object **objs, size_t *n,
                       size_t *cap)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*objs = gm_xreallocarray(*objs, *cap, sizeof(**objs));
	}
	struct gm_k8s_node *meta = gm_k8s_get(node, "metadata");
	const char *name = gm_k8s_get_str(meta, "name");
	if (!name)
		name = gm_k8s_get_str(meta, "generateName");
	(*objs)[(*n)++] = (struct gm_k8s_object){
	        .file = file,
	        .node = node,
	        .kind = or_empty(gm_k8s_get_str(node, "kind")),
	        .api_version = or_empty(gm_k8s_get_str(node, "apiVersion")),
	        .name = or_empty(name),
	        .ns = or_empty(gm_k8s_get_str(meta, "namespace")),
	        .source = doc->source,
	};
}

void gm_k8s_objects(const struct gm_k8s_file *file, struct gm_k8s_object **objs, size_t *n)
{
	size_t cap = 0;
	*objs = NULL;
	*n = 0;
	for (size_t i = 0; i < file->n_docs; i++) {
		const struct gm_k8s_yamldoc *doc = &file->docs[i];
		struct gm_k8s_node *root = doc->root;
		if (!gm_k8s_is_map(root) || !gm_k8s_get_str(root, "kind"))
			continue;
		const char *kind = gm_k8s_get_str(root, "kind");
		struct gm_k8s_node *items = gm_k8s_get(root, "items");
		size_t kl = strlen(kind);
		if (kl >= 4 && strcmp(kind + kl - 4, "List") == 0 && gm_k8s_is_seq(items)) {
			for (size_t k = 0; k < items->n_kids; k++)
				if (gm_k8s_is_map(items->kids[k]) &&
				    gm_k8s_get_str(items->kids[k], "kind"))
					add_object(file, doc, items->kids[k], objs, n, &cap);
			continue;
		}
		add_object(file, doc, root, objs, n, &cap);
	}
}

void gm_k8s_object_label(const struct gm_k8s_object *obj, struct gm_buf *out)
{
	gm_buf_adds(out, *obj->kind ? obj->kind : "(no kind)");
	if (*obj->ns)
		gm_buf_addf(out, "/%s", obj->ns);
	gm_buf_addf(out, "/%s", *obj->name ? obj->name : "(no name)");
}

static void pod_specs(struct gm_k8s_node *n, void (*fn)(void *, struct gm_k8s_node *), void *ctx)
{
	if (!n || (n->type != GM_K8S_MAP && n->type != GM_K8S_SEQ))
		return;
	if (gm_k8s_is_map(n) && gm_k8s_is_seq(gm_k8s_get(n, "containers"))) {
		fn(ctx, n);
		return; /* a pod spec holds no other pod spec */
	}
	for (size_t i = 0; i < n->n_kids; i++)
		if (n->type == GM_K8S_SEQ || i % 2 == 1)
			pod_specs(n->kids[i], fn, ctx);
}

void gm_k8s_each_pod_spec(const struct gm_k8s_object *obj,
                          void (*fn)(void *ctx, struct gm_k8s_node *spec), void *ctx)
{
	pod_specs(obj->node, fn, ctx);
}

void gm_k8s_each_container(struct gm_k8s_node *spec,
                           void (*fn)(void *ctx, struct gm_k8s_node *container), void *ctx)
{
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		struct gm_k8s_node *seq = gm_k8s_get(spec, lists[l]);
		for (size_t i = 0; gm_k8s_is_seq(seq) && i < seq->n_kids; i++)
			if (gm_k8s_is_map(seq->kids[i]))
				fn(ctx, seq->kids[i]);
	}
}

static void argo(struct gm_k8s_node *n, void (*fn)(void *, struct gm_k8s_node *), void *ctx)
{
	if (!n || (n->type != GM_K8S_MAP && n->type != GM_K8S_SEQ))
		return;
	for (size_t i = 0; i < n->n_kids; i++) {
		struct gm_k8s_node *kid = n->kids[i];
		if (n->type == GM_K8S_MAP) {
			if (i % 2 == 0)
				continue;
			const char *k = gm_k8s_str(n->kids[i - 1]);
			if (k && (strcmp(k, "container") == 0 || strcmp(k, "script") == 0) &&
			    gm_k8s_is_map(kid) && gm_k8s_get(kid, "image")) {
				fn(ctx, kid);
				continue;
			}
			if (k && strcmp(k, "containers") == 0)
				continue; /* pod specs are walked on their own */
		}
		argo(kid, fn, ctx);
	}
}

void gm_k8s_each_argo_container(const struct gm_k8s_object *obj,
                                void (*fn)(void *ctx, struct gm_k8s_node *container), void *ctx)
{
	static const char *const kinds[] = {"Workflow", "WorkflowTemplate",
	                                    "ClusterWorkflowTemplate", "CronWorkflow"};
	if (strncmp(obj->api_version, "argoproj.io/", 12) != 0)
		return;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(obj->kind, kinds[i]) == 0)
			argo(obj->node, fn, ctx);
}

bool gm_k8s_container_wants_gpu(const struct gm_k8s_node *container)
{
	struct gm_k8s_node *res = gm_k8s_get(container, "resources");
	return gm_k8s_get(gm_k8s_get(res, "limits"), "nvidia.com/gpu") ||
	       gm_k8s_get(gm_k8s_get(res, "requests"), "nvidia.com/gpu");
}

bool gm_k8s_tolerates_gpu(const struct gm_k8s_node *spec)
{
	struct gm_k8s_node *tol = gm_k8s_get(spec, "tolerations");
	for (size_t i = 0; gm_k8s_is_seq(tol) && i < tol->n_kids; i++) {
		const char *key = gm_k8s_get_str(tol->kids[i], "key");
		const char *op = gm_k8s_get_str(tol->kids[i], "operator");
		if (key && strcmp(key, "nvidia.com/gpu") == 0)
			return true;
		if ((!key || !*key) && op && strcmp(op, "Exists") == 0)
			return true;
	}
	return false;
}

/* ---- files ---- */

struct paths {
	char **v;
	size_t n, cap;
};

static void paths_add(struct paths *p, char *s)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = gm_xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n++] = s;
}

static bool manifest_name(const char *name)
{
	size_t l = strlen(name);
	return (l > 5 && strcmp(name + l - 5, ".yaml") == 0) ||
	       (l > 4 && strcmp(name + l - 4, ".yml") == 0) ||
	       (l > 5 && strcmp(name + l - 5, ".json") == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum gm_rc walk_dir(const char *dir, struct paths *out, int depth, struct gm_err *err)
{
	if (depth > 64)
		return gm_err_set(err, GM_ERR_LIMIT, "'%s': directories nested deeper than 64",
		                  dir);
	DIR *d = opendir(dir);
	if (!d)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot read '%s'", dir);
	struct paths here = {NULL, 0, 0};
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			paths_add(&here, gm_xstrdup(de->d_name));
	closedir(d);
	if (here.n)
		qsort(here.v, here.n, sizeof(*here.v), cmp_str);
	enum gm_rc rc = GM_OK;
	struct gm_buf path = GM_BUF_INIT;
	for (size_t i = 0; i < here.n; i++) {
		struct stat st;
		gm_buf_reset(&path);
		gm_buf_addf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
		            here.v[i]);
		if (rc != GM_OK || lstat(gm_buf_cstr(&path), &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = walk_dir(gm_buf_cstr(&path), out, depth + 1, err);
		else if (manifest_name(here.v[i]) &&
		         (S_ISREG(st.st_mode) ||
		          (S_ISLNK(st.st_mode) && stat(gm_buf_cstr(&path), &st) == 0 &&
		           S_ISREG(st.st_mode))))
			paths_add(out, gm_xstrdup(gm_buf_cstr(&path)));
	}
	for (size_t i = 0; i < here.n; i++)
		free(here.v[i]);
	free(here.v);
	gm_buf_release(&path);
	return rc;
}

enum gm_rc gm_k8s_find_files(char **paths_in, size_t n_in, char ***paths, size_t *n,
                             struct gm_err *err)
{
	struct paths out = {NULL, 0, 0};
	enum gm_rc rc = GM_OK;
	for (size_t i = 0; i < n_in && rc == GM_OK; i++) {
		struct stat st;
		if (stat(paths_in[i], &st) != 0) {
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno, "cannot read '%s'",
			                  paths_in[i]);
			break;
		}
		if (S_ISDIR(st.st_mode))
			rc = walk_dir(paths_in[i], &out, 0, err);
		else
			paths_add(&out, gm_xstrdup(paths_in[i]));
	}
	if (rc != GM_OK) {
		for (size_t i = 0; i < out.n; i++)
			free(out.v[i]);
		free(out.v);
		out.v = NULL;
		out.n = 0;
	}
	*paths = out.v;
	*n = out.n;
	return rc;
}

/* Node labels from an inventory. */
#include "k8s/labels.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "assess/gke_labels.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

void gm_k8s_node_labels_init(struct gm_k8s_node_labels *l)
{
	memset(l, 0, sizeof(*l));
}

void gm_k8s_node_labels_release(struct gm_k8s_node_labels *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->keys[i]);
		free(l->values[i]);
	}
	for (size_t i = 0; i < l->n_notes; i++)
		free(l->notes[i]);
	free(l->keys);
	free(l->values);
	free(l->notes);
	memset(l, 0, sizeof(*l));
}

/* A Kubernetes label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
static bool valid_value(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 63 || !isalnum((unsigned char)v[0]) || !isalnum((unsigned char)v[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("-_.", v[i]))
			return false;
	return true;
}

static void add_note(struct gm_k8s_node_labels *l, const char *key, const char *why)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_addf(&b, "%s: left out: %s", key, why);
	l->notes = gm_xreallocarray(l->notes, l->n_notes + 1, sizeof(*l->notes));
	l->notes[l->n_notes++] = gm_buf_detach(&b);
}

static void add(struct gm_k8s_node_labels *l, const char *key, const char *value)
{
	if (!valid_value(value)) {
		struct gm_buf b = GM_BUF_INIT;
		gm_buf_addf(&b, "'%s' is not a valid label value", value);
		add_note(l, key, gm_buf_cstr(&b));
		gm_buf_release(&b);
		return;
	}
	l->keys = gm_xreallocarray(l->keys, l->n + 1, sizeof(*l->keys));
	l->values = gm_xreallocarray(l->values, l->n + 1, sizeof(*l->values));
	l->keys[l->n] = gm_xstrdup(key);
	l->values[l->n++] = gm_xstrdup(value);
}

static void addf_int(struct gm_k8s_node_labels *l, const char *key, long long v)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_addf(&b, "%lld", v);
	add(l, key, gm_buf_cstr(&b));
	gm_buf_release(&b);
}

static const char *why(const struct gm_fact *f)
{
	return f->why ? f->why : "not known";
}

const char *gm_k8s_gpu_family(int major, int minor)
{
	switch (major) {
	case 3: return "kepler";
	case 5: return "maxwell";
	case 6: return "pascal";
	case 7: return minor >= 5 ? "turing" : "volta";
	case 8: return minor == 9 ? "ada-lovelace" : "ampere";
	case 9: return "hopper";
	case 10:
	case 12: return "blackwell";
	default: return NULL;
	}
}

/* Splits "a.b.c" into up to three non-negative parts; returns how many. */
static int version_parts(const char *s, char parts[3][16])
{
	int n = 0;
	const char *p = s;
	while (n < 3 && *p) {
		size_t len = strspn(p, "0123456789");
		if (len == 0 || len >= 16)
			return 0;
		memcpy(parts[n], p, len);
		parts[n][len] = '\0';
		n++;
		p += len;
		if (*p == '.')
			p++;
		else if (*p)
			return 0;
	}
	return n;
}

void gm_k8s_node_labels(const struct gm_inventory *inv, struct gm_k8s_node_labels *l)
{
	const struct gm_nvidia *nv = &inv->nvidia;
	if (!gm_fact_ok(&nv->nvml)) {
		add_note(l, "nvidia.com/*", why(&nv->nvml));
		return;
	}
	if (nv->n_gpus == 0) {
		add_note(l, "nvidia.com/*", "the inventory lists no GPU");
		return;
	}
	const struct gm_gpu *g0 = &nv->gpus[0];
	/* one model per node: the labels describe it only when every GPU agrees */
	const char *name = gm_fact_ok(&g0->name.f) ? g0->name.v : NULL;
	for (size_t i = 1; name && i < nv->n_gpus; i++)
		if (!gm_fact_ok(&nv->gpus[i].name.f) || strcmp(nv->gpus[i].name.v, name) != 0)
			name = NULL;
	if (name) {
		struct gm_buf p = GM_BUF_INIT;
		for (const char *c = name; *c; c++)
			gm_buf_addch(&p, *c == ' ' ? '-' : *c);
		add(l, "nvidia.com/gpu.product", gm_buf_cstr(&p));
		gm_buf_release(&p);
	} else {
		add_note(l, "nvidia.com/gpu.product",
		         gm_fact_ok(&g0->name.f) ? "the GPUs are not all the same model"
		                                 : why(&g0->name.f));
	}
	addf_int(l, "nvidia.com/gpu.count", (long long)nv->n_gpus);
	if (gm_fact_ok(&g0->memory_total_bytes.f))
		addf_int(l, "nvidia.com/gpu.memory", (long long)(g0->memory_total_bytes.v >> 20));
	else
		add_note(l, "nvidia.com/gpu.memory", why(&g0->memory_total_bytes.f));
	char parts[3][16];
	int np = gm_fact_ok(&nv->driver_version.f) ? version_parts(nv->driver_version.v, parts) : 0;
	if (np >= 2) {
		add(l, "nvidia.com/cuda.driver-version.major", parts[0]);
		add(l, "nvidia.com/cuda.driver-version.minor", parts[1]);
		if (np == 3)
			add(l, "nvidia.com/cuda.driver-version.revision", parts[2]);
		else
			add_note(l, "nvidia.com/cuda.driver-version.revision",
			         "the driver version has no third part");
	} else {
		add_note(l, "nvidia.com/cuda.driver-version.*",
		         gm_fact_ok(&nv->driver_version.f) ? "the driver version is not N.N[.N]"
		                                           : why(&nv->driver_version.f));
	}
	if (gm_fact_ok(&nv->cuda_driver_version.f) && nv->cuda_driver_version.v > 0) {
		addf_int(l, "nvidia.com/cuda.runtime-version.major",
		         (long long)(nv->cuda_driver_version.v / 1000));
		addf_int(l, "nvidia.com/cuda.runtime-version.minor",
		         (long long)(nv->cuda_driver_version.v % 1000 / 10));
	} else {
		add_note(l, "nvidia.com/cuda.runtime-version.*", why(&nv->cuda_driver_version.f));
	}
	np = gm_fact_ok(&g0->compute_capability.f) ? version_parts(g0->compute_capability.v, parts)
	                                           : 0;
	if (np == 2) {
		add(l, "nvidia.com/gpu.compute.major", parts[0]);
		add(l, "nvidia.com/gpu.compute.minor", parts[1]);
		int64_t ma = 0, mi = 0;
		const char *fam = gm_parse_i64(parts[0], 10, &ma) == GM_OK &&
		                                  gm_parse_i64(parts[1], 10, &mi) == GM_OK
		                          ? gm_k8s_gpu_family((int)ma, (int)mi)
		                          : NULL;
		if (fam)
			add(l, "nvidia.com/gpu.family", fam);
		else
			add_note(l, "nvidia.com/gpu.family",
			         "no family known for this compute capability");
	} else {
		add_note(l, "nvidia.com/gpu.compute.*", why(&g0->compute_capability.f));
	}
	const char *gke = name ? gm_gke_accelerator_for_gpu(name) : NULL;
	if (gke) {
		add(l, "accelerator", gke);
		add(l, "cloud.google.com/gke-accelerator", gke);
	} else {
		add_note(l, "accelerator",
		         name ? "GKE has no accelerator name for this GPU"
		              : "the GPU model is not known for every GPU");
	}
}

void gm_k8s_labels_nfd(const struct gm_k8s_node_labels *l, struct gm_buf *out)
{
	gm_buf_adds(out,
	            "# Node Feature Discovery features.d file made by gpumigrate k8s labels.\n"
	            "# Labels without a prefix get NFD's feature.node.kubernetes.io/ prefix.\n");
	for (size_t i = 0; i < l->n_notes; i++)
		gm_buf_addf(out, "# %s\n", l->notes[i]);
	for (size_t i = 0; i < l->n; i++)
		gm_buf_addf(out, "%s=%s\n", l->keys[i], l->values[i]);
}

void gm_k8s_labels_kubectl(const struct gm_k8s_node_labels *l, const char *node, struct gm_buf *out)
{
	for (size_t i = 0; i < l->n_notes; i++)
		gm_buf_addf(out, "# %s\n", l->notes[i]);
	if (l->n == 0)
		return;
	gm_buf_addf(out, "kubectl label node %s --overwrite", node);
	for (size_t i = 0; i < l->n; i++)
		gm_buf_addf(out, " \\\n  %s=%s", l->keys[i], l->values[i]);
	gm_buf_addch(out, '\n');
}

void gm_k8s_labels_json(const struct gm_k8s_node_labels *l, const char *node, struct gm_buf *out)
{
	struct gm_json j;
	gm_json_init(&j, out, true);
	gm_json_begin_object(&j, NULL);
	gm_json_str(&j, "node", node);
	gm_json_begin_object(&j, "labels");
	for (size_t i = 0; i < l->n; i++)
		gm_json_str(&j, l->keys[i], l->values[i]);
	gm_json_end_object(&j);
	gm_json_begin_array(&j, "notes");
	for (size_t i = 0; i < l->n_notes; i++)
		gm_json_str(&j, NULL, l->notes[i]);
	gm_json_end_array(&j);
	gm_json_end_object(&j);
	gm_buf_addch(out, '\n');
}

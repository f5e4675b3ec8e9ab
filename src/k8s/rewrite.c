/* Rule application by text splicing: each rule turns into edits at node positions. */
#include "k8s/rewrite.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s/manifest.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

void gm_k8s_edits_init(struct gm_k8s_edits *e)
{
	memset(e, 0, sizeof(*e));
}

void gm_k8s_edits_release(struct gm_k8s_edits *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].text);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

void gm_k8s_edits_add(struct gm_k8s_edits *e, size_t start, size_t end, const char *text)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->v = gm_xreallocarray(e->v, e->cap, sizeof(*e->v));
	}
	e->v[e->n] = (struct gm_k8s_edit){start, end < start ? start : end, gm_xstrdup(text), e->n};
	e->n++;
}

static int cmp_edit(const void *a, const void *b)
{
	const struct gm_k8s_edit *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void gm_k8s_edits_apply(struct gm_k8s_edits *e, const char *text, size_t len, struct gm_buf *out,
                        size_t *skipped)
{
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), cmp_edit);
	size_t pos = 0, skip = 0;
	for (size_t i = 0; i < e->n; i++) {
		const struct gm_k8s_edit *x = &e->v[i];
		if (x->start < pos || x->end > len) {
			skip++;
			continue;
		}
		gm_buf_add(out, text + pos, x->start - pos);
		gm_buf_adds(out, x->text);
		pos = x->end;
	}
	gm_buf_add(out, text + pos, len - pos);
	if (skipped)
		*skipped = skip;
}

/* ---- scalars ---- */

static bool plain_safe(const char *s)
{
	static const char *const words[] = {"true", "false", "null", "~", "yes", "no",
	                                    "on",   "off",   "y",    "n", NULL};
	size_t len = strlen(s);
	if (len == 0 || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || s[len - 1] == ' ')
		return false;
	for (const char *const *w = words; *w; w++)
		if (strcasecmp(s, *w) == 0)
			return false;
	char *end = NULL;
	(void)strtod(s, &end);
	if (end == s + len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '#' || c == '"' || c == '\\' || c == '{' ||
		    c == '}' || c == '[' || c == ']' || c == ',')
			return false;
		if (c == ':' && (i + 1 == len || s[i + 1] == ' '))
			return false;
	}
	return true;
}

void gm_k8s_render_scalar(struct gm_buf *out, const char *value, enum gm_k8s_style style)
{
	if (style == GM_K8S_SINGLE) {
		gm_buf_addch(out, '\'');
		for (const char *p = value; *p; p++) {
			if (*p == '\n' || *p == '\r' || *p == '\t') {
				gm_buf_truncate(out, out->len - (size_t)(p - value) - 1);
				gm_json_escape(out, value, strlen(value));
				return;
			}
			if (*p == '\'')
				gm_buf_addch(out, '\'');
			gm_buf_addch(out, *p);
		}
		gm_buf_addch(out, '\'');
	} else if (style == GM_K8S_PLAIN && plain_safe(value)) {
		gm_buf_adds(out, value);
	} else {
		gm_json_escape(out, value, strlen(value));
	}
}

/* ---- positions ---- */

struct rw {
	const struct gm_k8s_file *file;
	const struct gm_k8s_rules *rules;
	struct gm_k8s_edits edits;
	struct gm_buf *notes;
	bool json;
};

static size_t line_start(const char *text, size_t pos)
{
	while (pos > 0 && text[pos - 1] != '\n')
		pos--;
	return pos;
}

static bool at_line_start(const char *text, size_t pos)
{
	for (size_t i = line_start(text, pos); i < pos; i++)
		if (text[i] != ' ')
			return false;
	return true;
}

/* The position after the end of the line pos is on. */
static size_t after_eol(const struct rw *w, size_t pos)
{
	const char *t = w->file->text;
	if (pos > 0 && t[pos - 1] == '\n')
		return pos;
	while (pos < w->file->len && t[pos] != '\n')
		pos++;
	return pos < w->file->len ? pos + 1 : pos;
}

static void note(struct rw *w, const struct gm_k8s_node *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void note(struct rw *w, const struct gm_k8s_node *n, const char *fmt, ...)
{
	va_list ap;
	gm_buf_addf(w->notes, "%s:%d:%d: ", w->file->name, n->line + 1, n->col + 1);
	va_start(ap, fmt);
	gm_buf_vaddf(w->notes, fmt, ap);
	va_end(ap);
	gm_buf_addch(w->notes, '\n');
}

/* JSON style for new text in coll: a .json file, or a flow collection whose first key or
 * item is double-quoted. */
static bool json_style(const struct rw *w, const struct gm_k8s_node *coll)
{
	if (w->json)
		return true;
	return coll && coll->flow && coll->n_kids && coll->kids[0]->style == GM_K8S_DOUBLE;
}

static void scalar_text(const struct rw *w, const struct gm_k8s_node *coll, const char *s,
                        struct gm_buf *out)
{
	gm_k8s_render_scalar(out, s, json_style(w, coll) ? GM_K8S_DOUBLE : GM_K8S_PLAIN);
}

static void replace_scalar(struct rw *w, const struct gm_k8s_node *n, const char *value)
{
	if (n->type != GM_K8S_SCALAR || strcmp(n->value, value) == 0)
		return;
	struct gm_buf t = GM_BUF_INIT;
	enum gm_k8s_style st = n->style;
	if (st == GM_K8S_LITERAL || st == GM_K8S_FOLDED)
		st = GM_K8S_DOUBLE;
	gm_k8s_render_scalar(&t, value, st);
	gm_k8s_edits_add(&w->edits, n->start, n->end, gm_buf_cstr(&t));
	gm_buf_release(&t);
}

/* Removes pair i (the key's index in kids) of map. */
static bool delete_pair(struct rw *w, const struct gm_k8s_node *map, size_t i)
{
	const struct gm_k8s_node *key = map->kids[i], *val = map->kids[i + 1];
	const char *t = w->file->text;
	if (map->flow) {
		if (i + 2 < map->n_kids)
			gm_k8s_edits_add(&w->edits, key->start, map->kids[i + 2]->start, "");
		else if (i > 0)
			gm_k8s_edits_add(&w->edits, map->kids[i - 1]->end, val->end, "");
		else
			gm_k8s_edits_add(&w->edits, key->start, val->end, "");
		return true;
	}
	if (!at_line_start(t, key->start)) {
		note(w, key, "'%s' is not on a line of its own: left in place", key->value);
		return false;
	}
	gm_k8s_edits_add(&w->edits, line_start(t, key->start), after_eol(w, val->end), "");
	return true;
}

/* Removes every pair of map (the value of a key): "key: {}". */
static void empty_map(struct rw *w, const struct gm_k8s_node *map)
{
	const struct gm_k8s_node *parent = map->parent;
	if (map->flow) {
		gm_k8s_edits_add(&w->edits, map->start, map->end, "{}");
		return;
	}
	for (size_t j = 1; gm_k8s_is_map(parent) && j < parent->n_kids; j += 2)
		if (parent->kids[j] == map)
			gm_k8s_edits_add(&w->edits, parent->kids[j - 1]->end, map->end, ": {}");
}

/* Inserts "key: value" into map after pair i (or at the end when i is past the end). */
static void insert_pair(struct rw *w, const struct gm_k8s_node *map, size_t i, const char *key,
                        const char *value)
{
	struct gm_buf t = GM_BUF_INIT;
	const struct gm_k8s_node *after = i + 1 < map->n_kids ? map->kids[i + 1]
	                                  : map->n_kids       ? map->kids[map->n_kids - 1]
	                                                      : NULL;
	if (map->flow) {
		gm_buf_adds(&t, after ? ", " : "");
		scalar_text(w, map, key, &t);
		gm_buf_adds(&t, ": ");
		scalar_text(w, map, value, &t);
		gm_k8s_edits_add(&w->edits, after ? after->end : map->start + 1,
		                 after ? after->end : map->start + 1, gm_buf_cstr(&t));
	} else if (after) {
		size_t pos = after_eol(w, after->end);
		if (pos == w->file->len && (pos == 0 || w->file->text[pos - 1] != '\n'))
			gm_buf_addch(&t, '\n');
		gm_buf_addpad(&t, ' ', (size_t)map->kids[0]->col);
		scalar_text(w, map, key, &t);
		gm_buf_adds(&t, ": ");
		scalar_text(w, map, value, &t);
		gm_buf_addch(&t, '\n');
		gm_k8s_edits_add(&w->edits, pos, pos, gm_buf_cstr(&t));
	}
	gm_buf_release(&t);
}

/* A list item made of pairs, as flow text ("{k: v, k: v}") or as block lines at col. */
static void item_text(const struct rw *w, const struct gm_k8s_node *ctx, const char *const *kv,
                      size_t n, bool flow, size_t col, struct gm_buf *t)
{
	if (flow)
		gm_buf_addch(t, '{');
	for (size_t i = 0; i < n; i++) {
		if (flow) {
			gm_buf_adds(t, i ? ", " : "");
		} else {
			gm_buf_addpad(t, ' ', i ? col + 2 : col);
			gm_buf_adds(t, i ? "" : "- ");
		}
		scalar_text(w, ctx, kv[2 * i], t);
		gm_buf_adds(t, ": ");
		scalar_text(w, ctx, kv[2 * i + 1], t);
		if (!flow)
			gm_buf_addch(t, '\n');
	}
	if (flow)
		gm_buf_addch(t, '}');
}

/* Appends items (each n_kv pairs) to the sequence seq. */
static void append_items(struct rw *w, const struct gm_k8s_node *seq,
                         const char *const *const *items, size_t n_items, size_t n_kv)
{
	struct gm_buf t = GM_BUF_INIT;
	if (seq->flow) {
		for (size_t i = 0; i < n_items; i++) {
			gm_buf_adds(&t, (i || seq->n_kids) ? ", " : "");
			item_text(w, seq, items[i], n_kv, true, 0, &t);
		}
		size_t pos = seq->n_kids ? seq->kids[seq->n_kids - 1]->end : seq->start + 1;
		gm_k8s_edits_add(&w->edits, pos, pos, gm_buf_cstr(&t));
	} else {
		size_t pos = after_eol(w, seq->end);
		if (pos == w->file->len && (pos == 0 || w->file->text[pos - 1] != '\n'))
			gm_buf_addch(&t, '\n');
		for (size_t i = 0; i < n_items; i++)
			item_text(w, seq, items[i], n_kv, false, (size_t)seq->col, &t);
		gm_k8s_edits_add(&w->edits, pos, pos, gm_buf_cstr(&t));
	}
	gm_buf_release(&t);
}

/* How far a block sequence's "-" sits right of its key in this map (0 or 2, usually). */
static size_t seq_indent(const struct gm_k8s_node *map)
{
	for (size_t i = 1; i < map->n_kids; i += 2) {
		const struct gm_k8s_node *v = map->kids[i];
		if (gm_k8s_is_seq(v) && !v->flow && v->col >= map->kids[i - 1]->col)
			return (size_t)(v->col - map->kids[i - 1]->col);
	}
	return 0;
}

/* Adds "key:" with a list of items to the mapping map (at its end). */
static void add_key_with_items(struct rw *w, const struct gm_k8s_node *map, const char *key,
                               const char *const *const *items, size_t n_items, size_t n_kv)
{
	struct gm_buf t = GM_BUF_INIT;
	if (map->flow) {
		const struct gm_k8s_node *last = map->n_kids ? map->kids[map->n_kids - 1] : NULL;
		gm_buf_adds(&t, last ? ", " : "");
		scalar_text(w, map, key, &t);
		gm_buf_adds(&t, ": [");
		for (size_t i = 0; i < n_items; i++) {
			gm_buf_adds(&t, i ? ", " : "");
			item_text(w, map, items[i], n_kv, true, 0, &t);
		}
		gm_buf_addch(&t, ']');
		size_t pos = last ? last->end : map->start + 1;
		gm_k8s_edits_add(&w->edits, pos, pos, gm_buf_cstr(&t));
	} else if (map->n_kids) {
		size_t col = (size_t)map->kids[0]->col;
		size_t pos = after_eol(w, map->end);
		if (pos == w->file->len && (pos == 0 || w->file->text[pos - 1] != '\n'))
			gm_buf_addch(&t, '\n');
		gm_buf_addpad(&t, ' ', col);
		scalar_text(w, map, key, &t);
		gm_buf_adds(&t, ":\n");
		for (size_t i = 0; i < n_items; i++)
			item_text(w, map, items[i], n_kv, false, col + seq_indent(map), &t);
		gm_k8s_edits_add(&w->edits, pos, pos, gm_buf_cstr(&t));
	}
	gm_buf_release(&t);
}

/* ---- the rules ---- */

static const struct gm_k8s_labelmap *gke_labels(const struct rw *w, const char *key,
                                                const char *value, const char **what)
{
	if (strcmp(key, "cloud.google.com/gke-accelerator") == 0) {
		*what = "accelerators";
		return gm_k8s_rules_accelerator(w->rules, value);
	}
	if (strcmp(key, "cloud.google.com/gke-nodepool") == 0) {
		*what = "nodePools";
		return gm_k8s_rules_node_pool(w->rules, value);
	}
	*what = NULL;
	return NULL;
}

static void rewrite_node_selector(struct rw *w, const struct gm_k8s_node *sel)
{
	for (size_t i = 0; gm_k8s_is_map(sel) && i + 1 < sel->n_kids; i += 2) {
		const struct gm_k8s_node *k = sel->kids[i], *v = sel->kids[i + 1];
		const char *what = NULL;
		if (!gm_k8s_str(k) || !gm_k8s_str(v))
			continue;
		const struct gm_k8s_labelmap *lm = gke_labels(w, k->value, v->value, &what);
		if (!what)
			continue;
		if (!lm) {
			note(w, v, "no %s rule for '%s': nodeSelector left as it is", what,
			     v->value);
			continue;
		}
		const struct gm_k8s_node *existing = gm_k8s_get_key(sel, lm->labels[0].key);
		if (existing && existing != k) {
			delete_pair(w, sel, i);
		} else {
			replace_scalar(w, k, lm->labels[0].key);
			replace_scalar(w, v, lm->labels[0].value);
		}
		for (size_t l = 1; l < lm->n; l++)
			if (!gm_k8s_get_key(sel, lm->labels[l].key))
				insert_pair(w, sel, i, lm->labels[l].key, lm->labels[l].value);
	}
}

static void rewrite_expressions(struct rw *w, const struct gm_k8s_node *exprs)
{
	for (size_t i = 0; gm_k8s_is_seq(exprs) && i < exprs->n_kids; i++) {
		const struct gm_k8s_node *key = gm_k8s_get(exprs->kids[i], "key");
		const struct gm_k8s_node *vals = gm_k8s_get(exprs->kids[i], "values");
		const char *what = NULL;
		if (!gm_k8s_str(key))
			continue;
		(void)gke_labels(w, key->value, "", &what);
		if (!what)
			continue;
		const char *label = NULL;
		bool ok = gm_k8s_is_seq(vals) && vals->n_kids > 0;
		for (size_t k = 0; ok && k < vals->n_kids; k++) {
			const struct gm_k8s_labelmap *lm = gke_labels(
			        w, key->value,
			        gm_k8s_str(vals->kids[k]) ? vals->kids[k]->value : "", &what);
			if (!lm) {
				note(w, vals->kids[k],
				     "no %s rule for '%s': node affinity left as it is", what,
				     gm_k8s_str(vals->kids[k]) ? vals->kids[k]->value : "?");
				ok = false;
			} else if (label && strcmp(label, lm->labels[0].key) != 0) {
				note(w, key,
				     "the %s rules for these values use different labels: node "
				     "affinity left as it is",
				     what);
				ok = false;
			} else {
				label = lm->labels[0].key;
			}
		}
		if (!ok || !label)
			continue;
		replace_scalar(w, key, label);
		for (size_t k = 0; k < vals->n_kids; k++)
			replace_scalar(w, vals->kids[k],
			               gke_labels(w, key->value, vals->kids[k]->value, &what)
			                       ->labels[0]
			                       .value);
	}
}

static void rewrite_affinity(struct rw *w, const struct gm_k8s_node *spec)
{
	const struct gm_k8s_node *na = gm_k8s_get(gm_k8s_get(spec, "affinity"), "nodeAffinity");
	const struct gm_k8s_node *req =
	        gm_k8s_get(gm_k8s_get(na, "requiredDuringSchedulingIgnoredDuringExecution"),
	                   "nodeSelectorTerms");
	for (size_t i = 0; gm_k8s_is_seq(req) && i < req->n_kids; i++)
		rewrite_expressions(w, gm_k8s_get(req->kids[i], "matchExpressions"));
	const struct gm_k8s_node *pref =
	        gm_k8s_get(na, "preferredDuringSchedulingIgnoredDuringExecution");
	for (size_t i = 0; gm_k8s_is_seq(pref) && i < pref->n_kids; i++)
		rewrite_expressions(
		        w, gm_k8s_get(gm_k8s_get(pref->kids[i], "preference"), "matchExpressions"));
}

static void rewrite_image(struct rw *w, const struct gm_k8s_node *container)
{
	const struct gm_k8s_node *img = gm_k8s_get(container, "image");
	struct gm_buf to = GM_BUF_INIT;
	if (gm_k8s_str(img) && gm_k8s_rules_map_image(w->rules, img->value, &to))
		replace_scalar(w, img, gm_buf_cstr(&to));
	gm_buf_release(&to);
}

static void container_cb(void *ctx, struct gm_k8s_node *c)
{
	rewrite_image(ctx, c);
}

static void rewrite_storage_class(struct rw *w, const struct gm_k8s_node *pvc_spec)
{
	const struct gm_k8s_node *sc = gm_k8s_get(pvc_spec, "storageClassName");
	const char *to = gm_k8s_rules_storage_class(w->rules, gm_k8s_str(sc));
	if (to)
		replace_scalar(w, sc, to);
}

static void add_toleration(struct rw *w, const struct gm_k8s_node *spec)
{
	static const char *const tol[] = {"key",    "nvidia.com/gpu", "operator",
	                                  "Exists", "effect",         "NoSchedule"};
	static const char *const *const items[] = {tol};
	const struct gm_k8s_node *seq = gm_k8s_get(spec, "tolerations");
	if (gm_k8s_is_seq(seq))
		append_items(w, seq, items, 1, 3);
	else if (!seq || (seq->type == GM_K8S_SCALAR && seq->value_len == 0))
		add_key_with_items(w, spec, "tolerations", items, 1, 3);
	else
		note(w, seq, "tolerations is not a list: the GPU toleration was not added");
}

static void add_pull_secrets(struct rw *w, const struct gm_k8s_node *spec)
{
	const struct gm_k8s_node *seq = gm_k8s_get(spec, "imagePullSecrets");
	size_t n = w->rules->n_pull_secrets, k = 0;
	const char **kv = gm_xcalloc(2 * n + 1, sizeof(*kv));
	const char *const **items = gm_xcalloc(n + 1, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		bool have = false;
		for (size_t j = 0; gm_k8s_is_seq(seq) && j < seq->n_kids && !have; j++) {
			const char *name = gm_k8s_get_str(seq->kids[j], "name");
			have = name && strcmp(name, w->rules->pull_secrets[i]) == 0;
		}
		if (have)
			continue;
		kv[2 * k] = "name";
		kv[2 * k + 1] = w->rules->pull_secrets[i];
		items[k] = kv + 2 * k;
		k++;
	}
	if (k && gm_k8s_is_seq(seq))
		append_items(w, seq, items, k, 1);
	else if (k && (!seq || (seq->type == GM_K8S_SCALAR && seq->value_len == 0)))
		add_key_with_items(w, spec, "imagePullSecrets", items, k, 1);
	else if (k)
		note(w, seq, "imagePullSecrets is not a list: nothing added");
	free(items);
	free(kv);
}

static void pod_spec_cb(void *ctx, struct gm_k8s_node *spec)
{
	struct rw *w = ctx;
	gm_k8s_each_container(spec, container_cb, w);
	rewrite_node_selector(w, gm_k8s_get(spec, "nodeSelector"));
	rewrite_affinity(w, spec);
	const struct gm_k8s_node *vols = gm_k8s_get(spec, "volumes");
	for (size_t i = 0; gm_k8s_is_seq(vols) && i < vols->n_kids; i++)
		rewrite_storage_class(w,
		                      gm_k8s_get(gm_k8s_get(gm_k8s_get(vols->kids[i], "ephemeral"),
		                                            "volumeClaimTemplate"),
		                                 "spec"));
	bool gpu = false;
	const struct gm_k8s_node *cs = gm_k8s_get(spec, "containers");
	for (size_t i = 0; gm_k8s_is_seq(cs) && i < cs->n_kids && !gpu; i++)
		gpu = gm_k8s_container_wants_gpu(cs->kids[i]);
	cs = gm_k8s_get(spec, "initContainers");
	for (size_t i = 0; gm_k8s_is_seq(cs) && i < cs->n_kids && !gpu; i++)
		gpu = gm_k8s_container_wants_gpu(cs->kids[i]);
	if (w->rules->gpu_tolerations && gpu && !gm_k8s_tolerates_gpu(spec))
		add_toleration(w, spec);
	if (w->rules->n_pull_secrets)
		add_pull_secrets(w, spec);
}

static void rewrite_annotations(struct rw *w, const struct gm_k8s_node *obj)
{
	const struct gm_k8s_node *ann = gm_k8s_get(gm_k8s_get(obj, "metadata"), "annotations");
	if (!gm_k8s_is_map(ann))
		return;
	size_t drops = 0;
	for (size_t i = 0; i + 1 < ann->n_kids; i += 2)
		drops += gm_k8s_rules_drops(w->rules, gm_k8s_str(ann->kids[i]));
	if (drops && drops == ann->n_kids / 2) {
		empty_map(w, ann);
		return;
	}
	for (size_t i = 0; i + 1 < ann->n_kids; i += 2) {
		const char *k = gm_k8s_str(ann->kids[i]);
		const char *to = gm_k8s_rules_replacement(w->rules, k);
		if (gm_k8s_rules_drops(w->rules, k))
			delete_pair(w, ann, i);
		else if (to && gm_k8s_str(ann->kids[i + 1]))
			replace_scalar(w, ann->kids[i + 1], to);
	}
}

static void argo_cb(void *ctx, struct gm_k8s_node *c)
{
	rewrite_image(ctx, c);
}

void gm_k8s_rewrite(const struct gm_k8s_file *file, const struct gm_k8s_rules *rules,
                    struct gm_buf *out, struct gm_buf *notes, size_t *changes)
{
	struct rw w = {file, rules, {NULL, 0, 0}, notes, false};
	size_t nl = strlen(file->name);
	w.json = nl > 5 && strcmp(file->name + nl - 5, ".json") == 0;
	struct gm_k8s_object *objs = NULL;
	size_t n = 0;
	gm_k8s_objects(file, &objs, &n);
	for (size_t i = 0; i < n; i++) {
		const struct gm_k8s_object *o = &objs[i];
		struct gm_k8s_node *spec = gm_k8s_get(o->node, "spec");
		rewrite_annotations(&w, o->node);
		if (strcmp(o->kind, "PersistentVolumeClaim") == 0)
			rewrite_storage_class(&w, spec);
		if (strcmp(o->kind, "StatefulSet") == 0) {
			struct gm_k8s_node *vct = gm_k8s_get(spec, "volumeClaimTemplates");
			for (size_t k = 0; gm_k8s_is_seq(vct) && k < vct->n_kids; k++)
				rewrite_storage_class(&w, gm_k8s_get(vct->kids[k], "spec"));
		}
		gm_k8s_each_pod_spec(o, pod_spec_cb, &w);
		gm_k8s_each_argo_container(o, argo_cb, &w);
	}
	free(objs);
	size_t skipped = 0;
	gm_k8s_edits_apply(&w.edits, file->text, file->len, out, &skipped);
	if (skipped)
		gm_buf_addf(notes, "%s: %zu edits overlapped others and were left out\n",
		            file->name, skipped);
	*changes = w.edits.n - skipped;
	gm_k8s_edits_release(&w.edits);
}

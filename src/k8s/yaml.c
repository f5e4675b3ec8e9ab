/* The position-keeping manifest tree, built from libfyaml's parse events. */
#include "k8s/yaml.h"

#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "util/banned.h"

static void node_free(struct gm_k8s_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

void gm_k8s_file_release(struct gm_k8s_file *file)
{
	if (!file)
		return;
	for (size_t i = 0; i < file->n_docs; i++) {
		node_free(file->docs[i].root);
		free(file->docs[i].source);
	}
	free(file->docs);
	free(file->name);
	free(file->text);
	memset(file, 0, sizeof(*file));
}

static void add_kid(struct gm_k8s_node *parent, struct gm_k8s_node *kid)
{
	/* capacities are powers of two: grow when the count reaches one */
	size_t n = parent->n_kids;
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
		parent->kids =
		        gm_xreallocarray(parent->kids, n ? n * 2 : 4, sizeof(struct gm_k8s_node *));
	parent->kids[parent->n_kids++] = kid;
	kid->parent = parent;
}

/* The end of a block collection is the end of its last value (libfyaml's end event sits on
 * the next token, past comments). */
static size_t block_end(const struct gm_k8s_node *n)
{
	if (n->n_kids == 0)
		return n->start;
	return n->kids[n->n_kids - 1]->end;
}

static void set_start(struct gm_k8s_node *n, const struct fy_mark *m)
{
	if (!m)
		return;
	n->start = n->end = m->input_pos;
	n->line = m->line;
	n->col = m->column;
}

static enum gm_k8s_style scalar_style(enum fy_scalar_style s)
{
	switch (s) {
	case FYSS_SINGLE_QUOTED: return GM_K8S_SINGLE;
	case FYSS_DOUBLE_QUOTED: return GM_K8S_DOUBLE;
	case FYSS_LITERAL: return GM_K8S_LITERAL;
	case FYSS_FOLDED: return GM_K8S_FOLDED;
	default: return GM_K8S_PLAIN;
	}
}

static struct gm_k8s_node *scalar_node(const struct gm_k8s_file *f, struct fy_event *e)
{
	struct gm_k8s_node *n = gm_xcalloc(1, sizeof(*n));
	struct fy_token *t = e->scalar.value;
	n->type = GM_K8S_SCALAR;
	n->style = scalar_style(fy_token_scalar_style(t));
	set_start(n, fy_token_start_mark(t));
	const struct fy_mark *em = fy_token_end_mark(t);
	if (em && em->input_pos >= n->start && em->input_pos <= f->len)
		n->end = em->input_pos;
	/* libfyaml's marks of a quoted scalar cover its content: take the quotes in */
	char q = n->style == GM_K8S_SINGLE ? '\'' : n->style == GM_K8S_DOUBLE ? '"' : 0;
	if (q && n->start > 0 && f->text[n->start - 1] == q && n->end < f->len &&
	    f->text[n->end] == q) {
		n->start--;
		n->col--;
		n->end++;
	}
	size_t len = 0;
	const char *s = fy_token_get_text(t, &len);
	n->value = gm_xstrndup(s ? s : "", s ? len : 0);
	n->value_len = s ? len : 0;
	return n;
}

/* The text of a helm "# Source: path" comment in [from, to), or NULL. */
static char *find_source(const char *text, size_t from, size_t to)
{
	static const char tag[] = "# Source: ";
	char *found = NULL;
	size_t i = from;
	while (i < to) {
		size_t eol = i;
		while (eol < to && text[eol] != '\n')
			eol++;
		if (eol - i > sizeof(tag) - 1 && memcmp(text + i, tag, sizeof(tag) - 1) == 0) {
			free(found);
			found = gm_xstrndup(text + i + sizeof(tag) - 1,
			                    eol - i - (sizeof(tag) - 1));
		}
		i = eol + 1;
	}
	return found;
}

static enum gm_rc parse_error(struct gm_err *err, const char *name, struct fy_diag *diag,
                              const struct fy_mark *last)
{
	void *it = NULL;
	struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
	if (e)
		return gm_err_set(err, GM_ERR_PARSE, "%s:%d:%d: %s", name, e->line, e->column,
		                  e->msg); /* libfyaml's diagnostics count from 1 */
	return gm_err_set(err, GM_ERR_PARSE, "%s:%d:%d: not valid YAML", name,
	                  last ? last->line + 1 : 1, last ? last->column + 1 : 1);
}

static enum gm_rc check_text(const char *name, const char *text, size_t len, struct gm_err *err)
{
	size_t bad = 0;
	bool control = false;
	for (size_t i = 0; i < len && !control; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			control = true, bad = i;
	}
	if (!control && gm_utf8_valid(text, len, &bad))
		return GM_OK;
	size_t line = 1, col = 1;
	for (size_t i = 0; i < bad; i++) {
		if (text[i] == '\n')
			line++, col = 1;
		else if (((unsigned char)text[i] & 0xc0) != 0x80)
			col++;
	}
	return gm_err_set(err, GM_ERR_PARSE,
	                  "%s:%zu:%zu: %s (byte 0x%02x); manifests must be UTF-8 text", name, line,
	                  col, control ? "control character" : "not valid UTF-8",
	                  (unsigned char)text[bad]);
}

enum gm_rc gm_k8s_file_parse(struct gm_k8s_file *file, const char *name, const char *text,
                             size_t len, struct gm_err *err)
{
	memset(file, 0, sizeof(*file));
	file->name = gm_xstrdup(name);
	if (len > GM_K8S_MAX_BYTES) {
		gm_k8s_file_release(file);
		return gm_err_set(err, GM_ERR_LIMIT, "'%s' is larger than %u MiB", name,
		                  GM_K8S_MAX_BYTES >> 20);
	}
	enum gm_rc rc = check_text(name, text, len, err);
	if (rc != GM_OK) {
		gm_k8s_file_release(file);
		return rc;
	}
	file->text = gm_xmalloc(len + 1);
	memcpy(file->text, text, len);
	file->text[len] = '\0';
	file->len = len;

	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.level = FYET_ERROR;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (!diag)
		gm_xalloc_fail();
	fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg cfg = {
	        .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DEFAULT_VERSION_1_2,
	        .diag = diag,
	};
	struct fy_parser *fyp = fy_parser_create(&cfg);
	if (!fyp)
		gm_xalloc_fail();
	struct gm_k8s_node *stack[GM_K8S_MAX_DEPTH];
	int depth = 0;
	size_t cap = 0, prev_end = 0;
	struct fy_mark last = {0, 0, 0};
	struct gm_k8s_yamldoc *doc = NULL;
	struct fy_event *e = NULL;
	fy_parser_set_string(fyp, file->text, len);
	while ((e = fy_parser_parse(fyp)) != NULL) {
		const struct fy_mark *sm = fy_event_start_mark(e);
		if (sm)
			last = *sm;
		struct gm_k8s_node *n = NULL;
		switch (e->type) {
		case FYET_DOCUMENT_START:
			if (file->n_docs == cap) {
				cap = cap ? cap * 2 : 4;
				file->docs = gm_xreallocarray(file->docs, cap, sizeof(*file->docs));
			}
			doc = &file->docs[file->n_docs++];
			memset(doc, 0, sizeof(*doc));
			doc->start = sm && !e->document_start.implicit ? sm->input_pos : prev_end;
			break;
		case FYET_DOCUMENT_END:
			if (doc && doc->root)
				prev_end = doc->root->end;
			doc = NULL;
			break;
		case FYET_MAPPING_START:
		case FYET_SEQUENCE_START:
			n = gm_xcalloc(1, sizeof(*n));
			n->type = e->type == FYET_MAPPING_START ? GM_K8S_MAP : GM_K8S_SEQ;
			n->flow = fy_event_get_node_style(e) == FYNS_FLOW;
			set_start(n, sm);
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (depth > 0) {
				struct gm_k8s_node *c = stack[--depth];
				const struct fy_mark *em = fy_event_end_mark(e);
				c->end = c->flow && em ? em->input_pos : block_end(c);
				if (c->end < c->start)
					c->end = c->start;
			}
			break;
		case FYET_SCALAR: n = scalar_node(file, e); break;
		case FYET_ALIAS:
			n = gm_xcalloc(1, sizeof(*n));
			n->type = GM_K8S_ALIAS;
			set_start(n, sm);
			if (fy_event_end_mark(e))
				n->end = fy_event_end_mark(e)->input_pos;
			break;
		default: break;
		}
		fy_parser_event_free(fyp, e);
		if (!n)
			continue;
		if (depth > 0)
			add_kid(stack[depth - 1], n);
		else if (doc && !doc->root)
			doc->root = n;
		else {
			node_free(n); /* cannot happen with a well-formed event stream */
			continue;
		}
		if (n->type == GM_K8S_MAP || n->type == GM_K8S_SEQ) {
			if (depth == GM_K8S_MAX_DEPTH) {
				rc = gm_err_set(err, GM_ERR_LIMIT,
				                "%s:%d:%d: nested deeper than %d levels", name,
				                n->line + 1, n->col + 1, GM_K8S_MAX_DEPTH);
				goto out;
			}
			stack[depth++] = n;
		}
	}
	if (fy_parser_get_stream_error(fyp))
		rc = parse_error(err, name, diag, &last);
	for (size_t i = 0; rc == GM_OK && i < file->n_docs; i++) {
		struct gm_k8s_yamldoc *d = &file->docs[i];
		if (d->root && d->root->start >= d->start)
			d->source = find_source(file->text, d->start, d->root->start);
	}
out:
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	if (rc != GM_OK)
		gm_k8s_file_release(file);
	return rc;
}

enum gm_rc gm_k8s_file_load(struct gm_k8s_file *file, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT;
	enum gm_rc rc = gm_fs_read(path, GM_K8S_MAX_BYTES + 1, &text, err);
	if (rc == GM_OK)
		rc = gm_k8s_file_parse(file, path, gm_buf_cstr(&text), text.len, err);
	else
		memset(file, 0, sizeof(*file));
	gm_buf_release(&text);
	return rc;
}

bool gm_k8s_is_map(const struct gm_k8s_node *n)
{
	return n && n->type == GM_K8S_MAP;
}

bool gm_k8s_is_seq(const struct gm_k8s_node *n)
{
	return n && n->type == GM_K8S_SEQ;
}

size_t gm_k8s_len(const struct gm_k8s_node *n)
{
	if (gm_k8s_is_map(n))
		return n->n_kids / 2;
	return gm_k8s_is_seq(n) ? n->n_kids : 0;
}

const char *gm_k8s_str(const struct gm_k8s_node *n)
{
	return n && n->type == GM_K8S_SCALAR ? n->value : NULL;
}

struct gm_k8s_node *gm_k8s_get_key(const struct gm_k8s_node *map, const char *key)
{
	if (!gm_k8s_is_map(map))
		return NULL;
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const char *k = gm_k8s_str(map->kids[i]);
		if (k && strcmp(k, key) == 0)
			return map->kids[i];
	}
	return NULL;
}

struct gm_k8s_node *gm_k8s_get(const struct gm_k8s_node *map, const char *key)
{
	if (!gm_k8s_is_map(map))
		return NULL;
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const char *k = gm_k8s_str(map->kids[i]);
		if (k && strcmp(k, key) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}

const char *gm_k8s_get_str(const struct gm_k8s_node *map, const char *key)
{
	return gm_k8s_str(gm_k8s_get(map, key));
}

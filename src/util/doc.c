/* Reading YAML/JSON with libfyaml, with positions in every error. */
#include "util/doc.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fs.h"
#include "util/json.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "util/banned.h"

void gm_doc_release(struct gm_doc *doc)
{
	if (!doc)
		return;
	fy_document_destroy(doc->fyd);
	free(doc->name);
	free(doc->text);
	doc->fyd = NULL;
	doc->name = NULL;
	doc->text = NULL;
}

enum gm_rc gm_doc_load_string(struct gm_doc *doc, const char *name, const char *text, size_t len,
                              struct gm_err *err)
{
	doc->fyd = NULL;
	doc->name = gm_xstrdup(name);
	doc->text = NULL;
	if (len > GM_DOC_MAX_BYTES)
		return gm_err_set(err, GM_ERR_LIMIT, "'%s' is larger than %u MiB", name,
		                  GM_DOC_MAX_BYTES >> 20);

	/* YAML 1.2 and JSON allow no C0 control character but tab, LF and CR, and libfyaml 0.7
	 * crashes on some (a NUL inside an indented line): refuse them with invalid UTF-8. */
	size_t bad = 0;
	bool control = false;
	for (size_t i = 0; i < len && !control; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			control = true, bad = i;
	}
	if (control || !gm_utf8_valid(text, len, &bad)) {
		size_t line = 1, col = 1;
		for (size_t i = 0; i < bad; i++) {
			if (text[i] == '\n')
				line++, col = 1;
			else if (((unsigned char)text[i] & 0xc0) != 0x80)
				col++;
		}
		return gm_err_set(err, GM_ERR_PARSE,
		                  "%s:%zu:%zu: %s (byte 0x%02x); YAML and JSON files must be UTF-8 "
		                  "text",
		                  name, line, col,
		                  control ? "control character" : "not valid UTF-8",
		                  (unsigned char)text[bad]);
	}

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
	        .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DEFAULT_VERSION_1_2 |
	                 FYPCF_JSON_AUTO,
	        .diag = diag,
	};
	/* libfyaml keeps pointers into the text: keep our own copy for the document's life */
	doc->text = gm_xmalloc(len + 1);
	memcpy(doc->text, text, len);
	doc->text[len] = '\0';
	doc->fyd = fy_document_build_from_string(&cfg, doc->text, len);
	enum gm_rc rc = GM_OK;
	bool empty = strspn(doc->text, " \t\r\n") == len;
	if (!empty && (!doc->fyd || fy_document_resolve(doc->fyd) != 0)) {
		void *it = NULL;
		struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
		if (e)
			rc = gm_err_set(err, GM_ERR_PARSE, "%s:%d:%d: %s", name, e->line + 1,
			                e->column + 1, e->msg);
		else
			rc = gm_err_set(err, GM_ERR_PARSE, "%s: not a valid YAML or JSON document",
			                name);
		fy_document_destroy(doc->fyd);
		doc->fyd = NULL;
	} else if (empty || !fy_document_root(doc->fyd)) {
		rc = gm_err_set(err, GM_ERR_PARSE, "%s: the document is empty", name);
	}
	fy_diag_destroy(diag);
	return rc;
}

enum gm_rc gm_doc_load_file(struct gm_doc *doc, const char *path, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT;
	enum gm_rc rc = gm_fs_read(path, GM_DOC_MAX_BYTES, &text, err);
	if (rc == GM_OK)
		rc = gm_doc_load_string(doc, path, gm_buf_cstr(&text), text.len, err);
	else
		doc->fyd = NULL, doc->name = gm_xstrdup(path), doc->text = NULL;
	gm_buf_release(&text);
	return rc;
}

struct fy_node *gm_doc_root(const struct gm_doc *doc)
{
	return doc->fyd ? fy_document_root(doc->fyd) : NULL;
}

bool gm_doc_is_map(struct fy_node *n)
{
	return n && fy_node_is_mapping(n);
}

bool gm_doc_is_seq(struct fy_node *n)
{
	return n && fy_node_is_sequence(n);
}

struct fy_node *gm_doc_get(struct fy_node *map, const char *key)
{
	if (!gm_doc_is_map(map))
		return NULL;
	return fy_node_mapping_lookup_by_string(map, key, FY_NT);
}

const char *gm_doc_scalar(struct fy_node *n)
{
	if (!n || !fy_node_is_scalar(n))
		return NULL;
	return fy_node_get_scalar0(n);
}

bool gm_doc_is_null(struct fy_node *n)
{
	if (!n)
		return true;
	if (!fy_node_is_scalar(n))
		return false;
	if (fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	const char *s = fy_node_get_scalar0(n);
	return !s || !*s || strcmp(s, "null") == 0 || strcmp(s, "~") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

int gm_doc_seq_len(struct fy_node *seq)
{
	return gm_doc_is_seq(seq) ? fy_node_sequence_item_count(seq) : 0;
}

struct fy_node *gm_doc_seq_at(struct fy_node *seq, int i)
{
	return gm_doc_is_seq(seq) ? fy_node_sequence_get_by_index(seq, i) : NULL;
}

int gm_doc_map_len(struct fy_node *map)
{
	return gm_doc_is_map(map) ? fy_node_mapping_item_count(map) : 0;
}

const char *gm_doc_map_key_at(struct fy_node *map, int i)
{
	struct fy_node_pair *p = gm_doc_is_map(map) ? fy_node_mapping_get_by_index(map, i) : NULL;
	return p ? gm_doc_scalar(fy_node_pair_key(p)) : NULL;
}

struct fy_node *gm_doc_map_value_at(struct fy_node *map, int i)
{
	struct fy_node_pair *p = gm_doc_is_map(map) ? fy_node_mapping_get_by_index(map, i) : NULL;
	return p ? fy_node_pair_value(p) : NULL;
}

/* The first token of a node: the scalar itself, or for collections their first key/item. */
static struct fy_token *first_token(struct fy_node *n)
{
	while (n) {
		if (fy_node_is_scalar(n))
			return fy_node_get_scalar_token(n);
		if (fy_node_is_mapping(n) && fy_node_mapping_item_count(n) > 0)
			n = fy_node_pair_key(fy_node_mapping_get_by_index(n, 0));
		else if (fy_node_is_sequence(n) && fy_node_sequence_item_count(n) > 0)
			n = fy_node_sequence_get_by_index(n, 0);
		else
			return NULL;
	}
	return NULL;
}

void gm_doc_where(const struct gm_doc *doc, struct fy_node *n, struct gm_buf *out)
{
	gm_buf_reset(out);
	gm_buf_adds(out, doc->name ? doc->name : "<input>");
	struct fy_token *t = first_token(n);
	const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
	if (m)
		gm_buf_addf(out, ":%d:%d", m->line + 1, m->column + 1);
}

/* Position of the key token of map[key] (falls back to the map). */
static struct fy_node *key_node(struct fy_node *map, const char *key)
{
	int n = gm_doc_map_len(map);
	for (int i = 0; i < n; i++) {
		struct fy_node_pair *p = fy_node_mapping_get_by_index(map, i);
		const char *k = gm_doc_scalar(fy_node_pair_key(p));
		if (k && strcmp(k, key) == 0)
			return fy_node_pair_key(p);
	}
	return map;
}

static enum gm_rc type_error(const struct gm_doc *doc, struct fy_node *map, const char *key,
                             const char *what, struct gm_err *err)
{
	struct gm_buf where = GM_BUF_INIT;
	gm_doc_where(doc, key_node(map, key), &where);
	gm_err_set(err, GM_ERR_PARSE, "%s: '%s' must be %s", gm_buf_cstr(&where), key, what);
	gm_buf_release(&where);
	return GM_ERR_PARSE;
}

enum gm_rc gm_doc_get_str(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          const char **out, struct gm_err *err)
{
	struct fy_node *n = gm_doc_get(map, key);
	if (gm_doc_is_null(n))
		return GM_ERR_NOT_FOUND;
	const char *s = gm_doc_scalar(n);
	if (!s)
		return type_error(doc, map, key, "a string", err);
	*out = s;
	return GM_OK;
}

enum gm_rc gm_doc_get_i64(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          int64_t *out, struct gm_err *err)
{
	struct fy_node *n = gm_doc_get(map, key);
	if (gm_doc_is_null(n))
		return GM_ERR_NOT_FOUND;
	const char *s = gm_doc_scalar(n);
	if (!s || fy_node_get_style(n) != FYNS_PLAIN || gm_parse_i64(s, 10, out) != GM_OK)
		return type_error(doc, map, key, "an integer", err);
	return GM_OK;
}

enum gm_rc gm_doc_get_double(const struct gm_doc *doc, struct fy_node *map, const char *key,
                             double *out, struct gm_err *err)
{
	struct fy_node *n = gm_doc_get(map, key);
	if (gm_doc_is_null(n))
		return GM_ERR_NOT_FOUND;
	const char *s = gm_doc_scalar(n);
	char *end = NULL;
	if (!s || !*s || fy_node_get_style(n) != FYNS_PLAIN)
		return type_error(doc, map, key, "a number", err);
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return type_error(doc, map, key, "a number", err);
	*out = v;
	return GM_OK;
}

enum gm_rc gm_doc_get_bool(const struct gm_doc *doc, struct fy_node *map, const char *key,
                           bool *out, struct gm_err *err)
{
	struct fy_node *n = gm_doc_get(map, key);
	if (gm_doc_is_null(n))
		return GM_ERR_NOT_FOUND;
	const char *s = gm_doc_scalar(n);
	if (s && fy_node_get_style(n) == FYNS_PLAIN && strcmp(s, "true") == 0)
		*out = true;
	else if (s && fy_node_get_style(n) == FYNS_PLAIN && strcmp(s, "false") == 0)
		*out = false;
	else
		return type_error(doc, map, key, "true or false", err);
	return GM_OK;
}

size_t gm_levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = gm_xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
}

enum gm_rc gm_doc_check_keys(const struct gm_doc *doc, struct fy_node *map,
                             const char *const *allowed, struct gm_err *err)
{
	int n = gm_doc_map_len(map);
	for (int i = 0; i < n; i++) {
		const char *key = gm_doc_map_key_at(map, i);
		bool ok = false;
		const char *best = NULL;
		size_t best_d = (size_t)-1;
		for (const char *const *a = allowed; *a && key && !ok; a++) {
			size_t d = gm_levenshtein(key, *a);
			ok = d == 0;
			if (d < best_d)
				best_d = d, best = *a;
		}
		if (ok)
			continue;
		struct gm_buf where = GM_BUF_INIT;
		gm_doc_where(doc, key ? key_node(map, key) : map, &where);
		gm_err_set(err, GM_ERR_PARSE, "%s: unknown key '%s'", gm_buf_cstr(&where),
		           key ? key : "(not a string)");
		if (best && key && best_d <= (strlen(key) + 2) / 3 + 1)
			gm_buf_addf(&err->msg, " (did you mean '%s'?)", best);
		gm_buf_release(&where);
		return GM_ERR_PARSE;
	}
	return GM_OK;
}

/* Whether a string can be written as a plain YAML scalar and read back as the same string. */
static bool plain_safe(const char *s, size_t len)
{
	static const char *const special[] = {"true", "false", "null", "~", "yes", "no",
	                                      "on",   "off",   "y",    "n", NULL};
	if (len == 0 || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || s[len - 1] == ' ')
		return false;
	for (const char *const *w = special; *w; w++)
		if (strlen(*w) == len && strncasecmp(s, *w, len) == 0)
			return false;
	char *end = NULL;
	strtod(s, &end);
	if (end == s + len)
		return false; /* would read back as a number */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c >= 0x80 || c == '#' || c == '"' || c == '\\')
			return false;
		if (c == ':' && (i + 1 == len || s[i + 1] == ' '))
			return false;
	}
	return true;
}

static void yaml_scalar(struct fy_node *n, struct gm_buf *out)
{
	size_t len = 0;
	const char *s = fy_node_get_scalar(n, &len);
	if (fy_node_get_style(n) == FYNS_PLAIN || plain_safe(s, len))
		gm_buf_add(out, s, len);
	else
		gm_json_escape(out, s, len);
}

static void yaml_node(struct fy_node *n, int indent, bool first_inline, struct gm_buf *out);

/* Writes a collection value after "key:" or "-": inline when empty, else on new lines. */
static void yaml_value(struct fy_node *v, int indent, struct gm_buf *out)
{
	if (fy_node_is_scalar(v)) {
		gm_buf_addch(out, ' ');
		yaml_scalar(v, out);
		gm_buf_addch(out, '\n');
	} else if (gm_doc_map_len(v) == 0 && gm_doc_seq_len(v) == 0) {
		gm_buf_adds(out, fy_node_is_mapping(v) ? " {}\n" : " []\n");
	} else {
		gm_buf_addch(out, '\n');
		yaml_node(v, indent + 2, false, out);
	}
}

/* Writes n at indent; with first_inline the caller already wrote the first line's "- ". */
static void yaml_node(struct fy_node *n, int indent, bool first_inline, struct gm_buf *out)
{
	if (fy_node_is_mapping(n)) {
		int count = fy_node_mapping_item_count(n);
		for (int i = 0; i < count; i++) {
			struct fy_node_pair *p = fy_node_mapping_get_by_index(n, i);
			if (i > 0 || !first_inline)
				gm_buf_addpad(out, ' ', (size_t)indent);
			yaml_scalar(fy_node_pair_key(p), out);
			gm_buf_addch(out, ':');
			yaml_value(fy_node_pair_value(p), indent, out);
		}
	} else if (fy_node_is_sequence(n)) {
		int count = fy_node_sequence_item_count(n);
		for (int i = 0; i < count; i++) {
			struct fy_node *item = fy_node_sequence_get_by_index(n, i);
			if (i > 0 || !first_inline)
				gm_buf_addpad(out, ' ', (size_t)indent);
			if (gm_doc_map_len(item) > 0) { /* "- key: value" */
				gm_buf_adds(out, "- ");
				yaml_node(item, indent + 2, true, out);
				continue;
			}
			gm_buf_addch(out, '-');
			yaml_value(item, indent, out);
		}
	} else {
		if (!first_inline)
			gm_buf_addpad(out, ' ', (size_t)indent);
		yaml_scalar(n, out);
		gm_buf_addch(out, '\n');
	}
}

enum gm_rc gm_doc_to_yaml(const char *text, size_t len, struct gm_buf *out, struct gm_err *err)
{
	struct gm_doc doc;
	enum gm_rc rc = gm_doc_load_string(&doc, "<json>", text, len, err);
	if (rc == GM_OK)
		yaml_node(gm_doc_root(&doc), 0, false, out);
	gm_doc_release(&doc);
	return rc;
}

enum gm_rc gm_doc_json_pretty(const char *text, size_t len, struct gm_buf *out, struct gm_err *err)
{
	struct gm_doc doc;
	enum gm_rc rc = gm_doc_load_string(&doc, "<json>", text, len, err);
	if (rc == GM_OK) {
		char *s = fy_emit_document_to_string(doc.fyd, FYECF_MODE_JSON | FYECF_INDENT_2 |
		                                                      FYECF_WIDTH_INF);
		if (!s)
			gm_xalloc_fail();
		gm_buf_adds(out, s);
		free(s);
	}
	gm_doc_release(&doc);
	return rc;
}

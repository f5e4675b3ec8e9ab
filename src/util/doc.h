/* gm_doc: a thin layer over libfyaml for reading the YAML and JSON documents gpumigrate takes
 * (plans, inventories, fixtures, rules). Every error names file:line:column and what was
 * expected. Writing JSON goes through gm_json; YAML output is JSON re-emitted as block YAML. */
#ifndef GM_DOC_H
#define GM_DOC_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct fy_document;
struct fy_node;

/* Documents larger than this are refused (GM_ERR_LIMIT). */
#define GM_DOC_MAX_BYTES (64u << 20)

struct gm_doc {
	struct fy_document *fyd;
	char *name; /* file name for messages */
	char *text; /* the source text: libfyaml's nodes point into it, so it lives as long */
};

/* Loads one YAML 1.2 or JSON document from path. */
enum gm_rc gm_doc_load_file(struct gm_doc *doc, const char *path, struct gm_err *err);
/* Loads from memory; name is used in messages. */
enum gm_rc gm_doc_load_string(struct gm_doc *doc, const char *name, const char *text, size_t len,
                              struct gm_err *err);
void gm_doc_release(struct gm_doc *doc);

struct fy_node *gm_doc_root(const struct gm_doc *doc);

/* Child of a mapping by key; NULL when map is not a mapping or has no such key. */
struct fy_node *gm_doc_get(struct fy_node *map, const char *key);
/* A scalar's text (NUL-terminated), or NULL for non-scalars and absent nodes. */
const char *gm_doc_scalar(struct fy_node *n);
/* True for an absent node, and for a plain null / ~ / empty scalar. */
bool gm_doc_is_null(struct fy_node *n);
bool gm_doc_is_map(struct fy_node *n);
bool gm_doc_is_seq(struct fy_node *n);
int gm_doc_seq_len(struct fy_node *seq);
struct fy_node *gm_doc_seq_at(struct fy_node *seq, int i);
int gm_doc_map_len(struct fy_node *map);
/* Key text and value of the i-th pair of a mapping. */
const char *gm_doc_map_key_at(struct fy_node *map, int i);
struct fy_node *gm_doc_map_value_at(struct fy_node *map, int i);

/* "file:line:col" of a node (of its first token), for messages. */
void gm_doc_where(const struct gm_doc *doc, struct fy_node *n, struct gm_buf *out);

/* Typed getters for map[key]. Absent or null: GM_ERR_NOT_FOUND and *out untouched, no error
 * set. Wrong type: GM_ERR_PARSE with "file:line:col: 'key' must be …". */
enum gm_rc gm_doc_get_str(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          const char **out, struct gm_err *err);
enum gm_rc gm_doc_get_i64(const struct gm_doc *doc, struct fy_node *map, const char *key,
                          int64_t *out, struct gm_err *err);
enum gm_rc gm_doc_get_double(const struct gm_doc *doc, struct fy_node *map, const char *key,
                             double *out, struct gm_err *err);
enum gm_rc gm_doc_get_bool(const struct gm_doc *doc, struct fy_node *map, const char *key,
                           bool *out, struct gm_err *err);

/* Fails with GM_ERR_PARSE on the first key of map that is not in allowed (NULL-terminated),
 * naming file:line:col and the closest allowed key as a "did you mean" hint. */
enum gm_rc gm_doc_check_keys(const struct gm_doc *doc, struct fy_node *map,
                             const char *const *allowed, struct gm_err *err);

/* Re-emits a JSON (or YAML) text as block-style YAML into out. */
enum gm_rc gm_doc_to_yaml(const char *text, size_t len, struct gm_buf *out, struct gm_err *err);

/* Re-indents a JSON text (two spaces, keys and values unchanged) into out. */
enum gm_rc gm_doc_json_pretty(const char *text, size_t len, struct gm_buf *out, struct gm_err *err);

/* Edit distance, for "did you mean" hints. */
size_t gm_levenshtein(const char *a, const char *b);

#endif

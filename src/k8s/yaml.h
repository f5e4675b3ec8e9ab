/* A position-keeping YAML tree for Kubernetes manifests. libfyaml's document API hides the
 * extent of collections, so this builds its own small tree from libfyaml's parse events:
 * every node knows its byte range in the original text, its style (block or flow, plain or
 * quoted scalar) and its parent. scan reads it; rewrite splices edits into the text at those
 * ranges so that everything it does not target stays byte for byte. */
#ifndef GM_K8S_YAML_H
#define GM_K8S_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Manifest files larger than this are refused (GM_ERR_LIMIT). */
#define GM_K8S_MAX_BYTES (64u << 20)
/* Deeper nesting than this is refused (GM_ERR_LIMIT). */
#define GM_K8S_MAX_DEPTH 200

enum gm_k8s_type { GM_K8S_SCALAR, GM_K8S_MAP, GM_K8S_SEQ, GM_K8S_ALIAS };

enum gm_k8s_style {
	GM_K8S_PLAIN,
	GM_K8S_SINGLE,  /* 'quoted' */
	GM_K8S_DOUBLE,  /* "quoted" */
	GM_K8S_LITERAL, /* | */
	GM_K8S_FOLDED,  /* > */
};

struct gm_k8s_node {
	enum gm_k8s_type type;
	bool flow;               /* collections: { } or [ ] */
	enum gm_k8s_style style; /* scalars */
	/* Byte range in the file's text. Scalars: the whole token, quotes included. Flow
	 * collections: from the opening to after the closing bracket. Block collections: from
	 * the first key or "-" to the end of the last value. */
	size_t start, end;
	int line, col; /* of start, 0-based */
	char *value;   /* scalars: the text (NUL-terminated), NULL otherwise */
	size_t value_len;
	/* maps: key, value, key, value …; sequences: the items */
	struct gm_k8s_node **kids;
	size_t n_kids;
	struct gm_k8s_node *parent;
};

/* One document of a (multi-document) file. */
struct gm_k8s_yamldoc {
	struct gm_k8s_node *root; /* NULL for an empty document */
	size_t start;             /* where the document's text begins ("---" or after the last) */
	char *source;             /* helm's "# Source: x" comment before the root, or NULL */
};

struct gm_k8s_file {
	char *name;
	char *text; /* the whole file, NUL-terminated */
	size_t len;
	struct gm_k8s_yamldoc *docs;
	size_t n_docs;
};

/* Parses text (all its documents); name is used in messages and is the file name. JSON is
 * read as the YAML it is. A syntax error is GM_ERR_PARSE with "name:line:col: message".
 * file is released on failure. */
enum gm_rc gm_k8s_file_parse(struct gm_k8s_file *file, const char *name, const char *text,
                             size_t len, struct gm_err *err);
/* Reads and parses a file. */
enum gm_rc gm_k8s_file_load(struct gm_k8s_file *file, const char *path, struct gm_err *err);
void gm_k8s_file_release(struct gm_k8s_file *file);

/* map[key], or NULL (also when map is not a mapping). */
struct gm_k8s_node *gm_k8s_get(const struct gm_k8s_node *map, const char *key);
/* The key node of map[key], or NULL. */
struct gm_k8s_node *gm_k8s_get_key(const struct gm_k8s_node *map, const char *key);
/* A scalar's text, or NULL for anything else (and NULL). */
const char *gm_k8s_str(const struct gm_k8s_node *n);
/* map[key]'s scalar text, or NULL. */
const char *gm_k8s_get_str(const struct gm_k8s_node *map, const char *key);
bool gm_k8s_is_map(const struct gm_k8s_node *n);
bool gm_k8s_is_seq(const struct gm_k8s_node *n);
/* Number of pairs of a map / items of a sequence (0 for anything else). */
size_t gm_k8s_len(const struct gm_k8s_node *n);

#endif

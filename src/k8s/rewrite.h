/* `k8s rewrite`: applies the rules (k8s/rules.h) to a manifest file by splicing edits into
 * its original text at the positions the parser recorded, so comments, key order, quoting,
 * document separators and indentation outside the edited values stay byte for byte. New
 * keys and list items take the indentation and style (block or flow, JSON) of their
 * surroundings. Rewriting an output again changes nothing. */
#ifndef GM_K8S_REWRITE_H
#define GM_K8S_REWRITE_H

#include <stddef.h>

#include "k8s/rules.h"
#include "k8s/yaml.h"
#include "util/buf.h"

/* One change to the text: replace [start, end) by text (start == end inserts). */
struct gm_k8s_edit {
	size_t start, end;
	char *text;
	size_t seq; /* order of edits at the same position */
};

struct gm_k8s_edits {
	struct gm_k8s_edit *v;
	size_t n, cap;
};

void gm_k8s_edits_init(struct gm_k8s_edits *e);
void gm_k8s_edits_release(struct gm_k8s_edits *e);
void gm_k8s_edits_add(struct gm_k8s_edits *e, size_t start, size_t end, const char *text);
/* Applies the edits to text (sorted by position; an edit overlapping an earlier one is
 * skipped and counted in *skipped when skipped is not NULL) into out. */
void gm_k8s_edits_apply(struct gm_k8s_edits *e, const char *text, size_t len, struct gm_buf *out,
                        size_t *skipped);

/* Rewrites one parsed file by the rules into out (the whole new text). notes gets one line
 * per thing the rules could not do ("file:line: no accelerators rule for 'x'"), and
 * *changes the number of edits. Unknown kinds pass through unchanged. */
void gm_k8s_rewrite(const struct gm_k8s_file *file, const struct gm_k8s_rules *rules,
                    struct gm_buf *out, struct gm_buf *notes, size_t *changes);

/* A YAML scalar for value in the given style: plain when it reads back as the same string
 * (else double-quoted), single-quoted with '' doubling, or double-quoted (JSON escapes). */
void gm_k8s_render_scalar(struct gm_buf *out, const char *value, enum gm_k8s_style style);

#endif

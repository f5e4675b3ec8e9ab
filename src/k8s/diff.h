/* A small line diff (Myers' O(ND) algorithm) that writes unified diffs, for
 * `k8s rewrite --diff`: no external diff program needed, output like `diff -u`. */
#ifndef GM_K8S_DIFF_H
#define GM_K8S_DIFF_H

#include <stddef.h>

#include "util/buf.h"

/* Appends the unified diff (3 lines of context, "--- a_name" / "+++ b_name" headers, "@@ -l,n
 * +l,n @@" hunks, "\ No newline at end of file" where it applies) of a and b to out; appends
 * nothing when they are equal. Returns the number of changed lines (removed + added). */
size_t gm_k8s_diff(const char *a_name, const char *a, size_t a_len, const char *b_name,
                   const char *b, size_t b_len, struct gm_buf *out);

#endif

/* Include/exclude rules for sync, with rsync's meaning so that users' existing
 * --exclude/--include/--exclude-from lists work unchanged:
 *   - rules are tried in the order given; the first that matches decides; no match: included;
 *   - a leading '/' anchors the pattern at the transfer root;
 *   - a trailing '/' makes it match directories only;
 *   - a pattern without '/' (other than a trailing one) and without "**" is matched against
 *     the last component of a path; one with a '/' is matched against the same number of
 *     trailing components ("b/c" matches "b/c" and "a/b/c"); one with "**" is tried at the
 *     start of the path and after every '/';
 *   - '*' matches within one component, "**" across '/', '?' one character but '/',
 *     [a-z] / [!a-z] / [[:digit:]] a character class, '\' escapes a wildcard;
 *   - "dir" followed by "/" and three stars matches the directory dir and everything
 *     below it.
 * Paths given to the filter are relative to the transfer root ("a/b/c", no leading '/').
 * An excluded directory is not descended into: the walk never asks about what is below it
 * (gm_sync_filter_excluded_tree answers for a deep path with that rule applied). */
#ifndef GM_SYNC_FILTER_H
#define GM_SYNC_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct gm_sync_filter_rule;

struct gm_sync_filter {
	struct gm_sync_filter_rule *v;
	size_t n, cap;
};

void gm_sync_filter_init(struct gm_sync_filter *f);
void gm_sync_filter_release(struct gm_sync_filter *f);

/* Appends a rule (--include when include, else --exclude). An empty pattern or one longer
 * than GM_SYNC_PATH_MAX is GM_ERR_USAGE. */
enum gm_rc gm_sync_filter_add(struct gm_sync_filter *f, bool include, const char *pattern,
                              struct gm_err *err);

/* Appends the rules of a file (--exclude-from; "-" reads stdin): one pattern per line, empty
 * lines and lines starting with '#' or ';' ignored, "+ PATTERN" includes, "- PATTERN"
 * excludes, anything else excludes, a line "!" clears the rules so far. A trailing '\r' is
 * dropped. */
enum gm_rc gm_sync_filter_add_file(struct gm_sync_filter *f, const char *path, struct gm_err *err);

/* Whether the entry at relpath (len bytes) is excluded by the rules. f may be NULL (nothing
 * is excluded). */
bool gm_sync_filter_excluded(const struct gm_sync_filter *f, const char *relpath, size_t len,
                             bool is_dir);

/* As gm_sync_filter_excluded, but also true when any directory above relpath is excluded
 * (what a walk from the root would do). */
bool gm_sync_filter_excluded_tree(const struct gm_sync_filter *f, const char *relpath, size_t len,
                                  bool is_dir);

#endif

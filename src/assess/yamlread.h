/* Small helpers shared by the assess readers (catalog, plan, compare, tco): the
 * "file:line:col: message" parse error, and formatting a provenance string. They exist so
 * each reader does not carry its own copy; gm_doc (util/doc.h) stays the YAML layer. */
#ifndef GM_ASSESS_YAMLREAD_H
#define GM_ASSESS_YAMLREAD_H

#include <stdarg.h>

#include "util/doc.h"
#include "util/err.h"

/* Sets err to "file:line:col: <fmt …>" for node n of doc and returns GM_ERR_PARSE. */
enum gm_rc gm_yr_fail(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* As gm_yr_fail, with a va_list. */
enum gm_rc gm_yr_vfail(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                       const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Frees *dst and sets it to a freshly allocated string formatted from fmt and ap (used for
 * the "where this value came from" strings of plan and TCO inputs). */
void gm_yr_vreplace(char **dst, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif

/* Helpers shared by the assess readers (see yamlread.h): one place that words a parse error
 * with its position, and one that formats provenance strings. */
#include "assess/yamlread.h"

#include <stdlib.h>

#include "util/buf.h"
#include "util/banned.h"

enum gm_rc gm_yr_vfail(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                       const char *fmt, va_list ap)
{
	struct gm_buf where = GM_BUF_INIT, what = GM_BUF_INIT;
	gm_doc_where(doc, n, &where);
	gm_buf_vaddf(&what, fmt, ap);
	gm_err_set(err, GM_ERR_PARSE, "%s: %s", gm_buf_cstr(&where), gm_buf_cstr(&what));
	gm_buf_release(&what);
	gm_buf_release(&where);
	return GM_ERR_PARSE;
}

enum gm_rc gm_yr_fail(const struct gm_doc *doc, struct fy_node *n, struct gm_err *err,
                      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum gm_rc rc = gm_yr_vfail(doc, n, err, fmt, ap);
	va_end(ap);
	return rc;
}

void gm_yr_vreplace(char **dst, const char *fmt, va_list ap)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_buf_vaddf(&b, fmt, ap);
	free(*dst);
	*dst = gm_buf_detach(&b);
}

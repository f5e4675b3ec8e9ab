/* Return codes and error detail shared by every layer. */
#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "util/banned.h"

const char *gm_strerror(enum gm_rc rc)
{
	switch (rc) {
	case GM_OK: return "success";
	case GM_ERR_USAGE: return "usage error";
	case GM_ERR_IO: return "i/o error";
	case GM_ERR_NOT_FOUND: return "not found";
	case GM_ERR_PARSE: return "parse error";
	case GM_ERR_UNSUPPORTED: return "not supported";
	case GM_ERR_NO_DRIVER: return "no NVIDIA driver found";
	case GM_ERR_DRIVER: return "driver error";
	case GM_ERR_GPU_LOST: return "GPU is lost";
	case GM_ERR_LIMIT: return "input too large";
	case GM_ERR_INTERNAL: return "internal error";
	case GM_ERR_PERMISSION: return "permission denied";
	case GM_ERR_NO_SPACE: return "no space left on the destination";
	case GM_ERR_MISMATCH: return "content does not match its hash";
	case GM_ERR_CHANGED: return "source changed while it was read";
	case GM_ERR_UNREACHABLE: return "remote unreachable";
	case GM_ERR_PROTOCOL: return "protocol error";
	case GM_ERR_INTERRUPTED: return "interrupted";
	}
	return "unknown error";
}

enum gm_rc gm_rc_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
	case ENOTDIR: return GM_ERR_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EROFS: return GM_ERR_PERMISSION;
	case ENOSPC:
	case EDQUOT: return GM_ERR_NO_SPACE;
	case EINTR: return GM_ERR_INTERRUPTED;
	default: return GM_ERR_IO;
	}
}

void gm_err_init(struct gm_err *err)
{
	err->rc = GM_OK;
	gm_buf_init(&err->msg);
}

void gm_err_release(struct gm_err *err)
{
	if (!err)
		return;
	gm_buf_release(&err->msg);
	err->rc = GM_OK;
}

void gm_err_clear(struct gm_err *err)
{
	if (!err)
		return;
	err->rc = GM_OK;
	gm_buf_reset(&err->msg);
}

__attribute__((format(printf, 3, 0))) static void set_va(struct gm_err *err, enum gm_rc rc,
                                                         const char *fmt, va_list ap)
{
	err->rc = rc;
	gm_buf_reset(&err->msg);
	gm_buf_vaddf(&err->msg, fmt, ap);
}

enum gm_rc gm_err_set(struct gm_err *err, enum gm_rc rc, const char *fmt, ...)
{
	if (!err)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	set_va(err, rc, fmt, ap);
	va_end(ap);
	return rc;
}

enum gm_rc gm_err_errno(struct gm_err *err, enum gm_rc rc, int errnum, const char *fmt, ...)
{
	if (!err)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	set_va(err, rc, fmt, ap);
	va_end(ap);
	gm_buf_addf(&err->msg, ": %s", strerror(errnum));
	return rc;
}

const char *gm_err_msg(const struct gm_err *err)
{
	if (err->msg.len)
		return gm_buf_cstr(&err->msg);
	return gm_strerror(err->rc);
}

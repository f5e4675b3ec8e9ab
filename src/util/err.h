/* Error reporting for the core: one return-code enum for every fallible function, and a
 * gm_err that carries the human detail (what failed, on which file or host, the errno text).
 * Only src/cli turns these into messages and exit codes. */
#ifndef GM_ERR_H
#define GM_ERR_H

#include "util/buf.h"

enum gm_rc {
	GM_OK = 0,
	GM_ERR_USAGE,       /* the caller asked for something that makes no sense */
	GM_ERR_IO,          /* a read or write failed */
	GM_ERR_NOT_FOUND,   /* a file, device or key is not there */
	GM_ERR_PARSE,       /* input is malformed */
	GM_ERR_UNSUPPORTED, /* the host, driver or device cannot answer */
	GM_ERR_NO_DRIVER,   /* the NVIDIA driver library is not present */
	GM_ERR_DRIVER,      /* the driver answered with an error */
	GM_ERR_GPU_LOST,    /* a GPU fell off the bus */
	GM_ERR_LIMIT,       /* input exceeds a size cap */
	GM_ERR_INTERNAL,    /* a bug: report it */
};

/* A short lowercase description of rc ("i/o error", "parse error" …). */
const char *gm_strerror(enum gm_rc rc);

struct gm_err {
	enum gm_rc rc;
	struct gm_buf msg;
};

#define GM_ERR_INIT                \
	{                          \
		GM_OK, GM_BUF_INIT \
	}

void gm_err_init(struct gm_err *err);
void gm_err_release(struct gm_err *err);
/* Clears a previous error so the struct can be reused. */
void gm_err_clear(struct gm_err *err);

/* Records rc and a formatted message (replacing any earlier one) and returns rc, so callers
 * write `return gm_err_set(err, GM_ERR_IO, "cannot read '%s'", path);`. err may be NULL. */
enum gm_rc gm_err_set(struct gm_err *err, enum gm_rc rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* As gm_err_set, then appends ": <strerror(errnum)>". */
enum gm_rc gm_err_errno(struct gm_err *err, enum gm_rc rc, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The message, or gm_strerror(rc) when none was set. */
const char *gm_err_msg(const struct gm_err *err);

#endif

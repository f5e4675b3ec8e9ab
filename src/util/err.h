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
	GM_ERR_PERMISSION,  /* the operating system refused access */
	GM_ERR_NO_SPACE,    /* the destination is full (ENOSPC, EDQUOT) */
	GM_ERR_MISMATCH,    /* content did not match its hash: nothing was put in place */
	GM_ERR_CHANGED,     /* the source changed while it was read */
	GM_ERR_UNREACHABLE, /* a remote host or its program cannot be reached */
	GM_ERR_PROTOCOL,    /* the peer broke the wire protocol */
	GM_ERR_INTERRUPTED, /* stopped by a signal (SIGINT, SIGTERM) */
};

/* The rc for a failed system call: ENOENT/ENOTDIR → NOT_FOUND, EACCES/EPERM/EROFS →
 * PERMISSION, ENOSPC/EDQUOT → NO_SPACE, EINTR → INTERRUPTED, anything else → IO. */
enum gm_rc gm_rc_from_errno(int errnum);

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

/* gm_buf: the one growable string of the project. Always NUL-terminated once anything was
 * added; gm_buf_cstr() gives "" for an empty buffer, so callers never see NULL. */
#ifndef GM_BUF_H
#define GM_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct gm_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define GM_BUF_INIT        \
	{                  \
		NULL, 0, 0 \
	}

void gm_buf_init(struct gm_buf *b);
/* Frees the contents; the buffer is empty and reusable afterwards. Accepts NULL. */
void gm_buf_release(struct gm_buf *b);
/* Overwrites all of b's memory (it held a secret: a password, a token, a key), then releases
 * it. */
void gm_buf_wipe(struct gm_buf *b);
/* Empties the buffer, keeping its memory. */
void gm_buf_reset(struct gm_buf *b);
/* Makes room for at least extra more bytes (plus the terminator). */
void gm_buf_grow(struct gm_buf *b, size_t extra);

void gm_buf_add(struct gm_buf *b, const void *data, size_t len);
void gm_buf_adds(struct gm_buf *b, const char *s);
void gm_buf_addch(struct gm_buf *b, char c);
void gm_buf_addf(struct gm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gm_buf_vaddf(struct gm_buf *b, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
/* Appends n copies of c (padding for aligned tables). */
void gm_buf_addpad(struct gm_buf *b, char c, size_t n);

/* Removes trailing whitespace. */
void gm_buf_rtrim(struct gm_buf *b);
/* Shortens the buffer to len bytes (no-op when already shorter). */
void gm_buf_truncate(struct gm_buf *b, size_t len);

/* The contents as a C string; "" when nothing was added. Valid until the next change. */
const char *gm_buf_cstr(const struct gm_buf *b);
/* Hands the contents to the caller (free() them); the buffer is left empty. Never NULL. */
char *gm_buf_detach(struct gm_buf *b);

#endif

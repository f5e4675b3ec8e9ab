/* Growable strings; every string the project builds goes through here. */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

void gm_buf_init(struct gm_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void gm_buf_release(struct gm_buf *b)
{
	if (!b)
		return;
	free(b->data);
	gm_buf_init(b);
}

void gm_buf_wipe(struct gm_buf *b)
{
	if (b && b->data)
		explicit_bzero(b->data, b->cap);
	gm_buf_release(b);
}

void gm_buf_reset(struct gm_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void gm_buf_grow(struct gm_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need < b->len)
		gm_xalloc_fail();
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap * 2 > cap ? cap * 2 : need;
	b->data = gm_xreallocarray(b->data, cap, 1);
	b->cap = cap;
}

void gm_buf_add(struct gm_buf *b, const void *data, size_t len)
{
	gm_buf_grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void gm_buf_adds(struct gm_buf *b, const char *s)
{
	gm_buf_add(b, s, strlen(s));
}

void gm_buf_addch(struct gm_buf *b, char c)
{
	gm_buf_add(b, &c, 1);
}

void gm_buf_vaddf(struct gm_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	/* the analyzer loses track of va_copy from a va_list parameter */
	int n = vsnprintf(NULL, 0, fmt, copy); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(copy);
	if (n <= 0)
		return;
	gm_buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void gm_buf_addf(struct gm_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gm_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void gm_buf_addpad(struct gm_buf *b, char c, size_t n)
{
	gm_buf_grow(b, n);
	memset(b->data + b->len, c, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void gm_buf_rtrim(struct gm_buf *b)
{
	while (b->len && strchr(" \t\r\n", b->data[b->len - 1]))
		b->len--;
	if (b->data)
		b->data[b->len] = '\0';
}

void gm_buf_truncate(struct gm_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

const char *gm_buf_cstr(const struct gm_buf *b)
{
	return b->data ? b->data : "";
}

char *gm_buf_detach(struct gm_buf *b)
{
	char *s = b->data ? b->data : gm_xstrdup("");
	gm_buf_init(b);
	return s;
}

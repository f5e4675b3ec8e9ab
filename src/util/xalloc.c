/* Allocation wrappers: one place that decides what out-of-memory means (abort). */
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void gm_xalloc_fail(void)
{
	fputs("gpumigrate: out of memory\n", stderr);
	abort();
}

static void *checked(void *p)
{
	if (!p)
		gm_xalloc_fail();
	return p;
}

void *gm_xmalloc(size_t size)
{
	return checked(malloc(size ? size : 1));
}

void *gm_xcalloc(size_t count, size_t size)
{
	return checked(calloc(count ? count : 1, size ? size : 1));
}

void *gm_xreallocarray(void *ptr, size_t count, size_t size)
{
	if (size && count > ((size_t)-1) / size)
		gm_xalloc_fail();
	size_t bytes = count * size;
	return checked(realloc(ptr, bytes ? bytes : 1));
}

char *gm_xstrdup(const char *s)
{
	return checked(strdup(s ? s : ""));
}

char *gm_xstrndup(const char *s, size_t n)
{
	return checked(strndup(s ? s : "", n));
}

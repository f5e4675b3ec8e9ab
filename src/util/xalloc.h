/* Allocation that cannot return NULL. Out of memory is not a condition gpumigrate recovers
 * from; these print one line and abort, so callers stay free of unreachable error paths. */
#ifndef GM_XALLOC_H
#define GM_XALLOC_H

#include <stddef.h>

/* Prints "out of memory" and aborts. */
_Noreturn void gm_xalloc_fail(void);

void *gm_xmalloc(size_t size);
void *gm_xcalloc(size_t count, size_t size);
/* Grows an array of count elements of size bytes; checks the multiplication for overflow. */
void *gm_xreallocarray(void *ptr, size_t count, size_t size);
char *gm_xstrdup(const char *s);
char *gm_xstrndup(const char *s, size_t n);

/* Frees *pp and sets it to NULL. */
#define GM_FREE(p)          \
	do {                \
		free(p);    \
		(p) = NULL; \
	} while (0)

#endif

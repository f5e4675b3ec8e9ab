/* The helpers every host reader needs (see sysfs.h): one copy of the "cannot read …" reasons,
 * the sysfs name checks and the device-list handling that host.c, pci.c, nic.c and runtime.c
 * each used to carry on their own. */
#include "hw/sysfs.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

const char *gm_sysfs_read_cause(enum gm_rc rc, const struct gm_err *err)
{
	if (rc == GM_ERR_LIMIT)
		return "larger than 1 MiB";
	const char *msg = gm_err_msg(err);
	const char *p = NULL;
	for (const char *q = strstr(msg, ": "); q; q = strstr(q + 2, ": "))
		p = q;
	return p ? p + 2 : gm_strerror(rc);
}

void gm_sysfs_fail_fmt(struct gm_fact *f, enum gm_fact_state state, const char *what,
                       const char *path, const char *cause)
{
	struct gm_buf why = GM_BUF_INIT;
	gm_buf_addf(&why, "%s %s: %s", what, path, cause);
	gm_fact_fail(f, state, gm_buf_cstr(&why));
	gm_buf_release(&why);
}

void gm_sysfs_fail_read(struct gm_fact *f, const char *path, enum gm_rc rc,
                        const struct gm_err *err)
{
	gm_sysfs_fail_fmt(f, GM_FACT_ERROR, "cannot read", path, gm_sysfs_read_cause(rc, err));
}

void gm_sysfs_fail_errno(struct gm_fact *f, const char *path, int errnum)
{
	gm_sysfs_fail_fmt(f, GM_FACT_ERROR, "cannot read", path, strerror(errnum));
}

void gm_sysfs_fail_value(struct gm_fact *f, const char *path, const char *value)
{
	struct gm_buf why = GM_BUF_INIT;
	gm_buf_addf(&why, "unexpected value '%s' in %s", value, path);
	gm_fact_fail(f, GM_FACT_ERROR, gm_buf_cstr(&why));
	gm_buf_release(&why);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool gm_sysfs_is_bdf_n(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && is_hex(s[n]))
		n++;
	if (n < 4 || n > 8 || len != n + 8 || s[n] != ':')
		return false;
	s += n + 1;
	return is_hex(s[0]) && is_hex(s[1]) && s[2] == ':' && is_hex(s[3]) && is_hex(s[4]) &&
	       s[5] == '.' && s[6] >= '0' && s[6] <= '7';
}

bool gm_sysfs_is_bdf(const char *s)
{
	return gm_sysfs_is_bdf_n(s, strlen(s));
}

const char *gm_sysfs_base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

bool gm_sysfs_prefix_digits(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(name, prefix, n) == 0 && all_digits(name + n);
}

void *gm_sysfs_list_add(void *items, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		items = gm_xreallocarray(items, *cap, size);
	}
	memset((char *)items + *n * size, 0, size);
	++*n;
	return items;
}

/* A pointer to a structure points to its first member (C17 6.7.2.1p15). */
static int first_str_cmp(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(*x, *y);
}

void gm_sysfs_list_sort(void *items, size_t n, size_t size)
{
	if (n)
		qsort(items, n, size, first_str_cmp);
}

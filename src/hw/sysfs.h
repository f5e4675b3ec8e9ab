/* Helpers shared by the host readers (host.c, pci.c, nic.c, runtime.c), internal to hw/: the
 * reasons a fact carries when a file under the root cannot be read or holds something
 * unexpected, checks of sysfs directory entry names, and the growing, sorted lists of
 * devices the readers build. One copy here keeps every reader's reasons word for word alike. */
#ifndef GM_HW_SYSFS_H
#define GM_HW_SYSFS_H

#include <stdbool.h>
#include <stddef.h>

#include "hw/fact.h"
#include "util/err.h"

/* The cause of a failed gm_root_read/gm_root_readlink in the words of strerror
 * ("No such file or directory"): gm_err_errno ends its message with ": <strerror>", and
 * strerror texts never contain ": " themselves. GM_ERR_LIMIT is "larger than 1 MiB"; a
 * message without ": " gives gm_strerror(rc). The result points into err or is static. */
const char *gm_sysfs_read_cause(enum gm_rc rc, const struct gm_err *err);

/* Fails f with state and the reason "<what> <path>: <cause>". */
void gm_sysfs_fail_fmt(struct gm_fact *f, enum gm_fact_state state, const char *what,
                       const char *path, const char *cause);
/* Fails f (GM_FACT_ERROR) with "cannot read <path>: <cause of rc/err>", e.g.
 * "cannot read /proc/cmdline: No such file or directory". path is the host path, never the
 * root-prefixed one. */
void gm_sysfs_fail_read(struct gm_fact *f, const char *path, enum gm_rc rc,
                        const struct gm_err *err);
/* Fails f (GM_FACT_ERROR) with "cannot read <path>: <strerror(errnum)>". */
void gm_sysfs_fail_errno(struct gm_fact *f, const char *path, int errnum);
/* Fails f (GM_FACT_ERROR) with "unexpected value '<value>' in <path>". */
void gm_sysfs_fail_value(struct gm_fact *f, const char *path, const char *value);

/* Whether the len bytes at s are exactly a sysfs PCI directory name "dddd:bb:dd.f": a
 * domain of 4 to 8 hex digits (VMD domains have 5), two-digit bus, two-digit device and a
 * function 0-7. Stricter than gm_pci_bdf_norm (which also takes "bb:dd.f" and normalises):
 * this tells entries of /sys/bus/pci/devices and path components apart from anything else. */
bool gm_sysfs_is_bdf_n(const char *s, size_t len);
/* gm_sysfs_is_bdf_n over the whole string. */
bool gm_sysfs_is_bdf(const char *s);

/* The part of path after its last '/' (all of it when there is none). */
const char *gm_sysfs_base_name(const char *path);

/* Whether name is prefix followed by at least one decimal digit and nothing else ("node12";
 * with prefix "" whether name is all digits, as the entries of /sys/kernel/iommu_groups). */
bool gm_sysfs_prefix_digits(const char *name, const char *prefix);

/* Appends one zeroed element of size bytes to the array items that holds *n of *cap
 * elements, growing it (8, then doubling) when full; returns the array, which may have
 * moved. The new element is at index *n - 1. */
void *gm_sysfs_list_add(void *items, size_t *n, size_t *cap, size_t size);
/* Sorts n elements of size bytes by strcmp of their first member, which must be a
 * NUL-terminated char * (struct gm_pci_dev's bdf, struct gm_nic's name). */
void gm_sysfs_list_sort(void *items, size_t n, size_t size);

#endif

/* Which NVIDIA driver a CUDA release needs: the table of minimum drivers per CUDA toolkit and
 * the minor-version-compatibility floors per CUDA major family, read from data/cuda-driver.yaml
 * (compiled in; NVIDIA's CUDA compatibility documentation is the source of every row). check
 * asks "will an application built with CUDA X.Y run on this host's driver?". */
#ifndef GM_CUDA_COMPAT_H
#define GM_CUDA_COMPAT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* One toolkit release (GA or Update) and the Linux driver it needs. */
struct gm_cuda_toolkit {
	int major, minor;  /* "12.4" */
	char *toolkit;     /* "12.4.1" */
	char *release;     /* "GA", "Update 1" */
	char *min_driver;  /* "550.54.15"; NULL when NVIDIA publishes only a branch */
	int driver_branch; /* 615 when only the branch is published; else 0 */
};

/* The minor-version-compatibility range of one CUDA major family ("12.x"). */
struct gm_cuda_family {
	int major;
	char *min_driver;         /* "525.60.13" */
	int max_branch_exclusive; /* 580 for 12.x; 0 when there is no maximum */
};

struct gm_cuda_table {
	struct gm_cuda_toolkit *toolkits;
	size_t n_toolkits;
	struct gm_cuda_family *families;
	size_t n_families;
};

/* Parses a catalog in the gpumigrate.catalog.cuda-driver/v1 format (text NULL: the compiled-in
 * file name); errors name file:line:col. */
enum gm_rc gm_cuda_table_parse(struct gm_cuda_table *t, const char *name, const char *text,
                               size_t len, struct gm_err *err);
/* Parses the compiled-in data/cuda-driver.yaml. */
enum gm_rc gm_cuda_table_load_embedded(struct gm_cuda_table *t, struct gm_err *err);
void gm_cuda_table_release(struct gm_cuda_table *t);

/* Parses "12.4" (also "12.4.1", whose patch part is ignored). */
bool gm_cuda_version_parse(const char *s, int *major, int *minor);

/* Compares driver versions numerically, component by component ("550.54.15" > "550.9.1");
 * a missing component counts as 0. Sets *ok false (and returns 0) when either is not a
 * dotted list of decimal numbers. */
int gm_driver_version_cmp(const char *a, const char *b, bool *ok);

/* The answer for one CUDA release. */
struct gm_cuda_need {
	int major, minor;
	const char *min_driver; /* lowest driver of any release of X.Y; NULL: branch only */
	int driver_branch;      /* when min_driver is NULL: the branch (R615) */
	const char *compat_min; /* family floor with minor version compatibility; NULL if none */
	int compat_max_branch_exclusive;
};

/* What CUDA major.minor needs. GM_ERR_NOT_FOUND (with a message listing the known range) when
 * the table has no such release. Pointers point into t. */
enum gm_rc gm_cuda_min_driver(const struct gm_cuda_table *t, int major, int minor,
                              struct gm_cuda_need *out, struct gm_err *err);

enum gm_cuda_verdict {
	GM_CUDA_NATIVE = 0,   /* the driver supports the release fully */
	GM_CUDA_MINOR_COMPAT, /* runs only through minor version compatibility (same major) */
	GM_CUDA_TOO_OLD,      /* the driver cannot run it */
	GM_CUDA_UNKNOWN,      /* the driver version could not be parsed */
};

/* Whether driver (a version string) runs applications built with the release in need. */
enum gm_cuda_verdict gm_cuda_driver_verdict(const struct gm_cuda_need *need, const char *driver);

#endif

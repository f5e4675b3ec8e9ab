/* File helpers: bounded reads of small text files (sysfs, procfs, configs), reads through a
 * root prefix so every host reader works on fixture trees, and atomic writes so no reader
 * ever sees a half-written file under its final name. */
#ifndef GM_FS_H
#define GM_FS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Reads at most max bytes of path into out (replacing its contents). A longer file is
 * GM_ERR_LIMIT; a missing one GM_ERR_NOT_FOUND; other failures GM_ERR_IO. */
enum gm_rc gm_fs_read(const char *path, size_t max, struct gm_buf *out, struct gm_err *err);

/* Writes data to path through a temporary file in the same directory, fsync and rename.
 * On failure the old file (if any) is untouched and no temporary is left behind. */
enum gm_rc gm_fs_write_atomic(const char *path, const void *data, size_t len, struct gm_err *err);

/* The directory for state a later run picks up (upload journals): sub (a relative path,
 * e.g. "gpumigrate/uploads") below $XDG_STATE_HOME when that is absolute, else below
 * $HOME/.local/state. Missing directories are made 0700; the last one must be a directory
 * of this user (GM_ERR_PERMISSION otherwise, saying to set XDG_STATE_HOME) and is made 0700
 * when it allows more. out gets the path (replacing). GM_ERR_IO when it cannot be made. */
enum gm_rc gm_fs_state_dir(const char *sub, struct gm_buf *out, struct gm_err *err);

/* A host root: "" or "/" means the live system; anything else is a directory that holds a
 * copy of the parts of /sys, /proc, /etc, /dev … a reader needs (a fixture, or a chroot). */
struct gm_root {
	const char *dir;
};

/* out = root + path (path is absolute, e.g. "/proc/cmdline"). */
void gm_root_path(const struct gm_root *root, const char *path, struct gm_buf *out);
/* Reads a small file below the root (cap 1 MiB) into out; trailing whitespace removed. */
enum gm_rc gm_root_read(const struct gm_root *root, const char *path, struct gm_buf *out,
                        struct gm_err *err);
/* Whether path exists below the root (lstat). */
bool gm_root_exists(const struct gm_root *root, const char *path);
/* Target of the symlink path below the root, into out. */
enum gm_rc gm_root_readlink(const struct gm_root *root, const char *path, struct gm_buf *out,
                            struct gm_err *err);
/* Opens the directory path below the root; NULL with errno set (as opendir sets it) on
 * failure. */
DIR *gm_root_opendir(const struct gm_root *root, const char *path);

/* Parses a whole decimal (or 0x-prefixed hexadecimal when base is 0) string; surrounding
 * whitespace allowed, nothing else. */
enum gm_rc gm_parse_i64(const char *s, int base, int64_t *out);
enum gm_rc gm_parse_u64(const char *s, int base, uint64_t *out);
/* The value of one hexadecimal digit (either case), or -1 for any other character. */
int gm_hex_digit(char c);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31; not checked). */
int64_t gm_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif

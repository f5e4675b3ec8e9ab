/* The sync endpoint over an object store (s3://, gs://): a bucket prefix seen as a tree.
 * Directories are key prefixes, with a zero-byte marker object "dir/" that keeps an empty
 * directory and its mode and mtime; files are objects; symlinks are zero-byte objects whose
 * target is in their metadata. The POSIX metadata travels as user metadata:
 *   gm-kind   f, d or l;             gm-mode  octal permission bits;
 *   gm-mtime  ns since the epoch;    gm-uid, gm-gid  numeric owner;
 *   gm-hash   XXH3-128 of the content (32 hex digits) where known at upload;
 *   gm-link   the symlink target, percent-encoded;
 *   mtime     seconds.nanoseconds, the name and form rclone uses, so rclone sees our times.
 * Objects written by other tools have none of it: they list as files with mode 0644, the
 * store's modification time and the caller's owner.
 *
 * Uploads larger than two chunks go in parts (S3 multipart, GCS resumable sessions); each
 * has a journal in $XDG_STATE_HOME/gpumigrate/uploads (0700; files 0600): the chunk hashes
 * and hash state of journal.h, plus the upload's identity, so a killed run resumes without
 * re-sending the parts the store already holds. */
#ifndef GM_SYNC_OBJSTORE_H
#define GM_SYNC_OBJSTORE_H

#include "objstore/store.h"
#include "sync/endpoint.h"

/* Opens bucket/prefix on the store of scheme ("s3" or "gs"). */
enum gm_rc gm_sync_objstore_open(const char *scheme, const char *bucket, const char *prefix,
                                 const struct gm_sync_open_opts *opts,
                                 struct gm_sync_endpoint **out, struct gm_err *err);

#endif

/* An object store as the sync engine's object endpoint (src/sync/objstore.c) sees it: a
 * bucket of keys, each an object with a size, the store's own checksums and our user
 * metadata; listings by prefix with '/' folding; ranged reads; writes either whole (one
 * request) or as an upload in parts that survives the process (S3 multipart, GCS resumable
 * sessions). s3.c and gcs.c implement it; nothing here knows about files or directories.
 *
 * All operations may be called from several threads at once. */
#ifndef GM_OBJSTORE_STORE_H
#define GM_OBJSTORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objstore/http.h"
#include "util/buf.h"
#include "util/err.h"

/* User metadata: at most this many pairs; names are lowercase [a-z0-9-], values printable
 * ASCII (the object endpoint percent-encodes anything else). Stores keep them as
 * x-amz-meta-<name> headers (S3) or the object's "metadata" map (GCS). */
#define GM_OS_META_MAX 10

struct gm_os_kv {
	const char *name;
	const char *value;
};

/* One object as the store describes it. */
struct gm_os_object {
	struct gm_buf key; /* the full key */
	uint64_t size;
	int64_t mtime_ns;   /* the store's last-modified time */
	struct gm_buf etag; /* without quotes */
	bool has_md5;       /* md5: the whole object's MD5 (S3 single-part ETag, GCS md5Hash) */
	uint8_t md5[16];
	bool has_crc32c; /* crc32c: the whole object's CRC32C (GCS crc32c, x-goog-hash) */
	uint32_t crc32c;
	bool meta_known;    /* the user metadata below was returned (GCS listings, every head);
	                     * false for an S3 listing, which carries none */
	struct gm_buf meta; /* user metadata: "name\0value\0" pairs */
};

void gm_os_object_init(struct gm_os_object *o);
void gm_os_object_release(struct gm_os_object *o);
void gm_os_object_reset(struct gm_os_object *o);
/* The value of user metadata name, or NULL. */
const char *gm_os_object_meta(const struct gm_os_object *o, const char *name);
/* Adds a user metadata pair (stores use it while parsing). */
void gm_os_object_meta_add(struct gm_os_object *o, const char *name, size_t name_len,
                           const char *value, size_t value_len);

/* Listing callbacks: an object (o->key is the full key), or a folded common prefix (the full
 * prefix ending in '/'). Called in key order within a page, pages in order. Return false to
 * stop the listing (it then returns GM_ERR_INTERRUPTED). */
struct gm_os_list_cb {
	bool (*object)(void *ctx, const struct gm_os_object *o);
	bool (*prefix)(void *ctx, const char *prefix, size_t len);
	void *ctx;
};

/* A part of an upload as the store remembers it. */
struct gm_os_part {
	unsigned number; /* 1-based */
	uint64_t size;
	struct gm_buf tag; /* S3: the part's ETag (needed to complete) */
};

struct gm_os;

struct gm_os_ops {
	/* Every key starting with prefix; with fold, keys with a '/' after the prefix are
	 * reported once per distinct "prefix...//" instead. Pagination is the store's. */
	enum gm_rc (*list)(struct gm_os *s, const char *prefix, bool fold,
	                   const struct gm_os_list_cb *cb, struct gm_err *err);
	/* One object's description and metadata; GM_ERR_NOT_FOUND when absent. */
	enum gm_rc (*head)(struct gm_os *s, const char *key, struct gm_os_object *out,
	                   struct gm_err *err);
	/* Bytes [off, off + len) of key appended to out (len 0: to the end). info (may be NULL)
	 * receives what the answer said of the object (size, etag, checksums where the store
	 * sends them for the whole object). GM_ERR_CHANGED when etag is given and the object
	 * no longer has it. */
	enum gm_rc (*get)(struct gm_os *s, const char *key, uint64_t off, uint64_t len,
	                  const char *etag, struct gm_buf *out, struct gm_os_object *info,
	                  struct gm_err *err);
	/* Writes key in one request with the given metadata; the store checks the body against
	 * the MD5 (and CRC32C where it can) we send. out (may be NULL) receives the new object. */
	enum gm_rc (*put)(struct gm_os *s, const char *key, const void *data, size_t len,
	                  const struct gm_os_kv *meta, size_t n_meta, struct gm_os_object *out,
	                  struct gm_err *err);
	/* Replaces the user metadata of an existing key, content untouched. */
	enum gm_rc (*set_meta)(struct gm_os *s, const char *key, const struct gm_os_kv *meta,
	                       size_t n_meta, struct gm_err *err);
	/* Deletes key; an absent key is fine. */
	enum gm_rc (*del)(struct gm_os *s, const char *key, struct gm_err *err);

	/* Uploads in parts. begin: a new upload of key with metadata and the total size;
	 * id receives the upload's identity (S3 UploadId, GCS session URI) to keep in a
	 * journal; treat it as a secret (a GCS session URI authorizes the upload). */
	enum gm_rc (*up_begin)(struct gm_os *s, const char *key, uint64_t total,
	                       const struct gm_os_kv *meta, size_t n_meta, struct gm_buf *id,
	                       struct gm_err *err);
	/* Sends part number (1-based) holding bytes [off, off + len) of the object. Parts
	 * are all part_size long but the last; GCS needs them in order (sequential_parts).
	 * tag receives what finish needs of the part. */
	enum gm_rc (*up_part)(struct gm_os *s, const char *key, const char *id, unsigned number,
	                      uint64_t off, const void *data, size_t len, uint64_t total,
	                      struct gm_buf *tag, struct gm_err *err);
	/* The parts the store holds for the upload, ascending (S3 ListParts; GCS: one pseudo
	 * part covering the persisted range). GM_ERR_NOT_FOUND when the upload is gone. */
	enum gm_rc (*up_parts)(struct gm_os *s, const char *key, const char *id,
	                       struct gm_os_part **parts, size_t *n, struct gm_err *err);
	/* Completes the upload from its parts (S3 CompleteMultipartUpload; GCS: the last part
	 * already did, finish only checks); out (may be NULL) receives the new object. */
	enum gm_rc (*up_finish)(struct gm_os *s, const char *key, const char *id,
	                        const struct gm_os_part *parts, size_t n, struct gm_os_object *out,
	                        struct gm_err *err);
	/* Abandons the upload and frees what the store kept of it. */
	enum gm_rc (*up_abort)(struct gm_os *s, const char *key, const char *id,
	                       struct gm_err *err);
	/* The ids of the unfinished uploads of exactly key, appended to ids one after another,
	 * each NUL-terminated; *n their count. Optional (NULL: they cannot be listed; GCS
	 * sessions expire by themselves). */
	enum gm_rc (*up_list)(struct gm_os *s, const char *key, struct gm_buf *ids, size_t *n,
	                      struct gm_err *err);

	void (*close)(struct gm_os *s);
};

/* The common head of both stores. */
struct gm_os {
	const struct gm_os_ops *ops;
	const char *scheme; /* "s3" or "gs" */
	struct gm_buf bucket;
	struct gm_buf endpoint; /* where requests go, for messages and the journal's name */
	bool sequential_parts;  /* parts must be sent one after another, in order */
	uint64_t part_min;      /* smallest part but the last */
	uint64_t part_align;    /* parts are multiples of this (GCS: 256 KiB) */
	unsigned max_parts;     /* most parts of one upload */
	bool get_carries_meta;  /* a get's info holds the user metadata (S3) */
	/* set_meta rewrites the object onto itself (S3's CopyObject: MinIO and Ceph change only
	 * the metadata, AWS copies the bytes inside the store): the largest object it takes.
	 * 0: metadata changes in place at any size (GCS). */
	uint64_t meta_rewrite_max;
	struct gm_os_http http;
};

/* How to open a store. */
struct gm_os_opts {
	bool insecure;          /* --insecure */
	const char *endpoint;   /* --endpoint URL, overriding the environment */
	const char *region;     /* --region */
	int path_style;         /* -1: the default (path style with a custom endpoint), 0, 1 */
	const char *profile;    /* --profile (AWS_PROFILE otherwise) */
	unsigned base_delay_ms; /* retry backoff base (tests make it small); 0: default */
};

/* Opens bucket on S3 or an S3-compatible store, resolving credentials, region and endpoint
 * the way the AWS CLI does (s3.c). */
enum gm_rc gm_os_s3_open(const char *bucket, const struct gm_os_opts *opts, struct gm_os **out,
                         struct gm_err *err);
/* Opens bucket on Google Cloud Storage or the emulator named by STORAGE_EMULATOR_HOST,
 * with credentials from GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default file
 * or the metadata server (gcs.c). */
enum gm_rc gm_os_gcs_open(const char *bucket, const struct gm_os_opts *opts, struct gm_os **out,
                          struct gm_err *err);
void gm_os_close(struct gm_os *s);

/* RFC 3339 ("2024-05-06T07:08:09.123Z", "…+02:00": listings) to ns since the epoch (years
 * 1678 to 2262; others are false). */
bool gm_os_time_rfc3339(const char *s, int64_t *out);
/* The same to whole seconds (the fraction dropped), for any year 0000-9999. */
bool gm_os_time_rfc3339_sec(const char *s, int64_t *out);
/* An HTTP date ("Mon, 12 Oct 2009 17:50:30 GMT": Last-Modified) to ns since the epoch. */
bool gm_os_time_http(const char *s, int64_t *out);

#endif

/* The resume journal of one large file being written: a header naming the source the
 * temporary file belongs to, then one record per chunk whose data was verified and made
 * durable. A run killed mid-file finds the journal and resends only from the last recorded
 * chunk boundary, with the whole-file hash picked up where it stopped.
 *
 * Layout (all integers little-endian):
 *   header: magic "GMSJRNL\n", u32 version, u32 XXH_versionNumber(), u32 sizeof(XXH3_state_t),
 *           u32 path length, u64 chunk size, u64 source size, i64 mtime_ns, i64 ctime_ns,
 *           u64 ino, the path bytes, u64 XXH3-64 of everything before it.
 *   record: u64 chunk index, 16-byte source chunk hash, u32 secret kind, the whole-file
 *           XXH3 state after that chunk, u64 XXH3-64 of everything before it in the record.
 * The XXH3 state is only meaningful to the same xxHash version and struct size, so both are
 * in the header; its pointer to the library's default secret is not stored (the secret kind
 * says which one to put back). */
#ifndef GM_SYNC_JOURNAL_H
#define GM_SYNC_JOURNAL_H

#include <stdint.h>

#include "sync/endpoint.h"
#include "util/buf.h"
#include "util/err.h"

struct gm_sync_journal {
	int fd;          /* -1 when closed */
	uint64_t chunks; /* records in the journal */
	uint64_t off;    /* where the next record goes */
	struct gm_buf rec;
};

void gm_sync_journal_init(struct gm_sync_journal *j);
/* Closes the file (the journal stays on disk; unlink it yourself). Accepts NULL. */
void gm_sync_journal_close(struct gm_sync_journal *j);

/* Creates (or replaces) the journal name in dirfd for path and its source src, with no
 * records. */
enum gm_rc gm_sync_journal_create(struct gm_sync_journal *j, int dirfd, const char *name,
                                  const char *path, const struct gm_sync_meta *src,
                                  struct gm_err *err);

/* Opens the journal name in dirfd and checks it: its header must be for path, for a source
 * with src's size, mtime, ctime and ino, for GM_SYNC_CHUNK and for this xxHash; every record
 * must be in sequence and pass its checksum. A short last record (an append cut off by a
 * crash) is dropped and the file truncated after the record before it. At most max_chunks
 * records are used (later ones are cut off). On GM_OK j->chunks holds the number of records, whole
 * holds the whole-file hash state after the last one (unchanged when there are none), and appends
 * continue after it. GM_ERR_NOT_FOUND: there is no journal. GM_ERR_PARSE: it is not usable
 * (err says why); the caller discards it. */
enum gm_rc gm_sync_journal_load(struct gm_sync_journal *j, int dirfd, const char *name,
                                const char *path, const struct gm_sync_meta *src,
                                uint64_t max_chunks, struct gm_sync_hasher *whole,
                                struct gm_err *err);

/* Appends the record of chunk index (which must be j->chunks): the source's hash of that
 * chunk and the whole-file hash state after it. */
enum gm_rc gm_sync_journal_append(struct gm_sync_journal *j, uint64_t index,
                                  const struct gm_sync_hash *chunk_hash,
                                  const struct gm_sync_hasher *whole, struct gm_err *err);

#endif

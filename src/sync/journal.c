/* The resume journal: written by the local writer after each verified chunk, read back when
 * a later run opens the same file for writing. Everything read is checked before it is
 * trusted; a journal that does not fit is reported and thrown away, never half-used. */
#include "sync/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "util/log.h"

#include "util/banned.h"

#define JOURNAL_MAGIC   "GMSJRNL\n"
#define JOURNAL_VERSION 1u
/* magic, 4 u32, 5 u64 */
#define HEAD_FIXED (8u + 4u * 4u + 5u * 8u)
#define REC_SIZE   (8u + 16u + 4u + sizeof(XXH3_state_t) + 8u)
/* How many records are read at once while loading. */
#define LOAD_BATCH 128u

enum secret_kind {
	SECRET_NONE = 0,    /* seeded or fresh state: extSecret is NULL */
	SECRET_DEFAULT = 1, /* the library's default secret (XXH3_128bits_reset) */
};

static const unsigned char *default_secret(void)
{
	XXH3_state_t s;
	XXH3_128bits_reset(&s);
	return s.extSecret;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void gm_sync_journal_init(struct gm_sync_journal *j)
{
	j->fd = -1;
	j->chunks = 0;
	j->off = 0;
	gm_buf_init(&j->rec);
}

void gm_sync_journal_close(struct gm_sync_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	gm_buf_release(&j->rec);
}

static enum gm_rc write_all(int fd, const void *data, size_t len, uint64_t off, struct gm_err *err)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return gm_err_errno(err, gm_rc_from_errno(errno), errno,
			                    "cannot write the resume journal");
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return GM_OK;
}

/* The header for path and src into out. */
static void encode_head(struct gm_buf *out, const char *path, const struct gm_sync_meta *src)
{
	size_t plen = strlen(path);
	unsigned char fixed[HEAD_FIXED];
	memcpy(fixed, JOURNAL_MAGIC, sizeof(JOURNAL_MAGIC) - 1); /* 8 bytes, no NUL */
	put_u32(fixed + 8, JOURNAL_VERSION);
	put_u32(fixed + 12, XXH_versionNumber());
	put_u32(fixed + 16, (uint32_t)sizeof(XXH3_state_t));
	put_u32(fixed + 20, (uint32_t)plen);
	put_u64(fixed + 24, GM_SYNC_CHUNK);
	put_u64(fixed + 32, src->size);
	put_u64(fixed + 40, (uint64_t)src->mtime_ns);
	put_u64(fixed + 48, (uint64_t)src->ctime_ns);
	put_u64(fixed + 56, src->ino);
	gm_buf_reset(out);
	gm_buf_add(out, fixed, sizeof(fixed));
	gm_buf_add(out, path, plen);
	unsigned char sum[8];
	put_u64(sum, XXH3_64bits(out->data, out->len));
	gm_buf_add(out, sum, sizeof(sum));
}

enum gm_rc gm_sync_journal_create(struct gm_sync_journal *j, int dirfd, const char *name,
                                  const char *path, const struct gm_sync_meta *src,
                                  struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	if (j->fd >= 0)
		close(j->fd);
	j->chunks = 0;
	j->off = 0;
	j->fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return gm_err_errno(err, gm_rc_from_errno(errno), errno,
		                    "cannot create the resume journal of '%s'", path);
	encode_head(&j->rec, path, src);
	rc = write_all(j->fd, j->rec.data, j->rec.len, 0, err);
	if (rc != GM_OK)
		goto out;
	j->off = j->rec.len;
out:
	if (rc != GM_OK) {
		close(j->fd);
		j->fd = -1;
	}
	return rc;
}

/* Checks one encoded record: its checksum, its index, its secret kind. Restores the state
 * into st. */
static const char *decode_rec(const unsigned char *p, uint64_t want_index, XXH3_state_t *st)
{
	if (get_u64(p + REC_SIZE - 8) != XXH3_64bits(p, REC_SIZE - 8))
		return "a record fails its checksum";
	if (get_u64(p) != want_index)
		return "records are out of sequence";
	uint32_t kind = get_u32(p + 24);
	memcpy(st, p + 28, sizeof(*st));
	if (kind == SECRET_DEFAULT)
		st->extSecret = default_secret();
	else if (kind == SECRET_NONE)
		st->extSecret = NULL;
	else
		return "a record has an unknown hash state";
	return NULL;
}

enum gm_rc gm_sync_journal_load(struct gm_sync_journal *j, int dirfd, const char *name,
                                const char *path, const struct gm_sync_meta *src,
                                uint64_t max_chunks, struct gm_sync_hasher *whole,
                                struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	const char *why = NULL;
	struct gm_buf want = GM_BUF_INIT, got = GM_BUF_INIT;
	XXH3_state_t st;
	bool have_state = false;
	struct stat sb;

	if (j->fd >= 0)
		close(j->fd);
	j->chunks = 0;
	j->off = 0;
	j->fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (j->fd < 0) {
		if (errno == ENOENT)
			return gm_err_set(err, GM_ERR_NOT_FOUND, "no resume journal for '%s'",
			                  path);
		return gm_err_errno(err, gm_rc_from_errno(errno), errno,
		                    "cannot open the resume journal of '%s'", path);
	}
	if (fstat(j->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		why = "it is not a regular file";
		goto out;
	}

	encode_head(&want, path, src);
	if ((uint64_t)sb.st_size < want.len) {
		why = "its header is short or for another file";
		goto out;
	}
	gm_buf_grow(&got, want.len);
	ssize_t n = pread(j->fd, got.data, want.len, 0);
	if (n != (ssize_t)want.len) {
		why = "its header cannot be read";
		goto out;
	}
	got.len = want.len;
	const unsigned char *h = (const unsigned char *)got.data;
	if (memcmp(h, JOURNAL_MAGIC, 8) != 0) {
		why = "it has a bad magic number";
		goto out;
	}
	if (get_u32(h + 8) != JOURNAL_VERSION || get_u32(h + 12) != XXH_versionNumber() ||
	    get_u32(h + 16) != sizeof(XXH3_state_t) || get_u64(h + 24) != GM_SYNC_CHUNK) {
		why = "it was written by another version";
		goto out;
	}
	if (memcmp(got.data, want.data, want.len) != 0) {
		/* The fixed fields and the path are compared byte for byte; say which part
		 * differs only when the header itself is sound. */
		if (get_u32(h + 20) == want.len - HEAD_FIXED - 8 &&
		    get_u64(h + want.len - 8) == XXH3_64bits(h, want.len - 8))
			why = "it was written for another version of the source file";
		else
			why = "its header is corrupt or for another file";
		goto out;
	}

	/* A short last record is an append cut off (power lost while it was written): the
	 * records before it are whole, each with its own checksum, so they are kept and the
	 * cut one is dropped below. */
	uint64_t body = (uint64_t)sb.st_size - want.len;
	uint64_t nrec = body / REC_SIZE;
	bool cut = body % REC_SIZE != 0;
	uint64_t use = nrec < max_chunks ? nrec : max_chunks;
	gm_buf_reset(&j->rec);
	gm_buf_grow(&j->rec, (size_t)LOAD_BATCH * REC_SIZE);
	for (uint64_t i = 0; i < use;) {
		uint64_t batch = use - i < LOAD_BATCH ? use - i : LOAD_BATCH;
		size_t len = (size_t)batch * REC_SIZE;
		n = pread(j->fd, j->rec.data, len, (off_t)(want.len + i * REC_SIZE));
		if (n != (ssize_t)len) {
			why = "its records cannot be read";
			goto out;
		}
		for (uint64_t k = 0; k < batch; k++) {
			why = decode_rec((const unsigned char *)j->rec.data + k * REC_SIZE, i + k,
			                 &st);
			if (why)
				goto out;
		}
		have_state = true;
		i += batch;
	}
	j->chunks = use;
	j->off = want.len + use * REC_SIZE;
	if ((use < nrec || cut) && ftruncate(j->fd, (off_t)j->off) < 0) {
		rc = gm_err_errno(err, gm_rc_from_errno(errno), errno,
		                  "cannot shorten the resume journal of '%s'", path);
		goto out;
	}
	if (cut && use == nrec)
		gm_info("the resume journal of '%s' ends in a record cut off by a crash; resuming "
		        "after the %llu whole records before it",
		        path, (unsigned long long)use);
	if (have_state)
		XXH3_copyState(whole->state, &st);
out:
	if (why)
		rc = gm_err_set(err, GM_ERR_PARSE, "the resume journal of '%s' is not usable: %s",
		                path, why);
	if (rc != GM_OK) {
		close(j->fd);
		j->fd = -1;
		j->chunks = 0;
		j->off = 0;
	}
	gm_buf_release(&want);
	gm_buf_release(&got);
	return rc;
}

enum gm_rc gm_sync_journal_append(struct gm_sync_journal *j, uint64_t index,
                                  const struct gm_sync_hash *chunk_hash,
                                  const struct gm_sync_hasher *whole, struct gm_err *err)
{
	if (j->fd < 0 || index != j->chunks)
		return gm_err_set(err, GM_ERR_INTERNAL,
		                  "resume journal: record %llu appended after %llu records",
		                  (unsigned long long)index, (unsigned long long)j->chunks);
	XXH3_state_t st;
	XXH3_copyState(&st, whole->state);
	uint32_t kind;
	if (st.extSecret == NULL)
		kind = SECRET_NONE;
	else if (st.extSecret == default_secret())
		kind = SECRET_DEFAULT;
	else
		return gm_err_set(err, GM_ERR_INTERNAL,
		                  "resume journal: the hash uses a secret that cannot be saved");
	st.extSecret = NULL;

	unsigned char rec[REC_SIZE];
	put_u64(rec, index);
	memcpy(rec + 8, chunk_hash->b, 16);
	put_u32(rec + 24, kind);
	memcpy(rec + 28, &st, sizeof(st));
	put_u64(rec + REC_SIZE - 8, XXH3_64bits(rec, REC_SIZE - 8));
	enum gm_rc rc = write_all(j->fd, rec, sizeof(rec), j->off, err);
	if (rc != GM_OK)
		return rc;
	j->off += REC_SIZE;
	j->chunks++;
	return GM_OK;
}

/* librsync's signature, delta and patch jobs behind calls that take and give whole buffers,
 * with the bounds the rest of the sync code relies on. librsync's own messages are silenced:
 * failures come back as gm_err like everything else. */
#include "sync/delta.h"

#include <errno.h>
#include <librsync.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/xalloc.h"

#include "util/banned.h"

enum { OUT_BUF = 1 << 16, SIG_READ = 1 << 20 };

struct gm_sync_delta {
	rs_job_t *job;
	rs_signature_t *sums; /* generator: the peer's signature, indexed */
	/* patcher */
	int basis_fd;
	uint64_t basis_size, max_out, patched;
	bool finished; /* the job reached the delta's end */
	enum gm_rc (*emit)(void *ctx, const void *data, size_t len, struct gm_err *err);
	void *ctx;
	char basis_buf[OUT_BUF];
	char out[OUT_BUF];
};

static void quiet_trace(rs_loglevel level, char const *msg)
{
	(void)level;
	(void)msg;
}

static void quiet_once(void)
{
	rs_trace_to(quiet_trace);
}

static void quiet(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, quiet_once);
}

/* Where a job's output goes. */
struct sink {
	struct gm_buf *buf;          /* appended to, or */
	struct gm_sync_delta *patch; /* handed to the patcher's emit with its cap */
	size_t cap;                  /* for buf: the most it may hold */
};

static enum gm_rc sink_put(struct sink *s, const char *data, size_t len, struct gm_err *err)
{
	if (!len)
		return GM_OK;
	if (s->buf) {
		if (s->buf->len + len > s->cap)
			return gm_err_set(err, GM_ERR_LIMIT, "librsync output exceeds %zu bytes",
			                  s->cap);
		gm_buf_add(s->buf, data, len);
		return GM_OK;
	}
	struct gm_sync_delta *d = s->patch;
	if (d->patched + len > d->max_out)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "the delta builds more than the expected %llu bytes",
		                  (unsigned long long)d->max_out);
	d->patched += len;
	return d->emit(d->ctx, data, len, err);
}

/* Runs job over in[0..len) (eof: no more input follows) until it needs more input or is
 * done, passing everything it writes to the sink. *done tells which. */
static enum gm_rc run_job(rs_job_t *job, char *outbuf, const void *in, size_t len, bool eof,
                          struct sink *sink, bool *done, struct gm_err *err)
{
	rs_buffers_t b = {.next_in = (char *)in, .avail_in = len, .eof_in = eof, .next_out = NULL};
	*done = false;
	for (;;) {
		b.next_out = outbuf;
		b.avail_out = OUT_BUF;
		size_t before_in = b.avail_in;
		rs_result r = rs_job_iter(job, &b);
		size_t produced = OUT_BUF - b.avail_out;
		enum gm_rc rc = sink_put(sink, outbuf, produced, err);
		if (rc != GM_OK)
			return rc;
		if (r == RS_DONE) {
			*done = true;
			return GM_OK;
		}
		if (r != RS_BLOCKED)
			return gm_err_set(err, GM_ERR_PROTOCOL, "librsync: %s", rs_strerror(r));
		if (b.avail_in == 0 && !eof)
			return GM_OK; /* wants more input */
		if (produced == 0 && b.avail_in == before_in && eof)
			return gm_err_set(err, GM_ERR_PROTOCOL, "librsync: the input ended early");
	}
}

enum gm_rc gm_sync_delta_signature(int fd, uint64_t size, struct gm_buf *sig, struct gm_err *err)
{
	quiet();
	rs_magic_number magic = RS_BLAKE2_SIG_MAGIC;
	/* The shortest strong sum librsync deems safe for this size: a false block match can
	 * only cost a retry, because every rebuilt file is checked against the source's
	 * whole-file hash; it halves the signature (the bytes that cross first). */
	size_t block_len = 0, strong_len = (size_t)-1;
	if (rs_sig_args((rs_long_t)size, &magic, &block_len, &strong_len) != RS_DONE)
		return gm_err_set(err, GM_ERR_INTERNAL, "librsync refuses a %llu-byte basis",
		                  (unsigned long long)size);
	rs_job_t *job = rs_sig_begin(block_len, strong_len, magic);
	char *in = gm_xmalloc(SIG_READ), *out = gm_xmalloc(OUT_BUF);
	struct sink sink = {.buf = sig, .cap = GM_SYNC_DELTA_SIG_MAX};
	enum gm_rc rc = GM_OK;
	bool done = false;
	gm_buf_reset(sig);
	for (uint64_t off = 0; !done;) {
		size_t want = size - off < SIG_READ ? (size_t)(size - off) : SIG_READ;
		ssize_t n = want ? pread(fd, in, want, (off_t)off) : 0;
		if (n < 0) {
			rc = gm_err_errno(err, gm_rc_from_errno(errno), errno,
			                  "cannot read the basis for a signature");
			break;
		}
		off += (uint64_t)n;
		bool eof = n == 0 || off >= size;
		rc = run_job(job, out, in, (size_t)n, eof, &sink, &done, err);
		if (rc != GM_OK)
			break;
		if (eof && !done) {
			rc = gm_err_set(err, GM_ERR_INTERNAL,
			                "librsync did not finish the signature");
			break;
		}
	}
	rs_job_free(job);
	free(in);
	free(out);
	return rc;
}

enum gm_rc gm_sync_delta_gen_begin(const void *sig, size_t len, struct gm_sync_delta **out,
                                   struct gm_err *err)
{
	quiet();
	*out = NULL;
	if (len > GM_SYNC_DELTA_SIG_MAX)
		return gm_err_set(err, GM_ERR_PROTOCOL, "a signature of %zu bytes is too large",
		                  len);
	struct gm_sync_delta *d = gm_xcalloc(1, sizeof(*d));
	d->basis_fd = -1;
	rs_job_t *load = rs_loadsig_begin(&d->sums);
	struct gm_buf none = GM_BUF_INIT;
	struct sink sink = {.buf = &none, .cap = 0};
	bool done = false;
	enum gm_rc rc = run_job(load, d->out, sig, len, true, &sink, &done, err);
	rs_job_free(load);
	if (rc == GM_OK && !done)
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "the signature is incomplete");
	if (rc == GM_OK && rs_build_hash_table(d->sums) != RS_DONE)
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "the signature cannot be indexed");
	gm_buf_release(&none);
	if (rc != GM_OK) {
		gm_sync_delta_free(d);
		return rc;
	}
	d->job = rs_delta_begin(d->sums);
	*out = d;
	return GM_OK;
}

enum gm_rc gm_sync_delta_gen_feed(struct gm_sync_delta *d, const void *data, size_t len, bool eof,
                                  struct gm_buf *out, struct gm_err *err)
{
	struct sink sink = {.buf = out, .cap = SIZE_MAX};
	bool done = false;
	enum gm_rc rc = run_job(d->job, d->out, data, len, eof, &sink, &done, err);
	if (rc == GM_OK && eof && !done)
		rc = gm_err_set(err, GM_ERR_INTERNAL, "librsync did not finish the delta");
	return rc;
}

static rs_result basis_copy(void *opaque, rs_long_t pos, size_t *len, void **buf)
{
	struct gm_sync_delta *d = opaque;
	if (pos < 0 || (uint64_t)pos > d->basis_size)
		return RS_CORRUPT;
	uint64_t left = d->basis_size - (uint64_t)pos;
	size_t want = *len < sizeof(d->basis_buf) ? *len : sizeof(d->basis_buf);
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return RS_CORRUPT; /* a copy from beyond the end of the basis */
	ssize_t n = pread(d->basis_fd, d->basis_buf, want, (off_t)pos);
	if (n <= 0)
		return RS_IO_ERROR;
	*len = (size_t)n;
	*buf = d->basis_buf;
	return RS_DONE;
}

enum gm_rc gm_sync_delta_patch_begin(int basis_fd, uint64_t basis_size, uint64_t max_out,
                                     enum gm_rc (*emit)(void *ctx, const void *data, size_t len,
                                                        struct gm_err *err),
                                     void *ctx, struct gm_sync_delta **out, struct gm_err *err)
{
	(void)err;
	quiet();
	struct gm_sync_delta *d = gm_xcalloc(1, sizeof(*d));
	d->basis_fd = basis_fd;
	d->basis_size = basis_size;
	d->max_out = max_out;
	d->emit = emit;
	d->ctx = ctx;
	d->job = rs_patch_begin(basis_copy, d);
	*out = d;
	return GM_OK;
}

enum gm_rc gm_sync_delta_patch_feed(struct gm_sync_delta *d, const void *delta, size_t len,
                                    bool eof, struct gm_err *err)
{
	if (d->finished) {
		if (len)
			return gm_err_set(err, GM_ERR_PROTOCOL, "bytes after the end of the delta");
		return GM_OK;
	}
	struct sink sink = {.patch = d};
	enum gm_rc rc = run_job(d->job, d->out, delta, len, eof, &sink, &d->finished, err);
	if (rc == GM_OK && eof && !d->finished)
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "the delta is incomplete");
	return rc;
}

uint64_t gm_sync_delta_patched(const struct gm_sync_delta *d)
{
	return d->patched;
}

void gm_sync_delta_free(struct gm_sync_delta *d)
{
	if (!d)
		return;
	if (d->job)
		rs_job_free(d->job);
	if (d->sums)
		rs_free_sumset(d->sums);
	free(d);
}

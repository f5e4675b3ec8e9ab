/* The sync wire protocol: how a remote endpoint (remote.c) and a server (server.c) carry the
 * operations of struct gm_sync_ops over one byte stream (ssh's standard input and output).
 * Everything here is an encoder or a decoder; the decoders are the first code to see what a
 * peer sent, so they check every length, every path and every cap and never trust a byte.
 *
 * A frame is a 10-byte header — u32 payload length, u8 type, u8 flags, u32 request id, all
 * little-endian — then the payload: a sequence of typed fields (LEB128 varints for integers,
 * zigzag for signed ones, a varint length then the bytes for strings, 16 raw bytes for a
 * hash). DATA and PATCH payloads are the raw bytes, zstd-compressed when GM_PROTO_F_ZSTD is
 * set. Replies carry the id of their request; the frames of a read stream carry the id of
 * its OPEN_READ, the frames of a write stream the id of its OPEN_WRITE or OPEN_PATCH.
 *
 * A connection starts with HELLO both ways (client first): magic "GMSYNC" and the protocol
 * version come first in every version of the protocol, so a mismatch can always be named.
 *
 * Several connections of one client may write to the same root: the first server takes the
 * root's lock and returns its token in its HELLO (local.h, gm_sync_local_token); the client
 * sends that token in the HELLO of every other connection (GM_PROTO_FEAT_SECONDARY), whose
 * server then joins the first one's lock as a writer of the same run.
 *
 * Deltas (delta.h): SIGNATURE asks for the librsync signature of a file, answered by one
 * or more SIGNATURE_R frames (GM_PROTO_F_MORE on all but the last; at most
 * GM_SYNC_DELTA_SIG_MAX bytes in all); OPEN_PATCH starts a write stream that rebuilds a
 * file from its current content (which must still be the basis the signature described)
 * and the delta carried by PATCH frames, the last with GM_PROTO_F_EOF; COMMIT ends it as
 * for OPEN_WRITE. OPEN_PATCH has no reply unless it fails (ERROR). */
#ifndef GM_SYNC_PROTO_H
#define GM_SYNC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/endpoint.h"
#include "util/buf.h"
#include "util/err.h"

#define GM_PROTO_VERSION 3
#define GM_PROTO_MAGIC   "GMSYNC"
#define GM_PROTO_HDR     10
/* The largest payload a peer may send. */
#define GM_PROTO_FRAME_MAX ((uint32_t)4 << 20)
/* The largest DATA or PATCH frame, before compression and after decompression. */
#define GM_PROTO_DATA_MAX ((size_t)1 << 20)
/* The most signature bytes in one SIGNATURE_R frame. */
#define GM_PROTO_SIG_PART ((size_t)1 << 20)
/* The most directory entries in one LIST_R frame. */
#define GM_PROTO_LIST_MAX 4096
/* The longest error message or version string a peer may send. */
#define GM_PROTO_TEXT_MAX 4096

enum gm_proto_type {
	/* magic, version, gm version, caps, features, root kind, rc, msg, has token, token
	 * (16 bytes: the root's lock token; see GM_PROTO_FEAT_SECONDARY) */
	GM_PROTO_HELLO = 1,
	GM_PROTO_ERROR = 2, /* reply: rc, message */
	GM_PROTO_OK = 3,    /* reply without data */
	GM_PROTO_STAT = 10, /* path */
	GM_PROTO_STAT_R,    /* meta, has link, link */
	GM_PROTO_LIST,      /* path */
	GM_PROTO_LIST_R,    /* count, entries (name, has link, link, meta); F_MORE: more follow */
	GM_PROTO_HASH,      /* path */
	GM_PROTO_HASH_R,    /* hash, meta */
	GM_PROTO_XATTRS,    /* path */
	GM_PROTO_XATTRS_R,  /* blob */
	GM_PROTO_SPACE,     /* (nothing) */
	GM_PROTO_SPACE_R,   /* avail */
	GM_PROTO_OPEN_READ = 20,  /* path, offset; answered by DATA/HOLE/CHUNK... END or ERROR */
	GM_PROTO_DATA,            /* raw bytes (both directions: read and write streams) */
	GM_PROTO_HOLE,            /* length */
	GM_PROTO_CHUNK,           /* hash */
	GM_PROTO_END,             /* hash, whole_valid, changed, meta */
	GM_PROTO_CANCEL,          /* id: a read stream the client no longer wants */
	GM_PROTO_OPEN_WRITE = 30, /* path, meta, flags; answered by OPEN_WRITE_R or ERROR */
	GM_PROTO_OPEN_WRITE_R,    /* resume_at */
	GM_PROTO_COMMIT,          /* stream, has whole, whole, meta, has xattrs, xattrs */
	GM_PROTO_COMMIT_R,        /* written hash */
	GM_PROTO_ABORT,           /* id: the write stream; F_KEEP */
	GM_PROTO_OPEN_PATCH,      /* path, meta (the source), basis meta, flags; no reply */
	GM_PROTO_PATCH,           /* raw delta bytes of an OPEN_PATCH stream; F_EOF: the last */
	GM_PROTO_MKDIR = 40,      /* path, meta */
	GM_PROTO_SYMLINK,         /* path, target, meta */
	GM_PROTO_HARDLINK,        /* existing, path */
	GM_PROTO_REMOVE,          /* path */
	GM_PROTO_SET_META,        /* path, meta, flags */
	GM_PROTO_SET_XATTRS,      /* path, blob (the whole set the entry must have); OK or ERROR */
	GM_PROTO_SIGNATURE = 50,  /* path */
	GM_PROTO_SIGNATURE_R,     /* meta (the basis), signature bytes; F_MORE: more follow */
};

/* Header flags. */
enum {
	GM_PROTO_F_ZSTD = 1u << 0, /* DATA, PATCH: the payload is one zstd frame */
	GM_PROTO_F_MORE = 1u << 1, /* LIST_R, SIGNATURE_R: more frames follow for this request */
	GM_PROTO_F_KEEP = 1u << 2, /* ABORT: keep the temporary file for a resume */
	GM_PROTO_F_EOF = 1u << 3,  /* PATCH: the last bytes of the delta */
};

/* HELLO features. */
enum {
	GM_PROTO_FEAT_ZSTD = 1u << 0,   /* client: wants zstd; server: agrees */
	GM_PROTO_FEAT_CREATE = 1u << 1, /* client: create a missing root (writable servers only) */
	/* client: another connection of this client already opened the root. With a token
	 * (writable servers): join that connection's write lock with it, so this connection
	 * writes too. Without one: serve read-only. */
	GM_PROTO_FEAT_SECONDARY = 1u << 2,
};

struct gm_proto_hdr {
	uint32_t len;
	uint8_t type;
	uint8_t flags;
	uint32_t id;
};

/* One decoded frame. Which fields mean something depends on type (see enum gm_proto_type);
 * the others are left zero. */
struct gm_proto_msg {
	uint8_t type, flags;
	uint32_t id;
	/* HELLO: version; HOLE: length; OPEN_READ: offset; OPEN_WRITE_R: resume_at; SPACE_R:
	 * avail; COMMIT: the stream id; OPEN_WRITE, OPEN_PATCH, SET_META: flags */
	uint64_t num;
	enum gm_rc rc;          /* HELLO, ERROR */
	unsigned caps;          /* HELLO */
	unsigned features;      /* HELLO */
	enum gm_sync_kind kind; /* HELLO: the root's kind (NONE: absent) */
	/* a: the path (HARDLINK: existing), HELLO's gpumigrate version; b: HARDLINK's path, a
	 * symlink's link or target, ERROR's and HELLO's message, XATTRS_R's, COMMIT's and
	 * SET_XATTRS's blob,
	 * SIGNATURE_R's signature bytes */
	struct gm_buf a, b;
	bool has_b;                /* STAT_R: a link; COMMIT: xattrs */
	bool has_hash;             /* COMMIT: a whole-file hash; HELLO: a lock token */
	bool whole_valid, changed; /* END */
	struct gm_sync_meta meta;  /* OPEN_PATCH: the source; SIGNATURE_R: the basis */
	struct gm_sync_meta basis; /* OPEN_PATCH: the basis the delta was made against */
	struct gm_sync_hash hash;  /* HELLO: the lock token */
	/* LIST_R: entries are appended here when not NULL (set by the caller before decoding) */
	struct gm_sync_list *list;
	/* DATA, PATCH: the bytes, pointing into the payload given to gm_proto_decode */
	const uint8_t *data;
	size_t data_len;
};

void gm_proto_msg_init(struct gm_proto_msg *m);
void gm_proto_msg_release(struct gm_proto_msg *m);
/* Clears the fields for reuse (keeps buffers and the list pointer). */
void gm_proto_msg_reset(struct gm_proto_msg *m);

/* The header in wire order. */
void gm_proto_hdr_encode(const struct gm_proto_hdr *h, uint8_t out[GM_PROTO_HDR]);
/* Parses a header: an unknown type or a payload over GM_PROTO_FRAME_MAX is GM_ERR_PROTOCOL. */
enum gm_rc gm_proto_hdr_decode(const uint8_t in[GM_PROTO_HDR], struct gm_proto_hdr *h,
                               struct gm_err *err);

/* Appends the frame for m (header and payload) to out. LIST_R is written with
 * gm_proto_encode_list, DATA with gm_proto_encode_data. */
void gm_proto_encode(const struct gm_proto_msg *m, struct gm_buf *out);
/* Appends one LIST_R frame holding entries from *next on (at most GM_PROTO_LIST_MAX and
 * what fits in a frame), advances *next, and sets F_MORE unless it wrote the last one. An
 * empty list gives one empty frame. */
void gm_proto_encode_list(uint32_t id, const struct gm_sync_list *l, size_t *next,
                          struct gm_buf *out);
/* Appends a DATA frame for len (at most GM_PROTO_DATA_MAX) bytes; with zctx (a ZSTD_CCtx),
 * compressed when that makes it smaller. */
void gm_proto_encode_data(uint32_t id, const void *data, size_t len, void *zctx,
                          struct gm_buf *out);
/* The same for a PATCH frame; eof sets GM_PROTO_F_EOF. */
void gm_proto_encode_patch(uint32_t id, const void *data, size_t len, bool eof, void *zctx,
                           struct gm_buf *out);
/* Appends one SIGNATURE_R frame holding basis and sig[*next..] (at most GM_PROTO_SIG_PART
 * bytes), advances *next, and sets F_MORE unless it wrote the last byte. An empty signature
 * gives one frame. */
void gm_proto_encode_signature(uint32_t id, const struct gm_sync_meta *basis, const void *sig,
                               size_t len, size_t *next, struct gm_buf *out);

/* Decodes the payload of a frame whose header was accepted by gm_proto_hdr_decode. Every
 * field is checked: paths with gm_sync_path_check (and GM_SYNC_PATH_MAX), names as single
 * components of at most GM_SYNC_NAME_MAX bytes, link targets and texts for length and NUL,
 * blobs against GM_SYNC_XATTRS_MAX, enum values for range, and nothing may follow the last
 * field. A violation is GM_ERR_PROTOCOL. A compressed DATA or PATCH payload must be
 * expanded with gm_proto_unzstd first. */
enum gm_rc gm_proto_decode(const struct gm_proto_hdr *h, const uint8_t *payload,
                           struct gm_proto_msg *m, struct gm_err *err);
/* Expands a compressed DATA or PATCH payload into out (reset first), refusing more than
 * GM_PROTO_DATA_MAX bytes. dctx: a ZSTD_DCtx. */
enum gm_rc gm_proto_unzstd(void *dctx, const uint8_t *payload, size_t len, struct gm_buf *out,
                           struct gm_err *err);

/* The reading side of a connection: frames come out of a buffer filled by large reads, so
 * many small frames (a small file is four) cost one read() rather than two each. The
 * buffer may hold bytes past the frame last returned: every frame of the connection must
 * be read through the same gm_proto_in. */
struct gm_proto_in {
	int fd;
	uint8_t *buf;
	size_t start, end; /* the unread bytes are buf[start..end) */
};

#define GM_PROTO_IN_BUF ((size_t)256 << 10)

void gm_proto_in_init(struct gm_proto_in *in, int fd);
void gm_proto_in_release(struct gm_proto_in *in);
/* Reads one frame: header into h, payload into payload (reset first). End of input (before
 * or inside a frame) and read errors are GM_ERR_UNREACHABLE; a bad header is
 * GM_ERR_PROTOCOL. */
enum gm_rc gm_proto_in_frame(struct gm_proto_in *in, struct gm_proto_hdr *h, struct gm_buf *payload,
                             struct gm_err *err);
/* True when the next frame is whole in the buffer, so gm_proto_in_frame will not block: a
 * peer that batches its answers sends them before it waits for more. */
bool gm_proto_in_ready(const struct gm_proto_in *in);
/* Writes all of data to fd (retrying short writes and EINTR). A closed peer or a write error
 * is GM_ERR_UNREACHABLE. */
enum gm_rc gm_proto_write_all(int fd, const void *data, size_t len, struct gm_err *err);

/* Varint and field helpers, exported for the tests. */
void gm_proto_put_u64(struct gm_buf *b, uint64_t v);
void gm_proto_put_i64(struct gm_buf *b, int64_t v);
void gm_proto_put_bytes(struct gm_buf *b, const void *data, size_t len);
void gm_proto_put_meta(struct gm_buf *b, const struct gm_sync_meta *meta);

/* A type's name for messages ("DATA"), or "unknown". */
const char *gm_proto_type_name(unsigned type);

#endif

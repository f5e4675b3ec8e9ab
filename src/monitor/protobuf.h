/* A tiny bounded protocol buffers decoder, written from the encoding spec
 * (protobuf.dev/programming-guides/encoding): enough to walk the kubelet's pod-resources
 * answer field by field without protoc or a protobuf library. It never allocates and never
 * reads past the buffer it is given; every field of every wire type can be skipped, so
 * messages from a newer kubelet with fields we do not know still decode. */
#ifndef GM_PROTOBUF_H
#define GM_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Wire types. Groups (3, 4) are deprecated but still skippable. */
enum gm_pb_wire {
	GM_PB_VARINT = 0,
	GM_PB_I64 = 1,
	GM_PB_LEN = 2,
	GM_PB_SGROUP = 3,
	GM_PB_EGROUP = 4,
	GM_PB_I32 = 5,
};

/* Deepest nesting of groups that gm_pb_next skips. */
#define GM_PB_MAX_GROUP_DEPTH 32

/* A cursor over one message's bytes (not owned). */
struct gm_pb_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
};

/* One field as read. For GM_PB_VARINT, I64 and I32 the value is in u64 (I32 zero-extended);
 * for GM_PB_LEN, data and len point into the reader's buffer. A group has been skipped
 * whole and carries nothing. */
struct gm_pb_field {
	uint32_t num; /* 1 .. 2^29-1 */
	enum gm_pb_wire wire;
	uint64_t u64;
	const uint8_t *data;
	size_t len;
};

/* Starts a reader over data[0..len). */
void gm_pb_reader_init(struct gm_pb_reader *r, const void *data, size_t len);

/* Reads a base-128 varint of at most 10 bytes from data[*pos..len), advancing *pos.
 * GM_ERR_PARSE when it is truncated, longer than 10 bytes or overflows 64 bits. */
enum gm_rc gm_pb_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *out);

/* The next field of the message: GM_OK with *f filled, GM_ERR_NOT_FOUND at the end of the
 * message, GM_ERR_PARSE (err says what and at which offset) for a truncated or malformed
 * field: a tag of field number 0 or above 2^29-1, an unknown wire type, a length that runs
 * past the end, an end-group without its start or groups nested deeper than
 * GM_PB_MAX_GROUP_DEPTH. Groups are skipped and reported with wire GM_PB_SGROUP. */
enum gm_rc gm_pb_next(struct gm_pb_reader *r, struct gm_pb_field *f, struct gm_err *err);

#endif

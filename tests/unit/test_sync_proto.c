/* Unit tests for the sync wire protocol and its two ends: every frame type round-trips
 * field by field; every truncation, oversize field, bad path and bad name is refused; a
 * version mismatch names both versions; and the remote endpoint (remote.c) talks to a real
 * server (server.c) serving a temporary directory through the local endpoint over a
 * socketpair — small and large files, holes, listings, links, removal, a failed open
 * reported at commit, cancelled reads, zstd, concurrent callers — plus hand-written hostile
 * servers and clients: escaping paths, bad names, a connection that dies mid-call. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include "sync/delta.h"
#include "sync/endpoint.h"
#include "sync/proto.h"
#include "sync/remote.h"
#include "sync/server.h"

/* ---- codec ---- */

static void encode_decode(const struct gm_proto_msg *in, struct gm_proto_msg *out,
                          struct gm_buf *frame)
{
	struct gm_proto_hdr h;
	struct gm_err err = GM_ERR_INIT;
	gm_buf_reset(frame);
	gm_proto_encode(in, frame);
	assert_true(frame->len >= GM_PROTO_HDR);
	assert_int_equal(gm_proto_hdr_decode((const uint8_t *)frame->data, &h, &err), GM_OK);
	assert_int_equal(h.len, frame->len - GM_PROTO_HDR);
	assert_int_equal(h.type, in->type);
	assert_int_equal(h.id, in->id);
	assert_int_equal(h.flags, in->flags);
	if (gm_proto_decode(&h, (const uint8_t *)frame->data + GM_PROTO_HDR, out, &err))
		fail_msg("%s: %s", gm_proto_type_name(in->type), gm_err_msg(&err));
	gm_err_release(&err);
}

static struct gm_sync_meta sample_meta(void)
{
	struct gm_sync_meta m = {GM_SYNC_FILE,
	                         0644,
	                         1000,
	                         1001,
	                         2,
	                         123456789012ull,
	                         4096,
	                         -1234567890123ll,
	                         1700000000123456789ll,
	                         0xfd01,
	                         987654321,
	                         false};
	return m;
}

static void assert_meta_equal(const struct gm_sync_meta *a, const struct gm_sync_meta *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->allocated, b->allocated);
	assert_int_equal(a->mtime_ns, b->mtime_ns);
	assert_int_equal(a->ctime_ns, b->ctime_ns);
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->ino, b->ino);
}

/* One message of each type with distinctive values. */
static size_t sample_msgs(struct gm_proto_msg *v)
{
	static const uint8_t types[] = {
	        GM_PROTO_HELLO,      GM_PROTO_ERROR,        GM_PROTO_OK,
	        GM_PROTO_STAT,       GM_PROTO_STAT_R,       GM_PROTO_LIST,
	        GM_PROTO_HASH,       GM_PROTO_HASH_R,       GM_PROTO_XATTRS,
	        GM_PROTO_XATTRS_R,   GM_PROTO_SPACE,        GM_PROTO_SPACE_R,
	        GM_PROTO_OPEN_READ,  GM_PROTO_DATA,         GM_PROTO_HOLE,
	        GM_PROTO_CHUNK,      GM_PROTO_END,          GM_PROTO_CANCEL,
	        GM_PROTO_OPEN_WRITE, GM_PROTO_OPEN_WRITE_R, GM_PROTO_COMMIT,
	        GM_PROTO_COMMIT_R,   GM_PROTO_ABORT,        GM_PROTO_MKDIR,
	        GM_PROTO_SYMLINK,    GM_PROTO_HARDLINK,     GM_PROTO_REMOVE,
	        GM_PROTO_SET_META,   GM_PROTO_SIGNATURE,    GM_PROTO_SIGNATURE_R,
	        GM_PROTO_OPEN_PATCH, GM_PROTO_PATCH,        GM_PROTO_SET_XATTRS,
	};
	static const uint8_t data[] = "some \0 bytes";
	size_t n = sizeof(types);
	for (size_t i = 0; i < n; i++) {
		struct gm_proto_msg *m = &v[i];
		gm_proto_msg_init(m);
		m->type = types[i];
		m->id = 0x01020304u + (uint32_t)i;
		m->meta = sample_meta();
		for (int k = 0; k < 16; k++)
			m->hash.b[k] = (uint8_t)(k * 17 + i);
		switch (m->type) {
		case GM_PROTO_HELLO:
			m->num = GM_PROTO_VERSION;
			gm_buf_adds(&m->a, "0.1.0");
			m->caps = 0x7f;
			m->features = GM_PROTO_FEAT_ZSTD;
			m->kind = GM_SYNC_DIR;
			m->rc = GM_ERR_NOT_FOUND;
			gm_buf_adds(&m->b, "no such directory");
			m->has_hash = true; /* the lock token */
			break;
		case GM_PROTO_ERROR:
			m->rc = GM_ERR_PERMISSION;
			gm_buf_adds(&m->b, "cannot open 'x': permission denied");
			break;
		case GM_PROTO_STAT_R:
			m->meta.kind = GM_SYNC_SYMLINK;
			m->has_b = true;
			gm_buf_adds(&m->b, "../target with space");
			break;
		case GM_PROTO_XATTRS_R:
		case GM_PROTO_COMMIT:
			gm_buf_add(&m->b, "\x04\0\0\0user\x01\0\0\0\0", 13);
			m->has_b = true;
			m->has_hash = true;
			m->num = 77;
			break;
		case GM_PROTO_SPACE_R:
		case GM_PROTO_OPEN_WRITE_R: m->num = 5ull << 40; break;
		case GM_PROTO_HOLE: m->num = 65536; break;
		case GM_PROTO_OPEN_READ: m->num = 3 * GM_SYNC_CHUNK; break;
		case GM_PROTO_DATA:
			m->data = data;
			m->data_len = sizeof(data);
			break;
		case GM_PROTO_PATCH:
			m->data = data;
			m->data_len = sizeof(data);
			m->flags = GM_PROTO_F_EOF;
			break;
		case GM_PROTO_SIGNATURE_R:
			gm_buf_add(&m->b, "rs\x016sig\0bytes", 13);
			m->flags = GM_PROTO_F_MORE;
			break;
		case GM_PROTO_OPEN_PATCH:
			m->basis = sample_meta();
			m->basis.size = 42;
			m->basis.mtime_ns = -7;
			m->num = GM_SYNC_W_FSYNC;
			break;
		case GM_PROTO_END:
			m->whole_valid = true;
			m->changed = true;
			break;
		case GM_PROTO_ABORT: m->flags = GM_PROTO_F_KEEP; break;
		case GM_PROTO_SYMLINK: gm_buf_adds(&m->b, "/abs/target"); break;
		case GM_PROTO_HARDLINK: gm_buf_adds(&m->b, "dir/other name"); break;
		case GM_PROTO_OPEN_WRITE:
		case GM_PROTO_SET_META: m->num = GM_SYNC_W_OWNER | GM_SYNC_W_FSYNC; break;
		case GM_PROTO_SET_XATTRS:
			gm_buf_add(&m->b, "\x06\0\0\0user.b\x02\0\0\0v2\x06\0\0\0user.a\0\0\0\0",
			           30);
			break;
		}
		if (m->type == GM_PROTO_STAT || m->type == GM_PROTO_LIST ||
		    m->type == GM_PROTO_HASH || m->type == GM_PROTO_XATTRS ||
		    m->type == GM_PROTO_OPEN_READ || m->type == GM_PROTO_OPEN_WRITE ||
		    m->type == GM_PROTO_MKDIR || m->type == GM_PROTO_SYMLINK ||
		    m->type == GM_PROTO_HARDLINK || m->type == GM_PROTO_REMOVE ||
		    m->type == GM_PROTO_SET_META || m->type == GM_PROTO_SIGNATURE ||
		    m->type == GM_PROTO_OPEN_PATCH || m->type == GM_PROTO_SET_XATTRS)
			gm_buf_adds(&m->a, "dir/sub dir/f\xff\xfe\nname");
	}
	return n;
}

static void test_roundtrip_every_type(void **state)
{
	struct gm_proto_msg v[40], out;
	struct gm_buf frame = GM_BUF_INIT;
	size_t n = sample_msgs(v);
	gm_proto_msg_init(&out);
	for (size_t i = 0; i < n; i++) {
		const struct gm_proto_msg *m = &v[i];
		encode_decode(m, &out, &frame);
		assert_int_equal(out.type, m->type);
		assert_int_equal(out.id, m->id);
		assert_int_equal(out.flags, m->flags);
		switch (m->type) {
		case GM_PROTO_HELLO:
			assert_int_equal(out.num, GM_PROTO_VERSION);
			assert_string_equal(gm_buf_cstr(&out.a), "0.1.0");
			assert_int_equal(out.caps, 0x7f);
			assert_int_equal(out.features, GM_PROTO_FEAT_ZSTD);
			assert_int_equal(out.kind, GM_SYNC_DIR);
			assert_int_equal(out.rc, GM_ERR_NOT_FOUND);
			assert_string_equal(gm_buf_cstr(&out.b), "no such directory");
			assert_true(out.has_hash);
			assert_memory_equal(out.hash.b, m->hash.b, 16);
			break;
		case GM_PROTO_ERROR:
			assert_int_equal(out.rc, GM_ERR_PERMISSION);
			assert_string_equal(gm_buf_cstr(&out.b), gm_buf_cstr(&m->b));
			break;
		case GM_PROTO_STAT_R:
			assert_meta_equal(&out.meta, &m->meta);
			assert_true(out.has_b);
			assert_string_equal(gm_buf_cstr(&out.b), "../target with space");
			break;
		case GM_PROTO_HASH_R:
			assert_memory_equal(out.hash.b, m->hash.b, 16);
			assert_meta_equal(&out.meta, &m->meta);
			break;
		case GM_PROTO_XATTRS_R:
			assert_int_equal(out.b.len, 13);
			assert_memory_equal(out.b.data, m->b.data, 13);
			break;
		case GM_PROTO_COMMIT:
			assert_int_equal(out.num, 77);
			assert_true(out.has_hash);
			assert_memory_equal(out.hash.b, m->hash.b, 16);
			assert_meta_equal(&out.meta, &m->meta);
			assert_true(out.has_b);
			assert_int_equal(out.b.len, 13);
			break;
		case GM_PROTO_SPACE_R:
		case GM_PROTO_OPEN_WRITE_R:
		case GM_PROTO_HOLE:
		case GM_PROTO_OPEN_READ: assert_int_equal(out.num, m->num); break;
		case GM_PROTO_DATA:
		case GM_PROTO_PATCH:
			assert_int_equal(out.data_len, m->data_len);
			assert_memory_equal(out.data, m->data, m->data_len);
			break;
		case GM_PROTO_SIGNATURE_R:
			assert_meta_equal(&out.meta, &m->meta);
			assert_int_equal(out.b.len, 13);
			assert_memory_equal(out.b.data, m->b.data, 13);
			break;
		case GM_PROTO_OPEN_PATCH:
			assert_meta_equal(&out.meta, &m->meta);
			assert_meta_equal(&out.basis, &m->basis);
			assert_int_equal(out.num, GM_SYNC_W_FSYNC);
			break;
		case GM_PROTO_CHUNK:
		case GM_PROTO_COMMIT_R: assert_memory_equal(out.hash.b, m->hash.b, 16); break;
		case GM_PROTO_END:
			assert_memory_equal(out.hash.b, m->hash.b, 16);
			assert_true(out.whole_valid);
			assert_true(out.changed);
			assert_meta_equal(&out.meta, &m->meta);
			break;
		case GM_PROTO_OPEN_WRITE:
		case GM_PROTO_SET_META:
			assert_meta_equal(&out.meta, &m->meta);
			assert_int_equal(out.num, m->num);
			break;
		case GM_PROTO_MKDIR: assert_meta_equal(&out.meta, &m->meta); break;
		case GM_PROTO_SET_XATTRS:
			/* the records as sent, in the sender's order */
			assert_int_equal(out.b.len, 30);
			assert_memory_equal(out.b.data, m->b.data, 30);
			assert_string_equal(gm_buf_cstr(&out.a), "dir/sub dir/f\xff\xfe\nname");
			break;
		case GM_PROTO_SYMLINK:
			assert_string_equal(gm_buf_cstr(&out.b), "/abs/target");
			assert_meta_equal(&out.meta, &m->meta);
			break;
		case GM_PROTO_HARDLINK:
			assert_string_equal(gm_buf_cstr(&out.b), "dir/other name");
			break;
		}
		if (m->a.len && m->type != GM_PROTO_HELLO) {
			assert_int_equal(out.a.len, m->a.len);
			assert_memory_equal(out.a.data, m->a.data, m->a.len);
		}
	}
	for (size_t i = 0; i < n; i++)
		gm_proto_msg_release(&v[i]);
	gm_proto_msg_release(&out);
	gm_buf_release(&frame);
}

static void test_list_roundtrip_and_split(void **state)
{
	struct gm_sync_list in, out;
	struct gm_buf frame = GM_BUF_INIT, name = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta meta = sample_meta();
	size_t next = 0, frames = 0;
	gm_sync_list_init(&in);
	gm_sync_list_init(&out);
	gm_proto_msg_init(&m);
	m.list = &out;
	for (int i = 0; i < 10000; i++) {
		gm_buf_reset(&name);
		gm_buf_addf(&name, "entry %05d \n\xff", i);
		meta.ino = (uint64_t)i;
		meta.kind = i % 3 == 0 ? GM_SYNC_SYMLINK : GM_SYNC_FILE;
		gm_sync_list_add(&in, name.data, name.len,
		                 meta.kind == GM_SYNC_SYMLINK ? "../t" : NULL, 4, &meta);
	}
	do {
		struct gm_proto_hdr h;
		gm_buf_reset(&frame);
		gm_proto_encode_list(9, &in, &next, &frame);
		assert_int_equal(gm_proto_hdr_decode((const uint8_t *)frame.data, &h, &err), GM_OK);
		assert_int_equal(h.type, GM_PROTO_LIST_R);
		assert_int_equal((h.flags & GM_PROTO_F_MORE) != 0, next < in.n);
		assert_int_equal(
		        gm_proto_decode(&h, (const uint8_t *)frame.data + GM_PROTO_HDR, &m, &err),
		        GM_OK);
		frames++;
	} while (next < in.n);
	assert_int_equal(frames, 3); /* 4096 entries at most per frame */
	assert_int_equal(out.n, 10000);
	for (size_t i = 0; i < out.n; i++) {
		assert_int_equal(out.v[i].name_len, in.v[i].name_len);
		assert_memory_equal(out.v[i].name, in.v[i].name, in.v[i].name_len);
		assert_int_equal(out.v[i].meta.ino, i);
		if (i % 3 == 0)
			assert_string_equal(out.v[i].link, "../t");
		else
			assert_null(out.v[i].link);
	}
	/* an empty listing is one frame without F_MORE */
	gm_sync_list_reset(&in);
	next = 0;
	gm_buf_reset(&frame);
	gm_proto_encode_list(1, &in, &next, &frame);
	assert_int_equal(frame.len, GM_PROTO_HDR + 5);
	assert_int_equal(frame.data[5], 0);
	gm_sync_list_release(&in);
	gm_sync_list_release(&out);
	gm_buf_release(&frame);
	gm_buf_release(&name);
	gm_proto_msg_release(&m);
	gm_err_release(&err);
}

/* Decodes payload as a frame of type (flags 0); returns the rc. */
static enum gm_rc decode_raw(uint8_t type, uint8_t flags, const void *payload, size_t len)
{
	struct gm_proto_hdr h = {(uint32_t)len, type, flags, 1};
	struct gm_proto_msg m;
	struct gm_sync_list l;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_list_init(&l);
	gm_proto_msg_init(&m);
	m.list = &l;
	enum gm_rc rc = gm_proto_decode(&h, payload, &m, &err);
	if (rc)
		assert_non_null(strstr(gm_err_msg(&err), "protocol error"));
	gm_proto_msg_release(&m);
	gm_sync_list_release(&l);
	gm_err_release(&err);
	return rc;
}

static void test_truncation_at_every_byte(void **state)
{
	struct gm_proto_msg v[40];
	struct gm_buf frame = GM_BUF_INIT;
	size_t n = sample_msgs(v);
	for (size_t i = 0; i < n; i++) {
		if (v[i].type == GM_PROTO_DATA || v[i].type == GM_PROTO_PATCH)
			continue; /* any length is a valid DATA frame */
		gm_buf_reset(&frame);
		gm_proto_encode(&v[i], &frame);
		size_t len = frame.len - GM_PROTO_HDR;
		/* the payload is copied to a buffer of exactly k bytes so ASan sees overreads */
		for (size_t k = 0; k < len; k++) {
			uint8_t *p = malloc(k ? k : 1);
			memcpy(p, frame.data + GM_PROTO_HDR, k);
			if (decode_raw(v[i].type, v[i].flags, p, k) != GM_ERR_PROTOCOL)
				fail_msg("%s truncated to %zu of %zu bytes was accepted",
				         gm_proto_type_name(v[i].type), k, len);
			free(p);
		}
		/* and one byte too many */
		gm_buf_addch(&frame, 0);
		assert_int_equal(
		        decode_raw(v[i].type, v[i].flags, frame.data + GM_PROTO_HDR, len + 1),
		        GM_ERR_PROTOCOL);
		gm_proto_msg_release(&v[i]);
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].type == GM_PROTO_DATA || v[i].type == GM_PROTO_PATCH)
			gm_proto_msg_release(&v[i]);
	gm_buf_release(&frame);
}

static void test_header_checks(void **state)
{
	uint8_t raw[GM_PROTO_HDR];
	struct gm_proto_hdr h = {GM_PROTO_FRAME_MAX, GM_PROTO_DATA, 0, 7}, out;
	struct gm_err err = GM_ERR_INIT;
	gm_proto_hdr_encode(&h, raw);
	assert_memory_equal(raw, "\x00\x00\x40\x00\x15\x00\x07\x00\x00\x00", GM_PROTO_HDR);
	assert_int_equal(gm_proto_hdr_decode(raw, &out, &err), GM_OK);
	assert_int_equal(out.len, GM_PROTO_FRAME_MAX);
	h.len = GM_PROTO_FRAME_MAX + 1;
	gm_proto_hdr_encode(&h, raw);
	assert_int_equal(gm_proto_hdr_decode(raw, &out, &err), GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "4194305 bytes"));
	h.len = 0;
	h.type = 99;
	gm_proto_hdr_encode(&h, raw);
	assert_int_equal(gm_proto_hdr_decode(raw, &out, &err), GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_err_msg(&err), "unknown frame type 99"));
	h.type = GM_PROTO_OK;
	h.flags = 0x80;
	gm_proto_hdr_encode(&h, raw);
	assert_int_equal(gm_proto_hdr_decode(raw, &out, &err), GM_ERR_PROTOCOL);
	/* known flags on the wrong type */
	assert_int_equal(decode_raw(GM_PROTO_OK, GM_PROTO_F_ZSTD, "", 0), GM_ERR_PROTOCOL);
	assert_int_equal(decode_raw(GM_PROTO_OK, GM_PROTO_F_MORE, "", 0), GM_ERR_PROTOCOL);
	assert_int_equal(decode_raw(GM_PROTO_DATA, GM_PROTO_F_KEEP, "", 0), GM_ERR_PROTOCOL);
	assert_int_equal(decode_raw(GM_PROTO_OK, 0, "", 0), GM_OK);
	gm_err_release(&err);
}

static void test_varints(void **state)
{
	struct gm_buf b = GM_BUF_INIT;
	/* HOLE of UINT64_MAX: a 10-byte varint, decoded, then refused by the hole cap */
	gm_proto_put_u64(&b, UINT64_MAX);
	assert_int_equal(b.len, 10);
	assert_int_equal(decode_raw(GM_PROTO_HOLE, 0, b.data, b.len), GM_ERR_PROTOCOL);
	/* SPACE_R takes any u64 */
	assert_int_equal(decode_raw(GM_PROTO_SPACE_R, 0, b.data, b.len), GM_OK);
	/* an 11-byte varint and a 10th byte with high bits are refused */
	assert_int_equal(
	        decode_raw(GM_PROTO_SPACE_R, 0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", 11),
	        GM_ERR_PROTOCOL);
	assert_int_equal(
	        decode_raw(GM_PROTO_SPACE_R, 0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10),
	        GM_ERR_PROTOCOL);
	/* signed extremes in a meta */
	struct gm_proto_msg m, out;
	struct gm_buf frame = GM_BUF_INIT;
	gm_proto_msg_init(&m);
	gm_proto_msg_init(&out);
	m.type = GM_PROTO_END;
	m.meta.mtime_ns = INT64_MIN;
	m.meta.ctime_ns = INT64_MAX;
	m.meta.size = UINT64_MAX;
	encode_decode(&m, &out, &frame);
	assert_int_equal(out.meta.mtime_ns, INT64_MIN);
	assert_int_equal(out.meta.ctime_ns, INT64_MAX);
	assert_int_equal(out.meta.size, UINT64_MAX);
	/* a meta kind, mode or enum out of range */
	m.meta.mode = 010000;
	gm_buf_reset(&frame);
	gm_proto_encode(&m, &frame);
	assert_int_equal(
	        decode_raw(GM_PROTO_END, 0, frame.data + GM_PROTO_HDR, frame.len - GM_PROTO_HDR),
	        GM_ERR_PROTOCOL);
	gm_proto_msg_release(&m);
	gm_proto_msg_release(&out);
	gm_buf_release(&frame);
	gm_buf_release(&b);
}

/* A payload holding one path field. */
static enum gm_rc decode_path(uint8_t type, const char *path, size_t len)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_proto_put_bytes(&b, path, len);
	enum gm_rc rc = decode_raw(type, 0, b.data, b.len);
	gm_buf_release(&b);
	return rc;
}

static void test_bad_paths_and_names(void **state)
{
	static const char *bad[] = {"../x",      "..", "/etc/passwd", "a//b", "a/./b",
	                            "a/../../b", "a/", ".",           "/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode_path(GM_PROTO_STAT, bad[i], strlen(bad[i])) != GM_ERR_PROTOCOL)
			fail_msg("path '%s' was accepted", bad[i]);
		assert_int_equal(decode_path(GM_PROTO_REMOVE, bad[i], strlen(bad[i])),
		                 GM_ERR_PROTOCOL);
	}
	assert_int_equal(decode_path(GM_PROTO_STAT, "a\0b", 3), GM_ERR_PROTOCOL);
	assert_int_equal(decode_path(GM_PROTO_STAT, "", 0), GM_OK); /* the root */
	assert_int_equal(decode_path(GM_PROTO_REMOVE, "", 0), GM_ERR_PROTOCOL);
	assert_int_equal(decode_path(GM_PROTO_STAT, "a/..b/c.", 8), GM_OK);
	/* a path over GM_SYNC_PATH_MAX */
	char *longp = malloc(GM_SYNC_PATH_MAX + 2);
	memset(longp, 'a', GM_SYNC_PATH_MAX + 1);
	for (size_t i = 100; i < GM_SYNC_PATH_MAX; i += 100)
		longp[i] = '/';
	assert_int_equal(decode_path(GM_PROTO_STAT, longp, GM_SYNC_PATH_MAX + 1), GM_ERR_PROTOCOL);
	assert_int_equal(decode_path(GM_PROTO_STAT, longp, GM_SYNC_PATH_MAX), GM_OK);
	free(longp);

	/* list entries: bad names, a link on a non-symlink, kind NONE, too many, too long */
	static const char *bad_names[] = {"..", ".", "a/b", "", "/"};
	struct gm_sync_meta meta = sample_meta();
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct gm_buf b = GM_BUF_INIT;
		gm_proto_put_u64(&b, 1);
		gm_proto_put_bytes(&b, bad_names[i], strlen(bad_names[i]));
		gm_proto_put_u64(&b, 0);
		gm_proto_put_bytes(&b, "", 0);
		gm_proto_put_meta(&b, &meta);
		if (decode_raw(GM_PROTO_LIST_R, 0, b.data, b.len) != GM_ERR_PROTOCOL)
			fail_msg("name '%s' was accepted", bad_names[i]);
		gm_buf_release(&b);
	}
	struct gm_buf b = GM_BUF_INIT;
	gm_proto_put_u64(&b, 1);
	gm_proto_put_bytes(&b, "f", 1);
	gm_proto_put_u64(&b, 1); /* a link on a file */
	gm_proto_put_bytes(&b, "x", 1);
	gm_proto_put_meta(&b, &meta);
	assert_int_equal(decode_raw(GM_PROTO_LIST_R, 0, b.data, b.len), GM_ERR_PROTOCOL);
	gm_buf_reset(&b);
	gm_proto_put_u64(&b, GM_PROTO_LIST_MAX + 1);
	assert_int_equal(decode_raw(GM_PROTO_LIST_R, 0, b.data, b.len), GM_ERR_PROTOCOL);
	gm_buf_reset(&b);
	char name[GM_SYNC_NAME_MAX + 1];
	memset(name, 'n', sizeof(name));
	gm_proto_put_u64(&b, 1);
	gm_proto_put_bytes(&b, name, sizeof(name));
	gm_proto_put_u64(&b, 0);
	gm_proto_put_bytes(&b, "", 0);
	gm_proto_put_meta(&b, &meta);
	assert_int_equal(decode_raw(GM_PROTO_LIST_R, 0, b.data, b.len), GM_ERR_PROTOCOL);
	gm_buf_release(&b);
}

static void test_oversize_fields(void **state)
{
	struct gm_buf b = GM_BUF_INIT;
	/* xattrs: at the cap is fine, one byte over is refused */
	char *blob = calloc(1, GM_SYNC_XATTRS_MAX + 1);
	gm_proto_put_bytes(&b, blob, GM_SYNC_XATTRS_MAX);
	assert_int_equal(decode_raw(GM_PROTO_XATTRS_R, 0, b.data, b.len), GM_OK);
	gm_buf_reset(&b);
	gm_proto_put_bytes(&b, blob, GM_SYNC_XATTRS_MAX + 1);
	assert_int_equal(decode_raw(GM_PROTO_XATTRS_R, 0, b.data, b.len), GM_ERR_PROTOCOL);
	/* a length prefix larger than what follows */
	gm_buf_reset(&b);
	gm_proto_put_u64(&b, 1000);
	gm_buf_add(&b, "abc", 3);
	assert_int_equal(decode_raw(GM_PROTO_XATTRS_R, 0, b.data, b.len), GM_ERR_PROTOCOL);
	/* DATA over 1 MiB */
	char *big = calloc(1, GM_PROTO_DATA_MAX + 1);
	assert_int_equal(decode_raw(GM_PROTO_DATA, 0, big, GM_PROTO_DATA_MAX), GM_OK);
	assert_int_equal(decode_raw(GM_PROTO_DATA, 0, big, GM_PROTO_DATA_MAX + 1), GM_ERR_PROTOCOL);
	/* error text over the cap */
	gm_buf_reset(&b);
	gm_proto_put_u64(&b, GM_ERR_IO);
	gm_proto_put_bytes(&b, big, GM_PROTO_TEXT_MAX + 1);
	assert_int_equal(decode_raw(GM_PROTO_ERROR, 0, b.data, b.len), GM_ERR_PROTOCOL);
	/* an ERROR with rc 0 or an unknown rc */
	gm_buf_reset(&b);
	gm_proto_put_u64(&b, 0);
	gm_proto_put_bytes(&b, "x", 1);
	assert_int_equal(decode_raw(GM_PROTO_ERROR, 0, b.data, b.len), GM_ERR_PROTOCOL);
	gm_buf_reset(&b);
	gm_proto_put_u64(&b, 1000);
	gm_proto_put_bytes(&b, "x", 1);
	assert_int_equal(decode_raw(GM_PROTO_ERROR, 0, b.data, b.len), GM_ERR_PROTOCOL);

	/* a zstd bomb: 2 MiB of zeros compress to a few bytes but must not expand */
	struct gm_buf plain = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	char *zeros = calloc(1, 2 * GM_PROTO_DATA_MAX);
	size_t bound = ZSTD_compressBound(2 * GM_PROTO_DATA_MAX);
	char *z = malloc(bound);
	size_t zn = ZSTD_compress(z, bound, zeros, 2 * GM_PROTO_DATA_MAX, 1);
	assert_false(ZSTD_isError(zn));
	ZSTD_DCtx *d = ZSTD_createDCtx();
	assert_int_equal(gm_proto_unzstd(d, (uint8_t *)z, zn, &plain, &err), GM_ERR_PROTOCOL);
	zn = ZSTD_compress(z, bound, zeros, GM_PROTO_DATA_MAX, 1);
	assert_int_equal(gm_proto_unzstd(d, (uint8_t *)z, zn, &plain, &err), GM_OK);
	assert_int_equal(plain.len, GM_PROTO_DATA_MAX);
	assert_int_equal(gm_proto_unzstd(d, (uint8_t *)"garbage!", 8, &plain, &err),
	                 GM_ERR_PROTOCOL);
	/* encode_data only keeps compression when it is smaller */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	gm_buf_reset(&b);
	gm_proto_encode_data(3, zeros, 100000, c, &b);
	assert_int_equal(b.data[5], GM_PROTO_F_ZSTD);
	assert_true(b.len < 1000);
	gm_buf_reset(&b);
	gm_proto_encode_data(3, "abc", 3, c, &b);
	assert_int_equal(b.data[5], 0);
	assert_int_equal(b.len, GM_PROTO_HDR + 3);
	ZSTD_freeCCtx(c);
	ZSTD_freeDCtx(d);
	free(z);
	free(zeros);
	free(big);
	free(blob);
	gm_buf_release(&plain);
	gm_buf_release(&b);
	gm_err_release(&err);
}

static enum gm_rc decode_set_xattrs(const char *path, const void *blob, size_t len)
{
	struct gm_buf b = GM_BUF_INIT;
	gm_proto_put_bytes(&b, path, strlen(path));
	gm_proto_put_bytes(&b, blob, len);
	enum gm_rc rc = decode_raw(GM_PROTO_SET_XATTRS, 0, b.data, b.len);
	gm_buf_release(&b);
	return rc;
}

/* SET_XATTRS: the path is checked (the root is fine), the blob against the cap and as a set
 * of records. */
static void test_set_xattrs_checks(void **state)
{
	static const char good[] = "\x06\0\0\0user.a\x01\0\0\0x";
	assert_int_equal(decode_set_xattrs("a/b", good, sizeof(good) - 1), GM_OK);
	assert_int_equal(decode_set_xattrs("", good, sizeof(good) - 1), GM_OK);
	assert_int_equal(decode_set_xattrs("a", "", 0), GM_OK); /* remove them all */
	assert_int_equal(decode_set_xattrs("../x", good, sizeof(good) - 1), GM_ERR_PROTOCOL);
	assert_int_equal(decode_set_xattrs("/etc/passwd", good, sizeof(good) - 1), GM_ERR_PROTOCOL);
	assert_int_equal(decode_set_xattrs(GM_SYNC_AREA "/../..", good, sizeof(good) - 1),
	                 GM_ERR_PROTOCOL);
	/* malformed records: an overrun, a value length past the end, an empty name, a NUL in a
	 * name, a name twice */
	assert_int_equal(decode_set_xattrs("a", "\x07\0\0\0user.a", 10), GM_ERR_PROTOCOL);
	assert_int_equal(decode_set_xattrs("a", "\x06\0\0\0user.a\x02\0\0\0x", 15),
	                 GM_ERR_PROTOCOL);
	assert_int_equal(decode_set_xattrs("a", "\0\0\0\0\0\0\0\0", 8), GM_ERR_PROTOCOL);
	assert_int_equal(decode_set_xattrs("a", "\x06\0\0\0user\0a\0\0\0\0", 14), GM_ERR_PROTOCOL);
	assert_int_equal(decode_set_xattrs("a",
	                                   "\x06\0\0\0user.a\0\0\0\0"
	                                   "\x06\0\0\0user.a\x01\0\0\0y",
	                                   29),
	                 GM_ERR_PROTOCOL);
	/* at the cap is fine (one record of a big value), one byte over is refused */
	for (size_t over = 0; over < 2; over++) {
		struct gm_buf blob = GM_BUF_INIT;
		size_t vlen = GM_SYNC_XATTRS_MAX - 4 - 6 - 4 + over;
		gm_buf_add(&blob, "\x06\0\0\0user.a", 10);
		uint8_t le[4] = {(uint8_t)vlen, (uint8_t)(vlen >> 8), (uint8_t)(vlen >> 16),
		                 (uint8_t)(vlen >> 24)};
		gm_buf_add(&blob, le, 4);
		gm_buf_grow(&blob, vlen);
		memset(blob.data + blob.len, 'v', vlen);
		blob.len += vlen;
		assert_int_equal(blob.len, GM_SYNC_XATTRS_MAX + over);
		assert_int_equal(decode_set_xattrs("a", blob.data, blob.len),
		                 over ? GM_ERR_PROTOCOL : GM_OK);
		gm_buf_release(&blob);
	}
}

static void test_read_frame_ends(void **state)
{
	int p[2];
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_proto_in in;
	assert_int_equal(pipe(p), 0);
	gm_proto_in_init(&in, p[0]);
	/* a header promising 5 bytes, then 2 and the end */
	assert_int_equal(write(p[1], "\x05\0\0\0\x03\0\x01\0\0\0ab", 12), 12);
	close(p[1]);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_ERR_UNREACHABLE);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_ERR_UNREACHABLE);
	close(p[0]);
	gm_proto_in_release(&in);
	/* a frame that is fine, then garbage */
	assert_int_equal(pipe(p), 0);
	gm_proto_in_init(&in, p[0]);
	assert_int_equal(write(p[1], "\0\0\0\0\x03\0\x01\0\0\0GARBAGEGAR", 20), 20);
	close(p[1]);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
	assert_int_equal(h.type, GM_PROTO_OK);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_ERR_PROTOCOL);
	close(p[0]);
	gm_proto_in_release(&in);
	gm_buf_release(&payload);
	gm_err_release(&err);
}

struct frames_writer {
	int fd;
	struct gm_buf frames;
};

static void *frames_writer_main(void *arg)
{
	struct frames_writer *fw = arg;
	assert_int_equal(gm_proto_write_all(fw->fd, fw->frames.data, fw->frames.len, NULL), GM_OK);
	close(fw->fd);
	return NULL;
}

/* Frames come out of the reader's buffer whole and in order: two small frames from one
 * write, then a DATA frame four times the buffer, then the end. */
static void test_in_buffered(void **state)
{
	int p[2];
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	struct gm_proto_msg m;
	struct gm_proto_in in;
	struct frames_writer fw = {.frames = GM_BUF_INIT};
	pthread_t th;
	size_t big = GM_PROTO_DATA_MAX;
	uint8_t *data = malloc(big);
	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	gm_proto_msg_init(&m);
	m.type = GM_PROTO_OK;
	m.id = 1;
	gm_proto_encode(&m, &fw.frames);
	m.id = 2;
	gm_proto_encode(&m, &fw.frames);
	gm_proto_encode_data(3, data, big, NULL, &fw.frames);
	assert_true(big > 2 * GM_PROTO_IN_BUF);
	assert_int_equal(pipe(p), 0);
	fw.fd = p[1];
	gm_proto_in_init(&in, p[0]);
	assert_false(gm_proto_in_ready(&in));
	assert_int_equal(pthread_create(&th, NULL, frames_writer_main, &fw), 0);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
	assert_int_equal(h.id, 1);
	/* the pipe's first read brought the second frame along */
	assert_true(gm_proto_in_ready(&in));
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
	assert_int_equal(h.id, 2);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
	assert_int_equal(h.type, GM_PROTO_DATA);
	assert_int_equal(h.id, 3);
	assert_int_equal(payload.len, big);
	assert_memory_equal(payload.data, data, big);
	assert_false(gm_proto_in_ready(&in));
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_ERR_UNREACHABLE);
	pthread_join(th, NULL);
	close(p[0]);
	gm_proto_in_release(&in);
	gm_proto_msg_release(&m);
	gm_buf_release(&fw.frames);
	gm_buf_release(&payload);
	gm_err_release(&err);
	free(data);
}

/* ---- a server and a remote endpoint over a socketpair ---- */

struct pair {
	char root[64];
	int sfd; /* the server's end */
	bool writable;
	pthread_t thread;
	enum gm_rc server_rc;
	struct gm_sync_endpoint *ep;
};

static void *server_main(void *arg)
{
	struct pair *p = arg;
	struct gm_err err = GM_ERR_INIT;
	p->server_rc = gm_sync_server_run(p->sfd, p->sfd, p->root, p->writable, &err);
	close(p->sfd);
	gm_err_release(&err);
	return NULL;
}

static void make_root(char root[64])
{
	memcpy(root, "/tmp/gm-proto-XXXXXX", 21);
	assert_non_null(mkdtemp(root));
}

static void rm_rf(const char *dir)
{
	struct gm_buf cmd = GM_BUF_INIT;
	gm_buf_addf(&cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(gm_buf_cstr(&cmd)), 0);
	gm_buf_release(&cmd);
}

/* Starts a server on a fresh root and opens n connections to it (one server per
 * connection, as ssh gives). Only the first connection's server is kept in p. */
static struct pair *pair_start(bool writable, bool compress, size_t nconns)
{
	struct pair *p = calloc(nconns, sizeof(*p));
	int fds[8][2];
	struct gm_err err = GM_ERR_INIT;
	make_root(p[0].root);
	for (size_t i = 0; i < nconns; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		memcpy(p[i].root, p[0].root, sizeof(p[0].root));
		p[i].sfd = sv[1];
		p[i].writable = writable;
		assert_int_equal(pthread_create(&p[i].thread, NULL, server_main, &p[i]), 0);
		fds[i][0] = sv[0];
		fds[i][1] = dup(sv[0]);
	}
	struct gm_sync_remote_opts o = {"peer:/root", "peer", writable, false, compress};
	if (gm_sync_remote_open((const int(*)[2])fds, nconns, &o, &p[0].ep, &err))
		fail_msg("%s", gm_err_msg(&err));
	gm_err_release(&err);
	return p;
}

static void pair_stop(struct pair *p, size_t nconns)
{
	gm_sync_endpoint_close(p[0].ep);
	for (size_t i = 0; i < nconns; i++) {
		pthread_join(p[i].thread, NULL);
		assert_int_equal(p[i].server_rc, GM_OK);
	}
	rm_rf(p[0].root);
	free(p);
}

/* What drain reported. */
struct drained {
	int n;
	enum gm_rc rc[64];
	char path[64][64];
	char msg[64][256];
};

static void on_failed(void *ctx, const char *path, enum gm_rc rc, const char *msg)
{
	struct drained *d = ctx;
	if (d->n < 64) {
		d->rc[d->n] = rc;
		snprintf(d->path[d->n], sizeof(d->path[0]), "%s", path);
		snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", msg);
	}
	d->n++;
}

/* commit, then (when the endpoint took it without waiting) drain: the file's real outcome,
 * as the synchronous commit would have said it. */
static enum gm_rc commit_wait(struct gm_sync_endpoint *ep, struct gm_sync_writer *w,
                              const struct gm_sync_hash *whole, const struct gm_sync_meta *meta,
                              struct gm_sync_hash *written, struct gm_err *err)
{
	struct drained d = {0};
	enum gm_rc rc = ep->ops->commit(w, whole, meta, NULL, written, err);
	if (rc)
		return rc;
	assert_non_null(ep->ops->drain);
	assert_int_equal(ep->ops->drain(ep, on_failed, &d, err), GM_OK);
	if (!d.n)
		return GM_OK;
	assert_int_equal(d.n, 1);
	return gm_err_set(err, d.rc[0], "%s", d.msg[0]);
}

static void put_file(struct gm_sync_endpoint *ep, const char *path, const void *data, size_t len)
{
	const struct gm_sync_ops *o = ep->ops;
	struct gm_sync_writer *w;
	struct gm_sync_meta meta = {GM_SYNC_FILE,          0640, 0, 0, 1,    len, len,
	                            1600000000000000000ll, 0,    0, 0, false};
	struct gm_sync_hash h, written;
	struct gm_err err = GM_ERR_INIT;
	uint64_t resume = 99;
	gm_sync_hash_buf(data, len, &h);
	if (o->open_write(ep, path, &meta, 0, &w, &resume, &err))
		fail_msg("open_write %s: %s", path, gm_err_msg(&err));
	assert_int_equal(resume, 0);
	assert_int_equal(o->write(w, data, len, &err), GM_OK);
	if (len) /* an empty file has no chunk */
		assert_int_equal(o->chunk(w, &h, &err), GM_OK);
	if (commit_wait(ep, w, &h, &meta, &written, &err))
		fail_msg("commit %s: %s", path, gm_err_msg(&err));
	assert_true(gm_sync_hash_equal(&h, &written));
	gm_err_release(&err);
}

/* Reads path through the endpoint; checks chunk and whole hashes against the bytes. */
static void get_file(struct gm_sync_endpoint *ep, const char *path, struct gm_buf *out)
{
	const struct gm_sync_ops *o = ep->ops;
	struct gm_sync_reader *r;
	struct gm_sync_piece piece;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_hasher chunk;
	size_t chunk_start = 0;
	gm_sync_hasher_init(&chunk);
	gm_buf_reset(out);
	if (o->open_read(ep, path, 0, &r, &err))
		fail_msg("open_read %s: %s", path, gm_err_msg(&err));
	for (;;) {
		assert_int_equal(o->read(r, &piece, &err), GM_OK);
		if (piece.kind == GM_SYNC_PIECE_DATA) {
			gm_buf_add(out, piece.data, piece.len);
			gm_sync_hasher_update(&chunk, piece.data, piece.len);
		} else if (piece.kind == GM_SYNC_PIECE_HOLE) {
			gm_buf_addpad(out, '\0', piece.len);
			gm_sync_hasher_zeros(&chunk, piece.len);
		} else if (piece.kind == GM_SYNC_PIECE_CHUNK) {
			struct gm_sync_hash h;
			gm_sync_hasher_digest(&chunk, &h);
			assert_true(gm_sync_hash_equal(&h, &piece.hash));
			assert_true(out->len - chunk_start <= GM_SYNC_CHUNK);
			chunk_start = out->len;
			gm_sync_hasher_reset(&chunk);
		} else {
			struct gm_sync_hash whole;
			gm_sync_hash_buf(out->data, out->len, &whole);
			assert_true(piece.whole_valid);
			assert_false(piece.changed);
			assert_true(gm_sync_hash_equal(&whole, &piece.hash));
			assert_int_equal(piece.meta.size, out->len);
			break;
		}
	}
	assert_int_equal(o->read(r, &piece, &err), GM_ERR_USAGE);
	o->close_read(r);
	gm_sync_hasher_release(&chunk);
	gm_err_release(&err);
}

static void test_remote_tree_operations(void **state)
{
	struct pair *p = pair_start(true, false, 2);
	struct gm_sync_endpoint *ep = p->ep;
	const struct gm_sync_ops *o = ep->ops;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta dmeta = {GM_SYNC_DIR, 0755, 0, 0, 0, 0, 0, 0, 0, 0, 0, false}, meta;
	struct gm_sync_list l;
	struct gm_buf data = GM_BUF_INIT, link = GM_BUF_INIT, path = GM_BUF_INIT;
	struct gm_sync_hash h;
	uint64_t avail = 0;

	gm_sync_list_init(&l);
	assert_true(ep->caps & GM_SYNC_CAP_SYMLINKS);
	assert_int_equal(gm_sync_remote_root_kind(ep), GM_SYNC_DIR);
	assert_int_equal(o->mkdir(ep, "d", &dmeta, &err), GM_OK);
	assert_int_equal(o->mkdir(ep, "d/e mpty", &dmeta, &err), GM_OK);
	put_file(ep, "d/a", "hello", 5);
	put_file(ep, "d/empty", "", 0);
	put_file(ep, "d/we\nird \xff", "x", 1);
	assert_int_equal(o->symlink(ep, "d/link", "../outside", &dmeta, &err), GM_OK);
	assert_int_equal(o->hardlink(ep, "d/a", "d/a2", &err), GM_OK);

	/* what the server wrote is really there, under the root */
	gm_buf_addf(&path, "%s/d/a2", p->root);
	struct stat st;
	assert_int_equal(stat(gm_buf_cstr(&path), &st), 0);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_mode & 07777, 0640);

	assert_int_equal(o->list(ep, "d", &l, &err), GM_OK);
	assert_int_equal(l.n, 6);
	const char *names[] = {"a", "a2", "e mpty", "empty", "link", "we\nird \xff"};
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(l.v[i].name, names[i]);
	assert_int_equal(l.v[4].meta.kind, GM_SYNC_SYMLINK);
	assert_string_equal(l.v[4].link, "../outside");
	assert_int_equal(l.v[2].meta.kind, GM_SYNC_DIR);
	assert_int_equal(l.v[0].meta.size, 5);
	assert_int_equal(l.v[0].meta.mtime_ns, 1600000000000000000ll);
	assert_int_equal(l.v[0].meta.nlink, 2);
	assert_int_equal(l.v[0].meta.ino, l.v[1].meta.ino);

	/* the root listing hides the area */
	assert_int_equal(o->list(ep, "", &l, &err), GM_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "d");

	assert_int_equal(o->stat(ep, "d/link", &meta, &link, &err), GM_OK);
	assert_int_equal(meta.kind, GM_SYNC_SYMLINK);
	assert_string_equal(gm_buf_cstr(&link), "../outside");
	assert_int_equal(o->stat(ep, "d/nope", &meta, &link, &err), GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "nope"));

	struct gm_sync_hash want;
	gm_sync_hash_buf("hello", 5, &want);
	assert_int_equal(o->hash(ep, "d/a", &h, &meta, &err), GM_OK);
	assert_true(gm_sync_hash_equal(&h, &want));
	assert_int_equal(meta.size, 5);

	get_file(ep, "d/a", &data);
	assert_int_equal(data.len, 5);
	assert_memory_equal(data.data, "hello", 5);
	get_file(ep, "d/empty", &data);
	assert_int_equal(data.len, 0);
	assert_int_equal(o->open_read(ep, "d/nope", 0, &(struct gm_sync_reader *){NULL}, &err),
	                 GM_ERR_NOT_FOUND);

	meta = dmeta;
	meta.kind = GM_SYNC_FILE;
	meta.mode = 0600;
	meta.mtime_ns = 1500000000000000000ll;
	assert_int_equal(o->set_meta(ep, "d/a", &meta, 0, &err), GM_OK);
	assert_int_equal(stat(gm_buf_cstr(&path), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);

	assert_int_equal(o->space(ep, &avail, &err), GM_OK);
	assert_true(avail > 0);
	struct gm_buf blob = GM_BUF_INIT;
	if (o->xattrs)
		assert_int_equal(o->xattrs(ep, "d/a", &blob, &err), GM_OK);
	gm_buf_release(&blob);

	assert_int_equal(o->remove(ep, "d", &err), GM_OK);
	assert_int_equal(o->stat(ep, "d", &meta, NULL, &err), GM_ERR_NOT_FOUND);
	assert_int_equal(stat(gm_buf_cstr(&path), &st), -1);

	gm_sync_list_release(&l);
	gm_buf_release(&data);
	gm_buf_release(&link);
	gm_buf_release(&path);
	gm_err_release(&err);
	pair_stop(p, 2);
}

/* SET_XATTRS end to end: the server makes the file's set exactly the blob's (added, changed,
 * removed names), for a file, a directory and the root; a symlink is refused, and so is the
 * request on a read-only server. */
static void put_xattr(struct gm_buf *blob, const char *name, const char *value)
{
	uint32_t nl = (uint32_t)strlen(name), vl = (uint32_t)strlen(value);
	gm_buf_add(blob, &nl, 4); /* little-endian hosts only, as the test machines are */
	gm_buf_add(blob, name, nl);
	gm_buf_add(blob, &vl, 4);
	gm_buf_add(blob, value, vl);
}

static void test_remote_set_xattrs(void **state)
{
	struct pair *p = pair_start(true, false, 2);
	struct gm_sync_endpoint *ep = p->ep;
	const struct gm_sync_ops *o = ep->ops;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta dmeta = {GM_SYNC_DIR, 0755, 0, 0, 0, 0, 0, 0, 0, 0, 0, false};
	struct gm_buf path = GM_BUF_INIT, blob = GM_BUF_INIT, back = GM_BUF_INIT;
	char v[64];
	assert_non_null(o->set_xattrs);
	assert_int_equal(o->mkdir(ep, "d", &dmeta, &err), GM_OK);
	put_file(ep, "d/f", "hello", 5);
	assert_int_equal(o->symlink(ep, "d/l", "f", &dmeta, &err), GM_OK);
	const char *targets[] = {"d/f", "d", ""};
	gm_buf_addf(&path, "%s/d/f", p->root);
	if (setxattr(gm_buf_cstr(&path), "user.old", "o", 1, 0) != 0) {
		print_message("no user xattrs under %s: skipped\n", p->root);
		goto out;
	}
	for (size_t i = 0; i < 3; i++) {
		gm_buf_reset(&path);
		gm_buf_addf(&path, "%s%s%s", p->root, targets[i][0] ? "/" : "", targets[i]);
		const char *fp = gm_buf_cstr(&path);
		assert_int_equal(setxattr(fp, "user.old", "o", 1, 0), 0);
		assert_int_equal(setxattr(fp, "user.keep", "k", 1, 0), 0);
		assert_int_equal(setxattr(fp, "user.chg", "before", 6, 0), 0);
		gm_buf_reset(&blob);
		put_xattr(&blob, "user.new", "n");
		put_xattr(&blob, "user.keep", "k");
		put_xattr(&blob, "user.chg", "after");
		assert_int_equal(o->set_xattrs(ep, targets[i], &blob, &err), GM_OK);
		assert_int_equal(getxattr(fp, "user.old", v, sizeof(v)), -1);
		assert_int_equal(errno, ENODATA);
		assert_int_equal(getxattr(fp, "user.keep", v, sizeof(v)), 1);
		assert_int_equal(getxattr(fp, "user.chg", v, sizeof(v)), 5);
		assert_memory_equal(v, "after", 5);
		assert_int_equal(getxattr(fp, "user.new", v, sizeof(v)), 1);
		assert_memory_equal(v, "n", 1);
		/* read back through the protocol: the same set, in the file system's order */
		assert_int_equal(o->xattrs(ep, targets[i], &back, &err), GM_OK);
		assert_true(gm_sync_xattrs_same(back.data, back.len, blob.data, blob.len));
	}
	/* a symlink is not a file or directory; a malformed blob never leaves the client */
	assert_int_equal(o->set_xattrs(ep, "d/l", &blob, &err), GM_ERR_USAGE);
	assert_non_null(strstr(gm_err_msg(&err), "not a regular file or directory"));
	assert_int_equal(o->set_xattrs(ep, "d/nope", &blob, &err), GM_ERR_NOT_FOUND);
out:
	pair_stop(p, 2);

	/* a read-only server refuses it */
	p = pair_start(false, false, 1);
	assert_int_equal(p->ep->ops->set_xattrs(p->ep, "", &blob, &err), GM_ERR_PERMISSION);
	assert_non_null(strstr(gm_err_msg(&err), "read-only"));
	pair_stop(p, 1);
	gm_buf_release(&path);
	gm_buf_release(&blob);
	gm_buf_release(&back);
	gm_err_release(&err);
}

/* A 20 MiB file with a hole in the middle, written through the remote writer with per-chunk
 * hashes, then read back: streamed DATA/HOLE/CHUNK/END frames. With zstd both ways. */
static void large_file(bool compress)
{
	struct pair *p = pair_start(true, compress, 1);
	struct gm_sync_endpoint *ep = p->ep;
	const struct gm_sync_ops *o = ep->ops;
	struct gm_err err = GM_ERR_INIT;
	size_t size = 20u << 20, hole_at = 9u << 20, hole_len = 2u << 20;
	uint8_t *buf = malloc(size);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> (compress ? 24 : 13));
	memset(buf + hole_at, 0, hole_len);
	struct gm_sync_meta meta = {GM_SYNC_FILE, 0644, 0, 0, 1, size, size, 1, 1, 1, 1, false};
	struct gm_sync_writer *w;
	uint64_t resume = 1;
	assert_int_equal(o->open_write(ep, "big", &meta, 0, &w, &resume, &err), GM_OK);
	assert_int_equal(resume, 0);
	for (size_t off = 0; off < size;) {
		size_t end = (off / GM_SYNC_CHUNK + 1) * GM_SYNC_CHUNK;
		if (end > size)
			end = size;
		struct gm_sync_hash ch;
		gm_sync_hash_buf(buf + off, end - off, &ch);
		for (size_t at = off; at < end;) {
			size_t n = end - at < 1000000 ? end - at : 1000000;
			if (at >= hole_at && at < hole_at + hole_len) {
				n = hole_at + hole_len - at;
				if (n > end - at)
					n = end - at;
				assert_int_equal(o->hole(w, n, &err), GM_OK);
			} else {
				if (at < hole_at && at + n > hole_at)
					n = hole_at - at;
				assert_int_equal(o->write(w, buf + at, n, &err), GM_OK);
			}
			at += n;
		}
		assert_int_equal(o->chunk(w, &ch, &err), GM_OK);
		off = end;
	}
	struct gm_sync_hash whole, written;
	gm_sync_hash_buf(buf, size, &whole);
	if (o->commit(w, &whole, &meta, NULL, &written, &err))
		fail_msg("%s", gm_err_msg(&err));
	assert_true(gm_sync_hash_equal(&whole, &written));

	struct gm_buf back = GM_BUF_INIT;
	get_file(ep, "big", &back);
	assert_int_equal(back.len, size);
	assert_memory_equal(back.data, buf, size);

	/* a reader closed after its first piece, then more calls on the same connection */
	struct gm_sync_reader *r;
	struct gm_sync_piece piece;
	assert_int_equal(o->open_read(ep, "big", GM_SYNC_CHUNK, &r, &err), GM_OK);
	assert_int_equal(o->read(r, &piece, &err), GM_OK);
	assert_int_equal(piece.kind, GM_SYNC_PIECE_DATA);
	assert_memory_equal(piece.data, buf + GM_SYNC_CHUNK, piece.len);
	o->close_read(r);
	struct gm_sync_meta st;
	assert_int_equal(o->stat(ep, "big", &st, NULL, &err), GM_OK);
	assert_int_equal(st.size, size);
	assert_true(st.allocated < size); /* the hole stayed a hole */

	/* a wrong chunk hash: the file is refused at commit and never appears */
	meta.size = 100;
	assert_int_equal(o->open_write(ep, "bad", &meta, 0, &w, &resume, &err), GM_OK);
	assert_int_equal(o->write(w, buf, 100, &err), GM_OK);
	assert_int_equal(o->chunk(w, &whole, &err), GM_OK); /* not waited for */
	assert_int_equal(commit_wait(ep, w, &whole, &meta, NULL, &err), GM_ERR_MISMATCH);
	assert_int_equal(o->stat(ep, "bad", &st, NULL, &err), GM_ERR_NOT_FOUND);

	gm_buf_release(&back);
	free(buf);
	gm_err_release(&err);
	pair_stop(p, 1);
}

static void test_remote_large_file(void **state)
{
	large_file(false);
}

static void test_remote_large_file_zstd(void **state)
{
	large_file(true);
}

static void test_remote_failed_open_reported_at_commit(void **state)
{
	struct pair *p = pair_start(false, false, 1); /* a read-only server */
	struct gm_sync_endpoint *ep = p->ep;
	const struct gm_sync_ops *o = ep->ops;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta meta = {GM_SYNC_FILE, 0644, 0, 0, 1, 3, 3, 1, 1, 1, 1, false};
	struct gm_sync_writer *w;
	uint64_t resume;
	struct gm_sync_hash h;
	gm_sync_hash_buf("abc", 3, &h);
	/* a small file: no round trip until commit */
	assert_int_equal(o->open_write(ep, "f", &meta, 0, &w, &resume, &err), GM_OK);
	assert_int_equal(o->write(w, "abc", 3, &err), GM_OK);
	assert_int_equal(commit_wait(ep, w, &h, &meta, NULL, &err), GM_ERR_PERMISSION);
	assert_non_null(strstr(gm_err_msg(&err), "read-only"));
	/* a large one hears at open */
	meta.size = GM_SYNC_CHUNK * 2;
	assert_int_equal(o->open_write(ep, "f", &meta, 0, &w, &resume, &err), GM_ERR_PERMISSION);
	struct gm_sync_meta dmeta = {GM_SYNC_DIR, 0755, 0, 0, 0, 0, 0, 0, 0, 0, 0, false};
	assert_int_equal(o->mkdir(ep, "d", &dmeta, &err), GM_ERR_PERMISSION);
	assert_int_equal(o->remove(ep, "x", &err), GM_ERR_PERMISSION);
	/* and the connection still works */
	assert_int_equal(o->stat(ep, "", &meta, NULL, &err), GM_OK);
	assert_int_equal(meta.kind, GM_SYNC_DIR);
	gm_err_release(&err);
	pair_stop(p, 1);

	/* a writable server, a parent that does not exist: reported at commit, no file */
	p = pair_start(true, false, 1);
	ep = p->ep;
	meta.size = 3;
	assert_int_equal(o->open_write(ep, "no/such/dir/f", &meta, 0, &w, &resume, &err), GM_OK);
	assert_int_equal(o->write(w, "abc", 3, &err), GM_OK);
	assert_int_equal(commit_wait(ep, w, &h, &meta, NULL, &err), GM_ERR_NOT_FOUND);
	/* an aborted small file leaves nothing */
	assert_int_equal(o->open_write(ep, "g", &meta, 0, &w, &resume, &err), GM_OK);
	assert_int_equal(o->write(w, "abc", 3, &err), GM_OK);
	o->abort(w, false);
	assert_int_equal(o->stat(ep, "g", &meta, NULL, &err), GM_ERR_NOT_FOUND);
	gm_err_release(&err);
	pair_stop(p, 1);
}

/* 1500 small files on one connection (three times the window of unanswered commits), some
 * of them refused by the server: every commit returns at once, drain names exactly the
 * refused ones with the server's reason, the others are in place with their content. */
static void test_remote_deferred_commits(void **state)
{
	struct pair *p = pair_start(true, false, 1);
	struct gm_sync_endpoint *ep = p->ep;
	const struct gm_sync_ops *o = ep->ops;
	struct gm_err err = GM_ERR_INIT;
	struct gm_buf path = GM_BUF_INIT, data = GM_BUF_INIT, back = GM_BUF_INIT;
	struct gm_sync_meta dmeta = {GM_SYNC_DIR, 0755, 0, 0, 0, 0, 0, 0, 0, 0, 0, false};
	struct drained d = {0};
	int sync_failed = 0;
	assert_int_equal(o->mkdir(ep, "d", &dmeta, &err), GM_OK);
	for (int i = 0; i < 1500; i++) {
		struct gm_sync_meta meta = {GM_SYNC_FILE, 0644, 0, 0, 1, 0, 0, 1, 1, 1, 1, false};
		struct gm_sync_writer *w;
		struct gm_sync_hash h, written;
		uint64_t resume;
		gm_buf_reset(&path);
		gm_buf_reset(&data);
		/* every 500th into a directory that does not exist, 777 with a wrong hash */
		gm_buf_addf(&path, i % 500 == 7 ? "nodir/f%d" : "d/f%d", i);
		gm_buf_addf(&data, "content of %d", i);
		meta.size = meta.allocated = data.len;
		gm_sync_hash_buf(data.data, data.len, &h);
		if (i == 777)
			gm_sync_hash_buf("other", 5, &h);
		assert_int_equal(o->open_write(ep, gm_buf_cstr(&path), &meta, 0, &w, &resume, &err),
		                 GM_OK);
		assert_int_equal(o->write(w, data.data, data.len, &err), GM_OK);
		enum gm_rc rc = o->commit(w, &h, &meta, NULL, &written, &err);
		if (rc) { /* the server's error may already be there: then commit says it */
			assert_true(i % 500 == 7 || i == 777);
			sync_failed++;
		} else {
			assert_true(gm_sync_hash_equal(&h, &written));
		}
	}
	assert_int_equal(o->drain(ep, on_failed, &d, &err), GM_OK);
	assert_int_equal(d.n + sync_failed, 4);
	for (int k = 0; k < d.n; k++) {
		if (strcmp(d.path[k], "d/f777") == 0) {
			assert_int_equal(d.rc[k], GM_ERR_MISMATCH);
		} else {
			assert_int_equal(d.rc[k], GM_ERR_NOT_FOUND);
			assert_memory_equal(d.path[k], "nodir/f", 7);
			assert_non_null(strstr(d.msg[k], "nodir"));
		}
	}
	/* a second drain has nothing left */
	struct drained again = {0};
	assert_int_equal(o->drain(ep, on_failed, &again, &err), GM_OK);
	assert_int_equal(again.n, 0);
	struct gm_sync_meta st;
	assert_int_equal(o->stat(ep, "d/f777", &st, NULL, &err), GM_ERR_NOT_FOUND);
	assert_int_equal(o->stat(ep, "nodir", &st, NULL, &err), GM_ERR_NOT_FOUND);
	get_file(ep, "d/f1499", &back);
	assert_int_equal(back.len, strlen("content of 1499"));
	assert_memory_equal(back.data, "content of 1499", back.len);
	struct gm_sync_list l;
	gm_sync_list_init(&l);
	assert_int_equal(o->list(ep, "d", &l, &err), GM_OK);
	assert_int_equal(l.n, 1500 - 3 - 1);
	gm_sync_list_release(&l);
	gm_buf_release(&path);
	gm_buf_release(&data);
	gm_buf_release(&back);
	gm_err_release(&err);
	pair_stop(p, 1);
}

struct worker_arg {
	struct gm_sync_endpoint *ep;
	int index;
};

static void *worker(void *arg)
{
	struct worker_arg *a = arg;
	struct gm_buf path = GM_BUF_INIT, content = GM_BUF_INIT, back = GM_BUF_INIT;
	for (int i = 0; i < 100; i++) {
		gm_buf_reset(&path);
		gm_buf_reset(&content);
		gm_buf_addf(&path, "t%d-%d", a->index, i);
		for (int k = 0; k <= i; k++)
			gm_buf_addf(&content, "%d:%d;", a->index, k);
		put_file(a->ep, gm_buf_cstr(&path), content.data, content.len);
		get_file(a->ep, gm_buf_cstr(&path), &back);
		assert_int_equal(back.len, content.len);
		assert_memory_equal(back.data, content.data, content.len);
	}
	gm_buf_release(&path);
	gm_buf_release(&content);
	gm_buf_release(&back);
	return NULL;
}

static void test_remote_concurrent_callers(void **state)
{
	struct pair *p = pair_start(true, true, 3);
	pthread_t t[8];
	struct worker_arg a[8];
	for (int i = 0; i < 8; i++) {
		a[i].ep = p->ep;
		a[i].index = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	struct gm_sync_list l;
	struct gm_err err = GM_ERR_INIT;
	gm_sync_list_init(&l);
	assert_int_equal(p->ep->ops->list(p->ep, "", &l, &err), GM_OK);
	assert_int_equal(l.n, 800);
	gm_sync_list_release(&l);
	gm_err_release(&err);
	pair_stop(p, 3);
}

/* A client that sends escaping paths straight onto the wire: the server refuses the frame,
 * ends the connection, and nothing appears outside (or inside) its root. */
static void test_server_refuses_escapes(void **state)
{
	static const char *bad[] = {"../escape", "/tmp/gm-proto-abs", "a/../../escape"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pair p = {0};
		int sv[2];
		struct gm_buf frames = GM_BUF_INIT, payload = GM_BUF_INIT, outside = GM_BUF_INIT;
		struct gm_proto_msg m;
		struct gm_proto_hdr h;
		struct gm_err err = GM_ERR_INIT;
		make_root(p.root);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		p.sfd = sv[1];
		struct gm_proto_in in;
		gm_proto_in_init(&in, sv[0]);
		p.writable = true;
		assert_int_equal(pthread_create(&p.thread, NULL, server_main, &p), 0);
		gm_proto_msg_init(&m);
		m.type = GM_PROTO_HELLO;
		m.num = GM_PROTO_VERSION;
		gm_proto_encode(&m, &frames);
		gm_proto_msg_reset(&m);
		m.type = GM_PROTO_MKDIR;
		m.id = 5;
		m.meta.kind = GM_SYNC_DIR;
		m.meta.mode = 0755;
		gm_buf_adds(&m.a, bad[i]);
		gm_proto_encode(&m, &frames);
		assert_int_equal(gm_proto_write_all(sv[0], frames.data, frames.len, &err), GM_OK);
		assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
		assert_int_equal(h.type, GM_PROTO_HELLO);
		assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
		assert_int_equal(h.type, GM_PROTO_ERROR);
		assert_int_equal(h.id, 0);
		assert_int_equal(gm_proto_decode(&h, (uint8_t *)payload.data, &m, &err), GM_OK);
		assert_int_equal(m.rc, GM_ERR_PROTOCOL);
		assert_non_null(strstr(gm_buf_cstr(&m.b), "bad path in a MKDIR frame"));
		/* the server hung up */
		assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_ERR_UNREACHABLE);
		pthread_join(p.thread, NULL);
		assert_int_equal(p.server_rc, GM_ERR_PROTOCOL);
		gm_buf_addf(&outside, "%s/../escape", p.root);
		struct stat st;
		assert_int_equal(stat(gm_buf_cstr(&outside), &st), -1);
		assert_int_equal(stat("/tmp/gm-proto-abs", &st), -1);
		gm_proto_in_release(&in);
		close(sv[0]);
		rm_rf(p.root);
		gm_proto_msg_release(&m);
		gm_buf_release(&frames);
		gm_buf_release(&payload);
		gm_buf_release(&outside);
		gm_err_release(&err);
	}
}

static void test_server_version_mismatch(void **state)
{
	struct pair p = {0};
	int sv[2];
	struct gm_buf frame = GM_BUF_INIT, payload = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_proto_hdr h;
	struct gm_err err = GM_ERR_INIT;
	make_root(p.root);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.sfd = sv[1];
	struct gm_proto_in in;
	gm_proto_in_init(&in, sv[0]);
	assert_int_equal(pthread_create(&p.thread, NULL, server_main, &p), 0);
	gm_proto_msg_init(&m);
	m.type = GM_PROTO_HELLO;
	m.num = 99;
	gm_buf_adds(&m.a, "9.9.9");
	gm_proto_encode(&m, &frame);
	assert_int_equal(gm_proto_write_all(sv[0], frame.data, frame.len, &err), GM_OK);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
	assert_int_equal(gm_proto_decode(&h, (uint8_t *)payload.data, &m, &err), GM_OK);
	assert_int_equal(m.type, GM_PROTO_HELLO);
	assert_int_equal(m.num, GM_PROTO_VERSION);
	assert_string_equal(gm_buf_cstr(&m.a), GM_VERSION);
	assert_int_equal(m.rc, GM_ERR_PROTOCOL);
	assert_non_null(strstr(gm_buf_cstr(&m.b), "gpumigrate " GM_VERSION " here"));
	assert_non_null(strstr(gm_buf_cstr(&m.b), "gpumigrate 9.9.9) speaks 99"));
	pthread_join(p.thread, NULL);
	assert_int_equal(p.server_rc, GM_ERR_PROTOCOL);
	gm_proto_in_release(&in);
	close(sv[0]);
	rm_rf(p.root);
	gm_proto_msg_release(&m);
	gm_buf_release(&frame);
	gm_buf_release(&payload);
	gm_err_release(&err);
}

/* A signature larger than a frame is split; flags are only accepted where they mean
 * something; a SIGNATURE_R part over its cap is refused. */
static void test_delta_frames(void **state)
{
	size_t len = (5 * GM_PROTO_SIG_PART) / 2, next = 0, frames = 0;
	uint8_t *sig = malloc(len);
	struct gm_buf frame = GM_BUF_INIT, got = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta basis = sample_meta();
	gm_proto_msg_init(&m);
	for (size_t i = 0; i < len; i++)
		sig[i] = (uint8_t)(i * 7);
	do {
		struct gm_proto_hdr h;
		gm_buf_reset(&frame);
		gm_proto_encode_signature(5, &basis, sig, len, &next, &frame);
		assert_int_equal(gm_proto_hdr_decode((const uint8_t *)frame.data, &h, &err), GM_OK);
		assert_int_equal(h.type, GM_PROTO_SIGNATURE_R);
		assert_int_equal((h.flags & GM_PROTO_F_MORE) != 0, next < len);
		assert_int_equal(
		        gm_proto_decode(&h, (const uint8_t *)frame.data + GM_PROTO_HDR, &m, &err),
		        GM_OK);
		assert_meta_equal(&m.meta, &basis);
		gm_buf_add(&got, m.b.data, m.b.len);
		frames++;
	} while (next < len);
	assert_int_equal(frames, 3);
	assert_int_equal(got.len, len);
	assert_memory_equal(got.data, sig, len);
	/* an empty signature is one frame without F_MORE */
	next = 0;
	gm_buf_reset(&frame);
	gm_proto_encode_signature(5, &basis, NULL, 0, &next, &frame);
	assert_int_equal(frame.data[5], 0);

	/* a part over the cap */
	gm_buf_reset(&frame);
	gm_proto_put_meta(&frame, &basis);
	gm_proto_put_bytes(&frame, sig, GM_PROTO_SIG_PART + 1);
	assert_int_equal(decode_raw(GM_PROTO_SIGNATURE_R, 0, frame.data, frame.len),
	                 GM_ERR_PROTOCOL);
	/* flags where they do not belong */
	assert_int_equal(decode_raw(GM_PROTO_DATA, GM_PROTO_F_EOF, "x", 1), GM_ERR_PROTOCOL);
	assert_int_equal(decode_raw(GM_PROTO_PATCH, GM_PROTO_F_MORE, "x", 1), GM_ERR_PROTOCOL);
	assert_int_equal(decode_raw(GM_PROTO_PATCH, GM_PROTO_F_EOF, "x", 1), GM_OK);
	assert_int_equal(decode_raw(GM_PROTO_PATCH, GM_PROTO_F_EOF, "", 0), GM_OK);
	gm_buf_reset(&frame);
	gm_proto_put_meta(&frame, &basis);
	gm_proto_put_bytes(&frame, "s", 1);
	assert_int_equal(decode_raw(GM_PROTO_SIGNATURE_R, GM_PROTO_F_ZSTD, frame.data, frame.len),
	                 GM_ERR_PROTOCOL);
	/* PATCH compresses like DATA, and keeps its EOF flag */
	ZSTD_CCtx *z = ZSTD_createCCtx();
	memset(sig, 'a', 100000);
	gm_buf_reset(&frame);
	gm_proto_encode_patch(9, sig, 100000, true, z, &frame);
	assert_true(frame.len < 1000);
	assert_int_equal(frame.data[4], GM_PROTO_PATCH);
	assert_int_equal((uint8_t)frame.data[5], GM_PROTO_F_ZSTD | GM_PROTO_F_EOF);
	ZSTD_freeCCtx(z);
	/* a path is required */
	assert_int_equal(decode_path(GM_PROTO_SIGNATURE, "", 0), GM_ERR_PROTOCOL);
	assert_int_equal(decode_path(GM_PROTO_SIGNATURE, "../x", 4), GM_ERR_PROTOCOL);
	free(sig);
	gm_buf_release(&frame);
	gm_buf_release(&got);
	gm_proto_msg_release(&m);
	gm_err_release(&err);
}

/* Every connection of a writable endpoint writes: requests go round the connections, and a
 * change sent on a secondary would be refused if its server had not joined the lock. */
static void test_remote_all_connections_write(void **state)
{
	struct pair *p = pair_start(true, false, 4);
	struct gm_sync_endpoint *ep = p->ep;
	const struct gm_sync_ops *o = ep->ops;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta dmeta = {GM_SYNC_DIR, 0755, 0, 0, 0, 0, 0, 0, 0, 0, 0, false}, meta;
	struct gm_buf path = GM_BUF_INIT;
	for (int i = 0; i < 16; i++) {
		gm_buf_reset(&path);
		gm_buf_addf(&path, "d%d", i);
		if (o->mkdir(ep, gm_buf_cstr(&path), &dmeta, &err))
			fail_msg("mkdir %d: %s", i, gm_err_msg(&err));
		gm_buf_adds(&path, "/f");
		put_file(ep, gm_buf_cstr(&path), "data", 4);
		assert_int_equal(o->set_meta(ep, gm_buf_cstr(&path), &dmeta, 0, &err), GM_OK);
	}
	for (int i = 0; i < 16; i++) {
		gm_buf_reset(&path);
		gm_buf_addf(&path, "d%d/f", i);
		assert_int_equal(o->stat(ep, gm_buf_cstr(&path), &meta, NULL, &err), GM_OK);
		assert_int_equal(meta.size, 4);
		assert_int_equal(meta.mode, 0755);
		gm_buf_reset(&path);
		gm_buf_addf(&path, "d%d", i);
		assert_int_equal(o->remove(ep, gm_buf_cstr(&path), &err), GM_OK);
	}
	assert_true(gm_sync_remote_wire_bytes(ep) > 0);
	assert_int_equal(gm_sync_remote_wire_bytes(NULL), 0);
	gm_buf_release(&path);
	gm_err_release(&err);

	/* a client that joins with another token is refused by the server */
	struct pair q = {0};
	int sv[2];
	struct gm_buf frame = GM_BUF_INIT, payload = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_proto_hdr h;
	struct gm_proto_in in;
	memcpy(q.root, p->root, sizeof(q.root));
	q.writable = true;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	q.sfd = sv[1];
	gm_proto_in_init(&in, sv[0]);
	assert_int_equal(pthread_create(&q.thread, NULL, server_main, &q), 0);
	gm_proto_msg_init(&m);
	m.type = GM_PROTO_HELLO;
	m.num = GM_PROTO_VERSION;
	gm_buf_adds(&m.a, GM_VERSION);
	m.features = GM_PROTO_FEAT_SECONDARY;
	m.has_hash = true;
	memset(m.hash.b, 0xab, 16);
	gm_proto_encode(&m, &frame);
	assert_int_equal(gm_proto_write_all(sv[0], frame.data, frame.len, &err), GM_OK);
	assert_int_equal(gm_proto_in_frame(&in, &h, &payload, &err), GM_OK);
	assert_int_equal(gm_proto_decode(&h, (uint8_t *)payload.data, &m, &err), GM_OK);
	assert_int_equal(m.type, GM_PROTO_HELLO);
	assert_int_equal(m.rc, GM_ERR_USAGE);
	assert_non_null(strstr(gm_buf_cstr(&m.b), "the lock token differs"));
	assert_false(m.has_hash);
	pthread_join(q.thread, NULL);
	assert_int_equal(q.server_rc, GM_ERR_USAGE);
	close(sv[0]);
	gm_proto_in_release(&in);
	gm_proto_msg_release(&m);
	gm_buf_release(&frame);
	gm_buf_release(&payload);
	gm_err_release(&err);
	pair_stop(p, 4);
}

static void fill_rand(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* Sends new as a delta against the server's copy of path, the way the engine does. */
static enum gm_rc push_delta(struct gm_sync_endpoint *ep, const char *path, const uint8_t *new,
                             size_t size, const struct gm_sync_meta *sm,
                             const struct gm_sync_meta *force_basis, struct gm_err *err)
{
	const struct gm_sync_ops *o = ep->ops;
	struct gm_sync_meta basis;
	struct gm_buf sig = GM_BUF_INIT, delta = GM_BUF_INIT;
	struct gm_sync_delta *g = NULL;
	struct gm_sync_writer *w = NULL;
	struct gm_sync_hash whole, written;
	gm_sync_hash_buf(new, size, &whole);
	enum gm_rc rc = o->signature(ep, path, &basis, &sig, err);
	if (rc)
		goto out;
	assert_int_equal(basis.kind, GM_SYNC_FILE);
	if (force_basis)
		basis = *force_basis;
	assert_int_equal(gm_sync_delta_gen_begin(sig.data, sig.len, &g, err), GM_OK);
	rc = o->open_patch(ep, path, sm, &basis, 0, &w, err);
	if (rc)
		goto out;
	for (size_t off = 0; !rc && off < size;) {
		size_t n = size - off < (1u << 20) ? size - off : (1u << 20);
		gm_buf_reset(&delta);
		assert_int_equal(
		        gm_sync_delta_gen_feed(g, new + off, n, off + n == size, &delta, err),
		        GM_OK);
		off += n;
		rc = o->patch(w, delta.data, delta.len, off == size, err);
	}
	if (rc) {
		o->abort(w, false);
		goto out;
	}
	rc = o->commit(w, &whole, sm, NULL, &written, err);
	if (!rc)
		assert_true(gm_sync_hash_equal(&whole, &written));
out:
	gm_sync_delta_free(g);
	gm_buf_release(&sig);
	gm_buf_release(&delta);
	return rc;
}

/* 1 MiB changed inside a 40 MiB file crosses the wire as about 1 MiB, and the server's
 * rebuild is byte for byte the source. */
static void delta_over_pair(bool compress)
{
	enum { SIZE = 40 << 20, AT = 17 << 20, CHANGE = 1 << 20 };
	struct pair *p = pair_start(true, compress, 2);
	struct gm_sync_endpoint *ep = p->ep;
	struct gm_err err = GM_ERR_INIT;
	uint8_t *old = malloc(SIZE), *new = malloc(SIZE), *back = malloc(SIZE);
	fill_rand(old, SIZE, 1);
	memcpy(new, old, SIZE);
	fill_rand(new + AT, CHANGE, 2);
	struct gm_buf path = GM_BUF_INIT;
	gm_buf_addf(&path, "%s/ckpt", p->root);
	int fd = open(gm_buf_cstr(&path), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, old, SIZE), SIZE);
	close(fd);
	assert_true(ep->caps & GM_SYNC_CAP_DELTA);

	struct gm_sync_meta sm = {GM_SYNC_FILE,          0640, 0, 0, 1,    SIZE, SIZE,
	                          1600000000000000000ll, 0,    0, 0, false};
	uint64_t before = gm_sync_remote_wire_bytes(ep);
	if (push_delta(ep, "ckpt", new, SIZE, &sm, NULL, &err))
		fail_msg("%s", gm_err_msg(&err));
	uint64_t wire = gm_sync_remote_wire_bytes(ep) - before;
	print_message("delta of 1 MiB in 40 MiB%s: %llu bytes on the wire\n",
	              compress ? " (zstd)" : "", (unsigned long long)wire);
	assert_true(wire > CHANGE);
	assert_true(wire < 2 * CHANGE);
	fd = open(gm_buf_cstr(&path), O_RDONLY);
	assert_int_equal(read(fd, back, SIZE), SIZE);
	close(fd);
	assert_memory_equal(back, new, SIZE);
	struct stat st;
	assert_int_equal(stat(gm_buf_cstr(&path), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);

	/* a basis that changed since the signature: heard at commit, the file stays */
	struct gm_sync_meta stale = sm;
	stale.size = SIZE;
	stale.mtime_ns = 1;
	memcpy(old, new, SIZE);
	fill_rand(new + AT, CHANGE, 3);
	assert_int_equal(push_delta(ep, "ckpt", new, SIZE, &sm, &stale, &err), GM_ERR_CHANGED);
	assert_non_null(strstr(gm_err_msg(&err), "changed since its signature"));
	fd = open(gm_buf_cstr(&path), O_RDONLY);
	assert_int_equal(read(fd, back, SIZE), SIZE);
	close(fd);
	assert_memory_equal(back, old, SIZE);
	/* no such file to sign */
	struct gm_sync_meta basis;
	struct gm_buf sig = GM_BUF_INIT;
	assert_int_equal(ep->ops->signature(ep, "nope", &basis, &sig, &err), GM_ERR_NOT_FOUND);
	gm_buf_release(&sig);
	/* and the connections still work */
	if (push_delta(ep, "ckpt", new, SIZE, &sm, NULL, &err))
		fail_msg("%s", gm_err_msg(&err));
	gm_buf_release(&path);
	free(old);
	free(new);
	free(back);
	gm_err_release(&err);
	pair_stop(p, 2);

	/* a read-only server does not offer deltas */
	p = pair_start(false, compress, 1);
	assert_false(p->ep->caps & GM_SYNC_CAP_DELTA);
	pair_stop(p, 1);
}

static void test_remote_delta(void **state)
{
	delta_over_pair(false);
}

static void test_remote_delta_zstd(void **state)
{
	delta_over_pair(true);
}

/* ---- hostile or dying servers, written by hand ---- */

enum fake_mode {
	FAKE_VERSION,  /* answers HELLO with protocol 99 */
	FAKE_BAD_LIST, /* answers LIST with an entry named ".." */
	FAKE_ABS_LIST, /* answers LIST with an entry "/etc" */
	FAKE_DIE,      /* reads one request, then hangs up */
	FAKE_DIE_READ, /* starts a read stream, then hangs up mid-file */
	FAKE_SILENT,   /* reads three COMMITs without answering, then hangs up */
};

struct fake {
	int fd;
	enum fake_mode mode;
	pthread_t thread;
};

static void fake_send(int fd, const struct gm_proto_msg *m)
{
	struct gm_buf f = GM_BUF_INIT;
	gm_proto_encode(m, &f);
	assert_int_equal(gm_proto_write_all(fd, f.data, f.len, NULL), GM_OK);
	gm_buf_release(&f);
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	struct gm_proto_hdr h;
	struct gm_buf payload = GM_BUF_INIT, raw = GM_BUF_INIT;
	struct gm_proto_msg m;
	struct gm_proto_in in;
	gm_proto_in_init(&in, fk->fd);
	gm_proto_msg_init(&m);
	if (gm_proto_in_frame(&in, &h, &payload, NULL))
		goto out;
	m.type = GM_PROTO_HELLO;
	m.num = fk->mode == FAKE_VERSION ? 99 : GM_PROTO_VERSION;
	gm_buf_adds(&m.a, fk->mode == FAKE_VERSION ? "7.0.0" : GM_VERSION);
	m.kind = GM_SYNC_DIR;
	fake_send(fk->fd, &m);
	if (fk->mode == FAKE_VERSION)
		goto out;
	if (gm_proto_in_frame(&in, &h, &payload, NULL))
		goto out;
	if (fk->mode == FAKE_BAD_LIST || fk->mode == FAKE_ABS_LIST) {
		struct gm_sync_meta meta = sample_meta();
		const char *name = fk->mode == FAKE_BAD_LIST ? ".." : "/etc";
		size_t at = raw.len;
		gm_buf_add(&raw, "\0\0\0\0\0\0\0\0\0\0", GM_PROTO_HDR);
		gm_proto_put_u64(&raw, 1);
		gm_proto_put_bytes(&raw, name, strlen(name));
		gm_proto_put_u64(&raw, 0);
		gm_proto_put_bytes(&raw, "", 0);
		gm_proto_put_meta(&raw, &meta);
		struct gm_proto_hdr rh = {(uint32_t)(raw.len - at - GM_PROTO_HDR), GM_PROTO_LIST_R,
		                          0, h.id};
		gm_proto_hdr_encode(&rh, (uint8_t *)raw.data + at);
		gm_proto_write_all(fk->fd, raw.data, raw.len, NULL);
		/* wait for the client to hang up */
		while (!gm_proto_in_frame(&in, &h, &payload, NULL))
			;
	} else if (fk->mode == FAKE_SILENT) {
		int commits = h.type == GM_PROTO_COMMIT;
		while (commits < 3 && !gm_proto_in_frame(&in, &h, &payload, NULL))
			commits += h.type == GM_PROTO_COMMIT;
	} else if (fk->mode == FAKE_DIE_READ) {
		static uint8_t data[4096];
		gm_buf_reset(&raw);
		gm_proto_encode_data(h.id, data, sizeof(data), NULL, &raw);
		gm_proto_write_all(fk->fd, raw.data, raw.len, NULL);
	}
out:
	shutdown(fk->fd, SHUT_RDWR);
	close(fk->fd);
	gm_proto_in_release(&in);
	gm_proto_msg_release(&m);
	gm_buf_release(&payload);
	gm_buf_release(&raw);
	return NULL;
}

static enum gm_rc fake_open(struct fake *fk, enum fake_mode mode, struct gm_sync_endpoint **ep,
                            struct gm_err *err)
{
	int sv[2], fds[1][2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fk->fd = sv[1];
	fk->mode = mode;
	assert_int_equal(pthread_create(&fk->thread, NULL, fake_main, fk), 0);
	fds[0][0] = sv[0];
	fds[0][1] = dup(sv[0]);
	struct gm_sync_remote_opts o = {"evil:/x", "evil", true, false, false};
	return gm_sync_remote_open((const int(*)[2])fds, 1, &o, ep, err);
}

static void test_client_version_mismatch(void **state)
{
	struct fake fk;
	struct gm_sync_endpoint *ep = NULL;
	struct gm_err err = GM_ERR_INIT;
	assert_int_equal(fake_open(&fk, FAKE_VERSION, &ep, &err), GM_ERR_PROTOCOL);
	assert_null(ep);
	struct gm_buf want = GM_BUF_INIT;
	gm_buf_addf(&want,
	            "gpumigrate " GM_VERSION " here speaks sync protocol %d, but 'evil' runs "
	            "gpumigrate 7.0.0 (protocol 99): install the same version on both hosts",
	            GM_PROTO_VERSION);
	assert_string_equal(gm_err_msg(&err), gm_buf_cstr(&want));
	gm_buf_release(&want);
	pthread_join(fk.thread, NULL);
	gm_err_release(&err);
}

static void test_client_refuses_bad_names(void **state)
{
	enum fake_mode modes[] = {FAKE_BAD_LIST, FAKE_ABS_LIST};
	for (int i = 0; i < 2; i++) {
		struct fake fk;
		struct gm_sync_endpoint *ep = NULL;
		struct gm_err err = GM_ERR_INIT;
		struct gm_sync_list l;
		struct gm_sync_meta meta;
		gm_sync_list_init(&l);
		assert_int_equal(fake_open(&fk, modes[i], &ep, &err), GM_OK);
		assert_int_equal(ep->ops->list(ep, "", &l, &err), GM_ERR_PROTOCOL);
		assert_non_null(strstr(gm_err_msg(&err), "bad entry name in a LIST_R frame"));
		assert_int_equal(l.n, 0);
		/* the connection is over: later calls fail at once */
		assert_int_equal(ep->ops->stat(ep, "", &meta, NULL, &err), GM_ERR_PROTOCOL);
		gm_sync_endpoint_close(ep);
		pthread_join(fk.thread, NULL);
		gm_sync_list_release(&l);
		gm_err_release(&err);
	}
}

static void test_lost_connection_fails_waiting_calls(void **state)
{
	struct fake fk;
	struct gm_sync_endpoint *ep = NULL;
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_meta meta;
	assert_int_equal(fake_open(&fk, FAKE_DIE, &ep, &err), GM_OK);
	assert_int_equal(ep->ops->stat(ep, "x", &meta, NULL, &err), GM_ERR_UNREACHABLE);
	assert_non_null(strstr(gm_err_msg(&err), "lost the connection to 'evil'"));
	assert_int_equal(ep->ops->stat(ep, "x", &meta, NULL, &err), GM_ERR_UNREACHABLE);
	struct gm_sync_writer *w;
	uint64_t resume;
	meta.size = 1;
	/* a pipelined small-file writer hears it at commit at the latest */
	enum gm_rc rc = ep->ops->open_write(ep, "f", &meta, 0, &w, &resume, &err);
	if (!rc)
		rc = ep->ops->commit(w, NULL, &meta, NULL, NULL, &err);
	assert_int_equal(rc, GM_ERR_UNREACHABLE);
	gm_sync_endpoint_close(ep);
	pthread_join(fk.thread, NULL);

	/* commits sent but never answered: drain fails each of them, by name */
	assert_int_equal(fake_open(&fk, FAKE_SILENT, &ep, &err), GM_OK);
	for (int i = 0; i < 3; i++) {
		char name[8] = {'s', (char)('0' + i), 0};
		struct gm_sync_hash h;
		gm_sync_hash_buf("x", 1, &h);
		assert_int_equal(ep->ops->open_write(ep, name, &meta, 0, &w, &resume, &err), GM_OK);
		assert_int_equal(ep->ops->write(w, "x", 1, &err), GM_OK);
		assert_int_equal(ep->ops->commit(w, &h, &meta, NULL, NULL, &err), GM_OK);
	}
	struct drained dr = {0};
	assert_int_equal(ep->ops->drain(ep, on_failed, &dr, &err), GM_OK);
	assert_int_equal(dr.n, 3);
	for (int i = 0; i < 3; i++) {
		char name[8] = {'s', (char)('0' + i), 0};
		assert_string_equal(dr.path[i], name);
		assert_int_equal(dr.rc[i], GM_ERR_UNREACHABLE);
		assert_non_null(strstr(dr.msg[i], "lost the connection to 'evil'"));
	}
	gm_sync_endpoint_close(ep);
	pthread_join(fk.thread, NULL);

	/* a reader mid-file */
	struct gm_sync_reader *r;
	struct gm_sync_piece piece;
	assert_int_equal(fake_open(&fk, FAKE_DIE_READ, &ep, &err), GM_OK);
	assert_int_equal(ep->ops->open_read(ep, "f", 0, &r, &err), GM_OK);
	assert_int_equal(ep->ops->read(r, &piece, &err), GM_OK);
	assert_int_equal(piece.kind, GM_SYNC_PIECE_DATA);
	assert_int_equal(piece.len, 4096);
	assert_int_equal(ep->ops->read(r, &piece, &err), GM_ERR_UNREACHABLE);
	ep->ops->close_read(r);
	gm_sync_endpoint_close(ep);
	pthread_join(fk.thread, NULL);
	gm_err_release(&err);
}

static void test_missing_root(void **state)
{
	struct pair p = {0};
	int sv[2], fds[1][2];
	struct gm_err err = GM_ERR_INIT;
	struct gm_sync_endpoint *ep = NULL;
	memcpy(p.root, "/nonexistent/gm-proto", 22);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.sfd = sv[1];
	assert_int_equal(pthread_create(&p.thread, NULL, server_main, &p), 0);
	fds[0][0] = sv[0];
	fds[0][1] = dup(sv[0]);
	struct gm_sync_remote_opts o = {"peer:/nonexistent", "peer", false, false, false};
	assert_int_equal(gm_sync_remote_open((const int(*)[2])fds, 1, &o, &ep, &err),
	                 GM_ERR_NOT_FOUND);
	assert_non_null(strstr(gm_err_msg(&err), "peer: "));
	assert_non_null(strstr(gm_err_msg(&err), "/nonexistent/gm-proto"));
	pthread_join(p.thread, NULL);
	assert_int_equal(p.server_rc, GM_ERR_NOT_FOUND);
	gm_err_release(&err);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_roundtrip_every_type),
	        cmocka_unit_test(test_list_roundtrip_and_split),
	        cmocka_unit_test(test_truncation_at_every_byte),
	        cmocka_unit_test(test_header_checks),
	        cmocka_unit_test(test_varints),
	        cmocka_unit_test(test_bad_paths_and_names),
	        cmocka_unit_test(test_oversize_fields),
	        cmocka_unit_test(test_set_xattrs_checks),
	        cmocka_unit_test(test_read_frame_ends),
	        cmocka_unit_test(test_in_buffered),
	        cmocka_unit_test(test_remote_tree_operations),
	        cmocka_unit_test(test_remote_set_xattrs),
	        cmocka_unit_test(test_remote_large_file),
	        cmocka_unit_test(test_remote_large_file_zstd),
	        cmocka_unit_test(test_remote_failed_open_reported_at_commit),
	        cmocka_unit_test(test_remote_concurrent_callers),
	        cmocka_unit_test(test_remote_deferred_commits),
	        cmocka_unit_test(test_server_refuses_escapes),
	        cmocka_unit_test(test_server_version_mismatch),
	        cmocka_unit_test(test_client_version_mismatch),
	        cmocka_unit_test(test_client_refuses_bad_names),
	        cmocka_unit_test(test_lost_connection_fails_waiting_calls),
	        cmocka_unit_test(test_missing_root),
	        cmocka_unit_test(test_delta_frames),
	        cmocka_unit_test(test_remote_all_connections_write),
	        cmocka_unit_test(test_remote_delta),
	        cmocka_unit_test(test_remote_delta_zstd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

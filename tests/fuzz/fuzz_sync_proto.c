/* libFuzzer harness: every byte a sync peer sends goes through these decoders first. The
 * input is read as a stream of frames, as the server and the remote endpoint read it. */
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "sync/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ZSTD_DCtx *dctx;
	struct gm_proto_msg m;
	struct gm_sync_list list;
	struct gm_buf plain = GM_BUF_INIT;
	struct gm_err err = GM_ERR_INIT;
	if (!dctx)
		dctx = ZSTD_createDCtx();
	gm_proto_msg_init(&m);
	gm_sync_list_init(&list);
	m.list = &list;
	while (size >= GM_PROTO_HDR) {
		struct gm_proto_hdr h;
		if (gm_proto_hdr_decode(data, &h, &err) || h.len > size - GM_PROTO_HDR)
			break;
		const uint8_t *p = data + GM_PROTO_HDR;
		data += GM_PROTO_HDR + h.len;
		size -= GM_PROTO_HDR + h.len;
		if ((h.type == GM_PROTO_DATA || h.type == GM_PROTO_PATCH) &&
		    (h.flags & GM_PROTO_F_ZSTD)) {
			if (gm_proto_unzstd(dctx, p, h.len, &plain, &err))
				continue;
			h.flags &= (uint8_t)~GM_PROTO_F_ZSTD;
			h.len = (uint32_t)plain.len;
			p = (const uint8_t *)plain.data;
		}
		if (gm_proto_decode(&h, p, &m, &err) == GM_OK) {
			/* re-encoding what was accepted must not crash either */
			struct gm_buf out = GM_BUF_INIT;
			if (h.type != GM_PROTO_LIST_R)
				gm_proto_encode(&m, &out);
			gm_buf_release(&out);
		}
	}
	gm_sync_list_release(&list);
	gm_proto_msg_release(&m);
	gm_buf_release(&plain);
	gm_err_release(&err);
	return 0;
}

/* CRC32C for GCS objects over ISA-L, plus the base64 forms GCS uses for it and for MD5. */
#include "objstore/crc32c.h"

#include <isa-l/crc.h>
#include <string.h>

#include "objstore/codec.h"

#include "util/banned.h"

uint32_t gm_crc32c(uint32_t crc, const void *p, size_t n)
{
	/* crc32_iscsi neither inverts its input nor its output (crc32_iscsi(s, 0, x) == x), and
	 * takes an int length: keep the register inverted between chunks of at most 1 GiB. */
	unsigned int reg = ~crc;
	const unsigned char *c = p;
	while (n > 0) {
		size_t chunk = n > (1u << 30) ? (1u << 30) : n;
		reg = crc32_iscsi((unsigned char *)c, (int)chunk, reg);
		c += chunk;
		n -= chunk;
	}
	return ~reg;
}

/* Decodes standard base64 of exactly want bytes into out; false for anything else. */
static bool b64_decode_exact(const char *s, size_t len, uint8_t *out, size_t want)
{
	struct gm_buf b = GM_BUF_INIT;
	bool ok = gm_os_base64_decode(s, len, &b) && b.len == want;
	if (ok)
		memcpy(out, b.data, want);
	gm_buf_release(&b);
	return ok;
}

void gm_crc32c_to_b64(uint32_t crc, struct gm_buf *out)
{
	uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
	                 (uint8_t)crc};
	gm_os_base64(out, be, sizeof(be));
}

bool gm_crc32c_from_b64(const char *s, size_t len, uint32_t *out)
{
	uint8_t be[4];
	if (!s || !b64_decode_exact(s, len, be, sizeof(be)))
		return false;
	*out = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 | (uint32_t)be[2] << 8 | be[3];
	return true;
}

void gm_crc32c_md5_to_b64(const uint8_t md5[16], struct gm_buf *out)
{
	gm_os_base64(out, md5, 16);
}

bool gm_crc32c_md5_from_b64(const char *s, size_t len, uint8_t md5[16])
{
	uint8_t tmp[16];
	if (!s || !b64_decode_exact(s, len, tmp, sizeof(tmp)))
		return false;
	memcpy(md5, tmp, sizeof(tmp));
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

enum gm_rc gm_crc32c_goog_hash_parse(const char *value, size_t len, struct gm_goog_hash *h,
                                     struct gm_err *err)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (is_space(value[i]) || value[i] == ','))
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && value[i] != ',')
			i++;
		size_t end = i;
		while (end > start && is_space(value[end - 1]))
			end--;
		const char *eq = memchr(value + start, '=', end - start);
		if (!eq || eq == value + start)
			return gm_err_set(err, GM_ERR_PARSE,
			                  "x-goog-hash: expected name=value, got something else");
		size_t name_len = (size_t)(eq - (value + start));
		const char *v = eq + 1;
		size_t vlen = (size_t)(value + end - v);
		if (name_len == 6 && memcmp(value + start, "crc32c", 6) == 0) {
			if (!gm_crc32c_from_b64(v, vlen, &h->crc32c))
				return gm_err_set(err, GM_ERR_PARSE,
				                  "x-goog-hash: crc32c is not base64 of 4 bytes");
			h->has_crc32c = true;
		} else if (name_len == 3 && memcmp(value + start, "md5", 3) == 0) {
			if (!gm_crc32c_md5_from_b64(v, vlen, h->md5))
				return gm_err_set(err, GM_ERR_PARSE,
				                  "x-goog-hash: md5 is not base64 of 16 bytes");
			h->has_md5 = true;
		}
	}
	return GM_OK;
}

/* Hex, base64 and the SHA-256/MD5 digests the object stores need, over GnuTLS so the
 * project keeps a single crypto library. */
#include "objstore/codec.h"

#include <string.h>

#include "util/fs.h"

#include "util/banned.h"

static const char hexdig[] = "0123456789abcdef";
static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void gm_os_hex(struct gm_buf *out, const void *p, size_t n)
{
	const uint8_t *b = p;
	gm_buf_grow(out, 2 * n);
	for (size_t i = 0; i < n; i++) {
		out->data[out->len++] = hexdig[b[i] >> 4];
		out->data[out->len++] = hexdig[b[i] & 15];
	}
	if (out->data)
		out->data[out->len] = '\0';
}

bool gm_os_hex_decode(const char *s, size_t len, uint8_t *out, size_t out_len)
{
	if (len != 2 * out_len || (len && !s))
		return false;
	for (size_t i = 0; i < len; i++)
		if (gm_hex_digit(s[i]) < 0)
			return false;
	for (size_t i = 0; i < out_len; i++) {
		unsigned hi = (unsigned)gm_hex_digit(s[2 * i]),
		         lo = (unsigned)gm_hex_digit(s[2 * i + 1]);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static void b64_encode(struct gm_buf *out, const uint8_t *b, size_t n, const char *alpha, bool pad)
{
	gm_buf_grow(out, (n + 2) / 3 * 4);
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
		out->data[out->len++] = alpha[v >> 18];
		out->data[out->len++] = alpha[v >> 12 & 63];
		out->data[out->len++] = alpha[v >> 6 & 63];
		out->data[out->len++] = alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)b[i] << 16;
		out->data[out->len++] = alpha[v >> 18];
		out->data[out->len++] = alpha[v >> 12 & 63];
		if (pad) {
			out->data[out->len++] = '=';
			out->data[out->len++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8;
		out->data[out->len++] = alpha[v >> 18];
		out->data[out->len++] = alpha[v >> 12 & 63];
		out->data[out->len++] = alpha[v >> 6 & 63];
		if (pad)
			out->data[out->len++] = '=';
	}
	if (out->data)
		out->data[out->len] = '\0';
}

void gm_os_base64(struct gm_buf *out, const void *p, size_t n)
{
	b64_encode(out, p, n, b64std, true);
}

void gm_os_base64url(struct gm_buf *out, const void *p, size_t n)
{
	b64_encode(out, p, n, b64url, false);
}

static int b64val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static bool b64_decode(const char *s, size_t len, struct gm_buf *out, bool url)
{
	if (len && !s)
		return false;
	/* Padding: only at the end, only to complete a group of four. */
	size_t pad = 0;
	while (pad < len && pad < 2 && s[len - 1 - pad] == '=')
		pad++;
	if (pad && len % 4 != 0)
		return false;
	size_t n = len - pad; /* significant characters */
	if (n % 4 == 1)
		return false;
	if (pad && (n % 4) + pad != 4)
		return false;
	size_t start = out->len;
	gm_buf_grow(out, n / 4 * 3 + 3);
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s[i], url);
		if (v < 0) {
			gm_buf_truncate(out, start);
			return false;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (char)(acc >> bits & 0xff);
		}
	}
	/* The bits left over must be zero (RFC 4648 section 3.5 canonical encoding). */
	if (bits && (acc & ((1u << bits) - 1)) != 0) {
		gm_buf_truncate(out, start);
		return false;
	}
	if (out->data)
		out->data[out->len] = '\0';
	return true;
}

bool gm_os_base64_decode(const char *s, size_t len, struct gm_buf *out)
{
	return b64_decode(s, len, out, false);
}

bool gm_os_base64url_decode(const char *s, size_t len, struct gm_buf *out)
{
	return b64_decode(s, len, out, true);
}

void gm_os_sha256(const void *p, size_t n, uint8_t out[32])
{
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, n ? p : "", n, out) < 0)
		memset(out, 0, 32); /* not reached: SHA-256 is always available */
}

bool gm_os_md5(const void *p, size_t n, uint8_t out[16])
{
	if (gnutls_hash_fast(GNUTLS_DIG_MD5, n ? p : "", n, out) < 0) {
		memset(out, 0, 16);
		return false;
	}
	return true;
}

bool gm_os_md5_init(struct gm_os_md5_ctx *c)
{
	c->h = NULL;
	if (gnutls_hash_init(&c->h, GNUTLS_DIG_MD5) < 0) {
		c->h = NULL;
		return false;
	}
	return true;
}

void gm_os_md5_update(struct gm_os_md5_ctx *c, const void *p, size_t n)
{
	if (c->h && n)
		(void)gnutls_hash(c->h, p, n);
}

bool gm_os_md5_final(struct gm_os_md5_ctx *c, uint8_t out[16])
{
	if (!c->h) {
		memset(out, 0, 16);
		return false;
	}
	gnutls_hash_deinit(c->h, out);
	c->h = NULL;
	return true;
}

void gm_os_md5_release(struct gm_os_md5_ctx *c)
{
	if (c && c->h) {
		gnutls_hash_deinit(c->h, NULL);
		c->h = NULL;
	}
}

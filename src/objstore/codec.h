/* The small encodings and digests the object stores speak: lowercase hex (SigV4 hashes and
 * signatures, ETags), base64 (Content-MD5, x-goog-hash, GCS md5Hash/crc32c), base64url
 * without padding (JWT segments of GCS service-account tokens), SHA-256 (payload hashes)
 * and MD5 (S3 single-part ETags, Content-MD5), one-shot and incremental. The digests are
 * GnuTLS's, the library the project already links. */
#ifndef GM_OBJSTORE_CODEC_H
#define GM_OBJSTORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "util/buf.h"

/* Appends the n bytes at p as lowercase hex (2n characters). */
void gm_os_hex(struct gm_buf *out, const void *p, size_t n);

/* Decodes exactly len hex digits of s (either case) into out_len = len / 2 bytes at out.
 * False (out untouched) when len != 2 * out_len or a character is not a hex digit. */
bool gm_os_hex_decode(const char *s, size_t len, uint8_t *out, size_t out_len);

/* Appends the n bytes at p as standard base64 (RFC 4648 section 4: A-Z a-z 0-9 + /),
 * padded with '=' to a multiple of 4 characters. */
void gm_os_base64(struct gm_buf *out, const void *p, size_t n);

/* Appends the n bytes at p as base64url (RFC 4648 section 5: '-' and '_' for '+' and '/'),
 * without padding, the form JWT segments use. */
void gm_os_base64url(struct gm_buf *out, const void *p, size_t n);

/* Decodes standard base64 s[0..len) and appends the bytes to out. Padding is accepted
 * (and then must be right: "QQ==", not "QQ=" or "QQ=A"), as is its absence ("QQ");
 * whitespace, the URL alphabet, non-zero trailing bits and a lone final character are
 * not. False on bad input, with out's length as it was before the call. */
bool gm_os_base64_decode(const char *s, size_t len, struct gm_buf *out);

/* The same for base64url (RFC 4648 section 5), padded or not. */
bool gm_os_base64url_decode(const char *s, size_t len, struct gm_buf *out);

/* SHA-256 of the n bytes at p. */
void gm_os_sha256(const void *p, size_t n, uint8_t out[32]);

/* MD5 of the n bytes at p. False (out zeroed) only when the crypto library refuses MD5
 * (a FIPS-strict system), which callers treat as "no checksum sent". */
bool gm_os_md5(const void *p, size_t n, uint8_t out[16]);

/* Incremental MD5, for a part or object hashed as it is read. Use: init, update any number
 * of times, final (which also frees the state). release abandons a context without final
 * and is a no-op after final or a failed init; all accept a zeroed struct. */
struct gm_os_md5_ctx {
	gnutls_hash_hd_t h; /* NULL before init, after final, or when init failed */
};

/* False when the crypto library refuses MD5; update is then a no-op and final gives false
 * (zeroed digest). */
bool gm_os_md5_init(struct gm_os_md5_ctx *c);
void gm_os_md5_update(struct gm_os_md5_ctx *c, const void *p, size_t n);
/* The digest of everything updated so far; the context is spent (init it again to reuse).
 * False (out zeroed) when init had failed. */
bool gm_os_md5_final(struct gm_os_md5_ctx *c, uint8_t out[16]);
void gm_os_md5_release(struct gm_os_md5_ctx *c);

#endif

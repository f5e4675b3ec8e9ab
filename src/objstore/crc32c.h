/* CRC32C (Castagnoli), the checksum Google Cloud Storage keeps for every object (composite
 * objects included, which have no MD5), computed with ISA-L's SIMD crc32_iscsi, and the forms
 * GCS writes it and the MD5 in: base64 of the big-endian bytes in the JSON API's "crc32c" and
 * "md5Hash" fields, and "crc32c=…,md5=…" in x-goog-hash response headers. */
#ifndef GM_OBJSTORE_CRC32C_H
#define GM_OBJSTORE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* The CRC32C of p[0..n) continuing from crc: start from 0; chainable, so
 * gm_crc32c(gm_crc32c(0, a, na), b, nb) is the CRC32C of a followed by b.
 * gm_crc32c(0, "123456789", 9) == 0xE3069283. p may be NULL when n is 0. */
uint32_t gm_crc32c(uint32_t crc, const void *p, size_t n);

/* Appends the GCS form of crc: base64 of its 4 big-endian bytes ("AAAAAA==" for 0). */
void gm_crc32c_to_b64(uint32_t crc, struct gm_buf *out);
/* Parses the GCS form (standard base64 of exactly 4 bytes, as gm_os_base64_decode reads
 * it); false when s is anything else. */
bool gm_crc32c_from_b64(const char *s, size_t len, uint32_t *out);

/* Appends base64 of an MD5 (the JSON API's md5Hash form, 24 characters). */
void gm_crc32c_md5_to_b64(const uint8_t md5[16], struct gm_buf *out);
/* Parses base64 of exactly 16 bytes; false otherwise. */
bool gm_crc32c_md5_from_b64(const char *s, size_t len, uint8_t md5[16]);

/* The whole-object hashes a GCS answer carries. */
struct gm_goog_hash {
	bool has_crc32c;
	uint32_t crc32c;
	bool has_md5;
	uint8_t md5[16];
};

/* Parses one x-goog-hash header value ("crc32c=n03x6A==", "md5=…", or both separated by
 * ',') into h, keeping what earlier calls set (GCS sends the two as separate headers).
 * Unknown hash names are skipped. GM_ERR_PARSE on a malformed value or a known name whose
 * value does not decode (the message quotes no more than the name). */
enum gm_rc gm_crc32c_goog_hash_parse(const char *value, size_t len, struct gm_goog_hash *h,
                                     struct gm_err *err);

#endif

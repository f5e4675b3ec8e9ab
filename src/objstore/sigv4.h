/* AWS Signature Version 4 for S3 requests sent with an Authorization header, payload in a
 * single chunk (signed, or "UNSIGNED-PAYLOAD"). The steps are exposed one by one
 * (canonical request, string to sign, signature) because a store answers every mistake in
 * any of them with the same SignatureDoesNotMatch; the tests pin each against AWS's
 * published vectors.
 *
 * What is signed: the method; the path and query exactly as S3 will canonicalise them; the
 * Host header; x-amz-date; x-amz-content-sha256 (S3); x-amz-security-token when the
 * credentials carry one; and every header the caller lists. Nothing here logs, and no
 * error message carries a key, a token or a signature. */
#ifndef GM_OBJSTORE_SIGV4_H
#define GM_OBJSTORE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "objstore/store.h"
#include "util/buf.h"
#include "util/err.h"

struct curl_slist;

/* "UNSIGNED-PAYLOAD": send the body without hashing it first (the TLS layer protects it;
 * S3 still checks Content-MD5 when sent). */
#define GM_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty string, the payload hash of every request without a body. */
#define GM_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct gm_sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "": none */
};

struct gm_sigv4_input {
	const char *method; /* "GET", "PUT" … as sent */
	const char *host;   /* the Host header value exactly as sent: host or host:port */
	/* The URI path as sent, percent-encoded (S3: every byte of the key but '/' and the
	 * unreserved A-Z a-z 0-9 - . _ ~, as gm_os_uri_encode(…, true) makes it). It is
	 * canonicalised the way S3 does it: %XX escapes decoded and everything re-encoded
	 * once, so "%7e", "~" and "%7E" sign alike and a '$' left raw is signed as %24. No
	 * dot-segment or slash normalisation (S3 keys may hold "//" and ".."). NULL or "": "/". */
	const char *path;
	/* The query string as sent, without '?': "list-type=2&prefix=a%2Fb", or NULL/"".
	 * Canonicalised like the path ('/' too is encoded), parameters without '=' signed as
	 * "name=", then sorted by name, then by value. */
	const char *query;
	/* Further headers the request sends and that are to be signed (content-md5,
	 * content-type, range, x-amz-meta-*, x-amz-copy-source …): names in any case, values as
	 * sent. The caller sends these itself, with exactly these values. Repeated names are
	 * signed as one header whose values are joined with ',' in the order given. host,
	 * x-amz-date, x-amz-content-sha256, x-amz-security-token and authorization are the
	 * signer's: gm_sigv4_sign refuses them here. */
	const struct gm_os_kv *headers;
	size_t n_headers;
	/* Lowercase hex SHA-256 of the body, or GM_SIGV4_UNSIGNED_PAYLOAD. NULL: the empty
	 * body's hash. */
	const char *payload_sha256;
	time_t now;          /* the request time (UTC seconds); S3 refuses a skew over 15 minutes */
	const char *region;  /* "us-east-1" … (S3-compatible stores: what they expect) */
	const char *service; /* "s3"; NULL: "s3" */
	/* Generic SigV4 as AWS's own test suite specifies it: no x-amz-content-sha256 header
	 * (an S3 addition). Only the tests set this; S3 requires the header. */
	bool omit_content_sha256;
};

/* The canonical request (the first step of the signature) for in, into out (replacing its
 * contents). session_token (NULL or "" for none) is signed as x-amz-security-token.
 * signed_headers (may be NULL) receives the ';'-joined lowercase names signed. in must be
 * one gm_sigv4_sign would accept; headers it would refuse are left out here. */
void gm_sigv4_canonical_request(const struct gm_sigv4_input *in, const char *session_token,
                                struct gm_buf *out, struct gm_buf *signed_headers);

/* "YYYYMMDD'T'HHMMSS'Z'" of t in UTC into out (17 bytes, NUL included). */
void gm_sigv4_amz_date(time_t t, char out[17]);

/* The string to sign for a canonical request (replacing out's contents):
 * "AWS4-HMAC-SHA256\n<amz date>\n<date>/<region>/<service>/aws4_request\n<hex sha256>". */
void gm_sigv4_string_to_sign(const struct gm_sigv4_input *in, const char *canonical_request,
                             size_t len, struct gm_buf *out);

/* The signature of a string to sign as 64 lowercase hex characters and a NUL: HMAC-SHA256
 * with the key derived from secret_key, the date of in->now, the region and the service. */
void gm_sigv4_signature(const struct gm_sigv4_input *in, const char *secret_key,
                        const char *string_to_sign, size_t len, char out[65]);

/* The Authorization header's value (replacing out's contents):
 * "AWS4-HMAC-SHA256 Credential=<key>/<scope>, SignedHeaders=<…>, Signature=<hex>".
 * GM_ERR_USAGE, out untouched, when the input or the credentials are incomplete, a header
 * name is not an HTTP token or is one of the signer's own, or a value holds CR, LF or NUL. */
enum gm_rc gm_sigv4_authorization(const struct gm_sigv4_input *in, const struct gm_sigv4_creds *c,
                                  struct gm_buf *out, struct gm_err *err);

/* Signs a request: appends to *hdrs (curl_slist_append; *hdrs may be NULL) the headers
 * "Authorization: …", "x-amz-date: …", "x-amz-content-sha256: …" (unless
 * omit_content_sha256) and "x-amz-security-token: …" when c has a token. The Host header is
 * libcurl's own (from the URL; it must equal in->host) and the caller's signed headers are
 * the caller's to send. Errors as gm_sigv4_authorization, plus GM_ERR_INTERNAL when libcurl
 * cannot allocate; nothing is appended then. Call it for every attempt: the signature
 * carries the time. */
enum gm_rc gm_sigv4_sign(const struct gm_sigv4_input *in, const struct gm_sigv4_creds *c,
                         struct curl_slist **hdrs, struct gm_err *err);

#endif

/* AWS Signature Version 4 for the S3 backend: canonical request, string to sign, derived
 * key and signature, written from the published specification and pinned by its test
 * vectors (tests/unit/test_os_sigv4.c). HMAC-SHA256 and SHA-256 come from GnuTLS. */
#include "objstore/sigv4.h"

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "objstore/codec.h"
#include "util/xalloc.h"
#include "util/fs.h"

#include "util/banned.h"

/* The headers the signer itself owns; a caller may not list them. */
static const char *const own_headers[] = {"host", "x-amz-date", "x-amz-content-sha256",
                                          "x-amz-security-token", "authorization"};

static bool is_own_header(const char *name)
{
	for (size_t i = 0; i < sizeof own_headers / sizeof own_headers[0]; i++)
		if (strcasecmp(name, own_headers[i]) == 0)
			return true;
	return false;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends s[0..len) as S3 canonicalises it: valid %XX escapes decoded, then every byte but
 * the unreserved ones (and '/' with keep_slash) encoded as %XX, uppercase. */
static void canon_encode(struct gm_buf *out, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%' && i + 2 < len && gm_hex_digit(s[i + 1]) >= 0 &&
		    gm_hex_digit(s[i + 2]) >= 0) {
			c = (unsigned char)(gm_hex_digit(s[i + 1]) << 4 | gm_hex_digit(s[i + 2]));
			i += 2;
		}
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			gm_buf_addch(out, (char)c);
		} else {
			gm_buf_addch(out, '%');
			gm_buf_addch(out, hex[c >> 4]);
			gm_buf_addch(out, hex[c & 15]);
		}
	}
}

struct qparam {
	struct gm_buf name, value; /* canonical (encoded) forms */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int r = strcmp(gm_buf_cstr(&x->name), gm_buf_cstr(&y->name));
	return r ? r : strcmp(gm_buf_cstr(&x->value), gm_buf_cstr(&y->value));
}

static void canon_query(struct gm_buf *out, const char *q)
{
	if (!q || !*q)
		return;
	size_t n = 1;
	for (const char *p = q; *p; p++)
		n += *p == '&';
	struct qparam *ps = gm_xcalloc(n, sizeof *ps);
	size_t k = 0;
	const char *p = q;
	for (;;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len) { /* "a=1&&b=2": an empty parameter is no parameter */
			const char *eq = memchr(p, '=', len);
			size_t nlen = eq ? (size_t)(eq - p) : len;
			canon_encode(&ps[k].name, p, nlen, false);
			gm_buf_adds(&ps[k].value, "");
			if (eq)
				canon_encode(&ps[k].value, eq + 1, len - nlen - 1, false);
			k++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	qsort(ps, k, sizeof *ps, qparam_cmp);
	for (size_t i = 0; i < k; i++) {
		if (i)
			gm_buf_addch(out, '&');
		gm_buf_add(out, ps[i].name.data, ps[i].name.len);
		gm_buf_addch(out, '=');
		gm_buf_add(out, ps[i].value.data, ps[i].value.len);
		gm_buf_release(&ps[i].name);
		gm_buf_release(&ps[i].value);
	}
	free(ps);
}

struct hdr {
	struct gm_buf name; /* lowercase */
	const char *value;  /* as given */
	size_t order;       /* position given, so equal names keep their order */
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int r = strcmp(gm_buf_cstr(&x->name), gm_buf_cstr(&y->name));
	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends value trimmed of spaces and tabs at both ends, inner runs of them as one space. */
static void add_trimmed(struct gm_buf *out, const char *v)
{
	bool space = false, any = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = any;
			continue;
		}
		if (space)
			gm_buf_addch(out, ' ');
		gm_buf_addch(out, *v);
		space = false;
		any = true;
	}
}

static void hdr_set(struct hdr *h, const char *name, const char *value, size_t order)
{
	gm_buf_init(&h->name);
	for (const char *p = name; *p; p++)
		gm_buf_addch(&h->name, (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p);
	h->value = value;
	h->order = order;
}

void gm_sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		memcpy(out, "19700101T000000Z", 17);
}

static const char *payload_hash(const struct gm_sigv4_input *in)
{
	return in->payload_sha256 ? in->payload_sha256 : GM_SIGV4_EMPTY_SHA256;
}

static const char *service_of(const struct gm_sigv4_input *in)
{
	return in->service && *in->service ? in->service : "s3";
}

void gm_sigv4_canonical_request(const struct gm_sigv4_input *in, const char *session_token,
                                struct gm_buf *out, struct gm_buf *signed_headers)
{
	char amz_date[17];
	gm_sigv4_amz_date(in->now, amz_date);
	gm_buf_reset(out);

	gm_buf_adds(out, in->method ? in->method : "");
	gm_buf_addch(out, '\n');
	if (in->path && *in->path)
		canon_encode(out, in->path, strlen(in->path), true);
	else
		gm_buf_addch(out, '/');
	gm_buf_addch(out, '\n');
	canon_query(out, in->query);
	gm_buf_addch(out, '\n');

	struct hdr *hs = gm_xcalloc(in->n_headers + 4, sizeof *hs);
	size_t n = 0;
	hdr_set(&hs[n], "host", in->host ? in->host : "", n);
	n++;
	hdr_set(&hs[n], "x-amz-date", amz_date, n);
	n++;
	if (!in->omit_content_sha256) {
		hdr_set(&hs[n], "x-amz-content-sha256", payload_hash(in), n);
		n++;
	}
	if (session_token && *session_token) {
		hdr_set(&hs[n], "x-amz-security-token", session_token, n);
		n++;
	}
	for (size_t i = 0; i < in->n_headers; i++) {
		const struct gm_os_kv *kv = &in->headers[i];
		if (!kv->name || !*kv->name || is_own_header(kv->name))
			continue;
		hdr_set(&hs[n], kv->name, kv->value ? kv->value : "", n);
		n++;
	}
	qsort(hs, n, sizeof *hs, hdr_cmp);

	struct gm_buf names = GM_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		bool same = i && strcmp(hs[i].name.data, hs[i - 1].name.data) == 0;
		if (same) {
			gm_buf_addch(out, ',');
		} else {
			if (i) {
				gm_buf_addch(out, '\n');
				gm_buf_addch(&names, ';');
			}
			gm_buf_add(out, hs[i].name.data, hs[i].name.len);
			gm_buf_addch(out, ':');
			gm_buf_add(&names, hs[i].name.data, hs[i].name.len);
		}
		add_trimmed(out, hs[i].value);
	}
	gm_buf_adds(out, "\n\n");
	gm_buf_add(out, names.data, names.len);
	gm_buf_addch(out, '\n');
	gm_buf_adds(out, payload_hash(in));

	if (signed_headers) {
		gm_buf_reset(signed_headers);
		gm_buf_add(signed_headers, names.data, names.len);
		gm_buf_adds(signed_headers, "");
	}
	gm_buf_release(&names);
	for (size_t i = 0; i < n; i++)
		gm_buf_release(&hs[i].name);
	free(hs);
}

static void scope(const struct gm_sigv4_input *in, const char *amz_date, struct gm_buf *out)
{
	gm_buf_add(out, amz_date, 8);
	gm_buf_addf(out, "/%s/%s/aws4_request", in->region ? in->region : "", service_of(in));
}

void gm_sigv4_string_to_sign(const struct gm_sigv4_input *in, const char *canonical_request,
                             size_t len, struct gm_buf *out)
{
	char amz_date[17];
	uint8_t md[32];
	gm_sigv4_amz_date(in->now, amz_date);
	gm_os_sha256(canonical_request, len, md);
	gm_buf_reset(out);
	gm_buf_adds(out, "AWS4-HMAC-SHA256\n");
	gm_buf_adds(out, amz_date);
	gm_buf_addch(out, '\n');
	scope(in, amz_date, out);
	gm_buf_addch(out, '\n');
	gm_os_hex(out, md, sizeof md);
}

static void hmac(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32])
{
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, msg_len ? msg : "", msg_len, out) < 0)
		memset(out, 0, 32); /* not reached: HMAC-SHA256 is always available */
}

void gm_sigv4_signature(const struct gm_sigv4_input *in, const char *secret_key,
                        const char *string_to_sign, size_t len, char out[65])
{
	char amz_date[17];
	gm_sigv4_amz_date(in->now, amz_date);
	const char *region = in->region ? in->region : "";
	const char *service = service_of(in);

	struct gm_buf k = GM_BUF_INIT;
	gm_buf_adds(&k, "AWS4");
	gm_buf_adds(&k, secret_key ? secret_key : "");
	uint8_t a[32], b[32];
	hmac(k.data, k.len, amz_date, 8, a);
	hmac(a, sizeof a, region, strlen(region), b);
	hmac(b, sizeof b, service, strlen(service), a);
	hmac(a, sizeof a, "aws4_request", 12, b);
	hmac(b, sizeof b, string_to_sign, len, a);

	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[a[i] >> 4];
		out[2 * i + 1] = hex[a[i] & 15];
	}
	out[64] = '\0';

	explicit_bzero(k.data, k.len);
	explicit_bzero(a, sizeof a);
	explicit_bzero(b, sizeof b);
	gm_buf_release(&k);
}

/* An HTTP header field name: RFC 9110 token characters. */
static bool is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

/* A header value we can send: no control byte but tab (no CR or LF to split the request). */
static bool is_value(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static enum gm_rc check(const struct gm_sigv4_input *in, const struct gm_sigv4_creds *c,
                        struct gm_err *err)
{
	if (!c || !c->access_key || !*c->access_key || !c->secret_key || !*c->secret_key)
		return gm_err_set(err, GM_ERR_USAGE, "cannot sign a request without credentials");
	if (!is_value(c->access_key) || strchr(c->access_key, ' ') || strchr(c->access_key, '/'))
		return gm_err_set(err, GM_ERR_USAGE, "the access key id holds invalid characters");
	if (c->session_token && !is_value(c->session_token))
		return gm_err_set(err, GM_ERR_USAGE, "the session token holds invalid characters");
	if (!is_token(in->method))
		return gm_err_set(err, GM_ERR_USAGE, "cannot sign a request without a method");
	if (!in->host || !*in->host || !is_value(in->host) || strchr(in->host, ' '))
		return gm_err_set(err, GM_ERR_USAGE, "cannot sign a request without a valid host");
	if (!in->region || !*in->region || !is_value(in->region) || strchr(in->region, '/'))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "cannot sign a request without a valid region");
	if (in->service && (!is_value(in->service) || strchr(in->service, '/')))
		return gm_err_set(err, GM_ERR_USAGE, "invalid signing service name");
	if (!is_value(payload_hash(in)))
		return gm_err_set(err, GM_ERR_USAGE, "invalid payload hash");
	if (in->path && !is_value(in->path))
		return gm_err_set(err, GM_ERR_USAGE, "the request path holds control characters");
	if (in->query && !is_value(in->query))
		return gm_err_set(err, GM_ERR_USAGE, "the request query holds control characters");
	if (in->n_headers && !in->headers)
		return gm_err_set(err, GM_ERR_USAGE, "headers to sign are missing");
	for (size_t i = 0; i < in->n_headers; i++) {
		const struct gm_os_kv *kv = &in->headers[i];
		if (!is_token(kv->name))
			return gm_err_set(err, GM_ERR_USAGE, "header %zu to sign has no valid name",
			                  i + 1);
		if (is_own_header(kv->name))
			return gm_err_set(err, GM_ERR_USAGE,
			                  "header '%s' is the signer's own and cannot be given",
			                  kv->name);
		if (kv->value && !is_value(kv->value))
			return gm_err_set(err, GM_ERR_USAGE,
			                  "the value of header '%s' holds control characters",
			                  kv->name);
	}
	return GM_OK;
}

enum gm_rc gm_sigv4_authorization(const struct gm_sigv4_input *in, const struct gm_sigv4_creds *c,
                                  struct gm_buf *out, struct gm_err *err)
{
	enum gm_rc rc = check(in, c, err);
	if (rc != GM_OK)
		return rc;
	struct gm_buf creq = GM_BUF_INIT, sts = GM_BUF_INIT, names = GM_BUF_INIT;
	char amz_date[17], sig[65];
	gm_sigv4_amz_date(in->now, amz_date);
	gm_sigv4_canonical_request(in, c->session_token, &creq, &names);
	gm_sigv4_string_to_sign(in, creq.data, creq.len, &sts);
	gm_sigv4_signature(in, c->secret_key, sts.data, sts.len, sig);

	gm_buf_reset(out);
	gm_buf_adds(out, "AWS4-HMAC-SHA256 Credential=");
	gm_buf_adds(out, c->access_key);
	gm_buf_addch(out, '/');
	scope(in, amz_date, out);
	gm_buf_adds(out, ", SignedHeaders=");
	gm_buf_add(out, names.data, names.len);
	gm_buf_adds(out, ", Signature=");
	gm_buf_adds(out, sig);

	gm_buf_release(&creq);
	gm_buf_release(&sts);
	gm_buf_release(&names);
	return GM_OK;
}

enum gm_rc gm_sigv4_sign(const struct gm_sigv4_input *in, const struct gm_sigv4_creds *c,
                         struct curl_slist **hdrs, struct gm_err *err)
{
	struct gm_buf auth = GM_BUF_INIT, line = GM_BUF_INIT;
	struct curl_slist *list = NULL, *tmp;
	char amz_date[17];
	enum gm_rc rc = gm_sigv4_authorization(in, c, &auth, err);
	if (rc != GM_OK)
		goto out;
	gm_sigv4_amz_date(in->now, amz_date);

	gm_buf_adds(&line, "Authorization: ");
	gm_buf_add(&line, auth.data, auth.len);
	if (!(tmp = curl_slist_append(list, line.data)))
		goto nomem;
	list = tmp;
	gm_buf_reset(&line);
	gm_buf_addf(&line, "x-amz-date: %s", amz_date);
	if (!(tmp = curl_slist_append(list, line.data)))
		goto nomem;
	list = tmp;
	if (!in->omit_content_sha256) {
		gm_buf_reset(&line);
		gm_buf_addf(&line, "x-amz-content-sha256: %s", payload_hash(in));
		if (!(tmp = curl_slist_append(list, line.data)))
			goto nomem;
		list = tmp;
	}
	if (c->session_token && *c->session_token) {
		gm_buf_reset(&line);
		gm_buf_addf(&line, "x-amz-security-token: %s", c->session_token);
		if (!(tmp = curl_slist_append(list, line.data)))
			goto nomem;
		list = tmp;
	}
	/* All made: hang them on the caller's list. */
	if (!*hdrs) {
		*hdrs = list;
	} else {
		struct curl_slist *t = *hdrs;
		while (t->next)
			t = t->next;
		t->next = list;
	}
	list = NULL;
	goto out;
nomem:
	rc = gm_err_set(err, GM_ERR_INTERNAL, "cannot allocate the request headers");
out:
	if (line.data)
		explicit_bzero(line.data, line.len);
	if (list)
		curl_slist_free_all(list);
	gm_buf_release(&line);
	gm_buf_release(&auth);
	return rc;
}

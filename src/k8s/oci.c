/* The pure parsers of the OCI registry client: image references (docker's normalisation
 * rules), WWW-Authenticate challenges, upload Range answers, base64 and the prefix map rules.
 * No network here, so all of it is unit-tested and fuzzed on its own. Where credentials come
 * from (docker config.json, credential helpers, Google's) lives in oci_creds.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "k8s/oci.h"
#include "util/doc.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

void gm_oci_ref_init(struct gm_oci_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
}

void gm_oci_ref_release(struct gm_oci_ref *ref)
{
	if (!ref)
		return;
	GM_FREE(ref->registry);
	GM_FREE(ref->repo);
	GM_FREE(ref->tag);
	GM_FREE(ref->digest);
	ref->plain_http = false;
}

bool gm_oci_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void gm_oci_digest_of(const void *data, size_t len, struct gm_buf *out)
{
	unsigned char md[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md);
	gm_buf_adds(out, "sha256:");
	for (size_t i = 0; i < sizeof(md); i++)
		gm_buf_addf(out, "%02x", md[i]);
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return false;
	while (i < n) {
		if (is_alnum_lower(s[i])) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && !is_alnum_lower(s[j]))
			j++;
		size_t sep = j - i;
		bool ok = (sep == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
		          (sep == 2 && s[i] == '_' && s[i + 1] == '_');
		if (!ok) {
			ok = true;
			for (size_t k = i; k < j; k++)
				ok = ok && s[k] == '-';
		}
		if (!ok)
			return false;
		i = j;
	}
	return true;
}

static bool host_valid(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return false;
	if (s[0] == '[') { /* IPv6 literal */
		while (i < n && s[i] != ']')
			i++;
		if (i == n)
			return false;
		for (size_t k = 1; k < i; k++)
			if (!isxdigit((unsigned char)s[k]) && s[k] != ':' && s[k] != '.')
				return false;
		i++;
	} else {
		while (i < n && s[i] != ':') {
			if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
				return false;
			i++;
		}
		if (i == 0)
			return false;
	}
	if (i == n)
		return true;
	if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
		return false;
	for (size_t k = i + 1; k < n; k++)
		if (!isdigit((unsigned char)s[k]))
			return false;
	return true;
}

static bool tag_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

enum gm_rc gm_oci_ref_parse(const char *s, struct gm_oci_ref *ref, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	char *name = NULL;
	gm_oci_ref_release(ref);
	if (!s || !*s)
		return gm_err_set(err, GM_ERR_PARSE, "empty image reference");
	if (strlen(s) > GM_OCI_MAX_REF)
		return gm_err_set(err, GM_ERR_LIMIT, "image reference longer than %d bytes",
		                  GM_OCI_MAX_REF);
	const char *p = s;
	if (strncmp(p, "docker://", 9) == 0) {
		p += 9;
	} else if (strncmp(p, "http://", 7) == 0) {
		p += 7;
		ref->plain_http = true;
	} else if (strncmp(p, "https://", 8) == 0) {
		p += 8;
	}
	const char *at = strchr(p, '@');
	name = at ? gm_xstrndup(p, (size_t)(at - p)) : gm_xstrdup(p);
	if (at) {
		if (!gm_oci_digest_valid(at + 1)) {
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "'%s': the digest must be sha256: and 64 lowercase hex "
			                "digits",
			                s);
			goto out;
		}
		ref->digest = gm_xstrdup(at + 1);
	}
	char *slash = strrchr(name, '/');
	char *colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!tag_valid(colon + 1)) {
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "'%s': a tag is letters, digits, '_', '.' and '-' (at most "
			                "128, not starting with '.' or '-')",
			                s);
			goto out;
		}
		ref->tag = gm_xstrdup(colon + 1);
	}
	const char *path = name;
	char *first = strchr(name, '/');
	if (first && (memchr(name, '.', (size_t)(first - name)) ||
	              memchr(name, ':', (size_t)(first - name)) || name[0] == '[' ||
	              (first - name == 9 && strncmp(name, "localhost", 9) == 0))) {
		if (!host_valid(name, (size_t)(first - name))) {
			rc = gm_err_set(err, GM_ERR_PARSE, "'%s': '%.*s' is not a registry host", s,
			                (int)(first - name), name);
			goto out;
		}
		ref->registry = gm_xstrndup(name, (size_t)(first - name));
		path = first + 1;
	} else {
		ref->registry = gm_xstrdup("docker.io");
	}
	if (strcmp(ref->registry, "index.docker.io") == 0 ||
	    strcmp(ref->registry, "registry-1.docker.io") == 0) {
		free(ref->registry);
		ref->registry = gm_xstrdup("docker.io");
	}
	if (strcmp(ref->registry, "docker.io") == 0 && !strchr(path, '/')) {
		struct gm_buf r = GM_BUF_INIT;
		gm_buf_addf(&r, "library/%s", path);
		ref->repo = gm_buf_detach(&r);
	} else {
		ref->repo = gm_xstrdup(path);
	}
	if (strlen(ref->repo) > 255) {
		rc = gm_err_set(err, GM_ERR_PARSE, "'%s': the repository name is over 255 bytes",
		                s);
		goto out;
	}
	for (const char *c = ref->repo;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (!component_valid(c, n)) {
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "'%s': repository components are lowercase letters and "
			                "digits separated by '.', '_', '__' or '-'",
			                s);
			goto out;
		}
		if (!e)
			break;
		c = e + 1;
	}
out:
	free(name);
	if (rc != GM_OK)
		gm_oci_ref_release(ref);
	return rc;
}

void gm_oci_ref_format(const struct gm_oci_ref *ref, struct gm_buf *out)
{
	gm_buf_addf(out, "%s/%s", ref->registry ? ref->registry : "", ref->repo ? ref->repo : "");
	if (ref->tag)
		gm_buf_addf(out, ":%s", ref->tag);
	if (ref->digest)
		gm_buf_addf(out, "@%s", ref->digest);
}

const char *gm_oci_api_host(const struct gm_oci_ref *ref)
{
	if (strcmp(ref->registry, "docker.io") == 0)
		return "registry-1.docker.io";
	return ref->registry;
}

void gm_oci_challenge_release(struct gm_oci_challenge *c)
{
	if (!c)
		return;
	GM_FREE(c->realm);
	GM_FREE(c->service);
	GM_FREE(c->scope);
	c->scheme = GM_OCI_AUTH_NONE;
}

static bool is_token_char(char c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

enum gm_rc gm_oci_challenge_parse(const char *hdr, struct gm_oci_challenge *c, struct gm_err *err)
{
	enum gm_rc rc = GM_OK;
	struct gm_buf key = GM_BUF_INIT, val = GM_BUF_INIT;
	gm_oci_challenge_release(c);
	if (strlen(hdr) > GM_OCI_MAX_HEADER)
		return gm_err_set(err, GM_ERR_LIMIT, "WWW-Authenticate header over %d bytes",
		                  GM_OCI_MAX_HEADER);
	const char *p = hdr;
	while (*p == ' ' || *p == '\t')
		p++;
	const char *s0 = p;
	while (is_token_char(*p))
		p++;
	size_t sn = (size_t)(p - s0);
	if (sn == 5 && strncasecmp(s0, "basic", 5) == 0) {
		c->scheme = GM_OCI_AUTH_BASIC;
	} else if (sn == 6 && strncasecmp(s0, "bearer", 6) == 0) {
		c->scheme = GM_OCI_AUTH_BEARER;
	} else {
		rc = gm_err_set(err, GM_ERR_PARSE, "unsupported WWW-Authenticate scheme '%.*s'",
		                (int)(sn > 32 ? 32 : sn), s0);
		goto out;
	}
	if (*p && *p != ' ' && *p != '\t') {
		rc = gm_err_set(err, GM_ERR_PARSE, "malformed WWW-Authenticate header");
		goto out;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		gm_buf_reset(&key);
		gm_buf_reset(&val);
		const char *k0 = p;
		while (is_token_char(*p))
			p++;
		if (p == k0) {
			rc = gm_err_set(err, GM_ERR_PARSE, "malformed WWW-Authenticate header");
			goto out;
		}
		gm_buf_add(&key, k0, (size_t)(p - k0));
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=') {
			/* a second challenge ("Basic realm=x, Bearer …") or a token68: stop at
			 * the first challenge's end */
			break;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				gm_buf_addch(&val, *p++);
			}
			if (*p != '"') {
				rc = gm_err_set(err, GM_ERR_PARSE,
				                "unterminated quoted string in WWW-Authenticate");
				goto out;
			}
			p++;
		} else {
			const char *v0 = p;
			while (is_token_char(*p) || *p == '/' || *p == ':')
				p++;
			gm_buf_add(&val, v0, (size_t)(p - v0));
		}
		char **slot = NULL;
		if (strcasecmp(gm_buf_cstr(&key), "realm") == 0)
			slot = &c->realm;
		else if (strcasecmp(gm_buf_cstr(&key), "service") == 0)
			slot = &c->service;
		else if (strcasecmp(gm_buf_cstr(&key), "scope") == 0)
			slot = &c->scope;
		if (slot) {
			free(*slot);
			*slot = gm_xstrdup(gm_buf_cstr(&val));
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != ',') {
			rc = gm_err_set(err, GM_ERR_PARSE, "malformed WWW-Authenticate header");
			goto out;
		}
	}
	if (c->scheme == GM_OCI_AUTH_BEARER && (!c->realm || !*c->realm))
		rc = gm_err_set(err, GM_ERR_PARSE, "Bearer challenge without a realm");
out:
	gm_buf_release(&key);
	gm_buf_release(&val);
	if (rc != GM_OK)
		gm_oci_challenge_release(c);
	return rc;
}

enum gm_rc gm_oci_parse_range(const char *s, uint64_t *next)
{
	if (!s)
		return GM_ERR_PARSE;
	while (*s == ' ')
		s++;
	if (strncasecmp(s, "bytes", 5) == 0 && (s[5] == '=' || s[5] == ' '))
		s += 6;
	if (s[0] != '0' || s[1] != '-' || !isdigit((unsigned char)s[2]))
		return GM_ERR_PARSE;
	uint64_t end = 0;
	if (gm_parse_u64(s + 2, 10, &end) != GM_OK || end == UINT64_MAX)
		return GM_ERR_PARSE;
	*next = end + 1;
	return GM_OK;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

enum gm_rc gm_oci_base64_decode(const char *s, size_t len, struct gm_buf *out)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return GM_ERR_PARSE;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0)
			return GM_ERR_PARSE;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			gm_buf_addch(out, (char)((acc >> bits) & 0xff));
		}
	}
	gm_buf_grow(out, 0);
	return GM_OK;
}

void gm_oci_map_init(struct gm_oci_map *m)
{
	memset(m, 0, sizeof(*m));
}

void gm_oci_map_release(struct gm_oci_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->from[i]);
		free(m->to[i]);
	}
	GM_FREE(m->from);
	GM_FREE(m->to);
	m->n = 0;
}

enum gm_rc gm_oci_map_load(const char *path, struct gm_oci_map *m, struct gm_err *err)
{
	static const char *const keys[] = {"from", "to", NULL};
	struct gm_doc doc;
	enum gm_rc rc = gm_doc_load_file(&doc, path, err);
	struct gm_buf where = GM_BUF_INIT;
	if (rc != GM_OK)
		goto out;
	struct fy_node *list = gm_doc_root(&doc);
	if (gm_doc_is_map(list))
		list = gm_doc_get(list, "images");
	if (!gm_doc_is_seq(list)) {
		rc = gm_err_set(err, GM_ERR_PARSE,
		                "'%s': expected a list of {from, to} (or an 'images:' list)", path);
		goto out;
	}
	for (int i = 0; i < gm_doc_seq_len(list); i++) {
		struct fy_node *e = gm_doc_seq_at(list, i);
		const char *from = NULL, *to = NULL;
		gm_buf_reset(&where);
		gm_doc_where(&doc, e, &where);
		if (!gm_doc_is_map(e)) {
			rc = gm_err_set(err, GM_ERR_PARSE, "%s: a rule is a mapping {from, to}",
			                gm_buf_cstr(&where));
			goto out;
		}
		if ((rc = gm_doc_check_keys(&doc, e, keys, err)) != GM_OK)
			goto out;
		if (gm_doc_get_str(&doc, e, "from", &from, err) != GM_OK ||
		    gm_doc_get_str(&doc, e, "to", &to, err) != GM_OK || !*from || !*to) {
			rc = gm_err_set(err, GM_ERR_PARSE,
			                "%s: a rule needs non-empty 'from' and 'to' strings",
			                gm_buf_cstr(&where));
			goto out;
		}
		m->from = gm_xreallocarray(m->from, m->n + 1, sizeof(*m->from));
		m->to = gm_xreallocarray(m->to, m->n + 1, sizeof(*m->to));
		m->from[m->n] = gm_xstrdup(from);
		m->to[m->n] = gm_xstrdup(to);
		m->n++;
	}
out:
	gm_buf_release(&where);
	gm_doc_release(&doc);
	return rc;
}

static bool prefix_at_boundary(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	if (n && prefix[n - 1] == '/')
		n--;
	if (strncmp(s, prefix, n) != 0)
		return false;
	return s[n] == '\0' || s[n] == '/' || s[n] == ':' || s[n] == '@';
}

bool gm_oci_map_apply(const struct gm_oci_map *m, const char *image, struct gm_buf *out)
{
	struct gm_oci_ref ref;
	struct gm_buf norm = GM_BUF_INIT;
	bool found = false;
	gm_oci_ref_init(&ref);
	if (gm_oci_ref_parse(image, &ref, NULL) == GM_OK)
		gm_oci_ref_format(&ref, &norm);
	for (size_t i = 0; i < m->n && !found; i++) {
		const char *cands[2] = {image, norm.len ? gm_buf_cstr(&norm) : NULL};
		for (int c = 0; c < 2 && !found; c++) {
			if (!cands[c] || !prefix_at_boundary(cands[c], m->from[i]))
				continue;
			size_t n = strlen(m->from[i]);
			if (n && m->from[i][n - 1] == '/')
				n--;
			size_t tn = strlen(m->to[i]);
			if (tn && m->to[i][tn - 1] == '/')
				tn--;
			gm_buf_reset(out);
			gm_buf_add(out, m->to[i], tn);
			gm_buf_adds(out, cands[c] + n);
			found = true;
		}
	}
	gm_buf_release(&norm);
	gm_oci_ref_release(&ref);
	return found;
}

/* The mirror's upload journal: one small file per (registry, repository, blob) that
 * remembers an unfinished chunked upload across runs, written atomically, read
 * suspiciously (anything odd is treated as no journal), and removed when the blob is in. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s/oci.h"
#include "k8s/oci_resume.h"
#include "util/fs.h"
#include "util/banned.h"

#define MAGIC "gpumigrate-registry-upload 1\n"

enum gm_rc gm_oci_resume_dir(struct gm_buf *out, struct gm_err *err)
{
	return gm_fs_state_dir(GM_OCI_RESUME_SUBDIR, out, err);
}

void gm_oci_resume_path(const char *dir, const char *base, const char *repo, const char *digest,
                        struct gm_buf *out)
{
	struct gm_buf key = GM_BUF_INIT, hex = GM_BUF_INIT;
	gm_buf_addf(&key, "%s\n%s\n%s", base, repo, digest);
	gm_oci_digest_of(key.data, key.len, &hex);
	gm_buf_reset(out);
	gm_buf_addf(out, "%s/%s", dir, gm_buf_cstr(&hex) + 7); /* without "sha256:" */
	gm_buf_release(&key);
	gm_buf_release(&hex);
}

void gm_oci_resume_init(struct gm_oci_resume *j, const char *base, const char *repo,
                        const char *digest)
{
	memset(j, 0, sizeof(*j));
	j->base = base;
	j->repo = repo;
	j->digest = digest;
}

void gm_oci_resume_release(struct gm_oci_resume *j)
{
	if (!j)
		return;
	gm_buf_wipe(&j->location);
	gm_buf_release(&j->location);
	gm_buf_release(&j->path);
}

enum gm_rc gm_oci_resume_open(struct gm_oci_resume *j, struct gm_err *err)
{
	struct gm_buf dir = GM_BUF_INIT;
	gm_buf_reset(&j->path);
	enum gm_rc rc = gm_oci_resume_dir(&dir, err);
	if (rc == GM_OK)
		gm_oci_resume_path(gm_buf_cstr(&dir), j->base, j->repo, j->digest, &j->path);
	gm_buf_release(&dir);
	return rc;
}

/* Whether url is "<base>/…" and a plain URL (no spaces or control characters). */
static bool location_ok(const char *base, const char *url, size_t len)
{
	size_t bl = strlen(base);
	if (len <= bl + 1 || len > GM_OCI_RESUME_MAX_URL || strncmp(url, base, bl) != 0 ||
	    url[bl] != '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] == 0x7f)
			return false;
	return true;
}

/* The next line of *p (up to its '\n', which must be there) if it is "name value";
 * val and vlen get the value and *p moves past the line. */
static bool take_line(const char **p, const char *end, const char *name, const char **val,
                      size_t *vlen)
{
	size_t nl = strlen(name);
	const char *eol = memchr(*p, '\n', (size_t)(end - *p));
	if (!eol || (size_t)(eol - *p) < nl + 1 || memcmp(*p, name, nl) != 0 || (*p)[nl] != ' ')
		return false;
	*val = *p + nl + 1;
	*vlen = (size_t)(eol - *val);
	*p = eol + 1;
	return true;
}

static bool value_is(const char *val, size_t vlen, const char *want)
{
	return vlen == strlen(want) && memcmp(val, want, vlen) == 0;
}

/* Reads the whole small regular file at path into out; false when it is not one. */
static bool read_small(const char *path, struct gm_buf *out)
{
	struct stat st;
	bool ok = false;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > GM_OCI_RESUME_MAX)
		goto out;
	gm_buf_grow(out, (size_t)st.st_size + 1);
	for (;;) {
		char b[4096];
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		gm_buf_add(out, b, (size_t)n);
		memset(b, 0, (size_t)n);
		if (out->len > GM_OCI_RESUME_MAX)
			goto out;
	}
	ok = true;
out:
	close(fd);
	return ok;
}

bool gm_oci_resume_load(struct gm_oci_resume *j)
{
	struct gm_buf text = GM_BUF_INIT, num = GM_BUF_INIT;
	const char *v = NULL;
	size_t vl = 0;
	uint64_t acked = 0;
	bool ok = false;
	gm_buf_wipe(&j->location);
	j->acked = 0;
	if (!j->path.len || !read_small(gm_buf_cstr(&j->path), &text))
		goto out;
	const char *p = gm_buf_cstr(&text), *end = p + text.len;
	if (memchr(p, '\0', text.len) || strncmp(p, MAGIC, strlen(MAGIC)) != 0)
		goto out;
	p += strlen(MAGIC);
	if (!take_line(&p, end, "base", &v, &vl) || !value_is(v, vl, j->base) ||
	    !take_line(&p, end, "repo", &v, &vl) || !value_is(v, vl, j->repo) ||
	    !take_line(&p, end, "digest", &v, &vl) || !value_is(v, vl, j->digest) ||
	    !take_line(&p, end, "acked", &v, &vl) || vl == 0 || vl > 20)
		goto out;
	gm_buf_add(&num, v, vl);
	if (gm_parse_u64(gm_buf_cstr(&num), 10, &acked) != GM_OK ||
	    !take_line(&p, end, "location", &v, &vl) || p != end || !location_ok(j->base, v, vl))
		goto out;
	gm_buf_add(&j->location, v, vl);
	gm_buf_grow(&j->location, 0);
	j->acked = acked;
	ok = true;
out:
	gm_buf_wipe(&text);
	gm_buf_release(&text);
	gm_buf_release(&num);
	return ok;
}

enum gm_rc gm_oci_resume_save(const struct gm_oci_resume *j, struct gm_err *err)
{
	struct gm_buf text = GM_BUF_INIT, tmp = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	int fd = -1;
	if (!j->path.len)
		return GM_OK;
	if (!location_ok(j->base, gm_buf_cstr(&j->location), j->location.len))
		return gm_err_set(err, GM_ERR_USAGE,
		                  "the upload of %s is not on '%s': not journalled", j->digest,
		                  j->base);
	gm_buf_addf(&text, "%sbase %s\nrepo %s\ndigest %s\nacked %llu\nlocation %s\n", MAGIC,
	            j->base, j->repo, j->digest, (unsigned long long)j->acked,
	            gm_buf_cstr(&j->location));
	gm_buf_addf(&tmp, "%s.tmp.XXXXXX", gm_buf_cstr(&j->path));
	fd = mkstemp(tmp.data); /* 0600 */
	if (fd < 0) {
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot write the upload journal '%s'",
		                  gm_buf_cstr(&j->path));
		goto out;
	}
	const char *p = text.data;
	size_t left = text.len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = gm_err_errno(err, GM_ERR_IO, errno,
			                  "cannot write the upload journal '%s'",
			                  gm_buf_cstr(&j->path));
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (rc == GM_OK && fsync(fd) < 0)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot flush the upload journal '%s'",
		                  gm_buf_cstr(&j->path));
	if (close(fd) < 0 && rc == GM_OK)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot write the upload journal '%s'",
		                  gm_buf_cstr(&j->path));
	if (rc == GM_OK && rename(tmp.data, gm_buf_cstr(&j->path)) < 0)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot rename into '%s'",
		                  gm_buf_cstr(&j->path));
	if (rc != GM_OK)
		unlink(tmp.data);
out:
	gm_buf_wipe(&text);
	gm_buf_release(&text);
	gm_buf_release(&tmp);
	return rc;
}

void gm_oci_resume_remove(const struct gm_oci_resume *j)
{
	if (j->path.len)
		unlink(gm_buf_cstr(&j->path));
}

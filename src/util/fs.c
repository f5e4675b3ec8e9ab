/* Small-file I/O for host readers and result files. */
#include "util/fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

enum gm_rc gm_fs_read(const char *path, size_t max, struct gm_buf *out, struct gm_err *err)
{
	gm_buf_reset(out);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gm_err_errno(err, errno == ENOENT ? GM_ERR_NOT_FOUND : GM_ERR_IO, errno,
		                    "cannot open '%s'", path);
	enum gm_rc rc = GM_OK;
	for (;;) {
		gm_buf_grow(out, 4096);
		size_t room = out->cap - out->len - 1;
		ssize_t n = read(fd, out->data + out->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > max) {
			rc = gm_err_set(err, GM_ERR_LIMIT, "'%s' is larger than %zu bytes", path,
			                max);
			break;
		}
	}
	close(fd);
	return rc;
}

enum gm_rc gm_fs_write_atomic(const char *path, const void *data, size_t len, struct gm_err *err)
{
	struct gm_buf tmp = GM_BUF_INIT;
	gm_buf_addf(&tmp, "%s.tmp.XXXXXX", path);
	enum gm_rc rc = GM_OK;
	int fd = mkstemp(tmp.data);
	if (fd < 0) {
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot create a file next to '%s'", path);
		goto out;
	}
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot write '%s'", path);
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (rc == GM_OK && fchmod(fd, 0644) != 0)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot set the mode of '%s'", path);
	if (rc == GM_OK && fsync(fd) != 0)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot flush '%s'", path);
	if (close(fd) != 0 && rc == GM_OK)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot write '%s'", path);
	if (rc == GM_OK && rename(tmp.data, path) != 0)
		rc = gm_err_errno(err, GM_ERR_IO, errno, "cannot rename into '%s'", path);
	if (rc != GM_OK)
		unlink(tmp.data);
out:
	gm_buf_release(&tmp);
	return rc;
}

static bool live_root(const struct gm_root *root)
{
	return !root || !root->dir || !root->dir[0] || strcmp(root->dir, "/") == 0;
}

enum gm_rc gm_fs_state_dir(const char *sub, struct gm_buf *out, struct gm_err *err)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	struct stat st;
	gm_buf_reset(out);
	if (xdg && xdg[0] == '/')
		gm_buf_adds(out, xdg);
	else
		gm_buf_addf(out, "%s/.local/state", home && home[0] ? home : "/tmp");
	gm_buf_addf(out, "/%s", sub);
	for (char *p = out->data + 1; *p; p++) { /* mkdir -p, 0700 */
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(out->data, 0700);
		*p = '/';
	}
	if (mkdir(out->data, 0700) < 0 && errno != EEXIST)
		return gm_err_errno(err, GM_ERR_IO, errno, "cannot make the state directory '%s'",
		                    out->data);
	if (lstat(out->data, &st) < 0)
		return gm_err_errno(err, GM_ERR_IO, errno, "cannot read '%s'", out->data);
	if (!S_ISDIR(st.st_mode))
		return gm_err_set(err, GM_ERR_IO, "'%s' is not a directory", out->data);
	if (st.st_uid != geteuid())
		return gm_err_set(err, GM_ERR_PERMISSION,
		                  "'%s' belongs to another user; set XDG_STATE_HOME to a directory "
		                  "of your own",
		                  out->data);
	if ((st.st_mode & 077) && chmod(out->data, 0700) < 0)
		return gm_err_errno(err, GM_ERR_IO, errno, "cannot make '%s' private", out->data);
	return GM_OK;
}

void gm_root_path(const struct gm_root *root, const char *path, struct gm_buf *out)
{
	gm_buf_reset(out);
	if (!live_root(root)) {
		gm_buf_adds(out, root->dir);
		while (out->len > 1 && out->data[out->len - 1] == '/')
			gm_buf_truncate(out, out->len - 1);
	}
	gm_buf_adds(out, path);
}

enum gm_rc gm_root_read(const struct gm_root *root, const char *path, struct gm_buf *out,
                        struct gm_err *err)
{
	struct gm_buf full = GM_BUF_INIT;
	gm_root_path(root, path, &full);
	enum gm_rc rc = gm_fs_read(full.data, 1 << 20, out, err);
	if (rc == GM_OK)
		gm_buf_rtrim(out);
	gm_buf_release(&full);
	return rc;
}

bool gm_root_exists(const struct gm_root *root, const char *path)
{
	struct gm_buf full = GM_BUF_INIT;
	struct stat st;
	gm_root_path(root, path, &full);
	bool yes = lstat(full.data, &st) == 0;
	gm_buf_release(&full);
	return yes;
}

enum gm_rc gm_root_readlink(const struct gm_root *root, const char *path, struct gm_buf *out,
                            struct gm_err *err)
{
	struct gm_buf full = GM_BUF_INIT;
	enum gm_rc rc = GM_OK;
	gm_root_path(root, path, &full);
	gm_buf_reset(out);
	gm_buf_grow(out, 4096);
	ssize_t n = readlink(full.data, out->data, 4096);
	if (n < 0) {
		rc = gm_err_errno(err, errno == ENOENT ? GM_ERR_NOT_FOUND : GM_ERR_IO, errno,
		                  "cannot read link '%s'", full.data);
		n = 0;
	}
	out->len = (size_t)n;
	out->data[out->len] = '\0';
	gm_buf_release(&full);
	return rc;
}

DIR *gm_root_opendir(const struct gm_root *root, const char *path)
{
	struct gm_buf full = GM_BUF_INIT;
	gm_root_path(root, path, &full);
	DIR *d = opendir(full.data);
	int saved = errno;
	gm_buf_release(&full);
	errno = saved;
	return d;
}

static bool only_space(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

enum gm_rc gm_parse_i64(const char *s, int base, int64_t *out)
{
	if (!s || only_space(s))
		return GM_ERR_PARSE;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, base);
	if (errno || !only_space(end))
		return GM_ERR_PARSE;
	*out = v;
	return GM_OK;
}

enum gm_rc gm_parse_u64(const char *s, int base, uint64_t *out)
{
	if (!s || only_space(s))
		return GM_ERR_PARSE;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '-')
		return GM_ERR_PARSE;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || !only_space(end))
		return GM_ERR_PARSE;
	*out = v;
	return GM_OK;
}

int gm_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int64_t gm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: eras of 400 years, March-based years */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The kubelet pod-resources client: one gRPC call (v1.PodResourcesLister/List) over HTTP/2
 * with prior knowledge on a unix socket through libnghttp2, the answer decoded from the
 * protobuf wire format with monitor/protobuf.h, and a thread that keeps the latest answer so
 * that the exporter's labels never wait on the kubelet. Message layout (kubelet's
 * pkg/apis/podresources/v1/api.proto):
 *   ListPodResourcesResponse { repeated PodResources pod_resources = 1; }
 *   PodResources { string name = 1; string namespace = 2; repeated ContainerResources
 *                  containers = 3; }
 *   ContainerResources { string name = 1; repeated ContainerDevices devices = 2; … }
 *   ContainerDevices { string resource_name = 1; repeated string device_ids = 2; … } */
#include "monitor/podres.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "monitor/protobuf.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define NVIDIA_PREFIX "nvidia.com/"

/* ---- decoding ------------------------------------------------------------------------------ */

void gm_podres_release(struct gm_podres *pr)
{
	if (!pr)
		return;
	for (size_t i = 0; i < pr->n; i++) {
		struct gm_podres_device *d = &pr->devs[i];
		free(d->device_id);
		free(d->resource);
		free(d->pod);
		free(d->ns);
		free(d->container);
	}
	GM_FREE(pr->devs);
	pr->n = 0;
	pr->cap = 0;
}

/* A string field: wire type LEN, at most GM_PODRES_MAX_STRING bytes, UTF-8 without control
 * characters (it becomes a label value). *out points into the message, not terminated. */
static enum gm_rc string_field(const struct gm_pb_field *f, const char *what, struct gm_err *err)
{
	if (f->wire != GM_PB_LEN)
		return gm_err_set(err, GM_ERR_PARSE, "pod-resources: %s is not a string", what);
	if (f->len > GM_PODRES_MAX_STRING)
		return gm_err_set(err, GM_ERR_LIMIT, "pod-resources: %s is longer than %u bytes",
		                  what, GM_PODRES_MAX_STRING);
	size_t bad = 0;
	if (!gm_utf8_valid((const char *)f->data, f->len, &bad))
		return gm_err_set(err, GM_ERR_PARSE, "pod-resources: %s is not UTF-8", what);
	for (size_t i = 0; i < f->len; i++)
		if (f->data[i] < 0x20 || f->data[i] == 0x7f)
			return gm_err_set(err, GM_ERR_PARSE,
			                  "pod-resources: %s holds a control character", what);
	return GM_OK;
}

static enum gm_rc sub_message(const struct gm_pb_field *f, const char *what, struct gm_err *err)
{
	if (f->wire != GM_PB_LEN)
		return gm_err_set(err, GM_ERR_PARSE, "pod-resources: %s is not a message", what);
	return GM_OK;
}

static char *dup_field(const struct gm_pb_field *f)
{
	return gm_xstrndup(f->len ? (const char *)f->data : "", f->len);
}

struct names {
	const struct gm_pb_field *pod, *ns, *container;
};

/* ContainerDevices: the NVIDIA device ids, added to out. */
static enum gm_rc decode_devices(struct gm_podres *out, const struct gm_pb_field *msg,
                                 const struct names *nm, struct gm_err *err)
{
	struct gm_pb_reader r;
	struct gm_pb_field f, resource = {0, GM_PB_LEN, 0, NULL, 0};
	enum gm_rc rc;
	bool have_resource = false;
	/* resource_name may follow the ids: find it first */
	gm_pb_reader_init(&r, msg->data, msg->len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK) {
		if (f.num == 1) {
			if ((rc = string_field(&f, "resource_name", err)) != GM_OK)
				return rc;
			resource = f;
			have_resource = true;
		}
	}
	if (rc != GM_ERR_NOT_FOUND)
		return rc;
	bool nvidia = have_resource && resource.len > strlen(NVIDIA_PREFIX) &&
	              memcmp(resource.data, NVIDIA_PREFIX, strlen(NVIDIA_PREFIX)) == 0;
	gm_pb_reader_init(&r, msg->data, msg->len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK) {
		if (f.num != 2)
			continue;
		if ((rc = string_field(&f, "device_ids", err)) != GM_OK)
			return rc;
		if (!nvidia || !f.len)
			continue;
		if (out->n >= GM_PODRES_MAX_DEVICES)
			return gm_err_set(err, GM_ERR_LIMIT,
			                  "pod-resources: more than %u devices in the answer",
			                  GM_PODRES_MAX_DEVICES);
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 8;
			out->devs = gm_xreallocarray(out->devs, out->cap, sizeof(*out->devs));
		}
		struct gm_podres_device *d = &out->devs[out->n++];
		d->device_id = dup_field(&f);
		d->resource = dup_field(&resource);
		d->pod = dup_field(nm->pod);
		d->ns = dup_field(nm->ns);
		d->container = dup_field(nm->container);
	}
	return rc == GM_ERR_NOT_FOUND ? GM_OK : rc;
}

static const struct gm_pb_field empty_string = {0, GM_PB_LEN, 0, NULL, 0};

/* ContainerResources. */
static enum gm_rc decode_container(struct gm_podres *out, const struct gm_pb_field *msg,
                                   const struct gm_pb_field *pod, const struct gm_pb_field *ns,
                                   struct gm_err *err)
{
	struct gm_pb_reader r;
	struct gm_pb_field f, name = empty_string;
	enum gm_rc rc;
	gm_pb_reader_init(&r, msg->data, msg->len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK) {
		if (f.num == 1) {
			if ((rc = string_field(&f, "container name", err)) != GM_OK)
				return rc;
			name = f;
		}
	}
	if (rc != GM_ERR_NOT_FOUND)
		return rc;
	struct names nm = {pod, ns, &name};
	gm_pb_reader_init(&r, msg->data, msg->len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK) {
		if (f.num != 2)
			continue;
		if ((rc = sub_message(&f, "devices", err)) != GM_OK)
			return rc;
		if ((rc = decode_devices(out, &f, &nm, err)) != GM_OK)
			return rc;
	}
	return rc == GM_ERR_NOT_FOUND ? GM_OK : rc;
}

/* PodResources. */
static enum gm_rc decode_pod(struct gm_podres *out, const struct gm_pb_field *msg,
                             struct gm_err *err)
{
	struct gm_pb_reader r;
	struct gm_pb_field f, name = empty_string, ns = empty_string;
	enum gm_rc rc;
	gm_pb_reader_init(&r, msg->data, msg->len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK) {
		if (f.num == 1 || f.num == 2) {
			if ((rc = string_field(&f, f.num == 1 ? "pod name" : "namespace", err)) !=
			    GM_OK)
				return rc;
			if (f.num == 1)
				name = f;
			else
				ns = f;
		} else if (f.num == 3) {
			if ((rc = sub_message(&f, "containers", err)) != GM_OK)
				return rc;
		}
	}
	if (rc != GM_ERR_NOT_FOUND)
		return rc;
	gm_pb_reader_init(&r, msg->data, msg->len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK)
		if (f.num == 3 && (rc = decode_container(out, &f, &name, &ns, err)) != GM_OK)
			return rc;
	return rc == GM_ERR_NOT_FOUND ? GM_OK : rc;
}

enum gm_rc gm_podres_decode(struct gm_podres *out, const uint8_t *msg, size_t len,
                            struct gm_err *err)
{
	struct gm_pb_reader r;
	struct gm_pb_field f;
	enum gm_rc rc;
	gm_pb_reader_init(&r, msg, len);
	while ((rc = gm_pb_next(&r, &f, err)) == GM_OK) {
		if (f.num != 1)
			continue;
		if ((rc = sub_message(&f, "pod_resources", err)) != GM_OK)
			break;
		if ((rc = decode_pod(out, &f, err)) != GM_OK)
			break;
	}
	if (rc == GM_ERR_NOT_FOUND)
		return GM_OK;
	gm_podres_release(out);
	return rc;
}

enum gm_rc gm_podres_decode_grpc(struct gm_podres *out, const uint8_t *body, size_t len,
                                 struct gm_err *err)
{
	if (len < 5)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "pod-resources: the gRPC answer is %zu bytes, shorter than a "
		                  "message header",
		                  len);
	if (body[0] != 0)
		return gm_err_set(
		        err, GM_ERR_PROTOCOL,
		        "pod-resources: the gRPC message is compressed (flag %u), which was "
		        "not asked for",
		        (unsigned)body[0]);
	size_t n = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 |
	           (size_t)body[4];
	if (n > len - 5)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "pod-resources: the gRPC message says %zu bytes but %zu came", n,
		                  len - 5);
	if (n < len - 5)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "pod-resources: %zu bytes after the gRPC message", len - 5 - n);
	return gm_podres_decode(out, body + 5, n, err);
}

/* "MIG-GPU-<uuid>/<gi>/<ci>" names its parent GPU. */
static bool mig_of(const char *id, const char *gpu_uuid)
{
	size_t n = strlen(gpu_uuid);
	return strncmp(id, "MIG-", 4) == 0 && strncmp(id + 4, gpu_uuid, n) == 0 && id[4 + n] == '/';
}

const struct gm_podres_device *gm_podres_find(const struct gm_podres *pr, const char *gpu_uuid)
{
	if (!pr || !gpu_uuid || !*gpu_uuid)
		return NULL;
	for (size_t i = 0; i < pr->n; i++)
		if (strcmp(pr->devs[i].device_id, gpu_uuid) == 0)
			return &pr->devs[i];
	for (size_t i = 0; i < pr->n; i++)
		if (mig_of(pr->devs[i].device_id, gpu_uuid))
			return &pr->devs[i];
	return NULL;
}

/* ---- the gRPC call ----------------------------------------------------------------------- */

struct call {
	struct gm_buf body; /* DATA of the response stream */
	bool too_big;
	bool closed;
	uint32_t close_code;
	int32_t stream;
	char status[4];        /* :status */
	char content_type[64]; /* first bytes of it */
	bool have_grpc_status;
	long grpc_status;
	struct gm_buf grpc_message;
	size_t sent; /* of the request's 5 bytes */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream, const uint8_t *data,
                   size_t len, void *user)
{
	struct call *c = user;
	(void)s;
	(void)flags;
	if (stream != c->stream)
		return 0;
	if (len > GM_PODRES_MAX_RESPONSE - c->body.len) {
		c->too_big = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	gm_buf_add(&c->body, data, len);
	return 0;
}

static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
	struct call *c = user;
	(void)s;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c->stream)
		return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
	if (IS(":status")) {
		copy_value(c->status, sizeof(c->status), value, valuelen);
	} else if (IS("content-type")) {
		copy_value(c->content_type, sizeof(c->content_type), value, valuelen);
	} else if (IS("grpc-status")) {
		long v = 0;
		bool ok = valuelen > 0 && valuelen <= 3;
		for (size_t i = 0; ok && i < valuelen; i++) {
			ok = value[i] >= '0' && value[i] <= '9';
			v = v * 10 + (value[i] - '0');
		}
		c->have_grpc_status = true;
		c->grpc_status = ok ? v : -1;
	} else if (IS("grpc-message")) {
		gm_buf_reset(&c->grpc_message);
		/* percent-encoded; kept as sent, control characters dropped, bounded */
		for (size_t i = 0; i < valuelen && i < 200; i++)
			if (value[i] >= 0x20 && value[i] < 0x7f)
				gm_buf_addch(&c->grpc_message, (char)value[i]);
	}
#undef IS
	return 0;
}

static int on_close(nghttp2_session *s, int32_t stream, uint32_t code, void *user)
{
	struct call *c = user;
	(void)s;
	if (stream == c->stream) {
		c->closed = true;
		c->close_code = code;
	}
	return 0;
}

/* The request message: an empty ListPodResourcesRequest in its 5-byte gRPC frame. */
static ssize_t read_request(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
	static const uint8_t frame[5] = {0, 0, 0, 0, 0};
	struct call *c = user;
	(void)s;
	(void)stream;
	(void)src;
	size_t n = sizeof(frame) - c->sent;
	if (n > len)
		n = len;
	memcpy(buf, frame + c->sent, n);
	c->sent += n;
	if (c->sent == sizeof(frame))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Waits for fd to be ready for events, the deadline or cancel_fd. */
static enum gm_rc wait_fd(int fd, short events, int cancel_fd, double deadline, const char *path,
                          struct gm_err *err)
{
	for (;;) {
		double left = deadline - now_ms();
		if (left <= 0)
			return gm_err_set(err, GM_ERR_UNREACHABLE,
			                  "pod-resources socket '%s' did not answer in time", path);
		struct pollfd p[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, (int)left + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gm_err_set(err, GM_ERR_IO, "poll: %s", strerror(errno));
		if (cancel_fd >= 0 && p[1].revents)
			return gm_err_set(err, GM_ERR_INTERRUPTED, "pod-resources call cancelled");
		if (n > 0 && p[0].revents)
			return GM_OK;
	}
}

static enum gm_rc flush_out(nghttp2_session *s, int fd, int cancel_fd, double deadline,
                            const char *path, struct gm_err *err)
{
	for (;;) {
		const uint8_t *data = NULL;
		ssize_t n = nghttp2_session_mem_send(s, &data);
		if (n < 0)
			return gm_err_set(err, GM_ERR_PROTOCOL, "pod-resources: HTTP/2: %s",
			                  nghttp2_strerror((int)n));
		if (n == 0)
			return GM_OK;
		size_t off = 0;
		while (off < (size_t)n) {
			ssize_t w = send(fd, data + off, (size_t)n - off, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				enum gm_rc rc =
				        wait_fd(fd, POLLOUT, cancel_fd, deadline, path, err);
				if (rc != GM_OK)
					return rc;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return gm_err_set(err, GM_ERR_UNREACHABLE,
				                  "pod-resources socket '%s': %s", path,
				                  strerror(errno));
			off += (size_t)w;
		}
	}
}

static enum gm_rc connect_unix(const char *path, int *out, struct gm_err *err)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return gm_err_set(err, GM_ERR_USAGE, "pod-resources socket path '%s' is too long",
		                  path);
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return gm_err_set(err, GM_ERR_IO, "socket: %s", strerror(errno));
	/* connect on a unix socket completes or fails at once (EAGAIN: backlog full) */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ENOTDIR)
			return gm_err_set(err, GM_ERR_NOT_FOUND, "no pod-resources socket at '%s'",
			                  path);
		if (e == EACCES || e == EPERM)
			return gm_err_set(err, GM_ERR_PERMISSION,
			                  "pod-resources socket '%s': %s (run as root or mount it "
			                  "readable)",
			                  path, strerror(e));
		return gm_err_set(err, GM_ERR_UNREACHABLE, "pod-resources socket '%s': %s", path,
		                  strerror(e));
	}
	*out = fd;
	return GM_OK;
}

/* The call's outcome, from what came back. */
static enum gm_rc finish(struct call *c, struct gm_podres *out, const char *path,
                         struct gm_err *err)
{
	if (c->close_code != NGHTTP2_NO_ERROR)
		return gm_err_set(err, GM_ERR_PROTOCOL, "pod-resources '%s': stream reset (%s)",
		                  path, nghttp2_http2_strerror(c->close_code));
	if (strcmp(c->status, "200") != 0)
		return gm_err_set(err, GM_ERR_PROTOCOL, "pod-resources '%s': HTTP status %s", path,
		                  c->status[0] ? c->status : "missing");
	if (!c->have_grpc_status)
		return gm_err_set(err, GM_ERR_PROTOCOL, "pod-resources '%s': no grpc-status", path);
	if (c->grpc_status != 0)
		return gm_err_set(err, GM_ERR_PROTOCOL, "pod-resources '%s': gRPC status %ld%s%s",
		                  path, c->grpc_status, c->grpc_message.len ? ": " : "",
		                  gm_buf_cstr(&c->grpc_message));
	if (strncmp(c->content_type, "application/grpc", 16) != 0)
		return gm_err_set(err, GM_ERR_PROTOCOL,
		                  "pod-resources '%s': content-type '%s', not application/grpc",
		                  path, c->content_type);
	struct gm_err derr = GM_ERR_INIT;
	enum gm_rc rc =
	        gm_podres_decode_grpc(out, (const uint8_t *)c->body.data, c->body.len, &derr);
	if (rc != GM_OK)
		gm_err_set(err, rc, "pod-resources '%s': %s", path, gm_err_msg(&derr));
	gm_err_release(&derr);
	return rc;
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE \
	}

enum gm_rc gm_podres_list(const char *path, unsigned timeout_ms, int cancel_fd,
                          struct gm_podres *out, struct gm_err *err)
{
	struct call c;
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_session *s = NULL;
	int fd = -1;
	enum gm_rc rc;
	double deadline = now_ms() + timeout_ms;
	memset(&c, 0, sizeof(c));
	gm_buf_init(&c.body);
	gm_buf_init(&c.grpc_message);
	c.stream = -1;

	rc = connect_unix(path, &fd, err);
	if (rc != GM_OK)
		goto out;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		gm_xalloc_fail();
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	if (nghttp2_session_client_new(&s, cbs, &c) != 0)
		gm_xalloc_fail();
	nghttp2_settings_entry settings[] = {
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
	};
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings,
	                        sizeof(settings) / sizeof(settings[0]));
	const nghttp2_nv hdrs[] = {
	        NV(":method", "POST"),
	        NV(":scheme", "http"),
	        NV(":authority", "localhost"),
	        NV(":path", "/v1.PodResourcesLister/List"),
	        NV("content-type", "application/grpc"),
	        NV("te", "trailers"),
	        NV("user-agent", "gpumigrate-exporter"),
	};
	nghttp2_data_provider prd;
	prd.source.ptr = NULL;
	prd.read_callback = read_request;
	c.stream =
	        nghttp2_submit_request(s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &prd, NULL);
	if (c.stream < 0) {
		rc = gm_err_set(err, GM_ERR_PROTOCOL, "pod-resources: HTTP/2 request: %s",
		                nghttp2_strerror(c.stream));
		goto out;
	}
	while (!c.closed) {
		rc = flush_out(s, fd, cancel_fd, deadline, path, err);
		if (rc != GM_OK)
			goto out;
		if (c.closed)
			break;
		rc = wait_fd(fd, POLLIN, cancel_fd, deadline, path, err);
		if (rc != GM_OK)
			goto out;
		uint8_t buf[16384];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			rc = gm_err_set(err, GM_ERR_UNREACHABLE, "pod-resources socket '%s': %s",
			                path, strerror(errno));
			goto out;
		}
		if (n == 0) {
			rc = gm_err_set(err, GM_ERR_PROTOCOL,
			                "pod-resources '%s' closed the connection before answering",
			                path);
			goto out;
		}
		ssize_t used = nghttp2_session_mem_recv(s, buf, (size_t)n);
		if (used < 0) {
			if (c.too_big)
				rc = gm_err_set(err, GM_ERR_LIMIT,
				                "pod-resources '%s': answer larger than %u bytes",
				                path, GM_PODRES_MAX_RESPONSE);
			else
				rc = gm_err_set(err, GM_ERR_PROTOCOL,
				                "pod-resources '%s': HTTP/2: %s", path,
				                nghttp2_strerror((int)used));
			goto out;
		}
	}
	rc = finish(&c, out, path, err);
out:
	nghttp2_session_del(s);
	nghttp2_session_callbacks_del(cbs);
	if (fd >= 0)
		close(fd);
	gm_buf_release(&c.body);
	gm_buf_release(&c.grpc_message);
	return rc;
}

/* ---- the cache --------------------------------------------------------------------------- */

/* How long one call may take. */
#define CALL_TIMEOUT_MS 2000

enum watch_state { WS_UNKNOWN, WS_OK, WS_MISSING, WS_FAILED };

struct gm_podres_watch {
	char *path;
	unsigned interval_ms;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock; /* cache, polls */
	struct gm_podres cache;
	unsigned long polls;
	enum watch_state state; /* thread only */
};

static void set_cache(struct gm_podres_watch *w, struct gm_podres *fresh)
{
	struct gm_podres old;
	pthread_mutex_lock(&w->lock);
	old = w->cache;
	w->cache = *fresh;
	w->polls++;
	pthread_mutex_unlock(&w->lock);
	memset(fresh, 0, sizeof(*fresh));
	gm_podres_release(&old);
}

static void poll_once(struct gm_podres_watch *w)
{
	struct gm_podres fresh = {NULL, 0, 0};
	struct gm_err err = GM_ERR_INIT;
	enum gm_rc rc = gm_podres_list(w->path, CALL_TIMEOUT_MS, w->stop_pipe[0], &fresh, &err);
	if (rc == GM_ERR_INTERRUPTED)
		goto out;
	if (rc == GM_OK) {
		if (w->state != WS_OK)
			gm_info("pod labels from '%s': %zu NVIDIA device%s assigned", w->path,
			        fresh.n, fresh.n == 1 ? "" : "s");
		w->state = WS_OK;
	} else if (rc == GM_ERR_NOT_FOUND) {
		if (w->state != WS_MISSING)
			gm_info("no kubelet pod-resources socket at '%s': serving without pod "
			        "labels (looked for again every %u ms)",
			        w->path, w->interval_ms);
		w->state = WS_MISSING;
	} else {
		if (w->state != WS_FAILED)
			gm_warn("%s; serving without pod labels until the kubelet answers",
			        gm_err_msg(&err));
		w->state = WS_FAILED;
	}
	set_cache(w, &fresh);
out:
	gm_podres_release(&fresh);
	gm_err_release(&err);
}

static void *watch_main(void *arg)
{
	struct gm_podres_watch *w = arg;
	for (;;) {
		poll_once(w);
		struct pollfd p = {w->stop_pipe[0], POLLIN, 0};
		int n = poll(&p, 1, (int)w->interval_ms);
		if (n > 0)
			break;
	}
	return NULL;
}

enum gm_rc gm_podres_watch_start(struct gm_podres_watch **out, const char *path,
                                 unsigned interval_ms, struct gm_err *err)
{
	struct gm_podres_watch *w = gm_xcalloc(1, sizeof(*w));
	*out = NULL;
	w->path = gm_xstrdup(path);
	w->interval_ms = interval_ms == 0 ? 5000 : interval_ms < 100 ? 100 : interval_ms;
	if (pipe2(w->stop_pipe, O_CLOEXEC) != 0) {
		enum gm_rc rc = gm_err_set(err, GM_ERR_IO, "pipe: %s", strerror(errno));
		free(w->path);
		free(w);
		return rc;
	}
	pthread_mutex_init(&w->lock, NULL);
	int rc = pthread_create(&w->thread, NULL, watch_main, w);
	if (rc != 0) {
		close(w->stop_pipe[0]);
		close(w->stop_pipe[1]);
		pthread_mutex_destroy(&w->lock);
		free(w->path);
		free(w);
		return gm_err_set(err, GM_ERR_INTERNAL, "cannot start the pod-resources thread: %s",
		                  strerror(rc));
	}
	*out = w;
	return GM_OK;
}

void gm_podres_watch_stop(struct gm_podres_watch *w)
{
	if (!w)
		return;
	ssize_t n;
	do
		n = write(w->stop_pipe[1], "x", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(w->thread, NULL);
	close(w->stop_pipe[0]);
	close(w->stop_pipe[1]);
	pthread_mutex_destroy(&w->lock);
	gm_podres_release(&w->cache);
	free(w->path);
	free(w);
}

bool gm_podres_watch_lookup(struct gm_podres_watch *w, const char *gpu_uuid, char **pod, char **ns,
                            char **container)
{
	*pod = *ns = *container = NULL;
	if (!w)
		return false;
	pthread_mutex_lock(&w->lock);
	const struct gm_podres_device *d = gm_podres_find(&w->cache, gpu_uuid);
	if (d) {
		*pod = gm_xstrdup(d->pod);
		*ns = gm_xstrdup(d->ns);
		*container = gm_xstrdup(d->container);
	}
	pthread_mutex_unlock(&w->lock);
	return d != NULL;
}

unsigned long gm_podres_watch_polls(struct gm_podres_watch *w)
{
	pthread_mutex_lock(&w->lock);
	unsigned long n = w->polls;
	pthread_mutex_unlock(&w->lock);
	return n;
}

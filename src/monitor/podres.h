/* Kubernetes pod attribution for the exporter: which pod, namespace and container each GPU
 * is assigned to, as the kubelet's pod-resources API tells it (gRPC
 * v1.PodResourcesLister/List on a unix socket, the same source dcgm-exporter uses). The
 * client speaks HTTP/2 with prior knowledge through libnghttp2 and decodes the answer with
 * monitor/protobuf.h; a watcher thread polls it every few seconds and caches the result so
 * that neither a sample nor a scrape ever waits on the kubelet. */
#ifndef GM_PODRES_H
#define GM_PODRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Where the kubelet serves the API. */
#define GM_PODRES_DEFAULT_SOCKET "/var/lib/kubelet/pod-resources/kubelet.sock"
/* Caps on what a kubelet may send: the whole response body (the kubelet's own default gRPC
 * message limit), one string, and the devices kept. */
#define GM_PODRES_MAX_RESPONSE (16u << 20)
#define GM_PODRES_MAX_STRING   1024u
#define GM_PODRES_MAX_DEVICES  65536u

/* One NVIDIA device (resource name "nvidia.com/…") assigned to a container. */
struct gm_podres_device {
	char *device_id; /* "GPU-<uuid>" for nvidia.com/gpu; MIG ids for MIG resources */
	char *resource;  /* "nvidia.com/gpu", "nvidia.com/mig-1g.10gb" … */
	char *pod, *ns, *container;
};

/* The devices of one List answer, in the order the kubelet gave them. */
struct gm_podres {
	struct gm_podres_device *devs;
	size_t n;
	size_t cap; /* allocated entries of devs */
};

/* Frees the contents; pr is empty after and may be reused. Accepts NULL. */
void gm_podres_release(struct gm_podres *pr);

/* Decodes a ListPodResourcesResponse message (protobuf bytes, no gRPC framing) into out
 * (which must be empty), keeping the devices whose resource name starts with "nvidia.com/".
 * Unknown fields are skipped. GM_ERR_PARSE for malformed protobuf, a known field with the
 * wrong wire type, or a string that is not UTF-8 or holds control characters; GM_ERR_LIMIT
 * for a string over GM_PODRES_MAX_STRING or more than GM_PODRES_MAX_DEVICES devices. On
 * failure out is left empty. */
enum gm_rc gm_podres_decode(struct gm_podres *out, const uint8_t *msg, size_t len,
                            struct gm_err *err);

/* Decodes a gRPC response body: exactly one length-prefixed message (flag byte 0, 4-byte
 * big-endian length) holding a ListPodResourcesResponse. GM_ERR_PROTOCOL for a compressed
 * message, a truncated frame, trailing bytes or more than one message. */
enum gm_rc gm_podres_decode_grpc(struct gm_podres *out, const uint8_t *body, size_t len,
                                 struct gm_err *err);

/* The device assigned under gpu_uuid: a device id equal to it, or a MIG id of the form
 * "MIG-<gpu_uuid>/<gi>/<ci>" (older device plugins), which names its parent GPU. NULL when
 * the GPU is not assigned. */
const struct gm_podres_device *gm_podres_find(const struct gm_podres *pr, const char *gpu_uuid);

/* Calls v1.PodResourcesLister/List on the unix socket at path and decodes the answer into out
 * (empty). Gives up after timeout_ms, or as soon as cancel_fd (-1: none) becomes readable
 * (GM_ERR_INTERRUPTED). GM_ERR_NOT_FOUND when the socket is not there, GM_ERR_UNREACHABLE
 * when nobody listens, GM_ERR_PROTOCOL for HTTP/2 or gRPC trouble (a grpc-status other
 * than 0 included, with its grpc-message), GM_ERR_LIMIT for an answer over
 * GM_PODRES_MAX_RESPONSE. */
enum gm_rc gm_podres_list(const char *path, unsigned timeout_ms, int cancel_fd,
                          struct gm_podres *out, struct gm_err *err);

/* The cache: a thread that calls gm_podres_list every interval. */
struct gm_podres_watch;

/* Starts polling path every interval_ms (0: 5 s; at least 100 ms); the first call is made at
 * once in the thread. A missing socket and a failing kubelet are logged once each (again
 * only after the state changed) and leave the cache empty: no labels rather than stale ones.
 * Fails only when the thread cannot start. */
enum gm_rc gm_podres_watch_start(struct gm_podres_watch **out, const char *path,
                                 unsigned interval_ms, struct gm_err *err);
/* Stops the thread (at once, even mid-call) and frees everything. Accepts NULL. */
void gm_podres_watch_stop(struct gm_podres_watch *w);

/* The labels of the container that holds the GPU gpu_uuid in the latest answer, as fresh
 * strings the caller frees; false (and the three left NULL) when it is not assigned or
 * nothing is known. Never waits on the kubelet. */
bool gm_podres_watch_lookup(struct gm_podres_watch *w, const char *gpu_uuid, char **pod, char **ns,
                            char **container);

/* Answers the watcher has taken so far (successful or not); for tests. */
unsigned long gm_podres_watch_polls(struct gm_podres_watch *w);

#endif

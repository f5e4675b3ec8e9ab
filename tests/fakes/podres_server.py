#!/usr/bin/python3
"""A fake kubelet pod-resources API for the exporter's tests: a real gRPC server (Debian's
python3-grpcio) on a unix socket serving v1.PodResourcesLister/List. There is no protoc
here, so the service is a generic handler over raw bytes and the ListPodResourcesResponse
is encoded by hand from the protobuf encoding spec (tags, varints, length-delimited fields),
following the kubelet's pkg/apis/podresources/v1/api.proto:

  ListPodResourcesResponse { repeated PodResources pod_resources = 1; }
  PodResources { string name = 1; string namespace = 2; repeated ContainerResources containers = 3; }
  ContainerResources { string name = 1; repeated ContainerDevices devices = 2;
                       repeated int64 cpu_ids = 3; repeated ContainerMemory memory = 4; }
  ContainerDevices { string resource_name = 1; repeated string device_ids = 2;
                     TopologyInfo topology = 3; }
  TopologyInfo { repeated NUMANode nodes = 1; }  NUMANode { int64 ID = 1; }

Usage: podres_server.py SOCKET CONFIG.json
CONFIG: {"pods": [{"name", "namespace", "containers": [{"name", "devices":
[{"resource", "ids": [...]}]}]}], "fail": null | "unavailable" | "garbage"}.
The config is read again on every call, so a test can change the answer while it runs.
Each call appends a line to SOCKET.calls. Prints "ready" once it listens; stops on SIGTERM."""
import json
import signal
import sys
import threading
from concurrent import futures

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(num, wire):
    return varint(num << 3 | wire)


def ld(num, payload):
    """A length-delimited field (wire type 2)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(num, 2) + varint(len(payload)) + payload


def vint(num, n):
    return tag(num, 0) + varint(n)


def encode(cfg):
    out = b""
    for pod in cfg.get("pods", []):
        body = b""
        # the fields in an order other than their numbers, as the spec allows
        for c in pod.get("containers", []):
            cb = ld(1, c["name"])
            for d in c.get("devices", []):
                db = b"".join(ld(2, i) for i in d["ids"])
                db += ld(1, d["resource"])
                db += ld(3, ld(1, vint(1, 0)))  # topology: NUMA node 0
                cb += ld(2, db)
            cb += vint(3, 4) + vint(3, 5)  # cpu_ids, unpacked
            cb += ld(3, varint(6) + varint(7))  # cpu_ids, packed
            cb += ld(4, ld(1, "memory") + vint(2, 1 << 30))  # ContainerMemory
            body += ld(3, cb)
        body = ld(2, pod["namespace"]) + body + ld(1, pod["name"])
        # an unknown field of each wire type, as a newer kubelet might send
        body += vint(90, 300) + tag(91, 1) + b"\x01" * 8 + tag(92, 5) + b"\x02" * 4
        body += ld(93, "future")
        out += ld(1, body)
    return out


def main():
    path, cfg_path = sys.argv[1], sys.argv[2]
    lock = threading.Lock()

    def list_pods(request, context):
        with open(cfg_path) as f:
            cfg = json.load(f)
        with lock, open(path + ".calls", "a") as f:
            f.write(f"{len(request)}\n")
        if request:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected an empty request")
        if cfg.get("fail") == "unavailable":
            context.abort(grpc.StatusCode.UNAVAILABLE, "kubelet is restarting")
        if cfg.get("fail") == "garbage":
            return b"\x0a\xff\xff\xff\xff\x0f"  # a length far past the end
        return encode(cfg)

    handler = grpc.method_handlers_generic_handler("v1.PodResourcesLister", {
        "List": grpc.unary_unary_rpc_method_handler(list_pods),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("unix:" + path)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    server.stop(0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The OCI image `make oci` writes survives a registry round trip unchanged.

Starts a registry (Debian's `docker-registry`, the CNCF distribution server) on 127.0.0.1,
pushes the layout with `skopeo`, then checks what the registry serves and what pulls back:
the manifest digest is the layout's, the media types are the Wasm image's, the single layer
is the module byte for byte. Exits non-zero, saying what differed, otherwise.

Usage: test-oci-registry.py LAYOUT_DIR VERSION WASM
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm"
CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
# How long the registry may take to answer /v2/: bounds a hang, it is not an assertion.
READY_TIMEOUT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check(condition, message):
    if not condition:
        sys.exit("oci registry test: " + message)


def skopeo(*args):
    return subprocess.run(["skopeo", *args], check=True, capture_output=True).stdout


def wait_ready(port, registry):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        check(registry.poll() is None, "docker-registry exited at start")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit("oci registry test: the registry did not answer /v2/")


def main():
    layout, version, wasm_path = sys.argv[1:4]
    with open(wasm_path, "rb") as f:
        module = f.read()
    with open(os.path.join(layout, "digest")) as f:
        digest = f.read().strip()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = os.path.join(tmp, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {tmp}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n")
        registry = subprocess.Popen(["docker-registry", "serve", config],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, registry)
            remote = f"docker://127.0.0.1:{port}/claimcheck:{version}"
            skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:{version}", remote)

            raw = skopeo("inspect", "--tls-verify=false", "--raw", remote)
            check(sha256(raw) == digest,
                  f"the registry serves manifest {sha256(raw)}, the layout has {digest}")
            manifest = json.loads(raw)
            check(manifest.get("mediaType") == MANIFEST_MEDIA_TYPE,
                  f"manifest media type {manifest.get('mediaType')}")
            check(manifest["config"]["mediaType"] == CONFIG_MEDIA_TYPE,
                  f"config media type {manifest['config']['mediaType']}")
            layers = manifest["layers"]
            check(len(layers) == 1, f"{len(layers)} layers")
            check(layers[0]["mediaType"] == LAYER_MEDIA_TYPE,
                  f"layer media type {layers[0]['mediaType']}")
            check(layers[0]["digest"] == sha256(module), "the layer is not the module")

            url = f"http://127.0.0.1:{port}/v2/claimcheck/blobs/{layers[0]['digest']}"
            with urllib.request.urlopen(url, timeout=10) as r:
                check(r.read() == module, "the registry's layer blob differs from the module")

            pulled = os.path.join(tmp, "pulled")
            skopeo("copy", "--src-tls-verify=false", remote, f"oci:{pulled}:{version}")
            with open(os.path.join(pulled, "index.json")) as f:
                index = json.load(f)
            check(index["manifests"][0]["digest"] == digest,
                  f"pulled back {index['manifests'][0]['digest']}, pushed {digest}")
            blob = os.path.join(pulled, "blobs", "sha256", layers[0]["digest"].split(":")[1])
            with open(blob, "rb") as f:
                check(f.read() == module, "the pulled layer differs from the module")
        finally:
            registry.terminate()
            registry.wait(timeout=10)
    print(f"oci registry test: pushed and pulled {digest} through 127.0.0.1:{port}: "
          f"one {LAYER_MEDIA_TYPE} layer, {len(module)} bytes, digests match")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes claimcheck.wasm as a Wasm OCI image, in an OCI image layout, without a container engine.

The image has the shape Istio's agent and other Wasm-aware pullers accept (the "OCI spec
compliant" variant of the Wasm image format): one layer, the module itself, media type
`application/vnd.module.wasm.content.layer.v1+wasm`, and a config of media type
`application/vnd.module.wasm.config.v1+json`. Every file is written with sorted keys and no
timestamps, so the same module always gives the same digest.

Usage: oci-image.py WASM VERSION OUT_DIR
  OUT_DIR becomes an OCI image layout (oci-layout, index.json, blobs/sha256/...) tagged
  VERSION; the manifest digest (`sha256:...`) is printed and written to OUT_DIR/digest.
Push it with: skopeo copy oci:OUT_DIR:VERSION docker://REGISTRY/claimcheck:VERSION
"""

import hashlib
import json
import os
import shutil
import sys

LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm"
CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def descriptor(media_type, digest, data, annotations=None):
    d = {"mediaType": media_type, "digest": digest, "size": len(data)}
    if annotations:
        d["annotations"] = annotations
    return d


def build(wasm_path, version, layout):
    with open(wasm_path, "rb") as f:
        module = f.read()
    if module[:4] != b"\0asm":
        sys.exit(f"{wasm_path} is not a WebAssembly module")
    if os.path.exists(layout):
        shutil.rmtree(layout)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))

    layer_digest = write_blob(layout, module)
    config = canonical({"type": "envoy_proxy", "abiVersions": ["proxy_abi_version_0_2_1"]})
    config_digest = write_blob(layout, config)
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config_digest, config),
        "layers": [descriptor(LAYER_MEDIA_TYPE, layer_digest, module,
                              {"org.opencontainers.image.title": "claimcheck.wasm"})],
        "annotations": {
            "org.opencontainers.image.title": "claimcheck",
            "org.opencontainers.image.version": version,
        },
    })
    manifest_digest = write_blob(layout, manifest)
    index = canonical({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor(MANIFEST_MEDIA_TYPE, manifest_digest, manifest,
                                 {"org.opencontainers.image.ref.name": version})],
    })
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(index)
    with open(os.path.join(layout, "oci-layout"), "wb") as f:
        f.write(canonical({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(layout, "digest"), "w") as f:
        f.write(manifest_digest + "\n")
    return manifest_digest


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(build(sys.argv[1], sys.argv[2], sys.argv[3]))


if __name__ == "__main__":
    main()

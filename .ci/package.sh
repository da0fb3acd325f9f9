#!/usr/bin/env bash
# Package checks: builds the multi-platform Crossplane package with
# `cargo xtask package` and verifies it with the tools its users have.
#
# - skopeo reads the OCI layout and the .xpkg files: both platforms, the
#   io.crossplane.xpkg=base layer annotation and the matching config label;
# - umoci unpacks each platform's image. The arm64 binary, run under
#   qemu-aarch64-static, returns the same RunFunction response bytes as the
#   amd64 binary;
# - skopeo copies the index to a docker-registry on 127.0.0.1, which keeps
#   the index byte for byte and the layer annotation;
# - a second packager run gives byte-identical output;
# - .ci/configuration.sh checks the Configuration packages of catalog/ with
#   skopeo and the same registry, and `cargo xtask configuration` writes the
#   same bytes as `cargo xtask package`.
#
# Runs as root on Debian 12 (bookworm) on amd64 and installs its Debian
# packages. Every server it starts listens on 127.0.0.1 only and is stopped
# on exit. Needs the Python SDK venv that .ci/run sets up (PEER_PYTHON).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=.ci/lib.sh
source .ci/lib.sh

# Loopback traffic must not go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

PEER_PYTHON="${PEER_PYTHON:-$PWD/target/peer-venv/bin/python}"
[[ -x "$PEER_PYTHON" ]] || fail "PEER_PYTHON=$PEER_PYTHON is missing: run .ci/run, which sets up the Python SDK venv"

# The cross toolchain: Debian's rustc-web with its arm64 standard library of
# the same version, and the GNU cross linker with a static arm64 glibc.
CROSS_PACKAGES=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
CHECK_PACKAGES=(skopeo umoci qemu-user-static docker-registry jq python3-yaml)

section "Package: Debian packages"
is_installed() {
    [[ "$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}
missing_packages=()
for package in "${CROSS_PACKAGES[@]}"; do
    # rustc-web and its standard library must be of one version, so when one
    # is missing, install all of them at apt's candidate version.
    if ! is_installed "$package"; then
        missing_packages+=("${CROSS_PACKAGES[@]}")
        break
    fi
done
for package in "${CHECK_PACKAGES[@]}"; do
    if ! is_installed "$package"; then
        missing_packages+=("$package")
    fi
done
if ((${#missing_packages[@]})); then
    [[ "$(id -u)" == 0 ]] || fail "run as root to install ${missing_packages[*]}"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    # docker-registry's package would start a registry on every interface;
    # a policy-rc.d that denies every start keeps it stopped.
    added_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=yes
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_packages[@]}"
    if [[ -n "$added_policy" ]]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi
dpkg-query -W "${CROSS_PACKAGES[@]}" "${CHECK_PACKAGES[@]}"

section "Package: xtask lints and tests"
cargo clippy --locked --package xtask --all-targets -- -D warnings
cargo test --locked --package xtask


section "Package: cargo xtask package"
started=$SECONDS
cargo xtask package
echo "cargo xtask package took $((SECONDS - started)) s"

TAG="v$(cargo metadata --no-deps --format-version 1 |
    jq -r '.packages[] | select(.name == "function-gitlab-runner-fleet") | .version')"
LAYOUT="oci:target/xpkg/oci:$TAG"
INDEX_DIGEST="$(jq -r '.manifests[0].digest' target/xpkg/oci/index.json)"

section "Package: reproducibility"
cp -a target/xpkg "$WORK/first-run"
# Another umask and time zone must not change a byte.
(umask 077 && TZ=Pacific/Kiritimati cargo xtask package >/dev/null)
diff -r "$WORK/first-run" target/xpkg || fail "two packager runs wrote different files"
echo "two runs wrote byte-identical files"

section "Package: skopeo inspect"
skopeo inspect --raw "$LAYOUT" | tee "$WORK/index.json" | jq .
jq -e '[.manifests[].platform | "\(.os)/\(.architecture)"] == ["linux/amd64", "linux/arm64"]' \
    "$WORK/index.json" >/dev/null || fail "the index does not list linux/amd64 and linux/arm64"

for arch in amd64 arm64; do
    # Copy the platform's image out of the index: skopeo 1.9 shows layer
    # annotations only in a raw manifest, and umoci unpacks only a manifest.
    skopeo --insecure-policy copy --quiet --override-os linux --override-arch "$arch" \
        "$LAYOUT" "oci:$WORK/$arch:$TAG"
    digest="$(jq -r --arg arch "$arch" '.manifests[] | select(.platform.architecture == $arch) | .digest' "$WORK/index.json")"
    jq -e --arg digest "$digest" '.manifests[0].digest == $digest' "$WORK/$arch/index.json" >/dev/null ||
        fail "skopeo changed the $arch manifest while copying it"

    skopeo inspect --raw "oci:$WORK/$arch:$TAG" > "$WORK/manifest.json"
    jq -e '.layers[-1].annotations["io.crossplane.xpkg"] == "base"' "$WORK/manifest.json" >/dev/null ||
        fail "$arch manifest $digest: the last layer lacks the annotation io.crossplane.xpkg=base"

    skopeo inspect "oci:$WORK/$arch:$TAG" > "$WORK/layout.json"
    jq -e --arg arch "$arch" '.Architecture == $arch and .Os == "linux"' "$WORK/layout.json" >/dev/null ||
        fail "the $arch image of the layout has another platform"
    jq -e '.Labels["io.crossplane.xpkg:" + .Layers[-1]] == "base"' "$WORK/layout.json" >/dev/null ||
        fail "the $arch image lacks the label io.crossplane.xpkg:<last layer digest>=base"

    # A docker-archive lists layers by diff ID (the uncompressed digest), but
    # the label names the compressed digest, as in the layout.
    skopeo inspect "docker-archive:target/xpkg/$arch.xpkg" > "$WORK/xpkg.json"
    skopeo inspect --config "oci:$WORK/$arch:$TAG" > "$WORK/config.json"
    jq -e --slurpfile config "$WORK/config.json" --slurpfile layout "$WORK/layout.json" \
        '.Layers == $config[0].rootfs.diff_ids and .Labels == $layout[0].Labels and .Architecture == $layout[0].Architecture' \
        "$WORK/xpkg.json" >/dev/null ||
        fail "target/xpkg/$arch.xpkg holds another image than the $arch image of the layout"
    echo "$arch manifest $digest: last layer $(jq -r '.Layers[-1]' "$WORK/layout.json")"
    echo "  annotated io.crossplane.xpkg=base, and labelled so; $arch.xpkg holds the same image"
done

# The request both binaries answer: the example fleet, the input of its
# Composition's step and the NodePool that the function's "nodepool"
# requirement fetches, so they compose both Releases and the NodePool patch.
python3 - "$WORK/request.json" <<'PYTHON'
import json
import sys

import yaml


def load(path):
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


composition = load("examples/composition.yaml")
step = next(
    step
    for step in composition["spec"]["pipeline"]
    if step["functionRef"]["name"] == "function-gitlab-runner-fleet"
)
request = {
    "meta": {"tag": "package-check"},
    "observed": {"composite": {"resource": load("examples/xr.yaml")}},
    "input": step["input"],
    "requiredResources": {"nodepool": {"items": [{"resource": load("examples/required.yaml")}]}},
}
with open(sys.argv[1], "w", encoding="utf-8") as file:
    json.dump(request, file)
PYTHON

# Checks the protocol contract with the Python SDK peer, then sends the
# example request and writes the response's bytes.
call_function() {
    local port="$1" output="$2"
    "$PEER_PYTHON" tests/peer/call_function.py --address "127.0.0.1:$port"
    "$PEER_PYTHON" - "127.0.0.1:$port" "$WORK/request.json" "$output" <<'PYTHON'
import sys

import grpc
from google.protobuf import json_format

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

address, request_path, output = sys.argv[1:]
with open(request_path, encoding="utf-8") as file:
    request = json_format.Parse(file.read(), fnv1.RunFunctionRequest())
with grpc.insecure_channel(address) as channel:
    response = grpcv1.FunctionRunnerServiceStub(channel).RunFunction(request, timeout=30)

fatal = [result.message for result in response.results if result.severity == fnv1.SEVERITY_FATAL]
resources = sorted(response.desired.resources)
print(f"example fleet: desired resources {resources}")
if fatal or len(resources) < 3:
    sys.exit(f"expected two Releases and the NodePool patch without a fatal result, got fatal results {fatal}")
with open(output, "wb") as file:
    file.write(response.SerializeToString(deterministic=True))
PYTHON
}

section "Package: umoci unpack and RunFunction on both binaries"
for arch in amd64 arm64; do
    umoci unpack --rootless --image "$WORK/$arch:$TAG" "$WORK/bundle-$arch" >/dev/null
    binary="$WORK/bundle-$arch/rootfs/usr/local/bin/function-gitlab-runner-fleet"
    [[ -x "$binary" ]] || fail "the $arch image has no executable $binary"

    runner=()
    if [[ "$arch" == arm64 ]]; then
        runner=(qemu-aarch64-static)
    fi
    grpc_port="$(free_port)"
    metrics_port="$(free_port)"
    "${runner[@]}" "$binary" --insecure --address "127.0.0.1:$grpc_port" \
        --metrics-address "127.0.0.1:$metrics_port" 2> "$WORK/server-$arch.log" &
    PIDS+=("$!")
    wait_for_port "$grpc_port" "the $arch binary"
    echo "$arch binary ${runner[*]:+under ${runner[*]} }serves on 127.0.0.1:$grpc_port"
    call_function "$grpc_port" "$WORK/response-$arch.bin"
done
cmp "$WORK/response-amd64.bin" "$WORK/response-arm64.bin" ||
    fail "the arm64 binary answered differently from the amd64 binary"
echo "the arm64 binary under QEMU answered with the same $(stat -c %s "$WORK/response-arm64.bin") bytes as the amd64 binary"

section "Package: skopeo copy --all to docker-registry on 127.0.0.1"
start_registry

REMOTE="docker://$REGISTRY/function-gitlab-runner-fleet"
skopeo --insecure-policy copy --all --quiet --dest-tls-verify=false "$LAYOUT" "$REMOTE:$TAG"
skopeo inspect --tls-verify=false --raw "$REMOTE:$TAG" > "$WORK/remote-index.json"
cmp "$WORK/remote-index.json" "target/xpkg/oci/blobs/sha256/${INDEX_DIGEST#sha256:}" ||
    fail "the registry's index differs from the layout's"
echo "the registry serves the index $INDEX_DIGEST unchanged"
for arch in amd64 arm64; do
    digest="$(jq -r --arg arch "$arch" '.manifests[] | select(.platform.architecture == $arch) | .digest' "$WORK/remote-index.json")"
    skopeo inspect --tls-verify=false --raw "$REMOTE@$digest" |
        jq -e '.layers[-1].annotations["io.crossplane.xpkg"] == "base"' >/dev/null ||
        fail "$REMOTE@$digest: the last layer lacks the annotation io.crossplane.xpkg=base"
    echo "$arch manifest $digest keeps the layer annotation io.crossplane.xpkg=base"
done

section "Package: Configuration packages"
CONFIGURATION_FILES=(configuration.xpkg configuration-namespaced.xpkg)
mkdir "$WORK/configuration-from-package"
for file in "${CONFIGURATION_FILES[@]}"; do
    cp "target/xpkg/$file" "$WORK/configuration-from-package/"
done
REGISTRY="$REGISTRY" bash .ci/configuration.sh
for file in "${CONFIGURATION_FILES[@]}"; do
    cmp "$WORK/configuration-from-package/$file" "target/xpkg/$file" ||
        fail "cargo xtask configuration and cargo xtask package wrote different target/xpkg/$file files"
done
echo "cargo xtask configuration and cargo xtask package wrote the same Configuration packages"

section "Package checks passed"

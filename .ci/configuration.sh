#!/usr/bin/env bash
# Configuration package checks: writes the Configuration packages of
# catalog/ and catalog/namespaced/ with `cargo xtask configuration`, which
# needs no cross toolchain and builds no binary, and verifies them:
#
# - skopeo reads each .xpkg file as one image with one layer, and its config
#   has the label io.crossplane.xpkg:sha256:<that layer's digest>=base;
# - the layer contains only package.yaml: crossplane.yaml, then the folder's
#   other YAML files by name, each behind a `---` line;
# - a second run writes byte-identical files;
# - skopeo copies each package to a docker-registry on 127.0.0.1, which
#   serves the same config and one layer.
#
# .ci/package.sh runs it with REGISTRY set to the registry it started. Run
# alone, it starts its own registry on 127.0.0.1 and stops it on exit. It
# needs cargo, python3 and the Debian packages skopeo, jq and
# docker-registry.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=.ci/lib.sh
source .ci/lib.sh

# Loopback traffic must not go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

for command in skopeo jq docker-registry python3; do
    command -v "$command" >/dev/null || fail "$command is missing: install the Debian package $command"
done

# Each package folder, and the file `cargo xtask configuration` writes.
PACKAGES=(
    "catalog target/xpkg/configuration.xpkg"
    "catalog/namespaced target/xpkg/configuration-namespaced.xpkg"
)


# Prints the package.yaml expected from a package folder: crossplane.yaml,
# then the other .yaml and .yml files directly in the folder in byte order of
# their names, each behind a `---` line. A leading `---` of a file is
# dropped, and a missing final newline is added, as the packager does.
expected_package_yaml() {
    local dir="$1" file
    local files=("$dir/crossplane.yaml")
    while IFS= read -r file; do
        files+=("$dir/$file")
    done < <(find "$dir" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' \) \
        ! -name crossplane.yaml -printf '%f\n' | LC_ALL=C sort)
    for file in "${files[@]}"; do
        printf -- '---\n'
        awk 'NR == 1 && ($0 == "---" || $0 == "---\r") { next } { print }' "$file"
    done
}

section "Configuration: cargo xtask configuration"
cargo xtask configuration
TAG="v$(cargo metadata --no-deps --format-version 1 |
    jq -r '.packages[] | select(.name == "function-gitlab-runner-fleet") | .version')"

section "Configuration: reproducibility"
mkdir "$WORK/first-run"
for package in "${PACKAGES[@]}"; do
    read -r _ xpkg <<<"$package"
    cp "$xpkg" "$WORK/first-run/"
done
# Another umask and time zone must not change a byte.
(umask 077 && TZ=Pacific/Kiritimati cargo xtask configuration >/dev/null)
for package in "${PACKAGES[@]}"; do
    read -r _ xpkg <<<"$package"
    cmp "$WORK/first-run/$(basename "$xpkg")" "$xpkg" || fail "two runs wrote different $xpkg files"
done
echo "two runs wrote byte-identical files"

section "Configuration: skopeo inspect and package.yaml"
for package in "${PACKAGES[@]}"; do
    read -r dir xpkg <<<"$package"
    name="$(basename "$xpkg" .xpkg)"

    # The tarball as go-containerregistry reads it: manifest.json names the
    # config blob and the layers, each layer file named by its digest.
    mkdir "$WORK/$name"
    tar -xf "$xpkg" -C "$WORK/$name"
    jq -e 'length == 1 and (.[0].Layers | length) == 1' "$WORK/$name/manifest.json" >/dev/null ||
        fail "$xpkg: manifest.json does not list one image with one layer"
    layer_file="$(jq -r '.[0].Layers[0]' "$WORK/$name/manifest.json")"
    layer_digest="sha256:$(sha256sum "$WORK/$name/$layer_file" | cut -d ' ' -f 1)"
    [[ "$layer_file" == "${layer_digest#sha256:}.tar.gz" ]] ||
        fail "$xpkg: the layer file $layer_file is not named by its digest $layer_digest"

    skopeo inspect "docker-archive:$xpkg" > "$WORK/$name/inspect.json"
    jq -e --arg key "io.crossplane.xpkg:$layer_digest" \
        '(.Layers | length) == 1 and
         (.Labels | with_entries(select(.key | startswith("io.crossplane.xpkg:")))) == {($key): "base"}' \
        "$WORK/$name/inspect.json" >/dev/null ||
        fail "$xpkg: expected one layer and the only io.crossplane.xpkg label io.crossplane.xpkg:$layer_digest=base"

    [[ "$(tar -tzf "$WORK/$name/$layer_file")" == package.yaml ]] ||
        fail "$xpkg: the layer contains more than package.yaml"
    tar -xzf "$WORK/$name/$layer_file" -O package.yaml > "$WORK/$name/package.yaml"
    expected_package_yaml "$dir" > "$WORK/$name/expected.yaml"
    cmp "$WORK/$name/expected.yaml" "$WORK/$name/package.yaml" ||
        fail "$xpkg: package.yaml differs from the files of $dir/"
    echo "$xpkg: one layer $layer_digest labelled io.crossplane.xpkg=base"
    echo "  package.yaml is $dir/crossplane.yaml and the other YAML files of $dir/"
done

section "Configuration: skopeo copy to docker-registry on 127.0.0.1"
if [[ -z "${REGISTRY:-}" ]]; then
    start_registry
fi
[[ "$REGISTRY" == 127.0.0.1:* ]] || fail "REGISTRY=$REGISTRY: only a registry on 127.0.0.1 is allowed here"

for package in "${PACKAGES[@]}"; do
    read -r _ xpkg <<<"$package"
    name="$(basename "$xpkg" .xpkg)"
    repository="$(jq -r '.Labels["org.opencontainers.image.title"]' "$WORK/$name/inspect.json")"
    remote="docker://$REGISTRY/$repository:$TAG"

    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "docker-archive:$xpkg" "$remote"
    skopeo inspect --tls-verify=false --config --raw "$remote" > "$WORK/$name/remote-config.json"
    cmp "$WORK/$name/remote-config.json" "$WORK/$name/$(jq -r '.[0].Config' "$WORK/$name/manifest.json")" ||
        fail "$remote: the registry serves another config than $xpkg holds"
    skopeo inspect --tls-verify=false --raw "$remote" |
        jq -e '(.layers | length) == 1' >/dev/null ||
        fail "$remote: the manifest does not list one layer"
    echo "$remote serves the config of $xpkg unchanged, with one layer"
done
# NOTE: a docker-archive cannot carry layer annotations, so the manifests
# that skopeo pushes lack io.crossplane.xpkg=base on the layer; `crossplane
# xpkg push` adds it from the config label. Crossplane reads package.yaml
# from the image's file system when no layer is annotated.

section "Configuration checks passed"

# syntax=docker/dockerfile:1
#
# The runtime image of the function, for the usual route with Docker:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --tag <image> .
#
# The build stage runs on the build machine's platform and cross-compiles for
# TARGETARCH, so an arm64 image needs no emulation. The binary links glibc
# statically (+crt-static) and runs as the distroless nonroot user (65532).
# `cargo xtask package` builds an image of the same layout without Docker.

ARG RUST_VERSION=1.88

FROM --platform=$BUILDPLATFORM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
ARG BUILDARCH

# Pick the Rust target and GNU triplet of TARGETARCH; install the GNU cross
# toolchain only when the target is not the build machine's architecture.
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-gnu; triplet=x86_64-linux-gnu; cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      arm64) target=aarch64-unknown-linux-gnu; triplet=aarch64-linux-gnu; cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      *) echo "unsupported TARGETARCH \"$TARGETARCH\": use amd64 or arm64" >&2; exit 1 ;; \
    esac; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends $cross; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    rustup target add "$target"; \
    printf '%s\n' "$target" > /rust-target; \
    printf '%s\n' "$triplet" > /gnu-triplet

WORKDIR /src
COPY . .

RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=function-target-${TARGETARCH} \
    set -eu; \
    target="$(cat /rust-target)"; \
    triplet="$(cat /gnu-triplet)"; \
    target_env="$(printf '%s' "$target" | tr 'a-z-' 'A-Z_')"; \
    export "CARGO_TARGET_${target_env}_LINKER=${triplet}-gcc"; \
    export "CC_$(printf '%s' "$target" | tr '-' '_')=${triplet}-gcc"; \
    export CARGO_ENCODED_RUSTFLAGS="-Ctarget-feature=+crt-static"; \
    cargo build --locked --profile dist --target "$target" \
      --package function-gitlab-runner-fleet --bin function-gitlab-runner-fleet; \
    cp "target/$target/dist/function-gitlab-runner-fleet" /function-gitlab-runner-fleet

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /function-gitlab-runner-fleet /usr/local/bin/function-gitlab-runner-fleet
# 9443: gRPC, which Crossplane calls; 8080: Prometheus metrics at /metrics.
EXPOSE 9443/tcp 8080/tcp
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/function-gitlab-runner-fleet"]

#!/usr/bin/env bash
# Builds the image from the repository's Dockerfile without a registry: `--build-context
# build=<dir>` replaces the Rust build stage (and with it the digest-pinned Rust image, which is
# then never pulled) with a directory holding the root filesystem runtime-root.sh lays out from a
# binary cargo already built, exactly as the build stage does. The runtime stage is `scratch`, so
# no base image is needed. The Dockerfile is used unchanged.
#
#   SOURCE_URL=https://… deploy/container/build-offline.sh BINARY TAG
#   e.g. cargo build --release -p netready &&
#        SOURCE_URL="$(git remote get-url origin)" \
#        deploy/container/build-offline.sh target/release/netready localhost/netready:dev
#
# SOURCE_URL (required, https://…): the org.opencontainers.image.source label, as the Dockerfile's
# build argument. Prints the image id. Docker format, so that HEALTHCHECK is kept (OCI images drop
# it).
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=${1:?usage: SOURCE_URL=https://… build-offline.sh BINARY TAG}
tag=${2:?usage: SOURCE_URL=https://… build-offline.sh BINARY TAG}
case "${SOURCE_URL:-}" in
  https://?*) ;;
  *)
    echo "build-offline.sh: set SOURCE_URL=https://… (the repository this image is built from, for the" \
      "org.opencontainers.image.source label), e.g. SOURCE_URL=\"\$(git remote get-url origin)\"" >&2
    exit 2
    ;;
esac
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
deploy/container/runtime-root.sh "$binary" /etc/ssl/certs/ca-certificates.crt "$ctx/out/rootfs"
podman build --quiet --pull=never --layers=false --format docker \
  --build-context "build=$ctx" --build-arg "VERSION=$version" --build-arg "SOURCE_URL=$SOURCE_URL" \
  -t "$tag" .

#!/usr/bin/env bash
# Builds the image from the repository's Dockerfile without a registry: the base comes from
# base-image.sh, and `--build-context build=<dir>` replaces the Rust build stage with a directory
# holding a binary cargo already built (stripped, as the build stage does) and the host's CA
# certificates. The Dockerfile is used unchanged.
#
#   deploy/container/build-offline.sh BINARY TAG
#   e.g. cargo build --release -p netready &&
#        deploy/container/build-offline.sh target/release/netready localhost/netready:dev
#
# Prints the image id. Docker format, so that HEALTHCHECK is kept (OCI images drop it).
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=${1:?usage: build-offline.sh BINARY TAG}
tag=${2:?usage: build-offline.sh BINARY TAG}
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)

deploy/container/base-image.sh >/dev/null
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/out"
strip -o "$ctx/out/netready" "$binary"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/out/ca-certificates.crt"
podman build --quiet --pull=never --layers=false --format docker \
  --build-context "build=$ctx" --build-arg "VERSION=$version" -t "$tag" .

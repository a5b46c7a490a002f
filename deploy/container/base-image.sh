#!/usr/bin/env bash
# The image's runtime is `scratch` now and needs no base; this makes the Debian slim runtime it
# replaced, to measure the two side by side (docs/benchmarks.md, "The container image").
#
# Makes a local debian:bookworm-slim for `podman build` when no registry is reachable: debootstrap
# (minbase) from the mirror apt itself is configured with, without docs, man pages and locales,
# imported as docker.io/library/debian:bookworm-slim. The root filesystem tarball is cached under
# /var/tmp/netready-base/, keyed by the mirror and the date, so later runs only import it.
#
#   deploy/container/base-image.sh            # prints the image name; exit 0 when it is there
#
# An image of that name that is already present (pulled from Docker Hub, or made earlier) is left
# as it is. Prints "created" on stderr when it imported one, so a caller can remove it afterwards.
# Needs root and debootstrap.
set -euo pipefail

image=docker.io/library/debian:bookworm-slim
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi

# The mirror apt uses: deb822 sources first, then the one-line format.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -e /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

cache=/var/tmp/netready-base
key=$(printf '%s' "$mirror" | tr -c 'A-Za-z0-9.' '_')-$(date -u +%Y%m%d)
tarball="$cache/bookworm-minbase-$key.tar"
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "base-image: debootstrap --variant=minbase bookworm from $mirror" >&2
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
    cat "$root.log" >&2
    rm -f "$root.log"
    exit 1
  }
  rm -f "$root.log"
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  # Keep one: older days' and other mirrors' bases are stale now.
  find "$cache" -maxdepth 1 -name 'bookworm-minbase-*.tar' ! -path "$tarball" -delete
fi
podman import --quiet "$tarball" "$image" >/dev/null
echo "created $image from $tarball" >&2
echo "$image"

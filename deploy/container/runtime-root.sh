#!/usr/bin/env bash
# Lays out the image's whole root filesystem (the runtime stage is `FROM scratch`): the stripped
# binary, the shared libraries its dynamic loader needs if it has one, the CA certificates, and a
# world-writable /tmp. Builds link glibc and libgcc's unwinder into the binary
# (crates/netready/build.rs): then there is no loader and no library to copy. A build with
# NETREADY_SHARED_LIBC=1 or NETREADY_PIE=1 loads glibc's libc and libm with its loader: those are
# copied at the paths the binary asks for.
# Used by the Dockerfile's build stage and by build-offline.sh, so both images hold the same files.
#
#   deploy/container/runtime-root.sh BINARY CA_BUNDLE ROOT
set -euo pipefail

binary=${1:?usage: runtime-root.sh BINARY CA_BUNDLE ROOT}
ca=${2:?usage: runtime-root.sh BINARY CA_BUNDLE ROOT}
root=${3:?usage: runtime-root.sh BINARY CA_BUNDLE ROOT}

install -d -m 0755 "$root/usr/local/bin" "$root/etc/ssl/certs"
install -d -m 1777 "$root/tmp"
strip -o "$root/usr/local/bin/netready" "$binary"
install -m 0644 "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
# A dynamic executable names its loader (PT_INTERP); a static one loads nothing.
if [[ "$(readelf --program-headers "$binary")" == *INTERP* ]]; then
  # Every library ldd resolves (`name => /path (addr)`), and the loader (`/lib64/ld-linux-… (addr)`).
  ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
    while read -r lib; do
      install -d "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
fi
# Name lookups (getaddrinfo) read files first, then DNS, as on Debian.
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"

#!/usr/bin/env bash
# Lays out the image's whole root filesystem (the runtime stage is `FROM scratch`): the stripped
# binary, the shared libraries its dynamic loader needs (ldd: glibc's libc and libm and the loader
# itself, at the paths the binary asks for; libgcc's unwinder is linked in, crates/netready/build.rs),
# the CA certificates, and a world-writable /tmp.
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
# Every library ldd resolves (`name => /path (addr)`), and the loader (`/lib64/ld-linux-… (addr)`).
# ldd fails on anything but a dynamic executable, and with it (pipefail) this script.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
  while read -r lib; do
    install -d "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
# Name lookups (getaddrinfo) read files first, then DNS, as on Debian.
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"

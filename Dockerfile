# netready: `netready check`, `netready agent` and `netready plane` in one image.
#
#   docker build --build-arg SOURCE_URL=… -t netready .   (podman: add --format docker, or the
#                                                         HEALTHCHECK is dropped)
#
# SOURCE_URL (required) is the repository the image is built from, for the OCI
# org.opencontainers.image.source label registries and scanners link to, e.g.
#   docker build --build-arg SOURCE_URL="$(git remote get-url origin)" -t netready .
#
# Two stages: the official Rust image builds the release binary; the runtime is `scratch` holding
# only the stripped binary (statically linked, glibc inside it: crates/netready/build.rs), the CA
# certificates (the agent speaks HTTPS to the plane), a one-line nsswitch.conf and an empty /tmp,
# all laid out by deploy/container/runtime-root.sh. No shell, no package manager: nothing but netready can
# run in it (docs/benchmarks.md has the size against the Debian slim runtime it replaced).
#
# The build image is pinned by digest (a tag can move; the digest is the bytes built with). To
# update it: `docker buildx imagetools inspect docker.io/library/rust:1-bookworm` and copy the
# index digest, or pass --build-arg RUST_IMAGE=<image@sha256:…>.
#
# Offline builds (the test suite): `--build-context build=<dir>` replaces the build stage with a
# directory holding out/rootfs, made by the same runtime-root.sh: deploy/container/build-offline.sh.

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm@sha256:93ce27a88655056a51dbdd8f5f2d7ddc071c7b0070fb288a37b5a285fc83971e
FROM ${RUST_IMAGE} AS build
ARG SOURCE_URL
RUN case "$SOURCE_URL" in https://?*) ;; *) \
      echo "pass --build-arg SOURCE_URL=https://… (the repository this image is built from, for the" \
           "org.opencontainers.image.source label)" >&2; exit 1;; esac
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p netready \
 && deploy/container/runtime-root.sh target/release/netready /etc/ssl/certs/ca-certificates.crt /out/rootfs
# AWS's CA bundle for RDS, from where the RDS user guide ("Using SSL/TLS to encrypt a connection
# to a DB instance or cluster") publishes it: the plane stack's database URL names it with
# sslmode=verify-full&sslrootcert=/etc/netready/rds-global-bundle.pem. (The offline test build
# replaces this stage and has no network: its image has no bundle.)
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
ADD --chmod=644 ${RDS_CA_BUNDLE_URL} /out/rootfs/etc/netready/rds-global-bundle.pem

FROM scratch
ARG VERSION=0.1.0
# Checked in the build stage (and by build-offline.sh): an https:// URL, never a placeholder.
ARG SOURCE_URL
LABEL org.opencontainers.image.title="netready" \
      org.opencontainers.image.description="Network readiness for AWS Fargate tasks: check, agent and management plane" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/rootfs/ /
ENV PATH=/usr/local/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# A fixed non-root uid/gid (no passwd entry needed, nothing to create at build time).
USER 10001:10001
WORKDIR /tmp
# The agent's status server; the plane listens on 8080 (--listen / NETREADY_LISTEN).
EXPOSE 9464
# Alive, not ready: a degraded network must not make the runtime restart the agent (see README).
# It asks /healthz on NETREADY_LISTEN's port (default 9464): give the plane its address through
# NETREADY_LISTEN, not --listen, for this check to find it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["netready", "healthcheck"]
ENTRYPOINT ["netready"]
CMD ["--help"]

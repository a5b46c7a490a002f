# netready: `netready check`, `netready agent` and `netready plane` in one image.
#
#   docker build -t netready .    (podman: add --format docker, or the HEALTHCHECK is dropped)
#
# Two stages: the official Rust image builds the release binary; the runtime is Debian slim with
# only the binary and the CA certificates (the agent speaks HTTPS to the plane). No RUN in the
# runtime stage: nothing is installed or executed there, so the image is the base plus the
# stripped binary and the certificates (docs/benchmarks.md).
#
# Offline builds (the test suite): `--build-context build=<dir>` replaces the build stage with a
# directory holding out/netready and out/ca-certificates.crt: deploy/container/build-offline.sh.

ARG RUST_VERSION=1
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p netready \
 && mkdir -p /out \
 && strip -o /out/netready target/release/netready \
 && cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt

FROM docker.io/library/debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="netready" \
      org.opencontainers.image.description="Network readiness for AWS Fargate tasks: check, agent and management plane" \
      org.opencontainers.image.source="https://example.invalid/netready" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/netready /usr/local/bin/netready
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
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

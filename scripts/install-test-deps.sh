#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when they are missing:
#   iproute2, iptables, dnsmasq   the namespace VPC lab
#   postgresql                    the plane's tests on PostgreSQL
#   chromium, chromium-driver     the dashboard's browser test
#   podman, buildah, runc,        the container image test (crates/netready/tests/container.rs)
#   debootstrap, binutils         (a local debian:bookworm-slim; strip)
#   prometheus                    promtool: the alerting rules and /metrics (crates/netready/tests/prometheus.rs)
# and from PyPI, with pip, when missing:
#   cfn-lint                      the CloudFormation tests (crates/netready/tests/cloudformation.rs)
#   schemathesis                  the plane's API against its OpenAPI document (crates/netready/tests/schemathesis.rs)
#   moto[server] (with boto3)     the diagnosis tests against moto's server (crates/netready/tests/diagnose.rs)
# Needs root (the lab does too). Without root it only says what is missing.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v strip >/dev/null 2>&1 || need+=(binutils)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if { ! command -v cfn-lint >/dev/null 2>&1 || ! command -v schemathesis >/dev/null 2>&1 ||
  ! command -v moto_server >/dev/null 2>&1; } &&
  ! python3 -m pip --version >/dev/null 2>&1; then
  need+=(python3-pip)
fi

install_cfn_lint() {
  install_schemathesis
  command -v cfn-lint >/dev/null 2>&1 && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "install-test-deps: installing cfn-lint from PyPI" >&2
    python3 -m pip install --quiet cfn-lint 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages cfn-lint ||
      echo "install-test-deps: could not install cfn-lint (the CloudFormation tests will say SKIPPED)" >&2
  else
    echo "install-test-deps: no pip for cfn-lint (the CloudFormation tests will say SKIPPED)" >&2
  fi
}

install_schemathesis() {
  command -v schemathesis >/dev/null 2>&1 && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "install-test-deps: installing schemathesis from PyPI" >&2
    python3 -m pip install --quiet schemathesis 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages schemathesis ||
      echo "install-test-deps: could not install schemathesis (the OpenAPI test will say SKIPPED)" >&2
  else
    echo "install-test-deps: no pip for schemathesis (the OpenAPI test will say SKIPPED)" >&2
  fi
}

install_moto() {
  command -v moto_server >/dev/null 2>&1 && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "install-test-deps: installing moto[server] from PyPI" >&2
    python3 -m pip install --quiet 'moto[server]' 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages 'moto[server]' ||
      echo "install-test-deps: could not install moto[server] (the diagnosis tests will say SKIPPED, or fail under CI)" >&2
  else
    echo "install-test-deps: no pip for moto[server] (the diagnosis tests will say SKIPPED, or fail under CI)" >&2
  fi
}

if [ ${#need[@]} -eq 0 ]; then
  install_cfn_lint
  install_moto
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${need[*]}; not root, so not installing (those tests will say SKIPPED)" >&2
  install_cfn_lint
  install_moto
  exit 0
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# pip from apt (python3-pip) may be new now.
install_cfn_lint
install_moto

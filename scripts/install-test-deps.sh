#!/usr/bin/env bash
# Installs what the test suite needs.
#
# From Debian, when missing (needs root; without root it says what is missing and those tests
# say SKIPPED):
#   iproute2, iptables, dnsmasq   the namespace VPC lab
#   ethtool                       the lab's veth offloads (wire-sized packets for the MTU case)
#   postgresql                    the plane's tests on PostgreSQL (and over TLS only)
#   nginx-light                   a reverse proxy in front of the plane (crates/netready/tests/plane_deploy.rs)
#   chromium, chromium-driver     the dashboard's browser test
#   podman, buildah, runc,        the container image test (crates/netready/tests/container.rs)
#   debootstrap, binutils         (a local debian:bookworm-slim; strip and readelf for the image's
#                                 root filesystem; nm for the hot-text list)
#   prometheus                    promtool: the alerting rules and /metrics (crates/netready/tests/prometheus.rs)
#   python3-venv                  only when python3 cannot make a virtual environment
#
# From PyPI, always at the versions pinned in tests/python/requirements.txt (moto[server], boto3,
# cfn-lint, schemathesis, PyYAML and everything they pull in), into the project's own virtual
# environment: $NETREADY_TEST_VENV, default ~/.cache/netready/test-venv (outside the source tree).
# The tests take these tools from there and never from PATH, so whatever version the machine has
# installed does not matter. The environment is made again when the requirements file changes
# (it keeps a copy of the file it was made from).
#
# Prints the versions the tests will run against.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
requirements="$root/tests/python/requirements.txt"
# (Without HOME, as the tests do: /root.)
venv="${NETREADY_TEST_VENV:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/netready/test-venv}"

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v ethtool >/dev/null 2>&1 || [ -x /usr/sbin/ethtool ] || need+=(ethtool)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/nginx ] || [ -x /usr/bin/nginx ] || need+=(nginx-light)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
{ command -v strip && command -v readelf && command -v nm; } >/dev/null 2>&1 || need+=(binutils)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# A virtual environment needs python3's venv and ensurepip modules (Debian ships them apart).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: missing ${need[*]}; not root, so not installing (those tests will say SKIPPED)" >&2
  else
    echo "install-test-deps: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# The pinned Python tools. The copy of the requirements file inside the environment says what it
# was made from; anything else (an older pin set, a half-finished install) is made again.
stamp="$venv/netready-requirements.txt"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "install-test-deps: python3 cannot make a virtual environment (python3-venv); the moto, cfn-lint and schemathesis tests will say SKIPPED, or fail under CI" >&2
    exit 0
  fi
  # Only ever remove what is a virtual environment (NETREADY_TEST_VENV may name any folder).
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "install-test-deps: $venv exists and is not a virtual environment; not replacing it (set NETREADY_TEST_VENV to another folder)" >&2
    exit 2
  fi
  echo "install-test-deps: making the test tools' environment $venv from tests/python/requirements.txt" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  # No pip configuration from the machine or the user changes what is installed.
  export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
  "$venv/bin/python" -m pip install --quiet --no-input -r "$requirements"
  "$venv/bin/python" -m pip check >/dev/null
  cp "$requirements" "$stamp"
fi
versions=$("$venv/bin/python" - <<'PY'
from importlib.metadata import version
print(", ".join(f"{p} {version(p)}" for p in ("moto", "boto3", "cfn-lint", "schemathesis", "PyYAML")))
PY
)
echo "install-test-deps: test tools from $venv: $versions" >&2
# The Debian tools' versions, for the same reason (Debian's stable updates move them rarely).
if command -v dpkg-query >/dev/null 2>&1; then
  debs=$(dpkg-query -W -f '${Package} ${Version}, ' dnsmasq-base iptables postgresql nginx-light chromium prometheus podman 2>/dev/null || true)
  echo "install-test-deps: Debian: ${debs%, }" >&2
fi

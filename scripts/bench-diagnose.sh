#!/usr/bin/env bash
# The diagnosis benchmark (docs/benchmarks.md): netready diagnose against moto's server on a VPC
# with 200 subnets, 50 interface endpoints and 100 security groups; wall time and AWS calls per run.
#   scripts/bench-diagnose.sh [RUNS]          release build (built first)
#   PROFILE=debug scripts/bench-diagnose.sh   the debug build
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --locked -p netready --bin netready
else
  cargo build --locked -p netready --bin netready
fi
target="${CARGO_TARGET_DIR:-target}"
dir=$([ "$profile" = release ] && echo release || echo debug)
venv="${NETREADY_TEST_VENV:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/netready/test-venv}"
exec "$venv/bin/python" crates/netready/tests/moto/bench_diagnose.py "$target/$dir/netready" "${1:-5}"

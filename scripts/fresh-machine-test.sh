#!/usr/bin/env bash
# The README's two commands as a new user meets them: a fresh clone of `main`, a fresh Cargo
# target directory, a fresh test-tool environment, and a PATH without the machine's own Python
# tools (moto_server, cfn-lint, schemathesis), so nothing the machine happens to have is used.
# Prints how long each command took.
#
#   scripts/fresh-machine-test.sh [--repo PATH] [--branch main] [--target-dir DIR] [--warm] [--keep]
#
#   --repo PATH        the repository to clone (default: the one this script is in)
#   --branch NAME      what to clone (default: main)
#   --target-dir DIR   Cargo's target directory (default: a new one in the temporary folder; an
#                      empty DIR is just as cold, and keeps the build for later runs)
#   --warm             then run the test command a second time, warm, and time it too
#   --keep             keep the temporary folder (the clone, the target directory, the venv)
#
# Needs root for what the test command needs root for (Debian packages, the namespace lab).
# Exit status: 0 when both commands did what the README says, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$here"
branch=main
target=""
warm=""
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) repo="$2"; shift 2 ;;
    --branch) branch="$2"; shift 2 ;;
    --target-dir) target="$2"; shift 2 ;;
    --warm) warm=1; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-machine-test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d /var/tmp/netready-fresh.XXXXXX)
cleanup() { if [ -z "$keep" ]; then rm -rf "$tmp"; else echo "fresh-machine-test: kept $tmp"; fi; }
trap cleanup EXIT
: "${target:=$tmp/target}"
if [ -d "$target" ] && [ -n "$(ls -A "$target")" ]; then
  echo "fresh-machine-test: note: $target is not empty, so the build is not cold" >&2
fi

# PATH without any directory that holds the machine's own test tools; python3 stays (a symlink to
# the machine's interpreter) when it lived in such a directory, since the install script needs it.
python=$(python3 -c 'import sys; print(sys.executable)')
clean=()
removed=()
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  if [ -e "$d/moto_server" ] || [ -e "$d/cfn-lint" ] || [ -e "$d/schemathesis" ]; then
    removed+=("$d")
  else
    clean+=("$d")
  fi
done
mkdir -p "$tmp/bin"
ln -s "$python" "$tmp/bin/python3"
PATH="$(IFS=:; echo "${clean[*]}"):$tmp/bin"
export PATH
if [ ${#removed[@]} -gt 0 ]; then
  echo "fresh-machine-test: left off PATH (they hold the machine's own test tools): ${removed[*]}"
fi
for tool in moto_server cfn-lint schemathesis; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "fresh-machine-test: $tool is still on PATH at $(command -v "$tool")" >&2
    exit 1
  fi
done

git clone --quiet --branch "$branch" --single-branch "$repo" "$tmp/netready"
cd "$tmp/netready"
echo "fresh-machine-test: $(git log --oneline -1)"
export CARGO_TARGET_DIR="$target"
export NETREADY_TEST_VENV="$tmp/test-venv"
# Nothing may skip: a test that cannot run is a failure here, as in CI.
export NETREADY_LAB=required

seconds() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { s = b - a; printf "%dm%02ds", s / 60, s % 60 }'; }

status=0
echo "fresh-machine-test: 1/2 cargo run --release -p netready -- check --region eu-west-3"
start=$(seconds)
set +e
cargo run --release --locked -p netready -- check --region eu-west-3 >"$tmp/check.out" 2>"$tmp/check.err"
check_exit=$?
set -e
check_time=$(took "$start")
tail -n 12 "$tmp/check.out"
# 0: ready; 1: degraded, which is what a machine without the five endpoints gets. 2 and above,
# or a build failure (101), is a failure of the command.
if [ "$check_exit" -gt 1 ]; then
  echo "fresh-machine-test: the check command failed (exit $check_exit):" >&2
  tail -n 30 "$tmp/check.err" >&2
  status=1
fi

# Runs scripts/test into log $1; sets run_exit and run_time, and marks a failure.
run_tests() {
  local start
  start=$(seconds)
  set +e
  scripts/test >"$1" 2>&1
  run_exit=$?
  set -e
  run_time=$(took "$start")
  grep -E '^(install-test-deps:|tests:|skipped)|FAILED|panicked' "$1" | tail -n 30
  if [ "$run_exit" -ne 0 ]; then
    echo "fresh-machine-test: scripts/test failed (exit $run_exit); its log: $1" >&2
    status=1
    keep=1
  fi
}

echo "fresh-machine-test: 2/2 scripts/test"
run_tests "$tmp/test.log"
test_exit=$run_exit test_time=$run_time
warm_time=""
if [ -n "$warm" ] && [ "$test_exit" -eq 0 ]; then
  echo "fresh-machine-test: scripts/test again, warm"
  run_tests "$tmp/test-warm.log"
  warm_time=$run_time
fi

echo
echo "fresh-machine-test: $(nproc) cores, $(git log --format=%h -1)"
echo "  cargo run --release -p netready -- check   $check_time (cold build and the check; exit $check_exit)"
echo "  scripts/test                               $test_time (cold; exit $test_exit)"
[ -z "$warm_time" ] || echo "  scripts/test, again                        $warm_time (warm)"
exit "$status"

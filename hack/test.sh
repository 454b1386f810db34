#!/usr/bin/env bash
# Runs Flint's whole test suite (unit + e2e) as root on a Debian 12 machine:
# installs packages, prepares the host, builds with ASan/UBSan, starts the local
# registry fixture and runs every test through ctest.
# Usage: hack/test.sh [ctest args...]   e.g. hack/test.sh -L unit, hack/test.sh -R Config
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $EUID -eq 0 ]] || { echo "hack/test.sh must run as root (namespaces, mounts, cgroups)" >&2; exit 1; }
hack/install-deps.sh
hack/setup-host.sh --fix
hack/build.sh test

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
cd build/test
ctest --output-on-failure --timeout 900 -j "${FLINT_TEST_JOBS:-2}" "$@"

#!/usr/bin/env bash
# Configures and builds Flint. Usage: hack/build.sh [release|test] [ninja targets...]
#   release: optimized binaries in build/release (what hack/run.sh and benchmarks use)
#   test:    Debug + ASan/UBSan in build/test (what the test suite uses)
set -euo pipefail
cd "$(dirname "$0")/.."
flavor=${1:-release}
shift || true
case "$flavor" in
  release) dir=build/release; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLINT_SANITIZE=OFF) ;;
  test) dir=build/test; flags=(-DCMAKE_BUILD_TYPE=Debug -DFLINT_SANITIZE=ON) ;;
  *) echo "usage: hack/build.sh [release|test] [targets...]" >&2; exit 2 ;;
esac
if [[ ! -f $dir/build.ninja ]]; then
  cmake -S . -B "$dir" -G Ninja "${flags[@]}"
fi
# 2 jobs: gRPC-heavy translation units need ~1 GiB each.
ninja -C "$dir" -j "${FLINT_BUILD_JOBS:-2}" "$@"

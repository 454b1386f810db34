#!/bin/sh
# Builds flint_stats_bench in an optimized build dir and runs it (needs root; cgroup v1 or v2).
#   hack/bench/stats/run.sh [containers=100] [rounds=200]
set -eu
repo=$(cd "$(dirname "$0")/../../.." && pwd)
build=${BUILD_DIR:-$repo/build-stats-bench}
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLINT_TESTS=OFF >/dev/null
ninja -C "$build" -j2 flint_stats_bench >/dev/null
exec "$build/cri/stats/flint_stats_bench" "$@"

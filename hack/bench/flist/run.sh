#!/bin/sh
# Builds flist_lazy_bench in an optimized build dir and runs it (needs root and /dev/fuse).
#   hack/bench/flist/run.sh [--files 6] [--file-mib 50] [--small 2000] [--lazy-mib 4] [--prefetch 4] [--redis]
set -eu
repo=$(cd "$(dirname "$0")/../../.." && pwd)
build=${BUILD_DIR:-$repo/build-flist-bench}
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLINT_TESTS=OFF >/dev/null
ninja -C "$build" -j2 flist_lazy_bench >/dev/null
exec "$build/flist-snapshotter/flist_lazy_bench" "$@"

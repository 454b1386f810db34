#!/bin/sh
# Flist benchmarks (need root and /dev/fuse):
#   hack/bench/flist/run.sh cri [runs=3]     the issue's benchmark: flint/large as OCI vs as an flist through a
#                                            release flintd over CRI, plus FUSE vs local-disk read (cri_bench.sh)
#   hack/bench/flist/run.sh [--files 6] [--file-mib 50] [--small 2000] [--lazy-mib 4] [--prefetch 4] [--redis]
#                                            the synthetic lazy-vs-full bench (flist_lazy_bench.cc)
set -eu
repo=$(cd "$(dirname "$0")/../../.." && pwd)
if [ "${1:-}" = cri ]; then
  shift
  exec "$repo/hack/bench/flist/cri_bench.sh" "$@"
fi
build=${BUILD_DIR:-$repo/build-flist-bench}
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLINT_TESTS=OFF >/dev/null
ninja -C "$build" -j2 flist_lazy_bench >/dev/null
exec "$build/flist-snapshotter/flist_lazy_bench" "$@"

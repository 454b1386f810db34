#!/usr/bin/env bash
# Exec round-trip latency (`true`, p50/p99) and stdout throughput, flintd side by side with
# Debian's containerd 1.6 CRI plugin, both driven by the same client (cri_exec_bench: CRI Exec,
# then the SPDY/3.1 remotecommand session to the returned URL). Each runtime gets a private
# root/state/socket under $BENCH_DIR, a host-network pod (no CNI on either side) and the
# loopback registry's busybox. Results: hack/bench/exec/README.md.
#
#   hack/bench/exec/run.sh            # EXEC_BENCH_RUNS=200 EXEC_BENCH_MB=200 EXEC_BENCH_WINDOW=65536
#
# Needs root. Environment: BUILD_DIR (Release build, default build-exec-bench), BENCH_DIR
# (default /tmp/flint-eb; keep it short, flintd limits its state_dir length), SKIP_CONTAINERD=1.
# hack/bench/exec/exec_bench.cc (flint_exec_bench) is the older flintd-only variant through the
# e2e harness (pod network).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
readonly repo
# shellcheck source=hack/bench/lib/containerd.sh
source "$repo/hack/bench/lib/containerd.sh"
build=${BUILD_DIR:-$repo/build-exec-bench}
scratch=${BENCH_DIR:-/tmp/flint-eb}  # short: flintd wants a state_dir of at most 63 bytes
runs=${EXEC_BENCH_RUNS:-200}
mb=${EXEC_BENCH_MB:-200}
window=${EXEC_BENCH_WINDOW:-65536}

die() { echo "exec-bench: $*" >&2; exit 1; }
log() { echo "exec-bench: $*" >&2; }
((EUID == 0)) || die "must run as root"

log "registry and test images"
"$repo/hack/registry.sh" start >/dev/null
"$repo/hack/images.sh" >/dev/null
registry=$("$repo/hack/registry.sh" addr)
image=$registry/flint/busybox:latest

log "release build of flintd, flint-shim, flint-pause and cri_exec_bench in $build"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLINT_TESTS=ON >/dev/null
ninja -C "$build" -j2 flintd flint-shim flint-pause cri_exec_bench >/dev/null
client=$build/cri/streaming/cri_exec_bench
bench_args=(--image "$image" --runs "$runs" --mb "$mb" --window "$window")

wait_for_socket() { # PATH PID SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [[ -S $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_daemon() { # PID: SIGTERM, bounded wait, then SIGKILL
  local i
  daemon_pid=""
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

umount_below() {
  local m
  awk -v d="$1" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}

daemon_pid=""
trap '[[ -z $daemon_pid ]] || stop_daemon "$daemon_pid"' EXIT
mkdir -p "$scratch"
results=$scratch/results
: >"$results"

bench_flint() {
  local dir
  dir=$(mktemp -d "$scratch/flint-XXXXXX")
  mkdir -p "$dir/cni"
  cat >"$dir/flint.yaml" <<EOF
root_dir: $dir/root
state_dir: $dir/run
socket: $dir/run/flint.sock
log_level: info
cni:
  conf_dir: $dir/cni
registry:
  insecure: ["$registry"]
EOF
  "$build/cri/flintd" --config "$dir/flint.yaml" >"$dir/flintd.log" 2>&1 &
  daemon_pid=$!
  wait_for_socket "$dir/run/flint.sock" "$daemon_pid" 30 || { cat "$dir/flintd.log" >&2; die "flintd did not start"; }
  "$client" --socket "$dir/run/flint.sock" --name flint "${bench_args[@]}" | tee -a "$results" ||
    { tail -20 "$dir/flintd.log" >&2; stop_daemon "$daemon_pid"; die "flint run failed"; }
  stop_daemon "$daemon_pid"
  umount_below "$dir"
  rm -rf "$dir"
}

# containerd 1.6's CRI plugin, configured by hack/bench/lib/containerd.sh (why it needs
# restrict_oom_score_adj here: README.md).
bench_containerd() {
  local dir why
  why=$(containerd_unavailable)
  [[ -z $why ]] || { echo "containerd: not measured: $why" | tee -a "$results"; return 0; }
  dir=$(mktemp -d "$scratch/containerd-XXXXXX")
  if ! containerd_push_pause_image "$registry" "$build/cri/oci/flint-pause" "$dir" >/dev/null; then
    echo "containerd: not measured: could not push its sandbox image" | tee -a "$results"
  elif ! containerd_start "$dir" "$registry"; then
    echo "containerd: did not start: $(tail -3 "$dir/containerd.log" | tr '\n' ' ')" | tee -a "$results"
  else
    daemon_pid=$CONTAINERD_PID
    if ! "$client" --socket "$CONTAINERD_SOCKET" --name containerd "${bench_args[@]}" | tee -a "$results"; then
      echo "containerd: run failed: $(tail -3 "$dir/containerd.log" | tr '\n' ' ')" | tee -a "$results"
    fi
    stop_daemon "$daemon_pid"
  fi
  umount_below "$dir"
  rm -rf "$dir"
}

log "flintd ($runs x true, $mb MiB stdout, client window $window)"
bench_flint
if [[ ${SKIP_CONTAINERD:-0} != 1 ]]; then
  log "containerd ($runs x true, $mb MiB stdout, client window $window)"
  bench_containerd
fi

echo
echo "exec through CRI + SPDY/3.1, same client, host-network busybox pod, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$results"

#!/usr/bin/env bash
# Pod lifecycle benchmark: flintd (release build) next to Debian's containerd, both driven over
# their CRI socket by pods_bench.cc (host-network pods, busybox `sleep 3600`), printed side by side.
#
#   hack/bench/pods/run.sh [flint|containerd|both]     (default: both; needs root)
#
# Env: PODS=50 (sequential pods), CONCURRENT=20 (pods started at once), RSS_PODS=100 (pods running
# when memory is sampled), FLINT_RUNTIME=runc|crun (flintd's OCI runtime; containerd uses runc), SKIP_BUILD=1 (use build/release as it is), KEEP_WORK=1 (keep the temp dir).
#
# Uses the local registry (hack/registry.sh; started if needed and left running like the other
# fixtures) and hack/images.sh for busybox; pushes 127.0.0.1:5055/flint/pause:latest (flint-pause
# as /pause) for containerd's sandbox_image. Each daemon gets its own temp root/state/socket; every
# pod, daemon, shim, mount and temp dir is removed on exit. Installs Debian's containerd for the
# containerd column when it is missing (hack/bench/lib/containerd.sh; skipped with the reason if it
# cannot run).
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
readonly ROOT
readonly HERE="$ROOT/hack/bench/pods"
# shellcheck source=hack/bench/lib/containerd.sh
source "$ROOT/hack/bench/lib/containerd.sh"
readonly REL="$ROOT/build/release"
readonly PODS=${PODS:-50} CONCURRENT=${CONCURRENT:-20} RSS_PODS=${RSS_PODS:-100}
readonly CGROUP_PARENT=/flint-bench-pods
readonly FLINT_RUNTIME=${FLINT_RUNTIME:-runc}
WHICH=${1:-both}
case "$WHICH" in flint | containerd | both) ;; *) echo "usage: $0 [flint|containerd|both]" >&2; exit 2 ;; esac

die() { echo "pods-bench: $*" >&2; exit 1; }
log() { echo "pods-bench: $*" >&2; }
((EUID == 0)) || die "must run as root"

# Short: flint-shim sockets live at <state>/shims/<32 hex>.sock and must fit sun_path (108).
WORK=$(mktemp -d /tmp/fpb.XXXXXX)
readonly WORK
DAEMON_PIDS=()

# Kills a daemon we started (by pid) and waits for it, escalating to SIGKILL after 20 s.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Pids of processes whose command line mentions our temp dir (leftover shims, pause, sleep).
pids_under_work() {
  local p
  for p in /proc/[0-9]*; do
    [[ $p == "/proc/$$" || $p == "/proc/$BASHPID" ]] && continue
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$WORK/"; then echo "${p#/proc/}"; fi
  done
}

# Force-deletes every container in a runc/crun state root under WORK.
delete_containers() { # delete_containers RUNTIME ROOT
  local runtime=$1 root=$2 id
  [[ -d $root ]] || return 0
  for id in $("$runtime" --root "$root" list -q 2>/dev/null); do
    "$runtime" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  done
}

cleanup() {
  local pid m i
  for pid in "${DAEMON_PIDS[@]}"; do stop_pid "$pid"; done
  for i in 1 2 3; do
    while read -r root; do delete_containers runc "$root"; delete_containers crun "$root"; done < <(
      find "$WORK" -maxdepth 6 -name state.json -printf '%h\n' 2>/dev/null | xargs -r -n1 dirname | sort -u)
    for pid in $(pids_under_work); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  # Lazily unmount anything left below WORK, deepest first.
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r)
  if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  # Pod cgroups are the runtimes' to remove; drop the (then empty) parents we asked for.
  find /sys/fs/cgroup -depth -type d -path "*${CGROUP_PARENT}*" -exec rmdir {} \; 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Binaries.

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building release flintd flint-shim flint-pause"
  "$ROOT/hack/build.sh" release flintd flint-shim flint-pause flintctl >&2
fi
FLINTD="$REL/cri/flintd"
PAUSE_BIN="$REL/cri/oci/flint-pause"
[[ -x $FLINTD && -x $REL/shim/flint-shim && -x $PAUSE_BIN ]] ||
  die "release binaries missing under $REL (run hack/build.sh release flintd flint-shim flint-pause)"

# The driver: compiled here against the generated CRI code (the flint_cri_proto library when the
# release build has it, the generated sources otherwise) so no shared CMake file is involved.
DRIVER="$REL/bench-pods/pods_bench"
build_driver() {
  local gen="$REL/cri/proto/gen" lib="$REL/cri/proto/libflint_cri_proto.a" srcs=()
  [[ -f $gen/api.grpc.pb.h ]] || die "no generated CRI code in $gen (build flintd first)"
  if [[ -f $lib ]]; then srcs=("$lib"); else srcs=("$gen/api.pb.cc" "$gen/api.grpc.pb.cc"); fi
  if [[ -x $DRIVER && $DRIVER -nt $HERE/pods_bench.cc && $DRIVER -nt ${srcs[0]} ]]; then return 0; fi
  log "compiling $DRIVER"
  mkdir -p "$(dirname "$DRIVER")"
  # shellcheck disable=SC2046 # pkg-config output is a list of flags
  g++ -std=c++20 -O2 -Wall -Wextra -isystem "$gen" -o "$DRIVER.tmp" "$HERE/pods_bench.cc" "${srcs[@]}" \
    $(pkg-config --cflags --libs grpc++ protobuf) -lpthread
  mv -f "$DRIVER.tmp" "$DRIVER"
}
build_driver

# ---------------------------------------------------------------------------------------------
# Images.

if ! "$ROOT/hack/registry.sh" status >/dev/null 2>&1; then
  "$ROOT/hack/registry.sh" start >&2
fi
REGISTRY=$("$ROOT/hack/registry.sh" addr)
readonly REGISTRY
"$ROOT/hack/images.sh" >/dev/null
readonly IMAGE="$REGISTRY/flint/busybox:latest"

# ---------------------------------------------------------------------------------------------
# Daemons. Each start_* sets SOCKET, DAEMON_PID, SHIM_NAME and RUN_DIR.

wait_for_socket() { # wait_for_socket SOCKET PID LOG
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -S $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || { tail -20 "$3" >&2; return 1; }
    sleep 0.1
  done
  tail -20 "$3" >&2
  return 1
}

start_flintd() {
  RUN_DIR="$WORK/f"
  mkdir -p "$RUN_DIR/cni"
  SOCKET="$RUN_DIR/run/flint.sock"
  cat >"$RUN_DIR/flint.yaml" <<EOF
root_dir: $RUN_DIR/root
state_dir: $RUN_DIR/run
socket: $SOCKET
log_level: warning
cgroup_driver: cgroupfs
default_runtime: $FLINT_RUNTIME
runtimes:
  runc:
    path: $(command -v runc)
  crun:
    path: $(command -v crun)
registry:
  insecure: ["$REGISTRY"]
cni:
  conf_dir: $RUN_DIR/cni
EOF
  "$FLINTD" --config "$RUN_DIR/flint.yaml" >"$RUN_DIR/flintd.log" 2>&1 &
  DAEMON_PID=$!
  DAEMON_PIDS+=("$DAEMON_PID")
  SHIM_NAME=flint-shim
  wait_for_socket "$SOCKET" "$DAEMON_PID" "$RUN_DIR/flintd.log" || die "flintd did not start (log above)"
}

start_containerd() {
  RUN_DIR="$WORK/containerd"
  containerd_start "$RUN_DIR" "$REGISTRY" "$(command -v runc)" || return 1
  SOCKET=$CONTAINERD_SOCKET DAEMON_PID=$CONTAINERD_PID
  DAEMON_PIDS+=("$DAEMON_PID")
  SHIM_NAME=containerd-shim-runc-v2
}

# bench NAME: runs the driver against the daemon just started; results in $WORK/NAME.txt.
bench() {
  local name=$1 rc=0
  mkdir -p "$WORK/logs-$name"
  log "$name: $PODS sequential + $CONCURRENT concurrent pods, memory at $RSS_PODS pods"
  timeout 1200 "$DRIVER" --socket "$SOCKET" --image "$IMAGE" --log-dir "$WORK/logs-$name" \
    --daemon-pid "$DAEMON_PID" --shim-name "$SHIM_NAME" --shim-match "$RUN_DIR/" \
    --pods "$PODS" --concurrent "$CONCURRENT" --rss-pods "$RSS_PODS" --cgroup-parent "$CGROUP_PARENT" \
    >"$WORK/$name.txt" || rc=$?
  stop_pid "$DAEMON_PID"
  if ((rc != 0)); then
    log "$name: driver exited $rc; daemon log tail:"
    tail -20 "$RUN_DIR"/*.log >&2 || true
  fi
  return "$rc"
}

FLINT_OK=0 CONTAINERD_OK=0 CONTAINERD_WHY=""
if [[ $WHICH != containerd ]]; then
  start_flintd
  bench flint && FLINT_OK=1
fi
if [[ $WHICH != flint ]]; then
  CONTAINERD_WHY=$(containerd_unavailable)
  if [[ -z $CONTAINERD_WHY ]]; then
    containerd_push_pause_image "$REGISTRY" "$PAUSE_BIN" "$WORK" >/dev/null
    if start_containerd; then
      bench containerd && CONTAINERD_OK=1
      ((CONTAINERD_OK)) || CONTAINERD_WHY="benchmark run failed (see log above)"
    else
      CONTAINERD_WHY="containerd did not start (log above)"
    fi
  fi
  [[ -n $CONTAINERD_WHY ]] && log "containerd column skipped: $CONTAINERD_WHY"
fi

# ---------------------------------------------------------------------------------------------
# Side-by-side table.

value() { # value NAME KEY
  [[ -f $WORK/$1.txt ]] || { echo "-"; return; }
  awk -v k="$2" '$1 == k {v = $2} END {print (v == "" ? "-" : v)}' "$WORK/$1.txt"
}
row() { # row LABEL KEY [unit]
  local f c ratio
  f=$(value flint "$2")
  c=$(value containerd "$2")
  ratio=$(awk -v f="$f" -v c="$c" 'BEGIN {if (f != "-" && c != "-" && c + 0 > 0) printf "%.2f", f / c; else print "-"}')
  printf '%-40s %14s %14s %12s\n' "$1" "$f" "$c" "$ratio"
}
echo
echo "Pod benchmark: $PODS sequential pods, $CONCURRENT concurrent, memory at $RSS_PODS pods (host network, busybox sleep 3600)"
printf '%-40s %14s %14s %12s\n' "metric" "flint" "containerd" "flint/ctrd"
for phase in run:RunPodSandbox create:CreateContainer start:StartContainer total:"Run+Create+Start"; do
  key=${phase%%:*} label=${phase#*:}
  row "$label p50 (ms)" "seq_${key}_p50"
  row "$label p99 (ms)" "seq_${key}_p99"
done
row "concurrent $CONCURRENT: wall (ms)" par_wall
row "concurrent $CONCURRENT: per pod p50 (ms)" par_total_p50
row "concurrent $CONCURRENT: per pod p99 (ms)" par_total_p99
row "StopPodSandbox p50 (ms)" stop_p50
row "StopPodSandbox p99 (ms)" stop_p99
row "RemovePodSandbox p50 (ms)" remove_p50
row "RemovePodSandbox p99 (ms)" remove_p99
row "daemon VmRSS idle (KiB)" idle_daemon_rss_kib
row "daemon VmRSS with pods (KiB)" loaded_daemon_rss_kib
row "pods running at sample" loaded_pods
row "shim processes" loaded_shim_count
row "shim VmRSS average (KiB)" loaded_shim_rss_avg_kib
row "shim VmRSS total (KiB)" loaded_shim_rss_total_kib
row "shims left after teardown" after_shim_count
[[ -n $CONTAINERD_WHY ]] && echo "containerd: not measured: $CONTAINERD_WHY"
[[ $FLINT_OK == 1 || $WHICH == containerd ]] || die "flint benchmark failed"
exit 0

#!/usr/bin/env bash
# Cold pull of flint/large:latest (~315 MB, 7 gzip layers) from the local registry, side by side:
#   flint       release flintd, PullImage over CRI (fetch + verify + unpack to snapshot dirs)
#   skopeo+umoci skopeo copy docker://… oci:DIR, then umoci unpack (a full pull by other tools)
#   containerd  Debian's containerd 1.6 CRI plugin, PullImage over CRI (fetch + unpack to overlayfs snapshots)
# Every run starts from a fresh, empty root; the registry's blobs are in the page cache for all tools alike.
#
#   hack/bench/pull/run.sh [runs=3] [image=127.0.0.1:5055/flint/large:latest]
#
# Needs root. Installs Debian's containerd with apt-get if missing (hack/bench/lib/containerd.sh;
# benchmark only, not an install-deps package). Environment: BUILD_DIR (default build/release), BENCH_DIR (scratch, default /var/tmp/flint-pull-bench),
# SKIP_CONTAINERD=1, SKIP_SKOPEO=1.
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
readonly repo
# shellcheck source=hack/bench/lib/containerd.sh
source "$repo/hack/bench/lib/containerd.sh"
runs=${1:-3}
image=${2:-127.0.0.1:5055/flint/large:latest}
build=${BUILD_DIR:-$repo/build/release}
scratch=${BENCH_DIR:-/var/tmp/flint-pull-bench}
registry=${image%%/*}
name_tag=${image#*/}

die() { echo "pull-bench: $*" >&2; exit 1; }
log() { echo "pull-bench: $*" >&2; }

((EUID == 0)) || die "must run as root"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "runs must be a positive number, got '$runs'"

# --- fixtures and binaries ---------------------------------------------------------------------
log "registry and test images (hack/images.sh --large)"
"$repo/hack/registry.sh" start >/dev/null
"$repo/hack/images.sh" --large >/dev/null

log "release build of flintd, flint-shim, flint-pause and the CRI protos"
if [[ $build == "$repo/build/release" ]]; then
  "$repo/hack/build.sh" release flintd flint-shim flint-pause flint_cri_proto >/dev/null
else
  ninja -C "$build" -j2 flintd flint-shim flint-pause flint_cri_proto >/dev/null
fi
flintd=$build/cri/flintd
proto_gen=$build/cri/proto/gen
proto_lib=$(find "$build/cri/proto" -maxdepth 1 -name 'libflint_cri_proto.a' | head -1)
[[ -x $flintd && -n $proto_lib && -f $proto_gen/api.grpc.pb.h ]] || die "release build incomplete in $build"

client=$build/hack-bench-pull/pull_bench
if [[ ! -x $client || $client -ot $repo/hack/bench/pull/pull_bench.cc || $client -ot $proto_lib ]]; then
  log "compiling pull_bench"
  mkdir -p "$(dirname "$client")"
  # shellcheck disable=SC2046 # pkg-config output is a list of flags
  g++ -std=c++20 -O2 -Wall -Wextra -isystem "$proto_gen" -o "$client" "$repo/hack/bench/pull/pull_bench.cc" \
    "$proto_lib" $(pkg-config --cflags --libs grpc++ protobuf)
fi

# Compressed bytes of the image (config + layers), from the registry's manifest: the MB/s basis.
manifest=$(curl -sf --max-time 10 -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
  "http://$registry/v2/${name_tag%:*}/manifests/${name_tag##*:}") || die "cannot fetch the manifest of $image"
image_bytes=$(jq '[.config.size] + [.layers[].size] | add' <<<"$manifest")
log "$image: $(jq '.layers | length' <<<"$manifest") layers, $image_bytes compressed bytes"

mkdir -p "$scratch"
results=$scratch/results
: >"$results"
record() { echo "$1 $2" >>"$results"; } # record TOOL SECONDS

# Sets $run_dir to a fresh empty dir (the caller wipes it). Flushes dirty pages first so one run's
# writeback does not land in the next run's time.
fresh_run_dir() {
  run_dir=$(mktemp -d "$scratch/run-XXXXXX")
  sync
}

wait_for_socket() { # wait_for_socket PATH PID SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [[ -S $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_daemon() { # stop_daemon PID: SIGTERM, bounded wait, then SIGKILL
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

# A daemon still running when the script dies (a failed run) is stopped on the way out.
daemon_pid=""
trap '[[ -z $daemon_pid ]] || stop_daemon "$daemon_pid"' EXIT

# Parses pull_bench's "seconds=S size=N image_ref=..." line.
pull_seconds() { sed -n 's/^seconds=\([0-9.]*\) .*/\1/p' <<<"$1"; }

# --- flint -------------------------------------------------------------------------------------
bench_flint() {
  fresh_run_dir
  mkdir -p "$run_dir/cni"
  cat >"$run_dir/flint.yaml" <<EOF
root_dir: $run_dir/root
state_dir: $run_dir/run
socket: $run_dir/run/flint.sock
log_level: info
cni:
  conf_dir: $run_dir/cni
registry:
  insecure: ["$registry"]
EOF
  "$flintd" --config "$run_dir/flint.yaml" >"$run_dir/flintd.log" 2>&1 &
  local pid=$!
  daemon_pid=$pid
  wait_for_socket "$run_dir/run/flint.sock" $pid 30 || { cat "$run_dir/flintd.log" >&2; die "flintd did not start"; }
  local out
  out=$("$client" --socket "$run_dir/run/flint.sock" --image "$image") || {
    stop_daemon $pid; tail -20 "$run_dir/flintd.log" >&2; die "flint pull failed"; }
  stop_daemon $pid
  record flint "$(pull_seconds "$out")"
  log "flint: $out"
  rm -rf "$run_dir"
}

# --- skopeo copy + umoci unpack ----------------------------------------------------------------
bench_skopeo() {
  fresh_run_dir
  local start end
  start=$(date +%s.%N)
  skopeo copy -q --src-tls-verify=false "docker://$image" "oci:$run_dir/oci:bench" >/dev/null ||
    die "skopeo copy failed"
  umoci unpack --image "$run_dir/oci:bench" "$run_dir/bundle" >/dev/null || die "umoci unpack failed"
  end=$(date +%s.%N)
  local seconds
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  record skopeo+umoci "$seconds"
  log "skopeo+umoci: seconds=$seconds"
  rm -rf "$run_dir"
}

# --- containerd CRI plugin ---------------------------------------------------------------------
containerd_reason=""
bench_containerd() { # containerd configured by hack/bench/lib/containerd.sh, private to the run
  fresh_run_dir
  if ! containerd_start "$run_dir" "$registry" 2>/dev/null; then
    containerd_reason="containerd did not start: $(tail -3 "$run_dir/containerd.log" | tr '\n' ' ')"
    rm -rf "$run_dir"
    return 1
  fi
  local pid=$CONTAINERD_PID
  daemon_pid=$pid
  local out
  if ! out=$("$client" --socket "$CONTAINERD_SOCKET" --image "$image" 2>&1); then
    containerd_reason="containerd CRI PullImage failed: $out; log: $(tail -3 "$run_dir/containerd.log" | tr '\n' ' ')"
    stop_daemon $pid
    umount_below "$run_dir"
    rm -rf "$run_dir"
    return 1
  fi
  stop_daemon $pid
  record containerd "$(pull_seconds "$out")"
  log "containerd: $out"
  umount_below "$run_dir"
  rm -rf "$run_dir"
}

umount_below() { # containerd may leave its state tmpfs/overlay mounts when stopped
  local m
  awk -v d="$1" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
}

# --- run, interleaved so drift in the machine hits every tool alike --------------------------------
have_containerd=1
[[ ${SKIP_CONTAINERD:-0} == 1 ]] && { have_containerd=0; containerd_reason="skipped (SKIP_CONTAINERD=1)"; }
if ((have_containerd)); then
  containerd_reason=$(containerd_unavailable)
  [[ -z $containerd_reason ]] || have_containerd=0
fi
for ((r = 1; r <= runs; r++)); do
  log "run $r/$runs"
  bench_flint
  [[ ${SKIP_SKOPEO:-0} == 1 ]] || bench_skopeo
  if ((have_containerd)); then bench_containerd || have_containerd=0; fi
done

# --- report ------------------------------------------------------------------------------------
echo
echo "cold pull of $image: $image_bytes compressed bytes ($(awk -v b="$image_bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB), $runs runs"
printf '%-14s %-28s %9s %9s\n' tool "seconds (each run)" "median s" "MB/s"
for tool in flint skopeo+umoci containerd; do
  times=$(awk -v t="$tool" '$1 == t { printf "%s ", $2 }' "$results")
  if [[ -z $times ]]; then
    if [[ $tool == containerd ]]; then
      printf '%-14s not run: %s\n' "$tool" "${containerd_reason:-unknown}"
    elif [[ ${SKIP_SKOPEO:-0} != 1 ]]; then
      printf '%-14s not run\n' "$tool"
    fi
    continue
  fi
  median=$(tr ' ' '\n' <<<"$times" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  printf '%-14s %-28s %9s %9s\n' "$tool" "$times" "$median" \
    "$(awk -v b="$image_bytes" -v s="$median" 'BEGIN { printf "%.1f", b / 1e6 / s }')"
done

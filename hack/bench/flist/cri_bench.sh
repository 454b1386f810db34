#!/usr/bin/env bash
# The issue's flist benchmark: flint/large (~315 MB, 7 layers) as an OCI image from the loopback
# registry vs the same content packed as an flist (hack/hub.sh: flist over HTTP, blocks in
# redis-server), both through a release flintd over its CRI socket (start_bench.cc).
#
#   hack/bench/flist/run.sh cri [runs=3]         (needs root, /dev/fuse)
#
# Per kind and run, on a fresh daemon root: oci (flintd, the image from the registry), flist
# (flintd, the flist from the hub) and, as the reference a node has today, containerd (Debian's
# containerd 1.6 CRI plugin pulling the OCI image from the same registry, same OCI runtime):
#   cold     PullImage -> CreateContainer -> StartContainer -> first line in the CRI log
#   warm     a second pod after the first was removed (image present, block cache warm)
#   repull   RemoveImage, then the same again (flist: block cache kept)
# The container runs `head -c 4194304 /data/large-3.bin | wc -c` (the image's own entrypoint).
# Bytes: OCI = the registry's access log; flist = .fl size + redis total_net_output_bytes.
# Disk: du -x of the daemon's root after the step (images, snapshots, flist file, block cache).
# Then sequential read of data/large-1.bin (50 MiB) through flist-mount (cold store; warm block cache
# with the page cache of the FUSE file and of the cache segments dropped) vs the file on local disk
# (page cache dropped), each the median of 5 (interleaved).
#
# Env: FLINT_BENCH_RUNTIME (OCI runtime of both sides: crun, the default, or runc), BUILD_DIR (release
# build, default build-flist-rel), BENCH_DIR (default /var/tmp/flint-flist-bench),
# FLINT_HUB_PORT / FLINT_HUB_REDIS_PORT (default 5170/5171), KEEP_WORK=1, SKIP_CONTAINERD=1,
# FLINT_BENCH_LINK (a tc rate such as 1gbit: during the pods, what the registry, the hub and redis
# send goes through one htb class of that rate on lo, as if they sat behind the node's uplink;
# bandwidth only, no added latency: this kernel has no netem. Unset: plain loopback).
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
readonly ROOT
readonly HERE="$ROOT/hack/bench/flist"
# shellcheck source=hack/bench/lib/containerd.sh
source "$ROOT/hack/bench/lib/containerd.sh"
RUNS=${1:-3}
BUILD=${BUILD_DIR:-$ROOT/build-flist-rel}
readonly BUILD
readonly SCRATCH=${BENCH_DIR:-/var/tmp/flint-flist-bench}
export FLINT_HUB_DIR=$SCRATCH/hub FLINT_HUB_PORT=${FLINT_HUB_PORT:-5170} FLINT_HUB_REDIS_PORT=${FLINT_HUB_REDIS_PORT:-5171}
readonly MEDIAN_OF=5
# Both kinds run under the same OCI runtime; crun creates a container in ~10 ms where runc takes
# ~30 ms on this VM, a cost both sides pay and that says nothing about the image format.
RUNTIME=${FLINT_BENCH_RUNTIME:-crun}
readonly RUNTIME
readonly LINK=${FLINT_BENCH_LINK:-}

die() { echo "flist-bench: $*" >&2; exit 1; }
log() { echo "flist-bench: $*" >&2; }
((EUID == 0)) || die "must run as root"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "runs must be a positive number, got '$RUNS'"
[[ -z $LINK || $LINK =~ ^[0-9]+[kmg]?bit$ ]] || die "FLINT_BENCH_LINK must be a rate like 1gbit, got '$LINK'"
command -v "$RUNTIME" >/dev/null || die "OCI runtime '$RUNTIME' not found (FLINT_BENCH_RUNTIME)"

# --- cleanup ---------------------------------------------------------------------------------------
DAEMON_PID="" DAEMON_LOG="" SOCKET=""
MOUNT_DIR=""
stop_pid() { # SIGTERM, bounded wait, SIGKILL
  local i
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
umount_below() { # lazily unmount everything below a dir, deepest first
  local m
  awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}
LINK_SHAPED=0
unshape_link() {
  ((LINK_SHAPED)) || return 0
  tc qdisc del dev lo root 2>/dev/null || true
  LINK_SHAPED=0
}
# shape_link PORT...: what these local servers send leaves through one htb class of rate $LINK;
# everything else on lo is unclassified, which htb sends on directly.
shape_link() {
  local port
  tc qdisc replace dev lo root handle 1: htb || die "tc: cannot put htb on lo"
  LINK_SHAPED=1
  tc class add dev lo parent 1: classid 1:1 htb rate "$LINK" ceil "$LINK" burst 256k cburst 256k quantum 131072
  for port in "$@"; do
    tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport "$port" 0xffff flowid 1:1
  done
}
cleanup() {
  unshape_link
  [[ -z $DAEMON_PID ]] || stop_pid "$DAEMON_PID"
  [[ -z $MOUNT_DIR ]] || umount_below "$(dirname "$MOUNT_DIR")"
  [[ -d $SCRATCH ]] && umount_below "$SCRATCH"
  local run
  for run in "$SCRATCH"/run-*/run; do
    [[ -L $run ]] || continue
    umount_below "$(readlink "$run")"
    rm -rf "$(readlink "$run")"
  done
  "$ROOT/hack/hub.sh" stop >/dev/null 2>&1 || true
  if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries --------------------------------------------------------------------------------------
log "release build in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLINT_SANITIZE=OFF -DFLINT_TESTS=OFF >/dev/null
ninja -C "$BUILD" -j2 flintd flint-shim flint-pause flint_cri_proto flist-tool flist-mount >/dev/null
FLINTD=$BUILD/cri/flintd
FLIST_TOOL=$BUILD/flist-snapshotter/flist-tool
FLIST_MOUNT=$BUILD/flist-snapshotter/flist-mount
export FLIST_TOOL
DRIVER=$BUILD/hack-bench-flist/start_bench
gen=$BUILD/cri/proto/gen
lib=$BUILD/cri/proto/libflint_cri_proto.a
[[ -x $FLINTD && -f $lib && -f $gen/api.grpc.pb.h ]] || die "release build incomplete in $BUILD"
if [[ ! -x $DRIVER || $DRIVER -ot $HERE/start_bench.cc || $DRIVER -ot $lib ]]; then
  log "compiling start_bench"
  mkdir -p "$(dirname "$DRIVER")"
  # shellcheck disable=SC2046 # pkg-config output is a list of flags
  g++ -std=c++20 -O2 -Wall -Wextra -isystem "$gen" -o "$DRIVER.tmp" "$HERE/start_bench.cc" "$lib" \
    $(pkg-config --cflags --libs grpc++ protobuf) -lpthread
  mv -f "$DRIVER.tmp" "$DRIVER"
fi

# --- fixtures: OCI image in the registry, the same content as an flist on the hub ------------------
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
log "registry and flint/large (hack/images.sh --large)"
"$ROOT/hack/registry.sh" status >/dev/null 2>&1 || "$ROOT/hack/registry.sh" start >/dev/null
REGISTRY=$("$ROOT/hack/registry.sh" addr)
"$ROOT/hack/images.sh" --large >/dev/null
readonly OCI_IMAGE=$REGISTRY/flint/large:latest
manifest=$(curl -sf --max-time 10 -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$REGISTRY/v2/flint/large/manifests/latest") || die "cannot fetch the manifest of $OCI_IMAGE"
OCI_BYTES=$(jq '[.config.size] + [.layers[].size] | add' <<<"$manifest")

# The rootfs: the image's layers (no whiteouts in them) unpacked in order, from the registry.
ROOTFS=$SCRATCH/rootfs
mkdir -p "$ROOTFS"
for digest in $(jq -r '.layers[].digest' <<<"$manifest"); do
  curl -sf --max-time 120 "http://$REGISTRY/v2/flint/large/blobs/$digest" |
    tar -xz --numeric-owner -p -C "$ROOTFS" || die "unpack layer $digest"
done
"$ROOT/hack/hub.sh" start >/dev/null
HUB_STORE=$("$ROOT/hack/hub.sh" store)
log "packing the rootfs as an flist (blocks to $HUB_STORE)"
pack_start=$(date +%s.%N)
FLIST_IMAGE=$("$ROOT/hack/hub.sh" pack "$ROOTFS" flint/large 2>"$SCRATCH/pack.log") ||
  { cat "$SCRATCH/pack.log" >&2; die "pack failed"; }
pack_s=$(awk -v a="$pack_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
readonly FLIST_IMAGE
CONTAINERD_WHY=""
if [[ ${SKIP_CONTAINERD:-0} == 1 ]]; then
  CONTAINERD_WHY="SKIP_CONTAINERD=1"
else
  CONTAINERD_WHY=$(containerd_unavailable)
  [[ -n $CONTAINERD_WHY ]] ||
    containerd_push_pause_image "$REGISTRY" "$BUILD/cri/oci/flint-pause" "$SCRATCH" >/dev/null ||
    CONTAINERD_WHY="could not push its sandbox image"
fi
[[ -z $CONTAINERD_WHY ]] || log "containerd column skipped: $CONTAINERD_WHY"
FLIST_FILE=$FLINT_HUB_DIR/flists/flint/large.fl
FLIST_BYTES=$(stat -c %s "$FLIST_FILE")
log "$(tail -1 "$SCRATCH/pack.log") in ${pack_s}s; flist file $FLIST_BYTES bytes"

redis_out_bytes() {
  redis-cli -p "$FLINT_HUB_REDIS_PORT" info stats | tr -d '\r' | awk -F: '$1 == "total_net_output_bytes" { print $2 }'
}

# --- flintd ----------------------------------------------------------------------------------------
RESULTS=$SCRATCH/results
: >"$RESULTS"
record() { echo "$*" >>"$RESULTS"; } # record KIND STEP KEY VALUE

start_flintd() { # start_flintd DIR (state_dir: DIR/run, a link to a short path for shim sockets)
  local dir=$1 state
  mkdir -p "$dir/cni" "$dir/logs"
  state=$(mktemp -d /tmp/ffb.XXXXXX)
  ln -s "$state" "$dir/run"
  cat >"$dir/flint.yaml" <<EOF
root_dir: $dir/root
state_dir: $state
socket: $state/flint.sock
log_level: ${FLINTD_LOG_LEVEL:-info}
default_runtime: $RUNTIME
runtimes:
  $RUNTIME:
    path: $(command -v "$RUNTIME")
registry:
  insecure: ["$REGISTRY"]
cni:
  conf_dir: $dir/cni
flist:
  hubs: ["http://$("$ROOT/hack/hub.sh" addr)"]
  default_store: "$HUB_STORE"
EOF
  "$FLINTD" --config "$dir/flint.yaml" >"$dir/flintd.log" 2>&1 &
  DAEMON_PID=$!
  DAEMON_LOG=$dir/flintd.log
  SOCKET=$dir/run/flint.sock
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -S $SOCKET ]] && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$dir/flintd.log" >&2
  die "flintd did not start"
}

# Bytes the registry sent for flint/large, from its access log (flintd does not count them yet):
# registry_log_lines before a step, registry_bytes_since after it.
REGISTRY_LOG=${FLINT_REGISTRY_DIR:-/var/tmp/flint-registry}/plain.log
registry_log_lines() { wc -l <"$REGISTRY_LOG"; }
registry_bytes_since() { # registry_bytes_since LINES
  tail -n +"$(($1 + 1))" "$REGISTRY_LOG" | { grep -F '/v2/flint/large/' || true; } |
    sed -n 's/.*http\.response\.written=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { printf "%d", s }'
}

# step KIND IMAGE DIR STEP [driver args]: one timed pod; records time, bytes and disk.
step() {
  local kind=$1 image=$2 dir=$3 name=$4 out before after
  shift 4
  sync
  before=$(if [[ $kind == flist ]]; then redis_out_bytes; else registry_log_lines; fi)
  out=$("$DRIVER" --socket "$SOCKET" --image "$image" --log-dir "$dir/logs" --name "$name" "$@") || {
    tail -30 "$DAEMON_LOG" >&2; die "$kind $name failed"; }
  local first pull bytes disk
  if [[ $kind == flist ]]; then after=$(redis_out_bytes); else after=$(($(registry_bytes_since "$before") + before)); fi
  first=$(sed -n 's/.*first_output_s=\([0-9.]*\).*/\1/p' <<<"$out")
  pull=$(sed -n 's/.*pull_s=\([0-9.]*\).*/\1/p' <<<"$out")
  bytes=$((after - before))
  # Every flist PullImage downloads the .fl file (even with the image present).
  [[ $kind == flist ]] && bytes=$((bytes + FLIST_BYTES))
  # (containerd deletes a removed pod's snapshots in the background: files may vanish under du)
  disk=$({ du -sxB1 "$dir/root" 2>/dev/null || true; } | cut -f1)
  record "$kind $name first $first"
  record "$kind $name pull $pull"
  record "$kind $name bytes $bytes"
  record "$kind $name disk $disk"
  log "$kind $name: $out bytes=$bytes disk=$disk"
}

bench_kind() { # bench_kind KIND IMAGE
  local dir
  dir=$(mktemp -d "$SCRATCH/run-XXXXXX")
  if [[ $1 == containerd ]]; then
    mkdir -p "$dir/logs"
    containerd_start "$dir" "$REGISTRY" "$(command -v "$RUNTIME")" || die "containerd did not start"
    DAEMON_PID=$CONTAINERD_PID DAEMON_LOG=$dir/containerd.log SOCKET=$CONTAINERD_SOCKET
  else
    start_flintd "$dir"
  fi
  # A node's runtime is up long before its first pod; let the fresh daemon (and the
  # writeback of the previous kind's deleted root) settle before timing, for both kinds.
  sync
  sleep 2
  step "$1" "$2" "$dir" cold
  step "$1" "$2" "$dir" warm
  step "$1" "$2" "$dir" repull --remove-image-first
  stop_pid "$DAEMON_PID"
  DAEMON_PID=""
  umount_below "$dir"
  [[ ! -L $dir/run ]] || umount_below "$(readlink "$dir/run")"
  cp "$DAEMON_LOG" "$SCRATCH/daemon-$1.log" 2>/dev/null || true
  [[ ! -L $dir/run ]] || rm -rf "$(readlink "$dir/run")"
  rm -rf "$dir"
}

if [[ -n $LINK ]]; then
  log "registry, hub and redis send through a $LINK link (htb on lo)"
  shape_link "${REGISTRY##*:}" "$FLINT_HUB_PORT" "$FLINT_HUB_REDIS_PORT"
fi
# The blocks must be fetched from redis on every cold run, so every run gets a fresh flintd root
# (and so an empty block cache); the redis side keeps its data.
for ((r = 1; r <= RUNS; r++)); do
  log "run $r/$RUNS"
  bench_kind oci "$OCI_IMAGE"
  bench_kind flist "$FLIST_IMAGE"
  [[ -n $CONTAINERD_WHY ]] || bench_kind containerd "$OCI_IMAGE"
done

unshape_link # the reads below compare the mount with local disk on loopback
# --- sequential read: FUSE mount vs local disk -------------------------------------------------------
FILE=data/large-1.bin
FILE_BYTES=$(stat -c %s "$ROOTFS/$FILE")
MOUNT_DIR=$SCRATCH/read/mnt
CACHE_DIR=$SCRATCH/read/cache
mkdir -p "$MOUNT_DIR" "$CACHE_DIR"

drop_page_cache() { # drop_page_cache FILE...: writeback, then POSIX_FADV_DONTNEED through dd
  local f resident
  sync
  for f in "$@"; do dd if="$f" iflag=nocache count=0 status=none; done
  resident=$(fincore -b -n -o RES "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }')
  ((resident < 1048576)) || log "warning: $resident bytes still in the page cache after dropping"
}
read_mbps() { # read_mbps FILE: MB/s of one sequential read with 1 MiB requests
  local start end
  start=$(date +%s%N)
  dd if="$1" of=/dev/null bs=1M status=none
  end=$(date +%s%N)
  awk -v b="$FILE_BYTES" -v ns=$((end - start)) 'BEGIN { printf "%.0f", b / 1e6 / (ns / 1e9) }'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mount_flist() {
  "$FLIST_MOUNT" "$FLIST_FILE" "$MOUNT_DIR" --cache "$CACHE_DIR" --default-store "$HUB_STORE" \
    2>>"$SCRATCH/read/mount.log" || { cat "$SCRATCH/read/mount.log" >&2; die "flist-mount failed"; }
}
unmount_flist() {
  local i
  umount "$MOUNT_DIR"
  for ((i = 0; i < 50; i++)); do
    pgrep -f "flist-mount $FLIST_FILE $MOUNT_DIR" >/dev/null || return 0
    sleep 0.1
  done
}

cold=() warm=() hot=() local_disk=()
for ((i = 0; i < MEDIAN_OF; i++)); do
  rm -rf "${CACHE_DIR:?}"/*
  mount_flist
  cold+=("$(read_mbps "$MOUNT_DIR/$FILE")")
  unmount_flist
  # Warm: block cache on disk, no page cache for the blocks nor for the FUSE file (fresh mount).
  drop_page_cache $(find "$CACHE_DIR" -type f)
  mount_flist
  warm+=("$(read_mbps "$MOUNT_DIR/$FILE")")
  hot+=("$(read_mbps "$MOUNT_DIR/$FILE")")
  unmount_flist
  drop_page_cache "$ROOTFS/$FILE"
  local_disk+=("$(read_mbps "$ROOTFS/$FILE")")
done
MOUNT_DIR=""

# --- report ---------------------------------------------------------------------------------------
val() { awk -v k="$1" -v s="$2" -v m="$3" '$1 == k && $2 == s && $3 == m { printf "%s ", $4 }' "$RESULTS" | median; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

echo
echo "flint/large: OCI $OCI_IMAGE ($(mb "$OCI_BYTES") compressed) vs flist $FLIST_IMAGE"
echo "(flist file $(mb "$FLIST_BYTES"), packed in ${pack_s}s; blocks in redis-server on loopback); OCI runtime $RUNTIME;"
[[ -z $LINK ]] || echo "registry, hub and redis behind a $LINK link (htb on lo, bandwidth only) during the pods;"
echo "medians of $RUNS runs; containerd = Debian's containerd 1.6 CRI plugin, the same image from the same registry"
printf '%-40s %12s %12s %10s %12s %10s\n' "" "flint OCI" "flint flist" "OCI/flist" "containerd" "ctrd/flist"
row() { # row TITLE STEP KEY UNIT: one line of the table
  local o f c
  o=$(val oci "$2" "$3") f=$(val flist "$2" "$3") c=$(val containerd "$2" "$3")
  if [[ $4 == MB ]]; then
    o=$(mb "$o") f=$(mb "$f")
    c=$(if [[ -n $c ]]; then mb "$c"; else echo -; fi)
  else
    o=${o}s f=${f}s c=${c:+${c}s}
  fi
  printf '%-40s %12s %12s %10s %12s %10s\n' "$1" "$o" "$f" "$(ratio "$(val oci "$2" "$3")" "$(val flist "$2" "$3")")" \
    "${c:--}" "$(ratio "$(val containerd "$2" "$3")" "$(val flist "$2" "$3")")"
}
for s in cold warm repull; do
  case $s in
    cold) title="cold (empty node)" ;;
    warm) title="warm (2nd pod, image present)" ;;
    repull) title="re-pull (RemoveImage; flist cache kept)" ;;
  esac
  row "$title: PullImage->first output" $s first s
  row "  of which PullImage" $s pull s
  row "  bytes transferred" $s bytes MB
  row "  disk used (daemon root)" $s disk MB
done
# Runs are interleaved (oci, flist, containerd, oci, ...), so the ratio within each run is less
# exposed to drift in machine load than the ratio of the medians.
pair_ratios() { # pair_ratios REFERENCE STEP: REFERENCE/flist first-output ratio of every run
  paste <(awk -v k="$1" -v s="$2" '$1 == k && $2 == s && $3 == "first" { print $4 }' "$RESULTS") \
    <(awk -v s="$2" '$1 == "flist" && $2 == s && $3 == "first" { print $4 }' "$RESULTS") |
    awk '$1 > 0 && $2 > 0 { printf "%.1f ", $1 / $2 }'
}
for s in cold repull; do
  r=$(pair_ratios oci $s)
  echo "time-to-first-output flint OCI/flist per run, $s: $r(median $(median <<<"$r")x; target >= 10x)"
  [[ -n $CONTAINERD_WHY ]] && continue
  r=$(pair_ratios containerd $s)
  echo "time-to-first-output containerd/flist per run, $s: $r(median $(median <<<"$r")x; target >= 10x)"
done
[[ -z $CONTAINERD_WHY ]] || echo "containerd: not measured: $CONTAINERD_WHY"
echo
c=$(median <<<"${cold[*]}") w=$(median <<<"${warm[*]}") h=$(median <<<"${hot[*]}") l=$(median <<<"${local_disk[*]}")
echo "sequential read of $FILE ($(mb "$FILE_BYTES")), 1 MiB reads, median of $MEDIAN_OF:"
printf '  %-52s %6s MB/s\n' "local disk, page cache dropped" "$l" \
  "flist mount, cold (blocks from redis)" "$c" \
  "flist mount, warm (block cache on disk, page cache dropped)" "$w" \
  "flist mount, hot (kernel page cache)" "$h"
echo "  local/warm = $(awk -v a="$l" -v b="$w" 'BEGIN { printf "%.2f", a / b }') (target <= 1.5)"

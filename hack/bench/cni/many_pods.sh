#!/usr/bin/env bash
# 100 pods added 10 at a time (then deleted 10 at a time), each in its own netns, with
# flint-bridge+flint-host-local and with Debian's reference bridge+host-local, side by side:
# wall time of all ADDs and DELs, and a check that no IP was handed out twice and that every
# address is released after DEL.
#   usage: hack/bench/cni/many_pods.sh [FLINT_CNI_BIN_DIR] [PODS] [BATCH]
# Build the plugins without sanitizers for meaningful numbers (hack/build.sh release flint-bridge
# flint-host-local puts them in build/release/cni/bin). Needs root; cleans up on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
FLINT_BIN=${1:-$ROOT/build/release/cni/bin}
PODS=${2:-100}
BATCH=${3:-10}
REF_BIN=/usr/lib/cni
[[ -x $FLINT_BIN/flint-bridge && -x $FLINT_BIN/flint-host-local ]] || { echo "no plugins in $FLINT_BIN" >&2; exit 1; }
[[ -x $REF_BIN/bridge ]] || { echo "reference plugins missing (containernetworking-plugins)" >&2; exit 1; }
((EUID == 0)) || { echo "must run as root" >&2; exit 1; }

SUFFIX=$(printf '%05x' $((RANDOM * 32 + RANDOM % 32)) | cut -c1-5)
WORK=$(mktemp -d /tmp/flint-cni-many-XXXXXX)
SUBNET=10.$((200 + RANDOM % 50)).$((RANDOM % 128 * 2))  # a /23: room for 100+ pods
NETNS=()

cleanup() {
  set +e
  local ns
  for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  ip link del "fmr$SUFFIX" 2>/dev/null
  ip link del "fmf$SUFFIX" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

for ((i = 0; i < PODS; i++)); do
  NETNS+=("fm$SUFFIX-$i")
  ip netns add "fm$SUFFIX-$i"
done

config() {  # $1 bridge plugin, $2 ipam plugin, $3 bridge name, $4 data dir
  cat <<JSON
{"cniVersion":"1.0.0","name":"fm-$SUFFIX-$1","type":"$1","bridge":"$3","isGateway":true,"ipMasq":false,
 "ipam":{"type":"$2","dataDir":"$4","ranges":[[{"subnet":"$SUBNET.0/23"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
JSON
}

run_plugin() {  # $1 command, $2 plugin binary, $3 config, $4 pod index, $5 output file
  CNI_COMMAND=$1 CNI_CONTAINERID=pod$4 CNI_NETNS=/var/run/netns/fm$SUFFIX-$4 CNI_IFNAME=eth0 \
    CNI_PATH=$FLINT_BIN:$REF_BIN "$2" <<<"$3" >"$5" 2>&1
}

now_ms() { date +%s%3N; }

# Runs $PODS commands of one kind, $BATCH at a time; prints the wall ms; failures are counted
# into $WORK/<label>.failed.
batched() {  # $1 command, $2 plugin, $3 config, $4 label
  local start i j pids=()
  start=$(now_ms)
  for ((i = 0; i < PODS; i += BATCH)); do
    pids=()
    for ((j = i; j < i + BATCH && j < PODS; j++)); do
      run_plugin "$1" "$2" "$3" "$j" "$WORK/$4.$1.$j" &
      pids+=($!)
    done
    for j in "${pids[@]}"; do wait "$j" || echo x >>"$WORK/$4.failed"; done
  done
  echo $(($(now_ms) - start))
}

run_side() {  # $1 label, $2 bridge binary, $3 ipam type, $4 bridge name
  local data=$WORK/$1-ipam cfg add_ms del_ms total unique failed left
  mkdir -p "$data"
  cfg=$(config "$(basename "$2")" "$3" "$4" "$data")
  add_ms=$(batched ADD "$2" "$cfg" "$1")
  total=$(cat "$WORK/$1".ADD.* | grep -o '"address": *"[0-9.]*/' | grep -o '[0-9.]*[0-9]' | wc -l)
  unique=$(cat "$WORK/$1".ADD.* | grep -o '"address": *"[0-9.]*/' | grep -o '[0-9.]*[0-9]' | sort -u | wc -l)
  del_ms=$(batched DEL "$2" "$cfg" "$1")
  failed=$(cat "$WORK/$1.failed" 2>/dev/null | wc -l)
  # host-local keeps one file per allocated address (named by the address) in <dataDir>/<network>.
  left=$(find "$data" -type f -name '[0-9]*.[0-9]*.[0-9]*.[0-9]*' | wc -l)
  printf '%-40s %8d %10.1f %8d %10.1f %6d/%-4d %6d %8d\n' "$1 ($(basename "$2")+$3)" "$add_ms" \
    "$(awk -v t="$add_ms" -v n="$PODS" 'BEGIN{print t/n}')" "$del_ms" \
    "$(awk -v t="$del_ms" -v n="$PODS" 'BEGIN{print t/n}')" "$unique" "$total" "$failed" "$left"
  if ((unique != PODS || total != PODS || failed != 0 || left != 0)); then
    echo "$1: FAILED: expected $PODS distinct IPs, all ADD/DEL ok and no address left allocated" >&2
    for f in "$WORK/$1".ADD.*; do grep -q '"address"' "$f" || { echo "--- $f"; head -c 400 "$f"; echo; }; done | head -20 >&2
    return 1
  fi
}

printf '%d pods, %d at a time, %d cores\n' "$PODS" "$BATCH" "$(nproc)"
printf '%-40s %8s %10s %8s %10s %11s %6s %8s\n' "" "ADD ms" "ms/pod" "DEL ms" "ms/pod" "unique IPs" "failed" "IPs left"
rc=0
run_side reference "$REF_BIN/bridge" host-local "fmr$SUFFIX" || rc=1
run_side flint "$FLINT_BIN/flint-bridge" flint-host-local "fmf$SUFFIX" || rc=1
exit $rc

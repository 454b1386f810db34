#!/usr/bin/env bash
# Times CNI ADD and DEL of flint-bridge+flint-host-local against Debian's
# reference bridge+host-local on the same config, side by side.
#   usage: hack/bench/cni/add_del.sh [FLINT_CNI_BIN_DIR] [RUNS]
# Build the plugins without sanitizers for meaningful numbers, e.g.
#   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-rel flint-bridge flint-host-local
# Needs root. Uses a private netns, bridge and 10.x subnet; removes them on exit.
set -euo pipefail

FLINT_BIN=${1:-$(cd "$(dirname "$0")/../../.." && pwd)/build-rel/cni/bin}
RUNS=${2:-20}
REF_BIN=/usr/lib/cni
[[ -x $FLINT_BIN/flint-bridge && -x $FLINT_BIN/flint-host-local ]] || { echo "no plugins in $FLINT_BIN" >&2; exit 1; }
[[ -x $REF_BIN/bridge ]] || { echo "reference plugins missing (containernetworking-plugins)" >&2; exit 1; }

SUFFIX=$(printf '%06x' $((RANDOM * 32768 + RANDOM)) | cut -c1-6)
NS=fltb$SUFFIX
BR=fltb$SUFFIX
NET=fltbench-$SUFFIX
DATA=$(mktemp -d /tmp/flint-cni-bench-XXXXXX)
SUBNET=10.$((200 + RANDOM % 50)).$((RANDOM % 256))

# Removes masquerade rules left by an interrupted run (their comments name $NET).
cleanup_nat() {
  local tool line chain
  for tool in iptables ip6tables; do
    "$tool" -w 5 -t nat -S POSTROUTING 2>/dev/null | grep -F "name: \\\"$NET\\\"" | while read -r line; do
      chain=${line##* }
      eval "$tool -w 5 -t nat -D ${line#-A }" || true
      "$tool" -w 5 -t nat -F "$chain" 2>/dev/null || true
      "$tool" -w 5 -t nat -X "$chain" 2>/dev/null || true
    done || true
  done
}

cleanup() {
  set +e
  cleanup_nat
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
ip netns add "$NS"

config() {  # $1 bridge type, $2 ipam type, $3 ipMasq
  cat <<JSON
{"cniVersion":"1.0.0","name":"$NET","type":"$1","bridge":"$BR","isGateway":true,"ipMasq":$3,
 "ipam":{"type":"$2","dataDir":"$DATA","ranges":[[{"subnet":"$SUBNET.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}
JSON
}

# Runs one command ($1 ADD|DEL) of plugin $2 with config $3 for container $4.
# Prints "<wall us> <cpu us>" (cpu = user+sys of the plugin and everything it ran).
timed() {
  local TIMEFORMAT='%3R %3U %3S' t
  t=$( { time CNI_COMMAND=$1 CNI_CONTAINERID=$4 CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
      CNI_PATH=$FLINT_BIN:$REF_BIN "$2" <<<"$3" >/dev/null; } 2>&1)
  awk '{printf "%d %d\n", $1 * 1e6, ($2 + $3) * 1e6}' <<<"$t"
}

# Median and mean (ms) of column $1 of "<wall> <cpu>" lines.
stats() { awk -v c="$1" '{print $c}' | sort -n | awk '{v[NR]=$1; s+=$1} END {printf "%6.1f %6.1f", v[int((NR+1)/2)]/1000, s/NR/1000}'; }

row() {  # $1 label, $2 add samples, $3 del samples
  printf '%-26s %s   %s   %s   %s\n' "$1" "$(stats 1 <<<"$2")" "$(stats 1 <<<"$3")" "$(stats 2 <<<"$2")" "$(stats 2 <<<"$3")"
}

printf '%-26s %-13s   %-13s   %-13s   %-13s\n' "median/mean ms" "ADD wall" "DEL wall" "ADD cpu" "DEL cpu"
for masq in false true; do
  ref_cfg=$(config bridge host-local $masq)
  our_cfg=$(config flint-bridge flint-host-local $masq)
  ref_add="" ref_del="" our_add="" our_del=""
  # Interleaved so that background load affects both sides alike.
  for ((i = 0; i < RUNS; i++)); do
    ref_add+="$(timed ADD "$REF_BIN/bridge" "$ref_cfg" ref$i)"$'\n'
    ref_del+="$(timed DEL "$REF_BIN/bridge" "$ref_cfg" ref$i)"$'\n'
    our_add+="$(timed ADD "$FLINT_BIN/flint-bridge" "$our_cfg" our$i)"$'\n'
    our_del+="$(timed DEL "$FLINT_BIN/flint-bridge" "$our_cfg" our$i)"$'\n'
  done
  row "reference (ipMasq=$masq)" "${ref_add%$'\n'}" "${ref_del%$'\n'}"
  row "flint     (ipMasq=$masq)" "${our_add%$'\n'}" "${our_del%$'\n'}"
done
echo "runs=$RUNS per row; each row: $RUNS ADD+DEL pairs in one netns, $(nproc) cores"
